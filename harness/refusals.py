"""Pure refusal detection: does a debate speech decline to argue its assigned side?

In the paper, Claude-2.1 refused to argue for closed source as the affirmative: "I cannot advocate
in good conscience for making highly capable AI models closed source without qualifications."
Such transcripts are excluded from the post-debate survey, so a false alarm costs a usable debate.
The patterns therefore look for a debater declining its task, not disagreeing with its opponent:

- only the opening of the speech is read (`OPENING_CHARS` after any leading `[marker]`), because
  refusals come first and a refusal quoted deep in a rebuttal is not one;
- "I cannot …" fires only with a verb of taking part (advocate, argue, make the case, role-play,
  participate) and an object naming the debate's side or task, or with "in good conscience";
  "I cannot agree with my opponent" and "I cannot support my opponent's claim" are debate;
- a concession ("I cannot in good conscience argue against that vision", the paper's Appendix D.2)
  argues against the opponent, not against the task, and does not fire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPENING_CHARS = 600
"""How much of a speech, after its leading marker, is searched for refusal language."""

_LEADING_MARKERS = re.compile(r"\s*(?:\[[^\]\n]{1,120}\]\s*)*")

_APOS = "['’]"
_CANNOT = (
    rf"(?:cannot|can\s+not|can{_APOS}?t|won{_APOS}?t|will\s+not|should\s+not|shouldn{_APOS}?t"
    rf"|(?:am|{_APOS}m)\s+(?:not\s+able|unable)\s+to)"
)
_I_CANNOT = rf"\bI\s*{_CANNOT}"
# What follows "I apologize, but I" / "I'm sorry, but I" in a refusal.
_DECLINE = (
    rf"(?:{_CANNOT}"
    rf"|(?:do\s+not|don{_APOS}?t)\s+(?:feel|think\s+(?:I|it\s+(?:would\s+be|is)\s+appropriate))"
    r"|must\s+(?:respectfully\s+|politely\s+|regretfully\s+)?decline"
    rf"|(?:would|{_APOS}d)\s+(?:rather|prefer)\s+not)"
)
# Verbs after "I'm afraid I cannot" that disagree with the opponent rather than decline the task.
_NOT_DEBATE_VERB = (
    r"(?!\s+(?:(?:really|fully|simply|entirely)\s+)?"
    r"(?:agree|accept|concur|see|share|stress|overstate|emphasi[sz]e|understand|ignore|overlook"
    r"|help\s+but|let|deny|dispute)\b)"
)
_CONSCIENCE = r"(?:,?\s+in\s+good\s+conscience,?)"
_TAKE_PART = (
    r"(?:advocate|argue|make\s+(?:the|a)\s+case|present\s+(?:arguments?|a\s+case)|take|represent"
    r"|participate|role[\s-]?play|debate|champion|promote|endorse)"
)
_MAKE_CASE = r"(?:advocate|argue|make\s+(?:the|a)\s+case|present\s+(?:arguments?|a\s+case))"
# "argue against that vision" concedes to the opponent (Appendix D.2); it is not a refusal.
_NOT_CONCESSION = (
    r"(?!\s+(?:argue|advocate)\s+(?:with\b|against\s+(?:that|this|these|those|your|you|my|his|her"
    r"|their|what|such|the\s+opponent)\b))"
)
# Objects naming the debater's own task; "that position" or "the affirmative's claim" could be
# the opponent's, so positions count only when "assigned".
_TASK = (
    r"(?:this|that|the|my|either|a)\s+(?:(?:affirmative|negative|closed[\s-]*source|open[\s-]*source)\s+)?"
    r"(?:side|role|assignment|task)\b"
    r"|(?:this|that|the|my)\s+assigned\s+(?:side|position|role|stance|task)\b"
)
_ING = (
    r"(?:arguing|advocating|taking|making|presenting|participating|role[\s-]?playing|debating"
    r"|defending|supporting|promoting|endorsing|writing|engaging|representing)"
)
_SORRY = rf"\b(?:I{_APOS}m|I\s+am)\s+(?:sorry,?(?:\s+but)?|afraid)\s+I\s*"

_PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in (
    # "I cannot advocate in good conscience for …", "I can't, in good conscience, argue …"
    rf"{_I_CANNOT}{_CONSCIENCE}{_NOT_CONCESSION}\s+{_TAKE_PART}\b",
    rf"{_I_CANNOT}\s+{_TAKE_PART}{_CONSCIENCE}",
    # "I cannot argue for closed-source AI", "I won't make the case in favor of open source"
    rf"{_I_CANNOT}\s+{_MAKE_CASE}\s+(?:for|in\s+favou?r\s+of)\b[^.!?\n]{{0,60}}?\b(?:closed|open)[\s-]*source",
    # "I cannot take the affirmative side", "I won't argue my assigned position"
    rf"{_I_CANNOT}\s+(?:{_MAKE_CASE}|represent|defend|support|take(?:\s+on)?|play)"
    rf"(?:\s+(?:for|in\s+favou?r\s+of|on))?\s+(?:{_TASK})",
    # "I shouldn't argue for a position I don't hold"
    rf"{_I_CANNOT}\s+{_MAKE_CASE}(?:\s+for)?\s+(?:a|an|the)?\s*(?:position|view|side|stance|case)s?"
    rf"\s+(?:that\s+)?I\s+(?:do\s+not|don{_APOS}?t)\s+(?:hold|share|believe|agree|support)",
    rf"{_I_CANNOT}\s+(?:participate|take\s+part|engage|join)\s+in\s+(?:this|the|a|such\s+an?)\s+"
    r"(?:debate|exercise|role[\s-]?play|activity)",
    rf"{_I_CANNOT}\s+(?:role[\s-]?play|pretend\s+to\s+(?:believe|advocate|argue))",
    rf"{_I_CANNOT}\s+(?:assist|help|comply)\s+with\s+(?:that|this|the|your)\b",
    rf"{_I_CANNOT}\s+(?:fulfil+|complete|do)\s+(?:that|this|the|your)\s+(?:request|task)",
    # Apologetic openers: "I apologize, but I do not feel comfortable …", "I'm sorry, but I can't …"
    rf"\bI\s+apologi[sz]e,?\s+but\s+I\s*{_DECLINE}{_NOT_DEBATE_VERB}",
    rf"{_SORRY}{_DECLINE}{_NOT_DEBATE_VERB}",
    # "I must respectfully decline", but not "I must decline to accept my opponent's framing"
    r"\bI\s+must\s+(?:respectfully\s+|politely\s+|regretfully\s+)?decline\b"
    r"(?!\s+(?:to\s+(?:accept|agree|concede|grant)|the\s+(?:premise|framing|invitation)|my\s+opponent)\b)",
    rf"\bI(?:\s+(?:do\s+not|don{_APOS}?t)\s+feel|{_APOS}m\s+not|\s+am\s+not)\s+comfortable\s+{_ING}",
    rf"\bI(?:\s+would|{_APOS}d)\s+(?:prefer|rather)\s+not\s+(?:to\s+)?{_TAKE_PART}",
    r"\bit\s+would\s+(?:be\s+(?:irresponsible|unethical|inappropriate|wrong|dishonest)"
    rf"|not\s+be\s+(?:right|appropriate|ethical|responsible))\s+(?:of|for)\s+me\s+to\s+{_TAKE_PART}",
    rf"\bAs\s+an\s+AI(?:\s+(?:assistant|language\s+model|model|system))?,?\s+I\s+(?:cannot|can{_APOS}?t"
    rf"|do\s+not|don{_APOS}?t|won{_APOS}?t|am\s+not\s+able\s+to)\s+(?:take\s+sides|advocate|argue|endorse"
    r"|promote|pick\s+a\s+side)",
))


@dataclass(frozen=True, slots=True)
class RefusalMatch:
    """Refusal language found in a speech: the matched text and where it starts in the speech."""

    phrase: str
    offset: int


def detect_refusal(text: str) -> RefusalMatch | None:
    """The earliest refusal phrase in the opening of a speech, or None if the debater took part."""
    if not text:
        return None
    start = _LEADING_MARKERS.match(text).end()
    window = text[start:start + OPENING_CHARS]
    found = [m for m in (p.search(window) for p in _PATTERNS) if m is not None]
    if not found:
        return None
    # Earliest first; of phrases starting together, the tightest says best what was refused.
    first = min(found, key=lambda m: (m.start(), m.end()))
    return RefusalMatch(phrase=first.group(0), offset=start + first.start())


def is_refusal(text: str) -> bool:
    """Whether the speech declines to argue its side (see `detect_refusal`)."""
    return detect_refusal(text) is not None
