"""The outbox against a real DuckDB file and real receivers on loopback (alerts/outbox.py,
storage/outbox.py): sent once, retried with backoff, dead-lettered, digests on time, crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from alerts.loopback import SmtpReceiver, WebhookReceiver
from alerts.outbox import dispatch
from alerts.plan import plan_development_alerts
from newswatch.config import PROJECT_ROOT, AlertsConfig, ChannelConfig, settings_from_dict
from newswatch.records import Article, Development
from storage import outbox, repository
from storage.db import connect, migrate, transaction

T0 = datetime.now(UTC).replace(microsecond=0)
TOPICS = {"envoy": "US-Sondergesandte für Belarus"}


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _article(n: int, title: str | None = None) -> Article:
    return Article(
        article_id=f"art-{n}", url=f"https://example.org/nachricht-{n}", url_key=f"example.org/nachricht-{n}",
        title=title or f"Belarus lässt {n} Gefangene frei", text="Text.", text_source="page", language="de",
        outlet="example.org", site_name="Beispiel-Zeitung", published_at=T0 - timedelta(hours=1), fetched_at=T0,
    )


def _development(n: int, story: str | None = None, decision: str = "new_development") -> Development:
    return Development(
        article_id=f"art-{n}", decision=decision, novelty_score=0.8, story_id=story or f"art-{n}", topic_ids=["envoy"],
        novel_sentences=[f"Lukaschenko begnadigte {n} politische Gefangene."],
        new_facts=[{"kind": "number", "text": f"{n} politische Gefangene", "key": f"{n} gefang", "sentence": 0}],
        sentences=[], closest_article_id=None, closest_similarity=None, duplicate_of=None,
        sentence_count=1, novel_sentence_count=1, decided_at=T0,
    )


def _channels(*channels: dict[str, object]) -> list[ChannelConfig]:
    settings = settings_from_dict({
        "topics": [{"id": "envoy", "name": TOPICS["envoy"], "query": "Belarus"}],
        "channels": [{"min_send_interval_seconds": 0, **c} for c in channels],
    })
    return settings.channels


def _queue(db_path: Path, channels: list[ChannelConfig], numbers: list[int], now: datetime = T0) -> list[str]:
    """Store articles and developments and queue their alerts, as a pass's store step does."""
    articles = [_article(n) for n in numbers]
    developments = [_development(n) for n in numbers]
    with connect(db_path) as db, transaction(db):
        repository.store_articles(db, articles, now, "run")
        repository.store_developments(db, developments)
        alerted = outbox.alerted_stories(db, {d.story_id for d in developments})
        planned = plan_development_alerts(
            developments, {a.article_id: a for a in articles}, channels, AlertsConfig(), alerted, now
        )
        outbox.store_alerts(db, planned)
    return [a.alert_id for a in planned]


def _statuses(db_path: Path) -> dict[str, tuple[str, int]]:
    with duckdb.connect(str(db_path), read_only=True) as db:
        return {a: (s, n) for a, s, n in db.execute("SELECT alert_id, status, attempts FROM alerts").fetchall()}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "newswatch.duckdb"
    with connect(path) as db:
        migrate(db)
    return path


def _dispatch(db_path: Path, channels, clock: Clock, config: AlertsConfig = AlertsConfig(), **options):
    store = outbox.OutboxStore(db_path, config)
    return dispatch(store, channels, TOPICS, config, now=clock, **options)


def test_each_alert_is_sent_once_per_channel_and_marked_sent(db_path: Path) -> None:
    with SmtpReceiver() as smtp, WebhookReceiver() as hook:
        channels = _channels({"name": "desk-email", "url": smtp.mailto_url()}, {"name": "hook", "url": hook.json_url()})
        ids = _queue(db_path, channels, [31, 52])
        report = _dispatch(db_path, channels, Clock())
        assert len(report.sent) == 4 and not report.failed
        mails = smtp.wait_for(2)
        assert sorted(m["Subject"] for m in mails) == sorted(
            f"Neue Entwicklung: Belarus lässt {n} Gefangene frei" for n in (31, 52)
        )
        bodies = [r.json for r in hook.wait_for(2)]
        assert {b["title"] for b in bodies} == {m["Subject"] for m in mails}
        assert {r.headers["Idempotency-Key"] for r in hook.requests} <= set(ids)
        assert all(status == ("sent", 1) for status in _statuses(db_path).values())

        again = _dispatch(db_path, channels, Clock(T0 + timedelta(hours=1)))
        assert again.deliveries == []
        assert len(smtp.messages) == 2 and len(hook.requests) == 2
        # A rerun of the same pass queues nothing new: the stories are alerted, and even the same
        # alerts stored again are refused by their idempotency keys.
        assert _queue(db_path, channels, [31, 52]) == [] and len(_statuses(db_path)) == 4
        with connect(db_path) as db:
            assert outbox.store_alerts(db, outbox.list_alerts(db)) == 0


