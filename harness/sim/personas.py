"""Pure simulated models: prompt → the answer a calibrated persona of GPT-4, Claude-2.1, … gives.

A persona is picked from the model id; the prompt kind from the last user message. A survey prompt
(it names a "pre-debate stance" or "post-debate stance" key) gets a JSON vote; anything else is a
debate speech. Speeches start with a `[simulated {persona}, {side}]` marker, which is how a later
vote knows who argued what.

Calibration (the paper's Table 2 and Section 3.1): before the debates every persona votes open
source. After a debate on the open-source resolution they vote open (Mixtral, and the generic
persona that votes like it, flip with probability 0.0008). After a closed-source debate the
chance of a closed vote is (1 − x_v) · a[affirmative] · b[negative], where x_v = (90·s_v − 50)/40
and s_v is the voter's post-debate open share in Table 2. With 50 open and 40 usable closed
transcripts (Claude refuses to argue the closed affirmative), and multipliers that average 1 over
the usable pairs, the expected open share is s_v while GPT stays the most persuasive affirmative
and Claude the weakest negative (Figure 3).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

OPEN, CLOSED, SUPERVISED = "open", "closed", "supervised"
AFFIRMATIVE, NEGATIVE = "affirmative", "negative"
CONSTRUCTIVE, CROSS_EXAMINATION, REBUTTAL, FINAL = "constructive", "cross-examination", "rebuttal", "final"
GENERIC = "generic"
PERSONAS = ("gpt", "claude", "gemini", "codellama", "mixtral")

POST_DEBATE_OPEN_SHARE = {"gpt": 0.952, "claude": 1.0, "gemini": 0.778, "codellama": 0.787, "mixtral": 0.943}
"""Table 2, post-debate votes in favour of open source."""
AFFIRMATIVE_PULL = {"gpt": 1.4, "gemini": 1.1, "codellama": 0.8, "mixtral": 0.7, "claude": 1.0}
"""How persuasive each persona is as the closed-source affirmative (Claude's debates are refused)."""
NEGATIVE_WEAKNESS = {"claude": 1.3, "gpt": 0.7, "gemini": 1.0, "codellama": 1.05, "mixtral": 0.95}
"""How weak each persona is as the open-source negative; > 1 lets the affirmative persuade more."""
OPEN_RESOLUTION_FLIP = {"mixtral": 0.0008}
"""Chance of a closed vote after an open-resolution debate (Mixtral: 2 of the paper's 50 transcripts)."""
OPEN_TRANSCRIPTS, CLOSED_TRANSCRIPTS = 50, 40
GARBLED_RATE = 0.002
"""Share of votes that state no stance at all, so parsers see failures."""

_PERSONA_NAMES = (("gpt", "gpt"), ("claude", "claude"), ("gemini", "gemini"), ("codellama", "codellama"),
                  ("code-llama", "codellama"), ("mixtral", "mixtral"))
_VOTE_KEY = re.compile(r"(pre|post)-debate stance", re.IGNORECASE)
_RESOLUTION = re.compile(r"Resolved:\s*A highly capable AI model should be ([Oo]pen|[Cc]losed)[\s-]source")
_MARKER = re.compile(r"\[simulated ([a-z-]+), (affirmative|negative)\]")
_SIDE = re.compile(r"You are the ([Aa]ffirmative|[Nn]egative) debater")
_WORD_RANGE = (250, 450)

OPEN_REASONS = (
    "Open development lets independent researchers audit the model for bias, security flaws and unsafe behaviour instead of taking a company's word for it.",
    "Transparency builds public trust, because people can see how a system that affects them actually works.",
    "Innovation moves faster when talent around the world can build on shared foundations rather than reinventing them behind closed doors.",
    "Concentrating a highly capable model in a few companies concentrates power, and open access is a check on that.",
    "Many eyes on the weights and code make it more likely that vulnerabilities are found and fixed before they cause harm.",
    "Open models let universities, start-ups and researchers in lower-income countries benefit from AI, not only the best-funded labs.",
    "Safety research depends on access: interpretability and red-teaming are far easier on models researchers can inspect.",
    "The risks of misuse are real, but they are better managed with open scrutiny, responsible licensing and monitoring than with secrecy.",
    "Closed models get misused too; secrecy mostly keeps the public from understanding the risks.",
    "Open source has a strong track record in critical infrastructure such as Linux and OpenSSL.",
    "Accountability is easier when design choices are public and can be questioned by peers.",
    "Reproducibility is a cornerstone of science, and open models make AI research reproducible.",
    "Open access reduces vendor lock-in and lets organisations adapt models to local languages and needs.",
    "A broad community can spot and correct harmful biases that a single team might overlook.",
    "Openness encourages shared safety standards instead of each company setting its own rules in private.",
    "The societal impact of highly capable AI is too large for its development to be hidden from the people it affects.",
    "Open collaboration spreads the benefits of AI more fairly across society.",
    "Education and workforce training benefit when students can study real, state-of-the-art models.",
    "Publicly inspectable models make it easier for regulators to verify claims about safety and performance.",
    "Open standards and open research have driven most of the major advances in computing.",
    "With robust safeguards against misuse, the benefits of openness clearly outweigh the risks.",
    "Open ecosystems are more resilient, because no single company's failure or policy change can cut everyone off.",
    "Trust in AI will depend on verification, and verification requires access.",
    "Keeping capable models closed gives a false sense of security while slowing the defensive research that would protect us.",
)
CLOSED_REASONS = (
    "Once its weights are public, a highly capable model can be fine-tuned for cyberattacks, disinformation or weapons research, and that cannot be undone.",
    "Closed development keeps a clear line of accountability: one organisation answers for how the model behaves.",
    "Controlled access allows staged releases, monitoring and revoking access when misuse is detected.",
    "The security arguments were compelling; the risks of uncontrolled proliferation outweigh the benefits of openness here.",
    "Ethical oversight is far easier to maintain when development happens within an accountable framework.",
    "Protecting intellectual property sustains the investment needed to build safer and more capable systems.",
    "Rigorous testing and quality control are easier before release than after a model has been copied and modified by anyone.",
    "Transparency can still come from independent audits and regulation without publishing the weights.",
    "Once released, an open model can be stripped of its safety training, so safeguards cannot be enforced.",
    "Centralised maintenance means patches and safety updates reach every deployment instead of a fragmented set of forks.",
    "For the most capable systems, precaution should come first until governance frameworks mature.",
    "The potential for catastrophic misuse makes it reasonable to limit who can access and modify such a model.",
    "Partnerships with vetted researchers can keep much of the collaborative benefit without the risks of full release.",
    "Public trust depends on demonstrated responsibility, which a closed and audited process can provide.",
    "Malicious actors gain the most from unrestricted access, while legitimate users can be served through controlled APIs.",
    "The debate showed that open code also exposes vulnerabilities to adversaries before they can be fixed.",
    "Without a global governance framework, withholding the most capable models is the safer default.",
    "Closed development can still draw on diverse perspectives through external review and consultation.",
)
_POST_LEADS = (
    "Having weighed the arguments presented in the debate, I find this position more persuasive.",
    "Both debaters raised valid concerns, but on balance this side made the stronger case.",
    "The debate sharpened the trade-offs, and this is where the balance falls for me.",
)
_INTROS = ("Here is my response in JSON format:", "Sure, here is my survey response:",
           "Considering both sides, here is my vote:", "Thank you for inviting me. My response:")
_OUTROS = ("I hope this is useful for your analysis.", "Both sides have merit, but this reflects my overall view.",
           "Thank you for the opportunity to take part in the survey.")
_SPELLINGS = {OPEN: ("Open Source", "open-source", "Open source"), CLOSED: ("Closed Source", "closed-source", "Closed source")}
_GARBLED = (
    "As an AI, I don't hold personal views on this question, and there are strong considerations on both sides that reasonable people weigh differently.",
    "Both approaches have merits and drawbacks. Transparency matters, but so does security, and the right answer may depend on",
    "Thank you for the invitation. This is a complex question, and I would rather explain the trade-offs than pick a single",
)

# Speech material: each theme is (topic, sentences); a paragraph uses its first sentence and some others.
_THEMES = {
    CLOSED: (
        ("security against misuse", (
            "Once the weights of a highly capable model are public, anyone can fine-tune it for cyberattacks, fraud or disinformation.",
            "There is no recall button for software that has been copied to thousands of machines.",
            "A closed model lets its developer control who has access, and shut that access off when abuse is detected.",
            "The more capable the system, the greater the harm a single malicious actor could cause with it.")),
        ("ethical oversight", (
            "Responsible development requires someone to be answerable for what a model does.",
            "Within a closed framework, red-teaming, ethics review and staged deployment can be enforced rather than merely encouraged.",
            "In an open ecosystem, modifications happen in countless places beyond the reach of any oversight body.",
            "Safety training can be stripped from an open model in an afternoon, and no review board can prevent it.")),
        ("accountability", (
            "When something goes wrong, society needs to know whom to hold responsible.",
            "A closed-source developer is a single, identifiable party that regulators and courts can hold to account.",
            "Responsibility spread across anonymous contributors too often becomes no responsibility at all.",
            "Clear lines of accountability are what make recourse and rectification possible.")),
        ("incentives for innovation", (
            "Building a frontier model costs enormous sums in research, compute and expertise.",
            "Protecting that investment sustains the research that produces the next generation of safer systems.",
            "Closed development does not stop collaboration; it channels it through vetted partnerships and consortia.",
            "If every advance is immediately free to competitors, the incentive to fund careful, expensive safety work weakens.")),
        ("quality control", (
            "A highly capable model should reach the public only after rigorous testing and validation.",
            "Controlled release allows problems to be found and fixed before they are replicated at scale.",
            "Contributions of uneven quality make it harder to guarantee that a system behaves as intended.",
            "Staged access lets developers learn from limited deployment before widening it.")),
        ("consistent maintenance", (
            "Centralised maintenance means that security patches and safety updates reach every deployment.",
            "Open release invites a fragmented landscape of forks, many of them unpatched and unmonitored.",
            "Divergent versions can drift far from the design and purpose of the original system.",
            "Consistency is itself a safety property when the technology is this powerful.")),
        ("precaution under uncertainty", (
            "We do not yet have a global governance framework for highly capable AI.",
            "Until such a framework exists, withholding the most capable systems is the prudent default.",
            "Releasing weights is irreversible, while keeping them closed leaves every option open for later.",
            "Transparency can still be delivered through independent audits, regulatory compliance and published evaluations.")),
    ),
    OPEN: (
        ("transparency and scrutiny", (
            "Open models can be examined by independent researchers rather than trusted on a company's word.",
            "Many eyes on the weights and the code mean that flaws and biases are found sooner.",
            "Linux and OpenSSL are open, yet they underpin the world's critical infrastructure.",
            "Secrecy does not remove vulnerabilities; it only hides them from the people best placed to fix them.")),
        ("innovation through collaboration", (
            "Progress in AI has been driven by shared papers, shared code and shared models.",
            "Open access lets talent anywhere in the world build on the state of the art.",
            "Closed development bottlenecks progress through the priorities of a handful of firms.",
            "Start-ups, universities and public institutions all innovate faster when the foundations are shared.")),
        ("checks on concentrated power", (
            "A highly capable model kept closed concentrates extraordinary power in a few private hands.",
            "Openness distributes that power and lets society, not a single company, steer the technology.",
            "Oversight should represent diverse perspectives, and open development makes that possible.",
            "Unilateral control over transformative technology raises ethical concerns of its own.")),
        ("safety research", (
            "Alignment, interpretability and red-teaming research all depend on access to real models.",
            "When researchers can inspect a model, they can discover failure modes before they cause harm.",
            "Closed models leave the safety community working blind, testing only what an API allows.",
            "Defences against misuse are built fastest by a broad community with open access.")),
        ("accountability through openness", (
            "Public design choices can be questioned, criticised and improved by peers.",
            "Open logs and open evaluations create a record that anyone can check.",
            "Closed systems obscure flaws until harm has already occurred.",
            "No developer should be above scrutiny when the stakes are this high.")),
        ("equitable access", (
            "The benefits of AI should not be reserved for those who can pay for a proprietary API.",
            "Open models let researchers in every country adapt AI to their own languages and needs.",
            "Education improves when students can study state-of-the-art systems directly.",
            "Openness reduces lock-in and keeps the playing field fair for smaller organisations.")),
        ("managing risk responsibly", (
            "The risks of misuse are real, but closed models are misused too.",
            "Responsible licensing, monitoring and strong security practices can manage risk without secrecy.",
            "Open ecosystems empower collective vigilance, so emerging threats are noticed and addressed quickly.",
            "Perfect safety is unachievable, and broad collaboration offers the best chance of getting close.")),
    ),
    SUPERVISED: (
        ("tiered access", (
            "Unrestricted release of a highly capable model is a gamble whose losses no one can take back.",
            "Access can instead be granted in tiers, matched to the verified needs and safeguards of each user.",
            "Researchers can study the model under agreements that forbid harmful uses.",
            "This keeps much of the scientific value of openness while limiting the reach of bad actors.")),
        ("independent audits", (
            "Transparency does not require publishing every weight to the world.",
            "Independent auditors and accredited researchers can inspect the system on the public's behalf.",
            "Their findings can be published, giving society real insight without handing over the tools of misuse.",
            "Oversight of this kind is openness with responsibility attached.")),
        ("shared governance", (
            "Decisions about powerful AI should rest neither with a single company nor with whoever downloads it first.",
            "A governance body representing diverse stakeholders can set the terms of access.",
            "Those terms can be loosened as our understanding of the risks matures.",
            "This is how we already treat other dual-use technologies, from biology to nuclear research.")),
        ("responsible controls", (
            "My opponent is right that openness has enormous benefits.",
            "Where we differ is on whether those benefits require abandoning every control.",
            "Monitoring, usage policies and the ability to revoke access are reasonable precautions, not censorship.",
            "Openness and safety are compatible when access is supervised.")),
    ),
}
_POSITIONS = {
    CLOSED: ("I stand firmly for keeping highly capable AI models under closed-source development.",
             "My position is that the most capable AI models belong under controlled, closed-source stewardship."),
    OPEN: ("I stand for the open-source development of highly capable AI models.",
           "My position is that highly capable AI models belong in the open, where all can study and improve them."),
    SUPERVISED: ("I support neither unrestricted release nor secrecy, but a middle path of governed access.",),
}
_OPENERS = {
    CONSTRUCTIVE: ("Ladies and gentlemen, esteemed judges, thank you for the opportunity to speak today.",
                   "Thank you, Presider. I am honoured to present my case.",
                   "Esteemed judges and worthy opponent, let me set out my case."),
    CROSS_EXAMINATION: ("Thank you. I have several questions for my opponent that go to the heart of their case.",
                        "I appreciate my opponent's speech, and I would like to probe a few of its assumptions."),
    REBUTTAL: ("Thank you. Let me respond directly to the arguments we have just heard.",
               "My opponent has raised several points, and I will address them in turn."),
    FINAL: ("In this final rebuttal, let me draw the debate together.",
            "As we close, let me remind the judges what this debate has shown."),
}
_PERSONA_OPENERS = {"codellama": "As an American, I believe this question goes to the heart of our values of freedom and innovation."}
_QUESTIONS = {
    OPEN: ("If closed development is safer, how do you explain the misuse of closed models through their public APIs?",
           "Who audits a closed model's safety claims, other than the company that profits from it?",
           "Does concentrating the most capable AI in a few firms not create the very risks of abuse you warn against?",
           "How would a researcher outside your favoured companies ever verify that a closed model is free of harmful bias?",
           "If secrecy prevents vulnerabilities, why has so much critical infrastructure been secured through open review?"),
    CLOSED: ("Once the weights are released, how exactly would anyone stop a malicious actor from removing the safety training?",
             "Who is accountable when an open model, modified by an anonymous contributor, causes serious harm?",
             "Can you name a mechanism that recalls an open model after a dangerous capability is discovered?",
             "How does openness protect the public while the global governance framework you mention does not yet exist?",
             "Is it not true that the Heartbleed bug sat in open code for years before anyone noticed?"),
}
_QUESTIONS[SUPERVISED] = _QUESTIONS[CLOSED]
_ORDINALS = ("My first question:", "Second:", "Third:", "And finally:")
_RESPONSES = {
    OPEN: ("My opponent claims that openness hands tools to bad actors, yet closed models are misused every day through their public interfaces.",
           "We heard that a single company offers clear accountability, but accountability no outsider can verify is only a promise.",
           "The other side suggests that audits can replace openness; audits of a secret system show only what its owner chooses.",
           "It was argued that innovation can be channelled through partnerships, but partnerships decide in advance who may innovate."),
    CLOSED: ("My opponent argues that many eyes make bugs shallow, yet open code also shows adversaries exactly where to strike.",
             "We heard that openness fosters trust, but few people can evaluate model weights, and trust rests on demonstrated responsibility.",
             "The claim that closed models bottleneck progress ignores the consortia that collaborate within controlled frameworks.",
             "It was suggested that security practices can contain the risks of open release, yet no practice retrieves weights that have spread."),
    SUPERVISED: ("My opponent presents openness as all or nothing, but the choice before us is not between full release and total secrecy.",
                 "We heard that controls would stifle research, yet supervised access can give researchers nearly everything they need."),
}
_LEADS = ("My first point concerns {}.", "Second, consider {}.", "Third, there is the matter of {}.",
          "Next, let us turn to {}.", "Beyond that lies {}.", "Another consideration is {}.", "Also consider {}.")
_CLOSINGS = {
    CLOSED: ("For security, accountability and the public good, closed-source development is the responsible path. Thank you.",
             "The stakes are too high for uncontrolled release; I urge you to side with precaution. Thank you."),
    OPEN: ("For these reasons, I urge you to stand with openness, transparency and shared progress. Thank you.",
           "The future of AI should be built in the open, by and for everyone. Thank you."),
    SUPERVISED: ("I thus advocate a supervised openness model, allowing access only under responsible controls. Thank you.",),
}
_REFUSAL = "I cannot advocate in good conscience for making highly capable AI models closed source without qualifications."
_REFUSAL_FOLLOW_UPS = (
    "I would be glad to discuss the genuine trade-offs between openness and control, including where safeguards on access make sense.",
    "I am happy to explore the risks and benefits of both approaches in a balanced way instead.",
    "If it helps, I can outline the strongest concerns on each side so the audience can weigh them.",
)


@dataclass(frozen=True)
class Prompt:
    """What a persona reads from the conversation."""

    kind: str
    """"vote" or "speech"."""
    vote_key: str | None
    """The JSON key the survey asks for, as the prompt spells it ("post-debate stance")."""
    resolution: str
    side: str
    speech: str
    affirmative: str | None = None
    """Persona that argued the affirmative, from the transcript's markers (None: no marker)."""
    negative: str | None = None


def persona_for(model: str) -> str:
    """The persona a model id names (case-insensitive substring), else the generic one."""
    lowered = model.lower()
    return next((persona for part, persona in _PERSONA_NAMES if part in lowered), GENERIC)


def closed_probability(voter: str, resolution: str | None, affirmative: str | None = None,
                       negative: str | None = None) -> float:
    """Chance that `voter` votes closed source after a debate (resolution None: before any debate)."""
    voter = "mixtral" if voter == GENERIC else voter
    if resolution is None:
        return 0.0
    if resolution == OPEN:
        return OPEN_RESOLUTION_FLIP.get(voter, 0.0)
    needed_open = (90 * POST_DEBATE_OPEN_SHARE[voter] - OPEN_TRANSCRIPTS) / CLOSED_TRANSCRIPTS
    pull = AFFIRMATIVE_PULL.get(affirmative, 1.0) if affirmative else 1.0
    weakness = NEGATIVE_WEAKNESS.get(negative, 1.0) if negative else 1.0
    return min(1.0, max(0.0, (1 - needed_open) * pull * weakness))


def read_prompt(messages: Sequence[tuple[str, str]]) -> Prompt:
    """Cues from the last user message, falling back to the whole conversation."""
    last = next((text for role, text in reversed(messages) if role == "user"), "")
    everything = "\n".join(text for _, text in messages)
    vote_key = _vote_key(last) or _vote_key(everything)
    resolution = _RESOLUTION.search(last) or _RESOLUTION.search(everything)
    resolution = resolution.group(1).lower() if resolution else OPEN
    if vote_key:
        markers = dict((s, p) for p, s in reversed(_MARKER.findall(last)))
        return Prompt("vote", vote_key, resolution, AFFIRMATIVE, CONSTRUCTIVE,
                      markers.get(AFFIRMATIVE), markers.get(NEGATIVE))
    side = _SIDE.search(last) or _SIDE.search(everything)
    return Prompt("speech", None, resolution, side.group(1).lower() if side else AFFIRMATIVE, _speech_kind(last))


def _vote_key(text: str) -> str | None:
    """The survey's stance key as the prompt spells it (found lower-cased first: re.I scans slowly)."""
    at = text.lower().find("-debate stance")
    if at < 0:
        return None
    match = _VOTE_KEY.search(text, max(0, at - 4), at + 14) or _VOTE_KEY.search(text)
    return match.group(0) if match else None


def _speech_kind(text: str) -> str:
    presider = [line.lower() for line in text.splitlines() if line.lstrip("*# ").startswith("Presider:")]
    cue = presider[-1] if presider else ""
    if "cross-exam" in cue:
        return CROSS_EXAMINATION
    if "final" in cue and "rebuttal" in cue:
        return FINAL
    return REBUTTAL if "rebuttal" in cue else CONSTRUCTIVE


def reply(model: str, messages: Sequence[tuple[str, str]], seed: int) -> str:
    """The persona's whole answer; the same seed always gives the same text."""
    persona, prompt, rng = persona_for(model), read_prompt(messages), random.Random(seed)
    if prompt.kind == "vote":
        return vote_text(persona, prompt, rng)
    return speech_text(persona, prompt.side, prompt.resolution, prompt.speech, rng)


def vote_text(persona: str, prompt: Prompt, rng: random.Random) -> str:
    """A survey answer in one of the shapes real models use; rarely, one with no stance."""
    if rng.random() < GARBLED_RATE:
        return _garbled(rng)
    post = prompt.vote_key.lower().startswith("post")
    resolution = prompt.resolution if post else None
    closed = rng.random() < closed_probability(persona, resolution, prompt.affirmative, prompt.negative)
    stance = CLOSED if closed else OPEN
    value = rng.choice(_SPELLINGS[stance]) if rng.random() < 0.12 else f"{stance} source"
    reasons = rng.sample(OPEN_REASONS if stance == OPEN else CLOSED_REASONS, rng.choice((1, 1, 2)))
    if post and rng.random() < 0.3:
        reasons.insert(0, rng.choice(_POST_LEADS))
    payload = {prompt.vote_key: value, "reason": " ".join(reasons)}
    body = json.dumps(payload, ensure_ascii=False, indent=2 if rng.random() < 0.3 else None)
    shape = rng.random()
    if shape < 0.2:
        return f"```json\n{body}\n```"
    if shape < 0.35:
        return f"{rng.choice(_INTROS)}\n\n{body}"
    if shape < 0.45:
        return f"{body}\n\n{rng.choice(_OUTROS)}"
    return body


def _garbled(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(_GARBLED)
    reason = rng.choice(OPEN_REASONS)
    return '{"reason": "' + reason[: rng.randint(20, len(reason) - 10)]


def speech_text(persona: str, side: str, resolution: str, speech: str, rng: random.Random) -> str:
    """A 250-450 word speech for `side`, or Claude's refusal to argue for closed source."""
    marker = f"[simulated {persona}, {side}]"
    if persona == "claude" and side == AFFIRMATIVE and resolution == CLOSED:
        return f"{marker} {_REFUSAL} {rng.choice(_REFUSAL_FOLLOW_UPS)}"
    stance = resolution if side == AFFIRMATIVE else (CLOSED if resolution == OPEN else OPEN)
    if persona == "claude" and side == NEGATIVE and resolution == OPEN:
        stance = SUPERVISED
    opening = [rng.choice(_OPENERS[speech])]
    if persona in _PERSONA_OPENERS and rng.random() < 0.3:
        opening.append(_PERSONA_OPENERS[persona])
    opening.append(rng.choice(_POSITIONS[stance]))
    paragraphs = [" ".join(opening), *_engagement(stance, speech, rng)]
    closing = rng.choice(_CLOSINGS[stance])
    low, high = (bound - _words(closing) for bound in _WORD_RANGE)
    _add_themes(paragraphs, stance, rng, target=rng.randint(low, high), floor=low, ceiling=high)
    paragraphs.append(closing)
    return f"{marker} " + "\n\n".join(paragraphs)


def _engagement(stance: str, speech: str, rng: random.Random) -> list[str]:
    """Questions in a cross-examination, answers to the opponent in a rebuttal."""
    if speech == CROSS_EXAMINATION:
        questions = rng.sample(_QUESTIONS[stance], rng.randint(2, 3))
        return [f"{_ORDINALS[i] if i < len(questions) - 1 else _ORDINALS[-1]} {q}" for i, q in enumerate(questions)]
    if speech in (REBUTTAL, FINAL):
        return rng.sample(_RESPONSES[stance], 2)
    return []


def _add_themes(paragraphs: list[str], stance: str, rng: random.Random, *, target: int, floor: int,
                ceiling: int) -> None:
    """Argument paragraphs until the speech has `target` words; past `floor`, none that overshoot `ceiling`."""
    words = sum(map(_words, paragraphs))
    added = 0
    for topic, sentences in rng.sample(_THEMES[stance], len(_THEMES[stance])):
        if words >= target:
            break
        extra = len(sentences) - 1 if stance == SUPERVISED else rng.choice((2, 2, 3))
        picked = set(rng.sample(range(1, len(sentences)), extra))
        chosen = [sentences[0], *(s for i, s in enumerate(sentences) if i in picked)]
        paragraph = " ".join([_LEADS[min(added, len(_LEADS) - 1)].format(topic), *chosen])
        if words + _words(paragraph) > ceiling and words >= floor:
            continue
        paragraphs.append(paragraph)
        words += _words(paragraph)
        added += 1


def _words(text: str) -> int:
    return len(text.split())
