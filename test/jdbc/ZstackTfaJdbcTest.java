/*
 * ZstackTfaJdbcTest: zstack_tfa through the real PostgreSQL JDBC driver, as
 * ZStack's management code (Java) would use it.  Prints TAP.
 *
 * Run by test/jdbc/run.sh, which starts a cluster on 127.0.0.1, creates the
 * extension, loads fixture.sql and runs README.md's GRANT blocks.  Settings
 * come from the environment:
 *   ZT_JDBC_HOST, ZT_JDBC_PORT, ZT_JDBC_DATABASE   where the cluster listens
 *   ZT_JDBC_GRANTS    folder of the README GRANT blocks, one NN-name.sql each
 *   ZT_JDBC_FIXTURE   the data run.sh loaded (run again after each DROP/CREATE)
 * Roles: zstack_mgmt (management) and zstack_reports (reporting), as the
 * README blocks create them; postgres (superuser) only for setup and the
 * DBA's actions.  Libraries: pgjdbc and gson only.
 */
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TimeZone;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import org.postgresql.PGStatement;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

public final class ZstackTfaJdbcTest {

	// the accounts of run.sh's fixture.sql
	static final String ADMIN = "admin", ADMIN_PW = "Admin-pw-7";
	static final String ALICE = "alice", ALICE_PW = "Alice-pw-7";
	static final String BOB = "bob", BOB_PW = "Bob-pw-7";
	static final String ALICE_DEV = "alice-dev", ALICE_DEV_PW = "Alice-dev-pw-7";
	static final String ADMIN_UUID = "36c27e8ff05c4780bf6d2fa65700f22e";

	static final String MGMT = "zstack_mgmt", REPORTS = "zstack_reports", SUPERUSER = "postgres";

	// the two queries management code runs, as it would write them
	static final String TYPED_SQL =
		"SELECT * FROM zstack_tfa.query_two_factor_authentication(?, ?, ?, ?, ?)";
	static final String JSON_SQL =
		"SELECT zstack_tfa.query_two_factor_authentication_json(?, ?, ?, ?, ?)";

	static final Pattern UUID = Pattern.compile("[0-9a-f]{32}");
	static final DateTimeFormatter ZSTACK_DATE =
		DateTimeFormatter.ofPattern("MMM d, yyyy h:mm:ss a", Locale.US);

	static String host, port, database;
	static Path grantsDir, fixture;
	static int tests = 0, failures = 0;
	static Connection su, mgmt, reports;

	// ------------------------------------------------------------------
	// TAP
	// ------------------------------------------------------------------
	interface Body { void run() throws Exception; }
	interface SqlBody { void run() throws SQLException; }

	static synchronized void out(String s) {
		System.out.println(s);
		System.out.flush();
	}

	static void diag(String s) {
		for (String l : s.split("\n", -1))
			out("# " + l);
	}

	static void test(String name, Body body) {
		String why = null;
		try {
			body.run();
		} catch (AssertionError e) {
			why = e.getMessage();
		} catch (SQLException e) {
			why = "unexpected " + describe(e);
		} catch (Exception e) {
			why = "unexpected " + e;
		}
		tests++;
		if (why == null)
			out("ok " + tests + " - " + name);
		else {
			failures++;
			out("not ok " + tests + " - " + name);
			diag(why);
		}
	}

	static void check(boolean cond, String what) {
		if (!cond)
			throw new AssertionError(what);
	}

	static void eq(Object want, Object got, String what) {
		if (!Objects.equals(want, got))
			throw new AssertionError(what + ": want <" + want + ">, got <" + got + ">");
	}

	static String describe(SQLException e) {
		StringBuilder b = new StringBuilder("SQLException, SQLSTATE " + e.getSQLState() + ": "
			+ e.getMessage());
		if (e instanceof PSQLException p && p.getServerErrorMessage() != null
			&& p.getServerErrorMessage().getRoutine() != null)
			b.append(" [routine ").append(p.getServerErrorMessage().getRoutine()).append(']');
		return b.toString();
	}

	static String firstLine(String s) {
		int i = s == null ? -1 : s.indexOf('\n');
		return i < 0 ? s : s.substring(0, i);
	}

	/*
	 * The call must raise SQLSTATE state; when code is given, the server's
	 * message (without "ERROR: " and details) starts with "<code>: ".  The
	 * same connection (autocommit) must work right after.
	 */
	static PSQLException expectError(Connection c, String state, String code, SqlBody body)
		throws SQLException {
		PSQLException caught = null;
		try {
			body.run();
		} catch (PSQLException e) {
			caught = e;
		}
		if (caught == null)
			throw new AssertionError("no error; wanted SQLSTATE " + state
				+ (code == null ? "" : " (" + code + ")"));
		eq(state, caught.getSQLState(), "SQLSTATE of \"" + firstLine(caught.getMessage()) + "\"");
		if (code != null) {
			ServerErrorMessage m = caught.getServerErrorMessage();
			check(m != null, "no ServerErrorMessage");
			check(m.getMessage().startsWith(code + ": "),
				"getServerErrorMessage().getMessage() should start with \"" + code + ": \": " + m.getMessage());
		}
		stillWorks(c);
		return caught;
	}

