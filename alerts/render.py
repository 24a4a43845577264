"""What an alert says, per kind of channel: pure functions from alert content to a Message.

No I/O, no Apprise, no Prefect: the sender (alerts/channels.py) and the outbox (alerts/outbox.py)
call these and hand the Message to Apprise. Three styles:

- "slack": Slack mrkdwn for one Block Kit section (body) and a plain_text header block (title).
- "email": an HTML body with inline styles only (Apprise derives the plain-text part); the title
  is the subject, plain text on one line.
- "text": plain text for every other service (webhooks, Telegram, ntfy, Teams, ...).

Everything except our own German labels comes from strangers' web pages. Every field is reduced
to one line (control, bidi-override and zero-width characters removed, whitespace collapsed) and
escaped for the style: Slack's three control characters become entities and its formatting
characters look-alikes, HTML goes through html.escape. Links are made only from http(s) URLs.

Limits are measured on the finished output and always hold. Whole items are dropped first
("… und N weitere"), then texts are shortened with "…". Texts are cut before they are escaped,
at a grapheme boundary (preferring a word boundary), so no entity, tag or `<…|…>` link is ever
cut in half. The article link is placed first, so it survives whenever the body limit allows it.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

Style = Literal["slack", "email", "text"]  # Slack mrkdwn | HTML email | plain text


@dataclass(frozen=True, slots=True)
class Limits:
    title: int  # max characters of the title (email subject / Slack header / notification title)
    body: int  # max characters of the body AFTER escaping/markup


# Slack: header blocks take 150 characters, a section's text 3,000.
SLACK_LIMITS = Limits(title=150, body=3000)
# Email has no hard limit, but Apprise's email plugin declares 32,768 characters (body_maxlen): stay
# below it so an overflow setting never splits the HTML. Mail clients show far less of a subject.
EMAIL_LIMITS = Limits(title=200, body=32_000)


@dataclass(slots=True)
class AlertContent:
    """Everything one development alert shows; plain text as stored, nothing escaped yet.
    All of it except decision/kind comes from strangers' web pages: hostile."""

    alert_id: str
    kind: str  # "first" (the story's first alert on this channel) or "follow_up" (an update with new facts)
    decision: str  # "new_development" or "update"
    headline: str
    outlet: str
    published_at: datetime | None  # timezone-aware (UTC); shown in Europe/Berlin
    topic_names: list[str]
    url: str
    novel_sentences: list[str]
    new_facts: list[dict]  # {"kind": "number"|"name"|"quote", "text": as written, "key": ..., "sentence": int}
    also_reported_by: list[str]  # other outlets of the same story
    novelty_score: float = 0.0


@dataclass(slots=True)
class HealthContent:
    feed_name: str
    feed_url: str
    status: str  # "failing" or "recovered"
    consecutive_failures: int
    last_error: str | None
    last_success_at: datetime | None
    failing_since: datetime | None  # first failure of the streak, if known


@dataclass(slots=True)
class Message:
    title: str
    body: str
    body_format: Literal["markdown", "html", "text"]  # slack -> "markdown", email -> "html", text -> "text"
    listed: int | None = None  # a digest: how many of its items it lists (the first ones), the rest only counted


BERLIN = ZoneInfo("Europe/Berlin")
ELLIPSIS = "…"

# Display caps, in output characters: an alert is read in seconds, it is not a reprint.
HEADLINE_CAP = 300
SENTENCE_CAP = 600
FACT_CAP = 160
NAME_CAP = 100  # an outlet, a topic, a feed name
ERROR_CAP = 500
HOST_CAP = 80
MAX_FACTS = 12  # shown in "Neue Fakten"; the rest are counted
MIN_SHRUNK = 24  # a text shortened to fewer characters than this says nothing; drop the item instead
WORD_BACKOFF = 20  # a cut moves back to the last space when that loses at most this many characters (and a quarter)

_BODY_FORMAT: dict[str, Literal["markdown", "html", "text"]] = {"slack": "markdown", "email": "html", "text": "text"}


# --- one line of hostile text --------------------------------------------------------------------

_JOINERS = frozenset("\u200c\u200d")  # ZWNJ/ZWJ: parts of emoji sequences and of some scripts
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # controls, bidi overrides/zero-width, lone surrogates
_SPACES = re.compile(r"\s+")


def _keep(char: str) -> bool:
    return (
        char.isprintable()
        or char.isspace()
        or char in _JOINERS
        or unicodedata.category(char) not in _DROP_CATEGORIES  # unassigned (newer emoji), private use
    )


