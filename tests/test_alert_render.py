"""Alert rendering: what a desk reads, per kind of channel, from hostile article text.

The checks of escaping below parse the output independently of the renderer: Slack links by
their `<url|text>` syntax, HTML with the standard library's parser.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from alerts.render import (
    EMAIL_LIMITS,
    SLACK_LIMITS,
    AlertContent,
    HealthContent,
    Limits,
    Message,
    render_alert,
    render_digest,
    render_health,
)

STYLES = ("slack", "email", "text")
TEXT_LIMITS = Limits(title=250, body=4000)
LIMITS = {"slack": SLACK_LIMITS, "email": EMAIL_LIMITS, "text": TEXT_LIMITS}
URL = "https://www.tagesschau.de/ausland/europa/belarus-gefangene-100.html"
WINTER = datetime(2026, 11, 21, 13, 35, tzinfo=UTC)  # CET: 14:35 in Berlin


def alert(**changes: object) -> AlertContent:
    content = AlertContent(
        alert_id="a1",
        kind="first",
        decision="new_development",
        headline="Belarus lässt 31 politische Gefangene frei",
        outlet="tagesschau.de",
        published_at=WINTER,
        topic_names=["Politische Gefangene", "Belarus-Sanktionen"],
        url=URL,
        novel_sentences=[
            "Machthaber Lukaschenko ließ am Freitag 31 politische Gefangene frei, darunter Ales Bjaljazki.",
            "Der US-Sondergesandte John Coale sprach von einem „wichtigen Schritt“.",
        ],
        new_facts=[
            {"kind": "number", "text": "31 politische Gefangene", "key": "31 gefangen", "sentence": 0},
            {"kind": "name", "text": "Ales Bjaljazki", "key": "bjaljazki", "sentence": 0},
            {"kind": "quote", "text": "Wir sind zu weiteren Gesprächen bereit", "key": "q", "sentence": 3},
        ],
        also_reported_by=["Spiegel", "Zeit Online", "DW"],
        novelty_score=0.7,
    )
    return replace(content, **changes)


def health(**changes: object) -> HealthContent:
    content = HealthContent(
        feed_name="dw-deutsch",
        feed_url="https://rss.dw.com/xml/rss-de-all",
        status="failing",
        consecutive_failures=3,
        last_error="HTTP 503 Service Unavailable",
        last_success_at=datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
        failing_since=datetime(2026, 11, 21, 9, 15, tzinfo=UTC),
    )
    return replace(content, **changes)


# --- independent checkers ------------------------------------------------------------------------

# Every line of a Slack body starts with our own markup or label, never with article text.
SLACK_LINE_STARTS = (
    "*",
    "• ",
    "_",
    "Quelle: ",
    "Thema: ",
    "Themen: ",
    "<http",
    "Artikel",
    "Auch berichtet von: ",
    "… und ",
    "(gekürzt)",
)
SLACK_LINK = re.compile(r"<(https?://[^\s<>|]+)\|([^<>]*)>")
ALLOWED_TAGS = {"div", "p", "ul", "ol", "li", "strong", "a", "br"}


def assert_slack_safe(text: str, hrefs: set[str]) -> None:
    """Only our links are Slack control sequences; every & is one of the three entities."""
    links = SLACK_LINK.findall(text)
    assert {href for href, _ in links} <= hrefs
    rest = SLACK_LINK.sub("", text)
    assert "<" not in rest and ">" not in rest, rest
    for entity in re.findall(r"&[^&\s]{0,6}", text):
        assert entity.startswith(("&amp;", "&lt;", "&gt;")), entity
    for forbidden in ("<!", "<@", "<#"):
        assert forbidden not in text


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.stack: list[str] = []
        self.text: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(body: str) -> _Collect:
    parser = _Collect()
    parser.feed(body)
    parser.close()
    return parser


def assert_html_safe(body: str, hrefs: set[str]) -> str:
    """Only our tags and attributes, balanced, links only to `hrefs`; returns the visible text."""
    parsed = parse_html(body)
    assert parsed.balanced and not parsed.stack, body
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert name in ("style", "href"), name
            if name == "href":
                assert tag == "a" and value in hrefs, value
    return "".join(parsed.text)


def assert_plain_safe(text: str, *, newlines: bool, joiner: bool = False) -> None:
    """No control or invisible format characters (our own word joiner after @ in Slack aside)."""
    for char in text:
        if (char == "\n" and newlines) or (char == "\u2060" and joiner):
            continue
        assert unicodedata.category(char) not in ("Cc", "Cs"), repr(char)
        assert unicodedata.category(char) != "Cf" or char in "\u200c\u200d", repr(char)


def assert_limits(message: Message, limits: Limits) -> None:
    assert len(message.title) <= max(0, limits.title)
    assert len(message.body) <= max(0, limits.body)
    assert "\n" not in message.title and "\r" not in message.title
    assert_plain_safe(message.title, newlines=False)


def visible(message: Message) -> str:
    """What a reader sees, roughly: entities decoded, tags and link targets removed."""
    if message.body_format == "html":
        return "".join(parse_html(message.body).text)
    if message.body_format == "markdown":
        text = SLACK_LINK.sub(lambda m: m.group(2), message.body)
        # our bold and italics (article text never carries * or _ : it gets look-alikes)
        text = re.sub(r"(?m)^_|_$", "", text.replace("*", ""))
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return message.body


# --- what a development alert says ---------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_alert_says_what_is_new_in_german(style: str) -> None:
    message = render_alert(alert(), style, LIMITS[style])
    assert message.title == "Neue Entwicklung: Belarus lässt 31 politische Gefangene frei"
    assert message.body_format == {"slack": "markdown", "email": "html", "text": "text"}[style]
    shown = visible(message)
    for expected in (
        "Belarus lässt 31 politische Gefangene frei",
        "Quelle: tagesschau.de · 21.11.2026, 14:35 Uhr",
        "Themen: Politische Gefangene, Belarus-Sanktionen",
        "Was ist neu",
        "Machthaber Lukaschenko ließ am Freitag 31 politische Gefangene frei, darunter Ales Bjaljazki.",
        "Der US-Sondergesandte John Coale sprach von einem „wichtigen Schritt“.",
        "Neue Fakten: 31 politische Gefangene · Ales Bjaljazki · „Wir sind zu weiteren Gesprächen bereit“",
        "Auch berichtet von: Spiegel, Zeit Online, DW",
    ):
        assert expected in shown, (expected, message.body)
    assert URL in message.body
    assert "Folgemeldung" not in shown
    # reading order: headline, what is new, then the way to the article
    assert shown.index("Belarus lässt") < shown.index("Was ist neu") < shown.index("Auch berichtet von")


def test_slack_alert_links_and_bolds_its_own_markup() -> None:
    body = render_alert(alert(), "slack", SLACK_LIMITS).body
    assert f"<{URL}|Artikel lesen>" in body
    assert "frei, darunter *Ales Bjaljazki*." in body
    assert "am Freitag *31 politische Gefangene* frei" in body
    assert_slack_safe(body, {URL})


def test_email_alert_is_styled_html_with_the_facts_in_bold() -> None:
    body = render_alert(alert(), "email", EMAIL_LIMITS).body
    assert_html_safe(body, {URL})
    # The URL is the visible text: the plain-text part Apprise derives from the HTML keeps it.
    assert f'Artikel lesen: <a href="{URL}"' in body and f">{URL}</a>" in body
    assert "<strong>31 politische Gefangene</strong>" in body
    assert "<script" not in body and "src=" not in body and "http" not in body.replace(URL, "")  # nothing external


def test_text_alert_has_the_url_in_full_and_no_markup() -> None:
    body = render_alert(alert(), "text", TEXT_LIMITS).body
    assert f"Artikel lesen: {URL}" in body
    assert "*" not in body and "<" not in body


def test_a_fact_inside_a_longer_word_is_not_highlighted() -> None:
    content = alert(
        novel_sentences=["Die Minsker Führung und Minsk selbst schweigen."],
        new_facts=[{"kind": "name", "text": "Minsk", "key": "minsk", "sentence": 0}],
    )
    body = render_alert(content, "slack", SLACK_LIMITS).body
    assert "Die Minsker Führung und *Minsk* selbst schweigen." in body


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        (datetime(2026, 1, 15, 12, 0, tzinfo=UTC), "15.01.2026, 13:00 Uhr"),  # CET, UTC+1
        (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "01.07.2026, 14:00 Uhr"),  # CEST, UTC+2
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "29.03.2026, 01:59 Uhr"),  # the minute before the switch
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "29.03.2026, 03:00 Uhr"),  # clocks jump to 03:00
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "25.10.2026, 02:30 Uhr"),  # the first 02:30 ...
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "25.10.2026, 02:30 Uhr"),  # ... and the second
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "01.01.2027, 00:30 Uhr"),  # next day in Berlin
    ],
)
def test_publication_time_is_shown_in_berlin(published: datetime, expected: str) -> None:
    for style in STYLES:
        assert expected in render_alert(alert(published_at=published), style, LIMITS[style]).body


def test_unknown_publication_time_is_left_out() -> None:
    for style in STYLES:
        shown = visible(render_alert(alert(published_at=None), style, LIMITS[style]))
        assert "Uhr" not in shown and "tagesschau.de" in shown


def test_one_topic_is_a_thema_and_none_is_nothing() -> None:
    assert (
        "Thema: Politische Gefangene"
        in render_alert(alert(topic_names=["Politische Gefangene"]), "text", TEXT_LIMITS).body
    )
    body = render_alert(alert(topic_names=[]), "text", TEXT_LIMITS).body
    assert "Thema" not in body


def test_follow_up_says_it_is_an_update_of_an_earlier_alert() -> None:
    for style in STYLES:
        message = render_alert(alert(kind="follow_up", decision="update"), style, LIMITS[style])
        assert message.title == "Update: Belarus lässt 31 politische Gefangene frei"
        assert "Folgemeldung zu einer früheren Meldung" in visible(message)


def test_no_other_outlets_no_facts_no_sentences() -> None:
    content = alert(also_reported_by=[], new_facts=[], novel_sentences=[])
    for style in STYLES:
        shown = visible(render_alert(content, style, LIMITS[style]))
        assert "Auch berichtet von" not in shown and "Neue Fakten" not in shown and "Was ist neu" not in shown
        assert "Belarus lässt 31 politische Gefangene frei" in shown


def test_the_story_s_own_outlet_is_not_listed_as_another() -> None:
    body = render_alert(alert(also_reported_by=["tagesschau.de", "Spiegel"]), "text", TEXT_LIMITS).body
    assert "Auch berichtet von: Spiegel\n" in body + "\n"


# --- hostile text --------------------------------------------------------------------------------

HOSTILE = [
    "<!channel> Eilmeldung",
    "<!here|here> <!everyone> <!subteam^S0123|@desk>",
    "<@U0123ABC> schau mal",
    "<#C0123|general>",
    "<https://evil.example/phish|Hier klicken>",
    "<http://evil|x>",
    "Klick <https://evil.example>",
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    '"><a href="javascript:alert(1)">x</a>',
    "*fett* _kursiv_ ~durch~ `code` ```block```",
    "AT&amp;T &lt;b&gt; schon escaped &#60;",
    "Zeile eins\r\nBcc: opfer@example.org\nSubject: Spam",
    "Rechts\u202enach links\u2066isoliert\u2069 und\u200bunsichtbar\x00\x07\x1b[31m",
    "@channel @here bitte lesen",
    "> Zitatblock\n> zweite Zeile",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_every_field_stays_text(hostile: str) -> None:
    content = alert(
        headline=f"{hostile} Überschrift",
        outlet=hostile,
        topic_names=[hostile],
        novel_sentences=[hostile, f"Satz mit {hostile} darin"],
        new_facts=[{"kind": "name", "text": hostile, "key": "k", "sentence": 0}],
        also_reported_by=[hostile, "DW"],
    )
    slack = render_alert(content, "slack", SLACK_LIMITS)
    assert_slack_safe(slack.body, {URL})
    assert_plain_safe(slack.body, newlines=True, joiner=True)
    assert_limits(slack, SLACK_LIMITS)
    email = render_alert(content, "email", EMAIL_LIMITS)
    assert_html_safe(email.body, {URL})
    assert_limits(email, EMAIL_LIMITS)
    text = render_alert(content, "text", TEXT_LIMITS)
    assert_plain_safe(text.body, newlines=True, joiner=True)
    assert_limits(text, TEXT_LIMITS)
    # every field stays on its line, and in Slack no line starts with article text (">" would quote)
    assert text.body.split("\n", 1)[0].endswith("Überschrift")  # the headline stayed on its line
    for line in slack.body.splitlines():
        assert line == "" or line.startswith(SLACK_LINE_STARTS), line


def test_slack_mentions_and_forged_links_are_escaped_visibly() -> None:
    content = alert(headline="<!channel> <https://evil.example|Klick> <@U0123>")
    body = render_alert(content, "slack", SLACK_LIMITS).body
    assert "&lt;!channel&gt; &lt;https://evil.example|Klick&gt; &lt;@\u2060U0123&gt;" in body
    # the header block is plain_text: the title stays readable and unescaped, on one line
    assert render_alert(content, "slack", SLACK_LIMITS).title == (
        "Neue Entwicklung: <!channel> <https://evil.example|Klick> <@U0123>"
    )


def test_slack_formatting_characters_from_articles_cannot_pair_with_ours() -> None:
    content = alert(
        headline="*Eil* _x_ ~y~ `z`",
        novel_sentences=["Er sagte: 31 politische Gefangene* seien `frei`."],
    )
    body = render_alert(content, "slack", SLACK_LIMITS).body
    assert "∗Eil∗" in body and "`" not in body and "_x_" not in body and "~y~" not in body
    # our own bold markers remain the only asterisks, and they pair up on every line
    for line in body.splitlines():
        assert line.count("*") % 2 == 0, line
    assert "*31 politische Gefangene*∗" in body


def test_already_escaped_text_is_shown_as_written() -> None:
    content = alert(headline="AT&amp;T &lt;b&gt;")
    assert "AT&amp;amp;T &amp;lt;b&amp;gt;" in render_alert(content, "slack", SLACK_LIMITS).body
    assert "AT&amp;amp;T &amp;lt;b&amp;gt;" in render_alert(content, "email", EMAIL_LIMITS).body
    assert "AT&amp;T &lt;b&gt;" in render_alert(content, "text", TEXT_LIMITS).body
    assert render_alert(content, "email", EMAIL_LIMITS).title.endswith("AT&amp;T &lt;b&gt;")


def test_script_in_email_is_text_not_markup() -> None:
    content = alert(headline="<script>alert(1)</script>", outlet='"><b onmouseover=x>')
    message = render_alert(content, "email", EMAIL_LIMITS)
    shown = assert_html_safe(message.body, {URL})
    assert "<script>alert(1)</script>" in shown and '"><b onmouseover=x>' in shown


@pytest.mark.parametrize("style", STYLES)
def test_titles_are_one_line_without_control_characters(style: str) -> None:
    content = alert(headline="Eilmeldung\r\nBcc: opfer@example.org\r\n\r\n<html>\x00\u202e")
    message = render_alert(content, style, LIMITS[style])
    assert message.title == "Neue Entwicklung: Eilmeldung Bcc: opfer@example.org <html>"
    health_title = render_health(health(feed_name="dw\r\nBcc: x@example.org"), style, LIMITS[style]).title
    assert health_title == "Feed dw Bcc: x@example.org fällt aus"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        "java\tscript:alert(1)",
        " \x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/pfad",
        "ftp://example.org/datei",
        "https://",
        "http://[::1",
        "/relativ/pfad.html",
    ],
)
def test_only_http_urls_become_links(url: str) -> None:
    content = alert(url=url)
    slack = render_alert(content, "slack", SLACK_LIMITS).body
    assert_slack_safe(slack, set())
    assert "kein Web-Link" in slack
    email = render_alert(content, "email", EMAIL_LIMITS).body
    assert_html_safe(email, set())
    assert "href" not in email and "kein Web-Link" in email
    assert "kein Web-Link" in render_alert(content, "text", TEXT_LIMITS).body


def test_missing_url_is_said() -> None:
    for style in STYLES:
        assert "keine Adresse" in render_alert(alert(url=""), style, LIMITS[style]).body


def test_urls_are_made_safe_inside_links_without_double_encoding() -> None:
    url = 'https://example.org/a b|c<d>e%20f%zz?x=1&y="2"\n'
    slack = render_alert(alert(url=url), "slack", SLACK_LIMITS).body
    href = "https://example.org/a%20b%7Cc%3Cd%3Ee%20f%25zz?x=1&amp;y=%222%22"
    assert f"<{href}|Artikel lesen>" in slack
    assert_slack_safe(slack, {href})
    email = render_alert(alert(url=url), "email", EMAIL_LIMITS).body
    assert 'href="https://example.org/a%20b%7Cc%3Cd%3Ee%20f%25zz?x=1&amp;y=%222%22"' in email
    text = render_alert(alert(url=url), "text", TEXT_LIMITS).body
    assert "Artikel lesen: https://example.org/a%20b%7Cc%3Cd%3Ee%20f%25zz?x=1&y=%222%22" in text


def test_unicode_urls_stay_readable() -> None:
    url = "https://de.wikipedia.org/wiki/Aljaksandr_Lukaschenka?q=Weißrussland"
    assert f"<{url}|Artikel lesen>" in render_alert(alert(url=url), "slack", SLACK_LIMITS).body


# --- limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_ten_thousand_novel_sentences_are_counted_not_listed(style: str) -> None:
    sentences = [f"Satz Nummer {n} berichtet etwas Neues über die Freilassung." for n in range(10_000)]
    message = render_alert(alert(novel_sentences=sentences), style, LIMITS[style])
    assert_limits(message, LIMITS[style])
    shown = visible(message)
    listed = len(re.findall(r"Satz Nummer \d+ berichtet", shown))
    more = re.search(r"… und ([\d.]+) weitere Sätze", shown)
    assert more and listed >= 1 and listed + int(more.group(1).replace(".", "")) == 10_000
    assert "Satz Nummer 0 berichtet" in shown
    assert URL in message.body and "Belarus lässt 31 politische Gefangene frei" in shown
    assert "Neue Fakten" in shown and "Auch berichtet von" in shown


def test_one_more_sentence_is_singular() -> None:
    sentences = ["x" * 500 + f" Satz {n}." for n in range(7)]
    body = render_alert(alert(novel_sentences=sentences), "slack", Limits(150, 1400)).body
    assert len(body) <= 1400
    hidden = re.search(r"… und (\d+) (weiterer Satz|weitere Sätze)", body)
    assert hidden and (hidden.group(2) == "weiterer Satz") == (hidden.group(1) == "1")


@pytest.mark.parametrize("style", STYLES)
def test_a_megabyte_sentence_is_shortened(style: str) -> None:
    content = alert(novel_sentences=["Wort " * 200_000], headline="Schlagzeile " * 50_000)
    message = render_alert(content, style, LIMITS[style])
    assert_limits(message, LIMITS[style])
    shown = visible(message)
    assert "Wort Wort" in shown and "Wort…" in shown and "Wor…" not in shown  # cut at a word boundary
    assert URL in message.body
    assert message.title.endswith("…") and message.title.startswith("Neue Entwicklung: Schlagzeile")


@pytest.mark.parametrize("style", ["slack", "email"])
def test_escaping_that_expands_text_is_measured_and_never_cut(style: str) -> None:
    content = alert(headline="<&>" * 3000, novel_sentences=["<" * 5000, "& " * 5000], outlet='"' * 500)
    limits = Limits(150, 3000)
    message = render_alert(content, style, limits)
    assert_limits(message, limits)
    if style == "slack":
        assert_slack_safe(message.body, {URL})
        assert re.search(r"&lt;&amp;&gt;(&lt;&amp;&gt;)*(&lt;&amp;)?…", message.body)
    else:
        assert_html_safe(message.body, {URL})
    assert URL in message.body


@pytest.mark.parametrize(
    ("unit", "limit"),
    [
        ("👩\u200d👩\u200d👧", 40),  # a family: one grapheme of five code points
        ("e\u0301", 32),  # e + combining acute accent
        ("🇩🇪", 34),  # a flag: two regional indicators
        ("👍🏽", 32),  # a thumb with a skin tone
    ],
)
def test_shortening_never_splits_a_character(unit: str, limit: int) -> None:
    message = render_alert(alert(headline=unit * 1000), "text", Limits(limit, 4000))
    assert len(message.title) <= limit and message.title.endswith("…")
    kept = message.title.removeprefix("Neue Entwicklung: ").removesuffix("…")
    assert kept and len(kept) % len(unit) == 0 and kept == unit * (len(kept) // len(unit))


def test_shortening_prefers_a_word_boundary() -> None:
    message = render_alert(alert(headline="Sanktionen gegen Belavia aufgehoben"), "text", Limits(40, 4000))
    assert message.title == "Neue Entwicklung: Sanktionen gegen…"


def test_input_left_unread_is_marked() -> None:
    # only the start of a huge field is read: a megabyte of invisible characters is not news
    message = render_alert(alert(headline="\x00" * 1_000_000 + "Schlagzeile"), "text", TEXT_LIMITS)
    assert message.title == "Neue Entwicklung: …"


@pytest.mark.parametrize("style", STYLES)
def test_a_message_that_fits_exactly_is_not_shortened(style: str) -> None:
    for content in (alert(), alert(kind="follow_up", decision="update", published_at=None)):
        full = render_alert(content, style, Limits(250, 100_000))
        assert render_alert(content, style, Limits(len(full.title), len(full.body))) == full
    full = render_health(health(), style, Limits(250, 100_000))
    assert render_health(health(), style, Limits(len(full.title), len(full.body))) == full


def test_nothing_is_shown_as_a_stub() -> None:
    for body_limit in range(60, 600, 3):
        body = render_alert(alert(novel_sentences=["Ein neuer Satz. " * 20] * 5), "text", Limits(150, body_limit)).body
        for line in body.splitlines():
            assert not re.fullmatch(r".{0,15}…", line), (body_limit, line)


def test_a_huge_url_is_not_cut_but_said() -> None:
    url = "https://example.org/" + "a" * 5000
    message = render_alert(alert(url=url), "slack", SLACK_LIMITS)
    assert_limits(message, SLACK_LIMITS)
    assert "Artikel lesen: (URL zu lang für diese Nachricht)" in message.body
    assert_slack_safe(message.body, set())
    text = render_alert(alert(url=url), "text", Limits(250, 3000)).body
    assert "Artikel lesen: (URL zu lang für diese Nachricht)" in text and "aaaa" not in text


def test_a_long_url_wins_over_the_rest_of_the_body() -> None:
    url = "https://example.org/" + "a" * 2500
    message = render_alert(alert(novel_sentences=["Neu. " * 400] * 5), "slack", SLACK_LIMITS)
    assert URL in message.body
    message = render_alert(alert(url=url, novel_sentences=["Neu. " * 400] * 5), "slack", SLACK_LIMITS)
    assert_limits(message, SLACK_LIMITS)
    assert f"<{url}|Artikel lesen>" in message.body
    assert "Belarus lässt" in message.body  # the headline fits in what is left


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("body_limit", [0, 1, 5, 20, 60, 120, 250, 400])
def test_tiny_limits_hold(style: str, body_limit: int) -> None:
    content = alert(novel_sentences=["Ein neuer Satz. " * 50] * 30)
    limits = Limits(title=body_limit, body=body_limit)
    for message in (
        render_alert(content, style, limits),
        render_digest([content] * 5, style, limits, period_start=None, period_end=WINTER),
        render_health(health(), style, limits),
    ):
        assert_limits(message, limits)
    assert render_alert(content, style, Limits(0, 0)) == Message(
        "", "", {"slack": "markdown", "email": "html", "text": "text"}[style]
    )


@pytest.mark.parametrize(("style", "link"), [("slack", f"<{URL}|Artikel lesen>"), ("text", f"Artikel lesen: {URL}")])
def test_the_url_survives_whenever_it_fits(style: str, link: str) -> None:
    content = alert(novel_sentences=["Ein neuer Satz. " * 50] * 30)
    assert link not in render_alert(content, style, Limits(150, len(link) - 1)).body
    for body_limit in range(len(link), len(link) + 400):
        body = render_alert(content, style, Limits(150, body_limit)).body
        assert link in body and len(body) <= body_limit, body_limit
        if body_limit >= len(link) + 40:  # then the headline is shortened, not dropped
            assert "Belarus lässt" in body, body_limit


def test_unknown_style_is_an_error() -> None:
    with pytest.raises(ValueError, match="style"):
        render_alert(alert(), "markdown", SLACK_LIMITS)  # type: ignore[arg-type]


# --- digests -------------------------------------------------------------------------------------

PERIOD_START = datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("count", "title"),
    [
        (0, "newswatch-Digest: keine neuen Entwicklungen"),
        (1, "newswatch-Digest: 1 neue Entwicklung"),
        (3, "newswatch-Digest: 3 neue Entwicklungen"),
        (1234, "newswatch-Digest: 1.234 neue Entwicklungen"),
    ],
)
def test_digest_title_counts_in_german(count: int, title: str) -> None:
    items = [alert(headline=f"Meldung {n}") for n in range(count)]
    for style in STYLES:
        message = render_digest(items, style, LIMITS[style], period_start=PERIOD_START, period_end=PERIOD_END)
        assert message.title == title
        assert_limits(message, LIMITS[style])


@pytest.mark.parametrize("style", STYLES)
def test_digest_lists_each_item_compactly(style: str) -> None:
    items = [
        alert(headline="Erste Meldung", outlet="Spiegel", url="https://spiegel.de/1"),
        alert(
            headline="Zweite Meldung",
            outlet="DW",
            url="https://dw.com/2",
            kind="follow_up",
            decision="update",
            novel_sentences=[],
            published_at=datetime(2026, 11, 20, 8, 5, tzinfo=UTC),
        ),
    ]
    message = render_digest(items, style, LIMITS[style], period_start=PERIOD_START, period_end=PERIOD_END)
    shown = visible(message)
    assert "Zeitraum: 21.11.2026, 14:00–15:00 Uhr" in shown
    assert "Erste Meldung" in shown and "Quelle: Spiegel · 14:35 Uhr" in shown  # same day: time only
    assert "Quelle: DW · 20.11.2026, 09:05 Uhr" in shown and "Update: " in shown
    assert "Neu: Machthaber Lukaschenko ließ" in shown
    assert "Neue Fakten: 31 politische Gefangene" in shown  # the item without novel sentences
    assert "Themen: Politische Gefangene, Belarus-Sanktionen" in shown
    assert shown.index("Erste Meldung") < shown.index("Zweite Meldung")
    if style == "slack":
        assert "*<https://spiegel.de/1|Erste Meldung>*" in message.body
        assert_slack_safe(message.body, {"https://spiegel.de/1", "https://dw.com/2"})
    elif style == "email":
        assert_html_safe(message.body, {"https://spiegel.de/1", "https://dw.com/2"})
        assert ">Erste Meldung</a>" in message.body
    else:
        assert "https://spiegel.de/1" in message.body


def test_digest_period_across_midnight_and_open_start() -> None:
    start = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    end = start + timedelta(hours=2)
    body = render_digest([alert()], "text", TEXT_LIMITS, period_start=start, period_end=end).body
    assert "Zeitraum: 21.11.2026, 23:00 Uhr – 22.11.2026, 01:00 Uhr" in body
    body = render_digest([alert()], "text", TEXT_LIMITS, period_start=None, period_end=end).body
    assert "Zeitraum: bis 22.11.2026, 01:00 Uhr" in body


@pytest.mark.parametrize("style", STYLES)
def test_a_long_digest_drops_whole_items_and_counts_them(style: str) -> None:
    items = [alert(headline=f"Meldung Nummer {n}", url=f"https://example.org/{n}") for n in range(300)]
    limits = Limits(150, 3000)
    message = render_digest(items, style, limits, period_start=PERIOD_START, period_end=PERIOD_END)
    assert_limits(message, limits)
    shown = visible(message)
    listed = len(re.findall(r"Meldung Nummer \d+", shown))
    more = re.search(r"… und (\d+) weitere Entwicklungen", shown)
    assert more and listed >= 1 and listed + int(more.group(1)) == 300
    assert "Meldung Nummer 0" in shown


def test_one_more_development_is_singular() -> None:
    items = [alert(headline=f"Meldung {n}") for n in range(40)]
    found = set()
    for limit in range(400, 3000, 7):
        body = render_digest(items[:3], "text", Limits(100, limit), period_start=None, period_end=PERIOD_END).body
        hidden = re.search(r"… und (\d+) (weitere Entwicklung(?:en)?)\b", body)
        if hidden:
            assert (hidden.group(1) == "1") == (hidden.group(2) == "weitere Entwicklung")
            found.add(hidden.group(1))
    assert "1" in found and "2" in found


def test_a_digest_of_one_huge_item_shortens_it() -> None:
    item = alert(headline="Schlagzeile " * 1000, outlet="Medium " * 100, url="https://example.org/" + "x" * 200)
    message = render_digest([item], "slack", Limits(150, 400), period_start=PERIOD_START, period_end=PERIOD_END)
    assert_limits(message, Limits(150, 400))
    assert "1. " in message.body and "Schlagzeile" in message.body


# --- feed health ---------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_failing_feed(style: str) -> None:
    message = render_health(health(), style, LIMITS[style])
    assert message.title == "Feed dw-deutsch fällt aus"
    shown = visible(message)
    assert "3 Durchläufe in Folge fehlgeschlagen" in shown
    assert "Ausfall seit 21.11.2026, 10:15 Uhr" in shown
    assert "Letzter Fehler: HTTP 503 Service Unavailable" in shown
    assert "Letzter Erfolg: 21.11.2026, 10:00 Uhr" in shown
    assert "https://rss.dw.com/xml/rss-de-all" in message.body


def test_failing_feed_singular_and_never_succeeded() -> None:
    shown = render_health(
        health(consecutive_failures=1, last_success_at=None, last_error=None, failing_since=None), "text", TEXT_LIMITS
    ).body
    assert "1 Durchlauf in Folge fehlgeschlagen." in shown
    assert "Letzter Erfolg: noch nie" in shown and "Letzter Fehler: unbekannt" in shown and "seit" not in shown


@pytest.mark.parametrize("style", STYLES)
def test_recovered_feed(style: str) -> None:
    message = render_health(health(status="recovered"), style, LIMITS[style])
    assert message.title == "Feed dw-deutsch wieder erreichbar"
    shown = visible(message)
    assert "Der Feed liefert wieder, nach einem Ausfall seit 21.11.2026, 10:15 Uhr" in shown
    assert "Letzter Fehler" not in shown and "fällt aus" not in shown


def test_health_escapes_the_error_and_the_feed() -> None:
    content = health(
        feed_name="<!channel>", last_error="<html><script>x</script> <@U1>", feed_url="https://x.example/feed?a=1&b=<2>"
    )
    slack = render_health(content, "slack", SLACK_LIMITS)
    assert_slack_safe(slack.body, {"https://x.example/feed?a=1&amp;b=%3C2%3E"})
    assert "&lt;html&gt;&lt;script&gt;x&lt;/script&gt; &lt;@\u2060U1&gt;" in slack.body
    email = render_health(content, "email", EMAIL_LIMITS)
    shown = assert_html_safe(email.body, {"https://x.example/feed?a=1&b=%3C2%3E"})
    assert "<html><script>x</script> <@U1>" in shown


def test_health_feed_url_that_is_not_http_is_not_a_link() -> None:
    body = render_health(health(feed_url="javascript:alert(1)"), "email", EMAIL_LIMITS).body
    assert_html_safe(body, set())
    assert "kein Web-Link" in body


# --- properties ----------------------------------------------------------------------------------

PIECES = st.sampled_from(
    ["<", ">", "&", "&amp;", "&lt;", "|", "*", "_", "~", "`", "@", "!", "<!channel>", "<@U1>", "\n", "\r", "\t",
     "\x00", "\u202e", "\u200d", "\u0301", "👩\u200d👧", "🇩🇪", "ß", "„", "“", '"', "'", " ", "https://x.y/", "…"]
)  # fmt: skip
HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=25).map("".join),
)
URLS = st.one_of(
    st.just(URL),
    st.sampled_from(
        ["javascript:alert(1)", "", "https://a.example/?q=<x>|y&z", "http://[::1", "https://ü.example/ä b"]
    ),
    HOSTILE_TEXT.map(lambda t: "https://example.org/" + t),
    HOSTILE_TEXT,
)
TIMES = st.one_of(st.none(), st.datetimes(timezones=st.just(UTC)))
FACTS = st.lists(
    st.fixed_dictionaries(
        {"kind": st.sampled_from(["number", "name", "quote", "?"]), "text": HOSTILE_TEXT, "key": st.just("k"),
         "sentence": st.integers(0, 5)}
    ),
    max_size=8,
)  # fmt: skip
CONTENTS = st.builds(
    AlertContent,
    alert_id=st.just("a"),
    kind=st.sampled_from(["first", "follow_up"]),
    decision=st.sampled_from(["new_development", "update"]),
    headline=HOSTILE_TEXT,
    outlet=HOSTILE_TEXT,
    published_at=TIMES,
    topic_names=st.lists(HOSTILE_TEXT, max_size=4),
    url=URLS,
    novel_sentences=st.lists(HOSTILE_TEXT, max_size=12),
    new_facts=FACTS,
    also_reported_by=st.lists(HOSTILE_TEXT, max_size=12),
)
LIMITS_ANY = st.builds(Limits, title=st.integers(0, 200), body=st.integers(0, 4000))
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_safe(message: Message, style: str) -> None:
    if style == "slack":
        # every link is an http(s) link we made (it carries no raw <, > or |)
        assert_slack_safe(message.body, {href for href, _ in SLACK_LINK.findall(message.body)})
        for href, _ in SLACK_LINK.findall(message.body):
            assert re.match(r"(?i)https?://", href) and not re.search(r"[\s<>|\"]", href)
    elif style == "email":
        parsed = parse_html(message.body)
        hrefs = {value for tag, attrs in parsed.tags for name, value in attrs if name == "href"}
        assert all(value and re.match(r"(?i)https?://[^\s\"<>]", value) for value in hrefs)
        assert_html_safe(message.body, hrefs)
    assert_plain_safe(message.body, newlines=True, joiner=style in ("slack", "text"))


@PROPERTY
@given(content=CONTENTS, style=st.sampled_from(STYLES), limits=LIMITS_ANY)
def test_any_alert_fits_its_limits_and_stays_escaped(content: AlertContent, style: str, limits: Limits) -> None:
    message = render_alert(content, style, limits)
    assert_limits(message, limits)
    assert_safe(message, style)


@PROPERTY
@given(
    items=st.lists(CONTENTS, max_size=6),
    style=st.sampled_from(STYLES),
    limits=LIMITS_ANY,
    start=TIMES,
    end=st.datetimes(timezones=st.just(UTC)),
)
def test_any_digest_fits_its_limits_and_stays_escaped(
    items: list[AlertContent], style: str, limits: Limits, start: datetime | None, end: datetime
) -> None:
    message = render_digest(items, style, limits, period_start=start, period_end=end)
    assert_limits(message, limits)
    assert_safe(message, style)


@PROPERTY
@given(
    content=st.builds(
        HealthContent,
        feed_name=HOSTILE_TEXT,
        feed_url=URLS,
        status=st.sampled_from(["failing", "recovered"]),
        consecutive_failures=st.integers(0, 10**6),
        last_error=st.one_of(st.none(), HOSTILE_TEXT),
        last_success_at=TIMES,
        failing_since=TIMES,
    ),
    style=st.sampled_from(STYLES),
    limits=LIMITS_ANY,
)
def test_any_health_message_fits_its_limits_and_stays_escaped(
    content: HealthContent, style: str, limits: Limits
) -> None:
    message = render_health(content, style, limits)
    assert_limits(message, limits)
    assert_safe(message, style)


@PROPERTY
@given(content=CONTENTS, extra=st.integers(0, 3000))
def test_the_article_link_survives_whenever_it_fits(content: AlertContent, extra: int) -> None:
    content.url = URL
    slack_link = f"<{URL}|Artikel lesen>"
    assert slack_link in render_alert(content, "slack", Limits(150, len(slack_link) + 2 + extra)).body
    text_link = f"Artikel lesen: {URL}"
    assert text_link in render_alert(content, "text", Limits(150, len(text_link) + 2 + extra)).body


@PROPERTY
@given(headline=st.text(min_size=1, max_size=80).filter(lambda t: t.strip() and t.isprintable()))
def test_printable_headlines_survive_escaping(headline: str) -> None:
    """What an article says is shown as written (whitespace collapsed), whatever it contains."""
    content = alert(headline=headline)
    expected = " ".join(headline.split())
    assume(expected and all(unicodedata.category(c) != "Cf" for c in expected))
    for style in STYLES:
        message = render_alert(content, style, LIMITS[style])
        shown = visible(message).replace("\u2060", "")
        # Slack shows its formatting characters from articles as look-alikes
        wanted = expected.translate(str.maketrans("*_~`", "\u2217\u02cd\u223c\u02cb")) if style == "slack" else expected
        assert wanted in shown
