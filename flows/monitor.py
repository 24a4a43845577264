"""The `monitor` flow: one pass over every feed, reading like the data flow in the guide.

    feeds --poll--> new items --fetch--> pages --extract+language--> articles
          --match topics--> matches --diff against corpus--> developments
          --store (one transaction, with the outbox)--> dispatch alerts
          --> corpus fingerprints of the other German articles --> snapshot

Prefect sees one task per feed (`poll-<feed>`) and one per batch of its new items
(`ingest-<feed>-<n>`: fetch and extract), so the UI shows what each feed did without paying task
overhead per article. Feed tasks run in threads (network
bound); extraction runs in worker processes so both cores are busy while the network is awaited.
Everything a pass learns is written in one transaction at the end: a pass killed anywhere before
it stores nothing, and the next pass sees the same items as new again, so nothing is lost. Only
the fingerprints of German articles no diff read follow, after the alerts, in a short transaction
of their own; a pass killed before that leaves them to the next pass's `fingerprint-backlog`.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run, task_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from alerts.outbox import DispatchReport, dispatch
from alerts.plan import plan_development_alerts, plan_health_alerts
from extractors.articles import ExtractionPool, return_large_blocks_to_the_os
from extractors.dedupe import KnownKeys, keys_for_article
from extractors.feeds import poll_feed
from extractors.http import Fetcher
from extractors.pages import fetch_page
from newswatch.config import FeedConfig, FetchConfig, Settings, load_settings
from matching.articles import match_articles
from matching.matcher import TopicMatcher
from newswatch.records import (
    ALERTING_DECISIONS,
    Article,
    ArticleFingerprint,
    ArticleMatch,
    Development,
    FeedItem,
    FeedPoll,
    FeedState,
    RunError,
    RunSummary,
)
from novelty.fingerprint import belongs_in_corpus, corpus_entry, fingerprint_articles
from novelty.index import CorpusIndex
from novelty.stage import attach_counterpart_texts, counterpart_ids, diff_new_articles, read_by_the_diff
from flows import events
from flows.artifacts import development_rows, publish_alerts_artifact, publish_pass_artifacts
from flows.dask_pool import open_extraction_pool
from flows.secrets import read_prefect_secret
from storage import outbox, repository
from storage.db import PassLock, PassRunning, migrate, open_database, transaction
from storage.seed import read_seed_corpus
from storage.snapshot import publish_snapshot

# A pass that finds the pass lock taken waits this long before refusing: the holder is usually a
# short alert dispatch (flows: dispatch-alerts), and skipping a whole pass for it would be worse.
PASS_LOCK_WAIT_SECONDS = 120
# Items fetched and extracted per task. Each task run costs the Prefect server and the flow's process
# CPU (1,200-page bench pass, 2 cores: 10 -> 25 items took the server's CPU from ~10 s to ~5 s);
# the page HTML in memory is bounded by PAGES_IN_FLIGHT_PER_WORKER, not by this, and a feed's items
# share one host's politeness limits however they are batched.
INGEST_BATCH_SIZE = 50
# Pages fetched but not yet built into articles, per extraction worker: the pass's page HTML in
# memory (ingest_batch). Enough to keep the workers fed while others are fetched.
PAGES_IN_FLIGHT_PER_WORKER = 16
POLL_RETRIES = 2
# Corpus fingerprints per chunk after the alerts (~50 MB per 1,000; the flow process holds up to
# two: one being stored, the next being made). Not
# much smaller: each chunk's connection ends in a checkpoint whose cost grows with the table
# (presumably its last, partly filled row group is rewritten), so many small chunks cost far more
# (15,000 articles in chunks of 500: the phase took 386 s; in chunks of 1,000: 132 s).
CORPUS_CHUNK_ARTICLES = 1000
# Statuses worth an immediate retry within the pass; 429/503 come with Retry-After and wait instead.
_RETRYABLE_HTTP = {None, 500, 502, 504}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StoredState:
    feed_states: dict[str, FeedState]
    known_keys: dict[str, str]
    seed_articles_loaded: int
    # German articles without a fingerprint: the seed on the first pass, articles stored before
    # the corpus index existed. The pass fingerprints them in the workers and stores them.
    backlog: list[Article] = field(default_factory=list)


@dataclass
class PassResult:
    run: RunSummary
    feed_rows: list[dict[str, object]] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    developments: list[dict[str, object]] = field(default_factory=list)
    alerts: DispatchReport = field(default_factory=DispatchReport)
    snapshot_path: Path | None = None


class TransientFeedError(Exception):
    """Raised inside the poll task so Prefect retries it; the last attempt records the failure."""


@task(name="prepare-storage", cache_policy=NO_CACHE)
def prepare_storage(settings: Settings) -> StoredState:
    """Upgrade the schema, load the seed corpus (idempotent), read feed state and known keys, and
    list the German articles still missing from the corpus index."""
    with open_database(settings.storage) as db:
        migrate(db)
        seeded = repository.load_seed_articles(db, read_seed_corpus(settings.corpus.seed_path))
        return StoredState(
            repository.read_feed_states(db), repository.read_known_keys(db), seeded,
            repository.articles_without_fingerprint(db),
        )


@task(name="fingerprint-backlog", cache_policy=NO_CACHE)
def fingerprint_backlog(pool: ExtractionPool, articles: list[Article], errors: list[RunError]) -> list[ArticleFingerprint]:
    """Stored German articles without a fingerprint join the corpus (in the workers: the text
    analysis is loaded there, and the main process stays small). Among them the German articles
    of a pass stopped between storing its articles and `fingerprint-corpus`."""
    return _fingerprinted(pool.map(fingerprint_articles, articles), errors)


@task(name="fingerprint-for-diff", cache_policy=NO_CACHE)
def fingerprint_for_diff(
    pool: ExtractionPool, articles: list[Article], errors: list[RunError]
) -> dict[str, ArticleFingerprint]:
    """The fingerprints the diff reads (novelty.stage.read_by_the_diff: the matched German
    articles and the German articles published before them), in the workers. The pass's other
    German articles are fingerprinted by `fingerprint-corpus` once its alerts are out."""
    return {f.article_id: f for f in _fingerprinted(pool.map(fingerprint_articles, articles), errors)}


@task(name="fingerprint-corpus", cache_policy=NO_CACHE)
def fingerprint_corpus(
    settings: Settings,
    run_id: str,
    articles: list[Article],
    done: set[str],
    indexed_at: datetime,
    errors: list[RunError],
) -> int:
    """After the pass has stored its articles and sent its alerts: its German articles whose
    fingerprints no diff read (`done`: those fingerprinted before the diff, successfully or not)
    join the corpus, in the workers, stored `CORPUS_CHUNK_ARTICLES` at a time, each chunk in a short
    transaction of its own (a stop in between leaves the rest to the backlog). Stored with the
    pass's `indexed_at`, so the corpus holds them in the same order as if they had been stored with
    the pass. A pass stopped before this leaves them to the next pass's `fingerprint-backlog`.
    Returns the number stored."""
    rest = [a for a in articles if belongs_in_corpus(a) and a.article_id not in done]
    if not rest:
        return 0
    stored = 0
    storing: Future[int] | None = None
    # Chunk by chunk, each stored in a short transaction of its own while the workers analyse the
    # next: all of a 15,000-article pass's fingerprints at once were ~800 MB in this process.
    with open_extraction_pool(settings) as pool, ThreadPoolExecutor(max_workers=1) as writer:
        for start in range(0, len(rest), CORPUS_CHUNK_ARTICLES):
            chunk_errors: list[RunError] = []
            fingerprints = _fingerprinted(
                pool.map(fingerprint_articles, rest[start : start + CORPUS_CHUNK_ARTICLES]), chunk_errors
            )
            if storing is not None:
                stored += storing.result()
            storing = writer.submit(_store_corpus_chunk, settings, run_id, fingerprints, chunk_errors, indexed_at)
            errors.extend(chunk_errors)
        if storing is not None:
            stored += storing.result()
    return stored


def _store_corpus_chunk(
    settings: Settings, run_id: str, fingerprints: list[ArticleFingerprint], errors: list[RunError], indexed_at: datetime
) -> int:
    with open_database(settings.storage) as db:
        with transaction(db):
            repository.store_fingerprints(db, fingerprints, indexed_at)
            repository.store_run_errors(db, run_id, errors)
    return len(fingerprints)


@task(
    name="poll-feed",
    task_run_name="poll-{feed.name}",
    retries=POLL_RETRIES,
    retry_delay_seconds=[1, 5],
    cache_policy=NO_CACHE,
)
def poll_feed_task(fetcher: Fetcher, feed: FeedConfig, state: FeedState | None, config: FetchConfig) -> FeedPoll:
    poll = poll_feed(fetcher, feed, state, _now(), config)
    if (
        poll.status == "failed"
        and poll.state.last_http_status in _RETRYABLE_HTTP
        and task_run.run_count <= POLL_RETRIES
    ):
        raise TransientFeedError(poll.error)
    return poll


@task(name="ingest-batch", task_run_name="ingest-{feed_name}-{batch}", cache_policy=NO_CACHE)
def ingest_batch(
    fetcher: Fetcher,
    pool: ExtractionPool,
    feed_name: str,
    batch: int,
    items: list[FeedItem],
    config: FetchConfig,
    pages_in_flight: threading.Semaphore,
) -> list[Article]:
    """Fetch one batch of a feed's new items and build their articles in the worker processes.

    Each page goes to the workers as soon as it is fetched, and its body is dropped as soon as its
    article is back. `pages_in_flight` (one per pass) bounds the pages between the two over all
    batches: a page waits for a slot before it is fetched. Without it, when extraction is the
    slower stage, every batch in flight held its fetched pages until its last one was built (in
    the bench: ~170 pages, then ~860 kB each as decoded text, plus their pickles; main process ~640 MB).
    """
    def fetch_and_build(item: FeedItem) -> Article:
        with pages_in_flight:
            page = fetch_page(fetcher, item, config)
            return pool.build_articles([page])[0]

    # Politeness per host is enforced inside the Fetcher; these threads only overlap waiting.
    with ThreadPoolExecutor(max_workers=config.per_host_concurrency) as threads:
        return list(threads.map(fetch_and_build, items))


def _fingerprinted(results: list[ArticleFingerprint | str], errors: list[RunError]) -> list[ArticleFingerprint]:
    """The fingerprints of a batch; an article that could not be analysed is stored without one
    (it is not diffed and not part of the corpus) and the reason is recorded."""
    for result in results:
        if isinstance(result, str):
            errors.append(RunError("fingerprint", result.split(": ", 1)[0], result, _now()))
    return [result for result in results if not isinstance(result, str)]


@task(name="match-topics", cache_policy=NO_CACHE)
def match_topics(settings: Settings, articles: list[Article]) -> list[ArticleMatch]:
    """All tracked topics against the pass's new German articles, in one pass over each text."""
    if not settings.topics:
        return []
    return match_articles(TopicMatcher(settings.topics), articles, _now())


