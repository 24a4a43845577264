"""Which language an article is in: langdetect on the text, the page's and the feed's declarations.

Rules (`detect_language`):

1. Text of at least `MIN_DETECT_CHARS` characters whose top langdetect probability is at least
   `MIN_CONFIDENCE` -> that language (`source="langdetect"`). Long, confident text beats any
   declaration: templates declare `lang="en"` on German articles and vice versa.
2. Otherwise (short text, a mixed-language page) the page's `<html lang>` decides (`"html_lang"`),
   then the feed's declared language (`"feed"`). When langdetect's guess disagrees with the
   declaration on such text, the declaration wins.
3. With neither declaration, langdetect's best guess on any text of at least `MIN_GUESS_CHARS`
   characters (`"langdetect"`, with its lower probability as the confidence).
4. Nothing usable -> `language=None, source="unknown"`.

`confidence` is langdetect's probability for the returned language, rounded to 4 places; None when
langdetect did not run (no text) and the language comes from a declaration alone.

Determinism: langdetect samples n-grams at random. `DetectorFactory.seed = 0` is set at import, and
the language profiles are loaded in sorted file order into our own factory (langdetect's loader uses
`os.listdir` order), so the same text gives the same answer in every process and on every machine.
Only the first `MAX_DETECT_CHARS` characters are examined.

Cost: langdetect's own `Detector` spends two thirds of its time feeding characters one by one through
Python code (`NGram.add_char`). `_FastDetector` computes the same n-grams in the same order (per word,
cached), and runs langdetect's random sampling (7 trials, ~305 updates of 55 language probabilities
per page) with the same random draws but numpy arithmetic on cached per-n-gram arrays; the
normalising sum stays the builtin `sum`, as in langdetect. Its probabilities are langdetect's to the
last bit (tests/test_language.py compares them). CPU time on the 86 Fundus German articles,
interleaved in one run: `detect_language` 3.3 -> 1.9 ms per article (langdetect's own `Detector`:
7.9); the sampling alone 2.0 -> 1.1 ms, counting Latin letters in `cleaning_text` only as far as the
decision needs ~0.15 ms. numpy's per-call overhead (two small operations per update) is most of what
is left of the sampling; grouping the 5 updates between normalisations saved nothing measurable.
Fewer trials (`n_trial` 3) would cut the sampling further, but changed the top language on 23 of 300
short German/English mixes (the confidence crossed 0.9 on 41), so langdetect's 7 stay.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from sys import intern
from dataclasses import dataclass
from itertools import islice
from typing import Literal

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import ErrorCode, LangDetectException
from langdetect.utils.lang_profile import LangProfile
from langdetect.utils.ngram import NGram

LanguageSource = Literal["langdetect", "html_lang", "feed", "unknown"]

MIN_DETECT_CHARS = 200  # below this, langdetect alone is not trusted
MIN_CONFIDENCE = 0.90  # top probability needed to trust langdetect over the declarations
MIN_GUESS_CHARS = 20  # below this, not even a guess
MAX_DETECT_CHARS = 3000  # enough for a stable answer; langdetect's cost grows with length

DetectorFactory.seed = 0  # langdetect is non-deterministic unless seeded

_LANG = re.compile(r"^([a-z]{2,3})(?:$|[-_])", re.IGNORECASE)
_ISO3 = {"deu": "de", "ger": "de", "eng": "en", "fra": "fr", "fre": "fr", "ita": "it", "spa": "es", "nld": "nl"}
_WS = re.compile(r"\s+")

_factory: DetectorFactory | None = None
_factory_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str | None  # ISO 639-1 code, e.g. "de"
    confidence: float | None
    source: LanguageSource


def normalise_language(value: str | None) -> str | None:
    """`de-DE`, `de_AT`, `DE`, `deu` -> `de`; anything else (`x-default`, `""`) -> None."""
    if not value or not isinstance(value, str):
        return None
    match = _LANG.match(value.strip())
    if not match:
        return None
    code = match.group(1).lower()
    if len(code) == 3:
        return _ISO3.get(code)
    return code


def warm_up() -> None:
    """Load the language profiles now (about half a second) rather than on the first call."""
    _get_factory()


def detect_language(
    text: str,
    html_language: str | None = None,
    feed_language: str | None = None,
) -> LanguageGuess:
    """The language of `text`, with the page's and the feed's declarations as tie-breakers."""
    declared_page = normalise_language(html_language)
    declared_feed = normalise_language(feed_language)
    sample = _WS.sub(" ", (text or "")[: MAX_DETECT_CHARS + 200]).strip()[:MAX_DETECT_CHARS]

    probabilities: dict[str, float] = {}
    if len(sample) >= MIN_GUESS_CHARS:
        probabilities = _probabilities(sample)
    top = max(probabilities.items(), key=lambda kv: (kv[1], kv[0])) if probabilities else None

    if top is not None and len(sample) >= MIN_DETECT_CHARS and top[1] >= MIN_CONFIDENCE:
        return LanguageGuess(top[0], top[1], "langdetect")
    for declared, source in ((declared_page, "html_lang"), (declared_feed, "feed")):
        if declared:
            confidence = probabilities.get(declared, 0.0) if probabilities else None
            return LanguageGuess(declared, confidence, source)  # type: ignore[arg-type]
    if top is not None:
        return LanguageGuess(top[0], top[1], "langdetect")
    return LanguageGuess(None, None, "unknown")


def _probabilities(sample: str) -> dict[str, float]:
    try:
        detector = _FastDetector(_get_factory())
        detector.append(sample)
        found = detector.get_probabilities()
    except LangDetectException:
        return {}
    result: dict[str, float] = {}
    for item in found:
        code = normalise_language(item.lang)  # "zh-cn" -> "zh"
        if code:
            result[code] = round(result.get(code, 0.0) + item.prob, 4)
    return result


class _NormalisedChars(dict):
    """`str.translate` table: code point -> langdetect's normalised character, filled on first use."""

    def __missing__(self, code: int) -> str:
        normalised = self[code] = NGram.normalize(chr(code))
        return normalised


