"""The self-contained HTML report (``milestone_discovery.report``) and ``milestones report``.

One small synthetic study is run per session (fast settings); every test reads
its run folder or a copy changed in one way (hostile names, a wide-table run,
no setup table, only framework.json).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from milestone_discovery.cli import main
from milestone_discovery.config import Config
from milestone_discovery.errors import MilestoneError
from milestone_discovery.report import build_report, fmt_int, fmt_pct, fmt_value, write_report
from milestone_discovery.report.format import fmt_ci, interval
from milestone_discovery.study import discover
from milestone_discovery.synth import make_synthetic

HOSTILE = "<script>alert(1)</script>&co"
TEMPORAL = {
    "split_date": "2024-11-21",
    "train_accounts": 1175,
    "test_accounts": 508,
    "milestones": [
        {
            "milestone": "activation",
            "threshold": 62.0,
            "fit_lift": 1.48,
            "fit_lift_ci": [1.35, 1.62],
            "test_lift": 1.42,
            "test_lift_ci": [1.24, 1.63],
            "test_share": 0.58,
            "test_accounts": 508,
        },
        {
            "milestone": "setup",
            "threshold": 2.0,
            "fit_lift": 1.15,
            "fit_lift_ci": [1.06, 1.25],
            "test_lift": 1.14,
            "test_lift_ci": [0.99, 1.31],
            "test_share": 0.19,
            "test_accounts": 508,
        },
        {
            "milestone": "mature overall",
            "threshold": None,
            "fit_lift": 1.49,
            "fit_lift_ci": [1.35, 1.64],
            "test_lift": None,
            "test_lift_ci": None,
            "test_share": None,
            "test_accounts": 0,
        },
    ],
}


def _fast_config() -> Config:
    config = Config()
    config.study.temporal_validation = False
    config.features.n_estimators = 30
    config.features.n_repeats = 2
    config.features.shap_sample = 20
    config.maturity.n_bootstrap = 30
    config.journey.n_bootstrap = 30
    return config


def _edit_framework(run: Path, change) -> None:
    path = run / "framework.json"
    fw = json.loads(path.read_text(encoding="utf-8"))
    change(fw)
    path.write_text(json.dumps(fw, indent=2), encoding="utf-8")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real run folder (8,000 synthetic accounts: enough power to select features), with a temporal check."""
    root = tmp_path_factory.mktemp("report")
    make_synthetic(n_accounts=8000, seed=0).write(root / "data", fmt="csv")
    run = root / "run"
    discover(root / "data", run, _fast_config(), progress=False, report=False)
    (run / "run.json").write_text(
        json.dumps(
            {
                "dataset": "data/synthetic",
                "created_at": "2026-01-01T00:00:00",
                "versions": {"milestone_discovery": "0.1.0"},
            }
        ),
        encoding="utf-8",
    )
    _edit_framework(run, lambda fw: fw.update(validation={"temporal": TEMPORAL}))
    return run


