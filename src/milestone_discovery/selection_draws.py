"""The uncertainty of feature selection, as draws of the selected set.

A threshold chosen on the selected features (``m``, the number of mature
categories) is uncertain for two reasons: the accounts (a bootstrap of them
re-chooses every ``k`` and ``m``) and *which* features were selected. The
second is carried by redrawing the selection: each candidate feature's two
test statistics are asymptotically normal with unit variance around their
observed values, so a draw perturbs them (``importance + se * Z`` and the
Mantel-Haenszel ``z + Z'``, independent standard normals), re-applies the
multiplicity adjustment across the candidates and the same decision rule as
:mod:`~milestone_discovery.features` (``importance_q < alpha``, equivalent
odds ratio at least ``min_relevant_or``, adjusted odds ratio above 1 at
``alpha``). A feature selected with ``q`` near ``alpha`` is then absent from
about half of the draws; one far from the line is in nearly all or none.

This is a parametric bootstrap of the decision given the fitted forests:
refitting the forests per draw would cost a whole feature stage each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from . import stats
from .config import FeatureConfig

__all__ = ["draw_selections"]

#: Features that may never be selected, whatever the draw (screened on their own terms)
_NEVER = ("dropped_leaky", "dropped_ubiquitous", "dropped_niche", "dropped_segment")


def draw_selections(
    features: pd.DataFrame, cfg: FeatureConfig, n_draws: int, seed: int
) -> pd.DataFrame:
    """Redraws of the selected set (see the module docstring).

    Parameters
    ----------
    features : pandas.DataFrame
        ``FeatureResult.features``: ``feature``, ``status``, ``importance``,
        ``importance_se``, ``importance_q``, ``equivalent_or``, ``adj_or``, ``adj_p``.
    cfg : FeatureConfig
        ``alpha``, ``multiplicity`` and ``min_relevant_or`` as used for the selection.
    n_draws : int
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``n_draws`` rows of booleans, one column per candidate feature (those
        that entered the importance test and were not screened out).
    """
    t = features[features["importance_q"].notna() & ~features["status"].isin(_NEVER)]
    names = t["feature"].tolist()
    if not names or n_draws <= 0:
        return pd.DataFrame(np.zeros((max(n_draws, 0), len(names)), dtype=bool), columns=names)
    importance = t["importance"].to_numpy(dtype=float)
    se = t["importance_se"].to_numpy(dtype=float)
    log_eq = np.log(t["equivalent_or"].to_numpy(dtype=float))
    adj_log = np.log(t["adj_or"].to_numpy(dtype=float))
    adj_z = np.sign(adj_log) * _st.norm.isf(
        np.clip(t["adj_p"].to_numpy(dtype=float), 1e-300, 1) / 2
    )
    adj_z = np.nan_to_num(adj_z)
    rng = np.random.default_rng(seed)
    drawn = importance[None, :] + se[None, :] * rng.standard_normal((n_draws, len(names)))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = _st.norm.sf(np.where(se > 0, drawn / se, 0.0))
        # the equivalent odds ratio scales with the square root of the importance
        ratio = np.where(importance > 0, np.clip(drawn, 0, None) / importance, 0.0)
    relevant = np.exp(log_eq * np.sqrt(ratio)) >= cfg.min_relevant_or
    adj_ok = adj_z[None, :] + rng.standard_normal((n_draws, len(names))) > _st.norm.isf(
        cfg.alpha / 2
    )
    q = np.vstack([stats.adjust_p_values(row, cfg.multiplicity) for row in p])
    return pd.DataFrame((q < cfg.alpha) & relevant & adj_ok, columns=names)
