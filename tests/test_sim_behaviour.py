"""The simulator's pure behaviour: bucket arithmetic on a fake clock, faults, seeds, token counts."""

import random

import pytest

from harness.sim.behaviour import (
    Bucket,
    FaultSchedule,
    ModelLimiter,
    RateLimits,
    anonymous_sample_key,
    count_prompt_tokens,
    count_tokens,
    latency,
    random_failure,
    reserved_tokens,
    sample_seed,
    truncate,
)
from harness.sim.config import Fault, ModelLimits, SimConfig


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestBucket:
    def test_holds_one_second_of_the_rate(self):
        """600/min holds 10: ten requests pass at once, the eleventh waits 0.1 s."""
        bucket = Bucket(600, floor=1)
        for _ in range(10):
            assert bucket.wait(1, 0.0) == 0
            bucket.take(1, 0.0)
        assert bucket.wait(1, 0.0) == pytest.approx(0.1)

    def test_refills_continuously(self):
        """Half the refill interval gives back half a unit."""
        bucket = Bucket(60, now=0.0)
        bucket.take(1, 0.0)
        assert bucket.level(0.5) == pytest.approx(0.5)
        assert bucket.wait(1, 0.5) == pytest.approx(0.5)

    def test_never_fills_past_capacity(self):
        """A long idle spell does not bank more than one second's worth."""
        bucket = Bucket(600, now=0.0)
        assert bucket.level(3600.0) == pytest.approx(10)

    def test_small_rates_hold_at_least_the_floor(self):
        """2 requests/min still admits one request, then waits 30 s for the next."""
        bucket = Bucket(2, floor=1, now=0.0)
        assert bucket.capacity == 1
        bucket.take(1, 0.0)
        assert bucket.wait(1, 0.0) == pytest.approx(30.0)
        assert bucket.wait(1, 30.0) == 0

    def test_cost_above_capacity_waits_for_a_full_bucket_and_leaves_debt(self):
        """6000 TPM holds 100: a 250-token request needs a full bucket, then leaves it 150 in debt."""
        bucket = Bucket(6000, now=0.0)
        bucket.take(50, 0.0)
        assert bucket.wait(250, 0.0) == pytest.approx(0.5)
        bucket.take(250, 0.5)
        assert bucket.level(0.5) == pytest.approx(-150)
        assert bucket.wait(1, 0.5) == pytest.approx(1.51)

    def test_give_refunds_up_to_capacity(self):
        """Refunds restore budget but never past capacity; a negative refund charges more."""
        bucket = Bucket(6000, now=0.0)
        bucket.take(80, 0.0)
        bucket.give(500, 0.0)
        assert bucket.level(0.0) == 100
        bucket.give(-30, 0.0)
        assert bucket.level(0.0) == 70

    def test_seconds_to_full(self):
        """Reset time is how long until the bucket is full again."""
        bucket = Bucket(60, now=0.0)
        bucket.take(1, 0.0)
        assert bucket.seconds_to_full(0.25) == pytest.approx(0.75)

    def test_rejects_non_positive_rates(self):
        """A zero rate is a programming error, not an endless wait."""
        with pytest.raises(ValueError):
            Bucket(0)


class TestModelLimiter:
    def test_admits_and_charges_both_dimensions(self):
        """An admitted request costs 1 request and its tokens."""
        limiter = ModelLimiter(ModelLimits(120, 60000), now=0.0)
        assert limiter.admit(300, 0.0).admitted
        state = limiter.state(0.0)
        assert (state.requests.remaining, state.tokens.remaining) == (1, 700)

    def test_refusal_charges_nothing_and_names_the_slower_dimension(self):
        """Tokens short by 0.5 s and requests by 0: retry after 0.5 s, limited by tokens, nothing taken."""
        limiter = ModelLimiter(ModelLimits(600, 60000), now=0.0)
        assert limiter.admit(900, 0.0).admitted
        decision = limiter.admit(600, 0.0)
        assert not decision.admitted
        assert decision.limited_by == "tokens"
        assert decision.retry_after == pytest.approx(0.5)
        state = limiter.state(0.0)
        assert (state.requests.remaining, state.tokens.remaining) == (9, 100)

    def test_waiting_the_retry_after_is_enough(self):
        """A client that sleeps exactly retry_after is admitted."""
        limiter = ModelLimiter(ModelLimits(2), now=0.0)
        assert limiter.admit(10, 0.0).admitted
        decision = limiter.admit(10, 1.0)
        assert decision.limited_by == "requests"
        assert decision.retry_after == pytest.approx(29.0)
        assert limiter.admit(10, 1.0 + decision.retry_after).admitted

    def test_more_tokens_than_the_minute_allows_is_too_large(self):
        """A request above the whole TPM limit can never pass: too large, no retry-after."""
        limiter = ModelLimiter(ModelLimits(tokens_per_minute=1000), now=0.0)
        decision = limiter.admit(1001, 0.0)
        assert (decision.admitted, decision.too_large, decision.retry_after) == (False, True, None)
        assert limiter.state(0.0).tokens.remaining == 16

    def test_settle_refunds_unused_max_tokens(self):
        """Reserved 1000, used 400: 600 come back."""
        limiter = ModelLimiter(ModelLimits(tokens_per_minute=120000), now=0.0)
        limiter.admit(1000, 0.0)
        limiter.settle(1000, 400, 0.0)
        assert limiter.state(0.0).tokens.remaining == 1600

    def test_settle_charges_output_beyond_the_reservation(self):
        """Without max_tokens only the prompt is reserved; the output is charged afterwards."""
        limiter = ModelLimiter(ModelLimits(tokens_per_minute=120000), now=0.0)
        limiter.admit(100, 0.0)
        limiter.settle(100, 700, 0.0)
        assert limiter.state(0.0).tokens.remaining == 1300

    def test_state_reports_limit_remaining_and_reset(self):
        """Headers' figures: per-minute limit, whole units left, seconds until full."""
        limiter = ModelLimiter(ModelLimits(requests_per_minute=60), now=0.0)
        limiter.admit(1, 0.0)
        state = limiter.state(0.0)
        assert state.tokens is None
        assert (state.requests.limit, state.requests.remaining, state.requests.reset) == (60, 0, 1.0)


