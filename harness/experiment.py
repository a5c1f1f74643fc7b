"""The paper's protocol on top of the provider lanes: surveys, debates, and their result rows.

One event loop runs everything: debates run concurrently with each other and with the pre-debate
survey, and a transcript's post-debate votes are queued the moment its debate ends. Each voter
has one feeder task, so a slow provider never holds up votes bound for a fast one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import plan as planning
from .plan import POST, PRE, DebateSpec, VoteSpec
from .prompts import PRESIDER, SPEAKER_LABELS, format_transcript
from .refusals import detect_refusal
from .resume import Recorded, transcript_from_rows
from .scenario import Scenario
from .scheduler import CallResult, ProviderLane
from .sink import ResultSink
from .stats import PhaseStats, RunSnapshot, now
from .votes import parse_vote

USABLE, REFUSED, FAILED = "usable", "refused", "failed"


@dataclass(frozen=True, slots=True)
class DebateOutcome:
    spec: DebateSpec
    status: str
    transcript: str
    refused_by: str | None


def vote_row(scenario: Scenario, vote: VoteSpec, result: CallResult, simulated: bool) -> dict[str, Any]:
    """One row of the votes table."""
    model = scenario.models[vote.voter]
    debate = vote.debate
    completion = result.completion
    row: dict[str, Any] = {
        "phase": vote.phase,
        "voter": vote.voter,
        "voter_model": model.model,
        "provider": model.provider,
        "transcript_id": debate.transcript_id if debate else None,
        "resolution": debate.resolution.name if debate else None,
        "affirmative": debate.affirmative if debate else None,
        "negative": debate.negative if debate else None,
        "debate_repeat": debate.repeat if debate else None,
        "sample": vote.sample,
        "swapped": vote.swapped,
        **_call_columns(result, simulated),
    }
    if completion is None:
        row.update(stance=None, parse_status="failed", reason=None, raw_text=None)
    else:
        parsed = parse_vote(completion.text)
        row.update(stance=parsed.stance, parse_status=parsed.status, reason=parsed.reason,
                   raw_text=completion.text)
    return row


def _call_columns(result: CallResult, simulated: bool) -> dict[str, Any]:
    """Columns every row shares: how the answer was obtained."""
    completion = result.completion
    return {
        "error": result.error.describe() if result.error else None,
        "finish_reason": completion.finish_reason if completion else None,
        "input_tokens": completion.usage.input_tokens if completion else None,
        "output_tokens": completion.usage.output_tokens if completion else None,
        "latency_s": result.latency_s,
        "cached": result.cached,
        "attempts": result.attempts,
        "request_key": result.key,
        "request_id": completion.request_id if completion else None,
        "simulated": simulated,
    }


class Experiment:
    """Runs one scenario over the given lanes (provider name → lane), writing rows to the sink."""

    def __init__(self, scenario: Scenario, lanes: dict[str, ProviderLane], sink: ResultSink, *,
                 simulated: bool, recorded: Recorded | None = None) -> None:
        self.scenario = scenario
        self.recorded = recorded or Recorded()
        """Items earlier attempts of this run already hold rows for: not asked again."""
        self.lanes = lanes
        self.sink = sink
        self.simulated = simulated
        self.debates = planning.plan_debates(scenario)
        counts = planning.planned_counts(scenario, usable_transcripts=0)
        self.phases = {
            PRE: PhaseStats("pre-debate votes", total=counts[PRE]),
            "debate": PhaseStats("debates", total=len(self.debates)),
            POST: PhaseStats("post-debate votes", total=0, total_known=False),
        }
        self.outcomes: list[DebateOutcome] = []
        voters = dict.fromkeys([*scenario.pre_debate.voters, *scenario.post_debate.voters])
        self._post_queues: dict[str, asyncio.Queue[DebateOutcome | None]] = {v: asyncio.Queue() for v in voters}
        self._outstanding = 0
        self._feeding = len(voters)
        self._all_votes_done = asyncio.Event()
        self.started = now()
        self.stopping = False

    def interrupt(self) -> None:
        """Issue nothing more: queued work is dropped, requests on the wire may still finish."""
        self.stopping = True
        for lane in self.lanes.values():
            lane.close()

    def in_flight(self) -> int:
        return sum(lane.stats.in_flight for lane in self.lanes.values())

    def lane_of(self, model_name: str) -> ProviderLane:
        return self.lanes[self.scenario.models[model_name].provider]

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for lane in self.lanes.values():
                for _ in range(lane.workers):
                    tg.create_task(lane.work())
            tg.create_task(self.sink.run_flusher())
            for voter in self._post_queues:
                tg.create_task(self._feed_votes(voter))
            debate_tasks = [tg.create_task(self._run_debate(spec)) for spec in self.debates]
            if not self._post_queues:
                self._all_votes_done.set()
            await asyncio.gather(*debate_tasks)
            self.phases[POST].total_known = True
            for queue in self._post_queues.values():
                queue.put_nowait(None)
            await self._all_votes_done.wait()
            for lane in self.lanes.values():
                lane.stop()
            self.sink.stop()

    # ---- votes ---------------------------------------------------------------------------

    async def _feed_votes(self, voter: str) -> None:
        """Queue one voter's pre-debate votes, then its post-debate votes as transcripts arrive."""
        scenario = self.scenario
        lane = self.lane_of(voter)
        if voter in scenario.pre_debate.voters:
            for vote in planning.pre_votes(scenario, voter):
                await self._submit(lane, vote, "")
        queue = self._post_queues[voter]
        wants_post = voter in scenario.post_debate.voters
        while (outcome := await queue.get()) is not None:
            if wants_post:
                for vote in planning.post_votes(scenario, outcome.spec, voter):
                    await self._submit(lane, vote, outcome.transcript)
        self._feeding -= 1
        self._check_votes_done()

    async def _submit(self, lane: ProviderLane, vote: VoteSpec, transcript: str) -> None:
        if (vote.phase, vote.voter, vote.transcript_id or "", vote.sample) in self.recorded.votes:
            self.phases[vote.phase].record(failed=False, cached=True, now=now())
            return
        request = planning.vote_request(self.scenario, vote, transcript, simulated=self.simulated)
        self.phases[vote.phase].begin(now())
        self._outstanding += 1
        await lane.submit(request, self._vote_callback(vote))

    def _vote_callback(self, vote: VoteSpec) -> Callable[[CallResult], None]:
        def on_done(result: CallResult) -> None:
            row = vote_row(self.scenario, vote, result, self.simulated)
            self.sink.add_vote(row)
            self.phases[vote.phase].record(failed=result.completion is None, cached=result.cached, now=now())
            self._outstanding -= 1
            self._check_votes_done()
        return on_done

    def _check_votes_done(self) -> None:
        if self._feeding == 0 and self._outstanding == 0:
            self._all_votes_done.set()

    # ---- debates -------------------------------------------------------------------------

    async def _run_debate(self, spec: DebateSpec) -> None:
        """Hold one debate speech by speech; a refusal is recorded and the debate carries on."""
        scenario = self.scenario
        earlier = self.recorded.debates.get(spec.transcript_id)
        if earlier is not None:
            refused = next((r["speaker"] for r in earlier if r["refusal"]), None)
            outcome = DebateOutcome(spec, earlier[0]["status"], transcript_from_rows(scenario, earlier), refused)
            self._finish_debate(outcome, [], resumed=True)
            return
        turns: list[tuple[str, str]] = []
        rows: list[dict[str, Any]] = []
        status, refused_by = USABLE, None
        self.phases["debate"].begin(now())
        for index, speech in enumerate(scenario.debate.speeches):
            presider = planning.presider_line(scenario, spec, index)
            if presider:
                turns.append((PRESIDER, presider))
            request = planning.speech_request(scenario, spec, index, format_transcript(turns),
                                              simulated=self.simulated)
            speaker = spec.debater(speech.side)
            if self.stopping:
                return  # an unfinished debate leaves no rows; a resume holds it again
            result = await self.lane_of(speaker).call(request)
            text = result.completion.text if result.completion else None
            refusal = detect_refusal(text) if text is not None else None
            rows.append({
                "speech_index": index + 1, "speech_name": speech.name, "side": speech.side,
                "speaker": speaker, "speaker_model": scenario.models[speaker].model,
                "presider": presider or None, "text": text,
                "refusal": refusal.phrase if refusal else None,
                **_call_columns(result, self.simulated),
            })
            if text is None:
                status = FAILED
                break
            if refusal and status == USABLE:
                status, refused_by = REFUSED, speaker
            turns.append((SPEAKER_LABELS[speech.side], text))
        if status != FAILED and scenario.debate.closing:
            turns.append((PRESIDER, scenario.debate.closing))
        outcome = DebateOutcome(spec, status, format_transcript(turns), refused_by)
        self._finish_debate(outcome, rows)

    def _finish_debate(self, outcome: DebateOutcome, rows: list[dict[str, Any]], *, resumed: bool = False) -> None:
        spec = outcome.spec
        shared = {
            "transcript_id": spec.transcript_id, "resolution": spec.resolution.name,
            "resolution_text": spec.resolution.text, "affirmative": spec.affirmative,
            "negative": spec.negative, "debate_repeat": spec.repeat, "status": outcome.status,
        }
        for row in rows:
            self.sink.add_speech({**shared, **row})
        self.outcomes.append(outcome)
        self.phases["debate"].record(failed=outcome.status == FAILED,
                                     cached=resumed or all(r["cached"] for r in rows), now=now())
        if outcome.status == USABLE:
            post = self.scenario.post_debate
            self.phases[POST].total += len(post.voters) * post.votes_per_transcript
            for queue in self._post_queues.values():
                queue.put_nowait(outcome)

    # ---- progress ------------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        at = now()
        return RunSnapshot(
            elapsed=at - self.started,
            phases=tuple(p.snapshot(at) for p in self.phases.values()),
            providers=tuple(lane.snapshot(at) for lane in self.lanes.values()),
        )
