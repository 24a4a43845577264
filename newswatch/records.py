"""Domain records passed between stages.

Field names match the DuckDB columns of the same name (see storage/schema.py), so a record is
written with one INSERT and an analyst reads the same vocabulary in SQL and in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

FeedStatus = Literal["ok", "not_modified", "failed", "backoff"]
# Where an article's text came from: the fetched page, the feed's own summary (page unusable),
# or the bundled seed corpus.
TextSource = Literal["page", "feed_summary", "seed"]


@dataclass(slots=True)
class FeedItem:
    """One entry of a polled feed, before its page is fetched."""

    feed_name: str
    url: str
    url_key: str  # normalised URL used for dedupe (extractors.urls.url_key)
    guid: str | None = None
    title: str | None = None
    summary: str | None = None  # plain text, markup removed
    author: str | None = None
    published_at: datetime | None = None  # UTC
    feed_language: str | None = None  # the feed's declared language, e.g. "de"


@dataclass(slots=True)
class FeedState:
    """Health and conditional-GET state of one feed; one row of the `feeds` table."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: str | None = None  # FeedStatus of the last poll
    last_http_status: int | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    next_poll_at: datetime | None = None  # backoff: not polled before this time
    items_seen: int = 0


@dataclass(slots=True)
class FeedPoll:
    """Outcome of polling one feed once."""

    feed_name: str
    status: FeedStatus
    state: FeedState  # the state to store after this poll
    items: list[FeedItem] = field(default_factory=list)
    error: str | None = None  # also set for a malformed feed that still yielded items


@dataclass(slots=True)
class FetchedPage:
    """A fetched article page (or the reason it could not be fetched)."""

    item: FeedItem
    final_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    # The page as served (decompressed, capped), None when the fetch failed or was refused. Decoded
    # where its article is built (extractors.charsets.page_markup), in the extraction workers.
    body: bytes | None = None
    charset: str | None = None  # the charset its Content-Type header declared
    error: str | None = None
    fetched_at: datetime | None = None


@dataclass(slots=True)
class ExtractedText:
    """What trafilatura (plus our fallbacks) found in a page."""

    title: str | None
    text: str
    author: str | None = None
    published_at: datetime | None = None
    html_language: str | None = None  # <html lang>, normalised to a two-letter code
    canonical_url: str | None = None
    sitename: str | None = None


@dataclass(slots=True)
class Article:
    """One stored article; one row of the `articles` table."""

    article_id: str
    url: str
    url_key: str
    title: str | None
    text: str
    text_source: TextSource
    language: str | None
    language_confidence: float | None = None
    language_source: str | None = None  # "langdetect", "html_lang", "feed", "unknown", "seed"
    feed_name: str | None = None
    guid: str | None = None
    canonical_url: str | None = None
    outlet: str | None = None  # host without www., e.g. "tagesschau.de"
    site_name: str | None = None  # the publication's own name (og:site_name), e.g. "tagesschau.de"
    summary: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    fetch_error: str | None = None  # why the page text could not be used, if it could not
    is_seed: bool = False
    content_sha256: str | None = None


@dataclass(slots=True)
class ArticleMatch:
    """A tracked topic that matched a stored article, with why; one row of the `matches` table."""

    article_id: str
    topic_id: str
    terms: list[str]  # the distinct query terms that matched, e.g. ["Belarus", "Sanktion"]
    # Every occurrence: {"term", "surface", "field" ("title"/"text"), "start", "end", "rule"}
    evidence: list[dict[str, object]]
    snippets: list[str]  # short passages around the matched words
    title_match: bool  # some term matched in the headline
    matched_at: datetime


@dataclass(slots=True)
class ArticleFingerprint:
    """What the corpus remembers of a German article; one row of `article_fingerprints`.
    Made by novelty/fingerprint.py; the diff's index is built from these."""

    article_id: str
    version: int
    story_id: str  # the story the article belongs to (its own id until it joins one)
    sentences: list[str]
    signature: bytes  # MinHash of its wording: 128 uint32 values
    sentence_terms: bytes  # uint32 hashes of each sentence's content terms, concatenated
    sentence_lengths: bytes  # uint16 number of terms of each sentence
    number_keys: list[str]  # "52 gefang": a number and the stem of what it counts
    name_codes: list[str]  # Cologne phonetic codes of the names it mentions
    # Not stored: the sentence analysis the diff of this article itself needs.
    analysis: list[Any] = field(default_factory=list, repr=False, compare=False)


