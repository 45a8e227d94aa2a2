"""eml.compress, eml.compression_sweep and the CompressedTrees estimator.

A compressed model is a TreeModel: ``predict``, ``size_bytes`` (the exact model file deploy
sends), ``dev.deploy(model, X)`` (verified row by row on the device against this model's own
host reference). See trees/compress.py for what each setting does.
"""
import itertools
import time
from dataclasses import dataclass, field
from html import escape

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone

from .exceptions import InputError, UnsupportedModelError
from .trees.compress import compress_model
from .trees.model import TreeModel
from .validate import invalid

__all__ = ["compress", "compression_sweep", "CompressedTrees", "Sweep", "METRICS"]


def _tree_model(estimator) -> TreeModel:
    """The converted tree model eml.compress works on; UnsupportedModelError for others."""
    from .conversion import convert
    from .nets.convert import is_network
    from .nets.model import NetModel
    # A network is refused before conversion: an unfitted one gets the same advice.
    network = isinstance(estimator, NetModel) or is_network(estimator)
    model = None if network else convert(estimator, features="float32")
    if not isinstance(model, TreeModel):
        why = (", a network: quantise it with eml.convert(model, weights='int8', "
               "X_calib=X_train)") if network else ""
        raise UnsupportedModelError(
            "eml.compress takes tree ensembles (DecisionTree, RandomForest, ExtraTrees or "
            f"their eml.convert model); got {type(estimator).__name__}{why}")
    return model


def compress(estimator, *, leaves_per_class=None, leaf_bits="auto", features="float32",
             X_calib=None, quantile=0.001, random_state=0) -> TreeModel:
    """Compress a fitted tree ensemble into a smaller model that runs exactly alike on host
    and device.

    Parameters
    ----------
    estimator : fitted scikit-learn tree/forest (as eml.convert takes), or a TreeModel from
        eml.convert.
    leaves_per_class : int or None
        k-means of all leaves of all trees into ``leaves_per_class * n_classes`` shared leaves
        (``leaves_per_class`` in total for a regressor). None: exact de-duplication only.
    leaf_bits : int 0..8, None or "auto"
        Classifier leaves as ``round(p * (2**bits - 1))``; 0: one vote for the most probable
        class (hard voting); None: 32-bit fixed point. "auto": 8 for classifiers, None for
        regressors (whose leaves are always 32-bit fixed point).
    features : {"float32", "int16"}
        "int16": thresholds in int16 space with a power-of-two scale per feature learned from
        ``X_calib`` (robust ``quantile`` range, values beyond it clipped). The model then takes
        raw float features on the host and on the device (which also accepts the int16 values
        ``model.quantise(X)`` returns).
    X_calib : array-like, required for features="int16"
    random_state : int
        Seed of k-means.

    Returns
    -------
    TreeModel
        ``predict``/``predict_proba`` are the compressed model's exact reference;
        ``size_bytes`` the bytes sent to the device. Soft voting: integer sums of leaf values,
        first maximum wins, on the host and on the device alike.

    Raises
    ------
    InputError
        Bad parameter values (with what is allowed), int16 without X_calib, or compressing an
        already compressed model.
    UnsupportedModelError
        Not a tree ensemble (networks are quantised by ``eml.convert(..., weights="int8")``).
    """
    return compress_model(_tree_model(estimator), leaves_per_class=leaves_per_class,
                          leaf_bits=leaf_bits, features=features, X_calib=X_calib,
                          quantile=quantile, random_state=random_state)


