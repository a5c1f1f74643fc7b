"""The simulated provider in a child process, so the server never shares the client's event loop.

Timed against an in-process server, a benchmark would measure the two competing for one loop and
one core; in its own process the server behaves like a remote provider, and `/sim/stats` gives
ground-truth counts of what it received and refused.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
_URL_LINE = re.compile(r"simulated provider on (http://127\.0\.0\.1:\d+) \(seed -?\d+\)")
_COUNTS = ("requests", "ok", "rate_limited", "faults")


class SimProcessError(RuntimeError):
    """The simulated provider did not start, or stopped answering."""


class SimProcess:
    """`python -m harness sim --port 0 …` for the length of an `async with` block, killed on the way out."""

    def __init__(self, *, ttft: float, per_token: float, rpm: float | None = None, tpm: float | None = None,
                 seed: int = 0, startup_timeout: float = 30.0) -> None:
        self.args = ["--port", "0", "--ttft", str(ttft), "--per-token", str(per_token), "--seed", str(seed)]
        if rpm is not None:
            self.args += ["--rpm", str(rpm)]
        if tpm is not None:
            self.args += ["--tpm", str(tpm)]
        self.startup_timeout = startup_timeout
        self.url = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def __aenter__(self) -> SimProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Launch, learn the URL from the first stdout line, and wait until /health answers."""
        self._stderr = tempfile.TemporaryFile()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harness", "sim", *self.args, cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=self._stderr)
        try:
            deadline = time.monotonic() + self.startup_timeout
            line = await asyncio.wait_for(self._proc.stdout.readline(), self.startup_timeout)
            match = _URL_LINE.match(line.decode(errors="replace"))
            if match is None:
                raise SimProcessError(f"unexpected first line from the simulated provider: {line!r}; "
                                      f"stderr: {self._stderr_tail()}")
            self.url = match.group(1)
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            await self._wait_healthy(deadline)
        except BaseException:
            await self.stop()
            raise

    async def _wait_healthy(self, deadline: float) -> None:
        while True:
            try:
                async with self._http.get(f"{self.url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if not self.running or time.monotonic() > deadline:
                raise SimProcessError(f"simulated provider at {self.url} did not become healthy; "
                                      f"stderr: {self._stderr_tail()}")
            await asyncio.sleep(0.05)

    async def stats(self) -> dict[str, Any]:
        """GET /sim/stats: requests, ok, rate_limited, by_model, …"""
        if self._http is None:
            raise SimProcessError("the simulated provider is not running")
        async with self._http.get(f"{self.url}/sim/stats") as response:
            response.raise_for_status()
            return await response.json()

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (from /proc)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        """Terminate the server (kill it if it lingers); safe to call twice, and while cancelled."""
        proc, self._proc = self._proc, None
        http, self._http = self._http, None
        try:
            if http is not None:
                await http.close()
        finally:
            if proc is not None and proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 5.0)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
                finally:
                    if proc.returncode is None:  # cancelled while waiting: never leave it running
                        proc.kill()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:].strip() or "(empty)"


def model_counts(stats: dict[str, Any], model: str) -> dict[str, int]:
    """One model's counters from a /sim/stats snapshot (zeros before its first request)."""
    counts = stats.get("by_model", {}).get(model, {})
    return {name: int(counts.get(name, 0)) for name in _COUNTS}


def counts_delta(before: dict[str, Any], after: dict[str, Any], model: str) -> dict[str, int]:
    """What the server received for `model` between two snapshots."""
    b, a = model_counts(before, model), model_counts(after, model)
    return {name: a[name] - b[name] for name in _COUNTS}
