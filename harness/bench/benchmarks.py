"""The benchmarks: each runs its workload `runs` times and reports every run's figures to `emit`.

Every figure of request counts and 429s comes from the simulated provider's own counters
(`/sim/stats`), not from the client being measured. Each run uses a fresh model id, so it starts
with full rate-limit buckets on the same server, and a fresh cache, so nothing is replayed.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from ..cache import DB_NAME, CacheStore
from ..scenario import load_scenario
from . import workloads
from .catalog import Sizes
from .report import Emit
from .scale import trace_run
from .simproc import SimProcess, counts_delta
from .workloads import Survey

SEED = 20240201
MARKER = "complete.json"
"""Written into the replay cache once a fill finished with nothing failed: names the scenario it holds."""


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _tempdir(label: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"harness-bench-{label}-")


def _deadline(votes: int, rpm: float | None) -> float:
    """A generous bound on one throughput run: ten times its ideal length, at least two minutes."""
    ideal = votes / (rpm / 60) if rpm else votes / 100
    return max(120.0, 10 * ideal)


async def harness_survey(sim: SimProcess, survey: Survey, true_rpm: float | None) -> dict[str, Any]:
    """Run a survey through the harness against `sim`; figures from the server's counters."""
    with _tempdir(survey.name) as tmp:
        path = workloads.write_scenario(Path(tmp), survey.name, survey.tables())
        gc.collect()
        before = await sim.stats()
        summary = await workloads.run_harness(path, Path(tmp), timeout=_deadline(survey.votes, true_rpm))
        after = await sim.stats()
    counts = counts_delta(before, after, survey.model)
    figures = _throughput(counts, summary.wall_seconds, true_rpm, failed=summary.failed_items)
    figures.update(requests=counts["requests"], harness_counted_429=summary.rate_limited,
                   harness_requests_sent=summary.requests_sent)
    return figures


def _throughput(counts: dict[str, int], wall: float, true_rpm: float | None, *, failed: int) -> dict[str, Any]:
    achieved = counts["ok"] / wall if wall > 0 else None
    return {
        "achieved_rps": achieved,
        "ratio": _ratio(achieved, true_rpm / 60 if true_rpm else None),
        "rate_limited": counts["rate_limited"],
        "rate_limited_pct": 100 * counts["rate_limited"] / counts["requests"] if counts["requests"] else 0.0,
        "failed": failed,
        "wall_s": wall,
        "ok": counts["ok"],
    }


