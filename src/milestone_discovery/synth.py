"""Synthetic B2B SaaS usage data with a planted milestone truth.

The generator produces the five input tables of the project (accounts,
feature usage, feature catalog, monthly activity and setup steps) together
with a ``truth`` dictionary describing exactly what was planted: which
features drive retention and through which category-maturity rule, which
features are traps (ubiquitous, niche, segment, confounded, leaky, negative,
survivor), the activation threshold, the utilization threshold and the setup
steps that matter.  It is the project's main test instrument: the analysis
code is judged on whether it recovers the planted truth and avoids the traps.

Planted roles (``truth["features"][name]["role"]``)
--------------------------------------------------
driver
    Adoption depends on the category latent; a category is *mature* when at
    least ``k`` of its drivers are adopted in the window, and retention
    depends on the drivers only through these maturity flags (plus a bonus
    for being mature in at least ``min_categories`` categories).
proxy, neutral
    Correlated with the drivers (proxy) or with nothing (neutral); no effect.
ubiquitous, niche, segment, confounded, leaky, negative, survivor
    Traps: near-universal; rare and premium-only; premium-only; driven by
    company size; used right before churning; truly harmful; adopted after
    the window by accounts that stay.

Time conventions (shared with the analysis code)
-------------------------------------------------
* ``churn_date = signup + d`` means the account is a customer on days
  ``0 .. d-1`` after signup; it is "a customer at day t" iff ``d > t``.
* Feature adoption counts if ``first_used_at <= signup + 180 days``.
* Retention: still a customer at day 365, judged for accounts signed up at
  least 365 days before ``as_of`` that were still customers at day 180.
* Activation: conversations summed over account-age months 0-2 (month 0 is
  the calendar month of signup).  Setup: a step completed within 30 days.
  Utilization: ``resolved_conversations / seats`` averaged over months 3-5.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SyntheticDataset", "make_synthetic", "planted_maturity"]

OBSERVATION_DAYS = 180
HORIZON_DAYS = 365
SETUP_WINDOW_DAYS = 30
ACTIVATION_WINDOW_DAYS = 90
ACTIVITY_MONTHS = 12
SIGNUP_SPAN_DAYS = 1095

PLANS = ("starter", "pro", "premium")
PLAN_SHARES = (0.50, 0.35, 0.15)

CATEGORIES = (
    "support_channels",
    "automation",
    "support_operations",
    "integrations",
    "reporting",
)
# Category-maturity threshold k_c (the 4-driver category uses k = 3).
CATEGORY_K = {
    "support_channels": 2,
    "automation": 3,
    "support_operations": 2,
    "integrations": 2,
    "reporting": 2,
}
MIN_CATEGORIES = 3

EXPECTED_STATUS = {
    "driver": "selected",
    "proxy": "dropped_unimportant",
    "neutral": "dropped_unimportant",
    "ubiquitous": "dropped_ubiquitous",
    "niche": "dropped_niche",
    "segment": "dropped_segment",
    "confounded": "dropped_confounded",
    "leaky": "dropped_leaky",
    "negative": "dropped_negative",
    "survivor": "dropped_unimportant",
}

# name, category, role, PMs' hypothesis, target in-window prevalence
_FEATURES = (
    # support_channels
    ("messenger_live_chat", "support_channels", "driver", "mature", 0.48),
    ("whatsapp_channel", "support_channels", "driver", "mature", 0.38),
    ("sms_channel", "support_channels", "driver", "mature", 0.33),
    ("instagram_channel", "support_channels", "proxy", "mature", 0.30),
    ("facebook_channel", "support_channels", "proxy", "basic", 0.36),
    ("email_signatures", "support_channels", "neutral", "basic", 0.45),
    ("chat_widget_theming", "support_channels", "neutral", "basic", 0.55),
    ("typing_indicators", "support_channels", "neutral", "basic", 0.25),
    ("channel_business_hours", "support_channels", "neutral", "mature", 0.15),
    ("email_channel", "support_channels", "ubiquitous", "basic", 0.97),
    ("multilingual_help_center", "support_channels", "confounded", "mature", 0.32),
    # automation
    ("workflows", "automation", "driver", "mature", 0.48),
    ("macros", "automation", "driver", "basic", 0.52),
    ("ai_agent", "automation", "driver", "mature", 0.35),
    ("auto_tagging", "automation", "driver", "mature", 0.40),
    ("chatbot_handover", "automation", "proxy", "mature", 0.30),
    ("ticket_triggers", "automation", "proxy", "basic", 0.40),
    ("snippets", "automation", "neutral", "basic", 0.50),
    ("auto_translate", "automation", "neutral", "mature", 0.12),
    ("ai_summaries", "automation", "neutral", "mature", 0.30),
    ("reply_suggestions", "automation", "neutral", "basic", 0.20),
    ("custom_bot_api", "automation", "niche", "mature", 0.03),
    ("manual_reassignment", "automation", "negative", "basic", 0.22),
    # support_operations
    ("sla_rules", "support_operations", "driver", "mature", 0.38),
    ("round_robin_assignment", "support_operations", "driver", "mature", 0.45),
    ("ticket_states", "support_operations", "driver", "basic", 0.42),
    ("team_inboxes", "support_operations", "proxy", "basic", 0.40),
    ("conversation_priorities", "support_operations", "proxy", "mature", 0.35),
    ("away_mode", "support_operations", "neutral", "basic", 0.40),
    ("collision_detection", "support_operations", "neutral", "basic", 0.28),
    ("conversation_snooze", "support_operations", "neutral", "basic", 0.55),
    ("office_hours_schedule", "support_operations", "neutral", "basic", 0.18),
    ("inbox", "support_operations", "ubiquitous", "basic", 0.98),
    ("role_based_permissions", "support_operations", "confounded", "mature", 0.40),
    ("workload_management", "support_operations", "segment", "mature", 0.11),
    ("hipaa_workspace", "support_operations", "niche", "mature", 0.03),
    ("escalation_requests", "support_operations", "negative", "basic", 0.25),
    ("cancel_survey", "support_operations", "leaky", "basic", 0.00),
    # integrations
    ("salesforce_sync", "integrations", "driver", "mature", 0.32),
    ("slack_integration", "integrations", "driver", "mature", 0.50),
    ("jira_integration", "integrations", "driver", "mature", 0.36),
    ("hubspot_sync", "integrations", "proxy", "mature", 0.28),
    ("webhooks", "integrations", "proxy", "mature", 0.33),
    ("zapier_connector", "integrations", "neutral", "basic", 0.35),
    ("google_analytics_integration", "integrations", "neutral", "basic", 0.20),
    ("stripe_integration", "integrations", "neutral", "basic", 0.15),
    ("shopify_integration", "integrations", "neutral", "basic", 0.10),
    ("sso_saml", "integrations", "confounded", "mature", 0.28),
    ("custom_objects", "integrations", "segment", "mature", 0.10),
    ("api_access_tokens", "integrations", "survivor", "mature", 0.15),
    # reporting
    ("custom_reports", "reporting", "driver", "mature", 0.40),
    ("csat_surveys", "reporting", "driver", "basic", 0.45),
    ("scheduled_report_emails", "reporting", "driver", "mature", 0.33),
    ("team_performance_dashboard", "reporting", "proxy", "mature", 0.38),
    ("conversation_tags_report", "reporting", "proxy", "basic", 0.30),
    ("report_csv_download", "reporting", "neutral", "basic", 0.50),
    ("dashboard_sharing", "reporting", "neutral", "basic", 0.25),
    ("chart_annotations", "reporting", "neutral", "basic", 0.12),
    ("saved_report_filters", "reporting", "neutral", "basic", 0.35),
    ("basic_dashboard", "reporting", "ubiquitous", "basic", 0.95),
    ("data_warehouse_export", "reporting", "niche", "mature", 0.03),
    ("export_all_data", "reporting", "leaky", "basic", 0.00),
    ("conversation_topics_ai", "reporting", "survivor", "mature", 0.15),
)

_DESCRIPTIONS = {
    "messenger_live_chat": "Live chat in the web messenger",
    "whatsapp_channel": "WhatsApp Business conversations in the inbox",
    "sms_channel": "Two-way SMS conversations",
    "instagram_channel": "Instagram direct messages in the inbox",
    "facebook_channel": "Facebook Messenger conversations in the inbox",
    "email_signatures": "Per-teammate email signatures",
    "chat_widget_theming": "Custom colours and launcher for the chat widget",
    "typing_indicators": "Show typing indicators to customers",
    "channel_business_hours": "Per-channel business hours",
    "email_channel": "Receive and answer support email",
    "multilingual_help_center": "Help center articles in several languages",
    "workflows": "Visual builder for automated conversation flows",
    "macros": "Saved multi-step replies and actions",
    "ai_agent": "AI agent answering customers automatically",
    "auto_tagging": "Rule-based automatic conversation tagging",
    "chatbot_handover": "Bot to human handover rules",
    "ticket_triggers": "Triggers that update tickets on events",
    "snippets": "Short reusable text snippets",
    "auto_translate": "Automatic translation of conversations",
    "ai_summaries": "AI summaries of long conversations",
    "reply_suggestions": "Suggested replies while typing",
    "custom_bot_api": "Programmable bots through the API",
    "manual_reassignment": "Manually reassign conversations between teams",
    "sla_rules": "Service level agreement rules and timers",
    "round_robin_assignment": "Balanced round robin assignment",
    "ticket_states": "Custom ticket states and lifecycle",
    "team_inboxes": "Separate inboxes per team",
    "conversation_priorities": "Priority flags on conversations",
    "away_mode": "Teammate away mode",
    "collision_detection": "Warn when two teammates reply at once",
    "conversation_snooze": "Snooze conversations until later",
    "office_hours_schedule": "Workspace office hours schedule",
    "inbox": "Shared team inbox",
    "role_based_permissions": "Custom teammate roles and permissions",
    "workload_management": "Capacity-based workload balancing",
    "hipaa_workspace": "HIPAA compliant workspace settings",
    "escalation_requests": "Escalate conversations to a manager",
    "cancel_survey": "Survey shown when cancelling the subscription",
    "salesforce_sync": "Two-way sync with Salesforce",
    "slack_integration": "Notifications and replies from Slack",
    "jira_integration": "Link conversations to Jira issues",
    "hubspot_sync": "Sync contacts with HubSpot",
    "webhooks": "Outgoing webhooks on events",
    "zapier_connector": "Zapier connector",
    "google_analytics_integration": "Send messenger events to Google Analytics",
    "stripe_integration": "Show Stripe billing data in the inbox",
    "shopify_integration": "Show Shopify orders in the inbox",
    "sso_saml": "SAML single sign-on for teammates",
    "custom_objects": "Custom data objects synced from other systems",
    "api_access_tokens": "Personal API access tokens",
    "custom_reports": "Custom report builder",
    "csat_surveys": "Customer satisfaction surveys after conversations",
    "scheduled_report_emails": "Reports emailed on a schedule",
    "team_performance_dashboard": "Team performance dashboard",
    "conversation_tags_report": "Report on conversation tags",
    "report_csv_download": "Download a report as CSV",
    "dashboard_sharing": "Share dashboards with a link",
    "chart_annotations": "Annotate report charts",
    "saved_report_filters": "Save report filters",
    "basic_dashboard": "Default overview dashboard",
    "data_warehouse_export": "Continuous export to a data warehouse",
    "export_all_data": "Bulk export of all workspace data",
    "conversation_topics_ai": "AI clustering of conversation topics",
}

# name, kind, completion probability, share completed within the setup window
_SETUP_STEPS = (
    ("install_messenger", "driver", 0.50, 0.85),
    ("import_help_articles", "driver", 0.40, 0.85),
    ("configure_assignment_rules", "driver", 0.45, 0.85),
    ("verify_email_domain", "routine", 0.985, 0.96),
    ("invite_teammates", "routine", 0.98, 0.96),
    ("configure_sso", "niche", 0.03, 0.85),
    ("upload_logo", "neutral", 0.55, 0.85),
    ("set_office_hours", "neutral", 0.35, 0.85),
    ("customize_brand_colors", "neutral", 0.25, 0.85),
)

EFFECTS: dict = {
    "plan_shares": dict(zip(PLANS, PLAN_SHARES, strict=True)),
    "signup_span_days": SIGNUP_SPAN_DAYS,
    "company_size": {
        "log_median_starter": float(np.log(32.0)),
        "plan_shift": {"starter": 0.0, "pro": 0.35, "premium": 1.1},
        "sigma": 1.15,
        "max": 100_000,
        "std_center_log": float(np.log(40.0)),
        "std_scale_log": 1.3,
    },
    "seats_fraction_uniform": [0.05, 0.25],
    "latent": {"g_loading": 0.6, "specific_loading": 0.8},
    "adoption": {
        "driver": {"z_loading": 1.5, "plan": {"starter": 0.0, "pro": 0.2, "premium": 0.4}},
        "proxy": {"z_loading": 1.2},
        "confounded": {"log_size_std_loading": 1.8},
        "niche": {"p_premium": 0.18, "p_other": 0.0035},
        "segment": {"p_premium": 0.68, "p_other": 0.011},
        "leaky": {"p_churner_before_churn": 0.9, "lookback_days": 30, "p_random": 0.02},
        "survivor": {"p_post_window": 0.75, "post_window_mean_delay_days": 150},
        "post_window_drift": {"relative_prob": 0.35, "mean_delay_days": 250},
        "window_day_beta": [1.0, 1.8],
        "ubiquitous_day_mean": 4.0,
    },
    "setup": {
        "driver_rate_multiplier": 1.5,
        "routine_skipped_rate_multiplier": 0.6,
        "niche_rate_multiplier": 1.0,
        "neutral_rate_multiplier": 1.0,
        "early_days": [0, 29],
        "late_days": [31, 90],
    },
    "conversations": {
        "per_seat_rate_median_base": 6.0,
        "per_seat_rate_log_sigma": 0.45,
        "per_seat_rate_g_loading": 0.2,
        "ramp": [0.3, 0.5, 0.7, 0.85, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        "monthly_noise_log_sigma": 0.15,
        "resolved_share_beta": [16.0, 4.0],
    },
    "churn": {
        "background_prob": 0.03,
        "background_days": [1, 90],
        "activation_prob_below": 0.27,
        "activation_prob_above": 0.05,
        "activation_days": [91, 180],
        "not_retained_days": [181, 365],
        "retained_later_mean_days": 1400.0,
    },
    "retention_logit": {
        "intercept": -0.45,
        "mature_category": {
            "support_channels": 0.6,
            "automation": 0.7,
            "support_operations": 0.55,
            "integrations": 0.6,
            "reporting": 0.5,
        },
        "min_categories_bonus": 0.6,
        "log_company_size_std": 0.6,
        "plan": {"starter": 0.0, "pro": 0.3, "premium": 0.7},
        "activated": 0.25,
        "utilized": 0.8,
        "ubiquitous_skipped_each": -0.4,
        "negative_feature_each": -0.7,
    },
    "expansion_logit": {
        "intercept": -1.5,
        "n_mature": 0.35,
        "utilized": 0.5,
        "log_company_size_std": 0.3,
    },
}


@dataclass
class SyntheticDataset:
    """The five input tables plus the planted truth.

    Attributes
    ----------
    accounts, feature_usage, feature_catalog, activity, setup_steps : pandas.DataFrame
        Tables in the project's input format (dates as ``datetime64`` values).
    truth : dict
        JSON-serialisable description of everything that was planted.
    """

    accounts: pd.DataFrame
    feature_usage: pd.DataFrame
    feature_catalog: pd.DataFrame
    activity: pd.DataFrame
    setup_steps: pd.DataFrame
    truth: dict

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the five tables keyed by their file stem.

        Returns
        -------
        dict of str to pandas.DataFrame
        """
        return {
            "accounts": self.accounts,
            "feature_usage": self.feature_usage,
            "feature_catalog": self.feature_catalog,
            "activity": self.activity,
            "setup_steps": self.setup_steps,
        }

    def to_dataset(self):
        """The tables as an in-memory :class:`~milestone_discovery.data.Dataset` (as of the truth's date).

        Skips writing and reading files, for benchmarks and tests; the
        tables are the same as :meth:`write` would produce.
        """
        import datetime

        from .data import Dataset

        return Dataset(
            accounts=self.accounts.assign(plan=self.accounts["plan"].astype(object)),
            feature_usage=self.feature_usage, feature_catalog=self.feature_catalog,
            activity=self.activity, setup_steps=self.setup_steps,
            as_of=datetime.date.fromisoformat(self.truth["as_of"]), source="synthetic (in memory)",
        )

    def write(self, out, fmt: str = "csv") -> pathlib.Path:
        """Write the tables and ``truth.json`` to a folder.

        Parameters
        ----------
        out : str or os.PathLike
            Destination folder; created if missing.
        fmt : {"csv", "parquet"}
            File format of the tables.  CSV dates are written as
            ``YYYY-MM-DD`` and missing dates as empty fields.

        Returns
        -------
        pathlib.Path
            The destination folder.
        """
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
        import pyarrow as pa

        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in self.tables().items():
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if fmt == "csv":
                import pyarrow.csv as pacsv

                table = _dates_to_date32(table)
                pacsv.write_csv(table, out / f"{name}.csv")
            else:
                import pyarrow.parquet as pq

                pq.write_table(table, out / f"{name}.parquet")
        (out / "truth.json").write_text(
            json.dumps(self.truth, sort_keys=True, indent=2) + "\n", encoding="utf-8"
        )
        return out