def test_smtp_down_for_a_pass_keeps_the_alert_and_the_other_channel_still_gets_its_own(db_path: Path) -> None:
    with SmtpReceiver() as smtp, WebhookReceiver() as hook:
        channels = _channels({"name": "desk-email", "url": smtp.mailto_url()}, {"name": "hook", "url": hook.json_url()})
        _queue(db_path, channels, [7])
        smtp.stop()
        clock = Clock()
        report = _dispatch(db_path, channels, clock)
        assert [d.channel for d in report.sent] == ["hook"]
        [failed] = report.failed
        assert failed.channel == "desk-email" and failed.error and not failed.dead
        with duckdb.connect(str(db_path), read_only=True) as db:
            status, attempts, retry_at, error = db.execute(
                "SELECT status, attempts, next_attempt_at, last_error FROM alerts WHERE channel = 'desk-email'"
            ).fetchone()
        assert (status, attempts) == ("failed", 1)
        assert retry_at == clock.now + timedelta(seconds=AlertsConfig().retry_base_seconds)
        assert error == failed.error

        clock.advance(seconds=10)  # before the backoff: not tried again
        smtp.start()
        assert _dispatch(db_path, channels, clock).deliveries == []
        clock.advance(seconds=60)
        report = _dispatch(db_path, channels, clock)
        assert [d.channel for d in report.sent] == ["desk-email"]
        assert len(smtp.wait_for(1)) == 1 and len(hook.requests) == 1


def test_failures_back_off_then_go_to_the_dead_letter_list_and_resend_works(db_path: Path) -> None:
    config = AlertsConfig(max_attempts=3, retry_base_seconds=10, retry_max_seconds=15)
    with WebhookReceiver() as hook:
        channels = _channels({"name": "hook", "url": hook.json_url()})
        [alert_id] = _queue(db_path, channels, [1])
        hook.status = 500
        clock = Clock()
        waits = []
        for _ in range(3):
            report = _dispatch(db_path, channels, clock, config)
            assert len(report.failed) == 1
            with duckdb.connect(str(db_path), read_only=True) as db:
                retry_at = db.execute("SELECT next_attempt_at FROM alerts").fetchone()[0]
            waits.append((retry_at - clock.now).total_seconds() if retry_at else None)
            clock.advance(seconds=20)
        assert waits == [10, 15, None]  # doubled, capped, then no more
        assert report.failed[0].dead == [alert_id]
        assert _statuses(db_path)[alert_id] == ("dead", 3)
        clock.advance(days=1)
        assert _dispatch(db_path, channels, clock, config).deliveries == []  # the dead stay dead
        assert len(hook.requests) == 3

        with duckdb.connect(str(db_path), read_only=True) as db:
            dead = outbox.list_alerts(db, failed_only=True)
            assert [a.alert_id for a in dead] == [alert_id] and "500" in dead[0].last_error
            assert db.execute("SELECT count(*) FROM failed_alerts").fetchone()[0] == 1
        hook.status = 200
        with connect(db_path) as db:
            outbox.requeue(db, alert_id, clock.now)
        report = _dispatch(db_path, channels, clock, config, only={alert_id})
        assert [d.alert_ids for d in report.sent] == [[alert_id]]
        assert _statuses(db_path)[alert_id] == ("sent", 1)


def test_a_failing_channel_is_probed_not_hammered(db_path: Path) -> None:
    with WebhookReceiver() as hook:
        channels = _channels({"name": "hook", "url": hook.json_url()})
        _queue(db_path, channels, [1, 2, 3, 4, 5])
        hook.status = 503
        report = _dispatch(db_path, channels, Clock())
        assert len(hook.requests) == 2 and len(report.failed) == 2
        assert report.deferred == {"hook": 3}
        assert sorted(s for s, _ in _statuses(db_path).values()) == ["failed", "failed", "pending", "pending", "pending"]


