"""Benchmark: nearest neighbours (KNNModel) on a device: instructions per predict, and the
per-term costs the board estimate uses (emlearn_lab/neighbors/latency.py).

    python3 bench/bench_knn.py                          # emulated Cortex-M3 (default)
    python3 bench/bench_knn.py --device virtual         # us on the virtual device

For each features type (int16: the viper kernel; float32: bytecode, exact float32) it deploys
classifiers over a grid of examples n and features f (random whole numbers, k = 3, uniform
and distance weights), takes deploy's median us per predict (on an emulated board 1 us = 1000
instructions) and fits  predict = call + example * n + term * t  (uniform), t the distance
terms the device adds (it stops a sum that reaches the k-th best: counted on the host,
neighbors.exact.summed_terms, median over the timed rows), and the extra per neighbour of
distance weights. Then, on the host, agreement with scikit-learn's predict
on float32 rows (iris, digits, random rows with duplicate examples; 50/50 split, k = 5) and,
on the device, deploys of iris (75 examples, 4 features) and digits (300 examples, 64
features; int16) with the agreement and the us per predict of each. Writes
results/knn_BOARD.json and prints the figures.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

GRID = [(30, 4), (90, 4), (30, 12), (90, 12)]
K = 3


def measure(dev, features: str, weights: str) -> list:
    from sklearn.neighbors import KNeighborsClassifier
    import emlearn_lab as eml
    from emlearn_lab.neighbors.exact import summed_terms
    rng = np.random.default_rng(0)
    out = []
    for n, f in GRID:
        X = rng.integers(-20, 21, (n, f)).astype(float)
        y = rng.integers(0, 3, n)
        model = eml.convert(KNeighborsClassifier(K, weights=weights).fit(X, y),
                            features=features)
        model.capacity = 0
        Xq = rng.integers(-20, 21, (8, f)).astype(float)
        report = dev.deploy(model, Xq, repeats=5, name="bench_knn")
        assert report.agreement == 1.0, report.disagreements
        terms = float(np.median(summed_terms(model.check_X(Xq[:report.bench_rows]), model.X,
                                             model.metric, K)))
        out.append((n, f, terms, report.us_per_predict_median))
    return out


def fit(rows: list) -> dict:
    A = np.array([[1.0, n, t] for n, f, t, _ in rows])
    b = np.array([us for *_, us in rows])
    call, example, term = np.linalg.lstsq(A, b, rcond=None)[0]
    return {"call": float(call), "example": float(example), "term": float(term)}


def agreement() -> dict:
    """Share of test rows whose predict equals scikit-learn's, per dataset and setting."""
    from sklearn.datasets import load_digits, load_iris
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    import emlearn_lab as eml
    rng = np.random.default_rng(0)
    Xr = rng.integers(0, 4, (300, 3)).astype(float)
    data = {"iris": load_iris(return_X_y=True), "digits": load_digits(return_X_y=True),
            "random-dups": (Xr, rng.integers(0, 3, 300))}
    out = {}
    for name, (X, y) in data.items():
        for cls in (KNeighborsClassifier, KNeighborsRegressor):
            for weights in ("uniform", "distance"):
                for metric in ("euclidean", "manhattan"):
                    for features in ("float32", "int16"):
                        if features == "int16" and name == "iris":
                            continue               # not whole numbers
                        est = cls(5, weights=weights, metric=metric).fit(X[::2], y[::2])
                        model = eml.convert(est, features=features)
                        key = f"{name} {cls.__name__[10:]} {weights} {metric} {features}"
                        out[key] = model.compare(est, X[1::2])["predict_agreement"]
    return out


def deploys(dev, scale: float) -> dict:
    from sklearn.datasets import load_digits, load_iris
    from sklearn.neighbors import KNeighborsClassifier
    import emlearn_lab as eml
    out = {}
    X, y = load_iris(return_X_y=True)
    Xd, yd = load_digits(return_X_y=True)
    jobs = [("iris", X, y, "float32", w) for w in ("uniform", "distance")]
    jobs += [("iris x10", np.round(X * 10), y, "int16", w) for w in ("uniform", "distance")]
    jobs += [("digits 300", Xd[:600], yd[:600], "int16", w) for w in ("uniform", "distance")]
    for name, X, y, features, weights in jobs:
        model = eml.convert(KNeighborsClassifier(5, weights=weights).fit(X[::2], y[::2]),
                            features=features)
        model.capacity = 0
        rows = X[1::2][:16]
        report = dev.deploy(model, rows, repeats=3, name="bench_knn")
        out[f"{name} {features} {weights}"] = {
            "examples": len(model.X), "features": model.n_features, "rows": len(rows),
            "agreement": report.agreement, "per_predict": report.us_per_predict_median * scale}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="emulated:cortex-m3")
    args = ap.parse_args()
    import emlearn_lab as eml
    dev = eml.connect(args.device)
    scale = 1000.0 if args.device.startswith("emulated:") else 1.0     # us -> instructions
    result = {"device": args.device, "unit": "instructions" if scale > 1 else "us",
              "k": K, "grid": GRID}
    for features in ("int16", "float32"):
        uniform = measure(dev, features, "uniform")
        distance = measure(dev, features, "distance")
        costs = {t: v * scale for t, v in fit(uniform).items()}
        extra = np.mean([d - u for (*_, u), (*_, d) in zip(uniform, distance)]) * scale
        costs["distance_neighbour"] = float(extra / K)
        result[features] = {"costs": costs, "uniform_us": uniform, "distance_us": distance}
        print(features, {t: round(v) for t, v in costs.items()})
    result["deploys"] = deploys(dev, scale)
    for key, v in result["deploys"].items():
        print(f"{key:30s} {v['examples']:4d} x {v['features']:2d}  agreement {v['agreement']}"
              f"  {v['per_predict']:.0f} {result['unit']} per predict")
    dev.close()
    result["agreement_with_sklearn"] = agreement()
    for key, v in result["agreement_with_sklearn"].items():
        print(f"{key:50s} {v:.4f}")
    name = args.device.replace("emulated:", "").replace("/", "_")
    path = Path(__file__).parent / "results" / f"knn_{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
