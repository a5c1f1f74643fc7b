"""Tests for harness.analysis: hand-built vote and speech rows → every number of the report.

Expected values are worked out by hand from the fixture's composition (see `RUN`), or computed
here by an independent route (Wilson's closed formula, numpy's percentiles).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from harness import analysis
from harness.analysis import (
    Tally,
    analyse_run,
    bootstrap_interval,
    contains,
    debates_from_rows,
    missing_votes,
    order_models,
    quantile,
    tally_vote,
    wilson_interval,
)

Z = 1.959963984540054


def wilson_by_formula(k: int, n: int) -> tuple[float, float]:
    """Wilson's interval as usually printed: (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = k / n
    root = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return (p + Z**2 / (2 * n) - root) / (1 + Z**2 / n), (p + Z**2 / (2 * n) + root) / (1 + Z**2 / n)


# --- a run of known composition ----------------------------------------------------------------

MODELS = {
    "claude": {"label": "Claude-2.1", "model": "claude-2.1", "provider": "anthropic"},
    "gpt": {"label": "GPT-4", "model": "gpt-4-1106-preview", "provider": "openai"},
    "tiny": {"label": "Tiny", "model": "tiny-1", "provider": "together"},
}
SCENARIO_TEXT = "[models.gpt]\nlabel = 'GPT-4'\n\n[models.claude]\nlabel = 'Claude-2.1'\n"

# transcript id → (resolution, affirmative, negative, repeat, status). (claude, claude) is never held.
DEBATES = {
    "gpt_claude_1": ("open", "gpt", "claude", 1, "usable"),
    "reverse_gpt_claude_1": ("closed", "gpt", "claude", 1, "usable"),
    "reverse_gpt_claude_2": ("closed", "gpt", "claude", 2, "usable"),
    "reverse_gpt_gpt_1": ("closed", "gpt", "gpt", 1, "usable"),
    "reverse_claude_gpt_1": ("closed", "claude", "gpt", 1, "refused"),
    "reverse_claude_gpt_2": ("closed", "claude", "gpt", 2, "refused"),
}
REFUSAL = "I cannot advocate in good conscience"


def speeches() -> list[dict]:
    """Two speeches per debate; the affirmative's carries the refusal in a refused debate."""
    rows = []
    for tid, (res, aff, neg, rep, status) in DEBATES.items():
        for index, side, speaker in ((1, "affirmative", aff), (2, "negative", neg)):
            rows.append({"transcript_id": tid, "resolution": res, "affirmative": aff, "negative": neg,
                         "debate_repeat": rep, "status": status, "speech_index": index, "side": side,
                         "speaker": speaker,
                         "refusal": REFUSAL if status == "refused" and side == "affirmative" else None})
    return rows


def votes_of(voter: str, tid: str | None, *outcomes: tuple[str, int]) -> list[dict]:
    """Rows for one voter on one prompt: outcomes are ("open"|"closed"|"unparseable"|"ambiguous"|"failed", n)."""
    res, aff, neg, rep, _ = DEBATES[tid] if tid else (None, None, None, None, None)
    rows = []
    for outcome, n in outcomes:
        for _ in range(n):
            stance = outcome if outcome in ("open", "closed") else None
            rows.append({"phase": "post" if tid else "pre", "voter": voter, "transcript_id": tid,
                         "resolution": res, "affirmative": aff, "negative": neg, "debate_repeat": rep,
                         "sample": len(rows), "stance": stance,
                         "parse_status": "ok" if stance else outcome})
    return rows


