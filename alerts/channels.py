"""Sending alerts through Apprise: one `Channel` per configured channel URL.

    channel = open_channel("desk-slack", url, secrets=expanded_env_values, min_send_interval_seconds=0)
    message = render_alert(content, channel.style, channel.limits)
    channel.send(message, idempotency_key=alert.alert_id)        # raises DeliveryError

What a Channel does on top of Apprise:
- one Apprise plugin object per Channel, reused for every send: Apprise throttles consecutive
  sends per plugin object (`request_rate_per_sec`: 5.5 s by default, Slack 1.2 s, json 0);
  `min_send_interval_seconds` overrides it. Sends on one Channel are serialised (lock); different
  Channels send in parallel. Apprise's own retries stay off (retry=0 unless the URL says
  otherwise): the outbox owns retries.
- the style and length limits the renderer needs (see `_limits_for`):
  * Slack (`slack://…`, `https://hooks.slack.com/services/…`): Block Kit mode forced, so our
    already-escaped mrkdwn passes through unchanged. In legacy mode Apprise escapes `&`, `<`, `>`
    again (our `&amp;` would show as "&amp;") and re-creates `<!here>`-style mentions from raw
    text. Header 150 chars (Block Kit header), body 3000 (Block Kit section text). The footer
    shows the Apprise asset's app_id: "newswatch"; Apprise's logo is switched off.
  * E-mail (`mailto://`, `mailtos://`): HTML body; Apprise sends multipart/alternative with a
    plain-text part derived from the HTML. Header `X-Newswatch-Alert-Id: <idempotency key>`.
  * anything else: plain text. Webhooks with custom headers (json://, form://, xml:// …) get
    `Idempotency-Key: <idempotency key>`. A service without titles (title_maxlen 0) gets
    `Limits(title=0, …)`: the renderer should leave the title empty; a title it sends anyway is
    folded into the first line of the body here.
- errors: Apprise only returns False and logs the reason. The reason of *this* send is captured
  per thread from the `apprise` logger (channels send from several threads at once) and raised
  as `DeliveryError("<channel>: <redacted reason>")`.
- secrets: every secret part of every opened channel URL (what Apprise masks in
  `url(privacy=True)`, the plugin's private fields, password, secret-looking query values, the
  whole URL, and the `secrets` the caller passes) is replaced by "***" in DeliveryError texts and
  in every record of the `apprise` and `urllib3.connectionpool` loggers, by a filter that runs
  before any handler. Secrets stay registered for the life of the process (once seen, always
  redacted). Values shorter than 4 characters are not treated as secrets (they would garble logs).

Timeouts: Apprise's e-mail plugin uses 15 s as the SMTP socket timeout (connect and each
command), HTTP plugins (4 s connect, 4 s read). A refused connection fails at once; an address
that drops packets costs up to the timeout. Both can be set in the URL (`cto=`, `rto=`).
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import apprise
from apprise import AppriseAsset, NotifyFormat
from apprise.manager_plugins import NotificationManager
from apprise.plugins.base import NotifyBase
from apprise.plugins.email.base import NotifyEmail
from apprise.plugins.slack import NotifySlack

from alerts.render import Limits, Message, Style

__all__ = ["Channel", "ChannelError", "DeliveryError", "open_channel"]

APP_ID = "newswatch"
MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would garble every log line and protect nothing

SLACK_HEADER_MAX = 150  # Block Kit header block: plain_text, max 150 characters
SLACK_SECTION_MAX = 3000  # Block Kit section block: text, max 3000 characters
TITLE_CAP = 250  # sane caps for services that declare huge or no limits
BODY_CAP = 32_768

_FORMATS: dict[Style, NotifyFormat] = {
    "slack": NotifyFormat.MARKDOWN,
    "email": NotifyFormat.HTML,
    "text": NotifyFormat.TEXT,
}

_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*)://")
_URL_DELIMITERS = re.compile(r"[/:@?&=#,;\s]+")
_APPRISE_URL_MENTION = re.compile(r"\b(URL):?\s+\S+")  # "Could not load Slack URL: slack://T...0/…"
_SECRET_QUERY_KEY = re.compile(r"pass|pwd|secret|token|key|auth|sig|cred", re.IGNORECASE)

_ASSET = AppriseAsset(
    app_id=APP_ID,
    app_desc="newswatch alerts",
    async_mode=False,  # send in the caller's thread: the per-thread log capture depends on it
    storage_mode="memory",  # no Apprise cache files on disk
)


class ChannelError(Exception):
    """A channel URL Apprise cannot use; the message names the channel, never the URL or its secrets."""


class DeliveryError(Exception):
    """A send failed; str(error) is a redacted, human-readable reason (never a secret)."""


# ------------------------------------------------------------------------------- redaction


def _variants(value: str) -> set[str]:
    """A secret as it may appear in text: raw, URL-decoded and URL-encoded."""
    out = {value, unquote(value), quote(value, safe=""), quote_plus(value, safe="")}
    return {v for v in out if len(v) >= MIN_SECRET_LENGTH}


def _compile(secrets: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted(set(secrets), key=len, reverse=True)  # longest first: a URL before its parts
    return re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None


class _Redactor:
    """A set of secrets and the regular expression that masks them (thread-safe)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {v for s in secrets if s for v in _variants(s)}
        with self._lock:
            if new - self._secrets:
                self._secrets |= new
                self._pattern = _compile(self._secrets)

    def __call__(self, text: str) -> str:
        pattern = self._pattern  # read once: add() swaps it atomically
        return pattern.sub(MASK, text) if pattern is not None and text else text


