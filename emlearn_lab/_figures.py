"""Figures the library draws: shown as an image wherever they end a notebook cell.

A fresh Jupyter kernel (ipykernel 7, matplotlib-inline 0.2) displays a bare
``matplotlib.figure.Figure`` as ``<Figure size ...>`` until ``%matplotlib inline`` registers
matplotlib's image formatter, and an ``Axes`` always as ``<Axes: ...>``. The figures made here
are not registered with pyplot (so the inline backend does not show a second copy, and there
is nothing to close) and carry their own ``_repr_png_``, which IPython uses when no formatter
for Figure is registered; returned Axes carry one that draws their figure.
"""
import io

__all__ = ["new_axes"]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    return buf.getvalue()


def new_axes(figsize: tuple):
    """Axes on a new Figure of `figsize` inches (constrained layout); it and its Figure show
    as a PNG image at the end of a notebook cell."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    fig._repr_png_ = lambda: _png(fig)
    ax._repr_png_ = lambda: _png(fig)
    return ax
