"""Pure behaviour of the simulated provider: rate-limit buckets, fault schedules, seeds, token counts.

How limits are enforced, per model id (the request's `model`, spelled exactly), per dimension:

- A dimension with a per-minute limit L (requests or tokens) is a token bucket that holds one
  second of it, L/60 (at least 1 for requests), refills continuously at L/60 per second and starts
  full. So 600 RPM allows a burst of 10 and then one request every 0.1 s, as providers do ("60 RPM
  may be enforced as 1 request per second").
- A request costs 1 request and `prompt + max_tokens × n` tokens (OpenAI's reservation, used on
  every route; without max_tokens only the prompt is reserved). It is admitted only if both
  buckets can pay now, and then both are charged.
- A cost larger than a bucket holds (a long prompt against a small TPM) is payable once the bucket
  is full and leaves it in debt: a big request is slow rather than impossible, and throughput still
  averages L per minute. Only a request costing more tokens than the whole per-minute limit is
  refused outright, as "too large", with no retry-after, because waiting will not help.
- A refused request is charged nothing; its retry-after is the wait until both buckets can pay.
- When the answer is known the token bucket is settled to the actual usage: the unused part of
  max_tokens is refunded (or output beyond the reservation charged), never above capacity.
- Headers report, per dimension: the per-minute limit, what the bucket holds now (floored, never
  below 0) and the time until it is full again.

The clock is whatever the caller passes (`now`, or `RateLimits(clock=...)`), so tests move a fake
clock instead of sleeping.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .config import Fault, ModelLimits

REQUESTS = "requests"
TOKENS = "tokens"
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3
"""Framing tokens per message and per reply, as OpenAI's chat format counts them."""

_EPSILON = 1e-9  # float slack, so waiting exactly `retry_after` always suffices


class Bucket:
    """A continuously refilling budget of `per_minute` units holding one second of it (≥ `floor`)."""

    def __init__(self, per_minute: float, *, floor: float = 0.0, now: float = 0.0) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be positive, got {per_minute}")
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(self.rate, floor)
        self._level = self.capacity
        self._updated = now

    def level(self, now: float) -> float:
        """What the bucket holds at `now`; negative while in debt."""
        if now > self._updated:
            self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
            self._updated = now
        return self._level

    def wait(self, cost: float, now: float) -> float:
        """Seconds until the bucket can pay `cost` (a cost above capacity needs a full bucket)."""
        short = min(cost, self.capacity) - self.level(now)
        return 0.0 if short <= _EPSILON else short / self.rate

    def take(self, cost: float, now: float) -> None:
        self._level = self.level(now) - cost

    def give(self, amount: float, now: float) -> None:
        """Return `amount` (negative charges more), never filling past capacity."""
        self._level = min(self.capacity, self.level(now) + amount)

    def seconds_to_full(self, now: float) -> float:
        return max(0.0, self.capacity - self.level(now)) / self.rate


@dataclass(frozen=True)
class Decision:
    """Whether a request was admitted; if not, which dimension refused it and for how long."""

    admitted: bool
    limited_by: str | None = None
    retry_after: float | None = None
    """Seconds until both buckets can pay; None when admitted or when the request is too large."""

    too_large: bool = False
    """The request costs more tokens than the whole per-minute limit: it can never be admitted."""


@dataclass(frozen=True)
class DimensionState:
    """One dimension as the rate-limit headers report it."""

    limit: float
    remaining: int
    reset: float
    """Seconds until the bucket is full again."""


@dataclass(frozen=True)
class LimitState:
    """Snapshot of one model's limits; a dimension without a limit is None."""

    requests: DimensionState | None = None
    tokens: DimensionState | None = None


class ModelLimiter:
    """One model's request and token buckets (see the module docstring for the rules)."""

    def __init__(self, limits: ModelLimits, now: float) -> None:
        rpm, tpm = limits.requests_per_minute, limits.tokens_per_minute
        self.requests = Bucket(rpm, floor=1.0, now=now) if rpm else None
        self.tokens = Bucket(tpm, now=now) if tpm else None

    def admit(self, tokens: int, now: float) -> Decision:
        """Charge 1 request and `tokens` tokens if both buckets can pay now; otherwise charge nothing."""
        if self.tokens is not None and tokens > self.tokens.per_minute:
            return Decision(False, limited_by=TOKENS, too_large=True)
        waits = {}
        if self.requests is not None:
            waits[REQUESTS] = self.requests.wait(1, now)
        if self.tokens is not None:
            waits[TOKENS] = self.tokens.wait(tokens, now)
        limited_by = max(waits, key=waits.__getitem__, default=None)
        if limited_by is not None and waits[limited_by] > 0:
            return Decision(False, limited_by=limited_by, retry_after=waits[limited_by])
        if self.requests is not None:
            self.requests.take(1, now)
        if self.tokens is not None:
            self.tokens.take(tokens, now)
        return Decision(True)

    def settle(self, reserved: int, used: int, now: float) -> None:
        """Correct an admitted request's token charge from `reserved` to `used`."""
        if self.tokens is not None:
            self.tokens.give(reserved - used, now)

    def state(self, now: float) -> LimitState:
        return LimitState(_dimension_state(self.requests, now), _dimension_state(self.tokens, now))


