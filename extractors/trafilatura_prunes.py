"""trafilatura's raw-tree prunes as Python tree walks: the same elements, ~5x cheaper.

Before anything else, `trafilatura_sequence` prunes the raw page with three XPath expressions
(`RAW_TREE_PRUNE_XPATH`, and `REMOVE_COMMENTS_AND_LISTS_XPATH` since comments are off). Each tests
the `id` and `class` of every `div`, `section`, `aside`, list... with EXSLT `re:test`, which lxml
answers by calling back into Python for every attribute: ~11 ms of the ~60 ms a page costs a
worker (measured on the 86 Fundus pages, the largest XPath cost of an extraction; the expressions
trafilatura evaluates after cleaning cost ~5 ms together). Walking the elements with the same
regular expressions returns the same elements in the same (document) order in ~2 ms.

`install()` puts the walks in place of the expressions in `trafilatura.core` (the only module that
uses them), and only where trafilatura's expressions are, word for word, the ones written out
below: a trafilatura that changes them keeps its own and extracts as before, just slower.
extractors.article_text installs them, so they apply in every process that extracts with newswatch;
the bench's plain trafilatura loop runs in a process that does not, and checks it.
tests/test_trafilatura_prunes.py compares walks and expressions on every Fundus page and on
generated markup, and whole extractions with and without them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from types import ModuleType

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

# re:test(@attr, pattern) is re.search(pattern, value), a missing attribute being "" (lxml's EXSLT)
_COMMENTS_ID_OR_THREAD = re.compile(f"^(?:{_COMMENTS_ID}|disqus_thread|dsq-comments)")
_COMMENTS_ID_START = re.compile(f"^(?:{_COMMENTS_ID})")
_COMMENTS_CLASS_RE = re.compile(_COMMENTS_CLASS)
_APPENDED_RE = re.compile(_APPENDED_ARTICLES)
_APPENDED_THEME_RE = re.compile(_APPENDED_ARTICLES_THEME)

Walk = Callable[[HtmlElement], list[HtmlElement]]


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


def _same(expression: object, source: str) -> bool:
    return " ".join(str(getattr(expression, "path", "")).split()) == " ".join(source.split())


def install(core: ModuleType | None = None) -> bool:
    """Replace `core`'s (trafilatura.core's) raw-tree prune expressions with the walks; False, and
    nothing replaced, when its expressions are not the ones the walks were written from."""
    if core is None:
        import trafilatura.core as core
    replacements: dict[str, list[Walk]] = {}
    for name, sources, walks in (
        ("REMOVE_COMMENTS_AND_LISTS_XPATH", [_REMOVE_COMMENTS_AND_LISTS], [comment_sections_and_lists]),
        (
            "RAW_TREE_PRUNE_XPATH",
            [_RAW_TREE_APPENDED_ARTICLES, _RAW_TREE_SHARE_BUTTONS],
            [appended_articles, share_buttons],
        ),
    ):
        expressions = getattr(core, name, None)
        if expressions == walks:
            continue  # installed already
        if not (
            isinstance(expressions, list)
            and len(expressions) == len(sources)
            and all(_same(e, s) for e, s in zip(expressions, sources))
        ):
            LOGGER.info("trafilatura's %s is not the expression newswatch's walk replaces: kept", name)
            return False
        replacements[name] = walks
    for name, walks in replacements.items():
        setattr(core, name, walks)
    return True
