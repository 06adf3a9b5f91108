"""dsctl policy check|explain|expiring and dsctl token new, run as the
real binary (no nginx needed). The policy files are written by the same
make_policy() the gateway tests use, and the example policy is the one
`make run` serves."""

import hashlib
import json
import os
import re
import stat
import time

import pytest

from conftest import REPO, TOKENS, dsctl, iso, make_policy, sha256_hex, \
    write_policy

EXAMPLE = os.path.join(REPO, "policies", "example")
SCHEMA = os.path.join(REPO, "policies", "ds-policy.schema.json")
QUERY = "/delta-sharing/shares/claims/schemas/adjudicated/tables/medical_claims/query"


def fields(out):
    """`key: value` lines of explain's output -> dict."""
    d = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        d[k.strip()] = v.strip()
    return d


# ------------------------------------------------------------------ check

def test_check_example_ok():
    r = dsctl("policy", "check", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(
        re.escape(EXAMPLE) + r": ok \(3 recipients, 4 tokens, digest [0-9a-f]{8}\)\n",
        r.stdout), r.stdout
    assert r.stderr == ""


def test_check_harness_policy_ok(tmp_path):
    p = write_policy(tmp_path / "p.json", make_policy())
    r = dsctl("policy", "check", p)
    assert r.returncode == 0, r.stderr
    assert "ok (3 recipients, 4 tokens, digest " in r.stdout


def test_check_digest_follows_content(tmp_path):
    a = write_policy(tmp_path / "a.json", make_policy())
    first = dsctl("policy", "check", a).stdout.split("digest ")[1]
    again = dsctl("policy", "check", a).stdout.split("digest ")[1]
    pol = make_policy()
    pol["recipients"][1]["status"] = "suspended"
    write_policy(tmp_path / "a.json", pol)
    changed = dsctl("policy", "check", a).stdout.split("digest ")[1]
    assert first == again
    assert first != changed


def test_check_semantic_error(tmp_path):
    pol = make_policy()
    pol["recipients"][1]["tokens"][0]["sha256"] = "ABC"
    p = write_policy(tmp_path / "bad.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == ("%s: $.recipients[1].tokens[0].sha256: must be 64 "
                        "lowercase hex digits\n" % p)


def test_check_unknown_field_and_operation(tmp_path):
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["operations"] = ["read", "drop_table"]
    p = write_policy(tmp_path / "ops.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert r.stderr == ('%s: $.recipients[0].grants[0].operations[1]: unknown '
                        'operation "drop_table"\n' % p)

    pol = make_policy()
    pol["recipients"][2]["contries"] = {"allow": ["US"]}
    p = write_policy(tmp_path / "typo.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert r.stderr == "%s: $.recipients[2].contries: unknown field\n" % p


def test_check_syntax_error_has_line_and_column(tmp_path):
    p = tmp_path / "syntax.json"
    p.write_text('{"version": 1,\n  "recipients": [\n    {"id": "a",}\n  ]}\n')
    r = dsctl("policy", "check", str(p))
    assert r.returncode == 1
    assert r.stderr.startswith("%s:3:16: syntax error: " % p), r.stderr


def test_check_directory_duplicates_across_files(tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    pol = make_policy()
    write_policy(d / "a.json", {"version": 1, "recipients": pol["recipients"][:1]})
    write_policy(d / "b.json", {"version": 1, "recipients": pol["recipients"][1:]})
    r = dsctl("policy", "check", str(d))
    assert r.returncode == 0, r.stderr
    assert "ok (3 recipients" in r.stdout

    # the same token digest handed to a second recipient in another file
    dup = json.loads(json.dumps(pol["recipients"][1]))
    dup["id"] = "copycat"
    dup["tokens"][0]["id"] = "cc-1"
    write_policy(d / "c.json", {"version": 1, "recipients": [dup]})
    r = dsctl("policy", "check", str(d))
    assert r.returncode == 1
    assert r.stderr == (
        '%s/c.json: $.recipients[0].tokens[0].sha256: duplicate token digest '
        '(also token "dp-1" of recipient "distribution-partner" in %s/b.json)\n'
        % (d, d))


def test_check_usage_errors():
    assert dsctl("policy", "check").returncode == 2
    assert dsctl("policy", "check", "a", "b").returncode == 2
    assert dsctl("policy", "frobnicate").returncode == 2
    assert dsctl("policy").returncode == 2
    r = dsctl("policy", "check", "/nonexistent/policy.json")
    assert r.returncode == 1
    assert "cannot open" in r.stderr


# ---------------------------------------------------------------- explain

@pytest.fixture
def policy_file(tmp_path):
    return write_policy(tmp_path / "p.json", make_policy())


def test_explain_allow_by_token_id(policy_file):
    r = dsctl("policy", "explain", policy_file, "--token-id", "fa-1",
              "POST", QUERY)
    assert r.returncode == 0, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["decision"] == "allow"
    assert f["reason"] == "allowed"
    assert f["status"] == "200"
    assert f["recipient"] == "fraud-analytics"
    assert f["token id"] == "fa-1"
    assert f["operation"] == "query_table"
    assert f["table"] == "medical_claims"


def test_explain_denials(policy_file):
    # another recipient's share: looks like it does not exist
    r = dsctl("policy", "explain", policy_file, "--recipient",
              "distribution-partner", "GET", "/delta-sharing/shares/claims")
    assert r.returncode == 1
    f = fields(r.stdout)
    assert (f["decision"], f["reason"]) == ("deny", "not_entitled")
    assert f["status"] == "404 RESOURCE_DOES_NOT_EXIST"
    assert "claims" not in f["message"]

    r = dsctl("policy", "explain", policy_file, "--token-id", "fa-expired",
              "GET", "/delta-sharing/shares")
    assert r.returncode == 1
    assert fields(r.stdout)["reason"] == "token_expired"
    assert fields(r.stdout)["status"] == "401 UNAUTHENTICATED"

    r = dsctl("policy", "explain", policy_file, "--recipient", "suspended-co",
              "GET", "/delta-sharing/shares")
    assert fields(r.stdout)["reason"] == "recipient_suspended"

    r = dsctl("policy", "explain", policy_file, "--token-id", "fa-1",
              "POST", QUERY.replace("/query", "/temporary-table-credentials"))
    assert fields(r.stdout)["reason"] == "operation_denied"

    r = dsctl("policy", "explain", policy_file, "--token-id", "fa-1",
              "GET", "/delta-sharing/admin")
    assert fields(r.stdout)["reason"] == "unknown_endpoint"


def test_explain_contract_ends_at_instant(tmp_path):
    pol = make_policy()
    pol["recipients"][0]["contract"]["valid_until"] = "2031-01-01T00:00:00Z"
    p = write_policy(tmp_path / "p.json", pol)
    before = dsctl("policy", "explain", p, "--token-id", "fa-1", "--at",
                   "2030-12-31T23:59:59.999Z", "POST", QUERY)
    at = dsctl("policy", "explain", p, "--token-id", "fa-1", "--at",
               "2031-01-01T00:00:00Z", "POST", QUERY)
    assert before.returncode == 0
    assert at.returncode == 1
    assert fields(at.stdout)["reason"] == "contract_expired"


def test_explain_purpose_and_country(tmp_path):
    pol = make_policy()
    g = pol["recipients"][0]["grants"][0]
    g["purposes"] = ["FRAUD", "HPAYMT"]
    g["countries"] = {"allow": ["US", "CA"]}
    p = write_policy(tmp_path / "p.json", pol)

    def explain(*extra):
        r = dsctl("policy", "explain", p, "--token-id", "fa-1", *extra,
                  "POST", QUERY)
        return r.returncode, fields(r.stdout)

    assert explain()[1]["reason"] == "purpose_missing"
    assert explain("--purpose", "TREAT")[1]["reason"] == "purpose_denied"
    assert explain("--purpose", "no way")[1]["reason"] == "purpose_invalid"
    rc, f = explain("--purpose", "FRAUD")
    assert rc == 0 and f["purpose"] == "FRAUD"
    assert explain("--purpose", "FRAUD", "--country", "CA")[0] == 0
    assert explain("--purpose", "FRAUD", "--country", "DE")[1]["reason"] \
        == "country_denied"
    assert explain("--purpose", "FRAUD", "--country", "unknown")[1]["reason"] \
        == "country_unknown"


def test_explain_token_stdin_never_echoes_token(policy_file):
    r = dsctl("policy", "explain", policy_file, "--token-stdin", "POST", QUERY,
              input=TOKENS["fraud"] + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert fields(r.stdout)["token id"] == "fa-1"
    assert TOKENS["fraud"] not in r.stdout + r.stderr

    r = dsctl("policy", "explain", policy_file, "--token-stdin", "POST", QUERY,
              input="dst_not_a_real_token\n")
    assert r.returncode == 1
    assert fields(r.stdout)["reason"] == "token_unknown"
    assert "dst_not_a_real_token" not in r.stdout + r.stderr


def test_explain_bad_paths(policy_file):
    r = dsctl("policy", "explain", policy_file, "--token-id", "fa-1",
              "GET", "/delta-sharing/shares/a%2Fb")
    f = fields(r.stdout)
    assert r.returncode == 1
    assert (f["reason"], f["status"]) == ("bad_request",
                                          "400 INVALID_PARAMETER_VALUE")
    r = dsctl("policy", "explain", policy_file, "--token-id", "fa-1",
              "DELETE", "/delta-sharing/shares")
    assert fields(r.stdout)["status"] == "405 UNSUPPORTED_OPERATION"
    # the token is checked before the path, as the gateway does
    r = dsctl("policy", "explain", policy_file, "--token-id", "nope",
              "GET", "/delta-sharing/shares/a%2Fb")
    assert fields(r.stdout)["reason"] == "token_unknown"


def test_explain_usage(policy_file):
    assert dsctl("policy", "explain", policy_file, "GET", "/x").returncode == 2
    assert dsctl("policy", "explain", policy_file, "--token-id", "a",
                 "--recipient", "b", "GET", "/x").returncode == 2
    assert dsctl("policy", "explain", policy_file, "--recipient", "ghost",
                 "GET", "/delta-sharing/shares").returncode == 2
    assert dsctl("policy", "explain", policy_file, "--token-id", "fa-1",
                 "--at", "yesterday", "GET", "/x").returncode == 2


# --------------------------------------------------------------- expiring

def expiring_policy(tmp_path):
    pol = make_policy()
    r0 = pol["recipients"][0]
    r0["contract"] = {"id": "DSA-1", "valid_until": "2030-03-01T00:00:00Z",
                      "attestations": [{"type": "BAA",
                                        "expires": "2030-01-20T00:00:00Z"},
                                       {"type": "DPA"}]}
    r0["tokens"][0]["expires"] = "2030-02-01T00:00:00Z"
    r0["tokens"][1]["expires"] = "2029-12-01T00:00:00Z"
    pol["recipients"][1]["tokens"][0]["expires"] = "2031-01-01T00:00:00Z"
    return write_policy(tmp_path / "p.json", pol)


def test_expiring_text(tmp_path):
    p = expiring_policy(tmp_path)
    r = dsctl("policy", "expiring", p, "--within", "30d",
              "--at", "2030-01-10T00:00:00Z")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ENDS", "WHEN", "KIND", "RECIPIENT", "ID"]
    rows = [re.split(r"\s{2,}", l.strip()) for l in lines[1:]]
    # ended first, then by end time; beyond the window and no-expiry absent
    assert [(x[2], x[4]) for x in rows] == [("token", "fa-expired"),
                                            ("attestation", "BAA"),
                                            ("token", "fa-1")]
    assert rows[0][1] == "ended"
    assert rows[1][1] == "in 10d"
    assert "DSA-1" not in r.stdout and "dp-1" not in r.stdout


def test_expiring_json_and_window(tmp_path):
    p = expiring_policy(tmp_path)
    r = dsctl("policy", "expiring", p, "--within", "60d", "--at",
              "2030-01-10T00:00:00Z", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["at"] == "2030-01-10T00:00:00.000Z"
    items = [(i["kind"], i["recipient"], i["id"], i["ends"], i["ended"])
             for i in doc["items"]]
    assert items == [
        ("token", "fraud-analytics", "fa-expired", "2029-12-01T00:00:00.000Z", True),
        ("attestation", "fraud-analytics", "BAA", "2030-01-20T00:00:00.000Z", False),
        ("token", "fraud-analytics", "fa-1", "2030-02-01T00:00:00.000Z", False),
        ("contract", "fraud-analytics", "DSA-1", "2030-03-01T00:00:00.000Z", False),
    ]

    r = dsctl("policy", "expiring", EXAMPLE, "--within", "1d",
              "--at", "2027-01-01T00:00:00Z")
    assert r.returncode == 0
    assert r.stdout.startswith("nothing ends before 2027-01-02T00:00:00.000Z")

    assert dsctl("policy", "expiring", p).returncode == 2
    assert dsctl("policy", "expiring", p, "--within", "soon").returncode == 2
    assert dsctl("policy", "expiring", p, "--within", "1d", "--format",
                 "xml").returncode == 2


# -------------------------------------------------------------- token new

def test_token_new_profile_and_digest(tmp_path):
    out = tmp_path / "partner.share"
    expires = iso(time.time() + 200 * 86400)
    r = dsctl("token", "new", "--recipient", "fraud-analytics", "--token-id",
              "fa-9", "--endpoint", "https://gw.example.org/delta-sharing/",
              "--expires", expires, "--purpose", "FRAUD",
              "--profile-out", str(out))
    assert r.returncode == 0, r.stderr
    entry = json.loads(r.stdout)
    assert entry == {"id": "fa-9", "sha256": entry["sha256"],
                     "expires": expires, "purpose": "FRAUD"}

    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    profile = json.loads(out.read_text())
    tok = profile["bearerToken"]
    assert profile == {"shareCredentialsVersion": 1,
                       "endpoint": "https://gw.example.org/delta-sharing/",
                       "bearerToken": tok,
                       "expirationTime": expires}
    # dst_ + 256 bits in base64url without padding
    assert re.fullmatch(r"dst_[A-Za-z0-9_-]{43}", tok)
    assert hashlib.sha256(tok.encode()).hexdigest() == entry["sha256"]
    assert tok not in r.stdout + r.stderr

    # refuse to overwrite a profile that exists
    r = dsctl("token", "new", "--recipient", "a", "--token-id", "b",
              "--profile-out", str(out))
    assert r.returncode == 2
    assert json.loads(out.read_text())["bearerToken"] == tok


def test_token_new_is_random_and_usable(tmp_path):
    """Mint, paste the entry into a policy, authenticate with the profile."""
    toks = []
    pol = make_policy()
    for i in range(2):
        out = tmp_path / ("p%d.share" % i)
        r = dsctl("token", "new", "--recipient", "distribution-partner",
                  "--token-id", "dp-new-%d" % i, "--ttl", "30d",
                  "--profile-out", str(out))
        assert r.returncode == 0, r.stderr
        pol["recipients"][1]["tokens"].append(json.loads(r.stdout))
        toks.append(json.loads(out.read_text())["bearerToken"])
    assert toks[0] != toks[1]

    p = write_policy(tmp_path / "policy.json", pol)
    assert dsctl("policy", "check", p).returncode == 0
    r = dsctl("policy", "explain", p, "--token-stdin", "GET",
              "/delta-sharing/shares/provider_directory/all-tables",
              input=toks[1])
    assert r.returncode == 0, r.stdout
    assert fields(r.stdout)["token id"] == "dp-new-1"

    # --ttl 30d: expires about 30 days from now
    exp = pol["recipients"][1]["tokens"][-1]["expires"]
    t = time.mktime(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(t - (time.time() + 30 * 86400)) < 120


def test_token_new_without_profile_file_warns():
    r = dsctl("token", "new", "--recipient", "a", "--token-id", "b")
    assert r.returncode == 0
    assert "warning" in r.stderr
    docs = r.stdout.strip().split("\n}\n")
    entry = json.loads(docs[0] + "\n}")
    profile = json.loads(docs[1])
    assert sha256_hex(profile["bearerToken"]) == entry["sha256"]


def test_token_new_usage():
    assert dsctl("token", "new", "--recipient", "a").returncode == 2
    assert dsctl("token", "new", "--recipient", "a b", "--token-id",
                 "x").returncode == 2
    assert dsctl("token", "new", "--recipient", "a", "--token-id", "x",
                 "--ttl", "forever").returncode == 2
    assert dsctl("token", "new", "--recipient", "a", "--token-id", "x",
                 "--purpose", "two words").returncode == 2
    assert dsctl("token", "mint").returncode == 2


# ------------------------------------------------- token lifetime limits

def token_new(*extra, out=None):
    args = ["token", "new", "--recipient", "fraud-analytics", "--token-id",
            "fa-new"] + list(extra)
    if out is not None:
        args += ["--profile-out", str(out)]
    return dsctl(*args)


@pytest.mark.parametrize("args,says", [
    (["--expires", "2020-01-01T00:00:00Z"],
     "--expires 2020-01-01T00:00:00Z is in the past"),
    (["--ttl", "0s"], "--ttl 0s: a token must expire in the future"),
    (["--ttl", "366d"], "--ttl 366d is longer than the maximum token "
     "lifetime, 365d (the default"),
    (["--ttl", "53w"], "--ttl 53w is longer than the maximum token "
     "lifetime, 365d"),
    (["--expires", "2099-01-01T00:00:00Z"],
     "--expires 2099-01-01T00:00:00Z is further from now than the maximum "
     "token lifetime, 365d"),
    (["--ttl", "300d", "--not-before", "2020-01-01T00:00:00Z"],
     "--not-before 2020-01-01T00:00:00Z is further before the expiry than "
     "the maximum token lifetime, 365d"),
])
def test_token_new_refuses_past_or_too_long(tmp_path, args, says):
    out = tmp_path / "p.share"
    r = token_new(*args, out=out)
    assert r.returncode == 2, r.stdout + r.stderr
    assert says in r.stderr, r.stderr
    # nothing minted: no entry, no profile
    assert r.stdout == ""
    assert not out.exists()


def test_token_new_at_the_maximum(tmp_path):
    # the control: exactly one year is allowed
    r = token_new("--ttl", "365d", out=tmp_path / "p.share")
    assert r.returncode == 0, r.stderr
    exp = json.loads(r.stdout)["expires"]
    t = time.mktime(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(t - (time.time() + 365 * 86400)) < 120


def lifetime_policy(tmp_path, lifetime, tokens=None):
    pol = make_policy()
    if lifetime is not None:
        pol["token_max_lifetime"] = lifetime
    for t in pol["recipients"][0]["tokens"] + pol["recipients"][1]["tokens"] \
            + pol["recipients"][2]["tokens"]:
        t.setdefault("expires", iso(time.time() + 20 * 86400))
    if tokens is not None:
        pol["recipients"][0]["tokens"] += tokens
    return write_policy(tmp_path / "policy.json", pol)


def test_token_new_policy_sets_the_maximum(tmp_path):
    p = lifetime_policy(tmp_path, "30d")
    assert dsctl("policy", "check", p).returncode == 0
    r = token_new("--ttl", "31d", "--policy", p)
    assert r.returncode == 2
    assert ("--ttl 31d is longer than the maximum token lifetime, 30d "
            "(token_max_lifetime in %s)" % p) in r.stderr, r.stderr
    assert token_new("--ttl", "30d", "--policy", p).returncode == 0
    # the default 90 days shrinks to the policy's maximum
    r = token_new("--policy", p)
    assert r.returncode == 0, r.stderr
    exp = json.loads(r.stdout.split("\n}\n")[0] + "\n}")["expires"]
    t = time.mktime(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(t - (time.time() + 30 * 86400)) < 120

    # a policy may also allow longer than the default
    p2 = lifetime_policy(tmp_path, "730d")
    assert token_new("--ttl", "700d", "--policy", p2).returncode == 0
    assert token_new("--ttl", "731d", "--policy", p2).returncode == 2


def test_token_new_policy_knows_the_recipient(tmp_path):
    p = lifetime_policy(tmp_path, None)
    r = dsctl("token", "new", "--recipient", "nobody", "--token-id", "x",
              "--policy", p)
    assert r.returncode == 1
    assert 'recipient "nobody" is not in' in r.stderr
    r = dsctl("token", "new", "--recipient", "fraud-analytics",
              "--token-id", "fa-1", "--policy", p)
    assert r.returncode == 1
    assert 'token id "fa-1" is already in' in r.stderr
    # without token_max_lifetime, the default maximum
    assert token_new("--ttl", "366d", "--policy", p).returncode == 2


def test_policy_max_lifetime_loader_rules(tmp_path):
    p = lifetime_policy(tmp_path, "365d", tokens=[
        {"id": "forever", "sha256": "ab" * 32}])
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "%s: $.recipients[0].tokens[2].expires: required, as the policy "
        "sets token_max_lifetime \"365d\" (in %s)" % (p, p))

    p = lifetime_policy(tmp_path, "365d", tokens=[
        {"id": "long", "sha256": "ab" * 32,
         "not_before": "2030-01-01T00:00:00Z",
         "expires": "2031-01-02T00:00:00Z"}])
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "%s: $.recipients[0].tokens[2].expires: more than "
        "token_max_lifetime \"365d\" (in %s) after not_before" % (p, p))

    # one day less is a year: fine, and far in the future: a warning
    p = lifetime_policy(tmp_path, "365d", tokens=[
        {"id": "long", "sha256": "ab" * 32,
         "not_before": "2030-01-01T00:00:00Z",
         "expires": "2031-01-01T00:00:00Z"}])
    r = dsctl("policy", "check", p)
    assert r.returncode == 0, r.stderr
    assert ('%s: warning: token "long" of recipient "fraud-analytics" '
            'expires 2031-01-01T00:00:00.000Z, more than token_max_lifetime '
            '"365d" from now' % p) in r.stderr
    assert r.stderr.count("warning") == 1

    for bad in ("0d", "forever", 365, "-1d", "1y"):
        p = lifetime_policy(tmp_path, bad)
        r = dsctl("policy", "check", p)
        assert r.returncode == 1, bad
        assert "$.token_max_lifetime: must be a duration" in r.stderr


def test_policy_max_lifetime_across_files(tmp_path):
    d = tmp_path / "pol"
    d.mkdir()
    pol = make_policy()
    for r in pol["recipients"]:
        for t in r["tokens"]:
            t.setdefault("expires", iso(time.time() + 20 * 86400))
    a = {"version": 1, "token_max_lifetime": "90d",
         "recipients": pol["recipients"][:1]}
    b = {"version": 1, "recipients": pol["recipients"][1:]}
    write_policy(d / "10-a.json", a)
    write_policy(d / "20-b.json", b)
    assert dsctl("policy", "check", str(d)).returncode == 0
    # the setting covers the other file's tokens too
    b["recipients"][0]["tokens"][0].pop("expires")
    write_policy(d / "20-b.json", b)
    r = dsctl("policy", "check", str(d))
    assert r.returncode == 1
    assert r.stderr.startswith("%s/20-b.json: $.recipients[0].tokens[0]"
                               ".expires: required" % d), r.stderr
    # two files that disagree
    b["recipients"][0]["tokens"][0]["expires"] = iso(time.time() + 86400)
    b["token_max_lifetime"] = "30d"
    write_policy(d / "20-b.json", b)
    r = dsctl("policy", "check", str(d))
    assert r.returncode == 1
    assert ('20-b.json: $.token_max_lifetime: "30d" differs from "90d" in '
            '%s/10-a.json' % d) in r.stderr, r.stderr


# ------------------------------------------------------------ JSON Schema

def test_schema_matches_loader(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.load(open(SCHEMA))
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)

    for name in sorted(os.listdir(EXAMPLE)):
        if name.endswith(".json"):
            v.validate(json.load(open(os.path.join(EXAMPLE, name))))
    v.validate(make_policy())

    # what the loader rejects, the schema rejects too
    bad = make_policy()
    bad["recipients"][0]["grants"][0]["operations"] = ["drop_table"]
    assert not v.is_valid(bad)
    bad = make_policy()
    bad["recipients"][0]["countries"] = {"allow": ["UK"]}
    assert not v.is_valid(bad)
    p = write_policy(tmp_path / "bad.json", bad)
    assert dsctl("policy", "check", p).returncode == 1
    for lifetime, ok in (("365d", True), ("52w", True), ("0d", False),
                         ("1y", False), (365, False)):
        pol = make_policy()
        pol["token_max_lifetime"] = lifetime
        assert v.is_valid(pol) == ok, lifetime
