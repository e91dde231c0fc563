"""Executing the analysis notebooks with papermill, on one run folder made once.

:func:`run_notebooks` (and ``python -m milestone_discovery.notebooks``) runs
the study once (:func:`prepare_run`), executes every notebook on its run
folder and exports each to HTML without code (:func:`~.export.export_html`).
"""

from __future__ import annotations

import argparse
import json
import logging
import numbers
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from ..config import Config
from ..errors import MilestoneError
from .export import export_html
from .parameters import NOTEBOOKS, NotebookError, find_notebooks_dir, is_run_folder

__all__ = [
    "build_parser",
    "main",
    "prepare_run",
    "reuse_or_discover",
    "run_notebooks",
]

log = logging.getLogger("milestone_discovery.notebooks")

#: Notebooks that take the ``baseline`` parameter (an earlier run to compare with).
BASELINE_NOTEBOOKS = ("05_review",)

#: Kernel used to execute the notebooks: ipykernel's built-in spec.
KERNEL_NAME = "python3"

#: The run folder of ``run_notebooks(dataset, out)`` when none is given: ``out / RUN_NAME``.
RUN_NAME = "run"


# ----------------------------------------------------------------------------- run folders
def _run_matches(run: Path, dataset: Path, config: Config) -> bool:
    """Whether ``run`` was written by this code from this data with this config."""
    from .. import __version__
    from ..framework import clean_json
    from ..study import input_fingerprint

    run_json, framework = run / "run.json", run / "framework.json"
    if not (run_json.is_file() and framework.is_file()):
        return False
    try:
        meta = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    wanted = json.loads(json.dumps(clean_json(config.to_dict())))
    if (
        meta.get("config") != wanted
        or meta.get("versions", {}).get("milestone_discovery") != __version__
    ):
        return False
    if meta.get("input_fingerprint") != input_fingerprint(dataset):
        return False
    # The package version does not change while the code is edited: a run older
    # than any source file of the package may come from other code.
    package = Path(__file__).parents[1]
    newest_code = max(p.stat().st_mtime for p in package.rglob("*.py"))
    return run_json.stat().st_mtime >= newest_code


def reuse_or_discover(dataset: str | Path, out: str | Path, config: Config) -> tuple[Path, bool]:
    """The run folder of a study, reusing an identical earlier run when there is one.

    A run in ``out`` is reused only when its ``run.json`` records the same
    configuration (seed included), the same input files (by SHA-256) and the
    same package version, and it is newer than every source file of the
    package. Otherwise :func:`milestone_discovery.study.discover` writes it
    (without the HTML report).

    Parameters
    ----------
    dataset : str or Path
        Dataset folder (or wide table file).
    out : str or Path
        Run folder.
    config : Config

    Returns
    -------
    (Path, bool)
        The run folder, and whether an earlier run was reused.
    """
    dataset, out = Path(dataset), Path(out)
    if _run_matches(out, dataset, config):
        return out, True
    from ..study import discover

    discover(dataset, out, config, progress=False, report=False)
    return out, False


def prepare_run(
    dataset: str | Path, out: str | Path, config: Config, run: str | Path | None = None
) -> tuple[Path, str]:
    """The run folder the notebooks of :func:`run_notebooks` read, made once for all of them.

    Parameters
    ----------
    dataset : str or Path
    out : str or Path
        The notebooks' output folder.
    config : Config
        With the seed set.
    run : str or Path, optional
        A run folder to read: used as it is when it holds ``framework.json``,
        else created there. Default: ``out/run``, reused only while it matches
        the dataset, the configuration and the code (:func:`reuse_or_discover`).

    Returns
    -------
    (Path, str)
        The run folder, and what was done: ``"reused"``, ``"given"`` or ``"created"``.
    """
    if run is None:
        path, reused = reuse_or_discover(dataset, Path(out) / RUN_NAME, config)
        return path, "reused" if reused else "created"
    path = Path(run)
    if is_run_folder(path):
        return path, "given"
    from ..study import discover

    discover(dataset, path, config, progress=False, report=False)
    return path, "created"


