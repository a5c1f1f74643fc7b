"""Pure: vote and speech rows → the paper's summary tables (Table 2, Figure 3, Section 5.2).

Rows are plain dicts with the columns of votes.parquet and transcripts.parquet (see the README).
A vote counts only when its stance is "open" or "closed": every share's denominator is the counted
votes, and the votes without a stance are tallied apart (unparseable or ambiguous; failed), never
as either side. Shares are fractions in [0, 1]; a share with nothing counted is None.

The 100 votes a voter casts on one transcript are not independent draws, so post-debate intervals
come in two kinds: Wilson's, which treats every vote as independent, and a bootstrap that resamples
whole transcripts. The bootstrap is seeded, so a report is the same every time it is written.
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist, fmean
from typing import Any

from .records import CLOSED, OPEN

PRE = "pre"
POST = "post"
USABLE = "usable"
REFUSED = "refused"
FAILED = "failed"

Z_95 = NormalDist().inv_cdf(0.975)
"""The standard normal quantile of a two-sided 95% interval (1.95996…)."""
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240201
"""Fixed so that rewriting a report reproduces its intervals exactly."""

PAPER_TABLE2: dict[str, dict[str, tuple[int, int]]] = {
    "gpt": {PRE: (100, 100), POST: (8571, 9000)},
    "claude": {PRE: (100, 100), POST: (9000, 9000)},
    "gemini": {PRE: (100, 100), POST: (6999, 9000)},
    "codellama": {PRE: (100, 100), POST: (7087, 9000)},
    "mixtral": {PRE: (100, 100), POST: (8489, 9000)},
}
"""The paper's Table 2 as (open-source votes, votes), keyed by the scenario's model short names."""

PAPER_MOST_PERSUASIVE = ("gpt", "gemini")
"""Section 5.2: "GPT-4 and Gemini Pro emerged as the most persuasive closed-source debaters"."""
PAPER_MOST_STEADFAST = ("gpt", "claude")
"""Section 5.2: "GPT-4 and Claude-2.1 displayed a notable level of steadfastness"."""

REFUSAL_COLUMNS = ("transcript_id", "resolution", "affirmative", "negative", "repeat", "refused_by",
                   "refused_side", "refusal")

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tally:
    """Votes of one group, by outcome."""

    open: int = 0
    closed: int = 0
    unparseable: int = 0
    """No stance could be read: unparseable or ambiguous answers."""
    failed: int = 0
    """No answer after the retries."""

    @property
    def counted(self) -> int:
        return self.open + self.closed

    @property
    def total(self) -> int:
        return self.counted + self.unparseable + self.failed

    @property
    def share(self) -> float | None:
        """Open-source share of the counted votes."""
        return self.open / self.counted if self.counted else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.open + other.open, self.closed + other.closed,
                     self.unparseable + other.unparseable, self.failed + other.failed)


@dataclass(frozen=True, slots=True)
class Debate:
    """One debate as recorded in transcripts.parquet, with who refused in it."""

    transcript_id: str
    resolution: str | None
    affirmative: str | None
    negative: str | None
    repeat: int | None
    status: str
    refused_by: tuple[str, ...] = ()
    refused_sides: tuple[str, ...] = ()
    refusal: str | None = None
    """The first refusal wording found, in speech order."""


@dataclass(frozen=True, slots=True)
class RunAnalysis:
    """Every table of the report, as lists of rows ready for CSV, JSON or Markdown."""

    models: list[str]
    voters: list[str]
    debaters: list[str]
    counts: Row
    table2: list[Row]
    by_resolution: list[Row]
    heatmap: list[Row]
    persuasive: list[Row]
    refusals: list[Row]
    debater_scores: list[Row]
    voter_scores: list[Row]
    paper_comparison: list[Row]
    warnings: list[str] = field(default_factory=list)


# --- intervals ---------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval of a binomial share; None when nothing was counted."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At 0 or n the bound is exactly 0 or 1; the formula can miss it by a rounding error.
    return (0.0 if successes == 0 else centre - half), (1.0 if successes == n else centre + half)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def bootstrap_interval(counts: Sequence[tuple[int, int]], *, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of a pooled share, resampling transcripts (open, counted) with replacement.

    Transcripts with nothing counted carry no information and are left out; None if none is left.
    """
    units = [(o, n) for o, n in counts if n > 0]
    if not units:
        return None
    rng = random.Random(seed)
    shares = []
    for _ in range(resamples):
        draw = rng.choices(units, k=len(units))
        shares.append(sum(o for o, _ in draw) / sum(n for _, n in draw))
    shares.sort()
    tail = (1 - level) / 2
    return quantile(shares, tail), quantile(shares, 1 - tail)


