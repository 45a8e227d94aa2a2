"""Benchmark: our loadable and inline forms vs m2cgen and everywhereml on one device, one run.

digits, RandomForestClassifier(n_estimators=10, max_leaf_nodes=100, random_state=1), 50/50 split.
Every contender runs on the same (virtual) device through the same driver (device_driver.py):
import + construct (load time, gc.mem_alloc growth), predictions for every test row
(agreement with scikit-learn), then median/min microseconds per predict over 16 rows, in
interleaved passes over all contenders (figures: median over passes).

    python3 bench/bench_trees.py [--device virtual|PORT] [--repeats N]

Writes bench/results/trees_digits.json and bench/results/trees_digits.md. Not a test: figures
vary with the machine; ratios are what to compare.
"""
import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import emlearn_lab as eml
from emlearn_lab.build import compile_source
from emlearn_lab.device.artifacts import module_artifact, tie_files
from emlearn_lab.trees.inline import inline_source
from emlearn_lab.trees.modelfile import to_bytes

HERE = Path(__file__).parent
X_PATH = "bench_x.bin"


def contenders(clf, model, target):
    """(name -> (files {device path: bytes}, module, factory code defining P, input as list?),
    helper files every contender uses, not counted in its bytes)"""
    notes = []
    runtime = {a.path: a.data for a in [
        module_artifact("emlab_common", target, False, notes),
        module_artifact("emltrees", target, False, notes),
        module_artifact("emltrees_pure", target, False, notes),
        module_artifact("emltrees_kernels", target, True, notes),
        module_artifact("emlab_tools", target, False, notes)]}
    # The soft-float module and the tie file, as deploy sends them (both forms need them).
    ties = {a.path: a.data for a in tie_files(model, "bench_model", target, notes)[0]}
    out = {}
    tools = {"emlab_tools.mpy": runtime.pop("emlab_tools.mpy")}  # the timing helper, not counted
    out["emlearn_lab loadable"] = (
        {**runtime, "bench_model.eml": to_bytes(model), **ties}, "emltrees",
        "import emltrees\nP = emltrees.load('bench_model.eml', 'bench_model.ties').predict", False)
    inline_mpy = compile_source(inline_source(model), "bench_inline.py", target, native=True)
    out["emlearn_lab inline"] = (
        {"emlab_common.mpy": runtime["emlab_common.mpy"], "bench_inline.mpy": inline_mpy,
         **ties}, "bench_inline",
        "import bench_inline\nP = bench_inline.load('bench_model.ties').predict", False)

    import m2cgen
    m2c = m2cgen.export_to_python(clf).encode()
    argmax = "def P(x):\n    s = m.score(x)\n    return s.index(max(s))\n"
    out["m2cgen .py"] = ({"m2c_py.py": m2c}, "m2c_py", "import m2c_py as m\n" + argmax, True)
    out["m2cgen .mpy"] = ({"m2c_mpy.mpy": compile_source(m2c.decode(), "m2c_mpy.py", target,
                                                        native=False)},
                          "m2c_mpy", "import m2c_mpy as m\n" + argmax, True)

    from everywhereml.sklearn.ensemble import RandomForestClassifier as EWForest
    ew = EWForest(**{k: v for k, v in clf.get_params().items()}).fit(*_train_data())
    ew_src = ew.to_micropython(instance_name="ewclf")
    # everywhereml's template ends with "RandomForestClassifier ewclf" (invalid Python);
    # the intended line is an instance of the class.
    ew_src = ew_src.rstrip().rsplit("\n", 1)[0] + "\n\newclf = RandomForestClassifier()\n"
    out["everywhereml .py"] = ({"ew_py.py": ew_src.encode()}, "ew_py",
                               "import ew_py\nP = ew_py.ewclf.predict", True)
    out["everywhereml .mpy"] = ({"ew_mpy.mpy": compile_source(ew_src, "ew_mpy.py", target,
                                                              native=False)},
                                "ew_mpy", "import ew_mpy\nP = ew_mpy.ewclf.predict", True)
    return out, tools


def _data():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.5, random_state=1)


def _train_data():
    X_train, _, y_train, _ = _data()
    return X_train, y_train


