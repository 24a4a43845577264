"""German text analysis for the diff: sentences, their content terms, and the facts they state.

Sentences
    spaCy's German tokenizer with its rule-based `sentencizer` (no model download): its German
    tokenizer exceptions keep `z. B.`, `u. a.`, `Dr.`, `Nr.`, `St.`, dates (`14.11.2025`) and
    ordinals (`3. Dezember`) inside a sentence. A line without final punctuation (a headline or
    a subheading) is a sentence of its own. Measured on the seed corpus: about 11 ms per
    1,000 words, against 53 ms for pysbd and 89 ms for SoMaJo, with the same boundaries on our
    abbreviation/date/quote cases; syntok was faster but split `u. a.` and `3. Dezember`.

Content terms
    The words that carry meaning, as the topic matcher sees them (matching/normalise.py): folded
    (case, umlauts, ß, accents), German stop words dropped, Snowball stems; numbers with their
    group separators removed (`100.000` -> `100000`). A term is stored as the CRC-32 of its stem.

Facts
    - numbers with the noun they count: `52 politische Gefangene` -> (52, `gefang`), also
      `zweiundfünfzig Häftlinge`; dates, times, years, ordinals and page numbers are not facts;
    - names and organisations: a capitalised word that is not a German word or compound in the
      lexicon (`Coale`, `Witkoff`, `Bjaljazki`), or an acronym (`OSZE`, `KGB`). A name the
      lexicon can read as a compound (`Belaruskali` = Belarus + Kali) is not recognised as a
      name; its words still count in the sentence comparison;
    - direct quotes: text inside „…“, »…«, "…" of at least four words.
"""

from __future__ import annotations

import re
import threading
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

from matching.normalise import TOKEN_RE, default_decomposer, default_lexicon, fold, stem, word_spans

MIN_QUOTE_WORDS = 4

_NLP_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _german_pipeline():  # noqa: ANN202 - spaCy's Language, imported lazily (about 2 s, 100 MB)
    import spacy

    nlp = spacy.blank("de")
    nlp.add_pipe("sentencizer")
    return nlp


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.de.stop_words import STOP_WORDS

    extra = {"sagte", "sagt", "heisst", "hiess", "laut", "demnach", "zudem", "bereits", "sowie"}
    return frozenset(fold(word) for word in STOP_WORDS | extra)


# A paragraph break, or a line that does not end like a sentence (headline, subheading, caption).
_LINE_END = re.compile(r"\n\s*\n|(?<![.!?:;,“”\"»«)])\s*\n(?!\s*[a-zäöüß])")


def split_sentences(text: str) -> list[str]:
    """The sentences of an article text, in order, whitespace normalised."""
    blocks = [" ".join(block.split()) for block in _LINE_END.split(text)]
    blocks = [block for block in blocks if block]
    if not blocks:
        return []
    with _NLP_LOCK:  # the pipeline is shared; spaCy objects are not documented as thread-safe
        docs = list(_german_pipeline().pipe(blocks))
    sentences: list[str] = []
    for doc in docs:
        carried = ""
        for span in doc.sents:
            text = carried + span.text
            carried = ""
            # The sentencizer leaves an opening quote mark („ » ‚) at the end of the sentence
            # before the quote; it belongs to the next one.
            opening = _TRAILING_OPENING_QUOTE.search(text)
            if opening:
                carried, text = opening.group(1), text[: opening.start()].rstrip()
            if text.strip():
                sentences.extend(_split_after_numbers(text))
        if carried and sentences:
            sentences[-1] += " " + carried
    return sentences


# spaCy keeps a number and its full stop together ("2025.", "16.09.2025."), as it must for
# ordinals ("am 3. Dezember"); an ordinal is followed by a noun, a new sentence by any word, so a
# function word after "<number>." ("2025. Danach", "52. Die") starts a sentence.
_NUMBER_STOP = re.compile(r"(?<=\d\.)\s+(?=([A-ZÄÖÜ][a-zäöüß]*)\b)")


def _split_after_numbers(sentence: str) -> list[str]:
    parts, start = [], 0
    for match in _NUMBER_STOP.finditer(sentence):
        if fold(match.group(1)) in _stop_words():
            parts.append(sentence[start : match.start()])
            start = match.end()
    parts.append(sentence[start:])
    return [part for part in parts if part.strip()]


