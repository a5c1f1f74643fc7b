"""What each benchmark measures: its figures, its targets and its default sizes. Data only.

Kept apart from the code that runs the benchmarks so `--help` can describe them without importing
the SDKs, and so the table, the JSON and the README all name the same figures.
"""

from __future__ import annotations

import operator
import textwrap
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    """Column heading in the printed table."""
    fmt: str = ".2f"
    """Format spec for the printed value (the JSON keeps full precision)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A bound a figure's median is judged against."""

    key: str
    op: str
    """">=" or "<="."""
    value: float

    def met(self, figures: dict[str, Any]) -> bool | None:
        """Whether the figure meets the bound; None when the figure is missing."""
        value = figures.get(self.key)
        if value is None:
            return None
        return {">=": operator.ge, "<=": operator.le}[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.key} {'≥' if self.op == '>=' else '≤'} {self.value:g}"


@dataclass(frozen=True, slots=True)
class RowKind:
    """One kind of row in the results: a benchmark, or the baseline measured next to it."""

    name: str
    figures: tuple[Figure, ...]
    targets: tuple[Target, ...] = ()


_THROUGHPUT = (
    Figure("achieved_rps", "req/s"),
    Figure("ratio", "of limit", ".3f"),
    Figure("rate_limited", "429s", "d"),
    Figure("rate_limited_pct", "429 %", ".2f"),
    Figure("failed", "failed", "d"),
    Figure("wall_s", "wall s", ".1f"),
)
_VERSUS_NAIVE = (
    Figure("harness_over_naive_rps", "harness/naive req/s", ".2f"),
    Figure("harness_over_naive_429", "harness/naive 429s", ".3f"),
)

ROW_KINDS: dict[str, RowKind] = {kind.name: kind for kind in (
    RowKind("ceiling", _THROUGHPUT,
            (Target("ratio", ">=", 0.97), Target("rate_limited_pct", "<=", 0.5))),
    RowKind("ceiling-naive", _THROUGHPUT + _VERSUS_NAIVE),
    RowKind("misconfigured", _THROUGHPUT,
            (Target("ratio", ">=", 0.90), Target("failed", "<=", 0), Target("rate_limited_pct", "<=", 3.0))),
    RowKind("misconfigured-naive", _THROUGHPUT + _VERSUS_NAIVE),
    RowKind("overhead", (
        Figure("harness_rps", "harness req/s", ".0f"),
        Figure("bare_rps", "bare req/s", ".0f"),
        Figure("ratio", "harness/bare", ".3f"),
        Figure("harness_cpu_s_per_1k", "harness CPU s/1k", ".3f"),
        Figure("bare_cpu_s_per_1k", "bare CPU s/1k", ".3f"),
        Figure("sim_cpu_s_per_1k", "sim CPU s/1k", ".3f"),
        Figure("failed", "failed", "d"),
    ), (Target("ratio", ">=", 0.8), Target("harness_rps", ">=", 600))),
    RowKind("replay", (
        Figure("wall_s", "wall s", ".2f"),
        Figure("votes", "votes", "d"),
        Figure("speeches", "speeches", "d"),
        Figure("items_per_s", "items/s", ".0f"),
        Figure("simulator_requests", "sim requests", "d"),
        Figure("cache_hits", "cache hits", "d"),
        Figure("fill_s", "fill s", ".1f"),
    ), (Target("wall_s", "<=", 10.0), Target("simulator_requests", "<=", 0))),
    RowKind("scale", (
        Figure("first_answer_s", "first answer s", ".2f"),
        Figure("peak_rss_mb", "peak RSS MB", ".0f"),
        Figure("rss_early_mb", "RSS@early MB", ".0f"),
        Figure("rss_end_mb", "RSS@end MB", ".0f"),
        Figure("slope_mb_per_min", "MB/min", ".1f"),
        Figure("answers_per_s", "answers/s", ".0f"),
        Figure("peak_rss_with_shutdown_mb", "peak incl. exit MB", ".0f"),
        Figure("shutdown_s", "exit s", ".1f"),
    ), (Target("peak_rss_mb", "<=", 400), Target("slope_mb_per_min", "<=", 5.0))),
    RowKind("target", (
        Figure("achieved_rps", "req/s"),
        Figure("ratio", "of limit", ".3f"),
        Figure("requests_sent", "requests", "d"),
        Figure("rate_limited", "429s", "d"),
        Figure("rate_limited_pct", "429 %", ".2f"),
        Figure("failed", "failed", "d"),
        Figure("wall_s", "wall s", ".1f"),
    )),
)}

