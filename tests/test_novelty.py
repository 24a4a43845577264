"""Novelty detection: German sentences, content terms and facts, the corpus index, the diff's
decision (new development, update, rehash, duplicate) on small hand-written German texts, and the
novelty stage of a pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from novelty_eval.evaluate import load_cases, seed_index

from matching.normalise import stem
from newswatch.config import BUNDLED_SEED_CORPUS, NoveltyConfig
from newswatch.records import Article, ArticleFingerprint, CorpusEntry, Development
from novelty.diff import ALERTING, DUPLICATE, REHASH, UPDATE, diff_article
from novelty.fingerprint import corpus_entry, fingerprint_article, fingerprint_text, term_arrays
from novelty.index import MAX_POSTINGS, CorpusIndex
from novelty.stage import diff_new_articles
from novelty.text import (
    content_terms,
    direct_quotes,
    name_key,
    name_mentions,
    number_facts,
    phonetic_code,
    split_sentences,
    term_hash,
)
from storage.seed import read_seed_corpus

NOW = datetime(2025, 12, 1, 12, 0, tzinfo=UTC)


def _entry(fingerprint: ArticleFingerprint) -> CorpusEntry:
    return corpus_entry(fingerprint)


def _terms(sentence: str) -> np.ndarray:
    """A sentence's content terms as the index stores them."""
    return np.array(sorted({term_hash(t) for t in content_terms(sentence)}), dtype=np.uint32)


def _diff(
    text: str, index: CorpusIndex, article_id: str = "new", config: NoveltyConfig | None = None
) -> tuple[ArticleFingerprint, Development]:
    fingerprint = fingerprint_text(article_id, text)
    development = diff_article(fingerprint, index, config or NoveltyConfig(), topic_ids=["belarus"], decided_at=NOW)
    return fingerprint, development


def _facts(development: Development, kind: str) -> set[str]:
    return {str(f["key"]) for f in development.new_facts if f["kind"] == kind}


# --- sentences -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Abbreviations stay inside their sentence.
        (
            "Die EU verhängt z. B. Sanktionen gegen Belarus. Das betrifft u. a. Banken.",
            ["Die EU verhängt z. B. Sanktionen gegen Belarus.", "Das betrifft u. a. Banken."],
        ),
        (
            "Dr. Müller wohnt in der Hauptstraße Nr. 5 in St. Petersburg. Er kam ca. 20 Minuten zu spät bzw. gar nicht.",
            ["Dr. Müller wohnt in der Hauptstraße Nr. 5 in St. Petersburg.",
             "Er kam ca. 20 Minuten zu spät bzw. gar nicht."],
        ),
        # Dates, ordinals and clock times are not sentence ends.
        (
            "Am 14.11.2025 wurde der Vertrag unterzeichnet. Am 3. Dezember folgt die nächste Runde.",
            ["Am 14.11.2025 wurde der Vertrag unterzeichnet.", "Am 3. Dezember folgt die nächste Runde."],
        ),
        (
            "Er sagte am 17.11. in Minsk, die Lage sei ernst. Danach ging er.",
            ["Er sagte am 17.11. in Minsk, die Lage sei ernst.", "Danach ging er."],
        ),
        (
            "Um 20:07 Uhr landete das Flugzeug. Die Sitzung begann um 7.30 Uhr. Danach gab es Applaus.",
            ["Um 20:07 Uhr landete das Flugzeug.", "Die Sitzung begann um 7.30 Uhr.", "Danach gab es Applaus."],
        ),
        # A quote that ends the sentence stays with it.
        (
            "Coale erklärte: „Das ist erst der Anfang.“ Lukaschenko schwieg.",
            ["Coale erklärte: „Das ist erst der Anfang.“", "Lukaschenko schwieg."],
        ),
        # The sentencizer leaves an opening quote mark on the sentence before; it must move on.
        (
            "Die Lage ist ernst. „Das ist erst der Anfang“, sagte Coale.",
            ["Die Lage ist ernst.", "„Das ist erst der Anfang“, sagte Coale."],
        ),
        (
            "Die Lage ist ernst. »Das ist erst der Anfang«, sagte Coale.",
            ["Die Lage ist ernst.", "»Das ist erst der Anfang«, sagte Coale."],
        ),
        (
            "Was nun? „Wir warten ab“, sagte er.",
            ["Was nun?", "„Wir warten ab“, sagte er."],
        ),
        (
            'Die Lage ist ernst. "Das ist erst der Anfang", sagte Coale.',
            ["Die Lage ist ernst.", '"Das ist erst der Anfang", sagte Coale.'],
        ),
        (
            "Coale erklärte. »Das ist erst der Anfang.« Lukaschenko schwieg.",
            ["Coale erklärte.", "»Das ist erst der Anfang.«", "Lukaschenko schwieg."],
        ),
        # A line without final punctuation (headline, subheading) is a sentence of its own ...
        (
            "Belarus lässt Gefangene frei\nMinsk hat 52 Gefangene freigelassen. Das meldet die Agentur.",
            ["Belarus lässt Gefangene frei", "Minsk hat 52 Gefangene freigelassen.", "Das meldet die Agentur."],
        ),
        (
            "Ein Satz ohne Punkt\n\nNoch einer",
            ["Ein Satz ohne Punkt", "Noch einer"],
        ),
        # ... but a line that ends like a sentence runs on; whitespace is normalised.
        (
            "Die Frage lautet: Wie geht es weiter?\nDie Antwort   kommt\tspäter.",
            ["Die Frage lautet: Wie geht es weiter?", "Die Antwort kommt später."],
        ),
        # Blank lines between paragraphs are dropped.
        (
            "Erster Absatz endet hier.\n\n  \nZweiter Absatz beginnt hier.",
            ["Erster Absatz endet hier.", "Zweiter Absatz beginnt hier."],
        ),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\n", " \n \t\n\n  \n"])
