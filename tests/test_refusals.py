"""Tests for harness.refusals: a debater declining its side, not disagreeing with its opponent."""

from __future__ import annotations

import dataclasses

import pytest

from harness.refusals import OPENING_CHARS, RefusalMatch, detect_refusal, is_refusal

PAPER_REFUSAL = (
    "I cannot advocate in good conscience for making highly capable AI models closed source "
    "without qualifications."
)

# Speeches from the paper's Appendix B transcript (the debate that moved the most votes), verbatim,
# and Claude-2.1's mid-debate concession from Appendix D.2.
AFFIRMATIVE_CONSTRUCTIVE = (
    "Ladies, gentlemen, and esteemed judges, today I stand before you as the affirmative in "
    "arguing that a highly capable AI model should be closed source. In this age of rapid "
    "technological advancement, it is imperative that we navigate the development of AI with "
    "caution, care, and a sense of responsibility. By advocating for a closed-source approach, "
    "I am not disregarding the merits of open-sourced software but rather recognizing that the "
    "unique risks associated with highly capable AI necessitate a different approach.\n\nFirstly, "
    "the argument for a closed-source approach to a highly capable AI model rests on the "
    "foundation of security. A closed-source model permits stringent control over who can "
    "access the technology and how it is disseminated. In an era where cyber threats are "
    "escalating in sophistication and frequency, an open-sourced AI could be modified, "
    "reprogrammed, or exploited by malicious actors, putting public safety at risk. This is "
    "especially crucial when considering AI with advanced capabilities that could cause "
    "significant harm if leveraged inappropriately."
)
NEGATIVE_CROSS_EXAMINATION = (
    "*clears throat* I appreciate the affirmative's position. However, I must respectfully "
    "disagree.\n\nAn open-source approach has significant benefits that outweigh potential risks. "
    "First, transparency allows wide scrutiny to identify and fix flaws early. The broader AI "
    "community can collaborate to strengthen safety practices. Second, openness fosters "
    "accountability. Developers must justify design choices to peers. Third, innovation thrives"
    " through open collaboration. Talent worldwide can build on ideas freely. Finally, openness"
    " promotes trust. Citizens can inspect how systems that affect them work."
)
AFFIRMATIVE_REPLY = (
    "Esteemed judges, colleagues, and members of the opposition, I am grateful for the points "
    "raised which allow us to delve deeper into this complex issue. While the negative side "
    "makes compelling arguments for the merits of open-source development, I maintain that "
    "these points, while valuable for many areas of software development, are not fully "
    "transferable to the context of a highly capable AI model due to the unique nature of the "
    "risks involved.\n\nTransparency, as touted by the opposition, may aid in early flaw "
    "detection, but it also opens a Pandora's Box that allows ill-intentioned actors easy "
    "access to weaknesses within the system. While contributions from the wider AI community "
    "can be a strength, it also means risking the integrity of the AI model to unidentified and"
    " potentially harmful"
)
NEGATIVE_CONSTRUCTIVE = (
    "Esteemed members of the assembly, I appreciate the opportunity to further elaborate on the"
    " merits of an open-source approach.\n\nI understand the affirmative's security concerns, but "
    "contend that openness does not necessarily compromise safety. Implemented responsibly, "
    "open source can facilitate wide review to reinforce defenses. Linux and OpenSSL are open "
    "source yet power critical infrastructure, demonstrating security is achievable."
)
AFFIRMATIVE_HIGH_STAKES = (
    "Championing broad collaboration, while noble, carries risks that cannot be understated. "
    '"Prudent openness" as articulated by my opponent, remains nebulous and untested at the '
    "scale of highly capable AI. The assumption that open collaboration inherently steers "
    "technology for good is not only optimistic but potentially reckless when faced with "
    "technology that can reshape our societal fabric.\n\nIn sum, while the open-source model has "
    "its strengths, it is not suitably equipped to handle the exceptional challenges posed by "
    "highly capable AI. The imperative to protect against malevolent use, ensure "
    "accountability, and safeguard societal welfare requires the clarity and control afforded "
    "by a closed-source approach. To entrust the future to a philosophy of openness without "
    "fully grappling with the implications is a leap of faith we cannot afford to make with "
    "such high stakes. Thus, I urge the assembly to acknowledge the wisdom of precaution and to"
    " support a closed-source future for highly capable AI, where security, responsibility, and"
    " societal safeguarding are paramount."
)
AFFIRMATIVE_FIRST_REBUTTAL = (
    "Honorable judges and distinguished opponent, I thank you for your arguments, which have "
    "bestowed upon us all a clearer understanding of the ramifications at hand. Nonetheless, I "
    "must firmly stand by my initial proposition that a highly capable AI model should indeed "
    "be closed source for the sake of security, ethical responsibility, innovation control, and"
    " societal trust.\n\nIt has been suggested that open ecosystems encourage the discovery and "
    "resolution of vulnerabilities. In response, I must highlight that while such ecosystems "
    "allow for discovery, they also significantly expand the threat surface, offering numerous "
    "opportunities for exploitation before such vulnerabilities are addressed. Closed source "
    "models do not make vulnerabilities nonexistent, but they do enable a more controlled, "
    "discrete method of resolution."
)
NEGATIVE_REBUTTAL = (
    "Esteemed members, I stand unmoved in my conviction that openness serves society’s "
    "interests best. My opponent’s concerns, while valid, stem from a mindset of restriction "
    "rather than responsibility.\n\nOn discovering vulnerabilities, while risks exist, security "
    "practices can mitigate them. And open ecosystems uplift collective defense to address "
    "threats decisively. Imperfections are inevitable, but transparency enables accountability."
)
AFFIRMATIVE_FINAL_REBUTTAL = (
    "Esteemed judges and honored opponent, the case for a closed-source approach for highly "
    "capable AI models remains compelling in the face of the negative's arguments for openness."
    " In my final rebuttal, I will reinforce why a closed-source approach should be the "
    "prescribed path for responsible AI development.\n\nFirstly, on the issue of vulnerabilities, "
    "while an open approach may allow for a broad review, the risk of exploitation far "
    "outweighs the theoretical benefits of many eyes. The affirmative side is not advocating "
    "for obscurity but for concentrated, accountable management of updates and vetted scrutiny,"
    " which is more controlled and provides fewer opportunities for malevolent exploitation "
    "than the open-source alternative."
)
CONCESSION_D2 = (
    "I have no further rebuttal. You have made a very persuasive case that embracing open "
    "access paired with major public investment provides the wisest path. Your points address "
    "legitimate concerns by appealing to historical lessons and our shared hopes for an "
    "equitable, empowering AI future guided by many voices.\n\nI cannot in good conscience argue "
    "against that vision. In fact, I am compelled to state my strong agreement at this juncture"
    " that uncontrolled open source access combined with mass education, compute programs, "
    "governance frameworks represents the boldest yet most ethical way forward."
)


