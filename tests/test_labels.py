"""LabelSet: validation, undo/redo, observers, atomic autosave, and the three file formats."""
import json
import os
import warnings

import numpy as np
import pytest

from emlearn_lab.exceptions import LabelError, LabelFileMismatchError
from emlearn_lab.labels import Label, LabelSet, formats
from emlearn_lab.labels import atomic as atomic_mod
from emlearn_lab.labels.atomic import atomic_write_text
from emlearn_lab.labels.labelset import HISTORY_DEPTH
from emlearn_lab.recordings.recording import Recording, RecordingInfo

CLASSES = ["walk", "run", "idle"]


@pytest.fixture
def rec():
    """60 s at 100 Hz."""
    return Recording(np.arange(6000, dtype=np.int16), samplerate_hz=100, source="walk.csv")


def rows(ls):
    return [(lab.start_s, lab.end_s, lab.label) for lab in ls]


# -- construction and validation -------------------------------------------------------------

def test_label_and_input_forms():
    lab = Label(7, 1.0, 3.5, "walk")
    assert lab.duration_s == 2.5
    ls = LabelSet([(5, 6, "run"), Label(99, 0, 1, "walk"),
                   {"start_s": 2, "end_s": 3, "label": "idle", "id": 42}])
    assert [lab.id for lab in ls] == [2, 3, 1]                    # sorted by start, fresh ids
    assert rows(ls) == [(0.0, 1.0, "walk"), (2.0, 3.0, "idle"), (5.0, 6.0, "run")]
    assert all(type(lab.start_s) is float for lab in ls)
    assert ls.classes == ("run", "walk", "idle")                  # open set: creation order
    assert len(ls) == 3 and 1 in ls and 4 not in ls and "x" not in ls
    assert ls[3].label == "idle"
    with pytest.raises(KeyError, match="no label with id 9"):
        ls[9]
    assert "3 labels" in repr(ls)


@pytest.mark.parametrize("item, match", [
    ((float("nan"), 1, "walk"), "start_s is nan; expected a finite number"),
    ((0, float("inf"), "walk"), "end_s is inf"),
    (("0", 1, "walk"), "start_s must be a number of seconds, got '0'"),
    ((True, 1, "walk"), "must be a number"),
    ((2, 1, "walk"), "start_s 2 is not before end_s 1"),
    ((1, 1, "walk"), "not before"),
    ((0, 1, ""), "is empty"),
    ((0, 1, "  "), "is empty"),
    ((0, 1, "a\tb"), "tab or line break"),
    ((0, 1, "a\nb"), "tab or line break"),
    ((0, 1, "walk "), "leading or trailing spaces; use 'walk'"),
    ((0, 1, 3), "must be a str"),
    ((0, 1), r"expected \(start_s, end_s, label\)"),
    ({"start": 0, "end": 1, "label": "x"}, "expected a dict with keys start_s, end_s, label"),
])
def test_invalid_intervals_are_rejected(item, match):
    with pytest.raises(LabelError, match=match):
        LabelSet([item])
    ls = LabelSet()
    with pytest.raises(LabelError, match=match):
        ls.extend([item])
    assert len(ls) == 0 and not ls.can_undo


def test_classes_are_enforced():
    ls = LabelSet(classes=CLASSES)
    assert ls.classes == tuple(CLASSES)
    with pytest.raises(LabelError, match=r"'jump' is not one of the classes \['walk', 'run', "
                                         r"'idle'\]"):
        ls.add(0, 1, "jump")
    a = ls.add(0, 1, "walk")
    with pytest.raises(LabelError, match="'jump' is not one of the classes"):
        ls.update(a.id, label="jump")
    assert ls[a.id].label == "walk"
    with pytest.raises(LabelError, match="got the str 'walk'"):
        LabelSet(classes="walk")
    with pytest.raises(LabelError, match="classes is empty"):
        LabelSet(classes=[])
    with pytest.raises(LabelError, match=r"name \['run'\] more than once"):
        LabelSet(classes=["run", "walk", "run"])