def test_split_sentences_of_empty_text(text: str) -> None:
    assert split_sentences(text) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Das war im Jahr 2025.", "Danach kam der Winter."),
        ("Die Zahl der Gefangenen stieg auf 52.", "Das meldet Wjasna."),
        ("Das Manöver endete am 16.09.2025.", "Danach kehrten die Truppen zurück."),
    ],
)
def test_a_sentence_ending_in_a_number_is_still_a_sentence(first: str, second: str) -> None:
    assert split_sentences(f"{first} {second}") == [first, second]


# --- content terms ---------------------------------------------------------------------------------


def test_content_terms_drop_stop_words() -> None:
    assert content_terms("Der Kreml-Sprecher sagte, dass er und sie und wir es nicht wissen.") == [
        "kreml", "sprech", "wiss",
    ]


def test_content_terms_fold_umlauts_and_sharp_s() -> None:
    assert content_terms("Straße") == content_terms("Strasse") == content_terms("STRASSE")
    assert content_terms("Übergabe in Österreich") == content_terms("Ubergabe in Osterreich")


def test_content_terms_share_stems_across_inflections_and_do_not_repeat() -> None:
    assert content_terms("Die Sanktion") == content_terms("Die Sanktionen") == ["sanktion"]
    assert content_terms("Sanktion um Sanktion, Sanktionen über Sanktionen") == ["sanktion"]


@pytest.mark.parametrize(
    ("sentence", "number"),
    [("Insgesamt 100.000 Soldaten", "100000"), ("um 3,5 Prozent", "3.5"), ("007 Agenten", "7")],
)
def test_content_terms_normalise_numbers(sentence: str, number: str) -> None:
    assert number in content_terms(sentence)


def test_content_terms_split_hyphenated_words() -> None:
    assert content_terms("Die NATO-Mitglieder Türkei und Ungarn") == ["nato", "mitglied", "turkei", "ungarn"]
    # A compound written with a hyphen meets its parts written alone.
    assert set(content_terms("Kreml-Sprecher")) == set(content_terms("Kreml und Sprecher"))


# --- numbers with the noun they count ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "key", "text"),
    [
        ("Lukaschenko hat 52 politische Gefangene freigelassen.", "52 gefang", "52 politische Gefangene"),
        ("Minsk ließ zweiundfünfzig Häftlinge frei.", "52 haftling", "zweiundfünfzig Häftlinge"),
        ("Die USA zahlen 3,5 Millionen Dollar.", "3500000 dollar", "3,5 Millionen Dollar"),
        ("Insgesamt 100.000 Soldaten nahmen teil.", "100000 soldat", "100.000 Soldaten"),
        ("Es marschierten dreihundert Soldaten.", "300 soldat", "dreihundert Soldaten"),
        ("Am 14.11.2025 kamen 31 Gefangene frei.", "31 gefang", "31 Gefangene"),  # the date is not one
        ("Gegen 7.30 Uhr kamen 14 Häftlinge frei.", "14 haftling", "14 Häftlinge"),  # nor the time
    ],
)
def test_number_facts(sentence: str, key: str, text: str) -> None:
    facts = number_facts(sentence)
    assert [(f.key, f.text) for f in facts] == [(key, text)]


def test_a_spelled_number_and_a_digit_give_the_same_key() -> None:
    assert [f.key for f in number_facts("Es kamen einunddreißig Gefangene frei.")] == [
        f.key for f in number_facts("Es kamen 31 Gefangene frei.")
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Im Jahr 2025 geschah es.",
        "Es geschah 2025 in Minsk.",
        "Das Treffen war am 14.11.2025 in Minsk.",
        "Am 3. Dezember kommen die Gesandten.",
        "Im 1. Quartal 2026 sollen Gespräche folgen.",
        "Um 20:07 Uhr landete die Maschine.",
        "4 Minuten Lesezeit",
        "315 Wörter",
        "Er ist seit 31 Jahren im Amt.",
        "Das Telefonat dauerte 90 Minuten.",
        "Ein Gefangener kam frei.",  # "ein" is an article before it is a number
        "Die Zahl 52 ist bekannt.",  # nothing counted
    ],
)
def test_not_number_facts(sentence: str) -> None:
    assert number_facts(sentence) == []


@pytest.mark.parametrize(
    ("sentence", "key"),
    [("Es kamen 1,2 Mio. Besucher.", "1200000 besuch"), ("Die EU gibt 3 Mrd. Euro.", "3000000000 euro")],
)
def test_number_facts_with_abbreviated_millions(sentence: str, key: str) -> None:
    assert [f.key for f in number_facts(sentence)] == [key]


# --- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surface", "key"),
    [("Coale", "coal"), ("Witkoff", "witkoff"), ("Lukaschenko", "lukaschenko"),
     ("OSZE", "osze"), ("KGB", "kgb"), ("NGOs", "ngo")],
)
def test_name_key_of_names_and_acronyms(surface: str, key: str) -> None:
    assert name_key(surface) == key


