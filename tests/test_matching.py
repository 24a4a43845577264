"""Topic matching: the labelled German cases, the query parser's errors, normalisation, the
explanations, and the topics shipped in newswatch.toml."""

from __future__ import annotations

from pathlib import Path

import pytest
from matching_cases import CASES, Case
from pydantic import BaseModel, ValidationError

from matching.matcher import AdHocTopic, Match, TopicMatcher, make_snippets, match_query
from matching.normalise import Lexicon, fold, stem, tokenize
from matching.query import QueryError, QueryText, parse_query, to_text, validate_query
from newswatch.config import load_settings

ROOT = Path(__file__).resolve().parent.parent


# --- the labelled set ------------------------------------------------------------------------------


def test_the_labelled_set_is_large_and_two_sided() -> None:
    assert len(CASES) >= 60
    assert len({c.text for c in CASES}) >= 60
    assert sum(c.expected for c in CASES) >= 30
    assert sum(not c.expected for c in CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_labelled_case(case: Case) -> None:
    match = match_query(case.query, case.title, case.text, case.aliases)
    explanation = match and [(t.term, t.surface, t.rule) for t in match.terms]
    assert bool(match) is case.expected, explanation


def test_all_cases_in_one_matcher_agree_with_one_matcher_per_case() -> None:
    """Compiling many topics together must not change any topic's result."""
    topics = [AdHocTopic(c.query, id=f"c{i}", aliases=c.aliases) for i, c in enumerate(CASES)]
    matcher = TopicMatcher(topics)
    for index, case in enumerate(CASES):
        matched = {m.topic_id for m in matcher.match(case.title, case.text)}
        assert (f"c{index}" in matched) is case.expected, case.id


# --- the parser ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ("Belarus AND (Sanktion OR", 25, "expected a word, phrase or '(' after 'OR'"),
        ("(Belarus OR Minsk AND", 22, "expected a word, phrase or '(' after 'AND'"),
        ("(Belarus OR Minsk", 18, "expected ')' to close the '(' at position 1"),
        ("Belarus)", 8, "unexpected ')'"),
        ("", 1, "the query is empty"),
        ("   ", 1, "the query is empty"),
        ('"politische Gefangene', 1, "closing quote"),
        ("AND Belarus", 1, "expected a word, phrase or '(' at the start"),
        ("Belarus NOT", 12, "after 'NOT'"),
        ("Putin NEAR Trump", 7, "NEAR/n"),
        ("Putin NEAR/0 Trump", 7, "between 1 and 100"),
        ("Putin NEAR/3 NOT Trump", 14, "no NOT or AND inside NEAR"),
        ("(Putin AND Kreml) NEAR/3 Trump", 1, "no NOT or AND inside NEAR"),
        ("titel:Belarus", 1, "unknown field 'titel:'"),
        ("title:", 7, "after 'title:'"),
        ("Sank*tion", 5, "'*' is only allowed at the end"),
        ("B*", 1, "at least 2 letters"),
        ("Belarus -Sport", 9, "use NOT"),
        ("Belarus & Minsk", 9, "expected a word"),
        ("()", 2, "empty parentheses"),
        ('""', 1, "at least one word"),
    ],
)
def test_parse_errors_name_the_position_and_what_was_expected(query: str, position: int, fragment: str) -> None:
    with pytest.raises(QueryError) as raised:
        parse_query(query)
    assert raised.value.position == position
    assert str(raised.value).startswith(f"position {position}: ")
    assert fragment in str(raised.value)


def test_precedence_not_near_and_or() -> None:
    assert to_text(parse_query("A OR B NEAR/2 C AND D").root) == "(A OR ((B NEAR/2 C) AND D))"
    assert to_text(parse_query("NOT A AND B").root) == "((NOT A) AND B)"
    assert to_text(parse_query("A B OR C").root) == "((A AND B) OR C)"
    assert to_text(parse_query("title:(A OR B) C").root) == "((title:A OR title:B) AND C)"


def test_canonical_text_parses_back_to_the_same_tree() -> None:
    for case in CASES:
        root = parse_query(case.query).root
        assert to_text(parse_query(to_text(root)).root) == to_text(root)


def test_query_terms_are_listed() -> None:
    query = parse_query('title:Belarus AND ("politische Gefangene" OR Häftling*)')
    assert [t.text for t in query.terms] == ["Belarus", '"politische Gefangene"', "Häftling*"]
    assert query.terms[0].field == "title"
    assert query.terms[1].quoted and query.terms[1].words == ("politische", "Gefangene")
    assert query.terms[2].wildcards == (True,)


def test_pydantic_validator_reports_the_position() -> None:
    class Topic(BaseModel):
        query: QueryText

    assert Topic(query="Belarus AND Minsk").query == "Belarus AND Minsk"
    with pytest.raises(ValidationError) as raised:
        Topic(query="Belarus AND (Minsk OR")
    message = raised.value.errors()[0]["msg"]
    assert message.removeprefix("Value error, ") == "position 22: expected a word, phrase or '(' after 'OR'"
    assert validate_query("Belarus") == "Belarus"


