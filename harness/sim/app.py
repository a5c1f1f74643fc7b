"""The simulated provider as a real aiohttp server on loopback: routes, running state, the runner.

Routes:

    POST   /v1/chat/completions             OpenAI Chat Completions
    POST   /v1beta/openai/chat/completions  Gemini's OpenAI-compatible path (its 429 body is a list)
    POST   /v1/messages                     Anthropic Messages
    GET    /sim/stats                       counters as JSON, as `SimServer.stats()` returns them
    POST   /sim/faults                      schedule faults: one JSON object or a list of them, with
                                            the fields of `Fault`, e.g. {"status": 503, "count": 2,
                                            "model": "gpt-4", "retry_after": 1.5}; answers
                                            {"added": n, "pending": requests still to fault}
    DELETE /sim/faults                      drop every pending fault
    GET    /health                          {"status": "ok"}

A completion request goes: validation (400 in the provider's error shape) → a scheduled fault or
random failure → the rate limits (429, nothing charged; see `behaviour`) → the persona's answers,
one per choice → the simulated latency → the token charge settled to actual use → 200. Every
answer carries the route's rate-limit headers and a request id.

API keys are never read: any Authorization or x-api-key header is accepted, and no header is
logged or kept (the access log is off).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import orjson
from aiohttp import web

from . import personas
from .behaviour import (
    REQUESTS,
    Decision,
    FaultSchedule,
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
from .config import Fault, SimConfig
from .wire import (
    ANTHROPIC,
    GEMINI,
    OPENAI,
    BadRequest,
    ChatRequest,
    completion_body,
    error_body,
    limit_headers,
    parse_request,
    rate_limit_message,
    retry_headers,
)

SAMPLE_KEY_HEADER = "x-harness-sample-key"
MAX_BODY_BYTES = 32 * 1024 * 1024
"""Anthropic's Messages limit; aiohttp's 1 MiB default would cut long transcripts."""


@dataclass
class _Counts:
    requests: int = 0
    ok: int = 0
    rate_limited: int = 0
    faults: int = 0
    bad_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Simulator:
    """The server's state: limits, pending faults, counters; one per app."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.limits = RateLimits(config.limits, config.default)
        self.faults = FaultSchedule(config.faults)
        self._failures = random.Random(f"{config.seed}:failures")
        self._anonymous = itertools.count()
        self._totals = _Counts()
        self._models: dict[str, _Counts] = {}
        self._statuses: Counter[int] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0

    def stats(self) -> dict[str, Any]:
        """A snapshot: totals, per model, per status, concurrency and pending faults."""
        return {
            **_without(asdict(self._totals), "prompt_tokens", "completion_tokens"),
            "by_model": {model: _without(asdict(counts), "bad_requests") for model, counts in self._models.items()},
            "by_status": {str(status): n for status, n in sorted(self._statuses.items())},
            "in_flight": self._in_flight,
            "max_in_flight": self._max_in_flight,
            "pending_faults": self.faults.pending,
        }

    async def complete(self, api: str, body: bytes, sample_key: str | None) -> web.Response:
        """Answer one completion request on route `api` (see the module docstring for the steps)."""
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        headers = {"x-request-id": request_id, "request-id": request_id}
        self._totals.requests += 1
        try:
            request = parse_request(api, body)
            if request.n_given and request.model in self.config.reject_explicit_n:
                raise BadRequest("n: this model does not accept the n parameter", "n")
        except BadRequest as exc:
            self._totals.bad_requests += 1
            return self._respond(400, error_body(api, 400, exc.message, param=exc.param,
                                                 request_id=request_id), headers)
        counts = self._models.setdefault(request.model, _Counts())
        counts.requests += 1
        failure = self._fault_response(request, headers, request_id)
        if failure is not None:
            self._totals.faults += 1
            counts.faults += 1
            return failure
        prompt_tokens = count_prompt_tokens(text for _, text in request.messages)
        reserved = reserved_tokens(prompt_tokens, request.max_tokens, request.n)
        decision = self.limits.admit(request.model, reserved)
        if not decision.admitted:
            self._totals.rate_limited += 1
            counts.rate_limited += 1
            return self._rate_limited(request, decision, reserved, headers, request_id)
        payload, output_tokens = await self._answer(request, body, sample_key, prompt_tokens, reserved, headers)
        self._totals.ok += 1
        counts.ok += 1
        counts.prompt_tokens += prompt_tokens
        counts.completion_tokens += output_tokens
        return self._respond(200, payload, headers)

    async def _answer(self, request: ChatRequest, body: bytes, sample_key: str | None, prompt_tokens: int,
                      reserved: int, headers: dict[str, str]) -> tuple[dict[str, Any], int]:
        """Generate, wait out the latency, settle the token charge: the 200 body and output tokens."""
        answers = [truncate(text, request.max_tokens) for text in self._texts(request, body, sample_key)]
        output = [count_tokens(text) for text, _ in answers]
        delay = latency(self.config.time_to_first_token, self.config.seconds_per_output_token, max(output))
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            self._in_flight -= 1
            self.limits.settle(request.model, reserved, prompt_tokens + sum(output))
        headers.update(limit_headers(request.api, self.limits.state(request.model), time.time()))
        if request.api == ANTHROPIC:
            response_id = f"msg_{uuid.uuid4().hex[:24]}"
        else:
            response_id = f"chatcmpl-{uuid.uuid4().hex}"
            headers["openai-processing-ms"] = str(round(delay * 1000))
        payload = completion_body(request, answers, prompt_tokens, sum(output),
                                  response_id=response_id, created=int(time.time()))
        return payload, sum(output)

    def _texts(self, request: ChatRequest, body: bytes, sample_key: str | None) -> list[str]:
        """One persona answer per choice, seeded by the sample key (or by the body and a counter)."""
        key = sample_key or anonymous_sample_key(body, next(self._anonymous))
        return [personas.reply(request.model, request.messages, sample_seed(self.config.seed, key, i))
                for i in range(request.n)]

    def _fault_response(self, request: ChatRequest, headers: dict[str, str],
                        request_id: str) -> web.Response | None:
        fault = self.faults.take(request.model)
        if fault is None:
            status = random_failure(self._failures, self.config.failure_rate, request.api == ANTHROPIC)
            if status is None:
                return None
            fault = Fault(status)
        retry_after = fault.retry_after if fault.retry_after is not None else (1.0 if fault.status == 429 else None)
        headers.update(limit_headers(request.api, self.limits.state(request.model), time.time()))
        if retry_after is not None:
            headers.update(retry_headers(retry_after))
        kind, code = ("requests", "rate_limit_exceeded") if fault.status == 429 else (None, None)
        body = error_body(request.api, fault.status, fault.message, model=request.model, kind=kind, code=code,
                          request_id=request_id, retry_after=retry_after)
        return self._respond(fault.status, body, headers)

    def _rate_limited(self, request: ChatRequest, decision: Decision, reserved: int, headers: dict[str, str],
                      request_id: str) -> web.Response:
        state = self.limits.state(request.model)
        dimension = getattr(state, decision.limited_by)
        requested = 1 if decision.limited_by == REQUESTS else reserved
        message = rate_limit_message(request.model, decision.limited_by, dimension, requested, decision.retry_after)
        headers.update(limit_headers(request.api, state, time.time()))
        if decision.retry_after is not None:
            headers.update(retry_headers(decision.retry_after))
        body = error_body(request.api, 429, message, model=request.model, kind=decision.limited_by,
                          code="rate_limit_exceeded", request_id=request_id, retry_after=decision.retry_after)
        return self._respond(429, body, headers)

    def _respond(self, status: int, payload: Any, headers: dict[str, str]) -> web.Response:
        self._statuses[status] += 1
        return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json",
                            headers=headers)


