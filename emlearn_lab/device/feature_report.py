"""FeatureCheck: device features compared with the host's, window by window."""
from dataclasses import dataclass, field

import numpy as np

from .._kv_report import kv_html, kv_text

__all__ = ["FeatureCheck"]


@dataclass
class FeatureCheck:
    n_windows: int
    n_features: int
    n_mismatched_values: int
    n_mismatched_windows: int
    max_abs_error: int                 # in feature units (all features are integers)
    max_error_by_feature: dict         # feature name -> max |device - host|, mismatches only
    first_mismatches: list = field(default_factory=list)  # (window, feature, host, device)
    host_us_per_window: float | None = None       # CPython running the same source
    device_us_median: float | None = None         # per window, on the device
    device_us_min: float | None = None

    @classmethod
    def compare(cls, host: np.ndarray, device: np.ndarray, names, host_us=None):
        host, device = np.asarray(host, np.int64), np.asarray(device, np.int64)
        diff = np.abs(device - host)
        bad = np.argwhere(diff > 0)
        worst = diff.max(axis=0) if len(diff) else np.zeros(host.shape[1], np.int64)
        return cls(
            n_windows=len(host), n_features=host.shape[1], n_mismatched_values=len(bad),
            n_mismatched_windows=int(np.any(diff > 0, axis=1).sum()),
            max_abs_error=int(worst.max()) if worst.size else 0,
            max_error_by_feature={names[j]: int(worst[j]) for j in np.flatnonzero(worst)},
            first_mismatches=[(int(w), names[f], int(host[w, f]), int(device[w, f]))
                              for w, f in bad[:10]],
            host_us_per_window=host_us)

    @property
    def exact(self) -> bool:
        """Every feature of every window identical on the device and the host."""
        return self.n_mismatched_values == 0

    def rows(self) -> list:
        verdict = ("EXACT: every value identical" if self.exact else
                   f"{self.n_mismatched_values} values in {self.n_mismatched_windows} windows "
                   f"DIFFER (max |error| {self.max_abs_error})")
        out = [("windows x features", f"{self.n_windows} x {self.n_features}"),
               ("device vs host", verdict)]
        if self.device_us_median is not None:
            out.append(("device time per window", f"{self.device_us_median:.1f} µs median, "
                                                  f"{self.device_us_min:.1f} µs min"))
        if self.host_us_per_window is not None:
            out.append(("host time per window", f"{self.host_us_per_window:.1f} µs (CPython "
                                                "running the device source)"))
        return out

    def _details(self) -> list:
        """The worst error of each mismatching feature (the first 20), then the first
        mismatching values, one line each."""
        return ([f"{name}: max |error| {err}"
                 for name, err in list(self.max_error_by_feature.items())[:20]]
                + [f"window {w} {f}: host {h} device {d}"
                   for w, f, h, d in self.first_mismatches])

    def __str__(self) -> str:
        return kv_text(self.rows(), self._details())

    def _repr_html_(self) -> str:
        return kv_html(self.rows(), self._details(), terms=False)
