"""trafilatura's costliest XPath expressions as Python tree walks: the same elements, several times cheaper.

The expressions test the `id`, `class` (and `style`, `role`...) of every `div`, `section`, list...
of a page with EXSLT `re:test`, which lxml answers by calling back into Python for every attribute:
- `RAW_TREE_PRUNE_XPATH` and, comments being off, `REMOVE_COMMENTS_AND_LISTS_XPATH`, with which
  `trafilatura_sequence` prunes the raw page first: 8.9 ms a page, 2.1 ms as walks;
- `OVERALL_DISCARD_XPATH`, boilerplate sections pruned from the cleaned tree before the main
  extraction (and before readability's, in trafilatura's full mode): 3.8 ms a page, 1.6 as walks;
- `BASIC_CLEAN_XPATH` (asides, footers, scripts, cookie banners...), which `html2txt` prunes from a
  copy of the whole page when trafilatura measures the page's text to decide whether an extraction
  under 3,000 characters needs its recall retry (25 of the 86 Fundus pages), and `baseline` before
  its rescue: 5.5 ms a call, 1.5 ms without a cookie banner on the page, 3 ms with one (the Fundus
  pages' bodies; a whole article in one process 20.6 -> 19.1 ms, 12 alternating pairs, cheaper in
  all).
(The 86 Fundus pages, each timed where trafilatura calls it, in one process extracting every page
with and without the first two kinds of walks in turn: a whole extraction 49.9 ms with them, 57.8
without.) Walking the elements with the same regular expressions returns the same elements in the
same (document) order. As extraction workers (2, as in a pass, 800 pages, runs with and without
those walks alternating, 11 pairs, the first 7 with the raw-tree walks only): median worker CPU
47 ms a page with them, 54.5 without, cheaper in 9 pairs (this host's speed drifts by tens of
percent between runs).

`install()` puts the walks in place of the expressions in the trafilatura modules that use them,
each list (or expression) only where trafilatura's expressions are, word for word, the ones
written out below: a trafilatura that changes one keeps its own there and extracts as before, just
slower.
extractors.article_text installs them, so they apply in every process that extracts with newswatch;
the bench's plain trafilatura loop runs in a process that does not, and checks it.
tests/test_trafilatura_prunes.py compares walks and expressions on every Fundus page and on
generated markup, and whole extractions with and without them.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterator

from lxml import etree
from lxml.html import HtmlElement

LOGGER = logging.getLogger(__name__)

# trafilatura.xpaths' building blocks (2.3.1), as its expressions below use them
_COMMENTS_ID = "[Cc]omment(?!ary)|comol"
_COMMENTS_CLASS = "^[Cc]omment(?!ary)|(?:article|post)-comments"
_APPENDED_ARTICLES = "mvp-post-add-(?:box|wrap)|infinite-?scroll"
_APPENDED_ARTICLES_THEME = "mvp-post-add-(?:box|wrap)"

# What each walk stands for, as trafilatura 2.3.1 writes it (compared with blanks collapsed).
_REMOVE_COMMENTS_AND_LISTS = f"""
    .//*[self::div or self::list or self::section or self::details or self::ol or self::ul][
    re:test(@id, '^(?:{_COMMENTS_ID}|disqus_thread|dsq-comments)') or
    re:test(@class, '{_COMMENTS_CLASS}')][
    not(self::ol or self::ul) or re:test(@id, '^(?:{_COMMENTS_ID})') or re:test(@class, '{_COMMENTS_CLASS}')]
