"""Main text and metadata of an article page: trafilatura plus a few principled corrections.

`extract_text(html, url)` parses the page once (lxml, as UTF-8 bytes: `_parse`), reads what the page
declares about itself and trafilatura's metadata from that tree, runs `trafilatura.bare_extraction`
on it (trafilatura works on a copy) and then corrects the text with evidence the page itself
provides. There are no per-site rules; every correction is a generic property of news pages:

1. **Comments off** (`include_comments=False`): reader comments and comment-system messages are
   not the article, and a monitor must not alert on them.
2. **Fast first, full fallback only when short**: `fast=True` skips trafilatura's readability/justext
   comparison (which on some pages swaps a clean extraction for a longer, noisier one) and saves
   ~10 ms a page. When the fast pass yields less than `_SHORT_TEXT` characters, the full pass runs
   and the longer text wins.
3. **Line clean-up** of the extracted text (`_clean_lines`):
   - a repeated line (image credit, consent placeholder under every embed) is kept once;
   - the headline, or a kicker + headline variant of it, opening the text is dropped (it is the
     `title`), as are one- and two-word label lines ("Liveblog", "mit Video", "Berlin");
   - a line that is the text of a link to another page, give or take a short kicker ("Hormone:
     <link>"), is dropped: related-article lists, "read also" teasers. In-page links (tables of
     contents pointing at the article's own sub-headings) do not count;
   - short lines matching generic German/English news boilerplate are dropped (`_BOILERPLATE`:
     consent walls for embeds, newsletter/app/subscription promos, cross-reference markers,
     agency copyright codes, photo credits, reading time, media-player durations, bare bylines and
     datelines).
4. **The publisher's own declaration**: when JSON-LD (schema.org `NewsArticle`...) carries an
   `articleBody` that is plausibly the same article (it covers most of what was extracted, or what
   was extracted covers most of it), extracted lines that are not part of it are dropped. When
   the page shows only part of what it declares (what we extracted is in `articleBody`, which is
   at least 1.5x longer: paywalls, lazy loading) or trafilatura found nothing (script-rendered
   pages), the declared body is the text. An unrelated `articleBody` is ignored.
5. **The teaser** (standfirst): when the page shows its meta description as visible body text and
   the extraction lacks it, it is put first. Trafilatura often takes the teaser, which sits in the
   article header beside the headline, for header boilerplate.

Sub-headings are kept by default (they are the author's text and carry topic words);
`keep_headings=False` leaves running text only.

Measured on the 86 German Fundus pages (tests/test_extraction_quality.py, token F1 as defined in
tests/fundus.py), plain `trafilatura.extract` vs this module, same run:
summary + paragraphs reference: 0.930 -> 0.960 (0.976 with keep_headings=False);
summary + headlines + paragraphs reference: 0.943 -> 0.975; worst page 0.60 -> 0.73.
Cost: about 0.72x plain `trafilatura.extract` as shipped (CPU time, one process, all 86 pages by
one then by the other, which goes first alternating, 10 pairs: 0.67-0.77; it was 1.2x). Where the
time went and what was done about it: trafilatura's costliest XPath expressions (12.6 ms a page,
tree walks of 3.8 ms now, and html2txt's cleaning 5.5 ms a call, ~1.5 now:
extractors/trafilatura_prunes.py), `_parse` (trafilatura's loader scans the whole page
with a regex for control characters, as did we), `_metadata` (trafilatura's `extract_metadata` also
collects categories, tags and licence, and runs htmldate even when the page declares its date), and
the teaser check (`_PageFacts.shows`); the fast pass itself is ~60% of the cost.

Metadata: `title` is trafilatura's (as `trafilatura.metadata.extract_metadata` finds it, without the
parts we do not use; site-name suffixes such as " | DW" removed, completed from the page's
`<h1>`/JSON-LD headline when trafilatura cut it short); `author` and `sitename` are trafilatura's
too; `published_at` comes from
`article:published_time` / JSON-LD `datePublished` (naive times read as Europe/Berlin), else
trafilatura's date (midnight UTC), always timezone-aware UTC and None when invalid or in the
future; `html_language` from `<html lang>` (else `content-language`/`og:locale`), two letters;
`canonical_url` from `<link rel=canonical>`, else `og:url`, made absolute, http(s) only.

The function never raises: hostile input (binary junk, control characters, absurd nesting, empty
string, malformed JSON-LD) yields None or whatever text there is, as does a page without usable
text.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from urllib.parse import urljoin, urlsplit

import trafilatura
from lxml import etree
from lxml.html import HtmlElement, fromstring
from trafilatura import metadata as trafilatura_metadata
from trafilatura.json_metadata import JSON_UNICODE_REPLACE, extract_json, extract_json_parse_error
from trafilatura.settings import Document, set_date_params
from trafilatura.utils import DOCTYPE_TAG, FAULTY_HTML, HTML_PARSER, HTML_STRIP_TAGS, load_html, trim
from trafilatura.xml import xmltotxt

from extractors import trafilatura_prunes
from extractors.language import normalise_language
from newswatch.records import ExtractedText

LOGGER = logging.getLogger(__name__)

# trafilatura's costliest XPath expressions as tree walks, in every process that extracts (the same
# elements, cheaper; see the module)
trafilatura_prunes.install()

# Pages larger than this are cut before parsing (the fetcher caps bodies too; this bounds our cost).
MAX_HTML_BYTES = 4_000_000
# Below this many characters of text an extraction is not an article.
MIN_TEXT_CHARS = 25
# A fast-mode extraction shorter than this is retried with trafilatura's full fallbacks.
_SHORT_TEXT = 600

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
# The same characters in UTF-8: the single-byte ones map to a space (bytes.translate is ~20x faster
# than a regex scan of the decoded page); U+FFFE/U+FFFF are three bytes each.
_CONTROL_BYTES = bytes(
    0x20 if b <= 0x08 or b in (0x0B, 0x0C) or 0x0E <= b <= 0x1F or b == 0x7F else b for b in range(256)
)
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")
_TOKEN = re.compile(r"\w+")
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]{0,200}\?>")
# trafilatura.utils' repairs of the first lines, for bytes
_DOCTYPE_TAG = re.compile(DOCTYPE_TAG.pattern.encode(), re.IGNORECASE)
_FAULTY_HTML = re.compile(FAULTY_HTML.pattern.encode(), re.IGNORECASE)
_WS = re.compile(r"\s+")

# Generic news boilerplate, one regex per family, matched against a whole (short) line.
# German first (the product's market), with the English equivalents seen on international outlets.
_BOILERPLATE_PATTERNS = [
    # consent placeholders for embedded third-party content
    r"externer inhalt\b.*",
    r"empfohlener (redaktioneller|externer) inhalt",
    r".*\bprivatsphäre-?einstellungen\b.*",
    r"ich bin damit einverstanden, dass mir (der )?externe.*",
    r".*\b(um|damit) (diesen|den|externen) (inhalt|beitrag|post)\b.*(anzuzeigen|zu sehen|zu laden).*",
    r".*\bjavascript\b.*\b(aktivieren|deaktiviert|einschalten)\b.*",
    r"(embed|anzeige|werbung|advertisement|sponsored|sponsored content|teilen|share)",
    # promotion of newsletters, apps, subscriptions, donations
    r".*\bnewsletter\b.*\b(abonnieren|anmelden|informiert|hier|kostenlos|bestellen)\b.*",
    r"(.*[\s:!.])?(jetzt|hier) (gratis |kostenlos )?(testen|abonnieren|registrieren|herunterladen|anmelden)\b.*",
    r".*\b(e-paper|push-nachrichten|news-app|whatsapp-kanal)\b.*",
    r".*\b(unabhängiger journalismus|journalismus braucht|unterstützen sie (uns|unsere|unseren|unabhängigen))\b.*",
    r".*\bfolgen sie uns\b.*",
    r".*\baffiliate-links?\b.*",
    # cross-references: the marker alone, or the marker, a colon and a headline
    r"(lesen sie (auch|mehr|hier)|mehr zum thema|zum thema|auch interessant|das könnte sie (auch )?interessieren"
    r"|weitere artikel|weitere nachrichten|mehr dazu|mehr lesen|ähnliche( artikel| themen)?|themen|schlagworte"
    r"|empfehlungen|meistgelesen|read more|related( articles)?|more on this story)\s*(:.{0,120}|[.!]?)",
    r".{0,80}\blesen sie (in|im|auf|bei|hier)\b.{0,60}:",
    # comment system and error-report boxes
    r".*\b(nur angemeldete|zum kommentieren|kommentar(e|funktion)? (schreiben|abgeben|lesen)|kommentare? anzeigen)\b.*",
    r".*\bfehler (im text |im artikel |auf [\w.-]+ )?(gefunden|entdeckt)\b.*",
    r"inhaltliches feedback\?.*",
    # copyright, agency codes, photo and source credits
    r"(©|\(c\)|copyright\b).{0,160}",
    r".*\bdpa-infocom\b.*",
    r".{0,80}\b(getty images|picture alliance|picture-alliance|imago images|shutterstock|istock)\b.{0,40}",
    r"(foto|fotos|bild|bilder|bildquelle|grafik|video|quelle|quellen|sendung|mitarbeit|redaktion"
    r"|übersetzung|text|audio|audioversion)\s*:.{0,100}",
    # syndication and translation notes, ratings, media players, leaked page-config values
    r"dieser (artikel|beitrag|text) (ist|erschien|wurde) (zuerst|ursprünglich|erstmals)\b.{0,120}",
    r".*\bmaschinelle übersetzung\b.*",
    r"(lesen sie|lest|lies) den originalartikel\b.{0,60}",
    r"(dieses thema|diese sendung|dieser beitrag) (im|lief im) (programm|radio|fernsehen)\b.{0,160}",
    r"(durchschnittliche )?bewertung\s*:?\s*\d.{0,20}",
    r".*\bkostenlos (testen|lesen|registrieren)\b.*",
    r".{0,40}\b\d{1,2}:\d{2}\s*min\b.{0,40}",
    r".{0,40}\bverfügbar bis\b.{0,40}",
    r"(true|false|null|undefined|(?-i:[a-z]+[A-Z]\w*)\s*:)",
    # reading time, datelines, bylines
    r".{0,20}\b\d+\s*(min\.?|minuten?)\s*(lesezeit|lesedauer)\b.{0,20}",
    r"(lesezeit|lesedauer)\s*:?.{0,20}",
    r"(stand|aktualisiert|veröffentlicht|erstellt|updated|published)\s*:?\s*(am\s+)?\d.{0,40}",
]
_BOILERPLATE = re.compile("|".join(f"(?:{p})" for p in _BOILERPLATE_PATTERNS), re.IGNORECASE)
_BOILERPLATE_MAX_TOKENS = 40  # only short lines can be boilerplate; paragraphs never are

# Consent walls for embeds: specific enough to match whole longer paragraphs.
_CONSENT = re.compile(
    r"(ich bin damit einverstanden|ich willige ein|mit (dem|einem) klick auf|wenn sie (den|diesen) "
    r"(inhalt|beitrag) (aktivieren|laden|anzeigen)).{0,80}\b(extern|drittanbieter|dritt-?plattform"
    r"|personenbezogene)\w*\b.*",
    re.IGNORECASE,
)
_CONSENT_MAX_TOKENS = 90

# Lines that are only a date and/or time ("28.04.2023, 19:25 Uhr", "Freitag, 28.04.2023").
_DATE_LINE = re.compile(
    r"^(?:(?:mo|di|mi|do|fr|sa|so|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)\w*,?\s*)?"
    r"(?:\d{1,2}\.\s*(?:\d{1,2}\.|[a-zäöü]+)\s*\d{2,4}|\d{4}-\d{2}-\d{2})"
    r"(?:\s*[,|-]?\s*(?:um\s*)?\d{1,2}[:.]\d{2}(?:\s*uhr)?)?\s*$",
    re.IGNORECASE,
)
# A bare byline: "Von Anna Beispiel", "von Katja Belousova und Max Mustermann, Berlin".
_NAME = r"(?-i:[A-ZÄÖÜ][\w.'-]+)"
_BYLINE = re.compile(
    rf"^(?:von|by|text|autor|autorin)\s*:?\s+{_NAME}(?:(?:\s+|\s*,\s*|\s+(?:und|and)\s+){_NAME}){{0,6}}$",
    re.IGNORECASE,
)

_ARTICLE_TYPES = re.compile(r"article|posting|report", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# public API


def extract_text(html: str | bytes, url: str | None = None, *, keep_headings: bool = True) -> ExtractedText | None:
    """Main text, title, author, date, `<html lang>` and canonical URL of an article page: its
    text, or its UTF-8 bytes.

    `keep_headings=False` drops the article's sub-headings (`<h2>`...), leaving running text only.
    Returns None when the page yields no usable text. Never raises.
    """
    try:
        return _extract(html, url, keep_headings)
    except Exception as exc:  # noqa: BLE001 — hostile HTML must never break a batch
        LOGGER.debug("extraction failed for %s: %s: %s", url, type(exc).__name__, exc)
        return None


def tokens(text: str) -> list[str]:
    """Lowercase word tokens (`\\w+`), the unit of the quality measure and of our overlap tests."""
    return _TOKEN.findall(text.lower())


# --------------------------------------------------------------------------------------------
# implementation


def _extract(html: str | bytes, url: str | None, keep_headings: bool = True) -> ExtractedText | None:
    if not isinstance(html, (str, bytes)) or not html or html.isspace():
        return None
    tree = _parse(html)
    if tree is None:
        return None

    # Page facts and metadata are read from the tree before trafilatura runs; trafilatura works on
    # a copy, so the tree stays intact for the fallback pass. The teaser check comes last (it strips
    # invisible elements from the tree).
    page = _PageFacts.collect(tree, url)
    meta = _metadata(tree, url, need_date=page.published_at is None)
    source_url = url or meta.url
    document = _trafilatura(tree, source_url, fast=True)
    text = document.text if document is not None and document.text else ""
    if len(text) < _SHORT_TEXT:
        full = _trafilatura(tree, source_url, fast=False)
        if full is not None and full.text and len(full.text) > len(text):
            document, text = full, full.text
    if document is not None and not keep_headings and document.body is not None:
        for head in list(document.body.iter("head")):
            # keep the text that follows the heading (its tail) as a paragraph of its own
            tail, head.tail = head.tail, None
            head.clear()
            head.tag, head.text = "p", tail
        text = xmltotxt(document.body, False)

    title = _best_title(meta.title, page, meta.sitename)
    lines = _clean_lines(text.split("\n"), page, title) if text else []
    declared = _declared_instead(lines, page)
    if declared is not None:
        lines = _clean_lines(declared, page, title)
    else:
        lines = _apply_article_body(lines, page)
    lines = _add_teaser(lines, page)
    body = "\n".join(lines).strip()
    if len(body) < MIN_TEXT_CHARS:
        return None
    return ExtractedText(
        title=title or None,
        text=body,
        author=_clean(meta.author) or None,
        published_at=page.published_at or _parse_datetime(meta.date),
        html_language=page.html_language,
        canonical_url=page.canonical_url,
        sitename=_clean(meta.sitename) or None,
    )


def _parse(html: str | bytes) -> HtmlElement | None:
    """The page as an lxml tree, parsed once; what `trafilatura.utils.load_html` does, cheaper.

    The page is parsed as UTF-8 bytes (a page fetched as UTF-8 arrives as its bytes and is never
    decoded: extractors.charsets.page_markup), which yields the same tree as parsing the string.
    Control characters become spaces and lone surrogates "?" (lxml refuses both); an XML
    declaration is dropped (a declared encoding would override UTF-8); trafilatura's repairs of the
    first line (a DOCTYPE with a slash, a self-closing `<html/>`) are applied. Cleaning up bytes
    spares the two regex scans of the whole decoded page that load_html and we would make
    (together ~10 of the ~16 ms that loading a 360 kB page took).
    """
    if isinstance(html, str):
        html = html[:MAX_HTML_BYTES]  # never more characters than bytes
        try:
            data = html.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            data = html.encode("utf-8", "replace")
    else:
        data = html
    if len(data) > MAX_HTML_BYTES:
        cut = MAX_HTML_BYTES
        while cut and data[cut] & 0xC0 == 0x80:  # not inside a character
            cut -= 1
        data = data[:cut]
    data = _XML_DECLARATION.sub(b"", data, count=1)
    beginning = data[:50].lower()
    if b"doctype" in beginning:  # as trafilatura.utils.repair_faulty_html, on the first line
        first_line_end = data.find(b"\n")
        doctype = _DOCTYPE_TAG.match(data, 0, len(data) if first_line_end < 0 else first_line_end)
        if doctype:
            data = data[doctype.end():]
    for line in data[:4096].splitlines()[:4]:
        if b"<html" in line and line.endswith(b"/>"):
            data = _FAULTY_HTML.sub(rb"\1>", data, count=1)
            break
    data = data.translate(_CONTROL_BYTES)
    for noncharacter in _NONCHARACTERS:
        if noncharacter in data:
            data = data.replace(noncharacter, b" ")
    try:
        tree = fromstring(data, parser=HTML_PARSER)
    except Exception:  # noqa: BLE001 — e.g. nothing parseable; trafilatura's loader decides
        tree = None
    if tree is None or len(tree) < 1:
        # trafilatura's own loader, on the string (its second chance at odd input)
        return load_html(_CONTROL.sub(" ", data.decode("utf-8", "replace")))
    if b"html" not in beginning and len(tree) < 2:
        return None  # as load_html: not (well-formed) HTML at all
    return tree


def _metadata(tree: HtmlElement, url: str | None, *, need_date: bool) -> Document:
    """Title, author, URL and site name as `trafilatura.metadata.extract_metadata` finds them.

    The same steps, minus what we do not use: categories, tags and licence (~5 ms a page), the
    htmldate search when the page declares its publication time (which wins over htmldate's date),
    and the search for the canonical URL when neither that search nor the site name needs it.
    """
    meta = trafilatura_metadata.examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None
    try:
        meta = _extract_meta_json(tree, meta)
    except Exception as exc:  # noqa: BLE001 — as extract_metadata: bugs in its JSON-LD reader
        LOGGER.debug("JSON-LD metadata failed: %s", exc)
    if not meta.title:
        meta.title = trafilatura_metadata.extract_title(tree)
    if not meta.author:
        meta.author = trafilatura_metadata.extract_author(tree)  # works on a copy
    if not meta.sitename:
        meta.sitename = trafilatura_metadata.extract_sitename(tree)
    if not meta.url and (url is None or need_date or not meta.sitename):
        meta.url = trafilatura_metadata.extract_url(tree, url)  # only where it is used (below)
    if need_date:
        meta.date = trafilatura_metadata.find_date(tree, **{**set_date_params(True), "url": meta.url})
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif meta.url:
        match = trafilatura_metadata.META_URL.match(meta.url)
        if match:
            meta.sitename = match[1]
    meta.clean_and_trim()
    return meta


# trafilatura.metadata.extract_meta_json, whose preparation of each JSON-LD script (minify, then
# normalize_json) cost ~3 ms a page of the ~4.5 ms the function took: its minifying regex expands a
# replacement template for every string and every blank of the script, and its surrogate filter is a
# Python generator over every character (the script often holds the whole article as articleBody).
# `_prepared_json` gives the same string with C-level scans (tests/test_article_text.py compares the
# two on every fixture page and on generated strings); the schema walk is trafilatura's own.
_JSON_SCRIPTS = etree.XPath('.//script[@type="application/ld+json" or @type="application/settings+json"]')
# What trafilatura's JSON_MINIFY sub keeps: strings whole, other runs of non-blanks, a stray quote.
_JSON_KEPT = re.compile(r'"(?:\\.|[^"\\])*"|[^\s"]+|"')
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _prepared_json(text: str) -> str:
    """`normalize_json(JSON_MINIFY.sub(r"\\1", text))` of trafilatura 2.3, faster."""
    string = "".join(_JSON_KEPT.findall(text))
    if "\\" in string:
        string = string.replace("\\n", "").replace("\\r", "").replace("\\t", "")
        string = JSON_UNICODE_REPLACE.sub(lambda match: chr(int(match[1], 16)), string)
        string = _SURROGATES.sub("", string)
        string = html_lib.unescape(string)
    return trim(HTML_STRIP_TAGS.sub("", string))


def _extract_meta_json(tree: HtmlElement, metadata: Document) -> Document:
    """trafilatura.metadata.extract_meta_json with `_prepared_json`."""
    for element in _JSON_SCRIPTS(tree):
        if not element.text:
            continue
        text = _prepared_json(element.text)
        try:
            metadata = extract_json(json.loads(text, strict=False), metadata)
        except json.JSONDecodeError:
            metadata = extract_json_parse_error(text, metadata)
    return metadata


def _trafilatura(tree: HtmlElement, url: str | None, *, fast: bool) -> Any:
    # deduplicate stays off: it keeps a process-wide cache, so a page processed twice (a retry, a
    # second outlet's copy) would lose its text the second time. Metadata comes from `_metadata`.
    return trafilatura.bare_extraction(
        tree,
        url=url,
        fast=fast,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        deduplicate=False,
        with_metadata=False,
    )


class _PageFacts:
    """What the raw page says about itself: language, canonical URL, JSON-LD, teaser, link texts."""

    __slots__ = (
        "html_language",
        "canonical_url",
        "title",
        "article_body",
        "description",
        "published_at",
        "link_texts",
        "link_keys",
        "body",
        "h1",
        "_visible",
        "_declared",
    )

    def __init__(self) -> None:
        self.html_language: str | None = None
        self.canonical_url: str | None = None
        self.title: str | None = None
        self.article_body: str | None = None
        self.description: str | None = None
        self.published_at: datetime | None = None
        self.link_texts: set[str] = set()
        self.link_keys: set[tuple[str, str, int]] = set()  # (first token, last token, length)
        self.body: HtmlElement | None = None
        self.h1: str | None = None
        self._visible: str | None = None
        self._declared: Counter[str] | None = None

    @property
    def declared(self) -> Counter[str]:
        """Token counts of the JSON-LD `articleBody` (computed on first use)."""
        if self._declared is None:
            self._declared = Counter(tokens(self.article_body or ""))
        return self._declared

    def shows(self, words: list[str]) -> bool:
        """Whether the page's visible body text contains these tokens in a row.

        The same test as `" ".join(words) in " ".join(tokens(visible_text))`, as one regex search
        over the lowercased text. The first call strips scripts, styles and other invisible elements
        from the page's tree: call it only when done with the tree.
        """
        if self._visible is None:
            if self.body is None:
                self._visible = ""
            else:
                etree.strip_elements(self.body, *_INVISIBLE, with_tail=False)  # their tails stay
                self._visible = " ".join(_TEXT_NODES(self.body)).lower()
        if not words:
            return True
        pattern = r"\W+".join(re.escape(word) for word in words)
        return re.search(pattern, self._visible) is not None

    @classmethod
    def collect(cls, tree: HtmlElement, url: str | None) -> _PageFacts:
        facts = cls()
        root = tree.getroottree().getroot()
        facts.html_language = normalise_language(root.get("lang") or root.get("xml:lang"))
        metas: dict[str, str] = {}
        for meta in tree.iter("meta"):
            key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or meta.get("http-equiv") or "")
            content = meta.get("content")
            if key and content and key.lower() not in metas:
                metas[key.lower()] = content.strip()
        if facts.html_language is None:
            facts.html_language = normalise_language(metas.get("content-language") or metas.get("og:locale"))

        canonical = None
        for link in tree.iter("link"):
            rel = (link.get("rel") or "").lower().split()
            if "canonical" in rel and link.get("href"):
                canonical = link.get("href")
                break
        facts.canonical_url = _absolute(canonical or metas.get("og:url"), url)

        ld_dates: list[str] = []
        ld_descriptions: list[str] = []
        bodies: list[str] = []
        for script in tree.iter("script"):
            if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
                continue
            if len(script.text) > 2_000_000:
                continue
            try:
                data = json.loads(script.text, strict=False)
            except (ValueError, RecursionError):  # malformed, or nested absurdly deep
                continue
            for obj in _walk_json(data):
                kind = obj.get("@type")
                kinds = " ".join(kind) if isinstance(kind, list) else str(kind or "")
                if not _ARTICLE_TYPES.search(kinds):
                    continue
                if isinstance(obj.get("articleBody"), str):
                    bodies.append(obj["articleBody"])
                if isinstance(obj.get("datePublished"), str):
                    ld_dates.append(obj["datePublished"])
                if isinstance(obj.get("description"), str):
                    ld_descriptions.append(obj["description"])
                if not facts.title and isinstance(obj.get("headline"), str):
                    facts.title = _clean(obj["headline"])
        if bodies:
            body = max(bodies, key=len)
            if "<" in body:  # some CMSs put markup into articleBody
                body = re.sub(r"<[^>]{0,500}>", " ", body)
            facts.article_body = html_lib.unescape(body)

        for raw in (metas.get("article:published_time"), *ld_dates, metas.get("datepublished"),
                    metas.get("date"), metas.get("dc.date.issued"), metas.get("pubdate")):
            facts.published_at = _parse_datetime(raw)
            if facts.published_at is not None:
                break

        facts.description = _clean(
            metas.get("og:description") or metas.get("description") or metas.get("twitter:description")
            or (ld_descriptions[0] if ld_descriptions else None)
        )
        if not facts.title:
            facts.title = _clean(metas.get("og:title"))

        facts.body = tree.find(".//body")
        if facts.body is not None:
            here = (url or "").split("#", 1)[0]
            for anchor in facts.body.iter("a"):
                href = (anchor.get("href") or "").strip()
                if not href or href.startswith(("#", "javascript:")):
                    continue  # in-page anchors (tables of contents) point at headings we keep
                if "#" in href and here and urljoin(here, href).split("#", 1)[0] == here:
                    continue  # the same, absolute: "https://site/article#section"
                words = tokens(anchor.text_content())
                if len(words) >= 3:
                    facts.link_texts.add(" ".join(words))
                    facts.link_keys.add((words[0], words[-1], len(words)))
            facts.h1 = next((_clean(h.text_content()) for h in facts.body.iter("h1")), None)
        return facts


_INVISIBLE = ("script", "style", "noscript", "template", "svg", "head")
_TEXT_NODES = etree.XPath("descendant-or-self::text()", smart_strings=False)  # ~4x faster than itertext


def _walk_json(data: Any, depth: int = 0) -> Iterable[dict]:
    if depth > 8:
        return
    if isinstance(data, dict):
        yield data
        for value in data.values():
            if isinstance(value, (dict, list)):
                yield from _walk_json(value, depth + 1)
    elif isinstance(data, list):
        for value in data:
            yield from _walk_json(value, depth + 1)


def _clean(value: str | None) -> str:
    if not value:
        return ""
    return _WS.sub(" ", html_lib.unescape(value)).strip()


def _absolute(href: str | None, base: str | None) -> str | None:
    if not href:
        return None
    href = href.strip()
    try:
        absolute = urljoin(base, href) if base else href
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return absolute


def _best_title(extracted: str | None, page: _PageFacts, sitename: str | None) -> str:
    """Trafilatura's title, completed from the page's own headline when it was cut short."""
    title = _clean_title(extracted or page.title or page.h1, sitename)
    for candidate in (page.h1, page.title):
        candidate = _clean_title(candidate, sitename)
        if title and candidate and len(candidate) > len(title) and candidate.startswith(title):
            if not re.match(r"\s*[|–—-]\s", candidate[len(title):]):  # not a " | Section" suffix
                title = candidate
    return title


def _clean_title(title: str | None, sitename: str | None) -> str:
    """Drop a trailing " | Site" / " - SITE" / " – DW – 13.06.2023" from the title."""
    title = _clean(title)
    if not title:
        return ""
    site_tokens = set(tokens(sitename or ""))
    for _ in range(3):
        match = re.match(r"^(?P<head>.+?)\s+[|–—-]\s+(?P<tail>[^|–—]{1,40})$", title)
        if not match:
            break
        tail = match["tail"]
        tail_tokens = tokens(tail)
        is_site = bool(site_tokens) and bool(set(tail_tokens) & site_tokens)
        looks_like_site = len(tail_tokens) <= 3 and (
            is_site or "." in tail or tail.isupper() or _DATE_LINE.match(tail.strip()) is not None
        )
        if not looks_like_site or len(tokens(match["head"])) < 2:
            break
        title = match["head"].strip()
    return title


def _clean_lines(lines: list[str], page: _PageFacts, title: str) -> list[str]:
    title_words = set(tokens(title))
    seen: set[str] = set()
    kept: list[str] = []
    for raw in lines:
        line = _WS.sub(" ", raw).strip()
        if not line:
            continue
        words = tokens(line)
        if not words:
            continue
        key = " ".join(words)
        if key in seen:
            continue  # a repeated line: credits, placeholders; keep the first occurrence
        seen.add(key)
        if len(kept) < 3 and _is_headline_variant(line, words, title_words):
            continue  # the headline (or kicker + headline) opening the text; stored as title
        if len(words) <= 2 and not line.startswith("- ") and not line.endswith((".", "!", "?", ":")):
            continue  # a label ("Liveblog", "mit Video", "Berlin"), not text; list items stay
        if _is_link_line(words, page):
            continue  # the line is (mostly) a link: related articles, "read also" teasers
        bare = line.lstrip("-•*>» ").strip()
        if len(words) <= _BOILERPLATE_MAX_TOKENS and (
            _BOILERPLATE.fullmatch(bare) or _DATE_LINE.match(bare) or _BYLINE.match(bare)
        ):
            continue
        if len(words) <= _CONSENT_MAX_TOKENS and _CONSENT.match(bare):
            continue
        kept.append(line)
    return kept


def _is_link_line(words: list[str], page: _PageFacts) -> bool:
    """Whether a link's text makes up the line, give or take a short kicker before or after it.

    "Hormone: Wechseljahre mit 27: ..." where only "Wechseljahre mit 27: ..." is the link, or
    "nytimes.com: Behind the ... (Englisch)".
    """
    link_texts, link_keys = page.link_texts, page.link_keys
    size = len(words)
    if size < 3 or not link_texts:
        return False
    for start in range(0, min(5, size - 2)):
        for cut in range(0, min(4, size - start - 2)):
            length = size - start - cut
            if (
                length >= 0.6 * size
                and (words[start], words[size - 1 - cut], length) in link_keys  # cheap pre-check
                and " ".join(words[start : size - cut]) in link_texts
            ):
                return True
    return False


def _is_headline_variant(line: str, words: list[str], title_words: set[str]) -> bool:
    """A short line without a sentence end, made mostly of the title's words."""
    if not title_words or len(words) > 30 or line.rstrip().endswith((".", "!", "?")) and len(words) > 12:
        return False
    shared = {w for w in words if w in title_words}
    # most of the line is title, and most of the title is in the line (not a sub-heading that
    # happens to reuse the title's words)
    return sum(1 for w in words if w in shared) >= 0.6 * len(words) and len(shared) >= 0.5 * len(title_words)


def _declared_instead(lines: list[str], page: _PageFacts) -> list[str] | None:
    """The JSON-LD `articleBody` as paragraphs, when it should replace what was extracted.

    That is when trafilatura found nothing, or when the page shows only part of what it declares
    (what we extracted is in the declared body, which is much longer): paywalled and lazily loaded
    articles often carry their full text only there.
    """
    article_body = page.article_body
    if not article_body:
        return None
    declared = page.declared
    declared_size = sum(declared.values())
    if declared_size < _DECLARED_MIN_TOKENS:
        return None
    extracted = Counter(tokens(" ".join(lines)))
    extracted_size = sum(extracted.values())
    overlap = sum((extracted & declared).values())
    if extracted_size and (overlap < 0.8 * extracted_size or declared_size < 1.5 * extracted_size):
        return None
    return [line for line in (_WS.sub(" ", part).strip() for part in article_body.split("\n")) if line]


_DECLARED_MIN_TOKENS = 50


def _apply_article_body(lines: list[str], page: _PageFacts) -> list[str]:
    """Drop extracted lines that are not part of a plausible JSON-LD `articleBody`."""
    if not page.article_body or not lines:
        return lines
    declared = page.declared
    if sum(declared.values()) < _DECLARED_MIN_TOKENS:
        return lines
    extracted = Counter(tokens(" ".join(lines)))
    overlap = sum((extracted & declared).values())
    # Same article? Most of what we extracted must be in it (else it is truncated or unrelated).
    if overlap < 0.8 * sum(extracted.values()) and overlap < 0.9 * sum(declared.values()):
        return lines
    kept = []
    for line in lines:
        words = tokens(line)
        inside = sum(1 for w in words if w in declared)
        if inside >= 0.5 * len(words):
            kept.append(line)
    return kept if kept else lines


def _add_teaser(lines: list[str], page: _PageFacts) -> list[str]:
    """Put the visible teaser (= meta description shown on the page) first when it is missing."""
    description = page.description
    if not description or not lines:
        return lines
    words = tokens(description)
    if len(words) < 8:
        return lines
    teaser_pairs = list(zip(words, words[1:]))
    extracted = tokens(" ".join(lines))
    pairs = set(zip(extracted, extracted[1:]))
    if sum(1 for pair in teaser_pairs if pair in pairs) >= 0.5 * len(teaser_pairs):
        return lines  # already there (or mostly)
    if not page.shows(words):
        return lines  # only in <meta>: an SEO blurb, not a teaser the reader sees
    return [description, *lines]


_BERLIN = None


def _local_zone() -> Any:
    """Naive timestamps on German news pages are local time (Europe/Berlin)."""
    global _BERLIN
    if _BERLIN is None:
        try:
            from zoneinfo import ZoneInfo

            _BERLIN = ZoneInfo("Europe/Berlin")
        except Exception:  # noqa: BLE001 — no tz database: fall back to UTC
            _BERLIN = timezone.utc
    return _BERLIN


def _parse_datetime(value: str | None) -> datetime | None:
    """ISO-8601 date or timestamp -> aware UTC datetime; None when invalid or implausible."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}", value):
        return None
    candidate = value.replace("Z", "+00:00").replace(" ", "T", 1)
    candidate = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", candidate)  # +0200 -> +02:00
    candidate = re.sub(r"\.(\d{1,6})\d*", r".\1", candidate)  # overlong fractions
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value[:10])
        except ValueError:
            return None
    if parsed.tzinfo is None:
        if len(value) <= 10:
            parsed = parsed.replace(tzinfo=timezone.utc)  # a bare date: midnight UTC
        else:
            parsed = parsed.replace(tzinfo=_local_zone())
    parsed = parsed.astimezone(timezone.utc)
    now = datetime.now(timezone.utc)
    if parsed.year < 1990 or parsed > now + timedelta(days=2):
        return None
    return parsed