_TRAILING_OPENING_QUOTE = re.compile(r"\s([„»‚]|\"(?=$))$")


def term_hash(term: str) -> int:
    return zlib.crc32(term.encode())


def _number_value(surface: str) -> str | None:
    """`100.000` -> `100000`, `3,5` -> `3.5`; None for dates, times and the like."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", surface):
        return surface.replace(".", "")
    if re.fullmatch(r"\d+,\d+", surface):
        return surface.replace(",", ".")
    if surface.isdigit():
        return str(int(surface))
    return None


_HYPHEN = re.compile(r"[-\u2010\u2011]")


@lru_cache(maxsize=262_144)
def _term(part: str) -> str | None:
    """The content term of one word (part), or None for a stop word; cached: news vocabulary is
    Zipf-distributed, so most words of an article were seen in the articles before it."""
    if part[0].isdigit():
        return _number_value(part)
    folded = fold(part).strip("'\u2019")
    if len(folded) < 2 or folded in _stop_words():
        return None
    return stem(folded)


@lru_cache(maxsize=262_144)
def _folded(word: str) -> str:
    return fold(word)


def content_terms(sentence: str) -> list[str]:
    """The stems of a sentence's meaningful words, in order, without repeats."""
    seen: dict[str, None] = {}
    for surface, _, _ in word_spans(sentence):
        for part in _HYPHEN.split(surface) if "-" in surface or "\u2010" in surface or "\u2011" in surface else (surface,):
            if part:
                term = _term(part)
                if term is not None:
                    seen.setdefault(term)
    return list(seen)


# --- numbers with the noun they count --------------------------------------------------------------

_UNITS = {
    "ein": 1, "eine": 1, "einen": 1, "zwei": 2, "drei": 3, "vier": 4, "funf": 5, "sechs": 6,
    "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwolf": 12, "dreizehn": 13,
    "vierzehn": 14, "funfzehn": 15, "sechzehn": 16, "siebzehn": 17, "achtzehn": 18, "neunzehn": 19,
}
_TENS = {"zwanzig": 20, "dreissig": 30, "vierzig": 40, "funfzig": 50, "sechzig": 60, "siebzig": 70,
         "achtzig": 80, "neunzig": 90}
_SCALES = {"hundert": 100, "tausend": 1000}
_MULTIPLIERS = {"million": 1_000_000, "millionen": 1_000_000, "mio": 1_000_000,
                "milliarde": 1_000_000_000, "milliarden": 1_000_000_000, "mrd": 1_000_000_000}
# Words that follow a number without being what it counts.
_NOT_COUNTED = frozenset(
    fold(w) for w in (
        "Uhr", "Jahr", "Jahre", "Jahren", "Jahres", "Prozentpunkte", "Mal", "Seite", "Seiten", "Nr",
        "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
        "November", "Dezember", "Minuten", "Min", "Lesezeit", "Wörter", "Zeichen", "Kommentare", "Bilder",
        "Fotos", "Seiten", "Priorität",
    )
)


def number_word_value(folded: str) -> int | None:
    """German number words up to the thousands: `zweiundfunfzig` -> 52, `dreihundert` -> 300."""
    if folded in _UNITS and folded not in ("ein", "eine", "einen"):
        return _UNITS[folded]
    if folded in _TENS:
        return _TENS[folded]
    match = re.fullmatch(r"(\w+?)und(\w+zig|dreissig)", folded)
    if match and match.group(1) in _UNITS and match.group(2) in _TENS:
        return _UNITS[match.group(1)] + _TENS[match.group(2)]
    for scale, factor in _SCALES.items():
        if folded.endswith(scale) and folded != scale:
            head = folded[: -len(scale)]
            if head in _UNITS:
                return _UNITS[head] * factor
    if folded in ("dutzend", "dutzende"):
        return None
    return None


