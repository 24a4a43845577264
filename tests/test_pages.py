"""fetch_page against real loopback servers: robots.txt, content types, charsets, limits."""

from __future__ import annotations

import codecs
import gzip
import random
import zlib

import pytest
from loopback import LoopbackServer, drip, fetch_config

from extractors.articles import build_article
from extractors.charsets import decode_html, page_markup
from extractors.http import Fetcher
from extractors.pages import fetch_page
from extractors.urls import url_key
from newswatch.config import FetchConfig
from newswatch.records import FeedItem, FetchedPage

GERMAN = "Weißrussland: Größere Erleichterungen für Häftlinge, sagt Außenminister Müller – „Öffnung“."


def page_html(text: str = GERMAN, head: str = "") -> str:
    return f"<!DOCTYPE html><html lang='de'><head>{head}<title>Test</title></head><body><p>{text}</p></body></html>"


def text_of(page: FetchedPage) -> str:
    """The page as the extraction workers decode it ("" when it is refused there or before)."""
    if page.body is None:
        return ""
    markup, _error = page_markup(page)
    return markup.decode("utf-8") if isinstance(markup, bytes) else markup or ""


def config_for(*servers: LoopbackServer, **overrides: object) -> FetchConfig:
    return fetch_config(*servers, **{"respect_robots_txt": False, **overrides})


def item_for(url: str) -> FeedItem:
    return FeedItem(feed_name="test", url=url, url_key=url_key(url), title="Test")


def fetch(server: LoopbackServer, path: str, **overrides: object) -> FetchedPage:
    config = config_for(server, **overrides)
    with Fetcher(config) as fetcher:
        return fetch_page(fetcher, item_for(server.url(path)), config)


# --------------------------------------------------------------------------------------------
# The happy path


def test_html_page_fetched(loopback: LoopbackServer) -> None:
    loopback.route("/a", 200, {"Content-Type": "text/html; charset=utf-8"}, page_html())
    page = fetch(loopback, "/a")
    assert page.error is None
    assert GERMAN in text_of(page)
    assert page.http_status == 200 and page.content_type == "text/html"
    assert page.final_url == loopback.url("/a")
    assert page.fetched_at is not None and page.fetched_at.tzinfo is not None
    assert page.item.url == loopback.url("/a")


def test_xhtml_and_gzip_accepted(loopback: LoopbackServer) -> None:
    body = gzip.compress(page_html().encode())
    loopback.route("/x", 200, {"Content-Type": "application/xhtml+xml", "Content-Encoding": "gzip"}, body)
    page = fetch(loopback, "/x")
    assert page.error is None and GERMAN in text_of(page)


# --------------------------------------------------------------------------------------------
# Charsets


def test_pages_are_decoded_where_their_articles_are_built(loopback: LoopbackServer) -> None:
    """The fetching process hands on the bytes as served; the worker decodes them. UTF-8 bytes go to
    the parser as they are, anything else as decoded text."""
    story = f"<p>{GERMAN}</p>" * 8
    utf8 = page_html(story).encode("utf-8")
    latin1 = page_html(story).encode("cp1252")
    loopback.route("/utf8", 200, {"Content-Type": "text/html; charset=utf-8"}, utf8)
    loopback.route("/latin1", 200, {"Content-Type": "text/html; charset=iso-8859-1"}, latin1)
    as_utf8, as_latin1 = fetch(loopback, "/utf8"), fetch(loopback, "/latin1")
    assert as_utf8.body == utf8 and as_latin1.body == latin1
    assert as_latin1.charset == "iso-8859-1"
    assert page_markup(as_utf8) == (utf8, None)
    assert page_markup(as_latin1) == (page_html(story), None)
    for page in (as_utf8, as_latin1):
        article = build_article(page)
        assert article.text_source == "page" and GERMAN in article.text
        assert article.language == "de"


def test_declared_utf8_but_latin1_bytes(loopback: LoopbackServer) -> None:
    loopback.route("/wrong", 200, {"Content-Type": "text/html; charset=utf-8"},
                   page_html(head='<meta charset="utf-8">').encode("cp1252"))
    page = fetch(loopback, "/wrong")
    assert page.error is None
    assert GERMAN in text_of(page)
    assert "\ufffd" not in text_of(page)


