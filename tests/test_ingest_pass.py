"""The ingest part of a pass (issue 2): fetched pages bounded in memory, the fingerprints the diff
reads made before it and the other German articles' after the alerts (same decisions), the column
inserts of storage, and language detection on a sample of the text."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from extractors.articles import ExtractionPool, build_article
from extractors.http import Fetcher
from extractors.pages import fetch_page
from extractors.urls import url_key
from loopback import LoopbackServer, slow
from newswatch.config import FetchConfig, NoveltyConfig
from newswatch.records import Article, ArticleMatch, FeedItem, FeedState, RunError, RunSummary
from novelty.fingerprint import fingerprint_article
from novelty.stage import diff_new_articles, read_by_the_diff
from novelty_eval.evaluate import ARTICLES, HOLDOUT, load_cases, seed_index
from storage import repository
from storage.db import connect, migrate, transaction

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)


def _article(article_id: str, minute: int, *, language: str | None = "de", text: str = "Ein Satz.") -> Article:
    return Article(
        article_id=article_id, url=f"https://example.org/{article_id}", url_key=f"example.org/{article_id}",
        title=None, text=text, text_source="page", language=language, published_at=NOW + timedelta(minutes=minute),
    )


# --- what the diff reads --------------------------------------------------------------------------


def test_read_by_the_diff_is_every_corpus_article_up_to_the_last_matched_one() -> None:
    before = _article("before", 0)  # unmatched, but published before a matched one: read
    first = _article("first", 10)
    english = _article("english", 5, language="en")  # not in the corpus
    empty = _article("empty", 3, text="  ")  # no text: not in the corpus
    last = _article("last", 15)
    after = _article("after", 20)  # published after the last matched one: read by no diff
    articles = [after, last, empty, english, first, before]
    assert read_by_the_diff(articles, {"first", "last"}) == [before, first, last]
    assert read_by_the_diff(articles, {"first"}) == [before, first]
    assert read_by_the_diff(articles, {"english", "empty"}) == []  # matched, but never diffed
    assert read_by_the_diff(articles, set()) == []


def _eval_pass() -> list[Article]:
    """The labelled evaluation set (seed-corpus stories, copies, rehashes, updates) as one pass."""
    cases = load_cases(ARTICLES) + load_cases(HOLDOUT, prefix="h")
    return [
        Article(article_id=f"eval-{c.id}", url=f"https://{c.outlet or 'example.org'}/{c.id}", url_key=c.id,
                title=c.title, text=c.body, text_source="page", language="de", outlet=c.outlet,
                published_at=c.published)
        for c in cases
    ]


def _diff(articles: list[Article], fingerprinted: list[Article], topics: dict[str, list[str]]):
    fingerprints = {a.article_id: fingerprint_article(a) for a in fingerprinted}
    return diff_new_articles(seed_index(), articles, fingerprints, topics, NoveltyConfig(), decided_at=NOW)


def test_the_diff_decides_the_same_with_only_the_fingerprints_it_reads() -> None:
    """A pass whose matched articles are among its first two thirds: its last third is fingerprinted
    only after the pass has stored its articles and sent its alerts; every decision is the same."""
    articles = _eval_pass()
    ordered = sorted(articles, key=lambda a: a.published_at)
    matched = [a for a in ordered[: 2 * len(ordered) // 3] if random.Random(a.article_id).random() < 0.5]
    topics = {a.article_id: ["belarus"] for a in matched}
    shuffled = random.Random(7).sample(articles, len(articles))  # the stage goes by publication time
    read = read_by_the_diff(shuffled, topics.keys())
    assert len(matched) < len(read) < len(articles)  # unmatched articles before, and a tail after

    everything = _diff(shuffled, articles, topics)
    assert [d.article_id for d in everything] == [a.article_id for a in matched]
    assert _diff(shuffled, read, topics) == everything
    # The unmatched articles published before a matched one are read: without them, decisions change.
    assert _diff(shuffled, matched, topics) != everything


# --- fetched pages in memory ----------------------------------------------------------------------


GERMAN_PAGE = (
    "<html lang='de'><head><title>Seite {n}</title></head><body><article><h1>Hochwasser an der Elbe, Teil {n}</h1>"
    + "<p>Nach tagelangem Regen ist der Pegel der Elbe in Dresden weiter gestiegen. Die Stadt hat die "
    "Uferwege gesperrt und Sandsäcke an die Anwohner verteilt, die Feuerwehr ist mit allen Kräften im Einsatz.</p>" * 4
    + "</article></body></html>"
)


class _CountingSlots(threading.Semaphore):
    """The pass's semaphore, counting how many slots are held at once."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self._lock = threading.Lock()
        self.held = self.most_held = 0

    def acquire(self, *args, **kwargs) -> bool:
        acquired = super().acquire(*args, **kwargs)
        with self._lock:
            self.held += 1
            self.most_held = max(self.most_held, self.held)
        return acquired

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        with self._lock:
            self.held -= n
        super().release(n)

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_ingest_batch_fetches_a_page_only_with_a_slot_and_holds_it_until_the_article_is_built(
    loopback: LoopbackServer,
) -> None:
    from flows.monitor import ingest_batch

    slots = _CountingSlots(3)
    held_while_served: list[int] = []

    def page(number: int):
        served = slow(0.1, 200, {"Content-Type": "text/html; charset=utf-8"}, GERMAN_PAGE.format(n=number).encode())

        def handler(h) -> None:
            held_while_served.append(slots.held)  # a page is fetched only by a thread holding a slot
            served(h)

        return handler

    loopback.route_many({f"/p/{n}.html": page(n) for n in range(12)})
    config = FetchConfig(allow_private_addresses=[loopback.allowance], per_host_delay_seconds=0,
                         per_host_concurrency=8, respect_robots_txt=False)
    items = [FeedItem("feed", loopback.url(f"/p/{n}.html"), url_key(loopback.url(f"/p/{n}.html")),
                      title=f"Seite {n}", feed_language="de") for n in range(12)]
    with Fetcher(config) as fetcher, ExtractionPool(workers=2) as pool:
        articles = ingest_batch.fn(fetcher, pool, "feed", 1, items, config, slots)
        # The same articles as fetching and building each page on its own, in the items' order.
        expected = [build_article(fetch_page(fetcher, item, config)) for item in items]
    assert [replace(a, fetched_at=None) for a in articles] == [replace(a, fetched_at=None) for a in expected]
    assert all(a.language == "de" and a.text_source == "page" for a in articles)
    assert len(held_while_served) >= 12 and min(held_while_served[:12]) >= 1
    # 8 fetch threads, 3 slots: never more than 3 pages fetched or awaiting their article at once.
    assert slots.most_held == 3 and slots.held == 0
    assert loopback.max_in_flight <= 3