@dataclass(slots=True)
class CorpusEntry:
    """A stored article as the corpus index reads it (fingerprint without sentence texts)."""

    article_id: str
    story_id: str
    signature: bytes
    sentence_terms: bytes
    sentence_lengths: bytes
    number_keys: list[str]
    name_codes: list[str]


# The decisions a desk is alerted about (the others: "rehash", "duplicate").
ALERTING_DECISIONS = frozenset({"new_development", "update"})


@dataclass(slots=True)
class Development:
    """The diff of a matched German article against the corpus; one row of `developments`."""

    article_id: str
    decision: str  # "new_development", "update", "rehash" or "duplicate"
    novelty_score: float  # 0..1: how much of the article, and how many facts, are new
    story_id: str  # the article that started the story (its own id for a new story)
    topic_ids: list[str]
    novel_sentences: list[str]
    # {"kind": "number"|"name"|"quote", "text": as written, "key": what it is compared by,
    #  "sentence": its sentence number}
    new_facts: list[dict[str, object]]
    # Every sentence: {"text", "novel", "similarity", "counterpart_article_id", "counterpart_text"}
    sentences: list[dict[str, object]]
    closest_article_id: str | None  # the earlier article most like this one
    closest_similarity: float | None  # estimated Jaccard of wording, or share of content it covers
    duplicate_of: str | None  # for "duplicate": the earlier article this one copies
    sentence_count: int
    novel_sentence_count: int
    decided_at: datetime
    run_id: str | None = None


@dataclass(slots=True)
class RunError:
    """A problem one pass met with one input; one row of `run_errors`. The pass went on."""

    stage: str  # "poll", "fetch", "extract", "store"
    subject: str  # the feed name or URL concerned
    error: str
    occurred_at: datetime


@dataclass(slots=True)
class RunSummary:
    """What one pass did; one row of the `runs` table."""

    run_id: str
    started_at: datetime
    flow_run_id: str | None = None
    finished_at: datetime | None = None
    feeds_polled: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    feeds_backoff: int = 0
    new_items: int = 0
    duplicate_items: int = 0
    pages_failed: int = 0
    articles_stored: int = 0
    german_articles: int = 0
    matched_articles: int = 0
    developments: int = 0  # new_development + update decisions
    alerts_queued: int = 0  # alert rows the pass put in the outbox
    alerts_sent: int = 0  # messages delivered by the pass's dispatch (a digest counts once)
    alerts_failed: int = 0  # sends that failed (retried on later passes, or dead)


AlertKind = Literal["first", "follow_up", "feed_failing", "feed_recovered"]
# pending -> sending -> sent; a failed send goes back to failed (retried with backoff) or, after the
# last attempt, to dead. "sending" outlives a pass only when the process died mid-send.
AlertStatus = Literal["pending", "sending", "sent", "failed", "dead"]


@dataclass(slots=True)
class Alert:
    """One message owed to one channel; one row of the `alerts` table (the outbox).

    Written in the same transaction as the development (or feed state) it reports, sent after the
    commit. `alert_id` is the idempotency key: the same story, decision and channel always give the
    same id, so a rerun, a retry or a crash never queues a second alert for them.
    """

    alert_id: str
    channel: str
    kind: AlertKind
    delivery: str  # "immediate" or "digest"
    status: AlertStatus
    created_at: datetime
    article_id: str | None = None  # the development's article (development alerts)
    story_id: str | None = None
    decision: str | None = None
    topic_ids: list[str] = field(default_factory=list)  # the channel's topics the article matched
    feed_name: str | None = None  # feed health alerts
    details: dict[str, Any] | None = None  # feed health alerts: what the message reports
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str | None = None  # redacted: never a secret
    sent_at: datetime | None = None
    digest_id: str | None = None  # the digest message it went out in
    run_id: str | None = None
