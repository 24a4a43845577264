"""The topic query language: Boolean queries over German news text.

    query   := or
    or      := and ( OR and )*
    and     := near ( [AND] near )*          adjacent terms without an operator are ANDed
    near    := unary ( NEAR/n unary )*
    unary   := NOT unary | primary
    primary := [ title: ] ( word | "phrase" | '(' or ')' )

Precedence, tightest first: NOT, NEAR/n, AND, OR. Operators are upper case (`AND OR NOT NEAR/n`,
German `UND ODER NICHT` too); lower-case `and`, `Not` are words. `*` at the end of a word is a
prefix wildcard. `title:` restricts a word, phrase or group to the headline. NEAR/n takes words,
phrases, OR-groups of them or other NEARs on both sides. See matching/TOPICS_DRAFT.md.

Errors are `QueryError` (a ValueError, so pydantic reports it as the field's message) with the
1-based character position and what was expected: `position 17: expected a word, phrase or '('
after 'AND'`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator

from matching.normalise import TOKEN_RE, split_word

Field = Literal["title"]
FIELDS: tuple[str, ...] = ("title",)
MAX_NEAR = 100
MIN_WILDCARD_PREFIX = 2
MAX_QUERY_LENGTH = 10_000
MAX_DEPTH = 100

_OPERATORS = {"AND": "AND", "UND": "AND", "OR": "OR", "ODER": "OR", "NOT": "NOT", "NICHT": "NOT"}
_QUOTES = {'"': '"', "\u201e": "\u201c\u201d\"", "\u201c": "\u201d\u201c\"", "\u201d": "\u201d\""}
_NEAR = re.compile(r"NEAR/(\d+)$")
_FIELD = re.compile(r"([A-Za-z]+):")
_SPECIAL = set("()") | set(_QUOTES)


class QueryError(ValueError):
    """A query that does not parse. `position` is 1-based; `expected` says what would fit."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"position {position}: {message}")
        self.position = position
        self.detail = message


