"""Tests of the exact flip-one-flag forest predictions and the expected
permutation importance built on them.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import log_loss

from milestone_discovery._treeflip import flipped_predictions, forest_predictions
from milestone_discovery.importance import EPS as _EPS
from milestone_discovery.importance import expected_permutation_importance
from milestone_discovery.importance import log_loss_rows as _log_loss_rows

N_FLAGS = 6


def make_data(seed: int, n: int = 500, n_continuous: int = 0):
    """0/1 flags (two with planted effects, the rest noise), then optional continuous covariates."""
    rng = np.random.default_rng(seed)
    flags = (rng.random((n, N_FLAGS)) < np.linspace(0.1, 0.7, N_FLAGS)).astype(np.float32)
    cont = rng.normal(size=(n, n_continuous)).astype(np.float32)
    logit = -0.2 + 1.5 * flags[:, 0] - 1.0 * flags[:, 3]
    if n_continuous:
        logit = logit + 0.8 * cont[:, 0]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return np.hstack([flags, cont]), y


def brute_force(forest, X, columns):
    out = np.empty((len(X), len(columns)))
    for k, j in enumerate(columns):
        flipped = X.copy()
        flipped[:, j] = 1 - flipped[:, j]
        out[:, k] = forest.predict_proba(flipped)[:, 1]
    return out


FORESTS = {
    "default": {},
    "max_depth": {"max_depth": 4},
    "balanced": {"class_weight": "balanced", "min_samples_leaf": 5},
    "study-like": {
        "max_depth": 10,
        "min_samples_leaf": 20,
        "class_weight": "balanced",
        "max_features": "sqrt",
    },
    "bootstrap_off": {"bootstrap": False, "max_features": 3},
}


@pytest.mark.parametrize("n_continuous", [0, 3])
@pytest.mark.parametrize("forest", sorted(FORESTS))
@pytest.mark.parametrize("seed", [0, 1])
def test_flipped_predictions_equal_predict_proba_on_flipped_data(seed, forest, n_continuous):
    X, y = make_data(seed, n_continuous=n_continuous)
    model = RandomForestClassifier(
        n_estimators=25, random_state=seed, n_jobs=1, **FORESTS[forest]
    ).fit(X, y)
    columns = list(range(N_FLAGS))
    got = flipped_predictions(model, X, columns)
    expected = brute_force(model, X, columns)
    assert got.shape == (len(X), N_FLAGS)
    assert np.abs(got - expected).max() < 1e-9
    # and flipping really changes predictions for the planted flag
    assert np.abs(got[:, 0] - model.predict_proba(X)[:, 1]).max() > 0.05


def test_subset_of_columns_in_any_order_and_base_equals_predict_proba():
    X, y = make_data(3, n_continuous=2)
    model = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0, n_jobs=1).fit(X, y)
    columns = [4, 0, 2]
    base, got = forest_predictions(model, X, columns)
    np.testing.assert_allclose(base, model.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, brute_force(model, X, columns), rtol=0, atol=1e-9)
    # new rows the forest never saw
    X_new, _ = make_data(99, n=200, n_continuous=2)
    np.testing.assert_allclose(
        flipped_predictions(model, X_new, columns),
        brute_force(model, X_new, columns),
        rtol=0,
        atol=1e-9,
    )


def test_flag_never_used_by_the_forest_changes_nothing():
    X, y = make_data(4)
    X[:, 5] = 0  # constant: no tree can split on it, flipping it must not matter
    model = RandomForestClassifier(n_estimators=15, random_state=0, n_jobs=1).fit(X, y)
    got = flipped_predictions(model, X, [5])
    np.testing.assert_allclose(got[:, 0], model.predict_proba(X)[:, 1], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- importance
@pytest.fixture(scope="module")
def importance_case():
    """A fitted forest and held-out rows: flag 0 planted strong, flag 3 planted
    negative, flag 5 pure noise.
    """
    X, y = make_data(7, n=3000, n_continuous=1)
    train, test = slice(0, 2000), slice(2000, 3000)
    model = RandomForestClassifier(
        n_estimators=60, max_depth=6, min_samples_leaf=30, random_state=0, n_jobs=1
    ).fit(X[train], y[train])
    return model, X[test], y[test]


def test_expected_importance_is_zero_for_noise_and_positive_for_planted(importance_case):
    model, X, y = importance_case
    delta, _ = expected_permutation_importance(model, X, y, range(N_FLAGS))
    imp = delta.mean(axis=0)
    assert imp.shape == (N_FLAGS,)
    assert imp[0] > 0.01 and imp[3] > 0.01  # planted, either direction
    assert abs(imp[5]) < 0.004  # pure noise: ~0 (held out, so it may be slightly negative)
    noise = max(abs(imp[1]), abs(imp[2]), abs(imp[4]), abs(imp[5]))
    assert min(imp[0], imp[3]) > 4 * noise


def test_expected_importance_matches_monte_carlo_permutation(importance_case):
    model, X, y = importance_case
    base, flipped = forest_predictions(model, X, range(N_FLAGS))
    # no prediction touches the loss clipping, so sklearn's log loss is the same loss
    assert min(base.min(), flipped.min()) > _EPS and max(base.max(), flipped.max()) < 1 - _EPS
    columns = [0, 3, 5]
    exact = expected_permutation_importance(model, X, y, columns)[0].mean(axis=0)
    n_repeats = 100
    rng = np.random.default_rng(0)
    base_loss = log_loss(y, base, labels=[0, 1])
    for k, j in enumerate(columns):
        # Monte-Carlo permutation importance: shuffle column j n_repeats times,
        # predict all copies at once
        copies = np.repeat(X[None], n_repeats, axis=0)
        for r in range(n_repeats):
            copies[r, :, j] = rng.permutation(X[:, j])
        p = model.predict_proba(copies.reshape(-1, X.shape[1]))[:, 1].reshape(n_repeats, -1)
        drops = np.array([log_loss(y, p[r], labels=[0, 1]) - base_loss for r in range(n_repeats)])
        se = drops.std(ddof=1) / np.sqrt(n_repeats)
        assert exact[k] == pytest.approx(drops.mean(), abs=4 * se + 1e-4), (
            j,
            exact[k],
            drops.mean(),
            se,
        )


def test_expected_importance_equals_formula(importance_case):
    model, X, y = importance_case
    base = model.predict_proba(X)[:, 1]
    delta, returned_base = expected_permutation_importance(model, X, y, [0])
    imp = delta.mean(axis=0)
    np.testing.assert_allclose(returned_base, base, rtol=0, atol=1e-12)
    # by hand: each row takes the flag's value 1 with probability p
    col = X[:, 0]
    p = col.mean()
    with_one = X.copy()
    with_one[:, 0] = 1
    with_zero = X.copy()
    with_zero[:, 0] = 0
    loss1 = _log_loss_rows(model.predict_proba(with_one)[:, 1], y)
    loss0 = _log_loss_rows(model.predict_proba(with_zero)[:, 1], y)
    by_hand = np.mean(p * loss1 + (1 - p) * loss0) - _log_loss_rows(base, y).mean()
    assert imp[0] == pytest.approx(by_hand, abs=1e-9)