@task(name="diff-against-corpus", cache_policy=NO_CACHE)
def diff_against_corpus(
    settings: Settings,
    run_id: str,
    articles: list[Article],
    fingerprints: dict[str, ArticleFingerprint],
    matches: list[ArticleMatch],
    backlog: list[tuple[Article, ArticleFingerprint]],
) -> list[Development]:
    """Each matched German article against the seed and the stored articles of the look-back
    window (and the pass's earlier articles): new development, update, rehash or duplicate."""
    topics: dict[str, list[str]] = {}
    for match in matches:
        if match.article_id in fingerprints:
            topics.setdefault(match.article_id, []).append(match.topic_id)
    if not topics:
        return []  # nothing to diff: the new articles join the corpus when they are stored
    now = _now()
    since = now - timedelta(days=settings.novelty.lookback_days)
    # The backlog is not stored yet (it is stored with the pass), so it joins the index here.
    pending = (
        corpus_entry(f) for a, f in backlog if a.is_seed or (a.published_at or a.fetched_at or now) >= since
    )
    with open_database(settings.storage) as db:
        index = CorpusIndex(itertools.chain(repository.read_corpus(db, since), pending))
    developments = diff_new_articles(
        index, articles, fingerprints, topics, settings.novelty, decided_at=now, run_id=run_id
    )
    needed = counterpart_ids(d.sentences for d in developments)
    in_memory = {**{f.article_id: f for _, f in backlog}, **fingerprints}
    sentences = {article_id: in_memory[article_id].sentences for article_id in needed if article_id in in_memory}
    missing = needed - sentences.keys()
    if missing:
        with open_database(settings.storage) as db:
            sentences.update(repository.read_sentences(db, missing))
    attach_counterpart_texts(developments, sentences)
    return developments


