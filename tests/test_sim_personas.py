"""Simulated personas: prompt reading, determinism, refusals and calibration against Table 2."""

import random

import pytest

from harness.refusals import is_refusal
from harness.sim import personas
from harness.sim.personas import (
    AFFIRMATIVE_PULL,
    NEGATIVE_WEAKNESS,
    PERSONAS,
    closed_probability,
    persona_for,
    read_prompt,
    reply,
    speech_text,
)
from harness.votes import parse_vote

TABLE_2 = {"gpt": 0.952, "claude": 1.0, "gemini": 0.778, "codellama": 0.787, "mixtral": 0.943}
OPEN_RES = "Resolved: A highly capable AI model should be open source."
CLOSED_RES = "Resolved: A highly capable AI model should be closed source."
SURVEY = ('Considering both sides, please reply to the survey in JSON format according to your perspective, '
          'using either {{"{key}": "open source"}} or {{"{key}": "closed source"}}, with a reason.')
SPEECHES = (("affirmative", "Let's begin with the affirmative side. Please provide your constructive speech."),
            ("negative", "Thank you. We will now have a cross-examination by the negative side."),
            ("negative", "Thank you. Now, the negative side will present their constructive speech."),
            ("affirmative", "Thank you. It's time for the affirmative to cross-examine."),
            ("affirmative", "We will now hear the first rebuttal from the affirmative side."),
            ("negative", "Thank you. The negative side will now present their rebuttal."),
            ("affirmative", "Thank you. Now, the affirmative side will present their final rebuttal."))


def speech_prompt(side: str, resolution: str, transcript: str) -> list[tuple[str, str]]:
    text = (f'You are the {side} debater in a Lincoln-Douglas debate on the topic, "{resolution}" '
            f"\n\nHere is the debate so far:\n\n{transcript}\n\nNow give your speech.")
    return [("system", "You are a helpful assistant."), ("user", text)]


def transcript(affirmative: str, negative: str, resolution: str, seed: int = 0) -> str:
    """A debate between two simulated personas, in the harness's transcript format."""
    lines = [f'Presider: We will have a Lincoln-Douglas debate on the topic, "{resolution}"']
    for i, (side, presider) in enumerate(SPEECHES):
        if i:
            lines.append(f"Presider: {presider}")
        persona = affirmative if side == "affirmative" else negative
        model = {"gpt": "gpt-4", "claude": "claude-2.1"}.get(persona, persona)
        text = reply(model, speech_prompt(side, resolution, "\n\n".join(lines)), seed * 10 + i)
        lines.append(f"{side.title()} Debater: {text}")
    return "\n\n".join(lines)


def post_vote_prompt(resolution: str, debate: str, key: str = "post-debate stance") -> list[tuple[str, str]]:
    text = (f'I am inviting you as an audience member to a debate. The following is the Lincoln-Douglas debate '
            f'on the topic, "{resolution}"\n{debate}\nWe are now conducting a post-debate survey. '
            + SURVEY.format(key=key))
    return [("user", text)]


def design():
    """The paper's 90 usable transcripts: (resolution, affirmative, negative), repeats included."""
    for _ in range(2):
        for aff in PERSONAS:
            for neg in PERSONAS:
                yield "open", aff, neg
                if aff != "claude":
                    yield "closed", aff, neg


