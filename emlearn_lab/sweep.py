"""eml.compression_sweep: many compression settings, each scored on validation rows; the
Sweep it returns (table, plot, Pareto front) and its picks, ``best(max_drop, budget_bytes,
confidence, margin)``."""
import itertools
import numbers
import time
from dataclasses import dataclass, field
from html import escape

import numpy as np

from . import paired_drop
from .exceptions import InputError
from .sweep_metrics import METRICS, auc_standard_error, metric_fn
from .trees.compress import compress_model
from .trees.model import TreeModel
from .trees.prune import Routed, prune_model
from .validate import invalid, number_in

__all__ = ["compression_sweep", "Sweep", "METRICS"]


@dataclass
class Sweep:
    """Every setting of a compression sweep: exact bytes, metric, drop vs the uncompressed
    model. ``rows`` are dicts; ``models`` the compressed TreeModels in the same order."""

    metric: str
    baseline: dict
    rows: list
    models: list = field(repr=False)
    seconds: float = 0.0
    held_out: tuple | None = field(default=None, repr=False)
    score: object = field(default=None, repr=False)
    # (X_val, y_val, the uncompressed model, the metric as given) for best(confidence=)
    validation: tuple | None = field(default=None, repr=False)
    _se: dict = field(default_factory=dict, repr=False)
    _base_terms: tuple | None = field(default=None, repr=False)

    def pareto(self) -> list:
        """Indices of rows no other row beats on both bytes and metric, smallest first."""
        return _front(self.rows)

    def drop_se(self, i: int) -> float:
        """Standard error of setting ``i``'s drop on the validation rows: the uncompressed
        model and this one scored on the same rows (DeLong for ROC AUC; paired_drop.py)."""
        X, y, base, metric = self.validation
        if self._base_terms is None:
            self._base_terms = paired_drop.row_terms(metric, base, X, y)[1:]
        if i not in self._se:
            ref_terms, groups = self._base_terms
            _, terms, _ = paired_drop.row_terms(metric, self.models[i], X, y)
            self._se[i] = paired_drop.drop_standard_error(ref_terms, terms, groups)
        return self._se[i]

    def _pick(self, max_drop, budget_bytes, confidence=None, margin=None) -> int:
        z = None if confidence is None else _z(confidence)
        if margin is not None:
            number_in("margin", margin, 0.0, owner="Sweep.best",
                      remedy="Give the largest drop on new rows you accept, e.g. 0.015.")
            if z is None:
                raise InputError("margin is the bound of the confidence test: give "
                                 "confidence too, e.g. best(0.01, confidence=0.95, "
                                 f"margin={margin:g})")
        else:
            margin = max_drop
        ok = [i for i, r in enumerate(self.rows) if r["drop"] <= max_drop + 1e-12
              and (budget_bytes is None or r["bytes"] <= budget_bytes)]
        ok.sort(key=lambda i: (self.rows[i]["bytes"], -self.rows[i]["metric"]))
        if not ok:
            smallest = min(self.rows, key=lambda r: r["bytes"])
            closest = min(self.rows, key=lambda r: r["drop"])
            raise InputError(
                f"no setting is within max_drop={max_drop} and budget_bytes={budget_bytes}: "
                f"the smallest is {smallest['bytes']} B (drop {smallest['drop']:.4f}), the "
                f"best metric drops {closest['drop']:.4f} at {closest['bytes']} B. Raise "
                "max_drop or the budget, or train a smaller forest (fewer trees, larger "
                "min_samples_leaf)")
        if z is None:
            return ok[0]
        for i in ok:
            if self.rows[i]["drop"] + z * self.drop_se(i) <= margin + 1e-12:
                return i
        raise InputError(
            f"no setting within max_drop={max_drop:g} and budget_bytes={budget_bytes} passes "
            f"the confidence test (drop + {z:.3f} standard errors <= margin={margin:g}): on "
            f"{self.baseline['rows']} validation rows no drop is certain enough. Give more "
            "validation rows, raise the margin or the budget, or lower confidence")

    def best(self, max_drop: float = 0.01, budget_bytes: int | None = None,
             confidence: float | None = None, margin: float | None = None) -> TreeModel:
        """The smallest model whose metric on the validation rows is at most ``max_drop``
        below the uncompressed model's (absolute, e.g. 0.01 = 1 point of AUC) and, if given,
        at most ``budget_bytes``. ``report()`` says how it does on held-out rows.

        confidence : None, or a one-sided confidence level in [0.5, 1) (0.95 is usual): the
            pick must then also pass a non-inferiority test, drop + z * standard error <=
            ``margin`` (z the normal quantile, the standard error that of the paired drop on
            these rows, see ``drop_se``). On few validation rows the plain rule picks
            settings the rows happened to favour; this one asks for a smaller measured drop
            where the rows say little, and changes nothing where they say much.
        margin : the drop on new rows the test guards against; default ``max_drop``. E.g.
            ``best(0.01, confidence=0.95, margin=0.015)``: within 1 point on the validation
            rows, and with 95% confidence within 1.5 points on new rows like them."""
        return self.models[self._pick(max_drop, budget_bytes, confidence, margin)]

    def report(self, max_drop: float = 0.01, budget_bytes: int | None = None,
               confidence: float | None = None, margin: float | None = None) -> str:
        """One paragraph on the pick of ``best(max_drop, budget_bytes, confidence, margin)``:
        its settings, bytes, and metric on the validation rows and, when the sweep had them,
        the held-out rows."""
        i = self._pick(max_drop, budget_bytes, confidence, margin)
        r, b = self.rows[i], self.baseline
        kept = [f"{k}={r[k]!r}" for k in ("n_trees", "ccp_alpha", "refine",
                                           "leaves_per_class", "leaf_bits", "features")]
        text = (f"pick: {', '.join(kept)}: {r['bytes']} B, {b['bytes'] / r['bytes']:.1f}x "
                f"smaller than uncompressed ({b['bytes']} B; {r['kept_trees']} trees, "
                f"{r['n_nodes']} decision nodes). {self.metric} on validation "
                f"{r['metric']:.4f} vs {b['metric']:.4f} uncompressed (drop {r['drop']:+.4f}")
        if confidence is not None:
            text += (f"; standard error {self.drop_se(i):.4f}, so at confidence "
                     f"{confidence:g} the drop is at most "
                     f"{r['drop'] + _z(confidence) * self.drop_se(i):+.4f}")
        text += ")"
        if self.held_out is not None:
            held = self.score(self.models[i], *self.held_out)
            text += (f"; held out {held:.4f} vs {b['held_out']:.4f} (drop "
                     f"{b['held_out'] - held:+.4f})")
        text += "."
        se = b.get("standard_error", 0.0)
        if se > max_drop / 2 and confidence is None:
            text += (f" Caution: on {b['rows']} validation rows the uncompressed AUC has a "
                     f"standard error of about {se:.3f} (Hanley & McNeil), more than half of "
                     f"max_drop={max_drop:g}, and the pick is the smallest of "
                     f"{len(self.rows)} settings scored on them: it may lose more on new "
                     "data. Give more validation rows, or ask for a confidence bound: "
                     f"best(max_drop={max_drop:g}, confidence=0.95).")
        return text

    _COLUMNS = ("n_trees", "ccp_alpha", "refine", "leaves_per_class", "leaf_bits",
                "features", "bytes", "ratio", "metric", "drop", "n_nodes", "n_leaves")

    def _cells(self, r) -> list:
        dash = (lambda v: "-" if v is None else str(v))
        return [dash(r.get("n_trees")), f"{r.get('ccp_alpha', 0.0):g}",
                "yes" if r.get("refine") else "no", dash(r["leaves_per_class"]),
                dash(r["leaf_bits"]), r["features"], str(r["bytes"]),
                f"{r['bytes'] / self.baseline['bytes']:.2f}", f"{r['metric']:.4f}",
                f"{r['drop']:+.4f}", str(r["n_nodes"]), str(r["n_leaves"])]

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


