"""Reads and writes of one pass. Column names equal record field names (newswatch/records.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from newswatch.records import (
    Article,
    ArticleFingerprint,
    ArticleMatch,
    CorpusEntry,
    Development,
    FeedState,
    RunError,
    RunSummary,
)
from storage.db import transaction

_ARTICLE_COLUMNS = [f.name for f in dataclasses.fields(Article)]
_FEED_COLUMNS = [f.name for f in dataclasses.fields(FeedState)]
_RUN_COLUMNS = [f.name for f in dataclasses.fields(RunSummary)]
_FINGERPRINT_COLUMNS = [f.name for f in dataclasses.fields(ArticleFingerprint) if f.name != "analysis"]
_DEVELOPMENT_COLUMNS = [f.name for f in dataclasses.fields(Development)]
_JSON_COLUMNS = {"new_facts", "sentences"}


def _row(record: Any, columns: Sequence[str]) -> list[Any]:
    return [getattr(record, column) for column in columns]


def _placeholders(columns: Sequence[str]) -> str:
    return ", ".join("?" for _ in columns)


# DuckDB's executemany runs one statement per row (about 8 ms a row for an article); one multi-row
# VALUES statement per chunk was two orders of magnitude faster, and one list per column, unnested
# (`INSERT ... SELECT unnest(?::T[]), ...`) another 5-8x: DuckDB binds a list parameter in C++,
# where a VALUES statement bound each of its ~26,000 values through Python (1,200 articles:
# 1.0-1.7 s in the pass's main process, then 0.2 s). Chunks keep their size: rows of one chunk are
# one statement, which matters for duplicate keys (INSERT OR REPLACE refuses a key twice).
_ROWS_PER_STATEMENT = 200


def _insert(
    connection: duckdb.DuckDBPyConnection,
    statement: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    suffix: str = "",
) -> None:
    """`statement` is `INSERT [OR REPLACE] INTO table`; rows are inserted in multi-row chunks, each
    as one list parameter per column cast to the column's type."""
    if not rows:
        return
    table = statement.split()[-1]
    types = dict(connection.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND schema_name = current_schema()",
        [table],
    ).fetchall())
    select = ", ".join(f"unnest(?::{types[column]}[])" for column in columns)
    sql = f"{statement} ({', '.join(columns)}) SELECT {select} {suffix}"
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        connection.execute(sql, [list(values) for values in zip(*chunk, strict=True)])


def read_feed_states(connection: duckdb.DuckDBPyConnection) -> dict[str, FeedState]:
    rows = connection.execute(f"SELECT {', '.join(_FEED_COLUMNS)} FROM feeds").fetchall()
    return {row[0]: FeedState(*row) for row in rows}


