"""What the fault tests share: a pass run as `newswatch run` in its own process (watched from
outside and killed with SIGKILL), and the checks that count lost articles and duplicate alerts
over the demo coverage (flows/demo.py serves it; demo/coverage/manifest.json says what it is)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import duckdb

from flows.demo import COVERAGE
from newswatch.config import PROJECT_ROOT

MANIFEST = json.loads((COVERAGE / "manifest.json").read_text(encoding="utf-8"))
# What a pass over the coverage must store (every item but those it recognises as known) and alert.
STORED = [i for i in MANIFEST["items"] if i["kind"] not in ("duplicate_url", "canonical_duplicate")]
NEW = [i for i in MANIFEST["items"] if i["kind"] == "new_development"]


# The fault suite's Prefect server (conftest.py starts it), used by the passes run as processes.
PREFECT_API_URL: str | None = None


def cli_env(**extra: str) -> dict[str, str]:
    """The test session's environment (its private PREFECT_HOME) with the suite's Prefect server
    and Prefect's INFO log lines, which say when each task finished."""
    api = {"PREFECT_API_URL": PREFECT_API_URL} if PREFECT_API_URL else {}
    return {**os.environ, "PREFECT_LOGGING_LEVEL": "INFO", **api, **extra}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=timeout, env=env or cli_env(),
    )


class PassProcess:
    """`newswatch run --config CONFIG` in a session of its own (its Prefect server and extraction
    workers with it), its log lines read as they come."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", "--config", str(config)],
            cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=cli_env(), start_new_session=True,
        )
        self.pid = self.process.pid
        self.lines: list[str] = []
        self.eof = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 180) -> None:
        """Until `count` log lines match `pattern` (a regex); fails if the pass ends first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(1 for line in self.lines if regex.search(line)) < count:
                if self.eof:
                    raise AssertionError(f"the pass ended before {pattern!r}:\n{''.join(self.lines)[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{''.join(self.lines)[-3000:]}")
                self._changed.wait(0.05)

    def wait_until(self, condition, timeout: float = 60, interval: float = 0.002) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"the pass ended first:\n{''.join(self.lines)[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s:\n{''.join(self.lines)[-3000:]}")
            time.sleep(interval)

    def has_open(self, path: Path) -> bool:
        """Whether the pass process itself has `path` open (DuckDB keeps the file open while connected)."""
        target = str(path)
        try:
            fds = os.listdir(f"/proc/{self.pid}/fd")
        except OSError:
            return False
        for fd in fds:
            try:
                if os.readlink(f"/proc/{self.pid}/fd/{fd}") == target:
                    return True
            except OSError:
                continue
        return False

    def kill(self) -> None:
        """SIGKILL the pass and everything it started (same session)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)

    def finish(self, timeout: float = 240) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.kill()


def stored_articles(db_path: Path) -> list[dict[str, object]]:
    with duckdb.connect(str(db_path), read_only=True) as db:
        cursor = db.execute("SELECT url, url_key FROM articles WHERE NOT is_seed")
        return [dict(zip(("url", "url_key"), row)) for row in cursor.fetchall()]


def lost_and_doubled(db_path: Path, base: str) -> tuple[int, int]:
    """(items of the coverage not stored, articles stored more than once)."""
    articles = stored_articles(db_path)
    paths = Counter(str(a["url"]).split(base, 1)[-1].split("?")[0] for a in articles)
    wanted = {item["page_path"] for item in STORED}
    return len(wanted - paths.keys()), sum(n - 1 for n in paths.values()) + (
        len(articles) - len({a["url_key"] for a in articles})
    )


def alert_statuses(db_path: Path) -> Counter[str]:
    with duckdb.connect(str(db_path), read_only=True) as db:
        return Counter(dict(db.execute("SELECT status, count(*) FROM alerts GROUP BY ALL").fetchall()))


def beyond_window(keys: Iterable[str], in_flight: Iterable[str] = ()) -> int:
    """Deliveries past the first of each idempotency key, less one repeat for each message that
    was in flight when the sender died or lost the answer (the documented window)."""
    counts = Counter(keys)
    allowed = Counter(in_flight)
    return sum(max(0, n - 1 - allowed[key]) for key, n in counts.items())


def mail_keys(smtp) -> list[str]:  # noqa: ANN001 - alerts.loopback.SmtpReceiver
    return [str(m["X-Newswatch-Alert-Id"]) for m in smtp.messages]


def hook_keys(hook, status: int | None = 200) -> list[str]:  # noqa: ANN001 - alerts.loopback.WebhookReceiver
    return [str(r.headers["Idempotency-Key"]) for r in hook.requests if status is None or r.status == status]


def alert_titles() -> set[str]:
    return {f"Neue Entwicklung: {item['title']}" for item in NEW}


EMAIL, HOOK = "desk-email", "desk-hook"  # the channel names the tests give the receivers


def channels(smtp=None, hook=None) -> list[dict[str, object]]:  # noqa: ANN001 - the loopback receivers
    """[[channels]] for demo_config: an email channel to `smtp`, a JSON webhook to `hook`."""
    found = [(EMAIL, smtp.mailto_url()) if smtp else None, (HOOK, hook.json_url()) if hook else None]
    return [{"name": name, "url": url, "min_send_interval_seconds": 0} for name, url in filter(None, found)]


def everything_once(db_path: Path, base: str, ledger, smtp=None, hook=None,  # noqa: ANN001
                    in_flight: dict[str, list[str]] | None = None) -> None:
    """Every coverage item stored once and every alert delivered, none beyond the window; what was
    lost and what was delivered too often go into the test's ledger."""
    in_flight = in_flight or {}
    lost, doubled = lost_and_doubled(db_path, base)
    ledger.lost(lost)
    duplicates = ledger.duplicates(
        (beyond_window(mail_keys(smtp), in_flight.get(EMAIL, [])) if smtp else 0)
        + (beyond_window(hook_keys(hook), in_flight.get(HOOK, [])) if hook else 0)
    )
    assert (lost, doubled, duplicates) == (0, 0, 0)
    if smtp:
        assert {str(m["Subject"]) for m in smtp.messages} == alert_titles()
    if hook:
        assert {r.json["title"] for r in hook.requests if r.status == 200} == alert_titles()


def next_pass_recovers(config: Path, db_path: Path, base: str, ledger, smtp=None, hook=None,  # noqa: ANN001
                       in_flight: dict[str, list[str]] | None = None) -> None:
    """`newswatch run` once more completes, and then everything is there once."""
    # The documented window: at most the one message per channel that was being sent.
    assert all(len(ids) <= 1 for ids in (in_flight or {}).values()), in_flight
    result = run_cli("run", "--config", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    everything_once(db_path, base, ledger, smtp, hook, in_flight)
