"""Event metrics (eml.post.event_scores, segment_scores), post-processing search
(eml.post.tune) and the events timeline (plot_events), on hand-made intervals and on the
basic_motions sample (model trained on its first half, scored on the second)."""
import math

import matplotlib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline

import emlearn_lab as eml
from emlearn_lab.app.metrics import EventScores, event_scores, segment_scores
from emlearn_lab.app.plot import plot_events
from emlearn_lab.app.tune import Tuning, default_grid

matplotlib.use("Agg")


def _counts(s):
    return (s.tp, s.fp, s.fn)


# -- event_scores ---------------------------------------------------------------------------
def test_onset_tolerance_is_inclusive_and_exact():
    refs = [(1.0, 3.0, "a")]
    assert _counts(event_scores([(1.5, 3.0, "a")], refs, onset_tolerance_s=0.5)) == (1, 0, 0)
    assert _counts(event_scores([(0.5, 3.0, "a")], refs, onset_tolerance_s=0.5)) == (1, 0, 0)
    assert _counts(event_scores([(1.51, 3.0, "a")], refs, onset_tolerance_s=0.5)) == (0, 1, 1)
    # offsets are not compared unless asked for
    assert _counts(event_scores([(1.0, 9.0, "a")], refs)) == (1, 0, 0)


def test_offset_tolerance_is_the_larger_of_the_tolerance_and_a_fraction_of_the_reference():
    refs = [(0.0, 10.0, "a")]
    kw = dict(onset_tolerance_s=0.5, offset_tolerance_s=0.2)
    # collar max(0.2, 50% of 10 s) = 5 s
    assert _counts(event_scores([(0.0, 5.0, "a")], refs, **kw)) == (1, 0, 0)
    assert _counts(event_scores([(0.0, 4.9, "a")], refs, **kw)) == (0, 1, 1)
    # collar max(0.2, 0) = 0.2 s
    assert _counts(event_scores([(0.0, 9.8, "a")], refs, offset_fraction=0.0, **kw)) == (1, 0, 0)
    assert _counts(event_scores([(0.0, 9.7, "a")], refs, offset_fraction=0.0, **kw)) == (0, 1, 1)
    s = event_scores([], refs, **kw)
    assert s.criterion == "events, onset ±0.5 s, offset ±max(0.2 s, 50% of length)"


def test_each_reference_and_each_prediction_match_at_most_once():
    refs = [(1.0, 2.0, "a")]
    assert _counts(event_scores([(1.0, 1.5, "a"), (1.2, 2.0, "a")], refs)) == (1, 1, 0)
    assert _counts(event_scores([(1.0, 2.0, "a")], refs + [(1.3, 2.0, "a")])) == (1, 0, 1)


def test_matching_is_optimal_where_greedy_by_time_is_not():
    # Greedy in time order gives the reference at 1.0 its nearest prediction (1.3), leaving
    # the reference at 1.5 none within 0.5 s: 1 match. The optimal matching pairs 1.0 with
    # 0.6 and 1.5 with 1.3: 2.
    refs = [(1.0, 1.2, "a"), (1.5, 1.7, "a")]
    preds = [(1.3, 1.4, "a"), (0.6, 0.9, "a")]
    assert _counts(event_scores(preds, refs, onset_tolerance_s=0.5)) == (2, 0, 0)


def test_scores_per_class_micro_and_macro():
    refs = [(0, 2, "a"), (4, 6, "a"), (8, 9, "b"), (10, 11, "c")]
    preds = [(0, 2, "a"), (4, 6, "b"), (8, 9, "b"), (12, 13, "c")]
    s = event_scores(preds, refs)
    assert s.counts == {"a": (1, 0, 1), "b": (1, 1, 0), "c": (0, 1, 1)}
    assert _counts(s) == (2, 2, 2)
    assert s.precision == s.recall == s.f1 == 0.5
    assert s.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert list(s.to_frame().index) == ["a", "b", "c", "overall"]
    assert "a" in repr(s) and "F1 0.500" in repr(s) and "<table" in s._repr_html_()
    # ignored classes leave both sides
    assert event_scores(preds, refs, ignore="b").counts == {"a": (1, 0, 1), "c": (0, 1, 1)}
    assert math.isnan(event_scores([], []).f1)


def test_labelset_app_events_and_labels_are_accepted_in_the_labelsets_class_order():
    labels = eml.LabelSet([(0.0, 1.0, "b"), (2.0, 3.0, "a")], classes=["a", "b"])
    events = [eml.post.Event(0.0, 1.0, "b", 0, 2)]
    s = eml.post.event_scores(events, labels)
    assert isinstance(s, EventScores) and s.classes == ("a", "b")
    assert s.counts == {"a": (0, 0, 1), "b": (1, 0, 0)}