@task(name="store-pass", cache_policy=NO_CACHE)
def store_pass(
    settings: Settings,
    run: RunSummary,
    feed_states: list[FeedState],
    articles: list[Article],
    matches: list[ArticleMatch],
    fingerprints: list[ArticleFingerprint],
    developments: list[Development],
    keys: list[tuple[str, str, str]],
    feed_links: list[tuple[str, str]],
    errors: list[RunError],
    previous_feed_states: dict[str, FeedState],
    indexed_at: datetime,
) -> int:
    """Everything the pass learned, in one transaction; the write connection is held only here.
    The alerts it owes are queued in the same transaction: an alert exists exactly when its
    development (or the feed state it reports) does. `fingerprints`: the backlog's and those the
    diff read (the pass's other German articles follow in `fingerprint-corpus`, with the same
    `indexed_at`)."""
    with open_database(settings.storage) as db:
        with transaction(db):
            stored = repository.store_articles(db, articles, _now(), run.run_id)
            repository.store_matches(db, matches, run.run_id)
            repository.store_fingerprints(db, fingerprints, indexed_at)
            repository.store_developments(db, developments)
            now = _now()
            alerted = outbox.alerted_stories(db, {d.story_id for d in developments})
            by_id = {a.article_id: a for a in articles}
            queued = plan_development_alerts(
                developments, by_id, settings.channels, settings.alerts, alerted, now, run.run_id
            ) + plan_health_alerts(
                previous_feed_states, feed_states, settings.channels, settings.alerts, now, run.run_id
            )
            run.alerts_queued = outbox.store_alerts(db, queued)
            repository.store_keys(db, keys)
            repository.store_feed_links(db, feed_links, run.started_at, run.run_id)
            repository.store_feed_states(db, feed_states)
            run.articles_stored = stored
            run.finished_at = _now()
            repository.store_run(db, run, errors)
    return stored


