"""Classifications and approvals (issue #18): a grant touching a tagged
share needs an approval (nginx -t and dsctl policy check agree), an
expired approval ends the grant through real nginx (approval_expired),
and dsctl policy check holds approvers apart from the change's author,
taken from a flag or from git."""

import json
import os
import subprocess
import time

import requests

from conftest import (DSCTL, PREFIX, bearer, dsctl, iso, make_policy,
                      write_policy)

TABLE = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims"
SHOW = """
            add_header X-Test-Reason $ds_reason always;"""


def approval(by="kim@example.com", ticket="SEC-7", days=(-10, 90)):
    now = time.time()
    a = {"approver": by, "ticket": ticket, "date": iso(now + days[0] * 86400)}
    if days[1] is not None:
        a["expires"] = iso(now + days[1] * 86400)
    return a


def classified_policy(fa_approval=None, separate=False):
    pol = make_policy()
    pol["classifications"] = [{"share": "claims", "tags": ["PHI"]}]
    pol["approvals"] = {"required_for": ["PHI"]}
    if separate:
        pol["approvals"]["separate_author"] = True
    # every grant on claims needs one: suspended-co's too
    pol["recipients"][2]["grants"][0]["approval"] = approval(by="lee")
    if fa_approval is not None:
        pol["recipients"][0]["grants"][0]["approval"] = fa_approval
    return pol


def test_missing_approval_fails_nginx_t_and_check(nginx, request):
    why = 'an "approval" is required'
    request.node.allow_log = (why,)
    ng = nginx(policy=classified_policy(), start=False)
    rc, out = ng.test_config()
    assert rc != 0
    expect = ('%s: $.recipients[0].grants[0]: an "approval" is required: '
              'the grant touches claims/*/*, classified PHI (in %s), and '
              '"approvals" requires one for PHI (in %s)'
              % (ng.policy_path, ng.policy_path, ng.policy_path))
    assert expect in out
    r = dsctl("policy", "check", ng.policy_path)
    assert r.returncode == 1
    assert expect in r.stderr


def test_expired_approval_ends_the_grant(nginx, upstream, tmp_path):
    pol = classified_policy(approval(days=(-100, -1)))
    ng = nginx(policy=pol, location_extra=SHOW)
    upstream.reset()
    r = requests.get(ng.url(TABLE + "/version"), headers=bearer("fraud"),
                     timeout=5)
    assert r.status_code == 403
    assert r.headers["X-Test-Reason"] == "approval_expired"
    assert r.json()["message"] == ("The approval for access to this data "
                                   "has expired")
    assert upstream.requests() == []

    # the other recipient's unclassified grant is not affected
    r = requests.get(ng.url(PREFIX + "/shares/provider_directory"),
                     headers=bearer("dist"), timeout=5)
    assert r.status_code == 200

    # CI refuses it, naming the grant and the ticket
    r = dsctl("policy", "check", ng.policy_path)
    assert r.returncode == 1
    assert ("$.recipients[0].grants[0].approval.expires: the approval "
            "(ticket SEC-7, by kim@example.com) expired at") in r.stderr

    # renewed: allowed again without touching nginx's clock
    pol["recipients"][0]["grants"][0]["approval"] = approval()
    write_policy(ng.policy_path, pol)
    ng.reload()
    r = requests.get(ng.url(TABLE + "/version"), headers=bearer("fraud"),
                     timeout=5)
    assert r.status_code == 200, r.text


def test_expiring_lists_approvals(tmp_path):
    p = write_policy(tmp_path / "p.json",
                     classified_policy(approval(days=(-10, 5))))
    r = dsctl("policy", "expiring", p, "--within", "30d", "--format", "json")
    assert r.returncode == 0, r.stderr
    items = [(i["kind"], i["recipient"], i["id"])
             for i in json.loads(r.stdout)["items"]]
    assert ("approval", "fraud-analytics", "grant claims/*/*") in items


def test_separate_author_from_flag(tmp_path):
    p = write_policy(tmp_path / "p.json",
                     classified_policy(approval(by="Kim@Example.com"),
                                       separate=True))
    r = dsctl("policy", "check", p, "--author", "kim@example.com")
    assert r.returncode == 1
    assert ('%s: $.recipients[0].grants[0].approval.approver: '
            '"Kim@Example.com" wrote this change; the policy requires '
            'another approver (approvals.separate_author in %s)' % (p, p)) \
        in r.stderr
    r = dsctl("policy", "check", p, "--author", "pat@example.com")
    assert r.returncode == 0, r.stderr
    # without an author: checked for the rest, and a warning says so
    r = dsctl("policy", "check", p)
    assert r.returncode == 0
    assert "give --author EMAIL or --author-from-git" in r.stderr


def git(repo, *args, email="kim@example.com"):
    env = dict(os.environ, GIT_AUTHOR_NAME="x", GIT_AUTHOR_EMAIL=email,
               GIT_COMMITTER_NAME="x", GIT_COMMITTER_EMAIL=email)
    subprocess.run(["git", "-C", str(repo)] + list(args), check=True,
                   capture_output=True, env=env)


def test_separate_author_from_git_with_base(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    path = str(repo / "policy.json")

    # kim approved the grant in a change lee wrote
    write_policy(path, classified_policy(approval(by="kim@example.com"),
                                         separate=True))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "grant", email="lee@example.com")

    def check(*extra):
        return subprocess.run([DSCTL, "policy", "check", "policy.json",
                               "--author-from-git"] + list(extra),
                              cwd=str(repo), capture_output=True, text=True,
                              timeout=60)

    assert check().returncode == 0

    # kim now changes something else: her old sign-off is not hers to
    # judge against the base, but without --base every one counts
    pol = json.load(open(path))
    pol["recipients"][1]["display_name"] = "Renamed"
    write_policy(path, pol)
    git(repo, "commit", "-q", "-am", "rename", email="kim@example.com")
    r = check()
    assert r.returncode == 1
    assert '"kim@example.com" wrote this change' in r.stderr
    r = check("--base", "HEAD~1:policy.json")
    assert r.returncode == 0, r.stderr

    # kim widens the grant and approves it herself: refused
    pol["recipients"][0]["grants"][0]["approval"] = approval(
        by="kim@example.com", ticket="SEC-8")
    pol["recipients"][0]["grants"][0]["operations"] = ["all"]
    write_policy(path, pol)
    git(repo, "commit", "-q", "-am", "widen", email="kim@example.com")
    r = check("--base", "HEAD~1:policy.json")
    assert r.returncode == 1
    assert ("$.recipients[0].grants[0].approval.approver: "
            "\"kim@example.com\" wrote this change") in r.stderr


def test_json_schema_knows_approvals():
    import pytest
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.load(open(os.path.join(os.path.dirname(__file__), "..",
                                         "..", "policies",
                                         "ds-policy.schema.json")))
    v = jsonschema.Draft202012Validator(schema)
    v.validate(classified_policy(approval(), separate=True))
    bad = classified_policy(approval())
    del bad["recipients"][0]["grants"][0]["approval"]["ticket"]
    assert not v.is_valid(bad)
    bad = classified_policy(approval())
    bad["classifications"][0]["tags"] = []
    assert not v.is_valid(bad)
