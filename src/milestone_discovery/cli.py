"""The ``milestones`` command line.

Each subcommand is a pair of small functions registered in :data:`COMMANDS`.
There is one error path: a user error (a
:class:`~milestone_discovery.errors.MilestoneError`, an invalid argument, a
file that cannot be read or written) prints ``milestones COMMAND: error: ...``
and exits with code 2; ``--debug`` (anywhere on the command line) shows the
traceback instead. Everything printed goes through :func:`terminal_text`, so
control characters from the data never reach the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import ConfigError, FileAccessError, MilestoneError

#: Seeds accepted by every random generator the study uses: ``0 <= seed < 2**32``.
SEED_LIMIT = 2**32

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clears
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[@-_]?"  # other two-byte escapes, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: object) -> str:
    """Text safe to print on a terminal.

    Parameters
    ----------
    text : object
        Anything printable (converted with ``str``), e.g. a message quoting the data.

    Returns
    -------
    str
        ``text`` without ANSI escape sequences, control characters (all but
        newline and tab; carriage returns too) and bidirectional overrides.

    Examples
    --------
    >>> terminal_text("plan \\x1b[31mred\\x1b[0m\\r\\x07")
    'plan red'
    """
    return _CONTROLS.sub("", _ESCAPES.sub("", str(text)))


def _say(*parts: object, err: bool = False) -> None:
    print(terminal_text(" ".join(str(p) for p in parts)), file=sys.stderr if err else sys.stdout)


@contextlib.contextmanager
def _io(action: str, path: object) -> Iterator[None]:
    """Turn an ``OSError`` on a path the user gave into a :class:`FileAccessError` naming it."""
    try:
        yield
    except OSError as exc:
        where = exc.filename if exc.filename is not None else path
        raise FileAccessError(f"cannot {action} {where}: {exc.strerror or exc}") from exc


def _seed(text: str) -> int:
    """argparse type of ``--seed``: a whole number ``0 <= seed < 2**32``."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 to {SEED_LIMIT - 1} (2**32 - 1), not {text!r}"
        )
    return value


def _iso_date(text: str) -> str:
    """argparse type of a date: ``YYYY-MM-DD``."""
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a date written YYYY-MM-DD (e.g. 2026-06-30), not {text!r}"
        ) from None
    return text


def _load_config(path: str | None, seed: int | None = None, engine: str | None = None):
    from .config import Config

    with _io("read the config file", path):
        config = Config.from_toml(path) if path else Config()
    if seed is not None:
        config.study.seed = seed
    if engine is not None:  # --engine overrides [engine] engine
        config.engine.engine = engine
    value = config.study.seed
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise ConfigError(
            f"{path or 'config'} [study] seed: must be a whole number from 0 to "
            f"{SEED_LIMIT - 1} (2**32 - 1), not {value!r}"
        )
    return config


# ----------------------------------------------------------------------------- synth
def _setup_synth(p: argparse.ArgumentParser) -> None:
    # no import of .synth here: building the parser (and --help) stays free of pandas/numpy
    p.add_argument(
        "--accounts",
        type=int,
        default=None,
        help="number of accounts (default: the scenario's, 3000; 2000 for 'small')",
    )
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    p.add_argument(
        "--as-of",
        type=_iso_date,
        default="2026-06-30",
        help="snapshot date of the data, YYYY-MM-DD (default 2026-06-30)",
    )
    p.add_argument(
        "--format", choices=["csv", "parquet"], default="csv", help="file format (default csv)"
    )
    p.add_argument(
        "--scenario",
        default="default",
        metavar="NAME",
        help="planted-truth preset (default: default; see --list-scenarios)",
    )
    p.add_argument(
        "--list-scenarios", action="store_true", help="describe the scenario presets and exit"
    )
    p.add_argument(
        "--events",
        action="store_true",
        help="write an event log (events, accounts, feature_catalog and the study.toml that "
        "maps it) instead of the per-account tables; any size, written in chunks",
    )
    p.add_argument("--out", help="output folder (required unless --list-scenarios)")


