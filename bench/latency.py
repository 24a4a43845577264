"""Alert latency of one new article through the served `monitor` deployment (`make bench`).

A real Prefect server and `newswatch serve` run as they do in production; the recorded coverage is
served on loopback. After a warm-up pass (the seed corpus, the first articles), the feed gains one
new development and a monitor run is scheduled a few seconds ahead, as the schedule does. Measured,
on the wall clock, from the moment the run was due:

    alert_latency_s                  due -> the alert arrives at a loopback webhook (goal <= 10 s)
    alert_latency_prefect_overhead_s due -> the pass's first task starts: the runner starting the
                                     flow run's process, Prefect's engine, the flow's set-up
    alert_latency_pass_s             the first task starts -> the alert arrives: the pass's own work
                                     (poll, fetch, extract in a fresh worker pool, match, diff,
                                     store, send), including Prefect's per-task overhead

Results are merged into bench/results/latest.json (other keys are kept).

    uv run python -m bench.latency
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from alerts.loopback import WebhookReceiver, free_port
from flows.demo import COVERAGE, CoverageServer
from flows.serve import prefect_server
from newswatch.config import PROJECT_ROOT, load_settings

AGD_FEED = COVERAGE / "sites" / "agd" / "rss.xml"
NEW_ITEM_GUID = "agd-48213"  # "Belarus lässt 31 politische Gefangene frei": a new development
DUE_AHEAD_SECONDS = 15  # the runner fetches runs due within its prefetch window, as with a schedule


def _feed_without(guid: str) -> str:
    """The agd feed without one item (the warm-up pass sees the rest)."""
    text = AGD_FEED.read_text(encoding="utf-8")
    start = text.index(f'<guid isPermaLink="false">{guid}</guid>')
    item_start = text.rindex("<item>", 0, start)
    item_end = text.index("</item>", start) + len("</item>")
    return text[:item_start] + text[item_end:]


def _config(folder: Path, server: CoverageServer, hook: WebhookReceiver) -> Path:
    shipped = load_settings(PROJECT_ROOT / "newswatch.toml", expand_secrets=False)
    lines = [
        "[storage]", f'path = "{folder / "newswatch.duckdb"}"',
        "[fetch]", f'allow_private_addresses = ["127.0.0.1:{server.port}"]', "per_host_delay_seconds = 0.0",
        "[schedule]", "monitor_interval_minutes = 1440", "dispatch_interval_minutes = 1440",
        "[[feeds]]", 'name = "agd"', f'url = "{server.base}/bench/rss.xml"',
        "[[channels]]", 'name = "desk-hook"', f'url = "{hook.json_url()}"', "min_send_interval_seconds = 0",
    ]
    for topic in shipped.topics:
        lines += ["[[topics]]", f"id = {json.dumps(topic.id)}", f"name = {json.dumps(topic.name)}",
                  f"query = {json.dumps(topic.query)}"]
    path = folder / "newswatch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _api(client: httpx.Client, method: str, path: str, body: object = None) -> object:
    response = client.request(method, path, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _wait(what: str, check, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")


def _schedule_run(client: httpx.Client, deployment_id: str, due: datetime) -> str:
    run = _api(client, "POST", f"/deployments/{deployment_id}/create_flow_run", {
        "state": {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": due.isoformat()}},
    })
    return run["id"]


def _finished(client: httpx.Client, run_id: str) -> dict | None:
    run = _api(client, "GET", f"/flow_runs/{run_id}")
    if run["state_type"] in ("FAILED", "CRASHED", "CANCELLED"):
        raise RuntimeError(f"the monitor run ended {run['state_type']}: {run['state']['message']}")
    return run if run["state_type"] == "COMPLETED" else None


def _task_runs(client: httpx.Client, run_id: str) -> list[dict]:
    tasks = _api(client, "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}, "limit": 200})
    return sorted((t for t in tasks if t["start_time"]), key=lambda t: t["start_time"])


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def measure() -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="newswatch-latency-"))
    root = folder / "coverage"
    (root / "sites" / "bench").mkdir(parents=True)
    for site in (COVERAGE / "sites").iterdir():
        (root / "sites" / site.name).symlink_to(site)
    feed = root / "sites" / "bench" / "rss.xml"
    feed.write_text(_feed_without(NEW_ITEM_GUID), encoding="utf-8")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(folder / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    os.environ["PREFECT_HOME"] = env["PREFECT_HOME"]  # the server started below uses it too
    served = None
    try:
        with (
            CoverageServer(root) as coverage,
            WebhookReceiver() as hook,
            prefect_server("127.0.0.1", port, folder / "prefect-server.log") as api_url,
            httpx.Client(base_url=api_url) as client,
        ):
            config = _config(folder, coverage, hook)
            served = subprocess.Popen(
                [sys.executable, "-m", "flows.cli", "serve", "--config", str(config)],
                cwd=PROJECT_ROOT, env={**env, "PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "WARNING"},
                stdout=(folder / "serve.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
            )
            deployment = _wait("the monitor deployment", lambda: _api(
                client, "POST", "/deployments/filter", {"deployments": {"name": {"any_": ["monitor"]}}}
            ), timeout=180)[0]
            # Warm-up: the first pass loads and fingerprints the seed corpus and stores the feed.
            warm = _schedule_run(client, deployment["id"], datetime.now(UTC))
            _wait("the warm-up pass", lambda: _finished(client, warm), timeout=600)
            hook.clear()  # the pass sends before it completes: whatever the warm-up alerted is in

            feed.write_text(AGD_FEED.read_text(encoding="utf-8"), encoding="utf-8")
            due = datetime.now(UTC) + timedelta(seconds=DUE_AHEAD_SECONDS)
            run_id = _schedule_run(client, deployment["id"], due)
            hook.wait_for(1, timeout=DUE_AHEAD_SECONDS + 300)
            arrived = datetime.now(UTC)
            run = _wait("the measured pass", lambda: _finished(client, run_id), timeout=300)
            tasks = _task_runs(client, run_id)
            first_task = _when(tasks[0]["start_time"])
            scheduled = _when(run["expected_start_time"])
            print(f"flow run started {(_when(run['start_time']) - scheduled).total_seconds():.2f} s after it was due")
            for t in tasks:  # where the pass's time goes
                began = (_when(t["start_time"]) - scheduled).total_seconds()
                print(f"  {t['name']:34} at {began:6.2f} s, {t['total_run_time']:6.2f} s")
            return {
                "alert_latency_s": round((arrived - scheduled).total_seconds(), 2),
                "alert_latency_prefect_overhead_s": round((first_task - scheduled).total_seconds(), 2),
                "alert_latency_pass_s": round((arrived - first_task).total_seconds(), 2),
                "alert_latency_flow_run_s": round((_when(run["end_time"]) - _when(run["start_time"])).total_seconds(), 2),
            }
    finally:
        if served is not None and served.poll() is None:
            os.killpg(served.pid, signal.SIGINT)
            try:
                served.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(served.pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    figures = measure()
    for key, value in figures.items():
        print(f"{key:34} {value}")
    # Imported only now: importing bench.run sets PREFECT_HOME and the log level for its own
    # benches, which must not reach the server measure() starts.
    from bench.run import save

    save(figures)


if __name__ == "__main__":
    main()
