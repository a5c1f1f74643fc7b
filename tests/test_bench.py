"""The benchmark command's machinery at toy sizes: the sim subprocess, a tiny ceiling run, the JSON.

Nothing here is timed against a target: speed is judged by `python -m harness bench`, not by tests.
"""

import io
import os
import sqlite3

import aiohttp
import orjson
import pytest

from harness import __version__
from harness.bench import NAMES, Sizes, benchmarks, workloads
from harness.bench.report import LATEST, Report, median_figures
from harness.bench.scale import MemoryTrace
from harness.bench.simproc import SimProcess, counts_delta
from harness.bench.suite import run_suite, select
from harness.cache import DB_NAME, CacheStore, cache_key
from harness.records import Completion, Message, Request, Sampling, Usage
from harness.scenario import load_scenario

TINY = Sizes(votes=40, rpm=1200, ttft=0.0, per_token=0.0, max_in_flight=20, naive_concurrency=50)


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def report() -> Report:
    return Report(runs=1, quick=True, sizes={}, out=io.StringIO(), progress=io.StringIO())


@pytest.mark.asyncio
async def test_sim_process_reports_its_url_and_is_stopped():
    """The sim starts in its own process on a loopback port, answers /health and stats, and is gone after."""
    async with SimProcess(ttft=0.0, per_token=0.0) as sim:
        pid = sim.pid
        assert sim.url.startswith("http://127.0.0.1:") and pid != os.getpid()
        async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/health") as response:
            assert response.status == 200
        stats = await sim.stats()
        assert {"requests", "ok", "rate_limited", "by_model"} <= set(stats)
        assert sim.cpu_seconds() >= 0
    assert is_gone(pid) and not sim.running


@pytest.mark.asyncio
async def test_sim_process_is_stopped_when_the_workload_raises():
    """An exception inside the block still kills the server process."""
    pid = None
    with pytest.raises(RuntimeError, match="workload broke"):
        async with SimProcess(ttft=0.0, per_token=0.0) as sim:
            pid = sim.pid
            raise RuntimeError("workload broke")
    assert pid is not None and is_gone(pid)


def test_survey_scenario_is_a_valid_survey_only_plan(tmp_path):
    """The generated scenario extends the paper's: one voter, its own provider and limits, no debates."""
    survey = workloads.Survey("bench-x", "http://127.0.0.1:9/v1", "gpt-bench-x-r1", 30, rpm=600, max_in_flight=7)
    scenario = load_scenario(workloads.write_scenario(tmp_path, survey.name, survey.tables()))
    assert scenario.participants() == ["gpt"] and scenario.models["gpt"].model == "gpt-bench-x-r1"
    provider = scenario.provider_of("gpt")
    assert (provider.kind, provider.base_url, provider.api_key_env) == \
        ("openai_compatible", "http://127.0.0.1:9/v1", workloads.API_KEY_ENV)
    assert (provider.limits.requests_per_minute, provider.limits.tokens_per_minute,
            provider.limits.max_in_flight) == (600, None, 7)
    requests = workloads.survey_requests(scenario)
    assert len(requests) == 30 and "{first}" not in requests[0].messages[0].content


@pytest.mark.asyncio
async def test_tiny_ceiling_gives_rows_with_every_figure():
    """40 votes at 1,200/min: the harness row and the naive row carry all their figures, sanely."""
    rep = report()
    kinds = await benchmarks.ceiling(TINY, 1, rep.emit)
    rep.summarize(kinds)
    ours, naive = rep.rows
    assert (ours["benchmark"], naive["benchmark"]) == ("ceiling", "ceiling-naive")
    f = ours["figures"]
    assert f["ok"] == 40 and f["failed"] == 0 and f["requests"] >= 40
    assert 0 < f["achieved_rps"] and 0 < f["ratio"] <= 1.5 and 0 < f["wall_s"] < 30
    assert 0 <= f["rate_limited_pct"] <= 100 and f["rate_limited"] == f["requests"] - 40
    n = naive["figures"]
    assert n["ok"] + n["failed"] == 40 and n["harness_over_naive_rps"] > 0
    assert ours["params"]["model"] != naive["params"]["model"]
    assert ours["harness_version"] == __version__
    assert [m["benchmark"] for m in rep.medians] == ["ceiling", "ceiling-naive"]
    assert set(rep.medians[0]["targets"]) == {"ratio ≥ 0.97", "rate_limited_pct ≤ 0.5"}


