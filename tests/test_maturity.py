"""Maturity: categories, per-category k, overall m, catalog vs data clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from planted import N_ACCOUNTS, SEEDS, planted_study
from result_protocol import check_escaped, check_protocol
from sklearn.metrics import adjusted_rand_score, cohen_kappa_score

from milestone_discovery import Config
from milestone_discovery.errors import InsufficientDataError
from milestone_discovery.maturity import (
    choose_step,
    discover_maturity,
    maturity_levels,
    propose_categories,
)
from milestone_discovery.synth import planted_maturity


@pytest.fixture(scope="module")
def small():
    return planted_study(4000, 7)


def _planted_k(truth):
    return {c["name"]: c["k"] for c in truth["categories"]}


# ----------------------------------------------------------------------------- acceptance (slow)
@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_mature_overall_agrees_with_planted(seed):
    study = planted_study(N_ACCOUNTS, seed)
    planted = planted_maturity(study.population.flags, study.truth)["mature"]
    found = study.maturity.levels["mature"].reindex(planted.index)
    assert cohen_kappa_score(planted, found) >= 0.8


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_data_clusters_recover_planted_categories(seed):
    study = planted_study(N_ACCOUNTS, seed)
    a = study.maturity.assignments
    # the clustering's job is to group the drivers; a false selection (measured by F1 in
    # test_features) forms a cluster of its own and is left out here
    a = a[a["feature"].map(lambda f: study.truth["features"][f]["role"] == "driver")]
    planted = a["feature"].map({f: s["category"] for f, s in study.truth["features"].items()})
    assert adjusted_rand_score(planted, a["data_cluster"]) >= 0.9


@pytest.mark.slow
def test_thresholds_equal_planted_on_most_seeds():
    k_hits, m_hits = 0, 0
    for seed in SEEDS:
        study = planted_study(N_ACCOUNTS, seed)
        found = study.maturity.categories.set_index("category")["min_features"]
        planted = _planted_k(study.truth)
        k_hits += all(found.get(c) == k for c, k in planted.items())
        m_hits += study.maturity.min_categories == study.truth["min_categories"]
    assert k_hits >= len(SEEDS) - 1
    assert m_hits >= len(SEEDS) - 1


# ----------------------------------------------------------------------------- mechanics (fast)
def test_categories_come_from_the_catalog(small):
    cats = small.maturity.categories
    assert small.maturity.source == "catalog"
    catalog = small.population.catalog
    for row in cats.itertuples():
        assert all(catalog[f] == row.category for f in row.features)
        assert 1 <= row.min_features <= row.n_features
        assert row.min_features_low <= row.min_features <= row.min_features_high
        assert row.lift_low <= row.lift <= row.lift_high
        assert row.outcome_rate_above_low <= row.outcome_rate_above <= row.outcome_rate_above_high


def test_mature_accounts_retain_better(small):
    levels = small.maturity.levels
    retained = small.population.retained.reindex(levels.index)
    assert retained[levels["mature"]].mean() > retained[~levels["mature"]].mean() + 0.1
    by_count = small.maturity.by_count
    assert by_count["accounts"].sum() == len(levels)
    assert by_count["retention"].iloc[-1] > by_count["retention"].iloc[0]


def test_data_source_without_catalog(small):
    config = Config()
    config.maturity.categories = "data"
    result = discover_maturity(small.population, small.features, config)
    assert result.source == "data"
    assert set(result.categories["category"]) == set(result.assignments["data_cluster"])
    # names are made of the clusters' own features, so product managers can rename them
    for row in result.categories.itertuples():
        assert all(part in row.features for part in row.category.split(" + "))


def test_catalog_requested_without_catalog_is_an_error(small):
    pop = type(small.population)(
        **{**small.population.__dict__, "catalog": pd.Series(dtype=object)}
    )
    config = Config()
    config.maturity.categories = "catalog"
    with pytest.raises(InsufficientDataError, match="no feature catalog"):
        discover_maturity(pop, small.features, config)


def test_disagreements_list_features_whose_cluster_differs(small):
    a = small.maturity.assignments
    bad = small.maturity.disagreements
    assert set(bad["feature"]) == set(
        a.loc[a["catalog_category"] != a["cluster_majority_category"], "feature"]
    )


@pytest.mark.parametrize("n_groups", [2, 3, 4])
def test_propose_categories_finds_planted_co_adoption_groups(n_groups):
    rng = np.random.default_rng(n_groups)
    n, per = 3000, 4
    latent = rng.normal(size=(n, n_groups))
    cols, truth = {}, {}
    for g in range(n_groups):
        for j in range(per):
            name = f"g{g}_f{j}"
            cols[name] = (1.6 * latent[:, g] + rng.normal(size=n)) > 0.3
            truth[name] = g
    clusters, silhouette, k = propose_categories(pd.DataFrame(cols))
    assert k == n_groups
    assert adjusted_rand_score(pd.Series(truth), clusters.reindex(list(truth))) == 1.0
    assert silhouette > 0


def test_choose_step_finds_a_step_on_top_of_a_trend():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 6, 20000)
    logit = -1 + 0.4 * counts + 1.0 * (counts >= 3)
    y = rng.random(20000) < 1 / (1 + np.exp(-logit))
    result = choose_step(counts, y, np.arange(1, 6), n_bootstrap=50)
    assert result["m"] == 3
    assert result["ci"][0] <= 3 <= result["ci"][1]


def _category_data(seed: int = 0, n: int = 6000):
    """Three categories of three features; retention steps up at 2 mature categories."""
    rng = np.random.default_rng(seed)
    flags = pd.DataFrame({f"c{c}_f{j}": rng.random(n) < 0.5 for c in range(3) for j in range(3)})
    used = {c: flags.filter(like=f"c{c}_").sum(axis=1).to_numpy() for c in range(3)}
    counts = sum((u >= 2).astype(int) for u in used.values())
    y = rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 0.2 * counts + 1.2 * (counts >= 2))))
    by_category = {c: flags.filter(like=f"c{c}_") for c in range(3)}
    return counts, y, used, by_category


def test_choose_step_carries_the_uncertainty_of_the_selection():
    """Redrawn selections feed the bootstrap: keeping every feature gives the same CI as
    re-choosing k alone; a selection that keeps nothing leaves no step in any resample."""
    counts, y, used, by_category = _category_data()
    candidates = {c: np.arange(1, 4) for c in used}
    common = {"n_bootstrap": 30, "category_counts": used, "category_candidates": candidates}
    alone = choose_step(counts, y, np.arange(1, 4), **common)
    names = [f for flags in by_category.values() for f in flags.columns]
    every = pd.DataFrame(True, index=range(30), columns=names)
    kept = choose_step(
        counts, y, np.arange(1, 4), **common, category_flags=by_category, selections=every
    )
    assert alone["m"] == kept["m"] == 2
    assert kept["ci"] == alone["ci"]
    nothing = choose_step(
        counts, y, np.arange(1, 4), **common, category_flags=by_category, selections=~every
    )
    assert nothing["bootstrap_no_step"] == 1.0


def test_maturity_levels_counts_and_flags():
    flags = pd.DataFrame({"a": [1, 1, 0, 0], "b": [1, 0, 1, 0], "c": [1, 1, 1, 0]}, dtype=bool)
    cats = {
        "x": {"features": ["a", "b"], "min_features": 2},
        "y": {"features": ["c", "missing"], "min_features": 1},
    }
    lv = maturity_levels(flags, cats, min_categories=2)
    assert lv["x:features_used"].tolist() == [2, 1, 1, 0]
    assert lv["x:mature"].tolist() == [True, False, False, False]
    assert lv["y:mature"].tolist() == [True, True, True, False]
    assert lv["mature"].tolist() == [True, False, False, False]


def test_display_and_plots(small):
    html = small.maturity._repr_html_()
    assert "Maturity" in html and "data:image/png;base64," in html
    assert small.maturity.plot_retention_by_count().get_ylabel().startswith("retention")
    assert len(small.maturity.plot_categories().patches) == 2 * len(small.maturity.categories)


@pytest.mark.parametrize(
    "name",
    [lambda m: m.categories["category"].iloc[0], lambda m: m.categories["category"].iloc[-1]],
    ids=["first category", "last category"],
)
def test_result_protocol(small, name):
    result = small.maturity
    check_protocol(result)
    figures = result.summary().set_index("quantity")["value"]
    assert figures["categories"] == len(result.categories)
    check_escaped(result, name(result))