def test_intervals_must_lie_within_the_recording(rec):
    half = 0.5 / rec.samplerate_hz
    ls = LabelSet([(-half * 0.99, 1, "walk"), (59, 60 + half * 0.99, "run")], recording=rec)
    assert ls.recording_info == rec.info
    with pytest.raises(LabelError, match=r"ends after the recording: labels must lie within "
                                         r"\[0, 60\] s \(the recording has 6000 samples at "
                                         r"100 Hz\)"):
        ls.add(30, 60.01, "run")
    with pytest.raises(LabelError, match=r"label 'idle' \[-0.1, 1\) s starts before"):
        LabelSet([(-0.1, 1, "idle")], recording=rec.info)
    with pytest.raises(TypeError, match="Recording or RecordingInfo"):
        LabelSet(recording=60.0)


def test_overlaps_forbidden_or_allowed():
    ls = LabelSet([(0, 2, "walk")])
    ls.add(2, 3, "run")                                      # touching is fine
    ls.add(3 - 5e-10, 4, "idle")                             # float noise is fine
    with pytest.raises(LabelError, match=r"label 'run' \[1.5, 2.5\) s \(id 4\) overlaps label "
                                         r"'walk' \[0, 2\) s \(id 1\) by 0.5 s.*"
                                         r"overlap='allow'"):
        ls.add(1.5, 2.5, "run")
    # a short label inside a long one is found too, even past an intervening one
    with pytest.raises(LabelError, match="overlaps label 'long'"):
        LabelSet([(0, 10, "long"), (1, 2, "a"), (5, 6, "b")])
    ls2 = LabelSet([(0, 10, "long"), (1, 2, "a")], overlap="allow")
    assert len(ls2) == 2 and ls2.overlap == "allow"
    with pytest.raises(LabelError, match="overlap must be one of"):
        LabelSet(overlap="merge")


# -- changes, history, observers -------------------------------------------------------------

def test_add_update_remove_extend_clear():
    ls = LabelSet(classes=CLASSES)
    a = ls.add(0, 1, "walk")
    b = ls.add(1, 2, "run")
    assert (a.id, b.id) == (1, 2)
    moved = ls.update(a.id, start_s=0.5, end_s=1.0)
    assert moved == Label(1, 0.5, 1.0, "walk") and ls[1] == moved
    assert ls.update(b.id, label="idle").label == "idle"
    assert ls.update(b.id) == ls[b.id]                       # no change: no history step
    assert ls.remove(a.id) == moved and a.id not in ls
    with pytest.raises(KeyError, match="no label with id 1"):
        ls.remove(a.id)
    added = ls.extend([(5, 6, "walk"), (3, 4, "run")])
    assert [lab.id for lab in added] == [3, 4]
    assert rows(ls) == [(1, 2, "idle"), (3, 4, "run"), (5, 6, "walk")]
    assert ls.to_records()[0] == {"id": 2, "start_s": 1.0, "end_s": 2.0, "label": "idle"}
    ls.clear()
    assert len(ls) == 0
    assert ls.undo() and len(ls) == 3                        # clear is one step
    assert ls.undo() and len(ls) == 1                        # extend is one step


def test_failed_change_changes_nothing():
    ls = LabelSet([(0, 1, "walk"), (2, 3, "run")])
    before = ls.to_records()
    for bad in (lambda: ls.add(0.5, 2.5, "x"), lambda: ls.update(1, end_s=2.5),
                lambda: ls.update(1, start_s=5), lambda: ls.extend([(4, 5, "a"), (4.5, 6, "b")])):
        with pytest.raises(LabelError):
            bad()
        assert ls.to_records() == before and not ls.can_undo
    assert ls.add(5, 6, "idle").id == 3                      # failed adds used no ids


def test_undo_redo():
    ls = LabelSet()
    assert not ls.undo() and not ls.redo()
    a = ls.add(0, 1, "walk")
    ls.update(a.id, end_s=2)
    assert ls.undo() and ls[a.id].end_s == 1
    assert ls.can_redo and ls.redo() and ls[a.id].end_s == 2
    assert ls.undo() and ls.undo() and len(ls) == 0 and not ls.can_undo
    assert ls.redo() and ls[a.id] == Label(1, 0, 1, "walk")
    b = ls.add(3, 4, "run")                                  # a new change clears redo
    assert not ls.can_redo and b.id == 2                     # ids never reused


