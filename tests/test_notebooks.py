"""The analysis notebooks: committed clean and parameterised, reading one run folder.

The structural and parameter tests are instant. ``TestExecution`` runs the
study ONCE on the committed demo dataset (3,000 accounts) and executes every
notebook on its run folder through
:func:`milestone_discovery.notebooks.run_notebooks`, the way ``make notebooks``
does, then checks the executed copies and the code-free HTML exports (offline,
no machine path).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

import milestone_discovery
from milestone_discovery.errors import MilestoneError
from milestone_discovery.notebooks import (
    NOTEBOOKS,
    NotebookError,
    check_parameters,
    display_path,
    export_html,
    main,
    run_notebooks,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
DEMO = ROOT / "data" / "synthetic" / "demo"
PARAMETERS = ("run", "dataset", "config", "seed")

#: A network address in an HTML attribute, a CSS ``url()``/``@import`` or a script import.
NETWORK = re.compile(
    r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import\s+["']?(?:https?:)?//|https?://""",
    re.I,
)


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def _code_cells(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


# ----------------------------------------------------------------------------- structure
def test_every_notebook_is_present():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_valid_nbformat(name):
    nb = _read(name)
    nbformat.validate(nb)  # what JupyterLab needs to open it
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_clean(name):
    for index, cell in enumerate(_read(name).cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: cell {index} has outputs"
            assert cell.execution_count is None, f"{name}: cell {index} has an execution count"
        assert "papermill" not in cell.metadata, (
            f"{name}: cell {index} carries papermill run metadata"
        )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_starts_with_question_and_how_to_run(name):
    first = _read(name).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "**Question:**" in first.source
    assert "papermill" in first.source and f"notebooks/{name}.ipynb" in first.source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_code_cell_holds_the_parameters(name):
    import papermill as pm

    nb = _read(name)
    code = _code_cells(nb)
    assert code[0].metadata.get("tags") == ["parameters"]
    assert all("parameters" not in c.metadata.get("tags", []) for c in code[1:])
    expected = PARAMETERS + (("baseline",) if name == "05_review" else ())
    # papermill must be able to read every parameter (a parse failure means it warns and ignores it)
    found = pm.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"))
    assert tuple(found) == expected
    assert found["run"]["default"] == '"reports/notebooks/run"'  # what `make notebooks` writes
    assert found["dataset"]["default"] == '"data/synthetic/demo"'
    assert found["config"]["default"] == "None"
    assert found["seed"]["default"] == "0"
    # the next code cell validates them and opens the run folder
    assert "check_parameters(" in code[1].source and "params.open_run()" in code[1].source
    for param in expected:
        assert f"{param}={param}" in code[1].source


#: What a notebook must not do itself: fit a stage, or read run files its own way.
FITTING = re.compile(
    r"(?<![\w.])(?:discover|run_study|discover_features|discover_maturity|discover_journey|"
    r"temporal_validation|build_framework|score_accounts|compare_runs)\(|Framework\.from_json|"
    r"json\.load[s]?\([^)]*framework|^\s*def ",
    re.M,
)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_read_the_run_and_hold_no_logic_of_their_own(name):
    source = "\n".join(c.source for c in _code_cells(_read(name)))
    assert not FITTING.findall(source), f"{name} fits or re-implements: {FITTING.findall(source)}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_markdown_links_to_no_network_address(name):
    text = "\n".join(c.source for c in _read(name).cells if c.cell_type == "markdown")
    assert not re.search(r"https?://", text), f"{name}: a link would be in the HTML export"


# ----------------------------------------------------------------------------- parameters
@pytest.fixture
def fake_run(tmp_path):
    """A folder that passes for a run folder (framework.json present)."""

    def make(name: str = "run") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "framework.json").write_text("{}")
        return folder

    return make


def test_check_parameters_resolves_relative_paths_against_the_repo_root(tmp_path, monkeypatch):
    monkeypatch.chdir(NOTEBOOK_DIR)  # where papermill runs the notebooks
    params = check_parameters(tmp_path / "run", "data/synthetic/demo", None, 3)
    assert params.dataset == DEMO and params.run == tmp_path / "run"
    assert params.root == ROOT
    assert params.seed == 3 and params.config.study.seed == 3
    assert not (tmp_path / "run").exists()  # nothing is created until open_run


def test_parameters_show_no_absolute_path(tmp_path, fake_run):
    baseline = fake_run("q1_run")
    params = check_parameters(tmp_path / "new", DEMO, seed=1, baseline=baseline, root=ROOT)
    table = params.to_frame().set_index("parameter")["value"].to_dict()
    assert table == {
        "run": "…/new",
        "dataset": "data/synthetic/demo",
        "config": "library defaults",
        "seed": "1",
        "baseline": "…/q1_run",
    }
    shown = params._repr_html_() + repr(params)
    assert str(tmp_path) not in shown and str(ROOT) not in shown


def test_display_path():
    assert display_path(DEMO, ROOT) == "data/synthetic/demo"
    assert display_path(ROOT, ROOT) == "."
    assert display_path("/elsewhere/q1", ROOT) == "…/q1"
    assert display_path(None, ROOT) == ""


def test_an_existing_run_needs_no_dataset(fake_run):
    run = fake_run()
    params = check_parameters(run, None, root=run.parent)
    assert params.run == run and params.dataset is None
    # a dataset that is not there is simply not needed
    assert check_parameters(run, "no/such/data", root=run.parent).dataset is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run": "new", "dataset": "no/such/data"}, "parameter 'dataset'"),
        ({"run": "new", "dataset": None}, "parameter 'dataset' is required"),
        ({"run": "RUN", "dataset": None, "needs_dataset": True}, "parameter 'dataset' is required"),
        ({"run": None}, "parameter 'run'"),
        ({"run": ""}, "parameter 'run'"),
        ({"run": "file.txt"}, "is not a folder"),
        ({"run": "other"}, "not a run folder"),
        ({"seed": "1"}, "parameter 'seed'"),
        ({"seed": 1.5}, "parameter 'seed'"),
        ({"seed": True}, "parameter 'seed'"),
        ({"seed": -1}, "parameter 'seed'"),
        ({"config": "no/such.toml"}, "parameter 'config'"),
        ({"config": 3}, "parameter 'config'"),
        ({"baseline": "other"}, "parameter 'baseline'"),
        ({"baseline": 3}, "parameter 'baseline'"),
    ],
)
def test_check_parameters_rejects_bad_values_with_a_clear_error(
    tmp_path, fake_run, kwargs, message
):
    fake_run("RUN")
    (tmp_path / "file.txt").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a run")
    args = {"run": "RUN", "dataset": str(DEMO), **kwargs}
    with pytest.raises(NotebookError, match=re.escape(message)) as info:
        check_parameters(**args, root=tmp_path)
    assert str(tmp_path) not in str(info.value)  # messages name paths as the notebook shows them


