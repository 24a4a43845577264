"""`make bench`: ingest throughput and memory, side by side with plain trafilatura, in one run.

Pages: the real German news pages of ../shared/fixtures/fundus/de when present (else the demo
coverage), served on 127.0.0.1 as 24 feeds x 50 items = 1,200 distinct article URLs.

- plain: a single-process loop of `trafilatura.extract` over the same 1,200 page bodies, already
  in memory (no network, no language, no storage): the baseline any pipeline must beat. It runs in
  a process of its own: run in the bench's process, it left trafilatura, lxml and ~75 MB of heap
  there, which the pipeline's main process (that no longer imports the extraction stack) would
  have been charged for in the memory figures. The same loop also runs in two processes at once,
  each over half the pages (`plain_two_processes_vs_one`): what the machine's two cores give the
  bare extraction with nothing else running (not a ceiling for the pipeline's ratio: newswatch's
  extraction costs less CPU a page than plain trafilatura's, extractors/trafilatura_prunes.py).
- rounds: this machine's speed drifts by tens of percent within minutes, so plain and ingest take
  turns, plain first and last (`--rounds`, default 3 passes): each pass is compared with the mean of
  the plain runs right before and right after it, and `ingest_vs_plain_trafilatura` is the median of
  those ratios (all of them: `ingest_vs_plain_trafilatura_rounds`). The other ingest figures are
  the median round's; peak memory is the highest of the rounds. Each round's feeds list new URLs
  (the same pages), stored into the same database.
- ingest: a real `monitor` pass over the feeds: poll, fetch, extract, detect language, match,
  diff, store in DuckDB, send alerts, publish the snapshot. Prefect's temporary server is started by
  a warm-up pass first, so its start-up is not counted. The German articles no diff read are
  fingerprinted for the corpus after the pass has stored its articles and sent its alerts (the
  `fingerprint-corpus` task): its time is subtracted from the ingest figure and reported apart
  (`ingest_corpus_fingerprint_s`), with the whole pass (`ingest_pass_seconds`,
  `ingest_pass_vs_plain_trafilatura`). The bench's feeds match no topic, so no article is
  fingerprinted before the diff here; a pass whose matches are published late fingerprints most
  of its German articles before the diff (`ingest_fingerprint_for_diff_s`).

- steal: the share of the CPUs' time the hypervisor gave to other guests during each pass and each
  plain run (/proc/stat), recorded beside the ratios: on a shared host it explains rounds that no
  change of newswatch does (13% to 61% during single passes, 2026-11-22).
- allocator: the passes' extraction workers preload jemalloc when the machine has it (`make` fetches
  it; extractors/allocator.py), the plain loop keeps the C library's malloc, as a plain loop does.
  After the rounds, the plain loop runs once preloading jemalloc too, between two plain runs, and
  `plain_trafilatura_with_worker_allocator_vs_plain` says how much of the ratio that is.

The ratio `ingest_vs_plain_trafilatura` is taken over rounds (above); peak RSS is
sampled as PSS over the pipeline process and its extraction workers (the Prefect server, a separate
service in production, is reported apart).
"""

from __future__ import annotations

import gzip
import itertools
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

from extractors.allocator import preloading, worker_allocator

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="newswatch-bench-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "fundus" / "de"
FEEDS, ITEMS_PER_FEED = 24, 50
ROUNDS = 3  # measured ingest passes; the ratio reported is the median of theirs


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

    def feed(self, round_: int, number: int) -> bytes:
        """Feed `number` of measuring round `round_`: each round's items are new URLs (same pages)."""
        date = format_datetime(datetime.now(UTC))
        links = [f"{self.base}/p/{round_}/{number * ITEMS_PER_FEED + i}.html" for i in range(ITEMS_PER_FEED)]
        items = "".join(
            f"<item><title>Artikel {number}-{i}</title><link>{link}</link>"
            f"<guid>{link}</guid><pubDate>{date}</pubDate>"
            f"<description>Kurzfassung {i}</description></item>"
            for i, link in enumerate(links)
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {number}'
                f"</title><link>{self.base}/</link><language>de</language>{items}</channel></rss>").encode()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/f/"):  # /f/<round>/<feed>.xml
                    round_, number = self.path[3:].split(".")[0].split("/")
                    body, kind = server.feed(int(round_), int(number)), "application/rss+xml"
                elif self.path.startswith("/p/"):  # /p/<round>/<page>.html
                    number = int(self.path[3:].split(".")[0].split("/")[1])
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


