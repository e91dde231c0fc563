"""Effect heterogeneity by segment: planted segment-specific and homogeneous effects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from planted import planted_study
from result_protocol import check_escaped, check_protocol
from scipy import stats as st
from statsmodels.stats.contingency_tables import StratifiedTable

from milestone_discovery.errors import InsufficientDataError
from milestone_discovery.heterogeneity import (
    HeterogeneityResult,
    adjust_p_values,
    breslow_day,
    effect_heterogeneity,
    plot_effect_forest,
)


def _expit(x):
    return 1 / (1 + np.exp(-x))


def planted(n: int, seed: int):
    """Flags, outcome and segments with planted per-segment effects.

    * ``pro_only``: log odds ratio 1.2 in plan ``pro``, none elsewhere;
    * ``everywhere``: log odds ratio 0.8 in every plan and size band;
    * ``null``: no effect.

    Plan and size band are independent; both shift retention.
    """
    rng = np.random.default_rng(seed)
    plan = rng.choice(np.array(["starter", "pro", "premium"]), n, p=[0.45, 0.35, 0.2])
    band = rng.choice(np.array(["1-10", "11-50", "51-200", "201+"]), n, p=[0.2, 0.35, 0.3, 0.15])
    stratum = rng.integers(0, 4, n)
    flags = pd.DataFrame(
        {
            "pro_only": rng.random(n) < 0.4,
            "everywhere": rng.random(n) < 0.4,
            "null": rng.random(n) < 0.3,
        },
        index=pd.Index([f"A{i:05d}" for i in range(n)], name="account_id"),
    )
    logit = (
        0.2
        + 0.4 * (plan == "premium")
        - 0.3 * (band == "1-10")
        + 1.2 * (flags["pro_only"].to_numpy() & (plan == "pro"))
        + 0.8 * flags["everywhere"].to_numpy()
    )
    retained = pd.Series(rng.random(n) < _expit(logit), index=flags.index, name="retained")
    segments = pd.DataFrame(
        {"plan": plan, "size_band": band, "size_stratum": stratum}, index=flags.index
    )
    return flags, retained, segments


def verdicts(result: HeterogeneityResult) -> pd.DataFrame:
    return result.to_frame().set_index(["feature", "segment"])


def test_feature_working_in_one_plan_is_flagged():
    result = effect_heterogeneity(*planted(6000, seed=0))
    t = verdicts(result)
    assert t.loc[("pro_only", "plan"), "heterogeneous"]
    assert t.loc[("pro_only", "plan"), "segment_specific"]
    assert t.loc[("pro_only", "plan"), "segment_level"] == "pro"
    assert not t.loc[("pro_only", "size_band"), "segment_specific"]
    assert result.segment_specific == {"pro_only": "plan = pro"}
    lv = result.levels.set_index(["feature", "segment", "level"])
    assert lv.loc[("pro_only", "plan", "pro"), "odds_ratio_low"] > 2
    assert lv.loc[("pro_only", "plan", "starter"), "odds_ratio_low"] < 1
    assert (
        "works only in plan pro" in result.summary().set_index("feature").loc["pro_only", "verdict"]
    )
    d = result.to_dict()
    entry = next(f for f in d["features"] if f["feature"] == "pro_only")
    assert entry["segment_specific"] and entry["segment"] == "plan" and entry["level"] == "pro"


def test_homogeneous_and_null_effects_are_not_flagged():
    for seed in range(5):
        result = effect_heterogeneity(*planted(3000, seed=10 + seed))
        t = verdicts(result)
        for feature in ("everywhere", "null"):
            assert not t.loc[feature, "segment_specific"].any(), (seed, feature)
        assert not t.loc["everywhere", "heterogeneous"].any(), seed
        overall = result.overall.loc["everywhere"]
        assert overall["odds_ratio_low"] > 1
        assert overall["odds_ratio_low"] < np.exp(0.8) < overall["odds_ratio_high"]


def test_pro_only_flag_is_stable_across_seeds():
    flagged = [
        effect_heterogeneity(*planted(4000, seed=20 + s)).segment_specific.get("pro_only")
        for s in range(5)
    ]
    assert sum(f == "plan = pro" for f in flagged) >= 4


def test_levels_are_adjusted_and_naturally_ordered():
    flags, retained, segments = planted(3000, seed=1)
    result = effect_heterogeneity(flags, retained, segments)
    bands = result.levels.query("feature == 'null' and segment == 'size_band'")["level"].tolist()
    assert bands == ["1-10", "11-50", "51-200", "201+"]
    assert result.by == ["plan", "size_band"]
    # per level: Mantel-Haenszel over the other segment columns
    from milestone_discovery import stats

    m = segments["plan"].to_numpy() == "premium"
    strata = (
        segments.loc[m, "size_band"].astype(str) + "|" + segments.loc[m, "size_stratum"].astype(str)
    )
    mh = stats.mantel_haenszel(
        flags.loc[m, ["everywhere"]].to_numpy(), retained[m].to_numpy(), strata.to_numpy()
    )
    row = result.levels.set_index(["feature", "segment", "level"]).loc[
        ("everywhere", "plan", "premium")
    ]
    assert row["odds_ratio"] == pytest.approx(mh["or_mh"].iloc[0])
    assert row["odds_ratio_low"] == pytest.approx(mh["or_low"].iloc[0])


def test_multiplicity_holm_vs_bh():
    data = planted(3000, seed=2)
    holm = effect_heterogeneity(*data, multiplicity="holm").to_frame()
    bh = effect_heterogeneity(*data, multiplicity="fdr_bh").to_frame()
    assert (bh["p_adjusted"] <= holm["p_adjusted"] + 1e-12).all()
    assert (holm["p_adjusted"] >= holm["p_value"] - 1e-12).all()
    with pytest.raises(ValueError, match="multiplicity"):
        effect_heterogeneity(*data, multiplicity="bonferroni")


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_adjust_p_values_matches_statsmodels(method):
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(0).uniform(0, 0.2, 25) ** 2
    p[3] = p[7]  # a tie
    assert adjust_p_values(p, method) == pytest.approx(multipletests(p, method=method)[1])
    assert adjust_p_values(np.array([]), method).size == 0


# --- the Breslow-Day test ------------------------------------------------------------


def test_breslow_day_matches_statsmodels():
    tables = np.array([[[30, 20], [15, 35]], [[25, 25], [20, 30]], [[40, 10], [30, 20]]], float)
    tables = tables.transpose(1, 2, 0)
    ref = StratifiedTable(tables).test_equal_odds(adjust=True)
    stat, p = breslow_day(tables)
    assert stat == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue)
    assert breslow_day(tables[:, :, :1]) != breslow_day(tables)  # one table: NaN
    assert np.isnan(breslow_day(tables[:, :, :1])[1])


def test_breslow_day_with_a_pooled_odds_ratio_of_exactly_one():
    # odds ratios 4 and 1/4 pool (Mantel-Haenszel) to exactly 1
    tables = np.array([[[20, 10], [10, 20]], [[10, 20], [20, 10]]], float).transpose(1, 2, 0)
    assert StratifiedTable(tables).oddsratio_pooled == pytest.approx(1.0)
    stat, p = breslow_day(tables)
    # expected first cell 15 in both, variance 1 / (4 / 15) = 3.75, Tarone term 0
    assert stat == pytest.approx(2 * 25 / 3.75)
    assert p == pytest.approx(st.chi2.sf(2 * 25 / 3.75, 1))
    same = np.array([[[10, 20], [20, 40]], [[5, 10], [10, 20]]], float).transpose(1, 2, 0)
    assert breslow_day(same)[0] == pytest.approx(0.0, abs=1e-9)


# --- not enough data ------------------------------------------------------------------


def test_sparse_levels_and_features_do_not_crash():
    flags, retained, segments = planted(1500, seed=3)
    flags = flags.assign(nobody=False, everybody=True)
    segments = segments.assign(plan=segments["plan"].where(np.arange(len(segments)) >= 10, "tiny"))
    result = effect_heterogeneity(flags, retained, segments, min_level_accounts=30)
    t = verdicts(result)
    for feature in ("nobody", "everybody"):
        assert t.loc[feature, "reason"].str.contains("not enough data").all()
        assert not t.loc[feature, "segment_specific"].any()
    tiny = result.levels.query("level == 'tiny'")
    assert tiny["note"].str.contains("fewer than 30").all()
    assert tiny["odds_ratio"].isna().all() and not tiny["tested"].any()
    assert t.loc[("null", "plan"), "levels_tested"] == 3  # the tiny plan is left out
    assert json.dumps(result.to_dict(), allow_nan=False)


def test_edge_inputs():
    flags, retained, segments = planted(500, seed=4)
    with pytest.raises(InsufficientDataError, match="same outcome"):
        effect_heterogeneity(flags, retained & False, segments)
    empty = effect_heterogeneity(flags.iloc[:, :0], retained, segments)
    assert empty.to_frame().empty and empty.summary().empty
    assert json.dumps(empty.to_dict(), allow_nan=False)
    one = effect_heterogeneity(flags, retained, segments.assign(plan="all"), by=("plan", "region"))
    assert one.by == [] and one.to_frame().empty
    assert one.notes == ["plan: a single level", "region: not in the segments table"]
    # missing outcomes are dropped; segments are aligned by index
    partial = retained.astype(object).where(np.arange(len(retained)) % 5 != 0, None)
    res = effect_heterogeneity(flags, partial, segments.iloc[::-1])
    assert res.n_accounts == len(retained) - len(retained[::5])


def test_result_protocol():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flags, retained, segments = planted(3000, seed=0)
    flags = flags.rename(columns={"null": "<i>n</i>"})
    result = effect_heterogeneity(flags, retained, segments)
    frame = result.to_frame()
    assert len(frame) == 3 * 2
    assert {"p_value", "p_adjusted", "heterogeneous", "segment_specific", "segment_level"} <= set(
        frame.columns
    )
    assert result.features == ["pro_only", "everywhere", "<i>n</i>"]
    summary = result.summary()
    assert len(summary) == 3 and "verdict" in summary.columns
    d = result.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert set(d["features"][0]["by"]) == {"plan", "size_band"}
    ax = result.plot_forest("pro_only")
    assert ax.get_yticklabels()
    html_text = result._repr_html_()
    assert "<i>n</i>" not in html_text and "&lt;i&gt;n&lt;/i&gt;" in html_text
    check_protocol(result)
    with pytest.raises(KeyError):
        result.plot_forest("nope")
    plt.close("all")


@pytest.mark.parametrize("name", ["pro_only", "everywhere", "null"])
def test_display_escapes_feature_names(name):
    flags, retained, segments = planted(3000, seed=0)
    check_escaped(effect_heterogeneity(flags, retained, segments), name)


def test_forest_redraws_from_the_run_folder_tables(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from milestone_discovery.plotting import NothingToPlot

    result = effect_heterogeneity(*planted(6000, seed=0))
    assert result.segment_specific == {"pro_only": "plan = pro"}
    back = {}
    for name, frame in result.tables().items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        back[name] = pd.read_csv(tmp_path / f"{name}.csv")
    ax = plot_effect_forest(
        back["heterogeneity_levels"],
        back["heterogeneity"],
        back["heterogeneity_overall"],
        "pro_only",
    )
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any("segment-specific" in text for text in labels)
    assert labels[0] == "all accounts (adjusted)"
    with pytest.raises(NothingToPlot):
        plot_effect_forest(
            back["heterogeneity_levels"], back["heterogeneity"], back["heterogeneity_overall"], "x"
        )
    plt.close("all")


# --- the project's generator --------------------------------------------------------------


def test_on_the_generator_study():
    study = planted_study(4000, 7)  # shared with test_features / test_maturity
    pop = study.population
    selected = list(study.features.selected)
    result = effect_heterogeneity(
        pop.flags[selected], pop.retained, pop.segments, alpha=study.config.features.alpha
    )
    assert result.features == selected
    assert result.n_accounts == pop.n_eligible
    assert set(result.to_frame()["segment"]) <= {"plan", "size_band"}
    assert (result.overall["odds_ratio"] > 1).all()  # selected features go with retention
