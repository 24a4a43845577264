"""Match articles against all topics in one pass over the article's words.

`TopicMatcher(topics)` compiles every topic's query into one index:

- each distinct query word becomes a *pattern* (a stem, or a folded prefix for `word*`; whole-word
  only inside phrases, compound-capable for bare words), shared by all topics that use it;
- postings map each pattern to the topics that use it;
- a per-matcher cache maps each surface word seen so far (`Sanktionserleichterungen`) to the
  patterns it matches and how (same stem, prefix, compound component), so a word is analysed once,
  not once per article and never once per topic.

`match(title, text)` walks the words of the title and the text once, collects the pattern hits
with their word positions and character offsets, and then evaluates the Boolean tree only of the
topics that have a hit (plus the few whose query is true on an empty article, e.g. `NOT Sport`).
The cost per article is therefore one tokenisation plus work proportional to the hits, nearly
independent of the number of topics.

Every match explains itself: the query terms that matched, the surface form, the field, the
character offsets and the rule (`word`, `prefix`, `compound`, `alias`, `phrase`), plus short
snippets around the matched words, ready for the `matches` table and for alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import accumulate, compress, count, repeat
from operator import is_not
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

from matching.normalise import (
    MIN_COMPONENT,
    TOKEN_RE,
    Decomposer,
    default_decomposer,
    fold,
    split_word,
    stem,
    word_keys,
)
from matching.query import And, Near, Node, Not, Or, Query, Term, parse_query

FieldName = Literal["title", "text"]
Rule = Literal["word", "prefix", "compound", "alias", "phrase"]
SNIPPET_CHARS = 160
MAX_SNIPPETS = 3
MAX_TERMS = 50
MIN_COMPOUND_PREFIX = 4  # `Sank*` is looked for inside compounds only from 4 letters on
_WORD_CACHE_LIMIT = 300_000
_SPLIT_RE = re.compile(f"({TOKEN_RE.pattern})")
_PLAIN: tuple[int, tuple[tuple[int, str, int, int, int], ...]] = (1, ())  # a word without hits


class TopicLike(Protocol):
    """What the matcher needs of newswatch.config.TopicConfig."""

    @property
    def id(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def aliases(self) -> dict[str, list[str]]: ...


@dataclass(slots=True)
class MatchedTerm:
    """One occurrence of a query term in an article."""

    term: str  # the query term as written: `Sanktion*`, `"politische Gefangene"`
    surface: str  # what the article says: `Sanktionserleichterungen`
    field: FieldName
    start: int  # character offsets in the title or the text
    end: int
    rule: Rule  # how it matched: word (same stem), prefix, compound, alias, phrase

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(slots=True)
class Match:
    """A topic that matched an article, with its explanation."""

    topic_id: str
    terms: list[MatchedTerm] = field(default_factory=list)
    snippets: list[str] = field(default_factory=list)

    @property
    def term_list(self) -> list[str]:
        """The distinct query terms that matched, in order of first occurrence."""
        return list(dict.fromkeys(t.term for t in self.terms))


# An occurrence: (field, first position, last position, char start, char end, rule)
_Occ = tuple[str, int, int, int, int, str]


@dataclass(frozen=True, slots=True)
class _Pattern:
    kind: Literal["stem", "prefix"]
    key: str
    compound: bool  # may match a component of a compound word


@dataclass(slots=True)
class _Leaf:
    term: Term
    alternatives: list[tuple[tuple[int, ...], bool]]  # (pattern ids in sequence, via alias)
    field: str | None


@dataclass(slots=True)
class _Topic:
    index: int
    id: str
    query: Query
    root: object  # compiled tree of tuples
    # Necessary conditions: for each set, at least one of its patterns must occur (from the ANDed
    # parts of the query), checked with set operations before the tree is evaluated.
    clauses: list[frozenset[int]] = field(default_factory=list)


class TopicMatcher:
    """All topics compiled into one index; `match` is one pass over an article's words."""

    def __init__(
        self, topics: Sequence[TopicLike], *, decomposer: Decomposer | None = None
    ) -> None:
        self.decomposer = decomposer or default_decomposer()
        self._patterns: list[_Pattern] = []
        self._pattern_ids: dict[_Pattern, int] = {}
        self._stem_index: dict[str, list[int]] = {}
        self._prefix_index: dict[str, list[int]] = {}
        self._compound_stems: dict[str, list[int]] = {}
        self._compound_prefixes: dict[str, list[int]] = {}
        self._postings: dict[int, set[int]] = {}
        self._topics: list[_Topic] = []
        self._always: list[int] = []
        self._word_cache: dict[str, tuple[int, tuple[tuple[int, str, int, int, int], ...]]] = {}
        for index, topic in enumerate(topics):
            query = parse_query(topic.query)
            aliases = _alias_groups(topic.aliases or {})
            compiled = self._compile(query.root, aliases, index)
            entry = _Topic(index, topic.id, query, compiled, _clauses(compiled))
            self._topics.append(entry)
            if _evaluate(compiled, {}) is not None:
                self._always.append(index)
        self._prefix_lengths = sorted({len(k) for k in self._prefix_index})
        # compound-capable stems and prefixes by their first three letters, so finding them
        # inside a word is one dict lookup per letter of the word
        self._inner: dict[str, list[tuple[str, bool]]] = {}
        for key in self._compound_stems:
            self._inner.setdefault(key[:MIN_COMPONENT], []).append((key, False))
        for key in self._compound_prefixes:
            self._inner.setdefault(key[:MIN_COMPONENT], []).append((key, True))

    @property
    def topic_ids(self) -> list[str]:
        return [t.id for t in self._topics]

    @property
    def pattern_count(self) -> int:
        return len(self._patterns)

    # --- compilation --------------------------------------------------------------------------

    def _pattern(self, pattern: _Pattern, topic: int) -> int:
        pid = self._pattern_ids.get(pattern)
        if pid is None:
            pid = len(self._patterns)
            self._patterns.append(pattern)
            self._pattern_ids[pattern] = pid
            if pattern.kind == "stem":
                self._stem_index.setdefault(pattern.key, []).append(pid)
                if pattern.compound and len(pattern.key) >= MIN_COMPONENT and pattern.key.isalpha():
                    self._compound_stems.setdefault(pattern.key, []).append(pid)
            else:
                self._prefix_index.setdefault(pattern.key, []).append(pid)
                if pattern.compound and len(pattern.key) >= MIN_COMPOUND_PREFIX:
                    self._compound_prefixes.setdefault(pattern.key, []).append(pid)
        self._postings.setdefault(pid, set()).add(topic)
        return pid

    def _word_pattern(self, word: str, wildcard: bool, compound: bool, topic: int) -> int:
        folded = fold(word)
        if wildcard:
            return self._pattern(_Pattern("prefix", folded, compound), topic)
        return self._pattern(_Pattern("stem", stem(folded), compound), topic)

    def _compile(self, node: Node, aliases: list[list[tuple[str, ...]]], topic: int) -> object:
        if isinstance(node, Term):
            return ("leaf", self._compile_leaf(node, aliases, topic))
        if isinstance(node, And):
            return ("and", tuple(self._compile(c, aliases, topic) for c in node.children))
        if isinstance(node, Or):
            return ("or", tuple(self._compile(c, aliases, topic) for c in node.children))
        if isinstance(node, Not):
            return ("not", self._compile(node.child, aliases, topic))
        assert isinstance(node, Near)
        return (
            "near",
            self._compile(node.left, aliases, topic),
            self._compile(node.right, aliases, topic),
            node.distance,
        )

    def _compile_leaf(self, term: Term, aliases: list[list[tuple[str, ...]]], topic: int) -> _Leaf:
        alternatives: list[tuple[tuple[int, ...], bool]] = []
        if term.is_phrase:
            pids = tuple(
                self._word_pattern(w, s, False, topic) for w, s in zip(term.words, term.wildcards)
            )
            alternatives.append((pids, False))
        else:
            word, wildcard = term.words[0], term.wildcards[0]
            alternatives.append(((self._word_pattern(word, wildcard, True, topic),), False))
            if not wildcard:
                key = stem(fold(word))
                for group in aliases:
                    if any(len(m) == 1 and stem(fold(m[0])) == key for m in group):
                        for member in group:
                            if len(member) == 1:
                                pids = (self._word_pattern(member[0], False, True, topic),)
                            else:
                                pids = tuple(
                                    self._word_pattern(w, False, False, topic) for w in member
                                )
                            if pids != alternatives[0][0]:
                                alternatives.append((pids, True))
        return _Leaf(term, alternatives, term.field)

    # --- word analysis --------------------------------------------------------------------------

    def _analyse(self, surface: str) -> tuple[int, tuple[tuple[int, str, int, int, int], ...]]:
        """(positions the word occupies, hits as (pattern id, rule, start, end, position delta))."""
        parts = split_word(surface)
        hits: list[tuple[int, str, int, int, int]] = []
        seen: set[tuple[int, int]] = set()
        for delta, (part, start, end) in enumerate(parts):
            for pid, rule in self._analyse_part(part):
                if (pid, delta) not in seen:
                    seen.add((pid, delta))
                    hits.append((pid, rule, start, end, delta))
        if len(parts) > 1:  # the joined form: `Sonder-Gesandter` is `Sondergesandter` too
            for pid, rule in self._analyse_part(surface):
                if (pid, 0) not in seen and not any(h[0] == pid for h in hits):
                    seen.add((pid, 0))
                    hits.append((pid, rule, 0, len(surface), 0))
        if len(parts) == 1 and not hits:
            return _PLAIN
        return len(parts), tuple(hits)

    def _analyse_part(self, surface: str) -> list[tuple[int, str]]:
        folded = fold(surface)
        if not folded:
            return []
        found: dict[int, str] = {}
        for key in word_keys(folded):
            for pid in self._stem_index.get(key, ()):
                found.setdefault(pid, "word")
        length = len(folded)
        for size in self._prefix_lengths:
            if size > length:
                break
            for pid in self._prefix_index.get(folded[:size], ()):
                found.setdefault(pid, "prefix")
        if length > MIN_COMPONENT and folded.isalpha():
            inner = self._inner
            lower_case = surface[:1].islower()
            for i in range(length - MIN_COMPONENT + 1):
                entries = inner.get(folded[i : i + MIN_COMPONENT])
                if not entries:
                    continue
                for key, is_prefix in entries:
                    if len(key) >= length or not folded.startswith(key, i):
                        continue
                    if is_prefix:
                        pids = self._compound_prefixes[key]
                        if i == 0 or all(pid in found for pid in pids):
                            continue
                        ok = self.decomposer.is_modifier(folded[:i])
                    else:
                        pids = self._compound_stems[key]
                        if all(pid in found for pid in pids):
                            continue
                        ok = self.decomposer.component_at(folded, key, i, lower_case=lower_case)
                    if ok:
                        for pid in pids:
                            found.setdefault(pid, "compound")
        return list(found.items())

    def _scan(self, text: str, field_name: str, occurrences: dict[int, list[_Occ]]) -> None:
        # One regex split gives separators and words alternately; the words are looked up in the
        # word cache with map() and only the words with hits (or hyphens) reach Python code, so
        # the cost per word is a few C-level operations.
        pieces = _SPLIT_RE.split(text)
        words = pieces[1::2]
        cache = self._word_cache
        infos = list(map(cache.get, words))
        if None in infos:
            if len(cache) + len(words) > _WORD_CACHE_LIMIT:
                cache.clear()
            for index, info in enumerate(infos):
                if info is None:
                    surface = words[index]
                    info = cache.get(surface)
                    if info is None:
                        info = cache[surface] = self._analyse(surface)
                    infos[index] = info
        special = list(compress(count(), map(is_not, infos, repeat(_PLAIN))))
        if not special:
            return
        ends = list(accumulate(map(len, pieces)))
        extra = 0  # positions taken by the parts of hyphenated words before this word
        for index in special:
            width, hits = infos[index]
            if hits:
                base = ends[2 * index]
                position = index + extra
                for pid, rule, start, end, delta in hits:
                    entry = (field_name, position + delta, position + delta, base + start, base + end, rule)
                    bucket = occurrences.get(pid)
                    if bucket is None:
                        occurrences[pid] = [entry]
                    else:
                        bucket.append(entry)
            extra += width - 1

    # --- matching ------------------------------------------------------------------------------

    def match(self, title: str | None, text: str | None) -> list[Match]:
        """The topics this article matches, each with the terms that matched and snippets."""
        title = title or ""
        text = text or ""
        occurrences: dict[int, list[_Occ]] = {}
        if title:
            self._scan(title, "title", occurrences)
        if text:
            self._scan(text, "text", occurrences)
        candidates: set[int] = set(self._always)
        postings = self._postings
        for pid in occurrences:
            candidates.update(postings[pid])
        present = set(occurrences)
        matches: list[Match] = []
        for index in sorted(candidates):
            topic = self._topics[index]
            if any(clause.isdisjoint(present) for clause in topic.clauses):
                continue
            evidence = _evaluate(topic.root, occurrences)
            if evidence is None:
                continue
            matches.append(_explain(topic.id, evidence, title, text))
        return matches


