"""Redrawn feature selections: the uncertainty of which features were selected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milestone_discovery.config import FeatureConfig
from milestone_discovery.selection_draws import draw_selections


def _table() -> pd.DataFrame:
    """A clear driver, one on the line, a null, a driver without adjusted support, a niche."""
    z_line = 1.8  # about BH's line for the third of four candidates (q = 0.0375)
    return pd.DataFrame(
        {
            "feature": ["clear", "borderline", "null", "unsupported", "rare"],
            "status": ["selected"] * 2 + ["dropped_unimportant"] * 2 + ["dropped_niche"],
            "importance": [10e-4, z_line * 1e-4, 0.0, 10e-4, 10e-4],
            "importance_se": [1e-4] * 5,
            "importance_q": [1e-20, 0.05, 1.0, 1e-20, np.nan],
            "equivalent_or": [1.2, 1.1, 1.0, 1.2, 1.2],
            "adj_or": [2.0, 1.8, 1.0, 1.05, 2.0],
            "adj_p": [1e-10, 1e-10, 1.0, 1.0, 1e-10],
        }
    )


def test_draws_follow_the_strength_of_the_evidence():
    draws = draw_selections(_table(), FeatureConfig(), n_draws=400, seed=0)
    assert list(draws.columns) == ["clear", "borderline", "null", "unsupported"]  # niche: never
    share = draws.mean()
    assert share["clear"] == 1.0
    assert 0.2 < share["borderline"] < 0.8
    assert share["null"] < 0.05
    assert share["unsupported"] < 0.05


@pytest.mark.parametrize("min_relevant_or, expected", [(1.0, 1.0), (1.5, 0.0)])
def test_draws_apply_the_minimum_relevant_effect(min_relevant_or, expected):
    cfg = FeatureConfig(min_relevant_or=min_relevant_or)
    assert draw_selections(_table(), cfg, n_draws=50, seed=0)["clear"].mean() == expected


def test_same_seed_same_draws_and_empty_cases():
    a = draw_selections(_table(), FeatureConfig(), n_draws=20, seed=3)
    b = draw_selections(_table(), FeatureConfig(), n_draws=20, seed=3)
    pd.testing.assert_frame_equal(a, b)
    none = draw_selections(_table().iloc[4:], FeatureConfig(), n_draws=5, seed=0)
    assert none.shape == (5, 0)
