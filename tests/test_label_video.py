"""The label widget's video, kernel side: the file's checks, its chunks, the offset.

What the browser does with it (plays it in sync, aligns) is tests/test_browser_label_video.py.
"""
import numpy as np
import pytest

import emlearn_lab as eml
from emlearn_lab.exceptions import InputError
from emlearn_lab.widgets import _video


def _rec(seconds=20, rate=50):
    return eml.Recording(np.zeros((seconds * rate, 1), np.float32), samplerate_hz=rate)


def _chunks_sent(w, monkeypatch):
    sent = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append((content, buffers)))
    return sent


def test_a_missing_video_is_one_line_with_the_remedy(tmp_path):
    with pytest.raises(InputError) as e:
        eml.label(_rec(), classes=["a"], video=tmp_path / "nope.webm")
    assert "\n" not in str(e.value) and "give a path that exists" in str(e.value)


@pytest.mark.parametrize("name", ["clip.avi", "clip"])
def test_an_unsupported_video_type_is_refused_with_the_remedy(tmp_path, name):
    (tmp_path / name).write_bytes(b"\0" * 10)
    with pytest.raises(InputError, match=r"use \.webm.*ffmpeg"):
        eml.label(_rec(), classes=["a"], video=tmp_path / name)


def test_the_view_gets_the_file_in_chunks_it_asks_for(tmp_path, monkeypatch):
    data = np.random.default_rng(0).integers(0, 256, 5 * 1000 + 17, np.uint8).tobytes()
    (tmp_path / "c.webm").write_bytes(data)
    monkeypatch.setattr(_video, "CHUNK_BYTES", 1000)
    w = eml.label(_rec(), classes=["a"], video=tmp_path / "c.webm", video_offset_s=2.5)
    info = w.video_info
    assert info["mime"] == "video/webm" and info["n_chunks"] == 6 and w.video_offset_s == 2.5
    sent = _chunks_sent(w, monkeypatch)
    for k in range(info["n_chunks"]):
        w._on_message(w, {"type": "video_chunk", "serial": info["serial"], "index": k}, [])
    assert [m["index"] for m, _ in sent] == list(range(6))
    assert b"".join(b for _, (b,) in sent) == data


def test_a_replaced_video_ignores_requests_for_the_old_one(tmp_path, monkeypatch):
    for name in ("a.webm", "b.ogv"):
        (tmp_path / name).write_bytes(b"\1" * 10)
    w = eml.label(_rec(), classes=["a"], video=tmp_path / "a.webm")
    old = w.video_info["serial"]
    w.video = tmp_path / "b.ogv"
    assert w.video.endswith("b.ogv") and w.video_info["mime"] == "video/ogg"
    sent = _chunks_sent(w, monkeypatch)
    w._on_message(w, {"type": "video_chunk", "serial": old, "index": 0}, [])
    assert sent == []
    w.video = None
    assert w.video is None and w.video_info == {}


def test_aligning_one_event_sets_the_offset(tmp_path):
    w = eml.label(_rec(), classes=["a"])
    w._on_message(w, {"type": "align", "video_s": 9.5, "signal_s": 7.0}, [])
    assert w.video_offset_s == pytest.approx(2.5)
    assert w.message.startswith("video offset +2.500 s")
    assert w.align_video(1.0, 3.0) == pytest.approx(-2.0)
