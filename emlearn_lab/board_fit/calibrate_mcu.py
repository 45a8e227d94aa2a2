"""Measure instructions per operation and fixed heap costs on the emulated cores.

    python -m emlearn_lab.board_fit.calibrate_mcu                 # all cores with firmware
    python -m emlearn_lab.board_fit.calibrate_mcu cortex-m3       # one core (others kept)
    python -m emlearn_lab.board_fit.calibrate_mcu --latency-only cortex-m3   # keep its heap costs
    python -m emlearn_lab.board_fit.calibrate_mcu --refit          # refit the stored counts

Rewrites emlearn_lab/board_fit/instructions.toml. Deterministic: the emulated boards count
instructions (qemu -icount), so a run on a loaded host gives the same figures (to the few
instructions of ticks_us rounding spread over the repeats).

Latency: each model of ``tree_models`` / ``net_models`` is deployed on the emulated core and
timed (deploy's median instructions per predict over the rows); a non-negative least-squares
fit, on relative error, of those counts against the work counts (latency.work_counts,
net_estimate.net_work_counts) gives instructions per call, feature, node visit, tree, output,
leaf value added and quantised feature (trees, per form) and per call, feature,
multiply-accumulate, neuron (networks, per runtime).

Heap: each reference model is deployed on a freshly started emulated board; the fixed cost is
deploy's gc.mem_alloc() growth (runtime + model) minus the model-sized buffers and machine
code that memory.py computes exactly (16-byte GC blocks on these 32-bit cores).
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["tree_models", "net_models", "calibrate_core", "main"]

_TARGET = Path(__file__).with_name("instructions.toml")


def tree_models() -> list:
    """(label, model, rows): stumps to deep single trees, 4 to 64 features, 1 to 60 trees, 1 to
    10 outputs, regressors, int16 and compressed models (dense leaves, learned int16 scales), so
    that the work counts are not collinear; small enough for the slow UART. None of them is a
    model of bench/bench_estimates.py (which checks the estimates on other models)."""
    from sklearn.datasets import (load_breast_cancer, load_digits, load_iris,
                                  make_classification, make_regression)
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.tree import DecisionTreeRegressor

    from ..conversion import convert
    from ..trees.compress import compress_model

    def deep(return_X_y=True):
        return make_classification(2000, 20, n_informative=10, flip_y=0.2, random_state=0)

    def five(return_X_y=True):
        return make_classification(1500, 8, n_informative=6, n_classes=5, random_state=1)
    out = []
    for loader, trees, leaves in ((load_iris, 1, 4), (load_iris, 20, 16), (load_iris, 60, 2),
                                  (load_digits, 3, 20), (load_digits, 10, 60),
                                  (load_digits, 30, 8), (load_breast_cancer, 5, 100),
                                  (deep, 1, 300), (deep, 20, 4), (five, 15, 30)):
        X, y = loader(return_X_y=True)
        clf = RandomForestClassifier(trees, max_leaf_nodes=leaves, random_state=1).fit(X, y)
        out.append((f"{loader.__name__} RF {trees} leaves {leaves}", convert(clf), X[::7][:16]))
    Xr, yr = make_regression(600, 12, n_informative=8, noise=5.0, random_state=2)
    out.append(("regression RF 8 leaves 30", convert(RandomForestRegressor(
        8, max_leaf_nodes=30, random_state=1).fit(Xr, yr)), Xr[::7][:16]))
    out.append(("regression DT leaves 60", convert(DecisionTreeRegressor(
        max_leaf_nodes=60, random_state=1).fit(Xr, yr)), Xr[::7][:16]))
    Xd, yd = load_digits(return_X_y=True)
    Xi = Xd.astype("int16")
    out.append(("digits int16 RF 8 leaves 30", convert(RandomForestClassifier(
        8, max_leaf_nodes=30, random_state=1).fit(Xi, yd), features="int16"), Xi[::7][:16]))
    rf = convert(RandomForestClassifier(8, max_leaf_nodes=30, random_state=2).fit(Xd, yd))
    out.append(("digits RF 8 compressed 6-bit int16 learned", compress_model(
        rf, leaf_bits=6, features="int16", X_calib=Xd), Xd[::7][:16]))
    Xc, yc = load_breast_cancer(return_X_y=True)
    rc = convert(RandomForestClassifier(12, max_leaf_nodes=20, random_state=2).fit(Xc, yc))
    out.append(("cancer RF 12 compressed 0-bit", compress_model(rc, leaf_bits=0),
                Xc[::7][:16]))
    return out + packed_variants(out)


def packed_variants(models) -> list:
    """Some of the models again with packed nodes (their table or offset thresholds, as the
    smallest packing gives them), so that the extra cost of a packed visit is measured."""
    from dataclasses import replace

    from ..trees.packing import pack
    out = []
    for label, model, rows in models:
        packed = pack(model)[0]
        if packed is not None and model.quantiser is None and (
                label.startswith(("load_digits RF 10", "deep RF 1 ", "digits int16", "five"))):
            out.append((label + f" packed {'table' if packed.packing.table else 'offsets'}",
                        replace(model, file_layout="packed"), rows))
    return out


def net_models() -> list:
    from .calibrate import net_models as nets
    return [n for n in nets() if n[1].int8 is not None or n[1].n_macs <= 2500]


def _instructions(dev, model, rows, form, repeats) -> float:
    """Median instructions per predict of ``model`` deployed on a freshly soft-reset board:
    the port's map lookup cache (MICROPY_OPT_MAP_LOOKUP_CACHE, on in the qemu firmware) is
    indexed by object addresses, so attribute lookups cost more or less with the heap layout
    that the models measured before left behind (540 instructions per int8 net predict on the
    Cortex-M0 in one sequence); after a reset a figure depends on this model alone, as a
    deploy after boot does."""
    dev.reset()
    report = dev.deploy(model, rows, form=form, repeats=repeats)
    assert report.n_disagreements == 0, report
    return report.instructions_per_predict_median


def measure_latency(dev) -> dict:
    """{runtime: {model label: median instructions per predict}} on this emulated board."""
    from .net_estimate import net_key
    out: dict = {}
    for label, model, rows in tree_models():
        for form in ("loadable", "inline"):
            got = _instructions(dev, model, rows, form, 100)
            print(f"  {label} {form}: {got:.0f}", flush=True)
            out.setdefault(form, {})[label] = got
    for label, net, X in net_models():
        repeats = 100 if net.int8 is not None else 2
        got = _instructions(dev, net, X[:8], "auto", repeats)
        print(f"  {label}: {got:.0f}", flush=True)
        out.setdefault(net_key(net, True), {})[label] = got
    return out


def fit_latency(measured: dict, arch: str | None = None) -> dict:
    """Instructions per operation: NNLS on relative error of the measured counts against the
    work counts of the same models (the median row's count of each term: the device reports
    the median over rows) on a core of mpy-cross arch `arch`."""
    from scipy.optimize import nnls

    from .latency import MCU_TERMS, leaf_values, work_counts
    from .net_estimate import NET_TERMS, net_work_counts
    trees = {label: (model, rows) for label, model, rows in tree_models()}
    nets = {label: (net, X) for label, net, X in net_models()}
    out = {}
    for key, points in measured.items():
        A, b = [], []
        for label, got in points.items():
            if key in ("loadable", "inline"):
                model, rows = trees[label]
                counts = work_counts(key, model, float(np.median(model.node_visits(rows))),
                                     float(np.median(leaf_values(model, rows, key, arch))), arch)
                terms = MCU_TERMS
            else:
                net, X = nets[label]
                counts, terms = net_work_counts(net, X[:8]), NET_TERMS
            A.append([counts[t] for t in terms])
            b.append(got)
        A, b = np.array(A, dtype=float), np.array(b, dtype=float)
        coef, _ = nnls(A / b[:, None], np.ones(len(b)))
        out[key] = {t: round(float(c), 2) for t, c in zip(terms, coef)}
        worst = np.max(np.abs(A @ coef / b - 1))
        print(f"  {key}: fit {out[key]}, worst relative error {worst:.1%}", flush=True)
    return out


def _measured_heap(core: str, model, form: str) -> int:
    """gc.mem_alloc() growth of runtime + model deployed on a freshly started board."""
    from ..device.connect import connect
    with connect(f"emulated:{core}") as dev:
        report = dev.deploy(model, None, form=form, verify=False)
        return report.runtime_ram_bytes + report.model_ram_bytes


def _variable_heap(core: str, model, form: str) -> int:
    """Model-sized buffers + machine code in the heap, as the estimate computes them."""
    from .estimate import estimate
    est = estimate(model, f"emulated:{core}", form)
    return est.heap.buffer_bytes + est.heap.native_code_bytes


def calibrate_heap(core: str) -> dict:
    from ..exceptions import DeviceMemoryError
    from .calibrate import reference_models
    models = reference_models()
    out = {}

    def fixed(model, form):
        return _measured_heap(core, model, form) - _variable_heap(core, model, form)
    for form in ("loadable", "inline"):
        out[form] = fixed(models["plain"], form)
        out[form + "_ties"] = fixed(models["ties"], form)
        out[form + "_quantiser"] = fixed(models["quantised"], form) - out[form]
    try:
        out["inline_per_function"] = fixed(models["two_functions"], "inline") - out["inline_ties"]
    except DeviceMemoryError:
        # Its two functions of machine code do not fit this core's ~198 KiB heap (armv6m's
        # Thumb-1 code is larger): the x64 figure, scaled to 32-bit words.
        from .memory import calibration
        out["inline_per_function"] = calibration()["heap_x64"]["inline_per_function"] // 2
    from .net_estimate import net_key
    pts: dict = {}
    for _, net, _ in net_models():
        pts.setdefault(net_key(net, True), []).append((len(net.layers), fixed(net, "auto")))
    from .calibrate import fit_per_layer
    for key, p in pts.items():
        out[key], out[key + "_per_layer"] = fit_per_layer(p)
    return out


def calibrate_core(core: str, heap: bool = True) -> dict:
    from ..device.connect import connect
    t0 = time.time()
    with connect(f"emulated:{core}") as dev:
        measured = measure_latency(dev)
    from .cores import CORE_ARCH
    latency = fit_latency(measured, CORE_ARCH[core])
    print(f"{core}: latency {latency} ({time.time() - t0:.0f} s)", flush=True)
    heap = calibrate_heap(core) if heap else _read()["heap"].get(core, {})
    print(f"{core}: heap {heap} ({time.time() - t0:.0f} s)", flush=True)
    return {"latency": latency, "heap": heap, "measured": measured}


# Default cycles per instruction of each core family, for boards that give none (see
# boards.toml's cpi figures for the sourced per-board values).
CPI_DEFAULT = {
    "cortex-m0": (1.4, "estimate: Cortex-M0+ Technical Reference Manual (ARM DDI 0484C), "
                       "'Processor instruction timings': 1 cycle for ALU operations, 2 for "
                       "loads/stores and taken branches; an interpreter is ~35% "
                       "loads/stores and ~15% taken branches -> ~1.4, zero wait states"),
    "cortex-m3": (1.3, "estimate: Cortex-M3 Technical Reference Manual (ARM DDI 0337I) "
                       "section 18.2 'Instruction timings': loads 2 cycles (pipelined to 1 "
                       "when consecutive), taken branches 1+P with P = 1-3 refill cycles; "
                       "~1.3 for interpreter code at zero wait states"),
    "cortex-m4f": (1.3, "estimate: Cortex-M4 Technical Reference Manual (ARM DDI 0439B) "
                        "section 3.3 'Instruction set summary' cycle counts, the same "
                        "pipeline as the M3: ~1.3 at zero wait states"),
    "rv32imc": (1.3, "estimate: ESP32-C3 Technical Reference Manual, 'CPU' chapter: in-order "
                     "4-stage pipeline, most instructions 1 cycle, loads 2 (use stall), taken "
                     "branches 2-3; ~1.3 from cache"),
}


def render(data: dict) -> str:
    from .memory import runtime_hash
    lines = [
        "# Written by `python -m emlearn_lab.board_fit.calibrate_mcu`; do not edit by hand.",
        "# latency.CORE.RUNTIME: instructions per operation, measured on the emulated core",
        "#   (qemu -icount shift=0: time.ticks_us() counts 1000 instructions per us), NNLS",
        "#   fit over the models of calibrate_mcu.tree_models / net_models.",
        "# heap.CORE: fixed gc.mem_alloc() costs in bytes on that core (32-bit words).",
        "# measured.CORE.RUNTIME: median instructions per predict of each calibration model",
        "#   (what the fit was made from: `calibrate_mcu --refit` refits without a board).",
        "", f'runtime_hash = "{runtime_hash()}"',
        f'net_runtime_hash = "{runtime_hash(networks=True)}"', "", "[cpi_default]"]
    for core, (cpi, source) in CPI_DEFAULT.items():
        lines.append(f'{core} = {{ cpi = {cpi}, source = "{source}" }}')
    for core, entry in sorted(data.get("latency", {}).items()):
        lines += ["", f'[source."{core}"]',
                  f'firmware = "{entry.get("firmware", "")}"',
                  f'measured = "{entry.get("measured", "")}"']
    for core, runtimes in sorted(data.get("latency", {}).items()):
        for key, coef in runtimes.items():
            if isinstance(coef, dict):
                lines += ["", f'[latency."{core}".{key}]'] + \
                    [f"{t} = {v}" for t, v in coef.items()]
    for core, runtimes in sorted(data.get("measured", {}).items()):
        for key, points in runtimes.items():
            lines += ["", f'[measured."{core}".{key}]'] + \
                [f'"{label}" = {got:.1f}' for label, got in points.items()]
    for core, heap in sorted(data.get("heap", {}).items()):
        lines += ["", f'[heap."{core}"]'] + [f"{k} = {int(v)}" for k, v in heap.items()]
    return "\n".join(lines) + "\n"


def _read() -> dict:
    import tomllib
    old = tomllib.loads(_TARGET.read_text()) if _TARGET.is_file() else {}
    data = {"latency": dict(old.get("latency", {})), "heap": dict(old.get("heap", {})),
            "measured": dict(old.get("measured", {}))}
    for core, src in old.get("source", {}).items():
        data["latency"].setdefault(core, {}).update(src)
    return data


def main(argv=None) -> int:
    from ..device.emulated import BOARDS, find_firmware
    from .cores import CORE_ARCH
    argv = sys.argv[1:] if argv is None else argv
    heap = "--latency-only" not in argv
    cores = [a for a in argv if not a.startswith("--")]
    if "--refit" in argv:
        data = _read()
        for core in cores or list(data["measured"]):
            print(core, flush=True)
            sources = {k: v for k, v in data["latency"].get(core, {}).items()
                       if not isinstance(v, dict)}
            data["latency"][core] = {**sources,
                                     **fit_latency(data["measured"][core], CORE_ARCH[core])}
        _write(data)
        return 0
    cores = cores or [c for c in CORE_ARCH if find_firmware(c) is not None]
    for core in cores:
        got = calibrate_core(core, heap=heap)
        data = _read()           # re-read: another core may have been written meanwhile
        data["measured"][core] = got["measured"]
        data["latency"][core] = {**got["latency"],
                                 "firmware": BOARDS[core].firmware + " (MicroPython v1.28.0)",
                                 "measured": f"emulated:{core}, "
                                             f"{time.strftime('%Y-%m-%d')}, "
                                             f"{len(tree_models())} tree models x 2 forms, "
                                             f"{len(net_models())} networks"}
        data["heap"][core] = got["heap"]
        _write(data)
        print(f"wrote {_TARGET} ({core})", flush=True)
    return 0


def _write(data: dict) -> None:
    tmp = _TARGET.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(render(data))
    os.replace(tmp, _TARGET)


if __name__ == "__main__":
    sys.exit(main())
