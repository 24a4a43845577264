"""newswatch.toml, validated at load.

Every problem is reported as one message naming the file and the key (`feeds[2].url: ...`), never
as a traceback in the middle of a run. Keys left out take the defaults documented in
docs/operations.md and in the comments below.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_SEED_CORPUS = PROJECT_ROOT / "corpus" / "seed"
DEFAULT_CONFIG_NAME = "newswatch.toml"
USER_AGENT = "newswatch/0.1 (news monitoring; +https://github.com/newswatch/newswatch)"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Prefect's own reference syntax for a Secret block, as in prefect.yaml.
_SECRET_REF = re.compile(r"\{\{\s*prefect\.blocks\.secret\.([A-Za-z0-9][A-Za-z0-9_-]*)\s*\}\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _checked_name(value: str) -> str:
    """Feed, topic and channel names appear in logs, keys and SQL: a safe, short alphabet."""
    if not _NAME.match(value):
        raise ValueError(f"{value!r}: use letters, digits, '-', '_' or '.' (at most 64)")
    return value


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class StorageConfig(_Section):
    path: Path = Path("data/newswatch.duckdb")
    # The analyst snapshot, atomically replaced after each pass; default: <path>.snapshot.duckdb
    snapshot_path: Path | None = None
    # How long a pass waits for another process (an analyst, a second pass) to release the file.
    lock_timeout_seconds: float = Field(default=10.0, ge=0, le=600)
    # DuckDB's memory limit for the pipeline's own connections; past it DuckDB spills to
    # <path>.tmp. With DuckDB's default (80% of RAM) one transaction of 15,000 article-sized rows
    # (~225 MB) raised the process by ~590 MB; at 256 MB by ~440 MB (docs/reliability.md, Load).
    memory_limit_mb: int = Field(default=256, ge=64, le=1_048_576)

    @property
    def resolved_snapshot_path(self) -> Path:
        if self.snapshot_path is not None:
            return self.snapshot_path
        return self.path.with_name(self.path.stem + ".snapshot" + self.path.suffix)


AddressRule = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchConfig(_Section):
    # false: only public addresses; true: anything; a list: public addresses plus these
    # ("127.0.0.1:8000", "127.0.0.1", "10.0.0.0/8", "[::1]:8080").
    allow_private_addresses: bool | list[str] = False
    user_agent: str = USER_AGENT
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    read_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    # Wall-clock cap on one request including the body, so a server dripping bytes cannot hold a pass.
    total_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_page_bytes: int = Field(default=5_000_000, gt=0)  # after decompression
    max_feed_bytes: int = Field(default=10_000_000, gt=0)  # after decompression
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_items_per_feed: int = Field(default=500, gt=0)
    per_host_delay_seconds: float = Field(default=1.0, ge=0, le=60)
    per_host_concurrency: int = Field(default=2, ge=1, le=64)
    feed_concurrency: int = Field(default=8, ge=1, le=256)
    respect_robots_txt: bool = True
    backoff_base_seconds: float = Field(default=300.0, ge=0)
    backoff_max_seconds: float = Field(default=6 * 3600.0, ge=0)
    # Extraction worker processes; default: one per core.
    extraction_workers: int | None = Field(default=None, ge=1, le=64)
    # Run extraction on the Dask cluster whose scheduler is here ("tcp://10.0.0.5:8786") instead of
    # in worker processes on this machine (extraction_workers is then not used); docs/scaling.md.
    dask_scheduler: str | None = None
    # The C allocator the extraction workers preload: "auto" (jemalloc if the machine has it, else
    # the C library's), "system" (the C library's malloc) or the path of an allocator library.
    # extractors/allocator.py says why: ~15% less CPU a page with jemalloc.
    extraction_allocator: str = "auto"

    @field_validator("extraction_allocator")
    @classmethod
    def _check_allocator(cls, value: str) -> str:
        if value in ("auto", "system"):
            return value
        path = Path(value).expanduser()
        if not path.is_file():
            raise ValueError(f'{value!r} is not "auto", "system" or the path of an allocator library (no such file)')
        return str(path)

    @field_validator("dask_scheduler")
    @classmethod
    def _check_dask_scheduler(cls, value: str | None) -> str | None:
        return None if value is None else check_dask_scheduler_address(value)

    @field_validator("allow_private_addresses")
    @classmethod
    def _check_allowances(cls, value: bool | list[str]) -> bool | list[str]:
        if isinstance(value, list):
            for entry in value:
                parse_address_allowance(entry)  # raises ValueError naming the entry
        return value


def parse_address_allowance(entry: str) -> tuple[AddressRule, int | None]:
    """`"127.0.0.1:8000"` -> (127.0.0.1/32, 8000); `"10.0.0.0/8"` -> (10.0.0.0/8, None)."""
    text = entry.strip()
    port: int | None = None
    host = text
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _parse_port(rest[1:], entry)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _parse_port(port_text, entry)
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        raise ValueError(
            f"{entry!r} is not an IP address, network or address:port (hostnames are not "
            "accepted: the guard checks the address a name resolves to)"
        ) from None
    return network, port


def check_dask_scheduler_address(value: str) -> str:
    """`tcp://host:port` or `tls://host:port` (the scheme Dask's `dask scheduler` prints)."""
    text = value.strip()
    expected = "expected tcp://HOST:PORT or tls://HOST:PORT, as `dask scheduler` prints it"
    if "://" not in text:
        raise ValueError(f"{value!r} is not a Dask scheduler address ({expected})")
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme not in ("tcp", "tls")
        or not parts.hostname
        or port is None
        or port == 0
        or parts.path not in ("", "/")
        or parts.query
        or parts.username
    ):
        raise ValueError(f"{value!r} is not a Dask scheduler address ({expected})")
    return text.rstrip("/")


