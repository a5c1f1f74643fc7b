"""Progress while a run goes: a Rich live display on a terminal, plain periodic lines elsewhere.

Both render `RunSnapshot`s handed to them by a callback; neither reads the scheduler.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .stats import PhaseSnapshot, ProviderSnapshot, RunSnapshot


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_count(value: float) -> str:
    """1234 → "1,234"; 2500000 → "2.5M"."""
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    return f"{value:,.0f}"


def _total(phase: PhaseSnapshot) -> str:
    return format_count(phase.total) if phase.total_known else f"≥{format_count(phase.total)}"


def _limit(value: float, limit: float | None) -> str:
    return format_count(value) + (f" / {format_count(limit)}" if limit else "")


def _state(p: ProviderSnapshot) -> Text:
    if p.paused_for > 0:
        style = "red" if p.pause_reason.startswith("cooling off") else "yellow"
        return Text(f"{p.pause_reason or 'paused'} ({p.paused_for:.0f}s left)", style=style)
    if p.in_flight:
        return Text("sending", style="green")
    return Text("idle", style="dim")


def render(snapshot: RunSnapshot, title: str) -> Group:
    """The live display's content for one snapshot."""
    phases = Table(title=f"{title} · {format_duration(snapshot.elapsed)}", title_justify="left",
                   expand=False)
    for column in ("phase", "done / total", "rate /s", "ETA", "failed", "cached"):
        phases.add_column(column, justify="left" if column == "phase" else "right")
    for p in snapshot.phases:
        phases.add_row(p.name, f"{format_count(p.done)} / {_total(p)}", f"{p.rate_per_second:.1f}",
                       format_duration(p.eta_seconds) if p.done < p.total or not p.total_known else "done",
                       format_count(p.failed), format_count(p.cached))
    providers = Table(expand=False)
    for column in ("provider", "in flight", "req/min", "tok/min", "requests", "429s", "retries",
                   "failures", "cache hits", "state"):
        providers.add_column(column, justify="left" if column in ("provider", "state") else "right")
    for p in snapshot.providers:
        providers.add_row(p.name, f"{p.in_flight} / {p.max_in_flight}",
                          _limit(p.requests_per_minute, p.request_limit),
                          _limit(p.tokens_per_minute, p.token_limit), format_count(p.requests),
                          format_count(p.rate_limited), format_count(p.retries), format_count(p.failures),
                          format_count(p.cache_hits), _state(p))
    return Group(phases, providers)


def plain_line(snapshot: RunSnapshot) -> str:
    """One line of progress for logs and pipes."""
    parts = [f"[{format_duration(snapshot.elapsed):>6}]"]
    for p in snapshot.phases:
        parts.append(f"{p.name} {p.done}/{_total(p)}" + (f" ({p.failed} failed)" if p.failed else ""))
    for p in snapshot.providers:
        parts.append(f"{p.name}: {p.requests_per_minute:.0f} req/min, {p.rate_limited} 429s, "
                     f"{p.cache_hits} cached" + (f" PAUSED ({p.pause_reason}, {p.paused_for:.0f}s left)"
                                                if p.paused_for > 0 else ""))
    return " | ".join(parts)


class Progress:
    """Shows snapshots from `snapshot()` until stopped: Rich Live on a terminal, lines otherwise."""

    def __init__(self, snapshot: Callable[[], RunSnapshot], title: str, *, console: Console | None = None,
                 plain_every: float = 10.0, enabled: bool = True) -> None:
        self._snapshot = snapshot
        self._title = title
        self._console = console or Console(stderr=True)
        self._plain_every = plain_every
        self._enabled = enabled
        self._task: asyncio.Task[None] | None = None
        self._live: Live | None = None

    @property
    def interactive(self) -> bool:
        return self._console.is_terminal

    async def __aenter__(self) -> Progress:
        if not self._enabled:
            return self
        if self.interactive:
            self._live = Live(render(self._snapshot(), self._title), console=self._console,
                              refresh_per_second=4, transient=False)
            self._live.start()
            self._task = asyncio.create_task(self._refresh_live())
        else:
            self._task = asyncio.create_task(self._print_lines())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._live is not None:
            self._live.update(render(self._snapshot(), self._title))
            self._live.stop()
        elif self._enabled:
            print(plain_line(self._snapshot()), file=sys.stderr, flush=True)

    async def _refresh_live(self) -> None:
        assert self._live is not None
        while True:
            await asyncio.sleep(0.5)
            self._live.update(render(self._snapshot(), self._title))

    async def _print_lines(self) -> None:
        while True:
            await asyncio.sleep(self._plain_every)
            print(plain_line(self._snapshot()), file=sys.stderr, flush=True)
