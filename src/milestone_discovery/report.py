"""The self-contained HTML report for product managers.

:func:`build_report` reads a run folder (``framework.json``, ``features.csv``,
``accounts.csv``, ``run.json`` and ``tables/*.csv``, as written by
:func:`milestone_discovery.study.discover`) and renders one HTML file:

* plain language first: the framework on one screen, the share of accounts
  at each milestone and their retention with 95% confidence intervals;
* one section per stage with charts (matplotlib, embedded as PNG ``data:``
  URIs), the feature table, what was excluded and why, notes on method;
* the temporal check ("does the framework hold on later cohorts?") when the
  run has one.

The file is self-contained (inline CSS and images, no script, no external
URL) so it opens offline from an email attachment. Everything that comes
from the data is escaped by jinja2's autoescaping; nothing is marked safe.
The same run folder always gives the same bytes: the report is built only
from the folder's files, charts are drawn in a fixed style (whatever the
user's matplotlib settings), and the PNGs carry no software metadata.

Optional tables and fields (a skipped stage, a wide-table run, no temporal
check, no ``run.json``) are left out of the report, with the reason when the
run recorded one.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import MilestoneError

__all__ = ["build_report", "write_report"]

# ----------------------------------------------------------------------------- style
GREEN = "#1b7837"
BLUE = "#2166ac"
BLUE_LIGHT = "#92c5de"
GREY = "#9aa5b1"
GREY_LIGHT = "#d9dee4"
ORANGE_LIGHT = "#fdb863"
RED = "#b2182b"
INK = "#323f4b"

_DPI = 120
_FULL = 10.0  # width (inches) of a full-width chart; half-width charts are _FULL / 2
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 8,
    "axes.labelsize": 9,
    "axes.labelcolor": INK,
    "axes.edgecolor": GREY,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#52606d",
    "ytick.color": "#52606d",
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "text.color": INK,
    "text.parse_math": False,  # names with "$" are plain text, not mathtext
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

_STAGE_TITLES = {
    "setup": "Setup",
    "activation": "Activation",
    "utilization": "Utilization",
    "maturity": "Maturity",
}
_MODEL_NAMES = {
    "covariates": "Company size and plan only",
    "covariates+features": "Size, plan and feature usage",
}
_SETUP_STATUS = {
    "checklist": "on the checklist",
    "dropped_routine": "left out: routine",
    "dropped_niche": "left out: niche",
    "dropped_no_effect": "left out: no clear effect",
}
_SETUP_COLORS = {
    "checklist": GREEN,
    "dropped_routine": GREY,
    "dropped_niche": GREY_LIGHT,
    "dropped_no_effect": BLUE_LIGHT,
}
_EXCLUSION_WORDS = {
    "activation_window_not_over": "signed up too recently: the activation window is not over",
    "churned_in_activation_window": "churned inside the activation window (their counts are cut short)",
    "too_young_for_early_churn": "signed up too recently to know whether they churned early",
}


# ----------------------------------------------------------------------------- formatting
def _num(x: Any) -> float | None:
    """A finite float, or None for missing values (None, NaN, empty strings)."""
    if x is None:
        return None
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def fmt_pct(x: Any, digits: int | None = None) -> str:
    """``0.4512 -> "45%"``; one decimal below 10% (``"2.6%"``); missing -> an en dash."""
    value = _num(x)
    if value is None:
        return "–"
    value *= 100
    if digits is None:
        digits = 1 if 0 < abs(value) < 10 and round(value, 1) != round(value) else 0
    return f"{value:.{digits}f}%"


def fmt_int(x: Any) -> str:
    """Thousands separators: ``1683 -> "1,683"``."""
    value = _num(x)
    return "–" if value is None else f"{value:,.0f}"


def fmt_value(x: Any) -> str:
    """A threshold in few digits: ``60.0 -> "60"``, ``6.807 -> "6.81"``, ``1234.5 -> "1,234"``."""
    value = _num(x)
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if value == round(value):
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) >= 1 else f"{value:.2g}"


def fmt_ratio(x: Any) -> str:
    """A risk or odds ratio with two decimals: ``1.4337 -> "1.43"``."""
    value = _num(x)
    return "–" if value is None else f"{value:.2f}"


def fmt_pct_ci(lo: Any, hi: Any) -> str:
    """``(0.84, 0.89) -> "84–89%"``; empty when either end is missing."""
    if _num(lo) is None or _num(hi) is None:
        return ""
    return f"{fmt_pct(lo)[:-1]}–{fmt_pct(hi)}"


def fmt_ratio_ci(lo: Any, hi: Any) -> str:
    """``(1.21, 1.36) -> "1.21–1.36"``; empty when either end is missing."""
    if _num(lo) is None or _num(hi) is None:
        return ""
    return f"{fmt_ratio(lo)}–{fmt_ratio(hi)}"


def fmt_value_ci(lo: Any, hi: Any) -> str:
    """``(57.0, 62.0) -> "57–62"``; empty when either end is missing."""
    if _num(lo) is None or _num(hi) is None:
        return ""
    return f"{fmt_value(lo)}–{fmt_value(hi)}"


def label(x: Any) -> str:
    """Readable name of an identifier from the data: ``support_channels -> "support channels"``."""
    return str(x).replace("_", " ")


def _rate_phrase(rate: Any, lo: Any, hi: Any) -> str:
    """``"87% (84–89%)"``, or just the rate when there is no interval."""
    text, ci = fmt_pct(rate), fmt_pct_ci(lo, hi)
    return f"{text} ({ci})" if ci else text


def _ci(values: Any) -> tuple[Any, Any]:
    if isinstance(values, (list, tuple)) and len(values) == 2:
        return values[0], values[1]
    return None, None


def _is_true(values: pd.Series) -> pd.Series:
    return values.astype(str).str.lower().isin(["true", "1", "1.0"])


# ----------------------------------------------------------------------------- run folder
@dataclass
class _Run:
    """The files of a run folder (optional ones None / empty)."""

    path: Path
    framework: dict
    run: dict = field(default_factory=dict)
    features: pd.DataFrame | None = None
    accounts: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame | None:
        frame = self.tables.get(name)
        return frame if frame is not None and len(frame) else None

    def config(self, section: str, key: str, default: Any) -> Any:
        value = ((self.run.get("config") or {}).get(section) or {}).get(key)
        return default if value is None else value


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    # names such as "NA" or "None" stay text: only empty cells are missing
    return pd.read_csv(path, keep_default_na=False, na_values=[""], **kwargs)


_ACCOUNT_COLUMNS = {"eligible", "retained", "setup", "activation", "utilization", "mature"}


def _load_run(run_dir: str | Path) -> _Run:
    path = Path(run_dir)
    fw_path = path / "framework.json"
    if not path.is_dir() or not fw_path.is_file():
        raise MilestoneError(
            f"{path} is not a run folder: framework.json not found "
            "(write one with `milestones discover DATASET --out RUN`)"
        )
    try:
        framework = json.loads(fw_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MilestoneError(f"{fw_path} is not valid JSON: {exc}") from None
    if not isinstance(framework, dict) or not isinstance(framework.get("maturity"), dict):
        raise MilestoneError(f"{fw_path} is not a milestone framework (no 'maturity' section)")
    run = _Run(path=path, framework=framework)
    if (path / "run.json").is_file():
        try:
            run.run = json.loads((path / "run.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            run.run = {}
    if (path / "features.csv").is_file():
        run.features = _read_csv(path / "features.csv")
    if (path / "accounts.csv").is_file():
        run.accounts = _read_csv(path / "accounts.csv", usecols=lambda c: c in _ACCOUNT_COLUMNS)
    if (path / "tables").is_dir():
        for csv in sorted((path / "tables").glob("*.csv")):
            try:
                run.tables[csv.stem] = _read_csv(csv)
            except pd.errors.EmptyDataError:
                continue
    return run


@dataclass
class _Parts:
    """What every section needs, derived once from the run folder."""

    run: _Run
    fw: dict
    data: dict
    setup: dict
    act: dict
    util: dict
    mat: dict
    funnel: pd.DataFrame | None
    features: pd.DataFrame | None
    obs: Any
    horizon: Any
    wide: bool
    retention: float | None

    @classmethod
    def from_run(cls, run: _Run) -> _Parts:
        fw = run.framework
        data = fw.get("data") or {}
        return cls(
            run=run,
            fw=fw,
            data=data,
            setup=fw.get("setup") or {},
            act=fw.get("activation") or {},
            util=fw.get("utilization") or {},
            mat=fw.get("maturity") or {},
            funnel=run.table("funnel"),
            features=_features_frame(run),
            obs=fw.get("observation_days"),
            horizon=fw.get("horizon_days"),
            wide=data.get("kind") == "wide",
            retention=_num(data.get("retention_rate")),
        )

    @property
    def at_horizon(self) -> str:
        return f"at day {self.horizon}" if self.horizon and not self.wide else "(did not churn)"

    @property
    def skipped(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.data.get("skipped_stages") or {}).items()}


def _features_frame(run: _Run) -> pd.DataFrame | None:
    """features.csv, else the features of framework.json (with the same column names)."""
    if run.features is not None:
        frame = run.features.copy()
    elif run.framework.get("features"):
        frame = pd.DataFrame(run.framework["features"]).rename(
            columns={"importance": "perm_importance"}
        )
    else:
        return None
    if "feature" not in frame or "status" not in frame:
        return None
    frame["feature"] = frame["feature"].astype(str)
    frame["status"] = frame["status"].astype(str)
    for col in ("category", "reason"):
        frame[col] = frame[col].fillna("").astype(str) if col in frame else ""
    for col in ("perm_importance", "importance_se", "prevalence"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def _status_rank(status: str) -> int:
    from .features import STATUSES

    return STATUSES.index(status) if status in STATUSES else len(STATUSES)


def _status_word(status: str) -> str:
    return (
        "selected" if status == "selected" else "dropped: " + label(status.replace("dropped_", ""))
    )


def _status_class(status: str) -> str:
    """CSS class of a status badge, from a fixed list (never the raw data string)."""
    from .features import DROP_REASONS

    if status == "selected":
        return "sel"
    reason = status.replace("dropped_", "")
    return f"drop-{reason}" if reason in DROP_REASONS else "drop"


# ----------------------------------------------------------------------------- charts
def _figure(width: float, height: float, ncols: int = 1, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False, **kwargs)[0]
    return fig, axes


def _chart(draw, *args) -> str | None:
    """Render ``draw(*args) -> Figure | None`` in the report's style as a PNG ``data:`` URI.

    Drawn without pyplot (no global figure state) and saved without PNG
    metadata, so that two builds are byte-identical whatever the matplotlib version.
    """
    import matplotlib.style

    with matplotlib.style.context(["default", _RC]):
        fig = draw(*args)
        if fig is None:
            return None
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _pct_axis(axis) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def _errors(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Values and asymmetric error bars (0 where the interval is missing)."""
    vals = np.array(
        [np.nan if _num(r.get(key)) is None else _num(r.get(key)) for r in rows], dtype=float
    )
    lo = np.array(
        [np.nan if _num(r.get(f"{key}_low")) is None else _num(r.get(f"{key}_low")) for r in rows]
    )
    hi = np.array(
        [np.nan if _num(r.get(f"{key}_high")) is None else _num(r.get(f"{key}_high")) for r in rows]
    )
    err = np.vstack([np.nan_to_num(vals - lo), np.nan_to_num(hi - vals)]).clip(min=0)
    return vals, err