def _parse_port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: bad port {text!r}")
    return int(text)


class CorpusConfig(_Section):
    # Folder of plain-text seed articles (first line: title); default: the bundled corpus/seed.
    seed_path: Path = BUNDLED_SEED_CORPUS


class NoveltyConfig(_Section):
    """How a matched article is diffed against the corpus (docs/novelty.md explains each knob).
    The defaults were chosen on the labelled evaluation set in tests/novelty_eval (`make eval`)."""

    # The corpus: the seed plus articles published (or stored) in the last `lookback_days`.
    lookback_days: float = Field(default=30, gt=0)
    # Estimated Jaccard similarity of wording (MinHash of word 3-grams) above which an earlier
    # article is the same text: a syndicated copy or a republication.
    duplicate_similarity: float = Field(default=0.5, gt=0, le=1)
    # A sentence is known when one corpus sentence covers this share of its content terms
    # (weighted by rarity); below it the sentence is new.
    known_sentence_similarity: float = Field(default=0.6, gt=0, le=1)
    # Share of an article's content (weighted) found nearly verbatim in one earlier article that
    # makes it a republication even when the whole texts differ in length.
    verbatim_share: float = Field(default=0.8, gt=0, le=1)
    # Sentences an article must share with an earlier one to belong to the same story, and the
    # share of its content they must carry (so an agency's boilerplate lines do not make a story).
    story_shared_sentences: int = Field(default=2, ge=1)
    story_shared_share: float = Field(default=0.15, ge=0, le=1)
    # New facts (numbers, names, quotes) that make an article a development.
    min_new_facts: int = Field(default=1, ge=1)
    # Share of the article's content (weighted) that must be new besides the facts.
    min_novel_share: float = Field(default=0.1, ge=0, le=1)


class FeedConfig(_Section):
    name: str
    url: str
    language: str | None = None  # declared language, a tie-breaker for language detection
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _checked_name(value)


