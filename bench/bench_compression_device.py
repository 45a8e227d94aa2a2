"""Compressed forests on the device: instructions per predict and exactness (issue 21).

    python3 bench/bench_compression_device.py                          # Cortex-M3 + virtual
    python3 bench/bench_compression_device.py --device emulated:cortex-m3 --rows 150

Cases: digits RandomForestClassifier(10, max_leaf_nodes=100, random_state=1) and
RandomForestClassifier(50, random_state=0); diabetes RandomForestRegressor(20, random_state=0).
Split: 50/50 as bench_trees.py (random_state=1); 25% of the training half held back as
validation rows for the sweep; the forest is fitted on the other 75% ("fit" rows), which also
select, prune and refine (X_train, y_train) and calibrate int16 features. Models per case: the
uncompressed conversion (eml.convert, float32), the leaf-only compression (8 shared leaves per
class, int16 features), the sweep's pick (best(0.01); r2 and best(0.02) for the regressor),
and explicit pruned settings for each new path: n_trees=4 (selection + refinement),
ccp_alpha=0.01 without refinement, and n_trees=2 + ccp_alpha=0.003 + 2 leaves per class +
hard votes + int16. A regressor's ccp_alpha is scaled by var(y_fit), as the sweep does, and its
leaves stay 32-bit (leaf_bits is for classifiers).

Every model is deployed with dev.deploy(model, X_rows, form=...) in the loadable and the inline
form: agreement is device == the model's host reference on every row sent (must be 1.0); the
timing is deploy's (the first 16 rows, best of 3 loops per row). On an emulated board the
clock counts instructions (qemu -icount, 1 us = 1000 instructions), so the figures are
instructions per predict, exact and independent of the host's load. A deploy that does not
fit the board's heap is retried on --big-board (same core, larger heap: the same
instruction counts, checked on one model per run). Held-out metric: accuracy / r2 of the host
reference on the whole test half.

On an emulated board each timed row is also timed on its own (median of 3 figures; skip with
--no-explain), and a least-squares fit over every row of every model splits the instructions
into fixed cost, node visits, leaf values added, trees and slow-path rows (cost_model). A
disagreement stops the run: the model file, its rows and the disagreements go to FAIL_DIR.

Writes bench/results/compression_device_BOARD.{json,md} per device (virtual: microseconds).
"""
import argparse
import hashlib
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, load_digits
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

import emlearn_lab as eml
from emlearn_lab.device.session import row_bytes
from emlearn_lab.exceptions import DeviceMemoryError
from emlearn_lab.trees.modelfile import LAYOUTS, PACKED, file_kernel_name, file_layout, to_bytes
from emlearn_lab.trees.packing import pack

HERE = Path(__file__).parent
FORMS = ("loadable", "inline")
CASES = ("digits_rf10", "digits_rf50", "diabetes_rf20")
FAIL_DIR = Path("/tmp/compression_device_failures")
ROWS_PATH = "cd_rows.bin"
TIMED_ROWS = 16            # deploy's timing rows (the first 16)


def case_data(name: str) -> dict:
    """The case's fitted forest and its rows."""
    if name.startswith("digits"):
        X, y = load_digits(return_X_y=True)
        if name == "digits_rf10":
            est = RandomForestClassifier(n_estimators=10, max_leaf_nodes=100, random_state=1)
            desc = "RandomForestClassifier(n_estimators=10, max_leaf_nodes=100, random_state=1)"
        else:
            est = RandomForestClassifier(50, random_state=0)
            desc = "RandomForestClassifier(n_estimators=50, random_state=0)"
        metric, held, max_drop, stratify = "roc_auc_ovo_weighted", "accuracy", 0.01, True
    else:
        X, y = load_diabetes(return_X_y=True)
        est = RandomForestRegressor(20, random_state=0)
        desc = "RandomForestRegressor(n_estimators=20, random_state=0)"
        metric, held, max_drop, stratify = "r2", "r2", 0.02, False
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=1)
    X_fit, X_val, y_fit, y_val = train_test_split(
        X_train, y_train, test_size=0.25, random_state=0,
        stratify=y_train if stratify else None)
    est.fit(X_fit, y_fit)
    return dict(name=name, desc=desc, est=est, X_fit=X_fit, y_fit=y_fit, X_val=X_val,
                y_val=y_val, X_test=X_test, y_test=y_test, metric=metric, held=held,
                max_drop=max_drop, classifier=held == "accuracy")


