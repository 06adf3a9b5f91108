"""Integration harness: real nginx with the built module, a real
redis-server, the protocol-following upstream and a MaxMind DB built at
test time. Every process is started on an ephemeral loopback port under
a per-test prefix and is stopped at teardown, pass or fail.

Fixtures
  upstream        session: the Delta Sharing upstream (.port, .requests(),
                  .reset(), .mode(list_body=...))
  mmdb            session: path of the test MMDB (tests/tools/README.md)
  redis           function: a fresh redis-server (.port, .cli(), .stop(),
                  .start(), .pause(), .resume()); with DS_REDIS_TLS=1 it
                  listens with TLS only, and redis_conf()/dsctl() add the
                  TLS options, so the Redis tests run over TLS
  nginx           function: factory; nginx(policy=..., **conf) -> Nginx
  store           session: the object store of file proxy mode
                  (tests/upstream/ds_store.py: .put(), .url(), .requests())
  policy          helpers to write policies (see make_policy)
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import re
import shlex

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("DS_BUILD", os.path.join(REPO, "build"))
MODULE = os.environ.get("DS_MODULE", os.path.join(BUILD, "ngx_http_ds_module.so"))
DSCTL = os.environ.get("DS_DSCTL", os.path.join(BUILD, "dsctl"))
NGINX = os.environ.get("DS_NGINX", "/usr/sbin/nginx")
PYTHON = "/usr/bin/python3"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
# DS_REDIS_TLS=1: every `redis` fixture over TLS (CA made with openssl)
REDIS_TLS = os.environ.get("DS_REDIS_TLS", "") == "1"

sys.path.insert(0, HERE)

UPSTREAM_TOKEN = "upstream-secret-0123456789"
PREFIX = "/delta-sharing"

# error-log lines that fail any test: a crash, an assertion, a sanitizer
FATAL_LOG_MARKERS = ("[alert]", "[emerg]", "AddressSanitizer",
                     "runtime error:", "LeakSanitizer", "signal 11",
                     "signal 6", "exited on signal")

# Hardening knobs (scripts/sanitize.sh, scripts/valgrind.sh,
# docs/hardening.md). Unset, nginx runs exactly as before.
#   DS_NGINX_PRELOAD    LD_PRELOAD for nginx alone: the ASan/UBSan
#                       runtimes a sanitizer-built module needs inside
#                       Debian's (uninstrumented) nginx
#   DS_NGINX_SANITIZER  1: ASan/UBSan/LSan reports go to
#                       <prefix>/logs/sanitizer.<pid>; teardown scans them
#   DS_NGINX_WRAPPER    command the running nginx starts under, "{prefix}"
#                       replaced (valgrind --log-file={prefix}/logs/vg.%p)
#   DS_NGINX_SINGLE     1: master_process off (valgrind sees the worker)
#   DS_NGINX_SLOW       start/stop timeout factor (valgrind: 20)
NGINX_PRELOAD = os.environ.get("DS_NGINX_PRELOAD", "")
NGINX_SANITIZER = os.environ.get("DS_NGINX_SANITIZER", "") == "1"
NGINX_WRAPPER = os.environ.get("DS_NGINX_WRAPPER", "")
NGINX_SINGLE = os.environ.get("DS_NGINX_SINGLE", "") == "1"
NGINX_SLOW = float(os.environ.get("DS_NGINX_SLOW", "1") or 1)
#   DS_NGINX_MODULES    extra dynamic modules, ':'-separated, loaded after
#                       ours (test-only modules built against DS_NGINX's
#                       sources, tests/tools/ngx_chain_walk)
NGINX_MODULES = [m for m in os.environ.get("DS_NGINX_MODULES", "").split(":")
                 if m]


def nginx_env(prefix):
    """nginx's environment under the knobs above (os.environ otherwise).
    Workers are forked, not exec'd: they keep the preloaded runtime and
    the options the master read, whatever `env` directives say."""
    env = dict(os.environ)
    if NGINX_PRELOAD:
        env["LD_PRELOAD"] = NGINX_PRELOAD
    if NGINX_SANITIZER:
        log = os.path.join(prefix, "logs", "sanitizer")
        for var, dflt in (("ASAN_OPTIONS", "detect_leaks=1"),
                          ("UBSAN_OPTIONS", "print_stacktrace=1")):
            opts = env.get(var, dflt)
            env[var] = (opts + ":" if opts else "") + "log_path=" + log
    return env


# nginx's main() returns without freeing its 1024-byte init pool when it
# refuses a configuration: LeakSanitizer's report of exactly that (and
# nothing else) from a failed `nginx -t` is nginx's, not the module's
REFUSED_CONFIG_LEAK = re.compile(
    r"\s*=+\s*==\d+==ERROR: LeakSanitizer: detected memory leaks\s*"
    r"Direct leak of 1024 byte\(s\) in 1 object\(s\) allocated from:\s*"
    r"#0 [^\n]*posix_memalign[^\n]*\s*#1 [^\n]* in ngx_memalign [^\n]*\s*"
    r"SUMMARY: AddressSanitizer: 1024 byte\(s\) leaked in 1 allocation\(s\)"
    r"\.\s*$")


def forget_refused_config_leak(prefix, pid):
    path = os.path.join(prefix, "logs", "sanitizer.%d" % pid)
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return
    if REFUSED_CONFIG_LEAK.match(text):
        os.unlink(path)


def side_log_problems(prefix):
    """Sanitizer and valgrind reports written beside the error log."""
    bad = []
    logs = os.path.join(prefix, "logs")
    for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else ():
        path = os.path.join(logs, name)
        if name.startswith("sanitizer."):
            text = open(path, errors="replace").read()
            if text.strip():
                bad.append("%s:\n%s" % (path, text[:4000]))
        elif name.startswith("valgrind."):
            text = open(path, errors="replace").read()
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            if m is None or int(m.group(1)) > 0:
                bad.append("%s:\n%s" % (path, text[:6000]))
    return bad


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError("timed out waiting for %s" % what)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_process(p, sig=signal.SIGTERM, timeout=10):
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        p.kill()
        p.wait(timeout=5)


def sha256_hex(token):
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- upstream

class Upstream:
    def __init__(self, workdir, args=()):
        self.workdir = workdir
        self.args = list(args)
        self.port_file = os.path.join(workdir, "upstream.port")
        self.log_file = os.path.join(workdir, "upstream.log")
        self.proc = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(REPO, "tests", "upstream", "ds_upstream.py"),
             "--host", "127.0.0.1", "--port", "0", "--prefix", PREFIX,
             "--token", UPSTREAM_TOKEN, "--port-file", self.port_file,
             "--log-file", self.log_file] + self.args,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.workdir, "upstream.err"), "w"))
        wait_for(lambda: os.path.exists(self.port_file), what="upstream port")
        self.port = int(open(self.port_file).read().strip())
        wait_for(lambda: port_open(self.port), what="upstream listening")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def requests(self):
        """What reached the upstream since the last reset()."""
        return requests.get(self.url("/_upstream/requests"), timeout=5).json()

    def reset(self):
        requests.post(self.url("/_upstream/reset"), timeout=5)

    def mode(self, **kw):
        requests.post(self.url("/_upstream/mode"), json=kw, timeout=5)

    def stop(self):
        stop_process(self.proc)


@pytest.fixture(scope="session")
def upstream(tmp_path_factory):
    u = Upstream(str(tmp_path_factory.mktemp("upstream")))
    u.start()
    yield u
    u.stop()


@pytest.fixture(autouse=True)
def _reset_upstream(request):
    # a test that uses the upstream starts from a clean request log
    if "upstream" in request.fixturenames:
        u = request.getfixturevalue("upstream")
        u.reset()
        u.mode(list_body="normal")
    yield


# ------------------------------------------------------------------- store

class Store:
    """tests/upstream/ds_store.py on loopback: objects under .dir."""

    key = "store-signing-key-not-a-secret"

    def __init__(self, workdir):
        self.workdir = workdir
        self.dir = os.path.join(workdir, "objects")
        self.port_file = os.path.join(workdir, "store.port")
        self.log_file = os.path.join(workdir, "store.log")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(REPO, "tests", "upstream", "ds_store.py"),
             "--dir", self.dir, "--key", self.key, "--port-file",
             self.port_file, "--log-file", self.log_file, "--generate",
             "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(workdir, "store.err"), "w"))
        wait_for(lambda: os.path.exists(self.port_file), what="store port")
        self.port = int(open(self.port_file).read().strip())
        self.base = "http://127.0.0.1:%d" % self.port
        wait_for(lambda: port_open(self.port), what="store listening")

    def put(self, key, data):
        path = os.path.join(self.dir, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def url(self, path, ttl=3600, expires=None):
        """A pre-signed URL of a raw path ("/k/part-0.parquet")."""
        sys.path.insert(0, os.path.join(REPO, "tests", "upstream"))
        import ds_store
        exp = expires if expires is not None else int(time.time()) + ttl
        return ds_store.signed_url(self.base, self.key, path, exp)

    def requests(self):
        """Every request the store received, oldest first."""
        if not os.path.exists(self.log_file):
            return []
        with open(self.log_file) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        stop_process(self.proc)


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    s = Store(str(tmp_path_factory.mktemp("store")))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def store_upstream(tmp_path_factory, store):
    """A second upstream whose file URLs are the store's pre-signed ones
    (nginx(upstream_port=store_upstream.port) proxies to it)."""
    u = Upstream(str(tmp_path_factory.mktemp("store-upstream")),
                 ["--store-url", store.base, "--store-key", store.key])
    u.start()
    yield u
    u.stop()


# -------------------------------------------------------------------- mmdb

@pytest.fixture(scope="session")
def mmdb(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mmdb") / "test-country.mmdb")
    subprocess.run(["perl", os.path.join(REPO, "tests", "tools", "make_mmdb.pl"),
                    out], check=True)
    return out


# ------------------------------------------------------------------- redis

_redis_pki = []


def redis_tls_pki():
    """DS_REDIS_TLS: a CA and a certificate for 127.0.0.1, made once."""
    if not _redis_pki:
        import tempfile
        d = tempfile.mkdtemp(prefix="ds-redis-pki-")

        def ossl(*a):
            subprocess.run(["openssl"] + list(a), cwd=d, check=True,
                           capture_output=True, timeout=60)
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=t")
        with open(os.path.join(d, "srv.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key",
             "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
        ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey",
             "ca.key", "-CAcreateserial", "-out", "srv.crt", "-days", "2",
             "-extfile", "srv.ext")
        _redis_pki.append(d)
    return _redis_pki[0]


def redis_tls_params():
    """What ds_redis needs after the address in DS_REDIS_TLS mode."""
    if not REDIS_TLS:
        return ""
    return " tls ca=%s" % os.path.join(redis_tls_pki(), "ca.crt")


class Redis:
    def __init__(self, workdir, port=None):
        self.workdir = workdir
        self.port = port or free_port()
        self.proc = None
        self.paused = False

    def args(self):
        """redis-server's command line; subclasses add to it."""
        if REDIS_TLS:
            d = redis_tls_pki()
            listen = ["--port", "0", "--tls-port", str(self.port),
                      "--tls-cert-file", os.path.join(d, "srv.crt"),
                      "--tls-key-file", os.path.join(d, "srv.key"),
                      "--tls-ca-cert-file", os.path.join(d, "ca.crt"),
                      "--tls-auth-clients", "no"]
        else:
            listen = ["--port", str(self.port)]
        return [REDIS_SERVER] + listen + [
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", self.workdir,
            "--logfile", os.path.join(self.workdir, "redis.log")]

    def start(self):
        self.proc = subprocess.Popen(
            self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.ping(), what="redis on %d" % self.port)

    def ping(self):
        try:
            return self.cli("PING") == "PONG"
        except Exception:
            return False

    def cli_argv(self):
        """redis-cli reaching this server (over TLS if it is)."""
        tls = ["--tls", "--cacert", os.path.join(redis_tls_pki(), "ca.crt")] \
            if REDIS_TLS else []
        return [REDIS_CLI, "-p", str(self.port)] + tls

    def cli(self, *args):
        r = subprocess.run(self.cli_argv() + list(args),
                           capture_output=True, text=True, timeout=5)
        return r.stdout.strip()

    def pause(self):
        """The process keeps its socket but never answers."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self):
        if self.paused:
            self.resume()
        stop_process(self.proc, signal.SIGKILL)
        self.proc = None


@pytest.fixture
def redis(tmp_path):
    d = tmp_path / "redis"
    d.mkdir()
    r = Redis(str(d))
    r.start()
    yield r
    r.stop()


# ------------------------------------------------------------------ policy

# tokens used across tests; the policy holds only their digests
TOKENS = {
    "fraud": "dst_fraud_analytics_token_000000000000000000000001",
    "fraud2": "dst_fraud_analytics_token_000000000000000000000002",
    "dist": "dst_distribution_partner_token_00000000000000000001",
    "expired": "dst_expired_token_0000000000000000000000000000001",
    "suspended": "dst_suspended_recipient_token_000000000000000001",
}


def iso(ts):
    """Epoch seconds -> RFC 3339 UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def make_policy(recipients=None):
    """A policy dict in the ngx_ds format (policies/ds-policy.schema.json).
    With no arguments: a fraud-analytics vendor entitled to `claims`
    (all schemas, read operations, purposes FRAUD/HPAYMT) and a
    distribution partner entitled to `provider_directory`."""
    now = time.time()
    if recipients is None:
        recipients = [
            {
                "id": "fraud-analytics",
                "display_name": "Acme Fraud Analytics",
                "status": "active",
                "contract": {"id": "DSA-1", "valid_from": iso(now - 86400),
                             "valid_until": iso(now + 86400 * 365)},
                "tokens": [
                    {"id": "fa-1", "sha256": sha256_hex(TOKENS["fraud"])},
                    {"id": "fa-expired", "sha256": sha256_hex(TOKENS["expired"]),
                     "expires": iso(now - 3600)},
                ],
                "grants": [{"share": "claims", "schema": "*", "table": "*",
                            "operations": ["read"]}],
            },
            {
                "id": "distribution-partner",
                "status": "active",
                "tokens": [{"id": "dp-1", "sha256": sha256_hex(TOKENS["dist"])}],
                "grants": [{"share": "provider_directory", "schema": "*",
                            "table": "*", "operations": ["read"]}],
            },
            {
                "id": "suspended-co",
                "status": "suspended",
                "tokens": [{"id": "sc-1",
                            "sha256": sha256_hex(TOKENS["suspended"])}],
                "grants": [{"share": "claims", "schema": "*", "table": "*"}],
            },
        ]
    return {"version": 1, "recipients": recipients}


