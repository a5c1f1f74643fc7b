"""Limiter arithmetic on a fake clock: no sleeping."""

import asyncio

import pytest

from harness.limiter import AdaptiveRates, Admission, TokenBucket
from harness.ratelimits import ServerLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TestTokenBucket:
    def test_starts_full_with_one_second_of_budget(self):
        """600/min holds 10 at once: ten requests pass, the eleventh waits 0.1 s."""
        bucket = TokenBucket(600)
        for _ in range(10):
            assert bucket.delay(1, 0.0) == 0
            bucket.take(1, 0.0)
        assert bucket.delay(1, 0.0) == pytest.approx(0.1)

    def test_refills_continuously(self):
        """Budget comes back at rate/60 per second, up to the capacity."""
        bucket = TokenBucket(600)
        bucket.take(10, 0.0)
        assert bucket.level(0.5) == pytest.approx(5)
        assert bucket.level(100.0) == pytest.approx(10)

    def test_large_cost_waits_for_a_full_bucket_then_goes_into_debt(self):
        """A cost above capacity is admitted once full, and later costs wait off the debt."""
        bucket = TokenBucket(60)  # 1/s, capacity 1
        assert bucket.delay(5, 0.0) == 0
        bucket.take(5, 0.0)
        assert bucket.delay(1, 0.0) == pytest.approx(5)

    def test_correction_refunds_and_charges(self):
        """adjust() moves the level by the difference between estimate and truth, capped at capacity."""
        bucket = TokenBucket(6000)  # capacity 100
        bucket.take(80, 0.0)
        bucket.adjust(-30, 0.0)
        assert bucket.level(0.0) == pytest.approx(50)
        bucket.adjust(1000, 0.0)
        assert bucket.level(0.0) == pytest.approx(-950)
        bucket.adjust(-10_000, 0.0)
        assert bucket.level(0.0) == pytest.approx(100)

    def test_rejects_non_positive_rate(self):
        """A rate of zero could never admit anything."""
        with pytest.raises(ValueError):
            TokenBucket(0)


class TestAdmission:
    @pytest.mark.asyncio
    async def test_binding_limit_is_the_tighter_one(self):
        """With room for many requests but few tokens, tokens set the pace."""
        clock = FakeClock()
        admission = Admission(6000, 600, clock=clock, sleep=clock.sleep)  # 100 req/s, 10 tok/s
        for _ in range(3):
            await admission.acquire(10)
        assert clock.now == pytest.approx(2.0)

    @pytest.mark.asyncio
    async def test_pause_holds_everyone(self):
        """After pause(), nothing is admitted until the pause is over."""
        clock = FakeClock()
        admission = Admission(None, None, clock=clock, sleep=clock.sleep)
        admission.pause(3.0)
        assert admission.paused_for() == pytest.approx(3.0)
        await admission.acquire(1)
        assert clock.now == pytest.approx(3.0)

    @pytest.mark.asyncio
    async def test_fifo_order(self):
        """Waiters are admitted in the order they arrived, large or small."""
        clock = FakeClock()
        admission = Admission(None, 60, clock=clock, sleep=clock.sleep)  # 1 token/s, capacity 1
        order: list[int] = []

        async def ask(i: int, tokens: float) -> None:
            await admission.acquire(tokens)
            order.append(i)

        await asyncio.gather(ask(0, 1), ask(1, 5), ask(2, 1), ask(3, 1))
        assert order == [0, 1, 2, 3]

    @pytest.mark.asyncio
    async def test_unlimited_never_waits(self):
        """Without limits acquire returns at once."""
        clock = FakeClock()
        admission = Admission(None, None, clock=clock, sleep=clock.sleep)
        for _ in range(1000):
            await admission.acquire(10_000)
        assert clock.now == 0


class TestSetRate:
    def test_lower_rate_shrinks_capacity_and_keeps_debt(self):
        """Going from 600/min to 60/min: capacity 5 → 0.5 s of 60/min (floored at 1), level clipped."""
        bucket = TokenBucket(600, burst_seconds=0.5)
        assert bucket.capacity == pytest.approx(5)
        bucket.set_rate(60, 0.0, burst_seconds=0.5)
        assert bucket.capacity == 1 and bucket.level(0.0) == 1 and bucket.rate_per_minute == 60
        bucket.take(3, 0.0)
        assert bucket.delay(1, 0.0) == pytest.approx(3.0)


class TestAdaptiveRates:
    def _rates(self, rpm=2400, tpm=None):
        clock = FakeClock()
        admission = Admission(rpm, tpm, clock=clock, sleep=clock.sleep)
        return clock, admission, AdaptiveRates(admission, rpm, tpm, clock=clock)

    def test_stated_limit_below_configured_is_followed(self):
        """Configured 2,400/min, the server states 1,200: admit at 1,200 from the first response."""
        _, admission, rates = self._rates()
        rates.observe("m", ServerLimits(requests_per_minute=1200, tokens_per_minute=40000))
        assert admission.requests_per_minute == 1200
        assert admission.tokens_per_minute == 40000  # unconfigured, but stated: paced too

    def test_stated_limit_above_configured_is_ignored(self):
        """The configured budget is the user's choice (a key may be shared): never exceeded."""
        _, admission, rates = self._rates()
        rates.observe("m", ServerLimits(requests_per_minute=10000))
        assert admission.requests_per_minute == 2400

    def test_several_models_follow_the_smallest(self):
        _, admission, rates = self._rates()
        rates.observe("a", ServerLimits(requests_per_minute=2000))
        rates.observe("b", ServerLimits(requests_per_minute=1500))
        rates.observe("a", ServerLimits(requests_per_minute=2000))
        assert admission.requests_per_minute == 1500

    def test_429_without_headers_cuts_once_per_spacing_then_recovers(self):
        """Silent 429s cut the rate by a fifth (a burst of them counts once); a quiet minute wins it back."""
        clock, admission, rates = self._rates()
        for _ in range(5):
            rates.rate_limited("m", None)
        assert admission.requests_per_minute == pytest.approx(2400 * 0.8)
        clock.now += 2.5
        rates.rate_limited("m", None)
        assert admission.requests_per_minute == pytest.approx(2400 * 0.64)
        clock.now += 30
        rates.succeeded()
        assert admission.requests_per_minute == pytest.approx(2400 * 0.64)  # not quiet long enough
        for _ in range(10):
            clock.now += 40
            rates.succeeded()
        assert admission.requests_per_minute == pytest.approx(2400)

    def test_429_with_headers_learns_instead_of_cutting(self):
        _, admission, rates = self._rates()
        rates.rate_limited("m", ServerLimits(requests_per_minute=1200))
        assert admission.requests_per_minute == 1200 and rates.cut_factor == 1.0


class TestPause:
    def test_pause_keeps_the_longest_and_its_reason(self):
        clock = FakeClock()
        admission = Admission(None, None, clock=clock, sleep=clock.sleep)
        admission.pause(30, "cooling off")
        admission.pause(5, "rate limited")
        assert admission.paused_for() == 30 and admission.pause_reason == "cooling off"
        assert admission.delay(1) == 30
