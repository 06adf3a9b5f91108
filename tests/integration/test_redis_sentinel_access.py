"""Sentinel leftovers (issue #16): host names in `sentinel=` (through
nginx's resolver), AUTH to the sentinels (`sentinel_username=`,
`sentinel_password_file=`) and TLS to them (`sentinel_tls`, with the
`tls` settings). One primary and one redis-sentinel (quorum 1) on
loopback are enough to discover a primary; failover itself is
test_redis_sentinel.py's. No timing assertions."""

import os
import signal
import subprocess

import pytest

from conftest import REDIS_TLS, Redis, dsctl, free_port, stop_process, \
    wait_for
from test_ratelimit import get, limited_policy
from test_redis_resolve import Dns
from test_redis_sentinel import MASTER, SENTINEL, Replica
from test_redis_tls import TlsRedis, make_cert, pki  # noqa: F401

LIMIT = {"requests": 2, "per": "minute"}
PASSWORD = "s3ntinel-secret"

plain_only = pytest.mark.skipif(REDIS_TLS, reason="DS_REDIS_TLS: these "
                                "tests choose their own transport")


class OneSentinel:
    """A redis-sentinel monitoring the primary on primary_port, with
    requirepass (and an ACL user) or TLS if asked."""

    def __init__(self, workdir, primary_port, password=None, user=None,
                 pki=None, tls=True, cert="server"):
        """pki: the primary is TLS (tls-replication); tls: and so is
        this sentinel's own port, with cert."""
        self.workdir = workdir
        self.port = free_port()
        self.password = password
        self.user = user
        self.pki = pki
        self.tls = pki and tls
        conf = os.path.join(workdir, "sentinel.conf")
        lines = ["bind 127.0.0.1", "dir %s" % workdir,
                 "logfile %s" % os.path.join(workdir, "sentinel.log"),
                 "sentinel monitor %s 127.0.0.1 %d 1" % (MASTER,
                                                         primary_port),
                 "sentinel down-after-milliseconds %s 5000" % MASTER]
        if pki:
            p = lambda n: os.path.join(pki, n)
            lines += ["tls-cert-file " + p(cert + ".crt"),
                      "tls-key-file " + p(cert + ".key"),
                      "tls-ca-cert-file " + p("ca.crt"),
                      "tls-auth-clients no", "tls-replication yes"]
        if self.tls:
            lines += ["port 0", "tls-port %d" % self.port]
        else:
            lines.append("port %d" % self.port)
        if password:
            lines.append("requirepass %s" % password)
        if user:
            # its own password: AUTH PASSWORD alone (default) fails
            lines.append("user %s on >%s-%s resetchannels "
                         "&+switch-master -@all +auth +subscribe "
                         "+sentinel|get-master-addr-by-name"
                         % (user, user, password))
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([SENTINEL, conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: self.master_port() == primary_port,
                 what="sentinel on %d" % self.port)

    def cli(self, *args):
        argv = ["redis-cli", "-p", str(self.port)]
        if self.tls:
            argv += ["--tls", "--insecure"]
        if self.password:
            argv += ["-a", self.password, "--no-auth-warning"]
        r = subprocess.run(argv + list(args), capture_output=True,
                           text=True, timeout=5)
        return r.stdout.strip()

    def master_port(self):
        out = self.cli("SENTINEL", "get-master-addr-by-name", MASTER).split()
        return int(out[1]) if len(out) == 2 else None

    def stop(self):
        stop_process(self.proc, signal.SIGKILL)


@pytest.fixture
def primary(tmp_path):
    d = tmp_path / "primary"
    d.mkdir()
    r = Redis(str(d))
    r.start()
    yield r
    r.stop()


@pytest.fixture
def sentinel(tmp_path):
    started = []

    def factory(primary_port, **kw):
        d = tmp_path / ("sentinel%d" % len(started))
        d.mkdir()
        s = OneSentinel(str(d), primary_port, **kw)
        started.append(s)
        return s

    yield factory
    for s in started:
        s.stop()


@pytest.fixture
def tls_primary(tmp_path, pki):
    d = tmp_path / "tlsprimary"
    d.mkdir()
    r = TlsRedis(str(d), pki)
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def rogue(pki):
    """a sentinel certificate from a CA the gateway does not trust"""
    make_cert(pki, "other-ca", "rogue", "IP:127.0.0.1,DNS:sentinel.test")
    return "rogue"


@pytest.fixture
def dns():
    d = Dns()
    yield d
    d.close()


def conf(addrs, extra="", resolver=None):
    lines = []
    if resolver:
        lines.append("resolver 127.0.0.1:%d ipv6=off valid=1s;" % resolver)
    lines += ["ds_redis sentinel=%s master=%s%s;" % (addrs, MASTER, extra),
              "ds_redis_connect_timeout 500ms;",
              "add_header X-DS-RateLimit $ds_ratelimit always;"]
    return "\n".join("    " + l for l in lines)


def exact(ng):
    """The limit of 2 a minute, counted on the discovered primary."""
    wait_for(lambda: get(ng, who="dist").headers.get("X-DS-RateLimit")
             != "unavailable", timeout=30, what="a primary")
    assert [get(ng).status_code for _ in range(3)] == [200, 200, 429]


def write_password(tmp_path, name, secret):
    p = tmp_path / name
    p.write_text(secret + "\n")
    return str(p)


# 1. host names in sentinel=

@plain_only
def test_sentinel_host_name_through_the_resolver(nginx, primary, sentinel,
                                                 dns):
    s = sentinel(primary.port)
    dns.records["sentinel-a.test"] = "127.0.0.1"
    # a name nobody knows first: skipped (said), the next one answers
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "nope.test:%d,sentinel-a.test:%d" % (free_port(), s.port),
        resolver=dns.port))
    exact(ng)
    assert ("sentinel-a.test", 1) in dns.queries
    log = ng.log_since(0)
    assert "cannot resolve sentinel nope.test:" in log, log
    assert ('sentinel sentinel-a.test:%d: primary of "%s" is 127.0.0.1:%d'
            % (s.port, MASTER, primary.port)) in log, log


