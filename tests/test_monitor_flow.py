"""The monitor flow end to end: recorded coverage on loopback, a real Prefect run, a real DuckDB file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from flows.demo import COVERAGE, CoverageServer, demo_config
from newswatch.config import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.slow

MANIFEST = json.loads((COVERAGE / "manifest.json").read_text(encoding="utf-8"))
ITEMS = MANIFEST["items"]
# Items the pipeline must recognise as an article it already has, before or after fetching.
DUPLICATES = [i for i in ITEMS if i["kind"] in ("duplicate_url", "canonical_duplicate")]
STORED = [i for i in ITEMS if i not in DUPLICATES]


def _articles(snapshot: Path) -> list[dict]:
    with duckdb.connect(str(snapshot), read_only=True) as db:
        cursor = db.execute("SELECT * FROM articles WHERE NOT is_seed")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def _run_cli(config: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--config", str(config)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=os.environ.copy(),
    )


@pytest.fixture
def coverage(tmp_path: Path):
    with CoverageServer() as server:
        yield server, demo_config(server, tmp_path)


def test_a_pass_stores_the_coverage_once_and_a_second_pass_nothing(coverage) -> None:
    from flows.monitor import monitor

    server, config = coverage
    first = monitor(config_path=str(config))
    assert first["feeds_polled"] == len(MANIFEST["feeds"]) and first["feeds_failed"] == 0
    assert first["articles_stored"] == len(STORED)
    assert first["german_articles"] == sum(1 for i in STORED if i["language"] == "de")
    assert first["duplicate_items"] == len(DUPLICATES)

    articles = _articles(Path(first["snapshot"]))
    by_path = {a["url"].split(server.base, 1)[1].split("?")[0]: a for a in articles}
    for item in STORED:
        article = by_path[item["page_path"]]
        assert article["language"] == item["language"], item["page_path"]
        if item["kind"] == "missing_page":
            assert article["text_source"] == "feed_summary"
            assert "404" in article["fetch_error"]
            assert article["text"]  # the feed's description
        else:
            assert article["text_source"] == "page", (item["page_path"], article["fetch_error"])
            assert len(article["text"]) > 500
    # The same URL with other tracking parameters in a second feed is not fetched a second time.
    duplicate_url = next(i for i in ITEMS if i["kind"] == "duplicate_url")
    assert server.requests.count(duplicate_url["page_path"]) == 1
    # The seed corpus is known coverage from the first pass on.
    with duckdb.connect(first["snapshot"], read_only=True) as db:
        assert db.execute("SELECT count(*) FROM articles WHERE is_seed").fetchone()[0] == 5
        assert db.execute("SELECT count(*) FROM feed_health WHERE health = 'healthy'").fetchone()[0] == len(
            MANIFEST["feeds"]
        )

    _check_matches(Path(first["snapshot"]), server, by_path)
    _check_developments(Path(first["snapshot"]), by_path)
    assert first["developments"] == sum(1 for i in STORED if i["kind"] == "new_development")
    _check_diff_command(config, by_path)
    _check_run_artifact(first)

    page_requests = len(server.requests)
    second = monitor(config_path=str(config))
    assert second["articles_stored"] == 0 and second["new_items"] == 0
    assert second["feeds_not_modified"] == len(MANIFEST["feeds"])
    assert len(server.requests) - page_requests == len(MANIFEST["feeds"])  # feeds only, no pages
    assert len(_articles(Path(second["snapshot"]))) == len(STORED)
    assert second["developments"] == 0
    with duckdb.connect(second["snapshot"], read_only=True) as db:
        assert db.execute("SELECT count(*) FROM developments").fetchone()[0] == len(_matched(first))


def _check_matches(snapshot: Path, server: CoverageServer, by_path: dict[str, dict]) -> None:
    """On-topic German coverage matches its topics with an explanation; off-topic and foreign do not."""
    with duckdb.connect(str(snapshot), read_only=True) as db:
        rows = db.execute("SELECT article_id, topic_id, terms, snippets FROM matches").fetchall()
    topics_of: dict[str, set[str]] = {}
    for article_id, topic_id, terms, snippets in rows:
        assert terms and snippets
        topics_of.setdefault(article_id, set()).add(topic_id)
    for item in STORED:
        matched = topics_of.get(by_path[item["page_path"]]["article_id"], set())
        if item["kind"] in ("off_topic", "non_german"):
            assert matched == set(), item["page_path"]
        elif item["kind"] != "missing_page":
            assert matched & set(item["topics"]), item["page_path"]


def _matched(summary: dict) -> list[str]:
    with duckdb.connect(summary["snapshot"], read_only=True) as db:
        return [r[0] for r in db.execute("SELECT DISTINCT article_id FROM matches").fetchall()]


# What the recorded coverage is, and the decision newswatch must reach for it.
EXPECTED_DECISION = {"new_development": "new_development", "syndicated_copy": "duplicate", "rehash": "rehash"}


def _check_developments(snapshot: Path, by_path: dict[str, dict]) -> None:
    """Every matched German article has a decision with evidence; copies join their original's story."""
    with duckdb.connect(str(snapshot), read_only=True) as db:
        rows = db.execute(
            "SELECT article_id, decision, story_id, duplicate_of, new_facts, sentences, also_reported_by "
            "FROM development_reports"
        ).fetchall()
        fingerprinted = db.execute("SELECT count(*) FROM article_fingerprints").fetchone()[0]
    german = sum(1 for i in STORED if i["language"] == "de")
    assert fingerprinted == german + 5  # every German article and the seed join the corpus
    decided = {row[0]: row for row in rows}
    for item in STORED:
        expected = EXPECTED_DECISION.get(item["kind"])
        if expected is None:
            continue
        article_id, decision, story_id, duplicate_of, facts, sentences, also = decided[by_path[item["page_path"]]["article_id"]]
        assert decision == expected, (item["page_path"], decision)
        assert json.loads(sentences), item["page_path"]
        if expected == "new_development":
            assert json.loads(facts), item["page_path"]
        if item["kind"] == "syndicated_copy":
            original = by_path[item["syndicated_from"]]["article_id"]
            # It copies the original or an earlier copy of it, and joins the original's story.
            copies = {by_path[i["page_path"]]["article_id"] for i in STORED if i.get("syndicated_from")}
            assert duplicate_of in {original} | copies - {article_id}
            assert story_id == decided[original][2] == original
            assert also  # the story's other outlets


