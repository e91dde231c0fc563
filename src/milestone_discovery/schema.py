"""The contract of ``framework.json``: a JSON Schema (draft 2020-12) and its check.

:func:`build_schema` derives the schema from the package's vocabularies (feature
``STATUSES``, threshold shapes, expansion labels) and ``SCHEMA_VERSION``. It
ships as ``schemas/framework.schema.json`` (a test keeps the two equal;
regenerate with ``python -m milestone_discovery.schema``), so ``milestones
schema`` and ``milestones schema --check FILE`` (:func:`validate_framework`)
load no numerical library.

The top level is closed; the sections are open (a key added inside a section
does not break the contract) with their required keys typed. A statistic is a
number or null (NaN is written as null); a count is an integer. The secondary
analyses (``survival``, ``heterogeneity``, ``expansion``, ``sensitivity``,
``validation.temporal``) are their result or ``{"skipped": reason}``. Version 1
files still load (:meth:`milestone_discovery.framework.Framework.from_dict`);
the schema describes version 2.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_FILE", "build_schema", "load_schema", "schema_text", "validate_framework"]

#: The packaged schema, relative to the package.
SCHEMA_FILE = "schemas/framework.schema.json"

#: Shapes of a threshold's effect (see :func:`milestone_discovery.thresholds.threshold_shape`).
SHAPES = ["step", "gradual", "none"]
#: Roles of an account factor (see :func:`milestone_discovery.covariates.factor_effects`).
FACTOR_ROLES = ["size", "plan", "covariate", "choice"]
#: Statuses of a setup step (see :mod:`milestone_discovery.journey`).
SETUP_STATUSES = ["checklist", "dropped_no_effect", "dropped_routine", "dropped_niche"]

# ----------------------------------------------------------------------------- building blocks
STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
#: a statistic: NaN and infinities are written as null
NUM = {"type": ["number", "null"]}
STR_OR_NULL = {"type": ["string", "null"]}
INT_OR_NULL = {"type": ["integer", "null"]}
CI = {"$ref": "#/$defs/ci"}
STRINGS = {"type": "array", "items": STR}
SHAPE = {"$ref": "#/$defs/shape"}


def _each(schema: dict, names: str) -> dict:
    """``{name: schema}`` for each of the space-separated ``names``."""
    return dict.fromkeys(names.split(), schema)


def _obj(props: dict, required: list[str] | None = None, *, closed: bool = False, **kw) -> dict:
    """An object with ``props``; every prop required unless ``required`` says which."""
    out: dict[str, Any] = {"type": "object", **kw, "properties": props}
    out["required"] = list(props) if required is None else required
    if closed:
        out["additionalProperties"] = False
    return out


def _list(items: dict, **kw) -> dict:
    return {"type": "array", "items": items, **kw}


def _map(values: dict, **kw) -> dict:
    """An object of any keys (names from the data) whose values are ``values``."""
    return {"type": "object", "additionalProperties": values, **kw}


def _nullable(schema: dict) -> dict:
    """``schema`` or null (as if/then/else: the errors of a non-null value stay precise)."""
    return {"if": {"type": "null"}, "then": True, "else": schema}


def _skippable(ref: str) -> dict:
    """The section ``ref``, or ``{"skipped": reason}`` when it did not run."""
    return {
        "if": {"type": "object", "required": ["skipped"]},
        "then": {"$ref": "#/$defs/skipped"},
        "else": {"$ref": ref},
    }


def _scan_stats(prefix: str = "") -> dict:
    """A threshold scan's held-out statistics (``ThresholdScan.summary`` without the threshold)."""
    props = {
        **_each(INT, "n_accounts n_holdout"),
        **_each(NUM, "share_above outcome_rate_above outcome_rate_below lift phi"),
        **_each(CI, "outcome_rate_above_ci outcome_rate_below_ci lift_ci"),
        **_each(NUM, "bootstrap_agreement step_p_value association_p_value ci_level"),
        "shape": SHAPE,
    }
    return {f"{prefix}{k}": v for k, v in props.items()}


#: a threshold milestone: the threshold, its CI and its held-out statistics
THRESHOLD = {"threshold": NUM, "threshold_ci": CI, **_scan_stats()}

_RATE_COMPARISON = _obj(
    {
        "outcome": STR,
        **_each(INT, "accounts_reached accounts_not_reached"),
        **_each(NUM, "rate_reached rate_reached_low rate_reached_high rate_not_reached"),
        **_each(NUM, "rate_not_reached_low rate_not_reached_high"),
        **_each(NUM, "relative_risk relative_risk_low relative_risk_high"),
    },
    description="Outcome rate of the accounts that reached a milestone vs the others "
    "(Wilson intervals) and their risk ratio (Katz interval).",
)