@task(name="dispatch-alerts", cache_policy=NO_CACHE)
def dispatch_alerts(settings: Settings, run_id: str | None = None) -> DispatchReport:
    """Send what the outbox holds: this pass's alerts, retries that are due, digests that are due."""
    if not settings.channels:
        return DispatchReport()
    logger = get_run_logger()
    store = outbox.OutboxStore(settings.storage.path, settings.alerts, settings.storage.lock_timeout_seconds)
    report = dispatch(store, settings.channels, {t.id: t.name for t in settings.topics}, settings.alerts)
    for delivery in report.failed:  # errors are redacted by the channel: no secret reaches the log
        logger.warning(
            "alert to %s failed (%s)%s: %s", delivery.channel, delivery.kind,
            ", now in the dead-letter list" if delivery.dead else ", retried later", delivery.error,
        )
    for channel, count in report.deferred.items():
        logger.warning("channel %s keeps failing: %d alerts wait for the next pass", channel, count)
    for channel, count in report.unknown_channels.items():
        logger.warning("%d alerts are queued for channel %s, which is no longer configured", count, channel)
    for channel, error in report.unusable_channels.items():
        logger.error("channel %s cannot be used, its alerts wait until the config is fixed: %s", channel, error)
    for channel, error in report.errors.items():
        logger.error("sending to channel %s broke off, its alerts are retried next pass: %s", channel, error)
    for delivery in report.deliveries:
        events.alert_delivered(delivery)
    if run_id is not None:
        with open_database(settings.storage) as db:
            outbox.update_run_alerts(db, run_id, len(report.sent), len(report.failed))
    return report


