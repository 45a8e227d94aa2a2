"""Tree compression on 11 offline datasets (issue 21's targets), emlearn beside us.

    pip download aeon==1.0.0 --no-deps -d ~/.cache/emlearn_lab     # registry wheel with data
    python3 bench/bench_compression.py [--repeats 1] [--folds 3]   # datasets + timing run
    python3 bench/bench_compression.py --quick       # iris and wine only; prints, writes nothing
    python3 bench/bench_compression.py --timing      # the timing run only (updates the results)
    python3 bench/bench_compression.py --report      # re-render results/compression.md
    python3 bench/bench_compression.py --validation 0.5   # half of each training part held
                                                          # for validation: ..._validation50.*

Datasets: scikit-learn's bundled iris, wine, breast_cancer, digits, and time series shipped
inside the aeon wheel (read from the .whl with zipfile; aeon is not imported): BasicMotions
(accelerometer + gyroscope), GunPoint, ItalyPowerDemand, ArrowHead, OSULeaf, ACSF1,
JapaneseVowels. Series become summary features per channel (mean, std, min, max, quartiles,
std of the first difference; univariate series also 16 mean-pooled segments).

Every dataset's features are min-max scaled to integers 0..4095 first, for every contender:
emlearn's trees compare int16 features (``x < int(threshold)``), so integer inputs are its
intended use.

Protocol: RepeatedStratifiedKFold. Within each fold's training part a stratified 25%
(``--validation``) validation part is split off (seeded by the fold); forests of 10 and 50
trees at min_samples_leaf 1 and 10 (RandomForestClassifier, seeded) are fit on the rest. Each
forest: ``eml.compression_sweep`` with the library's default grid (pruning on the fit rows,
scored on the validation rows, held-out = the fold's test rows); the pick is
``sweep.best(max_drop=0.01)`` (chosen on validation only), and beside it the noise-aware picks
``best(0.01, confidence=0.95, margin=m)`` for m = 0.01 and 0.015. emlearn converts the same
forest (leaf_bits 0 and 8, its exact de-dup; bytes: 8 per node (its EmlTreesNode), 4 per root,
its leaf table; probabilities from its own flattened forest with its C comparison); its best
setting is its smallest within 1 point of our uncompressed validation AUC, else its best
validation AUC. Every AUC here is the sweep's own metric (ROC AUC, ovo, weighted).

Separately (--timing, also in the default run): make_classification(15000, 20,
n_informative=8, n_classes=4), a 50-tree forest on 10 000 rows, the sweep with 5 000
validation rows and n_jobs=2: seconds and number of settings (issue target: < 60 s on 2 cores).
"""
import argparse
import collections
import glob
import io
import json
import os
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

import emlearn_lab as eml
from emlearn_lab.sweep_metrics import auc_standard_error
from emlearn_lab.exceptions import InputError
from emlearn_lab.trees.modelfile import LAYOUTS, file_layout, to_bytes

AEON = ("BasicMotions", "GunPoint", "ItalyPowerDemand", "ArrowHead", "OSULeaf", "ACSF1",
        "JapaneseVowels")
FORESTS = ((10, 1), (10, 10), (50, 1), (50, 10))
MAX_DROP = 0.01          # the pick: at most 1 point of validation AUC below uncompressed
HELD_OUT_TARGET = 0.015  # issue 21: held-out AUC within 1.5 points
# Noise-aware picks, best(MAX_DROP, confidence=0.95, margin=m): the drop's one-sided 95% bound
# within m = 1 point (max_drop itself), or within 1.5 points (issue 21's held-out allowance).
CONFIDENCE = 0.95
MARGINS = (MAX_DROP, HELD_OUT_TARGET)
RATIO_TARGET = 10.0      # issue 21: >= 10x smaller (median over datasets)
TIMING_TARGET_S = 60.0   # issue 21: default sweep < 60 s on 2 cores
N_JOBS = 2
SETTING_KEYS = ("n_trees", "ccp_alpha", "refine", "leaves_per_class", "leaf_bits", "features")
RESULTS = Path(__file__).with_name("results")