def test_sentinel_host_name_needs_a_resolver(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False, http_extra=conf("sentinel.example:26379"))
    rc, out = ng.test_config()
    assert rc != 0
    assert "needs a \"resolver\"" in out, out


def test_sentinel_host_name_config_ok(nginx):
    ng = nginx(start=False, http_extra=conf(
        "sentinel.example:26379,127.0.0.1:26380,[::1]:26381",
        resolver=free_port()))
    rc, out = ng.test_config()
    assert rc == 0, out


# 2. AUTH to the sentinels

@plain_only
def test_sentinel_requirepass(nginx, primary, sentinel, tmp_path):
    s = sentinel(primary.port, password=PASSWORD)
    pw = write_password(tmp_path, "sentinel.pw", PASSWORD)
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "127.0.0.1:%d" % s.port, " sentinel_password_file=%s" % pw))
    exact(ng)
    assert PASSWORD not in ng.log_since(0)


@plain_only
def test_sentinel_acl_user(nginx, primary, sentinel, tmp_path):
    s = sentinel(primary.port, password=PASSWORD, user="gw")
    pw = write_password(tmp_path, "sentinel.pw", "gw-" + PASSWORD)
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "127.0.0.1:%d" % s.port,
        " sentinel_username=gw sentinel_password_file=%s" % pw))
    exact(ng)
    # the documented ACL is enough for the +switch-master watch too
    wait_for(lambda: "watching sentinel 127.0.0.1:%d" % s.port
             in ng.log_since(0), timeout=10, what="the watch")


