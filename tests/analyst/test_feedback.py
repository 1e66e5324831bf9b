"""Verdicts, suppressions (match, expiry, undo), CAR weights and threshold calibration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from logguard.analyst import feedback, queries
from logguard.analyst.patterns import pattern_of
from logguard.errors import InputError
from logguard.store.duckdb_store import open_duckdb


@pytest.fixture
def con(analyst_db):
    connection = open_duckdb(analyst_db)
    yield connection
    connection.close()


def _entities(con, alert_id: str) -> dict:
    return json.loads(con.execute("SELECT entities FROM alerts WHERE alert_id = ?",
                                  [alert_id]).fetchall()[0][0])


def test_a_verdict_is_stored_and_becomes_the_alert_status(con, planted):
    result = feedback.record_feedback(con, planted.attack[0][:10], "true-positive",
                                      note="confirmed", analyst="soc1")
    assert result["alert_id"] == planted.attack[0] and result["suppression"] is None
    rows = con.execute("SELECT alert_id, verdict, note, analyst FROM feedback").fetchall()
    assert rows == [(planted.attack[0], "true-positive", "confirmed", "soc1")]
    detail = queries.alert_detail(con, planted.attack[0])
    assert detail["status"] == "true-positive"
    assert [f["verdict"] for f in detail["feedback"]] == ["true-positive"]


def test_benign_with_suppress_matches_recurrences_but_not_other_patterns(con, planted):
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    result = feedback.record_feedback(con, planted.backup[2], "benign", suppress_days=30,
                                      note="nightly backup", now=now)
    suppression = result["suppression"]
    assert suppression["expires_at"] == "2026-12-23T12:00:00Z"
    assert "process_guid" not in suppression["pattern"]
    assert "process_id" not in suppression["pattern"]
    assert suppression["pattern"]["image"] == "D:\\tools\\backup.exe"
    # the next night's run has a new pid and GUID: still the same pattern
    tomorrow = _entities(con, planted.backup[2]) | {"process_guid": "{b9}", "process_id": 999}
    assert feedback.is_suppressed(con, "ape", tomorrow, now=now) == suppression["suppression_id"]
    assert feedback.is_suppressed(con, "ape", json.dumps(tomorrow), now=now) is not None
    assert feedback.is_suppressed(con, "gid", tomorrow, now=now) is None  # another model
    other_user = tomorrow | {"user": "CORP\\mallory"}
    assert feedback.is_suppressed(con, "ape", other_user, now=now) is None
    listed = queries.list_suppressions(con, now=now)
    assert [s["suppression_id"] for s in listed] == [suppression["suppression_id"]]
    assert listed[0]["pattern"] == pattern_of(tomorrow)


def test_suppressions_expire_and_can_be_undone(con, planted):
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    made = feedback.record_feedback(con, planted.backup[0], "false-positive", suppress_days=2,
                                    now=now)["suppression"]
    entities = _entities(con, planted.backup[0])
    assert feedback.is_suppressed(con, "ape", entities, now=now + timedelta(days=1.9))
    assert feedback.is_suppressed(con, "ape", entities, now=now + timedelta(days=2)) is None
    assert queries.list_suppressions(con, now=now + timedelta(days=3)) == []
    assert len(queries.list_suppressions(con, include_inactive=True,
                                         now=now + timedelta(days=3))) == 1
    revoked = feedback.revoke_suppression(con, made["suppression_id"][:8],
                                          now=now + timedelta(hours=1))
    assert revoked["revoked_at"] == "2026-11-23T13:00:00Z" and revoked["active"] is False
    assert feedback.is_suppressed(con, "ape", entities, now=now + timedelta(hours=2)) is None
    again = feedback.revoke_suppression(con, made["suppression_id"], now=now + timedelta(hours=5))
    assert again["revoked_at"] == "2026-11-23T13:00:00Z"
    with pytest.raises(InputError, match="no suppression with id 'feedfeedfeed'"):
        feedback.revoke_suppression(con, "feedfeedfeed")


def test_bad_feedback_is_refused_with_the_field_named(con, planted):
    with pytest.raises(InputError, match="verdict 'malicious'"):
        feedback.record_feedback(con, planted.attack[0], "malicious")
    with pytest.raises(InputError, match="suppress_days needs a false-positive or benign"):
        feedback.record_feedback(con, planted.attack[0], "true-positive", suppress_days=3)
    with pytest.raises(InputError, match="suppress_days must be"):
        feedback.record_feedback(con, planted.attack[0], "benign", suppress_days=0)
    with pytest.raises(InputError, match="no alert with id 'deadbeefdead'"):
        feedback.record_feedback(con, "deadbeefdead", "benign")
    assert con.execute("SELECT count(*) FROM feedback").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM suppressions").fetchall() == [(0,)]


def test_verdict_weights_follow_the_latest_verdict(con, planted):
    t = datetime(2026, 11, 23, 12, tzinfo=UTC)
    feedback.record_feedback(con, planted.attack[0], "benign", now=t)
    feedback.record_feedback(con, planted.attack[0], "true-positive", now=t + timedelta(minutes=5))
    feedback.record_feedback(con, planted.backup[0], "false-positive", now=t)
    feedback.record_feedback(con, planted.backup[1], "benign", now=t)
    assert feedback.verdict_weights(con) == {planted.attack[0]: 2.0, planted.backup[0]: 0.25,
                                             planted.backup[1]: 0.5}


def test_threshold_feedback_suggests_the_smallest_threshold_within_the_tp_budget(con, planted):
    # ape alerts: threshold 75; TP at 97.5 and 91.0; FP/benign at 79, 80, 81 (backups), 84
    for alert_id in (planted.attack[0], planted.attack[2]):
        feedback.record_feedback(con, alert_id, "true-positive")
    for alert_id in planted.backup:
        feedback.record_feedback(con, alert_id, "benign")
    high_fp = con.execute("SELECT alert_id FROM alerts WHERE model = 'ape' AND score = 84 "
                          "LIMIT 1").fetchall()[0][0]
    feedback.record_feedback(con, high_fp, "false-positive")
    summary = feedback.threshold_feedback(con, "ape", max_tp_loss=0.05)
    assert summary["threshold"] == 75.0
    assert (summary["true_positives"], summary["benign"], summary["false_positives"]) == (2, 3, 1)
    assert summary["fp_above_threshold"] == 4
    # budget floor(0.05 * 2) = 0 TP: every FP (<= 84) goes below 84.01 and no TP is lost
    assert summary["suggested_threshold"] == 84.01
    assert (summary["fp_removed"], summary["tp_removed"]) == (4, 0)
    # a TP below the FPs caps the suggestion: with a TP at 80.0 the best is just above 79
    con.execute("UPDATE alerts SET score = 80.5 WHERE alert_id = ?", [planted.attack[2]])
    capped = feedback.threshold_feedback(con, "ape", max_tp_loss=0.05)
    assert (capped["suggested_threshold"], capped["fp_removed"]) == (80.01, 2)
    none = feedback.threshold_feedback(con, "gid")
    assert none["suggested_threshold"] is None and "no true-positive" in none["reason"]
