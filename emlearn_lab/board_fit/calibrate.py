"""Measure the estimator's fixed RAM costs and per-operation times on the virtual device.

These figures serve the virtual device and the boards without an emulated core of their family
(Xtensa; ports without native code). Boards with one (Cortex-M0/M3/M4F, RV32IMC) use the
instructions and heap costs measured on that core: ``python -m
emlearn_lab.board_fit.calibrate_mcu`` (instructions.toml).

    python -m emlearn_lab.board_fit.calibrate        # rewrites emlearn_lab/board_fit/calibration.toml

Run it after changing anything under device_src/ or trees/inline.py: the test suite checks
that calibration.toml was made from the current runtime (its hash).

Heap: for each form (and the bytecode-kernel runtime of boards without native code), with and
without a tie file, a small reference model is loaded on a freshly started virtual device;
fixed cost = measured gc.mem_alloc() growth minus the model-sized buffers (memory.py). The
inline form's cost per extra viper function comes from a model split into two functions.

Latency: models of varied size are deployed and timed on the device; a non-negative least
squares fit of median us/predict against the work counts (latency.py) gives ns per
operation on this host.
"""
import os
import sys
from pathlib import Path

import numpy as np

from .latency import TERMS, work_counts
from .memory import runtime_hash

__all__ = ["measure_heap", "reference_models", "main"]

# Assumed, not measured (no CoreMark build is available offline here); see latency.py.
HOST_COREMARK_PER_MHZ = 6.0


def measure_heap(model, form: str, heap_bytes=None, bytecode: bool = False) -> int:
    """gc.mem_alloc() growth from importing the runtime and loading `model` as `form` on a
    freshly started virtual device (what a board sees after boot). bytecode: the runtime a
    board without native code gets (bytecode kernels), run on the virtual device."""
    import dataclasses

    from ..device.connect import connect
    from ..device.session import HELPERS, forget, send_bundle
    from .estimate import deploy_plan
    from .table import get_board
    board = get_board("virtual")
    if bytecode:
        board = dataclasses.replace(board, arch="none")
    _, bundle = deploy_plan(model, board, form)
    with connect("virtual", heap_bytes=heap_bytes) as dev:
        # The device-side steps of a deploy before its load (see session.forget).
        forget(dev, "model")
        dev.info
        send_bundle(dev, bundle.files, "model", "")
        dev.exec(HELPERS)
        runtime, loaded, _ = dev.eval(f"_emlab_load({bundle.modules!r}, {bundle.loader!r}, "
                                      f"{bundle.args!r}, 'model')", timeout_s=120)
    return runtime + loaded


def reference_models() -> dict:
    """Small models that isolate each fixed cost (deterministic: fixed seeds)."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    from ..conversion import convert
    from ..trees.compress import compress_model
    X, y = load_digits(return_X_y=True)
    plain = convert(DecisionTreeClassifier(max_leaf_nodes=8, random_state=0).fit(X, y))
    return {
        "plain": plain,
        "quantised": compress_model(plain, leaf_bits=None, features="int16", X_calib=X),
        "ties": convert(RandomForestClassifier(3, max_leaf_nodes=8, random_state=0).fit(X, y)),
        "two_functions": convert(RandomForestClassifier(
            10, random_state=0).fit(X, y)),
    }


def _buffers(form, model):
    """(model-sized heap bytes on x64, viper functions) of the model deployed as form."""
    from ..trees.inline import inline_layout
    from .memory import _buffers as buffers
    info = inline_layout(model)
    return buffers(form, model, 32, info), info["functions"]


def calibrate_heap() -> dict:
    models = reference_models()
    out = {}
    for form in ("loadable", "inline"):
        for key, ref in (("", "plain"), ("_ties", "ties")):
            buffers, _ = _buffers(form, models[ref])
            out[form + key] = measure_heap(models[ref], form) - buffers
    for key, ref in (("", "plain"), ("_ties", "ties")):
        buffers, _ = _buffers("loadable", models[ref])
        out["bytecode" + key] = measure_heap(models[ref], "loadable", bytecode=True) - buffers
    quantised = models["quantised"]
    for form, key in (("loadable", "loadable"), ("inline", "inline"), ("loadable", "bytecode")):
        buffers, _ = _buffers(form, quantised)
        out[key + "_quantiser"] = measure_heap(quantised, form, bytecode=key == "bytecode") \
            - buffers - out[key]
    two = models["two_functions"]
    buffers, functions = _buffers("inline", two)
    assert functions == 2, functions
    out["inline_per_function"] = measure_heap(two, "inline") - buffers - out["inline_ties"]
    return out


def latency_models() -> list:
    """(model, rows) pairs spanning features, trees, depth and classes."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, make_classification
    from sklearn.ensemble import RandomForestClassifier

    from dataclasses import replace

    from ..conversion import convert

    def deep(return_X_y=True):  # noisy labels: fully grown trees ~20 levels deep
        return make_classification(4000, 20, n_informative=10, flip_y=0.2, random_state=0)
    out = []
    # Varied so that visits, trees and features are not collinear: stumps, deep single trees.
    for loader, trees, leaves in ((load_iris, 1, 4), (load_iris, 20, 16), (load_iris, 80, 2),
                                  (load_digits, 3, 20), (load_digits, 10, 100),
                                  (load_digits, 30, 40), (load_digits, 60, 2),
                                  (load_breast_cancer, 5, 200), (load_breast_cancer, 40, 10),
                                  (load_digits, 1, 300), (deep, 1, None), (deep, 20, None),
                                  (deep, 20, 4)):
        X, y = loader(return_X_y=True)
        clf = RandomForestClassifier(trees, max_leaf_nodes=leaves, random_state=1).fit(X, y)
        out.append((convert(clf), X[::7][:16]))
        if (loader, trees) in ((load_digits, 10), (deep, 20), (load_breast_cancer, 5)):
            # Packed nodes (table thresholds), and offset thresholds on int16 features.
            out.append((replace(convert(clf), file_layout="packed"), X[::7][:16]))
            if loader is load_digits:
                Xi = X.astype("int16")
                out.append((replace(convert(clf.fit(Xi, y), features="int16"),
                                    file_layout="packed"), Xi[::7][:16]))
    return out