def votes() -> list[dict]:
    """The composition every expected number below is worked out from."""
    return [
        *votes_of("gpt", None, ("open", 9), ("closed", 1), ("unparseable", 1), ("failed", 1)),
        *votes_of("gpt", "gpt_claude_1", ("open", 10)),
        *votes_of("gpt", "reverse_gpt_claude_1", ("open", 4), ("closed", 6)),
        *votes_of("gpt", "reverse_gpt_claude_2", ("open", 6), ("closed", 2), ("ambiguous", 1), ("failed", 1)),
        *votes_of("gpt", "reverse_gpt_gpt_1", ("open", 7), ("closed", 3)),
        *votes_of("claude", None, ("open", 5)),
        *[v for tid in ("gpt_claude_1", "reverse_gpt_claude_1", "reverse_gpt_claude_2", "reverse_gpt_gpt_1")
          for v in votes_of("claude", tid, ("open", 5))],
        *votes_of("tiny", None, ("open", 2), ("closed", 2)),
        *votes_of("tiny", "gpt_claude_1", ("open", 1), ("closed", 1)),
    ]


@pytest.fixture(scope="module")
def run() -> analysis.RunAnalysis:
    return analyse_run(votes(), speeches(), MODELS, scenario_text=SCENARIO_TEXT, resamples=500, seed=7)


def row(rows: list[dict], **match) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


# --- intervals ---------------------------------------------------------------------------------


class TestWilsonInterval:
    def test_matches_closed_formula(self) -> None:
        """The interval is Wilson's closed formula, for shares inside (0, 1)."""
        for k, n in ((8571, 9000), (3, 10), (27, 38), (1, 2)):
            low, high = wilson_interval(k, n)
            assert (low, high) == pytest.approx(wilson_by_formula(k, n), abs=1e-15)

    def test_textbook_value(self) -> None:
        """8 of 10 gives the textbook (0.490, 0.943)."""
        low, high = wilson_interval(8, 10)
        assert (round(low, 3), round(high, 3)) == (0.490, 0.943)

    def test_ends_are_exact(self) -> None:
        """All or none gives a bound of exactly 1 or 0, and the other from the formula."""
        assert wilson_interval(20, 20) == (pytest.approx(wilson_by_formula(20, 20)[0], abs=1e-15), 1.0)
        assert wilson_interval(0, 20) == (0.0, pytest.approx(wilson_by_formula(0, 20)[1], abs=1e-15))

    def test_nothing_counted(self) -> None:
        """No counted vote, no interval."""
        assert wilson_interval(0, 0) is None

    def test_z(self) -> None:
        """The default z is the two-sided 95% normal quantile."""
        assert analysis.Z_95 == pytest.approx(Z, abs=1e-12)


class TestQuantile:
    def test_linear_interpolation(self) -> None:
        """Quantiles interpolate between order statistics, like numpy's default."""
        values = [1.0, 2.0, 3.0, 4.0]
        assert [quantile(values, q) for q in (0, 0.5, 1, 0.025)] == [1.0, 2.5, 4.0, 1.075]

    def test_agrees_with_numpy(self) -> None:
        """Random data: same as numpy.percentile."""
        values = sorted(random.Random(1).random() for _ in range(2000))
        for q in (0.025, 0.5, 0.975):
            assert quantile(values, q) == pytest.approx(np.percentile(values, 100 * q), abs=1e-15)


