"""The whole study in one call, and the run folder it writes.

:func:`run_study` chains the stages (population -> features -> maturity ->
journey -> framework -> scored accounts); :func:`discover` runs it on a
dataset path and writes the run folder:

* ``framework.json`` - the framework (deterministic bytes for the same data and seed);
* ``features.csv`` - every feature with all its statistics and its status;
* ``accounts.csv`` - every account with its milestones, stage and next best step;
* ``report.html`` - the self-contained report for product managers;
* ``run.json`` - config, package versions, input fingerprint, timings;
* ``tables/*.csv`` - every stage's tidy tables (see :func:`stage_tables`), from
  which ``milestones report RUN`` rebuilds the report without refitting.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .config import MIN_BOOTSTRAP, Config
from .data import Dataset, load_dataset
from .errors import FileAccessError, InsufficientDataError, RunFolderError
from .expansion import ExpansionResult, discover_expansion
from .features import FeatureResult, discover_features
from .framework import Framework, clean_json
from .framework_builder import build_framework, funnel_table
from .heterogeneity import HeterogeneityResult, effect_heterogeneity
from .html_repr import key_figures, render_result, table_data
from .journey import JourneyResult, discover_journey, with_early_activity
from .maturity import MaturityResult, discover_maturity
from .population import Population, build_population
from .review import TemporalValidation, split_signup_cohorts, validate_on_later_cohorts
from .runfolder import RunFolder, unique_slugs, write_csv
from .scoring import score_accounts
from .sensitivity import SensitivityResult, window_sensitivity
from .survival import SurvivalResult, milestone_columns, survival_analysis

__all__ = [
    "Study",
    "run_study",
    "temporal_validation",
    "discover",
    "build_framework",
    "funnel_table",
    "input_fingerprint",
]


@dataclass
class Study:
    """Every stage's result of one study.

    Attributes
    ----------
    dataset, population, features, maturity, journey
        The stage results (each displays itself in Jupyter).
    framework : Framework
    accounts : pandas.DataFrame
        Every account scored with the framework.
    funnel : pandas.DataFrame
        Accounts reaching each milestone, conversion and retention by stage.
    timings : dict
        Seconds per stage.
    survival, heterogeneity : SurvivalResult, HeterogeneityResult or None
        Time to churn by milestone, and each effect per plan and size band
        (None when skipped; the framework says why).
    expansion : ExpansionResult or None
        The feature stage with expansion as the outcome, among retained accounts.
    sensitivity : SensitivityResult or None
        The feature stage at other observation windows and horizons (opt-in).
    """

    config: Config
    dataset: Dataset
    population: Population
    features: FeatureResult
    maturity: MaturityResult
    journey: JourneyResult
    framework: Framework
    accounts: pd.DataFrame
    funnel: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    validation: dict | None = None
    survival: SurvivalResult | None = None
    heterogeneity: HeterogeneityResult | None = None
    expansion: ExpansionResult | None = None
    sensitivity: SensitivityResult | None = None

    def to_frame(self) -> pd.DataFrame:
        """Every account scored with the framework (a copy): what ``accounts.csv`` holds."""
        return self.accounts.copy()

    def summary(self) -> pd.DataFrame:
        """Headline figures as a DataFrame (``quantity``, ``value``): accounts, retention, ..."""
        return key_figures(
            [
                ("accounts", len(self.accounts)),
                ("eligible accounts", self.population.n_eligible),
                ("retention rate", self.population.retention_rate),
                ("features selected", len(self.features.selected)),
                ("maturity categories", len(self.maturity.categories)),
                ("mature overall: in at least m categories, m", self.maturity.min_categories),
            ]
        )

    def _repr_html_(self) -> str:
        stages = (self.population, self.features, self.maturity, self.journey)
        return render_result(
            "Milestone study",
            lead=self.dataset.source,
            facts=self.summary(),
            tables=[table_data(self.funnel, "Funnel")],
            parts=[stage._repr_html_() for stage in stages],
        )

    def __repr__(self) -> str:
        return (
            f"Study({html.escape(self.dataset.source)}: "
            f"{self.population.n_eligible} eligible accounts, "
            f"{len(self.features.selected)} selected features, "
            f"{len(self.maturity.categories)} categories)"
        )


def run_study(
    dataset: Dataset,
    config: Config | None = None,
    *,
    progress: bool = True,
    temporal: bool | None = None,
    secondary: bool = True,
) -> Study:
    """Run every stage on a loaded dataset.

    Parameters
    ----------
    dataset : Dataset
    config : Config, optional
    progress : bool
        Show progress bars.
    temporal : bool, optional
        Run the temporal validation (default ``config.study.temporal_validation``);
        its result is stored in ``framework.validation``.
    secondary : bool
        Also run the survival, heterogeneity, expansion and (when
        ``[sensitivity] enabled``) window-sensitivity analyses (the temporal
        refit skips them).

    Returns
    -------
    Study
    """
    config = config or Config()
    temporal = config.study.temporal_validation if temporal is None else temporal
    timings = {}
    t0 = time.perf_counter()
    population = build_population(dataset, config)
    if config.features.adjust_for_early_activity:
        population = with_early_activity(population, dataset, config)
    timings["population"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    features = discover_features(population, config, progress=progress)
    timings["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    maturity = discover_maturity(population, features, config)
    timings["maturity"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    journey = discover_journey(dataset, population, config)
    timings["journey"] = time.perf_counter() - t0
    framework = build_framework(config, population, features, maturity, journey, dataset)
    t0 = time.perf_counter()
    accounts = score_accounts(framework, dataset, config)
    funnel = funnel_table(accounts, framework)
    timings["scoring"] = time.perf_counter() - t0
    survival = heterogeneity = expansion = sensitivity = None
    if secondary:
        t0 = time.perf_counter()
        survival, heterogeneity = _secondary_analyses(
            dataset, population, features, accounts, framework, config
        )
        timings["survival_heterogeneity"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        expansion = _expansion_analysis(dataset, population, features, framework, config)
        timings["expansion"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sensitivity = _sensitivity_analysis(dataset, features, framework, config)
        timings["sensitivity"] = time.perf_counter() - t0
    if temporal:
        t0 = time.perf_counter()
        try:
            check = temporal_validation(
                dataset, config, split_quantile=config.study.temporal_split, progress=progress
            )
            framework.validation = {"temporal": check.to_dict()}
        except InsufficientDataError as exc:
            framework.validation = {"temporal": {"skipped": str(exc)}}
        timings["temporal_validation"] = time.perf_counter() - t0
    return Study(
        config=config,
        dataset=dataset,
        population=population,
        features=features,
        maturity=maturity,
        journey=journey,
        framework=framework,
        accounts=accounts,
        funnel=funnel,
        timings=timings,
        survival=survival,
        heterogeneity=heterogeneity,
        expansion=expansion,
        sensitivity=sensitivity,
    )


def _expansion_analysis(dataset, population, features, framework, config):
    """Expansion as a second outcome; ``framework.expansion`` and per-feature labels.

    Every feature entry gains ``expansion_status`` and ``milestone_for``
    (``"stay"``, ``"grow"``, ``"both"`` or None) when the stage ran.
    """
    if not config.expansion.enabled:
        framework.expansion = {"skipped": "turned off ([expansion] enabled = false)"}
        return None
    try:
        result = discover_expansion(dataset, population, features, config)
    except InsufficientDataError as exc:
        framework.expansion = {"skipped": str(exc)}
        return None
    framework.expansion = result.to_dict()
    table = result.labels.set_index("feature")
    for entry in framework.features:
        name = entry["feature"]
        entry["expansion_status"] = table["expansion"].get(name)
        entry["milestone_for"] = table["label"].get(name)
    return result


def _sensitivity_analysis(dataset, features, framework, config):
    """The feature stage at other windows (opt-in); ``framework.sensitivity``.

    Every feature entry gains ``window_share`` (share of the settings
    selecting it) when it ran.
    """
    if not config.sensitivity.enabled:
        framework.sensitivity = {
            "skipped": "off by default ([sensitivity] enabled = true runs it): each window "
            "setting re-runs the feature stage"
        }
        return None
    try:
        result = window_sensitivity(dataset, config, main=features)
    except InsufficientDataError as exc:
        framework.sensitivity = {"skipped": str(exc)}
        return None
    framework.sensitivity = result.to_dict()
    share = result.features.set_index("feature")["share"]
    for entry in framework.features:
        entry["window_share"] = share.get(entry["feature"])
    return result


def _secondary_analyses(dataset, population, features, accounts, framework, config):
    """Survival from the landmark and effect heterogeneity; each skipped with its reason."""
    alpha = config.features.alpha
    milestones = milestone_columns(accounts)
    survival = heterogeneity = None
    if dataset.kind == "tables":  # a wide table has no dates
        try:
            survival = survival_analysis(
                dataset.accounts,
                milestones,
                as_of=dataset.as_of,
                observation_days=config.study.observation_days,
                horizon_days=config.study.horizon_days,
                alpha=alpha,
            )
            framework.survival = survival.to_dict()
        except InsufficientDataError as exc:
            framework.survival = {"skipped": str(exc)}
    else:
        framework.survival = {"skipped": "a wide table has no dates to follow accounts over time"}
    flags = pd.concat(
        [
            population.flags[list(features.selected)],
            milestones.reindex(population.flags.index).fillna(False).astype(bool),
        ],
        axis=1,
    )
    try:
        heterogeneity = effect_heterogeneity(
            flags,
            population.retained,
            population.segments,
            alpha=alpha,
            multiplicity=config.features.multiplicity,
        )
        framework.heterogeneity = heterogeneity.to_dict()
        flagged = heterogeneity.segment_specific
        for entry in framework.features:
            entry["segment_specific"] = flagged.get(entry["feature"])
    except InsufficientDataError as exc:
        framework.heterogeneity = {"skipped": str(exc)}
    return survival, heterogeneity


#: cross-fitting repeats of the temporal refit's feature stage (at most)
TEMPORAL_REPEATS = 2


def temporal_validation(
    dataset: Dataset,
    config: Config | None = None,
    *,
    split_quantile: float = 0.7,
    progress: bool = False,
) -> TemporalValidation:
    """Fit on the earlier signup cohorts, measure milestone lifts on the later ones.

    :func:`run_study` runs it (``temporal=True``) and it runs :func:`run_study`
    on the earlier cohorts, so both live here; the steps that fit nothing are
    :func:`~milestone_discovery.review.split_signup_cohorts` and
    :func:`~milestone_discovery.review.validate_on_later_cohorts`.

    Parameters
    ----------
    dataset : Dataset
        A dated dataset (wide tables have no signup dates).
    config : Config, optional
    split_quantile : float
        Share of the retention population (by signup date) used for fitting.
    progress : bool
        Show progress bars of the fit.

    Returns
    -------
    TemporalValidation

    Raises
    ------
    InsufficientDataError
        For wide tables, or when either side has too few accounts.

    Notes
    -----
    The refit uses at most ``TEMPORAL_REPEATS`` cross-fitting repeats of the
    feature stage (it halves the cost of the check at the default of 4).
    """
    config = config or Config()
    early, split = split_signup_cohorts(dataset, config, split_quantile)
    # The check asks whether the milestones fitted on earlier cohorts hold on later ones, not
    # for the most stable selection: two cross-fitting repeats are enough for the refit.
    refit = copy.deepcopy(config)
    refit.features.n_repeats = min(config.features.n_repeats, TEMPORAL_REPEATS)
    # The check reads the refit's thresholds and milestones, never their CIs or the SHAP
    # column: the fewest bootstrap resamples do.
    refit.features.shap_sample = 0
    refit.maturity.n_bootstrap = refit.journey.n_bootstrap = MIN_BOOTSTRAP
    fitted = run_study(early, refit, progress=progress, temporal=False, secondary=False)
    return validate_on_later_cohorts(fitted.framework, fitted.accounts, dataset, config, split)


def input_fingerprint(path: Path) -> dict:
    """SHA-256 and size of every input file, as recorded in ``run.json``.

    Parameters
    ----------
    path : Path
        A dataset folder (its ``.csv`` and ``.parquet`` files) or one table file.

    Returns
    -------
    dict
        ``{file name: {"sha256": hex digest, "bytes": size}}``, in file name order.
    """
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.iterdir() if p.suffix in (".csv", ".parquet"))
    )
    out = {}
    for f in files:
        digest = hashlib.sha256()
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[f.name] = {"sha256": digest.hexdigest(), "bytes": f.stat().st_size}
    return out


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    names = (
        "milestone_discovery numpy pandas scikit-learn scipy statsmodels shap numba duckdb "
        "pyarrow matplotlib jinja2"
    ).split()
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            out[name] = None
    return out


def stage_tables(study: Study) -> dict[str, pd.DataFrame]:
    """Every stage's tidy tables, by file stem (written to ``RUN/tables/``)."""
    t: dict[str, pd.DataFrame] = {
        "exclusions": study.population.exclusions,
        "population": study.population.summary(),
        "model_metrics": study.features.metrics,
        "maturity_categories": study.maturity.categories.assign(
            features=study.maturity.categories["features"].map(lambda f: "; ".join(f))
        ),
        "maturity_assignments": study.maturity.assignments,
        "maturity_by_count": study.maturity.by_count,
        "funnel": study.funnel,
    }
    if study.maturity.step is not None:
        t["maturity_min_categories_scan"] = study.maturity.step["table"]
    for col, scan in study.population.count_scans.items():
        t[f"count_scan__{col}"] = scan.table
    for name, scan in study.maturity.category_scans.items():
        t[f"maturity_scan__{name}"] = scan.table
    j = study.journey
    for name, obj in (
        ("activation_scan", j.activation),
        ("utilization_scan", j.utilization),
        ("setup_scan", j.setup),
    ):
        if obj is not None:
            t[name] = obj.table
            if obj.curve is not None:  # what "gradual" looks like
                t[name.replace("_scan", "_curve")] = obj.curve
    for name, frame in (
        ("activation_validation", j.activation_validation),
        ("utilization_by_size", j.utilization_by_size),
        ("setup_steps", j.setup_steps),
        ("journey_exclusions", j.exclusions),
    ):
        if frame is not None:
            t[name] = frame
    for result in (study.survival, study.heterogeneity, study.expansion, study.sensitivity):
        if result is not None:
            t.update(result.tables())
    return t


