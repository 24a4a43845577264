"""Guarded HTTP fetching: SSRF guard, size caps, deadlines, per-host politeness, robots.txt.

Everything the pipeline downloads (feeds, article pages, robots.txt) goes through one `Fetcher`,
which wraps ONE shared `httpx.Client` and may be used from many threads at once.

What the guard does, and where:

* **SSRF** -- `AddressPolicy` decides which IP address + port may be contacted. The check runs in a
  custom httpcore network backend (`_GuardedBackend.connect_tcp`): the host name is resolved once
  with `getaddrinfo`, every resolved address is checked, and the socket connects to exactly the
  address that was checked (no DNS-rebinding window between check and connect). TLS still uses the
  host name for SNI and certificate checks, because httpcore passes the origin host to `start_tls`.
  Redirects are followed by hand, each hop re-checked (scheme http/https only).
* **Size** -- bodies are read raw (`iter_raw`) and decompressed here with a bounded zlib
  `max_length`, so a gzip bomb costs at most the cap plus one network chunk of memory.
  (httpx's own decoder inflates each network chunk completely: 64 KB of gzip'd zeros become
  ~64 MB before the caller can count them.) Exceeding the cap raises `TooLarge`.
* **Time** -- connect/read timeouts from the config, plus a wall-clock deadline per request
  (`total_timeout_seconds`): every socket read and write gets `min(timeout, time left)`, so a
  server dripping one byte a second fails at the deadline instead of hanging the pass.
* **Politeness** -- at most `per_host_concurrency` requests in flight per host:port and at least
  `per_host_delay_seconds` between request starts to one host:port, shared by all threads.
* **robots.txt** -- `Fetcher.robots_allowed(url)`, cached per scheme+host for the Fetcher's
  lifetime, parsed with protego; RFC 9309: 4xx -> allow all, 5xx/unreachable -> disallow all.
  Callers apply it to article pages only (feeds are published to be polled).

Every error is a `FetchError` whose message names the URL and the reason.
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from protego import Protego

from extractors.urls import redact_url
from newswatch.config import AddressRule, FetchConfig, parse_address_allowance

__all__ = [
    "AddressPolicy",
    "BadContentType",
    "BlockedAddress",
    "FetchError",
    "FetchResponse",
    "FetchTimeout",
    "Fetcher",
    "HttpStatusError",
    "RobotsDisallowed",
    "TooLarge",
    "parse_retry_after",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Google's limit; RFC 9309 asks crawlers to parse at least 500 KiB.
ROBOTS_MAX_BYTES = 512 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ALLOWED_SCHEMES = frozenset({"http", "https"})


# --------------------------------------------------------------------------------------------
# Errors


class FetchError(Exception):
    """A URL could not be fetched; `str(error)` is `"<url>: <reason>"`."""

    def __init__(self, url: str, reason: str) -> None:
        url = redact_url(url)
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class BlockedAddress(FetchError):
    """Refused by the SSRF guard (address, port or scheme not allowed); no connection was made."""


class TooLarge(FetchError):
    """The (decompressed) body exceeded the size cap."""


class BadContentType(FetchError):
    """The response is not of a type the caller accepts (or uses an unsupported encoding)."""


class RobotsDisallowed(FetchError):
    """robots.txt disallows the URL for our user agent (or could not be fetched: RFC 9309)."""


class FetchTimeout(FetchError):
    """Connect, read or total (wall-clock) timeout."""


class HttpStatusError(FetchError):
    """A status that is neither 2xx nor 304 (redirects are followed, not raised)."""

    def __init__(
        self, url: str, status: int, retry_after_seconds: float | None = None, reason: str = ""
    ) -> None:
        text = reason or f"HTTP {status}"
        if retry_after_seconds is not None:
            text += f" (Retry-After {retry_after_seconds:g} s)"
        super().__init__(url, text)
        self.status = status
        self.retry_after_seconds = retry_after_seconds


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` -> seconds (>= 0)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


# --------------------------------------------------------------------------------------------
# Address policy (SSRF)

# Host names of cloud metadata services. Their addresses (169.254.169.254, fd00:ec2::254,
# 100.100.100.200, 192.0.0.192) are refused anyway; the names are refused even before DNS.
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_IETF_V4 = ipaddress.ip_network("192.0.0.0/24")  # incl. 192.0.0.192, Oracle Cloud metadata


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _classify(address: IPAddress) -> str | None:
    """Why an address is not a public unicast address, or None if it is one."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4-mapped or NAT64 address reaches the IPv4 address inside it: judge that one.
        inner = address.ipv4_mapped
        if inner is None and any(address in net for net in _NAT64):
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            reason = _classify(inner)
            return None if reason is None else f"IPv6 address embedding {inner}: {reason}"
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address.is_multicast:
        return "multicast address"
    if address.is_link_local:
        return "link-local address (cloud metadata lives here)"
    if isinstance(address, ipaddress.IPv4Address):
        if address in _CGNAT:
            return "shared/CGNAT address"
        if address in _IETF_V4:
            return "IETF protocol assignment (cloud metadata lives here)"
    if address.is_private:
        return "private address"
    if address.is_reserved:
        return "reserved address"
    if not address.is_global:
        return "not a globally routable address"
    if isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(address):  # 6to4, Teredo
            reason = _classify(inner)
            if reason is not None:
                return f"IPv6 address embedding {inner}: {reason}"
    return None


