"""Live revocation: `dsctl revoke` puts an id in a Redis set that every
nginx checks in the rate limit script; the next request is denied, with
no reload, and `dsctl unrevoke` lifts it."""

import json
import subprocess
import threading

from conftest import TOKENS, dsctl, wait_for
from test_ratelimit import SHARES, get, limited_policy, redis_conf


def redis_addr(redis):
    return "127.0.0.1:%d" % redis.port


def status(ng, who="fraud"):
    return get(ng, SHARES, who=who).status_code


def test_revoke_recipient(nginx, redis):
    # no rate limit on anyone: revocation is still checked
    ng = nginx(http_extra=redis_conf(redis))
    assert status(ng) == 200
    assert status(ng, "dist") == 200

    r = dsctl("revoke", "recipient", "fraud-analytics",
              "--redis", redis_addr(redis))
    assert r.returncode == 0, r.stderr
    assert redis.cli("EXISTS", "ds:{fraud-analytics}:revoked") == "1"

    wait_for(lambda: status(ng) == 403, timeout=1, interval=0.05,
             what="the revocation to apply")
    r = get(ng)
    assert r.json()["errorCode"] == "PERMISSION_DENIED"
    assert r.headers["X-DS-RateLimit"] == "revoked"
    assert TOKENS["fraud"] not in r.text
    # other recipients are untouched
    assert status(ng, "dist") == 200

    r = dsctl("unrevoke", "recipient", "fraud-analytics",
              "--redis", redis_addr(redis))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: status(ng) == 200, timeout=1, interval=0.05,
             what="the revocation to be lifted")


def test_revoke_token(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 100, "per": "hour"}),
               http_extra=redis_conf(redis))
    r = get(ng)
    assert r.status_code == 200
    assert r.headers["RateLimit-Remaining"] == "99"

    r = dsctl("revoke", "token", "fa-1", "--recipient", "fraud-analytics",
              "--redis", redis_addr(redis))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: status(ng) == 401, timeout=1, interval=0.05,
             what="the token revocation to apply")
    for _ in range(5):
        r = get(ng)
        assert r.status_code == 401
        assert r.json()["errorCode"] == "UNAUTHENTICATED"

    assert "token fa-1" in dsctl("revoke", "list", "--redis",
                                 redis_addr(redis)).stdout

    r = dsctl("unrevoke", "token", "fa-1", "--recipient",
              "fraud-analytics", "--redis", redis_addr(redis))
    assert r.returncode == 0
    wait_for(lambda: status(ng) == 200, timeout=1, interval=0.05,
             what="the token revocation to be lifted")
    # revoked calls spent no quota: the script checks revocation first
    r = get(ng)
    assert r.headers["RateLimit-Remaining"] == "97"


def test_a_revoked_token_gets_one_answer_whatever_it_asks(nginx, redis,
                                                         upstream):
    # before revocation: a share never granted is a 404, and asking for it
    # spends no quota (only the revocation check ran)
    ng = nginx(policy=limited_policy({"requests": 100, "per": "hour"}),
               http_extra=redis_conf(redis))
    secret = SHARES + "/internal_finance"
    assert get(ng, secret).status_code == 404
    assert get(ng, SHARES + "/nope/schemas/x/tables").status_code == 404
    r = get(ng)
    assert r.status_code == 200
    assert r.headers["RateLimit-Remaining"] == "99"

    assert dsctl("revoke", "token", "fa-1", "--recipient", "fraud-analytics",
                 "--redis", redis_addr(redis)).returncode == 0
    wait_for(lambda: status(ng) == 401, timeout=1, interval=0.05,
             what="the token revocation to apply")
    # the same answer for what it was granted and what it never was:
    # nothing about its old grants
    answers = set()
    for path in (SHARES, secret, SHARES + "/claims/schemas/nope/tables",
                 SHARES + "/nope/schemas/x/tables/y/metadata"):
        r = get(ng, path)
        answers.add((r.status_code, r.text))
    assert len(answers) == 1
    status_code, text = answers.pop()
    assert status_code == 401
    assert json.loads(text)["errorCode"] == "UNAUTHENTICATED"

    assert dsctl("revoke", "recipient", "fraud-analytics", "--redis",
                 redis_addr(redis)).returncode == 0
    assert dsctl("unrevoke", "token", "fa-1", "--recipient",
                 "fraud-analytics", "--redis", redis_addr(redis)).returncode \
        == 0
    wait_for(lambda: status(ng) == 403, timeout=1, interval=0.05,
             what="the recipient revocation to apply")
    r = get(ng, secret)
    assert r.status_code == 403
    assert "revoked" in r.json()["message"]
    assert upstream.requests()[-1]["path"] == SHARES
    assert len(upstream.requests()) == 1


