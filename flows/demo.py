"""`newswatch demo`: the real pipeline, end to end, over bundled recorded coverage on 127.0.0.1.

demo/coverage/ holds fictional outlets' feeds and article pages (see its README). A small HTTP
server serves them with `{{BASE}}` and relative `{{DATE:-3h}}` / `{{ISODATE:-3h}}` placeholders
rendered at request time, so the coverage always looks current. The demo writes a config naming
those feeds, runs two passes of the `monitor` flow and prints what the database holds.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from newswatch.config import PROJECT_ROOT, load_settings

COVERAGE = PROJECT_ROOT / "demo" / "coverage"
_PLACEHOLDER = re.compile(r"\{\{(BASE|DATE|ISODATE)(?::([+-]\d+)([mhd]))?\}\}")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_TYPES = {".html": "text/html; charset=utf-8", ".xml": "application/xml; charset=utf-8",
          ".rss": "application/rss+xml; charset=utf-8", ".atom": "application/atom+xml; charset=utf-8"}


def render(text: str, base: str, now: datetime) -> str:
    def replace(match: re.Match[str]) -> str:
        kind, amount, unit = match.groups()
        if kind == "BASE":
            return base
        moment = now + timedelta(**{_UNITS[unit]: int(amount)}) if amount else now
        return format_datetime(moment) if kind == "DATE" else moment.isoformat(timespec="seconds")

    return _PLACEHOLDER.sub(replace, text)


class CoverageServer:
    """Serves `root/sites/<site>/<path>` as `http://127.0.0.1:<port>/<site>/<path>`."""

    def __init__(self, root: Path = COVERAGE, on_request: Callable[[str], None] | None = None):
        self.sites = root / "sites"
        self.now = datetime.now(UTC)
        self.requests: list[str] = []
        self.on_request = on_request  # called with each request path before it is answered
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0].split("#", 1)[0]
                server.requests.append(path)
                if server.on_request:
                    server.on_request(path)
                target = (server.sites / path.lstrip("/")).resolve()
                if not target.is_file() or server.sites.resolve() not in target.parents:
                    self.send_error(404)
                    return
                body = render(target.read_text(encoding="utf-8"), server.base, server.now).encode()
                self.send_response(200)
                self.send_header("Content-Type", _TYPES.get(target.suffix, "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CoverageServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def demo_config(server: CoverageServer, folder: Path, channels: list[dict[str, object]] | None = None) -> Path:
    """A newswatch.toml for the demo: the shipped topics, the demo feeds, loopback admitted, and
    `channels` (each a [[channels]] table) for alerts."""
    manifest = json.loads((COVERAGE / "manifest.json").read_text(encoding="utf-8"))
    shipped = load_settings(PROJECT_ROOT / "newswatch.toml")
    lines = [
        "[storage]",
        f'path = "{folder / "newswatch.duckdb"}"',
        "[fetch]",
        f'allow_private_addresses = ["127.0.0.1:{server.port}"]',
        "per_host_delay_seconds = 0.0",
        "per_host_concurrency = 4",
    ]
    for feed in manifest["feeds"]:
        name = f'{feed["site"]}-{Path(feed["path"]).stem}'  # e.g. rundschau-politik
        lines += ["[[feeds]]", f'name = "{name}"', f'url = "{server.base}/{feed["path"].lstrip("/")}"']
    for topic in shipped.topics:
        lines += ["[[topics]]", f"id = {json.dumps(topic.id)}", f"name = {json.dumps(topic.name)}",
                  f"query = {json.dumps(topic.query)}"]
    for channel in channels or []:  # JSON strings, numbers, booleans and lists are valid TOML values
        lines += ["[[channels]]", *(f"{key} = {json.dumps(value)}" for key, value in channel.items())]
    path = folder / "newswatch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_demo(keep: Path | None = None) -> None:
    from alerts.loopback import SmtpReceiver, WebhookReceiver, redirect_slack_to
    from flows.cli import print_pass_summary, run_monitor_flow

    console = Console(width=max(Console().width, 150))
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="newswatch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    # Alerts go over the real protocols to receivers on 127.0.0.1: an SMTP server, a JSON webhook,
    # and Apprise's Slack plugin pointed at a loopback receiver instead of hooks.slack.com.
    with (
        CoverageServer() as server,
        SmtpReceiver() as smtp,
        WebhookReceiver() as webhook,
        WebhookReceiver() as slack,
        redirect_slack_to(slack),
    ):
        channels = [
            {"name": "desk-email", "url": smtp.mailto_url(to="belarus-desk@example.org"),
             "min_send_interval_seconds": 0},
            {"name": "desk-slack", "url": slack.slack_webhook_url(), "min_send_interval_seconds": 0},
            {"name": "russia-webhook", "url": webhook.json_url(), "topics": ["us-russia"]},
        ]
        config = demo_config(server, folder, channels)
        settings = load_settings(config)
        console.rule(f"newswatch demo: recorded coverage served on {server.base}")
        console.print(f"config: {config}")
        console.print(f"alerts: SMTP on 127.0.0.1:{smtp.port}, webhook and Slack receivers on "
                      f"127.0.0.1:{webhook.port} and 127.0.0.1:{slack.port}")
        console.rule("pass 1")
        print_pass_summary(run_monitor_flow(config, settings))
        delivered = (len(smtp.messages), len(slack.requests), len(webhook.requests))
        console.rule("pass 2 (same feeds again: nothing new may be stored or alerted)")
        print_pass_summary(run_monitor_flow(config, settings))
        show_database(settings.storage.resolved_snapshot_path, console)
        show_alerts(smtp, slack, webhook, console)
        again = (len(smtp.messages), len(slack.requests), len(webhook.requests))
        console.print(
            "pass 2 sent nothing more" if again == delivered else f"[red]pass 2 sent more: {again} after {delivered}[/]"
        )


def show_alerts(smtp, slack, webhook, console: Console) -> None:  # noqa: ANN001 - the loopback receivers
    """The alerts exactly as the receivers got them."""
    console.rule(f"alerts delivered: {len(smtp.messages)} emails, {len(slack.requests)} Slack messages, "
                 f"{len(webhook.requests)} webhook calls")
    table = Table(title="email (SMTP on 127.0.0.1)")
    for column in ("to", "subject", "parts"):
        table.add_column(column)
    for mail in smtp.messages:
        parts = ", ".join(part.get_content_type() for part in mail.iter_parts()) if mail.is_multipart() else ""
        table.add_row(mail["To"], mail["Subject"], parts)
    console.print(table)
    if smtp.messages:
        first = smtp.messages[0]
        console.rule(f"the first email as delivered (plain-text part): {first['Subject']}")
        console.print(first.get_body(("plain",)).get_content(), markup=False, highlight=False)
    if slack.requests:
        payload = slack.requests[0].json
        blocks = payload["attachments"][0]["blocks"]
        console.rule(f"the first Slack message as posted (Block Kit, mrkdwn): {blocks[0]['text']['text']}")
        console.print(blocks[1]["text"]["text"], markup=False, highlight=False)
    for request in webhook.requests:
        console.print(f"webhook {request.path}: {request.json['title']} "
                      f"(Idempotency-Key {request.headers.get('Idempotency-Key')})", markup=False)


def show_database(snapshot: Path, console: Console) -> None:
    """Print what an analyst would see in the snapshot."""
    with duckdb.connect(str(snapshot), read_only=True) as db:
        table = Table(title=f"articles in {snapshot}")
        for column in ("site", "title", "lang", "text from", "chars", "topics", "feeds"):
            table.add_column(column)
        rows = db.execute(
            """
            SELECT coalesce(a.site_name, a.outlet), a.title, a.language, a.text_source, length(a.text),
                   (SELECT string_agg(m.topic_id, ', ' ORDER BY m.topic_id) FROM matches m
                    WHERE m.article_id = a.article_id),
                   string_agg(DISTINCT f.feed_name, ', ')
            FROM articles a LEFT JOIN feed_items f USING (article_id)
            WHERE NOT a.is_seed
            GROUP BY ALL ORDER BY a.language, 1, a.title
            """
        ).fetchall()
        for outlet, title, language, source, chars, topics, feeds in rows:
            table.add_row(outlet or "", (title or "")[:70], language or "?", source, str(chars), topics or "", feeds or "")
        console.print(table)
        show_developments(db, console)
        for url, error in db.execute(
            "SELECT url, fetch_error FROM articles WHERE text_source = 'feed_summary'"
        ).fetchall():
            console.print(f"stored from the feed summary: {url}\n  because: {error}")
        seed = db.execute("SELECT count(*) FROM articles WHERE is_seed").fetchone()[0]
        health = db.execute("SELECT name, health, last_status, last_error FROM feed_health ORDER BY name").fetchall()
        console.print(f"seed corpus articles (known coverage): {seed}")
        for name, status, last_status, error in health:
            console.print(f"feed {name}: {status} ({last_status}){' - ' + error if error else ''}")


def show_developments(db: duckdb.DuckDBPyConnection, console: Console) -> None:
    """The novelty decision of every matched article, with the facts that made it."""
    table = Table(title="matched articles diffed against the corpus (developments)")
    for column in ("decision", "novelty", "site", "title", "new facts", "also reported by"):
        table.add_column(column)
    rows = db.execute(
        """
        SELECT decision, novelty_score, outlet, title,
               [f ->> 'text' FOR f IN CAST(new_facts AS JSON[])] AS facts, also_reported_by
        FROM development_reports ORDER BY published_at, article_id
        """
    ).fetchall()
    for decision, score, outlet, title, facts, also in rows:
        shown = "; ".join(str(f)[:40] for f in facts[:3]) + (f" (+{len(facts) - 3})" if len(facts) > 3 else "")
        table.add_row(decision, f"{score:.2f}", outlet or "", (title or "")[:60], shown, ", ".join(also or []))
    console.print(table)
