"""A small run of the whole experiment on the simulated provider, read back row by row.

The smoke scenario (2 models, 4 pre-debate votes each, 1 repeat, 3 post-debate votes per usable
transcript and voter) runs in-process over real loopback HTTP; then its Parquet, its metadata and
the cache are checked against the plan, and a second run must come entirely from the cache.
"""

import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness import __version__
from harness.cache import DB_NAME
from harness.plan import plan_debates
from harness.prompts import is_swapped
from harness.runner import RunOptions, run_scenario
from harness.scenario import load_scenario
from harness.votes import parse_vote

from conftest import fast_smoke_scenario

FAST_SMOKE = fast_smoke_scenario("e2e")


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "e2e.toml"
    path.write_text(FAST_SMOKE)
    return path


@pytest.fixture(scope="module")
def first_run(scenario_file, tmp_path_factory):
    """(scenario, summary, run dir, cache dir) of one simulated run."""
    import asyncio

    work = tmp_path_factory.mktemp("run")
    scenario = load_scenario(scenario_file)
    options = RunOptions(simulate=True, out_dir=work / "out", cache_dir=work / "cache", display=False)
    summary = asyncio.run(run_scenario(scenario, options))
    return scenario, summary, work / "out", work / "cache"


def rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_every_planned_debate_is_held_and_refusals_are_marked(first_run):
    """8 debates of 7 speeches; simulated Claude refuses the closed-source affirmative (1 per opponent)."""
    scenario, summary, out, _ = first_run
    speeches = rows(out / "transcripts.parquet")
    planned = {spec.transcript_id: spec for spec in plan_debates(scenario)}
    assert len(planned) == 8 and len(speeches) == 8 * 7
    by_transcript: dict[str, list[dict]] = {}
    for row in speeches:
        by_transcript.setdefault(row["transcript_id"], []).append(row)
    assert set(by_transcript) == set(planned)
    refused = set()
    for transcript_id, turns in by_transcript.items():
        spec = planned[transcript_id]
        assert [t["speech_index"] for t in turns] == list(range(1, 8))
        assert [t["side"] for t in turns] == [s.side for s in scenario.debate.speeches]
        for turn in turns:
            assert turn["speaker"] == (spec.affirmative if turn["side"] == "affirmative" else spec.negative)
            assert turn["text"] and turn["simulated"] and turn["request_key"] and not turn["cached"]
            assert turn["presider"] == turn["presider"].strip()
        if turns[0]["status"] == "refused":
            refused.add(transcript_id)
            assert any(t["refusal"] for t in turns)
        else:
            assert turns[0]["status"] == "usable" and not any(t["refusal"] for t in turns)
    assert refused == {"reverse_claude_gpt_1", "reverse_claude_claude_1"}
    assert summary.debates == {"usable": 6, "refused": 2, "failed": 0}
    assert turns[0]["presider"].startswith("We will have a Lincoln-Douglas debate")


def test_vote_table_has_one_row_per_planned_vote(first_run):
    """4 pre-debate votes per voter, then 3 per usable transcript per voter, each checked."""
    scenario, summary, out, cache_dir = first_run
    votes = rows(out / "votes.parquet")
    speeches = rows(out / "transcripts.parquet")
    usable = {r["transcript_id"] for r in speeches if r["status"] == "usable"}
    pre = [v for v in votes if v["phase"] == "pre"]
    post = [v for v in votes if v["phase"] == "post"]
    assert sorted((v["voter"], v["sample"]) for v in pre) == [(m, i) for m in ("claude", "gpt") for i in range(4)]
    assert sorted((v["voter"], v["transcript_id"], v["sample"]) for v in post) == sorted(
        (m, t, i) for m in ("claude", "gpt") for t in usable for i in range(3))
    assert len(votes) == summary.vote_rows == 8 + 6 * 2 * 3
    with sqlite3.connect(cache_dir / DB_NAME) as db:
        cached_keys = {k for (k,) in db.execute("select key from responses")}
    for vote in votes:
        # Each row is traceable: its request is in the cache, and its stance is what its raw text says.
        assert vote["request_key"] in cached_keys
        parsed = parse_vote(vote["raw_text"])
        assert (vote["stance"], vote["parse_status"]) == (parsed.stance, parsed.status)
        assert vote["simulated"] and not vote["cached"] and vote["attempts"] >= 1
        assert vote["input_tokens"] > 0 and vote["output_tokens"] > 0 and vote["latency_s"] >= 0
        assert vote["voter_model"] == scenario.models[vote["voter"]].model
        if vote["phase"] == "pre":
            assert vote["transcript_id"] is None and vote["resolution"] is None
            assert vote["stance"] == "open"
        else:
            assert vote["transcript_id"] in usable
            affirmative, negative = vote["affirmative"], vote["negative"]
            prefix = "reverse_" if vote["resolution"] == "closed" else ""
            assert vote["transcript_id"] == f"{prefix}{affirmative}_{negative}_{vote['debate_repeat']}"
    swapped = [v["swapped"] for v in votes]
    assert 0 < sum(swapped) < len(swapped)


