"""`python -m bench.load`: one `monitor` pass over 300 feeds x 50 items served on loopback.

The feeds and pages come from bench/run.py's loopback server, in a process of its own (the real
German pages of ../shared/fixtures/fundus/de when present, else the demo coverage; every URL its
own article). The pass polls, fetches, extracts, detects the language, matches, diffs and stores
everything in its one transaction, then publishes the snapshot. Prefect's temporary server is
started by a warm-up pass first, so its start-up is not counted.

Measured: `load_items_per_s` (articles stored / seconds of the pass), the peak memory of the
process tree (PSS of the pipeline, its extraction workers and the Prefect server: forked workers
share pages copy-on-write, so summing plain RSS would count them several times), and the peak
RSS of the main process. The figures are merged into bench/results/latest.json (other keys kept).

`--items-per-feed N` reads only the first N items of each feed (`max_items_per_feed`): the fault
suite (tests/faults/test_load.py, `make faults`) runs this at 300 x 2 with `--no-save` and
asserts completion, nothing lost and the memory bound; the full size is for `make bench`.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.run import ITEMS_PER_FEED, RssSampler, ServerProcess, save, write_config

FEEDS = 300
MEMORY_LIMIT_MB = 1536  # the bound issue 7 sets for the whole process tree


def measure(feeds: int = FEEDS, items_per_feed: int = ITEMS_PER_FEED) -> dict[str, object]:
    from flows.monitor import monitor

    with tempfile.TemporaryDirectory(prefix="newswatch-load-") as folder, ServerProcess() as server:
        monitor(config_path=str(write_config(Path(folder), server, 0)))  # warm-up: Prefect server start
        config = write_config(Path(folder), server, feeds, max_items_per_feed=items_per_feed)
        with RssSampler(exclude={server.pid}) as memory:
            started = time.perf_counter()
            summary = monitor(config_path=str(config))
            seconds = time.perf_counter() - started
    stored = int(summary["articles_stored"])
    tree_mb = round((memory.peak_pipeline + memory.peak_prefect) / 2**20)
    return {
        "load_feeds": feeds,
        "load_items_per_feed": items_per_feed,
        "load_items": feeds * items_per_feed,
        "load_articles_stored": stored,
        "load_feeds_failed": int(summary["feeds_failed"]),
        "load_pages_failed": int(summary["pages_failed"]),
        "load_seconds": round(seconds, 1),
        "load_items_per_s": round(stored / seconds, 1),
        "load_peak_memory_mb": tree_mb,  # PSS: pipeline + workers + Prefect server
        "load_peak_memory_pipeline_mb": round(memory.peak_pipeline / 2**20),
        "load_peak_rss_main_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--feeds", type=int, default=FEEDS)
    parser.add_argument("--items-per-feed", type=int, default=ITEMS_PER_FEED)
    parser.add_argument("--no-save", action="store_true", help="print the figures, leave latest.json alone")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    options = parser.parse_args(argv)
    results = measure(options.feeds, options.items_per_feed)
    if options.json:
        print(json.dumps(results), flush=True)
    else:
        print(f"load: {results['load_feeds']} feeds x {results['load_items_per_feed']} items, "
              f"{results['load_articles_stored']} stored in {results['load_seconds']} s = "
              f"{results['load_items_per_s']} items/s; peak memory of the process tree (PSS) "
              f"{results['load_peak_memory_mb']} MB (limit {MEMORY_LIMIT_MB}), main process RSS "
              f"{results['load_peak_rss_main_process_mb']} MB", flush=True)
    if not options.no_save:
        save(results)
    complete = results["load_articles_stored"] == results["load_items"]
    return 0 if complete and int(results["load_peak_memory_mb"]) < MEMORY_LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
