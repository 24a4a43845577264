"""The matching stage of a pass: stored German articles -> topic matches with their explanation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from matching.matcher import TopicMatcher
from newswatch.records import Article, ArticleMatch

# Topics are written in German with German normalisation; other languages are stored, not matched.
MATCHED_LANGUAGE = "de"


def match_articles(matcher: TopicMatcher, articles: Iterable[Article], now: datetime) -> list[ArticleMatch]:
    """Every (article, topic) match among the German articles, each with terms and snippets."""
    found = []
    for article in articles:
        if article.language != MATCHED_LANGUAGE:
            continue
        for match in matcher.match(article.title, article.text):
            found.append(
                ArticleMatch(
                    article_id=article.article_id,
                    topic_id=match.topic_id,
                    terms=match.term_list,
                    evidence=[term.to_dict() for term in match.terms],
                    snippets=match.snippets,
                    title_match=any(term.field == "title" for term in match.terms),
                    matched_at=now,
                )
            )
    return found
