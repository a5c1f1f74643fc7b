"""Continuing a run in its run directory: what earlier attempts recorded, consolidated once.

A run directory holds rows as complete part files (and, once a run finished, the merged tables).
On resume they are read back and each planned item keeps exactly one row: an answered row is kept,
a failed one is dropped so the item is asked again, a duplicate (a crash between writing a part
and removing what it replaced) is dropped. What remains is rewritten as one base part, so the
final merge sees every item once, and the experiment skips the items it holds.

The plan's fingerprint covers exactly the settings that shape requests (models and sampling,
prompts, debate format, counts, seed), not rate limits, URLs, keys, retries or the simulator's
speed; a resume under a different fingerprint is reported item by item before anything is sent.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import OutputError
from .output import TRANSCRIPT_SCHEMA, VOTE_SCHEMA
from . import plan as planning
from .cache import cache_key
from .plan import POST, PRE, DebateSpec, VoteSpec
from .prompts import PRESIDER, SPEAKER_LABELS, format_transcript, is_swapped
from .scenario import Scenario

VoteId = tuple[str, str, str, int]
"""(phase, voter, transcript id or "", sample)."""

BASE_PART = "part-000000.parquet"
EXAMPLES = 5


def plan_fingerprint(scenario: Scenario, simulated: bool) -> str:
    """Hash of what shapes the requests, so a change of limits or URLs is not a change of plan."""
    shape = {
        "simulated": simulated,
        "seed": scenario.seed,
        "models": {m.name: [scenario.providers[m.provider].kind, m.model, m.temperature, m.top_p]
                   for m in scenario.models.values() if m.name in scenario.participants()},
        "pre": [scenario.pre_debate.prompt, scenario.pre_debate.max_tokens, scenario.pre_debate.votes_per_model,
                list(scenario.pre_debate.voters)],
        "debate": [scenario.debate.speech_prompt, scenario.debate.max_tokens, scenario.debate.repeats,
                   scenario.debate.closing, list(scenario.debate.debaters),
                   [[r.name, r.text, r.transcript_prefix] for r in scenario.debate.resolutions],
                   [[s.name, s.side, s.presider] for s in scenario.debate.speeches]],
        "post": [scenario.post_debate.prompt, scenario.post_debate.max_tokens,
                 scenario.post_debate.votes_per_transcript, list(scenario.post_debate.voters)],
    }
    return hashlib.sha256(orjson.dumps(shape, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class Recorded:
    """What earlier attempts of this run left, after consolidation."""

    votes: set[VoteId] = field(default_factory=set)
    debates: dict[str, list[dict]] = field(default_factory=dict)
    """Finished debates (usable or refused): transcript id → speech rows in order."""
    dropped_failed: int = 0
    dropped_duplicates: int = 0
    unplanned: int = 0
    """Rows of items the plan no longer has (set aside)."""
    changed: int = 0
    """Rows whose request the current plan would send differently (asked again)."""

    examples: dict[str, list[str]] = field(default_factory=dict)
    """A few item names per category ("unplanned", "changed"), for the report of a changed plan."""

    def note_examples(self, category: str, names: list[str]) -> None:
        found = self.examples.setdefault(category, [])
        found.extend(names[:EXAMPLES - len(found)])

    def vote_count(self) -> int:
        return len(self.votes)


def _vote_ids(votes: pa.Table) -> list[str]:
    head = votes.slice(0, EXAMPLES)
    return [f"{p}-debate vote {s} of {v}" + (f" on {t}" if t else "")
            for p, v, t, s in zip(*(head[c].to_pylist() for c in ("phase", "voter", "transcript_id", "sample")))]


def _debate_ids(speeches: pa.Table) -> list[str]:
    return [f"debate {t}" for t in dict.fromkeys(speeches.slice(0, 50)["transcript_id"].to_pylist())][:EXAMPLES]


def _read_all(paths: list[Path], schema: pa.Schema) -> pa.Table:
    tables = []
    for path in paths:
        try:
            tables.append(pq.read_table(path, schema=schema))
        except (OSError, pa.ArrowInvalid) as exc:
            raise OutputError(f"cannot read earlier results in {path}: {exc}") from exc
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _sources(run_dir: Path, final_name: str, parts_dir: Path) -> list[Path]:
    sources = [run_dir / final_name] if (run_dir / final_name).exists() else []
    if parts_dir.exists():
        sources += sorted(parts_dir.glob("part-*.parquet"))
    return sources


def _first_per_identity(table: pa.Table, columns: list[str]) -> tuple[pa.Table, int]:
    """Keep the first row of each identity; returns the table and how many rows were dropped."""
    if table.num_rows == 0:
        return table, 0
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    firsts = indexed.group_by(columns, use_threads=False).aggregate([("__row", "min")])["__row_min"]
    kept = table.take(pc.sort_indices(firsts))
    return kept, table.num_rows - kept.num_rows


def consolidate(scenario: Scenario, run_dir: Path, parts_dir: Path, final_votes: str,
                final_transcripts: str, debates: list[DebateSpec], *, simulated: bool,
                check_requests: bool = False, rewrite: bool = True) -> Recorded:
    """Read earlier rows, keep one good row per planned item, rewrite them as the base parts.

    `check_requests` (after a change of plan) also drops every row whose request is not the one
    the current plan would send, counted as `changed`. Without `rewrite` nothing is written: a
    preview of what a resume would keep.
    """
    recorded = Recorded()
    planned_debates = {d.transcript_id: d for d in debates}

    speech_sources = _sources(run_dir, final_transcripts, parts_dir / "transcripts")
    speeches = _read_all(speech_sources, TRANSCRIPT_SCHEMA)
    if speeches.num_rows:
        speeches, dup = _first_per_identity(speeches, ["transcript_id", "speech_index"])
        recorded.dropped_duplicates += dup
        finished = pc.not_equal(speeches["status"], "failed")
        recorded.dropped_failed += speeches.num_rows - pc.sum(finished).as_py()
        speeches = speeches.filter(finished)
        planned = pc.is_in(speeches["transcript_id"], pa.array(list(planned_debates), pa.string()))
        recorded.unplanned += speeches.num_rows - pc.sum(planned).as_py()
        recorded.note_examples("unplanned", _debate_ids(speeches.filter(pc.invert(planned))))
        speeches = speeches.filter(planned).sort_by([("transcript_id", "ascending"), ("speech_index", "ascending")])
        complete = len(scenario.debate.speeches)
        for row in speeches.to_pylist():
            recorded.debates.setdefault(row["transcript_id"], []).append(row)
        partial = [t for t, rows in recorded.debates.items() if len(rows) != complete]
        for transcript_id in partial:  # cannot happen with whole-debate writes; ask again if it does
            del recorded.debates[transcript_id]
        if check_requests:
            changed = [t for t, rows in recorded.debates.items()
                       if not _debate_requests_match(scenario, planned_debates[t], rows, simulated)]
            for transcript_id in changed:
                recorded.changed += len(recorded.debates.pop(transcript_id))
                recorded.note_examples("changed", [f"debate {transcript_id}"])
            partial += changed
        if partial:
            speeches = speeches.filter(pc.invert(pc.is_in(speeches["transcript_id"], pa.array(partial, pa.string()))))

    vote_sources = _sources(run_dir, final_votes, parts_dir / "votes")
    votes = _read_all(vote_sources, VOTE_SCHEMA)
    if votes.num_rows:
        votes = votes.set_column(votes.schema.get_field_index("transcript_id"), "transcript_id",
                                 pc.fill_null(votes["transcript_id"], ""))
        votes, dup = _first_per_identity(votes, ["phase", "voter", "transcript_id", "sample"])
        recorded.dropped_duplicates += dup
        answered = pc.not_equal(votes["parse_status"], "failed")
        recorded.dropped_failed += votes.num_rows - pc.sum(answered).as_py()
        votes = votes.filter(answered)
        keep = _planned_votes(scenario, votes, set(recorded.debates))
        recorded.unplanned += votes.num_rows - pc.sum(keep).as_py()
        recorded.note_examples("unplanned", _vote_ids(votes.filter(pc.invert(keep))))
        votes = votes.filter(keep)
        if check_requests and votes.num_rows:
            same = pa.array(_vote_requests_match(scenario, votes, recorded.debates, planned_debates, simulated))
            recorded.changed += votes.num_rows - pc.sum(same).as_py()
            recorded.note_examples("changed", _vote_ids(votes.filter(pc.invert(same))))
            votes = votes.filter(same)
        for phase, voter, transcript_id, sample in zip(*(votes[c].to_pylist() for c in
                                                         ("phase", "voter", "transcript_id", "sample"))):
            recorded.votes.add((phase, voter, transcript_id, sample))
        votes = votes.set_column(votes.schema.get_field_index("transcript_id"), "transcript_id",
                                 pc.if_else(pc.equal(votes["transcript_id"], ""), pa.scalar(None, pa.string()),
                                            votes["transcript_id"]))

    if rewrite:
        _rewrite_base(parts_dir / "votes", vote_sources, votes if vote_sources else None, VOTE_SCHEMA,
                      run_dir / final_votes)
        _rewrite_base(parts_dir / "transcripts", speech_sources, speeches if speech_sources else None,
                      TRANSCRIPT_SCHEMA, run_dir / final_transcripts)
    return recorded


def _debate_requests_match(scenario: Scenario, spec: DebateSpec, rows: list[dict], simulated: bool) -> bool:
    """Whether each recorded speech answered the request the current plan would send for it."""
    turns: list[tuple[str, str]] = []
    for index, row in enumerate(rows):
        presider = planning.presider_line(scenario, spec, index)
        if presider:
            turns.append((PRESIDER, presider))
        request = planning.speech_request(scenario, spec, index, format_transcript(turns), simulated=simulated)
        if cache_key(request) != row["request_key"]:
            return False
        turns.append((SPEAKER_LABELS[row["side"]], row["text"]))
    return True


def _vote_requests_match(scenario: Scenario, votes: pa.Table, debates: dict[str, list[dict]],
                         planned_debates: dict[str, DebateSpec], simulated: bool) -> list[bool]:
    transcripts = {t: transcript_from_rows(scenario, rows) for t, rows in debates.items()}
    out = []
    for phase, voter, transcript_id, sample, key in zip(*(votes[c].to_pylist() for c in (
            "phase", "voter", "transcript_id", "sample", "request_key"))):
        debate = planned_debates.get(transcript_id) if phase == POST else None
        swapped = is_swapped(scenario.seed, phase, voter, transcript_id or "", sample)
        vote = VoteSpec(phase, voter, sample, swapped, debate)
        request = planning.vote_request(scenario, vote, transcripts.get(transcript_id, ""), simulated=simulated)
        out.append(cache_key(request) == key)
    return out


def _planned_votes(scenario: Scenario, votes: pa.Table, usable_debates: set[str]) -> pa.ChunkedArray:
    """Which rows are items of the current plan (a vote on a debate not recorded as finished is not)."""
    pre, post = scenario.pre_debate, scenario.post_debate
    is_pre = pc.and_(pc.equal(votes["phase"], PRE), pc.and_(
        pc.is_in(votes["voter"], pa.array(list(pre.voters), pa.string())),
        pc.less(votes["sample"], pre.votes_per_model)))
    is_post = pc.and_(pc.equal(votes["phase"], POST), pc.and_(
        pc.is_in(votes["voter"], pa.array(list(post.voters), pa.string())),
        pc.and_(pc.less(votes["sample"], post.votes_per_transcript),
                pc.is_in(votes["transcript_id"], pa.array(sorted(usable_debates), pa.string())))))
    return pc.or_(is_pre, is_post)


def _rewrite_base(parts_dir: Path, sources: list[Path], table: pa.Table | None, schema: pa.Schema,
                  final: Path) -> None:
    """Replace the earlier files by one base part holding `table`.

    Written under a temporary name and renamed over part 0 before the other sources are removed:
    a crash in between leaves duplicates, which the next consolidation drops.
    """
    if table is None:
        return
    parts_dir.mkdir(parents=True, exist_ok=True)
    base = parts_dir / BASE_PART
    tmp = parts_dir / (BASE_PART + ".tmp")
    try:
        pq.write_table(table.cast(schema) if table.schema != schema else table, tmp)
        os.replace(tmp, base)
        for source in sources:
            if source != base:
                source.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot rewrite earlier results in {parts_dir}: {exc.strerror or exc}") from exc
    if final.exists():
        final.unlink()


def transcript_from_rows(scenario: Scenario, rows: list[dict]) -> str:
    """The transcript text post-debate voters were shown, rebuilt from its speech rows."""
    turns: list[tuple[str, str]] = []
    for row in rows:
        if row["presider"]:
            turns.append((PRESIDER, row["presider"]))
        turns.append((SPEAKER_LABELS[row["side"]], row["text"]))
    if scenario.debate.closing:
        turns.append((PRESIDER, scenario.debate.closing))
    return format_transcript(turns)
