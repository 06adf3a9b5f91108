"""Geography (MaxMind DB + nginx realip), purpose and contracts."""

import time

import pytest
import requests

from conftest import (PREFIX, TOKENS, UPSTREAM_TOKEN, bearer, free_port,
                      iso, make_policy, sha256_hex, wait_for)

TABLE = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims"
VERSION = TABLE + "/version"

REALIP = """
        set_real_ip_from 127.0.0.1;
        set_real_ip_from ::1;
        real_ip_header X-Forwarded-For;"""

SHOW = """
            add_header X-Test-Country $ds_country always;
            add_header X-Test-Reason $ds_reason always;
            add_header X-Test-Purpose $ds_purpose always;"""


def geo_policy():
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["countries"] = {"allow": ["US", "DE"]}
    return pol


def geo_nginx(nginx, mmdb, policy=None, http_extra=""):
    return nginx(policy=policy or geo_policy(),
                 http_extra="    ds_geoip_db %s;\n%s" % (mmdb, http_extra),
                 server_extra=REALIP, location_extra=SHOW)


def get(ng, path=VERSION, who="fraud", xff=None, port=None, **headers):
    h = dict(bearer(who))
    if xff:
        h["X-Forwarded-For"] = xff
    h.update(headers)
    url = ng.url(path) if port is None else \
        "http://127.0.0.1:%d%s" % (port, path)
    return requests.get(url, headers=h, timeout=5)


@pytest.mark.parametrize("xff,status,country,reason", [
    (None, 200, "US", "allowed"),               # 127.0.0.1 itself
    ("192.0.2.10", 200, "US", "allowed"),
    ("198.51.100.7", 200, "DE", "allowed"),
    ("203.0.113.9", 403, "CN", "country_denied"),
    ("127.0.3.3", 403, "CN", "country_denied"),
    ("127.0.4.1", 403, "", "country_unknown"),
    ("10.1.2.3", 403, "", "country_unknown"),
    ("2001:db8:2::17", 200, "DE", "allowed"),
    ("2001:db8:3::1", 403, "CN", "country_denied"),
    ("2001:db8:4::1", 403, "", "country_unknown"),
])
def test_country_from_trusted_xff(nginx, mmdb, upstream, xff, status,
                                  country, reason):
    ng = geo_nginx(nginx, mmdb)
    r = get(ng, xff=xff)
    assert r.status_code == status, r.text
    # add_header omits empty values: unknown shows as no header
    assert r.headers.get("X-Test-Country", "") == country
    assert r.headers["X-Test-Reason"] == reason
    assert len(upstream.requests()) == (1 if status == 200 else 0)
    if status == 403:
        assert r.json()["errorCode"] == "PERMISSION_DENIED"


def test_unknown_allowed_explicitly(nginx, mmdb):
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["countries"] = {
        "allow": ["US", "unknown"]}
    ng = geo_nginx(nginx, mmdb, policy=pol)
    assert get(ng, xff="10.9.9.9").status_code == 200
    assert get(ng, xff="198.51.100.7").status_code == 403