def held_out(case: dict, model) -> float:
    pred = model.predict(case["X_test"])
    if case["classifier"]:
        return float(np.mean(pred == case["y_test"]))
    return float(r2_score(case["y_test"], pred))


def case_models(case: dict, n_jobs: int) -> tuple:
    """[(label, settings, TreeModel)], the sweep's report."""
    est, Xf, yf = case["est"], case["X_fit"], case["y_fit"]
    fit = dict(X_train=Xf, y_train=yf)
    # The sweep's ccp_alpha is scikit-learn's for classifiers, x var(y_train) for regressors.
    scale = 1.0 if case["classifier"] else float(np.var(yf.astype(np.float64)))
    bits = {"leaf_bits": 0} if case["classifier"] else {}
    out = [("uncompressed", "eml.convert, float32", eml.convert(est)),
           ("leaves 8/class, int16", "leaves_per_class=8, features='int16'",
            eml.compress(est, leaves_per_class=8, features="int16", X_calib=Xf))]
    t0 = time.perf_counter()
    sweep = eml.compression_sweep(est, case["X_val"], case["y_val"], X_test=case["X_test"],
                                  y_test=case["y_test"], metric=case["metric"], n_jobs=n_jobs,
                                  **fit)
    sweep_s = time.perf_counter() - t0
    pick = sweep.rows[sweep._pick(case["max_drop"], None)]
    keys = ("n_trees", "ccp_alpha", "refine", "leaves_per_class", "leaf_bits", "features")
    out.append((f"sweep best({case['max_drop']:g})",
                ", ".join(f"{k}={pick[k]!r}" if k != "ccp_alpha" else f"{k}={pick[k]:.4g}"
                          for k in keys),
                sweep.best(case["max_drop"])))
    out.append(("n_trees=4 (select + refine)", "n_trees=4",
                eml.compress(est, n_trees=4, **fit)))
    out.append(("ccp_alpha=0.01, no refine", f"ccp_alpha={0.01 * scale:.4g}, refine=False",
                eml.compress(est, ccp_alpha=0.01 * scale, refine=False, **fit)))
    out.append(("n_trees=2, ccp 0.003, 2 leaves/class, " + ("hard votes, " if bits else "")
                + "int16",
                f"n_trees=2, ccp_alpha={0.003 * scale:.4g}, leaves_per_class=2"
                + (", leaf_bits=0" if bits else "") + ", features='int16'",
                eml.compress(est, n_trees=2, ccp_alpha=0.003 * scale, leaves_per_class=2,
                             features="int16", **bits, **fit)))
    # Packed nodes (issue 21, item 2) against split ones, whose walker is faster per node
    # visit: the uncompressed model (eml.convert writes split nodes) with packed nodes, and
    # the sweep's pick (eml.compress writes the smallest file) with split ones.
    for label, settings, model in list(out[:1] + out[2:3]):
        if file_layout(model) == PACKED:
            other = _split_layout(model)
        elif pack(model)[0] is not None:
            other = replace(model, file_layout="packed")
        else:
            continue
        out.append((f"{label}, {'split' if other.file_layout != 'packed' else 'packed'} nodes",
                    f"{settings}; file_layout={other.file_layout!r}", other))
    return out, sweep.report(case["max_drop"]), sweep_s, len(sweep.rows)


def _split_layout(model):
    """The model with its smallest split-node layout (tiny, small, large)."""
    return replace(model, file_layout=LAYOUTS[file_layout(replace(model, file_layout="split"))])


