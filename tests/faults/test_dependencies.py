"""Dependencies down: an alert channel (SMTP down, a webhook answering 500 or hanging), the Prefect
API, the database (locked by another process), the disk (full while writing)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from faultkit import (
    HOOK,
    MANIFEST,
    NEW,
    PassProcess,
    channels,
    cli_env,
    everything_once,
    hook_keys,
    next_pass_recovers,
    run_cli,
    stored_articles,
)
from loopback import LoopbackServer, hang

from alerts.loopback import SmtpReceiver, WebhookReceiver, free_port
from flows.demo import CoverageServer, demo_config
from newswatch.config import load_settings

pytestmark = [pytest.mark.faults, pytest.mark.slow]

RUSSIA = [i for i in NEW if "us-russia" in i["topics"]]


@pytest.mark.parametrize("outage", ["smtp-down", "webhook-500", "webhook-hanging"])
def test_a_channel_down_for_a_pass_gets_everything_on_the_next_once(outage: str, tmp_path: Path, ledger) -> None:  # noqa: ANN001
    from flows.monitor import monitor

    with CoverageServer() as server, SmtpReceiver() as smtp, WebhookReceiver() as hook, WebhookReceiver() as steady:
        config = demo_config(server, tmp_path, channels=[*channels(smtp, hook), {
            "name": "russia", "url": steady.json_url(), "topics": ["us-russia"], "min_send_interval_seconds": 0}])
        config.write_text(config.read_text() + "[alerts]\nretry_base_seconds = 0\n")
        if outage == "smtp-down":
            smtp.stop()
        elif outage == "webhook-500":
            hook.status = 500
        else:
            hook.delay = 60
        started = time.monotonic()
        first = monitor(config_path=str(config))
        dispatch_seconds = time.monotonic() - started
        assert first["alerts_queued"] == 2 * len(NEW) + len(RUSSIA)
        assert first["alerts_sent"] == len(NEW) + len(RUSSIA)  # the others are not held up
        assert first["alerts_failed"] == 2  # probed twice, then left for the next pass
        if outage != "smtp-down":
            assert len(hook.requests) == 2  # the failing channel is probed, not hammered
        if outage == "webhook-hanging":
            assert dispatch_seconds < 120  # two of Apprise's 4 s timeouts, not one per alert
        # Requests a hanging service received but never answered may have arrived: the window.
        in_flight = hook_keys(hook, status=None) if outage == "webhook-hanging" else []

        smtp.start()
        hook.status, hook.delay = 200, 0
        second = monitor(config_path=str(config))
        assert second["alerts_queued"] == 0 and second["alerts_failed"] == 0
        assert second["alerts_sent"] == len(NEW)
        everything_once(Path(second["snapshot"]), server.base, ledger, smtp, hook, {HOOK: in_flight})
        assert len(steady.requests) == len(RUSSIA) == len(set(hook_keys(steady)))


@pytest.mark.parametrize("api", ["refused", "hanging"])
def test_prefect_api_unreachable_at_start_is_one_clear_message(api: str, tmp_path: Path) -> None:
    with CoverageServer() as server, LoopbackServer() as silent:
        silent.route("/api/health", hang(30))
        url = f"http://127.0.0.1:{free_port()}/api" if api == "refused" else silent.url("/api")
        config = demo_config(server, tmp_path)
        started = time.monotonic()
        result = run_cli("run", "--config", str(config), env=cli_env(PREFECT_API_URL=url), timeout=120)
        seconds = time.monotonic() - started
    message = " ".join(result.stderr.split())
    assert result.returncode == 4, result.stderr
    assert f"the Prefect API at {url} (PREFECT_API_URL) cannot be reached" in message
    assert "Traceback" not in result.stderr and seconds < 60
    assert not load_settings(config).storage.path.exists()  # nothing was started, nothing written


_HOLDER = """
import duckdb, os, sys
connection = duckdb.connect(sys.argv[1])  # read-write, like an analyst's DuckDB shell on the live file
print(os.getpid(), flush=True)
sys.stdin.read()  # until the test closes stdin
connection.close()
"""


def test_database_locked_by_another_process_mid_pass(tmp_path: Path, ledger) -> None:  # noqa: ANN001
    """Another program opens the live file while the pass fetches: the pass waits
    `lock_timeout_seconds`, then exits 3 naming the holder, with nothing half-written; the next
    pass stores everything."""
    pages_open = threading.Event()

    def gate(path: str) -> None:  # page requests wait: the pass is fetching, the file is closed
        if path.endswith(".html"):
            pages_open.wait(120)

    with CoverageServer(on_request=gate) as server, SmtpReceiver() as smtp:
        config = demo_config(server, tmp_path, channels=channels(smtp))
        config.write_text(config.read_text().replace("[storage]", "[storage]\nlock_timeout_seconds = 2"))
        db_path = load_settings(config).storage.path
        run = PassProcess(config)
        holder = None
        try:
            run.wait_for_log(r"Task run 'poll-.*Finished", count=len(MANIFEST["feeds"]))
            holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db_path)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
            holder_pid = int(holder.stdout.readline())
            pages_open.set()
            code = run.finish(timeout=240)
        finally:
            pages_open.set()
            run.kill()
            if holder is not None:
                holder.communicate(timeout=30)
        log = " ".join("".join(run.lines).split())
        assert code == 3, log[-3000:]
        assert "is locked by" in log and f"(PID {holder_pid})" in log
        with duckdb.connect(str(db_path), read_only=True) as db:
            assert db.execute("SELECT count(*) FROM articles WHERE NOT is_seed").fetchone()[0] == 0
            assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        assert smtp.messages == []

        next_pass_recovers(config, db_path, server.base, ledger, smtp)


@pytest.fixture
def small_disk(tmp_path: Path):  # noqa: ANN201
    """A 48 MB tmpfs (root only; skipped elsewhere, see docs/reliability.md)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill `disk` up to `leave` bytes free."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as out:
        remaining = free - leave
        block = b"\0" * (1 << 20)
        while remaining > 0:
            out.write(block[: min(len(block), remaining)])
            remaining -= len(block)
    return filler


