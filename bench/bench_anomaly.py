"""Anomaly detectors and nearest neighbours beside the trees: agreement with scikit-learn and
emlearn on the host, exactness and cost on each device, in one run.

Data: condition monitoring on the basic_motions sample (6-axis IMU at 10 Hz, 240 s). Features:
eml.features.TimeStats (mean, std, min, max of the 6 channels) of 2 s windows every 0.5 s. Normal is
standing, walking and running; badminton is the anomaly no detector sees in training. The
detectors are fitted on the normal windows of the first 120 s, thresholds picked on the next
60 s (eml.anomaly.pick_threshold at a 5% false-positive rate), and everything is judged on the
last 60 s. kNN and the reference forest classify the four activities (same split).

Figures per model:
- host: agreement of our conversion with the scikit-learn estimator on float32 rows, and of
  emlearn 0.23.2's C (host build) where emlearn converts the estimator: classifiers by
  predict; detectors by the decision score_samples >= the picked threshold, each side with its
  own scores (a mixture's scikit-learn predict is a component, not a decision);
- detectors: the held-out false-positive rate and recall of the picked threshold;
- each device: agreement of dev.deploy's row-by-row check (scores bit for bit, same
  decision), microseconds per predict (median of dev.deploy's timing; on the emulated boards
  1 us == 1 000 instructions, exact whatever the host's load), flash (the files sent).

    python3 bench/bench_anomaly.py                                   # the virtual device
    python3 bench/bench_anomaly.py --device emulated:cortex-m3 virtual

Writes bench/results/anomaly.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

import emlearn_lab as eml

HERE = Path(__file__).resolve().parent
NORMAL = ("standing", "walking", "running")
ANOMALY = "badminton"
STATS = ("mean", "std", "min", "max")     # of 6 channels: 24 features
# The features are in 1/256 input counts (variances ~1e10): a component with few windows
# needs more than scikit-learn's default regularisation (1e-6) to stay positive definite.
REG = 1e3
TEST_ROWS = 60          # rows verified and timed on each device (the UART of an emulated board
                        # carries ~8 kB/s)


def data():
    rec = eml.datasets.load_sample("basic_motions")
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path("basic_motions"), recording=rec)
    fx = eml.features.TimeStats(stats=STATS)
    parts = {}
    for name, (a, b) in {"train": (0, 120), "val": (120, 180), "test": (180, 240)}.items():
        part = rec.slice_s(a, b)
        w = eml.windows(part, labels.slice_s(a, b, recording=part), window_s=2.0, hop_s=0.5)
        parts[name] = (fx.fit(w.X).transform(w.X).astype(np.float32), np.asarray(w.y))
    return parts


def estimators():
    """name -> (fitted estimator, task) on the training part's features."""
    from sklearn.covariance import EllipticEnvelope
    from sklearn.ensemble import IsolationForest, RandomForestClassifier
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
    from sklearn.neighbors import KNeighborsClassifier
    return {
        "IsolationForest(100)": (IsolationForest(n_estimators=100, random_state=0), "anomaly"),
        "GaussianMixture(4, full)": (GaussianMixture(4, covariance_type="full",
                                                     reg_covar=REG, random_state=0), "anomaly"),
        "GaussianMixture(4, diag)": (GaussianMixture(4, covariance_type="diag",
                                                     reg_covar=REG, random_state=0), "anomaly"),
        "BayesianGaussianMixture(4, tied)": (BayesianGaussianMixture(
            n_components=4, covariance_type="tied", reg_covar=REG, random_state=0,
            max_iter=500), "anomaly"),
        "EllipticEnvelope": (EllipticEnvelope(random_state=0), "anomaly"),
        "KNeighborsClassifier(5)": (KNeighborsClassifier(5), "classify"),
        "KNeighborsClassifier(5, distance)": (KNeighborsClassifier(5, weights="distance"),
                                              "classify"),
        "RandomForestClassifier(10) (reference)": (RandomForestClassifier(
            n_estimators=10, max_depth=6, random_state=0), "classify"),
    }


def _labels(y, task):
    if task == "anomaly":
        return np.where(y == ANOMALY, -1, 1)
    return y


def emlearn_agreement(est, X, threshold=None):
    """agreement() of emlearn 0.23.2's C build of ``est`` (host), or why there is none. It
    compiles and runs its C in ./tmp: both happen in a scratch directory."""
    old = np.geterr()
    import emlearn
    np.seterr(**old)        # importing emlearn 0.23.2 sets numpy to raise on underflow
    kind = type(est).__name__
    if kind not in ("EllipticEnvelope", "GaussianMixture", "BayesianGaussianMixture",
                    "KNeighborsClassifier", "RandomForestClassifier"):
        return "not converted by emlearn"
    options = ({"method": "inline", "dtype": "float"} if kind.startswith("Random")
               else {"method": "inline"} if kind == "EllipticEnvelope" else {})
    cwd = os.getcwd()
    try:
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            os.chdir(scratch)
            warnings.simplefilter("ignore")
            return agreement(est, emlearn.convert(est, **options), X, threshold)
    except Exception as e:  # noqa: BLE001  (a peer's failure is a figure, not our crash)
        return f"failed: {type(e).__name__}: {str(e).splitlines()[0][:60]}"
    finally:
        os.chdir(cwd)


