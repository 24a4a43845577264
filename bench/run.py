"""`make bench`: ingest throughput and memory, side by side with plain trafilatura, in one run.

Pages: the real German news pages of ../shared/fixtures/fundus/de when present (else the demo
coverage), served on 127.0.0.1 as 24 feeds x 50 items = 1,200 distinct article URLs.

- plain: a single-process loop of `trafilatura.extract` over the same 1,200 page bodies, already
  in memory (no network, no language, no storage): the baseline any pipeline must beat. It runs in
  a process of its own: run in the bench's process, it left trafilatura, lxml and ~75 MB of heap
  there, which the pipeline's main process (that no longer imports the extraction stack) would
  have been charged for in the memory figures.
- ingest: one real `monitor` pass over the feeds: poll, fetch, extract, detect language, store in
  DuckDB, publish the snapshot. Prefect's temporary server is started by a warm-up pass first, so
  its start-up is not counted.

The ratio `ingest_vs_plain_trafilatura` is pages/s of ingest over pages/s of plain; peak RSS is
sampled as PSS over the pipeline process and its extraction workers (the Prefect server, a separate
service in production, is reported apart).
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import resource
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="newswatch-bench-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "fundus" / "de"
FEEDS, ITEMS_PER_FEED = 24, 50


# Each served URL must be its own article: without this, copies of one fixture page would be
# recognised by their shared canonical link and stored once (correctly, but not what we measure).
_CANONICAL = re.compile(rb"<link[^>]*canonical[^>]*>|<meta[^>]*og:url[^>]*>", re.IGNORECASE)


def load_pages() -> tuple[list[bytes], str]:
    if FIXTURES.is_dir():
        pages = [_CANONICAL.sub(b"", gzip.decompress(p.read_bytes())) for p in sorted(FIXTURES.glob("*.html.gz"))]
        return pages, f"fundus German fixtures ({len(pages)} distinct pages)"
    from flows.demo import COVERAGE, render

    now = datetime.now(UTC)
    paths = sorted((COVERAGE / "sites").rglob("*.html"))
    pages = [render(p.read_text(encoding="utf-8"), "http://127.0.0.1", now).encode() for p in paths]
    return pages, f"demo coverage ({len(pages)} distinct pages; ../shared/fixtures absent)"


class BenchServer:
    def __init__(self, pages: list[bytes]):
        self.pages = pages
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        httpd.daemon_threads = True
        self.httpd = httpd
        self.base = f"http://127.0.0.1:{httpd.server_address[1]}"

    def feed(self, number: int) -> bytes:
        date = format_datetime(datetime.now(UTC))
        items = "".join(
            f"<item><title>Artikel {number}-{i}</title><link>{self.base}/p/{number * ITEMS_PER_FEED + i}.html</link>"
            f"<guid>{self.base}/p/{number * ITEMS_PER_FEED + i}.html</guid><pubDate>{date}</pubDate>"
            f"<description>Kurzfassung {i}</description></item>"
            for i in range(ITEMS_PER_FEED)
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {number}'
                f"</title><link>{self.base}/</link><language>de</language>{items}</channel></rss>").encode()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/f/"):
                    body, kind = server.feed(int(self.path[3:].split(".")[0])), "application/rss+xml"
                elif self.path.startswith("/p/"):
                    number = int(self.path[3:].split(".")[0])
                    body, kind = server.pages[number % len(server.pages)], "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> BenchServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()


def _serve(ready: multiprocessing.connection.Connection) -> None:
    pages, _ = load_pages()
    with BenchServer(pages) as server:
        ready.send(server.base)
        ready.recv()  # until the bench says stop


class ServerProcess:
    """The loopback server in a process of its own, as real feeds are served by other machines:
    serving 1,200 pages from inside the pipeline's process would take its share of the same GIL."""

    def __enter__(self) -> ServerProcess:
        self._conn, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.base = self._conn.recv()
        self.pid = self._process.pid
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._process.join(10)


