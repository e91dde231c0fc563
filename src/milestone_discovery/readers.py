"""Read one table file: CSV or Parquet, with the cause of any failure in plain words.

:func:`read_table` reads a file whole: CSV with DuckDB, every column as text
(a bad value is then reported by the validator with its row, never guessed),
Parquet with pyarrow. Before reading, the first bytes are sniffed: a file that
is empty, not UTF-8, or something else under a ``.csv`` name (gzip, Parquet,
Excel, JSON, a web page, ...) is an error that says so, and so is a line
with the wrong number of fields (a title line, a footer) or a quote never
closed. :func:`find_table_files` finds the files of the tables in a dataset
folder, :func:`event_source` sniffs an ``events`` table that
:mod:`milestone_discovery.events` reads later, and :func:`offending_rows`
selects rows for error messages by their CSV line number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataValidationError, Problem

__all__ = [
    "FALSE_VALUES",
    "TRUE_VALUES",
    "event_source",
    "events_unreadable_error",
    "find_table_files",
    "offending_rows",
    "read_table",
    "shorten",
]

#: Spellings of yes and no (lower case) in flag columns.
TRUE_VALUES = frozenset({"1", "1.0", "true", "t", "yes", "y"})
FALSE_VALUES = frozenset({"0", "0.0", "false", "f", "no", "n"})

#: Leading bytes of file formats that are sometimes saved under a ``.csv`` name.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip-compressed file; decompress it first (gunzip)"),
    (b"PAR1", "a Parquet file; name it with a .parquet extension"),
    (b"ARROW1", "an Arrow/Feather file; save it as Parquet or CSV"),
    (b"PK\x03\x04", "a ZIP archive or an Excel .xlsx workbook; export the sheet as CSV (UTF-8)"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook (or another Office file); export it as CSV"),
    (b"BZh", "a bzip2-compressed file; decompress it first"),
    (b"\xfd7zXZ\x00", "an xz-compressed file; decompress it first"),
    (b"(\xb5/\xfd", "a zstd-compressed file; decompress it first"),
    (b"%PDF", "a PDF document"),
    (b"SQLite format 3\x00", "an SQLite database; export the table as CSV or Parquet"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8"),
)
_SNIFF_BYTES = 65536
_DELIMITERS = (",", ";", "\t", "|")


def shorten(text: object, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters (messages stay short).

    Parameters
    ----------
    text : object
        Any value; it is converted with :func:`str` and its runs of white space
        (new lines included) become one space.
    width : int, default 60
        Longest result; longer text is cut and ends with ``...``.

    Returns
    -------
    str

    Examples
    --------
    >>> shorten("a  long   name", width=8)
    'a lon...'
    """
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _looks_like(head: bytes, expected: str) -> str | None:
    """What the first bytes of a file look like, when that is not ``expected``.

    Parameters
    ----------
    head : bytes
        The first bytes of the file.
    expected : {"csv", "parquet"}
        The format the file name promises.

    Returns
    -------
    str or None
        A description such as ``"a gzip-compressed file; ..."``, or ``None``
        when nothing is wrong with the start of the file.
    """
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if expected == "parquet" and magic == b"PAR1":
                return None
            if magic == b"BZh" and not head[3:4].isdigit():
                continue
            return what
    if b"\x00" in head:
        return "a binary file, not CSV text"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"{") or (
        text.startswith(b"[") and text[1:].lstrip()[:1] in b'{["-0123456789'
    ):
        return "a JSON file; convert it to CSV or Parquet"
    if text.startswith(b"<"):
        return "an HTML or XML document (a web page saved as .csv?), not CSV text"
    if expected == "parquet":
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
                return "neither Parquet (no PAR1 header) nor text: a damaged or other file"
        return "CSV or other text, not Parquet; name it with a .csv extension"
    return None


def _delimiter(sample: str) -> str:
    """The delimiter of CSV text: the candidate found the same number of times on most lines.

    Only the first 20 lines are looked at, outside double quotes; ``","`` when
    no candidate occurs (a one-column table).
    """
    from collections import Counter

    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    best, best_key = ",", (0, 0)
    for d in _DELIMITERS:
        counts = Counter("".join(line.split('"')[::2]).count(d) for line in lines)
        counts.pop(0, None)
        if counts:
            n, lines_agreeing = counts.most_common(1)[0]
            if (lines_agreeing, n) > best_key:
                best, best_key = d, (lines_agreeing, n)
    return best


def _first_non_utf8(path: Path) -> str | None:
    """``"byte 0xE9 at line 3: ..."`` for the first byte that is not UTF-8, else ``None``."""
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                excerpt = shorten(raw.decode("utf-8", errors="replace"))
                return f"byte 0x{raw[exc.start]:02X} at line {line_no}: {excerpt!r}"
    return None


