"""Scoring with a saved framework: the data must still hold what the framework names."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from milestone_discovery import Config, run_study
from milestone_discovery.cli import main
from milestone_discovery.errors import DataValidationError
from milestone_discovery.scoring import framework_gaps, score_accounts
from milestone_discovery.synth import make_synthetic


@pytest.fixture(scope="module")
def fitted():
    syn = make_synthetic(900, seed=5, scenario="dominant")
    config = Config()
    config.features.n_repeats = 1
    study = run_study(syn.to_dataset(), config, progress=False, temporal=False, secondary=False)
    assert study.features.selected, "the fixture needs selected features"
    return study


def _renamed(dataset, old: str, new: str):
    usage = dataset.feature_usage.assign(feature=dataset.feature_usage["feature"].replace(old, new))
    catalog = dataset.feature_catalog
    if catalog is not None:
        catalog = catalog.assign(feature=catalog["feature"].replace(old, new))
    return dataclasses.replace(dataset, feature_usage=usage, feature_catalog=catalog)


def test_the_fitted_data_have_no_gap(fitted):
    assert framework_gaps(fitted.framework, fitted.dataset) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d, f: _renamed(d, f, f + "_v2"), r"feature_usage.*appear neither"),
        (lambda d, f: dataclasses.replace(d, activity=None), r"no activity table"),
    ],
)
def test_a_framework_that_no_longer_matches_the_data_is_an_error(fitted, change, message):
    feature = fitted.features.selected[0]
    changed = change(fitted.dataset, feature)
    with pytest.raises(DataValidationError, match=message):
        score_accounts(fitted.framework, changed)
    scored = score_accounts(fitted.framework, changed, allow_missing=True)
    assert any(n.startswith("not judged") for n in scored.attrs["notes"])
    assert len(scored) == len(fitted.dataset.accounts)


def test_cli_score_names_the_gap_and_exits_2(fitted, tmp_path, capsys):
    feature = fitted.features.selected[0]
    data = tmp_path / "data"
    syn = make_synthetic(900, seed=5, scenario="dominant")
    syn.write(data, fmt="csv")
    for name in ("feature_usage.csv", "feature_catalog.csv"):
        path = data / name
        if path.exists():
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            table["feature"] = table["feature"].replace(feature, f"{feature}_v2")
            table.to_csv(path, index=False)
    fw = tmp_path / "framework.json"
    fitted.framework.to_json(fw)
    out = tmp_path / "scored.csv"
    assert main(["score", str(fw), str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert feature in err and "--allow-missing" in err
    assert main(["score", str(fw), str(data), "--out", str(out), "--allow-missing"]) == 0
    assert "not judged" in capsys.readouterr().out