class RssSampler:
    """Peak memory (PSS) of this process plus its worker processes, sampled from /proc every 50 ms."""

    def __init__(self, exclude: set[int] = frozenset()) -> None:
        self.exclude = exclude  # process trees not to count (the loopback server)
        self.peak_pipeline = 0
        self.peak_prefect = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree(root: int, exclude: set[int]) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
        found, todo = [], [root]
        while todo:
            pid = todo.pop()
            if pid in exclude:
                continue
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    @staticmethod
    def _rss(pid: int) -> tuple[int, bool]:
        """Proportional set size (PSS): forked workers share the parent's pages copy-on-write, and
        summing plain RSS would count those shared pages once per process."""
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return 0, False
        pss = next((int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0)
        return pss, b"prefect" in cmdline and b"server" in cmdline or b"uvicorn" in cmdline

    def _run(self) -> None:
        while not self._stop.is_set():
            pipeline = prefect = 0
            for pid in self._tree(os.getpid(), self.exclude):
                rss, is_prefect = self._rss(pid)
                if is_prefect:
                    prefect += rss
                else:
                    pipeline += rss
            self.peak_pipeline = max(self.peak_pipeline, pipeline)
            self.peak_prefect = max(self.peak_prefect, prefect)
            self._stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def plain_trafilatura(bodies: list[bytes]) -> float:
    import trafilatura

    started = time.perf_counter()
    for body in bodies:
        trafilatura.extract(body.decode("utf-8", errors="replace"))
    return time.perf_counter() - started


def _plain_in_child(conn: multiprocessing.connection.Connection, total: int) -> None:
    pages, source = load_pages()
    bodies = [pages[i % len(pages)] for i in range(total)]
    conn.send((plain_trafilatura(bodies), source))


def plain_trafilatura_in_a_process(total: int) -> tuple[float, str]:
    """`plain_trafilatura` over `total` page bodies, in a fresh process: (seconds, page source)."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_plain_in_child, args=(sender, total), daemon=True)
    process.start()
    seconds, source = receiver.recv()
    process.join(30)
    return seconds, source


def write_config(folder: Path, server: BenchServer | ServerProcess, feeds: int) -> Path:
    lines = [
        "[storage]", f'path = "{folder / "bench.duckdb"}"',
        "[fetch]", f'allow_private_addresses = ["{server.base.split("//")[1]}"]',
        "per_host_delay_seconds = 0.0", "per_host_concurrency = 8", "feed_concurrency = 8",
    ]
    for number in range(feeds):
        lines += ["[[feeds]]", f'name = "feed-{number}"', f'url = "{server.base}/f/{number}.xml"']
    path = folder / f"bench-{feeds}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    from bench import matching
    from bench import novelty as novelty_bench

    print("== topic matching: 200 vs 10 topics over 1,000 articles", flush=True)
    results = matching.main()
    save(results)
    print("== novelty diff: cost per article against 1,000, 10,000 and 100,000 stored articles", flush=True)
    save(novelty_bench.main())
    print("== ingest: fetch + extract + language + store vs plain trafilatura", flush=True)
    return ingest()


def save(new: dict[str, object]) -> None:
    """Merge `new` into bench/results/latest.json (each bench keeps the others' figures)."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(new)
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"] = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def ingest() -> int:
    from flows.monitor import monitor

    total = FEEDS * ITEMS_PER_FEED
    plain_seconds, source = plain_trafilatura_in_a_process(total)  # the server loads its own copy
    print(f"pages: {total} URLs over {source}", flush=True)
    plain_rate = total / plain_seconds
    print(f"plain trafilatura, one process: {plain_rate:.1f} pages/s ({plain_seconds:.1f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as folder, ServerProcess() as server:
        monitor(config_path=str(write_config(Path(folder), server, 0)))  # warm-up: Prefect server start
        config = write_config(Path(folder), server, FEEDS)
        with RssSampler(exclude={server.pid}) as rss:
            started = time.perf_counter()
            summary = monitor(config_path=str(config))
            ingest_seconds = time.perf_counter() - started
    stored = int(summary["articles_stored"])
    ingest_rate = stored / ingest_seconds
    print(f"ingest (fetch+extract+language+store): {ingest_rate:.1f} pages/s ({ingest_seconds:.1f} s, "
          f"{stored} stored, {summary['german_articles']} German)", flush=True)
    ratio = ingest_rate / plain_rate
    print(f"ingest_vs_plain_trafilatura = {ratio:.2f}  (goal >= 1.5)")
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (PSS): pipeline + workers {rss.peak_pipeline / 2**20:.0f} MB (goal <= 1024), "
          f"Prefect server {rss.peak_prefect / 2**20:.0f} MB; peak RSS of the main process {main_rss:.0f} MB")

    save({
        "ingest_pages": total,
        "ingest_page_source": source,
        "ingest_articles_stored": stored,
        "ingest_seconds": round(ingest_seconds, 2),
        "ingest_pages_per_s": round(ingest_rate, 1),
        "plain_trafilatura_pages_per_s": round(plain_rate, 1),
        "ingest_vs_plain_trafilatura": round(ratio, 2),
        "ingest_peak_memory_mb": round(rss.peak_pipeline / 2**20),  # PSS, main + workers
        "ingest_peak_rss_main_process_mb": round(main_rss),
        "prefect_server_peak_memory_mb": round(rss.peak_prefect / 2**20),
    })
    print(f"results: {RESULTS}")
    return 0 if stored == total else 1


if __name__ == "__main__":
    sys.exit(main())