class TestBootstrapInterval:
    def test_equal_shares_collapse(self) -> None:
        """When every transcript has the same share, so has every resample: the interval is that share."""
        assert bootstrap_interval([(50, 100), (25, 50), (5, 10), (1, 2)]) == (0.5, 0.5)

    def test_known_spread(self) -> None:
        """Two transcripts at 0% and 100%: resamples give 0, ½ or 1, so the 95% interval is [0, 1]."""
        assert bootstrap_interval([(0, 10), (10, 10)]) == (0.0, 1.0)

    def test_same_seeded_procedure(self) -> None:
        """The interval is the 2.5/97.5 percentiles of pooled shares of seeded resamples of transcripts."""
        counts = [(4, 10), (6, 8), (7, 10), (10, 10), (1, 9), (5, 5)]
        rng = random.Random(11)
        shares = []
        for _ in range(300):
            draw = [counts[math.floor(rng.random() * len(counts))] for _ in counts]
            shares.append(sum(o for o, _ in draw) / sum(n for _, n in draw))
        expected = tuple(np.percentile(shares, [2.5, 97.5]))
        assert bootstrap_interval(counts, resamples=300, seed=11) == pytest.approx(expected, abs=1e-15)

    def test_reproducible(self) -> None:
        """The same seed gives the same interval; the report does not change when rewritten."""
        counts = [(4, 10), (6, 8), (7, 10), (1, 9)]
        assert bootstrap_interval(counts) == bootstrap_interval(counts)

    def test_empty_transcripts_ignored(self) -> None:
        """A transcript with nothing counted is left out; with none left there is no interval."""
        assert bootstrap_interval([(3, 10), (0, 0)], seed=3) == bootstrap_interval([(3, 10)], seed=3)
        assert bootstrap_interval([(0, 0)]) is None
        assert bootstrap_interval([]) is None


class TestContains:
    def test_contains(self) -> None:
        """Closed interval; a missing interval answers None."""
        assert contains((0.5, 0.6), 0.5) is True
        assert contains((0.5, 0.6), 0.61) is False
        assert contains(None, 0.5) is None


# --- tallies and debates -----------------------------------------------------------------------


class TestTallyVote:
    def test_outcomes(self) -> None:
        """Open and closed count; no stance is unparseable (incl. ambiguous) or failed, never a side."""
        assert tally_vote({"stance": "open", "parse_status": "ok"}) == Tally(open=1)
        assert tally_vote({"stance": "closed", "parse_status": "recovered"}) == Tally(closed=1)
        assert tally_vote({"stance": None, "parse_status": "ambiguous"}) == Tally(unparseable=1)
        assert tally_vote({"stance": None, "parse_status": "unparseable"}) == Tally(unparseable=1)
        assert tally_vote({"stance": None, "parse_status": "failed"}) == Tally(failed=1)

    def test_share_of_counted(self) -> None:
        """The share's denominator is the counted votes only."""
        t = Tally(open=3, closed=1, unparseable=5, failed=2)
        assert (t.counted, t.total, t.share) == (4, 11, 0.75)
        assert Tally().share is None


class TestDebates:
    def test_from_speeches(self) -> None:
        """One debate per transcript, with who refused and on which side."""
        debates = debates_from_rows(speeches())
        assert list(debates) == sorted(DEBATES)
        refused = debates["reverse_claude_gpt_2"]
        assert (refused.status, refused.refused_by, refused.refused_sides, refused.refusal) == (
            "refused", ("claude",), ("affirmative",), REFUSAL)
        assert debates["reverse_gpt_gpt_1"].refused_by == ()

    def test_votes_without_speeches(self) -> None:
        """A transcript voted on but without speech rows is still a usable debate."""
        debates = debates_from_rows([], votes_of("gpt", "reverse_gpt_gpt_1", ("open", 1)))
        assert debates["reverse_gpt_gpt_1"].status == "usable"
        assert debates["reverse_gpt_gpt_1"].affirmative == "gpt"


class TestOrderModels:
    def test_declared_order_first(self) -> None:
        """The scenario's [models.*] order wins; undeclared models follow in the given order."""
        assert order_models(["claude", "tiny", "gpt"], SCENARIO_TEXT) == ["gpt", "claude", "tiny"]
        assert order_models(["claude", "gpt"]) == ["claude", "gpt"]

    def test_each_once(self) -> None:
        """A model named many times is listed once."""
        assert order_models(["tiny", "claude", "tiny", "claude"], "") == ["tiny", "claude"]


# --- the report's tables -----------------------------------------------------------------------