def test_digest_goes_out_once_per_interval_with_everything_due(db_path: Path) -> None:
    with WebhookReceiver() as hook:
        channels = _channels({"name": "digest", "url": hook.json_url(), "mode": "digest", "digest_interval_minutes": 60})
        _queue(db_path, channels, [1, 2])
        clock = Clock()
        report = _dispatch(db_path, channels, clock)
        [delivery] = report.sent
        assert delivery.kind == "digest" and len(delivery.alert_ids) == 2
        [request] = hook.wait_for(1)
        assert "2 neue Entwicklungen" in request.json["title"]
        assert "Belarus lässt 1 Gefangene frei" in request.json["message"]
        assert "Belarus lässt 2 Gefangene frei" in request.json["message"]

        clock.advance(minutes=10)
        _queue(db_path, channels, [3], now=clock.now)
        assert _dispatch(db_path, channels, clock).deliveries == []  # the interval is not over
        clock.advance(minutes=51)
        report = _dispatch(db_path, channels, clock)
        assert [len(d.alert_ids) for d in report.sent] == [1]
        assert "Belarus lässt 3 Gefangene frei" in hook.wait_for(2)[1].json["message"]
        with duckdb.connect(str(db_path), read_only=True) as db:
            digests = db.execute("SELECT count(DISTINCT digest_id) FROM alerts WHERE status = 'sent'").fetchone()[0]
        assert digests == 2


def test_the_cap_sends_the_overflow_as_one_digest(db_path: Path) -> None:
    with WebhookReceiver() as hook:
        channels = _channels({"name": "hook", "url": hook.json_url(), "max_alerts_per_pass": 2})
        _queue(db_path, channels, [1, 2, 3, 4, 5])
        report = _dispatch(db_path, channels, Clock())
        assert sorted((d.kind, len(d.alert_ids)) for d in report.sent) == [("digest", 3), ("first", 1), ("first", 1)]
        assert len(hook.wait_for(3)) == 3


_CRASH_AFTER_FIRST_SEND = """
import os, sys
from datetime import datetime
from pathlib import Path
from alerts.outbox import dispatch
from newswatch.config import AlertsConfig, settings_from_dict
from storage import outbox

class Store(outbox.OutboxStore):
    def mark_sent(self, ids, now):
        os._exit(9)  # the process dies after the channel accepted the message, before the mark

settings = settings_from_dict(json.loads(sys.argv[2]))
store = Store(Path(sys.argv[1]), AlertsConfig())
dispatch(store, settings.channels, {}, AlertsConfig())
"""


def test_a_process_killed_between_send_and_mark_resends_only_that_alert(db_path: Path) -> None:
    with WebhookReceiver() as hook:
        config = {"channels": [{"name": "hook", "url": hook.json_url(), "min_send_interval_seconds": 0}]}
        channels = settings_from_dict(config).channels
        _queue(db_path, channels, [1, 2])
        crashed = subprocess.run(
            [sys.executable, "-c", "import json\n" + _CRASH_AFTER_FIRST_SEND, str(db_path), json.dumps(config)],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, env=os.environ.copy(),
        )
        assert crashed.returncode == 9, crashed.stderr
        [first] = hook.wait_for(1)
        assert sorted(s for s, _ in _statuses(db_path).values()) == ["pending", "sending"]

        report = _dispatch(db_path, channels, Clock(datetime.now(UTC)))
        assert report.recovered == [first.headers["Idempotency-Key"]]
        keys = [r.headers["Idempotency-Key"] for r in hook.wait_for(3)]
        # The one in flight arrives twice (the documented window; same key, so a receiver can drop
        # it), the other once.
        assert sorted(keys.count(k) for k in set(keys)) == [1, 2]
        assert keys.count(first.headers["Idempotency-Key"]) == 2
        assert all(status == "sent" for status, _ in _statuses(db_path).values())


