"""Killed at any moment, resumed with nothing lost and nothing paid twice.

Real `python -m harness run` subprocesses against one simulated provider serving in this test
process (`--simulator URL`), so the requests it receives are counted across a killed run and its
resume. Answers are drawn from each request's sample key, so every run gets the same answers and
the final tables can be compared row for row with an uninterrupted run's.
"""

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.cache import DB_NAME
from harness.sim import SimConfig, SimServer

from conftest import fast_smoke_scenario

# The smoke scenario (8 debates, 44 votes, 100 requests); the simulator these tests start sets its speed.
SCENARIO = fast_smoke_scenario("resume", instant_simulator=False)
HOW_OBTAINED = {"cached", "latency_s", "attempts", "request_id"}
PLANNED_REQUESTS = 100


@pytest.fixture
def scenario_file(tmp_path) -> Path:
    path = tmp_path / "resume.toml"
    path.write_text(SCENARIO)
    return path


def start_run(scenario: Path, url: str, out: Path, cache: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(scenario), "--simulator", url, "--out", str(out),
         "--cache", str(cache), "--no-live", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=out.parent)


async def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = await asyncio.to_thread(process.communicate, timeout=timeout)
    return process.returncode, out, err


def answers(path: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in HOW_OBTAINED} for row in pq.read_table(path).to_pylist()]


def cached_entries(cache: Path) -> int:
    with sqlite3.connect(cache / DB_NAME) as db:
        return db.execute("select count(*) from responses").fetchone()[0]


def slow_sim() -> SimServer:
    return SimServer(SimConfig(seed=3, time_to_first_token=0.08, seconds_per_output_token=0.0004))


@pytest.mark.asyncio
async def test_sigkill_at_five_moments_then_resume_equals_an_uninterrupted_run(scenario_file, tmp_path):
    """Each resume ends with the uninterrupted run's tables, and re-sends only what was on the wire."""
    async with slow_sim() as sim:
        base = tmp_path / "base"
        base.mkdir()
        code, out, err = await finish(start_run(scenario_file, sim.url, base / "out", base / "cache"))
        assert code == 0, err
        baseline_requests = sim.stats()["requests"]
        assert baseline_requests == PLANNED_REQUESTS
        expected_votes = answers(base / "out" / "votes.parquet")
        expected_speeches = answers(base / "out" / "transcripts.parquet")

        for moment in (0.9, 1.6, 2.4, 3.2, 4.2):  # from the first debates to late post-debate votes
            work = tmp_path / f"kill-{moment}"
            work.mkdir()
            before = sim.stats()["requests"]
            process = start_run(scenario_file, sim.url, work / "out", work / "cache")
            await asyncio.sleep(moment)
            process.send_signal(signal.SIGKILL)
            await finish(process)
            await asyncio.sleep(0.3)  # requests the killed process had on the wire still reach the server
            sent_by_killed = sim.stats()["requests"] - before
            answered_and_kept = cached_entries(work / "cache")
            code, out, err = await finish(start_run(scenario_file, sim.url, work / "out", work / "cache"))
            assert code == 0, err
            total = sim.stats()["requests"] - before
            assert answers(work / "out" / "votes.parquet") == expected_votes, moment
            assert answers(work / "out" / "transcripts.parquet") == expected_speeches, moment
            # Nothing answered and stored before the kill is asked again: the excess is exactly the
            # requests that were on the wire (sent, not yet stored) when the process died.
            excess = total - baseline_requests
            assert excess == sent_by_killed - answered_and_kept, moment
            assert 0 <= excess <= 2 * 8, moment  # at most what can be in flight at once here