@pytest.fixture(scope="module")
def framework(run_dir) -> dict:
    return json.loads((run_dir / "framework.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def report(run_dir) -> Path:
    return write_report(run_dir)


@pytest.fixture(scope="module")
def html(report) -> str:
    return report.read_text(encoding="utf-8")


def _copy(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("report.html"))
    return dest


# ----------------------------------------------------------------------------- formatting
def test_number_formatting():
    assert fmt_pct(0.8652) == "87%"
    assert fmt_pct(0.026) == "2.6%"
    assert fmt_pct(None) == fmt_pct(float("nan")) == "–"
    assert fmt_int(1683) == "1,683"
    assert fmt_value(60.0) == "60"
    assert fmt_value(6.807018) == "6.81"
    assert fmt_value(1234.4) == "1,234"


def test_one_interval_convention():
    assert fmt_ci(0.84, 0.89, "pct") == "84–89%"
    assert fmt_ci(1.2149, 1.36) == "1.21–1.36"
    assert fmt_ci(57.0, 62.0, "value") == "57–62"
    assert fmt_ci(None, 1.0) == fmt_ci(1.0, float("nan")) == ""
    # both spellings of an interval in a run folder read the same
    assert interval({"lift": 1.2, "lift_ci": [1.1, 1.3]}, "lift") == (1.1, 1.3)
    assert interval({"rr": 1.2, "rr_low": 1.1, "rr_high": None}, "rr") == (1.1, None)
    assert interval({"lift": 1.2}, "lift") == (None, None)


# ----------------------------------------------------------------------------- charts
def test_status_colours_follow_the_statuses():
    from milestone_discovery.features import STATUSES
    from milestone_discovery.plotting import STATUS_COLORS

    assert list(STATUS_COLORS) == STATUSES  # plotting orders statuses by its colours


def test_charts_draw_the_run_folders_csv_tables(run_dir):
    """The charts the result objects draw take the same tables read back from CSV."""
    import pandas as pd
    from matplotlib.figure import Figure

    from milestone_discovery import plotting
    from milestone_discovery.report.load import read_csv

    tables = run_dir / "tables"
    features = read_csv(run_dir / "features.csv")
    draws = [
        lambda ax: plotting.plot_importance(features, top=10, ax=ax),
        lambda ax: plotting.plot_prevalence_importance(features, 0.05, 0.9, ax=ax),
        lambda ax: plotting.plot_threshold_scan(read_csv(tables / "activation_scan.csv"), ax=ax),
        lambda ax: plotting.plot_setup_steps(read_csv(tables / "setup_steps.csv"), ax=ax),
        lambda ax: plotting.plot_utilization_by_size(
            read_csv(tables / "utilization_by_size.csv"), ax=ax
        ),
        lambda ax: plotting.plot_retention_by_count(
            read_csv(tables / "maturity_by_count.csv"), 2, ax=ax
        ),
        lambda ax: plotting.plot_categories(read_csv(tables / "maturity_categories.csv"), ax=ax),
    ]
    for draw in draws:
        ax = Figure().subplots()
        assert draw(ax) is ax and (ax.patches or ax.lines or ax.collections)
    with pytest.raises(plotting.NothingToPlot, match="no column"):
        plotting.plot_setup_steps(pd.DataFrame({"step": ["a"]}), ax=Figure().subplots())


# ----------------------------------------------------------------------------- content
def test_report_is_written_to_the_run_folder(run_dir, report):
    assert report == run_dir / "report.html"
    assert report.stat().st_size > 50_000


def test_report_is_self_contained(html):
    assert html.startswith("<!DOCTYPE html>")
    for ref in (
        "http://",
        "https://",
        'src="//',
        'href="//',
        "<script",
        "<link",
        "<iframe",
        "@import",
    ):
        assert ref not in html.lower(), ref
    images = re.findall(r'<img src="([^"]*)"', html)
    assert len(images) >= 8
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', html))


def test_report_explains_the_framework(html, framework):
    assert "The framework on one screen" in html
    for category in framework["maturity"]["categories"]:
        assert f"<b>{category['name'].replace('_', ' ')}</b>" in html
        for feature in category["features"]:
            assert feature.replace("_", " ") in html
    m = framework["maturity"]["min_categories"]
    assert (
        f"Mature in at least {m} of the {len(framework['maturity']['categories'])} categories"
        in html
    )
    threshold = framework["activation"]["threshold"]
    assert f"At least {fmt_value(threshold)} conversations in the first 3 months" in html
    assert fmt_value(framework["utilization"]["per_seat_threshold"]) in html
    for step in framework["setup"]["steps"]:
        assert step.replace("_", " ") in html
    for stage in (
        "Stage 1 · Setup",
        "Stage 2 · Activation",
        "Stage 3 · Utilization",
        "Stage 4 · Maturity",
    ):
        assert stage in html
    assert "Not measured" not in html


def test_report_gives_retention_with_confidence_intervals(html, framework):
    mvn = framework["maturity"]["mature_vs_not"]
    lo, hi = fmt_pct(mvn["rate_reached_low"]), fmt_pct(mvn["rate_reached_high"])
    assert f"{fmt_pct(mvn['rate_reached'])} ({lo[:-1]}–{hi})" in html
    assert "retained at day 365" in html
    data = framework["data"]
    assert f"{data['eligible']:,} of {data['accounts']:,}" in html  # thousands separators
    assert "Holm" in html and "Mantel" in html and "held out" in html


def test_features_table_lists_every_feature_selected_first(html, framework):
    table = html[html.index("with their status and reason") :]
    selected = [f["feature"] for f in framework["features"] if f["status"] == "selected"]
    dropped = [f["feature"] for f in framework["features"] if f["status"] != "selected"]
    assert selected and dropped
    last_selected = max(table.index(f"<td>{f.replace('_', ' ')}</td>") for f in selected)
    first_dropped = min(table.index(f"<td>{f.replace('_', ' ')}</td>") for f in dropped)
    assert last_selected < first_dropped
    assert "Why features were kept or dropped" in html


def test_report_has_the_later_cohorts_section(html):
    section = html[html.index("Does the framework hold on later cohorts?") :]
    assert "1,175" in section and "2024-11-21" in section
    assert "holds" in section
    assert "interval includes 1" in section  # setup: test CI crosses 1
    assert "cannot be measured" in section  # a null test lift


def test_build_report_is_deterministic(run_dir, html):
    assert build_report(run_dir) == html


def test_names_from_the_data_are_escaped(run_dir, framework, tmp_path):
    run = _copy(run_dir, tmp_path / "hostile")
    category = framework["maturity"]["categories"][0]["name"]
    feature = framework["maturity"]["categories"][0]["features"][0]
    for path in [
        run / "framework.json",
        run / "features.csv",
        run / "accounts.csv",
        *run.glob("tables/*.csv"),
    ]:
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace(feature, f"{feature}{HOSTILE}").replace(category, f"{HOSTILE}{category}"),
            encoding="utf-8",
        )
    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    (run / "run.json").write_text(
        json.dumps({**info, "dataset": "data/<img src=x onerror=alert(2)>"}), encoding="utf-8"
    )
    html = build_report(run)
    assert "<script>" not in html and "<script" not in html.lower()
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;co" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_text_neutralised_in_the_csv_files_is_shown_as_in_the_data(run_dir, framework, tmp_path):
    run = _copy(run_dir, tmp_path / "formula")
    feature = framework["maturity"]["categories"][0]["features"][0]
    name = "=HYPERLINK(1)"
    (run / "framework.json").write_text(
        (run / "framework.json").read_text(encoding="utf-8").replace(feature, name),
        encoding="utf-8",
    )
    for path in [run / "features.csv", *run.glob("tables/*.csv")]:  # as write_csv quotes it
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(feature, "'" + name), encoding="utf-8")
    html = build_report(run)
    assert f"<td>{name}</td>" in html  # the features table, from features.csv
    assert "&#39;=HYPERLINK" not in html


