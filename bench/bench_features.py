"""Feature extraction on the device: emlearn_lab's extractors (viper machine code from the
one source CPython also runs) against straightforward pure-MicroPython implementations
(bench/naive_features_mpy.py), in one run on one device.

    python3 bench/bench_features.py                       # virtual device (unix port, x64)
    python3 bench/bench_features.py --device /dev/ttyACM0
    python3 bench/bench_features.py --device emulated:cortex-m3   # instructions per window

Cases (the issue's): TimeStats on a 2 s window of 3-axis 100 Hz int16 accelerometer data,
every statistic plus the magnitude; A-weighted sound level of 1 s of 16 kHz int16 audio; a
log-mel spectrogram of the same second (no naive twin). For the audio cases on an emulated
board: the share of a 64 MHz Cortex-M4 each second of audio takes (instructions at one cycle
each: a lower bound; flash wait states add to it).
Each contender is timed with the same device-side loop (emlab_tools.time_calls: best of 3
rounds of N calls per window, minus an empty loop, median over windows), in passes that
alternate the contenders; the figure is the median over passes. Also: whether ours equals the
host bit for bit (dev.check_features), how far the naive float results are from ours, and
the host's time per window for the same source under CPython.
Writes bench/results/features.{md,json}. On an emulated board (qemu -icount: the clock counts
instructions, 1 us == 1000) the figures are instructions per window, exact whatever the host's
load, in bench/results/features_BOARD.{md,json}; one pass, few calls, and one audio window
(the UART carries ~8 kB/s).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import emlearn_lab as eml
from emlearn_lab.features import TimeStats

HERE = Path(__file__).resolve().parent
NAIVE = "naive_features_mpy"


def accel_windows(n_windows=8, seed=0) -> np.ndarray:
    """2 s of 3-axis 100 Hz accelerometer counts (8192 per g, int16): walking-like motion."""
    rng = np.random.default_rng(seed)
    t = np.arange(200) / 100.0
    out = []
    for _ in range(n_windows):
        f = rng.uniform(1.5, 2.5)
        g = np.column_stack([0.4 * np.sin(2 * np.pi * f * t + p) for p in rng.uniform(0, 6, 3)])
        g += [0.0, 0.0, 1.0] + 0.05 * rng.standard_normal((200, 3))
        out.append(np.round(g * 8192).astype(np.int16))
    return np.stack(out)


def audio_windows(n_windows=4, seed=0) -> np.ndarray:
    """1 s of 16 kHz int16 audio: a gliding tone over noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000.0
    out = []
    for _ in range(n_windows):
        tone = np.sin(2 * np.pi * (rng.uniform(200, 2000) + 300 * t) * t)
        out.append((6000 * tone + 500 * rng.standard_normal(t.size)).astype(np.int16)[:, None])
    return np.stack(out)


def _naive_setup(make: str) -> str:
    """Device code making the naive object `_nv` and `_rows`, the windows of the device's
    window file (the one dev.check_features wrote), for emlab_tools.time_calls."""
    code = (f"import array, gc, emlab_tools, {NAIVE}\n"
            "gc.collect()\n"
            f"_nv = {NAIVE}.{make}\n"
            "_rows = []\n"
            "with open('_emlab_w.bin', 'rb') as f:\n"
            "    while True:\n"
            "        b = f.read(_nb)\n"
            "        if len(b) < _nb: break\n"
            "        _rows.append(array.array('h', b))\n"
            "        b = None\n"
            "        gc.collect()\n")
    return code


def measure_case(dev, name, fx, W, naive_make, units, repeats, passes,
                 max_windows=None) -> dict:
    W = W[:max_windows]
    fx.fit(W)
    check = dev.check_features(fx, W, name=name, repeats=0)
    # check_features removes its scratch files: the windows to time go there again
    dev.put_data("_emlab_w.bin", np.ascontiguousarray(W).astype("<i2").tobytes())
    if naive_make:
        src = (HERE / f"{NAIVE}.py").read_bytes()
        dev.write_file(f"{NAIVE}.py", src)
        nbytes = W[0].size * 2
        dev.exec(f"_nb = {nbytes}\n" + _naive_setup(naive_make), timeout_s=60)
    ours_t, naive_t = [], []
    for _ in range(passes):
        med = dev.eval(f"__import__('emlfx').bench(_emlab_fx[{name!r}], '_emlab_w.bin', "
                       f"{len(W)}, {repeats})", timeout_s=600)[0]        # the median
        ours_t.append(med)
        if naive_make:
            med = dev.eval(f"emlab_tools.time_calls(_nv.transform, _rows, "
                           f"{max(1, repeats // 10)}, 1)", timeout_s=600)[0]
            naive_t.append(med)
    naive_values = []
    if naive_make:
        naive = dev.eval("_nv.transform(_rows[0])", timeout_s=600)
        naive_values = naive[:5] if isinstance(naive, list) else [naive]
    # Free this case's extractor, windows and naive twin: a 198 KiB board's heap needs the
    # room (and an unfragmented 32 kB block) for the next case's audio window.
    dev.exec(f"_nv = _rows = None\n_emlab_fx.pop({name!r}, None)\nimport gc\ngc.collect()")
    t0 = time.perf_counter()
    host = fx.transform(W)
    host_us = (time.perf_counter() - t0) / len(W) * 1e6
    ours_us = statistics.median(ours_t)
    naive_us = statistics.median(naive_t) if naive_t else None
    per_us = getattr(dev.virtual, "instructions_per_us", None)
    counted = {} if per_us is None else {
        "ours_instructions": ours_us * per_us,
        "naive_instructions": None if naive_us is None else naive_us * per_us}
    if per_us is not None and W.shape[1] == 16000:     # one second of 16 kHz audio
        counted["cpu_share_64mhz"] = ours_us * per_us / 64e6
    return {**counted, "case": name, "extractor": repr(fx), "window": list(W.shape[1:]),
            "n_windows": len(W), "n_features": int(host.shape[1]),
            "ours_us": ours_us, "naive_us": naive_us,
            "speedup": None if naive_us is None else naive_us / ours_us,
            "ours_passes_us": ours_t,
            "exact_host_device": check.exact, "host_cpython_us": host_us,
            "naive_passes_us": naive_t, "naive_first_values": naive_values,
            "ours_first_values_in_naive_units": [float(v) / units
                                                 for v in host[0][:len(naive_values)]]}