@dataclass
class _Capture:
    """Apprise log records of one thread, while that thread sends (or opens a channel)."""

    swallow: bool  # True: keep the records from every handler (open_channel's noise)
    records: list[tuple[int, str]]


class _AppriseLogGuard(logging.Filter):
    """Installed once on the `apprise` logger: redacts every record before any handler sees it,
    and hands each thread the records of its own send.

    Apprise logs the reason of a failure at WARNING and its detail ("Socket Exception: …") at
    DEBUG. While any capture is active the logger is lowered to DEBUG so the detail reaches the
    capture; records below the level the logger had before are then dropped here, so handlers
    see exactly what they would have seen without us.
    """

    def __init__(self, redact: _Redactor) -> None:
        super().__init__("newswatch-apprise-guard")
        self.redact = redact
        self._lock = threading.Lock()
        self._captures: dict[int, _Capture] = {}
        self._active = 0
        self._saved_level = logging.NOTSET
        self._lowered = False
        self._passthrough = logging.NOTSET

    def filter(self, record: logging.LogRecord) -> bool:
        message = self._redact_record(record)
        capture = self._captures.get(threading.get_ident())
        if capture is not None:
            capture.records.append((record.levelno, message))
            if capture.swallow:
                return False
        return not self._lowered or record.levelno >= self._passthrough

    def _redact_record(self, record: logging.LogRecord) -> str:
        """Rewrite `record` in place without secrets; returns its message for the capture."""
        try:
            original = record.getMessage()
        except Exception:  # a malformed record: keep its template, lose the arguments
            original = str(record.msg)
        message = self.redact(original)
        if message != original:
            record.msg, record.args = message, None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        if record.exc_info:
            exc = record.exc_info[1]
            # Format the traceback now (redacted) and drop the live exception: its args and frames
            # can carry URLs with tokens, and handlers would format them later, unredacted.
            record.exc_text = self.redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
            if exc is not None:
                return f"{message}: {self.redact(f'{type(exc).__name__}: {exc}')}"
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return message

    @contextmanager
    def capture(self, *, swallow: bool = False) -> Iterator[list[tuple[int, str]]]:
        records: list[tuple[int, str]] = []
        ident = threading.get_ident()
        logger = logging.getLogger("apprise")
        with self._lock:
            if self._active == 0:
                self._passthrough = logger.getEffectiveLevel()
                self._saved_level = logger.level
                self._lowered = self._passthrough > logging.DEBUG
                if self._lowered:
                    logger.setLevel(logging.DEBUG)
            self._active += 1
            self._captures[ident] = _Capture(swallow=swallow, records=records)
        try:
            yield records
        finally:
            with self._lock:
                self._captures.pop(ident, None)
                self._active -= 1
                if self._active == 0 and self._lowered:
                    logger.setLevel(self._saved_level)
                    self._lowered = False