# ----------------------------------------------------------------------------- partial runs
def test_wide_table_run_greys_out_the_journey_stages(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path / "wide")
    why = "wide table: no dated activity or setup steps"

    def to_wide(fw):
        fw.update(activation=None, utilization=None, setup=None, validation=None)
        fw["data"].update(
            kind="wide",
            exclusions={},
            journey_exclusions=[],
            skipped_stages={"setup": why, "activation": why, "utilization": why},
            notes=["wide table: observation window and horizon cannot be enforced (no dates)"],
        )

    _edit_framework(run, to_wide)
    for pattern in (
        "activation_*",
        "utilization_*",
        "setup_*",
        "journey_exclusions*",
        "exclusions*",
    ):
        for path in run.glob(f"tables/{pattern}.csv"):
            path.unlink()
    funnel = (run / "tables" / "funnel.csv").read_text(encoding="utf-8").splitlines()
    (run / "tables" / "funnel.csv").write_text(
        "\n".join(line for line in funnel if line.split(",")[0] in ("stage", "none", "maturity"))
        + "\n",
        encoding="utf-8",
    )
    html = build_report(run)
    assert html.count(f"Not measured: {why}") >= 6  # three cards and three stage sections
    assert "stage setup skipped" in html and "stage maturity" in html
    assert "cannot be enforced" in html
    assert "Does the framework hold on later cohorts?" not in html
    assert "Stage 4 · Maturity" in html and "The framework on one screen" in html


def test_run_without_setup_and_skipped_temporal_check_via_cli(run_dir, tmp_path, capsys):
    run = _copy(run_dir, tmp_path / "nosetup")

    def drop_setup(fw):
        fw["setup"] = None
        fw["data"]["skipped_stages"] = {"setup": "no setup_steps table"}
        fw["validation"] = {"temporal": {"skipped": "too few accounts signed up after the split"}}

    _edit_framework(run, drop_setup)
    for path in run.glob("tables/setup_*.csv"):
        path.unlink()
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert "Not measured: no setup_steps table" in html
    assert "Stage 2 · Activation" in html and "Do activated accounts do better?" in html
    assert "Does the framework hold on later cohorts?" not in html
    assert "too few accounts signed up after the split" in html
    assert not (run / "report.html").exists()


