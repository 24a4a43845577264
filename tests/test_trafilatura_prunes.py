"""extractors/trafilatura_prunes.py: the tree walks find exactly the elements trafilatura's prune
expressions find, on every fixture page and on generated markup; whole extractions are the
same with and without them; and they replace only the expressions they were written from."""

from __future__ import annotations

import gzip
import html
import sys
import types

import pytest
import trafilatura.core
import trafilatura.external
import trafilatura.main_extractor
import trafilatura.settings
import trafilatura.xpaths as xpaths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml.etree import XPath

from extractors import trafilatura_prunes
from extractors.article_text import _parse, extract_text
from fundus import FUNDUS, load_pages

# the module: the package's attribute `trafilatura.baseline` is the function of that name
BASELINE = sys.modules["trafilatura.baseline"]

# (walk, trafilatura's expression) pairs
PAIRS = [
    (trafilatura_prunes.comment_sections_and_lists, xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH[0]),
    (trafilatura_prunes.appended_articles, xpaths.RAW_TREE_PRUNE_XPATH[0]),
    (trafilatura_prunes.share_buttons, xpaths.RAW_TREE_PRUNE_XPATH[1]),
    (trafilatura_prunes.boilerplate_sections, xpaths.OVERALL_DISCARD_XPATH[0]),
    (trafilatura_prunes.hidden_and_reply_elements, xpaths.OVERALL_DISCARD_XPATH[1]),
    (trafilatura_prunes.basic_cleaning_elements, trafilatura.settings.BASIC_CLEAN_XPATH),
    (trafilatura_prunes.basic_cleaning_walk, trafilatura.settings.BASIC_CLEAN_XPATH),
]

fixture_pages = pytest.mark.skipif(
    not FUNDUS.is_dir(), reason=f"Fundus fixtures not found at {FUNDUS} (the CI clone has ../shared beside the repo)"
)


def test_trafilatura_prunes_with_the_walks() -> None:
    # Installed by extractors.article_text. Failing here means trafilatura changed the expressions
    # (install() kept them): write the walks anew from its new ones.
    assert trafilatura.core.RAW_TREE_PRUNE_XPATH == [
        trafilatura_prunes.appended_articles, trafilatura_prunes.share_buttons
    ]
    assert trafilatura.core.REMOVE_COMMENTS_AND_LISTS_XPATH == [trafilatura_prunes.comment_sections_and_lists]
    walks = [trafilatura_prunes.boilerplate_sections, trafilatura_prunes.hidden_and_reply_elements]
    assert trafilatura.main_extractor.OVERALL_DISCARD_XPATH == walks
    assert trafilatura.external.OVERALL_DISCARD_XPATH == walks
    assert BASELINE.BASIC_CLEAN_XPATH is trafilatura_prunes.basic_cleaning_elements


@fixture_pages
def test_the_same_elements_as_trafilaturas_expressions_on_every_fixture_page() -> None:
    paths = sorted(FUNDUS.glob("*/*.html.gz"))
    assert len(paths) >= 86
    found = {walk.__name__: 0 for walk, _ in PAIRS}
    for path in paths:
        tree = _parse(gzip.decompress(path.read_bytes()))
        if tree is None:
            continue
        for walk, expression in PAIRS:
            expected = expression(tree)
            assert walk(tree) == expected, (path.name, walk.__name__)
            found[walk.__name__] += len(expected)
    assert found["comment_sections_and_lists"] > 50  # the pages do exercise it
    assert found["basic_cleaning_elements"] > 1000