"""
_RAW_TREE_APPENDED_ARTICLES = f"""
    .//*[self::div or self::section or self::aside][
    re:test(@id, '{_APPENDED_ARTICLES}') or
    re:test(@class, '{_APPENDED_ARTICLES}')][
    not(.//h1) or re:test(@id, '{_APPENDED_ARTICLES_THEME}') or re:test(@class, '{_APPENDED_ARTICLES_THEME}')]
"""
_RAW_TREE_SHARE_BUTTONS = ".//*[self::div or self::section or self::aside][contains(@class, 'elementor-share-buttons')]"

# OVERALL_DISCARD_XPATH, boilerplate sections pruned from the cleaned tree (trafilatura.main_extractor
# and .external): navigation, sharing, newsletters, ads, related links, bylines, hidden elements...
_BOILERPLATE_ID = (
    "^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
    "^(?:jp-|dpsp-content)|bmdh|footer|Footer|share|Share|nav|Nav|menu|related|message-container|premium|^ad-"
)
_BOILERPLATE_CLASS = (
    "^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
    "^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar| ad |-ad-|(?:^| )ad-|dfp[Aa]d|"
    "outbrain|taboola|criteo|paid-?content|widget|footer|Footer|byline|Byline|share-|sociable|embedded|embed|"
    "tag-list|consent|modal-content|permission|elated|next-|-stories|most-popular|more-on|meta|rating|"
    "attachment|timestamp|user-info|user-profile|-icon|article-infos|message-container|slide|viewport|overlay|"
    "options|expand|obfuscated|blurred|mol-factbox|yin|zlylin|nfoline"
)
_HIDDEN_ID = "reader-comments|akismet"
_HIDDEN_CLASS = (
    "^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print| hidden| hide|"
    "noprint|notloaded"
)
_OVERALL_DISCARD_SECTIONS = f"""
    .//*[self::div or self::item or self::list or self::p or self::section or self::span][
    @data-lp-replacement-content or
    contains(translate(@role, 'N', 'n'), 'nav') or
    contains(@data-component, 'MostPopularStories') or
    re:test(@id|@class, 'cookie') or
    re:test(@id, '{_BOILERPLATE_ID}') or
    re:test(@class, '{_BOILERPLATE_CLASS}')]
"""
_OVERALL_DISCARD_HIDDEN = f"""
    .//*[@class='comments-title' or
    starts-with(@id|@class, 'reply-') or
    re:test(@id|@style, 'hidden') or
    contains(@style, 'display:none') or contains(@style, 'display: none') or
    re:test(@id, '{_HIDDEN_ID}') or
    re:test(@class, '{_HIDDEN_CLASS}') or @aria-hidden='true']
