"""Assembles one run: providers (live or simulated), lanes, cache, outputs, display, and the summary."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import resource
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from . import __version__
from .cache import CacheStore
from .display import Progress
from .errors import ConfigurationError, HarnessError, OutputError, PlanChanged
from .experiment import FAILED, REFUSED, USABLE, Experiment
from .output import use_system_allocator, write_json
from .providers import WIRE_FORMATS, create_provider
from .plan import plan_debates
from .resume import Recorded, consolidate, plan_fingerprint
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
    fresh: bool = False
    """Move an earlier run in the run directory aside instead of continuing it."""
    accept_changes: bool = False
    simulator_url: str | None = None
    """With `simulate`: a simulated provider already serving there, instead of an in-process one."""
    """Continue an earlier run even though the scenario's plan changed (its tables are kept aside)."""


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
    """The run's directory, created if needed; with `fresh`, an earlier run there is moved aside."""
    run_dir = options.out_dir or Path("outputs") / scenario.name
    try:
        if options.fresh and run_dir.exists() and any(run_dir.iterdir()):
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
            run_dir.rename(aside)
            print(f"--fresh: the earlier run in {run_dir} was moved to {aside}", file=sys.stderr)
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {run_dir}: {exc.strerror or exc}") from exc
    return run_dir


def _previous_metadata(run_dir: Path) -> dict | None:
    path = run_dir / METADATA_FILE
    if not path.exists():
        return None
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def _has_results(run_dir: Path) -> bool:
    return any((run_dir / name).exists() for name in (VOTES_FILE, TRANSCRIPTS_FILE, PARTS_DIR))


def resume_state(scenario: Scenario, options: RunOptions, run_dir: Path, fingerprint: str,
                 previous: dict) -> Recorded:
    """What earlier attempts in `run_dir` recorded, consolidated; stops on an unaccepted change of plan.
    `previous` is the run directory's metadata from the last attempt ({} if none)."""
    if not _has_results(run_dir):
        return Recorded()
    changed = previous.get("plan_sha256") != fingerprint
    args = (scenario, run_dir, run_dir / PARTS_DIR, VOTES_FILE, TRANSCRIPTS_FILE, plan_debates(scenario))
    if changed:
        preview = consolidate(*args, simulated=options.simulate, check_requests=True, rewrite=False)
        if not options.accept_changes:
            raise PlanChanged(
                f"{run_dir} holds a run whose plan differs from {scenario.path}'s now "
                f"(a prompt, sampling, model, count, seed or --simulate changed). Of its rows, "
                f"{preview.vote_count():,} votes and {len(preview.debates)} debates still match the plan; "
                f"{preview.unplanned:,} rows are no longer planned and {preview.changed:,} rows' requests "
                f"would now be sent differently; every other planned item is new.\n"
                + "".join(f"  e.g. {category.replace('unplanned', 'no longer planned')}: {', '.join(names)}\n"
                          for category, names in preview.examples.items() if names) +
                f"Nothing was sent. Run again with --accept-changes to continue this run (its current "
                f"tables are kept under {run_dir}/superseded-*/ first), or with --fresh to start a new run.")
        _set_aside(run_dir)
    return consolidate(*args, simulated=options.simulate, check_requests=changed)


INTERRUPT_GRACE = 30.0
"""Longest wait, after a first Ctrl-C, for requests on the wire to come back."""


class Interrupted(HarnessError):
    """The run was stopped by a signal; everything recorded so far is kept and resumable."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; the results so far are in {run_dir}. "
                         "Run the same command again to resume.")
        self.run_dir = run_dir


@contextlib.contextmanager
def _interruptible(experiment: Experiment, request_timeout: float):
    """First SIGINT/SIGTERM: issue nothing more, let requests on the wire finish (bounded), then stop.
    Second: stop at once. Either way the run task is cancelled and the caller records what it has."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    signals = 0
    grace = min(INTERRUPT_GRACE, request_timeout)

    async def drain_then_stop() -> None:
        deadline = loop.time() + grace
        while experiment.in_flight() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)  # let the last answers' cache commits and rows land
        main.cancel()

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            print(f"\nstopping: no new requests; waiting up to {grace:.0f} s for {experiment.in_flight()} "
                  "in flight (Ctrl-C again to stop at once)", file=sys.stderr)
            experiment.interrupt()
            nonlocal drain
            drain = loop.create_task(drain_then_stop())
        else:
            main.cancel()

    drain: asyncio.Task | None = None
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such signal
            pass
    try:
        yield lambda: signals > 0
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if drain is not None:
            drain.cancel()
        if signals:
            # The run may have ended on its own before the stop landed; either way, no cancellation
            # is left pending for the steps that record the results.
            while main.cancelling():
                main.uncancel()


