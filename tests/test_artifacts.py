"""The run summary shown in the Prefect UI: the figures, and text from strangers kept inert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.outbox import Delivery, DispatchReport
from flows.artifacts import pass_summary_markdown
from flows.monitor import PassResult
from newswatch.records import RunError, RunSummary

STARTED = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def _result(**rows: object) -> PassResult:
    run = RunSummary(
        run_id="run-1", started_at=STARTED, feeds_polled=3, feeds_failed=1, new_items=7,
        articles_stored=6, german_articles=5, matched_articles=2, developments=1, alerts_queued=1,
    )
    return PassResult(run=run, **rows)


def _development(title: str, url: str, decision: str = "new_development") -> dict[str, object]:
    return {"published": "", "outlet": "Rundschau", "topics": "belarus-envoy", "decision": decision,
            "novelty": 0.8, "title": title, "url": url}


def test_the_summary_gives_the_figures_in_the_configured_time_zone() -> None:
    result = _result(developments=[_development("Coale in Minsk", "https://example.org/a")])
    markdown = pass_summary_markdown(result, "Europe/Berlin", now=STARTED + timedelta(seconds=42))
    assert markdown.startswith("# Pass 2026-11-21 16:00 (Europe/Berlin)")
    assert "**Feeds**: 3 polled, 1 failed" in markdown
    assert "**Articles stored**: 6 (5 German, 2 matching a tracked topic)" in markdown
    assert "**Took** 42 s" in markdown
    assert "- **new development** · [Coale in Minsk](https://example.org/a) — Rundschau" in markdown


def test_rehashes_are_counted_not_listed() -> None:
    result = _result(developments=[
        _development("Neu", "https://example.org/new"),
        _development("Alt", "https://example.org/old", decision="rehash"),
    ])
    markdown = pass_summary_markdown(result, "Europe/Berlin", now=STARTED)
    assert "example.org/old" not in markdown
    assert "1 matched articles were rehashes or syndicated copies" in markdown


def test_titles_cannot_add_markup_links_or_lines() -> None:
    hostile = "Klick [hier](https://evil.example) ![x](https://evil.example/i.png) <script>alert(1)</script>\n# Kopf | x"
    result = _result(developments=[_development(hostile, "https://example.org/a_(b)")])
    markdown = pass_summary_markdown(result, "Europe/Berlin", now=STARTED)
    line = next(line for line in markdown.splitlines() if "Klick" in line)
    assert "](https://evil.example)" not in line and "<script>" not in line
    assert "\\[hier\\]\\(https://evil.example\\)" in line
    assert "\\<script\\>" in line and "\\# Kopf \\| x" in line
    assert "](https://example.org/a_%28b%29)" in line  # the article's own link, parentheses encoded
    assert "\n# Kopf" not in markdown


def test_only_http_links_are_made() -> None:
    result = _result(developments=[_development("Skript", "javascript:alert(1)")])
    markdown = pass_summary_markdown(result, "Europe/Berlin", now=STARTED)
    assert "](javascript" not in markdown
    assert "Skript" in markdown


def test_failing_feeds_alerts_and_errors_need_attention() -> None:
    result = _result(
        feed_rows=[
            {"feed": "ok-feed", "status": "ok", "http": 200, "error": ""},
            {"feed": "broken", "status": "failed", "http": 500, "error": "https://example.org/feed: HTTP 500"},
        ],
        errors=[RunError("fetch", "https://example.org/p", "timed out", STARTED)] * 25,
        alerts=DispatchReport(deliveries=[
            Delivery("desk-email", ["a1"], "first", "Neue Entwicklung: X", sent=False, error="SMTP refused", dead=["a1"]),
        ]),
    )
    markdown = pass_summary_markdown(result, "Europe/Berlin", now=STARTED)
    assert "| broken | failed | 500 | https://example.org/feed: HTTP 500 |" in markdown
    assert "ok-feed" not in markdown
    assert "- desk-email: Neue Entwicklung: X — SMTP refused (now dead" in markdown
    assert "## Errors (25; the pass went on)" in markdown
    assert markdown.count("timed out") == 20
    assert "… and 5 more" in markdown