_TICK = os.sysconf("SC_CLK_TCK")


def steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests while this machine's CPUs had work to do, summed
    over the CPUs, so far (/proc/stat `steal`; 0 where it is not reported)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def steal_percent(steal: float, seconds: float) -> float:
    """Steal over `seconds` of wall time as a share of all the machine's CPUs. Only a diagnosis: the
    guest cannot tell which CPU would have done what, and correcting run times by it gave figures
    that contradict each other (a plain run "93% stolen" of one CPU), so no figure is corrected."""
    return 100 * steal / (seconds * (os.cpu_count() or 1)) if seconds > 0 else 0.0


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process so far (from /proc/<pid>/stat), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


SAMPLE_SECONDS = 0.05
# samples: the process tree is walked again, and each process's CPU read, every second. The walk
# reads one /proc file per thread of every process (the pass's main process runs ~150 threads):
# every 0.25 s, that was most of the sampler's ~3.5 s of CPU, a second core's worth of work taken
# from the pass it measures. The pool's workers live for the whole pass (or ~800 pages).
TREE_EVERY = 20
ANCHOR_EVERY = TREE_EVERY  # samples: PSS is read again at each walk, so after processes came or went
ANCHOR_DRIFT = 8 << 20  # bytes: ... and as soon as its RSS moved this much since
PREFECT_SAMPLE_EVERY = 40  # samples: the Prefect server (reported apart, and steady) every 2 s
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    """Direct children of a process (from every thread's /proc children list)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            found.extend(int(child) for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except OSError:
            continue
    return found


def _tree(root: int, exclude: set[int]) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in exclude:
            continue
        found.append(pid)
        todo.extend(_children(pid))
    return found


def _is_prefect_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"prefect" in cmdline and b"server" in cmdline or b"uvicorn" in cmdline


def _pss(pid: int) -> int:
    """Proportional set size (PSS): forked workers share the parent's pages copy-on-write, and
    summing plain RSS would count those shared pages once per process."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0)