# Words that may be number words (checked by number_word_value): the regex finds the few
# candidates of a sentence in one scan instead of folding every word.
_NUMBER_WORD = re.compile(
    r"(?<!\w)(?:ein(?:und|hundert|tausend)|zwei|drei|vier|f(?:ü|ue|u)nf|sechs|sieben|acht|neun|zehn|elf|zw(?:ö|oe|o)lf|"
    r"zwanzig|drei(?:ß|ss)ig|vierzig|f(?:ü|ue|u)nfzig|sechzig|siebzig|achtzig|neunzig)\w*(?!\w)",
    re.IGNORECASE,
)
_NUMBER_TOKEN = re.compile(
    r"(?<![\w.,:/])(\d{1,3}(?:\.\d{3})+|\d+(?:,\d+)?)(?![\w.,:/]*\d)(?!\.\s*(?:[A-ZÄÖÜ]|\d))"
)
_WORD = re.compile(r"[^\W\d_][\w\-\u00ad]*")


@dataclass(frozen=True, slots=True)
class NumberFact:
    value: str  # normalised: "52", "3.5", "1200000"
    noun: str  # stem of the counted noun: "gefang"
    text: str  # as written: "52 politische Gefangene"

    @property
    def key(self) -> str:
        return f"{self.value} {self.noun}"


def _counted_noun(rest: str) -> tuple[str, int] | None:
    """After a number: up to two lower-case words (adjectives, not articles or prepositions:
    `737 der Gesellschaft` counts nothing), then a capitalised noun, separated by spaces only."""
    words = list(_WORD.finditer(rest))
    previous_end = 0
    for index, word in enumerate(words[:3]):
        surface = word.group()
        if not rest[previous_end : word.start()].isspace():
            return None  # punctuation in between: `30“ Freigelassene`, `3, Die`
        previous_end = word.end()
        if surface[0].isupper():
            folded = fold(surface.split("-")[-1])
            if folded in _NOT_COUNTED or not folded.isalpha():
                return None
            return stem(folded), word.end()
        if index == 2 or fold(surface) in _stop_words():
            return None
    return None


def number_facts(sentence: str) -> list[NumberFact]:
    """Numbers with what they count. Years, dates, times and ordinals are left out."""
    facts: list[NumberFact] = []
    candidates: list[tuple[str, int, int]] = []
    for match in _NUMBER_TOKEN.finditer(sentence):
        value = _number_value(match.group(1))
        if value is None:
            continue
        if match.group(1).isdigit() and len(match.group(1)) == 4 and 1900 <= int(match.group(1)) <= 2100:
            continue  # a year
        candidates.append((value, match.start(), match.end()))
    for word in _NUMBER_WORD.finditer(sentence):
        value = number_word_value(fold(word.group()))
        if value is not None:
            candidates.append((str(value), word.start(), word.end()))
    for value, start, end in candidates:
        rest = sentence[end : end + 80]
        multiplier = re.match(r"\s*(Millionen|Million|Milliarden|Milliarde|Mio|Mrd|Tausend)(?!\w)\.?", rest)
        if multiplier:
            factor = _MULTIPLIERS.get(fold(multiplier.group(1).rstrip(".")), 1000)
            value = f"{float(value) * factor:.0f}"
            end += multiplier.end()
            rest = sentence[end : end + 80]
        noun = _counted_noun(rest)
        if noun is None:
            continue
        facts.append(NumberFact(value, noun[0], sentence[start : end + noun[1]]))
    return facts


# --- names and organisations -----------------------------------------------------------------------

_NAME_TOKEN = re.compile(r"(?<![\w\-])([A-ZÄÖÜ][\w\u00ad]*(?:-[A-ZÄÖÜ][\w]*)*)")
_ACRONYM = re.compile(r"^[A-ZÄÖÜ]{2,6}s?$")
# Capitalised words that open bylines and credits: what follows them is staff, not news.
_CREDIT = re.compile(r"(?:\b(?:Bild|Foto|Fotos|Quelle|Quellen|Mit Material von|Autor|Autorin|Copyright)\s*:|©|^\s*Von\b)")


@lru_cache(maxsize=65536)
def name_key(surface: str) -> str | None:
    """The stem a name is known by, or None when `surface` is a German word, not a name."""
    surface = surface.replace("\u00ad", "")
    if _ACRONYM.match(surface):
        return fold(surface.removesuffix("s") if surface.endswith("s") and surface[:-1].isupper() else surface)
    if len(surface) < 3 or not surface[1:].replace("-", "").islower():
        return None
    folded = fold(surface)
    if folded in _stop_words():
        return None
    lexicon = default_lexicon()
    if lexicon.known(folded) or (folded.endswith("s") and lexicon.known(folded[:-1])):
        return None
    if default_decomposer().is_compound(folded) or _two_words(folded, lexicon):
        return None
    return stem(folded)