def _run_synth(args: argparse.Namespace) -> int:
    from .synth import SCENARIOS, get_scenario, make_synthetic

    if args.list_scenarios:
        for sc in SCENARIOS.values():
            shape = "/".join(sc.shape[k] for k in ("activation", "utilization", "maturity"))
            _say(f"{sc.name:<16} n={sc.default_n:<5} {shape:<24} {sc.summary}")
        _say("(shape: activation/utilization/maturity; see truth.json 'shape' and 'scenario_note')")
        return 0
    if not args.out:
        raise MilestoneError("--out is required (the folder to write the dataset to)")
    scenario = get_scenario(args.scenario)  # unknown name: a MilestoneError listing the valid names
    if args.accounts is not None and args.accounts < 1:
        raise MilestoneError("--accounts must be at least 1")
    data = make_synthetic(
        n_accounts=args.accounts, seed=args.seed, as_of=args.as_of, scenario=scenario
    )
    with _io("write the dataset to", args.out):
        out = (
            data.write_events(args.out, fmt=args.format, seed=args.seed)
            if args.events
            else data.write(args.out, fmt=args.format)
        )
    truth = data.truth
    _say(
        f"wrote {truth['n_accounts']:,} synthetic accounts "
        f"(scenario {scenario.name}, seed {args.seed}) to {out}"
        + (" as an event log (study.toml maps it)" if args.events else "")
    )
    tables = ("accounts", "feature_catalog") if args.events else ()
    for name, table in (
        ("accounts", data.accounts),
        ("feature_usage", data.feature_usage),
        ("feature_catalog", data.feature_catalog),
        ("activity", data.activity),
        ("setup_steps", data.setup_steps),
    ):
        if tables and name not in tables:
            continue
        _say(f"  {name:<16} {len(table):>10,} rows")
    rate = truth["retention_rate"]
    n_drivers = sum(f["role"] == "driver" for f in truth["features"].values())
    _say(
        f"  planted: {n_drivers} drivers, shape {truth['shape']}, "
        f"retention {'n/a' if rate is None else f'{rate:.1%}'} of eligible accounts"
    )
    _say(f"  planted truth: {Path(out) / 'truth.json'}")
    return 0


def _add_engine(p: argparse.ArgumentParser) -> None:
    """``--engine``: the query engine that reads events and query tables."""
    p.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default=None,
        help="query engine for events and [tables] queries (default: the config's "
        '[engine] engine, else duckdb; spark needs pip install -e ".[spark]")',
    )


# ----------------------------------------------------------------------------- validate
def _setup_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder (or wide table file with --config)")
    p.add_argument("--config", help="study config (TOML)")
    _add_engine(p)


