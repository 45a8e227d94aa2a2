"""The label widget's Python side: tiles (what is drawn) and gestures (what changes labels).

The browser half is tested in test_browser_label.py; here the view's messages are sent the
way the front end sends them, so each rule is pinned without a browser.
"""
import numpy as np
import pytest

import emlearn_lab as eml
from emlearn_lab.widgets import _tiles
from emlearn_lab.widgets.label_widget import LabelWidget


def _accel(seconds=60, rate=50, seed=0):
    rng = np.random.default_rng(seed)
    return eml.Recording(rng.standard_normal((int(seconds * rate), 3)).astype(np.float32),
                         samplerate_hz=rate, channels="xyz", units="g")


class _Sent:
    """Collects what the widget sends to the view."""

    def __init__(self, widget, monkeypatch):
        self.messages = []
        monkeypatch.setattr(widget, "send", lambda content, buffers=None:
                            self.messages.append((content, buffers)))


@pytest.fixture
def widget(tmp_path, monkeypatch):
    w = eml.label(_accel(), classes=["walk", "run"], labels=tmp_path / "a.labels.csv")
    w.sent = _Sent(w, monkeypatch)
    return w


def gesture(w, **content):
    w._on_message(w, content, [])


# -- tiles ---------------------------------------------------------------------------------
@pytest.mark.parametrize("i0, i1, n_cols", [(0, 360_000, 1000), (12_345, 99_999, 777),
                                            (100, 5000, 1000), (0, 1600, 1000),
                                            (5, 360_000, 3)])
def test_minmax_columns_contain_every_sample_and_little_else(i0, i1, n_cols):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((360_000, 2)).astype(np.float32)
    x[1000:1500] = np.nan
    mm = _tiles.Pyramid(x).minmax(i0, i1, n_cols)
    per_col = (i1 - i0) / n_cols
    edges = i0 + np.arange(n_cols + 1) * per_col
    for j in range(n_cols):
        own = x[int(np.ceil(edges[j])):int(np.ceil(edges[j + 1]))]
        if np.isnan(own).all():
            continue
        assert np.all(mm[j, :, 0] <= np.nanmin(own, 0))        # no spike is ever hidden
        assert np.all(mm[j, :, 1] >= np.nanmax(own, 0))
        near = x[max(0, int(edges[j] - per_col / 4) - 1):int(edges[j + 1] + per_col / 4) + 2]
        assert np.all(mm[j, :, 0] >= np.nanmin(near, 0))       # nor drawn from far away


def test_all_nan_columns_stay_gaps():
    x = np.zeros((10_000, 1), np.float32)
    x[4000:6000] = np.nan
    mm = _tiles.Pyramid(x).minmax(0, 10_000, 100)
    assert np.isnan(mm[41:59]).all() and not np.isnan(mm[:39]).any()


@pytest.mark.parametrize("n_channels", [1, 3, 12, 64])
def test_tiles_never_exceed_the_byte_budget(n_channels):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200_000, n_channels)).astype(np.float32)
    pyr = _tiles.Pyramid(x)
    for start_s, end_s in [(0, 2000), (10, 10.05), (100, 160), (0, 1)]:
        for width in (300, 1200, 4096):
            header, buffers = _tiles.tile(pyr, None, 100.0, start_s, end_s, width)
            assert header["bytes"] == sum(map(len, buffers)) <= _tiles.MAX_TILE_BYTES


def test_audio_tiles_carry_a_spectrogram_within_budget():
    n = 16000 * 30
    t = np.arange(n) / 16000
    pcm = (10_000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    rec = eml.Recording(pcm, samplerate_hz=16000, kind="audio", full_scale=32768)
    pyr = _tiles.Pyramid(rec.data)
    spec = _tiles.Spectrogram(pyr.samples, rec.samplerate_hz, rec.full_scale)
    for start_s, end_s in [(0, 30), (5, 6), (5, 5.01)]:
        header, buffers = _tiles.tile(pyr, spec, 16000.0, start_s, end_s, 1200)
        assert header["bytes"] <= _tiles.MAX_TILE_BYTES
        levels = np.frombuffer(buffers[1], np.uint8).reshape(header["spec_cols"], -1)
        centre_hz = 700 * (10 ** (np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 66)[1:-1]
                                  / 2595) - 1)
        loudest = np.bincount(levels.argmax(axis=1)).argmax()
        assert abs(centre_hz[loudest] - 1000) < 150          # the tone's band is brightest
        assert levels.max() > 200                             # ~-10 dBFS, near the top


