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
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()  # FIFO: waiters are admitted in arrival order
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Admit nothing for `seconds` (the provider asked us to wait, e.g. with a 429)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def paused_for(self) -> float:
        """Seconds left in the current pause, 0 when not paused."""
        return max(0.0, self._paused_until - self._clock())

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
