"""Tests of "does the framework still work?": run comparison, milestone lifts, temporal validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import valid_tables
from result_protocol import check_escaped, check_protocol

from milestone_discovery import stats
from milestone_discovery.config import Config, WideConfig
from milestone_discovery.data import load_dataset
from milestone_discovery.errors import InsufficientDataError, MilestoneError
from milestone_discovery.framework import Framework
from milestone_discovery.review import compare_runs, milestone_lifts
from milestone_discovery.study import temporal_validation


@pytest.fixture(scope="module")
def base_json(synthetic_run) -> dict:
    return json.loads((synthetic_run.run / "framework.json").read_text(encoding="utf-8"))


def write_run(folder, data: dict):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "framework.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def selected(data: dict) -> list[str]:
    return [f["feature"] for f in data["features"] if f["status"] == "selected"]


def feature(data: dict, name: str) -> dict:
    return next(f for f in data["features"] if f["feature"] == name)


def category_of(data: dict, name: str) -> dict:
    return next(c for c in data["maturity"]["categories"] if name in c["features"])


# ----------------------------------------------------------------------------- compare_runs
def test_identical_runs_have_no_changes(synthetic_run):
    cmp = compare_runs(synthetic_run.run, synthetic_run.run / "framework.json")
    assert (cmp.features["change"] == "unchanged").all()
    assert cmp.changed_features.empty
    assert not cmp.thresholds["changed"].any() and not cmp.thresholds["moved_beyond_ci"].any()
    assert "selected features and categories: unchanged" in cmp.to_text()
    assert "thresholds: unchanged" in cmp.to_text()
    lifts = cmp.lifts.set_index("milestone")
    assert "mature overall" in lifts.index
    assert (lifts["lift_a"] == lifts["lift_b"]).all()


def test_edited_framework_changes_are_labelled(base_json, tmp_path):
    b = json.loads(json.dumps(base_json))
    sel = sorted(selected(b))
    removed, recat = sel[0], sel[1]
    # 1. remove a selected feature entirely
    category_of(b, removed)["features"].remove(removed)
    b["features"] = [f for f in b["features"] if f["feature"] != removed]
    # 2. recategorise another one: move it to a category it was not in
    src = category_of(b, recat)
    dst = next(c for c in b["maturity"]["categories"] if c is not src)
    src["features"].remove(recat)
    dst["features"].append(recat)
    # 3. a dropped feature becomes selected, another changes its drop reason
    dropped = sorted(f["feature"] for f in b["features"] if f["status"] != "selected")
    added, restatused = dropped[0], dropped[1]
    feature(b, added)["status"] = "selected"
    old_status = feature(b, restatused)["status"]
    feature(b, restatused)["status"] = (
        "dropped_niche" if old_status != "dropped_niche" else "dropped_segment"
    )

    cmp = compare_runs(write_run(tmp_path / "a", base_json), write_run(tmp_path / "b", b))
    f = cmp.features.set_index("feature")
    assert f.loc[removed, ["status_a", "status_b", "change"]].tolist() == [
        "selected",
        "absent",
        "removed",
    ]
    assert f.loc[recat, "change"] == "re-categorised"
    assert (f.loc[recat, "category_a"], f.loc[recat, "category_b"]) == (src["name"], dst["name"])
    assert f.loc[added, "change"] == "added"
    assert f.loc[restatused, "change"] == "status changed"
    assert set(cmp.changed_features["feature"]) == {removed, recat, added, restatused}
    summary = cmp.to_text()
    assert f"removed (1): {removed}" in summary
    assert f"re-categorised (1): {recat}" in summary
    assert f"added (1): {added}" in summary


@pytest.fixture(scope="module")
def edited(base_json, tmp_path_factory):
    """A comparison with one selected feature removed and the activation threshold moved."""
    b = json.loads(json.dumps(base_json))
    removed = sorted(selected(b))[0]
    category_of(b, removed)["features"].remove(removed)
    b["features"] = [f for f in b["features"] if f["feature"] != removed]
    b["activation"]["threshold"] = b["activation"]["threshold_ci"][1] + 25
    root = tmp_path_factory.mktemp("edited")
    return compare_runs(write_run(root / "a", base_json), write_run(root / "b", b)), removed


@pytest.mark.parametrize(
    "quantity, value",
    [
        ("features removed", 1),
        ("features added", 0),
        ("features re-categorised", 0),
        ("thresholds moved beyond their CI", 1),
    ],
)
def test_comparison_summary_counts_the_changes(edited, quantity, value):
    cmp, _ = edited
    assert cmp.summary().set_index("quantity").loc[quantity, "value"] == value


def test_comparison_result_protocol(edited):
    cmp, removed = edited
    check_protocol(cmp)
    assert cmp.to_text().startswith("Comparing ")
    assert removed in cmp.to_frame()["feature"].tolist()
    check_escaped(cmp, removed)


def test_thresholds_moved_within_and_beyond_their_ci(base_json, tmp_path):
    b = json.loads(json.dumps(base_json))
    act_lo, act_hi = b["activation"]["threshold_ci"]
    b["activation"]["threshold"] = act_hi + 25  # outside A's CI
    util = b["utilization"]
    lo, hi = util["per_seat_threshold_ci"]
    assert lo < hi
    util["per_seat_threshold"] = (lo + hi) / 2  # moved, but inside both CIs
    if (
        util["per_seat_threshold"] == base_json["utilization"]["per_seat_threshold"]
    ):  # pragma: no cover
        util["per_seat_threshold"] = lo
    cmp = compare_runs(write_run(tmp_path / "a", base_json), write_run(tmp_path / "b", b))
    t = cmp.thresholds.set_index("milestone")
    act = t.loc["activation: conversations"]
    assert act["changed"] and act["moved_beyond_ci"]
    assert act["threshold_b"] == act_hi + 25
    assert (act["threshold_a_low"], act["threshold_a_high"]) == (act_lo, act_hi)
    ut = t.loc["utilization: resolved_conversations per seat"]
    assert ut["changed"] and not ut["moved_beyond_ci"]
    others = t.drop(
        index=["activation: conversations", "utilization: resolved_conversations per seat"]
    )
    assert len(others) >= 3  # setup, maturity categories and the overall count are compared too
    assert not others["changed"].any()
    summary = cmp.to_text()
    assert (
        f"threshold activation: conversations: {base_json['activation']['threshold']} -> {act_hi + 25} (beyond its CI)"
        in summary
    )
    assert (
        "utilization: resolved_conversations per seat" in summary and "(within its CI)" in summary
    )


def test_a_milestone_missing_in_one_run(base_json, tmp_path):
    b = json.loads(json.dumps(base_json))
    b["utilization"] = None
    cmp = compare_runs(write_run(tmp_path / "a", base_json), write_run(tmp_path / "b", b))
    row = cmp.thresholds.set_index("milestone").loc["utilization: resolved_conversations per seat"]
    assert row["changed"] and pd.isna(row["threshold_b"]) and not row["moved_beyond_ci"]
    assert pd.isna(cmp.lifts.set_index("milestone").loc["utilization", "lift_b"])


@pytest.mark.parametrize("which", ["a", "b"])
@pytest.mark.parametrize("target", ["empty_folder", "missing"])
def test_not_a_run_folder_is_a_clear_error(synthetic_run, tmp_path, which, target):
    other = tmp_path / target
    if target == "empty_folder":
        other.mkdir()
    args = (other, synthetic_run.run) if which == "a" else (synthetic_run.run, other)
    with pytest.raises(MilestoneError, match=rf"{target} is not a run folder: no framework.json"):
        compare_runs(*args)


def test_comparison_displays_escaped_html(base_json, tmp_path):
    b = json.loads(json.dumps(base_json))
    b["features"].append({"feature": "<b>new</b>", "status": "selected"})
    html = compare_runs(
        write_run(tmp_path / "a", base_json), write_run(tmp_path / "b", b)
    )._repr_html_()
    assert "<b>new</b>" not in html and "&lt;b&gt;new&lt;/b&gt;" in html


def test_hazard_ratios_and_segment_flags_are_compared(base_json, tmp_path):
    assert base_json["survival"]["milestones"] and base_json["heterogeneity"]["features"]
    same = compare_runs(
        write_run(tmp_path / "a0", base_json), write_run(tmp_path / "b0", base_json)
    )
    hr = same.hazard_ratios.set_index("milestone")
    assert "mature" in hr.index and not hr["moved_beyond_ci"].any()
    assert (hr["hazard_ratio_a"] == hr["hazard_ratio_b"]).all()
    n = len(base_json["survival"]["milestones"])
    assert f"hazard ratios of churn: {n} milestones in both runs, none moved beyond its CI" in (
        same.to_text()
    )
    assert "segment-specific effects: unchanged" in same.to_text()

    b = json.loads(json.dumps(base_json))
    mature = next(m for m in b["survival"]["milestones"] if m["milestone"] == "mature")
    old_hr = mature["hazard_ratio"]
    mature["hazard_ratio"], mature["ci"] = 1.5, [1.2, 1.9]  # beyond A's CI
    flagged = b["heterogeneity"]["features"][0]
    flagged.update(segment_specific=True, segment="plan", level="pro")
    cmp = compare_runs(write_run(tmp_path / "a", base_json), write_run(tmp_path / "b", b))
    row = cmp.hazard_ratios.set_index("milestone").loc["mature"]
    assert row["moved_beyond_ci"] and row["hazard_ratio_b"] == 1.5
    assert (row["hazard_ratio_b_low"], row["hazard_ratio_b_high"]) == (1.2, 1.9)
    seg = cmp.segments.set_index("name").loc[flagged["feature"]]
    assert (seg["where_a"], seg["where_b"], seg["change"]) == (
        "",
        "plan = pro",
        "newly segment-specific",
    )
    summary = cmp.to_text()
    assert f"moved beyond the CI: mature {old_hr:.2f} -> 1.50" in summary
    assert f"newly segment-specific: {flagged['feature']} (plan = pro)" in summary
    back = compare_runs(tmp_path / "b", tmp_path / "a")
    assert f"no longer segment-specific: {flagged['feature']} (plan = pro)" in back.to_text()
    assert "<td>1.9</td>" in cmp._repr_html_()


def test_runs_without_survival_or_heterogeneity_compare(base_json, tmp_path):
    old = {k: v for k, v in base_json.items() if k not in ("survival", "heterogeneity")}
    old["features"] = [
        {k: v for k, v in f.items() if k != "segment_specific"} for f in base_json["features"]
    ]
    wide = {
        **base_json,
        "survival": {"skipped": "a wide table has no dates"},
        "heterogeneity": {"skipped": "no feature selected"},
    }
    cmp = compare_runs(write_run(tmp_path / "old", old), write_run(tmp_path / "wide", wide))
    assert cmp.hazard_ratios.empty and cmp.segments.empty
    summary = cmp.to_text()
    assert "hazard ratios of churn: not in A (no such section); not in B (skipped: a wide " in (
        summary
    )
    assert "segment-specific effects: not in A (no such section)" in summary
    cmp = compare_runs(tmp_path / "old", write_run(tmp_path / "new", base_json))
    assert cmp.hazard_ratios["hazard_ratio_a"].isna().all()
    assert cmp.hazard_ratios["hazard_ratio_b"].notna().any()
    assert "hazard ratios of churn: only in B; not in A (no such section)" in cmp.to_text()
    assert (cmp.segments["change"] == "not tested in A").all()


def _with_outcomes(base: dict, labels: dict[str, str | None], dependent: list[str]) -> dict:
    """``base`` with an expansion section (``labels``) and a sensitivity one (``dependent``)."""
    data = json.loads(json.dumps(base))
    names = [f["feature"] for f in data["features"]]
    data["expansion"] = {
        "accounts": 1000,
        "expanding": 300,
        "features": [
            {
                "feature": n,
                "label": labels.get(n),
                "expansion": "selected" if labels.get(n) in ("grow", "both") else "dropped_niche",
            }
            for n in names
        ],
        "notes": [],
    }
    for f in data["features"]:
        f["milestone_for"] = labels.get(f["feature"])
    data["sensitivity"] = {
        "main": "180/365",
        "settings": [{"setting": "180/365", "status": "run"}],
        "window_dependent": sorted(dependent),
        "features": [
            {"feature": n, "share": 0.25, "window_dependent": True, "verdict": "depends"}
            for n in dependent
        ],
    }
    return data


def test_expansion_labels_and_window_dependence_are_compared(base_json, tmp_path):
    names = sorted(f["feature"] for f in base_json["features"])
    f1, f2, f3, f4 = names[:4]
    a = _with_outcomes(base_json, {f1: "stay", f2: "both", f3: None}, [f1, f2])
    b = _with_outcomes(base_json, {f1: "both", f2: "both", f3: "grow"}, [f2, f4])
    same = compare_runs(write_run(tmp_path / "a0", a), write_run(tmp_path / "b0", a))
    assert (same.expansion["change"] == "unchanged").all() and len(same.expansion) == 2
    assert (same.windows["change"] == "unchanged").all()
    assert "stay/grow/both labels: unchanged (2 labelled features)" in same.to_text()
    assert f"window-dependent features: still window-dependent: {f1}, {f2}" in same.to_text()

    cmp = compare_runs(write_run(tmp_path / "a", a), write_run(tmp_path / "b", b))
    e = cmp.expansion.set_index("feature")
    assert list(e.index) == [f1, f2, f3]
    assert e.loc[f1, ["label_a", "label_b", "change"]].tolist() == ["stay", "both", "changed"]
    assert e.loc[f2, "change"] == "unchanged"
    assert pd.isna(e.loc[f3, "label_a"]) and e.loc[f3, "label_b"] == "grow"
    assert e.loc[f3, ["status_a", "status_b"]].tolist() == ["dropped_niche", "selected"]
    w = cmp.windows.set_index("feature")
    assert w.loc[f1, "change"] == "no longer window-dependent" and w.loc[f1, "share_b"] == 0
    assert w.loc[f2, "change"] == "unchanged"
    assert w.loc[f4, "change"] == "newly window-dependent"
    summary = cmp.to_text()
    assert f"stay/grow/both labels: changed: {f1} (stay -> both), {f3} (none -> grow)" in summary
    assert f"newly window-dependent: {f4}; no longer window-dependent: {f1}" in summary
    html = cmp._repr_html_()
    assert "label_a" in html and "window_dependent_a" in html


def test_runs_without_expansion_or_sensitivity_compare(base_json, tmp_path):
    old = {k: v for k, v in base_json.items() if k not in ("expansion", "sensitivity")}
    old["features"] = [
        {k: v for k, v in f.items() if k not in ("milestone_for", "expansion_status")}
        for f in base_json["features"]
    ]
    skipped = {
        **old,
        "expansion": {"skipped": "the accounts table has no expansion column"},
        "sensitivity": {"skipped": "off by default ([sensitivity] enabled = true runs it)"},
    }
    cmp = compare_runs(write_run(tmp_path / "old", old), write_run(tmp_path / "skip", skipped))
    assert cmp.expansion.empty and cmp.windows.empty
    summary = cmp.to_text()
    assert "stay/grow/both labels: not in A (no such section); not in B (skipped: the acc" in (
        summary
    )
    assert "window-dependent features: not in A (no such section); not in B (skipped: off by" in (
        summary
    )
    name = sorted(f["feature"] for f in base_json["features"])[0]
    new = _with_outcomes(base_json, {name: "grow"}, [name])
    cmp = compare_runs(tmp_path / "old", write_run(tmp_path / "new", new))
    assert cmp.expansion.set_index("feature").loc[name, "change"] == "not measured in A"
    assert cmp.windows.set_index("feature").loc[name, "change"] == "not checked in A"
    summary = cmp.to_text()
    assert "stay/grow/both labels: only in B; not in A (no such section)" in summary
    assert f"window-dependent features: only checked in B: {name}; not in A" in summary


# ----------------------------------------------------------------------------- milestone_lifts
def test_milestone_lifts_on_the_synthetic_run(synthetic_run):
    study = synthetic_run.study
    fw = study.framework
    lifts = milestone_lifts(study.accounts, fw).set_index("milestone")
    expected = {"setup", "activation", "utilization", "mature overall"} | {
        f"maturity: {c}" for c in fw.categories
    }
    assert set(lifts.index) == expected
    mature = lifts.loc["mature overall"]
    assert mature["lift"] > 1 and mature["lift_low"] > 1
    assert mature["threshold"] == fw.min_categories
    assert mature["lift"] == pytest.approx(fw.maturity["mature_vs_not"]["relative_risk"], abs=1e-6)
    assert (lifts["accounts"] == study.population.n_eligible).all()
    assert ((lifts["lift_low"] <= lifts["lift"]) & (lifts["lift"] <= lifts["lift_high"])).all()
    # per category: the framework's lift is measured on the held-out half, so it agrees with the
    # lift over all accounts within their intervals, not to the digit
    for name, cat in ((c["name"], c) for c in fw.maturity["categories"]):
        row = lifts.loc[f"maturity: {name}"]
        assert cat["lift_ci"][0] <= row["lift_high"] and row["lift_low"] <= cat["lift_ci"][1]
    # by hand for activation
    elig = study.accounts[study.accounts["eligible"]]
    rr = stats.risk_ratio(elig["activation"].to_numpy(bool), elig["retained"].to_numpy(float) == 1)[
        0
    ][0]
    assert lifts.loc["activation", "lift"] == pytest.approx(rr)
    assert lifts.loc["activation", "share"] == pytest.approx(elig["activation"].mean())


def test_milestone_lifts_skip_milestones_the_framework_lacks(synthetic_run):
    study = synthetic_run.study
    fw = Framework.from_dict({**study.framework.to_dict(), "activation": None, "setup": None})
    lifts = milestone_lifts(study.accounts, fw)
    assert "activation" not in set(lifts["milestone"]) and "setup" not in set(lifts["milestone"])
    assert "utilization" in set(lifts["milestone"])


# ----------------------------------------------------------------------------- temporal validation
def quick_config() -> Config:
    config = Config()
    config.features.n_repeats = 2
    config.features.n_estimators = 60
    config.maturity.n_bootstrap = 50
    config.journey.n_bootstrap = 50
    return config


@pytest.fixture(scope="module")
def temporal(synthetic_run):
    config = quick_config()
    dataset = load_dataset(synthetic_run.dataset, config)
    return temporal_validation(dataset, config, split_quantile=0.7), dataset


def test_temporal_validation_measures_later_cohorts(temporal, synthetic_run):
    check, dataset = temporal
    n_eligible = synthetic_run.study.population.n_eligible
    assert check.train_accounts + check.test_accounts == n_eligible
    assert check.train_accounts / n_eligible == pytest.approx(0.7, abs=0.02)
    split = pd.Timestamp(check.split_date)
    assert dataset.accounts["signup_date"].min() < split < dataset.accounts["signup_date"].max()
    t = check.table.set_index("milestone")
    assert {"activation", "utilization", "mature overall"} <= set(t.index)
    assert (
        t[
            [
                "test_lift",
                "test_lift_low",
                "test_lift_high",
                "fit_lift",
                "fit_lift_low",
                "fit_lift_high",
            ]
        ]
        .notna()
        .all()
        .all()
    )
    assert ((t["test_lift_low"] <= t["test_lift"]) & (t["test_lift"] <= t["test_lift_high"])).all()
    assert (t["test_accounts"] == check.test_accounts).all()
    # planted truth holds out of time: mature accounts of later cohorts are retained more
    assert t.loc["mature overall", "test_lift_low"] > 1
    assert t.loc["activation", "test_lift_low"] > 1


def test_temporal_validation_serialises(temporal):
    check, _ = temporal
    d = check.to_dict()
    text = json.dumps(
        Framework(
            as_of=None,
            observation_days=180,
            horizon_days=365,
            seed=0,
            features=[],
            maturity={},
            validation={"temporal": d},
        ).to_dict(),
        allow_nan=False,
    )
    assert d["split_date"] == check.split_date and d["outcome"] == "retention at the horizon"
    assert [m["milestone"] for m in d["milestones"]] == check.table["milestone"].tolist()
    first = d["milestones"][0]
    assert set(first) == {
        "milestone",
        "threshold",
        "fit_lift",
        "fit_lift_ci",
        "test_lift",
        "test_lift_ci",
        "test_share",
        "test_accounts",
    }
    assert "test_lift_ci" in text
    assert "later ones" in check._repr_html_()


@pytest.mark.parametrize("name", ["activation", "mature overall"])
def test_temporal_validation_result_protocol(temporal, name):
    check, _ = temporal
    check_protocol(check)
    summary = check.summary().set_index("milestone")
    assert summary.loc[name, "holds"] == (summary.loc[name, "test_lift_low"] > 1)
    assert check.plot_lifts().get_title() or check.plot_lifts().has_data()
    check_escaped(check, name)


def test_temporal_validation_rejects_a_wide_dataset(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "chat": rng.choice(["Yes", "No"], n),
            "churned": rng.choice(["yes", "no"], n),
        }
    ).to_csv(tmp_path / "wide.csv", index=False)
    config = Config(wide=WideConfig(id="id", flags=["chat"]))
    dataset = load_dataset(tmp_path / "wide.csv", config)
    with pytest.raises(
        InsufficientDataError, match="temporal validation needs signup dates; a wide table has none"
    ):
        temporal_validation(dataset, config)


def test_temporal_validation_needs_enough_accounts(make_dataset):
    dataset = load_dataset(make_dataset(**valid_tables("accounts", "feature_usage")))
    with pytest.raises(
        InsufficientDataError,
        match="temporal validation needs at least 400 eligible accounts, found 5",
    ):
        temporal_validation(dataset, Config())


def test_compare_cli_prints_and_writes_every_table(base_json, tmp_path, capsys):
    from milestone_discovery.cli import main

    name = sorted(f["feature"] for f in base_json["features"])[0]
    a = write_run(tmp_path / "a", _with_outcomes(base_json, {name: "stay"}, []))
    b = write_run(tmp_path / "b", _with_outcomes(base_json, {name: "both"}, [name]))
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "stay / grow / both labels (expansion):" in out
    assert "window-dependent features (sensitivity):" in out
    written = {p.name for p in (tmp_path / "cmp").iterdir()}
    assert written == {f"compare_{t}.csv" for t in compare_runs(a, b).TABLES}
    expansion = pd.read_csv(tmp_path / "cmp" / "compare_expansion.csv")
    assert expansion.loc[0, ["label_a", "label_b", "change"]].tolist() == [
        "stay",
        "both",
        "changed",
    ]
    windows = pd.read_csv(tmp_path / "cmp" / "compare_windows.csv")
    assert windows.loc[0, "change"] == "newly window-dependent"
