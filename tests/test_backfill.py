"""`newswatch backfill --since DATE` end to end: a paged feed's history on loopback, real pages,
the real pipeline, a real DuckDB file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows.backfill import parse_since
from flows.cli import app
from flows.demo import COVERAGE, CoverageServer, demo_config
from loopback import LoopbackServer
from newswatch.config import ConfigError

pytestmark = pytest.mark.slow

# German pages of the recorded coverage, and how many days before now each one's feed entry says
# it was published. The history is three pages: [0.5, 1, 2] -> [3, 4] -> [9, 10].
PAGES = [
    ("/rundschau/sport/fussball/fc-koeln-werder-bremen-2-2-100.html", 0.5),
    ("/rundschau/wirtschaft/brenner-antriebstechnik-huerth-kurzarbeit-100.html", 1),
    ("/kurier/region/sturmtief-wendelin-elbtal-art-55817.html", 2),
    ("/kurier/region/warnstreik-elbtal-verkehrsbetriebe-art-55809.html", 3),
    ("/agd/meldung/belarus-begnadigt-31-politische-gefangene-id48213.html", 4),
    ("/ostportal/belarus/belavia-boeing-ersatzteile-dubai-a-1187.html", 9),
    ("/agd/meldung/russland-usa-botschaftsgespraeche-istanbul-id48177.html", 10),
]
HISTORY = [("/feed.xml", PAGES[0:3], "/feed-2.xml"), ("/feed-2.xml", PAGES[3:5], "/feed-3.xml"), ("/feed-3.xml", PAGES[5:], None)]


def _feed(feed_server: LoopbackServer, coverage: CoverageServer, entries, next_path: str | None) -> bytes:
    now = datetime.now(UTC)
    link = f'<atom:link rel="next" href="{feed_server.url(next_path)}"/>' if next_path else ""
    items = "".join(
        f"<item><title>Meldung {i}</title><link>{coverage.base}{path}</link>"
        f"<pubDate>{format_datetime(now - timedelta(days=days))}</pubDate></item>"
        for i, (path, days) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>Archiv</title><language>de</language>{link}{items}</channel></rss>"
    ).encode()


@pytest.fixture
def history_config(tmp_path: Path, loopback: LoopbackServer):
    with CoverageServer(COVERAGE) as coverage:
        for path, entries, next_path in HISTORY:
            loopback.route(path, 200, {"Content-Type": "application/rss+xml"}, _feed(loopback, coverage, entries, next_path))
        config = demo_config(coverage, tmp_path)
        text = config.read_text().replace(
            f'allow_private_addresses = ["127.0.0.1:{coverage.port}"]',
            f'allow_private_addresses = ["127.0.0.1:{coverage.port}", "{loopback.allowance}"]',
        )
        config.write_text(text + f'[[feeds]]\nname = "archiv"\nurl = "{loopback.url("/feed.xml")}"\n')
        yield config, coverage, loopback


def _stored(config: Path) -> dict[str, dict]:
    with duckdb.connect(str(config.parent / "newswatch.snapshot.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT url, language, text_source FROM articles WHERE NOT is_seed").fetchall()
    return {url: {"language": language, "text_source": source} for url, language, source in rows}


def test_backfill_stores_the_history_since_the_date_once(history_config) -> None:
    config, coverage, feeds = history_config
    runner = CliRunner()
    result = runner.invoke(app, ["backfill", "--since", (datetime.now(UTC) - timedelta(days=3.5)).isoformat(),
                                 "--feed", "archiv", "--config", str(config)])
    assert result.exit_code == 0, result.output
    stored = _stored(config)
    assert sorted(stored) == sorted(coverage.base + path for path, days in PAGES if days < 3.5)
    assert all(a["text_source"] == "page" and a["language"] == "de" for a in stored.values())
    # The walk stopped at the page that reached past the date; only the one feed was read.
    assert feeds.hits("/feed-3.xml") == 0 and feeds.hits("/feed-2.xml") == 1
    assert not any(path.endswith(".xml") for path in coverage.requests)
    # The progress bar counted the articles and the summary the stored ones.
    assert "articles stored" in result.output and "4/4" in result.output
    assert re.search(r"│ articles stored +│ 4 ", result.output), result.output

    # Further back: only what is not stored yet is fetched, and nothing is stored twice.
    pages_before = [path for path in coverage.requests if path.endswith('.html')]
    again = runner.invoke(app, ["backfill", "--since", (datetime.now(UTC) - timedelta(days=20)).isoformat(),
                                "--feed", "archiv", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert sorted(_stored(config)) == sorted(coverage.base + path for path, _ in PAGES)
    pages_after = [path for path in coverage.requests if path.endswith('.html')]
    assert sorted(pages_after[len(pages_before):]) == sorted(path for path, days in PAGES if days > 3.5)
    # The feed's polling state was left alone: a backfill is not a poll.
    with duckdb.connect(str(config.parent / "newswatch.snapshot.duckdb"), read_only=True) as db:
        polled = db.execute("SELECT last_polled_at, etag FROM feeds WHERE name = 'archiv'").fetchall()
    assert polled in ([], [(None, None)])


def test_backfill_refuses_an_unknown_feed_and_a_bad_date(history_config) -> None:
    config, _, _ = history_config
    runner = CliRunner()
    unknown = runner.invoke(app, ["backfill", "--since", "2026-11-01", "--feed", "nope", "--config", str(config)])
    assert unknown.exit_code == 2 and "no enabled feed named 'nope'" in unknown.output
    bad = runner.invoke(app, ["backfill", "--since", "gestern", "--config", str(config)])
    assert bad.exit_code == 2 and "--since 'gestern': not a date" in bad.output


def test_since_is_local_time_unless_an_offset_is_given() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-01", "Europe/Berlin", now) == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert parse_since("2026-11-01T06:00+00:00", "Europe/Berlin", now) == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match="in the future"):
        parse_since("2026-12-24", "Europe/Berlin", now)
