"""Language detection: real pages, declarations as tie-breakers, determinism across processes."""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException
from langdetect.utils.lang_profile import LangProfile

from extractors.article_text import extract_text
from extractors.language import (
    MAX_DETECT_CHARS,
    LanguageGuess,
    _FastDetector,
    _get_factory,
    detect_language,
    normalise_language,
)
from fundus import FUNDUS, FundusPage, load_pages
from newswatch.records import ExtractedText

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


@functools.cache
def _extracted(subdir: str) -> list[tuple[FundusPage, ExtractedText | None]]:
    """The Fundus pages of `subdir` with their extracted text (extraction is the slow part)."""
    return [(page, extract_text(page.html, page.url)) for page in load_pages(subdir)]


@needs_fixtures
def test_german_fixture_pages_are_german() -> None:
    wrong = []
    for page, extracted in _extracted("de"):
        assert extracted is not None, page.name
        guess = detect_language(extracted.text, extracted.html_language)
        if (guess.language, guess.source) != ("de", "langdetect") or (guess.confidence or 0) < 0.9:
            wrong.append((page.name, guess))
    assert wrong == []


@needs_fixtures
def test_other_fixture_pages() -> None:
    expected = {"fr": "fr", "uk": "en", "us": "en"}
    pages = _extracted("other")
    assert {p.name.split("_")[0] for p, _ in pages} == set(expected)
    for page, extracted in pages:
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


_MIXED_WORDS = (GERMAN + " " + ENGLISH).split()
_NON_LATIN_TEXTS = [
    "Приговор в Минске: суд приговорил оппозиционера к десяти годам.",
    "Україна: уряд ухвалив нові санкції проти Білорусі",
    "北京的天气很好。今日は晴れです。カタカナ 한국어 텍스트",
    "政府は水曜日に新たな制裁を発表した。",
    "정부는 수요일에 새로운 제재를 발표했다.",
    "مرحبا بكم في الأخبار العربية اليوم ی",
    "הממשלה הודיעה היום על סנקציות חדשות",
    "Η κυβέρνηση ανακοίνωσε νέες κυρώσεις την Τετάρτη.",
    "सरकार ने बुधवार को नए प्रतिबंधों की घोषणा की।",
    "รัฐบาลประกาศมาตรการคว่ำบาตรใหม่ในวันพุธ",
    "Минск: суд приговорил Лукашенко Minsk",  # mostly Cyrillic: langdetect drops the Latin letters
]


def _langdetect_texts(group: str) -> list[str]:
    """Texts for comparing `_FastDetector` with langdetect's `Detector`, by kind."""
    if group == "fixed":
        return [
            GERMAN,
            ENGLISH,
            GERMAN[:60] + " " + ENGLISH[:60],
            "NATO und EU: Die USA, die UN und die OSZE beraten in Brüssel über die Lage in der UKRAINE.",
            "Visit https://example.org/a?b=1 or write to presse@example.org — Straße, Öl, Äpfel.",
            "Tiếng Việt có dấu: Việt Nam, Hà Nội, người dân",  # combining marks are normalised
            "Şcoala din Bucureşti şi ţara: ș ț",
            "12345 67890 ... !!! 2024-01-01 12:00",
            "  ",
            "",
            "ä",
            "Hallo",
            "the",
            "Straße",
            "OK",
            (GERMAN + " ") * 60,  # beyond langdetect's 10,000 characters
            *_NON_LATIN_TEXTS,
        ]
    rnd = random.Random(11 if group == "random" else 12)
    if group == "random":
        alphabet = (
            "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ äöüßÄÖÜ ., \n-'0123"
            "é\u0219\u4e00\u0430\u0410\u1ea1"
        )
        return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 300))) for _ in range(40)]
    if group == "mixes":  # short German/English mixes: where the sampling decides, and can take long
        return [" ".join(rnd.choices(_MIXED_WORDS, k=rnd.randint(1, 25))) for _ in range(100)]
    assert group == "fundus"
    texts = []
    for subdir in ("de", "other"):
        for _, extracted in _extracted(subdir):
            if extracted is not None:
                texts.append(extracted.text[:MAX_DETECT_CHARS])
    return texts


