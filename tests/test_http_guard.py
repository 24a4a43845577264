"""The guarded Fetcher against real loopback servers: SSRF, redirects, limits, time, politeness."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from loopback import Handler, LoopbackServer, drip, fetch_config, hang, redirect, slow

from extractors.http import (
    AddressPolicy,
    BlockedAddress,
    Fetcher,
    FetchError,
    FetchTimeout,
    HttpStatusError,
    TooLarge,
    parse_retry_after,
)
from newswatch.config import FetchConfig

HTML = {"Content-Type": "text/html; charset=utf-8"}


def config_for(*servers: LoopbackServer, **overrides: object) -> FetchConfig:
    return fetch_config(*servers, **{"total_timeout_seconds": 5.0, "per_host_concurrency": 4, **overrides})


@pytest.fixture
def connect_spy(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address any socket in this process tries to connect to."""
    seen: list[object] = []
    original = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        seen.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


# --------------------------------------------------------------------------------------------
# AddressPolicy


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.100.100.200", "192.0.0.192",
        "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
        "64:ff9b::a00:1", "2002:a00:1::1",
    ],
)
def test_policy_refuses_non_public_addresses_by_default(address: str) -> None:
    policy = AddressPolicy(False)
    reason = policy.refusal_reason(address, 80)
    assert reason is not None and "not allowed" in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_policy_admits_public_addresses(address: str) -> None:
    assert AddressPolicy(False).is_allowed(address, 443)


def test_policy_allowances_by_address_port_and_network() -> None:
    policy = AddressPolicy(["127.0.0.1:8000", "10.0.0.0/8", "[::1]:9000"])
    assert policy.is_allowed("127.0.0.1", 8000)
    assert policy.is_allowed("::ffff:127.0.0.1", 8000)  # the mapped form reaches the same socket
    assert not policy.is_allowed("127.0.0.1", 8001)
    assert policy.is_allowed("10.20.30.40", 22)
    assert policy.is_allowed("::1", 9000)
    assert not policy.is_allowed("::1", 9001)
    assert not policy.is_allowed("169.254.169.254", 80)
    assert AddressPolicy(True).is_allowed("169.254.169.254", 80)
    assert AddressPolicy(False).hostname_refusal("metadata.google.internal.") is not None
    assert AddressPolicy(True).hostname_refusal("metadata.google.internal") is None


# --------------------------------------------------------------------------------------------
# SSRF through the Fetcher


def test_loopback_refused_by_default_and_server_sees_nothing(loopback: LoopbackServer) -> None:
    loopback.route("/", 200, HTML, "<html>secret</html>")
    with Fetcher(FetchConfig()) as fetcher:
        with pytest.raises(BlockedAddress) as error:
            fetcher.get(loopback.url("/"), max_bytes=1000)
    assert loopback.url("/") in str(error.value) and "loopback" in str(error.value)
    assert loopback.hits("/") == 0


def test_private_address_refused_before_any_connection(connect_spy: list[object]) -> None:
    started = time.monotonic()
    with Fetcher(FetchConfig(connect_timeout_seconds=5)) as fetcher:
        for url in ("http://10.0.0.1/", "http://10.0.0.1:8080/admin", "https://10.255.0.3/x"):
            with pytest.raises(BlockedAddress, match="private address"):
                fetcher.get(url, max_bytes=1000)
    assert time.monotonic() - started < 1.0  # no connect attempt, no timeout waited out
    assert not [a for a in connect_spy if isinstance(a, tuple) and str(a[0]).startswith("10.")]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
    ],
)
def test_metadata_endpoints_refused(url: str, connect_spy: list[object]) -> None:
    with Fetcher(FetchConfig()) as fetcher:
        with pytest.raises(BlockedAddress):
            fetcher.get(url, max_bytes=1000)
    assert connect_spy == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://127.0.0.1:70/"])
def test_non_http_schemes_refused(url: str) -> None:
    with Fetcher(FetchConfig(allow_private_addresses=True)) as fetcher:
        with pytest.raises(BlockedAddress, match="scheme"):
            fetcher.get(url, max_bytes=1000)


def test_names_and_spellings_that_resolve_to_loopback_are_checked_after_resolution(
    loopback: LoopbackServer,
) -> None:
    loopback.route("/", 200, HTML, "<html>ok</html>")
    port = loopback.port
    spellings = [
        f"http://localhost:{port}/",
        f"http://2130706433:{port}/",  # decimal 127.0.0.1
        f"http://0x7f.1:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
    ]
    with Fetcher(config_for()) as fetcher:  # nothing admitted
        for url in spellings:
            with pytest.raises(BlockedAddress):
                fetcher.get(url, max_bytes=1000)
    assert loopback.hits("/") == 0
    with Fetcher(config_for(loopback)) as fetcher:  # 127.0.0.1:<port> admitted
        assert fetcher.get(f"http://localhost:{port}/", max_bytes=1000).body == b"<html>ok</html>"
        assert fetcher.get(f"http://2130706433:{port}/", max_bytes=1000).status == 200


