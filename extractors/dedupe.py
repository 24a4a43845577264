"""Dedupe before fetching: an item whose URL or GUID is already known is never fetched again.

Keys live in one namespace: `//host/path?query` for URLs (extractors.urls.url_key) and
`guid:<feed>:<guid>` for GUIDs that are not URLs (plain GUIDs like "12345" are only unique within
their feed). After fetching, the page's canonical URL is one more key (see flows/monitor.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from extractors.urls import article_id_for, url_key
from newswatch.records import Article, FeedItem


def guid_key(feed_name: str, guid: str) -> str:
    guid = guid.strip()
    if guid.lower().startswith(("http://", "https://")):
        return url_key(guid)
    return f"guid:{feed_name}:{guid}"


def _unique(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """First kind wins for a key that two sources give (a GUID that is the item's URL)."""
    unique: dict[str, str] = {}
    for key, kind in keys:
        unique.setdefault(key, kind)
    return list(unique.items())


def _feed_keys(key: str, feed_name: str | None, guid: str | None) -> list[tuple[str, str]]:
    keys = [(key, "url")]
    if guid and feed_name:
        keys.append((guid_key(feed_name, guid), "guid"))
    return keys


def keys_for_item(item: FeedItem) -> list[tuple[str, str]]:
    """(key, kind) pairs an item is known by before fetching, most specific first."""
    return _unique(_feed_keys(item.url_key, item.feed_name, item.guid))


def keys_for_article(article: Article) -> list[tuple[str, str]]:
    """Every key a fetched article is known by: the feed's URL and GUID, the URL after
    redirects (`final`) and the page's canonical link."""
    keys = _feed_keys(article.url_key, article.feed_name, article.guid)
    keys.append((url_key(article.url), "final"))
    if article.canonical_url:
        keys.append((url_key(article.canonical_url), "canonical"))
    return _unique(keys)


class KnownKeys:
    """Keys already stored (key -> article_id) plus those claimed during this pass.

    Shared by the feed tasks of one pass, which run in threads: claims are atomic.
    """

    def __init__(self, stored: dict[str, str] | None = None):
        self._keys: dict[str, str] = dict(stored or {})
        self._lock = threading.Lock()

    def article_for(self, keys: Iterable[str]) -> str | None:
        return next((self._keys[key] for key in keys if key in self._keys), None)

    def claim(self, keys: Iterable[str], article_id: str) -> str | None:
        """Claim all keys for `article_id`; if one is already known, claim nothing and return
        the article it belongs to."""
        keys = list(keys)
        with self._lock:
            existing = self.article_for(keys)
            if existing is not None:
                return existing
            for key in keys:
                self._keys[key] = article_id
            return None

    def split_new(self, items: Iterable[FeedItem]) -> tuple[list[FeedItem], list[tuple[FeedItem, str]]]:
        """New items (now claimed, so a second feed listing them does not fetch them too) and
        known ones with the id of the article they duplicate."""
        new: list[FeedItem] = []
        known: list[tuple[FeedItem, str]] = []
        for item in items:
            existing = self.claim((key for key, _ in keys_for_item(item)), article_id_for(item.url_key))
            if existing is None:
                new.append(item)
            else:
                known.append((item, existing))
        return new, known