# --- storage: one list per column -----------------------------------------------------------------


def test_records_round_trip_through_the_column_inserts(tmp_path: Path) -> None:
    full = Article(
        article_id="a1", url="https://example.org/a1?x=1", url_key="example.org/a1", title="Überschrift „Zitat“",
        text="Text mit Umlauten: äöü ß 😀\nZweite Zeile", text_source="page", language="de",
        language_confidence=0.9999, language_source="langdetect", feed_name="feed", guid="guid-1",
        canonical_url="https://example.org/a1", outlet="example.org", site_name="Example", summary="Kurz",
        author="A. Autorin", published_at=NOW, fetched_at=NOW + timedelta(seconds=1), fetch_error=None,
        is_seed=False, content_sha256="0" * 64,
    )
    bare = Article(article_id="a2", url="https://example.org/a2", url_key="example.org/a2", title=None, text="",
                   text_source="feed_summary", language=None, fetch_error="HTTP 404")
    match = ArticleMatch("a1", "belarus", ["Belarus", "Sanktion"],
                         [{"term": "Belarus", "surface": "Belarus", "field": "text", "start": 0, "end": 7}],
                         ["… Belarus …"], True, NOW)
    feed = FeedState(name="feed", url="https://example.org/feed.xml", etag='W/"1"', last_polled_at=NOW,
                     last_http_status=200, consecutive_failures=0, items_seen=3)
    with connect(tmp_path / "db.duckdb") as db:
        migrate(db)
        rows = [replace(full, article_id=f"n{i}", url_key=f"k{i}") for i in range(450)]  # three statements
        with transaction(db):
            assert repository.store_articles(db, [full, bare, *rows], NOW, "run-1") == 452
            assert repository.store_articles(db, [full], NOW, "run-1") == 0  # ON CONFLICT DO NOTHING
            repository.store_matches(db, [match], "run-1")
            repository.store_feed_states(db, [feed])
            repository.store_feed_states(db, [replace(feed, etag=None, consecutive_failures=2)])  # OR REPLACE
            repository.store_run(db, RunSummary(run_id="run-1", started_at=NOW), [RunError("fetch", "u", "e", NOW)])
            repository.store_run_errors(db, "run-1", [RunError("fingerprint", "v", "f", NOW)])
        columns = ", ".join(repository._ARTICLE_COLUMNS)
        stored = {row[0]: Article(*row) for row in db.execute(f"SELECT {columns} FROM articles").fetchall()}
        assert stored["a1"] == full and stored["a2"] == bare and stored["n449"] == rows[-1]
        assert db.execute("SELECT terms, evidence::VARCHAR, snippets, title_match FROM matches").fetchall() == [
            (["Belarus", "Sanktion"],
             '[{"term": "Belarus", "surface": "Belarus", "field": "text", "start": 0, "end": 7}]',
             ["… Belarus …"], True)]
        assert repository.read_feed_states(db) == {"feed": replace(feed, etag=None, consecutive_failures=2)}
        assert db.execute("SELECT stage, subject FROM run_errors ORDER BY stage").fetchall() == [
            ("fetch", "u"), ("fingerprint", "v")]