class CompressedTrees(BaseEstimator):
    """A tree ensemble and its compression as one scikit-learn estimator (cloneable, usable
    in Pipelines, cross_val_score and GridSearchCV over the compression settings).

    ``fit(X, y)`` fits a clone of ``estimator`` (unless ``prefit``) and compresses it, with X
    as the calibration rows for int16 features. ``model_`` is the compressed TreeModel.
    """

    def __init__(self, estimator, *, leaves_per_class=None, leaf_bits="auto",
                 features="float32", quantile=0.001, random_state=0, prefit=False):
        self.estimator = estimator
        self.leaves_per_class = leaves_per_class
        self.leaf_bits = leaf_bits
        self.features = features
        self.quantile = quantile
        self.random_state = random_state
        self.prefit = prefit

    def fit(self, X, y=None):
        est = self.estimator if self.prefit else clone(self.estimator).fit(X, y)
        self.estimator_ = est
        self.model_ = compress(est, leaves_per_class=self.leaves_per_class,
                               leaf_bits=self.leaf_bits, features=self.features,
                               X_calib=X, quantile=self.quantile,
                               random_state=self.random_state)
        if self.model_.kind == "classifier":
            self.classes_ = self.model_.classes_
        self.n_features_in_ = self.model_.n_features
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def score(self, X, y):
        mixin = ClassifierMixin if self.model_.kind == "classifier" else RegressorMixin
        return mixin.score(self, X, y)

    @property
    def size_bytes(self) -> int:
        return self.model_.size_bytes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        kind = getattr(getattr(self, "model_", None), "kind", None)
        if kind is None and hasattr(self.estimator, "predict_proba"):
            kind = "classifier"
        tags.estimator_type = kind if kind in ("classifier", "regressor") else None
        return tags


# -- metrics --------------------------------------------------------------------------------

def _proba_for_auc(model, X):
    p = model.predict_proba(X)
    return p[:, 1] if p.shape[1] == 2 else p


def _auc(multi_class):
    from sklearn.metrics import roc_auc_score

    def score(model, X, y):
        p = _proba_for_auc(model, X)
        kw = {} if p.ndim == 1 else {"multi_class": multi_class, "average": "weighted",
                                      "labels": model.classes_}
        return float(roc_auc_score(y, p, **kw))
    return score


def _from_predictions(fn, **kw):
    def score(model, X, y):
        return float(fn(y, model.predict(X), **kw))
    return score


def _metrics() -> dict:
    from sklearn import metrics as m
    return {
        "roc_auc_ovo_weighted": _auc("ovo"), "roc_auc_ovr_weighted": _auc("ovr"),
        "roc_auc": _auc("ovr"), "accuracy": _from_predictions(m.accuracy_score),
        "balanced_accuracy": _from_predictions(m.balanced_accuracy_score),
        "f1_macro": _from_predictions(m.f1_score, average="macro"),
        "r2": _from_predictions(m.r2_score),
        "neg_mean_absolute_error": lambda mo, X, y: -float(
            m.mean_absolute_error(y, mo.predict(X))),
    }


METRICS = ("roc_auc_ovo_weighted", "roc_auc_ovr_weighted", "roc_auc", "accuracy",
           "balanced_accuracy", "f1_macro", "r2", "neg_mean_absolute_error")


def _metric_fn(metric):
    if callable(metric):
        return metric
    table = _metrics()
    if not isinstance(metric, str) or metric not in table:
        raise invalid("metric", metric, f"one of {', '.join(map(repr, METRICS))} or a callable "
                      "metric(model, X, y) -> float", owner="eml.compression_sweep",
                      remedy="Higher must be better.")
    return table[metric]


# -- sweep ----------------------------------------------------------------------------------

