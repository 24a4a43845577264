"""The corpus index: where a new article finds its closest earlier articles and sentences.

Built once per pass from the stored fingerprints inside the look-back window (plus the seed
corpus), then grown in memory as the pass diffs its own articles, so the second outlet in the
same pass already finds the first. Nothing here compares against every stored article:

- Articles: MinHash LSH. Each 128-value signature is cut into 25 bands of 5 values (datasketch's
  optimal banding for Jaccard 0.5); an article is a candidate when one band is equal. Band keys
  live in one sorted numpy array (about 30 MB for 100,000 articles; datasketch's own dict-based
  MinHashLSH took 900 MB and 60 s to load the same), looked up by binary search; of many
  articles sharing a band (identical stubs) only the newest `MAX_BAND_CANDIDATES` are scored.
- Sentences: an inverted index from content term to the sentences that contain it (sorted numpy
  arrays). A sentence looks up only its `RAREST_TERMS` rarest terms, and each of those only its
  newest `MAX_POSTINGS` sentences, so the cost of a lookup is bounded however large the corpus
  grows; the best candidates are then scored exactly. The price of the bound: an old sentence
  whose every rare term has since become common can be missed (it then counts as novel).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from newswatch.records import CorpusEntry
from novelty.fingerprint import NUM_PERM, split_terms

BANDS, ROWS = 25, 5  # datasketch _optimal_param(threshold=0.5, num_perm=128)
MAX_BAND_CANDIDATES = 50  # newest articles scored per equal band
RAREST_TERMS = 4  # terms of a sentence used to find candidates
MAX_POSTINGS = 400  # newest sentences read per term
CANDIDATES_SCORED = 12
_CHUNK = 8192  # entries whose blobs are compacted into arrays at a time while building

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


@dataclass(frozen=True, slots=True)
class Counterpart:
    """A corpus sentence closest to a new sentence, and how much of the new one it covers."""

    article: int  # index position of the article
    sentence: int  # sentence number within that article
    similarity: float


@dataclass(slots=True)
class TermStats:
    """The corpus statistics of one sentence's terms, looked up at once."""

    terms: np.ndarray  # uint32, sorted, unique
    frequency: np.ndarray  # sentences containing each term
    starts: np.ndarray  # their postings in the base index: [starts, ends)
    ends: np.ndarray
    weights: np.ndarray  # inverse sentence frequency


