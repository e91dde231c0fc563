"""Catalog of the synthetic product: plans, categories, features, setup steps, effects.

Everything here is constant and shared by every scenario; a scenario
(:mod:`milestone_discovery.synth.scenarios`) only overrides parts of it.
"""

from __future__ import annotations

import numpy as np

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
# Planted journey thresholds (steps) of the default shape.
ACTIVATION_THRESHOLD = 60
UTILIZATION_THRESHOLD = 8.0

EXPECTED_STATUS = {
    "driver": "selected",
    "proxy": "dropped_unimportant",
    "neutral": "dropped_unimportant",
    "ubiquitous": "dropped_ubiquitous",
    # premium-only and ~3% of accounts: above the 1% niche floor, caught by the segment screen
    "niche": "dropped_segment",
    "segment": "dropped_segment",
    "confounded": "dropped_confounded",
    "leaky": "dropped_leaky",
    "negative": "dropped_negative",
    "survivor": "dropped_unimportant",
    # engagement_null scenario: adoption and retention share a latent cause (confounded null)
    "engagement": "dropped_unimportant",
}

# name, category, role, PMs' hypothesis, target in-window prevalence
FEATURES = (
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

DESCRIPTIONS = {
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
SETUP_STEPS = (
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
        # role -> Beta(a, b) of the in-window first-use day (overrides window_day_beta)
        "window_day_beta_by_role": {},
        # role -> loading of adoption on the account engagement latent (the general factor g)
        "engagement_loading": {},
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
        # Churn at the first monthly renewal (after background churn, before the rest).
        "first_renewal_prob": 0.0,
        "first_renewal_days": [28, 40],
        # None: the activation step above; else the activation-window churn probability
        # is expit(intercept + log1p_slope * log1p(activation metric)) (no step).
        "activation_smooth": None,
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
        # Threshold-free terms (zero in the default shape).
        "activation_log1p": 0.0,
        "utilization_log": 0.0,
        "utilization_log_offset": 0.5,
        # category -> effect per driver adopted in the window (linear, no k)
        "per_driver": {},
        # feature -> direct effect of in-window adoption
        "direct_feature": {},
        # effect of the account engagement latent g (confounder of adoption and retention)
        "engagement": 0.0,
    },
    "expansion_logit": {
        "intercept": -1.5,
        "n_mature": 0.35,
        "utilized": 0.5,
        "log_company_size_std": 0.3,
    },
}
