#!/usr/bin/python3
"""The failover rounds of test/ha/run.sh (which installs, builds and calls
this as root, with HA_DIR the run's folder and HA_BIN the server's binaries).

It starts one etcd, three Patroni nodes and pgbouncer on loopback, loads the
demo's sample and the test's accounts, then runs three rounds: the primary
killed (Patroni and the postmaster with its children, kill -9) with
synchronous_mode on, a patronictl switchover, and the kill again with
synchronous_mode off.  Clients log in with real codes from oathtool through
pgbouncer, through a multi-host libpq URL (target_session_attrs=read-write)
and through a multi-host pgjdbc URL (targetServerType=primary: test/ha/
HaJdbc.java, which run.sh compiles), and send wrong codes; afterwards the
new primary is checked:
codes accepted before are refused, wrong-code counts and lockouts are
there, sessions handed out still work, secrets decrypt, replicas answer as
the primary does.  Prints TAP-like lines, the figures of each round, and
"N passed, N failed"; exits 1 on any failure.
"""
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psycopg2

HA = os.environ["HA_DIR"]
BIN = os.environ["HA_BIN"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODES = ["node1", "node2", "node3"]
PORT = {"node1": 25432, "node2": 25433, "node3": 25434}
REST = {"node1": 28008, "node2": 28009, "node3": 28010}
ETCD_CLIENT, ETCD_PEER, BOUNCER = 22379, 22380, 26432
# prometheus-postgres-exporter, one per node (as zstack_monitor, monitoring/queries.yaml)
EXPORTER = {"node1": 27187, "node2": 27188, "node3": 27189}
SUPW, REPW, MGMTPW, MONPW = "ha-super-pw", "ha-repl-pw", "ha-mgmt-pw", "ha-mon-pw"
ADMINPW = "demo-admin-password"
DB = "zstack"
STEP = 30
MAX_FAILED = 5
DIRECT_DSN = ("host=127.0.0.1,127.0.0.1,127.0.0.1 port=%d,%d,%d dbname=%s user=zstack_mgmt "
              "password=%s target_session_attrs=read-write connect_timeout=2"
              % (PORT["node1"], PORT["node2"], PORT["node3"], DB, MGMTPW))
BOUNCER_DSN = ("host=127.0.0.1 port=%d dbname=%s user=zstack_mgmt password=%s connect_timeout=2"
               % (BOUNCER, DB, MGMTPW))
# pgjdbc's multi-host URL, used by test/ha/HaJdbc.java (classes and driver in HA_JDBC_CP, from run.sh)
JDBC_URL = ("jdbc:postgresql://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s?targetServerType=primary&connectTimeout=2"
            % (PORT["node1"], PORT["node2"], PORT["node3"], DB))
JDBC_CP = os.environ["HA_JDBC_CP"]

procs = {}
passed = failed = 0
T0 = time.time()


def log(msg):
    print("# [%6.1f] %s" % (time.time() - T0, msg), flush=True)


def check(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - %s" % name, flush=True)
    else:
        failed += 1
        print("not ok - %s%s" % (name, (": " + detail) if detail else ""), flush=True)
    return ok


def spawn(name, argv, logname):
    """Start argv as postgres in a session of its own; its pid goes to HA_DIR/pids."""
    out = open(os.path.join(HA, logname), "ab")
    p = subprocess.Popen(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                          "nice", "-n", "10"] + argv, stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True, cwd=HA)
    with open(os.path.join(HA, "pids"), "a") as f:
        f.write("%d\n" % p.pid)
    procs[name] = p
    return p


def as_postgres(argv, **kw):
    return subprocess.run(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + argv,
                          cwd=HA, **kw)


# ---------------------------------------------------------------- codes

def totp(secret, step):
    """The code of one time step, from oathtool (the authenticator's side)."""
    return subprocess.run(["oathtool", "--totp", "-b", "-N", "@%d" % (step * STEP), secret],
                          check=True, capture_output=True, text=True).stdout.strip()


def now_step():
    return int(time.time()) // STEP


def wrong_code(secret):
    """A code no step of the window has (the code of a step an hour ago, unless it collides)."""
    s = now_step()
    window = {totp(secret, x) for x in range(s - 1, s + 3)}
    for back in range(120, 200):
        c = totp(secret, s - back)
        if c not in window:
            return c
    raise RuntimeError("no wrong code")


# ---------------------------------------------------------------- cluster

def write_configs():
    keyline = "k1 %s\n" % os.urandom(32).hex()
    for i, n in enumerate(NODES):
        d = os.path.join(HA, n)
        os.makedirs(d, exist_ok=True)
        # the encryption key: the same file on every node, 0600, the server's user's
        key = os.path.join(d, "zstack_tfa.keys")
        old = os.umask(0o077)
        with open(key, "w") as f:
            f.write(keyline)
        os.umask(old)
        # Patroni's on_role_change / on_start: a node that becomes the
        # primary points pgbouncer at itself and makes it reload
        cb = os.path.join(d, "follow.sh")
        with open(cb, "w") as f:
            f.write("""#!/bin/sh
# $1 action, $2 role, $3 cluster (Patroni's callback arguments)
case "$2" in master|primary) ;; *) exit 0 ;; esac
sed -i 's/^zstack = .*/zstack = host=127.0.0.1 port=%d dbname=zstack/' %s/bouncer/pgbouncer.ini
kill -HUP "$(cat %s/bouncer/pgbouncer.pid)"
echo "$(date +%%s.%%N) $1 $2: pgbouncer -> %s" >>%s/follow.log
""" % (PORT[n], HA, HA, n, HA))
        os.chmod(cb, 0o755)
        with open(os.path.join(d, "patroni.yml"), "w") as f:
            f.write("""scope: zt_ha
namespace: /zt_ha/
name: {n}
restapi:
  listen: 127.0.0.1:{rest}
  connect_address: 127.0.0.1:{rest}
etcd3:
  hosts: 127.0.0.1:{etcd}
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: 'on'
        synchronous_commit: 'on'
        hot_standby: 'on'
        max_connections: 80
        max_worker_processes: 16
        wal_keep_size: 256MB
        session_preload_libraries: zstack_tfa
        zstack_tfa.lockout_seconds: 3600
        log_min_error_statement: panic
  initdb:
  - encoding: UTF8
  - locale: C.UTF-8
  - data-checksums
  pg_hba:
  - local all all trust
  - host replication replicator 127.0.0.1/32 scram-sha-256
  - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:{port}
  connect_address: 127.0.0.1:{port}
  data_dir: {d}/data
  bin_dir: {bin}
  pgpass: {d}/pgpass
  authentication:
    superuser:
      username: postgres
      password: {supw}
    replication:
      username: replicator
      password: {repw}
  parameters:
    unix_socket_directories: {d}
    zstack_tfa.encryption_key_file: {key}
  callbacks:
    on_start: {cb}
    on_role_change: {cb}
""".format(n=n, rest=REST[n], etcd=ETCD_CLIENT, port=PORT[n], d=d, bin=BIN, supw=SUPW,
           repw=REPW, key=key, cb=cb))
    b = os.path.join(HA, "bouncer")
    os.makedirs(b, exist_ok=True)
    with open(os.path.join(b, "pgbouncer.ini"), "w") as f:
        f.write("""[databases]
zstack = host=127.0.0.1 port={port} dbname=zstack

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {bport}
unix_socket_dir = {b}
pidfile = {b}/pgbouncer.pid
logfile = {b}/pgbouncer.log
auth_type = scram-sha-256
auth_file = {b}/userlist.txt
pool_mode = transaction
max_client_conn = 200
default_pool_size = 10
server_connect_timeout = 2
server_login_retry = 1
query_wait_timeout = 30
ignore_startup_parameters = extra_float_digits
""".format(port=PORT["node1"], bport=BOUNCER, b=b))
    with open(os.path.join(b, "userlist.txt"), "w") as f:
        f.write('"zstack_mgmt" "%s"\n' % MGMTPW)
    subprocess.run(["chown", "-R", "postgres:postgres", HA], check=True)


def start_etcd():
    spawn("etcd", ["etcd", "--name", "e1", "--data-dir", os.path.join(HA, "etcd"),
                   "--listen-client-urls", "http://127.0.0.1:%d" % ETCD_CLIENT,
                   "--advertise-client-urls", "http://127.0.0.1:%d" % ETCD_CLIENT,
                   "--listen-peer-urls", "http://127.0.0.1:%d" % ETCD_PEER,
                   "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % ETCD_PEER,
                   "--initial-cluster", "e1=http://127.0.0.1:%d" % ETCD_PEER],
          "etcd.log")
    wait(lambda: http_json("http://127.0.0.1:%d/health" % ETCD_CLIENT), 30, "etcd")


def start_node(n):
    spawn(n, ["patroni", os.path.join(HA, n, "patroni.yml")], "%s.log" % n)


def start_bouncer():
    spawn("pgbouncer", ["pgbouncer", os.path.join(HA, "bouncer", "pgbouncer.ini")], "bouncer/stdout.log")


def http_json(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read().decode())
    except Exception:
        return None


def wait(pred, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise RuntimeError("timed out waiting for %s" % what)


def members():
    for n in NODES:
        c = http_json("http://127.0.0.1:%d/cluster" % REST[n])
        if c:
            return c.get("members", [])
    return []


def leader():
    for m in members():
        if m.get("role") == "leader" and m.get("state") == "running":
            return m["name"]
    return None


def healthy(sync):
    """Three members, a running leader, two streaming replicas (one of them synchronous when sync)."""
    ms = members()
    if len(ms) != 3 or not leader():
        return False
    repl = [m for m in ms if m.get("role") in ("replica", "sync_standby")]
    if len(repl) != 2 or any(m.get("state") not in ("running", "streaming") for m in repl):
        return False
    try:
        with closing_su(PORT[leader()], "postgres") as c:
            rows = q(c, "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'")
    except Exception:
        return False
    states = sorted(r[0] for r in rows)
    return states == (["async", "sync"] if sync else ["async", "async"])


def patronictl(*args):
    return subprocess.run(["patronictl", "-c", os.path.join(HA, "node1", "patroni.yml")] + list(args),
                          capture_output=True, text=True)


# ---------------------------------------------------------------- SQL

def su(port, db=DB, timeout=2):
    c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=SUPW, dbname=db,
                         connect_timeout=timeout)
    c.autocommit = True
    return c


@contextlib.contextmanager
def closing_su(port, db=DB):
    """A superuser connection for a with block (psycopg2's own would open a transaction)."""
    c = su(port, db)
    try:
        yield c
    finally:
        c.close()


def q(c, sql, args=None):
    with c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else []


def q1(c, sql, args=None):
    return q(c, sql, args)[0][0]


def psql_file(port, path):
    env = dict(os.environ, PGPASSWORD=SUPW)
    r = subprocess.run([os.path.join(BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                        "-p", str(port), "-U", "postgres", "-d", DB, "-f", path],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql -f %s: %s" % (path, r.stderr[-2000:]))


def grant_block(name="management"):
    """README's "-- grants: NAME" block, as printed."""
    out, inblock = [], False
    for line in open(os.path.join(ROOT, "README.md")):
        if line.startswith("-- grants: " + name):
            inblock = True
        elif inblock and line.startswith("```"):
            break
        if inblock:
            out.append(line)
    return "".join(out)


def start_exporters():
    for n in NODES:
        dsn = "postgresql://zstack_monitor:%s@127.0.0.1:%d/%s?sslmode=disable" % (MONPW, PORT[n], DB)
        spawn("exporter_" + n, ["env", "DATA_SOURCE_NAME=" + dsn, "/usr/bin/prometheus-postgres-exporter",
                                "--web.listen-address=127.0.0.1:%d" % EXPORTER[n],
                                "--extend.query-path=" + os.path.join(ROOT, "monitoring", "queries.yaml"),
                                "--disable-default-metrics", "--disable-settings-metrics"],
              "exporter_%s.log" % n)


def scrape(n, tries=5):
    """The zstack_tfa figures a node's exporter serves ({name{labels}: value}), or None.  The first
    scrape after the node restarted fails (the exporter's connection is gone; it opens a new one
    for the next), as Prometheus would see: up to `tries` scrapes, a second apart."""
    for i in range(tries):
        fig = scrape_once(n)
        if fig is not None and fig.get("pg_exporter_last_scrape_error") == 0:
            break
        time.sleep(1)
    return fig


def scrape_once(n):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % EXPORTER[n], timeout=10) as r:
            text = r.read().decode()
    except Exception as e:
        log("scrape of %s: %s" % (n, e))
        return None
    fig = {}
    for line in text.splitlines():
        m = re.match(r'^(zstack_tfa_\w+|pg_exporter_last_scrape_error)(?:\{(.*)\})? (\S+)$', line)
        if m:
            # keyed by name and result only (the exporter may add labels of its own)
            result = re.search(r'result="([^"]*)"', m.group(2) or "")
            fig[m.group(1) + ('{result="%s"}' % result.group(1) if result else "")] = float(m.group(3))
    return fig


# ---------------------------------------------------------------- clients

class Path:
    """One way clients reach the primary: pgbouncer, the multi-host libpq URL, or pgjdbc's."""

    def __init__(self, name, dsn):
        self.name, self.dsn = name, dsn
        self.lock = threading.Lock()
        self.calls = []          # (t, ok, kind): every API call and whether it answered

    def record(self, t, ok, kind):
        with self.lock:
            self.calls.append((t, ok, kind))


class Client:
    """A connection of zstack_mgmt on a path, reopened after a failure."""

    def __init__(self, path):
        self.path, self.conn = path, None

    def call(self, sql, args):
        """Run one API call; returns its value, or None when the call failed (no answer)."""
        t = time.time()
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg2.connect(self.path.dsn)
                self.conn.autocommit = True
            t1 = time.time()
            v = q1(self.conn, sql, args)
            self.exec_seconds = time.time() - t1
        except psycopg2.Error as e:
            self.path.record(t, False, "error")
            try:
                if self.conn is not None:
                    self.conn.close()
            except Exception:
                pass
            self.conn = None
            self.last_error = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            # a client retries after 0.2 s
            time.sleep(0.2)
            return None
        return v

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass


def J(v):
    """A json value as psycopg2 returns it (already parsed) or as text."""
    return json.loads(v) if isinstance(v, str) else v


def reply_code(v):
    """The ZStack error code of a JSON reply, or None for a success."""
    if isinstance(v, str):
        v = J(v)
    return v.get("error", {}).get("code") if isinstance(v, dict) else "?"


class Round:
    def __init__(self, no, action, sync, stall):
        self.no, self.action, self.sync, self.stall = no, action, sync, stall
        # the pgjdbc path's clients are HaJdbc's threads (jdbc_clients), not Client objects
        self.paths = [Path("pgbouncer", BOUNCER_DSN), Path("multi-host URL", DIRECT_DSN), Path("pgjdbc", JDBC_URL)]
        self.stop = threading.Event()
        self.accepted = []     # (user, step, code, t_reply, path)
        self.sessions = []     # (session uuid, user, t_reply)
        self.wrong_acked = {}  # user -> wrong codes answered ID.2002 (compared)
        self.wrong_ambiguous = {}  # user -> wrong codes without an answer
        self.t_action = None
        self.probe = []        # (t, node, is_primary)
        self.readonly_refusals = 0
        self.avail_sessions_lost = 0
        self.local_accepted = []
        self.jdbc_crashes = []  # a pgjdbc client thread that died (its exception)
        self.lock = threading.Lock()


def book_login(rnd, path, t, u, s, code, err, sess):
    """A login's outcome in the round's books: accepted (its step and session), refused by a
    replica (read-only), or refused."""
    if err is None:
        path.record(t, True, "login")
        with rnd.lock:
            rnd.accepted.append((u, s, code, t, path.name))
            rnd.sessions.append((sess, u, t))
    elif err == "SYS.1006":
        # a replica answered (pgbouncer before it followed the leader)
        path.record(t, False, "read-only")
        with rnd.lock:
            rnd.readonly_refusals += 1
    else:
        path.record(t, False, "refused " + err)


def login_worker(rnd, users, secrets, path):
    cl = Client(path)
    last = {u: -1 for u in users}
    while not rnd.stop.is_set():
        did = False
        for u in users:
            s = max(last[u] + 1, now_step())
            if s > now_step() + 1:
                continue
            code = totp(secrets[u], s)
            v = cl.call("SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
                        (u, "pw-" + u, "twofatoken::" + code))
            t = time.time()
            if v is None:
                continue
            did = True
            err = reply_code(v)
            book_login(rnd, path, t, u, s, code, err, J(v)["inventory"]["uuid"] if err is None else None)
            if err != "SYS.1006":
                # accepted, or refused: either way its step is not used again
                last[u] = s
            # the session just handed out, used at once
            if err is None:
                sess = J(v)["inventory"]["uuid"]
                w = cl.call("SELECT zstack_tfa.validate_session(%s)", (sess,))
                if w is not None:
                    path.record(time.time(), J(w).get("valid") is True, "validate")
        if not did:
            time.sleep(0.2)
    cl.close()


def burst_login(rnd, user, secret, path, sync_commit=None):
    """One login while replication stalls (its code the next step's, valid the longest)."""
    cl = Client(path)
    if sync_commit:
        cl.conn = psycopg2.connect(path.dsn)
        cl.conn.autocommit = True
        q(cl.conn, "SET synchronous_commit = " + sync_commit)
    s = now_step() + 1
    code = totp(secret, s)
    v = cl.call("SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
                (user, "pw-" + user, "twofatoken::" + code))
    t = time.time()
    if v is not None and reply_code(v) is None:
        path.record(t, True, "login")
        with rnd.lock:
            rnd.accepted.append((user, s, code, t, path.name))
            rnd.sessions.append((J(v)["inventory"]["uuid"], user, t))
            if sync_commit:
                rnd.local_accepted.append((user, s, code, t))
    cl.close()


def wrong_worker(rnd, users, secrets, path, pause):
    """Wrong codes, fewer than the lockout, to each counter account; to the locked one, any number."""
    cl = Client(path)
    i = 0
    while not rnd.stop.is_set():
        u = users[i % len(users)]
        i += 1
        if not u.endswith("_locked") and rnd.wrong_acked.get(u, 0) + rnd.wrong_ambiguous.get(u, 0) >= MAX_FAILED - 1:
            if all(rnd.wrong_acked.get(x, 0) + rnd.wrong_ambiguous.get(x, 0) >= MAX_FAILED - 1
                   for x in users if not x.endswith("_locked")):
                time.sleep(pause)
            continue
        code = wrong_code(secrets[u])
        v = cl.call("SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
                    (u, "pw-" + u, "twofatoken::" + code))
        t = time.time()
        with rnd.lock:
            if v is None:
                rnd.wrong_ambiguous[u] = rnd.wrong_ambiguous.get(u, 0) + 1
            elif reply_code(v) == "ID.2002":
                path.record(t, True, "wrong code")
                if "locked after" not in J(v)["error"].get("details", ""):
                    rnd.wrong_acked[u] = rnd.wrong_acked.get(u, 0) + 1
            else:
                path.record(t, False, "wrong code: " + str(reply_code(v)))
        time.sleep(pause)
    cl.close()


def avail_worker(rnd, user, secret, path):
    """A write every 0.2 s (RenewSession of its own session), to time what a client sees."""
    cl = Client(path)
    sess, last = None, -1
    while not rnd.stop.is_set():
        if sess is None:
            s = max(last + 1, now_step())
            if s > now_step() + 1:
                time.sleep(0.5)
                continue
            v = cl.call("SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
                        (user, "pw-" + user, "twofatoken::" + totp(secret, s)))
            if v is not None:
                last = s
                if reply_code(v) is None:
                    sess = J(v)["inventory"]["uuid"]
                    path.record(time.time(), True, "write")
            time.sleep(0.2)
            continue
        v = cl.call("SELECT zstack_tfa.renew_session(%s, %s, %s)", (sess, sess, 3600 + random.randint(0, 60)))
        t = time.time()
        if v is not None:
            err = reply_code(v)
            path.record(t, err is None, "write" if err is None else "read-only" if err == "SYS.1006" else "refused " + err)
            if err not in (None, "SYS.1006"):
                log("%s: the session of %s is gone after the %s (%s)" % (path.name, user, rnd.action, err))
                with rnd.lock:
                    rnd.avail_sessions_lost += 1
                sess = None
        time.sleep(0.2)
    cl.close()


def jdbc_clients(rnd, path, secrets, users, avail):
    """The pgjdbc path: test/ha/HaJdbc.java in a JVM of its own, three login clients of two users
    each and one RenewSession client, each a thread with its own connection through JDBC_URL.
    It prints a line a call; jdbc_record puts each into the same bookkeeping as the Python
    workers' calls, as it comes.  The clients stop when their stdin is closed (stop_jdbc)."""
    def spec(u):
        return "%s:%s:%s" % (u, "pw-" + u, secrets[u])
    args = ["login:" + ",".join(spec(u) for u in users[k::3]) for k in range(3)] + ["avail:" + spec(avail)]
    err = open(os.path.join(HA, "hajdbc-r%d.err" % rnd.no), "ab")
    proc = subprocess.Popen(["java", "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", JDBC_CP,
                             "HaJdbc", JDBC_URL, "zstack_mgmt", MGMTPW] + args,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, cwd=HA)
    with open(os.path.join(HA, "pids"), "a") as f:
        f.write("%d\n" % proc.pid)

    def read():
        for line in proc.stdout:
            jdbc_record(rnd, path, line)
    reader = threading.Thread(daemon=True, target=read)
    reader.start()
    return proc, reader


def jdbc_record(rnd, path, line):
    """One of HaJdbc's lines (TIME|OP|USER|STEP|CODE|RESULT|SESSION|DETAIL), booked as
    login_worker and avail_worker book their calls."""
    f = line.rstrip("\n").split("|", 7)
    if len(f) != 8:
        log("pgjdbc: %s" % line.strip())
        return
    t, op, u, s, code, res, sess, detail = float(f[0]), f[1], f[2], int(f[3]), f[4], f[5], f[6], f[7]
    if op == "crash":
        log("pgjdbc: the client of %s died: %s" % (u, detail))
        with rnd.lock:
            rnd.jdbc_crashes.append(detail)
    elif res == "error":
        # no answer: the client retries after 0.2 s on a new connection
        path.record(t, False, "error")
    elif op == "login":
        book_login(rnd, path, t, u, s, code, None if res == "ok" else res, sess)
    elif op == "validate":
        path.record(t, res == "valid", "validate")
    elif op == "avail-login":
        if res == "ok":
            path.record(t, True, "write")
    elif op == "renew":
        path.record(t, res == "ok", "write" if res == "ok" else "read-only" if res == "SYS.1006" else "refused " + res)
        if res not in ("ok", "SYS.1006"):
            log("%s: the session of %s is gone after the %s (%s)" % (path.name, u, rnd.action, res))
            with rnd.lock:
                rnd.avail_sessions_lost += 1


def stop_jdbc(proc, reader):
    """Close HaJdbc's stdin, wait for its clients to end; its exit status."""
    proc.stdin.close()
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = "killed after 30 s"
    reader.join(10)
    return rc


def probe_worker(rnd):
    """Which node answers as a primary, every 0.2 s."""
    while not rnd.stop.is_set():
        for n in NODES:
            try:
                c = psycopg2.connect(host="127.0.0.1", port=PORT[n], user="postgres", password=SUPW,
                                     dbname="postgres", connect_timeout=1)
                try:
                    c.autocommit = True
                    prim = not q1(c, "SELECT pg_is_in_recovery()") and \
                        q1(c, "SELECT current_setting('transaction_read_only')") == "off"
                finally:
                    c.close()
            except Exception:
                prim = False
            with rnd.lock:
                rnd.probe.append((time.time(), n, prim))
        time.sleep(0.3)


# ---------------------------------------------------------------- the test

def enrol(c, names):
    secrets = {}
    for n in names:
        q(c, "SELECT zstack_tfa.create_account(%s, %s)", (n, "pw-" + n))
        v = J(q1(c, "SELECT zstack_tfa.get_two_factor_authentication_secret(%s, %s)", (n, "pw-" + n)))
        secrets[n] = v["inventory"]["secret"]
    return secrets


def admin_session(port):
    with closing_su(port) as c:
        sec = ADMIN_SECRET
        for _ in range(3):
            s = max(now_step(), ADMIN_STEP[0] + 1)
            while s > now_step() + 1:
                time.sleep(1)
            v = J(q1(c, "SELECT zstack_tfa.log_in_by_account('admin', %s, ARRAY[%s])",
                              (ADMINPW, "twofatoken::" + totp(sec, s))))
            ADMIN_STEP[0] = s
            if "inventory" in v:
                return v["inventory"]["uuid"]
    raise RuntimeError("admin login failed: %s" % v)


ADMIN_SECRET = None
ADMIN_STEP = [-1]


def stall_walsenders(port):
    """Replication stalls (as on a congested link): the primary's WAL senders stop."""
    with closing_su(port, "postgres") as c:
        pids = [r[0] for r in q(c, "SELECT pid FROM pg_stat_replication")]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    return pids


def kill_node(n):
    """The node is gone: its Patroni, its postmaster and every child, kill -9."""
    pm = int(open(os.path.join(HA, n, "data", "postmaster.pid")).readline())
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pm)], capture_output=True,
                              text=True).stdout.split()
    os.kill(procs[n].pid, signal.SIGKILL)
    os.kill(pm, signal.SIGKILL)
    for ch in children:
        try:
            os.kill(int(ch), signal.SIGKILL)
        except ProcessLookupError:
            pass
    procs[n].wait()