class CorpusIndex:
    def __init__(self, entries: Iterable[CorpusEntry] = ()) -> None:
        self.articles: list[IndexedArticle] = []
        self._position: dict[str, int] = {}
        self._number_keys: list[frozenset[str]] = []
        self._known_numbers: set[str] = set()
        self._name_codes: list[frozenset[str]] = []
        # Blobs are turned into arrays chunk by chunk, so the bytes of all entries never sit in
        # memory beside the arrays made from them.
        signatures: list[np.ndarray] = []
        terms: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        pending: list[CorpusEntry] = []
        for entry in entries:
            self._register(entry)
            pending.append(entry)
            if len(pending) == _CHUNK:
                self._compact(pending, signatures, terms, lengths)
        self._compact(pending, signatures, terms, lengths)
        self._build(signatures, terms, lengths)

    # --- construction --------------------------------------------------------------------------

    def _register(self, entry: CorpusEntry) -> int:
        position = len(self.articles)
        self.articles.append(
            IndexedArticle(entry.article_id, entry.story_id)
        )
        self._position[entry.article_id] = position
        keys = frozenset(entry.number_keys)
        self._number_keys.append(keys)
        self._known_numbers.update(keys)
        self._name_codes.append(frozenset(entry.name_codes))
        return position

    @staticmethod
    def _compact(pending: list[CorpusEntry], signatures: list, terms: list, lengths: list) -> None:
        if not pending:
            return
        signatures.append(np.frombuffer(b"".join(e.signature for e in pending), dtype=np.uint32).reshape(-1, NUM_PERM))
        terms.append(np.frombuffer(b"".join(e.sentence_terms for e in pending), dtype=np.uint32))
        per_article = np.array([len(e.sentence_lengths) // 2 for e in pending], dtype=np.int64)
        lengths.append((np.frombuffer(b"".join(e.sentence_lengths for e in pending), dtype=np.uint16), per_article))
        pending.clear()

    def _build(self, signatures: list[np.ndarray], terms: list[np.ndarray], lengths: list) -> None:
        sig = np.concatenate(signatures) if signatures else np.zeros((0, NUM_PERM), dtype=np.uint32)
        n = len(sig)
        self._signatures = [sig]  # base block, then one row per article added in the pass
        keys = band_keys(sig)
        order = np.argsort(keys, axis=None, kind="stable")  # equal keys stay oldest first
        self._band_sorted = keys.reshape(-1)[order]
        self._band_article = (order // BANDS).astype(np.int32)
        del keys, order
        self._band_extra: dict[int, list[int]] = {}

        sentence_lengths = (np.concatenate([x for x, _ in lengths]).astype(np.int64)
                            if lengths else np.zeros(0, np.int64))
        per_article = np.concatenate([p for _, p in lengths]) if lengths else np.zeros(0, np.int64)
        sentence_count = len(sentence_lengths)
        self._sentence_article = np.repeat(np.arange(n, dtype=np.int32), per_article)
        first_sentence = np.cumsum(per_article) - per_article
        self._sentence_number = (np.arange(sentence_count, dtype=np.int64)
                                 - np.repeat(first_sentence, per_article)).astype(np.int32)
        self._sentence_offsets = np.concatenate([[0], np.cumsum(sentence_lengths)])
        self._flat_terms = np.concatenate(terms) if terms else np.zeros(0, np.uint32)
        terms.clear()

        # Postings sorted by (term, sentence): one uint64 key per (term, sentence) pair, sorted in
        # place, then split into the two uint32 halves.
        packed = self._flat_terms.astype(np.uint64)
        packed <<= np.uint64(32)
        packed |= np.repeat(np.arange(sentence_count, dtype=np.uint32), sentence_lengths)
        packed.sort()
        self._postings = packed.astype(np.uint32)  # the low half: sentence ids
        packed >>= np.uint64(32)
        term_of = packed.view(np.uint32)[:: 2] if np.little_endian else packed.view(np.uint32)[1::2]  # no copy
        boundaries = np.flatnonzero(term_of[1:] != term_of[:-1]) + 1
        self._term_starts = np.concatenate([[0], boundaries, [len(term_of)]]).astype(np.int64)
        self._terms = term_of[self._term_starts[:-1]].copy() if len(term_of) else np.zeros(0, np.uint32)
        del term_of, packed
        self._base_sentences = sentence_count
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
        keys = band_keys(sig)[0]
        lows = np.searchsorted(self._band_sorted, keys, side="left")
        highs = np.searchsorted(self._band_sorted, keys, side="right")
        candidates: set[int] = set()
        for key, low, high in zip(keys.tolist(), lows.tolist(), highs.tolist(), strict=True):
            candidates.update(self._band_article[max(low, high - MAX_BAND_CANDIDATES) : high].tolist())
            candidates.update(self._band_extra.get(key, ())[-MAX_BAND_CANDIDATES:])
        scored = [(c, float(np.mean(self.signature(c) == sig[0]))) for c in candidates]
        return sorted((s for s in scored if s[1] >= min_jaccard), key=lambda s: -s[1])

    def stats(self, terms: np.ndarray) -> TermStats:
        """Frequency, postings and weight of each term, with one binary search for all of them."""
        terms = np.asarray(terms, dtype=np.uint32)
        found = np.searchsorted(self._terms, terms)
        inside = found < len(self._terms)
        hit = np.zeros(len(terms), dtype=bool)
        hit[inside] = self._terms[found[inside]] == terms[inside]
        starts = np.where(hit, self._term_starts[np.minimum(found, len(self._term_starts) - 1)], 0)
        ends = np.where(hit, self._term_starts[np.minimum(found + 1, len(self._term_starts) - 1)], 0)
        frequency = ends - starts
        if self._extra_postings:
            frequency = frequency + np.array([len(self._extra_postings.get(t, ())) for t in terms.tolist()],
                                             dtype=np.int64)
        total = self.sentence_count + 1
        weights = np.log1p(total / (1.0 + frequency))
        return TermStats(terms, frequency, starts, ends, weights)

    def document_frequency(self, term: int) -> int:
        return int(self.stats(np.array([term], dtype=np.uint32)).frequency[0])

    def knows_term(self, term: int) -> bool:
        return self.document_frequency(term) > 0

    def knows_number(self, key: str) -> bool:
        return key in self._known_numbers

    def name_codes(self, position: int) -> frozenset[str]:
        return self._name_codes[position]

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

    def closest_sentence(self, terms: np.ndarray, stats: TermStats | None = None) -> Counterpart | None:
        """The corpus sentence covering most of `terms` (weighted by rarity), if any shares one."""
        if len(terms) == 0:
            return None
        stats = stats if stats is not None else self.stats(terms)
        total = float(stats.weights.sum())
        known = np.flatnonzero(stats.frequency > 0)
        if len(known) == 0 or total == 0:
            return None
        rarest = known[np.argsort(-stats.weights[known], kind="stable")[:RAREST_TERMS]]
        # Candidates by the weight of the rare terms they share, not their number: one shared
        # rare name outweighs three common words shared by hundreds of newer sentences.
        ids: list[np.ndarray] = []
        id_weights: list[np.ndarray] = []
        for i in rarest.tolist():
            term, weight = int(stats.terms[i]), float(stats.weights[i])
            extra = self._extra_postings.get(term, [])[-MAX_POSTINGS:]
            start = max(int(stats.starts[i]), int(stats.ends[i]) - (MAX_POSTINGS - len(extra)))
            postings = self._postings[start : int(stats.ends[i])]
            if extra:
                postings = np.concatenate([postings, np.array(extra, dtype=np.uint32)])
            ids.append(postings)
            id_weights.append(np.full(len(postings), weight))
        candidates, inverse = np.unique(np.concatenate(ids), return_inverse=True)
        scores = np.bincount(inverse, weights=np.concatenate(id_weights))
        top = np.argsort(-scores, kind="stable")[:CANDIDATES_SCORED]
        weight_of = dict(zip(stats.terms.tolist(), stats.weights.tolist(), strict=True))
        best: Counterpart | None = None
        for sentence_id in candidates[top].tolist():
            shared = np.intersect1d(stats.terms, self._sentence_terms(sentence_id), assume_unique=True)
            similarity = sum(weight_of[t] for t in shared.tolist()) / total
            if best is None or similarity > best.similarity:
                article, number = self._owner(sentence_id)
                best = Counterpart(article, number, similarity)
        return best
