"""A feed's history back to a date, for `newswatch backfill`.

A feed document lists only its newest entries. Feeds that keep more publish it the way RFC 5005
describes: paged feeds link the next (older) page with `rel="next"`, archived feeds link the
previous archive document with `rel="prev-archive"`. `read_history` follows those links from the
feed's own URL and keeps the entries published since the date (undated entries of the documents it
reads count as recent). It stops at the page whose entries reach past the date, where the links end,
at a link it has already read (a loop), or after `max_pages` documents.

Every request goes through the guarded Fetcher, so a history link to a private address or a huge
document is refused like any other; a failed page ends the walk with what was read before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from extractors.feeds import FEED_ACCEPT, _items, parse_feed_response
from extractors.http import Fetcher, FetchError
from extractors.urls import redact_url
from newswatch.config import FeedConfig, FetchConfig
from newswatch.records import FeedItem

DEFAULT_MAX_PAGES = 100
# The links that lead to older entries, in the order they are preferred.
_OLDER = ("next", "prev-archive")  # RFC 5005: "previous" leads to newer pages


@dataclass
class FeedHistory:
    feed_name: str
    items: list[FeedItem] = field(default_factory=list)  # newest document first, each URL once
    pages: int = 0  # documents read
    reached_since: bool = False  # the walk got back to entries older than `since`
    stopped: str = ""  # why it stopped: "reached the date", "no older page", "page limit", an error
    error: str | None = None


def read_history(
    fetcher: Fetcher,
    feed: FeedConfig,
    since: datetime,
    config: FetchConfig,
    *,
    now: datetime | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    on_page: Callable[[str, int], None] | None = None,
) -> FeedHistory:
    """The feed's entries published since `since`, following its older-page links. Never raises for
    network or parse problems: they end the walk and are reported in `error`."""
    now = now or datetime.now(UTC)
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    history = FeedHistory(feed.name)
    seen_keys: set[str] = set()
    visited: set[str] = set()
    url: str | None = feed.url
    while url is not None:
        if url in visited:
            history.stopped = "a history link leads back to a page already read"
            break
        if history.pages >= max_pages:
            history.stopped = f"page limit ({max_pages} documents)"
            break
        visited.add(url)
        try:
            response = fetcher.get(url, max_bytes=config.max_feed_bytes, accept=FEED_ACCEPT)
            parsed, hint = parse_feed_response(response)
        except FetchError as error:
            history.error = history.stopped = str(error)
            break
        except Exception as error:  # noqa: BLE001 - a document feedparser chokes on ends the walk
            history.error = history.stopped = f"{redact_url(url)}: {type(error).__name__}: {error}"
            break
        if hint is not None:
            history.error = history.stopped = f"{redact_url(url)}: not a feed{hint}"
            break
        history.pages += 1
        entries = _items(parsed, feed, response.final_url, now, config.max_items_per_feed)
        for item in entries:
            if item.url_key in seen_keys:
                continue
            if item.published_at is None or item.published_at >= since:
                seen_keys.add(item.url_key)
                history.items.append(item)
        if on_page is not None:
            on_page(redact_url(url), len(history.items))
        # Pages run from new to old: a page that reaches past the date is the last one needed.
        if any(item.published_at is not None and item.published_at < since for item in entries):
            history.reached_since = True
            history.stopped = "reached the date"
            break
        url = _older_page(parsed, response.final_url)
        if url is None:
            history.stopped = "no older page"
    return history


def _older_page(parsed: Any, base: str) -> str | None:
    links = [link for link in parsed.feed.get("links", []) if link.get("href")]
    for rel in _OLDER:
        for link in links:
            if link.get("rel") == rel:
                target = urljoin(base, link["href"])
                if target.startswith(("http://", "https://")):
                    return target
    return None
