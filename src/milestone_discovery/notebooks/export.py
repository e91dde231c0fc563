"""Executed notebooks as self-contained HTML pages without code.

nbconvert's default ``lab`` template loads require.js, MathJax and mermaid
from a CDN; these pages use its ``basic`` template (the cells only) inside a
page with inline CSS, so that, like the report, they open offline: no
script and no network address.
"""

from __future__ import annotations

import html
from pathlib import Path

__all__ = ["export_html"]

# ----------------------------------------------------------------------------- HTML
#: The stylesheet of the HTML exports (inline: the page loads nothing).
_CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --blue: #2166ac; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Noto Sans", sans-serif; }
main { max-width: 1100px; margin: 18px auto; padding: 8px 32px 28px; background: #fff;
  border: 1px solid var(--line); border-radius: 10px; }
h1 { font-size: 28px; line-height: 1.2; margin: 18px 0 10px; }
h2 { font-size: 21px; margin: 28px 0 6px; padding-top: 14px; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
a.anchor-link { display: none; }
a { color: var(--blue); }
p, li { overflow-wrap: anywhere; }
code { background: var(--bg); border-radius: 3px; padding: 0 3px; font-size: 90%; }
pre { background: var(--bg); border-radius: 6px; padding: 8px 12px; overflow-x: auto;
  font-size: 13px; }
pre code { background: none; padding: 0; }
.output_area { margin: 6px 0; overflow-x: auto; }
.output_png img, .output_html img { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; }
th, td { text-align: right; padding: 4px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
tbody tr:hover { background: #fafbfc; }
.output_stream pre, .output_text pre { background: none; padding: 0; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""


def export_html(executed: str | Path, out: str | Path | None = None) -> Path:
    """Export an executed notebook to a self-contained HTML page without code.

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
        The page opens offline like the report: nbconvert's ``basic``
        template (the cells only) in a page with inline CSS, so no require.js,
        MathJax or other script is loaded from the network.
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
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    page = _PAGE.format(title=html.escape(title), css=_CSS.strip(), body=body.strip())
    out.write_text(page, encoding="utf-8")
    return out
