"""The parameters of the analysis notebooks, and the run folder each one reads.

Every notebook checks its papermill parameters (``run``, ``dataset``,
``config``, ``seed``; the review notebook also ``baseline``) with
:func:`check_parameters` in its second code cell, then reads the run folder
with :meth:`NotebookParameters.open_run`, which runs the study once when the
folder is missing. Paths are resolved against the repository root and shown
relative to it (:func:`display_path`), never as absolute paths of the
machine that ran the notebook.
"""

from __future__ import annotations

import copy
import numbers
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..errors import MilestoneError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..report.load import RunData
    from ..review import RunComparison

__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "NotebookParameters",
    "check_parameters",
    "display_path",
    "find_notebooks_dir",
    "is_run_folder",
    "named_tables",
    "repo_root",
    "resolve_path",
]

#: The analysis notebooks, in the order they run (file stems in ``notebooks/``).
NOTEBOOKS = ("01_data_overview", "02_feature_ranking", "03_maturity", "04_journey", "05_review")


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
    checkout = Path(__file__).resolve().parents[3]
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


def display_path(path: str | os.PathLike | None, root: str | os.PathLike) -> str:
    """A path as a notebook shows it: never an absolute path of the machine that ran it.

    Parameters
    ----------
    path : str, path-like or None
    root : str or path-like
        The repository root (see :func:`repo_root`).

    Returns
    -------
    str
        ``path`` relative to ``root`` in POSIX form when it lies inside it
        (``data/synthetic/demo``), else ``…/`` and its last component
        (``…/q1_run``); ``""`` for None.
    """
    if path is None:
        return ""
    resolved = Path(path).expanduser().resolve()
    try:
        return resolved.relative_to(Path(root).resolve()).as_posix() or "."
    except ValueError:
        return f"…/{resolved.name}"


def resolve_path(value: str | os.PathLike, root: Path) -> Path:
    """``value`` as an absolute path; a relative one is taken relative to ``root``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path).resolve()


def is_run_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run folder (a folder holding ``framework.json``)."""
    return (Path(path) / "framework.json").is_file()


def named_tables(run: RunData, prefix: str) -> dict[str, pd.DataFrame]:
    """The run's tables whose name starts with ``prefix``, by the rest of the name.

    File names of ``tables/*.csv`` are made safe (see
    :func:`~milestone_discovery.runfolder.unique_slugs`); ``run.json`` maps each
    file back to its table name, e.g. ``tables/maturity_scan__support_ops.csv``
    to ``maturity_scan__Support/Ops``, so ``named_tables(run, "maturity_scan__")``
    gives ``{"Support/Ops": table}``. Empty tables are left out.
    """
    names = {Path(file).stem: str(name) for file, name in (run.info.get("tables") or {}).items()}
    out = {}
    for stem in sorted(run.tables):
        name = names.get(stem, stem)
        table = run.table(stem)
        if name.startswith(prefix) and table is not None:
            out[name[len(prefix) :]] = table
    return out