@dataclass
class Sweep:
    """Every setting of a compression sweep: exact bytes, metric, drop vs the uncompressed
    model. ``rows`` are dicts; ``models`` the compressed TreeModels in the same order."""

    metric: str
    baseline: dict
    rows: list
    models: list = field(repr=False)
    seconds: float = 0.0

    def pareto(self) -> list:
        """Indices of rows no other row beats on both bytes and metric, smallest first."""
        order = sorted(range(len(self.rows)),
                       key=lambda i: (self.rows[i]["bytes"], -self.rows[i]["metric"]))
        front, best = [], -np.inf
        for i in order:
            if self.rows[i]["metric"] > best:
                front.append(i)
                best = self.rows[i]["metric"]
        return front

    def best(self, max_drop: float = 0.01, budget_bytes: int | None = None) -> TreeModel:
        """The smallest model whose metric is at most ``max_drop`` below the uncompressed
        model's (absolute, e.g. 0.01 = 1 point of AUC) and, if given, at most
        ``budget_bytes``."""
        ok = [i for i, r in enumerate(self.rows) if r["drop"] <= max_drop + 1e-12
              and (budget_bytes is None or r["bytes"] <= budget_bytes)]
        if not ok:
            smallest = min(self.rows, key=lambda r: r["bytes"])
            closest = min(self.rows, key=lambda r: r["drop"])
            raise InputError(
                f"no setting is within max_drop={max_drop} and budget_bytes={budget_bytes}: "
                f"the smallest is {smallest['bytes']} B (drop {smallest['drop']:.4f}), the "
                f"best metric drops {closest['drop']:.4f} at {closest['bytes']} B. Raise "
                "max_drop or the budget, or train a smaller forest (fewer trees, larger "
                "min_samples_leaf)")
        i = min(ok, key=lambda i: (self.rows[i]["bytes"], -self.rows[i]["metric"]))
        return self.models[i]

    _COLUMNS = ("leaves_per_class", "leaf_bits", "features", "bytes", "ratio", "metric",
                "drop", "n_nodes", "n_leaves")

    def _cells(self, r) -> list:
        return ["-" if r["leaves_per_class"] is None else str(r["leaves_per_class"]),
                "-" if r["leaf_bits"] is None else str(r["leaf_bits"]), r["features"],
                str(r["bytes"]), f"{r['bytes'] / self.baseline['bytes']:.2f}",
                f"{r['metric']:.4f}", f"{r['drop']:+.4f}", str(r["n_nodes"]),
                str(r["n_leaves"])]

    def table(self) -> "SweepTable":
        """Rows sorted by bytes; Pareto-optimal rows marked. Text in a terminal, HTML in a
        notebook."""
        return SweepTable(self)

    def plot(self, ax=None, max_drop: float | None = 0.01):
        """Bytes (log) vs metric: every setting, the Pareto front, the uncompressed model and
        the max_drop line (when it lies far below every setting, the axis keeps to the
        settings and a note at the bottom says where the line is).

        Returns
        -------
        matplotlib.figure.Figure
            Shows as an image at the end of a notebook cell (see emlearn_lab/_figures.py).
        """
        from ._figures import bytes_log_axis, fraction_limits, new_axes
        if ax is None:
            ax = new_axes((7, 4.5))
        b = np.array([r["bytes"] for r in self.rows])
        m = np.array([r["metric"] for r in self.rows])
        for feats, marker in (("float32", "o"), ("int16", "s")):
            sel = np.array([r["features"] == feats for r in self.rows])
            if sel.any():
                ax.scatter(b[sel], m[sel], marker=marker, alpha=0.6, label=f"{feats} features")
        front = self.pareto()
        ax.plot(b[front], m[front], "k-", lw=1, label="Pareto front (no setting is both "
                                                       "smaller and better)")
        base_b, base_m = self.baseline["bytes"], self.baseline["metric"]
        ax.scatter([base_b], [base_m], marker="*", s=160, color="crimson",
                   label="uncompressed", zorder=3)
        bytes_log_axis(ax.xaxis, np.append(b, base_b))
        limit = None if max_drop is None else base_m - max_drop
        bottom, top = fraction_limits(np.append(m, base_m),
                                      base_m if limit is None else limit)
        ax.set_ylim(bottom, top)
        if limit is not None and limit >= bottom:
            ax.axhline(limit, color="grey", ls="--", lw=1,
                       label=f"max_drop: {max_drop:g} below uncompressed")
        elif limit is not None:
            ax.annotate(f"max_drop line ({max_drop:g} below uncompressed) at {limit:.4g}: "
                        "below every setting", xy=(0.01, 0.02), xycoords="axes fraction",
                        fontsize=8, color="grey")
        ax.set_xlabel("model bytes on the device (log scale)")
        ax.set_ylabel(self.metric)
        ax.legend(fontsize=8)
        ax.set_title("Tree compression: size vs " + self.metric)
        return ax.figure


