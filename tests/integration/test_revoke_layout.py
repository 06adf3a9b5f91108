"""Revocation keys in the recipient's own hash slot (issue #16, Redis
Cluster): per-recipient flag, token and subject sets; revocation by JWT
issuer + subject (issue #15); `dsctl revoke token --policy`; and
`dsctl revoke migrate` from the old global sets."""

import hashlib

import requests

from conftest import PREFIX, dsctl, wait_for
from test_oidc import LOCATION, fed_policy, idp  # noqa: F401  (fixture)
from test_ratelimit import get, redis_conf


def addr(redis):
    return "127.0.0.1:%d" % redis.port


def jwt_get(ng, tok):
    return requests.get(ng.url(PREFIX + "/shares"),
                        headers={"Authorization": "Bearer " + tok},
                        timeout=10)


def subject_id(issuer, subject):
    return "sub:" + hashlib.sha256(issuer.encode() + b"\0"
                                   + subject.encode()).hexdigest()


def test_every_key_of_a_recipient_has_its_hash_tag(nginx, redis):
    ng = nginx(http_extra=redis_conf(redis))
    assert dsctl("revoke", "token", "dp-9", "--recipient",
                 "distribution-partner", "--redis", addr(redis)
                 ).returncode == 0
    assert dsctl("revoke", "recipient", "suspended-co", "--redis",
                 addr(redis)).returncode == 0
    keys = set(redis.cli("KEYS", "*").split())
    assert keys == {"ds:{distribution-partner}:revoked_tokens",
                    "ds:{suspended-co}:revoked"}
    assert get(ng).status_code == 200
    assert get(ng, who="dist").status_code == 200


def test_revoke_subject(nginx, idp, redis, tmp_path):  # noqa: F811
    jwks = idp.write_jwks(tmp_path / "jwks.json")
    ng = nginx(policy=fed_policy(idp, jwks), location_extra=LOCATION,
               http_extra=redis_conf(redis))
    assert jwt_get(ng, idp.token_for("fraud-etl")).status_code == 200

    r = dsctl("revoke", "subject", "--issuer", idp.issuer, "--subject",
              "fraud-etl", "--recipient", "fraud-analytics", "--redis",
              addr(redis))
    assert r.returncode == 0, r.stderr
    sid = subject_id(idp.issuer, "fraud-etl")
    assert sid in r.stdout
    assert redis.cli("SMEMBERS", "ds:{fraud-analytics}:revoked_subjects") \
        == sid

    # every token of that identity, also ones issued later: 401
    r = jwt_get(ng, idp.token_for("fraud-etl"))
    assert r.status_code == 401
    assert r.headers["X-Reason"] == "token_revoked"
    assert r.json()["errorCode"] == "UNAUTHENTICATED"
    # the recipient's static token and other identities are untouched
    assert get(ng).status_code == 200
    assert jwt_get(ng, idp.token_for("dp-app")).status_code == 200

    out = dsctl("revoke", "list", "--redis", addr(redis)).stdout
    assert "subject %s recipient fraud-analytics" % sid in out
    assert "fraud-etl" not in out

    # the same subject revoked under another recipient does not count
    assert dsctl("unrevoke", "subject", "--issuer", idp.issuer,
                 "--subject", "fraud-etl", "--recipient", "fraud-analytics",
                 "--redis", addr(redis)).returncode == 0
    assert dsctl("revoke", "subject", "--issuer", idp.issuer,
                 "--subject", "fraud-etl", "--recipient",
                 "distribution-partner", "--redis", addr(redis)
                 ).returncode == 0
    wait_for(lambda: jwt_get(ng, idp.token_for("fraud-etl")).status_code
             == 200, timeout=1, interval=0.05, what="the unrevocation")
    # another issuer with the same subject is another identity
    assert dsctl("revoke", "subject", "--issuer", idp.issuer + "/other",
                 "--subject", "fraud-etl", "--recipient", "fraud-analytics",
                 "--redis", addr(redis)).returncode == 0
    assert jwt_get(ng, idp.token_for("fraud-etl")).status_code == 200


