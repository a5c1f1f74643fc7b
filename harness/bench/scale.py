"""Memory of a large run over time: `python -m harness run` as a child process, its RSS read from /proc.

A child process so the figures are the run's own (not the benchmark's) and so the run is stopped the
way a user stops it, with SIGINT. The first answer is seen in the run's cache database, read-only.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cache import DB_NAME
from .simproc import ROOT

SAMPLE_EVERY = 1.0
POLL_EVERY = 0.1
GRACE_SECONDS = 30.0


@dataclass(slots=True)
class MemoryTrace:
    """RSS samples of one run, in MB, at seconds since launch."""

    samples: list[tuple[float, float, float]] = field(default_factory=list)
    """(seconds since launch, VmRSS MB, VmHWM MB)."""
    first_answer_s: float | None = None
    interrupted_at: float | None = None
    exited_at: float | None = None
    exit_code: int | None = None
    answers: int = 0

    def rss_at(self, seconds: float) -> float | None:
        """The sample nearest to `seconds` after the first answer."""
        origin = self.first_answer_s or 0.0
        if not self.samples:
            return None
        return min(self.samples, key=lambda s: abs(s[0] - origin - seconds))[1]

    def slope(self, start: float, end: float) -> float | None:
        """Least-squares MB per minute over [start, end] seconds after the first answer."""
        origin = self.first_answer_s or 0.0
        points = [(t - origin, rss) for t, rss, _ in self.samples if start <= t - origin <= end]
        if len(points) < 2:
            return None
        mean_t = sum(t for t, _ in points) / len(points)
        mean_r = sum(r for _, r in points) / len(points)
        var = sum((t - mean_t) ** 2 for t, _ in points)
        if var == 0:
            return None
        return 60 * sum((t - mean_t) * (r - mean_r) for t, r in points) / var

    def peak(self, until: float | None = None) -> float | None:
        """The high-water mark seen up to `until` seconds since launch (all samples if None)."""
        marks = [hwm for t, _, hwm in self.samples if until is None or t <= until]
        return max(marks) if marks else None


def read_memory(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) in MB, or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    if len(values) < 2:
        return None  # a zombie has no memory lines
    return values["VmRSS"], values["VmHWM"]


def cached_answers(cache_dir: Path) -> int:
    """Rows in a run's cache database, read-only; 0 while it does not exist yet."""
    return _query(cache_dir, "SELECT COUNT(*) FROM responses")


def _has_answer(cache_dir: Path) -> bool:
    return _query(cache_dir, "SELECT EXISTS (SELECT 1 FROM responses)") == 1


def _query(cache_dir: Path, sql: str) -> int:
    """One number from the cache database, opened read-only; 0 if it is not there (yet)."""
    path = cache_dir / DB_NAME
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            return int(db.execute(sql).fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


async def trace_run(scenario: Path, work_dir: Path, *, seconds: float) -> tuple[MemoryTrace, dict[str, Any]]:
    """Run `scenario` --simulate in a child for `seconds` past its first answer, then SIGINT it.

    The child is always gone when this returns: interrupted, then killed after a grace period.
    """
    out, cache = work_dir / "out", work_dir / "cache"
    log = (work_dir / "run.log").open("wb")
    trace = MemoryTrace()
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "harness", "run", str(scenario), "--simulate", "--no-live",
        "--out", str(out), "--cache", str(cache), cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        await _watch(proc, trace, cache, started, seconds)
    finally:
        await _interrupt(proc, trace, started)
        log.close()
    trace.exit_code = proc.returncode
    trace.answers = cached_answers(cache)
    details = {"exit_code": proc.returncode, "log_tail": (work_dir / "run.log").read_text(errors="replace")[-1500:]}
    return trace, details


async def _watch(proc: asyncio.subprocess.Process, trace: MemoryTrace, cache: Path, started: float,
                 seconds: float) -> None:
    """Sample every second until `seconds` after the first answer (or after launch, if none comes)."""
    next_sample = 0.0
    while proc.returncode is None:
        elapsed = time.monotonic() - started
        if trace.first_answer_s is None and _has_answer(cache):
            trace.first_answer_s = elapsed
        if elapsed >= next_sample:
            memory = read_memory(proc.pid)
            if memory is not None:
                trace.samples.append((elapsed, *memory))
            next_sample += SAMPLE_EVERY
        origin = trace.first_answer_s if trace.first_answer_s is not None else 0.0
        if elapsed >= origin + seconds and (trace.first_answer_s is not None or elapsed >= seconds):
            return
        await asyncio.sleep(POLL_EVERY)


async def _interrupt(proc: asyncio.subprocess.Process, trace: MemoryTrace, started: float) -> None:
    """SIGINT, keep sampling while it shuts down, SIGKILL after the grace period."""
    if proc.returncode is not None:
        return
    trace.interrupted_at = time.monotonic() - started
    proc.send_signal(signal.SIGINT)
    try:
        deadline = time.monotonic() + GRACE_SECONDS
        while proc.returncode is None and time.monotonic() < deadline:
            memory = read_memory(proc.pid)
            if memory is not None:
                trace.samples.append((time.monotonic() - started, *memory))
            try:
                await asyncio.wait_for(proc.wait(), 0.2)
            except TimeoutError:
                pass
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    trace.exited_at = time.monotonic() - started
