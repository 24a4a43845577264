"""Extraction on a real Dask cluster (flows/dask_pool.py): a LocalCluster of two worker processes
on 127.0.0.1, the demo coverage fetched over loopback, the same articles as the local pool."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from distributed import LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from alerts.loopback import free_port
from extractors.articles import ExtractionPool, build_article
from extractors.feeds import poll_feed
from extractors.http import Fetcher
from extractors.pages import fetch_page
from extractors.urls import url_key
from flows.dask_pool import DaskClusterError, DaskExtractionPool, open_extraction_pool
from flows.demo import COVERAGE, CoverageServer, demo_config
from fundus import FUNDUS, load_pages
from newswatch.config import ConfigError, FeedConfig, FetchConfig, settings_from_dict
from newswatch.records import FetchedPage
from novelty.fingerprint import fingerprint_articles, fingerprint_corpus_articles

MANIFEST = json.loads((COVERAGE / "manifest.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# fixtures


class _Finished(SchedulerPlugin):
    """A scheduler plugin counting the newswatch chunks that finished on a worker (the scheduler
    of a LocalCluster runs in this process, so the count can be read here)."""

    name = "newswatch-test-finished"

    def __init__(self) -> None:
        super().__init__()
        self.chunks = 0

    def transition(self, key, start, finish, *args, **kwargs) -> None:  # noqa: ANN001 - Dask's signature
        if finish == "memory" and str(key).startswith("newswatch_build_articles"):
            self.chunks += 1


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[object, _Finished]]:
    """Two worker processes with one thread each, shared by the tests of this module (each
    worker imports the extraction stack once, on the first pool's warm-up)."""
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
    ) as local:
        finished = _Finished()
        local.scheduler.add_plugin(finished)
        yield local, finished


@pytest.fixture(scope="module")
def coverage_pages() -> list[FetchedPage]:
    """Every item of the demo coverage, polled and fetched over loopback as a pass does (the
    missing page included), plus some real German pages from the Fundus fixtures if present."""
    now = datetime.now(UTC)
    pages: list[FetchedPage] = []
    with CoverageServer() as server:
        config = FetchConfig(allow_private_addresses=[f"127.0.0.1:{server.port}"], per_host_delay_seconds=0)
        with Fetcher(config) as fetcher:
            for feed in MANIFEST["feeds"]:
                name = f'{feed["site"]}-{Path(feed["path"]).stem}'
                poll = poll_feed(fetcher, FeedConfig(name=name, url=server.base + feed["path"]), None, now, config)
                assert poll.status == "ok", poll.error
                pages.extend(fetch_page(fetcher, item, config) for item in poll.items)
    if (FUNDUS / "de").is_dir():
        template = pages[-1]
        for fixture in load_pages("de")[:8]:
            url = fixture.url or f"https://example.org/{fixture.name}"
            item = dataclasses.replace(template.item, url=url, url_key=url_key(url), guid=url)
            pages.append(dataclasses.replace(template, item=item, body=fixture.html.encode("utf-8"), final_url=url, error=None))
    return pages


# ---------------------------------------------------------------------------------------------
# the pool


def _with_fingerprints(pool, articles):
    """Each article with its corpus fingerprint (None when it is not German), made by the pool."""
    return list(zip(articles, pool.map(fingerprint_corpus_articles, articles), strict=True))


@pytest.mark.slow
def test_the_cluster_builds_the_same_articles_as_the_local_pool(cluster, coverage_pages) -> None:
    local_cluster, finished = cluster
    pages = coverage_pages
    assert len(pages) >= len(MANIFEST["items"])  # every item of every feed: nothing is deduplicated here
    with ExtractionPool(workers=2, preload=["novelty.preload"]) as local:
        expected = _with_fingerprints(local, local.build_articles(pages))
    assert any(a.text_source == "feed_summary" for a, _ in expected)  # the 404 page
    assert any(a.text_source == "page" and a.language == "de" for a, _ in expected)

    before = finished.chunks
    with DaskExtractionPool(local_cluster.scheduler_address, preload=["novelty.preload"]) as pool:
        assert len(pool.workers_warmed) == 2 and pool.threads == 2
        built = _with_fingerprints(pool, pool.build_articles(pages))
        assert [a for a, _ in built] == [a for a, _ in expected]
        for (_, mine), (_, theirs) in zip(built, expected):
            if theirs is None:
                assert mine is None
            else:
                assert (mine.sentences, mine.signature, mine.story_id) == (
                    theirs.sentences, theirs.signature, theirs.story_id)
        # Order is kept whatever the chunking; `map` is what the backlog fingerprinting uses.
        articles = [a for a, _ in expected]
        assert pool.build_articles(list(reversed(pages))) == list(reversed(articles))
        german = [a for a in articles if a.language == "de"]
        assert [f.signature for f in pool.map(fingerprint_articles, german)] == [
            f.signature for f in fingerprint_articles(german)
        ]
        assert pool.fallbacks == 0
        # Chunks, not pages: ~4 per worker thread.
        assert 2 < pool.chunks_submitted < 3 * len(pages)
        # The workers ran it without loading Prefect: they need newswatch, not the Prefect API.
        client = pool._client
        assert set(client.run(lambda: "prefect" in sys.modules).values()) == {False}
    assert finished.chunks > before  # counted by the scheduler: the work ran on its workers
    with pytest.raises(RuntimeError, match="closed"):
        pool.build_articles(pages[:1])


