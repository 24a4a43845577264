"""Loader for the Fundus fixture pages in `../shared/fixtures/fundus` (shared by tests and bench).

Layout of a fixture directory (`de/` or `other/`):

- `<Publisher>_<YYYY>_<MM>_<DD>.html.gz`: one crawled page (UTF-8 HTML, gzipped);
- `<Publisher>.json`: the hand-checked expectation per Fundus parser version (`V1`, `V1_1`, `V2`, ...);
- `meta.info` (JSON, `de/` only): page file name -> `{"url": ..., "crawl_date": ...}`.

The parser versions of one publisher, in version order, correspond one to one to that publisher's
pages in date order (checked against the titles: each expected title occurs in its page). Publishers
whose JSON has no page beside it are skipped.

Token F1 (the figure the extraction tests and bench report): texts are lowercased and split into
word tokens with `\\w+` (Unicode letters/digits/underscore, so punctuation, quotes and dashes are not
tokens); precision and recall are over token multisets (a token counted as often as it occurs).
The expected body is the summary (teaser) plus every section paragraph, in order; section
headlines are not part of it (Fundus keeps them apart, and extractors vary in whether they
keep sub-headings).
"""

from __future__ import annotations

import gzip
import html
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
FUNDUS = FIXTURES / "fundus"

_PAGE_NAME = re.compile(r"^(?P<publisher>.+)_(?P<date>\d{4}_\d{2}_\d{2})\.html\.gz$")
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class FundusPage:
    """One fixture page with its expectation."""

    name: str  # file name without `.html.gz`, e.g. "BR_2024_04_22"
    publisher: str
    version: str  # Fundus parser version key, e.g. "V1_1"
    url: str | None
    html: str
    title: str | None
    body: str  # summary + section paragraphs, one per line
    paragraphs: tuple[str, ...]
    headlines: tuple[str, ...]


def _version_key(version: str) -> tuple[int, ...]:
    """`V1` < `V1_1` < `V1_2` < `V2` < `V10` (numeric, not string order)."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _expected(entry: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    body = entry.get("body") or {}
    paragraphs = list(body.get("summary") or [])
    headlines: list[str] = []
    for section in body.get("sections") or []:
        headlines.extend(section.get("headline") or [])
        paragraphs.extend(section.get("paragraphs") or [])
    return tuple(paragraphs), tuple(headlines)


def load_pages(subdir: str = "de") -> list[FundusPage]:
    """All pages of `fundus/<subdir>` with expectations, sorted by file name.

    Raises FileNotFoundError when the fixtures are absent (callers skip on `FUNDUS.is_dir()`).
    """
    directory = FUNDUS / subdir
    if not directory.is_dir():
        raise FileNotFoundError(directory)
    meta_path = directory / "meta.info"
    meta = json.loads(meta_path.read_text("utf-8")) if meta_path.exists() else {}
    by_publisher: dict[str, list[Path]] = {}
    for path in directory.glob("*.html.gz"):
        match = _PAGE_NAME.match(path.name)
        if match:
            by_publisher.setdefault(match["publisher"], []).append(path)
    pages: list[FundusPage] = []
    for publisher, files in by_publisher.items():
        spec_path = directory / f"{publisher}.json"
        if not spec_path.exists():
            continue
        spec = json.loads(spec_path.read_text("utf-8"))
        versions = sorted(spec, key=_version_key)
        files.sort(key=lambda p: _PAGE_NAME.match(p.name)["date"])  # type: ignore[index]
        if len(versions) != len(files):
            raise ValueError(f"{publisher}: {len(versions)} versions but {len(files)} pages")
        for version, path in zip(versions, files):
            entry = spec[version]
            paragraphs, headlines = _expected(entry)
            pages.append(
                FundusPage(
                    name=path.name.removesuffix(".html.gz"),
                    publisher=publisher,
                    version=version,
                    url=(meta.get(path.name) or {}).get("url"),
                    html=gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"),
                    title=entry.get("title"),
                    body="\n".join(paragraphs),
                    paragraphs=paragraphs,
                    headlines=headlines,
                )
            )
    pages.sort(key=lambda p: p.name)
    return pages


def title_matches_page(page: FundusPage) -> bool:
    """Whether the expected title occurs in the page (checks the version -> file mapping)."""
    if not page.title:
        return True
    flat = lambda s: " ".join(_TOKEN.findall(s.lower()))  # noqa: E731
    return flat(page.title) in flat(html.unescape(page.html))


def tokens(text: str) -> list[str]:
    """Lowercase word tokens (`\\w+`)."""
    return _TOKEN.findall(text.lower())


def token_f1(predicted: str | None, expected: str) -> float:
    """Multiset token F1 between `predicted` and `expected` (0.0 for no prediction)."""
    pred = Counter(tokens(predicted or ""))
    gold = Counter(tokens(expected))
    if not pred or not gold:
        return 1.0 if not pred and not gold else 0.0
    overlap = sum((pred & gold).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(pred.values())
    recall = overlap / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def token_pr(predicted: str | None, expected: str) -> tuple[float, float]:
    """(precision, recall) over token multisets; diagnostic companion of `token_f1`."""
    pred = Counter(tokens(predicted or ""))
    gold = Counter(tokens(expected))
    overlap = sum((pred & gold).values())
    return (overlap / max(1, sum(pred.values())), overlap / max(1, sum(gold.values())))
