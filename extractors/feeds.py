"""Polling one feed: conditional GET with the guarded Fetcher, bytes into feedparser, backoff.

`poll_feed` never raises for network or parse problems: they become a FeedPoll with status
"failed" and an `error` naming the feed URL, and the returned FeedState carries the backoff.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from extractors.http import Fetcher, FetchError, FetchResponse, HttpStatusError
from extractors.urls import redact_url
from extractors.urls import url_key
from newswatch.config import FeedConfig, FetchConfig
from newswatch.records import FeedItem, FeedPoll, FeedState

__all__ = [
    "FEED_ACCEPT", "backoff_seconds", "html_to_text", "clean_text", "parse_feed_response", "poll_feed",
]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# A hostile or broken Retry-After ("come back in ten years") must not silence a feed for good.
MAX_RETRY_AFTER_SECONDS = 7 * 24 * 3600.0
_EARLIEST_YEAR = 1990
_FUTURE_SLACK = timedelta(days=2)


# --------------------------------------------------------------------------------------------
# Text cleaning

# Invisible characters that break matching: soft hyphen, zero-width space/joiners, word joiner, BOM.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table td th tr ul".split()
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def clean_text(text: str | None) -> str | None:
    """NFC, control and invisible characters removed, whitespace collapsed; None if empty."""
    if not text:
        return None
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = "".join(
        " " if ch in "\t\n\r\f\v" else ch
        for ch in text
        if ch in "\t\n\r\f\v" or unicodedata.category(ch) != "Cc"
    )
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def html_to_text(markup: str | None) -> str | None:
    """Plain text of an HTML fragment (tags dropped, entities decoded, blocks separated)."""
    if not markup:
        return None
    if "<" not in markup and "&" not in markup:
        return clean_text(markup)
    collector = _TextCollector()
    try:
        collector.feed(markup)
        collector.close()
        text = "".join(collector.parts)
    except Exception:  # html.parser is lenient; this is belt and braces
        text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return clean_text(text)


# --------------------------------------------------------------------------------------------
# Entries


def _language(value: str | None) -> str | None:
    """'de-DE' -> 'de'; anything that is not a two-letter primary tag -> None."""
    if not value:
        return None
    primary = re.split(r"[-_\s]", value.strip(), maxsplit=1)[0].lower()
    return primary if re.fullmatch(r"[a-z]{2}", primary) else None


def _entry_date(entry: Any, now: datetime) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = dict.get(entry, key)  # plain lookup: skip feedparser's deprecated key aliasing
        if not parsed:
            continue
        try:
            when = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
        except (OverflowError, ValueError, OSError, TypeError):
            continue
        if when.year < _EARLIEST_YEAR or when > now + _FUTURE_SLACK:
            return None  # absurd: better no date than a wrong one
        return when
    return None


def _entry_link(entry: Any, base: str) -> str | None:
    candidates: list[str] = []
    if entry.get("link"):
        candidates.append(entry["link"])
    for link in entry.get("links") or []:
        if link.get("href") and link.get("rel", "alternate") == "alternate":
            candidates.append(link["href"])
    guid = entry.get("id")
    if guid and (entry.get("guidislink") or str(guid).startswith(("http://", "https://"))):
        candidates.append(guid)
    for candidate in candidates:
        url = urljoin(base, str(candidate).strip())
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname:
            return url
    return None


def _entry_summary(entry: Any) -> str | None:
    summary = html_to_text(entry.get("summary"))
    if summary:
        return summary
    for content in entry.get("content") or []:
        text = html_to_text(content.get("value"))
        if text:
            return text
    return None


def _items(parsed: Any, feed: FeedConfig, base: str, now: datetime, limit: int) -> list[FeedItem]:
    language = _language(parsed.feed.get("language")) or _language(feed.language)
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        if len(items) >= limit:
            break
        link = _entry_link(entry, base)
        if link is None:
            continue
        key = url_key(link)
        if key in seen:
            continue
        seen.add(key)
        guid = entry.get("id")
        items.append(
            FeedItem(
                feed_name=feed.name,
                url=link,
                url_key=key,
                guid=clean_text(str(guid)) if guid else None,
                title=html_to_text(entry.get("title")),
                summary=_entry_summary(entry),
                author=html_to_text(entry.get("author")),
                published_at=_entry_date(entry, now),
                feed_language=language,
            )
        )
    return items


def _bozo_message(exc: Any) -> str:
    line = None
    get_line = getattr(exc, "getLineNumber", None)
    if callable(get_line):
        try:
            line = get_line()
        except Exception:
            line = None
    message = getattr(exc, "getMessage", None)
    text = str(message() if callable(message) else exc) or type(exc).__name__
    text = clean_text(text) or type(exc).__name__
    if type(exc).__name__ == "NonXMLContentType":
        return f"served as non-XML ({text})"[:300]
    if type(exc).__name__ in ("CharacterEncodingOverride", "CharacterEncodingUnknown"):
        return f"feed encoding problem: {text}"[:300]
    where = f" at line {line}" if line else ""
    return f"feed XML malformed{where}: {text}"[:300]


def parse_feed_response(response: FetchResponse) -> tuple[Any, str | None]:
    """The fetched document through feedparser (its content type and final URL as the headers),
    and None when it is recognised as a feed (a version or any entries). When it is not, the
    second value is the hint for the "not a feed" error instead: ": <what feedparser found>" if
    feedparser flagged the document, else "". feedparser's own exceptions propagate."""
    parsed = feedparser.parse(
        response.body,
        response_headers={
            "content-type": response.headers.get("content-type", "application/xml"),
            "content-location": response.final_url,
        },
    )
    if parsed.get("version") or parsed.entries:
        return parsed, None
    return parsed, (f": {_bozo_message(parsed.bozo_exception)}" if parsed.get("bozo") else "")