def write_policy(path, policy):
    with open(path, "w") as f:
        json.dump(policy, f, indent=2)
    return str(path)


# ------------------------------------------------------------------- nginx

class Nginx:
    """One nginx master (daemon off) with its own prefix directory."""

    def __init__(self, prefix, conf_text, workers=1):
        self.prefix = prefix
        self.conf = os.path.join(prefix, "conf", "nginx.conf")
        self.error_log = os.path.join(prefix, "logs", "error.log")
        self.proc = None
        os.makedirs(os.path.dirname(self.conf), exist_ok=True)
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(prefix, "temp", d), exist_ok=True)
        self.write_conf(conf_text)

    def write_conf(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def cmd(self, *args):
        return [NGINX, "-p", self.prefix + "/", "-c", self.conf,
                "-e", self.error_log] + list(args)

    def test_config(self):
        """`nginx -t`: (returncode, combined output)."""
        p = subprocess.Popen(self.cmd("-t"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             env=nginx_env(self.prefix))
        out, _ = p.communicate()
        if p.returncode != 0:
            forget_refused_config_leak(self.prefix, p.pid)
        return p.returncode, out

    def start(self):
        rc, out = self.test_config()
        if rc != 0:
            raise RuntimeError("nginx -t failed:\n" + out)
        wrapper = shlex.split(NGINX_WRAPPER.replace("{prefix}", self.prefix))
        self.proc = subprocess.Popen(wrapper + self.cmd(),
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(
                                         self.prefix, "logs", "stderr.log"), "w"),
                                     env=nginx_env(self.prefix))
        wait_for(lambda: port_open(self.port), timeout=10 * NGINX_SLOW,
                 what="nginx on %d" % self.port)
        wait_for(lambda: len(self.worker_pids()) > 0, what="nginx workers")

    def worker_pids(self):
        if self.proc is None:
            return []
        if NGINX_SINGLE:
            # master_process off: the one process serves
            return [self.proc.pid] if self.proc.poll() is None else []
        r = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                           capture_output=True, text=True)
        return [int(x) for x in r.stdout.split()]

    def reload(self, timeout=10):
        """SIGHUP and wait until the old workers are gone. Returns True
        if the new configuration was taken, False if nginx refused it."""
        old = set(self.worker_pids())
        mark = self.log_size()
        self.proc.send_signal(signal.SIGHUP)

        def settled():
            log = self.log_since(mark)
            if "[emerg]" in log:
                return "refused"
            new = set(self.worker_pids())
            if new and not (new & old):
                return "taken"
            return None
        return wait_for(settled, timeout=timeout, what="reload") == "taken"

    def reopen(self):
        self.proc.send_signal(signal.SIGUSR1)

    def log_size(self):
        try:
            return os.path.getsize(self.error_log)
        except OSError:
            return 0

    def log_since(self, offset=0):
        try:
            with open(self.error_log, errors="replace") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return ""

    def fatal_log_lines(self, allow=()):
        bad = []
        for line in self.log_since(0).splitlines():
            if any(m in line for m in FATAL_LOG_MARKERS):
                if not any(a in line for a in allow):
                    bad.append(line)
        return bad + side_log_problems(self.prefix)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        if NGINX_SINGLE and self.proc is not None and self.proc.poll() is None:
            # one process: a SIGQUIT that lands just before epoll_wait()
            # (likely under valgrind, which delivers signals late) leaves
            # it asleep with no timer; a connection wakes it to notice.
            # Unlike a worker, it exits at once without finishing open
            # connections (a lingering close, whose request is logged at
            # its end): give the last request a moment first
            time.sleep(0.5)
            self.proc.send_signal(signal.SIGQUIT)
            deadline = time.monotonic() + 10 * NGINX_SLOW
            while self.proc.poll() is None and time.monotonic() < deadline:
                port_open(self.port)
                try:
                    self.proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        stop_process(self.proc, signal.SIGQUIT, timeout=10 * NGINX_SLOW)


