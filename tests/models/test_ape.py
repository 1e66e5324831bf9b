"""APE on synthetic events with planted pairwise structure, its algebra, devices and weights."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from logguard.errors import InputError
from logguard.models.ape import APE
from logguard.models.base import load_detector

torch.set_num_threads(1)  # tiny batches: one thread avoids contention on a shared 2-core box

COLUMNS = ["user", "host", "process", "port", "day"]
GROUPS = 4
VALUES_PER_GROUP = 5

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, requires_cuda])]


def planted_events(rows: int, seed: int) -> pd.DataFrame:
    """Every event's user, host, process and port come from one group; the day is free."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, GROUPS, rows)
    frame = {c: [f"{c}{g}.{v}" for g, v in zip(group, rng.integers(0, VALUES_PER_GROUP, rows),
                                                strict=True)] for c in COLUMNS[:-1]}
    frame["day"] = [f"day{d}" for d in rng.integers(0, 7, rows)]
    return pd.DataFrame(frame)


def crossed(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, list[str]]:
    """Each event with one grouped entity taken from another group: every value was seen in
    training, but never together with the rest of the event. Returns the changed columns."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    changed = []
    for row in range(len(out)):
        column = COLUMNS[rng.integers(0, len(COLUMNS) - 1)]
        group = int(out.at[row, column][len(column)])
        other = (group + rng.integers(1, GROUPS)) % GROUPS
        out.at[row, column] = f"{column}{other}.{rng.integers(0, VALUES_PER_GROUP)}"
        changed.append(column)
    return out, changed


@pytest.fixture(scope="module")
def trained() -> APE:
    return APE(dim=16, epochs=8, random_state=0, progress=False).fit(planted_events(3000, 0))


def test_never_co_occurring_pairs_score_above_normal_events(trained):
    normal = planted_events(500, 1)
    anomalous, _ = crossed(planted_events(500, 2), 3)
    scores = np.concatenate([trained.score(normal), trained.score(anomalous)])
    labels = np.r_[np.zeros(500), np.ones(500)]
    assert roc_auc_score(labels, scores) > 0.95


def test_explanation_names_the_planted_pair_and_unseen_entities(trained):
    anomalous, changed = crossed(planted_events(200, 4), 5)
    explanations = trained.explain(anomalous)
    first_pairs = [e.split(" (pair score")[0] for e in explanations]
    named = np.mean([f"{c}={anomalous.at[i, c]}" in p
                     for i, (c, p) in enumerate(zip(changed, first_pairs, strict=True))])
    assert named > 0.9
    novel = planted_events(1, 6)
    novel["host"] = "10.9.9.9"
    assert trained.explain(novel)[0].endswith("; unseen: host=10.9.9.9")


def test_pair_weights_stay_non_negative_and_are_learned(trained):
    weights = trained.pair_weights_
    assert weights.shape == (len(COLUMNS) * (len(COLUMNS) - 1) // 2,)
    assert (weights >= 0).all()
    assert weights.std() > 0.01  # moved away from the common initial value 1


def test_fast_event_score_equals_the_sum_of_pair_contributions(trained):
    events = planted_events(300, 7)
    ids = trained.vocabulary_.encode(events)
    np.testing.assert_allclose(trained.score(events),
                               -trained.pair_contributions(ids).sum(axis=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("negative_fraction", [0.0, 0.5])
def test_the_score_is_the_weighted_sum_of_pseudo_euclidean_pair_products(negative_fraction):
    """S(e) = Σ_{i<j} w_ij v_iᵀ J v_j with J = diag(+1 … +1, −1 … −1), the last
    round(fraction · dim) signs negative; fraction 0 is the paper's dot product."""
    model = APE(dim=8, epochs=2, negative_fraction=negative_fraction, progress=False)
    model.fit(planted_events(500, 12))
    table = model.network_.embedding.weight.detach().cpu().double().numpy()
    metric = np.where(np.arange(8) < 8 - round(negative_fraction * 8), 1.0, -1.0)
    ids = model.vocabulary_.encode(planted_events(50, 13))
    first, second = np.triu_indices(len(COLUMNS), 1)
    by_hand = sum(weight * np.einsum("nd,d,nd->n", table[ids[:, i]], metric, table[ids[:, j]])
                  for weight, i, j in zip(model.pair_weights_, first, second, strict=True))
    np.testing.assert_allclose(model._score_ids(ids), -by_hand, rtol=1e-4, atol=1e-4)


