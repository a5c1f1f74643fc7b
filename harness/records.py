"""Plain data shared by every layer: what is asked of a model and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field

OPEN = "open"
CLOSED = "closed"
STANCES = (OPEN, CLOSED)


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message; role is "system", "user" or "assistant"."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampling parameters sent with a request; None means "leave to the provider's default"."""

    temperature: float | None
    top_p: float | None
    max_tokens: int


@dataclass(frozen=True, slots=True)
class Request:
    """Everything that determines a model's answer, and nothing else.

    `sample` names which independent draw this is ("17" for vote 17 of 100, "gpt_claude_1#3" for
    the third speech of that debate): it is part of the cache key, so two draws of one prompt are
    two answers, and a rerun asks for the same draws. `simulated` keeps the simulated provider's
    answers apart from live ones in the cache.
    """

    provider_kind: str
    model: str
    messages: tuple[Message, ...]
    sampling: Sampling
    sample: str = "0"
    simulated: bool = False

    def prompt_chars(self) -> int:
        """Characters across all messages, for estimating tokens before the call."""
        return sum(len(m.content) for m in self.messages)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens the provider says it used."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's answer: the text and what the provider reported about it."""

    text: str
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    request_id: str | None = None
    rate_limits: dict[str, str] | None = field(default=None, compare=False, repr=False)
    """The response's rate-limit headers, for the scheduler; transport detail, never cached."""


@dataclass(frozen=True, slots=True)
class ParsedVote:
    """A vote read out of a completion.

    status is "ok" (a JSON object gave the stance), "recovered" (the JSON was broken, e.g. cut off,
    but its stance field was stated), "ambiguous" (conflicting stances) or "unparseable".
    stance is "open", "closed" or None; it is None unless status is "ok" or "recovered".
    """

    stance: str | None
    status: str
    reason: str | None = None

    @property
    def counted(self) -> bool:
        """Whether this vote counts toward either side."""
        return self.stance is not None