def _check_diff_command(config: Path, by_path: dict[str, dict]) -> None:
    """`newswatch diff URL` shows the stored decision of a syndicated copy (the URL as the feed gave it)."""
    from typer.testing import CliRunner

    from flows.cli import app

    copy = next(i for i in STORED if i["kind"] == "syndicated_copy")
    url = by_path[copy["page_path"]]["url"]
    result = CliRunner().invoke(app, ["diff", url, "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert output["stored_decision"] is True and output["decision"] == "duplicate"
    assert output["also_reported_by"]


def _check_run_artifact(summary: dict) -> None:
    """The run's artifacts, under stable keys: the feeds table lists every feed with what it did,
    the developments table every diffed article, and the markdown summary the figures and the
    new developments with their links."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
                any_=["monitor-feeds", "monitor-developments", "monitor-summary", "monitor-alerts"]
            )),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[summary["run_id"]])),
        )
    by_key = {artifact.key: artifact for artifact in artifacts}
    assert sorted(by_key) == ["monitor-alerts", "monitor-developments", "monitor-feeds", "monitor-summary"]
    assert len(artifacts) == 4

    feeds = by_key["monitor-feeds"]
    table = feeds.data if isinstance(feeds.data, list) else json.loads(feeds.data)
    assert len(table) == len(MANIFEST["feeds"])
    assert {row["status"] for row in table} == {"ok"}
    assert sum(row["stored"] for row in table) == summary["articles_stored"]
    assert sum(row["german"] for row in table) == summary["german_articles"]
    assert f"{summary['articles_stored']} articles stored" in feeds.description

    developments = by_key["monitor-developments"]
    rows = developments.data if isinstance(developments.data, list) else json.loads(developments.data)
    assert len(rows) == summary["matched_articles"]
    assert {"published", "outlet", "topics", "decision", "novelty", "title", "url"} <= set(rows[0])
    alerting = [row for row in rows if row["decision"] in ("new_development", "update")]
    assert len(alerting) == summary["developments"]

    markdown = by_key["monitor-summary"].data
    assert f"**Articles stored**: {summary['articles_stored']} ({summary['german_articles']} German" in markdown
    assert f"**New developments or updates**: {summary['developments']}" in markdown
    for row in alerting:
        assert f"]({row['url'].replace('(', '%28').replace(')', '%29')})" in markdown
    assert "None: every feed polled was answered." in markdown


def test_the_cli_reports_a_bad_config_and_a_locked_database(tmp_path: Path, coverage) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[feeds]]\nname = "x"\nurl = "ftp://example.org/feed"\nsurprise = 1\n')
    result = _run_cli(bad, timeout=60)
    assert result.returncode == 2
    assert "feeds[0].url" in result.stderr and "feeds[0].surprise: unknown key" in result.stderr

    _, config = coverage
    settings = load_settings(config)
    settings.storage.path.parent.mkdir(parents=True, exist_ok=True)
    holder = duckdb.connect(str(settings.storage.path))  # e.g. an analyst on the live file
    try:
        text = config.read_text().replace("[storage]", "[storage]\nlock_timeout_seconds = 0.5")
        config.write_text(text)
        result = _run_cli(config, timeout=60)
    finally:
        holder.close()
    assert result.returncode == 3
    assert f"PID {os.getpid()}" in result.stderr


def test_a_pass_killed_while_fetching_loses_nothing_when_run_again(tmp_path: Path) -> None:
    first_page = threading.Event()

    def slow_pages(path: str) -> None:
        if path.endswith(".html"):
            first_page.set()
            time.sleep(0.5)

    with CoverageServer(on_request=slow_pages) as server:
        config = demo_config(server, tmp_path)
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", "--config", str(config)],
            cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            assert first_page.wait(120), "the pass never started fetching pages"
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the pass and its extraction workers
            process.wait()
        server.on_request = None
        result = _run_cli(config)
        assert result.returncode == 0, result.stderr
    settings = load_settings(config)
    articles = _articles(settings.storage.resolved_snapshot_path)
    assert len(articles) == len(STORED)
    assert len({a["url_key"] for a in articles}) == len(STORED)


def test_a_batch_that_crashes_is_fetched_again_on_the_next_pass(coverage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: fetching one feed's pages raises; the pass completes, the next one recovers."""
    import flows.monitor
    from flows.monitor import monitor

    server, config = coverage
    real_fetch_page = flows.monitor.fetch_page

    def crash_for_agd(fetcher, item, fetch_config):
        if item.feed_name == "agd-rss":
            raise RuntimeError("simulated crash while fetching")
        return real_fetch_page(fetcher, item, fetch_config)

    monkeypatch.setattr(flows.monitor, "fetch_page", crash_for_agd)
    first = monitor(config_path=str(config))
    agd_items = [i for i in STORED if i["feed"] == "/agd/rss.xml"]
    assert first["articles_stored"] == len(STORED) - len(agd_items)

    monkeypatch.setattr(flows.monitor, "fetch_page", real_fetch_page)
    second = monitor(config_path=str(config))
    assert second["articles_stored"] == len(agd_items)
    assert len(_articles(Path(second["snapshot"]))) == len(STORED)
    # The recovered agency items are diffed on the pass that stores them.
    with duckdb.connect(second["snapshot"], read_only=True) as db:
        assert db.execute("SELECT count(*) FROM developments").fetchone()[0] == len(_matched(second))
