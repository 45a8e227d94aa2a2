"""eml.fit_table: models against every board — fits or not, % of heap and filesystem used.

One model: a row per board with form, % used, RAM, estimated latency and the remedy.
Several models (a dict of name -> model): the feasibility grid, boards x models.
"""
from html import escape

from ..exceptions import EmlearnLabError, InputError
from .estimate import HEAP_FIT_FRACTION, estimate
from .table import _text_table
from .table import boards as board_table

__all__ = ["FitTable", "fit_table"]

_MARK = {"fits": "✓", "tight": "~", "does not fit": "✗"}
# Tall enough for the 18 boards of the table at 8-point labels; a notebook shows it whole.
PLOT_MAX_HEIGHT_IN = 6.0
# The axis ends here (past 100% only "how far over" matters); longer bars say their figure.
PLOT_MAX_PERCENT = 150
_COLOR = {"✓": "#d9f2d9", "~": "#fff3cd", "✗": "#f8d7d7"}
_LEGEND = (f"heap: share of the board's typical free MicroPython heap after boot (fits up to "
           f"{HEAP_FIT_FRACTION:.0%}); flash: share of the MicroPython filesystem. ~ (tight): "
           "loads on a fresh heap, but its largest allocation may not find a contiguous block "
           "later. Latency is an estimate.")


