"""Diagnostic: does every planted role in ``make_synthetic`` behave as designed?

For one generated dataset, prints per feature: role, windowed prevalence in the
retention population, raw retention lift (adopters / non-adopters) with its
p-value, the Mantel-Haenszel odds ratio over size-decile x plan strata with its
95% CI, an odds ratio additionally stratified by the number of other drivers of
the feature's category used, and the share of premium accounts among adopters.
Then checks each role against its design and prints a summary.

Usage::

    python benchmarks/check_synth_traps.py --accounts 20000 --seed 0
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from milestone_discovery.synth import make_synthetic, planted_maturity


def mh_or(x, y, strata, alpha=0.05):
    """Mantel-Haenszel OR of binary y on binary x over integer strata, with CI."""
    x = x.astype(bool)
    y = y.astype(bool)
    k = strata.max() + 1
    cell = strata * 4 + x * 2 + y
    t = np.bincount(cell, minlength=4 * k).reshape(k, 2, 2)[:, ::-1, ::-1]
    keep = (t.sum(2).min(1) > 0) & (t.sum(1).min(1) > 0)
    if keep.sum() == 0:
        return np.nan, np.nan, np.nan
    st = StratifiedTable(np.moveaxis(t[keep], 0, -1).astype(float))
    lo, hi = st.oddsratio_pooled_confint(alpha=alpha)
    return st.oddsratio_pooled, lo, hi


def analyse(ds):
    truth = ds.truth
    a = ds.accounts.set_index("account_id")
    as_of = pd.Timestamp(truth["as_of"])
    obs = pd.Timedelta(days=truth["observation_days"])
    hor = pd.Timedelta(days=truth["horizon_days"])
    feats = ds.feature_catalog["feature"].tolist()
    fidx = {f: i for i, f in enumerate(feats)}
    pos = pd.Series(np.arange(len(a)), index=a.index)

    u = ds.feature_usage
    ai = pos.loc[u["account_id"]].to_numpy()
    fi = u["feature"].map(fidx).to_numpy()
    su = a["signup_date"].to_numpy()[ai]
    in_win = u["first_used_at"].to_numpy() <= su + obs.to_timedelta64()
    win = np.zeros((len(a), len(feats)), bool)
    life = np.zeros((len(a), len(feats)), bool)
    win[ai[in_win], fi[in_win]] = True
    life[ai, fi] = True

    churn = a["churn_date"]
    pop = (
        (a["signup_date"] <= as_of - hor) & (churn.isna() | (churn > a["signup_date"] + obs))
    ).to_numpy()
    ret = (churn.isna() | (churn > a["signup_date"] + hor)).to_numpy()
    plan = a["plan"].map({"starter": 0, "pro": 1, "premium": 2}).to_numpy()
    size = a["company_size"].to_numpy()

    wp, rp = win[pop], ret[pop]
    dec = pd.qcut(pd.Series(size[pop]).rank(method="first"), 10, labels=False).to_numpy()
    strata = dec * 3 + plan[pop]
    prem = plan[pop] == 2

    flags = pd.DataFrame(win, index=a.index, columns=feats)
    mat = planted_maturity(flags, truth)
    cats = [c["name"] for c in truth["categories"]]
    pattern = (mat[cats].to_numpy()[pop] * (2 ** np.arange(len(cats)))).sum(1)

    role = {f: truth["features"][f]["role"] for f in feats}
    cat_of = {f: truth["features"][f]["category"] for f in feats}
    drivers = {c["name"]: c["drivers"] for c in truth["categories"]}

    # leaky timing: churned adopters whose first use is within 30 days before churn
    cd = churn.to_numpy()[ai]
    fu = u["first_used_at"].to_numpy()
    near = (~pd.isna(cd)) & (fu >= cd - np.timedelta64(30, "D")) & (fu <= cd)

    rows = []
    for f in feats:
        j = fidx[f]
        x = wp[:, j]
        n1 = x.sum()
        r1 = rp[x].mean() if n1 else np.nan
        r0 = rp[~x].mean()
        tab = np.array([[np.sum(x & rp), np.sum(x & ~rp)], [np.sum(~x & rp), np.sum(~x & ~rp)]])
        pval = stats.chi2_contingency(tab)[1] if n1 and n1 < len(x) else np.nan
        orr, lo, hi = mh_or(x, rp, strata)
        _, lo99, hi99 = mh_or(x, rp, strata, alpha=0.01)
        # stratify also by number of the category's other drivers in use
        others = [fidx[d] for d in drivers[cat_of[f]] if d != f]
        n_oth = wp[:, others].sum(1)
        orc, loc, hic = mh_or(x, rp, strata * 5 + n_oth)
        # non-drivers: also hold the whole planted maturity pattern fixed
        adj = (plan[pop] * 2 ** len(cats) + pattern) * 5 + n_oth
        ora, loa, hia = mh_or(x, rp, adj, alpha=0.01) if role[f] != "driver" else (orc, loc, hic)
        phi = np.nan
        if role[f] in ("proxy", "driver"):
            phis = [np.corrcoef(x, wp[:, fidx[d]])[0, 1] for d in drivers[cat_of[f]] if d != f]
            phi = float(np.mean(phis))
        churned_adopt = (fi == j) & ~pd.isna(cd)
        rows.append(
            {
                "feature": f,
                "role": role[f],
                "prev": x.mean(),
                "prem_share": prem[x].mean() if n1 else np.nan,
                "lift": r1 / r0,
                "p_raw": pval,
                "mh_or": orr,
                "mh_lo": lo,
                "mh_hi": hi,
                "mh_lo99": lo99,
                "mh_hi99": hi99,
                "or_drv": orc,
                "or_drv_lo": loc,
                "or_drv_hi": hic,
                "or_adj": ora,
                "or_adj_lo": loa,
                "or_adj_hi": hia,
                "phi_drv": phi,
                "leak_near": near[churned_adopt].mean() if churned_adopt.any() else np.nan,
                "life_ret": life[pop][rp, j].mean(),
                "win_ret": wp[rp, j].mean(),
            }
        )
    tab = pd.DataFrame(rows).set_index("feature")

    # account-level summary
    by_k = {}
    for c in truth["categories"]:
        cnt = wp[:, [fidx[d] for d in c["drivers"]]].sum(1)
        by_k[c["name"]] = (
            c["k"],
            [round(float(rp[cnt == i].mean()), 3) for i in range(len(c["drivers"]) + 1)],
        )
    act = ds.activity
    age_m = (
        (act["month"].dt.year - act.groupby("account_id")["month"].transform("min").dt.year) * 12
        + act["month"].dt.month
        - act.groupby("account_id")["month"].transform("min").dt.month
    )
    conv03 = (
        act[age_m < 3].groupby("account_id")["conversations"].sum().reindex(a.index, fill_value=0)
    )
    m35 = act[(age_m >= 3) & (age_m <= 5)].join(a["seats"], on="account_id")
    util = (m35["resolved_conversations"] / m35["seats"]).groupby(m35["account_id"]).mean()
    alive90 = (churn.isna() | (churn > a["signup_date"] + pd.Timedelta(days=90))) & (
        a["signup_date"] <= as_of - obs
    )
    early = (churn > a["signup_date"] + pd.Timedelta(days=90)) & (churn <= a["signup_date"] + obs)
    act_ok = conv03 >= truth["activation"]["threshold"]
    rho = stats.spearmanr(util.to_numpy(), a.loc[util.index, "company_size"].to_numpy())[0]
    util_pop = util.reindex(a.index[pop])
    summary = {
        "n_retention_pop": int(pop.sum()),
        "retention_rate": float(rp.mean()),
        "mature_share": float(mat["mature"].to_numpy()[pop].mean()),
        "n_mature_mean": float(mat["n_mature"].to_numpy()[pop].mean()),
        "activated_share(alive90)": float(act_ok[alive90].mean()),
        "early_churn_below": float(early[alive90 & ~act_ok].mean()),
        "early_churn_above": float(early[alive90 & act_ok].mean()),
        "utilized_share(pop)": float(
            (util_pop >= truth["utilization"]["per_seat_threshold"]).mean()
        ),
        "spearman_util_size": float(rho),
        "retention_mature_vs_not": (
            float(rp[mat["mature"].to_numpy()[pop]].mean()),
            float(rp[~mat["mature"].to_numpy()[pop]].mean()),
        ),
    }
    summary["retention_by_n_drivers (k, [0..])"] = by_k
    ss = ds.setup_steps.join(a["signup_date"], on="account_id")
    ss = ss[
        ss["completed_at"] < ss["signup_date"] + pd.Timedelta(days=truth["setup"]["window_days"])
    ]
    setup = {}
    for kind in ("drivers", "routine", "niche", "neutral"):
        for step in truth["setup"][kind]:
            done = a.index.isin(ss.loc[ss["step"] == step, "account_id"])
            d90 = done[alive90.to_numpy()]
            ok = act_ok[alive90].to_numpy()
            setup[step] = (
                kind,
                round(float(d90.mean()), 3),
                round(float(ok[d90].mean()), 3),
                round(float(ok[~d90].mean()), 3),
            )
    summary["setup: kind, share<30d, activated if done / not (alive90)"] = setup
    return tab, summary


def check_roles(tab):
    """Return a list of (feature, role, ok, reason)."""
    out = []
    for f, r in tab.iterrows():
        role = r["role"]
        sig_pos = r["mh_lo"] > 1
        sig_neg = r["mh_hi"] < 1
        # ~35 features should be null: judge them on 99% intervals
        null = r["mh_lo99"] <= 1 <= r["mh_hi99"]
        if role == "driver":
            ok, why = 0.30 <= r["prev"] <= 0.55 and sig_pos, "prev 30-55%, MH OR > 1"
        elif role == "proxy":
            ok = 0.15 <= r["phi_drv"] <= 0.35 and r["or_adj_lo"] <= 1 <= r["or_adj_hi"]
            why = "phi with drivers ~0.2-0.3, OR | maturity pattern contains 1"
        elif role == "neutral":
            ok = 0.08 <= r["prev"] <= 0.62 and (null or r["or_adj_lo"] <= 1 <= r["or_adj_hi"])
            why = "MH 99% CI (or CI | maturity pattern) contains 1"
        elif role == "ubiquitous":
            ok, why = r["prev"] > 0.92, "prev > 92%"
        elif role == "niche":
            ok = 0.015 <= r["prev"] <= 0.045 and r["prem_share"] > 0.85 and r["lift"] > 1.05
            why = "prev 2-4%, premium > 85%, raw lift > 1"
        elif role == "segment":
            ok = 0.07 <= r["prev"] <= 0.15 and r["prem_share"] >= 0.85 and null
            why = "prev 8-14%, premium >= 85%, MH CI contains 1"
        elif role == "confounded":
            ok = 0.2 <= r["prev"] <= 0.45 and r["p_raw"] < 1e-3 and null
            why = "raw p < 1e-3 but MH CI contains 1"
        elif role == "leaky":
            ok, why = r["leak_near"] > 0.8 and r["lift"] < 1, "churned adopters near churn > 80%"
        elif role == "negative":
            ok, why = 0.15 <= r["prev"] <= 0.30 and sig_neg, "MH OR < 1"
        elif role == "survivor":
            ok = r["life_ret"] > 2 * r["win_ret"] and null
            why = "lifetime >> windowed among retained, MH CI contains 1"
        else:
            ok, why = False, "unknown role"
        out.append((f, role, bool(ok), why))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    ds = make_synthetic(args.accounts, seed=args.seed)
    tab, summary = analyse(ds)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 200)
    cols = [
        "role",
        "prev",
        "prem_share",
        "lift",
        "p_raw",
        "mh_or",
        "mh_lo",
        "mh_hi",
        "or_drv",
        "or_drv_lo",
        "or_drv_hi",
        "or_adj",
        "or_adj_lo",
        "or_adj_hi",
        "phi_drv",
        "leak_near",
        "win_ret",
        "life_ret",
    ]
    print(tab[cols].sort_values("role").round(3).to_string())
    print()
    for k, v in summary.items():
        if isinstance(v, dict):
            print(k)
            for kk, vv in v.items():
                print(f"    {kk:24s} {vv}")
        else:
            print(f"{k:36s} {v}")
    print()
    checks = check_roles(tab)
    bad = [c for c in checks if not c[2]]
    by_role = pd.DataFrame(checks, columns=["feature", "role", "ok", "why"]).groupby("role")["ok"]
    print(pd.DataFrame({"n": by_role.size(), "ok": by_role.sum()}).to_string())
    for f, role, _, why in bad:
        print(f"FAIL {role:11s} {f}: expected {why}")
    print(f"seed {args.seed}: {len(checks) - len(bad)}/{len(checks)} features behave as designed")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
