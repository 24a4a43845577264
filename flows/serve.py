"""`newswatch serve` (`make serve`): the deployments on their schedules, run from this checkout.

Serving is Prefect's simplest way to run scheduled flows: this process registers the `monitor` and
`dispatch-alerts` deployments with a Prefect server and runs their flow runs itself, so no work pool
or worker is needed (`prefect deploy` with workers is the other way: docs/operations.md).

Scheduled runs need a real Prefect server (the temporary one `newswatch run` starts cannot run
schedules). `serve` uses the server at PREFECT_API_URL when that is set and refuses to go on when it
is unreachable; without it, it uses http://127.0.0.1:4200/api and starts a server there first when
none answers, which it stops again on the way out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from newswatch.config import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
SERVER_START_TIMEOUT_SECONDS = 120
# Intervals are anchored at a local midnight, so a 10-minute schedule runs at :00, :10, :20 …
_ANCHOR = datetime(2026, 1, 1)


class ServeError(Exception):
    """The deployments cannot be served (no Prefect server, a server that does not start)."""


def api_url_for(host: str, port: int) -> str:
    return f"http://{host}:{port}/api"


def health_status(api_url: str, timeout: float) -> int:
    """The HTTP status of the Prefect API's health check at `api_url`; raises httpx.HTTPError
    when it does not answer."""
    return httpx.get(api_url.rstrip("/") + "/health", timeout=timeout).status_code


def api_answers(api_url: str, timeout: float = 3.0) -> bool:
    """Whether a Prefect API answers its health check at `api_url`."""
    try:
        status = health_status(api_url, timeout)
    except httpx.HTTPError:
        return False
    return status == 200


@contextmanager
def prefect_server(host: str, port: int, log_path: Path) -> Iterator[str]:
    """A `prefect server start` on host:port for as long as the block runs; yields its API URL.
    Its output goes to `log_path`: the UI's address, its database, and why it failed, if it did."""
    api_url = api_url_for(host, port)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    prefect = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false")}
    env.pop("PREFECT_API_URL", None)  # the server does not talk to another one
    with log_path.open("ab") as log:
        process = subprocess.Popen(prefect, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
        while not api_answers(api_url, timeout=2.0):
            if process.poll() is not None:
                raise ServeError(
                    f"the Prefect server on {host}:{port} exited with code {process.returncode} "
                    f"before it answered (its output: {log_path}):\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise ServeError(
                    f"the Prefect server on {host}:{port} did not answer within "
                    f"{SERVER_START_TIMEOUT_SECONDS} s (its output: {log_path})"
                )
            time.sleep(0.5)
        yield api_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def build_deployments(settings: Settings, config_path: Path) -> list:
    """The `monitor` and `dispatch-alerts` deployments as prefect.yaml declares them, with the
    intervals and time zone of the config's [schedule]."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Interval

    from flows.monitor import dispatch_alerts_flow, monitor

    schedule = settings.schedule
    anchor = _ANCHOR.replace(tzinfo=ZoneInfo(schedule.timezone))
    # One run at a time: a run that comes due while the previous one is still going is cancelled,
    # not queued, so a slow pass never snowballs into a backlog of passes.
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    parameters = {"config_path": str(config_path.resolve())}

    def every(flow, name: str, minutes: float, description: str):  # noqa: ANN001, ANN202 - Prefect's types
        return flow.to_deployment(
            name=name,
            description=description,
            schedules=[Interval(timedelta(minutes=minutes), anchor_date=anchor, timezone=schedule.timezone)],
            concurrency_limit=one_at_a_time,
            parameters=parameters,
            tags=["newswatch"],
        )

    return [
        every(monitor, "monitor", schedule.monitor_interval_minutes,
              "Poll every feed, store new German coverage, send alerts, publish the analyst snapshot."),
        every(dispatch_alerts_flow, "dispatch-alerts", schedule.dispatch_interval_minutes,
              "Send due digests and retries between monitor passes (skips while a pass runs)."),
    ]


def serve_deployments(settings: Settings, config_path: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the deployments until interrupted (Ctrl-C or SIGTERM), starting a server if needed."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        if not api_answers(configured):
            raise ServeError(
                f"PREFECT_API_URL is {configured}, but no Prefect API answers there: start that "
                "server, or unset PREFECT_API_URL to let newswatch start one on "
                f"{api_url_for(host, port)}"
            )
        _serve(settings, config_path, configured)
        return
    api_url = api_url_for(host, port)
    if api_answers(api_url):
        _serve(settings, config_path, api_url)
        return
    log_path = settings.storage.path.parent / "prefect-server.log"
    print(f"No Prefect server answers on {api_url}: starting one (its output: {log_path}) …", flush=True)
    with prefect_server(host, port, log_path) as started:
        _serve(settings, config_path, started)


def _serve(settings: Settings, config_path: Path, api_url: str) -> None:
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    os.environ["PREFECT_API_URL"] = api_url  # the flow runs' subprocesses report to the same server
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        deployments = build_deployments(settings, config_path)
        ui = api_url.removesuffix("/api")
        print(
            f"Serving {', '.join(d.name for d in deployments)} on {api_url}: every "
            f"{settings.schedule.monitor_interval_minutes:g} min (monitor) and "
            f"{settings.schedule.dispatch_interval_minutes:g} min (dispatch-alerts), "
            f"{settings.schedule.timezone}. Runs and artifacts: {ui}. Ctrl-C stops.",
            flush=True,
        )
        # pause_on_shutdown=False: stopping `serve` (an upgrade, a reboot) must not leave the
        # schedules paused in the server, or nothing would run after the restart until someone
        # noticed and resumed them.
        serve(*deployments, pause_on_shutdown=False, print_starting_message=False, limit=len(deployments))
