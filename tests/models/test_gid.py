"""GID on real OTRF recordings: fit, top paths, per-event scores, explanations, persistence."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from logguard.errors import ConfigError, InputError
from logguard.events.readers import read_frame
from logguard.graph.build import build_graph
from logguard.models.base import load_detector
from logguard.models.gid import GID, HistoryEdges, distinct_end_processes, end_processes

HOST = Path(__file__).resolve().parents[3] / "shared" / "data" / "otrf" / "atomic" / "windows"
TRAIN = [
    HOST / "defense_evasion" / "host" / "psh_mavinject_dll_notepad.zip",
    HOST / "defense_evasion" / "host" / "cmd_mshta_vbscript_execute_psh.zip",
    HOST / "defense_evasion" / "host" / "cmd_bitsadmin_download_psh_script.zip",
    HOST / "discovery" / "host" / "cmd_seatbelt_group_user.zip",
    HOST / "credential_access" / "host" / "cmd_psexec_lsa_secrets_dump.zip",
    HOST / "execution" / "host" / "psh_python_webserver.zip",
]
ESENTUTL = HOST / "credential_access" / "host" / "cmd_sam_copy_esentutl.zip"


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return pd.concat([read_frame(path, "sysmon") for path in TRAIN], ignore_index=True)


@pytest.fixture(scope="module")
def model(history) -> GID:
    return GID(n_walks=4000).fit(history)


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    return read_frame(ESENTUTL, "sysmon")


def test_the_attack_tool_is_on_the_top_path_of_an_unseen_recording(model, held_out):
    paths = model.top_paths(held_out, 5)
    assert [p["rank"] for p in paths] == [1, 2, 3, 4, 5]
    assert [p["z_score"] for p in paths] == sorted((p["z_score"] for p in paths), reverse=True)
    top = paths[0]
    images = [n.get("image") or "" for n in top["nodes"] if n["kind"] == "process"]
    assert any(image.lower().endswith("esentutl.exe") for image in images)
    assert "esentutl" in top["chain"] and top["host"] == "WORKSTATION5"
    edge = top["edges"][0]
    assert edge["time"].startswith("2020-10-19T04:28") and edge["why"]
    assert {"process_guid", "image", "command_line"} <= set(top["nodes"][0])


def test_scores_mark_the_events_on_top_paths(model, held_out):
    scores = model.score(held_out)
    assert scores.shape == (len(held_out),) and scores.dtype == np.float64
    on_path = scores != 0
    assert 0 < on_path.sum() < len(held_out)
    acting = held_out.loc[on_path, "image"].fillna("") + held_out.loc[on_path, "object_name"]
    assert acting.str.lower().str.contains("esentutl").any()
    explanations = model.explain(held_out)
    best = int(np.argmax(scores))
    assert explanations[best].startswith(f"path z={scores[best]:.2f}")
    assert "never seen" in explanations[best] or "rare" in explanations[best]


def test_empty_input_gives_empty_scores(model, held_out):
    assert model.score(held_out.iloc[:0]).shape == (0,) and model.explain(held_out.iloc[:0]) == []


def test_saved_model_gives_identical_paths_and_scores(model, held_out, tmp_path):
    model.save(tmp_path / "gid")
    again = load_detector(tmp_path / "gid")
    assert isinstance(again, GID)
    np.testing.assert_array_equal(again.score(held_out), model.score(held_out))
    assert again.top_paths(held_out, 3) == model.top_paths(held_out, 3)


def test_node_score_options(history):
    walk = GID(node_scores="walk", n_walks=1000).fit(history)
    sender, receiver = walk.transitions_.sender, walk.transitions_.receiver
    assert sender.max() == 1 and receiver.max() == 1 and sender.min() < 1 and receiver.min() < 1
    plain = GID(node_scores="none", normalize=False, n_walks=1000).fit(history)
    assert np.all(plain.transitions_.sender == 1) and np.all(plain.transitions_.receiver == 1)
    path = plain.top_paths(read_frame(ESENTUTL, "sysmon"), 1)[0]
    assert path["z_score"] == pytest.approx(path["score"])  # no Box-Cox: z is the raw score


def test_bad_input_and_parameters_are_user_errors(history):
    with pytest.raises(InputError, match="'object_name'"):
        GID(n_walks=100).fit(history.drop(columns=["object_name"]))
    with pytest.raises(ConfigError, match="node_scores"):
        GID(node_scores="pagerank").fit(history)
    with pytest.raises(InputError, match="empty"):
        GID().fit(history.iloc[:0])
    bad_time = history.head(3).assign(time=["yesterday", "x", "y"])
    with pytest.raises(InputError, match="'time'"):
        GID(n_walks=100).fit(bad_time)


@pytest.fixture(scope="module")
def simulated() -> tuple[GID, pd.DataFrame, str]:
    """A GID fitted on 4 h of 5 simulated hosts, 2 h of trace with an attack chain on one."""
    from logguard.sim import AttackChain, host_names, simulate_processes

    history = simulate_processes(5, "2024-03-04T08:00:00Z", 4 * 3600, seed=1)
    victim = host_names(5)[0]
    trace = simulate_processes(5, "2024-03-05T08:00:00Z", 2 * 3600, seed=2,
                               attacks=[AttackChain(host=victim, start="2024-03-05T09:00:00Z")])
    return GID(n_walks=5000).fit(history), trace, victim


def test_planted_attack_chain_in_simulated_traces_ranks_first(simulated):
    model, trace, _victim = simulated
    graph, paths = model.graph_paths(trace, 3)
    attack_rows = trace["attack_id"].notna().to_numpy() & (graph.event_edge >= 0)
    attack_edges = set(graph.event_edge[attack_rows].tolist())
    assert [bool(attack_edges & set(p.edges)) for p in paths] == [True, True, True]
    assert paths[0].length >= 2  # a chain of steps, not a single odd edge
    scores = model.score(trace)
    assert scores[trace["attack_id"].notna().to_numpy()].max() == pytest.approx(paths[0].z)


def test_top_paths_by_host_equal_each_hosts_own_top_paths(simulated):
    model, trace, victim = simulated
    by_host = model.top_paths_by_host(trace, 4)
    alone = {host: model.top_paths(trace[trace["host"] == host], 4)
             for host in trace["host"].unique()}
    assert by_host == {host: paths for host, paths in alone.items() if paths}
    assert len(by_host) == 5 and all(len(paths) == 4 for paths in by_host.values())
    assert by_host[victim][0]["z_score"] == max(p["z_score"] for ps in by_host.values()
                                                for p in ps)


def _end_key(graph, path):
    return (graph.group_host[graph.edge_group[path.edges[0]]],
            graph.node_label[end_processes(graph)[path.edges[-1]]])


def test_paths_lead_to_distinct_processes(model, held_out):
    graph, paths = model.graph_paths(held_out, 10)
    assert len(paths) == 10
    assert len({_end_key(graph, p) for p in paths}) == 10
    raw_model = GID(**{**model.get_params(), "dedupe": False})
    raw_model.transitions_, raw_model.normalizer_ = model.transitions_, model.normalizer_
    raw_model.fitted_ = True
    raw_graph, raw_paths = raw_model.graph_paths(held_out, 60)
    keys = [_end_key(raw_graph, p) for p in raw_paths]
    assert len(set(keys)) < len(keys)  # without dedupe one process ends many paths
    kept = distinct_end_processes(raw_graph, raw_paths)
    # the best path of every end process, in rank order, and no end process lost
    assert kept == [p for i, p in enumerate(raw_paths) if keys[i] not in keys[:i]]
    assert {_end_key(raw_graph, p) for p in kept} == set(keys)
    ends = end_processes(raw_graph)
    for path in raw_paths:  # the end process acts on the last object or is the last target
        last = path.edges[-1]
        node = ends[last]
        assert raw_graph.node_kind[node] == "process"
        assert node == raw_graph.edge_dst[last] or (
            node == raw_graph.edge_src[last]
            and raw_graph.node_kind[raw_graph.edge_dst[last]] != "process")


def test_unseen_labels_cost_the_floor_once_with_plain_probabilities(history):
    plain = GID(normalize=False, n_walks=100).fit(history)
    model = plain.transitions_
    known = model.label_ids(np.array(["process:c:\\windows\\system#\\cmd.exe"], dtype=object))
    assert known[0] >= 0
    unseen = np.array([-1])
    rel = model.relation_ids(np.array(["process_start"], dtype=object))
    floor = -np.log(plain.transition_floor)
    for u, v in ((known, unseen), (unseen, known), (unseen, unseen)):
        assert model.edge_weights(u, rel, v)[0] == pytest.approx(floor)
    walk = GID(node_scores="walk", normalize=False, n_walks=100).fit(history).transitions_
    assert walk.edge_weights(unseen, rel, unseen)[0] == pytest.approx(3 * floor)


def test_host_rarity_weights_process_starts_by_their_child_image_across_hosts(history):
    first = history["recording"] == history["recording"].iloc[0]
    # the first recording replayed on a second host: its children are started on both hosts
    two_hosts = pd.concat([history, history[first].assign(host="WORKSTATION9")],
                          ignore_index=True)
    base = GID(normalize=False, n_walks=100).fit(two_hosts).transitions_
    key = base.edge_key
    u = key // base.n_labels // base.n_relations
    rel = key // base.n_labels % base.n_relations
    v = key % base.n_labels
    extra = base.edge_weights(u, rel, v, host_rarity=True) - base.edge_weights(u, rel, v)
    starts = base.relations[rel] == "process_start"
    np.testing.assert_allclose(extra[starts], -np.log(base.start_hosts[v[starts]] / base.n_hosts))
    assert np.all(extra[~starts] == 0)
    assert base.n_hosts == 2
    assert extra[starts].max() == pytest.approx(np.log(2))  # started on one host only
    assert extra[starts].min() == pytest.approx(0)  # started on both
    unseen = np.array([-1])
    assert base.edge_weights(unseen, rel[starts][:1], unseen, host_rarity=True)[0] == (
        pytest.approx(-np.log(1e-3)))


def test_history_reference_is_the_cross_fitted_top_paths_of_history_windows(history):
    model = GID(reference="history", reference_k=3, max_length=3)
    graph = build_graph(history, model.window_seconds)
    model.fit_graphs([graph], len(history))
    samples = model._history_top_scores(HistoryEdges.of([graph]))
    n_groups = len(graph.group_host)
    assert len(samples) == 3 and 0 < len(samples[0]) <= 3 * n_groups
    assert all(len(samples[i + 1]) <= len(samples[i]) for i in range(2))
    assert np.all(np.isfinite(model.normalizer_.mu)) and np.all(model.normalizer_.sigma > 0)
    with pytest.raises(ConfigError, match="reference"):
        GID(reference="bootstrap").fit(history)