def test_scores_add_up_over_recordings():
    one = event_scores([(0, 1, "a")], [(0, 1, "a")])
    two = event_scores([(5, 6, "b")], [(0, 1, "a")])
    total = one + two
    assert total.counts == {"a": (1, 0, 1), "b": (0, 1, 0)}
    with pytest.raises(eml.InputError, match="score every recording the same way"):
        one + event_scores([], [], onset_tolerance_s=1.0)


def test_segment_scores():
    s = segment_scores([(0.2, 2.0, "a"), (5.5, 6.0, "b")], [(0.0, 2.5, "a")], segment_s=1.0)
    # a: active in segments 0,1 (predicted) and 0,1,2 (reference); b: predicted in 5 only
    assert s.counts == {"a": (2, 0, 1), "b": (0, 1, 0)}
    assert s.criterion == "1 s segments"


@pytest.mark.parametrize("call, message", [
    (lambda: event_scores([], 3), r"'labels' parameter of eml.post.event_scores must be a "
                                  r"LabelSet, a list of eml.post.Event or a list of"),
    (lambda: event_scores([(0, 1)], []), r"'events\[0\]' parameter .* must be an Event, a "
                                         r"Label or \(start_s, end_s, label\)"),
    (lambda: event_scores([(2, 1, "a")], []), r"'events\[0\]' .* start_s <= end_s"),
    (lambda: event_scores([], [], onset_tolerance_s=-1), r"'onset_tolerance_s' .* range \[0"),
    (lambda: event_scores([], [], offset_tolerance_s=-1), r"Pass None to leave ends out"),
    (lambda: event_scores([], [], ignore=3), r"'ignore' .* a class name or a sequence"),
    (lambda: segment_scores([], [], segment_s=0), r"'segment_s' .* range \(0"),
])
def test_metric_input_errors(call, message):
    with pytest.raises(eml.InputError, match=message):
        call()


# -- tune -----------------------------------------------------------------------------------
def _part(recording, labels, t0, t1):
    """The recording's [t0, t1) and its labels inside it, times from t0."""
    return recording.slice_s(t0, t1), [(a.start_s - t0, a.end_s - t0, a.label)
                                       for a in labels if t0 <= a.start_s and a.end_s <= t1]


@pytest.fixture(scope="module")
def motions():
    rec = eml.datasets.load_sample("basic_motions")
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path("basic_motions"), recording=rec)
    train, train_labels = _part(rec, labels, 0, 120)
    w = eml.windows(train, eml.LabelSet(train_labels), window_s=2.0, hop_s=0.5)
    pipe = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2], magnitude=True),
                         RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0))
    pipe.fit(w.X, w.y)
    app = eml.DeviceApp(pipe, window_s=2.0, hop_s=0.5)
    return app, _part(rec, labels, 120, 180), _part(rec, labels, 180, 240)


