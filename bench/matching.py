"""Topic matching cost per article as the number of topics grows (issue 3).

1,000 German articles are made by shuffling the sentences of the seed corpus (corpus/seed/*.txt),
of the demo coverage pages (demo/coverage/sites/**/*.html, <p> text) and, when ../shared/fixtures
is present, of the hand-checked bodies of the Fundus German pages (86 real articles on every
subject), so the vocabulary and the word lengths are those of real German news. 200 topics are generated from a German news
vocabulary (the words of the same texts plus topic words) with the shapes desks write: OR-groups
ANDed together, wildcards, quoted phrases, NEAR/n, title: scope, NOT and per-topic aliases.

Each measurement builds a fresh TopicMatcher (so its per-word cache starts empty) and matches the
1,000 articles once: the figure includes analysing every new word, as a monitor pass does. The
process-wide German lexicon is loaded before timing (it is loaded once per process, in a few ms
from its disk cache). `main()` returns the figures; `python -m bench.matching` prints them.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNDUS = ROOT.parent / "shared" / "fixtures" / "fundus" / "de"
SEED = 20251121
ARTICLES = 1_000
REPEATS = 3

TOPIC_WORDS = (
    "Belarus Minsk Lukaschenko Sondergesandter Coale Kellogg Sanktion Belavia Kali Bank Gefangener "
    "Häftling freigelassen Freilassung begnadigt USA Trump Washington Witkoff Russland Putin Kreml "
    "Dmitrijew Gipfel Treffen Gespräch Verhandlung Annäherung Ukraine Selenskyj Waffenstillstand "
    "Nato Manöver Drohne Rakete Oreschnik Litauen Polen Grenze Flüchtling Opposition Tichanowskaja "
    "Wahl Protest Journalist Zensur Botschaft Diplomat Außenminister Lawrow Rubio Istanbul Abu Dhabi "
    "Energie Gas Öl Pipeline Export Zoll Handel Düngemittel Flugzeug Ersatzteile Boeing Airline "
    "Gefängnis Straflager Amnestie Menschenrechte Friedensplan Sicherheitsgarantie Truppen Krieg "
    "Militär Übung Sapad Atomwaffen Abrüstung Inflation Rubel Dollar Wirtschaft Unternehmen Streik "
    "Bahn Verkehr Sturm Wetter Fußball Bundesliga Werder Köln Regierung Parlament Gericht Urteil"
).split()
ALIASES = {
    "Lukaschenko": ["Lukashenko", "Lukaschenka", "Łukaszenka"],
    "Tichanowskaja": ["Tsikhanouskaya", "Tichanouskaja", "Swetlana Tichanowskaja"],
    "Selenskyj": ["Zelensky", "Selenski", "Zelenskyy"],
    "Dmitrijew": ["Dmitriev", "Kirill Dmitrijew"],
    "Belarus": ["Weißrussland", "Belarussland"],
}


def _page_text(html: str) -> tuple[str, list[str]]:
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    paragraphs = [re.sub(r"<[^>]+>", "", p) for p in re.findall(r"<p[^>]*>(.*?)</p>", html, re.S)]
    return (title.group(1) if title else ""), paragraphs


def load_sentences() -> tuple[list[str], list[str]]:
    """(headline-like lines, sentences) from the seed corpus and the demo coverage."""
    headlines: list[str] = []
    chunks: list[str] = []
    for path in sorted((ROOT / "corpus" / "seed").glob("*.txt")):
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        headlines += [line for line in lines if 25 <= len(line) <= 120 and not line.endswith(".")]
        chunks += [line for line in lines if len(line) > 120]
    for path in sorted((ROOT / "demo" / "coverage" / "sites").rglob("*.html")):
        title, paragraphs = _page_text(path.read_text(encoding="utf-8"))
        if title:
            headlines.append(title.split(": ", 1)[-1])
        chunks += paragraphs
    for path in sorted(FUNDUS.glob("*.json")) if FUNDUS.is_dir() else []:
        for version in json.loads(path.read_text(encoding="utf-8")).values():
            if version.get("title"):
                headlines.append(version["title"])
            body = version.get("body") or {}
            chunks += body.get("summary") or []
            for section in body.get("sections") or []:
                chunks += section.get("paragraphs") or []
    sentences = [
        s.strip()
        for chunk in chunks
        for s in re.split(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ\"„])", chunk)
        if len(s.strip()) > 30
    ]
    return headlines, sentences


def make_articles(count: int = ARTICLES, seed: int = SEED) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    headlines, sentences = load_sentences()
    articles = []
    for _ in range(count):
        title = rng.choice(headlines)
        body = " ".join(rng.sample(sentences, k=min(len(sentences), rng.randint(12, 40))))
        articles.append((title, body))
    return articles


def vocabulary(sentences: list[str]) -> list[str]:
    words = re.findall(r"\b[A-ZÄÖÜ][a-zäöüß]{4,}\b", " ".join(sentences))
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    # Skip the 150 most frequent (they are in most articles of a corpus this small), keep the
    # next 2,000: specific words, as in a desk's query.
    common = [w for w, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= 2]
    return list(dict.fromkeys(TOPIC_WORDS + common[150:2150]))


class _Topic:
    def __init__(self, topic_id: str, query: str, aliases: dict[str, list[str]]) -> None:
        self.id = topic_id
        self.query = query
        self.aliases = aliases


def make_topics(count: int, seed: int = SEED) -> list[_Topic]:
    rng = random.Random(seed + count)
    _, sentences = load_sentences()
    words = vocabulary(sentences)

    def word() -> str:
        w = rng.choice(words)
        roll = rng.random()
        if roll < 0.2 and len(w) > 6:
            return w[: rng.randint(5, len(w) - 1)] + "*"
        return w

    def group(size: int) -> str:
        return "(" + " OR ".join(word() for _ in range(size)) + ")"

    def phrase() -> str:
        sentence = rng.choice(sentences).split()
        start = rng.randrange(max(1, len(sentence) - 2))
        return '"' + " ".join(re.sub(r"[^\wäöüÄÖÜß-]", "", w) for w in sentence[start : start + 2]) + '"'

    shapes = [
        lambda: f"{group(rng.randint(2, 4))} AND {group(rng.randint(2, 5))}",
        lambda: f"{group(3)} AND {group(3)} AND {group(4)}",
        lambda: f"{phrase()} OR ({word()} AND {word()})",
        lambda: f"{word()} NEAR/{rng.randint(3, 10)} {word()}",
        lambda: f"title:{group(3)} AND {group(3)} NOT {group(2)}",
        lambda: f"({rng.choice(list(ALIASES))} OR {word()}) AND {group(3)}",
        lambda: f"{group(2)} NEAR/5 {group(2)} AND NOT {word()}",
    ]
    topics = []
    for index in range(count):
        query = rng.choice(shapes)()
        topics.append(_Topic(f"t{index}", query, ALIASES if rng.random() < 0.5 else {}))
    return topics


def measure(topics: list[_Topic], articles: list[tuple[str, str]]) -> tuple[float, int]:
    from matching.matcher import TopicMatcher

    matcher = TopicMatcher(topics)
    started = time.perf_counter()
    matched = 0
    for title, text in articles:
        matched += len(matcher.match(title, text))
    return (time.perf_counter() - started) * 1000 / len(articles), matched


def main() -> dict[str, float]:
    from matching.normalise import default_lexicon

    default_lexicon()
    articles = make_articles()
    words = sum(len(t.split()) + len(b.split()) for t, b in articles) / len(articles)
    topics_200, topics_10 = make_topics(200), make_topics(10)
    measure(make_topics(10, seed=1), articles[:50])  # warm up the interpreter, not the caches
    # Shared machines are noisy: best of REPEATS, 10 and 200 topics interleaved, each repeat
    # with a fresh matcher (cold word cache).
    runs_10, runs_200 = [], []
    for _ in range(REPEATS):
        runs_10.append(measure(topics_10, articles))
        runs_200.append(measure(topics_200, articles))
    ms_10, matched_10 = min(runs_10)
    ms_200, matched_200 = min(runs_200)
    results = {
        "match_ms_per_article_200_topics": round(ms_200, 3),
        "match_ms_per_article_10_topics": round(ms_10, 3),
        "match_ratio_200_vs_10_topics": round(ms_200 / ms_10, 2),
    }
    print(
        f"{len(articles)} articles (~{words:.0f} words each); matches: {matched_10} with 10 topics, "
        f"{matched_200} with 200 topics",
        file=sys.stderr,
    )
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
