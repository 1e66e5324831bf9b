"""The DuckDB hot store: ``events``, ``dead_letters`` and the per-partition stored offsets.

One process owns a DuckDB file (DuckDB lets a single process hold it; no other process can
open it then, not even read-only). ``events`` has exactly the union layout of
:func:`~logguard.events.schema.store_columns` plus ``ingested_at``; ``dead_letters`` keeps the
raw bytes of every refused message with the reason. Both are unique on
``(kafka_topic, kafka_partition, kafka_offset)``; a batch holding a row that is already
there is re-inserted with ``INSERT OR IGNORE``, so replaying a batch inserts nothing twice.
``kafka_offsets`` holds the last stored offset
per (topic, partition); :meth:`EventStore.write_batch` writes events, dead letters and these
offsets in one transaction, which makes the store the source of truth for where to resume.

Opening the file also migrates it: tables are created when missing and columns that a newer
schema adds to :func:`store_columns` are added with ``ALTER TABLE``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from logguard.errors import StoreError
from logguard.events.schema import store_columns

if TYPE_CHECKING:
    import duckdb

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.binary(): "BLOB",
}
KAFKA_KEY = ("kafka_topic", "kafka_partition", "kafka_offset")
DEAD_LETTER_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("payload", pa.binary()),
    ("reason", pa.string()),
    ("source", pa.string()),
    ("kafka_topic", pa.string()),
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
    ("kafka_timestamp", pa.timestamp("us", tz="UTC")),
    ("received_at", pa.timestamp("us", tz="UTC")),
)
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def _quote(name: str) -> str:
    """A column name from our own schemas as a quoted SQL identifier."""
    if not name.isidentifier():
        raise StoreError(f"column name {name!r} is not a plain identifier")
    return f'"{name}"'


def _column_ddl(columns: tuple[tuple[str, pa.DataType], ...]) -> str:
    return ", ".join(f"{_quote(n)} {_DUCKDB_TYPES[t]}" for n, t in columns)


def events_arrow_schema() -> pa.Schema:
    """Arrow schema of an ``events`` batch (the store layout without ``ingested_at``)."""
    return pa.schema(list(store_columns()))


def dead_letters_arrow_schema() -> pa.Schema:
    """Arrow schema of a ``dead_letters`` batch."""
    return pa.schema(list(DEAD_LETTER_COLUMNS))


def open_duckdb(path: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file; not a DuckDB file or held by another process -> StoreError (exit 3)."""
    import duckdb

    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"{path}: no such DuckDB file")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            holder = _LOCK_PID.search(message)
            who = f" (PID {holder.group(1)})" if holder else ""
            raise StoreError(
                f"{path} is locked by another process{who}: DuckDB allows one process per file; "
                "stop that process, or give this one its own --db file") from None
        raise StoreError(f"{path} is not a usable DuckDB file: {message}") from None
    except duckdb.Error as exc:
        raise StoreError(f"{path} is not a usable DuckDB file: {exc}") from None