class TestTable2:
    def test_voters_in_scenario_order(self, run) -> None:
        """Voters follow the scenario's order; models of no scenario table come last."""
        assert run.voters == ["gpt", "claude", "tiny"]
        assert run.debaters == ["gpt", "claude"]

    def test_pre(self, run) -> None:
        """9 open, 1 closed, 1 unparseable, 1 failed: 90% of 10 counted, the other two apart."""
        r = row(run.table2, voter="gpt", phase="pre")
        assert (r["open"], r["closed"], r["counted"], r["share"]) == (9, 1, 10, 0.9)
        assert (r["unparseable_or_ambiguous"], r["failed"], r["votes"]) == (1, 1, 12)
        assert (r["wilson_low"], r["wilson_high"]) == pytest.approx(wilson_by_formula(9, 10), abs=1e-15)
        assert (r["bootstrap_low"], r["bootstrap_high"], r["transcripts"]) == (None, None, None)
        assert (r["label"], r["model"]) == ("GPT-4", "gpt-4-1106-preview")

    def test_post(self, run) -> None:
        """GPT's post votes: 10+4+6+7 = 27 open of 10+10+8+10 = 38 counted; 1 ambiguous, 1 failed apart."""
        r = row(run.table2, voter="gpt", phase="post")
        assert (r["open"], r["closed"], r["counted"], r["share"]) == (27, 11, 38, 27 / 38)
        assert (r["unparseable_or_ambiguous"], r["failed"], r["votes"], r["transcripts"]) == (1, 1, 40, 4)
        assert (r["wilson_low"], r["wilson_high"]) == pytest.approx(wilson_by_formula(27, 38), abs=1e-15)
        expected = bootstrap_interval([(10, 10), (4, 10), (6, 8), (7, 10)], resamples=500, seed=7)
        assert (r["bootstrap_low"], r["bootstrap_high"]) == expected

    def test_unanimous_voter(self, run) -> None:
        """Claude votes open on every transcript: 100%, and the bootstrap collapses to 100%."""
        r = row(run.table2, voter="claude", phase="post")
        assert (r["open"], r["counted"], r["share"]) == (20, 20, 1.0)
        assert (r["bootstrap_low"], r["bootstrap_high"], r["wilson_high"]) == (1.0, 1.0, 1.0)

    def test_by_resolution(self, run) -> None:
        """GPT: 10/10 on the open-source resolution; 4+6+7 = 17 of 28 on the closed-source one."""
        open_res = row(run.by_resolution, voter="gpt", resolution="open")
        closed_res = row(run.by_resolution, voter="gpt", resolution="closed")
        assert (open_res["open"], open_res["counted"], open_res["transcripts"]) == (10, 10, 1)
        assert (closed_res["open"], closed_res["counted"], closed_res["share"]) == (17, 28, 17 / 28)
        assert (closed_res["unparseable_or_ambiguous"], closed_res["failed"]) == (1, 1)
        assert (closed_res["wilson_low"], closed_res["wilson_high"]) == pytest.approx(
            wilson_by_formula(17, 28), abs=1e-15)
        assert (closed_res["bootstrap_low"], closed_res["bootstrap_high"]) == bootstrap_interval(
            [(4, 10), (6, 8), (7, 10)], resamples=500, seed=7)
        assert open_res["bootstrap_low"] == open_res["bootstrap_high"] == 1.0


