"""Host names in ds_redis (issue #16), resolved through nginx's own
`resolver`, never by a blocking lookup: a tiny DNS responder on loopback
(written here, UDP, A records only) answers for the test names. Exact
limits through a name; a name that moves to another address is followed
at the next reconnection; an unknown name gives the failure mode and an
error line; TLS checks the certificate against the name; `nginx -t`
refuses a name without a resolver (test_ratelimit.py)."""

import socket
import struct
import threading

import pytest

from conftest import REDIS_TLS, wait_for
from test_ratelimit import get, limited_policy
from test_redis_tls import pki, tls_redis  # noqa: F401 (fixtures)


class Dns:
    """Answers A queries from self.records (name -> IPv4 string) with
    TTL 1, NXDOMAIN for other names, no answer (NOERROR) for other
    types; records every query name."""

    def __init__(self):
        self.records = {}
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            try:
                self.sock.sendto(self.answer(data), peer)
            except Exception:
                pass

    def answer(self, q):
        qid, flags = struct.unpack("!HH", q[:4])
        labels, i = [], 12
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode())
            i += 1 + q[i]
        qtype, = struct.unpack("!H", q[i + 1:i + 3])
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        rd = flags & 0x0100
        if name not in self.records:
            return struct.pack("!HHHHHH", qid, 0x8083 | rd, 1, 0, 0, 0) \
                + question
        if qtype != 1:
            return struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 0, 0, 0) \
                + question
        rr = struct.pack("!HHHIH", 0xc00c, 1, 1, 1, 4) \
            + socket.inet_aton(self.records[name])
        return struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 1, 0, 0) \
            + question + rr

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


# these gateways write their own plaintext ds_redis lines
plain_only = pytest.mark.skipif(REDIS_TLS, reason="DS_REDIS_TLS: the "
                                "name tests choose their own transport")


@pytest.fixture
def dns():
    d = Dns()
    yield d
    d.close()


def conf(dns, addr, extra=""):
    return "\n".join("    " + l for l in (
        "resolver 127.0.0.1:%d ipv6=off valid=1s;" % dns.port,
        "ds_redis %s%s;" % (addr, extra),
        "ds_redis_failure_mode closed;",
        "add_header X-DS-RateLimit $ds_ratelimit always;"))


@plain_only
def test_exact_limits_through_a_name(nginx, redis, dns):
    dns.records["redis.test"] = "127.0.0.1"
    ng = nginx(policy=limited_policy({"requests": 2, "per": "minute"}),
               http_extra=conf(dns, "redis.test:%d" % redis.port))
    assert [get(ng).status_code for _ in range(3)] == [200, 200, 429]
    assert ("redis.test", 1) in dns.queries
    assert "connected to redis.test:%d" % redis.port in ng.log_since(0)


@plain_only
def test_name_moving_to_another_address_is_followed(nginx, redis, dns):
    # first the name points where no Redis listens (redis binds
    # 127.0.0.1 only): the failure mode; then at Redis: the next
    # reconnection resolves again and finds it
    dns.records["moving.test"] = "127.0.0.2"
    ng = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
               http_extra=conf(dns, "moving.test:%d" % redis.port))
    r = get(ng)
    assert r.status_code == 503
    assert r.headers["X-DS-RateLimit"] == "unavailable"
    assert "cannot connect to moving.test:%d" % redis.port \
        in ng.log_since(0)

    dns.records["moving.test"] = "127.0.0.1"
    wait_for(lambda: get(ng).headers["X-DS-RateLimit"] == "allowed",
             timeout=15, interval=0.1, what="the limiter on the new address")
    # probing every 10 ms reused nginx's cached answer: a handful of
    # queries (valid=1s), not one per attempt
    assert len(dns.queries) < 40, len(dns.queries)


def test_unknown_name_fails_closed_and_says_so(nginx, dns):
    ng = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
               http_extra=conf(dns, "nope.test:6379"))
    wait_for(lambda: "cannot resolve nope.test" in ng.log_since(0),
             timeout=10, what="the resolver error in the log")
    r = get(ng)
    assert r.status_code == 503
    assert r.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE"
    assert r.headers["X-DS-RateLimit"] == "unavailable"
    # the other locations are served meanwhile
    assert get(ng, "/plain").status_code == 200


def test_tls_checks_the_certificate_against_the_name(nginx, tls_redis, pki,
                                                     dns):
    redis = tls_redis()
    dns.records["redis.test"] = "127.0.0.1"
    dns.records["other.test"] = "127.0.0.1"
    ca = " tls ca=%s/ca.crt" % pki
    ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
               http_extra=conf(dns, "redis.test:%d" % redis.port, ca))
    assert get(ng).status_code == 200
    assert get(ng).status_code == 429

    # the certificate names redis.test, not other.test
    ng2 = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
                http_extra=conf(dns, "other.test:%d" % redis.port, ca))
    line = 'does not match server_name "other.test"'
    wait_for(lambda: line in ng2.log_since(0), timeout=10,
             what="the name mismatch in the log")
    assert get(ng2).status_code == 503
