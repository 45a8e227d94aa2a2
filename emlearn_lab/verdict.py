"""DeployVerdict: one line per deployed model (fits / exact / speed), the details folded.

``%%emlearn_deploy`` used to show an estimate table and a deploy report per model, four dense
tables before the live view for two models. A reader wants three answers first: does it fit
the board, does the device compute exactly what the host does, and how fast is it. The line
gives them; the estimate and the report follow, folded (an HTML ``<details>`` in notebooks,
indented text elsewhere).
"""
from dataclasses import dataclass
from html import escape

from .terms import terms_html

__all__ = ["DeployVerdict", "kilobytes", "figure"]


def kilobytes(n_bytes: float) -> str:
    """Bytes as kB with three significant figures: 35.2 kB, 227 kB (1 kB = 1000 B)."""
    return f"{figure(n_bytes / 1000)} kB"


def _count(n: float) -> str:
    """A count grouped by thousands with a thin space: 2 960, 11 035."""
    return f"{n:,.0f}".replace(",", " ")


def figure(x: float) -> str:
    """Three significant figures below 1000 (1.64, 67.4, 227), whole and grouped from there
    on (12 400): never an exponent ("1.24e+04") in a line a student reads."""
    return _count(x) if abs(x) >= 999.5 else f"{x:.3g}"


@dataclass
class DeployVerdict:
    """The answer to "did it work" for one model deployed by ``%%emlearn_deploy``.

    ``report`` is the DeployReport of the device it ran on; ``estimate`` the Estimate for the
    ``--board`` (None without one); ``on_board`` whether the device is that board (False
    for the virtual device standing in for it, which the line then says).
    """

    name: str
    report: object
    estimate: object = None
    on_board: bool = False

    def board_part(self) -> str:
        """"rp2040-pico: fits (34.5 kB of 227 kB free heap, loadable), 3 190 instructions
        ≈ 38 µs per predict (estimate)" or "" without a board."""
        est = self.estimate
        if est is None:
            return ""
        head = f"{est.board.id}: {est.verdict} ({kilobytes(est.ram_bytes)} of " \
               f"{kilobytes(est.board.heap_bytes)} free heap, {est.form})"
        lat = est.latency
        if lat is None:
            return head
        count = "" if lat.instructions is None else f"{_count(lat.instructions)} instructions ≈ "
        return f"{head}, {count}{figure(lat.us)} µs per predict (estimate)"

    def device_part(self) -> str:
        """"virtual device: exact (100% of 120 rows), 15.2 µs per predict" (measured)."""
        r = self.report
        where = self._where()
        if r.agreement is None:
            exact = "not verified (no rows)"
        elif r.ok:
            exact = f"exact (100% of {r.n_rows} rows)"
        else:
            exact = f"DIFFERS on {r.n_disagreements} of {r.n_rows} rows"
        parts = [exact]
        what = "features + predict" if r.features is not None else "predict"
        if r.us_per_predict_median is not None:
            if r.instructions_per_us is not None:
                parts.append(f"{_count(r.instructions_per_predict_median)} instructions per "
                             f"{what}")
            else:
                parts.append(f"{figure(r.us_per_predict_median)} µs per {what}")
        if self.estimate is None:
            parts.append(f"{r.form} form, {kilobytes(r.model_ram_bytes + r.runtime_ram_bytes)}"
                         " RAM")
        return f"{where}: {', '.join(parts)}"

    def _where(self) -> str:
        """"virtual device", or the Device repr of any other."""
        device = self.report.device
        return "virtual device" if device.startswith("Device(virtual") else device

    def line(self) -> str:
        """The one-line verdict."""
        board = self.board_part()
        if not board:
            return f"{self.name} on the {self.device_part()}"
        stand_in = "" if self.on_board else " (standing in for the board)"
        return f"{self.name} on {board} · on the {self.device_part()}{stand_in}"

    @property
    def ok(self) -> bool:
        """Fits the board (when one was given) and exact on the device."""
        return self.report.ok and (self.estimate is None or self.estimate.fits)

    @property
    def hint(self) -> str:
        """Where the figures come from when the device only stands in for the board."""
        if self.estimate is None or self.on_board:
            return ""
        return (f"The {self.estimate.board.id} figures are estimates; the model ran on "
                f"{self.report.device}, not on the board (connect the board: %emlearn_device "
                "connect PORT, or --device PORT).")

    def _sections(self) -> list:
        out = []
        if self.estimate is not None:
            out.append((f"estimate for {self.estimate.board.id}", self.estimate))
        out.append((f"deploy report on the {self._where()}", self.report))
        return out

    def __str__(self) -> str:
        lines = [self.line()] + ([f"  {self.hint}"] if self.hint else [])
        for title, obj in self._sections():
            lines.append(f"  {title}:")
            lines += ["    " + line for line in str(obj).splitlines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#1b5e20" if self.ok else "#b00020"
        hint = f"<p>{escape(self.hint)}</p>" if self.hint else ""
        body = hint + "".join(f"<h4 style='margin:6px 0 2px'>{escape(title)}</h4>{obj._repr_html_()}"
                       for title, obj in self._sections())
        return (f"<div class='emlab-verdict'><div style='color:{colour};font-weight:600'>"
                f"{terms_html(self.line())}</div><details><summary>details: "
                f"{escape(', '.join(t for t, _ in self._sections()))}</summary>{body}"
                f"</details></div>")