async def naive_survey(sim: SimProcess, survey: Survey, true_rpm: float, concurrency: int
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same prompts through the naive SDK loop against `sim`: figures and the errors it met."""
    with _tempdir(survey.name) as tmp:
        path = workloads.write_scenario(Path(tmp), survey.name, survey.tables())
        requests = workloads.survey_requests(load_scenario(path))
    gc.collect()
    before = await sim.stats()
    result = await workloads.naive_loop(survey.base_url, requests, survey.model, concurrency=concurrency,
                                        timeout=_deadline(survey.votes, true_rpm))
    after = await sim.stats()
    counts = counts_delta(before, after, survey.model)
    figures = _throughput(counts, result.wall_s, true_rpm, failed=result.failed)
    figures["requests"] = counts["requests"]
    return figures, {"errors": dict(result.errors)}


async def _limited(name: str, sizes: Sizes, runs: int, emit: Emit, *, claimed_rpm: float) -> None:
    """ceiling and misconfigured: the harness, then the naive loop, per run, on one rate-limited server."""
    params = {"votes": sizes.votes, "true_rpm": sizes.rpm, "scenario_rpm": claimed_rpm,
              "max_in_flight": sizes.max_in_flight, "ttft": sizes.ttft, "per_token": sizes.per_token}
    naive_params = {**params, "scenario_rpm": None, "max_in_flight": None,
                    "naive_concurrency": sizes.naive_concurrency, "sdk": "openai default transport, max_retries=2"}
    async with SimProcess(ttft=sizes.ttft, per_token=sizes.per_token, rpm=sizes.rpm, seed=SEED) as sim:
        for run in range(1, runs + 1):
            survey = Survey(f"bench-{name}", f"{sim.url}/v1", f"gpt-bench-{name}-r{run}", sizes.votes,
                            rpm=claimed_rpm, max_in_flight=sizes.max_in_flight)
            ours = await harness_survey(sim, survey, sizes.rpm)
            emit(name, run, ours, {**params, "model": survey.model})
            naive = Survey(survey.name, survey.base_url, f"gpt-bench-{name}-naive-r{run}", sizes.votes)
            figures, details = await naive_survey(sim, naive, sizes.rpm, sizes.naive_concurrency)
            figures["harness_over_naive_rps"] = _ratio(ours["achieved_rps"], figures["achieved_rps"])
            figures["harness_over_naive_429"] = _ratio(ours["rate_limited"], figures["rate_limited"])
            emit(f"{name}-naive", run, figures, {**naive_params, "model": naive.model}, details)


async def ceiling(sizes: Sizes, runs: int, emit: Emit, **_: Any) -> list[str]:
    """The harness told the true limit; the naive loop next to it."""
    await _limited("ceiling", sizes, runs, emit, claimed_rpm=sizes.rpm)
    return ["ceiling", "ceiling-naive"]


async def misconfigured(sizes: Sizes, runs: int, emit: Emit, **_: Any) -> list[str]:
    """The harness told twice the true limit: only what the provider says (429s, headers) holds it back."""
    await _limited("misconfigured", sizes, runs, emit, claimed_rpm=sizes.claimed_rpm)
    return ["misconfigured", "misconfigured-naive"]


async def overhead(sizes: Sizes, runs: int, emit: Emit, **_: Any) -> list[str]:
    """Harness vs a bare SDK loop on an instant, unlimited server, alternated run by run."""
    params = {"votes": sizes.overhead_votes, "max_in_flight": sizes.overhead_in_flight, "ttft": 0, "per_token": 0}
    async with SimProcess(ttft=0.0, per_token=0.0, seed=SEED) as sim:
        base_url = f"{sim.url}/v1"
        probe = Survey("bench-overhead", base_url, "gpt-bench-overhead", sizes.overhead_votes,
                       max_in_flight=sizes.overhead_in_flight)
        with _tempdir("overhead") as tmp:
            requests = workloads.survey_requests(load_scenario(
                workloads.write_scenario(Path(tmp), probe.name, probe.tables())))
        await workloads.bare_loop(base_url, list(workloads.cycle(requests, sizes.warmup_requests)),
                                  "gpt-bench-warmup", concurrency=sizes.overhead_in_flight)
        for run in range(1, runs + 1):
            gc.collect()
            sim_cpu = sim.cpu_seconds()
            bare = await workloads.bare_loop(base_url, requests, f"gpt-bench-bare-r{run}",
                                             concurrency=sizes.overhead_in_flight,
                                             timeout=_deadline(sizes.overhead_votes, None))
            bare_sim_cpu = sim.cpu_seconds() - sim_cpu
            survey = Survey(probe.name, base_url, f"gpt-bench-overhead-r{run}", sizes.overhead_votes,
                            max_in_flight=sizes.overhead_in_flight)
            cpu, sim_cpu = time.process_time(), sim.cpu_seconds()
            ours = await harness_survey(sim, survey, None)
            cpu, sim_cpu = time.process_time() - cpu, sim.cpu_seconds() - sim_cpu
            per_k = sizes.overhead_votes / 1000
            bare_rps = bare.ok / bare.wall_s if bare.wall_s else None
            figures = {
                "harness_rps": ours["achieved_rps"], "bare_rps": bare_rps,
                "ratio": _ratio(ours["achieved_rps"], bare_rps),
                "harness_cpu_s_per_1k": cpu / per_k, "bare_cpu_s_per_1k": bare.cpu_s / per_k,
                "sim_cpu_s_per_1k": sim_cpu / per_k, "sim_cpu_s_per_1k_bare": bare_sim_cpu / per_k,
                "failed": ours["failed"], "bare_failed": bare.failed,
                "harness_wall_s": ours["wall_s"], "bare_wall_s": bare.wall_s,
            }
            emit("overhead", run, figures, {**params, "model": survey.model},
                 {"bare_errors": dict(bare.errors)} if bare.errors else None)
    return ["overhead"]


async def replay(sizes: Sizes, runs: int, emit: Emit, *, out_dir: Path, **_: Any) -> list[str]:
    """The paper's scenario answered from a cache filled once (and kept for later invocations)."""
    cache = out_dir / sizes.replay_cache_name
    cache.mkdir(parents=True, exist_ok=True)
    tables = workloads.paper_tables("bench-replay", votes_per_model=sizes.replay_votes_per_model,
                                    votes_per_transcript=sizes.replay_votes_per_transcript)
    with _tempdir("replay") as tmp:
        path = workloads.write_scenario(Path(tmp), "bench-replay", tables)
        fill = await _filled(path, cache, Path(tmp))
        params = {"cache": str(cache), "votes_per_model": sizes.replay_votes_per_model or "paper",
                  "votes_per_transcript": sizes.replay_votes_per_transcript or "paper",
                  "fill_reused": fill["reused"]}
        for run in range(1, runs + 1):
            gc.collect()
            summary = await workloads.run_harness(path, Path(tmp) / f"r{run}", cache_dir=cache, simulate=True)
            items = summary.vote_rows + summary.speech_rows
            emit("replay", run, {
                "wall_s": summary.wall_seconds, "votes": summary.vote_rows, "speeches": summary.speech_rows,
                "items_per_s": items / summary.wall_seconds, "simulator_requests": summary.simulator_requests,
                "cache_hits": summary.cache_hits, "requests_sent": summary.requests_sent,
                "failed": summary.failed_items, "fill_s": fill["fill_s"],
            }, params)
    return ["replay"]


async def _filled(path: Path, cache: Path, work: Path) -> dict[str, Any]:
    """Fill `cache` for the scenario at `path` unless its marker says it already holds it whole.

    A cache written by an older harness may no longer verify (a changed checksum makes every entry
    count as damaged, and be fetched again): then it is emptied and filled afresh.
    """
    sha = load_scenario(path).sha256
    marker = cache / MARKER
    if marker.exists():
        recorded = orjson.loads(marker.read_bytes())
        if recorded.get("scenario_sha256") == sha and _entries_verify(cache):
            return {**recorded, "reused": True}
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
            (cache / name).unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    summary = await workloads.run_harness(path, work / "fill", cache_dir=cache, simulate=True)
    record = {"scenario_sha256": sha, "fill_s": summary.wall_seconds, "votes": summary.vote_rows,
              "speeches": summary.speech_rows, "failed": summary.failed_items,
              "filled": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if summary.failed_items == 0:
        marker.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    return {**record, "reused": False}


def _entries_verify(cache: Path, sample: int = 200) -> bool:
    """Whether a random sample of the cache's entries passes this harness's own checks."""
    try:
        db = sqlite3.connect(f"file:{cache / DB_NAME}?mode=ro", uri=True)
        try:
            keys = [k for (k,) in db.execute("SELECT key FROM responses ORDER BY RANDOM() LIMIT ?", (sample,))]
        finally:
            db.close()
    except sqlite3.Error:
        return False
    store = CacheStore(cache)
    logging.disable(logging.WARNING)  # one warning per damaged entry would flood the table
    try:
        return bool(keys) and all(store.get(key) is not None for key in keys)
    finally:
        logging.disable(logging.NOTSET)
        store.close()


async def scale(sizes: Sizes, runs: int, emit: Emit, **_: Any) -> list[str]:
    """A 450,000-vote run in a child process: its memory over a minute, then SIGINT."""
    tables = workloads.paper_tables("bench-scale", votes_per_transcript=sizes.scale_votes_per_transcript)
    params = {"votes_per_transcript": sizes.scale_votes_per_transcript, "seconds": sizes.scale_seconds,
              "early_s": sizes.scale_early_s}
    for run in range(1, runs + 1):
        with _tempdir("scale") as tmp:
            path = workloads.write_scenario(Path(tmp), "bench-scale", tables)
            trace, details = await trace_run(path, Path(tmp), seconds=sizes.scale_seconds)
        origin = trace.first_answer_s or 0.0
        watched = (trace.interrupted_at or origin) - origin
        emit("scale", run, {
            "first_answer_s": trace.first_answer_s,
            "peak_rss_mb": trace.peak(until=trace.interrupted_at),
            "rss_early_mb": trace.rss_at(sizes.scale_early_s),
            "rss_end_mb": trace.rss_at(sizes.scale_seconds),
            "slope_mb_per_min": trace.slope(sizes.scale_early_s, sizes.scale_seconds),
            "answers": trace.answers,
            "answers_per_s": trace.answers / watched if watched > 0 else None,
            "peak_rss_with_shutdown_mb": trace.peak(),
            "shutdown_s": (trace.exited_at - trace.interrupted_at) if trace.interrupted_at else None,
        }, params, {**details, "rss_samples": [[round(t, 1), round(r, 1)] for t, r, _ in trace.samples]})
    return ["scale"]


async def target(url: str, *, model: str, rpm: float | None, tpm: float | None, max_in_flight: int,
                 votes: int, api_key_env: str, runs: int, emit: Emit) -> list[str]:
    """The ceiling workload through the harness against an external OpenAI-format server."""
    params = {"url": url, "model": model, "rpm": rpm, "tpm": tpm, "max_in_flight": max_in_flight,
              "votes": votes, "api_key_env": api_key_env}
    survey = Survey("bench-target", url, model, votes, rpm=rpm, tpm=tpm, max_in_flight=max_in_flight,
                    api_key_env=api_key_env)
    for run in range(1, runs + 1):
        with _tempdir("target") as tmp:
            path = workloads.write_scenario(Path(tmp), survey.name, survey.tables())
            gc.collect()
            s = await workloads.run_harness(path, Path(tmp), timeout=_deadline(votes, rpm))
        ok = votes - s.failed_items
        achieved = ok / s.wall_seconds if s.wall_seconds else None
        emit("target", run, {
            "achieved_rps": achieved, "ratio": _ratio(achieved, rpm / 60 if rpm else None),
            "requests_sent": s.requests_sent, "rate_limited": s.rate_limited,
            "rate_limited_pct": 100 * s.rate_limited / s.requests_sent if s.requests_sent else 0.0,
            "failed": s.failed_items, "wall_s": s.wall_seconds,
        }, params)
    return ["target"]


BENCHMARKS = {"ceiling": ceiling, "misconfigured": misconfigured, "overhead": overhead,
              "replay": replay, "scale": scale}