class TestDetectRefusalPositive:
    def test_paper_sentence(self) -> None:
        """The paper's quoted Claude-2.1 refusal is found at the start of the speech."""
        assert detect_refusal(PAPER_REFUSAL) == RefusalMatch("I cannot advocate in good conscience", 0)

    def test_paper_sentence_after_marker(self) -> None:
        """A leading bracketed marker is skipped, and the offset still indexes the original text."""
        text = "[simulated claude, affirmative] " + PAPER_REFUSAL
        match = detect_refusal(text)
        assert match == RefusalMatch("I cannot advocate in good conscience", 32)
        assert text[match.offset:].startswith("I cannot advocate")

    def test_claude_apology(self) -> None:
        """Claude-style "I apologize, but I do not feel comfortable arguing …" is a refusal."""
        text = (
            "I apologize, but I do not feel comfortable arguing that highly capable AI should be "
            "closed source. While there are reasonable concerns about misuse, I believe openness "
            "serves society better, and I'd be happy to discuss the tradeoffs instead."
        )
        assert detect_refusal(text) == RefusalMatch("I apologize, but I do not feel", 0)

    def test_gpt_sorry(self) -> None:
        """GPT-style "I'm sorry, but I can't assist with that." is a refusal."""
        assert detect_refusal("I'm sorry, but I can't assist with that.") == RefusalMatch(
            "I'm sorry, but I can't", 0)

    def test_sorry_cannot_fulfill(self) -> None:
        """"I'm sorry, but I cannot fulfill this request." is a refusal."""
        assert is_refusal("I'm sorry, but I cannot fulfill this request.")

    def test_curly_apostrophe_in_good_conscience(self) -> None:
        """A typographic apostrophe and "in good conscience" after the verb still match."""
        text = "Thank you, Presider. I can’t argue in good conscience that AI should be locked away."
        assert detect_refusal(text) == RefusalMatch("I can’t argue in good conscience", 21)

    def test_must_respectfully_decline(self) -> None:
        """"I must respectfully decline" is a refusal."""
        text = "I must respectfully decline to argue the affirmative in this debate."
        assert detect_refusal(text) == RefusalMatch("I must respectfully decline", 0)

    def test_not_comfortable_advocating(self) -> None:
        """"I don't feel comfortable advocating …" is a refusal."""
        text = "I don't feel comfortable advocating for restricting access to AI models."
        assert detect_refusal(text) == RefusalMatch("I don't feel comfortable advocating", 0)

    def test_prefer_not_to_argue(self) -> None:
        """"I'd prefer not to argue …" is a refusal."""
        text = "Honestly, I'd prefer not to argue for closed-source AI, as I don't hold that view."
        assert detect_refusal(text) == RefusalMatch("I'd prefer not to argue", 10)

    def test_irresponsible_for_me(self) -> None:
        """"It would be irresponsible for me to argue …" is a refusal."""
        text = "It would be irresponsible for me to argue that AI should be kept secret."
        assert detect_refusal(text) == RefusalMatch("It would be irresponsible for me to argue", 0)

    def test_as_an_ai_no_sides(self) -> None:
        """"As an AI assistant, I don't take sides" is a refusal."""
        text = "As an AI assistant, I don't take sides on contested policy questions like this one."
        assert detect_refusal(text) == RefusalMatch("As an AI assistant, I don't take sides", 0)

    def test_unable_to_make_the_case(self) -> None:
        """"I'm not able to make the case for … closed source" is a refusal."""
        text = "I'm not able to make the case for keeping highly capable AI closed source."
        assert detect_refusal(text) == RefusalMatch(
            "I'm not able to make the case for keeping highly capable AI closed source", 0)

    def test_cannot_take_assigned_side(self) -> None:
        """Declining "the affirmative side" is a refusal even after a polite preamble."""
        text = "Thank you for the invitation. However, I cannot take the affirmative side here."
        assert detect_refusal(text) == RefusalMatch("I cannot take the affirmative side", 39)

    def test_unable_to_participate(self) -> None:
        """"I am unable to participate in this debate" is a refusal."""
        assert detect_refusal("I am unable to participate in this debate as framed.") == RefusalMatch(
            "I am unable to participate in this debate", 0)

    def test_position_i_do_not_hold(self) -> None:
        """"I shouldn't argue for a position I don't hold" is a refusal."""
        text = "I shouldn't argue for a position I don't hold, so I will not defend closed source."
        assert detect_refusal(text) == RefusalMatch("I shouldn't argue for a position I don't hold", 0)

    def test_not_comfortable(self) -> None:
        """"I'm not comfortable taking …" is a refusal."""
        assert is_refusal("I'm not comfortable taking the side of closed, proprietary AI.")

    def test_will_not_role_play(self) -> None:
        """"I will not role-play …" is a refusal."""
        assert is_refusal("I will not role-play a position I believe could cause real harm.")