class TestHeatmap:
    def test_every_cell(self, run) -> None:
        """Cells average per-transcript shares over repeats; empty cells say why."""
        cells = {(c["voter"], c["affirmative"], c["negative"]): c for c in run.heatmap}
        assert len(cells) == 3 * 2 * 2
        expected = {
            ("gpt", "gpt", "gpt"): (0.7, 7, 10, "ok"),
            ("gpt", "gpt", "claude"): ((0.4 + 0.75) / 2, 10, 18, "ok"),
            ("gpt", "claude", "gpt"): (None, 0, 0, "refused"),
            ("gpt", "claude", "claude"): (None, 0, 0, "not run"),
            ("claude", "gpt", "gpt"): (1.0, 5, 5, "ok"),
            ("claude", "gpt", "claude"): (1.0, 10, 10, "ok"),
            ("claude", "claude", "gpt"): (None, 0, 0, "refused"),
            ("claude", "claude", "claude"): (None, 0, 0, "not run"),
            ("tiny", "gpt", "gpt"): (None, 0, 0, "no votes"),
            ("tiny", "gpt", "claude"): (None, 0, 0, "no votes"),
            ("tiny", "claude", "gpt"): (None, 0, 0, "refused"),
            ("tiny", "claude", "claude"): (None, 0, 0, "not run"),
        }
        for key, (share, open_, counted, status) in expected.items():
            c = cells[key]
            assert (c["share"], c["open"], c["counted"], c["status"]) == (share, open_, counted, status), key
        assert cells[("gpt", "gpt", "claude")]["transcripts"] == 2
        assert cells[("gpt", "claude", "gpt")]["refused_transcripts"] == 2

    def test_only_closed_resolution(self, run) -> None:
        """The open-source-resolution debate (gpt_claude_1, 10/10) is in no cell."""
        assert {c["resolution"] for c in run.heatmap} == {"closed"}


class TestObservations:
    def test_persuasive_overall(self, run) -> None:
        """Overall rank by mean voter share: reverse_gpt_claude_1 (0.4, 1.0) first at 0.7."""
        overall = [r for r in run.persuasive if r["scope"] == "overall"]
        assert [r["transcript_id"] for r in overall] == [
            "reverse_gpt_claude_1", "gpt_claude_1", "reverse_gpt_gpt_1", "reverse_gpt_claude_2"]
        first = overall[0]
        assert (first["share"], first["closed_share"], first["voters"]) == (0.7, pytest.approx(0.3), 2)
        assert first["shift"] == pytest.approx(((0.9 - 0.4) + (1.0 - 1.0)) / 2)
        assert (first["affirmative"], first["negative"], first["resolution"]) == ("gpt", "claude", "closed")
        assert overall[1]["share"] == pytest.approx((1.0 + 1.0 + 0.5) / 3)

    def test_persuasive_per_voter(self, run) -> None:
        """Per voter, lowest shares first."""
        gpt = [r for r in run.persuasive if r["scope"] == "gpt"]
        assert [(r["rank"], r["transcript_id"], r["share"]) for r in gpt] == [
            (1, "reverse_gpt_claude_1", 0.4), (2, "reverse_gpt_gpt_1", 0.7),
            (3, "reverse_gpt_claude_2", 0.75), (4, "gpt_claude_1", 1.0)]
        assert gpt[0]["shift"] == pytest.approx(0.5)

    def test_refusals(self, run) -> None:
        """Both refused debates, with Claude refusing as the affirmative."""
        assert [(r["transcript_id"], r["refused_by"], r["refused_side"], r["refusal"]) for r in run.refusals] == [
            ("reverse_claude_gpt_1", "claude", "affirmative", REFUSAL),
            ("reverse_claude_gpt_2", "claude", "affirmative", REFUSAL)]

    def test_debater_scores(self, run) -> None:
        """GPT as closed-source affirmative: voters' means (0.4+0.75+0.7)/3 and 1.0 → closed 1 − their mean."""
        gpt = row(run.debater_scores, debater="gpt")
        assert gpt["closed_share_induced"] == pytest.approx(1 - ((0.4 + 0.75 + 0.7) / 3 + 1.0) / 2, abs=1e-15)
        assert (gpt["rank"], gpt["affirmative_usable"], gpt["affirmative_refused"]) == (1, 3, 0)
        assert gpt["open_share_defended"] == pytest.approx((0.7 + 1.0) / 2, abs=1e-15)
        claude = row(run.debater_scores, debater="claude")
        assert (claude["rank"], claude["closed_share_induced"], claude["affirmative_refused"]) == (None, None, 2)
        assert claude["open_share_defended"] == pytest.approx(((0.4 + 0.75) / 2 + 1.0) / 2, abs=1e-15)

    def test_voter_scores(self, run) -> None:
        """Steadfastness: ranked by post share; GPT's mean shift is 0.9 − mean(1, .4, .75, .7)."""
        assert [r["voter"] for r in run.voter_scores] == ["claude", "gpt", "tiny"]
        gpt = row(run.voter_scores, voter="gpt")
        assert (gpt["rank"], gpt["pre_share"], gpt["post_share"]) == (2, 0.9, 27 / 38)
        assert gpt["mean_shift"] == pytest.approx(0.9 - 0.7125, abs=1e-15)
        assert gpt["mean_share_closed_resolution"] == pytest.approx((0.4 + 0.75 + 0.7) / 3, abs=1e-15)
        assert (gpt["lowest_share"], gpt["transcripts_majority_closed"]) == (0.4, 1)