def run_round(rnd, old):
    log("round %d: %s, synchronous_mode %s%s; primary %s" % (
        rnd.no, rnd.action, "on" if rnd.sync else "off",
        ", replication stalled %d s before" % rnd.stall if rnd.stall else "", old))
    prefix = "r%d_" % rnd.no
    login_users = [prefix + "u%d" % i for i in range(12)]
    counters = [prefix + "w%d" % i for i in range(6)]
    locked, almost = prefix + "locked", prefix + "almost"
    avail = [prefix + "avail0", prefix + "avail1"]
    burst = [prefix + "b%d" % i for i in range(8)]
    local = prefix + "local"
    jdbc_users, javail = [prefix + "j%d" % i for i in range(6)], prefix + "javail"
    with closing_su(PORT[old]) as c:
        secrets = enrol(c, login_users + counters + [locked, almost] + avail + burst + [local]
                        + jdbc_users + [javail])
    # the locked account: MAX_FAILED wrong codes; the almost locked one: one fewer
    setup = Client(rnd.paths[1])
    for u, n in ((locked, MAX_FAILED), (almost, MAX_FAILED - 1)):
        for _ in range(n):
            v = setup.call("SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
                           (u, "pw-" + u, "twofatoken::" + wrong_code(secrets[u])))
            assert reply_code(v) == "ID.2002", v
    with closing_su(PORT[old]) as c:
        st = dict(q(c, "SELECT a.name, s.failed_attempts FROM zstack_tfa.secret s JOIN zstack_tfa.account a"
                       " ON a.uuid = s.user_uuid WHERE a.name IN (%s, %s)", (locked, almost)))
    check(st == {locked: MAX_FAILED, almost: MAX_FAILED - 1},
          "round %d: %s has %d wrong codes (locked), %s %d" % (rnd.no, locked, MAX_FAILED, almost, MAX_FAILED - 1),
          str(st))
    admin = admin_session(PORT[old])

    threads = [threading.Thread(daemon=True, target=probe_worker, args=(rnd,))]
    for k in range(2):
        threads.append(threading.Thread(daemon=True, target=avail_worker, args=(rnd, avail[k], secrets[avail[k]], rnd.paths[k])))
    for k in range(4):
        users = login_users[k::4]
        threads.append(threading.Thread(daemon=True, target=login_worker, args=(rnd, users, secrets, rnd.paths[k % 2])))
    threads.append(threading.Thread(daemon=True, target=wrong_worker,
                                    args=(rnd, counters[:3] + [locked], secrets, rnd.paths[0], 0.7)))
    threads.append(threading.Thread(daemon=True, target=wrong_worker,
                                    args=(rnd, counters[3:], secrets, rnd.paths[1], 0.7)))
    for t in threads:
        t.start()
    jdbc = jdbc_clients(rnd, rnd.paths[2], secrets, jdbc_users, javail)
    time.sleep(12)
    others = [n for n in NODES if n != old]
    stalled = []
    if rnd.stall:
        stalled = stall_walsenders(PORT[old])
        log("WAL senders %s of %s stopped" % (stalled, old))
        # logins while replication stalls, and one of a client that set synchronous_commit = local
        for k, u in enumerate(burst):
            threads.append(threading.Thread(daemon=True, target=burst_login, args=(rnd, u, secrets[u], rnd.paths[k % 2])))
            threads[-1].start()
        threads.append(threading.Thread(daemon=True, target=burst_login,
                                        args=(rnd, local, secrets[local], rnd.paths[1], "local")))
        threads[-1].start()
        time.sleep(rnd.stall)
    # the last wrong code of the almost locked account, just before the primary goes.  A wrong
    # code is answered only once its count is on the synchronous standby: while replication
    # stalls it waits, and the primary is killed 6 s into that wait (the wait once ended, and
    # the code was answered "wrong", after 5 s)
    alm = Client(rnd.paths[1])
    alm_reply = []
    alm_t = threading.Thread(daemon=True, target=lambda: alm_reply.append(alm.call(
        "SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
        (almost, "pw-" + almost, "twofatoken::" + wrong_code(secrets[almost])))))
    alm_t.start()
    alm_t.join(6)
    waiting = alm_t.is_alive()
    v = alm_reply[0] if alm_reply else None
    almost_answered = v is not None and "locked" in J(v)["error"].get("details", "")
    rnd.almost_reply = ("no answer after 6 s, then the %s" % rnd.action if waiting
                        else "no answer" if v is None else "%s after %.1f s" % (
                            "a lockout" if almost_answered else "a wrong code (no lockout)", alm.exec_seconds))
    if not (rnd.stall and rnd.sync):
        check(almost_answered, "round %d: the last wrong code of %s answered as a lockout" % (rnd.no, almost),
              str(v) if v is not None else getattr(alm, "last_error", ""))
    rnd.t_action = time.time()
    if rnd.action == "kill":
        kill_node(old)
        log("killed %s (Patroni, postmaster and children, kill -9)" % old)
    else:
        # Patroni switches over to the synchronous standby only
        cand = [m["name"] for m in members() if m.get("role") == "sync_standby"]
        r = patronictl("switchover", "--leader", old, "--candidate", cand[0], "--force", "zt_ha")
        log("patronictl switchover: %s" % (r.stdout.strip().splitlines()[-1:] or r.stderr.strip()))
    if stalled and rnd.action != "kill":
        for pid in stalled:
            os.kill(pid, signal.SIGCONT)
    # the workload goes on until every path has logged in again for 10 s
    new = wait(lambda: (lambda l: l if l and l != old else None)(leader()), 120, "a new leader")

    def all_back():
        for p in rnd.paths:
            with p.lock:
                writes = [t for t, ok, k in p.calls if ok and k == "write" and t > rnd.t_action]
                logins = [t for t, ok, k in p.calls if ok and k == "login" and t > rnd.t_action]
            if not writes or not logins or time.time() - writes[0] < 8:
                return False
        return True
    try:
        wait(all_back, 120, "logins through every path")
    except RuntimeError as e:
        check(False, "round %d: logins through every path after the %s" % (rnd.no, rnd.action), str(e))
    rnd.stop.set()
    for t in threads:
        t.join()
    alm_t.join()
    alm.close()
    setup.close()
    log("new primary: %s" % new)
    jrc = stop_jdbc(*jdbc)
    with rnd.paths[2].lock:
        jlogins = [t for t, ok, k in rnd.paths[2].calls if ok and k == "login"]
    jbefore = sum(1 for t in jlogins if t <= rnd.t_action)
    check(jrc == 0 and not rnd.jdbc_crashes and jbefore > 0 and len(jlogins) > jbefore,
          "round %d: the pgjdbc clients (targetServerType=primary) logged in before the %s (%d) and after (%d)"
          % (rnd.no, rnd.action, jbefore, len(jlogins) - jbefore),
          "exit %s, %s" % (jrc, rnd.jdbc_crashes))
    return evaluate(rnd, old, new, secrets, login_users + jdbc_users, counters, locked, almost, almost_answered,
                    admin)


