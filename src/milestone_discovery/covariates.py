"""What the account attributes say: covariates and choices, each with its own effect.

Plan, company size (or seats, or text size bands) and a wide table's
``covariates`` columns (e.g. contract type) are adjusted for in every
feature effect; a wide table's expanded columns are *choices* (alternatives
such as an internet type), adjusted for too and never milestones. Adjusting
for a factor hides it from the feature tables, so each one also gets its own
table here: retention per level with a Wilson interval, the odds ratio of
each level against the most common one (raw, and adjusted by
Mantel-Haenszel for the *other* factors: never for feature use, which may be
how the factor acts), each level against the rest (``phi``), and the
factor's overall association with retention (chi-square test, Cramér's V).

:func:`factor_effects` returns plain dicts, written to ``framework.json`` as
its ``covariates`` and ``choices`` sections.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from . import stats
from .population import Population, band_order

__all__ = ["factor_effects", "factor_table"]


def _factors(population: Population) -> list[dict]:
    """Every factor of the population: name, plain label, role, values or why absent."""
    seg = population.segments
    labels = population.labels or {}
    out = []
    size_varies = seg["size_stratum"].nunique() > 1
    out.append(
        {
            "name": "size",
            "label": labels.get("size", "company size"),
            "role": "size",
            "values": seg["size_band"].astype(str) if size_varies else None,
            "absent": None if size_varies else "no company size or seats column (or a single size)",
        }
    )
    plan_varies = seg["plan"].nunique() > 1
    no_plan = (seg["plan"].astype(str) == "unknown").all()
    out.append(
        {
            "name": "plan",
            "label": labels.get("plan", "plan"),
            "role": "plan",
            "values": seg["plan"].astype(str) if plan_varies else None,
            "absent": None
            if plan_varies
            else ("no plan column" if no_plan else "every account has the same plan"),
        }
    )
    factors = population.factors if population.factors is not None else pd.DataFrame()
    for col in factors.columns:
        values = factors[col].reindex(population.flags.index).astype(str)
        varies = values.nunique() > 1
        out.append(
            {
                "name": col,
                "label": col,
                "role": population.factor_roles.get(col, "covariate"),
                "values": values if varies else None,
                "absent": None if varies else f"every account has the same {col}",
            }
        )
    return out


def _level_order(name: str, values: pd.Series) -> list[str]:
    """Size bands by their lower bound; other levels most accounts first."""
    if name == "size":
        return band_order(values)
    counts = values.value_counts()
    return sorted(counts.index, key=lambda v: (-counts[v], v))


def factor_table(
    values: pd.Series,
    retained: pd.Series,
    strata: pd.Series | None,
    *,
    order: list[str] | None = None,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, dict]:
    """Retention per level of one factor and each level's odds ratio vs the reference.

    Parameters
    ----------
    values : pandas.Series
        The level of each account (text).
    retained : pandas.Series
        Bool, aligned with ``values``.
    strata : pandas.Series or None
        Mantel-Haenszel stratum of each account (the other factors); ``None``
        when nothing else is known (no adjusted odds ratio then).
    order : list of str, optional
        Level order (default: most accounts first). The reference is the
        level with the most accounts.
    alpha : float
        1 - CI level.

    Returns
    -------
    table : pandas.DataFrame
        One row per level: ``level``, ``accounts``, ``share``, ``retained``,
        ``retention`` with ``retention_low``/``retention_high`` (Wilson),
        ``phi`` (this level vs the rest), ``raw_or`` with CI and (when
        ``strata`` is given) ``adj_or`` with CI and ``adj_p``, each against the
        ``reference`` level (1 for the reference itself).
    overall : dict
        ``reference``, ``chi2_p`` (independence of level and retention),
        ``cramers_v``, ``best_level`` (highest retention) and ``worst_level``.
    """
    v = values.astype(str).to_numpy()
    y = retained.to_numpy(dtype=bool)
    counts = pd.Series(v).value_counts()
    levels = order or sorted(counts.index, key=lambda x: (-counts[x], x))
    levels = [lv for lv in levels if lv in counts.index]
    reference = sorted(counts.index, key=lambda x: (-counts[x], x))[0]
    rows = []
    for level in levels:
        member = v == level
        n, kept = int(member.sum()), int(y[member].sum())
        lo, hi = stats.wilson_interval(kept, n, alpha)
        row = {
            "level": level,
            "accounts": n,
            "share": n / len(v),
            "retained": kept,
            "retention": kept / n if n else np.nan,
            "retention_low": float(lo),
            "retention_high": float(hi),
            "phi": float(stats.phi_coefficient(member[:, None], y)[0]),
            "reference": level == reference,
        }
        if level == reference:
            row.update(raw_or=1.0, raw_or_low=np.nan, raw_or_high=np.nan)
            if strata is not None:
                row.update(adj_or=1.0, adj_or_low=np.nan, adj_or_high=np.nan, adj_p=np.nan)
        else:
            pair = member | (v == reference)
            x = member[pair][:, None]
            raw, raw_lo, raw_hi = stats.odds_ratio(x, y[pair], alpha)
            row.update(
                raw_or=float(raw[0]), raw_or_low=float(raw_lo[0]), raw_or_high=float(raw_hi[0])
            )
            if strata is not None:
                mh = stats.mantel_haenszel(x, y[pair], strata.to_numpy()[pair], alpha)
                row.update(
                    adj_or=float(mh["or_mh"].iloc[0]),
                    adj_or_low=float(mh["or_low"].iloc[0]),
                    adj_or_high=float(mh["or_high"].iloc[0]),
                    adj_p=float(mh["p_value"].iloc[0]),
                )
        rows.append(row)
    table = pd.DataFrame(rows)
    crosstab = pd.crosstab(v, y).to_numpy()
    chi2_p, cramers_v = np.nan, np.nan
    if crosstab.shape[0] > 1 and crosstab.shape[1] > 1:
        chi2, chi2_p, _, _ = _st.chi2_contingency(crosstab, correction=False)
        cramers_v = float(np.sqrt(chi2 / (len(v) * (min(crosstab.shape) - 1))))
    ranked = table.dropna(subset=["retention"]).sort_values(
        ["retention", "level"], ascending=[False, True]
    )
    overall = {
        "reference": reference,
        "chi2_p": float(chi2_p),
        "cramers_v": float(cramers_v),
        "best_level": ranked["level"].iloc[0] if len(ranked) else None,
        "worst_level": ranked["level"].iloc[-1] if len(ranked) else None,
    }
    return table, overall


def _join(parts: list[str]) -> str:
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def factor_effects(population: Population, alpha: float = 0.05) -> dict:
    """Each covariate's and each choice's own retention table and effect.

    Parameters
    ----------
    population : Population
    alpha : float
        1 - CI level.

    Returns
    -------
    dict
        ``{"covariates": [...], "choices": [...]}``: one entry per factor with
        ``name``, ``label``, ``role`` (``size``, ``plan``, ``covariate`` or
        ``choice``), and either ``present: false`` with ``absent`` (why) or
        ``levels`` (see :func:`factor_table`), ``reference``, ``chi2_p``,
        ``cramers_v``, ``best_level``, ``worst_level`` and ``adjusted_for``
        (plain words: the other factors, or ``"nothing"`` when there is none,
        in which case there is no adjusted odds ratio). Covariates are sorted
        as size, plan, then the config's order; choices in the config's order.
        For a choice, ``addons`` lists its levels that are features.
    """
    factors = _factors(population)
    present = [f for f in factors if f["values"] is not None]
    y = population.retained
    seg = population.segments
    out: dict[str, list] = {"covariates": [], "choices": []}
    for f in factors:
        entry = {"name": f["name"], "label": f["label"], "role": f["role"]}
        if f["role"] == "choice":
            levels = population.choices.get(f["name"], [])
            entry["addons"] = [a.partition("=")[2] for a in population.addons if a in levels]
        if f["values"] is None:
            entry.update(present=False, absent=f["absent"])
            out["choices" if f["role"] == "choice" else "covariates"].append(entry)
            continue
        others = [g for g in present if g is not f]
        strata = None
        if others:
            cols = [
                seg["size_stratum"].astype(str) if g["name"] == "size" else g["values"]
                for g in others
            ]
            text = [c.astype(str) for c in cols]
            strata = text[0].str.cat(text[1:], sep="|") if len(text) > 1 else text[0]
        table, overall = factor_table(
            f["values"], y, strata, order=_level_order(f["name"], f["values"]), alpha=alpha
        )
        entry.update(
            present=True,
            adjusted_for=_join([g["label"] for g in others]) if others else "nothing",
            **overall,
            levels=table.to_dict(orient="records"),
        )
        out["choices" if f["role"] == "choice" else "covariates"].append(entry)
    return out