BASE_CONF = """\
{user}
daemon off;
{single}
worker_processes {workers};
load_module {module};
{extra_modules}
error_log {prefix}/logs/error.log {log_level};
pid {prefix}/logs/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    {policy_line}
{http_extra}
    server {{
        listen 127.0.0.1:{port};
{server_extra}
        location {location_prefix}/ {{
            ds_enforce on;
            ds_prefix {location_prefix};
            proxy_set_header Authorization "Bearer {upstream_token}";
            proxy_pass http://127.0.0.1:{upstream_port};
{location_extra}
        }}
        location = /plain {{
            return 200 "plain\\n";
        }}
    }}
}}
"""


def render_conf(prefix, port, upstream_port, policy_path=None, workers=1,
                http_extra="", server_extra="", location_extra="",
                log_level="info", location_prefix=PREFIX):
    return BASE_CONF.format(
        user="user root;" if os.geteuid() == 0 else "",
        single="master_process off;" if NGINX_SINGLE else "",
        workers=workers, module=MODULE, prefix=prefix, log_level=log_level,
        extra_modules="".join("load_module %s;\n" % m for m in NGINX_MODULES),
        policy_line=("ds_policy %s;" % policy_path) if policy_path else "",
        http_extra=http_extra, server_extra=server_extra,
        location_extra=location_extra, port=port,
        upstream_port=upstream_port, upstream_token=UPSTREAM_TOKEN,
        location_prefix=location_prefix)