# --- normalisation ---------------------------------------------------------------------------------


def test_folding() -> None:
    assert fold("Weißrussland") == fold("Weissrussland") == fold("WEISSRUSSLAND")
    assert fold("Gespräch") == fold("Gespraech")
    assert fold("Lukaschenko") == "lukaschenko"
    assert fold("Łukaszenka") == "lukaszenka"
    assert fold("Öl") == fold("Oel") == "ol"
    assert fold("neue") == "neue" and fold("Bauer") == "bauer" and fold("Quelle") == "quelle"


def test_stems() -> None:
    assert stem(fold("Sanktion")) == stem(fold("Sanktionen"))
    assert stem(fold("Gefangener")) == stem(fold("Gefangene")) == stem(fold("Gefangenen"))
    assert stem(fold("Häftlinge")) == stem(fold("Haeftling"))
    assert stem("2025") == "2025"


def test_tokens_hyphens_numbers_quotes() -> None:
    tokens = tokenize('„US-Sanktionen“ gegen 100.000 Soldaten, sagte er: "genug".')
    assert [(t.surface, t.position, t.joined) for t in tokens] == [
        ("US-Sanktionen", 0, True),
        ("US", 0, False),
        ("Sanktionen", 1, False),
        ("gegen", 2, False),
        ("100.000", 3, False),
        ("Soldaten", 4, False),
        ("sagte", 5, False),
        ("er", 6, False),
        ("genug", 7, False),
    ]
    text = "Die US-Sanktionen"
    for token in tokens[:1]:
        assert token.surface == '„US-Sanktionen“'[token.start : token.end]
    assert [t.surface for t in tokenize(text)] == ["Die", "US-Sanktionen", "US", "Sanktionen"]
    assert [t.surface for t in tokenize("Sank\u00adtionen")] == ["Sank\u00adtionen"]
    assert fold("Sank\u00adtionen") == fold("Sanktionen")


def test_lexicon_from_words_and_decomposer() -> None:
    from matching.normalise import Decomposer

    lexicon = Lexicon.from_words(["Erleichterung", "Erleichterungen", "Sonder", "Wirtschaft"])
    decomposer = Decomposer(lexicon)
    assert decomposer.component_match("sanktionserleichterungen", "sanktion") == "compound"
    assert decomposer.component_match("sondergesandter", stem("gesandter")) == "compound"
    assert decomposer.component_match("kaliningrad", "kali") is None


# --- explanations ----------------------------------------------------------------------------------


def test_match_explains_terms_offsets_and_rules() -> None:
    title = "USA lockern Sanktionen gegen Belavia"
    text = (
        "Washington hat die US-Sanktionen gegen die belarussische Fluggesellschaft Belavia gelockert. "
        "Die Sanktionserleichterungen gelten ab sofort, sagte der Sondergesandte John Coale in Minsk."
    )
    match = match_query("(Belavia OR Minsk) AND Sanktion", title, text)
    assert isinstance(match, Match)
    found = {(t.field, t.surface, t.rule) for t in match.terms}
    assert ("title", "Sanktionen", "word") in found
    assert ("text", "Sanktionen", "word") in found  # the part of US-Sanktionen
    assert ("text", "Sanktionserleichterungen", "compound") in found
    assert ("text", "Minsk", "word") in found
    for term in match.terms:
        source = title if term.field == "title" else text
        assert source[term.start : term.end] == term.surface
    assert match.term_list[:2] == ["Sanktion", "Belavia"]
    assert match.snippets and all(len(s) <= 200 for s in match.snippets)
    assert any("Sanktionserleichterungen" in s for s in match.snippets)


def test_near_and_phrase_evidence() -> None:
    text = "Nach Gesprächen mit Witkoff ließ Minsk 52 politische Gefangene frei."
    match = match_query('"politische Gefangene" NEAR/3 frei', None, text)
    assert match is not None
    assert [(t.surface, t.rule) for t in match.terms] == [("politische Gefangene", "phrase"), ("frei", "word")]


def test_alias_matches_are_labelled() -> None:
    match = match_query("Lukaschenko", None, "Łukaszenka i Lukashenko", {"Lukaschenko": ["Lukashenko", "Łukaszenka"]})
    assert match is not None
    assert [(t.surface, t.rule) for t in match.terms] == [("Łukaszenka", "alias"), ("Lukashenko", "alias")]


def test_snippets_are_windows_around_the_matches() -> None:
    text = ("Einleitung ohne Bezug. " * 20) + "Hier steht Belavia im Satz. " + ("Füllsatz folgt hier. " * 20)
    match = match_query("Belavia", None, text)
    assert match is not None and len(match.snippets) == 1
    snippet = match.snippets[0]
    assert "Belavia" in snippet and snippet.startswith("…") and snippet.endswith("…")
    assert 100 <= len(snippet) <= 175
    assert make_snippets("Titel mit Belavia", "", []) == []


