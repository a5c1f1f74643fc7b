"""Live counters kept by the scheduler, and the frozen snapshots the display renders.

The display never reads the scheduler's internals: it asks for a `RunSnapshot` and draws it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


class RateMeter:
    """Sums of events over the last `window` seconds, in one-second buckets."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._buckets: deque[list[float]] = deque()  # [second, amount]

    def add(self, amount: float, now: float) -> None:
        second = float(int(now))
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += amount
        else:
            self._buckets.append([second, amount])
        self._trim(now)

    def per_minute(self, now: float) -> float:
        """Events per minute over the window (the window shrinks to the time elapsed at start)."""
        self._trim(now)
        total = sum(amount for _, amount in self._buckets)
        return total * 60.0 / self.window

    def _trim(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - self.window:
            self._buckets.popleft()


@dataclass(frozen=True, slots=True)
class PhaseSnapshot:
    name: str
    total: int
    """Items planned so far (post-debate grows as debates finish)."""
    total_known: bool
    """False while the total may still grow."""
    done: int
    failed: int
    cached: int
    elapsed: float
    rate_per_second: float

    @property
    def eta_seconds(self) -> float | None:
        if not self.total_known or self.rate_per_second <= 0:
            return None
        return max(0, self.total - self.done) / self.rate_per_second


@dataclass(frozen=True, slots=True)
class ProviderSnapshot:
    name: str
    in_flight: int
    max_in_flight: int
    requests_per_minute: float
    tokens_per_minute: float
    request_limit: float | None
    token_limit: float | None
    requests: int
    rate_limited: int
    retries: int
    failures: int
    cache_hits: int
    paused_for: float
    pause_reason: str = ""
    cool_offs: int = 0


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    elapsed: float
    phases: tuple[PhaseSnapshot, ...]
    providers: tuple[ProviderSnapshot, ...]


@dataclass
class PhaseStats:
    """Progress of one phase."""

    name: str
    total: int = 0
    total_known: bool = True
    done: int = 0
    failed: int = 0
    cached: int = 0
    started: float | None = None
    finished: float | None = None

    def begin(self, now: float) -> None:
        """Mark the phase started when its first item is issued (so its rate counts that item's wait)."""
        if self.started is None:
            self.started = now

    def record(self, *, failed: bool, cached: bool, now: float) -> None:
        self.begin(now)
        self.done += 1
        self.failed += failed
        self.cached += cached
        if self.total_known and self.done >= self.total:
            self.finished = now

    def snapshot(self, now: float) -> PhaseSnapshot:
        elapsed = 0.0 if self.started is None else (self.finished or now) - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return PhaseSnapshot(self.name, self.total, self.total_known, self.done, self.failed,
                             self.cached, elapsed, rate)


@dataclass
class ProviderStats:
    """What one provider lane has done."""

    name: str
    max_in_flight: int
    request_limit: float | None
    token_limit: float | None
    in_flight: int = 0
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    failures: int = 0
    cache_hits: int = 0
    cool_offs: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    request_meter: RateMeter = field(default_factory=RateMeter)
    token_meter: RateMeter = field(default_factory=RateMeter)

    def snapshot(self, now: float, paused_for: float, pause_reason: str = "",
                 request_limit: float | None = None, token_limit: float | None = None) -> ProviderSnapshot:
        """Limits are the ones in force now (configured, or lowered to what the server states)."""
        return ProviderSnapshot(
            self.name, self.in_flight, self.max_in_flight, self.request_meter.per_minute(now),
            self.token_meter.per_minute(now), request_limit or self.request_limit,
            token_limit or self.token_limit, self.requests, self.rate_limited, self.retries, self.failures,
            self.cache_hits, paused_for, pause_reason if paused_for > 0 else "", self.cool_offs,
        )


def now() -> float:
    return time.monotonic()
