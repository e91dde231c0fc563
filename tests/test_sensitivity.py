"""Sensitivity of the selected features to the observation window and the horizon."""

from __future__ import annotations

import dataclasses
import functools
import json

import pytest
from result_protocol import check_escaped, check_protocol

from milestone_discovery import Config, build_population
from milestone_discovery.errors import ConfigError, InsufficientDataError
from milestone_discovery.features import discover_features
from milestone_discovery.framework import Framework
from milestone_discovery.sensitivity import setting_label, window_sensitivity
from milestone_discovery.study import _sensitivity_analysis
from milestone_discovery.synth import make_synthetic


def fast_config() -> Config:
    config = Config()
    config.features.n_repeats = 1
    config.features.shap_sample = 0
    return config


@functools.cache
def dataset():
    return make_synthetic(3000, seed=2).to_dataset()


@functools.cache
def main_stage():
    config = fast_config()
    return discover_features(build_population(dataset(), config), config, progress=False)


@functools.cache
def result():
    """Windows 90 and 180 days, horizons 365 and 1,050 days (too long for most accounts)."""
    return window_sensitivity(
        dataset(),
        fast_config(),
        main=main_stage(),
        observation_days=[90, 180],
        horizon_days=[365, 1050],
    )


# ----------------------------------------------------------------------------- config
def test_config_section_is_off_by_default_and_validated():
    sc = Config().sensitivity
    assert sc.enabled is False
    assert (sc.observation_days, sc.horizon_days) == ([90, 180, 270], [365, 540])
    assert sc.n_repeats == 1 and sc.stable_share == 0.5
    config = Config.from_dict({"sensitivity": {"enabled": True, "horizon_days": [365, 730]}})
    assert config.sensitivity.horizon_days == [365, 730]
    assert Config.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"\[sensitivity\] observation_days .* increasing"):
        Config.from_dict({"sensitivity": {"observation_days": [180, 90]}})
    with pytest.raises(ConfigError, match=r"\[sensitivity\]: unknown key"):
        Config.from_dict({"sensitivity": {"windows": [90]}})
    with pytest.raises(ConfigError, match=r"\[sensitivity\] stable_share"):
        Config.from_dict({"sensitivity": {"stable_share": 0}})


# ----------------------------------------------------------------------------- the re-runs
def test_settings_are_run_reused_or_skipped_with_a_reason():
    r = result()
    s = r.settings.set_index("setting")
    assert list(s.index) == ["90/365", "90/1050", "180/365", "180/1050"]
    assert s["main"].tolist() == [False, False, True, False]
    assert s.loc["180/365", "status"] == s.loc["90/365", "status"] == "run"
    # the study's setting is re-run like the others; with the study's own settings (one
    # repeat here) the re-run reproduces it: nothing is lost to fewer repeats
    assert s.loc["180/365", "selected"] == len(main_stage().selected)
    assert r.lost_to_repeats == []
    for label in ("90/1050", "180/1050"):
        assert s.loc[label, "status"] == "skipped"
        assert "eligible accounts at a 1050-day horizon" in s.loc[label, "reason"]
        assert s.loc[label, "eligible"] < 200
    assert s.loc["90/365", "eligible"] > s.loc["180/365", "eligible"]  # fewer churn in window
    assert list(r.selection.columns) == ["90/365", "180/365"]
    assert r.main == "180/365" and r.n_repeats == 1


def test_shares_and_window_dependence():
    r = result()
    t = r.features.set_index("feature")
    assert t["settings_run"].eq(2).all()
    assert t["share"].between(0, 1).all()
    assert (t["selected_in"] == r.selection.sum(axis=1)).all()
    assert t["selected_main"].tolist() == [f in main_stage().selected for f in t.index]
    assert (t["share_window_180"] == r.selection["180/365"].astype(float)).all()
    dependent = t[t["window_dependent"]]
    assert ((dependent["share"] > 0) & (dependent["share"] < r.stable_share)).all()
    assert set(r.window_dependent) == set(dependent.index)
    assert set(r.stable) == set(t.index[t["share"] >= r.stable_share])
    assert all(v.startswith("depends on the window") for v in dependent["verdict"])
    for feature in t.index[t["share"] == 1]:
        assert t.loc[feature, "selected_at"] == "90/365; 180/365"
        assert t.loc[feature, "verdict"] == "stable: selected in every setting (2)"


