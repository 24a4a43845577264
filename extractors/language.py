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
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Literal

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException
from langdetect.utils.lang_profile import LangProfile

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
        detector = _get_factory().create()
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
