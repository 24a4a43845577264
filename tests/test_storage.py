"""Storage: migrations, the seed corpus, idempotent writes, locks and the analyst snapshot."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from newswatch.config import BUNDLED_SEED_CORPUS
from newswatch.records import Article, FeedState, RunError, RunSummary
from storage import repository, schema
from storage.db import PassLock, StorageError, connect, migrate, schema_version, transaction
from storage.seed import clean_seed_text, read_seed_corpus
from storage.snapshot import publish_snapshot


def _article(n: int, **changes) -> Article:
    fields = dict(
        article_id=f"id{n}", url=f"https://example.de/{n}", url_key=f"//example.de/{n}",
        title=f"Titel {n}", text=f"Text {n}", text_source="page", language="de",
    )
    fields.update(changes)
    return Article(**fields)


def test_migrate_creates_schema_once(tmp_path: Path) -> None:
    with connect(tmp_path / "a.duckdb") as db:
        assert migrate(db) == [m.version for m in schema.MIGRATIONS]
        assert migrate(db) == []
        assert schema_version(db) == schema.LATEST_VERSION
        tables = {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"articles", "feeds", "article_keys", "feed_items", "runs", "run_errors",
            "german_articles", "feed_health", "outlet_daily"} <= tables


def test_a_new_release_upgrades_an_old_file_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.duckdb"
    with connect(path) as db:
        migrate(db)
        repository.store_articles(db, [_article(1)], datetime.now(UTC), "r1")
    upgrade = schema.Migration(
        schema.LATEST_VERSION + 1, "add a column", "ALTER TABLE articles ADD COLUMN word_count INTEGER"
    )
    monkeypatch.setattr("storage.db.MIGRATIONS", schema.MIGRATIONS + (upgrade,))
    monkeypatch.setattr("storage.db.LATEST_VERSION", upgrade.version)
    with connect(path) as db:
        assert migrate(db) == [upgrade.version]
        assert db.execute("SELECT title, word_count FROM articles").fetchall() == [("Titel 1", None)]


def test_a_file_from_a_newer_release_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "new.duckdb"
    with connect(path) as db:
        migrate(db)
        db.execute("INSERT INTO schema_migrations (version, description) VALUES (99, 'future')")
    with connect(path) as db, pytest.raises(StorageError, match="newer than this release"):
        migrate(db)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="junk.duckdb"):
        with connect(path):
            pass


def test_the_pipeline_connections_use_the_configured_memory_limit(tmp_path: Path) -> None:
    from newswatch.config import StorageConfig
    from storage.db import open_database

    storage = StorageConfig(path=tmp_path / "nw.duckdb", memory_limit_mb=128)
    with open_database(storage) as db:
        limit = db.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit == "122.0 MiB"  # 128 MB, printed in binary units
    with connect(tmp_path / "nw.duckdb") as db:  # without one: DuckDB's default, far larger
        assert db.execute("SELECT current_setting('memory_limit')").fetchone()[0] != limit


def test_seed_corpus_loads_once_without_site_chrome(tmp_path: Path) -> None:
    seed = read_seed_corpus(BUNDLED_SEED_CORPUS)
    assert len(seed) == 5
    everything = "\n".join(a.text for a in seed)
    for chrome in ("Zum Inhalt springen", "RETTE DEIN GELD", "Abonnieren Sie unseren Newsletter",
                   "Keine Kreditkarte erforderlich", "Lesezeit", "Das könnte Ihnen auch gefallen"):
        assert chrome not in everything
    assert "Sapad" in everything and "Kellogg" in everything  # the articles themselves stay
    with connect(tmp_path / "s.duckdb") as db:
        migrate(db)
        assert repository.load_seed_articles(db, seed) == 5
        assert repository.load_seed_articles(db, seed) == 0
        assert db.execute("SELECT count(*) FROM articles WHERE is_seed").fetchone()[0] == 5


def test_seed_text_title_and_date() -> None:
    seed = clean_seed_text(
        "1. Zum Inhalt springen\nKonflikteBelarus\n\nIn Sapads Schatten: Annäherung an die USA?\n\n"
        "17. September 2025\n\nErster Absatz mit Inhalt.\nZweiter Absatz mit Inhalt.\n- Themen:\n- #Wahlen\n"
    )
    assert seed.title == "In Sapads Schatten: Annäherung an die USA?"
    assert seed.text == "Erster Absatz mit Inhalt.\nZweiter Absatz mit Inhalt."
    assert seed.published_at == datetime(2025, 9, 17, 10, 0, tzinfo=UTC)


def test_a_pass_writes_are_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.duckdb"
    with connect(path) as db:
        migrate(db)
        with pytest.raises(RuntimeError), transaction(db):
            repository.store_articles(db, [_article(1)], datetime.now(UTC), "r1")
            raise RuntimeError("killed mid-write")
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 0


def test_storing_the_same_pass_twice_stores_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    run = RunSummary(run_id="r1", started_at=now)
    with connect(tmp_path / "t.duckdb") as db:
        migrate(db)
        for _ in range(2):
            with transaction(db):
                repository.store_articles(db, [_article(1), _article(2)], now, "r1")
                repository.store_keys(db, [("//example.de/1", "id1", "url")])
                repository.store_feed_states(db, [FeedState(name="f", url="https://f.de/rss", items_seen=2)])
                repository.store_run(db, run, [RunError("poll", "f", "HTTP 500", now)])
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
        assert repository.read_known_keys(db) == {"//example.de/1": "id1"}
        assert repository.read_feed_states(db)["f"].items_seen == 2
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_a_locked_database_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    with connect(path) as db:
        migrate(db)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            db = duckdb.connect({str(path)!r})
            print("open", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StorageError) as error, connect(path, lock_timeout=0.5):
            pass
        assert f"PID {holder.pid}" in str(error.value)
        assert "snapshot" in str(error.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_second_pass_refuses_while_one_runs(tmp_path: Path) -> None:
    path = tmp_path / "p.duckdb"
    with PassLock(path):
        with pytest.raises(StorageError, match="another newswatch pass"):
            with PassLock(path):
                pass
    with PassLock(path):  # released afterwards
        pass


def test_snapshot_is_replaced_while_an_analyst_keeps_the_old_one_open(tmp_path: Path) -> None:
    db_path, snapshot = tmp_path / "n.duckdb", tmp_path / "n.snapshot.duckdb"
    with connect(db_path) as db:
        migrate(db)
        repository.store_articles(db, [_article(1)], datetime.now(UTC), "r1")
    publish_snapshot(db_path, snapshot)
    analyst = duckdb.connect(str(snapshot), read_only=True)
    try:
        with connect(db_path) as db:  # the pipeline writes while the analyst reads the snapshot
            repository.store_articles(db, [_article(2)], datetime.now(UTC), "r2")
        publish_snapshot(db_path, snapshot)
        assert analyst.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    finally:
        analyst.close()
    with duckdb.connect(str(snapshot), read_only=True) as fresh:
        assert fresh.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v1.duckdb"
    monkeypatch.setattr("storage.db.MIGRATIONS", schema.MIGRATIONS[:1])
    with connect(path) as db:
        assert migrate(db) == [1]
        repository.store_articles(db, [_article(1)], datetime.now(UTC), "r1")
        db.execute("INSERT INTO runs VALUES ('r1', NULL, now(), now(), 1, 0, 0, 0, 1, 0, 0, 1, 1)")
    monkeypatch.undo()
    with connect(path) as db:
        assert migrate(db) == [2, 3, 4]
        assert db.execute("SELECT count(*) FROM matches").fetchone()[0] == 0
        assert db.execute("SELECT matched_articles, developments, alerts_queued, alerts_sent FROM runs").fetchall() == [
            (0, 0, 0, 0)
        ]
        assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM developments").fetchone()[0] == 0
        # The article stored before the corpus index existed waits to be fingerprinted.
        assert [a.article_id for a in repository.articles_without_fingerprint(db)] == [_article(1).article_id]
        assert db.execute("SELECT title FROM articles").fetchall() == [("Titel 1",)]


def test_fingerprints_and_developments_round_trip_and_the_corpus_window(tmp_path: Path) -> None:
    from datetime import timedelta

    from newswatch.records import Development
    from novelty.fingerprint import fingerprint_text

    now = datetime.now(UTC)
    old = _article(1, published_at=now - timedelta(days=40))
    recent = _article(2, published_at=now - timedelta(days=2))
    seed = _article(3, published_at=now - timedelta(days=400), is_seed=True)
    with connect(tmp_path / "n.duckdb") as db:
        migrate(db)
        repository.store_articles(db, [old, recent, seed], now, "r1")
        prints = [fingerprint_text(a.article_id, f"Titel\n\nSatz eins über Minsk. Satz zwei über {a.article_id}.")
                  for a in (old, recent, seed)]
        repository.store_fingerprints(db, prints, now)
        repository.store_fingerprints(db, prints, now)  # a rerun stores nothing twice
        assert db.execute("SELECT count(*) FROM article_fingerprints").fetchone()[0] == 3
        # The window keeps the seed and the recent article, not the one from 40 days ago.
        corpus = list(repository.read_corpus(db, now - timedelta(days=30)))
        assert sorted(e.article_id for e in corpus) == ["id2", "id3"]
        assert corpus[0].signature == next(p.signature for p in prints if p.article_id == corpus[0].article_id)
        assert repository.read_sentences(db, ["id2"]) == {"id2": prints[1].sentences}

        development = Development(
            article_id="id2", decision="update", novelty_score=0.5, story_id="id3", topic_ids=["t"],
            novel_sentences=["Satz zwei über id2."], new_facts=[{"kind": "name", "text": "Coale"}],
            sentences=[{"text": "Satz zwei über id2.", "novel": True}], closest_article_id="id3",
            closest_similarity=0.4, duplicate_of=None, sentence_count=2, novel_sentence_count=1, decided_at=now,
        )
        repository.store_developments(db, [development])
        repository.store_developments(db, [development])
        row = db.execute("SELECT decision, new_facts, also_reported_by FROM development_reports").fetchone()
        assert row[0] == "update" and row[1] == '[{"kind": "name", "text": "Coale"}]'
