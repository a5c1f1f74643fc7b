"""Tests for harness.report: a run directory → report.md, report.html, tables/ and figures/.

The hand-built run of test_analysis is written as Parquet with the harness's own schemas; its
numbers are checked in the written tables and the report text. A smoke run of the harness checks
the report end to end, and the full simulated run, when present, is compared with the paper.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.errors import OutputError
from harness.output import TRANSCRIPT_SCHEMA, VOTE_SCHEMA
from harness.report import SIMULATED_NOTICE, ReportResult, write_report

from test_analysis import MODELS, SCENARIO_TEXT, speeches, votes, wilson_by_formula

from conftest import fast_smoke_scenario

ROOT = Path(__file__).resolve().parent.parent
FULL_RUN = ROOT / "outputs" / "ld_open_closed"
PNG = b"\x89PNG\r\n\x1a\n"


def write_run(run_dir: Path, *, status: str = "complete", simulated: bool = True) -> Path:
    """The hand-built run of test_analysis as a run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    vote_rows = [{**v, "simulated": simulated} for v in votes()]
    speech_rows = [{**s, "simulated": simulated} for s in speeches()]
    pq.write_table(pa.Table.from_pylist(vote_rows, schema=VOTE_SCHEMA), run_dir / "votes.parquet")
    pq.write_table(pa.Table.from_pylist(speech_rows, schema=TRANSCRIPT_SCHEMA), run_dir / "transcripts.parquet")
    metadata = {
        "scenario": {"name": "handmade", "path": "scenarios/handmade.toml", "sha256": "ab" * 32,
                     "text": SCENARIO_TEXT, "seed": 1},
        "harness_version": "0.1.0", "simulated": simulated, "status": status,
        "started": "2026-01-01T00:00:00+00:00", "ended": "2026-01-01T00:01:00+00:00",
        "models": MODELS, "rows": {"votes": len(vote_rows), "transcript_speeches": len(speech_rows)},
    }
    (run_dir / "metadata.json").write_text(json.dumps(metadata))
    return run_dir


@pytest.fixture(scope="module")
def handmade(tmp_path_factory) -> tuple[Path, ReportResult]:
    run_dir = write_run(tmp_path_factory.mktemp("handmade") / "run")
    return run_dir, write_report(run_dir, formats=("md", "html"))


class TestFiles:
    def test_result(self, handmade) -> None:
        """The result names what was written, all inside the run directory."""
        run_dir, result = handmade
        assert result.report_md == run_dir / "report.md" and result.report_md.is_file()
        assert result.report_html == run_dir / "report.html" and result.report_html.is_file()
        assert result.tables_dir == run_dir / "tables"
        assert not result.partial
        assert all(p.is_file() and p.is_relative_to(run_dir) for p in [*result.tables, *result.figures])

    def test_tables_as_csv_and_json(self, handmade) -> None:
        """Every table is written twice, as CSV and as JSON."""
        run_dir, _ = handmade
        for name in ("table2", "table2_by_resolution", "heatmap", "persuasive_transcripts", "refusals",
                     "debaters", "voters", "paper_comparison", "run_counts"):
            assert (run_dir / "tables" / f"{name}.csv").is_file(), name
            assert isinstance(json.loads((run_dir / "tables" / f"{name}.json").read_text()), list), name

    def test_figures_are_png(self, handmade) -> None:
        """One heat map per voter, and one of all voters, as PNG."""
        run_dir, result = handmade
        names = sorted(p.name for p in result.figures)
        assert names == ["heatmap_claude.png", "heatmap_gpt.png", "heatmap_tiny.png", "heatmaps.png"]
        assert all((run_dir / "figures" / n).read_bytes().startswith(PNG) for n in names)

    def test_md_only_by_default(self, tmp_path) -> None:
        """Without "html", no report.html."""
        result = write_report(write_run(tmp_path / "run"))
        assert result.report_html is None and not (tmp_path / "run" / "report.html").exists()

    def test_rewrite_is_identical(self, handmade, tmp_path) -> None:
        """Writing the report again gives the same bytes: the bootstrap is seeded, figures carry no date."""
        run_dir, result = handmade
        copy = tmp_path / "copy"
        shutil.copytree(run_dir, copy)
        again = write_report(copy, formats=("md", "html"))
        for path in [result.report_md, result.report_html, *result.tables, *result.figures]:
            assert (copy / path.relative_to(run_dir)).read_bytes() == path.read_bytes(), path.name
        assert again.partial == result.partial


