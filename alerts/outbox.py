"""Sending what the outbox holds: each alert claimed, sent and marked, one at a time.

An alert row is committed with its development before anything is sent (the flow's store step).
Here, per channel (channels in parallel, so one slow channel does not hold up the others):

    pending/failed --claim--> sending --send--> sent
                                         \\--> failed (retried after a backoff) or dead (last attempt)

The claim is committed before the send, so an alert whose process died mid-send is found in
`sending` by the next dispatch and sent again: the only window in which a desk can get an alert
twice is between a send succeeding and its mark being committed (docs/alerts.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from alerts.channels import Channel, ChannelError, DeliveryError, open_channel, redact_secrets
from alerts.plan import alert_key
from alerts.render import AlertContent, HealthContent, Message, render_alert, render_digest, render_health
from newswatch.config import AlertsConfig, ChannelConfig
from newswatch.records import Alert

# After this many failed sends in a row a channel is left alone for the rest of the dispatch: its
# other alerts wait for the next pass instead of each paying a timeout.
FAILURES_BEFORE_PAUSE = 2
MAX_PARALLEL_CHANNELS = 8


class OutboxStore(Protocol):
    """Where the outbox lives (storage.outbox.OutboxStore: the DuckDB `alerts` table)."""

    def recover_interrupted(self, now: datetime) -> list[str]: ...
    def due_alerts(self, now: datetime) -> list[Alert]: ...
    def last_digests(self) -> dict[str, datetime]: ...
    def development_contents(self, article_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def claim(self, alert_ids: Sequence[str], now: datetime, digest_id: str | None = None) -> None: ...
    def mark_sent(self, alert_ids: Sequence[str], now: datetime) -> None: ...
    def mark_failed(self, alert_ids: Sequence[str], error: str, now: datetime) -> list[str]: ...
    def move_to_digest(self, alert_ids: Sequence[str]) -> None: ...


@dataclass
class Delivery:
    """One message a dispatch tried to send: an alert, or a digest of several."""

    channel: str
    alert_ids: list[str]
    kind: str  # the alert's kind, or "digest"
    title: str
    sent: bool
    error: str | None = None
    dead: list[str] = field(default_factory=list)  # alerts that used their last attempt on it
    article_ids: list[str] = field(default_factory=list)


@dataclass
class DispatchReport:
    deliveries: list[Delivery] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # found mid-send from a dead process
    deferred: dict[str, int] = field(default_factory=dict)  # channel -> alerts left for a later pass
    unknown_channels: dict[str, int] = field(default_factory=dict)  # queued for channels no longer configured
    # Channels Apprise cannot use (a config problem): their alerts wait, no attempt is used up.
    unusable_channels: dict[str, str] = field(default_factory=dict)
    # A channel whose sending broke unexpectedly (a bug, the database gone): channel -> error.
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def sent(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.sent]

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.sent]


def dispatch(
    store: OutboxStore,
    channels: Sequence[ChannelConfig],
    topic_names: Mapping[str, str],
    config: AlertsConfig,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    only: set[str] | None = None,
    opener: Callable[[ChannelConfig], Channel] | None = None,
) -> DispatchReport:
    """Send every due alert: immediate ones one by one, digests when their interval is due.

    `only`: send just these alerts, now, one message each (an operator's resend).
    """
    report = DispatchReport()
    started = now()
    report.recovered = store.recover_interrupted(started)
    due = store.due_alerts(started)
    if only is not None:
        due = [alert for alert in due if alert.alert_id in only]
    by_channel: dict[str, list[Alert]] = {}
    for alert in due:
        by_channel.setdefault(alert.channel, []).append(alert)
    configured = {c.name: c for c in channels}
    for name in [n for n in by_channel if n not in configured]:
        report.unknown_channels[name] = len(by_channel.pop(name))
    if not by_channel:
        return report

    last_digests = store.last_digests()
    work: list[tuple[ChannelConfig, list[Alert], list[Alert]]] = []
    for name, alerts in by_channel.items():
        channel = configured[name]
        immediate = [a for a in alerts if a.delivery == "immediate" or only is not None]
        digest = [a for a in alerts if a.delivery == "digest" and only is None]
        if only is None:
            # The cap holds for everything sent at once, retries and alerts held up by an outage
            # included: past it, development alerts wait in the digest (feed health never does).
            developments = [a for a in immediate if a.article_id]
            overflow = developments[channel.max_alerts_per_pass :]
            if overflow:
                store.move_to_digest([a.alert_id for a in overflow])
                for alert in overflow:
                    alert.delivery = "digest"
                immediate = [a for a in immediate if a not in overflow]
                digest = sorted([*digest, *overflow], key=lambda a: (a.created_at, a.alert_id))
        last = last_digests.get(name)
        if digest and last is not None and started - last < timedelta(minutes=channel.digest_interval_minutes):
            digest = []  # not due yet: they stay pending
        if immediate or digest:
            work.append((channel, immediate, digest))
    if not work:
        return report
    article_ids = [a.article_id for _, imm, dig in work for a in (*imm, *dig) if a.article_id]
    contents = store.development_contents(article_ids)

    sender = _ChannelSender(store, topic_names, contents, now, opener or _open, report)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CHANNELS, len(work))) as threads:
        for future in [threads.submit(sender.run, *job, last_digests.get(job[0].name)) for job in work]:
            future.result()  # run() catches everything: one channel's trouble never stops another's
    return report


def _open(config: ChannelConfig) -> Channel:
    return open_channel(
        config.name, config.url, secrets=config.secrets, min_send_interval_seconds=config.min_send_interval_seconds
    )


@dataclass
class _ChannelSender:
    store: OutboxStore
    topic_names: Mapping[str, str]
    contents: Mapping[str, dict[str, Any]]
    now: Callable[[], datetime]
    opener: Callable[[ChannelConfig], Channel]
    report: DispatchReport
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, config: ChannelConfig, immediate: list[Alert], digest: list[Alert], last_digest: datetime | None) -> None:
        try:
            self._run(config, immediate, digest, last_digest)
        except Exception as error:  # noqa: BLE001 - reported; the alerts stay claimed or pending
            with self._lock:
                self.report.errors[config.name] = redact_secrets(f"{type(error).__name__}: {error}")

    def _run(self, config: ChannelConfig, immediate: list[Alert], digest: list[Alert], last_digest: datetime | None) -> None:
        try:
            channel = self.opener(config)
        except ChannelError as error:
            # The URL is wrong, not the channel down: nothing is attempted until the config is fixed.
            with self._lock:
                self.report.unusable_channels[config.name] = str(error)
            return
        failures_in_a_row = 0
        deferred = 0
        for alert in immediate:
            if failures_in_a_row >= FAILURES_BEFORE_PAUSE:
                deferred += 1
                continue
            message = self._message(channel, alert)
            if isinstance(message, str):  # nothing left to show (the article is gone)
                self._record(self._fail(config.name, [alert], alert.kind, "", message))
                continue
            delivery = self._send(channel, [alert], alert.kind, message, alert.alert_id)
            self._record(delivery)
            failures_in_a_row = 0 if delivery.sent else failures_in_a_row + 1
        if digest and failures_in_a_row >= FAILURES_BEFORE_PAUSE:
            deferred += len(digest)
        elif digest:
            self._send_digests(channel, digest, last_digest)
        if deferred:
            with self._lock:
                self.report.deferred[config.name] = deferred

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self.report.deliveries.append(delivery)

    def _send_digests(self, channel: Channel, alerts: list[Alert], last_digest: datetime | None) -> None:
        """One digest message, or several when the channel's length limit cannot list them all:
        an alert is marked sent only when a message listed it."""
        contents = {a.alert_id: self._alert_content(a) for a in alerts}
        for alert in [a for a in alerts if contents[a.alert_id] is None]:
            self._record(self._fail(channel.name, [alert], "digest", "", f"article {alert.article_id} is no longer stored"))
        remaining = [a for a in alerts if contents[a.alert_id] is not None]
        start = last_digest or (min(a.created_at for a in alerts) if alerts else None)
        while remaining:
            items = [contents[a.alert_id] for a in remaining]
            message = render_digest(items, channel.style, channel.limits, period_start=start, period_end=self.now())
            listed = remaining[: max(message.listed or 0, 1)]
            if len(listed) < len(remaining):  # render again: the message must not promise more
                message = render_digest(items[: len(listed)], channel.style, channel.limits,
                                        period_start=start, period_end=self.now())
            # The same alerts always get the same key, so a receiver can drop a digest sent twice.
            key = "digest-" + alert_key(*sorted(a.alert_id for a in listed))
            delivery = self._send(channel, listed, "digest", message, key)
            self._record(delivery)
            if not delivery.sent:
                return  # the rest wait with their attempts untouched
            remaining = remaining[len(listed) :]

    def _send(self, channel: Channel, alerts: list[Alert], kind: str, message: Message, key: str) -> Delivery:
        ids = [a.alert_id for a in alerts]
        self.store.claim(ids, self.now(), digest_id=key if kind == "digest" else None)
        try:
            channel.send(message, idempotency_key=key)
        except DeliveryError as error:
            return self._mark_failed(channel.name, alerts, kind, message.title, str(error))
        except Exception as error:  # noqa: BLE001 - a plugin bug must not lose the alert
            return self._mark_failed(channel.name, alerts, kind, message.title, f"{type(error).__name__}: {channel.redact(str(error))}")
        self.store.mark_sent(ids, self.now())
        return Delivery(channel.name, ids, kind, message.title, sent=True, article_ids=_articles(alerts))

    def _fail(self, channel: str, alerts: list[Alert], kind: str, title: str, error: str) -> Delivery:
        self.store.claim([a.alert_id for a in alerts], self.now())
        return self._mark_failed(channel, alerts, kind, title, error)

    def _mark_failed(self, channel: str, alerts: list[Alert], kind: str, title: str, error: str) -> Delivery:
        ids = [a.alert_id for a in alerts]
        dead = self.store.mark_failed(ids, error, self.now())
        return Delivery(channel, ids, kind, title, sent=False, error=error, dead=dead, article_ids=_articles(alerts))

    def _message(self, channel: Channel, alert: Alert) -> Message | str:
        if alert.kind in ("feed_failing", "feed_recovered"):
            return render_health(_health_content(alert), channel.style, channel.limits)
        content = self._alert_content(alert)
        if content is None:
            return f"article {alert.article_id} or its development is no longer stored"
        return render_alert(content, channel.style, channel.limits)

    def _alert_content(self, alert: Alert) -> AlertContent | None:
        stored = self.contents.get(alert.article_id or "")
        if stored is None:
            return None
        return AlertContent(
            alert_id=alert.alert_id,
            kind=alert.kind,
            decision=alert.decision or stored["decision"],
            headline=stored["title"] or "(ohne Titel)",
            outlet=stored["outlet"] or "",
            published_at=stored["published_at"],
            topic_names=[self.topic_names.get(t, t) for t in alert.topic_ids],
            url=stored["url"],
            novel_sentences=whats_new(stored["novel_sentences"] or [], stored["new_facts"] or [], stored["title"]),
            new_facts=list(stored["new_facts"] or []),
            also_reported_by=[o for o in stored["also_reported_by"] if o],
            novelty_score=stored["novelty_score"] or 0.0,
        )


# "Was ist neu" shows the sentences that carry the news, not a new story's whole text.
WHATS_NEW_SENTENCES = 4
_MIN_WORDS = 5  # shorter lines are datelines, agency codes and subheadings


def whats_new(
    novel_sentences: Sequence[str],
    new_facts: Sequence[dict[str, Any]],
    headline: str | None = None,
    limit: int = WHATS_NEW_SENTENCES,
) -> list[str]:
    """The novel sentences worth a desk's attention, in article order: those stating a new fact
    first, then the next longest-enough ones, at most `limit`; not the headline again."""
    facts = [str(f.get("text") or "") for f in new_facts]
    shown = " ".join((headline or "").split()).casefold()
    candidates = [
        (i, s) for i, s in enumerate(novel_sentences)
        if len(s.split()) >= _MIN_WORDS and " ".join(s.split()).casefold() != shown
    ]
    with_facts = [(i, s) for i, s in candidates if any(f and f in s for f in facts)]
    chosen = dict(with_facts[:limit])
    for i, sentence in candidates:
        if len(chosen) >= limit:
            break
        chosen.setdefault(i, sentence)
    return [chosen[i] for i in sorted(chosen)]


def _health_content(alert: Alert) -> HealthContent:
    details = alert.details or {}
    last_success = details.get("last_success_at")
    return HealthContent(
        feed_name=details.get("feed_name") or alert.feed_name or "",
        feed_url=details.get("feed_url") or "",
        status=details.get("status") or ("failing" if alert.kind == "feed_failing" else "recovered"),
        consecutive_failures=int(details.get("consecutive_failures") or 0),
        last_error=details.get("last_error"),
        last_success_at=datetime.fromisoformat(last_success) if last_success else None,
        failing_since=None,
    )


def _articles(alerts: list[Alert]) -> list[str]:
    return [a.article_id for a in alerts if a.article_id]