def test_an_error_stored_for_a_failing_channel_never_contains_its_secret(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole webhook URL is a secret in the environment; Apprise's connection error names the
    URL's path, which carries the token."""
    with WebhookReceiver() as hook:
        url = hook.json_url("/webhook/T0KEN-c0ffee-4242-s3cr3t")
    monkeypatch.setenv("NEWSWATCH_TEST_HOOK", url)
    channels = _channels({"name": "hook", "url": "${NEWSWATCH_TEST_HOOK}"})
    _queue(db_path, channels, [1])
    report = _dispatch(db_path, channels, Clock())  # nothing listens on the port any more
    [failed] = report.failed
    with duckdb.connect(str(db_path), read_only=True) as db:
        stored = json.dumps(db.execute("SELECT * FROM alerts").fetchall(), default=str)
    assert failed.error and "hook" in failed.error
    assert "s3cr3t" not in failed.error and "s3cr3t" not in stored


def test_whats_new_prefers_sentences_with_new_facts_and_skips_datelines() -> None:
    from alerts.outbox import whats_new

    sentences = [
        "Moskau (agd) – Russland und die USA wollen ihre Gespräche fortsetzen.",
        "agd lw/hb",
        "Die ersten beiden Runden hatten im Februar stattgefunden, sagte ein Sprecher.",
        "Eine dritte Runde sei in zwei Wochen in Istanbul geplant, teilte Moskau mit.",
        "Angeführt wird die Delegation von Alexander Dartschijew, dem Botschafter.",
        "Beide Seiten hatten damals vereinbart, den Dialog fortzusetzen, hieß es.",
    ]
    facts = [{"text": "zwei Wochen"}, {"text": "Dartschijew"}]
    assert whats_new(sentences, facts, limit=3) == [sentences[0], sentences[3], sentences[4]]
    assert whats_new(sentences, facts, limit=2) == [sentences[3], sentences[4]]
    assert whats_new(sentences, [], limit=2) == [sentences[0], sentences[2]]


HOSTILE = '<!channel> <@U024BE7LH> <http://evil.example|Klick> *fett* <script>alert(1)</script> & "Gift"\r\nBcc: x@evil'


def test_hostile_titles_arrive_escaped_on_slack_and_in_email(db_path: Path) -> None:
    from alerts.loopback import redirect_slack_to

    with SmtpReceiver() as smtp, WebhookReceiver() as slack, redirect_slack_to(slack):
        channels = _channels(
            {"name": "desk-email", "url": smtp.mailto_url()}, {"name": "desk-slack", "url": slack.slack_webhook_url()}
        )
        with connect(db_path) as db, transaction(db):
            repository.store_articles(db, [_article(1, title=HOSTILE + " x" * 5000)], T0, "run")
            repository.store_developments(db, [_development(1)])
            planned = plan_development_alerts(
                [_development(1)], {"art-1": _article(1)}, channels, AlertsConfig(), set(), T0
            )
            outbox.store_alerts(db, planned)
        report = _dispatch(db_path, channels, Clock())
        assert len(report.sent) == 2, report.failed
        [mail] = smtp.wait_for(1)
        [post] = slack.wait_for(1)
    assert "\n" not in mail["Subject"] and "Bcc" not in mail.keys() and not mail["Bcc"]
    html = mail.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    blocks = post.json["attachments"][0]["blocks"]
    header, body = blocks[0]["text"], blocks[1]["text"]
    assert header["type"] == "plain_text" and len(header["text"]) <= 150
    assert body["type"] == "mrkdwn" and len(body["text"]) <= 3000
    for forged in ("<!channel>", "<@U024BE7LH>", "<http://evil.example|"):
        assert forged not in body["text"]
    assert "&lt;!channel&gt;" in body["text"]


def test_a_digest_too_long_for_one_message_goes_out_in_parts_and_lists_every_alert(db_path: Path) -> None:
    from alerts.loopback import redirect_slack_to

    with WebhookReceiver() as slack, redirect_slack_to(slack):
        channels = _channels({"name": "digest", "url": slack.slack_webhook_url(), "mode": "digest"})
        ids = _queue(db_path, channels, list(range(1, 31)))
        report = _dispatch(db_path, channels, Clock())
        assert not report.failed and len(report.sent) > 1  # Slack's 3,000 characters hold about a dozen
        assert sorted(i for d in report.sent for i in d.alert_ids) == sorted(ids)
        bodies = [r.json["attachments"][0]["blocks"][1]["text"]["text"] for r in slack.wait_for(len(report.sent))]
    assert all(len(b) <= 3000 and "weitere" not in b for b in bodies)
    for n in range(1, 31):
        assert sum(f"|Belarus lässt {n} Gefangene frei>" in b for b in bodies) == 1, n
    assert {s for s, _ in _statuses(db_path).values()} == {"sent"}
    # The same alerts always make the same digest key: a receiver can drop a digest sent twice.
    from alerts.plan import alert_key

    with duckdb.connect(str(db_path), read_only=True) as db:
        digests = db.execute("SELECT digest_id, list(alert_id) FROM alerts GROUP BY digest_id").fetchall()
    assert len(digests) == len(report.sent)
    assert all(key == "digest-" + alert_key(*sorted(members)) for key, members in digests)


def test_the_cap_also_holds_for_alerts_held_up_by_an_outage(db_path: Path) -> None:
    with WebhookReceiver() as hook:
        channels = _channels({"name": "hook", "url": hook.json_url(), "max_alerts_per_pass": 2})
        _queue(db_path, channels, [1])
        hook.status = 503
        clock = Clock()
        _dispatch(db_path, channels, clock)  # down: the one alert fails
        for n in range(2, 6):  # four more passes queue one alert each while the channel is down
            clock.advance(minutes=10)
            _queue(db_path, channels, [n], now=clock.now)
            _dispatch(db_path, channels, clock)
        hook.status = 200
        hook.clear()
        clock.advance(hours=2)
        report = _dispatch(db_path, channels, clock)
        kinds = sorted((d.kind, len(d.alert_ids)) for d in report.sent)
    assert kinds == [("digest", 3), ("first", 1), ("first", 1)]
    assert {s for s, _ in _statuses(db_path).values()} == {"sent"}
