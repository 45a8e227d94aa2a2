"""Startup: how long `import emlearn_lab`, a first public name and `emlearn-lab --help` take,
each in a fresh interpreter, and which heavy libraries they load.

    python3 bench/bench_startup.py                  # 7 passes
    PYTHONPATH=/path/to/other/checkout python3 bench/bench_startup.py --out /tmp/startup

Every case runs in a new process started in an empty directory (nothing cached in the
interpreter; the OS file cache is warm after the first pass). "in-process" is
`time.perf_counter()` around the statements inside the child, "process" the wall-clock of the
whole child from the parent (interpreter start and exit included: what a person typing the
command waits). Passes interleave the cases; the table gives the median over passes. The
children import whatever emlearn_lab the environment finds (PYTHONPATH picks the checkout
measured); this script imports no emlearn_lab itself. Writes bench/results/startup.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEAVY = ("numpy", "scipy", "scipy.signal", "sklearn", "pandas", "matplotlib", "anywidget",
         "ipywidgets", "IPython", "mpremote", "serial", "tqdm", "joblib")

# (label, statements timed inside the child)
IMPORTS = [
    ("python -c pass (interpreter alone)", "pass"),
    ("import emlearn_lab", "import emlearn_lab as eml"),
    ("import emlearn_lab; eml.convert", "import emlearn_lab as eml\neml.convert"),
    ("from emlearn_lab.features import TimeStats", "from emlearn_lab.features import TimeStats"),
]

_CHILD = """import sys, time, json
_t0 = time.perf_counter()
{code}
_dt = time.perf_counter() - _t0
print(json.dumps({{"s": _dt, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def commands() -> list:
    """(label, argv, the statements timed inside the child or None) for every case."""
    cases = [(label, [sys.executable, "-c", _CHILD.format(code=code, heavy=HEAVY)], code)
             for label, code in IMPORTS]
    cases.append(("emlearn-lab --help (python -m emlearn_lab)",
                  [sys.executable, "-m", "emlearn_lab", "--help"], None))
    script = Path(sys.executable).parent / "emlearn-lab"
    script = script if script.exists() else shutil.which("emlearn-lab")
    if script:
        cases.append(("emlearn-lab --help (console script)", [str(script), "--help"], None))
    return cases


def run_once(argv: list, reports: bool, cwd: str) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300,
                         cwd=cwd)
    row = {"process_s": time.perf_counter() - t0}
    if reports:
        child = json.loads(out.stdout.splitlines()[-1])
        row.update(in_process_s=child["s"], heavy=child["heavy"])
    return row


def measure(passes: int) -> list:
    cases = commands()
    runs = {label: [] for label, _, _ in cases}
    # `python -c` and `-m` put the working directory first on sys.path: an empty one, so that
    # the emlearn_lab measured is the one PYTHONPATH or the installation gives.
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(passes):
            for label, argv, code in cases:
                runs[label].append(run_once(argv, code is not None, cwd))
    rows = []
    for label, argv, code in cases:
        got = runs[label]
        inner = [r["in_process_s"] for r in got] if code is not None else None
        shown = code if code is not None else [Path(argv[0]).name, *argv[1:]]
        rows.append({"case": label, "command": shown,
                     "in_process_s": statistics.median(inner) if inner else None,
                     "in_process_all_s": inner,
                     "process_s": statistics.median(r["process_s"] for r in got),
                     "process_all_s": [r["process_s"] for r in got],
                     "heavy_modules": got[-1].get("heavy")})
    return rows


def table(rows: list) -> str:
    lines = ["| case | in-process (s) | process (s) | heavy modules loaded |", "|---|---|---|---|"]
    for r in rows:
        inner = "—" if r["in_process_s"] is None else f"{r['in_process_s']:.3f}"
        heavy = "—" if r["heavy_modules"] is None else (", ".join(r["heavy_modules"]) or "none")
        lines.append(f"| {r['case']} | {inner} | {r['process_s']:.3f} | {heavy} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=7, help="runs of every case (default 7)")
    ap.add_argument("--out", default=str(HERE / "results" / "startup"),
                    help="results path without suffix")
    args = ap.parse_args(argv)
    rows = measure(args.passes)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0], "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    md = (f"Run of {meta['date']} (Python {meta['python']}; median of {args.passes} fresh "
          "processes per case)\n\n" + table(rows))
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
