"""Every column of ``features.csv`` and ``accounts.csv``, and what it means.

One dictionary feeds the result docstrings, the README's column tables
(:func:`readme_block`; ``python -m milestone_discovery.columns`` prints it)
and the report's glossary (:func:`glossary`); a test checks that every column
a run writes is described here.

Conventions, for every table of the package: an interval is two columns,
``<quantity>_low`` and ``<quantity>_high`` (level ``1 - alpha``, 95% by
default); one quantity has one name everywhere (the held-out conditional
importance is ``importance`` in ``features.csv``, ``framework.json``, the
report and the plots). Columns renamed since earlier versions are listed in
:data:`RENAMED`; :func:`upgrade_columns` reads older run folders with them.

A name with a part in angle brackets stands for a family of columns:
``prevalence[plan=<plan>]`` is ``prevalence[plan=pro]``, ``prevalence[plan=basic]``...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "ACCOUNT_COLUMNS",
    "FEATURE_COLUMNS",
    "FILES",
    "RENAMED",
    "Column",
    "describe",
    "glossary",
    "markdown_table",
    "readme_block",
    "undocumented",
    "upgrade_columns",
]


@dataclass(frozen=True)
class Column:
    """One column (or a family of columns) of an output file.

    Attributes
    ----------
    name : str
        The column's name; a part in angle brackets (``<category>``) stands
        for any text.
    meaning : str
        What it holds, in one or two sentences.
    """

    name: str
    meaning: str

    @property
    def pattern(self) -> re.Pattern:
        """The names this entry describes, as a regular expression."""
        parts = re.split(r"<[^<>]+>", self.name)
        return re.compile("^" + ".+".join(re.escape(p) for p in parts) + "$")

    def matches(self, column: str) -> bool:
        """Whether ``column`` is this column (or one of this family)."""
        return self.pattern.match(column) is not None


_C = Column

#: ``features.csv`` (``FeatureResult.to_frame()``): one row per feature, in this column order.
FEATURE_COLUMNS: tuple[Column, ...] = (
    _C(
        "feature", "The feature's name (a usage flag; `column>=t` for a wide table's count column)."
    ),
    _C("category", "Its category in the feature catalog (empty without one)."),
    _C(
        "status",
        "`selected`, or `dropped_<reason>`: leaky, ubiquitous, niche, segment, "
        "negative, confounded, underpowered or unimportant.",
    ),
    _C("reason", "Why, in words, with the figures behind the decision."),
    _C(
        "prevalence",
        "Share of the eligible accounts that adopted the feature within the observation window.",
    ),
    _C("adopters", "Eligible accounts that adopted it."),
    _C("retention_adopters", "Retention rate of the adopters."),
    _C("retention_non_adopters", "Retention rate of the other eligible accounts."),
    _C("lift", "`retention_adopters / retention_non_adopters` (risk ratio, not adjusted)."),
    _C("phi", "Phi coefficient between adoption and retention."),
    _C("raw_or", "Odds ratio of retention, adopters vs not, not adjusted."),
    _C("raw_or_low", "Lower end of its confidence interval."),
    _C("raw_or_high", "Upper end of its confidence interval."),
    _C(
        "adj_or",
        "Odds ratio of retention adjusted for size, plan and the other covariates "
        "(Mantel-Haenszel across their strata).",
    ),
    _C("adj_or_low", "Lower end of its confidence interval."),
    _C("adj_or_high", "Upper end of its confidence interval."),
    _C("adj_p", "p-value of the adjusted odds ratio (Mantel-Haenszel test)."),
    _C("adj_p_holm", "`adj_p` adjusted across features (Holm)."),
    _C("raw_p", "p-value of the raw association (chi-square)."),
    _C("raw_p_holm", "`raw_p` adjusted across features (Holm)."),
    _C(
        "min_detectable_or",
        "Smallest adjusted odds ratio this study could detect at its size "
        "(two-sided `alpha`, `features.power`): above `features.min_effect_or` means underpowered.",
    ),
    _C(
        "importance",
        "Held-out conditional importance: how much worse (log loss) the cross-fitted "
        "model predicts retention when the flag is redrawn given the other flags and covariates.",
    ),
    _C("importance_se", "Standard error of `importance` (over accounts)."),
    _C("importance_p", "One-sided p-value of `importance > 0`."),
    _C(
        "importance_q",
        "`importance_p` adjusted across the candidate features "
        "(`features.multiplicity`); empty for features screened out before the test.",
    ),
    _C(
        "equivalent_or",
        "`importance` as an odds ratio: the conditional odds ratio whose removal would cost as "
        "much log loss (a forest shrinks effects, so it is below `adj_or`). Selection needs at "
        "least `features.min_relevant_or`.",
    ),
    _C(
        "stability",
        "Share of the cross-fitting repeats in which the importance alone is significant.",
    ),
    _C(
        "marginal_importance",
        "Ordinary (marginal) permutation importance, for reference: a proxy of a driver keeps it.",
    ),
    _C("shap_mean_abs", "Mean absolute SHAP value in the model (descriptive)."),
    _C("impurity_importance_biased", "The forest's impurity importance (biased, descriptive)."),
    _C(
        "churned_adopters",
        "Leak screen: adopters that churned within `features.leaky_days` after the window.",
    ),
    _C(
        "near_churn_share",
        "Leak screen: share of them whose first use fell within `leaky_days` before churning.",
    ),
    _C(
        "other_late_share",
        "Leak screen: share of the other adopters whose first use fell in the "
        "window's last `leaky_days`.",
    ),
    _C(
        "leak_p_holm", "Leak screen: Fisher p-value of the excess, adjusted across features (Holm)."
    ),
    _C(
        "top_segment",
        "The plan or size band holding the largest share of the adopters (`plan=pro`).",
    ),
    _C("top_segment_adopter_share", "Share of the adopters in `top_segment`."),
    _C("top_segment_population_share", "Share of all eligible accounts in `top_segment`."),
    _C("prevalence[plan=<plan>]", "Prevalence among the accounts on that plan."),
    _C("prevalence[size_band=<band>]", "Prevalence among the accounts of that size band."),
    _C(
        "first_use_near_churn",
        "Leak screen: churned adopters whose first use fell within "
        "`leaky_days` before churning (count).",
    ),
    _C("other_adopters", "Leak screen: the other adopters (count)."),
    _C(
        "other_first_use_late",
        "Leak screen: of them, those whose first use fell in the window's "
        "last `leaky_days` (count).",
    ),
)

#: ``accounts.csv`` (``Study.to_frame()``, ``milestones score``): one row per account.
ACCOUNT_COLUMNS: tuple[Column, ...] = (
    _C("account_id", "The account, as in the data."),
    _C("plan", "Its plan (accounts table)."),
    _C("company_size", "Its company size (accounts table)."),
    _C("seats", "Its purchased seats (accounts table)."),
    _C("signup_date", "Its signup date."),
    _C("churn_date", "Its churn date (empty while a customer)."),
    _C(
        "eligible",
        "In the retention population: did not churn inside the observation window "
        "and signed up at least the horizon before `as_of`.",
    ),
    _C(
        "exclusion_reason",
        "Why not eligible (`churned_in_window`, `too_young`); empty if eligible.",
    ),
    _C(
        "retained",
        "Still a customer at the horizon (a wide table: its outcome column); empty "
        "when not eligible or unknown.",
    ),
    _C("size_band", "Company-size band (`unknown` without size data)."),
    _C("window_complete", "The observation window has ended by `as_of` (dated data only)."),
    _C("setup_steps_done", "Setup checklist steps completed within the setup window."),
    _C("activation_value", "The activation metric summed over the activation months."),
    _C(
        "utilization_value",
        "The utilization metric per seat per month over the utilization months.",
    ),
    _C(
        "<category>:features_used",
        "Features of that maturity category used within the observation window.",
    ),
    _C("<category>:mature", "Mature in that category: used at least its `min_features`."),
    _C("mature_categories", "Number of categories the account is mature in."),
    _C("mature", "Maturity milestone reached: mature in at least `min_categories` categories."),
    _C("setup", "Setup milestone reached: at least the framework's number of checklist steps."),
    _C("activation", "Activation milestone reached: `activation_value` at or above its threshold."),
    _C(
        "utilization",
        "Utilization milestone reached: `utilization_value` at or above its threshold.",
    ),
    _C(
        "stage",
        "Furthest milestone reached, in the order setup, activation, utilization, "
        "maturity (`none` when none).",
    ),
    _C("next_step", "First milestone not reached (`all milestones reached` when none is left)."),
    _C(
        "next_category",
        "For maturity: the category closest to mature (empty when nothing is left).",
    ),
    _C(
        "next_feature",
        "The feature of `next_category` that similar accounts (same plan and "
        "size band, mature there) adopt most.",
    ),
)

#: File name -> its columns.
FILES: dict[str, tuple[Column, ...]] = {
    "features.csv": FEATURE_COLUMNS,
    "accounts.csv": ACCOUNT_COLUMNS,
}

#: Column names of earlier versions -> today's (features.csv and tables/*.csv).
RENAMED: dict[str, str] = {
    "perm_importance": "importance",
    "min_features_ci_low": "min_features_low",
    "min_features_ci_high": "min_features_high",
    "lift_ci_low": "lift_low",
    "lift_ci_high": "lift_high",
    "retention_mature": "outcome_rate_above",
    "retention_not_mature": "outcome_rate_below",
    "rate_above": "outcome_rate_above",
    "rate_below": "outcome_rate_below",
}

#: Text columns of earlier versions holding an interval as ``"low-high"``: dropped on reading.
_TEXT_INTERVALS = ("min_features_ci", "lift_ci")


def describe(column: str, file: str) -> str | None:
    """The meaning of a column of ``file`` (``"features.csv"`` or ``"accounts.csv"``).

    Parameters
    ----------
    column : str
        A column name as written, e.g. ``"prevalence[plan=pro]"``.
    file : str
        A key of :data:`FILES`.

    Returns
    -------
    str or None
        None when the dictionary does not know the column.
    """
    for entry in FILES[file]:
        if entry.matches(column):
            return entry.meaning
    return None


def undocumented(columns, file: str) -> list[str]:
    """The columns of ``columns`` that the dictionary of ``file`` does not describe.

    Parameters
    ----------
    columns : iterable of str
    file : str
        A key of :data:`FILES`.

    Returns
    -------
    list of str
    """
    return [str(c) for c in columns if describe(str(c), file) is None]


def markdown_table(file: str) -> str:
    """The columns of ``file`` as a Markdown table (``| column | meaning |``)."""
    lines = ["| column | meaning |", "|---|---|"]
    for c in FILES[file]:
        meaning = c.meaning.replace("|", r"\|")
        lines.append(f"| `{c.name}` | {meaning} |")
    return "\n".join(lines)


def readme_block() -> str:
    """The README's column tables, one per file, as Markdown."""
    parts = []
    for file in FILES:
        parts.append(f"`{file}`:\n\n{markdown_table(file)}")
    return "\n\n".join(parts)


