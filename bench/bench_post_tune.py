"""Does tuning an app's post-processing help on data it was not tuned on?

Each shipped sample is cut in three consecutive parts: the pipeline is trained on the windows
of the first, ``eml.post.tune`` chooses the post-processing (its default grid, 84 chains) on
the second, and event-F1 without post-processing and with the chosen chain is measured on the
third, which neither training nor tuning saw.

* basic_motions (6 channels at 10 Hz, 240 s, 24 ten-second activities): train 0-120 s, tune
  120-180 s, test 180-240 s; TimeStats + a 10-tree forest as in the README, 2-s windows every
  0.5 s, and 1-s windows every 0.2 s (a twitchier model); onset tolerance 1 s (two hops of
  the first: event boundaries fall on hops, and the first window ends 2 s in).
* instruments (16 kHz audio, 6 s, 9 drum hits between silences): train 0-3 s, tune 3-4.5 s,
  test 4.5-6 s (2 hits: indicative only); FFTBands + a forest, 64-ms windows every 32 ms, the
  silence as class "background" which tuning ignores; onset tolerance 0.2 s (sed_eval's).

    python3 bench/bench_post_tune.py        # writes bench/results/post_tune.{md,json}
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline

import emlearn_lab as eml

HERE = Path(__file__).resolve().parent


def _part(recording, labels, t0: float, t1: float) -> tuple:
    """[t0, t1) of a recording and its labels inside it, times from t0 (a label crossing an
    edge is cut at it)."""
    cut = [(max(a.start_s, t0) - t0, min(a.end_s, t1) - t0, a.label) for a in labels
           if a.end_s > t0 and a.start_s < t1]
    return recording.slice_s(t0, t1), cut


def _forest():
    return RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0)


def case(name: str, sample: str, extractor, window_s: float, hop_s: float, edges: tuple,
         onset_tolerance_s: float, background: str | None = None) -> dict:
    rec = eml.datasets.load_sample(sample)
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path(sample), recording=rec)
    (train, train_labels), tune_part, (test, test_labels) = (
        _part(rec, labels, a, b) for a, b in zip(edges, edges[1:]))
    win = eml.windows(train, eml.LabelSet(train_labels), window_s=window_s, hop_s=hop_s,
                      unlabeled=background or "drop")
    pipe = make_pipeline(extractor, _forest()).fit(win.X, win.y)
    app = eml.DeviceApp(pipe, window_s=window_s, hop_s=hop_s)
    ignore = (background,) if background else ()
    tuning = eml.post.tune(app, *tune_part, ignore=ignore, onset_tolerance_s=onset_tolerance_s)

    def held_out(a):
        return eml.post.event_scores(a.simulate(test), test_labels, ignore=ignore,
                                     onset_tolerance_s=onset_tolerance_s)

    base, tuned = held_out(app), held_out(tuning.apply(app))
    return {"case": name, "train_tune_test_s": list(edges), "window_s": window_s,
            "hop_s": hop_s, "onset_tolerance_s": onset_tolerance_s,
            "test_events": base.tp + base.fn, "tune_baseline_f1": tuning.baseline_score,
            "tune_best_f1": tuning.best_score, "best_post": repr(tuning.best),
            "test_baseline_f1": base.f1, "test_tuned_f1": tuned.f1,
            "test_baseline_counts": [base.tp, base.fp, base.fn],
            "test_tuned_counts": [tuned.tp, tuned.fp, tuned.fn]}


def cases() -> list:
    motions = dict(sample="basic_motions", edges=(0, 120, 180, 240), onset_tolerance_s=1.0)
    return [
        case("basic_motions, 2 s windows / 0.5 s", window_s=2.0, hop_s=0.5,
             extractor=eml.features.TimeStats(axes=[0, 1, 2], magnitude=True), **motions),
        case("basic_motions, 1 s windows / 0.2 s", window_s=1.0, hop_s=0.2,
             extractor=eml.features.TimeStats(axes=[0, 1, 2], magnitude=True), **motions),
        case("instruments, 64 ms windows / 32 ms", "instruments",
             eml.features.FFTBands(n_bands=16, samplerate_hz=16000), window_s=0.064,
             hop_s=0.032,
             edges=(0, 3.0, 4.5, 6.0), onset_tolerance_s=0.2, background="background"),
    ]


def markdown(rows: list) -> str:
    lines = ["| case | held-out events | event-F1 no post | event-F1 tuned | tp/fp/fn no post "
             "| tp/fp/fn tuned | chosen on the tuning part (its F1 before -> after) |",
             "|---|---:|---:|---:|---|---|---|"]
    for r in rows:
        post = r["best_post"].replace("|", "\\|")          # a | inside a table cell
        lines.append(
            f"| {r['case']} (onset ±{r['onset_tolerance_s']:g} s) | {r['test_events']} "
            f"| {r['test_baseline_f1']:.3f} | {r['test_tuned_f1']:.3f} "
            f"| {'/'.join(map(str, r['test_baseline_counts']))} "
            f"| {'/'.join(map(str, r['test_tuned_counts']))} "
            f"| `{post}` ({r['tune_baseline_f1']:.3f} -> {r['tune_best_f1']:.3f}) |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "results" / "post_tune"),
                        help="path without suffix of the .md and .json written")
    args = parser.parse_args(argv)
    rows = cases()
    table = markdown(rows)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(
        "# Post-processing tuned on one part of a recording, scored on the next\n\n"
        "`python3 bench/bench_post_tune.py`: train on the first part, `eml.post.tune` on the "
        "second, event-F1 (sed_eval's event-based, onsets only) on the third.\n\n" + table)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
