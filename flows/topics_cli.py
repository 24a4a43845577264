"""`newswatch topics ...`: tune topic queries from the command line (docs/topics.md)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.panel import Panel
from rich.text import Text

from flows.output import console, fail
from matching.matcher import AdHocTopic, Match, TopicMatcher
from matching.query import QueryError, parse_query
from newswatch.config import DEFAULT_CONFIG_NAME, ConfigError, load_settings
from storage.seed import read_seed_corpus

topics_app = typer.Typer(help="Write and tune topic queries against real text.", no_args_is_help=True)

_HTML = re.compile(r"<\s*(?:!doctype\s+html|html|body|article|p)\b", re.IGNORECASE)



def _check_query(query: str) -> None:
    try:
        parse_query(query)
    except QueryError as error:
        raise fail(f"--query: {error}", 2) from None


def title_and_text(raw: str) -> tuple[str, str]:
    """An HTML page goes through the extractor; plain text is `headline\\nbody`."""
    if _HTML.search(raw[:5000]):
        from extractors.article_text import extract_text

        extracted = extract_text(raw)
        return (extracted.title or "", extracted.text) if extracted else ("", "")
    lines = raw.strip().splitlines()
    return (lines[0].strip(), "\n".join(lines[1:])) if lines else ("", "")


@topics_app.command("match")
def match_files(
    files: Annotated[list[Path], typer.Argument(help="Plain-text (first line: headline) or HTML files.")],
    query: Annotated[str, typer.Option("--query", "-q", help="The query to test, e.g. 'Belarus AND Sanktion'.")],
) -> None:
    """Print one JSON line per file: {"file", "matched", "terms"} (terms: the query terms found)."""
    _check_query(query)
    matcher = TopicMatcher([AdHocTopic(query)])
    unreadable = 0
    for path in files:
        line: dict[str, object] = {"file": str(path)}
        try:
            title, text = title_and_text(path.read_bytes().decode("utf-8", errors="replace"))
        except OSError as error:
            unreadable += 1
            line.update(matched=False, terms=[], error=f"cannot read: {error.strerror}")
        else:
            found = matcher.match(title, text)
            line.update(matched=bool(found), terms=found[0].term_list if found else [])
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    if unreadable:
        raise typer.Exit(1)


@topics_app.command("test")
def test_query(
    query: Annotated[str | None, typer.Option("--query", "-q", help="A query to try.")] = None,
    topic: Annotated[str | None, typer.Option("--topic", "-t", help="A configured topic's id.")] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help="Path to newswatch.toml.")] = Path(DEFAULT_CONFIG_NAME),
    limit: Annotated[int, typer.Option(help="Show at most this many matching articles.")] = 20,
) -> None:
    """Run a query (or a configured topic) over the seed corpus and the stored German articles."""
    if (query is None) == (topic is None):
        raise fail("give exactly one of --query or --topic", 2)
    try:
        settings = load_settings(config, expand_secrets=False)
    except ConfigError as error:
        raise fail(str(error), 2) from None
    if topic is not None:
        chosen = next((t for t in settings.topics if t.id == topic), None)
        if chosen is None:
            known = ", ".join(t.id for t in settings.topics) or "none"
            raise fail(f"no topic {topic!r} in {config} (known: {known})", 2)
        matcher = TopicMatcher([chosen])
    else:
        _check_query(query)
        matcher = TopicMatcher([AdHocTopic(query)])

    corpus = [(a.outlet or "seed", a.title or "", a.text, None) for a in read_seed_corpus(settings.corpus.seed_path)]
    snapshot = settings.storage.resolved_snapshot_path
    if snapshot.exists():
        with duckdb.connect(str(snapshot), read_only=True) as db:
            corpus += db.execute(
                "SELECT coalesce(site_name, outlet), title, text, published_at FROM articles "
                "WHERE language = 'de' AND NOT is_seed ORDER BY published_at DESC NULLS LAST"
            ).fetchall()
    shown = matched = 0
    for outlet, title, text, published in corpus:
        found = matcher.match(title, text)
        if not found:
            continue
        matched += 1
        if shown < limit:
            shown += 1
            console.print(_render(found[0], outlet, title, published))
    source = f"the seed corpus and {snapshot}" if snapshot.exists() else "the seed corpus (no snapshot yet)"
    console.print(f"[bold]{matched}[/] of {len(corpus)} German articles in {source} match.")


def _render(match: Match, outlet: str, title: str, published: object) -> Panel:
    surfaces = sorted({t.surface for t in match.terms}, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(s) for s in surfaces)) if surfaces else None
    body = Text()
    body.append("terms: ", style="bold")
    body.append(", ".join(match.term_list) + "\n")
    for snippet in match.snippets:
        line = Text(snippet + "\n")
        if pattern:
            line.highlight_regex(pattern, style="bold black on yellow")
        body.append_text(line)
    heading = Text(title)
    if pattern:
        heading.highlight_regex(pattern, style="bold black on yellow")
    when = f" · {published:%Y-%m-%d %H:%M}" if published else ""
    return Panel(body, title=heading, subtitle=f"{outlet}{when}", title_align="left", subtitle_align="left")