def _draw_overview(rows: list[dict], overall: float | None):
    if not rows:
        return None
    fig, (left, right) = _figure(
        _FULL, 0.48 * len(rows) + 1.5, ncols=2, sharey=True, gridspec_kw={"width_ratios": [1, 1.35]}
    )
    y = np.arange(len(rows))[::-1]
    shares = [_num(r["share"]) or 0.0 for r in rows]
    left.barh(y, shares, color=BLUE, height=0.5)
    for yi, s in zip(y, shares, strict=True):
        left.text(s + 0.015, yi, fmt_pct(s), va="center", fontsize=8.5)
    left.set_yticks(y, [r["name"] for r in rows], fontsize=9)
    left.set_ylim(-0.6, len(rows) - 0.4)
    left.set_xlim(0, 1.12)
    _pct_axis(left.xaxis)
    left.set_title("Share of accounts reaching each milestone")
    outcomes = {r["outcome"] for r in rows}
    for offset, key, color, text in (
        (0.12, "rate_reached", GREEN, "reached the milestone"),
        (-0.12, "rate_not_reached", GREY, "did not reach it"),
    ):
        vals, err = _errors(rows, key)
        right.errorbar(
            vals, y + offset, xerr=err, fmt="o", color=color, ms=6, capsize=3, label=text
        )
    if overall is not None and outcomes == {rows[0]["outcome"]} and "retain" in rows[0]["outcome"]:
        right.axvline(
            overall, color=INK, lw=0.8, ls=":", label=f"all accounts ({fmt_pct(overall)})"
        )
    lows = [
        v
        for r in rows
        for v in (
            r["rate_reached_low"],
            r["rate_not_reached_low"],
            r["rate_reached"],
            r["rate_not_reached"],
        )
        if v is not None
    ]
    right.set_xlim(max(0.0, math.floor(min(lows) * 10) / 10 - 0.1) if lows else 0.0, 1.0)
    _pct_axis(right.xaxis)
    title = rows[0]["outcome"] if len(outcomes) == 1 else "outcome"
    right.set_title(f"{title[0].upper() + title[1:]}: reached vs not (95% CI)")
    if len(outcomes) > 1:
        for yi, r in zip(y, rows, strict=True):
            right.text(0.01, yi + 0.3, r["outcome"], fontsize=7, color="#52606d", va="center")
    right.tick_params(axis="y", length=0)
    fig.legend(loc="outside lower center", ncols=3)
    return fig


def _draw_importance(features: pd.DataFrame, top: int = 25):
    from matplotlib.patches import Patch

    from .plotting import STATUS_COLORS

    if "perm_importance" not in features:
        return None
    data = features.dropna(subset=["perm_importance"])
    if data.empty:
        return None
    data = data.sort_values(
        ["perm_importance", "feature"], ascending=[False, True], kind="stable"
    ).head(top)[::-1]
    sd = (
        1.96 * data["importance_se"].fillna(0.0) if "importance_se" in data else np.zeros(len(data))
    )
    fig, (ax,) = _figure(_FULL, 0.23 * len(data) + 1.4)
    y = np.arange(len(data))
    ax.barh(
        y,
        data["perm_importance"],
        xerr=sd,
        color=[STATUS_COLORS.get(s, GREY) for s in data["status"]],
        height=0.7,
        error_kw={"elinewidth": 0.8, "ecolor": "#52606d", "capsize": 2},
    )
    ax.set_yticks(y, [label(f) for f in data["feature"]])
    ax.set_xlabel(
        "importance for retention (how much worse held-out predictions get without the feature; "
        "line: 95% interval)"
    )
    ax.set_title(f"The {len(data)} most important of {len(features)} features")
    present = sorted(set(data["status"]), key=lambda s: (_status_rank(s), s))
    ax.legend(
        handles=[Patch(color=STATUS_COLORS.get(s, GREY), label=_status_word(s)) for s in present],
        loc="lower right",
    )
    return fig


def _spread(xs: np.ndarray, ys: np.ndarray, widths: np.ndarray, gap: float) -> np.ndarray:
    """Label heights (axes fraction), moved up so that labels ``[x, x + width]`` do not overlap."""
    out = ys.astype(float).copy()
    placed: list[tuple[float, float, float]] = []
    for i in np.lexsort((xs, ys)):
        y, x0, x1 = out[i], xs[i], xs[i] + widths[i]
        for _ in range(
            len(placed) + 1
        ):  # each pass moves the label above one more neighbour at most
            clash = [
                py for px0, px1, py in placed if x0 < px1 and px0 < x1 and abs(y - py) < gap * 0.999
            ]
            if not clash:
                break
            y = max(clash) + gap
        placed.append((x0, x1, y))
        out[i] = y
    return out


