"""The decision for one matched article: new development, update, rehash or duplicate.

Evidence first, then the decision (docs/novelty.md has the reasoning and the measured figures):

1. Wording: MinHash LSH finds earlier articles with nearly the same text (a syndicated copy, a
   republication with a new headline or a trimmed intro).
2. Sentences: each sentence's closest corpus sentence; a sentence no corpus sentence covers to
   `known_sentence_similarity` is novel. The corpus articles that cover most of this article
   are its closest articles; sharing `story_shared_sentences` with one puts it in that story.
3. Facts: numbers with what they count, names and organisations, direct quotes. A number is
   known when the corpus reported it for the same noun or the closest articles carry the same
   value (`52 Häftlinge` after `52 politische Gefangene`); a name when any corpus sentence
   used it; a quote when a corpus sentence covers it.
4. Decision: a copy of an earlier article with no new fact is a `duplicate`; an article with at
   least `min_new_facts` new facts and `min_novel_share` of new content is an `update` when
   it belongs to a known story, else a `new_development`; anything else is a `rehash`.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from matching.normalise import word_keys
from newswatch.config import NoveltyConfig
from newswatch.records import Development
from newswatch.records import ArticleFingerprint
from novelty.fingerprint import sentence_analysis, term_arrays
from novelty.index import CorpusIndex
from novelty.text import content_terms, direct_quotes, phonetic_code, term_hash

NEW_DEVELOPMENT, UPDATE, REHASH, DUPLICATE = "new_development", "update", "rehash", "duplicate"
ALERTING = frozenset({NEW_DEVELOPMENT, UPDATE})
# Sentences with fewer content terms (bylines, credits, "Lesen Sie auch") say nothing by themselves.
MIN_SENTENCE_TERMS = 3
# Names in a sentence this short are bylines and credits, not news.
MIN_NAME_SENTENCE_TERMS = 4
# A corpus sentence this close to one of ours puts its article in the context whose numbers count
# as known whatever they count (`52 Häftlinge` after `52 politische Gefangene`).
CONTEXT_SIMILARITY = 0.3
VERBATIM_SIMILARITY = 0.9  # a sentence this close to its counterpart was copied, not retold


@dataclass(slots=True)
class SentenceVerdict:
    text: str
    weight: float
    novel: bool
    similarity: float
    counterpart: tuple[int, int] | None  # (article position, sentence number)


def diff_article(
    fingerprint: ArticleFingerprint,
    index: CorpusIndex,
    config: NoveltyConfig,
    *,
    topic_ids: list[str],
    decided_at: datetime,
    run_id: str | None = None,
) -> Development:
    analysis = sentence_analysis(fingerprint)
    terms = term_arrays(fingerprint)

    near = index.near_duplicates(fingerprint.signature, config.duplicate_similarity)
    near = [(position, score) for position, score in near if index.articles[position].article_id != fingerprint.article_id]

    verdicts: list[SentenceVerdict] = []
    coverage: dict[int, float] = defaultdict(float)  # article position -> weight of our sentences it covers
    verbatim: dict[int, float] = defaultdict(float)
    shared: dict[int, int] = defaultdict(int)
    context: set[int] = set()  # earlier articles that said something like one of our sentences
    for sentence, sentence_terms in zip(analysis, terms, strict=True):
        if len(sentence_terms) < MIN_SENTENCE_TERMS:
            verdicts.append(SentenceVerdict(sentence.text, 0.0, False, 0.0, None))
            continue
        stats = index.stats(sentence_terms)
        weight = float(stats.weights.sum())
        best = index.closest_sentence(sentence_terms, stats)
        similarity = best.similarity if best else 0.0
        known = similarity >= config.known_sentence_similarity
        if best is not None and similarity >= CONTEXT_SIMILARITY:
            context.add(best.article)
        if known and best is not None:
            coverage[best.article] += weight
            shared[best.article] += 1
            if similarity >= VERBATIM_SIMILARITY:
                verbatim[best.article] += weight
        verdicts.append(SentenceVerdict(
            sentence.text, weight, not known, similarity,
            (best.article, best.sentence) if best is not None and similarity > 0 else None,
        ))

    total_weight = sum(v.weight for v in verdicts) or 1.0
    novel_weight = sum(v.weight for v in verdicts if v.novel)
    novel_share = novel_weight / total_weight

    related = sorted(coverage, key=lambda p: -coverage[p])
    context.update(p for p, _ in near)
    new_facts = _new_facts(fingerprint, verdicts, index, context, config.known_sentence_similarity)

    # Of several near-copies, the oldest is the original the others copied (the index keeps
    # articles oldest first).
    original = min(position for position, _ in near) if near else None
    story_position = None
    if original is not None:
        story_position = original
    elif (
        related
        and shared[related[0]] >= config.story_shared_sentences
        and coverage[related[0]] / total_weight >= config.story_shared_share
    ):
        story_position = related[0]
    copy_source = original
    if copy_source is None and verbatim:
        source = max(verbatim, key=lambda p: verbatim[p])
        if verbatim[source] / total_weight >= config.verbatim_share:
            copy_source = source

    fact_weight = sum(_fact_weight(fact) for fact in new_facts)
    material = fact_weight >= config.min_new_facts and novel_share >= config.min_novel_share
    if material:
        decision = UPDATE if story_position is not None else NEW_DEVELOPMENT
    elif copy_source is not None:
        decision = DUPLICATE
    else:
        decision = REHASH
    novelty_score = round(0.5 * novel_share + 0.5 * min(1.0, fact_weight / 3), 4)

    if near:
        closest, closest_similarity = near[0][0], near[0][1]
    elif related:
        closest, closest_similarity = related[0], coverage[related[0]] / total_weight
    else:
        closest, closest_similarity = None, None
    story_id = index.articles[story_position].story_id if story_position is not None else fingerprint.article_id

    return Development(
        article_id=fingerprint.article_id,
        decision=decision,
        novelty_score=novelty_score,
        story_id=story_id,
        topic_ids=sorted(topic_ids),
        novel_sentences=[v.text for v in verdicts if v.novel],
        new_facts=new_facts,
        sentences=[
            {
                "text": v.text,
                "novel": v.novel,
                "similarity": round(v.similarity, 3),
                "counterpart_article_id": index.articles[v.counterpart[0]].article_id if v.counterpart else None,
                "counterpart_sentence": v.counterpart[1] if v.counterpart else None,
            }
            for v in verdicts
        ],
        closest_article_id=index.articles[closest].article_id if closest is not None else None,
        closest_similarity=round(closest_similarity, 4) if closest_similarity is not None else None,
        duplicate_of=index.articles[copy_source].article_id if decision == DUPLICATE and copy_source is not None else None,
        sentence_count=sum(1 for v in verdicts if v.weight > 0),
        novel_sentence_count=sum(1 for v in verdicts if v.novel),
        decided_at=decided_at,
        run_id=run_id,
    )


def _new_facts(
    fingerprint: ArticleFingerprint,
    verdicts: list[SentenceVerdict],
    index: CorpusIndex,
    context: set[int],
    known_similarity: float,
) -> list[dict[str, object]]:
    context_values = {key.split(" ", 1)[0] for p in context for key in index.number_keys(p)}
    context_codes = {code for p in context for code in index.name_codes(p)}
    facts: list[dict[str, object]] = []
    seen: set[str] = set()
    for number, (sentence, verdict) in enumerate(zip(sentence_analysis(fingerprint), verdicts, strict=True)):
        for fact in sentence.numbers:
            if fact.key in seen or index.knows_number(fact.key) or fact.value in context_values:
                continue
            seen.add(fact.key)
            facts.append({"kind": "number", "text": fact.text, "key": fact.key, "sentence": number})
        if len(sentence.terms) < MIN_NAME_SENTENCE_TERMS:
            continue
        for surface, key in sentence.names:
            if key in seen:
                continue
            seen.add(key)
            if any(index.knows_term(term_hash(k)) for k in (key, *word_keys(key))):
                continue
            code = phonetic_code(surface)
            if code is not None and code in context_codes:
                continue  # a name the context already used, in another transliteration
            facts.append({"kind": "name", "text": surface, "key": key, "sentence": number})
    joined = "\n".join(fingerprint.sentences)
    starts = list(itertools.accumulate((len(s) + 1 for s in fingerprint.sentences[:-1]), initial=0))
    for quote, start in direct_quotes(joined):
        if quote in seen or _quote_known(quote, index, known_similarity):
            continue
        seen.add(quote)
        sentence = bisect.bisect_right(starts, start) - 1
        facts.append({"kind": "quote", "text": quote, "key": quote, "sentence": sentence})
    return facts


def _fact_weight(fact: dict[str, object]) -> float:
    """A small count (`zwei Sätze`, `drei Gründe`) is half a fact: commentary uses them by chance;
    with a second new fact it still makes a development (`zwei Arbeitsgruppen` and a new name)."""
    if fact["kind"] == "number":
        try:
            return 1.0 if float(str(fact["key"]).split(" ", 1)[0]) >= 10 else 0.5
        except ValueError:
            return 1.0
    return 1.0


# Inside a quote a sentence ends where the next begins with a capital (abbreviations are rare
# in speech); splitting here spares the main process the sentence splitter's 100 MB.
_QUOTE_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ])")


def _quote_known(quote: str, index: CorpusIndex, known_similarity: float) -> bool:
    """A quote is known when the corpus has each of its sentences (a long quote may have been
    split differently, or cut short, by the outlet that reported it first)."""
    for sentence in _QUOTE_SENTENCE_END.split(quote):
        terms = np.array(sorted({term_hash(t) for t in content_terms(sentence)}), dtype=np.uint32)
        if len(terms) == 0:
            continue
        best = index.closest_sentence(terms)
        if best is None or best.similarity < known_similarity:
            return False
    return True  # every sentence is known (a quote of nothing but stop words is no fact)