# ----------------------------------------------------------------------------- running
def _select(only: str | Iterable[str] | None) -> list[str]:
    if only is None:
        return list(NOTEBOOKS)
    tokens = only.split(",") if isinstance(only, str) else list(only)
    tokens = [str(t).strip() for t in tokens if str(t).strip()]
    if not tokens:
        raise NotebookError("'only' names no notebook")
    chosen = set()
    for token in tokens:
        key = token.removesuffix(".ipynb")
        key = key.zfill(2) if key.isdigit() else key
        hits = [
            n
            for n in NOTEBOOKS
            if n == key or n.split("_", 1)[0] == key or n.split("_", 1)[1] == key
        ]
        if not hits:
            raise NotebookError(
                f"unknown notebook {token!r}; choose from {', '.join(NOTEBOOKS)} "
                "(by number, e.g. 01,03, or by name)"
            )
        chosen.update(hits)
    return [n for n in NOTEBOOKS if n in chosen]


def _failed_cell(nb_path: Path) -> tuple[int | None, str]:
    """Index and first source line of the cell that was running when execution stopped."""
    import nbformat

    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:  # noqa: BLE001 - best effort, only used in an error message
        return None, ""
    started = None
    for index, cell in enumerate(nb.cells):
        status = cell.get("metadata", {}).get("papermill", {})
        if status.get("status") == "running" or status.get("exception"):
            started = index
            break
        if status.get("start_time"):
            started = index  # the last cell that started is the one that was stopped
    if started is None:
        return None, ""
    lines = [line for line in nb.cells[started].source.splitlines() if line.strip()]
    return started, (lines[0] if lines else "")