@pytest.mark.parametrize(
    "surface",
    # German words, inflected forms and compounds are not names; nor are very short words.
    ["Gefangene", "Sondergesandter", "Sanktionserleichterungen", "Haus", "Minsk", "Kaliexporte", "Xi"],
)
def test_name_key_of_german_words_is_none(surface: str) -> None:
    assert name_key(surface) is None



def test_name_mentions() -> None:
    assert name_mentions("Der US-Sondergesandte John Coale traf Witkoff und die OSZE in Minsk.") == [
        ("US", "us"), ("Coale", "coal"), ("Witkoff", "witkoff"), ("OSZE", "osze"),
    ]
    # Common nouns, however official they sound, are not names.
    assert name_mentions("Der Sondergesandter brachte 52 politische Gefangene und Sanktionserleichterungen.") == []
    # A name mentioned twice, or in the genitive, is one mention.
    assert name_mentions("Witkoff traf Witkoff und Witkoffs Team.") == [("Witkoff", "witkoff")]


def test_name_mentions_skip_the_name_that_follows_a_credit() -> None:
    assert name_mentions("Bild: Reuters") == []
    assert name_mentions("Foto: Witkoff") == []
    # ... but the same word in running text is a name.
    assert name_mentions("Das Foto zeigt Witkoff in Minsk.") == [("Witkoff", "witkoff")]


@pytest.mark.parametrize("credit", ["Bild: Reuters/AP", "Foto: Petras Malukas/AFP", "Von Jana Kowalczyk"])
def test_name_mentions_skip_whole_credits(credit: str) -> None:
    assert name_mentions(credit) == []


@pytest.mark.parametrize(
    ("one", "other"),
    [("Dmitrijew", "Dmitriev"), ("Lawrow", "Lavrov"), ("Borissow", "Borisov"),
     ("Lukaschenko", "Lukashenko"), ("Peskow", "Peskov")],
)
def test_phonetic_code_equates_transliterations(one: str, other: str) -> None:
    assert phonetic_code(one) is not None
    assert phonetic_code(one) == phonetic_code(other)


def test_phonetic_code_tells_names_apart_and_drops_short_codes() -> None:
    assert phonetic_code("Lawrow") != phonetic_code("Peskow")
    assert phonetic_code("Dmitriev") != phonetic_code("Witkoff")
    assert phonetic_code("Coale") is None  # "45" would collide with too many words
    assert phonetic_code("Xi") is None


# --- direct quotes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quotes"),
    [
        ("Er sagte: „Wir sind bereit zu reden.“", ["Wir sind bereit zu reden."]),
        ("Er sagte: »Wir sind bereit zu reden.«", ["Wir sind bereit zu reden."]),
        ('Er sagte: "Wir sind bereit zu reden."', ["Wir sind bereit zu reden."]),
        ("„Vier Wörter stehen hier“, sagte er.", ["Vier Wörter stehen hier"]),
        ("„Drei Wörter hier“, sagte er.", []),  # below MIN_QUOTE_WORDS
        ("Die sogenannte „Charmeoffensive“ geht weiter.", []),
        ('Trump will große "Deals" abschließen.', []),
        ("Er sprach von „Geiseln“ und »Verbrechern«.", []),
        (
            "„Wir sind frei“, sagte sie, und er: »Das ist erst der Anfang.«",
            ["Das ist erst der Anfang."],
        ),
        ("Er sagte: „Wir sind\nbereit   zu reden.“", ["Wir sind bereit zu reden."]),  # whitespace normalised
    ],
)
def test_direct_quotes(text: str, quotes: list[str]) -> None:
    assert [quote for quote, _ in direct_quotes(text)] == quotes


# --- the corpus index ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_articles() -> list[Article]:
    return read_seed_corpus(BUNDLED_SEED_CORPUS)


@pytest.fixture(scope="module")
def seed_fingerprints(seed_articles: list[Article]) -> list[ArticleFingerprint]:
    return [fingerprint_article(article) for article in seed_articles]


@pytest.fixture(scope="module")
def seed(seed_articles: list[Article]) -> CorpusIndex:
    """The seed corpus index, shared: tests that add to an index build their own."""
    index = seed_index()
    assert [a.article_id for a in index.articles] == [a.article_id for a in seed_articles]
    return index


FILLER = "Die Regierung in Minsk berichtet heute über Vorgang Nummer {} am Grenzposten."
RARE = "Die Regierung in Minsk berichtet heute über Kaliumschmuggel am Grenzposten."


@pytest.fixture(scope="module")
def filler_entries() -> list[CorpusEntry]:
    """More than MAX_POSTINGS one-sentence articles that share the terms of RARE except its rare one."""
    return [_entry(fingerprint_text(f"filler-{i}", FILLER.format(i))) for i in range(MAX_POSTINGS + 60)]


def test_near_duplicates_find_a_copy_with_new_headline_and_trimmed_lead(
    seed: CorpusIndex, seed_articles: list[Article]
) -> None:
    original = seed_articles[1]
    lines = original.text.split("\n")
    copy = "Minsk sucht die Nähe zu Washington\n\n" + "\n".join(lines[1:])
    found = seed.near_duplicates(fingerprint_text("copy", copy).signature, 0.5)
    assert [seed.articles[p].article_id for p, _ in found] == [original.article_id]
    assert found[0][1] >= 0.5
    # The estimate is an estimate of Jaccard: lower for the trimmed copy than for the full one.
    full = seed.near_duplicates(fingerprint_text("full", f"{original.title}\n\n{original.text}").signature, 0.5)
    assert full[0][0] == found[0][0] and full[0][1] > found[0][1]


