"""Geography databases as users have them: each layout written by the
real MaxMind::DB::Writer at test time (tests/tools/make_mmdb.pl
--layout), read through the real nginx binary with the module."""

import os
import shutil
import re
import subprocess

import pytest
import requests

from conftest import PREFIX, REPO, bearer, make_policy

VERSION = PREFIX + \
    "/shares/claims/schemas/adjudicated/tables/medical_claims/version"

REALIP = """
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;"""

SHOW = """
            add_header X-Test-Country $ds_country always;
            add_header X-Test-Reason $ds_reason always;"""

# (make_mmdb.pl options, the layout nginx -t should report)
LAYOUTS = {
    "geoip2": ([], "geoip2"),
    "dbip": (["--layout", "dbip"], "dbip"),
    "ipinfo": (["--layout", "ipinfo"], "ipinfo"),
    "ipinfo-lite": (["--layout", "ipinfo-lite"], "ipinfo"),
    "ip-location-db": (["--layout", "ip-location-db"], "ip-location-db"),
    "ip-location-db-v4": (["--layout", "ip-location-db", "--ip-version", "4"],
                          "ip-location-db"),
}


@pytest.fixture(scope="module")
def make_db(tmp_path_factory):
    made = {}
    d = tmp_path_factory.mktemp("layouts")

    def make(*opts):
        key = " ".join(opts)
        if key not in made:
            out = str(d / ("db%d.mmdb" % len(made)))
            subprocess.run(["perl", os.path.join(REPO, "tests", "tools",
                                                 "make_mmdb.pl")]
                           + list(opts) + [out], check=True)
            made[key] = out
        return made[key]
    return make


def policy():
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["countries"] = {"allow": ["US", "DE"]}
    return pol


def start(nginx, db, params="", location_extra=SHOW, server_extra=""):
    return nginx(policy=policy(),
                 http_extra="    ds_geoip_db %s%s;\n" %
                 (db, " " + params if params else ""),
                 server_extra=REALIP + server_extra,
                 location_extra=location_extra)


def get(ng, xff):
    return requests.get(ng.url(VERSION), timeout=5,
                        headers=dict(bearer("fraud"),
                                     **{"X-Forwarded-For": xff}))


def conf_test(nginx, db, params=""):
    ng = nginx(start=False)
    ng.write_conf(ng.render(http_extra="    ds_geoip_db %s%s;" %
                            (db, " " + params if params else "")))
    return ng.test_config()


# one line per client: (X-Forwarded-For, status, country, reason)
CLIENTS = [
    ("198.51.100.7", 200, "DE", "allowed"),
    ("127.0.1.9", 200, "DE", "allowed"),
    ("192.0.2.10", 200, "US", "allowed"),
    ("203.0.113.9", 403, "CN", "country_denied"),
    ("127.0.2.2", 403, "FR", "country_denied"),
    ("127.0.4.1", 403, "", "country_unknown"),
]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_country_rule_under_each_layout(nginx, make_db, upstream, name):
    opts, layout = LAYOUTS[name]
    db = make_db(*opts)
    ng = start(nginx, db)
    # nginx -t (run by start) says what it found, at notice level
    log = ng.log_since(0)
    assert re.search(r'ds_geoip_db: "%s" .*layout "%s"' %
                     (re.escape(db), re.escape(layout)), log), log
    for xff, status, country, reason in CLIENTS:
        r = get(ng, xff)
        assert (r.status_code, r.headers.get("X-Test-Country", ""),
                r.headers["X-Test-Reason"]) == (status, country, reason), xff
    assert len(upstream.requests()) == 3


@pytest.mark.parametrize("name,params", [
    ("ip-location-db", "path=country_code"),
    ("geoip2", "path=country.iso_code"),
    # tried in order: the first that has a code wins
    ("ipinfo", "path=country_name path=country"),
    ("dbip", "path=registered_country.iso_code path=country.iso_code"),
])
def test_explicit_path(nginx, make_db, name, params):
    db = make_db(*LAYOUTS[name][0])
    ng = start(nginx, db, params)
    assert "as configured" in ng.log_since(0)
    for xff, status, country, reason in CLIENTS:
        r = get(ng, xff)
        assert r.status_code == status, xff
        assert r.headers.get("X-Test-Country", "") == country


def test_path_list_falls_through(nginx, make_db):
    # no record has country.iso_code here: the next path answers
    db = make_db("--layout", "ip-location-db")
    ng = start(nginx, db, "path=country.iso_code path=country_code")
    assert get(ng, "198.51.100.7").headers["X-Test-Country"] == "DE"


def test_wrong_explicit_path_fails_nginx_t(nginx, make_db, request):
    request.node.allow_log = ("[emerg]",)
    db = make_db("--layout", "ip-location-db")
    rc, out = conf_test(nginx, db, "path=country.iso_code")
    assert rc != 0
    assert "no country code in \"%s\"" % db in out, out
    assert "at country.iso_code" in out
    # what a record looks like (keys only, never values)
    assert "a record has: country_code" in out
    assert "DE" not in out.replace(db, "")


def test_db_without_country_fails_nginx_t(nginx, make_db, request):
    request.node.allow_log = ("[emerg]",)
    db = make_db("--layout", "asn")
    rc, out = conf_test(nginx, db)
    assert rc != 0
    assert "no country code in \"%s\"" % db in out, out
    assert 'database_type "GeoLite2-ASN"' in out
    # the paths tried, what a record has and what to do about it
    for path in ("country.iso_code", "registered_country.iso_code",
                 "country_code"):
        assert path in out
    assert "autonomous_system_number autonomous_system_organization" in out
    assert "path=" in out


