"""APE on the simulated enterprise: an event with a never-seen user and program alerts.

The unknown id of a type never occurs in a real event, so it learns only as noise; it must be
drawn as noise often enough (the type's mean count, not its rarest value's) to learn that an
unseen entity makes an event improbable. With the rarest value's pseudo-count, this very
set-up put 119 of 200 such events above the alert threshold (random_state 11).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import torch

from logguard.events.frames import model_frame
from logguard.models.ape import APE
from logguard.models.calibration import ScoreCalibrator, budget_threshold
from logguard.sim import iter_process_events

ENTITIES = ["host", "user", "parent_image", "image", "action", "object_type", "object_class"]
START = datetime(2026, 11, 23, tzinfo=UTC)


def simulated(start: datetime, hours: float, limit: int | None = None) -> pd.DataFrame:
    events = iter_process_events(20, start, timedelta(hours=hours), seed=11)
    return model_frame(pd.DataFrame(list(itertools.islice(events, limit)))
                       .rename(columns={"time": "event_time"}))


@pytest.mark.timeout(300)
def test_a_never_seen_user_and_program_started_by_word_alerts_at_the_default_budget():
    torch.set_num_threads(1)
    train = simulated(START, 24.0)
    grouped = train.groupby(ENTITIES, dropna=False).size().reset_index(name="n")
    model = APE(entities=ENTITIES, dim=16, epochs=5, random_state=11, progress=False,
                device="cpu").fit(grouped, sample_weight=grouped["n"].to_numpy(float))
    calibrator = ScoreCalibrator.fit(model.score(train))
    normal = simulated(START + timedelta(hours=300), 240.0, limit=50_000)
    planted = normal.iloc[::250].reset_index(drop=True).assign(
        user="ACME\\intruder", image=[f"C:\\Users\\Public\\drop{i}.exe" for i in range(200)],
        parent_image="C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
        action="network_connect", object_type="socket", object_name="203.0.113.7:4444")
    threshold = budget_threshold(5.0)  # the daemon's default: 5 alerts per 10k events
    alerted = calibrator.calibrate(model.score(planted)) >= threshold
    false_alerts = np.mean(calibrator.calibrate(model.score(normal)) >= threshold)
    assert alerted.mean() >= 0.8, f"{alerted.sum()} of {len(alerted)} planted events alerted"
    assert false_alerts <= 5 / 10_000
