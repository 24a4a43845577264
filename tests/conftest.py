"""Shared fixtures: loopback HTTP servers (see tests/loopback.py for the API)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import loopback` from any test

from loopback import LoopbackServer  # noqa: E402


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A started LoopbackServer on 127.0.0.1 with an ephemeral port; stopped at teardown."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def loopback_factory() -> Iterator[Callable[[], LoopbackServer]]:
    """Call it to start more LoopbackServers; all are stopped at teardown."""
    servers: list[LoopbackServer] = []

    def make() -> LoopbackServer:
        server = LoopbackServer().start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


# Prefect: a private home per test session, so tests never touch ~/.prefect or a real server.
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="newswatch-test-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Two cores shared with extraction workers: give Prefect's temporary server time to start.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