def test_a_model_saved_before_the_metric_existed_keeps_the_dot_product(tmp_path):
    """Model directories written before ``negative_fraction`` hold no ``metric`` array: they
    load with the Euclidean dot product they were trained with, and say so in their params."""
    model = APE(dim=8, epochs=2, negative_fraction=0.0, progress=False)
    model.fit(planted_events(500, 14))
    model.save(tmp_path / "m")
    state = tmp_path / "m" / "state.npz"
    with np.load(state) as data:
        arrays = {name: data[name] for name in data.files if name != "metric"}
    np.savez(state, **arrays)
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    del record["params"]["negative_fraction"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(record))
    loaded = load_detector(tmp_path / "m")
    assert loaded.negative_fraction == 0.0
    events = planted_events(100, 15)
    np.testing.assert_allclose(loaded.score(events), model.score(events), rtol=1e-6)


def test_replacing_one_entity_costs_one_dot_product(trained):
    network = trained.network_
    ids = torch.as_tensor(trained.vocabulary_.encode(planted_events(64, 8)))
    slots = torch.arange(64) % len(COLUMNS)
    noise = torch.as_tensor(trained.vocabulary_.offsets[slots.numpy()] + 1).unsqueeze(1)
    with torch.no_grad():
        scores, vectors, contexts = network(ids)
        fast = network.replaced_scores(scores, vectors, contexts, torch.arange(64), slots, noise)
        replaced = ids.clone()
        replaced[torch.arange(64), slots] = noise[:, 0]
        np.testing.assert_allclose(fast[:, 0].numpy(), network(replaced)[0].numpy(), atol=1e-4)


def test_count_weights_shape_the_model_without_expanding_rows():
    events = planted_events(2000, 9)
    heavy = events["user"].str.startswith("user0")
    weights = np.where(heavy, 50.0, 1.0)
    model = APE(dim=8, epochs=5, progress=False).fit(events, sample_weight=weights)
    scores = model.score(events)
    assert np.median(scores[heavy]) < np.median(scores[~heavy])


@pytest.mark.parametrize("device", DEVICES)
def test_trains_and_scores_on_each_device(device, tmp_path):
    model = APE(dim=16, epochs=8, device=device, progress=False).fit(planted_events(3000, 0))
    assert model.training_summary_["device"].startswith(device)
    anomalous, _ = crossed(planted_events(300, 2), 3)
    normal = planted_events(300, 1)
    labels = np.r_[np.zeros(300), np.ones(300)]
    assert roc_auc_score(labels, np.r_[model.score(normal), model.score(anomalous)]) > 0.95
    model.save(tmp_path / "m")
    loaded = load_detector(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score(normal), model.score(normal))
    # the same model scored on the CPU (a GPU-trained model used by a CPU-only daemon)
    np.testing.assert_allclose(loaded.set_params(device="cpu").score(normal),
                               model.score(normal), rtol=1e-4, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.integers(0, 199), min_size=1, max_size=40))
def test_an_event_scores_the_same_in_any_batch(trained, rows):
    events = planted_events(200, 10)
    full = trained.score(events)
    np.testing.assert_allclose(trained.score(events.iloc[rows]), full[rows], rtol=1e-5, atol=1e-5)


def test_early_stopping_keeps_the_best_held_out_epoch():
    model = APE(dim=8, epochs=12, patience=2, lr_drops=0, progress=False)
    summary = model.fit(planted_events(2000, 11)).training_summary_
    losses = [h["validation_loss"] for h in summary["history"]]
    assert summary["early_stopping"]
    assert summary["best_loss"] == pytest.approx(min(losses), abs=1e-6)
    assert summary["epochs_run"] == 12 or summary["epochs_run"] - summary["best_epoch"] == 2


def test_a_stalled_held_out_loss_cuts_the_learning_rate_before_training_stops():
    """Reduce on plateau: after ``patience`` epochs without a better held-out loss the rate
    drops to 30 %, at most ``lr_drops`` times; the next stall ends training."""
    model = APE(dim=8, epochs=200, patience=2, lr_drops=2, learning_rate=0.01, progress=False)
    summary = model.fit(planted_events(600, 16)).training_summary_
    rates = [h["learning_rate"] for h in summary["history"]]
    assert list(dict.fromkeys(rates)) == pytest.approx([0.01, 0.003, 0.0009])
    last_drop = rates.index(min(rates))  # the epoch (1-based) whose end cut the rate last
    assert summary["epochs_run"] < 200
    assert summary["epochs_run"] - max(summary["best_epoch"], last_drop) == 2


@pytest.mark.parametrize(("params", "message"), [({"dim": 0}, "dim"),
                                                 ({"validation_fraction": 1.0}, "validation"),
                                                 ({"learning_rate": 0}, "learning_rate"),
                                                 ({"negative_fraction": 1.5}, "negative_fraction")])
def test_bad_hyper_parameters_are_named(params, message):
    with pytest.raises(InputError, match=message):
        APE(progress=False, **params).fit(planted_events(50, 0))


def test_one_entity_column_is_refused():
    with pytest.raises(InputError, match="at least 2 entity columns"):
        APE(entities=["user"], progress=False).fit(planted_events(50, 0))