# --- language: a sample of the text ---------------------------------------------------------------


def test_language_on_the_sample_equals_language_on_the_whole_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the first MAX_DETECT_CHARS characters are examined; on the real fixture pages (German
    and other) that gives the same language, source and confidence as the whole text."""
    import extractors.language as language
    from extractors.article_text import extract_text
    from fundus import FUNDUS, load_pages

    if not (FUNDUS / "de").is_dir():
        pytest.skip(f"Fundus fixtures not found at {FUNDUS}")
    texts = []
    for folder in ("de", "other"):
        for page in load_pages(folder):
            extracted = extract_text(page.html, page.url)
            if extracted is not None:
                texts.append((extracted.text, extracted.html_language))
    long_texts = [t for t, _ in texts if len(t) > language.MAX_DETECT_CHARS]
    assert len(long_texts) >= 20  # the sample is a real cut on these pages
    sampled = [language.detect_language(t, lang) for t, lang in texts]
    monkeypatch.setattr(language, "MAX_DETECT_CHARS", 10_000_000)
    whole = [language.detect_language(t, lang) for t, lang in texts]
    assert [(g.language, g.source) for g in sampled] == [(g.language, g.source) for g in whole]
    assert all(abs((s.confidence or 0) - (w.confidence or 0)) < 0.01 for s, w in zip(sampled, whole, strict=True))


# --- the pass: corpus fingerprints after the alerts -----------------------------------------------


LATE_PAGES = {  # German, on no tracked topic, published after every demo item: read by no diff
    "/late/elbe.html": "Hochwasser an der Elbe",
    "/late/bahn.html": "Neuer Fahrplan bei der Bahn",
}


def _late_feed(server: LoopbackServer) -> None:
    date = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    items = "".join(
        f"<item><title>{title}</title><link>{server.url(path)}</link><guid>{server.url(path)}</guid>"
        f"<pubDate>{date}</pubDate><description>{title}</description></item>"
        for path, title in LATE_PAGES.items()
    )
    server.route("/late/feed.xml", 200, {"Content-Type": "application/rss+xml"},
                 f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Spät</title>'
                 f"<link>{server.url('/')}</link><language>de</language>{items}</channel></rss>".encode())
    for number, path in enumerate(LATE_PAGES):
        server.route(path, 200, {"Content-Type": "text/html; charset=utf-8"}, GERMAN_PAGE.format(n=number).encode())


@pytest.fixture
def late_coverage(tmp_path: Path, loopback: LoopbackServer):
    """The demo coverage, plus a feed of German off-topic articles newer than all of it."""
    from flows.demo import CoverageServer, demo_config

    _late_feed(loopback)
    with CoverageServer() as server:
        config = demo_config(server, tmp_path)
        text = config.read_text().replace(
            f'allow_private_addresses = ["127.0.0.1:{server.port}"]',
            f'allow_private_addresses = ["127.0.0.1:{server.port}", "{loopback.allowance}"]',
        )
        config.write_text(text + f'[[feeds]]\nname = "late"\nurl = "{loopback.url("/late/feed.xml")}"\n')
        yield config


def _fingerprints(config: Path) -> tuple[dict[str, datetime], set[str], list[str]]:
    """(article id -> indexed_at of its fingerprint, German stored articles, the late ones' ids)."""
    from newswatch.config import load_settings

    with duckdb.connect(str(load_settings(config).storage.path), read_only=True) as db:
        indexed = dict(db.execute("SELECT article_id, indexed_at FROM article_fingerprints").fetchall())
        german = {r[0] for r in db.execute(
            "SELECT article_id FROM articles WHERE language = 'de' AND length(trim(text)) > 0").fetchall()}
        late = [r[0] for r in db.execute("SELECT article_id FROM articles WHERE feed_name = 'late'").fetchall()]
    return indexed, german, late


@pytest.mark.slow
def test_german_articles_no_diff_reads_are_fingerprinted_after_the_alerts(
    late_coverage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.monitor
    from flows.monitor import monitor

    monkeypatch.setattr(flows.monitor, "CORPUS_CHUNK_ARTICLES", 1)  # each stored in a chunk of its own
    summary = monitor(config_path=str(late_coverage))
    assert summary["matched_articles"] > 0
    indexed, german, late = _fingerprints(late_coverage)
    assert len(late) == 2 and set(late) <= german
    assert german <= indexed.keys()  # every German article joined the corpus in the same pass
    # All with the pass's indexed_at (the seed's too, fingerprinted by this first pass): the corpus
    # holds them in the order of a pass that stored them at once.
    assert len({indexed[a] for a in german}) == 1


@pytest.mark.slow
def test_a_pass_stopped_before_the_corpus_fingerprints_leaves_them_to_the_next(
    late_coverage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.monitor
    from prefect import task

    from flows.monitor import monitor

    @task(name="fingerprint-corpus")
    def stopped(*args: object, **kwargs: object) -> int:
        raise RuntimeError("the pass was stopped here")

    monkeypatch.setattr(flows.monitor, "fingerprint_corpus", stopped)
    with pytest.raises(RuntimeError, match="stopped here"):
        monitor(config_path=str(late_coverage))
    indexed, german, late = _fingerprints(late_coverage)
    # Everything up to the alerts is stored: the articles, the decisions, the fingerprints the
    # diff read; only the late German articles, read by no diff, have none yet.
    assert len(late) == 2 and german - indexed.keys() == set(late)
    from newswatch.config import load_settings

    with connect(load_settings(late_coverage).storage.path) as db:
        assert db.execute("SELECT count(*) FROM developments").fetchone()[0] > 0
        assert {a.article_id for a in repository.articles_without_fingerprint(db)} == set(late)

    monkeypatch.undo()
    second = monitor(config_path=str(late_coverage))
    assert second["articles_stored"] == 0
    indexed_after, german_after, _ = _fingerprints(late_coverage)
    assert german_after == german and german <= indexed_after.keys()  # the backlog took them
    assert {a: indexed_after[a] for a in indexed} == indexed  # nothing else was touched


# --- the flow's process gives page-sized blocks back ----------------------------------------------


_BLOCKS = """
import sys
sys.path.insert(0, {root!r})
from extractors.articles import return_large_blocks_to_the_os

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

changed = return_large_blocks_to_the_os() if sys.argv[1] == "on" else False
first = bytearray(b"x") * (4 << 20)
del first  # by default, glibc now serves blocks up to 4 MB from its heap
base = rss()
pages = [bytearray(b"x") * 900_000 for _ in range(100)]  # ~90 MB of page-sized blocks
kept = pages[::10]  # a few stay alive, as pages of batches still in flight do
del pages
print(changed, (rss() - base) >> 20)
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_page_sized_blocks_go_back_to_the_os_once_freed(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from newswatch.config import PROJECT_ROOT

    script = tmp_path / "blocks.py"
    script.write_text(_BLOCKS.format(root=str(PROJECT_ROOT)))
    # glibc's defaults: any MALLOC_*_ setting turns the dynamic threshold off (a Dask nanny run in
    # this test process, tests/test_dask_extraction.py, puts MALLOC_TRIM_THRESHOLD_ in os.environ).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    results = {}
    for mode in ("off", "on"):
        out = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, check=True,
                             env=env).stdout
        changed, retained_mb = out.split()
        results[mode] = (changed == "True", int(retained_mb))
    if not results["on"][0]:
        pytest.skip("not glibc: malloc's threshold cannot be set")
    assert results["off"][1] > 60  # freed blocks between live ones stay in the process
    assert results["on"][1] < 20  # only the ten live blocks (~9 MB)
