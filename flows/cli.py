"""The `newswatch` command line (Typer). Every command has --help.

Exit codes: 0 done (a pass that completed with some feeds failing is done), 1 the pass crashed,
2 the configuration is unusable, 3 the database is unusable or locked, 4 no Prefect server
(`serve`; `run` when the one in PREFECT_API_URL cannot be reached).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.output import console, fail
from flows.secrets import read_prefect_secret
from newswatch.config import DEFAULT_CONFIG_NAME, ConfigError, Settings, load_settings
from storage.db import StorageError, migrate, open_database, schema_version

# Prefect's temporary server (used when no PREFECT_API_URL is set) gets 20 s to start by default;
# on a busy two-core machine that is not always enough.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
# Its telemetry heartbeat cannot reach anyone from a newsroom's closed network and, on the temporary
# server's SQLite file, logs lock errors; operators who want it set the variable to true.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    help="newswatch: watch German-language news for tracked topics and alert on what is new.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from flows.topics_cli import topics_app  # noqa: E402 - after the Prefect environment defaults

app.add_typer(topics_app, name="topics")

from flows.diff_cli import diff_command  # noqa: E402

app.command("diff")(diff_command)

from flows.alerts_cli import alerts_app  # noqa: E402

app.add_typer(alerts_app, name="alerts")

from flows.ops_cli import query_command, status_command  # noqa: E402

app.command("status")(status_command)
app.command("query")(query_command)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to newswatch.toml.", show_default=True)
]



def _load(config: Path) -> Settings:
    try:
        return load_settings(config, resolve_secret=read_prefect_secret)
    except ConfigError as error:
        raise fail(str(error), 2) from None


def _check_channels(settings: Settings) -> None:
    """A channel URL Apprise cannot use is a config error, reported before the pass starts."""
    if not settings.channels:
        return
    from alerts.channels import ChannelError, open_channel

    for index, channel in enumerate(settings.channels):
        try:
            open_channel(channel.name, channel.url, secrets=channel.secrets)
        except ChannelError as error:
            raise fail(f"{settings.source}: channels[{index}].url: {error}", 2) from None


def _check_prefect_api() -> None:
    """With PREFECT_API_URL set, its server must answer before anything starts: otherwise Prefect
    retries for a while and the pass ends in a generic crash."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return  # Prefect starts a temporary local server
    import httpx

    from flows.serve import health_status

    try:
        status = health_status(url, timeout=5)
        # Any answer but a server error means it is there (Prefect Cloud wants the API key first).
        reason = None if status < 500 else f"HTTP {status}"
    except httpx.HTTPError as error:
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if reason is not None:
        raise fail(
            f"the Prefect API at {url} (PREFECT_API_URL) cannot be reached ({reason}); start the server "
            "(`prefect server start`) or unset PREFECT_API_URL to run with a temporary local one",
            4,
        ) from None


def _prepare_database(settings: Settings) -> None:
    """Fail fast, before Prefect starts, when the database cannot be opened or upgraded."""
    try:
        with open_database(settings.storage) as db:
            migrate(db)
    except StorageError as error:
        raise fail(str(error), 3) from None


@app.command()
def run(config: ConfigOption = Path(DEFAULT_CONFIG_NAME)) -> None:
    """Run one monitoring pass: poll feeds, fetch and extract new articles, store them."""
    settings = _load(config)
    _check_channels(settings)
    _check_prefect_api()
    _prepare_database(settings)
    summary = run_monitor_flow(config, settings)
    print_pass_summary(summary)


def run_monitor_flow(config: Path, settings: Settings) -> dict[str, object]:
    """Run the Prefect flow once, turning the expected failures into clear messages."""
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.monitor import monitor

    flow = monitor.with_options(
        task_runner=ThreadPoolTaskRunner(max_workers=settings.fetch.feed_concurrency + 4)
    )
    try:
        return flow(config_path=str(config))
    except StorageError as error:
        raise fail(str(error), 3) from None
    except ConfigError as error:
        raise fail(str(error), 2) from None
    except Exception as error:  # noqa: BLE001 - a crash gets one line here, the traceback is in the Prefect logs
        raise fail(f"the pass failed: {type(error).__name__}: {error}", 1) from None


def print_pass_summary(summary: dict[str, object], title: str = "newswatch pass") -> None:
    table = Table(title=title, show_header=False)
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)