class AddressPolicy:
    """Which addresses may be contacted: public unicast ones, plus what the config admits.

    `allow` is `FetchConfig.allow_private_addresses`: False (public only), True (anything), or a
    list of `"ip"`, `"ip:port"`, `"cidr"`, `"[v6]:port"` entries admitted on top of public ones.
    """

    def __init__(self, allow: bool | list[str] = False) -> None:
        self.allow_all = allow is True
        self._rules: list[tuple[AddressRule, int | None]] = []
        if isinstance(allow, list):
            self._rules = [parse_address_allowance(entry) for entry in allow]

    @classmethod
    def from_config(cls, config: FetchConfig) -> AddressPolicy:
        return cls(config.allow_private_addresses)

    def _admitted(self, address: IPAddress, port: int | None) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        for network, rule_port in self._rules:
            if rule_port is not None and rule_port != port:
                continue
            if any(c.version == network.version and c in network for c in candidates):
                return True
        return False

    def refusal_reason(self, address: str | IPAddress, port: int | None = None) -> str | None:
        """None if `address`:`port` may be contacted, else why not."""
        if isinstance(address, str):
            address = ipaddress.ip_address(address.split("%", 1)[0])
        if self.allow_all or self._admitted(address, port):
            return None
        reason = _classify(address)
        if reason is None:
            return None
        where = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
        return f"{reason} {where if port is not None else address} is not allowed " \
            "(fetch.allow_private_addresses)"

    def is_allowed(self, address: str | IPAddress, port: int | None = None) -> bool:
        return self.refusal_reason(address, port) is None

    def hostname_refusal(self, host: str) -> str | None:
        """Refuse metadata host names before any DNS lookup (unless everything is allowed)."""
        if self.allow_all:
            return None
        if host.lower().rstrip(".") in METADATA_HOSTNAMES:
            return f"cloud metadata host {host!r} is not allowed"
        return None


# --------------------------------------------------------------------------------------------
# The network backend that enforces the policy and the per-request deadline


class _Refused(Exception):
    """Raised inside the transport; the Fetcher turns it into BlockedAddress(url, ...)."""


_local = threading.local()  # .deadline: monotonic time, set by the Fetcher around one request


def _bounded(timeout: float | None) -> float | None:
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("total deadline exceeded")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """Caps every read/write timeout by the time left before the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolve, check every address against the policy, connect to a checked address."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        reason = self.policy.hostname_refusal(host)
        if reason:
            raise _Refused(reason)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {error}") from None
        allowed: list[str] = []
        refusals: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            ip = str(sockaddr[0])
            why = self.policy.refusal_reason(ip, port)
            if why is None:
                if ip not in allowed:
                    allowed.append(ip)
            else:
                refusals.append(why)
        if not allowed:
            detail = refusals[0] if refusals else "no address"
            raise _Refused(f"{host} resolves to a refused address: {detail}")
        last_error: Exception | None = None
        for ip in allowed:  # connect to exactly the address that was checked
            try:
                stream = super().connect_tcp(
                    ip, port, _bounded(timeout), local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
                continue
            return _DeadlineStream(stream)
        assert last_error is not None
        raise last_error


class _GuardedTransport(httpx.HTTPTransport):
    """An HTTPTransport whose connection pool uses the guarded backend (no proxies, no env)."""

    def __init__(self, backend: _GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # HTTPTransport keeps its httpcore pool in `_pool`; rebuild it with our network backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )


# --------------------------------------------------------------------------------------------
# Bounded decompression


class _BoundedDecoder:
    """Content-Encoding decoder that never produces more than the caller's remaining budget + 1."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_deflate = False
        self._started = False
        self._obj = self._new()

    def _new(self) -> Any:
        if self.encoding == "identity":
            return None
        if self.encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def decode(self, data: bytes, budget: int) -> bytes:
        """Decode `data`; returns > `budget` bytes only to signal that the cap is exceeded."""
        if self._obj is None:
            return data
        limit = budget + 1  # zlib's max_length must be >= 1 (0 means "unlimited")
        try:
            out = self._obj.decompress(data, limit)
        except zlib.error:
            if self.encoding == "deflate" and not self._started:
                # "deflate" is sent both zlib-wrapped (correct) and raw (common); retry raw.
                self._raw_deflate = True
                self._obj = self._new()
                out = self._obj.decompress(data, limit)
            else:
                raise
        self._started = True
        # Concatenated gzip members: keep going while there is room.
        while self.encoding == "gzip" and self._obj.eof and self._obj.unused_data:
            rest = self._obj.unused_data
            if len(out) > budget:
                break
            self._obj = self._new()
            try:
                out += self._obj.decompress(rest, limit - len(out))
            except zlib.error:
                break  # trailing garbage after the last member: ignore, as browsers do
        return out