def glossary() -> list[dict]:
    """The dictionary as plain data for the report's glossary.

    Returns
    -------
    list of dict
        Per file: ``file`` and ``columns`` (``name``, ``meaning`` and its
        ``parts``: ``(text, is_code)`` pairs, the code spans being the
        backquoted names), in column order.
    """
    return [
        {
            "file": file,
            "columns": [
                {"name": c.name, "meaning": c.meaning, "parts": _code_spans(c.meaning)}
                for c in columns
            ],
        }
        for file, columns in FILES.items()
    ]


def _code_spans(text: str) -> list[tuple[str, bool]]:
    """``"a `b` c"`` -> ``[("a ", False), ("b", True), (" c", False)]`` (for ``<code>``)."""
    return [(part, i % 2 == 1) for i, part in enumerate(text.split("`")) if part]


def upgrade_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A table of an earlier run folder under today's column names (:data:`RENAMED`).

    Old text intervals (``"1.2-1.5"``) are dropped when their ``_low``/``_high``
    columns are there; a column already present under its new name is kept.

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
        The same table when nothing was renamed, else a renamed copy.
    """
    rename = {old: new for old, new in RENAMED.items() if old in frame and new not in frame}
    drop = [c for c in _TEXT_INTERVALS if c in frame and f"{c}_low" in frame]
    if not rename and not drop:
        return frame
    return frame.drop(columns=drop).rename(columns=rename)


if __name__ == "__main__":  # pragma: no cover - prints the README block
    print(readme_block())
