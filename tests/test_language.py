"""Language detection: real pages, declarations as tie-breakers, determinism across processes."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from langdetect.detector import Detector
from langdetect.lang_detect_exception import LangDetectException

from extractors.article_text import extract_text
from extractors.language import (
    MAX_DETECT_CHARS,
    LanguageGuess,
    _FastDetector,
    _get_factory,
    detect_language,
    normalise_language,
)
from fundus import FUNDUS, load_pages

ROOT = Path(__file__).resolve().parents[1]
needs_fixtures = pytest.mark.skipif(
    not (FUNDUS / "de").is_dir(),
    reason=f"Fundus fixtures not found at {FUNDUS} (the CI clone has ../shared beside the repo)",
)

GERMAN = (
    "Die Bundesregierung hat am Mittwoch neue Sanktionen gegen Belarus beschlossen. Nach Angaben "
    "des Auswärtigen Amtes sollen die Maßnahmen vor allem Unternehmen treffen, die mit dem "
    "Regime in Minsk zusammenarbeiten. Die Opposition begrüßte den Schritt, forderte aber weitere "
    "Freilassungen politischer Gefangener."
)
ENGLISH = (
    "The government announced new sanctions against Belarus on Wednesday. According to the foreign "
    "ministry, the measures are aimed mainly at companies that work with the regime in Minsk. The "
    "opposition welcomed the step but called for the release of more political prisoners."
)


@needs_fixtures
def test_german_fixture_pages_are_german() -> None:
    wrong = []
    for page in load_pages("de"):
        extracted = extract_text(page.html, page.url)
        assert extracted is not None, page.name
        guess = detect_language(extracted.text, extracted.html_language)
        if (guess.language, guess.source) != ("de", "langdetect") or (guess.confidence or 0) < 0.9:
            wrong.append((page.name, guess))
    assert wrong == []


@needs_fixtures
def test_other_fixture_pages() -> None:
    expected = {"fr": "fr", "uk": "en", "us": "en"}
    pages = load_pages("other")
    assert {p.name.split("_")[0] for p in pages} == set(expected)
    for page in pages:
        extracted = extract_text(page.html, page.url)
        assert extracted is not None, page.name
        want = expected[page.name.split("_")[0]]
        # the page text decides even when the declarations say German
        guess = detect_language(extracted.text, "de", "de")
        assert guess == LanguageGuess(want, guess.confidence, "langdetect"), page.name
        assert guess.confidence is not None and guess.confidence >= 0.9


def test_long_text_beats_declarations() -> None:
    assert detect_language(GERMAN, html_language="en-US", feed_language="en").source == "langdetect"
    assert detect_language(GERMAN, html_language="en-US").language == "de"
    assert detect_language(ENGLISH, html_language="de").language == "en"


def test_short_text_uses_html_lang() -> None:
    # Too short to trust langdetect: the page's declaration decides, even against langdetect.
    guess = detect_language("Putin trifft Lukaschenko.", html_language="de-DE")
    assert (guess.language, guess.source) == ("de", "html_lang")
    guess = detect_language("Breaking: the envoy lands in Minsk", html_language="de", feed_language="en")
    assert (guess.language, guess.source) == ("de", "html_lang")
    guess = detect_language("", html_language="DE_at")
    assert guess == LanguageGuess("de", None, "html_lang")


def test_feed_language_is_the_second_tie_breaker() -> None:
    guess = detect_language("Kurzmeldung aus Minsk.", html_language=None, feed_language="de-DE")
    assert (guess.language, guess.source) == ("de", "feed")
    guess = detect_language("Kurzmeldung aus Minsk.", html_language="x-default", feed_language="de")
    assert guess.source == "feed"


def test_without_declarations_short_text_gets_langdetects_guess() -> None:
    guess = detect_language("Die Regierung in Minsk hat heute Gefangene freigelassen.")
    assert (guess.language, guess.source) == ("de", "langdetect")


def test_nothing_usable_is_unknown() -> None:
    assert detect_language("") == LanguageGuess(None, None, "unknown")
    assert detect_language("   \n ") == LanguageGuess(None, None, "unknown")
    assert detect_language("12345 67890 ... !!! 2024-01-01 12:00").source in ("unknown", "langdetect")


def test_only_the_first_3000_characters_count() -> None:
    head = (GERMAN + " ") * 20  # > 3000 characters of German
    assert len(head) > MAX_DETECT_CHARS == 3000
    assert detect_language(head + ENGLISH * 200) == detect_language(head)


def test_normalise_language() -> None:
    assert normalise_language("de-DE") == "de"
    assert normalise_language("de_AT") == "de"
    assert normalise_language(" EN ") == "en"
    assert normalise_language("deu") == "de"
    assert normalise_language("x-default") is None
    assert normalise_language("") is None
    assert normalise_language(None) is None


_PROBE = """
import json, sys
from extractors.language import detect_language
guesses = [detect_language(*args) for args in json.loads(sys.stdin.read())]
print(json.dumps([[g.language, g.confidence, g.source] for g in guesses]))
"""


def test_deterministic_across_processes() -> None:
    # Short, mixed and ambiguous texts are where langdetect's random sampling shows.
    texts = [
        [GERMAN, None, None],
        [ENGLISH, None, None],
        [GERMAN[:60] + " " + ENGLISH[:60], None, None],
        ["Minsk Lukaschenko Witkoff Coale Sanktionen sanctions", None, None],
        ["Das ist ein kurzer Satz.", "en", None],
        [(GERMAN + " " + ENGLISH) * 3, "de", "de"],
    ]
    outputs = []
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
            check=True,
        )
        outputs.append(json.loads(done.stdout))
    here = [[g.language, g.confidence, g.source] for g in (detect_language(*t) for t in texts)]
    assert outputs[0] == outputs[1] == here


def _langdetect_texts() -> list[str]:
    texts = [
        GERMAN,
        ENGLISH,
        GERMAN[:60] + " " + ENGLISH[:60],
        "NATO und EU: Die USA, die UN und die OSZE beraten in Brüssel über die Lage in der UKRAINE.",
        "Visit https://example.org/a?b=1 or write to presse@example.org — Straße, Öl, Äpfel.",
        "Приговор в Минске: суд приговорил оппозиционера к десяти годам.",
        "北京的天气很好。今日は晴れです。カタカナ 한국어 텍스트",
        "مرحبا بكم في الأخبار العربية اليوم ی",
        "Tiếng Việt có dấu: Việt Nam, Hà Nội, người dân",  # combining marks are normalised
        "Şcoala din Bucureşti şi ţara: ș ț",
        "12345 67890 ... !!! 2024-01-01 12:00",
        "  ",
    ]
    rnd = random.Random(11)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ äöüßÄÖÜ ., \n-'0123"
        "é\u0219\u4e00\u0430\u0410\u1ea1"
    )
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 300))) for _ in range(40)]
    if (FUNDUS / "de").is_dir():
        for page in load_pages("de")[::4]:
            extracted = extract_text(page.html, page.url)
            if extracted is not None:
                texts.append(extracted.text[:MAX_DETECT_CHARS])
    return texts


def test_fast_detector_equals_langdetect() -> None:
    # _FastDetector replaces langdetect's per-character loops; its answers must stay langdetect's.
    factory = _get_factory()
    for text in _langdetect_texts():
        answers = []
        for detector in (Detector(factory), _FastDetector(factory)):
            detector.append(text)
            try:
                answers.append([(found.lang, found.prob) for found in detector.get_probabilities()])
            except LangDetectException as exc:
                answers.append(str(exc))
        assert answers[0] == answers[1], text[:80]