def _z(confidence) -> float:
    """The standard normal quantile of a one-sided confidence level in [0.5, 1)."""
    from statistics import NormalDist
    if not (isinstance(confidence, numbers.Real) and not isinstance(confidence, bool)
            and 0.5 <= confidence < 1.0):
        raise invalid("confidence", confidence, "a number in the range [0.5, 1)",
                      owner="Sweep.best", remedy="Give a one-sided confidence level such as "
                      "0.95, or None for the plain rule.")
    return NormalDist().inv_cdf(confidence)


# Leaf settings every structure (kept trees, pruning, refinement) is first scored with.
_REFERENCE = (None, 8, "float32")


def _evaluate(pruned, structure, setting, X_val, y_val, metric, X_calib):
    lpc, bits, feats = setting
    model = compress_model(pruned, leaves_per_class=lpc, leaf_bits=bits, features=feats,
                           X_calib=X_calib)
    score = metric_fn(metric)(model, X_val, y_val)
    n_trees, ccp_alpha, refine = structure
    return model, {"n_trees": n_trees, "ccp_alpha": ccp_alpha, "refine": refine,
                   "leaves_per_class": lpc, "leaf_bits": model.leaf_bits, "features": feats,
                   "bytes": model.size_bytes, "metric": score, "n_nodes": model.n_nodes,
                   "n_leaves": model.n_leaves, "kept_trees": model.n_trees}


