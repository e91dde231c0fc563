"""How far the selected features depend on the time windows.

The feature stage is re-run at other observation windows (adoption measured
in the first 90, 180, 270 days by default) and retention horizons (365 and
540 days by default), every combination with ``observation_days <=
horizon_days``. Each feature gets the share of the settings run in which it
is selected (overall, per window and per horizon); a feature selected in some
settings but in fewer than ``stable_share`` of them (half by default)
**depends on the window**.

The re-runs use the study's config except the windows and, for speed,
``n_repeats`` cross-fitting repeats (1 by default, the study uses 4) and no
SHAP. The study's own setting is re-run the same way, so that every setting
has the same power; the features the study selected but this re-run does not
measure what the fewer repeats alone cost (``calibration``): a feature missed
in a setting is a prompt to look, not proof that it depends on the window. A
setting whose horizon leaves fewer than ``[study] min_accounts`` eligible
accounts (the youngest cohorts have no outcome yet at a long horizon), or
whose outcome or flags do not allow a fit, is skipped with its reason.

Configured in ``[sensitivity]`` (off by default: each setting costs about a
quarter of the feature stage; see :class:`~milestone_discovery.config.SensitivityConfig`).

>>> from milestone_discovery.sensitivity import window_sensitivity
>>> result = window_sensitivity(study.dataset, study.config, main=study.features)  # doctest: +SKIP
>>> result.features.query("window_dependent")                                     # doctest: +SKIP
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import Config
from .data import Dataset
from .errors import InsufficientDataError
from .features import FeatureResult, discover_features
from .framework import clean_json
from .html_repr import key_figures, render_result, table_data
from .journey import with_early_activity
from .population import build_population

__all__ = ["SensitivityResult", "setting_label", "window_sensitivity"]


def setting_label(observation_days: int, horizon_days: int) -> str:
    """``"180/365"``: observation window / horizon in days."""
    return f"{observation_days}/{horizon_days}"


@dataclass
class SensitivityResult:
    """The feature stage at several observation windows and horizons.

    Attributes
    ----------
    settings : pandas.DataFrame
        One row per combination: ``setting`` (``"window/horizon"``),
        ``observation_days``, ``horizon_days``, ``main`` (the study's own
        setting), ``status`` (``"run"`` or ``"skipped"``), ``eligible``
        accounts, ``retention_rate``, ``selected`` (count), ``reason`` (why
        skipped) and ``seconds``.
    selection : pandas.DataFrame
        Features x settings run (columns named by ``setting``), True where selected.
    features : pandas.DataFrame
        Per feature: ``selected_main`` (by the study itself when its result
        was given, else by the re-run of its setting), ``selected_in`` and
        ``settings_run``, ``share``, ``share_window_<d>`` and
        ``share_horizon_<d>`` per window and horizon, ``selected_at`` (the
        settings, ``"; "``-joined), ``window_dependent`` (selected somewhere
        but in fewer than ``stable_share`` of the settings),
        ``missed_by_rerun`` (selected by the study but not by the re-run of
        its setting: see ``lost_to_repeats``) and ``verdict``.
    main : str
        The study's own setting.
    n_repeats : int
        Cross-fitting repeats of the re-runs.
    stable_share : float
    lost_to_repeats : list of str or None
        Features the study selected that the re-run of its own setting (fewer
        repeats) does not: the power the re-runs lack. None when the study's
        result was not given or its setting was not run.
    timings : dict
    """

    settings: pd.DataFrame
    selection: pd.DataFrame
    features: pd.DataFrame
    main: str
    n_repeats: int
    stable_share: float
    lost_to_repeats: list[str] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def window_dependent(self) -> list[str]:
        """Features whose selection depends on the windows, most often selected first."""
        t = self.features[self.features["window_dependent"]]
        return t.sort_values(["share", "feature"], ascending=[False, True])["feature"].tolist()

    @property
    def stable(self) -> list[str]:
        """Features selected in at least ``stable_share`` of the settings."""
        t = self.features[self.features["share"] >= self.stable_share]
        return t.sort_values(["share", "feature"], ascending=[False, True])["feature"].tolist()

    def to_frame(self) -> pd.DataFrame:
        """The per-feature table (a copy of :attr:`features`)."""
        return self.features.copy()

    def summary(self) -> pd.DataFrame:
        """Headline figures: settings run, features stable and window-dependent.

        Returns
        -------
        pandas.DataFrame
            Columns ``quantity`` and ``value``.
        """
        run = int((self.settings["status"] != "skipped").sum())
        selected = self.features["selected_in"] > 0
        return key_figures(
            [
                ("settings (observation window / horizon, days)", len(self.settings)),
                ("settings run", run),
                ("the study's own setting", self.main),
                ("cross-fitting repeats per setting", self.n_repeats),
                ("features selected in one setting or more", int(selected.sum())),
                (
                    f"features stable (selected in {self.stable_share:.0%} or more)",
                    len(self.stable),
                ),
                ("features whose selection depends on the window", len(self.window_dependent)),
                ("selected by the study, lost with fewer repeats", len(self.lost_to_repeats or [])),
            ]
        )

    def to_dict(self) -> dict:
        """JSON-ready summary (the ``sensitivity`` section of ``framework.json``).

        ``features`` lists the features selected in at least one setting.
        """
        windows = sorted(self.settings["observation_days"].unique().tolist())
        horizons = sorted(self.settings["horizon_days"].unique().tolist())
        listed = self.features[self.features["selected_in"] > 0].sort_values(
            "feature", kind="stable"
        )
        return clean_json(
            {
                "main": self.main,
                "n_repeats": self.n_repeats,
                "stable_share": self.stable_share,
                "observation_days": windows,
                "horizon_days": horizons,
                "settings": [_setting_row(row) for row in self.settings.to_dict(orient="records")],
                "stable": sorted(self.stable),
                "window_dependent": sorted(self.window_dependent),
                "calibration": {
                    "note": "features the study selected that the re-run of its own setting "
                    f"({self.n_repeats} cross-fitting repeat(s)) does not: what the fewer "
                    "repeats alone cost",
                    "lost_to_repeats": self.lost_to_repeats,
                },
                "features": [
                    {
                        "feature": r.feature,
                        "selected_main": None if r.selected_main is None else bool(r.selected_main),
                        "share": r.share,
                        "selected_in": int(r.selected_in),
                        "settings_run": int(r.settings_run),
                        "by_window": {
                            str(w): getattr(r, f"share_window_{w}", None) for w in windows
                        },
                        "by_horizon": {
                            str(h): getattr(r, f"share_horizon_{h}", None) for h in horizons
                        },
                        "selected_at": [s for s in r.selected_at.split("; ") if s],
                        "window_dependent": bool(r.window_dependent),
                        "missed_by_rerun": bool(r.missed_by_rerun),
                        "verdict": r.verdict,
                    }
                    for r in listed.itertuples()
                ],
            }
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tidy tables for a run folder (``RUN/tables/<name>.csv``)."""
        return {
            "sensitivity_settings": self.settings.copy(),
            "sensitivity_features": self.features.copy(),
        }

    def plot_selection(self, ax=None):
        """Which feature is selected in which setting (those selected at least once).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure).

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        rows = self.features[self.features["selected_in"] > 0].sort_values(
            ["share", "feature"], ascending=[False, True]
        )["feature"]
        grid = self.selection.reindex(rows).fillna(False).astype(float)
        if ax is None:
            _, ax = plt.subplots(
                figsize=(1.1 * max(grid.shape[1], 2) + 3, 0.25 * max(len(grid), 1) + 1.5)
            )
        ax.imshow(grid.to_numpy(), aspect="auto", cmap="Greens", vmin=0, vmax=1.3)
        ax.set_xticks(range(grid.shape[1]), list(grid.columns))
        ax.set_yticks(range(len(grid)), [str(f) for f in grid.index])
        ax.set_xlabel("observation window / horizon (days)")
        ax.set_title("Selected features by time window (dark = selected)")
        return ax

    def _repr_html_(self) -> str:
        dep = self.window_dependent
        return render_result(
            "Sensitivity to the time windows",
            lead=f"{len(dep)} features depend on the window"
            + (f" ({', '.join(dep)})" if dep else ""),
            facts=self.summary(),
            tables=[
                table_data(self.settings, "Settings"),
                table_data(self.features[self.features["selected_in"] > 0], "Features"),
            ],
        )


def _missing(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _setting_row(row: dict) -> dict:
    # no wall-clock seconds: framework.json is byte-identical for the same data and seed
    out = {k: (None if _missing(v) else v) for k, v in row.items() if k != "seconds"}
    for key in ("eligible", "selected"):  # counts (NaN while unknown)
        if out.get(key) is not None:
            out[key] = int(out[key])
    return out


def _setting_config(config: Config, window: int, horizon: int, n_repeats: int) -> Config:
    cfg = copy.deepcopy(config)
    cfg.study.observation_days = window
    cfg.study.horizon_days = horizon
    cfg.features.n_repeats = n_repeats
    cfg.features.shap_sample = 0
    cfg.features.leaky_days = min(cfg.features.leaky_days, window)
    return cfg


def window_sensitivity(
    dataset: Dataset,
    config: Config | None = None,
    *,
    main: FeatureResult | None = None,
    observation_days: list[int] | None = None,
    horizon_days: list[int] | None = None,
    n_repeats: int | None = None,
    stable_share: float | None = None,
    progress: bool = False,
) -> SensitivityResult:
    """Re-run the feature stage at other windows and horizons; the share selecting each feature.

    Parameters
    ----------
    dataset : Dataset
        A dataset with dates (``kind == "tables"``).
    config : Config, optional
        The study's config; ``[sensitivity]`` gives the defaults of the
        other arguments.
    main : FeatureResult, optional
        The study's own feature stage: ``selected_main`` and the calibration
        of the re-runs against it.
    observation_days, horizon_days : list of int, optional
        Windows and horizons combined (pairs with a window longer than the
        horizon are left out).
    n_repeats : int, optional
        Cross-fitting repeats of the re-runs.
    stable_share : float, optional
        Share of the settings from which a selection counts as stable.
    progress : bool

    Returns
    -------
    SensitivityResult

    Raises
    ------
    InsufficientDataError
        For a dataset without dates, or when no setting could be run.
    """
    config = config or Config()
    sc = config.sensitivity
    windows = sorted(set(observation_days or sc.observation_days))
    horizons = sorted(set(horizon_days or sc.horizon_days))
    n_repeats = n_repeats or sc.n_repeats
    stable_share = sc.stable_share if stable_share is None else stable_share
    if dataset.kind != "tables":
        raise InsufficientDataError("a wide table has no dates: its windows cannot be moved")

    started = time.perf_counter()
    main_key = (config.study.observation_days, config.study.horizon_days)
    rows, selected = [], {}
    names = list(main.features["feature"]) if main is not None else None
    main_label = setting_label(*main_key)
    for window in windows:
        for horizon in horizons:
            if window > horizon:
                continue
            label = setting_label(window, horizon)
            row = {
                "setting": label,
                "observation_days": window,
                "horizon_days": horizon,
                "main": label == main_label,
                "status": "run",
                "eligible": np.nan,
                "retention_rate": np.nan,
                "selected": np.nan,
                "reason": None,
                "seconds": np.nan,
            }
            t0 = time.perf_counter()
            cfg = _setting_config(config, window, horizon, n_repeats)
            population = build_population(dataset, cfg)
            row["eligible"] = population.n_eligible
            row["retention_rate"] = population.retention_rate
            try:
                if population.n_eligible < cfg.study.min_accounts:
                    raise InsufficientDataError(
                        f"only {population.n_eligible} eligible accounts at a {horizon}-day "
                        f"horizon (need at least {cfg.study.min_accounts}, [study] min_accounts)"
                    )
                if cfg.features.adjust_for_early_activity:
                    population = with_early_activity(population, dataset, cfg)
                result = discover_features(population, cfg, progress=progress)
            except InsufficientDataError as exc:
                row.update(status="skipped", reason=str(exc))
            else:
                row["selected"] = len(result.selected)
                selected[label] = set(result.selected)
                names = names or list(result.features["feature"])
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
    settings = pd.DataFrame(rows)
    if not selected:
        reasons = "; ".join(f"{r.setting}: {r.reason}" for r in settings.itertuples())
        raise InsufficientDataError(f"no window setting could be run ({reasons})")
    features = sorted(names or set().union(*selected.values()))
    selection = pd.DataFrame(
        {label: [f in chosen for f in features] for label, chosen in selected.items()},
        index=pd.Index(features, name="feature"),
    )
    run = settings[settings["status"] != "skipped"].set_index("setting")
    table = pd.DataFrame(index=selection.index)
    if main is not None:
        chosen = set(main.selected)
        study_selected = [f in chosen for f in selection.index]
    else:
        study_selected = selection[main_label].tolist() if main_label in selection else None
    table["selected_main"] = pd.Series(study_selected, index=selection.index, dtype=object)
    lost = None
    if main is not None and main_label in selection:
        lost = sorted(set(main.selected) - set(selection.index[selection[main_label]]))
    table["selected_in"] = selection.sum(axis=1).astype(int)
    table["settings_run"] = selection.shape[1]
    table["share"] = table["selected_in"] / table["settings_run"]
    for w in windows:
        cols = [s for s in selection.columns if run.loc[s, "observation_days"] == w]
        table[f"share_window_{w}"] = selection[cols].mean(axis=1) if cols else np.nan
    for h in horizons:
        cols = [s for s in selection.columns if run.loc[s, "horizon_days"] == h]
        table[f"share_horizon_{h}"] = selection[cols].mean(axis=1) if cols else np.nan
    table["selected_at"] = [
        "; ".join(s for s in selection.columns if selection.loc[f, s]) for f in selection.index
    ]
    table["window_dependent"] = (table["selected_in"] > 0) & (table["share"] < stable_share)
    # selected by the study, not by the re-run of its own setting: fewer repeats, not the window
    table["missed_by_rerun"] = table.index.isin(lost or [])
    table["verdict"] = [
        _verdict(r, stable_share, windows, horizons) for r in table.reset_index().itertuples()
    ]
    table = table.reset_index()
    return SensitivityResult(
        settings=settings,
        selection=selection,
        features=table,
        main=setting_label(*main_key),
        n_repeats=int(n_repeats),
        stable_share=float(stable_share),
        lost_to_repeats=lost,
        timings={"sensitivity": time.perf_counter() - started},
    )


def _verdict(r, stable_share: float, windows: list[int], horizons: list[int]) -> str:
    if r.selected_in == 0:
        return "never selected"
    if r.selected_in == r.settings_run:
        return f"stable: selected in every setting ({r.settings_run})"
    if r.share >= stable_share:
        return f"stable: selected in {r.selected_in} of {r.settings_run} settings"
    parts = []
    for kind, values, unit in (("window", windows, "window"), ("horizon", horizons, "horizon")):
        shares = {v: getattr(r, f"share_{kind}_{v}") for v in values}
        shares = {v: s for v, s in shares.items() if pd.notna(s)}
        if len(shares) > 1 and max(shares.values()) - min(shares.values()) >= 0.5:
            best = [str(v) for v, s in shares.items() if s == max(shares.values())]
            parts.append(f"mostly with a {'/'.join(best)}-day {unit}")
    where = f" ({'; '.join(parts)})" if parts else ""
    caveat = (
        "; the re-run of the study's own setting misses it too, so the fewer repeats of the "
        "re-runs may explain it"
        if r.missed_by_rerun
        else ""
    )
    return (
        f"depends on the window: selected in {r.selected_in} of {r.settings_run} settings"
        f"{where}{caveat}"
    )