def read_known_keys(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every key (normalised URL, GUID, canonical URL) mapped to its article id."""
    return dict(connection.execute("SELECT key, article_id FROM article_keys").fetchall())


def store_articles(
    connection: duckdb.DuckDBPyConnection,
    articles: Iterable[Article],
    stored_at: datetime,
    run_id: str | None,
) -> int:
    """Insert articles not stored yet (idempotent: a rerun of the same pass stores nothing twice)."""
    rows = [_row(a, _ARTICLE_COLUMNS) + [stored_at, run_id] for a in articles]
    if not rows:
        return 0
    before = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
    columns = _ARTICLE_COLUMNS + ["stored_at", "run_id"]
    _insert(connection, "INSERT INTO articles", columns, rows, "ON CONFLICT DO NOTHING")
    return connection.execute("SELECT count(*) FROM articles").fetchone()[0] - before


def store_keys(connection: duckdb.DuckDBPyConnection, keys: Iterable[tuple[str, str, str]]) -> None:
    """(key, article_id, kind) rows; a key already known keeps its first article."""
    rows = [list(k) for k in keys]
    _insert(connection, "INSERT INTO article_keys", ["key", "article_id", "kind"], rows, "ON CONFLICT DO NOTHING")


def store_feed_links(
    connection: duckdb.DuckDBPyConnection,
    links: Iterable[tuple[str, str]],
    seen_at: datetime,
    run_id: str,
) -> None:
    """(feed_name, article_id): which feeds carried which article."""
    rows = [[feed, article_id, seen_at, run_id] for feed, article_id in links]
    columns = ["feed_name", "article_id", "first_seen_at", "run_id"]
    _insert(connection, "INSERT INTO feed_items", columns, rows, "ON CONFLICT DO NOTHING")


def store_feed_states(connection: duckdb.DuckDBPyConnection, states: Iterable[FeedState]) -> None:
    _insert(connection, "INSERT OR REPLACE INTO feeds", _FEED_COLUMNS, [_row(s, _FEED_COLUMNS) for s in states])


def store_matches(
    connection: duckdb.DuckDBPyConnection, matches: Iterable[ArticleMatch], run_id: str | None
) -> None:
    """Topic matches of new articles; a rerun of the same pass stores nothing twice."""
    rows = [
        [m.article_id, m.topic_id, m.terms, json.dumps(m.evidence, ensure_ascii=False), m.snippets,
         m.title_match, m.matched_at, run_id]
        for m in matches
    ]
    columns = ["article_id", "topic_id", "terms", "evidence", "snippets", "title_match", "matched_at", "run_id"]
    _insert(connection, "INSERT INTO matches", columns, rows, "ON CONFLICT DO NOTHING")


def store_run(connection: duckdb.DuckDBPyConnection, run: RunSummary, errors: Sequence[RunError]) -> None:
    connection.execute(
        f"INSERT OR REPLACE INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({_placeholders(_RUN_COLUMNS)})",
        _row(run, _RUN_COLUMNS),
    )
    store_run_errors(connection, run.run_id, errors)


def store_run_errors(connection: duckdb.DuckDBPyConnection, run_id: str, errors: Sequence[RunError]) -> None:
    """Errors of a run (also those of a step after its run row was stored)."""
    columns = ["run_id", "stage", "subject", "error", "occurred_at"]
    rows = [[run_id, e.stage, e.subject, e.error, e.occurred_at] for e in errors]
    _insert(connection, "INSERT INTO run_errors", columns, rows)


def load_seed_articles(connection: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> int:
    """Store the seed corpus as known coverage; loading it again stores nothing new."""
    with transaction(connection):
        stored = store_articles(connection, articles, datetime.now(UTC), run_id=None)
        store_keys(connection, [(a.url_key, a.article_id, "seed") for a in articles])
    return stored


# --- novelty ---------------------------------------------------------------------------------------


def store_fingerprints(
    connection: duckdb.DuckDBPyConnection, fingerprints: Iterable[ArticleFingerprint], indexed_at: datetime
) -> None:
    """Fingerprints of new corpus articles; an article fingerprinted before keeps its first one."""
    rows = [_row(f, _FINGERPRINT_COLUMNS) + [indexed_at] for f in fingerprints]
    columns = _FINGERPRINT_COLUMNS + ["indexed_at"]
    _insert(connection, "INSERT INTO article_fingerprints", columns, rows, "ON CONFLICT DO NOTHING")


def store_developments(connection: duckdb.DuckDBPyConnection, developments: Iterable[Development]) -> None:
    """Decisions of the pass; an article decided before keeps its first decision (reruns)."""
    rows = [
        [json.dumps(value, ensure_ascii=False) if column in _JSON_COLUMNS else value
         for column, value in zip(_DEVELOPMENT_COLUMNS, _row(d, _DEVELOPMENT_COLUMNS), strict=True)]
        for d in developments
    ]
    _insert(connection, "INSERT INTO developments", _DEVELOPMENT_COLUMNS, rows, "ON CONFLICT DO NOTHING")


def read_corpus(connection: duckdb.DuckDBPyConnection, since: datetime) -> Iterator[CorpusEntry]:
    """The corpus the diff compares against: the seed, and German articles published (or, without
    a publication date, stored) since `since`, oldest first. Streamed in chunks: the index turns
    them into arrays as they come, so 100,000 articles' blobs are never all in Python at once."""
    result = connection.execute(
        """
        SELECT f.article_id, f.story_id, f.signature, f.sentence_terms, f.sentence_lengths, f.number_keys, f.name_codes
        FROM article_fingerprints f JOIN articles a USING (article_id)
        WHERE a.is_seed OR coalesce(a.published_at, a.stored_at) >= ?
        ORDER BY f.indexed_at, coalesce(a.published_at, a.stored_at), f.article_id
        """,
        [since],
    )
    while rows := result.fetchmany(2000):
        yield from (CorpusEntry(*row) for row in rows)


def read_sentences(connection: duckdb.DuckDBPyConnection, article_ids: Iterable[str]) -> dict[str, list[str]]:
    """The stored sentences of the given articles (for showing where the corpus said something)."""
    ids = sorted(set(article_ids))
    if not ids:
        return {}
    rows = connection.execute(
        "SELECT article_id, sentences FROM article_fingerprints WHERE list_contains(?, article_id)", [ids]
    ).fetchall()
    return dict(rows)


def articles_without_fingerprint(connection: duckdb.DuckDBPyConnection) -> list[Article]:
    """German articles without a fingerprint, to fingerprint now: the seed on the first pass,
    articles stored before the corpus index existed, those of a pass stopped after storing its
    articles but before fingerprinting the ones its diff did not read, and any whose analysis
    failed."""
    columns = ", ".join(f"a.{c}" for c in _ARTICLE_COLUMNS)
    rows = connection.execute(
        f"""
        SELECT {columns} FROM articles a
        WHERE a.language = 'de' AND length(trim(a.text)) > 0
          AND NOT EXISTS (SELECT 1 FROM article_fingerprints f WHERE f.article_id = a.article_id)
        ORDER BY coalesce(a.published_at, a.stored_at), a.article_id
        """
    ).fetchall()
    return [Article(*row) for row in rows]
