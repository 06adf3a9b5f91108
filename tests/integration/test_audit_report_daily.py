"""dsctl audit report --per-day (the report by day, UTC) and --csv (one
chart-ready row per day and recipient, every day of the period, alert
records counted), over native and OCSF records."""

import csv
import io
import json

from conftest import dsctl

DAY = 86400000
T0 = 1793491200000          # 2026-11-01T00:00:00Z


def native(t, recipient, decision="allow", bytes_sent=100, files=0,
           fbytes=0):
    return {"schema_version": 1, "type": "request", "time_ms": t,
            "recipient": recipient, "decision": decision,
            "reason": "allowed" if decision == "allow" else "not_entitled",
            "bytes_sent": bytes_sent, "share": "claims",
            "disclosure": {"files": files, "bytes": fbytes} if files
            else None}


def ocsf(t, recipient, decision="allow", bytes_sent=100):
    return {"class_uid": 6003, "time": t,
            "actor": {"user": {"uid": recipient}},
            "unmapped": {"dsgw": {"type": "request", "decision": decision,
                                  "reason": "allowed",
                                  "bytes_sent": bytes_sent}}}


def alert(t, recipient):
    return {"schema_version": 1, "type": "alert", "time_ms": t,
            "recipient": recipient,
            "alert": {"metric": "requests", "action": "alert"}}


def write(tmp_path, recs):
    p = tmp_path / "audit.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(p)


def sample(tmp_path):
    return write(tmp_path, [
        {"schema_version": 1, "type": "chain_start", "time_ms": T0},
        native(T0 + 1000, "acme"),
        native(T0 + 2000, "acme", "deny", 300),
        native(T0 + 3000, "beta", files=2, fbytes=5000),
        alert(T0 + 3500, "acme"),
        # nothing on 11-02
        ocsf(T0 + 2 * DAY + 10, "acme", bytes_sent=50),
        native(T0 + 5 * DAY, "acme"),               # outside --to
    ])


def test_csv_chart_ready(tmp_path):
    log = sample(tmp_path)
    r = dsctl("audit", "report", "--csv", "--from", "2026-11-01",
              "--to", "2026-11-04", log)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0].keys()) == ["day", "recipient", "calls", "allowed",
                                    "denied", "bytes", "files",
                                    "file_bytes", "alerts"]
    # every day of the period for every recipient, in order
    assert [(x["day"], x["recipient"]) for x in rows] == [
        ("2026-11-01", "acme"), ("2026-11-01", "beta"),
        ("2026-11-02", "acme"), ("2026-11-02", "beta"),
        ("2026-11-03", "acme"), ("2026-11-03", "beta")]
    got = {(x["day"], x["recipient"]): x for x in rows}
    a = got[("2026-11-01", "acme")]
    assert (a["calls"], a["allowed"], a["denied"], a["bytes"],
            a["alerts"]) == ("2", "1", "1", "400", "1")
    b = got[("2026-11-01", "beta")]
    assert (b["calls"], b["files"], b["file_bytes"]) == ("1", "2", "5000")
    assert got[("2026-11-02", "acme")]["calls"] == "0"
    c = got[("2026-11-03", "acme")]
    assert (c["calls"], c["bytes"]) == ("1", "50")


def test_csv_without_bounds_spans_the_records(tmp_path):
    log = sample(tmp_path)
    r = dsctl("audit", "report", "--csv", log)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    days = sorted({x["day"] for x in rows})
    assert days[0] == "2026-11-01" and days[-1] == "2026-11-06"
    assert len(rows) == 6 * 2


def test_per_day_text_and_csv(tmp_path):
    log = sample(tmp_path)
    r = dsctl("audit", "report", "--per-day", "--to", "2026-11-04", log)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "\nBy day\n" in out
    assert "  2026-11-01: 3 calls, 2 allowed, 1 denied, 500 bytes\n" in out
    assert "    recipients: acme=2;beta=1\n" in out
    assert "  2026-11-03: 1 calls, 1 allowed, 0 denied, 50 bytes\n" in out
    assert "2026-11-02" not in out          # the text lists days with calls

    r = dsctl("audit", "report", "--per-day", "--format", "csv",
              "--to", "2026-11-04", log)
    assert r.returncode == 0, r.stderr
    rows = [x for x in csv.reader(io.StringIO(r.stdout)) if x[0] == "day"]
    assert [x[1] for x in rows] == ["2026-11-01", "2026-11-03"]
    assert rows[0][2:6] == ["3", "2", "1", "500"]

    # without --per-day: no day section (the monthly report as it was)
    r = dsctl("audit", "report", log)
    assert "By day" not in r.stdout


def test_csv_too_long_a_period(tmp_path):
    log = sample(tmp_path)
    r = dsctl("audit", "report", "--csv", "--from", "2000-01-01",
              "--to", "2030-01-01", log)
    assert r.returncode == 2
    assert "give --from and --to" in r.stderr