SIMULATOR = web.AppKey("simulator", Simulator)


def _without(counts: dict[str, int], *names: str) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k not in names}


def make_app(config: SimConfig) -> web.Application:
    """An aiohttp application serving the simulated provider described by `config`."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SIMULATOR] = Simulator(config)
    app.router.add_post("/v1/chat/completions", _completion_handler(OPENAI))
    app.router.add_post("/v1beta/openai/chat/completions", _completion_handler(GEMINI))
    app.router.add_post("/v1/messages", _completion_handler(ANTHROPIC))
    app.router.add_get("/sim/stats", _stats)
    app.router.add_post("/sim/faults", _add_faults)
    app.router.add_delete("/sim/faults", _clear_faults)
    app.router.add_get("/health", _health)
    return app


def _completion_handler(api: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        return await request.app[SIMULATOR].complete(api, body, request.headers.get(SAMPLE_KEY_HEADER))
    return handle


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR].stats())


async def _add_faults(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    try:
        faults = faults_from_json(await request.read())
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    for fault in faults:
        simulator.faults.add(fault)
    return web.json_response({"added": len(faults), "pending": simulator.faults.pending})


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[SIMULATOR].faults.clear()
    return web.json_response({"pending": 0})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def faults_from_json(body: bytes) -> list[Fault]:
    """Faults from a /sim/faults body (an object or a list of objects); ValueError if malformed."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    allowed = {f.name for f in fields(Fault)}
    faults = []
    for item in items:
        if not isinstance(item, dict) or "status" not in item:
            raise ValueError('each fault must be an object with at least "status"')
        unknown = set(item) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        if not all(isinstance(item.get(k, 0), int) and not isinstance(item.get(k), bool) for k in ("status", "count")):
            raise ValueError("status and count must be integers")
        try:
            faults.append(Fault(**item))
        except TypeError as exc:
            raise ValueError(f"bad fault {item}: {exc}") from None
    return faults


