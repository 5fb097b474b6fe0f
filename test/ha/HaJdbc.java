/*
 * HaJdbc: the pgjdbc clients of a failover round of test/ha/failover.py.
 * One thread a client, each with its own connection through a multi-host
 * pgjdbc URL (targetServerType=primary), reopened after a failure: "login"
 * clients log their users in with real TOTP codes (oathtool, a fresh step
 * per login, as failover.py's login workers do) and use each session handed
 * out at once (ValidateSession); the "avail" client logs in once, then
 * renews its session every 0.2 s (a write, to time what a client sees).
 * A call without an answer (SQLException: connection lost, no primary) is
 * retried after 0.2 s on a new connection.  The clients stop when stdin
 * ends (failover.py closes it; so does its exit).
 *
 * One line a call on stdout, for failover.py's bookkeeping:
 *   TIME|OP|USER|STEP|CODE|RESULT|SESSION|DETAIL
 * TIME is epoch seconds, when the call was sent for "error", when it was
 * answered otherwise; OP login, validate, avail-login or renew; RESULT "ok",
 * "error" (no answer; DETAIL the SQLSTATE and message), "valid"/"invalid"
 * (validate), or the reply's ZStack error code; SESSION the session handed
 * out by a login that was accepted.
 *
 *   java HaJdbc URL DBUSER DBPASSWORD login:NAME:PASSWORD:SECRET[,NAME:PASSWORD:SECRET...] ... avail:NAME:PASSWORD:SECRET
 */
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.TimeUnit;

public class HaJdbc {
	static final int STEP = 30;
	static volatile boolean stop = false;
	static String url;
	static Properties props = new Properties();

	static final String LOGIN = "SELECT r->'error'->>'code', r->'inventory'->>'uuid'"
		+ " FROM zstack_tfa.log_in_by_account(?, ?, ARRAY['twofatoken::' || ?]) AS f(r)";
	static final String VALIDATE = "SELECT zstack_tfa.validate_session(?)->>'valid'";
	static final String RENEW = "SELECT zstack_tfa.renew_session(?, ?, ?)->'error'->>'code'";

	static long nowStep() {
		return System.currentTimeMillis() / 1000 / STEP;
	}

	static double now() {
		return System.currentTimeMillis() / 1000.0;
	}

	static void sleep(long ms) {
		try {
			Thread.sleep(ms);
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
		}
	}

