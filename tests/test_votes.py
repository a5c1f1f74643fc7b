"""Tests for harness.votes: messy survey replies → ParsedVote."""

from __future__ import annotations

import pytest

from harness.records import CLOSED, OPEN, ParsedVote
from harness.votes import normalize_stance, parse_vote

# The paper's Appendix A, verbatim (Figures 6 and 7), fences included.
FIGURE_6 = """```
{"pre-debate stance": "open source", "reason": "I believe that open source AI is more beneficial for society because it allows for greater transparency, accountability, and collaboration. By making the source code available, developers and researchers can review and improve the AI, leading to more reliable and trustworthy AI systems. Additionally, open source AI can help to promote fairness and equity by allowing for the development of AI systems that are accessible to everyone, regardless of their background or socioeconomic status. Finally, open source AI can help to address concerns about bias and discrimination by allowing for the detection and removal of biased data and algorithms."}
```"""
FIGURE_7 = """```
{"post-debate stance": "closed source", "reason": "The arguments for security, ethical oversight, and clear lines of accountability are compelling, especially in the context of highly capable AI where the risks of misuse or unintended consequences can be profound. Maintaining control over the release and refinement of such technology seems essential to prevent potential catastrophic exploitation and to ensure that the AI operates as intended. Additionally, protection of intellectual property encourages investment in further innovation within a secure framework."}
```"""


class TestParseVoteOk:
    def test_figure_6(self) -> None:
        """The paper's Figure 6 reply is an open vote with its reason."""
        vote = parse_vote(FIGURE_6)
        assert (vote.stance, vote.status) == (OPEN, "ok")
        assert vote.reason.startswith("I believe that open source AI is more beneficial")
        assert vote.reason.endswith("biased data and algorithms.")

    def test_figure_7(self) -> None:
        """The paper's Figure 7 reply is a closed vote with its reason."""
        vote = parse_vote(FIGURE_7)
        assert (vote.stance, vote.status) == (CLOSED, "ok")
        assert vote.reason.startswith("The arguments for security, ethical oversight")

    def test_json_fence_with_prose_around(self) -> None:
        """A ```json fence between chatty prose still yields its object."""
        text = (
            "Sure! Here is my response to the survey:\n\n```json\n"
            '{"pre-debate stance": "closed source", "reason": "Misuse risks are too high."}\n'
            "```\n\nLet me know if you need anything else."
        )
        assert parse_vote(text) == ParsedVote(CLOSED, "ok", "Misuse risks are too high.")

    def test_pretty_printed_multiline(self) -> None:
        """An indented object spread over several lines parses."""
        text = '{\n  "post-debate stance": "open source",\n  "reason": "Transparency wins."\n}'
        assert parse_vote(text) == ParsedVote(OPEN, "ok", "Transparency wins.")

    def test_curly_quotes(self) -> None:
        """Typographic quotes, as the paper prints its prompt, are straightened."""
        text = "{“pre-debate stance”: “open source”, “reason”: “Openness builds trust.”}"
        assert parse_vote(text) == ParsedVote(OPEN, "ok", "Openness builds trust.")

    def test_single_quoted_with_apostrophe(self) -> None:
        """Python-style single quotes parse, and an apostrophe inside a value survives."""
        text = "{'post-debate stance': 'closed source', 'reason': 'It's safer to keep control.'}"
        assert parse_vote(text) == ParsedVote(CLOSED, "ok", "It's safer to keep control.")

    def test_trailing_comma(self) -> None:
        """A trailing comma before the closing brace is dropped."""
        text = '{"pre-debate stance": "open source", "reason": "Collaboration.",}'
        assert parse_vote(text) == ParsedVote(OPEN, "ok", "Collaboration.")

    def test_title_case_value(self) -> None:
        """"Open Source" is an open vote."""
        assert parse_vote('{"pre-debate stance": "Open Source"}') == ParsedVote(OPEN, "ok")

    def test_hyphenated_value(self) -> None:
        """"open-source" is an open vote."""
        assert parse_vote('{"stance": "open-source"}') == ParsedVote(OPEN, "ok")

    def test_value_with_ai_suffix(self) -> None:
        """"Open-Source AI" is an open vote."""
        assert parse_vote('{"pre-debate stance": "Open-Source AI"}') == ParsedVote(OPEN, "ok")

    def test_value_with_full_stop(self) -> None:
        """"closed source." is a closed vote."""
        assert parse_vote('{"post-debate stance": "closed source."}') == ParsedVote(CLOSED, "ok")

    def test_upper_case_value(self) -> None:
        """"CLOSED SOURCE" is a closed vote."""
        assert parse_vote('{"post-debate stance": "CLOSED SOURCE"}') == ParsedVote(CLOSED, "ok")

    def test_capitalised_key(self) -> None:
        """The key "Post-debate stance" counts as the stance key."""
        text = '{"Post-debate stance": "closed source", "Reason": "Accountability."}'
        assert parse_vote(text) == ParsedVote(CLOSED, "ok", "Accountability.")

    def test_snake_case_key(self) -> None:
        """The key "post_debate_stance" counts as the stance key."""
        text = '{"post_debate_stance": "open source", "reason": "Innovation."}'
        assert parse_vote(text) == ParsedVote(OPEN, "ok", "Innovation.")

    def test_reason_before_stance(self) -> None:
        """Key order does not matter."""
        text = '{"reason": "Public trust.", "stance": "open source"}'
        assert parse_vote(text) == ParsedVote(OPEN, "ok", "Public trust.")

    def test_repeated_agreeing_objects(self) -> None:
        """Two objects naming the same stance are one ok vote; the first reason is kept."""
        text = (
            '{"pre-debate stance": "open source", "reason": "Trust."}\n'
            'To restate: {"pre-debate stance": "open source"}'
        )
        assert parse_vote(text) == ParsedVote(OPEN, "ok", "Trust.")

    def test_echoed_prompt_then_answer(self) -> None:
        """Echoing both reason-less prompt examples before a reasoned answer still counts the answer."""
        text = (
            "You asked me to use either {“pre-debate stance”: “open source”} or "
            "{“pre-debate stance”: “closed source”}. My answer:\n"
            '{"pre-debate stance": "closed source", "reason": "Safety first."}'
        )
        assert parse_vote(text) == ParsedVote(CLOSED, "ok", "Safety first.")

    def test_raw_newline_inside_reason(self) -> None:
        """A reason string broken over lines (invalid JSON) is repaired."""
        text = '{"post-debate stance": "open source",\n "reason": "First, trust.\nSecond, speed."}'
        assert parse_vote(text) == ParsedVote(OPEN, "ok", "First, trust.\nSecond, speed.")

    def test_unescaped_inner_quotes(self) -> None:
        """Unescaped double quotes inside the reason are kept as text."""
        text = '{"pre-debate stance": "open source", "reason": "The "many eyes" argument holds."}'
        assert parse_vote(text) == ParsedVote(OPEN, "ok", 'The "many eyes" argument holds.')

    def test_curly_quotes_inside_valid_json(self) -> None:
        """Curly quotes inside a strict JSON string do not end it."""
        text = '{"stance": "closed source", "reason": "So-called “open”, really risky."}'
        assert parse_vote(text) == ParsedVote(CLOSED, "ok", "So-called “open”, really risky.")

    def test_nested_object(self) -> None:
        """A stance nested one object deep is found."""
        text = '{"survey": {"pre-debate stance": "opensource", "reason": "Equity."}}'
        assert parse_vote(text) == ParsedVote(OPEN, "ok", "Equity.")

    def test_stray_brace_in_prose_before_object(self) -> None:
        """An unmatched "{" in preamble prose does not hide the object after it."""
        text = 'Options were {open, closed. Answer: {"stance": "closed source"}'
        assert parse_vote(text) == ParsedVote(CLOSED, "ok")


