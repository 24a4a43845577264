"""The Prefect events a pass emits, for automations and the UI's event feed (docs/operations.md).

    newswatch.development.detected   an article decided new_development or update
    newswatch.alert.sent             a message reached a channel (an alert, or a digest of several)
    newswatch.alert.failed           a send failed (payload: the redacted error, whether it is dead)
    newswatch.feed.unhealthy         a feed has failed `health_after_failures` polls in a row (every
                                     pass while it stays so); newswatch.feed.recovered when it is back

Resources are named `newswatch.<kind>.<id>`; Prefect adds the flow run and task run as related
resources. Payloads carry names and ids, never a channel URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from prefect.events import emit_event

from alerts.outbox import Delivery
from newswatch.records import Article, Development, FeedState


def _isoformat(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _resource(kind: str, identifier: str, name: str | None = None, **labels: str) -> dict[str, str]:
    resource = {"prefect.resource.id": f"newswatch.{kind}.{identifier}", **labels}
    if name:
        resource["prefect.resource.name"] = name
    return resource


def _related(kind: str, identifier: str, role: str, name: str | None = None) -> dict[str, str]:
    return {**_resource(kind, identifier, name), "prefect.resource.role": role}


def development_detected(development: Development, article: Article, topic_names: Mapping[str, str]) -> None:
    emit_event(
        event="newswatch.development.detected",
        resource=_resource("article", article.article_id, article.title, **{"newswatch.decision": development.decision}),
        related=[
            _related("story", development.story_id, "story"),
            *(_related("topic", t, "topic", topic_names.get(t)) for t in development.topic_ids),
        ],
        payload={
            "decision": development.decision,
            "novelty_score": development.novelty_score,
            "title": article.title,
            "url": article.url,
            "outlet": article.site_name or article.outlet,
            "published_at": _isoformat(article.published_at),
            "topics": development.topic_ids,
            "new_facts": [fact.get("text") for fact in development.new_facts],
            "novel_sentences": development.novel_sentence_count,
            "story_id": development.story_id,
        },
    )


def alert_delivered(delivery: Delivery) -> None:
    """newswatch.alert.sent or newswatch.alert.failed for one message."""
    emit_event(
        event="newswatch.alert.sent" if delivery.sent else "newswatch.alert.failed",
        resource=_resource("channel", delivery.channel, delivery.channel),
        related=[_related("article", article_id, "article") for article_id in delivery.article_ids],
        payload={
            "channel": delivery.channel,
            "kind": delivery.kind,
            "alert_ids": delivery.alert_ids,
            "title": delivery.title,
            "error": delivery.error,  # redacted by the channel
            "dead": delivery.dead,  # alerts that used their last attempt on this send
        },
    )


def feed_health(state: FeedState, threshold: int, previous: FeedState | None) -> None:
    """newswatch.feed.unhealthy while a feed fails `threshold` polls in a row or more, and
    newswatch.feed.recovered on the pass it comes back."""
    failures_before = previous.consecutive_failures if previous else 0
    if state.consecutive_failures >= threshold:
        event = "newswatch.feed.unhealthy"
    elif failures_before >= threshold and state.consecutive_failures == 0:
        event = "newswatch.feed.recovered"
    else:
        return
    emit_event(
        event=event,
        resource=_resource("feed", state.name, state.name),
        payload={
            "feed": state.name,
            "url": state.url,
            "consecutive_failures": state.consecutive_failures or failures_before,
            "last_error": state.last_error if state.consecutive_failures else (previous.last_error if previous else None),
            "last_http_status": state.last_http_status,
            "last_success_at": _isoformat(state.last_success_at),
            # The last success before the failures began: where a backfill after recovery starts
            # (prefect.yaml: backfill-recovered-feed). None for a feed that never succeeded.
            "failing_since": _isoformat(previous.last_success_at if event == "newswatch.feed.recovered" and previous
                                        else state.last_success_at),
            "next_poll_at": _isoformat(state.next_poll_at),
        },
    )