def run(device: str, repeats_ours: int, repeats_peers: int, passes: int = 5) -> dict:
    X_train, X_test, y_train, y_test = _data()
    clf = RandomForestClassifier(n_estimators=10, max_leaf_nodes=100, random_state=1)
    clf.fit(X_train, y_train)
    expected = clf.predict(X_test.astype(np.float32))
    model = eml.convert(clf)
    results = {"dataset": "digits", "model": "RandomForestClassifier(n_estimators=10, "
               "max_leaf_nodes=100, random_state=1)", "test_rows": int(len(X_test)),
               "host": platform.platform(), "python": sys.version.split()[0], "rows": []}
    with eml.connect(device) as dev:
        target = dev.target
        results["device"] = f"{dev!r} [{target}] {dev.info['version']}"
        dev.write_file("bench_driver.py", (HERE / "device_driver.py").read_bytes())
        dev.write_file(X_PATH, X_test.astype("<f4").tobytes())
        entries, tools = contenders(clf, model, target)
        for path, data in tools.items():
            dev.write_file(path, data)
        loaded = []
        for name, (files, module, factory, as_list) in entries.items():
            for path, data in files.items():
                dev.write_file(path, data)
            dev.exec("import bench_driver as D\nimport gc\nPs = globals().get('Ps', {})")
            ram, load_us = dev.eval(f"(lambda r: (r[1], r[2]))(globals().__setitem__('R', "
                                    f"D.load({module!r}, {factory!r})) or R)", timeout_s=120)
            dev.exec(f"Ps[{name!r}] = R[0]\nR = None\ngc.collect()")
            preds = dev.eval(f"D.predict_all(Ps[{name!r}], {X_PATH!r}, 64, {as_list})",
                             timeout_s=600)
            agree = float(np.mean(np.frombuffer(preds, np.uint8) == expected))
            loaded.append((name, files, as_list, ram, load_us, agree))
        # Timing passes interleave the contenders, so that a noisy stretch on a shared machine
        # hits all of them alike; each figure is the median over passes.
        timings = {name: [] for name, *_ in loaded}
        for _ in range(passes):
            for name, _files, as_list, *_ in loaded:
                repeats = repeats_ours if name.startswith("emlearn_lab") else repeats_peers
                timings[name].append(dev.eval(
                    f"D.bench(Ps[{name!r}], {X_PATH!r}, 64, {as_list}, 16, {repeats})",
                    timeout_s=600))
        for name, files, _as_list, ram, load_us, agree in loaded:
            med = float(np.median([t[0] for t in timings[name]]))
            best = float(min(t[1] for t in timings[name]))
            row = {"name": name, "us_per_predict_median": med, "us_per_predict_min": best,
                   "bytes_on_device": sum(len(d) for d in files.values()),
                   "ram_bytes": ram, "load_us": load_us, "agreement_with_sklearn": agree,
                   "passes": passes,
                   "repeats": repeats_ours if name.startswith("emlearn_lab") else repeats_peers}
            results["rows"].append(row)
            print(f"{name:22s} {med:9.2f} us  {row['bytes_on_device']:7d} B  ram {ram:7d} B  "
                  f"load {load_us:7d} us  agree {agree:.2%}", flush=True)
    import os
    import tempfile

    import emlearn
    # emlearn compiles its C model into ./tmp of the working directory: keep that out of ours.
    with tempfile.TemporaryDirectory(prefix="emlab-emlearn-") as scratch:
        cwd = os.getcwd()
        os.chdir(scratch)
        try:
            em = emlearn.convert(clf, method="loadable")
            results["emlearn_host_agreement"] = float(np.mean(
                em.predict(X_test.astype(np.float32)) == expected))
        finally:
            os.chdir(cwd)
    return results


def table(results: dict) -> str:
    rows = results["rows"]
    ref = {r["name"]: r for r in rows}
    loadable = ref["emlearn_lab loadable"]["us_per_predict_median"]
    lines = ["| contender | us/predict median | min | x loadable | bytes on device | RAM delta "
             "(B) | load (us) | agreement w/ sklearn |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['us_per_predict_median']:.2f} | "
                     f"{r['us_per_predict_min']:.2f} | "
                     f"{r['us_per_predict_median'] / loadable:.1f} | {r['bytes_on_device']} | "
                     f"{r['ram_bytes']} | {r['load_us']} | {r['agreement_with_sklearn']:.2%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="virtual")
    parser.add_argument("--repeats", type=int, default=2000, help="calls per row, ours")
    parser.add_argument("--repeats-peers", type=int, default=50, help="calls per row, peers")
    parser.add_argument("--passes", type=int, default=5,
                        help="interleaved timing passes; figures are medians over them")
    args = parser.parse_args(argv)
    results = run(args.device, args.repeats, args.repeats_peers, args.passes)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "trees_digits.json").write_text(json.dumps(results, indent=2) + "\n")
    md = (f"Device: {results['device']}\nHost: {results['host']}, Python {results['python']}\n\n"
          + table(results) + f"\n\nemlearn {__import__('emlearn').__version__} (stock C export, "
          f"host): {results['emlearn_host_agreement']:.2%} agreement with scikit-learn.\n")
    (out / "trees_digits.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