def test_near_duplicates_ignore_an_unrelated_article(seed: CorpusIndex) -> None:
    unrelated = (
        "Der Bundestag hat am Donnerstag ein neues Heizungsgesetz beschlossen. Die Opposition kritisierte "
        "die Kosten für Mieter und Eigentümer. Die Regelung soll im kommenden Jahr in Kraft treten."
    )
    assert seed.near_duplicates(fingerprint_text("other", unrelated).signature, 0.5) == []
    # Even a low threshold does not turn shared stop-word shingles into copies.
    assert all(score < 0.5 for _, score in seed.near_duplicates(fingerprint_text("o", unrelated).signature, 0.01))


def test_closest_sentence_finds_every_seed_sentence_in_a_large_index(
    seed_fingerprints: list[ArticleFingerprint], filler_entries: list[CorpusEntry]
) -> None:
    index = CorpusIndex([*filler_entries, *(_entry(f) for f in seed_fingerprints)])
    checked = 0
    for fingerprint in seed_fingerprints:
        for sentence, terms in zip(fingerprint.sentences, term_arrays(fingerprint), strict=True):
            if len(terms) < 3:
                continue
            best = index.closest_sentence(terms)
            assert best is not None, sentence
            assert best.similarity == pytest.approx(1.0), sentence
            assert best.article >= len(filler_entries), sentence
            counterpart = term_arrays(seed_fingerprints[best.article - len(filler_entries)])[best.sentence]
            assert set(terms.tolist()) <= set(counterpart.tolist()), sentence
            checked += 1
    assert checked > 150


def test_closest_sentence_scores_partial_overlap_below_one(seed: CorpusIndex) -> None:
    # Half of a seed sentence's meaning, plus new words: found, but not as a copy.
    best = seed.closest_sentence(_terms("Lukaschenko übergab 52 politische Gefangene an Litauen und Polen gestern Abend."))
    assert best is not None
    assert 0.2 < best.similarity < 1.0
    assert seed.closest_sentence(_terms("Quantenphysik Heizungsgesetz Wärmepumpe")) is None
    assert seed.closest_sentence(np.zeros(0, dtype=np.uint32)) is None


def test_a_rare_term_finds_its_sentence_beyond_the_common_terms_postings(filler_entries: list[CorpusEntry]) -> None:
    """Every other term of RARE is in more than MAX_POSTINGS sentences; its rare one in one."""
    target = _entry(fingerprint_text("target", RARE))
    index = CorpusIndex([*filler_entries, target])
    best = index.closest_sentence(_terms(RARE))
    assert best is not None
    assert index.articles[best.article].article_id == "target"
    assert best.similarity == pytest.approx(1.0)
    # The same when the target was added during the pass.
    grown = CorpusIndex(filler_entries)
    grown.add(target)
    best = grown.closest_sentence(_terms(RARE))
    assert best is not None and grown.articles[best.article].article_id == "target"


@pytest.mark.parametrize("grown", [False, True], ids=["stored", "added"])
def test_a_rare_term_finds_an_old_sentence_beyond_the_common_terms_postings(
    filler_entries: list[CorpusEntry], grown: bool
) -> None:
    target = _entry(fingerprint_text("target", RARE))
    if grown:
        index = CorpusIndex()
        for entry in [target, *filler_entries]:
            index.add(entry)
    else:
        index = CorpusIndex([target, *filler_entries])
    best = index.closest_sentence(_terms(RARE))
    assert best is not None
    assert (index.articles[best.article].article_id, best.similarity) == ("target", pytest.approx(1.0))


def test_articles_added_to_the_index_are_found(seed_fingerprints: list[ArticleFingerprint]) -> None:
    index = CorpusIndex(_entry(f) for f in seed_fingerprints)
    text = (
        "Minsk lässt 31 politische Gefangene frei\n\n"
        "Unter den Freigelassenen ist die Journalistin Marfa Rabkowa aus Gomel, teilte Wjasna mit."
    )
    fingerprint = fingerprint_text("added", text)
    assert index.position("added") is None
    assert not index.knows_number("31 gefang")
    assert index.closest_sentence(_terms("Marfa Rabkowa aus Gomel")) is None
    sentences = index.sentence_count

    index.add(_entry(fingerprint))
    position = index.position("added")
    assert position == len(seed_fingerprints) and len(index) == len(seed_fingerprints) + 1
    assert index.sentence_count == sentences + 2
    assert index.near_duplicates(fingerprint.signature, 0.9) == [(position, 1.0)]
    best = index.closest_sentence(term_arrays(fingerprint)[1])
    assert best is not None and (best.article, best.sentence) == (position, 1)
    assert best.similarity == pytest.approx(1.0)
    assert index.knows_number("31 gefang")
    assert phonetic_code("Rabkowa") in index.name_codes(position)
    # Adding the same article twice changes nothing.
    index.add(_entry(fingerprint))
    assert len(index) == len(seed_fingerprints) + 1 and index.sentence_count == sentences + 2


