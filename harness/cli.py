"""Command line: argv → scenario → run; printing and exit codes, no logic."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from .errors import ConfigurationError, HarnessError, OutputError, ScenarioError
from .plan import planned_counts
from .runner import Interrupted, RunOptions, RunSummary, run_scenario
from .scenario import load_scenario
from .scheduler import FatalProviderError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="Run LLM evaluation scenarios at scale: concurrent, rate-limited, cached, resumable.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a scenario and write its results as Parquet",
                              description="Run every phase of a scenario, writing votes.parquet, "
                                          "transcripts.parquet and metadata.json into the run directory.")
    run.add_argument("scenario", type=Path, help="the scenario TOML file")
    run.add_argument("--simulate", action="store_true",
                     help="answer every request from the built-in simulated provider (offline, no keys)")
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="run directory (default: outputs/<scenario name>/)")
    run.add_argument("--cache", type=Path, default=Path("cache"), metavar="DIR",
                     help="response cache directory (default: cache/)")
    run.add_argument("--no-live", action="store_true",
                     help="print plain progress lines instead of the live display")
    run.add_argument("--simulator", default=None, metavar="URL",
                     help="like --simulate, but use a simulated provider already serving at URL "
                          "(started with `python -m harness sim`)")
    run.add_argument("--fresh", action="store_true",
                     help="start over: move an earlier run in the run directory aside instead of resuming it")
    run.add_argument("--no-report", action="store_true",
                     help="do not write report.md (the paper's tables and figures) at the end")
    run.add_argument("--accept-changes", action="store_true",
                     help="resume even though the scenario's plan changed since the run began "
                          "(its tables are kept aside first; changed items are asked again)")

    report = commands.add_parser("report", help="write the paper's tables and figures for a run directory",
                                 description="Read a run directory's Parquet and metadata and write report.md "
                                             "(Table 2 with intervals, the split by resolution, Figure 3's heat "
                                             "maps, persuasive transcripts, refusals, comparison with the paper), "
                                             "tables/ as CSV and JSON, and figures/ as PNG. Works on partial runs.")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="e.g. outputs/ld_open_closed")
    report.add_argument("--format", choices=("md", "html"), default="md",
                        help="html also writes one self-contained report.html (default: md only)")

    cache = commands.add_parser("cache", help="inspect, check, export or import the response cache",
                                description="Tools for the content-addressed response cache.")
    cache.add_argument("--cache", type=Path, default=Path("cache"), metavar="DIR",
                       help="response cache directory (default: cache/)")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("stats", help="entries and size, by provider kind and model")
    verify = actions.add_parser("verify", help="check every entry (key = hash of its request, answer checksum)")
    verify.add_argument("--remove", action="store_true", help="delete the entries that fail")
    export = actions.add_parser("export", help="write every entry to a portable .jsonl.gz file")
    export.add_argument("file", type=Path)
    load = actions.add_parser("import", help="add the entries of an exported file (each checked first)")
    load.add_argument("file", type=Path)

    check = commands.add_parser("validate", help="check a scenario file and show what it would run",
                                description="Load and validate a scenario without sending any request.")
    check.add_argument("scenario", type=Path)

    sim = commands.add_parser("sim", help="start the simulated provider alone",
                              description="Serve the simulated OpenAI- and Anthropic-format API on "
                                          "127.0.0.1 until interrupted; point any client at it.")
    sim.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1 (default 8787; 0 picks one)")
    sim.add_argument("--seed", type=int, default=0, help="seed of the simulated answers")
    sim.add_argument("--ttft", type=float, default=0.2, help="seconds before the first token (default 0.2)")
    sim.add_argument("--per-token", type=float, default=0.002, help="seconds per output token (default 0.002)")
    sim.add_argument("--rpm", type=float, default=None, help="requests per minute allowed per model (default: no limit)")
    sim.add_argument("--tpm", type=float, default=None, help="tokens per minute allowed per model (default: no limit)")
    sim.add_argument("--failure-rate", type=float, default=0.0,
                     help="fraction of requests answered with a random 5xx (default 0)")

    from .bench import help_text

    bench = commands.add_parser("bench", help="measure throughput, overhead, replay speed and memory",
                                description="Run benchmarks against the simulated provider (its own "
                                            "process, on 127.0.0.1), print a row per run and the medians, "
                                            "and save every row to DIR/bench-<UTC time>.json and latest.json.",
                                epilog=help_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("names", nargs="*", metavar="NAME",
                       help="benchmarks to run (default: all): ceiling misconfigured overhead replay scale")
    bench.add_argument("--runs", type=int, default=3, metavar="N", help="runs of each benchmark (default 3)")
    bench.add_argument("--out", type=Path, default=Path("outputs/bench"), metavar="DIR",
                       help="where results (and the replay cache) go (default: outputs/bench/)")
    bench.add_argument("--quick", action="store_true", help="small sizes: a smoke check in about two minutes")
    bench.add_argument("--target", action="append", metavar="URL",
                       help="run the ceiling workload against this OpenAI base URL instead (repeatable)")
    bench.add_argument("--model", help="with --target: the model id to send")
    bench.add_argument("--rpm", type=float, help="with --target: the requests/min limit to keep to and judge by")
    bench.add_argument("--tpm", type=float, help="with --target: the tokens/min limit to keep to")
    bench.add_argument("--max-in-flight", type=int, default=50, help="with --target: concurrency (default 50)")
    bench.add_argument("--votes", type=int, default=500, help="with --target: votes per run (default 500)")
    bench.add_argument("--api-key-env", default="HARNESS_BENCH_API_KEY",
                       help="with --target: environment variable holding the API key (default "
                            "HARNESS_BENCH_API_KEY, set to a dummy value when unset)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "sim":
            return _sim(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "cache":
            return _cache(args)
        if args.command == "report":
            return _report(args.run_dir, ("md", "html") if args.format == "html" else ("md",))
        return _run(args)
    except Interrupted as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted; whatever was recorded is kept. Run the same command again to resume.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ScenarioError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (HarnessError, FatalProviderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _validate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    counts = planned_counts(scenario)
    print(f"{args.scenario}: valid scenario {scenario.name!r} (sha256 {scenario.sha256[:12]})")
    print(f"  models: {', '.join(scenario.participants())}")
    print(f"  pre-debate votes: {counts['pre']}; debates: {counts['debate']} "
          f"of {len(scenario.debate.speeches)} speeches; post-debate votes: up to {counts['post']}")
    return EXIT_OK


def _sim(args: argparse.Namespace) -> int:
    from .sim import ModelLimits, SimConfig, serve_forever

    default = ModelLimits(args.rpm, args.tpm) if (args.rpm or args.tpm) else None
    config = SimConfig(seed=args.seed, port=args.port, time_to_first_token=args.ttft,
                       seconds_per_output_token=args.per_token, default=default,
                       failure_rate=args.failure_rate)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(config))
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from .bench.suite import TargetOptions, run_suite

    targets = None
    if args.target:
        if args.names or not args.model:
            print("error: --target takes --model and no benchmark names", file=sys.stderr)
            return EXIT_USAGE
        targets = TargetOptions(tuple(args.target), args.model, args.rpm, args.tpm, args.max_in_flight,
                                args.votes, args.api_key_env)
    try:
        _, path = asyncio.run(run_suite(args.names, runs=args.runs, out_dir=args.out, quick=args.quick,
                                        targets=targets))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"\nresults: {path} (and {path.parent / 'latest.json'})")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    options = RunOptions(simulate=args.simulate or args.simulator is not None, out_dir=args.out,
                         cache_dir=args.cache, display=not args.no_live, fresh=args.fresh,
                         accept_changes=args.accept_changes, simulator_url=args.simulator)
    try:
        summary = asyncio.run(run_scenario(scenario, options))
    except BaseExceptionGroup as group:
        raise _most_telling(group) from group
    _print_summary(summary, simulated=args.simulate)
    if not args.no_report:
        try:
            _report(summary.run_dir, ("md",))
        except HarnessError as exc:  # the run's results stand; only the report could not be made
            print(f"warning: no report: {exc}", file=sys.stderr)
    return EXIT_FAILED if summary.failed_items else EXIT_OK


def _cache(args: argparse.Namespace) -> int:
    from .cache import DB_NAME, CacheStore

    if args.action != "import" and not (args.cache / DB_NAME).exists():
        raise ConfigurationError(f"no response cache at {args.cache / DB_NAME}")
    store = CacheStore(args.cache)
    try:
        if args.action == "stats":
            stats = store.stats()
            print(f"{stats['path']}: {stats['entries']:,} entries, {stats['file_bytes'] / 1e6:,.1f} MB on disk")
            for g in stats["groups"]:
                kind = "simulated" if g["simulated"] else "live"
                print(f"  {g['provider_kind']:<18} {g['model']:<40} {kind:<9} {g['entries']:>9,} entries "
                      f"{g['bytes'] / 1e6:>9,.1f} MB")
            return EXIT_OK
        if args.action == "verify":
            checked = len(store)
            bad = store.verify(remove=args.remove)
            for key, what in bad[:20]:
                print(f"  {key[:16]}…  {what}")
            if len(bad) > 20:
                print(f"  … and {len(bad) - 20:,} more")
            verdict = "removed" if args.remove else "left in place (--remove deletes them)"
            print(f"checked {checked:,} entries: {len(bad):,} bad" + (f", {verdict}" if bad else ""))
            return EXIT_FAILED if bad and not args.remove else EXIT_OK
        if args.action == "export":
            print(f"exported {store.export_to(args.file):,} entries to {args.file}")
            return EXIT_OK
        counts = store.import_from(args.file)
        print(f"imported from {args.file}: {counts['added']:,} added, {counts['present']:,} already present, "
              f"{counts['rejected']:,} rejected (failed their checks)")
        return EXIT_FAILED if counts["rejected"] else EXIT_OK
    finally:
        store.close()


def _report(run_dir: Path, formats: tuple[str, ...]) -> int:
    from .report import write_report

    result = write_report(run_dir, formats=formats)
    written = [result.report_md] + ([result.report_html] if result.report_html else [])
    print(f"report: {', '.join(str(p) for p in written)} (tables in {result.tables_dir})")
    for warning in result.warnings:
        print(f"  note: {warning}", file=sys.stderr)
    return EXIT_OK


def _most_telling(group: BaseExceptionGroup) -> BaseException:
    """The error to report from a task group: ours before anything else."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    for exc in leaves:
        if isinstance(exc, (HarnessError, FatalProviderError, KeyboardInterrupt)):
            return exc
    return leaves[0] if leaves else group