_METRICS_ROW = _obj(
    {
        "model": STR,
        "splits": INT,
        **_each(NUM, "roc_auc_mean roc_auc_std pr_auc_mean pr_auc_std"),
        **_each(NUM, "brier_mean brier_std log_loss_mean log_loss_std"),
    },
    description="Cross-fitted held-out scores of one model.",
)

_LEVEL = _obj(
    {
        "level": STR,
        **_each(INT, "accounts retained"),
        **_each(NUM, "share retention retention_low retention_high phi"),
        "reference": BOOL,
        **_each(NUM, "raw_or raw_or_low raw_or_high adj_or adj_or_low adj_or_high adj_p"),
    }
)

_FACTOR = {
    "type": "object",
    "description": "An account factor (size, plan, another covariate, or a wide table's "
    "choice): its own retention table and effect, or why it is absent.",
    "properties": {
        **_each(STR, "name label absent adjusted_for"),
        "role": {"enum": FACTOR_ROLES},
        "present": BOOL,
        "addons": STRINGS,
        **_each(STR_OR_NULL, "reference best_level worst_level"),
        **_each(NUM, "chi2_p cramers_v"),
        "levels": _list(_LEVEL),
    },
    "required": ["name", "label", "role", "present"],
    "if": {"properties": {"present": {"const": True}}},
    "then": {"required": ["adjusted_for", "reference", "levels"]},
    "else": {"required": ["absent"]},
}