def _first_ragged_line(path: Path, delimiter: str) -> str | None:
    """Describe the first record that breaks the CSV format: wrong field count or quoting."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        start = 1
        try:
            header = next(reader, None)
            if header is None:
                return None
            start = reader.line_num + 1
            for row in reader:
                if row and len(row) != len(header):
                    if reader.line_num == 2 and len(row) > len(header):
                        return (
                            f"the header (line 1) has {len(header)} field(s) but line 2 has "
                            f"{len(row)}: is there a title line above the header? "
                            f"{shorten(delimiter.join(header))!r}"
                        )
                    return (
                        f"line {start} has {len(row)} field(s) but the header has {len(header)} "
                        f"(a footer, total or comment line?): {shorten(delimiter.join(row))!r}"
                    )
                start = reader.line_num + 1
        except csv.Error as exc:
            if "end of data" in str(exc) or "unexpected end" in str(exc):
                return f"a quoted field starting on line {start} is never closed (a stray '\"'?)"
            return f"line {start}: badly quoted field ({exc})"
    return None


def _unreadable(table: str, path: Path, reason: str) -> DataValidationError:
    return DataValidationError([Problem(table, None, f"cannot read {path.name}: {reason}")])


def read_table(path: str | Path, table: str | None = None) -> pd.DataFrame:
    """Read one CSV or Parquet file into pandas.

    CSV is read with DuckDB with every column as text, so that a bad value is
    reported by the validator (with its row) rather than silently guessed. The
    delimiter (``,``, ``;``, tab or ``|``) is taken from the header line and
    every line must have as many fields as the header.

    Parameters
    ----------
    path : str or Path
        A ``.parquet`` file, or a CSV file (any other extension), UTF-8 encoded.
    table : str, optional
        Table name used in error messages (default: the file name without extension).

    Returns
    -------
    pandas.DataFrame
        CSV: every column as text; Parquet: the stored types.

    Raises
    ------
    DataValidationError
        When the file cannot be read, with the cause in plain words: empty file,
        not UTF-8 (byte and line), a line with the wrong number of fields, or a
        file that looks like something else (gzip, Parquet, Excel, JSON, HTML, ...).
    """
    path = Path(path)
    table = table or path.stem
    parquet = path.suffix.lower() == ".parquet"
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError as exc:
        raise _unreadable(table, path, exc.strerror or type(exc).__name__) from exc
    if not head:
        raise _unreadable(table, path, "the file is empty (0 bytes)")
    what = _looks_like(head, "parquet" if parquet else "csv")
    if what:
        raise _unreadable(table, path, f"this looks like {what}")
    if parquet:
        return _read_parquet(table, path)
    return _read_csv(table, path, head)


def _read_parquet(table: str, path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pandas()
    except Exception as exc:  # the reader's own message names the problem
        raise _unreadable(table, path, shorten(str(exc).splitlines()[0], 200)) from exc


def _read_csv(table: str, path: Path, head: bytes) -> pd.DataFrame:
    import duckdb

    text = head.removeprefix(b"\xef\xbb\xbf")
    if not text.strip():
        raise _unreadable(table, path, "the file has no header line (it is blank)")
    # the full scan below names a byte that is not UTF-8
    delimiter = _delimiter(text.decode("utf-8", errors="replace"))
    try:
        with duckdb.connect() as con:
            return con.execute(
                "SELECT * FROM read_csv($1, all_varchar=true, header=true, "
                "delim=$2, quote='\"', escape='\"')",
                [str(path), delimiter],
            ).df()
    except Exception as exc:
        non_utf8 = _first_non_utf8(path)
        if non_utf8:
            reason = f"not UTF-8: {non_utf8} (Latin-1 or Windows-1252? save the file as UTF-8)"
        else:
            reason = _first_ragged_line(path, delimiter) or shorten(str(exc).splitlines()[0], 200)
        raise _unreadable(table, path, reason) from exc


def offending_rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` selected by ``mask``, indexed by their CSV line number.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table as read, with its default 0-based index.
    mask : array-like of bool
        The offending rows.

    Returns
    -------
    pandas.DataFrame
        The selected rows; the index (named ``line``) is the line of the row in
        the CSV file: 1-based, plus the header line.
    """
    rows = frame.loc[np.asarray(mask)]
    rows.index = rows.index + 2  # 1-based, plus the header line: the CSV line number
    rows.index.name = "line"
    return rows