@pytest.mark.asyncio
async def test_naive_loop_counts_failures_instead_of_raising(tmp_path):
    """Requests the server refuses become counted failures; the loop still finishes the rest."""
    async with SimProcess(ttft=0.0, per_token=0.0) as sim:
        async with aiohttp.ClientSession() as http:
            await http.post(f"{sim.url}/sim/faults", json={"status": 400, "count": 3})
        survey = workloads.Survey("bench-n", f"{sim.url}/v1", "gpt-bench-naive", 10)
        path = workloads.write_scenario(tmp_path, survey.name, survey.tables())
        requests = workloads.survey_requests(load_scenario(path))
        before = await sim.stats()
        result = await workloads.naive_loop(survey.base_url, requests, survey.model, concurrency=4)
        counts = counts_delta(before, await sim.stats(), survey.model)
    assert (result.ok, result.failed) == (7, 3) and result.errors == {"BadRequestError": 3}
    assert counts["ok"] == 7


@pytest.mark.asyncio
async def test_target_mode_reports_the_harness_counts():
    """--target against a server we started: the harness's own counts and the rate against --rpm."""
    rep = report()
    async with SimProcess(ttft=0.0, per_token=0.0) as sim:
        await benchmarks.target(f"{sim.url}/v1", model="gpt-bench-target", rpm=1200, tpm=None,
                                max_in_flight=8, votes=20, api_key_env=workloads.API_KEY_ENV, runs=1,
                                emit=rep.emit)
        served = (await sim.stats())["by_model"]["gpt-bench-target"]["ok"]
    f = rep.rows[0]["figures"]
    assert served == 20 and f["failed"] == 0 and f["requests_sent"] == 20 and f["ratio"] > 0


@pytest.mark.asyncio
async def test_results_are_written_even_when_a_benchmark_fails(tmp_path, monkeypatch):
    """The JSON (and latest.json) is written with the rows so far, marked incomplete."""
    async def good(sizes, runs, emit, **_):
        emit("replay", 1, {"wall_s": 1.5, "simulator_requests": 0}, {"n": 1})
        return ["replay"]

    async def bad(sizes, runs, emit, **_):
        raise RuntimeError("boom")

    monkeypatch.setitem(benchmarks.BENCHMARKS, "replay", good)
    monkeypatch.setitem(benchmarks.BENCHMARKS, "scale", bad)
    rep = report()
    with pytest.raises(RuntimeError):
        await run_suite(["scale", "replay"], runs=1, out_dir=tmp_path, sizes=TINY, report=rep)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert LATEST in written and any(n.startswith("bench-") and n.endswith(".json") for n in written)
    doc = orjson.loads((tmp_path / LATEST).read_bytes())
    assert doc["complete"] is False and doc["rows"][0]["figures"]["wall_s"] == 1.5
    assert doc["medians"][0]["targets"] == {"wall_s ≤ 10": True, "simulator_requests ≤ 0": True}


def test_a_replay_cache_that_no_longer_verifies_is_not_trusted(tmp_path):
    """A sampled entry failing this harness's checksum (e.g. written by an older one) means refill."""
    request = Request("openai", "gpt-x", (Message("user", "hi"),), Sampling(1.0, 1.0, 10), "0", True)
    store = CacheStore(tmp_path)
    store.put(cache_key(request), request, Completion("hello", "stop", Usage(3, 1)))
    store.close()
    assert benchmarks._entries_verify(tmp_path)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("UPDATE responses SET checksum = 'old-formula'")
    db.close()
    assert not benchmarks._entries_verify(tmp_path)
    assert not benchmarks._entries_verify(tmp_path / "missing")


def test_benchmarks_are_selected_in_canonical_order():
    """Names run in the documented order; none means all; an unknown name is refused."""
    assert select([]) == list(NAMES)
    assert select(["scale", "ceiling"]) == ["ceiling", "scale"]
    with pytest.raises(ValueError, match="unknown benchmark 'fast'"):
        select(["fast"])


def test_medians_skip_missing_figures():
    """The median of each figure is taken over the runs that have it."""
    rows = [{"figures": {"a": 1, "b": None}}, {"figures": {"a": 3, "b": 4}}, {"figures": {"a": 2}}]
    assert median_figures(rows) == {"a": 2, "b": 4}


def test_memory_trace_reads_rss_and_slope_from_the_first_answer():
    """Times count from the first answer; the slope is a least-squares fit in MB per minute."""
    trace = MemoryTrace(samples=[(t, 100 + t, 100 + t) for t in range(2, 70)], first_answer_s=2.0)
    assert trace.rss_at(20) == 122 and trace.rss_at(60) == 162
    assert trace.slope(20, 60) == pytest.approx(60.0)
    assert trace.peak(until=30) == 130 and trace.peak() == 169
