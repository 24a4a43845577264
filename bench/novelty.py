"""Novelty diff cost per article against 1,000, 10,000 and 100,000 stored articles.

Corpus: synthetic German news articles, generated once and cached in bench/.cache/. Each article
takes 15-40 sentences of real German text (the hand-checked bodies of the Fundus German pages in
../shared/fixtures/fundus/de and the seed corpus, split with novelty.text.split_sentences) and in
every sentence replaces a random 30-50% of the words by word forms drawn from the 1.1 million
German word forms of simplemma's dictionary (Zipf-Mandelbrot, s = 1.05, q = 100, so no single
word sits in every other sentence), 6% of them by synthetic surnames (the corpus keeps meeting new
names); every number is randomised. 5% of the articles are near-copies of a recent earlier one
(syndication). So the vocabulary and the posting lists grow with the corpus as they do with real
coverage, instead of 100,000 copies of the same 4,000 sentences. One sixth of the source
documents is held out of the corpus: the queries take their new sentences from it.

Stored fingerprints are computed directly from the known sentences (content terms, number facts,
names, MinHash, with the functions of novelty/ and per-word caches), not through spaCy and
`fingerprint_text` (10 ms an article, 17 minutes for 100,000 on one core). On every run 20
cached articles are re-fingerprinted with `fingerprint_text`: signature and terms must be equal,
else the cache (keyed by FINGERPRINT_VERSION) is regenerated. Article i is generated from a seed
of its own, so any article's text can be regenerated (the queries copy from recent ones).

Queries: 200 per corpus size, fingerprinted with `fingerprint_text` before timing: 40 near-copies of
one of the 1,000 newest corpus articles (new headline, a sentence changed or trimmed), 60 articles
of new sentences, 100 mixing 1-3 recent articles' sentences (some reworded) with new ones. Query q
has the same shape at every size. Only `diff_article` is timed (each query's best of 3 passes, or
of 1 when a pass takes over a minute, then p50/p95 over the queries); queries are not added to
the index. Each size runs in a fresh subprocess, so its figures are its own: the index build
(`CorpusIndex(entries)` from the CorpusEntry records storage.repository.read_corpus streams; the DuckDB read itself is not included), RSS after the build, and peak RSS (VmHWM: spaCy
and the lexicon, the stored fingerprints as CorpusEntry objects, the build, the diffs).

`python -m bench.novelty` prints the figures (`--save` merges them into bench/results/latest.json,
`--profile 100000` prints where the diff time goes at that size); `make bench` runs it via
bench/run.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
SEED_CORPUS = ROOT / "corpus" / "seed"
SIZES = (1_000, 10_000, 100_000)
LABELS = {1_000: "1k", 10_000: "10k", 100_000: "100k"}
QUERIES = 200
RECENT = 1_000  # queries copy from the newest RECENT corpus articles
REPEATS = 3  # each query's best of REPEATS passes ...
SLOW_PASS_SECONDS = 60  # ... unless one pass over the queries takes longer than this
WARM_UP = 10
SEED = 20251121
GENERATOR_VERSION = 1
ZIPF_S, ZIPF_Q, NAMES_Q = 1.05, 100, 10  # Zipf-Mandelbrot: weight of rank r is 1 / (r + q) ** s
NAME_SHARE = 0.06
COPY_SHARE = 0.05
CHUNK = 2_500
CHECKED = 20  # cached articles re-fingerprinted with `fingerprint_text` on every run


def _cache_dir() -> Path:
    """Keyed like stored fingerprints are (FINGERPRINT_VERSION), plus the generator's version; a
    change of the analysis without a version bump is caught by `cache_is_current`."""
    from novelty.fingerprint import FINGERPRINT_VERSION

    return CACHE / f"novelty-{max(SIZES)}-g{GENERATOR_VERSION}-f{FINGERPRINT_VERSION}"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- sentence pool ------------------------------------------------------------------------------


def build_pool() -> dict[str, list[str]]:
    """Real German sentences: {"corpus": [...], "held_out": [...]} (held out: every 6th document)."""
    from novelty.text import split_sentences

    documents: list[str] = []
    try:
        from tests.fundus import load_pages

        for page in load_pages("de"):
            documents.append("\n\n".join(([page.title] if page.title else []) + list(page.paragraphs)))
    except FileNotFoundError:
        _log("../shared/fixtures/fundus/de absent: sentences from the seed corpus only")
    for path in sorted(SEED_CORPUS.glob("*.txt")):
        documents.append(path.read_text(encoding="utf-8"))
    pool: dict[str, list[str]] = {"corpus": [], "held_out": []}
    for number, document in enumerate(documents):
        sentences = [s for s in split_sentences(document) if len(s.split()) >= 4]
        pool["held_out" if number % 6 == 5 else "corpus"].extend(sentences)
    return pool


# --- generator ----------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:,\d+)?|\d{1,3}(?:\.\d{3})+")
_PLAIN_WORD = re.compile(r"[^\W\d_]{2,}")
_DIGIT = re.compile(r"\d")
_SYLLABLES = ("ka ro wi te mo sch an el ber gu di lo na ko va ri ne tsch ow ski ar us in da pe "
              "ma li sa he ju ni fe ol ra bo ze ti ck ov ew ien ard").split()


class _Template:
    """A pool sentence cut into its words: replaceable words, numbers, and the text between."""

    __slots__ = ("gaps", "kinds", "tokens")

    def __init__(self, sentence: str) -> None:
        from matching.normalise import TOKEN_RE

        self.gaps: list[str] = []
        self.tokens: list[str] = []
        self.kinds: list[int] = []  # 0 keep, 1 word, 2 number, 3 year
        last = 0
        for match in TOKEN_RE.finditer(sentence):
            surface = match.group()
            self.gaps.append(sentence[last : match.start()])
            self.tokens.append(surface)
            if _NUMBER.fullmatch(surface):
                year = len(surface) == 4 and surface.isdigit() and 1900 <= int(surface) <= 2100
                self.kinds.append(3 if year else 2)
            else:
                self.kinds.append(1 if _PLAIN_WORD.fullmatch(surface) else 0)
            last = match.end()
        self.gaps.append(sentence[last:])


def _number(original: str, rng: random.Random) -> str:
    """A random number shaped like `original` (never a 4-character decimal: see the docstring)."""
    if "," in original:
        whole = str(rng.choice((rng.randrange(10), rng.randrange(100, 1000))))
        return f"{whole},{rng.randrange(10, 100) if len(whole) == 3 else rng.randrange(10)}"
    if "." in original:
        return f"{rng.randrange(1, 1000)}.{rng.randrange(1000):03d}"
    digits = max(1, min(3, len(original) + rng.choice((-1, 0, 0, 1))))
    return str(rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits))


def _zipf_cumulative(count: int, q: int) -> list[float]:
    """Cumulative Zipf-Mandelbrot weights of ranks 1..count (for random.choices)."""
    return list(itertools.accumulate(1 / (rank + q) ** ZIPF_S for rank in range(1, count + 1)))


class Generator:
    """Deterministic synthetic articles; article i and query q depend only on their own seed."""

    def __init__(self, pool: dict[str, list[str]]) -> None:
        from simplemma.strategies.dictionaries import DefaultDictionaryFactory

        self.corpus_templates = [_Template(s) for s in pool["corpus"]]
        self.held_out_templates = [_Template(s) for s in pool["held_out"]]
        dictionary = DefaultDictionaryFactory(cache_max_size=1).get_dictionary("de")
        forms = {f for f in itertools.chain(dictionary, dictionary.values()) if _PLAIN_WORD.fullmatch(f)}
        self.vocabulary = sorted(forms)
        random.Random(SEED).shuffle(self.vocabulary)  # rank order: a random word per rank
        self.vocabulary_weights = _zipf_cumulative(len(self.vocabulary), ZIPF_Q)
        names_rng = random.Random(SEED + 1)
        names = {
            "".join(names_rng.choice(_SYLLABLES) for _ in range(names_rng.randint(2, 4))).capitalize()
            for _ in range(250_000)
        }
        self.names = sorted(names)
        names_rng.shuffle(self.names)
        self.name_weights = _zipf_cumulative(len(self.names), NAMES_Q)
        self._articles: dict[int, list[str]] = {}

    def sentence(self, template: _Template, rng: random.Random, share: float) -> str:
        tokens = list(template.tokens)
        replace = [i for i, kind in enumerate(template.kinds) if kind == 1 and rng.random() < share]
        names = sum(1 for _ in replace if rng.random() < NAME_SHARE)
        words = (rng.choices(self.names, cum_weights=self.name_weights, k=names)
                 + rng.choices(self.vocabulary, cum_weights=self.vocabulary_weights, k=len(replace) - names))
        rng.shuffle(words)
        for i, word in zip(replace, words, strict=True):
            tokens[i] = word
        for i, kind in enumerate(template.kinds):
            if kind == 2:
                tokens[i] = _number(tokens[i], rng)
            elif kind == 3:
                tokens[i] = str(rng.randint(1990, 2030))
        parts = [template.gaps[0]]
        for token, gap in zip(tokens, template.gaps[1:], strict=True):
            parts += [token, gap]
        return "".join(parts)

    def new_sentences(self, rng: random.Random, count: int, *, held_out: bool) -> list[str]:
        templates = self.held_out_templates if held_out else self.corpus_templates
        return [self.sentence(t, rng, rng.uniform(0.3, 0.5)) for t in rng.sample(templates, count)]

    def article(self, number: int) -> list[str]:
        """The sentences of corpus article `number`."""
        if number in self._articles:
            return self._articles[number]
        rng = random.Random(SEED * 1_000_003 + number)
        if number >= 50 and rng.random() < COPY_SHARE:  # a syndicated copy of a recent article
            source = number - rng.randint(1, min(number, 2_000))
            sentences = list(self.article(source))
            for _ in range(rng.randint(0, 2)):
                sentences[rng.randrange(len(sentences))] = self.new_sentences(rng, 1, held_out=False)[0]
        else:
            sentences = self.new_sentences(rng, rng.randint(15, 40), held_out=False)
        if len(self._articles) > 5_000:
            self._articles.clear()
        self._articles[number] = sentences
        return sentences

    def query(self, number: int, size: int) -> dict[str, str]:
        """Query `number` against a corpus of `size` articles: the same shape at every size."""
        rng = random.Random(SEED * 7_919 + number)

        def recent() -> int:
            return size - 1 - rng.randrange(min(size, RECENT))

        kind = ("copy", "new", "mixed", "mixed", "new", "mixed", "copy", "mixed", "new", "mixed")[number % 10]
        if kind == "copy":
            sentences = list(self.article(recent()))
            if rng.random() < 0.5:
                sentences[rng.randrange(len(sentences))] = self.new_sentences(rng, 1, held_out=True)[0]
            if rng.random() < 0.3:
                sentences = sentences[1:]
            if rng.random() < 0.7:
                sentences = self.new_sentences(rng, 1, held_out=True) + sentences
        elif kind == "new":
            sentences = self.new_sentences(rng, rng.randint(15, 40), held_out=True)
        else:
            known: list[str] = []
            for _ in range(rng.randint(1, 3)):
                source = self.article(recent())
                start = rng.randrange(max(1, len(source) - 6))
                for sentence in source[start : start + rng.randint(3, 6)]:
                    if rng.random() < 0.3:  # reworded: a few words changed
                        sentence = self.sentence(_Template(sentence), rng, 0.15)
                    known.append(sentence)
            fresh = self.new_sentences(rng, rng.randint(6, 20), held_out=True)
            sentences = fresh[:2] + known + fresh[2:]
            if rng.random() < 0.5:
                rng.shuffle(sentences)
        return {"id": f"query-{number}", "kind": kind, "text": " ".join(sentences)}


# --- stored fingerprints, computed directly -----------------------------------------------------


class FastFingerprinter:
    """What `fingerprint_text` stores, from known sentence boundaries, with per-word caches: the
    content terms of each word (`content_terms` of the word alone), `number_facts` of sentences
    with a digit or a number word, `name_mentions` and `phonetic_code` of each sentence, and the
    MinHash of the folded words' 3-grams (what `minhash_signature` computes from the text)."""

    def __init__(self) -> None:
        import functools

        import novelty.text
        from matching.normalise import TOKEN_RE, default_lexicon, fold
        from novelty.fingerprint import NUM_PERM, _permutations

        default_lexicon()
        # name_key's lru_cache (65,536 entries) thrashes on a 1.1-million-word vocabulary: an
        # unbounded cache, in the generating process only (never in the measured one).
        if hasattr(novelty.text.name_key, "__wrapped__"):
            novelty.text.name_key = functools.cache(novelty.text.name_key.__wrapped__)
        self._token, self._fold, self._facts = TOKEN_RE, fold, novelty.text.number_facts
        self._names_of = novelty.text.name_mentions
        self._num_perm, self._permutations = NUM_PERM, _permutations()
        self._content_terms, self._term_hash = novelty.text.content_terms, novelty.text.term_hash
        self._phonetic_code, self._number_word = novelty.text.phonetic_code, novelty.text.number_word_value
        self._words: dict[str, tuple[str, tuple[int, ...], bool]] = {}
        self._codes: dict[str, str | None] = {}

    def _word(self, surface: str) -> tuple[str, tuple[int, ...], bool]:
        """(folded, term hashes, is a number word) of one word."""
        folded = self._fold(surface)
        terms = tuple(self._term_hash(t) for t in self._content_terms(surface))
        info = self._words[surface] = (folded, terms, self._number_word(folded) is not None)
        return info

    def entry(self, sentences: list[str]) -> tuple[np.ndarray, list[np.ndarray], list[str], list[str]]:
        from datasketch import MinHash

        words: list[str] = []
        term_arrays: list[np.ndarray] = []
        numbers: set[str] = set()
        codes: set[str] = set()
        for sentence in sentences:
            terms: set[int] = set()
            number_word = False
            for surface in self._token.findall(sentence):
                info = self._words.get(surface) or self._word(surface)
                words.append(info[0])
                terms.update(info[1])
                number_word |= info[2]
            term_arrays.append(np.array(sorted(terms), dtype=np.uint32))
            if number_word or _DIGIT.search(sentence):
                try:
                    numbers.update(fact.key for fact in self._facts(sentence))
                except ValueError:  # the 4-character decimal bug (see the module docstring)
                    pass
            for surface, _ in self._names_of(sentence):
                code = self._codes.get(surface, "")
                if code == "":
                    code = self._codes[surface] = self._phonetic_code(surface)
                if code:
                    codes.add(code)
        if len(words) < 3:
            grams = {" ".join(words).encode()} if words else set()
        else:
            grams = {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}
        minhash = MinHash(num_perm=self._num_perm, seed=1, permutations=self._permutations, scheme="affine32")
        if grams:
            minhash.update_batch(grams)
        return minhash.hashvalues.astype(np.uint32), term_arrays, sorted(numbers), sorted(codes)