def _draw_prevalence(features: pd.DataFrame, low: float, high: float):
    from .plotting import STATUS_COLORS

    if "prevalence" not in features or "perm_importance" not in features:
        return None
    data = features.assign(perm_importance=features["perm_importance"].fillna(0.0)).dropna(
        subset=["prevalence"]
    )
    if data.empty:
        return None
    fig, (ax,) = _figure(_FULL, 4.3)
    ax.axvspan(0, low, color=GREY_LIGHT, alpha=0.6, lw=0, zorder=0)
    ax.axvspan(high, 1, color=GREY_LIGHT, alpha=0.6, lw=0, zorder=0)
    top = float(data["perm_importance"].max()) or 1.0
    bottom = min(0.0, float(data["perm_importance"].min()))
    ymax = top + 0.2 * (top - bottom)
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom - 0.03 * (top - bottom), ymax)
    ax.text(low / 2, ymax, "niche", ha="center", va="top", fontsize=8, color="#52606d", rotation=90)
    ax.text(
        (1 + high) / 2,
        ymax,
        "ubiquitous",
        ha="center",
        va="top",
        fontsize=8,
        color="#52606d",
        rotation=90,
    )
    for status in sorted(set(data["status"]), key=lambda s: (_status_rank(s), s)):
        group = data[data["status"] == status]
        ax.scatter(
            group["prevalence"],
            group["perm_importance"],
            s=30 if status == "selected" else 18,
            color=STATUS_COLORS.get(status, GREY),
            label=_status_word(status),
            zorder=3,
            edgecolor="white",
            linewidth=0.5,
        )
    sel = data[data["status"] == "selected"]
    if len(sel):
        lo_y, hi_y = ax.get_ylim()
        fx = sel["prevalence"].to_numpy(dtype=float)
        fy = (sel["perm_importance"].to_numpy(dtype=float) - lo_y) / (hi_y - lo_y)
        names = [label(f) for f in sel["feature"]]
        ly = _spread(fx, fy, np.array([0.012 + 0.0075 * len(n) for n in names]), gap=0.055)
        for name, x, y0, y1 in zip(names, fx, fy, ly, strict=True):
            ax.annotate(
                name,
                xy=(x, y0),
                xycoords=("data", "axes fraction"),
                xytext=(x + 0.012, y1),
                textcoords=("data", "axes fraction"),
                fontsize=7,
                color=GREEN,
                va="center",
                arrowprops={"arrowstyle": "-", "color": GREEN, "lw": 0.5}
                if y1 - y0 > 0.02
                else None,
            )
    _pct_axis(ax.xaxis)
    ax.set_xlabel("share of accounts using the feature in the observation window")
    ax.set_ylabel("importance for retention")
    ax.set_title("How common each feature is vs how much it matters")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _draw_by_count(by_count: pd.DataFrame, min_categories: Any):
    needed = {"mature_categories", "retention", "retention_low", "retention_high", "accounts"}
    if not needed <= set(by_count.columns):
        return None
    t = by_count.dropna(subset=["retention"])
    if t.empty:
        return None
    m = _num(min_categories)
    fig, (ax,) = _figure(_FULL / 2, 3.5)
    k = t["mature_categories"].astype(int).to_numpy()
    colors = [GREEN if m is not None and v >= m else BLUE_LIGHT for v in k]
    err = np.vstack(
        [t["retention"] - t["retention_low"], t["retention_high"] - t["retention"]]
    ).clip(min=0)
    ax.bar(
        k.astype(str),
        t["retention"],
        yerr=err,
        color=colors,
        capsize=3,
        width=0.65,
        error_kw={"elinewidth": 0.9, "ecolor": INK},
    )
    for x, n in enumerate(t["accounts"]):
        ax.text(
            x, 0.03, f"{fmt_int(n)}\naccts", ha="center", va="bottom", fontsize=7, color="white"
        )
    ax.set_ylim(0, 1)
    _pct_axis(ax.yaxis)
    ax.set_xlabel("number of categories the account is mature in")
    ax.set_ylabel("retention (95% CI)")
    ax.set_title("Retention by number of mature categories")
    return fig


def _draw_categories(rows: list[dict]):
    rows = [r for r in rows if r["share_mature_value"] is not None]
    if not rows:
        return None
    fig, (ax,) = _figure(_FULL / 2, 0.4 * len(rows) + 1.6)
    y = np.arange(len(rows))[::-1]
    ax.barh(
        y,
        [r["share_basic_value"] or 0.0 for r in rows],
        color=BLUE_LIGHT,
        height=0.6,
        label="uses at least one of its features",
    )
    ax.barh(y, [r["share_mature_value"] for r in rows], color=BLUE, height=0.6, label="mature")
    ax.set_yticks(y, [r["name"] for r in rows])
    ax.set_xlim(0, 1)
    _pct_axis(ax.xaxis)
    ax.set_xlabel("share of accounts")
    ax.set_title("Adoption of each category")
    fig.legend(loc="outside lower center", ncols=2)
    return fig