def test_check_parameters_reports_a_bad_config_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[study]\nhorizon = 3\n")
    with pytest.raises(MilestoneError, match="unknown key"):
        check_parameters(tmp_path / "run", DEMO, bad, 0)


# ----------------------------------------------------------------------------- the run folder
def _pretend_discover(calls: list, source: Path):
    """A stand-in for ``study.discover`` that copies ``source`` (a real run folder) to ``out``."""

    def discover(dataset, out, config, *, progress=True, report=True):
        calls.append((Path(dataset), Path(out), config.study.seed, progress, report))
        shutil.copytree(source, out, dirs_exist_ok=True)

    return discover


def test_open_run_runs_the_study_once_when_the_run_is_missing(executed, tmp_path, monkeypatch):
    import milestone_discovery.study as study

    calls: list = []
    monkeypatch.setattr(study, "discover", _pretend_discover(calls, executed.run))
    params = check_parameters(tmp_path / "new", DEMO, None, 4)
    results = params.open_run()
    assert calls == [(DEMO, tmp_path / "new", 4, False, False)]  # no progress bar, no report
    assert params.created and "created now" in params.run_status(results)
    assert results.features is not None and results.table("funnel") is not None

    again = check_parameters(tmp_path / "new", None)  # the next notebook
    again.open_run()
    assert len(calls) == 1 and not again.created
    assert "created now" not in again.run_status(results)


def test_prepare_run_reuses_only_a_matching_run(executed, tmp_path, monkeypatch):
    import milestone_discovery.study as study
    from milestone_discovery.config import Config
    from milestone_discovery.notebooks import prepare_run

    calls: list = []
    monkeypatch.setattr(study, "discover", _pretend_discover(calls, executed.run))
    config = Config.from_toml(executed.config)
    run, how = prepare_run(DEMO, tmp_path, config)  # OUT/run, made
    assert (run, how) == (tmp_path / "run", "created") and len(calls) == 1
    # the copy records the executed run's data, config and code: reused
    assert prepare_run(DEMO, tmp_path, config) == (run, "reused") or executed.code_changed
    other = Config.from_toml(executed.config)
    other.study.seed = 9
    assert prepare_run(DEMO, tmp_path, other)[1] == "created"
    assert prepare_run(DEMO, tmp_path, config, run=executed.run) == (executed.run, "given")


