"""Real alert receivers on 127.0.0.1, for `make demo` and the tests (never for production).

- `SmtpReceiver`: an aiosmtpd SMTP server that parses every mail it receives;
  `mailto_url()` is the Apprise URL that reaches it (plain SMTP, no STARTTLS, no AUTH).
  `hold_after_accept()`: from then on, a mail is accepted (250) but the sender's QUIT is not
  answered until `release()`: the sender has handed the message over and does not know it yet
  (the fault suite kills a pass at exactly this moment; `holding` is set while one waits).
- `WebhookReceiver`: a threaded HTTP server that records every request and answers 200 "ok"
  (or a chosen status, after `delay` seconds: a hanging service); `json_url()` /
  `slack_webhook_url()` are Apprise URLs for it.
- `redirect_slack_to(receiver)`: points Apprise's Slack plugin at the receiver, so the real
  plugin posts its real Block Kit payload to loopback. It patches a class attribute of Apprise
  (process-wide) and exists for the demo and the tests only.

Both receivers use ephemeral ports, are thread-safe, start in milliseconds and are context
managers. `wait_for(n, timeout)` blocks until n items arrived and returns them (TimeoutError if not).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = [
    "ReceivedEmail",
    "ReceivedRequest",
    "SmtpReceiver",
    "WebhookReceiver",
    "redirect_slack_to",
]

HOST = "127.0.0.1"
T = TypeVar("T")


def free_port() -> int:
    # aiosmtpd needs an explicit port; the OS picks a free one, we release it and bind it again
    # right away (SO_REUSEADDR is set by asyncio, so the short gap is harmless on loopback).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class _Inbox(Generic[T]):
    """A thread-safe list that can be waited on."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = threading.Condition()

    def append(self, item: T) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def snapshot(self) -> list[T]:
        with self._changed:
            return list(self._items)

    def clear(self) -> None:
        with self._changed:
            self._items.clear()

    def wait_for(self, n: int, timeout: float, what: str) -> list[T]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._items) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {n} {what} within {timeout} s, got {len(self._items)}")
                self._changed.wait(remaining)
            return list(self._items)


# --------------------------------------------------------------------------------------- SMTP


class ReceivedEmail(EmailMessage):
    """A parsed mail (`email.policy.default`) plus the SMTP envelope it arrived with."""

    envelope_from: str = ""
    envelope_to: tuple[str, ...] = ()


class _SmtpHandler:
    def __init__(self, inbox: _Inbox[ReceivedEmail]) -> None:
        self._inbox = inbox
        self._parser = BytesParser(_class=ReceivedEmail, policy=policy.default)
        self.hold = threading.Event()  # set: QUIT waits until `released` is set
        self.holding = threading.Event()  # set while a QUIT is being held
        self.released = threading.Event()

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.hold.is_set():
            self.holding.set()
            while not self.released.is_set():
                await asyncio.sleep(0.02)
        return "221 Bye"

    # aiosmtpd calls the hook by this name.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        message = self._parser.parsebytes(raw)
        assert isinstance(message, ReceivedEmail)
        message.envelope_from = str(envelope.mail_from or "")
        message.envelope_to = tuple(envelope.rcpt_tos)
        self._inbox.append(message)
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """A plain SMTP server on 127.0.0.1 (no TLS, no AUTH) that keeps every mail it receives.

    `stop()` and then `start()` again keep the same port, to simulate "SMTP down for a pass".
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._inbox: _Inbox[ReceivedEmail] = _Inbox()
        self._handler = _SmtpHandler(self._inbox)
        self._controller: Controller | None = None
        self._lock = threading.Lock()

    def start(self) -> SmtpReceiver:
        with self._lock:
            if self._controller is None:
                controller = Controller(self._handler, hostname=HOST, port=self.port, ready_timeout=5.0)
                controller.start()
                self._controller = controller
        return self

    def stop(self) -> None:
        self.release()
        with self._lock:
            if self._controller is not None:
                self._controller.stop()
                self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def hold_after_accept(self) -> threading.Event:
        """Accept mails but leave the sender's QUIT unanswered until `release()`; returns the event
        that is set while a sender waits (its message arrived, its send has not returned)."""
        self._handler.released.clear()
        self._handler.holding.clear()
        self._handler.hold.set()
        return self._handler.holding

    def release(self) -> None:
        self._handler.hold.clear()
        self._handler.released.set()

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[ReceivedEmail]:
        """Every mail received so far (a copy), oldest first."""
        return self._inbox.snapshot()

    def clear(self) -> None:
        self._inbox.clear()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedEmail]:
        return self._inbox.wait_for(n, timeout, "mails")

    def mailto_url(self, to: str = "desk@example.org", *, sender: str = "newswatch@example.org") -> str:
        """The Apprise URL that delivers to this server.

        The host is a domain (example.org) and `smtp=` names the loopback IP: a bare IP as host was
        dropped by some Apprise versions. `mailto://` without user/password means Apprise's
        "insecure" mode: no STARTTLS and no login (`mode=insecure` says so explicitly).
        """
        return (
            f"mailto://example.org:{self.port}?smtp={HOST}&mode=insecure"
            f"&from={quote(sender, safe='@')}&to={quote(to, safe='@')}"
        )


# --------------------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the webhook receiver saw it."""

    method: str
    path: str
    headers: Message  # case-insensitive: request.headers["idempotency-key"]
    body: bytes
    json: Any = None  # the parsed body when it is JSON, else None
    status: int = 200  # what the receiver answered