def test_document_frequency_counts_sentences() -> None:
    index = CorpusIndex([
        _entry(fingerprint_text("a", "Die Sanktionen gegen Belarus bleiben. Eine neue Sanktion trifft Minsk.")),
        _entry(fingerprint_text("b", "Die Sanktion trifft Belavia. Sanktion um Sanktion.")),
    ])
    sanktion, belarus = term_hash("sanktion"), term_hash("belarus")
    assert index.document_frequency(sanktion) == 4  # a sentence with the term twice counts once
    assert index.document_frequency(belarus) == 1
    assert index.document_frequency(term_hash("heizungsgesetz")) == 0
    assert not index.knows_term(term_hash("heizungsgesetz"))
    index.add(_entry(fingerprint_text("c", "Weitere Sanktionen gegen Belarus sind geplant.")))
    assert index.document_frequency(sanktion) == 5
    assert index.document_frequency(belarus) == 2
    # Rarer terms weigh more.
    heavy, light = index.stats(np.array([belarus, sanktion], dtype=np.uint32)).weights.tolist()
    assert heavy > light > 0


def test_an_index_of_stored_entries_equals_one_grown_with_add(
    seed_fingerprints: list[ArticleFingerprint], filler_entries: list[CorpusEntry]
) -> None:
    entries = [_entry(f) for f in seed_fingerprints] + filler_entries[:40]
    stored = CorpusIndex(entries)
    grown = CorpusIndex()
    for entry in entries:
        grown.add(entry)
    mixed = CorpusIndex(entries[:3])
    for entry in entries[3:]:
        mixed.add(entry)
    for index in (grown, mixed):
        assert len(index) == len(stored) and index.sentence_count == stored.sentence_count
        assert [a.article_id for a in index.articles] == [a.article_id for a in stored.articles]
        for fingerprint in seed_fingerprints:
            assert index.near_duplicates(fingerprint.signature, 0.5) == stored.near_duplicates(fingerprint.signature, 0.5)
            for terms in term_arrays(fingerprint):
                assert index.closest_sentence(terms) == stored.closest_sentence(terms)
                for term in terms.tolist():
                    assert index.document_frequency(term) == stored.document_frequency(term)
            for key in fingerprint.number_keys:
                assert index.knows_number(key) and stored.knows_number(key)
            position = index.position(fingerprint.article_id)
            assert index.name_codes(position) == stored.name_codes(position) == frozenset(fingerprint.name_codes)


# --- the diff --------------------------------------------------------------------------------------


RELEASE = """Minsk lässt 31 politische Gefangene frei

Belarus hat am Dienstag 31 politische Gefangene freigelassen. Der US-Sondergesandte John Coale begleitete die Freigelassenen an die litauische Grenze. Unter ihnen ist auch die Journalistin Marfa Rabkowa, teilte die Menschenrechtsorganisation Wjasna in Vilnius mit."""

FOLLOW_UP = """Rabkowa spricht nach der Freilassung

Belarus hat am Dienstag 31 politische Gefangene freigelassen. Unter ihnen ist auch die Journalistin Marfa Rabkowa, teilte die Menschenrechtsorganisation Wjasna in Vilnius mit. Nach Angaben von Wjasna sitzen damit noch 1.100 politische Gefangene in belarussischer Haft."""


@pytest.mark.parametrize("number", range(5))
def test_a_seed_article_with_a_new_headline_is_a_duplicate(
    seed: CorpusIndex, seed_articles: list[Article], number: int
) -> None:
    original = seed_articles[number]
    _, development = _diff(f"Eine ganz neue Überschrift für alte Nachrichten\n\n{original.text}", seed)
    assert development.decision == DUPLICATE
    assert development.duplicate_of == original.article_id
    assert development.story_id == original.article_id
    assert development.closest_article_id == original.article_id
    assert development.novel_sentences == ["Eine ganz neue Überschrift für alte Nachrichten"]


def test_a_paraphrase_of_known_facts_is_a_rehash(seed: CorpusIndex) -> None:
    text = """Washington und Minsk rücken zusammen

Im Gegenzug für die Freilassung von 52 politischen Gefangenen hat Washington die Sanktionen gegen die belarussische Fluggesellschaft Belavia gelockert. Minsk hatte zweiundfünfzig Häftlinge an Litauen übergeben. Lukaschenko hofft nun auf weitere Erleichterungen durch die Regierung von Trump. Der Sondergesandte Coale gilt als Vertrauter des amerikanischen Präsidenten."""
    fingerprint, development = _diff(text, seed)
    # The facts are there (so the rehash is not for want of analysis) and all known.
    assert {"52 gefang", "52 haftling"} <= set(fingerprint.number_keys)
    assert development.new_facts == []
    assert development.decision == REHASH
    assert development.duplicate_of is None
    assert development.novel_sentence_count > 0  # new wording is not news


def test_known_names_in_another_transliteration_are_not_new(seed: CorpusIndex) -> None:
    # The seed writes Dmitriev and Lavrov; an article retelling the same Riad talks spells them
    # the German way. Transliterations are compared within the articles it retells (its context),
    # not the whole corpus, where short phonetic codes would collide by chance.
    _, development = _diff(
        "In Riad führten US-Außenminister Marco Rubio und der russische Außenminister Sergej Lawrow "
        "die erste Runde außergewöhnlicher Gespräche. Kirill Dmitrijew erklärte gegenüber CNN, eine "
        "Zusammenarbeit könne auch Energie-Deals umfassen.",
        seed,
    )
    assert [f for f in development.new_facts if f["kind"] == "name"] == []


