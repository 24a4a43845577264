"""alerts.channels through real Apprise plugins to real receivers on loopback (alerts.loopback)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from alerts.channels import Channel, ChannelError, DeliveryError, open_channel
from alerts.loopback import SmtpReceiver, WebhookReceiver, redirect_slack_to
from alerts.render import Message

SLACK_TOKEN = "Sl4ckT0kenSecretValue123"
# Built from parts: a literal Slack webhook URL in the repository reads as a leaked secret to scanners.
NATIVE_SLACK_URL = "https://hooks.slack.com/services/" + "/".join(["T00000000", "B00000000", SLACK_TOKEN])
SMTP_PASSWORD = "Zq7-Geheim-4711"
HOOK_PASSWORD = "Pw-9f8e7d6c5b"


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the log handlers saw, formatted as a handler would (tracebacks included)."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


# ----------------------------------------------------------------------------------- e-mail


def test_email_is_multipart_utf8_with_alert_id_header(smtp: SmtpReceiver) -> None:
    channel = open_channel("desk-email", smtp.mailto_url(), min_send_interval_seconds=0)
    assert channel.style == "email"
    assert (channel.limits.title, channel.limits.body) == (250, 32768)

    title = "Lukaschenko lässt 52 Häftlinge frei – Weißrussland hofft auf Lockerungen"
    html = "<p>Grüße aus Minsk: <b>Sanktionserleichterungen</b> &amp; „Gefangene“ frei…</p>"
    channel.send(Message(title=title, body=html, body_format="html"), idempotency_key="a1b2c3")

    mail = smtp.wait_for(1)[0]
    assert mail.envelope_from == "newswatch@example.org"
    assert mail.envelope_to == ("desk@example.org",)
    assert mail["Subject"] == title
    assert mail["X-Newswatch-Alert-Id"] == "a1b2c3"
    assert mail.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part for part in mail.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert all(part.get_content_charset() == "utf-8" for part in parts.values())
    assert parts["text/html"].get_content().strip() == html
    plain = parts["text/plain"].get_content()
    assert "Grüße aus Minsk: Sanktionserleichterungen & „Gefangene“ frei…" in plain
    assert "<b>" not in plain


def test_smtp_down_fails_fast_then_recovers(smtp: SmtpReceiver) -> None:
    channel = open_channel("desk-email", smtp.mailto_url(), min_send_interval_seconds=0)
    message = Message(title="Test", body="<p>eins</p>", body_format="html")
    smtp.stop()
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failure:
        channel.send(message, idempotency_key="k-down")
    assert time.monotonic() - started < 5  # connection refused on loopback: no timeout wait
    text = str(failure.value)
    assert text.startswith("desk-email: ")
    assert f"127.0.0.1:{smtp.port}" in text and "refused" in text.lower()

    smtp.start()  # same port: the channel (same plugin object) reaches it again
    channel.send(message, idempotency_key="k-up")
    assert smtp.wait_for(1)[0]["X-Newswatch-Alert-Id"] == "k-up"


def test_throttle_is_off_with_zero_interval(smtp: SmtpReceiver) -> None:
    # Apprise's e-mail plugin waits 5.5 s between two sends of one plugin object by default.
    channel = open_channel("desk-email", smtp.mailto_url(), min_send_interval_seconds=0)
    started = time.monotonic()
    for n in range(2):
        channel.send(Message(title=f"T{n}", body=f"<p>{n}</p>", body_format="html"), idempotency_key=f"k{n}")
    assert time.monotonic() - started < 2
    assert len(smtp.wait_for(2)) == 2


# ----------------------------------------------------------------------------------- webhooks


def test_json_webhook_payload_and_idempotency_key(hook: WebhookReceiver) -> None:
    channel = open_channel("desk-hook", hook.json_url("/alerts"), min_send_interval_seconds=0)
    assert channel.style == "text"
    assert (channel.limits.title, channel.limits.body) == (250, 32768)

    channel.send(Message(title="Neue Entwicklung", body="Häftlinge frei: 52", body_format="text"), idempotency_key="k1")
    channel.send(Message(title="Zweite", body="noch eine", body_format="text"), idempotency_key="k2")
    first, second = hook.wait_for(2)
    assert (first.method, first.path) == ("POST", "/alerts")
    assert first.json["title"] == "Neue Entwicklung"
    assert first.json["message"] == "Häftlinge frei: 52"
    assert first.headers["Idempotency-Key"] == "k1"
    assert second.headers["Idempotency-Key"] == "k2"
    assert first.headers["User-Agent"] == "newswatch"


def test_json_webhook_error_names_channel_and_status_but_no_secret(
    hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"json://hookuser:{HOOK_PASSWORD}@127.0.0.1:{hook.port}/alerts"
    channel = open_channel("desk-hook", url, min_send_interval_seconds=0)
    hook.fail_next(1, status=500)
    message = Message(title="T", body="B", body_format="text")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(DeliveryError) as failure:
            channel.send(message, idempotency_key="k1")
    text = str(failure.value)
    assert text.startswith("desk-hook: ") and "500" in text
    assert failure.value.__cause__ is None and failure.value.__context__ is None
    for shown in (text, _all_log_text(caplog), repr(channel), str(channel)):
        assert HOOK_PASSWORD not in shown
        assert url not in shown
    assert hook.requests[0].headers["Authorization"]  # the password was really used, only hidden

    channel.send(message, idempotency_key="k2")  # only the next request was to fail
    assert hook.wait_for(2)[1].status == 200


def test_slack_block_kit_payload_passes_mrkdwn_unchanged(hook: WebhookReceiver) -> None:
    title = "Neu: US-Gesandter trifft Lukaschenko"
    body = (
        "*Neu:* Freilassung von 52 Häftlingen &amp; Lockerung für Belavia\n"
        "&lt;!channel&gt; bleibt Text, keine Erwähnung\n"
        "<https://example.org/artikel?id=1&amp;s=2|Artikel lesen>"
    )
    with redirect_slack_to(hook):
        channel = open_channel("desk-slack", hook.slack_webhook_url(SLACK_TOKEN), min_send_interval_seconds=0)
        assert channel.style == "slack"
        assert (channel.limits.title, channel.limits.body) == (150, 3000)
        channel.send(Message(title=title, body=body, body_format="markdown"), idempotency_key="k1")

    request = hook.wait_for(1)[0]
    assert request.path == f"/services/T00000000/B00000000/{SLACK_TOKEN}"
    attachment = request.json["attachments"][0]
    header, section, footer = attachment["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}
    assert section["text"] == {"type": "mrkdwn", "text": body}  # byte for byte: no re-escaping
    assert footer["type"] == "context"
    assert footer["elements"] == [{"type": "mrkdwn", "text": "newswatch"}]
    assert "icon_url" not in request.json  # no Apprise logo as the bot's icon


def test_slack_failure_never_shows_the_webhook_token(
    hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    hook.status = 403
    with redirect_slack_to(hook), caplog.at_level(logging.DEBUG):
        channel = open_channel("desk-slack", hook.slack_webhook_url(SLACK_TOKEN), min_send_interval_seconds=0)
        with pytest.raises(DeliveryError) as failure:
            channel.send(Message(title="T", body="B", body_format="markdown"), idempotency_key="k1")
    text = str(failure.value)
    assert text.startswith("desk-slack: ") and "403" in text
    logged = _all_log_text(caplog)
    assert "Slack POST URL" in logged and "/services/" in logged  # Apprise logged the URL …
    assert "***" in logged  # … with the token masked, and so did urllib3
    for shown in (text, logged, repr(channel)):
        assert SLACK_TOKEN not in shown
    assert channel.redact(NATIVE_SLACK_URL).endswith("/***")


def test_smtp_password_never_shown_and_debug_detail_not_leaked_to_handlers(
    smtp: SmtpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    # The receiver offers no AUTH, so the login fails: a real failure with a password in the URL.
    url = smtp.mailto_url().replace("mailto://", f"mailto://newswatch:{SMTP_PASSWORD}@")
    level_before = logging.getLogger("apprise").level
    channel = open_channel("desk-email", url, min_send_interval_seconds=0, secrets=["env-value-0815"])
    with caplog.at_level(logging.WARNING):  # the usual production level
        with pytest.raises(DeliveryError) as failure:
            channel.send(Message(title="T", body="<p>B</p>", body_format="html"), idempotency_key="k1")
    text = str(failure.value)
    assert text.startswith("desk-email: ") and "AUTH" in text  # the DEBUG detail reached the error
    apprise_records = [r for r in caplog.records if r.name == "apprise"]
    assert apprise_records and all(r.levelno >= logging.WARNING for r in apprise_records)
    for shown in (text, _all_log_text(caplog), repr(channel)):
        assert SMTP_PASSWORD not in shown
    assert channel.redact(f"pw={SMTP_PASSWORD} env=env-value-0815") == "pw=*** env=***"
    assert logging.getLogger("apprise").level == level_before  # the capture restored the level


def test_threads_get_their_own_failure_reasons(smtp: SmtpReceiver, hook: WebhookReceiver) -> None:
    smtp.stop()
    hook.status = 502
    mail = open_channel("desk-email", smtp.mailto_url(), min_send_interval_seconds=0)
    web = open_channel("desk-hook", hook.json_url(), min_send_interval_seconds=0)

    def attempt(job: tuple[Channel, int]) -> str:
        channel, n = job
        try:
            channel.send(Message(title="T", body="<p>B</p>", body_format="html"), idempotency_key=f"k{n}")
        except DeliveryError as error:
            return str(error)
        return "sent"

    jobs = [(mail, n) if n % 2 else (web, n) for n in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(attempt, jobs))
    for (channel, _), result in zip(jobs, results):
        if channel is mail:
            assert result.startswith("desk-email: ") and "refused" in result.lower() and "502" not in result
        else:
            assert result.startswith("desk-hook: ") and "502" in result and "refused" not in result.lower()


# ----------------------------------------------------------------------------------- opening


def test_unknown_scheme_is_a_channel_error_without_the_url(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ChannelError) as failure:
        open_channel("desk-x", "foo://admin:SuperSecret99@intranet.example/hook")
    assert str(failure.value) == "desk-x: Apprise cannot use this URL (unknown service 'foo://')"
    assert "SuperSecret99" not in _all_log_text(caplog)


def test_invalid_service_url_is_a_channel_error_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(ChannelError) as failure:
        open_channel("desk-slack", "slack://T000/B000/Bad-Token_Geheim42")  # '-' and '_' are invalid
    text = str(failure.value)
    assert text.startswith("desk-slack: Apprise cannot use this Slack URL")
    for shown in (text, _all_log_text(caplog)):
        assert "Bad-Token_Geheim42" not in shown


def test_service_without_title_gets_room_for_a_folded_title_and_token_redaction() -> None:
    token = "123456789:AABBCCDDEEFFGGHHIIJJKKLLMMNNOOPPQQRR"
    channel = open_channel("ops-telegram", f"tgram://{token}/12345")  # opened only, never sent
    assert channel.style == "text"
    # The title becomes the body's first line: the body's limit leaves room for it and a newline.
    assert (channel.limits.title, channel.limits.body) == (150, 4096 - 151)
    assert token not in channel.redact(f"POST https://api.telegram.org/bot{token}/sendMessage")
    assert "AABBCCDDEEFFGGHHIIJJKKLLMMNNOOPPQQRR" not in repr(channel)


def test_native_slack_webhook_url_is_slack_style_and_redacted() -> None:
    native = NATIVE_SLACK_URL
    channel = open_channel("desk-slack", native)  # opened only, never sent
    assert channel.style == "slack"
    assert SLACK_TOKEN not in channel.redact(f"POST {native} failed")
    assert native not in repr(channel)


def test_title_is_folded_into_the_body_for_a_service_without_titles(hook: WebhookReceiver) -> None:
    # Mattermost's incoming webhook has no title field (Apprise: title_maxlen 0).
    channel = open_channel("ops-mattermost", f"mmost://127.0.0.1:{hook.port}/abcdefghijkl1234567890",
                           min_send_interval_seconds=0)
    assert (channel.limits.title, channel.limits.body) == (150, 4000 - 151)
    channel.send(Message(title="Feed gestört", body="spiegel.de: 3 Läufe mit 503", body_format="text"),
                 idempotency_key="k1")
    request = hook.wait_for(1)[0]
    assert request.path == "/hooks/abcdefghijkl1234567890"
    assert request.json["text"] == "Feed gestört\nspiegel.de: 3 Läufe mit 503"
    assert request.json["username"] == "newswatch"


def test_a_whole_webhook_url_from_a_secret_never_shows_its_path_token(caplog: pytest.LogCaptureFixture) -> None:
    """n8n-style webhooks carry the token in the path; the URL came from ${ENV}, so all of it is secret."""
    token = "c0ffee42-dead-beef-4f00-0123456789ab"
    with WebhookReceiver() as receiver:
        url = f"json://127.0.0.1:{receiver.port}/webhook/{token}"
    caplog.set_level(logging.DEBUG)
    channel = open_channel("desk-n8n", url, secrets=[url], min_send_interval_seconds=0)  # nothing listens now
    with pytest.raises(DeliveryError) as failure:
        channel.send(Message(title="t", body="b", body_format="text"), idempotency_key="k")
    for shown in (str(failure.value), _all_log_text(caplog), repr(channel)):
        assert token not in shown
    assert "desk-n8n" in str(failure.value)
