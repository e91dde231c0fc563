"""Safe output paths: checked first, written aside, swapped in whole.

A run folder (``milestones discover --out RUN``) is never written in place:

1. :func:`check_output_path` refuses, before any computation, an ``--out``
   that is, lies inside or contains an input (the dataset, the config), an
   existing file, a folder holding files that are not a run, the current
   folder or a file-system root;
2. :class:`RunFolder` takes a lock beside it (``.RUN.lock``, holding the
   process id; a lock left by a dead process is taken over), creates a
   staging folder beside it (``.RUN.tmp-PID/RUN``, which also proves the
   parent is writable) and, when the block ends without error, moves the old
   run aside and the new one into place; on any error or interrupt the
   staging folder is removed and the old run is left exactly as it was;
3. :func:`write_csv` writes every CSV output with formula-like text cells
   neutralised (OWASP CSV injection) and file names derived from data go
   through :func:`unique_slugs`.

>>> with RunFolder("runs/demo", inputs=["data/demo"]) as folder:  # doctest: +SKIP
...     write_csv(frame, folder.path / "table.csv")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import RunFolderError
from .safe_files import (
    neutralize_cell,
    neutralize_formulas,
    restore_cell,
    restore_formulas,
    slugify,
    unique_slugs,
    write_csv,
)

__all__ = [
    "RunFolder",
    "check_output_path",
    "neutralize_cell",
    "neutralize_formulas",
    "restore_cell",
    "restore_formulas",
    "slugify",
    "unique_slugs",
    "write_csv",
]

#: A lock whose owner wrote no process id yet is considered held for this long (seconds).
_FRESH_LOCK_SECONDS = 30.0


# ----------------------------------------------------------------------------- checks
def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a == b


def _within(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies inside it (both resolved)."""
    return any(_same(p, folder) for p in (path, *path.parents))


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # e.g. a loop of symbolic links
        raise RunFolderError(f"cannot resolve the path {path}: {exc}") from None


def _is_run_folder(path: Path) -> bool:
    return (path / "framework.json").is_file() or (path / "run.json").is_file()


def check_output_path(
    out: str | Path,
    inputs: Sequence[str | Path | None] = (),
    *,
    kind: str = "folder",
) -> Path:
    """Check an output path before any work is done.

    Parameters
    ----------
    out : str or Path
        The output path (``--out``).
    inputs : sequence of str or Path
        Input files and folders (dataset, config, framework) that must stay
        untouched; ``None`` entries are skipped.
    kind : {"folder", "file"}
        ``"folder"`` for a run folder that will be replaced as a whole,
        ``"file"`` for a single output file.

    Returns
    -------
    Path
        ``out`` resolved (symbolic links followed).

    Raises
    ------
    RunFolderError
        If ``out`` is, lies inside or contains an input, or a parent of it is
        an existing file; for a folder, if it
        is an existing file, a file-system root, the current folder or one of
        its parents, or a non-empty folder that is not a run folder (no
        ``framework.json`` or ``run.json``: replacing it would delete other
        files); for a file, if it is an existing folder.
    """
    if kind not in ("folder", "file"):
        raise ValueError(f"kind must be 'folder' or 'file', not {kind!r}")
    given = Path(out)
    if str(out) == "":
        raise RunFolderError("--out is empty: name the output " + kind)
    resolved = _resolve(given)
    for item in inputs:
        if item is None:
            continue
        source = _resolve(Path(item))
        if _same(resolved, source):
            raise RunFolderError(
                f"--out {given} is the input {item}: outputs must go elsewhere "
                "(writing there would overwrite the input)"
            )
        if _within(resolved, source):
            raise RunFolderError(
                f"--out {given} is inside the input folder {item}: choose a folder outside it "
                "(writing there would change the input)"
            )
        if _within(source, resolved):
            raise RunFolderError(
                f"--out {given} contains the input {item}: choose a folder that does not "
                "(replacing it would delete the input)"
            )
    for parent in resolved.parents:  # the nearest existing parent must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise RunFolderError(
                    f"--out {given}: {parent} is a file, not a folder, so nothing can be "
                    "written under it"
                )
            break
    if kind == "file":
        if resolved.is_dir():
            raise RunFolderError(f"--out {given} is a folder: name the CSV file to write")
        return resolved
    if resolved.parent == resolved:
        raise RunFolderError(f"--out {given} is a file-system root: name a run folder")
    if _within(Path.cwd().resolve(), resolved):
        raise RunFolderError(
            f"--out {given} is the current folder or contains it: name a run folder "
            "(it is replaced as a whole)"
        )
    if resolved.exists() and not resolved.is_dir():
        raise RunFolderError(
            f"--out {given} is an existing file: a run folder is needed (a new or empty "
            "folder, or the folder of an earlier run)"
        )
    try:
        occupied = resolved.is_dir() and any(resolved.iterdir())
    except OSError as exc:
        raise RunFolderError(f"--out {given} cannot be read: {exc.strerror or exc}") from None
    if occupied and not _is_run_folder(resolved):
        raise RunFolderError(
            f"--out {given} is a folder of other files (no framework.json or run.json): "
            "a run replaces its folder as a whole; choose a new or empty folder"
        )
    return resolved


# ----------------------------------------------------------------------------- lock
def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or sys.platform == "win32":  # cannot probe safely on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