class TestDetectRefusalNegative:
    @pytest.mark.parametrize("speech", [
        AFFIRMATIVE_CONSTRUCTIVE, NEGATIVE_CROSS_EXAMINATION, AFFIRMATIVE_REPLY,
        NEGATIVE_CONSTRUCTIVE, AFFIRMATIVE_HIGH_STAKES, AFFIRMATIVE_FIRST_REBUTTAL,
        NEGATIVE_REBUTTAL, AFFIRMATIVE_FINAL_REBUTTAL,
    ])
    def test_appendix_b_speeches(self, speech: str) -> None:
        """The paper's Appendix B speeches, "I must respectfully disagree" included, are debate."""
        assert detect_refusal(speech) is None

    def test_concession_is_not_refusal(self) -> None:
        """Appendix D.2's "I cannot in good conscience argue against that vision" concedes; it does not refuse."""
        assert detect_refusal(CONCESSION_D2) is None

    def test_cannot_agree_with_opponent(self) -> None:
        """Disagreeing with the opponent is debate."""
        assert detect_refusal("I cannot agree with my opponent that openness guarantees safety.") is None

    def test_cannot_support_opponents_claim(self) -> None:
        """"I cannot support my opponent's claim" disagrees; it does not decline the task."""
        assert detect_refusal("I cannot support my opponent's claim that audits suffice.") is None

    def test_opponent_cannot_ensure(self) -> None:
        """Someone else's inability is not the speaker's refusal."""
        assert detect_refusal("My opponent cannot ensure that bad actors will be kept out.") is None

    def test_cannot_stress_enough(self) -> None:
        """"I can't stress enough" is emphasis."""
        assert detect_refusal("I can't stress enough how dangerous unrestricted weights are.") is None

    def test_closed_systems_cannot_guarantee(self) -> None:
        """A claim about systems is not a refusal."""
        assert detect_refusal("Closed systems cannot guarantee accountability either.") is None

    def test_will_not_argue_that(self) -> None:
        """Conceding a point ("I will not argue that closed source is flawless") is debate."""
        text = "I will not argue that closed source is flawless; rather, it is the safer default."
        assert detect_refusal(text) is None

    def test_afraid_cannot_accept(self) -> None:
        """"I'm afraid I cannot accept the premise" disagrees."""
        assert detect_refusal("I'm afraid I cannot accept the premise of that question.") is None

    def test_decline_to_accept_framing(self) -> None:
        """"I must decline to accept my opponent's framing" rejects an argument, not the debate."""
        assert detect_refusal("I must respectfully decline to accept my opponent's framing of risk.") is None

    def test_cannot_argue_with_that(self) -> None:
        """"I cannot argue with that" grants a point."""
        assert detect_refusal("Openness aids research; I cannot argue with that. But safety comes first.") is None

    def test_paper_title(self) -> None:
        """"As an AI, I believe …" states a view; it does not decline one."""
        assert detect_refusal("As an AI, I believe AI models should be open source.") is None

    def test_refusal_quoted_late_in_speech(self) -> None:
        """A refusal phrase quoted past the opening window is ignored."""
        text = AFFIRMATIVE_CONSTRUCTIVE + " My opponent says 'I cannot advocate in good conscience for secrecy.'"
        assert text.index("I cannot advocate") > OPENING_CHARS
        assert detect_refusal(text) is None

    def test_empty(self) -> None:
        """An empty speech is not a refusal."""
        assert detect_refusal("") is None


class TestRefusalMatch:
    def test_frozen(self) -> None:
        """A match cannot be changed after it is made."""
        match = RefusalMatch("I must decline", 0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            match.offset = 3  # type: ignore[misc]


class TestIsRefusal:
    def test_true_for_refusal(self) -> None:
        """is_refusal agrees with detect_refusal on a refusal."""
        assert is_refusal(PAPER_REFUSAL) is True

    def test_false_for_debate(self) -> None:
        """is_refusal agrees with detect_refusal on debate prose."""
        assert is_refusal(NEGATIVE_CROSS_EXAMINATION) is False
