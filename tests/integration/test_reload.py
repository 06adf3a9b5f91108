"""Policy reloads: a broken policy never replaces the running one."""

import re

import requests

from conftest import bearer, make_policy, write_policy

SHARE = "/delta-sharing/shares/claims"
DIST = "/delta-sharing/shares/provider_directory"


def status(ng, path, who="fraud"):
    return requests.get(ng.url(path), headers=bearer(who), timeout=5)


def test_broken_reload_keeps_old_policy(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(location_extra="add_header X-V $ds_policy_version always;")
    r = status(ng, SHARE)
    assert r.status_code == 200
    version = r.headers["X-V"]
    assert re.fullmatch(r"[0-9a-f]{64}", version)

    with open(ng.policy_path, "w") as f:
        f.write('{"version": 1, "recipients": [\n  {"id": "x",,}\n]}\n')
    mark = ng.log_size()
    assert ng.reload() is False
    log = ng.log_since(mark)
    assert ng.policy_path in log
    assert re.search(re.escape(ng.policy_path) + r":2:\d+", log), log

    # the old rules still apply, the old version is still reported
    r = status(ng, SHARE)
    assert r.status_code == 200
    assert r.headers["X-V"] == version
    assert status(ng, DIST).status_code == 404


def test_semantic_error_names_json_path(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx()
    pol = make_policy()
    pol["recipients"][0]["tokens"][0]["sha256"] = "not-a-digest"
    write_policy(ng.policy_path, pol)
    mark = ng.log_size()
    assert ng.reload() is False
    log = ng.log_since(mark)
    assert "$.recipients[0].tokens[0].sha256" in log
    assert status(ng, SHARE).status_code == 200


def test_changed_policy_takes_effect(nginx):
    ng = nginx(location_extra="add_header X-V $ds_policy_version always;")
    r = status(ng, DIST)
    assert r.status_code == 404
    old = r.headers["X-V"]

    pol = make_policy()
    pol["recipients"][0]["grants"].append(
        {"share": "provider_directory", "schema": "*", "table": "*"})
    write_policy(ng.policy_path, pol)
    assert ng.reload()

    r = status(ng, DIST)
    assert r.status_code == 200
    assert r.headers["X-V"] != old


def test_nginx_t_reports_file_line_col(nginx, request, tmp_path):
    request.node.allow_log = ("[emerg]",)
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "version": 1,\n  "recipients": [ oops ]\n}\n')
    ng = nginx(policy_path=str(bad), start=False)
    rc, out = ng.test_config()
    assert rc != 0
    assert re.search(re.escape(str(bad)) + r":3:\d+", out), out
    assert "ds_policy" in out