	static void stillWorks(Connection c) throws SQLException {
		check(c.getAutoCommit(), "connection left autocommit");
		try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 41 + 1")) {
			check(rs.next() && rs.getInt(1) == 42, "connection unusable after the error");
		}
	}

	// ------------------------------------------------------------------
	// Connections and calls
	// ------------------------------------------------------------------
	static Connection connect(String user, String... props) throws SQLException {
		Properties p = new Properties();
		p.setProperty("user", user);
		p.setProperty("ApplicationName", "ZstackTfaJdbcTest");
		p.setProperty("connectTimeout", "10");
		p.setProperty("socketTimeout", "60");
		for (int i = 0; i + 1 < props.length; i += 2)
			p.setProperty(props[i], props[i + 1]);
		return DriverManager.getConnection("jdbc:postgresql://" + host + ":" + port + "/" + database, p);
	}

	/* Bind and run a one-value call: Strings as text, String[] as text[], Integer as int. */
	static String call(Connection c, String sql, Object... args) throws SQLException {
		try (PreparedStatement ps = c.prepareStatement(sql)) {
			for (int i = 0; i < args.length; i++) {
				Object a = args[i];
				if (a == null)
					ps.setNull(i + 1, Types.VARCHAR);
				else if (a instanceof String s)
					ps.setString(i + 1, s);
				else if (a instanceof String[] arr)
					ps.setArray(i + 1, c.createArrayOf("text", arr));
				else if (a instanceof Integer n)
					ps.setInt(i + 1, n);
				else if (a instanceof Boolean bo)
					ps.setBoolean(i + 1, bo);
				else if (a instanceof OffsetDateTime t)
					ps.setObject(i + 1, t);
				else
					throw new IllegalArgumentException("cannot bind " + a.getClass());
			}
			try (ResultSet rs = ps.executeQuery()) {
				check(rs.next(), "no row from " + sql);
				return rs.getString(1);
			}
		}
	}

	/* A superuser statement, no parameters (setup and DBA actions only). */
	static void dba(String sql) throws SQLException {
		try (Statement s = su.createStatement()) {
			s.execute(sql);
		}
	}

	static String dbaValue(String sql, String... params) throws SQLException {
		try (PreparedStatement ps = su.prepareStatement(sql)) {
			for (int i = 0; i < params.length; i++)
				ps.setString(i + 1, params[i]);
			try (ResultSet rs = ps.executeQuery()) {
				return rs.next() ? rs.getString(1) : null;
			}
		}
	}

	static JsonObject json(String s) {
		check(s != null, "NULL instead of JSON");
		JsonElement e = JsonParser.parseString(s);
		check(e.isJsonObject(), "not a JSON object: " + s);
		return e.getAsJsonObject();
	}

	static String errorCode(JsonObject o) {
		if (!o.has("error"))
			return null;
		return o.getAsJsonObject("error").get("code").getAsString();
	}

	static JsonObject expectEnvelope(String reply, String code) {
		JsonObject o = json(reply);
		eq(code, errorCode(o), "error code of " + reply);
		JsonObject err = o.getAsJsonObject("error");
		check(err.has("description") && !err.get("description").isJsonNull(), "no description: " + reply);
		for (Map.Entry<String, JsonElement> m : err.entrySet())
			check(!m.getValue().isJsonNull(), "null member written: " + reply);
		return err;
	}

	static JsonObject inventory(String reply) {
		JsonObject o = json(reply);
		check(errorCode(o) == null, "error instead of an inventory: " + reply);
		check(o.has("inventory"), "no inventory: " + reply);
		return o.getAsJsonObject("inventory");
	}

	// ------------------------------------------------------------------
	// TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits), written here
	// ------------------------------------------------------------------
	static byte[] base32Decode(String s) {
		final String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
		ByteArrayOutputStream out = new ByteArrayOutputStream();
		long buffer = 0;
		int bits = 0;
		for (char ch : s.toUpperCase(Locale.ROOT).toCharArray()) {
			if (ch == '=')
				break;
			int v = alphabet.indexOf(ch);
			if (v < 0)
				throw new IllegalArgumentException("not base32: " + ch);
			buffer = (buffer << 5) | v;
			bits += 5;
			if (bits >= 8) {
				out.write((int) (buffer >> (bits - 8)) & 0xff);
				bits -= 8;
				buffer &= (1L << bits) - 1;
			}
		}
		return out.toByteArray();
	}

	static String hotp(byte[] key, long counter, int digits) {
		try {
			Mac mac = Mac.getInstance("HmacSHA1");
			mac.init(new SecretKeySpec(key, "HmacSHA1"));
			byte[] h = mac.doFinal(ByteBuffer.allocate(8).putLong(counter).array());
			int off = h[h.length - 1] & 0x0f;
			long bin = ((h[off] & 0x7fL) << 24) | ((h[off + 1] & 0xffL) << 16)
				| ((h[off + 2] & 0xffL) << 8) | (h[off + 3] & 0xffL);
			long mod = 1;
			for (int i = 0; i < digits; i++)
				mod *= 10;
			return String.format("%0" + digits + "d", bin % mod);
		} catch (java.security.GeneralSecurityException e) {
			throw new IllegalStateException(e);
		}
	}

	static String totp(String base32Secret, long epochSeconds, int digits) {
		return hotp(base32Decode(base32Secret), Math.floorDiv(epochSeconds, 30L), digits);
	}

	// ------------------------------------------------------------------
	// Logins with 2FA, as management code does them
	// ------------------------------------------------------------------
	/* secrets fetched in this data generation, and the last step each used */
	static final Map<String, String> secrets = new HashMap<>();
	static final Map<String, Long> lastStep = new HashMap<>();

	static String fetchSecret(Connection c, String name, String pw, boolean iam2) throws SQLException {
		JsonObject inv = inventory(call(c, "SELECT zstack_tfa.get_two_factor_authentication_secret(?, ?, ?)",
			name, pw, iam2 ? "iam2" : "account"));
		String s = inv.get("secret").getAsString();
		if (!s.isEmpty())
			secrets.put(name, s);
		return s;
	}

	/* A code for a step the server has not accepted for this user yet (replay protection). */
	static String nextCode(String name) {
		long step = Math.floorDiv(Instant.now().getEpochSecond(), 30L);
		Long last = lastStep.get(name);
		if (last != null && last >= step)
			step = last + 1;	// t+1 is inside the window
		lastStep.put(name, step);
		return hotp(base32Decode(secrets.get(name)), step, 6);
	}

	static String loginSql(boolean iam2) {
		return iam2 ? "SELECT zstack_tfa.log_in_by_iam2_virtual_id(?, ?, ?)"
			: "SELECT zstack_tfa.log_in_by_account(?, ?, ?)";
	}

	/* Log in with the second factor; returns the session inventory. */
	static JsonObject login2fa(Connection c, String name, String pw, boolean iam2) throws SQLException {
		if (!secrets.containsKey(name))
			fetchSecret(c, name, pw, iam2);
		check(secrets.containsKey(name), "no secret known for " + name);
		JsonObject inv = inventory(call(c, loginSql(iam2), name, pw, new String[] {"twofatoken::" + nextCode(name)}));
		check(UUID.matcher(inv.get("uuid").getAsString()).matches(), "session uuid: " + inv);
		return inv;
	}

	static void newDataGeneration() {
		secrets.clear();
		lastStep.clear();
	}

	// ------------------------------------------------------------------
	// What the superuser reads: the truth the replies are compared with
	// ------------------------------------------------------------------
	record Row(String uuid, String status, String userType, Timestamp created, OffsetDateTime createdOdt,
		String secret) {
	}

	static String accountUuid(String name) throws SQLException {
		return dbaValue("SELECT uuid FROM zstack_tfa.account WHERE name = ?", name);
	}

	static String iam2Uuid(String name) throws SQLException {
		return dbaValue("SELECT uuid FROM zstack_tfa.iam2_virtual_id WHERE name = ?", name);
	}

	/*
	 * The secrets an account's session sees (its own and its IAM2 users'),
	 * in the order of sort=status: SPEC §1 has ZStack's status compared and
	 * sorted as the text ZStack stores (Logined < NewCreated), ties by uuid.
	 */
	static List<Row> truth(String accountUuid) throws SQLException {
		String where = accountUuid == null ? "" : " WHERE account_uuid = ?";
		// a secret as its owner knows it: from 1.1 on the table may hold it encrypted
		String secret = dbaValue("SELECT to_regprocedure('zstack_tfa.secret_text(text, text)') IS NOT NULL").equals("t")
			? "zstack_tfa.secret_text(uuid, secret)" : "secret";
		try (PreparedStatement ps = su.prepareStatement(
			"SELECT uuid, status::text, user_type::text, create_date, " + secret + " AS secret FROM zstack_tfa.secret"
				+ where + " ORDER BY status::text COLLATE \"C\", uuid")) {
			if (accountUuid != null)
				ps.setString(1, accountUuid);
			return rows(ps);
		}
	}

	static List<Row> rows(PreparedStatement ps) throws SQLException {
		List<Row> out = new ArrayList<>();
		try (ResultSet rs = ps.executeQuery()) {
			while (rs.next())
				out.add(new Row(rs.getString("uuid"), rs.getString("status"), rs.getString("user_type"),
					rs.getTimestamp("create_date"), rs.getObject("create_date", OffsetDateTime.class),
					rs.getString("secret")));
		}
		return out;
	}

	static List<Row> typed(PreparedStatement ps, String session, String[] conds, int limit, String sort)
		throws SQLException {
		ps.setString(1, session);
		ps.setArray(2, ps.getConnection().createArrayOf("text", conds));
		ps.setInt(3, limit);
		ps.setInt(4, 0);
		ps.setString(5, sort);
		return rows(ps);
	}

	static String jsonQuery(PreparedStatement ps, String session, String[] conds, int limit, String sort)
		throws SQLException {
		ps.setString(1, session);
		ps.setArray(2, ps.getConnection().createArrayOf("text", conds));
		ps.setInt(3, limit);
		ps.setInt(4, 0);
		ps.setString(5, sort);
		try (ResultSet rs = ps.executeQuery()) {
			check(rs.next(), "no row");
			return rs.getString(1);
		}
	}

	static JsonArray inventories(String reply) {
		JsonObject o = json(reply);
		check(errorCode(o) == null, "error instead of inventories: " + reply);
		check(o.has("inventories") && o.get("inventories").isJsonArray(), "no inventories array: " + reply);
		return o.getAsJsonArray("inventories");
	}

	static Set<String> uuids(List<Row> rows) {
		return rows.stream().map(Row::uuid).collect(Collectors.toCollection(TreeSet::new));
	}

	static Set<String> uuids(JsonArray inv) {
		Set<String> s = new TreeSet<>();
		for (JsonElement e : inv)
			s.add(e.getAsJsonObject().get("uuid").getAsString());
		return s;
	}

	// ------------------------------------------------------------------
	// The query battery of the long-lived connections: typed and JSON,
	// status=, userType=, status?=, sort by status
	// ------------------------------------------------------------------
	static final String[][] BATTERY = {
		{"status=NewCreated"}, {"userType=AccountVO"}, {"status?=NewCreated,Logined"}};

	static Predicate<Row> matcher(String cond) {
		if (cond.startsWith("status?="))
			return r -> Arrays.asList(cond.substring(8).split(",")).contains(r.status());
		if (cond.startsWith("status="))
			return r -> r.status().equals(cond.substring(7));
		if (cond.startsWith("userType="))
			return r -> r.userType().equals(cond.substring(9));
		throw new IllegalArgumentException(cond);
	}

	/*
	 * Every battery query on one connection with the given statements,
	 * compared with what the superuser reads.  extraLabel: a status label
	 * added with ALTER TYPE that one row now has (or null).
	 */
	static String battery(PreparedStatement typedPs, PreparedStatement jsonPs, String session,
		String accountUuid, String extraLabel) throws SQLException {
		List<Row> all = truth(accountUuid);
		check(!all.isEmpty(), "the account has no secrets");
		int checks = 0;
		for (String[] c : BATTERY) {
			Predicate<Row> p = matcher(c[0]);
			List<Row> want = all.stream().filter(p).collect(Collectors.toList());
			List<Row> got = typed(typedPs, session, c, 1000, null);
			eq(uuids(want), uuids(got), "typed " + c[0] + " uuids");
			for (Row r : got)
				check(p.test(r), "typed " + c[0] + " returned " + r.status() + "/" + r.userType());
			JsonArray inv = inventories(jsonQuery(jsonPs, session, c, 1000, null));
			eq(uuids(want), uuids(inv), "JSON " + c[0] + " uuids");
			for (JsonElement e : inv) {
				JsonObject o = e.getAsJsonObject();
				Row r = want.stream().filter(w -> w.uuid().equals(o.get("uuid").getAsString())).findFirst().get();
				eq(r.status(), o.get("status").getAsString(), "JSON " + c[0] + " status of " + r.uuid());
				eq(r.userType(), o.get("userType").getAsString(), "JSON " + c[0] + " userType of " + r.uuid());
			}
			checks += 2;
		}
		String labelNote = "";
		if (extraLabel != null) {
			// a label added with ALTER TYPE: its row comes back by name, typed and
			// JSON (status?=NewCreated,Logined above left it out)
			Set<String> want = uuids(all.stream().filter(r -> r.status().equals(extraLabel)).collect(Collectors.toList()));
			check(!want.isEmpty(), "no row has status " + extraLabel);
			Set<String> typedGot = new TreeSet<>(), jsonGot = new TreeSet<>();
			for (Row r : typed(typedPs, session, new String[0], 1000, null))
				if (r.status().equals(extraLabel))
					typedGot.add(r.uuid());
			for (JsonElement e : inventories(jsonQuery(jsonPs, session, new String[0], 1000, null)))
				if (e.getAsJsonObject().get("status").getAsString().equals(extraLabel))
					jsonGot.add(e.getAsJsonObject().get("uuid").getAsString());
			eq(want, typedGot, "typed rows with status " + extraLabel);
			eq(want, jsonGot, "JSON inventories with \"status\":\"" + extraLabel + "\"");
			// a condition naming the new label: its rows, or a clean SYS.1007
			// (zstack_tfa takes only ZStack's labels in conditions); never XX000
			try {
				eq(want, uuids(typed(typedPs, session, new String[] {"status=" + extraLabel}, 1000, null)),
					"typed status=" + extraLabel);
				labelNote = "; status=" + extraLabel + " returns its rows";
			} catch (PSQLException e) {
				check("22Z07".equals(e.getSQLState()) && e.getServerErrorMessage().getMessage().startsWith("SYS.1007: "),
					"typed status=" + extraLabel + ": " + describe(e));
				labelNote = "; status=" + extraLabel + " is SYS.1007: " + e.getServerErrorMessage().getDetail();
			}
			JsonObject o = json(jsonQuery(jsonPs, session, new String[] {"status=" + extraLabel}, 1000, null));
			if (errorCode(o) == null)
				eq(want, uuids(inventories(o.toString())), "JSON status=" + extraLabel);
			else
				eq("SYS.1007", errorCode(o), "JSON status=" + extraLabel);
			checks += 5;
		}
		// sort by status: as text (SPEC §1), ties by uuid
		List<String> wantAsc = all.stream().map(Row::status).collect(Collectors.toList());
		List<String> wantDesc = new ArrayList<>(wantAsc);
		Collections.reverse(wantDesc);
		List<Row> asc = typed(typedPs, session, new String[0], 1000, "status");
		eq(wantAsc, asc.stream().map(Row::status).collect(Collectors.toList()), "typed sort=status");
		eq(all.stream().map(Row::uuid).collect(Collectors.toList()),
			asc.stream().map(Row::uuid).collect(Collectors.toList()), "typed sort=status, ties by uuid");
		List<Row> desc = typed(typedPs, session, new String[0], 1000, "-status");
		eq(wantDesc, desc.stream().map(Row::status).collect(Collectors.toList()), "typed sort=-status");
		JsonArray jsAsc = inventories(jsonQuery(jsonPs, session, new String[0], 1000, "+status"));
		List<String> got = new ArrayList<>();
		for (JsonElement e : jsAsc)
			got.add(e.getAsJsonObject().get("status").getAsString());
		eq(wantAsc, got, "JSON sort=+status");
		checks += 4;
		return checks + " queries agree with the superuser's view (" + all.size() + " secrets: "
			+ all.stream().map(Row::status).collect(Collectors.groupingBy(s -> s, TreeMap::new, Collectors.counting()))
			+ ")" + labelNote;
	}

	/* pgjdbc's named server-side statements on this connection that call the query functions. */
	static List<String> serverStatements(Connection c) throws SQLException {
		List<String> out = new ArrayList<>();
		try (Statement s = c.createStatement();
			ResultSet rs = s.executeQuery("SELECT name, statement FROM pg_prepared_statements"
				+ " WHERE statement LIKE '%query_two_factor_authentication%' ORDER BY name")) {
			while (rs.next())
				out.add(rs.getString(1) + "=" + (rs.getString(2).contains("_json(") ? "json" : "typed"));
		}
		return out;
	}

	// ------------------------------------------------------------------
	// Re-running run.sh's fixture and README's GRANT blocks
	// ------------------------------------------------------------------
	static final Pattern DOLLAR = Pattern.compile("\\$[A-Za-z_]*\\$");

	/* Split a script into statements at top-level semicolons; comments dropped. */
	static List<String> splitSql(String sql) {
		List<String> out = new ArrayList<>();
		StringBuilder cur = new StringBuilder();
		int i = 0, n = sql.length();
		while (i < n) {
			char ch = sql.charAt(i);
			if (ch == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
				int e = sql.indexOf('\n', i);
				i = e < 0 ? n : e;
			} else if (ch == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
				int e = sql.indexOf("*/", i + 2);
				i = e < 0 ? n : e + 2;
			} else if (ch == '\'' || ch == '"') {
				int e = i + 1;
				while (e < n && !(sql.charAt(e) == ch && (e + 1 >= n || sql.charAt(e + 1) != ch)))
					e += sql.charAt(e) == ch ? 2 : 1;
				e = Math.min(e + 1, n);
				cur.append(sql, i, e);
				i = e;
			} else if (ch == '$' && DOLLAR.matcher(sql).region(i, n).lookingAt()) {
				Matcher m = DOLLAR.matcher(sql).region(i, n);
				m.lookingAt();
				String tag = m.group();
				int e = sql.indexOf(tag, i + tag.length());
				e = e < 0 ? n : e + tag.length();
				cur.append(sql, i, e);
				i = e;
			} else if (ch == ';') {
				if (!cur.toString().isBlank())
					out.add(cur.toString().trim());
				cur.setLength(0);
				i++;
			} else {
				cur.append(ch);
				i++;
			}
		}
		if (!cur.toString().isBlank())
			out.add(cur.toString().trim());
		return out;
	}

	static void runFixture() throws Exception {
		for (String stmt : splitSql(Files.readString(fixture, StandardCharsets.UTF_8)))
			dba(stmt);
		newDataGeneration();
	}

	static final Pattern CREATE_ROLE = Pattern.compile("(?i)^CREATE\\s+ROLE\\s+(\\w+)");
	// GRANT <privilege> ON [FUNCTION] <list> TO <role>, not ON SCHEMA
	static final Pattern GRANT_LIST =
		Pattern.compile("(?is)^GRANT\\s+(\\w+)\\s+ON\\s+(FUNCTION\\s+)?(?!SCHEMA\\b)(.*)\\s+TO\\s+(\\w+)$");

	/* Split "a(x, y), b(z)" at the commas outside parentheses. */
	static List<String> topLevelItems(String list) {
		List<String> out = new ArrayList<>();
		int depth = 0, from = 0;
		for (int i = 0; i < list.length(); i++) {
			char ch = list.charAt(i);
			if (ch == '(')
				depth++;
			else if (ch == ')')
				depth--;
			else if (ch == ',' && depth == 0) {
				out.add(list.substring(from, i).trim());
				from = i + 1;
			}
		}
		out.add(list.substring(from).trim());
		return out;
	}

	/*
	 * Run every README GRANT block again, statement by statement, as the
	 * superuser.  Roles are cluster-wide and survive DROP EXTENSION, so a
	 * block's CREATE ROLE now fails with 42710; that failure is accepted
	 * only for a role that exists, and reported.  olderVersion (an install
	 * of 1.0): a GRANT EXECUTE that fails with 42883 because it names a
	 * function the older version lacks is run again function by function,
	 * and only the missing ones are skipped (and reported).  Every other
	 * statement must succeed.  Returns what happened.
	 */
	static String rerunGrantBlocks(boolean olderVersion) throws Exception {
		List<String> notes = new ArrayList<>();
		try (var files = Files.list(grantsDir)) {
			for (Path f : files.sorted().collect(Collectors.toList())) {
				int ran = 0;
				for (String stmt : splitSql(Files.readString(f, StandardCharsets.UTF_8))) {
					try {
						dba(stmt);
						ran++;
					} catch (PSQLException e) {
						Matcher m = CREATE_ROLE.matcher(stmt);
						if (m.find() && "42710".equals(e.getSQLState())
							&& dbaValue("SELECT 1 FROM pg_roles WHERE rolname = ?", m.group(1)) != null) {
							notes.add(f.getFileName() + ": \"" + firstLine(e.getMessage()) + "\" (42710; the role survived)");
							continue;
						}
						// an older version lacks some of a GRANT's functions or relations:
						// grant the rest one by one, and say which it lacks
						Matcher g = GRANT_LIST.matcher(stmt);
						String missing = !g.find() ? null : g.group(2) != null ? "42883" : "42P01";
						if (olderVersion && missing != null && missing.equals(e.getSQLState())) {
							String grant = "GRANT " + g.group(1) + " ON " + (g.group(2) != null ? "FUNCTION " : "");
							List<String> skipped = new ArrayList<>();
							for (String item : topLevelItems(g.group(3))) {
								try {
									dba(grant + item + " TO " + g.group(4));
								} catch (PSQLException e2) {
									if (!missing.equals(e2.getSQLState()))
										throw new AssertionError(f.getFileName() + ": GRANT on " + item + " -> " + describe(e2));
									skipped.add(item.replaceAll("\\s+", " "));
								}
							}
							notes.add(f.getFileName() + ": this version lacks " + skipped + "; the rest granted one by one");
							ran++;
							continue;
						}
						throw new AssertionError(f.getFileName() + ": " + firstLine(stmt) + " -> " + describe(e));
					}
				}
				notes.add(f.getFileName() + ": " + ran + " statements ran");
			}
		}
		return String.join("\n", notes);
	}

	// ------------------------------------------------------------------
	// The tests
	// ------------------------------------------------------------------
	public static void main(String[] args) throws Exception {
		host = env("ZT_JDBC_HOST", "127.0.0.1");
		port = env("ZT_JDBC_PORT", "5432");
		database = env("ZT_JDBC_DATABASE", "postgres");
		grantsDir = Path.of(env("ZT_JDBC_GRANTS", "grants"));
		fixture = Path.of(env("ZT_JDBC_FIXTURE", "fixture.sql"));
		try {
			run();
		} catch (Throwable t) {
			tests++;
			failures++;
			out("not ok " + tests + " - the test stopped early");
			diag(t instanceof SQLException e ? describe(e) : t.toString());
			for (StackTraceElement s : t.getStackTrace())
				if (s.getClassName().startsWith("ZstackTfaJdbcTest"))
					diag("  at " + s);
		}
		out("1.." + tests);
		System.exit(failures == 0 ? 0 : 1);
	}

	static String env(String name, String dflt) {
		String v = System.getenv(name);
		return v == null || v.isEmpty() ? dflt : v;
	}

	static void run() throws Exception {
		su = connect(SUPERUSER);
		mgmt = connect(MGMT);
		reports = connect(REPORTS);
		try (Statement s = su.createStatement()) {
			s.execute("SET lock_timeout = '20s'");	// a DROP must not wait forever
		}
		diag("pgjdbc " + su.getMetaData().getDriverVersion() + ", " + su.getMetaData().getDatabaseProductName()
			+ " " + su.getMetaData().getDatabaseProductVersion() + ", zstack_tfa "
			+ dbaValue("SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'")
			+ ", JVM TimeZone " + TimeZone.getDefault().getID());

		totpTests();
		String aliceUuid = accountUuid(ALICE);
		String devUuid = iam2Uuid(ALICE_DEV);
		String[] sessions = loginTests(aliceUuid, devUuid);
		String alice = sessions[0], dev = sessions[1], admin = sessions[2];
		typedQueryTests(alice, dev, admin, aliceUuid, devUuid);
		jsonTests(alice, aliceUuid);
		errorTests(alice, aliceUuid);
		preparedStatementTests(alice, aliceUuid);
		enumArgumentTests();
		arrayTests(alice, aliceUuid);
		recoveryCodeTests(alice);
		roleTests();
		lifecycleTests(alice, aliceUuid);
		concurrencyTest();
		disabledTests();
	}

	// --- recovery codes (issue 22) -----------------------------------
	static void recoveryCodeTests(String alice) {
		test("recovery codes through pgjdbc as zstack_mgmt: a batch for the session and password, a login with one in the twofatoken tag, once; count and revoke", () -> {
			expectEnvelope(call(mgmt, "SELECT zstack_tfa.generate_recovery_codes(?, ?)", alice, "wrong"), "ID.1000");
			JsonObject reply = json(call(mgmt, "SELECT zstack_tfa.generate_recovery_codes(?, ?)", alice, ALICE_PW));
			if (dbaValue("SHOW zstack_tfa.encryption_key_file").isEmpty()) {
				eq("SYS.1006", errorCode(reply), "without a key file: " + reply);
				return;
			}
			var codes = reply.getAsJsonObject("inventory").getAsJsonArray("codes");
			eq(10, codes.size(), "codes in a batch");
			String code = codes.get(0).getAsString();
			check(code.matches("[A-Z2-7]{5}-[A-Z2-7]{5}"), "a code's form: " + code);
			JsonObject inv = inventory(call(mgmt, loginSql(false), ALICE, ALICE_PW, new String[] {"twofatoken::" + code.toLowerCase()}));
			check(UUID.matcher(inv.get("uuid").getAsString()).matches(), "session uuid: " + inv);
			expectEnvelope(call(mgmt, loginSql(false), ALICE, ALICE_PW, new String[] {"twofatoken::" + code}), "ID.2002");
			eq("{\"left\":9,\"used\":1}", call(mgmt, "SELECT zstack_tfa.count_recovery_codes(?)", alice), "count");
			eq("{\"revoked\":9}", call(mgmt, "SELECT zstack_tfa.revoke_recovery_codes(?)", alice), "revoke");
			expectEnvelope(call(mgmt, loginSql(false), ALICE, ALICE_PW, new String[] {"twofatoken::" + codes.get(1).getAsString()}), "ID.2002");
			try {
				call(mgmt, "SELECT count(*)::text FROM zstack_tfa.recovery_code");
				check(false, "zstack_mgmt read the hashes");
			} catch (SQLException e) {
				eq("42501", e.getSQLState(), "reading the hashes");
			}
			stillWorks(mgmt);
		});
	}

	// --- TOTP --------------------------------------------------------
	static void totpTests() {
		test("TOTP written here matches the RFC 6238 Appendix B SHA1 vectors (8 and 6 digits)", () -> {
			String b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
			eq("12345678901234567890", new String(base32Decode(b32), StandardCharsets.US_ASCII), "base32 decode");
			long[] t = {59L, 1111111109L, 1111111111L, 1234567890L, 2000000000L, 20000000000L};
			String[] want = {"94287082", "07081804", "14050471", "89005924", "69279037", "65353130"};
			for (int i = 0; i < t.length; i++) {
				eq(want[i], totp(b32, t[i], 8), "8 digits at T=" + t[i]);
				eq(want[i].substring(2), totp(b32, t[i], 6), "6 digits at T=" + t[i]);
			}
		});
		test("TOTP written here agrees with zstack_tfa.totp(?, ?) (superuser connection)", () -> {
			String sql = "SELECT zstack_tfa.totp(?, ?)";
			long now = Instant.now().getEpochSecond();
			String fresh = dbaValue("SELECT zstack_tfa.generate_secret(32)");
			check(fresh != null && fresh.matches("[A-Z2-7]{32}"), "generate_secret(32): " + fresh);
			int n = 0;
			for (String secret : new String[] {"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "JBSWY3DPEHPK3PXP", fresh}) {
				for (long at : new long[] {59L, 1111111109L, 1234567890L, 2000000000L, now - 30, now, now + 30}) {
					OffsetDateTime odt = OffsetDateTime.ofInstant(Instant.ofEpochSecond(at), ZoneOffset.UTC);
					eq(totp(secret, at, 6), call(su, sql, secret, odt), "secret " + secret.substring(0, 4) + "… at " + at);
					n++;
				}
			}
			// and the one-argument form, which uses the server's now()
			String server = call(su, "SELECT zstack_tfa.totp(?)", fresh);
			long t = Instant.now().getEpochSecond();
			check(server.equals(totp(fresh, t, 6)) || server.equals(totp(fresh, t - 30, 6)),
				"totp(secret) at now(): " + server);
			diag(n + 1 + " codes compared");
		});
	}

	// --- logins ------------------------------------------------------
	static String[] loginTests(String aliceUuid, String devUuid) throws Exception {
		String[] out = new String[3];
		test("log_in_by_account as zstack_mgmt, 2FA on, no tag: ID.2001 envelope returned, details a JSON string", () -> {
			eq("{\"state\":\"Enable\"}", call(mgmt, "SELECT zstack_tfa.get_two_factor_authentication_state()"),
				"get_two_factor_authentication_state()");
			JsonObject err = expectEnvelope(call(mgmt, loginSql(false), ALICE, ALICE_PW, new String[0]), "ID.2001");
			check(err.get("details").isJsonPrimitive(), "details should be a string: " + err);
			JsonObject details = json(err.get("details").getAsString());
			eq("[\"googleAuth\"]", details.get("authentications").toString(), "details.authentications");
			eq(ALICE, details.get("credentials").getAsString(), "details.credentials");
			// bad password: ID.1000 first, whatever the tags
			expectEnvelope(call(mgmt, loginSql(false), ALICE, "wrong", new String[] {"twofatoken::123456"}), "ID.1000");
			expectEnvelope(call(mgmt, loginSql(false), "nobody-here", "wrong", new String[0]), "ID.1000");
		});
		test("get_two_factor_authentication_secret as zstack_mgmt: a NewCreated base32 secret", () -> {
			JsonObject inv = inventory(call(mgmt, "SELECT zstack_tfa.get_two_factor_authentication_secret(?, ?, ?)",
				ALICE, ALICE_PW, "account"));
			eq("NewCreated", inv.get("status").getAsString(), "status");
			eq(aliceUuid, inv.get("userUuid").getAsString(), "userUuid");
			eq("AccountVO", inv.get("userType").getAsString(), "userType");
			String s = inv.get("secret").getAsString();
			check(s.matches("[A-Z2-7]{16,128}"), "secret is base32: " + s.length() + " chars");
			eq(dbaValue("SELECT zstack_tfa.secret_text(uuid, secret) FROM zstack_tfa.secret WHERE user_uuid = ?", aliceUuid), s,
				"the secret the superuser reads");
			secrets.put(ALICE, s);
		});
		test("log_in_by_account with a wrong code: ID.2002 envelope returned", () -> {
			String good = totp(secrets.get(ALICE), Instant.now().getEpochSecond(), 6);
			String wrong = String.format("%06d", (Integer.parseInt(good) + 500000) % 1000000);
			expectEnvelope(call(mgmt, loginSql(false), ALICE, ALICE_PW, new String[] {"twofatoken::" + wrong}), "ID.2002");
		});
		test("log_in_by_account with twofatoken::<code computed in Java>: a session; the code works once", () -> {
			String code = nextCode(ALICE);
			JsonObject inv = inventory(call(mgmt, loginSql(false), ALICE, ALICE_PW, new String[] {"twofatoken::" + code}));
			String session = inv.get("uuid").getAsString();
			check(UUID.matcher(session).matches(), "session uuid is 32 lower-case hex: " + session);
			eq(aliceUuid, inv.get("accountUuid").getAsString(), "accountUuid");
			eq(aliceUuid, inv.get("userUuid").getAsString(), "userUuid");
			check(inv.has("expiredDate") && inv.has("createDate"), "dates: " + inv);
			eq("1", dbaValue("SELECT count(*) FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(?) AND account_uuid = ?", session,
				aliceUuid), "the session row");
			out[0] = session;
			// replay: the same code again is refused
			JsonObject err = expectEnvelope(call(mgmt, loginSql(false), ALICE, ALICE_PW,
				new String[] {"twofatoken::" + code}), "ID.2002");
			diag("replayed code: " + err.get("details").getAsString());
			// the secret is now Logined and no longer handed out
			JsonObject again = inventory(call(mgmt, "SELECT zstack_tfa.get_two_factor_authentication_secret(?, ?, ?)",
				ALICE, ALICE_PW, "account"));
			eq("Logined", again.get("status").getAsString(), "status after login");
			eq("", again.get("secret").getAsString(), "secret after login");
		});
		test("log_in_by_iam2_virtual_id: ID.2001 without tag, a session with the code", () -> {
			expectEnvelope(call(mgmt, loginSql(true), ALICE_DEV, ALICE_DEV_PW, new String[0]), "ID.2001");
			fetchSecret(mgmt, ALICE_DEV, ALICE_DEV_PW, true);
			JsonObject inv = login2fa(mgmt, ALICE_DEV, ALICE_DEV_PW, true);
			eq(devUuid, inv.get("userUuid").getAsString(), "userUuid");
			eq(aliceUuid, inv.get("accountUuid").getAsString(), "accountUuid");
			out[1] = inv.get("uuid").getAsString();
		});
		test("login of an IAM2 user without a secret: ID.2000 envelope returned", () -> {
			String uuid = call(mgmt, "SELECT zstack_tfa.create_iam2_virtual_id(?, ?, ?)", ALICE, "alice-new", "New-pw-7");
			check(UUID.matcher(uuid).matches(), "create_iam2_virtual_id returns a uuid: " + uuid);
			expectEnvelope(call(mgmt, loginSql(true), "alice-new", "New-pw-7", new String[] {"twofatoken::123456"}),
				"ID.2000");
		});
		test("admin (SystemAdmin) logs in with 2FA; log_out ends a session (then 28Z01)", () -> {
			JsonObject adminInv = login2fa(mgmt, ADMIN, ADMIN_PW, false);
			eq(ADMIN_UUID, adminInv.get("accountUuid").getAsString(), "admin's accountUuid");
			out[2] = adminInv.get("uuid").getAsString();
			String bob = login2fa(mgmt, BOB, BOB_PW, false).get("uuid").getAsString();
			call(mgmt, "SELECT zstack_tfa.log_out(?)::text", bob);
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				expectError(mgmt, "28Z01", "ID.1001", () -> typed(ps, bob, new String[0], 10, null));
			}
		});
		test("reset_two_factor_authentication_secret: ID.1002 envelope for alice, a new secret for admin", () -> {
			expectEnvelope(call(mgmt, "SELECT zstack_tfa.reset_two_factor_authentication_secret(?, ?)", out[0], BOB), "ID.1002");
			String before = dbaValue("SELECT zstack_tfa.secret_text(uuid, secret) FROM zstack_tfa.secret WHERE user_uuid = ?", accountUuid(BOB));
			JsonObject inv = inventory(call(mgmt, "SELECT zstack_tfa.reset_two_factor_authentication_secret(?, ?)",
				out[2], BOB));
			eq("NewCreated", inv.get("status").getAsString(), "status after reset");
			check(!inv.get("secret").getAsString().equals(before), "the secret changed");
		});
		test("reset_two_factor_authentication_secret in ZStack's form (session, name, password, type): admin only, the user by its credentials, the new secret logs in, the old one does not, the audit log names the admin", () -> {
			String sql = "SELECT zstack_tfa.reset_two_factor_authentication_secret(?, ?, ?, ?)";
			expectEnvelope(call(mgmt, sql, out[0], ALICE_DEV, ALICE_DEV_PW, "iam2"), "ID.1002");	// a Normal account
			expectEnvelope(call(mgmt, sql, out[1], ALICE_DEV, ALICE_DEV_PW, "iam2"), "ID.1002");	// an IAM2 user
			expectEnvelope(call(mgmt, sql, out[2], ALICE_DEV, "wrong", "iam2"), "ID.1000");
			expectEnvelope(call(mgmt, sql, out[2], ALICE_DEV, ALICE_DEV_PW, "account"), "ID.1000");
			JsonObject bad = expectEnvelope(call(mgmt, sql, out[2], ALICE_DEV, ALICE_DEV_PW, "ldap"), "SYS.1007");
			eq("valid value for field[type] of message[org.zstack.header.message.ApiMessageParamValidator] are [account, iam2], but ldap found",
				bad.get("details").getAsString(), "the validator's text");
			String old = secrets.get(ALICE_DEV);
			JsonObject inv = inventory(call(mgmt, sql, out[2], ALICE_DEV, ALICE_DEV_PW, "iam2"));
			eq("NewCreated", inv.get("status").getAsString(), "status after reset");
			eq("IAM2VirtualIDVO", inv.get("userType").getAsString(), "userType");
			eq(devUuid, inv.get("userUuid").getAsString(), "userUuid");
			String fresh = inv.get("secret").getAsString();
			check(fresh.matches("[A-Z2-7]{16}") && !fresh.equals(old), "a new plaintext secret");
			String oldCode = hotp(base32Decode(old), Math.floorDiv(Instant.now().getEpochSecond(), 30L) + 1, 6);
			expectEnvelope(call(mgmt, loginSql(true), ALICE_DEV, ALICE_DEV_PW, new String[] {"twofatoken::" + oldCode}), "ID.2002");
			secrets.put(ALICE_DEV, fresh);
			lastStep.remove(ALICE_DEV);
			login2fa(mgmt, ALICE_DEV, ALICE_DEV_PW, true);
			eq(ADMIN_UUID, dbaValue("SELECT actor_user_uuid FROM zstack_tfa.auth_event WHERE kind = 'reset_secret'"
				+ " AND outcome = 'success' AND user_uuid = ? ORDER BY id DESC LIMIT 1", devUuid), "the audit row names the admin");
		});
		test("sessions as ZStack's server keeps them: renewing a uuid of no session is SYS.1003; a call after a one-year renewal sets the expiry back to session_timeout", () -> {
			JsonObject err = expectEnvelope(call(mgmt, "SELECT zstack_tfa.renew_session(?, ?, ?)", out[2],
				"5e55000000000000000000000000dead", 600), "SYS.1003");
			eq("invalid field[sessionUuid], resource[uuid:5e55000000000000000000000000dead, type:SessionVO] not found",
				err.get("details").getAsString(), "PortApiValidator's text");
			inventory(call(mgmt, "SELECT zstack_tfa.renew_session(?, ?, ?)", out[2], out[2], 31536000));
			eq("true", dbaValue("SELECT (expired_date > now() + interval '364 days')::text FROM zstack_tfa.session"
				+ " WHERE uuid = zstack_tfa.session_key(?)", out[2]), "renewed for a year");
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				typed(ps, out[2], new String[0], 1, null);
			}
			eq("true", dbaValue("SELECT (expired_date BETWEEN now() + interval '7190 seconds' AND now() + interval '7200 seconds')::text"
				+ " FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(?)", out[2]), "cut back by the next call");
		});
		for (String s : out)
			if (s == null)
				throw new IllegalStateException("logins failed; the rest needs their sessions");
		return out;
	}

	// --- the typed set-returning query ---------------------------------
	static void typedQueryTests(String alice, String dev, String admin, String aliceUuid, String devUuid) {
		test("SELECT * FROM query_two_factor_authentication(?, createArrayOf, setInt, setInt, ?): enums as String, dates to the microsecond", () -> {
			List<Row> want = truth(aliceUuid);
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				List<Row> got = typed(ps, alice, new String[0], 1000, "uuid");
				eq(want.stream().map(Row::uuid).sorted().collect(Collectors.toList()),
					got.stream().map(Row::uuid).collect(Collectors.toList()), "alice sees her secrets and her IAM2 users', sorted by uuid");
				Map<String, Row> byUuid = want.stream().collect(Collectors.toMap(Row::uuid, r -> r));
				boolean sawMicros = false;
				Set<String> statuses = new TreeSet<>(), types = new TreeSet<>();
				for (Row g : got) {
					Row w = byUuid.get(g.uuid());
					eq(w.status(), g.status(), "status of " + g.uuid());
					eq(w.userType(), g.userType(), "user_type of " + g.uuid());
					eq(w.secret(), g.secret(), "secret of " + g.uuid());
					eq(w.created(), g.created(), "create_date (java.sql.Timestamp) of " + g.uuid());
					eq(w.created().getNanos(), g.created().getNanos(), "create_date nanos of " + g.uuid());
					eq(w.createdOdt(), g.createdOdt(), "create_date (OffsetDateTime) of " + g.uuid());
					sawMicros |= g.created().getNanos() % 1000000 != 0;
					statuses.add(g.status());
					types.add(g.userType());
				}
				eq(Set.of("Logined", "NewCreated"), statuses, "statuses seen");
				eq(Set.of("AccountVO", "IAM2VirtualIDVO"), types, "user types seen");
				check(sawMicros, "no create_date with sub-millisecond digits: the microsecond check proved nothing");
				try (ResultSet rs = ps.executeQuery()) {
					var md = rs.getMetaData();
					StringBuilder b = new StringBuilder("columns:");
					for (int i = 1; i <= md.getColumnCount(); i++)
						b.append(' ').append(md.getColumnName(i)).append(' ').append(md.getColumnTypeName(i))
							.append("/").append(md.getColumnClassName(i)).append(',');
					diag(b.toString());
					check(rs.next(), "rows");
					check(rs.getObject("status") instanceof String || rs.getObject("status") instanceof org.postgresql.util.PGobject,
						"getObject(status): " + rs.getObject("status").getClass());
					diag("getObject(status) is " + rs.getObject("status").getClass().getName()
						+ ", getObject(create_date) is " + rs.getObject("create_date").getClass().getName());
				}
			}
		});
		test("typed query: status=Logined / userType=IAM2VirtualIDVO / limit 1 / IAM2 and admin visibility", () -> {
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				List<Row> all = truth(aliceUuid);
				eq(uuids(all.stream().filter(r -> r.status().equals("Logined")).collect(Collectors.toList())),
					uuids(typed(ps, alice, new String[] {"status=Logined"}, 1000, null)), "status=Logined");
				eq(uuids(all.stream().filter(r -> r.userType().equals("IAM2VirtualIDVO")).collect(Collectors.toList())),
					uuids(typed(ps, alice, new String[] {"userType=IAM2VirtualIDVO"}, 1000, null)), "userType=IAM2VirtualIDVO");
				eq(1, typed(ps, alice, new String[0], 1, "-createDate").size(), "limit 1");
				List<Row> devRows = typed(ps, dev, new String[0], 1000, null);
				eq(List.of(devUuid), devRows.stream().map(r -> dbaValueUnchecked(
					"SELECT user_uuid FROM zstack_tfa.secret WHERE uuid = ?", r.uuid())).collect(Collectors.toList()),
					"an IAM2 session sees only its own secret");
				eq(uuids(truth(null)), uuids(typed(ps, admin, new String[0], 1000, null)), "admin sees every secret");
			}
		});
		test("typed query: \"limit\" bound with setLong is SQLSTATE 42883 (no (…, bigint, …) function); setInt works", () -> {
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				ps.setString(1, alice);
				ps.setArray(2, mgmt.createArrayOf("text", new String[0]));
				ps.setLong(3, 10L);
				ps.setInt(4, 0);
				ps.setString(5, null);
				PSQLException e = expectError(mgmt, "42883", null, () -> ps.executeQuery().close());
				diag("setLong: " + firstLine(e.getMessage()));
				ps.setInt(3, 10);
				try (ResultSet rs = ps.executeQuery()) {
					check(rs.next(), "setInt: rows");
				}
			}
		});
		test("dates come in the connection's TimeZone, which pgjdbc took from the JVM", () -> {
			String tz = call(mgmt, "SELECT current_setting('TimeZone')");
			eq(TimeZone.getDefault().getID(), tz, "SHOW TimeZone");
			String reply = call(mgmt, "SELECT zstack_tfa.query_two_factor_authentication_json(?, ?)", alice, new String[0]);
			int n = 0;
			for (JsonElement e : inventories(reply)) {
				JsonObject o = e.getAsJsonObject();
				Row r = truth(aliceUuid).stream().filter(w -> w.uuid().equals(o.get("uuid").getAsString())).findFirst().get();
				eq(ZSTACK_DATE.format(r.created().toInstant().atZone(ZoneId.systemDefault())),
					o.get("createDate").getAsString(), "createDate of " + r.uuid() + " in " + tz);
				n++;
			}
			check(n > 0, "no inventories");
		});
	}

	static String dbaValueUnchecked(String sql, String p) {
		try {
			return dbaValue(sql, p);
		} catch (SQLException e) {
			throw new AssertionError(describe(e));
		}
	}

	// --- the JSON query ------------------------------------------------
	static void jsonTests(String alice, String aliceUuid) {
		test("query_two_factor_authentication_json parsed with gson: inventories with the expected uuids", () -> {
			try (PreparedStatement ps = mgmt.prepareStatement(JSON_SQL)) {
				JsonArray inv = inventories(jsonQuery(ps, alice, new String[0], 1000, "-createDate"));
				eq(uuids(truth(aliceUuid)), uuids(inv), "uuids");
				for (JsonElement e : inv)
					for (String k : new String[] {"uuid", "secret", "userUuid", "userType", "status", "createDate", "lastOpDate"})
						check(e.getAsJsonObject().has(k), "member " + k + " in " + e);
				JsonArray one = inventories(jsonQuery(ps, alice, new String[] {"status=NewCreated"}, 1000, null));
				for (JsonElement e : one)
					eq("NewCreated", e.getAsJsonObject().get("status").getAsString(), "status=NewCreated");
			}
			JsonObject count = json(call(mgmt, "SELECT zstack_tfa.query_two_factor_authentication_json(?, ?, count => ?)",
				alice, new String[0], Boolean.TRUE));
			eq(truth(aliceUuid).size(), count.get("total").getAsInt(), "count => true");
		});
		test("JSON query: bad session -> ID.1001 envelope RETURNED, unknown field -> SYS.1007 envelope, no exception", () -> {
			try (PreparedStatement ps = mgmt.prepareStatement(JSON_SQL)) {
				expectEnvelope(jsonQuery(ps, "0123456789abcdef0123456789abcdef", new String[0], 10, null), "ID.1001");
				expectEnvelope(jsonQuery(ps, "not-a-session", new String[0], 10, null), "ID.1001");
				JsonObject err = expectEnvelope(jsonQuery(ps, alice, new String[] {"noSuchField=1"}, 10, null), "SYS.1007");
				diag("SYS.1007 details: " + err.get("details"));
				expectEnvelope(jsonQuery(ps, alice, new String[0], -1, null), "SYS.1007");
			}
			stillWorks(mgmt);
		});
	}

	// --- raised errors -------------------------------------------------
	static void errorTests(String alice, String aliceUuid) {
		test("typed query, unknown / expired / malformed session: 28Z01, message starts with ID.1001", () -> {
			// the table holds the key of a session uuid; the client holds the uuid
			String expired = dbaValue("WITH u AS (SELECT zstack_tfa.new_uuid() AS plain),"
				+ " ins AS (INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date)"
				+ " SELECT zstack_tfa.session_key(plain), ?, ?, 'AccountVO', now() - interval '1 minute' FROM u)"
				+ " SELECT plain FROM u",
				aliceUuid, aliceUuid);
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				PSQLException e = expectError(mgmt, "28Z01", "ID.1001",
					() -> typed(ps, "0123456789abcdef0123456789abcdef", new String[0], 10, null));
				diag("getMessage(): " + e.getMessage().replace("\n", "\\n"));
				diag("getServerErrorMessage().getMessage(): " + e.getServerErrorMessage().getMessage());
				diag("getServerErrorMessage().getDetail(): " + e.getServerErrorMessage().getDetail());
				expectError(mgmt, "28Z01", "ID.1001", () -> typed(ps, expired, new String[0], 10, null));
				expectError(mgmt, "28Z01", "ID.1001", () -> typed(ps, "not-a-session", new String[0], 10, null));
			}
		});
		test("typed query, unknown field / bad enum label / negative limit: 22Z07, SYS.1007", () -> {
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				PSQLException e = expectError(mgmt, "22Z07", "SYS.1007",
					() -> typed(ps, alice, new String[] {"noSuchField=1"}, 10, null));
				diag("unknown field: " + e.getServerErrorMessage().getMessage() + " / " + e.getServerErrorMessage().getDetail());
				e = expectError(mgmt, "22Z07", "SYS.1007", () -> typed(ps, alice, new String[] {"status=Bogus"}, 10, null));
				diag("bad label: " + e.getServerErrorMessage().getDetail());
				expectError(mgmt, "22Z07", "SYS.1007", () -> typed(ps, alice, new String[0], -1, null));
				expectError(mgmt, "22Z07", "SYS.1007", () -> typed(ps, alice, new String[0], 10, "noSuchField"));
			}
		});
		test("create_account with a taken name: 22Z07 (SYS.1007); create_iam2_virtual_id in no account: 22Z07", () -> {
			PSQLException e = expectError(mgmt, "22Z07", "SYS.1007",
				() -> call(mgmt, "SELECT zstack_tfa.create_account(?, ?)", ALICE, "Other-pw-7"));
			diag("taken: " + e.getServerErrorMessage().getDetail());
			expectError(mgmt, "22Z07", "SYS.1007",
				() -> call(mgmt, "SELECT zstack_tfa.create_iam2_virtual_id(?, ?, ?)", "no-such-account", "u1", "pw"));
		});
		test("create_account(name, pw, 'SystemAdmin') as zstack_mgmt: 42Z02 (ID.1002); as superuser it works", () -> {
			expectError(mgmt, "42Z02", "ID.1002", () -> {
				try (PreparedStatement ps = mgmt.prepareStatement("SELECT zstack_tfa.create_account(?, ?, ?::zstack_tfa.account_type)")) {
					ps.setString(1, "would-be-admin");
					ps.setString(2, "Admin2-pw-7");
					ps.setString(3, "SystemAdmin");
					ps.executeQuery().close();
				}
			});
			eq(null, accountUuid("would-be-admin"), "no account was made");
			String uuid = call(su, "SELECT zstack_tfa.create_account(?, ?, ?::zstack_tfa.account_type)", "second-admin",
				"Admin2-pw-7", "SystemAdmin");
			eq("SystemAdmin", dbaValue("SELECT type::text FROM zstack_tfa.account WHERE uuid = ?", uuid), "type");
		});
		test("NULL session: 22004, on the typed and the JSON query", () -> {
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL); PreparedStatement js = mgmt.prepareStatement(JSON_SQL)) {
				PSQLException e = expectError(mgmt, "22004", null, () -> typed(ps, null, new String[0], 10, null));
				diag("NULL session: " + firstLine(e.getMessage()));
				expectError(mgmt, "22004", null, () -> jsonQuery(js, null, new String[0], 10, null));
			}
		});
		test("JSON functions return ID.1000 / SYS.1007 envelopes instead of raising (ID.2000-2002, SYS.1006: login and 2FA-off tests)", () -> {
			// every function that can meet ID.1000, ID.20xx or SYS.1006 returns json;
			// nothing here may throw
			expectEnvelope(call(mgmt, loginSql(true), "nobody-here", "x", new String[0]), "ID.1000");
			expectEnvelope(call(mgmt, "SELECT zstack_tfa.get_two_factor_authentication_secret(?, ?, ?)", ALICE, "wrong", "account"),
				"ID.1000");
			expectEnvelope(call(mgmt, "SELECT zstack_tfa.get_two_factor_authentication_secret(?, ?, ?)", ALICE, ALICE_PW, "other"),
				"SYS.1007");
		});
		test("in a transaction (autocommit off) an error aborts it: 25P02 until rollback, then the connection works", () -> {
			mgmt.setAutoCommit(false);
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				try {
					typed(ps, "0123456789abcdef0123456789abcdef", new String[0], 10, null);
					throw new AssertionError("no error");
				} catch (PSQLException e) {
					eq("28Z01", e.getSQLState(), "first error");
				}
				try {
					typed(ps, alice, new String[0], 10, null);
					throw new AssertionError("no error after the failed statement");
				} catch (PSQLException e) {
					eq("25P02", e.getSQLState(), "next statement in the failed transaction");
				}
				mgmt.rollback();
				check(!typed(ps, alice, new String[0], 10, null).isEmpty(), "rows after rollback");
				mgmt.commit();
			} finally {
				mgmt.setAutoCommit(true);
			}
			stillWorks(mgmt);
		});
	}

	// --- server-side prepared statements ---------------------------------
	static void preparedStatementTests(String alice, String aliceUuid) {
		test("the same PreparedStatement 10 times: pgjdbc switches to a named server-side statement, every result right", () -> {
			try (Connection c = connect(MGMT); PreparedStatement ps = c.prepareStatement(TYPED_SQL);
				PreparedStatement js = c.prepareStatement(JSON_SQL)) {
				List<Row> all = truth(aliceUuid);
				StringBuilder when = new StringBuilder();
				for (int i = 1; i <= 10; i++) {
					String cond = i % 2 == 0 ? "status=Logined" : "status=NewCreated";
					String status = cond.substring(7);
					Set<String> want = uuids(all.stream().filter(r -> r.status().equals(status)).collect(Collectors.toList()));
					List<Row> got = typed(ps, alice, new String[] {cond}, 1000, "createDate");
					eq(want, uuids(got), "typed run " + i);
					for (Row r : got) {
						eq(status, r.status(), "typed run " + i + " status");
						Row w = all.stream().filter(x -> x.uuid().equals(r.uuid())).findFirst().get();
						eq(w.created(), r.created(), "typed run " + i + " create_date");
					}
					eq(want, uuids(inventories(jsonQuery(js, alice, new String[] {cond}, 1000, null))), "JSON run " + i);
					if (ps.unwrap(PGStatement.class).isUseServerPrepare() && when.length() == 0)
						when.append(i);
				}
				check(ps.unwrap(PGStatement.class).isUseServerPrepare(), "typed statement never server-prepared");
				check(js.unwrap(PGStatement.class).isUseServerPrepare(), "JSON statement never server-prepared");
				List<String> named = serverStatements(c);
				check(named.stream().anyMatch(s -> s.endsWith("=typed")) && named.stream().anyMatch(s -> s.endsWith("=json")),
					"pg_prepared_statements: " + named);
				diag("server-side from run " + when + "; pg_prepared_statements: " + named);
			}
		});
	}

	// --- enum arguments --------------------------------------------------
	static void enumArgumentTests() {
		test("create_account enum argument: setObject(Types.OTHER), ?::zstack_tfa.account_type, stringtype=unspecified", () -> {
			String sql = "SELECT zstack_tfa.create_account(?, ?, ?)";
			try (PreparedStatement ps = mgmt.prepareStatement(sql)) {
				ps.setString(1, "carol");
				ps.setString(2, "Carol-pw-7");
				ps.setObject(3, "ThirdParty", Types.OTHER);
				try (ResultSet rs = ps.executeQuery()) {
					check(rs.next() && UUID.matcher(rs.getString(1)).matches(), "uuid");
				}
			}
			eq("ThirdParty", dbaValue("SELECT type::text FROM zstack_tfa.account WHERE name = 'carol'"), "carol (Types.OTHER)");
			try (PreparedStatement ps = mgmt.prepareStatement("SELECT zstack_tfa.create_account(?, ?, ?::zstack_tfa.account_type)")) {
				ps.setString(1, "dave");
				ps.setString(2, "Dave-pw-7");
				ps.setString(3, "Normal");
				ps.executeQuery().close();
			}
			eq("Normal", dbaValue("SELECT type::text FROM zstack_tfa.account WHERE name = 'dave'"), "dave (cast)");
			try (Connection c = connect(MGMT, "stringtype", "unspecified"); PreparedStatement ps = c.prepareStatement(sql)) {
				ps.setString(1, "erin");
				ps.setString(2, "Erin-pw-7");
				ps.setString(3, "ThirdParty");
				ps.executeQuery().close();
			}
			eq("ThirdParty", dbaValue("SELECT type::text FROM zstack_tfa.account WHERE name = 'erin'"), "erin (stringtype=unspecified)");
			eq("1", dbaValue("SELECT count(*) FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid"
				+ " WHERE a.name = 'erin' AND s.status = 'NewCreated'"), "a new account gets a secret while 2FA is on");
		});
		test("create_account with a plain setString for the enum: 42883 (varchar has no cast to account_type)", () -> {
			try (PreparedStatement ps = mgmt.prepareStatement("SELECT zstack_tfa.create_account(?, ?, ?)")) {
				ps.setString(1, "frank");
				ps.setString(2, "Frank-pw-7");
				ps.setString(3, "ThirdParty");
				PSQLException e = expectError(mgmt, "42883", null, () -> ps.executeQuery().close());
				diag(firstLine(e.getMessage()));
			}
			eq(null, accountUuid("frank"), "no account was made");
		});
	}

	// --- arrays ----------------------------------------------------------
	static void arrayTests(String alice, String aliceUuid) {
		test("conditions: createArrayOf(\"text\", …) works; setString(\"{…}\") needs ?::text[] (else 42883)", () -> {
			List<Row> all = truth(aliceUuid);
			Set<String> want = uuids(all.stream().filter(r -> r.status().equals("Logined") && r.userType().equals("AccountVO"))
				.collect(Collectors.toList()));
			try (PreparedStatement ps = mgmt.prepareStatement(TYPED_SQL)) {
				eq(want, uuids(typed(ps, alice, new String[] {"status=Logined", "userType=AccountVO"}, 1000, null)), "createArrayOf");
			}
			try (PreparedStatement ps = mgmt.prepareStatement(
				"SELECT * FROM zstack_tfa.query_two_factor_authentication(?, ?::text[])")) {
				ps.setString(1, alice);
				ps.setString(2, "{status=Logined,userType=AccountVO}");
				eq(want, uuids(rows(ps)), "setString + ?::text[]");
				// a condition that holds a comma must be quoted inside the literal
				ps.setString(2, "{\"status?=NewCreated,Logined\"}");
				eq(uuids(all), uuids(rows(ps)), "setString of a quoted element with a comma");
			}
			try (PreparedStatement ps = mgmt.prepareStatement(
				"SELECT * FROM zstack_tfa.query_two_factor_authentication(?, ?)")) {
				ps.setString(1, alice);
				ps.setString(2, "{status=Logined}");
				PSQLException e = expectError(mgmt, "42883", null, () -> ps.executeQuery().close());
				diag("setString without cast: " + firstLine(e.getMessage()));
			}
		});
	}

	// --- the roles -------------------------------------------------------
	static void roleTests() {
		test("zstack_reports: two_factor_report, secret_status_counts and auth_event readable", () -> {
			int users = Integer.parseInt(dbaValue("SELECT (SELECT count(*) FROM zstack_tfa.account)"
				+ " + (SELECT count(*) FROM zstack_tfa.iam2_virtual_id)"));
			int n = 0;
			try (Statement s = reports.createStatement();
				ResultSet rs = s.executeQuery("SELECT account_name, user_name, user_type, status, locked"
					+ " FROM zstack_tfa.two_factor_report ORDER BY account_name, user_name")) {
				while (rs.next()) {
					n++;
					String st = rs.getString("status");
					check(st == null || st.equals("NewCreated") || st.equals("Logined"), "status " + st);
				}
			}
			eq(users, n, "two_factor_report rows (accounts + IAM2 users)");
			String total = call(reports, "SELECT sum(secrets)::text FROM zstack_tfa.secret_status_counts");
			eq(dbaValue("SELECT count(*) FROM zstack_tfa.secret"), total, "secret_status_counts total");
			check(Integer.parseInt(call(reports, "SELECT count(*)::text FROM zstack_tfa.auth_event WHERE kind = 'login'")) > 0,
				"auth_event has the logins");
		});
		test("zstack_reports: SELECT from zstack_tfa.secret is refused (42501), as is the query function", () -> {
			expectError(reports, "42501", null, () -> call(reports, "SELECT count(*)::text FROM zstack_tfa.secret"));
			expectError(reports, "42501", null, () -> call(reports,
				"SELECT zstack_tfa.query_two_factor_authentication_json(?)", "0123456789abcdef0123456789abcdef"));
		});
		test("zstack_mgmt limits: zstack_tfa.secret, set_account_password, set_two_factor_authentication_enabled -> 42501", () -> {
			expectError(mgmt, "42501", null, () -> call(mgmt, "SELECT count(*)::text FROM zstack_tfa.secret"));
			expectError(mgmt, "42501", null, () -> call(mgmt, "SELECT zstack_tfa.set_account_password(?, ?)::text", ADMIN, "x-pw-7"));
			expectError(mgmt, "42501", null, () -> call(mgmt, "SELECT zstack_tfa.set_two_factor_authentication_enabled(?)::text",
				Boolean.FALSE));
			expectError(mgmt, "42501", null, () -> call(mgmt, "SELECT count(*)::text FROM zstack_tfa.two_factor_report"));
			eq("{\"state\":\"Enable\"}", dbaValue("SELECT zstack_tfa.get_two_factor_authentication_state()"), "2FA still on");
		});
	}

	// --- reinstalls and upgrades under long-lived connections -------------
	static void lifecycleTests(String firstSession, String firstAliceUuid) throws Exception {
		Connection ll1 = connect(MGMT);		// used before and after every change
		Connection ll2 = connect(MGMT);		// opened now, first query after the first DROP
		PreparedStatement oldTyped = ll1.prepareStatement(TYPED_SQL);
		PreparedStatement oldJson = ll1.prepareStatement(JSON_SQL);
		AtomicReference<String> session = new AtomicReference<>(firstSession);
		AtomicReference<String> aliceUuid = new AtomicReference<>(firstAliceUuid);

		test("long-lived connection before any change: status=, userType=, status?=, sort status (typed and JSON)", () -> {
			diag(battery(oldTyped, oldJson, session.get(), aliceUuid.get(), null));
			diag(battery(oldTyped, oldJson, session.get(), aliceUuid.get(), null));
			check(oldTyped.unwrap(PGStatement.class).isUseServerPrepare(), "the old typed statement is server-prepared");
			diag("pg_prepared_statements on the long-lived connection: " + serverStatements(ll1));
		});

		// 1. DROP EXTENSION ... CASCADE; CREATE EXTENSION
		test("DROP EXTENSION zstack_tfa CASCADE; CREATE EXTENSION zstack_tfa: roles survive, their EXECUTE grants do not", () -> {
			dba("DROP EXTENSION zstack_tfa CASCADE");
			dba("CREATE EXTENSION zstack_tfa");
			check(dbaValue("SELECT 1 FROM pg_roles WHERE rolname = ?", MGMT) != null, "zstack_mgmt survived");
			expectError(ll1, "42501", null, () -> call(ll1, "SELECT zstack_tfa.get_two_factor_authentication_state()"));
			diag("after DROP/CREATE, before the grants: ll1 gets 42501; schema ACL now "
				+ dbaValue("SELECT nspacl::text FROM pg_namespace WHERE nspname = 'zstack_tfa'"));
		});
		reinstallSteps("after DROP/CREATE", session, aliceUuid);
		oldStatementTest("after DROP/CREATE", ll1, oldTyped, session, aliceUuid, false);
		test("after DROP/CREATE: the session from before the DROP is gone (28Z01) on the long-lived connection", () -> {
			try (PreparedStatement ps = ll1.prepareStatement(TYPED_SQL)) {
				expectError(ll1, "28Z01", "ID.1001", () -> typed(ps, firstSession, new String[] {"status=NewCreated"}, 10, null));
			}
		});
		longLivedTests("after DROP/CREATE", ll1, ll2, oldTyped, oldJson, session, aliceUuid, null);

		// 2. the upgrade path: 1.0, then ALTER EXTENSION UPDATE
		test("DROP; CREATE EXTENSION zstack_tfa VERSION '1.0'", () -> {
			dba("DROP EXTENSION zstack_tfa CASCADE");
			dba("CREATE EXTENSION zstack_tfa VERSION '1.0'");
			eq("1.0", dbaValue("SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'"), "extversion");
		});
		reinstallSteps("on 1.0", session, aliceUuid);
		oldStatementTest("on 1.0", ll1, oldTyped, session, aliceUuid, true);
		longLivedTests("on 1.0", ll1, ll2, oldTyped, oldJson, session, aliceUuid, null);
		test("ALTER EXTENSION zstack_tfa UPDATE (1.0 -> default)", () -> {
			dba("ALTER EXTENSION zstack_tfa UPDATE");
			String v = dbaValue("SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'");
			eq(dbaValue("SELECT default_version FROM pg_available_extensions WHERE name = 'zstack_tfa'"), v, "extversion");
			diag("now " + v);
		});
		longLivedTests("after ALTER EXTENSION UPDATE", ll1, ll2, oldTyped, oldJson, session, aliceUuid, null);
		test("after ALTER EXTENSION UPDATE: README grant blocks run again (for what the update added)", () -> {
			diag(rerunGrantBlocks(false));
		});

		// 3. a new enum label
		test("ALTER TYPE zstack_tfa.secret_status ADD VALUE 'Disabled'; a secret with that status (superuser)", () -> {
			dba("ALTER TYPE zstack_tfa.secret_status ADD VALUE 'Disabled'");
			String user = call(su, "SELECT zstack_tfa.create_iam2_virtual_id(?, ?, ?)", ALICE, "alice-qa", "Alice-qa-pw-7");
			dbaValue("INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid, status)"
				+ " VALUES (zstack_tfa.new_uuid(), zstack_tfa.generate_secret(), ?, 'IAM2VirtualIDVO', ?, 'Disabled') RETURNING uuid",
				user, aliceUuid.get());
		});
		longLivedTests("after ADD VALUE 'Disabled'", ll1, ll2, oldTyped, oldJson, session, aliceUuid, "Disabled");
		test("after ADD VALUE 'Disabled': the JSON reply writes \"Disabled\", the typed row says Disabled", () -> {
			String disabled = dbaValue("SELECT uuid FROM zstack_tfa.secret WHERE status = 'Disabled'");
			JsonArray inv = inventories(jsonQuery(oldJson, session.get(), new String[] {"uuid=" + disabled}, 10, null));
			eq(1, inv.size(), "one inventory for uuid=");
			eq("Disabled", inv.get(0).getAsJsonObject().get("status").getAsString(), "JSON status");
			// SPEC §1: status compares as text, so "Disabled" < "Logined" < "NewCreated"
			List<Row> r = typed(oldTyped, session.get(), new String[] {"status<Logined"}, 10, null);
			eq(List.of("Disabled"), r.stream().map(Row::status).collect(Collectors.toList()), "status<Logined (as text)");
			r = typed(oldTyped, session.get(), new String[] {"status>Logined"}, 10, null);
			check(!r.isEmpty() && r.stream().allMatch(x -> x.status().equals("NewCreated")),
				"status>Logined (as text): " + r.stream().map(Row::status).collect(Collectors.toList()));
			eq(0, typed(oldTyped, session.get(), new String[] {"status?=NewCreated,Logined", "uuid=" + disabled}, 10, null).size(),
				"status?=NewCreated,Logined leaves it out");
		});
		oldTyped.close();
		oldJson.close();
		ll1.close();
		ll2.close();
		lifecycleSession = session.get();
		lifecycleAlice = aliceUuid.get();
	}

	static String lifecycleSession, lifecycleAlice;

	/* After a DROP/CREATE: grants again, data again, alice logs in again. */
	static void reinstallSteps(String when, AtomicReference<String> session, AtomicReference<String> aliceUuid) {
		test(when + ": README grant blocks run again (their CREATE ROLE meets the surviving role)", () -> {
			diag(rerunGrantBlocks(when.contains("1.0")));
		});
		test(when + ": fixture data again; alice logs in with 2FA as zstack_mgmt", () -> {
			runFixture();
			aliceUuid.set(accountUuid(ALICE));
			expectEnvelope(call(mgmt, loginSql(false), ALICE, ALICE_PW, new String[0]), "ID.2001");
			session.set(login2fa(mgmt, ALICE, ALICE_PW, false).get("uuid").getAsString());
			login2fa(mgmt, ALICE_DEV, ALICE_DEV_PW, true);	// so that alice sees both statuses
		});
	}

	/*
	 * The first use of the PreparedStatement prepared before the DROP.  Its
	 * server-side statement's result row type (the enums) was dropped:
	 * PostgreSQL's plan cache refuses it ("cached plan must not change result
	 * type", 0A000, RevalidateCachedQuery).  In autocommit pgjdbc prepares
	 * again and retries once by itself; in a transaction it cannot, and the
	 * error reaches the caller.  Either is PostgreSQL's and pgjdbc's
	 * behaviour; an XX000 from zstack_tfa's own caches is not.
	 */
	static void oldStatementTest(String when, Connection ll1, PreparedStatement oldTyped,
		AtomicReference<String> session, AtomicReference<String> aliceUuid, boolean inTransaction) {
		test(when + ": the OLD PreparedStatement (server-prepared before the DROP), first use"
			+ (inTransaction ? " inside a transaction" : " in autocommit"), () -> {
			List<String> before = serverStatements(ll1);
			List<Row> want = truth(aliceUuid.get()).stream().filter(r -> r.status().equals("NewCreated"))
				.collect(Collectors.toList());
			String outcome;
			if (inTransaction)
				ll1.setAutoCommit(false);
			try {
				List<Row> got = typed(oldTyped, session.get(), new String[] {"status=NewCreated"}, 1000, null);
				eq(uuids(want), uuids(got), "rows");
				outcome = "returned the right " + got.size() + " rows";
			} catch (PSQLException e) {
				ServerErrorMessage m = e.getServerErrorMessage();
				outcome = "raised " + describe(e);
				check("0A000".equals(e.getSQLState()) && m != null && "RevalidateCachedQuery".equals(m.getRoutine()),
					"not PostgreSQL's plan-cache refusal: " + outcome);
			} finally {
				if (inTransaction) {
					ll1.rollback();
					ll1.setAutoCommit(true);
				}
			}
			List<Row> again = typed(oldTyped, session.get(), new String[] {"status=NewCreated"}, 1000, null);
			eq(uuids(want), uuids(again), "second use");
			diag("OLD PreparedStatement " + when + (inTransaction ? " (in a transaction)" : " (autocommit)")
				+ ": first use " + outcome + "; second use returned the right " + again.size() + " rows");
			diag("  server-side statements before: " + before + ", after: " + serverStatements(ll1));
		});
	}

	static void longLivedTests(String when, Connection ll1, Connection ll2, PreparedStatement oldTyped,
		PreparedStatement oldJson, AtomicReference<String> session, AtomicReference<String> aliceUuid, String label) {
		// after an UPDATE or a new label the types keep their OIDs: the old
		// server-side statements must serve as they are, not be prepared again
		boolean sameTypes = when.contains("UPDATE") || label != null;
		test(when + ": long-lived connection, OLD PreparedStatements: typed and JSON, status=, userType=, status?=, sort", () -> {
			List<String> before = serverStatements(ll1);
			diag(battery(oldTyped, oldJson, session.get(), aliceUuid.get(), label));
			if (sameTypes)
				eq(before, serverStatements(ll1), "server-side statements (none prepared again)");
		});
		test(when + ": long-lived connection, NEW PreparedStatements", () -> {
			try (PreparedStatement t = ll1.prepareStatement(TYPED_SQL); PreparedStatement j = ll1.prepareStatement(JSON_SQL)) {
				diag(battery(t, j, session.get(), aliceUuid.get(), label));
			}
			// and a statement text this connection never prepared before
			try (PreparedStatement t = ll1.prepareStatement(TYPED_SQL + " /* " + when + " */");
				PreparedStatement j = ll1.prepareStatement(JSON_SQL + " /* " + when + " */")) {
				battery(t, j, session.get(), aliceUuid.get(), label);
			}
		});
		test(when + ": second long-lived connection (opened before the first DROP)", () -> {
			try (PreparedStatement t = ll2.prepareStatement(TYPED_SQL); PreparedStatement j = ll2.prepareStatement(JSON_SQL)) {
				diag(battery(t, j, session.get(), aliceUuid.get(), label));
			}
		});
	}

	// --- concurrency -----------------------------------------------------
	static void concurrencyTest() {
		test("4 threads, each its own zstack_mgmt connection, 250 query calls each: 0 errors, every result right", () -> {
			String session = lifecycleSession;
			List<Row> all = truth(lifecycleAlice);
			Map<String, Set<String>> want = new HashMap<>();
			for (String c : new String[] {"status=NewCreated", "status=Logined", "userType=AccountVO", "status?=NewCreated,Logined"})
				want.put(c, uuids(all.stream().filter(matcher(c)).collect(Collectors.toList())));
			AtomicInteger errors = new AtomicInteger(), calls = new AtomicInteger();
			List<String> firstErrors = Collections.synchronizedList(new ArrayList<>());
			List<Thread> threads = new ArrayList<>();
			long t0 = System.nanoTime();
			for (int t = 0; t < 4; t++) {
				final int id = t;
				Thread th = new Thread(() -> {
					try (Connection c = connect(MGMT); PreparedStatement ps = c.prepareStatement(TYPED_SQL);
						PreparedStatement js = c.prepareStatement(JSON_SQL)) {
						String[] keys = want.keySet().toArray(new String[0]);
						for (int i = 0; i < 250; i++) {
							String cond = keys[(i + id) % keys.length];
							try {
								Set<String> got = i % 2 == 0 ? uuids(typed(ps, session, new String[] {cond}, 1000, null))
									: uuids(inventories(jsonQuery(js, session, new String[] {cond}, 1000, null)));
								if (!got.equals(want.get(cond)))
									throw new AssertionError(cond + ": " + got + " != " + want.get(cond));
							} catch (Exception | AssertionError e) {
								errors.incrementAndGet();
								if (firstErrors.size() < 5)
									firstErrors.add("thread " + id + " call " + i + ": "
										+ (e instanceof SQLException s ? describe(s) : e.getMessage()));
							}
							calls.incrementAndGet();
						}
					} catch (SQLException e) {
						errors.incrementAndGet();
						firstErrors.add("thread " + id + ": " + describe(e));
					}
				});
				threads.add(th);
				th.start();
			}
			for (Thread th : threads)
				th.join(120000);
			eq(1000, calls.get(), "calls made");
			eq(0, errors.get(), "errors (" + firstErrors + ")");
			diag(String.format("1000 calls in %.2f s", (System.nanoTime() - t0) / 1e9));
		});
	}

	// --- 2FA off ---------------------------------------------------------
	static void disabledTests() {
		test("2FA switched off by the DBA: get_two_factor_authentication_secret -> SYS.1006 envelope; tags ignored at login", () -> {
			eq("{\"state\":\"Disable\"}", dbaValue("SELECT zstack_tfa.set_two_factor_authentication_enabled(false)::text"),
				"set_two_factor_authentication_enabled(false)");
			eq("{\"state\":\"Disable\"}", call(mgmt, "SELECT zstack_tfa.get_two_factor_authentication_state()"), "state");
			expectEnvelope(call(mgmt, "SELECT zstack_tfa.get_two_factor_authentication_secret(?, ?, ?)", ALICE, ALICE_PW,
				"account"), "SYS.1006");
			JsonObject inv = inventory(call(mgmt, loginSql(false), ALICE, ALICE_PW, new String[] {"twofatoken::000000"}));
			check(UUID.matcher(inv.get("uuid").getAsString()).matches(), "session");
			eq("0", dbaValue("SELECT count(*) FROM zstack_tfa.secret"), "secrets deleted by the switch");
		});
	}
}