def test_a_transliteration_outside_the_context_is_a_new_name(seed: CorpusIndex) -> None:
    _, development = _diff(
        "Ein Unternehmer namens Dmitrijew eröffnet in Gomel eine neue Bäckerei für Roggenbrot.", seed
    )
    assert "dmitrijew" in _facts(development, "name")


def test_a_new_count_of_a_known_noun_and_a_new_name_are_news(seed: CorpusIndex) -> None:
    assert seed.knows_number("52 gefang")
    _, development = _diff(RELEASE, seed)
    assert development.decision in ALERTING
    numbers, names = _facts(development, "number"), _facts(development, "name")
    assert numbers == {"31 gefang"}
    assert {"rabkowa", "wjasna"} <= names
    assert "coal" not in names  # the seed knows Coale
    fact = next(f for f in development.new_facts if f["kind"] == "number")
    assert fact["text"] == "31 politische Gefangene"
    assert fact["sentence"] == 0  # the headline says it first
    assert "Belarus hat am Dienstag 31 politische Gefangene freigelassen." in development.novel_sentences
    assert development.novelty_score > 0.5


def test_a_follow_up_of_an_earlier_article_is_an_update_in_its_story() -> None:
    index = seed_index()
    earlier = fingerprint_text("earlier", RELEASE)
    earlier.story_id = "story-of-the-release"  # the earlier article had joined a story itself
    index.add(_entry(earlier))
    _, development = _diff(FOLLOW_UP, index)
    assert development.decision == UPDATE
    assert development.story_id == "story-of-the-release"
    assert development.closest_article_id == "earlier"
    assert development.new_facts == [
        {"kind": "number", "text": "1.100 politische Gefangene", "key": "1100 gefang", "sentence": 3}
    ]
    assert development.novel_sentences == [
        "Rabkowa spricht nach der Freilassung",
        "Nach Angaben von Wjasna sitzen damit noch 1.100 politische Gefangene in belarussischer Haft.",
    ]
    known = [s for s in development.sentences if not s["novel"]]
    assert {s["counterpart_article_id"] for s in known} == {"earlier"}


def test_new_facts_were_never_known_to_the_corpus() -> None:
    """The labelled evaluation set, diffed in order as the flow would: no new number or name fact
    was in the corpus before its article."""
    index = seed_index()
    checked = 0
    for case in load_cases():
        fingerprint = fingerprint_text(f"eval-{case.id}", case.text)
        development = diff_article(fingerprint, index, NoveltyConfig(), topic_ids=[], decided_at=case.published)
        for fact in development.new_facts:
            key = str(fact["key"])
            if fact["kind"] == "number":
                value = key.split(" ", 1)[0]
                assert not index.knows_number(key), (case.id, fact)
                assert value  # known values of related articles are checked by the diff itself
            elif fact["kind"] == "name":
                assert not index.knows_term(term_hash(key)), (case.id, fact)
                assert not index.knows_term(term_hash(stem(key))), (case.id, fact)
            checked += 1
        fingerprint.story_id = development.story_id
        index.add(_entry(fingerprint))
    assert checked > 50


def test_a_known_quote_repeated_is_not_a_new_quote(seed: CorpusIndex) -> None:
    # The seed has Peskov's quote in "…"; here it is in „…“, in a sentence of its own wording.
    known = """Peskow bleibt bei seiner Linie

Kremlsprecher Dmitri Peskow hatte die Lage so beschrieben: „Die NATO befindet sich im Krieg mit Russland. Das ist offensichtlich und bedarf keiner zusätzlichen Beweise.“ Daran habe sich nach Ansicht Moskaus bis heute nichts geändert."""
    _, development = _diff(known, seed)
    assert _facts(development, "quote") == set()
    assert development.decision == REHASH
    # The same article with a quote the seed never had.
    new = known.replace(
        "Die NATO befindet sich im Krieg mit Russland. Das ist offensichtlich und bedarf keiner zusätzlichen Beweise.",
        "Die Gespräche mit Washington kommen langsamer voran als erhofft.",
    )
    _, development = _diff(new, seed)
    assert _facts(development, "quote") == {"Die Gespräche mit Washington kommen langsamer voran als erhofft."}
    assert development.decision in ALERTING


SHORT_QUOTE_ORIGINAL = """Chrenin empfängt US-Offiziere beim Manöver

Der belarussische Verteidigungsminister Viktor Chrenin begrüßte die beiden amerikanischen Offiziere am Montag persönlich auf dem Übungsgelände bei Borissow. „Wir verstecken nichts. Wir zeigen Ihnen, was auch immer Sie wollen!“, sagte Chrenin zur Begrüßung der Gäste. Danach ließ er die Delegation zu den besten Plätzen auf der Tribüne führen, um das gesamte Manöver zu beobachten."""


def test_a_verbatim_copy_of_a_short_sentence_quote_is_a_duplicate() -> None:
    index = CorpusIndex([_entry(fingerprint_text("original", SHORT_QUOTE_ORIGINAL))])
    copy = SHORT_QUOTE_ORIGINAL.replace(
        "Chrenin empfängt US-Offiziere beim Manöver", "Belarus öffnet Manöver für amerikanische Beobachter"
    )
    _, development = _diff(copy, index)
    assert development.new_facts == []
    assert (development.decision, development.duplicate_of) == (DUPLICATE, "original")