def measure_latency(dev, model, rows, form: str) -> float:
    """Median us per predict over the rows on the device."""
    report = dev.deploy(model, rows, form=form, repeats=300)
    return report.us_per_predict_median


def calibrate_latency() -> dict:
    from scipy.optimize import nnls

    from ..device.connect import connect
    out = {}
    models = latency_models()
    with connect("virtual") as dev:
        for form in ("loadable", "inline"):
            A, b = [], []
            for model, rows in models:
                visits = float(np.median(model.node_visits(rows)))
                counts = work_counts(form, model, visits)
                A.append([counts[t] for t in TERMS])
                b.append(measure_latency(dev, model, rows, form) * 1000.0)
            # Relative error counts: each row scaled by 1/measured, so small models weigh in.
            A, b = np.array(A), np.array(b)
            coef, _ = nnls(A / b[:, None], np.ones(len(b)))
            out[form] = {t: round(float(c), 3) for t, c in zip(TERMS, coef)}
    return out


def net_models() -> list:
    """(label, NetModel) for the network calibration: 1 and 3 Dense layers, float32 and int8,
    sizes from tiny to ~10k weights (deterministic: built from fixed seeds, no training)."""
    import numpy as np

    from ..nets.int8 import quantise_net
    from ..nets.model import DenseLayer, NetModel
    rng = np.random.default_rng(0)
    out = []
    # float32 inputs with a share of exact zeros, varied per network: the integer soft-float
    # layers skip a zero input cheaply, and the fit needs that share to vary to see it.
    zero_shares = (0.0, 0.75, 0.25, 0.5, 0.0, 0.5)
    for widths, zeros in zip(((8, 4), (64, 32, 10), (16, 24, 24, 3), (32, 96, 48, 10),
                              (100, 80, 2), (24, 16, 4)), zero_shares):
        layers = [DenseLayer(rng.standard_normal((a, b)).astype("f4"),
                             rng.standard_normal(b).astype("f4"),
                             "relu" if i < len(widths) - 2 else "softmax")
                  for i, (a, b) in enumerate(zip(widths, widths[1:]))]
        if widths[0] == 16:
            layers[0].activation = "tanh"
        if widths[0] == 24:
            layers[0].activation = "sigmoid"
        X = rng.standard_normal((50, widths[0]))
        for weights in ("float32", "int8"):
            net = NetModel("classifier", layers, "softmax", np.arange(widths[-1]),
                           source="calibration")
            if weights == "int8":
                net.int8 = quantise_net([(la.weights, la.bias, la.activation)
                                         for la in layers], X)
            rows = X if weights == "int8" else np.where(
                np.random.default_rng(len(widths)).random(X.shape) < zeros, 0.0, X)
            out.append((f"{weights} {widths}", net, rows))
    return out


