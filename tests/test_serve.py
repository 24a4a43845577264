"""`newswatch serve` for real: it starts a Prefect server on loopback (none answers on the port it
is given), serves the deployments with a short interval, and the scheduler's runs of `monitor`
complete one after the other, never two at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import pytest

from alerts.loopback import free_port
from flows.demo import CoverageServer, demo_config
from flows.serve import api_answers, api_url_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PROJECT = Path(__file__).resolve().parent.parent
INTERVAL_SECONDS = 15


def _monitor_runs(api_url: str) -> list[dict]:
    response = httpx.post(
        f"{api_url}/flow_runs/filter",
        json={"flows": {"name": {"any_": ["monitor"]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 100},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_served_monitor_runs_on_its_schedule_without_overlap(tmp_path: Path) -> None:
    port = free_port()
    api_url = api_url_for("127.0.0.1", port)
    with CoverageServer() as coverage:
        config = demo_config(coverage, tmp_path)
        with config.open("a", encoding="utf-8") as toml:
            toml.write(
                f"[schedule]\nmonitor_interval_minutes = {INTERVAL_SECONDS / 60}\n"
                "dispatch_interval_minutes = 60\n"
            )
        env = {
            **os.environ,
            "PREFECT_HOME": str(tmp_path / "prefect"),  # its own server database
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
        env.pop("PREFECT_API_URL", None)
        log = (tmp_path / "serve.log").open("wb")
        served = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--config", str(config), "--port", str(port)],
            cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            completed: list[dict] = []
            runs: list[dict] = []
            deadline = time.monotonic() + 420
            while time.monotonic() < deadline and served.poll() is None:
                time.sleep(3)
                if not api_answers(api_url, timeout=2):
                    continue
                runs = _monitor_runs(api_url)
                completed = [r for r in runs if r["state_type"] == "COMPLETED"]
                if len(completed) >= 2:
                    break
            assert served.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
            assert len(completed) >= 2, (
                [(r["name"], r["state_type"]) for r in runs],
                (tmp_path / "serve.log").read_text(errors="replace")[-3000:],
            )
        finally:
            os.killpg(served.pid, signal.SIGINT)
            try:
                served.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(served.pid, signal.SIGKILL)
                served.wait()
            log.close()

    # The runs came from the schedule, and none started before the one before it had ended: a run
    # that came due while a pass was running was cancelled (the first pass, with the seed corpus,
    # takes longer than the interval), not started beside it.
    assert all(r["auto_scheduled"] for r in runs)
    ran = sorted((r for r in runs if r["state_type"] != "CANCELLED" and r["start_time"]), key=lambda r: r["start_time"])
    for earlier, later in zip(ran, ran[1:]):
        assert earlier["end_time"] is not None and _when(later["start_time"]) >= _when(earlier["end_time"]), (
            [(r["name"], r["state_type"], r["start_time"], r["end_time"]) for r in ran]
        )
    for cancelled in (r for r in runs if r["state_type"] == "CANCELLED"):
        assert "concurrency limit" in (cancelled["state"]["message"] or ""), cancelled["state"]
    # The runs' logs are in serve's own output (journald, when it runs under systemd).
    assert "feeds polled" in (tmp_path / "serve.log").read_text(errors="replace")
    # Stopping serve stopped the server it had started.
    assert served.returncode == 0, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
    assert not api_answers(api_url, timeout=2)

    # The passes took turns in the database too: each stored its run, and nothing twice.
    with duckdb.connect(str(tmp_path / "newswatch.duckdb"), read_only=True) as db:
        passes = db.execute("SELECT started_at, finished_at FROM runs ORDER BY started_at").fetchall()
        duplicates = db.execute(
            "SELECT count(*) - count(DISTINCT url_key) FROM articles WHERE NOT is_seed"
        ).fetchone()[0]
    assert len(passes) >= 2
    assert all(later[0] >= earlier[1] for earlier, later in zip(passes, passes[1:]))
    assert duplicates == 0
