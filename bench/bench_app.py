"""The installed app on each device: identical events to DeviceApp.simulate, its duty cycle
(device time per second of signal), the RAM it holds and what it allocates per window, and
whether it keeps up in real time on each board of the table.

    python3 bench/bench_app.py                                     # the virtual device
    python3 bench/bench_app.py --device emulated:cortex-m3 emulated:cortex-m0 \\
        emulated:cortex-m4f emulated:rv32imc virtual

Two apps, each installed with dev.install and run over its whole recording with
dev.app_output(realtime=False) (the playback sensor delivers as fast as it reads, and the
app's own busy time excludes the wait for samples):
- motions: the basic_motions sample (6 channels at 10 Hz, 240 s), TimeStats + a 10-tree
  forest, 2 s windows every 0.5 s, Smooth(3) | MinDuration(1 s) | MergeGaps(0.5 s);
- sounds: the first 3 s of the instruments sample (16 kHz), LogMel + SoundLevel + a 6-tree
  forest, 0.25 s windows every 0.125 s, Ignore(silence) | MergeGaps(0.125 s).
On the emulated boards the clock counts instructions (1 µs = 1 000 instructions). A board of
the table keeps up when instructions per second of signal x its CPI stay under its clock
(its duty cycle below 1); boards whose core has no emulated twin (Xtensa) are left out.
Writes bench/results/app.{md,json}.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import FeatureUnion, make_pipeline

import emlearn_lab as eml
from emlearn_lab.board_fit.cores import core_for

HERE = Path(__file__).resolve().parent


def motions_app():
    rec = eml.datasets.load_sample("basic_motions")
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path("basic_motions"), recording=rec)
    w = eml.windows(rec, labels, window_s=2.0, hop_s=0.5)
    pipe = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2], magnitude=True),
                         RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0))
    pipe.fit(w.X, w.y)
    app = eml.DeviceApp(pipe, eml.sensors.Playback(realtime=False), window_s=2.0, hop_s=0.5,
                        post=eml.post.Smooth(3) | eml.post.MinDuration(1.0)
                        | eml.post.MergeGaps(0.5), name="motions")
    return app, rec


def sounds_app():
    full = eml.datasets.load_sample("instruments")
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path("instruments"), recording=full)
    rate = full.samplerate_hz
    w = eml.windows(full, labels, window_s=0.25, hop_s=0.125, unlabeled="silence")
    pipe = make_pipeline(
        FeatureUnion([("mel", eml.features.LogMel(n_mels=16, n_fft=256, pool="mean",
                                                  samplerate_hz=rate)),
                      ("level", eml.features.SoundLevel("A", samplerate_hz=rate))]),
        RandomForestClassifier(n_estimators=6, max_depth=6, random_state=0))
    pipe.fit(w.X, w.y)
    app = eml.DeviceApp(pipe, eml.sensors.Playback(realtime=False), window_s=0.25,
                        hop_s=0.125, post=eml.post.Ignore("silence")
                        | eml.post.MergeGaps(0.125), name="sounds")
    return app, full.slice_s(0, 3.0)


def keys(events):
    return [e.key for e in events]


def run_one(dev, app, rec) -> dict:
    sim = app.simulate(rec)
    dev.playback(rec)
    dev.install(app, rec)
    out = dev.app_output(windows=sim.n_windows, realtime=False)
    dev.uninstall()
    ipu = getattr(dev.virtual, "instructions_per_us", None)
    per_window_us = out.busy_us / out.n_windows
    return {"windows": out.n_windows, "events": len(sim.events),
            "identical": keys(out.events) == keys(sim.events),
            "us_per_window": per_window_us,
            "instructions_per_window": per_window_us * ipu if ipu else None,
            "instructions_per_signal_s": out.busy_us * ipu / out.signal_s if ipu else None,
            "duty_cycle_here": out.duty_cycle, "app_ram_bytes": out.app_ram_bytes,
            "alloc_bytes_per_window": out.alloc_bytes / out.n_windows}


def keeps_up(results: dict) -> list:
    """(board, app, core, duty cycle at the board's clock) for every table board whose core
    was measured here."""
    rows = []
    for board in eml.boards():
        core = core_for(board)
        for app_name, per_device in results.items():
            r = per_device.get(f"emulated:{core}") if core else None
            if not r or not r["instructions_per_signal_s"]:
                continue
            cpi = board.cpi or 1.0
            duty = r["instructions_per_signal_s"] * cpi / (board.clock_mhz * 1e6)
            rows.append((board.id, app_name, core, duty))
    return rows


def markdown(results: dict, devices: list) -> str:
    out = ["| app | device | windows | events | identical to simulate | per window | "
           "per second of signal | duty cycle here | app RAM (B) | allocated per window (B) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for app_name, per_device in results.items():
        for d in devices:
            r = per_device.get(d)
            if r is None:
                continue
            if r["instructions_per_window"] is not None:
                per_w = f"{r['instructions_per_window']:,.0f} instructions"
                per_s = f"{r['instructions_per_signal_s']:,.0f} instructions"
            else:
                per_w = f"{r['us_per_window']:.1f} µs"
                per_s = f"{r['duty_cycle_here'] * 1e6:,.0f} µs"
            out.append(f"| {app_name} | {d} | {r['windows']} | {r['events']} | "
                       f"{'yes' if r['identical'] else 'NO'} | {per_w} | {per_s} | "
                       f"{r['duty_cycle_here']:.5f} | {r['app_ram_bytes']} | "
                       f"{r['alloc_bytes_per_window']:.0f} |")
    rows = keeps_up(results)
    if rows:
        out += ["", "Real time on the boards of the table (instructions per second of signal "
                "measured on the emulated core of the board's family x the board's CPI / its "
                "clock):", "", "| board | app | measured on | duty cycle | keeps up |",
                "|---|---|---|---|---|"]
        out += [f"| {b} | {a} | emulated:{c} | {d:.4f} | {'yes' if d < 1 else 'no'} |"
                for b, a, c, d in rows]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", nargs="+", default=["virtual"])
    args = ap.parse_args()
    apps = {"motions": motions_app(), "sounds": sounds_app()}
    results: dict = {name: {} for name in apps}
    for d in args.device:
        dev = eml.connect(d)
        try:
            for name, (app, rec) in apps.items():
                results[name][d] = r = run_one(dev, app, rec)
                print(d, name, r, flush=True)
        finally:
            dev.close()
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "app.json").write_text(json.dumps(results, indent=1))
    text = markdown(results, args.device)
    (HERE / "results" / "app.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
