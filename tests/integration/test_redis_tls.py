"""TLS to Redis (issue #16) with nginx's own TLS on the nginx-driven
connection: `ds_redis ADDR tls ca=FILE [cert=FILE key=FILE]
[server_name=NAME] [verify=on|off]`, verification on by default.

A CA, server and client certificates are made at test time with the
openssl command; redis-server listens with --tls-port only. Exact limits
and revocation over TLS; a wrong CA, an expired certificate and a name
mismatch are refused (failure mode + an error line saying why); client
certificates when Redis requires them; SNI carries server_name."""

import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import (REDIS_CLI, REDIS_SERVER, Redis, dsctl, free_port,
                      wait_for)
from test_ratelimit import get, limited_policy

DAYS = "30"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            name + ".key", "-out", name + ".crt", "-days", DAYS, "-subj",
            "/CN=" + name, cwd=d)


def make_cert(d, ca, name, san, expired=False, client=False):
    """name.key/name.crt signed by ca, subjectAltName san."""
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
        f.write("extendedKeyUsage=%s\n"
                % ("clientAuth" if client else "serverAuth"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    if not expired:
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt",
                "-CAkey", ca + ".key", "-CAcreateserial", "-out",
                name + ".crt", "-days", DAYS, "-extfile", ext, cwd=d)
        return
    # `openssl ca` is the way to give fixed dates (valid in 2020 only)
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndir=%s\ndatabase=$dir/index.txt\n"
                "new_certs_dir=$dir\nserial=$dir/serial\ndefault_md=sha256\n"
                "policy=p\nunique_subject=no\n[p]\ncommonName=supplied\n"
                % d)
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    openssl("ca", "-batch", "-config", cnf, "-cert", ca + ".crt", "-keyfile",
            ca + ".key", "-in", name + ".csr", "-out", name + ".crt",
            "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
            "-extfile", ext, "-notext", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_cert(d, "ca", "server", "IP:127.0.0.1,DNS:redis.test")
    make_cert(d, "ca", "expired", "IP:127.0.0.1,DNS:redis.test",
              expired=True)
    make_cert(d, "ca", "client", "DNS:gateway.test", client=True)
    return d


class TlsRedis(Redis):
    def __init__(self, workdir, pki, cert="server", auth_clients="no"):
        Redis.__init__(self, workdir)
        self.pki = pki
        self.cert = cert
        self.auth_clients = auth_clients

    def start(self):
        p = lambda n: os.path.join(self.pki, n)
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--tls-port", str(self.port),
             "--bind", "127.0.0.1",
             "--tls-cert-file", p(self.cert + ".crt"),
             "--tls-key-file", p(self.cert + ".key"),
             "--tls-ca-cert-file", p("ca.crt"),
             "--tls-auth-clients", self.auth_clients,
             "--save", "", "--appendonly", "no", "--dir", self.workdir,
             "--logfile", os.path.join(self.workdir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.ping(), what="TLS redis on %d" % self.port)

    def cli(self, *args):
        p = lambda n: os.path.join(self.pki, n)
        # the test's own client; --insecure: it also pings the expired one
        r = subprocess.run([REDIS_CLI, "-p", str(self.port), "--tls",
                            "--insecure", "--cert",
                            p("client.crt"), "--key", p("client.key")]
                           + list(args),
                           capture_output=True, text=True, timeout=5)
        return r.stdout.strip()


@pytest.fixture
def tls_redis(tmp_path, pki):
    started = []

    def factory(**kw):
        d = tmp_path / ("tlsredis%d" % len(started))
        d.mkdir()
        r = TlsRedis(str(d), pki, **kw)
        r.start()
        started.append(r)
        return r

    yield factory
    for r in started:
        r.stop()


def tls_conf(redis, pki, params, failure_mode=None):
    # its own ds_redis line: these tests choose their TLS parameters
    # whatever DS_REDIS_TLS says
    lines = ["ds_redis 127.0.0.1:%d tls %s;"
             % (redis.port, params.replace("{pki}", pki)),
             "add_header X-DS-RateLimit $ds_ratelimit always;"]
    if failure_mode:
        lines.append("ds_redis_failure_mode %s;" % failure_mode)
    return "\n".join("    " + l for l in lines)


def test_exact_limits_and_revocation_over_tls(nginx, tls_redis, pki):
    redis = tls_redis()
    ng = nginx(policy=limited_policy({"requests": 5, "per": "minute",
                                      "burst": 2}),
               http_extra=tls_conf(redis, pki, "ca={pki}/ca.crt"))
    remaining = []
    for _ in range(7):
        r = get(ng)
        assert r.status_code == 200, r.text
        assert r.headers["X-DS-RateLimit"] == "allowed"
        remaining.append(r.headers["RateLimit-Remaining"])
    assert remaining == ["6", "5", "4", "3", "2", "1", "0"]
    r = get(ng)
    assert r.status_code == 429
    assert r.headers["X-DS-RateLimit"] == "limited"

    # revocation through the same TLS Redis, seen from the next request
    assert redis.cli("SET", "ds:{fraud-analytics}:revoked", "1") == "OK"
    assert get(ng).status_code == 403
    assert "over TLS" in ng.log_since(0)
    assert "[error]" not in ng.log_since(0)


def test_server_name_is_checked_and_sent_as_sni(nginx, tls_redis, pki):
    redis = tls_redis()
    ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
               http_extra=tls_conf(redis, pki, "ca={pki}/ca.crt "
                                   "server_name=redis.test"))
    assert get(ng).status_code == 200
    assert get(ng).status_code == 429


