"""The choice of ``m``: where retention steps up in the number of mature categories.

Re-exported by :mod:`milestone_discovery.maturity`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .thresholds import choose_threshold

__all__ = ["choose_step", "best_step"]


def best_step(levels: np.ndarray, pos: np.ndarray, tot: np.ndarray, candidates, min_share: float):
    """The candidate whose step *up* (beyond a linear trend) fits best; None if no step goes up."""
    n = tot.sum()
    candidates = list(candidates)
    shares = [tot[levels >= m].sum() / n for m in candidates]
    ok = [min_share <= share <= 1 - min_share for share in shares]
    fitted = [m for m, good in zip(candidates, ok, strict=True) if good]
    ll = dict.fromkeys(candidates, -np.inf)
    coef = dict.fromkeys(candidates, np.nan)
    if fitted:  # every candidate's model at once
        steps = np.stack([(levels >= m).astype(float) for m in fitted])
        lls, betas = stats.logistic_fit_batch(
            levels, np.tile(pos, (len(fitted), 1)), tot, varying=steps
        )
        ll.update(zip(fitted, lls.tolist(), strict=True))
        coef.update(zip(fitted, betas[:, -1].tolist(), strict=True))
    best, table = None, []
    for m, share, good in zip(candidates, shares, ok, strict=True):
        up = good and coef[m] > 0
        table.append((m, share, good, ll[m], coef[m]))
        if up and (best is None or ll[m] > best[1] + 1e-9):
            best = (m, ll[m])
    return (None if best is None else int(best[0])), table


def choose_step(
    counts,
    y,
    candidates,
    *,
    min_share=0.05,
    n_bootstrap=200,
    random_state=0,
    alpha=0.05,
    category_counts=None,
    category_candidates=None,
    category_flags=None,
    selections=None,
) -> dict:
    """Choose ``m``: where retention steps *up* beyond its trend in the number of mature categories.

    Parameters
    ----------
    counts, y : arrays
        Mature-category count and outcome per account (the selection half).
    candidates : array of int
    category_counts, category_candidates : dict, optional
        Per category, the number of its features each account uses and the
        candidate ``k``: each bootstrap resample then re-chooses every ``k``
        before ``m``, so the CI of ``m`` carries their uncertainty.
    category_flags, selections : optional
        To carry the uncertainty of the feature selection too: per category,
        a DataFrame of its candidate features' flags (rows as ``counts``),
        and ``n_bootstrap`` rows of redrawn selections
        (:func:`~milestone_discovery.selection_draws.draw_selections`). Each
        resample then counts, per category, only the features its draw
        selected (a category left with none is mature for nobody).

    Returns
    -------
    dict
        ``m`` (None when no count steps up), ``ci`` (percentile bootstrap),
        ``bootstrap_agreement`` and ``table`` (candidate, share at or above,
        eligible, log-likelihood, step coefficient).
    """
    counts = np.asarray(counts, dtype=int)
    y = np.asarray(y, dtype=float)
    m, table = _step_from_counts(counts, y, np.ones(len(counts)), candidates, min_share)
    rng = np.random.default_rng(random_state)
    chosen = []
    n = len(counts)
    for b in range(n_bootstrap):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        c = counts
        if category_flags is not None and selections is not None:
            category_counts, category_candidates = _drawn_counts(category_flags, selections.iloc[b])
            c = np.zeros(n, dtype=int)  # what stays when the draw selects nothing
        if category_counts:
            ks = {
                name: choose_threshold(
                    u, y, category_candidates[name], min_share=min_share, weights=w
                )
                for name, u in category_counts.items()
            }
            c = sum(
                (u >= k).astype(int)
                for name, u in category_counts.items()
                if (k := ks[name]) is not None
            )
            c = np.asarray(c if not np.isscalar(c) else np.zeros(n, dtype=int))
        mb, _ = _step_from_counts(c, y, w, candidates, min_share)
        chosen.append(-1 if mb is None else mb)
    chosen = np.asarray(chosen)
    found = chosen[chosen >= 0]
    ci = (
        (
            int(np.quantile(found, alpha / 2, method="lower")),
            int(np.quantile(found, 1 - alpha / 2, method="higher")),
        )
        if m is not None and len(found)
        else (m, m)
    )
    return {
        "m": m,
        "ci": ci,
        "bootstrap_agreement": float(np.mean(chosen == (-1 if m is None else m)))
        if len(chosen)
        else float("nan"),
        "bootstrap_no_step": float(np.mean(chosen < 0)) if len(chosen) else float("nan"),
        "table": pd.DataFrame(
            table,
            columns=[
                "min_categories",
                "share_at_or_above",
                "eligible",
                "log_likelihood",
                "step_log_odds",
            ],
        ),
    }


def _drawn_counts(category_flags: dict, drawn: pd.Series):
    """Per category, features used and candidate ``k`` among the features of one draw."""
    counts, candidates = {}, {}
    for name, flags in category_flags.items():
        keep = [f for f in flags.columns if drawn.get(f, False)]
        if keep:
            counts[name] = flags[keep].to_numpy(dtype=bool).sum(axis=1)
            candidates[name] = np.arange(1, len(keep) + 1)
    return counts, candidates


def _step_from_counts(counts, y, weights, candidates, min_share):
    """The best step on (weighted) accounts grouped by their count."""
    size = max(int(counts.max()) + 1 if len(counts) else 1, int(np.max(candidates)) + 1)
    tot = np.bincount(counts, weights=weights, minlength=size)
    pos = np.bincount(counts, weights=weights * y, minlength=size)
    keep = tot > 0
    return best_step(np.arange(size)[keep], pos[keep], tot[keep], candidates, min_share)