def _milestone_sections(statuses: list[str], labels: list[str]) -> dict[str, dict]:
    """Features, maturity and the journey milestones."""
    feature = _obj(
        {
            "feature": STR,
            **_each(STR_OR_NULL, "category reason segment_specific"),
            "status": {"enum": statuses},
            "adopters": INT,
            **_each(NUM, "prevalence retention_adopters retention_non_adopters lift phi"),
            **_each(NUM, "raw_or adj_or adj_or_low adj_or_high adj_p_holm min_detectable_or"),
            **_each(NUM, "importance importance_se importance_q stability"),
            **_each(NUM, "marginal_importance shap_mean_abs impurity_importance_biased"),
            "expansion_status": {"enum": [*statuses, None]},
            "milestone_for": {"enum": [*labels, None]},
            "window_share": NUM,
        },
        required=["feature", "category", "status", "reason", "prevalence", "adopters", "lift"],
        description="One feature: its status, the reason, and its statistics (``importance`` "
        "is the held-out conditional permutation importance). The secondary analyses add "
        "``expansion_status``/``milestone_for``, ``segment_specific`` and ``window_share``.",
    )
    category = _obj(
        {
            "name": STR,
            "features": STRINGS,
            "min_features": INT_OR_NULL,
            "min_features_ci": CI,
            "share_basic": NUM,
            **_scan_stats(),
        },
        required=["name", "features", "min_features"],
        description="A maturity category: mature with at least ``min_features`` of "
        "``features`` (null: no threshold), with the held-out statistics of that threshold.",
    )
    by_count = _obj(
        {
            **_each(INT, "mature_categories accounts"),
            **_each(NUM, "share retention retention_low retention_high"),
        }
    )
    disagreement = _obj(
        {
            "feature": STR,
            **_each(STR_OR_NULL, "catalog_category data_cluster cluster_majority_category"),
        }
    )
    maturity = _obj(
        {
            "source": STR,
            "categories": _list(category),
            "min_categories": INT_OR_NULL,
            "shape": SHAPE,
            "min_categories_holdout": _nullable(_obj(_scan_stats())),
            "min_categories_ci": _nullable(CI),
            **_each(NUM, "min_categories_bootstrap_agreement min_categories_bootstrap_no_step"),
            **_each(NUM, "share_mature adjusted_rand_index_catalog_vs_data"),
            "retention_by_mature_categories": _list(by_count),
            "data_clusters": _obj({"n_clusters": INT_OR_NULL, "silhouette": NUM}),
            "catalog_disagreements": _list(disagreement),
            "mature_vs_not": {"$ref": "#/$defs/rate_comparison"},
        },
        required=["source", "categories", "min_categories", "shape", "share_mature"],
        description="Maturity: mature overall in at least ``min_categories`` categories.",
    )
    activation = _obj(
        {
            **_each(STR, "metric outcome"),
            "window_days": INT,
            "months": _list(INT, minItems=2, maxItems=2),
            **THRESHOLD,
            "validation": _list({"$ref": "#/$defs/rate_comparison"}),
        },
        required=["metric", "window_days", "months", "outcome", *THRESHOLD],
        description="Activation: at least ``threshold`` of ``metric`` in ``months`` "
        "(first and last, from 0).",
    )
    scan = _scan_stats()
    attainment = _obj(
        {"size_band": STR, "accounts": INT, **_each(NUM, "attained_raw attained_per_seat")}
    )
    utilization = _obj(
        {
            **_each(STR, "metric outcome"),
            "per_seat_threshold": NUM,
            "per_seat_threshold_ci": CI,
            "months": _list(INT),
            **scan,
            "raw_volume_threshold": NUM,
            "attainment_by_size": _list(attainment),
        },
        required=["metric", "per_seat_threshold", "per_seat_threshold_ci", "months", *scan],
        description="Utilization: at least ``per_seat_threshold`` of ``metric`` per seat "
        "per month.",
    )
    setup_scan = {"min_steps_threshold_ci": CI, **_scan_stats("min_steps_")}
    dropped_reasons = [s.removeprefix("dropped_") for s in SETUP_STATUSES]
    step = _obj(
        {"step": STR, "prevalence": NUM, "completers": INT, "status": {"enum": SETUP_STATUSES}},
        description="A setup step's effect on activation (risk ratio with CIs).",
    )
    setup = _obj(
        {
            "window_days": INT,
            "steps": STRINGS,
            "min_steps": INT_OR_NULL,
            "dropped": _list(
                _obj({"step": STR, "reason": {"enum": dropped_reasons}, "detail": STR})
            ),
            "table": _list(step),
            **setup_scan,
        },
        required=["window_days", "steps", "min_steps", "dropped", "table"],
        description="Setup: at least ``min_steps`` of the checklist ``steps`` within "
        "``window_days``; the threshold's statistics are prefixed ``min_steps_``.",
        **{
            "if": {"properties": {"min_steps": INT}, "required": ["min_steps"]},
            "then": {"required": list(setup_scan)},
        },
    )
    count = {
        "type": "object",
        "description": "A wide table's count column: the ``>= threshold`` flag chosen for it "
        "(the feature ``column>=threshold``), or why none was usable.",
        "properties": {
            "column": STR,
            "feature": STR_OR_NULL,
            "status": {"enum": [*statuses, "no_threshold", None]},
            **_each(STR, "metric outcome skipped"),
            **THRESHOLD,
        },
        "required": ["column", "feature", "status"],
        "if": {"required": ["skipped"]},
        "then": {"properties": {"feature": {"type": "null"}, "status": {"const": "no_threshold"}}},
        "else": {"required": ["metric", "outcome", *THRESHOLD]},
    }
    return {
        "feature": feature,
        "maturity": maturity,
        "activation": activation,
        "utilization": utilization,
        "setup": setup,
        "count": count,
    }