def agreement(est, theirs, X, threshold=None):
    """Share of rows where ``theirs`` (our model or emlearn's) decides as scikit-learn does
    on float32 rows X: detectors both by score_samples >= ``threshold``; classifiers by
    predict (class indices mapped to labels)."""
    X32 = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if threshold is not None:
            if not hasattr(theirs, "score_samples"):
                return "no score_samples"
            ours = np.asarray(theirs.score_samples(X32)) >= threshold
            return float(np.mean(ours == (est.score_samples(X32) >= threshold)))
        p = np.asarray(theirs.predict(X32))
    want = est.predict(X32)
    if p.dtype.kind in "iu" and want.dtype.kind not in "iu":
        p = est.classes_[p]
    return float(np.mean(p == want))


def host_rows(parts):
    X_train, y_train = parts["train"]
    X_val, y_val = parts["val"]
    X_test, y_test = parts["test"]
    rows, models = [], {}
    for name, (est, task) in estimators().items():
        if task == "anomaly":
            keep = np.isin(y_train, NORMAL)
            est.fit(X_train[keep].astype(np.float64))   # float64: stabler covariances
        else:
            est.fit(X_train, y_train)
        model = eml.convert(est)
        row = {"model": name, "task": task}
        threshold = None
        if task == "anomaly":
            model.threshold = threshold = eml.anomaly.pick_threshold(
                model, X_val, _labels(y_val, task), fpr=0.05)
            rep = eml.anomaly.threshold_report(model, X_test, _labels(y_test, task))
            row.update(test_fpr=rep["false_positive_rate"], test_recall=rep["recall"])
        else:
            row["test_accuracy"] = float(np.mean(model.predict(X_test) == y_test))
        row["sklearn_agreement"] = agreement(est, model, X_test, threshold)
        row["emlearn_agreement"] = emlearn_agreement(est, X_test, threshold)
        rows.append(row)
        models[name] = model
    return rows, models


def device_rows(models, X, device):
    dev = eml.connect(device)
    out = []
    try:
        for i, (name, model) in enumerate(models.items()):
            # a fresh heap per model: on single-precision ports every float result is a heap
            # object, and a collection costs more the more the models before it hold
            dev.reset()
            rep = dev.deploy(model, X[:TEST_ROWS], name=f"b{i}", repeats=5)
            out.append({"model": name, "device": device, "agreement": rep.agreement,
                        "us_per_predict": rep.us_per_predict_median,
                        "instructions_per_predict": rep.instructions(rep.us_per_predict_median),
                        "flash_bytes": sum(n for _, n, _ in rep.files)})
            print(f"  {device:>20} {name:<40} agreement {rep.agreement:.3f} "
                  f"{rep.us_per_predict_median:10.1f} us", flush=True)
    finally:
        dev.close()
    return out


def render(result) -> str:
    lines = [f"# Anomaly detectors and neighbours ({result['date']})", "",
             "Host: agreement with scikit-learn (float32 rows) of our conversion and of "
             "emlearn 0.23.2's C (classifiers: predict; detectors: score_samples >= the "
             "threshold picked for 5% false positives on the validation part, each side "
             "with its own scores); detectors' held-out false-positive rate and recall at "
             "that threshold.", "",
             "| model | ours vs sklearn | emlearn vs sklearn | test FPR | test recall / acc |",
             "|---|---|---|---|---|"]

    def f(v, pct=True):
        if v is None:
            return "-"
        if isinstance(v, str):
            return v
        return f"{100 * v:.1f}%" if pct else f"{v:.0f}"
    for r in result["host"]:
        last = r.get("test_recall", r.get("test_accuracy"))
        lines.append(f"| {r['model']} | {f(r['sklearn_agreement'])} | "
                     f"{f(r['emlearn_agreement'])} | {f(r.get('test_fpr'))} | {f(last)} |")
    lines += ["", "Devices: dev.deploy's check (scores bit for bit, same decision) and the "
              "median time per predict; on emulated boards 1 us == 1 000 instructions.", "",
              "| device | model | agreement | us / predict | instructions / predict | files |",
              "|---|---|---|---|---|---|"]
    for r in result["devices"]:
        instr = r["instructions_per_predict"]
        instr = "-" if instr is None else f"{instr:,.0f}"
        lines.append(f"| {r['device']} | {r['model']} | {100 * r['agreement']:.1f}% | "
                     f"{r['us_per_predict']:.1f} | {instr} | {r['flash_bytes']:,} B |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", nargs="+", default=["virtual"])
    ap.add_argument("--out", default=str(HERE / "results" / "anomaly"))
    args = ap.parse_args(argv)
    parts = data()
    host, models = host_rows(parts)
    for r in host:
        print(r, flush=True)
    devices = []
    for device in args.device:
        devices += device_rows(models, parts["test"][0], device)
    result = {"date": datetime.date.today().isoformat(), "host": host, "devices": devices}
    Path(args.out + ".json").write_text(json.dumps(result, indent=1))
    Path(args.out + ".md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