# ----------------------------------------------------------------------------- parameters
@dataclass(repr=False)
class NotebookParameters:
    """Checked notebook parameters, with paths made absolute.

    Attributes
    ----------
    run : Path
        The run folder the notebook reads (created by :meth:`open_run` when missing).
    dataset : Path or None
        Dataset folder (or wide table file); None when not given.
    config : Config
        The study configuration of a new run, with ``study.seed`` set to ``seed``.
    config_path : Path or None
        The TOML file it came from (None: library defaults).
    seed : int
        Random seed of a new run.
    root : Path
        The repository root: relative paths are resolved against it, and paths
        are shown relative to it (:func:`display_path`).
    baseline : Path or None
        An earlier run folder to compare ``run`` with (review notebook only).
    created : bool
        Whether :meth:`open_run` ran the study (the run folder was missing).
    """

    run: Path
    dataset: Path | None
    config: Config
    config_path: Path | None
    seed: int
    root: Path
    baseline: Path | None = None
    created: bool = False

    def show(self, path: str | os.PathLike | None) -> str:
        """``path`` as the notebook shows it: relative to the repository (:func:`display_path`)."""
        return display_path(path, self.root)

    def to_frame(self) -> pd.DataFrame:
        """The parameters as a two-column table (for display; no absolute path)."""
        import pandas as pd

        rows = [
            ("run", self.show(self.run)),
            ("dataset", self.show(self.dataset) if self.dataset else "not given"),
            ("config", self.show(self.config_path) if self.config_path else "library defaults"),
            ("seed", str(self.seed)),
        ]
        if self.baseline is not None:
            rows.append(("baseline", self.show(self.baseline)))
        return pd.DataFrame(rows, columns=["parameter", "value"])

    def __repr__(self) -> str:
        return (
            "NotebookParameters("
            + ", ".join(f"{r.parameter}={r.value}" for r in self.to_frame().itertuples())
            + ")"
        )

    def _repr_html_(self) -> str:
        from ..html_repr import render_result, table_data

        return render_result("Parameters", tables=[table_data(self.to_frame())])

    # -- the run folder ----------------------------------------------------------------
    def open_run(self) -> RunData:
        """The run folder, read; the study is run once into it first when it is missing.

        Returns
        -------
        milestone_discovery.report.load.RunData
            ``framework.json`` as a :class:`~milestone_discovery.framework.Framework`,
            ``run.json``, ``features.csv``, the milestone columns of
            ``accounts.csv`` and every ``tables/*.csv``.

        Raises
        ------
        NotebookError
            When the run folder is missing and no dataset was given to create it.
        MilestoneError
            When the study cannot run on the dataset, or the run folder cannot be read.
        """
        from ..report.load import load_run

        if not is_run_folder(self.run):
            if self.dataset is None:
                raise NotebookError(
                    f"parameter 'run': {self.show(self.run)} is not a run folder yet and no "
                    "dataset was given to create it"
                )
            from ..study import discover

            discover(self.dataset, self.run, self.config, progress=False, report=False)
            self.created = True
        return load_run(self.run)

    def run_status(self, run: RunData) -> str:
        """One Markdown sentence: which run folder is read, and whether it was just created."""
        info = run.info
        made_from = info.get("dataset")
        if made_from:
            made_from = Path(made_from)
            if not made_from.is_absolute():  # as given to `milestones discover`
                made_from = self.root / made_from
        source = f" from `{self.show(made_from)}`" if made_from else ""
        seed = f", seed {run.framework.seed}" if run.framework.seed is not None else ""
        when = (
            "created now by the study"
            if self.created
            else f"written {info['created_at'][:10]}"
            if info.get("created_at")
            else "read"
        )
        return f"**Run folder** `{self.show(run.path)}`: {when}{source}{seed}."

    def run_config(self, run: RunData) -> Config:
        """The study configuration ``run`` was made with (``run.json``), else :attr:`config`."""
        recorded = run.info.get("config")
        if isinstance(recorded, dict):
            return Config.from_dict(recorded, source=f"{self.show(run.path)}/run.json")
        return copy.deepcopy(self.config)

    def dataset_matches(self, run: RunData) -> bool | None:
        """Whether :attr:`dataset` holds the very files ``run`` was made from (by SHA-256).

        None when unknown: no dataset given, or ``run.json`` records no fingerprint.
        """
        recorded = run.info.get("input_fingerprint")
        if self.dataset is None or not self.dataset.exists() or not recorded:
            return None
        from ..study import input_fingerprint

        return input_fingerprint(self.dataset) == recorded

    def compare_with_baseline(self, run: RunData) -> RunComparison | None:
        """:func:`~milestone_discovery.review.compare_runs` of :attr:`baseline` (A) and ``run`` (B).

        None without a baseline. The runs are named by their paths relative to
        the repository.
        """
        if self.baseline is None:
            return None
        from ..review import compare_runs

        comparison = compare_runs(self.baseline, run.path)
        return replace(comparison, run_a=self.show(self.baseline), run_b=self.show(run.path))