def _emit_pass_events(
    settings: Settings,
    developments: list[Development],
    articles: list[Article],
    previous: dict[str, FeedState],
    current: dict[str, FeedState],
) -> None:
    """After the commit: what the pass found is stored before anyone reacts to it."""
    by_id = {a.article_id: a for a in articles}
    topic_names = {t.id: t.name for t in settings.topics}
    for development in developments:
        if development.decision in ALERTING_DECISIONS:
            events.development_detected(development, by_id[development.article_id], topic_names)
    for name, state in current.items():
        events.feed_health(state, settings.alerts.health_after_failures, previous.get(name))


@task(name="publish-snapshot", cache_policy=NO_CACHE)
def publish_snapshot_task(settings: Settings) -> Path:
    return publish_snapshot(settings.storage.path, settings.storage.resolved_snapshot_path)


def run_pass(
    settings: Settings,
    history: list[FeedPoll] | None = None,
    on_ingested: Callable[[int], None] | None = None,
) -> PassResult:
    """One pass; the body of the `monitor` flow (callable from tests inside any flow).

    `history` makes it a backfill pass (flows/backfill.py): these items, read from the feeds'
    history, go through the same stages instead of a poll of each feed, and the feeds' polling
    state is left as it was. `on_ingested(n)` is told as each batch of n items is through
    extraction (a progress bar)."""
    logger = get_run_logger()
    run = RunSummary(
        run_id=str(flow_run.id or uuid.uuid4()),
        flow_run_id=flow_run.id,
        started_at=_now(),
    )
    result = PassResult(run=run)
    with PassLock(settings.storage.path, wait=PASS_LOCK_WAIT_SECONDS):
        stored_state = prepare_storage(settings)
        known = KnownKeys(stored_state.known_keys)
        feeds = settings.enabled_feeds

        feed_states: dict[str, FeedState] = {}
        feed_links: list[tuple[str, str]] = []
        rows: dict[str, dict[str, object]] = {}
        extractions = []
        with Fetcher(settings.fetch) as fetcher, open_extraction_pool(settings) as pool:
            # The pass's fetched page HTML awaiting extraction is bounded (see ingest_batch), and
            # given back to the OS once built (not kept by malloc for later pages).
            pages_in_flight = threading.Semaphore(PAGES_IN_FLIGHT_PER_WORKER * pool.workers)
            return_large_blocks_to_the_os()
            backlog_prints = fingerprint_backlog(pool, stored_state.backlog, result.errors)
            for feed, poll in _polls(fetcher, feeds, stored_state.feed_states, settings.fetch, history):
                feed_states[feed.name] = poll.state
                row = rows[feed.name] = {
                    "feed": feed.name,
                    "status": poll.status,
                    "http": poll.state.last_http_status,
                    "items": len(poll.items),
                    "new": 0,
                    "duplicates": 0,
                    "error": poll.error or "",
                }
                _count_poll(run, poll)
                if poll.error:
                    result.errors.append(RunError("poll", feed.name, poll.error, _now()))
                    logger.warning("feed %s: %s", feed.name, poll.error)
                new_items, known_items = known.split_new(poll.items)
                feed_links.extend((feed.name, article_id) for _, article_id in known_items)
                row["new"], row["duplicates"] = len(new_items), len(known_items)
                run.new_items += len(new_items)
                run.duplicate_items += len(known_items)
                for batch, start in enumerate(range(0, len(new_items), INGEST_BATCH_SIZE), start=1):
                    items = new_items[start : start + INGEST_BATCH_SIZE]
                    future = ingest_batch.submit(
                        fetcher, pool, feed.name, batch, quote(items), quote(settings.fetch), pages_in_flight
                    )
                    extractions.append((feed.name, len(items), future))

            articles: list[Article] = []
            keys: list[tuple[str, str, str]] = []
            for feed_name, batch_size, future in extractions:
                try:
                    batch = future.result()
                except Exception as error:  # noqa: BLE001 - a crashed batch is retried next pass
                    # Its items are not stored, and the feed keeps its old validators (ETag, hash),
                    # so the next pass downloads the feed again and sees them as new.
                    _keep_validators(feed_states[feed_name], stored_state.feed_states.get(feed_name))
                    message = f"{type(error).__name__}: {error}"
                    result.errors.append(RunError("ingest", feed_name, message, _now()))
                    logger.error("feed %s: a batch of items failed and will be retried: %s", feed_name, message)
                    continue
                finally:
                    if on_ingested is not None:
                        on_ingested(batch_size)
                for article in batch:
                    if article.fetch_error:
                        run.pages_failed += 1
                        result.errors.append(RunError("fetch", article.url, article.fetch_error, _now()))
                    article_keys = keys_for_article(article)
                    extra = [key for key, kind in article_keys if kind in ("final", "canonical")]
                    duplicate_of = known.claim(extra, article.article_id) if extra else None
                    if duplicate_of is not None and duplicate_of != article.article_id:
                        # The page says it is an article we already have (canonical link or redirect).
                        keys.extend((key, duplicate_of, kind) for key, kind in article_keys)
                        feed_links.append((feed_name, duplicate_of))
                        run.duplicate_items += 1
                        run.new_items -= 1
                        rows[feed_name]["duplicates"] += 1
                        rows[feed_name]["new"] -= 1
                        continue
                    keys.extend((key, article.article_id, kind) for key, kind in article_keys)
                    feed_links.append((feed_name, article.article_id))
                    articles.append(article)

            # Large arguments are quoted: Prefect would otherwise walk every article, fingerprint
            # and sentence looking for futures (py-spy: ~7 s of a 1,200-page pass's main process).
            matches = match_topics(settings, quote(articles))
            matched_ids = {m.article_id for m in matches}
            # Before the diff, only what it reads is fingerprinted; the pass's other German articles
            # join the corpus after its alerts are out (fingerprint-corpus, below).
            read_by_diff = read_by_the_diff(articles, matched_ids)
            fingerprints = fingerprint_for_diff(pool, quote(read_by_diff), result.errors)
        run.german_articles = sum(1 for a in articles if a.language == "de")
        run.matched_articles = len(matched_ids)
        for row in rows.values():
            row.update(stored=0, german=0, matched=0)
        by_id = {a.article_id: a for a in stored_state.backlog}
        backlog = [(by_id[f.article_id], f) for f in backlog_prints]
        developments = diff_against_corpus(
            settings, run.run_id, quote(articles), quote(fingerprints), quote(matches), quote(backlog)
        )
        alerting = {d.article_id for d in developments if d.decision in ALERTING_DECISIONS}
        run.developments = len(alerting)
        for row in rows.values():
            row.update(developments=0)
        for article in articles:  # one pass, not one scan of all articles per feed
            row = rows[article.feed_name]
            row["stored"] += 1
            row["german"] += article.language == "de"
            row["matched"] += article.article_id in matched_ids
            row["developments"] += article.article_id in alerting
        indexed_at = _now()  # of every fingerprint of the pass, also those stored after its alerts
        store_pass(
            settings, run, list(feed_states.values()), quote(articles), quote(matches),
            quote([*backlog_prints, *fingerprints.values()]), quote(developments), quote(keys), quote(feed_links),
            result.errors, stored_state.feed_states, indexed_at,
        )
        result.developments = development_rows(developments, articles)
        _emit_pass_events(
            settings, developments, articles, stored_state.feed_states, feed_states if history is None else {}
        )
        result.alerts = dispatch_alerts(settings, run.run_id)
        run.alerts_sent, run.alerts_failed = len(result.alerts.sent), len(result.alerts.failed)
        fingerprint_corpus(
            settings, run.run_id, quote(articles), {a.article_id for a in read_by_diff}, indexed_at, result.errors
        )
        result.snapshot_path = publish_snapshot_task(settings)
    result.feed_rows = [rows[name] for name in sorted(rows)]
    publish_pass_artifacts(result, settings.schedule.timezone)
    logger.info(
        "pass %s: %d feeds polled, %d failed, %d new items, %d articles stored (%d German, %d matched, "
        "%d new developments or updates); %d alerts queued, %d sent, %d failed",
        run.run_id, run.feeds_polled, run.feeds_failed, run.new_items, run.articles_stored, run.german_articles,
        run.matched_articles, run.developments, run.alerts_queued, run.alerts_sent, run.alerts_failed,
    )
    return result


