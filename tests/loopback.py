"""A small threaded HTTP/1.1 server on 127.0.0.1 for tests (real sockets, real bytes).

Usage::

    from loopback import LoopbackServer, drip, hang, redirect   # or use the pytest fixtures

    with LoopbackServer() as server:
        server.route("/feed.xml", 200, {"Content-Type": "application/rss+xml"}, rss_bytes)
        server.route("/gone", 404)
        server.route("/slow", drip(b"<html>...</html>", interval=0.5))   # one byte every 0.5 s
        server.route("/hang", hang())                                    # never answers
        server.route("/a", redirect("/b"))                               # 302 to /b
        server.route("/custom", lambda h: h.respond(200, {"X-A": "1"}, b"hi"))
        fetch(server.url("/feed.xml"))
        assert server.hits("/feed.xml") == 1

    config = FetchConfig(allow_private_addresses=[server.allowance])   # "127.0.0.1:<port>"

Routes:
* `server.route(path, status=200, headers=None, body=b"")` -- a fixed response. `Content-Length`
  is added unless the headers give it or `Transfer-Encoding`. `body` may be `str` (UTF-8).
* `server.route(path, handler)` -- `handler(h)` is called with the `Handler` (a
  `BaseHTTPRequestHandler`) and writes the response itself; `h.respond(status, headers, body)`,
  `h.send_raw(bytes)` and `h.server_stopping` (a threading.Event set at shutdown, so handlers that
  wait can stop) help. The request line/headers are in `h.path`, `h.headers`.
* A route matches the path with its query string first, then the path alone; unknown paths: 404.
* `server.route_many({path: (status, headers, body) | handler, ...})` registers several.

Observations (all thread-safe, recorded server-side):
* `server.requests` -- list of `Recorded(path, method, headers, started, finished)` with
  `time.monotonic()` timestamps; `server.hits(path)` counts requests for a path (query ignored).
* `server.max_in_flight` -- highest number of requests being handled at the same time.

pytest fixtures (in tests/conftest.py): `loopback` (a started server) and `loopback_factory`
(call it to get more servers, e.g. an allowed and a refused port); both are stopped at teardown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import urlsplit

from newswatch.config import FetchConfig

__all__ = ["Handler", "LoopbackServer", "Recorded", "drip", "hang", "redirect", "slow"]

HandlerFn = Callable[["Handler"], None]
Route = Union[tuple[int, Mapping[str, str], bytes], HandlerFn]


@dataclass
class Recorded:
    path: str
    method: str
    headers: dict[str, str]
    started: float  # time.monotonic() when the request line and headers had been read
    finished: float | None = None
    client_port: int | None = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def server_stopping(self) -> threading.Event:
        return self.server.stopping

    def respond(
        self, status: int, headers: Mapping[str, str] | None = None, body: bytes | str = b""
    ) -> None:
        """Send a complete response (status line, headers, body)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = dict(headers or {})
        self.send_response_only(status)
        lower = {name.lower() for name in headers}
        if "content-length" not in lower and "transfer-encoding" not in lower:
            headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def send_raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self) -> None:
        owner = self.server.owner
        record = Recorded(
            path=self.path,
            method=self.command,
            headers={k.lower(): v for k, v in self.headers.items()},
            started=time.monotonic(),
            client_port=self.client_address[1],
        )
        owner._begin(record)
        try:
            route = owner._lookup(self.path)
            if route is None:
                self.respond(404, {"Content-Type": "text/plain"}, b"not found")
            elif callable(route):
                route(self)
            else:
                status, headers, body = route
                self.respond(status, headers, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            owner._end(record)

    do_HEAD = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: LoopbackServer
    stopping: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet on resets
        pass


class LoopbackServer:
    """See the module docstring."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> LoopbackServer:
        server = _Server((self.host, 0), Handler)
        server.owner = self
        server.stopping = threading.Event()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"loopback-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    @property
    def allowance(self) -> str:
        """The `allow_private_addresses` entry that admits exactly this server."""
        return f"{self.host}:{self.port}"

    # -- routes

    def route(
        self,
        path: str,
        status_or_handler: int | HandlerFn = 200,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
    ) -> None:
        if callable(status_or_handler):
            route: Route = status_or_handler
        else:
            data = body.encode("utf-8") if isinstance(body, str) else body
            route = (status_or_handler, dict(headers or {}), data)
        with self._lock:
            self._routes[path] = route

    def route_many(self, routes: Mapping[str, Route]) -> None:
        for path, route in routes.items():
            if callable(route):
                self.route(path, route)
            else:
                self.route(path, *route)

    def _lookup(self, path: str) -> Route | None:
        with self._lock:
            if path in self._routes:
                return self._routes[path]
            return self._routes.get(urlsplit(path).path)

    # -- observations

    def _begin(self, record: Recorded) -> None:
        with self._lock:
            self.requests.append(record)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _end(self, record: Recorded) -> None:
        with self._lock:
            record.finished = time.monotonic()
            self._in_flight -= 1

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if urlsplit(r.path).path == path)

    def requests_for(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]


# --------------------------------------------------------------------------------------------
# Special behaviours


def drip(
    body: bytes, interval: float = 1.0, status: int = 200,
    headers: Mapping[str, str] | None = None, chunk: int = 1,
) -> HandlerFn:
    """Send the headers at once, then `chunk` bytes of `body` every `interval` seconds."""

    def handler(h: Handler) -> None:
        h.send_response_only(status)
        for name, value in {"Content-Type": "text/html", **dict(headers or {})}.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.flush()
        for start in range(0, len(body), chunk):
            if h.server_stopping.wait(interval):
                return
            h.send_raw(body[start:start + chunk])

    return handler


def hang(seconds: float = 60.0) -> HandlerFn:
    """Read the request, then say nothing for `seconds` (or until the server stops)."""

    def handler(h: Handler) -> None:
        h.server_stopping.wait(seconds)
        h.close_connection = True

    return handler


def slow(delay: float, status: int = 200, headers: Mapping[str, str] | None = None,
         body: bytes | str = b"") -> HandlerFn:
    """Wait `delay` seconds, then send a normal response."""

    def handler(h: Handler) -> None:
        if h.server_stopping.wait(delay):
            return
        h.respond(status, headers, body)

    return handler


def redirect(location: str, status: int = 302) -> HandlerFn:
    """A redirect to `location` (absolute, or relative to this server)."""

    def handler(h: Handler) -> None:
        h.respond(status, {"Location": location, "Content-Type": "text/plain"}, b"moved")

    return handler


def fetch_config(*servers: LoopbackServer, **overrides: object) -> FetchConfig:
    """A FetchConfig admitting `servers`, with timeouts short enough for tests and no politeness delay."""
    values: dict[str, object] = {
        "allow_private_addresses": [server.allowance for server in servers],
        "connect_timeout_seconds": 2.0,
        "read_timeout_seconds": 2.0,
        "total_timeout_seconds": 4.0,
        "per_host_delay_seconds": 0.0,
    }
    values.update(overrides)
    return FetchConfig.model_validate(values)