def test_sni_reaches_the_server(nginx, pki):
    # a bare TLS listener records the name the gateway asks for
    names = []
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(pki, "server.crt"),
                        os.path.join(pki, "server.key"))
    ctx.sni_callback = lambda sock, name, c: names.append(name)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.settimeout(0.2)
    port = lsock.getsockname()[1]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                s, _ = lsock.accept()
            except socket.timeout:
                continue
            try:
                with ctx.wrap_socket(s, server_side=True) as t:
                    t.settimeout(1)
                    t.recv(100)
            except (OSError, ssl.SSLError):
                pass

    th = threading.Thread(target=serve)
    th.start()
    try:
        fake = type("R", (), {"port": port})
        ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
                   http_extra=tls_conf(fake, pki, "ca={pki}/ca.crt "
                                       "server_name=redis.test"))
        wait_for(lambda: "redis.test" in names, timeout=10,
                 what="the SNI name at the server")
        assert get(ng).status_code == 503
    finally:
        stop.set()
        th.join()
        lsock.close()


@pytest.mark.parametrize("cert,params,message", [
    ("server", "ca={pki}/other-ca.crt",
     "TLS certificate of 127.0.0.1:{port} refused: "),
    ("expired", "ca={pki}/ca.crt",
     "TLS certificate of 127.0.0.1:{port} refused: (10: certificate has "
     "expired)"),
    ("server", "ca={pki}/ca.crt server_name=wrong.test",
     "TLS certificate of 127.0.0.1:{port} does not match server_name "
     "\"wrong.test\""),
], ids=["wrong-ca", "expired", "name-mismatch"])
def test_bad_certificate_refused(nginx, tls_redis, pki, cert, params,
                                 message):
    redis = tls_redis(cert=cert)
    ng = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
               http_extra=tls_conf(redis, pki, params))
    line = message.replace("{port}", str(redis.port))
    wait_for(lambda: line in ng.log_since(0), timeout=5,
             what="the refusal in the log")
    r = get(ng)
    assert r.status_code == 503
    assert r.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE"
    assert r.headers["X-DS-RateLimit"] == "unavailable"
    # refused certificates keep the slow backoff, not 10 ms probing
    assert ng.log_since(0).count(line) <= 10


def test_wrong_ca_accepted_with_verify_off(nginx, tls_redis, pki):
    redis = tls_redis()
    ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
               http_extra=tls_conf(redis, pki, "ca={pki}/other-ca.crt "
                                   "verify=off"))
    assert get(ng).status_code == 200
    assert get(ng).status_code == 429


def test_client_certificate_when_redis_requires_one(nginx, tls_redis, pki):
    redis = tls_redis(auth_clients="yes")
    ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
               http_extra=tls_conf(redis, pki, "ca={pki}/ca.crt "
                                   "cert={pki}/client.crt "
                                   "key={pki}/client.key"))
    assert get(ng).status_code == 200
    assert get(ng).status_code == 429

    # without one, Redis ends the handshake: the failure mode, logged
    ng2 = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
                http_extra=tls_conf(redis, pki, "ca={pki}/ca.crt"))
    wait_for(lambda: "[error]" in ng2.log_since(0), timeout=5,
             what="the refused handshake in the log")
    r = get(ng2)
    assert r.status_code == 503
    assert r.headers["X-DS-RateLimit"] == "unavailable"
    # dropped before any reply: the slow backoff, not 10 ms probing
    # (about 5 attempts in 1.5 s where probing would make ~100)
    time.sleep(1.5)
    # (each attempt gets through the client's side of the handshake)
    attempts = ng2.log_since(0).count("connected to 127.0.0.1:%d over TLS"
                                      % redis.port)
    assert 1 <= attempts <= 20, ng2.log_since(0)


