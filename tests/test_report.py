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