def model_info(case: dict, label: str, settings: str, model, X_rows) -> dict:
    data = to_bytes(model)
    visits = model.node_visits(X_rows)
    # The leaf values each predict adds: the non-zero values of the leaf reached per tree
    # (sparse leaves list them; the Thumb walker lists a dense model's the same way).
    cells = (np.asarray(model.leaves) != 0).sum(axis=1)[model.apply(X_rows)].sum(axis=1)
    return {"model": label, "settings": settings, "repr": repr(model),
            "model_bytes": model.size_bytes, "sha256": hashlib.sha256(data).hexdigest()[:16],
            "walker": file_kernel_name(data),
            "n_trees": model.n_trees, "decision_nodes": model.n_nodes,
            "unique_leaves": model.n_leaves, "max_depth": model.max_depth,
            "features": model.features,
            "node_visits_median_timed_rows": float(np.median(visits[:TIMED_ROWS])),
            "node_visits_mean_rows": float(np.mean(visits)),
            "leaf_values_added_median_timed_rows": float(np.median(cells[:TIMED_ROWS])),
            "node_visits_timed_rows": visits[:TIMED_ROWS].tolist(),
            "leaf_values_added_timed_rows": cells[:TIMED_ROWS].tolist(),
            "slow_path_timed_rows": slow_path(model, X_rows[:TIMED_ROWS]).tolist(),
            f"held_out_{case['held']}": held_out(case, model), "forms": {}}


def slow_path(model, X) -> np.ndarray:
    """1 for the rows whose predict takes a slow path on a 32-bit device: a classifier's near
    tie (within tie_margin of the best sum: settled in float64, emlab_f64), a regressor's
    integer sum beyond MicroPython's small ints (31 bits on 32-bit ports), which predict reads
    as a heap-allocated big int."""
    s = model.scores(X).astype(np.int64)
    if model.kind != "classifier":
        return (np.abs(s).max(axis=1) >= 2 ** 30).astype(int)
    if not model.tie_margin:
        return np.zeros(len(X), dtype=int)
    gap = s.max(axis=1, keepdims=True) - s
    gap[np.arange(len(s)), s.argmax(axis=1)] = np.iinfo(np.int64).max
    return (gap.min(axis=1) <= model.tie_margin).astype(int)


def _save_failure(case, label, form, model, X_rows, rep) -> str:
    """The model file, its rows and the disagreements, for reproducing a disagreement."""
    FAIL_DIR.mkdir(parents=True, exist_ok=True)
    stem = FAIL_DIR / f"{case['name']}_{label.split(' ')[0].replace('=', '')}_{form}"
    Path(f"{stem}.eml").write_bytes(to_bytes(model))
    np.save(f"{stem}_rows.npy", X_rows)
    Path(f"{stem}.txt").write_text(f"{label}\n{model!r}\n{rep}\n{rep.disagreements!r}\n")
    return str(stem)


def _device_rows(dev, model, X_rows, name) -> None:
    """R: the first TIMED_ROWS rows as deploy's timing reads them (emlab_tools.bench)."""
    dev.put_data(ROWS_PATH, row_bytes(model.check_X(X_rows)[:TIMED_ROWS]))
    dev.exec(f"import array, emlab_tools as T\nm = _emlab_models[{name!r}]\n"
             "x = T._row_buffer(m)\nnb = len(bytes(memoryview(x)))\nR = []\n"
             f"f = open({ROWS_PATH!r}, 'rb')\n"
             f"while len(R) < {TIMED_ROWS} and f.readinto(x) == nb:\n"
             "    R.append(array.array('h' if m.features == 1 else 'f', x))\nf.close()")
    dev.remove_quietly([ROWS_PATH])


