"""`newswatch alerts ...`: the outbox for operators (docs/alerts.md, docs/operations.md)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from flows.output import console, fail
from flows.secrets import read_prefect_secret
from newswatch.config import DEFAULT_CONFIG_NAME, ConfigError, Settings, load_settings
from storage import outbox
from storage.db import PassLock, StorageError, migrate, open_database

alerts_app = typer.Typer(help="See, resend and test alerts (the outbox).", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to newswatch.toml.", show_default=True)]
BERLIN = ZoneInfo("Europe/Berlin")


def _load(config: Path, *, sending: bool = True) -> Settings:
    """The config; channel secrets are only read by the commands that send."""
    try:
        if not sending:
            return load_settings(config, expand_secrets=False)
        return load_settings(config, resolve_secret=read_prefect_secret)
    except ConfigError as error:
        raise fail(str(error), 2) from None


def _berlin(moment: datetime | None) -> str:
    return moment.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M") if moment else ""


@alerts_app.command("list")
def list_command(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    failed: Annotated[bool, typer.Option("--failed", help="Only the dead-letter list and alerts still retrying.")] = False,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line instead of a table.")] = False,
) -> None:
    """Show alerts, newest first: channel, status, attempts and the last error."""
    settings = _load(config, sending=False)
    try:
        with open_database(settings.storage, read_only=True) as db:
            alerts = outbox.list_alerts(db, failed_only=failed, channel=channel, limit=limit)
            titles = outbox.article_titles(db, [a.article_id for a in alerts if a.article_id])
    except StorageError as error:
        raise fail(str(error), 3) from None
    if as_json:
        for alert in alerts:
            row = {k: getattr(alert, k) for k in alert.__slots__}
            row["title"] = titles.get(alert.article_id or "")
            sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        return
    if not alerts:
        console.print("no failed alerts" if failed else "no alerts")
        return
    table = Table(title="dead-letter list and retries" if failed else "alerts, newest first")
    table.add_column("id", no_wrap=True)  # operators copy it into `alerts resend`
    for column in ("created", "channel", "kind", "status", "attempts", "subject", "last error"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        subject = titles.get(alert.article_id or "") or (f"feed {alert.feed_name}" if alert.feed_name else "")
        status = alert.status
        if alert.status == "failed" and alert.next_attempt_at:
            status = f"failed, retry {_berlin(alert.next_attempt_at)}"
        table.add_row(
            alert.alert_id[:12], _berlin(alert.created_at), alert.channel, alert.kind, status,
            str(alert.attempts), subject, alert.last_error or "",
        )
    console.print(table)
    if failed:
        console.print("Resend one with: newswatch alerts resend ID (the first characters of the id are enough)")


@alerts_app.command("resend")
def resend_command(
    alert_id: Annotated[str, typer.Argument(help="The alert's id, or its first characters (see `alerts list`).")],
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
) -> None:
    """Send one alert again now (a dead one gets a fresh set of attempts)."""
    from alerts.outbox import dispatch

    settings = _load(config)
    try:
        with PassLock(settings.storage.path):
            with open_database(settings.storage) as db:
                migrate(db)
                found = outbox.find_alerts(db, alert_id)
                if len(found) != 1:
                    raise fail(
                        f"no alert with id {alert_id!r}" if not found
                        else f"{alert_id!r} is the start of several ids; give more characters", 2,
                    )
                alert = found[0]
                if alert.channel not in {c.name for c in settings.channels}:
                    raise fail(f"alert {alert.alert_id[:12]} is for channel {alert.channel!r}, which is not configured", 2)
                if alert.status == "sent":
                    console.print(f"alert {alert.alert_id[:12]} was sent {_berlin(alert.sent_at)}; sending it again")
                outbox.requeue(db, alert.alert_id, datetime.now(UTC))
            store = outbox.OutboxStore(settings.storage.path, settings.alerts, settings.storage.lock_timeout_seconds)
            report = dispatch(
                store, settings.channels, {t.id: t.name for t in settings.topics}, settings.alerts,
                only={alert.alert_id},
            )
    except StorageError as error:
        raise fail(str(error), 3) from None
    for name, error in {**report.unusable_channels, **report.errors}.items():
        raise fail(f"alert {alert.alert_id[:12]} to {name} was not sent: {error}", 1)
    for delivery in report.deliveries:
        if delivery.sent:
            console.print(f"sent alert {alert.alert_id[:12]} to {delivery.channel}: {delivery.title}")
        else:
            raise fail(f"alert {alert.alert_id[:12]} to {delivery.channel} failed again: {delivery.error}", 1)


@alerts_app.command("dispatch")
def dispatch_command(config: ConfigOption = Path(DEFAULT_CONFIG_NAME)) -> None:
    """Send due digests and retries now, without polling feeds (runs the `dispatch-alerts` flow)."""
    from flows.monitor import dispatch_alerts_flow

    _load(config)
    try:
        summary = dispatch_alerts_flow(config_path=str(config))
    except StorageError as error:
        raise fail(str(error), 3) from None
    console.print(", ".join(f"{key} {value}" for key, value in summary.items()))


@alerts_app.command("test")
def test_command(
    channel: Annotated[str, typer.Argument(help="The channel's name in the config.")],
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
) -> None:
    """Send a sample alert to one channel right away, to check its URL and how messages look there."""
    from alerts.channels import ChannelError, DeliveryError, open_channel
    from alerts.render import AlertContent, render_alert

    settings = _load(config)
    configured = {c.name: c for c in settings.channels}
    if channel not in configured:
        raise fail(f"no channel {channel!r} in {config} (configured: {', '.join(configured) or 'none'})", 2)
    chosen = configured[channel]
    sample = AlertContent(
        alert_id="test",
        kind="first",
        decision="new_development",
        headline="Testnachricht von newswatch: so sieht ein Alert hier aus",
        outlet="newswatch",
        published_at=datetime.now(UTC),
        topic_names=[t.name for t in settings.topics if chosen.routes(t.id)][:3] or ["(kein Thema)"],
        url="https://example.org/newswatch-test",
        novel_sentences=["Dies ist ein Beispielsatz, der als neu markiert wäre, mit 3 neuen Fakten."],
        new_facts=[{"kind": "number", "text": "3 neuen Fakten", "key": "3 fakt", "sentence": 0}],
        also_reported_by=["Beispiel-Zeitung"],
    )
    try:
        target = open_channel(
            chosen.name, chosen.url, secrets=chosen.secrets, min_send_interval_seconds=chosen.min_send_interval_seconds
        )
        target.send(render_alert(sample, target.style, target.limits), idempotency_key=f"test-{datetime.now(UTC):%Y%m%d%H%M%S}")
    except (ChannelError, DeliveryError) as error:
        raise fail(str(error), 1) from None
    console.print(f"sent a test alert to {channel} ({target.style} format)")