def _secondary_sections(statuses: list[str], labels: list[str]) -> dict[str, dict]:
    """Survival, heterogeneity, expansion, window sensitivity, temporal validation."""
    group = _obj({"share": NUM, "ci": CI})
    survival_row = _obj(
        {
            "milestone": STR,
            **_each(INT, "accounts events"),
            **_each(NUM, "reached_share hazard_ratio p_value ph_p_value"),
            "ci": CI,
            "median_days": _obj(_each(NUM, "reached not_reached")),
            "reason": STR_OR_NULL,
        },
        patternProperties={"^alive_": _obj({"reached": group, "not_reached": group})},
    )
    survival = _obj(
        {
            **_each(INT, "landmark_days accounts events fixed_horizon_accounts horizon_days"),
            **_each(STR, "as_of model ph_test"),
            "alpha": NUM,
            "excluded": _map(INT),
            "adjusted_for": STRINGS,
            "milestones": _list(survival_row),
        },
        description="Time to churn from the end of the observation window, per milestone: "
        "Cox hazard ratio with CI and Kaplan-Meier summaries (``alive_<follow-up>``).",
    )
    level = _obj(
        {
            "level": STR,
            **_each(INT, "accounts adopters"),
            **_each(NUM, "odds_ratio p_value"),
            "ci": CI,
            "significant": BOOL,
        }
    )
    segment_test = _obj(
        {
            **_each(NUM, "statistic p_value p_adjusted"),
            "heterogeneous": BOOL,
            "levels_tested": INT,
            "significant_levels": STRINGS,
            "reason": STR_OR_NULL,
            "levels": _list(level),
        }
    )
    effect = _obj(
        {
            "feature": STR,
            "odds_ratio": NUM,
            "ci": CI,
            "segment_specific": BOOL,
            **_each(STR_OR_NULL, "segment level"),
            "by": _map(segment_test),
        }
    )
    heterogeneity = _obj(
        {
            **_each(STR, "test effect multiplicity"),
            "alpha": NUM,
            **_each(STRINGS, "segments notes"),
            **_each(INT, "min_level_accounts accounts"),
            "features": _list(effect),
        },
        description="Each selected feature's and milestone's effect per segment (plan, size "
        "band) with a test of homogeneity.",
    )
    expansion_feature = _obj(
        {
            "feature": STR,
            **_each(STR_OR_NULL, "category reason"),
            "retention": {"enum": [*statuses, None]},
            "expansion": {"enum": statuses},
            "label": {"enum": [*labels, None]},
            "adopters": INT,
            **_each(NUM, "prevalence expansion_adopters expansion_non_adopters lift"),
            **_each(NUM, "adj_or adj_or_low adj_or_high adj_p_holm"),
            **_each(NUM, "importance importance_se importance_q"),
        }
    )
    expansion_model = _obj(
        {
            "n_repeats": INT,
            "metrics": _list({"$ref": "#/$defs/metrics_row"}),
            "roc_auc_gain_vs_covariates": NUM,
        }
    )
    expansion = _obj(
        {
            "outcome": {"const": "expansion"},
            **_each(STR, "definition adjusted_for"),
            **_each(INT, "accounts expanding"),
            "expansion_rate": NUM,
            "excluded": _map(INT),
            "model": expansion_model,
            "labels": _obj(_each(STR, " ".join(labels))),
            "milestones": _obj(_each(STRINGS, " ".join(labels))),
            "features": _list(expansion_feature),
            "notes": STRINGS,
        },
        description="The feature stage with expansion as the outcome, among retained accounts: "
        "each feature's ``retention`` and ``expansion`` status and its ``label``.",
    )
    setting = _obj(
        {
            "setting": STR,
            **_each(INT, "observation_days horizon_days"),
            "main": BOOL,
            "status": STR,
            **_each(INT_OR_NULL, "eligible selected"),
            "retention_rate": NUM,
            "reason": STR_OR_NULL,
        }
    )
    window_feature = _obj(
        {
            "feature": STR,
            "selected_main": {"type": ["boolean", "null"]},
            "share": NUM,
            **_each(INT, "selected_in settings_run"),
            **_each(_map(NUM), "by_window by_horizon"),
            "selected_at": STRINGS,
            **_each(BOOL, "window_dependent missed_by_rerun"),
            "verdict": STR,
        }
    )
    sensitivity = _obj(
        {
            "main": STR,
            "n_repeats": INT,
            "stable_share": NUM,
            **_each(_list(INT), "observation_days horizon_days"),
            "settings": _list(setting),
            **_each(STRINGS, "stable window_dependent"),
            "calibration": _obj({"note": STR, "lost_to_repeats": _nullable(STRINGS)}),
            "features": _list(window_feature),
        },
        description="The feature stage at other observation windows and horizons: per feature "
        "the share of settings selecting it.",
    )
    lift = _obj(
        {
            "milestone": STR,
            **_each(NUM, "threshold fit_lift test_lift test_share"),
            **_each(CI, "fit_lift_ci test_lift_ci"),
            "test_accounts": INT,
        }
    )
    temporal = _obj(
        {
            **_each(STR, "split_date outcome"),
            **_each(INT, "train_accounts test_accounts"),
            "milestones": _list(lift),
        },
        description="The framework refitted on earlier signup cohorts, its milestones' lifts "
        "on the later ones.",
    )
    return {
        "survival": survival,
        "heterogeneity": heterogeneity,
        "expansion": expansion,
        "sensitivity": sensitivity,
        "temporal": temporal,
    }


