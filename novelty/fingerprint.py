"""What the corpus remembers of an article: a MinHash of its wording, its sentences' content terms,
and the numbers it reports. One row of `article_fingerprints` per German article (seed included).

Computed once per article (in the extraction workers for new articles) and never again: the diff
compares a new article's fingerprint against the index built from stored ones.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from newswatch.records import Article, ArticleFingerprint, CorpusEntry
from novelty.text import analyse, phonetic_code, shingles, term_hash

NUM_PERM = 128
FINGERPRINT_VERSION = 1  # bump when the analysis changes; older fingerprints are recomputed


@lru_cache(maxsize=1)
def _permutations() -> np.ndarray:
    # datasketch derives the permutations from the seed; computing them once saves ~0.3 ms an article.
    from datasketch import MinHash  # imported where fingerprints are made: it brings SciPy (~1 s)

    return MinHash(num_perm=NUM_PERM, seed=1).permutations


def minhash_signature(text: str) -> np.ndarray:
    """128 MinHash values (uint32) of the text's word 3-grams (datasketch, affine32 scheme)."""
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=1, permutations=_permutations(), scheme="affine32")
    grams = shingles(text)
    if grams:
        minhash.update_batch(grams)
    return minhash.hashvalues.astype(np.uint32)


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


def fingerprint_articles(articles: list[Article]) -> list[ArticleFingerprint | str]:
    """One fingerprint per article, in order (run in the extraction workers by the flow), or the
    error that prevented it: one article the analysis chokes on never costs the others theirs."""
    results: list[ArticleFingerprint | str] = []
    for article in articles:
        try:
            results.append(fingerprint_article(article))
        except Exception as error:  # noqa: BLE001 - reported by the flow as a run error
            results.append(f"{article.url}: cannot analyse the text: {type(error).__name__}: {error}"[:500])
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