def per_row_instructions(dev, model, X_rows, name, repeats, per_us) -> list:
    """Each timed row's instructions per predict on its own (time_calls on that row alone),
    for the cost model of explain()."""
    _device_rows(dev, model, X_rows, name)
    # The median of 3 figures per row: ticks_us on the emulated Cortex-M boards steps back
    # ~1 ms about once in 100 000 reads (shared/qemu/README.md), and a best-of-3 keeps it.
    us = dev.eval(f"[sorted(T.time_calls(m.predict, [r], {repeats})[0] for _ in range(3))[1] "
                  "for r in R]", timeout_s=900)
    dev.exec("R = m = x = None")
    return [u * per_us for u in us]


def call_floor(dev, repeats, per_us) -> float:
    """Instructions of the timing loop around a Python call that does nothing (lambda x: 0),
    per call: the part of every figure that is not the model."""
    dev.exec("import array, emlab_tools as T")
    us = dev.eval(f"T.time_calls(lambda x: 0, [array.array('f', [0.0])], {repeats})[0]")
    return us * per_us


def deploy_one(dev, case, label, model, X_rows, form, repeats, explain=False) -> dict:
    name = "cd_model"    # one at a time: each deploy replaces the previous model
    rep = dev.deploy(model, X_rows, form=form, name=name, repeats=repeats)
    row = {"form": rep.form, "native": rep.native, "agreement": rep.agreement,
           "n_rows": rep.n_rows, "n_disagreements": rep.n_disagreements,
           "bytes_on_device": rep.bytes_on_device,
           "ram_bytes": rep.runtime_ram_bytes + rep.model_ram_bytes,
           "us_per_predict_median": rep.us_per_predict_median,
           "us_per_predict_min": rep.us_per_predict_min,
           "us_per_predict_worst": rep.us_per_predict_max, "load_us": rep.load_us,
           "bench_rows": rep.bench_rows, "bench_repeats": rep.bench_repeats,
           "notes": list(rep.notes)}
    if rep.instructions_per_us is not None:
        row["instructions_per_predict_median"] = rep.instructions_per_predict_median
        row["instructions_per_predict_min"] = rep.instructions_per_predict_min
        row["instructions_per_predict_worst"] = rep.instructions_per_predict_max
    if explain and rep.instructions_per_us is not None:
        row["instructions_per_row"] = per_row_instructions(dev, model, X_rows, name, repeats,
                                                           rep.instructions_per_us)
    if rep.agreement is None or rep.agreement < 1.0:
        row["failure_files"] = _save_failure(case, label, form, model, X_rows, rep)
        row["disagreements"] = repr(rep.disagreements)
    return row


