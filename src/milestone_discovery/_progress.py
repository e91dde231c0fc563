"""Progress bars for long steps (tqdm), silenced by ``progress=False``."""

from __future__ import annotations

from collections.abc import Iterable

# tqdm.std: plain text bars everywhere (tqdm.auto warns in kernels without ipywidgets)
from tqdm.std import tqdm


def progress_bar(items: Iterable, *, desc: str, disable: bool = False, total: int | None = None):
    """Wrap ``items`` in a tqdm bar on stderr unless ``disable``."""
    return tqdm(items, desc=desc, disable=disable, total=total, leave=False)