@app.command()
def serve(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    port: Annotated[int, typer.Option(help="Port of the Prefect server started when none answers.")] = 4200,
) -> None:
    """Run the deployments on their schedules (monitor, dispatch-alerts) until Ctrl-C; starts a
    Prefect server on 127.0.0.1 when none answers. Runs appear in the UI on http://127.0.0.1:4200."""
    from flows.serve import ServeError, serve_deployments

    settings = _load(config)
    _check_channels(settings)
    _prepare_database(settings)
    try:
        serve_deployments(settings, config, port=port)
    except ServeError as error:
        raise fail(str(error), 4) from None
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
def backfill(
    since: Annotated[str, typer.Option(
        "--since", help="Catch up entries published since this date: 2026-11-01, or 2026-11-01T06:00 "
        "(local time in the \\[schedule] timezone unless an offset is given).", metavar="DATE",
    )],
    feed: Annotated[list[str] | None, typer.Option(
        "--feed", help="Only this feed (repeat for several); default: every enabled feed.", metavar="NAME",
    )] = None,
    max_pages: Annotated[int, typer.Option(min=1, help="Feed documents read per feed at most.")] = 100,
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
) -> None:
    """Read the feeds' history back to --since (RFC 5005 paged and archived feeds) and store what
    is not stored yet, with a progress bar. Safe to interrupt and run again."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.backfill import BackfillProgress, parse_since, reporting_to
    from flows.backfill import backfill as backfill_flow

    settings = _load(config)
    _check_channels(settings)
    _prepare_database(settings)
    try:
        since_at = parse_since(since, settings.schedule.timezone)
    except ConfigError as error:
        raise fail(str(error), 2) from None
    feeds = len(feed) if feed else len(settings.enabled_feeds)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        histories = progress.add_task("feed history read", total=feeds)
        articles = progress.add_task("articles stored", total=None)
        reporting_to(BackfillProgress(
            feed_done=lambda history: progress.advance(histories),
            items_to_ingest=lambda total: progress.update(articles, total=total),
            ingested=lambda count: progress.advance(articles, count),
        ))
        try:
            summary = backfill_flow(config_path=str(config), since=since_at, feeds=feed or None, max_pages=max_pages)
        except ConfigError as error:
            raise fail(str(error), 2) from None
        except StorageError as error:
            raise fail(str(error), 3) from None
        except Exception as error:  # noqa: BLE001 - one line here, the traceback is in the Prefect logs
            raise fail(f"the backfill failed: {type(error).__name__}: {error}", 1) from None
        finally:
            reporting_to(BackfillProgress())
    print_pass_summary(summary, title="newswatch backfill")


@app.command()
def extract(
    html: Annotated[Path, typer.Option("--html", help="An HTML file saved from a news page.")],
    url: Annotated[str | None, typer.Option("--url", help="The page's URL (helps metadata).")] = None,
) -> None:
    """Extract one page's article text and metadata; print JSON (title, text, language, published...)."""
    from extractors.article_text import extract_text
    from extractors.language import detect_language

    try:
        raw = html.read_bytes()
    except OSError as error:
        raise fail(f"{html}: cannot read ({error.strerror})", 2) from None
    document = raw.decode("utf-8", errors="replace")
    extracted = extract_text(document, url)
    text = extracted.text if extracted else ""
    guess = detect_language(text, extracted.html_language if extracted else None)
    output = {
        "file": str(html),
        "url": url,
        "title": extracted.title if extracted else None,
        "text": text,
        "language": guess.language,
        "language_confidence": guess.confidence,
        "language_source": guess.source,
        "published": extracted.published_at.isoformat() if extracted and extracted.published_at else None,
        "author": extracted.author if extracted else None,
        "canonical_url": extracted.canonical_url if extracted else None,
    }
    sys.stdout.write(json.dumps(output, ensure_ascii=False, indent=2) + "\n")
    if extracted is None:
        raise fail(f"{html}: no article text found", 1)


@app.command("migrate")
def migrate_command(config: ConfigOption = Path(DEFAULT_CONFIG_NAME)) -> None:
    """Create the database or upgrade it in place to this release's schema."""
    settings = _load(config)
    try:
        with open_database(settings.storage) as db:
            applied = migrate(db)
            version = schema_version(db)
    except StorageError as error:
        raise fail(str(error), 3) from None
    done = f"applied {', '.join(map(str, applied))}" if applied else "already up to date"
    console.print(f"{settings.storage.path}: schema version {version} ({done})")


@app.command()
def demo(
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Write the demo database here instead of a temp folder.")
    ] = None,
) -> None:
    """Serve the bundled recorded coverage on 127.0.0.1, run a real pass against it, show what was stored."""
    # The demo shows results; per-task log lines would bury them (set the variable to see them).
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.demo import run_demo

    run_demo(keep)


if __name__ == "__main__":
    app()