def write_accounts_csv(accounts: pd.DataFrame, path: Path) -> None:
    """Write scored accounts deterministically (dates as ISO, floats at 6 decimals).

    Formula-like text is neutralised and the file replaced atomically
    (see :func:`milestone_discovery.runfolder.write_csv`).

    Parameters
    ----------
    accounts : pandas.DataFrame
        Scored accounts (:func:`~milestone_discovery.scoring.score_accounts`).
    path : Path
        The CSV file to write.
    """
    write_csv(accounts, path, index=False, float_format="%.6g", date_format="%Y-%m-%d")


def discover(
    dataset_path: str | Path,
    out: str | Path,
    config: Config | None = None,
    *,
    progress: bool = True,
    report: bool = True,
    command: list[str] | None = None,
) -> Study:
    """Run the study on a dataset and write the run folder, safely.

    ``out`` is checked before any computation (see
    :func:`milestone_discovery.runfolder.check_output_path`) and locked; the
    outputs are written into a staging folder beside it that replaces ``out``
    as a whole at the end. A failed or interrupted run leaves ``out`` exactly
    as it was; files of an earlier run never survive into the new one.

    Parameters
    ----------
    dataset_path : str or Path
        Dataset folder, or a wide table file when ``config.wide`` is set.
    out : str or Path
        Run folder (created, or replaced as a whole). It must not be, lie inside
        or contain the dataset, and must be new, empty or an earlier run folder.
    config : Config, optional
    progress : bool
        Show progress bars.
    report : bool
        Also write ``report.html``.
    command : list of str, optional
        The command line, recorded in ``run.json``.

    Returns
    -------
    Study

    Raises
    ------
    RunFolderError
        If ``out`` cannot be used or written, or another run is writing there.
    FileAccessError
        If the dataset cannot be read (permission, not a file or folder).
    MilestoneError
        For any other problem of the data or configuration.
    """
    config = config or Config()
    started = time.perf_counter()
    dataset_path = Path(dataset_path)
    with RunFolder(out, inputs=[dataset_path]) as folder:
        try:
            dataset = load_dataset(dataset_path, config)
            fingerprint = input_fingerprint(dataset_path)
        except OSError as exc:
            raise FileAccessError(
                f"cannot read the dataset {exc.filename or dataset_path}: {exc.strerror or exc}"
            ) from exc
        study = run_study(dataset, config, progress=progress)
        staging = folder.path
        tables = stage_tables(study)
        files = dict(zip(unique_slugs(tables), tables, strict=True))  # file stem -> table name
        run = {
            "command": command,
            "dataset": str(dataset_path),
            "config": config.to_dict(),
            "versions": _versions(),
            "input_fingerprint": fingerprint,
            "timings_seconds": {
                **study.timings,
                **{f"features.{k}": v for k, v in study.features.timings.items()},
            },
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "tables": {f"tables/{stem}.csv": name for stem, name in files.items()},
        }

        def write_run() -> None:
            run["timings_seconds"]["total"] = time.perf_counter() - started
            (staging / "run.json").write_text(
                json.dumps(clean_json(run), indent=2) + "\n", encoding="utf-8"
            )

        try:
            study.framework.to_json(staging / "framework.json")
            write_csv(study.features.features, staging / "features.csv", float_format="%.6g")
            write_accounts_csv(study.accounts, staging / "accounts.csv")
            (staging / "tables").mkdir()
            for stem, name in files.items():
                write_csv(tables[name], staging / "tables" / f"{stem}.csv", float_format="%.6g")
            write_run()
            if report:  # built from the run folder's files, as `milestones report RUN` does
                from .report import write_report

                t0 = time.perf_counter()
                write_report(staging)
                study.timings["report"] = run["timings_seconds"]["report"] = (
                    time.perf_counter() - t0
                )
                write_run()
        except OSError as exc:
            raise RunFolderError(
                f"cannot write the run folder --out {out}: "
                f"{exc.filename or staging}: {exc.strerror or exc}"
            ) from exc
    return study