def contains(interval: tuple[float, float] | None, value: float, tolerance: float = 1e-9) -> bool | None:
    """Whether the closed interval holds `value`; None when there is no interval."""
    if interval is None:
        return None
    return interval[0] - tolerance <= value <= interval[1] + tolerance


# --- tallies -----------------------------------------------------------------------------------


def _outcome(row: Mapping[str, Any]) -> int:
    """Which Tally field a vote adds to, by position: its side if it has one, else why it is not counted."""
    stance = row.get("stance")
    if stance == OPEN:
        return 0
    if stance == CLOSED:
        return 1
    return 3 if row.get("parse_status") == FAILED else 2


def tally_vote(row: Mapping[str, Any]) -> Tally:
    """One vote as a tally."""
    counts = [0, 0, 0, 0]
    counts[_outcome(row)] = 1
    return Tally(*counts)


def tally_by(rows: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Hashable]) -> dict[Any, Tally]:
    """Tallies of the rows grouped by `key`, in order of first appearance."""
    counts: dict[Any, list[int]] = {}
    for row in rows:
        group = counts.get(k := key(row))
        if group is None:
            group = counts[k] = [0, 0, 0, 0]
        group[_outcome(row)] += 1
    return {k: Tally(*c) for k, c in counts.items()}


def per_transcript(votes: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Tally]:
    """Post-debate tallies by (voter, transcript_id)."""
    return tally_by((v for v in votes if v.get("phase") == POST), lambda v: (v["voter"], v["transcript_id"]))


# --- debates -----------------------------------------------------------------------------------


def debates_from_rows(speeches: Iterable[Mapping[str, Any]],
                      votes: Iterable[Mapping[str, Any]] = ()) -> dict[str, Debate]:
    """One Debate per transcript, from its speech rows; transcripts seen only in votes count as usable."""
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for s in speeches:
        grouped[s["transcript_id"]].append(s)
    debates = {tid: _debate(rows) for tid, rows in sorted(grouped.items())}
    for v in votes:
        tid = v.get("transcript_id")
        if v.get("phase") == POST and tid and tid not in debates:
            debates[tid] = Debate(tid, v.get("resolution"), v.get("affirmative"), v.get("negative"),
                                  v.get("debate_repeat"), USABLE)
    return debates


def _debate(rows: list[Mapping[str, Any]]) -> Debate:
    rows = sorted(rows, key=lambda s: s.get("speech_index") or 0)
    first = rows[0]
    refusing = [s for s in rows if s.get("refusal")]
    return Debate(
        transcript_id=first["transcript_id"], resolution=first.get("resolution"),
        affirmative=first.get("affirmative"), negative=first.get("negative"),
        repeat=first.get("debate_repeat"), status=first.get("status") or USABLE,
        refused_by=tuple(dict.fromkeys(s.get("speaker") for s in refusing)),
        refused_sides=tuple(dict.fromkeys(s.get("side") for s in refusing)),
        refusal=refusing[0]["refusal"] if refusing else None,
    )


# --- ordering ----------------------------------------------------------------------------------

_MODEL_TABLE = re.compile(r"^\s*\[models\.([A-Za-z0-9_-]+)\]", re.MULTILINE)


def order_models(models: Iterable[str], scenario_text: str = "") -> list[str]:
    """Models in the order the scenario declares them (the paper's order), others after as given."""
    given = list(dict.fromkeys(models))
    declared = [m for m in dict.fromkeys(_MODEL_TABLE.findall(scenario_text)) if m in given]
    return declared + [m for m in given if m not in declared]


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    names = set(names)
    return [m for m in order if m in names] + sorted(names - set(order))


# --- Table 2 -----------------------------------------------------------------------------------


