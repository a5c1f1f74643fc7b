"""Reading both vendors' rate-limit headers into the budget the server states."""

import datetime as dt

import pytest

from harness.ratelimits import ServerLimits, parse_duration, server_limits

NOW = dt.datetime(2025, 8, 21, 12, 40, 0, tzinfo=dt.UTC)


def test_openai_headers():
    """OpenAI's six headers, resets as Go durations; names in any case."""
    limits = server_limits({
        "X-RateLimit-Limit-Requests": "10000", "x-ratelimit-limit-tokens": "2000000",
        "x-ratelimit-remaining-requests": "9999", "x-ratelimit-remaining-tokens": "1999560",
        "x-ratelimit-reset-requests": "6ms", "x-ratelimit-reset-tokens": "2m59.56s",
    })
    assert limits == ServerLimits(10000, 2000000, 9999, 1999560, 0.006, 179.56)
    assert limits.states_a_limit


def test_anthropic_headers():
    """Anthropic's request and (most restrictive) token limits, resets as RFC 3339 times."""
    limits = server_limits({
        "anthropic-ratelimit-requests-limit": "4000", "anthropic-ratelimit-requests-remaining": "3999",
        "anthropic-ratelimit-requests-reset": "2025-08-21T12:40:01Z",
        "anthropic-ratelimit-tokens-limit": "96000", "anthropic-ratelimit-tokens-remaining": "95000",
        "anthropic-ratelimit-tokens-reset": "2025-08-21T12:40:59Z",
        "anthropic-ratelimit-input-tokens-limit": "80000", "retry-after": "3",
    }, now=NOW)
    assert limits == ServerLimits(4000, 96000, 3999, 95000, 1.0, 59.0)


def test_reset_in_the_past_is_zero_and_garbage_is_none():
    limits = server_limits({"anthropic-ratelimit-requests-limit": "lots",
                            "anthropic-ratelimit-requests-reset": "2020-01-01T00:00:00Z",
                            "anthropic-ratelimit-tokens-reset": "soon"}, now=NOW)
    assert limits == ServerLimits(requests_reset_s=0.0)
    assert not limits.states_a_limit


def test_no_headers_state_nothing():
    """Gemini sends no rate-limit headers."""
    assert server_limits({"content-type": "application/json"}) == ServerLimits()


@pytest.mark.parametrize(("text", "seconds"), [("1s", 1.0), ("6m0s", 360.0), ("12ms", 0.012),
                                               ("1h2m3s", 3723.0), ("0.5s", 0.5)])
def test_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5", "1d"])
def test_not_go_durations(text):
    assert parse_duration(text) is None
