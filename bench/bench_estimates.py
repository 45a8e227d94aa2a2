"""Benchmark: board estimates (eml.estimate) checked against measurements.

1. RAM and flash on the virtual device, models of varied size, task, features and form: each
   deployed on a freshly started device whose heap is set to a board's typical free heap;
   estimate vs gc.mem_alloc() growth (deploy's runtime + model RAM) and vs the sizes of the
   files on the device's filesystem; the estimate's fits verdict vs whether the load succeeded.
2. Flash for every architecture mpy-cross supports: the estimate's bytes vs the runtime
   compiled by running the mpy-cross binary directly, written to the device's filesystem and
   read back with os.stat.
3. Latency on the virtual device: estimate vs measured median us/predict.

4. Emulated cores (``--mcu CORE [CORE ...]``): every model of models() that fits (trees in both
   forms, int16 and compressed trees, regressors, networks float32 and int8) deployed on a
   freshly started emulated board: estimated instructions per predict (per row, the rows'
   median) vs the median the board measured (qemu -icount: exact), and estimated RAM vs
   deploy's gc.mem_alloc() growth (runtime + model; machine code is in the heap there).

    python3 bench/bench_estimates.py
    python3 bench/bench_estimates.py --mcu cortex-m3 cortex-m0 rv32imc cortex-m4f

Writes bench/results/estimates.json and bench/results/estimates.md (--mcu:
estimates_mcu.json and estimates_mcu.md, each core's rows replaced, other cores' kept).
"""
import dataclasses
import json
import platform
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_friedman1,
)
from sklearn.ensemble import (
    ExtraTreesClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import emlearn_lab as eml
from emlearn_lab.board_fit.calibrate import measure_heap
from emlearn_lab.board_fit.estimate import board_target, deploy_plan
from emlearn_lab.runtime.build import ARCHS, mpy_cross_binary
from emlearn_lab.device_src import device_source
from emlearn_lab.exceptions import DeviceMemoryError

HERE = Path(__file__).parent
warnings.simplefilter("ignore", RuntimeWarning)


def models() -> list:
    """(label, model, rows) of varied size, task, features: trees and networks."""
    out = []
    Xd, yd = load_digits(return_X_y=True)
    Xi, yi = load_iris(return_X_y=True)
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xw, yw = load_wine(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    Xf, yf = make_friedman1(600, random_state=0)

    def add(label, est, X, y, features="float32"):
        Xc = X.astype(np.int16) if features == "int16" else X
        out.append((label, eml.convert(est.fit(Xc, y), features=features), Xc[::5][:32]))

    add("iris DT depth 3", DecisionTreeClassifier(max_depth=3, random_state=0), Xi, yi)
    add("iris RF 5", RandomForestClassifier(5, random_state=0), Xi, yi)
    add("wine RF 20 leaves 8", RandomForestClassifier(20, max_leaf_nodes=8, random_state=0),
        Xw, yw)
    add("cancer RF 10", RandomForestClassifier(10, random_state=0), Xb, yb)
    add("cancer ET 30 leaves 16", ExtraTreesClassifier(30, max_leaf_nodes=16, random_state=0),
        Xb, yb)
    add("digits DT", DecisionTreeClassifier(random_state=0), Xd, yd)
    add("digits RF 10 leaves 100", RandomForestClassifier(10, max_leaf_nodes=100,
                                                          random_state=1), Xd, yd)
    add("digits RF 30 leaves 200", RandomForestClassifier(30, max_leaf_nodes=200,
                                                          random_state=0), Xd, yd)
    add("digits RF 60 leaves 30", RandomForestClassifier(60, max_leaf_nodes=30,
                                                         random_state=0), Xd, yd)
    add("digits int16 RF 10", RandomForestClassifier(10, max_leaf_nodes=60, random_state=0),
        Xd, yd, "int16")
    add("diabetes DT regressor", DecisionTreeRegressor(max_leaf_nodes=40, random_state=0),
        Xr, yr)
    add("diabetes RF regressor 10", RandomForestRegressor(10, max_leaf_nodes=50,
                                                          random_state=0), Xr, yr)
    add("friedman RF regressor 25", RandomForestRegressor(25, max_depth=8, random_state=0),
        Xf, yf)
    # Networks (float32 and int8 weights), trained briefly: size is what matters here.
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    Xz = (Xb - Xb.mean(axis=0)) / Xb.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for label, X, y, hidden, act in (("digits MLP 32", Xd, yd, (32,), "relu"),
                                         ("digits MLP 64-32 tanh", Xd, yd, (64, 32), "tanh"),
                                         ("cancer MLP 16", Xz, yb, (16,), "logistic"),
                                         ("digits MLP 256-128", Xd, yd, (256, 128), "relu")):
            mlp = MLPClassifier(hidden_layer_sizes=hidden, activation=act, max_iter=20,
                                random_state=0).fit(X, y)
            out.append((label + " float32", eml.convert(mlp), X[::5][:16]))
            out.append((label + " int8", eml.convert(mlp, weights="int8", X_calib=X),
                        X[::5][:16]))
    return out


def measure(label, model, rows, form, heap_bytes) -> dict:
    """Deploy on a fresh virtual device with this heap; estimate against what it had free.
    rows=None: load only (no verification, whose file transfers need heap of their own)."""
    with eml.connect("virtual", heap_bytes=heap_bytes) as dev:
        free = dev.info["heap_free_bytes"]
        board = dataclasses.replace(eml.get_board("virtual"), heap_bytes=free)
        est = eml.estimate(model, board, form, rows)
        if rows is None:
            est_lat = eml.estimate(model, "virtual", form)
            est.latency = est_lat.latency
        row = {"model": label, "form": est.form, "heap_bytes": heap_bytes, "free_bytes": free,
               "ram_estimate": est.ram_bytes, "flash_estimate": est.flash_bytes,
               "fits_estimate": est.fits, "verdict": est.verdict,
               "latency_estimate_us": est.latency_us,
               "largest_block": est.heap.largest_block_bytes,
               "nodes": getattr(model, "n_nodes", 0)}
        try:
            report = dev.deploy(model, rows, form=est.form, repeats=100)
        except DeviceMemoryError:
            return dict(row, loaded=False)
        sizes = dict(dev.listdir())
        row.update(loaded=True, ram_measured=report.runtime_ram_bytes + report.model_ram_bytes,
                   flash_on_device=sum(sizes[p] for p, _ in est.files),
                   agreement=report.agreement,
                   latency_measured_us=report.us_per_predict_median)
    row["ram_error"] = row["ram_estimate"] / row["ram_measured"] - 1
    return row


def ram_checks() -> list:
    """Every model in both forms (inline where it compiles), on a 2 MiB heap; then the larger
    ones on heaps of small boards, where some do not fit."""
    rows = []
    cases = models()
    for label, model, X in cases:
        for form in ("loadable", "inline"):
            if form == "inline" and getattr(model, "n_nodes", 10**9) > 4000:
                continue            # networks have no inline form
            rows.append(measure(label, model, X, form, None))
            print(rows[-1], flush=True)
    # Boards without native code: the bytecode-kernel runtime, loaded on the virtual device.
    bytecode = dataclasses.replace(eml.get_board("virtual"), arch="none")
    for label, model, _ in cases[:8]:
        est = eml.estimate(model, bytecode, "loadable")
        measured = measure_heap(model, "loadable", bytecode=True)
        rows.append({"model": label, "form": "loadable (bytecode kernels)",
                     "heap_bytes": None, "free_bytes": bytecode.heap_bytes,
                     "ram_estimate": est.ram_bytes, "flash_estimate": est.flash_bytes,
                     "fits_estimate": est.fits, "verdict": est.verdict,
                     "latency_estimate_us": None, "largest_block": est.heap.largest_block_bytes,
                     "nodes": model.n_nodes, "loaded": True, "ram_measured": measured,
                     "flash_on_device": None, "ram_error": est.ram_bytes / measured - 1})
        print(rows[-1], flush=True)
    # Toward the limit: heaps sized so the model takes about 30% to 90% of what is free after
    # boot (the device's own objects take ~10 kB on x64); load only.
    big = [c for c in cases if getattr(c[1], "n_nodes", 0) > 500]
    for (label, model, X), share in zip(big * 2, [0.3, 0.4, 0.5, 0.6, 0.45, 0.55, 0.7, 0.9]):
        need = eml.estimate(model, "virtual", "loadable").ram_bytes
        rows.append(dict(measure(label, model, None, "loadable", int(need / share) + 10_000),
                         target_share=share))
        print(rows[-1], flush=True)
    return rows


def _mpy_cross_direct(name: str, target, native: bool) -> int:
    """Bytes of device_src/name.py compiled by invoking the mpy-cross binary ourselves."""
    binary = mpy_cross_binary(target)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / (name + ".py")
        src.write_text(device_source(name + ".py"))
        args = [str(binary), "-X", "heapsize=268435456", "-o", str(src.with_suffix(".mpy")),
                "-s", name + ".py"] + (["-march=" + target.arch] if native else []) + [str(src)]
        subprocess.run(args, check=True, capture_output=True)
        return src.with_suffix(".mpy").stat().st_size


def flash_checks() -> list:
    """Per arch: estimate's file bytes vs mpy-cross run directly and vs the device fs."""
    out = []
    label, model, _ = models()[6]        # digits RF 10 leaves 100
    virtual = eml.get_board("virtual")
    with eml.connect("virtual") as dev:
        for arch in ARCHS[1:]:
            board = dataclasses.replace(virtual, id=f"virtual-{arch}", arch=arch)
            if mpy_cross_binary(board_target(board)) is None:
                continue
            try:
                est = eml.estimate(model, board, "loadable")
            except eml.BuildError as e:      # an -march this mpy-cross does not know
                out.append({"arch": arch, "error": str(e).splitlines()[0]})
                continue
            direct = 0
            for path, size in est.files:
                name = path[:-4]
                if path.endswith(".mpy"):
                    direct += _mpy_cross_direct(name, board_target(board),
                                                native=name == "emltrees_kernels")
                else:
                    direct += size       # model and tie files: written as is
            for art in deploy_plan(model, board, "loadable")[1].files:
                dev.write_file(f"arch_{arch}_{art.path}", art.data)
            on_fs = dict(dev.listdir())
            fs = sum(on_fs[f"arch_{arch}_{p}"] for p, _ in est.files)
            native = any(p == "emltrees_kernels.mpy" for p, _ in est.files)
            out.append({"arch": arch, "native": native, "estimate": est.flash_bytes,
                        "mpy_cross_direct": direct,
                        "on_device_fs": fs, "off_by": est.flash_bytes - fs})
            print(out[-1], flush=True)
    return out


def write(ram: list, flash: list) -> None:
    loaded = [r for r in ram if r["loaded"]]
    errs = [abs(r["ram_error"]) for r in loaded]
    said_fits = [r for r in ram if r["fits_estimate"]]
    lat = [r["latency_estimate_us"] / r["latency_measured_us"] for r in loaded
           if r.get("latency_measured_us")]
    summary = {
        "models_measured": len(loaded), "ram_max_abs_error": max(errs),
        "ram_median_abs_error": float(np.median(errs)),
        "ram_within_5pct": int(sum(e <= 0.05 for e in errs)),
        "flash_exact_on_virtual": int(sum(r["flash_estimate"] == r["flash_on_device"]
                                          for r in loaded if r["flash_on_device"] is not None)),
        "flash_checked_on_virtual": int(sum(r["flash_on_device"] is not None for r in loaded)),
        "estimated_to_fit": len(said_fits),
        "estimated_to_fit_and_loaded": int(sum(r["loaded"] for r in said_fits)),
        "failed_to_load": int(sum(not r["loaded"] for r in ram)),
        "failed_to_load_estimated_not_to_fit": int(sum(not r["loaded"] and not r["fits_estimate"]
                                                       for r in ram)),
        "estimated_tight": int(sum(r["verdict"] == "tight" for r in ram)),
        "estimated_tight_and_loaded": int(sum(r["verdict"] == "tight" and r["loaded"]
                                              for r in ram)),
        "flash_archs_exact": int(sum(f.get("off_by") == 0 for f in flash)),
        "flash_archs": len(flash),
        "latency_ratio_median": float(np.median(lat)),
        "latency_ratio_range": [float(min(lat)), float(max(lat))],
        "machine": platform.platform(), "python": sys.version.split()[0]}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "estimates.json").write_text(json.dumps(
        {"summary": summary, "ram": ram, "flash": flash}, indent=1, default=str))
    lines = ["# Board estimates vs measurements (bench/bench_estimates.py)", "",
             "## Summary", ""] + [f"- {k}: {v}" for k, v in summary.items()] + [
        "", "## RAM, flash and latency on the virtual device", "",
        "| model | form | heap free B | RAM/free | largest block/free | verdict (est.) | loaded |"
        " RAM est. B | RAM meas. B | error | flash est. B | on device B | us est. | us meas. |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    def num(v):
        return "-" if v is None else f"{v:.3g}"

    for r in ram:
        meas = (f"{r['ram_measured']} | {r['ram_error']:+.2%} | {r['flash_estimate']} | "
                f"{r['flash_on_device'] or '-'}") if r["loaded"] else \
            f"- | - | {r['flash_estimate']} | -"
        lines.append(f"| {r['model']} | {r['form']} | {r['free_bytes']} | "
                     f"{r['ram_estimate'] / r['free_bytes']:.0%} | "
                     f"{r['largest_block'] / r['free_bytes']:.0%} | {r['verdict']} | "
                     f"{r['loaded']} | {r['ram_estimate']} | {meas} | "
                     f"{num(r['latency_estimate_us'])} | {num(r.get('latency_measured_us'))} |")
    lines += ["", "## Flash per architecture (loadable, digits RF 10 leaves 100)", "",
              "| arch | native kernels | estimate B | mpy-cross run directly B | on device fs B |"
              " off by |", "|---|---|---|---|---|---|"]
    for f in flash:
        if "error" in f:
            lines.append(f"| {f['arch']} | {f['error']} | | | | |")
        else:
            lines.append(f"| {f['arch']} | {f['native']} | {f['estimate']} | "
                         f"{f['mpy_cross_direct']} | "
                         f"{f['on_device_fs']} | {f['off_by']} |")
    (HERE / "results" / "estimates.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def mcu_models() -> list:
    """models() without the largest float32 network (200 kB of weights: more than the
    emulated boards' heap) plus a compressed forest (int16 features, 8-bit leaves)."""
    from emlearn_lab.trees.compress import compress_model
    out = [m for m in models() if m[0] != "digits MLP 256-128 float32"]
    Xd, yd = load_digits(return_X_y=True)
    rf = eml.convert(RandomForestClassifier(10, max_leaf_nodes=40, random_state=2).fit(Xd, yd))
    out.append(("digits RF 10 compressed int16/8-bit leaves",
                compress_model(rf, leaf_bits=8, features="int16", X_calib=Xd), Xd[::5][:16]))
    return out


def _estimated_instructions(est, model, rows) -> float:
    """Median over the rows of the estimate for each row (the device reports the median)."""
    from emlearn_lab.board_fit.latency import latency_estimate, leaf_values
    if est.kind == "network":
        return est.latency.instructions
    return float(np.median([latency_estimate(est.form, model, est.board, float(v), True,
                                             float(n)).instructions
                            for v, n in zip(model.node_visits(rows),
                                            leaf_values(model, rows, est.form,
                                                        est.board.arch))]))


def measure_mcu(core: str, label: str, model, rows, form: str) -> dict:
    """Deploy on a freshly started emulated board; estimates against what it measured."""
    rows = rows[:8]
    board = eml.get_board(f"emulated:{core}")
    est = eml.estimate(model, board, form, rows)
    row = {"core": core, "model": label, "form": est.form, "kind": est.kind,
           "ram_estimate": est.ram_bytes, "fixed_estimate": est.heap.fixed_bytes,
           "instructions_estimate": _estimated_instructions(est, model, rows)}
    with eml.connect(f"emulated:{core}") as dev:
        try:
            report = dev.deploy(model, rows, form=est.form,
                                repeats=100 if est.latency.instructions < 2e5 else 2)
        except DeviceMemoryError as e:
            return dict(row, loaded=False, error=str(e).splitlines()[0])
    row.update(loaded=True, agreement=report.agreement,
               ram_measured=report.runtime_ram_bytes + report.model_ram_bytes,
               instructions_measured=report.instructions_per_predict_median)
    row["ram_error"] = row["ram_estimate"] / row["ram_measured"] - 1
    row["latency_error"] = row["instructions_estimate"] / row["instructions_measured"] - 1
    return row


def mcu_checks(cores) -> list:
    out = []
    cases = mcu_models()
    for core in cores:
        for label, model, X in cases:
            forms = ("loadable", "inline") if not hasattr(model, "layers") else ("auto",)
            for form in forms:
                if form == "inline" and model.n_nodes > 1500:
                    continue        # the inline code of the largest forests: beyond ~198 KiB
                out.append(measure_mcu(core, label, model, X, form))
                print(out[-1], flush=True)
    return out


def write_mcu(rows: list) -> None:
    path = HERE / "results" / "estimates_mcu.json"
    cores = {r["core"] for r in rows}
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    rows = [r for r in old if r["core"] not in cores] + rows
    loaded = [r for r in rows if r.get("loaded")]
    summary = {}
    for core in sorted({r["core"] for r in rows}):
        mine = [r for r in loaded if r["core"] == core]
        lat = [abs(r["latency_error"]) for r in mine]
        ram = [abs(r["ram_error"]) for r in mine]
        summary[core] = {
            "measured": len(mine), "not_loaded": sum(1 for r in rows if r["core"] == core
                                                     and not r.get("loaded")),
            "latency_within_10pct": int(sum(e <= 0.10 for e in lat)),
            "latency_max_abs_error": max(lat), "latency_median_abs_error": float(np.median(lat)),
            "ram_within_5pct": int(sum(e <= 0.05 for e in ram)),
            "ram_max_abs_error": max(ram), "ram_median_abs_error": float(np.median(ram))}
    path.write_text(json.dumps({"python": platform.python_version(), "summary": summary,
                                "rows": rows}, indent=1))
    lines = ["# Estimates vs emulated boards (instructions, gc.mem_alloc())", "",
             "`python3 bench/bench_estimates.py --mcu CORE ...`: each model deployed on a "
             "freshly started emulated board (qemu -icount: instruction counts are exact, "
             "whatever the host's load). Estimate: instructions per operation measured on "
             "that core by `python -m emlearn_lab.board_fit.calibrate_mcu` (other models) x the "
             "work counted on the rows (median over rows); RAM: fixed costs measured on that "
             "core + model buffers + machine code (in the heap on these ports).", "",
             "| core | measured | latency within 10% | max / median latency error | "
             "RAM within 5% | max / median RAM error |", "|---|---|---|---|---|---|"]
    for core, s in summary.items():
        lines.append(f"| {core} | {s['measured']} | {s['latency_within_10pct']} | "
                     f"{s['latency_max_abs_error']:.1%} / {s['latency_median_abs_error']:.1%} | "
                     f"{s['ram_within_5pct']} | {s['ram_max_abs_error']:.1%} / "
                     f"{s['ram_median_abs_error']:.1%} |")
    lines += ["", "| core | model | form | instructions est. | measured | error | RAM est. | "
              "measured | error |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if not r.get("loaded"):
            lines.append(f"| {r['core']} | {r['model']} | {r['form']} | "
                         f"{r['instructions_estimate']:.0f} | not loaded: {r.get('error')} | "
                         f"| {r['ram_estimate']} | | |")
            continue
        lines.append(f"| {r['core']} | {r['model']} | {r['form']} | "
                     f"{r['instructions_estimate']:.0f} | {r['instructions_measured']:.0f} | "
                     f"{r['latency_error']:+.1%} | {r['ram_estimate']} | {r['ram_measured']} | "
                     f"{r['ram_error']:+.1%} |")
    (HERE / "results" / "estimates_mcu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> int:
    if "--mcu" in sys.argv:
        cores = sys.argv[sys.argv.index("--mcu") + 1:] or ["cortex-m3"]
        write_mcu(mcu_checks(cores))
        return 0
    flash = flash_checks()
    ram = ram_checks()
    write(ram, flash)
    return 0


if __name__ == "__main__":
    sys.exit(main())
