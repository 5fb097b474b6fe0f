/*
 * PooledJdbc: pgjdbc clients of zstack_tfa behind pgbouncer in transaction
 * pooling mode (test/pooled/run.sh).  One thread a client, each with its own
 * connection through the pool (prepareThreshold=0: no named prepared
 * statements, which a transaction pool would hand to another client), logs
 * in with its code, then runs ROUNDS transactions that each set the
 * client's date style and time zone for that transaction only
 * (set_config(..., true), SET LOCAL with bind parameters) and query the
 * client's own secret.  Prints "CLIENT|session|UUID" and
 * "CLIENT|reply|BACKEND-PID|CREATE-DATE" lines; run.sh checks them.
 *   java PooledJdbc URL ROUNDS CLIENT:NAME:PASSWORD:CODE:STYLE:ZONE ...
 */
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class PooledJdbc {
	static final Pattern SESSION = Pattern.compile("^\\{\"inventory\":\\{\"uuid\":\"([0-9a-f]{32})\"");

	/* One client: a login, then its transactions; its lines, or its error. */
	static List<String> client(String url, int rounds, String[] spec) throws SQLException {
		List<String> out = new ArrayList<>();
		String id = spec[0];
		Properties props = new Properties();
		props.setProperty("user", "zstack_mgmt");
		props.setProperty("prepareThreshold", "0");
		try (Connection c = DriverManager.getConnection(url, props)) {
			c.setAutoCommit(false);
			String session;
			try (PreparedStatement ps = c.prepareStatement(
					"SELECT zstack_tfa.log_in_by_account(?, ?, ARRAY['twofatoken::' || ?])::text")) {
				ps.setString(1, spec[1]);
				ps.setString(2, spec[2]);
				ps.setString(3, spec[3]);
				try (ResultSet rs = ps.executeQuery()) {
					rs.next();
					Matcher m = SESSION.matcher(rs.getString(1));
					session = m.find() ? m.group(1) : "none:" + rs.getString(1);
				}
			}
			c.commit();
			out.add(id + "|session|" + session);
			try (PreparedStatement set = c.prepareStatement(
					"SELECT set_config('zstack_tfa.date_style', ?, true), set_config('TimeZone', ?, true)");
				 PreparedStatement q = c.prepareStatement(
					"SELECT pg_backend_pid(), zstack_tfa.query_two_factor_authentication_json(?)->'inventories'->0->>'createDate'")) {
				for (int r = 0; r < rounds; r++) {
					set.setString(1, spec[4]);
					set.setString(2, spec[5]);
					set.executeQuery().close();
					q.setString(1, session);
					try (ResultSet rs = q.executeQuery()) {
						rs.next();
						out.add(id + "|reply|" + rs.getInt(1) + "|" + rs.getString(2));
					}
					c.commit();
					try {
						Thread.sleep(10);
					} catch (InterruptedException e) {
						Thread.currentThread().interrupt();
					}
				}
			}
		}
		return out;
	}

	public static void main(String[] args) throws Exception {
		String url = args[0];
		int rounds = Integer.parseInt(args[1]);
		List<Thread> threads = new ArrayList<>();
		List<List<String>> results = new ArrayList<>();
		for (int i = 2; i < args.length; i++) {
			String[] spec = args[i].split(":", 6);
			List<String> mine = new ArrayList<>();
			results.add(mine);
			Thread t = new Thread(() -> {
				try {
					mine.addAll(client(url, rounds, spec));
				} catch (SQLException e) {
					mine.add(spec[0] + "|error|" + e.getSQLState() + " " + e.getMessage());
				}
			});
			threads.add(t);
			t.start();
		}
		for (Thread t : threads)
			t.join();
		for (List<String> r : results)
			for (String line : r)
				System.out.println(line);
	}
}
