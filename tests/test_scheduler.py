"""Provider lanes with a scripted provider: cache first, retries, pauses, giving up, priorities."""

import asyncio
import math

import pytest

from harness.cache import CacheStore, cache_key
from harness.errors import AuthenticationFailed, RateLimited, RequestRejected, ServerError
from harness.providers.fake import FakeProvider, echo_completion
from harness.records import Message, Request, Sampling
from harness.scenario import ProviderConfig, RateLimits, RetryPolicy
from harness.scheduler import FatalProviderError, ProviderLane, TokenEstimator, backoff_delay

CONFIG = ProviderConfig("fake", "openai_compatible", "FAKE_KEY", "http://127.0.0.1:1", RateLimits(None, None, 4))
POLICY = RetryPolicy(max_attempts=3, initial_delay=1.0, max_delay=8.0)


def request(i: int = 0) -> Request:
    return Request("openai_compatible", "m", (Message("user", f"q{i}"),), Sampling(1.0, 1.0, 10), str(i))


def lane_with(provider: FakeProvider, tmp_path, sleeps: list[float]) -> ProviderLane:
    """A lane on a fake clock that only moves when the lane sleeps; `sleeps` records each sleep."""
    clock = [1000.0]

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    return ProviderLane(CONFIG, provider, CacheStore(tmp_path), POLICY, sleep=fake_sleep, clock=lambda: clock[0])


class TestExecute:
    @pytest.mark.asyncio
    async def test_answer_is_cached_and_reused(self, tmp_path):
        """The second execution of a request is answered from the cache, not the provider."""
        provider = FakeProvider()
        lane = lane_with(provider, tmp_path, [])
        first = await lane.execute(request())
        second = await lane.execute(request())
        assert not first.cached and second.cached and first.completion == second.completion
        assert len(provider.requests) == 1 and lane.stats.cache_hits == 1
        assert first.key == cache_key(request())

    @pytest.mark.asyncio
    async def test_retries_transient_errors_then_succeeds(self, tmp_path):
        """A 5xx is retried after a backoff; attempts counts every try."""
        sleeps: list[float] = []
        provider = FakeProvider(failures=[ServerError("boom", status=500)])
        result = await lane_with(provider, tmp_path, sleeps).execute(request())
        assert result.completion is not None and result.attempts == 2 and len(sleeps) == 1

    @pytest.mark.asyncio
    async def test_rate_limit_waits_at_least_retry_after_and_pauses_the_lane(self, tmp_path):
        """A 429's retry-after sets the wait, and while it runs the whole provider admits nothing."""
        sleeps: list[float] = []
        provider = FakeProvider(failures=[RateLimited("slow down", retry_after=30.0, status=429)])
        lane = lane_with(provider, tmp_path, sleeps)
        other_request_waits: list[float] = []
        provider._script = lambda r: (other_request_waits.append(lane.admission.delay(1)), echo_completion(r))[1]
        original_pause = lane.admission.pause
        lane.admission.pause = lambda s: (original_pause(s), other_request_waits.append(lane.admission.delay(1)))
        result = await lane.execute(request())
        assert result.completion is not None and sleeps == [30.0]
        # Right after the 429 any request must wait 30 s; once the retry runs the pause is over.
        assert other_request_waits == [30.0, 0.0]
        assert lane.stats.rate_limited == 1 and lane.stats.retries == 1

    @pytest.mark.asyncio
    async def test_gives_up_after_max_attempts_with_the_cause(self, tmp_path):
        """After max_attempts the result carries the last error and nothing is cached."""
        provider = FakeProvider(failures=[ServerError("down", status=503)] * 5)
        lane = lane_with(provider, tmp_path, [])
        result = await lane.execute(request())
        assert result.completion is None and result.attempts == 3
        assert "ServerError 503: down" in result.error.describe()
        assert lane.cache.get(result.key) is None and lane.stats.failures == 1

    @pytest.mark.asyncio
    async def test_rejected_request_is_not_retried(self, tmp_path):
        """A 400 fails at once."""
        provider = FakeProvider(failures=[RequestRejected("bad", status=400)])
        result = await lane_with(provider, tmp_path, []).execute(request())
        assert result.attempts == 1 and result.completion is None

    @pytest.mark.asyncio
    async def test_refused_key_is_fatal(self, tmp_path):
        """A 401 stops the run instead of failing every request one by one."""
        provider = FakeProvider(failures=[AuthenticationFailed("bad key", status=401, provider="fake")])
        with pytest.raises(FatalProviderError, match=r"\$FAKE_KEY"):
            await lane_with(provider, tmp_path, []).execute(request())


