"""Every product slot trains on simulated (or real) events and is calibrated on held-out data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from logguard.errors import InputError, ModelError
from logguard.events.frames import model_frame
from logguard.events.insider_context import INSIDER_FEATURES
from logguard.sim import iter_auth_events
from logguard.training.evaluate import event_labels
from logguard.training.history import history_days, history_sources, read_history
from logguard.training.slots import (
    SLOTS,
    gid_window_scores,
    slot_frame,
    slot_spec,
    split_holdout,
    train_slot,
)

from .conftest import START, VICTIM, intrusion, write_history

pytestmark = pytest.mark.timeout(240)
IDS2017 = Path(__file__).resolve().parents[3] / "shared" / "data" / "ids2017"
MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)


def test_the_history_reader_returns_one_source_and_day_in_time_order(clean_history):
    assert history_sources(clean_history) == ["auth", "process"]
    assert history_days(clean_history, "process") == [MONDAY, TUESDAY]
    frame = read_history(clean_history, "process", [TUESDAY])
    assert set(frame["source"]) == {"process"}
    assert frame["event_time"].is_monotonic_increasing
    assert frame["event_time"].min() >= pd.Timestamp(START + timedelta(days=1))
    both = read_history(clean_history, "process", [MONDAY, TUESDAY])
    assert len(both) == len(frame) + len(read_history(clean_history, "process", [MONDAY]))


def test_gid_is_calibrated_on_top_path_z_scores_of_held_out_host_windows(clean_history):
    monday = read_history(clean_history, "process", [MONDAY])
    detector, calibrator, summary = train_slot("process", "gid", monday, gid_window_s=3600,
                                               gid_top_k=5)
    held_out = split_holdout(slot_frame(slot_spec("process", "gid"), monday), 0.2)[1]
    hours = held_out["time"].dt.floor("h").nunique()
    hosts = held_out["host"].nunique()
    assert summary["reference_events"] == len(held_out)
    assert 0 < calibrator.reference_size <= 5 * hosts * (hours + 1)
    assert summary["gid_top_k"] == 5

    tuesday = slot_frame(slot_spec("process", "gid"), read_history(clean_history, "process",
                                                                   [TUESDAY]))
    attack_hour = (tuesday["host"] == VICTIM) & (tuesday["time"].dt.hour == 10)
    attack = calibrator.calibrate(gid_window_scores(detector, tuesday[attack_hour], 3600, 5))
    quiet = calibrator.calibrate(gid_window_scores(
        detector, tuesday[tuesday["time"].dt.hour.between(0, 5)], 3600, 5))
    assert attack.max() >= 99.0  # the intrusion's path tops the calibrated scale
    assert np.median(quiet) < 90.0


def test_auth_ape_ranks_the_intrusions_lateral_movement_above_normal_logons(tmp_path):
    # three hosts log on too rarely to learn from: eight, authentications only
    history = write_history(tmp_path, {"auth": iter_auth_events(
        8, START, timedelta(hours=48), seed=7, attacks=[intrusion(34)])})
    monday = read_history(history, "auth", [MONDAY])
    detector, calibrator, summary = train_slot("auth", "ape", monday, epochs=2)
    assert summary["fit_events"] + summary["reference_events"] == len(monday)
    assert calibrator.reference_size == summary["reference_events"]
    tuesday = slot_frame(slot_spec("auth", "ape"), read_history(history, "auth", [TUESDAY]))
    labels = event_labels(tuesday, "attack_step")
    assert labels.sum() >= 1
    raw = detector.score(tuesday)  # raw: calibrated scores tie at 100 above the reference
    assert raw[labels == 1].min() > np.percentile(raw[labels == 0], 90)  # 1.33 vs 0.97


def _insider_events() -> pd.DataFrame:
    from logguard.sim.cert import simulated_activity

    frame = simulated_activity(n_users=10, days=14, seed=3, scenarios=(1,), layout="r4.2")
    return frame


def _stored_insider_history(tmp_path, activity: pd.DataFrame, extra: tuple[str, ...] = ()):
    """The simulated activity as stored insider events (schema fields, the ``extra`` columns,
    the label as ``attack_step``) in a Parquet history: (folder, its days, the first day an
    insider acts)."""
    events = [{"time": row.time, "event_id": row.event_id, "user": row.user, "pc": row.pc,
               "activity": row.activity, "subtype": row.subtype, "object": row.object,
               **{name: getattr(row, name) for name in extra},
               **({"attack_step": "after_hours_leak"} if row.label else {})}
              for row in activity.itertuples()]
    history = write_history(tmp_path, {"insider": events})
    first_insider_day = min(pd.Timestamp(t).date() for t in activity.loc[activity.label == 1,
                                                                           "time"])
    return history, history_days(history, "insider"), first_insider_day


def test_insider_frequency_trains_from_the_store_with_the_derived_hour(tmp_path):
    activity = _insider_events()
    history, days, first_insider_day = _stored_insider_history(tmp_path, activity)
    train_days = [d for d in days if d < first_insider_day]
    test_days = [d for d in days if d >= first_insider_day]
    detector, _, _ = train_slot("insider", "insider-frequency",
                                read_history(history, "insider", train_days))
    assert detector.entities == ["activity", "subtype", "hour"]
    test = slot_frame(slot_spec("insider", "insider-frequency"),
                      read_history(history, "insider", test_days))
    expected_hour = pd.to_datetime(test["time"], utc=True).dt.hour
    assert (test["hour"] == expected_hour).all()
    labels = event_labels(test, "attack_step")
    assert labels.sum() >= 3
    assert roc_auc_score(labels, detector.score(test)) > 0.9


def test_lan_trains_from_stored_events_with_the_context_the_daemon_derives(tmp_path):
    activity = _insider_events()
    history, days, first_insider_day = _stored_insider_history(tmp_path, activity,
                                                               INSIDER_FEATURES)
    stored = read_history(history, "insider", days)
    frame = slot_frame(slot_spec("insider", "lan"), stored)
    # the context derived from stored events is the reader's, row for row
    assert frame["history"].tolist() == activity["history"].tolist()
    train = frame[pd.to_datetime(frame["time"], utc=True).dt.date < first_insider_day]
    test = frame[pd.to_datetime(frame["time"], utc=True).dt.date >= first_insider_day]
    detector, calibrator, summary = train_slot("insider", "lan", train, epochs=2)
    assert summary["fit_events"] + calibrator.reference_size == len(train)
    labels = event_labels(test, "attack_step")
    assert labels.sum() >= 3
    assert roc_auc_score(labels, detector.score(test)) > 0.9


def test_network_ape_trains_on_real_flows_and_separates_the_attacks():
    train = pd.read_csv(IDS2017 / "train.csv", dtype=str).head(6000)
    test = pd.read_csv(IDS2017 / "test.csv", dtype=str)

    def flows(csv: pd.DataFrame) -> pd.DataFrame:
        times = pd.date_range(datetime(2026, 11, 23, tzinfo=UTC), periods=len(csv), freq="s")
        return pd.DataFrame({"time": times, "src_ip": csv["srcIp"], "dst_ip": csv["dstIp"],
                             "dst_port": csv["dstPort"], "protocol": csv["proto"]})

    detector, calibrator, summary = train_slot("network", "ape", flows(train), epochs=1)
    assert summary["fit_events"] == 4800 and calibrator.reference_size == 1200
    attack = (test["label"] == "-1").to_numpy()
    assert roc_auc_score(attack, detector.score(flows(test))) > 0.7  # 0.76 measured


def test_every_slot_is_named_and_unknown_ones_are_refused():
    assert sorted(spec.name for spec in SLOTS.values()) == [
        "auth/ape", "insider/insider-frequency", "insider/lan", "network/ape", "process/ape",
        "process/gid"]
    with pytest.raises(InputError, match="no slot process/lan; the slots are: process/ape"):
        slot_spec("process", "lan")
    frame = model_frame(pd.DataFrame({"event_time": pd.date_range("2026-11-23", periods=10,
                                                                  freq="h", tz="UTC"),
                                      "activity": ["logon"] * 10, "subtype": ["logon"] * 10,
                                      "user": ["u"] * 10}))
    with pytest.raises(ModelError, match="10 events are too few"):
        train_slot("insider", "insider-frequency", frame)
    with pytest.raises(InputError, match=r"has no hyper-parameter.*epochs"):
        train_slot("insider", "insider-frequency", pd.concat([frame] * 5), epochs=3)
