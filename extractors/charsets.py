"""A fetched page's bytes as text: charset decoding and binary sniffing.

Decoding runs where the page is built into an article (the extraction workers: extractors.articles),
not in the process that fetches it: the fetching process hands the workers the bytes as served,
which costs it a copy. Decoding them there and pickling the text (encoded to UTF-8 again) took it
~0.7 ms a 360 kB page alone, and in a busy 1,200-page pass ~2.9 ms a page of its time holding the GIL
(py-spy); the pass's flow process now uses ~7.5-9 s of CPU instead of ~10-12 s.

Charset order (`decode_html`, first that decodes strictly wins):
  BOM -> valid UTF-8 -> HTTP header charset -> <meta charset> / http-equiv in the first 4 KB ->
  detection (windows-1252 when it decodes to plausible Western European text, else
  charset_normalizer) -> UTF-8 with replacement characters.
The BOM comes first, as in the WHATWG encoding sniffing algorithm: a page that starts with a
UTF-8 BOM is UTF-8 whatever its header says. Bytes that decode strictly as UTF-8 are UTF-8 even
when the header says "iso-8859-1" (a common mislabel; real latin-1 text with umlauts is never
valid UTF-8). A declared charset that fails to decode strictly (the classic "says utf-8, is
latin-1") falls through to detection instead of producing U+FFFD.
windows-1252 is preferred over charset_normalizer's guess because charset_normalizer labels
short German latin-1 text as cp1250, mac_iceland or even utf_16_le; windows-1252 is also what
browsers assume for German pages without a declaration.
"""

from __future__ import annotations

import codecs
import re

from extractors.urls import redact_url
from newswatch.records import FetchedPage

__all__ = ["decode_html", "looks_binary", "page_markup"]

SNIFF_BYTES = 4096  # how much of a body is looked at for a <meta> charset, markup or binary bytes

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
# Characters windows-1252 produces for Western European text (Latin-1 letters, typographic quotes).
_WESTERN = re.compile(
    "[\u00a0-\u00ff\u20ac\u201a\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d"
    "\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178]"
)
_SUSPECT_LATIN1 = set("\u00a6\u00a8\u00ac\u00af\u00b3\u00b9\u00b8\u00bf\u00be\u00bc\u00bd\u00a4")


def _codec(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    # WHATWG: these labels mean windows-1252 (a superset browsers actually use).
    if label in ("iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "cp819"):
        label = "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _strict(body: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:SNIFF_BYTES])
    if not match:
        return None
    codec = _codec(match.group(1).decode("ascii", "ignore"))
    # WHATWG: a <meta> can never switch to UTF-16/32 (the bytes we read it from were ASCII).
    if codec and codec.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return codec


def _plausible_western(text: str) -> bool:
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return True
    if any(not _WESTERN.match(ch) for ch in non_ascii):
        return False
    # cp1250/iso-8859-2 text decoded as cp1252 shows symbols such as ³ ¹ ¿ ¾ where letters belong.
    suspect = sum(1 for ch in non_ascii if ch in _SUSPECT_LATIN1)
    return suspect <= max(1, len(non_ascii) // 20)


def _detect(body: bytes) -> tuple[str, str] | None:
    western = _strict(body, "cp1252")
    if western is not None and _plausible_western(western[:200_000]):
        return western, "cp1252"
    try:
        import charset_normalizer
    except ImportError:  # pragma: no cover - installed with httpx/requests
        return None
    best = charset_normalizer.from_bytes(body[:200_000]).best()
    if best is None or best.encoding is None:
        return None
    codec = _codec(best.encoding)
    if codec is None or (codec.startswith(("utf-16", "utf-32")) and b"\x00" not in body[:SNIFF_BYTES]):
        return None  # HTML without NUL bytes is not UTF-16: a known misdetection on short text
    text = _strict(body, codec)
    return (text, codec) if text is not None else None


def decode_html(body: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """Decode an HTML body; returns (text, codec used). Never raises."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            text = _strict(body[len(bom):], codec)
            if text is not None:
                return text, codec
    # Valid UTF-8 with non-ASCII bytes is practically never legacy text: it wins over a
    # (frequently wrong) single-byte declaration such as "iso-8859-1".
    text = _strict(body, "utf-8")
    if text is not None:
        return text, "utf-8"
    for codec in (_codec(header_charset), _meta_charset(body)):
        text = _strict(body, codec)
        if text is not None:
            return text, codec or "utf-8"
    detected = _detect(body)
    if detected is not None:
        return detected
    return body.decode("utf-8", errors="replace"), "utf-8"


# Control characters other than tab, line feed, form feed and carriage return; counted by deleting
# them (C speed: the per-byte Python loop this replaces cost ~0.5 ms a page in the main process).
_CONTROL_BYTES = bytes(byte for byte in range(32) if byte not in (9, 10, 12, 13))
_DROP_CONTROL_CHARS = dict.fromkeys(_CONTROL_BYTES)


def looks_binary(body: bytes, text: str | None = None) -> bool:
    """NUL bytes, many control characters, or a decode that is mostly replacement characters."""
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # NULs are legitimate here
        if text is None:
            return False
        sample = text[:20_000]
        controls = len(sample) - len(sample.translate(_DROP_CONTROL_CHARS))
        return bool(sample) and (controls + sample.count("\ufffd")) / len(sample) > 0.02
    head = body[:SNIFF_BYTES * 2]
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if head and controls / len(head) > 0.02:
        return True
    if text:
        sample = text[:20_000]
        if sample.count("\ufffd") / len(sample) > 0.05:
            return True
    return False


def page_markup(page: FetchedPage) -> tuple[str | bytes | None, str | None]:
    """What the HTML parser reads of a fetched page, or why it cannot: (markup, None) or (None, error).

    The markup is the body itself when it is UTF-8 (bytes: the parser reads UTF-8, so the decoded
    text would only be encoded again), else the decoded text. Bytes that are not valid UTF-8 and
    only decode with replacement characters are left for lxml, which replaces them the same way.
    """
    body = page.body or b""
    text, codec = decode_html(body, page.charset)
    if looks_binary(body, text):
        served = page.content_type or "no content type"
        return None, f"{redact_url(page.item.url)}: not HTML (binary content, served as {served})"
    if codec == "utf-8":
        return body.removeprefix(codecs.BOM_UTF8), None  # the decoded text was only the check
    return text, None
