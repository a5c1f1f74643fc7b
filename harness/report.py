"""A run's report: report.md (and report.html), tables/ as CSV and JSON, figures/ as PNG.

It reads only votes.parquet, transcripts.parquet and metadata.json, so it can be written again at
any time, on a partial run, or on a run directory copied to another machine: every link in the
report is relative, and report.html carries its figures inline. The numbers come from
`analysis`; this module reads, renders and writes.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from . import analysis
from .analysis import CLOSED, OPEN, POST, PRE, RunAnalysis
from .errors import OutputError

VOTES_FILE = "votes.parquet"
TRANSCRIPTS_FILE = "transcripts.parquet"
METADATA_FILE = "metadata.json"
TABLES_DIR = "tables"
FIGURES_DIR = "figures"
FORMATS = ("md", "html")

VOTE_COLUMNS = ("phase", "voter", "transcript_id", "resolution", "affirmative", "negative", "debate_repeat",
                "sample", "stance", "parse_status")
SPEECH_COLUMNS = ("transcript_id", "resolution", "affirmative", "negative", "debate_repeat", "status",
                  "speech_index", "side", "speaker", "refusal")

SIMULATED_NOTICE = ("**Simulated run**: every answer came from the harness's simulated provider, "
                    "not from real models.")
RESOLUTION_NAMES = {OPEN: "open-source resolution", CLOSED: "closed-source resolution"}


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What `write_report` wrote, and whether the run it describes is partial."""

    report_md: Path
    report_html: Path | None
    tables_dir: Path
    tables: list[Path]
    figures: list[Path]
    partial: bool
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunFiles:
    """The three files of a run directory, read: rows as dicts, metadata as parsed JSON."""

    votes: list[dict[str, Any]]
    speeches: list[dict[str, Any]]
    metadata: dict[str, Any]


