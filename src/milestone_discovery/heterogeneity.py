"""Does a feature's effect on retention hold in every plan and size band?

For each feature (a boolean adoption flag per account) and each segment
dimension (by default ``plan`` and ``size_band``):

* **effect per level**: within each level (e.g. plan = pro), the odds ratio of
  retention for adopters vs non-adopters, adjusted by Mantel-Haenszel
  stratification on the other columns of ``segments`` (for plan levels: size
  band and size stratum; for size bands: plan and size stratum), with the
  Robins-Breslow-Greenland CI and the Mantel-Haenszel test at ``alpha``
  (:func:`milestone_discovery.stats.mantel_haenszel`, the same adjusted effect
  the feature stage reports). Levels with fewer than ``min_level_accounts``
  accounts are listed but not estimated;
* **homogeneity test**: Breslow-Day with Tarone's correction
  (``StratifiedTable(...).test_equal_odds(adjust=True)`` of statsmodels) on the
  per-level 2x2 tables (adopters/non-adopters x retained/churned; a 0.5
  correction in tables with an empty cell). Only levels with adopters,
  non-adopters, retained and churned accounts enter; the test needs two such
  levels. It compares the per-level odds ratios themselves: it is not
  adjusted within levels, which is why the per-level estimates that are shown
  and judged are;
* **multiplicity**: the homogeneity p-values of every feature and dimension
  form one family, adjusted by Holm (default: family-wise error rate, so a
  "segment-specific" flag is rarely a false alarm) or Benjamini-Hochberg
  (``multiplicity="fdr_bh"``: expected share of false flags);
* **segment-specific**: a feature whose effect is significantly heterogeneous
  (adjusted homogeneity p < ``alpha``) in a dimension AND that works in
  exactly one level of it (a per-level CI wholly on the side of 1 of the
  overall effect: above 1 for a milestone) is flagged ``segment_specific``,
  with that level named (e.g. ``plan = pro``): it works there and not
  elsewhere. A level where the effect is significantly reversed is listed
  in ``significant_levels`` but is not one where it works.

The tests are :func:`~milestone_discovery.stats.breslow_day` and
:func:`~milestone_discovery.stats.adjust_p_values`; the chart is
:func:`~milestone_discovery.plotting_effects.plot_effect_forest`. All three are
re-exported here.

>>> from milestone_discovery.heterogeneity import effect_heterogeneity
>>> pop = study.population                                               # doctest: +SKIP
>>> result = effect_heterogeneity(                                       # doctest: +SKIP
...     pop.flags[study.features.selected], pop.retained, pop.segments, alpha=0.05)
>>> result.summary()                                                     # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import stats
from .errors import InsufficientDataError
from .framework import clean_json
from .html_repr import render_result, table_data
from .plotting_effects import plot_effect_forest, ratio_text
from .stats import adjust_p_values, breslow_day

__all__ = [
    "HeterogeneityResult",
    "effect_heterogeneity",
    "breslow_day",
    "adjust_p_values",
    "plot_effect_forest",
]

_MULTIPLICITY = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}


@dataclass
class HeterogeneityResult:
    """Per-segment effects of features on retention and tests of their homogeneity.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per feature and segment dimension (see :meth:`to_frame`).
    levels : pandas.DataFrame
        One row per feature, dimension and level: ``feature``, ``segment``,
        ``level``, ``accounts``, ``adopters``, ``retention_adopters``,
        ``retention_non_adopters``, ``odds_ratio``, ``odds_ratio_low``,
        ``odds_ratio_high``, ``p_value``, ``significant`` (CI excludes 1),
        ``tested`` (entered the homogeneity test) and ``note``.
    overall : pandas.DataFrame
        Per feature, the odds ratio adjusted for every segment column at once
        (``odds_ratio``, ``odds_ratio_low``, ``odds_ratio_high``, ``p_value``).
    by : list of str
        Segment dimensions analysed.
    alpha : float
    multiplicity : str
        ``"holm"`` or ``"fdr_bh"``.
    min_level_accounts : int
    n_accounts : int
    notes : list of str
        Dimensions skipped and why.
    timings : dict
    """

    table: pd.DataFrame
    levels: pd.DataFrame
    overall: pd.DataFrame
    by: list[str]
    alpha: float
    multiplicity: str
    min_level_accounts: int
    n_accounts: int
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    test = "Breslow-Day with Tarone's correction"

    @property
    def level(self) -> str:
        """The confidence level as text, e.g. ``"95%"``."""
        return f"{1 - self.alpha:.0%}"

    @property
    def features(self) -> list[str]:
        """Features analysed, in input order."""
        return self.overall.index.tolist()

    @property
    def segment_specific(self) -> dict[str, str]:
        """Flagged features -> where they work, e.g. ``{"ai_agent": "plan = pro"}``."""
        flagged = self.table[self.table["segment_specific"]]
        out: dict[str, str] = {}
        for r in flagged.itertuples():
            where = f"{r.segment} = {r.segment_level}"
            out[r.feature] = f"{out[r.feature]}; {where}" if r.feature in out else where
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per feature and segment dimension.

        Columns: ``feature``, ``segment``, ``levels`` (levels with an
        estimate), ``levels_tested``, ``statistic`` and ``p_value`` of the
        homogeneity test, ``p_adjusted`` (across every feature and dimension),
        ``heterogeneous`` (``p_adjusted < alpha``), ``significant_levels``
        (levels whose CI excludes 1, ``"; "``-joined), ``segment_specific``,
        ``segment_level`` (the one level where it works, else None) and
        ``reason`` (why there is no test, else None).
        """
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """Per feature, in plain words: overall effect, verdict, homogeneity p per dimension."""
        rows = []
        for feature, o in self.overall.iterrows():
            row = {
                "feature": feature,
                f"odds ratio of retention ({self.level} CI)": ratio_text(
                    o["odds_ratio"], o["odds_ratio_low"], o["odds_ratio_high"]
                ),
            }
            t = self.table[self.table["feature"] == feature]
            row["verdict"] = _verdict(t)
            for r in t.itertuples():
                row[f"{r.segment}: homogeneity p (adjusted)"] = (
                    f"{r.p_adjusted:.2g}" if pd.notna(r.p_adjusted) else (r.reason or "")
                )
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """JSON-ready summary (the ``heterogeneity`` section of ``framework.json``)."""
        features = []
        for feature, o in self.overall.iterrows():
            t = self.table[self.table["feature"] == feature]
            flagged = t[t["segment_specific"]]
            entry = {
                "feature": feature,
                "odds_ratio": o["odds_ratio"],
                "ci": [o["odds_ratio_low"], o["odds_ratio_high"]],
                "segment_specific": bool(len(flagged)),
                "segment": flagged["segment"].iloc[0] if len(flagged) else None,
                "level": flagged["segment_level"].iloc[0] if len(flagged) else None,
                "by": {},
            }
            for r in t.itertuples():
                lv = self.levels[
                    (self.levels["feature"] == feature) & (self.levels["segment"] == r.segment)
                ]
                entry["by"][r.segment] = {
                    "statistic": r.statistic,
                    "p_value": r.p_value,
                    "p_adjusted": r.p_adjusted,
                    "heterogeneous": bool(r.heterogeneous),
                    "levels_tested": r.levels_tested,
                    "significant_levels": [s for s in r.significant_levels.split("; ") if s],
                    "reason": r.reason,
                    "levels": [
                        {
                            "level": x.level,
                            "accounts": x.accounts,
                            "adopters": x.adopters,
                            "odds_ratio": x.odds_ratio,
                            "ci": [x.odds_ratio_low, x.odds_ratio_high],
                            "p_value": x.p_value,
                            "significant": bool(x.significant),
                        }
                        for x in lv.itertuples()
                    ],
                }
            features.append(entry)
        return clean_json(
            {
                "test": self.test,
                "effect": "Mantel-Haenszel odds ratio of retention within each level",
                "multiplicity": self.multiplicity,
                "alpha": self.alpha,
                "segments": list(self.by),
                "min_level_accounts": self.min_level_accounts,
                "accounts": self.n_accounts,
                "notes": list(self.notes),
                "features": features,
            }
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tidy tables for a run folder, by name (``RUN/tables/<name>.csv``).

        :func:`~milestone_discovery.plotting_effects.plot_effect_forest` redraws the
        charts from them (also when read back from CSV).
        """
        return {
            "heterogeneity": self.to_frame(),
            "heterogeneity_levels": self.levels,
            "heterogeneity_overall": self.overall.reset_index(),
        }

    def plot_forest(self, feature: str, ax=None):
        """Odds ratio of retention per level with CIs, per segment dimension.

        Drawn by :func:`~milestone_discovery.plotting_effects.plot_effect_forest`.

        Parameters
        ----------
        feature : str
            One of :attr:`features`.
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure).

        Returns
        -------
        matplotlib Axes
        """
        if feature not in self.overall.index:
            raise KeyError(f"no results for {feature!r}; features: {self.features}")
        return plot_effect_forest(
            self.levels, self.table, self.overall, feature, level=self.level, ax=ax
        )

    def _repr_html_(self) -> str:
        flagged = self.segment_specific
        lead = (
            f"{len(self.features)} features, {self.n_accounts:,} accounts, segments "
            f"{', '.join(self.by) or 'none'}; {self.test}, "
            f"{_MULTIPLICITY[self.multiplicity]} across features; {len(flagged)} segment-specific"
        )
        return render_result(
            "Effect by segment",
            lead=lead,
            charts=[lambda f=f: self.plot_forest(f) for f in list(flagged)[:3]],
            tables=[table_data(self.summary())],
            notes=self.notes,
        )


def _verdict(t: pd.DataFrame) -> str:
    flagged = t[t["segment_specific"]]
    if len(flagged):
        return "works only in " + " and ".join(
            f"{r.segment} {r.segment_level}" for r in flagged.itertuples()
        )
    het = t[t["heterogeneous"]]
    if len(het):
        return "effect differs across " + ", ".join(het["segment"])
    if t["p_adjusted"].notna().any():
        return "consistent across " + ", ".join(t.loc[t["p_adjusted"].notna(), "segment"])
    return "not tested"


def _working_levels(level_rows: list[dict], overall: pd.DataFrame) -> dict:
    """(feature, segment) -> levels where the feature works, in level order.

    It works in a level whose CI lies wholly on the side of 1 of its overall
    effect (above 1 unless the overall odds ratio is below 1): a chance or
    real reversal elsewhere does not hide that it works in one level only.
    """
    out: dict[tuple[str, str], list[str]] = {}
    for r in level_rows:
        if not r["significant"]:
            continue
        down = overall.loc[r["feature"], "odds_ratio"] < 1
        if (r["odds_ratio_high"] < 1) if down else (r["odds_ratio_low"] > 1):
            out.setdefault((r["feature"], r["segment"]), []).append(r["level"])
    return out


def _text_or_none(values: pd.Series) -> pd.Series:
    return pd.Series(
        [v if isinstance(v, str) else None for v in values], index=values.index, dtype=object
    )


def _position(names: list[str]):
    order = {name: i for i, name in enumerate(names)}
    return lambda s: s.map(order)


def _natural_order(values: np.ndarray) -> list[str]:
    """Distinct labels in natural order: ``1-10 < 11-50 < 1001+``, text alphabetically."""

    def key(label: str) -> tuple:
        return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", label))

    return sorted(set(values), key=key)


def _key(segments: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    if not columns:
        return np.zeros(len(segments), dtype=np.int64)
    key = np.zeros(len(segments), dtype=np.int64)
    for col in columns:  # combine per-column codes into one code per combination
        codes, uniques = pd.factorize(segments[col].astype(str), sort=True)
        key = pd.factorize(key * (len(uniques) + 1) + codes, sort=True)[0].astype(np.int64)
    return key


def effect_heterogeneity(
    flags: pd.DataFrame,
    retained: pd.Series,
    segments: pd.DataFrame,
    *,
    by: Sequence[str] = ("plan", "size_band"),
    alpha: float = 0.05,
    multiplicity: str = "holm",
    min_level_accounts: int = 30,
) -> HeterogeneityResult:
    """Per-segment adjusted effect of each feature on retention, and its homogeneity.

    Parameters
    ----------
    flags : pandas.DataFrame
        Accounts x features, bool (e.g. ``population.flags[selected]``).
    retained : pandas.Series
        Bool outcome on the same index (``population.retained``).
    segments : pandas.DataFrame
        Segment labels on the same index (``population.segments``). The
        columns in ``by`` are the dimensions; every other column (e.g.
        ``size_stratum``) is used only for adjustment.
    by : sequence of str
        Segment dimensions; those missing from ``segments`` or with a single
        level are skipped (see ``notes``).
    alpha : float
        Significance level of the CIs and tests (``config.features.alpha``).
    multiplicity : {"holm", "fdr_bh"}
        Adjustment of the homogeneity p-values across features and dimensions.
    min_level_accounts : int
        Levels with fewer accounts are listed without an estimate or test.

    Returns
    -------
    HeterogeneityResult

    Raises
    ------
    InsufficientDataError
        If the outcome has a single class among the accounts.
    """
    started = time.perf_counter()
    if multiplicity not in _MULTIPLICITY:
        raise ValueError(
            f"multiplicity must be one of {sorted(_MULTIPLICITY)}, got {multiplicity!r}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    y_series = retained.reindex(flags.index)
    keep = y_series.notna().to_numpy()
    flags = flags.loc[keep]
    y = y_series[keep].astype(bool).to_numpy()
    segs = segments.reindex(flags.index)
    names = [str(c) for c in flags.columns]
    X = flags.fillna(False).to_numpy(dtype=bool)
    if len(y) and (y.all() or not y.any()):
        raise InsufficientDataError(
            "not enough data for the heterogeneity analysis: every account has the same outcome"
        )
    notes: list[str] = []
    dims = []
    for c in by:
        if c not in segs.columns:
            notes.append(f"{c}: not in the segments table")
        elif segs[c].nunique(dropna=True) < 2:
            notes.append(f"{c}: a single level")
        else:
            dims.append(c)
    segs = segs.astype(object).where(segs.notna(), "unknown")

    overall = pd.DataFrame(
        index=pd.Index(names, name="feature"),
        columns=["odds_ratio", "odds_ratio_low", "odds_ratio_high", "p_value"],
        dtype=float,
    )
    if len(y) and names:
        mh = stats.mantel_haenszel(X, y, _key(segs, list(segs.columns)), alpha)
        overall[:] = mh[["or_mh", "or_low", "or_high", "p_value"]].to_numpy()

    level_rows, test_rows = [], []
    for dim in dims:
        adjust = [c for c in segs.columns if c != dim]
        strata = _key(segs, adjust)
        values = segs[dim].astype(str).to_numpy()
        cells = []  # per level: (label, a, b, c, d, informative) arrays over features
        dim_rows: list[dict] = []
        for level in _natural_order(values):
            m = values == level
            Xm, ym = X[m], y[m]
            a = ym @ Xm.astype(np.int64)  # adopters retained
            n1 = Xm.sum(axis=0)
            b = n1 - a  # adopters churned
            c_ = ym.sum() - a  # non-adopters retained
            d = m.sum() - n1 - c_  # non-adopters churned
            est = np.full((4, len(names)), np.nan)
            note = None
            if m.sum() >= min_level_accounts and len(names):
                mh = stats.mantel_haenszel(Xm, ym, strata[m], alpha)
                est = mh[["or_mh", "or_low", "or_high", "p_value"]].to_numpy().T
            elif len(names):
                note = f"fewer than {min_level_accounts} accounts"
            informative = (
                (m.sum() >= min_level_accounts)
                & (n1 > 0)
                & (n1 < m.sum())
                & (0 < ym.sum() < m.sum())
            )
            cells.append((level, a, b, c_, d, informative))
            with np.errstate(invalid="ignore", divide="ignore"):
                ret_ad = a / n1
                ret_non = c_ / (m.sum() - n1)
            for j, feat in enumerate(names):
                ok = informative[j] and np.isfinite(est[0, j])
                dim_rows.append(
                    {
                        "feature": feat,
                        "segment": dim,
                        "level": level,
                        "accounts": int(m.sum()),
                        "adopters": int(n1[j]),
                        "retention_adopters": float(ret_ad[j]),
                        "retention_non_adopters": float(ret_non[j]),
                        "odds_ratio": est[0, j] if ok else np.nan,
                        "odds_ratio_low": est[1, j] if ok else np.nan,
                        "odds_ratio_high": est[2, j] if ok else np.nan,
                        "p_value": est[3, j] if ok else np.nan,
                        "significant": bool(ok and (est[1, j] > 1 or est[2, j] < 1)),
                        "tested": bool(informative[j]),
                        "note": note
                        if note
                        else (
                            None if informative[j] else "no contrast (adopters or outcome constant)"
                        ),
                    }
                )
        for j, feat in enumerate(names):
            use = [cl for cl in cells if cl[5][j]]
            sig = [r["level"] for r in dim_rows if r["feature"] == feat and r["significant"]]
            row = {
                "feature": feat,
                "segment": dim,
                "levels": len(cells),
                "levels_tested": len(use),
                "statistic": np.nan,
                "p_value": np.nan,
                "significant_levels": "; ".join(sig),
                "reason": None,
            }
            if len(use) >= 2:
                tables = np.array(
                    [[[cl[1][j], cl[2][j]], [cl[3][j], cl[4][j]]] for cl in use], dtype=float
                ).transpose(1, 2, 0)
                row["statistic"], row["p_value"] = breslow_day(tables, tarone=True)
            else:
                row["reason"] = f"not enough data: {len(use)} level(s) with a contrast (need 2)"
            test_rows.append(row)
        level_rows += dim_rows

    table = pd.DataFrame(
        test_rows,
        columns=[
            "feature",
            "segment",
            "levels",
            "levels_tested",
            "statistic",
            "p_value",
            "significant_levels",
            "reason",
        ],
    )
    table["p_adjusted"] = np.nan
    finite = table["p_value"].notna().to_numpy()
    if finite.any():
        table.loc[finite, "p_adjusted"] = adjust_p_values(
            table.loc[finite, "p_value"].to_numpy(dtype=float), multiplicity
        )
    table["heterogeneous"] = (table["p_adjusted"] < alpha).to_numpy(dtype=bool)
    works = _working_levels(level_rows, overall)
    where = [works.get(k, []) for k in zip(table["feature"], table["segment"], strict=True)]
    table["segment_specific"] = table["heterogeneous"].to_numpy(dtype=bool) & np.array(
        [len(w) == 1 for w in where], dtype=bool
    )
    table["segment_level"] = pd.Series(
        [w[0] if flag else None for w, flag in zip(where, table["segment_specific"], strict=True)],
        index=table.index,
        dtype=object,
    )
    table = table[
        [
            "feature",
            "segment",
            "levels",
            "levels_tested",
            "statistic",
            "p_value",
            "p_adjusted",
            "heterogeneous",
            "significant_levels",
            "segment_specific",
            "segment_level",
            "reason",
        ]
    ]
    levels = pd.DataFrame(
        level_rows,
        columns=[
            "feature",
            "segment",
            "level",
            "accounts",
            "adopters",
            "retention_adopters",
            "retention_non_adopters",
            "odds_ratio",
            "odds_ratio_low",
            "odds_ratio_high",
            "p_value",
            "significant",
            "tested",
            "note",
        ],
    )
    table["reason"] = _text_or_none(table["reason"])
    levels["note"] = _text_or_none(levels["note"])
    # features in input order, then dimensions in `by` order (levels keep their natural order)
    levels = levels.sort_values("feature", key=_position(names), kind="stable").reset_index(
        drop=True
    )
    table = table.sort_values("feature", key=_position(names), kind="stable").reset_index(drop=True)
    return HeterogeneityResult(
        table=table,
        levels=levels,
        overall=overall,
        by=dims,
        alpha=float(alpha),
        multiplicity=multiplicity,
        min_level_accounts=int(min_level_accounts),
        n_accounts=len(y),
        notes=notes,
        timings={"heterogeneity": time.perf_counter() - started},
    )
