"""The analysis notebooks: committed clean and parameterised, and they run end to end.

The structural tests are instant. ``TestExecution`` executes every notebook
once on the committed demo dataset (3,000 accounts) through
:func:`milestone_discovery.notebooks.run_notebooks`, the way ``make notebooks``
does, and checks the executed copies and the code-free HTML exports.
"""

from __future__ import annotations

import hashlib
import re
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
    main,
    run_notebooks,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
DEMO = ROOT / "data" / "synthetic" / "demo"
PARAMETERS = ("dataset", "config", "seed", "output_dir")


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
    expected = PARAMETERS + (("run_a", "run_b") if name == "05_review" else ())
    # papermill must be able to read every parameter (a parse failure means it warns and ignores it)
    found = pm.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"))
    assert tuple(found) == expected
    assert found["seed"]["default"] == "0"
    assert found["config"]["default"] == "None"
    assert found["dataset"]["default"] == '"data/synthetic/demo"'
    # the next code cell validates them
    assert "check_parameters(" in code[1].source
    for param in expected:
        assert f"{param}={param}" in code[1].source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_turn_progress_bars_off(name):
    source = "\n".join(c.source for c in _code_cells(_read(name)))
    for call in re.findall(
        r"(?<![\w.])(?:discover_features|discover_maturity|run_study|discover)\([^)]*\)", source
    ):
        assert "progress=False" in call, f"{name}: {call}"


# ----------------------------------------------------------------------------- parameters
def test_check_parameters_resolves_relative_paths_against_the_repo_root(tmp_path, monkeypatch):
    monkeypatch.chdir(NOTEBOOK_DIR)  # where papermill runs the notebooks
    params = check_parameters("data/synthetic/demo", None, 3, tmp_path / "out")
    assert params.dataset == DEMO
    assert params.seed == 3 and params.config.study.seed == 3
    assert params.output_dir.is_dir()
    assert params.run_dir() == tmp_path / "out" / "runs" / "seed_3"
    assert params.config_for_seed(4).study.seed == 4 and params.config.study.seed == 3
    assert "dataset" in params._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "no/such/data"}, "parameter 'dataset'"),
        ({"dataset": None}, "parameter 'dataset' is required"),
        ({"seed": "1"}, "parameter 'seed'"),
        ({"seed": 1.5}, "parameter 'seed'"),
        ({"seed": True}, "parameter 'seed'"),
        ({"seed": -1}, "parameter 'seed'"),
        ({"config": "no/such.toml"}, "parameter 'config'"),
        ({"config": 3}, "parameter 'config'"),
        ({"run_a": "somewhere"}, "go together"),
        ({"run_a": ".", "run_b": "."}, "not a run folder"),
    ],
)
def test_check_parameters_rejects_bad_values_with_a_clear_error(tmp_path, kwargs, message):
    args = {"dataset": str(DEMO), "output_dir": str(tmp_path), **kwargs}
    with pytest.raises(NotebookError, match=re.escape(message)):
        check_parameters(**args, root=tmp_path)


def test_check_parameters_reports_a_bad_config_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[study]\nhorizon = 3\n")
    with pytest.raises(MilestoneError, match="unknown key"):
        check_parameters(DEMO, bad, 0, tmp_path)


def test_check_parameters_rejects_an_output_dir_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(NotebookError, match="not a folder"):
        check_parameters(DEMO, None, 0, target)


# ----------------------------------------------------------------------------- reuse of runs
def _fake_run(folder: Path, config) -> Path:
    """A run folder whose run.json says it was made from DEMO with ``config`` by this code."""
    import json

    from milestone_discovery import __version__
    from milestone_discovery.framework import clean_json
    from milestone_discovery.study import input_fingerprint

    folder.mkdir(parents=True)
    (folder / "framework.json").write_text("{}")
    meta = {
        "config": clean_json(config.to_dict()),
        "versions": {"milestone_discovery": __version__},
        "input_fingerprint": input_fingerprint(DEMO),
    }
    (folder / "run.json").write_text(json.dumps(meta))
    return folder


def test_a_run_is_reused_only_for_the_same_data_config_and_code(tmp_path):
    import os

    from milestone_discovery import Config
    from milestone_discovery.notebooks import _run_matches, reuse_or_discover

    config = Config()
    run = _fake_run(tmp_path / "run", config)
    assert _run_matches(run, DEMO, config)
    assert reuse_or_discover(DEMO, run, config) == (run, True)
    other_seed = Config()
    other_seed.study.seed = 1
    assert not _run_matches(run, DEMO, other_seed)
    other_data = tmp_path / "data"
    other_data.mkdir()
    (other_data / "accounts.csv").write_text("account_id\n")
    assert not _run_matches(run, other_data, config)
    os.utime(run / "run.json", (0, 0))  # older than the package's source files
    assert not _run_matches(run, DEMO, config)
    assert not _run_matches(tmp_path / "missing", DEMO, config)


