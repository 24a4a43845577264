"""Reads and writes of the `alerts` table (the outbox); alerts/outbox.py drives the state machine.

Every write is a short statement on a connection the caller opened for the moment it writes, so a
slow channel never holds the database while it is being sent to.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from newswatch.config import AlertsConfig
from newswatch.records import Alert
from storage.db import StorageError, connect, transaction
from storage.repository import _insert, _row

_ALERT_COLUMNS = [f.name for f in dataclasses.fields(Alert)]


def _alert(row: Sequence[Any]) -> Alert:
    alert = Alert(*row)
    if isinstance(alert.details, str):
        alert.details = json.loads(alert.details)
    return alert


def store_alerts(connection: duckdb.DuckDBPyConnection, alerts: Iterable[Alert]) -> int:
    """Queue alerts; one whose idempotency key is already queued (a rerun) is not queued again."""
    rows = [
        [json.dumps(value, ensure_ascii=False, default=str) if column == "details" and value is not None else value
         for column, value in zip(_ALERT_COLUMNS, _row(a, _ALERT_COLUMNS), strict=True)]
        for a in alerts
    ]
    if not rows:
        return 0
    before = connection.execute("SELECT count(*) FROM alerts").fetchone()[0]
    _insert(connection, "INSERT INTO alerts", _ALERT_COLUMNS, rows, "ON CONFLICT DO NOTHING")
    return connection.execute("SELECT count(*) FROM alerts").fetchone()[0] - before


def alerted_stories(connection: duckdb.DuckDBPyConnection, story_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(channel, story) pairs that already have a development alert, whatever its state."""
    ids = sorted(set(story_ids))
    if not ids:
        return set()
    rows = connection.execute(
        "SELECT DISTINCT channel, story_id FROM alerts WHERE list_contains(?, story_id)", [ids]
    ).fetchall()
    return {(channel, story) for channel, story in rows}


def recover_interrupted(connection: duckdb.DuckDBPyConnection, now: datetime) -> list[str]:
    """Alerts left `sending` by a process that died mid-send: whether they arrived is unknown, so
    they are sent again now (the documented at-least-once window, docs/alerts.md)."""
    rows = connection.execute(
        """
        UPDATE alerts SET status = 'failed', next_attempt_at = ?,
            last_error = 'interrupted while sending (the process stopped); delivery unknown, sending again'
        WHERE status = 'sending'
        RETURNING alert_id
        """,
        [now],
    ).fetchall()
    return [row[0] for row in rows]


def due_alerts(connection: duckdb.DuckDBPyConnection, now: datetime) -> list[Alert]:
    """Alerts waiting to be sent (new, or failed and past their backoff), oldest first."""
    # In the order desks expect: by pass, then by when the article was published.
    columns = ", ".join(f"al.{c}" for c in _ALERT_COLUMNS)
    rows = connection.execute(
        f"""
        SELECT {columns} FROM alerts al LEFT JOIN articles a USING (article_id)
        WHERE al.status IN ('pending', 'failed') AND coalesce(al.next_attempt_at, al.created_at) <= ?
        ORDER BY al.created_at, coalesce(a.published_at, a.fetched_at, al.created_at), al.alert_id
        """,
        [now],
    ).fetchall()
    return [_alert(row) for row in rows]


