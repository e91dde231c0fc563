"""How far a study recovered a scenario's planted truth.

One function, :func:`recovery`, used by the scenario benchmark and the
slow acceptance tests alike, so both judge a study by the same rules.
"""

from __future__ import annotations

import math

from .truth import planted_maturity

__all__ = ["TRAP_ROLES", "recovery"]

#: planted roles that must never be selected
TRAP_ROLES = frozenset(
    {"ubiquitous", "niche", "segment", "confounded", "leaky", "negative", "survivor"}
)


def recovery(study, truth: dict) -> dict:
    """Compare a study's findings with the planted truth.

    Parameters
    ----------
    study : Study
        From :func:`~milestone_discovery.run_study` on the scenario's data.
    truth : dict
        ``SyntheticDataset.truth`` of the same data.

    Returns
    -------
    dict
        ``selected`` (count), ``drivers`` (planted count), ``f1`` (selected
        vs planted drivers; NaN when either is empty), ``traps`` (selected
        trap features), ``others`` (other selected non-drivers, as
        ``name(role)``), ``shape`` and ``planted_shape`` (``activation``,
        ``utilization``, ``maturity``: found and planted), ``m`` and
        ``planted_m``, ``kappa`` (Cohen's kappa of "mature overall" against
        the planted rule, NaN where no step is planted).
    """
    from sklearn.metrics import cohen_kappa_score

    role = {f: spec["role"] for f, spec in truth["features"].items()}
    drivers = {f for f, r in role.items() if r == "driver"}
    chosen = set(study.features.selected)
    f1 = (
        2 * len(chosen & drivers) / (len(chosen) + len(drivers)) if drivers and chosen else math.nan
    )
    fw = study.framework
    found = {
        "activation": fw.activation["shape"] if fw.activation else "-",
        "utilization": fw.utilization["shape"] if fw.utilization else "-",
        "maturity": fw.maturity.get("shape", "-"),
    }
    kappa = math.nan
    if truth.get("min_categories"):
        planted = planted_maturity(study.population.flags, truth)["mature"]
        mature = study.maturity.levels["mature"].reindex(planted.index)
        kappa = float(cohen_kappa_score(planted, mature))
    return {
        "selected": len(chosen),
        "drivers": len(drivers),
        "f1": f1,
        "traps": sorted(f for f in chosen if role.get(f) in TRAP_ROLES),
        "others": sorted(
            f"{f}({role.get(f)})" for f in chosen - drivers if role.get(f) not in TRAP_ROLES
        ),
        "shape": found,
        "planted_shape": dict(truth.get("shape", {})),
        "m": fw.min_categories,
        "planted_m": truth.get("min_categories"),
        "kappa": kappa,
    }
