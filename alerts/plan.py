"""Which alerts a pass owes: routing, pacing and idempotency keys (plain functions, no I/O).

The flow calls these inside the pass's transaction and stores the result in the outbox with the
developments, so an alert exists exactly when its development does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from newswatch.config import AlertsConfig, ChannelConfig
from newswatch.records import ALERTING_DECISIONS, Alert, Article, Development, FeedState


def alert_key(*parts: str) -> str:
    """The idempotency key: the same parts always give the same id (32 hex characters)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def plan_development_alerts(
    developments: Sequence[Development],
    articles: Mapping[str, Article],
    channels: Sequence[ChannelConfig],
    config: AlertsConfig,
    alerted: set[tuple[str, str]],
    now: datetime,
    run_id: str | None = None,
) -> list[Alert]:
    """The alerts for a pass's developments, per channel.

    - only `new_development` and `update` alert, and only for articles published within
      `max_age_hours` (without a date: first fetched), a feed's first poll included;
    - a channel gets the topics it routes; at most one alert per story, then a follow-up only for
      an `update` that brings new facts (`alerted`: the (channel, story) pairs alerted before);
    - an immediate channel gets at most `max_alerts_per_pass` immediate alerts, the rest wait for
      its next digest; a digest channel gets everything in its digest.
    """
    oldest = now - timedelta(hours=config.max_age_hours)
    candidates = []
    for development in developments:  # in the diff's order: publication order
        if development.decision not in ALERTING_DECISIONS:
            continue
        article = articles.get(development.article_id)
        published = (article.published_at or article.fetched_at) if article else None
        if published is not None and published < oldest:
            continue
        candidates.append(development)

    planned: list[Alert] = []
    for channel in channels:
        seen = {story for chan, story in alerted if chan == channel.name}
        alerts: list[tuple[Alert, float]] = []
        for development in candidates:
            topics = [t for t in development.topic_ids if channel.routes(t)]
            if not topics:
                continue
            story = development.story_id
            if story not in seen:
                kind, key = "first", alert_key(channel.name, story, development.decision)
            elif development.decision == "update" and development.new_facts:
                kind, key = "follow_up", alert_key(channel.name, story, "update", development.article_id)
            else:
                continue  # the desk already has this story and nothing new enough for a follow-up
            seen.add(story)
            alert = Alert(
                alert_id=key, channel=channel.name, kind=kind, delivery=channel.mode, status="pending",
                created_at=now, article_id=development.article_id, story_id=story,
                decision=development.decision, topic_ids=topics, next_attempt_at=now, run_id=run_id,
            )
            alerts.append((alert, development.novelty_score))
        if channel.mode == "immediate":
            _cap(alerts, channel.max_alerts_per_pass)
        planned.extend(alert for alert, _ in alerts)
    return planned


def _cap(alerts: list[tuple[Alert, float]], cap: int) -> None:
    """Past the cap, alerts go into the channel's digest: a story's first alert before follow-ups,
    the most novel first."""
    ranked = sorted(alerts, key=lambda pair: (pair[0].kind != "first", -pair[1]))
    for alert, _ in ranked[cap:]:
        alert.delivery = "digest"


def plan_health_alerts(
    previous: Mapping[str, FeedState],
    current: Iterable[FeedState],
    channels: Sequence[ChannelConfig],
    config: AlertsConfig,
    now: datetime,
    run_id: str | None = None,
) -> list[Alert]:
    """One alert when a feed reaches `health_after_failures` failed passes in a row, one when it
    recovers; keyed by the failing streak (its last success), so neither repeats."""
    operators = [c for c in channels if c.operator]
    if not operators:
        return []
    threshold = config.health_after_failures
    planned = []
    for state in current:
        before = previous.get(state.name)
        failures_before = before.consecutive_failures if before else 0
        if state.consecutive_failures >= threshold > failures_before:
            kind, streak = "feed_failing", state.last_success_at
        elif failures_before >= threshold and state.consecutive_failures == 0:
            kind, streak = "feed_recovered", before.last_success_at if before else None
        else:
            continue
        streak_id = streak.isoformat() if streak else "never"
        details = {
            "feed_name": state.name,
            "feed_url": state.url,
            "status": "failing" if kind == "feed_failing" else "recovered",
            "consecutive_failures": state.consecutive_failures if kind == "feed_failing" else failures_before,
            "last_error": state.last_error if kind == "feed_failing" else before.last_error,
            # failing: the last success before the streak; recovered: the success that ended it
            "last_success_at": state.last_success_at.isoformat() if state.last_success_at else None,
        }
        for channel in operators:
            planned.append(Alert(
                alert_id=alert_key(channel.name, "feed", state.name, kind, streak_id),
                channel=channel.name, kind=kind, delivery="immediate", status="pending", created_at=now,
                feed_name=state.name, details=details, next_attempt_at=now, run_id=run_id,
            ))
    return planned