def _set_aside(run_dir: Path) -> None:
    """Copy the run's current tables and parts somewhere a resume will not touch."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = run_dir / f"superseded-{stamp}"
    aside.mkdir()
    for name in (VOTES_FILE, TRANSCRIPTS_FILE, METADATA_FILE):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, aside / name)
    if (run_dir / PARTS_DIR).exists():
        shutil.copytree(run_dir / PARTS_DIR, aside / PARTS_DIR)


@contextlib.asynccontextmanager
async def _endpoints(scenario: Scenario, simulate: bool,
                     simulator_url: str | None = None) -> AsyncIterator[tuple[dict[str, str | None], object]]:
    """Base URL per provider: the scenario's, an external simulator's, or an in-process simulator's."""
    if not simulate:
        yield {p.name: p.base_url for p in scenario.used_providers()}, None
        return
    if simulator_url:
        root = simulator_url.rstrip("/")
        yield {p.name: f"{root}/v1" if WIRE_FORMATS[p.kind] == "openai" else root
               for p in scenario.used_providers()}, None
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
    use_system_allocator()
    run_dir = run_directory(scenario, options)
    fingerprint = plan_fingerprint(scenario, options.simulate)
    previous = _previous_metadata(run_dir) or {}
    recorded = resume_state(scenario, options, run_dir, fingerprint, previous)
    started = time.time()
    metadata = _metadata(scenario, options, started)
    metadata["plan_sha256"] = fingerprint
    metadata["attempts"] = [*previous.get("attempts", []), {"started": metadata["started"],
                                                            "resumed_votes": recorded.vote_count(),
                                                            "resumed_debates": len(recorded.debates)}]
    if previous.get("started"):
        metadata["started"] = previous["started"]
    write_json(run_dir / METADATA_FILE, metadata)
    parquet_meta = {"harness.scenario": scenario.name, "harness.scenario_sha256": scenario.sha256,
                    "harness.simulated": str(options.simulate).lower(), "harness.version": __version__}
    cache = CacheStore(options.cache_dir)
    sink = ResultSink(run_dir, parquet_meta)
    title = f"{scenario.name}{' · simulated' if options.simulate else ''}"
    experiment: Experiment | None = None
    status = "failed"
    try:
        async with _endpoints(scenario, options.simulate, options.simulator_url) as (urls, sim):
            lanes = {}
            for p in scenario.used_providers():
                provider = create_provider(p.name, p.kind, api_key=keys[p.name], base_url=urls[p.name],
                                           timeout=scenario.retry.request_timeout, simulated=options.simulate)
                lanes[p.name] = ProviderLane(p, provider, cache, scenario.retry)
            experiment = Experiment(scenario, lanes, sink, simulated=options.simulate, recorded=recorded)
            try:
                with _interruptible(experiment, scenario.retry.request_timeout) as interrupted:
                    try:
                        async with Progress(experiment.snapshot, title, enabled=options.display):
                            await experiment.run()
                    except asyncio.CancelledError:
                        if not interrupted():
                            raise
                status = "interrupted" if interrupted() else "complete"
            finally:
                for lane in lanes.values():
                    await lane.provider.aclose()
            sim_requests = sim.stats()["requests"] if sim is not None else None
    finally:
        if status not in ("complete", "interrupted"):
            sink.flush_now()
            metadata.update(status=status, ended=_iso(time.time()))
            write_json(run_dir / METADATA_FILE, metadata)
        cache.close()
    # Interrupted or not, what is recorded is merged, so the tables are readable as they stand.
    vote_rows, speech_rows = sink.finalize()
    ended = time.time()
    metadata.update(status=status, ended=_iso(ended), rows={"votes": vote_rows, "transcript_speeches": speech_rows})
    write_json(run_dir / METADATA_FILE, metadata)
    if status == "interrupted":
        raise Interrupted(run_dir)
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
