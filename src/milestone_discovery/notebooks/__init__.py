"""Run the analysis notebooks with papermill and export them as offline HTML without code.

The notebooks in ``notebooks/`` answer one question each (data overview,
feature ranking, maturity, journey, review) about ONE run folder, the output
of ``milestones discover``. None of them fits anything: each reads the run
folder (:func:`milestone_discovery.report.load.load_run`) and draws its
tables with the charts of :mod:`milestone_discovery.plotting`. When the run
folder is missing, the first notebook that needs it runs the study once
(:meth:`NotebookParameters.open_run`) and the others reuse it.

Every notebook takes the papermill parameters ``run``, ``dataset``,
``config`` and ``seed`` (the review notebook also ``baseline``) and checks
them with :func:`check_parameters` in its second code cell.

From the command line::

    python -m milestone_discovery.notebooks --dataset data/synthetic/demo --out reports/notebooks
    python -m milestone_discovery.notebooks --dataset DATA --out OUT \\
        --config study.toml --seed 3 --only 01,03 --baseline reports/last_quarter

runs the study once into ``OUT/run`` (or reuses an identical earlier run
there; ``--run RUN`` names another run folder) and writes, for every
notebook, the executed copy ``OUT/NAME.ipynb`` and a code-free HTML export
``OUT/NAME.html`` for people who read results rather than code. The HTML
files are self-contained like the report: inline CSS and figures, no script
and no network address, and paths shown relative to the repository. The
notebooks themselves are never modified.
"""

from .export import export_html
from .parameters import (
    NOTEBOOKS,
    NotebookError,
    NotebookParameters,
    check_parameters,
    display_path,
    find_notebooks_dir,
    is_run_folder,
    named_tables,
    repo_root,
)
from .runner import main, prepare_run, reuse_or_discover, run_notebooks

__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "NotebookParameters",
    "check_parameters",
    "display_path",
    "export_html",
    "find_notebooks_dir",
    "is_run_folder",
    "main",
    "named_tables",
    "prepare_run",
    "repo_root",
    "reuse_or_discover",
    "run_notebooks",
]