def clean_line(text: object, cap: int = 20_000) -> str:
    """One line of display text: control and format characters removed, whitespace collapsed.

    Only about the first `cap` characters matter for display, so a megabyte of input is never
    scanned character by character; the result is marked with "…" when input was left off."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    raw = text[: cap * 4 + 1024]
    left_off = len(raw) < len(text)
    if not raw.isprintable():
        raw = "".join(filter(_keep, raw))
    line = _SPACES.sub(" ", raw).strip()
    if left_off and len(line) <= cap:
        line = f"{line} {ELLIPSIS}".lstrip()
    return line


# --- cutting without breaking a character, an entity or markup -------------------------------------

_VARIATION = ((0xFE00, 0xFE0F), (0x1F3FB, 0x1F3FF), (0xE0020, 0xE007F), (0xE0100, 0xE01EF))


def _extends(char: str) -> bool:
    """Whether `char` belongs to the grapheme before it (accents, emoji modifiers, joiners)."""
    if char == "\u200d" or unicodedata.category(char) in ("Mn", "Mc", "Me"):
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _VARIATION)


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _grapheme_start(text: str, n: int) -> int:
    """The largest cut <= n that does not split a grapheme (approximately: UAX 29 without tables)."""
    while 0 < n < len(text) and (_extends(text[n]) or text[n - 1] == "\u200d"):
        n -= 1
    if 0 < n < len(text) and _regional(text[n]) and _regional(text[n - 1]):
        run, j = 0, n - 1
        while j >= 0 and _regional(text[j]):
            run, j = run + 1, j - 1
        if run % 2:  # flags are pairs of regional indicators
            n -= 1
    return n


def _cut(text: str, room: int, cost: Callable[[str], int]) -> int:
    """How many leading characters of `text` fit in `room` output characters once escaped."""
    used = n = 0
    for char in text:
        used += cost(char)
        if used > room:
            break
        n += 1
    else:
        return n
    n = _grapheme_start(text, n)
    space = text.rfind(" ", 0, n)
    if space > 0 and n - space <= min(WORD_BACKOFF, n // 4) and text[n] != " ":
        n = space
    return n


# --- the three styles ------------------------------------------------------------------------------

_SLACK_TABLE = str.maketrans(
    {
        # Slack's control characters: nothing from an article can open a mention or a link.
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        # mrkdwn has no escape for its formatting characters, so article text gets look-alikes: a
        # stray * or ` would pair with our own bold markers or open a code span that swallows our
        # link. A word joiner after @ keeps "@channel" from ever being read as a mention.
        "*": "\u2217",
        "_": "\u02cd",
        "~": "\u223c",
        "`": "\u02cb",
        "@": "@\u2060",
    }
)
_SLACK_COST = {"&": 5, "<": 4, ">": 4, "@": 2}
# Plain text goes to Mattermost, Rocket.Chat, Discord...: there too "@channel"/"@everyone" would notify.
_TEXT_TABLE = str.maketrans({"@": "@\u2060"})
_TEXT_COST = {"@": 2}
_HTML_COST = {"&": 5, "<": 4, ">": 4, '"': 6, "'": 6}

_EMAIL_WRAP = (
    (
        '<div style="font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;'
        'color:#1f1f1f;max-width:680px">\n'
    ),
    "\n</div>",
)
_EMAIL_P = {
    "headline": "margin:0 0 6px;font-size:19px;line-height:1.3;font-weight:bold",
    "meta": "margin:0 0 4px;color:#555555;font-size:13px",
    "note": "margin:10px 0;padding:6px 10px;background:#fff4d6;border-left:3px solid #e0a800",
    "heading": "margin:16px 0 6px;font-size:16px;font-weight:bold",
    "plain": "margin:0 0 8px",
    "link": "margin:16px 0 8px",
    "small": "margin:0 0 8px;color:#555555;font-size:13px",
}
_EMAIL_A = "color:#0b57d0;font-weight:bold"
_EMAIL_LI = "margin:0 0 8px"
_EMAIL_LIST = "margin:0 0 10px;padding-left:22px"

Kind = Literal["headline", "meta", "note", "heading", "plain", "link", "small"]


class _Markup:
    """Escaping and the few constructs a message is made of, for one style."""

    __slots__ = ("style",)

    def __init__(self, style: str) -> None:
        # "title": plain text for titles and subjects, which no service reads mentions in.
        if style not in _BODY_FORMAT and style != "title":
            raise ValueError(f"unknown style {style!r} (expected 'slack', 'email' or 'text')")
        self.style = style

    @property
    def body_format(self) -> Literal["markdown", "html", "text"]:
        return _BODY_FORMAT[self.style]

    def esc(self, text: str) -> str:
        if self.style == "slack":
            return text.translate(_SLACK_TABLE)
        if self.style == "email":
            return html.escape(text, quote=True)
        if self.style == "text":
            return text.translate(_TEXT_TABLE)
        return text

    def cost(self, char: str) -> int:
        """Output characters of one input character once escaped (escaping works per character)."""
        if self.style == "slack":
            return _SLACK_COST.get(char, 1)
        if self.style == "email":
            return _HTML_COST.get(char, 1)
        if self.style == "text":
            return _TEXT_COST.get(char, 1)
        return 1

    def bold(self, inner: str) -> str:
        if self.style == "slack":
            return f"*{inner}*"
        if self.style == "email":
            return f"<strong>{inner}</strong>"
        return inner

    @property
    def bold_extra(self) -> int:
        return len(self.bold(""))

    def para(self, kind: Kind, inner: str) -> str:
        """One block (a line; a paragraph in HTML) around already escaped content."""
        if self.style == "email":
            return f'<p style="{_EMAIL_P[kind]}">{inner}</p>'
        if self.style == "slack":
            if kind in ("headline", "heading"):
                return f"*{inner}*"
            if kind == "note":
                return f"_{inner}_"
        if self.style == "text" and kind == "heading":
            return f"{inner}:"
        return inner

    def overhead(self, kind: Kind) -> int:
        return len(self.para(kind, ""))

    def item(self, inner: str) -> str:
        if self.style == "email":
            return f'<li style="{_EMAIL_LI}">{inner}</li>'
        return ("• " if self.style == "slack" else "- ") + inner

    @property
    def item_overhead(self) -> int:
        return len(self.item(""))

    def list_open(self, ordered: bool = False) -> list[str]:
        if self.style != "email":
            return []
        tag = "ol" if ordered else "ul"
        return [f'<{tag} style="{_EMAIL_LIST}">']

    def list_close(self, ordered: bool = False) -> list[str]:
        return [("</ol>" if ordered else "</ul>")] if self.style == "email" else []

    def blank(self) -> list[str]:
        """A blank line between sections (HTML spaces its paragraphs with margins)."""
        return [] if self.style == "email" else [""]

    def link(self, href: str, inner: str) -> str:
        """A link around escaped text; `href` comes from web_url (http/https, percent-encoded)."""
        if self.style == "slack":
            return f"<{href.replace('&', '&amp;')}|{inner}>"
        if self.style == "email":
            return f'<a href="{html.escape(href, quote=True)}" style="{_EMAIL_A}">{inner}</a>'
        return f"{inner}: {href}"

    def fit(self, text: str, budget: int) -> str:
        """`text` escaped in at most `budget` characters, shortened with "…" when needed."""
        return self.fit_spans([(text, False)], budget)

    def fit_spans(self, spans: Sequence[tuple[str, bool]], budget: int) -> str:
        """Spans of text (bold where True) escaped in at most `budget` characters; shortened with
        "…" after the last span that fits (a bold span is closed before the "…")."""
        if budget <= 0:
            return ""
        capped = [(text[: budget + 1], bold) for text, bold in spans]  # escaping never shortens
        pieces = [self.esc(text) for text, _ in capped]
        whole = all(len(a) == len(b) for (a, _), (b, _) in zip(spans, capped, strict=True))
        if whole and sum(len(p) + (self.bold_extra if bold else 0) for p, (_, bold) in zip(pieces, spans)) <= budget:
            return "".join(self.bold(p) if bold else p for p, (_, bold) in zip(pieces, spans))
        if budget < len(ELLIPSIS):
            return ""
        room = budget - len(ELLIPSIS)
        out: list[str] = []
        used = 0
        for (text, bold), piece, (original, _) in zip(capped, pieces, spans, strict=True):
            extra = self.bold_extra if bold else 0
            if len(text) == len(original) and used + len(piece) + extra <= room:
                out.append(self.bold(piece) if bold else piece)
                used += len(piece) + extra
                continue
            if room - used - extra > 0:
                part = text[: _cut(text, room - used - extra, self.cost)].rstrip()
                if part:
                    out.append(self.bold(self.esc(part)) if bold else self.esc(part))
            break
        return "".join(out).rstrip() + ELLIPSIS

    def document(self, limit: int) -> tuple[str, str]:
        """The wrapper around the body: the email's styled <div>, when there is room for it."""
        if self.style == "email" and limit >= len(_EMAIL_WRAP[0]) + len(_EMAIL_WRAP[1]) + 300:
            return _EMAIL_WRAP
        return "", ""