def test_disk_full_while_writing(small_disk: Path, tmp_path: Path, ledger) -> None:  # noqa: ANN001
    """The database's disk fills up while the pass works (after extraction, before the store): the
    pass fails with one clear message and stores nothing half-way; with space again, the next
    pass stores everything and alerts once."""
    with CoverageServer() as server, SmtpReceiver() as smtp:
        config = demo_config(server, tmp_path, channels=channels(smtp))
        db_path = small_disk / "newswatch.duckdb"
        config.write_text(config.read_text().replace(str(tmp_path / "newswatch.duckdb"), str(db_path)))
        run = PassProcess(config)
        try:
            run.wait_for_log(r"Task run 'match-topics-.*Finished")
            filler = _fill(small_disk, leave=64 * 1024)
            code = run.finish()
        finally:
            run.kill()
        # The last word is one message naming the file (Prefect's log above it has the task's traceback).
        stderr = "".join(run.lines)
        message = "".join(stderr.rsplit("error:", 1)[-1].split())  # the console wraps long lines
        assert code == 3, stderr[-3000:]
        expected = f"{db_path}: cannot write, the disk is full (No space left on device)"
        assert message.startswith("".join(expected.split())), stderr[-3000:]
        assert stored_articles(db_path) == [] and smtp.messages == []

        filler.unlink()
        next_pass_recovers(config, db_path, server.base, ledger, smtp)


def test_disk_full_while_publishing_the_snapshot(small_disk: Path, tmp_path: Path) -> None:
    """The snapshot's disk is full: one clear error, and the analysts' previous snapshot stays whole."""
    from storage.db import StorageError, connect, migrate
    from storage.snapshot import publish_snapshot

    db_path, snapshot = tmp_path / "newswatch.duckdb", small_disk / "newswatch.snapshot.duckdb"
    with connect(db_path) as db:
        migrate(db)
    publish_snapshot(db_path, snapshot)
    with connect(db_path) as db:  # the next pass stored more than the disk has room for
        db.execute("CREATE TABLE ballast AS SELECT repeat(md5(i::VARCHAR), 64) AS x FROM range(20000) t(i)")
    _fill(small_disk, leave=64 * 1024)
    with pytest.raises(StorageError, match="cannot publish the analyst snapshot, the disk is full"):
        publish_snapshot(db_path, snapshot)
    assert [p.name for p in small_disk.iterdir() if p.name.endswith(".tmp")] == []
    with duckdb.connect(str(snapshot), read_only=True) as db:  # the previous one, whole
        assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