class _RedactFilter(logging.Filter):
    """Redaction only, for loggers below Apprise (urllib3 logs request paths: Slack tokens)."""

    def __init__(self, redact: _Redactor) -> None:
        super().__init__("newswatch-redact")
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            original = record.getMessage()
        except Exception:
            return True
        message = self.redact(original)
        if message != original:
            record.msg, record.args = message, None
        return True


_GLOBAL_REDACTOR = _Redactor()
_GUARD = _AppriseLogGuard(_GLOBAL_REDACTOR)
_GUARD_INSTALLED = False
_INSTALL_LOCK = threading.Lock()


def _install_guard() -> None:
    global _GUARD_INSTALLED
    with _INSTALL_LOCK:
        if not _GUARD_INSTALLED:
            logging.getLogger("apprise").addFilter(_GUARD)
            logging.getLogger("urllib3.connectionpool").addFilter(_RedactFilter(_GLOBAL_REDACTOR))
            _GUARD_INSTALLED = True


_ADDRESS_LIKE = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")  # 127.0.0.1, smtp.example.org


def _token_like(part: str) -> bool:
    """A path segment that is probably a credential (a webhook token, a key), not a word or host."""
    if _ADDRESS_LIKE.match(part):
        return False
    return len(part) >= 16 or (len(part) >= 8 and any(c.isdigit() for c in part))


def _url_candidates(url: str, *, wholly_secret: bool = False) -> set[str]:
    """Secrets recognisable without Apprise: the URL, its password, secret-looking query values
    and token-like path segments (generic webhooks carry their token in the path).
    `wholly_secret`: the URL came from a secret (${ENV}, a Secret block): every part of its path
    and query of 8 characters or more is masked too; only the host stays readable."""
    found = {url.strip()}
    try:
        parts = urlsplit(url.strip())
        if parts.password:
            found.add(parts.password)
        for key, value in parse_qsl(parts.query, keep_blank_values=False):
            if _SECRET_QUERY_KEY.search(key) or (wholly_secret and len(value) >= 8 and not _ADDRESS_LIKE.match(value)):
                found.add(value)
        for segment in _URL_DELIMITERS.split(parts.path):
            if _token_like(segment) or (wholly_secret and len(segment) >= 8 and not _ADDRESS_LIKE.match(segment)):
                found.add(segment)
    except ValueError:
        pass
    return found


def _plugin_secrets(plugin: NotifyBase) -> set[str]:
    """What Apprise itself considers secret in this plugin's URL."""
    found: set[str] = set()
    # 1. The parts Apprise masks in its privacy URL (tokens, passwords, API keys, …).
    try:
        full = _URL_DELIMITERS.split(plugin.url(privacy=False))
        masked = _URL_DELIMITERS.split(plugin.url(privacy=True))
    except Exception:
        full, masked = [], []
    if len(full) == len(masked):
        found |= {a for a, b in zip(full, masked) if a != b}
    else:
        found |= set(full) - set(masked)
    # 2. Fields the plugin declares private (covers values url() does not print).
    specs: dict[str, Any] = {**getattr(plugin, "template_tokens", {}), **getattr(plugin, "template_args", {})}
    for key, spec in specs.items():
        if not isinstance(spec, dict) or not spec.get("private"):
            continue
        value = getattr(plugin, str(spec.get("map_to", key)), None)
        values = value if isinstance(value, (list, tuple, set)) else [value]
        found |= {v for v in values if isinstance(v, str)}
    password = getattr(plugin, "password", None)
    if isinstance(password, str):
        found.add(password)
    return {s for s in found if s}


