"""German normalisation for topic matching: tokens, folding, stems and compound decomposition.

Everything here works on *words*; the query language (matching/query.py) and the matcher
(matching/matcher.py) are built on top of it. The rules, in the order they apply:

Tokens
    A word is a run of letters and digits; hyphens and apostrophes inside a word keep it together
    (`US-Sanktionen`, `Trump's`), soft hyphens are ignored, quotes and other punctuation separate
    words. Numbers keep their group separators (`100.000`, `3,5`). A hyphenated word is also
    split: `US-Sanktionen` occupies two positions (`US`, `Sanktionen`) and its joined form
    (`ussanktionen`) is analysed as well, at the position of its first part.

Folding (`fold`)
    Lower case; `ß` -> `ss`; `ä ö ü` and their spellings `ae oe ue` -> `a o u` (so `Weißrussland`
    = `Weissrussland`, `Gespräch` = `Gespraech`); other accents are removed (`Łukaszenka` ->
    `lukaszenka`, `Pérez` -> `perez`). `ue` after a vowel or `q` is kept (`neue`, `Bauer`,
    `Quelle`), as the Snowball German stemmer does.

Stems (`stem`)
    The Snowball German stemmer (PyStemmer) on the folded word: `Sanktionen` -> `sanktion`,
    `Gefangener`/`Gefangene`/`Gefangenen` -> `gefang`, `Bänke` -> `bank`. A trailing genitive `s`
    that Snowball keeps on names (`Trumps`, `Lukaschenkos`) is also tried without the `s`.

Compounds (`Decomposer`)
    A query word matches a longer word when it is one of that word's *components*:

        modifier + query word + rest      (any of modifier and rest may be empty, not both)

    - the query word may be inflected and may carry a linking element (Fugen-`s`, `es`, `n`,
      `en`, `er`, `e`, `ens`, `ns`) before the rest: `Sanktion` in `Sanktionserleichterungen`,
      `Gefangener` in `Gefangenenlager`;
    - the modifier (`Sonder` in `Sondergesandter`, `Wirtschafts` in `Wirtschaftssanktionen`)
      must be a German word (or a compound of German words), optionally followed by a linking
      element, at least 3 letters long, not a bare verb particle or prefix such as `ver`, `vor`,
      `ein`, `be`, `mit`, `über` (`Vorrat`, `Verrat`, `eintreffen` are derivations, not
      compounds) and must not end inside `sch`/`ch`/`ck` (`Botschaft` is not `Bots` + `chaft`);
    - the rest (`erleichterungen`) must be a German word or a compound of German words, at least
      4 letters, and not a derivational suffix (`belarus|sisch`);
    - query words shorter than 3 letters after folding only match whole words;
    - a lower-case word (an adjective or verb in German) never has a suffix-like head such as
      `haft`, `lich`, `los`: `Haft` does not match `ernsthaft`.

    "A German word" is decided by a lexicon of 1.1 million German word forms (the dictionary
    shipped with simplemma), reduced to a table of hashed folded forms and cached on disk. So
    `Kali` matches `Kalidünger` and `Belaruskali` but not `Kaliningrad` or `Kalifornien`,
    and `Rat` matches `Sicherheitsrat` but not `Ratte`, `Beratung`, `Ratifizierung` or
    `Demokraten`.
"""

from __future__ import annotations

import array
import bisect
import os
import re
import tempfile
import threading
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import Stemmer

# --- tokens ---------------------------------------------------------------------------------------

_LETTER = r"(?:[^\W_]|[\u0300-\u036f\u00ad])"  # letters, digits, combining accents, soft hyphen
_NUMBER = r"\d+(?:[.,]\d+)+"
_WORD = rf"{_LETTER}+(?:[-\u2010\u2011'\u2019]{_LETTER}+)*"
TOKEN_RE = re.compile(rf"{_NUMBER}|{_WORD}")
_HYPHENS = re.compile(r"[-\u2010\u2011]")
_APOSTROPHES = "'\u2019"


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text. `position` counts words; the joined form of a hyphenated word shares
    the position of its first part (`joined=True`)."""

    surface: str
    start: int
    end: int
    position: int
    joined: bool = False

    @property
    def folded(self) -> str:
        return fold(self.surface)


def word_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Raw words with their character offsets (hyphenated words whole)."""
    for match in TOKEN_RE.finditer(text):
        yield match.group(), match.start(), match.end()