"""

# BASIC_CLEAN_XPATH (trafilatura.settings, used by trafilatura.baseline): what html2txt and
# baseline() drop before reading a page's text
_COOKIE_CONSENT = (
    "cookie[-_]?(?:banner|bar|consent|law|notice|policy|description)|notice[-_]{0,2}cookie"
    "|consent[-_]?(?:banner|manager|sdk)|borlabs|cookiebot|cmplz|onetrust|moove[-_]?gdpr"
)
_BASIC_CLEAN_WITHOUT_COOKIE_BANNERS = (
    ".//aside|.//div[contains(@class|@id, 'footer')]|.//fencedframe|.//footer|.//script|.//style|.//svg|.//template"
)
_BASIC_CLEAN = (
    f"{_BASIC_CLEAN_WITHOUT_COOKIE_BANNERS}"
    f"|.//*[re:test(@class, '{_COOKIE_CONSENT}', 'i') or re:test(@id, '{_COOKIE_CONSENT}', 'i')]"
)

# re:test(@attr, pattern) is re.search(pattern, value), a missing attribute being "" (lxml's EXSLT)
_COMMENTS_ID_OR_THREAD = re.compile(f"^(?:{_COMMENTS_ID}|disqus_thread|dsq-comments)")
_COMMENTS_ID_START = re.compile(f"^(?:{_COMMENTS_ID})")
_COMMENTS_CLASS_RE = re.compile(_COMMENTS_CLASS)
_APPENDED_RE = re.compile(_APPENDED_ARTICLES)
_APPENDED_THEME_RE = re.compile(_APPENDED_ARTICLES_THEME)

_BOILERPLATE_ID_RE = re.compile(_BOILERPLATE_ID)
_BOILERPLATE_CLASS_RE = re.compile(_BOILERPLATE_CLASS)
_HIDDEN_ID_RE = re.compile(_HIDDEN_ID)
_HIDDEN_CLASS_RE = re.compile(_HIDDEN_CLASS)
_COOKIE_CONSENT_RE = re.compile(_COOKIE_CONSENT, re.IGNORECASE)  # re:test's 'i' flag
_COOKIE_CONSENT_LOWERCASE_RE = re.compile(_COOKIE_CONSENT)  # for lowercased ASCII
_CLASS_AND_ID_VALUES = etree.XPath(".//*/@class|.//*/@id", smart_strings=False)
_BASIC_CLEAN_WITHOUT_COOKIES = etree.XPath(_BASIC_CLEAN_WITHOUT_COOKIE_BANNERS)
_BASIC_CLEAN_TAGS = frozenset(("aside", "fencedframe", "footer", "script", "style", "svg", "template"))


def comment_sections_and_lists(tree: HtmlElement) -> list[HtmlElement]:
    """REMOVE_COMMENTS_AND_LISTS_XPATH: comment containers, and ol/ul comment lists (not disqus)."""
    found = []
    for element in tree.iterdescendants("div", "list", "section", "details", "ol", "ul"):
        element_id, element_class = element.get("id") or "", element.get("class") or ""
        if not (_COMMENTS_ID_OR_THREAD.search(element_id) or _COMMENTS_CLASS_RE.search(element_class)):
            continue
        if element.tag in ("ol", "ul") and not (
            _COMMENTS_ID_START.search(element_id) or _COMMENTS_CLASS_RE.search(element_class)
        ):
            continue
        found.append(element)
    return found


def appended_articles(tree: HtmlElement) -> list[HtmlElement]:
    """RAW_TREE_PRUNE_XPATH[0]: infinite-scroll containers of follow-up articles (not the one with the h1)."""
    found = []
    for element in tree.iterdescendants("div", "section", "aside"):
        element_id, element_class = element.get("id") or "", element.get("class") or ""
        if not (_APPENDED_RE.search(element_id) or _APPENDED_RE.search(element_class)):
            continue
        if (
            next(element.iterdescendants("h1"), None) is None
            or _APPENDED_THEME_RE.search(element_id)
            or _APPENDED_THEME_RE.search(element_class)
        ):
            found.append(element)
    return found


def share_buttons(tree: HtmlElement) -> list[HtmlElement]:
    """RAW_TREE_PRUNE_XPATH[1]: Elementor's share-button blocks."""
    return [
        element
        for element in tree.iterdescendants("div", "section", "aside")
        if "elementor-share-buttons" in (element.get("class") or "")
    ]


def _first(element: HtmlElement, names: tuple[str, str]) -> str:
    """The string value of `@a|@b`: the first of the two attributes in the element's own order."""
    for name, value in element.items():
        if name in names:
            return value
    return ""


def boilerplate_sections(tree: HtmlElement) -> list[HtmlElement]:
    """OVERALL_DISCARD_XPATH[0]: navigation, sharing, newsletter, ad, related-links... containers."""
    found = []
    for element in tree.iterdescendants("div", "item", "list", "p", "section", "span"):
        names = element.keys()
        if not names:
            continue
        if (
            "data-lp-replacement-content" in names
            or "nav" in (element.get("role") or "").replace("N", "n")
            or "MostPopularStories" in (element.get("data-component") or "")
            or "cookie" in _first(element, ("id", "class"))
            or _BOILERPLATE_ID_RE.search(element.get("id") or "")
            or _BOILERPLATE_CLASS_RE.search(element.get("class") or "")
        ):
            found.append(element)
    return found


def hidden_and_reply_elements(tree: HtmlElement) -> list[HtmlElement]:
    """OVERALL_DISCARD_XPATH[1]: hidden elements, comment titles and replies."""
    found = []
    for element in tree.iterdescendants(etree.Element):
        names = element.keys()
        if not names:
            continue
        element_id, element_class = element.get("id") or "", element.get("class") or ""
        style = element.get("style") or ""
        if (
            element_class == "comments-title"
            or _first(element, ("id", "class")).startswith("reply-")
            or "hidden" in _first(element, ("id", "style"))
            or "display:none" in style
            or "display: none" in style
            or _HIDDEN_ID_RE.search(element_id)
            or _HIDDEN_CLASS_RE.search(element_class)
            or element.get("aria-hidden") == "true"
        ):
            found.append(element)
    return found


