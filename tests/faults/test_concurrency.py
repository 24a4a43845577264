"""Concurrency: two passes started at once on one database; an analyst holding the snapshot open
while passes run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from faultkit import PassProcess, alert_statuses, alert_titles, channels, everything_once, lost_and_doubled

from alerts.loopback import SmtpReceiver, WebhookReceiver
from flows.demo import CoverageServer, demo_config
from newswatch.config import load_settings

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_two_passes_started_at_once(tmp_path: Path, ledger) -> None:  # noqa: ANN001
    """The second waits for the first (or refuses, naming it); nothing is stored or sent twice."""
    with CoverageServer() as server, SmtpReceiver() as smtp, WebhookReceiver() as hook:
        config = demo_config(server, tmp_path, channels=channels(smtp, hook))
        runs = [PassProcess(config), PassProcess(config)]
        codes = [run.finish(timeout=400) for run in runs]
        logs = [" ".join("".join(run.lines).split()) for run in runs]
        for code, log in zip(codes, logs):
            assert code == 0 or (code == 3 and "another newswatch pass (PID" in log), log[-3000:]
        assert 0 in codes
        db_path = load_settings(config).storage.path
        everything_once(db_path, server.base, ledger, smtp, hook)
        assert alert_statuses(db_path) == {"sent": 2 * len(alert_titles())}
        with duckdb.connect(str(db_path), read_only=True) as db:
            assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == codes.count(0)


_ANALYST = """
import duckdb, sys
connection = duckdb.connect(sys.argv[1], read_only=True)
for command in sys.stdin:
    if command.strip() == "reopen":
        connection.close()
        connection = duckdb.connect(sys.argv[1], read_only=True)
    runs = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
    articles = connection.execute("SELECT count(*) FROM articles JOIN feed_items USING (article_id)").fetchone()[0]
    print(runs, articles, flush=True)
"""


def test_an_analyst_holding_the_snapshot_open_across_passes(tmp_path: Path, ledger) -> None:  # noqa: ANN001
    """The snapshot held open (read-only, by another process) never blocks a pass; the analyst
    keeps reading the snapshot it opened, and sees the newest one when it opens it again."""
    from flows.monitor import monitor

    with CoverageServer() as server:
        config = demo_config(server, tmp_path)
        first = monitor(config_path=str(config))
        snapshot = Path(first["snapshot"])
        analyst = subprocess.Popen([sys.executable, "-c", _ANALYST, str(snapshot)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        try:
            def ask(command: str = "query") -> tuple[int, int]:
                analyst.stdin.write(command + "\n")
                analyst.stdin.flush()
                runs, articles = analyst.stdout.readline().split()
                return int(runs), int(articles)

            seen = ask()
            assert seen[0] == 1
            for _ in range(2):
                summary = monitor(config_path=str(config))
                assert summary["feeds_failed"] == 0
                assert ask() == seen  # the file it opened, unchanged under it
            assert ask("reopen") == (3, seen[1])
        finally:
            analyst.stdin.close()
            analyst.wait(30)
        assert analyst.returncode == 0
        lost, doubled = lost_and_doubled(load_settings(config).storage.path, server.base)
        ledger.lost(lost)
        assert (lost, doubled) == (0, 0)