@plain_only
@pytest.mark.parametrize("secret,expect", [
    (None, "sentinel 127.0.0.1:%d refused: NOAUTH"),
    ("not-the-s3cret", "sentinel 127.0.0.1:%d refused AUTH: WRONGPASS"),
])
def test_sentinel_auth_refused_fails_closed(nginx, primary, sentinel,
                                            tmp_path, secret, expect):
    s = sentinel(primary.port, password=PASSWORD)
    extra = ""
    if secret:
        extra = " sentinel_password_file=%s" % write_password(
            tmp_path, "wrong.pw", secret)
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "127.0.0.1:%d" % s.port, extra))
    # a slow first round (valgrind) logs the next one 10 s later
    wait_for(lambda: (expect % s.port) in ng.log_since(0), timeout=30,
             what="the refusal in the log")
    r = get(ng, timeout=5)
    assert (r.status_code, r.headers["X-DS-RateLimit"]) \
        == (503, "unavailable")
    # rate-limited as the other sentinel lines, the secret never logged
    log = ng.log_since(0)
    assert log.count(expect % s.port) <= 2, log
    assert secret is None or secret not in log


@pytest.mark.parametrize("params,message", [
    ("127.0.0.1:6379 sentinel_tls", "go with sentinel="),
    ("127.0.0.1:6379 sentinel_username=u", "go with sentinel="),
    ("sentinel=127.0.0.1:26379 master=m sentinel_username=u",
     "sentinel_username=u needs sentinel_password_file="),
    ("sentinel=127.0.0.1:26379 master=m sentinel_username=",
     "sentinel_username= takes 1 to 256"),
    ("sentinel=127.0.0.1:26379 master=m sentinel_tls",
     "sentinel_tls needs \"tls\""),
    ("sentinel=127.0.0.1:26379 master=m sentinel_password_file=/nonexistent",
     "cannot open password_file"),
    ("sentinel=host_:x master=m", "is not HOST:PORT"),
])
def test_config_errors(nginx, params, message, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False, http_extra="    ds_redis %s;" % params)
    rc, out = ng.test_config()
    assert rc != 0
    assert message in out, out


# 3. TLS to the sentinels

def tls(pki, extra=""):
    return " tls ca=%s/ca.crt%s" % (pki, extra)


def test_sentinel_tls(nginx, tls_primary, sentinel, pki, tmp_path):
    s = sentinel(tls_primary.port, pki=pki, password=PASSWORD)
    pw = write_password(tmp_path, "sentinel.pw", PASSWORD)
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "127.0.0.1:%d" % s.port,
        tls(pki, " sentinel_tls sentinel_password_file=%s" % pw)))
    exact(ng)


def test_plaintext_sentinel_tls_primary(nginx, tls_primary, sentinel, pki):
    # tls is the primary's; the sentinels are plaintext without
    # sentinel_tls
    s = sentinel(tls_primary.port, pki=pki, tls=False)
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "127.0.0.1:%d" % s.port, tls(pki)))
    exact(ng)


def test_sentinel_tls_name_checked(nginx, tls_primary, sentinel, pki, dns):
    # the certificate names redis.test: a sentinel reached as redis.test
    # passes, as other.test it is refused (the name, not the address)
    s = sentinel(tls_primary.port, pki=pki)
    dns.records["redis.test"] = "127.0.0.1"
    dns.records["other.test"] = "127.0.0.1"
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "other.test:%d,redis.test:%d" % (s.port, s.port),
        tls(pki, " sentinel_tls"), resolver=dns.port))
    exact(ng)
    assert ('TLS certificate of other.test:%d does not match server_name '
            '"other.test"' % s.port) in ng.log_since(0)


def test_sentinel_wrong_ca_refused(nginx, tls_primary, sentinel, pki,
                                   rogue):
    s = sentinel(tls_primary.port, pki=pki, cert=rogue)
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "127.0.0.1:%d" % s.port, tls(pki, " sentinel_tls")))
    line = "TLS certificate of 127.0.0.1:%d refused" % s.port
    wait_for(lambda: line in ng.log_since(0), timeout=30,
             what="the refusal in the log")
    # the failure mode, answered at once, and no line per attempt
    for _ in range(20):
        r = get(ng, timeout=5)
        assert (r.status_code, r.headers["X-DS-RateLimit"]) \
            == (503, "unavailable")
    assert ng.log_since(0).count(line) <= 2
    assert 'no sentinel told the address of master "%s"' % MASTER \
        in ng.log_since(0)


