"""Per-provider lanes: a fixed set of workers that answer jobs from the cache or the provider.

Each lane owns its provider's budget (requests/min, tokens/min, requests in flight) and is the only
place that sends requests to it. A job is answered from the cache when it can be; otherwise the
worker waits for admission, calls the provider, retries what is worth retrying (exponential backoff
with jitter, at least as long as the provider's retry-after; a 429 pauses the whole lane), stores
the answer in the cache before anyone counts it, and hands back a `CallResult`.

Two queues feed the workers: urgent jobs (debate speeches, which later work waits on) go before
bulk jobs (votes). The bulk queue is bounded, so producers wait instead of piling up memory.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .cache import CacheStore, cache_key
from .errors import AuthenticationFailed, ProviderError, ProviderUnavailable, RateLimited, is_retryable
from .limiter import Admission, AdaptiveRates
from .providers import WIRE_FORMATS, Provider
from .ratelimits import server_limits
from .records import Completion, Request
from .scenario import ProviderConfig, RetryPolicy
from .stats import ProviderStats, now

CHARS_PER_TOKEN = 4
YIELD_EVERY_HITS = 100
URGENT, BULK, STOP = 0, 1, 2
"""Job priorities: speeches (which later work waits on), votes, then the workers' stop markers."""
COOL_OFF_AFTER = 5
"""Failures in a row (server errors, timeouts, refused connections) that make a lane cool off."""
COOL_OFF_FIRST = 15.0
COOL_OFF_MAX = 120.0
TOKENS_PER_MESSAGE = 4
"""Framing tokens per chat message (role, separators), as OpenAI's counting guide has it."""


@dataclass(frozen=True, slots=True)
class CallResult:
    """The outcome of one job: a completion, or the error that ended its attempts."""

    key: str
    completion: Completion | None
    error: ProviderError | None
    cached: bool
    attempts: int
    latency_s: float | None


@dataclass(slots=True)
class Job:
    request: Request
    on_done: Callable[[CallResult], None]
    key: str


class LaneClosed(Exception):
    """The run is stopping: the job was not sent, and no row is written for it."""


class FatalProviderError(Exception):
    """A provider failure that makes every further request to it pointless (a refused API key)."""

    def __init__(self, error: ProviderError, api_key_env: str) -> None:
        super().__init__(f"provider {error.provider!r} refused the API key from ${api_key_env}: {error}")
        self.error = error


