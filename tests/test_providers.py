"""The provider adapters against the simulated provider over real loopback HTTP.

Each adapter must turn the SDK's answers into a `Completion` and its failures into the harness's
own errors (rate-limited with its retry-after, server error, timeout, connection failure, refused
key, rejected request), so the scheduler can decide what to do without knowing any SDK.
"""

import socket

import pytest

from harness.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ProviderTimeout,
    RateLimited,
    RequestRejected,
    ServerError,
)
from harness.providers import create_provider
from harness.records import Message, Request, Sampling
from harness.sim import ModelLimits, SimConfig, SimServer
from harness.votes import parse_vote

VOTE = ('I am inviting you as an audience member to a debate. We are now conducting a pre-debate survey. '
        'Please reply in JSON format, using either {"pre-debate stance": "open source"} or '
        '{"pre-debate stance": "closed source"}, with a reason.')
KINDS = {  # provider kind → (model id, which base URL of the simulator)
    "openai": ("gpt-4-1106-preview", "openai_base_url"),
    "gemini": ("gemini-pro", "gemini_base_url"),
    "openai_compatible": ("mistralai/Mixtral-8x7B-Instruct-v0.1", "openai_base_url"),
    "anthropic": ("claude-2.1", "anthropic_base_url"),
}


def vote_request(kind: str, sample: str = "0", max_tokens: int = 400) -> Request:
    model = KINDS[kind][0]
    messages = (Message("system", "You are an audience member."), Message("user", VOTE))
    return Request(kind, model, messages, Sampling(1.0, 0.7, max_tokens), sample, simulated=True)


def adapter(kind: str, sim: SimServer, *, timeout: float = 10.0):
    base_url = getattr(sim, KINDS[kind][1])
    return create_provider(f"test-{kind}", kind, api_key="sk-test", base_url=base_url, timeout=timeout,
                           simulated=True)


def fast_sim(**config) -> SimServer:
    return SimServer(SimConfig(time_to_first_token=0.0, seconds_per_output_token=0.0, **config))


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_answer_becomes_a_completion(kind):
    """Text, finish reason, usage, model, request id and rate-limit headers all come through."""
    async with fast_sim(limits={KINDS[kind][0]: ModelLimits(600, 100_000)}) as sim:
        provider = adapter(kind, sim)
        try:
            completion = await provider.complete(vote_request(kind))
        finally:
            await provider.aclose()
    assert parse_vote(completion.text).stance == "open"
    assert completion.finish_reason in ("stop", "end_turn")
    assert completion.usage.input_tokens > 20 and completion.usage.output_tokens > 5
    assert completion.model == KINDS[kind][0] and completion.request_id
    prefix = "anthropic-ratelimit-" if kind == "anthropic" else "x-ratelimit-"
    assert completion.rate_limits[f"{prefix}{'requests-limit' if kind == 'anthropic' else 'limit-requests'}"] == "600"


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_same_sample_same_answer_other_sample_other_answer(kind):
    """The simulator draws from the request's sample key, so a draw is reproducible."""
    async with fast_sim(seed=7) as sim:
        provider = adapter(kind, sim)
        try:
            first = await provider.complete(vote_request(kind, "3"))
            again = await provider.complete(vote_request(kind, "3"))
            others = {(await provider.complete(vote_request(kind, str(i)))).text for i in range(6)}
        finally:
            await provider.aclose()
    assert first.text == again.text
    assert len(others) > 1


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_answer_cut_at_max_tokens_reports_length(kind):
    """A reply cut by max_tokens says so in its finish reason."""
    async with fast_sim() as sim:
        provider = adapter(kind, sim)
        try:
            completion = await provider.complete(vote_request(kind, max_tokens=3))
        finally:
            await provider.aclose()
    assert completion.finish_reason in ("length", "max_tokens") and completion.usage.output_tokens == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_rate_limit_is_rate_limited_with_retry_after(kind):
    """Over the simulator's limit: RateLimited carrying the server's wait, not an SDK exception."""
    async with fast_sim(limits={KINDS[kind][0]: ModelLimits(requests_per_minute=1)}) as sim:
        provider = adapter(kind, sim)
        try:
            await provider.complete(vote_request(kind, "0"))
            with pytest.raises(RateLimited) as caught:
                await provider.complete(vote_request(kind, "1"))
        finally:
            await provider.aclose()
    error = caught.value
    assert error.status == 429 and error.provider == f"test-{kind}" and error.model == KINDS[kind][0]
    assert 30 <= error.retry_after <= 61


@pytest.mark.asyncio
@pytest.mark.parametrize(("kind", "status"), [("openai", 500), ("openai", 503), ("anthropic", 529),
                                              ("anthropic", 500), ("gemini", 503)])
async def test_server_errors_are_server_errors(kind, status):
    """5xx (and Anthropic's 529 overloaded) map to the retryable ServerError."""
    async with fast_sim() as sim:
        sim.add_fault(status, retry_after=2)
        provider = adapter(kind, sim)
        try:
            with pytest.raises(ServerError) as caught:
                await provider.complete(vote_request(kind))
            recovered = await provider.complete(vote_request(kind))
        finally:
            await provider.aclose()
    assert caught.value.status == status and caught.value.retry_after == 2
    assert recovered.text


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_refused_key_and_bad_request(kind):
    """401 is AuthenticationFailed; 400 is a RequestRejected that is not retried."""
    async with fast_sim() as sim:
        sim.add_fault(401)
        sim.add_fault(400, message="max_tokens is too large")
        provider = adapter(kind, sim)
        try:
            with pytest.raises(AuthenticationFailed):
                await provider.complete(vote_request(kind))
            with pytest.raises(RequestRejected) as caught:
                await provider.complete(vote_request(kind))
        finally:
            await provider.aclose()
    assert not isinstance(caught.value, AuthenticationFailed)
    assert "max_tokens is too large" in str(caught.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_permanent_429_is_not_retryable(kind):
    """A 429 for exhausted quota will not clear by waiting: RequestRejected, not RateLimited."""
    async with fast_sim() as sim:
        sim.add_fault(429, message="Request too large for gpt-4 on tokens per min (TPM)")
        provider = adapter(kind, sim)
        try:
            with pytest.raises(RequestRejected):
                await provider.complete(vote_request(kind))
        finally:
            await provider.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_slow_answer_is_a_timeout(kind):
    """No answer within the adapter's timeout: ProviderTimeout."""
    async with SimServer(SimConfig(time_to_first_token=3.0)) as sim:
        provider = adapter(kind, sim, timeout=0.3)
        try:
            with pytest.raises(ProviderTimeout):
                await provider.complete(vote_request(kind))
        finally:
            await provider.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_refused_connection_is_a_connection_failure(kind):
    """Nothing listening: ConnectionFailed (openai over aiohttp reports it as a timeout; not here)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}" + ("/v1" if kind != "anthropic" else "")
    provider = create_provider("down", kind, api_key="sk-test", base_url=base_url, timeout=5, simulated=True)
    try:
        with pytest.raises(ConnectionFailed):
            await provider.complete(vote_request(kind))
    finally:
        await provider.aclose()