def test_allowance_is_per_port(loopback_factory) -> None:
    allowed, other = loopback_factory(), loopback_factory()
    other.route("/", 200, HTML, "<html>other</html>")
    with Fetcher(config_for(allowed)) as fetcher:
        with pytest.raises(BlockedAddress, match=str(other.port)):
            fetcher.get(other.url("/"), max_bytes=1000)
    assert other.hits("/") == 0


def test_proxy_environment_is_ignored(loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    loopback.route("/", 200, HTML, "<html>direct</html>")
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.0.0.1:3128")
    with Fetcher(config_for(loopback, user_agent="newswatch-test/1.0")) as fetcher:
        assert fetcher.get(loopback.url("/"), max_bytes=1000).body == b"<html>direct</html>"
    assert loopback.requests[0].headers["user-agent"] == "newswatch-test/1.0"


# --------------------------------------------------------------------------------------------
# Redirects


def test_redirect_followed_and_relative_location_resolved(loopback: LoopbackServer) -> None:
    loopback.route("/old", redirect("/new", 301))
    loopback.route("/new", 200, HTML, "<html>new</html>")
    with Fetcher(config_for(loopback)) as fetcher:
        response = fetcher.get(loopback.url("/old"), max_bytes=1000)
    assert response.url == loopback.url("/old")
    assert response.final_url == loopback.url("/new")
    assert response.body == b"<html>new</html>"


def test_redirect_loop(loopback: LoopbackServer) -> None:
    loopback.route("/a", redirect("/b"))
    loopback.route("/b", redirect("/a"))
    with Fetcher(config_for(loopback)) as fetcher:
        with pytest.raises(FetchError, match="redirect loop"):
            fetcher.get(loopback.url("/a"), max_bytes=1000)
    assert loopback.hits("/a") == 1 and loopback.hits("/b") == 1


def test_too_many_redirects(loopback: LoopbackServer) -> None:
    for i in range(10):
        loopback.route(f"/r{i}", redirect(f"/r{i + 1}", 307))
    with Fetcher(config_for(loopback, max_redirects=3)) as fetcher:
        with pytest.raises(FetchError, match="too many redirects"):
            fetcher.get(loopback.url("/r0"), max_bytes=1000)
    assert loopback.hits("/r4") == 0


def test_redirect_from_allowed_port_to_refused_port(loopback_factory) -> None:
    allowed, refused = loopback_factory(), loopback_factory()
    refused.route("/internal", 200, HTML, "<html>internal</html>")
    allowed.route("/go", redirect(refused.url("/internal")))
    with Fetcher(config_for(allowed)) as fetcher:
        with pytest.raises(BlockedAddress) as error:
            fetcher.get(allowed.url("/go"), max_bytes=1000)
    assert allowed.url("/go") in str(error.value)
    assert "redirected to" in str(error.value)
    assert refused.hits("/internal") == 0


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"]
)
def test_redirect_to_forbidden_targets(loopback: LoopbackServer, target: str) -> None:
    loopback.route("/go", redirect(target))
    with Fetcher(config_for(loopback)) as fetcher:
        with pytest.raises(BlockedAddress):
            fetcher.get(loopback.url("/go"), max_bytes=1000)


# --------------------------------------------------------------------------------------------
# Statuses


def test_error_statuses_raise_with_url_and_status(loopback: LoopbackServer) -> None:
    loopback.route("/missing", 404)
    loopback.route("/broken", 500)
    with Fetcher(config_for(loopback)) as fetcher:
        with pytest.raises(HttpStatusError) as error:
            fetcher.get(loopback.url("/missing"), max_bytes=1000)
        assert error.value.status == 404
        assert str(error.value) == f"{loopback.url('/missing')}: HTTP 404"
        with pytest.raises(HttpStatusError) as error:
            fetcher.get(loopback.url("/broken"), max_bytes=1000)
        assert error.value.status == 500 and error.value.retry_after_seconds is None


def test_retry_after_in_both_forms(loopback: LoopbackServer) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    loopback.route("/seconds", 429, {"Retry-After": "120"})
    loopback.route("/date", 503, {"Retry-After": later})
    with Fetcher(config_for(loopback)) as fetcher:
        with pytest.raises(HttpStatusError) as error:
            fetcher.get(loopback.url("/seconds"), max_bytes=1000)
        assert error.value.status == 429 and error.value.retry_after_seconds == 120
        with pytest.raises(HttpStatusError) as error:
            fetcher.get(loopback.url("/date"), max_bytes=1000)
        assert error.value.status == 503
        assert error.value.retry_after_seconds == pytest.approx(7200, abs=5)


