"""Cost per predict with the garbage collector included, and heap growth per predict, for each
model kind, on two heap sizes: does the cost stay flat when the heap is ten times larger?

    python3 bench/bench_gc.py --device emulated:cortex-m3 emulated:cortex-m3-2m
    python3 bench/bench_gc.py                           # the virtual device (x64: microseconds)

The other benches time the best of several rounds per row, which leaves out the collections
that garbage forces: here one loop of N predicts on one row is timed whole (minus an empty
loop), so a collection every k calls shows as its cost / k. gc.mem_alloc() growth over the
same loop (collected first) gives the bytes each predict leaves behind: 0 for classifiers,
one float object (a GC block) for regressors, whose result is a new float on these ports.
Writes bench/results/gc.{md,json} (gc_BOARD... for emulated boards: instructions).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import emlearn_lab as eml

HERE = Path(__file__).resolve().parent

_LOOP = """
import array, gc, time
_m = _emlab_models[{name!r}]
_x = array.array('h' if _m.features == 1 else 'f', [0] * _m.n_features)
_m.predict(_x)
def _loop(n):
    t0 = time.ticks_us()
    while n:
        _m.predict(_x)
        n -= 1
    return time.ticks_diff(time.ticks_us(), t0)
def _empty(n):
    t0 = time.ticks_us()
    while n:
        n -= 1
    return time.ticks_diff(time.ticks_us(), t0)
gc.collect()
_a0 = gc.mem_alloc()
_k = {calls}
while _k:
    _m.predict(_x)
    _k -= 1
_growth = gc.mem_alloc() - _a0
gc.collect()
_us = _loop({calls}) - _empty({calls})
_m = _x = None
"""


def models() -> list:
    """(label, model, rows): a forest classifier and regressor, int8 and float32 MLPs."""
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    X, y = load_digits(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    rf = RandomForestClassifier(n_estimators=10, max_leaf_nodes=100, random_state=1).fit(X, y)
    reg = RandomForestRegressor(n_estimators=10, max_leaf_nodes=50, random_state=0).fit(Xr, yr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((32,), max_iter=200, random_state=0).fit(X / 16, y)
    return [("forest classifier (digits RF10, loadable)", eml.convert(rf), X[:4]),
            ("forest regressor (diabetes RF10, loadable)", eml.convert(reg), Xr[:4]),
            ("MLP 64-32-10 int8", eml.convert(mlp, weights="int8", X_calib=X / 16), X[:4] / 16),
            ("MLP 64-32-10 float32", eml.convert(mlp, weights="float32"), X[:4] / 16)]


def measure(spec: str, calls: int) -> dict:
    rows = []
    with eml.connect(spec) as dev:
        per_us = getattr(dev.virtual, "instructions_per_us", None)
        heap = dev.eval("__import__('gc').mem_free() + __import__('gc').mem_alloc()")
        for label, model, X in models():
            form = {"form": "loadable"} if hasattr(model, "n_trees") else {}
            dev.deploy(model, X.astype(np.float32), name="gcb", repeats=1, **form)
            dev.exec(_LOOP.format(name="gcb", calls=calls), timeout_s=1200)
            us = dev.eval("_us") / calls
            rows.append({"model": label, "calls": calls, "us_per_predict": us,
                         "instructions_per_predict": None if per_us is None else us * per_us,
                         "heap_growth_bytes_per_predict": dev.eval("_growth") / calls})
            dev.exec("_emlab_models.pop('gcb', None)\nimport gc\ngc.collect()")
    return {"device": spec, "heap_bytes": heap, "rows": rows}


def table(runs: list) -> str:
    unit = "instructions" if runs[0]["rows"][0]["instructions_per_predict"] is not None else "µs"
    head = " | ".join(f"{r['device']} ({r['heap_bytes'] // 1024} KiB heap)" for r in runs)
    lines = [f"Per predict, one loop of {runs[0]['rows'][0]['calls']} calls timed whole "
             f"(collections included), {unit}; heap growth in bytes per predict.", "",
             f"| model | {head} | heap growth |", "|---|" + "---|" * (len(runs) + 1)]
    for i, row in enumerate(runs[0]["rows"]):
        key = "instructions_per_predict" if unit == "instructions" else "us_per_predict"
        cells = " | ".join(f"{r['rows'][i][key]:,.0f}".replace(",", " ") if unit ==
                           "instructions" else f"{r['rows'][i][key]:.2f}" for r in runs)
        growth = ", ".join(f"{r['rows'][i]['heap_growth_bytes_per_predict']:g}" for r in runs)
        lines.append(f"| {row['model']} | {cells} | {growth} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", nargs="+", default=["virtual"])
    ap.add_argument("--calls", type=int, default=None,
                    help="predicts per loop (default 20 000; 2 000 on emulated boards)")
    ap.add_argument("--out", default=None, help="results path without suffix")
    args = ap.parse_args(argv)
    emulated = any(d.startswith("emulated:") for d in args.device)
    calls = args.calls or (2000 if emulated else 20000)
    runs = [measure(spec, calls) for spec in args.device]
    name = "gc" + ("_" + "_".join(d.split(":", 1)[1] for d in args.device) if emulated else "")
    out = Path(args.out) if args.out else HERE / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "runs": runs}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    md = f"Run of {meta['date']}\n\n" + table(runs)
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