def write_report(run_dir: Path, *, formats: tuple[str, ...] = ("md",)) -> ReportResult:
    """Analyse a run directory and write its report, tables and figures into it.

    report.md is always written; "html" in `formats` adds a self-contained report.html.
    Raises OutputError naming the file when a run file is missing or unreadable.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {list(FORMATS)}")
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    models = run.metadata.get("models") or {}
    result = analysis.analyse_run(run.votes, run.speeches, models,
                                  scenario_text=(run.metadata.get("scenario") or {}).get("text") or "")
    partial, warnings = _completeness(run, result)
    tables = _write_tables(run_dir / TABLES_DIR, _tables(result))
    figures = _write_figures(run_dir / FIGURES_DIR, result, _labels(result.models, models))
    blocks = _document(run.metadata, result, partial, warnings, run_dir, tables, figures)
    report_md = _write_text(run_dir / "report.md", render_markdown(blocks))
    report_html = None
    if "html" in formats:
        report_html = _write_text(run_dir / "report.html", render_html(blocks, run_dir, _title(run.metadata)))
    return ReportResult(report_md, report_html, run_dir / TABLES_DIR, tables, figures, partial, warnings)


# --- reading -----------------------------------------------------------------------------------


def load_run(run_dir: Path) -> RunFiles:
    """The rows and metadata of a run directory; OutputError names whatever is missing or unreadable."""
    if not run_dir.is_dir():
        raise OutputError(f"{run_dir}: not a run directory (it does not exist or is not a directory)")
    votes = _read_parquet(run_dir / VOTES_FILE, VOTE_COLUMNS)
    speeches = _read_parquet(run_dir / TRANSCRIPTS_FILE, SPEECH_COLUMNS)
    path = run_dir / METADATA_FILE
    if not path.is_file():
        raise OutputError(f"{path}: not found; a run directory holds {VOTES_FILE}, {TRANSCRIPTS_FILE} "
                          f"and {METADATA_FILE}")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise OutputError(f"{path}: cannot be read as JSON: {e}") from e
    if not isinstance(metadata, dict):
        raise OutputError(f"{path}: expected a JSON object, found {type(metadata).__name__}")
    return RunFiles(votes, speeches, metadata)


def _read_parquet(path: Path, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    if not path.is_file():
        raise OutputError(f"{path}: not found; a run directory holds {VOTES_FILE}, {TRANSCRIPTS_FILE} "
                          f"and {METADATA_FILE}")
    try:
        names = set(pq.read_schema(path).names)
        missing = [c for c in columns if c not in names]
        if missing:
            raise OutputError(f"{path}: lacks the column(s) {', '.join(missing)}")
        return pq.read_table(path, columns=list(columns)).to_pylist()
    except (OSError, ValueError, pa.ArrowException) as e:  # a damaged file raises any of these
        raise OutputError(f"{path}: cannot be read as Parquet: {e}") from e


def _completeness(run: RunFiles, result: RunAnalysis) -> tuple[bool, list[str]]:
    """Whether the run is partial, and every caveat the reader should see."""
    status = run.metadata.get("status")
    warnings = []
    if status != "complete":
        warnings.append(f"The run's status is {status!r}, not 'complete': these are the rows recorded so far.")
    recorded = run.metadata.get("rows") or {}
    for key, present in (("votes", len(run.votes)), ("transcript_speeches", len(run.speeches))):
        if key in recorded and recorded[key] != present:
            warnings.append(f"metadata.json records {recorded[key]:,} {key.replace('_', ' ')} but the "
                            f"table holds {present:,}.")
    return status != "complete", warnings + result.warnings


# --- tables ------------------------------------------------------------------------------------


def _tables(result: RunAnalysis) -> dict[str, list[dict[str, Any]]]:
    return {
        "run_counts": [result.counts],
        "table2": result.table2,
        "table2_by_resolution": result.by_resolution,
        "heatmap": result.heatmap,
        "persuasive_transcripts": result.persuasive,
        "refusals": result.refusals,
        "debaters": result.debater_scores,
        "voters": result.voter_scores,
        "paper_comparison": result.paper_comparison,
    }


def _write_tables(directory: Path, tables: dict[str, list[dict[str, Any]]]) -> list[Path]:
    """Each table as <name>.csv and <name>.json (a list of row objects)."""
    written = []
    for name, rows in tables.items():
        columns = list(rows[0]) if rows else list(analysis.REFUSAL_COLUMNS if name == "refusals" else [])
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        written.append(_write_text(directory / f"{name}.csv", buffer.getvalue()))
        written.append(_write_bytes(directory / f"{name}.json", orjson.dumps(rows, option=orjson.OPT_INDENT_2)))
    return written


# --- figures -----------------------------------------------------------------------------------


def _labels(order: list[str], models: dict[str, Any]) -> dict[str, str]:
    return {m: (models.get(m) or {}).get("label") or m for m in order}


def _write_figures(directory: Path, result: RunAnalysis, labels: dict[str, str]) -> list[Path]:
    """Figure 3: one heat map per voter, and all of them side by side."""
    if not result.voters or not result.debaters:
        return []
    from matplotlib.figure import Figure  # imported here: a second's start-up most commands never need

    paths = []
    for voter in result.voters:
        fig = Figure(figsize=(7.2, 6.2), layout="constrained")
        ax = fig.add_subplot()
        image = _draw_heatmap(ax, result, voter, labels, fontsize=10)
        ax.set_title(f"{labels[voter]} as voter\nopen-source votes after closed-source-resolution debates")
        fig.colorbar(image, ax=ax, label="Open-source votes (%)", shrink=0.85)
        paths.append(_save_figure(fig, directory / f"heatmap_{voter}.png"))
    columns = min(3, len(result.voters))
    rows = -(-len(result.voters) // columns)
    fig = Figure(figsize=(5.4 * columns + 1.0, 5.2 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for i, (ax, voter) in enumerate(zip(axes, result.voters)):
        image = _draw_heatmap(ax, result, voter, labels, fontsize=8, show_ylabel=i % columns == 0)
        ax.set_title(f"{labels[voter]} as voter")
    for ax in axes[len(result.voters):]:
        ax.set_axis_off()
    fig.suptitle("Open-source vote share (%) after closed-source-resolution debates, by voter", fontsize=14)
    fig.colorbar(image, ax=list(axes), label="Open-source votes (%)", shrink=0.6)
    paths.append(_save_figure(fig, directory / "heatmaps.png"))
    return paths


def _draw_heatmap(ax: Any, result: RunAnalysis, voter: str, labels: dict[str, str], *, fontsize: int,
                  show_ylabel: bool = True) -> Any:
    import matplotlib as mpl
    import numpy as np

    debaters = result.debaters
    cells = {(c["affirmative"], c["negative"]): c for c in result.heatmap if c["voter"] == voter}
    grid = np.array([[_percent_or_nan(cells[(a, n)]["share"]) for n in debaters] for a in debaters])
    cmap = mpl.colormaps["RdYlBu"].with_extremes(bad="#d9d9d9")
    norm = mpl.colors.Normalize(0, 100)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm)
    for i, aff in enumerate(debaters):
        for j, neg in enumerate(debaters):
            cell = cells[(aff, neg)]
            value = grid[i, j]
            text = _cell_label(cell) if np.isnan(value) else f"{value:.1f}%"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color=_text_colour(cmap(norm(value)) if not np.isnan(value) else (0.85, 0.85, 0.85, 1)))
    ticks = [labels[m] for m in debaters]
    ax.set_xticks(range(len(debaters)), ticks, rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(debaters)), ticks)
    ax.set_xlabel("Negative debater (argues for open source)")
    if show_ylabel:
        ax.set_ylabel("Affirmative debater (argues for closed source)")
    return image


def _percent_or_nan(share: float | None) -> float:
    return float("nan") if share is None else 100 * share


def _cell_label(cell: dict[str, Any]) -> str:
    return {analysis.REFUSED: "refused", "not run": "n/a"}.get(cell["status"], cell["status"])


def _text_colour(rgba: tuple[float, ...]) -> str:
    """Black on light cells, white on dark ones (relative luminance)."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def _save_figure(fig: Any, path: Path) -> Path:
    """Render with Agg (no GUI backend is ever loaded) and write the PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    # No "Software" entry, so rewriting a report leaves identical figures byte for byte.
    FigureCanvasAgg(fig)
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return _write_bytes(path, buffer.getvalue())


# --- the document ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str
    """Markdown inline: **bold**, `code` and [links](href)."""


@dataclass(frozen=True, slots=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True, slots=True)
class Image:
    path: str
    """Relative to the run directory."""
    alt: str


Block = Heading | Paragraph | Table | Image


def _document(metadata: dict[str, Any], result: RunAnalysis, partial: bool, warnings: list[str], run_dir: Path,
              tables: list[Path], figures: list[Path]) -> list[Block]:
    labels = _labels(result.models, metadata.get("models") or {})
    blocks: list[Block] = []
    if metadata.get("simulated"):
        blocks.append(Paragraph(SIMULATED_NOTICE))
    if partial:
        blocks.append(Paragraph(f"**Partial run**: status {str(metadata.get('status'))!r}. "
                                + _missing_summary(result.counts)))
    blocks.append(Heading(1, _title(metadata)))
    blocks += _overview(metadata, result, labels)
    blocks += _table2_section(result, labels)
    blocks += _resolution_section(result, labels)
    blocks += _heatmap_section(result, labels, run_dir, figures)
    blocks += _persuasive_section(result, labels)
    blocks += _refusal_section(result, labels)
    blocks += _section_52(result, labels)
    blocks += _paper_section(result)
    blocks += _files_section(run_dir, tables)
    if warnings:
        blocks.append(Heading(2, "Warnings"))
        blocks.append(Paragraph("\n".join(f"- {w}" for w in warnings)))
    return blocks


def _title(metadata: dict[str, Any]) -> str:
    return f"Report: {(metadata.get('scenario') or {}).get('name') or 'run'}"


def _missing_summary(counts: dict[str, Any]) -> str:
    parts = []
    for phase in (PRE, POST):
        present, expected = counts[f"{phase}_present"], counts[f"{phase}_expected_at_least"]
        parts.append(f"{present:,} {phase}-debate votes recorded"
                     + (f", at least {expected - present:,} missing on the debates held so far" if expected > present
                        else ""))
    return ("; ".join(parts) + f"; {counts['debates']} debates recorded. Debates not yet held are not counted "
            "as missing: the plan is not in the outputs.")


def _overview(metadata: dict[str, Any], result: RunAnalysis, labels: dict[str, str]) -> list[Block]:
    scenario = metadata.get("scenario") or {}
    sha = str(scenario.get("sha256") or "")[:12]
    source = "the harness's simulated provider" if metadata.get("simulated") else "the live providers' APIs"
    lines = [
        f"- Scenario `{scenario.get('name') or '—'}` (`{scenario.get('path') or '—'}`, sha256 `{sha or '—'}…`), "
        f"seed {scenario.get('seed', '—')}.",
        f"- Answers from {source}.",
        f"- Started {metadata.get('started') or '—'}, ended {metadata.get('ended') or '—'}; "
        f"status **{metadata.get('status') or 'unknown'}**.",
        f"- Harness {metadata.get('harness_version') or '—'}, Python {metadata.get('python') or '—'}.",
    ]
    models = metadata.get("models") or {}
    model_rows = [[f"`{m}`", labels[m], f"`{(models.get(m) or {}).get('model') or '—'}`",
                   str((models.get(m) or {}).get("provider") or "—"),
                   _sampling(models.get(m) or {}),
                   ", ".join(r for r, on in (("voter", m in result.voters), ("debater", m in result.debaters)) if on)
                   or "—"]
                  for m in result.models]
    c = result.counts
    count_rows = [
        ["Pre-debate votes", f"{c['pre_votes']:,}", f"{c['pre_counted']:,}",
         f"{c['pre_unparseable_or_ambiguous']:,}", f"{c['pre_failed']:,}"],
        ["Post-debate votes", f"{c['post_votes']:,}", f"{c['post_counted']:,}",
         f"{c['post_unparseable_or_ambiguous']:,}", f"{c['post_failed']:,}"],
    ]
    return [
        Heading(2, "What was run"), Paragraph("\n".join(lines)),
        Table(["Short name", "Label", "Model id", "Provider", "Sampling", "Role"], model_rows),
        Paragraph(f"Debates: {c['debates']} recorded ({c['debates_usable']} usable, {c['debates_refused']} refused, "
                  f"{c['debates_failed']} failed), {c['speeches']:,} speeches."),
        Table(["Votes", "Recorded", "Counted", "Unparseable or ambiguous", "Failed"], count_rows),
    ]


def _sampling(info: dict[str, Any]) -> str:
    return f"temperature {info.get('temperature', '—')}, top-p {info.get('top_p', '—')}"


def _table2_section(result: RunAnalysis, labels: dict[str, str]) -> list[Block]:
    rows = []
    by_key = {(r["voter"], r["phase"]): r for r in result.table2}
    for voter in result.voters:
        pre, post = by_key[(voter, PRE)], by_key[(voter, POST)]
        rows.append([labels[voter], f"`{post['model'] or '—'}`", _share(pre), _interval(pre, "wilson"),
                     _share(post), _interval(post, "wilson"), _interval(post, "bootstrap"),
                     f"{pre['unparseable_or_ambiguous']} / {post['unparseable_or_ambiguous']}",
                     f"{pre['failed']} / {post['failed']}"])
    return [
        Heading(2, "Table 2: votes for open source before and after the debates"),
        Paragraph("Share of counted votes (stance open or closed) in favour of open source. Votes with no stance "
                  "are never counted as either side; they are listed apart (pre / post). The Wilson interval "
                  "treats each vote as an independent draw. The bootstrap interval resamples whole transcripts "
                  f"with replacement ({analysis.BOOTSTRAP_RESAMPLES:,} resamples, seed {analysis.BOOTSTRAP_SEED}) "
                  "and recomputes the pooled share, since the votes one voter casts on one transcript are not "
                  "independent; the pre-debate votes all answer one prompt, so they have no bootstrap."),
        Table(["Model", "Model id", "Pre-debate", "95% Wilson", "Post-debate", "95% Wilson",
               "95% bootstrap (transcripts)", "Unparseable / ambiguous (pre / post)", "Failed (pre / post)"], rows),
    ]


def _resolution_section(result: RunAnalysis, labels: dict[str, str]) -> list[Block]:
    rows = [[labels[r["voter"]], RESOLUTION_NAMES.get(r["resolution"], str(r["resolution"])), _share(r),
             _interval(r, "wilson"), _interval(r, "bootstrap"), str(r["transcripts"]),
             str(r["unparseable_or_ambiguous"]), str(r["failed"])]
            for r in result.by_resolution]
    return [
        Heading(2, "Post-debate votes by resolution"),
        Paragraph("The same post-debate shares, split by the resolution debated (the affirmative argues for it)."),
        Table(["Voter", "Resolution", "Post-debate", "95% Wilson", "95% bootstrap (transcripts)", "Transcripts",
               "Unparseable / ambiguous", "Failed"], rows),
    ]


def _heatmap_section(result: RunAnalysis, labels: dict[str, str], run_dir: Path, figures: list[Path]
                     ) -> list[Block]:
    blocks: list[Block] = [
        Heading(2, "Figure 3: open-source votes after closed-source-resolution debates"),
        Paragraph("For each voter: rows are the affirmative debater (arguing for closed source), columns the "
                  "negative debater (arguing for open source). Each cell is the mean of the per-transcript "
                  "open-source shares over the pairing's repeats, as the paper averages its two iterations "
                  "(`tables/heatmap.csv` also gives the pooled counts). Grey cells have no usable transcript: "
                  "\"refused\" when a debater declined its side, \"n/a\" when the debate was not held."),
    ]
    by_name = {p.name: p for p in figures}
    if "heatmaps.png" in by_name:
        blocks.append(Image(_relative(by_name["heatmaps.png"], run_dir), "Figure 3, all voters"))
    for voter in result.voters:
        blocks.append(Heading(3, f"{labels[voter]} as voter"))
        figure = by_name.get(f"heatmap_{voter}.png")
        if figure:
            blocks.append(Image(_relative(figure, run_dir), f"Figure 3 heat map, {labels[voter]} as voter"))
        blocks.append(_heatmap_grid(result, voter, labels))
    return blocks


def _heatmap_grid(result: RunAnalysis, voter: str, labels: dict[str, str]) -> Table:
    cells = {(c["affirmative"], c["negative"]): c for c in result.heatmap if c["voter"] == voter}
    rows = [[f"**{labels[aff]}**"] + [_pct(cells[(aff, neg)]["share"]) if cells[(aff, neg)]["share"] is not None
                                      else _cell_label(cells[(aff, neg)]) for neg in result.debaters]
            for aff in result.debaters]
    return Table(["Affirmative ↓ / negative →"] + [labels[n] for n in result.debaters], rows)


def _persuasive_section(result: RunAnalysis, labels: dict[str, str]) -> list[Block]:
    overall = [r for r in result.persuasive if r["scope"] == "overall"]
    per_voter = [r for r in result.persuasive if r["scope"] != "overall"]
    return [
        Heading(2, "Most persuasive transcripts"),
        Paragraph("The transcripts after which voters voted least for open source. Overall: ranked by the mean of "
                  "the voters' shares (each voter weighs the same); shift = pre-debate share − post-debate share, "
                  "in points."),
        Table(["Rank", "Transcript", "Affirmative", "Negative", "Resolution", "Mean open share", "Mean shift",
               "Voters", "Open / counted"], [_persuasive_row(r, labels, voter=False) for r in overall]),
        Paragraph("Per voter, the five lowest open-source shares:"),
        Table(["Voter", "Rank", "Transcript", "Affirmative", "Negative", "Resolution", "Open share", "Shift",
               "Open / counted"], [_persuasive_row(r, labels, voter=True) for r in per_voter]),
    ]


def _persuasive_row(r: dict[str, Any], labels: dict[str, str], *, voter: bool) -> list[str]:
    row = [str(r["rank"]), f"`{r['transcript_id']}`", labels.get(r["affirmative"], str(r["affirmative"])),
           labels.get(r["negative"], str(r["negative"])),
           RESOLUTION_NAMES.get(r["resolution"], str(r["resolution"])), _pct(r["share"]), _points(r["shift"])]
    if voter:
        return [labels.get(r["scope"], r["scope"])] + row + [f"{r['open']}/{r['counted']}"]
    return row + [str(r["voters"]), f"{r['open']}/{r['counted']}"]


def _refusal_section(result: RunAnalysis, labels: dict[str, str]) -> list[Block]:
    heading = Heading(2, "Refused debates")
    if not result.refusals:
        return [heading, Paragraph("No debater refused its side.")]
    by_whom = Counter((r["refused_by"], r["refused_side"], r["resolution"]) for r in result.refusals)
    summary = "; ".join(
        f"{', '.join(labels.get(m, m) for m in who.split(', '))} refused {n} "
        f"(as {side or 'unknown side'} on the {RESOLUTION_NAMES.get(res, str(res))})"
        for (who, side, res), n in by_whom.items())
    rows = [[f"`{r['transcript_id']}`", RESOLUTION_NAMES.get(r["resolution"], str(r["resolution"])),
             labels.get(r["affirmative"], str(r["affirmative"])), labels.get(r["negative"], str(r["negative"])),
             str(r["repeat"]), ", ".join(labels.get(m, m) for m in r["refused_by"].split(", ") if m),
             r["refused_side"] or "—", f"“{r['refusal']}”" if r["refusal"] else "—"] for r in result.refusals]
    return [heading,
            Paragraph(f"{len(result.refusals)} debates were refused, so no post-debate votes were asked on them: "
                      f"{summary}."),
            Table(["Transcript", "Resolution", "Affirmative", "Negative", "Repeat", "Refused by", "Side",
                   "Wording found"], rows)]


def _section_52(result: RunAnalysis, labels: dict[str, str]) -> list[Block]:
    debater_rows = [[str(r["rank"] or "—"), labels[r["debater"]], _pct(r["closed_share_induced"]),
                     f"{r['affirmative_usable']} / {r['affirmative_refused']}", _pct(r["open_share_defended"]),
                     f"{r['negative_usable']} / {r['negative_refused']}"] for r in result.debater_scores]
    voter_rows = [[str(r["rank"] or "—"), labels[r["voter"]], _pct(r["pre_share"]), _pct(r["post_share"]),
                   _points(r["mean_shift"]), _pct(r["mean_share_closed_resolution"]), _pct(r["lowest_share"]),
                   str(r["transcripts_majority_closed"])] for r in result.voter_scores]
    return [
        Heading(2, "Persuasiveness and steadfastness (Section 5.2)"),
        Paragraph("As a closed-source debater: the closed-source share a model induced as the affirmative on the "
                  "closed-source resolution (mean over voters of the mean over its transcripts); alongside, the "
                  "open-source share voters kept when it defended open source as the negative."),
        Table(["Rank", "Debater", "Closed share induced (affirmative)", "Usable / refused",
               "Open share kept (negative)", "Usable / refused"], debater_rows),
        Paragraph(_ranking_sentence("Most persuasive closed-source debaters", result.debater_scores, "debater",
                                    analysis.PAPER_MOST_PERSUASIVE, labels)),
        Paragraph("As a voter: its post-debate open-source share (the higher, the more steadfast) and its mean "
                  "shift from the pre-debate share, in points."),
        Table(["Rank", "Voter", "Pre-debate", "Post-debate", "Mean shift", "Mean share, closed resolution",
               "Lowest transcript share", "Transcripts with a closed majority"], voter_rows),
        Paragraph(_ranking_sentence("Most steadfast voters", result.voter_scores, "voter",
                                    analysis.PAPER_MOST_STEADFAST, labels)),
    ]


def _ranking_sentence(what: str, rows: list[dict[str, Any]], key: str, paper: tuple[str, ...],
                      labels: dict[str, str]) -> str:
    ranked = [r[key] for r in rows if r["rank"] is not None][:len(paper)]
    text = f"{what} in this run: {', '.join(labels[m] for m in ranked) or 'none'}."
    if all(m in labels for m in paper):
        text += f" The paper names {' and '.join(labels[m] for m in paper)}."
    return text


def _paper_section(result: RunAnalysis) -> list[Block]:
    if not result.paper_comparison:
        return []
    rows = [[r["label"], "pre-debate" if r["phase"] == PRE else "post-debate",
             _share(r), f"{_pct(r['paper_share'])} ({r['paper_open']}/{r['paper_votes']})",
             "—" if r["difference_points"] is None else f"{r['difference_points']:+.1f}",
             _yes_no(r["paper_in_wilson"]), _yes_no(r["paper_in_bootstrap"])]
            for r in result.paper_comparison]
    return [
        Heading(2, "How this compares with the paper"),
        Paragraph("Each Table 2 figure of this run beside the paper's, the difference in percentage points, and "
                  "whether the paper's figure falls inside this run's 95% intervals."),
        Table(["Model", "Phase", "This run", "Paper", "Difference (points)", "Paper inside Wilson 95%",
               "Paper inside bootstrap 95%"], rows),
    ]


def _files_section(run_dir: Path, tables: list[Path]) -> list[Block]:
    links = ", ".join(f"[{p.name}]({_relative(p, run_dir)})" for p in tables)
    return [Heading(2, "Tables"), Paragraph(f"Every table above, as CSV and JSON: {links}.")]


# --- formatting --------------------------------------------------------------------------------


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def _share(row: dict[str, Any]) -> str:
    """Like the paper: "95.2% (8571/9000)"."""
    return "—" if row["share"] is None else f"{_pct(row['share'])} ({row['open']}/{row['counted']})"


def _interval(row: dict[str, Any], kind: str) -> str:
    low, high = row[f"{kind}_low"], row[f"{kind}_high"]
    return "—" if low is None else f"{100 * low:.1f}–{100 * high:.1f}%"


def _points(share: float | None) -> str:
    """A difference of shares, in percentage points."""
    return "—" if share is None else f"{100 * share:.1f}"


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def _relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()


# --- rendering ---------------------------------------------------------------------------------


def render_markdown(blocks: list[Block]) -> str:
    """The document as Markdown, blocks separated by blank lines."""
    out = []
    for block in blocks:
        match block:
            case Heading(level, text):
                out.append(f"{'#' * level} {text}")
            case Paragraph(text):
                out.append(text)
            case Table(headers, rows):
                lines = [_md_row(headers), "|" + "---|" * len(headers)] + [_md_row(r) for r in rows]
                out.append("\n".join(lines))
            case Image(path, alt):
                out.append(f"![{alt}]({path})")
    return "\n\n".join(out) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .55rem;text-align:left}th{background:#f3f3f3}
tr:nth-child(even) td{background:#fafafa}img{max-width:100%;height:auto}
code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}ul{padding-left:1.4rem}
"""


