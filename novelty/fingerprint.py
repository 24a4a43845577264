"""What the corpus remembers of an article: a MinHash of its wording, its sentences' content terms,
and the numbers it reports. One row of `article_fingerprints` per German article (seed included).

Computed once per article (in the extraction workers) and never again: the diff compares a new
article's fingerprint against the index built from stored ones. A pass fingerprints the articles
its diff reads (`novelty.stage.read_by_the_diff`) before the diff, and its other German articles
after it has stored its articles and sent its alerts.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import sha1

import numpy as np

from newswatch.records import Article, ArticleFingerprint, CorpusEntry
from novelty.text import SentenceFacts, analyse, analyse_sentences, phonetic_code, shingles, term_hash

NUM_PERM = 128
FINGERPRINT_VERSION = 1  # bump when the analysis changes; older fingerprints are recomputed


# MinHash in datasketch's "affine32" scheme (datasketch 2.0 `MinHash(num_perm=128, seed=1,
# scheme="affine32")` with its default sha1_hash32, as used before), computed here with numpy: the
# same values bit for bit (tests/test_novelty.py compares them with datasketch's own), without
# importing datasketch, whose package imports SciPy: ~60 MB and ~2.5 s in the extraction pool's
# forkserver, which every worker inherits, for a few lines of arithmetic. Same speed (~2.7 ms an
# article, most of it the shingles).
_MAX_HASH = np.uint32(0xFFFFFFFF)
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine permutations h -> a * h + b (mod 2^32) for seed 1: odd `a`, any `b`."""
    generator = np.random.RandomState(1)
    a = generator.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def minhash_signature(text: str) -> np.ndarray:
    """128 MinHash values (uint32) of the text's word 3-grams (datasketch's affine32 scheme): each
    3-gram's SHA-1 (first 4 bytes, little-endian), pre-mixed with the MurmurHash3 finalizer, through
    each permutation; the minimum per permutation (all 0xFFFFFFFF for a text without words)."""
    grams = shingles(text)
    if not grams:
        return np.full(NUM_PERM, _MAX_HASH, dtype=np.uint32)
    hashes = np.fromiter(
        (int.from_bytes(sha1(gram).digest()[:4], "little") for gram in grams), dtype=np.uint32, count=len(grams)
    )
    s1, m1, s2, m2, s3 = _FMIX32
    hashes ^= hashes >> s1
    hashes *= m1
    hashes ^= hashes >> s2
    hashes *= m2
    hashes ^= hashes >> s3
    a, b = _permutations()
    return (hashes[:, None] * a + b).min(axis=0)


def term_arrays(fingerprint: ArticleFingerprint) -> list[np.ndarray]:
    return split_terms(fingerprint.sentence_terms, fingerprint.sentence_lengths)


def split_terms(terms: bytes, lengths: bytes) -> list[np.ndarray]:
    flat = np.frombuffer(terms, dtype=np.uint32)
    sizes = np.frombuffer(lengths, dtype=np.uint16).astype(np.int64)
    return np.split(flat, np.cumsum(sizes)[:-1]) if len(sizes) else []


def article_text(article: Article) -> str:
    """What the diff reads: the headline (a sentence of its own) and the body."""
    title = (article.title or "").strip()
    body = article.text or ""
    if title and not body.lstrip().startswith(title):
        return f"{title}\n\n{body}"
    return body


# News articles are a few thousand characters; a "page" of hundreds of thousands is a dump or an
# attack. Only its beginning is analysed, which also keeps every sentence's term count in uint16.
MAX_ANALYSED_CHARS = 100_000


def fingerprint_text(article_id: str, text: str) -> ArticleFingerprint:
    if len(text) > MAX_ANALYSED_CHARS:
        cut = text.rfind(" ", 0, MAX_ANALYSED_CHARS)
        text = text[: cut if cut > 0 else MAX_ANALYSED_CHARS]
    analysis = analyse(text)
    term_lists = [np.array(sorted({term_hash(t) for t in s.terms}), dtype=np.uint32) for s in analysis]
    lengths = np.array([len(t) for t in term_lists], dtype=np.uint16)
    flat = np.concatenate(term_lists) if term_lists else np.zeros(0, dtype=np.uint32)
    numbers = sorted({fact.key for s in analysis for fact in s.numbers})
    codes = {phonetic_code(surface) for s in analysis for surface, _ in s.names}
    return ArticleFingerprint(
        article_id=article_id,
        version=FINGERPRINT_VERSION,
        story_id=article_id,
        sentences=[s.text for s in analysis],
        signature=minhash_signature(text).tobytes(),
        sentence_terms=flat.astype(np.uint32).tobytes(),
        sentence_lengths=lengths.tobytes(),
        number_keys=numbers,
        name_codes=sorted(code for code in codes if code),
        analysis=analysis,
    )


def fingerprint_article(article: Article) -> ArticleFingerprint:
    return fingerprint_text(article.article_id, article_text(article))


def sentence_analysis(fingerprint: ArticleFingerprint) -> list[SentenceFacts]:
    """The sentence analysis the diff of this article reads: the one `fingerprint_text` made, or,
    for a fingerprint that left it behind (made in a worker process), the same analysis redone
    from its sentences: `analyse` is exactly this per-sentence analysis of the split text, so the
    result is identical, and it costs the main process only the few articles it diffs."""
    if not fingerprint.analysis and fingerprint.sentences:
        fingerprint.analysis = analyse_sentences(fingerprint.sentences)
    return fingerprint.analysis


def fingerprint_articles(articles: list[Article]) -> list[ArticleFingerprint | str]:
    """One fingerprint per article, in order (run in the extraction workers by the flow), or the
    error that prevented it: one article the analysis chokes on never costs the others theirs.

    The fingerprints come without their sentence analysis (`sentence_analysis` redoes it, ~6 ms,
    for the articles that are diffed): it is ~90% of a fingerprint's objects (636 -> 72 on the
    fundus pages), and sending it back made the main process unpickle and hold it for every German
    article of the pass, and Prefect walk it object by object wherever the fingerprints are a task
    parameter (`diff-against-corpus`, `store-pass`: ~35 s of a 1,200-page bench pass), though only
    matched articles are diffed."""
    results: list[ArticleFingerprint | str] = []
    for article in articles:
        try:
            fingerprint = fingerprint_article(article)
        except Exception as error:  # noqa: BLE001 - reported by the flow as a run error
            results.append(f"{article.url}: cannot analyse the text: {type(error).__name__}: {error}"[:500])
            continue
        fingerprint.analysis = []
        results.append(fingerprint)
    return results


def fingerprint_corpus_articles(articles: list[Article]) -> list[ArticleFingerprint | str | None]:
    """For each article: its fingerprint if it belongs in the corpus, else None (or the error)."""
    return [fingerprint_articles([a])[0] if belongs_in_corpus(a) else None for a in articles]


def belongs_in_corpus(article: Article) -> bool:
    """The corpus is German text: the seed and every stored German article with a body."""
    return article.language == "de" and bool(article.text.strip())


def corpus_entry(fingerprint: ArticleFingerprint) -> CorpusEntry:
    """The index's view of a fingerprint (story_id as the fingerprint carries it)."""
    return CorpusEntry(
        article_id=fingerprint.article_id,
        story_id=fingerprint.story_id,
        signature=fingerprint.signature,
        sentence_terms=fingerprint.sentence_terms,
        sentence_lengths=fingerprint.sentence_lengths,
        number_keys=fingerprint.number_keys,
        name_codes=fingerprint.name_codes,
    )
