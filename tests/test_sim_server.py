"""The simulated provider over real HTTP, through the official SDKs on their aiohttp transport."""

import asyncio
import datetime as dt
import json

import aiohttp
import anthropic
import openai
import pytest

import harness.sim
from harness.sim import Fault, ModelLimits, SimConfig, SimServer, serve_forever
from harness.votes import parse_vote

FAST = {"time_to_first_token": 0.0, "seconds_per_output_token": 0.0}
VOTE = ('We are now conducting a pre-debate survey. Please reply in JSON format, using either '
        '{"pre-debate stance": "open source"} or {"pre-debate stance": "closed source"}, with a reason.')
SPEECH = ('You are the negative debater in a Lincoln-Douglas debate on the topic, "Resolved: A highly capable '
          'AI model should be closed source."\n\nPresider: Please provide your constructive speech.')
KEY = "sk-do-not-keep-me"


def server(**config) -> SimServer:
    return SimServer(SimConfig(**{**FAST, **config}))


def openai_client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=KEY, base_url=base_url, http_client=openai.DefaultAioHttpClient(),
                              max_retries=0, timeout=10)


def anthropic_client(base_url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=KEY, base_url=base_url, http_client=anthropic.DefaultAioHttpClient(),
                                    max_retries=0, timeout=10)


async def ask_openai(client, content=VOTE, model="gpt-4", **kwargs):
    return await client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}],
                                                **kwargs)


async def ask_anthropic(client, content=VOTE, model="claude-2.1", max_tokens=400, **kwargs):
    return await client.messages.create(model=model, max_tokens=max_tokens,
                                        messages=[{"role": "user", "content": content}], **kwargs)


def test_public_names():
    """The package exports exactly its documented names."""
    assert harness.sim.__all__ == ["Fault", "ModelLimits", "SimConfig", "SimServer", "make_app", "serve_forever"]


@pytest.mark.asyncio
async def test_openai_vote_is_answered_and_parsed():
    """A survey prompt gets a parseable open-source vote, with usage and a request id."""
    async with server() as sim, openai_client(sim.openai_base_url) as client:
        response = await ask_openai(client, max_completion_tokens=400, temperature=1.0, top_p=1.0)
    assert response.object == "chat.completion" and response.model == "gpt-4"
    assert parse_vote(response.choices[0].message.content).stance == "open"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    assert response._request_id.startswith("req_")


