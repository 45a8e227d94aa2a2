"""C flash without a cross compiler: the model's tables (exact bytes) plus the runtime code its
configuration compiles to (calibrated with arm-none-eabi-gcc, ``python -m
emlearn_lab.export.c_estimate``, stored in c_calibration.toml).

What the code costs depends on which runtime paths the model needs (feature form, node and
leaf encodings, the near-tie path; for networks the weight type and whether exp is used), and
for the inline form on the number of decision nodes. Each configuration's code bytes are a
constant (table form, networks) or a line in the node count (inline form), fitted per CPU.
Checked against real builds in tests/test_c_estimate.py and bench/bench_c_estimates.py.
"""
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..nets.model import NetModel
from . import _c_layout
from .c_build import CPUS

__all__ = ["c_flash_estimate", "CFlashEstimate", "signature"]

CALIBRATION = Path(__file__).with_name("c_calibration.toml")
_NET_LAYER_BYTES = {"float32": 16, "int8": 24}   # layer descriptors on a 32-bit target
_calibration: dict | None = None


@dataclass(frozen=True)
class CFlashEstimate:
    flash_bytes: int        # text + data of a firmware-like build, estimated
    data_bytes: int         # the model's tables: exact
    code_bytes: int         # runtime code for this configuration: calibrated
    cpu: str
    form: str
    signature: str
    note: str = ""

    def __repr__(self) -> str:
        note = f"; {self.note}" if self.note else ""
        return (f"CFlashEstimate({self.cpu}, form={self.form!r}: ~{self.flash_bytes} B flash = "
                f"{self.data_bytes} B tables + ~{self.code_bytes} B code{note})")


def _load() -> dict:
    global _calibration
    if _calibration is None:
        _calibration = tomllib.loads(CALIBRATION.read_text()) if CALIBRATION.exists() else {}
    return _calibration


def signature(model, form: str) -> tuple:
    """(group, components, table bytes, counts) of a model in a form, counts being (decision
    nodes, nodes whose threshold needs more than an 8-bit immediate, trees); the group
    ("trees-table", "trees-inline", "net") has its own additive code model, and the
    components name the runtime paths the model needs."""
    if isinstance(model, NetModel):
        int8 = model.int8 is not None
        exp = any(la.activation in ("sigmoid", "tanh") for la in model.layers[:-1])
        parts = ("weights=" + model.weights, "nonlinear=" + str(exp).lower())
        data = 0
        for i, la in enumerate(model.layers):
            data += la.weights.size * (1 if int8 else 4) + 4 * la.n_out
            if int8:
                data += la.n_out + (256 if model.int8.layers[i].lut is not None else 0)
        data += model.n_features if int8 else 0
        data += len(model.layers) * _NET_LAYER_BYTES[model.weights]
        return "net", parts, data, (0, 0, 0)
    tables = _c_layout.tables(model) if form == "table" else _c_layout.leaf_tables(model)
    f = tables.fields
    leaves = next(k for k, v in _c_layout.LEAVES.items() if v == f.get("leaves"))
    parts = ["features=" + _c_layout.features_kind(model), "leaves=" + leaves,
             "tie=" + str(bool(f.get("tie_margin"))).lower()]
    if form == "table":
        parts.append("nodes=" + ("packed" if f.get("layout") == 1 else
                                 "tindex" if f.get("tindex_bytes") else "split"))
    if form == "inline":
        if model.features == "int16":
            t = np.asarray(model.threshold, dtype=np.int64) - 32768
            wide = int(np.count_nonzero((t < 0) | (t > 255)))
        else:
            wide = model.n_nodes
        return "trees-inline", tuple(parts), tables.nbytes(), (model.n_nodes, wide,
                                                                model.n_trees)
    return "trees-table", tuple(parts), tables.nbytes(), (model.n_nodes, 0, model.n_trees)


def _terms(group: str, parts, counts: tuple) -> dict:
    """The code model's regressors: a constant, one per component, and for the inline form
    bytes per decision node depending on how its features compare."""
    terms = {"constant": 1.0, **{p: 1.0 for p in parts}}
    if group == "trees-inline":
        nodes, wide, trees = counts
        terms["per_node " + parts[0]] = float(nodes)
        # Thumb compares with an 8-bit immediate; other thresholds cost a literal load.
        terms["per_wide_node " + parts[0]] = float(wide)
        terms["per_tree"] = float(trees)
    return terms


def _code_bytes(coef: dict, group: str, parts, counts: tuple) -> tuple:
    """(bytes, terms the calibration has not seen)."""
    terms = _terms(group, parts, counts)
    unseen = [t for t in terms if t not in coef]
    return sum(coef.get(t, 0.0) * v for t, v in terms.items()), unseen