class TestQueues:
    @pytest.mark.asyncio
    async def test_workers_prefer_urgent_jobs_and_stop_cleanly(self, tmp_path):
        """Queued urgent jobs go before queued bulk jobs; stop() ends every worker."""
        provider = FakeProvider()
        lane = ProviderLane(ProviderConfig("fake", "openai_compatible", "K", None, RateLimits(None, None, 1)),
                            provider, CacheStore(tmp_path), POLICY, bulk_queue_size=3)
        done: list[str] = []
        for i in range(3):
            await lane.submit(request(i), lambda r, i=i: done.append(f"bulk{i}"))
        urgent = asyncio.ensure_future(lane.call(request(99)))
        await asyncio.sleep(0)
        worker = asyncio.create_task(lane.work())
        assert (await urgent).completion is not None
        while len(done) < 3:
            await asyncio.sleep(0.01)
        lane.stop()
        await asyncio.wait_for(worker, 1)
        assert [r.sample for r in provider.requests] == ["99", "0", "1", "2"]
        assert done == ["bulk0", "bulk1", "bulk2"]

    @pytest.mark.asyncio
    async def test_bulk_queue_is_bounded(self, tmp_path):
        """submit() waits once the bulk queue holds its maximum."""
        lane = ProviderLane(CONFIG, FakeProvider(), CacheStore(tmp_path), POLICY, bulk_queue_size=2)
        await lane.submit(request(0), lambda r: None)
        await lane.submit(request(1), lambda r: None)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(lane.submit(request(2), lambda r: None), 0.05)


class TestHelpers:
    def test_estimate_counts_prompt_framing_and_output_cap(self):
        """Before any usage: prompt characters / 4, 4 tokens per message and 3 more, plus max_tokens."""
        r = Request("openai", "m", (Message("user", "x" * 400),), Sampling(1.0, 1.0, 50))
        assert TokenEstimator().estimate(r) == math.ceil((100 + 4 + 3) * 1.01) + 50

    def test_estimate_learns_the_providers_count_and_stays_above_it(self):
        """A provider counting 30% more tokens than four characters each: the estimate follows it,
        and ends just above the provider's count, never below."""
        estimator = TokenEstimator()
        r = Request("openai", "m", (Message("user", "x" * 4000),), Sampling(1.0, 1.0, 0))
        provider_count = math.ceil(1.3 * (1000 + 4 + 3))
        for _ in range(200):
            estimator.observe(r, provider_count)
        assert provider_count <= estimator.estimate(r) <= provider_count * 1.02
        estimator.observe(r, 0)  # a provider that reports no usage changes nothing
        assert provider_count <= estimator.estimate(r)

    def test_backoff_grows_and_is_capped(self):
        """Backoff doubles per attempt within [ceiling/2, ceiling], never above max_delay."""
        import random

        rng = random.Random(0)
        for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
            delay = backoff_delay(attempt, POLICY, rng)
            assert ceiling / 2 <= delay <= ceiling


class TestAdapting:
    @pytest.mark.asyncio
    async def test_provider_failing_in_a_row_cools_off_the_lane(self, tmp_path):
        """Five server errors in a row pause every request to the provider, and the display says why."""
        sleeps: list[float] = []
        provider = FakeProvider(failures=[ServerError("down", status=503)] * 5)
        lane = lane_with(provider, tmp_path, sleeps)
        lane.retry = RetryPolicy(max_attempts=10, initial_delay=1.0, max_delay=8.0)
        reasons: list[tuple[float, str]] = []
        original_pause = lane.admission.pause
        lane.admission.pause = lambda s, r="": (reasons.append((s, r)), original_pause(s, r))
        result = await lane.execute(request())
        assert result.completion is not None and result.attempts == 6
        assert reasons == [(15.0, "cooling off: 5 failures in a row")] and lane.stats.cool_offs == 1

    @pytest.mark.asyncio
    async def test_stated_limits_in_headers_slow_the_lane(self, tmp_path):
        """A response stating a lower limit than configured lowers the lane's admission rate."""
        def answer(r):
            completion = echo_completion(r)
            return type(completion)(completion.text, "stop", completion.usage, "m", "id",
                                    {"x-ratelimit-limit-requests": "120", "x-ratelimit-limit-tokens": "9000"})

        config = ProviderConfig("fake", "openai_compatible", "K", None, RateLimits(600, 100000, 4))
        lane = ProviderLane(config, FakeProvider(script=answer), CacheStore(tmp_path), POLICY)
        await lane.execute(request())
        snap = lane.snapshot(0.0)
        assert (lane.admission.requests_per_minute, lane.admission.tokens_per_minute) == (120, 9000)
        assert (snap.request_limit, snap.token_limit) == (120, 9000)


@pytest.mark.asyncio
async def test_an_answer_for_a_cancelled_caller_is_dropped_quietly(tmp_path):
    """A speech whose debate was cancelled (a run stopping) must not crash the worker delivering it."""
    lane = ProviderLane(CONFIG, FakeProvider(), CacheStore(tmp_path), POLICY)
    caller = asyncio.create_task(lane.call(request(7)))
    await asyncio.sleep(0)
    caller.cancel()
    worker = asyncio.create_task(lane.work())
    await asyncio.sleep(0.05)
    lane.stop()
    await asyncio.wait_for(worker, 1)  # returns normally: no InvalidStateError
    assert caller.cancelled()
