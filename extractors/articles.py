"""Fetched pages -> Article records (text, title, language), in worker processes.

`build_article(page)` never raises: whatever goes wrong with a page, the desk still gets an article
made from the feed's own summary, with the reason in `fetch_error`.

`ExtractionPool` spreads `build_article` over worker processes; several Prefect tasks (threads) may
call `build_articles` on one pool at the same time.

The extraction stack (trafilatura, lxml, htmldate, langdetect and its profiles) is imported where
pages are built: in the workers (their forkserver preloads it warm: extractors/preload.py), not in
the process that only runs the pool. Importing this module costs the pipeline's main process no
trafilatura and none of the ~70 MB of langdetect profiles and htmldate tables.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import multiprocessing
import os
import sys
import threading
import unicodedata
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable
from pathlib import Path
from typing import Sequence, TypeVar

from extractors.allocator import preloading
from extractors.urls import article_id_for, outlet_of, url_key
from newswatch.records import Article, ExtractedText, FetchedPage

T = TypeVar("T")
R = TypeVar("R")

LOGGER = logging.getLogger(__name__)

# A page whose extracted text is shorter than this, while the feed's summary is longer, is treated
# as a failed extraction (a paywall stub, a cookie wall, a video page): the summary says more.
MIN_ARTICLE_CHARS = 200


# --------------------------------------------------------------------------------------------
# one page


def build_article(page: FetchedPage) -> Article:
    """The Article for one fetched page; falls back to the feed's summary. Never raises."""
    url = _page_url(page)
    try:
        return _build(page, url)
    except Exception as exc:  # noqa: BLE001 — one bad page must not cost the batch
        LOGGER.warning("building article from %s failed: %s: %s", url, type(exc).__name__, exc)
        return _summary_article(page, url, f"{type(exc).__name__} while extracting {url}: {exc}"[:500])


