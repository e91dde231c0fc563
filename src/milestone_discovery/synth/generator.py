"""The generator: accounts, adoption, activity, churn and the tables.

One code path for every scenario; a :class:`~.scenarios.Scenario` only
changes parameters (merged ``EFFECTS``, feature roles and prevalences, the
maturity rule).  Terms that are zero in the default shape are added only
when a scenario plants them, and extra random draws happen only in the
scenarios that need them, so ``default`` reproduces the historical data
exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .catalog import (
    ACTIVATION_THRESHOLD,
    ACTIVITY_MONTHS,
    CATEGORIES,
    DESCRIPTIONS,
    FEATURES,
    HORIZON_DAYS,
    OBSERVATION_DAYS,
    PLAN_SHARES,
    PLANS,
    SETUP_STEPS,
    SETUP_WINDOW_DAYS,
    SIGNUP_SPAN_DAYS,
    UTILIZATION_THRESHOLD,
)
from .dataset import SyntheticDataset
from .scenarios import Scenario, get_scenario
from .truth import build_truth, retention_rate

__all__ = ["make_synthetic"]


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    p = np.asarray(p, dtype=float)
    return np.log(p / (1.0 - p))


def _solve_intercepts(target, mu, sd, plan_eff, shares):
    """Intercepts giving the target marginal prevalence.

    Prevalence is ``sum_p share_p fx[expit(a + plan_eff_p + mu_p + sd_p X)]``
    with ``X ~ N(0, 1)``; all arguments are per feature (``mu``, ``sd``,
    ``plan_eff`` of shape ``(F, n_plans)``).
    """
    x, w = np.polynomial.hermite_e.hermegauss(41)
    w = w / w.sum()
    shares = np.asarray(shares)
    lo = np.full(len(target), -15.0)
    hi = np.full(len(target), 15.0)
    for _ in range(80):
        a = 0.5 * (lo + hi)
        lin = (a[:, None] + plan_eff + mu)[:, :, None] + sd[:, :, None] * x
        prev = (_expit(lin) @ w) @ shares
        too_high = prev > target
        hi = np.where(too_high, a, hi)
        lo = np.where(too_high, lo, a)
    return 0.5 * (lo + hi)


def _feature_params(fx: dict, features) -> dict:
    """Per-feature adoption parameters (deterministic, independent of seed).

    Parameters
    ----------
    fx : dict
        Merged effects of the scenario.
    features : sequence of (name, category, role, hypothesis, prevalence)
        Feature table with generating roles.

    Returns
    -------
    dict
        Arrays per feature: category index, role, adoption intercept (solved
        for the target prevalence), loadings, plan effects, first-use-day
        Beta parameters (``None`` for the shared default) and usage rate.
    """
    eff = fx["adoption"]
    size_eff = fx["company_size"]
    names = [f[0] for f in features]
    cat = np.array([CATEGORIES.index(f[1]) for f in features])
    role = np.array([f[2] for f in features])
    target = np.array([f[4] for f in features])
    n_f = len(names)
    n_p = len(PLANS)

    z_load = np.zeros(n_f)
    z_load[role == "driver"] = eff["driver"]["z_loading"]
    z_load[role == "proxy"] = eff["proxy"]["z_loading"]
    e_load = np.array([float(eff["engagement_loading"].get(r, 0.0)) for r in role])
    size_load = np.where(role == "confounded", eff["confounded"]["log_size_std_loading"], 0.0)
    plan_eff = np.zeros((n_f, n_p))
    plan_eff[role == "driver"] = [eff["driver"]["plan"][p] for p in PLANS]
    for r in ("niche", "segment"):
        q = eff[r]
        plan_eff[role == r] = _logit([q["p_other"], q["p_other"], q["p_premium"]])

    # Standardised log size per plan: mean and sd of the latent term.
    shift = np.array([size_eff["plan_shift"][p] for p in PLANS])
    m_size = (size_eff["log_median_starter"] + shift - size_eff["std_center_log"]) / size_eff[
        "std_scale_log"
    ]
    s_size = size_eff["sigma"] / size_eff["std_scale_log"]
    mu = size_load[:, None] * m_size[None, :]
    # Latent term z_load * z + e_load * g with z = gl * g + sl * eps (gl^2 + sl^2 = 1).
    g_cov = 2.0 * fx["latent"]["g_loading"] * z_load * e_load + e_load**2
    sd = np.sqrt(z_load**2 + g_cov + (size_load * s_size) ** 2)[:, None] * np.ones((1, n_p))

    solve = ~np.isin(role, ["niche", "segment", "leaky"])
    intercept = np.zeros(n_f)
    intercept[solve] = _solve_intercepts(
        target[solve], mu[solve], sd[solve], plan_eff[solve], PLAN_SHARES
    )
    by_role = eff["window_day_beta_by_role"]
    day_beta = np.array([by_role.get(r, eff["window_day_beta"]) for r in role], dtype=float)
    return {
        "names": names,
        "category": cat,
        "role": role,
        "intercept": intercept,
        "z_loading": z_load,
        "engagement_loading": e_load,
        "size_loading": size_load,
        "plan_effect": plan_eff,
        # Beta(a, b) of the in-window first-use day; None: the shared default.
        "day_beta": day_beta if by_role else None,
        # Mean usage events per month of exposure (per sqrt seat); catalog constant.
        "use_rate": np.select(
            [role == "ubiquitous", role == "leaky"],
            [31.0 + np.arange(n_f) % 3, 0.05],
            1.0 + (np.arange(n_f) * 7 % 13),
        ),
    }


def _days(d):
    """Int days since epoch -> datetime64[us]."""
    return np.asarray(d).astype("datetime64[D]").astype("datetime64[us]")


def make_synthetic(
    n_accounts: int | None = None,
    seed: int = 0,
    as_of: str = "2026-06-30",
    scenario: str | Scenario = "default",
) -> SyntheticDataset:
    """Generate a synthetic dataset with planted milestone truth.

    Parameters
    ----------
    n_accounts : int, optional
        Number of accounts; signups spread uniformly over the 3 years
        before ``as_of``.  Default: the scenario's ``default_n`` (3000,
        2000 for ``small``).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives identical
        frames and files.
    as_of : str, default "2026-06-30"
        Snapshot date (ISO).  Nothing is observed after it; churn after it is
        not recorded.
    scenario : str or Scenario, default "default"
        Preset name (see :data:`~milestone_discovery.synth.scenarios.SCENARIOS`).

    Returns
    -------
    SyntheticDataset
        The tables and ``truth`` (see the package docstring and
        ``truth["effects"]`` for every coefficient used).

    Raises
    ------
    UnknownScenarioError
        If ``scenario`` is not a preset name.
    ValueError
        If ``n_accounts < 1``.
    """
    sc = get_scenario(scenario)
    if n_accounts is None:
        n_accounts = sc.default_n
    if n_accounts < 1:
        raise ValueError("n_accounts must be >= 1")
    rng = np.random.default_rng(seed)
    n = int(n_accounts)
    as_of_d = np.datetime64(pd.Timestamp(as_of).date(), "D")
    as_of_i = as_of_d.astype(np.int64)
    fx = sc.merged_effects()
    features = sc.features()
    n_cat = len(CATEGORIES)

    # --- accounts -------------------------------------------------------
    age = np.sort(rng.integers(0, SIGNUP_SPAN_DAYS + 1, n))[::-1]
    signup = as_of_i - age  # int days since epoch; ids follow signup order
    plan = rng.choice(len(PLANS), size=n, p=PLAN_SHARES)
    cs = fx["company_size"]
    shift = np.array([cs["plan_shift"][p] for p in PLANS])
    log_size = cs["log_median_starter"] + shift[plan] + cs["sigma"] * rng.standard_normal(n)
    size = np.clip(np.rint(np.exp(log_size)), 1, cs["max"]).astype(np.int64)
    zsize = (np.log(size) - cs["std_center_log"]) / cs["std_scale_log"]
    lo_f, hi_f = fx["seats_fraction_uniform"]
    seats = np.maximum(1, np.rint(size * rng.uniform(lo_f, hi_f, n))).astype(np.int64)
    g = rng.standard_normal(n)  # general factor; the engagement latent of engagement_null
    lat = fx["latent"]
    z = lat["g_loading"] * g[:, None] + lat["specific_loading"] * rng.standard_normal((n, n_cat))

    # --- setup steps (completion independent of engagement) --------------
    st = fx["setup"]
    step_names = [s[0] for s in SETUP_STEPS]
    step_kind = np.array([s[1] for s in SETUP_STEPS])
    p_done = np.array([s[2] for s in SETUP_STEPS])
    p_early = np.array([s[3] for s in SETUP_STEPS])
    n_s = len(step_names)
    done = rng.random((n, n_s)) < p_done
    early = rng.random((n, n_s)) < p_early
    step_day = np.where(
        early,
        rng.integers(st["early_days"][0], st["early_days"][1] + 1, (n, n_s)),
        rng.integers(st["late_days"][0], st["late_days"][1] + 1, (n, n_s)),
    )
    step_day = np.where(done, step_day, -1)
    in_setup = done & (step_day < SETUP_WINDOW_DAYS)

    # --- conversations ----------------------------------------------------
    cv = fx["conversations"]
    log_rate = (
        np.log(cv["per_seat_rate_median_base"])
        + cv["per_seat_rate_g_loading"] * g
        + cv["per_seat_rate_log_sigma"] * rng.standard_normal(n)
        + np.log(st["driver_rate_multiplier"]) * in_setup[:, step_kind == "driver"].sum(1)
        + np.log(st["routine_skipped_rate_multiplier"])
        * (~in_setup[:, step_kind == "routine"]).sum(1)
    )
    rate = np.exp(log_rate)  # conversations per seat per month at full ramp

    months = np.arange(ACTIVITY_MONTHS)
    signup_m = signup.astype("datetime64[D]").astype("datetime64[M]")
    m_start = (signup_m[:, None] + months).astype("datetime64[D]").astype(np.int64)
    m_next = (signup_m[:, None] + months + 1).astype("datetime64[D]").astype(np.int64)
    m_len = m_next - m_start
    first_active = np.maximum(m_start, signup[:, None])
    days_signup = m_next - first_active  # active days ignoring churn / as_of
    ramp = np.asarray(cv["ramp"])[:ACTIVITY_MONTHS]
    lam = (
        seats[:, None]
        * rate[:, None]
        * ramp
        * np.exp(cv["monthly_noise_log_sigma"] * rng.standard_normal((n, ACTIVITY_MONTHS)))
        * (days_signup / m_len)
    )
    conv_full = rng.poisson(lam)
    p_res = rng.beta(*cv["resolved_share_beta"], n)
    res_full = rng.binomial(conv_full, p_res[:, None])

    act_metric = conv_full[:, :3].sum(1)
    activated = act_metric >= ACTIVATION_THRESHOLD
    util_metric = (res_full[:, 3:6] / seats[:, None]).mean(1)
    utilized = util_metric >= UTILIZATION_THRESHOLD

    # --- feature adoption inside the observation window ---------------------
    fp = _feature_params(fx, features)
    role = fp["role"]
    n_f = len(fp["names"])
    ad = fx["adoption"]
    logit_w = (
        fp["intercept"]
        + fp["z_loading"] * z[:, fp["category"]]
        + fp["size_loading"] * zsize[:, None]
        + fp["plan_effect"][:, plan].T
    )
    if fp["engagement_loading"].any():
        logit_w = logit_w + fp["engagement_loading"] * g[:, None]
    p_win = _expit(logit_w)
    leaky = role == "leaky"
    p_win[:, leaky] = 0.0
    win = rng.random((n, n_f)) < p_win
    if fp["day_beta"] is None:
        day_beta = rng.beta(*ad["window_day_beta"], (n, n_f))
    else:
        day_beta = rng.beta(fp["day_beta"][:, 0], fp["day_beta"][:, 1], (n, n_f))
    day_w = np.floor((OBSERVATION_DAYS + 1) * day_beta)
    ubiq = role == "ubiquitous"
    day_u = np.minimum(
        np.floor(rng.exponential(ad["ubiquitous_day_mean"], (n, int(ubiq.sum())))), OBSERVATION_DAYS
    )
    day_w[:, ubiq] = day_u
    day_w = day_w.astype(np.int64)

    # --- planted retention (for window survivors) ----------------------------
    rl = fx["retention_logit"]
    n_drv = np.zeros((n, n_cat), dtype=np.int64)
    for c in range(n_cat):  # loop over 5 categories, not accounts
        n_drv[:, c] = win[:, (fp["category"] == c) & (role == "driver")].sum(1)
    if sc.category_k is None:
        mature_c = np.zeros((n, n_cat), dtype=bool)
    else:
        mature_c = n_drv >= np.array([sc.category_k[c] for c in CATEGORIES])
    n_mature = mature_c.sum(1)
    min_cat = sc.min_categories if sc.min_categories is not None else n_cat + 1
    plan_ret = np.array([rl["plan"][p] for p in PLANS])
    logit_r = (
        rl["intercept"]
        + mature_c @ np.array([rl["mature_category"][c] for c in CATEGORIES])
        + rl["min_categories_bonus"] * (n_mature >= min_cat)
        + rl["log_company_size_std"] * zsize
        + plan_ret[plan]
        + rl["activated"] * activated
        + rl["utilized"] * utilized
        + rl["ubiquitous_skipped_each"] * (~win[:, ubiq]).sum(1)
        + rl["negative_feature_each"] * win[:, role == "negative"].sum(1)
    )
    logit_r = logit_r + _extra_retention_terms(rl, win, fp, n_drv, act_metric, util_metric, g, plan)
    retained = rng.random(n) < _expit(logit_r)

    # --- churn day (days after signup; customer on days < churn_day) ---------
    ch = fx["churn"]
    u_bg = rng.random(n)
    u_act = rng.random(n)
    d_bg = rng.integers(ch["background_days"][0], ch["background_days"][1] + 1, n)
    d_act = rng.integers(ch["activation_days"][0], ch["activation_days"][1] + 1, n)
    d_nr = rng.integers(ch["not_retained_days"][0], ch["not_retained_days"][1] + 1, n)
    d_late = (
        HORIZON_DAYS
        + 1
        + np.floor(rng.exponential(ch["retained_later_mean_days"], n)).astype(np.int64)
    )
    smooth = ch["activation_smooth"]
    if smooth is None:
        p_act = np.where(activated, ch["activation_prob_above"], ch["activation_prob_below"])
    else:
        p_act = _expit(smooth["intercept"] + smooth["log1p_slope"] * np.log1p(act_metric))
    churn_day = np.where(
        u_bg < ch["background_prob"],
        d_bg,
        np.where(u_act < p_act, d_act, np.where(retained, d_late, d_nr)),
    )
    if ch["first_renewal_prob"] > 0:
        lo_r, hi_r = ch["first_renewal_days"]
        renew = (u_bg >= ch["background_prob"]) & (rng.random(n) < ch["first_renewal_prob"])
        churn_day = np.where(renew, rng.integers(lo_r, hi_r + 1, n), churn_day)
    churn_obs = signup + churn_day <= as_of_i
    # Last observable day after signup (inclusive): churn date or as_of.
    last_day = np.where(churn_obs, churn_day, as_of_i - signup)

    # --- feature usage ---------------------------------------------------------
    first = np.where(win, day_w, -1)
    # Post-window drift for features not adopted in the window.
    drift_p = np.where(
        role == "survivor",
        ad["survivor"]["p_post_window"],
        ad["post_window_drift"]["relative_prob"] * p_win,
    )
    drift_p[:, leaky] = 0.0
    delay_mean = np.where(
        role == "survivor",
        ad["survivor"]["post_window_mean_delay_days"],
        ad["post_window_drift"]["mean_delay_days"],
    )
    d_post = (
        OBSERVATION_DAYS
        + 1
        + np.floor(rng.exponential(1.0, (n, n_f)) * delay_mean).astype(np.int64)
    )
    post = (~win) & (rng.random((n, n_f)) < drift_p)
    first = np.where(post, d_post, first)
    # Leaky: used right before churn by most churners, at random by a few others.
    lk = ad["leaky"]
    n_lk = int(leaky.sum())
    before = churn_obs[:, None] & (rng.random((n, n_lk)) < lk["p_churner_before_churn"])
    d_before = np.maximum(
        churn_day[:, None] - rng.integers(0, lk["lookback_days"] + 1, (n, n_lk)), 0
    )
    rand_use = rng.random((n, n_lk)) < lk["p_random"]
    d_rand = np.floor(rng.random((n, n_lk)) * (last_day[:, None] + 1)).astype(np.int64)
    first[:, leaky] = np.where(before, d_before, np.where(rand_use, d_rand, -1))
    first = np.where(first <= last_day[:, None], first, -1)

    acc_idx, feat_idx = np.nonzero(first >= 0)
    f_day = first[acc_idx, feat_idx]
    exposure = (last_day[acc_idx] - f_day + 1) / 30.4
    uses = 1 + rng.poisson(fp["use_rate"][feat_idx] * exposure * np.sqrt(seats[acc_idx]))

    # --- setup rows ---------------------------------------------------------------
    s_acc, s_idx = np.nonzero(done & (step_day <= last_day[:, None]))
    s_day = step_day[s_acc, s_idx]

    # --- activity rows (thin the churn / as_of month) ------------------------------
    end_abs = signup + last_day
    days_obs = np.clip(np.minimum(m_next - 1, end_abs[:, None]) - first_active + 1, 0, None)
    q = np.where(days_signup > 0, days_obs / np.maximum(days_signup, 1), 0.0)
    res_obs = rng.binomial(res_full, q)
    unres_obs = rng.binomial(conv_full - res_full, q)
    a_acc, a_m = np.nonzero(m_start <= end_abs[:, None])

    # --- expansion ------------------------------------------------------------------
    ex = fx["expansion_logit"]
    alive_365 = (churn_day > HORIZON_DAYS) & (age >= HORIZON_DAYS)
    logit_ex = (
        ex["intercept"]
        + ex["n_mature"] * n_mature
        + ex["utilized"] * utilized
        + ex["log_company_size_std"] * zsize
    )
    if ex.get("direct_feature"):  # expansion drivers (the ``expansion`` scenario)
        coef_ex = np.array([ex["direct_feature"].get(f, 0.0) for f in fp["names"]])
        logit_ex = logit_ex + win @ coef_ex
    p_ex = _expit(logit_ex)
    expansion = (alive_365 & (rng.random(n) < p_ex)).astype(np.int64)

    # --- frames ---------------------------------------------------------------------
    ids = np.char.add("A", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    ids_pa = _pa_strings(ids)
    churn_vals = _days(signup + churn_day).copy()
    churn_vals[~churn_obs] = np.datetime64("NaT")
    accounts = pd.DataFrame(
        {
            "account_id": _take(ids_pa, np.arange(n)),
            "signup_date": _days(signup),
            "seats": seats,
            "company_size": size,
            "plan": _take(_pa_strings(np.array(PLANS)), plan),
            "churn_date": churn_vals,
            "expansion": expansion,
        }
    )
    feature_usage = pd.DataFrame(
        {
            "account_id": _take(ids_pa, acc_idx),
            "feature": _take(_pa_strings(np.array(fp["names"])), feat_idx),
            "first_used_at": _days(signup[acc_idx] + f_day),
            "uses": uses.astype(np.int64),
        }
    )
    activity = pd.DataFrame(
        {
            "account_id": _take(ids_pa, a_acc),
            "month": _days(m_start[a_acc, a_m]),
            "conversations": (res_obs + unres_obs)[a_acc, a_m].astype(np.int64),
            "resolved_conversations": res_obs[a_acc, a_m].astype(np.int64),
        }
    )
    setup_steps = pd.DataFrame(
        {
            "account_id": _take(ids_pa, s_acc),
            "step": _take(_pa_strings(np.array(step_names)), s_idx),
            "completed_at": _days(signup[s_acc] + s_day),
        }
    )
    feature_catalog = pd.DataFrame(
        {
            "feature": pd.array([f[0] for f in FEATURES], dtype="str"),
            "category": pd.array([f[1] for f in FEATURES], dtype="str"),
            "description": pd.array([DESCRIPTIONS[f[0]] for f in FEATURES], dtype="str"),
            "hypothesis": pd.array([f[3] for f in FEATURES], dtype="str"),
        }
    )
    truth = build_truth(seed, n, as_of_d, fp, sc, fx, features, retention_rate(churn_day, age))
    return SyntheticDataset(
        accounts=accounts,
        feature_usage=feature_usage,
        feature_catalog=feature_catalog,
        activity=activity,
        setup_steps=setup_steps,
        truth=truth,
    )


def _extra_retention_terms(rl, win, fp, n_drv, act_metric, util_metric, g, plan):
    """Retention log-odds terms that are zero in the default shape (0.0 when all are)."""
    extra = 0.0
    # feature -> {plan: effect}: a direct effect of in-window adoption in some plans only
    for feature, by_plan in (rl.get("plan_feature") or {}).items():
        effect = np.array([by_plan.get(p, 0.0) for p in PLANS])[plan]
        extra = extra + effect * win[:, fp["names"].index(feature)]
    if rl["activation_log1p"]:
        extra = extra + rl["activation_log1p"] * np.log1p(act_metric)
    if rl["utilization_log"]:
        extra = extra + rl["utilization_log"] * np.log(rl["utilization_log_offset"] + util_metric)
    if rl["per_driver"]:
        extra = extra + n_drv @ np.array([rl["per_driver"].get(c, 0.0) for c in CATEGORIES])
    if rl["direct_feature"]:
        coef = np.array([rl["direct_feature"].get(f, 0.0) for f in fp["names"]])
        extra = extra + win @ coef
    if rl["engagement"]:
        extra = extra + rl["engagement"] * g
    return extra


def _pa_strings(values):
    import pyarrow as pa

    return pa.array(values.tolist(), type=pa.string())


def _take(pa_arr, idx):
    import pyarrow as pa

    return pd.array(pa_arr.take(pa.array(np.asarray(idx, dtype=np.int64))), dtype="str")
