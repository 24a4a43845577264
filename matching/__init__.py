"""Topic matching: the query language (query.py), German normalisation (normalise.py) and the
one-pass matcher over all topics (matcher.py). Plain typed Python; no Prefect here."""

from matching.matcher import AdHocTopic, Match, MatchedTerm, TopicMatcher, make_snippets, match_query
from matching.query import Query, QueryError, QueryText, parse_query, validate_aliases, validate_query

__all__ = [
    "AdHocTopic",
    "Match",
    "MatchedTerm",
    "Query",
    "QueryError",
    "QueryText",
    "TopicMatcher",
    "make_snippets",
    "match_query",
    "parse_query",
    "validate_aliases",
    "validate_query",
]