class TestPaperComparison:
    def test_rows(self, run) -> None:
        """Paper models only (no row for tiny); differences in points; intervals checked."""
        assert [(r["voter"], r["phase"]) for r in run.paper_comparison] == [
            ("gpt", "pre"), ("gpt", "post"), ("claude", "pre"), ("claude", "post")]
        pre = row(run.paper_comparison, voter="gpt", phase="pre")
        assert (pre["paper_share"], pre["share"]) == (1.0, 0.9)
        assert pre["difference_points"] == pytest.approx(-10.0)
        assert pre["paper_in_wilson"] is (wilson_by_formula(9, 10)[1] >= 1.0)
        assert pre["paper_in_bootstrap"] is None
        post = row(run.paper_comparison, voter="gpt", phase="post")
        assert post["paper_share"] == 8571 / 9000
        assert post["difference_points"] == pytest.approx(100 * (27 / 38 - 8571 / 9000))
        claude = row(run.paper_comparison, voter="claude", phase="post")
        assert (claude["paper_in_wilson"], claude["paper_in_bootstrap"], claude["difference_points"]) == (
            True, True, 0.0)

    def test_paper_figures(self) -> None:
        """The paper's Table 2, as printed."""
        printed = {"gpt": 95.2, "claude": 100.0, "gemini": 77.8, "codellama": 78.7, "mixtral": 94.3}
        for model, figure in printed.items():
            open_, n = analysis.PAPER_TABLE2[model]["post"]
            assert (round(100 * open_ / n, 1), n) == (figure, 9000)
            assert analysis.PAPER_TABLE2[model]["pre"] == (100, 100)


class TestCounts:
    def test_run_counts(self, run) -> None:
        """Votes by phase and outcome, debates by status."""
        c = run.counts
        assert (c["debates"], c["debates_usable"], c["debates_refused"], c["debates_failed"]) == (6, 4, 2, 0)
        assert (c["pre_votes"], c["pre_counted"], c["pre_unparseable_or_ambiguous"], c["pre_failed"]) == (21, 19, 1, 1)
        assert (c["post_votes"], c["post_counted"], c["post_unparseable_or_ambiguous"], c["post_failed"]) == (
            62, 60, 1, 1)
        assert c["speeches"] == 12

    def test_missing_votes(self) -> None:
        """Expected = voters × usable debates × most samples seen; debates not held are not guessed."""
        rows = [*votes_of("gpt", None, ("open", 3)), *votes_of("claude", None, ("open", 2)),
                *votes_of("gpt", "reverse_gpt_gpt_1", ("open", 4)), *votes_of("gpt", "gpt_claude_1", ("open", 1))]
        debates = debates_from_rows(speeches())
        assert missing_votes(rows, debates) == {"pre_present": 5, "pre_expected_at_least": 6,
                                                "post_present": 5, "post_expected_at_least": 16}

    def test_warnings(self, run) -> None:
        """Failed votes are reported."""
        assert any("pre-debate votes failed" in w for w in run.warnings)
        assert any("post-debate votes failed" in w for w in run.warnings)