def test_plaintext_to_a_tls_sentinel_fails_closed(nginx, tls_primary,
                                                  sentinel, pki):
    # without sentinel_tls the TLS port gets plaintext: no answer
    s = sentinel(tls_primary.port, pki=pki)
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "127.0.0.1:%d" % s.port, tls(pki)))
    wait_for(lambda: "sentinel 127.0.0.1:%d" % s.port in ng.log_since(0),
             timeout=10, what="the failure in the log")
    r = get(ng, timeout=5)
    assert (r.status_code, r.headers["X-DS-RateLimit"]) \
        == (503, "unavailable")


TOKENS_KEY = "ds:{fraud-analytics}:revoked_tokens"


# dsctl, the same ways

@plain_only
def test_dsctl_sentinel_auth(primary, sentinel, tmp_path):
    s = sentinel(primary.port, password=PASSWORD, user="gw")
    good = write_password(tmp_path, "gw.pw", "gw-" + PASSWORD)
    r = dsctl("revoke", "token", "fa-1", "--recipient", "fraud-analytics",
              "--sentinel",
              "127.0.0.1:%d" % s.port, "--master", MASTER,
              "--sentinel-username", "gw", "--sentinel-password-file", good)
    assert r.returncode == 0, r.stderr
    assert primary.cli("SISMEMBER", TOKENS_KEY, "fa-1") == "1"

    # no AUTH, or the wrong password: no answer, said, non-zero
    r = dsctl("revoke", "token", "fa-2", "--recipient", "fraud-analytics",
              "--sentinel",
              "127.0.0.1:%d" % s.port, "--master", MASTER)
    assert r.returncode != 0
    assert "NOAUTH" in r.stderr, r.stderr
    bad = write_password(tmp_path, "bad.pw", "not-the-s3cret")
    r = dsctl("revoke", "token", "fa-2", "--recipient", "fraud-analytics",
              "--sentinel",
              "127.0.0.1:%d" % s.port, "--master", MASTER,
              "--sentinel-password-file", bad)
    assert r.returncode != 0
    assert "AUTH to the sentinel failed: WRONGPASS" in r.stderr, r.stderr
    assert "not-the-s3cret" not in r.stderr
    assert primary.cli("SISMEMBER", TOKENS_KEY, "fa-2") == "0"


@plain_only
def test_dsctl_sentinel_host_name(primary, sentinel):
    # dsctl resolves with the system resolver: localhost is there
    s = sentinel(primary.port)
    r = dsctl("revoke", "token", "fa-3", "--recipient", "fraud-analytics",
              "--sentinel",
              "localhost:%d" % s.port, "--master", MASTER)
    assert r.returncode == 0, r.stderr
    assert primary.cli("SISMEMBER", TOKENS_KEY, "fa-3") == "1"


def test_dsctl_sentinel_tls(tls_primary, sentinel, pki, rogue):
    s = sentinel(tls_primary.port, pki=pki)
    ca = ["--tls", "--ca", os.path.join(pki, "ca.crt")]
    r = dsctl("revoke", "token", "fa-4", "--recipient", "fraud-analytics",
              "--sentinel",
              "127.0.0.1:%d" % s.port, "--master", MASTER, "--sentinel-tls",
              *ca)
    assert r.returncode == 0, r.stderr
    assert tls_primary.cli("SISMEMBER", TOKENS_KEY, "fa-4") == "1"

    # plaintext to the TLS port: no answer
    r = dsctl("revoke", "token", "fa-5", "--recipient", "fraud-analytics",
              "--sentinel",
              "127.0.0.1:%d" % s.port, "--master", MASTER, *ca)
    assert r.returncode != 0
    assert "no sentinel told" in r.stderr

    # a sentinel whose certificate another CA signed: refused
    bad = sentinel(tls_primary.port, pki=pki, cert=rogue)
    r = dsctl("revoke", "token", "fa-5", "--recipient", "fraud-analytics",
              "--sentinel",
              "127.0.0.1:%d" % bad.port, "--master", MASTER,
              "--sentinel-tls", *ca)
    assert r.returncode != 0
    assert "TLS certificate of 127.0.0.1:%d refused" % bad.port in r.stderr
    assert tls_primary.cli("SISMEMBER", TOKENS_KEY, "fa-5") == "0"