def _polls(
    fetcher: Fetcher,
    feeds: list[FeedConfig],
    stored: dict[str, FeedState],
    config: FetchConfig,
    history: list[FeedPoll] | None,
) -> Iterator[tuple[FeedConfig, FeedPoll]]:
    """Each feed's poll as it completes (a task per feed, in threads), or the given backfill polls."""
    if history is not None:
        by_name = {feed.name: feed for feed in feeds}
        for poll in history:
            yield by_name[poll.feed_name], poll
        return
    polls = {}  # task_run_id -> feed
    futures = []
    for feed in feeds:
        state = stored.get(feed.name)
        if state is not None and state.url != feed.url:  # the feed moved: start afresh
            state = FeedState(name=feed.name, url=feed.url)
        # quoted: Prefect would walk them looking for futures (as the large arguments in run_pass)
        future = poll_feed_task.submit(fetcher, feed, quote(state), quote(config))
        polls[future.task_run_id] = feed
        futures.append(future)
    for future in as_completed(futures):
        feed = polls[future.task_run_id]
        yield feed, _poll_result(future, feed, stored.get(feed.name))


def _poll_result(future, feed: FeedConfig, previous: FeedState | None) -> FeedPoll:
    """The poll's result; a task that crashed (a bug, not a network problem) counts as a failed feed."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - one broken feed never stops the others
        # A copy: the previous state is what the health alerts compare against.
        state = dataclasses.replace(previous) if previous else FeedState(name=feed.name, url=feed.url)
        state.last_polled_at = _now()
        state.consecutive_failures += 1
        state.last_status = "failed"
        state.last_error = f"{feed.url}: {type(error).__name__}: {error}"
        return FeedPoll(feed.name, "failed", state, error=state.last_error)


def _keep_validators(state: FeedState, previous: FeedState | None) -> None:
    state.etag = previous.etag if previous else None
    state.last_modified = previous.last_modified if previous else None
    state.body_sha256 = previous.body_sha256 if previous else None


def _count_poll(run: RunSummary, poll: FeedPoll) -> None:
    if poll.status == "backoff":
        run.feeds_backoff += 1
        return
    run.feeds_polled += 1
    if poll.status == "failed":
        run.feeds_failed += 1
    elif poll.status == "not_modified":
        run.feeds_not_modified += 1


@flow(name="dispatch-alerts", log_prints=False)
def dispatch_alerts_flow(config_path: str) -> dict[str, object]:
    """Send due digests and retries without polling (the digest schedule; `newswatch alerts dispatch`).
    While a monitor pass runs it does nothing: the pass sends what is due itself."""
    settings = load_settings(config_path, resolve_secret=read_prefect_secret)
    try:
        with PassLock(settings.storage.path):
            with open_database(settings.storage) as db:
                migrate(db)
            report = dispatch_alerts(settings)
            publish_snapshot_task(settings)
    except PassRunning as busy:
        get_run_logger().info("skipped: %s (the pass sends what is due itself)", busy)
        return {"skipped": "a monitor pass is running and sends what is due itself"}
    publish_alerts_artifact(report, "Dispatch")
    return {
        "sent": len(report.sent),
        "failed": len(report.failed),
        "dead": sum(len(d.dead) for d in report.deliveries),
        "deferred": sum(report.deferred.values()),
    }


@flow(name="monitor", task_runner=ThreadPoolTaskRunner(max_workers=16), log_prints=False)
def monitor(config_path: str) -> dict[str, object]:
    """Poll every feed once, store new articles, publish the analyst snapshot."""
    settings = load_settings(config_path, resolve_secret=read_prefect_secret)
    result = run_pass(settings)
    run = result.run
    return {
        "run_id": run.run_id,
        "feeds_polled": run.feeds_polled,
        "feeds_failed": run.feeds_failed,
        "feeds_backoff": run.feeds_backoff,
        "feeds_not_modified": run.feeds_not_modified,
        "new_items": run.new_items,
        "duplicate_items": run.duplicate_items,
        "pages_failed": run.pages_failed,
        "articles_stored": run.articles_stored,
        "german_articles": run.german_articles,
        "matched_articles": run.matched_articles,
        "developments": run.developments,
        "alerts_queued": run.alerts_queued,
        "alerts_sent": run.alerts_sent,
        "alerts_failed": run.alerts_failed,
        "snapshot": str(result.snapshot_path),
    }