def test_samples_travel_as_little_endian_float32():
    rec = eml.Recording(np.arange(100, dtype=np.int16), samplerate_hz=10)
    header, buffers = _tiles.tile(_tiles.Pyramid(rec.data), None, 10.0, 0, 10, 800)
    assert header["mode"] == "samples"
    assert np.array_equal(np.frombuffer(buffers[0], "<f4"), np.arange(100))


# -- gestures ------------------------------------------------------------------------------
def test_gestures_edit_the_labelset_and_the_file(widget, tmp_path):
    path = tmp_path / "a.labels.csv"
    gesture(widget, type="add", start_s=1.003, end_s=4.0, label="walk")
    (a,) = widget.labels
    assert (a.start_s, a.label) == (1.0, "walk")               # moved onto the 50 Hz grid
    assert widget.selected_id == a.id and widget.regions == widget.labels.to_records()
    gesture(widget, type="add", start_s=10, end_s=12, label="walk")
    b = max(widget.labels, key=lambda r: r.start_s)
    gesture(widget, type="update", id=b.id, label="run")
    gesture(widget, type="update", id=a.id, start_s=2.0, end_s=5.0)
    gesture(widget, type="remove", id=a.id)
    assert [r.label for r in widget.labels] == ["run"]
    gesture(widget, type="undo")
    assert sorted((r.start_s, r.end_s, r.label) for r in widget.labels) == [
        (2.0, 5.0, "walk"), (10.0, 12.0, "run")]
    assert eml.LabelSet.load(path) == widget.labels           # every change reached disk
    assert widget.can_undo and widget.can_redo
    gesture(widget, type="redo")
    assert len(widget.labels) == 1 and not widget.can_redo


def test_rejected_gesture_changes_nothing_and_says_why(widget, tmp_path):
    gesture(widget, type="add", start_s=1, end_s=4, label="walk")
    before = (tmp_path / "a.labels.csv").read_text()
    gesture(widget, type="add", start_s=3, end_s=6, label="run")
    assert "overlap" in widget.message.lower()
    gesture(widget, type="add", start_s=50, end_s=70, label="run")
    assert "60" in widget.message                              # past the recording's end
    gesture(widget, type="add", start_s=20, end_s=22, label="jump")
    assert "jump" in widget.message
    assert len(widget.labels) == 1
    assert (tmp_path / "a.labels.csv").read_text() == before
    gesture(widget, type="update", id="x")
    assert "malformed" in widget.message


def test_python_side_changes_reach_the_view(widget):
    widget.labels.add(1, 2, "run")
    assert [r["label"] for r in widget.regions] == ["run"]
    other = eml.LabelSet([(3, 4, "idle")], classes=["walk", "run", "idle"])
    widget.labels = other
    assert widget.classes == ["walk", "run", "idle"] and widget.regions[0]["label"] == "idle"
    widget.show(10, 20)
    assert (widget.view_start_s, widget.view_end_s) == (10, 20)


def test_view_and_play_requests_answer_with_bytes(tmp_path, monkeypatch):
    pcm = (np.sin(np.arange(16000 * 5) * 0.1) * 20_000).astype(np.int16)
    rec = eml.Recording(pcm, samplerate_hz=16000, kind="audio", full_scale=32768)
    w = eml.label(rec, classes=["tone"])
    sent = _Sent(w, monkeypatch)
    gesture(w, type="view", req=7, start_s=1.0, end_s=2.0, width_px=900)
    header, buffers = sent.messages[-1]
    assert header["type"] == "tile" and header["req"] == 7 and header["spec_cols"] > 0
    gesture(w, type="play", start_s=1.0, end_s=1.5)
    header, (pcm_bytes,) = sent.messages[-1]
    played = np.frombuffer(pcm_bytes, "<i2")
    assert header["samplerate_hz"] == 16000 and played.size == 8000
    assert np.abs(played.astype(int) - pcm[16000:24000]).max() <= 1


def test_label_needs_classes_or_labels():
    with pytest.raises(eml.LabelError, match="classes="):
        eml.label(_accel())


