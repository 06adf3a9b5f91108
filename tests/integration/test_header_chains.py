"""Headers the module pushes end their own h->next chain. nginx >= 1.23
links same-named headers through h->next from the headers_out slot
(r->headers_out.www_authenticate) and walks that chain, as do modules
such as headers-more or njs; ngx_list_push() leaves next uninitialised.

Needs an nginx >= 1.23 (DS_NGINX) and the test-only walker module
tests/tools/ngx_chain_walk built against its sources (DS_NGINX_MODULES);
docs/hardening.md shows how. Skipped otherwise: nginx 1.22 has no next
field at all. glibc's MALLOC_PERTURB_ fills fresh allocations with a
pattern, so a stale next pointer is never a lucky NULL."""

import re
import subprocess

import pytest
import requests

from conftest import NGINX, NGINX_MODULES, PREFIX, bearer
from test_ratelimit import limited_policy, redis_conf


def nginx_version():
    out = subprocess.run([NGINX, "-v"], capture_output=True,
                         text=True).stderr
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


pytestmark = pytest.mark.skipif(
    nginx_version() < (1, 23, 0)
    or not any("chain_walk" in m for m in NGINX_MODULES),
    reason="needs nginx >= 1.23 and tests/tools/ngx_chain_walk "
           "(DS_NGINX, DS_NGINX_MODULES)")


@pytest.fixture(autouse=True)
def perturbed_malloc(monkeypatch):
    # nginx inherits it (conftest's nginx_env copies the environment)
    monkeypatch.setenv("MALLOC_PERTURB_", "85")


def one_www_authenticate(r):
    assert r.status_code == 401, r.status_code
    assert len(r.raw.headers.getlist("WWW-Authenticate")) == 1
    # the walker followed next from the slot: one entry, then NULL
    assert r.headers["X-Chain-WWW-Authenticate"] == "1"


def test_www_authenticate_chain_ends(nginx):
    ng = nginx(location_extra="chain_walk on;")
    url = ng.url(PREFIX + "/shares")
    for _ in range(20):
        r = requests.get(url, timeout=5)
        one_www_authenticate(r)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        r = requests.get(url, headers=bearer("not-a-token"), timeout=5)
        one_www_authenticate(r)
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_revoked_token_chain_ends(nginx, redis):
    # the 401 of a live revocation is answered from the Redis reply
    ng = nginx(policy=limited_policy({"requests": 100, "per": "minute"}),
               http_extra=redis_conf(redis),
               location_extra="chain_walk on;")
    r = requests.get(ng.url(PREFIX + "/shares"), headers=bearer("fraud"),
                     timeout=5)
    assert r.status_code == 200
    assert len(r.raw.headers.getlist("RateLimit-Limit")) == 1
    assert "X-Chain-WWW-Authenticate" not in r.headers

    assert redis.cli("SADD", "ds:{fraud-analytics}:revoked_tokens",
                     "fa-1") == "1"
    for _ in range(10):
        r = requests.get(ng.url(PREFIX + "/shares"),
                         headers=bearer("fraud"), timeout=5)
        one_www_authenticate(r)
        assert r.headers["X-DS-RateLimit"] == "revoked"