# --------------------------------------------------------------------------------------------
# Polling


def backoff_seconds(failures: int, config: FetchConfig, retry_after: float | None = None) -> float:
    """Exponential backoff after `failures` consecutive failures, at least Retry-After."""
    exponent = min(max(failures, 1) - 1, 40)
    delay = min(config.backoff_base_seconds * 2.0**exponent, config.backoff_max_seconds)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def poll_feed(
    fetcher: Fetcher,
    feed: FeedConfig,
    state: FeedState | None,
    now: datetime,
    config: FetchConfig,
) -> FeedPoll:
    """Poll `feed` once; network and parse problems become status "failed", never exceptions."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if state is None:
        state = FeedState(name=feed.name, url=feed.url)
    if state.next_poll_at is not None and _aware(state.next_poll_at) > now:
        return FeedPoll(feed_name=feed.name, status="backoff", state=state)

    new = dataclasses.replace(state, last_polled_at=now)
    if new.url != feed.url:  # the configured URL changed: old validators belong to the old URL
        new.url, new.etag, new.last_modified, new.body_sha256 = feed.url, None, None, None

    headers: dict[str, str] = {}
    if new.etag:
        headers["If-None-Match"] = new.etag
    if new.last_modified:
        headers["If-Modified-Since"] = new.last_modified

    try:
        response = fetcher.get(
            feed.url, max_bytes=config.max_feed_bytes, headers=headers, accept=FEED_ACCEPT
        )
    except HttpStatusError as error:
        return _failed(feed, new, now, config, str(error), error.status, error.retry_after_seconds)
    except FetchError as error:
        return _failed(feed, new, now, config, str(error), None, None)

    # Validators are stored only after a success: an HTML error page's ETag must not turn the
    # next poll into a 304 that hides the failure.
    etag = response.headers.get("etag") or new.etag
    last_modified = response.headers.get("last-modified") or new.last_modified
    if response.status == 304:
        new.etag, new.last_modified, new.last_http_status = etag, last_modified, 304
        return _not_modified(feed, new, now)
    digest = hashlib.sha256(response.body).hexdigest()
    if new.body_sha256 is not None and digest == new.body_sha256:  # ETags lie
        new.etag, new.last_modified, new.last_http_status = etag, last_modified, response.status
        return _not_modified(feed, new, now)

    try:
        parsed, hint = parse_feed_response(response)
        if hint is not None:
            kind = response.content_type or "no content type"
            return _failed(
                feed, new, now, config,
                f"{redact_url(feed.url)}: not a feed (RSS/Atom not recognised; {kind}){hint}",
                response.status, None,
            )
        items = _items(parsed, feed, response.final_url, now, config.max_items_per_feed)
    except Exception as error:  # feedparser or our conversion choked: one feed, not the pass
        return _failed(
            feed, new, now, config, f"{redact_url(feed.url)}: feed could not be parsed: "
            f"{type(error).__name__}: {error}", response.status, None,
        )

    warning = None
    # A feed served as text/html or text/plain is common and harmless once it parsed.
    if parsed.get("bozo") and type(parsed.get("bozo_exception")).__name__ != "NonXMLContentType":
        warning = f"{redact_url(feed.url)}: {_bozo_message(parsed.bozo_exception)}"
    new.etag, new.last_modified, new.last_http_status = etag, last_modified, response.status
    new.body_sha256 = digest
    new.items_seen += len(items)
    return _succeeded(feed, new, now, "ok", items, warning)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _succeeded(
    feed: FeedConfig,
    state: FeedState,
    now: datetime,
    status: str,
    items: list[FeedItem] | None = None,
    warning: str | None = None,
) -> FeedPoll:
    state.last_success_at = now
    state.last_status = status
    state.consecutive_failures = 0
    state.last_error = warning
    state.next_poll_at = None
    return FeedPoll(
        feed_name=feed.name, status=status, state=state, items=items or [], error=warning  # type: ignore[arg-type]
    )


def _not_modified(feed: FeedConfig, state: FeedState, now: datetime) -> FeedPoll:
    # Same content as the last successful poll: a parse warning stored then still applies.
    warning = state.last_error if state.consecutive_failures == 0 else None
    poll = _succeeded(feed, state, now, "not_modified")
    state.last_error = warning
    return poll


def _failed(
    feed: FeedConfig,
    state: FeedState,
    now: datetime,
    config: FetchConfig,
    error: str,
    http_status: int | None,
    retry_after: float | None,
) -> FeedPoll:
    state.consecutive_failures += 1
    state.last_status = "failed"
    state.last_http_status = http_status
    state.last_error = error
    state.next_poll_at = now + timedelta(
        seconds=backoff_seconds(state.consecutive_failures, config, retry_after)
    )
    return FeedPoll(feed_name=feed.name, status="failed", state=state, error=error)
