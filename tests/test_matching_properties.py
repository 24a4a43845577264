"""Property-based tests of the query language: the parser only ever raises QueryError, and
OR / AND / NOT obey Boolean logic over the same documents, compiled together in one matcher."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.matcher import AdHocTopic, TopicMatcher
from matching.query import QueryError, parse_query, to_text

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

QUERY_PIECES = st.sampled_from(
    [
        "AND", "OR", "NOT", "UND", "ODER", "NICHT", "NEAR/3", "NEAR/", "NEAR/0", "NEAR/x", "(", ")",
        '"', "„", "“", "title:", "titel:", "text:", "*", "-", "+", ":", "Belarus", "Sanktion*",
        "US-Sanktionen", "Ł", "ß", "a*", "Ab*c", '"politische Gefangene"', "2025", "\u00ad", " ", "\t",
    ]
)


@SETTINGS
@given(st.text(max_size=80))
def test_parser_never_crashes_on_arbitrary_text(text: str) -> None:
    _parse_or_query_error(text)


@SETTINGS
@given(st.lists(QUERY_PIECES, max_size=14).map(" ".join))
def test_parser_never_crashes_on_query_like_text(text: str) -> None:
    _parse_or_query_error(text)


@SETTINGS
@given(st.lists(QUERY_PIECES, max_size=14).map("".join))
def test_parser_never_crashes_on_glued_query_pieces(text: str) -> None:
    _parse_or_query_error(text)


def _parse_or_query_error(text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError as error:
        assert 1 <= error.position <= len(text) + 1
        assert str(error).startswith(f"position {error.position}: ")
    else:
        # a query that parses can be matched and its canonical form parses to the same form
        assert to_text(parse_query(to_text(query.root)).root) == to_text(query.root)
        TopicMatcher([AdHocTopic(text)]).match("Belarus Sanktionen", "US-Sanktionen gegen Belarus")


# --- Boolean logic ------------------------------------------------------------------------------

WORDS = [
    "Belarus", "Minsk", "Sanktion", "Gefangene", "Putin", "Trump", "Gipfel", "Weißrussland", "Kali",
    "Rat", "politische", "Treffen", "Haft",
]
TEXT_WORDS = [
    "Belarus", "Minsk", "Sanktionen", "Sanktionserleichterungen", "US-Sanktionen", "Gefangene",
    "Kriegsgefangene", "Gefangenen", "politische", "politischen", "Putin", "Putins", "Trump",
    "Gipfel", "Gipfeltreffen", "Weißrussland", "Weissrussland", "Kaliningrad", "Kalidünger", "Ratte",
    "Rat", "Sicherheitsrat", "Beratung", "Treffen", "eintreffen", "Botschaft", "Haft",
    "Untersuchungshaft", "und", "der", "die", "in", "mit",
]

leaves = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda w: w[:4] + "*"),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda p: f'"{p[0]} {p[1]}"'),
    st.sampled_from(WORDS).map(lambda w: "title:" + w),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS), st.integers(1, 4)).map(
        lambda t: f"({t[0]} NEAR/{t[2]} {t[1]})"
    ),
)
queries = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: f"({p[0]} OR {p[1]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]} AND {p[1]})"),
        inner.map(lambda q: f"(NOT {q})"),
    ),
    max_leaves=4,
)
documents = st.tuples(
    st.lists(st.sampled_from(TEXT_WORDS), max_size=5).map(" ".join),
    st.lists(st.sampled_from(TEXT_WORDS), max_size=25).map(" ".join),
)


@SETTINGS
@given(queries, queries, st.lists(documents, min_size=1, max_size=6))
def test_or_and_not_obey_boolean_logic(a: str, b: str, docs: list[tuple[str, str]]) -> None:
    topics = [
        AdHocTopic(a, id="a"),
        AdHocTopic(b, id="b"),
        AdHocTopic(f"({a}) OR ({b})", id="a_or_b"),
        AdHocTopic(f"({a}) AND ({b})", id="a_and_b"),
        AdHocTopic(f"NOT ({a})", id="not_a"),
        AdHocTopic(f"({a}) ({b})", id="a_implicit_b"),
    ]
    matcher = TopicMatcher(topics)
    for title, text in docs:
        got = {m.topic_id for m in matcher.match(title, text)}
        in_a, in_b = "a" in got, "b" in got
        assert ("a_or_b" in got) == (in_a or in_b)
        assert ("a_and_b" in got) == (in_a and in_b)
        assert ("a_implicit_b" in got) == (in_a and in_b)
        assert ("not_a" in got) == (not in_a)
        # compiling a topic alone or among others gives the same answer
        alone = TopicMatcher([AdHocTopic(a, id="a")]).match(title, text)
        assert bool(alone) == in_a
