"""`make eval`: precision and recall of the novelty decision on the labelled evaluation set.

The set (tests/novelty_eval/articles, described in its README) is read in publication order. Each
article is diffed against the seed corpus plus every earlier article, exactly as the monitor
flow would diff them one pass after another, then joins the corpus. A `new_development` or
`update` decision is a positive; precision and recall are of positives against the labels.
Every miss is printed with its evidence.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from newswatch.config import BUNDLED_SEED_CORPUS, NoveltyConfig  # noqa: E402
from newswatch.records import Development  # noqa: E402
from novelty.diff import ALERTING, diff_article  # noqa: E402
from novelty.fingerprint import corpus_entry, fingerprint_article, fingerprint_text  # noqa: E402
from novelty.index import CorpusIndex  # noqa: E402
from storage.seed import read_seed_corpus  # noqa: E402

ARTICLES = Path(__file__).parent / "articles"
# Written after the decision rules were tuned on ARTICLES and never used for tuning; its timeline
# continues the main set's, so it is diffed against the seed, the whole main set and itself.
HOLDOUT = Path(__file__).parent / "holdout"
LABELS = ("new_development", "update", "rehash", "duplicate")


@dataclass
class Case:
    id: str
    label: str
    title: str
    outlet: str
    published: datetime
    body: str
    note: str
    copy_of: str
    new_facts: str
    file: str

    @property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}"


def load_cases(folder: Path = ARTICLES, prefix: str = "") -> list[Case]:
    cases = []
    for path in sorted(folder.glob("*.txt")):
        header, _, body = path.read_text(encoding="utf-8").partition("\n\n")
        fields: dict[str, str] = {}
        for line in header.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if fields.get("label") not in LABELS:
            raise ValueError(f"{path.name}: label {fields.get('label')!r} is not one of {LABELS}")
        cases.append(Case(
            id=prefix + fields["id"], label=fields["label"], title=fields.get("title", ""),
            outlet=fields.get("outlet", ""), published=datetime.fromisoformat(fields["published"]),
            body=body.strip(), note=fields.get("note", ""), copy_of=fields.get("copy_of", ""),
            new_facts=fields.get("new_facts", ""), file=f"{folder.name}/{path.name}",
        ))
    return sorted(cases, key=lambda c: c.published)


def seed_index() -> CorpusIndex:
    index = CorpusIndex()
    for article in read_seed_corpus(BUNDLED_SEED_CORPUS):
        fingerprint = fingerprint_article(article)
        index.add(corpus_entry(fingerprint))
    return index


def run(cases: list[Case], config: NoveltyConfig) -> list[tuple[Case, Development, float]]:
    index = seed_index()
    results = []
    for case in cases:
        started = time.perf_counter()
        fingerprint = fingerprint_text(f"eval-{case.id}", case.text)
        development = diff_article(fingerprint, index, config, topic_ids=[], decided_at=case.published)
        elapsed = time.perf_counter() - started
        fingerprint.story_id = development.story_id
        index.add(corpus_entry(fingerprint))
        results.append((case, development, elapsed))
    return results


@dataclass
class Scores:
    precision: float
    recall: float
    true_positives: int
    false_positives: int
    false_negatives: int
    exact: int
    total: int


def score(results: list[tuple[Case, Development, float]]) -> Scores:
    tp = sum(1 for c, d, _ in results if c.label in ALERTING and d.decision in ALERTING)
    fp = sum(1 for c, d, _ in results if c.label not in ALERTING and d.decision in ALERTING)
    fn = sum(1 for c, d, _ in results if c.label in ALERTING and d.decision not in ALERTING)
    exact = sum(1 for c, d, _ in results if c.label == d.decision)
    return Scores(
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / (tp + fn) if tp + fn else 1.0,
        true_positives=tp, false_positives=fp, false_negatives=fn, exact=exact, total=len(results),
    )


def _evidence(development: Development) -> str:
    facts = "; ".join(f"{f['kind']}: {f['text']}" for f in development.new_facts[:6]) or "none"
    return (
        f"novel sentences {development.novel_sentence_count}/{development.sentence_count}, "
        f"score {development.novelty_score:.2f}, closest {development.closest_similarity}, new facts: {facts}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every article, not only the misses")
    args = parser.parse_args(argv)
    main_cases = load_cases(ARTICLES)
    holdout_cases = load_cases(HOLDOUT, prefix="h") if HOLDOUT.is_dir() else []
    results = run(main_cases + holdout_cases, NoveltyConfig())
    for case, development, _ in results:
        miss = (case.label in ALERTING) != (development.decision in ALERTING)
        if miss or args.verbose or case.label != development.decision:
            marker = "MISS" if miss else ("ok~" if case.label != development.decision else "ok")
            print(f"{marker:4} {case.file}: label {case.label}, decided {development.decision}")
            if miss or args.verbose:
                print(f"     {_evidence(development)}")
                print(f"     note: {case.note}")
    print()
    for name, part in (("main set (tuned on)", results[: len(main_cases)]),
                       ("held-out set", results[len(main_cases):]),
                       ("all", results)):
        if not part:
            continue
        scores = score(part)
        print(
            f"{name}: {scores.total} articles, decision equal to the label {scores.exact}/{scores.total}; "
            f"new_development+update precision {scores.precision:.3f}, recall {scores.recall:.3f} "
            f"(tp {scores.true_positives}, fp {scores.false_positives}, fn {scores.false_negatives})"
        )
    timings = sorted(elapsed for _, _, elapsed in results)
    print(f"analysis + diff per article: median {timings[len(timings) // 2] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