class SimServer:
    """The simulated provider on a real loopback port, for as long as the `async with` block runs."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.app = make_app(self.config)
        self._simulator = self.app[SIMULATOR]
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> SimServer:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        self.url = f"http://{self.config.host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def openai_base_url(self) -> str:
        """What AsyncOpenAI(base_url=...) takes."""
        return f"{self.url}/v1"

    @property
    def gemini_base_url(self) -> str:
        """Gemini's OpenAI-compatible base, for AsyncOpenAI(base_url=...)."""
        return f"{self.url}/v1beta/openai"

    @property
    def anthropic_base_url(self) -> str:
        """What AsyncAnthropic(base_url=...) takes; the SDK appends /v1/messages."""
        return self.url

    def stats(self) -> dict[str, Any]:
        """Counters: requests (every completion request, 400s, 429s and faults included), ok,
        rate_limited (limiter 429s), faults (scheduled and random), bad_requests, by_model, by_status,
        in_flight, max_in_flight, pending_faults."""
        return self._simulator.stats()

    def add_fault(self, status: int, *, count: int = 1, model: str | None = None,
                  retry_after: float | None = None, message: str | None = None) -> Fault:
        """Answer the next `count` requests (for `model` only, if given) with `status`; see `Fault`."""
        fault = Fault(status, count=count, model=model, retry_after=retry_after, message=message)
        self._simulator.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self._simulator.faults.clear()


async def serve_forever(config: SimConfig) -> None:
    """Serve until cancelled (Ctrl-C), after printing where."""
    async with SimServer(config) as server:
        print(f"simulated provider on {server.url} (seed {config.seed})\n"
              f"  OpenAI base URL:     {server.openai_base_url}\n"
              f"  Gemini base URL:     {server.gemini_base_url}\n"
              f"  Anthropic base URL:  {server.anthropic_base_url}\n"
              f"  stats: GET {server.url}/sim/stats   faults: POST {server.url}/sim/faults\n"
              "Press Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()