def test_layout_named_db_that_is_another_layout(nginx, make_db):
    # what counts is where the sampled records have codes, not the
    # name: an ipinfo-lite file has "country" too, but as the name
    db = make_db("--layout", "ipinfo-lite")
    ng = start(nginx, db)
    assert 'layout "ipinfo", country from country_code, country' in \
        ng.log_since(0)
    assert get(ng, "127.0.3.3").headers["X-Test-Country"] == "CN"


@pytest.mark.parametrize("path,why", [
    ("path=", "is empty"),
    ("path=country..iso_code", "empty key"),
    ("path=.country", "empty key"),
    ("path=a.b.c.d.e.f.g.h.i", "too many keys"),
    ("where=country_code", "invalid parameter"),
])
def test_bad_path_parameter_fails_nginx_t(nginx, make_db, request, path,
                                          why):
    request.node.allow_log = ("[emerg]",)
    rc, out = conf_test(nginx, make_db(), path)
    assert rc != 0
    assert why in out, out
    assert "ds_geoip_db" in out


def test_too_many_paths_fails_nginx_t(nginx, make_db, request):
    request.node.allow_log = ("[emerg]",)
    rc, out = conf_test(nginx, make_db(), " ".join(["path=a"] * 5))
    assert rc != 0
    assert "at most 4 path=" in out, out


# ------------------------------------------- IPv4 clients in IPv6 form

# 198.51.100.7 is c633:6407; 203.0.113.9 is cb00:7109; 127.0.1.9 is
# 7f00:109
MAPPED = [
    ("::ffff:198.51.100.7", 200, "DE"),
    ("::ffff:203.0.113.9", 403, "CN"),
    ("::ffff:127.0.1.9", 200, "DE"),
    ("::ffff:127.0.4.1", 403, ""),
    ("2002:c633:6407::1", 200, "DE"),
    ("2002:cb00:7109:5::9", 403, "CN"),
    ("2002:7f00:109::", 200, "DE"),
    ("2002:7f00:401::1", 403, ""),
]


@pytest.mark.parametrize("name", ["ip-location-db", "ip-location-db-v4",
                                  "geoip2-no-alias"])
def test_mapped_and_6to4_are_ipv4_clients(nginx, make_db, name):
    # ip-location-db files do not alias ::ffff:0:0/96 or 2002::/16 to
    # their IPv4 records, and an IPv4-only file cannot (MaxMind's own
    # files do alias: there the answer was right before too)
    opts = ["--no-alias"] if name == "geoip2-no-alias" else \
        LAYOUTS[name][0]
    ng = start(nginx, make_db(*opts))
    for xff, status, country in MAPPED:
        r = get(ng, xff)
        assert (r.status_code, r.headers.get("X-Test-Country", "")) == \
            (status, country), xff
    assert "lookup in" not in ng.log_since(0)


def test_mapped_and_plain_share_the_cache_correctly(nginx, make_db):
    # the cache keys on the IPv4 address: the same client either way,
    # a different client never
    ng = start(nginx, make_db("--layout", "ip-location-db"))
    seq = [("198.51.100.7", "DE"), ("::ffff:198.51.100.7", "DE"),
           ("::ffff:203.0.113.9", "CN"), ("203.0.113.9", "CN"),
           ("2002:cb00:7109::", "CN"), ("2002:c633:6407::", "DE"),
           ("2001:db8:2::17", "DE"), ("::ffff:198.51.100.7", "DE")]
    for xff, country in seq:
        assert get(ng, xff).headers["X-Test-Country"] == country, xff


def test_ipv6_client_in_ipv4_only_db(nginx, make_db):
    # a real IPv6 client has no country there, and that is not an error
    ng = start(nginx, make_db("--layout", "ip-location-db",
                              "--ip-version", "4"))
    r = get(ng, "2001:db8:2::17")
    assert r.status_code == 403
    assert r.headers["X-Test-Reason"] == "country_unknown"
    assert "[error]" not in ng.log_since(0)


def test_mapped_on_unenforced_location(nginx, make_db):
    ng = start(nginx, make_db("--layout", "ip-location-db"),
               server_extra="\n        location = /where { "
               "add_header X-C $ds_country; return 204; }")
    r = requests.get(ng.url("/where"), timeout=5,
                     headers={"X-Forwarded-For": "::ffff:198.51.100.1"})
    assert r.status_code == 204
    assert r.headers["X-C"] == "DE"


def test_reload_with_a_db_without_country_is_refused(nginx, make_db,
                                                     request, tmp_path):
    request.node.allow_log = ("[emerg]",)
    live = str(tmp_path / "country.mmdb")
    shutil.copy(make_db(), live)
    ng = start(nginx, live)
    assert get(ng, "198.51.100.7").headers["X-Test-Country"] == "DE"

    # the update an operator gets wrong: an ASN file under the name
    shutil.copy(make_db("--layout", "asn"), live + ".new")
    os.rename(live + ".new", live)
    mark = ng.log_size()
    assert ng.reload() is False
    assert "no country code in \"%s\"" % live in ng.log_since(mark)
    assert get(ng, "198.51.100.7").headers["X-Test-Country"] == "DE"

    # another layout under the same name is fine: detected again
    shutil.copy(make_db("--layout", "ip-location-db"), live + ".new")
    os.rename(live + ".new", live)
    mark = ng.log_size()
    assert ng.reload() is True
    assert 'layout "ip-location-db"' in ng.log_since(mark)
    r = get(ng, "203.0.113.9")
    assert (r.status_code, r.headers["X-Test-Country"]) == (403, "CN")
