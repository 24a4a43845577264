"""Routing, pacing and idempotency keys of alerts (alerts/plan.py), without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.plan import alert_key, plan_development_alerts, plan_health_alerts
from newswatch.config import AlertsConfig, ChannelConfig
from newswatch.records import Article, Development, FeedState

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def article(article_id: str, published: datetime | None = NOW - timedelta(hours=1), fetched: datetime | None = None) -> Article:
    return Article(
        article_id=article_id, url=f"https://example.org/{article_id}", url_key=article_id, title=article_id,
        text="…", text_source="page", language="de", published_at=published, fetched_at=fetched,
    )


def development(article_id: str, decision: str = "new_development", story: str | None = None,
                topics: tuple[str, ...] = ("envoy",), facts: int = 1, novelty: float = 0.5) -> Development:
    return Development(
        article_id=article_id, decision=decision, novelty_score=novelty, story_id=story or article_id,
        topic_ids=list(topics), novel_sentences=["Neu."],
        new_facts=[{"kind": "name", "text": "Coale", "key": "x", "sentence": 0}] * facts,
        sentences=[], closest_article_id=None, closest_similarity=None, duplicate_of=None,
        sentence_count=1, novel_sentence_count=1, decided_at=NOW,
    )


def channel(name: str = "desk", **options: object) -> ChannelConfig:
    return ChannelConfig(name=name, url="json://127.0.0.1/x", **options)


def plan(developments, articles=None, channels=None, alerted=frozenset(), config=AlertsConfig()):
    articles = articles or {d.article_id: article(d.article_id) for d in developments}
    return plan_development_alerts(
        developments, articles, channels or [channel()], config, set(alerted), NOW, "run-1"
    )


def test_only_new_developments_and_updates_alert() -> None:
    planned = plan([
        development("a"), development("b", "update", story="s"), development("c", "rehash"),
        development("d", "duplicate"),
    ])
    assert [(a.article_id, a.kind, a.decision) for a in planned] == [
        ("a", "first", "new_development"), ("b", "first", "update")
    ]
    assert all(a.status == "pending" and a.delivery == "immediate" and a.run_id == "run-1" for a in planned)


def test_old_articles_are_never_alerted_but_undated_ones_are() -> None:
    articles = {
        "fresh": article("fresh", NOW - timedelta(hours=71)),
        "old": article("old", NOW - timedelta(hours=73)),
        "undated-new": article("undated-new", None, fetched=NOW),
        "undated": article("undated", None, None),
    }
    planned = plan([development(k) for k in articles], articles)
    assert sorted(a.article_id for a in planned) == ["fresh", "undated", "undated-new"]
    assert plan([development("old")], {"old": articles["old"]}, config=AlertsConfig(max_age_hours=100))


def test_routing_by_topic_and_empty_topic_list() -> None:
    desks = [channel("all"), channel("sanctions", topics=["sanctions"]), channel("ops", topics=[], operator=True)]
    planned = plan([development("a", topics=("envoy", "sanctions")), development("b", topics=("envoy",))], channels=desks)
    assert sorted((a.channel, a.article_id, tuple(a.topic_ids)) for a in planned) == [
        ("all", "a", ("envoy", "sanctions")), ("all", "b", ("envoy",)), ("sanctions", "a", ("sanctions",)),
    ]


def test_one_alert_per_story_then_follow_ups_only_for_updates_with_new_facts() -> None:
    planned = plan([
        development("first", story="s"),
        development("again", "new_development", story="s"),  # same story, not an update: nothing
        development("no-facts", "update", story="s", facts=0),
        development("follow", "update", story="s", facts=2),
    ])
    assert [(a.article_id, a.kind) for a in planned] == [("first", "first"), ("follow", "follow_up")]
    # The story was alerted on an earlier pass: only the follow-up.
    later = plan([development("x", story="s"), development("y", "update", story="s")], alerted={("desk", "s")})
    assert [(a.article_id, a.kind) for a in later] == [("y", "follow_up")]
    # Another channel's alert does not count.
    assert [a.kind for a in plan([development("x", story="s")], alerted={("other", "s")})] == ["first"]


def test_keys_are_stable_across_reruns_and_differ_per_channel_story_and_decision() -> None:
    once = plan([development("a", story="s"), development("b", "update", story="s")])
    again = plan([development("a", story="s"), development("b", "update", story="s")])
    assert [a.alert_id for a in once] == [a.alert_id for a in again]
    assert once[0].alert_id == alert_key("desk", "s", "new_development")
    assert once[1].alert_id == alert_key("desk", "s", "update", "b")
    other = plan([development("a", story="s")], channels=[channel("other")])
    assert other[0].alert_id != once[0].alert_id
    assert len({a.alert_id for a in once}) == 2


def test_cap_per_pass_sends_the_rest_to_the_digest_most_novel_first() -> None:
    developments = [development(f"a{i}", novelty=i / 10) for i in range(5)]
    planned = plan(developments, channels=[channel(max_alerts_per_pass=2)])
    immediate = sorted(a.article_id for a in planned if a.delivery == "immediate")
    assert immediate == ["a3", "a4"]
    assert sorted(a.article_id for a in planned if a.delivery == "digest") == ["a0", "a1", "a2"]


def test_digest_channel_gets_everything_in_its_digest() -> None:
    planned = plan([development(f"a{i}") for i in range(3)], channels=[channel(mode="digest", max_alerts_per_pass=1)])
    assert [a.delivery for a in planned] == ["digest"] * 3


def state(failures: int, success: datetime | None = NOW - timedelta(hours=5), error: str | None = "HTTP 500") -> FeedState:
    return FeedState(name="tagesschau", url="https://www.tagesschau.de/index~rss2.xml",
                     consecutive_failures=failures, last_success_at=success, last_error=error if failures else None)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (2, 3, ["feed_failing"]),  # reaches the threshold: one alert
        (3, 4, []),  # still failing: no second alert
        (1, 2, []),  # below the threshold
        (4, 0, ["feed_recovered"]),  # back: one notice
        (2, 0, []),  # recovered before anyone was told
    ],
)
def test_health_alerts_once_per_streak(before: int, after: int, expected: list[str]) -> None:
    ops = [channel("ops", topics=[], operator=True), channel("desk")]
    previous = {"tagesschau": state(before)}
    current = state(after, success=NOW if after == 0 else previous["tagesschau"].last_success_at)
    planned = plan_health_alerts(previous, [current], ops, AlertsConfig(health_after_failures=3), NOW)
    assert [a.kind for a in planned] == expected
    assert all(a.channel == "ops" and a.delivery == "immediate" for a in planned)
    if expected == ["feed_failing"]:
        assert planned[0].details["last_error"] == "HTTP 500"
        assert planned[0].details["consecutive_failures"] == 3
    if expected == ["feed_recovered"]:
        assert planned[0].details["last_error"] == "HTTP 500"  # what it was failing with


def test_health_keys_differ_per_streak() -> None:
    ops = [channel("ops", topics=[], operator=True)]
    config = AlertsConfig(health_after_failures=1)
    first = plan_health_alerts({}, [state(1, success=NOW - timedelta(days=2))], ops, config, NOW)
    second = plan_health_alerts({}, [state(1, success=NOW - timedelta(days=1))], ops, config, NOW)
    assert first[0].alert_id != second[0].alert_id
    assert plan_health_alerts({}, [state(5)], [channel("desk")], config, NOW) == []  # no operator channel