class SweepTable:
    def __init__(self, sweep: Sweep):
        self.sweep = sweep

    def rows(self) -> list:
        s = self.sweep
        front = set(s.pareto())
        order = sorted(range(len(s.rows)), key=lambda i: s.rows[i]["bytes"])
        return [s._cells(s.rows[i]) + ["*" if i in front else ""] for i in order]

    def head(self) -> list:
        return list(Sweep._COLUMNS) + ["pareto"]

    def caption(self) -> str:
        b = self.sweep.baseline
        return (f"uncompressed: {b['bytes']} B, {self.sweep.metric} {b['metric']:.4f}; "
                f"{len(self.sweep.rows)} settings in {self.sweep.seconds:.1f} s")

    def __str__(self) -> str:
        from .board_fit.table import _text_table
        return self.caption() + "\n" + _text_table(self.head(), self.rows())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in self.head())
        body = "".join(
            "<tr%s>%s</tr>" % (" style='font-weight:bold'" if r[-1] else "",
                               "".join(f"<td>{escape(c)}</td>" for c in r))
            for r in self.rows())
        return (f"<p>{escape(self.caption())}</p><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")


def _evaluate(base, setting, X_val, y_val, metric, X_calib):
    lpc, bits, feats = setting
    model = compress_model(base, leaves_per_class=lpc, leaf_bits=bits, features=feats,
                           X_calib=X_calib)
    score = _metric_fn(metric)(model, X_val, y_val)
    return model, {"leaves_per_class": lpc, "leaf_bits": model.leaf_bits, "features": feats,
                   "bytes": model.size_bytes, "metric": score, "n_nodes": model.n_nodes,
                   "n_leaves": model.n_leaves}


def compression_sweep(estimator, X_val, y_val, *, metric="roc_auc_ovo_weighted",
                      leaves_per_class=(None, 16, 8, 4, 2, 1), leaf_bits=(8, 4, 2, 0),
                      features=("float32", "int16"), X_calib=None, n_jobs=None) -> Sweep:
    """Compress with every combination of the settings and score each on (X_val, y_val).

    Runs through joblib: ``n_jobs`` processes here, or any joblib backend that is active, e.g.
    a Dask cluster (``with joblib.parallel_config(backend="dask"): ...``).

    metric : name (see METRICS; higher is better) or callable metric(model, X, y) -> float.
    X_calib : rows that set the int16 scales; default X_val (scales only, no labels).
    leaf_bits : ignored for regressors (always 32-bit fixed point).

    Returns a Sweep: ``.table()``, ``.plot()``, ``.pareto()``, ``.best(max_drop, budget)``.
    A progress bar counts the settings done when stderr is a terminal (progress.py).
    """
    from joblib import Parallel, delayed

    from . import progress
    t0 = time.perf_counter()
    base = _tree_model(estimator)
    score = _metric_fn(metric)
    X_val = np.asarray(X_val)
    y_val = np.asarray(y_val)
    if len(X_val) != len(y_val):
        raise InputError(f"X_val has {len(X_val)} rows, y_val {len(y_val)}")
    baseline = {"bytes": base.size_bytes, "metric": score(base, X_val, y_val)}
    if base.kind != "classifier":
        leaf_bits = (None,)
    settings = list(itertools.product(tuple(leaves_per_class), tuple(leaf_bits),
                                      tuple(features)))
    if not settings:
        raise InputError("no settings to sweep: give at least one value per parameter")
    X_calib = X_val if X_calib is None else X_calib
    jobs = (delayed(_evaluate)(base, s, X_val, y_val, metric, X_calib) for s in settings)
    if progress.shown():          # a bar on a terminal: results as they come, in order
        with progress.bar(len(settings), "compression sweep", "setting") as b:
            out = []
            for result in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
                out.append(result)
                b.update(1)
    else:
        out = Parallel(n_jobs=n_jobs)(jobs)
    models = [m for m, _ in out]
    rows = [r for _, r in out]
    for r in rows:
        r["drop"] = baseline["metric"] - r["metric"]
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    return Sweep(name, baseline, rows, models, time.perf_counter() - t0)