def calibrate_net_heap() -> dict:
    """Fixed and per-layer costs of each network runtime: least squares over net_models of
    (measured gc.mem_alloc() growth - model-sized buffers)."""
    from .memory import block_round
    from .net_estimate import net_allocations, net_key
    out = {}
    for bytecode in (False, True):
        points: dict = {}
        for _, net, _ in net_models():
            if bytecode and net.int8 is None:
                continue                     # the float32 runtime is bytecode everywhere
            key = net_key(net, not bytecode)
            buffers = sum(block_round(n, 32) for n in net_allocations(net))
            rest = measure_heap(net, "loadable", bytecode=bytecode) - buffers
            points.setdefault(key, []).append((len(net.layers), rest))
        for key, pts in points.items():
            out[key], out[key + "_per_layer"] = fit_per_layer(pts)
    return out


def fit_per_layer(points) -> tuple:
    """(fixed, per_layer) bytes, rounded: least squares of cost = fixed + per_layer * n_layers
    over the (n_layers, cost) points."""
    A = np.array([[1.0, n] for n, _ in points])
    b = np.array([r for _, r in points], dtype=float)
    fixed, per_layer = np.linalg.lstsq(A, b, rcond=None)[0]
    return round(float(fixed)), round(float(per_layer))


def calibrate_net_latency() -> dict:
    """ns per call / feature / multiply-accumulate / neuron for each network runtime (NNLS on
    relative error, as for trees)."""
    import contextlib
    import dataclasses
    from unittest import mock

    import numpy as np
    from scipy.optimize import nnls

    from ..device.connect import connect
    from ..device.transport import Device
    from .net_estimate import NET_TERMS, net_key, net_work_counts
    out = {}
    for bytecode in (False, True):
        rows: dict = {}
        with connect("virtual") as dev:
            # A port without native code gets the bytecode runtime: drop the arch.
            no_arch = dataclasses.replace(dev.target, arch=None)
            patch = (mock.patch.object(Device, "target", property(lambda self: no_arch))
                     if bytecode else contextlib.nullcontext())
            with patch:
                for _, net, X in net_models():
                    if bytecode and net.int8 is None:
                        continue
                    key = net_key(net, not bytecode)
                    repeats = 300 if key == "net_int8" else 3
                    us = dev.deploy(net, X[:16], repeats=repeats).us_per_predict_median
                    counts = net_work_counts(net, X[:16])
                    rows.setdefault(key, []).append(([counts[t] for t in NET_TERMS],
                                                     us * 1000.0))
        for key, pts in rows.items():
            A = np.array([a for a, _ in pts])
            b = np.array([t for _, t in pts])
            coef, _ = nnls(A / b[:, None], np.ones(len(b)))
            out[key] = {t: round(float(c), 3) for t, c in zip(NET_TERMS, coef)}
    return out


def _host_mhz() -> float:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return round(float(line.split(":")[1]), 0)
    except OSError:
        pass
    return 0.0


def render(heap: dict, latency: dict) -> str:
    lines = [
        "# Written by `python -m emlearn_lab.board_fit.calibrate`; do not edit by hand.",
        "# heap_x64: fixed gc.mem_alloc() costs in bytes on the virtual device (unix port, x64)",
        "# latency_x64: ns per operation on the calibrating host (see latency.py)",
        "", "[heap_x64]", f'runtime_hash = "{runtime_hash()}"',
        f'net_runtime_hash = "{runtime_hash(networks=True)}"']
    lines += [f"{k} = {int(v)}" for k, v in heap.items()]
    lines += ["", "[latency_x64]", f"host_mhz = {_host_mhz()}",
              f"host_coremark_per_mhz = {HOST_COREMARK_PER_MHZ}",
              'host_coremark_source = "assumption: a current out-of-order x86-64 core, about '
              '6 CoreMark/MHz; not measured here (no CoreMark build offline)"']
    for form, coef in latency.items():
        lines += ["", f"[latency_x64.{form}]"] + [f"{t} = {v}" for t, v in coef.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    target = Path(__file__).with_name("calibration.toml")
    heap = {**calibrate_heap(), **calibrate_net_heap()}
    print("heap fixed costs:", heap)
    latency = {**calibrate_latency(), **calibrate_net_latency()}
    print("latency ns per operation:", latency)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(render(heap, latency))
    os.replace(tmp, target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