def test_tune_beats_or_equals_no_post_processing_and_its_table_tells_the_truth(motions):
    app, (rec, labels), _ = motions
    tuning = eml.post.tune(app, rec, labels, onset_tolerance_s=1.0)
    assert isinstance(tuning, Tuning)
    assert tuning.best_score >= tuning.baseline_score
    scores = tuning.table["event_f1"].to_numpy()
    assert len(tuning.table) == len(tuning.chains) == 4 * 7 * 3      # Smooth x MinDur x Gaps
    assert np.all(np.diff(scores) <= 0) and scores[0] == tuning.best_score
    assert tuning.table["post"][0] == repr(tuning.best) and tuning.chains[0] is tuning.best
    # the best chain, installed in the app, makes events that score what the table says
    tuned = tuning.apply(app)
    assert repr(tuned.post) == repr(tuning.best) and app.post.stages == ()
    ev = eml.post.event_scores(tuned.simulate(rec), labels, onset_tolerance_s=1.0)
    assert ev.f1 == tuning.best_score and _counts(ev) == _counts(tuning.best_scores)
    base = eml.post.event_scores(app.simulate(rec), labels, onset_tolerance_s=1.0)
    assert base.f1 == tuning.baseline_score
    # every row: its chain's events score what the row says
    for i in (1, len(tuning.chains) // 2, len(tuning.chains) - 1):
        run = app.with_post(tuning.chains[i]).simulate(rec)
        row = tuning.table.iloc[i]
        s = eml.post.event_scores(run, labels, onset_tolerance_s=1.0)
        assert (s.tp, s.fp, s.fn) == (row["tp"], row["fp"], row["fn"])


def test_tune_runs_the_model_once_per_recording_and_sums_counts(motions, monkeypatch):
    app, part1, part2 = motions
    calls = []
    outputs = app.outputs
    monkeypatch.setattr(app, "outputs", lambda rec: calls.append(rec) or outputs(rec))
    grid = [None, eml.post.Smooth(5), eml.post.Smooth(5) | eml.post.MinDuration(1.0)]
    both = eml.post.tune(app, [part1[0], part2[0]], [part1[1], part2[1]], grid=grid)
    assert len(calls) == 2
    ones = [eml.post.tune(app, *part, grid=grid) for part in (part1, part2)]
    for post in map(repr, grid[1:]):
        row = lambda t: t.table.set_index("post").loc[post]       # noqa: E731
        assert row(both)["tp"] == row(ones[0])["tp"] + row(ones[1])["tp"]
        assert row(both)["fp"] == row(ones[0])["fp"] + row(ones[1])["fp"]


def test_tune_ignores_a_background_class(motions):
    app, (rec, labels), _ = motions
    tuning = eml.post.tune(app, rec, labels, ignore="standing", metric="segment_f1")
    assert all("Ignore('standing')" in repr(c) for c in tuning.chains if c.stages)
    assert "standing" not in tuning.best_scores.classes
    events = tuning.apply(app).simulate(rec).events
    assert events and all(e.label != "standing" for e in events)


def test_default_grid_has_mean_smoothing_only_with_one_score_per_class(motions):
    app = motions[0]
    grid = default_grid(app)
    assert sum("how='mean'" in repr(c) for c in grid) == 3 * 4 * 3
    assert repr(grid[0]) == "Chain()"


@pytest.mark.parametrize("kwargs, message", [
    (dict(app="app"), r"'app' parameter of eml.post.tune must be an eml.DeviceApp"),
    (dict(metric="f1"), r"'metric' .* must be 'event_f1' or 'segment_f1'"),
    (dict(ignore="idle"), r"'ignore' .* must be one of 'badminton'.*Ignore classes of the"),
    (dict(recordings=[]), r"'recordings' .* an eml.Recording or a non-empty list"),
    (dict(recordings="pair", labels=[[]]),
     r"got 2 recordings and 1 labelling: pass a list with one LabelSet"),
    (dict(grid=[]), r"'grid' .* a non-empty list of post-processing chains"),
    (dict(grid=["Smooth(5)"]), r"'grid\[0\]' .* eml.post stages joined with \|"),
    (dict(grid=[eml.post.Smooth(3) | eml.post.Smooth(5)]),
     r"grid\[0\] \(Smooth.*\): eml.post.Smooth appears twice"),
    (dict(labels=[(0, 1)]), r"'labels\[0\]' .* an Event, a Label"),
    (dict(onset_tolerance_s=-0.5), r"'onset_tolerance_s' .* range \[0"),
])
def test_tune_input_errors(motions, kwargs, message):
    app, (rec, labels), _ = motions
    args = dict(app=app, recordings=rec, labels=labels)
    args.update(kwargs)
    if args["recordings"] == "pair":
        args["recordings"] = [rec, rec]
    with pytest.raises(eml.InputError, match=message):
        eml.post.tune(args.pop("app"), args.pop("recordings"), args.pop("labels"), **args)


def test_tuning_apply_wants_an_app(motions):
    app, (rec, labels), _ = motions
    tuning = eml.post.tune(app, rec, labels, grid=[None])
    assert "settings" in repr(tuning) and "<table" in tuning._repr_html_()
    with pytest.raises(eml.InputError, match="'app' parameter of Tuning.apply"):
        tuning.apply(None)


# -- plot -----------------------------------------------------------------------------------
def test_plot_events_draws_one_bar_per_event_and_label_in_the_class_colours(motions):
    app, (rec, labels), _ = motions
    run = app.simulate(rec)
    ax = plot_events(run, labels)
    assert isinstance(ax, matplotlib.axes.Axes)
    assert isinstance(ax.figure, matplotlib.figure.Figure)
    assert len(ax.patches) == len(run.events) + len(labels)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["predicted", "labels"]
    colour = {}
    for bar, (_, _, cls) in zip(ax.patches, [(e.start_s, e.end_s, e.label)
                                             for e in run.events] + labels):
        assert colour.setdefault(cls, bar.get_facecolor()) == bar.get_facecolor()
    assert len(set(colour.values())) == len(colour) == 4


def test_apprun_plot_with_the_signal_above(motions):
    app, (rec, labels), _ = motions
    run = app.simulate(rec)
    ax = run.plot(labels, rec)
    assert len(ax.figure.axes) == 2 and len(ax.patches) == len(run.events) + len(labels)
    assert len(run.plot().patches) == len(run.events)
    with pytest.raises(eml.InputError, match="pass ax=None with a recording"):
        plot_events(run, labels, rec, ax=ax)
    with pytest.raises(eml.InputError, match="'recording' parameter .* an eml.Recording"):
        plot_events(run, labels, recording="x")