@pytest.mark.asyncio
async def test_anthropic_vote_with_system_blocks_and_sampling_in_extra_body():
    """Messages format: text block, end_turn, input/output usage; temperature/top_p accepted."""
    async with server() as sim, anthropic_client(sim.anthropic_base_url) as client:
        message = await ask_anthropic(client, system=[{"type": "text", "text": "Be brief."}],
                                      extra_body={"temperature": 1.0, "top_p": 0.7})
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert parse_vote(message.content[0].text).stance == "open"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.asyncio
async def test_n_gives_independent_choices():
    """n=3: three choices, each its own sample, output billed across all of them."""
    async with server() as sim, openai_client(sim.openai_base_url) as client:
        response = await ask_openai(client, SPEECH, n=3, max_completion_tokens=1200)
    texts = [c.message.content for c in response.choices]
    assert [c.index for c in response.choices] == [0, 1, 2]
    assert len(set(texts)) == 3
    assert response.usage.completion_tokens == sum(-(-len(t) // 4) for t in texts)


@pytest.mark.asyncio
async def test_max_tokens_cuts_the_answer():
    """An answer longer than max tokens is cut: "length" / "max_tokens"."""
    async with server() as sim, openai_client(sim.gemini_base_url) as oai, \
            anthropic_client(sim.anthropic_base_url) as ant:
        response = await ask_openai(oai, SPEECH, model="gemini-pro", max_tokens=20)
        message = await ask_anthropic(ant, SPEECH, max_tokens=20)
    assert response.choices[0].finish_reason == "length" and response.usage.completion_tokens == 20
    assert response.choices[0].message.content.startswith("[simulated gemini, negative]")
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 20


@pytest.mark.asyncio
async def test_sample_key_makes_answers_repeatable():
    """Same x-harness-sample-key, same answer; without one, identical requests differ like samples."""
    async with server(seed=5) as sim, openai_client(sim.openai_base_url) as client:
        keyed = [await ask_openai(client, SPEECH, extra_headers={"x-harness-sample-key": "ab12"}) for _ in range(2)]
        other = await ask_openai(client, SPEECH, extra_headers={"x-harness-sample-key": "ab13"})
        plain = [await ask_openai(client, SPEECH) for _ in range(2)]
    texts = [r.choices[0].message.content for r in (*keyed, other, *plain)]
    assert texts[0] == texts[1]
    assert len(set(texts[1:])) == 4


@pytest.mark.asyncio
async def test_rate_limit_headers_on_both_routes():
    """OpenAI x-ratelimit-* with Go durations; Anthropic anthropic-ratelimit-* with RFC 3339 resets."""
    limits = {"gpt-4": ModelLimits(600, 60000), "claude-2.1": ModelLimits(600, 60000)}
    async with server(limits=limits) as sim, openai_client(sim.openai_base_url) as oai, \
            anthropic_client(sim.anthropic_base_url) as ant:
        raw = await oai.chat.completions.with_raw_response.create(
            model="gpt-4", messages=[{"role": "user", "content": VOTE}], max_completion_tokens=400)
        raw.parse()
        ant_raw = await ant.messages.with_raw_response.create(
            model="claude-2.1", max_tokens=400, messages=[{"role": "user", "content": VOTE}])
        await ant_raw.parse()
        unlimited = await oai.chat.completions.with_raw_response.create(
            model="unlimited", messages=[{"role": "user", "content": VOTE}])
    h = raw.headers
    assert (h["x-ratelimit-limit-requests"], h["x-ratelimit-remaining-requests"]) == ("600", "9")
    assert h["x-ratelimit-limit-tokens"] == "60000" and int(h["x-ratelimit-remaining-tokens"]) < 1000
    assert h["x-ratelimit-reset-requests"].endswith("ms") and h["x-request-id"].startswith("req_")
    a = ant_raw.headers
    assert (a["anthropic-ratelimit-requests-limit"], a["anthropic-ratelimit-requests-remaining"]) == ("600", "9")
    assert "anthropic-ratelimit-tokens-remaining" in a and a["request-id"].startswith("req_")
    reset = dt.datetime.fromisoformat(a["anthropic-ratelimit-tokens-reset"].replace("Z", "+00:00"))
    assert reset.tzinfo is not None
    assert not any(k.startswith("x-ratelimit-") for k in unlimited.headers)


@pytest.mark.asyncio
async def test_openai_429_when_the_rpm_is_exceeded():
    """2 RPM: the second request at once is a RateLimitError with retry-after 30 s, and nothing is charged."""
    async with server(limits={"gpt-4": ModelLimits(requests_per_minute=2)}) as sim, \
            openai_client(sim.openai_base_url) as client:
        await ask_openai(client)
        with pytest.raises(openai.RateLimitError) as info:
            await ask_openai(client)
        stats = sim.stats()
    error = info.value
    assert error.code == "rate_limit_exceeded" and error.type == "requests"
    assert error.response.headers["retry-after"] == "30"
    assert 29000 < int(error.response.headers["retry-after-ms"]) <= 30000
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert (stats["requests"], stats["ok"], stats["rate_limited"]) == (2, 1, 1)
    assert stats["by_model"]["gpt-4"]["rate_limited"] == 1


@pytest.mark.asyncio
async def test_anthropic_and_gemini_429s():
    """Anthropic's rate_limit_error body; Gemini's list-shaped 429 still raises RateLimitError."""
    limits = {"claude-2.1": ModelLimits(2), "gemini-pro": ModelLimits(2)}
    async with server(limits=limits) as sim, anthropic_client(sim.anthropic_base_url) as ant, \
            openai_client(sim.gemini_base_url) as gem:
        await ask_anthropic(ant)
        with pytest.raises(anthropic.RateLimitError) as ant_info:
            await ask_anthropic(ant)
        await ask_openai(gem, model="gemini-pro")
        with pytest.raises(openai.RateLimitError) as gem_info:
            await ask_openai(gem, model="gemini-pro")
    assert ant_info.value.body["error"]["type"] == "rate_limit_error"
    assert ant_info.value.response.headers["retry-after"] == "30"
    assert ant_info.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert isinstance(gem_info.value.body, list)
    assert gem_info.value.response.headers["retry-after"] == "30"


@pytest.mark.asyncio
async def test_token_limit_refunds_unused_max_tokens():
    """A TPM bucket charged prompt + max_tokens on admission gets the unused part back afterwards."""
    async with server(limits={"gpt-4": ModelLimits(tokens_per_minute=120000)}) as sim, \
            openai_client(sim.openai_base_url) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4", messages=[{"role": "user", "content": VOTE}], max_completion_tokens=1500)
        usage = raw.parse().usage
    remaining = int(raw.headers["x-ratelimit-remaining-tokens"])
    assert 2000 - usage.total_tokens <= remaining <= 2000 - usage.total_tokens + 5


@pytest.mark.asyncio
async def test_request_larger_than_the_tpm_is_too_large():
    """More tokens than a whole minute allows: 429 "Request too large", without retry-after."""
    async with server(limits={"gpt-4": ModelLimits(tokens_per_minute=1000)}) as sim, \
            openai_client(sim.openai_base_url) as client:
        with pytest.raises(openai.RateLimitError) as info:
            await ask_openai(client, max_completion_tokens=5000)
    assert info.value.body["message"].startswith("Request too large for gpt-4")
    assert "retry-after" not in info.value.response.headers


@pytest.mark.asyncio
async def test_injected_faults():
    """500 → InternalServerError; 529 on Anthropic → OverloadedError; 429 fault carries retry-after."""
    async with server() as sim, openai_client(sim.openai_base_url) as oai, \
            anthropic_client(sim.anthropic_base_url) as ant:
        sim.add_fault(500, count=2, model="gpt-4")
        sim.add_fault(529, model="claude-2.1")
        sim.add_fault(429, model="gpt-3.5", retry_after=2.5)
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await ask_openai(oai)
        await ask_openai(oai)
        with pytest.raises(anthropic.OverloadedError) as overloaded:
            await ask_anthropic(ant)
        with pytest.raises(openai.RateLimitError) as limited:
            await ask_openai(oai, model="gpt-3.5")
        stats = sim.stats()
    assert overloaded.value.status_code == 529 and overloaded.value.body["error"]["type"] == "overloaded_error"
    assert limited.value.response.headers["retry-after"] == "3"
    assert limited.value.response.headers["retry-after-ms"] == "2500"
    assert (stats["requests"], stats["faults"], stats["ok"], stats["pending_faults"]) == (5, 4, 1, 0)


@pytest.mark.asyncio
async def test_faults_and_stats_over_http():
    """POST /sim/faults schedules faults, GET /sim/stats reports them, GET /health answers."""
    async with server(faults=(Fault(503),)) as sim, aiohttp.ClientSession() as http, \
            openai_client(sim.openai_base_url) as client:
        async with http.post(f"{sim.url}/sim/faults", json=[{"status": 500, "count": 2}]) as response:
            assert response.status == 200 and await response.json() == {"added": 1, "pending": 3}
        async with http.post(f"{sim.url}/sim/faults", json={"status": 700}) as response:
            assert response.status == 400
        async with http.post(f"{sim.url}/sim/faults", json={"status": 500, "api_key": "x"}) as response:
            assert response.status == 400
        for _ in range(3):
            with pytest.raises(openai.InternalServerError):
                await ask_openai(client)
        async with http.get(f"{sim.url}/sim/stats") as response:
            stats = await response.json()
        async with http.get(f"{sim.url}/health") as response:
            assert await response.json() == {"status": "ok"}
    assert stats["faults"] == 3 and stats["by_status"] == {"500": 2, "503": 1}


@pytest.mark.asyncio
async def test_malformed_requests_get_400_in_the_providers_shape():
    """Bad JSON and missing fields are 400s shaped like each provider's errors; streaming is refused."""
    async with server() as sim, aiohttp.ClientSession() as http, openai_client(sim.openai_base_url) as client:
        async with http.post(f"{sim.openai_base_url}/chat/completions", data=b"{oops") as response:
            assert response.status == 400
            error = (await response.json())["error"]
            assert set(error) == {"message", "type", "param", "code"}
        async with http.post(f"{sim.url}/v1/messages", json={"model": "claude-2.1", "messages": []}) as response:
            assert response.status == 400
            body = await response.json()
            assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        async with http.post(f"{sim.openai_base_url}/chat/completions", json={"messages": []}) as response:
            assert (await response.json())["error"]["param"] == "model"
        with pytest.raises(openai.BadRequestError, match="streaming is not supported"):
            await ask_openai(client, stream=True)
        stats = sim.stats()
    assert (stats["requests"], stats["bad_requests"]) == (4, 4)


@pytest.mark.asyncio
async def test_latency_and_concurrency():
    """Answers take the first-token time; concurrent requests overlap rather than queue."""
    config = SimConfig(time_to_first_token=0.2, seconds_per_output_token=0.0)
    async with SimServer(config) as sim, openai_client(sim.openai_base_url) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(ask_openai(client) for _ in range(10)))
        elapsed = loop.time() - start
        stats = sim.stats()
    assert 0.2 <= elapsed < 1.0
    assert stats["max_in_flight"] == 10 and stats["in_flight"] == 0


@pytest.mark.asyncio
async def test_api_keys_are_not_kept():
    """The simulator accepts any key and keeps nothing of it."""
    async with server() as sim, openai_client(sim.openai_base_url) as oai, \
            anthropic_client(sim.anthropic_base_url) as ant:
        await ask_openai(oai)
        await ask_anthropic(ant)
        assert KEY not in json.dumps(sim.stats())
        assert KEY not in repr(vars(sim._simulator))


@pytest.mark.asyncio
async def test_serve_forever_prints_its_urls_and_stops_when_cancelled(capsys):
    """The standalone server reports where it listens and shuts down on cancellation."""
    task = asyncio.create_task(serve_forever(SimConfig(port=0)))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if "Anthropic base URL" in capsys.readouterr().out:
            break
    else:
        pytest.fail("serve_forever printed nothing")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_explicit_n_rejected_where_configured_and_random_failures():
    """Models listed in reject_explicit_n refuse even n=1; failure_rate=1 fails every request with a 5xx."""
    async with server(reject_explicit_n=("gpt-5",)) as sim, openai_client(sim.openai_base_url) as client:
        with pytest.raises(openai.BadRequestError):
            await ask_openai(client, model="gpt-5", n=1)
        await ask_openai(client, model="gpt-5")
    async with server(failure_rate=1.0) as sim, anthropic_client(sim.anthropic_base_url) as client:
        for _ in range(4):
            with pytest.raises(anthropic.InternalServerError) as info:
                await ask_anthropic(client)
            assert info.value.status_code in (500, 529)
        assert sim.stats()["faults"] == 4