def insert_or_ignore(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """``INSERT OR IGNORE`` an Arrow table whose columns are named like ``table``'s (rows whose
    unique key is present stay as they are); on ``con``, so inside its open transaction."""
    view = f"incoming_{table}"
    con.register(view, rows)
    try:
        con.execute(f"INSERT OR IGNORE INTO {_quote(table)} "  # noqa: S608
                    f"({', '.join(_quote(n) for n in rows.schema.names)}) SELECT * FROM {view}")
    finally:
        con.unregister(view)


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of ``con`` inside ``BEGIN … COMMIT``; any exception rolls back and propagates
    (a failing ROLLBACK of an already aborted transaction does not hide it).

    Each caller gets its own cursor, so threads sharing the connection (the daemon's loop, its
    publisher, the web server) keep their transactions apart."""
    import duckdb

    cursor = con.cursor()
    try:
        cursor.execute("BEGIN TRANSACTION")
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
            raise
    finally:
        cursor.close()


class EventStore:
    """The writer side of one DuckDB file: migrate on open, batch writes, stored offsets."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = open_duckdb(self.path)
        try:
            self._migrate()
        except Exception:
            self.con.close()
            raise

    def _migrate(self) -> None:
        import duckdb

        key = ", ".join(KAFKA_KEY)
        try:
            self.con.execute(
                f"CREATE TABLE IF NOT EXISTS events ({_column_ddl(store_columns())}, "
                f"ingested_at TIMESTAMPTZ DEFAULT current_timestamp, UNIQUE ({key}))")
            self.con.execute(
                f"CREATE TABLE IF NOT EXISTS dead_letters ({_column_ddl(DEAD_LETTER_COLUMNS)}, "
                f"UNIQUE ({key}))")
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS kafka_offsets (kafka_topic VARCHAR, "
                "kafka_partition INTEGER, last_offset BIGINT NOT NULL, "
                "updated_at TIMESTAMPTZ DEFAULT current_timestamp, "
                "PRIMARY KEY (kafka_topic, kafka_partition))")
            existing = {row[0] for row in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'"
            ).fetchall()}
            for name, arrow_type in store_columns():
                if name not in existing:
                    self.con.execute(
                        f"ALTER TABLE events ADD COLUMN {_quote(name)} {_DUCKDB_TYPES[arrow_type]}")
        except duckdb.Error as exc:
            raise StoreError(
                f"{self.path}: cannot create or migrate the store tables: {exc}") from None

    def stored_offsets(self, topic: str) -> dict[int, int]:
        """partition -> last offset stored (events or dead letters) for ``topic``."""
        rows = self.con.execute(
            "SELECT kafka_partition, last_offset FROM kafka_offsets WHERE kafka_topic = ?",
            [topic]).fetchall()
        return {int(p): int(o) for p, o in rows}

    def resume_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The last stored offset of each of ``partitions`` the store has: a consumer resumes
        right after it (partitions the store has never seen are left out)."""
        by_topic = {topic: self.stored_offsets(topic) for topic in {t for t, _ in partitions}}
        return {(t, p): by_topic[t][p] for t, p in partitions if p in by_topic[t]}

    def write_batch(self, events: pa.Table, dead_letters: pa.Table,
                    offsets: dict[tuple[str, int], int],
                    also: Callable[[duckdb.DuckDBPyConnection, bool], None] | None = None) -> None:
        """Insert one micro-batch and advance the stored offsets, all in one transaction.

        ``offsets`` maps (topic, partition) to the last offset covered by this batch; offsets
        only move forward. The caller skips offsets the store already has, so the fast plain
        ``INSERT`` is tried first; should a row be there anyway (unique Kafka coordinates
        violated), the transaction is rolled back and redone with ``INSERT OR IGNORE``.
        ``also(cursor, replay)`` runs inside the same transaction before it commits (the
        daemon writes the batch's scores, alerts and outbox messages there). It may run twice:
        ``replay`` is False on the first try and True on the retry, after some of the batch's
        events were found stored already, so the retry must insert only what is missing.
        """
        import duckdb

        try:
            self._write(events, dead_letters, offsets, also, ignore_present=False)
        except duckdb.ConstraintException:
            self._write(events, dead_letters, offsets, also, ignore_present=True)

    def _write(self, events: pa.Table, dead_letters: pa.Table,
               offsets: dict[tuple[str, int], int],
               also: Callable[[duckdb.DuckDBPyConnection, bool], None] | None, *,
               ignore_present: bool) -> None:
        import duckdb

        insert = "INSERT OR IGNORE INTO" if ignore_present else "INSERT INTO"
        try:
            with transaction(self.con) as cursor:
                if events.num_rows:
                    # columns no event of the batch has stay NULL without being scanned (~20 % less
                    # insert work for a one-source batch of the 44-column union layout)
                    names = ", ".join(_quote(n) for n in events.schema.names
                                      if events.column(n).null_count < events.num_rows)
                    cursor.register("incoming_events", events)
                    cursor.execute(f"{insert} events ({names}) "  # noqa: S608
                                   f"SELECT {names} FROM incoming_events")
                    cursor.unregister("incoming_events")
                if dead_letters.num_rows:
                    cursor.register("incoming_dead_letters", dead_letters)
                    cursor.execute(f"{insert} dead_letters "  # noqa: S608
                                   "SELECT * FROM incoming_dead_letters")
                    cursor.unregister("incoming_dead_letters")
                if offsets:
                    cursor.executemany(
                        "INSERT INTO kafka_offsets (kafka_topic, kafka_partition, last_offset) "
                        "VALUES (?, ?, ?) ON CONFLICT (kafka_topic, kafka_partition) DO UPDATE SET "
                        "last_offset = greatest(kafka_offsets.last_offset, excluded.last_offset), "
                        "updated_at = now()",
                        [[t, p, o] for (t, p), o in offsets.items()])
                if also is not None:
                    also(cursor, ignore_present)
        except duckdb.ConstraintException:
            if ignore_present:
                raise StoreError(f"{self.path}: a batch broke a constraint twice") from None
            raise
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: writing a batch failed: {exc}") from exc

    def count(self, table: str) -> int:
        """Rows in ``events`` or ``dead_letters``."""
        if table not in ("events", "dead_letters"):
            raise StoreError(f"unknown table {table!r}")
        return int(self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