def test_revoke_token_finds_its_recipient_in_the_policy(nginx, redis):
    ng = nginx(http_extra=redis_conf(redis))
    r = dsctl("revoke", "token", "fa-1", "--policy", ng.policy_path,
              "--redis", addr(redis))
    assert r.returncode == 0, r.stderr
    assert redis.cli("SMEMBERS", "ds:{fraud-analytics}:revoked_tokens") \
        == "fa-1"
    assert get(ng).status_code == 401
    assert "token fa-1 recipient fraud-analytics" in dsctl(
        "revoke", "list", "--redis", addr(redis)).stdout

    r = dsctl("revoke", "token", "nope", "--policy", ng.policy_path,
              "--redis", addr(redis))
    assert r.returncode == 2
    assert 'no token "nope"' in r.stderr


def test_dsctl_usage_of_the_new_kinds(redis, tmp_path):
    for args, message in [
        (["token", "fa-1"], "--recipient R or --policy F"),
        (["token", "fa-1", "--recipient", "r", "--policy", "p"],
         "--recipient R or --policy F"),
        (["subject", "--issuer", "i", "--subject", "s"],
         "--issuer, --subject and --recipient"),
        (["subject", "x", "--issuer", "i"], "subject takes no ID"),
        (["recipient", "r", "--issuer", "i"], "are for subject"),
        (["migrate"], "migrate needs --policy"),
        (["recipient", "r", "--remove-old"], "--remove-old is for migrate"),
    ]:
        r = dsctl("revoke", *args, "--redis", addr(redis))
        assert r.returncode == 2, args
        assert message in r.stderr, (args, r.stderr)
    assert redis.cli("DBSIZE") == "0"


def test_migrate_from_the_global_sets(nginx, redis):
    ng = nginx(http_extra=redis_conf(redis))
    # what a dsctl before the per-recipient layout wrote
    assert redis.cli("SADD", "ds:revoked:recipients",
                     "distribution-partner") == "1"
    assert redis.cli("SADD", "ds:revoked:tokens", "fa-1", "gone-1") == "2"

    # the gateway reads only the new keys: not enforced, and list says so
    assert get(ng).status_code == 200
    assert get(ng, who="dist").status_code == 200
    out = dsctl("revoke", "list", "--redis", addr(redis)).stdout
    assert "recipient distribution-partner NOT ENFORCED" in out
    assert "token fa-1 NOT ENFORCED" in out

    r = dsctl("revoke", "migrate", "--policy", ng.policy_path, "--redis",
              addr(redis))
    # a token the policy no longer has cannot be placed: exit 1
    assert r.returncode == 1, r.stderr
    assert "recipient distribution-partner migrated" in r.stdout
    assert "token fa-1 recipient fraud-analytics migrated" in r.stdout
    assert "token gone-1: not in" in r.stdout
    assert "2 migrated, 1 left" in r.stdout

    assert get(ng).status_code == 401
    assert get(ng, who="dist").status_code == 403
    # the old sets are kept (gateways not yet upgraded still read them)
    assert redis.cli("SCARD", "ds:revoked:tokens") == "2"

    # idempotent; --remove-old deletes only what was migrated
    r = dsctl("revoke", "migrate", "--policy", ng.policy_path, "--redis",
              addr(redis), "--remove-old")
    assert r.returncode == 1
    assert redis.cli("EXISTS", "ds:revoked:recipients") == "0"
    assert redis.cli("SMEMBERS", "ds:revoked:tokens") == "gone-1"
    assert get(ng).status_code == 401
    out = dsctl("revoke", "list", "--redis", addr(redis)).stdout
    assert "recipient distribution-partner\n" in out
    assert "token gone-1 NOT ENFORCED" in out

    # nothing left to place: exit 0
    assert redis.cli("DEL", "ds:revoked:tokens") == "1"
    r = dsctl("revoke", "migrate", "--policy", ng.policy_path, "--redis",
              addr(redis))
    assert r.returncode == 0, r.stdout
    assert "0 migrated, 0 left" in r.stdout
