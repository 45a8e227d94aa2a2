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


def bytes_log_axis(axis, values) -> None:
    """A log axis of byte counts with readable ticks: within a decade (10 kB to 21 kB, where
    matplotlib's log locator puts only two ticks) about six evenly spaced ones, labelled in kB;
    over decades 1, 2 and 5 times each power of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator
    lo, hi = float(min(values)), float(max(values))
    axis.axes.set_xscale("log") if axis.axis_name == "x" else axis.axes.set_yscale("log")
    if hi < 10 * lo:
        axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        axis.set_minor_locator(NullLocator())
    else:
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g} kB"))


def fraction_limits(values, line: float) -> tuple:
    """(bottom, top) of an axis showing `values` and, when it does not squash them, a
    reference `line` below them: the line is included when the values still fill at least
    half the axis, else left out (the caller says where it is)."""
    lo, hi = float(min(values)), float(max(values))
    span = max(hi - lo, 1e-3 * max(abs(hi), 1e-12))
    if line >= lo - span:
        lo = min(lo, line)
    pad = 0.08 * (hi - lo or span)
    return lo - pad, hi + pad