def test_named_tables_maps_file_names_back_to_table_names(executed):
    from milestone_discovery.notebooks import named_tables
    from milestone_discovery.report.load import load_run

    results = load_run(executed.run)
    scans = named_tables(results, "maturity_scan__")
    categories = set(results.table("maturity_categories")["category"])
    assert scans and set(scans) <= categories
    assert all({"threshold", "phi"} <= set(t.columns) for t in scans.values())


# ----------------------------------------------------------------------------- run_notebooks errors
def test_run_notebooks_reports_a_missing_dataset(tmp_path):
    with pytest.raises(MilestoneError, match="dataset not found"):
        run_notebooks(tmp_path / "missing", tmp_path / "out")


def test_run_notebooks_reports_an_unknown_notebook(tmp_path):
    with pytest.raises(NotebookError, match="unknown notebook '07'"):
        run_notebooks(DEMO, tmp_path / "out", only="01,07")


def test_run_notebooks_reports_a_baseline_that_is_not_a_run(tmp_path):
    with pytest.raises(NotebookError, match="baseline is not a run folder"):
        run_notebooks(DEMO, tmp_path / "out", baseline=tmp_path)


def test_run_notebooks_never_writes_into_the_notebooks_folder(tmp_path):
    with pytest.raises(NotebookError, match="inside the notebooks folder"):
        run_notebooks(DEMO, NOTEBOOK_DIR / "out")