@pytest.mark.parametrize("args,message", [
    (["--redis", "127.0.0.1:1", "--sentinel-tls"], "go with --sentinel"),
    (["--redis", "127.0.0.1:1", "--sentinel-username", "u"],
     "go with --sentinel"),
    (["--sentinel", "127.0.0.1:1", "--master", "m", "--sentinel-tls"],
     "--sentinel-tls needs --tls"),
    (["--sentinel", "127.0.0.1:1", "--master", "m", "--sentinel-username",
      "u"], "--sentinel-username needs a name and --sentinel-password-file"),
])
def test_dsctl_usage(args, message):
    r = dsctl("revoke", "token", "fa-1", "--recipient", "fraud-analytics",
              *args)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


# 4. +switch-master: the limiter follows a failover the sentinels
# announce, before the old primary is demoted or lost

@plain_only
def test_switch_master_followed_without_killing(nginx, primary, sentinel,
                                                tmp_path):
    d = tmp_path / "replica"
    d.mkdir()
    replica = Replica(str(d), primary.port)
    replica.start()
    try:
        wait_for(lambda: "master_link_status:up"
                 in replica.cli("INFO", "replication"),
                 timeout=15, what="the replica to sync")
        s = sentinel(primary.port)
        wait_for(lambda: "num-slaves\n1" in s.cli("SENTINEL", "master",
                                                  MASTER),
                 timeout=30, what="the sentinel to find the replica")
        ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
            "127.0.0.1:%d" % s.port))
        exact(ng)
        wait_for(lambda: "watching sentinel 127.0.0.1:%d for +switch-master"
                 % s.port in ng.log_since(0), timeout=10,
                 what="the subscription")
        mark = ng.log_size()

        # NOGOODSLAVE until the sentinel has fresh INFO from the replica
        wait_for(lambda: s.cli("SENTINEL", "FAILOVER", MASTER) == "OK",
                 timeout=30, interval=0.5, what="SENTINEL FAILOVER")
        switch = ("+switch-master %s 127.0.0.1 %d 127.0.0.1 %d"
                  % (MASTER, primary.port, replica.port))
        wait_for(lambda: switch in ng.log_since(mark), timeout=30,
                 what="+switch-master in the gateway's log")
        moved = ('primary of "%s" is 127.0.0.1:%d, was 127.0.0.1:%d'
                 % (MASTER, replica.port, primary.port))
        wait_for(lambda: moved in ng.log_since(mark), timeout=10,
                 what="the gateway on the new primary")

        # exact on the new primary, from a clean slate; the old one was
        # never killed and never had to answer -READONLY
        assert replica.cli("FLUSHALL") == "OK"
        exact(ng)
        assert replica.cli("KEYS", "ds:*") != ""
        log = ng.log_since(mark)
        assert "answered -READONLY" not in log, log
        assert "the sentinels switched the primary from" in log, log
    finally:
        replica.stop()


@plain_only
def test_watch_does_not_hold_a_reload(nginx, primary, sentinel):
    # the watch is idle to nginx: the old worker exits at a reload
    s = sentinel(primary.port)
    ng = nginx(policy=limited_policy(LIMIT), http_extra=conf(
        "127.0.0.1:%d" % s.port))
    exact(ng)
    line = "watching sentinel 127.0.0.1:%d for +switch-master" % s.port
    wait_for(lambda: line in ng.log_since(0), timeout=10, what="the watch")
    mark = ng.log_size()
    assert ng.reload()
    wait_for(lambda: line in ng.log_since(mark), timeout=10,
             what="the new worker's watch")
    # the new worker counts on the same primary: still limited
    wait_for(lambda: get(ng).headers["X-DS-RateLimit"] == "limited",
             timeout=10, what="the new worker on the primary")