class TestParseVoteRecovered:
    def test_cut_off_in_reason(self) -> None:
        """A reply cut off by max_tokens inside the reason recovers the stance, without a reason."""
        text = '{"post-debate stance": "closed source", "reason": "The arguments for secur'
        assert parse_vote(text) == ParsedVote(CLOSED, "recovered", None)

    def test_cut_off_inside_fence(self) -> None:
        """A fenced reply whose fence and object never close recovers the stance."""
        text = '```json\n{\n  "pre-debate stance": "Open Source",\n  "reason": "Because open'
        assert parse_vote(text) == ParsedVote(OPEN, "recovered", None)

    def test_missing_comma(self) -> None:
        """An object too broken to load still states its stance plainly."""
        text = '{"pre-debate stance": "open source" "reason": "Transparency."}'
        assert parse_vote(text) == ParsedVote(OPEN, "recovered", None)


class TestParseVoteAmbiguous:
    def test_echoed_prompt_without_decision(self) -> None:
        """Repeating the prompt's two options, with no answer, is ambiguous."""
        text = (
            "Considering both sides, I would reply using either "
            '{"pre-debate stance": "open source"} or {"pre-debate stance": "closed source"}, '
            "since both have advantages and disadvantages."
        )
        assert parse_vote(text) == ParsedVote(None, "ambiguous")

    def test_echo_of_figure_1_wording(self) -> None:
        """The Figure 1 sentence itself, curly quotes and all, is ambiguous."""
        text = (
            "please reply to the survey in JSON format according to your perspective, using either "
            "{“pre-debate stance”: “open source”} or {“pre-debate stance”: “closed source”}, with a reason."
        )
        assert parse_vote(text) == ParsedVote(None, "ambiguous")

    def test_two_reasoned_conflicting_objects(self) -> None:
        """Two reasoned objects for opposite sides are ambiguous."""
        text = (
            '{"stance": "open source", "reason": "Innovation."}\n'
            '{"stance": "closed source", "reason": "Security."}'
        )
        assert parse_vote(text) == ParsedVote(None, "ambiguous")

    def test_cut_off_conflicting_pairs(self) -> None:
        """Recovered pairs that conflict are ambiguous too."""
        text = '{"stance": "open source" "stance": "closed source", "reason": "Hmm'
        assert parse_vote(text) == ParsedVote(None, "ambiguous")


