"""The on-disk outbox: every event is written here before it is published.

SQLite in WAL mode with ``synchronous=FULL``: an event that ``put`` returned for survives a
crash or power loss. Rows are deleted only after the broker's PUBACK (``ack``). The last
sequence number is kept in the same transaction, so ``seq`` continues across restarts even
when the outbox is empty.
"""

from __future__ import annotations

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


class OutboxError(EdgeDetSam2Error):
    """The outbox database cannot be opened or written."""


class Outbox:
    """Durable FIFO of event payloads keyed by ``seq``; thread-safe."""

    def __init__(self, path: Path, table_id: str) -> None:
        self.path, self.table_id = path, table_id
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='table'").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(
                f"outbox {path}: cannot open ({exc}); check daemon.state_dir exists and is writable"
            ) from None
        if row is not None and row[0] != table_id:
            raise OutboxError(
                f"outbox {path} belongs to table {row[0]!r}, not {table_id!r}; use one daemon.state_dir per table"
            )
        if row is None:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('table', ?)", (table_id,))
        self._lock = threading.Lock()

    def last_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        return int(row[0]) if row else 0

    def put(self, event: Event, capture_wall: float) -> None:
        """Persist one event (its ``seq`` must be the next one); durable when this returns."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO events (seq, id, payload, capture_wall) VALUES (?, ?, ?, ?)",
                    (event.seq, event.id, event.to_json(), capture_wall),
                )
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(event.seq),))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise OutboxError(f"outbox {self.path}: cannot store event seq {event.seq}: {exc}") from None

    def record_seq(self, seq: int) -> None:
        """Keep ``seq`` without the event (no MQTT configured): numbering still survives restarts."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(seq),))

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[tuple[int, str, float]]:
        """Undelivered events with seq > after_seq, oldest first: (seq, payload, capture_wall)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, payload, capture_wall FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
            ).fetchall()
        return [(int(s), str(p), float(w)) for s, p, w in rows]

    def ack(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
