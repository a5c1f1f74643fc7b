"""Client-side rate limiting: one `Admission` per provider, built from continuously refilling buckets.

Providers enforce their per-minute limits as token buckets that refill continuously ("60 RPM may
be enforced as 1 request per second"), so the harness paces itself the same way: a bucket holds
`burst_seconds` worth of budget and refills at rate/60 per second. Costs are weighted (a request
costs 1 of the request budget and its estimated tokens of the token budget) and can be corrected
once the provider reports the real usage. The clock is injected, so the arithmetic tests with a
fake clock and no sleeping.

(asyncio-throttle, a listed dependency, is a sliding-window counter that busy-polls and counts every
acquire as 1: it cannot express a token budget or a correction, so the harness does not use it.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


CLIENT_BURST_SECONDS = 0.5
"""Burst the harness allows itself: half of the second providers hold. A request admitted here
reaches the provider a little later than admitted (connection setup, queueing, a busy loop), and
while the provider's bucket sits full it wastes refill that the client's bucket counted; the
margin absorbs that lag without lowering the steady rate, which is set by the refill alone."""


class TokenBucket:
    """A budget of `rate_per_minute` units refilling continuously, holding `burst_seconds` of it.

    A cost larger than the whole bucket is admitted once the bucket is full, leaving it in debt,
    so a single large request is slow rather than impossible.
    """

    def __init__(self, rate_per_minute: float, *, burst_seconds: float = 1.0, now: float = 0.0) -> None:
        if rate_per_minute <= 0:
            raise ValueError(f"rate must be positive, got {rate_per_minute}")
        self.rate_per_second = rate_per_minute / 60.0
        self.capacity = max(self.rate_per_second * burst_seconds, 1.0)
        self._level = self.capacity
        self._updated = now

    def level(self, now: float) -> float:
        """Budget available at `now` (negative while in debt)."""
        self._refill(now)
        return self._level

    def delay(self, cost: float, now: float) -> float:
        """Seconds from `now` until `cost` can be taken (0 if it can be taken now)."""
        self._refill(now)
        needed = min(cost, self.capacity)
        if self._level >= needed:
            return 0.0
        return (needed - self._level) / self.rate_per_second

    def take(self, cost: float, now: float) -> None:
        """Spend `cost` (callers check `delay` first)."""
        self._refill(now)
        self._level -= cost

    def adjust(self, delta: float, now: float) -> None:
        """Charge `delta` more (or refund it, if negative) once the true cost is known."""
        self._refill(now)
        self._level = min(self.capacity, self._level - delta)

    def set_rate(self, rate_per_minute: float, now: float, *, burst_seconds: float = CLIENT_BURST_SECONDS) -> None:
        """Change the refill rate (and the capacity with it); budget above the new capacity is dropped."""
        if rate_per_minute <= 0:
            raise ValueError(f"rate must be positive, got {rate_per_minute}")
        self._refill(now)
        self.rate_per_second = rate_per_minute / 60.0
        self.capacity = max(self.rate_per_second * burst_seconds, 1.0)
        self._level = min(self._level, self.capacity)

    @property
    def rate_per_minute(self) -> float:
        return self.rate_per_second * 60.0

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated
        if elapsed > 0:
            self._level = min(self.capacity, self._level + elapsed * self.rate_per_second)
            self._updated = now


class Admission:
    """Admits requests to one provider under its request and token budgets, first come first served."""

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        *,
        burst_seconds: float = CLIENT_BURST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        now = clock()
        self._requests = TokenBucket(requests_per_minute, burst_seconds=burst_seconds, now=now) \
            if requests_per_minute else None
        self._tokens = TokenBucket(tokens_per_minute, burst_seconds=burst_seconds, now=now) \
            if tokens_per_minute else None
        self._burst_seconds = burst_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()  # FIFO: waiters are admitted in arrival order
        self._paused_until = 0.0
        self.pause_reason = ""

    def pause(self, seconds: float, reason: str = "rate limited") -> None:
        """Admit nothing for `seconds` (the provider asked us to wait, or keeps failing)."""
        until = self._clock() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self.pause_reason = reason

    def paused_for(self) -> float:
        """Seconds left in the current pause, 0 when not paused."""
        return max(0.0, self._paused_until - self._clock())

    @property
    def requests_per_minute(self) -> float | None:
        return self._requests.rate_per_minute if self._requests else None

    @property
    def tokens_per_minute(self) -> float | None:
        return self._tokens.rate_per_minute if self._tokens else None

    def set_rates(self, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        """Admit at these rates from now on; None leaves a dimension as it is."""
        now = self._clock()
        if requests_per_minute:
            if self._requests is None:
                self._requests = TokenBucket(requests_per_minute, burst_seconds=self._burst_seconds, now=now)
            elif requests_per_minute != self._requests.rate_per_minute:
                self._requests.set_rate(requests_per_minute, now, burst_seconds=self._burst_seconds)
        if tokens_per_minute:
            if self._tokens is None:
                self._tokens = TokenBucket(tokens_per_minute, burst_seconds=self._burst_seconds, now=now)
            elif tokens_per_minute != self._tokens.rate_per_minute:
                self._tokens.set_rate(tokens_per_minute, now, burst_seconds=self._burst_seconds)

    def delay(self, tokens: float) -> float:
        """Seconds until a request of `tokens` could be admitted."""
        now = self._clock()
        wait = max(0.0, self._paused_until - now)
        if self._requests is not None:
            wait = max(wait, self._requests.delay(1, now))
        if self._tokens is not None:
            wait = max(wait, self._tokens.delay(tokens, now))
        return wait

    async def acquire(self, tokens: float) -> None:
        """Wait until one request costing `tokens` fits both budgets, then spend them."""
        async with self._lock:
            while (wait := self.delay(tokens)) > 0:
                await self._sleep(wait)
            now = self._clock()
            if self._requests is not None:
                self._requests.take(1, now)
            if self._tokens is not None:
                self._tokens.take(tokens, now)

    def correct_tokens(self, estimated: float, actual: float) -> None:
        """Replace an estimate by what the provider reports it counted."""
        if self._tokens is not None and actual != estimated:
            self._tokens.adjust(actual - estimated, self._clock())


class AdaptiveRates:
    """The rates one provider's `Admission` runs at: the configured budget, lowered to the server's.

    Configured limits are often wrong. Every response's rate-limit headers state the server's real
    budget (per model; a lane serving several models follows the smallest), and the lane runs at
    min(configured, stated) from the first response on, so a too-high configuration costs at most
    the first burst of 429s. A server that states nothing (Gemini) but answers 429 is met by a
    multiplicative cut (at most one per `CUT_SPACING` seconds, since a burst of 429s is one signal),
    recovered step by step after `RECOVER_AFTER` seconds without one.
    """

    CUT = 0.8
    CUT_SPACING = 2.0
    RECOVER_AFTER = 60.0
    RECOVER_STEP = 1.1
    RECOVER_SPACING = 10.0
    FLOOR = 0.05
    """Never cut below this fraction of the ceiling: a trickle keeps learning whether it is over."""

    def __init__(self, admission: Admission, requests_per_minute: float | None, tokens_per_minute: float | None,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self._admission = admission
        self._configured = (requests_per_minute, tokens_per_minute)
        self._stated: dict[str, tuple[float | None, float | None]] = {}
        self._factor = 1.0
        self._clock = clock
        self._last_cut = float("-inf")
        self._last_429 = float("-inf")
        self._last_step = float("-inf")

    def ceiling(self) -> tuple[float | None, float | None]:
        """(requests, tokens) per minute allowed before any cut: configured, lowered to what servers state."""
        out = []
        for i, configured in enumerate(self._configured):
            stated = [s[i] for s in self._stated.values() if s[i]]
            candidates = [v for v in (configured, *stated) if v]
            out.append(min(candidates) if candidates else None)
        return out[0], out[1]

    def observe(self, model: str, limits) -> None:
        """Take in the limits a response's headers state (a `ratelimits.ServerLimits`)."""
        if not limits.states_a_limit:
            return
        stated = (limits.requests_per_minute or None, limits.tokens_per_minute or None)
        if self._stated.get(model) != stated:
            self._stated[model] = stated
            self._apply()

    def rate_limited(self, model: str, limits) -> None:
        """A 429: learn what it states; if it states nothing, cut the rates."""
        now = self._clock()
        self._last_429 = now
        if limits is not None and limits.states_a_limit:
            self.observe(model, limits)
            return
        if now - self._last_cut >= self.CUT_SPACING:
            self._last_cut = now
            self._factor = max(self.FLOOR, self._factor * self.CUT)
            self._apply()

    def succeeded(self) -> None:
        """A success: after a quiet spell, win back a cut step by step."""
        if self._factor >= 1.0:
            return
        now = self._clock()
        if now - self._last_429 >= self.RECOVER_AFTER and now - self._last_step >= self.RECOVER_SPACING:
            self._last_step = now
            self._factor = min(1.0, self._factor * self.RECOVER_STEP)
            self._apply()

    @property
    def cut_factor(self) -> float:
        return self._factor

    def _apply(self) -> None:
        requests, tokens = self.ceiling()
        self._admission.set_rates(requests * self._factor if requests else None,
                                  tokens * self._factor if tokens else None)
