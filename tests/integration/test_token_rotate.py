"""dsctl token rotate (issue #18): a new token and profile, the exact
policy change with the old tokens' new expiry; then through real nginx
both tokens work during the grace period."""

import json
import os
import time

import requests

from conftest import (PREFIX, TOKENS, bearer, dsctl, iso, make_policy,
                      sha256_hex, write_policy)

SHARE = PREFIX + "/shares/claims"


def rotate(policy_path, profile, *extra):
    return dsctl("token", "rotate", "--recipient", "fraud-analytics",
                 "--grace", "7d", "--policy", policy_path,
                 "--profile-out", str(profile),
                 "--endpoint", "https://gw.example.com/delta-sharing/",
                 *extra)


def staged_policy():
    pol = make_policy()
    pol["recipients"][0]["tokens"].append(
        {"id": "fa-staged", "sha256": sha256_hex("staged-token-x"),
         "not_before": iso(time.time() + 30 * 86400)})
    return pol


def apply(policy, change):
    """What the reviewer does with the printed change."""
    r = [x for x in policy["recipients"] if x["id"] == change["recipient"]][0]
    cut = {c["id"]: c["expires"] for c in change["set_expires"]}
    r["tokens"] = [t for t in r["tokens"]
                   if t["id"] not in change["remove_tokens"]]
    for t in r["tokens"]:
        if t["id"] in cut:
            t["expires"] = cut[t["id"]]
    r["tokens"].append(change["add_token"])
    return policy


def test_rotate_prints_the_change_and_both_tokens_work(tmp_path, nginx):
    pol = staged_policy()
    path = write_policy(tmp_path / "p.json", pol)
    profile = tmp_path / "fa.share"
    before = time.time()
    r = rotate(path, profile)
    assert r.returncode == 0, r.stderr
    change = json.loads(r.stdout)

    days = {time.strftime("%Y%m%d", time.gmtime(t))
            for t in (before, time.time())}         # midnight in between
    assert change["recipient"] == "fraud-analytics"
    assert change["file"] == path
    assert change["add_token"]["id"] in {"fraud-analytics-" + d
                                         for d in days}
    # fa-1 had no expiry: now it ends in 7 days; fa-expired is left alone
    assert [c["id"] for c in change["set_expires"]] == ["fa-1"]
    assert change["set_expires"][0]["was"] == "never"
    cut = time.mktime(time.strptime(change["set_expires"][0]["expires"],
                                    "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before + 7 * 86400 - 2 <= cut <= time.time() + 7 * 86400
    # a token that would only start after the grace period is removed
    assert change["remove_tokens"] == ["fa-staged"]
    assert 'token "fa-1": set "expires"' in r.stderr

    prof = json.loads(profile.read_text())
    assert oct(os.stat(profile).st_mode & 0o777) == "0o600"
    assert prof["endpoint"] == "https://gw.example.com/delta-sharing/"
    assert sha256_hex(prof["bearerToken"]) == change["add_token"]["sha256"]
    # the secret is only in the profile
    assert prof["bearerToken"] not in r.stdout + r.stderr

    new = apply(pol, change)
    path2 = write_policy(tmp_path / "p2.json", new)
    assert dsctl("policy", "check", path2).returncode == 0

    ng = nginx(policy=new)
    for tok in (TOKENS["fraud"], prof["bearerToken"]):
        r = requests.get(ng.url(SHARE), headers=bearer(tok), timeout=5)
        assert r.status_code == 200, r.text

    # after the grace period: the old token is expired, the new one works
    later = iso(time.time() + 8 * 86400)
    r = dsctl("policy", "explain", path2, "--token-id", "fa-1", "--at",
              later, "GET", SHARE)
    assert r.returncode == 1 and "reason:     token_expired" in r.stdout
    r = dsctl("policy", "explain", path2, "--token-id",
              change["add_token"]["id"], "--at", later, "GET", SHARE)
    assert r.returncode == 0, r.stdout


def test_rotate_refusals(tmp_path):
    pol = make_policy()
    pol["token_max_lifetime"] = "30d"
    for rec in pol["recipients"]:
        for t in rec["tokens"]:
            t.setdefault("expires", iso(time.time() + 86400))
    path = write_policy(tmp_path / "p.json", pol)

    # longer than the policy's maximum lifetime: nothing minted
    r = rotate(path, tmp_path / "a.share", "--ttl", "60d")
    assert r.returncode == 2
    assert "maximum token lifetime" in r.stderr
    assert not (tmp_path / "a.share").exists()

    r = rotate(path, tmp_path / "b.share", "--token-id", "fa-1")
    assert r.returncode == 1
    assert 'token id "fa-1" is already in' in r.stderr

    r = dsctl("token", "rotate", "--recipient", "nobody", "--grace", "7d",
              "--policy", path, "--profile-out", str(tmp_path / "c.share"))
    assert r.returncode == 1
    assert 'recipient "nobody" is not in' in r.stderr

    r = dsctl("token", "rotate", "--recipient", "fraud-analytics",
              "--policy", path, "--profile-out", str(tmp_path / "d.share"))
    assert r.returncode == 2
    r = dsctl("token", "rotate", "--recipient", "fraud-analytics",
              "--grace", "7d", "--profile-out", str(tmp_path / "e.share"))
    assert r.returncode == 2
    assert not any(tmp_path.glob("*.share"))
