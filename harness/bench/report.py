"""Results: a progress line per run, a table per benchmark with its medians, all of it saved as JSON.

Medians, because this machine is small and shared: one run can be slowed by a neighbour, and the
median of a few runs is not moved by one bad one.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import orjson

from .. import __version__
from .catalog import ROW_KINDS, RowKind

LATEST = "latest.json"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def median_figures(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """The median of each figure over the rows that have it."""
    keys = dict.fromkeys(k for row in rows for k in row["figures"])
    medians: dict[str, float | None] = {}
    for key in keys:
        values = [row["figures"][key] for row in rows if row["figures"].get(key) is not None]
        medians[key] = statistics.median(values) if values else None
    return medians


def format_value(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    if fmt == "d":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return format(value, fmt)


def _ancestors() -> set[int]:
    """This process and its parents (a `timeout` or shell wrapping this very command)."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return pids


def other_harness_runs() -> list[str]:
    """Command lines of other `harness run` / `harness bench` processes: they make timings noisy."""
    found, mine = [], _ancestors()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if "harness" in words and any(w in words for w in ("run", "bench")):
            found.append(f"{entry.name}: {' '.join(words)[:160]}")
    return found


def source_state() -> dict[str, Any]:
    """The git commit measured and whether the tree had uncommitted changes (the version alone
    does not say which code ran)."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                 capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted_files": None}
    return {"commit": commit or None, "uncommitted_files": [line[3:] for line in changed]}


class Report:
    """Collects rows, prints them as a table per benchmark, writes the JSON file."""

    def __init__(self, *, runs: int, quick: bool, sizes: dict[str, Any], out: TextIO = sys.stdout,
                 progress: TextIO = sys.stderr) -> None:
        self.runs = runs
        self.quick = quick
        self.sizes = sizes
        self.rows: list[dict[str, Any]] = []
        self.medians: list[dict[str, Any]] = []
        self.started = utc_now()
        self.concurrent = other_harness_runs()
        self.source = source_state()
        self._out = out
        self._progress = progress

    def print(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def emit(self, kind: str, run: int, figures: dict[str, Any], params: dict[str, Any],
             details: dict[str, Any] | None = None) -> None:
        """Record one run's figures, and say so on the progress stream as soon as it is done."""
        row = {"benchmark": kind, "run": run, "figures": figures, "params": params,
               "details": details or {}, "harness_version": __version__,
               "finished": utc_now().isoformat(timespec="seconds")}
        self.rows.append(row)
        shown = ", ".join(f"{f.label} {format_value(figures.get(f.key), f.fmt)}" for f in ROW_KINDS[kind].figures)
        print(f"  {kind} run {run}/{self.runs}: {shown}", file=self._progress, flush=True)

    def summarize(self, kinds: list[str]) -> None:
        """Print each kind's table (a row per run, then the medians and the targets) and keep the medians."""
        for kind in kinds:
            rows = [r for r in self.rows if r["benchmark"] == kind]
            if not rows:
                continue
            spec = ROW_KINDS[kind]
            figures = median_figures(rows)
            verdicts = {str(t): t.met(figures) for t in spec.targets}
            self.medians.append({"benchmark": kind, "run": "median", "runs": len(rows), "figures": figures,
                                 "params": rows[-1]["params"], "targets": verdicts,
                                 "harness_version": __version__})
            self.print()
            self.print(self._line(spec, kind, [f.label for f in spec.figures]))
            for row in rows:
                self.print(self._line(spec, f"  run {row['run']}", [format_value(row["figures"].get(f.key), f.fmt)
                                                                    for f in spec.figures]))
            self.print(self._line(spec, "  median", [format_value(figures.get(f.key), f.fmt)
                                                     for f in spec.figures]))
            if verdicts:
                marks = {True: "met", False: "MISSED", None: "n/a"}
                self.print("  targets: " + ", ".join(f"{t} {marks[ok]}" for t, ok in verdicts.items()))

    @staticmethod
    def _line(spec: RowKind, first: str, cells: list[str]) -> str:
        widths = [max(len(f.label), 8) for f in spec.figures]
        return f"{first:<20}" + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths))

    def document(self, *, complete: bool, argv: list[str] | None = None) -> dict[str, Any]:
        return {
            "harness_version": __version__,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": utc_now().isoformat(timespec="seconds"),
            "complete": complete,
            "argv": argv if argv is not None else sys.argv[1:],
            "runs": self.runs,
            "quick": self.quick,
            "sizes": self.sizes,
            "source": self.source,
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
            "other_harness_processes_at_start": self.concurrent,
            "rows": self.rows,
            "medians": self.medians,
        }

    def write(self, directory: Path, *, complete: bool) -> Path:
        """bench-<UTC timestamp>.json in `directory`, copied to latest.json; returns its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"bench-{self.started.strftime('%Y%m%dT%H%M%SZ')}.json"
        data = orjson.dumps(self.document(complete=complete), option=orjson.OPT_INDENT_2,
                            default=_jsonable)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        shutil.copyfile(path, directory / LATEST)
        return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError


Emit = Callable[..., None]
