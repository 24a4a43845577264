"""The fault suite (`make faults` = `pytest -m faults`): kills, dependencies down, concurrency,
hostile input and load, all on 127.0.0.1. docs/reliability.md lists what each test guarantees.

Every test here is marked `faults` and runs only when the `-m` expression names the marker (`make
faults`: `-m faults`); plain `pytest` and `make test` leave the suite out, since it kills processes,
fills a disk and runs a 300-feed pass. The hostile-input tests are also marked `hostile`. Tests
record what they measure through the `ledger` fixture: `ledger.lost(n)` for articles that should
be stored and are not, `ledger.duplicates(n)` for alert messages a receiver got more often than the
documented at-least-once window allows. At the end the suite prints one line computed from the
outcomes and the ledgers:

    faults survived N/N, hostile inputs M/M, articles lost 0, duplicate alerts 0
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import faultkit
import pytest


@dataclass
class Ledger:
    """What one test measured; stored on the test's report (item.user_properties)."""

    item: pytest.Item

    def lost(self, articles: int) -> int:
        self.item.user_properties.append(("articles_lost", articles))
        return articles

    def duplicates(self, alerts: int) -> int:
        self.item.user_properties.append(("duplicate_alerts", alerts))
        return alerts


@pytest.fixture
def ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    yield Ledger(request.node)


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[str]:
    """One Prefect server for the passes this suite runs as processes: each would otherwise start
    a temporary one of its own (5-40 s on two busy cores). A killed pass leaves it running."""
    from alerts.loopback import free_port
    from flows.serve import api_answers, api_url_for

    port = free_port()
    url = api_url_for("127.0.0.1", port)
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"},
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if api_answers(url, timeout=2):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Prefect server for the fault suite did not start")
            time.sleep(0.5)
        faultkit.PREFECT_API_URL = url
        yield url
    finally:
        faultkit.PREFECT_API_URL = None
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hostile: a hostile-input case of the fault suite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "faults" in (config.option.markexpr or ""):
        return
    left_out = [item for item in items if item.get_closest_marker("faults")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("faults")]


# nodeid -> {"kind": "fault" | "hostile", "outcome": "passed" | "failed" | "skipped", "measured": [...]}
_OUTCOMES: dict[str, dict[str, object]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "faults" not in report.keywords:
        return
    kind = "hostile" if "hostile" in report.keywords else "fault"
    entry = _OUTCOMES.setdefault(report.nodeid, {"kind": kind, "outcome": "passed", "measured": []})
    if report.failed:
        entry["outcome"] = "failed"
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
    entry["measured"] = list(report.user_properties)  # the last phase's list holds them all


def summary_line(outcomes: dict[str, dict[str, object]]) -> str:
    def count(kind: str) -> str:
        ran = [e["outcome"] for e in outcomes.values() if e["kind"] == kind and e["outcome"] != "skipped"]
        return f"{ran.count('passed')}/{len(ran)}"

    totals = {"articles_lost": 0, "duplicate_alerts": 0}
    for entry in outcomes.values():
        for name, value in entry["measured"]:  # type: ignore[attr-defined]
            if name in totals:
                totals[name] += int(value)
    return (f"faults survived {count('fault')}, hostile inputs {count('hostile')}, "
            f"articles lost {totals['articles_lost']}, duplicate alerts {totals['duplicate_alerts']}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """After pytest's own summary: the suite's line is the last one printed."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not _OUTCOMES or reporter is None:
        return
    skipped = [nodeid for nodeid, entry in _OUTCOMES.items() if entry["outcome"] == "skipped"]
    if skipped:
        reporter.write_line(f"fault tests skipped (not counted): {', '.join(skipped)}")
    reporter.write_line(summary_line(_OUTCOMES), bold=True)
