"""Growing columns of per-item results (amortised appends, copies out)."""
from __future__ import annotations

import numpy as np


class Columns:
    """Named 1-D arrays that grow together; ``take(name)`` copies the filled part out."""

    def __init__(self, dtypes: dict):
        self.dtypes = dict(dtypes)
        self.clear()

    def clear(self) -> None:
        self.n = 0
        self.data = {k: np.empty(256, dtype=dt) for k, dt in self.dtypes.items()}

    def append(self, **columns) -> None:
        k = len(next(iter(columns.values())))
        if self.n + k > len(next(iter(self.data.values()))):
            size = max(2 * (self.n + k), 256)
            for name, old in self.data.items():
                new = np.empty(size, dtype=old.dtype)
                new[:self.n] = old[:self.n]
                self.data[name] = new
        for name, values in columns.items():
            self.data[name][self.n:self.n + k] = values
        self.n += k

    def take(self, name: str, start: int = 0) -> np.ndarray:
        return self.data[name][start:self.n].copy()