@pytest.fixture
def nginx(tmp_path, upstream, request):
    """Factory: nginx(policy=dict|None, policy_path=..., http_extra=...,
    location_extra=..., workers=1, start=True) -> started Nginx.
    Teardown stops every instance and fails the test on a crash or
    sanitizer line in the error log."""
    instances = []

    def factory(policy=None, policy_path=None, start=True, **kw):
        n = len(instances)
        prefix = str(tmp_path / ("nginx%d" % n))
        os.makedirs(prefix, exist_ok=True)
        if policy_path is None:
            policy_path = write_policy(os.path.join(prefix, "policy.json"),
                                       policy if policy is not None
                                       else make_policy())
        port = free_port()
        up = kw.pop("upstream_port", upstream.port)
        conf = render_conf(prefix, port, up, policy_path, **kw)
        ng = Nginx(prefix, conf)
        ng.port = port
        ng.policy_path = policy_path
        ng.render = lambda **k: render_conf(prefix, port, up,
                                            k.pop("policy_path", policy_path), **k)
        instances.append(ng)
        if start:
            ng.start()
        return ng

    yield factory

    problems = []
    for ng in instances:
        ng.stop()
        problems += ng.fatal_log_lines(allow=getattr(request.node, "allow_log", ()))
    if problems:
        pytest.fail("nginx error log has fatal lines:\n" + "\n".join(problems[:20]))


def bearer(name_or_token):
    tok = TOKENS.get(name_or_token, name_or_token)
    return {"Authorization": "Bearer " + tok}


def dsctl(*args, input=None):
    args = list(args)
    # DS_REDIS_TLS: dsctl reaches the TLS Redis as the gateway does
    if REDIS_TLS and "--redis" in args and "--tls" not in args \
            and "--ca" not in args \
            and not any(a.startswith("unix:") for a in args):
        args += ["--tls", "--ca", os.path.join(redis_tls_pki(), "ca.crt")]
    return subprocess.run([DSCTL] + args, capture_output=True,
                          text=True, input=input, timeout=60)