class TestRateLimits:
    def test_models_without_limits_are_unlimited(self):
        """No limits and no default: everything passes and no state is reported."""
        limits = RateLimits({}, clock=FakeClock())
        assert all(limits.admit("m", 10**9).admitted for _ in range(100))
        assert limits.state("m").requests is None and limits.state("m").tokens is None

    def test_default_applies_to_unlisted_models_each_with_its_own_buckets(self):
        """The default limit is per model, not shared."""
        limits = RateLimits({"a": ModelLimits(120)}, ModelLimits(60), clock=FakeClock())
        assert limits.admit("a", 1).admitted and limits.admit("a", 1).admitted
        assert not limits.admit("a", 1).admitted
        assert limits.admit("b", 1).admitted and limits.admit("c", 1).admitted
        assert not limits.admit("b", 1).admitted

    def test_clock_drives_refill(self):
        """Moving the injected clock is all it takes to refill."""
        clock = FakeClock()
        limits = RateLimits({"a": ModelLimits(60)}, clock=clock)
        assert limits.admit("a", 1).admitted
        assert limits.admit("a", 1).retry_after == pytest.approx(1.0)
        clock.now += 1.0
        assert limits.admit("a", 1).admitted

    def test_config_lookup(self):
        """SimConfig.limits_for falls back to the default."""
        config = SimConfig(limits={"a": ModelLimits(1)}, default=ModelLimits(2))
        assert config.limits_for("a") == ModelLimits(1)
        assert config.limits_for("zzz") == ModelLimits(2)


class TestFaultSchedule:
    def test_faults_answer_count_requests_in_order(self):
        """Two 500s, then one 503, then nothing."""
        schedule = FaultSchedule([Fault(500, count=2), Fault(503)])
        assert schedule.pending == 3
        assert [f.status if f else None for f in (schedule.take("m") for _ in range(4))] == [500, 500, 503, None]

    def test_model_filter(self):
        """A fault for one model leaves the others alone."""
        schedule = FaultSchedule([Fault(529, model="claude")])
        assert schedule.take("gpt") is None
        assert schedule.take("claude").status == 529
        assert schedule.pending == 0

    def test_clear(self):
        """clear() drops everything pending."""
        schedule = FaultSchedule([Fault(500, count=5)])
        schedule.clear()
        assert schedule.take("m") is None

    @pytest.mark.parametrize("kwargs", [{"status": 200}, {"status": 500, "count": 0},
                                        {"status": 429, "retry_after": -1}])
    def test_invalid_faults(self, kwargs):
        """Statuses outside 400-599, zero counts and negative waits are rejected."""
        with pytest.raises(ValueError):
            Fault(**kwargs)

    def test_random_failures(self):
        """Rate 0 never fails; rate 1 always does, with a route-appropriate 5xx."""
        rng = random.Random(0)
        assert random_failure(rng, 0.0, False) is None
        assert {random_failure(rng, 1.0, True) for _ in range(50)} == {500, 529}
        assert {random_failure(rng, 1.0, False) for _ in range(50)} == {500, 503}


class TestSeedsAndTokens:
    def test_sample_seed_is_stable_and_distinct(self):
        """Same inputs, same seed; any change of seed, key or choice changes it."""
        base = sample_seed(1, "abc", 0)
        assert base == sample_seed(1, "abc", 0)
        assert len({base, sample_seed(2, "abc", 0), sample_seed(1, "abd", 0), sample_seed(1, "abc", 1)}) == 4

    def test_anonymous_keys_differ_per_call(self):
        """Identical bodies without a sample key get different keys (like real samples)."""
        assert anonymous_sample_key(b"{}", 0) != anonymous_sample_key(b"{}", 1)

    def test_token_counts(self):
        """ceil(chars / 4); a prompt adds 3 framing tokens per message and 3 for the reply."""
        assert [count_tokens(t) for t in ("", "abc", "abcd", "abcde")] == [0, 1, 1, 2]
        assert count_prompt_tokens(["abcd", "abcdefgh"]) == 1 + 3 + 2 + 3 + 3

    def test_reservation_counts_the_prompt_once_and_max_tokens_per_choice(self):
        """OpenAI's admission charge: prompt + max_tokens × n."""
        assert reserved_tokens(100, 50, 3) == 250
        assert reserved_tokens(100, None, 3) == 100

    def test_truncate(self):
        """Text longer than max_tokens is cut to max_tokens × 4 characters and flagged."""
        assert truncate("a" * 10, 2) == ("a" * 8, True)
        assert truncate("a" * 8, 2) == ("a" * 8, False)
        assert truncate("a" * 8, None) == ("a" * 8, False)

    def test_latency(self):
        """First-token time plus time per output token."""
        assert latency(0.2, 0.002, 100) == pytest.approx(0.4)