# --- evaluation -------------------------------------------------------------------------------------

def _clauses(node: object) -> list[frozenset[int]]:
    """Necessary conditions of a compiled tree as sets of pattern ids, one of which must occur."""
    kind = node[0]  # type: ignore[index]
    if kind == "leaf":
        return [frozenset(pids[0] for pids, _ in node[1].alternatives)]  # type: ignore[index]
    if kind == "and":
        return [c for child in node[1] for c in _clauses(child)]  # type: ignore[index]
    if kind == "near":
        return _clauses(node[1]) + _clauses(node[2])  # type: ignore[index]
    if kind == "or":
        union: set[int] = set()
        for child in node[1]:  # type: ignore[index]
            child_clauses = _clauses(child)
            if not child_clauses:
                return []
            union |= min(child_clauses, key=len)
        return [frozenset(union)]
    return []  # not: no positive condition


# Evidence: (term text, field, first position, last position, char start, char end, rule)
_Evidence = tuple[str, str, int, int, int, int, str]


def _leaf_occurrences(leaf: _Leaf, occurrences: dict[int, list[_Occ]]) -> list[_Evidence]:
    found: list[_Evidence] = []
    text = leaf.term.text
    wanted = leaf.field
    for pids, via_alias in leaf.alternatives:
        first = occurrences.get(pids[0])
        if not first:
            continue
        if len(pids) == 1:
            for f, p0, p1, c0, c1, rule in first:
                if wanted is None or f == wanted:
                    found.append((text, f, p0, p1, c0, c1, "alias" if via_alias else rule))
            continue
        following = []
        for pid in pids[1:]:
            bucket = occurrences.get(pid)
            if not bucket:
                break
            following.append({(o[0], o[1]): o for o in bucket})
        else:
            for f, p0, _, c0, _, _ in first:
                if wanted is not None and f != wanted:
                    continue
                last = None
                for offset, table in enumerate(following, start=1):
                    last = table.get((f, p0 + offset))
                    if last is None:
                        break
                if last is not None:
                    found.append((text, f, p0, last[2], c0, last[4], "alias" if via_alias else "phrase"))
    return found


