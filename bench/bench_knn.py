"""Benchmark: nearest neighbours (KNNModel) on a device: instructions per predict, and the
per-term costs the board estimate uses (emlearn_lab/neighbors/latency.py).

    python3 bench/bench_knn.py                          # emulated Cortex-M3 (default)
    python3 bench/bench_knn.py --device virtual         # us on the virtual device

For each features type (int16: the viper kernel; float32: bytecode, exact float32) it deploys
classifiers over a grid of examples n and features f (random whole numbers, k = 3, uniform
and distance weights), takes deploy's median us per predict (on an emulated board 1 us = 1000
instructions) and fits  predict = call + example * n + term * n * f  (uniform), and the extra
per neighbour of distance weights. Writes results/knn_BOARD.json and prints the fit.
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
        out.append((n, f, report.us_per_predict_median))
    return out


def fit(rows: list) -> dict:
    A = np.array([[1.0, n, n * f] for n, f, _ in rows])
    b = np.array([us for *_, us in rows])
    call, example, term = np.linalg.lstsq(A, b, rcond=None)[0]
    return {"call": float(call), "example": float(example), "term": float(term)}


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
    dev.close()
    name = args.device.replace("emulated:", "").replace("/", "_")
    path = Path(__file__).parent / "results" / f"knn_{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
