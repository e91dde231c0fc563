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

import hashlib
import html
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .config import Config
from .data import Dataset, load_dataset
from .errors import FileAccessError, RunFolderError
from .features import FeatureResult, discover_features
from .framework import Framework, clean_json
from .journey import JourneyResult, discover_journey, score_accounts
from .maturity import MaturityResult, discover_maturity
from .population import Population, build_population
from .runfolder import RunFolder, unique_slugs, write_csv

__all__ = ["Study", "run_study", "discover", "build_framework", "funnel_table"]


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

    def _repr_html_(self) -> str:
        parts = ["<h3>Milestone study</h3>"]
        for obj in (self.population, self.features, self.maturity, self.journey):
            parts.append(obj._repr_html_())
        parts.append(
            "<p><strong>Funnel</strong></p>"
            + self.funnel.round(3).to_html(index=False, escape=True)
        )
        return "".join(parts)

    def __repr__(self) -> str:
        return (
            f"Study({html.escape(self.dataset.source)}: {self.population.n_eligible} eligible accounts, "
            f"{len(self.features.selected)} selected features, {len(self.maturity.categories)} categories)"
        )


def _scan_dict(scan, **extra) -> dict:
    return {**extra, **scan.summary()}


def build_framework(
    config: Config,
    population: Population,
    features: FeatureResult,
    maturity: MaturityResult,
    journey: JourneyResult,
    dataset: Dataset,
) -> Framework:
    """Collect the stage results into a :class:`Framework`."""
    jc = config.journey
    feat_cols = [
        "feature",
        "category",
        "status",
        "reason",
        "prevalence",
        "adopters",
        "retention_adopters",
        "retention_non_adopters",
        "lift",
        "phi",
        "raw_or",
        "adj_or",
        "adj_or_low",
        "adj_or_high",
        "adj_p_holm",
        "min_detectable_or",
        "perm_importance",
        "importance_se",
        "importance_q",
        "stability",
        "marginal_importance",
        "shap_mean_abs",
        "impurity_importance_biased",
    ]
    feat = features.features[feat_cols].rename(columns={"perm_importance": "importance"})
    feat = feat.sort_values("feature", kind="stable")
    feature_list = [
        {k: (None if (isinstance(v, float) and pd.isna(v)) else v) for k, v in row.items()}
        for row in feat.to_dict(orient="records")
    ]
    cats = []
    for row in maturity.categories.to_dict(orient="records"):
        entry = {
            "name": row["category"],
            "features": row["features"],
            "min_features": row.get("min_features"),
        }
        if row.get("min_features") is not None and pd.notna(row.get("min_features")):
            scan = maturity.category_scans[row["category"]]
            entry["min_features"] = int(row["min_features"])
            entry["min_features_ci"] = [scan.ci[0], scan.ci[1]]
            entry.update(
                {k: v for k, v in scan.summary().items() if k not in ("threshold", "threshold_ci")}
            )
            entry["share_basic"] = row["share_basic"]
        cats.append(entry)
    overall = maturity.overall
    maturity_dict = {
        "source": maturity.source,
        "categories": cats,
        "min_categories": maturity.min_categories,
        "shape": overall.shape if overall is not None else "none",
        "min_categories_holdout": (
            {k: v for k, v in overall.summary().items() if k not in ("threshold", "threshold_ci")}
            if overall is not None
            else None
        ),
        "min_categories_ci": list(maturity.step["ci"]) if maturity.step else None,
        "min_categories_bootstrap_agreement": maturity.step["bootstrap_agreement"]
        if maturity.step
        else None,
        "min_categories_bootstrap_no_step": maturity.step["bootstrap_no_step"]
        if maturity.step
        else None,
        "share_mature": maturity.share_mature,
        "retention_by_mature_categories": maturity.by_count.to_dict(orient="records"),
        "adjusted_rand_index_catalog_vs_data": maturity.adjusted_rand_index,
        "data_clusters": {"n_clusters": maturity.n_clusters, "silhouette": maturity.silhouette},
        "catalog_disagreements": maturity.disagreements[
            ["feature", "catalog_category", "data_cluster", "cluster_majority_category"]
        ].to_dict(orient="records"),
    }
    if maturity.overall is not None and maturity.min_categories is not None:
        reached = maturity.levels["mature"].to_numpy()
        from .journey import _rr_row

        maturity_dict["mature_vs_not"] = _rr_row(
            "retained", reached, population.retained.to_numpy()
        )
    activation = utilization = setup = None
    if journey.activation is not None:
        activation = _scan_dict(
            journey.activation,
            metric=jc.activation_metric,
            window_days=jc.activation_months * 30,
            months=[0, jc.activation_months - 1],
            outcome=journey.activation.outcome,
        )
        activation["validation"] = journey.activation_validation.to_dict(orient="records")
    if journey.utilization is not None:
        s = journey.utilization.summary()
        utilization = {
            "metric": jc.utilization_metric,
            "per_seat_threshold": s.pop("threshold"),
            "per_seat_threshold_ci": s.pop("threshold_ci"),
            "months": list(jc.utilization_months),
            "outcome": "retention",
            **s,
            "raw_volume_threshold": journey.utilization_raw.threshold,
            "attainment_by_size": journey.utilization_by_size.to_dict(orient="records"),
        }
    if journey.setup_steps is not None:
        table = journey.setup_steps
        setup = {
            "window_days": jc.setup_days,
            "steps": journey.checklist,
            "min_steps": int(journey.setup.threshold) if journey.setup is not None else None,
            "dropped": [
                {"step": r.step, "reason": r.status.replace("dropped_", ""), "detail": r.reason}
                for r in table.itertuples()
                if r.status != "checklist"
            ],
            "table": table.drop(columns=["reason"]).to_dict(orient="records"),
        }
        if journey.setup is not None:
            setup.update(
                {
                    f"min_steps_{k}": v
                    for k, v in journey.setup.summary().items()
                    if k != "threshold"
                }
            )
    m = features.metrics.set_index("model")
    model = {
        "n_accounts": features.n_accounts,
        "covariates": features.covariates,
        "metrics": features.metrics.to_dict(orient="records"),
        "roc_auc_gain_vs_covariates": float(
            m.loc["covariates+features", "roc_auc_gain_vs_covariates"]
        ),
    }
    data = {
        "kind": dataset.kind,
        "accounts": int(len(dataset.accounts)),
        "eligible": population.n_eligible,
        "retention_rate": population.retention_rate,
        "exclusions": {r.reason: int(r.accounts) for r in population.exclusions.itertuples()},
        "journey_exclusions": (
            journey.exclusions.to_dict(orient="records") if journey.exclusions is not None else []
        ),
        "skipped_stages": journey.skipped,
        "notes": list(dataset.notes) + list(maturity.notes),
    }
    return Framework(
        as_of=dataset.as_of.isoformat() if dataset.as_of else None,
        observation_days=config.study.observation_days,
        horizon_days=config.study.horizon_days,
        seed=config.study.seed,
        features=feature_list,
        maturity=maturity_dict,
        activation=activation,
        utilization=utilization,
        setup=setup,
        data=data,
        model=model,
    )


