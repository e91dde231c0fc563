"""Tests of the vectorised 2x2 statistics against statsmodels and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import StratifiedTable, Table2x2
from statsmodels.stats.proportion import proportion_confint

from milestone_discovery import stats


def table_of(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[[x&y, x&~y], [~x&y, ~x&~y]]: rows exposure 1/0, columns outcome 1/0 (statsmodels layout)."""
    x, y = np.asarray(x, bool), np.asarray(y, bool)
    return np.array(
        [[np.sum(x & y), np.sum(x & ~y)], [np.sum(~x & y), np.sum(~x & ~y)]], dtype=float
    )


def random_flags(seed: int, n: int = 600, p: int = 6):
    """Flags with different prevalences and effects on y (no zero cells at this size)."""
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.15, 0.7, p)
    x = rng.random((n, p)) < prevalence
    logit = -0.3 + x @ np.linspace(-1.0, 1.2, p)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return x, y


# ----------------------------------------------------------------------------- Wilson
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_wilson_interval_matches_statsmodels(alpha):
    successes = np.array([0, 1, 5, 17, 50, 99, 100, 3])
    n = np.array([10, 10, 20, 40, 100, 100, 100, 3])
    low, high = stats.wilson_interval(successes, n, alpha)
    ref_low, ref_high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    np.testing.assert_allclose(low, ref_low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(high, ref_high, rtol=0, atol=1e-12)


def test_wilson_interval_scalar_and_empty_group():
    low, high = stats.wilson_interval(7, 20)
    assert 0 < low < 7 / 20 < high < 1
    low0, high0 = stats.wilson_interval(np.array([0, 3]), np.array([0, 10]))
    assert np.isnan(low0[0]) and np.isnan(high0[0])
    assert np.isfinite(low0[1]) and np.isfinite(high0[1])


def test_z_value():
    assert stats.z_value() == pytest.approx(1.959964, abs=1e-6)
    assert stats.z_value(0.1) == pytest.approx(1.644854, abs=1e-6)


# ----------------------------------------------------------------------------- 2x2
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_odds_ratio_woolf_and_risk_ratio_katz_match_statsmodels(seed, alpha):
    x, y = random_flags(seed)
    or_, or_low, or_high = stats.odds_ratio(x, y, alpha)
    rr, rr_low, rr_high = stats.risk_ratio(x, y, alpha)
    for j in range(x.shape[1]):
        t = table_of(x[:, j], y)
        assert t.min() > 0  # the no-zero-cell case: Woolf on the raw counts
        ref = Table2x2(t, shift_zeros=False)
        assert or_[j] == pytest.approx(ref.oddsratio, rel=1e-12)
        np.testing.assert_allclose(
            [or_low[j], or_high[j]], ref.oddsratio_confint(alpha), rtol=1e-12
        )
        assert rr[j] == pytest.approx(ref.riskratio, rel=1e-12)
        np.testing.assert_allclose(
            [rr_low[j], rr_high[j]], ref.riskratio_confint(alpha), rtol=1e-12
        )


def test_odds_ratio_adds_half_to_every_cell_of_a_table_with_a_zero():
    # exposure 1 always has the outcome: cell b = 0
    x = np.array([1] * 8 + [0] * 12, bool)
    y = np.array([1] * 8 + [1] * 5 + [0] * 7, bool)
    or_, low, high = stats.odds_ratio(x, y)
    ref = Table2x2(table_of(x, y) + 0.5, shift_zeros=False)
    assert np.isfinite(or_[0])
    assert or_[0] == pytest.approx(ref.oddsratio, rel=1e-12)
    np.testing.assert_allclose([low[0], high[0]], ref.oddsratio_confint(), rtol=1e-12)


def test_one_dimensional_input_is_one_column():
    x, y = random_flags(3)
    for fn in (stats.odds_ratio, stats.risk_ratio):
        one = fn(x[:, 2], y)
        many = fn(x, y)
        assert all(v.shape == (1,) for v in one)
        assert [v[0] for v in one] == pytest.approx([v[2] for v in many])


def test_cell_counts_sum_to_n():
    x, y = random_flags(4, n=333)
    a, b, c, d = stats.cell_counts(x, y)
    np.testing.assert_array_equal(a + b + c + d, 333)
    np.testing.assert_array_equal(a, (x & y[:, None]).sum(axis=0))
    np.testing.assert_array_equal(d, (~x & ~y[:, None]).sum(axis=0))


# ----------------------------------------------------------------------------- phi
@pytest.mark.parametrize("seed", [0, 5])
def test_phi_equals_pearson_correlation(seed):
    x, y = random_flags(seed, n=400)
    phi = stats.phi_coefficient(x, y)
    ref = [np.corrcoef(x[:, j].astype(float), y.astype(float))[0, 1] for j in range(x.shape[1])]
    np.testing.assert_allclose(phi, ref, rtol=0, atol=1e-12)


def test_phi_sign_and_constant_column():
    y = np.array([1, 1, 0, 0, 1, 0], bool)
    x = np.column_stack([y, ~y, np.ones(6, bool)])
    phi = stats.phi_coefficient(x, y)
    assert phi[0] == pytest.approx(1.0)
    assert phi[1] == pytest.approx(-1.0)
    assert np.isnan(phi[2])  # a constant flag has no correlation


# ----------------------------------------------------------------------------- Mantel-Haenszel
def stratified_data(seed: int):
    """Four strata with different baseline rates; in stratum 2 column 1 is all 0, column 3 all 1."""
    rng = np.random.default_rng(seed)
    sizes = [150, 220, 90, 300]
    base = [-1.0, 0.0, 0.6, 1.2]
    xs, ys, ss = [], [], []
    for k, (n, b) in enumerate(zip(sizes, base, strict=True)):
        x = rng.random((n, 4)) < [0.3, 0.5, 0.2, 0.6]
        if k == 2:
            x[:, 1] = False
            x[:, 3] = True
        y = rng.random(n) < 1 / (1 + np.exp(-(b + x @ np.array([0.8, 0.4, 0.0, -0.5]))))
        xs.append(x)
        ys.append(y)
        ss.append(np.full(n, f"s{k}"))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ss)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mantel_haenszel_matches_statsmodels(seed):
    x, y, strata = stratified_data(seed)
    order = np.random.default_rng(seed).permutation(len(y))  # strata need not be contiguous
    x, y, strata = x[order], y[order], strata[order]
    mh = stats.mantel_haenszel(x, y, strata)
    assert list(mh.columns) == ["or_mh", "or_low", "or_high", "p_value", "informative_strata"]
    for j in range(x.shape[1]):
        st = StratifiedTable(
            [table_of(x[strata == s, j], y[strata == s]) for s in np.unique(strata)]
        )
        row = mh.iloc[j]
        assert row["or_mh"] == pytest.approx(st.oddsratio_pooled, rel=1e-10)
        np.testing.assert_allclose(
            [row["or_low"], row["or_high"]], st.oddsratio_pooled_confint(), rtol=1e-10
        )
        assert row["p_value"] == pytest.approx(
            st.test_null_odds(correction=False).pvalue, rel=1e-8, abs=1e-14
        )
    # the constant column in stratum s2 is not informative there
    assert mh["informative_strata"].tolist() == [4, 3, 4, 3]