def test_history_is_deep():
    ls = LabelSet()
    n = 250
    for i in range(n):
        ls.add(i, i + 1, "walk")
    undone = 0
    while ls.undo():
        undone += 1
    assert undone == min(n, HISTORY_DEPTH) >= 200


def test_observers(tmp_path):
    ls = LabelSet.open(tmp_path / "x.labels.csv")
    seen = []

    def cb(labelset):
        # called after the autosave: the file already has the change
        seen.append((len(labelset), (tmp_path / "x.labels.csv").read_text().count("\n")))
    unobserve = ls.observe(cb)
    a = ls.add(0, 1, "walk")
    ls.update(a.id, label="run")
    ls.undo()
    ls.redo()
    ls.remove(a.id)
    with pytest.raises(LabelError):
        ls.add(2, 1, "walk")
    assert seen == [(1, 3), (1, 3), (1, 3), (1, 3), (0, 2)]
    unobserve()
    unobserve()                                              # idempotent
    ls.add(0, 1, "walk")
    assert len(seen) == 5


def test_observer_exception_keeps_the_change():
    ls = LabelSet()
    later = []
    ls.observe(lambda _ls: 1 / 0)
    ls.observe(lambda labelset: later.append(len(labelset)))
    with pytest.warns(RuntimeWarning, match="ZeroDivisionError.*change to the labels was kept"):
        ls.add(0, 1, "walk")
    assert len(ls) == 1 and later == [1] and ls.can_undo


# -- queries -----------------------------------------------------------------------------------

def test_at():
    ls = LabelSet([(0, 1, "walk"), (1, 2.5, "run")])
    t = np.array([[-1, 0, 0.5], [1, 2.4999, 2.5]])
    got = ls.at(t)
    assert got.shape == t.shape and got.dtype.kind == "U"
    assert got.tolist() == [["", "walk", "walk"], ["run", "run", ""]]
    assert ls.at(0.5) == "walk" and ls.at([np.nan]).tolist() == [""]
    assert LabelSet().at([0.0]).tolist() == [""]
    both = LabelSet([(0, 10, "long"), (2, 3, "short")], overlap="allow")
    assert both.at([1, 2, 2.9, 3, 9]).tolist() == ["long", "short", "short", "long", "long"]
    with pytest.raises(LabelError, match="at\\(\\) needs times in seconds"):
        ls.at("soon")


def test_equality_ignores_ids():
    a = LabelSet([(0, 1, "walk"), (1, 2, "run")])
    b = LabelSet([(1, 2, "run"), (0, 1, "walk")], classes=["walk", "run"])
    assert a == b and [x.id for x in a] != [x.id for x in b]
    b.update(1, label="walk")          # id 1 of b is the "run" interval
    assert a != b and a != "x"


# -- native CSV --------------------------------------------------------------------------------

def test_csv_exact_text(tmp_path, rec):
    ls = LabelSet([(0, 2.5, "walk"), (10, 11, "idle"), (2.5, 2.8, "run")], classes=CLASSES,
                  recording=rec)
    p = tmp_path / "a.csv"
    ls.save(p)
    assert p.read_text() == (
        "# emlearn_lab labels v1\n"
        f"# recording: n_samples=6000 samplerate_hz=100 sha256={rec.sha256}\n"
        "# classes: walk,run,idle\n"
        "start_s,end_s,label\n"
        "0,2.5,walk\n"
        "2.5,2.8,run\n"
        "10,11,idle\n")
    assert LabelSet().path is None
    plain = tmp_path / "b.csv"
    LabelSet([(0, 1, 'a "quoted", label')]).to_csv(plain)
    assert plain.read_text().splitlines() == [
        "# emlearn_lab labels v1", "start_s,end_s,label", '0,1,"a ""quoted"", label"']