def test_revocation_reaches_every_instance(nginx, redis):
    a = nginx(http_extra=redis_conf(redis))
    b = nginx(http_extra=redis_conf(redis, failure_mode="open"))
    assert status(a) == status(b) == 200

    assert dsctl("revoke", "recipient", "fraud-analytics",
                 "--redis", redis_addr(redis)).returncode == 0
    wait_for(lambda: status(a) == 403 and status(b) == 403, timeout=1,
             interval=0.05, what="both instances to deny")


def test_revocation_is_announced(redis):
    # SIEMs subscribe to <prefix>revocations
    sub = subprocess.Popen(redis.cli_argv() + ["--raw",
                            "SUBSCRIBE", "gw:revocations"],
                           stdout=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(
        target=lambda: [lines.append(l.strip()) for l in sub.stdout])
    reader.start()
    try:
        wait_for(lambda: redis.cli("PUBSUB", "NUMSUB", "gw:revocations")
                 .split()[-1] == "1", timeout=5, what="the subscriber")
        r = dsctl("revoke", "recipient", "acme", "--redis",
                  redis_addr(redis), "--prefix", "gw:")
        assert r.returncode == 0, r.stderr
        assert redis.cli("GET", "gw:{acme}:revoked") == "1"

        def announced():
            for l in lines:
                if l.startswith("{"):
                    return json.loads(l)
            return None
        msg = wait_for(announced, timeout=5, what="the announcement")
        assert msg == {"action": "revoke", "kind": "recipient", "id": "acme"}
    finally:
        sub.kill()
        sub.wait()
        reader.join(5)


def test_dsctl_revoke_errors(redis, tmp_path):
    r = dsctl("revoke", "recipient", "x", "--redis", "127.0.0.1:1")
    assert r.returncode == 2
    assert "cannot connect" in r.stderr

    r = dsctl("revoke", "bogus", "x", "--redis", redis_addr(redis))
    assert r.returncode == 2

    r = dsctl("revoke", "recipient", "--redis", redis_addr(redis))
    assert r.returncode == 2

    r = dsctl("revoke", "recipient", "x")
    assert r.returncode == 2
    assert "--redis" in r.stderr

    # AUTH with a password file
    assert redis.cli("CONFIG", "SET", "requirepass", "pw1") == "OK"
    pw = tmp_path / "pw"
    pw.write_text("pw1\n")
    r = dsctl("revoke", "token", "t-9", "--recipient", "x", "--redis",
              redis_addr(redis), "--password-file", str(pw), "--db", "2")
    assert r.returncode == 0, r.stderr
    out = subprocess.run(redis.cli_argv() + ["-a", "pw1",
                          "--no-auth-warning", "-n", "2", "SMEMBERS",
                          "ds:{x}:revoked_tokens"], capture_output=True,
                         text=True).stdout.split()
    assert out == ["t-9"]
    assert "pw1" not in r.stdout + r.stderr

    pw.write_text("wrong\n")
    r = dsctl("revoke", "token", "t-9", "--recipient", "x", "--redis",
              redis_addr(redis), "--password-file", str(pw))
    assert r.returncode == 2
    assert "AUTH failed" in r.stderr
