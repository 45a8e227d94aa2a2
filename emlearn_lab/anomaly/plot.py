"""A detector's score histogram, normal rows and anomalies apart, with its threshold."""
import numpy as np

from .._figures import new_axes
from .threshold import _normal_mask, _scores

__all__ = ["plot_scores"]


def plot_scores(det, X, y=None, *, bins: int = 40, ax=None):
    """Histogram of ``det.score_samples(X)``: normal rows (y == 1, or all rows without y)
    and anomalies (y == -1) in two colours, and ``det.threshold`` as a vertical line (rows to
    its left are flagged). Returns the Axes (shown as an image at the end of a cell)."""
    owner = "eml.anomaly.plot_scores"
    scores = _scores(det, X, owner)
    normal = _normal_mask(y, len(scores), owner)
    if ax is None:
        ax = new_axes((7, 3))
    finite = scores[np.isfinite(scores)]
    edges = np.histogram_bin_edges(finite if len(finite) else [0.0, 1.0], bins=bins)
    ax.hist(scores[normal & np.isfinite(scores)], bins=edges, alpha=0.6, color="#1f77b4",
            label=f"normal ({int(normal.sum())})")
    if (~normal).any():
        ax.hist(scores[~normal & np.isfinite(scores)], bins=edges, alpha=0.6,
                color="#d62728", label=f"anomaly ({int((~normal).sum())})")
    t = float(det.threshold)
    if np.isfinite(t):
        flagged = int((scores < t).sum())
        ax.axvline(t, color="black", lw=1.2, ls="--",
                   label=f"threshold {t:.4g} ({flagged} flagged)")
    ax.set_xlabel("score (score_samples: higher is more normal)")
    ax.set_ylabel("rows")
    ax.legend(loc="upper left", fontsize=8)
    return ax
