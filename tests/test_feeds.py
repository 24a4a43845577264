"""poll_feed against real loopback servers serving real feed bytes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from loopback import Handler, LoopbackServer, fetch_config, hang

from extractors.feeds import backoff_seconds, html_to_text, poll_feed
from extractors.http import Fetcher
from extractors.urls import url_key
from newswatch.config import FeedConfig, FetchConfig
from newswatch.records import FeedState

RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}
ATOM_TYPE = {"Content-Type": "application/atom+xml"}

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Testfeed</title>
  <link>https://www.example.de/</link>
  <language>de-DE</language>
  <item>
    <title>USA lockern Sanktionen gegen Belarus</title>
    <link>https://www.example.de/politik/belarus-sanktionen-100.html?utm_source=rss</link>
    <guid isPermaLink="false">ex-100</guid>
    <description><![CDATA[<p>Die <b>US-Regierung</b> hebt Sanktionen auf.</p><p>Lukaschenko l&auml;sst H&auml;ftlinge frei.</p><script>alert(1)</script>]]></description>
    <dc:creator>Anna Beispiel</dc:creator>
    <pubDate>Tue, 11 Nov 2025 14:30:00 +0100</pubDate>
  </item>
  <item>
    <title>Zweiter Artikel</title>
    <link>/politik/zweiter-101.html</link>
    <pubDate>Mon, 10 Nov 2025 08:00:00 GMT</pubDate>
  </item>
  <item>
    <title>Ohne Link</title>
    <description>Dieser Eintrag hat keinen Link.</description>
  </item>
  <item>
    <title>Script-Link</title>
    <link>javascript:alert(1)</link>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
  <title>Atom-Test</title>
  <id>urn:example:feed</id>
  <updated>2025-11-12T10:00:00Z</updated>
  <entry>
    <title type="html">Gespr&#228;che &lt;em&gt;zwischen&lt;/em&gt; Washington und Moskau</title>
    <link rel="alternate" href="/artikel/gespraeche"/>
    <id>urn:example:entry:1</id>
    <updated>2025-11-12T09:15:00+02:00</updated>
    <author><name>Max Muster</name></author>
    <content type="html">&lt;p&gt;Erster Absatz.&lt;/p&gt;&lt;p&gt;Zweiter Absatz.&lt;/p&gt;</content>
  </entry>
</feed>
"""


def item_xml(i: int, pub: str = "Tue, 11 Nov 2025 10:00:00 GMT", title: str | None = None) -> str:
    return (f"<item><title>{title or f'Artikel {i}'}</title>"
            f"<link>https://news.example.de/a/{i}</link><pubDate>{pub}</pubDate></item>")


def rss_of(*items: str, language: str = "de") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            f"<language>{language}</language>{''.join(items)}</channel></rss>").encode()


def config_for(*servers: LoopbackServer, **overrides: object) -> FetchConfig:
    return fetch_config(*servers, **{"backoff_base_seconds": 60.0, "backoff_max_seconds": 3600.0, **overrides})


def poll(server: LoopbackServer, path: str, state: FeedState | None = None, *,
         now: datetime | None = None, feed_language: str | None = None, **overrides: object):
    config = config_for(server, **overrides)
    feed = FeedConfig(name="test", url=server.url(path), language=feed_language)
    with Fetcher(config) as fetcher:
        return poll_feed(fetcher, feed, state, now or datetime.now(UTC), config)


# --------------------------------------------------------------------------------------------
# Parsing


def test_rss_items(loopback: LoopbackServer) -> None:
    loopback.route("/rss", 200, RSS_TYPE, RSS)
    now = datetime.now(UTC)
    result = poll(loopback, "/rss", now=now)
    assert result.status == "ok" and result.error is None
    assert [i.title for i in result.items] == ["USA lockern Sanktionen gegen Belarus", "Zweiter Artikel"]
    first, second = result.items
    assert first.feed_name == "test"
    assert first.url == "https://www.example.de/politik/belarus-sanktionen-100.html?utm_source=rss"
    assert first.url_key == url_key(first.url) == "//example.de/politik/belarus-sanktionen-100.html"
    assert first.guid == "ex-100"
    assert first.summary == "Die US-Regierung hebt Sanktionen auf. Lukaschenko lässt Häftlinge frei."
    assert first.author == "Anna Beispiel"
    assert first.published_at == datetime(2025, 11, 11, 13, 30, tzinfo=UTC)
    assert first.feed_language == "de"
    assert second.url == loopback.url("/politik/zweiter-101.html")  # relative to the feed URL
    state = result.state
    assert state.last_status == "ok" and state.last_http_status == 200
    assert state.items_seen == 2 and state.consecutive_failures == 0
    assert state.last_success_at == now and state.last_polled_at == now
    assert state.body_sha256 is not None and len(state.body_sha256) == 64