def _aeon_wheel() -> str:
    hits = sorted(glob.glob(os.path.expanduser("~/.cache/emlearn_lab/aeon-*.whl")))
    if not hits:
        sys.exit("aeon wheel not found: pip download aeon==1.0.0 --no-deps -d "
                 "~/.cache/emlearn_lab")
    return hits[-1]


def _read_ts(text: str):
    rows, labels, data = [], [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            data = True
            continue
        if not data:
            continue
        *dims, label = line.split(":")
        rows.append([np.array([float(v) if v != "?" else np.nan for v in d.split(",")])
                     for d in dims])
        labels.append(label)
    return rows, np.array(labels)


def _series_features(rows) -> np.ndarray:
    out = []
    for dims in rows:
        f = []
        for s in dims:
            s = s[np.isfinite(s)]
            q = np.quantile(s, [0.25, 0.5, 0.75])
            f += [s.mean(), s.std(), s.min(), s.max(), *q, np.diff(s).std()]
            if len(dims) == 1:
                f += [c.mean() for c in np.array_split(s, 16)]
        out.append(f)
    return np.array(out)


def load_datasets(names=None) -> dict:
    sk = [n for n in ("iris", "wine", "breast_cancer", "digits") if names is None or n in names]
    out = {name: getattr(datasets, f"load_{name}")(return_X_y=True) for name in sk}
    aeon = [n for n in AEON if names is None or n in names]
    if aeon:
        with zipfile.ZipFile(_aeon_wheel()) as z:
            for name in aeon:
                rows, labels = [], []
                for part in ("TRAIN", "TEST"):
                    r, lab = _read_ts(io.TextIOWrapper(z.open(
                        f"aeon/datasets/data/{name}/{name}_{part}.ts"),
                        encoding="utf-8").read())
                    rows += r
                    labels.append(lab)
                y = np.unique(np.concatenate(labels), return_inverse=True)[1]
                out[name] = (_series_features(rows), y)
    return out


def to_int_features(X):
    lo, hi = X.min(axis=0), X.max(axis=0)
    return np.round((X - lo) / np.where(hi > lo, hi - lo, 1) * 4095)


# -- emlearn, from its own flattened forest ----------------------------------------------------

class _Scored:
    """Precomputed probabilities in the shape the sweep's metric takes (model, X, y)."""

    def __init__(self, proba, classes):
        self.proba, self.classes_ = proba, classes

    def predict_proba(self, X):
        return self.proba


def emlearn_eval(clf, Xs, leaf_bits):
    """(bytes, [proba per X in Xs]) of emlearn's conversion, computed as its C code does."""
    import emlearn
    w = emlearn.convert(clf, method="loadable", leaf_bits=leaf_bits)
    nodes, roots, leaves = w.forest_
    nodes = np.array(nodes, dtype=np.float64)
    n_classes = len(clf.classes_)
    # cgen.constant(value, "int16_t") writes int(value); exact=True: x <= value instead.
    point = np.trunc(nodes[:, 1])
    feat, left, right = nodes[:, 0].astype(int), nodes[:, 2].astype(int), nodes[:, 3].astype(int)
    leaf_bytes = len(leaves) if leaf_bits == 0 else np.asarray(leaves).size
    nbytes = 8 * len(nodes) + 4 * len(roots) + leaf_bytes
    probas = []
    for X in Xs:
        proba = np.zeros((len(X), n_classes))
        Xi = X.astype(np.int64)
        for r in roots:
            idx = np.full(len(X), int(r))
            active = idx >= 0
            while active.any():
                n = idx[active]
                go_left = Xi[active, feat[n]] < point[n]
                idx[active] = np.where(go_left, left[n], right[n])
                active = idx >= 0
            leaf = -idx - 1
            if leaf_bits == 0:
                proba[np.arange(len(X)), np.asarray(leaves)[leaf].astype(int)] += 1
            else:
                proba += np.asarray(leaves, dtype=np.float64).reshape(-1, n_classes)[leaf] / 255.
        total = proba.sum(axis=1, keepdims=True)
        probas.append(np.where(total > 0, proba / np.where(total > 0, total, 1),
                               1 / n_classes))
    return int(nbytes), probas


# -- one forest --------------------------------------------------------------------------------

def _index(sweep, model) -> int:
    return next(i for i, m in enumerate(sweep.models) if m is model)


def run_forest(name, fold, parts, n_trees, msl, seed):
    X_fit, y_fit, X_val, y_val, X_test, y_test = parts
    clf = RandomForestClassifier(n_estimators=n_trees, min_samples_leaf=msl,
                                 random_state=seed).fit(X_fit, y_fit)
    sweep = eml.compression_sweep(clf, X_val, y_val, X_train=X_fit, y_train=y_fit,
                                  X_test=X_test, y_test=y_test, n_jobs=N_JOBS)
    base = sweep.baseline

    def held(i):
        return sweep.score(sweep.models[i], X_test, y_test)

    try:
        pick = _index(sweep, sweep.best(max_drop=MAX_DROP))
        within = True
    except InputError:           # no setting within 1 point: the best validation AUC instead
        pick = max(range(len(sweep.rows)), key=lambda i: sweep.rows[i]["metric"])
        within = False
    p = sweep.rows[pick]
    row = {"dataset": name, "fold": fold, "trees": n_trees, "min_samples_leaf": msl,
           "n_fit": len(y_fit), "n_val": len(y_val), "n_test": len(y_test),
           "base_bytes": base["bytes"], "base_val_auc": base["metric"],
           "base_held_auc": base["held_out"],
           "pick_bytes": p["bytes"], "pick_val_auc": p["metric"], "pick_held_auc": held(pick),
           "pick_within_max_drop": within,
           "pick": {k: p[k] for k in SETTING_KEYS + ("kept_trees", "n_nodes", "n_leaves")},
           "sweep_s": sweep.seconds, "n_settings": len(sweep.rows),
           "front": [{**{k: sweep.rows[i][k] for k in SETTING_KEYS + ("bytes", "metric")},
                      "held_auc": held(i)} for i in sweep.pareto()]}
    # How much the held-out AUC itself moves by chance on these rows (Hanley & McNeil).
    row["held_se"] = auc_standard_error(eml.convert(clf), X_test, y_test)
    row["size_ratio"] = row["base_bytes"] / row["pick_bytes"]
    # The uncompressed forest is written with split nodes (eml.convert's file_layout, the
    # faster walker); with packed nodes where smaller (as eml.compress writes) it would be:
    row["base_packed_bytes"] = len(to_bytes(replace(eml.convert(clf), file_layout=None)))
    row["size_ratio_packed_base"] = row["base_packed_bytes"] / row["pick_bytes"]
    row["pick_layout"] = LAYOUTS[file_layout(sweep.models[pick])]
    row["held_drop"] = row["base_held_auc"] - row["pick_held_auc"]
    row["val_drop"] = row["base_val_auc"] - row["pick_val_auc"]
    # The noise-aware picks: a non-inferiority test on the validation rows (paired_drop.py).
    row["confident"] = {}
    for margin in MARGINS:
        try:
            sure = _index(sweep, sweep.best(max_drop=MAX_DROP, confidence=CONFIDENCE,
                                            margin=margin))
        except InputError:
            row["confident"][str(margin)] = None
            continue
        q = sweep.rows[sure]
        row["confident"][str(margin)] = {
            "bytes": q["bytes"], "size_ratio": base["bytes"] / q["bytes"], "val_drop": q["drop"],
            "drop_se": sweep.drop_se(sure), "held_drop": base["held_out"] - held(sure),
            **{k: q[k] for k in SETTING_KEYS}}

    em = {}
    for bits in (0, 8):
        b, (pv, pt) = emlearn_eval(clf, (X_val, X_test), bits)
        em[bits] = {"bytes": b, "val_auc": sweep.score(_Scored(pv, clf.classes_), X_val, y_val),
                    "held_auc": sweep.score(_Scored(pt, clf.classes_), X_test, y_test)}
    ok = [bits for bits, v in em.items() if base["metric"] - v["val_auc"] <= MAX_DROP + 1e-12]
    eb = (min(ok, key=lambda k: (em[k]["bytes"], -em[k]["val_auc"])) if ok
          else max(em, key=lambda k: em[k]["val_auc"]))
    row["emlearn"] = {str(k): v for k, v in em.items()}
    row["emlearn_best"] = {"leaf_bits": eb, **em[eb]}
    mine = [i for i, r in enumerate(sweep.rows) if r["metric"] >= em[eb]["val_auc"] - 1e-12]
    if mine:
        i = min(mine, key=lambda i: (sweep.rows[i]["bytes"], -sweep.rows[i]["metric"]))
        r = sweep.rows[i]
        row["ours_at_emlearn"] = {"bytes": r["bytes"], "val_auc": r["metric"],
                                  "held_auc": held(i),
                                  **{k: r[k] for k in SETTING_KEYS}}
        row["vs_emlearn"] = em[eb]["bytes"] / r["bytes"]
    else:
        row["ours_at_emlearn"] = None
        row["vs_emlearn"] = None
    return row


def run_dataset(name, X, y, folds, repeats, validation=0.25):
    X = to_int_features(np.asarray(X, dtype=np.float64))
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=0)
    rows = []
    for i, (train, test) in enumerate(cv.split(X, y)):
        X_fit, X_val, y_fit, y_val = train_test_split(
            X[train], y[train], test_size=validation, stratify=y[train], random_state=i)
        parts = (X_fit, y_fit, X_val, y_val, X[test], y[test])
        for n_trees, msl in FORESTS:
            rows.append(run_forest(name, i, parts, n_trees, msl, seed=i))
    return rows