def test_framework_json_alone_is_enough(run_dir, tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    shutil.copy(run_dir / "framework.json", run / "framework.json")
    html = build_report(run)
    assert "The framework on one screen" in html
    assert "with their status and reason" in html  # features come from framework.json
    assert "http://" not in html and "https://" not in html


def test_glossary_explains_every_column_of_the_output_files(html):
    from markupsafe import escape

    from milestone_discovery.columns import FILES

    section = _section(html, "glossary")
    assert 'href="#glossary"' in html
    for file, columns in FILES.items():
        assert f"<summary>{file}</summary>" in section
        for column in columns:
            assert f"<td><code>{escape(column.name)}</code></td>" in section


@pytest.mark.parametrize(
    "file, renames",
    [
        ("features.csv", {"importance": "perm_importance"}),
        (
            "tables/maturity_categories.csv",
            {
                "min_features_low": "min_features_ci_low",
                "min_features_high": "min_features_ci_high",
                "lift_low": "lift_ci_low",
                "lift_high": "lift_ci_high",
                "outcome_rate_above": "retention_mature",
                "outcome_rate_below": "retention_not_mature",
            },
        ),
    ],
)
def test_a_run_folder_with_earlier_column_names_gives_the_same_report(
    run_dir, tmp_path, html, file, renames
):
    old = _copy(run_dir, tmp_path / "copy" / run_dir.name)
    header, rest = (old / file).read_text(encoding="utf-8").split("\n", 1)
    columns = header.split(",")
    assert set(renames) <= set(columns)
    (old / file).write_text(
        ",".join(renames.get(c, c) for c in columns) + "\n" + rest, encoding="utf-8"
    )
    assert build_report(old) == html


def test_not_a_run_folder(tmp_path, capsys):
    with pytest.raises(MilestoneError, match="not a run folder: framework.json not found"):
        build_report(tmp_path)
    with pytest.raises(MilestoneError, match="not a run folder"):
        write_report(tmp_path / "missing")
    (tmp_path / "framework.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(MilestoneError, match="not valid JSON"):
        build_report(tmp_path)
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a run folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------- browser
def _chromium() -> str | None:
    return next(
        (
            c
            for c in (
                "/usr/bin/chromium",
                shutil.which("chromium"),
                shutil.which("chromium-browser"),
            )
            if c and Path(c).exists()
        ),
        None,
    )


def test_report_renders_in_headless_chromium(report, framework, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed")
    flags = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,2000",
    ]
    url = report.resolve().as_uri()
    png = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--user-data-dir={tmp_path / 'profile1'}", f"--screenshot={png}", url],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # not a blank page
    dom = subprocess.run(
        [*flags, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", url],
        capture_output=True,
        timeout=120,
        check=False,
        text=True,
    ).stdout
    assert "The framework on one screen" in dom
    assert framework["maturity"]["categories"][0]["name"].replace("_", " ") in dom
    assert "Stage 4 · Maturity" in dom


@pytest.mark.parametrize(
    ("shape", "says", "curve"),
    [
        ("step", "a real threshold", False),
        ("gradual", "is a business choice", True),
        ("none", "treat this threshold as unsupported", False),
    ],
)
def test_report_says_whether_each_threshold_is_real(run_dir, tmp_path, shape, says, curve):
    run = _copy(run_dir, tmp_path / shape)

    def set_shape(fw):
        for stage in ("activation", "utilization"):
            fw[stage]["shape"] = shape

    _edit_framework(run, set_shape)
    html = build_report(run)
    assert html.count(says) >= 2  # activation and utilization
    assert ('alt="Retention by utilization level"' in html) is curve
    assert ('alt="Outcome rate by activation level"' in html) is curve


# ----------------------------------------------------------------------------- time to churn
def _section(html: str, anchor: str) -> str:
    """The HTML of one ``<section id=anchor>``."""
    start = html.index(f'<section id="{anchor}">')
    return html[start : html.index("</section>", start)]


def test_time_to_churn_section(html, framework):
    surv = framework["survival"]
    section = _section(html, "time-to-churn")
    more = surv["accounts"] - surv["fixed_horizon_accounts"]
    assert more > 0  # the survival view keeps the young accounts
    assert (
        f"{surv['accounts']:,} accounts followed from the end of the "
        f"{surv['landmark_days']}-day window ({more:,} more than the "
        f"{surv['horizon_days']}-day retention study)"
    ) in section
    mature = next(m for m in surv["milestones"] if m["milestone"] == "mature")
    assert (
        f"Accounts that reached maturity churn at {mature['hazard_ratio']:.2f}× the rate of "
        "similar accounts (same size and plan)"
    ) in section
    assert f'{mature["hazard_ratio"]:.2f} <span class="ci">({fmt_ci(*mature["ci"])})</span>' in (
        section
    )
    # the hazard-ratio chart and the curves of mature and activation, each drawn once
    assert section.count('alt="Hazard ratio of churn per milestone"') == 1
    for name in ("Mature overall", "Activation"):
        assert section.count(f'alt="Share still customers over time: {name}, reached vs not"') == 1
    alive = mature["alive_12m"]["reached"]
    assert fmt_pct(alive["share"]) in section
    assert "Median months to churn" in section and "Not followed:" in section
    assert 'href="#time-to-churn"' in html


def test_time_to_churn_words_for_each_case(run_dir, framework, tmp_path):
    run = _copy(run_dir, tmp_path / "ph")
    ph_fails = next(m["milestone"] for m in framework["survival"]["milestones"])

    def change(fw):
        for m in fw["survival"]["milestones"]:
            m["ph_p_value"] = 0.001 if m["milestone"] == ph_fails else 0.5
            if m["milestone"] == "activation":
                m["hazard_ratio"], m["ci"] = 0.9, [0.7, 1.2]
                m["median_days"]["reached"] = None
        fw["survival"]["adjusted_for"] = []

    _edit_framework(run, change)
    section = _section(build_report(run), "time-to-churn")
    assert (
        section.count(
            "The gap changes over time; see the curve — the hazard ratio is an average over "
            "follow-up"
        )
        == 1
    )
    assert "churn at 0.90× the rate of the other accounts; the interval (0.70–1.20) includes 1" in (
        section
    )
    assert "not reached" in section  # median of the activated: fewer than half churned


def test_time_to_churn_skipped_says_why(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path / "nosurv")
    _edit_framework(run, lambda fw: fw.update(survival={"skipped": f"too few churns {HOSTILE}"}))
    section = _section(build_report(run), "time-to-churn")
    assert "Not measured: too few churns &lt;script&gt;" in section
    assert "<script" not in section and "<img" not in section


# ----------------------------------------------------------------------------- segments
def test_segment_section_when_every_effect_is_consistent(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path / "consistent")

    def consistent(fw):
        for e in fw["heterogeneity"]["features"]:
            e.update(segment_specific=False, segment=None, level=None)
            for by in e["by"].values():
                by["heterogeneous"] = False
        for f in fw["features"]:
            f["segment_specific"] = None

    _edit_framework(run, consistent)
    html = build_report(run)
    section = _section(html, "segments")
    assert "Every effect was consistent across plans and size bands" in section
    assert "Breslow–Day" in section and "multiplicity-controlled" in section
    assert "works only in" not in html


def test_segment_specific_effects_are_flagged_with_their_forest(run_dir, framework, tmp_path):
    run = _copy(run_dir, tmp_path / "flagged")
    feature = next(f["feature"] for f in framework["features"] if f["status"] == "selected")

    def flag(fw):
        for e in fw["heterogeneity"]["features"]:
            if e["feature"] == feature:
                e.update(segment_specific=True, segment="plan", level=f"pro{HOSTILE}")
        for f in fw["features"]:
            if f["feature"] == feature:
                f["segment_specific"] = f"plan = pro{HOSTILE}"

    _edit_framework(run, flag)
    html = build_report(run)
    name = feature.replace("_", " ")
    where = "works only in plan pro&lt;script&gt;alert(1)&lt;/script&gt;&amp;co"
    section = _section(html, "segments")
    assert f"{name}: {where}" in section
    assert section.count(f'alt="Effect of {name} per segment"') == 1
    assert "1 of " in section and "effects hold in one segment only" in section
    features = _section(html, "features")
    assert features.count(f'<span class="badge seg">{where}</span>') == 1
    assert "<script>" not in html


def test_segment_section_skipped_says_why(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path / "nohet")
    _edit_framework(run, lambda fw: fw.update(heterogeneity={"skipped": "no feature selected"}))
    assert "Not measured: no feature selected." in _section(build_report(run), "segments")


# ----------------------------------------------------------------------------- factors
def test_account_factors_section(html, framework):
    section = _section(html, "factors")
    factors = [f for f in framework["covariates"]["factors"] if f["present"]]
    strongest = max(factors, key=lambda f: f["cramers_v"])
    levels = {lv["level"]: lv for lv in strongest["levels"]}
    best, worst = strongest["best_level"], strongest["worst_level"]
    label = strongest["label"][0].upper() + strongest["label"][1:]
    lead = (
        f"{label} — {best} {fmt_pct(levels[best]['retention'])} vs "
        f"{worst} {fmt_pct(levels[worst]['retention'])}"
    )
    assert f"Strongest factor: {lead}" in section
    assert f"Strongest account factor: {lead}" in _section(html, "summary")
    # strongest first, each with what it was adjusted for, the baseline level at 1
    order = sorted(factors, key=lambda f: -f["cramers_v"])
    positions = [section.index(f"<h3>{f['label'][0].upper() + f['label'][1:]}</h3>") for f in order]
    assert positions == sorted(positions)
    for f in factors:
        assert f"adjusted for {f['adjusted_for']}" in section
    assert section.count("1 (baseline)") == len(factors)
    assert "Adjusted odds ratio" in section


def test_account_factors_absent_raw_and_choices(run_dir, framework, tmp_path):
    run = _copy(run_dir, tmp_path / "factors")

    def change(fw):
        size, plan = fw["covariates"]["factors"][:2]
        size.clear()
        size.update(
            name="size",
            label="company size",
            role="size",
            present=False,
            absent="no company size or seats column",
        )
        plan["adjusted_for"] = "nothing"
        for lv in plan["levels"]:
            for k in ("adj_or", "adj_or_low", "adj_or_high", "adj_p"):
                lv.pop(k, None)
        fw["choices"] = [
            {
                **json.loads(json.dumps(plan)),
                "name": "Support Tier",
                "label": f"Support Tier{HOSTILE}",
                "role": "choice",
                "addons": [plan["levels"][-1]["level"]],
            }
        ]

    _edit_framework(run, change)
    section = _section(build_report(run), "factors")
    assert "Not analysed: no company size or seats column." in section
    plan = next(f for f in framework["covariates"]["factors"] if f["name"] == "plan")
    other = next(lv for lv in plan["levels"] if not lv["reference"])
    assert f"{other['raw_or']:.2f}" in section  # the raw odds ratio, called just that
    assert "not adjusted (no other factor to adjust for)" in section
    assert '<th class="num">Odds ratio</th>' in section
    assert "Choices: which option retains better?" in section
    assert "Support Tier&lt;script&gt;" in section and "<script" not in section
    assert "counted toward maturity" in section and "add-on</span>" in section


# ----------------------------------------------------------------------------- counts
def test_counts_section_of_a_wide_run(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path / "counts")
    scan = run / "tables" / "activation_scan.csv"
    shutil.copy(scan, run / "tables" / "count_scan__articles_viewed.csv")
    count = {
        "column": "Articles Viewed",
        "feature": "Articles Viewed>=5",
        "status": "selected",
        "metric": "Articles Viewed",
        "outcome": "retention",
        "threshold": 5.0,
        "threshold_ci": [4.0, 8.0],
        "share_above": 0.36,
        "outcome_rate_above": 0.8,
        "outcome_rate_above_ci": [0.75, 0.84],
        "outcome_rate_below": 0.53,
        "outcome_rate_below_ci": [0.49, 0.57],
        "lift": 1.5,
        "lift_ci": [1.37, 1.65],
        "shape": "step",
    }
    skipped = {
        "column": f"CSAT{HOSTILE}",
        "feature": None,
        "status": "no_threshold",
        "skipped": "fewer than 3 distinct values",
    }
    _edit_framework(run, lambda fw: fw.update(counts=[count, skipped]))
    html = build_report(run)
    section = _section(html, "counts")
    assert "<b>Articles Viewed&gt;=5</b>" in section
    assert "at least 5" in section and "(data support 4–8)" in section
    assert '1.50 <span class="ci">(1.37–1.65)</span>' in section
    assert "Retention steps up at this threshold" in section
    assert section.count('alt="Choice of the threshold for Articles Viewed"') == 1
    assert "No threshold: fewer than 3 distinct values." in section
    assert "CSAT&lt;script&gt;" in section and "<script" not in html
    assert 'href="#counts"' in html


# ----------------------------------------------------------------------------- labels
def test_labels_follow_what_was_adjusted_for(run_dir, html, tmp_path):
    model = _section(html, "features")
    assert "Company size and plan only" in model  # the synthetic run's own baseline
    run = _copy(run_dir, tmp_path / "unadjusted")

    def unadjusted(fw):
        fw["model"].update(
            adjusted=False,
            adjusted_for="nothing (no size, plan or other covariate: adjusted equals raw)",
            baseline=f"nothing: the average retention rate {HOSTILE}",
        )

    _edit_framework(run, unadjusted)
    text = build_report(run)
    assert "Adjusted odds ratio" not in _section(text, "features")
    assert "Company size and plan only" not in text and "company size and plan only" not in text
    assert "Nothing: the average retention rate &lt;script&gt;" in text
    assert "Odds ratios are not adjusted" in _section(text, "method")
    assert '<th class="num">Odds ratio</th>' in _section(text, "features")


def test_runs_without_the_new_sections_render_as_before(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path / "old")

    def old(fw):
        for key in (
            "survival",
            "heterogeneity",
            "covariates",
            "choices",
            "counts",
            "expansion",
            "sensitivity",
        ):
            fw.pop(key, None)
        for f in fw["features"]:
            for key in ("segment_specific", "milestone_for", "expansion_status", "window_share"):
                f.pop(key, None)

    _edit_framework(run, old)
    html = build_report(run)
    for anchor in ("time-to-churn", "segments", "factors", "counts", "expansion", "windows"):
        assert f'id="{anchor}"' not in html and f'href="#{anchor}"' not in html
    assert "Milestone for" not in html and "Staying vs growing" not in html
    assert "the check is opt-in" in _section(html, "features")
    assert "The framework on one screen" in html


# ----------------------------------------------------------------------------- stay, grow or both
def _readable(name: str) -> str:
    return name.replace("_", " ")


def _expansion(both: str, stay: str, other: str) -> dict:
    """An ``expansion`` section: ``both`` and ``stay`` are features of the run, one grows only."""

    def entry(feature, retention, expansion, lab, adopters, non_adopters, odds):
        return {
            "feature": feature,
            "category": "reporting",
            "retention": retention,
            "expansion": expansion,
            "label": lab,
            "reason": f"why {feature}",
            "prevalence": 0.3,
            "adopters": 700,
            "expansion_adopters": adopters,
            "expansion_non_adopters": non_adopters,
            "lift": adopters / non_adopters,
            "adj_or": odds[0],
            "adj_or_low": odds[1],
            "adj_or_high": odds[2],
            "adj_p_holm": 0.001,
            "importance": 0.005,
            "importance_se": 0.001,
            "importance_q": 0.001,
        }

    return {
        "outcome": "expansion",
        "definition": "accounts.expansion above 0, among the accounts retained at 365 days",
        "accounts": 2436,
        "expanding": 744,
        "expansion_rate": 0.305419,
        "excluded": {"expansion_unknown": 12},
        "adjusted_for": "company size and plan",
        "model": {"n_repeats": 1, "metrics": [], "roc_auc_gain_vs_covariates": 0.198752},
        "labels": {},
        "milestones": {},
        "features": [
            entry(stay, "selected", "dropped_unimportant", "stay", 0.33, 0.27, (1.34, 1.13, 1.6)),
            entry(
                f"grows{HOSTILE}",
                "dropped_unimportant",
                "selected",
                "grow",
                0.44,
                0.26,
                (2.27, 1.87, 2.75),
            ),
            entry(both, "selected", "selected", "both", 0.36, 0.23, (1.9, 1.59, 2.28)),
            entry(other, "dropped_niche", "dropped_niche", None, 0.3, 0.31, (0.9, 0.5, 1.6)),
        ],
        "notes": [
            "Expansion has no date in the data: it is taken as known at the horizon, after the "
            f"observation window. {HOSTILE}"
        ],
    }


def test_stay_grow_or_both_section(run_dir, framework, tmp_path):
    run = _copy(run_dir, tmp_path / "expansion")
    selected = sorted(f["feature"] for f in framework["features"] if f["status"] == "selected")
    dropped = sorted(f["feature"] for f in framework["features"] if f["status"] != "selected")
    both, stay, other = selected[0], selected[1], dropped[0]

    def change(fw):
        fw["expansion"] = _expansion(both, stay, other)
        for f in fw["features"]:
            f["milestone_for"] = {both: "both", stay: "stay"}.get(f["feature"])

    _edit_framework(run, change)
    html = build_report(run)
    section = _section(html, "expansion")
    assert 'href="#expansion"' in html
    assert "2,436 accounts still customers at day 365 were studied again" in section
    assert "744 of them (31%) expanded" in section
    assert "odds ratios adjusted for company size and plan" in section
    # labelled features first: both, then grow, then stay; the unlabelled one in the details
    b, g, s = (
        section.index(f"<td>{name}")
        for name in (_readable(both) + "<br>", "grows&lt;", _readable(stay) + "<br>")
    )
    assert b < g < s
    assert section.index("The other 1 feature (") > s and f"<td>{_readable(other)}</td>" in section
    assert '<span class="badge out-both">stay + grow</span>' in section
    assert '<span class="badge out-grow">grow</span>' in section
    assert "44% / 26%" in section and '2.27 <span class="ci">(1.87–2.75)</span>' in section
    assert "1 feature goes with staying and growing" in section
    assert "Expansion has no date in the data" in section and section.count("no date") == 1
    assert "12 retained accounts without an expansion value are left out" in section
    assert "+0.20 over company size and plan" in section
    assert "grows&lt;script&gt;" in section and "<script" not in html
    # the features table says what each feature is a milestone for
    features = _section(html, "features")
    assert "<th>Milestone for</th>" in features
    assert features.count('<span class="badge out-both">stay + grow</span>') == 1
    assert features.count('<span class="badge out-stay">stay</span>') == 1
    assert "Staying vs growing: 1 feature goes with staying and growing" in _section(
        html, "summary"
    )


def test_stay_grow_or_both_skipped_says_why(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path / "noexp")

    def change(fw):
        fw["expansion"] = {"skipped": f"the accounts table has no expansion column {HOSTILE}"}
        for f in fw["features"]:
            f.pop("milestone_for", None)
            f.pop("expansion_status", None)

    _edit_framework(run, change)
    html = build_report(run)
    section = _section(html, "expansion")
    assert "Not measured: the accounts table has no expansion column &lt;script&gt;" in section
    assert "<script" not in html
    assert "Milestone for" not in _section(html, "features")


# ----------------------------------------------------------------------------- time windows
def _sensitivity(stable: str, dependent: str, lost: str) -> dict:
    def setting(window, horizon, main, selected, status="run", reason=None):
        return {
            "setting": f"{window}/{horizon}",
            "observation_days": window,
            "horizon_days": horizon,
            "main": main,
            "status": status,
            "eligible": 3340 if status == "run" else 120,
            "retention_rate": 0.729341,
            "selected": selected,
            "reason": reason,
        }

    def feature(name, selected_at, dependent, missed, verdict, main=True):
        return {
            "feature": name,
            "selected_main": main,
            "share": len(selected_at) / 2,
            "selected_in": len(selected_at),
            "settings_run": 2,
            "by_window": {"90": 0.5, "180": 0.5},
            "by_horizon": {"365": 0.5, "540": None},
            "selected_at": selected_at,
            "window_dependent": dependent,
            "missed_by_rerun": missed,
            "verdict": verdict,
        }

    return {
        "main": "180/365",
        "n_repeats": 1,
        "stable_share": 0.6,
        "observation_days": [90, 180],
        "horizon_days": [365, 540],
        "settings": [
            setting(90, 365, False, 2),
            setting(90, 540, False, None, "skipped", f"only 120 eligible accounts {HOSTILE}"),
            setting(180, 365, True, 3),
        ],
        "stable": [stable],
        "window_dependent": [dependent, lost],
        "calibration": {"note": "…", "lost_to_repeats": [lost]},
        "features": [
            feature(
                stable, ["90/365", "180/365"], False, False, "stable: selected in every setting (2)"
            ),
            feature(
                dependent,
                ["90/365"],
                True,
                False,
                f"depends on the window: selected in 1 of 2 settings {HOSTILE}",
                main=False,
            ),
            feature(
                lost,
                ["90/365"],
                True,
                True,
                "depends on the window: selected in 1 of 2 settings; the re-run of the study's own "
                "setting misses it too",
            ),
        ],
    }


def test_time_window_section(run_dir, framework, tmp_path):
    run = _copy(run_dir, tmp_path / "windows")
    selected = sorted(f["feature"] for f in framework["features"] if f["status"] == "selected")
    stable, lost = selected[:2]
    dependent = f"new{HOSTILE}"
    _edit_framework(run, lambda fw: fw.update(sensitivity=_sensitivity(stable, dependent, lost)))
    html = build_report(run)
    section = _section(html, "windows")
    assert 'href="#windows"' in html
    assert "re-run at 2 of 3 settings" in section and "(this study: 180/365)" in section
    assert "1 feature is selected in at least 60% of the settings run; 2 depend on the window" in (
        section
    )
    assert section.count('alt="Selected features by usage window and retention horizon"') == 1
    # the settings: this study's highlighted, the skipped one with its reason (escaped)
    assert '<span class="badge main">this study</span>' in section
    assert "skipped: only 120 eligible accounts &lt;script&gt;" in section
    assert "3,340" in section and "73%" in section
    # the window-dependent features with their verdicts, the stable one as a chip
    assert (
        "new&lt;script&gt;" in section and "selected in 1 of 2 settings &lt;script&gt;" in section
    )
    assert f'<span class="chip">{_readable(stable)}</span>' in section
    # the calibration caveat in plain words
    assert "they miss 1 feature the study did select" in section and _readable(lost) in section
    assert "what the fewer repeats alone cost" in section
    assert "a prompt to look, not proof" in section
    assert "<script" not in html
    assert "[sensitivity] enabled = true" not in html


def test_time_window_check_is_opt_in(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path / "optin")
    off = "off by default ([sensitivity] enabled = true runs it): each setting re-runs"
    _edit_framework(run, lambda fw: fw.update(sensitivity={"skipped": off}))
    html = build_report(run)
    assert 'id="windows"' not in html and 'href="#windows"' not in html
    features = _section(html, "features")
    assert features.count("the check is opt-in ([sensitivity] enabled = true") == 1
    _edit_framework(run, lambda fw: fw.update(sensitivity={"skipped": f"no setting ran {HOSTILE}"}))
    features = _section(build_report(run), "features")
    assert "was not checked: no setting ran &lt;script&gt;" in features
