"""Reads and writes of one pass. Column names equal record field names (newswatch/records.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from newswatch.records import Article, ArticleMatch, FeedState, RunError, RunSummary
from storage.db import transaction

_ARTICLE_COLUMNS = [f.name for f in dataclasses.fields(Article)]
_FEED_COLUMNS = [f.name for f in dataclasses.fields(FeedState)]
_RUN_COLUMNS = [f.name for f in dataclasses.fields(RunSummary)]


def _row(record: Any, columns: Sequence[str]) -> list[Any]:
    return [getattr(record, column) for column in columns]


def _placeholders(columns: Sequence[str]) -> str:
    return ", ".join("?" for _ in columns)


# DuckDB's executemany runs one statement per row (about 8 ms a row for an article); one
# multi-row VALUES statement per chunk is two orders of magnitude faster.
_ROWS_PER_STATEMENT = 200


def _insert(
    connection: duckdb.DuckDBPyConnection,
    statement: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    suffix: str = "",
) -> None:
    """`statement` is `INSERT [OR REPLACE] INTO table`; rows are inserted in multi-row chunks."""
    row_placeholder = f"({_placeholders(columns)})"
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        values = ", ".join(row_placeholder for _ in chunk)
        connection.execute(
            f"{statement} ({', '.join(columns)}) VALUES {values} {suffix}",
            [value for row in chunk for value in row],
        )


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
    columns = ["run_id", "stage", "subject", "error", "occurred_at"]
    rows = [[run.run_id, e.stage, e.subject, e.error, e.occurred_at] for e in errors]
    _insert(connection, "INSERT INTO run_errors", columns, rows)


def load_seed_articles(connection: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> int:
    """Store the seed corpus as known coverage; loading it again stores nothing new."""
    with transaction(connection):
        stored = store_articles(connection, articles, datetime.now(UTC), run_id=None)
        store_keys(connection, [(a.url_key, a.article_id, "seed") for a in articles])
    return stored