# ------------------------------------------------------------------------------- channels


def _style_of(plugin: NotifyBase) -> Style:
    if isinstance(plugin, NotifySlack):
        return "slack"
    if isinstance(plugin, NotifyEmail):
        return "email"
    return "text"


# A service without a title field (Telegram, Mattermost...) gets the title as the body's first
# line, so "Neue Entwicklung:" / "Update:" is not lost; it takes this much of the body's room.
FOLDED_TITLE_MAX = 150


def _limits_for(plugin: NotifyBase, style: Style) -> Limits:
    body_max = int(plugin.body_maxlen) if plugin.body_maxlen and plugin.body_maxlen > 0 else BODY_CAP
    title_max = int(plugin.title_maxlen or 0)
    if style == "slack":
        return Limits(title=SLACK_HEADER_MAX, body=min(body_max, SLACK_SECTION_MAX))
    if title_max <= 0:
        return Limits(title=FOLDED_TITLE_MAX, body=max(min(body_max, BODY_CAP) - FOLDED_TITLE_MAX - 1, 1))
    return Limits(title=min(title_max, TITLE_CAP), body=min(body_max, BODY_CAP))


def _endpoint(plugin: NotifyBase) -> str:
    """Where a send went, for error messages: only for services whose host is not a token."""
    if isinstance(plugin, NotifyEmail):
        return f"SMTP {plugin.smtp_host}:{plugin.port}"
    if isinstance(getattr(plugin, "headers", None), dict) and isinstance(getattr(plugin, "host", None), str):
        port = getattr(plugin, "port", None)
        return f"{plugin.host}:{port}" if port else str(plugin.host)
    return ""


def _reason(records: Sequence[tuple[int, str]]) -> str:
    """The human part of Apprise's log lines about one failed send."""
    parts: list[str] = []
    for level, text in records:
        text = " ".join(text.split())
        if level >= logging.WARNING:
            parts.append(text)
        elif text.startswith(("Socket Exception:", "I/O Exception:")):
            parts.append(text.split(":", 1)[1].strip())
        elif text.startswith("Response Details:"):
            detail = text.split(":", 1)[1].strip()
            if detail and detail not in ("b''", "''"):
                parts.append(f"response {detail[:200]}")
    unique = dict.fromkeys(p.rstrip(". ") for p in parts)
    return "; ".join(p for p in unique if p)


class Channel:
    """One configured alert destination. Thread-safe; reuse it for every send of a dispatch."""

    name: str
    style: Style
    limits: Limits

    def __init__(self, name: str, plugin: NotifyBase, style: Style, limits: Limits, redactor: _Redactor) -> None:
        self.name = name
        self.style = style
        self.limits = limits
        self.service = str(plugin.service_name)
        self._plugin = plugin
        self._redactor = redactor
        self._format = _FORMATS[style]
        self._lock = threading.Lock()
        self._apprise = apprise.Apprise(asset=_ASSET)
        self._apprise.add(plugin)
        # Webhooks with custom headers and e-mail get the idempotency key as a header.
        headers = getattr(plugin, "headers", None)
        self._headers: dict[str, str] | None = headers if isinstance(headers, dict) else None
        self._key_header = "X-Newswatch-Alert-Id" if style == "email" else "Idempotency-Key"

    def __repr__(self) -> str:
        return f"Channel(name={self.name!r}, service={self.service!r}, style={self.style!r})"

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """`text` with every secret of this channel's URL replaced by "***"."""
        return self._redactor(text)

    def send(self, message: Message, *, idempotency_key: str) -> None:
        """Deliver one message; raises DeliveryError with a redacted reason if it did not arrive."""
        title, body = message.title or "", message.body
        if not self._plugin.title_maxlen and title:
            # The service has no title: it becomes the first line (Limits left room for it).
            body = f"{title}\n{body}"[: max(int(self._plugin.body_maxlen or BODY_CAP), 1)]
            title = ""
        with self._lock, _GUARD.capture() as records:
            if self._headers is not None:
                self._headers[self._key_header] = idempotency_key
            try:
                ok = self._apprise.notify(body=body, title=title, body_format=self._format)
            except Exception as error:  # Apprise catches plugin errors; this is the safety net
                ok = False
                records.append((logging.ERROR, self.redact(f"{type(error).__name__}: {error}")))
            finally:
                if self._headers is not None:
                    self._headers.pop(self._key_header, None)
        if ok:
            return
        reason = self.redact(_reason(records)) or "Apprise reported a failure without a reason"
        where = _endpoint(self._plugin)
        text = f"{self.name}: {self.service} delivery failed" + (f" ({self.redact(where)})" if where else "")
        raise DeliveryError(f"{text}: {reason}")