_NORMALISED = _NormalisedChars()
_SPACE_RUN = re.compile(" {2,}")
_WORD = re.compile("[^ ]+")
_LATIN = re.compile("[A-z]")
_NON_LATIN = re.compile("[\u0300-\U0010ffff]")
# n-grams contributed by one word (with or without the space after it), across calls and texts
_WORD_NGRAMS: dict[str, tuple[str, ...]] = {}
_WORD_NGRAMS_MAX = 10_000  # ~3 MB
# an n-gram's per-language probabilities (our factory's profiles) as a float64 array, across texts
_WEIGHTS: dict[str, np.ndarray] = {}
_WEIGHTS_MAX = 20_000  # ~12 MB; the 86 Fundus pages use ~6,200 distinct n-grams


class _FastDetector(Detector):
    """langdetect's `Detector` with its per-character Python loops replaced by equivalent faster code.

    The same text, the same n-grams in the same order, and the same random sampling
    (`_detect_block`) with the per-language arithmetic done by numpy, so the probabilities are
    identical (tests/test_language.py compares them).
    """

    def _detect_block(self) -> None:
        """langdetect's `_detect_block`: the same calls to `self.random` in the same order, and the
        same float operations per language (numpy's elementwise `+`, `*`, `/` round as Python's do).
        """
        if self.verbose:  # langdetect prints as it goes
            super()._detect_block()
            return
        self.cleaning_text()
        ngrams = self._extract_ngrams()
        if not ngrams:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        known = self.word_lang_prob_map
        cache = _WEIGHTS if known is _get_factory().word_lang_prob_map else {}
        conv_threshold = self.CONV_THRESHOLD
        iteration_limit = self.ITERATION_LIMIT
        n_trial = self.n_trial
        langprob = np.zeros(len(self.langlist))
        self.random.seed(self.seed)
        choice = self.random.choice
        # Python floats overflow to inf and nan silently; so must numpy (only absurd alphas get there)
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(n_trial):
                prob = np.array(self._init_probability(), dtype=np.float64)
                alpha = self.alpha + self.random.gauss(0.0, 1.0) * self.ALPHA_WIDTH
                weight = alpha / self.BASE_FREQ
                i = 0
                while True:
                    word = choice(ngrams)
                    row = cache.get(word)
                    if row is None and word in known:
                        if len(cache) >= _WEIGHTS_MAX:
                            cache.clear()
                        row = cache[word] = np.array(known[word], dtype=np.float64)
                    if row is not None:
                        prob *= weight + row
                    if i % 5 == 0:
                        prob, maxp = self._normalize(prob)
                        if maxp > conv_threshold or i >= iteration_limit:
                            break
                    i += 1
                langprob += prob / n_trial
        self.langprob = langprob.tolist()

    def _normalize(self, prob: np.ndarray) -> tuple[np.ndarray, float]:
        """langdetect's `_normalize_prob`: `prob / sum(prob)` and the largest quotient."""
        values = prob.tolist()
        sump = sum(values)  # the builtin, as langdetect: numpy's pairwise sum would round differently
        if 0.0 < sump < math.inf:
            # division by a positive number keeps the order, so max(p / s) is max(p) / s
            return prob / sump, max(values) / sump
        maxp = self._normalize_prob(values)  # zero, negative or not finite: langdetect's own code
        return np.array(values, dtype=np.float64), maxp

    def append(self, text: str) -> None:
        text = self.URL_RE.sub(" ", text)
        text = self.MAIL_RE.sub(" ", text)
        text = NGram.normalize_vi(text)
        # langdetect copies character by character, dropping a space that follows a space
        self.text += _SPACE_RUN.sub(" ", text[: self.max_text_length])

    def cleaning_text(self) -> None:
        # langdetect drops Latin letters from text written mostly in another script. It counts every
        # character from U+0300 on as non-Latin (its exception for Latin Extended Additional compares
        # a block number with a name and never applies).
        non_latin = len(_NON_LATIN.findall(self.text))
        if non_latin:
            # latin * 2 < non_latin <=> latin < needed; counting stops there (German text: early)
            needed = (non_latin + 1) // 2
            if sum(1 for _ in islice(_LATIN.finditer(self.text), needed)) < needed:
                super().cleaning_text()

    def _extract_ngrams(self) -> list[str]:
        # The n-gram window restarts after every space, so a word (a run of non-spaces, plus the
        # space that follows it, if any) always contributes the same n-grams: computed once.
        known = self.word_lang_prob_map
        text = self.text.translate(_NORMALISED)
        end = len(text)
        result: list[str] = []
        extend = result.extend
        # the cache holds n-grams known to our factory's profiles; any other factory gets none
        cache = _WORD_NGRAMS if known is _get_factory().word_lang_prob_map else {}
        for match in _WORD.finditer(text):
            word = match.group() + " " if match.end() < end else match.group()
            grams = cache.get(word)
            if grams is None:
                if len(cache) >= _WORD_NGRAMS_MAX:
                    cache.clear()
                grams = cache[word] = _ngrams(word, known)
            extend(grams)
        return result


