"""Alerts end to end: the monitor flow over recorded coverage, delivering to a real SMTP server, a
JSON webhook and Apprise's Slack plugin, all on loopback."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import duckdb
import pytest

from alerts.loopback import SmtpReceiver, WebhookReceiver, redirect_slack_to
from flows.demo import COVERAGE, CoverageServer, demo_config

pytestmark = pytest.mark.slow

MANIFEST = json.loads((COVERAGE / "manifest.json").read_text(encoding="utf-8"))
NEW = [i for i in MANIFEST["items"] if i["kind"] == "new_development"]
RUSSIA = [i for i in NEW if "us-russia" in i["topics"]]


def _events(run_ids: list[str], name: str, expected: int, timeout: float = 60) -> list:
    """The events `name` of these flow runs, read back from the Prefect server (they are sent
    in the background: wait until `expected` have arrived)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    wanted = EventFilter(
        event=EventNameFilter(name=[name]),
        related=EventRelatedFilter(id=[f"prefect.flow-run.{run_id}" for run_id in run_ids]),
    )
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            events = client.read_events(filter=wanted, limit=50).events  # the most the API returns
        if len(events) >= expected or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def test_a_pass_alerts_exactly_the_new_developments_once_per_channel(tmp_path: Path) -> None:
    """New developments alert; rehashes, syndicated copies, off-topic and non-German articles do
    not; a second pass over the same feeds sends nothing. Each is a Prefect event too."""
    from flows.monitor import monitor

    with (
        CoverageServer() as server,
        SmtpReceiver() as smtp,
        WebhookReceiver() as hook,
        WebhookReceiver() as slack,
        redirect_slack_to(slack),
    ):
        config = demo_config(server, tmp_path, channels=[
            {"name": "desk-email", "url": smtp.mailto_url(), "min_send_interval_seconds": 0},
            {"name": "russia-hook", "url": hook.json_url(), "topics": ["us-russia"], "min_send_interval_seconds": 0},
            {"name": "desk-slack", "url": slack.slack_webhook_url(), "min_send_interval_seconds": 0},
        ])
        first = monitor(config_path=str(config))
        assert first["alerts_queued"] == 2 * len(NEW) + len(RUSSIA)
        assert first["alerts_sent"] == first["alerts_queued"] and first["alerts_failed"] == 0

        mails = smtp.wait_for(len(NEW))
        assert sorted(m["Subject"] for m in mails) == sorted(f"Neue Entwicklung: {i['title']}" for i in NEW)
        for mail in mails:
            assert mail.is_multipart() and mail.get_content_type() == "multipart/alternative"
            html = mail.get_body(("html",)).get_content()
            text = mail.get_body(("plain",)).get_content()
            assert "Was ist neu" in html and "Was ist neu" in text
            assert server.base in html  # the article link
        assert sorted(r.json["title"] for r in hook.wait_for(len(RUSSIA))) == sorted(
            f"Neue Entwicklung: {i['title']}" for i in RUSSIA
        )
        payloads = [r.json for r in slack.wait_for(len(NEW))]
        headers = sorted(p["attachments"][0]["blocks"][0]["text"]["text"] for p in payloads)
        assert headers == sorted(f"Neue Entwicklung: {i['title']}"[:150] for i in NEW)
        for payload in payloads:
            mrkdwn = payload["attachments"][0]["blocks"][1]["text"]["text"]
            assert re.search(r"<http://127\.0\.0\.1:\d+/[^|>]+\|Artikel lesen>", mrkdwn)

        run = [first["run_id"]]
        detected = _events(run, "newswatch.development.detected", len(NEW))
        assert sorted(e.payload["title"] for e in detected) == sorted(i["title"] for i in NEW)
        assert all(e.resource.id.startswith("newswatch.article.") and e.payload["decision"] == "new_development"
                   and e.payload["new_facts"] for e in detected)
        assert all(any(r.role == "topic" for r in e.related) for e in detected)
        sent = _events(run, "newswatch.alert.sent", first["alerts_sent"])
        assert len(sent) == first["alerts_sent"] and not _events(run, "newswatch.alert.failed", 0)
        assert {e.resource.id for e in sent} == {
            "newswatch.channel.desk-email", "newswatch.channel.russia-hook", "newswatch.channel.desk-slack"
        }
        assert "XXXXXXXXXXXXXXXX" not in json.dumps([e.model_dump(mode="json") for e in sent])  # the Slack token

        second = monitor(config_path=str(config))
        assert second["alerts_queued"] == 0 and second["alerts_sent"] == 0
        assert len(smtp.messages) == len(NEW) and len(hook.requests) == len(RUSSIA)
        assert len(slack.requests) == len(NEW)
        with duckdb.connect(second["snapshot"], read_only=True) as db:
            statuses = db.execute("SELECT status, count(*) FROM alerts GROUP BY ALL").fetchall()
            alerted = {r[0] for r in db.execute(
                "SELECT d.decision FROM alerts a JOIN developments d USING (article_id)"
            ).fetchall()}
        assert statuses == [("sent", first["alerts_queued"])]
        assert alerted == {"new_development"}


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Feed</title><link>http://127.0.0.1/</link><language>de</language>
<item><title>Eintrag</title><link>http://127.0.0.1/nicht-da.html</link><guid>1</guid></item>
</channel></rss>"""


def test_a_failing_feed_alerts_the_operators_once_and_once_when_it_recovers(tmp_path: Path, loopback) -> None:
    from flows.monitor import monitor

    loopback.route("/feed.xml", 404)
    with SmtpReceiver() as smtp:
        config = tmp_path / "newswatch.toml"
        config.write_text(f"""