def _lock_owner(path: Path) -> tuple[int | None, str | None]:
    """``(pid, host)`` written in a lock file; ``(None, None)`` if unreadable or not yet written."""
    try:
        parts = path.read_text(encoding="utf-8", errors="replace").split()
        return int(parts[0]), (parts[1] if len(parts) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None, None


def _lock_held(path: Path, pid: int | None, host: str | None) -> bool:
    if pid is None:  # being written just now, or garbage left long ago
        try:
            return time.time() - path.stat().st_mtime < _FRESH_LOCK_SECONDS
        except OSError:
            return False
    if host is not None and host != socket.gethostname():
        return True  # another machine's process: cannot tell, so respect it
    return _pid_alive(pid)


def _acquire_lock(out: Path, given: Path) -> Path:
    path = out.parent / f".{out.name}.lock"
    for _attempt in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid, host = _lock_owner(path)
            if _lock_held(path, pid, host):
                who = "another process" if pid is None else f"process {pid}"
                who += f" on {host}" if host else ""
                raise RunFolderError(
                    f"another run is writing to --out {given} ({who}; lock file {path}): "
                    "wait for it to finish, or delete the lock file if no run is active"
                ) from None
            with contextlib.suppress(FileNotFoundError):  # stale: its process has ended
                path.unlink()
            continue
        except OSError as exc:
            raise RunFolderError(
                f"cannot write beside --out {given}: creating {path} failed ({exc.strerror or exc})"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {socket.gethostname()}\n")
        return path
    raise RunFolderError(
        f"another run is writing to --out {given} (could not take the lock {path})"
    )


# ----------------------------------------------------------------------------- run folder
@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C back while the block runs (main thread only), then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except (ValueError, TypeError):  # pragma: no cover - no signal support here
        yield
        return
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)


class RunFolder:
    """Write a run folder aside and swap it into place as a whole.

    On entry the output path is checked (:func:`check_output_path`), a lock
    file ``.NAME.lock`` is created beside it and a staging folder
    ``.NAME.tmp-PID/NAME`` is created; write every output into :attr:`path`.
    When the block ends without error the previous run (if any) is moved
    aside, the staging folder is renamed to ``out`` and the previous run is
    deleted. On an error or ``KeyboardInterrupt`` the staging folder is
    deleted and ``out`` is left exactly as it was. The lock is always released.

    Leftovers of a killed run (a lock of a dead process, its staging folder,
    a previous run moved aside but not yet replaced) are cleaned up, or put
    back, on the next entry.

    Parameters
    ----------
    out : str or Path
        The run folder to (re)place.
    inputs : sequence of str or Path, optional
        Input files and folders ``out`` must not be, be inside or contain.

    Attributes
    ----------
    out : Path
        The run folder, resolved (set on entry).
    path : Path
        The staging folder to write into (set on entry; its name is ``out.name``).

    Raises
    ------
    RunFolderError
        On entry, if ``out`` breaks a rule, another run holds the lock or the
        parent folder is not writable; on exit, if the swap fails.

    Examples
    --------
    >>> with RunFolder("runs/demo", inputs=["data/demo"]) as folder:  # doctest: +SKIP
    ...     (folder.path / "framework.json").write_text("{}")
    """

    def __init__(self, out: str | Path, inputs: Sequence[str | Path | None] = ()):
        self.given = Path(out)
        self.inputs = list(inputs)
        self.out: Path | None = None
        self.path: Path | None = None
        self._container: Path | None = None
        self._lock: Path | None = None
        self._keep = False

    def __enter__(self) -> RunFolder:
        out = check_output_path(self.given, self.inputs)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(
                f"cannot create the parent folder of --out {self.given}: "
                f"{exc.filename or out.parent}: {exc.strerror or exc}"
            ) from None
        self._lock = _acquire_lock(out, self.given)
        try:
            self._recover(out)
            out = check_output_path(self.given, self.inputs)  # as it is now, under the lock
            container = out.parent / f".{out.name}.tmp-{os.getpid()}"
            if container.exists():
                shutil.rmtree(container)
            container.mkdir()
            self._container = container
            (container / out.name).mkdir()
        except BaseException as exc:
            self._cleanup()
            if isinstance(exc, OSError):
                raise RunFolderError(
                    f"cannot write beside --out {self.given}: "
                    f"{exc.filename or out.parent}: {exc.strerror or exc}"
                ) from None
            raise
        self.out, self.path = out, container / out.name
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        with _interrupts_deferred():
            try:
                if exc_type is None:
                    self._publish()
            finally:
                self._cleanup()
        return False

    def _aside(self, out: Path, container: Path) -> Path:
        return container / f"{out.name}.previous"

    def _recover(self, out: Path) -> None:
        """Remove staging folders of dead runs; put back a previous run a killed swap left aside."""
        prefix = f".{out.name}.tmp-"
        for container in out.parent.iterdir():
            if not container.name.startswith(prefix) or not container.is_dir():
                continue
            pid = container.name[len(prefix) :]
            if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
                continue
            aside = self._aside(out, container)
            if not out.exists() and aside.is_dir():
                os.rename(aside, out)
            shutil.rmtree(container, ignore_errors=True)

    def _publish(self) -> None:
        assert self.out is not None and self.path is not None and self._container is not None
        out = check_output_path(self.given, self.inputs)  # nothing else appeared there meanwhile
        aside = self._aside(out, self._container)
        moved = False
        try:
            if out.exists():
                os.rename(out, aside)
                moved = True
            os.rename(self.path, out)
        except OSError as exc:
            message = f"cannot move the new run into --out {self.given}: {exc.strerror or exc}"
            if moved and not out.exists():
                try:
                    os.rename(aside, out)
                except OSError:
                    self._keep = True  # never delete the only copy of the previous run
                    raise RunFolderError(
                        f"{message}; the previous run could not be put back and is kept in {aside}"
                    ) from None
            raise RunFolderError(message) from None

    def _cleanup(self) -> None:
        if self._container is not None:
            if not self._keep:
                shutil.rmtree(self._container, ignore_errors=True)
            self._container = None
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.unlink()
            self._lock = None