def build_schema() -> dict:
    """The JSON Schema of ``framework.json`` (the current :data:`SCHEMA_VERSION`).

    Returns
    -------
    dict
        A draft 2020-12 schema; ``json.dumps`` of it is the packaged file.
    """
    from .expansion import LABELS
    from .features import STATUSES
    from .framework import SCHEMA_VERSION

    statuses, labels = list(STATUSES), list(LABELS)
    data = _obj(
        {
            "kind": {"enum": ["tables", "wide"]},
            **_each(INT, "accounts eligible"),
            "retention_rate": NUM,
            "exclusions": _map(INT, description="reason -> accounts left out"),
            "journey_exclusions": _list(_obj({"analysis": STR, "reason": STR, "accounts": INT})),
            "skipped_stages": _map(STR, description="journey stage -> why it was skipped"),
            "notes": STRINGS,
        },
        description="The data the framework was fitted on.",
    )
    model = _obj(
        {
            "n_accounts": INT,
            "covariates": STRINGS,
            **_each(STR, "adjusted_for baseline"),
            "adjusted": BOOL,
            "metrics": _list({"$ref": "#/$defs/metrics_row"}),
            "roc_auc_gain_vs_covariates": NUM,
        },
        description="The feature stage's model: what it adjusts for and its held-out scores.",
    )
    covariates = _obj(
        {"adjusted_for_in_features": STR, "factors": _list({"$ref": "#/$defs/factor"})},
        description="Plan, size and other account attributes, each with its own retention "
        "table and effect.",
    )
    props = {
        "schema_version": {"const": SCHEMA_VERSION},
        "as_of": {**STR_OR_NULL, "description": "analysis date of the data (ISO 8601)"},
        **_each({**INT, "minimum": 1}, "observation_days horizon_days"),
        "seed": {**INT, "minimum": 0},
        "data": data,
        "model": model,
        "features": _list({"$ref": "#/$defs/feature"}),
        "maturity": {"$ref": "#/$defs/maturity"},
        **{k: _nullable({"$ref": f"#/$defs/{k}"}) for k in ("activation", "utilization", "setup")},
        "covariates": _nullable(covariates),
        "choices": _nullable(_list({"$ref": "#/$defs/factor"})),
        "counts": _nullable(_list({"$ref": "#/$defs/count"})),
        **{
            k: _nullable(_skippable(f"#/$defs/{k}"))
            for k in ("survival", "heterogeneity", "expansion", "sensitivity")
        },
        "validation": _nullable(_obj({"temporal": _skippable("#/$defs/temporal")}, [])),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:milestone-discovery:framework:{SCHEMA_VERSION}",
        "title": "milestone_discovery framework.json",
        "description": "Everything a `milestones discover` study decided: feature statuses, "
        "maturity categories, journey milestones with their statistics, and the secondary "
        "analyses. Written by milestone_discovery.framework_builder.build_framework; read with "
        "milestone_discovery.Framework.from_json.",
        **_obj(props, closed=True),
        "$defs": {
            "ci": _list(NUM, minItems=2, maxItems=2, description="[low, high]; null: unknown"),
            "shape": {"enum": SHAPES, "description": "step, gradual (more is better), or none"},
            "skipped": _obj({"skipped": STR}, closed=True, description="why it did not run"),
            "rate_comparison": _RATE_COMPARISON,
            "metrics_row": _METRICS_ROW,
            "factor": _FACTOR,
            **_milestone_sections(statuses, labels),
            **_secondary_sections(statuses, labels),
        },
    }


def schema_text() -> str:
    """The packaged schema file's text (what ``milestones schema`` prints)."""
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@cache
def load_schema() -> dict:
    """The packaged schema (equal to :func:`build_schema`, without importing the stages)."""
    return json.loads(schema_text())


def validate_framework(data: Any) -> list[tuple[str, str]]:
    """Check a parsed ``framework.json`` against the schema.

    Parameters
    ----------
    data : object
        The parsed JSON (``json.load`` of the file, or ``Framework.to_dict()``).

    Returns
    -------
    list of (str, str)
        ``(json_path, message)`` of every error, sorted by path (``$`` is the
        top level); empty when the file is valid.
    """
    from jsonschema import Draft202012Validator

    schema = load_schema()
    current = schema["properties"]["schema_version"]["const"]
    version = data.get("schema_version") if isinstance(data, dict) else None
    old = type(version) is int and version == 1
    errors = []
    for error in Draft202012Validator(schema).iter_errors(data):
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        if old and error.json_path == "$.schema_version":
            message = (
                f"{current} was expected: a version 1 file still loads (missing sections read "
                "as null) but predates this schema; load and save it to upgrade it"
            )
        errors.append((error.json_path, message))
    return sorted(set(errors))


def write_schema_file() -> Path:
    """Write :func:`build_schema` to the packaged file; its path."""
    target = Path(__file__).parent / SCHEMA_FILE
    target.write_text(json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    return target


if __name__ == "__main__":  # pragma: no cover - regenerates the packaged schema
    print(f"wrote {write_schema_file()}")