def test_swapped_column_matches_the_prompt_sent(first_run):
    """The swapped flag is the seeded coin the prompt builder used, and the prompt shows it."""
    scenario, _, out, cache_dir = first_run
    votes = {v["request_key"]: v for v in rows(out / "votes.parquet")}
    with sqlite3.connect(cache_dir / DB_NAME) as db:
        stored = dict(db.execute("select key, request from responses"))
    for key, vote in votes.items():
        request = zlib.decompress(stored[key]).decode()  # stored compressed
        first_option = "closed source" if vote["swapped"] else "open source"
        assert f'should be {first_option} or' in request
        assert vote["swapped"] == is_swapped(scenario.seed, vote["phase"], vote["voter"],
                                             vote["transcript_id"] or "", vote["sample"])


def test_metadata_describes_the_run(first_run):
    """metadata.json names the scenario (text and hash), the version, the times and that it was simulated."""
    import json

    scenario, _, out, _ = first_run
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["simulated"] is True
    assert meta["scenario"]["sha256"] == scenario.sha256 and meta["scenario"]["text"] == scenario.text
    assert meta["harness_version"] == __version__ and meta["started"] <= meta["ended"]
    schema_meta = pq.read_schema(out / "votes.parquet").metadata
    assert schema_meta[b"harness.scenario_sha256"].decode() == scenario.sha256
    assert schema_meta[b"harness.simulated"] == b"true"


def test_rerun_comes_from_the_cache_with_identical_rows(first_run, tmp_path):
    """The same scenario again: no request reaches the simulator, and every vote row is the same."""
    import asyncio

    scenario, summary, out, cache_dir = first_run
    options = RunOptions(simulate=True, out_dir=tmp_path / "again", cache_dir=cache_dir, display=False)
    again = asyncio.run(run_scenario(scenario, options))
    assert summary.simulator_requests > 0 and again.simulator_requests == 0 and again.requests_sent == 0
    how_obtained = {"cached", "latency_s", "attempts", "request_id"}

    def answers(path: Path) -> list[dict]:
        return [{k: v for k, v in row.items() if k not in how_obtained} for row in rows(path)]

    assert answers(tmp_path / "again" / "votes.parquet") == answers(out / "votes.parquet")
    assert answers(tmp_path / "again" / "transcripts.parquet") == answers(out / "transcripts.parquet")
    assert all(r["cached"] for r in rows(tmp_path / "again" / "votes.parquet"))


def test_cli_runs_and_reports(scenario_file, tmp_path):
    """`python -m harness run … --simulate` exits 0 and says what it did, without a terminal."""
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario_file), "--simulate",
         "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "debates: 6 usable, 2 refused, 0 failed" in result.stdout
    assert "rows: 44 votes, 56 speeches" in result.stdout
    assert (tmp_path / "out" / "votes.parquet").exists()


def test_cli_refuses_a_missing_key_before_any_request(scenario_file, tmp_path):
    """A live run without keys stops at once, naming every missing variable, exit code 2."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario_file), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "$OPENAI_API_KEY" in result.stderr and "$ANTHROPIC_API_KEY" in result.stderr
    assert not (tmp_path / "out" / "votes.parquet").exists()


@pytest.mark.asyncio
async def test_api_keys_never_reach_cache_outputs_logs_or_display(tmp_path, monkeypatch, capsys, caplog):
    """A live run (keys from the environment) against a loopback server: no file, log line or
    progress line it writes contains either key."""
    import logging

    from harness.sim import SimConfig, SimServer

    secrets = {"OPENAI_API_KEY": "sk-proj-SECRET-openai-7f3a9c", "ANTHROPIC_API_KEY": "sk-ant-SECRET-b81d2e"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    async with SimServer(SimConfig(time_to_first_token=0.0, seconds_per_output_token=0.0)) as sim:
        live = tmp_path / "live.toml"
        live.write_text(FAST_SMOKE.replace('name = "e2e"', 'name = "live"')
                        .replace("[providers.openai]\n", f'[providers.openai]\nbase_url = "{sim.openai_base_url}"\n')
                        .replace("[providers.anthropic]\n",
                                 f'[providers.anthropic]\nbase_url = "{sim.anthropic_base_url}"\n'))
        scenario = load_scenario(live)
        options = RunOptions(simulate=False, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", display=True)
        summary = await run_scenario(scenario, options)
        assert sim.stats()["requests"] == summary.requests_sent > 0
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != live]
    assert any(p.suffix == ".parquet" for p in written) and any(p.name == DB_NAME for p in written)
    captured = capsys.readouterr()
    texts = [p.read_bytes() for p in written] + [captured.out.encode(), captured.err.encode(), caplog.text.encode()]
    for secret in secrets.values():
        for text in texts:
            assert secret.encode() not in text
            assert b"SECRET" not in text


def test_cache_commands_on_a_real_cache(first_run, tmp_path):
    """stats, verify, export and import from the command line, on the cache a run filled."""
    _, summary, _, cache_dir = first_run

    def harness(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)

    stats = harness("cache", "--cache", str(cache_dir), "stats")
    assert stats.returncode == 0 and "100 entries" in stats.stdout and "claude-2.1" in stats.stdout
    verify = harness("cache", "--cache", str(cache_dir), "verify")
    assert verify.returncode == 0 and "checked 100 entries: 0 bad" in verify.stdout
    exported = tmp_path / "cache.jsonl.gz"
    assert harness("cache", "--cache", str(cache_dir), "export", str(exported)).returncode == 0
    imported = harness("cache", "--cache", str(tmp_path / "theirs"), "import", str(exported))
    assert imported.returncode == 0 and "100 added" in imported.stdout
    missing = harness("cache", "--cache", str(tmp_path / "nowhere"), "stats")
    assert missing.returncode == 2 and "no response cache" in missing.stderr
