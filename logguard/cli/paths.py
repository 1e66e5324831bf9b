"""Rank the most suspicious process paths of an input with a trained GID model.

Builds the compact time-respecting process graph of every (host, window) in the input, scores
each path by its Box-Cox normalised regularity (GID, Dong et al. 2016) and writes the top K
paths, most anomalous first, one JSON object per line: rank, z_score, score (the raw
-log regularity), length, host, chain (a readable summary), nodes (id, kind, name, label and,
for processes, process_guid, image, command_line) and edges (src, dst, relation, time, count,
regularity, why it is rare).

example:
  logguard train gid --input ../shared/data/otrf/atomic --format sysmon --out models/gid
  logguard paths --model models/gid --format sysmon --top 10 --output paths.jsonl \\
      --input ../shared/data/otrf/atomic/windows/credential_access/host/cmd_sam_copy_esentutl.zip
"""

from __future__ import annotations

import argparse
from pathlib import Path

from logguard.cli._common import add_input_arguments, infer_format
from logguard.errors import InputError, ModelError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, metavar="DIR",
                        help="a GID model directory written by `logguard train gid`")
    add_input_arguments(parser, entities=False)
    parser.add_argument("--top", type=int, default=10, metavar="K",
                        help="number of paths to write (default 10)")
    parser.add_argument("--output", required=True, type=Path, metavar="FILE.jsonl",
                        help="where to write the paths (JSON lines)")


def run(args: argparse.Namespace) -> int:
    import orjson

    from logguard.events.readers import read_frame
    from logguard.models.base import load_detector

    if args.top < 1:
        raise InputError("--top must be at least 1")
    model = load_detector(args.model)
    if model.kind != "gid":
        raise ModelError(f"{args.model} holds a {model.kind!r} model; `paths` needs a gid model")
    events = read_frame(args.input, infer_format(args.input, args.format))
    paths = model.top_paths(events, args.top)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("wb") as handle:
        for path in paths:
            handle.write(orjson.dumps(path) + b"\n")
    print(f"logguard paths: {len(events):,} events, {len(paths)} paths -> {args.output}")
    for path in paths[: min(len(paths), 5)]:
        print(f"  #{path['rank']} z={path['z_score']:.2f} {path['host']}: {path['chain'][:160]}")
    return 0
