"""Live comparison throughput: how many items per second the background stream moves through
the device and the host, per batch size, with the agreement and the device's own latency.

    python3 bench/bench_live.py                     # virtual device
    python3 bench/bench_live.py --device /dev/ttyACM0

Digits, a 10-tree forest and its compressed twin side by side (899 test rows each), and the
basic_motions feature Pipeline (TimeStats + forest, raw windows in). Wall-clock items per
second include the host model, the transfer to the device and back and the comparison; the
device figure is predict() alone, timed on the device. Writes bench/results/live.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import emlearn_lab as eml
from emlearn_lab.live import LiveComparison

HERE = Path(__file__).resolve().parent


def cases():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.5, random_state=1)
    forest = RandomForestClassifier(n_estimators=10, max_leaf_nodes=100, random_state=1)
    forest.fit(X_train, y_train)
    yield "digits forest + compressed", {
        "full": forest, "compressed": eml.compress(forest, leaves_per_class=4)}, X_test
    rec = eml.datasets.load_sample("basic_motions")
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path("basic_motions"), recording=rec)
    win = eml.windows(rec, labels, window_s=2.0, hop_s=0.5)
    pipe = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2], magnitude=True),
                         RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0))
    yield "motions Pipeline (windows in)", {"pipeline": pipe.fit(win.X, win.y)}, win.X


def measure(dev, name, models, X, batch) -> dict:
    eng = LiveComparison(dev, models, X, batch=batch)
    eng.start()           # deploys first (not timed below: the clock starts at the first item)
    t_first = None
    while eng.n_items == 0 and eng.state in ("idle", "running"):
        time.sleep(0.01)
    t_first = time.perf_counter()
    n_first = eng.n_items
    state = eng.wait(600)
    seconds = time.perf_counter() - t_first
    s = eng.summary()
    return {"case": name, "batch": batch, "state": state, "items": s.n_items,
            "items_per_s": (s.n_items - n_first) / seconds if seconds > 0 else float("nan"),
            "models": {label: s[label] for label in s}, "all_agree": s.all_agree}


def table(rows, meta) -> str:
    lines = [f"Run of {meta['date']} ({meta['device']}; shared 2-core VM)", "",
             "| case | batch | items | items/s (wall) | agreement | device us/predict median |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        agree = ", ".join(f"{k} {v['agreement']:.2%}" for k, v in r["models"].items())
        us = ", ".join(f"{k} {v['device_us_median']:.0f}" for k, v in r["models"].items())
        lines.append(f"| {r['case']} | {r['batch']} | {r['items']} | {r['items_per_s']:.0f} "
                     f"| {agree} | {us} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="virtual")
    ap.add_argument("--out", default=str(HERE / "results" / "live"))
    args = ap.parse_args(argv)
    rows = []
    with eml.connect(args.device) as dev:
        for name, models, X in cases():
            for batch in (1, 16, 64):
                rows.append(measure(dev, name, models, X, batch))
        meta = {"date": time.strftime("%Y-%m-%d"), "device": f"{dev!r} [{dev.target}]"}
    Path(args.out + ".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    Path(args.out + ".md").write_text(table(rows, meta))
    print(table(rows, meta))
    return 0 if all(r["all_agree"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
