"""Tests of the synthetic data generator and its planted truth."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from milestone_discovery.synth import SyntheticDataset, make_synthetic, planted_maturity

N_STATS = 5000
# Several features are checked for a null association: judge each on a 99% CI.
NULL_ALPHA = 0.01
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def ds() -> SyntheticDataset:
    return make_synthetic(N_STATS, seed=0)


@pytest.fixture(scope="module")
def small() -> SyntheticDataset:
    return make_synthetic(400, seed=11)


# ----------------------------------------------------------------------------- helpers
def windowed_flags(d: SyntheticDataset, lifetime: bool = False) -> pd.DataFrame:
    """Bool account x feature adoption (first use <= signup + 180 days unless lifetime)."""
    u = d.feature_usage.merge(d.accounts[["account_id", "signup_date"]], on="account_id")
    if not lifetime:
        u = u[u["first_used_at"] <= u["signup_date"] + 180 * DAY]
    flags = pd.crosstab(u["account_id"], u["feature"]).astype(bool)
    return flags.reindex(
        index=d.accounts["account_id"], columns=d.feature_catalog["feature"], fill_value=False
    )


def retention_population(d: SyntheticDataset) -> tuple[np.ndarray, np.ndarray]:
    """(in retention population, retained) per account, in accounts order."""
    a = d.accounts
    as_of = pd.Timestamp(d.truth["as_of"])
    churn = a["churn_date"]
    pop = (a["signup_date"] <= as_of - 365 * DAY) & (
        churn.isna() | (churn > a["signup_date"] + 180 * DAY)
    )
    retained = churn.isna() | (churn > a["signup_date"] + 365 * DAY)
    return pop.to_numpy(), retained.to_numpy()


def mh_table(x: np.ndarray, y: np.ndarray, strata: np.ndarray) -> StratifiedTable:
    tables = []
    for s in np.unique(strata):
        m = strata == s
        t = np.array(
            [
                [np.sum(x[m] & y[m]), np.sum(x[m] & ~y[m])],
                [np.sum(~x[m] & y[m]), np.sum(~x[m] & ~y[m])],
            ],
            dtype=float,
        )
        if t.sum(0).min() > 0 and t.sum(1).min() > 0:
            tables.append(t)
    return StratifiedTable(tables)


def roles(d: SyntheticDataset) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f, info in d.truth["features"].items():
        out.setdefault(info["role"], []).append(f)
    return out


def account_age_month(d: SyntheticDataset) -> pd.Series:
    act = d.activity.merge(d.accounts[["account_id", "signup_date"]], on="account_id")
    s, m = act["signup_date"], act["month"]
    return (m.dt.year - s.dt.year) * 12 + m.dt.month - s.dt.month


@pytest.fixture(scope="module")
def analysed(ds):
    flags = windowed_flags(ds)
    life = windowed_flags(ds, lifetime=True)
    pop, ret = retention_population(ds)
    a = ds.accounts
    size_dec = pd.qcut(a["company_size"][pop].rank(method="first"), 10, labels=False).to_numpy()
    strata = size_dec * 3 + a["plan"][pop].map({"starter": 0, "pro": 1, "premium": 2}).to_numpy()
    return {
        "flags": flags,
        "life": life,
        "pop": pop,
        "ret": ret,
        "wp": flags.to_numpy()[pop],
        "rp": ret[pop],
        "strata": strata,
        "premium": (a["plan"] == "premium").to_numpy()[pop],
        "roles": roles(ds),
        "col": {f: i for i, f in enumerate(flags.columns)},
    }


# ----------------------------------------------------------------------------- determinism
def test_same_seed_identical_frames():
    a, b = make_synthetic(300, seed=5), make_synthetic(300, seed=5)
    for name, frame in a.tables().items():
        pd.testing.assert_frame_equal(frame, b.tables()[name])
    assert a.truth == b.truth


@pytest.mark.parametrize("table", ["accounts", "feature_usage", "activity", "setup_steps"])
def test_different_seed_differs(table):
    a, b = make_synthetic(300, seed=5), make_synthetic(300, seed=6)
    assert not a.tables()[table].equals(b.tables()[table])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_identical_files(tmp_path, fmt):
    p1 = make_synthetic(200, seed=2).write(tmp_path / "one", fmt=fmt)
    p2 = make_synthetic(200, seed=2).write(tmp_path / "two" / "nested", fmt=fmt)
    names = sorted(p.name for p in p1.iterdir())
    ext = fmt
    assert names == sorted(
        [f"{t}.{ext}" for t in ("accounts", "feature_usage", "feature_catalog", "activity")]
        + [f"setup_steps.{ext}", "truth.json"]
    )
    for n in names:
        assert (p1 / n).read_bytes() == (p2 / n).read_bytes(), n


def test_write_rejects_unknown_format(small, tmp_path):
    with pytest.raises(ValueError):
        small.write(tmp_path, fmt="xlsx")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_round_trip(small, tmp_path, fmt):
    out = small.write(tmp_path / "x", fmt=fmt)
    assert out == tmp_path / "x"
    truth_text = (out / "truth.json").read_text()
    assert json.loads(truth_text) == small.truth
    assert truth_text == json.dumps(small.truth, sort_keys=True, indent=2) + "\n"
    for name, frame in small.tables().items():
        if fmt == "csv":
            back = pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False)
        else:
            back = pd.read_parquet(out / f"{name}.parquet")
            pd.testing.assert_frame_equal(back, frame, check_dtype=False)
        assert list(back.columns) == list(frame.columns)
        assert len(back) == len(frame)
    if fmt == "csv":
        acc = pd.read_csv(out / "accounts.csv", dtype=str, keep_default_na=False)
        assert acc["signup_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
        churn = acc["churn_date"]
        assert (churn == "").sum() == small.accounts["churn_date"].isna().sum()
        assert churn[churn != ""].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
        assert acc["account_id"].tolist() == small.accounts["account_id"].tolist()


# ----------------------------------------------------------------------------- contract
COLUMNS = {
    "accounts": [
        "account_id",
        "signup_date",
        "seats",
        "company_size",
        "plan",
        "churn_date",
        "expansion",
    ],
    "feature_usage": ["account_id", "feature", "first_used_at", "uses"],
    "feature_catalog": ["feature", "category", "description", "hypothesis"],
    "activity": ["account_id", "month", "conversations", "resolved_conversations"],
    "setup_steps": ["account_id", "step", "completed_at"],
}
DATES = {
    "accounts": ["signup_date", "churn_date"],
    "feature_usage": ["first_used_at"],
    "activity": ["month"],
    "setup_steps": ["completed_at"],
}
INTS = {
    "accounts": ["seats", "company_size", "expansion"],
    "feature_usage": ["uses"],
    "activity": ["conversations", "resolved_conversations"],
}


@pytest.mark.parametrize("table", list(COLUMNS))
def test_columns_and_dtypes(ds, table):
    frame = ds.tables()[table]
    assert list(frame.columns) == COLUMNS[table]
    for c in DATES.get(table, []):
        assert pd.api.types.is_datetime64_dtype(frame[c]), c
        assert (frame[c].dropna() == frame[c].dropna().dt.normalize()).all()
    for c in INTS.get(table, []):
        assert pd.api.types.is_integer_dtype(frame[c]), c
    for c in set(COLUMNS[table]) - set(DATES.get(table, [])) - set(INTS.get(table, [])):
        assert pd.api.types.is_string_dtype(frame[c]), c
        assert frame[c].notna().all(), c


def test_accounts_contract(ds):
    a = ds.accounts
    as_of = pd.Timestamp(ds.truth["as_of"])
    assert a["account_id"].is_unique
    assert a["account_id"].str.fullmatch(r"A\d{7}").all()
    assert (a["seats"] >= 1).all() and (a["company_size"] >= 1).all()
    assert (a["seats"] <= a["company_size"]).all()
    assert set(a["plan"]) == {"starter", "pro", "premium"}
    assert set(a["expansion"]) <= {0, 1}
    assert (a["signup_date"] <= as_of).all()
    churn = a["churn_date"].dropna()
    assert (churn <= as_of).all()
    assert (churn > a.loc[churn.index, "signup_date"]).all()
    # expansion only for accounts still customers at day 365
    exp = a[a["expansion"] == 1]
    assert (exp["churn_date"].isna() | (exp["churn_date"] > exp["signup_date"] + 365 * DAY)).all()


def _with_accounts(d, table):
    cols = ["account_id", "signup_date", "churn_date"]
    return d.tables()[table].merge(d.accounts[cols], on="account_id", how="left")


@pytest.mark.parametrize(
    "table, date_col",
    [("feature_usage", "first_used_at"), ("setup_steps", "completed_at")],
)
def test_events_within_customer_life(ds, table, date_col):
    t = _with_accounts(ds, table)
    assert t["signup_date"].notna().all(), "unknown account_id"
    as_of = pd.Timestamp(ds.truth["as_of"])
    assert (t[date_col] >= t["signup_date"]).all()
    assert (t[date_col] <= as_of).all()
    churned = t["churn_date"].notna()
    assert (t.loc[churned, date_col] <= t.loc[churned, "churn_date"]).all()


def test_mid_month_as_of():
    d = make_synthetic(600, seed=4, as_of="2025-02-14")
    as_of = pd.Timestamp("2025-02-14")
    assert d.truth["as_of"] == "2025-02-14"
    assert d.accounts["signup_date"].max() <= as_of
    assert d.accounts["churn_date"].max() <= as_of
    assert d.feature_usage["first_used_at"].max() <= as_of
    assert d.setup_steps["completed_at"].max() <= as_of
    assert d.activity["month"].max() == pd.Timestamp("2025-02-01")


@pytest.mark.parametrize("n", [1, 7])
def test_tiny_datasets(n):
    d = make_synthetic(n, seed=0)
    assert len(d.accounts) == n
    assert len(d.feature_catalog) == len(d.truth["features"])


def test_feature_usage_contract(ds):
    u = ds.feature_usage
    assert (u["uses"] >= 1).all()
    assert not u.duplicated(["account_id", "feature"]).any()
    assert set(u["feature"]) <= set(ds.feature_catalog["feature"])


def test_setup_steps_contract(ds):
    s = ds.setup_steps
    assert not s.duplicated(["account_id", "step"]).any()
    t = ds.truth["setup"]
    steps = t["drivers"] + t["routine"] + t["niche"] + t["neutral"]
    assert len(steps) == 9
    assert set(s["step"]) == set(steps)


def test_activity_contract(ds):
    act = _with_accounts(ds, "activity")
    as_of = pd.Timestamp(ds.truth["as_of"])
    assert (act["month"].dt.day == 1).all()
    assert not act.duplicated(["account_id", "month"]).any()
    age = account_age_month(ds)
    assert age.between(0, 11).all()
    assert (act["conversations"] >= 0).all()
    assert (act["resolved_conversations"] >= 0).all()
    assert (act["resolved_conversations"] <= act["conversations"]).all()
    assert (act["month"] <= as_of.to_period("M").to_timestamp()).all()
    churned = act["churn_date"].notna()
    churn_month = act.loc[churned, "churn_date"].dt.to_period("M").dt.to_timestamp()
    assert (act.loc[churned, "month"] <= churn_month).all()
    # contiguous months from the signup month while a customer
    counts = act.groupby("account_id").size()
    assert (age.groupby(act["account_id"]).max() + 1 == counts).all()
    assert set(act["account_id"]) == set(ds.accounts["account_id"])


def test_catalog_contract(ds):
    cat = ds.feature_catalog
    assert cat["feature"].is_unique
    assert cat["feature"].str.fullmatch(r"[a-z][a-z0-9_]*").all()
    assert set(cat["hypothesis"]) == {"basic", "mature"}
    assert set(cat["category"]) == {c["name"] for c in ds.truth["categories"]}
    assert (cat["description"].str.len() > 5).all()


# ----------------------------------------------------------------------------- truth
ROLE_COUNTS = [
    ("proxy", 10),
    ("ubiquitous", 3),
    ("niche", 3),
    ("segment", 2),
    ("confounded", 3),
    ("negative", 2),
    ("survivor", 2),
]


@pytest.mark.parametrize("role, count", ROLE_COUNTS)
def test_role_counts(small, role, count):
    assert len(roles(small)[role]) == count


def test_drivers_neutrals_leaky_per_category(small):
    t = small.truth
    feats = t["features"]
    n_drivers = sorted(len(c["drivers"]) for c in t["categories"])
    assert n_drivers == [3, 3, 3, 3, 4]
    for c in t["categories"]:
        assert c["k"] == (3 if len(c["drivers"]) == 4 else 2)
        assert len(c["proxies"]) == 2
        in_cat = [f for f, i in feats.items() if i["category"] == c["name"]]
        assert sorted(in_cat) == sorted(c["features"])
        assert all(feats[f]["role"] == "driver" for f in c["drivers"])
        assert all(feats[f]["role"] == "proxy" for f in c["proxies"])
        assert sum(feats[f]["role"] == "neutral" for f in in_cat) >= 2
    assert 1 <= len(roles(small)["leaky"]) <= 2
    assert 62 <= len(feats) <= 70


def test_truth_structure(small):
    t = small.truth
    for key in (
        "seed",
        "n_accounts",
        "as_of",
        "observation_days",
        "horizon_days",
        "categories",
        "min_categories",
        "features",
        "activation",
        "utilization",
        "setup",
        "effects",
    ):
        assert key in t, key
    assert t["seed"] == 11 and t["n_accounts"] == 400 and t["as_of"] == "2026-06-30"
    assert (t["observation_days"], t["horizon_days"], t["min_categories"]) == (180, 365, 3)
    assert [c["name"] for c in t["categories"]] == [
        "support_channels",
        "automation",
        "support_operations",
        "integrations",
        "reporting",
    ]
    assert t["activation"] == {"metric": "conversations", "window_days": 90, "threshold": 60}
    assert t["utilization"] == {"metric": "resolved_conversations", "per_seat_threshold": 8.0}
    assert t["setup"]["window_days"] == 30
    assert [len(t["setup"][k]) for k in ("drivers", "routine", "niche", "neutral")] == [3, 2, 1, 3]
    assert set(t["features"]) == set(small.feature_catalog["feature"])
    cat = small.feature_catalog.set_index("feature")["category"]
    assert all(cat[f] == i["category"] for f, i in t["features"].items())
    json.dumps(t)  # serialisable


@pytest.mark.parametrize(
    "role, status",
    [
        ("driver", "selected"),
        ("proxy", "dropped_unimportant"),
        ("neutral", "dropped_unimportant"),
        ("ubiquitous", "dropped_ubiquitous"),
        ("niche", "dropped_segment"),  # premium-only, above the 1% floor
        ("segment", "dropped_segment"),
        ("confounded", "dropped_confounded"),
        ("leaky", "dropped_leaky"),
        ("negative", "dropped_negative"),
        ("survivor", "dropped_unimportant"),
    ],
)
def test_expected_status(small, role, status):
    feats = small.truth["features"]
    assert {feats[f]["expected_status"] for f in roles(small)[role]} == {status}


def test_hypothesis_right_for_most_drivers(small):
    hyp = small.feature_catalog.set_index("feature")["hypothesis"]
    drivers = roles(small)["driver"]
    wrong = sum(hyp[f] != "mature" for f in drivers)
    assert 1 <= wrong <= len(drivers) // 3


# ----------------------------------------------------------------------------- realism
def test_accounts_realism(ds):
    a = ds.accounts
    shares = a["plan"].value_counts(normalize=True)
    assert shares["starter"] == pytest.approx(0.50, abs=0.04)
    assert shares["pro"] == pytest.approx(0.35, abs=0.04)
    assert shares["premium"] == pytest.approx(0.15, abs=0.03)
    assert 25 <= a["company_size"].median() <= 60
    assert a["company_size"].max() >= 2000
    med = a.groupby("plan")["company_size"].median()
    assert med["premium"] > med["pro"] > med["starter"]
    assert 4 <= a["seats"].median() <= 9
    as_of = pd.Timestamp(ds.truth["as_of"])
    young = (a["signup_date"] > as_of - 365 * DAY).mean()
    assert young == pytest.approx(1 / 3, abs=0.04)


def test_retention_base_rate(analysed):
    assert 0.62 <= analysed["rp"].mean() <= 0.78


def test_window_first_use_days_spread(ds):
    u = ds.feature_usage.merge(ds.accounts[["account_id", "signup_date"]], on="account_id")
    days = (u["first_used_at"] - u["signup_date"]).dt.days
    in_win = days[days <= 180]
    assert in_win.min() == 0 and in_win.max() == 180
    assert (in_win > 90).mean() > 0.15
    assert (days > 180).mean() > 0.05  # post-window adoption exists


# ----------------------------------------------------------------------------- traps
def _prev(an, f):
    return an["wp"][:, an["col"][f]].mean()


def _x(an, f):
    return an["wp"][:, an["col"][f]]


@pytest.mark.parametrize("role, lo, hi", [("driver", 0.28, 0.57), ("neutral", 0.08, 0.62)])
def test_prevalence_ranges(analysed, role, lo, hi):
    for f in analysed["roles"][role]:
        assert lo <= _prev(analysed, f) <= hi, f


def test_ubiquitous(analysed):
    for f in analysed["roles"]["ubiquitous"]:
        assert _prev(analysed, f) > 0.9, f


@pytest.mark.parametrize(
    "role, lo, hi, min_premium",
    [("niche", 0.005, 0.05, 0.8), ("segment", 0.06, 0.16, 0.8)],
)
def test_premium_heavy_traps(analysed, role, lo, hi, min_premium):
    for f in analysed["roles"][role]:
        x = _x(analysed, f)
        assert lo <= x.mean() <= hi, f
        assert analysed["premium"][x].mean() > min_premium, f


def test_segment_null_within_plan(analysed):
    for f in analysed["roles"]["segment"]:
        st = mh_table(_x(analysed, f), analysed["rp"], analysed["strata"])
        lo, hi = st.oddsratio_pooled_confint(alpha=NULL_ALPHA)
        assert lo <= 1 <= hi, f


def test_confounded(analysed):
    rp = analysed["rp"]
    for f in analysed["roles"]["confounded"]:
        x = _x(analysed, f)
        assert 0.2 <= x.mean() <= 0.45, f
        tab = [[np.sum(x & rp), np.sum(x & ~rp)], [np.sum(~x & rp), np.sum(~x & ~rp)]]
        assert rp[x].mean() > rp[~x].mean()
        assert stats.chi2_contingency(tab)[1] < 0.001, f
        lo, hi = mh_table(x, rp, analysed["strata"]).oddsratio_pooled_confint(alpha=NULL_ALPHA)
        assert lo <= 1 <= hi, f


def test_negative(analysed):
    for f in analysed["roles"]["negative"]:
        x = _x(analysed, f)
        assert 0.15 <= x.mean() <= 0.30, f
        _, hi = mh_table(x, analysed["rp"], analysed["strata"]).oddsratio_pooled_confint()
        assert hi < 1, f


def test_drivers_positive(analysed):
    for f in analysed["roles"]["driver"]:
        lo, _ = mh_table(
            _x(analysed, f), analysed["rp"], analysed["strata"]
        ).oddsratio_pooled_confint()
        assert lo > 1, f


def test_proxies_correlated_with_drivers(ds, analysed):
    wp, col = analysed["wp"], analysed["col"]
    for c in ds.truth["categories"]:
        for p in c["proxies"]:
            phi = np.mean([np.corrcoef(wp[:, col[p]], wp[:, col[d]])[0, 1] for d in c["drivers"]])
            assert 0.12 <= phi <= 0.4, p


def test_leaky(ds, analysed):
    u = _with_accounts(ds, "feature_usage")
    for f in analysed["roles"]["leaky"]:
        uf = u[(u["feature"] == f) & u["churn_date"].notna()]
        near = (uf["first_used_at"] >= uf["churn_date"] - 30 * DAY) & (
            uf["first_used_at"] <= uf["churn_date"]
        )
        assert near.mean() > 0.8, f
        churners = ds.accounts["churn_date"].notna().sum()
        assert len(uf) > 0.7 * churners, f
        users_alive = u[(u["feature"] == f) & u["churn_date"].isna()]["account_id"].nunique()
        assert users_alive < 0.05 * ds.accounts["churn_date"].isna().sum(), f
        rp = analysed["rp"]
        x = _x(analysed, f)
        assert rp[x].mean() < 0.5 * rp[~x].mean(), f


def test_survivor(analysed):
    rp = analysed["rp"]
    life = analysed["life"].to_numpy()[analysed["pop"]]
    for f in analysed["roles"]["survivor"]:
        x = _x(analysed, f)
        assert 0.1 <= x.mean() <= 0.2, f
        lifetime_retained = life[rp, analysed["col"][f]].mean()
        assert lifetime_retained > 3 * x[rp].mean(), f
        lo, hi = mh_table(x, rp, analysed["strata"]).oddsratio_pooled_confint(alpha=NULL_ALPHA)
        assert lo <= 1 <= hi, f


# ----------------------------------------------------------------------------- maturity
def test_planted_maturity_shape(ds, analysed):
    flags = analysed["flags"]
    mat = planted_maturity(flags, ds.truth)
    cats = [c["name"] for c in ds.truth["categories"]]
    assert list(mat.columns) == cats + ["n_mature", "mature"]
    assert mat.index.equals(flags.index)
    assert all(mat[c].dtype == bool for c in cats) and mat["mature"].dtype == bool
    assert pd.api.types.is_integer_dtype(mat["n_mature"])
    assert (mat["n_mature"] == mat[cats].sum(axis=1)).all()
    assert (mat["mature"] == (mat["n_mature"] >= 3)).all()
    share = mat["mature"].to_numpy()[analysed["pop"]].mean()
    assert 0.15 <= share <= 0.60
    rp = analysed["rp"]
    m = mat["mature"].to_numpy()[analysed["pop"]]
    assert rp[m].mean() > rp[~m].mean() + 0.15


@pytest.mark.parametrize(
    "used, expected",
    [
        ([], False),
        (["messenger_live_chat"], False),
        (["messenger_live_chat", "sms_channel"], True),
        (["messenger_live_chat", "instagram_channel", "facebook_channel"], False),
    ],
)
def test_planted_maturity_rule(small, used, expected):
    feats = list(small.feature_catalog["feature"])
    flags = pd.DataFrame(False, index=pd.Index(["A1"], name="account_id"), columns=feats)
    flags.loc["A1", used] = True
    assert planted_maturity(flags, small.truth).loc["A1", "support_channels"] == expected


def test_planted_maturity_missing_columns(small):
    flags = pd.DataFrame(
        {"workflows": [True, True], "macros": [True, None], "ai_agent": [True, True]},
        index=pd.Index(["x", "y"], name="account_id"),
    )
    mat = planted_maturity(flags, small.truth)
    assert mat["automation"].tolist() == [True, False]  # k = 3 of 4 drivers
    assert mat["n_mature"].tolist() == [1, 0]
    assert not mat["mature"].any()


def test_driver_threshold_is_the_step(analysed, ds):
    """Retention jumps most between k-1 and k drivers (allowing noise in one category)."""
    wp, rp, col = analysed["wp"], analysed["rp"], analysed["col"]
    largest = 0
    for c in ds.truth["categories"]:
        cnt = wp[:, [col[d] for d in c["drivers"]]].sum(1)
        rate = np.array([rp[cnt == i].mean() for i in range(len(c["drivers"]) + 1)])
        jumps = np.diff(rate)
        at_k = jumps[c["k"] - 1]
        assert at_k > 0.05, (c["name"], rate)
        largest += int(np.argmax(jumps) == c["k"] - 1)
    assert largest >= 4


# ----------------------------------------------------------------------------- activation etc.
def test_activation_step(ds):
    a = ds.accounts.set_index("account_id")
    as_of = pd.Timestamp(ds.truth["as_of"])
    act = ds.activity.assign(age=account_age_month(ds).to_numpy())
    conv = act[act["age"] <= 2].groupby("account_id")["conversations"].sum()
    churn, signup = a["churn_date"], a["signup_date"]
    alive90 = (signup <= as_of - 180 * DAY) & (churn.isna() | (churn > signup + 90 * DAY))
    early = (churn > signup + 90 * DAY) & (churn <= signup + 180 * DAY)
    reached = conv.reindex(a.index, fill_value=0) >= 60
    below = early[alive90 & ~reached].mean()
    above = early[alive90 & reached].mean()
    assert 0.35 <= reached[alive90].mean() <= 0.65
    assert 0.2 <= below <= 0.35
    assert above <= 0.09
    # background churn in days 0-90 is small
    young90 = signup <= as_of - 90 * DAY
    assert (churn[young90] <= signup[young90] + 90 * DAY).mean() < 0.06


def test_utilization_per_seat_independent_of_size(ds, analysed):
    a = ds.accounts.set_index("account_id")
    act = ds.activity.assign(age=account_age_month(ds).to_numpy())
    m = act[act["age"].between(3, 5)].join(a["seats"], on="account_id")
    per_seat = (m["resolved_conversations"] / m["seats"]).groupby(m["account_id"]).mean()
    volume = m.groupby("account_id")["conversations"].mean()
    size = a.loc[per_seat.index, "company_size"]
    assert abs(stats.spearmanr(per_seat, size)[0]) < 0.1
    assert stats.spearmanr(volume, size)[0] > 0.4
    pop_ids = a.index[analysed["pop"]]
    share = (per_seat.reindex(pop_ids) >= 8.0).mean()
    assert 0.3 <= share <= 0.6
    rp = analysed["rp"]
    util = (per_seat.reindex(pop_ids) >= 8.0).to_numpy()
    assert rp[util].mean() > rp[~util].mean() + 0.05


def test_setup_drivers_and_routine(ds):
    a = ds.accounts.set_index("account_id")
    s = ds.setup_steps.join(a["signup_date"], on="account_id")
    early = s[s["completed_at"] < s["signup_date"] + 30 * DAY]
    t = ds.truth["setup"]
    n = len(a)
    for step in t["drivers"]:
        assert 0.3 <= (early["step"] == step).sum() / n <= 0.6, step
    for step in t["routine"]:
        assert (early["step"] == step).sum() / n > 0.9, step
    for step in t["niche"]:
        assert (s["step"] == step).sum() / n < 0.04, step
    for step in t["neutral"]:
        assert 0.15 <= (s["step"] == step).sum() / n <= 0.6, step
    days = (s["completed_at"] - s["signup_date"]).dt.days
    assert (days > 30).any() and not (days == 30).any()


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_traps_hold_over_seeds(seed):
    d = make_synthetic(20000, seed=seed)
    flags = windowed_flags(d)
    pop, ret = retention_population(d)
    wp, rp = flags.to_numpy()[pop], ret[pop]
    col = {f: i for i, f in enumerate(flags.columns)}
    a = d.accounts
    dec = pd.qcut(a["company_size"][pop].rank(method="first"), 10, labels=False).to_numpy()
    strata = dec * 3 + a["plan"][pop].map({"starter": 0, "pro": 1, "premium": 2}).to_numpy()
    counts = Counter()
    for f, info in d.truth["features"].items():
        x = wp[:, col[f]]
        st = mh_table(x, rp, strata)
        lo, hi = st.oddsratio_pooled_confint(alpha=0.01)
        role = info["role"]
        if role == "driver":
            ok = lo > 1
        elif role == "negative":
            ok = hi < 1
        elif role in ("confounded", "segment", "survivor", "neutral"):
            ok = lo <= 1 <= hi
        else:
            ok = True
        counts[ok] += 1
    assert counts[False] <= 1, counts
