"""`newswatch diff`: an article with what is new in it highlighted, and where the corpus said the rest."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from extractors.urls import url_key
from flows.output import console, fail
from flows.topics_cli import title_and_text
from newswatch.config import DEFAULT_CONFIG_NAME, ConfigError, Settings, load_settings
from storage import repository

# The novelty modules (numpy, the index) are imported where a diff is made: this module is loaded
# by every `newswatch` command, and they would add about 0.4 s to each.

DECISION_STYLE = {"new_development": "bold green", "update": "bold cyan", "rehash": "yellow", "duplicate": "dim"}
DECISION_LABEL = {
    "new_development": "neue Entwicklung",
    "update": "Update einer bekannten Geschichte",
    "rehash": "nichts Neues (Aufguss)",
    "duplicate": "Kopie / Übernahme",
}


def diff_command(
    target: Annotated[str, typer.Argument(help="An article id, an article URL, or a text/HTML file to diff against the corpus.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Path to newswatch.toml.")] = Path(DEFAULT_CONFIG_NAME),
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision and its evidence as JSON.")] = False,
) -> None:
    """Show an article with its new sentences and facts highlighted and, for the known ones,
    where the corpus already said them. A stored article shows its stored decision; a file is
    diffed against the current corpus (nothing is stored)."""
    try:
        settings = load_settings(config, expand_secrets=False)
    except ConfigError as error:
        raise fail(str(error), 2) from None
    database = _readable_database(settings)
    with duckdb.connect(str(database), read_only=True) as db:
        path = Path(target)
        if path.is_file():
            development, meta = _diff_file(db, settings, path)
        else:
            article_id = _find_article(db, target)
            if article_id is None:
                raise fail(f"{target}: no stored article has this id or URL (and it is not a file)", 1)
            development, meta = _stored_development(db, settings, article_id)
        from novelty.stage import counterpart_ids

        related = {meta.get("closest_article_id"), meta.get("duplicate_of")}
        titles = _titles(db, related | counterpart_ids([development["sentences"]]))
    if as_json:
        print(json.dumps({**meta, **development}, ensure_ascii=False, default=str, indent=2))
        return
    _print(development, meta, titles)


def _readable_database(settings: Settings) -> Path:
    """The analyst snapshot (never locked by a pass); the live file only when there is none yet."""
    snapshot = settings.storage.resolved_snapshot_path
    if snapshot.exists():
        return snapshot
    if settings.storage.path.exists():
        return settings.storage.path
    raise fail(f"{settings.storage.path}: no database yet (run `newswatch run` first)", 3)


def _find_article(db: duckdb.DuckDBPyConnection, target: str) -> str | None:
    row = db.execute("SELECT article_id FROM articles WHERE article_id = ?", [target]).fetchone()
    if row is None and re.match(r"https?://", target):
        row = db.execute(
            "SELECT article_id FROM article_keys WHERE key = ? UNION SELECT article_id FROM articles WHERE url = ?",
            [url_key(target), target],
        ).fetchone()
    return row[0] if row else None


def _stored_development(db: duckdb.DuckDBPyConnection, settings: Settings, article_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    row = db.execute("SELECT * FROM development_reports WHERE article_id = ?", [article_id]).fetchone()
    if row is None:  # stored but not matched to a topic: diff it against what came before it
        article = db.execute(
            "SELECT title, text, coalesce(site_name, outlet), published_at, url FROM articles WHERE article_id = ?",
            [article_id],
        ).fetchone()
        indexed = db.execute("SELECT indexed_at FROM article_fingerprints WHERE article_id = ?", [article_id]).fetchone()
        before = indexed[0] if indexed else None
        development = _diff_text(db, settings, article_id, f"{article[0] or ''}\n\n{article[1]}", before)
        meta = {"title": article[0], "outlet": article[2], "published_at": article[3], "url": article[4],
                "stored_decision": False}
        return development, {**meta, **_meta_of(development)}
    columns = [d[0] for d in db.description]
    record = dict(zip(columns, row, strict=True))
    development = {
        "sentences": json.loads(record["sentences"]),
        "new_facts": json.loads(record["new_facts"]),
    }
    meta = {k: v for k, v in record.items() if k not in ("sentences", "new_facts", "novel_sentences")}
    meta["stored_decision"] = True
    return development, meta


def _diff_file(db: duckdb.DuckDBPyConnection, settings: Settings, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        title, text = title_and_text(path.read_bytes().decode("utf-8", errors="replace"))
    except OSError as error:
        raise fail(f"{path}: cannot read ({error.strerror})", 1) from None
    development = _diff_text(db, settings, f"file:{path.name}", f"{title}\n\n{text}", None)
    meta = {"title": title, "outlet": str(path), "published_at": None, "url": None, "stored_decision": False}
    return development, {**meta, **_meta_of(development)}


def _diff_text(
    db: duckdb.DuckDBPyConnection, settings: Settings, article_id: str, text: str, indexed_before: datetime | None
) -> dict[str, Any]:
    from novelty.diff import diff_article
    from novelty.fingerprint import fingerprint_text
    from novelty.index import CorpusIndex
    from novelty.stage import attach_counterpart_texts, counterpart_ids

    now = datetime.now(UTC)
    since = now - timedelta(days=settings.novelty.lookback_days)
    entries = (e for e in repository.read_corpus(db, since) if e.article_id != article_id)
    if indexed_before is not None:  # a stored article: only what the corpus held before it
        earlier = {r[0] for r in db.execute(
            "SELECT article_id FROM article_fingerprints WHERE indexed_at < ?", [indexed_before]).fetchall()}
        entries = (e for e in entries if e.article_id in earlier)
    fingerprint = fingerprint_text(article_id, text)
    development = diff_article(fingerprint, CorpusIndex(entries), settings.novelty, topic_ids=[], decided_at=now)
    attach_counterpart_texts([development], repository.read_sentences(db, counterpart_ids([development.sentences])))
    return asdict(development)


def _meta_of(development: dict[str, Any]) -> dict[str, Any]:
    keys = ("decision", "novelty_score", "story_id", "closest_article_id", "closest_similarity", "duplicate_of")
    return {k: development[k] for k in keys}


def _titles(db: duckdb.DuckDBPyConnection, ids: set[Any]) -> dict[str, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = db.execute(
        "SELECT article_id, coalesce(site_name, outlet) || ': ' || coalesce(title, url) FROM articles "
        "WHERE list_contains(?, article_id)", [sorted(ids)],
    ).fetchall()
    return dict(rows)


def _highlight(sentence: str, facts: list[dict[str, Any]]) -> Text:
    text = Text(sentence)
    for fact in facts:
        needle = str(fact["text"])[:200]
        start = sentence.find(needle)
        if start >= 0:
            text.stylize("bold black on yellow", start, start + len(needle))
    return text


def _print(development: dict[str, Any], meta: dict[str, Any], titles: dict[str, str]) -> None:
    decision = meta["decision"]
    header = Text()
    header.append(f"{meta.get('title') or '(ohne Titel)'}\n", style="bold")
    header.append(f"{meta.get('outlet') or ''}  {meta.get('published_at') or ''}  {meta.get('url') or ''}\n")
    header.append("Entscheidung: ")
    header.append(f"{decision} ({DECISION_LABEL[decision]})", style=DECISION_STYLE[decision])
    header.append(f"   Neuheit {meta['novelty_score']:.2f}   Geschichte {meta['story_id']}")
    if meta.get("also_reported_by"):
        header.append(f"\nAuch berichtet von: {', '.join(meta['also_reported_by'])}")
    if meta.get("closest_article_id"):
        header.append(f"\nÄhnlichster Korpus-Artikel ({meta['closest_similarity']}): "
                      f"{titles.get(meta['closest_article_id'], meta['closest_article_id'])}")
    if meta.get("duplicate_of"):
        header.append(f"\nKopie von: {titles.get(meta['duplicate_of'], meta['duplicate_of'])}")
    if not meta.get("stored_decision"):
        header.append("\n(neu berechnet gegen den aktuellen Korpus, nicht gespeichert)", style="dim")
    console.print(Panel(header, title="newswatch diff", border_style=DECISION_STYLE[decision].split()[-1]))

    facts_by_sentence: dict[int, list[dict[str, Any]]] = {}
    for fact in development["new_facts"]:
        if isinstance(fact.get("sentence"), int):
            facts_by_sentence.setdefault(fact["sentence"], []).append(fact)
    table = Table(show_header=True, header_style="bold", expand=True, show_lines=False)
    table.add_column("", width=5)
    table.add_column("Satz", ratio=3)
    table.add_column("im Korpus schon gesagt", ratio=2)
    for number, sentence in enumerate(development["sentences"]):
        text = _highlight(sentence["text"], facts_by_sentence.get(number, []))
        if sentence["novel"]:
            text.stylize("green")
            table.add_row(Text("NEU", style="bold green"), text, "")
        else:
            where = ""
            if sentence.get("counterpart_article_id") and sentence.get("similarity", 0) > 0:
                source = titles.get(sentence["counterpart_article_id"], sentence["counterpart_article_id"])
                where = f"≈{sentence['similarity']:.2f} {source}\n„{sentence.get('counterpart_text') or ''}“"
            table.add_row(Text("", style="dim"), Text(sentence["text"], style="dim"), Text(where, style="dim"))
    console.print(table)
    if development["new_facts"]:
        console.print(Text("Neue Fakten", style="bold"))
        kinds = {"number": "Zahl", "name": "Name", "quote": "Zitat"}
        for fact in development["new_facts"]:
            console.print(f"  • {kinds.get(fact['kind'], fact['kind'])}: {fact['text']}", highlight=False)
    alerting = decision in ("new_development", "update")  # novelty.diff.ALERTING
    console.print(Text(f"→ {'würde alarmieren' if alerting else 'kein Alarm'}", style="bold" if alerting else "dim"))