def cases():
    out = [("timestats_2s_3axis_100hz", TimeStats(magnitude=True), accel_windows(),
            "NaiveTimeStats(200, 3)", 256)]
    try:
        from emlearn_lab.features.audio import SoundLevel, a_weighting_sos
    except ImportError:                     # the audio extractors are not built yet
        return out
    sos = [list(map(float, s)) for s in a_weighting_sos(16000)]
    out.append(("a_weighting_1s_16khz", SoundLevel(weighting="A", samplerate_hz=16000),
                audio_windows(), f"NaiveSoundLevel({sos!r})", 100))
    from emlearn_lab.features.audio import LogMel
    out.append(("logmel_1s_16khz", LogMel(samplerate_hz=16000), audio_windows(), None, 100))
    return out


def _count(n: float) -> str:
    return f"{n:,.0f}".replace(",", " ")


def table(rows: list, meta: dict) -> str:
    notes = ["", "First values of window 0, naive (float) vs ours (integer, in the naive's "
             "units):"]
    for r in rows:
        if not r["naive_first_values"]:
            continue
        pairs = ", ".join(f"{a:.3f} / {b:.3f}" for a, b in
                          zip(r["naive_first_values"], r["ours_first_values_in_naive_units"]))
        notes.append(f"- {r['case']}: {pairs}")
    per_us = meta.get("instructions_per_us")
    unit = "us" if per_us is None else "instructions"
    where = ("shared 2-core VM" if per_us is None else
             f"the clock counts instructions: 1 us = {per_us:g}")
    lines = [f"Run of {meta['date']} ({meta['device']}, {meta['target']}; {where})",
             "", f"| case | windows | ours {unit}/window | naive MicroPython {unit}/window | "
             "speedup | device == host | host CPython us/window | 64 MHz Cortex-M4 busy |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if per_us is None:
            ours = f"{r['ours_us']:.1f}"
            naive = "—" if r["naive_us"] is None else f"{r['naive_us']:.1f}"
        else:
            ours = _count(r["ours_instructions"])
            naive = "—" if r["naive_instructions"] is None else _count(r["naive_instructions"])
        speedup = "—" if r["speedup"] is None else f"**{r['speedup']:.1f}x**"
        share = r.get("cpu_share_64mhz")
        busy = "—" if share is None else f"{100 * share:.1f}% of each second"
        lines.append(f"| {r['case']} | {r['n_windows']} | {ours} | {naive} | {speedup} | "
                     f"{'bit-exact' if r['exact_host_device'] else 'NO'} | "
                     f"{r['host_cpython_us']:.0f} | {busy} |")
    return "\n".join(lines + notes) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="virtual")
    ap.add_argument("--repeats", type=int, default=None,
                    help="calls per window, ours (the naive one: a tenth); default 50, 5 "
                    "where the clock counts instructions")
    ap.add_argument("--passes", type=int, default=None,
                    help="default 5; 1 where the clock counts instructions")
    ap.add_argument("--out", default=None,
                    help="results path without suffix (default results/features, "
                    "results/features_BOARD on emulated boards)")
    ap.add_argument("--cases", nargs="*", default=None,
                    help="case names (or prefixes) to run: timestats, a_weighting, logmel (default "
                    "all; on a 198 KiB emulated board the audio case needs the cortex-m3-2m "
                    "board: its naive twin's 32 kB window does not fit beside the rest)")
    args = ap.parse_args(argv)
    chosen = [c for c in cases()
              if not args.cases or any(c[0].startswith(k) for k in args.cases)]
    with eml.connect(args.device) as dev:
        per_us = getattr(dev.virtual, "instructions_per_us", None)
        counted = per_us is not None
        # An instruction count is exact: one pass of few calls; the emulated UART is slow:
        # one audio window (32 kB, sent twice).
        repeats = args.repeats or (5 if counted else 50)
        passes = args.passes or (1 if counted else 5)
        rows = [measure_case(dev, *case, repeats=repeats, passes=passes,
                             max_windows=1 if counted and case[2].shape[1] == 16000
                             else None)
                for case in chosen]
        meta = {"date": time.strftime("%Y-%m-%d"), "device": repr(dev),
                "target": str(dev.target), "instructions_per_us": per_us}
    if args.out is None:
        args.out = str(HERE / "results" / ("features" if per_us is None else
                                           "features_" + args.device.split(":", 1)[-1]))
    Path(args.out + ".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    Path(args.out + ".md").write_text(table(rows, meta))
    print(table(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