class TokenEstimator:
    """Tokens a request will be charged, known before sending it, learned from the usage returned.

    A provider's rate limiter counts the prompt with its own tokenizer (plus a few tokens of framing
    per message) and the output cap. The estimate starts at four characters per token and follows
    the provider's reported input tokens, rounding up: an estimate below the provider's count
    overdraws its bucket and earns 429s, one slightly above only leaves a little budget unused.
    """

    SMOOTHING = 0.05
    MARGIN = 1.01

    def __init__(self) -> None:
        self.tokens_per_unit = 1.0
        """Provider tokens per `_units` of prompt; 1.0 until the first usage comes back."""

    @staticmethod
    def _units(request: Request) -> float:
        return request.prompt_chars() / CHARS_PER_TOKEN + TOKENS_PER_MESSAGE * len(request.messages) + 3

    def estimate(self, request: Request) -> int:
        prompt = math.ceil(self._units(request) * self.tokens_per_unit * self.MARGIN)
        return prompt + request.sampling.max_tokens

    def observe(self, request: Request, input_tokens: int) -> None:
        """Fold in the prompt tokens the provider reported for `request`."""
        if input_tokens <= 0:
            return
        ratio = min(4.0, max(0.25, input_tokens / self._units(request)))
        self.tokens_per_unit += self.SMOOTHING * (ratio - self.tokens_per_unit)


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): capped exponential, full jitter."""
    ceiling = min(policy.max_delay, policy.initial_delay * 2 ** (attempt - 1))
    return ceiling / 2 + rng.random() * ceiling / 2


class ProviderLane:
    """All traffic to one provider."""

    def __init__(
        self,
        config: ProviderConfig,
        provider: Provider,
        cache: CacheStore,
        retry: RetryPolicy,
        *,
        bulk_queue_size: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.provider = provider
        self.cache = cache
        self.retry = retry
        limits = config.limits
        self.admission = Admission(limits.requests_per_minute, limits.tokens_per_minute, clock=clock, sleep=sleep)
        self.rates = AdaptiveRates(self.admission, limits.requests_per_minute, limits.tokens_per_minute, clock=clock)
        self._failures_in_a_row = 0
        self._cool_offs_in_a_row = 0
        self.stats = ProviderStats(config.name, limits.max_in_flight, limits.requests_per_minute,
                                   limits.tokens_per_minute)
        self._charges_max_tokens = WIRE_FORMATS[config.kind] == "openai"
        self.tokens = TokenEstimator()
        # One priority queue: urgent jobs (0) before bulk (1), stop markers (2) after both; FIFO
        # within a priority. (A semaphore over two deques wakes workers in O(workers) on 3.11.)
        self._jobs: asyncio.PriorityQueue[tuple[int, int, Job | None]] = asyncio.PriorityQueue()
        self._sequence = itertools.count()
        self._hits_since_yield = itertools.count(1)
        self.closed = False
        self._bulk_slots = asyncio.Semaphore(bulk_queue_size or 2 * limits.max_in_flight)
        self._sleep = sleep
        self._rng = random.Random()

    @property
    def workers(self) -> int:
        return self.config.limits.max_in_flight

    async def submit(self, request: Request, on_done: Callable[[CallResult], None]) -> None:
        """Answer a bulk job: at once from the cache, else queued for a worker (waits while the
        bulk queue is full)."""
        if self.closed:
            return
        key = cache_key(request)
        if (hit := self._from_cache(key)) is not None:
            on_done(hit)
            if next(self._hits_since_yield) % YIELD_EVERY_HITS == 0:
                await asyncio.sleep(0)  # a replay never waits: let the writer and display run
            return
        await self._bulk_slots.acquire()
        self._jobs.put_nowait((BULK, next(self._sequence), Job(request, on_done, key)))

    async def call(self, request: Request) -> CallResult:
        """Answer one urgent job and wait for its result."""
        key = cache_key(request)
        if (hit := self._from_cache(key)) is not None:
            return hit
        future: asyncio.Future[CallResult] = asyncio.get_running_loop().create_future()

        def deliver(result: CallResult) -> None:
            if not future.done():  # the caller may have been cancelled (a run being stopped)
                future.set_result(result)

        self._jobs.put_nowait((URGENT, next(self._sequence), Job(request, deliver, key)))
        return await future

    def close(self) -> None:
        """Stop sending: queued jobs are dropped unsent, requests on the wire may finish.

        Dropped jobs get no callback and no row; a resume asks them again.
        """
        self.closed = True
        while not self._jobs.empty():
            priority, _, job = self._jobs.get_nowait()
            if priority == BULK:
                self._bulk_slots.release()

    def stop(self) -> None:
        """Let every worker finish once the queues are empty."""
        for _ in range(self.workers):
            self._jobs.put_nowait((STOP, next(self._sequence), None))

    async def work(self) -> None:
        """One worker: take jobs until told to stop."""
        while True:
            priority, _, job = await self._jobs.get()
            if job is None:
                return
            if priority == BULK:
                self._bulk_slots.release()
            try:
                result = await self._fetch(job.request, job.key)  # submit()/call() checked the cache
            except LaneClosed:
                continue
            job.on_done(result)

    def _from_cache(self, key: str) -> CallResult | None:
        cached = self.cache.get(key)
        if cached is None:
            return None
        self.stats.cache_hits += 1
        return CallResult(key, cached, None, True, 0, None)

    async def execute(self, request: Request) -> CallResult:
        """Answer one request: from the cache, else from the provider with retries."""
        key = cache_key(request)
        if (hit := self._from_cache(key)) is not None:
            return hit
        return await self._fetch(request, key)

    async def _fetch(self, request: Request, key: str) -> CallResult:
        """Ask the provider (the cache already missed), retrying what is worth retrying."""
        estimated = self.tokens.estimate(request)
        attempt = 0
        while True:
            attempt += 1
            await self.admission.acquire(estimated)
            if self.closed:
                raise LaneClosed
            try:
                completion, latency = await self._send(request, estimated)
            except ProviderError as error:
                delay = self._after_failure(error, attempt)
                if delay is None:
                    self.stats.failures += 1
                    return CallResult(key, None, error, False, attempt, None)
                self.stats.retries += 1
                await self._sleep(delay)
                continue
            await self.cache.store(key, request, completion)
            self._failures_in_a_row = self._cool_offs_in_a_row = 0
            return CallResult(key, completion, None, False, attempt, latency)

    async def _send(self, request: Request, estimated: int) -> tuple[Completion, float]:
        stats = self.stats
        stats.in_flight += 1
        stats.requests += 1
        started = now()
        stats.request_meter.add(1, started)
        try:
            completion = await self.provider.complete(request)
        finally:
            stats.in_flight -= 1
        finished = now()
        usage = completion.usage
        self.tokens.observe(request, usage.input_tokens)
        if completion.rate_limits:
            self.rates.observe(request.model, server_limits(completion.rate_limits))
        self.rates.succeeded()
        # OpenAI-format providers count max_tokens at admission; Anthropic counts real output.
        actual = usage.input_tokens + (request.sampling.max_tokens if self._charges_max_tokens
                                       else usage.output_tokens)
        self.admission.correct_tokens(estimated, actual)
        stats.token_meter.add(usage.total_tokens, finished)
        return completion, finished - started

    def _after_failure(self, error: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None to give up."""
        kind = error.kind
        self.stats.errors_by_kind[kind] = self.stats.errors_by_kind.get(kind, 0) + 1
        if isinstance(error, AuthenticationFailed):
            raise FatalProviderError(error, self.config.api_key_env)
        if isinstance(error, RateLimited):
            self.stats.rate_limited += 1
            self.rates.rate_limited(error.model, server_limits(error.rate_limits) if error.rate_limits else None)
        elif isinstance(error, ProviderUnavailable):
            self._note_unavailable()
        if not is_retryable(error) or attempt >= self.retry.max_attempts:
            return None
        delay = backoff_delay(attempt, self.retry, self._rng)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if isinstance(error, RateLimited):
            # The budget is spent for everyone: hold the whole lane, not just this request.
            self.admission.pause(retry_after if retry_after is not None else delay)
        return delay

    def _note_unavailable(self) -> None:
        """Count failures in a row; after `COOL_OFF_AFTER` of them, stop sending for a while.

        A provider that is down answers every request with an error: retrying each one on its own
        schedule only hammers it. The whole lane cools off instead (15 s, doubling while it stays
        down, at most 2 min), says so on the display, and then tries again.
        """
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= COOL_OFF_AFTER:
            seconds = min(COOL_OFF_MAX, COOL_OFF_FIRST * 2 ** self._cool_offs_in_a_row)
            self._cool_offs_in_a_row += 1
            self._failures_in_a_row = 0
            self.stats.cool_offs += 1
            self.admission.pause(seconds, f"cooling off: {COOL_OFF_AFTER} failures in a row")

    def snapshot(self, at: float):
        admission = self.admission
        return self.stats.snapshot(at, admission.paused_for(), admission.pause_reason,
                                   admission.requests_per_minute, admission.tokens_per_minute)
