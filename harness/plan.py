"""Pure: the work a scenario asks for, item by item, and the request each item sends.

Votes are produced by generators, so a plan of any size costs memory only as it is consumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from . import prompts
from .records import Message, Request, Sampling
from .scenario import ModelConfig, Resolution, Scenario

PRE = "pre"
POST = "post"


@dataclass(frozen=True, slots=True)
class DebateSpec:
    """One Lincoln-Douglas debate: who argues which side of which resolution, which repeat."""

    transcript_id: str
    resolution: Resolution
    affirmative: str
    negative: str
    repeat: int
    """1-based, as in the paper's transcript names."""

    def debater(self, side: str) -> str:
        return self.affirmative if side == "affirmative" else self.negative


@dataclass(frozen=True, slots=True)
class VoteSpec:
    """One survey vote: who votes, in which phase, on which transcript, which draw."""

    phase: str
    voter: str
    sample: int
    swapped: bool
    debate: DebateSpec | None = None

    @property
    def transcript_id(self) -> str | None:
        return self.debate.transcript_id if self.debate else None


def plan_debates(scenario: Scenario) -> list[DebateSpec]:
    """Every ordered pair of debaters (self-pairs included) × resolution × repeat."""
    d = scenario.debate
    return [
        DebateSpec(prompts.transcript_id(res.transcript_prefix, aff, neg, repeat), res, aff, neg, repeat)
        for res in d.resolutions
        for aff in d.debaters
        for neg in d.debaters
        for repeat in range(1, d.repeats + 1)
    ]


def pre_votes(scenario: Scenario, voter: str) -> Iterator[VoteSpec]:
    """The pre-debate votes of one model."""
    for sample in range(scenario.pre_debate.votes_per_model):
        swapped = prompts.is_swapped(scenario.seed, PRE, voter, "", sample)
        yield VoteSpec(PRE, voter, sample, swapped)


def post_votes(scenario: Scenario, debate: DebateSpec, voter: str) -> Iterator[VoteSpec]:
    """One model's post-debate votes on one transcript."""
    for sample in range(scenario.post_debate.votes_per_transcript):
        swapped = prompts.is_swapped(scenario.seed, POST, voter, debate.transcript_id, sample)
        yield VoteSpec(POST, voter, sample, swapped, debate)


def planned_counts(scenario: Scenario, usable_transcripts: int | None = None) -> dict[str, int]:
    """How many items each phase holds; post-debate assumes every debate usable unless told."""
    debates = len(plan_debates(scenario))
    usable = debates if usable_transcripts is None else usable_transcripts
    return {
        PRE: len(scenario.pre_debate.voters) * scenario.pre_debate.votes_per_model,
        "debate": debates,
        POST: usable * len(scenario.post_debate.voters) * scenario.post_debate.votes_per_transcript,
    }


def _request(scenario: Scenario, model: ModelConfig, text: str, max_tokens: int,
             sample: str, simulated: bool) -> Request:
    return Request(
        provider_kind=scenario.providers[model.provider].kind,
        model=model.model,
        messages=(Message("user", text),),
        sampling=Sampling(model.temperature, model.top_p, max_tokens),
        sample=sample,
        simulated=simulated,
    )


def vote_request(scenario: Scenario, vote: VoteSpec, transcript: str = "", *,
                 simulated: bool = False) -> Request:
    """The request for one vote; post-debate votes need the finished transcript's text."""
    model = scenario.models[vote.voter]
    if vote.phase == PRE:
        text = prompts.pre_debate_prompt(scenario.pre_debate.prompt, vote.swapped)
        max_tokens = scenario.pre_debate.max_tokens
    else:
        assert vote.debate is not None
        text = prompts.post_debate_prompt(scenario.post_debate.prompt, vote.debate.resolution.text,
                                          transcript, vote.swapped)
        max_tokens = scenario.post_debate.max_tokens
    return _request(scenario, model, text, max_tokens, str(vote.sample), simulated)


def presider_line(scenario: Scenario, debate: DebateSpec, index: int) -> str:
    """The presider's words before speech `index` (0-based), with the resolution filled in."""
    line = scenario.debate.speeches[index].presider
    return prompts.render(line, {"resolution": debate.resolution.text})


def speech_request(scenario: Scenario, debate: DebateSpec, index: int, transcript_so_far: str, *,
                   simulated: bool = False) -> Request:
    """The request for speech `index` (0-based); the transcript ends with the presider's line."""
    speech = scenario.debate.speeches[index]
    model = scenario.models[debate.debater(speech.side)]
    text = prompts.speech_prompt(scenario.debate.speech_prompt, side=speech.side,
                                 resolution=debate.resolution.text, transcript=transcript_so_far,
                                 speech_name=speech.name)
    return _request(scenario, model, text, scenario.debate.max_tokens,
                    f"{debate.transcript_id}#{index + 1}", simulated)