def split_word(surface: str) -> list[tuple[str, int, int]]:
    """The parts of a hyphenated word with offsets relative to the word; [(surface, 0, len)]
    for a plain word."""
    if "-" not in surface and "\u2010" not in surface and "\u2011" not in surface:
        return [(surface, 0, len(surface))]
    parts = []
    start = 0
    for hyphen in _HYPHENS.finditer(surface):
        parts.append((surface[start : hyphen.start()], start, hyphen.start()))
        start = hyphen.end()
    parts.append((surface[start:], start, len(surface)))
    return parts


def tokenize(text: str) -> list[Token]:
    """Words of `text` for matching: hyphenated words give their parts and their joined form."""
    tokens: list[Token] = []
    position = 0
    for surface, start, end in word_spans(text):
        parts = split_word(surface)
        if len(parts) > 1:
            tokens.append(Token(surface, start, end, position, joined=True))
        for part, part_start, part_end in parts:
            tokens.append(Token(part, start + part_start, start + part_end, position))
            position += 1
    return tokens


# --- folding --------------------------------------------------------------------------------------

_FOLD_TABLE = str.maketrans(
    {
        "ä": "a", "ö": "o", "ü": "u", "ß": "ss", "ẞ": "ss",
        "ł": "l", "ø": "o", "đ": "d", "ð": "d", "ı": "i", "ħ": "h", "ŀ": "l",
        "æ": "ae", "œ": "oe", "þ": "th",
        "\u00ad": None, "'": None, "\u2019": None, "-": None, "\u2010": None, "\u2011": None,
    }
)
# `ae oe ue` are spellings of ä ö ü, except `ue` after a vowel (neue, Bauer) or `q` (Quelle):
# the same rule as the Snowball German stemmer, so stems stay prefixes of folded words.
_DIGRAPH = re.compile(r"([ao])e|(?<![aeiouyq])(u)e")


def fold(word: str) -> str:
    """Case, umlaut, ß and accent folding of one word: `Weißrussland` -> `weissrussland`,
    `Gespräch`/`Gespraech` -> `gesprach`, `Łukaszenka` -> `lukaszenka`."""
    folded = word.lower().translate(_FOLD_TABLE)
    if not folded.isascii():
        folded = _strip_accents(folded)
    if "e" in folded:
        folded = _DIGRAPH.sub(r"\1\2", folded)
    return folded


# --- stems ----------------------------------------------------------------------------------------

_STEMMER_LOCAL = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_STEMMER_LOCAL, "stemmer", None)
    if stemmer is None:  # PyStemmer objects are not thread-safe: one per thread
        stemmer = _STEMMER_LOCAL.stemmer = Stemmer.Stemmer("german")
    return stemmer


def stem(folded: str) -> str:
    """Snowball German stem of an already folded word (`sanktionen` -> `sanktion`)."""
    if not folded.isalpha():
        return folded  # numbers and mixed tokens (`2025`, `f35`) are compared as they are
    return _stemmer().stemWord(folded)


def word_keys(folded: str) -> tuple[str, ...]:
    """The stems a folded word is known by: its stem, and for a genitive `s` the Snowball stemmer
    keeps (`trumps`, `lukaschenkos`), the stem without it."""
    key = stem(folded)
    if key.endswith("s") and len(folded) > 4 and folded.isalpha():
        other = stem(folded[:-1])
        if other != key:
            return (key, other)
    return (key,)


# --- lexicon ---------------------------------------------------------------------------------------

LEXICON_FORMAT = 2


