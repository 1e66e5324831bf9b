"""LAN on the CERT-layout simulator: planted insiders rank high; the loss terms do their job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from logguard.errors import InputError
from logguard.models.base import load_detector
from logguard.models.lan import LAN, PAD, _build_net, _graph_regulariser, _hybrid_loss
from logguard.sim.cert import simulated_activity

SMALL = {"dim": 32, "epochs": 3, "pool_size": 1024, "batch_size": 256}
REFERENCE = Path(__file__).resolve().parent / "data" / "lan_reference"


@pytest.fixture(scope="module")
def timeline() -> tuple[pd.DataFrame, pd.DataFrame]:
    """12 users over 36 days, all three scenarios in the last quarter; split by time."""
    frame = simulated_activity(n_users=12, days=36, seed=3, scenarios=(1, 2, 3))
    cut = frame["time"] < "2010-02-01"
    return frame[cut], frame[~cut]


@pytest.fixture(scope="module")
def trained(timeline) -> LAN:
    torch.set_num_threads(1)
    return LAN(**SMALL).fit(timeline[0])


def test_planted_insider_activities_rank_above_normal_ones(trained, timeline):
    test = timeline[1]
    scores = trained.score(test)
    labels = test["label"].to_numpy()
    assert labels.sum() > 50
    assert roc_auc_score(labels, scores) > 0.9
    budget = np.quantile(scores, 0.95)
    assert (scores[labels == 1] >= budget).mean() > 0.5  # detection rate at a 5 % budget
    normal = np.median(scores[labels == 0])
    for scenario in (1, 2, 3):
        assert np.median(scores[test["scenario"].to_numpy() == scenario]) > normal


def test_scores_use_only_the_past_of_each_user(trained, timeline):
    test = timeline[1].head(300)
    changed = test.copy()
    changed.loc[changed.index[-1], "action"] = "device:connect"  # the future of the last row
    np.testing.assert_array_equal(trained.score(test)[:-1], trained.score(changed)[:-1])


def test_explanation_names_the_activity_its_history_and_neighbours(trained, timeline):
    train, test = timeline
    leak = test[test["action"] == "http:upload:leak"].head(1)
    text = trained.explain(leak)[0]
    hour = leak["hour"].iloc[0]
    assert text.startswith(f"http:upload:leak@{hour} was never seen in training (p=0); "
                           "expected ")
    assert f"; after {' > '.join(leak['history'].iloc[0].split()[-4:])}; " in text
    # the retrieved neighbours are named by the training event they came from
    neighbours = text.split("; nearest normal sequences: ")[1].split("; ")
    assert len(neighbours) == 2
    for neighbour in neighbours:
        user, _, when = neighbour.split(" (cos ")[0].partition(" at ")
        assert ((train["user"] == user) & train["time"].str.startswith(when)).any()
    seen = test[test["label"] == 0].head(1)
    assert " was unlikely (p=" in trained.explain(seen)[0]
    assert -trained.score(seen)[0] == pytest.approx(
        float(trained.explain(seen)[0].split("p=")[1].split(",")[0]), rel=1e-2)


def test_hybrid_loss_targets():
    logits = torch.tensor([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    targets = torch.tensor([0, 0])
    weights = torch.ones(2)
    log_p = torch.log_softmax(logits[0], dim=0)
    normal = _hybrid_loss(logits[:1], targets[:1], torch.tensor([0]), weights[:1])
    malicious = _hybrid_loss(logits[1:], targets[1:], torch.tensor([1]), weights[1:])
    assert float(normal) == pytest.approx(float(-log_p[0]))
    assert float(malicious) == pytest.approx(float(-(log_p[1] + log_p[2]) / 2))


def test_graph_regulariser_is_smoothness_plus_sparsity():
    nodes = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    adjacency = torch.tensor([[[1.0, 0.5], [0.5, 1.0]]])
    # tr(Z^T L Z) = sum_ij A_ij |z_i - z_j|^2 / 2 = 0.5; ||A||_F^2 = 2.5; k^2 = 4
    value = _graph_regulariser(adjacency, nodes, smoothness=0.2, sparsity=0.1)
    assert float(value) == pytest.approx((0.2 * 0.5 + 0.1 * 2.5) / 4)


def test_label_column_must_hold_zero_or_one(timeline):
    frame = timeline[0].head(50).copy()
    frame["label"] = frame["label"].astype(object)
    frame.loc[frame.index[4], "label"] = "yes"
    with pytest.raises(InputError, match="row 4"):
        LAN(epochs=1, label_column="label").fit(frame)


def test_scoring_fast_path_equals_the_training_forward(trained, timeline):
    """The inference path (folded attention, gather tables, target-only second GCN layer)
    against the modules training runs, on the same neighbours."""
    _, history = trained._encode(timeline[1].head(500))
    with torch.inference_mode():
        ids = torch.from_numpy(history)
        z = trained.net_.encoder(ids)
        fast_z = trained.net_.encoder.encode_for_scoring(ids, trained.scoring_tables_)
        torch.testing.assert_close(fast_z, z, rtol=1e-5, atol=1e-5)
        unit = torch.nn.functional.normalize(z, dim=1)
        index = unit.matmul(trained.pool_unit_.T).topk(trained.neighbors - 1, dim=1).indices
        full = trained.net_(z, trained.pool_z_[index])[0]
        fast = trained.net_.score_forward(z, index, trained.pool_cache_)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)


def test_scores_equal_the_training_forward_end_to_end(trained, timeline):
    """score() against -softmax(forward)[actual] computed with the training modules; a row
    may only differ where float rounding reorders two (near-)tied neighbours."""
    events = timeline[1].head(2000)
    targets, history = trained._encode(events)
    with torch.inference_mode():
        z = trained.net_.encoder(torch.from_numpy(history))
        unit = torch.nn.functional.normalize(z, dim=1)
        index = unit.matmul(trained.pool_unit_.T).topk(trained.neighbors - 1, dim=1).indices
        logits = trained.net_(z, trained.pool_z_[index])[0]
        p = torch.softmax(logits.double(), dim=1).numpy()[np.arange(len(targets)), targets]
    reference = -np.where(targets == 1, 0.0, p)
    differs = np.abs(trained.score(events) - reference) > 1e-5
    assert differs.mean() < 0.01


def test_history_tokens_are_encoded_like_a_whitespace_split(trained):
    tokens = trained.tokens_
    known = tokens[2:6]
    events = pd.DataFrame({
        "action": [known[0].split("@")[0], "never-seen", "x"],
        "hour": [int(known[0].split("@")[1]), 3, 4],
        "history": [" ".join(known * 10), f"  {known[1]}\t unknown@99 {known[2]} ", None],
    })
    targets, history = trained._encode(events)
    assert targets.tolist() == [2, 1, 1]  # known, unknown, unknown
    window = trained.window
    expected_first = [tokens.index(t) for t in (known * 10)[-window:]]
    assert history[0].tolist() == expected_first
    assert history[1].tolist() == [0] * (window - 3) + [3, 1, 4]
    assert history[2].tolist() == [0] * window


def test_without_neighbours_it_is_the_lstm_ablation(timeline):
    torch.set_num_threads(1)
    model = LAN(**SMALL, neighbors=1).fit(timeline[0])
    scores = model.score(timeline[1])
    assert roc_auc_score(timeline[1]["label"], scores) > 0.85
    assert "nearest normal sequence" not in model.explain(timeline[1].head(1))[0]


@pytest.mark.parametrize("threads", [1, 2])
def test_scores_equal_the_saved_reference(threads):
    """A model (dim 32, pool 256) fitted on the simulator and its scores of 500 test events
    (58 malicious), both saved by the scoring code before it stepped the LSTM itself,
    de-duplicated windows and shared batches among threads: the same scores, within 1e-5,
    on one thread and on two (two batches, one per worker thread)."""
    model = load_detector(REFERENCE / "model")
    events = pd.read_parquet(REFERENCE / "events.parquet")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        scores = model.score(events)
        assert torch.get_num_threads() == threads  # the workers' setting is undone
    finally:
        torch.set_num_threads(previous)
    expected = np.load(REFERENCE / "scores.npy")
    assert len(np.unique(expected)) > 400
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("layers", [1, 2])
def test_stepped_lstm_equals_torch_lstm(layers):
    """The scoring LSTM (folded input table, gates reordered, tanh as a sigmoid) against
    ``nn.LSTM`` on the same weights, left-padded rows included."""
    torch.manual_seed(layers)
    model = LAN(dim=16, layers=layers, heads=2)
    net = _build_net(model, 12).eval()
    ids = torch.randint(2, 12, (64, model.window))
    ids[:8, :5] = PAD
    with torch.inference_mode():
        expected = net.encoder.lstm(net.encoder.embedding(ids))[0]
        stepped = net.encoder.lstm_for_scoring(ids, net.encoder.scoring_tables())
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(stepped, expected, rtol=1e-5, atol=1e-6)


def test_repeated_histories_score_like_single_ones(trained, timeline):
    events = timeline[1].head(300)
    repeated = pd.concat([events, events.iloc[::-1], events.head(7)])
    once = trained.score(events)
    np.testing.assert_array_equal(trained.score(repeated),
                                  np.concatenate([once, once[::-1], once[:7]]))


def test_history_must_be_text(trained):
    events = pd.DataFrame({"action": ["logon:logon"], "hour": [9], "history": [3]})
    with pytest.raises(InputError, match="column 'history' must hold text"):
        trained.score(events)


WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u3000"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="ab@1" + WHITESPACE + "\u200b",
                                              max_size=60)), min_size=1, max_size=20))
def test_history_tokens_are_the_last_window_of_a_python_split(histories):
    model = LAN(window=4)
    flat, counts = model._history_tokens(pd.DataFrame({"history": histories}))
    expected = [text.split()[-4:] if text else [] for text in histories]
    assert counts.tolist() == [len(tokens) for tokens in expected]
    assert flat.to_pylist() == [token for tokens in expected for token in tokens]