def test_atom_items_and_relative_links(loopback: LoopbackServer) -> None:
    loopback.route("/feeds/atom.xml", 200, ATOM_TYPE, ATOM)
    result = poll(loopback, "/feeds/atom.xml")
    assert result.status == "ok", result.error
    (item,) = result.items
    assert item.url == loopback.url("/artikel/gespraeche")
    assert item.title == "Gespräche zwischen Washington und Moskau"
    assert item.summary == "Erster Absatz. Zweiter Absatz."
    assert item.author == "Max Muster"
    assert item.guid == "urn:example:entry:1"
    assert item.published_at == datetime(2025, 11, 12, 7, 15, tzinfo=UTC)
    assert item.feed_language == "de"


def test_malformed_xml_keeps_valid_entries_and_records_error(loopback: LoopbackServer) -> None:
    broken = rss_of(item_xml(1), item_xml(2)).replace(
        b"</channel>", b"<item><title>Kaputt & <b>offen</title><link>https://news.example.de/a/3</link></item></channel>"
    )
    loopback.route("/broken", 200, RSS_TYPE, broken)
    result = poll(loopback, "/broken")
    assert result.status == "ok"
    assert result.error is not None and "malformed" in result.error and "line" in result.error
    assert loopback.url("/broken") in result.error
    urls = [i.url for i in result.items]
    assert "https://news.example.de/a/1" in urls and "https://news.example.de/a/2" in urls
    assert result.state.last_error == result.error
    assert result.state.consecutive_failures == 0


def test_titles_with_control_characters_and_html(loopback: LoopbackServer) -> None:
    titles = [
        "<![CDATA[Lukaschenko <b>l\u00e4sst</b>\n\t  H\u00e4ftlinge   frei]]>",
        "Steuer\x0bzeichen\x07 im\x1f Titel",
        "Sanktions\u00ader\u00adleich\u00adterungen &amp; mehr\u200b",
    ]
    body = rss_of(*(item_xml(i, title=t) for i, t in enumerate(titles)))
    loopback.route("/dirty", 200, RSS_TYPE, body)
    result = poll(loopback, "/dirty")
    assert result.status == "ok"
    got = [i.title for i in result.items]
    assert got[0] == "Lukaschenko lässt Häftlinge frei"
    assert got[1] is not None and not any(ord(c) < 32 for c in got[1])
    assert got[1].replace(" ", "") == "SteuerzeichenimTitel"
    assert got[2] == "Sanktionserleichterungen & mehr"


def test_invalid_and_absurd_dates_become_none(loopback: LoopbackServer) -> None:
    now = datetime.now(UTC)
    future = format_datetime(now + timedelta(days=30), usegmt=True)
    soon = format_datetime(now + timedelta(hours=3), usegmt=True)
    body = rss_of(
        item_xml(1, "Mon, 01 Jan 1900 00:00:00 GMT"),
        item_xml(2, future),
        item_xml(3, "not a date at all"),
        item_xml(4, "Fri, 31 Feb 2025 25:61:00 GMT"),
        item_xml(5, soon),  # a few hours ahead: clock skew, kept
        item_xml(6, "Tue, 11 Nov 2025 10:00:00 +0200"),
    )
    loopback.route("/dates", 200, RSS_TYPE, body)
    result = poll(loopback, "/dates", now=now)
    dates = {i.url.rsplit("/", 1)[1]: i.published_at for i in result.items}
    assert len(dates) == 6, "entries with bad dates are kept, only the date is dropped"
    assert dates["1"] is None and dates["2"] is None and dates["3"] is None and dates["4"] is None
    assert dates["5"] is not None and dates["5"].tzinfo is not None
    assert dates["6"] == datetime(2025, 11, 11, 8, 0, tzinfo=UTC)


def test_language_normalised_or_taken_from_config(loopback: LoopbackServer) -> None:
    loopback.route("/de-at", 200, RSS_TYPE, rss_of(item_xml(1), language="de-AT"))
    loopback.route("/none", 200, RSS_TYPE, rss_of(item_xml(1), language=""))
    assert poll(loopback, "/de-at").items[0].feed_language == "de"
    assert poll(loopback, "/none", feed_language="de").items[0].feed_language == "de"
    assert poll(loopback, "/none").items[0].feed_language is None