def test_redis_restart_over_tls_recovers(nginx, tls_redis, pki):
    redis = tls_redis()
    ng = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
               http_extra=tls_conf(redis, pki, "ca={pki}/ca.crt",
                                   failure_mode="closed"))
    assert get(ng).headers["X-DS-RateLimit"] == "allowed"
    redis.stop()
    assert get(ng).status_code == 503
    redis.start()
    wait_for(lambda: get(ng).headers["X-DS-RateLimit"] == "allowed",
             timeout=10, interval=0.05, what="the limiter back over TLS")


def test_bad_tls_configurations_rejected(nginx, pki, tmp_path, request):
    request.node.allow_log = ("[emerg]",)
    ca = os.path.join(pki, "ca.crt")
    crt = os.path.join(pki, "client.crt")
    key = os.path.join(pki, "client.key")
    port = free_port()
    for extra, message in (
            ("ds_redis 127.0.0.1:%d ca=%s;" % (port, ca),
             "need \"tls\""),
            ("ds_redis 127.0.0.1:%d tls;" % port,
             "tls with verification needs ca=FILE"),
            ("ds_redis 127.0.0.1:%d tls ca=%s cert=%s;" % (port, ca, crt),
             "cert= and key= go together"),
            ("ds_redis 127.0.0.1:%d tls ca=%s key=%s;" % (port, ca, key),
             "cert= and key= go together"),
            ("ds_redis 127.0.0.1:%d tls ca=%s verify=maybe;" % (port, ca),
             "verify= takes on or off"),
            ("ds_redis unix:/tmp/redis.sock tls ca=%s;" % ca,
             "not a unix socket"),
            ("ds_redis 127.0.0.1:%d tls ca=%s;" % (port, tmp_path / "no.crt"),
             "no.crt"),
            ("ds_redis 127.0.0.1:%d tls ca=;" % port, "empty")):
        ng = nginx(start=False, http_extra="    " + extra)
        rc, out = ng.test_config()
        assert rc != 0, extra
        assert message in out, (extra, out)


def test_dsctl_revokes_over_tls(nginx, tls_redis, pki):
    redis = tls_redis(auth_clients="optional")
    addr = "127.0.0.1:%d" % redis.port
    ca = os.path.join(pki, "ca.crt")
    ng = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
               http_extra=tls_conf(redis, pki, "ca={pki}/ca.crt"))
    assert get(ng).status_code == 200

    r = dsctl("revoke", "recipient", "fraud-analytics", "--redis", addr,
              "--tls", "--ca", ca)
    assert r.returncode == 0, r.stderr
    assert get(ng).status_code == 403
    # by name (SNI + name check), with a client certificate
    r = dsctl("revoke", "list", "--redis", addr, "--tls", "--ca", ca,
              "--server-name", "redis.test",
              "--cert", os.path.join(pki, "client.crt"),
              "--key", os.path.join(pki, "client.key"))
    assert r.returncode == 0, r.stderr
    assert "recipient fraud-analytics" in r.stdout
    r = dsctl("unrevoke", "recipient", "fraud-analytics", "--redis", addr,
              "--tls", "--ca", ca)
    assert r.returncode == 0, r.stderr
    assert get(ng).status_code == 200

    # refused: another CA, another name, no TLS options without --tls
    r = dsctl("revoke", "list", "--redis", addr, "--tls", "--ca",
              os.path.join(pki, "other-ca.crt"))
    assert r.returncode == 2
    assert "TLS certificate of %s refused" % addr in r.stderr
    r = dsctl("revoke", "list", "--redis", addr, "--tls", "--ca", ca,
              "--server-name", "wrong.test")
    assert r.returncode == 2
    assert "refused" in r.stderr
    r = dsctl("revoke", "list", "--redis", addr, "--ca", ca)
    assert r.returncode == 2
    assert "need --tls" in r.stderr
    r = dsctl("revoke", "list", "--redis", addr, "--tls")
    assert r.returncode == 2
    assert "--tls needs --ca" in r.stderr
