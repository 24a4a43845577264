"""The labelled evaluation sets (tests/novelty_eval) hold the novelty decision to its targets.

`make eval` prints the figures and every miss; this test fails the suite when a change drops
precision or recall of `new_development`+`update` below 0.9 on either set.
"""

from __future__ import annotations

import pytest

from newswatch.config import NoveltyConfig
from novelty_eval.evaluate import ARTICLES, HOLDOUT, LABELS, load_cases, run, score

MAIN = load_cases(ARTICLES)
HELD_OUT = load_cases(HOLDOUT, prefix="h")


@pytest.fixture(scope="module")
def results():
    return run(MAIN + HELD_OUT, NoveltyConfig())


def test_the_sets_are_large_enough_and_cover_every_label() -> None:
    assert len(MAIN) >= 40
    for label in LABELS:
        assert sum(1 for c in MAIN if c.label == label) >= 5, label
        assert any(c.label == label for c in HELD_OUT), label
    published = [c.published for c in MAIN + HELD_OUT]
    assert published == sorted(published)  # the held-out timeline continues the main one


@pytest.mark.parametrize("part", ["main", "held-out"])
def test_precision_and_recall_of_developments_reach_the_target(results, part: str) -> None:
    subset = results[: len(MAIN)] if part == "main" else results[len(MAIN) :]
    scores = score(subset)
    misses = [(c.file, c.label, d.decision) for c, d, _ in subset
              if (c.label in ("new_development", "update")) != (d.decision in ("new_development", "update"))]
    assert scores.precision >= 0.9, misses
    assert scores.recall >= 0.9, misses


def test_copies_are_never_developments(results) -> None:
    """A syndicated copy or a republication must not alert a desk a second time."""
    alerted_copies = [c.file for c, d, _ in results if c.label == "duplicate" and d.decision in ("new_development", "update")]
    assert alerted_copies == []