# ----------------------------------------------------------------------------- run_notebooks errors
def test_run_notebooks_reports_a_missing_dataset(tmp_path):
    with pytest.raises(MilestoneError, match="dataset not found"):
        run_notebooks(tmp_path / "missing", tmp_path / "out")


def test_run_notebooks_reports_an_unknown_notebook(tmp_path):
    with pytest.raises(NotebookError, match="unknown notebook '07'"):
        run_notebooks(DEMO, tmp_path / "out", only="01,07")


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


def test_a_failing_cell_is_reported_by_notebook_and_cell(tmp_path):
    folder = _planted_notebook(
        tmp_path,
        "01_data_overview.ipynb",
        "dataset = None\nconfig = None\nseed = 0\noutput_dir = None",
        "x = 1",
        "raise ValueError('planted failure')",
    )
    with pytest.raises(NotebookError) as info:
        run_notebooks(DEMO, tmp_path / "out", only="01", notebooks_dir=folder, timeout=60)
    message = str(info.value)
    assert "01_data_overview.ipynb" in message
    assert "cell 3" in message  # parameters, injected parameters, x = 1, then the failing cell
    assert "raise ValueError('planted failure')" in message
    assert "ValueError: planted failure" in message
    assert (tmp_path / "out" / "01_data_overview.ipynb").is_file()  # kept, with the traceback


def test_a_cell_running_past_the_timeout_is_reported(tmp_path):
    folder = _planted_notebook(
        tmp_path, "02_feature_ranking.ipynb", "dataset = None", "import time\ntime.sleep(60)"
    )
    with pytest.raises(
        NotebookError,
        match=r"02_feature_ranking.ipynb: a cell ran longer than the timeout "
        r"of 1 s in cell 2 `import time`",
    ):
        run_notebooks(DEMO, tmp_path / "out", only="02", notebooks_dir=folder, timeout=1)


# ----------------------------------------------------------------------------- execution
def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run every notebook once on the demo data, as ``make notebooks`` does."""
    out = tmp_path_factory.mktemp("notebooks")
    before = _digest(NOTEBOOK_DIR)
    started = time.time()
    written = run_notebooks(DEMO, out)
    assert _digest(NOTEBOOK_DIR) == before, "running the notebooks changed notebooks/"
    package = Path(milestone_discovery.__file__).parent
    code_changed = any(p.stat().st_mtime > started for p in package.glob("*.py"))
    return out, written, code_changed


class TestExecution:
    """Every notebook runs on the demo data (about a minute: the study is fitted four times)."""

    @pytest.mark.parametrize("name", NOTEBOOKS)
    def test_executed_copy_and_html_export(self, executed, name):
        out, written, _ = executed
        html_path = out / f"{name}.html"
        assert html_path in written

        nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = _code_cells(nb)
        assert all(c.execution_count is not None for c in code), "not every cell ran"
        outputs = [o for c in code for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"]
        assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], (
            "warnings leaked into the notebook"
        )
        injected = [c for c in code if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and str(DEMO) in injected[0].source

        html = html_path.read_text(encoding="utf-8")
        for code_text in (
            "import milestone_discovery",
            "from milestone_discovery",
            "check_parameters(",
            "params.dataset",
            "output_dir = ",
        ):  # the last one: papermill's injected cell
            assert code_text not in html, f"{name}: code {code_text!r} leaked into the HTML"
        assert "<table" in html  # DataFrames and result objects
        assert html.count("data:image/png;base64") >= (1 if name == "05_review" else 2)  # figures
        assert "Question:" in html  # the markdown explanations are kept

    def test_journey_writes_a_run_folder_that_review_reuses(self, executed):
        out, _, code_changed = executed
        run = out / "runs" / "seed_0"
        for name in ("framework.json", "features.csv", "accounts.csv", "run.json"):
            assert (run / name).is_file()
        assert (out / "runs" / "seed_1" / "framework.json").is_file()
        nb = nbformat.read(out / "05_review.ipynb", as_version=4)
        text = "".join(
            str(o.get("data", {}).get("text/markdown", ""))
            for c in nb.cells
            for o in c.get("outputs", [])
        )
        if not code_changed:  # someone editing the package meanwhile forces a fresh run
            assert "A: reused an identical earlier run" in text
        assert "B: ran the study" in text