def normalised_text(text: str) -> str:
    """The form `content_sha256` is computed from: NFC, whitespace runs -> one space, stripped."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def content_sha256(text: str) -> str | None:
    normalised = normalised_text(text)
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest() if normalised else None


def _page_url(page: FetchedPage) -> str:
    try:
        return page.final_url or page.item.url
    except Exception:  # noqa: BLE001 — a malformed record still gets an article
        return "<unknown url>"


def _build(page: FetchedPage, url: str) -> Article:
    from extractors.article_text import extract_text  # the worker stack: see the module docstring
    from extractors.charsets import page_markup

    item = page.item
    extracted: ExtractedText | None = None
    error = page.error
    if page.body and not error and not (page.http_status and page.http_status >= 400):
        markup, error = page_markup(page)
        if markup is not None:
            extracted = extract_text(markup, url)
    summary = (item.summary or "").strip()
    if extracted is None:
        error = error or f"no article text extracted from {url}"
        return _summary_article(page, url, error, extracted)
    if len(extracted.text) < MIN_ARTICLE_CHARS and len(summary) > len(extracted.text):
        error = f"no article text extracted from {url} (only {len(extracted.text)} characters)"
        return _summary_article(page, url, error, extracted)
    return _article(page, url, extracted.text, "page", None, extracted)


def _summary_article(
    page: FetchedPage, url: str, error: str, extracted: ExtractedText | None = None
) -> Article:
    item = page.item
    text = (item.summary or "").strip()
    try:
        return _article(page, url, text, "feed_summary", page.error or error, extracted)
    except Exception as exc:  # noqa: BLE001 — last resort: the bare minimum from the feed item
        key = getattr(item, "url_key", None) or url
        return Article(
            article_id=article_id_for(key),
            url=url,
            url_key=key,
            title=getattr(item, "title", None),
            text=text,
            text_source="feed_summary",
            language=None,
            language_source="unknown",
            feed_name=getattr(item, "feed_name", None),
            guid=getattr(item, "guid", None),
            fetch_error=f"{error}; then {type(exc).__name__}: {exc}"[:500],
        )


def _article(
    page: FetchedPage,
    url: str,
    text: str,
    text_source: str,
    fetch_error: str | None,
    extracted: ExtractedText | None,
) -> Article:
    from extractors.language import detect_language

    item = page.item
    key = item.url_key or url_key(item.url)
    canonical = extracted.canonical_url if extracted else None
    language = detect_language(
        text or (item.title or ""),
        extracted.html_language if extracted else None,
        item.feed_language,
    )
    return Article(
        article_id=article_id_for(key),  # from the feed's URL: stable before and after fetching
        url=url,
        url_key=key,
        title=(extracted.title if extracted and extracted.title else None) or item.title,
        text=text,
        text_source=text_source,  # type: ignore[arg-type]
        language=language.language,
        language_confidence=language.confidence,
        language_source=language.source,
        feed_name=item.feed_name,
        guid=item.guid,
        canonical_url=canonical,
        outlet=outlet_of(canonical or url) or None,
        site_name=extracted.sitename if extracted else None,
        summary=item.summary,
        author=(extracted.author if extracted and extracted.author else None) or item.author,
        published_at=item.published_at or (extracted.published_at if extracted else None),
        fetched_at=page.fetched_at,
        fetch_error=fetch_error,
        content_sha256=content_sha256(text),
    )


# --------------------------------------------------------------------------------------------
# many pages, in worker processes


def return_large_blocks_to_the_os(threshold: int = 256 * 1024) -> bool:
    """Make glibc's malloc serve blocks of `threshold` bytes and more from mmap, so that each is
    returned to the OS when freed: in the process that fetches pages and hands them to the pool,
    a page's body (~360 kB on average on the bench's pages; as decoded text it once took ~860 kB)
    and its pickle.

    By default glibc raises that threshold to the size of the largest block freed so far (up to
    32 MB): after the first page, page-sized blocks come from the heaps of the malloc arenas the
    pass's threads use, and stay there, fragmented, after the page is gone. Setting the threshold
    turns that adjustment off. Measured on the 1,200-page bench pass: main process PSS 491 -> 376
    MB (whole pass 793 -> 658 MB), CPU the same. Process-wide; idempotent; False where the C
    library is not glibc (nothing is changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):  # musl, or no mallopt
        return False


_M_MMAP_THRESHOLD = -3  # glibc malloc.h


def _init_worker() -> None:
    """Runs once per worker: make sure the extraction stack is imported and its caches are warm.

    Under forkserver this is a no-op (the server imported extractors.preload, so the fork inherits
    trafilatura, lxml and the loaded language profiles); under spawn it does the imports.
    """
    import extractors.preload  # noqa: F401 - DetectorFactory.seed = 0 is set by extractors.language


def _build_chunk(pages: list[FetchedPage]) -> list[Article]:
    return [build_article(page) for page in pages]


# Start method. fork would be fastest, but forking a process that runs threads (Prefect's task
# runner, httpx, an event loop) can copy a lock another thread holds and deadlock the child.
# forkserver forks workers from a clean single-threaded server process that has imported
# extractors.preload (set_forkserver_preload), so each worker starts with trafilatura, lxml,
# langdetect's profiles and htmldate's tables already loaded. Measured here (2 cores, busy
# machine): once the server is up, a 2-worker pool is up and has built its first pages in ~0.2 s;
# with spawn that takes ~1.3-1.5 s every time (each worker imports the stack); the first pool of a
# process pays ~1.1-1.5 s for the server's own imports. Throughput is the same for all three
# (within noise, ~55-60 ms/page on 2 workers). spawn is the fallback where forkserver does not
# exist (Windows).
# As with spawn, a script that uses the pool needs an `if __name__ == "__main__":` guard: workers
# re-import the main module.
# What every extraction worker imports before its first chunk, here (the forkserver) and on a Dask
# cluster (flows/dask_pool.py).
WORKER_PRELOAD = ("extractors.preload",)


