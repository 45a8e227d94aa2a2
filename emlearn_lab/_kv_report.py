"""A report as (label, value) rows, detail lines and notes: aligned text for a terminal, an
HTML table for a notebook. DeployReport, FeatureCheck and Estimate render through it, so
their text and notebook views keep one layout."""
from collections.abc import Sequence
from html import escape

from .terms import terms_html

__all__ = ["kv_text", "kv_html"]


def kv_text(rows: Sequence[tuple[str, str]], details: Sequence[str] = (),
            notes: Sequence[str] = ()) -> str:
    """Rows as ``label  value`` lines with the values in one column, then each detail line
    indented by two spaces, then each note as ``note: ...``.

    Parameters
    ----------
    rows : sequence of (str, str)
        (label, value) pairs, in order.
    details : sequence of str
        Lines that belong to the rows above (a mismatch, a disagreeing row).
    notes : sequence of str
        Caveats about the figures.

    Returns
    -------
    str
        The lines joined by newlines, no trailing newline.

    Examples
    --------
    >>> print(kv_text([("board", "rp2040-pico"), ("RAM", "24048 B")], notes=["estimate"]))
    board  rp2040-pico
    RAM    24048 B
    note: estimate
    """
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join([f"{label:<{width}}  {value}" for label, value in rows]
                     + [f"  {line}" for line in details]
                     + [f"note: {note}" for note in notes])


def kv_html(rows: Sequence[tuple[str, str]], details: Sequence[str] = (),
            notes: Sequence[str] = (), *, terms: bool = True) -> str:
    """Rows as a two-column ``<table>`` (labels left-aligned in ``<th>``), then the detail
    lines and the notes each as a ``<ul>`` (left out when empty). Every string is escaped;
    with `terms`, values and notes also get a tooltip on each glossary term
    (``glossary.terms_html``).

    Parameters
    ----------
    rows : sequence of (str, str)
        (label, value) pairs, in order.
    details : sequence of str
        Lines that belong to the rows above.
    notes : sequence of str
        Caveats about the figures.
    terms : bool
        Explain glossary terms in values and notes; False escapes them only.

    Returns
    -------
    str
        HTML for a notebook's ``_repr_html_``.

    Examples
    --------
    >>> kv_html([("a<b", "1 & 2")], terms=False)
    "<table><tr><th style='text-align:left'>a&lt;b</th><td style='text-align:left'>1 &amp; 2</td></tr></table>"
    """
    markup = terms_html if terms else escape
    body = "".join(f"<tr><th style='text-align:left'>{escape(label)}</th>"
                   f"<td style='text-align:left'>{markup(value)}</td></tr>"
                   for label, value in rows)
    return (f"<table>{body}</table>" + _items(details, escape)
            + _items(notes, markup))


def _items(lines: Sequence[str], markup) -> str:
    items = "".join(f"<li>{markup(line)}</li>" for line in lines)
    return f"<ul>{items}</ul>" if items else ""