def basic_cleaning_elements(tree: HtmlElement) -> list[HtmlElement]:
    """BASIC_CLEAN_XPATH: asides, footers, scripts, styles, SVGs, templates and cookie banners.

    Most pages have no cookie-banner class or id: one search over all their class and id values
    (joined by newlines, which the pattern cannot match) says so, and then the expression's other
    branches, plain XPath that lxml evaluates without calling back into Python, are the answer.
    """
    values = "\n".join(_CLASS_AND_ID_VALUES(tree))
    if values.isascii():  # then lowercasing is exactly what the 'i' flag does (not so for "ſ" or "İ")
        cookie_banner = _COOKIE_CONSENT_LOWERCASE_RE.search(values.lower())
    else:
        cookie_banner = _COOKIE_CONSENT_RE.search(values)
    if not cookie_banner:
        return _BASIC_CLEAN_WITHOUT_COOKIES(tree)
    return basic_cleaning_walk(tree)


def basic_cleaning_walk(tree: HtmlElement) -> list[HtmlElement]:
    """BASIC_CLEAN_XPATH as a walk over every element (pages with a cookie banner)."""
    found = []
    for element in tree.iterdescendants(etree.Element):
        if element.tag in _BASIC_CLEAN_TAGS:
            found.append(element)
        elif element.keys() and (
            (element.tag == "div" and "footer" in _first(element, ("class", "id")))
            or _COOKIE_CONSENT_RE.search(element.get("class") or "")
            or _COOKIE_CONSENT_RE.search(element.get("id") or "")
        ):
            found.append(element)
    return found


# Where trafilatura uses each list of expressions (or one expression), the expressions as written,
# and the walks.
_REPLACEMENTS = (
    (("core",), "REMOVE_COMMENTS_AND_LISTS_XPATH", [_REMOVE_COMMENTS_AND_LISTS], [comment_sections_and_lists]),
    (("core",), "RAW_TREE_PRUNE_XPATH", [_RAW_TREE_APPENDED_ARTICLES, _RAW_TREE_SHARE_BUTTONS],
     [appended_articles, share_buttons]),
    (("main_extractor", "external"), "OVERALL_DISCARD_XPATH", [_OVERALL_DISCARD_SECTIONS, _OVERALL_DISCARD_HIDDEN],
     [boilerplate_sections, hidden_and_reply_elements]),
    (("baseline",), "BASIC_CLEAN_XPATH", _BASIC_CLEAN, basic_cleaning_elements),
)


def _written_as(expressions: object, sources: str | list[str]) -> bool:
    """Whether trafilatura's expressions are `sources` (blanks collapsed)."""
    if isinstance(sources, str):  # a single expression, not a list
        expressions, sources = [expressions], [sources]
    return (
        isinstance(expressions, list)
        and len(expressions) == len(sources)
        and all(
            " ".join(str(getattr(e, "path", "")).split()) == " ".join(source.split())
            for e, source in zip(expressions, sources)
        )
    )


def _places(package: object) -> Iterator[tuple[str, object, str, str | list[str], object]]:
    """("module", module, NAME, the expressions as written, the walks) for each place trafilatura
    uses them."""
    for modules, name, sources, walks in _REPLACEMENTS:
        for module_name in modules:
            if package is None:
                # not getattr(trafilatura, ...): the package's `baseline` is the function of that name
                module = importlib.import_module(f"trafilatura.{module_name}")
            else:
                module = getattr(package, module_name)
            yield module_name, module, name, sources, walks


def install(package: object = None) -> list[str]:
    """Put the walks in place of trafilatura's expressions in the modules using them, each list only
    where it is the one the walks were written from; the "module.NAME"s that use the walks."""
    for module_name, module, name, sources, walks in _places(package):
        current = getattr(module, name, None)
        if current != walks:
            if _written_as(current, sources):
                setattr(module, name, walks)
            else:
                LOGGER.info("trafilatura.%s.%s is not what newswatch's walks replace: kept", module_name, name)
    return installed(package)


def installed(package: object = None) -> list[str]:
    """The "module.NAME"s of trafilatura that use the walks now (none in a process that did not
    install them: the bench's plain trafilatura loop checks this)."""
    return [
        f"{module_name}.{name}"
        for module_name, module, name, _, walks in _places(package)
        if getattr(module, name, None) == walks
    ]
