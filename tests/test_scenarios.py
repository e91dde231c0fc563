"""Acceptance on every scenario preset (slow): the study against each planted truth.

One study per preset (seed 0; 20k accounts, or the preset's own size for
``small``), judged by :func:`milestone_discovery.synth.recovery` with the
targets of issue 9: F1 >= 0.9 against the planted drivers (the plain null:
at most one feature selected), no trap selected, the planted ``shape`` of
activation, utilization and maturity found, kappa of "mature overall" >= 0.8
wherever a step is planted. The three-seed figures come from
``benchmarks/scenarios.py``.

Targets the study does not reach yet are strict ``xfail`` with the
measured reason, so the table is an honest record and flips when fixed.
"""

from __future__ import annotations

import functools
import math

import pytest

from milestone_discovery import Config, run_study
from milestone_discovery.synth import SCENARIOS, make_synthetic, recovery

pytestmark = pytest.mark.slow

N_ACCOUNTS = 20_000
SEED = 0

#: (preset, check) -> why the study misses it (measured on seeds 0-2 at 20k accounts)
KNOWN_GAPS = {
    ("imbalanced", "f1"): "95% retention: ~550 churners leave the conditional tests underpowered",
    ("imbalanced", "traps"): "a size-confounded feature passes both tests at 95% retention",
    ("imbalanced", "shape_maturity"): "the step at m is not detectable beyond the trend",
    ("imbalanced", "kappa"): "too few drivers selected to rebuild the categories",
    ("dominant", "shape_maturity"): "one dominant driver bends the count curve; step not shown",
    ("small", "f1"): "1,100 eligible accounts: every driver is underpowered",
    ("small", "shape_utilization"): "the utilization step is not detectable at this size",
    ("small", "shape_maturity"): "no features selected, so no maturity step",
    ("small", "kappa"): "no features selected, so no maturity step",
    ("null", "shape_utilization"): "a false 'gradual' (the shape test's 5% error) on this seed",
}


@functools.cache
def _recovered(scenario: str, early_activity: bool = False) -> dict:
    n = None if scenario == "small" else N_ACCOUNTS
    syn = (
        make_synthetic(n, seed=SEED, scenario=scenario)
        if n
        else make_synthetic(seed=SEED, scenario=scenario)
    )
    config = Config()
    config.study.seed = SEED
    config.features.adjust_for_early_activity = early_activity
    study = run_study(syn.to_dataset(), config, progress=False, temporal=False, secondary=False)
    return recovery(study, syn.truth)


def _check(scenario: str, check: str) -> tuple[bool, str]:
    r = _recovered(scenario)
    if check == "f1":
        if r["drivers"] == 0:
            return r["selected"] <= 1, f"{r['selected']} selected on a null"
        return (not math.isnan(r["f1"])) and r["f1"] >= 0.9, f"F1 {r['f1']:.3f}, {r}"
    if check == "traps":
        return not r["traps"], f"traps selected: {r['traps']}"
    if check.startswith("shape_"):
        stage = check.removeprefix("shape_")
        found, planted = r["shape"][stage], r["planted_shape"][stage]
        return found == planted, f"{stage} shape {found}, planted {planted}"
    if check == "kappa":
        return r["kappa"] >= 0.8, f"kappa {r['kappa']:.3f} (m {r['m']}, planted {r['planted_m']})"
    raise ValueError(check)


def _cases():
    for scenario, preset in SCENARIOS.items():
        checks = ["f1", "traps", "shape_activation", "shape_utilization", "shape_maturity"]
        if scenario == "engagement_null":
            checks = ["traps", "shape_activation", "shape_utilization", "shape_maturity"]
        if preset.min_categories is not None:
            checks.append("kappa")
        for check in checks:
            why = KNOWN_GAPS.get((scenario, check))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            yield pytest.param(scenario, check, marks=marks, id=f"{scenario}-{check}")


@pytest.mark.parametrize(("scenario", "check"), list(_cases()))
def test_scenario_recovers_planted_truth(scenario, check):
    ok, detail = _check(scenario, check)
    assert ok, detail


def test_adjusting_for_early_activity_removes_engagement_driven_selections():
    """The engagement-confounded null: no feature is causal, yet engaged accounts adopt and stay."""
    plain = _recovered("engagement_null")
    adjusted = _recovered("engagement_null", early_activity=True)
    assert plain["selected"] >= 3, plain  # the confounding is real and visible without adjustment
    assert adjusted["selected"] <= plain["selected"] // 2, (plain, adjusted)