def evaluate(rnd, old, new, secrets, login_users, counters, locked, almost, almost_answered, admin):
    R = rnd.no
    fig = {}
    t0 = rnd.t_action
    c = su(PORT[new])
    state = {r[0]: r[1:] for r in q(
        c, "SELECT a.name, s.last_accepted_step, s.failed_attempts, s.locked_until > now(),"
           " s.secret LIKE 'zt1:%%' FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid"
           " WHERE a.name LIKE %s", ("r%d\\_%%" % R,))}
    local_user = "r%d_local" % R
    before_all = [a for a in rnd.accepted if a[3] <= t0]
    # the client that set synchronous_commit = local is counted apart
    before = [a for a in before_all if a[0] != local_user]
    # 1. replay: the new primary's last accepted step covers every code accepted before
    reopened = [a for a in before if (state[a[0]][0] or -1) < a[1]]
    # and each user's last code accepted before, sent again while still in its window
    direct = Client(rnd.paths[1])
    tried = replayed = 0
    last_by_user = {}
    for a in before_all:
        last_by_user[a[0]] = a
    local_replayed = 0
    for u, (_, s, code, _, _) in sorted(last_by_user.items()):
        if s >= now_step() - 1:
            tried += (u != local_user)
            v = direct.call("SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
                            (u, "pw-" + u, "twofatoken::" + code))
            if v is not None and reply_code(v) is None:
                if u == local_user:
                    local_replayed += 1
                else:
                    replayed += 1
    admin = admin_session(PORT[new])
    fig["accepted before"] = len(before)
    fig["of them through pgbouncer, multi-host URL, pgjdbc"] = ", ".join(
        str(sum(1 for a in before if a[4] == p.name)) for p in rnd.paths)
    if rnd.stall:
        fig["of them while replication stalled"] = sum(1 for a in before if a[0].startswith("r%d_b" % R)
                                                      or a[0].startswith("r%d_local" % R))
    fig["reopened codes (step not on the new primary)"] = len(reopened)
    fig["replayed codes (sent again in their window, accepted)"] = "%d of %d" % (replayed, tried)
    if rnd.stall and rnd.sync:
        fig["codes accepted under synchronous_commit = local, reopened (accepted again)"] = "%d of %d (%d)" % (
            sum(1 for a in rnd.local_accepted if (state[a[0]][0] or -1) < a[1]), len(rnd.local_accepted),
            local_replayed)
    # 2. wrong-code counts and lockouts
    lost_counts = 0
    for u in counters:
        acked, amb = rnd.wrong_acked.get(u, 0), rnd.wrong_ambiguous.get(u, 0)
        have = state[u][1]
        lost_counts += max(0, acked - have)
        if have > acked + amb:
            log("%s: %d counted, %d answered + %d unanswered" % (u, have, acked, amb))
    fig["wrong codes answered (counter accounts)"] = sum(rnd.wrong_acked.get(u, 0) for u in counters)
    fig["wrong codes unanswered (failed calls)"] = sum(rnd.wrong_ambiguous.get(u, 0) for u in counters)
    lockouts_lost = 0
    for u in (locked, almost):
        lost = False
        if u == almost and not almost_answered:
            fig["the almost locked account's last wrong code: answered as"] = rnd.almost_reply
            fig["  its lockout on the new primary"] = "kept" if state[u][2] else "lost"
            continue
        if not state[u][2]:
            lost = True
        # a right code is refused: locked
        v = direct.call("SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
                        (u, "pw-" + u, "twofatoken::" + totp(secrets[u], now_step())))
        if v is None or reply_code(v) != "ID.2002" or "locked" not in J(v)["error"]["details"]:
            lost = True
        lockouts_lost += lost
    fig["wrong-code counts lost"] = lost_counts
    fig["lockouts lost"] = lockouts_lost
    # 3. sessions handed out before the action still work
    dead = 0
    for sess, u, t in rnd.sessions:
        if t > t0 or u == local_user:
            continue
        v = direct.call("SELECT zstack_tfa.validate_session(%s)", (sess,))
        if v is None or J(v).get("valid") is not True:
            dead += 1
    fig["sessions handed out before"] = sum(1 for s in rnd.sessions if s[2] <= t0 and s[1] != local_user)
    fig["sessions lost"] = dead
    # 4. failed calls and time without a primary
    failed_calls = {}
    for p in rnd.paths:
        failed_calls[p.name] = sum(1 for t, ok, k in p.calls if not ok and t >= t0 - 5)
    fig["failed API calls (pgbouncer, multi-host URL, pgjdbc; 4 clients each, retrying after 0.2 s)"] = \
        ", ".join("%d" % failed_calls[p.name] for p in rnd.paths)
    fig["of them refused read-only by a replica"] = rnd.readonly_refusals
    def longest_gap(times):
        start = max([t for t in times if t <= t0], default=t0)
        times = sorted(t for t in times if t >= start)
        return max([b - a for a, b in zip(times, times[1:])] + [0.0])
    fig["seconds without a primary (probe every 0.3 s)"] = "%.1f" % longest_gap(
        [t for t, n, prim in rnd.probe if prim])
    for p in rnd.paths:
        fig["seconds without a write (%s, every 0.2 s)" % p.name] = "%.1f" % longest_gap(
            [t for t, ok, k in p.calls if ok and k == "write"])
    fig["availability sessions lost"] = rnd.avail_sessions_lost
    # 5. secrets decrypt on the new primary: fresh logins of every login user, and the admin's query
    fresh_ok = 0
    for u in login_users:
        s = max(now_step(), max([a[1] for a in rnd.accepted if a[0] == u] + [-1]) + 1)
        while s > now_step() + 1:
            time.sleep(1)
        v = direct.call("SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY[%s])",
                        (u, "pw-" + u, "twofatoken::" + totp(secrets[u], s)))
        if v is not None and reply_code(v) is None:
            fresh_ok += 1
    rows = J(q1(c, "SELECT zstack_tfa.query_two_factor_authentication_json(%s, %s)",
                         (admin, ["uuid!=null"])))
    by_user = {r["userUuid"]: r["secret"] for r in rows.get("inventories", [])}
    names = dict(q(c, "SELECT uuid::text, name FROM zstack_tfa.account WHERE name LIKE %s", ("r%d\\_%%" % R,)))
    mism = sum(1 for uu, n in names.items() if by_user.get(uu) != secrets[n])
    enc = sum(1 for v in state.values() if v[3])
    fig["secrets decrypted as enrolled (of %d)" % len(names)] = len(names) - mism
    direct.close()
    # 6. the new primary's exporter: a full count of its audit log (its scrape may move the
    # horizon, so it comes before the replicas catch up)
    full = dict(q(c, "SELECT result, count(*) FROM zstack_tfa.login_result GROUP BY result"))
    full_lockouts = q1(c, "SELECT count(*) FROM zstack_tfa.login_result WHERE lockout")
    prim = scrape(new) or {}
    logins = {k: v for k, v in prim.items() if k.startswith("zstack_tfa_logins_total{")}
    exp_ok = (prim.get("pg_exporter_last_scrape_error") == 0 and len(logins) == 8
              and all(v == full.get(k.split('result="')[1].split('"')[0], 0) for k, v in logins.items())
              and prim.get("zstack_tfa_lockouts_total") == full_lockouts)
    if not exp_ok:
        log("exporter of %s: %s; audit: %s, lockouts %s" % (new, logins, full, full_lockouts))
    theirs = dict(logins, **{k: v for k, v in prim.items() if k == "zstack_tfa_lockouts_total"})
    # 7. replicas, caught up: the same reply; a login refused cleanly (SYS.1006); their
    # exporters' figures the primary's
    lsn = q1(c, "SELECT pg_current_wal_lsn()")
    same = ro_ok = exp_same = 0
    repl = [m["name"] for m in members() if m["name"] != new and m.get("state") in ("running", "streaming")]
    body = q1(c, "SELECT zstack_tfa.query_two_factor_authentication_json(%s, %s, sort => '+createDate')",
              (admin, ["uuid!=null"]))
    for n in repl:
        try:
            with closing_su(PORT[n]) as rc:
                wait(lambda: q1(rc, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)), 30, "replay")
                b = q1(rc, "SELECT zstack_tfa.query_two_factor_authentication_json(%s, %s, sort => '+createDate')",
                       (admin, ["uuid!=null"]))
                same += (b == body)
                v = q1(rc, "SELECT zstack_tfa.log_in_by_account(%s, %s, ARRAY['twofatoken::000000'])",
                       (login_users[0], "pw-" + login_users[0]))
                ro_ok += (reply_code(v) == "SYS.1006")
        except Exception as e:
            log("replica %s: %s" % (n, e))
            continue
        f = scrape(n) or {}
        mine = {k: v for k, v in f.items() if k.startswith("zstack_tfa_logins_total{") or k == "zstack_tfa_lockouts_total"}
        same_here = f.get("pg_exporter_last_scrape_error") == 0 and mine == theirs
        exp_same += same_here
        if not same_here:
            tail = open(os.path.join(HA, "exporter_%s.log" % n), errors="replace").read().splitlines()[-5:]
            log("exporter of replica %s: %s (error %s); the primary's %s; its log: %s"
                % (n, mine, f.get("pg_exporter_last_scrape_error"), theirs, " | ".join(tail)))
    fig["exporter: logins on the new primary (ok, wrong_code, lockouts)"] = "%d, %d, %d" % (
        prim.get('zstack_tfa_logins_total{result="ok"}', -1), prim.get('zstack_tfa_logins_total{result="wrong_code"}', -1),
        prim.get("zstack_tfa_lockouts_total", -1))
    c.close()

    print("# round %d figures (%s, synchronous_mode %s):" % (R, rnd.action, "on" if rnd.sync else "off"))
    for k, v in fig.items():
        print("#   %-55s %s" % (k, v))
    FIGURES.append((rnd, fig))
    if rnd.sync:
        check(len(reopened) == 0 and replayed == 0,
              "round %d: no code accepted before the %s is accepted again (%d accepted, %d retried in window)"
              % (R, rnd.action, len(before), tried))
        check(lost_counts == 0 and lockouts_lost == 0,
              "round %d: no wrong-code count or lockout lost (%d answered wrong codes)"
              % (R, fig["wrong codes answered (counter accounts)"]))
        check(dead == 0, "round %d: every session handed out before still works (%d)"
              % (R, fig["sessions handed out before"]))
        if rnd.stall:
            # the extension raises a login's commit to synchronous_commit = on
            local_reopened = sum(1 for a in rnd.local_accepted if (state[a[0]][0] or -1) < a[1])
            check(local_reopened == 0 and local_replayed == 0,
                  "round %d: a code accepted under the client's synchronous_commit = local is not accepted again"
                  " (%d accepted)" % (R, len(rnd.local_accepted)))
    check(len(before) > 0 and fig["sessions handed out before"] > 0,
          "round %d: logins went through before the %s (%d)" % (R, rnd.action, len(before)))
    check(fresh_ok == len(login_users) and mism == 0 and enc == len(state),
          "round %d: secrets decrypt on the new primary (%d fresh logins of %d, %d of %d as enrolled, %d encrypted)"
          % (R, fresh_ok, len(login_users), len(names) - mism, len(names), enc))
    check(len(repl) >= 1 and same == len(repl) and ro_ok == len(repl),
          "round %d: %d replica(s) answer the admin's query as the primary does, and refuse a login with SYS.1006"
          % (R, same))
    check(exp_ok and exp_same == len(repl),
          "round %d: prometheus-postgres-exporter on the new primary serves a full count of its audit log,"
          " and on %d replica(s) the same figures" % (R, exp_same))
    return new