def test_max_items_and_duplicate_links(loopback: LoopbackServer) -> None:
    items = [item_xml(i) for i in range(20)] + [item_xml(0)]
    loopback.route("/many", 200, RSS_TYPE, rss_of(*items))
    assert len(poll(loopback, "/many", max_items_per_feed=5).items) == 5
    assert len(poll(loopback, "/many").items) == 20  # the repeated link appears once


def test_html_page_served_as_feed_fails(loopback: LoopbackServer) -> None:
    page = b"<!doctype html><html><head><title>Startseite</title></head><body><p>Hallo</p></body></html>"
    loopback.route("/feed", 200, {"Content-Type": "text/html; charset=utf-8"}, page)
    result = poll(loopback, "/feed")
    assert result.status == "failed" and result.items == []
    assert result.error is not None and "not a feed" in result.error and "text/html" in result.error
    assert result.state.consecutive_failures == 1 and result.state.body_sha256 is None


def test_binary_served_as_feed_fails(loopback: LoopbackServer) -> None:
    loopback.route("/bin", 200, RSS_TYPE, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    result = poll(loopback, "/bin")
    assert result.status == "failed" and "not a feed" in (result.error or "")


def test_feed_served_as_text_plain_is_ok(loopback: LoopbackServer) -> None:
    loopback.route("/feed.txt", 200, {"Content-Type": "text/plain"}, rss_of(item_xml(1)))
    result = poll(loopback, "/feed.txt")
    assert result.status == "ok" and len(result.items) == 1 and result.error is None


def test_empty_but_valid_feed_is_ok(loopback: LoopbackServer) -> None:
    loopback.route("/empty", 200, RSS_TYPE, rss_of())
    result = poll(loopback, "/empty")
    assert result.status == "ok" and result.items == [] and result.error is None


# --------------------------------------------------------------------------------------------
# Failures and backoff


@pytest.mark.parametrize("status", [404, 500, 410])
def test_http_errors_fail_with_exponential_backoff(loopback: LoopbackServer, status: int) -> None:
    loopback.route("/feed", status)
    now = datetime(2025, 11, 12, 12, 0, tzinfo=UTC)
    first = poll(loopback, "/feed", now=now)
    assert first.status == "failed"
    assert first.error == f"{loopback.url('/feed')}: HTTP {status}"
    state = first.state
    assert state.consecutive_failures == 1 and state.last_http_status == status
    assert state.last_error == first.error and state.last_status == "failed"
    assert state.next_poll_at == now + timedelta(seconds=60)
    second = poll(loopback, "/feed", state, now=state.next_poll_at)
    assert second.state.consecutive_failures == 2
    assert second.state.next_poll_at == state.next_poll_at + timedelta(seconds=120)


def test_backoff_is_capped() -> None:
    config = FetchConfig(backoff_base_seconds=60, backoff_max_seconds=3600)
    assert [backoff_seconds(n, config) for n in (1, 2, 3, 7, 8, 500)] == [60, 120, 240, 3600, 3600, 3600]
    assert backoff_seconds(1, config, retry_after=86_400) == 86_400
    assert backoff_seconds(1, config, retry_after=10**9) == 7 * 24 * 3600


def test_429_retry_after_seconds_is_honoured(loopback: LoopbackServer) -> None:
    loopback.route("/feed", 429, {"Retry-After": "7200"})
    now = datetime.now(UTC)
    result = poll(loopback, "/feed", now=now)
    assert result.status == "failed" and "HTTP 429" in (result.error or "")
    assert result.state.next_poll_at == now + timedelta(seconds=7200)


def test_503_retry_after_http_date_is_honoured(loopback: LoopbackServer) -> None:
    now = datetime.now(UTC)
    loopback.route("/feed", 503, {"Retry-After": format_datetime(now + timedelta(hours=3), usegmt=True)})
    result = poll(loopback, "/feed", now=now)
    assert result.status == "failed"
    wait = (result.state.next_poll_at - now).total_seconds()
    assert 3 * 3600 - 5 <= wait <= 3 * 3600 + 1


def test_short_retry_after_does_not_undercut_backoff(loopback: LoopbackServer) -> None:
    loopback.route("/feed", 503, {"Retry-After": "5"})
    now = datetime.now(UTC)
    result = poll(loopback, "/feed", now=now)
    assert result.state.next_poll_at == now + timedelta(seconds=60)


def test_backoff_skips_the_request(loopback: LoopbackServer) -> None:
    loopback.route("/feed", 200, RSS_TYPE, rss_of(item_xml(1)))
    now = datetime.now(UTC)
    state = FeedState(name="test", url=loopback.url("/feed"), consecutive_failures=3,
                      next_poll_at=now + timedelta(minutes=5), last_error="earlier")
    result = poll(loopback, "/feed", state, now=now)
    assert result.status == "backoff" and result.items == []
    assert result.state == state
    assert loopback.hits("/feed") == 0
    recovered = poll(loopback, "/feed", state, now=now + timedelta(minutes=6))
    assert recovered.status == "ok"
    assert recovered.state.consecutive_failures == 0 and recovered.state.next_poll_at is None
    assert recovered.state.last_error is None


def test_timeout_becomes_failed_not_exception(loopback: LoopbackServer) -> None:
    loopback.route("/feed", hang())
    result = poll(loopback, "/feed", read_timeout_seconds=0.3)
    assert result.status == "failed" and "timeout" in (result.error or "")


def test_ssrf_refusal_becomes_failed(loopback: LoopbackServer) -> None:
    config = FetchConfig()
    feed = FeedConfig(name="meta", url="http://169.254.169.254/latest/meta-data/")
    with Fetcher(config) as fetcher:
        result = poll_feed(fetcher, feed, None, datetime.now(UTC), config)
    assert result.status == "failed" and "not allowed" in (result.error or "")


def test_failure_keeps_previous_validators(loopback: LoopbackServer) -> None:
    loopback.route("/feed", 500, {"ETag": '"error-page"'})
    state = FeedState(name="test", url=loopback.url("/feed"), etag='"v7"', body_sha256="ab" * 32,
                      last_modified="Tue, 11 Nov 2025 10:00:00 GMT", items_seen=12)
    result = poll(loopback, "/feed", state)
    assert result.state.etag == '"v7"' and result.state.body_sha256 == "ab" * 32
    assert result.state.last_modified == "Tue, 11 Nov 2025 10:00:00 GMT"
    assert result.state.items_seen == 12


# --------------------------------------------------------------------------------------------
# Conditional GET


def test_etag_conditional_get(loopback: LoopbackServer) -> None:
    body = rss_of(item_xml(1))

    def handler(h: Handler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            h.respond(304, {"ETag": '"v1"'})
        else:
            h.respond(200, {**RSS_TYPE, "ETag": '"v1"', "Last-Modified": "Tue, 11 Nov 2025 10:00:00 GMT"}, body)

    loopback.route("/feed", handler)
    first = poll(loopback, "/feed")
    assert first.status == "ok" and first.state.etag == '"v1"'
    second = poll(loopback, "/feed", first.state)
    assert second.status == "not_modified" and second.items == []
    assert second.state.last_http_status == 304 and second.state.items_seen == 1
    request = loopback.requests[-1].headers
    assert request["if-none-match"] == '"v1"'
    assert request["if-modified-since"] == "Tue, 11 Nov 2025 10:00:00 GMT"


def test_same_body_under_a_new_etag_is_not_modified(loopback: LoopbackServer) -> None:
    body = rss_of(item_xml(1), item_xml(2))
    counter = itertools.count()

    def handler(h: Handler) -> None:
        h.respond(200, {**RSS_TYPE, "ETag": f'"{next(counter)}"'}, body)  # ETags that lie

    loopback.route("/feed", handler)
    first = poll(loopback, "/feed")
    second = poll(loopback, "/feed", first.state)
    assert first.status == "ok" and len(first.items) == 2
    assert second.status == "not_modified" and second.items == []
    assert second.state.etag == '"1"'  # the newest validator is kept
    assert second.state.items_seen == 2


def test_feeds_ignore_robots_txt(loopback: LoopbackServer) -> None:
    loopback.route("/robots.txt", 200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /\n")
    loopback.route("/feed", 200, RSS_TYPE, rss_of(item_xml(1)))
    assert poll(loopback, "/feed").status == "ok"
    assert loopback.hits("/robots.txt") == 0


def test_html_to_text() -> None:
    assert html_to_text("<p>a</p><p>b&nbsp;c</p><style>x{}</style>") == "a b c"
    assert html_to_text("plain") == "plain"
    assert html_to_text("") is None and html_to_text("<br>") is None