def _outcome(detector: Detector, text: str) -> list[str] | str:
    """All of the detector's language probabilities to the last bit, or the error it raised."""
    detector.append(text)
    try:
        detector.get_probabilities()
    except (LangDetectException, ZeroDivisionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    assert all(type(p) is float for p in detector.langprob)
    return [p.hex() for p in detector.langprob]


def _assert_same_as_langdetect(texts: list[str], factory=None, configure=lambda detector: None) -> None:
    factory = factory or _get_factory()
    for text in texts:
        answers = []
        for detector in (Detector(factory), _FastDetector(factory)):
            configure(detector)
            answers.append(_outcome(detector, text))
        assert answers[0] == answers[1], text[:80]


@pytest.mark.parametrize(
    "group",
    ["fixed", "random", "mixes", pytest.param("fundus", marks=needs_fixtures)],
)
def test_fast_detector_equals_langdetect(group: str) -> None:
    # _FastDetector replaces langdetect's per-character loops and does the sampling's arithmetic
    # with numpy; its answers must stay langdetect's.
    _assert_same_as_langdetect(_langdetect_texts(group))


def _set_prior(detector: Detector) -> None:
    detector.set_prior_map({"de": 0.5, "en": 0.3, "fr": 0.15, "nl": 0.05})


def _no_convergence(detector: Detector) -> None:
    detector.CONV_THRESHOLD = 1.5  # every trial runs to ITERATION_LIMIT


@pytest.mark.parametrize(
    "configure",
    [
        _set_prior,
        _no_convergence,
        lambda detector: setattr(detector, "n_trial", 3),
        lambda detector: detector.set_alpha(0.05),
        lambda detector: detector.set_alpha(4.0),
    ],
)
def test_fast_detector_equals_langdetect_with_other_settings(configure) -> None:
    texts = _langdetect_texts("fixed")[:8] + _langdetect_texts("mixes")[:20]
    _assert_same_as_langdetect(texts, configure=configure)


@pytest.mark.parametrize("alpha", [0.0, -7e3, -2e4, 1e300])
def test_fast_detector_equals_langdetect_when_normalising_fails(alpha: float, monkeypatch) -> None:
    # Such alphas make the sum zero, negative or not finite, where the sampling falls back to
    # langdetect's own `_normalize_prob` (and numpy must stay as quiet as Python about inf and nan).
    fallbacks = []
    normalize_prob = _FastDetector._normalize_prob

    def counted(self, prob):
        fallbacks.append(1)
        return normalize_prob(self, prob)

    monkeypatch.setattr(_FastDetector, "_normalize_prob", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same_as_langdetect([GERMAN[:80], ENGLISH], configure=lambda d: d.set_alpha(alpha))
    assert fallbacks


def test_fast_detector_with_another_factory() -> None:
    # Another factory's profiles (here 5 languages in another order) must not meet our caches.
    factory = DetectorFactory()
    factory.seed = 3
    names = ["ru", "fr", "en", "de", "zh-cn"]
    for index, name in enumerate(names):
        with open(os.path.join(PROFILES_DIRECTORY, name), encoding="utf-8") as handle:
            factory.add_profile(LangProfile(**json.load(handle)), index, len(names))
    texts = _langdetect_texts("fixed") + _langdetect_texts("mixes")[:20]
    _assert_same_as_langdetect(texts)  # fills our caches first
    _assert_same_as_langdetect(texts, factory=factory)
    _assert_same_as_langdetect(texts)


def test_fast_detector_verbose_prints_as_langdetect(capsys) -> None:
    printed = []
    for detector in (Detector(_get_factory()), _FastDetector(_get_factory())):
        detector.set_verbose()
        outcome = _outcome(detector, GERMAN[:100])
        printed.append((outcome, capsys.readouterr().out))
    assert printed[0] == printed[1]
    assert printed[0][1]
