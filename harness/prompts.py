"""Pure prompt building: templates and transcripts → the text a model is sent.

Templates use `{name}` placeholders for a fixed set of names; every other brace (the JSON examples
of the survey prompts) is literal, so prompts read in the scenario exactly as the paper prints them.
"""

from __future__ import annotations

import hashlib
import re

from .records import CLOSED, OPEN

STANCE_WORDS = {OPEN: "open source", CLOSED: "closed source"}
PRESIDER = "Presider"
SPEAKER_LABELS = {"affirmative": "Affirmative Debater", "negative": "Negative Debater"}
SIDE_DUTIES = {"affirmative": "support the resolution", "negative": "oppose the resolution"}

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def render(template: str, values: dict[str, str]) -> str:
    """Fill `{name}` placeholders; unknown names are a programming error (the scenario checks them)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def is_swapped(seed: int, *identity: object) -> bool:
    """Whether this vote lists "closed source" first: a fair coin fixed by the seed and the vote.

    Hash-based rather than a shared RNG so the answer does not depend on the order work is done
    in, and a rerun (or a resumed run) asks exactly the same prompts.
    """
    text = "|".join(str(part) for part in (seed, "swap", *identity))
    return hashlib.sha256(text.encode()).digest()[0] & 1 == 1


def stance_order(swapped: bool) -> tuple[str, str]:
    """The two options as the prompt lists them."""
    first, second = (CLOSED, OPEN) if swapped else (OPEN, CLOSED)
    return STANCE_WORDS[first], STANCE_WORDS[second]


def pre_debate_prompt(template: str, swapped: bool) -> str:
    """Figure 1, with the options in the order chosen for this vote."""
    first, second = stance_order(swapped)
    return render(template, {"first": first, "second": second})


def post_debate_prompt(template: str, resolution: str, transcript: str, swapped: bool) -> str:
    """Figure 2 around a finished transcript, options in the order chosen for this vote."""
    first, second = stance_order(swapped)
    return render(template, {"first": first, "second": second, "resolution": resolution,
                             "transcript": transcript})


def speech_prompt(template: str, *, side: str, resolution: str, transcript: str, speech_name: str) -> str:
    """What a debater is asked: its side, the resolution and the transcript so far."""
    return render(template, {
        "side": side,
        "side_title": side.title(),
        "duty": SIDE_DUTIES[side],
        "resolution": resolution,
        "transcript": transcript,
        "speech_name": speech_name,
    })


def format_turn(speaker: str, text: str) -> str:
    """One line of a transcript, as in the paper's Appendix B: "Presider: …"."""
    return f"{speaker}: {text.strip()}"


def format_transcript(turns: list[tuple[str, str]]) -> str:
    """Turns (speaker label, text) joined with blank lines between them."""
    return "\n\n".join(format_turn(speaker, text) for speaker, text in turns)


def transcript_id(prefix: str, affirmative: str, negative: str, repeat: int) -> str:
    """The paper's transcript names: gpt_claude_1, reverse_gpt_claude_2."""
    return f"{prefix}{affirmative}_{negative}_{repeat}"
