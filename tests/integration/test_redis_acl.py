"""Redis 6 ACL users (issue #16): `ds_redis ... username= password_file=`
sends `AUTH user pass` first on every connection, against a real
redis-server whose ACL grants the gateway user only what docs/redis.md
lists; dsctl revoke takes the same `--username`. A wrong password gives
the failure mode and an error line naming the user, never the password."""

import os
import subprocess

import pytest

from conftest import Redis, dsctl, free_port, wait_for
from test_ratelimit import get, limited_policy, redis_conf

GW_PASS = "gw-Pa55-7qkz-secret"
CTL_PASS = "ctl-Pa55-9wme-secret"

# what docs/redis.md lists for the gateway's and dsctl's users
GW_ACL = ["gw", "on", ">" + GW_PASS, "resetkeys", "~ds:*", "resetchannels",
          "-@all", "+script|load", "+evalsha", "+exists", "+sismember", "+time",
          "+get", "+set", "+select"]
CTL_ACL = ["ctl", "on", ">" + CTL_PASS, "resetkeys", "~ds:*",
           "resetchannels", "&ds:revocations", "-@all", "+sadd", "+srem",
           "+smembers", "+set", "+del", "+scan", "+publish", "+select"]


class AclRedis(Redis):
    """redis-server with the two ACL users; the default user stays for
    the test's own redis-cli."""

    def args(self):
        return Redis.args(self) + ["--user"] + GW_ACL + ["--user"] + CTL_ACL


@pytest.fixture
def acl_redis(tmp_path):
    d = tmp_path / "aclredis"
    d.mkdir()
    r = AclRedis(str(d))
    r.start()
    yield r
    r.stop()


def pw_file(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_acl_user_gets_exact_limits_and_revocation(nginx, acl_redis,
                                                   tmp_path):
    # the user really is restricted: nothing outside the list
    r = subprocess.run(acl_redis.cli_argv() + ["--user", "gw",
                        "--pass", GW_PASS, "--no-auth-warning", "PING"],
                       capture_output=True, text=True, timeout=5)
    assert "NOPERM" in r.stdout + r.stderr

    pw = pw_file(tmp_path, "gw.pw", GW_PASS + "\n")
    ng = nginx(policy=limited_policy({"requests": 2, "per": "minute"}),
               http_extra=redis_conf(acl_redis, " username=gw "
                                     "password_file=%s" % pw))
    assert [get(ng).status_code for _ in range(3)] == [200, 200, 429]
    assert acl_redis.cli("ACL", "WHOAMI") == "default"
    clients = acl_redis.cli("CLIENT", "LIST")
    assert "user=gw" in clients, clients

    # dsctl with its own ACL user revokes; the gateway's script sees it
    ctl_pw = pw_file(tmp_path, "ctl.pw", CTL_PASS)
    addr = "127.0.0.1:%d" % acl_redis.port
    r = dsctl("revoke", "recipient", "fraud-analytics", "--redis", addr,
              "--username", "ctl", "--password-file", str(ctl_pw))
    assert r.returncode == 0, r.stderr
    assert get(ng).status_code == 403
    r = dsctl("revoke", "list", "--redis", addr, "--username", "ctl",
              "--password-file", str(ctl_pw))
    assert r.returncode == 0, r.stderr
    assert "recipient fraud-analytics" in r.stdout
    r = dsctl("unrevoke", "recipient", "fraud-analytics", "--redis", addr,
              "--username", "ctl", "--password-file", str(ctl_pw))
    assert r.returncode == 0, r.stderr
    assert get(ng).status_code == 429

    log = ng.log_since(0)
    assert GW_PASS not in log
    assert "[error]" not in log, log


def test_wrong_password_fails_closed_and_says_auth_failed(nginx, acl_redis,
                                                          tmp_path):
    bad = "Wr0ng-acl-pass-Zx81"
    pw = pw_file(tmp_path, "bad.pw", bad + "\n")
    ng = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
               http_extra=redis_conf(acl_redis, " username=gw "
                                     "password_file=%s" % pw))
    line = ('AUTH on 127.0.0.1:%d failed, authentication as user "gw" '
            'refused: WRONGPASS' % acl_redis.port)
    wait_for(lambda: line in ng.log_since(0), timeout=5,
             what="the refused AUTH in the log")
    r = get(ng)
    assert r.status_code == 503
    assert r.headers["X-DS-RateLimit"] == "unavailable"
    assert bad not in ng.log_since(0)
    assert GW_PASS not in ng.log_since(0)

    # the right user with the password of another user: refused as well
    pw2 = pw_file(tmp_path, "ctl.pw", CTL_PASS)
    ng2 = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
                http_extra=redis_conf(acl_redis, " username=gw "
                                      "password_file=%s" % pw2))
    assert get(ng2).status_code == 503
    assert CTL_PASS not in ng2.log_since(0)


def test_dsctl_wrong_password_and_usage(acl_redis, tmp_path):
    addr = "127.0.0.1:%d" % acl_redis.port
    pw = pw_file(tmp_path, "bad.pw", "nope-Qw3")
    r = dsctl("revoke", "list", "--redis", addr, "--username", "ctl",
              "--password-file", str(pw))
    assert r.returncode == 2
    assert "AUTH failed" in r.stderr and "WRONGPASS" in r.stderr
    assert "nope-Qw3" not in r.stderr + r.stdout

    r = dsctl("revoke", "list", "--redis", addr, "--username", "ctl")
    assert r.returncode == 2
    assert "--username needs" in r.stderr


def test_bad_acl_configurations_rejected(nginx, tmp_path, request):
    request.node.allow_log = ("[emerg]",)
    empty = pw_file(tmp_path, "empty.pw", "\n")
    a_dir = tmp_path / "pwdir"
    a_dir.mkdir()
    port = free_port()
    for extra, message in (
            ("ds_redis 127.0.0.1:%d username=gw;" % port,
             "username=gw needs password_file="),
            ("ds_redis 127.0.0.1:%d username= password_file=%s;"
             % (port, empty), "username= takes 1 to 256 bytes"),
            ("ds_redis 127.0.0.1:%d username=gw password_file=%s;"
             % (port, empty), "is empty"),
            ("ds_redis 127.0.0.1:%d username=gw password_file=%s;"
             % (port, a_dir), "cannot read password_file"),
            ("ds_redis 127.0.0.1:%d username=gw password_file=%s;"
             % (port, tmp_path / "missing.pw"),
             "cannot open password_file")):
        ng = nginx(start=False, http_extra="    " + extra)
        rc, out = ng.test_config()
        assert rc != 0, extra
        assert message in out, (extra, out)