_WORKER: tuple[Generator, FastFingerprinter] | None = None


def _init_worker(pool: dict[str, list[str]]) -> None:
    global _WORKER
    _WORKER = (Generator(pool), FastFingerprinter())


def _generate_chunk(bounds: tuple[int, int]) -> dict[str, object]:
    assert _WORKER is not None
    generator, fingerprinter = _WORKER
    signatures, terms, lengths, counts, numbers, codes = [], [], [], [], [], []
    for number in range(*bounds):
        signature, arrays, number_keys, name_codes = fingerprinter.entry(generator.article(number))
        signatures.append(signature)
        terms.extend(arrays)
        lengths.extend(len(a) for a in arrays)
        counts.append(len(arrays))
        numbers.append(number_keys)
        codes.append(name_codes)
    return {
        "signatures": np.stack(signatures),
        "terms": np.concatenate(terms).astype(np.uint32),
        "lengths": np.array(lengths, dtype=np.uint16),
        "counts": np.array(counts, dtype=np.int32),
        "numbers": numbers,
        "codes": codes,
    }


def _compare(sentences: list[str], signature: bytes, terms: set[int], numbers: list[str],
             codes: list[str]) -> tuple[bool, bool, bool]:
    """(signature, terms, facts) equal to what `fingerprint_text` makes of the same text."""
    from novelty.fingerprint import fingerprint_text

    real = fingerprint_text("check", " ".join(sentences))
    real_terms = set(np.frombuffer(real.sentence_terms, np.uint32).tolist())
    return signature == real.signature, terms == real_terms, (numbers, codes) == (real.number_keys, real.name_codes)


