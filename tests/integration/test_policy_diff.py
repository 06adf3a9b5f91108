"""dsctl policy diff over a real git repository made at test time: the
words a reviewer reads, --fail-on-widen exit codes, --json (issue #18)."""

import copy
import json
import os
import subprocess

import pytest

from conftest import DSCTL
from conftest import make_policy as _make_policy

# one instant for every revision: make_policy() dates contracts from now
_BASE = _make_policy()


def make_policy():
    return copy.deepcopy(_BASE)


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo)] + list(args), check=True,
                   capture_output=True, text=True)


def write_split(repo, policy):
    """One file per recipient under policies/, as teams keep them."""
    d = os.path.join(str(repo), "policies")
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    for i, r in enumerate(policy["recipients"]):
        with open(os.path.join(d, "%02d-%s.json" % (i, r["id"])), "w") as f:
            json.dump({"version": 1, "recipients": [r]}, f, indent=2)


def commit(repo, policy, msg):
    write_split(repo, policy)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", msg)


def diff(repo, *args):
    return subprocess.run([DSCTL, "policy", "diff"] + list(args),
                          cwd=str(repo), capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q")
    git(r, "config", "user.email", "ci@example.com")
    git(r, "config", "user.name", "CI")
    git(r, "config", "commit.gpgsign", "false")
    commit(r, make_policy(), "base")
    return r


def widened_policy():
    pol = make_policy()
    fa = pol["recipients"][0]
    fa["grants"][0]["operations"] = ["read", "temporary_table_credentials"]
    fa["grants"].append({"share": "internal_finance", "schema": "ledger",
                         "table": "reserves"})
    fa["networks"] = {"allow": ["192.0.2.0/24"]}
    del pol["recipients"][2]                    # suspended-co removed
    return pol


def test_diff_of_two_commits_in_words(repo):
    commit(repo, widened_policy(), "widen")
    r = diff(repo, "HEAD~1:policies", "HEAD:policies")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "recipient fraud-analytics\n" in out
    assert ("  WIDEN   grant claims/*/*: operations added: "
            "temporary_table_credentials\n") in out
    assert ("  WIDEN   grant internal_finance/ledger/reserves: grant "
            "added: ") in out
    assert ("  NARROW  recipient: network allow list added: only "
            "192.0.2.0/24\n") in out
    assert "recipient suspended-co\n  NARROW  recipient: recipient " \
        "removed\n" in out
    assert out.rstrip().endswith("HEAD~1:policies -> HEAD:policies: "
                                 "2 widening(s), 2 narrowing(s), 0 other "
                                 "change(s)")
    # distribution-partner did not change: not mentioned
    assert "distribution-partner" not in out


def test_fail_on_widen_exit_codes(repo):
    commit(repo, widened_policy(), "widen")
    r = diff(repo, "HEAD~1:policies", "HEAD:policies", "--fail-on-widen")
    assert r.returncode == 3
    assert "access widens" in r.stderr

    # narrowing only: passes
    pol = widened_policy()
    pol["recipients"][0]["grants"][0]["operations"] = ["read"]
    pol["recipients"][0]["grants"].pop()
    pol["recipients"][0]["networks"] = {"allow": ["192.0.2.0/25"]}
    commit(repo, pol, "narrow")
    r = diff(repo, "HEAD~1:policies", "HEAD:policies", "--fail-on-widen")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 widening(s), 3 narrowing(s)" in r.stdout

    # the same tree: nothing at all
    r = diff(repo, "HEAD:policies", "HEAD:policies", "--fail-on-widen")
    assert r.returncode == 0
    assert "0 widening(s), 0 narrowing(s), 0 other" in r.stdout

    # any two revisions: base -> widen still fails, base -> now does not
    r = diff(repo, "HEAD~2:policies", "HEAD~1:policies", "--fail-on-widen")
    assert r.returncode == 3
    r = diff(repo, "HEAD~2:policies", "HEAD:policies", "--fail-on-widen")
    assert r.returncode == 0


def test_json_output(repo):
    commit(repo, widened_policy(), "widen")
    r = diff(repo, "HEAD~1:policies", "HEAD:policies", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["widened"] is True
    assert doc["counts"] == {"widen": 2, "narrow": 2, "change": 0}
    assert {"recipient": "fraud-analytics", "kind": "widen",
            "subject": "grant claims/*/*",
            "text": "operations added: temporary_table_credentials"} \
        in doc["changes"]
    assert {"recipient": "suspended-co", "kind": "narrow",
            "subject": "recipient", "text": "recipient removed"} \
        in doc["changes"]


def test_working_tree_file_and_revision_file(repo):
    write_split(repo, widened_policy())         # not committed
    r = diff(repo, "HEAD:policies", "policies", "--fail-on-widen")
    assert r.returncode == 3
    r = diff(repo, "HEAD:policies/00-fraud-analytics.json",
             "policies/00-fraud-analytics.json")
    assert r.returncode == 0
    assert "2 widening(s), 1 narrowing(s)" in r.stdout


def test_invalid_side_named_by_revision(repo):
    pol = make_policy()
    pol["recipients"][0]["networks"] = {"allow": ["10.1.0.0/8"]}
    commit(repo, pol, "broken")
    r = diff(repo, "HEAD~1:policies", "HEAD:policies")
    assert r.returncode == 1
    assert ("HEAD:policies/00-fraud-analytics.json: $.recipients[0]"
            ".networks.allow[0]: bad network \"10.1.0.0/8\": host bits "
            "set") in r.stderr
    r = diff(repo, "nosuchrev:policies", "HEAD:policies")
    assert r.returncode == 2
    assert "not a file, a directory or a git revision:path" in r.stderr
    r = diff(repo, "HEAD:policies")
    assert r.returncode == 2
