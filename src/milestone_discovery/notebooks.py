"""Run the analysis notebooks with papermill and export them as HTML without code.

The notebooks in ``notebooks/`` answer one question each (data overview,
feature ranking, maturity, journey, review). Each takes the same papermill
parameters (``dataset``, ``config``, ``seed``, ``output_dir``) and checks
them with :func:`check_parameters` in its second code cell.

From the command line::

    python -m milestone_discovery.notebooks --dataset data/synthetic/demo --out reports/notebooks
    python -m milestone_discovery.notebooks --dataset DATA --out OUT \\
        --config study.toml --seed 3 --only 01,03

writes, for every notebook, the executed copy ``OUT/NAME.ipynb`` and a
code-free HTML export ``OUT/NAME.html`` (the ``--no-input`` view) for people
who read results rather than code. The notebooks themselves are never
modified.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import numbers
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import MilestoneError

__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "NotebookParameters",
    "check_parameters",
    "export_html",
    "find_notebooks_dir",
    "main",
    "repo_root",
    "reuse_or_discover",
    "run_notebooks",
]

log = logging.getLogger(__name__)

#: The analysis notebooks, in the order they run (file stems in ``notebooks/``).
NOTEBOOKS = ("01_data_overview", "02_feature_ranking", "03_maturity", "04_journey", "05_review")

#: Kernel used to execute the notebooks: ipykernel's built-in spec.
KERNEL_NAME = "python3"


class NotebookError(MilestoneError, RuntimeError):
    """A notebook could not be run: bad parameters, or a cell failed."""


# ----------------------------------------------------------------------------- paths
def repo_root(start: str | Path | None = None) -> Path:
    """The repository root that relative notebook parameters are resolved against.

    Parameters
    ----------
    start : str or Path, optional
        Folder to search upwards from (default: the current directory).

    Returns
    -------
    Path
        The nearest folder at or above ``start`` holding both ``pyproject.toml``
        and a ``notebooks/`` folder; else the source checkout this package is
        installed from (editable install); else ``start`` itself.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout
    return here


def find_notebooks_dir(start: str | Path | None = None) -> Path:
    """The ``notebooks/`` folder of the repository (see :func:`repo_root`).

    Raises
    ------
    NotebookError
        When no folder holds the analysis notebooks.
    """
    folder = repo_root(start) / "notebooks"
    if not all((folder / f"{name}.ipynb").is_file() for name in NOTEBOOKS):
        raise NotebookError(
            f"cannot find the analysis notebooks ({', '.join(NOTEBOOKS)}) in {folder}; "
            "run from a checkout of the repository or pass notebooks_dir"
        )
    return folder


def _resolve(value: str | os.PathLike, root: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path).resolve()


# ----------------------------------------------------------------------------- parameters
@dataclass(repr=False)
class NotebookParameters:
    """Checked notebook parameters, with paths made absolute.

    Attributes
    ----------
    dataset : Path or None
        Dataset folder (or wide table file); None when a notebook does not need one.
    config : Config
        The study configuration, with ``study.seed`` set to ``seed``.
    config_path : Path or None
        The TOML file it came from (None: library defaults).
    seed : int
        Random seed of every random step.
    output_dir : Path
        Folder the notebook writes to (created).
    run_a, run_b : Path or None
        Run folders to compare (review notebook only).
    """

    dataset: Path | None
    config: Config
    config_path: Path | None
    seed: int
    output_dir: Path
    run_a: Path | None = None
    run_b: Path | None = None

    def run_dir(self, seed: int | None = None) -> Path:
        """Run folder of a study with ``seed`` (default: this seed) under ``output_dir``."""
        return self.output_dir / "runs" / f"seed_{self.seed if seed is None else seed}"

    def config_for_seed(self, seed: int) -> Config:
        """A copy of the configuration with another seed."""
        config = copy.deepcopy(self.config)
        config.study.seed = seed
        return config

    def to_frame(self):
        """The parameters as a two-column table (for display)."""
        import pandas as pd

        rows = [
            ("dataset", self.dataset),
            ("config", self.config_path or "library defaults"),
            ("seed", self.seed),
            ("output_dir", self.output_dir),
        ]
        if self.run_a is not None:
            rows += [("run_a", self.run_a), ("run_b", self.run_b)]
        return pd.DataFrame([(k, str(v)) for k, v in rows], columns=["parameter", "value"])

    def __repr__(self) -> str:
        return (
            "NotebookParameters("
            + ", ".join(f"{r.parameter}={r.value}" for r in self.to_frame().itertuples())
            + ")"
        )

    def _repr_html_(self) -> str:
        return "<div><strong>Parameters</strong></div>" + self.to_frame().to_html(
            index=False, escape=True
        )