def _dates_to_date32(table):
    import pyarrow as pa

    cols = []
    for col, fld in zip(table.columns, table.schema, strict=True):
        if pa.types.is_timestamp(fld.type):
            col = col.cast(pa.date32())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


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


def _feature_params():
    """Per-feature adoption parameters (deterministic, independent of seed)."""
    eff = EFFECTS["adoption"]
    size_eff = EFFECTS["company_size"]
    names = [f[0] for f in _FEATURES]
    cat = np.array([CATEGORIES.index(f[1]) for f in _FEATURES])
    role = np.array([f[2] for f in _FEATURES])
    target = np.array([f[4] for f in _FEATURES])
    n_f = len(names)
    n_p = len(PLANS)

    z_load = np.zeros(n_f)
    z_load[role == "driver"] = eff["driver"]["z_loading"]
    z_load[role == "proxy"] = eff["proxy"]["z_loading"]
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
    sd = np.sqrt(z_load**2 + (size_load * s_size) ** 2)[:, None] * np.ones((1, n_p))

    solve = ~np.isin(role, ["niche", "segment", "leaky"])
    intercept = np.zeros(n_f)
    intercept[solve] = _solve_intercepts(
        target[solve], mu[solve], sd[solve], plan_eff[solve], PLAN_SHARES
    )
    return {
        "names": names,
        "category": cat,
        "role": role,
        "intercept": intercept,
        "z_loading": z_load,
        "size_loading": size_load,
        "plan_effect": plan_eff,
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
    n_accounts: int = 3000, seed: int = 0, as_of: str = "2026-06-30"
) -> SyntheticDataset:
    """Generate a synthetic dataset with planted milestone truth.

    Parameters
    ----------
    n_accounts : int, default 3000
        Number of accounts; signups spread uniformly over the 3 years
        before ``as_of``.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives identical
        frames and files.
    as_of : str, default "2026-06-30"
        Snapshot date (ISO).  Nothing is observed after it; churn after it is
        not recorded.

    Returns
    -------
    SyntheticDataset
        The tables and ``truth`` (see the module docstring and
        ``truth["effects"]`` for every coefficient used).
    """
    if n_accounts < 1:
        raise ValueError("n_accounts must be >= 1")
    rng = np.random.default_rng(seed)
    n = int(n_accounts)
    as_of_d = np.datetime64(pd.Timestamp(as_of).date(), "D")
    as_of_i = as_of_d.astype(np.int64)
    fx = EFFECTS
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
    g = rng.standard_normal(n)
    lat = fx["latent"]
    z = lat["g_loading"] * g[:, None] + lat["specific_loading"] * rng.standard_normal((n, n_cat))

    # --- setup steps (completion independent of engagement) --------------
    st = fx["setup"]
    step_names = [s[0] for s in _SETUP_STEPS]
    step_kind = np.array([s[1] for s in _SETUP_STEPS])
    p_done = np.array([s[2] for s in _SETUP_STEPS])
    p_early = np.array([s[3] for s in _SETUP_STEPS])
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
    activated = act_metric >= 60
    util_metric = (res_full[:, 3:6] / seats[:, None]).mean(1)
    utilized = util_metric >= 8.0

    # --- feature adoption inside the observation window ---------------------
    fp = _feature_params()
    role = fp["role"]
    n_f = len(fp["names"])
    ad = fx["adoption"]
    logit_w = (
        fp["intercept"]
        + fp["z_loading"] * z[:, fp["category"]]
        + fp["size_loading"] * zsize[:, None]
        + fp["plan_effect"][:, plan].T
    )
    p_win = _expit(logit_w)
    leaky = role == "leaky"
    p_win[:, leaky] = 0.0
    win = rng.random((n, n_f)) < p_win
    day_w = np.floor((OBSERVATION_DAYS + 1) * rng.beta(*ad["window_day_beta"], (n, n_f)))
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
    k = np.array([CATEGORY_K[c] for c in CATEGORIES])
    mature_c = n_drv >= k
    n_mature = mature_c.sum(1)
    plan_ret = np.array([rl["plan"][p] for p in PLANS])
    logit_r = (
        rl["intercept"]
        + mature_c @ np.array([rl["mature_category"][c] for c in CATEGORIES])
        + rl["min_categories_bonus"] * (n_mature >= MIN_CATEGORIES)
        + rl["log_company_size_std"] * zsize
        + plan_ret[plan]
        + rl["activated"] * activated
        + rl["utilized"] * utilized
        + rl["ubiquitous_skipped_each"] * (~win[:, ubiq]).sum(1)
        + rl["negative_feature_each"] * win[:, role == "negative"].sum(1)
    )
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
    p_act = np.where(activated, ch["activation_prob_above"], ch["activation_prob_below"])
    churn_day = np.where(
        u_bg < ch["background_prob"],
        d_bg,
        np.where(u_act < p_act, d_act, np.where(retained, d_late, d_nr)),
    )
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
    p_ex = _expit(
        ex["intercept"]
        + ex["n_mature"] * n_mature
        + ex["utilized"] * utilized
        + ex["log_company_size_std"] * zsize
    )
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
            "feature": pd.array([f[0] for f in _FEATURES], dtype="str"),
            "category": pd.array([f[1] for f in _FEATURES], dtype="str"),
            "description": pd.array([_DESCRIPTIONS[f[0]] for f in _FEATURES], dtype="str"),
            "hypothesis": pd.array([f[3] for f in _FEATURES], dtype="str"),
        }
    )
    truth = _build_truth(seed, n, as_of_d, fp)
    return SyntheticDataset(
        accounts=accounts,
        feature_usage=feature_usage,
        feature_catalog=feature_catalog,
        activity=activity,
        setup_steps=setup_steps,
        truth=truth,
    )