def test_meta_charset_only(loopback: LoopbackServer) -> None:
    body = page_html(head='<meta charset="windows-1252">').encode("cp1252")
    loopback.route("/meta", 200, {"Content-Type": "text/html"}, body)
    assert GERMAN in text_of(fetch(loopback, "/meta"))


def test_http_equiv_charset(loopback: LoopbackServer) -> None:
    head = '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-15">'
    text = GERMAN.replace("–", "-").replace("„", '"').replace("“", '"') + " 100 €"
    body = page_html(text, head=head).encode("iso-8859-15")
    loopback.route("/equiv", 200, {"Content-Type": "text/html"}, body)
    assert text in text_of(fetch(loopback, "/equiv"))


def test_no_charset_anywhere_latin1(loopback: LoopbackServer) -> None:
    loopback.route("/none", 200, {"Content-Type": "text/html"}, page_html().encode("cp1252"))
    assert GERMAN in text_of(fetch(loopback, "/none"))


def test_no_charset_anywhere_utf8(loopback: LoopbackServer) -> None:
    loopback.route("/none8", 200, {"Content-Type": "text/html"}, page_html().encode("utf-8"))
    assert GERMAN in text_of(fetch(loopback, "/none8"))


def test_utf8_bytes_declared_latin1(loopback: LoopbackServer) -> None:
    loopback.route("/mislabel", 200, {"Content-Type": "text/html; charset=iso-8859-1"},
                   page_html().encode("utf-8"))
    assert GERMAN in text_of(fetch(loopback, "/mislabel"))


def test_bom_wins(loopback: LoopbackServer) -> None:
    loopback.route("/bom", 200, {"Content-Type": "text/html; charset=iso-8859-1"},
                   codecs.BOM_UTF8 + page_html().encode("utf-8"))
    loopback.route("/bom16", 200, {"Content-Type": "text/html"},
                   codecs.BOM_UTF16_LE + page_html().encode("utf-16-le"))
    assert GERMAN in text_of(fetch(loopback, "/bom"))
    page = fetch(loopback, "/bom16")
    assert page.error is None and GERMAN in text_of(page)


def test_unknown_declared_charset_falls_back(loopback: LoopbackServer) -> None:
    loopback.route("/bogus", 200, {"Content-Type": "text/html; charset=x-no-such-charset"},
                   page_html().encode("cp1252"))
    assert GERMAN in text_of(fetch(loopback, "/bogus"))


def test_decode_html_other_languages() -> None:
    polish = "Zażółć gęślą jaźń: rozmowy o sankcjach wobec Białorusi trwają w Warszawie."
    text, codec = decode_html(page_html(polish).encode("cp1250"))
    assert polish in text, codec
    russian = "Переговоры о снятии санкций с Белоруссии продолжаются в Минске и Вашингтоне."
    text, codec = decode_html(page_html(russian).encode("cp1251"), "windows-1251")
    assert russian in text


# --------------------------------------------------------------------------------------------
# Not HTML


def test_binary_served_as_html_refused(loopback: LoopbackServer) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(4000)
    loopback.route("/img", 200, {"Content-Type": "text/html"}, png)
    page = fetch(loopback, "/img")
    assert page.body is None and page.error is not None
    assert "not HTML" in page.error and loopback.url("/img") in page.error
    assert page.http_status == 200


def test_compressed_garbage_without_nul_bytes_refused(loopback: LoopbackServer) -> None:
    blob = bytes(b for b in zlib.compress(random.Random(2).randbytes(6000)) if b != 0)
    loopback.route("/blob", 200, {"Content-Type": "text/html; charset=utf-8"}, blob)
    page = fetch(loopback, "/blob")
    assert page.body is None and "not HTML" in (page.error or "")


@pytest.mark.parametrize("content_type", ["application/pdf", "image/jpeg", "application/json", "text/plain"])
def test_other_content_types_refused(loopback: LoopbackServer, content_type: str) -> None:
    loopback.route("/doc", 200, {"Content-Type": content_type}, b"%PDF-1.7 not really")
    page = fetch(loopback, "/doc")
    assert page.body is None and content_type in (page.error or "")
    assert page.content_type == content_type


def test_missing_content_type_is_sniffed(loopback: LoopbackServer) -> None:
    loopback.route("/sniff-html", 200, {}, page_html())
    loopback.route("/sniff-text", 200, {}, "just some text, no markup")
    assert GERMAN in text_of(fetch(loopback, "/sniff-html"))
    page = fetch(loopback, "/sniff-text")
    assert page.body is None and "not HTML" in (page.error or "")


