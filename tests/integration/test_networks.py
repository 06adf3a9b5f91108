"""Network allow/deny lists (issue #18): evaluated on the client address
as nginx sees it after the realip module, through real nginx."""

import json

import pytest
import requests

from conftest import (PREFIX, UPSTREAM_TOKEN, bearer, dsctl, free_port,
                      make_policy, write_policy)

TABLE = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims"
VERSION = TABLE + "/version"
OTHER = PREFIX + "/shares/claims/schemas/pending/tables/prior_auth/version"

REALIP = """
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;"""

SHOW = """
            add_header X-Test-Reason $ds_reason always;"""


def net_policy(recipient_nets=None, grant_nets=None, extra_grants=()):
    pol = make_policy()
    fa = pol["recipients"][0]
    if recipient_nets is not None:
        fa["networks"] = recipient_nets
    if grant_nets is not None:
        fa["grants"][0]["networks"] = grant_nets
    fa["grants"] += list(extra_grants)
    return pol


def get(ng, path=VERSION, who="fraud", xff=None, port=None):
    h = dict(bearer(who))
    if xff:
        h["X-Forwarded-For"] = xff
    url = ng.url(path) if port is None else \
        "http://127.0.0.1:%d%s" % (port, path)
    return requests.get(url, headers=h, timeout=5)


POLICY = net_policy(
    recipient_nets={"allow": ["192.0.2.0/24", "2001:db8::/32"],
                    "deny": ["192.0.2.128/25"]},
    grant_nets={"deny": ["192.0.2.66", "2001:db8:bad::/48"]})


@pytest.mark.parametrize("xff,status,reason", [
    ("192.0.2.10", 200, "allowed"),
    ("::ffff:192.0.2.10", 200, "allowed"),     # IPv4-mapped is IPv4
    ("2001:db8::10", 200, "allowed"),
    ("192.0.2.200", 403, "network_denied"),    # recipient deny
    ("198.51.100.7", 403, "network_denied"),   # not in the allow list
    ("::ffff:198.51.100.7", 403, "network_denied"),
    ("192.0.2.66", 403, "network_denied"),     # grant deny
    ("2001:db8:bad::1", 403, "network_denied"),
    ("2001:db9::1", 403, "network_denied"),
    (None, 403, "network_denied"),             # 127.0.0.1 itself
])
def test_network_lists_on_the_realip_address(nginx, upstream, xff, status,
                                              reason):
    ng = nginx(policy=POLICY, server_extra=REALIP, location_extra=SHOW)
    upstream.reset()
    r = get(ng, xff=xff)
    assert r.status_code == status, r.text
    assert r.headers["X-Test-Reason"] == reason
    if status == 403:
        assert r.json()["errorCode"] == "PERMISSION_DENIED"
        assert "network address" in r.json()["message"]
        assert upstream.requests() == []
    else:
        assert len(upstream.requests()) == 1


def test_forwarded_address_from_untrusted_peer_ignored(nginx, upstream):
    port2 = free_port()
    untrusted = """
    server {
        listen 127.0.0.1:%d;
        set_real_ip_from 10.0.0.0/8;
        real_ip_header X-Forwarded-For;
        location %s/ {
            ds_enforce on;
            proxy_set_header Authorization "Bearer %s";
            proxy_pass http://127.0.0.1:%d;
            add_header X-Test-Reason $ds_reason always;
        }
    }""" % (port2, PREFIX, UPSTREAM_TOKEN, upstream.port)
    ng = nginx(policy=POLICY, server_extra=REALIP, location_extra=SHOW,
               http_extra=untrusted)
    assert get(ng, xff="192.0.2.10").status_code == 200
    # the peer is not trusted: its X-Forwarded-For changes nothing
    r = get(ng, xff="192.0.2.10", port=port2)
    assert r.status_code == 403
    assert r.headers["X-Test-Reason"] == "network_denied"


