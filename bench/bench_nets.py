"""Benchmark: dense networks, ours vs Keras / scikit-learn (agreement) and vs the peers on the
device and in C, in one run.

digits (50/50 split as in tests/conftest.py, 899 test rows, pixels / 16):
- a Keras 3 Sequential 64-32-10 (relu, softmax; jax backend, seed 0, 40 epochs), and
- a scikit-learn MLPClassifier(hidden_layer_sizes=(32,)) (relu, random_state=0).

Figures:
- host: predicted-class agreement of our float32 and int8 conversions with Keras / scikit-learn
  and the largest class-probability difference;
- virtual device (MicroPython unix port): us/predict for our int8 (viper) and float32
  (bytecode, exact float32) runtimes, and a straightforward generated-Python MLP (nested loops
  over lists of floats, the approach of code generators such as m2cgen), .py and .mpy, in the
  same run (device_driver.py, interleaved passes);
- C: our float32 and int8 headers vs emlearn 0.23.2's eml_net (loadable and inline) for the
  scikit-learn model: ns and instructions per predict on this host (bench_c.measure_host),
  Cortex-M0+/M4F flash and RAM (c_build.firmware_size), agreement with scikit-learn.

    KERAS_BACKEND=jax python3 bench/bench_nets.py      # measure, write results/nets.{json,md}
    python3 bench/bench_nets.py --report               # re-render the markdown
    python3 bench/bench_nets.py --device emulated:cortex-m3   # instructions per predict

On an emulated board (qemu -icount: the clock counts instructions, 1 us == 1000) the device
figures are instructions per predict, exact whatever the host's load; the run sends 100 test
rows (the UART carries ~8 kB/s) and the generated Python as .mpy only (its .py source compiles
on the device to the same bytecode), skips the C part (host and cross-compiler figures, which
do not depend on the device) and writes results/nets_BOARD.{json,md}.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
X_PATH = "bench_x.bin"
CPUS = ("cortex-m0plus", "cortex-m4f")


def data():
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import CLASSIFICATION, _split
    X_train, X_test, y_train, y_test = _split(*CLASSIFICATION["digits"]())
    return X_train / 16, X_test / 16, y_train, y_test


def train(X_train, y_train):
    import keras
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    keras.utils.set_random_seed(0)
    k = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
    k.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    k.fit(X_train, y_train, epochs=40, batch_size=32, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=400, random_state=0)
        mlp.fit(X_train, y_train)
    return k, mlp


def host_agreement(source, ref_classes, ref_proba, X_train, X_test):
    import emlearn_lab as eml
    rows = []
    for weights in ("float32", "int8"):
        net = eml.convert(source, weights=weights,
                          X_calib=X_train if weights == "int8" else None)
        rows.append({"weights": weights, "file_bytes": net.size_bytes,
                     "agreement": float(np.mean(net.predict(X_test) == ref_classes)),
                     "max_proba_error": float(np.abs(net.predict_proba(X_test)
                                                     - ref_proba).max())})
    return rows


def naive_python(net) -> str:
    """A generated-Python MLP: weights as nested lists, plain float loops."""
    lines = ["LAYERS = ["]
    for i, la in enumerate(net.layers):
        relu = la.activation == "relu" and i < len(net.layers) - 1
        W = [[float(v) for v in row] for row in la.weights.T]
        lines.append(f"    ({W!r}, {[float(b) for b in la.bias]!r}, {relu}),")
    lines += ["]", "", "", "def score(x):", "    a = x", "    for W, B, relu in LAYERS:",
              "        out = []", "        for w, b in zip(W, B):", "            s = b",
              "            for wi, ai in zip(w, a):", "                s += wi * ai",
              "            out.append(s if s > 0 or not relu else 0.0)", "        a = out",
              "    return a", "", "", "def predict(x):", "    s = score(x)",
              "    return s.index(max(s))", ""]
    return "\n".join(lines)


def device_rows(keras_model, ref_classes, X_train, X_test, passes=5, device="virtual",
                rows=None):
    """(device description, rows, instructions per ticks_us microsecond or None, test rows)"""
    import emlearn_lab as eml
    from emlearn_lab.runtime.build import compile_source
    out = []
    with eml.connect(device) as dev:
        target = dev.target
        per_us = getattr(dev.virtual, "instructions_per_us", None)
        counted = per_us is not None
        if counted:   # exact clock, slow UART: one pass over fewer rows
            passes = 1
            rows = rows or 100
        X_test, ref_classes = X_test[:rows], ref_classes[:rows]
        device = f"{dev!r} [{target}] {dev.info['version']}"
        for weights in ("int8", "float32"):
            net = eml.convert(keras_model, weights=weights,
                              X_calib=X_train if weights == "int8" else None)
            rep = dev.deploy(net, X_test, name=f"n_{weights}", repeats=20)
            out.append({"name": f"emlearn_lab {weights}", "form": rep.form,
                        "native": rep.native,
                        "us_per_predict_median": rep.us_per_predict_median,
                        "us_per_predict_min": rep.us_per_predict_min,
                        "device_agreement_with_host": rep.agreement,
                        "agreement_with_keras": float(np.mean(net.predict(X_test)
                                                              == ref_classes)),
                        "bytes_on_device": sum(n for _, n, _ in rep.files),
                        "model_file_bytes": net.size_bytes,
                        "ram_bytes": rep.runtime_ram_bytes + rep.model_ram_bytes})
            print(out[-1], flush=True)
            dev.exec("import gc\ngc.collect()")
        src = naive_python(eml.convert(keras_model))
        dev.write_file("bench_driver.py", (HERE / "device_driver.py").read_bytes())
        dev.write_file(X_PATH, X_test.astype("<f4").tobytes())
        peers = {"generated Python .py": ("naive_py", "naive_py.py", src.encode()),
                 "generated Python .mpy": ("naive_mpy", "naive_mpy.mpy",
                                           compile_source(src, "naive_mpy.py", target,
                                                          native=False))}
        if counted:
            del peers["generated Python .py"]
        dev.exec("import bench_driver as D\nPs = {}")
        for name, (module, path, blob) in peers.items():
            dev.write_file(path, blob)
            dev.exec(f"Ps[{name!r}] = D.load({module!r}, 'import {module}\\n"
                     f"P = {module}.predict')[0]", timeout_s=120)
            preds = np.frombuffer(dev.eval(f"D.predict_all(Ps[{name!r}], {X_PATH!r}, 64, True)",
                                           timeout_s=600), np.uint8)
            times = [dev.eval(f"D.bench(Ps[{name!r}], {X_PATH!r}, 64, True, 16, 5)",
                              timeout_s=600) for _ in range(passes)]
            out.append({"name": name, "form": "python",
                        "us_per_predict_median": float(np.median([t[0] for t in times])),
                        "us_per_predict_min": float(min(t[1] for t in times)),
                        "agreement_with_keras": float(np.mean(preds == ref_classes)),
                        "bytes_on_device": len(blob)})
            print(out[-1], flush=True)
    for row in out:
        if counted:
            row["instructions_per_predict_median"] = row["us_per_predict_median"] * per_us
            row["instructions_per_predict_min"] = row["us_per_predict_min"] * per_us
    return device, out, per_us, len(X_test)


def c_rows(mlp, X_train, X_test, rounds):
    import emlearn
    from bench_c import HOST_FLAGS, measure_host

    import emlearn_lab as eml
    from emlearn_lab.export.c_build import firmware_size
    from emlearn_lab.export.c_net import net_header
    want = mlp.predict(X_test)
    contenders = {}
    runtime = (Path(eml.__file__).parent / "csrc" / "eml_lab_net.h").read_text()
    for weights in ("float32", "int8"):
        net = eml.convert(mlp, weights=weights, X_calib=X_train if weights == "int8" else None)
        name = f"ours_{weights}"
        contenders[f"emlearn_lab {weights}"] = dict(
            files={f"{name}.h": net_header(net, name), "eml_lab_net.h": runtime},
            include=f"{name}.h", xt="float", predict=name + "_predict({x})", werror=True)
    inc = Path(emlearn.__file__).parent
    headers = {p.name: p.read_text() for p in inc.glob("eml_*.h")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_nets_") as tmp:
        tmp = Path(tmp)
        cwd = os.getcwd()
        os.chdir(tmp)            # emlearn writes ./tmp
        try:
            for method in ("loadable", "inline"):
                name = f"emlearn_{method}"
                code = emlearn.convert(mlp, method=method).save(name=name,
                                                                file=str(tmp / f"{name}.h"))
                call = (f"eml_net_predict(&{name}, {{x}}, 64)" if method == "loadable"
                        else f"{name}_predict({{x}}, 64)")
                contenders[f"emlearn {emlearn.__version__} {method}"] = dict(
                    files={**headers, f"{name}.h": code}, include=f"{name}.h", xt="float",
                    predict=call, werror=False)
        finally:
            os.chdir(cwd)
        for name, c in contenders.items():
            folder = tmp / name.replace(" ", "_")
            folder.mkdir()
            # Linked with libm: emlearn's networks call expf/tanhf.
            host = measure_host(c, X_test, folder, rounds,
                                flags=(*HOST_FLAGS, "-Wl,--no-as-needed", "-lm"))
            row = {"contender": name, "ns_per_predict": host["ns_per_predict"],
                   "instructions_per_predict": host["instructions_per_predict"],
                   "agreement_with_sklearn": float(np.mean(mlp.classes_[host["pred"]]
                                                           == want))}
            call = "*(int32_t *)output = %s;" % c["predict"].format(x="(const float *)input")
            for cpu in CPUS:
                size = firmware_size(c["files"], c["include"], call, cpu, werror=c["werror"],
                                     libs=("-lm", "-lgcc"))
                row[f"{cpu}_flash_bytes"] = size.text_bytes + size.data_bytes
                row[f"{cpu}_ram_bytes"] = size.data_bytes + size.bss_bytes
            rows.append(row)
            print(row, flush=True)
    return rows


def measure(rounds: int, device: str = "virtual", rows: int | None = None) -> dict:
    X_train, X_test, y_train, y_test = data()
    k, mlp = train(X_train, y_train)
    kp = np.asarray(k.predict(X_test, verbose=0))
    results = {"date": datetime.date.today().isoformat(), "host": platform.platform(),
               "dataset": "digits / 16, 899 test rows",
               "keras": {"model": "Sequential 64-32(relu)-10(softmax)",
                         "accuracy": float(np.mean(kp.argmax(1) == y_test)),
                         "host": host_agreement(k, kp.argmax(1), kp, X_train, X_test)},
               "sklearn": {"model": "MLPClassifier(hidden_layer_sizes=(32,))",
                           "accuracy": float(mlp.score(X_test, y_test)),
                           "host": host_agreement(mlp, mlp.predict(X_test),
                                                  mlp.predict_proba(X_test), X_train, X_test)}}
    (results["device"], results["device_rows"], results["instructions_per_us"],
     results["device_test_rows"]) = device_rows(k, kp.argmax(1), X_train, X_test,
                                                device=device, rows=rows)
    if results["instructions_per_us"] is None:
        results["c_rows"] = c_rows(mlp, X_train, X_test, rounds)
    return results


def table(r: dict) -> str:
    out = [f"# Networks: emlearn_lab vs Keras, scikit-learn and the peers ({r['date']})", "",
           f"{r['dataset']}; host {r['host']}.", "",
           "## Agreement with the training library (host reference = device = C)", "",
           "| source | accuracy | weights | file bytes | class agreement | max proba error |",
           "|---|---|---|---|---|---|"]
    for key in ("keras", "sklearn"):
        for h in r[key]["host"]:
            out.append(f"| {r[key]['model']} | {r[key]['accuracy']:.2%} | {h['weights']} | "
                       f"{h['file_bytes']} | {h['agreement']:.2%} | "
                       f"{h['max_proba_error']:.2g} |")
    per_us = r.get("instructions_per_us")
    if per_us is None:
        out += ["", f"## On the virtual device ({r['device']}), Keras model", "",
                "| contender | us/predict median | min | x ours int8 | bytes on device | "
                "agreement w/ Keras | device = host |", "|---|---|---|---|---|---|---|"]
    else:
        out += ["", f"## On {r['device']}, Keras model, {r['device_test_rows']} test rows", "",
                f"The board's clock counts instructions (1 us = {per_us:g}).", "",
                "| contender | instructions/predict median | min | x ours int8 | bytes on "
                "device | agreement w/ Keras | device = host |", "|---|---|---|---|---|---|---|"]
    base = r["device_rows"][0]["us_per_predict_median"]
    for d in r["device_rows"]:
        same = d.get("device_agreement_with_host")
        if per_us is None:
            med, low = f"{d['us_per_predict_median']:.1f}", f"{d['us_per_predict_min']:.1f}"
        else:
            med, low = (f"{d[k] * per_us:,.0f}".replace(",", " ") for k in
                        ("us_per_predict_median", "us_per_predict_min"))
        out.append(f"| {d['name']} | {med} | {low} | {d['us_per_predict_median'] / base:.1f} | "
                   f"{d['bytes_on_device']} | {d['agreement_with_keras']:.2%} | "
                   f"{'—' if same is None else f'{same:.0%}'} |")
    if "c_rows" not in r:
        return "\n".join(out) + "\n"
    out += ["", "## C, scikit-learn model (host gcc -O2; Cortex-M arm-none-eabi-gcc -Os)", "",
            "| contender | ns/predict | instructions | M0+ flash B | M0+ RAM B | M4F flash B | "
            "M4F RAM B | agreement w/ sklearn |", "|---|---|---|---|---|---|---|---|"]
    for c in r["c_rows"]:
        ins = c["instructions_per_predict"]
        out.append(f"| {c['contender']} | {c['ns_per_predict']:.0f} | "
                   f"{'—' if ins is None else f'{ins:.0f}'} | "
                   f"{c['cortex-m0plus_flash_bytes']} | {c['cortex-m0plus_ram_bytes']} | "
                   f"{c['cortex-m4f_flash_bytes']} | {c['cortex-m4f_ram_bytes']} | "
                   f"{c['agreement_with_sklearn']:.2%} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", action="store_true", help="re-render the markdown only")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--device", default="virtual",
                    help="virtual (default), emulated:BOARD or a serial port")
    ap.add_argument("--rows", type=int, default=None,
                    help="test rows sent to the device (default all; 100 on emulated boards)")
    args = ap.parse_args(argv)
    stem = "nets" if not args.device.startswith("emulated") else (
        "nets_" + args.device.split(":", 1)[-1])
    path = RESULTS / f"{stem}.json"
    if args.report:
        results = json.loads(path.read_text())
    else:
        results = measure(args.rounds, args.device, args.rows)
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
    (RESULTS / f"{stem}.md").write_text(table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