def _two_words(folded: str, lexicon) -> bool:  # noqa: ANN001
    """`exportweg`, `kaliweg`: two German words, the second shorter than the decomposer's minimum."""
    for cut in range(4, len(folded) - 2):
        head, tail = folded[:cut], folded[cut:]
        if lexicon.known(tail) and (lexicon.known(head) or (head.endswith("s") and lexicon.known(head[:-1]))):
            return True
    return False


MIN_PHONETIC_CODE = 4  # shorter Cologne codes ("45" for Coale) collide with too many words


@lru_cache(maxsize=65536)
def phonetic_code(name: str) -> str | None:
    """The Cologne phonetic code of a name, so transliterations compare equal: `Dmitrijew` =
    `Dmitriev`, `Lawrow` = `Lavrov`, `Borissow` = `Borisov`, `Lukaschenko` = `Lukashenko`."""
    import cologne_phonetics

    if len(name) > 4 and name.endswith("s") and not name.endswith("ss"):
        name = name[:-1]  # genitive: `Moronenkos` is `Moronenko` (both sides are coded alike)
    codes = cologne_phonetics.encode(name.replace("-", " "))
    code = "".join(code for _, code in codes)
    return code if len(code) >= MIN_PHONETIC_CODE else None


def name_mentions(sentence: str) -> list[tuple[str, str]]:
    """(surface, key) of the names and organisations in a sentence, without repeats."""
    found: dict[str, str] = {}
    credit = _CREDIT.search(sentence)
    for match in _NAME_TOKEN.finditer(sentence):
        if credit is not None and match.start() >= credit.end():
            break  # a photo credit or byline: agencies and photographers, not news
        for part in match.group(1).split("-"):
            key = name_key(part) if part else None
            if key is not None and key not in found.values():
                found[part] = key
    return list(found.items())


# --- direct quotes ---------------------------------------------------------------------------------

# German „…“ and ‚…‘, guillemets »…« (German) and «…» (Swiss), typewriter "…", English “…”.
# An English-style “ opens a quote only after a space, a colon or a line start: in German text
# the same character closes one („…“), and must not open a quote that runs to the next ”.
_QUOTE = re.compile(
    r"„([^“”\"„]{3,600})[“”\"]"
    r"|‚([^‘’‚]{3,600})[‘’]"
    r"|»([^«»]{3,600})«"
    r"|«([^«»]{3,600})»"
    r"|(?<![\w.,!?])\"([^\"„“”]{3,600})\""
    r"|(?:(?<=^)|(?<=[\s:(]))“([^“”„]{3,600})”"
)


def direct_quotes(text: str) -> list[tuple[str, int]]:
    """Direct quotes of at least MIN_QUOTE_WORDS words with where they start in `text` (scare
    quotes around a name or a term are not quotes)."""
    quotes = []
    for match in _QUOTE.finditer(text):
        quote = " ".join(next(group for group in match.groups() if group is not None).split())
        if len(quote.split()) >= MIN_QUOTE_WORDS:
            quotes.append((quote, match.start()))
    return quotes


# --- shingles for near-duplicate detection ---------------------------------------------------------

SHINGLE_WORDS = 3


def shingles(text: str) -> set[bytes]:
    """Word 3-grams of the folded text (stop words kept: they make copied wording recognisable)."""
    words = list(map(_folded, TOKEN_RE.findall(text)))  # the words of `word_spans`, without offsets
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode()} if words else set()
    return {f"{a} {b} {c}".encode() for a, b, c in zip(words, words[1:], words[2:])}  # SHINGLE_WORDS = 3


@dataclass(slots=True)
class SentenceFacts:
    """One sentence with what the diff compares."""

    text: str
    terms: list[str]
    numbers: list[NumberFact] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)


def analyse(text: str) -> list[SentenceFacts]:
    return analyse_sentences(split_sentences(text))


def analyse_sentences(sentences: list[str]) -> list[SentenceFacts]:
    """The analysis of sentences already split (`split_sentences`): no spaCy needed."""
    return [
        SentenceFacts(sentence, content_terms(sentence), number_facts(sentence), name_mentions(sentence))
        for sentence in sentences
    ]
