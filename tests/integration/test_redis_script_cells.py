"""The limiter's script with ARGV[6] cells k (leases, docs/redis.md
"Lease mode") in a real redis-server: exact grants against the limit,
the 5-field reply when k is 1 or absent, revocation before charging."""

import ast
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
GCRA_C = os.path.join(HERE, "..", "..", "ngx_ds_module", "core", "ds_gcra.c")


def script_text():
    """The Lua text, from the C string literal the module sends."""
    src = open(GCRA_C).read()
    body = re.search(r"ds_gcra_lua\[\] =\n(.*?);\n", src, re.S).group(1)
    return "".join(ast.literal_eval(s)
                   for s in re.findall(r'"(?:[^"\\]|\\.)*"', body))


def call(redis, key, emission, tolerance, limit, cells=None,
         rid="r1", tid="t1", sid=""):
    # the per-recipient layout: limit key, revoked flag, revoked tokens,
    # revoked subjects, all in the recipient's slot
    args = ["EVAL", script_text(), "4", key, "{%s}:revoked" % rid,
            "{%s}:revoked_tokens" % rid, "{%s}:revoked_subjects" % rid,
            tid, sid, str(emission), str(tolerance), str(limit)]
    if cells is not None:
        args.append(str(cells))
    out = redis.cli(*args)
    return [int(x) for x in out.split()]


# 100 per hour, burst 0: emission 36 s, tolerance 99 emissions
E = 36000000
TAU = 99 * E


def test_k1_and_absent_are_todays_reply(redis):
    a = call(redis, "k:a", E, TAU, 100)
    b = call(redis, "k:b", E, TAU, 100, cells=1)
    assert len(a) == 5 and len(b) == 5
    assert a[:3] == b[:3] == [0, 100, 99]


def test_cells_grant_exactly_what_fits(redis):
    got = call(redis, "k:c", E, TAU, 100, cells=30)
    assert len(got) == 6
    assert got[0] == 0 and got[1] == 100 and got[5] == 30
    assert got[2] == 70                      # remaining after the grant
    got = call(redis, "k:c", E, TAU, 100, cells=60)
    assert got[5] == 60 and got[2] == 10
    # only 10 fit: 10 granted, nothing more
    got = call(redis, "k:c", E, TAU, 100, cells=64)
    assert got[5] == 10 and got[2] == 0
    # empty: LIMITED, 5 fields, says when to come back
    got = call(redis, "k:c", E, TAU, 100, cells=64)
    assert len(got) == 5 and got[0] == 1 and got[4] > 0
    got = call(redis, "k:c", E, TAU, 100)
    assert got[0] == 1


def test_cells_and_single_calls_share_one_budget(redis):
    total = 0
    for i in range(10):
        got = call(redis, "k:d", E, TAU, 100, cells=7)
        if got[0] == 0:
            total += got[5]
    for i in range(50):
        got = call(redis, "k:d", E, TAU, 100)
        if got[0] == 0:
            total += 1
    assert total == 100


def test_revoked_before_charging_whatever_k(redis):
    redis.cli("SADD", "{r1}:revoked_tokens", "t9")
    got = call(redis, "k:e", E, TAU, 100, cells=50, tid="t9")
    assert got == [2, 0, 0, 0, 0]
    assert redis.cli("EXISTS", "k:e") == "0"
    redis.cli("SET", "{r9}:revoked", "1")
    got = call(redis, "k:e", E, TAU, 100, cells=50, rid="r9")
    assert got == [3, 0, 0, 0, 0]
    redis.cli("SADD", "{r1}:revoked_subjects", "sub:s9")
    got = call(redis, "k:e", E, TAU, 100, cells=50, sid="sub:s9")
    assert got == [2, 0, 0, 0, 0]
    assert redis.cli("EXISTS", "k:e") == "0"


def test_no_limit_answers_five_fields_for_any_k(redis):
    assert call(redis, "k:f", 0, 0, 0, cells=50) == [0, 0, 0, 0, 0]
    assert redis.cli("EXISTS", "k:f") == "0"