@pytest.mark.slow
def test_threads_share_the_pool_and_a_chunk_that_fails_on_the_cluster_is_built_here(
    cluster, coverage_pages
) -> None:
    local_cluster, _ = cluster
    pages = coverage_pages[:12]
    expected = [build_article(page) for page in pages]
    results: dict[int, list] = {}
    with DaskExtractionPool(local_cluster.scheduler_address) as pool:

        def work(index: int) -> None:
            results[index] = pool.build_articles(pages[index:] + pages[:index])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [0, 1, 2, 3]
        for index, built in results.items():
            assert built == expected[index:] + expected[:index]
        assert pool.fallbacks == 0
    # No result in time (here: no time at all) counts as a failure on the cluster.
    with DaskExtractionPool(local_cluster.scheduler_address, chunk_timeout=0, chunk_size=4) as pool:
        assert pool.build_articles(pages) == expected
        assert pool.fallbacks >= 1  # the first chunk at least; later ones may be done by then


def test_an_unreachable_scheduler_is_an_error_naming_the_address() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(DaskClusterError) as caught:
        with DaskExtractionPool(address, connect_timeout=1):
            pass
    message = str(caught.value)
    assert address in message and "fetch.dask_scheduler" in message and "cannot reach" in message


@pytest.mark.slow
def test_a_scheduler_without_workers_is_an_error() -> None:
    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0") as empty:
        with pytest.raises(DaskClusterError, match="has no workers.*dask worker"):
            with DaskExtractionPool(empty.scheduler_address, worker_timeout=1):
                pass


def test_the_config_chooses_the_pool_and_rejects_a_bad_address() -> None:
    assert isinstance(open_extraction_pool(settings_from_dict({})), ExtractionPool)
    settings = settings_from_dict({"fetch": {"dask_scheduler": "tcp://10.0.0.5:8786"}})
    pool = open_extraction_pool(settings)  # not opened: nothing is contacted
    assert isinstance(pool, DaskExtractionPool) and pool.address == "tcp://10.0.0.5:8786"
    for bad in ("10.0.0.5:8786", "http://10.0.0.5:8786", "tcp://10.0.0.5", "tcp://:8786"):
        with pytest.raises(ConfigError, match=r"fetch\.dask_scheduler: .* is not a Dask scheduler address"):
            settings_from_dict({"fetch": {"dask_scheduler": bad}})


# ---------------------------------------------------------------------------------------------
# a whole pass


def _stored(snapshot: Path) -> dict[tuple[str, str], dict[str, object]]:
    """The pass's articles, fingerprints and feed links by (table, key), without the columns that
    record when they were made."""
    rows: dict[tuple[str, str], dict[str, object]] = {}
    with duckdb.connect(str(snapshot), read_only=True) as db:
        for table, query in (
            ("articles", "SELECT * EXCLUDE (fetched_at, stored_at, run_id) FROM articles"),
            ("article_fingerprints", "SELECT * EXCLUDE (indexed_at) FROM article_fingerprints"),
            ("feed_items", "SELECT article_id || ' ' || feed_name AS article_id FROM feed_items"),
        ):
            cursor = db.execute(query)
            names = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                record = dict(zip(names, row))
                rows[(table, str(record["article_id"]))] = record
    return rows


def _differences(mine: dict, theirs: dict) -> list[str]:
    found = [f"only in one: {key}" for key in mine.keys() ^ theirs.keys()]
    for key in mine.keys() & theirs.keys():
        for column, value in mine[key].items():
            if theirs[key][column] != value:
                found.append(f"{key} {column}: {str(value)[-90:]!r} != {str(theirs[key][column])[-90:]!r}")
    return found


def _flow_uses_the_factory() -> bool:
    import flows.monitor

    return getattr(flows.monitor, "open_extraction_pool", None) is open_extraction_pool


@pytest.mark.slow
@pytest.mark.skipif(
    not _flow_uses_the_factory(),
    reason="flows/monitor.py run_pass does not open its pool with flows.dask_pool.open_extraction_pool yet",
)
def test_a_pass_on_the_cluster_stores_what_a_local_pass_stores(cluster, tmp_path: Path) -> None:
    from flows.monitor import monitor

    local_cluster, finished = cluster

    def politik_first(path: str) -> None:
        # Two more feeds list the politik feed's Belaruskali article (another tracking parameter;
        # another section's URL with a canonical link to it). The listing polled first is the one
        # stored, in any pass; these feeds answer later so that both passes store the same one.
        if path in ("/rundschau/feeds/startseite.xml", "/rundschau/feeds/wirtschaft.xml"):
            time.sleep(1.5)

    with CoverageServer(on_request=politik_first) as server:
        (tmp_path / "local").mkdir()
        (tmp_path / "dask").mkdir()
        local = demo_config(server, tmp_path / "local")
        config = demo_config(server, tmp_path / "dask")
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("[fetch]\n", f'[fetch]\ndask_scheduler = "{local_cluster.scheduler_address}"\n', 1),
            encoding="utf-8",
        )
        before = finished.chunks
        first = monitor(config_path=str(local))
        second = monitor(config_path=str(config))
    assert finished.chunks > before  # the second pass extracted on the cluster
    assert second["articles_stored"] == first["articles_stored"] > 0
    assert second["developments"] == first["developments"]
    assert _differences(_stored(Path(second["snapshot"])), _stored(Path(first["snapshot"]))) == []