# --- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """A word (`Sanktion`, `Gefangen*`), a hyphenated word (`US-Sanktionen`: words that must be
    adjacent) or a quoted phrase (`"politische Gefangene"`: adjacent whole words, no compounds)."""

    text: str  # as written in the query, quotes included
    words: tuple[str, ...]
    wildcards: tuple[bool, ...]  # per word: trailing `*`
    quoted: bool = False
    field: Field | None = None
    offset: int = 0  # 0-based offset in the query text

    @property
    def is_phrase(self) -> bool:
        return self.quoted or len(self.words) > 1


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Near:
    """`left NEAR/n right`: in either order, at most n word positions apart (neighbours are 1
    apart), within the same field."""

    left: Node
    right: Node
    distance: int


Node = Term | And | Or | Not | Near


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    root: Node
    terms: tuple[Term, ...] = field(default=())

    def __str__(self) -> str:
        return to_text(self.root)


def iter_terms(node: Node) -> Iterator[Term]:
    if isinstance(node, Term):
        yield node
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from iter_terms(child)
    elif isinstance(node, Not):
        yield from iter_terms(node.child)
    else:
        yield from iter_terms(node.left)
        yield from iter_terms(node.right)


def to_text(node: Node) -> str:
    """A canonical, fully parenthesised rendering that parses back to the same tree."""
    if isinstance(node, Term):
        return (f"{node.field}:" if node.field else "") + node.text  # as written: `AND-` stays a word
    if isinstance(node, And):
        return "(" + " AND ".join(to_text(c) for c in node.children) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(to_text(c) for c in node.children) + ")"
    if isinstance(node, Not):
        return "(NOT " + to_text(node.child) + ")"
    return f"({to_text(node.left)} NEAR/{node.distance} {to_text(node.right)})"


# --- lexer ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(", ")", AND, OR, NOT, NEAR, FIELD, TERM, PHRASE, EOF
    text: str
    offset: int
    value: int | str | None = None


def _lex(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Tok(char, char, i))
            i += 1
        elif char in _QUOTES:
            closers = _QUOTES[char]
            end = i + 1
            while end < n and text[end] not in closers:
                end += 1
            if end >= n:
                raise QueryError(i + 1, f"expected a closing quote for the phrase started here")
            tokens.append(_Tok("PHRASE", text[i : end + 1], i, text[i + 1 : end]))
            i = end + 1
        else:
            end = i
            while end < n and not text[end].isspace() and text[end] not in _SPECIAL:
                end += 1
            word = text[i:end]
            field_match = _FIELD.match(word)
            if field_match:
                name = field_match.group(1)
                if name.lower() not in FIELDS:
                    raise QueryError(i + 1, f"unknown field '{name}:' (the only field is 'title:')")
                tokens.append(_Tok("FIELD", word[: field_match.end()], i, name.lower()))
                i += field_match.end()
                continue
            if word in _OPERATORS:
                tokens.append(_Tok(_OPERATORS[word], word, i))
            elif word.startswith("NEAR"):
                near = _NEAR.match(word)
                if not near:
                    raise QueryError(i + 1, f"expected NEAR/n with a number n (1 to {MAX_NEAR}), not '{word}'")
                distance = int(near.group(1))
                if not 1 <= distance <= MAX_NEAR:
                    raise QueryError(i + 1, f"NEAR/n needs n between 1 and {MAX_NEAR}, not {distance}")
                tokens.append(_Tok("NEAR", word, i, distance))
            else:
                tokens.append(_Tok("TERM", word, i, word))
            i = end
    tokens.append(_Tok("EOF", "", n))
    return tokens


# --- parser ---------------------------------------------------------------------------------------


def _describe(tok: _Tok | None) -> str:
    if tok is None:
        return "at the start"
    if tok.kind == "FIELD":
        return f"after '{tok.text}'"
    return f"after '{tok.text}'"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.index = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.index]

    @property
    def previous(self) -> _Tok | None:
        return self.tokens[self.index - 1] if self.index else None

    def advance(self) -> _Tok:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def parse(self) -> Node:
        if self.tok.kind == "EOF":
            raise QueryError(1, "the query is empty")
        node = self.parse_or()
        if self.tok.kind == ")":
            raise QueryError(self.tok.offset + 1, "unexpected ')' (no '(' to close)")
        if self.tok.kind != "EOF":  # pragma: no cover - every other token starts an operand
            raise QueryError(self.tok.offset + 1, f"unexpected '{self.tok.text}'")
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.tok.kind == "OR":
            self.advance()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while True:
            if self.tok.kind == "AND":
                self.advance()
            elif self.tok.kind not in ("TERM", "PHRASE", "(", "NOT", "FIELD"):
                break
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self) -> Node:
        start = self.tok
        left = self.parse_unary()
        while self.tok.kind == "NEAR":
            operator = self.advance()
            self._check_positional(left, start, operator)
            right_start = self.tok
            right = self.parse_unary()
            self._check_positional(right, right_start, operator)
            left = Near(left, right, int(operator.value))  # type: ignore[arg-type]
        return left

    def _check_positional(self, node: Node, start: _Tok, operator: _Tok) -> None:
        if not _positional(node):
            raise QueryError(
                start.offset + 1,
                f"'{operator.text}' needs a word, phrase or OR-group of them on each side "
                "(no NOT or AND inside NEAR)",
            )

    def parse_unary(self) -> Node:
        if self.tok.kind == "NOT":
            self.advance()
            return Not(self.parse_unary())
        return self.parse_primary(None)

    def parse_primary(self, scope: Field | None) -> Node:
        tok = self.tok
        if tok.kind == "FIELD":
            self.advance()
            if self.tok.kind not in ("TERM", "PHRASE", "("):
                raise QueryError(self.tok.offset + 1, f"expected a word, phrase or '(' after '{tok.text}'")
            return self.parse_primary(tok.value)  # type: ignore[arg-type]
        if tok.kind == "(":
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(tok.offset + 1, f"more than {MAX_DEPTH} nested parentheses")
            if self.tok.kind == ")":
                raise QueryError(self.tok.offset + 1, "expected a word, phrase or '(' after '(' (empty parentheses)")
            inner = self.parse_or()
            if self.tok.kind != ")":
                raise QueryError(
                    self.tok.offset + 1,
                    f"expected ')' to close the '(' at position {tok.offset + 1}, "
                    f"or an operator, {_describe(self.previous)}",
                )
            self.advance()
            self.depth -= 1
            return _scoped(inner, scope) if scope else inner
        if tok.kind == "TERM":
            self.advance()
            return _term(tok, scope)
        if tok.kind == "PHRASE":
            self.advance()
            return _phrase(tok, scope)
        if tok.kind == ")":
            raise QueryError(tok.offset + 1, f"expected a word, phrase or '(' {_describe(self.previous)}, not ')'")
        if tok.kind == "EOF":
            raise QueryError(tok.offset + 1, f"expected a word, phrase or '(' {_describe(self.previous)}")
        raise QueryError(tok.offset + 1, f"expected a word, phrase or '(' {_describe(self.previous)}, not '{tok.text}'")


def _positional(node: Node) -> bool:
    if isinstance(node, Term):
        return True
    if isinstance(node, Or):
        return all(_positional(c) for c in node.children)
    return isinstance(node, Near)


def _scoped(node: Node, scope: Field) -> Node:
    if isinstance(node, Term):
        return Term(node.text, node.words, node.wildcards, node.quoted, scope, node.offset)
    if isinstance(node, And):
        return And(tuple(_scoped(c, scope) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(_scoped(c, scope) for c in node.children))
    if isinstance(node, Not):
        return Not(_scoped(node.child, scope))
    return Near(_scoped(node.left, scope), _scoped(node.right, scope), node.distance)


def _words(raw: str, offset: int, *, quoted: bool) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """Words of a term or phrase with their wildcard flags; raises on misplaced `*`."""
    words: list[str] = []
    wildcards: list[bool] = []
    for chunk_match in re.finditer(r"\S+", raw):
        chunk = chunk_match.group()
        chunk_offset = offset + chunk_match.start()
        star = chunk.find("*")
        wildcard = star != -1
        if wildcard and star != len(chunk) - 1:
            raise QueryError(chunk_offset + star + 1, "'*' is only allowed at the end of a word")
        body = chunk[:-1] if wildcard else chunk
        found = [(m.group(), m.start()) for m in TOKEN_RE.finditer(body)]
        if not found:
            if not quoted:
                if chunk[:1] in "-+!":
                    raise QueryError(chunk_offset + 1, f"use NOT to exclude a word, not '{chunk[:1]}'")
                raise QueryError(chunk_offset + 1, f"expected a word, not '{chunk}'")
            if wildcard:
                raise QueryError(chunk_offset + star + 1, "'*' must follow a word")
            continue
        if not quoted and chunk[:1] in "-+!" and found[0][1] > 0:
            raise QueryError(chunk_offset + 1, f"use NOT to exclude a word, not '{chunk[:1]}'")
        parts: list[str] = []
        for surface, _ in found:
            parts.extend(part for part, _, _ in split_word(surface) if part)
        if wildcard and (found[-1][1] + len(found[-1][0]) != len(body)):
            raise QueryError(chunk_offset + star + 1, "'*' must directly follow a word")
        if wildcard and len(parts[-1]) < MIN_WILDCARD_PREFIX:
            raise QueryError(
                chunk_offset + 1,
                f"a wildcard needs at least {MIN_WILDCARD_PREFIX} letters before '*' ('{chunk}')",
            )
        words.extend(parts)
        wildcards.extend([False] * (len(parts) - 1) + [wildcard])
    return tuple(words), tuple(wildcards)


def _term(tok: _Tok, scope: Field | None) -> Term:
    words, wildcards = _words(tok.text, tok.offset, quoted=False)
    return Term(tok.text, words, wildcards, False, scope, tok.offset)


def _phrase(tok: _Tok, scope: Field | None) -> Term:
    words, wildcards = _words(str(tok.value), tok.offset + 1, quoted=True)
    if not words:
        raise QueryError(tok.offset + 1, "expected at least one word inside the quotes")
    return Term(tok.text, words, wildcards, True, scope, tok.offset)


def parse_query(text: str) -> Query:
    """Parse a topic query; raises QueryError (position and what was expected) if it does not
    parse."""
    if not isinstance(text, str):
        raise QueryError(1, "the query must be a string")
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(MAX_QUERY_LENGTH + 1, f"the query is longer than {MAX_QUERY_LENGTH} characters")
    root = _Parser(text).parse()
    return Query(text, root, tuple(iter_terms(root)))


def validate_query(value: str) -> str:
    """Pydantic validator: `Annotated[str, AfterValidator(validate_query)]`; the error message is
    `position N: ...`, so config loading reports `topics[2].query: position N: ...`."""
    parse_query(value)
    return value


def validate_aliases(aliases: dict[str, list[str]]) -> dict[str, list[str]]:
    """Pydantic validator for TopicConfig.aliases: every key and variant must contain a word."""
    for key, variants in aliases.items():
        for value in (key, *variants):
            if not TOKEN_RE.search(value):
                raise ValueError(f"alias {value!r} (of {key!r}) contains no word")
    return aliases


QueryText = Annotated[str, AfterValidator(validate_query)]