def check_parameters(
    run: str | os.PathLike,
    dataset: str | os.PathLike | None = None,
    config: str | os.PathLike | Config | None = None,
    seed: int = 0,
    *,
    baseline: str | os.PathLike | None = None,
    needs_dataset: bool = False,
    root: str | os.PathLike | None = None,
) -> NotebookParameters:
    """Check notebook parameters and resolve relative paths against the repository root.

    Parameters
    ----------
    run : str or path-like
        The run folder (``milestones discover DATASET --out RUN``). When it
        does not exist yet (or is an empty folder), :meth:`NotebookParameters.open_run`
        creates it from ``dataset`` with ``config`` and ``seed``.
    dataset : str or path-like, optional
        Dataset folder, or a wide table file described by ``config``.
        Required when ``run`` is not a run folder yet, or ``needs_dataset``.
    config : str, path-like, Config or None
        Study configuration file (TOML) of a new run; None means the library defaults.
    seed : int
        Non-negative seed of a new run; it overrides ``[study] seed`` of the config.
    baseline : str or path-like, optional
        An earlier run folder to compare ``run`` with.
    needs_dataset : bool
        The notebook reads the dataset itself (the data overview).
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

    if not isinstance(run, (str, os.PathLike)) or not str(run).strip():
        raise NotebookError(f"parameter 'run' must be a run folder path, got {run!r}")
    run_path = resolve_path(run, base)
    shown = display_path(run_path, base)
    if run_path.exists() and not run_path.is_dir():
        raise NotebookError(f"parameter 'run': {shown} exists and is not a folder")
    if run_path.is_dir() and not is_run_folder(run_path) and any(run_path.iterdir()):
        raise NotebookError(
            f"parameter 'run': {shown} is not a run folder (no framework.json) and not empty; "
            "give a folder written by `milestones discover DATASET --out RUN`, or a new one"
        )

    baseline_path = None
    if baseline is not None:
        if not isinstance(baseline, (str, os.PathLike)) or not str(baseline).strip():
            raise NotebookError(f"parameter 'baseline' must be a path or None, got {baseline!r}")
        baseline_path = resolve_path(baseline, base)
        if not is_run_folder(baseline_path):
            raise NotebookError(
                f"parameter 'baseline': {display_path(baseline_path, base)} is not a run folder "
                "(no framework.json); create one with `milestones discover DATASET --out RUN`"
            )

    needed = needs_dataset or not is_run_folder(run_path)
    resolved_dataset = None
    if dataset is None or (isinstance(dataset, str) and not dataset.strip()):
        if needed:
            raise NotebookError(
                "parameter 'dataset' is required: a dataset folder (or a wide table file)"
                + ("" if needs_dataset else f" to create the run folder {shown}")
            )
    elif not isinstance(dataset, (str, os.PathLike)):
        raise NotebookError(f"parameter 'dataset' must be a path, got {dataset!r}")
    else:
        resolved_dataset = resolve_path(dataset, base)
        if not resolved_dataset.exists():
            if needed:
                raise NotebookError(
                    f"parameter 'dataset': {display_path(resolved_dataset, base)} does not "
                    "exist (relative paths are resolved against the repository root)"
                )
            resolved_dataset = None  # the run exists: the dataset is not needed

    if isinstance(config, Config):
        study_config, config_path = copy.deepcopy(config), None
    elif config is None or (isinstance(config, str) and not config.strip()):
        study_config, config_path = Config(), None
    elif isinstance(config, (str, os.PathLike)):
        config_path = resolve_path(config, base)
        if not config_path.is_file():
            raise NotebookError(
                f"parameter 'config': {display_path(config_path, base)} is not a file "
                "(relative paths are resolved against the repository root)"
            )
        study_config = Config.from_toml(config_path)
    else:
        raise NotebookError(f"parameter 'config' must be a TOML file path or None, got {config!r}")
    study_config.study.seed = seed

    return NotebookParameters(
        run=run_path,
        dataset=resolved_dataset,
        config=study_config,
        config_path=config_path,
        seed=seed,
        root=base,
        baseline=baseline_path,
    )