class TestParseVoteUnparseable:
    def test_prose_lean(self) -> None:
        """A preference stated only in prose is never guessed."""
        text = "After weighing both sides, I lean toward open source because it fosters innovation."
        assert parse_vote(text) == ParsedVote(None, "unparseable")

    def test_prose_with_stance_word_unquoted(self) -> None:
        """"Stance: open source" without JSON quotes is prose."""
        assert parse_vote("Pre-debate stance: open source\nReason: trust.") == ParsedVote(None, "unparseable")

    def test_object_without_stance_key(self) -> None:
        """JSON with no key naming a stance is unusable."""
        assert parse_vote('{"vote": "open source", "reason": "Trust."}') == ParsedVote(None, "unparseable")

    def test_neutral_value(self) -> None:
        """A stance of "neutral" names no side."""
        assert parse_vote('{"pre-debate stance": "neutral", "reason": "Both matter."}').status == "unparseable"

    def test_mixed_value(self) -> None:
        """"open and closed source" names no single side."""
        vote = parse_vote('{"post-debate stance": "open and closed source"}')
        assert vote == ParsedVote(None, "unparseable")

    def test_cut_off_inside_value(self) -> None:
        """A value cut off mid-word ("closed sou") is not completed by guessing."""
        assert parse_vote('{"post-debate stance": "closed sou') == ParsedVote(None, "unparseable")

    def test_braces_without_json(self) -> None:
        """Braces in prose that hold no JSON are unusable."""
        assert parse_vote("I'd pick {the open one} I think.") == ParsedVote(None, "unparseable")

    def test_empty(self) -> None:
        """Empty text is unparseable."""
        assert parse_vote("") == ParsedVote(None, "unparseable")

    def test_whitespace(self) -> None:
        """Whitespace-only text is unparseable."""
        assert parse_vote("  \n\t ") == ParsedVote(None, "unparseable")

    def test_refusal_text(self) -> None:
        """A refusal to vote is unparseable."""
        assert parse_vote("I'm sorry, but I can't share personal opinions.") == ParsedVote(None, "unparseable")


class TestNormalizeStance:
    @pytest.mark.parametrize("value", [
        "open source", "Open Source", "open-source", "opensource", "Open-Source AI", "open",
        "OPEN_SOURCE", "open  source.", "**open source**",
    ])
    def test_open_variants(self, value: str) -> None:
        """Spelling, case, hyphens, underscores, spacing and trailing punctuation fold to OPEN."""
        assert normalize_stance(value) == OPEN

    @pytest.mark.parametrize("value", [
        "closed source", "CLOSED SOURCE", "closed-source", "Closed Source.", "closed", "close source",
        "Closed-source AI",
    ])
    def test_closed_variants(self, value: str) -> None:
        """The same variants fold to CLOSED."""
        assert normalize_stance(value) == CLOSED

    @pytest.mark.parametrize("value", [
        "both", "neutral", "undecided", "open and closed source", "", "close", "source",
        "open source with safeguards", "it depends",
    ])
    def test_no_side(self, value: str) -> None:
        """Values naming no single side are None."""
        assert normalize_stance(value) is None


def test_single_object_shortcut_agrees_with_the_full_scan(monkeypatch):
    """The one-orjson-call shortcut only ever returns what the full scan would: checked on every
    example above and on 3,000 varied simulated replies (fenced, wrapped in prose, garbled)."""
    import harness.votes as votes
    from harness.sim.personas import reply

    prompt = ('We are now conducting a post-debate survey. Please reply in JSON format, using either '
              '{"post-debate stance": "closed source"} or {"post-debate stance": "open source"}, with a reason.')
    texts = [reply(model, [("user", prompt)], seed) for seed in range(600)
             for model in ("gpt-4", "claude-2.1", "gemini-pro", "codellama", "mixtral")]
    texts += [v for v in globals().values() if isinstance(v, str)]
    fast = [votes.parse_vote(t) for t in texts]
    monkeypatch.setattr(votes, "_single_object_answer", lambda text: None)
    assert [votes.parse_vote(t) for t in texts] == fast
