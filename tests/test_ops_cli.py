"""`newswatch status` and `newswatch query` on a real database and snapshot."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from newswatch.records import FeedState, RunSummary
from storage import repository
from storage.db import connect, migrate
from storage.snapshot import publish_snapshot

WIDE = {"COLUMNS": "250"}
NOW = datetime.now(UTC)


def _database(tmp_path: Path) -> Path:
    config = tmp_path / "newswatch.toml"
    config.write_text(f'[storage]\npath = "{tmp_path / "newswatch.duckdb"}"\n', encoding="utf-8")
    with connect(tmp_path / "newswatch.duckdb") as db:
        migrate(db)
        repository.store_feed_states(db, [
            FeedState(name="tagesschau", url="https://www.tagesschau.de/index~rss2.xml", last_polled_at=NOW,
                      last_success_at=NOW, last_status="ok", last_http_status=200),
            FeedState(name="wackelig", url="https://example.org/feed", last_polled_at=NOW, last_status="failed",
                      last_http_status=503, consecutive_failures=4, last_error="HTTP 503 Service Unavailable"),
        ])
        run = RunSummary(run_id="r1", started_at=NOW - timedelta(seconds=30), finished_at=NOW, feeds_polled=2,
                         feeds_failed=1, alerts_queued=3, alerts_sent=2, alerts_failed=1)
        repository.store_run(db, run, [])
        db.execute(
            "INSERT INTO alerts (alert_id, channel, kind, delivery, status, created_at, topic_ids, attempts, last_error)"
            " VALUES ('a1', 'desk-email', 'first', 'immediate', 'dead', now(), [], 5, 'SMTP refused'),"
            " ('a2', 'desk-email', 'first', 'immediate', 'sent', now(), [], 1, NULL)"
        )
    publish_snapshot(tmp_path / "newswatch.duckdb", tmp_path / "newswatch.snapshot.duckdb")
    return config


def test_status_shows_feed_health_last_passes_and_dead_alerts(tmp_path: Path) -> None:
    config = _database(tmp_path)
    result = CliRunner().invoke(app, ["status", "--config", str(config)], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    feed_rows = [line for line in lines if "tagesschau" in line or "wackelig" in line]
    assert "failing" in feed_rows[0] and "wackelig" in feed_rows[0]  # the failing feed first
    assert "HTTP 503" in feed_rows[0] and "healthy" in feed_rows[1]
    assert any("desk-email" in line and "dead" in line and "SMTP refused" in line for line in lines)
    assert not any("desk-email" in line and "sent" in line.split("│")[2] for line in lines if line.count("│") > 3)

    missing = tmp_path / "other.toml"
    missing.write_text(f'[storage]\npath = "{tmp_path / "none.duckdb"}"\n')
    result = CliRunner().invoke(app, ["status", "--config", str(missing)], env=WIDE)
    assert result.exit_code == 3 and "no database yet" in result.output


def test_query_prints_a_table_or_csv_and_refuses_to_write(tmp_path: Path) -> None:
    config = _database(tmp_path)
    table = CliRunner().invoke(app, ["query", "SELECT name, health FROM feed_health ORDER BY name", "-c", str(config)],
                               env=WIDE)
    assert table.exit_code == 0 and "wackelig" in table.output and "failing" in table.output

    result = CliRunner().invoke(app, ["query", "--csv", "SELECT channel, status FROM alerts ORDER BY 2", "-c", str(config)])
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["channel", "status"], ["desk-email", "dead"], ["desk-email", "sent"]
    ]
    limited = CliRunner().invoke(app, ["query", "SELECT * FROM range(10)", "--limit", "3", "-c", str(config)])
    assert "first 3 rows" in limited.output

    refused = CliRunner().invoke(app, ["query", "DELETE FROM alerts", "-c", str(config)])
    assert refused.exit_code == 2 and "read-only" in refused.output
    bad = CliRunner().invoke(app, ["query", "SELEC 1", "-c", str(config)])
    assert bad.exit_code == 2 and "query failed" in bad.output