@pytest.mark.parametrize("which", ["stable", "most often selected"])
def test_result_protocol(which):
    r = result()
    check_protocol(r)
    figures = r.summary().set_index("quantity")["value"]
    assert figures["settings run"] == 2 and figures["the study's own setting"] == r.main
    assert len(r.plot_selection().get_yticklabels()) == int((r.features["selected_in"] > 0).sum())
    shown = r.features[r.features["selected_in"] > 0].sort_values("share", ascending=False)
    name = r.stable[0] if which == "stable" and r.stable else shown["feature"].iloc[0]
    check_escaped(r, name)


def test_to_dict_is_json_ready():
    d = result().to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert d["main"] == "180/365" and d["observation_days"] == [90, 180]
    skipped = [s for s in d["settings"] if s["status"] == "skipped"]
    assert len(skipped) == 2 and all(isinstance(s["eligible"], int) for s in skipped)
    assert all(s["selected"] is None for s in skipped)
    assert all("seconds" not in s for s in d["settings"])  # deterministic bytes
    for f in d["features"]:
        assert f["selected_in"] >= 1
        assert set(f["by_window"]) == {"90", "180"} and set(f["by_horizon"]) == {"365", "1050"}
        assert f["by_horizon"]["1050"] is None  # nothing run at that horizon
    assert d["calibration"]["lost_to_repeats"] == []
    assert set(result().tables()) == {"sensitivity_settings", "sensitivity_features"}


def test_without_main_result_the_study_setting_is_re_run():
    r = window_sensitivity(
        dataset(), fast_config(), observation_days=[180], horizon_days=[365, 540]
    )
    assert (r.settings["status"] == "run").all()
    assert setting_label(180, 365) in r.selection
    assert r.lost_to_repeats is None  # nothing to calibrate against


def test_window_longer_than_horizon_is_left_out_and_nothing_to_run_raises():
    with pytest.raises(InsufficientDataError, match="no window setting could be run"):
        window_sensitivity(dataset(), fast_config(), observation_days=[180], horizon_days=[1050])
    r = window_sensitivity(
        dataset(),
        fast_config(),
        main=main_stage(),
        observation_days=[180, 400],
        horizon_days=[365],
    )
    assert list(r.settings["setting"]) == ["180/365"]


def test_wide_tables_have_no_windows_to_move():
    wide = dataclasses.replace(dataset(), kind="wide")
    with pytest.raises(InsufficientDataError, match="wide table"):
        window_sensitivity(wide, fast_config())


def test_framework_section_off_by_default_and_when_run():
    fw = Framework(
        as_of=None, observation_days=180, horizon_days=365, seed=0, features=[], maturity={}
    )
    assert _sensitivity_analysis(dataset(), main_stage(), fw, Config()) is None
    assert "[sensitivity] enabled = true" in fw.sensitivity["skipped"]
    config = fast_config()
    config.sensitivity.enabled = True
    config.sensitivity.observation_days = [90, 180]
    config.sensitivity.horizon_days = [365]
    fw.features = [{"feature": f} for f in main_stage().features["feature"]]
    r = _sensitivity_analysis(dataset(), main_stage(), fw, config)
    assert fw.sensitivity["main"] == "180/365"
    assert len(fw.sensitivity["settings"]) == 2
    share = r.features.set_index("feature")["share"]
    assert all(e["window_share"] == share[e["feature"]] for e in fw.features)
    again = Framework.from_text(fw.to_json())
    assert again.sensitivity["window_dependent"] == fw.to_dict()["sensitivity"]["window_dependent"]