class TestNumbers:
    def test_table2_csv(self, handmade) -> None:
        """The CSV holds the hand-computed counts, shares and Wilson bounds."""
        run_dir, _ = handmade
        t = pd.read_csv(run_dir / "tables" / "table2.csv").set_index(["voter", "phase"])
        gpt = t.loc[("gpt", "post")]
        assert (gpt["open"], gpt["closed"], gpt["counted"]) == (27, 11, 38)
        assert (gpt["unparseable_or_ambiguous"], gpt["failed"], gpt["votes"]) == (1, 1, 40)
        assert gpt["share"] == pytest.approx(27 / 38, abs=1e-15)
        assert (gpt["wilson_low"], gpt["wilson_high"]) == pytest.approx(wilson_by_formula(27, 38), abs=1e-15)
        assert t.loc[("claude", "post"), "bootstrap_low"] == 1.0
        assert pd.isna(t.loc[("gpt", "pre"), "bootstrap_low"])

    def test_heatmap_json(self, handmade) -> None:
        """The long heat-map table holds every cell, the refused and never-held ones as null."""
        run_dir, _ = handmade
        cells = {(c["voter"], c["affirmative"], c["negative"]): c
                 for c in json.loads((run_dir / "tables" / "heatmap.json").read_text())}
        assert cells[("gpt", "gpt", "claude")]["share"] == pytest.approx(0.575, abs=1e-15)
        assert (cells[("gpt", "claude", "gpt")]["share"], cells[("gpt", "claude", "gpt")]["status"]) == (
            None, "refused")
        assert cells[("gpt", "claude", "claude")]["status"] == "not run"

    def test_report_text(self, handmade) -> None:
        """Table 2 reads like the paper ("71.1% (27/38)"), with the uncounted votes apart."""
        run_dir, _ = handmade
        md = (run_dir / "report.md").read_text()
        gpt_line = next(line for line in md.splitlines() if line.startswith("| GPT-4 | `gpt-4"))
        assert "90.0% (9/10)" in gpt_line and "71.1% (27/38)" in gpt_line
        assert "| 1 / 1 | 1 / 1 |" in gpt_line
        low, high = wilson_by_formula(27, 38)
        assert f"{100 * low:.1f}–{100 * high:.1f}%" in gpt_line
        assert "refused" in md and "n/a" in md
        assert "| GPT-4 | post-debate | 71.1% (27/38) | 95.2% (8571/9000) | -24.2 | no |" in md
        assert "Tiny | pre-debate" not in md


class TestDocument:
    def test_simulated_first(self, handmade) -> None:
        """A simulated run says so on the report's first line."""
        run_dir, _ = handmade
        assert (run_dir / "report.md").read_text().splitlines()[0] == SIMULATED_NOTICE

    def test_live_run_has_no_notice(self, tmp_path) -> None:
        """A live run does not carry the simulated notice."""
        result = write_report(write_run(tmp_path / "run", simulated=False))
        text = result.report_md.read_text()
        assert "Simulated run" not in text and "live providers" in text

    def test_relative_links(self, handmade) -> None:
        """Figures and tables are linked relative to the run directory, and exist."""
        run_dir, _ = handmade
        md = (run_dir / "report.md").read_text()
        assert str(run_dir) not in md
        assert "![Figure 3 heat map, GPT-4 as voter](figures/heatmap_gpt.png)" in md
        assert "[table2.csv](tables/table2.csv)" in md

    def test_html_self_contained(self, handmade) -> None:
        """report.html carries its figures as data URIs and the same tables."""
        run_dir, result = handmade
        page = result.report_html.read_text()
        assert page.count('<img src="data:image/png;base64,') == len(result.figures)
        assert 'src="figures/' not in page
        assert "<strong>Simulated run</strong>" in page and "71.1% (27/38)" in page

    def test_partial(self, tmp_path) -> None:
        """An interrupted run is flagged partial, at the top and in the result."""
        result = write_report(write_run(tmp_path / "run", status="interrupted"))
        assert result.partial
        assert any("interrupted" in w for w in result.warnings)
        head = result.report_md.read_text().split("# Report", 1)[0]
        assert "**Partial run**" in head and "missing" in head

    def test_nothing_recorded_yet(self, tmp_path) -> None:
        """A run that has recorded nothing still gets a report, flagged partial, without figures."""
        run_dir = write_run(tmp_path / "run", status="running")
        pq.write_table(VOTE_SCHEMA.empty_table(), run_dir / "votes.parquet")
        pq.write_table(TRANSCRIPT_SCHEMA.empty_table(), run_dir / "transcripts.parquet")
        result = write_report(run_dir, formats=("md", "html"))
        assert result.partial and result.figures == []
        assert "No votes recorded." in result.warnings
        assert "0 pre-debate votes recorded" in result.report_md.read_text()

    def test_row_count_mismatch_warned(self, tmp_path) -> None:
        """Rows that disagree with metadata's count are warned about."""
        run_dir = write_run(tmp_path / "run")
        metadata = json.loads((run_dir / "metadata.json").read_text())
        metadata["rows"]["votes"] += 5
        (run_dir / "metadata.json").write_text(json.dumps(metadata))
        assert any("records" in w for w in write_report(run_dir).warnings)