def _check_report(results: list[tuple[bool, bool, bool]]) -> tuple[bool, str]:
    n = len(results)
    signature, terms, facts = (sum(r[i] for r in results) for i in range(3))
    # Facts may differ where spaCy cuts the joined text elsewhere (a credit or a number's noun
    # then sits in another sentence); signature and terms do not depend on sentence boundaries.
    return signature == terms == n, (f"stored fingerprints vs fingerprint_text on {n} articles: "
                                     f"signature {signature}/{n}, terms {terms}/{n}, facts {facts}/{n}")


def cache_is_current(folder: Path) -> tuple[bool, str]:
    """Re-fingerprint CHECKED cached articles with the current novelty code."""
    checks = json.loads((folder / "check.json").read_text())
    return _check_report([
        _compare(c["sentences"], bytes.fromhex(c["signature"]), set(c["terms"]), c["numbers"], c["codes"])
        for c in checks
    ])


def ensure_cache() -> Path:
    folder = _cache_dir()
    if (folder / "done").exists():
        current, report = cache_is_current(folder)
        _log(report)
        if current:
            return folder
        _log("the novelty analysis changed without a FINGERPRINT_VERSION bump: regenerating")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _log(f"generating the synthetic corpus ({max(SIZES):,} articles, once) into {folder.relative_to(ROOT)}")
    pool = build_pool()
    _log(f"sentence pool: {len(pool['corpus'])} corpus sentences, {len(pool['held_out'])} held out for queries")
    generator = Generator(pool)
    for size in SIZES:
        queries = [generator.query(q, size) for q in range(QUERIES)]
        (folder / f"queries-{size}.json").write_text(json.dumps(queries, ensure_ascii=False))
    checked = {number: generator.article(number) for number in range(0, max(SIZES), max(SIZES) // CHECKED)}
    del generator
    bounds = [(start, min(start + CHUNK, max(SIZES))) for start in range(0, max(SIZES), CHUNK)]
    chunks = []
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1, _init_worker, (pool,)) as workers:
        for done, chunk in enumerate(workers.imap(_generate_chunk, bounds), 1):
            chunks.append(chunk)
            if done % 4 == 0 or done == len(bounds):
                _log(f"  {done * CHUNK:,} articles ({time.perf_counter() - started:.0f} s)")
    counts = np.concatenate([c["counts"] for c in chunks])
    signatures = np.concatenate([c["signatures"] for c in chunks])
    terms = np.concatenate([c["terms"] for c in chunks])
    lengths = np.concatenate([c["lengths"] for c in chunks])
    facts = {"numbers": [n for c in chunks for n in c["numbers"]], "codes": [n for c in chunks for n in c["codes"]]}
    del chunks
    np.save(folder / "signatures.npy", signatures)
    np.save(folder / "terms.npy", terms)
    np.save(folder / "lengths.npy", lengths)
    np.save(folder / "sentence_counts.npy", counts)
    (folder / "facts.json").write_text(json.dumps(facts))
    sentence_starts = np.concatenate([[0], np.cumsum(counts)])
    term_starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    checks = []
    for number, sentences in checked.items():
        low, high = term_starts[sentence_starts[number]], term_starts[sentence_starts[number + 1]]
        checks.append({
            "article": number, "sentences": sentences, "signature": signatures[number].tobytes().hex(),
            "terms": sorted(set(terms[low:high].tolist())),
            "numbers": facts["numbers"][number], "codes": facts["codes"][number],
        })
    (folder / "check.json").write_text(json.dumps(checks, ensure_ascii=False))
    _log(cache_is_current(folder)[1])
    (folder / "done").write_text(f"{time.perf_counter() - started:.0f} s\n")
    _log(f"corpus generated in {time.perf_counter() - started:.0f} s")
    return folder


# --- measurement (one fresh process per size) ---------------------------------------------------


def _status(field: str) -> float:
    """VmRSS / VmHWM of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def stored_entries(folder: Path, size: int) -> Iterator:
    """The first `size` stored fingerprints as storage.repository.read_corpus streams them:
    CorpusEntry records, oldest first."""
    from newswatch.records import CorpusEntry

    counts = np.load(folder / "sentence_counts.npy")[:size]
    sentences = int(counts.sum())
    signatures = np.array(np.load(folder / "signatures.npy", mmap_mode="r")[:size])
    lengths = np.array(np.load(folder / "lengths.npy", mmap_mode="r")[:sentences])
    term_starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    terms = np.array(np.load(folder / "terms.npy", mmap_mode="r")[: int(term_starts[-1])])
    facts = json.loads((folder / "facts.json").read_text())
    sentence_starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
    term_starts = term_starts.tolist()
    for number in range(size):
        first, last = sentence_starts[number], sentence_starts[number + 1]
        yield (CorpusEntry(
            article_id=f"a{number:06d}", story_id=f"a{number:06d}",
            signature=signatures[number].tobytes(),
            sentence_terms=terms[term_starts[first] : term_starts[last]].tobytes(),
            sentence_lengths=lengths[first:last].tobytes(),
            number_keys=facts["numbers"][number], name_codes=facts["codes"][number],
        ))


def measure(size: int, profile: bool = False) -> dict[str, float]:
    from matching.normalise import default_lexicon
    from newswatch.config import NoveltyConfig
    from novelty.diff import diff_article
    from novelty.fingerprint import fingerprint_text
    from novelty.index import CorpusIndex

    folder = _cache_dir()
    default_lexicon()
    queries = json.loads((folder / f"queries-{size}.json").read_text())
    fingerprints = [(q["kind"], fingerprint_text(q["id"], q["text"])) for q in queries]
    rss_before = _status("VmRSS")

    entries = stored_entries(folder, size)  # what reading the corpus from storage returns
    started = time.perf_counter()
    index = CorpusIndex(entries)
    build_seconds = time.perf_counter() - started
    del entries
    rss_after_build = _status("VmRSS")

    config, decided_at = NoveltyConfig(), datetime.now(UTC)
    for _, fingerprint in fingerprints[:WARM_UP]:
        diff_article(fingerprint, index, config, topic_ids=["t1"], decided_at=decided_at)
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _, fingerprint in fingerprints:
            diff_article(fingerprint, index, config, topic_ids=["t1"], decided_at=decided_at)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    best = [float("inf")] * len(fingerprints)
    decisions: dict[str, dict[str, int]] = {}
    repeats, timing_started = REPEATS, time.perf_counter()
    for repeat in range(REPEATS):
        if repeat == 1 and time.perf_counter() - timing_started > SLOW_PASS_SECONDS:
            repeats = 1  # one pass is all a slow size gets (the bench must end)
            break
        for number, (kind, fingerprint) in enumerate(fingerprints):
            began = time.perf_counter()
            development = diff_article(fingerprint, index, config, topic_ids=["t1"], decided_at=decided_at)
            best[number] = min(best[number], time.perf_counter() - began)
            if repeat == 0:
                counts = decisions.setdefault(kind, {})
                counts[development.decision] = counts.get(development.decision, 0) + 1
    milliseconds = sorted(t * 1000 for t in best)
    return {
        "size": size,
        "sentences": index.sentence_count,
        "distinct_terms": len(index._terms),  # a private figure, for the report
        "query_sentences": statistics.mean(len(f.sentences) for _, f in fingerprints),
        "build_s": build_seconds,
        "p50_ms": statistics.median(milliseconds),
        "p95_ms": milliseconds[int(0.95 * (len(milliseconds) - 1))],
        "max_ms": milliseconds[-1],
        "rss_before_index_mb": rss_before,
        "rss_after_build_mb": rss_after_build,
        "peak_rss_mb": _status("VmHWM"),
        "decisions": decisions,
        "repeats": repeats,
    }


def _measure_in_subprocess(size: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "bench.novelty", "--measure", str(size)],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> dict[str, float]:
    ensure_cache()
    results: dict[str, float] = {}
    runs = {}
    for size in SIZES:
        run = runs[size] = _measure_in_subprocess(size)
        label = LABELS[size]
        _log(f"{size:>7,} articles ({run['sentences']:,} sentences, {run['distinct_terms']:,} terms): "
             f"diff p50 {run['p50_ms']:.2f} ms, p95 {run['p95_ms']:.2f} ms, max {run['max_ms']:.1f} ms; "
             f"index build {run['build_s']:.1f} s; RSS {run['rss_before_index_mb']:.0f} MB before the index, "
             f"{run['rss_after_build_mb']:.0f} MB after, peak {run['peak_rss_mb']:.0f} MB")
        _log(f"          decisions by query kind: {json.dumps(run['decisions'], sort_keys=True)}; "
             f"best of {run['repeats']} pass(es)")
        results[f"diff_p50_ms_{label}"] = round(run["p50_ms"], 3)
        results[f"diff_p95_ms_{label}"] = round(run["p95_ms"], 3)
        results[f"diff_index_build_s_{label}"] = round(run["build_s"], 2)
        results[f"diff_rss_after_build_mb_{label}"] = round(run["rss_after_build_mb"])
        results[f"diff_peak_rss_mb_{label}"] = round(run["peak_rss_mb"])
    results["diff_ratio_100k_vs_1k"] = round(runs[100_000]["p50_ms"] / runs[1_000]["p50_ms"], 2)
    results["diff_query_articles"] = QUERIES
    results["diff_query_sentences_mean"] = round(runs[100_000]["query_sentences"], 1)
    results["diff_corpus_sentences_100k"] = runs[100_000]["sentences"]
    print(json.dumps(results, indent=2, sort_keys=True))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", type=int, help="(internal) measure one corpus size, print JSON")
    parser.add_argument("--profile", type=int, help="cProfile the diffs at this corpus size")
    parser.add_argument("--save", action="store_true", help="merge the figures into bench/results/latest.json")
    args = parser.parse_args()
    if args.measure or args.profile:
        if args.profile:
            ensure_cache()
        print(json.dumps(measure(args.measure or args.profile, profile=bool(args.profile))))
    else:
        figures = main()
        if args.save:
            from bench.run import save

            save(figures)