def test_title_only_match_uses_the_title_as_snippet() -> None:
    match = match_query("title:Belavia", "Belavia fliegt wieder", "Kein Bezug im Text.")
    assert match is not None and match.snippets == ["Belavia fliegt wieder"]


def test_negative_only_topic_matches_articles_without_postings() -> None:
    matcher = TopicMatcher([AdHocTopic("NOT Fußball", id="kein-sport"), AdHocTopic("Belarus", id="by")])
    assert [m.topic_id for m in matcher.match("Wetter", "Es regnet.")] == ["kein-sport"]
    assert [m.topic_id for m in matcher.match("Fußball", "Es regnet.")] == []
    assert [m.topic_id for m in matcher.match("Belarus", "")] == ["kein-sport", "by"]


def test_shared_query_words_are_compiled_once() -> None:
    topics = [AdHocTopic(f"Belarus AND Wort{i}", id=f"t{i}") for i in range(20)]
    matcher = TopicMatcher(topics)
    assert matcher.pattern_count == 21


def test_empty_and_missing_fields() -> None:
    matcher = TopicMatcher([AdHocTopic("Belarus")])
    assert matcher.match(None, None) == []
    assert matcher.match("", "") == []


# --- the shipped topics --------------------------------------------------------------------------

SHIPPED = load_settings(ROOT / "newswatch.toml").topics

HEADLINES: list[tuple[str, str, set[str]]] = [
    # Talking about prisoners and sanctions is neither a release nor relief: only the envoy topic.
    ("US-Sondergesandter Coale trifft Lukaschenko in Minsk",
     "Der Sondergesandte sprach über Gefangene und Sanktionen.",
     {"belarus-envoy"}),
    ("Coale in Minsk: USA lockern Sanktionen, Lukaschenko lässt Häftlinge frei",
     "Nach dem Besuch des Sondergesandten wurden 31 Gefangene begnadigt.",
     {"belarus-envoy", "belarus-prisoners", "belarus-sanctions"}),
    ("Kellogg reist erneut nach Minsk", "Der US-Gesandte Keith Kellogg wird am Freitag erwartet.",
     {"belarus-envoy"}),
    ("Belarus lässt 52 politische Gefangene frei",
     "Machthaber Lukaschenko hat 52 Häftlinge begnadigt, sie wurden nach Litauen gebracht.",
     {"belarus-prisoners"}),
    ("Freilassung in Minsk: Journalistin nach fünf Jahren frei", "Die Freilassung kam überraschend.",
     {"belarus-prisoners"}),
    ("USA heben Sanktionen gegen Belavia auf",
     "Die belarussische Airline darf wieder Ersatzteile für ihre Boeing-Flotte kaufen.",
     {"belarus-sanctions"}),
    ("Kalidünger aus Belarus: Washington lockert Sanktionen gegen Belaruskali", "",
     {"belarus-sanctions"}),
    ("Witkoff und Dmitrijew vereinbaren neues Treffen", "Russland und die USA verhandeln in Istanbul.",
     {"us-russia"}),
    ("Trump und Putin planen Gipfel in Budapest", "Der Kreml bestätigte die Gespräche.",
     {"us-russia"}),
    ("Annäherung zwischen Washington und Moskau", "Putin lobt die Gespräche mit der US-Regierung.",
     {"us-russia"}),
    ("Bundesliga: Köln und Werder trennen sich 2:2", "Ein Elfmeter in der Nachspielzeit rettete das Remis.",
     set()),
    ("Sturmtief Wendelin sorgt für Bahnchaos", "In Sachsen fielen zahlreiche Züge aus.", set()),
    ("EU verlängert Sanktionen gegen Russland", "Die Strafmaßnahmen gelten weitere sechs Monate.", set()),
    ("Putin empfängt Lukaschenko in Sotschi", "Die beiden Präsidenten sprachen über Gaspreise.", set()),
]


@pytest.mark.parametrize(("title", "text", "expected"), HEADLINES, ids=[h[0][:40] for h in HEADLINES])
def test_shipped_topics(title: str, text: str, expected: set[str]) -> None:
    matcher = TopicMatcher(SHIPPED)
    assert {m.topic_id for m in matcher.match(title, text)} == expected


def test_shipped_sanctions_topic_does_not_take_kaliningrad_for_potash() -> None:
    matcher = TopicMatcher(SHIPPED)
    matched = {m.topic_id for m in matcher.match("Lukaschenko besucht Kaliningrad", "Minsk und Moskau üben.")}
    assert "belarus-sanctions" not in matched


def test_shipped_queries_parse() -> None:
    for topic in SHIPPED:
        parse_query(topic.query)