# --------------------------------------------------------------------------------------------
# Errors and limits become FetchedPage.error


def test_http_errors(loopback: LoopbackServer) -> None:
    loopback.route("/gone", 410)
    loopback.route("/broken", 500)
    gone = fetch(loopback, "/gone")
    assert gone.body is None and gone.http_status == 410
    assert gone.error == f"{loopback.url('/gone')}: HTTP 410"
    assert fetch(loopback, "/broken").http_status == 500


def test_huge_page_refused(loopback: LoopbackServer) -> None:
    loopback.route("/huge", 200, {"Content-Type": "text/html"}, b"<html>" + b"x" * 300_000)
    page = fetch(loopback, "/huge", max_page_bytes=100_000)
    assert page.body is None and "exceeds the cap" in (page.error or "")


def test_gzip_bomb_page_refused(loopback: LoopbackServer) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join([compressor.compress(bytes(1 << 20)) for _ in range(50)] + [compressor.flush()])
    loopback.route("/bomb", 200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, bomb)
    page = fetch(loopback, "/bomb", max_page_bytes=5_000_000)
    assert page.body is None and "decompressed body exceeds" in (page.error or "")


def test_dripping_page_times_out(loopback: LoopbackServer) -> None:
    loopback.route("/drip", drip(page_html().encode(), interval=0.5))
    page = fetch(loopback, "/drip", total_timeout_seconds=1.0)
    assert page.body is None and "total timeout" in (page.error or "")


def test_ssrf_refusal_is_an_error_not_an_exception() -> None:
    config = FetchConfig(respect_robots_txt=True)
    with Fetcher(config) as fetcher:
        page = fetch_page(fetcher, item_for("http://169.254.169.254/latest/meta-data/"), config)
        assert page.body is None and "not allowed" in (page.error or "")
        page = fetch_page(fetcher, item_for("http://10.0.0.1/artikel"), config)
        assert page.body is None and "private address" in (page.error or "")


# --------------------------------------------------------------------------------------------
# robots.txt


def test_robots_disallow_respected(loopback: LoopbackServer) -> None:
    loopback.route("/robots.txt", 200, {"Content-Type": "text/plain"},
                   "User-agent: *\nDisallow: /intern/\nAllow: /\n")
    loopback.route("/intern/a", 200, {"Content-Type": "text/html"}, page_html())
    loopback.route("/news/a", 200, {"Content-Type": "text/html"}, page_html())
    config = config_for(loopback, respect_robots_txt=True)
    with Fetcher(config) as fetcher:
        blocked = fetch_page(fetcher, item_for(loopback.url("/intern/a")), config)
        allowed = fetch_page(fetcher, item_for(loopback.url("/news/a")), config)
    assert blocked.body is None and "disallowed by robots.txt" in (blocked.error or "")
    assert loopback.url("/intern/a") in (blocked.error or "")
    assert loopback.hits("/intern/a") == 0
    assert allowed.error is None and GERMAN in text_of(allowed)
    assert loopback.hits("/robots.txt") == 1  # cached for the Fetcher's lifetime


def test_robots_5xx_means_disallow(loopback: LoopbackServer) -> None:
    loopback.route("/robots.txt", 503)
    loopback.route("/news/a", 200, {"Content-Type": "text/html"}, page_html())
    page = fetch(loopback, "/news/a", respect_robots_txt=True)
    assert page.body is None and "robots.txt unavailable (HTTP 503)" in (page.error or "")
    assert loopback.hits("/news/a") == 0


def test_robots_404_means_allow(loopback: LoopbackServer) -> None:
    loopback.route("/news/a", 200, {"Content-Type": "text/html"}, page_html())
    page = fetch(loopback, "/news/a", respect_robots_txt=True)  # /robots.txt is a 404 here
    assert page.error is None and GERMAN in text_of(page)
    assert loopback.hits("/robots.txt") == 1


def test_robots_ignored_when_disabled(loopback: LoopbackServer) -> None:
    loopback.route("/robots.txt", 200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /\n")
    loopback.route("/news/a", 200, {"Content-Type": "text/html"}, page_html())
    page = fetch(loopback, "/news/a", respect_robots_txt=False)
    assert page.error is None
    assert loopback.hits("/robots.txt") == 0