def test_a_new_multi_sentence_quote_names_its_sentence(seed: CorpusIndex) -> None:
    text = (
        "Coale äußert sich in Minsk\n\n"
        "Der Sondergesandte sprach am Abend vor Journalisten. „Wir bleiben. Die Verhandlungen über weitere "
        "Freilassungen gehen in der kommenden Woche weiter.“"
    )
    _, development = _diff(text, seed)
    quotes = [f for f in development.new_facts if f["kind"] == "quote"]
    assert len(quotes) == 1
    assert quotes[0]["sentence"] == 2


def test_a_name_known_in_the_genitive_is_known_in_the_nominative() -> None:
    index = CorpusIndex([_entry(fingerprint_text(
        "corpus", "Die Anhänger Moronenkos protestierten gestern lautstark vor dem Parlament in Warschau."
    ))])
    _, development = _diff("Moronenko kündigte gestern weitere Proteste vor dem Parlament in Warschau an.", index)
    assert development.new_facts == []


def test_a_name_known_in_the_nominative_is_known_in_the_genitive() -> None:
    index = CorpusIndex([_entry(fingerprint_text(
        "corpus", "Moronenko kündigte gestern weitere Proteste vor dem Parlament in Warschau an."
    ))])
    _, development = _diff("Die Anhänger Moronenkos protestierten gestern lautstark vor dem Parlament in Warschau.", index)
    assert development.new_facts == []
    assert development.decision == REHASH


# --- the novelty stage of a pass -------------------------------------------------------------------


def _article(article_id: str, title: str, text: str, minute: int, outlet: str) -> Article:
    return Article(
        article_id=article_id, url=f"https://{outlet}/{article_id}", url_key=f"{outlet}/{article_id}",
        title=title, text=text, text_source="page", language="de", outlet=outlet, site_name=outlet,
        published_at=NOW + timedelta(minutes=minute),
    )


AGENCY_TITLE, AGENCY_BODY = RELEASE.split("\n\n", 1)


def _stage(articles: list[Article], topics: dict[str, list[str]], config: NoveltyConfig | None = None,
           fingerprinted: list[Article] | None = None) -> tuple[CorpusIndex, list[Development], dict[str, ArticleFingerprint]]:
    index = seed_index()
    fingerprints = {a.article_id: fingerprint_article(a) for a in (articles if fingerprinted is None else fingerprinted)}
    developments = diff_new_articles(index, articles, fingerprints, topics, config or NoveltyConfig(), decided_at=NOW)
    return index, developments, fingerprints


def test_the_first_outlet_in_a_pass_has_the_news_and_the_second_a_copy() -> None:
    first = _article("ostsee-1", AGENCY_TITLE, AGENCY_BODY + "\nMit Material von NDP", 0, "ostsee-kurier.de")
    second = _article("alpen-1", "Belarus entlässt Häftlinge", AGENCY_BODY, 25, "alpenpost.de")
    # Handed over in the wrong order: the stage goes by publication time.
    index, developments, fingerprints = _stage([second, first], {"ostsee-1": ["belarus"], "alpen-1": ["belarus"]})
    assert [d.article_id for d in developments] == ["ostsee-1", "alpen-1"]
    news, copy = developments
    assert news.decision in ALERTING and news.story_id == "ostsee-1"
    assert (copy.decision, copy.duplicate_of, copy.story_id) == (DUPLICATE, "ostsee-1", "ostsee-1")
    assert fingerprints["alpen-1"].story_id == "ostsee-1"
    assert copy.topic_ids == ["belarus"]
    assert index.position("ostsee-1") is not None and index.position("alpen-1") is not None


def test_unmatched_articles_are_not_decided_but_join_the_corpus() -> None:
    unmatched = _article("unmatched", AGENCY_TITLE, AGENCY_BODY, 0, "ostsee-kurier.de")
    matched = _article("matched", "Belarus entlässt Häftlinge", AGENCY_BODY, 30, "alpenpost.de")
    index, developments, _ = _stage([matched, unmatched], {"matched": ["belarus"]})
    assert [d.article_id for d in developments] == ["matched"]
    assert (developments[0].decision, developments[0].duplicate_of) == (DUPLICATE, "unmatched")
    assert index.position("unmatched") is not None


def test_articles_without_fingerprint_are_skipped(seed_articles: list[Article]) -> None:
    english = _article("english", "Belarus frees prisoners", "Belarus freed 31 political prisoners on Tuesday.", 0, "bbc.com")
    german = _article("german", AGENCY_TITLE, AGENCY_BODY, 10, "ostsee-kurier.de")
    index, developments, _ = _stage(
        [english, german], {"english": ["belarus"], "german": ["belarus"]}, fingerprinted=[german]
    )
    assert [d.article_id for d in developments] == ["german"]
    assert index.position("english") is None
    assert len(index) == len(seed_articles) + 1


def test_min_new_facts_decides_whether_one_new_fact_is_enough() -> None:
    text = (
        "Die Menschenrechtsorganisation Wjasna fordert die sofortige Freilassung aller politischen "
        "Gefangenen in Belarus und wirft der Regierung in Minsk neue Verhaftungen vor."
    )
    article = _article("one-fact", "Forderung nach Freilassung", text, 0, "ostsee-kurier.de")
    topics = {"one-fact": ["belarus"]}
    _, (default,), _ = _stage([article], topics)
    assert [(f["kind"], f["key"]) for f in default.new_facts] == [("name", "wjasna")]
    assert default.decision in ALERTING
    _, (strict,), _ = _stage([article], topics, NoveltyConfig(min_new_facts=3))
    assert strict.new_facts == default.new_facts
    assert strict.decision == REHASH