def _context(preload: Sequence[str] = ()) -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # Takes effect when the process's forkserver starts (its first pool); later pools share it.
        ctx.set_forkserver_preload([*WORKER_PRELOAD, *preload])
        return ctx
    return multiprocessing.get_context("spawn")


def _start_forkserver(allocator: Path | None) -> None:
    """Start the forkserver now, with `allocator` preloaded (extractors/allocator.py), rather than
    with the first worker; one already running (an earlier pool of this process) stays as it is."""
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()  # forkserver starts it too: not under our LD_PRELOAD
    with preloading(allocator):
        forkserver.ensure_running()


def chunk_size_for(items: int, workers: int) -> int:
    """Items per chunk: ~4 chunks per worker, at most 16 items. Pages differ in cost (10-150 ms), so
    smaller chunks balance better, while each chunk costs a round trip (sending each page's ~360 kB
    body is the bulk of it and is paid whatever the chunking)."""
    return max(1, min(16, math.ceil(items / (workers * 4))))


class ExtractionPool:
    """`build_article` over worker processes; `workers=1` runs in-process without a pool.

    Use as a context manager. `build_articles` may be called from several threads at once.
    If a worker dies (BrokenProcessPool), the pool is rebuilt for later calls and the pages of the
    broken chunks are built in this process, so no page of the batch is lost.

    Workers are recycled after `max_tasks_per_child` chunks each on average (None: never): the pool
    then submits to a fresh executor; the old one finishes the chunks its workers have already taken
    and exits, and the chunks still queued on it move to the fresh one. That is done here, not with
    ProcessPoolExecutor's own `max_tasks_per_child`: on Python 3.11 (and up to 3.13's fix) the
    executor stops replacing workers that reached their limit while work is queued, and the batch
    hangs for ever (CPython gh-115634; reproduced here with 40 pages, 2 workers, limit 3).
    The default, 2,000 chunks, is a safety valve for long runs (a backfill): the flow opens a pool
    per pass and sends chunks of one page, so an ordinary pass never recycles. A recycle idles a
    worker for ~0.5 s (measured in a bench pass) and the new ones' caches start cold (their first
    ~90 pages cost ~20% more). With the earlier default of 400, every pass of over 800 pages paid
    that, while a worker's memory stayed flat over 1,200 pages (PSS ~100-110 MB, jemalloc or glibc).
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        chunk_size: int | None = None,
        max_tasks_per_child: int | None = 2000,
        preload: Sequence[str] = (),
        allocator: Path | None = None,
    ) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.chunk_size = chunk_size
        self.max_tasks_per_child = max_tasks_per_child
        # Modules the forkserver imports once, so every worker (and every recycled one) starts
        # with them loaded and shares their memory: for work passed to `map` whose set-up is slow.
        self.preload = tuple(preload)
        # The C allocator library the workers preload (None: the C library's malloc); it takes effect
        # when the process's forkserver starts, as `preload` does. extractors/allocator.py says why.
        self.allocator = allocator
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0
        self._submitted = 0  # chunks submitted to the current executor
        self._closed = False
        self.rebuilds = 0  # how often a broken pool was replaced (for run summaries and tests)
        self.recycles = 0  # how often the workers were replaced after max_tasks_per_child

    # context manager -------------------------------------------------------------------------

    def __enter__(self) -> ExtractionPool:
        if self.workers > 1:
            with self._lock:
                self._ensure_executor()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # work ------------------------------------------------------------------------------------

    def build_articles(self, pages: Sequence[FetchedPage]) -> list[Article]:
        """Articles for `pages`, in the same order."""
        return self.map(_build_chunk, pages)

    def map(self, function: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
        """`function` over chunks of `items` in the workers; one result per item, in order.

        `function` must be importable by the workers (a module-level function) and return one
        result per item of its chunk. A chunk whose worker died is redone in this process; a chunk
        still queued on an executor that was recycled (or replaced after a crash) is resubmitted.
        """
        pages = list(items)
        if not pages:
            return []
        if self._closed:
            raise RuntimeError("ExtractionPool is closed")
        if self.workers == 1:
            return function(pages)

        # Batches from several threads interleave in one queue.
        size = self.chunk_size or chunk_size_for(len(pages), self.workers)
        chunks = [pages[i : i + size] for i in range(0, len(pages), size)]
        futures: list[tuple[Future[list[R]], int] | None] = []
        retired: ProcessPoolExecutor | None = None
        with self._lock:  # submitting only queues the work: cheap, and no recycle can race it
            if self._closed:
                raise RuntimeError("ExtractionPool is closed")
            limit = self.max_tasks_per_child
            if limit and self._executor is not None and self._submitted >= limit * self.workers:
                retired, self._executor = self._executor, None
                self._generation += 1
                self.recycles += 1
            executor, generation = self._ensure_executor(), self._generation
            for chunk in chunks:
                try:
                    futures.append((executor.submit(function, chunk), generation))
                except (BrokenProcessPool, RuntimeError):  # broken
                    futures.append(None)
            self._submitted += len(chunks)
        if retired is not None:
            # The chunks it has already handed to its workers complete there; the ones still
            # queued are cancelled and their callers resubmit them to the fresh executor (below),
            # so the old and the new workers do not run side by side for the whole queue (with 16
            # batches in flight that was ~80 chunks: 4 processes on 2 cores, ~150 MB more).
            retired.shutdown(wait=False, cancel_futures=True)

        results: list[R] = []
        broken: set[int] = set()  # generations of executors found broken
        for chunk, submitted in zip(chunks, futures):
            articles: list[R] | None = None
            if submitted is None:
                broken.add(generation)
            while submitted is not None:
                future, submitted_to = submitted
                try:
                    articles = future.result()
                except CancelledError:  # its executor was retired before the chunk started
                    submitted = self._resubmit(function, chunk)
                    continue
                except BrokenProcessPool:
                    broken.add(submitted_to)
                except Exception as exc:  # noqa: BLE001 — e.g. a result that failed to unpickle
                    LOGGER.warning("extraction chunk failed in a worker: %s: %s", type(exc).__name__, exc)
                break
            if articles is None or len(articles) != len(chunk):
                articles = function(chunk)  # in-process: slower, but the batch is complete
            results.extend(articles)
        for broken_generation in sorted(broken):
            self._rebuild(broken_generation)
        return results

    def _resubmit(
        self, function: Callable[[list[T]], list[R]], chunk: list[T]
    ) -> tuple[Future[list[R]], int] | None:
        """Submit a cancelled chunk again, to the current executor; None when the pool is closed
        (or the executor broken): the caller then builds the chunk in this process."""
        with self._lock:
            if self._closed:
                return None
            executor = self._ensure_executor()
            try:
                future = executor.submit(function, chunk)
            except (BrokenProcessPool, RuntimeError):
                return None
            self._submitted += 1
            return future, self._generation

    def _ensure_executor(self) -> ProcessPoolExecutor:
        # caller holds self._lock
        if self._closed:
            raise RuntimeError("ExtractionPool is closed")
        if self._executor is None:
            context = _context(self.preload)
            if context.get_start_method() == "forkserver":
                _start_forkserver(self.allocator)
            # no max_tasks_per_child here: see the class docstring
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=_init_worker
            )
            self._submitted = 0
        return self._executor

    def _rebuild(self, generation: int) -> None:
        """Replace a broken executor once, however many threads noticed it."""
        with self._lock:
            if self._closed or generation != self._generation:
                return  # another thread already rebuilt it (or we are shutting down)
            old, self._executor = self._executor, None
            self._generation += 1
            self.rebuilds += 1
            LOGGER.warning("extraction worker died; rebuilding the process pool")
            if not self._closed:
                self._ensure_executor()
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
