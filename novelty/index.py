"""The corpus index: where a new article finds its closest earlier articles and sentences.

Built once per pass from the stored fingerprints inside the look-back window (plus the seed
corpus), then grown in memory as the pass diffs its own articles, so the second outlet in the
same pass already finds the first. Nothing here compares against every stored article:

- Articles: MinHash LSH. Each 128-value signature is cut into 25 bands of 5 values (datasketch's
  optimal banding for Jaccard 0.5); an article is a candidate when one band is equal. Band keys
  live in one sorted numpy array (about 30 MB for 100,000 articles; datasketch's own dict-based
  MinHashLSH took 900 MB and 60 s to load the same), looked up by binary search.
- Sentences: an inverted index from content term to the sentences that contain it (a sorted
  numpy array). A sentence looks up only its rarest terms, and each of those only its newest
  `MAX_POSTINGS` sentences, so the cost of a lookup is bounded however large the corpus grows;
  the best candidates are then scored exactly.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from newswatch.records import CorpusEntry
from novelty.fingerprint import NUM_PERM, split_terms

BANDS, ROWS = 25, 5  # datasketch _optimal_param(threshold=0.5, num_perm=128)
RAREST_TERMS = 4  # terms of a sentence used to find candidates
MAX_POSTINGS = 400  # newest sentences read per term
CANDIDATES_SCORED = 12

_rng = np.random.default_rng(20251114)
_BAND_MULTIPLIERS = (_rng.integers(1, 2**63, size=(BANDS, ROWS), dtype=np.uint64) | np.uint64(1))


def band_keys(signatures: np.ndarray) -> np.ndarray:
    """(n, BANDS) uint64 keys: a hash of each band's ROWS values, distinct per band."""
    bands = signatures[:, : BANDS * ROWS].astype(np.uint64).reshape(len(signatures), BANDS, ROWS)
    with np.errstate(over="ignore"):
        mixed = (bands * _BAND_MULTIPLIERS).sum(axis=2, dtype=np.uint64)
        mixed ^= mixed >> np.uint64(29)
        mixed += np.arange(BANDS, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return mixed


@dataclass(slots=True)
class IndexedArticle:
    """What the index keeps of a corpus article besides its fingerprint."""

    article_id: str
    story_id: str
    outlet: str | None
    published_at: datetime | None
    is_seed: bool


@dataclass(frozen=True, slots=True)
class Counterpart:
    """A corpus sentence closest to a new sentence, and how much of the new one it covers."""

    article: int  # index position of the article
    sentence: int  # sentence number within that article
    similarity: float


class CorpusIndex:
    def __init__(self, entries: Iterable[CorpusEntry] = ()) -> None:
        self.articles: list[IndexedArticle] = []
        self._position: dict[str, int] = {}
        self._number_keys: list[frozenset[str]] = []
        self._known_numbers: set[str] = set()
        self._known_values: set[str] = set()
        self._known_name_codes: set[str] = set()
        signatures: list[bytes] = []
        term_blobs: list[np.ndarray] = []
        length_blobs: list[np.ndarray] = []
        for entry in entries:
            self._register(entry)
            signatures.append(entry.signature)
            term_blobs.append(np.frombuffer(entry.sentence_terms, dtype=np.uint32))
            length_blobs.append(np.frombuffer(entry.sentence_lengths, dtype=np.uint16))
        self._build(signatures, term_blobs, length_blobs)

    # --- construction --------------------------------------------------------------------------

    def _register(self, entry: CorpusEntry) -> int:
        position = len(self.articles)
        self.articles.append(
            IndexedArticle(entry.article_id, entry.story_id, entry.outlet, entry.published_at, entry.is_seed)
        )
        self._position[entry.article_id] = position
        keys = frozenset(entry.number_keys)
        self._number_keys.append(keys)
        self._known_numbers.update(keys)
        self._known_values.update(key.split(" ", 1)[0] for key in keys)
        self._known_name_codes.update(entry.name_codes)
        return position

    def _build(self, signatures: list[bytes], terms: list[np.ndarray], lengths: list[np.ndarray]) -> None:
        n = len(signatures)
        sig = (np.frombuffer(b"".join(signatures), dtype=np.uint32).reshape(n, NUM_PERM)
               if n else np.zeros((0, NUM_PERM), dtype=np.uint32))
        self._signatures = [sig]  # base block, then one row per article added in the pass
        keys = band_keys(sig)
        order = np.argsort(keys, axis=None, kind="stable")
        self._band_sorted = keys.reshape(-1)[order]
        self._band_article = (order // BANDS).astype(np.int32)
        self._band_extra: dict[int, list[int]] = {}

        sentence_lengths = np.concatenate(lengths).astype(np.int64) if lengths else np.zeros(0, np.int64)
        sentences_per_article = np.array([len(x) for x in lengths], dtype=np.int64)
        self._sentence_article = np.repeat(np.arange(n, dtype=np.int32), sentences_per_article)
        self._sentence_number = (np.arange(len(sentence_lengths), dtype=np.int64)
                                 - np.repeat(np.cumsum(sentences_per_article) - sentences_per_article,
                                             sentences_per_article)).astype(np.int32)
        self._sentence_offsets = np.concatenate([[0], np.cumsum(sentence_lengths)])
        self._flat_terms = np.concatenate(terms) if terms else np.zeros(0, np.uint32)
        sentence_ids = np.repeat(np.arange(len(sentence_lengths), dtype=np.uint64), sentence_lengths)
        packed = (self._flat_terms.astype(np.uint64) << np.uint64(32)) | sentence_ids
        del sentence_ids
        packed.sort()
        term_of = (packed >> np.uint64(32)).astype(np.uint32)
        self._postings = (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        del packed
        self._terms, self._term_starts = np.unique(term_of, return_index=True)
        self._term_starts = np.append(self._term_starts, len(term_of)).astype(np.int64)
        del term_of
        self._base_sentences = len(sentence_lengths)
        # Sentences of articles added during the pass.
        self._extra_terms: list[np.ndarray] = []
        self._extra_owner: list[tuple[int, int]] = []
        self._extra_postings: dict[int, list[int]] = {}

    def add(self, entry: CorpusEntry) -> None:
        """An article diffed in this pass joins the corpus for the articles after it."""
        if entry.article_id in self._position:
            return
        position = self._register(entry)
        sig = np.frombuffer(entry.signature, dtype=np.uint32).reshape(1, NUM_PERM)
        self._signatures.append(sig)
        for key in band_keys(sig)[0].tolist():
            self._band_extra.setdefault(key, []).append(position)
        for number, terms in enumerate(split_terms(entry.sentence_terms, entry.sentence_lengths)):
            sentence_id = self._base_sentences + len(self._extra_terms)
            self._extra_terms.append(terms)
            self._extra_owner.append((position, number))
            for term in terms.tolist():
                self._extra_postings.setdefault(term, []).append(sentence_id)

    # --- lookups -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.articles)

    def position(self, article_id: str) -> int | None:
        return self._position.get(article_id)

    def signature(self, position: int) -> np.ndarray:
        base = self._signatures[0]
        return base[position] if position < len(base) else self._signatures[position - len(base) + 1][0]

    def near_duplicates(self, signature: bytes, min_jaccard: float) -> list[tuple[int, float]]:
        """Articles whose estimated Jaccard similarity of wording is at least `min_jaccard`, best first."""
        sig = np.frombuffer(signature, dtype=np.uint32).reshape(1, NUM_PERM)
        candidates: set[int] = set()
        for key in band_keys(sig)[0]:
            low = np.searchsorted(self._band_sorted, key, side="left")
            high = np.searchsorted(self._band_sorted, key, side="right")
            candidates.update(self._band_article[low:high].tolist())
            candidates.update(self._band_extra.get(int(key), ()))
        scored = [(c, float(np.mean(self.signature(c) == sig[0]))) for c in candidates]
        return sorted((s for s in scored if s[1] >= min_jaccard), key=lambda s: -s[1])

    def document_frequency(self, term: int) -> int:
        found = np.searchsorted(self._terms, term)
        base = 0
        if found < len(self._terms) and self._terms[found] == term:
            base = int(self._term_starts[found + 1] - self._term_starts[found])
        return base + len(self._extra_postings.get(term, ()))

    def knows_term(self, term: int) -> bool:
        return self.document_frequency(term) > 0

    def knows_number(self, key: str) -> bool:
        return key in self._known_numbers

    def knows_value(self, value: str) -> bool:
        """Was this number reported at all, whatever it counted?"""
        return value in self._known_values

    def knows_name_code(self, code: str) -> bool:
        return code in self._known_name_codes

    def number_keys(self, position: int) -> frozenset[str]:
        return self._number_keys[position]

    @property
    def sentence_count(self) -> int:
        return self._base_sentences + len(self._extra_terms)

    def _sentence_terms(self, sentence_id: int) -> np.ndarray:
        if sentence_id < self._base_sentences:
            return self._flat_terms[self._sentence_offsets[sentence_id] : self._sentence_offsets[sentence_id + 1]]
        return self._extra_terms[sentence_id - self._base_sentences]

    def _owner(self, sentence_id: int) -> tuple[int, int]:
        if sentence_id < self._base_sentences:
            return int(self._sentence_article[sentence_id]), int(self._sentence_number[sentence_id])
        return self._extra_owner[sentence_id - self._base_sentences]

    def _newest_postings(self, term: int) -> list[int]:
        extra = self._extra_postings.get(term, [])
        if len(extra) >= MAX_POSTINGS:
            return extra[-MAX_POSTINGS:]
        found = np.searchsorted(self._terms, term)
        if found < len(self._terms) and self._terms[found] == term:
            start, end = self._term_starts[found], self._term_starts[found + 1]
            start = max(start, end - (MAX_POSTINGS - len(extra)))
            return self._postings[start:end].tolist() + extra
        return extra

    def weights(self, terms: Sequence[int]) -> list[float]:
        """Inverse sentence frequency: rare terms carry the meaning of a sentence."""
        total = self.sentence_count + 1
        return [math.log(1 + total / (1 + self.document_frequency(t))) for t in terms]

    def closest_sentence(self, terms: np.ndarray, weights: Sequence[float] | None = None) -> Counterpart | None:
        """The corpus sentence covering most of `terms` (weighted by rarity), if any shares one."""
        term_list = terms.tolist()
        if not term_list:
            return None
        weights = list(weights) if weights is not None else self.weights(term_list)
        weight_of = dict(zip(term_list, weights, strict=True))
        total = sum(weights)
        known = [t for t in term_list if self.document_frequency(t) > 0]
        rarest = sorted(known, key=lambda t: -weight_of[t])[:RAREST_TERMS]
        # Candidates by the weight of the rare terms they share, not their number: one shared
        # rare name outweighs three common words shared by hundreds of newer sentences.
        hits: Counter[int] = Counter()
        for term in rarest:
            weight = weight_of[term]
            for sentence_id in self._newest_postings(term):
                hits[sentence_id] += weight
        best: Counterpart | None = None
        for sentence_id, _ in hits.most_common(CANDIDATES_SCORED):
            shared = np.intersect1d(terms, self._sentence_terms(sentence_id), assume_unique=True)
            similarity = sum(weight_of[t] for t in shared.tolist()) / total if total else 0.0
            if best is None or similarity > best.similarity:
                article, number = self._owner(sentence_id)
                best = Counterpart(article, number, similarity)
        return best