def _print_summary(s: RunSummary, *, simulated: bool) -> None:
    minutes = s.wall_seconds / 60
    print(f"run finished in {s.wall_seconds:.1f} s → {s.run_dir}")
    for phase in s.phases:
        print(f"  {phase['name']:<18} {phase['done']:>7,} done, {phase['failed']:,} failed, "
              f"{phase['cached']:,} from cache, {phase['per_second']:.1f}/s over {phase['seconds']} s")
    print(f"  debates: {s.debates['usable']} usable, {s.debates['refused']} refused, {s.debates['failed']} failed")
    print(f"  rows: {s.vote_rows:,} votes, {s.speech_rows:,} speeches")
    rate = s.requests_sent / s.wall_seconds if s.wall_seconds else 0.0
    print(f"  requests sent: {s.requests_sent:,} ({rate:.1f}/s, {s.requests_sent / max(minutes, 1e-9):,.0f}/min), "
          f"answered from cache: {s.cache_hits:,}, rate-limited (429): {s.rate_limited:,}")
    if simulated and s.simulator_requests is not None:
        print(f"  simulated provider received {s.simulator_requests:,} requests")
    print(f"  peak memory: {s.peak_memory_mb:.0f} MB")
    if s.failed_items:
        print(f"  {s.failed_items} items failed after retries: see the error column in the outputs",
              file=sys.stderr)