def _structure_job(routed, structure, setting, X_val, y_val, metric, X_calib):
    n_trees, ccp_alpha, refine = structure
    pruned = prune_model(routed, n_trees=n_trees, ccp_alpha=ccp_alpha, refine=refine)
    return (pruned, *_evaluate(pruned, structure, setting, X_val, y_val, metric, X_calib))


def _run(jobs, n, label, n_jobs):
    """joblib results in order, with a progress bar on a terminal (progress.py)."""
    from joblib import Parallel

    from . import progress
    if not progress.shown():
        return Parallel(n_jobs=n_jobs)(jobs)
    out = []
    with progress.bar(n, label, "setting") as b:
        for result in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
            out.append(result)
            b.update(1)
    return out


def _front(rows) -> list:
    """Indices of rows on the Pareto front of (bytes, metric)."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["bytes"], -rows[i]["metric"]))
    front, best = [], -np.inf
    for i in order:
        if rows[i]["metric"] > best:
            front.append(i)
            best = rows[i]["metric"]
    return front


def compression_sweep(estimator, X_val, y_val, *, X_train=None, y_train=None, X_test=None,
                      y_test=None, metric="roc_auc_ovo_weighted",
                      n_trees=(None, 32, 16, 8, 4, 2, 1), ccp_alpha=(0.0, 0.001, 0.003, 0.01,
                                                                     0.03),
                      refine=(False, True), leaves_per_class=(None, 16, 8, 4, 2, 1),
                      leaf_bits=(8, 4, 2, 0), features=("float32", "int16"), X_calib=None,
                      n_jobs=None) -> Sweep:
    """Compress with many settings and score each on (X_val, y_val).

    With labelled rows (``X_train``, ``y_train``) the sweep also prunes: every *structure*
    (``n_trees`` x ``ccp_alpha`` x ``refine``, see eml.compress) is built and scored with
    full-precision shared leaves (``leaves_per_class=None, leaf_bits=8``, float32
    features); the structures on that Pareto front (no other is both smaller and better)
    then get every leaf setting (``leaves_per_class`` x ``leaf_bits`` x ``features``).
    Without them, only the leaf settings are swept. ``n_trees`` values at or above the
    forest's size are skipped; ``ccp_alpha`` is scikit-learn's (impurity per leaf), scaled by
    the variance of ``y_train`` for regressors.

    Runs through joblib: ``n_jobs`` processes here, or any joblib backend that is active, e.g.
    a Dask cluster (``with joblib.parallel_config(backend="dask"): ...``). A progress bar
    counts the settings done when stderr is a terminal (progress.py).

    metric : name (see METRICS; higher is better) or callable metric(model, X, y) -> float.
    X_test, y_test : optional held-out rows; ``Sweep.report()`` then shows the pick's metric
        on them, so you see whether the choice made on validation data holds.
    X_calib : rows that set the int16 scales; default X_train, else X_val (no labels used).
    leaf_bits : ignored for regressors (always 32-bit fixed point).

    Returns a Sweep: ``.table()``, ``.plot()``, ``.pareto()``, ``.best(max_drop, budget,
    confidence, margin)``, ``.report(max_drop, budget, confidence, margin)``.
    """
    from joblib import delayed

    t0 = time.perf_counter()
    from .compression import _tree_model     # compression.py imports this module
    base = _tree_model(estimator)
    score = metric_fn(metric)
    X_val, y_val = _labelled(X_val, y_val, "X_val", "y_val")
    baseline = {"rows": len(X_val), "bytes": base.size_bytes,
                "metric": score(base, X_val, y_val)}
    if base.kind == "classifier" and isinstance(metric, str) and metric.startswith("roc_auc"):
        baseline["standard_error"] = auc_standard_error(base, X_val, y_val)
    if X_test is not None or y_test is not None:
        X_test, y_test = _labelled(X_test, y_test, "X_test", "y_test")
        baseline["held_out"] = score(base, X_test, y_test)
    clf = base.kind == "classifier"
    if not clf:
        leaf_bits = (None,)
    leaf_settings = list(itertools.product(tuple(leaves_per_class), tuple(leaf_bits),
                                           tuple(features)))
    if not leaf_settings:
        raise InputError("no settings to sweep: give at least one value per parameter")
    routed = None
    structures = [(None, 0.0, False)]
    if X_train is not None or y_train is not None:
        X_train, y_train = _labelled(X_train, y_train, "X_train", "y_train")
        routed = Routed(base, X_train, y_train)
        scale = 1.0 if clf else float(np.var(y_train.astype(np.float64))) or 1.0
        structures = list(itertools.product(
            [k for k in n_trees if k is None or k < base.n_trees],
            [float(a) * scale for a in ccp_alpha], [bool(r) for r in refine]))
        if not structures:
            raise InputError(f"no structures to sweep: n_trees={tuple(n_trees)}, "
                             f"ccp_alpha={tuple(ccp_alpha)}, refine={tuple(refine)} leave none "
                             f"for a forest of {base.n_trees} trees; give n_trees below "
                             "that, or None for all")
        routed.order          # once here, not in every worker
    if X_calib is None:
        X_calib = X_val if X_train is None else X_train
    ref = _REFERENCE if clf else (None, None, "float32")
    rows, models, chosen = [], [], [(base, structures[0])]
    if routed is not None:
        first = _run((delayed(_structure_job)(routed, st, ref, X_val, y_val, metric, X_calib)
                      for st in structures),
                     len(structures), "compression sweep: structures", n_jobs)
        rows = [r for _, _, r in first]
        models = [m for _, m, _ in first]
        chosen = [(first[i][0], structures[i]) for i in _front(rows)]
    jobs = [(p, st, ls) for p, st in chosen for ls in leaf_settings
            if routed is None or ls != ref]
    second = _run((delayed(_evaluate)(p, st, ls, X_val, y_val, metric, X_calib)
                   for p, st, ls in jobs), len(jobs), "compression sweep", n_jobs)
    models += [m for m, _ in second]
    rows += [r for _, r in second]
    for r in rows:
        r["drop"] = baseline["metric"] - r["metric"]
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    return Sweep(name, baseline, rows, models, time.perf_counter() - t0,
                 held_out=(X_test, y_test) if "held_out" in baseline else None,
                 score=score, validation=(X_val, y_val, base, metric))


def _labelled(X, y, x_name, y_name):
    if X is None or y is None:
        missing = x_name if X is None else y_name
        raise invalid(missing, None, f"both {x_name} and {y_name}",
                      owner="eml.compression_sweep", remedy="Pass the rows with their labels.")
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise InputError(f"{x_name} has {len(X)} rows, {y_name} {len(y)}: give one label "
                         "per row")
    return X, y