def test_parse_retry_after() -> None:
    now = datetime(2025, 11, 3, 12, 0, tzinfo=UTC)
    assert parse_retry_after("0") == 0
    assert parse_retry_after("Mon, 03 Nov 2025 12:10:00 GMT", now) == 600
    assert parse_retry_after("Mon, 03 Nov 2025 11:00:00 GMT", now) == 0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_304_is_returned_not_raised(loopback: LoopbackServer) -> None:
    loopback.route("/feed", 304, {"ETag": '"v1"'})
    with Fetcher(config_for(loopback)) as fetcher:
        response = fetcher.get(loopback.url("/feed"), max_bytes=1000, headers={"If-None-Match": '"v1"'})
    assert response.status == 304 and response.body == b""
    assert loopback.requests[0].headers["if-none-match"] == '"v1"'


# --------------------------------------------------------------------------------------------
# Time


def test_read_timeout(loopback: LoopbackServer) -> None:
    loopback.route("/hang", hang())
    started = time.monotonic()
    with Fetcher(config_for(loopback, read_timeout_seconds=0.5)) as fetcher:
        with pytest.raises(FetchTimeout, match="read timeout"):
            fetcher.get(loopback.url("/hang"), max_bytes=1000)
    assert time.monotonic() - started < 2.0


def test_dripping_server_fails_at_the_total_deadline(loopback: LoopbackServer) -> None:
    # One byte a second never trips the 3 s read timeout; only the 2 s wall-clock deadline can.
    loopback.route("/drip", drip(b"<html>" + b"x" * 100 + b"</html>", interval=1.0))
    config = config_for(loopback, read_timeout_seconds=3.0, total_timeout_seconds=2.0)
    started = time.monotonic()
    with Fetcher(config) as fetcher:
        with pytest.raises(FetchTimeout, match="total timeout of 2 s"):
            fetcher.get(loopback.url("/drip"), max_bytes=10_000)
    assert 1.8 < time.monotonic() - started < 3.0


def test_slow_headers_fail_at_the_total_deadline(loopback: LoopbackServer) -> None:
    def trickle_headers(h: Handler) -> None:
        h.send_raw(b"HTTP/1.1 200 OK\r\n")
        for i in range(20):
            if h.server_stopping.wait(0.4):
                return
            h.send_raw(f"X-Pad-{i}: a\r\n".encode())

    loopback.route("/trickle", trickle_headers)
    started = time.monotonic()
    with Fetcher(config_for(loopback, read_timeout_seconds=2.0, total_timeout_seconds=1.0)) as fetcher:
        with pytest.raises(FetchTimeout):
            fetcher.get(loopback.url("/trickle"), max_bytes=10_000)
    assert time.monotonic() - started < 2.0


# --------------------------------------------------------------------------------------------
# Size


def test_huge_page_with_content_length_refused_before_reading(loopback: LoopbackServer) -> None:
    loopback.route("/huge", 200, HTML, b"x" * 6_000_000)
    with Fetcher(config_for(loopback)) as fetcher:
        with pytest.raises(TooLarge, match="5000000"):
            fetcher.get(loopback.url("/huge"), max_bytes=5_000_000)


