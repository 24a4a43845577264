"""Extraction on a Dask cluster, through prefect-dask, when the config names a scheduler.

    [fetch]
    dask_scheduler = "tcp://10.0.0.5:8786"

`open_extraction_pool(settings)` is what a pass opens: this module's `DaskExtractionPool` when
`fetch.dask_scheduler` is set, else the local process pool (extractors.articles.ExtractionPool).
Both have the interface the monitor flow uses: a context manager with `build_articles` and `map`,
callable from several `ingest-batch` task threads at once.

What runs where. Page fetching stays in the flow's process (it holds the politeness gates, the
robots.txt cache and the SSRF guard); only the CPU work goes to the cluster: `build_article`
(trafilatura, language) and the corpus fingerprint, the same module-level functions the local pool
runs in its processes. So every Dask worker must have newswatch installed (the same version as
the flow's host: `uv sync --locked`, or the wheel): a worker unpickles `extractors.articles`,
`novelty.fingerprint` and `flows.dask_worker` by name. The pool checks that when it opens (each
worker imports the extraction stack and the text analysis, see `flows/dask_worker.py`) and names
the worker and the module that failed. docs/scaling.md says how to start the cluster.

How prefect-dask is used, and why this way. prefect-dask 0.3 (Prefect 3) offers three things:

* `DaskTaskRunner(address=...)`: a flow's task runner that connects to an existing scheduler and
  runs the flow's *Prefect tasks* on the Dask workers. Making it the monitor flow's task runner
  would move the poll and ingest tasks, fetching included, to the workers: the politeness and SSRF
  state would be split over hosts. Submitting a Prefect task per chunk to it (`runner.submit`)
  would make each worker run the Prefect task engine: the workers would need the Prefect API
  (`PREFECT_API_URL`) and Prefect itself loaded, and every chunk would pay a task run's overhead
  (10-30 ms, API round trips) on top of its ~30-60 ms per page, while the `ingest-<feed>-<n>`
  task that calls the pool is already the unit an operator sees.
* `get_dask_client()` / `get_async_dask_client()`: a client *inside* a flow or task that already
  runs under a DaskTaskRunner (it reads the runner's client from the flow run context, or the
  worker's own client inside a task on a worker); outside those it starts a new LocalCluster.
  Neither fits a flow that keeps its thread-pool task runner.
* `PrefectDaskClient`, which the DaskTaskRunner opens for an address: a `distributed.Client`
  whose `submit` runs Prefect tasks through the task engine and hands plain callables to Dask.

So the pool opens a `DaskTaskRunner(address=...)` for the scheduler (its `client` connects with
our `client_kwargs`, logs the dashboard link, and closes on exit) and submits plain module-level
functions to its `PrefectDaskClient`: one Dask task per chunk of a call's items (at most 16,
about 4 chunks per worker thread; a call with one page, as the ingest tasks make, is one task). The
workers need newswatch, not the Prefect API. One caveat of the runner: in a process that already
has a default Dask client (or inside a Dask worker) it reuses that client's scheduler.

Failure handling mirrors the local pool: a chunk that fails on the cluster (its worker died more
often than Dask retries, a worker without newswatch, a lost scheduler, no result after
`chunk_timeout`) is built in the flow's process instead, with a warning, so no page of a batch is
lost. A scheduler that cannot be reached, or has no workers, is an error when the pool opens
(`DaskClusterError`, naming the address and the config key): the pass stops before it polls.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from extractors.allocator import worker_allocator
from extractors.articles import WORKER_PRELOAD, ExtractionPool, _build_chunk, chunk_size_for
from newswatch.config import Settings
from newswatch.records import Article, FetchedPage

if TYPE_CHECKING:
    from distributed import Client, Future
    from prefect_dask import DaskTaskRunner

T = TypeVar("T")
R = TypeVar("R")

LOGGER = logging.getLogger(__name__)

CONFIG_KEY = "fetch.dask_scheduler"
_THREADS_MAX_AGE_SECONDS = 5.0


class DaskClusterError(RuntimeError):
    """The configured Dask cluster cannot be used; the message names the address and the key."""


def open_extraction_pool(
    settings: Settings, preload: Sequence[str] = ("novelty.preload",)
) -> ExtractionPool | DaskExtractionPool:
    """The extraction pool a pass uses (not yet opened: use it as a context manager).

    `fetch.dask_scheduler` set: the Dask cluster there; otherwise worker processes on this
    machine (`fetch.extraction_workers`). `preload`: modules the workers import before their first
    chunk (the flow's fingerprinting needs `novelty.preload`)."""
    address = settings.fetch.dask_scheduler
    if address:
        return DaskExtractionPool(address, preload=preload)
    return ExtractionPool(
        workers=settings.fetch.extraction_workers,
        preload=list(preload),
        allocator=worker_allocator(settings.fetch.extraction_allocator),
    )


class DaskExtractionPool:
    """`ExtractionPool`'s interface over a Dask cluster at `address` (see the module docstring).

    `connect_timeout`: seconds to reach the scheduler; `worker_timeout`: seconds to wait for at
    least one worker; `warm_up_timeout`: seconds for the workers to import the extraction stack
    (~5-10 s the first time a worker does it, nothing after: the workers outlive the pass);
    `chunk_timeout`: seconds without a chunk's result before it is built here instead.
    """

    def __init__(
        self,
        address: str,
        *,
        preload: Sequence[str] = (),
        chunk_size: int | None = None,
        connect_timeout: float = 10.0,
        worker_timeout: float = 30.0,
        warm_up_timeout: float = 180.0,
        chunk_timeout: float = 600.0,
    ) -> None:
        self.address = address
        self.preload = tuple(dict.fromkeys([*WORKER_PRELOAD, *preload]))
        self.chunk_size = chunk_size
        self.connect_timeout = connect_timeout
        self.worker_timeout = worker_timeout
        self.warm_up_timeout = warm_up_timeout
        self.chunk_timeout = chunk_timeout
        self._runner: DaskTaskRunner | None = None
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.chunks_submitted = 0  # Dask tasks sent (for tests and run summaries)
        self.fallbacks = 0  # chunks that failed on the cluster and were built in this process
        self.workers_warmed: list[str] = []  # where the warm-up ran: "host pid N"
        self._threads_seen: tuple[float, int] = (-math.inf, 0)  # (when asked, worker threads)

    # context manager -------------------------------------------------------------------------

    def __enter__(self) -> DaskExtractionPool:
        try:
            self._connect()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster itself keeps running: it is not ours)."""
        with self._lock:
            self._closed = True
            runner, self._runner, self._client = self._runner, None, None
        if runner is not None:
            runner.__exit__(None, None, None)

    def _connect(self) -> None:
        # Imported here: a pass on the local pool never loads distributed (~1.5 s, ~40 MB).
        from prefect_dask import DaskTaskRunner

        where = f"the Dask scheduler at {self.address} ({CONFIG_KEY})"
        runner = DaskTaskRunner(address=self.address, client_kwargs={"timeout": self.connect_timeout})
        runner.__enter__()
        self._runner = runner
        try:
            client = runner.client  # connects: PrefectDaskClient(address, timeout=...)
        except Exception as error:  # noqa: BLE001 - OSError/TimeoutError mostly; all mean the same
            raise DaskClusterError(
                f"cannot reach {where} within {self.connect_timeout:g} s: {type(error).__name__}: {error}"
            ) from None
        self._client = client
        try:
            client.wait_for_workers(1, timeout=self.worker_timeout)
        except Exception:  # noqa: BLE001 - a TimeoutError
            raise DaskClusterError(
                f"{where} has no workers after {self.worker_timeout:g} s: start some with "
                f"`dask worker {self.address}` on hosts that have newswatch installed"
            ) from None
        self._warm_up(client, where)

    def _warm_up(self, client: Client, where: str) -> None:
        """Each worker imports the extraction stack now, as a task (so its event loop stays free
        to answer heartbeats): a worker that cannot is reported here, not chunk by chunk."""
        from flows.dask_worker import warm_up

        deadline = time.monotonic() + self.warm_up_timeout
        futures = {
            worker: client.submit(
                warm_up, list(self.preload), key=f"newswatch_warm_up-{uuid.uuid4().hex}",
                workers=[worker], allow_other_workers=False, pure=False,
            )
            for worker in sorted(client.nthreads())
        }
        for worker, future in futures.items():
            try:
                self.workers_warmed.append(future.result(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:  # still importing, or the worker left: not fatal
                LOGGER.warning("Dask worker %s did not finish importing the extraction stack in %g s",
                               worker, self.warm_up_timeout)
                future.cancel()
            except Exception as error:  # noqa: BLE001 - raised by the import on the worker
                raise DaskClusterError(
                    f"Dask worker {worker} of {where} cannot import the extraction modules "
                    f"({', '.join(self.preload)}): {type(error).__name__}: {error}. Every worker "
                    "needs newswatch installed, the same version as this host (docs/scaling.md)"
                ) from None

    # work ------------------------------------------------------------------------------------

    @property
    def workers(self) -> int:
        """Like `ExtractionPool.workers`: how many chunks run at once (the cluster's worker
        threads now, at least 1); the flow sizes its pages in flight by it."""
        return max(1, self.threads)

    @property
    def threads(self) -> int:
        """Worker threads in the cluster (each runs one chunk at a time), asked of the scheduler
        at most every few seconds: workers come and go."""
        client = self._client
        if client is None:
            return 0
        asked, threads = self._threads_seen
        if time.monotonic() - asked > _THREADS_MAX_AGE_SECONDS:
            try:
                threads = sum(client.nthreads().values())
            except Exception:  # noqa: BLE001 - the scheduler is gone: chunks will fall back anyway
                threads = 0
            self._threads_seen = (time.monotonic(), threads)
        return threads

    def build_articles(self, pages: Sequence[FetchedPage]) -> list[Article]:
        """Articles for `pages`, in the same order."""
        return self.map(_build_chunk, pages)

    def map(self, function: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
        """`function` over chunks of `items` on the cluster; one result per item, in order.

        `function` must be a module-level function of newswatch (the workers import it by name)
        returning one result per item of its chunk. A chunk that fails on the cluster is built in
        this process."""
        chunk_items = list(items)
        if not chunk_items:
            return []
        with self._lock:
            client = self._client
            if self._closed or client is None:
                raise RuntimeError("DaskExtractionPool is closed" if self._closed else "DaskExtractionPool is not open")
        # Chunked like the local pool, per worker thread; each chunk is one Dask task (~1 ms of
        # scheduling, plus the pages' HTML over the network, ~360 kB a page).
        if self.chunk_size or len(chunk_items) == 1:  # one page: no need to ask the scheduler
            size = self.chunk_size or 1
        else:
            size = chunk_size_for(len(chunk_items), self.workers)
        chunks = [chunk_items[i : i + size] for i in range(0, len(chunk_items), size)]
        name = _task_name(function)
        futures: list[Future | None] = []
        for chunk in chunks:
            try:
                futures.append(client.submit(function, chunk, key=f"newswatch_{name}-{uuid.uuid4().hex}", pure=False))
            except Exception as error:  # noqa: BLE001 - closed client, lost scheduler
                LOGGER.warning("cannot submit an extraction chunk to %s: %s: %s",
                               self.address, type(error).__name__, error)
                futures.append(None)
        with self._lock:
            self.chunks_submitted += sum(1 for f in futures if f is not None)

        results: list[R] = []
        for chunk, future in zip(chunks, futures):
            built: Any = None
            if future is not None:
                try:
                    built = future.result(timeout=self.chunk_timeout)
                except Exception as error:  # noqa: BLE001 - KilledWorker, CancelledError, TimeoutError, ...
                    LOGGER.warning("extraction chunk of %d failed on the Dask cluster at %s, building it here: %s: %s",
                                   len(chunk), self.address, type(error).__name__, error)
                    future.cancel()
                    built = None
            if not isinstance(built, list) or len(built) != len(chunk):
                with self._lock:
                    self.fallbacks += 1
                built = function(chunk)  # in this process: slower, but the batch is complete
            results.extend(built)
        return results


def _task_name(function: Callable[..., Any]) -> str:
    """The Dask key prefix shown on the dashboard: keys are `newswatch_build_articles-<uuid>`,
    `newswatch_fingerprint_articles-<uuid>` and so on."""
    if function is _build_chunk:
        return "build_articles"
    return getattr(function, "__name__", type(function).__name__).strip("_")
