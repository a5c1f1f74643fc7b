"""Assembles one run: providers (live or simulated), lanes, cache, outputs, display, and the summary."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import resource
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .cache import CacheStore
from .display import Progress
from .errors import ConfigurationError, OutputError
from .experiment import FAILED, REFUSED, USABLE, Experiment
from .output import write_json
from .providers import WIRE_FORMATS, create_provider
from .scenario import Scenario
from .scheduler import ProviderLane
from .sink import PARTS_DIR, TRANSCRIPTS_FILE, VOTES_FILE, ResultSink

SIMULATED_API_KEY = "sim-key-not-secret"
METADATA_FILE = "metadata.json"


@dataclass(frozen=True, slots=True)
class RunOptions:
    simulate: bool = False
    out_dir: Path | None = None
    """Default: outputs/<scenario name>/."""
    cache_dir: Path = Path("cache")
    display: bool = True


@dataclass
class RunSummary:
    run_dir: Path
    wall_seconds: float
    vote_rows: int
    speech_rows: int
    debates: dict[str, int]
    requests_sent: int
    cache_hits: int
    rate_limited: int
    failed_items: int
    simulator_requests: int | None
    peak_memory_mb: float
    phases: list[dict[str, object]] = field(default_factory=list)


def api_keys(scenario: Scenario, environ: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, str]:
    """Each used provider's API key from its environment variable; all missing ones in one error."""
    keys, missing = {}, []
    for provider in scenario.used_providers():
        value = environ.get(provider.api_key_env, "")
        if value.strip():
            keys[provider.name] = value.strip()
        else:
            missing.append(f"  ${provider.api_key_env} for provider {provider.name!r} "
                           f"(providers.{provider.name}.api_key_env in {scenario.path})")
    if missing:
        raise ConfigurationError("these API keys are not set:\n" + "\n".join(missing) +
                                 "\nSet them, or run offline against the simulated provider with --simulate.")
    return keys


def run_directory(scenario: Scenario, options: RunOptions) -> Path:
    run_dir = options.out_dir or Path("outputs") / scenario.name
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {run_dir}: {exc.strerror or exc}") from exc
    # Until runs can be resumed in place, a run replaces what an earlier run left here.
    for stale in (run_dir / VOTES_FILE, run_dir / TRANSCRIPTS_FILE):
        stale.unlink(missing_ok=True)
    shutil.rmtree(run_dir / PARTS_DIR, ignore_errors=True)
    return run_dir


@contextlib.asynccontextmanager
async def _endpoints(scenario: Scenario, simulate: bool) -> AsyncIterator[tuple[dict[str, str | None], object]]:
    """Base URL per provider: the scenario's, or the in-process simulator's."""
    if not simulate:
        yield {p.name: p.base_url for p in scenario.used_providers()}, None
        return
    from .sim import ModelLimits, SimConfig, SimServer

    limits = {}
    for model in scenario.models.values():
        provider_limits = scenario.providers[model.provider].limits
        limits[model.model] = ModelLimits(provider_limits.requests_per_minute, provider_limits.tokens_per_minute)
    config = SimConfig(seed=scenario.seed, time_to_first_token=scenario.simulation.time_to_first_token,
                       seconds_per_output_token=scenario.simulation.seconds_per_output_token, limits=limits)
    async with SimServer(config) as sim:
        urls = {p.name: sim.openai_base_url if WIRE_FORMATS[p.kind] == "openai" else sim.anthropic_base_url
                for p in scenario.used_providers()}
        yield urls, sim


def _metadata(scenario: Scenario, options: RunOptions, started: float) -> dict[str, object]:
    return {
        "scenario": {"name": scenario.name, "path": str(scenario.path), "sha256": scenario.sha256,
                     "text": scenario.text, "seed": scenario.seed},
        "harness_version": __version__,
        "simulated": options.simulate,
        "started": _iso(started),
        "ended": None,
        "status": "running",
        "python": platform.python_version(),
        # Read from the installed distributions: importing an SDK only for its version costs a second.
        "packages": {name: _installed_version(name) for name in ("openai", "anthropic", "aiohttp", "pyarrow")},
        "models": {m.name: {"label": m.label, "provider": m.provider, "model": m.model,
                            "temperature": m.temperature, "top_p": m.top_p}
                   for m in map(scenario.models.get, scenario.participants())},
    }


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


async def run_scenario(scenario: Scenario, options: RunOptions) -> RunSummary:
    """Run a scenario to the end (or until interrupted), leaving its outputs in the run directory."""
    keys = {p.name: SIMULATED_API_KEY for p in scenario.used_providers()} if options.simulate \
        else api_keys(scenario)
    run_dir = run_directory(scenario, options)
    started = time.time()
    metadata = _metadata(scenario, options, started)
    write_json(run_dir / METADATA_FILE, metadata)
    parquet_meta = {"harness.scenario": scenario.name, "harness.scenario_sha256": scenario.sha256,
                    "harness.simulated": str(options.simulate).lower(), "harness.version": __version__}
    cache = CacheStore(options.cache_dir)
    sink = ResultSink(run_dir, parquet_meta)
    title = f"{scenario.name}{' · simulated' if options.simulate else ''}"
    experiment: Experiment | None = None
    status = "failed"
    try:
        async with _endpoints(scenario, options.simulate) as (urls, sim):
            lanes = {}
            for p in scenario.used_providers():
                provider = create_provider(p.name, p.kind, api_key=keys[p.name], base_url=urls[p.name],
                                           timeout=scenario.retry.request_timeout, simulated=options.simulate)
                lanes[p.name] = ProviderLane(p, provider, cache, scenario.retry)
            experiment = Experiment(scenario, lanes, sink, simulated=options.simulate)
            try:
                async with Progress(experiment.snapshot, title, enabled=options.display):
                    await experiment.run()
                status = "complete"
            finally:
                for lane in lanes.values():
                    await lane.provider.aclose()
            sim_requests = sim.stats()["requests"] if sim is not None else None
    finally:
        if status != "complete":
            sink.flush_now()
            metadata.update(status=status if status != "failed" else "interrupted", ended=_iso(time.time()))
            write_json(run_dir / METADATA_FILE, metadata)
        cache.close()
    vote_rows, speech_rows = sink.finalize()
    ended = time.time()
    metadata.update(status="complete", ended=_iso(ended), rows={"votes": vote_rows, "transcript_speeches": speech_rows})
    write_json(run_dir / METADATA_FILE, metadata)
    return _summary(experiment, run_dir, ended - started, vote_rows, speech_rows, sim_requests)


def _summary(experiment: Experiment, run_dir: Path, wall: float, vote_rows: int, speech_rows: int,
             sim_requests: int | None) -> RunSummary:
    lanes = experiment.lanes.values()
    debates = {USABLE: 0, REFUSED: 0, FAILED: 0}
    for outcome in experiment.outcomes:
        debates[outcome.status] += 1
    snap = experiment.snapshot()
    return RunSummary(
        run_dir=run_dir,
        wall_seconds=wall,
        vote_rows=vote_rows,
        speech_rows=speech_rows,
        debates=debates,
        requests_sent=sum(lane.stats.requests for lane in lanes),
        cache_hits=sum(lane.stats.cache_hits for lane in lanes),
        rate_limited=sum(lane.stats.rate_limited for lane in lanes),
        failed_items=sum(p.failed for p in snap.phases),
        simulator_requests=sim_requests,
        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        phases=[{"name": p.name, "done": p.done, "failed": p.failed, "cached": p.cached,
                 "seconds": round(p.elapsed, 1), "per_second": round(p.rate_per_second, 1)}
                for p in snap.phases],
    )
