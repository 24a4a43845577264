"""build_article (feed-summary fallback, never raises) and ExtractionPool (same results, in order)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
from datetime import datetime, timezone

import pytest

from extractors.article_text import extract_text
from extractors.articles import ExtractionPool, build_article, content_sha256, normalised_text
from extractors.urls import article_id_for, url_key
from fundus import FUNDUS, load_pages
from newswatch.records import Article, FeedItem, FetchedPage

needs_fixtures = pytest.mark.skipif(
    not (FUNDUS / "de").is_dir(),
    reason=f"Fundus fixtures not found at {FUNDUS} (the CI clone has ../shared beside the repo)",
)

FETCHED = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
FEED_DATE = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
SUMMARY = (
    "Der US-Sondergesandte für Belarus ist in Minsk eingetroffen. Nach Angaben aus Diplomatenkreisen "
    "geht es um die Freilassung weiterer politischer Gefangener und um eine Lockerung der Sanktionen "
    "gegen die staatliche Fluggesellschaft Belavia."
)
ARTICLE_HTML = """<!DOCTYPE html>
<html lang="de-DE"><head><title>Gesandter in Minsk | Beispielzeitung</title>
<link rel="canonical" href="/politik/gesandter-minsk-100.html">
<meta property="article:published_time" content="2026-01-05T08:15:00+01:00">
<meta name="author" content="Anna Beispiel"></head>
<body><nav><a href="/">Start</a> <a href="/politik">Politik</a></nav>
<article><h1>US-Gesandter trifft Lukaschenko in Minsk</h1>
<p>Der US-Sondergesandte für Belarus ist am Montag in Minsk mit Machthaber Alexander Lukaschenko
zusammengetroffen. Bei dem Gespräch ging es nach Angaben beider Seiten um die Freilassung weiterer
politischer Gefangener.</p>
<p>Im Gegenzug stellte Washington eine Lockerung der Sanktionen gegen die staatliche
Fluggesellschaft Belavia in Aussicht. Bereits im September waren 52 Gefangene freigekommen.</p>
<p>Die Opposition im Exil reagierte zurückhaltend. Man begrüße jede Freilassung, sagte eine
Sprecherin, doch dürfe der Westen dafür keine Zugeständnisse ohne Gegenleistung machen.</p>
</article><footer>© Beispielzeitung 2026</footer></body></html>"""


def make_page(
    html: str | bytes | None,
    *,
    url: str = "https://www.beispielzeitung.de/politik/gesandter-minsk-100.html?utm_source=rss",
    summary: str | None = SUMMARY,
    error: str | None = None,
    final_url: str | None = None,
    published_at: datetime | None = FEED_DATE,
    status: int | None = 200,
) -> FetchedPage:
    item = FeedItem(
        feed_name="beispiel",
        url=url,
        url_key=url_key(url),
        guid="guid-1",
        title="Feed-Titel: Gesandter in Minsk",
        summary=summary,
        author="Feed-Autor",
        published_at=published_at,
        feed_language="de",
    )
    return FetchedPage(
        item=item,
        final_url=final_url,
        http_status=status,
        content_type="text/html",
        # the bytes a server would send (lone surrogates as the invalid UTF-8 they encode to)
        body=html if html is None or isinstance(html, bytes) else html.encode("utf-8", "surrogatepass"),
        charset="utf-8",
        error=error,
        fetched_at=FETCHED,
    )


# ---------------------------------------------------------------------------------------------
# build_article


def test_article_from_page() -> None:
    page = make_page(ARTICLE_HTML, final_url="https://www.beispielzeitung.de/politik/gesandter-minsk-100.html")
    article = build_article(page)
    assert article.text_source == "page"
    assert article.fetch_error is None
    assert article.title == "US-Gesandter trifft Lukaschenko in Minsk"
    assert "Belavia" in article.text and "Beispielzeitung 2026" not in article.text
    assert article.url == "https://www.beispielzeitung.de/politik/gesandter-minsk-100.html"
    assert article.canonical_url == "https://www.beispielzeitung.de/politik/gesandter-minsk-100.html"
    assert article.url_key == page.item.url_key
    assert article.article_id == article_id_for(page.item.url_key)
    assert article.outlet == "beispielzeitung.de"
    assert (article.language, article.language_source) == ("de", "langdetect")
    assert article.published_at == FEED_DATE  # the feed's date wins over the page's
    assert article.fetched_at == FETCHED
    assert (article.feed_name, article.guid, article.summary) == ("beispiel", "guid-1", SUMMARY)
    assert article.author == "Anna Beispiel"
    expected_hash = hashlib.sha256(" ".join(article.text.split()).encode()).hexdigest()
    assert article.content_sha256 == expected_hash == content_sha256(article.text)


def test_page_date_used_when_feed_has_none() -> None:
    article = build_article(make_page(ARTICLE_HTML, published_at=None))
    assert article.published_at == datetime(2026, 1, 5, 7, 15, tzinfo=timezone.utc)


def test_article_id_is_stable_from_the_feed() -> None:
    with_page = build_article(make_page(ARTICLE_HTML))
    without_page = build_article(make_page(None, error="timeout"))
    assert with_page.article_id == without_page.article_id == article_id_for(with_page.url_key)


@pytest.mark.parametrize(
    ("html", "error", "status"),
    [
        (None, "fetch failed: timeout after 20 s", None),  # no html
        (None, None, None),  # no html, no reason given
        ("", None, 200),  # empty page
        ("<html><body></body></html>", None, 200),  # nothing in it
        (bytes(random.Random(7).getrandbits(8) for _ in range(20000)).decode("latin-1"), None, 200),
        ("<html><body><p>Bitte aktivieren Sie JavaScript.</p></body></html>", None, 200),  # too short
        (ARTICLE_HTML, None, 404),  # an error page is not the article
    ],
    ids=["no-html", "no-html-no-error", "empty", "empty-body", "binary-junk", "stub", "http-404"],
)
def test_feed_summary_fallback(html: str | None, error: str | None, status: int | None) -> None:
    page = make_page(html, error=error, status=status)
    article = build_article(page)
    assert article.text_source == "feed_summary"
    assert article.text == SUMMARY
    assert article.title in ("Feed-Titel: Gesandter in Minsk", "US-Gesandter trifft Lukaschenko in Minsk")
    assert article.fetch_error
    if error:
        assert article.fetch_error == error
    else:
        assert page.item.url in article.fetch_error and "no article text extracted" in article.fetch_error
    assert article.article_id == article_id_for(page.item.url_key)
    assert article.language == "de"
    assert article.content_sha256 == content_sha256(SUMMARY)


def test_fallback_without_summary_keeps_an_empty_text() -> None:
    article = build_article(make_page(None, summary=None, error="refused"))
    assert (article.text, article.text_source, article.fetch_error) == ("", "feed_summary", "refused")
    assert article.content_sha256 is None
    assert article.title == "Feed-Titel: Gesandter in Minsk"


def test_unexpected_exception_becomes_a_summary_article() -> None:
    page = make_page(ARTICLE_HTML, final_url="https://example.org/kaputt")
    page.item.url_key = ""  # forces url_key(item.url) ...
    page.item.url = None  # type: ignore[assignment]  # ... on a URL that is not a string
    article = build_article(page)
    assert isinstance(article, Article)
    assert article.text_source == "feed_summary"
    assert "AttributeError" in article.fetch_error and "https://example.org/kaputt" in article.fetch_error


def test_normalised_text() -> None:
    assert normalised_text("  Ein\u00a0Satz\n\n mit  Cafe\u0301 ") == "Ein Satz mit Café"
    assert content_sha256("a  b") == content_sha256("a\nb")
    assert content_sha256("   ") is None


HOSTILE = {
    "nul-bytes": "\x00" * 5000,
    "control-characters": "<html><body><p>" + "Text\x01\x02\x0b\x1b mit Inhalt. " * 100 + "</p></body></html>",
    "lone-surrogates": "<html><body><p>" + "\ud800Satz mit Inhalt. " * 50 + "</p></body></html>",
    "deep-nesting": "<html><body>" + "<div>" * 100_000 + "tief" + "</div>" * 100_000 + "</body></html>",
    "unclosed-nesting": "<html><body>" + "<span><b><i>" * 50_000 + "x",
    "xml-declaration": '<?xml version="1.0" encoding="iso-8859-1"?><html><body><p>'
    + "Ein Satz mit Inhalt. " * 30
    + "</p></body></html>",
    "bad-json-ld": '<html><head><script type="application/ld+json">{"articleBody": '
    + "[" * 20_000
    + "</script></head><body><p>"
    + "Ein Satz mit Inhalt. " * 30
    + "</p></body></html>",
    "bad-entities": "<html><body><p>" + "&#xFFFFFFFF; &#0; &#55296; &bogus; Wort " * 200 + "</p></body></html>",
    "bad-metadata": '<html lang="\x01"><head><meta property="article:published_time" content="9999-99-99">'
    '<link rel="canonical" href="http://[::1"><meta property="og:url" content="javascript:alert(1)">'
    "</head><body><p>" + "Ein Satz mit Inhalt. " * 30 + "</p></body></html>",
    "huge-attribute": '<html><body><p title="' + "a" * 2_000_000 + '">Hallo</p></body></html>',
    "script-only": "<html><head><script>" + "var a=1;" * 20_000 + "</script></head></html>",
    "comment-bomb": "<html><body><!--" + "-" * 500_000 + "<p>x</p></body></html>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_never_raises(name: str) -> None:
    html = HOSTILE[name]
    extracted = extract_text(html, "https://example.org/a")
    assert extracted is None or isinstance(extracted.text, str)
    if extracted is not None:
        assert extracted.published_at is None or extracted.published_at.year < 9999
        assert extracted.canonical_url is None or extracted.canonical_url.startswith("http")
    from_bytes = extract_text(html.encode("utf-8", "surrogatepass"), "https://example.org/a")
    assert from_bytes is None or isinstance(from_bytes.text, str)
    article = build_article(make_page(html))
    assert article.text_source in ("page", "feed_summary")
    assert article.article_id


_DECLARED = " ".join(
    f"Absatz {i}: Die Regierung in Minsk hat weitere politische Gefangene freigelassen, "
    "berichten Menschenrechtler." for i in range(30)
)
_LD = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Gefangene frei",
                  "articleBody": _DECLARED})


def test_paywalled_page_uses_the_declared_article_body() -> None:
    html = (
        f'<html lang="de"><head><script type="application/ld+json">{_LD}</script></head><body>'
        f"<article><h1>Gefangene frei</h1><p>{_DECLARED[:300]}</p><p>Weiterlesen mit Abo</p></article>"
        "</body></html>"
    )
    extracted = extract_text(html, "https://example.org/a")
    assert extracted is not None
    assert extracted.text == _DECLARED


def test_script_rendered_page_uses_the_declared_article_body() -> None:
    html = (
        f'<html lang="de"><head><title>Gefangene frei</title><script type="application/ld+json">{_LD}'
        '</script></head><body><div id="app"></div></body></html>'
    )
    extracted = extract_text(html, "https://example.org/a")
    assert extracted is not None
    assert (extracted.text, extracted.title, extracted.html_language) == (_DECLARED, "Gefangene frei", "de")


def test_extract_text_rejects_non_strings() -> None:
    assert extract_text(None) is None  # type: ignore[arg-type]
    assert extract_text(b"<html><body><p>bytes</p></body></html>") is None  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# ExtractionPool


def _batch() -> list[FetchedPage]:
    pages = [
        make_page(ARTICLE_HTML),
        make_page(None, error="timeout"),
        make_page(""),
        make_page(HOSTILE["control-characters"], url="https://example.org/control"),
    ]
    if (FUNDUS / "de").is_dir():
        for fixture in load_pages("de")[:14]:
            pages.append(make_page(fixture.html, url=fixture.url or f"https://example.org/{fixture.name}"))
    return pages


def test_pool_of_one_runs_in_process() -> None:
    pages = _batch()[:4]
    with ExtractionPool(workers=1) as pool:
        assert pool._executor is None
        assert pool.build_articles(pages) == [build_article(p) for p in pages]
        assert pool.build_articles([]) == []


def test_pool_equals_in_process_and_keeps_order() -> None:
    pages = _batch()
    expected = [build_article(p) for p in pages]
    with ExtractionPool(workers=2) as pool:
        assert pool.build_articles(pages) == expected
        assert pool.build_articles(list(reversed(pages))) == list(reversed(expected))
    with ExtractionPool(workers=2, chunk_size=1) as pool:
        assert pool.build_articles(pages) == expected


def test_pool_builds_then_fingerprints() -> None:
    """The flow's calls: the articles, then each one's corpus fingerprint (None when it is not German)."""
    from novelty.fingerprint import fingerprint_article, fingerprint_corpus_articles

    english = "<html lang='en'><body><article><h1>Weather</h1><p>" + (
        "The weather in London stayed mild and dry on Tuesday, forecasters said. " * 20) + "</p></article></body></html>"
    pages = [*_batch(), make_page(english, url="https://example.org/weather")]
    expected = [build_article(p) for p in pages]
    with ExtractionPool(workers=2, preload=["novelty.preload"]) as pool:
        articles = pool.build_articles(pages)
        pairs = list(zip(articles, pool.map(fingerprint_corpus_articles, articles), strict=True))
    assert [article for article, _ in pairs] == expected
    for article, fingerprint in pairs:
        if article.language == "de" and article.text.strip():
            assert fingerprint.sentences == fingerprint_article(article).sentences
        else:
            assert fingerprint is None
    assert any(f is not None for _, f in pairs) and any(f is None for _, f in pairs)


def test_pool_from_several_threads() -> None:
    pages = _batch()
    expected = [build_article(p) for p in pages]
    results: dict[int, list[Article]] = {}
    with ExtractionPool(workers=2) as pool:

        def work(index: int) -> None:
            subset = pages[index::3]
            results[index] = pool.build_articles(subset)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    for index in range(3):
        assert results[index] == expected[index::3]


class _KillsTheWorker(bytes):
    """HTML that kills the worker process that unpickles it (a stand-in for a segfault or OOM kill)."""

    def __reduce__(self):  # type: ignore[override]
        return (os._exit, (13,))


def test_crashed_worker_does_not_lose_the_batch() -> None:
    pages = _batch()
    poison = make_page(_KillsTheWorker(b"<html><body><p>boom</p></body></html>"), url="https://example.org/boom")
    batch = pages[:5] + [poison] + pages[5:]
    expected = [build_article(p) for p in batch]  # in-process the poison is harmless
    with ExtractionPool(workers=2, chunk_size=2) as pool:
        assert pool.build_articles(batch) == expected
        assert pool.rebuilds == 1
        # the rebuilt pool works
        assert pool.build_articles(pages) == [build_article(p) for p in pages]
        assert pool.rebuilds == 1


def test_pool_recycles_workers_without_hanging() -> None:
    # ProcessPoolExecutor's own max_tasks_per_child hangs on Python 3.11 once its workers reach the
    # limit while chunks are queued (CPython gh-115634); the pool recycles whole executors instead.
    pages = [make_page(ARTICLE_HTML, url=f"https://example.org/{i}") for i in range(12)]
    expected = [build_article(p) for p in pages]
    pool = ExtractionPool(workers=2, chunk_size=1, max_tasks_per_child=2)
    results: list[list[Article]] = []
    for _ in range(3):
        worker = threading.Thread(target=lambda: results.append(pool.build_articles(pages)), daemon=True)
        worker.start()
        worker.join(timeout=120)
        assert not worker.is_alive(), "the extraction pool hung"
    pool.close()
    assert results == [expected] * 3
    assert (pool.recycles, pool.rebuilds) == (2, 0)


def _slow_pids(items: list[int]) -> list[int]:
    """Module level, so the workers can unpickle it: which process ran each item."""
    import time

    time.sleep(0.05 * len(items))
    return [os.getpid() for _ in items]


def test_recycling_moves_queued_chunks_to_the_fresh_workers() -> None:
    """A recycle while another thread's chunks are still queued: the retired workers finish only
    what they already took, the queued chunks run on the fresh workers (not side by side on the
    old ones, and not in this process), and every caller gets all its results in order."""
    with ExtractionPool(workers=2, chunk_size=1, max_tasks_per_child=2) as pool:
        warm = pool.map(_slow_pids, [0, 1])  # the workers are up; 2 of the 4 chunks before a recycle
        first: list[list[int]] = []
        thread = threading.Thread(target=lambda: first.append(pool.map(_slow_pids, list(range(24)))))
        thread.start()
        import time

        time.sleep(0.2)  # a few of the first call's 24 chunks (50 ms each) have run, most are queued
        second = pool.map(_slow_pids, list(range(6)))  # 26 chunks submitted >= 2 x 2: recycle
        thread.join(timeout=120)
        assert not thread.is_alive(), "the extraction pool hung"
    assert pool.recycles == 1 and pool.rebuilds == 0
    assert len(first) == 1 and len(first[0]) == 24 and len(second) == 6
    assert os.getpid() not in first[0] + second  # nothing was built in this process
    old, new = set(warm), set(second)
    assert old.isdisjoint(new)
    assert set(first[0]) & new, "the queued chunks of the first call moved to the fresh workers"
    assert set(first[0]) <= old | new


def test_closed_pool_refuses_work() -> None:
    pool = ExtractionPool(workers=2)
    with pool:
        pass
    with pytest.raises(RuntimeError):
        pool.build_articles([make_page(None)])


def test_the_pool_module_leaves_the_extraction_stack_to_the_workers() -> None:
    """The process that only runs the pool (the flow's) imports neither trafilatura nor langdetect,
    nor the novelty analysis' spaCy and SciPy: those load in the workers' forkserver."""
    import subprocess
    import sys

    code = (
        "import sys, extractors.articles, novelty.fingerprint\n"
        "print(sorted(m for m in ('trafilatura', 'lxml', 'langdetect', 'htmldate', 'spacy', 'scipy', 'datasketch')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