def _run_validate(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .population import build_population, summarize_population

    config = _load_config(args.config, engine=args.engine)
    with _io("read the dataset", args.dataset):
        dataset = load_dataset(args.dataset, config)
    _say(f"dataset {dataset.source}: valid ({dataset.kind}), as of {dataset.as_of or 'n/a'}")
    _say(dataset.summary().fillna("-").to_string(index=False))
    for note in dataset.notes:
        _say(f"note: {note}")
    _say()
    _say(summarize_population(build_population(dataset, config)))
    return 0


# ----------------------------------------------------------------------------- discover
def _setup_discover(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder (or wide table file with --config)")
    p.add_argument(
        "--out",
        required=True,
        help="run folder to write (new, empty or an earlier run: it is replaced as a whole)",
    )
    p.add_argument("--config", help="study config (TOML)")
    p.add_argument("--seed", type=_seed, help="random seed (overrides the config)")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_engine(p)


def _run_discover(args: argparse.Namespace) -> int:
    from .runfolder import check_output_path

    check_output_path(args.out, [args.dataset, args.config])  # before reading anything
    # a wrong setting fails before heavy imports
    config = _load_config(args.config, args.seed, engine=args.engine)
    from .study import discover

    study = discover(
        args.dataset,
        args.out,
        config,
        progress=not args.quiet,
        report=not args.no_report,
        command=sys.argv[:1] + [a for a in sys.argv[1:]],
    )
    fw = study.framework
    out = Path(args.out)
    _say(
        f"study of {study.population.n_eligible:,} eligible accounts "
        f"(retention {study.population.retention_rate:.1%}); "
        f"{len(study.features.selected)} features selected"
    )
    for cat in fw.maturity["categories"]:
        _say(
            f"  {cat['name']}: mature with >= {cat.get('min_features')} "
            f"of {len(cat['features'])} features"
        )
    _say(
        f"  mature overall: >= {fw.min_categories} categories "
        f"({study.maturity.share_mature:.1%} of accounts)"
    )
    if fw.activation:
        first, last = fw.activation["months"]
        _say(
            f"  activation: >= {fw.activation['threshold']:g} {fw.activation['metric']} "
            f"in months {first}-{last}"
        )
    if fw.utilization:
        _say(
            f"  utilization: >= {fw.utilization['per_seat_threshold']:.4g} "
            f"{fw.utilization['metric']} per seat per month"
        )
    if fw.setup and fw.setup.get("steps"):
        _say(f"  setup checklist: {', '.join(fw.setup['steps'])}")
    for stage, why in study.journey.skipped.items():
        _say(f"  {stage}: skipped ({why})")
    _say(f"outputs in {out}/: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


# ----------------------------------------------------------------------------- score
def _setup_score(p: argparse.ArgumentParser) -> None:
    p.add_argument("framework", help="framework.json of an earlier discover run")
    p.add_argument("dataset", help="dataset folder (or wide table file with --config)")
    p.add_argument("--out", required=True, help="accounts CSV to write")
    p.add_argument("--config", help="study config (TOML): column names, wide-table description")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score even when the data lack features, setup steps or metrics the framework "
        "names (they count as not reached; the output says which milestones were not judged)",
    )
    _add_engine(p)


def _run_score(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .framework import Framework
    from .runfolder import check_output_path
    from .study import write_accounts_csv

    check_output_path(args.out, [args.framework, args.dataset, args.config], kind="file")
    with _io("read the framework", args.framework):
        framework = Framework.from_json(args.framework)
    config = _load_config(args.config, engine=args.engine)
    with _io("read the dataset", args.dataset):
        # new customers have no outcome yet: a wide table may lack its outcome column
        dataset = load_dataset(args.dataset, config, outcome_required=False)
    accounts = framework.score(dataset, config, allow_missing=args.allow_missing)
    out = Path(args.out)
    with _io("write --out", out):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_accounts_csv(accounts, out)
    _say(f"scored {len(accounts):,} accounts with {args.framework}: {out}")
    for note in [*dataset.notes, *accounts.attrs.get("notes", [])]:
        _say(f"note: {note}")
    _say(accounts["stage"].value_counts().to_string())
    return 0


# ----------------------------------------------------------------------------- compare
def _setup_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", help="earlier run folder (A)")
    p.add_argument("run_b", help="later run folder (B)")
    p.add_argument("--out", help="write the comparison tables as CSV files into this folder")


def _run_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from .review import compare_runs
    from .runfolder import write_csv

    with _io("read", f"{args.run_a} or {args.run_b}"):
        cmp = compare_runs(args.run_a, args.run_b)
    _say(cmp.to_text())
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        _say("\nthresholds:")
        _say(cmp.thresholds.to_string(index=False))
        _say("\nretention lift by milestone:")
        _say(cmp.lifts.to_string(index=False))
        for name, title in (
            ("changed_features", "features that changed"),
            ("hazard_ratios", "hazard ratio of churn by milestone"),
            ("segments", "segment-specific effects"),
            ("expansion", "stay / grow / both labels (expansion)"),
            ("windows", "window-dependent features (sensitivity)"),
        ):
            table = getattr(cmp, name, None)
            if table is not None and len(table):
                _say(f"\n{title}:")
                _say(table.to_string(index=False))
    if args.out:
        out = Path(args.out)
        with _io("write --out", out):
            out.mkdir(parents=True, exist_ok=True)
            for name in cmp.TABLES:
                table = getattr(cmp, name, None)
                if table is not None:
                    write_csv(table, out / f"compare_{name}.csv")
        _say(f"\ntables written to {out}")
    return 0


# ----------------------------------------------------------------------------- report
def _setup_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder of an earlier `milestones discover`")
    p.add_argument("--out", help="HTML file to write (default RUN/report.html)")


def _run_report(args: argparse.Namespace) -> int:
    from .report import write_report

    with _io("use", args.run if args.out is None else args.out):
        path = write_report(args.run, args.out)
    _say(
        f"wrote the report of {args.run} "
        f"({path.stat().st_size / 1e6:.1f} MB, self-contained): {path}"
    )
    return 0


# ----------------------------------------------------------------------------- schema
def _setup_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--check",
        metavar="FRAMEWORK_JSON",
        help="validate a framework.json against the schema instead of printing it "
        "(exit 0 valid, 2 invalid: each error's JSON path and message on stderr)",
    )


def _run_schema(args: argparse.Namespace) -> int:
    # no numerical library here: the schema is a packaged file
    import json

    from .schema import schema_text, validate_framework

    if not args.check:
        sys.stdout.write(schema_text())
        return 0
    path = Path(args.check)
    with _io("read the framework", path):
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MilestoneError(f"{path} is not valid JSON: {exc}") from None
    errors = validate_framework(data)
    if not errors:
        _say(f"{path}: valid framework.json (schema_version {data['schema_version']})")
        return 0
    _say(f"{path}: {len(errors)} error(s) against the framework schema:", err=True)
    for where, message in errors:
        _say(f"  {where}: {message}", err=True)
    return 2


# ----------------------------------------------------------------------------- entry point
#: name -> (help, add arguments, run(args) -> exit code)
COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "synth": (
        "write a synthetic dataset with planted truth (truth.json)",
        _setup_synth,
        _run_synth,
    ),
    "validate": (
        "check a dataset against the input contract and summarise it",
        _setup_validate,
        _run_validate,
    ),
    "discover": (
        "run the study and write framework.json, features.csv, accounts.csv, report.html, run.json",
        _setup_discover,
        _run_discover,
    ),
    "score": (
        "apply a saved framework.json to a dataset without refitting",
        _setup_score,
        _run_score,
    ),
    "compare": (
        "compare two runs: features, thresholds and lifts that moved",
        _setup_compare,
        _run_compare,
    ),
    "report": (
        "rebuild the self-contained HTML report of a run folder (no refitting)",
        _setup_report,
        _run_report,
    ),
    "schema": (
        "print the JSON Schema of framework.json, or check a file against it (--check)",
        _setup_schema,
        _run_schema,
    ),
}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose error messages are safe to print (see :func:`terminal_text`)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, terminal_text(f"{self.prog}: error: {message}") + "\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``milestones`` and its subcommands.

    Returns
    -------
    argparse.ArgumentParser
        ``--debug`` is accepted before or after the subcommand.
    """
    parser = _Parser(
        prog="milestones",
        description="Find the product-usage milestones that make B2B SaaS customers stay.",
    )
    debug_help = "show tracebacks of errors (before or after the command)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: the subcommand sets it only when given, never resets a --debug given before it
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, setup, _run) in COMMANDS.items():
        setup(sub.add_parser(name, help=help_text, description=help_text, parents=[common]))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 done, 2 user error (message on stderr), 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # invalid arguments (message printed) or --help
        return exc.code if isinstance(exc.code, int) else 2
    if not args.command:
        parser.print_help()
        return 2
    run = COMMANDS[args.command][2]
    try:
        return int(run(args) or 0)
    except MilestoneError as exc:
        if args.debug:
            raise
        _say(f"milestones {args.command}: error: {exc}", err=True)
        _say("(run with --debug for the traceback)", err=True)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        _say(f"milestones {args.command}: interrupted", err=True)
        return 130
    except BrokenPipeError:  # pragma: no cover - output piped into `head` and closed
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
