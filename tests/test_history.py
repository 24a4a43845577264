"""Reading a feed's history back to a date (RFC 5005 paged and archived feeds), for backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from extractors.history import read_history
from extractors.http import Fetcher
from loopback import LoopbackServer
from newswatch.config import FeedConfig
from test_feeds import config_for

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RSS = "application/rss+xml"


def _page(server: LoopbackServer, days: list[int], next_path: str | None = None, rel: str = "next") -> bytes:
    """An RSS document with one item per entry of `days` (published that many days before NOW)."""
    link = f'<atom:link rel="{rel}" href="{server.url(next_path)}"/>' if next_path else ""
    items = "".join(
        f"<item><title>Artikel {d}</title><link>https://news.example.de/a/{d}</link>"
        f"<pubDate>{format_datetime(NOW - timedelta(days=d))}</pubDate></item>"
        for d in days
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>T</title><language>de</language>{link}{items}</channel></rss>"
    ).encode()


def _read(server: LoopbackServer, since_days: int, **kwargs: object):
    config = config_for(server)
    feed = FeedConfig(name="history", url=server.url("/feed.xml"))
    with Fetcher(config) as fetcher:
        return read_history(fetcher, feed, NOW - timedelta(days=since_days), config, now=NOW, **kwargs)


def _days(history) -> list[int]:
    return [int(item.url.rsplit("/", 1)[1]) for item in history.items]


def test_paged_feed_is_followed_back_to_the_date(loopback: LoopbackServer) -> None:
    loopback.route("/feed.xml", 200, {"Content-Type": RSS}, _page(loopback, [0, 1, 2], "/page2.xml"))
    loopback.route("/page2.xml", 200, {"Content-Type": RSS}, _page(loopback, [3, 4, 5], "/page3.xml"))
    loopback.route("/page3.xml", 200, {"Content-Type": RSS}, _page(loopback, [6, 7, 8], "/page4.xml"))
    loopback.route("/page4.xml", 200, {"Content-Type": RSS}, _page(loopback, [9, 10], None))
    pages_seen: list[int] = []
    history = _read(loopback, since_days=7, on_page=lambda url, items: pages_seen.append(items))
    assert _days(history) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert history.reached_since and history.stopped == "reached the date"
    assert history.pages == 3 and pages_seen == [3, 6, 8]
    assert loopback.hits("/page4.xml") == 0  # page 3 already went past the date


def test_archived_feed_follows_prev_archive(loopback: LoopbackServer) -> None:
    loopback.route("/feed.xml", 200, {"Content-Type": RSS}, _page(loopback, [0, 1], "/2026-10.xml", rel="prev-archive"))
    loopback.route("/2026-10.xml", 200, {"Content-Type": RSS}, _page(loopback, [20, 30], None))
    history = _read(loopback, since_days=60)
    assert _days(history) == [0, 1, 20, 30]
    assert not history.reached_since and history.stopped == "no older page"


def test_a_feed_without_history_gives_its_document(loopback: LoopbackServer) -> None:
    loopback.route("/feed.xml", 200, {"Content-Type": RSS}, _page(loopback, [0, 1, 2]))
    history = _read(loopback, since_days=1)
    assert _days(history) == [0, 1]
    assert history.pages == 1 and history.reached_since


def test_a_link_loop_and_the_page_limit_end_the_walk(loopback: LoopbackServer) -> None:
    loopback.route("/feed.xml", 200, {"Content-Type": RSS}, _page(loopback, [0], "/p2.xml"))
    loopback.route("/p2.xml", 200, {"Content-Type": RSS}, _page(loopback, [1], "/feed.xml"))
    history = _read(loopback, since_days=30)
    assert _days(history) == [0, 1] and "already read" in history.stopped
    assert loopback.hits("/feed.xml") == 1

    limited = _read(loopback, since_days=30, max_pages=1)
    assert _days(limited) == [0] and history.error is None
    assert limited.stopped == "page limit (1 documents)"


def test_a_failing_page_keeps_what_was_read_and_names_the_url(loopback: LoopbackServer) -> None:
    loopback.route("/feed.xml", 200, {"Content-Type": RSS}, _page(loopback, [0, 1], "/broken.xml"))
    loopback.route("/broken.xml", 500)
    history = _read(loopback, since_days=30)
    assert _days(history) == [0, 1]
    assert history.error is not None and "/broken.xml" in history.error and "500" in history.error


def test_a_history_link_to_a_refused_address_is_not_followed(loopback: LoopbackServer) -> None:
    body = _page(loopback, [0], None).replace(
        b"<channel><title>T</title>",
        b'<channel><title>T</title><atom:link rel="next" href="http://169.254.169.254/latest/meta-data/"/>',
    )
    loopback.route("/feed.xml", 200, {"Content-Type": RSS}, body)
    history = _read(loopback, since_days=30)
    assert _days(history) == [0]
    assert history.error is not None and "169.254.169.254" in history.error


def test_undated_entries_count_as_recent_and_duplicates_once(loopback: LoopbackServer) -> None:
    undated = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>T</title>'
        f'<atom:link rel="next" href="{loopback.url("/p2.xml")}"/>'
        "<item><title>Ohne Datum</title><link>https://news.example.de/a/u</link></item>"
        "<item><title>A</title><link>https://news.example.de/a/0?utm_source=x</link></item>"
        "</channel></rss>"
    ).encode()
    loopback.route("/feed.xml", 200, {"Content-Type": RSS}, undated)
    loopback.route("/p2.xml", 200, {"Content-Type": RSS}, _page(loopback, [0, 40], None))
    history = _read(loopback, since_days=30)
    assert [item.url.rsplit("/", 1)[1] for item in history.items] == ["u", "0?utm_source=x"]
    assert history.reached_since and history.pages == 2