# -- timing run --------------------------------------------------------------------------------

def run_timing():
    X, y = datasets.make_classification(15000, 20, n_informative=8, n_classes=4,
                                        random_state=0)
    X_train, y_train, X_val, y_val = X[:10000], y[:10000], X[10000:], y[10000:]
    out = []
    for msl in (1, 10):
        clf = RandomForestClassifier(50, min_samples_leaf=msl, random_state=0).fit(
            X_train, y_train)
        t0 = time.perf_counter()
        sweep = eml.compression_sweep(clf, X_val, y_val, X_train=X_train, y_train=y_train,
                                      n_jobs=N_JOBS)
        wall = time.perf_counter() - t0
        p = sweep.rows[_index(sweep, sweep.best(max_drop=MAX_DROP))]
        out.append({"trees": 50, "min_samples_leaf": msl, "seconds": sweep.seconds,
                    "wall_s": wall, "n_settings": len(sweep.rows),
                    "n_structures": sum(1 for r in sweep.rows if r["leaves_per_class"] is None
                                        and r["leaf_bits"] == 8
                                        and r["features"] == "float32"),
                    "base_bytes": sweep.baseline["bytes"], "pick_bytes": p["bytes"],
                    "base_val_auc": sweep.baseline["metric"], "pick_val_auc": p["metric"],
                    "pick": {k: p[k] for k in SETTING_KEYS}})
        print(f"timing: 50 trees, min_samples_leaf {msl}: {sweep.seconds:.1f} s, "
              f"{len(sweep.rows)} settings", flush=True)
    return out