def last_digests(connection: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    """When each channel's last digest went out."""
    rows = connection.execute(
        "SELECT channel, max(sent_at) FROM alerts WHERE digest_id IS NOT NULL AND status = 'sent' GROUP BY channel"
    ).fetchall()
    return dict(rows)


def development_contents(connection: duckdb.DuckDBPyConnection, article_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What a development alert shows, read at send time (so "also reported by" is current)."""
    ids = sorted(set(article_ids))
    if not ids:
        return {}
    rows = connection.execute(
        """
        SELECT article_id, title, outlet, published_at, url, novel_sentences, new_facts,
               coalesce(also_reported_by, []), novelty_score, decision
        FROM development_reports WHERE list_contains(?, article_id)
        """,
        [ids],
    ).fetchall()
    keys = ["title", "outlet", "published_at", "url", "novel_sentences", "new_facts", "also_reported_by",
            "novelty_score", "decision"]
    contents = {}
    for article_id, *values in rows:
        content = dict(zip(keys, values, strict=True))
        content["new_facts"] = json.loads(content["new_facts"]) if content["new_facts"] else []
        contents[article_id] = content
    return contents


def claim(connection: duckdb.DuckDBPyConnection, alert_ids: Sequence[str], now: datetime, digest_id: str | None = None) -> None:
    """Mark alerts as being sent (committed before the send, so a crash mid-send is visible);
    `digest_id`: the digest message they go out in (None: each its own message)."""
    connection.execute(
        """
        UPDATE alerts SET status = 'sending', attempts = attempts + 1, last_attempt_at = ?, digest_id = ?
        WHERE list_contains(?, alert_id)
        """,
        [now, digest_id, list(alert_ids)],
    )


def mark_sent(connection: duckdb.DuckDBPyConnection, alert_ids: Sequence[str], now: datetime) -> None:
    connection.execute(
        "UPDATE alerts SET status = 'sent', sent_at = ?, next_attempt_at = NULL WHERE list_contains(?, alert_id)",
        [now, list(alert_ids)],
    )


def mark_failed(
    connection: duckdb.DuckDBPyConnection,
    alert_ids: Sequence[str],
    error: str,
    now: datetime,
    *,
    max_attempts: int,
    retry_base_seconds: float,
    retry_max_seconds: float,
) -> list[str]:
    """Record a failed send: retried after an exponential backoff, or dead after the last attempt.
    Returns the ids that are now dead."""
    rows = connection.execute(
        """
        UPDATE alerts SET
            status = CASE WHEN attempts >= ? THEN 'dead' ELSE 'failed' END,
            last_error = ?,
            next_attempt_at = CASE WHEN attempts >= ? THEN NULL
                ELSE ? + to_seconds(least(? * pow(2, greatest(attempts - 1, 0)), ?)) END
        WHERE list_contains(?, alert_id)
        RETURNING alert_id, status
        """,
        [max_attempts, error, max_attempts, now, retry_base_seconds, retry_max_seconds, list(alert_ids)],
    ).fetchall()
    return [alert_id for alert_id, status in rows if status == "dead"]


def move_to_digest(connection: duckdb.DuckDBPyConnection, alert_ids: Sequence[str]) -> None:
    """Past a channel's cap: the alerts go out in its next digest instead."""
    connection.execute("UPDATE alerts SET delivery = 'digest' WHERE list_contains(?, alert_id)", [list(alert_ids)])


def list_alerts(
    connection: duckdb.DuckDBPyConnection,
    *,
    failed_only: bool = False,
    channel: str | None = None,
    limit: int = 50,
) -> list[Alert]:
    """The newest alerts first; `failed_only`: the dead-letter list and those still retrying."""
    conditions = []
    parameters: list[Any] = []
    if failed_only:
        conditions.append("status IN ('failed', 'dead')")
    if channel is not None:
        conditions.append("channel = ?")
        parameters.append(channel)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = connection.execute(
        f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts {where} ORDER BY created_at DESC, alert_id LIMIT ?",
        [*parameters, limit],
    ).fetchall()
    return [_alert(row) for row in rows]


def find_alerts(connection: duckdb.DuckDBPyConnection, prefix: str) -> list[Alert]:
    """Alerts whose id starts with `prefix` (operators type the first characters of an id)."""
    rows = connection.execute(
        f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts WHERE starts_with(alert_id, ?) ORDER BY alert_id LIMIT 5",
        [prefix],
    ).fetchall()
    return [_alert(row) for row in rows]


def requeue(connection: duckdb.DuckDBPyConnection, alert_id: str, now: datetime) -> None:
    """An operator's resend: the alert gets a fresh set of attempts, due now."""
    connection.execute(
        """
        UPDATE alerts SET status = 'pending', attempts = 0, next_attempt_at = ?, sent_at = NULL
        WHERE alert_id = ?
        """,
        [now, alert_id],
    )


def update_run_alerts(connection: duckdb.DuckDBPyConnection, run_id: str, sent: int, failed: int) -> None:
    connection.execute(
        "UPDATE runs SET alerts_sent = alerts_sent + ?, alerts_failed = alerts_failed + ? WHERE run_id = ?",
        [sent, failed, run_id],
    )


class OutboxStore:
    """The outbox as the dispatcher (alerts/outbox.py) uses it: each call opens the file for the
    moment it writes, so sending never holds the database, and calls from the per-channel threads
    take turns."""

    def __init__(self, path: Path, config: AlertsConfig, lock_timeout: float = 10.0):
        self.path = path
        self.config = config
        self.lock_timeout = lock_timeout
        self._turn = threading.Lock()

    def _run(self, function, *args, attempts: int = 1):  # noqa: ANN001, ANN202 - a thin wrapper
        for attempt in range(attempts):
            try:
                with self._turn, connect(self.path, lock_timeout=self.lock_timeout) as db, transaction(db):
                    return function(db, *args)
            except StorageError:
                if attempt == attempts - 1:
                    raise
        return None

    # A mark after a send is retried longer: failing it would send the alert again next pass.
    MARK_ATTEMPTS = 6

    def recover_interrupted(self, now: datetime) -> list[str]:
        return self._run(recover_interrupted, now)

    def due_alerts(self, now: datetime) -> list[Alert]:
        return self._run(due_alerts, now)

    def last_digests(self) -> dict[str, datetime]:
        return self._run(last_digests)

    def development_contents(self, article_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._run(development_contents, article_ids)

    def claim(self, alert_ids: Sequence[str], now: datetime, digest_id: str | None = None) -> None:
        self._run(claim, alert_ids, now, digest_id)

    def mark_sent(self, alert_ids: Sequence[str], now: datetime) -> None:
        self._run(mark_sent, alert_ids, now, attempts=self.MARK_ATTEMPTS)

    def move_to_digest(self, alert_ids: Sequence[str]) -> None:
        self._run(move_to_digest, alert_ids)

    def mark_failed(self, alert_ids: Sequence[str], error: str, now: datetime) -> list[str]:
        return self._run(
            lambda db: mark_failed(
                db, alert_ids, error, now, max_attempts=self.config.max_attempts,
                retry_base_seconds=self.config.retry_base_seconds, retry_max_seconds=self.config.retry_max_seconds,
            ),
            attempts=self.MARK_ATTEMPTS,
        )


def article_titles(connection: duckdb.DuckDBPyConnection, article_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(article_ids))
    if not ids:
        return {}
    rows = connection.execute("SELECT article_id, title FROM articles WHERE list_contains(?, article_id)", [ids])
    return {article_id: title for article_id, title in rows.fetchall() if title}
