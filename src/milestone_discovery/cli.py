"""The ``milestones`` command line.

Each subcommand is a pair of small functions registered in :data:`COMMANDS`; a user
error (:class:`~milestone_discovery.errors.MilestoneError`) exits with code 2
and a short message, ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import MilestoneError


def _load_config(path: str | None, seed: int | None = None):
    from .config import Config

    config = Config.from_toml(path) if path else Config()
    if seed is not None:
        config.study.seed = seed
    return config


# ----------------------------------------------------------------------------- synth
def _setup_synth(p: argparse.ArgumentParser) -> None:
    from .synth import scenario_names

    p.add_argument(
        "--accounts",
        type=int,
        default=None,
        help="number of accounts (default: the scenario's, 3000; 2000 for 'small')",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--as-of", default="2026-06-30", help="snapshot date of the data (default 2026-06-30)"
    )
    p.add_argument(
        "--format", choices=["csv", "parquet"], default="csv", help="file format (default csv)"
    )
    p.add_argument(
        "--scenario",
        default="default",
        metavar="NAME",
        help="planted-truth preset: " + ", ".join(scenario_names()) + " (default: default)",
    )
    p.add_argument(
        "--list-scenarios", action="store_true", help="describe the scenario presets and exit"
    )
    p.add_argument("--out", help="output folder (required unless --list-scenarios)")


def _run_synth(args: argparse.Namespace) -> int:
    from .synth import SCENARIOS, get_scenario, make_synthetic

    if args.list_scenarios:
        for sc in SCENARIOS.values():
            shape = "/".join(sc.shape[k] for k in ("activation", "utilization", "maturity"))
            print(f"{sc.name:<16} n={sc.default_n:<5} {shape:<24} {sc.summary}")
        print(
            "(shape: activation/utilization/maturity; see truth.json 'shape' and 'scenario_note')"
        )
        return 0
    if not args.out:
        raise MilestoneError("--out is required (the folder to write the dataset to)")
    scenario = get_scenario(args.scenario)  # unknown name: a MilestoneError listing the valid names
    if args.accounts is not None and args.accounts < 1:
        raise MilestoneError("--accounts must be at least 1")
    data = make_synthetic(
        n_accounts=args.accounts, seed=args.seed, as_of=args.as_of, scenario=scenario
    )
    out = data.write(args.out, fmt=args.format)
    truth = data.truth
    print(
        f"wrote {truth['n_accounts']:,} synthetic accounts (scenario {scenario.name}, seed {args.seed}) to {out}"
    )
    for name, table in (
        ("accounts", data.accounts),
        ("feature_usage", data.feature_usage),
        ("feature_catalog", data.feature_catalog),
        ("activity", data.activity),
        ("setup_steps", data.setup_steps),
    ):
        print(f"  {name:<16} {len(table):>10,} rows")
    rate = truth["retention_rate"]
    n_drivers = sum(f["role"] == "driver" for f in truth["features"].values())
    print(
        f"  planted: {n_drivers} drivers, shape {truth['shape']}, "
        f"retention {'n/a' if rate is None else f'{rate:.1%}'} of eligible accounts"
    )
    print(f"  planted truth: {Path(out) / 'truth.json'}")
    return 0


# ----------------------------------------------------------------------------- validate
def _setup_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder (or wide table file with --config)")
    p.add_argument("--config", help="study config (TOML)")


def _run_validate(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .population import build_population, summarize_population

    config = _load_config(args.config)
    dataset = load_dataset(args.dataset, config)
    print(f"dataset {dataset.source}: valid ({dataset.kind}), as of {dataset.as_of or 'n/a'}")
    print(dataset.summary().fillna("-").to_string(index=False))
    for note in dataset.notes:
        print(f"note: {note}")
    print()
    print(summarize_population(build_population(dataset, config)))
    return 0


# ----------------------------------------------------------------------------- discover
def _setup_discover(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder (or wide table file with --config)")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--config", help="study config (TOML)")
    p.add_argument("--seed", type=int, help="random seed (overrides the config)")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _run_discover(args: argparse.Namespace) -> int:
    from .study import discover

    config = _load_config(args.config, args.seed)
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
    print(
        f"study of {study.population.n_eligible:,} eligible accounts "
        f"(retention {study.population.retention_rate:.1%}); {len(study.features.selected)} features selected"
    )
    for cat in fw.maturity["categories"]:
        print(
            f"  {cat['name']}: mature with >= {cat.get('min_features')} of {len(cat['features'])} features"
        )
    print(
        f"  mature overall: >= {fw.min_categories} categories ({study.maturity.share_mature:.1%} of accounts)"
    )
    if fw.activation:
        print(
            f"  activation: >= {fw.activation['threshold']:g} {fw.activation['metric']} in months 0-2"
        )
    if fw.utilization:
        print(
            f"  utilization: >= {fw.utilization['per_seat_threshold']:.4g} {fw.utilization['metric']} per seat per month"
        )
    if fw.setup and fw.setup.get("steps"):
        print(f"  setup checklist: {', '.join(fw.setup['steps'])}")
    for stage, why in study.journey.skipped.items():
        print(f"  {stage}: skipped ({why})")
    print(f"outputs in {out}/: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


# ----------------------------------------------------------------------------- score
def _setup_score(p: argparse.ArgumentParser) -> None:
    p.add_argument("framework", help="framework.json of an earlier discover run")
    p.add_argument("dataset", help="dataset folder (or wide table file with --config)")
    p.add_argument("--out", required=True, help="accounts CSV to write")
    p.add_argument("--config", help="study config (TOML): column names, wide-table description")


def _run_score(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .framework import Framework
    from .study import write_accounts_csv

    framework = Framework.from_json(args.framework)
    config = _load_config(args.config)
    dataset = load_dataset(args.dataset, config)
    accounts = framework.score(dataset, config)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_accounts_csv(accounts, out)
    print(f"scored {len(accounts):,} accounts with {args.framework}: {out}")
    print(accounts["stage"].value_counts().to_string())
    return 0


# ----------------------------------------------------------------------------- compare
def _setup_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", help="earlier run folder (A)")
    p.add_argument("run_b", help="later run folder (B)")
    p.add_argument("--out", help="write the comparison tables as CSV files into this folder")


def _run_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from .review import compare_runs

    cmp = compare_runs(args.run_a, args.run_b)
    print(cmp.summary())
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("\nthresholds:")
        print(cmp.thresholds.to_string(index=False))
        print("\nretention lift by milestone:")
        print(cmp.lifts.to_string(index=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("features", "thresholds", "lifts"):
            getattr(cmp, name).to_csv(out / f"compare_{name}.csv", index=False)
        print(f"\ntables written to {out}")
    return 0


# ----------------------------------------------------------------------------- report
def _setup_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder of an earlier `milestones discover`")
    p.add_argument("--out", help="HTML file to write (default RUN/report.html)")


def _run_report(args: argparse.Namespace) -> int:
    from .report import write_report

    path = write_report(args.run, args.out)
    print(
        f"wrote the report of {args.run} ({path.stat().st_size / 1e6:.1f} MB, self-contained): {path}"
    )
    return 0


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
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="milestones",
        description="Find the product-usage milestones that make B2B SaaS customers stay.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, setup, _run) in COMMANDS.items():
        setup(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    run = COMMANDS[args.command][2]
    try:
        return int(run(args) or 0)
    except MilestoneError as exc:
        if args.debug:
            raise
        print(f"milestones {args.command}: error: {exc}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # pragma: no cover - output piped into `head` and closed
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