# Markup built from what the expressions look at: the tags they name (and others); ids, classes and
# styles holding their patterns' words, with near misses ("commentary", "infinitescroll", "Navi");
# the other attributes they test; attributes in any order (`@id|@class` is the first of the two);
# h1s inside the containers; BASIC_CLEAN_XPATH's tags, and its cookie words in any case.
TAGS = [
    "div", "section", "aside", "details", "ol", "ul", "list", "item", "span", "article", "p", "h1", "li",
    "footer", "script", "style", "svg", "template", "fencedframe",
]
WORDS = [
    "comment", "Comment", "comments", "commentary", "comol", "disqus_thread", "dsq-comments", "article-comments",
    "post-comments", "my-comment", "mvp-post-add-box", "mvp-post-add-wrap", "infinite-scroll", "infinitescroll",
    "xinfinite-scrollx", "elementor-share-buttons", "elementor-share-buttons--x", "share", "body", "nav", "Navi",
    "cookie", "reply-", "reply-x", "hidden", "hide-x", " hide", "comments-title", "ad", "-ad-", "akismet",
    "display:none", "display: none", "MostPopularStories", "NAV", "true", "false", "",
    "footer", "site-Footer", "cookie-banner", "Cookie_Consent", "COOKIEBOT", "notice__cookie", "notice___cookie",
    "consentManager", "onetrust-pc", "moove_gdpr", "cookies-not-set", "cookiebar",
]
NAMES = ["id", "class", "style", "role", "data-component", "aria-hidden", "data-lp-replacement-content", "title"]
attributes = st.lists(
    st.tuples(st.sampled_from(NAMES), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)),
    max_size=4, unique_by=lambda pair: pair[0],
)


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS))
    markup = "".join(f' {name}="{html.escape(value)}"' for name, value in draw(attributes))
    children = draw(st.lists(elements(depth + 1), max_size=0 if depth >= 3 else 2))
    return f"<{tag}{markup}>x{''.join(children)}</{tag}>"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(elements(), min_size=1, max_size=3))
def test_the_same_elements_as_trafilaturas_expressions_on_generated_markup(body: list[str]) -> None:
    tree = _parse(f"<html><body>{''.join(body)}</body></html>")
    for walk, expression in PAIRS:
        assert walk(tree) == expression(tree), walk.__name__


def test_a_comment_list_needs_a_comment_id_or_class_not_disqus() -> None:
    tree = _parse(
        '<html><body><ul id="disqus_thread"><li>a</li></ul><div id="disqus_thread">b</div>'
        '<ol class="post-comments"><li>c</li></ol><div id="commentary">d</div></body></html>'
    )
    assert [(e.tag, e.get("id") or e.get("class")) for e in trafilatura_prunes.comment_sections_and_lists(tree)] == [
        ("div", "disqus_thread"), ("ol", "post-comments")
    ]