def _evaluate(node: object, occurrences: dict[int, list[_Occ]]) -> list[_Evidence] | None:
    """None if the node is false, else the evidence (possibly empty, e.g. for NOT)."""
    kind = node[0]  # type: ignore[index]
    if kind == "leaf":
        found = _leaf_occurrences(node[1], occurrences)  # type: ignore[index]
        return found or None
    if kind == "and":
        evidence: list[_Evidence] = []
        for child in node[1]:  # type: ignore[index]
            result = _evaluate(child, occurrences)
            if result is None:
                return None
            evidence.extend(result)
        return evidence
    if kind == "or":
        evidence = []
        matched = False
        for child in node[1]:  # type: ignore[index]
            result = _evaluate(child, occurrences)
            if result is not None:
                matched = True
                evidence.extend(result)
        return evidence if matched else None
    if kind == "not":
        return None if _evaluate(node[1], occurrences) is not None else []  # type: ignore[index]
    # near
    left = _evaluate(node[1], occurrences)  # type: ignore[index]
    if left is None:
        return None
    right = _evaluate(node[2], occurrences)  # type: ignore[index]
    if right is None:
        return None
    distance = node[3]  # type: ignore[index]
    used_left: dict[tuple[int, str, int], _Evidence] = {}
    used_right: dict[tuple[int, str, int], _Evidence] = {}
    for a in left:
        for b in right:
            if a[1] != b[1] or (a[2] == b[2] and a[3] == b[3] and a[4] == b[4]):
                continue
            gap = max(b[2] - a[3], a[2] - b[3])
            if gap <= distance:
                used_left[(a[4], a[1], a[5])] = a
                used_right[(b[4], b[1], b[5])] = b
    if not used_left:
        return None
    return list(used_left.values()) + list(used_right.values())