def _dimension_state(bucket: Bucket | None, now: float) -> DimensionState | None:
    if bucket is None:
        return None
    remaining = max(0, math.floor(bucket.level(now) + _EPSILON))
    return DimensionState(bucket.per_minute, remaining, bucket.seconds_to_full(now))


class RateLimits:
    """Every model's limiter, made on first use from `limits` (else `default`; None: unlimited)."""

    def __init__(self, limits: Mapping[str, ModelLimits], default: ModelLimits | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = dict(limits)
        self._default = default
        self._clock = clock
        self._models: dict[str, ModelLimiter | None] = {}

    def _limiter(self, model: str) -> ModelLimiter | None:
        if model not in self._models:
            limits = self._limits.get(model, self._default)
            self._models[model] = ModelLimiter(limits, self._clock()) if limits else None
        return self._models[model]

    def admit(self, model: str, tokens: int) -> Decision:
        limiter = self._limiter(model)
        return Decision(True) if limiter is None else limiter.admit(tokens, self._clock())

    def settle(self, model: str, reserved: int, used: int) -> None:
        limiter = self._limiter(model)
        if limiter is not None:
            limiter.settle(reserved, used, self._clock())

    def state(self, model: str) -> LimitState:
        limiter = self._limiter(model)
        return LimitState() if limiter is None else limiter.state(self._clock())


class FaultSchedule:
    """Faults waiting to answer requests, used first come, first served."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._pending: list[list] = []  # [fault, uses left]
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        self._pending.append([fault, fault.count])

    def take(self, model: str) -> Fault | None:
        """Use up one answer of the first fault matching `model`, if any."""
        for entry in self._pending:
            fault = entry[0]
            if fault.model is None or fault.model == model:
                entry[1] -= 1
                if entry[1] == 0:
                    self._pending.remove(entry)
                return fault
        return None

    def clear(self) -> None:
        self._pending.clear()

    @property
    def pending(self) -> int:
        """Requests still to be answered by a fault."""
        return sum(left for _, left in self._pending)


def random_failure(rng: random.Random, rate: float, anthropic_route: bool) -> int | None:
    """A transient 5xx status for a `rate` fraction of draws, else None."""
    if rate <= 0 or rng.random() >= rate:
        return None
    return rng.choice((500, 529) if anthropic_route else (500, 503))


def sample_seed(seed: int, sample_key: str, choice: int) -> int:
    """The RNG seed of one answer: the same (seed, key, choice) always gives the same answer."""
    digest = hashlib.sha256(f"{seed}|{sample_key}|{choice}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def anonymous_sample_key(body: bytes, counter: int) -> str:
    """Key for a request without `x-harness-sample-key`: repeats of one body differ, like real samples."""
    return f"anon:{hashlib.sha256(body).hexdigest()}:{counter}"


def count_tokens(text: str) -> int:
    """A cheap, deterministic stand-in for a tokenizer: one token per four characters."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def count_prompt_tokens(texts: Iterable[str]) -> int:
    """Prompt tokens of a conversation: each message's text plus its framing, plus the reply's."""
    return sum(count_tokens(t) + TOKENS_PER_MESSAGE for t in texts) + TOKENS_PER_MESSAGE


def reserved_tokens(prompt_tokens: int, max_tokens: int | None, n: int) -> int:
    """Tokens charged on admission: the prompt once, plus max_tokens for every choice."""
    return prompt_tokens + (max_tokens or 0) * n


def truncate(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """The text cut to `max_tokens`, and whether it was cut."""
    if max_tokens is None or count_tokens(text) <= max_tokens:
        return text, False
    return text[: max_tokens * CHARS_PER_TOKEN], True


def latency(time_to_first_token: float, seconds_per_output_token: float, output_tokens: int) -> float:
    """Seconds an answer of `output_tokens` takes to generate."""
    return time_to_first_token + seconds_per_output_token * output_tokens