def render_html(blocks: list[Block], run_dir: Path, title: str) -> str:
    """The document as one self-contained HTML page: figures inline as base64 PNG data URIs."""
    body = []
    for block in blocks:
        match block:
            case Heading(level, text):
                body.append(f"<h{level}>{_inline_html(text)}</h{level}>")
            case Paragraph(text):
                body.append(_paragraph_html(text))
            case Table(headers, rows):
                head = "".join(f"<th>{_inline_html(h)}</th>" for h in headers)
                cells = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>" for r in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            case Image(path, alt):
                data = base64.b64encode((run_dir / path).read_bytes()).decode("ascii")
                body.append(f'<p><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"></p>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _paragraph_html(text: str) -> str:
    lines = text.split("\n")
    if all(line.startswith("- ") for line in lines):
        return "<ul>" + "".join(f"<li>{_inline_html(line[2:])}</li>" for line in lines) + "</ul>"
    return f"<p>{_inline_html(text)}</p>"


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _inline_html(text: str) -> str:
    text = html.escape(text, quote=False)
    text = _CODE.sub(r"<code>\1</code>", text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return _LINK.sub(lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', text)


# --- writing -----------------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> Path:
    return _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> Path:
    """Write through a temporary file, so a reader never sees half a file; OutputError on failure."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"{path}: cannot be written: {e}") from e
    return path