def _fit_plain(text: str, limit: int) -> str:
    """A title: plain text on one line, shortened with "…" to at most `limit` characters."""
    return _Markup("title").fit(text, limit)


# --- URLs ------------------------------------------------------------------------------------------

_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URL_UNSAFE = re.compile(r"[\s|<>\"`\\^{}]")


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def web_url(url: object) -> str | None:
    """The URL made safe inside an href or a Slack `<…|…>`, or None unless it is http(s) with a host.

    `|`, `<`, `>`, quotes, whitespace and invisible characters are percent-encoded; a `%` that
    already starts an escape is left alone, so nothing is encoded twice."""
    if not isinstance(url, str):
        return None
    value = url.strip()
    value = _BARE_PERCENT.sub("%25", value)
    if not value.isprintable():
        value = "".join(char if char.isprintable() else _percent(char) for char in value)
    value = _URL_UNSAFE.sub(lambda match: _percent(match.group()), value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return value


def _host(href: str) -> str:
    try:
        return urlsplit(href).hostname or ""
    except ValueError:
        return ""


# --- German formats --------------------------------------------------------------------------------


def _berlin(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # stored times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BERLIN)


def german_time(moment: datetime) -> str:
    """21.11.2026, 14:35 Uhr (Europe/Berlin)."""
    local = _berlin(moment)
    return f"{local:%d.%m.%Y}, {local:%H:%M} Uhr"


def _german_period(start: datetime | None, end: datetime) -> str:
    local_end = _berlin(end)
    if start is None:
        return f"bis {german_time(end)}"
    local_start = _berlin(start)
    if local_start.date() == local_end.date():
        return f"{local_end:%d.%m.%Y}, {local_start:%H:%M}–{local_end:%H:%M} Uhr"
    return f"{german_time(start)} – {german_time(end)}"


def _number(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # 1.234


def _more(n: int, singular: str, plural: str) -> str:
    return f"… und {_number(n)} {singular if n == 1 else plural}"


def developments_count(n: int) -> str:
    if n == 0:
        return "keine neuen Entwicklungen"
    return f"{_number(n)} neue Entwicklung" if n == 1 else f"{_number(n)} neue Entwicklungen"


# --- a body filled by priority, joined in display order --------------------------------------------


def _cost(blocks: Sequence[str]) -> int:
    return sum(len(block) + 1 for block in blocks)  # each block with its newline


class _Body:
    """Blocks placed by priority within a character budget, then joined in display order."""

    def __init__(self, markup: _Markup, limit: int) -> None:
        self.m = markup
        self.open, self.close = markup.document(limit)
        # n blocks take n - 1 newlines, and _cost counts one per block: start one higher.
        self.left = max(0, limit) - len(self.open) - len(self.close) + 1
        self.parts: dict[str, list[str]] = {}
        self.dropped = False  # something had no room at all: the body says "(gekürzt)"

    def room(self, *blocks_before: str) -> int:
        """Characters one more block may have after `blocks_before` (newlines counted)."""
        return self.left - _cost(blocks_before) - 1

    def put(self, name: str, blocks: Sequence[str]) -> bool:
        cost = _cost(blocks)
        if not blocks or cost > self.left:
            return False
        self.parts.setdefault(name, []).extend(blocks)
        self.left -= cost
        return True

    def para(self, name: str, kind: Kind, text: str, cap: int, *, lead: Sequence[str] = ()) -> bool:
        """Place `text` as one block (after `lead`), shortened to the room left and to `cap`."""
        if not text:
            return False
        inner = self.m.fit(text, min(cap, self.room(*lead) - self.m.overhead(kind)))
        if len(inner) < min(MIN_SHRUNK, len(self.m.esc(text))):  # a stub says nothing
            self.dropped = True
            return False
        return self.put(name, [*lead, self.m.para(kind, inner)])

    def items(
        self,
        name: str,
        lead: Sequence[str],
        count: int,
        render: Callable[[int, int, bool], str | None],
        more: Callable[[int], str],
        *,
        ordered: bool = False,
    ) -> int:
        """Place `lead` and as many of `count` items as fit, in order, then a line saying how many
        are left. render(index, room, may_shrink) gives an item's block within `room` or None;
        an item is shortened only when it is the first or has plenty of room, else it is dropped."""
        m = self.m
        fixed = [*lead, *m.list_open(ordered), *m.list_close(ordered)]
        more_cost = _cost([m.para("small", m.esc(more(count)))])  # the longest such line
        placed: list[str] = []
        used = _cost(fixed)
        for index in range(count):
            reserve = more_cost if index < count - 1 else 0
            room = self.left - used - reserve - 1
            block = render(index, room, not placed or room >= 4 * MIN_SHRUNK)
            if block is None or len(block) > room:
                break
            placed.append(block)
            used += len(block) + 1
        if not placed:
            if count:
                self.dropped = True
            return 0
        blocks = [*lead, *m.list_open(ordered), *placed, *m.list_close(ordered)]
        if len(placed) < count:
            blocks.append(m.para("small", m.esc(more(count - len(placed)))))
        if not self.put(name, blocks):  # cannot happen: every block was counted above
            return 0
        return len(placed)

    def join(self, order: Sequence[str]) -> str:
        lines: list[str] = []
        for block in (block for name in order for block in self.parts.get(name, ())):
            if block == "" and (not lines or lines[-1] == ""):
                continue  # no blank line first or twice
            lines.append(block)
        while lines and lines[-1] == "":
            lines.pop()
        return self.open + "\n".join(lines) + self.close if lines else ""


def _inline_list(
    m: _Markup,
    label: str,
    texts: Sequence[str],
    room: int,
    *,
    cap: int,
    total: int,
    more: Callable[[int], str],
    sep: str,
) -> str | None:
    """`label` (escaped) and `texts` joined by `sep`, as many as fit in `room`, then "und N weitere"
    for the rest of `total`; the first text is shortened if it must be. None when nothing fits."""
    if not texts or room <= len(label):
        return None

    def rest(n: int) -> str:
        return m.esc(" " + more(n).removeprefix(ELLIPSIS + " "))

    chosen: list[str] = []
    used = len(label)
    for index, text in enumerate(texts):
        reserve = len(rest(total)) if index < total - 1 else 0
        gap = len(sep) if chosen else 0
        piece = m.fit(text, cap)
        if used + gap + len(piece) + reserve > room:
            if chosen:
                break
            piece = m.fit(text, room - used - reserve)
            if len(piece) < min(MIN_SHRUNK, len(m.esc(text))):
                return None
        chosen.append(piece)
        used += gap + len(piece)
    line = label + sep.join(chosen)
    if len(chosen) < total:
        line += rest(total - len(chosen))
    return line


# --- development alerts ----------------------------------------------------------------------------

MAX_SENTENCES = 20  # novel sentences listed at most; the rest are counted
FACTS_LINE_CAP = 600
ALSO_LINE_CAP = 300


def _unique(texts: Sequence[object], cap: int, limit: int = 500) -> list[str]:
    seen: set[str] = set()
    out = []
    for raw in texts[:limit]:
        text = clean_line(raw, cap)
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return out


def _facts(new_facts: Sequence[object]) -> list[tuple[str, str]]:
    """(kind, text) of the new facts, once each, in their order."""
    seen: set[str] = set()
    facts = []
    for fact in new_facts[:500]:
        if not isinstance(fact, dict):
            continue
        text = clean_line(fact.get("text"), FACT_CAP)
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            facts.append((str(fact.get("kind") or ""), text))
    return facts


_QUOTE_MARKS = "„“”\"»«‚‘’'"


def _fact_label(kind: str, text: str) -> str:
    """A quote is stored without its marks; it is shown with German ones."""
    if kind == "quote" and text[0] not in _QUOTE_MARKS:
        return f"„{text}“"
    return text


def _highlight(sentence: str, facts: Sequence[str]) -> list[tuple[str, bool]]:
    """The sentence as spans, the new facts in it bold. Whole words only: Slack's bold needs word
    boundaries, and "Minsk" inside "Minsker" is not the fact."""
    marks: list[tuple[int, int]] = []
    for fact in sorted({f for f in facts if len(f) >= 2}, key=len, reverse=True):
        start = sentence.find(fact)
        while start != -1 and len(marks) < 50:
            end = start + len(fact)
            boundary = (start == 0 or not sentence[start - 1].isalnum()) and (
                end == len(sentence) or not sentence[end].isalnum()
            )
            if boundary and all(end <= s or start >= e for s, e in marks):
                marks.append((start, end))
            start = sentence.find(fact, end)
    spans: list[tuple[str, bool]] = []
    position = 0
    for start, end in sorted(marks):
        if start > position:
            spans.append((sentence[position:start], False))
        spans.append((sentence[start:end], True))
        position = end
    if position < len(sentence):
        spans.append((sentence[position:], False))
    return spans


def _spans(m: _Markup, sentence: str, facts: Sequence[str]) -> list[tuple[str, bool]]:
    return _highlight(sentence, facts) if m.style != "text" else [(sentence, False)]


def _meta_line(m: _Markup, outlet: str, published_at: datetime | None, room: int, short_day: date | None = None) -> str:
    """Quelle: outlet · time (escaped); the outlet is shortened first, the time is ours and short.
    The label keeps article text from starting a line (a leading ">" would quote it in Slack)."""
    when = ""
    if published_at is not None:
        local = _berlin(published_at)
        when = f"{local:%H:%M} Uhr" if local.date() == short_day else german_time(published_at)
    label = "Quelle: "
    suffix = f" · {when}" if when else ""
    if outlet and room - len(label) - len(suffix) >= min(MIN_SHRUNK, len(m.esc(outlet))):
        return label + m.fit(outlet, min(NAME_CAP, room - len(label) - len(suffix))) + suffix
    return when if len(when) <= room else ""


def _topics_text(topics: Sequence[str]) -> str:
    if not topics:
        return ""
    return ("Thema: " if len(topics) == 1 else "Themen: ") + ", ".join(topics)


def _link_variants(m: _Markup, url: str, label: str, *, show_url: bool = False) -> tuple[list[str], list[str]]:
    """A link line's variants, richest first, and the fallbacks that say why there is no link.
    `show_url`: the visible text is the URL itself, shortened when it must be (never the href)."""
    href = web_url(url)
    if href is not None:
        too_long = [m.esc(f"{label}: (URL zu lang für diese Nachricht)")]
        if m.style == "text":
            return [f"{label}: {href}"], too_long
        if show_url:
            shown = clean_line(url, 2000)
            return [m.esc(f"{label}: ") + m.link(href, m.fit(shown, cap)) for cap in (120, 40)], too_long
        link = m.link(href, m.esc(label))
        host = m.fit(_host(href), HOST_CAP)
        return ([f"{link} ({host})", link] if host else [link]), too_long
    shown = clean_line(url, 2000)
    if shown:
        # Not http(s): never a link, only visible text (javascript:, data:, a relative path ...).
        prefix = m.esc(f"{label.split()[0]}-Adresse (kein Web-Link): ")
        return [], [prefix + m.fit(shown, cap) for cap in (300, 60)]
    return [], [m.esc(f"{label}: keine Adresse")]


def _place_link(
    body: _Body,
    name: str,
    url: str,
    label: str,
    *,
    show_url: bool = False,
    lead: Sequence[str] = (),
    reserve: int = 0,
) -> None:
    """The richest link line that leaves `reserve` characters for what must follow (the headline),
    else the richest that fits at all, else a line saying why there is no link; each without the
    blank line before it if that makes it fit."""
    m = body.m
    links, fallbacks = _link_variants(m, url, label, show_url=show_url)
    for variants, keep in ((links, reserve), (links, 0), (fallbacks, reserve), (fallbacks, 0)):
        for variant in variants:
            block = m.para("link", variant)
            for candidate in ([*lead, block], [block]):
                if _cost(candidate) <= body.left - keep:
                    body.put(name, candidate)
                    return
    body.dropped = True


def render_alert(content: AlertContent, style: Style, limits: Limits) -> Message:
    """The message for one development: what is new, where to read it, who else reports it."""
    m = _Markup(style)
    follow_up = content.kind == "follow_up"
    headline = clean_line(content.headline, HEADLINE_CAP) or "(ohne Schlagzeile)"
    title = _fit_plain(f"{'Update' if follow_up else 'Neue Entwicklung'}: {headline}", limits.title)

    body = _Body(m, limits.body)
    # Placed in priority order (the way to the article first), shown in reading order below.
    headline_room = m.overhead("headline") + min(len(m.esc(headline)), MIN_SHRUNK) + 2  # a shortened headline
    # In email the URL is the visible text: the plain-text part Apprise derives from the HTML keeps
    # only what is visible.
    _place_link(
        body, "link", content.url, "Artikel lesen", show_url=m.style == "email", lead=m.blank(), reserve=headline_room
    )
    body.para("headline", "headline", headline, HEADLINE_CAP)
    outlet = clean_line(content.outlet, NAME_CAP)
    meta = _meta_line(m, outlet, content.published_at, body.room() - m.overhead("meta"))
    if meta:
        body.put("meta", [m.para("meta", meta)])
    elif outlet or content.published_at:
        body.dropped = True
    body.para("topics", "meta", _topics_text(_unique(content.topic_names, NAME_CAP, 50)), 2 * NAME_CAP)
    if follow_up:
        body.para("note", "note", "Folgemeldung zu einer früheren Meldung über dieselbe Geschichte.", 200)
    elif content.decision == "update":
        body.para("note", "note", "Neue Fakten zu einer bereits bekannten Geschichte.", 200)

    heading = [*m.blank(), m.para("heading", m.esc("Was ist neu"))]
    facts = _facts(content.new_facts)
    if facts:
        label = m.bold(m.esc("Neue Fakten:")) + " "
        shown = [_fact_label(kind, text) for kind, text in facts[:MAX_FACTS]]
        room = min(FACTS_LINE_CAP, body.room(*heading) - m.overhead("plain"))
        line = _inline_list(
            m,
            label,
            shown,
            room,
            cap=FACT_CAP,
            total=len(facts),
            sep=" · ",
            more=lambda n: _more(n, "weiterer", "weitere"),
        )
        block = m.para("plain", line) if line else ""
        if block and _cost([*heading, block]) <= body.left:
            body.put("heading", heading)
            body.put("facts", [block])
        else:
            body.dropped = True

    others = [name for name in _unique(content.also_reported_by, NAME_CAP) if name.casefold() != outlet.casefold()]
    if others:
        line = _inline_list(
            m,
            m.esc("Auch berichtet von: "),
            others,
            min(ALSO_LINE_CAP, body.room() - m.overhead("small")),
            cap=NAME_CAP,
            total=len(others),
            sep=", ",
            more=lambda n: _more(n, "weiteres Medium", "weitere Medien"),
        )
        if line is None or not body.put("also", [m.para("small", line)]):
            body.dropped = True

    sentences = [s for s in content.novel_sentences if isinstance(s, str) and s.strip()]
    fact_texts = [text for _, text in facts]

    def sentence(index: int, room: int, may_shrink: bool) -> str | None:
        if index >= MAX_SENTENCES:
            return None
        spans = _spans(m, clean_line(sentences[index], SENTENCE_CAP), fact_texts)
        budget = room - m.item_overhead
        inner = m.fit_spans(spans, SENTENCE_CAP)
        if len(inner) > budget:
            if not may_shrink:
                return None  # short of room: drop it and count it rather than cut it
            inner = m.fit_spans(spans, budget)
            if len(inner) < MIN_SHRUNK:
                return None
        return m.item(inner)

    body.items(
        "sentences",
        [] if "heading" in body.parts else heading,
        len(sentences),
        sentence,
        lambda n: _more(n, "weiterer Satz", "weitere Sätze"),
    )

    if body.dropped:
        body.put("cut", [m.para("small", m.esc("(gekürzt)"))])
    order = ("headline", "meta", "topics", "note", "heading", "sentences", "facts", "link", "also", "cut")
    return Message(title=title, body=body.join(order), body_format=m.body_format)


# --- digests ---------------------------------------------------------------------------------------

# (headline, meta, snippet, link) caps of a digest item, richest first; only the first item shrinks.
_DIGEST_LEVELS: tuple[tuple[int, int, int, bool], ...] = (
    (200, 160, 300, True),
    (120, 100, 120, True),
    (80, 0, 0, True),
    (80, 0, 0, False),
    (30, 0, 0, False),
)


def _digest_item(m: _Markup, content: AlertContent, number: int, level: tuple[int, int, int, bool], day: date) -> str:
    headline_cap, meta_cap, snippet_cap, with_link = level
    headline = m.fit(clean_line(content.headline, HEADLINE_CAP) or "(ohne Schlagzeile)", headline_cap)
    prefix = m.esc("Update: ") if content.kind == "follow_up" else ""
    href = web_url(content.url) if with_link else None
    if m.style == "text":
        lines = [f"{number}. {prefix}{headline}"]
    elif href is not None:
        link = m.link(href, headline)
        lines = [prefix + (m.bold(link) if m.style == "slack" else link)]
    else:
        lines = [prefix + m.bold(headline)]
    if meta_cap:
        meta = _meta_line(m, clean_line(content.outlet, NAME_CAP), content.published_at, meta_cap, day)
        topics = _topics_text(_unique(content.topic_names, NAME_CAP, 50))
        if topics and meta_cap - len(meta) - 3 >= MIN_SHRUNK:
            topics = m.fit(topics, meta_cap - len(meta) - 3)
            meta = f"{meta} · {topics}" if meta else topics
        if meta:
            lines.append(meta)
    if snippet_cap:
        facts = _facts(content.new_facts)
        first = next(
            (clean_line(s, SENTENCE_CAP) for s in content.novel_sentences[:50] if isinstance(s, str) and s.strip()), ""
        )
        if first:
            lines.append(m.esc("Neu: ") + m.fit_spans(_spans(m, first, [t for _, t in facts]), snippet_cap))
        elif facts:
            shown = " · ".join(_fact_label(kind, text) for kind, text in facts[:MAX_FACTS])
            lines.append(m.esc("Neue Fakten: ") + m.fit(shown, snippet_cap))
    if m.style == "text" and href is not None:
        lines.append(href)
    if m.style == "email" and href is not None:  # visible, so the plain-text part has it too
        lines.append(m.link(href, m.fit(clean_line(content.url, 2000), 120)))
    if m.style == "email":
        return m.item("<br>".join(lines))
    if m.style == "slack":
        lines[0] = f"{number}. {lines[0]}"
    return "\n" + "\n".join(lines)  # a blank line before each item


def render_digest(
    items: list[AlertContent], style: Style, limits: Limits, *, period_start: datetime | None, period_end: datetime
) -> Message:
    """One message listing the developments of a period, in the order given."""
    m = _Markup(style)
    count = developments_count(len(items))
    title = _fit_plain(f"newswatch-Digest: {count}", limits.title)
    body = _Body(m, limits.body)
    period = f"{count[0].upper()}{count[1:]}, Zeitraum: {_german_period(period_start, period_end)}"
    body.para("period", "meta", period, 200)
    day = _berlin(period_end).date()

    def item(index: int, room: int, may_shrink: bool) -> str | None:
        for level in _DIGEST_LEVELS if may_shrink else _DIGEST_LEVELS[:1]:
            block = _digest_item(m, items[index], index + 1, level, day)
            if len(block) <= room:
                return block
        return None

    def more(n: int) -> str:
        return _more(n, "weitere Entwicklung", "weitere Entwicklungen")

    listed = body.items("items", [], len(items), item, more, ordered=True)
    if body.dropped:
        body.put("cut", [m.para("small", m.esc("(gekürzt)"))])
    return Message(title=title, body=body.join(("period", "items", "cut")), body_format=m.body_format, listed=listed)


# --- feed health -----------------------------------------------------------------------------------


def render_health(content: HealthContent, style: Style, limits: Limits) -> Message:
    """A feed failing pass after pass, or back again: for the operators."""
    m = _Markup(style)
    name = clean_line(content.feed_name, NAME_CAP) or "(ohne Namen)"
    failing = content.status != "recovered"
    failures = max(0, int(content.consecutive_failures or 0))
    runs = f"{_number(failures)} {'Durchlauf' if failures == 1 else 'Durchläufe'}"
    headline = f"Feed {name} {'fällt aus' if failing else 'wieder erreichbar'}"
    title = _fit_plain(headline, limits.title)

    body = _Body(m, limits.body)
    if failing:
        status = f"{runs} in Folge fehlgeschlagen"
        if content.failing_since is not None:
            status += f", Ausfall seit {german_time(content.failing_since)}"
    else:
        status = "Der Feed liefert wieder"
        if content.failing_since is not None:
            status += f", nach einem Ausfall seit {german_time(content.failing_since)}"
        if failures:
            status += f" ({runs} fehlgeschlagen)"
    body.para("status", "plain", status + ".", 300)
    body.para("headline", "headline", headline, 200)
    _place_link(body, "url", content.feed_url, "Feed-Adresse", show_url=True)
    if failing:
        error = clean_line(content.last_error, ERROR_CAP) if content.last_error else ""
        body.para("error", "plain", f"Letzter Fehler: {error or 'unbekannt'}", ERROR_CAP)
    if content.last_success_at is not None:
        body.para("success", "plain", f"Letzter Erfolg: {german_time(content.last_success_at)}", 100)
    elif failing:
        body.para("success", "plain", "Letzter Erfolg: noch nie", 100)
    if body.dropped:
        body.put("cut", [m.para("small", m.esc("(gekürzt)"))])
    order = ("headline", "status", "error", "success", "url", "cut")
    return Message(title=title, body=body.join(order), body_format=m.body_format)
