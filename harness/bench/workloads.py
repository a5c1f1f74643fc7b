"""The workloads the benchmarks time: the harness on a generated scenario, a naive SDK loop, a bare one.

Scenarios are written as TOML that `extends` the paper's, so the harness runs exactly as a user's
run would (loading, planning, lanes, cache, Parquet), changed only where the benchmark says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import plan
from ..records import Request
from ..runner import RunOptions, RunSummary, run_scenario
from ..scenario import Scenario, load_scenario
from .simproc import ROOT

BASE_SCENARIO = ROOT / "scenarios" / "ld_open_closed.toml"
API_KEY_ENV = "HARNESS_BENCH_API_KEY"
API_KEY = "bench-not-a-secret"
"""The simulated provider reads no key; any non-empty value will do."""
PROVIDER = "bench"
"""A provider of the benchmark's own, so no limit of the paper's providers leaks into it."""
VOTER = "gpt"
UNLIMITED = {"requests_per_minute": 10_000_000, "tokens_per_minute": 10_000_000_000, "max_in_flight": 64}
"""Provider limits far above anything the in-process simulator can serve."""


def toml_text(extends: Path, tables: dict[str, dict[str, Any]]) -> str:
    """A scenario extending `extends` with `tables` ({"providers.bench": {...}, …}) overriding it."""
    lines = [f"extends = {_toml_value(str(extends))}"]
    for name, values in tables.items():
        lines.append(f"\n[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None)
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


@dataclass(frozen=True, slots=True)
class Survey:
    """A survey-only workload: one voter's pre-debate votes through one provider budget."""

    name: str
    base_url: str
    """OpenAI base URL, e.g. http://127.0.0.1:PORT/v1."""
    model: str
    """Model id sent; a fresh one per run gets fresh rate-limit buckets from the simulator."""
    votes: int
    rpm: float | None = None
    tpm: float | None = None
    max_in_flight: int = 50
    api_key_env: str = API_KEY_ENV

    def tables(self) -> dict[str, dict[str, Any]]:
        return {
            "scenario": {"name": self.name},
            f"providers.{PROVIDER}": {
                "kind": "openai_compatible", "base_url": self.base_url, "api_key_env": self.api_key_env,
                "requests_per_minute": self.rpm, "tokens_per_minute": self.tpm,
                "max_in_flight": self.max_in_flight,
            },
            f"models.{VOTER}": {"provider": PROVIDER, "model": self.model},
            "pre_debate": {"votes_per_model": self.votes, "voters": [VOTER]},
            "debate": {"debaters": []},
            "post_debate": {"voters": []},
        }


def paper_tables(name: str, *, votes_per_model: int | None = None,
                 votes_per_transcript: int | None = None) -> dict[str, dict[str, Any]]:
    """The paper's scenario on an instant simulator with every provider's limits out of the way."""
    base = load_scenario(BASE_SCENARIO)
    tables: dict[str, dict[str, Any]] = {
        "scenario": {"name": name},
        "simulation": {"time_to_first_token": 0.0, "seconds_per_output_token": 0.0},
        **{f"providers.{p}": dict(UNLIMITED) for p in base.providers},
    }
    if votes_per_model is not None:
        tables["pre_debate"] = {"votes_per_model": votes_per_model}
    if votes_per_transcript is not None:
        tables["post_debate"] = {"votes_per_transcript": votes_per_transcript}
    return tables


def write_scenario(directory: Path, name: str, tables: dict[str, dict[str, Any]],
                   extends: Path = BASE_SCENARIO) -> Path:
    path = Path(directory) / f"{name}.toml"
    path.write_text(toml_text(extends.resolve(), tables), encoding="utf-8")
    return path


def survey_requests(scenario: Scenario) -> list[Request]:
    """The requests the harness itself sends for the scenario's pre-debate votes, in order."""
    return [plan.vote_request(scenario, vote) for voter in scenario.pre_debate.voters
            for vote in plan.pre_votes(scenario, voter)]


async def run_harness(scenario_path: Path, work_dir: Path, *, cache_dir: Path | None = None,
                      simulate: bool = False, timeout: float = 3600.0) -> RunSummary:
    """One in-process harness run, display off, outputs under `work_dir`; a fresh cache unless given."""
    os.environ.setdefault(API_KEY_ENV, API_KEY)
    options = RunOptions(simulate=simulate, out_dir=Path(work_dir) / "out",
                         cache_dir=cache_dir or Path(work_dir) / "cache", display=False)
    return await asyncio.wait_for(run_scenario(load_scenario(scenario_path), options), timeout)


@dataclass(slots=True)
class LoopResult:
    """What a plain client loop achieved."""

    ok: int = 0
    failed: int = 0
    """Requests that ended in an exception (after the SDK's own retries, if any)."""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    """This process's CPU time over the loop (all threads)."""
    errors: Counter[str] = field(default_factory=Counter)


def _sdk_params(request: Request, model: str) -> dict[str, Any]:
    """The body the harness's adapter sends for an openai_compatible provider."""
    params: dict[str, Any] = {"model": model, "max_tokens": request.sampling.max_tokens,
                              "messages": [{"role": m.role, "content": m.content} for m in request.messages]}
    if request.sampling.temperature is not None:
        params["temperature"] = request.sampling.temperature
    if request.sampling.top_p is not None:
        params["top_p"] = request.sampling.top_p
    return params


async def _client_loop(client: Any, requests: list[Request], model: str, concurrency: int,
                       timeout: float) -> LoopResult:
    """Every request at once under a semaphore (asyncio.gather style), bounded by `timeout` overall."""
    result = LoopResult()
    gate = asyncio.Semaphore(concurrency)

    async def one(request: Request) -> None:
        async with gate:
            try:
                await client.chat.completions.create(**_sdk_params(request, model))
                result.ok += 1
            except Exception as exc:  # the loop counts failures; it must never stop on one
                result.failed += 1
                result.errors[type(exc).__name__] += 1

    cpu, started = time.process_time(), time.perf_counter()
    tasks = [asyncio.ensure_future(one(r)) for r in requests]
    try:
        _, pending = await asyncio.wait(tasks, timeout=timeout)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()
    result.wall_s, result.cpu_s = time.perf_counter() - started, time.process_time() - cpu
    if pending:
        result.failed += len(pending)
        result.errors["unfinished at timeout"] += len(pending)
    return result


async def naive_loop(base_url: str, requests: list[Request], model: str, *, concurrency: int = 50,
                     timeout: float = 600.0) -> LoopResult:
    """What a quick script does: AsyncOpenAI with its default transport and retries, a semaphore, gather."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY)
    return await _client_loop(client, requests, model, concurrency, timeout)


async def bare_loop(base_url: str, requests: list[Request], model: str, *, concurrency: int = 64,
                    timeout: float = 600.0) -> LoopResult:
    """The harness's transport with nothing around it: no limiter, cache, parsing, Parquet or display."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY,
                                http_client=openai.DefaultAioHttpClient(), max_retries=0)
    return await _client_loop(client, requests, model, concurrency, timeout)


def cycle(requests: list[Request], n: int) -> Iterator[Request]:
    """`n` requests taken round-robin from `requests` (for warm-ups of any size)."""
    for i in range(n):
        yield requests[i % len(requests)]