def _ngrams(text: str, known: dict) -> tuple[str, ...]:
    """langdetect's `NGram.add_char` + `NGram.get(1..3)` over normalised `text`, unrolled.

    `grams` holds the last (up to) three characters of the current word, led by a space at the
    word's start; a capital that follows a capital (an acronym) contributes nothing.
    """
    result: list[str] = []
    append = result.append
    grams = " "
    last_upper = False
    for ch in text:
        if grams[-1] == " ":
            if ch == " ":
                last_upper = False
                continue
            grams = " " + ch
        elif len(grams) >= 3:
            grams = grams[1:] + ch
        else:
            grams += ch
        upper = ch.isupper()
        if upper and last_upper:
            continue
        last_upper = upper
        if ch != " " and ch in known:
            append(ch)
        if len(grams) >= 2:
            if grams[-2:] in known:
                append(intern(grams[-2:]))  # one string object per n-gram in the cache
            if len(grams) == 3 and grams in known:
                append(intern(grams))
    return tuple(result)


def _get_factory() -> DetectorFactory:
    global _factory
    if _factory is None:
        with _factory_lock:
            if _factory is None:
                factory = DetectorFactory()
                factory.seed = 0
                names = sorted(n for n in os.listdir(PROFILES_DIRECTORY) if not n.startswith("."))
                for index, name in enumerate(names):
                    with open(os.path.join(PROFILES_DIRECTORY, name), encoding="utf-8") as handle:
                        factory.add_profile(LangProfile(**json.load(handle)), index, len(names))
                _factory = factory
    return _factory
