"""LiveSummary: agreement and device latency per model of a live comparison, as a table."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LiveSummary", "model_summary"]


def model_summary(agree: np.ndarray, device_us: np.ndarray) -> dict:
    """n, agreement (fraction, NaN before the first item), disagreements, and the median and
    95th percentile of the device's microseconds per prediction."""
    n = len(agree)
    if n == 0:
        return {"n": 0, "agreement": math.nan, "disagreements": 0,
                "device_us_median": math.nan, "device_us_p95": math.nan}
    return {"n": n, "agreement": float(np.count_nonzero(agree)) / n,
            "disagreements": int(n - np.count_nonzero(agree)),
            "device_us_median": float(np.median(device_us)),
            "device_us_p95": float(np.percentile(device_us, 95))}


@dataclass
class LiveSummary:
    """Per model (by label): ``n`` items compared, ``agreement`` (fraction of items where the
    device's scores and class equal the host's exactly), ``disagreements`` (count),
    ``device_us_median`` and ``device_us_p95`` (microseconds per prediction, timed on the
    device). ``summary["full"]["agreement"]``; ``str(summary)`` is a table."""

    state: str
    source: str
    device: str
    n_items: int
    total: int | None
    disconnects: int
    models: dict = field(default_factory=dict)

    def __getitem__(self, label: str) -> dict:
        return self.models[label]

    def __iter__(self):
        return iter(self.models)

    @property
    def all_agree(self) -> bool:
        """Every item of every model agreed (and there was at least one)."""
        return bool(self.models) and all(m["n"] > 0 and m["disagreements"] == 0
                                         for m in self.models.values())

    def __str__(self) -> str:
        of = f" of {self.total}" if self.total is not None else ""
        lost = f", {self.disconnects} disconnect{'s' * (self.disconnects != 1)}" \
            if self.disconnects else ""
        head = (f"live comparison on {self.device}, {self.source}: {self.state}, "
                f"{self.n_items}{of} items{lost}")
        width = max([5] + [len(label) for label in self.models])
        lines = [head, f"{'model':<{width}}  {'items':>7}  {'agree':>7}  {'disagree':>8}  "
                       f"{'device µs median':>16}  {'p95':>8}"]
        for label, m in self.models.items():
            agree = "-" if m["n"] == 0 else f"{100 * m['agreement']:.1f}%"
            med = "-" if m["n"] == 0 else f"{m['device_us_median']:.1f}"
            p95 = "-" if m["n"] == 0 else f"{m['device_us_p95']:.1f}"
            lines.append(f"{label:<{width}}  {m['n']:>7}  {agree:>7}  "
                         f"{m['disagreements']:>8}  {med:>16}  {p95:>8}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))