def run(devices: list, cases: list, rows: int, repeats: int | None, big_board: str | None,
        n_jobs: int, explain: bool = True) -> dict:
    built = []
    for cname in cases:
        case = case_data(cname)
        t0 = time.perf_counter()
        models, report, sweep_s, n_settings = case_models(case, n_jobs)
        X_rows = case["X_test"][:rows]
        infos = [model_info(case, label, settings, m, X_rows) for label, settings, m in models]
        built.append((case, models, X_rows, infos, report))
        print(f"{cname}: {len(models)} models in {time.perf_counter() - t0:.1f} s "
              f"(sweep {sweep_s:.1f} s, {n_settings} settings)\n  {report}", flush=True)
    out = {}
    for device in devices:
        results = {"host": platform.platform(), "python": sys.version.split()[0],
                   "numpy": np.__version__, "rows": rows, "cases": []}
        big = None
        with eml.connect(device) as dev:
            per_us = getattr(dev.virtual, "instructions_per_us", None)
            results["device"] = f"{dev!r} [{dev.target}] {dev.info['version']}"
            results["instructions_per_us"] = per_us
            reps = repeats or 200
            results["repeats"] = reps
            for case, models, X_rows, infos, report in built:
                entry = {"case": case["name"], "dataset": case["name"].split("_")[0],
                         "estimator": case["desc"], "held_out_metric": case["held"],
                         "sweep_metric": case["metric"], "max_drop": case["max_drop"],
                         "n_fit": len(case["X_fit"]), "n_val": len(case["X_val"]),
                         "n_test": len(case["X_test"]), "deployed_rows": len(X_rows),
                         "sweep_report": report, "models": []}
                for (label, _settings, model), info in zip(models, infos):
                    info = json.loads(json.dumps(info))
                    for form in FORMS:
                        t0 = time.perf_counter()
                        try:
                            row = deploy_one(dev, case, label, model, X_rows, form, reps,
                                             explain)
                        except DeviceMemoryError as e:
                            if big_board is None or per_us is None:
                                raise
                            if big is None:
                                big = eml.connect(big_board)
                            row = deploy_one(big, case, label, model, X_rows, form, reps,
                                             explain)
                            row["board"] = big_board
                            row["why_big_board"] = str(e).split(". ")[0]
                        row["wall_s"] = round(time.perf_counter() - t0, 1)
                        info["forms"][form] = row
                        dev.exec("import gc\ngc.collect()")
                        print(f"  {case['name']:13s} {label:42s} {form:8s} "
                              f"{_fmt(row['us_per_predict_median'], per_us):>10s} "
                              f"{row['bytes_on_device']:7d} B agree {row['agreement']} "
                              f"{row.get('board', '')} ({row['wall_s']} s)", flush=True)
                        if row["agreement"] is None or row["agreement"] < 1.0:
                            entry["models"].append(info)
                            results["cases"].append(entry)
                            results["stopped"] = (f"{case['name']} / {label} / {form}: "
                                                  f"agreement {row['agreement']}; files "
                                                  f"{row['failure_files']}")
                            out[device] = results
                            if big is not None:
                                big.close()
                            return out
                    entry["models"].append(info)
                results["cases"].append(entry)
            if big is not None and per_us is not None:
                # Same core, larger heap: the counts should be the same; check on one model.
                case, models, X_rows, *_ = built[0]
                results["big_board_check"] = {
                    "board": big_board, "case": case["name"], "model": models[0][0],
                    "form": "loadable",
                    "instructions_here": deploy_one(dev, case, models[0][0], models[0][2],
                                                    X_rows, "loadable", reps)[
                                                        "instructions_per_predict_median"],
                    "instructions_big_board": deploy_one(big, case, models[0][0],
                                                         models[0][2], X_rows, "loadable",
                                                         reps)["instructions_per_predict_median"]}
            if per_us is not None:
                # emlab_tools is on the device since the first deploy.
                results["call_floor_instructions"] = call_floor(dev, reps, per_us)
            if big is not None:
                big.close()
        if per_us is not None and explain:
            results["cost_model"] = cost_model(results)
        out[device] = results
    return out


