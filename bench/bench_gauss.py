"""Benchmark: Gaussian detectors on an emulated Cortex-M3 (real MicroPython v1.28 under qemu
-icount: its clock counts instructions, 1 us == 1000): instructions per predict of a set of
GaussianMixture models, exactness (deploy's agreement), and the least-squares per-operation
costs that gauss/estimate.py's M3_INSTRUCTIONS holds, plus the RAM of the runtime and of the
loaded models (gc.mem_alloc growth, 32-bit words).

    python3 bench/bench_gauss.py                       # emulated:cortex-m3
    python3 bench/bench_gauss.py --device virtual      # the unix port (microseconds)

Writes results/gauss_BOARD.json.
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emlearn_lab as eml  # noqa: E402
from emlearn_lab.gauss.estimate import TERMS, work_counts  # noqa: E402

# (n_features, n_components, covariance_type): enough variety to separate the terms.
MODELS = [(8, 4, "diag"), (8, 4, "full"), (8, 1, "full"), (8, 1, "diag"), (2, 1, "spherical"),
          (16, 2, "full"), (16, 2, "diag"), (4, 8, "spherical"), (8, 4, "tied"),
          (3, 3, "tied"), (12, 1, "tied"), (2, 6, "diag")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="emulated:cortex-m3")
    args = ap.parse_args()
    from sklearn.mixture import GaussianMixture
    rng = np.random.default_rng(0)
    rows = []
    with eml.connect(args.device) as dev:
        for n, k, cov in MODELS:
            X = rng.normal(size=(200, n))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = GaussianMixture(k, covariance_type=cov, random_state=0,
                                      max_iter=20).fit(X)
            det = eml.convert(est)
            rep = dev.deploy(det, X[:6], repeats=2, name="gbench")
            rows.append({"n_features": n, "n_components": k, "covariance_type": cov,
                         "agreement": rep.agreement, "us_median": rep.us_per_predict_median,
                         "runtime_ram_bytes": rep.runtime_ram_bytes,
                         "model_ram_bytes": rep.model_ram_bytes,
                         "file_bytes": det.size_bytes,
                         "native": rep.native, "counts": work_counts(det, rep.native)})
            print(rows[-1], flush=True)
    # the terms this core's models exercise (no native terms where there is no native code)
    used = [t for t in TERMS if any(r["counts"][t] for r in rows)]
    A = np.array([[r["counts"][t] for t in used] for r in rows])
    y = np.array([r["us_median"] * 1000.0 for r in rows])      # instructions under icount
    cost, *_ = np.linalg.lstsq(A, y, rcond=None)
    fit = A @ cost
    out = {"device": args.device, "models": rows, "terms": used,
           "cost_per_term": dict(zip(used, np.round(cost, 1).tolist())),
           "max_relative_error": float(np.max(np.abs(fit - y) / y))}
    print(json.dumps(out["cost_per_term"]), "max rel err", out["max_relative_error"])
    name = args.device.replace("emulated:", "").replace(":", "_")
    path = Path(__file__).parent / "results" / f"gauss_{name}.json"
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