[storage]
path = "{tmp_path / 'newswatch.duckdb'}"
[fetch]
allow_private_addresses = ["{loopback.allowance}"]
backoff_base_seconds = 0
[alerts]
health_after_failures = 2
[[feeds]]
name = "wackelig"
url = "{loopback.url('/feed.xml')}"
[[channels]]
name = "ops"
url = "{smtp.mailto_url(to='ops@example.org')}"
topics = []
operator = true
min_send_interval_seconds = 0
""")
        runs = []
        for _ in range(3):  # failures 1, 2 (the alert), 3 (no second alert)
            summary = monitor(config_path=str(config))
            assert summary["feeds_failed"] == 1
            runs.append(summary["run_id"])
        [alert] = smtp.wait_for(1)
        assert "wackelig" in alert["Subject"] and "404" in alert.get_body(("plain",)).get_content()

        loopback.route("/feed.xml", 200, {"Content-Type": "application/rss+xml"}, RSS)
        runs.append(monitor(config_path=str(config))["run_id"])
        mails = smtp.wait_for(2)
        assert "wieder erreichbar" in mails[1]["Subject"]
        monitor(config_path=str(config))
        assert len(smtp.messages) == 2
    unhealthy = _events(runs, "newswatch.feed.unhealthy", 2)
    assert sorted(e.payload["consecutive_failures"] for e in unhealthy) == [2, 3]  # every pass while failing
    assert {e.resource.id for e in unhealthy} == {"newswatch.feed.wackelig"}
    [recovered] = _events(runs, "newswatch.feed.recovered", 1)
    assert recovered.payload["consecutive_failures"] == 3
    documented = {"feed", "url", "consecutive_failures", "last_error", "last_http_status", "last_success_at",
                  "failing_since", "next_poll_at"}  # docs/operations.md#events
    assert all(set(e.payload) == documented for e in [*unhealthy, recovered])
    assert recovered.payload["feed"] == "wackelig" and recovered.payload["last_success_at"]
    assert recovered.payload["failing_since"] is None  # it never answered before the failures


def test_smtp_down_for_a_pass_delivers_on_the_next_and_the_webhook_is_not_held_up(tmp_path: Path) -> None:
    from flows.monitor import monitor

    with CoverageServer() as server, SmtpReceiver() as smtp, WebhookReceiver() as hook:
        config = demo_config(server, tmp_path, channels=[
            {"name": "desk-email", "url": smtp.mailto_url(), "min_send_interval_seconds": 0},
            {"name": "russia-hook", "url": hook.json_url(), "topics": ["us-russia"], "min_send_interval_seconds": 0},
        ])
        config.write_text(config.read_text() + "[alerts]\nretry_base_seconds = 0\n")
        smtp.stop()
        first = monitor(config_path=str(config))
        assert first["alerts_queued"] == len(NEW) + len(RUSSIA)
        assert first["alerts_sent"] == len(RUSSIA)  # the webhook got its alerts regardless
        assert first["alerts_failed"] >= 1
        assert len(hook.wait_for(len(RUSSIA))) == len(RUSSIA)

        smtp.start()
        [failed, *_] = _events([first["run_id"]], "newswatch.alert.failed", 1)
        assert failed.resource.id == "newswatch.channel.desk-email"
        assert set(failed.payload) == {"channel", "kind", "alert_ids", "title", "error", "dead"}
        assert failed.payload["error"] and not failed.payload["dead"]
        second = monitor(config_path=str(config))
        assert second["alerts_queued"] == 0 and second["alerts_sent"] == len(NEW)
        assert sorted(m["Subject"] for m in smtp.wait_for(len(NEW))) == sorted(
            f"Neue Entwicklung: {i['title']}" for i in NEW
        )
        assert len(hook.requests) == len(RUSSIA)


def test_a_crashed_poll_counts_as_a_failure_without_touching_the_previous_state() -> None:
    """The health alert compares the previous state with the new one: they must be two objects."""
    from flows.monitor import _poll_result
    from newswatch.config import FeedConfig
    from newswatch.records import FeedState

    class Crashed:
        def result(self):
            raise RuntimeError("bug in a parser")

    previous = FeedState(name="f", url="https://example.org/feed", consecutive_failures=2)
    poll = _poll_result(Crashed(), FeedConfig(name="f", url="https://example.org/feed"), previous)
    assert poll.status == "failed" and poll.state.consecutive_failures == 3
    assert previous.consecutive_failures == 2 and poll.state is not previous
    assert "RuntimeError: bug in a parser" in poll.error
