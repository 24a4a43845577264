"""The seed corpus: earlier coverage that newswatch starts out knowing.

Seed files are plain text saved from news sites (first real line: the headline), some with the
site's chrome still in them: skip links, "Themen:" lists, newsletter and webinar ads. Those lines
are stripped here, because novelty detection would otherwise treat ad copy as known coverage.
Loading is idempotent: a seed article's id comes from its file name, so loading twice stores once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from extractors.urls import article_id_for
from newswatch.records import Article

BERLIN = ZoneInfo("Europe/Berlin")

# Whole lines that are site chrome wherever they appear.
_CHROME_LINE = re.compile(
    r"^(?:\d+\.\s*)?(?:"
    r"zum inhalt springen|zur (?:haupt)?navigation springen|zu weiteren angeboten .* springen|"
    r"den nächsten abschnitt .* überspringen|"
    r"themen:|#\w+|von|details|quellen|anzeige|werbung|politik|"
    r"\d+ minuten? lesezeit|"
    r"keine kreditkarte erforderlich.*|ihre experten im webinar:?|"
    r"besuchen sie uns auf:.*|•\s*[\w.-]+\.(?:com|de|at|ch|org|net)"
    r")$",
    re.IGNORECASE,
)
# Lines after which the rest of the file is never article text.
_TAIL_MARKER = re.compile(
    r"^(?:das könnte ihnen auch gefallen|abonnieren sie unseren newsletter|mehr zum thema|"
    r"- themen:|themen:|rette dein geld!?|dieser artikel wurde von unserem benutzer .*|"
    r"den nächsten abschnitt mehr zum thema überspringen)$",
    re.IGNORECASE,
)
# A photo caption ends with its credit ("...Bild: Mikhail Metzel/Sputnik/REUTERS").
_CAPTION = re.compile(r"Bild: [^.!?]{2,80}$")
_SENTENCE_END = re.compile(r"[.!?:\"“”»«)]\s*$")
_GERMAN_DATE = re.compile(
    r"\b(\d{1,2})\.\s*(\d{1,2}\.|Januar|Februar|März|April|Mai|Juni|Juli|August|September|"
    r"Oktober|November|Dezember)\s*(\d{4})(?:,\s*(\d{1,2}):(\d{2})\s*Uhr)?"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
        start=1,
    )
}


@dataclass(frozen=True)
class SeedText:
    title: str
    text: str
    published_at: datetime | None


def clean_seed_text(raw: str) -> SeedText:
    """Headline, body without site chrome, and the first date line, from one saved page."""
    lines = [re.sub(r"\s+", " ", line).strip().lstrip("-").strip() for line in raw.splitlines()]
    lines = [line for line in lines if line]
    # The headline is the first line that reads like one (breadcrumbs like "KonflikteBelarus" do not).
    start = next((i for i, line in enumerate(lines) if len(line.split()) >= 4 and not _CHROME_LINE.match(line)), 0)
    lines = lines[start:]
    title = lines[0] if lines else ""

    body: list[str] = []
    published: datetime | None = None
    seen: set[str] = {title}
    previous = ""
    for line in lines[1:]:
        after_byline = previous.lower() == "von"
        previous = line
        if _TAIL_MARKER.match(line):
            break
        if after_byline and len(line.split()) <= 4:  # "Von" / "Thomas Schmidt": the byline
            continue
        if _CHROME_LINE.match(line) or _CAPTION.search(line) or line in seen:
            continue
        date = _GERMAN_DATE.fullmatch(line) or (
            _GERMAN_DATE.match(line) if len(line) < 30 else None
        )
        if date:
            published = published or _parse_german_date(date)
            continue
        seen.add(line)
        body.append(line)
    # Trailing teaser lists and ad fragments: short lines that are not sentences.
    while body and len(body[-1].split()) < 8 and not _SENTENCE_END.search(body[-1]):
        body.pop()
    return SeedText(title=title, text="\n".join(body), published_at=published)


def _parse_german_date(match: re.Match[str]) -> datetime | None:
    day, month_text, year, hour, minute = match.groups()
    month = int(month_text.rstrip(".")) if month_text[0].isdigit() else _MONTHS[month_text]
    try:
        local = datetime(int(year), month, int(day), int(hour or 12), int(minute or 0), tzinfo=BERLIN)
    except ValueError:
        return None
    return local.astimezone(UTC)


def read_seed_corpus(folder: Path) -> list[Article]:
    """Every `*.txt` in `folder` as a stored-corpus article (German, marked `is_seed`)."""
    articles = []
    for path in sorted(folder.glob("*.txt")):
        seed = clean_seed_text(path.read_text(encoding="utf-8", errors="replace"))
        if not seed.text:
            continue
        key = f"seed:{path.name}"
        articles.append(
            Article(
                article_id=article_id_for(key),
                url=f"seed://{path.name}",
                url_key=key,
                title=seed.title,
                text=seed.text,
                text_source="seed",
                language="de",
                language_source="seed",
                outlet="seed corpus",
                published_at=seed.published_at,
                is_seed=True,
                content_sha256=hashlib.sha256(seed.text.encode()).hexdigest(),
            )
        )
    return articles
