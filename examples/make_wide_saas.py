"""Write ``examples/wide_saas.csv``: a one-row-per-customer B2B SaaS table, as exports come.

Every trait a real flattened churn table has, and nothing reshaped:

* no id column (rows are numbered);
* an outcome with a third status: ``Status`` is ``Stayed``, ``Churned`` or
  ``Joined`` (too new to judge);
* yes/no feature columns whose "no" is a blank cell;
* numeric columns: ``Articles Viewed`` (retention steps up at 5),
  ``Emails Clicked`` (more is gradually better) and a 1-10 ``CSAT`` score
  (no effect), with a few blank ``Emails Clicked`` cells;
* text size bands (``"11-50"``, ``"1000+"``);
* a plan, a contract type (the strongest factor) and two choice columns:
  ``Channel`` (alternatives: phone customers churn more) and ``Support Tier``
  (``None``, ``Standard`` or the ``Premium`` add-on).

The planted truth (log-odds of staying): contract +1.4 (annual) / +2.4
(two-year); ``Help Center`` +0.9, ``Reports`` +0.8, ``Integrations`` +0.7;
``Articles Viewed >= 5`` +1.0; +0.08 per e-mail clicked; phone channel
-0.6; ``Premium`` support +0.4; ``Mobile App``, ``Chatbot``, ``CSAT`` and size
nothing. Run ``python examples/make_wide_saas.py`` to rewrite the file (same
bytes every time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
N_CUSTOMERS = 2000
SIZE_BANDS = ["1-10", "11-50", "51-200", "201-1000", "1000+"]


def make_table(n: int = N_CUSTOMERS, seed: int = 7) -> pd.DataFrame:
    """The table, deterministic for a given ``n`` and ``seed``."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["Basic", "Pro", "Enterprise"], n, p=[0.5, 0.35, 0.15])
    contract = rng.choice(["Monthly", "Annual", "Two-year"], n, p=[0.55, 0.3, 0.15])
    size = rng.choice(SIZE_BANDS, n, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    channel = rng.choice(["Email", "Chat", "Phone"], n, p=[0.45, 0.35, 0.2])
    tier = rng.choice(["None", "Standard", "Premium"], n, p=[0.4, 0.4, 0.2])
    engaged = rng.normal(size=n)  # unobserved: drives adoption only

    def adopt(base: float) -> np.ndarray:
        return rng.random(n) < 1 / (1 + np.exp(-(base + 0.8 * engaged)))

    help_center, reports, integrations = adopt(-0.2), adopt(-0.5), adopt(-0.9)
    chatbot, mobile = adopt(0.0), adopt(-0.4)
    articles = rng.poisson(np.exp(1.3 + 0.4 * engaged)).clip(0, 60)
    emails = rng.poisson(np.exp(1.0 + 0.3 * engaged)).clip(0, 40)
    csat = rng.integers(1, 11, n)

    logit = (
        -1.6
        + np.select([contract == "Annual", contract == "Two-year"], [1.4, 2.4], 0.0)
        + 0.9 * help_center
        + 0.8 * reports
        + 0.7 * integrations
        + 1.0 * (articles >= 5)
        + 0.08 * emails
        - 0.6 * (channel == "Phone")
        + 0.4 * (tier == "Premium")
    )
    stayed = rng.random(n) < 1 / (1 + np.exp(-logit))
    status = np.where(stayed, "Stayed", "Churned").astype(object)
    status[rng.random(n) < 0.08] = "Joined"  # too new to judge: outcome not known yet

    def yes_or_blank(flag: np.ndarray) -> np.ndarray:
        return np.where(flag, "Yes", "")

    email_text = emails.astype(str).astype(object)
    email_text[rng.random(n) < 0.02] = ""  # not recorded: read as 0 (missing = "false")
    return pd.DataFrame(
        {
            "Plan": plan,
            "Contract": contract,
            "Company Size": size,
            "Channel": channel,
            "Support Tier": tier,
            "Help Center": yes_or_blank(help_center),
            "Reports": yes_or_blank(reports),
            "Integrations": yes_or_blank(integrations),
            "Chatbot": yes_or_blank(chatbot),
            "Mobile App": yes_or_blank(mobile),
            "Articles Viewed": articles,
            "Emails Clicked": email_text,
            "CSAT": csat,
            "Status": status,
        }
    )


def main(out: str | Path = HERE / "wide_saas.csv") -> Path:
    """Write the table to ``out`` (CSV, LF line ends) and return its path."""
    out = Path(out)
    make_table().to_csv(out, index=False, lineterminator="\n")
    return out


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