NAMES = ("ceiling", "misconfigured", "overhead", "replay", "scale")
"""The named benchmarks, in the order `python -m harness bench` runs them."""

DESCRIPTIONS = {
    "ceiling": "Throughput at a provider's true limit. A simulated provider in its own process allows "
               "1,200 requests/min per model and answers in ~0.6 s; the harness, told that limit, sends "
               "2,400 survey votes. Reports achieved req/s and its ratio to 20/s, 429s and failed votes "
               "(target: ratio >= 0.97, 429s <= 0.5 %). ceiling-naive sends the same prompts with "
               "asyncio.gather over AsyncOpenAI (default transport and retries) under a Semaphore(50).",
    "misconfigured": "The scenario claims 2,400 requests/min where the provider allows 1,200: how much of "
                     "the true limit the harness still gets once the provider's 429s and rate-limit headers say "
                     "otherwise (target: "
                     ">= 0.90 of it, no failed votes, 429s <= 3 %); plus misconfigured-naive.",
    "overhead": "The harness's own cost per request against an instant, unlimited provider: 5,000 votes "
                "through the harness vs a bare AsyncOpenAI loop on the same aiohttp transport "
                "(Semaphore(64)), alternating. Reports req/s, their ratio and CPU seconds per 1,000 "
                "requests (target: harness/bare >= 0.8 and >= 600 req/s).",
    "replay": "The whole paper scenario (45,500 votes, 700 speeches) answered from a filled cache "
              "(outputs/bench/replay-cache/, filled once): wall seconds and requests reaching the simulator "
              "(target: <= 10 s, 0 requests).",
    "scale": "A 450,000-vote scenario run as a child process for 60 s past its first answer: time to the "
             "first answer, peak RSS, RSS at 20 s and 60 s and the slope between (target: peak <= 400 MB, "
             "not rising), then SIGINT.",
}

TARGET_DESCRIPTION = ("--target URL runs the ceiling workload (the harness only) against your own "
                      "OpenAI-format server instead (give --model and the limits you expect), reporting "
                      "the harness's own counts and the achieved rate against --rpm.")


def help_text() -> str:
    """The benchmarks' descriptions for `--help`."""
    lines = ["benchmarks (figures are medians of --runs runs; see bench/README.md):"]
    for name in NAMES:
        lines.append(textwrap.fill(f"{name}: {DESCRIPTIONS[name]}", 100, initial_indent="  ",
                                   subsequent_indent="    "))
    lines.append(textwrap.fill(TARGET_DESCRIPTION, 100))
    return "\n\n".join(lines)


@dataclass(frozen=True, slots=True)
class Sizes:
    """Workload sizes and simulated latencies; the defaults are the benchmarks as specified."""

    votes: int = 2400
    """Survey votes per ceiling / misconfigured run."""
    rpm: float = 1200
    """The simulated provider's true requests per minute, per model."""
    claimed_rpm: float = 2400
    """What the misconfigured scenario tells the harness."""
    max_in_flight: int = 100
    ttft: float = 0.3
    """Simulated seconds to the first token."""
    per_token: float = 0.006
    """Simulated seconds per output token: a vote answer averages ~51 tokens, so ~0.6 s per request."""
    naive_concurrency: int = 50
    overhead_votes: int = 5000
    overhead_in_flight: int = 64
    warmup_requests: int = 200
    """Untimed bare requests before the overhead runs (imports, connections, allocator)."""
    replay_votes_per_model: int | None = None
    """Pre-debate votes per model in the replay scenario; None keeps the paper's 100."""
    replay_votes_per_transcript: int | None = None
    """Post-debate votes per transcript and voter in the replay scenario; None keeps the paper's 100."""
    replay_cache_name: str = "replay-cache"
    """Directory under --out holding the replay cache, kept between invocations."""
    scale_votes_per_transcript: int = 1000
    scale_seconds: float = 60.0
    """How long the scale run is watched after its first answer."""
    scale_early_s: float = 20.0
    """The 'early' RSS sample; the slope is fitted from here to scale_seconds."""


QUICK = Sizes(votes=200, overhead_votes=600, warmup_requests=50, replay_votes_per_model=10,
              replay_votes_per_transcript=5, replay_cache_name="replay-cache-quick",
              scale_seconds=15.0, scale_early_s=5.0)
"""Small sizes for a smoke check (`--quick`): the same code paths in about two minutes."""
