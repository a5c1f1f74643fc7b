"""Limiter arithmetic on a fake clock: no sleeping."""

import asyncio

import pytest

from harness.limiter import Admission, TokenBucket


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
