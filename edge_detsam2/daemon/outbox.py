"""The on-disk outbox: every event is written here before it is published.

SQLite in WAL mode with ``synchronous=FULL``: an event that ``put`` returned for survives a
crash or power loss. Rows are deleted only after the broker's PUBACK (``ack``). The last
sequence number is kept in the same transaction, so ``seq`` continues across restarts even
when the outbox is empty.

The outbox is bounded (``max_events`` rows and ``max_bytes`` of payload): above either cap
the oldest events are dropped in the same transaction that adds the new one, counted in the
``dropped`` meta row (it survives restarts) and logged once per process. Every SQLite or
I/O failure becomes one ``OutboxError`` naming the file; a failed ``put`` leaves the database
as it was (SQLite rolls the transaction back), so a restart delivers what was committed.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

from edge_detsam2.errors import EdgeDetSam2Error
from edge_detsam2.events.types import Event

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    capture_wall REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# A week of play offline at a busy table (about 1,500 events an hour, 0.5 KB each) fits.
DEFAULT_MAX_EVENTS = 250_000
DEFAULT_MAX_BYTES = 256 * 2**20


class OutboxError(EdgeDetSam2Error):
    """The outbox database cannot be opened, read or written (disk full, read-only, corrupt)."""


class Outbox:
    """Durable, bounded FIFO of event payloads keyed by ``seq``; thread-safe."""

    def __init__(
        self,
        path: Path,
        table_id: str,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.path, self.table_id = path, table_id
        self.max_events, self.max_bytes = max_events, max_bytes
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='table'").fetchone()
            if row is None:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('table', ?)", (table_id,))
            count, size = self._db.execute("SELECT COUNT(*), TOTAL(LENGTH(payload)) FROM events").fetchone()
            self.dropped = int(self._meta("dropped") or 0)
        except (OSError, sqlite3.Error) as exc:
            self._close_quietly()
            raise OutboxError(
                f"outbox {path}: cannot open ({exc}); check daemon.state_dir exists, is writable and has free space"
            ) from None
        if row is not None and row[0] != table_id:
            self._close_quietly()
            raise OutboxError(
                f"outbox {path} belongs to table {row[0]!r}, not {table_id!r}; use one daemon.state_dir per table"
            )
        self._count, self._bytes = int(count), int(size)
        self._dropped_logged = False

    def _meta(self, key: str) -> str | None:
        assert self._db is not None
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _error(self, what: str, exc: BaseException) -> OutboxError:
        """Roll back what SQLite has not rolled back itself (after an I/O error it already has)."""
        if self._db is not None and self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        return OutboxError(
            f"outbox {self.path}: cannot {what}: {exc}; check free space and that daemon.state_dir is writable"
        )

    def last_seq(self) -> int:
        with self._lock:
            try:
                value = self._meta("last_seq")
            except sqlite3.Error as exc:
                raise self._error("read the last seq", exc) from None
        return int(value) if value else 0

    def put(self, event: Event, capture_wall: float) -> None:
        """Persist one event (its ``seq`` must be the next one); durable when this returns."""
        payload = event.to_json()
        size = len(payload)
        with self._lock:
            assert self._db is not None, "outbox is closed"
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO events (seq, id, payload, capture_wall) VALUES (?, ?, ?, ?)",
                    (event.seq, event.id, payload, capture_wall),
                )
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(event.seq),))
                dropped = self._drop_oldest(self._count + 1, self._bytes + size)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._error(f"store event seq {event.seq}", exc) from None
            self._count += 1 - dropped[0]
            self._bytes += size - dropped[1]
            if dropped[0]:
                self.dropped += dropped[0]
                if not self._dropped_logged:
                    self._dropped_logged = True
                    logger.error(
                        "outbox %s is full (%d events / %.0f MiB of payload): the oldest undelivered events are "
                        "dropped and counted in stats outbox_dropped (%d so far); is the broker reachable?",
                        self.path,
                        self.max_events,
                        self.max_bytes / 2**20,
                        self.dropped,
                    )

    def _drop_oldest(self, count: int, size: int) -> tuple[int, int]:
        """Inside put's transaction: delete the oldest rows until both caps hold; (rows, bytes) deleted."""
        assert self._db is not None
        if count <= self.max_events and size <= self.max_bytes:
            return 0, 0
        rows, freed, last = 0, 0, None
        cursor = self._db.execute("SELECT seq, LENGTH(payload) FROM events ORDER BY seq")
        for seq, length in cursor:
            if count - rows <= self.max_events and size - freed <= self.max_bytes:
                break
            rows, freed, last = rows + 1, freed + int(length), int(seq)
        cursor.close()  # finished before the DELETE below
        if last is None:
            return 0, 0
        self._db.execute("DELETE FROM events WHERE seq <= ?", (last,))
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('dropped', ?)", (str(self.dropped + rows),))
        return rows, freed

    def record_seq(self, seq: int) -> None:
        """Keep ``seq`` without the event (no MQTT configured): numbering still survives restarts."""
        with self._lock:
            assert self._db is not None, "outbox is closed"
            try:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(seq),))
            except sqlite3.Error as exc:
                raise self._error(f"record seq {seq}", exc) from None

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[tuple[int, str, float]]:
        """Undelivered events with seq > after_seq, oldest first: (seq, payload, capture_wall)."""
        with self._lock:
            assert self._db is not None, "outbox is closed"
            try:
                rows = self._db.execute(
                    "SELECT seq, payload, capture_wall FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after_seq, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise self._error("read pending events", exc) from None
        return [(int(s), str(p), float(w)) for s, p, w in rows]

    def ack(self, seq: int) -> None:
        """The broker has the event: delete it (a no-op for an event already dropped or acked)."""
        with self._lock:
            assert self._db is not None, "outbox is closed"
            try:
                gone = self._db.execute("DELETE FROM events WHERE seq = ? RETURNING LENGTH(payload)", (seq,)).fetchall()
            except sqlite3.Error as exc:
                raise self._error(f"record the delivery of seq {seq}", exc) from None
            for (length,) in gone:
                self._count -= 1
                self._bytes -= int(length)

    def count(self) -> int:
        """Undelivered events (kept in memory: no I/O, safe on a failing disk)."""
        return self._count

    def size_bytes(self) -> int:
        """Payload bytes of the undelivered events."""
        return self._bytes

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def _close_quietly(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