def test_spoofed_xff_from_untrusted_peer_ignored(nginx, mmdb, upstream):
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
            add_header X-Test-Country $ds_country always;
        }
    }""" % (port2, PREFIX, UPSTREAM_TOKEN, upstream.port)
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["countries"] = {"allow": ["CN"]}
    ng = geo_nginx(nginx, mmdb, policy=pol, http_extra=untrusted)
    # trusted server: the forged CN address counts
    assert get(ng, xff="203.0.113.9").status_code == 200
    # untrusted peer: X-Forwarded-For changes nothing (127.0.0.1 = US)
    r = get(ng, xff="203.0.113.9", port=port2)
    assert r.status_code == 403
    assert r.headers["X-Test-Country"] == "US"


def test_country_variable_on_unenforced_location(nginx, mmdb):
    ng = nginx(http_extra="    ds_geoip_db %s;" % mmdb, server_extra=REALIP +
               "\n        location = /where { add_header X-C $ds_country; "
               "return 204; }")
    r = requests.get(ng.url("/where"), timeout=5,
                     headers={"X-Forwarded-For": "198.51.100.1"})
    assert r.status_code == 204
    assert r.headers["X-C"] == "DE"


def test_missing_mmdb_fails_nginx_t(nginx, request, tmp_path):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False)
    ng.write_conf(ng.render(http_extra="ds_geoip_db %s;" %
                            (tmp_path / "nope.mmdb")))
    rc, out = ng.test_config()
    assert rc != 0
    assert "nope.mmdb" in out and "ds_geoip_db" in out


def test_corrupt_mmdb_fails_nginx_t(nginx, request, tmp_path):
    request.node.allow_log = ("[emerg]",)
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"this is not a maxmind db" * 100)
    ng = nginx(start=False)
    ng.write_conf(ng.render(http_extra="ds_geoip_db %s;" % bad))
    rc, out = ng.test_config()
    assert rc != 0
    assert "bad.mmdb" in out


# ------------------------------------------------------------ purpose

def purpose_policy():
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["purposes"] = ["FRAUD", "HPAYMT"]
    pol["recipients"][0]["tokens"].append(
        {"id": "fa-bound", "sha256": sha256_hex(TOKENS["fraud2"]),
         "purpose": "HPAYMT"})
    return pol


@pytest.mark.parametrize("value,status,reason", [
    ("FRAUD", 200, "allowed"),
    ("HPAYMT", 200, "allowed"),
    (None, 403, "purpose_missing"),
    ("TREAT", 403, "purpose_denied"),
    ("FRAUD; DROP", 400, "purpose_invalid"),
    ("F" * 65, 400, "purpose_invalid"),
])
def test_purpose_header(nginx, upstream, value, status, reason):
    ng = nginx(policy=purpose_policy(), location_extra=SHOW)
    h = {"X-DS-Purpose": value} if value is not None else {}
    r = get(ng, **h)
    assert r.status_code == status, r.text
    assert r.headers["X-Test-Reason"] == reason
    if status == 200:
        assert r.headers["X-Test-Purpose"] == value
    else:
        assert upstream.requests() == []
        if reason == "purpose_invalid":
            assert value not in r.text


def test_purpose_header_name_configurable(nginx):
    ng = nginx(policy=purpose_policy(),
               location_extra=SHOW + "\n ds_purpose_header X-Purpose-Of-Use;")
    assert get(ng, **{"X-Purpose-Of-Use": "FRAUD"}).status_code == 200
    assert get(ng, **{"X-DS-Purpose": "FRAUD"}).status_code == 403


def test_token_bound_purpose(nginx):
    ng = nginx(policy=purpose_policy(), location_extra=SHOW)
    r = get(ng, who="fraud2")
    assert r.status_code == 200
    assert r.headers["X-Test-Purpose"] == "HPAYMT"
    # an explicit header wins over the token's purpose
    r = get(ng, who="fraud2", **{"X-DS-Purpose": "TREAT"})
    assert r.status_code == 403
    assert r.headers["X-Test-Reason"] == "purpose_denied"


# ---------------------------------------------------------- contracts

def test_contract_ends_without_reload(nginx):
    pol = make_policy()
    pol["recipients"][0]["contract"]["valid_until"] = iso(time.time() + 3)
    ng = nginx(policy=pol, location_extra=SHOW)
    assert get(ng).status_code == 200

    def ended():
        r = get(ng)
        return [r] if r.status_code == 403 else None

    r, = wait_for(ended, timeout=15, interval=0.25, what="contract end")
    assert r.headers["X-Test-Reason"] == "contract_expired"
    assert r.json()["errorCode"] == "PERMISSION_DENIED"


def test_expired_attestation(nginx, upstream):
    pol = make_policy()
    pol["recipients"][0]["contract"]["attestations"] = [
        {"type": "BAA", "expires": iso(time.time() - 60)}]
    pol["recipients"][0]["grants"][0]["attestations"] = ["BAA"]
    ng = nginx(policy=pol, location_extra=SHOW)
    r = get(ng)
    assert r.status_code == 403
    assert r.headers["X-Test-Reason"] == "attestation_missing"
    assert upstream.requests() == []