@dataclass
class _WebhookState:
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (a hanging service)
    stopping: threading.Event = field(default_factory=threading.Event)
    failures: list[int] = field(default_factory=list)  # statuses for the next requests, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.failures.pop(0) if self.failures else self.status


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _WebhookServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        status = self.server.state.next_status()
        delay = self.server.state.delay
        self.server.inbox.append(
            ReceivedRequest(
                method=self.command, path=self.path, headers=self.headers, body=body, json=parsed, status=status
            )
        )
        if delay and self.server.state.stopping.wait(delay):
            return
        # Slack's webhook answers the literal "ok"; Apprise's Slack plugin checks for it.
        reply = b"ok" if 200 <= status < 300 else f"error {status}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output clean; requests are recorded instead


class _WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, inbox: _Inbox[ReceivedRequest], state: _WebhookState) -> None:
        self.inbox = inbox
        self.state = state
        super().__init__((HOST, 0), _WebhookHandler)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 (ephemeral port) that records every request.

    Answers 200 "ok" by default; `status = 503` makes every answer fail, `fail_next(n, 500)` only
    the next n.
    """

    def __init__(self) -> None:
        self._inbox: _Inbox[ReceivedRequest] = _Inbox()
        self._state = _WebhookState()
        self._server: _WebhookServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> WebhookReceiver:
        if self._server is None:
            self._state.stopping.clear()
            self._server = _WebhookServer(self._inbox, self._state)
            self.port = int(self._server.server_address[1])
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                name=f"webhook-receiver-{self.port}",
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._state.stopping.set()
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def status(self) -> int:
        return self._state.status

    @status.setter
    def status(self, value: int) -> None:
        with self._state.lock:
            self._state.status = value

    @property
    def delay(self) -> float:
        return self._state.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        with self._state.lock:
            self._state.delay = seconds

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self._state.lock:
            self._state.failures.extend([status] * n)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far (a copy), oldest first."""
        return self._inbox.snapshot()

    def clear(self) -> None:
        self._inbox.clear()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        return self._inbox.wait_for(n, timeout, "requests")

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def json_url(self, path: str = "/alerts") -> str:
        """Apprise's generic JSON webhook (`json://`), posting to this receiver."""
        return f"json://{HOST}:{self.port}{path}"

    def slack_webhook_url(self, token: str = "XXXXXXXXXXXXXXXXXXXXXXXX") -> str:
        """A Slack incoming-webhook URL in Apprise form; reaches this receiver only inside
        `redirect_slack_to(receiver)`."""
        return f"slack://T00000000/B00000000/{token}"


@contextmanager
def redirect_slack_to(receiver: WebhookReceiver) -> Iterator[str]:
    """Point Apprise's Slack plugin (webhook mode) at `receiver` for the duration.

    Patches `NotifySlack.webhook_url`, a class attribute, so it affects every Slack channel in the
    process: for the demo and tests only. Yields the base URL the plugin now posts to.
    """
    from apprise.plugins.slack import NotifySlack

    previous = NotifySlack.webhook_url
    target = receiver.url("/services")
    NotifySlack.webhook_url = target
    try:
        yield target
    finally:
        NotifySlack.webhook_url = previous
