"""C flash estimate (no compiler) vs arm-none-eabi-gcc -Os + size, on models the calibration
did not see: other datasets, sizes and seeds; trees in both forms and networks; Cortex-M0+ and
Cortex-M4F. Target: within 10% (issue 6).

    python3 bench/bench_c_estimates.py            # ~1 min; writes results/c_estimates.{md,json}
    python3 bench/bench_c_estimates.py --report   # re-render the markdown
"""
import argparse
import datetime
import json
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RESULTS = HERE / "results"
TARGET = 0.10


def models():
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.tree import DecisionTreeClassifier

    import emlearn_lab as eml
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import CLASSIFICATION, REGRESSION
    out = []
    for name in ("tricky", "wine"):
        X, y = CLASSIFICATION[name]()
        for seed, (n, leaves) in enumerate([(5, 20), (15, 60), (40, 200)], start=7):
            clf = RandomForestClassifier(n, max_leaf_nodes=leaves, random_state=seed).fit(X, y)
            out.append((f"{name} RF {n}x{leaves}", eml.convert(clf)))
            out.append((f"{name} RF {n}x{leaves} 6-bit", eml.compress(
                clf, leaves_per_class=6, leaf_bits=6)))
            out.append((f"{name} RF {n}x{leaves} int16 hard", eml.compress(
                clf, leaves_per_class=2, leaf_bits=0, features="int16", X_calib=X)))
        out.append((f"{name} DT", eml.convert(DecisionTreeClassifier(random_state=3)
                                              .fit(X, y))))
    X, y = REGRESSION["friedman"]()
    out.append(("friedman ET 12", eml.convert(ExtraTreesRegressor(12, max_leaf_nodes=80,
                                                                  random_state=5).fit(X, y))))
    X, y = CLASSIFICATION["wine"]()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for hidden, act in (((24,), "relu"), ((16, 8), "tanh"), ((64,), "logistic")):
            mlp = MLPClassifier(hidden, activation=act, max_iter=50, random_state=1).fit(X, y)
            out.append((f"wine MLP {hidden} {act}", eml.convert(mlp)))
            out.append((f"wine MLP {hidden} {act} int8",
                        eml.convert(mlp, weights="int8", X_calib=X)))
        Xr, yr = REGRESSION["diabetes"]()
        reg = MLPRegressor(hidden_layer_sizes=(20,), max_iter=50, random_state=2).fit(Xr, yr)
        out.append(("diabetes MLP (20,)", eml.convert(reg)))
    return out


def measure() -> dict:
    from emlearn_lab.export.c_build import c_size
    from emlearn_lab.export.c_estimate import c_flash_estimate
    from emlearn_lab.nets.model import NetModel
    rows = []
    for name, model in models():
        forms = ("table",) if isinstance(model, NetModel) else ("table", "inline")
        for form in forms:
            for cpu in ("cortex-m0plus", "cortex-m4f"):
                est = c_flash_estimate(model, cpu=cpu, form=form)
                real = c_size(model, cpu=cpu, form=form)
                flash = real.text_bytes + real.data_bytes
                rows.append({"model": name, "form": form, "cpu": cpu,
                             "estimate_bytes": est.flash_bytes, "measured_bytes": flash,
                             "ram_bytes": real.data_bytes + real.bss_bytes,
                             "error": est.flash_bytes / flash - 1, "config": est.signature,
                             "note": est.note})
    return {"date": datetime.date.today().isoformat(), "rows": rows}


def table(r: dict) -> str:
    err = np.abs([x["error"] for x in r["rows"]])
    models = {x["model"] for x in r["rows"]}
    within = int((err <= TARGET).sum())
    out = [f"# C flash estimate vs arm-none-eabi-size ({r['date']})", "",
           f"{len(models)} models, {len(r['rows'])} (model, form, cpu) builds not used in the "
           f"calibration. Within {TARGET:.0%}: **{within} of {len(err)}**; |error| median "
           f"{np.median(err):.1%}, max {err.max():.1%}. RAM (data + bss) measured: "
           f"{max(x['ram_bytes'] for x in r['rows'])} B at most (tables are in flash).", "",
           "| group | builds | within 10% | median abs error | max abs error |",
           "|---|---|---|---|---|"]
    for form, kind in (("table", "trees"), ("inline", "trees"), ("table", "net")):
        e = np.abs([x["error"] for x in r["rows"]
                    if x["form"] == form and x["config"].startswith(kind)])
        if len(e):
            out.append(f"| {kind} {form} | {len(e)} | {int((e <= TARGET).sum())} | "
                       f"{np.median(e):.1%} | {e.max():.1%} |")
    out += ["",
           "| model | form | cpu | estimate B | measured B | error | configuration |",
           "|---|---|---|---|---|---|---|"]
    for x in r["rows"]:
        out.append(f"| {x['model']} | {x['form']} | {x['cpu']} | {x['estimate_bytes']} | "
                   f"{x['measured_bytes']} | {x['error']:+.1%} | {x['config']}"
                   f"{' (' + x['note'] + ')' if x['note'] else ''} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args(argv)
    path = RESULTS / "c_estimates.json"
    results = json.loads(path.read_text()) if args.report else measure()
    if not args.report:
        path.write_text(json.dumps(results, indent=1))
    (RESULTS / "c_estimates.md").write_text(table(results))
    print(table(results)[:1500])
    return 0


if __name__ == "__main__":
    sys.exit(main())
