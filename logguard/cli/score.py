"""Score a file of events with a trained model: every input row plus a score and why.

The input is streamed in chunks, so files larger than memory are fine. The output holds every
input column in input order (a label column passes through untouched), then `score` (higher =
more anomalous) and `explanation` (for APE: the least compatible entity pairs and the entities
never seen in training). The output format follows its extension: .csv, .csv.gz or .parquet.

example:
  logguard score --model models/ape-ids2017 --input ../shared/data/ids2017/test.csv \\
      --output scored.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from logguard.cli._common import add_input_arguments, infer_format
from logguard.errors import InputError

ADDED_COLUMNS = ("score", "explanation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, metavar="DIR",
                        help="model directory written by `logguard train`")
    add_input_arguments(parser, entities=False)
    parser.add_argument("--output", required=True, type=Path, metavar="FILE",
                        help="output file: .csv, .csv.gz or .parquet")
    parser.add_argument("--chunk-rows", type=int, default=65_536, metavar="N",
                        help="rows scored per chunk (default 65536)")


def run(args: argparse.Namespace) -> int:
    from logguard.events.readers import iter_frames
    from logguard.models.base import load_detector

    writer = _writer_for(args.output)
    if args.chunk_rows < 1:
        raise InputError("--chunk-rows must be >= 1")
    model = load_detector(args.model)
    fmt = infer_format(args.input, args.format)
    started = time.perf_counter()
    rows = 0
    try:
        for chunk in iter_frames(args.input, fmt, chunk_rows=args.chunk_rows):
            clash = [c for c in ADDED_COLUMNS if c in chunk.columns]
            if clash:
                raise InputError(f"{args.input}: input already has column(s) "
                                 f"{', '.join(map(repr, clash))}; rename them first")
            out = chunk.copy()
            out["score"] = model.score(chunk)
            out["explanation"] = model.explain(chunk)
            writer.write(out)
            rows += len(out)
    finally:
        writer.close()
    seconds = time.perf_counter() - started
    rate = rows / seconds if seconds > 0 else float("inf")
    print(f"scored {rows:,} events with {model.kind} (version {model.version_}) in "
          f"{seconds:.1f} s ({rate:,.0f} events/s) -> {args.output}")
    return 0


class _CsvWriter:
    def __init__(self, path: Path) -> None:
        self.path, self.started = path, False

    def write(self, frame) -> None:
        frame.to_csv(self.path, mode="a" if self.started else "w", header=not self.started,
                     index=False, compression="gzip" if self.path.suffix == ".gz" else None)
        self.started = True

    def close(self) -> None:
        if not self.started:  # an empty input still gives a file with the added columns
            self.path.write_text(",".join(ADDED_COLUMNS) + "\n")


class _ParquetWriter:
    def __init__(self, path: Path) -> None:
        self.path, self.writer = path, None

    def write(self, frame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            schema = pa.schema([("score", pa.float64()), ("explanation", pa.string())])
            pq.write_table(schema.empty_table(), self.path)
        else:
            self.writer.close()


def _writer_for(path: Path):
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return _CsvWriter(path)
    if name.endswith((".parquet", ".pq")):
        return _ParquetWriter(path)
    raise InputError(f"cannot tell the output format of {path}: use .csv, .csv.gz or .parquet")