def _pa_strings(values):
    import pyarrow as pa

    return pa.array(values.tolist(), type=pa.string())


def _take(pa_arr, idx):
    import pyarrow as pa

    return pd.array(pa_arr.take(pa.array(np.asarray(idx, dtype=np.int64))), dtype="str")


def _build_truth(seed, n, as_of_d, fp) -> dict:
    names = fp["names"]
    role = fp["role"]
    features = {
        f[0]: {"category": f[1], "role": f[2], "expected_status": EXPECTED_STATUS[f[2]]}
        for f in _FEATURES
    }
    categories = []
    for c in CATEGORIES:
        feats = [f[0] for f in _FEATURES if f[1] == c]
        categories.append(
            {
                "name": c,
                "drivers": [f for f in feats if features[f]["role"] == "driver"],
                "k": CATEGORY_K[c],
                "proxies": [f for f in feats if features[f]["role"] == "proxy"],
                "features": feats,
            }
        )
    effects = json.loads(json.dumps(EFFECTS))
    effects["adoption"]["intercepts"] = {
        name: round(float(a), 6)
        for name, a, r in zip(names, fp["intercept"], role, strict=True)
        if r not in ("niche", "segment", "leaky")
    }
    effects["adoption"]["target_window_prevalence"] = {
        f[0]: f[4] for f in _FEATURES if f[2] not in ("niche", "segment", "leaky")
    }
    effects["setup"]["steps"] = {
        s[0]: {"kind": s[1], "completion_prob": s[2], "share_within_window": s[3]}
        for s in _SETUP_STEPS
    }
    kinds = {
        k: [s[0] for s in _SETUP_STEPS if s[1] == k]
        for k in ("driver", "routine", "niche", "neutral")
    }
    return {
        "seed": int(seed),
        "n_accounts": int(n),
        "as_of": str(as_of_d),
        "observation_days": OBSERVATION_DAYS,
        "horizon_days": HORIZON_DAYS,
        "categories": categories,
        "min_categories": MIN_CATEGORIES,
        "features": features,
        "activation": {
            "metric": "conversations",
            "window_days": ACTIVATION_WINDOW_DAYS,
            "threshold": 60,
        },
        "utilization": {"metric": "resolved_conversations", "per_seat_threshold": 8.0},
        "setup": {
            "drivers": kinds["driver"],
            "routine": kinds["routine"],
            "niche": kinds["niche"],
            "neutral": kinds["neutral"],
            "window_days": SETUP_WINDOW_DAYS,
        },
        "effects": effects,
    }


def planted_maturity(flags: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Apply the planted category-maturity rule to adoption flags.

    Parameters
    ----------
    flags : pandas.DataFrame
        Index ``account_id``; one boolean column per feature (adoption inside
        the observation window).  Missing driver columns count as not adopted;
        missing values count as ``False``.
    truth : dict
        ``SyntheticDataset.truth``.

    Returns
    -------
    pandas.DataFrame
        Same index; one boolean column per category (at least ``k`` of its
        drivers adopted), ``n_mature`` (int) and ``mature``
        (``n_mature >= truth["min_categories"]``).
    """
    out = {}
    for cat in truth["categories"]:
        cols = flags.reindex(columns=cat["drivers"]).astype("boolean").fillna(False)
        out[cat["name"]] = cols.to_numpy(dtype=bool).sum(axis=1) >= int(cat["k"])
    res = pd.DataFrame(out, index=flags.index)
    res["n_mature"] = res[[c["name"] for c in truth["categories"]]].sum(axis=1).astype(np.int64)
    res["mature"] = res["n_mature"] >= int(truth["min_categories"])
    return res