def test_cli_exits_2_with_a_message_on_a_missing_dataset(tmp_path, capsys):
    assert main(["--dataset", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "dataset not found" in capsys.readouterr().err


def _planted_notebook(tmp_path, name: str, parameters: str, *cells: str):
    """Write a one-off notebook (parameters cell + ``cells``) into a fresh notebooks folder."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, folder / name)
    return folder


def test_a_failing_cell_is_reported_by_notebook_and_cell(executed, tmp_path):
    folder = _planted_notebook(
        tmp_path,
        "01_data_overview.ipynb",
        "run = None\ndataset = None\nconfig = None\nseed = 0",
        "x = 1",
        "raise ValueError('planted failure')",
    )
    with pytest.raises(NotebookError) as info:
        run_notebooks(
            DEMO, tmp_path / "out", only="01", run=executed.run, notebooks_dir=folder, timeout=60
        )
    message = str(info.value)
    assert "01_data_overview.ipynb" in message
    assert "cell 3" in message  # parameters, injected parameters, x = 1, then the failing cell
    assert "raise ValueError('planted failure')" in message
    assert "ValueError: planted failure" in message
    assert (tmp_path / "out" / "01_data_overview.ipynb").is_file()  # kept, with the traceback


def test_a_cell_running_past_the_timeout_is_reported(executed, tmp_path):
    folder = _planted_notebook(
        tmp_path, "02_feature_ranking.ipynb", "run = None", "import time\ntime.sleep(60)"
    )
    with pytest.raises(
        NotebookError,
        match=r"02_feature_ranking.ipynb: a cell ran longer than the timeout "
        r"of 1 s in cell 2 `import time`",
    ):
        run_notebooks(
            DEMO, tmp_path / "out", only="02", run=executed.run, notebooks_dir=folder, timeout=1
        )


# ----------------------------------------------------------------------------- HTML export
def _offline_problems(html: str) -> list[str]:
    """Everything in an HTML page that would reach the network, or run a script."""
    problems = [m.group(0) for m in NETWORK.finditer(html)]
    problems += re.findall(r"<(?:script|link|iframe)\b[^>]*>", html, flags=re.I)
    return problems


def test_export_html_is_a_self_contained_page_without_code(tmp_path):
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("print('secret code')")
    code.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": "<table><tr><td>42</td></tr></table>", "text/plain": "42"},
        ),
        nbformat.v4.new_output(
            "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": ""}
        ),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# A title & more\n\nSome *text*."), code]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    page = export_html(tmp_path / "nb.ipynb").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>A title &amp; more</title>" in page
    assert "<style>" in page and "<td>42</td>" in page and "data:image/png;base64," in page
    assert "secret code" not in page
    assert _offline_problems(page) == []


def test_the_offline_check_finds_what_nbconvert_loads_by_default():
    assert _offline_problems(
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js">'
    )
    assert _offline_problems('<link rel="stylesheet" href="//cdn.example/x.css">')
    assert _offline_problems('import mermaid from "https://cdn.example/mermaid.mjs"')
    assert _offline_problems("body { background: url('https://example.org/x.png') }")
    assert _offline_problems('<a href="https://papermill.readthedocs.io">papermill</a>')


# ----------------------------------------------------------------------------- execution
def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


#: Quick study settings: the notebooks only need a complete run folder, not the best estimates.
#: The temporal validation stays on (notebook 05 shows it).
QUICK = """\
[features]
n_estimators = 25
n_repeats = 1
shap_sample = 50

[maturity]
n_bootstrap = 30

[journey]
n_bootstrap = 30
"""


class Executed:
    """What the execution fixture produced."""

    def __init__(self, out, config, written, run, baseline, run_stamp, code_changed):
        self.out, self.config, self.written, self.run = out, config, written, run
        self.baseline, self.run_stamp, self.code_changed = baseline, run_stamp, code_changed


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> Executed:
    """The study run once on the demo data, and every notebook executed on its run folder.

    As ``make notebooks`` does, with quick settings (:data:`QUICK`, passed as
    ``config``); notebook 05 runs in a second call, with a copy
    of the run as its ``baseline``, which also checks that the second call
    reuses the run folder instead of running the study again.
    """
    out = tmp_path_factory.mktemp("notebooks")
    config = tmp_path_factory.mktemp("config") / "quick.toml"
    config.write_text(QUICK)
    before = _digest(NOTEBOOK_DIR)
    started = time.time()
    written = run_notebooks(DEMO, out, config, only="01,02,03,04")
    run = out / "run"
    stamp = (run / "run.json").stat().st_mtime_ns
    baseline = shutil.copytree(run, out / "baseline")
    written += run_notebooks(DEMO, out, config, only="05", baseline=baseline)
    assert _digest(NOTEBOOK_DIR) == before, "running the notebooks changed notebooks/"
    package = Path(milestone_discovery.__file__).parent
    code_changed = any(p.stat().st_mtime > started for p in package.rglob("*.py"))
    return Executed(out, config, written, run, baseline, stamp, code_changed)


class TestExecution:
    """Every notebook runs on one run folder of the demo data (the study is fitted once)."""

    @pytest.mark.parametrize("name", NOTEBOOKS)
    def test_executed_copy_and_html_export(self, executed, name):
        html_path = executed.out / f"{name}.html"
        assert html_path in executed.written

        nb = nbformat.read(executed.out / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = _code_cells(nb)
        assert all(c.execution_count is not None for c in code), "not every cell ran"
        outputs = [o for c in code for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"]
        assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], (
            "warnings leaked into the notebook"
        )
        injected = [c for c in code if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and str(executed.run) in injected[0].source

        html = html_path.read_text(encoding="utf-8")
        for code_text in (
            "import milestone_discovery",
            "from milestone_discovery",
            "check_parameters(",
            "params.open_run",
            "dataset = ",
        ):  # the last one: papermill's injected cell
            assert code_text not in html, f"{name}: code {code_text!r} leaked into the HTML"
        assert "<table" in html  # DataFrames and result objects
        assert html.count("data:image/png;base64") >= (1 if name == "05_review" else 2)  # figures
        assert "Question:" in html  # the markdown explanations are kept
        assert "Run folder" in html and "created now" not in html  # made once, before

    @pytest.mark.parametrize("name", NOTEBOOKS)
    def test_html_export_opens_offline(self, executed, name):
        html = (executed.out / f"{name}.html").read_text(encoding="utf-8")
        assert _offline_problems(html) == []
        assert "http://" not in html and "https://" not in html

    @pytest.mark.parametrize("name", NOTEBOOKS)
    def test_html_export_shows_no_path_of_the_machine(self, executed, name, tmp_path_factory):
        html = (executed.out / f"{name}.html").read_text(encoding="utf-8")
        for path in (ROOT, executed.out, tmp_path_factory.getbasetemp(), Path.home()):
            assert str(path) not in html, f"{name} shows the machine path {path}"
        assert "data/synthetic/demo" in html or name != "01_data_overview"

    def test_the_run_is_made_once_and_reused(self, executed):
        for file in ("framework.json", "features.csv", "accounts.csv", "run.json", "tables"):
            assert (executed.run / file).exists()
        assert not (executed.out / "runs").exists()  # no second study
        if not executed.code_changed:  # someone editing the package meanwhile forces a fresh run
            assert (executed.run / "run.json").stat().st_mtime_ns == executed.run_stamp

    def test_review_checks_later_cohorts_and_compares_with_the_baseline(self, executed):
        html = (executed.out / "05_review.html").read_text(encoding="utf-8")
        assert "milestones still clearly separate retained from churned accounts" in html
        assert "verdict" in html
        assert "Comparing …/baseline (A) with …/run (B)" in html  # names, not machine paths
        assert "selected features and categories: unchanged" in html  # a copy of the run
