"""Load: one pass over 300 feeds on loopback (bench/load.py). `make bench` measures the full
300 x 50 items and records `load_items_per_s`; here the same 300 feeds are read with two items
each (600 pages: about three minutes on two cores), and the pass must complete, store every item
and keep the process tree under 1.5 GB. `NEWSWATCH_FAULTS_LOAD_ITEMS=50 make faults` runs the
full size instead (half an hour on two cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.load import MEMORY_LIMIT_MB
from newswatch.config import PROJECT_ROOT

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(4 * 3600)]


def test_300_feeds_in_one_pass(ledger) -> None:  # noqa: ANN001
    items = os.environ.get("NEWSWATCH_FAULTS_LOAD_ITEMS", "2")
    result = subprocess.run(
        [sys.executable, "-m", "bench.load", "--feeds", "300", "--items-per-feed", items, "--no-save", "--json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=4 * 3600,
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    lost = ledger.lost(int(figures["load_items"]) - int(figures["load_articles_stored"]))
    assert lost == 0 and figures["load_feeds_failed"] == 0 and figures["load_pages_failed"] == 0, figures
    assert figures["load_peak_memory_mb"] < MEMORY_LIMIT_MB, figures
    assert result.returncode == 0, result.stderr[-3000:]