def c_flash_estimate(model, cpu: str = "cortex-m4f", form: str = "table") -> CFlashEstimate:
    """Estimated flash (text + data) of a model's C export on a Cortex-M, without compiling.

    Parameters
    ----------
    model : what :func:`emlearn_lab.export_c` takes.
    cpu : {"cortex-m0plus", "cortex-m4f"}
    form : {"table", "inline"} ("inline" for trees only)

    Returns
    -------
    CFlashEstimate
        Tables counted exactly; runtime code from the calibration. A configuration the
        calibration has not seen takes the mean of its form's, and says so in ``note``.
    """
    from .c_export import _check_form, dispatch
    if cpu not in CPUS:
        raise InputError(f"unknown cpu {cpu!r}: known are {', '.join(sorted(CPUS))}")
    exporter = dispatch(model)
    _check_form(exporter, form)
    group, parts, data, counts = signature(exporter.model, form)
    coef = _load().get(cpu, {}).get(group)
    if coef is None:
        raise InputError(f"no C size calibration for {cpu} {group}: run python -m "
                         "emlearn_lab.export.c_estimate with arm-none-eabi-gcc installed")
    code, unseen = _code_bytes(coef, group, parts, counts)
    note = f"not calibrated: {', '.join(unseen)} (counted as 0 B)" if unseen else ""
    code = max(int(round(code)), 0)
    return CFlashEstimate(data + code, data, code, cpu, form, " ".join((group, *parts)), note)


def _calibration_models():
    """A spread of models: every tree configuration the runtime has, and networks."""
    import warnings

    from sklearn.datasets import (
        load_breast_cancer,
        load_diabetes,
        load_digits,
        load_iris,
    )
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from .. import compress, convert
    Xc, yc = load_breast_cancer(return_X_y=True)
    data = {"iris": load_iris(return_X_y=True), "digits": load_digits(return_X_y=True),
            "cancer": (Xc, yc),
            # standardised: negative thresholds, so float32 features need keys
            "cancer_z": ((Xc - Xc.mean(axis=0)) / Xc.std(axis=0), yc)}
    for name, (X, y) in data.items():
        for seed, (n, leaves) in enumerate([(3, 8), (10, 40), (20, 100)]):
            for est in (RandomForestClassifier(n, max_leaf_nodes=leaves, random_state=seed),
                        ExtraTreesClassifier(n, max_leaf_nodes=leaves, random_state=seed)):
                clf = est.fit(X, y)
                yield convert(clf)
                yield convert(clf.estimators_[0])
                if name == "digits":
                    yield convert(clf, features="int16")
                for bits in (0, 4, 8):
                    yield compress(clf, leaves_per_class=4, leaf_bits=bits)
                yield compress(clf, leaves_per_class=4, leaf_bits=4, features="int16",
                               X_calib=X)
    Xd, yd = load_diabetes(return_X_y=True)
    for n, leaves in [(3, 8), (10, 50), (30, 150)]:
        reg = RandomForestRegressor(n, max_leaf_nodes=leaves, random_state=0).fit(Xd, yd)
        yield convert(reg)
        yield convert(reg.estimators_[0])
    X, y = data["digits"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for act in ("relu", "tanh", "logistic"):
            for hidden in ((8,), (32, 16), (48,)):
                mlp = MLPClassifier(hidden, activation=act, max_iter=20, random_state=0)
                mlp.fit(X, y)
                yield convert(mlp)
                yield convert(mlp, weights="int8", X_calib=X)


def calibrate(models=None) -> dict:
    """Fit the additive code model per (cpu, group) from real builds (c_size): code bytes =
    constant + one term per component present (+ bytes per decision node by feature form,
    inline form), least squares on relative error over the calibration models."""
    from .c_build import c_size
    samples: dict = {}
    for model in (models if models is not None else _calibration_models()):
        forms = ("table",) if isinstance(model, NetModel) else ("table", "inline")
        for form in forms:
            group, parts, data, counts = signature(model, form)
            for cpu in CPUS:
                s = c_size(model, cpu=cpu, form=form)
                flash = s.text_bytes + s.data_bytes
                samples.setdefault((cpu, group), []).append((parts, counts, flash - data,
                                                             flash))
    out: dict = {}
    for (cpu, group), pts in samples.items():
        rows = [_terms(group, parts, n) for parts, n, _, _ in pts]
        cols = sorted({t for r in rows for t in r})
        A = np.array([[r.get(c, 0.0) for c in cols] for r in rows])
        y = np.array([c for _, _, c, _ in pts], dtype=float)
        # Weighted by 1 / total flash: the fit minimises relative error, so small models
        # count as much as big ones. Minimum-norm where components are collinear.
        w = 1.0 / np.array([t for *_, t in pts], dtype=float)
        coef = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)[0]
        out.setdefault(cpu, {})[group] = {c: round(float(v), 3) for c, v in zip(cols, coef)}
    return out


def _write(table: dict, path: Path = CALIBRATION) -> None:
    lines = ["# C code bytes per runtime component (see c_estimate.py), fitted on real",
             "# arm-none-eabi-gcc -Os builds. Generated by python -m",
             "# emlearn_lab.export.c_estimate; do not edit.", ""]
    for cpu in sorted(table):
        for group in sorted(table[cpu]):
            lines.append(f'["{cpu}"."{group}"]')
            lines += [f'"{k}" = {v}' for k, v in table[cpu][group].items()]
            lines.append("")
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    _write(calibrate())
    print(f"wrote {CALIBRATION}", file=sys.stderr)