class TestErrors:
    @pytest.mark.parametrize("name", ["votes.parquet", "transcripts.parquet", "metadata.json"])
    def test_missing_file(self, tmp_path, name) -> None:
        """A missing run file raises OutputError naming it."""
        run_dir = write_run(tmp_path / "run")
        (run_dir / name).unlink()
        with pytest.raises(OutputError, match=name):
            write_report(run_dir)

    @pytest.mark.parametrize("name", ["votes.parquet", "transcripts.parquet", "metadata.json"])
    def test_unreadable_file(self, tmp_path, name) -> None:
        """A damaged run file raises OutputError naming it."""
        run_dir = write_run(tmp_path / "run")
        (run_dir / name).write_bytes(b"not what it should be")
        with pytest.raises(OutputError, match=name):
            write_report(run_dir)

    def test_missing_column(self, tmp_path) -> None:
        """A votes table without a stance column is named as such."""
        run_dir = write_run(tmp_path / "run")
        pq.write_table(pq.read_table(run_dir / "votes.parquet").drop_columns(["stance"]), run_dir / "votes.parquet")
        with pytest.raises(OutputError, match="stance"):
            write_report(run_dir)

    def test_no_directory(self, tmp_path) -> None:
        """A run directory that does not exist is an OutputError naming it."""
        with pytest.raises(OutputError, match="nowhere"):
            write_report(tmp_path / "nowhere")

    def test_unknown_format(self, tmp_path) -> None:
        """Only md and html are formats."""
        with pytest.raises(ValueError, match="pdf"):
            write_report(write_run(tmp_path / "run"), formats=("md", "pdf"))


# --- a run of the harness itself -------------------------------------------------------------------

FAST_SMOKE = fast_smoke_scenario("smoke")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """A simulated run of the smoke scenario, as `python -m harness run` leaves it."""
    work = tmp_path_factory.mktemp("smoke")
    scenario = work / "smoke_fast.toml"
    scenario.write_text(FAST_SMOKE)
    run_dir = work / "run"
    subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--simulate", "--out", str(run_dir),
                    "--cache", str(work / "cache"), "--no-live"], cwd=ROOT, check=True, capture_output=True,
                   timeout=120)
    return run_dir


class TestSmokeRun:
    def test_structure(self, smoke_run) -> None:
        """The report of a real harness run has every section, figure and table."""
        result = write_report(smoke_run, formats=("md", "html"))
        md = result.report_md.read_text()
        assert md.startswith(SIMULATED_NOTICE)
        for heading in ("## What was run", "## Table 2", "## Post-debate votes by resolution", "## Figure 3",
                        "## Most persuasive transcripts", "## Refused debates", "## Persuasiveness and steadfastness",
                        "## How this compares with the paper", "## Tables"):
            assert heading in md, heading
        assert sorted(p.name for p in result.figures) == ["heatmap_claude.png", "heatmap_gpt.png", "heatmaps.png"]
        comparison = json.loads((smoke_run / "tables" / "paper_comparison.json").read_text())
        assert {(r["voter"], r["phase"]) for r in comparison} == {
            (m, p) for m in ("gpt", "claude") for p in ("pre", "post")}
        refusals = json.loads((smoke_run / "tables" / "refusals.json").read_text())
        assert refusals and {r["refused_by"] for r in refusals} == {"claude"}
        assert not result.partial

    def test_counts_match_parquet(self, smoke_run) -> None:
        """Table 2's counts add up to the votes in votes.parquet."""
        write_report(smoke_run)
        table = pd.read_csv(smoke_run / "tables" / "table2.csv")
        frame = pd.read_parquet(smoke_run / "votes.parquet")
        assert table["votes"].sum() == len(frame)
        assert table["open"].sum() == (frame["stance"] == "open").sum()


@pytest.mark.skipif(not (FULL_RUN / "votes.parquet").is_file(), reason="the full simulated run is not in outputs/")
class TestFullSimulatedRun:
    def test_matches_the_paper(self, tmp_path) -> None:
        """On the full simulated run every post-debate figure is within 1.5 points of the paper's."""
        run_dir = tmp_path / "ld_open_closed"
        run_dir.mkdir()
        for name in ("votes.parquet", "transcripts.parquet", "metadata.json"):
            shutil.copy2(FULL_RUN / name, run_dir / name)
        result = write_report(run_dir)
        assert result.report_md.read_text().splitlines()[0] == SIMULATED_NOTICE
        rows = json.loads((run_dir / "tables" / "paper_comparison.json").read_text())
        assert len(rows) == 10
        for r in rows:
            if r["phase"] == "pre":
                assert r["share"] == 1.0
            else:
                assert abs(r["difference_points"]) <= 1.5, r
        refusals = json.loads((run_dir / "tables" / "refusals.json").read_text())
        assert len(refusals) == 10 and {r["refused_by"] for r in refusals} == {"claude"}
