"""The novelty stage of a pass: every new German article joins the corpus; matched ones are diffed.

Articles are taken in publication order, and each joins the index right after its own diff, so
when two outlets carry the same news in one pass, the first is the development and the second
its copy, exactly as if they had arrived in two passes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from newswatch.config import NoveltyConfig
from newswatch.records import Article, ArticleFingerprint, Development
from novelty.diff import diff_article
from novelty.fingerprint import belongs_in_corpus, corpus_entry
from novelty.index import CorpusIndex

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def publication_order(article: Article) -> tuple[datetime, str]:
    return (article.published_at or article.fetched_at or _EPOCH, article.article_id)


def read_by_the_diff(articles: Iterable[Article], diffed_ids: Collection[str]) -> list[Article]:
    """The articles of a pass whose fingerprints its diff reads, in publication order: the diffed
    (matched) corpus articles and every corpus article published before the last of them.

    The diff (`diff_new_articles`) takes a pass's articles in publication order and
    adds each fingerprinted one to the index after its own diff, matched or not; so a matched
    article is compared with every corpus article of the pass published before it, and their
    sentences weigh in its terms' rarity. The ones published after the last matched article are
    read by no diff: fingerprinting them can wait until the pass has stored its articles and sent
    its alerts, with the same decisions."""
    corpus = sorted((a for a in articles if belongs_in_corpus(a)), key=publication_order)
    last = max((i for i, a in enumerate(corpus) if a.article_id in diffed_ids), default=-1)
    return corpus[: last + 1]


def diff_new_articles(
    index: CorpusIndex,
    articles: Sequence[Article],
    fingerprints: Mapping[str, ArticleFingerprint],
    topics: Mapping[str, list[str]],
    config: NoveltyConfig,
    *,
    decided_at: datetime,
    run_id: str | None = None,
) -> list[Development]:
    """Diff the matched articles (`topics`: article id -> matched topic ids) and add every
    fingerprinted article to `index`. Sets each fingerprint's story_id."""
    developments: list[Development] = []
    for article in sorted(articles, key=publication_order):
        fingerprint = fingerprints.get(article.article_id)
        if fingerprint is None:
            continue  # not German, or no text: not part of the corpus
        topic_ids = topics.get(article.article_id)
        if topic_ids:
            development = diff_article(
                fingerprint, index, config, topic_ids=topic_ids, decided_at=decided_at, run_id=run_id
            )
            fingerprint.story_id = development.story_id
            developments.append(development)
        index.add(corpus_entry(fingerprint))
        fingerprint.analysis = []  # only the diff needed it; the pass keeps the fingerprint to store it
    return developments


def counterpart_ids(sentence_lists: Iterable[Sequence[Mapping[str, object]]]) -> set[str]:
    """The corpus articles the given sentences (`Development.sentences`) were compared with."""
    return {
        str(sentence["counterpart_article_id"])
        for sentences in sentence_lists
        for sentence in sentences
        if sentence.get("counterpart_article_id")
    }


def attach_counterpart_texts(developments: Sequence[Development], sentences: Mapping[str, list[str]]) -> None:
    """Put the corpus sentence each sentence was compared with beside it, for desks and analysts."""
    for development in developments:
        for sentence in development.sentences:
            article_id, number = sentence.get("counterpart_article_id"), sentence.get("counterpart_sentence")
            texts = sentences.get(str(article_id)) if article_id else None
            if texts is not None and isinstance(number, int) and 0 <= number < len(texts):
                sentence["counterpart_text"] = texts[number]
            else:
                sentence["counterpart_text"] = None