def test_huge_chunked_page_refused_while_streaming(loopback: LoopbackServer) -> None:
    def endless(h: Handler) -> None:
        h.send_response_only(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        block = b"y" * 65536
        for _ in range(200):  # 13 MB if nobody hangs up
            h.send_raw(b"%x\r\n%s\r\n" % (len(block), block))
        h.send_raw(b"0\r\n\r\n")

    loopback.route("/endless", endless)
    with Fetcher(config_for(loopback)) as fetcher:
        with pytest.raises(TooLarge, match="exceeds the cap of 1000000"):
            fetcher.get(loopback.url("/endless"), max_bytes=1_000_000)


def _gzip_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


def test_gzip_bomb_refused_without_inflating_it(loopback: LoopbackServer) -> None:
    bomb = _gzip_of_zeros(50 << 20)  # 50 MB of zeros -> ~50 KB on the wire
    assert len(bomb) < 200_000
    loopback.route("/bomb", 200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, bomb)
    with Fetcher(config_for(loopback)) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(TooLarge, match="decompressed body exceeds"):
                fetcher.get(loopback.url("/bomb"), max_bytes=5_000_000)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 15_000_000, f"peak {peak / 1e6:.1f} MB while refusing a 5 MB cap"


@pytest.mark.parametrize("encoding", ["gzip", "deflate-zlib", "deflate-raw"])
def test_compressed_bodies_are_decoded(loopback: LoopbackServer, encoding: str) -> None:
    page = "<html><body>Größe und Maß</body></html>".encode() * 50
    if encoding == "gzip":
        data, header = gzip.compress(page), "gzip"
    elif encoding == "deflate-zlib":
        data, header = zlib.compress(page), "deflate"
    else:
        raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data, header = raw.compress(page) + raw.flush(), "deflate"
    loopback.route("/z", 200, {**HTML, "Content-Encoding": header}, data)
    with Fetcher(config_for(loopback)) as fetcher:
        assert fetcher.get(loopback.url("/z"), max_bytes=100_000).body == page
    assert "gzip" in loopback.requests[0].headers["accept-encoding"]


# --------------------------------------------------------------------------------------------
# Politeness


def test_per_host_delay_and_concurrency(loopback: LoopbackServer) -> None:
    loopback.route("/page", slow(0.4, 200, HTML, "<html>ok</html>"))
    config = config_for(loopback, per_host_delay_seconds=0.25, per_host_concurrency=2)
    with Fetcher(config) as fetcher, ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: fetcher.get(loopback.url(f"/page?i={i}"), max_bytes=1000), range(6)))
    assert all(r.status == 200 for r in results)
    starts = sorted(r.started for r in loopback.requests)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # The server sees a request once its connection is up, so a fresh connection's setup can shift one
    # observed start a little later than the client sent it; without the delay the gap would be ~0.
    assert min(gaps) >= 0.25 * 0.8, gaps
    assert sum(gaps) / len(gaps) >= 0.25 - 0.01, gaps
    assert loopback.max_in_flight <= 2
    assert loopback.max_in_flight == 2  # the cap, not serialisation, is what limited it


def test_a_stuck_host_does_not_hold_up_other_hosts(loopback_factory) -> None:
    stuck, fine = loopback_factory(), loopback_factory()
    stuck.route("/hang", hang())
    fine.route("/ok", 200, HTML, "<html>ok</html>")
    config = config_for(stuck, fine, read_timeout_seconds=1.5, per_host_concurrency=1)
    with Fetcher(config) as fetcher:
        blocker = threading.Thread(
            target=lambda: pytest.raises(FetchError, fetcher.get, stuck.url("/hang"), max_bytes=10)
        )
        blocker.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert fetcher.get(fine.url("/ok"), max_bytes=1000).status == 200
        assert time.monotonic() - started < 0.5
        blocker.join()


# --------------------------------------------------------------------------------------------
# robots.txt (policy of the Fetcher; its use for pages is in test_pages.py)


def test_robots_rules_cached_per_host(loopback: LoopbackServer) -> None:
    loopback.route("/robots.txt", 200, {"Content-Type": "text/plain"},
                   "User-agent: *\nDisallow: /private\n\nUser-agent: newswatch\nDisallow: /no-bots\n")
    with Fetcher(config_for(loopback)) as fetcher:
        assert fetcher.robots_allowed(loopback.url("/news/1"))
        assert not fetcher.robots_allowed(loopback.url("/no-bots/1"))  # our own group applies
        assert fetcher.robots_allowed(loopback.url("/private/1"))  # "*" group does not
        assert fetcher.robots_check(loopback.url("/no-bots/2")).reason == "disallowed by robots.txt"
    assert loopback.hits("/robots.txt") == 1


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (410, True), (401, True),
                                                (500, False), (503, False), (429, False)])
def test_robots_status_handling_rfc9309(loopback: LoopbackServer, status: int, allowed: bool) -> None:
    loopback.route("/robots.txt", status)
    with Fetcher(config_for(loopback)) as fetcher:
        assert fetcher.robots_allowed(loopback.url("/article")) is allowed


def test_robots_unreachable_means_disallow(loopback: LoopbackServer) -> None:
    loopback.route("/robots.txt", hang())
    with Fetcher(config_for(loopback, read_timeout_seconds=0.3)) as fetcher:
        verdict = fetcher.robots_check(loopback.url("/article"))
    assert not verdict.allowed and "unreachable" in verdict.reason


def test_credentials_in_urls_never_reach_messages(loopback: LoopbackServer) -> None:
    loopback.route("/go", redirect("http://admin:hunter2@10.0.0.1/internal"))
    with Fetcher(config_for(loopback)) as fetcher:
        with pytest.raises(BlockedAddress) as refused:
            fetcher.get("http://bob:s3cret@10.0.0.1/x", max_bytes=10)
        with pytest.raises(BlockedAddress) as redirected:
            fetcher.get(loopback.url("/go"), max_bytes=10)
    assert "s3cret" not in str(refused.value) and "***@10.0.0.1" in str(refused.value)
    assert "hunter2" not in str(redirected.value) and "redirected to" in str(redirected.value)