def test_csv_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    edges = np.cumsum(rng.uniform(1e-6, 3.0, 401))
    names = ["walk", "run, fast", 'say "hi"', "ünïcode", "#hash"]
    ls = LabelSet([(edges[i], edges[i + 1], names[i % len(names)]) for i in range(0, 400, 2)],
                  classes=names)
    p = tmp_path / "r.csv"
    ls.save(p)
    back = LabelSet.load(p)
    assert back == ls and rows(back) == rows(ls)              # bit-exact floats
    assert back.classes == tuple(names) and back.path is None


def test_csv_lenient_reading(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("\ufeffid,start_s,end_s,label,note\n7,0,1.5,walk,x\n\n9, 2 ,3, run ,y\n")
    assert rows(LabelSet.load(p)) == [(0, 1.5, "walk"), (2, 3, "run")]
    p.write_text("0,1,walk\n1,2,run\n")                      # no header at all
    assert rows(LabelSet.load(p)) == [(0, 1, "walk"), (1, 2, "run")]
    p.write_text("start,end,label\r\n0,1,walk\r\n")
    assert rows(LabelSet.from_csv(p)) == [(0, 1, "walk")]


@pytest.mark.parametrize("text, match", [
    ("start_s,label\n0,walk\n", "line 1: header .* has no 'end_s' column"),
    ("start_s,end_s,label\n0,1,walk\n1,2\n", "line 3: expected at least 3 columns"),
    ("# emlearn_lab labels v1\nstart_s,end_s,label\n0,abc,walk\n",
     "line 3: end_s 'abc' is not a number"),
    ("start_s,end_s,label\n0,1,walk\n1,2,\n", "line 3: label '' is empty"),
    ("start_s,end_s,label\n0,nan,walk\n", "line 2: end_s is nan"),
    ("start_s,end_s,label\n0,2,walk\n1,3,run\n",
     r"label 'run' \[1, 3\) s \(.*line 3\) overlaps label 'walk' \[0, 2\) s \(.*line 2\)"),
    ("# emlearn_lab labels v2\nstart_s,end_s,label\n", "format v2 is newer.*upgrade"),
    ("# recording: n_samples=x\nstart_s,end_s,label\n", "line 1: expected '# recording:"),
])
def test_corrupt_csv_says_which_line(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(LabelError, match=match):
        LabelSet.load(p)


def test_recording_mismatch(tmp_path, rec):
    p = tmp_path / "a.csv"
    LabelSet([(0, 1, "walk")], recording=rec).save(p)
    other = Recording(np.zeros(6100), samplerate_hz=100)
    with pytest.raises(LabelFileMismatchError) as e:
        LabelSet.load(p, recording=other)
    msg = str(e.value)
    assert "n_samples 6000 in the file vs 6100" in msg
    assert f"sha256 {rec.sha256} in the file vs {other.sha256}" in msg
    assert "samplerate_hz" not in msg and "check='warn'" in msg
    assert isinstance(e.value, LabelError)
    with pytest.warns(UserWarning, match="made for another recording"):
        ls = LabelSet.load(p, recording=other, check="warn")
    assert ls.recording_info == other.info
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(LabelSet.load(p, recording=other, check="ignore")) == 1
        assert len(LabelSet.load(p, recording=rec)) == 1       # same recording: no warning
    kept = LabelSet.load(p)                                    # no recording: keep the file's
    assert kept.recording_info == rec.info
    kept.save(tmp_path / "b.csv")
    assert (tmp_path / "b.csv").read_text() == p.read_text()
    with pytest.raises(LabelError, match="check must be one of"):
        LabelSet.load(p, check="maybe")


def test_file_recording_bounds_apply(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("# recording: n_samples=100 samplerate_hz=10 sha256=ab\n"
                 "start_s,end_s,label\n0,11,walk\n")
    with pytest.raises(LabelError, match=r"line 3: label 'walk' \[0, 11\) s ends after"):
        LabelSet.load(p)


# -- Audacity ----------------------------------------------------------------------------------

def test_audacity_read_write(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("0.000000\t1.500000\twalk\n\\\t100.0\t2000.0\n1.500000\t3.250000\trun\n")
    ls = LabelSet.load(p, classes=CLASSES)
    assert rows(ls) == [(0, 1.5, "walk"), (1.5, 3.25, "run")]
    out = tmp_path / "b.tsv"
    ls.add(4, 4 + 1 / 3, "idle")
    ls.save(out)
    assert out.read_text().splitlines()[:2] == ["0\t1.5\twalk", "1.5\t3.25\trun"]
    assert rows(LabelSet.from_audacity(out)) == rows(ls)      # exact, no 6-decimal rounding


def test_audacity_points_and_errors(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("0\t1\twalk\n2\t2\tclap\n")
    with pytest.raises(LabelError, match="line 2: point label 'clap' at 2 s .*not points.*"
                                         "points='skip'"):
        LabelSet.load(p)
    with pytest.warns(UserWarning, match="skipped it"):
        ls = LabelSet.load(p, points="skip")
    assert rows(ls) == [(0, 1, "walk")]
    p.write_text("0\t1\n")
    with pytest.raises(LabelError, match="line 1: label '' is empty"):
        LabelSet.load(p)
    p.write_text("0 1 walk\n")
    with pytest.raises(LabelError, match=r"line 1: expected start<TAB>end<TAB>label"):
        LabelSet.load(p)
    with pytest.raises(LabelError, match="points must be one of"):
        LabelSet.load(p, points="drop")


# -- Label Studio ------------------------------------------------------------------------------

def _ts_result(rid, start, end, label, rtype="timeserieslabels", from_name="label"):
    return {"id": rid, "from_name": from_name, "to_name": "ts", "type": rtype,
            "value": {"start": start, "end": end, "instant": False, rtype: [label]}}


def _export(*tasks):
    return json.dumps([{"id": i + 1, "data": {"csv": f"/data/upload/{i}.csv"},
                        "annotations": [{"id": 10 + i, "result": r, "was_cancelled": False}],
                        "predictions": []} for i, r in enumerate(tasks)])


def test_label_studio_timeseries(tmp_path):
    p = tmp_path / "export.json"
    p.write_text(_export([
        _ts_result("a", 0, 1.5, "walk"),
        {"id": "c", "from_name": "notes", "to_name": "ts", "type": "textarea",
         "value": {"text": ["x"]}},
        _ts_result("b", 2, 3.25, "run"),
    ]))
    ls = LabelSet.load(p, classes=CLASSES)
    assert rows(ls) == [(0, 1.5, "walk"), (2, 3.25, "run")]
    p.write_text(_export([_ts_result("a", 0, 1, "walk")], [_ts_result("b", 0, 2, "run")]))
    with pytest.raises(LabelError, match=r"holds 2 tasks; pass task=<index> \(0 to 1\)"):
        LabelSet.load(p)
    assert rows(LabelSet.load(p, task=1)) == [(0, 2, "run")]
    with pytest.raises(LabelError, match="task=5 but"):
        LabelSet.load(p, task=5)


def test_label_studio_audio_completions_and_annotations(tmp_path):
    p = tmp_path / "audio.json"
    audio = {"id": "r1", "from_name": "labels", "to_name": "audio", "type": "labels",
             "value": {"start": 0.25, "end": 0.75, "channel": 0, "labels": ["clap"]}}
    p.write_text(json.dumps([{"data": {"audio": "a.wav"}, "completions": [{"result": [audio]}]}]))
    ls = LabelSet.load(p)
    assert rows(ls) == [(0.25, 0.75, "clap")]
    # written back with the same tag names and data
    out = tmp_path / "back.json"
    ls.save(out)
    doc = json.loads(out.read_text())
    assert doc[0]["data"]["audio"] == "a.wav"
    r = doc[0]["annotations"][0]["result"][0]
    assert (r["type"], r["from_name"], r["to_name"], r["value"]["labels"]) == (
        "labels", "labels", "audio", ["clap"])
    two = {"data": {}, "annotations": [{"result": [audio]}, {"result": []},
                                       {"result": [audio], "was_cancelled": True}]}
    p.write_text(json.dumps([two]))
    with pytest.raises(LabelError, match="holds 2 annotations; pass annotation=<index>"):
        LabelSet.load(p)
    assert len(LabelSet.load(p, annotation=1)) == 0
    p.write_text(json.dumps([{"data": {"csv": "x"}, "predictions": [{"result": [audio]}]}]))
    with pytest.warns(UserWarning, match="no annotations"):
        assert len(LabelSet.load(p)) == 0


def test_label_studio_json_min(tmp_path):
    # Shape written by label-studio-converter's convert_to_json_min: task data + id + one key
    # per labels tag holding the region values + annotator metadata.
    p = tmp_path / "min.json"
    p.write_text(json.dumps([{
        "csv": "/data/upload/1/walk.csv", "id": 1,
        "label": [{"start": 0, "end": 2.5, "instant": False, "timeserieslabels": ["walk"]},
                  {"start": 2.5, "end": 4, "instant": False, "timeserieslabels": ["run"]}],
        "annotator": 1, "annotation_id": 3, "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z", "lead_time": 12.5}]))
    ls = LabelSet.load(p)
    assert rows(ls) == [(0, 2.5, "walk"), (2.5, 4, "run")]
    out = tmp_path / "full.json"
    ls.save(out)
    assert json.loads(out.read_text())[0]["data"] == {"csv": "/data/upload/1/walk.csv"}


def test_label_studio_rejects_datetimes_and_bad_values(tmp_path):
    p = tmp_path / "dt.json"
    p.write_text(_export([_ts_result("a", "2023-01-10T10:15:00.000Z", "2023-01-10T11:00:00Z",
                                     "walk")]))
    with pytest.raises(LabelError, match="start is the date-time '2023-01-10T10:15:00.000Z'.*"
                                         "not supported.*numeric seconds"):
        LabelSet.load(p)
    p.write_text(_export([_ts_result("a", 1, 1, "tap")]))
    with pytest.raises(LabelError, match="point label 'tap'"):
        LabelSet.load(p)
    p.write_text(_export([_ts_result("a", 0, 1, "walk"), _ts_result("b", 0.5, 2, "run")]))
    with pytest.raises(LabelError, match=r"result 1\) overlaps"):
        LabelSet.load(p)
    p.write_text("{not json")
    with pytest.raises(LabelError, match="not JSON"):
        LabelSet.load(p)
    p.write_text("[]")
    with pytest.raises(LabelError, match="holds no tasks"):
        LabelSet.load(p)


def test_label_studio_round_trip(tmp_path, rec):
    rng = np.random.default_rng(1)
    edges = np.sort(rng.uniform(0, 60, 40))
    ls = LabelSet([(edges[i], edges[i + 1], CLASSES[i % 3]) for i in range(0, 40, 2)],
                  classes=CLASSES, recording=rec)
    p = tmp_path / "ls.json"
    ls.to_label_studio(p, data_value="/data/upload/walk.csv")
    doc = json.loads(p.read_text())
    assert len(doc) == 1 and doc[0]["data"]["csv"] == "/data/upload/walk.csv"
    result = doc[0]["annotations"][0]["result"]
    assert len({r["id"] for r in result}) == len(result) == 20
    assert {r["type"] for r in result} == {"timeserieslabels"}
    back = LabelSet.load(p, recording=rec)
    assert back == ls and rows(back) == rows(ls)
    assert LabelSet.load(p).recording_info == rec.info
    with pytest.raises(LabelFileMismatchError, match="n_samples 6000 in the file vs 10"):
        LabelSet.load(p, recording=RecordingInfo(10, 100, "x"))
    LabelSet([(0, 1, "a")]).to_label_studio(p, kind="audio", to_name="audio", data_key="audio")
    r = json.loads(p.read_text())[0]["annotations"][0]["result"][0]
    assert r["type"] == "labels" and r["value"] == {"start": 0, "end": 1, "channel": 0,
                                                    "labels": ["a"]}


# -- files, autosave, atomicity ----------------------------------------------------------------

def test_unknown_extension_and_no_path(tmp_path):
    with pytest.raises(LabelError, match=r"extension '.xlsx': use .csv"):
        LabelSet.load(tmp_path / "a.xlsx")
    with pytest.raises(LabelError, match="has no path: call save\\(path\\)"):
        LabelSet().save()
    with pytest.raises(LabelError, match="directory .* does not exist"):
        LabelSet(path=tmp_path / "nope" / "a.csv")


def test_autosave_on_every_change(tmp_path, rec):
    p = tmp_path / "walk.labels.csv"
    ls = LabelSet.open(p, recording=rec, classes=CLASSES)
    assert not p.exists() and ls.path == p

    def on_disk():
        return rows(LabelSet.load(p, recording=rec))
    a = ls.add(0, 1, "walk")
    assert on_disk() == [(0, 1, "walk")]
    ls.update(a.id, end_s=2, label="run")
    assert on_disk() == [(0, 2, "run")]
    b = ls.add(3, 4, "idle")
    assert on_disk() == [(0, 2, "run"), (3, 4, "idle")]
    ls.remove(b.id)
    assert on_disk() == [(0, 2, "run")]
    ls.undo()
    assert on_disk() == [(0, 2, "run"), (3, 4, "idle")]
    ls.redo()
    assert on_disk() == [(0, 2, "run")]
    ls.extend([(5, 6, "walk"), (7, 8, "walk")])
    assert len(on_disk()) == 3
    ls.clear()
    assert on_disk() == []
    with pytest.raises(LabelError):
        ls.add(0, 99, "walk")
    assert on_disk() == []
    # reopening continues the same file
    again = LabelSet.open(p, recording=rec)
    assert again.classes == tuple(CLASSES) and again.path == p and len(again) == 0
    with pytest.raises(LabelError, match="exists already.*LabelSet.open"):
        LabelSet(path=p)


def test_path_setter_and_other_formats_autosave(tmp_path):
    ls = LabelSet([(0, 1, "walk")])
    ls.path = tmp_path / "a.txt"
    assert (tmp_path / "a.txt").read_text() == "0\t1\twalk\n"
    ls.add(1, 2, "run")
    assert (tmp_path / "a.txt").read_text() == "0\t1\twalk\n1\t2\trun\n"
    ls.path = tmp_path / "a.json"
    ls.undo()
    assert len(LabelSet.load(tmp_path / "a.json")) == 1
    ls.path = None
    ls.redo()
    assert len(LabelSet.load(tmp_path / "a.json")) == 1


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "a.csv"
    atomic_write_text(p, "old\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic_mod.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(p, "new\n" * 1000)
    assert p.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["a.csv"]


def test_atomic_write_failure_mid_write(tmp_path, monkeypatch):
    p = tmp_path / "a.csv"
    atomic_write_text(p, "old\n")

    def broken_fsync(fd):
        raise OSError(5, "I/O error")
    monkeypatch.setattr(atomic_mod.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        atomic_write_text(p, "new\n")
    assert p.read_text() == "old\n" and os.listdir(tmp_path) == ["a.csv"]


def test_atomic_write_mode_and_symlink(tmp_path):
    p = tmp_path / "a.csv"
    atomic_write_text(p, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(p).st_mode & 0o777 == 0o666 & ~mask
    os.chmod(p, 0o640)
    atomic_write_text(p, "y")
    assert os.stat(p).st_mode & 0o777 == 0o640
    link = tmp_path / "link.csv"
    link.symlink_to(p)
    atomic_write_text(link, "z")
    assert link.is_symlink() and p.read_text() == "z"


def test_failed_autosave_rolls_back(tmp_path, monkeypatch):
    p = tmp_path / "a.csv"
    ls = LabelSet.open(p)
    ls.add(0, 1, "walk")
    before = p.read_text()
    calls = []
    ls.observe(calls.append)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic_mod.os, "replace", broken_replace)
    with pytest.raises(OSError) as e:
        ls.add(1, 2, "run")
    assert "the change was not applied" in "".join(e.value.__notes__)
    assert rows(ls) == [(0, 1, "walk")] and len(ls._undo) == 1
    with pytest.raises(OSError):
        ls.undo()
    assert rows(ls) == [(0, 1, "walk")] and ls.can_undo and not ls.can_redo
    assert calls == [] and p.read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["a.csv"]
    monkeypatch.undo()
    assert ls.undo() and len(LabelSet.load(p)) == 0


def test_failed_load_leaves_file_and_set_alone(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("start_s,end_s,label\n0,1,walk\n1,x,run\n")
    ls = LabelSet([(0, 5, "idle")])
    with pytest.raises(LabelError, match="line 3"):
        ls = LabelSet.open(p)
    assert rows(ls) == [(0, 5, "idle")]
    assert p.read_text() == "start_s,end_s,label\n0,1,walk\n1,x,run\n"


def test_format_helpers():
    assert formats.format_number(-0.0) == "0" and formats.format_number(1e-7) == "0.0000001"
    assert formats.format_number(0.1 + 0.2) == repr(0.1 + 0.2)
    assert formats.format_of("x.labels.CSV") == "csv"
    table = formats.parse_csv(formats.format_csv([(0.0, 1.0, "a")], classes=["a", "b,c"]))
    assert table.classes == ("a", "b,c") and table.rows == [(0.0, 1.0, "a")]


# -- notes and added classes (issue 22) -------------------------------------------------------
def test_notes_are_saved_undone_and_read_back_in_csv_and_label_studio(tmp_path):
    for name in ("a.labels.csv", "a.json"):
        path = tmp_path / name
        ls = LabelSet.open(path, classes=["walk", "run"])
        a = ls.add(0, 2, "walk")
        ls.update(a.id, note='stumbled, "twice"')
        assert LabelSet.load(path)[1].note == 'stumbled, "twice"'
        assert ls.to_records()[0]["note"] == 'stumbled, "twice"'
        ls.undo()
        assert LabelSet.load(path)[1].note == "" and "note" not in ls.to_records()[0]
        ls.redo()
        with pytest.raises(LabelError, match="line break"):
            ls.update(a.id, note="two\nlines")
        assert LabelSet.load(path)[1].note == 'stumbled, "twice"'


def test_files_without_notes_stay_as_before_and_old_files_load(tmp_path):
    ls = LabelSet([(0, 1, "walk")], classes=["walk"])
    ls.to_csv(tmp_path / "plain.csv")
    assert (tmp_path / "plain.csv").read_text().splitlines()[-2:] == ["start_s,end_s,label",
                                                                      "0,1,walk"]
    (tmp_path / "old.csv").write_text("# emlearn_lab labels v1\nstart_s,end_s,label\n0,1,walk\n")
    assert LabelSet.load(tmp_path / "old.csv")[1].note == ""


def test_an_audacity_autosave_refuses_a_note_instead_of_dropping_it(tmp_path):
    path = tmp_path / "a.txt"
    ls = LabelSet.open(path)
    a = ls.add(0, 1, "walk")
    with pytest.raises(LabelError, match="Audacity.*cannot hold.*csv"):
        ls.update(a.id, note="keep me")
    assert ls[a.id].note == "" and path.read_text() == "0\t1\twalk\n"


def test_add_class_allows_it_and_saves_the_classes(tmp_path):
    path = tmp_path / "a.labels.csv"
    ls = LabelSet.open(path, classes=["walk"])
    ls.add_class("jump")
    ls.add(0, 1, "jump")
    assert LabelSet.load(path).classes == ("walk", "jump")
    with pytest.raises(LabelError, match="exists already"):
        ls.add_class("walk")
    with pytest.raises(LabelError, match="empty"):
        ls.add_class(" ")


def test_slice_s_cuts_labels_at_the_edges_and_keeps_the_classes():
    from emlearn_lab.windowing import windows
    rec = Recording(np.zeros((100, 1)), samplerate_hz=10)
    ls = LabelSet([(0, 4, "walk"), (4, 9, "run"), (9.5, 10, "walk")], classes=["run", "walk"],
                  recording=rec)
    part = ls.slice_s(2, 6, recording=rec.slice_s(2, 6))
    assert [(a.start_s, a.end_s, a.label) for a in part] == [(0, 2, "walk"), (2, 4, "run")]
    assert part.classes == ("run", "walk")
    # windows of the part line up with its labels (bound to the 4 s part, not the 10 s whole)
    w = windows(rec.slice_s(2, 6), part, window_s=1.0)
    assert w.y.tolist() == ["walk", "walk", "run", "run"]
    with pytest.raises(LabelError, match="start_s < end_s"):
        ls.slice_s(5, 5)
