"""``python -m milestone_discovery.notebooks``: see :func:`milestone_discovery.notebooks.main`."""

import sys

from .runner import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