def test_min_novel_share_decides_whether_a_follow_up_says_enough_that_is_new() -> None:
    """FOLLOW_UP repeats two of RELEASE's sentences: a new number, but less than half of it is new."""
    release = _article("release", AGENCY_TITLE, AGENCY_BODY, 0, "ostsee-kurier.de")
    title, body = FOLLOW_UP.split("\n\n", 1)
    follow_up = _article("follow-up", title, body, 120, "alpenpost.de")
    topics = {"release": ["belarus"], "follow-up": ["belarus"]}
    _, (_, default), _ = _stage([release, follow_up], topics)
    assert default.decision == UPDATE and default.story_id == "release"
    _, (_, strict), _ = _stage([release, follow_up], topics, NoveltyConfig(min_novel_share=0.6))
    assert strict.new_facts == default.new_facts and strict.novel_sentences == default.novel_sentences
    assert strict.decision == REHASH


def test_every_real_german_fixture_article_can_be_fingerprinted() -> None:
    """Real pages carry prices and percentages (`5,99 Euro`, `49,9 Prozent`) the year test once
    choked on; every hand-checked German body must analyse without an error."""
    from fundus import FUNDUS, load_pages

    if not FUNDUS.is_dir():
        pytest.skip(f"{FUNDUS} is not here (the shared fixtures sit beside the repository)")
    pages = load_pages("de")
    for page in pages:
        fingerprint = fingerprint_text(page.name, f"{page.title or ''}\n\n{page.body}")
        assert len(fingerprint.sentences) >= 3, page.name
        assert len(term_arrays(fingerprint)) == len(fingerprint.sentences)
    assert len(pages) > 50


def test_number_facts_with_decimals_are_not_years() -> None:
    facts = {f.key for f in number_facts("Das Ticket kostet 5,99 Euro, die Quote liegt bei 49,9 Prozent.")}
    assert facts == {"5.99 euro", "49.9 prozent"}


# --- fingerprints made in the extraction workers ----------------------------------------------------


def _corpus_texts() -> list[str]:
    """Real German text: the seed corpus, the labelled evaluation set and (when present) the fundus pages."""
    from fundus import FUNDUS, load_pages

    from novelty.fingerprint import article_text

    texts = [article_text(a) for a in read_seed_corpus(BUNDLED_SEED_CORPUS)] + [case.text for case in load_cases()]
    if FUNDUS.is_dir():
        texts += [f"{page.title or ''}\n\n{page.body}" for page in load_pages("de")]
    return texts


def test_minhash_signature_equals_datasketch() -> None:
    """The signature is computed without datasketch (it imports SciPy into every worker), to the bit
    what datasketch's MinHash (affine32, seed 1, sha1_hash32) makes of the same 3-grams."""
    from datasketch import MinHash

    from novelty.fingerprint import NUM_PERM, minhash_signature
    from novelty.text import shingles

    permutations = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32").permutations
    texts = _corpus_texts() + ["", " \n ", "Wort", "zwei Wörter", "drei kleine Wörter", "Wort " * 50, "1.000 2,5 3"]
    for text in texts:
        reference = MinHash(num_perm=NUM_PERM, seed=1, permutations=permutations, scheme="affine32")
        grams = shingles(text)
        if grams:
            reference.update_batch(grams)
        signature = minhash_signature(text)
        assert signature.dtype == np.uint32
        assert signature.tobytes() == reference.hashvalues.astype(np.uint32).tobytes(), text[:60]
    assert len(texts) > 70


def test_worker_fingerprints_leave_the_analysis_behind_and_the_diff_redoes_it_identically() -> None:
    """`fingerprint_articles` (what the workers run) returns fingerprints without their sentence
    analysis, which is most of their objects; the diff redoes it from the sentences, and decides
    exactly as with the analysis `fingerprint_text` made."""
    from novelty.fingerprint import fingerprint_articles, fingerprint_corpus_articles, sentence_analysis
    from novelty.text import analyse

    for text in _corpus_texts()[:60]:
        full = fingerprint_text("x", text)
        assert full.analysis and sentence_analysis(full) is full.analysis
        light = fingerprint_text("x", text)
        light.analysis = []
        assert sentence_analysis(light) == full.analysis == analyse(text[:100_000])
    articles = [
        _article("first", AGENCY_TITLE, AGENCY_BODY, 0, "ostsee-kurier.de"),
        _article("second", "Belarus entlässt Häftlinge", AGENCY_BODY, 25, "alpenpost.de"),
        _article("third", *FOLLOW_UP.split("\n\n", 1), 120, "alpenpost.de"),
    ]
    shipped = fingerprint_articles(articles)
    assert [f.analysis for f in shipped] == [[], [], []]
    assert [f.analysis for f in fingerprint_corpus_articles(articles)] == [[], [], []]
    assert shipped == [fingerprint_article(a) for a in articles]  # analysis is not compared
    topics = {a.article_id: ["belarus"] for a in articles}
    _, expected, _ = _stage(articles, topics)
    developments = diff_new_articles(
        seed_index(), articles, {f.article_id: f for f in shipped}, topics, NoveltyConfig(), decided_at=NOW
    )
    assert developments == expected
    assert [d.decision for d in developments][:2] != [REHASH, REHASH]