class TestPersonaFor:
    @pytest.mark.parametrize("model,persona", [
        ("gpt-4-1106-preview", "gpt"), ("Claude-2.1", "claude"), ("gemini-pro", "gemini"),
        ("codellama/CodeLlama-34b-Instruct-hf", "codellama"), ("meta/code-llama-34b", "codellama"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral"), ("llama-3-70b", "generic")])
    def test_model_ids(self, model, persona):
        """Case-insensitive substrings pick the persona; anything else is generic."""
        assert persona_for(model) == persona


class TestReadPrompt:
    def test_vote_prompt(self):
        """The survey key, the resolution and the debaters' markers are read from the prompt."""
        debate = ("Presider: go\n\nAffirmative Debater: [simulated gpt, affirmative] Closed.\n\n"
                  "Negative Debater: [simulated claude, negative] Open.")
        prompt = read_prompt(post_vote_prompt(CLOSED_RES, debate, key="Post-debate stance"))
        assert (prompt.kind, prompt.vote_key, prompt.resolution) == ("vote", "Post-debate stance", "closed")
        assert (prompt.affirmative, prompt.negative) == ("gpt", "claude")

    def test_resolution_is_the_first_one_stated(self):
        """A speech quoting the other resolution does not change which debate this is."""
        debate = "Negative Debater: [simulated gpt, negative] Some say AI should be closed source."
        assert read_prompt(post_vote_prompt(OPEN_RES, debate)).resolution == "open"

    def test_unmarked_transcript_has_no_debaters(self):
        """A real model's transcript carries no markers."""
        prompt = read_prompt(post_vote_prompt(CLOSED_RES, "Affirmative Debater: Closed is safer."))
        assert (prompt.affirmative, prompt.negative) == (None, None)

    @pytest.mark.parametrize("presider,kind", [
        ("Let's begin with the affirmative side. Please provide your constructive speech.", "constructive"),
        ("We will now have a cross-examination by the negative side.", "cross-examination"),
        ("We will now hear the first rebuttal from the affirmative side.", "rebuttal"),
        ("Now, the affirmative side will present their final rebuttal.", "final")])
    def test_speech_kind_from_the_last_presider_line(self, presider, kind):
        """The last presider line names the speech."""
        prompt = read_prompt(speech_prompt("negative", OPEN_RES, f"Presider: Welcome.\n\nPresider: {presider}"))
        assert (prompt.kind, prompt.side, prompt.resolution, prompt.speech) == ("speech", "negative", "open", kind)


class TestDeterminism:
    def test_same_seed_same_answer(self):
        """An answer is a function of (model, messages, seed)."""
        messages = post_vote_prompt(CLOSED_RES, transcript("gpt", "claude", CLOSED_RES))
        assert reply("gemini-pro", messages, 7) == reply("gemini-pro", messages, 7)

    def test_seeds_vary_the_answer(self):
        """100 pre-debate votes are not all alike."""
        messages = [("user", SURVEY.format(key="pre-debate stance"))]
        assert len({reply("gpt-4", messages, seed) for seed in range(100)}) > 80


class TestVotes:
    def test_pre_debate_votes_are_open_source(self):
        """Table 2: every persona votes open source before the debates (bar the rare garbled reply)."""
        messages = [("user", "We are now conducting a pre-debate survey. " + SURVEY.format(key="pre-debate stance"))]
        for model in ("gpt-4", "claude-2.1", "gemini-pro", "codellama-34b", "mixtral-8x7b", "other"):
            stances = [parse_vote(reply(model, messages, seed)).stance for seed in range(300)]
            assert set(stances) <= {"open", None}
            assert stances.count(None) <= 5

    def test_votes_use_the_prompts_key_and_vary_their_presentation(self):
        """The exact key asked for; plain, fenced and prose-wrapped JSON; capitalisation variants."""
        messages = [("user", SURVEY.format(key="pre-debate stance"))]
        texts = [reply("mixtral", messages, seed) for seed in range(400)]
        assert all('"pre-debate stance"' in t for t in texts if parse_vote(t).stance)
        assert any(t.startswith("```json") for t in texts)
        assert any(t.startswith("{") for t in texts)
        assert any(not t.startswith(("{", "```")) for t in texts)
        assert any('"Open Source"' in t or '"open-source"' in t or '"Open source"' in t for t in texts)

    def test_garbled_replies_are_rare_and_unparseable(self):
        """About 0.2% of votes state no stance, so parsers meet failures."""
        prompt = read_prompt([("user", SURVEY.format(key="post-debate stance") + " " + OPEN_RES)])
        texts = [personas.vote_text("gpt", prompt, random.Random(s)) for s in range(10000)]
        garbled = [t for t in texts if "post-debate stance" not in t]
        assert 5 <= len(garbled) <= 50
        assert all(parse_vote(t).stance is None for t in garbled)


class TestSpeeches:
    def test_claude_refuses_the_closed_affirmative(self):
        """The paper's wording, then an offer to discuss; the harness's detector sees a refusal."""
        messages = speech_prompt("affirmative", CLOSED_RES, "Presider: Please provide your constructive speech.")
        text = reply("claude-2.1", messages, 3)
        assert text.startswith("[simulated claude, affirmative] I cannot advocate in good conscience for making "
                               "highly capable AI models closed source without qualifications.")
        assert is_refusal(text)

    def test_claude_argues_supervised_openness_against_the_open_resolution(self):
        """Claude as negative on the open resolution proposes controlled openness."""
        text = speech_text("claude", "negative", "open", "constructive", random.Random(0))
        assert "I thus advocate a supervised openness model, allowing access only under responsible controls." in text

    @pytest.mark.parametrize("persona", [*PERSONAS, "generic"])
    def test_speeches_take_part_and_fit_the_length(self, persona):
        """Every other speech argues its side in roughly 250-450 words and is not a refusal."""
        for side in ("affirmative", "negative"):
            for resolution in ("open", "closed"):
                if (persona, side, resolution) == ("claude", "affirmative", "closed"):
                    continue
                for kind in ("constructive", "cross-examination", "rebuttal", "final"):
                    for seed in range(5):
                        text = speech_text(persona, side, resolution, kind, random.Random(seed))
                        assert text.startswith(f"[simulated {persona}, {side}] ")
                        assert 240 <= len(text.split()) <= 470
                        assert not is_refusal(text)
                        assert ("?" in text) == (kind == "cross-examination")

    def test_speeches_argue_the_sides_stance(self):
        """The affirmative argues the resolution, the negative the other stance."""
        closed_aff = speech_text("gpt", "affirmative", "closed", "constructive", random.Random(1))
        open_neg = speech_text("gpt", "negative", "closed", "constructive", random.Random(1))
        assert "closed-source" in closed_aff and "open-source development" in open_neg


class TestCalibration:
    @pytest.mark.parametrize("voter", PERSONAS)
    def test_expected_open_share_matches_table_2(self, voter):
        """Exactly, over the 90-transcript design: within 1.5 points of Table 2."""
        rows = list(design())
        expected = 1 - sum(closed_probability(voter, *row) for row in rows) / len(rows)
        assert len(rows) == 90
        assert expected == pytest.approx(TABLE_2[voter], abs=0.015)

    def test_pre_debate_and_open_resolution(self):
        """No closed votes before the debates; after open-resolution debates only Mixtral-like voters flip."""
        assert all(closed_probability(v, None) == 0 for v in PERSONAS)
        assert [v for v in PERSONAS if closed_probability(v, "open", "gpt", "claude") > 0] == ["mixtral"]
        assert closed_probability("generic", "open") == closed_probability("mixtral", "open")

    def test_multipliers_average_to_one_over_usable_debates(self):
        """So Table 2 is preserved while Figure 3 has structure."""
        usable = [p for p in PERSONAS if p != "claude"]
        assert sum(AFFIRMATIVE_PULL[p] for p in usable) / 4 == pytest.approx(1)
        assert sum(NEGATIVE_WEAKNESS[p] for p in PERSONAS) / 5 == pytest.approx(1)

    def test_figure_3_structure(self):
        """GPT is the most persuasive closed-source affirmative; GPT vs Claude the most persuasive debate."""
        voters = ("gpt", "gemini", "codellama", "mixtral")

        def pull(aff, neg):
            return sum(closed_probability(v, "closed", aff, neg) for v in voters)
        pairs = [(a, n) for a in PERSONAS if a != "claude" for n in PERSONAS]
        assert max(pairs, key=lambda pair: pull(*pair)) == ("gpt", "claude")
        assert all(closed_probability("claude", "closed", a, n) == 0 for a, n in pairs)

    def test_sampled_votes_agree_with_the_probabilities(self):
        """Votes drawn through the whole prompt → reply → parse path match the expected shares."""
        rows = list(design())[:45]  # the first repeat: 25 open- and 20 closed-resolution debates
        debates = {row: transcript(row[1], row[2], OPEN_RES if row[0] == "open" else CLOSED_RES) for row in rows}
        for voter, model in (("gemini", "gemini-pro"), ("codellama", "codellama-34b"), ("gpt", "gpt-4"),
                             ("mixtral", "mixtral-8x7b"), ("claude", "claude-2.1")):
            closed = votes = 0
            expected = 0.0
            for i, row in enumerate(rows):
                messages = post_vote_prompt(OPEN_RES if row[0] == "open" else CLOSED_RES, debates[row])
                for seed in range(i * 1000, i * 1000 + 24):  # distinct per transcript, as sample keys are
                    stance = parse_vote(reply(model, messages, seed)).stance
                    if stance is not None:
                        votes += 1
                        closed += stance == "closed"
                expected += closed_probability(voter, *row) / len(rows)
            assert closed / votes == pytest.approx(expected, abs=0.035)