def redact_secrets(text: str) -> str:
    """`text` with the secrets of every channel opened in this process masked (for errors that
    happen outside a channel's own send, where its redact() is not at hand)."""
    return _GLOBAL_REDACTOR(text)


def open_channel(
    name: str,
    url: str,
    *,
    secrets: Sequence[str] = (),
    min_send_interval_seconds: float | None = None,
) -> Channel:
    """Build the Apprise plugin for `url` once; raises ChannelError if Apprise cannot use it.

    `secrets`: extra values to redact (e.g. the expanded ${ENV} values the URL was built from).
    `min_send_interval_seconds`: pause between two sends on this channel (default: Apprise's own
    for the service).
    """
    _install_guard()
    # Register what is recognisable before Apprise parses the URL (it logs while doing so).
    known = _url_candidates(url) | {s for s in secrets if s}
    for secret in secrets:  # a whole URL in an environment variable or a Secret block
        if "://" in secret:
            known |= _url_candidates(secret, wholly_secret=True)
    _GLOBAL_REDACTOR.add(known)

    match = _SCHEME.match(url or "")
    if match is None:
        raise ChannelError(f"{name}: Apprise cannot use this URL (expected scheme://…)")
    scheme = match.group(1).lower()

    with _GUARD.capture(swallow=True) as records:  # Apprise's complaints about the URL may quote it
        plugin = apprise.Apprise.instantiate(url.strip(), asset=_ASSET, suppress_exceptions=True)
    if plugin is None:
        if scheme not in NotificationManager():
            raise ChannelError(f"{name}: Apprise cannot use this URL (unknown service '{scheme}://')")
        service = NotificationManager()[scheme].service_name
        # Apprise's complaint, without the (masked) URL it quotes and with every part of the URL
        # masked, not only the known secrets: the URL did not parse, so its parts are unknown.
        detail = _APPRISE_URL_MENTION.sub(r"\1", _reason(records))
        parts = [p for p in _URL_DELIMITERS.split(url.split("://", 1)[-1]) if len(p) >= 2]
        detail = _Redactor([*known, *parts])(_GLOBAL_REDACTOR(detail))
        raise ChannelError(
            f"{name}: Apprise cannot use this {service} URL" + (f" ({detail})" if detail else "")
        )

    channel_secrets = known | _plugin_secrets(plugin)
    _GLOBAL_REDACTOR.add(channel_secrets)

    if min_send_interval_seconds is not None:
        if min_send_interval_seconds < 0:
            raise ChannelError(f"{name}: min_send_interval_seconds must be >= 0")
        plugin.request_rate_per_sec = float(min_send_interval_seconds)

    style = _style_of(plugin)
    if isinstance(plugin, NotifySlack):
        plugin.use_blocks = True  # pass our escaped mrkdwn through unchanged (see module doc)
        plugin.notify_format = NotifyFormat.MARKDOWN
        plugin.include_image = False  # Apprise's logo as bot icon and footer icon: not ours
    elif style == "text":
        # Plain text, shown as such: a service whose default is markdown or HTML (Rocket.Chat,
        # Telegram...) would otherwise read markup in an article's title as its own.
        plugin.notify_format = NotifyFormat.TEXT

    return Channel(name, plugin, style, _limits_for(plugin, style), _Redactor(channel_secrets))