# ----------------------------------------------------------------------------- dataset folders
def find_table_files(folder: Path, names) -> tuple[dict, list[Problem], dict, list[str]]:
    """Find the file of each table in a dataset folder, matching names case-insensitively.

    Parameters
    ----------
    folder : Path
        The dataset folder.
    names : iterable of str
        The table names looked for (``events`` may also be a sub-folder of
        Parquet files).

    Returns
    -------
    found : dict of str to Path
        The file (or folder) of each table found.
    problems : list of Problem
        Two files for one table.
    hints : dict of str to list of str
        For tables not found: a file with a similar name, or with the right
        name and an unsupported extension.
    notes : list of str
        Files that are not read, and why.
    """
    import difflib

    names = list(names)
    by_table: dict[str, list[Path]] = {}
    others: list[Path] = []
    for file in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        stem, suffix = file.stem.lower(), file.suffix.lower()
        if suffix in (".csv", ".parquet") and stem in names:
            by_table.setdefault(stem, []).append(file)
        else:
            others.append(file)
    if "events" in names:  # events may also be a folder of Parquet files (hive-partitioned)
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if sub.name.lower() == "events":
                by_table.setdefault("events", []).append(sub)
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    for name, files in by_table.items():
        if len(files) > 1:
            listed = " and ".join(f.name for f in files)
            problems.append(Problem(name, None, f"both {listed} exist; keep one"))
        found[name] = files[0]

    hints: dict[str, list[str]] = {}
    notes = []
    for file in others:
        base = file.name.lower().split(".", 1)[0]
        readable = file.suffix.lower() in (".csv", ".parquet")
        if not readable and base in names:
            if base not in found:
                hints.setdefault(base, []).append(
                    f"{file.name} is there: only .csv and .parquet files are read"
                )
            continue
        if not readable:
            continue
        close = difflib.get_close_matches(file.stem.lower(), names, n=1, cutoff=0.75)
        if close and close[0] not in found:
            hints.setdefault(close[0], []).append(
                f"{file.name} looks like it: rename it to {close[0]}{file.suffix.lower()}"
            )
        elif close:
            notes.append(
                f"file {file.name} ignored: table '{close[0]}' is read from {found[close[0]].name}"
            )
        else:
            notes.append(
                f"file {file.name} ignored: not a table of the input contract ({', '.join(names)})"
            )
    return found, problems, hints, notes


def event_source(path: Path | None, query: str | None):
    """The :class:`~milestone_discovery.event_rows.EventSource` of a file, a folder or a query.

    The file is sniffed like :func:`read_table` does (empty, or something
    else than its extension says) and a CSV file's delimiter and header are
    read from its first line; the events themselves are read later, by
    :func:`milestone_discovery.events.derive_tables`.

    Parameters
    ----------
    path : Path or None
        ``events.csv``, ``events.parquet`` or a folder of Parquet files;
        ignored when ``query`` is given.
    query : str or None
        The ``[tables.events] query``, if any.

    Returns
    -------
    EventSource

    Raises
    ------
    DataValidationError
        When the file cannot be read (empty, not CSV text, ...) or the folder
        holds no Parquet file.
    """
    from .event_rows import EventSource

    if query is not None:
        return EventSource("query", query=query)
    if path.is_dir():
        if not any(path.rglob("*.parquet")):
            raise DataValidationError(
                [Problem("events", None, f"the folder {path.name}/ holds no .parquet file")]
            )
        return EventSource("folder", path=path)
    parquet = path.suffix.lower() == ".parquet"
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        raise _unreadable("events", path, "the file is empty (0 bytes)")
    what = _looks_like(head, "parquet" if parquet else "csv")
    if what:
        raise _unreadable("events", path, f"this looks like {what}")
    if parquet:
        return EventSource("parquet", path=path)
    import csv

    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    delimiter = _delimiter(text)
    header = next(csv.reader(text.splitlines()[:1], delimiter=delimiter), [])
    return EventSource("csv", path=path, delimiter=delimiter, header=tuple(header))


def events_unreadable_error(error) -> DataValidationError:
    """The cause of an :class:`~milestone_discovery.event_rows.EventReadError`, in plain words.

    Parameters
    ----------
    error : EventReadError
        The engine's failure to read the events of ``error.source``.

    Returns
    -------
    DataValidationError
        One problem naming the file and the cause: a byte that is not UTF-8,
        a line with the wrong number of fields, or the engine's own message.
    """
    source = error.source
    reason = None
    if source.kind == "csv":
        non_utf8 = _first_non_utf8(source.path)
        if non_utf8:
            reason = f"not UTF-8: {non_utf8} (Latin-1 or Windows-1252? save the file as UTF-8)"
        else:
            reason = _first_ragged_line(source.path, source.delimiter)
    reason = reason or shorten(str(error.cause).splitlines()[0], 200)
    return _unreadable("events", source.path, reason)
