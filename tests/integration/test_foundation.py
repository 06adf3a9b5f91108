"""The module loads, `nginx -t` accepts it with a policy, and locations
without ds_enforce are untouched."""

import os

import requests

from conftest import REPO, make_policy, bearer

EXAMPLE = os.path.join(REPO, "policies", "example")


def test_loads_and_serves_unenforced_location(nginx):
    ng = nginx()
    r = requests.get(ng.url("/plain"), timeout=5)
    assert r.status_code == 200
    assert r.text == "plain\n"


def test_nginx_t_with_example_policy(nginx):
    path = EXAMPLE if os.path.exists(EXAMPLE) else None
    ng = nginx(policy=make_policy(), policy_path=path, start=False)
    rc, out = ng.test_config()
    assert rc == 0, out
    assert "syntax is ok" in out


def test_enforce_without_policy_is_config_error(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False)
    ng.write_conf(ng.render(policy_path=None))
    rc, out = ng.test_config()
    assert rc != 0
    assert "requires \"ds_policy\"" in out


def test_bad_prefix_is_config_error(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False)
    ng.write_conf(ng.render(location_extra="ds_prefix /x/;"))
    rc, out = ng.test_config()
    assert rc != 0
    assert "ds_prefix" in out


def test_enforced_location_proxies_allowed_call(nginx, upstream):
    ng = nginx()
    r = requests.get(ng.url("/delta-sharing/shares/claims"),
                     headers=bearer("fraud"), timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["share"]["name"] == "claims"
    assert len(upstream.requests()) == 1
