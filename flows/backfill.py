"""The `backfill` flow (`newswatch backfill --since DATE`): catch up a long feed history.

A feed document lists only its newest entries, so a feed that was down for a day, or newswatch
started today, misses what was published before. Backfill reads each feed's history back to the
date (RFC 5005 paged and archived feeds: extractors/history.py), then puts the entries it does not
have yet through the same stages as a pass (fetch, extract, language, match, diff, store), in
chunks of `chunk_items`: each chunk is one pass with its own transaction, so an interrupted
backfill keeps what it stored and a second run goes on from there, and scheduled passes can run
between chunks. The feeds' polling state (ETag, health) is left as it is.

Alerts follow the usual rule: only articles younger than `[alerts] max_age_hours` alert, so
catching up after an outage alerts what the desk missed, and a backfill of last month alerts none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from extractors.dedupe import KnownKeys
from extractors.history import DEFAULT_MAX_PAGES, FeedHistory, read_history
from extractors.http import Fetcher
from flows.monitor import run_pass
from flows.secrets import read_prefect_secret
from newswatch.config import ConfigError, FeedConfig, FetchConfig, Settings, load_settings
from newswatch.records import FeedItem, FeedPoll, FeedState
from storage import repository
from storage.db import migrate, open_database

DEFAULT_CHUNK_ITEMS = 500


@dataclass
class BackfillProgress:
    """What a caller (the CLI's progress bar) is told while a backfill runs."""

    feed_done: Callable[[FeedHistory], None] = lambda history: None
    items_to_ingest: Callable[[int], None] = lambda total: None  # once, after the histories
    ingested: Callable[[int], None] = lambda count: None  # as each batch is through extraction


_progress = BackfillProgress()  # set by `reporting_to`; a flow parameter cannot carry callbacks


def reporting_to(progress: BackfillProgress) -> None:
    global _progress
    _progress = progress


def parse_since(text: str, timezone: str, now: datetime | None = None) -> datetime:
    """`2026-11-01` (midnight) or an ISO date and time; without an offset it is local time in
    `timezone`. A date in the future is an error."""
    try:
        since = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since {text!r}: not a date (expected e.g. 2026-11-01 or 2026-11-01T06:00)") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=ZoneInfo(timezone))
    if since > (now or datetime.now(UTC)):
        raise ConfigError(f"--since {text!r}: that is in the future")
    return since.astimezone(UTC)


@task(name="read-history", task_run_name="history-{feed.name}", cache_policy=NO_CACHE)
def read_history_task(fetcher: Fetcher, feed: FeedConfig, since: datetime, config: FetchConfig, max_pages: int) -> FeedHistory:
    return read_history(fetcher, feed, since, config, max_pages=max_pages)


@flow(name="backfill", task_runner=ThreadPoolTaskRunner(max_workers=8), log_prints=False)
def backfill(
    config_path: str,
    since: datetime,
    feeds: list[str] | str | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    chunk_items: int = DEFAULT_CHUNK_ITEMS,
) -> dict[str, object]:
    """Read the feeds' history back to `since` and store what is not stored yet (every enabled
    feed, or those named in `feeds`: a list, or one name as an event trigger renders it)."""
    logger = get_run_logger()
    settings = load_settings(config_path, resolve_secret=read_prefect_secret)
    since = since if since.tzinfo else since.replace(tzinfo=ZoneInfo(settings.schedule.timezone))
    selected = _selected_feeds(settings, [feeds] if isinstance(feeds, str) else feeds)
    with open_database(settings.storage) as db:
        migrate(db)
        known = KnownKeys(repository.read_known_keys(db))
        states = repository.read_feed_states(db)

    histories: list[FeedHistory] = []
    with Fetcher(settings.fetch) as fetcher:
        futures = [read_history_task.submit(fetcher, feed, since, settings.fetch, max_pages) for feed in selected]
        for feed, future in zip(selected, futures):
            try:
                history = future.result()
            except Exception as error:  # noqa: BLE001 - one feed's crash does not stop the others
                history = FeedHistory(feed.name, error=f"{type(error).__name__}: {error}", stopped="crashed")
            if history.error:
                logger.warning("feed %s: history read until: %s", feed.name, history.error)
            histories.append(history)
            _progress.feed_done(history)

    new: list[FeedItem] = []
    rows = []
    for history in histories:
        fresh, _ = known.split_new(history.items)
        new.extend(fresh)
        rows.append({
            "feed": history.feed_name, "pages": history.pages, "entries since": len(history.items),
            "not stored yet": len(fresh), "back to the date": history.reached_since, "stopped": history.stopped,
        })
    _progress.items_to_ingest(len(new))

    totals = {"articles_stored": 0, "german_articles": 0, "developments": 0, "alerts_sent": 0, "pages_failed": 0}
    chunks = 0
    for start in range(0, len(new), chunk_items):
        polls = _chunk_polls(new[start : start + chunk_items], selected, states)
        result = run_pass(settings, history=polls, on_ingested=_progress.ingested)
        chunks += 1
        for key in totals:
            totals[key] += getattr(result.run, key)
        logger.info("backfill chunk %d: %d articles stored", chunks, result.run.articles_stored)

    summary = {
        "since": since.isoformat(),
        "feeds": len(selected),
        "history_pages": sum(h.pages for h in histories),
        "entries_since": sum(len(h.items) for h in histories),
        "new_items": len(new),
        "chunks": chunks,
        **totals,
        "feeds_with_errors": sum(1 for h in histories if h.error),
    }
    _publish_artifacts(rows, summary)
    return summary


def _selected_feeds(settings: Settings, names: list[str] | None) -> list[FeedConfig]:
    if not names:
        return settings.enabled_feeds
    by_name = {feed.name: feed for feed in settings.enabled_feeds}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ConfigError(
            f"{settings.source}: no enabled feed named {', '.join(map(repr, unknown))} "
            f"(enabled feeds: {', '.join(sorted(by_name)) or 'none'})"
        )
    return [by_name[name] for name in names]


def _chunk_polls(items: list[FeedItem], feeds: list[FeedConfig], states: dict[str, FeedState]) -> list[FeedPoll]:
    """The chunk's items as one "poll" per feed that leaves the feed's stored state unchanged."""
    by_feed: dict[str, list[FeedItem]] = {}
    for item in items:
        by_feed.setdefault(item.feed_name, []).append(item)
    urls = {feed.name: feed.url for feed in feeds}
    polls = []
    for name, feed_items in by_feed.items():
        stored = states.get(name)
        state = dataclasses.replace(stored) if stored else FeedState(name=name, url=urls[name])
        polls.append(FeedPoll(feed_name=name, status="ok", state=state, items=feed_items))
    return polls


def _publish_artifacts(rows: list[dict[str, object]], summary: dict[str, object]) -> None:
    create_table_artifact(
        key="backfill-feeds",
        table=rows or [{"feed": "(no feeds)"}],
        description=f"Backfill since {summary['since']}: what each feed's history gave.",
    )
    create_markdown_artifact(
        key="backfill-summary",
        markdown="\n".join([
            f"# Backfill since {summary['since']}",
            "",
            f"- **Feeds**: {summary['feeds']} ({summary['feeds_with_errors']} with errors; see `backfill-feeds`)",
            f"- **History**: {summary['history_pages']} feed documents read, {summary['entries_since']} "
            f"entries since the date, {summary['new_items']} not stored yet",
            f"- **Stored**: {summary['articles_stored']} articles in {summary['chunks']} chunks "
            f"({summary['german_articles']} German, {summary['pages_failed']} pages not fetched)",
            f"- **New developments or updates**: {summary['developments']}; alerts sent: {summary['alerts_sent']}",
        ]),
        description="What the backfill stored.",
    )
