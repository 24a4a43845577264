"""What the Prefect UI shows for a run: table artifacts and a markdown summary (docs/operations.md).

Keys are stable (`monitor-summary`, `monitor-developments`, `monitor-feeds`, `monitor-alerts`), so
the Artifacts page keeps one history per key across runs. Everything shown comes from feeds and
pages written by strangers: the markdown escapes it (a title cannot add links, images or markup)
and only http(s) links are made. Channel URLs never appear; errors are already redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from alerts.outbox import DispatchReport
from newswatch.records import ALERTING_DECISIONS, Article, Development

if TYPE_CHECKING:
    from flows.monitor import PassResult

SUMMARY_KEY = "monitor-summary"
DEVELOPMENTS_KEY = "monitor-developments"
FEEDS_KEY = "monitor-feeds"
ALERTS_KEY = "monitor-alerts"
MAX_LISTED = 20  # developments and errors listed in the summary; the tables have all of them

_DECISION_LABELS = {
    "new_development": "new development",
    "update": "update",
    "rehash": "rehash",
    "duplicate": "syndicated copy",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+|!~])")


def development_rows(developments: list[Development], articles: Iterable[Article]) -> list[dict[str, object]]:
    """One row per diffed article: time, outlet, topics, decision, novelty, title, link."""
    by_id = {a.article_id: a for a in articles}
    rows = []
    for development in developments:
        article = by_id[development.article_id]
        rows.append({
            "published": article.published_at.isoformat(timespec="minutes") if article.published_at else "",
            "outlet": article.site_name or article.outlet or "",
            "topics": ", ".join(development.topic_ids),
            "decision": development.decision,
            "novelty": development.novelty_score,
            "title": article.title or "",
            "url": article.url,
        })
    return rows


def publish_pass_artifacts(result: PassResult, timezone: str) -> None:
    run = result.run
    create_markdown_artifact(
        key=SUMMARY_KEY,
        markdown=pass_summary_markdown(result, timezone),
        description=f"Pass {run.run_id}: what it found, what needs attention.",
    )
    create_table_artifact(
        key=DEVELOPMENTS_KEY,
        table=result.developments or [{"decision": "(no matched articles this pass)"}],
        description=(
            f"Pass {run.run_id}: {len(result.developments)} matched articles diffed against the corpus, "
            f"{run.developments} new developments or updates."
        ),
    )
    create_table_artifact(
        key=FEEDS_KEY,
        table=result.feed_rows or [{"feed": "(no feeds configured)"}],
        description=(
            f"Pass {run.run_id}: {run.feeds_polled} feeds polled, {run.feeds_failed} failed, "
            f"{run.feeds_backoff} backing off; {run.new_items} new items, {run.duplicate_items} "
            f"duplicates; {run.articles_stored} articles stored, {run.german_articles} German, "
            f"{run.matched_articles} matching a tracked topic."
        ),
    )
    publish_alerts_artifact(result.alerts, f"Pass {run.run_id}")


def publish_alerts_artifact(report: DispatchReport, what: str) -> None:
    rows = [
        {
            "channel": d.channel,
            "kind": d.kind,
            "alerts": len(d.alert_ids),
            "status": "sent" if d.sent else ("dead" if d.dead else "failed, retried later"),
            "title": d.title,
            "error": d.error or "",
        }
        for d in report.deliveries
    ]
    create_table_artifact(
        key=ALERTS_KEY,
        table=rows or [{"channel": "(nothing to send)"}],
        description=(
            f"{what}: {len(report.sent)} messages sent, {len(report.failed)} failed"
            + (f", {sum(report.deferred.values())} alerts deferred (channel failing)" if report.deferred else "")
            + (f", {len(report.recovered)} interrupted sends sent again" if report.recovered else "")
            + "."
        ),
    )


def pass_summary_markdown(result: PassResult, timezone: str, now: datetime | None = None) -> str:
    """The run's summary for the UI: the figures, the developments, the feeds and errors that need
    an operator, and the alerts."""
    run = result.run
    zone = ZoneInfo(timezone)
    now = now or datetime.now(UTC)
    started = run.started_at.astimezone(zone)
    seconds = max(0.0, (now - run.started_at).total_seconds())
    lines = [
        f"# Pass {started:%Y-%m-%d %H:%M} ({timezone})",
        "",
        f"- **Feeds**: {run.feeds_polled} polled, {run.feeds_failed} failed, {run.feeds_backoff} backing off, "
        f"{run.feeds_not_modified} unchanged",
        f"- **Items**: {run.new_items} new, {run.duplicate_items} already known; {run.pages_failed} pages "
        "could not be fetched (their feed summary was stored)",
        f"- **Articles stored**: {run.articles_stored} ({run.german_articles} German, "
        f"{run.matched_articles} matching a tracked topic)",
        f"- **New developments or updates**: {run.developments}",
        f"- **Alerts**: {run.alerts_queued} queued, {len(result.alerts.sent)} messages sent, "
        f"{len(result.alerts.failed)} failed",
        f"- **Took** {seconds:.0f} s · run `{run.run_id}`",
        "",
    ]
    alerting = [row for row in result.developments if row["decision"] in ALERTING_DECISIONS]
    lines += ["## New developments and updates", ""]
    if alerting:
        for row in alerting[:MAX_LISTED]:
            lines.append(
                f"- **{_md(_DECISION_LABELS.get(str(row['decision']), str(row['decision'])))}** · "
                f"{_link(str(row['title']) or str(row['url']), str(row['url']))} — {_md(str(row['outlet']))}, "
                f"{_md(str(row['topics']))}, novelty {row['novelty']}"
            )
        if len(alerting) > MAX_LISTED:
            lines.append(f"- … and {len(alerting) - MAX_LISTED} more (artifact `{DEVELOPMENTS_KEY}`)")
    else:
        lines.append("None this pass.")
    others = len(result.developments) - len(alerting)
    if others:
        lines.append(f"\n{others} matched articles were rehashes or syndicated copies (artifact `{DEVELOPMENTS_KEY}`).")
    lines.append("")

    attention = [row for row in result.feed_rows if row.get("status") in ("failed", "backoff")]
    lines += ["## Feeds needing attention", ""]
    if attention:
        lines += ["| feed | status | HTTP | error |", "|---|---|---|---|"]
        lines += [
            f"| {_md(row['feed'])} | {_md(row['status'])} | {_md(row.get('http') or '')} | "
            f"{_md(row.get('error') or '')} |"
            for row in attention
        ]
    else:
        lines.append("None: every feed polled was answered.")
    lines.append("")

    failed_alerts = result.alerts.failed
    if failed_alerts or result.alerts.unusable_channels or result.alerts.errors:
        lines += ["## Alerts that failed", ""]
        lines += [
            f"- {_md(d.channel)}: {_md(d.title)} — {_md(d.error or 'failed')}"
            + (" (now dead: `newswatch alerts list --failed`)" if d.dead else " (retried later)")
            for d in failed_alerts[:MAX_LISTED]
        ]
        lines += [f"- {_md(name)} cannot be used: {_md(error)}" for name, error in result.alerts.unusable_channels.items()]
        lines += [f"- {_md(name)} broke off: {_md(error)}" for name, error in result.alerts.errors.items()]
        lines.append("")

    if result.errors:
        lines += [f"## Errors ({len(result.errors)}; the pass went on)", ""]
        lines += [f"- {_md(e.stage)} `{_code(e.subject)}`: {_md(e.error)}" for e in result.errors[:MAX_LISTED]]
        if len(result.errors) > MAX_LISTED:
            lines.append(f"- … and {len(result.errors) - MAX_LISTED} more: `SELECT * FROM run_errors WHERE run_id = '{run.run_id}'`")
        lines.append("")
    return "\n".join(lines)


def _md(text: object) -> str:
    """Text from a feed or page (or any value, as str) as plain markdown text: one line, markup
    characters escaped, `|` too, so it is also safe in a table cell."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: str) -> str:
    return " ".join(str(text).split()).replace("`", "'")


def _link(text: str, url: str) -> str:
    """A link only to http(s); anything else is shown as text."""
    if not re.match(r"^https?://[^\s<>]+$", url, flags=re.IGNORECASE):
        return _md(text)
    safe_url = url.replace("(", "%28").replace(")", "%29")
    return f"[{_md(text)}]({safe_url})"