def test_widget_refuses_a_label_file_of_another_recording(tmp_path):
    path = tmp_path / "a.labels.csv"
    eml.label(_accel(seed=0), classes=["walk"], labels=path).labels.add(1, 2, "walk")
    with pytest.raises(eml.LabelFileMismatchError, match="sha256"):
        eml.label(_accel(seed=1), classes=["walk"], labels=path)


def test_widget_class_is_an_anywidget_with_shipped_front_end():
    import anywidget
    assert issubclass(LabelWidget, anywidget.AnyWidget)
    assert "export default" in str(LabelWidget._esm)          # read from the shipped file
    assert ".emlab-label" in str(LabelWidget._css)


def test_picker_offers_the_given_classes_with_an_existing_labelset():
    labels = eml.LabelSet([(1, 2, "idle")])                     # open set: only 'idle' used
    w = eml.label(_accel(), classes=["walk", "run"], labels=labels)
    assert w.classes == ["walk", "run", "idle"] and w.current_class == "walk"
    w._on_message(w, {"type": "add", "start_s": 3, "end_s": 4, "label": "run"}, [])
    assert sorted(r.label for r in w.labels) == ["idle", "run"]


# -- issue 22: notes, classes, predictions ---------------------------------------------------
def test_a_note_from_the_view_is_saved_with_the_labels(widget, tmp_path):
    gesture(widget, type="add", start_s=1, end_s=2, label="walk")
    (a,) = widget.labels
    gesture(widget, type="update", id=a.id, note="fell over")
    assert eml.LabelSet.load(tmp_path / "a.labels.csv")[1].note == "fell over"
    assert widget.regions[0]["note"] == "fell over" and "fell over" in widget.message


def test_a_class_added_from_the_view_is_offered_and_saved(widget, tmp_path):
    for i in range(9):
        gesture(widget, type="add_class", name=f"c{i}")
    assert len(widget.classes) == 11 and widget.current_class == "c8"
    gesture(widget, type="add", start_s=1, end_s=2, label="c8")
    assert eml.LabelSet.load(tmp_path / "a.labels.csv").classes[-1] == "c8"
    before = widget.message_id
    gesture(widget, type="add_class", name="walk")
    assert "offered already" in widget.message and widget.message_id == before + 1


def test_predictions_next_and_accept(widget):
    t = np.arange(1, 60, 1.0)
    classes = np.where(t < 30, "walk", "run")
    conf = np.where(t < 30, 0.9, 0.6)
    widget.show_predictions(t, classes, conf, window_s=2)
    assert len(widget.predictions["segments"]) == 2
    gesture(widget, type="next")
    assert widget.suggestion["label"] == "run"                  # the least sure first
    assert widget.view_start_s <= 29.5 and widget.view_end_s >= 50
    gesture(widget, type="accept")
    (run,) = widget.labels
    assert (run.start_s, run.end_s, run.label) == (29.5, 60.0, "run")
    assert widget.selected_id == run.id and widget.suggestion == {}
    gesture(widget, type="next")
    gesture(widget, type="accept")
    assert [r.label for r in widget.labels] == ["walk", "run"]
    gesture(widget, type="next")
    assert "every predicted stretch is labelled" in widget.message
    gesture(widget, type="accept")
    assert "no suggestion" in widget.message


def test_predict_runs_a_fitted_pipeline_over_the_recording():
    from sklearn.tree import DecisionTreeClassifier
    rec = _accel()
    labels = eml.LabelSet([(0, 30, "walk"), (30, 60, "run")])
    win = eml.windows(rec, labels, window_s=2, hop_s=1)
    model = DecisionTreeClassifier(random_state=0).fit(win.X.reshape(len(win.X), -1), win.y)

    class Flat:                                   # a stand-in for a feature pipeline
        classes_ = model.classes_

        def predict_proba(self, X):
            return model.predict_proba(X.reshape(len(X), -1))

        predict = predict_proba

    w = eml.label(rec, classes=["walk", "run"])
    times, classes, conf = w.predict(Flat(), window_s=2, hop_s=1)
    assert len(times) == 59 and times[0] == 1.0 and set(classes) <= {"walk", "run"}
    assert w.predictions["slots"][0][:2] == [0.0, 1.5]