class TopicConfig(_Section):
    id: str
    name: str
    query: str
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    description: str | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return _checked_name(value)

    @field_validator("query")
    @classmethod
    def _check_query(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is empty")
        # The grammar lives with the matcher; validating here reports a bad query at load time
        # as `topics[2].query: position 17: expected ...`, not in the middle of a pass.
        from matching.query import validate_query

        return validate_query(value)

    @field_validator("aliases")
    @classmethod
    def _check_aliases(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from matching.query import validate_aliases

        return validate_aliases(value)


class ChannelConfig(_Section):
    """Where alerts go (docs/alerts.md): any Apprise URL, the topics it gets and how it is paced."""

    name: str
    url: str  # any Apprise URL; ${ENV_VAR} and {{ prefect.blocks.secret.NAME }} are expanded at load
    topics: list[str] | None = None  # default: all topics; [] for none (an operator-only channel)
    # "immediate": one message per development; "digest": one message per interval listing them.
    mode: Literal["immediate", "digest"] = "immediate"
    # A digest goes out at most once per interval, at the first pass after it is due. Immediate
    # channels use it for the overflow of `max_alerts_per_pass`.
    digest_interval_minutes: float = Field(default=60, gt=0, le=7 * 24 * 60)
    # Immediate alerts per pass at most; the rest wait for the channel's next digest, so a burst
    # (a new feed, a big news day) cannot flood a desk.
    max_alerts_per_pass: int = Field(default=10, ge=0, le=1000)
    # Feed health alerts (a feed failing pass after pass, and its recovery) go to operator channels.
    operator: bool = False
    # Pause between two sends to this channel; default: Apprise's own for the service (5.5 s for
    # email, 1.2 s for Slack, none for webhooks).
    min_send_interval_seconds: float | None = Field(default=None, ge=0, le=60)
    # Values the URL was expanded from (environment variables, secret blocks): redacted in every
    # error and log line that mentions the channel. Set at load, never read from the file.
    _secrets: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not _ENV_REF.search(value) and not _SECRET_REF.search(value):  # checked after expansion
            _check_apprise_url(value)
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _checked_name(value)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def routes(self, topic_id: str) -> bool:
        return self.topics is None or topic_id in self.topics

    def __repr__(self) -> str:  # channel URLs carry secrets: never print them
        return f"ChannelConfig(name={self.name!r}, topics={self.topics!r}, mode={self.mode!r})"

    __str__ = __repr__


class AlertsConfig(_Section):
    """The outbox and what alerts at all (docs/alerts.md)."""

    # Only articles published (or, without a date, first fetched) this recently alert; older ones
    # are stored and diffed but never alerted, so adding a feed does not send last month's news.
    max_age_hours: float = Field(default=72, gt=0)
    # A failed send is retried on later passes after retry_base_seconds, doubling up to
    # retry_max_seconds; after max_attempts it is dead (`newswatch alerts list --failed`).
    max_attempts: int = Field(default=10, ge=1, le=100)
    retry_base_seconds: float = Field(default=60, ge=0)
    retry_max_seconds: float = Field(default=3600, ge=0)
    # A feed failing this many passes in a row produces one alert to the operator channels.
    health_after_failures: int = Field(default=3, ge=1, le=1000)


class ScheduleConfig(_Section):
    """How `newswatch serve` schedules the deployments (prefect.yaml carries the same defaults)."""

    # A pass every this many minutes; a run that would overlap the previous one is cancelled.
    monitor_interval_minutes: float = Field(default=10, gt=0, le=24 * 60)
    # Due digests and retries between passes (a digest channel's interval is only as exact as this).
    dispatch_interval_minutes: float = Field(default=5, gt=0, le=24 * 60)
    timezone: str = "Europe/Berlin"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value


def _check_apprise_url(value: str) -> None:
    # The message never repeats the value: channel URLs carry webhook tokens and passwords.
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://.", value):
        raise ValueError("not an Apprise URL (expected scheme://...)")


class Settings(_Section):
    storage: StorageConfig = StorageConfig()
    fetch: FetchConfig = FetchConfig()
    corpus: CorpusConfig = CorpusConfig()
    novelty: NoveltyConfig = NoveltyConfig()
    alerts: AlertsConfig = AlertsConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    feeds: list[FeedConfig] = Field(default_factory=list)
    topics: list[TopicConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    # Where the config was read from; relative paths in it are resolved against its folder.
    source: Annotated[Path | None, Field(exclude=True)] = None

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        _require_unique([f.name for f in self.feeds], "feeds", "name")
        _require_unique([t.id for t in self.topics], "topics", "id")
        _require_unique([c.name for c in self.channels], "channels", "name")
        topic_ids = {t.id for t in self.topics}
        for index, channel in enumerate(self.channels):
            for topic in channel.topics or []:
                if topic not in topic_ids:
                    raise ValueError(
                        f"channels[{index}].topics: unknown topic {topic!r} "
                        f"(known: {', '.join(sorted(topic_ids)) or 'none'})"
                    )
        return self

    @property
    def enabled_feeds(self) -> list[FeedConfig]:
        return [feed for feed in self.feeds if feed.enabled]


def _require_unique(values: list[str], section: str, key: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise ValueError(f"{section}[{index}].{key}: {value!r} is used twice")
        seen.add(value)


SecretResolver = Callable[[str], str]  # name of a Prefect Secret block -> its value


def _expand_references(value: str, where: str, resolve_secret: SecretResolver | None) -> tuple[str, list[str]]:
    """Expand ${VAR} and {{ prefect.blocks.secret.NAME }}; returns the value and what was put in
    (to redact later). A missing one is an error naming the key and the reference, never a value."""
    secrets: list[str] = []

    def environment(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        secrets.append(os.environ[name])
        return os.environ[name]

    def secret_block(match: re.Match[str]) -> str:
        name = match.group(1)
        if resolve_secret is None:
            raise ConfigError(f"{where}: the Prefect Secret block {name!r} can only be read when running under Prefect")
        try:
            secret = resolve_secret(name)
        except Exception as error:  # noqa: BLE001 - any failure is reported as the config's problem
            raise ConfigError(f"{where}: cannot read the Prefect Secret block {name!r} ({type(error).__name__})") from None
        secrets.append(secret)
        return secret

    expanded = _SECRET_REF.sub(secret_block, _ENV_REF.sub(environment, value))
    return expanded, [s for s in secrets if s]


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        location = ""
        for part in item["loc"]:
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see docs/operations.md for the keys)"
        elif item["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{source}: {location or 'top level'}: {message}")
    return "\n".join(lines)


def settings_from_dict(
    data: dict[str, Any],
    source: str = "config",
    resolve_secret: SecretResolver | None = None,
    *,
    expand_secrets: bool = True,
) -> Settings:
    """Validate already-parsed config data (tests and the demo build configs in code).
    `expand_secrets=False`: channel URLs stay as written, for commands that send nothing (an
    analyst's shell need not have the desks' webhook tokens)."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None
    if not expand_secrets:
        return settings
    # Secrets are expanded only after the structure is valid, so every structural problem is
    # reported at once and no expanded secret ever reaches a validation message.
    channels = []
    for index, channel in enumerate(settings.channels):
        where = f"{source}: channels[{index}].url"
        url, secrets = _expand_references(channel.url, where, resolve_secret)
        try:
            _check_apprise_url(url)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
        expanded = channel.model_copy(update={"url": url})
        expanded._secrets = tuple(secrets)
        channels.append(expanded)
    return settings.model_copy(update={"channels": channels})


def load_settings(
    path: str | Path, resolve_secret: SecretResolver | None = None, *, expand_secrets: bool = True
) -> Settings:
    """Read and validate a newswatch.toml; relative paths in it are resolved against its folder.
    `resolve_secret` reads Prefect Secret blocks (flows/ passes one; this module has no Prefect);
    `expand_secrets=False` leaves channel URLs unexpanded (see settings_from_dict)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file ({error.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    base = path.resolve().parent
    data = _allocator_resolved(data, base)
    settings = settings_from_dict(data, str(path), resolve_secret, expand_secrets=expand_secrets)
    return _resolve_paths(settings, base).model_copy(update={"source": path})


def _allocator_resolved(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """A relative `fetch.extraction_allocator` path is the config folder's, like the other paths.
    Resolved before validation (unlike them), because validation checks that the library exists."""
    fetch = data.get("fetch")
    value = fetch.get("extraction_allocator") if isinstance(fetch, dict) else None
    if not isinstance(value, str) or value in ("auto", "system") or Path(value).expanduser().is_absolute():
        return data
    return {**data, "fetch": {**fetch, "extraction_allocator": str(base / value)}}


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def resolve(p: Path | None) -> Path | None:
        if p is None or p.is_absolute():
            return p
        return base / p

    storage = settings.storage.model_copy(
        update={
            "path": resolve(settings.storage.path),
            "snapshot_path": resolve(settings.storage.snapshot_path),
        }
    )
    corpus = settings.corpus
    if settings.corpus.seed_path != BUNDLED_SEED_CORPUS:
        corpus = corpus.model_copy(update={"seed_path": resolve(settings.corpus.seed_path)})
    return settings.model_copy(update={"storage": storage, "corpus": corpus})