def test_mantel_haenszel_alpha_widens_interval():
    x, y, strata = stratified_data(7)
    narrow = stats.mantel_haenszel(x, y, strata, alpha=0.2)
    wide = stats.mantel_haenszel(x, y, strata, alpha=0.01)
    assert (wide["or_low"] < narrow["or_low"]).all() and (wide["or_high"] > narrow["or_high"]).all()
    np.testing.assert_allclose(wide["or_mh"], narrow["or_mh"])


def test_mantel_haenszel_removes_confounding_by_stratum():
    """A flag that only marks the stratum with high retention has a raw effect
    but no adjusted one.
    """
    rng = np.random.default_rng(11)
    n = 4000
    big = rng.random(n) < 0.5
    x = rng.random(n) < np.where(big, 0.8, 0.2)  # adoption depends on the stratum only
    y = rng.random(n) < np.where(big, 0.85, 0.45)  # retention depends on the stratum only
    raw = stats.odds_ratio(x, y)
    mh = stats.mantel_haenszel(x, y, big.astype(int))
    assert raw[1][0] > 1.5  # raw association clearly positive
    assert mh.loc[0, "or_low"] < 1 < mh.loc[0, "or_high"]
    assert mh.loc[0, "p_value"] > 0.01


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_indices_shape_range_and_determinism():
    a = stats.bootstrap_indices(50, 7, np.random.default_rng(1))
    b = stats.bootstrap_indices(50, 7, np.random.default_rng(1))
    assert a.shape == (7, 50)
    assert a.min() >= 0 and a.max() < 50
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- logistic fits
@pytest.mark.parametrize("shared_design", [True, False])
def test_logistic_fit_batch_matches_one_fit_at_a_time(shared_design):
    """Many fits at once give each fit's own answer, also for separated data."""
    rng = np.random.default_rng(3)
    levels = np.arange(8, dtype=float)
    tot = rng.integers(5, 60, size=len(levels)).astype(float)
    pos = np.stack([rng.binomial(tot.astype(int), p) for p in (0.3, 0.6, 0.9)]).astype(float)
    pos[2, -2:] = tot[-2:]  # every account retained at the top levels: quasi-separation
    designs = [np.column_stack([levels, (levels >= t).astype(float)]) for t in (2, 4, 6)]
    if shared_design:
        ll, beta = stats.logistic_fit_batch(designs[0], pos, tot)
    else:  # a shared trend, and each fit's own step column
        ll, beta = stats.logistic_fit_batch(levels, pos, tot, varying=np.stack(designs)[:, :, 1])
    for b in range(3):
        one_ll, one_beta = stats.logistic_fit(designs[0 if shared_design else b], pos[b], tot)
        assert ll[b] == pytest.approx(one_ll, abs=1e-8)
        np.testing.assert_allclose(beta[b], one_beta, atol=1e-6)