def cost_model(results: dict) -> list:
    """Per dataset and form: a least-squares fit of each timed row's instructions per predict
    over every model (emulated boards, --explain) as
    fixed + per node visit x visits + per leaf value x values added + per tree x trees
    + per slow-path row (slow_path: a near tie, or a regressor's big-int sum)."""
    out = []
    for dataset in sorted({e["dataset"] for e in results["cases"]}):
        for form in FORMS:
            A, b, where = [], [], []
            for e in results["cases"]:
                if e["dataset"] != dataset:
                    continue
                for m in e["models"]:
                    r = m["forms"].get(form, {})
                    if "instructions_per_row" not in r:
                        continue
                    # Packed nodes (the loadable walker only): extra per visit and per call.
                    packed = float(form == "loadable"
                                   and m.get("walker", "").startswith("forest_packed"))
                    for v, c, slow, ins in zip(m["node_visits_timed_rows"],
                                               m["leaf_values_added_timed_rows"],
                                               m["slow_path_timed_rows"],
                                               r["instructions_per_row"]):
                        A.append([1.0, v, c, m["n_trees"], slow, packed * v, packed])
                        b.append(ins)
                        where.append(f"{e['case']} / {m['model']}")
            if len(b) < 8:
                continue
            A, b = np.array(A), np.array(b)
            # No slow-path row: no such column. Regressors: one leaf value per tree, so the
            # values added are the trees (their figure is then the tree's, value included).
            keep = [0, 1, 2, 3, 4, 5, 6]
            for k in (4, 5, 6):
                if not A[:, k].any():
                    keep.remove(k)
            if np.array_equal(A[:, 2], A[:, 3]):
                keep.remove(2)
            coef = np.zeros(7)
            coef[keep] = np.linalg.lstsq(A[:, keep], b, rcond=None)[0]
            coef[[i for i in range(7) if i not in keep]] = np.nan
            resid = b - A[:, keep] @ coef[keep]
            coef = [None if np.isnan(c) else float(c) for c in coef]
            out.append({"dataset": dataset, "form": form, "rows": len(b),
                        "fixed": coef[0], "per_visit": coef[1], "per_leaf_value": coef[2],
                        "per_tree": coef[3], "slow_path": coef[4],
                        "per_packed_visit": coef[5], "packed_fixed": coef[6],
                        "r2": float(1 - resid.var() / b.var()),
                        "max_abs_residual": float(np.abs(resid).max()),
                        "worst_fit": where[int(np.abs(resid).argmax())]})
    return out