def share_row(tally: Tally, transcripts: Sequence[tuple[int, int]] | None, *,
              resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Row:
    """Counts, share, Wilson interval and (given per-transcript counts) bootstrap interval."""
    wilson = wilson_interval(tally.open, tally.counted)
    boot = bootstrap_interval(transcripts, resamples=resamples, seed=seed) if transcripts is not None else None
    return {
        "open": tally.open, "closed": tally.closed, "counted": tally.counted, "share": tally.share,
        "wilson_low": wilson[0] if wilson else None, "wilson_high": wilson[1] if wilson else None,
        "bootstrap_low": boot[0] if boot else None, "bootstrap_high": boot[1] if boot else None,
        "transcripts": None if transcripts is None else sum(1 for _, n in transcripts if n > 0),
        "unparseable_or_ambiguous": tally.unparseable, "failed": tally.failed, "votes": tally.total,
    }


def table2(votes: Sequence[Mapping[str, Any]], voters: Sequence[str], models: Mapping[str, Mapping[str, Any]],
           *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> list[Row]:
    """Table 2: each voter's open-source share before and after the debates (post with a bootstrap)."""
    totals = tally_by(votes, lambda v: (v["voter"], v["phase"]))
    cells = per_transcript(votes)
    rows = []
    for voter in voters:
        for phase in (PRE, POST):
            tally = totals.get((voter, phase), Tally())
            units = [(t.open, t.counted) for (v, _), t in cells.items() if v == voter] if phase == POST else None
            rows.append({"voter": voter, **_model_columns(voter, models), "phase": phase,
                         **share_row(tally, units, resamples=resamples, seed=seed)})
    return rows


def table2_by_resolution(votes: Sequence[Mapping[str, Any]], voters: Sequence[str],
                         models: Mapping[str, Mapping[str, Any]], *, resamples: int = BOOTSTRAP_RESAMPLES,
                         seed: int = BOOTSTRAP_SEED) -> list[Row]:
    """Post-debate shares split by the debate's resolution (open-source or closed-source)."""
    post = [v for v in votes if v.get("phase") == POST]
    totals = tally_by(post, lambda v: (v["voter"], v["resolution"]))
    resolution_of = {v["transcript_id"]: v["resolution"] for v in post}
    cells = per_transcript(post)
    resolutions = _ordered(resolution_of.values(), (OPEN, CLOSED))
    rows = []
    for voter in voters:
        for resolution in resolutions:
            units = [(t.open, t.counted) for (v, tid), t in cells.items()
                     if v == voter and resolution_of[tid] == resolution]
            rows.append({"voter": voter, **_model_columns(voter, models), "resolution": resolution,
                         **share_row(totals.get((voter, resolution), Tally()), units,
                                     resamples=resamples, seed=seed)})
    return rows


def _model_columns(name: str, models: Mapping[str, Mapping[str, Any]]) -> Row:
    info = models.get(name, {})
    return {"label": info.get("label") or name, "model": info.get("model")}


# --- Figure 3 ----------------------------------------------------------------------------------


def heatmap(votes: Sequence[Mapping[str, Any]], debates: Mapping[str, Debate], voters: Sequence[str],
            debaters: Sequence[str], *, resolution: str = CLOSED) -> list[Row]:
    """Figure 3 in long form: one cell per (voter, affirmative, negative) on `resolution`.

    A cell's share is the mean of its transcripts' open-source shares (the paper averages the
    repeats); `open`/`counted` pool the same votes. Status says why a cell is empty: "refused",
    "failed" (the debates failed), "no votes" (usable but nothing counted yet) or "not run".
    """
    cells = per_transcript(votes)
    by_pair: dict[tuple[str, str], list[Debate]] = defaultdict(list)
    for d in debates.values():
        if d.resolution == resolution:
            by_pair[(d.affirmative, d.negative)].append(d)
    rows = []
    for voter in voters:
        for aff in debaters:
            for neg in debaters:
                pair = sorted(by_pair.get((aff, neg), []), key=lambda d: d.repeat or 0)
                tallies = [cells[(voter, d.transcript_id)] for d in pair
                           if d.status == USABLE and (voter, d.transcript_id) in cells]
                tallies = [t for t in tallies if t.counted]
                pooled = sum(tallies, Tally())
                rows.append({
                    "voter": voter, "affirmative": aff, "negative": neg, "resolution": resolution,
                    "share": fmean(t.share for t in tallies) if tallies else None,
                    "open": pooled.open, "counted": pooled.counted, "transcripts": len(tallies),
                    "refused_transcripts": sum(d.status == REFUSED for d in pair),
                    "status": _cell_status(pair, tallies),
                })
    return rows


def _cell_status(pair: list[Debate], tallies: list[Tally]) -> str:
    if tallies:
        return "ok"
    if not pair:
        return "not run"
    statuses = {d.status for d in pair}
    if statuses == {REFUSED}:
        return REFUSED
    if USABLE not in statuses:
        return FAILED if REFUSED not in statuses else "refused/failed"
    return "no votes"


# --- Section 3 and 5.2 observations ------------------------------------------------------------


def pre_shares(votes: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Each voter's pre-debate open-source share."""
    return {voter: t.share for voter, t in tally_by((v for v in votes if v.get("phase") == PRE),
                                                    lambda v: v["voter"]).items()}


def persuasive_transcripts(votes: Sequence[Mapping[str, Any]], debates: Mapping[str, Debate],
                           voters: Sequence[str], *, top: int = 5) -> list[Row]:
    """The transcripts that moved voters most toward closed source (lowest open share).

    Scope "overall" ranks transcripts by the mean of the voters' shares (each voter weighs the
    same); each voter's scope ranks by that voter's share. Shift = pre-debate share − this share.
    """
    pre = pre_shares(votes)
    scored: dict[str, list[Row]] = defaultdict(list)
    by_transcript: dict[str, list[Row]] = defaultdict(list)
    for (voter, tid), t in per_transcript(votes).items():
        if t.counted and voter in voters:
            shift = pre[voter] - t.share if pre.get(voter) is not None else None
            row = {"transcript_id": tid, "share": t.share, "shift": shift, "open": t.open,
                   "counted": t.counted, "voters": 1}
            scored[voter].append(row)
            by_transcript[tid].append(row)
    overall = [_mean_row(tid, own) for tid, own in by_transcript.items()]
    rows = _ranked("overall", overall, debates, top)
    for voter in voters:
        rows += _ranked(voter, scored[voter], debates, top)
    return rows


def _mean_row(tid: str, own: list[Row]) -> Row:
    shifts = [r["shift"] for r in own if r["shift"] is not None]
    return {"transcript_id": tid, "share": fmean(r["share"] for r in own),
            "shift": fmean(shifts) if len(shifts) == len(own) else None,
            "open": sum(r["open"] for r in own), "counted": sum(r["counted"] for r in own), "voters": len(own)}


def _ranked(scope: str, scored: list[Row], debates: Mapping[str, Debate], top: int) -> list[Row]:
    best = sorted(scored, key=lambda r: (r["share"], r["transcript_id"]))[:top]
    rows = []
    for rank, r in enumerate(best, 1):
        d = debates.get(r["transcript_id"])
        rows.append({"scope": scope, "rank": rank, "transcript_id": r["transcript_id"],
                     "resolution": d and d.resolution, "affirmative": d and d.affirmative,
                     "negative": d and d.negative, "repeat": d and d.repeat,
                     "share": r["share"], "closed_share": 1 - r["share"], "shift": r["shift"],
                     "open": r["open"], "counted": r["counted"], "voters": r["voters"]})
    return rows


def refusal_rows(debates: Mapping[str, Debate]) -> list[Row]:
    """Every refused debate and who refused, in which side, with the wording found."""
    return [dict(zip(REFUSAL_COLUMNS, (d.transcript_id, d.resolution, d.affirmative, d.negative, d.repeat,
                                       ", ".join(d.refused_by), ", ".join(d.refused_sides), d.refusal)))
            for d in debates.values() if d.status == REFUSED]


def debater_scores(votes: Sequence[Mapping[str, Any]], debates: Mapping[str, Debate], voters: Sequence[str],
                   debaters: Sequence[str], models: Mapping[str, Mapping[str, Any]], *,
                   resolution: str = CLOSED) -> list[Row]:
    """Each debater's persuasiveness for closed source (Section 5.2), on the closed-source resolution.

    `closed_share_induced` is the mean over voters of the mean closed-source share across the
    transcripts where it argued the affirmative; `open_share_defended` is the same open-source share
    where it argued the negative. Ranked by closed_share_induced, highest first.
    """
    cells = {k: t for k, t in per_transcript(votes).items() if t.counted}
    rows = []
    for model in debaters:
        as_aff = [d for d in debates.values() if d.resolution == resolution and d.affirmative == model]
        as_neg = [d for d in debates.values() if d.resolution == resolution and d.negative == model]
        induced = _mean_over_voters(cells, voters, as_aff)
        defended = _mean_over_voters(cells, voters, as_neg)
        rows.append({"debater": model, **_model_columns(model, models),
                     "closed_share_induced": None if induced is None else 1 - induced,
                     "affirmative_usable": sum(d.status == USABLE for d in as_aff),
                     "affirmative_refused": sum(d.status == REFUSED for d in as_aff),
                     "open_share_defended": defended,
                     "negative_usable": sum(d.status == USABLE for d in as_neg),
                     "negative_refused": sum(d.status == REFUSED for d in as_neg)})
    return _with_rank(rows, "closed_share_induced", highest_first=True)


def _mean_over_voters(cells: Mapping[tuple[str, str], Tally], voters: Sequence[str],
                      debates: Sequence[Debate]) -> float | None:
    per_voter = []
    for voter in voters:
        shares = [cells[(voter, d.transcript_id)].share for d in debates if (voter, d.transcript_id) in cells]
        if shares:
            per_voter.append(fmean(shares))
    return fmean(per_voter) if per_voter else None


def voter_scores(votes: Sequence[Mapping[str, Any]], voters: Sequence[str],
                 models: Mapping[str, Mapping[str, Any]], *, resolution: str = CLOSED) -> list[Row]:
    """Each voter's steadfastness (Section 5.2): its post-debate open share and its shift from pre.

    `mean_shift` is pre share − mean per-transcript post share; `lowest_share` is the transcript that
    moved it most. Ranked by post share, most steadfast first.
    """
    totals = tally_by(votes, lambda v: (v["voter"], v["phase"]))
    cells = {k: t for k, t in per_transcript(votes).items() if t.counted}
    resolution_of = {v["transcript_id"]: v.get("resolution") for v in votes if v.get("phase") == POST}
    rows = []
    for voter in voters:
        shares = [t.share for (v, _), t in cells.items() if v == voter]
        on_res = [t.share for (v, tid), t in cells.items() if v == voter and resolution_of[tid] == resolution]
        pre = totals.get((voter, PRE), Tally()).share
        mean_post = fmean(shares) if shares else None
        rows.append({"voter": voter, **_model_columns(voter, models),
                     "pre_share": pre, "post_share": totals.get((voter, POST), Tally()).share,
                     "mean_transcript_share": mean_post,
                     f"mean_share_{resolution}_resolution": fmean(on_res) if on_res else None,
                     "mean_shift": None if pre is None or mean_post is None else pre - mean_post,
                     "lowest_share": min(shares) if shares else None,
                     "transcripts_majority_closed": sum(s < 0.5 for s in shares)})
    return _with_rank(rows, "post_share", highest_first=True)


def _with_rank(rows: list[Row], key: str, *, highest_first: bool) -> list[Row]:
    scored = sorted((r for r in rows if r[key] is not None), key=lambda r: -r[key] if highest_first else r[key])
    ranks = {id(r): i for i, r in enumerate(scored, 1)}
    ordered = scored + [r for r in rows if r[key] is None]
    return [{"rank": ranks.get(id(r)), **r} for r in ordered]


# --- the paper ---------------------------------------------------------------------------------


def paper_comparison(table2_rows: Sequence[Row], paper: Mapping[str, Mapping[str, tuple[int, int]]] = PAPER_TABLE2
                     ) -> list[Row]:
    """Each Table 2 figure beside the paper's, with the difference and whether intervals hold it."""
    rows = []
    for r in table2_rows:
        figures = paper.get(r["voter"], {})
        if r["phase"] not in figures:
            continue
        paper_open, paper_votes = figures[r["phase"]]
        paper_share = paper_open / paper_votes
        wilson = None if r["wilson_low"] is None else (r["wilson_low"], r["wilson_high"])
        boot = None if r["bootstrap_low"] is None else (r["bootstrap_low"], r["bootstrap_high"])
        rows.append({"voter": r["voter"], "label": r["label"], "phase": r["phase"],
                     "paper_share": paper_share, "paper_open": paper_open, "paper_votes": paper_votes,
                     "share": r["share"], "open": r["open"], "counted": r["counted"],
                     "difference_points": None if r["share"] is None else 100 * (r["share"] - paper_share),
                     "paper_in_wilson": contains(wilson, paper_share),
                     "paper_in_bootstrap": contains(boot, paper_share)})
    return rows


# --- the whole run -----------------------------------------------------------------------------


def run_counts(votes: Sequence[Mapping[str, Any]], debates: Mapping[str, Debate], speeches: int) -> Row:
    """How many votes and debates the run holds, and how many votes of each outcome."""
    by_phase = tally_by(votes, lambda v: v["phase"])
    statuses = [d.status for d in debates.values()]
    row: Row = {"speeches": speeches, "debates": len(statuses)}
    for status in (USABLE, REFUSED, FAILED):
        row[f"debates_{status}"] = statuses.count(status)
    for phase in (PRE, POST):
        t = by_phase.get(phase, Tally())
        row |= {f"{phase}_votes": t.total, f"{phase}_counted": t.counted,
                f"{phase}_unparseable_or_ambiguous": t.unparseable, f"{phase}_failed": t.failed}
    return row


def missing_votes(votes: Sequence[Mapping[str, Any]], debates: Mapping[str, Debate]) -> Row:
    """A lower bound on the votes still missing, inferred from the rows alone.

    Every voter seen is expected to cast, in each phase, as many votes per prompt as the most seen
    on any prompt of that phase, on every usable debate recorded. Debates not yet held are not
    counted: the run's plan is not in its outputs.
    """
    seen: dict[str, dict[tuple[str, str | None], int]] = {PRE: {}, POST: {}}
    samples = {PRE: 0, POST: 0}
    for v in votes:
        phase = v["phase"]
        if phase in seen:
            key = (v["voter"], v.get("transcript_id"))
            seen[phase][key] = seen[phase].get(key, 0) + 1
            samples[phase] = max(samples[phase], (v.get("sample") or 0) + 1)
    voters = {p: {voter for voter, _ in seen[p]} for p in seen}
    usable = sum(d.status == USABLE for d in debates.values())
    expected = {PRE: len(voters[PRE]) * samples[PRE], POST: len(voters[POST]) * usable * samples[POST]}
    present = {p: sum(seen[p].values()) for p in seen}
    return {f"{p}_{k}": n for p in (PRE, POST)
            for k, n in (("present", present[p]), ("expected_at_least", max(expected[p], present[p])))}


def analyse_run(votes: Sequence[Mapping[str, Any]], speeches: Sequence[Mapping[str, Any]],
                models: Mapping[str, Mapping[str, Any]], *, scenario_text: str = "",
                resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> RunAnalysis:
    """Every table of the report from the rows of votes.parquet and transcripts.parquet."""
    debates = debates_from_rows(speeches, votes)
    order = order_models([*models, *(v["voter"] for v in votes),
                          *(m for d in debates.values() for m in (d.affirmative, d.negative) if m)], scenario_text)
    voters = _ordered({v["voter"] for v in votes}, order)
    debaters = _ordered({m for d in debates.values() for m in (d.affirmative, d.negative) if m}, order)
    t2 = table2(votes, voters, models, resamples=resamples, seed=seed)
    counts = run_counts(votes, debates, len(speeches)) | missing_votes(votes, debates)
    return RunAnalysis(
        models=order, voters=voters, debaters=debaters, counts=counts, table2=t2,
        by_resolution=table2_by_resolution(votes, voters, models, resamples=resamples, seed=seed),
        heatmap=heatmap(votes, debates, voters, debaters),
        persuasive=persuasive_transcripts(votes, debates, voters),
        refusals=refusal_rows(debates),
        debater_scores=debater_scores(votes, debates, voters, debaters, models),
        voter_scores=voter_scores(votes, voters, models),
        paper_comparison=paper_comparison(t2),
        warnings=_warnings(counts, voters),
    )


def _warnings(counts: Row, voters: Sequence[str]) -> list[str]:
    notes = []
    for phase in (PRE, POST):
        gap = counts[f"{phase}_expected_at_least"] - counts[f"{phase}_present"]
        if gap:
            notes.append(f"{gap:,} {phase}-debate votes missing on the voters and debates recorded so far.")
        if counts[f"{phase}_failed"]:
            notes.append(f"{counts[f'{phase}_failed']:,} {phase}-debate votes failed (no answer); not counted.")
    if counts["debates_failed"]:
        notes.append(f"{counts['debates_failed']} debates failed: they have no post-debate votes.")
    if not voters:
        notes.append("No votes recorded.")
    return notes