def _draw_scan(
    scan: pd.DataFrame | None, threshold: float | None, ci: tuple, xlabel: str, outcome: str
):
    if scan is None or not {"threshold", "phi"} <= set(scan.columns):
        return None
    t = scan.assign(
        threshold=pd.to_numeric(scan["threshold"], errors="coerce"),
        phi=pd.to_numeric(scan["phi"], errors="coerce"),
    ).dropna(subset=["threshold", "phi"])
    t = t.sort_values("threshold")
    if t.empty:
        return None
    ok = t[_is_true(t["eligible"])] if "eligible" in t else t
    fig, (ax,) = _figure(_FULL / 2, 3.6)
    span = ok if len(ok) > 1 else t
    lo_x, hi_x = float(span["threshold"].min()), float(span["threshold"].max())
    if (
        lo_x > 0 and hi_x / lo_x > 20
    ):  # heavy-tailed counts: a log axis keeps the interesting range readable
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_value(v)))
    lo, hi = _num(ci[0]), _num(ci[1])
    if lo is not None and hi is not None:
        ax.axvspan(
            lo,
            hi if hi > lo else lo * 1.001 + 1e-9,
            color=ORANGE_LIGHT,
            alpha=0.45,
            lw=0,
            label="range the data support",
        )
    ax.plot(t["threshold"], t["phi"], color=GREY, lw=1)
    ax.plot(
        ok["threshold"],
        ok["phi"],
        "o-",
        ms=2.5,
        lw=1.2,
        color=BLUE,
        label=f"link with {outcome} (phi)",
    )
    if threshold is not None:
        ax.axvline(threshold, color=RED, lw=1.5, label=f"chosen: {fmt_value(threshold)}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("link with the outcome (phi)")
    if "share_above" in t:
        twin = ax.twinx()
        twin.plot(
            t["threshold"],
            pd.to_numeric(t["share_above"], errors="coerce"),
            color=GREEN,
            lw=1,
            ls="--",
            label="accounts at or above",
        )
        twin.set_ylim(0, 1.02)
        _pct_axis(twin.yaxis)
        twin.set_ylabel("share of accounts at or above (dashed)", color=GREEN)
        twin.spines["right"].set_visible(True)
    pad = 0.08 * (math.log10(hi_x / lo_x) if ax.get_xscale() == "log" else hi_x - lo_x)
    if ax.get_xscale() == "log":
        ax.set_xlim(lo_x / 10**pad, hi_x * 10**pad)
    elif hi_x > lo_x:
        ax.set_xlim(lo_x - pad, hi_x + pad)
    ax.set_title("Where the threshold comes from")
    fig.legend(loc="outside lower center", ncols=2, fontsize=7)
    return fig


def _draw_by_size(by_size: pd.DataFrame | None):
    if by_size is None or not {"size_band", "attained_raw", "attained_per_seat"} <= set(
        by_size.columns
    ):
        return None
    fig, (ax,) = _figure(_FULL / 2, 3.6)
    x = np.arange(len(by_size))
    ax.bar(x - 0.2, by_size["attained_raw"], 0.4, color=GREY_LIGHT, label="a raw-volume threshold")
    ax.bar(x + 0.2, by_size["attained_per_seat"], 0.4, color=BLUE, label="the per-seat milestone")
    ax.set_xticks(x, [str(s) for s in by_size["size_band"]])
    ax.set_ylim(0, 1.05)
    _pct_axis(ax.yaxis)
    ax.set_xlabel("company size (employees)")
    ax.set_ylabel("share of accounts reaching it")
    ax.set_title("Utilization by company size")
    fig.legend(loc="outside lower center", ncols=2)
    return fig


def _draw_setup(steps: pd.DataFrame | None):
    from matplotlib.patches import Patch

    needed = {"step", "risk_ratio", "risk_ratio_low", "risk_ratio_high", "status"}
    if steps is None or not needed <= set(steps.columns):
        return None
    t = steps.dropna(subset=["risk_ratio"]).sort_values(["risk_ratio", "step"], kind="stable")
    if t.empty:
        return None
    fig, (ax,) = _figure(_FULL / 2, 0.3 * len(t) + 1.6)
    y = np.arange(len(t))
    err = np.vstack(
        [
            (t["risk_ratio"] - t["risk_ratio_low"]).fillna(0),
            (t["risk_ratio_high"] - t["risk_ratio"]).fillna(0),
        ]
    ).clip(min=0)
    ax.barh(
        y,
        t["risk_ratio"] - 1,
        left=1,
        xerr=err,
        color=[_SETUP_COLORS.get(s, GREY) for s in t["status"]],
        height=0.6,
        error_kw={"elinewidth": 0.8, "ecolor": INK, "capsize": 2},
    )
    ax.axvline(1, color=INK, lw=0.8)
    ax.set_yticks(y, [label(s) for s in t["step"]])
    ax.set_xlabel("activation of accounts that did the step ÷ of those that did not (95% CI)")
    ax.set_title("Which setup steps go with activation")
    present = [s for s in _SETUP_STATUS if s in set(t["status"])]
    fig.legend(
        handles=[Patch(color=_SETUP_COLORS[s], label=_SETUP_STATUS[s]) for s in present],
        loc="outside lower center",
        ncols=2,
        fontsize=7,
    )
    return fig


def _draw_temporal(rows: list[dict]):
    rows = [r for r in rows if r["fit_lift"] is not None or r["test_lift"] is not None]
    if not rows:
        return None
    fig, (ax,) = _figure(_FULL, 0.36 * len(rows) + 1.5)
    y = np.arange(len(rows))[::-1]
    for offset, prefix, color, text in (
        (0.14, "fit", BLUE_LIGHT, "earlier cohorts (used to fit)"),
        (-0.14, "test", BLUE, "later cohorts (never seen by the fit)"),
    ):
        vals, err = _errors(rows, f"{prefix}_lift")
        ax.errorbar(vals, y + offset, xerr=err, fmt="o", color=color, ms=5, capsize=2.5, label=text)
    ax.axvline(1, color=INK, lw=0.8, ls=":")
    ax.set_yticks(y, [r["name"] for r in rows])
    ax.set_xlabel(
        "retention of accounts reaching the milestone ÷ retention of the others (95% CI); "
        "1 = no difference"
    )
    ax.set_title("Milestone retention lift: earlier vs later signup cohorts")
    fig.legend(loc="outside lower center", ncols=2)
    return fig


# ----------------------------------------------------------------------------- milestones
def _funnel_share(parts: _Parts, stage: str) -> float | None:
    f = parts.funnel
    if f is None or not {"stage", "share_reached"} <= set(f.columns):
        return None
    hit = f[f["stage"].astype(str) == stage]
    return _num(hit["share_reached"].iloc[0]) if len(hit) else None


def _retention_split(accounts: pd.DataFrame | None, column: str) -> dict | None:
    """Retention of eligible accounts that reached a milestone vs not (Wilson CIs, Katz risk ratio)."""
    from . import stats

    if accounts is None or not {column, "eligible", "retained"} <= set(accounts.columns):
        return None
    elig = accounts[_is_true(accounts["eligible"])]
    retained = pd.to_numeric(elig["retained"], errors="coerce")
    elig, retained = elig[retained.notna()], retained[retained.notna()]
    if elig.empty:
        return None
    reached = _is_true(elig[column]).to_numpy()
    y = retained.to_numpy() == 1
    n1, n0 = int(reached.sum()), int((~reached).sum())
    k1, k0 = int((reached & y).sum()), int((~reached & y).sum())
    lo1, hi1 = stats.wilson_interval(k1, n1)
    lo0, hi0 = stats.wilson_interval(k0, n0)
    rr, rr_lo, rr_hi = stats.risk_ratio(reached, y)
    return {
        "accounts_reached": n1,
        "accounts_not_reached": n0,
        "rate_reached": k1 / n1 if n1 else None,
        "rate_reached_low": float(lo1),
        "rate_reached_high": float(hi1),
        "rate_not_reached": k0 / n0 if n0 else None,
        "rate_not_reached_low": float(lo0),
        "rate_not_reached_high": float(hi0),
        "relative_risk": float(rr[0]),
        "relative_risk_low": float(rr_lo[0]),
        "relative_risk_high": float(rr_hi[0]),
    }


def _scan_as_split(s: dict, prefix: str = "") -> dict:
    """A threshold summary (``outcome_rate_above``/``_below`` with ``_ci``) as reached / not-reached fields."""
    lo1, hi1 = _ci(s.get(f"{prefix}outcome_rate_above_ci"))
    lo0, hi0 = _ci(s.get(f"{prefix}outcome_rate_below_ci"))
    rlo, rhi = _ci(s.get(f"{prefix}lift_ci"))
    out = {
        "rate_reached": s.get(f"{prefix}outcome_rate_above"),
        "rate_reached_low": lo1,
        "rate_reached_high": hi1,
        "rate_not_reached": s.get(f"{prefix}outcome_rate_below"),
        "rate_not_reached_low": lo0,
        "rate_not_reached_high": hi0,
        "relative_risk": s.get(f"{prefix}lift"),
        "relative_risk_low": rlo,
        "relative_risk_high": rhi,
    }
    n, share = _num(s.get(f"{prefix}n_accounts")), _num(s.get(f"{prefix}share_above"))
    if n is not None and share is not None:
        out["accounts_reached"] = round(n * share)
        out["accounts_not_reached"] = n - round(n * share)
    return out


def _setup_rule(setup: dict) -> str | None:
    steps, s = setup.get("steps") or [], _num(setup.get("min_steps"))
    if not steps or s is None:
        return None
    days = setup.get("window_days", 30)
    if int(s) >= len(steps):
        return f"Complete all {len(steps)} checklist steps in the first {days} days"
    return (
        f"Complete at least {int(s)} of the {len(steps)} checklist steps in the first {days} days"
    )


def _months(value: Any, default: list[int]) -> tuple[int, int]:
    months = value if isinstance(value, (list, tuple)) and len(value) == 2 else default
    return int(months[0]), int(months[1])


def _activation_rule(act: dict) -> str | None:
    if _num(act.get("threshold")) is None:
        return None
    first, last = _months(act.get("months"), [0, 2])
    days = act.get("window_days")
    return (
        f"At least {fmt_value(act['threshold'])} {label(act.get('metric', 'core actions'))} in the first "
        f"{last - first + 1} months (months {first}–{last}{f', about {days} days' if days else ''})"
    )


def _utilization_rule(util: dict) -> str | None:
    if _num(util.get("per_seat_threshold")) is None:
        return None
    first, last = _months(util.get("months"), [3, 5])
    return (
        f"At least {fmt_value(util['per_seat_threshold'])} {label(util.get('metric', 'core actions'))} "
        f"per purchased seat per month, in months {first}–{last}"
    )


def _maturity_rule(mat: dict) -> str | None:
    m, cats = _num(mat.get("min_categories")), mat.get("categories") or []
    if m is None or not cats:
        return None
    return f"Mature in at least {int(m)} of the {len(cats)} categories"


def _milestone_row(
    key: str, rule: str, share: Any, outcome: str, split: dict | None
) -> dict | None:
    if split is None or _num(split.get("rate_reached")) is None:
        return None
    row = {
        "key": key,
        "name": _STAGE_TITLES[key],
        "rule": rule,
        "share": _num(share),
        "outcome": outcome,
    }
    for k in (
        "rate_reached",
        "rate_reached_low",
        "rate_reached_high",
        "rate_not_reached",
        "rate_not_reached_low",
        "rate_not_reached_high",
        "relative_risk",
        "relative_risk_low",
        "relative_risk_high",
    ):
        row[k] = _num(split.get(k))
    n1, n0 = _num(split.get("accounts_reached")), _num(split.get("accounts_not_reached"))
    if row["share"] is None and n1 is not None and n0:
        row["share"] = n1 / (n1 + n0)
    row["share_text"] = fmt_pct(row["share"])
    row["reached_text"] = _rate_phrase(
        row["rate_reached"], row["rate_reached_low"], row["rate_reached_high"]
    )
    row["not_reached_text"] = _rate_phrase(
        row["rate_not_reached"], row["rate_not_reached_low"], row["rate_not_reached_high"]
    )
    row["rr_text"] = fmt_ratio(row["relative_risk"])
    row["rr_ci"] = fmt_ratio_ci(row["relative_risk_low"], row["relative_risk_high"])
    return row


def _milestones(p: _Parts) -> dict[str, dict]:
    """Each milestone: its rule, share of accounts reaching it, outcome reached vs not (retention if possible)."""
    kept = f"retained {p.at_horizon}"
    rows: dict[str, dict | None] = {}
    rule = _setup_rule(p.setup)
    if rule:
        split = _retention_split(p.run.accounts, "setup")
        rows["setup"] = (
            _milestone_row("setup", rule, _funnel_share(p, "setup"), kept, split)
            if split
            else _milestone_row(
                "setup",
                rule,
                _funnel_share(p, "setup"),
                "activated",
                _scan_as_split(p.setup, "min_steps_"),
            )
        )
    rule = _activation_rule(p.act)
    if rule:
        validation = [
            v for v in p.act.get("validation") or [] if "retain" in str(v.get("outcome", ""))
        ]
        rows["activation"] = (
            _milestone_row("activation", rule, _funnel_share(p, "activation"), kept, validation[0])
            if validation
            else _milestone_row(
                "activation",
                rule,
                _funnel_share(p, "activation"),
                str(p.act.get("outcome") or "no early churn"),
                _scan_as_split(p.act),
            )
        )
    rule = _utilization_rule(p.util)
    if rule:
        rows["utilization"] = _milestone_row(
            "utilization", rule, _funnel_share(p, "utilization"), kept, _scan_as_split(p.util)
        )
    rule = _maturity_rule(p.mat)
    if rule and isinstance(p.mat.get("mature_vs_not"), dict):
        share = _funnel_share(p, "maturity")
        rows["maturity"] = _milestone_row(
            "maturity",
            rule,
            share if share is not None else p.mat.get("share_mature"),
            kept,
            p.mat["mature_vs_not"],
        )
    return {k: v for k, v in rows.items() if v is not None}


def _outcome_word(outcome: str) -> str:
    return "kept" if outcome.startswith("retained") else outcome


def _stage_cards(p: _Parts, milestones: dict[str, dict]) -> list[dict]:
    cards = []

    def card(
        key: str, rule: str | None, steps: list[str], facts: list[str], categories: list[dict]
    ):
        base = {"key": key, "title": _STAGE_TITLES[key], "number": len(cards) + 1}
        if rule is None:
            reason = p.skipped.get(key) or "not enough data to set this milestone"
            cards.append({**base, "skipped": True, "reason": reason})
            return
        m = milestones.get(key)
        share = m["share"] if m else _funnel_share(p, key)
        head = [f"{fmt_pct(share)} of accounts reach it"] if share is not None else []
        if m:
            head.append(
                f"{_outcome_word(m['outcome'])}: {fmt_pct(m['rate_reached'])} vs "
                f"{fmt_pct(m['rate_not_reached'])} without it"
            )
        cards.append(
            {
                **base,
                "skipped": False,
                "rule": rule,
                "steps": steps,
                "facts": head + facts,
                "categories": categories,
            }
        )

    setup_facts = []
    above = _num(p.setup.get("min_steps_outcome_rate_above"))
    if above is not None and milestones.get("setup", {}).get("outcome") != "activated":
        setup_facts.append(
            f"activated: {fmt_pct(above)} vs "
            f"{fmt_pct(p.setup.get('min_steps_outcome_rate_below'))} without it"
        )
    card(
        "setup",
        _setup_rule(p.setup),
        [label(s) for s in p.setup.get("steps") or []],
        setup_facts,
        [],
    )
    card("activation", _activation_rule(p.act), [], [], [])
    card("utilization", _utilization_rule(p.util), [], [], [])
    cats = []
    for c in p.mat.get("categories") or []:
        k, feats = _num(c.get("min_features")), [label(f) for f in c.get("features") or []]
        if k is None:
            rule = "no usable threshold"
        elif int(k) >= len(feats):
            rule = "uses all of" if len(feats) > 1 else "uses"
        else:
            rule = f"uses at least {int(k)} of"
        cats.append({"name": label(c.get("name", "")), "rule": rule, "features": feats})
    rule = _maturity_rule(p.mat)
    if rule is None and cats:
        rule = "No clear number of mature categories (see the maturity section)"
    card("maturity", rule, [], [], cats)
    return cards


def _headline(p: _Parts, milestones: dict[str, dict]) -> list[str]:
    lines = []
    m = milestones.get("maturity")
    if m:
        lines.append(
            f"Of the accounts mature in at least {int(p.mat['min_categories'])} of the "
            f"{len(p.mat.get('categories') or [])} product categories, {m['reached_text']} were "
            f"{m['outcome']}, vs {m['not_reached_text']} of the others. "
            f"{fmt_pct(m['share'])} of accounts get there."
        )
    m = milestones.get("activation")
    if m:
        first, last = _months(p.act.get("months"), [0, 2])
        text = (
            f"Of the accounts with at least {fmt_value(p.act['threshold'])} "
            f"{label(p.act.get('metric', ''))} in their first {last - first + 1} months, "
        )
        early = [v for v in p.act.get("validation") or [] if "churn" in str(v.get("outcome", ""))]
        if early:
            text += (
                f"{fmt_pct(early[0].get('rate_reached'))} {early[0].get('outcome')}, vs "
                f"{fmt_pct(early[0].get('rate_not_reached'))} of the others; "
            )
        lines.append(text + f"{m['reached_text']} were {m['outcome']}, vs {m['not_reached_text']}.")
    m = milestones.get("utilization")
    if m:
        lines.append(
            f"Of the accounts with {fmt_value(p.util['per_seat_threshold'])} or more "
            f"{label(p.util.get('metric', ''))} per seat per month, {m['reached_text']} were "
            f"{m['outcome']}, vs {m['not_reached_text']} of the others."
        )
    if _setup_rule(p.setup):
        s = _scan_as_split(p.setup, "min_steps_")
        if _num(s["rate_reached"]) is not None:
            lines.append(
                f"Accounts that completed at least {int(p.setup['min_steps'])} of the "
                f"{len(p.setup['steps'])} setup checklist steps in their first "
                f"{p.setup.get('window_days', 30)} days activated "
                f"{_rate_phrase(s['rate_reached'], s['rate_reached_low'], s['rate_reached_high'])} of the "
                f"time, vs {fmt_pct(s['rate_not_reached'])} for the others."
            )
    if p.features is not None:
        n_sel = int((p.features["status"] == "selected").sum())
        lines.append(
            f"{n_sel} of {len(p.features)} product features made the cut as maturity milestones; the "
            "others were too common, too rare, limited to one segment, explained by company size or plan, "
            "leaking the outcome, or not reliably predictive."
        )
    if p.retention is not None:
        lines.append(
            f"Overall, {fmt_pct(p.retention)} of the {fmt_int(p.data.get('eligible'))} accounts analysed "
            f"were retained {p.at_horizon}{'' if p.wide else ' after signup'}."
        )
    return lines


# ----------------------------------------------------------------------------- sections
def _funnel_rows(p: _Parts) -> list[dict]:
    f = p.funnel
    if f is None or "stage" not in f:
        return []
    rows = []
    for r in f.to_dict("records"):
        stage = str(r["stage"])
        rows.append(
            {
                "stage": "no milestone yet"
                if stage == "none"
                else _STAGE_TITLES.get(stage, label(stage)),
                "none": stage == "none",
                "reached": fmt_int(r.get("reached")),
                "share": fmt_pct(r.get("share_reached")),
                "in_order": fmt_int(r.get("reached_in_order")),
                "conversion": fmt_pct(r.get("conversion")),
                "at_stage": fmt_int(r.get("at_stage")),
                "retention": _rate_phrase(
                    r.get("retention"), r.get("retention_low"), r.get("retention_high")
                ),
            }
        )
    return rows


def _setup_section(p: _Parts) -> dict | None:
    rule = _setup_rule(p.setup)
    if rule is None:
        return None
    steps = p.run.table("setup_steps")
    rows = []
    if steps is not None and {"step", "status"} <= set(steps.columns):
        ordered = steps.assign(
            _o=(steps["status"] != "checklist").astype(int),
            _rr=pd.to_numeric(steps.get("risk_ratio"), errors="coerce"),
        )
        for r in ordered.sort_values(["_o", "_rr"], ascending=[True, False], kind="stable").to_dict(
            "records"
        ):
            rows.append(
                {
                    "step": label(r["step"]),
                    "checklist": r["status"] == "checklist",
                    "status": _SETUP_STATUS.get(r["status"], label(r["status"])),
                    "prevalence": fmt_pct(r.get("prevalence")),
                    "with": fmt_pct(r.get("activation_completers")),
                    "without": fmt_pct(r.get("activation_non_completers")),
                    "rr": fmt_ratio(r.get("risk_ratio")),
                    "rr_ci": fmt_ratio_ci(r.get("risk_ratio_low"), r.get("risk_ratio_high")),
                    "reason": str(r.get("reason") or ""),
                }
            )
    else:
        for s in p.setup.get("steps") or []:
            rows.append(
                {
                    "step": label(s),
                    "checklist": True,
                    "status": _SETUP_STATUS["checklist"],
                    "prevalence": "–",
                    "with": "–",
                    "without": "–",
                    "rr": "–",
                    "rr_ci": "",
                    "reason": "",
                }
            )
        for d in p.setup.get("dropped") or []:
            rows.append(
                {
                    "step": label(d.get("step", "")),
                    "checklist": False,
                    "status": "left out: " + label(d.get("reason", "")),
                    "prevalence": "–",
                    "with": "–",
                    "without": "–",
                    "rr": "–",
                    "rr_ci": "",
                    "reason": str(d.get("detail") or ""),
                }
            )
    counts = []
    scan = p.run.table("setup_scan")
    n_steps, chosen = len(p.setup.get("steps") or []), _num(p.setup.get("min_steps"))
    if scan is not None and {"threshold", "share_above", "rate_above", "rate_below"} <= set(
        scan.columns
    ):
        for r in scan.to_dict("records"):
            k = _num(r["threshold"])
            counts.append(
                {
                    "k": f"at least {fmt_value(k)} of {n_steps}",
                    "chosen": k is not None and k == chosen,
                    "share": fmt_pct(r["share_above"]),
                    "with": fmt_pct(r["rate_above"]),
                    "without": fmt_pct(r["rate_below"]),
                }
            )
    return {
        "rule": rule,
        "steps": [label(s) for s in p.setup["steps"]],
        "rows": rows,
        "counts": counts,
        "threshold_ci": fmt_value_ci(*_ci(p.setup.get("min_steps_threshold_ci"))),
        "chart": _chart(_draw_setup, steps),
    }


def _activation_section(p: _Parts) -> dict | None:
    rule = _activation_rule(p.act)
    if rule is None:
        return None
    rows = []
    for v in p.act.get("validation") or []:
        rows.append(
            {
                "outcome": str(v.get("outcome", "")),
                "reached": _rate_phrase(
                    v.get("rate_reached"), v.get("rate_reached_low"), v.get("rate_reached_high")
                ),
                "not_reached": _rate_phrase(
                    v.get("rate_not_reached"),
                    v.get("rate_not_reached_low"),
                    v.get("rate_not_reached_high"),
                ),
                "n_reached": fmt_int(v.get("accounts_reached")),
                "n_not": fmt_int(v.get("accounts_not_reached")),
                "rr": fmt_ratio(v.get("relative_risk")),
                "rr_ci": fmt_ratio_ci(v.get("relative_risk_low"), v.get("relative_risk_high")),
            }
        )
    lo, hi = _ci(p.act.get("threshold_ci"))
    first, last = _months(p.act.get("months"), [0, 2])
    outcome = str(p.act.get("outcome") or "no early churn")
    return {
        "rule": rule,
        "outcome": outcome,
        "threshold_ci": fmt_value_ci(lo, hi),
        "share": fmt_pct(p.act.get("share_above")),
        "n": fmt_int(p.act.get("n_accounts")),
        "rows": rows,
        "chart": _chart(
            _draw_scan,
            p.run.table("activation_scan"),
            _num(p.act.get("threshold")),
            (lo, hi),
            f"{label(p.act.get('metric', 'metric'))} in months {first}–{last}",
            outcome,
        ),
    }


def _utilization_section(p: _Parts, milestones: dict[str, dict]) -> dict | None:
    rule = _utilization_rule(p.util)
    if rule is None:
        return None
    lo, hi = _ci(p.util.get("per_seat_threshold_ci"))
    by_size = p.run.table("utilization_by_size")
    if by_size is None and p.util.get("attainment_by_size"):
        by_size = pd.DataFrame(p.util["attainment_by_size"])
    first, last = _months(p.util.get("months"), [3, 5])
    metric = label(p.util.get("metric", "metric"))
    return {
        "rule": rule,
        "threshold_ci": fmt_value_ci(lo, hi),
        "metric": metric,
        "raw_threshold": fmt_value(p.util.get("raw_volume_threshold")),
        "milestone": milestones.get("utilization"),
        "chart_scan": _chart(
            _draw_scan,
            p.run.table("utilization_scan"),
            _num(p.util.get("per_seat_threshold")),
            (lo, hi),
            f"{metric} per seat per month (months {first}–{last})",
            "retention",
        ),
        "chart_size": _chart(_draw_by_size, by_size),
    }


def _maturity_section(p: _Parts, milestones: dict[str, dict]) -> dict:
    mat = p.mat
    cats = []
    for c in mat.get("categories") or []:
        k, feats = _num(c.get("min_features")), c.get("features") or []
        lo1, hi1 = _ci(c.get("outcome_rate_above_ci"))
        lo0, hi0 = _ci(c.get("outcome_rate_below_ci"))
        cats.append(
            {
                "name": label(c.get("name", "")),
                "features": [label(f) for f in feats],
                "rule": "–" if k is None else f"uses at least {int(k)} of {len(feats)}",
                "share": fmt_pct(c.get("share_above")),
                "mature": _rate_phrase(c.get("outcome_rate_above"), lo1, hi1),
                "not_mature": _rate_phrase(c.get("outcome_rate_below"), lo0, hi0),
                "lift": fmt_ratio(c.get("lift")),
                "lift_ci": fmt_ratio_ci(*_ci(c.get("lift_ci"))),
                "share_mature_value": _num(c.get("share_above")),
                "share_basic_value": _num(c.get("share_basic")),
            }
        )
    by_count = p.run.table("maturity_by_count")
    if by_count is None and mat.get("retention_by_mature_categories"):
        by_count = pd.DataFrame(mat["retention_by_mature_categories"])
    m = _num(mat.get("min_categories"))
    counts = []
    for r in by_count.to_dict("records") if by_count is not None else []:
        k = _num(r.get("mature_categories"))
        counts.append(
            {
                "k": fmt_int(k),
                "accounts": fmt_int(r.get("accounts")),
                "share": fmt_pct(r.get("share")),
                "retention": _rate_phrase(
                    r.get("retention"), r.get("retention_low"), r.get("retention_high")
                ),
                "chosen": m is not None and k is not None and k >= m,
            }
        )
    disagreements = [
        {
            "feature": label(d.get("feature", "")),
            "catalog": label(d.get("catalog_category") or "–"),
            "majority": label(d.get("cluster_majority_category") or "–"),
        }
        for d in mat.get("catalog_disagreements") or []
    ]
    return {
        "rule": _maturity_rule(mat),
        "catalog": mat.get("source") == "catalog",
        "categories": cats,
        "counts": counts,
        "min_categories_ci": fmt_value_ci(*_ci(mat.get("min_categories_ci"))),
        "milestone": milestones.get("maturity"),
        "disagreements": disagreements,
        "chart_count": _chart(_draw_by_count, by_count, m) if by_count is not None else None,
        "chart_categories": _chart(_draw_categories, cats),
    }


def _features_section(p: _Parts) -> dict | None:
    from .features import DROP_REASONS

    f = p.features
    if f is None:
        return None
    ordered = f.assign(_rank=f["status"].map(_status_rank)).sort_values(
        ["_rank", "perm_importance", "feature"] if "perm_importance" in f else ["_rank", "feature"],
        ascending=[True, False, True] if "perm_importance" in f else [True, True],
        kind="stable",
        na_position="last",
    )
    top = f["perm_importance"].max() if "perm_importance" in f else None
    top = _num(top) if _num(top) and _num(top) > 0 else None

    def relative(x):
        value = _num(x)
        return "–" if value is None or top is None else f"{max(value, 0.0) / top * 100:.0f}"

    rows = [
        {
            "feature": label(r["feature"]),
            "category": label(r.get("category") or ""),
            "status_word": _status_word(r["status"]),
            "status_class": _status_class(r["status"]),
            "selected": r["status"] == "selected",
            "prevalence": fmt_pct(r.get("prevalence")),
            "retention_adopters": fmt_pct(r.get("retention_adopters")),
            "retention_non_adopters": fmt_pct(r.get("retention_non_adopters")),
            "adj_or": fmt_ratio(r.get("adj_or")),
            "adj_or_ci": fmt_ratio_ci(r.get("adj_or_low"), r.get("adj_or_high")),
            "importance": relative(r.get("perm_importance")),
            "reason": str(r.get("reason") or ""),
        }
        for r in ordered.to_dict("records")
    ]
    counts = []
    for name in sorted(set(f["status"]), key=lambda s: (_status_rank(s), s)):
        names = [label(x) for x in ordered.loc[ordered["status"] == name, "feature"]]
        counts.append(
            {
                "status_class": _status_class(name),
                "word": _status_word(name),
                "features": len(names),
                "meaning": "kept as a maturity milestone"
                if name == "selected"
                else DROP_REASONS.get(name.replace("dropped_", ""), ""),
                "examples": ", ".join(names[:4]) + (" …" if len(names) > 4 else ""),
            }
        )
    low = float(p.run.config("features", "min_prevalence", 0.05))
    high = float(p.run.config("features", "max_prevalence", 0.9))
    return {
        "rows": rows,
        "counts": counts,
        "n": len(f),
        "n_selected": int((f["status"] == "selected").sum()),
        "chart_importance": _chart(_draw_importance, f),
        "chart_prevalence": _chart(_draw_prevalence, f, low, high),
        "low": fmt_pct(low),
        "high": fmt_pct(high),
    }


def _model(p: _Parts) -> tuple[list[dict], str | None, float | None]:
    """Held-out model metrics rows, a plain sentence, and the number of refits."""
    metrics = p.run.table("model_metrics")
    if metrics is None and (p.fw.get("model") or {}).get("metrics"):
        metrics = pd.DataFrame(p.fw["model"]["metrics"])
    if metrics is None or "model" not in metrics:
        return [], None, None

    def three(x):
        return "–" if _num(x) is None else f"{_num(x):.3f}"

    ordered = metrics.sort_values(
        "model", key=lambda s: (s != "covariates").astype(int), kind="stable"
    )
    rows = [
        {
            "name": _MODEL_NAMES.get(r["model"], label(r["model"])),
            "splits": fmt_int(r.get("splits")),
            "roc": three(r.get("roc_auc_mean")),
            "roc_sd": "" if _num(r.get("roc_auc_std")) is None else three(r.get("roc_auc_std")),
            "pr": three(r.get("pr_auc_mean")),
            "brier": three(r.get("brier_mean")),
        }
        for r in ordered.to_dict("records")
    ]
    by = metrics.set_index("model")
    sentence = splits = None
    if {"covariates", "covariates+features"} <= set(by.index) and "roc_auc_mean" in by:
        a, b = (
            _num(by.loc["covariates", "roc_auc_mean"]),
            _num(by.loc["covariates+features", "roc_auc_mean"]),
        )
        splits = _num(by.loc["covariates+features", "splits"]) if "splits" in by else None
        if a is not None and b is not None:
            sentence = (
                f"Knowing which features an account uses {'improves' if b > a else 'changes'} the prediction "
                f"of retention on accounts the model never saw from a ROC-AUC of {a:.2f} (company size and "
                f"plan only) to {b:.2f} (0.5 = coin flip, 1 = perfect)."
            )
    return rows, sentence, splits


def _temporal(p: _Parts) -> tuple[dict | None, str | None]:
    """The later-cohorts section, or (None, why it was not run)."""
    temporal = (p.fw.get("validation") or {}).get("temporal")
    if not isinstance(temporal, dict):
        return None, None
    if not isinstance(temporal.get("milestones"), list):
        return None, str(temporal.get("skipped") or "not run")
    rows = []
    for m in temporal["milestones"]:
        fit_lo, fit_hi = (_num(v) for v in _ci(m.get("fit_lift_ci")))
        test_lo, test_hi = (_num(v) for v in _ci(m.get("test_lift_ci")))
        test = _num(m.get("test_lift"))
        if test is None:
            verdict, tone = "cannot be measured on the later cohorts", "muted"
        elif test_lo is not None and test_lo > 1:
            verdict, tone = "holds", "good"
        elif test > 1:
            verdict, tone = "same direction, not clear yet (interval includes 1)", "warn"
        else:
            verdict, tone = "does not hold", "bad"
        name = str(m.get("milestone", ""))
        rows.append(
            {
                "name": label(name.replace("maturity: ", "mature in ", 1)),
                "threshold": fmt_value(m.get("threshold")),
                "fit_lift": _num(m.get("fit_lift")),
                "fit_lift_low": fit_lo,
                "fit_lift_high": fit_hi,
                "test_lift": test,
                "test_lift_low": test_lo,
                "test_lift_high": test_hi,
                "fit_text": fmt_ratio(m.get("fit_lift")),
                "fit_ci": fmt_ratio_ci(fit_lo, fit_hi),
                "test_text": fmt_ratio(test),
                "test_ci": fmt_ratio_ci(test_lo, test_hi),
                "test_share": fmt_pct(m.get("test_share")),
                "verdict": verdict,
                "tone": tone,
            }
        )
    holds = sum(r["tone"] == "good" for r in rows)
    return {
        "split_date": str(temporal.get("split_date") or "–"),
        "train_accounts": fmt_int(temporal.get("train_accounts")),
        "test_accounts": fmt_int(temporal.get("test_accounts")),
        "outcome": str(temporal.get("outcome") or "retention at the horizon"),
        "rows": rows,
        "summary": f"{holds} of {len(rows)} milestones still clearly separate retained from churned accounts "
        "on the later cohorts.",
        "chart": _chart(_draw_temporal, rows),
    }, None


def _left_out(p: _Parts) -> dict:
    data, total = p.data, _num(p.data.get("accounts"))
    population = []
    exclusions = p.run.table("exclusions")
    records = (
        exclusions.to_dict("records")
        if exclusions is not None
        else [{"reason": k, "accounts": v} for k, v in (data.get("exclusions") or {}).items()]
    )
    for r in records:
        n = _num(r.get("accounts"))
        population.append(
            {
                "reason": label(r.get("reason", "")),
                "accounts": fmt_int(n),
                "share": fmt_pct(n / total) if total and n is not None else "",
                "description": str(r.get("description") or ""),
            }
        )
    journey = []
    jex = p.run.table("journey_exclusions")
    for r in jex.to_dict("records") if jex is not None else data.get("journey_exclusions") or []:
        reason = str(r.get("reason", ""))
        journey.append(
            {
                "analysis": str(r.get("analysis", "")),
                "reason": label(reason),
                "description": _EXCLUSION_WORDS.get(reason, ""),
                "accounts": fmt_int(r.get("accounts")),
            }
        )
    dropped = ""
    if p.features is not None:
        counts = p.features.loc[p.features["status"] != "selected", "status"].value_counts()
        parts = [
            f"{int(counts[s])} {label(s.replace('dropped_', ''))}"
            for s in sorted(counts.index, key=lambda s: (_status_rank(s), s))
        ]
        dropped = ", ".join(parts)
    return {
        "population": population,
        "journey_exclusions": journey,
        "features_dropped": dropped,
        "skipped_rows": [
            {"stage": _STAGE_TITLES.get(k, label(k)), "reason": v} for k, v in p.skipped.items()
        ],
        "notes": [str(n) for n in data.get("notes") or []],
    }


def _method(p: _Parts, splits: float | None) -> list[str]:
    notes = []
    if p.wide:
        notes.append(
            "This dataset is a single wide table (one row per account, usage flags and the outcome taken "
            "as given). Without dates, the observation window and the retention horizon cannot be "
            "enforced: a flag may describe use after the outcome was decided, and long-lived customers "
            "have had more time to adopt. Read the results as associations in a snapshot, and confirm them "
            "on dated usage data."
        )
    else:
        notes.append(
            f"A feature counts as used only if it was first used within {p.obs} days of signup; retention "
            f"means still being a customer {p.horizon} days after signup. Accounts that churned inside the "
            f"first {p.obs} days, or signed up less than {p.horizon} days before "
            f"{p.fw.get('as_of') or 'the data date'}, are left out and counted below. Measuring usage in a "
            "fixed early window keeps long-lived accounts from looking good just because they had more time "
            "(survivor bias), and keeps features used just before cancelling from leaking the outcome."
        )
    journey = []
    if _activation_rule(p.act):
        first, last = _months(p.act.get("months"), [0, 2])
        journey.append(
            f"activation counts {label(p.act.get('metric', ''))} in months {first}–{last} of the "
            f"account's life (month 0 = signup month) and is chosen against "
            f"{p.act.get('outcome') or 'early churn'}, among accounts still customers when the window "
            "ended"
        )
    if _utilization_rule(p.util):
        first, last = _months(p.util.get("months"), [3, 5])
        journey.append(
            f"utilization averages {label(p.util.get('metric', ''))} per purchased seat per month over "
            f"months {first}–{last}"
        )
    if _setup_rule(p.setup):
        journey.append(
            f"setup steps count when done in the first {p.setup.get('window_days', 30)} days and are "
            "chosen against activation"
        )
    if journey:
        text = "; ".join(journey)
        notes.append(text[0].upper() + text[1:] + ".")
    notes.append(
        "Every threshold is the value that best separates the two outcomes (the largest phi correlation) "
        "among values that leave at least a few percent of accounts on each side; redoing the whole choice "
        "on bootstrap resamples gives the range of thresholds the data support."
    )
    refits = f"{fmt_int(splits)} " if splits else ""
    notes.append(
        f"Feature importance is measured on accounts held out from the model fit ({refits}train/test refits "
        "of a random forest that also knows company size and plan), never on the accounts it learned "
        "from; a feature is kept only if it is important in most refits."
    )
    notes.append(
        "Rates carry 95% confidence intervals (Wilson), ratios 95% intervals (Katz, Woolf). Odds ratios "
        "are adjusted for company size and plan (Mantel–Haenszel across size × plan strata), and p-values "
        "are Holm-corrected because many features are tested at once."
    )
    notes.append(
        "These are associations, not proof that a milestone causes retention: they show where to look and "
        "what to test, for example with an onboarding experiment."
    )
    return notes


def _context(run: _Run) -> dict:
    p = _Parts.from_run(run)
    milestones = _milestones(p)
    rows = list(milestones.values())
    model_rows, model_sentence, splits = _model(p)
    temporal, temporal_skipped = _temporal(p)
    left_out = _left_out(p)
    if temporal_skipped:
        left_out["notes"].append(f"The check on later cohorts was not run: {temporal_skipped}.")
    versions = run.run.get("versions") or {}
    return {
        "title": "Customer milestones: what makes accounts stay",
        "dataset": str(run.run.get("dataset") or run.path.resolve().name),
        "run_name": run.path.resolve().name,
        "as_of": str(p.fw.get("as_of") or ""),
        "observation_days": p.obs,
        "horizon_days": p.horizon,
        "seed": p.fw.get("seed", "–"),
        "created_at": str(run.run.get("created_at") or ""),
        "version": str(versions.get("milestone_discovery") or ""),
        "versions": [
            f"{k} {v}"
            for k, v in versions.items()
            if v and k not in ("platform", "milestone_discovery")
        ],
        "accounts": fmt_int(p.data.get("accounts")),
        "eligible": fmt_int(p.data.get("eligible")),
        "retention": fmt_pct(p.retention),
        "at_horizon": p.at_horizon,
        "wide": p.wide,
        "headline": _headline(p, milestones),
        "cards": _stage_cards(p, milestones),
        "milestones": rows,
        "same_outcome": rows[0]["outcome"]
        if rows and len({r["outcome"] for r in rows}) == 1
        else None,
        "overview_chart": _chart(_draw_overview, rows, p.retention),
        "funnel": _funnel_rows(p),
        "setup": _setup_section(p),
        "activation": _activation_section(p),
        "utilization": _utilization_section(p, milestones),
        "maturity": _maturity_section(p, milestones),
        "features": _features_section(p),
        "skipped": p.skipped,
        "model_rows": model_rows,
        "model_sentence": model_sentence,
        "temporal": temporal,
        "method": _method(p, splits),
        **left_out,
    }


# ----------------------------------------------------------------------------- rendering
@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("milestone_discovery", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def build_report(run_dir: str | Path) -> str:
    """Render the self-contained HTML report of a run folder.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by ``milestones discover``. ``framework.json`` is
        required; ``features.csv``, ``accounts.csv``, ``run.json`` and
        ``tables/*.csv`` are used when present (sections whose data are
        missing are left out or say why).

    Returns
    -------
    str
        The HTML text: inline CSS and PNG charts, no script and no external
        reference; the same text for the same run folder.

    Raises
    ------
    MilestoneError
        If ``run_dir`` is not a run folder (no readable ``framework.json``).

    Examples
    --------
    >>> html = build_report("reports/demo")                       # doctest: +SKIP
    """
    run = _load_run(run_dir)
    return _environment().get_template("report.html").render(**_context(run))


def write_report(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Build the report of a run folder and write it as UTF-8.

    Parameters
    ----------
    run_dir : str or Path
        The run folder (see :func:`build_report`).
    path : str or Path, optional
        Where to write; default ``run_dir/report.html``. Missing parent
        folders are created.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    MilestoneError
        If ``run_dir`` is not a run folder.
    """
    text = build_report(run_dir)
    out = Path(run_dir) / "report.html" if path is None else Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