# -- report ------------------------------------------------------------------------------------

def _med(values):
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else float("nan")


def _confident(row, margin, key):
    """A noise-aware pick's figure; a forest where no setting passed keeps the uncompressed
    forest (size ratio 1, held-out drop 0)."""
    c = row["confident"][str(margin)]
    return c[key] if c is not None else {"size_ratio": 1.0, "held_drop": 0.0}[key]


def _confident_se(rows, margin) -> list:
    """The drop standard errors of the noise-aware picks with this margin."""
    picks = [r["confident"][str(margin)] for r in rows]
    return [c["drop_se"] for c in picks if c is not None]


def _vs(rows):
    # A forest where no setting of ours reaches emlearn's best validation AUC counts as 0
    # (we would need unbounded bytes); such forests are counted in the summary.
    return _med([0.0 if r["vs_emlearn"] is None else r["vs_emlearn"] for r in rows])


def report(res) -> str:
    rows, meta = res.get("forests", []), res.get("datasets", {})
    confident = bool(rows) and all(isinstance(r.get("confident"), dict) for r in rows)
    lines = []
    if rows:
        lines += ["Medians over each dataset's forests (all; 10 trees / 50 trees). Size ratio = "
                  "uncompressed bytes / pick bytes; held-out drop = uncompressed held-out AUC − "
                  "pick held-out AUC; vs emlearn = emlearn best bytes / our smallest setting at "
                  "≥ its validation AUC (> 1: ours smaller).", "",
                  "| dataset | rows | features | classes | size ratio | held-out drop of pick "
                  + "".join(f"| confidence {CONFIDENCE:g}, margin {m:g}: size ratio / "
                            "held-out drop " for m in (MARGINS if confident else ()))
                  + "| max held-out drop | vs emlearn | sweep s (median) | settings |",
                  "|---|---|---|---|---|---|---|---|---|---|"
                  + "---|" * len(MARGINS if confident else ())]
        per = {}
        for name in dict.fromkeys(r["dataset"] for r in rows):
            rs = [r for r in rows if r["dataset"] == name]
            t10 = [r for r in rs if r["trees"] == 10]
            t50 = [r for r in rs if r["trees"] == 50]
            m = meta.get(name, {})

            def three(f, fmt, rs=rs, t10=t10, t50=t50):
                return " / ".join(fmt.format(f(g)) for g in (rs, t10, t50)).replace(
                    " / ", " (", 1) + ")"
            size = three(lambda g: _med(r["size_ratio"] for r in g), "{:.1f}×")
            drop = three(lambda g: _med(r["held_drop"] for r in g), "{:+.4f}")
            vs = three(_vs, "{:.2f}")
            per[name] = {"size": _med(r["size_ratio"] for r in rs),
                         "drop": _med(r["held_drop"] for r in rs), "vs": _vs(rs),
                         **{(m, key): _med(_confident(r, m, key) for r in rs)
                            for m in (MARGINS if confident else ()) for key in
                            ("size_ratio", "held_drop")}}
            sure = " | ".join(f"{per[name][m, 'size_ratio']:.1f}× / "
                              f"{per[name][m, 'held_drop']:+.4f}"
                              for m in (MARGINS if confident else ()))
            lines.append(
                f"| {name} | {m.get('rows', '')} | {m.get('features', '')} | "
                f"{m.get('classes', '')} | {size} | {drop} | {sure} | "
                f"{max(r['held_drop'] for r in rs):+.4f} | {vs} | "
                f"{_med(r['sweep_s'] for r in rs):.1f} | "
                f"{int(_med(r['n_settings'] for r in rs))} |")
        drops = [r["held_drop"] for r in rows]
        over = [r for r in rows if r["held_drop"] > HELD_OUT_TARGET]
        behind = sum(r["vs_emlearn"] is None for r in rows)
        outside = sum(not r["pick_within_max_drop"] for r in rows)
        sw = [r["sweep_s"] for r in rows]
        t10 = [r for r in rows if r["trees"] == 10]
        t50 = [r for r in rows if r["trees"] == 50]
        size_med = _med(v["size"] for v in per.values())
        split_med = _med(_med(r.get("size_ratio_packed_base", 0) for r in rows
                              if r["dataset"] == d) for d in per)
        lines += [
            "",
            f"- forests: {len(rows)} ({len(per)} datasets × folds × 4 forests); validation "
            f"part: {res.get('validation', 0.25):.0%} of each fold's training part; pick = "
            f"`sweep.best(max_drop={MAX_DROP})` on validation rows"
            + (f" ({outside} forests had no setting within it: best validation AUC taken)"
               if outside else ""),
            f"- size ratio, median over datasets: **{size_med:.1f}×** (target ≥ "
            f"{RATIO_TARGET:.0f}×: "
            f"{'met' if size_med >= RATIO_TARGET else f'not met: {size_med:.2f}×'}); "
            f"median over forests {_med(r['size_ratio'] for r in rows):.1f}× (10 trees "
            f"{_med(r['size_ratio'] for r in t10):.1f}×, 50 trees "
            f"{_med(r['size_ratio'] for r in t50):.1f}×); range "
            f"{min(r['size_ratio'] for r in rows):.1f}–{max(r['size_ratio'] for r in rows):.1f}×",
            *([f"- nodes: picks written with packed nodes (the smallest file): "
               f"{sum(r['pick_layout'] == 'packed' for r in rows)} of {len(rows)}; the "
               f"uncompressed forest with packed nodes would take "
               f"{_med(r['base_packed_bytes'] / r['base_bytes'] for r in rows):.2f} of its bytes "
               f"(median), and the size ratio against that, median over datasets, would be "
               f"{split_med:.1f}×"]
              if rows and "base_packed_bytes" in rows[0] else []),
            f"- held-out AUC drop of the pick: max **{max(drops):+.4f}**, median over forests "
            f"{_med(drops):+.4f}, median over datasets {_med(v['drop'] for v in per.values()):+.4f}"
            f" (10 trees {_med(r['held_drop'] for r in t10):+.4f}, 50 trees "
            f"{_med(r['held_drop'] for r in t50):+.4f}); forests with drop > "
            f"{HELD_OUT_TARGET}: **{len(over)} of {len(rows)}**"
            + ("; the largest: " + ", ".join(
                f"{r['dataset']} fold {r['fold']} {r['trees']} trees/msl "
                f"{r['min_samples_leaf']} {r['held_drop']:+.4f}"
                for r in sorted(over, key=lambda r: -r["held_drop"])[:8])
               if over else ""),
            *[f"- the noise-aware pick `sweep.best(max_drop={MAX_DROP}, confidence="
              f"{CONFIDENCE:g}, margin={m:g})` (validation drop within {MAX_DROP}, and its "
              f"one-sided {CONFIDENCE:.0%} bound within {m:g}: a non-inferiority test of the "
              f"paired drop, DeLong standard errors, on the same validation rows): size ratio "
              f"median over datasets **{_med(v[m, 'size_ratio'] for v in per.values()):.1f}×** "
              f"(over forests {_med(_confident(r, m, 'size_ratio') for r in rows):.1f}×), "
              f"held-out drop median over datasets "
              f"**{_med(v[m, 'held_drop'] for v in per.values()):+.4f}** (over forests "
              f"{_med(_confident(r, m, 'held_drop') for r in rows):+.4f}); forests with drop > "
              f"{HELD_OUT_TARGET}: "
              f"{sum(_confident(r, m, 'held_drop') > HELD_OUT_TARGET for r in rows)} of "
              f"{len(rows)}; forests where no setting passed (counted as the uncompressed "
              f"forest, ratio 1, drop 0): "
              f"{sum(r['confident'][str(m)] is None for r in rows)}; the pick's drop standard "
              f"error, median over forests "
              f"{_med(_confident_se(rows, m)):.4f}"
              for m in (MARGINS if confident else ())],
            "- chance on the held-out rows: the uncompressed held-out AUC's standard error "
            f"(Hanley & McNeil), median over forests {_med(r['held_se'] for r in rows):.4f}; "
            f"forests whose drop exceeds {HELD_OUT_TARGET} by more than two standard errors: "
            f"**{sum(r['held_drop'] > HELD_OUT_TARGET + 2 * r['held_se'] for r in rows)} of "
            f"{len(rows)}**" if all("held_se" in r for r in rows) else "",
            f"- validation vs held-out: the pick's validation drop, median over forests "
            f"{_med(r['val_drop'] for r in rows):+.4f} (max {max(r['val_drop'] for r in rows):+.4f}"
            f"; {sum(r['val_drop'] < 0 for r in rows)} picks score above the uncompressed forest "
            f"on validation); validation rows per forest: median "
            f"{int(_med(r['n_val'] for r in rows))}, range {min(r['n_val'] for r in rows)}–"
            f"{max(r['n_val'] for r in rows)}",
            f"- vs emlearn (emlearn best bytes / ours at ≥ its validation AUC), median over "
            f"datasets: **{_med(v['vs'] for v in per.values()):.2f}** (median over forests "
            f"{_vs(rows):.2f}; 10 trees {_vs(t10):.2f}, 50 trees {_vs(t50):.2f}); forests where "
            f"no setting of ours reached emlearn's best validation AUC: {behind} of "
            f"{len(rows)}; held-out AUC of the two, median over forests: emlearn best "
            f"{_med(r['emlearn_best']['held_auc'] for r in rows):.4f}, ours at its AUC "
            f"{_med(r['ours_at_emlearn']['held_auc'] for r in rows if r['ours_at_emlearn']):.4f}",
            f"- sweep seconds per forest (n_jobs={N_JOBS}): median {_med(sw):.1f} s, max "
            f"{max(sw):.1f} s ({max(rows, key=lambda r: r['sweep_s'])['dataset']}); settings "
            f"per sweep: median {int(_med(r['n_settings'] for r in rows))}, range "
            f"{min(r['n_settings'] for r in rows)}–{max(r['n_settings'] for r in rows)}",
            "- settings the picks used (count of forests):"]
        for k in SETTING_KEYS:
            c = collections.Counter("all" if (k == "n_trees" and r["pick"][k] is None)
                                    else r["pick"][k] for r in rows)
            lines.append(f"  - {k}: " + ", ".join(f"{v!s}: {n}" for v, n in c.most_common()))
    timing = res.get("timing")
    if timing:
        lines += ["", "Timing run: make_classification(15000, 20, n_informative=8, n_classes=4, "
                  "random_state=0); RandomForestClassifier(50, random_state=0) on the first "
                  "10 000 rows; sweep with the default grid, X_train/y_train = those rows, the "
                  f"last 5 000 rows as validation, n_jobs={N_JOBS} (target < "
                  f"{TIMING_TARGET_S:.0f} s on 2 cores):", "",
                  "| min_samples_leaf | seconds | settings | structures | uncompressed B | "
                  "pick B | ratio | val AUC uncompressed → pick |",
                  "|---|---|---|---|---|---|---|---|"]
        for t in timing:
            lines.append(f"| {t['min_samples_leaf']} | {t['seconds']:.1f} | {t['n_settings']} | "
                         f"{t['n_structures']} | {t['base_bytes']} | {t['pick_bytes']} | "
                         f"{t['base_bytes'] / t['pick_bytes']:.1f}× | "
                         f"{t['base_val_auc']:.4f} → {t['pick_val_auc']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="iris and wine only (no timing run); prints, writes no results")
    ap.add_argument("--timing", action="store_true",
                    help="the timing run only; updates it in results/compression.json")
    ap.add_argument("--report", action="store_true", help="re-render results/compression.md")
    ap.add_argument("--validation", type=float, default=0.25,
                    help="the fraction of each fold's training part held for validation; "
                         "other than 0.25 writes results/compression_validation<percent>.* "
                         "and skips the timing run")
    args = ap.parse_args(argv)
    stem = ("compression" if args.validation == 0.25
            else f"compression_validation{round(100 * args.validation)}")
    path = RESULTS / f"{stem}.json"
    if args.report:
        res = json.loads(path.read_text())
        (RESULTS / f"{stem}.md").write_text(report(res))
        print(report(res))
        return
    if args.timing:
        res = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(res, dict):
            res = {}
        res["timing"] = run_timing()
    else:
        data = load_datasets(("iris", "wine") if args.quick else None)
        res = {"command": " ".join(["python3", "bench/bench_compression.py"]
                                   + list(sys.argv[1:] if argv is None else argv)),
               "folds": args.folds, "repeats": args.repeats, "validation": args.validation,
               "datasets": {}, "forests": []}
        t0 = time.time()
        for name, (X, y) in data.items():
            res["datasets"][name] = {"rows": len(X), "features": int(np.shape(X)[1]),
                                     "classes": int(len(np.unique(y)))}
            res["forests"] += run_dataset(name, X, y, args.folds, args.repeats,
                                          args.validation)
            print(f"{name}: {len(X)} rows, {np.shape(X)[1]} features, {len(np.unique(y))} "
                  f"classes ({time.time() - t0:.0f} s)", flush=True)
        if not args.quick and stem == "compression":
            res["timing"] = run_timing()
    text = report(res)
    print(text)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(res, indent=1, default=float))
        (RESULTS / f"{stem}.md").write_text(text)


if __name__ == "__main__":
    main()
