"""Pure vote parsing: a survey completion's text → `ParsedVote`.

The survey prompts (the paper's Figures 1–2) ask for JSON such as
`{"post-debate stance": "closed source", "reason": "…"}`, but models wrap it as they like: code
fences, prose around it, curly or single quotes, trailing commas, key and value variants. The
parser reads, in order:

1. every JSON object in the text (balanced braces, skipping braces inside strings; fenced blocks
   need no special case because their objects are found the same way), strictly with orjson, or
   else after a lenient repair;
2. from each object, the first key whose name contains "stance", and its "reason";
3. when no complete object states a valid stance, a quoted `"…stance…": "…"` pair anywhere in the
   text (a reply cut off by max_tokens); its reason is dropped, since a cut reason is not the
   reason the model would have given.

A stance is never inferred from free prose: "I lean toward open source" is unparseable.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import orjson

from .records import CLOSED, OPEN, ParsedVote

OK = "ok"
RECOVERED = "recovered"
AMBIGUOUS = "ambiguous"
UNPARSEABLE = "unparseable"

_DOUBLE_QUOTES = '"“”„‟'
_SINGLE_QUOTES = "'‘’‚‛"
_QUOTES = _DOUBLE_QUOTES + _SINGLE_QUOTES
# A string can only open where JSON allows a value or key, and close where JSON allows what follows
# one; this tells an apostrophe ("it's") or an inner quote from a delimiter.
_OPENS_AFTER = "{[:,"
_CLOSES_BEFORE = re.compile(r"\s*(?:[:,}\]]|\Z)")
_MAX_DEPTH = 4
_TRAILING_COMMA = re.compile(r"\s*[}\]]")
_JSON_ESCAPES = frozenset('"\\/bfnrtu')
_RAW_ESCAPES = {'"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}

_FOLD = re.compile(r"[\s_-]+")
_VALUE_EDGES = " .!?,;:*`\"'“”‘’()[]"
_STANCE_VALUE = re.compile(
    r"(?P<side>open|closed|close(?= ?source))(?: ?sourced?)?(?: (?:ai|models?|development|approach))?"
)
_STATED_STANCE = re.compile(
    rf"[{_QUOTES}]([^{_QUOTES}{{}}\n:]*stance[^{_QUOTES}{{}}\n:]*)[{_QUOTES}]"
    rf"\s*:\s*[{_QUOTES}]([^{_QUOTES}{{}}\n]{{1,60}})[{_QUOTES}]",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Answer:
    """What one object states: its normalised stance (None if not a valid one) and its reason."""

    stance: str | None
    reason: str | None


@functools.lru_cache(maxsize=4096)
def normalize_stance(value: str) -> str | None:
    """"Open-Source AI", "closed source.", "CLOSED SOURCE" → OPEN/CLOSED; anything else → None.

    Hedged or mixed values ("both", "open and closed source") are None: they name no side.
    """
    match = _STANCE_VALUE.fullmatch(_FOLD.sub(" ", value.lower()).strip(_VALUE_EDGES))
    if match is None:
        return None
    return OPEN if match.group("side") == "open" else CLOSED


def parse_vote(text: str) -> ParsedVote:
    """Read the stance a survey reply states; see the module docstring for the order of attempts."""
    if not text or not text.strip():
        return ParsedVote(None, UNPARSEABLE)
    quick = _single_object_answer(text)
    if quick is not None:
        return quick
    answers = [a for a in map(_answer_from, _find_objects(text)) if a is not None]
    decided = _decide(answers)
    return decided if decided is not None else _recover(text)


def _single_object_answer(text: str) -> ParsedVote | None:
    """The common case in one orjson call: everything from the first "{" to the last "}" is one
    valid object stating a valid stance (bare, fenced or with prose around it). Then it is the only
    object in the text, and the full scan would find the same answer; otherwise None."""
    first, last = text.find("{"), text.rfind("}")
    if first < 0 or last < first:
        return None
    try:
        obj = orjson.loads(text[first:last + 1])
    except orjson.JSONDecodeError:
        return None
    answer = _answer_from(obj) if isinstance(obj, dict) else None
    if answer is None or answer.stance is None:
        return None
    return ParsedVote(answer.stance, OK, answer.reason)


def _decide(answers: list[_Answer]) -> ParsedVote | None:
    """The vote complete objects give, or None when none states a valid stance.

    When objects conflict, those carrying a reason win: the prompt's own examples have no reason,
    so a reply that echoes them and then answers is still one answer.
    """
    valid = [a for a in answers if a.stance is not None]
    if not valid:
        return None
    if len({a.stance for a in valid}) > 1:
        valid = [a for a in valid if a.reason]
        if not valid or len({a.stance for a in valid}) > 1:
            return ParsedVote(None, AMBIGUOUS)
    reason = next((a.reason for a in valid if a.reason), None)
    return ParsedVote(valid[0].stance, OK, reason)


def _recover(text: str) -> ParsedVote:
    """A stance from quoted `"…stance…": "…"` pairs, for replies whose JSON never closed."""
    stances = {normalize_stance(value) for _, value in _STATED_STANCE.findall(text)} - {None}
    if not stances:
        return ParsedVote(None, UNPARSEABLE)
    if len(stances) > 1:
        return ParsedVote(None, AMBIGUOUS)
    return ParsedVote(stances.pop(), RECOVERED)


def _answer_from(obj: dict) -> _Answer | None:
    """The stance an object (or an object nested in it) states; None when it has no stance key."""
    for key, value in obj.items():
        name = _fold_key(key)
        if "stance" in name and "reason" not in name:
            stance = normalize_stance(value) if isinstance(value, str) else None
            return _Answer(stance, _reason_in(obj))
    for value in obj.values():
        if isinstance(value, dict) and (nested := _answer_from(value)) is not None:
            return nested
    return None


def _reason_in(obj: dict) -> str | None:
    """The value of the first key naming a reason ("reason", "Reason", "reasoning"), if text."""
    for key, value in obj.items():
        if "reason" in _fold_key(key) and isinstance(value, str) and value.strip():
            return value.strip()
    return None


@functools.lru_cache(maxsize=1024)
def _fold_key(key: str) -> str:
    """"Post-debate stance", "post_debate_stance" → "post debate stance"."""
    return _FOLD.sub(" ", key.lower()).strip()


def _find_objects(text: str) -> list[dict]:
    """Every outermost JSON object in the text that loads, in order.

    When a span does not load, the spans inside it are tried, so an object nested in non-JSON (or
    after a stray "{" in prose) is still found.
    """
    objects: list[dict] = []
    covered = 0
    for start, end in _brace_spans(text):
        if start >= covered and (obj := _load(text[start:end])) is not None:
            objects.append(obj)
            covered = end
    return objects


def _brace_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of balanced `{…}` spans, braces inside strings skipped, sorted by start.

    One pass with a stack keeps this linear on degenerate output (a model looping "{{{{…"); spans
    under `_MAX_DEPTH` or more open braces are not candidates, since no vote nests that deep.
    """
    spans: list[tuple[int, int]] = []
    opened: list[int] = []
    dead_from: dict[str, int] = {}
    i = 0
    while i < len(text):
        char = text[i]
        if char in _QUOTES and _opens_string(text, i):
            end = _string_end(text, i, dead_from)
            if end is not None:
                i = end
                continue
        elif char == "{":
            opened.append(i)
        elif char == "}" and opened:
            start = opened.pop()
            if len(opened) < _MAX_DEPTH:
                spans.append((start, i + 1))
        i += 1
    return sorted(spans)