class FitTable:
    """Estimates per model and board.

    ``estimates[name]`` lists a model's Estimate per board; ``errors[name][board_id]`` says
    why a board could not be estimated. With one model, ``table[board_id]`` is its Estimate.
    """

    def __init__(self, models: dict, estimates: dict, errors: dict):
        self.models = models            # name -> repr of the converted model
        self.estimates = estimates      # name -> [Estimate]
        self.errors = errors            # name -> {board id: message}

    @property
    def _single(self) -> str | None:
        return next(iter(self.models)) if len(self.models) == 1 else None

    def __getitem__(self, key):
        """table[board_id] (one model) or table[model_name, board_id]."""
        name, board_id = key if isinstance(key, tuple) else (self._single, key)
        for e in self.estimates.get(name, []):
            if e.board.id == board_id:
                return e
        raise KeyError(key)

    def fitting(self, name=None) -> list:
        """Ids of the boards the model (the only one, or `name`) fits."""
        return [e.board.id for e in self.estimates[name or self._single] if e.fits]

    def _board_ids(self) -> list:
        ids = []
        for name in self.models:
            ids += [e.board.id for e in self.estimates[name]] + list(self.errors[name])
        return list(dict.fromkeys(ids))

    def _head(self) -> list:
        if self._single:
            return ["board", "fits", "form", "flash used", "heap used", "RAM B",
                    "µs/predict (est.)", "remedy"]
        return ["board"] + [f"{n} (heap/flash used)" for n in self.models]

    def rows(self) -> list:
        if self._single:
            name = self._single
            out = [[e.board.id, _MARK[e.verdict], e.form, f"{e.flash_fraction:.1%}",
                    f"{e.ram_fraction:.1%}", str(e.ram_bytes),
                    "-" if e.latency_us is None else f"{e.latency_us:.3g}", e.remedy]
                   for e in self.estimates[name]]
            return out + [[b, "?", "-", "-", "-", "-", "-", msg]
                          for b, msg in self.errors[name].items()]
        out = []
        for board_id in self._board_ids():
            row = [board_id]
            for name in self.models:
                try:
                    e = self[name, board_id]
                except KeyError:
                    row.append("? " + self.errors[name].get(board_id, ""))
                    continue
                row.append(f"{_MARK[e.verdict]} {e.ram_fraction:.0%} / {e.flash_fraction:.0%}"
                           f" ({e.form})")
            out.append(row)
        return out

    def __str__(self) -> str:
        names = "\n".join(f"{n}: {r}" for n, r in self.models.items())
        return f"{names}\n{_text_table(self._head(), self.rows())}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in self._head())
        body = ""
        for row in self.rows():
            cells = ""
            for i, c in enumerate(row):
                mark = c[:1] if i and not self._single else (row[1] if i == 1 else "")
                style = f" style='background:{_COLOR[mark]}'" if mark in _COLOR else ""
                cells += f"<td{style}>{escape(c)}</td>"
            body += f"<tr>{cells}</tr>"
        names = "".join(f"<li><b>{escape(n)}</b>: {escape(r)}</li>"
                        for n, r in self.models.items())
        return (f"<ul>{names}</ul><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                f"</table><p>{escape(_LEGEND)}</p>")

    def plot(self, ax=None):
        """Horizontal bars per board and model: % of the free heap (solid) and of the
        filesystem (hatched) used. Dashed line: the heap fit limit; red line: 100%, full.

        Returns
        -------
        matplotlib.figure.Figure
            At most PLOT_MAX_HEIGHT_IN tall; it shows as an image at the end of a notebook
            cell (see emlearn_lab/_figures.py).
        """
        from .._figures import new_axes
        ids = self._board_ids()
        series = []
        for k, name in enumerate(self.models):
            est = self.estimates[name]
            prefix = "" if self._single else f"{name}: "
            series += [(f"{prefix}heap used", f"C{k}", None,
                        {e.board.id: e.ram_fraction for e in est}),
                       (f"{prefix}filesystem used", f"C{k}", "////",
                        {e.board.id: e.flash_fraction for e in est})]
        if ax is None:
            ax = new_axes((8, min(0.25 * len(ids) + 1.6, PLOT_MAX_HEIGHT_IN)))
        height = 0.8 / len(series)
        for k, (label, colour, hatch, values) in enumerate(series):
            y = [i - 0.4 + (k + 0.5) * height for i in range(len(ids))]
            pct = [100 * values.get(b, 0.0) for b in ids]
            ax.barh(y, pct, height=height, label=label,
                    color=colour if hatch is None else "white", edgecolor=colour,
                    hatch=hatch, linewidth=0.8)
            for yk, p in zip(y, pct):          # past the axis: the figure at its end
                if p > PLOT_MAX_PERCENT:
                    ax.text(PLOT_MAX_PERCENT, yk, f"{p:.0f}% ", ha="right", va="center",
                            fontsize=7, color="black",
                            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        ax.set_xlim(0, PLOT_MAX_PERCENT)
        ax.axvline(100, color="red", linewidth=1, label="100%: full")
        ax.axvline(100 * HEAP_FIT_FRACTION, color="orange", linewidth=1, linestyle="--",
                   label=f"heap fit limit ({HEAP_FIT_FRACTION:.0%}, the rest is headroom)")
        ax.set_yticks(list(range(len(ids))), ids, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("% of the board's free heap (solid) / filesystem (hatched)")
        ax.set_title("Does it fit? Share of each board's free heap and filesystem")
        ax.legend(loc="lower right", fontsize=8)
        return ax.figure


def fit_table(models, boards=None, *, form="auto", X=None) -> FitTable:
    """Estimate models on every board of the table (or the given board ids).

    Parameters
    ----------
    models : a model (TreeModel, fitted estimator or feature Pipeline), or a dict of
        name -> model
    boards : list of board ids, optional
    form, X : as in ``eml.estimate``

    A board whose estimate fails (e.g. no mpy-cross for its architecture) gets a row with the
    reason instead of stopping the table.
    """
    from ..conversion import convert
    named = models if isinstance(models, dict) else {"model": models}
    if not named:
        raise InputError("fit_table needs a model, or a dict of name -> model")
    table = board_table()
    chosen = [table[b] for b in boards] if boards is not None else list(table)
    reprs, estimates, errors = {}, {}, {}
    from sklearn.pipeline import Pipeline
    for name, model in named.items():
        if not isinstance(model, Pipeline):       # estimate() takes feature Pipelines as is
            model = convert(model)
        reprs[name], estimates[name], errors[name] = repr(model), [], {}
        for board in chosen:
            try:
                estimates[name].append(estimate(model, board, form, X))
            except EmlearnLabError as e:
                errors[name][board.id] = str(e).splitlines()[0]
    return FitTable(reprs, estimates, errors)
