"""The DuckDB schema as an ordered list of migrations.

A release only ever appends to MIGRATIONS; `migrate` applies the missing ones in order, each in
its own transaction, so a file written by an older release is upgraded in place. The tables and
views are the analysts' API: docs/analysts.md documents every column.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "feeds, articles, article keys, runs",
        """
        CREATE TABLE feeds (
            name                 VARCHAR PRIMARY KEY,
            url                  VARCHAR NOT NULL,
            etag                 VARCHAR,
            last_modified        VARCHAR,
            body_sha256          VARCHAR,
            last_polled_at       TIMESTAMPTZ,
            last_success_at      TIMESTAMPTZ,
            last_status          VARCHAR,
            last_http_status     INTEGER,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_error           VARCHAR,
            next_poll_at         TIMESTAMPTZ,
            items_seen           BIGINT NOT NULL DEFAULT 0
        );

        CREATE TABLE articles (
            article_id          VARCHAR PRIMARY KEY,
            url                 VARCHAR NOT NULL,
            url_key             VARCHAR NOT NULL,
            canonical_url       VARCHAR,
            guid                VARCHAR,
            feed_name           VARCHAR,
            outlet              VARCHAR,
            site_name           VARCHAR,
            title               VARCHAR,
            text                VARCHAR NOT NULL,
            summary             VARCHAR,
            author              VARCHAR,
            published_at        TIMESTAMPTZ,
            fetched_at          TIMESTAMPTZ,
            stored_at           TIMESTAMPTZ NOT NULL,
            language            VARCHAR,
            language_confidence DOUBLE,
            language_source     VARCHAR,
            text_source         VARCHAR NOT NULL,
            fetch_error         VARCHAR,
            is_seed             BOOLEAN NOT NULL,
            content_sha256      VARCHAR,
            run_id              VARCHAR
        );

        -- Every key an article is known by (normalised URL, feed GUID, canonical URL), so an item
        -- is recognised before its page is fetched.
        CREATE TABLE article_keys (
            key        VARCHAR PRIMARY KEY,
            article_id VARCHAR NOT NULL,
            kind       VARCHAR NOT NULL
        );

        -- Which feeds carried which article (one article can be listed by several feeds).
        CREATE TABLE feed_items (
            feed_name     VARCHAR NOT NULL,
            article_id    VARCHAR NOT NULL,
            first_seen_at TIMESTAMPTZ NOT NULL,
            run_id        VARCHAR,
            PRIMARY KEY (feed_name, article_id)
        );

        CREATE TABLE runs (
            run_id             VARCHAR PRIMARY KEY,
            flow_run_id        VARCHAR,
            started_at         TIMESTAMPTZ NOT NULL,
            finished_at        TIMESTAMPTZ,
            feeds_polled       INTEGER NOT NULL,
            feeds_not_modified INTEGER NOT NULL,
            feeds_failed       INTEGER NOT NULL,
            feeds_backoff      INTEGER NOT NULL,
            new_items          INTEGER NOT NULL,
            duplicate_items    INTEGER NOT NULL,
            pages_failed       INTEGER NOT NULL,
            articles_stored    INTEGER NOT NULL,
            german_articles    INTEGER NOT NULL
        );

        -- Every problem a pass met, with the input it concerned; the pass went on regardless.
        CREATE TABLE run_errors (
            run_id  VARCHAR NOT NULL,
            stage   VARCHAR NOT NULL,
            subject VARCHAR NOT NULL,
            error       VARCHAR NOT NULL,
            occurred_at TIMESTAMPTZ NOT NULL
        );

        CREATE INDEX articles_published ON articles (published_at);

        CREATE VIEW german_articles AS
            SELECT * FROM articles WHERE language = 'de';

        CREATE VIEW feed_health AS
            SELECT
                name, url, last_polled_at, last_success_at, last_status, last_http_status,
                consecutive_failures, last_error, next_poll_at, items_seen,
                CASE
                    WHEN last_polled_at IS NULL THEN 'never_polled'
                    WHEN consecutive_failures = 0 THEN 'healthy'
                    WHEN next_poll_at > now() THEN 'backing_off'
                    ELSE 'failing'
                END AS health
            FROM feeds;

        CREATE VIEW outlet_daily AS
            SELECT
                outlet,
                CAST(timezone('Europe/Berlin', coalesce(published_at, stored_at)) AS DATE) AS day,
                count(*) AS articles,
                count(*) FILTER (WHERE language = 'de') AS german_articles,
                count(*) FILTER (WHERE text_source = 'feed_summary') AS summary_only
            FROM articles
            WHERE NOT is_seed
            GROUP BY ALL;
        """,
    ),
)

MIGRATIONS += (
    Migration(
        2,
        "topic matches with their explanation",
        """
        CREATE TABLE matches (
            article_id  VARCHAR NOT NULL,
            topic_id    VARCHAR NOT NULL,
            terms       VARCHAR[] NOT NULL,
            evidence    JSON NOT NULL,
            snippets    VARCHAR[] NOT NULL,
            title_match BOOLEAN NOT NULL,
            matched_at  TIMESTAMPTZ NOT NULL,
            run_id      VARCHAR,
            PRIMARY KEY (article_id, topic_id)
        );

        ALTER TABLE runs ADD COLUMN matched_articles INTEGER NOT NULL DEFAULT 0;

        CREATE VIEW topic_articles AS
            SELECT m.topic_id, m.terms, m.snippets, m.title_match, a.*
            FROM matches m JOIN articles a USING (article_id);
        """,
    ),
)

MIGRATIONS += (
    Migration(
        3,
        "novelty: article fingerprints (the corpus index), developments and stories",
        """
        -- What the corpus remembers of each German article; the diff's index is built from it.
        CREATE TABLE article_fingerprints (
            article_id       VARCHAR PRIMARY KEY,
            version          INTEGER NOT NULL,
            story_id         VARCHAR NOT NULL,
            sentences        VARCHAR[] NOT NULL,
            signature        BLOB NOT NULL,
            sentence_terms   BLOB NOT NULL,
            sentence_lengths BLOB NOT NULL,
            number_keys      VARCHAR[] NOT NULL,
            name_codes       VARCHAR[] NOT NULL,
            indexed_at       TIMESTAMPTZ NOT NULL
        );

        -- One decision per matched German article, with its evidence.
        CREATE TABLE developments (
            article_id           VARCHAR PRIMARY KEY,
            decision             VARCHAR NOT NULL,
            novelty_score        DOUBLE NOT NULL,
            story_id             VARCHAR NOT NULL,
            topic_ids            VARCHAR[] NOT NULL,
            novel_sentences      VARCHAR[] NOT NULL,
            new_facts            JSON NOT NULL,
            sentences            JSON NOT NULL,
            closest_article_id   VARCHAR,
            closest_similarity   DOUBLE,
            duplicate_of         VARCHAR,
            sentence_count       INTEGER NOT NULL,
            novel_sentence_count INTEGER NOT NULL,
            decided_at           TIMESTAMPTZ NOT NULL,
            run_id               VARCHAR
        );

        ALTER TABLE runs ADD COLUMN developments INTEGER NOT NULL DEFAULT 0;

        -- Every story: its articles (seed and unmatched coverage included) and outlets.
        CREATE VIEW stories AS
            SELECT
                f.story_id,
                min(coalesce(a.published_at, a.stored_at)) AS first_seen,
                max(coalesce(a.published_at, a.stored_at)) AS last_seen,
                count(*) AS articles,
                list(DISTINCT coalesce(a.site_name, a.outlet)) AS outlets,
                count(d.article_id) FILTER (WHERE d.decision IN ('new_development', 'update')) AS developments,
                arg_min(a.title, coalesce(a.published_at, a.stored_at)) AS first_title
            FROM article_fingerprints f
            JOIN articles a USING (article_id)
            LEFT JOIN developments d USING (article_id)
            GROUP BY f.story_id;

        -- Developments with their article and the story's other outlets ("also reported by").
        CREATE VIEW development_reports AS
            SELECT
                d.*,
                a.title, a.url, coalesce(a.site_name, a.outlet) AS outlet, a.published_at,
                list_filter(s.outlets, lambda o: o IS DISTINCT FROM coalesce(a.site_name, a.outlet)) AS also_reported_by
            FROM developments d
            JOIN articles a USING (article_id)
            LEFT JOIN stories s USING (story_id);
        """,
    ),
)

MIGRATIONS += (
    Migration(
        4,
        "alerts: the outbox, with delivery state",
        """
        -- One message owed to one channel, written in the pass's transaction and sent after it.
        -- alert_id is the idempotency key (channel, story, decision; feed and streak for health).
        CREATE TABLE alerts (
            alert_id        VARCHAR PRIMARY KEY,
            channel         VARCHAR NOT NULL,
            kind            VARCHAR NOT NULL,
            delivery        VARCHAR NOT NULL,
            status          VARCHAR NOT NULL,
            created_at      TIMESTAMPTZ NOT NULL,
            article_id      VARCHAR,
            story_id        VARCHAR,
            decision        VARCHAR,
            topic_ids       VARCHAR[] NOT NULL,
            feed_name       VARCHAR,
            details         JSON,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TIMESTAMPTZ,
            last_attempt_at TIMESTAMPTZ,
            last_error      VARCHAR,
            sent_at         TIMESTAMPTZ,
            digest_id       VARCHAR,
            run_id          VARCHAR
        );

        ALTER TABLE runs ADD COLUMN alerts_queued INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN alerts_sent INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN alerts_failed INTEGER NOT NULL DEFAULT 0;

        -- The dead-letter list: alerts that used up their attempts, and those still retrying.
        CREATE VIEW failed_alerts AS
            SELECT alert_id, channel, kind, status, attempts, last_error, last_attempt_at,
                   next_attempt_at, created_at, article_id, story_id, feed_name
            FROM alerts
            WHERE status IN ('failed', 'dead');
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