def _string_end(text: str, start: int, dead_from: dict[str, int]) -> int | None:
    """The index past the string opened at `start`, or None if it never closes (a cut-off reply).

    Once a kind of string fails to close from some point, a later one of that kind cannot close
    either; `dead_from` remembers that point so the text is not rescanned for every quote.
    """
    kind = _closers(text[start])
    if start > dead_from.get(kind, len(text)):
        return None
    read = _read_string(text, start)
    if read is None:
        dead_from[kind] = start
        return None
    return read[1]


def _load(span: str) -> dict | None:
    """The span as a dict: strict JSON first, then after `_repair`."""
    for candidate in (span, _repair(span)):
        try:
            value = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else None
    return None


def _repair(span: str) -> str:
    """Rewrite pseudo-JSON as JSON: every string re-quoted with straight double quotes (so curly
    and single quotes, raw newlines and unescaped inner quotes are fixed), trailing commas dropped."""
    out: list[str] = []
    i = 0
    while i < len(span):
        char = span[i]
        if char in _QUOTES and _opens_string(span, i):
            read = _read_string(span, i)
            if read is None:
                break
            out.append(read[0])
            i = read[1]
            continue
        if not (char == "," and _TRAILING_COMMA.match(span, i + 1)):
            out.append(char)
        i += 1
    return "".join(out)


def _opens_string(text: str, i: int) -> bool:
    """Whether the quote at `i` stands where JSON puts a string: after `{`, `[`, `:` or `,`."""
    j = i - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    return j >= 0 and text[j] in _OPENS_AFTER


def _read_string(text: str, start: int) -> tuple[str, int] | None:
    """The string opened at `start` as a JSON string literal, and the index past its close.

    A quote closes the string only where JSON could continue (`:`, `,`, `}`, `]` or the end), so
    "It's" in a single-quoted string and "the "many eyes" view" in a double-quoted one survive.
    None when the string never closes (a reply cut off mid-string).
    """
    closers = _closers(text[start])
    out = ['"']
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(_escape_pair(text[i + 1]))
            i += 2
            continue
        if char in closers and _CLOSES_BEFORE.match(text, i + 1):
            out.append('"')
            return "".join(out), i + 1
        out.append(_RAW_ESCAPES.get(char, char))
        i += 1
    return None


def _closers(opener: str) -> str:
    """Quotes that may close a string: curly pairs get mixed up, so any double quote closes one."""
    if opener == '"':
        return '"'
    return _DOUBLE_QUOTES if opener in _DOUBLE_QUOTES else _SINGLE_QUOTES


def _escape_pair(char: str) -> str:
    """A backslash escape as JSON accepts it: `\\'` becomes `'`, unknown escapes a literal backslash."""
    if char in _JSON_ESCAPES:
        return "\\" + char
    if char == "'":
        return char
    return "\\\\" + _RAW_ESCAPES.get(char, char)