@fixture_pages
def test_whole_extractions_are_the_same_with_trafilaturas_expressions(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = load_pages("de")
    with_walks = [extract_text(page.html, page.url) for page in pages]
    monkeypatch.setattr(trafilatura.core, "RAW_TREE_PRUNE_XPATH", xpaths.RAW_TREE_PRUNE_XPATH)
    monkeypatch.setattr(trafilatura.core, "REMOVE_COMMENTS_AND_LISTS_XPATH", xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH)
    monkeypatch.setattr(trafilatura.main_extractor, "OVERALL_DISCARD_XPATH", xpaths.OVERALL_DISCARD_XPATH)
    monkeypatch.setattr(trafilatura.external, "OVERALL_DISCARD_XPATH", xpaths.OVERALL_DISCARD_XPATH)
    monkeypatch.setattr(BASELINE, "BASIC_CLEAN_XPATH", trafilatura.settings.BASIC_CLEAN_XPATH)
    assert [extract_text(page.html, page.url) for page in pages] == with_walks


def test_install_replaces_only_the_expressions_it_was_written_from() -> None:
    def fake_trafilatura(share_buttons: XPath) -> types.SimpleNamespace:
        return types.SimpleNamespace(
            core=types.SimpleNamespace(
                RAW_TREE_PRUNE_XPATH=[xpaths.RAW_TREE_PRUNE_XPATH[0], share_buttons],
                REMOVE_COMMENTS_AND_LISTS_XPATH=list(xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH),
            ),
            main_extractor=types.SimpleNamespace(OVERALL_DISCARD_XPATH=list(xpaths.OVERALL_DISCARD_XPATH)),
            external=types.SimpleNamespace(OVERALL_DISCARD_XPATH=list(xpaths.OVERALL_DISCARD_XPATH)),
            baseline=types.SimpleNamespace(BASIC_CLEAN_XPATH=trafilatura.settings.BASIC_CLEAN_XPATH),
        )

    everything = [
        "core.REMOVE_COMMENTS_AND_LISTS_XPATH", "core.RAW_TREE_PRUNE_XPATH",
        "main_extractor.OVERALL_DISCARD_XPATH", "external.OVERALL_DISCARD_XPATH", "baseline.BASIC_CLEAN_XPATH",
    ]
    package = fake_trafilatura(xpaths.RAW_TREE_PRUNE_XPATH[1])
    assert trafilatura_prunes.install(package) == everything
    assert package.core.RAW_TREE_PRUNE_XPATH == [trafilatura_prunes.appended_articles, trafilatura_prunes.share_buttons]
    assert package.baseline.BASIC_CLEAN_XPATH is trafilatura_prunes.basic_cleaning_elements
    assert trafilatura_prunes.install(package) == everything  # again: nothing more to do

    changed = XPath(xpaths.RAW_TREE_PRUNE_XPATH[1].path.replace("elementor-share-buttons", "share-buttons"))
    newer = fake_trafilatura(changed)
    assert trafilatura_prunes.install(newer) == [name for name in everything if name != "core.RAW_TREE_PRUNE_XPATH"]
    assert newer.core.RAW_TREE_PRUNE_XPATH == [xpaths.RAW_TREE_PRUNE_XPATH[0], changed]  # kept whole
    assert newer.core.REMOVE_COMMENTS_AND_LISTS_XPATH == [trafilatura_prunes.comment_sections_and_lists]


def test_id_or_class_is_the_first_of_the_two_in_the_elements_order() -> None:
    # `re:test(@id|@class, 'cookie')` tests only the first of the two attributes the element has
    tree = _parse(
        '<html><body><div class="cookiewall" id="x">a</div><div id="x" class="cookiewall">b</div></body></html>'
    )
    expected = [tree.find(".//div")]
    assert xpaths.OVERALL_DISCARD_XPATH[0](tree) == expected
    assert trafilatura_prunes.boilerplate_sections(tree) == expected


def test_a_single_expression_is_kept_when_trafilatura_writes_it_differently() -> None:
    changed = XPath(trafilatura.settings.BASIC_CLEAN_XPATH.path.replace(".//svg|", ""),
                    namespaces={"re": "http://exslt.org/regular-expressions"})
    package = types.SimpleNamespace(baseline=types.SimpleNamespace(BASIC_CLEAN_XPATH=changed))
    for name in ("core", "main_extractor", "external"):
        setattr(package, name, types.SimpleNamespace())  # without the lists: kept as they are (absent)
    assert trafilatura_prunes.install(package) == []
    assert package.baseline.BASIC_CLEAN_XPATH is changed


def test_basic_cleaning_matches_cookie_words_in_any_case_and_footer_divs_by_their_first_attribute() -> None:
    tree = _parse(
        '<html><body><div class="COOKIEBOT">a</div><p id="Notice-Cookie">b</p><div class="cookies-not-set">c</div>'
        '<div id="x" class="footer">d</div><div class="footer" id="x">e</div><section class="footer">f</section>'
        "<aside>g</aside></body></html>"
    )
    found = [element.text for element in trafilatura_prunes.basic_cleaning_elements(tree)]
    assert found == ["a", "b", "e", "g"]
    assert found == [element.text for element in trafilatura.settings.BASIC_CLEAN_XPATH(tree)]


# "conſent-banner": the 'i' flag matches the long s to "s", lowercasing does not
@pytest.mark.parametrize("banner", ["cookiebar", "COOKIE-BANNER", "Consent_Manager", "cmplz-x", "conſent-banner",
                                    "cookies-not-set"])
@pytest.mark.parametrize("other", ["navigation", "Übersicht"])  # ASCII and not
def test_basic_cleaning_looks_for_cookie_banners_only_where_there_are_some(banner: str, other: str) -> None:
    tree = _parse(f'<html><body><div class="{other}"><p id="{banner}">a</p><footer>b</footer></div></body></html>')
    expected = trafilatura.settings.BASIC_CLEAN_XPATH(tree)
    assert len(expected) == (1 if banner == "cookies-not-set" else 2)
    assert trafilatura_prunes.basic_cleaning_elements(tree) == expected