def check_parameters(
    dataset: str | os.PathLike | None,
    config: str | os.PathLike | Config | None = None,
    seed: int = 0,
    output_dir: str | os.PathLike = "reports/notebooks",
    *,
    run_a: str | os.PathLike | None = None,
    run_b: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
) -> NotebookParameters:
    """Check notebook parameters and resolve relative paths against the repository root.

    Parameters
    ----------
    dataset : str or path-like
        Dataset folder, or a wide table file described by ``config``. Not
        needed (may be None) when both ``run_a`` and ``run_b`` are given.
    config : str, path-like, Config or None
        Study configuration file (TOML); None means the library defaults.
    seed : int
        Non-negative seed; it overrides ``[study] seed`` of the config.
    output_dir : str or path-like
        Folder for files the notebook writes; created when missing.
    run_a, run_b : str or path-like, optional
        Two run folders (or ``framework.json`` files) to compare; give both or neither.
    root : str or path-like, optional
        Folder relative paths are resolved against (default: :func:`repo_root`).

    Returns
    -------
    NotebookParameters

    Raises
    ------
    NotebookError
        Naming the parameter and what is wrong with it.
    milestone_discovery.errors.ConfigError
        When the config file is not a valid study configuration.
    """
    base = Path(root).resolve() if root is not None else repo_root()

    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise NotebookError(f"parameter 'seed' must be a non-negative integer, got {seed!r}")
    seed = int(seed)

    for name, value in (("run_a", run_a), ("run_b", run_b)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise NotebookError(f"parameter '{name}' must be a path or None, got {value!r}")
    if (run_a is None) != (run_b is None):
        raise NotebookError(
            "parameters 'run_a' and 'run_b' go together: give both run folders, or neither "
            "to let the notebook create two runs itself"
        )
    runs = {}
    for name, value in (("run_a", run_a), ("run_b", run_b)):
        if value is None:
            continue
        path = _resolve(value, base)
        framework = path / "framework.json" if path.is_dir() else path
        if not framework.is_file():
            raise NotebookError(
                f"parameter '{name}': {path} is not a run folder (no framework.json); "
                "create one with `milestones discover DATASET --out RUN`"
            )
        runs[name] = path

    resolved_dataset = None
    if dataset is None or (isinstance(dataset, str) and not dataset.strip()):
        if not runs:
            raise NotebookError(
                "parameter 'dataset' is required: a dataset folder (or a wide table file)"
            )
    elif not isinstance(dataset, (str, os.PathLike)):
        raise NotebookError(f"parameter 'dataset' must be a path, got {dataset!r}")
    else:
        resolved_dataset = _resolve(dataset, base)
        if not resolved_dataset.exists():
            if not runs:
                raise NotebookError(
                    f"parameter 'dataset': {resolved_dataset} does not exist "
                    f"(relative paths are resolved against {base})"
                )
            resolved_dataset = None  # not needed to compare given runs

    if isinstance(config, Config):
        study_config, config_path = copy.deepcopy(config), None
    elif config is None or (isinstance(config, str) and not config.strip()):
        study_config, config_path = Config(), None
    elif isinstance(config, (str, os.PathLike)):
        config_path = _resolve(config, base)
        if not config_path.is_file():
            raise NotebookError(
                f"parameter 'config': {config_path} is not a file "
                f"(relative paths are resolved against {base})"
            )
        study_config = Config.from_toml(config_path)
    else:
        raise NotebookError(f"parameter 'config' must be a TOML file path or None, got {config!r}")
    study_config.study.seed = seed

    if not isinstance(output_dir, (str, os.PathLike)) or not str(output_dir).strip():
        raise NotebookError(f"parameter 'output_dir' must be a folder path, got {output_dir!r}")
    out = _resolve(output_dir, base)
    if out.exists() and not out.is_dir():
        raise NotebookError(f"parameter 'output_dir': {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    return NotebookParameters(
        dataset=resolved_dataset,
        config=study_config,
        config_path=config_path,
        seed=seed,
        output_dir=out,
        run_a=runs.get("run_a"),
        run_b=runs.get("run_b"),
    )


# ----------------------------------------------------------------------------- run folders
def _run_matches(run: Path, dataset: Path, config: Config) -> bool:
    """Whether ``run`` was written by this code from this data with this config."""
    from . import __version__
    from .framework import clean_json
    from .study import input_fingerprint

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
    newest_code = max(p.stat().st_mtime for p in Path(__file__).parent.glob("*.py"))
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
    from .study import discover

    discover(dataset, out, config, progress=False, report=False)
    return out, False


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


def export_html(executed: str | Path, out: str | Path | None = None) -> Path:
    """Export an executed notebook to HTML without code (``jupyter nbconvert --no-input``).

    Parameters
    ----------
    executed : str or Path
        Executed notebook.
    out : str or Path, optional
        HTML file to write (default: next to ``executed``, ``.html``).

    Returns
    -------
    Path
        The HTML file. Its title is the notebook's first heading; input cells
        and prompts are left out, outputs (tables, figures, text) are kept.
    """
    import nbformat
    from nbconvert import HTMLExporter

    executed = Path(executed)
    out = Path(out) if out is not None else executed.with_suffix(".html")
    nb = nbformat.read(executed, as_version=4)
    title = executed.stem
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            title = cell.source.lstrip().splitlines()[0].lstrip("#").strip()
            break
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    out.write_text(body, encoding="utf-8")
    return out


def run_notebooks(
    dataset: str | os.PathLike,
    out: str | os.PathLike,
    config: str | os.PathLike | None = None,
    seed: int = 0,
    timeout: int = 600,
    only: str | Iterable[str] | None = None,
    *,
    notebooks_dir: str | os.PathLike | None = None,
) -> list[Path]:
    """Execute the analysis notebooks with papermill and export each to HTML without code.

    Parameters
    ----------
    dataset : str or path-like
        Dataset folder (or wide table file with ``config``); relative paths are
        resolved against the current directory.
    out : str or path-like
        Output folder (created); receives ``NAME.ipynb`` (executed) and
        ``NAME.html`` per notebook, and the notebooks' own files (run folders
        under ``out/runs/``). Must not be inside the notebooks folder.
    config : str or path-like, optional
        Study configuration file (TOML).
    seed : int
        Random seed passed to every notebook.
    timeout : int
        Seconds each cell may run before execution is stopped.
    only : str or iterable of str, optional
        Notebooks to run, by number or name (``"01,03"``, ``["maturity"]``);
        default all. They always run in their numbered order.
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
        When the dataset or config is missing, ``only`` names an unknown
        notebook, or a notebook fails (the message names the notebook and the
        cell; the partly executed copy is kept in ``out``).
    """
    dataset_path = Path(dataset).expanduser().resolve()
    if not dataset_path.exists():
        raise NotebookError(f"dataset not found: {dataset_path}")
    config_path = None
    if config is not None:
        config_path = Path(config).expanduser().resolve()
        if not config_path.is_file():
            raise NotebookError(f"config file not found: {config_path}")
        Config.from_toml(config_path)  # fail here, not in every notebook
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise NotebookError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise NotebookError(f"timeout must be a positive number of seconds, got {timeout!r}")
    names = _select(only)
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

    parameters = {
        "dataset": str(dataset_path),
        "config": str(config_path) if config_path else None,
        "seed": seed,
        "output_dir": str(out_dir),
    }
    written = []
    for name in names:
        started = time.perf_counter()
        executed = out_dir / f"{name}.ipynb"
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
            "Execute the analysis notebooks with papermill and export them to HTML without code."
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
        )
    except MilestoneError as exc:
        print(f"notebooks: error: {exc}", file=sys.stderr)
        return 2
    finally:
        log.removeHandler(handler)
    print(f"wrote {len(written)} HTML report(s) and executed notebook(s) to {Path(args.out)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
