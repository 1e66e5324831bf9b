"""Synthetic alert streams: recurring noise on several hosts plus a planted multi-step attack."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

DAY = 86_400.0
ATTACK_STEPS = ("recon scan", "web exploit", "webshell command", "sudo to root", "dns exfil")
ATTACKER_IP = "10.9.9.66"


def synthetic_stream(*, ordered: bool = True, noise_alerts: int = 3000, repeats: int = 3,
                     seed: int = 0) -> pd.DataFrame:
    """Noise alerts over three days; the attack chain ``repeats`` times on day 3.

    The chain runs on host ``web`` (the first three steps) then ``db`` (the last two), all
    naming the attacker's ip, one step a minute. With ``ordered=False`` each repetition runs the
    same steps in a different order (the chain rotated by the repetition number, so no order
    repeats). ``label`` is 1 on attack alerts (evaluation only).
    """
    rng = np.random.default_rng(seed)
    hosts = [f"host{i}" for i in range(6)] + ["web", "db"]
    noise_names = [f"noise signature {i}" for i in range(20)]
    host_of = rng.integers(0, len(hosts), noise_alerts)
    preferred = rng.integers(0, len(noise_names), (len(hosts), 5))
    frame = pd.DataFrame({
        "time": np.sort(rng.uniform(0, 3 * DAY, noise_alerts)).round(),
        "name": [noise_names[preferred[h, k]] for h, k in
                 zip(host_of, rng.integers(0, 5, noise_alerts), strict=True)],
        "host": [hosts[h] for h in host_of],
        "ip": [f"192.168.0.{h}" for h in host_of],
        "label": 0,
    })
    frame["short"] = frame["name"].str.slice(0, 5)
    rows = []
    for repeat in range(repeats):
        shift = 0 if ordered else repeat
        steps = list(ATTACK_STEPS[shift:] + ATTACK_STEPS[:shift])
        start = 2.2 * DAY + repeat * 6 * 3600
        for k, step in enumerate(steps):
            host = "web" if ATTACK_STEPS.index(step) < 3 else "db"
            rows.append({"time": start + 60 * k, "name": step, "host": host, "ip": ATTACKER_IP,
                         "label": 1, "short": step[:5]})
    attack = pd.DataFrame(rows)
    return pd.concat([frame, attack]).sort_values("time", kind="stable").reset_index(drop=True)


@pytest.fixture
def planted_stream() -> pd.DataFrame:
    return synthetic_stream()