	/* The code of one time step, from oathtool (the authenticator's side, as in failover.py). */
	static String totp(String secret, long step) throws IOException, InterruptedException {
		Process p = new ProcessBuilder("oathtool", "--totp", "-b", "-N", "@" + (step * STEP), secret)
			.redirectErrorStream(true).start();
		String out;
		try (InputStream in = p.getInputStream()) {
			out = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
		}
		if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0 || !out.matches("[0-9]{6}"))
			throw new IOException("oathtool: " + out);
		return out;
	}

	static synchronized void emit(double t, String op, String user, long step, String code, String result,
			String session, String detail) {
		System.out.println(String.format(Locale.ROOT, "%.3f|%s|%s|%d|%s|%s|%s|%s", t, op, user, step, code, result,
			session == null ? "" : session, detail == null ? "" : detail.replaceAll("[|\\r\\n]+", " ")));
		System.out.flush();
	}

	/* A connection of the management role through the multi-host URL, reopened after a failure. */
	static class Client {
		Connection conn;
		String lastError;

		/* One API call; its first row's columns, or null when it had no answer. */
		String[] call(String sql, Object... args) {
			try {
				if (conn == null)
					conn = DriverManager.getConnection(url, props);
				try (PreparedStatement ps = conn.prepareStatement(sql)) {
					for (int i = 0; i < args.length; i++)
						ps.setObject(i + 1, args[i]);
					try (ResultSet rs = ps.executeQuery()) {
						rs.next();
						int n = rs.getMetaData().getColumnCount();
						String[] row = new String[n];
						for (int i = 0; i < n; i++)
							row[i] = rs.getString(i + 1);
						return row;
					}
				}
			} catch (SQLException e) {
				lastError = e.getSQLState() + " " + e.getMessage();
				close();
				return null;
			}
		}

		void close() {
			if (conn != null) {
				try {
					conn.close();
				} catch (SQLException e) {
					/* gone already */
				}
				conn = null;
			}
		}
	}

	/* A client retries after 0.2 s when a call had no answer. */
	static void failed(Client cl, double t, String op, String user, long step, String code) {
		emit(t, op, user, step, code, "error", null, cl.lastError);
		sleep(200);
	}

	/* failover.py's login_worker: each user logs in with the code of a step it has not used yet. */
	static void loginClient(String[][] users) throws Exception {
		Client cl = new Client();
		long[] last = new long[users.length];
		Arrays.fill(last, -1);
		while (!stop) {
			boolean did = false;
			for (int i = 0; i < users.length && !stop; i++) {
				String name = users[i][0], pw = users[i][1], secret = users[i][2];
				long s = Math.max(last[i] + 1, nowStep());
				if (s > nowStep() + 1)
					continue;
				String code = totp(secret, s);
				double t = now();
				String[] r = cl.call(LOGIN, name, pw, code);
				if (r == null) {
					failed(cl, t, "login", name, s, code);
					continue;
				}
				did = true;
				t = now();
				String err = r[0];
				if (err == null) {
					last[i] = s;
					emit(t, "login", name, s, code, "ok", r[1], null);
					double tv = now();
					String[] v = cl.call(VALIDATE, r[1]);
					if (v == null)
						failed(cl, tv, "validate", name, s, code);
					else
						emit(now(), "validate", name, s, code, "true".equals(v[0]) ? "valid" : "invalid", r[1], null);
				} else {
					/* SYS.1006 from a standby: the step is tried again; a refused code's step is not used */
					if (!err.equals("SYS.1006"))
						last[i] = s;
					emit(t, "login", name, s, code, err, null, null);
				}
			}
			if (!did)
				sleep(200);
		}
		cl.close();
	}

	/* failover.py's avail_worker: a RenewSession of its own session every 0.2 s. */
	static void availClient(String name, String pw, String secret) throws Exception {
		Client cl = new Client();
		Random rnd = new Random();
		String sess = null;
		long last = -1;
		while (!stop) {
			if (sess == null) {
				long s = Math.max(last + 1, nowStep());
				if (s > nowStep() + 1) {
					sleep(500);
					continue;
				}
				String code = totp(secret, s);
				double t = now();
				String[] r = cl.call(LOGIN, name, pw, code);
				if (r == null) {
					failed(cl, t, "avail-login", name, s, code);
				} else {
					last = s;
					if (r[0] == null)
						sess = r[1];
					emit(now(), "avail-login", name, s, code, r[0] == null ? "ok" : r[0], sess, null);
				}
				sleep(200);
				continue;
			}
			double t = now();
			String[] r = cl.call(RENEW, sess, sess, 3600 + rnd.nextInt(61));
			if (r == null) {
				failed(cl, t, "renew", name, -1, "");
			} else {
				emit(now(), "renew", name, -1, "", r[0] == null ? "ok" : r[0], sess, null);
				if (r[0] != null && !r[0].equals("SYS.1006"))
					sess = null;
			}
			sleep(200);
		}
		cl.close();
	}

	public static void main(String[] args) throws Exception {
		url = args[0];
		props.setProperty("user", args[1]);
		props.setProperty("password", args[2]);
		List<Thread> threads = new ArrayList<>();
		for (int a = 3; a < args.length; a++) {
			String[] kind = args[a].split(":", 2);
			String[] specs = kind[1].split(",");
			String[][] users = new String[specs.length][];
			for (int i = 0; i < specs.length; i++)
				users[i] = specs[i].split(":", 3);
			Thread t = new Thread(() -> {
				try {
					if (kind[0].equals("avail"))
						availClient(users[0][0], users[0][1], users[0][2]);
					else
						loginClient(users);
				} catch (Exception e) {
					emit(now(), "crash", users[0][0], -1, "", "error", null, e.toString());
				}
			});
			threads.add(t);
			t.start();
		}
		/* until stdin ends */
		while (System.in.read() >= 0)
			;
		stop = true;
		for (Thread t : threads)
			t.join();
	}
}