@pytest.mark.asyncio
async def test_sigint_stops_within_the_grace_keeps_readable_outputs_and_resumes(scenario_file, tmp_path):
    """A first SIGINT ends the run promptly with exit 130; the tables read; a resume completes the plan."""
    async with slow_sim() as sim:
        out_dir = tmp_path / "out"
        process = start_run(scenario_file, sim.url, out_dir, tmp_path / "cache")
        while sim.stats()["requests"] < 30:  # well into the run, past start-up
            await asyncio.sleep(0.05)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        code, out, err = await finish(process)
        assert code == 130 and time.monotonic() - sent < 10
        assert "stopping: no new requests" in err and "Run the same command again to resume" in err
        metadata = json.loads((out_dir / "metadata.json").read_text())
        assert metadata["status"] == "interrupted"
        partial = pq.read_table(out_dir / "votes.parquet").num_rows
        assert partial < 44
        code, out, err = await finish(start_run(scenario_file, sim.url, out_dir, tmp_path / "cache"))
        assert code == 0, err
        assert pq.read_table(out_dir / "votes.parquet").num_rows == 44
        assert pq.read_table(out_dir / "transcripts.parquet").num_rows == 56
        assert json.loads((out_dir / "metadata.json").read_text())["status"] == "complete"
        assert sim.stats()["requests"] == PLANNED_REQUESTS


@pytest.mark.asyncio
async def test_changed_plan_is_reported_before_anything_is_sent(scenario_file, tmp_path):
    """A changed prompt stops the resume with counts; --accept-changes continues and re-asks."""
    async with SimServer(SimConfig(seed=3, time_to_first_token=0.0, seconds_per_output_token=0.0)) as sim:
        out_dir = tmp_path / "out"
        code, _, err = await finish(start_run(scenario_file, sim.url, out_dir, tmp_path / "cache"))
        assert code == 0, err
        changed = scenario_file.with_name("changed.toml")
        changed.write_text(SCENARIO + '\n[pre_debate]\nvotes_per_model = 6\nmax_tokens = 300\n')
        before = sim.stats()["requests"]
        code, _, err = await finish(start_run(changed, sim.url, out_dir, tmp_path / "cache"))
        assert code == 2 and sim.stats()["requests"] == before
        assert "8 rows' requests would now be sent differently" in err and "--accept-changes" in err
        assert "e.g. changed: pre-debate vote 0 of" in err
        code, _, err = await finish(start_run(changed, sim.url, out_dir, tmp_path / "cache", "--accept-changes"))
        assert code == 0, err
        assert sim.stats()["requests"] - before == 12  # 2 voters × 6 pre-debate votes, re-asked
        votes = pq.read_table(out_dir / "votes.parquet").to_pylist()
        assert sum(v["phase"] == "pre" for v in votes) == 12 and len(votes) == 12 + 36
        assert list(out_dir.glob("superseded-*/votes.parquet"))


@pytest.mark.asyncio
async def test_damaged_cache_entries_are_fetched_again_never_used(scenario_file, tmp_path):
    """Truncated, flipped and mis-keyed entries each cost one new request and never reach a row."""
    async with SimServer(SimConfig(seed=3, time_to_first_token=0.0, seconds_per_output_token=0.0)) as sim:
        first = tmp_path / "first"
        code, _, err = await finish(start_run(scenario_file, sim.url, first, tmp_path / "cache"))
        assert code == 0, err
        with sqlite3.connect(tmp_path / "cache" / DB_NAME) as db:
            keys = [k for (k,) in db.execute("select key from responses order by key limit 3")]
            (response,) = db.execute("select response from responses where key = ?", (keys[0],)).fetchone()
            db.execute("update responses set response = ? where key = ?", (response[:20], keys[0]))
            (response,) = db.execute("select response from responses where key = ?", (keys[1],)).fetchone()
            db.execute("update responses set response = ? where key = ?",
                       (response.replace(b"open", b"OPEN", 1) if b"open" in response else response[::-1], keys[1]))
            db.execute("update responses set key = ? where key = ?", (keys[2][::-1], keys[2]))
        before = sim.stats()["requests"]
        second = tmp_path / "second"
        code, _, err = await finish(start_run(scenario_file, sim.url, second, tmp_path / "cache"))
        assert code == 0, err
        assert sim.stats()["requests"] - before == 3
        assert answers(second / "votes.parquet") == answers(first / "votes.parquet")
        assert answers(second / "transcripts.parquet") == answers(first / "transcripts.parquet")