def test_grant_network_only_narrows_its_own_grant(nginx):
    pol = net_policy(
        grant_nets={"allow": ["203.0.113.0/24"]},
        extra_grants=[{"share": "claims", "schema": "pending",
                       "table": "*"}])
    ng = nginx(policy=pol, server_extra=REALIP, location_extra=SHOW)
    assert get(ng, xff="203.0.113.5").status_code == 200
    r = get(ng, xff="198.51.100.1")
    assert r.status_code == 403
    assert r.headers["X-Test-Reason"] == "network_denied"
    # the pending grant has no list: any address
    assert get(ng, path=OTHER, xff="198.51.100.1").status_code == 200
    # another recipient is not affected at all
    assert get(ng, path=PREFIX + "/shares/provider_directory",
               who="dist", xff="198.51.100.1").status_code == 200


def test_thousand_entry_allow_list(nginx):
    nets = ["10.%d.%d.0/24" % (i // 200, i % 200) for i in range(1000)]
    pol = net_policy(recipient_nets={"allow": nets})
    ng = nginx(policy=pol, server_extra=REALIP, location_extra=SHOW)
    assert get(ng, xff="10.4.199.9").status_code == 200
    assert get(ng, xff="10.0.0.1").status_code == 200
    r = get(ng, xff="10.4.200.1")
    assert r.status_code == 403
    assert r.headers["X-Test-Reason"] == "network_denied"


BAD = [
    ({"allow": ["10.1.0.0/8"]}, "$.recipients[0].networks.allow[0]",
     'bad network "10.1.0.0/8": host bits set: the network is 10.0.0.0/8'),
    ({"deny": ["2001:db8::/129"]}, "$.recipients[0].networks.deny[0]",
     'bad network "2001:db8::/129": bad prefix length: must be 0 to 128'),
    ({"allow": ["partner.example"]}, "$.recipients[0].networks.allow[0]",
     'bad network "partner.example": not an IPv4 or IPv6 address'),
    ({"allow": []}, "$.recipients[0].networks.allow",
     'must not be empty'),
]


@pytest.mark.parametrize("nets,where,why", BAD)
def test_bad_network_fails_nginx_t_and_dsctl_check(nginx, request, nets,
                                                    where, why):
    request.node.allow_log = (why,)
    ng = nginx(policy=net_policy(recipient_nets=nets), start=False)
    rc, out = ng.test_config()
    assert rc != 0
    assert "%s: %s: %s" % (ng.policy_path, where, why) in out
    r = dsctl("policy", "check", ng.policy_path)
    assert r.returncode == 1
    assert "%s: %s: %s" % (ng.policy_path, where, why) in r.stderr


def test_dsctl_explain_with_ip(tmp_path):
    path = write_policy(tmp_path / "p.json", POLICY)
    base = ["policy", "explain", path, "--recipient", "fraud-analytics",
            "GET", VERSION]
    r = dsctl(*base, "--ip", "192.0.2.10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "address:    192.0.2.10" in r.stdout
    r = dsctl(*base, "--ip", "::ffff:192.0.2.200")
    assert r.returncode == 1
    assert "reason:     network_denied" in r.stdout
    # no address: unknown, which no list admits, as in the gateway
    r = dsctl(*base)
    assert r.returncode == 1
    assert "reason:     network_denied" in r.stdout
    r = dsctl(*base, "--ip", "192.0.2.300")
    assert r.returncode == 2


def test_json_schema_knows_networks():
    jsonschema = pytest.importorskip("jsonschema")
    import os
    schema = json.load(open(os.path.join(os.path.dirname(__file__), "..",
                                         "..", "policies",
                                         "ds-policy.schema.json")))
    v = jsonschema.Draft202012Validator(schema)
    v.validate(POLICY)
    assert not v.is_valid(net_policy(recipient_nets={"allow": []}))
    assert not v.is_valid(net_policy(grant_nets={"alow": ["10.0.0.0/8"]}))
    assert not v.is_valid(net_policy(grant_nets={"allow": ["example.com"]}))