def funnel_table(accounts: pd.DataFrame, framework: Framework) -> pd.DataFrame:
    """The funnel on the retention population, in milestone order.

    One row per stage (``none`` first): accounts that reached the milestone
    (``reached``), those that reached it and every earlier one
    (``reached_in_order``) and the ``conversion`` from the previous stage in
    that sense, accounts whose furthest milestone it is (``at_stage``) and
    their retention with a Wilson 95% CI.
    """
    from . import stats

    elig = accounts[accounts["eligible"].astype(bool)]
    milestones = [s for s in ("setup", "activation", "utilization", "mature") if s in elig.columns]
    rows, still, prev = [], pd.Series(True, index=elig.index), len(elig)
    for name in ["none"] + milestones:
        stage = "maturity" if name == "mature" else name
        hit = elig[name].astype(bool) if name != "none" else pd.Series(True, index=elig.index)
        still = still & hit
        in_order = int(still.sum())
        member = elig["stage"] == stage
        n, kept = int(member.sum()), int(elig.loc[member, "retained"].astype(float).sum())
        lo, hi = stats.wilson_interval(kept, n)
        rows.append(
            {
                "stage": stage,
                "reached": int(hit.sum()),
                "share_reached": float(hit.mean()) if len(elig) else float("nan"),
                "reached_in_order": in_order,
                "conversion": in_order / prev if prev else float("nan"),
                "at_stage": n,
                "retention": kept / n if n else float("nan"),
                "retention_low": float(lo),
                "retention_high": float(hi),
            }
        )
        prev = in_order
    return pd.DataFrame(rows)


def run_study(
    dataset: Dataset,
    config: Config | None = None,
    *,
    progress: bool = True,
    temporal: bool | None = None,
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

    Returns
    -------
    Study
    """
    config = config or Config()
    temporal = config.study.temporal_validation if temporal is None else temporal
    timings = {}
    t0 = time.perf_counter()
    population = build_population(dataset, config)
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
    if temporal:
        from .errors import InsufficientDataError
        from .review import temporal_validation

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
    )


def _fingerprint(path: Path) -> dict:
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

    names = [
        "milestone_discovery",
        "numpy",
        "pandas",
        "scikit-learn",
        "scipy",
        "statsmodels",
        "shap",
        "numba",
        "duckdb",
        "pyarrow",
        "matplotlib",
        "jinja2",
    ]
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
    for name, frame in (
        ("activation_validation", j.activation_validation),
        ("utilization_by_size", j.utilization_by_size),
        ("setup_steps", j.setup_steps),
        ("journey_exclusions", j.exclusions),
    ):
        if frame is not None:
            t[name] = frame
    return t


def write_accounts_csv(accounts: pd.DataFrame, path: Path) -> None:
    """Write scored accounts deterministically (dates as ISO, floats at 6 decimals).

    Formula-like text is neutralised and the file replaced atomically
    (see :func:`milestone_discovery.runfolder.write_csv`).

    Parameters
    ----------
    accounts : pandas.DataFrame
        Scored accounts (:func:`~milestone_discovery.journey.score_accounts`).
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
            fingerprint = _fingerprint(dataset_path)
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
