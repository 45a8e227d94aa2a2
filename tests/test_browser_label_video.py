"""A video beside the label widget, in a real JupyterLab in headless Debian chromium.

The test video is made here: each frame shows its own number as a row of black/white blocks
(binary), encoded to WebM/VP8 by Debian's vpxenc (.ci/run installs vpx-tools). Reading the
blocks back from the <video> element drawn on a canvas says which frame the browser shows,
so the checks look at the picture, not only at currentTime.
"""
import csv
import os
import shutil
import subprocess

import browser_harness as bh
import numpy as np
import pytest
from _require import skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FPS = 10
DURATION_S = 30.0
N_BITS, BLOCK_PX, HEIGHT_PX = 10, 16, 32
EVENT_S, TRUE_OFFSET_S = 7.0, 2.5                # a spike at 7 s; the video shows it at 9.5 s


def _frame_yuv420(k: int) -> bytes:
    """Frame ``k``: its number in binary, bit i a block i (white 1, black 0), grey chroma."""
    bits = (k >> np.arange(N_BITS)) & 1
    row = np.repeat(np.where(bits, 235, 16).astype(np.uint8), BLOCK_PX)
    luma = np.tile(row, (HEIGHT_PX, 1))
    chroma = np.full((HEIGHT_PX // 2) * (N_BITS * BLOCK_PX // 2), 128, np.uint8)
    return luma.tobytes() + chroma.tobytes() + chroma.tobytes()


def make_counter_video(path, vpxenc: str) -> None:
    """A WebM whose frames show their own index (see :func:`_frame_yuv420`)."""
    width = N_BITS * BLOCK_PX
    y4m = path.with_suffix(".y4m")
    with open(y4m, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{HEIGHT_PX} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(int(DURATION_S * FPS)):
            f.write(b"FRAME\n" + _frame_yuv420(k))
    subprocess.run([vpxenc, "--codec=vp8", "--good", "--cpu-used=8", "--end-usage=q",
                    "--cq-level=4", "--kf-max-dist=10", "--quiet", "-o", str(path), str(y4m)],
                   check=True, capture_output=True)
    y4m.unlink()


def _vpxenc() -> str:
    exe = shutil.which("vpxenc")
    if exe is None:
        skip_or_fail("vpxenc not found (apt-get install vpx-tools; .ci/run does)")
    return exe


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    bh.require()
    vpxenc = _vpxenc()
    root = tmp_path_factory.mktemp("labvideo")
    make_counter_video(root / "clip.webm", vpxenc)
    (root / "broken.webm").write_bytes(b"this is not a video" * 10)
    t = np.arange(int(DURATION_S * 50)) / 50.0
    acc = 0.1 * np.sin(2 * np.pi * 0.7 * t) + 3.0 * (np.abs(t - EVENT_S) < 0.1)   # the event
    with open(root / "jump.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_s", "acc [g]"])
        w.writerows([[f"{ti:.2f}", f"{a:.4f}"] for ti, a in zip(t, acc)])
    bh.write_notebook(root / "video.ipynb", [
        "import emlearn_lab as eml\n"
        "rec = eml.load_recording('jump.csv')\n"
        "w = eml.label(rec, classes=['jump', 'rest'], labels='jump.labels.csv', "
        "video='clip.webm')\n"
        "w",
        "wb = eml.label(rec, classes=['jump'], video='broken.webm')\n"
        "wb",
    ])
    ready = ("[...document.querySelectorAll('.emlab-label')]"
             ".filter((e) => e.dataset.state === 'ready').length === 2")
    with bh.run_notebook(root, "video.ipynb", ready) as (page, nb):
        yield root, page, nb


def _wait(page, js: str, timeout_ms: int = 30_000) -> None:
    """Until ``js`` (an expression of ``d``, the first widget's dataset, and ``v``, its video
    element) holds: a bound against a hang, not a measure of speed."""
    page.wait_for_function(
        "(js) => { const r = document.querySelector('.emlab-label'); const d = r.dataset, "
        "v = r.querySelector('video'); return eval(js); }", arg=js, timeout=timeout_ms)


def _state(page) -> dict:
    """The playhead (s), the video's time (s), the frame it shows (read from its pixels),
    whether it is paused, and the offset the view holds."""
    return page.evaluate("""() => {
        const r = document.querySelector('.emlab-label'), v = r.querySelector('video');
        const cv = document.createElement('canvas');
        cv.width = v.videoWidth; cv.height = v.videoHeight;
        const ctx = cv.getContext('2d');
        ctx.drawImage(v, 0, 0);
        const px = ctx.getImageData(0, 0, cv.width, cv.height).data, block = cv.width / %d;
        let frame = 0;
        for (let i = 0; i < %d; i++) {
            const x = Math.round((i + 0.5) * block), y = Math.round(cv.height / 2);
            if (px[(y * cv.width + x) * 4] > 128) frame |= 1 << i;
        }
        return { playhead: Number(r.dataset.playhead), video_s: v.currentTime, frame,
                 paused: v.paused, seeking: v.seeking };
    }""" % (N_BITS, N_BITS))


def _settled(page) -> dict:
    """The state once the video has finished its latest seek and painted the frame."""
    _wait(page, "!v.seeking && v.readyState >= 2")
    return _state(page)


def _click_signal(page, t_s: float, view_s=(0.0, DURATION_S)) -> None:
    main = page.locator(".emlab-main").first
    main.scroll_into_view_if_needed()
    box = main.bounding_box()
    frac = (t_s - view_s[0]) / (view_s[1] - view_s[0])
    page.mouse.click(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)


def _show(page, nb, start_s: float, end_s: float) -> None:
    nb.run_code(f"w.show({start_s}, {end_s})")
    _wait(page, f"d.view === '{start_s:g},{end_s:g}'")


def test_video_loads_beside_the_plot(lab):
    _, page, _ = lab
    _wait(page, "d.video === 'ready'")
    video = page.locator(".emlab-label").first.locator("video").bounding_box()
    main = page.locator(".emlab-main").first.bounding_box()
    assert video["x"] >= main["x"] + main["width"]                  # beside, not below
    assert video["width"] > 150


def test_the_playhead_and_the_view_drive_the_video(lab):
    _, page, nb = lab
    _wait(page, "d.video === 'ready'")
    nb.run_code("w.video_offset_s = 0.0")
    _show(page, nb, 0, 30)
    _click_signal(page, 12.0)                                       # the playhead: 12 s
    _wait(page, "Math.abs(Number(d.playhead) - 12) < 0.1 && Math.abs(v.currentTime - "
                "Number(d.playhead)) < 1e-3")
    s = _settled(page)
    assert abs(s["frame"] - s["video_s"] * FPS) <= 1                 # that frame is shown
    nb.run_code("w.video_offset_s = 2.5")                           # video = recording + 2.5
    _wait(page, "Math.abs(v.currentTime - Number(d.playhead) - 2.5) < 1e-3")
    s = _settled(page)
    assert abs(s["frame"] - (s["playhead"] + 2.5) * FPS) <= 1
    _show(page, nb, 20, 24)                                          # scrub by moving the view
    _wait(page, "Math.abs(Number(d.playhead) - 22) < 1e-3 && "
                "Math.abs(v.currentTime - 24.5) < 1e-3")
    assert abs(_settled(page)["frame"] - 245) <= 1


def test_the_playing_video_drives_the_playhead(lab):
    _, page, nb = lab
    _wait(page, "d.video === 'ready'")
    nb.run_code("w.video_offset_s = 2.5")
    _show(page, nb, 0, 4)
    _wait(page, "Math.abs(v.currentTime - 4.5) < 1e-3")             # playhead at 2 s
    page.locator(".emlab-main").first.click(position={"x": 3, "y": 3})
    page.keyboard.press("Escape")
    _click_signal(page, 1.0, (0, 4))
    _wait(page, "Math.abs(v.currentTime - 3.5) < 0.05")
    page.keyboard.press(" ")                                         # play
    _wait(page, "!v.paused && v.currentTime > 6.0", timeout_ms=60_000)
    _wait(page, "Number(d.view.split(',')[1]) > 4")                 # the view followed
    page.keyboard.press(" ")                                         # pause
    _wait(page, "v.paused && d.videoPlaying === 'false'")
    s = _settled(page)
    assert s["playhead"] == pytest.approx(s["video_s"] - 2.5, abs=0.01)
    assert abs(s["frame"] - s["video_s"] * FPS) <= 1
    start, end = map(float, page.locator(".emlab-label").first.get_attribute("data-view")
                     .split(","))
    assert start <= s["playhead"] <= end


def test_aligning_one_event_sets_the_offset(lab):
    """Pause the video where it shows the event (9.5 s), press V, click the event in the
    signal (7 s), press V: the offset is 2.5 s, in the kernel and in the view."""
    _, page, nb = lab
    _wait(page, "d.video === 'ready'")
    # A video still playing (the test before, on a loaded machine) pages the view along.
    page.evaluate("() => document.querySelector('.emlab-label video').pause()")
    _wait(page, "v.paused && d.videoPlaying !== 'true'")
    nb.run_code("w.video_offset_s = 0.0")
    _show(page, nb, 0, 30)
    page.locator(".emlab-main").first.click(position={"x": 3, "y": 3})
    page.keyboard.press("Escape")
    page.keyboard.press("v")
    _wait(page, "d.aligning === 'true'")
    seeks = int(page.locator(".emlab-label").first.get_attribute("data-video-seeks") or 0)
    page.evaluate("() => { document.querySelector('.emlab-label video').currentTime = "
                  f"{EVENT_S + TRUE_OFFSET_S}; }}")                  # the user's scrub
    _wait(page, f"Number(d.videoSeeks) > {seeks} && !v.seeking")
    playhead = _state(page)["playhead"]
    _click_signal(page, EVENT_S)                                     # the event in the signal
    _wait(page, f"Math.abs(Number(d.playhead) - {EVENT_S}) < 0.1")
    s = _settled(page)
    assert s["video_s"] == pytest.approx(EVENT_S + TRUE_OFFSET_S)    # aligning: not moved
    assert playhead != pytest.approx(s["playhead"])
    page.keyboard.press("v")
    _wait(page, "d.aligning === 'false'")
    deadline = 600
    while abs(float(nb.run_code("print(w.video_offset_s)")) - TRUE_OFFSET_S) > 0.1:
        deadline -= 1
        assert deadline, "the kernel never got the offset"
        page.wait_for_timeout(100)
    offset = float(nb.run_code("print(w.video_offset_s)"))
    assert offset == pytest.approx(s["video_s"] - s["playhead"], abs=0.03)
    assert "video offset +2." in nb.run_code("print(w.message)")
    _click_signal(page, 15.0)                                        # synced with the offset
    _wait(page, f"Math.abs(v.currentTime - Number(d.playhead) - {offset}) < 1e-3")
    _shot(page)


def test_a_file_the_browser_cannot_play_says_what_to_do(lab):
    _, page, _ = lab
    page.wait_for_function("() => document.querySelectorAll('.emlab-label')[1].dataset.video"
                           " === 'error'", timeout=30_000)
    note = page.locator(".emlab-label").nth(1).locator(".emlab-status").inner_text()
    assert "cannot play broken.webm" in note and "ffmpeg" in note and "\n" not in note


def _shot(page) -> None:
    out = os.environ.get("EMLAB_ARTIFACT_DIR")
    if out:
        os.makedirs(out, exist_ok=True)
        page.locator(".emlab-label").first.screenshot(
            path=os.path.join(out, "label_widget_video.png"))
