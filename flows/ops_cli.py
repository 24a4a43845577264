"""`newswatch status` and `newswatch query`: what operators and analysts check between passes."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import duckdb
import typer
from rich.table import Table

from flows.output import console, fail
from newswatch.config import DEFAULT_CONFIG_NAME, ConfigError, Settings, load_settings
from storage.db import StorageError, open_database

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to newswatch.toml.", show_default=True)]
BERLIN = ZoneInfo("Europe/Berlin")


def _load(config: Path) -> Settings:
    try:
        return load_settings(config, expand_secrets=False)  # neither command sends anything
    except ConfigError as error:
        raise fail(str(error), 2) from None


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M") if value.tzinfo else value.isoformat(" ")
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _table(title: str, cursor: duckdb.DuckDBPyConnection) -> Table:
    table = Table(title=title)
    for column in cursor.description:
        table.add_column(column[0], overflow="fold")
    for row in cursor.fetchall():
        table.add_row(*(_shown(v) for v in row))
    return table


def status_command(config: ConfigOption = Path(DEFAULT_CONFIG_NAME)) -> None:
    """Feeds and their health, the last passes, and alerts waiting or dead (from the live database)."""
    settings = _load(config)
    if not settings.storage.path.exists():
        raise fail(f"{settings.storage.path}: no database yet (run `newswatch run` once)", 3)
    try:
        with open_database(settings.storage, read_only=True) as db:
            console.print(_table("feeds", db.execute(
                """
                SELECT name AS feed, health, last_status AS last, last_http_status AS http,
                       consecutive_failures AS failures, last_success_at AS "last success",
                       next_poll_at AS "next poll", last_error AS "last error"
                FROM feed_health ORDER BY health <> 'healthy' DESC, name
                """
            )))
            console.print(_table("last passes", db.execute(
                """
                SELECT started_at AS started, round(epoch(finished_at - started_at), 1) AS seconds,
                       feeds_polled AS polled, feeds_failed AS failed, new_items AS new,
                       articles_stored AS stored, matched_articles AS matched, developments,
                       alerts_queued AS queued, alerts_sent AS sent, alerts_failed AS "send failures",
                       (SELECT count(*) FROM run_errors e WHERE e.run_id = r.run_id) AS errors
                FROM runs r ORDER BY started_at DESC LIMIT 5
                """
            )))
            alerts = db.execute(
                """
                SELECT channel, status, count(*) AS alerts, max(last_error) FILTER (WHERE status <> 'sent') AS "an error"
                FROM alerts WHERE status <> 'sent' GROUP BY ALL ORDER BY channel, status
                """
            )
            table = _table("alerts waiting, retrying or dead", alerts)
            console.print(table if table.row_count else "alerts: nothing waiting, nothing dead")
    except StorageError as error:
        raise fail(str(error), 3) from None


def query_command(
    sql: Annotated[str, typer.Argument(help="The SQL to run (read-only), e.g. \"SELECT * FROM stories LIMIT 5\".")],
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    as_csv: Annotated[bool, typer.Option("--csv", help="Write CSV to stdout instead of a table.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many rows in the table.")] = 100,
) -> None:
    """Run SQL against the analyst snapshot (docs/analysts.md) and print a table or CSV."""
    settings = _load(config)
    snapshot = settings.storage.resolved_snapshot_path
    if not snapshot.exists():
        raise fail(f"{snapshot}: no snapshot yet (it is written after each pass)", 3)
    # Read-only, on the snapshot: a query can neither change data nor block a running pass.
    with duckdb.connect(str(snapshot), read_only=True) as db:
        try:
            cursor = db.execute(sql)
        except duckdb.Error as error:
            raise fail(f"query failed: {error}", 2) from None
        if cursor.description is None:
            return
        if as_csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow([c[0] for c in cursor.description])
            while rows := cursor.fetchmany(1000):
                writer.writerows(rows)
            return
        table = Table()
        for column in cursor.description:
            table.add_column(column[0], overflow="fold")
        rows = cursor.fetchmany(limit + 1)
        for row in rows[:limit]:
            table.add_row(*(_shown(v) for v in row))
        console.print(table)
        if len(rows) > limit:
            console.print(f"(first {limit} rows; use --limit or --csv for more)")
