"""One `python -m harness bench` invocation: run the chosen benchmarks, print, save the JSON."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .benchmarks import BENCHMARKS, target
from .catalog import NAMES, QUICK, Sizes
from .report import Report
from .workloads import API_KEY, API_KEY_ENV


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """The ceiling workload against an external server (`--target`)."""

    urls: tuple[str, ...]
    model: str
    rpm: float | None = None
    tpm: float | None = None
    max_in_flight: int = 50
    votes: int = 500
    api_key_env: str = API_KEY_ENV


def select(names: list[str]) -> list[str]:
    """The benchmarks to run, in the canonical order; ValueError naming an unknown one."""
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown benchmark {unknown[0]!r} (choose from {', '.join(NAMES)})")
    return [n for n in NAMES if n in names] if names else list(NAMES)


async def run_suite(names: list[str], *, runs: int = 3, out_dir: Path = Path("outputs/bench"),
                    sizes: Sizes | None = None, quick: bool = False, targets: TargetOptions | None = None,
                    report: Report | None = None) -> tuple[Report, Path]:
    """Run the benchmarks (or the --target workload) and write the JSON, even after a failure."""
    if runs < 1:
        raise ValueError("--runs must be at least 1")
    sizes = sizes or (QUICK if quick else Sizes())
    chosen = [] if targets else select(names)
    report = report or Report(runs=runs, quick=quick, sizes=asdict(sizes))
    if report.concurrent:
        report.print("warning: other harness processes are running; timings will be noisy:\n  "
                     + "\n  ".join(report.concurrent))
    complete = False
    try:
        if targets:
            if targets.api_key_env == API_KEY_ENV:
                os.environ.setdefault(API_KEY_ENV, API_KEY)
            for url in targets.urls:
                kinds = await target(url, model=targets.model, rpm=targets.rpm, tpm=targets.tpm,
                                     max_in_flight=targets.max_in_flight, votes=targets.votes,
                                     api_key_env=targets.api_key_env, runs=runs, emit=report.emit)
                report.summarize(kinds)
        for name in chosen:
            kinds = await BENCHMARKS[name](sizes, runs, report.emit, out_dir=out_dir)
            report.summarize(kinds)
        complete = True
    finally:
        path = report.write(out_dir, complete=complete)
    return report, path