def _rss(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except OSError:
        return None


def _sample(root: int, exclude: set[int], conn: multiprocessing.connection.Connection, interval: float) -> None:
    """The sampler's loop, in a process of its own (see RssSampler)."""
    exclude = exclude | {os.getpid()}
    peaks = {"pipeline": 0, "prefect": 0, "main": 0}
    start: dict[int, float] = {pid: _cpu_seconds(pid) or 0.0 for pid in _tree(root, exclude)}
    last: dict[int, tuple[float, str]] = {}
    prefect_pids: dict[int, bool] = {}
    anchors: dict[int, tuple[int, int]] = {}  # pid -> (PSS, RSS) when its PSS was last read
    conn.send("ready")
    tree: list[int] = []
    for sample in itertools.count():
        stopping = conn.poll(interval)  # one last sample after the pass
        if stopping:
            conn.recv()
        pipeline = prefect = 0
        walk = stopping or sample % TREE_EVERY == 0  # a walk's sample also reads PSS (ANCHOR_EVERY)
        if walk:
            tree = _tree(root, exclude)
        for pid in tree:
            is_prefect = prefect_pids.setdefault(pid, _is_prefect_server(pid))
            if is_prefect:
                if stopping or sample % PREFECT_SAMPLE_EVERY == 0:
                    prefect += _pss(pid)
            else:
                rss = _rss(pid)
                if rss is None:
                    continue
                anchor = anchors.get(pid)
                if (anchor is None or stopping or sample % ANCHOR_EVERY == 0
                        or abs(rss - anchor[1]) >= ANCHOR_DRIFT):
                    anchor = anchors[pid] = (_pss(pid), rss)
                pss = anchor[0] + rss - anchor[1]
                pipeline += pss
                if pid == root:
                    peaks["main"] = max(peaks["main"], pss)
            if walk:
                cpu = _cpu_seconds(pid)
                if cpu is not None:
                    last[pid] = (cpu, "main" if pid == root else "prefect" if is_prefect else "workers")
        peaks["pipeline"] = max(peaks["pipeline"], pipeline)
        peaks["prefect"] = max(peaks["prefect"], prefect)
        if stopping:
            break
    cpu = {"main": 0.0, "workers": 0.0, "prefect": 0.0}
    for pid, (seconds, kind) in last.items():
        cpu[kind] += seconds - start.get(pid, 0.0)
    conn.send((peaks, cpu, time.process_time()))


class RssSampler:
    """Peak memory (PSS) of this process plus its worker processes, sampled from /proc every 50 ms;
    and the CPU each process of the tree used meanwhile (read every second: a worker that exits
    between two readings loses at most its last second).

    The sampler runs in a process of its own. Reading a process's smaps_rollup (its PSS) costs the
    kernel ~8 ms per 400 MB mapped (measured here); done every 50 ms from a thread of the pipeline's
    own process, as before, that was ~0.5 s of CPU a second charged to the pipeline's main process,
    and the /proc scan around it held its GIL (py-spy: a quarter of the main process's Python time).
    So each 50 ms only RSS is read (/proc/<pid>/statm, constant cost), and a process's PSS is its
    last PSS reading plus the RSS it gained since: exact for private pages, an overestimate for
    shared ones. PSS is read again every second, with each walk of the process tree (which finds
    processes that started or ended: sharing changes), and when the RSS moved by 8 MB. Measured
    against reading PSS every 50 ms in the same pass: the same peaks (789 vs 788 MB; main process
    498 vs 498 MB) at a third of the CPU (5.9 vs 18.5 s). The Prefect server (its own figure, and
    steady) every 2 s. The sampler's own CPU is reported apart (`sampler_cpu`)."""

    def __init__(self, exclude: set[int] = frozenset(), interval: float = SAMPLE_SECONDS) -> None:
        self.exclude = set(exclude)  # process trees not to count (the loopback server)
        self.peak_pipeline = self.peak_prefect = self.peak_main = 0
        self.sampler_cpu = 0.0
        self._cpu: dict[str, float] = {}
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_sample, args=(os.getpid(), self.exclude, child, interval), daemon=True)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used while sampling: by the main process, the workers (the forkserver and the
        extraction workers), the Prefect server."""
        return dict(self._cpu)

    def __enter__(self) -> RssSampler:
        self._process.start()
        self._conn.recv()  # the CPU already used is read: only the measured pass is counted
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        peaks, self._cpu, self.sampler_cpu = self._conn.recv()
        self._process.join(10)
        self.peak_pipeline, self.peak_prefect, self.peak_main = peaks["pipeline"], peaks["prefect"], peaks["main"]


def plain_trafilatura(bodies: list[bytes]) -> float:
    import trafilatura

    from extractors import trafilatura_prunes  # the walks and what they replace; installs nothing

    # The baseline is trafilatura as shipped: not with newswatch's tree walks in place of its
    # expressions (installed wherever extractors.article_text is imported; this process must not).
    if replaced := trafilatura_prunes.installed():
        raise RuntimeError(f"the plain trafilatura loop runs with newswatch's walks in trafilatura: {replaced}")

    started = time.perf_counter()
    for body in bodies:
        trafilatura.extract(body.decode("utf-8", errors="replace"))
    return time.perf_counter() - started


def _plain_in_child(conn: multiprocessing.connection.Connection, total: int) -> None:
    pages, source = load_pages()
    bodies = [pages[i % len(pages)] for i in range(total)]
    conn.send((plain_trafilatura(bodies), source))


def plain_trafilatura_in_a_process(
    total: int, processes: int = 1, allocator: Path | None = None
) -> tuple[float, str]:
    """`plain_trafilatura` over `total` page bodies, in `processes` fresh processes at once, each
    taking its share: (seconds until the last one finished, page source). `allocator`: a C
    allocator library the processes preload, as the extraction workers do (None: the C library's)."""
    context = multiprocessing.get_context("spawn")
    children = []
    for _ in range(processes):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_plain_in_child, args=(sender, total // processes), daemon=True)
        with preloading(allocator):
            process.start()
        children.append((process, receiver))
    results = [receiver.recv() for _, receiver in children]
    for process, _ in children:
        process.join(30)
    return max(seconds for seconds, _ in results), results[0][1]


def task_run_seconds(flow_run_id: str, name: str) -> float:
    """How long the flow run's task runs called `name` took (from their Prefect records)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

    deadline = time.monotonic() + 15  # task run states reach the server asynchronously
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=name)),
            )
            if runs and all(r.end_time and r.start_time for r in runs) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    return sum((r.end_time - r.start_time).total_seconds() for r in runs if r.start_time and r.end_time)


def write_config(
    folder: Path,
    server: BenchServer | ServerProcess,
    feeds: int,
    max_items_per_feed: int | None = None,
    round_: int = 0,
) -> Path:
    """A config for `feeds` of the bench server's feeds of measuring round `round_`, stored in
    `folder/bench.duckdb` (every round into the same database)."""
    lines = [
        "[storage]", f'path = "{folder / "bench.duckdb"}"',
        "[fetch]", f'allow_private_addresses = ["{server.base.split("//")[1]}"]',
        "per_host_delay_seconds = 0.0", "per_host_concurrency = 8", "feed_concurrency = 8",
    ]
    if max_items_per_feed is not None:
        lines.append(f"max_items_per_feed = {max_items_per_feed}")
    for number in range(feeds):
        lines += ["[[feeds]]", f'name = "feed-{round_}-{number}"', f'url = "{server.base}/f/{round_}/{number}.xml"']
    path = folder / f"bench-{feeds}-{round_}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


BENCHES = ("matching", "novelty", "ingest")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", choices=BENCHES, action="append",
                        help="run only this bench (repeatable); default: all of them")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"ingest: measured passes, each between two plain runs (default {ROUNDS})")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    only = set(args.only or BENCHES)
    if "matching" in only:
        from bench import matching

        print("== topic matching: 200 vs 10 topics over 1,000 articles", flush=True)
        save(matching.main())
    if "novelty" in only:
        from bench import novelty as novelty_bench

        print("== novelty diff: cost per article against 1,000, 10,000 and 100,000 stored articles", flush=True)
        save(novelty_bench.main())
    if "ingest" in only:
        print("== ingest: fetch + extract + language + store vs plain trafilatura", flush=True)
        return ingest(args.rounds)
    return 0


def save(new: dict[str, object]) -> None:
    """Merge `new` into bench/results/latest.json (each bench keeps the others' figures)."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(new)
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"] = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def ingest(rounds: int = ROUNDS) -> int:
    """Plain, pass, plain, pass, ..., plain: each pass's rate over the mean of the plain runs right
    before and right after it, and the median of those ratios. This machine's speed drifts by tens of
    percent within minutes (the same plain loop: 15.9 and 26.6 pages/s a minute apart; 16.9 before a
    pass and 24.6 after it), so one pass against one baseline says more about the drift than about
    the pipeline. Every round's feeds list new URLs (the same pages), stored into the same database."""
    total = FEEDS * ITEMS_PER_FEED
    # What two cores give the same loop with nothing else running (beside the ratio, for scale).
    two_seconds, _, source = timed_plain(total, processes=2)
    print(f"pages: {total} URLs a round over {source}; {rounds} rounds", flush=True)
    two_rate = total // 2 * 2 / two_seconds

    measured: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as folder, ServerProcess() as server:
        monitor_pass(write_config(Path(folder), server, 0))  # warm-up: Prefect server start, seed corpus
        first, steal, _ = timed_plain(total)  # the server loads its own copy
        plain_seconds, plain_steal = [first], [steal]
        for round_ in range(1, rounds + 1):
            figures = measure_pass(write_config(Path(folder), server, FEEDS, round_=round_), server.pid)
            seconds, steal, _ = timed_plain(total)
            plain_seconds.append(seconds)
            plain_steal.append(steal)
            figures["plain_rate"] = total / ((plain_seconds[-2] + plain_seconds[-1]) / 2)
            figures["ratio"] = figures["ingest_rate"] / figures["plain_rate"]
            measured.append(figures)
            print(f"round {round_}: ingest {figures['ingest_rate']:.1f} pages/s ({figures['ingest_seconds']:.1f} s, "
                  f"{figures['stored']:.0f} stored); plain {total / plain_seconds[-2]:.1f} before, "
                  f"{total / plain_seconds[-1]:.1f} after; ratio {figures['ratio']:.2f}; steal: the hypervisor "
                  f"took {steal_percent(figures['steal'], figures['pass_seconds']):.0f}% of the CPUs during the pass, "
                  f"{steal_percent(plain_steal[-1], plain_seconds[-1]):.0f}% during the plain run after it", flush=True)
    # The passes' workers preload this allocator (write_config leaves fetch.extraction_allocator at
    # "auto"); the plain loop is plain and keeps the C library's. What the allocator alone gives the
    # plain loop, between two plain runs: the share of the ratio that is the allocator's.
    allocator = worker_allocator("auto")
    allocator_effect = None
    if allocator is not None:
        with_allocator = timed_plain(total, allocator=allocator)[0]
        allocator_effect = (plain_seconds[-1] + timed_plain(total)[0]) / 2 / with_allocator

    by_ratio = sorted(measured, key=lambda f: f["ratio"])
    ratios = [f["ratio"] for f in by_ratio]
    median = by_ratio[len(by_ratio) // 2]
    plain_rate = median["plain_rate"]
    print(f"plain trafilatura, two processes at once: {two_rate:.1f} pages/s "
          f"({two_rate / plain_rate:.2f} x one process in the median round)", flush=True)
    print(f"the median round: ingest (fetch+extract+language+store) {median['ingest_rate']:.1f} pages/s; "
          f"then the corpus fingerprints of its German articles {median['corpus_seconds']:.1f} s; the whole pass "
          f"{median['pass_seconds']:.1f} s ({median['stored'] / median['pass_seconds']:.1f} pages/s)", flush=True)
    print(f"ingest_vs_plain_trafilatura = {median['ratio']:.2f}  (goal >= 1.5; median of "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); whole pass vs plain "
          f"{median['stored'] / median['pass_seconds'] / plain_rate:.2f}")
    peak = max(measured, key=lambda f: f["peak_pipeline"])
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (PSS), highest of the rounds: pipeline + workers {peak['peak_pipeline'] / 2**20:.0f} MB "
          f"(goal <= 1024), main process alone {peak['peak_main'] / 2**20:.0f} MB, Prefect server "
          f"{peak['peak_prefect'] / 2**20:.0f} MB; peak RSS of the main process {main_rss:.0f} MB")
    stored = median["stored"]
    if allocator_effect is None:
        print("extraction workers' allocator: the C library's malloc (no jemalloc found: docs/operations.md)")
    else:
        print(f"extraction workers' allocator: {allocator}; plain trafilatura preloading it runs "
              f"{allocator_effect:.2f} x as fast as plain (the plain loop above keeps the C library's)")
    print(f"CPU during the median round's pass: main process {median['cpu_main']:.1f} s, workers "
          f"{median['cpu_workers']:.1f} s ({1000 * median['cpu_workers'] / max(stored, 1):.0f} ms/page), "
          f"Prefect server {median['cpu_prefect']:.1f} s, loopback server {median['cpu_server']:.1f} s, memory sampler "
          f"{median['cpu_sampler']:.1f} s; load average {median['load_before']:.2f} before")

    save({
        "ingest_pages": total,
        "ingest_page_source": source,
        "ingest_rounds": rounds,
        "ingest_vs_plain_trafilatura_rounds": [round(f["ratio"], 2) for f in measured],
        "ingest_articles_stored": int(stored),
        "ingest_seconds": round(median["ingest_seconds"], 2),
        "ingest_pages_per_s": round(median["ingest_rate"], 1),
        "plain_trafilatura_pages_per_s": round(plain_rate, 1),
        "plain_trafilatura_pages_per_s_runs": [round(total / seconds, 1) for seconds in plain_seconds],
        "plain_trafilatura_two_processes_pages_per_s": round(two_rate, 1),
        "plain_two_processes_vs_one": round(two_rate / plain_rate, 2),
        "ingest_vs_plain_trafilatura": round(median["ratio"], 2),
        "ingest_pass_seconds": round(median["pass_seconds"], 2),
        "ingest_corpus_fingerprint_s": round(median["corpus_seconds"], 2),
        "ingest_fingerprint_for_diff_s": round(median["before_diff_seconds"], 2),
        "ingest_pass_vs_plain_trafilatura": round(stored / median["pass_seconds"] / plain_rate, 2),
        "ingest_peak_memory_mb": round(peak["peak_pipeline"] / 2**20),  # PSS, main + workers
        "ingest_peak_rss_main_process_mb": round(main_rss),
        "prefect_server_peak_memory_mb": round(peak["peak_prefect"] / 2**20),
        "ingest_peak_memory_main_process_mb": round(peak["peak_main"] / 2**20),  # PSS
        "ingest_cpu_s_main_process": round(median["cpu_main"], 1),
        "ingest_cpu_s_workers": round(median["cpu_workers"], 1),
        "ingest_cpu_s_prefect_server": round(median["cpu_prefect"], 1),
        "ingest_cpu_s_loopback_server": round(median["cpu_server"], 1),
        "ingest_cpu_s_memory_sampler": round(median["cpu_sampler"], 1),
        "ingest_load_average_before": round(median["load_before"], 2),
        "ingest_steal_percent_rounds": [round(steal_percent(f["steal"], f["pass_seconds"])) for f in measured],
        "plain_trafilatura_steal_percent_runs": [
            round(steal_percent(st, sec)) for st, sec in zip(plain_steal, plain_seconds)
        ],
        "ingest_worker_allocator": allocator.name if allocator is not None else "libc malloc",
        "plain_trafilatura_with_worker_allocator_vs_plain": round(allocator_effect, 2) if allocator_effect else None,
    })
    print(f"results: {RESULTS}")
    return 0 if all(f["stored"] == total for f in measured) else 1


def monitor_pass(config: Path) -> dict[str, object]:
    from flows.monitor import monitor

    return monitor(config_path=str(config))


def timed_plain(total: int, processes: int = 1, allocator: Path | None = None) -> tuple[float, float, str]:
    """`plain_trafilatura_in_a_process`: (seconds, seconds the hypervisor took meanwhile, source)."""
    steal = steal_seconds()
    seconds, source = plain_trafilatura_in_a_process(total, processes, allocator)
    return seconds, steal_seconds() - steal, source


def measure_pass(config: Path, server_pid: int) -> dict[str, float]:
    """One monitor pass under the memory sampler: its rates, times, peaks and CPU."""
    load_before = os.getloadavg()[0]
    server_cpu = _cpu_seconds(server_pid) or 0.0
    with RssSampler(exclude={server_pid}) as rss:
        steal, started = steal_seconds(), time.perf_counter()
        summary = monitor_pass(config)
        pass_seconds, steal = time.perf_counter() - started, steal_seconds() - steal
    server_cpu = (_cpu_seconds(server_pid) or server_cpu) - server_cpu
    # The pass fingerprints the German articles its diff did not read after storing its articles
    # and sending its alerts (the `fingerprint-corpus` task): that is not ingest, and is reported
    # apart; everything else of the pass, the snapshot and the flow's own end included, is.
    corpus_seconds = task_run_seconds(str(summary["run_id"]), "fingerprint-corpus")
    before_diff_seconds = task_run_seconds(str(summary["run_id"]), "fingerprint-for-diff")
    ingest_seconds = pass_seconds - corpus_seconds
    stored = int(summary["articles_stored"])
    cpu = rss.cpu_seconds()
    return {
        "stored": stored,
        "ingest_seconds": ingest_seconds,
        "ingest_rate": stored / ingest_seconds,
        "pass_seconds": pass_seconds,
        "corpus_seconds": corpus_seconds,
        "before_diff_seconds": before_diff_seconds,
        "peak_pipeline": rss.peak_pipeline,
        "peak_main": rss.peak_main,
        "peak_prefect": rss.peak_prefect,
        "cpu_main": cpu["main"],
        "cpu_workers": cpu["workers"],
        "cpu_prefect": cpu["prefect"],
        "cpu_server": server_cpu,
        "cpu_sampler": rss.sampler_cpu,
        "load_before": load_before,
        "steal": steal,
    }


if __name__ == "__main__":
    sys.exit(main())
