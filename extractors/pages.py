"""Fetching one article page: robots.txt, content-type and binary checks.

`fetch_page` never raises for page problems: the returned FetchedPage has `body=None` and an
`error` naming the URL and the reason. The body is handed on as served (decompressed and capped):
it is decoded where its article is built (extractors/charsets.py, in the extraction workers).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from extractors.charsets import SNIFF_BYTES, looks_binary
from extractors.http import Fetcher, FetchError
from extractors.urls import redact_url
from newswatch.config import FetchConfig
from newswatch.records import FeedItem, FetchedPage

__all__ = ["HTML_ACCEPT", "HTML_TYPES", "fetch_page"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_HTML_SNIFF = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)


def fetch_page(fetcher: Fetcher, item: FeedItem, config: FetchConfig) -> FetchedPage:
    """Fetch `item.url` as HTML; never raises for page problems (see FetchedPage.error)."""
    page = FetchedPage(item=item, fetched_at=datetime.now(UTC))
    url = item.url
    shown = redact_url(url)
    try:
        if config.respect_robots_txt:
            fetcher.ensure_robots_allowed(url)  # only article pages; feeds are meant to be polled
        response = fetcher.get(url, max_bytes=config.max_page_bytes, accept=HTML_ACCEPT)
    except FetchError as error:
        page.error = str(error)
        page.http_status = getattr(error, "status", None)
        return page
    page.final_url = response.final_url
    page.http_status = response.status
    page.content_type = response.content_type
    body = response.body
    if response.status == 304 or not body:
        page.error = f"{shown}: empty response (HTTP {response.status})"
        return page
    if response.content_type is None:
        if not _HTML_SNIFF.search(body[:SNIFF_BYTES]):
            page.error = f"{shown}: not HTML (no content type and no <html> in the first bytes)"
            return page
    elif response.content_type not in HTML_TYPES:
        page.error = f"{shown}: not HTML (content type {response.content_type})"
        return page
    # NUL bytes and control characters: a look at the first bytes, no decoding (that is the worker's)
    if looks_binary(body):
        served = response.content_type or "no content type"
        page.error = f"{shown}: not HTML (binary content, served as {served})"
        return page
    page.body, page.charset = body, response.charset
    return page