def cost_table(fits: list) -> str:
    lines = ["| dataset | form | rows | fixed | per node visit | per leaf value added | "
             "per tree | slow-path row | packed: + per visit / + fixed | R² | max residual |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in fits:
        c = {k: "—" if f.get(k) is None else f"{f[k]:.{d}f}"
             for k, d in (("fixed", 0), ("per_visit", 1), ("per_leaf_value", 1),
                          ("per_tree", 1), ("slow_path", 0), ("per_packed_visit", 1),
                          ("packed_fixed", 0))}
        lines.append(f"| {f['dataset']} | {f['form']} | {f['rows']} | {c['fixed']} | "
                     f"{c['per_visit']} | {c['per_leaf_value']} | {c['per_tree']} | "
                     f"{c['slow_path']} | {c['per_packed_visit']} / {c['packed_fixed']} | "
                     f"{f['r2']:.3f} | {f['max_abs_residual']:.0f} |")
    return "\n".join(lines)


def _fmt(us, per_us, digits=2):
    if us is None:
        return "—"
    if per_us is None:
        return f"{us:.{digits}f} us"
    return f"{us * per_us:,.0f}".replace(",", " ")


def table(results: dict) -> str:
    per_us = results["instructions_per_us"]
    unit = "instructions/predict" if per_us else "us/predict"
    parts = []
    for entry in results["cases"]:
        base = entry["models"][0]
        metric = entry["held_out_metric"]
        lines = [f"**{entry['case']}**: {entry['estimator']}; fit {entry['n_fit']}, "
                 f"validation {entry['n_val']}, test {entry['n_test']} rows "
                 f"({entry['deployed_rows']} verified on the device)", "",
                 f"| model | bytes | {unit} median, loadable | inline | vs uncompressed "
                 f"(loadable / inline) | min / worst row (loadable) | trees / nodes / leaves "
                 f"| node visits (median, timed rows) | held-out {metric} | agreement |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for m in entry["models"]:
            f = m["forms"]
            cells, ratios = [], []
            for form in FORMS:
                r = f.get(form)
                if r is None:
                    cells.append("—")
                    ratios.append("—")
                    continue
                star = "*" if r.get("board") else ""
                cells.append(_fmt(r["us_per_predict_median"], per_us) + star)
                b = base["forms"].get(form)
                ratios.append(f"{r['us_per_predict_median'] / b['us_per_predict_median']:.2f}"
                              if b and b["us_per_predict_median"] else "—")
            lo = f.get("loadable", {})
            agree = " / ".join(f"{f[k]['agreement']:.0%} ({f[k]['n_rows']})" for k in FORMS
                               if k in f)
            lines.append(
                f"| {m['model']} | {m['model_bytes']} | {cells[0]} | {cells[1]} | "
                f"{ratios[0]} / {ratios[1]} | "
                f"{_fmt(lo.get('us_per_predict_min'), per_us)} / "
                f"{_fmt(lo.get('us_per_predict_worst'), per_us)} | "
                f"{m['n_trees']} / {m['decision_nodes']} / {m['unique_leaves']} | "
                f"{m['node_visits_median_timed_rows']:.0f} | "
                f"{m[f'held_out_{metric}']:.4f} | {agree} |")
        lines += ["", "Settings: " + "; ".join(f"{m['model']}: `{m['settings']}`"
                                               for m in entry["models"]),
                  "", f"Sweep: {entry['sweep_report']}", ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def markdown(results: dict) -> str:
    per_us = results["instructions_per_us"]
    unit = (f"instructions per predict (the clock counts instructions: 1 us = {per_us:g})"
            if per_us else "microseconds per predict (shared machine: ratios matter)")
    md = (f"Device: {results['device']}\nHost: {results['host']}, Python {results['python']}\n"
          f"Figures in {unit}; deploy's timing: the first 16 deployed rows x "
          f"{results['repeats']} calls, best of 3 loops per row; median over rows. Bytes: the "
          "model file (model.size_bytes). Agreement: device == host reference (rows "
          "verified), loadable / inline.\n\n" + table(results))
    if results.get("big_board_check"):
        c = results["big_board_check"]
        md += (f"\n\\* on {c['board']} (the inline module does not fit the ~198 KiB heap); "
               f"same core: {c['case']} {c['model']} {c['form']} counts "
               f"{_fmt(c['instructions_here'] / per_us, per_us)} here and "
               f"{_fmt(c['instructions_big_board'] / per_us, per_us)} there.\n")
    if results.get("cost_model"):
        md += ("\nWhere the instructions go: a least-squares fit over every timed row of "
               "every model, each row timed on its own (median of 3 figures), of "
               "fixed + visits x per node visit + leaf values added x per value + trees x per "
               "tree + slow-path row (a near tie settled in float64; a regressor's integer "
               "sum beyond 2**30, read as a heap-allocated big int) + for a loadable file of "
               "packed nodes, visits x extra per packed visit + its extra fixed cost. "
               "Regressors add one value per tree (counted in per tree).\n\n"
               + cost_table(results["cost_model"]) + "\n\nThe timing loop around a Python "
               f"call that does nothing: {results['call_floor_instructions']:.0f} "
               "instructions per call (included in every figure and in fixed).\n")
    if results.get("stopped"):
        md += f"\n**STOPPED**: {results['stopped']}\n"
    return md


def stem(device: str) -> str:
    return "compression_device_" + ("virtual" if device == "virtual" else
                                     device.split(":", 1)[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", action="append", default=None,
                        help="emulated:cortex-m3 and virtual by default (repeatable)")
    parser.add_argument("--case", action="append", choices=CASES, default=None)
    parser.add_argument("--rows", type=int, default=150,
                        help="test rows verified on the device (default 150)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="calls per timed row (default 200)")
    parser.add_argument("--big-board", default="emulated:cortex-m3-2m",
                        help="where a deploy that does not fit the heap runs instead")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--no-explain", dest="explain", action="store_false",
                        help="skip the per-row instruction counts (emulated boards) behind "
                        "the cost model")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    devices = args.device or ["emulated:cortex-m3", "virtual"]
    out = run(devices, args.case or list(CASES), args.rows, args.repeats, args.big_board,
              args.n_jobs, args.explain)
    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    failed = False
    for device, results in out.items():
        (dest / f"{stem(device)}.json").write_text(json.dumps(results, indent=2) + "\n")
        md = markdown(results)
        (dest / f"{stem(device)}.md").write_text(md)
        print(md)
        failed |= "stopped" in results
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