def _execute(notebook: Path, executed: Path, parameters: dict, timeout: int, cwd: Path) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(
            str(notebook),
            str(executed),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            execution_timeout=timeout,
            cwd=str(cwd),
            progress_bar=False,
            log_output=False,
            # the kernel's own start-up chatter (e.g. "running over TCP") is not the
            # notebook's output
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as exc:
        lines = [line for line in (exc.source or "").splitlines() if line.strip()]
        first = f" `{lines[0].strip()}`" if lines else ""
        raise NotebookError(
            f"notebook {notebook.name} failed in cell {exc.cell_index} "
            f"(In [{exc.exec_count}]){first}: "
            f"{exc.ename}: {exc.evalue}\nthe executed copy with the full traceback is {executed}"
        ) from None
    except Exception as exc:  # timeouts, dead kernels: nbclient raises its own errors
        index, first = _failed_cell(executed)
        where = f" in cell {index} `{first.strip()}`" if index is not None else ""
        if isinstance(exc, TimeoutError):  # nbclient's message quotes the cell
            what = f"a cell ran longer than the timeout of {timeout} s{where}"
        else:
            what = f"execution stopped{where}"
        raise NotebookError(
            f"notebook {notebook.name}: {what} ({type(exc).__name__}: {exc})"
        ) from None


def run_notebooks(
    dataset: str | os.PathLike,
    out: str | os.PathLike,
    config: str | os.PathLike | None = None,
    seed: int = 0,
    timeout: int = 600,
    only: str | Iterable[str] | None = None,
    *,
    run: str | os.PathLike | None = None,
    baseline: str | os.PathLike | None = None,
    notebooks_dir: str | os.PathLike | None = None,
) -> list[Path]:
    """Run the study once, then execute the notebooks on its run folder and export them to HTML.

    Parameters
    ----------
    dataset : str or path-like
        Dataset folder (or wide table file with ``config``); relative paths are
        resolved against the current directory.
    out : str or path-like
        Output folder (created); receives ``NAME.ipynb`` (executed) and
        ``NAME.html`` per notebook, and the run folder ``out/run`` unless
        ``run`` is given. Must not be inside the notebooks folder.
    config : str or path-like, optional
        Study configuration file (TOML).
    seed : int
        Random seed of the study.
    timeout : int
        Seconds each cell may run before execution is stopped.
    only : str or iterable of str, optional
        Notebooks to run, by number or name (``"01,03"``, ``["maturity"]``);
        default all. They always run in their numbered order.
    run : str or path-like, optional
        The run folder the notebooks read; see :func:`prepare_run`.
    baseline : str or path-like, optional
        An earlier run folder the review notebook compares the run with.
    notebooks_dir : str or path-like, optional
        Folder holding the notebooks (default: ``notebooks/`` of the repository).

    Returns
    -------
    list of Path
        The HTML exports, in run order; each executed notebook is next to its
        HTML file with the suffix ``.ipynb``.

    Raises
    ------
    NotebookError
        When the dataset, config or baseline is missing, ``only`` names an
        unknown notebook, or a notebook fails (the message names the notebook
        and the cell; the partly executed copy is kept in ``out``).
    MilestoneError
        When the study cannot run on the dataset.
    """
    dataset_path = Path(dataset).expanduser().resolve()
    if not dataset_path.exists():
        raise NotebookError(f"dataset not found: {dataset_path}")
    config_path = None
    if config is not None:
        config_path = Path(config).expanduser().resolve()
        if not config_path.is_file():
            raise NotebookError(f"config file not found: {config_path}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise NotebookError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    study_config = Config.from_toml(config_path) if config_path else Config()  # fail here
    study_config.study.seed = seed
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise NotebookError(f"timeout must be a positive number of seconds, got {timeout!r}")
    names = _select(only)
    baseline_path = None
    if baseline is not None:
        baseline_path = Path(baseline).expanduser().resolve()
        if not is_run_folder(baseline_path):
            raise NotebookError(
                f"baseline is not a run folder (no framework.json): {baseline_path}"
            )
    folder = Path(notebooks_dir).resolve() if notebooks_dir is not None else find_notebooks_dir()
    missing = [n for n in names if not (folder / f"{n}.ipynb").is_file()]
    if missing:
        raise NotebookError(f"notebook(s) not found in {folder}: {', '.join(missing)}")
    out_dir = Path(out).expanduser().resolve()
    if out_dir == folder or folder in out_dir.parents:
        raise NotebookError(
            f"--out {out_dir} is inside the notebooks folder {folder}; "
            "executed copies must go elsewhere so the notebooks stay clean"
        )
    out_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    run_path = Path(run).expanduser().resolve() if run is not None else None
    run_path, how = prepare_run(dataset_path, out_dir, study_config, run_path)
    log.info("run folder %s: %s (%.1f s)", run_path, how, time.perf_counter() - started)

    common = {
        "run": str(run_path),
        "dataset": str(dataset_path),
        "config": str(config_path) if config_path else None,
        "seed": seed,
    }
    written = []
    for name in names:
        started = time.perf_counter()
        executed = out_dir / f"{name}.ipynb"
        parameters = dict(common)
        if name in BASELINE_NOTEBOOKS:
            parameters["baseline"] = str(baseline_path) if baseline_path else None
        log.info("running %s.ipynb", name)
        _execute(folder / f"{name}.ipynb", executed, parameters, int(timeout), folder)
        html_path = export_html(executed, out_dir / f"{name}.html")
        log.info(
            "%s: %s and %s (%.1f s)",
            name,
            executed.name,
            html_path.name,
            time.perf_counter() - started,
        )
        written.append(html_path)
    return written


# ----------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of ``python -m milestone_discovery.notebooks``."""
    p = argparse.ArgumentParser(
        prog="python -m milestone_discovery.notebooks",
        description=(
            "Run the study once, then execute the analysis notebooks on its run folder with "
            "papermill and export them to self-contained HTML without code."
        ),
    )
    p.add_argument(
        "--dataset", required=True, help="dataset folder (or wide table file with --config)"
    )
    p.add_argument(
        "--out", required=True, help="output folder for executed notebooks and HTML exports"
    )
    p.add_argument("--config", help="study config (TOML)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--run",
        help="run folder to read (default OUT/run: made from the dataset, reused while unchanged)",
    )
    p.add_argument("--baseline", help="earlier run folder the review notebook compares with")
    p.add_argument(
        "--timeout", type=int, default=600, help="seconds each cell may run (default 600)"
    )
    p.add_argument(
        "--only", help="comma-separated notebooks to run, by number or name (e.g. 01,03)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 error)."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        written = run_notebooks(
            args.dataset,
            args.out,
            config=args.config,
            seed=args.seed,
            timeout=args.timeout,
            only=args.only,
            run=args.run,
            baseline=args.baseline,
        )
    except MilestoneError as exc:
        print(f"notebooks: error: {exc}", file=sys.stderr)
        return 2
    finally:
        log.removeHandler(handler)
    print(f"wrote {len(written)} HTML report(s) and executed notebook(s) to {Path(args.out)}")
    return 0