# --------------------------------------------------------------------------------------------
# Responses


@dataclass(slots=True)
class FetchResponse:
    url: str  # as requested
    final_url: str  # after redirects
    status: int  # 2xx or 304
    headers: httpx.Headers
    body: bytes  # decompressed; empty for 304
    content_type: str | None  # media type, lowercase, no parameters
    charset: str | None  # from the Content-Type header, if any


def _split_content_type(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    media, _, params = value.partition(";")
    media = media.strip().lower() or None
    charset = None
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip("\"'").strip() or None
    return media, charset


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return f"{host}:{port}"


# --------------------------------------------------------------------------------------------
# Politeness


class _HostGate:
    """Per-host concurrency cap and minimum spacing of request starts, shared across threads.

    The condition's lock is only held to read/update counters; waiting releases it, and it is
    never held during network I/O.
    """

    def __init__(self, concurrency: int, delay: float) -> None:
        self.concurrency = concurrency
        self.delay = delay
        self._cond = threading.Condition()
        self._in_flight: dict[str, int] = {}
        self._last_start: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._cond:
            while True:
                now = time.monotonic()
                busy = self._in_flight.get(host, 0) >= self.concurrency
                last = self._last_start.get(host)
                wait_for = 0.0 if last is None else last + self.delay - now
                if not busy and wait_for <= 0:
                    break
                self._cond.wait(timeout=None if busy else wait_for)
            self._in_flight[host] = self._in_flight.get(host, 0) + 1
            self._last_start[host] = now
        try:
            yield
        finally:
            with self._cond:
                self._in_flight[host] -= 1
                if not self._in_flight[host]:
                    del self._in_flight[host]
                self._cond.notify_all()


# --------------------------------------------------------------------------------------------
# robots.txt


@dataclass(slots=True, frozen=True)
class RobotsVerdict:
    allowed: bool
    reason: str  # e.g. "disallowed by robots.txt", "robots.txt unavailable (HTTP 503)"


class _RobotsRules:
    def __init__(self, parser: Protego | None, allow_all: bool, note: str) -> None:
        self.parser = parser
        self.allow_all = allow_all
        self.note = note
        self.lock = threading.Lock()  # protego caches matches in a dict; keep it single-threaded

    def check(self, url: str, agent: str) -> RobotsVerdict:
        if self.parser is None:
            return RobotsVerdict(self.allow_all, self.note)
        with self.lock:
            allowed = self.parser.can_fetch(url, agent)
        return RobotsVerdict(allowed, "allowed by robots.txt" if allowed else "disallowed by robots.txt")


def _product_token(user_agent: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9_-]+)", user_agent)
    return match.group(1) if match else user_agent


# --------------------------------------------------------------------------------------------
# The Fetcher


