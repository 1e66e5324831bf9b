"""The outbox publisher: a thread that delivers queued findings to every sink until acked.

Loop (its own DuckDB cursor, so ingest never waits for it): for each sink, the due messages
(``acked_at IS NULL AND next_attempt_at <= now()``, oldest first, at most ``batch`` of them)
go to ``sink.send``; the acknowledged ids get ``acked_at``; the others get ``attempts + 1`` and
``next_attempt_at = now + backoff_s(attempts)`` (exponential back-off with full jitter), so a
sink that is down is retried ever more slowly, never blocks ingest and never loses a message.
Delivery is at-least-once with stable message ids (a crash between the send and the ack
update re-sends the same id). :meth:`Publisher.wake` lets the ingest loop signal new rows
so a fresh alert leaves within milliseconds rather than at the next poll.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from logguard.daemon.sinks import OutboxMessage, Sink, backoff_s
from logguard.store.duckdb_store import transaction

if TYPE_CHECKING:
    import duckdb

    from logguard.daemon.metrics import Metrics

log = logging.getLogger(__name__)


class Publisher:
    """Delivers the outbox to ``sinks`` on a background thread."""

    def __init__(self, con: duckdb.DuckDBPyConnection, sinks: list[Sink], metrics: Metrics,
                 batch: int = 500, idle_s: float = 0.5, seed: int | None = None) -> None:
        self.cursor = con.cursor()
        self.sinks = list(sinks)
        self.metrics = metrics
        self.batch = batch
        self.idle_s = idle_s
        self._rng = random.Random(seed)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
        self.delivered = 0

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def wake(self) -> None:
        """New outbox rows are committed: look now."""
        self._wake.set()

    def stop(self, drain_s: float = 5.0) -> None:
        """Deliver what is due for up to ``drain_s``, then stop and close the sinks."""
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and self.pending() > 0 and self._thread.is_alive():
            self.wake()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=drain_s + 10)
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # closing must not hide the daemon's own exit status
                log.warning("closing sink %s failed: %s", sink.name, exc.__class__.__name__)
        self.cursor.close()

    def pending(self) -> int:
        """Messages not yet acknowledged by every sink (read on a cursor of its own)."""
        cursor = self.cursor.cursor()
        try:
            return int(cursor.execute(
                "SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0])
        finally:
            cursor.close()

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        while not self._stop.is_set():
            sent_any = False
            for sink in self.sinks:
                try:
                    sent_any |= self._deliver(sink)
                except Exception:  # a sink or a transient store error must not kill the thread
                    log.exception("outbox delivery to %s failed; retrying", sink.name)
                    self._stop.wait(1.0)
            if not sent_any:
                self._wake.wait(self.idle_s)
                self._wake.clear()

    def _deliver(self, sink: Sink) -> bool:
        """One bounded round for ``sink``; True when a full batch was due (look again soon)."""
        now = datetime.now(UTC)
        rows = self.cursor.execute(
            "SELECT message_id, kind, ref_id, payload, attempts FROM outbox WHERE sink = ? AND "
            "acked_at IS NULL AND next_attempt_at <= ? ORDER BY created_at, message_id LIMIT ?",
            [sink.name, now, self.batch]).fetchall()
        if not rows:
            self._pending_gauge(sink)
            return False
        messages = [OutboxMessage(message_id=r[0], kind=r[1], ref_id=r[2], payload=r[3])
                    for r in rows]
        acked = set(sink.send(messages))
        attempts = {r[0]: int(r[4]) for r in rows}
        failed = [m.message_id for m in messages if m.message_id not in acked]
        with transaction(self.cursor) as cursor:
            if acked:
                cursor.executemany(
                    "UPDATE outbox SET acked_at = now(), attempts = attempts + 1 "
                    "WHERE message_id = ? AND sink = ?", [[m, sink.name] for m in acked])
            if failed:
                cursor.executemany(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, "
                    "last_error = ? WHERE message_id = ? AND sink = ?",
                    [[now + timedelta(seconds=backoff_s(attempts[m], rng=self._rng)),
                      "not acknowledged", m, sink.name] for m in failed])
        self.delivered += len(acked)
        if failed:
            self.metrics.inc("logguard_sink_failures_total", **{"sink": sink.name})
        self._pending_gauge(sink)
        return len(rows) == self.batch and not failed

    def _pending_gauge(self, sink: Sink) -> None:
        count = self.cursor.execute(
            "SELECT count(*) FROM outbox WHERE sink = ? AND acked_at IS NULL",
            [sink.name]).fetchone()[0]
        self.metrics.set("logguard_outbox_pending", float(count), sink=sink.name)