FIGURES = []


def main():
    global ADMIN_SECRET
    write_configs()
    start_etcd()
    for n in NODES:
        start_node(n)
        if n == "node1":
            wait(leader, 90, "the first leader")
    start_bouncer()
    wait(lambda: healthy(True), 120, "three nodes, one synchronous standby")
    first = leader()
    log("cluster up: leader %s; %s" % (first, patronictl("list").stdout.strip().splitlines()[-4:]))
    with closing_su(PORT[first], "postgres") as c:
        q(c, "CREATE DATABASE zstack")
    with closing_su(PORT[first]) as c:
        q(c, "CREATE EXTENSION zstack_tfa")
    psql_file(PORT[first], os.path.join(ROOT, "scripts", "sample.sql"))
    with closing_su(PORT[first]) as c:
        q(c, grant_block())
        q(c, "ALTER ROLE zstack_mgmt PASSWORD %s", (MGMTPW,))
        q(c, grant_block("monitoring"))
        q(c, "ALTER ROLE zstack_monitor PASSWORD %s", (MONPW,))
        q(c, "SET client_min_messages = warning")
        ADMIN_SECRET = J(q1(c, "SELECT zstack_tfa.get_two_factor_authentication_secret('admin', %s)",
                                     (ADMINPW,)))["inventory"]["secret"]
        check(q1(c, "SELECT count(*) FROM zstack_tfa.secret WHERE secret NOT LIKE 'zt1:%%'") == 0,
              "sample loaded on the primary (%s); every secret encrypted under the nodes' key file"
              % first)
        check(q1(c, "SHOW synchronous_commit") == "on" and q1(c, "SHOW synchronous_standby_names") != "",
              "synchronous_commit on, synchronous_standby_names %s"
              % q1(c, "SHOW synchronous_standby_names"))
    start_exporters()
    wait(lambda: (scrape_once(first) or {}).get("pg_exporter_last_scrape_error") == 0, 30, "the exporter of " + first)
    rounds = [(1, "kill", True, 0), (2, "switchover", True, 0), (3, "kill", True, 3), (4, "kill", False, 3)]
    cur = first
    for no, action, sync, stall in rounds:
        r = patronictl("edit-config", "--force", "-s", "synchronous_mode=%s" % ("true" if sync else "false"),
                       "-s", "synchronous_mode_strict=%s" % ("true" if sync else "false"), "zt_ha")
        try:
            wait(lambda: healthy(sync), 180, "a healthy cluster")
        except RuntimeError as e:
            check(False, "round %d: cluster healthy before the round" % no, "%s; %s" % (e, members()))
            break
        cur = leader()
        rnd = Round(no, action, sync, stall)
        try:
            new = run_round(rnd, cur)
        finally:
            # no client of a round outlives it, even when the round broke off
            rnd.stop.set()
        if action == "kill":
            start_node(cur)   # the old primary comes back as a replica (pg_rewind)
            log("restarted %s" % cur)
    print("# summary")
    for rnd, fig in FIGURES:
        print("# round %d (%s, synchronous_mode %s): %s" % (
            rnd.no, rnd.action, "on" if rnd.sync else "off",
            "; ".join("%s %s" % (k, v) for k, v in fig.items())))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("not ok - the run broke off: %s" % e)
        print("%d passed, %d failed" % (passed, failed + 1))
        rc = 1
    finally:
        for p in procs.values():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except Exception:
                pass
        for n in NODES:
            try:
                pm = int(open(os.path.join(HA, n, "data", "postmaster.pid")).readline())
                os.kill(pm, signal.SIGKILL)
            except Exception:
                pass
    sys.exit(rc)