class Fetcher:
    """One guarded HTTP client for a whole pass; thread-safe; use as a context manager.

    >>> with Fetcher(settings.fetch) as fetcher:
    ...     response = fetcher.get(url, max_bytes=settings.fetch.max_page_bytes)
    """

    def __init__(self, config: FetchConfig) -> None:
        self.config = config
        self.policy = AddressPolicy.from_config(config)
        self._backend = _GuardedBackend(self.policy)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)
        self._client = httpx.Client(
            transport=_GuardedTransport(self._backend, limits),
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=config.connect_timeout_seconds,
                read=config.read_timeout_seconds,
                write=config.read_timeout_seconds,
                pool=config.total_timeout_seconds,
            ),
            headers={"User-Agent": config.user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        self._gate = _HostGate(config.per_host_concurrency, config.per_host_delay_seconds)
        self._robots: dict[str, _RobotsRules] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._robots_guard = threading.Lock()
        self._agent_token = _product_token(config.user_agent)

    # -- lifecycle

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- fetching

    def get(
        self,
        url: str,
        *,
        max_bytes: int,
        headers: Mapping[str, str] | None = None,
        accept: str = "*/*",
    ) -> FetchResponse:
        """GET `url`, following redirects by hand (each hop re-checked by the guard).

        Returns 2xx and 304 responses; raises `HttpStatusError` for other statuses and another
        `FetchError` subclass for everything else (refused, too large, timeouts, network).
        """
        request_headers = {"Accept": accept, **dict(headers or {})}
        current = url
        seen = {url}
        for _hop in range(self.config.max_redirects + 1):
            self._precheck(url, current)
            outcome = self._request_once(url, current, request_headers, max_bytes)
            if isinstance(outcome, FetchResponse):
                return outcome
            location = outcome
            nxt = urljoin(current, location.strip())
            if nxt in seen:
                raise FetchError(url, f"redirect loop ({redact_url(current)} -> {redact_url(nxt)})")
            seen.add(nxt)
            current = nxt
        raise FetchError(url, f"too many redirects (more than {self.config.max_redirects})")

    def _precheck(self, url: str, current: str) -> None:
        """Refuse bad schemes, metadata names and IP literals before queueing or connecting."""
        try:
            parts = urlsplit(current)
            port = parts.port
        except ValueError as error:
            raise FetchError(url, f"bad URL {redact_url(current)!r}: {error}") from None
        if parts.scheme.lower() not in _ALLOWED_SCHEMES:
            where = "" if current == url else f" (redirected to {redact_url(current)})"
            raise BlockedAddress(url, f"scheme {parts.scheme or '(none)'!r} is not allowed{where}")
        host = parts.hostname
        if not host:
            raise FetchError(url, f"no host in {redact_url(current)!r}")
        reason = self.policy.hostname_refusal(host)
        if reason is None:
            try:
                literal = ipaddress.ip_address(host.split("%", 1)[0])
            except ValueError:
                literal = None
            if literal is not None:
                port = port or (443 if parts.scheme.lower() == "https" else 80)
                reason = self.policy.refusal_reason(literal, port)
        if reason is not None:
            where = "" if current == url else f" (redirected to {redact_url(current)})"
            raise BlockedAddress(url, reason + where)

    def _request_once(
        self, url: str, current: str, headers: dict[str, str], max_bytes: int
    ) -> FetchResponse | str:
        """One request; returns the response, or the Location of a redirect."""
        total = self.config.total_timeout_seconds
        where = "" if current == url else f" (at {redact_url(current)})"
        try:
            request = self._client.build_request("GET", current, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, UnicodeError) as error:
            raise FetchError(url, f"bad URL {redact_url(current)!r}: {error}") from None
        with self._gate.slot(_host_key(current)):
            deadline = time.monotonic() + total
            _local.deadline = deadline
            try:
                response = self._client.send(request, stream=True)
                try:
                    return self._handle(url, current, response, max_bytes, deadline)
                finally:
                    response.close()
            except _Refused as error:
                raise BlockedAddress(url, f"{error}{where}") from None
            except httpx.TimeoutException as error:
                if time.monotonic() >= deadline - 0.01:
                    raise FetchTimeout(url, f"total timeout of {total:g} s exceeded{where}") from None
                kind = {
                    httpx.ConnectTimeout: "connect",
                    httpx.ReadTimeout: "read",
                    httpx.WriteTimeout: "write",
                    httpx.PoolTimeout: "connection pool",
                }.get(type(error), "network")
                raise FetchTimeout(url, f"{kind} timeout{where}") from None
            except httpx.HTTPError as error:
                detail = str(error) or type(error).__name__
                raise FetchError(url, f"{type(error).__name__}: {detail}{where}") from None
            except zlib.error as error:
                raise FetchError(url, f"corrupt compressed body: {error}{where}") from None
            except OSError as error:  # e.g. ssl errors surfacing outside httpcore's mapping
                raise FetchError(url, f"{type(error).__name__}: {error}{where}") from None
            finally:
                _local.deadline = None

    def _handle(
        self, url: str, current: str, response: httpx.Response, max_bytes: int, deadline: float
    ) -> FetchResponse | str:
        status = response.status_code
        if status in _REDIRECT_STATUSES:
            location = response.headers.get("location")
            if not location:
                raise HttpStatusError(url, status, reason=f"HTTP {status} redirect without Location")
            return location
        if status != 304 and not 200 <= status < 300:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise HttpStatusError(url, status, retry_after)
        body = b"" if status == 304 else self._read_body(url, response, max_bytes, deadline)
        content_type, charset = _split_content_type(response.headers.get("content-type"))
        return FetchResponse(
            url=url,
            final_url=current,
            status=status,
            headers=response.headers,
            body=body,
            content_type=content_type,
            charset=charset,
        )

    def _read_body(
        self, url: str, response: httpx.Response, max_bytes: int, deadline: float
    ) -> bytes:
        encodings = [
            e.strip().lower()
            for e in response.headers.get("content-encoding", "").split(",")
            if e.strip() and e.strip().lower() != "identity"
        ]
        encodings = ["gzip" if e == "x-gzip" else e for e in encodings]
        if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "deflate")):
            raise BadContentType(url, f"unsupported Content-Encoding {', '.join(encodings)!r}")
        encoding = encodings[0] if encodings else "identity"
        if encoding == "identity":
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise TooLarge(url, f"body of {int(length)} bytes exceeds the cap of {max_bytes}")
        decoder = _BoundedDecoder(encoding)
        chunks: list[bytes] = []
        size = 0
        for raw in response.iter_raw():
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("total deadline exceeded")
            data = decoder.decode(raw, max_bytes - size)
            size += len(data)
            if size > max_bytes:
                what = "decompressed body" if encoding != "identity" else "body"
                raise TooLarge(url, f"{what} exceeds the cap of {max_bytes} bytes")
            chunks.append(data)
        return b"".join(chunks)

    # -- robots.txt

    def robots_check(self, url: str) -> RobotsVerdict:
        """Whether robots.txt lets our user agent fetch `url`, with the reason.

        Raises `BlockedAddress` if the host itself is refused by the SSRF guard.
        """
        parts = urlsplit(url)
        key = f"{parts.scheme.lower()}://{_host_key(url)}"
        rules = self._robots.get(key)
        if rules is None:
            with self._robots_guard:
                lock = self._robots_locks.setdefault(key, threading.Lock())
            with lock:  # one download per host; other hosts are not held up
                rules = self._robots.get(key)
                if rules is None:
                    rules = self._load_robots(url, key)
                    self._robots[key] = rules
        return rules.check(url, self._agent_token)

    def robots_allowed(self, url: str) -> bool:
        """True if robots.txt (RFC 9309 semantics) lets our user agent fetch `url`."""
        return self.robots_check(url).allowed

    def ensure_robots_allowed(self, url: str) -> None:
        """Raise `RobotsDisallowed` (message: URL and reason) unless robots.txt allows `url`."""
        verdict = self.robots_check(url)
        if not verdict.allowed:
            raise RobotsDisallowed(url, verdict.reason)

    def _load_robots(self, url: str, key: str) -> _RobotsRules:
        robots_url = f"{urlsplit(url).scheme.lower()}://{urlsplit(url).netloc}/robots.txt"
        try:
            response = self.get(robots_url, max_bytes=ROBOTS_MAX_BYTES, accept="text/plain, */*;q=0.5")
        except TooLarge:
            # RFC 9309: parse at least the first 500 KiB. Rare enough to treat as "no rules".
            return _RobotsRules(None, True, "robots.txt too large: ignored")
        except HttpStatusError as error:
            if 400 <= error.status < 500 and error.status != 429:
                return _RobotsRules(None, True, f"no robots.txt (HTTP {error.status}): allowed")
            return _RobotsRules(
                None, False, f"robots.txt unavailable (HTTP {error.status}): treated as disallow-all"
            )
        except BlockedAddress as error:
            raise BlockedAddress(url, error.reason) from None
        except FetchError as error:
            return _RobotsRules(
                None, False, f"robots.txt unreachable ({error.reason}): treated as disallow-all"
            )
        text = response.body.decode("utf-8", errors="replace")
        try:
            parser = Protego.parse(text)
        except Exception as error:  # a parser bug must not stop the pass
            return _RobotsRules(None, True, f"robots.txt unparsable ({error}): ignored")
        return _RobotsRules(parser, True, "robots.txt")
