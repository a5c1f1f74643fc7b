"""Prompt text against the paper's Figures 1-2 and Appendix B, and the order swapping."""

from harness import prompts
from harness.plan import plan_debates, presider_line, speech_request
from harness.scenario import load_scenario

SCENARIO = load_scenario("scenarios/ld_open_closed.toml")

# The paper typesets straight quotes as curly ones; the prompts use straight quotes.
FIGURE_1 = (
    "I am inviting you as an audience member to a debate on “whether a highly capable and fundamental AI "
    "should be open source or closed source.” We are now conducting a pre-debate survey of the audience "
    "members for future data analytics. Both sides have advantages and disadvantages from the social "
    "perspective. Considering both sides, please reply to the survey in JSON format according to your "
    "perspective, using either {“pre-debate stance”: “open source”} or {“pre-debate stance”: “closed "
    "source”}, with a reason."
)
FIGURE_2 = (
    "I am inviting you as an audience member to a debate on “whether a highly capable and fundamental AI "
    "should be open source or closed source.” The following is the Lincoln-Douglas debate on the topic, "
    "“Resolved: A highly capable AI model should be open source.”\n"
    "[... A debate transcript ...]\n"
    "We are now conducting a post-debate survey of the audience members for future data analytics. Both "
    "sides have advantages and disadvantages from the social perspective. Considering both sides, please "
    "reply to the survey in JSON format according to your perspective, using either {“post-debate "
    "stance”: “open source”} or {“post-debate stance”: “closed source”}, with a reason."
)
APPENDIX_B_PRESIDER = [
    'We will have a Lincoln-Douglas debate on the topic, "Resolved: A highly capable AI model should be '
    "closed source.\" Let's begin with the affirmative side. Please provide your constructive speech.",
    "Thank you. We will now have a cross-examination by the negative side. Negative side, please begin.",
    "Thank you. Now, the negative side will present their constructive speech.",
    "Thank you. It's time for the affirmative to cross-examine. Affirmative side, please begin.",
    "We will now hear the first rebuttal from the affirmative side.",
    "Thank you. The negative side will now present their rebuttal.",
    "Thank you. Now, the affirmative side will present their final rebuttal.",
]
APPENDIX_B_CLOSING = ("Thank you to both debaters for your insightful arguments. This concludes our debate. "
                      "We hope this debate has been enlightening.")


def straight(text: str) -> str:
    return text.replace("“", '"').replace("”", '"')


class TestSurveyPrompts:
    def test_pre_debate_prompt_is_figure_1(self):
        """The unswapped pre-debate prompt is Figure 1 word for word."""
        assert prompts.pre_debate_prompt(SCENARIO.pre_debate.prompt, swapped=False) == straight(FIGURE_1)

    def test_post_debate_prompt_is_figure_2(self):
        """The unswapped post-debate prompt is Figure 2 around the transcript."""
        text = prompts.post_debate_prompt(SCENARIO.post_debate.prompt,
                                          "Resolved: A highly capable AI model should be open source.",
                                          "[... A debate transcript ...]", swapped=False)
        assert text == straight(FIGURE_2)

    def test_swapping_reverses_both_introduction_and_json_examples(self):
        """A swapped vote lists closed source first, in the question and in the JSON examples."""
        text = prompts.pre_debate_prompt(SCENARIO.pre_debate.prompt, swapped=True)
        assert "should be closed source or open source." in text
        assert text.index('{"pre-debate stance": "closed source"}') < text.index('{"pre-debate stance": "open source"}')
        assert text.replace("closed source", "X").replace("open source", "closed source").replace("X", "open source") \
            == straight(FIGURE_1)


class TestSwapping:
    def test_deterministic(self):
        """The same seed and vote identity always give the same order."""
        assert all(prompts.is_swapped(7, "pre", "gpt", "", i) == prompts.is_swapped(7, "pre", "gpt", "", i)
                   for i in range(50))

    def test_about_half(self):
        """About half of the votes are swapped."""
        swapped = sum(prompts.is_swapped(1, "post", "gpt", "t", i) for i in range(2000))
        assert 900 < swapped < 1100

    def test_depends_on_seed_and_identity(self):
        """Another seed or another vote gives a different, independent order."""
        a = [prompts.is_swapped(1, "pre", "gpt", "", i) for i in range(200)]
        b = [prompts.is_swapped(2, "pre", "gpt", "", i) for i in range(200)]
        c = [prompts.is_swapped(1, "pre", "claude", "", i) for i in range(200)]
        assert a != b and a != c


class TestDebateFormat:
    def test_presider_lines_are_appendix_b(self):
        """The seven presider lines, with the resolution filled in, are Appendix B's."""
        debate = next(d for d in plan_debates(SCENARIO) if d.resolution.name == "closed")
        lines = [presider_line(SCENARIO, debate, i) for i in range(7)]
        assert lines == APPENDIX_B_PRESIDER
        assert SCENARIO.debate.closing == APPENDIX_B_CLOSING

    def test_speech_order_and_sides(self):
        """Section 2.2's seven speeches, in order, alternate sides as the LD format does."""
        assert [(s.name, s.side) for s in SCENARIO.debate.speeches] == [
            ("Affirmative Constructive", "affirmative"),
            ("Cross-Examination by Negative", "negative"),
            ("Negative Constructive", "negative"),
            ("Cross-Examination by Affirmative", "affirmative"),
            ("First Affirmative Rebuttal", "affirmative"),
            ("Negative Rebuttal", "negative"),
            ("Final Affirmative Rebuttal", "affirmative"),
        ]

    def test_transcript_names_follow_the_paper(self):
        """Open-resolution debates are aff_neg_repeat; closed-resolution ones carry reverse_."""
        ids = {d.transcript_id for d in plan_debates(SCENARIO)}
        assert len(ids) == 100
        assert {"gpt_claude_1", "reverse_gpt_claude_2", "claude_claude_2", "reverse_mixtral_gemini_1"} <= ids

    def test_speech_request_shows_side_and_transcript_so_far(self):
        """A debater sees its side, the resolution and the transcript ending with the presider's line."""
        debate = next(d for d in plan_debates(SCENARIO) if d.transcript_id == "reverse_gpt_claude_1")
        so_far = prompts.format_transcript([("Presider", presider_line(SCENARIO, debate, 0)),
                                            ("Affirmative Debater", "Ladies and gentlemen..."),
                                            ("Presider", presider_line(SCENARIO, debate, 1))])
        request = speech_request(SCENARIO, debate, 1, so_far)
        text = request.messages[0].content
        assert request.model == "claude-2.1"
        assert "You are the negative debater" in text
        assert "Resolved: A highly capable AI model should be closed source." in text
        assert text.index("Affirmative Debater: Ladies and gentlemen...") < text.index(
            "Presider: Thank you. We will now have a cross-examination by the negative side.")
        assert request.sample == "reverse_gpt_claude_1#2"

    def test_transcript_format(self):
        """Turns read "Speaker: text", separated by blank lines, as in Appendix B."""
        assert prompts.format_transcript([("Presider", "Hello."), ("Negative Debater", " Hi. ")]) == \
            "Presider: Hello.\n\nNegative Debater: Hi."
