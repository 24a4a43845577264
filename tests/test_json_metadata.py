"""Our reading of a page's JSON-LD metadata (extractors/article_text.py `_extract_meta_json`) gives
exactly what trafilatura's `extract_meta_json` gives, faster: the same prepared string for every
script, and the same metadata for every page."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trafilatura.json_metadata import normalize_json
from trafilatura.metadata import JSON_MINIFY, examine_meta, extract_meta_json
from trafilatura.settings import Document

from extractors.article_text import _JSON_SCRIPTS, _extract_meta_json, _parse, _prepared_json
from fundus import FUNDUS, load_pages


def trafilaturas(text: str) -> str:
    return normalize_json(JSON_MINIFY.sub(r"\1", text))


# Everything the two preparations treat specially: quotes, escapes (\n, \uXXXX, \"), blanks of
# several kinds, lone surrogates, markup, comments and entities.
JSON_ALPHABET = st.sampled_from(
    ['"', "\\", " ", "\n", "\t", "\r", "\xa0", "\u2003", "\x1f", "u", "0", "0", "f", "D", "8", "n", "t",
     "r", "{", "}", "[", "]", ":", ",", "<", ">", "!", "-", "&", "amp;", "#228;", "a", "ü", "\ud83d", "\ude00",
     "\\u00fc", "\\ud83d", '\\"', "<!--", "-->", "<p>", "</b>"]
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON_ALPHABET, max_size=60).map("".join))
def test_prepared_json_equals_trafilaturas_on_generated_strings(text: str) -> None:
    assert _prepared_json(text) == trafilaturas(text)


def test_prepared_json_keeps_strings_and_drops_blanks_between_them() -> None:
    text = '{ "headline" :  "Streik  bei\\nder Bahn" ,\n "author": {"name": "A \\u00e4"} }'
    assert _prepared_json(text) == trafilaturas(text) == '{"headline":"Streik beider Bahn","author":{"name":"A ä"}}'


def fields(document: Document) -> dict[str, object]:
    """The metadata read (the empty body trees a Document starts with are left out)."""
    return {key: value for key, value in document.as_dict().items() if key not in ("body", "commentsbody")}


fundus_pages = pytest.mark.skipif(
    not (FUNDUS / "de").is_dir(),
    reason=f"Fundus fixtures not found at {FUNDUS / 'de'} (the CI clone has ../shared beside the repo)",
)


@fundus_pages
def test_the_same_metadata_as_trafilatura_on_every_fundus_page() -> None:
    pages = load_pages("de")
    scripts = 0
    for page in pages:
        tree = _parse(page.html)
        for script in _JSON_SCRIPTS(tree):
            if script.text:
                scripts += 1
                assert _prepared_json(script.text) == trafilaturas(script.text), page.name
        ours = fields(_extract_meta_json(tree, examine_meta(tree)))
        assert ours == fields(extract_meta_json(tree, examine_meta(tree))), page.name
    assert scripts > len(pages)  # the pages do carry JSON-LD: the comparison compared something
