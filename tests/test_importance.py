"""Conditional importance: proxies lose their importance, drivers keep it,
noise is not significant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milestone_discovery import Config
from milestone_discovery.config import FeatureConfig
from milestone_discovery.importance import (
    conditional_flag_probabilities,
    cross_fitted_importance,
    equivalent_odds_ratio,
    importance_forest,
    log_loss_rows,
)


def proxy_data(seed: int, n: int = 6000, effect: float = 1.2):
    """``driver`` moves retention; ``proxy`` copies the driver 85% of the time;
    ``noise`` is independent.
    """
    rng = np.random.default_rng(seed)
    driver = rng.random(n) < 0.4
    proxy = np.where(rng.random(n) < 0.85, driver, rng.random(n) < 0.4)
    noise = rng.random(n) < 0.3
    size = rng.normal(size=n)
    logit = -0.2 + effect * driver + 0.3 * size
    retained = rng.random(n) < 1 / (1 + np.exp(-logit))
    flags = pd.DataFrame({"driver": driver, "proxy": proxy, "noise": noise})
    return flags, pd.DataFrame({"log_size": size}), pd.Series(retained)


def _config(repeats: int = 2) -> Config:
    config = Config()
    config.features.n_repeats = repeats
    config.features.n_estimators = 60
    config.features.shap_sample = 0
    return config


def test_conditional_probabilities_follow_the_other_flags():
    flags, cov, _ = proxy_data(0)
    X = np.hstack([flags.to_numpy(dtype=float), cov.to_numpy()])
    probs = conditional_flag_probabilities(X[:4000], X[4000:], 3)
    test = flags.iloc[4000:]
    # the proxy is far more likely where the driver is 1, the noise flag is not
    assert (
        probs[test["driver"].to_numpy(), 1].mean()
        > probs[~test["driver"].to_numpy(), 1].mean() + 0.5
    )
    assert (
        abs(
            probs[test["driver"].to_numpy(), 2].mean() - probs[~test["driver"].to_numpy(), 2].mean()
        )
        < 0.05
    )
    assert probs.min() > 0 and probs.max() < 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_proxy_loses_its_importance_and_the_driver_keeps_it(seed):
    flags, cov, y = proxy_data(seed)
    table = cross_fitted_importance(
        flags, cov, y, _config().features, seed, progress=False
    ).importance
    table = table.set_index("feature")
    assert table.loc["driver", "importance_p"] < 1e-6
    assert table.loc["proxy", "importance_p"] > 0.01  # redrawn given the driver, it adds nothing
    assert table.loc["noise", "importance_p"] > 0.01


def test_importance_p_values_are_not_small_under_the_null():
    rng = np.random.default_rng(5)
    n, p = 4000, 12
    flags = pd.DataFrame(
        rng.random((n, p)) < rng.uniform(0.1, 0.6, p), columns=[f"f{i}" for i in range(p)]
    )
    y = pd.Series(rng.random(n) < 0.7)
    cov = pd.DataFrame({"log_size": rng.normal(size=n)})
    table = cross_fitted_importance(flags, cov, y, _config().features, 0, progress=False).importance
    assert (table["importance_p"] > 0.001).all()
    assert (table["importance_se"] > 0).all()


def test_same_seed_same_table():
    flags, cov, y = proxy_data(3, n=2000)
    a = cross_fitted_importance(flags, cov, y, _config(1).features, 4, progress=False)
    b = cross_fitted_importance(flags, cov, y, _config(1).features, 4, progress=False)
    pd.testing.assert_frame_equal(a.importance, b.importance)


@pytest.mark.parametrize(
    ("n_rows", "cap", "expected"),
    [(None, 1000, None), (800, 1000, None), (1000, 1000, None), (5000, 1000, 1000)],
)
def test_trees_grow_on_at_most_tree_max_rows(n_rows, cap, expected):
    """Large training halves are bootstrapped down to ``tree_max_rows`` rows per tree."""
    cfg = FeatureConfig(tree_max_rows=cap)
    assert importance_forest(cfg, 0, n_rows=n_rows).max_samples == expected


def test_capped_trees_still_fit_and_rank_the_signal():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(3000, 4)).astype(float)
    y = (rng.random(3000) < 0.3 + 0.5 * X[:, 0]).astype(int)
    model = importance_forest(FeatureConfig(tree_max_rows=1000), 0, n_rows=len(X)).fit(X, y)
    assert int(np.argmax(model.feature_importances_)) == 0


@pytest.mark.parametrize("odds_ratio", [1.2, 1.5, 2.0])
@pytest.mark.parametrize("intercept", [0.0, 2.5])  # 50% and about 93% retention
def test_equivalent_odds_ratio_recovers_a_planted_effect(odds_ratio, intercept):
    """With the true probabilities, the conditional redraw's loss increase maps back to the
    planted odds ratio (second-order expansion), at balanced and imbalanced retention."""
    rng = np.random.default_rng(1)
    n, pi = 400_000, 0.4
    x = rng.random(n) < pi
    p1, p0 = (1 / (1 + np.exp(-(intercept + b))) for b in (np.log(odds_ratio), 0.0))
    q = np.where(x, p1, p0)
    y = (rng.random(n) < q).astype(float)
    loss1, loss0 = log_loss_rows(np.full(n, p1), y), log_loss_rows(np.full(n, p0), y)
    importance = (pi * loss1 + (1 - pi) * loss0 - np.where(x, loss1, loss0)).mean()
    found = equivalent_odds_ratio(importance, np.mean(q * (1 - q) * pi * (1 - pi)))
    assert np.log(found) == pytest.approx(np.log(odds_ratio), rel=0.1)


def test_equivalent_odds_ratio_is_one_without_importance():
    found = equivalent_odds_ratio(np.array([-1e-4, 0.0, np.nan]), np.array([0.05, 0.05, 0.05]))
    assert found[:2].tolist() == [1.0, 1.0] and np.isnan(found[2])