# --- explanations -------------------------------------------------------------------------------------


def _explain(topic_id: str, evidence: list[_Evidence], title: str, text: str) -> Match:
    seen: set[tuple[str, str, int, int]] = set()
    terms: list[MatchedTerm] = []
    for term, f, _, _, c0, c1, rule in sorted(evidence, key=lambda e: (e[1] != "title", e[4], e[0])):
        key = (term, f, c0, c1)
        if key in seen:
            continue
        seen.add(key)
        source = title if f == "title" else text
        terms.append(MatchedTerm(term, source[c0:c1], f, c0, c1, rule))  # type: ignore[arg-type]
    snippets = make_snippets(title, text, terms)
    return Match(topic_id, terms[:MAX_TERMS], snippets)


def make_snippets(
    title: str, text: str, terms: Iterable[MatchedTerm], *, width: int = SNIPPET_CHARS,
    limit: int = MAX_SNIPPETS,
) -> list[str]:
    """Up to `limit` context windows of about `width` characters around matched words in the
    text (the title when only the title matched), cut at word boundaries, `…` where cut."""
    spans = sorted((t.start, t.end) for t in terms if t.field == "text")
    if not spans:
        if any(t.field == "title" for t in terms):
            return [_window(title, 0, len(title), width)] if title else []
        return []
    windows: list[tuple[int, int]] = []
    for start, end in spans:
        if windows and start < windows[-1][1]:
            continue  # already inside the previous window
        centre = (start + end) // 2
        lo = max(0, min(centre - width // 2, len(text) - width))
        hi = min(len(text), lo + width)
        lo = min(lo, start)
        hi = max(hi, end)
        windows.append((lo, hi))
        if len(windows) >= limit:
            break
    return [_window(text, lo, hi, width) for lo, hi in windows]


def _window(source: str, lo: int, hi: int, width: int) -> str:
    if hi - lo > width + 40:
        hi = lo + width
    if lo > 0:
        space = source.find(" ", lo, min(hi, lo + 25))
        lo = space + 1 if space != -1 else lo
    if hi < len(source):
        space = source.rfind(" ", max(lo, hi - 25), hi)
        hi = space if space != -1 else hi
    snippet = " ".join(source[lo:hi].split())
    return ("…" if lo > 0 else "") + snippet + ("…" if hi < len(source) else "")


def _alias_groups(aliases: dict[str, list[str]]) -> list[list[tuple[str, ...]]]:
    """Each alias entry as a group of members, each member as its words."""
    groups = []
    for key, variants in aliases.items():
        members = []
        for value in (key, *variants):
            words = tuple(
                part
                for surface, _, _ in (
                    (m.group(), m.start(), m.end()) for m in TOKEN_RE.finditer(value)
                )
                for part, _, _ in split_word(surface)
                if part
            )
            if words:
                members.append(words)
        groups.append(members)
    return groups


@dataclass(frozen=True, slots=True)
class AdHocTopic:
    """A topic built from a query on the command line (`newswatch topics match --query Q`)."""

    query: str
    id: str = "query"
    aliases: dict[str, list[str]] = field(default_factory=dict)


def match_query(
    query: str, title: str | None, text: str | None, aliases: dict[str, list[str]] | None = None
) -> Match | None:
    """Match one query against one article (tuning, the CLI); None when it does not match."""
    matches = TopicMatcher([AdHocTopic(query, aliases=aliases or {})]).match(title, text)
    return matches[0] if matches else None