class Lexicon:
    """Is this (folded) string a German word form? A sorted table of CRC-32 hashes of the ~1.1
    million German word forms (inflected forms included) in simplemma's dictionary, folded (about
    4 MB in memory; a random non-word is taken for a word with probability about 3e-4)."""

    def __init__(self, hashes: array.array) -> None:
        self._hashes = hashes

    def known(self, folded: str) -> bool:
        key = zlib.crc32(folded.encode())
        hashes = self._hashes
        index = bisect.bisect_left(hashes, key)
        return index < len(hashes) and hashes[index] == key

    @classmethod
    def from_words(cls, words: list[str] | set[str]) -> Lexicon:
        return cls(_hash_table(fold(w) for w in words))

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> Lexicon:
        """simplemma's German dictionary as a hash table, cached in `cache_dir` (default:
        $NEWSWATCH_CACHE_DIR, else $XDG_CACHE_HOME/newswatch, else ~/.cache/newswatch). Building
        takes a few seconds once; an unwritable cache only costs that again next time."""
        folder = cache_dir or _cache_dir()
        versions = f"simplemma{_version('simplemma')}-pystemmer{_version('pystemmer')}"
        name = f"lexicon-de-v{LEXICON_FORMAT}-{versions}.bin"
        path = folder / name
        try:
            data = path.read_bytes()
            hashes = array.array("I")
            hashes.frombytes(data)
            if len(hashes) > 100_000:
                return cls(hashes)
        except (OSError, ValueError):
            pass
        hashes = _build_simplemma_table()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as handle:
                handle.write(hashes.tobytes())
            os.replace(handle.name, path)
        except OSError:
            pass
        return cls(hashes)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _cache_dir() -> Path:
    if os.environ.get("NEWSWATCH_CACHE_DIR"):
        return Path(os.environ["NEWSWATCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newswatch"


def _hash_table(folded_words: Iterator[str] | list[str]) -> array.array:
    hashes = sorted({zlib.crc32(w.encode()) for w in folded_words if len(w) >= 2 and w.isalpha()})
    return array.array("I", hashes)


def _fold_many(words: list[str]) -> list[str]:
    """`fold` over many words at once (string operations on one joined text are much faster)."""
    text = "\n".join(words).lower()
    for char, replacement in (("ä", "a"), ("ö", "o"), ("ü", "u"), ("ß", "ss"), ("'", ""), ("-", "")):
        text = text.replace(char, replacement)
    lines = [
        line if line.isascii() else _strip_accents(line.translate(_FOLD_TABLE))
        for line in text.split("\n")
    ]
    return _DIGRAPH.sub(r"\1\2", "\n".join(lines)).split("\n")


def _strip_accents(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _build_simplemma_table() -> array.array:
    from simplemma.strategies.dictionaries import DefaultDictionaryFactory

    dictionary = DefaultDictionaryFactory(cache_max_size=1).get_dictionary("de")
    forms = set(dictionary)
    forms.update(dictionary.values())
    return _hash_table(_fold_many([f for f in forms if "\n" not in f]))


_LEXICON: Lexicon | None = None
_LEXICON_LOCK = threading.Lock()


def default_lexicon() -> Lexicon:
    """The process-wide lexicon, loaded on first use."""
    global _LEXICON
    with _LEXICON_LOCK:
        if _LEXICON is None:
            _LEXICON = Lexicon.load()
        return _LEXICON


# --- compounds -------------------------------------------------------------------------------------

# Linking elements (Fugenelemente) between the parts of a compound, longest first.
FUGEN = ("ens", "es", "en", "er", "ns", "s", "n", "e")
# Verb particles and prefixes: `Vorrat`, `Verrat`, `eintreffen`, `Mitarbeiter` are derivations
# whose meaning differs from the head's, so these never count as a compound's modifier.
NOT_MODIFIERS = frozenset(
    fold(w)
    for w in (
        "ab an auf aus be bei da dar durch ein ent emp er fort ge her hin hinter los miss mit "
        "nach über um un unter ver vor weg wider zer zu zurück zusammen entgegen heraus herein "
        "hinaus voran voraus vorbei"
    ).split()
)
# Suffixes that make derivations, not compounds: `belarus|sisch`, `Rat|ifizierung`.
DERIVATION_SUFFIXES = tuple(
    "isch ifizier ier lich heit keit schaft ung tum nis ismus ist itat ling chen lein in "
    "innen erin weise".split()
)
# Heads that are suffix-like in adjectives and adverbs: lower-case `ernsthaft`, `zweifelhaft`.
ADJECTIVE_HEADS = frozenset(
    stem(fold(w)) for w in "haft lich los voll reich frei fest wert weise mass bar sam artig".split()
)
MIN_COMPONENT = 3  # shortest query word (folded) that is looked for inside compounds
MIN_MODIFIER = 3
MIN_INNER = 4  # shortest first part when a modifier or rest is itself split (`nin|grad`)
MIN_REST = 4


class Decomposer:
    """Decides whether a query word is a component of a longer word (see the module doc)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._compound_cache: dict[str, bool] = {}

    def is_word(self, folded: str) -> bool:
        return self.lexicon.known(folded)

    def is_modifier(self, part: str) -> bool:
        """`sonder`, `wirtschafts`, `untersuchungs`, `kriegsgefangenen`: a word or compound,
        optionally with a linking element."""
        if len(part) < MIN_MODIFIER or part in NOT_MODIFIERS or part.endswith("c"):
            return False
        if not part.isalpha():
            return part.isalnum()
        if self.is_word(part) or self.is_compound(part):
            return True
        for fuge in FUGEN:
            if part.endswith(fuge):
                base = part[: -len(fuge)]
                if len(base) >= MIN_MODIFIER and base not in NOT_MODIFIERS and (
                    self.is_word(base) or self.is_compound(base)
                ):
                    return True
        return False

    def is_rest(self, part: str) -> bool:
        """`erleichterungen`, `lager`, `lockerungsdebatte`: a word or a compound, not a suffix."""
        if len(part) < MIN_REST or not part.isalpha() or part.startswith(DERIVATION_SUFFIXES):
            return False
        return self.is_word(part) or self.is_compound(part)

    def is_compound(self, word: str) -> bool:
        """Splits into modifier + rest, both German (recursively)."""
        cached = self._compound_cache.get(word)
        if cached is not None:
            return cached
        self._compound_cache[word] = False  # guards recursion
        result = False
        for cut in range(MIN_INNER, len(word) - MIN_REST + 1):
            head = word[cut:]
            if head.startswith(DERIVATION_SUFFIXES) or not self.is_word(head):
                continue
            modifier = word[:cut]
            if modifier in NOT_MODIFIERS or modifier.endswith("c"):
                continue
            if self.is_word(modifier) or any(
                modifier.endswith(f) and len(modifier) - len(f) >= MIN_INNER
                and self.is_word(modifier[: -len(f)])
                for f in FUGEN
            ):
                result = True
                break
        if not result:
            # modifier + compound rest (three or more parts): the first part must be a word
            for cut in range(MIN_INNER, len(word) - 2 * MIN_REST + 1):
                modifier = word[:cut]
                if modifier in NOT_MODIFIERS or modifier.endswith("c"):
                    continue
                bases = [modifier] + [
                    modifier[: -len(f)] for f in FUGEN
                    if modifier.endswith(f) and len(modifier) - len(f) >= MIN_INNER
                ]
                if any(self.is_word(b) for b in bases) and self._compound_rest(word[cut:]):
                    result = True
                    break
        self._compound_cache[word] = result
        if len(self._compound_cache) > 200_000:
            self._compound_cache.clear()
        return result

    def _compound_rest(self, rest: str) -> bool:
        if len(rest) < 2 * MIN_REST - 1 or rest.startswith(DERIVATION_SUFFIXES):
            return False
        return self.is_compound(rest)

    def component_match(
        self, word: str, query_stem: str, *, lower_case: bool = False
    ) -> str | None:
        """Is the query word (stem `query_stem`) a component of the folded `word`? Returns
        "compound" or None. The whole-word case (same stem) is not handled here."""
        if len(query_stem) < MIN_COMPONENT or len(word) <= len(query_stem):
            return None
        start = word.find(query_stem)
        while start != -1:
            if self._component_at(word, query_stem, start, lower_case):
                return "compound"
            start = word.find(query_stem, start + 1)
        return None

    def component_at(self, word: str, query_stem: str, start: int, *, lower_case: bool = False) -> bool:
        """Is the query word (stem `query_stem`, found at `start` in the folded `word`) a component
        of `word`? (see the module doc for the rules)"""
        if len(query_stem) < MIN_COMPONENT or len(word) <= len(query_stem):
            return False
        return self._component_at(word, query_stem, start, lower_case)

    def _component_at(self, word: str, query_stem: str, start: int, lower_case: bool) -> bool:
        if start and not self.is_modifier(word[:start]):
            return False
        after = word[start:]
        # the query word as the head: `sonder|gesandter`, `wirtschafts|sanktionen`
        if start and query_stem in word_keys(after):
            return not (lower_case and query_stem in ADJECTIVE_HEADS)
        # the query word (inflected, maybe with a linking element) before a rest
        for end in range(len(query_stem), min(len(after) - MIN_REST, len(query_stem) + 5) + 1):
            rest = after[end:]
            if _is_form(after[:end], query_stem) and self.is_rest(rest):
                return True
        return False


def _is_form(piece: str, query_stem: str) -> bool:
    """`piece` is the query word, inflected or followed by a linking element."""
    if piece == query_stem or stem(piece) == query_stem:
        return True
    for fuge in FUGEN:
        if piece.endswith(fuge):
            base = piece[: -len(fuge)]
            if base == query_stem or stem(base) == query_stem:
                return True
    return False


@lru_cache(maxsize=1)
def default_decomposer() -> Decomposer:
    return Decomposer(default_lexicon())
