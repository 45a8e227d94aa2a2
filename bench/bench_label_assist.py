"""Labelling BasicMotions by hand vs with the model's help, in a real browser (issue 22).

A scripted user who knows the truth (the sample's labels) labels the 240 s, 24-session
BasicMotions recording in the label widget (headless Debian chromium, JupyterLab):

* **from scratch**: views of 60 s (keys + and Shift+←/→), Esc and a class key when the class
  changes (a class key relabels the selected region, which the last drag made), one drag per
  session;
* **model-assisted**: the first quarter (60 s) as above, then one cell trains TimeStats +
  a random forest on it and runs ``w.predict(pipe, window_s=2, hop_s=1)``; then N (offer the
  least sure unlabelled stretch), A (accept it), and a class key when the offered class is
  wrong, until nothing is left to offer.

Reported per run: gestures (keys, drags, cell runs), the scripted run's wall-clock seconds
(browser + kernel round trips on a shared machine: orders of magnitude), a human-time estimate
with the keystroke-level model (Card, Moran & Newell: K = 0.28 s a key, P = 1.1 s to point,
B = 0.1 s a button press or release, M = 1.35 s to decide; a drag is P B P B), and how much of
the recording ends up labelled as the truth says (frames of 0.1 s).

    python3 bench/bench_label_assist.py     # writes bench/results/label_assist.{md,json,png}
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import browser_harness as bh  # noqa: E402

CLASSES = ["standing", "walking", "running", "badminton"]
K_S, P_S, B_S, M_S = 0.28, 1.1, 0.1, 1.35          # keystroke-level model operators
DRAG_S = 2 * (P_S + B_S)
VIEW_S = 60.0

SETUP = (
    "import numpy as np, emlearn_lab as eml\n"
    "rec = eml.datasets.load_sample('basic_motions')\n"
    "truth = eml.LabelSet.load(eml.datasets.sample_labels_path('basic_motions'), "
    "recording=rec)\n"
    f"w = eml.label(rec, classes={CLASSES!r}, labels='{{name}}.labels.csv')\n"
    "w")
TRAIN = (
    "from sklearn.ensemble import RandomForestClassifier\n"
    "from sklearn.pipeline import make_pipeline\n"
    "win = eml.windows(rec, w.labels, window_s=2.0, hop_s=1.0)\n"
    "pipe = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2], magnitude=True),\n"
    "                     RandomForestClassifier(n_estimators=20, random_state=0))\n"
    "pipe.fit(win.X, win.y)\n"
    "_ = w.predict(pipe, window_s=2.0, hop_s=1.0)")


class User:
    """Gestures on the widget, each waited for (a state, never a fixed sleep), and counted."""

    def __init__(self, page, nb):
        self.page, self.nb = page, nb
        self.counts = {"key": 0, "drag": 0, "cell": 0, "decision": 0}
        self.widget = page.locator(".emlab-label")

    def data(self, key: str) -> str:
        return self.widget.get_attribute(f"data-{key}") or ""

    def wait(self, key: str, js_test: str) -> None:
        self.page.wait_for_function(
            f"(k) => {{ const v = document.querySelector('.emlab-label').dataset[k]; "
            f"return v !== undefined && ({js_test}); }}", arg=key, timeout=60_000)

    def key(self, k: str, then: tuple | None = None) -> None:
        before = self.data(then[0]) if then else None
        self.page.keyboard.press(k)
        self.counts["key"] += 1
        if then:
            self.wait(then[0], then[1].replace("BEFORE", json.dumps(before)))

    def kernel(self, expr: str) -> str:
        return self.nb.run_code(f"print({expr})").strip()

    def view(self) -> tuple[float, float]:
        a, b = self.data("view").split(",")
        return float(a), float(b)

    def drag(self, start_s: float, end_s: float) -> None:
        """Press just inside the new region's end (never on a neighbour's edge), release just
        inside its start."""
        main = self.widget.locator(".emlab-main")
        box = main.bounding_box()
        v0, v1 = self.view()
        x = lambda t: box["x"] + (t - v0) / (v1 - v0) * box["width"]  # noqa: E731
        y = box["y"] + box["height"] / 2
        n = int(self.kernel("len(w.labels)"))
        self.page.mouse.move(x(end_s) - 1, y)
        self.page.mouse.down()
        self.page.mouse.move((x(start_s) + x(end_s)) / 2, y, steps=3)
        self.page.mouse.move(x(start_s) + 1, y, steps=3)
        self.page.mouse.up()
        self.counts["drag"] += 1
        for _ in range(600):                          # until the kernel holds the new region
            if int(self.kernel("len(w.labels)")) > n or "overlap" in self.kernel("w.message"):
                sel = self.kernel("w.selected_id")     # the view has the new selection too
                self.wait("selected", f"v === '{sel}'")
                return
            self.page.wait_for_timeout(50)
        raise AssertionError("a drag never reached the kernel")

    def show_60s_from(self, start_s: float) -> None:
        """Shift+←/→ (half a view each) until the view starts at ``start_s``."""
        while abs(self.view()[0] - start_s) > 1e-6:
            k = "Shift+ArrowRight" if self.view()[0] < start_s else "Shift+ArrowLeft"
            self.key(k, ("view", "v !== BEFORE"))

    def by_hand(self, truth: list, until_s: float) -> None:
        current = self.data("current")
        self.key("+", ("view", "v !== BEFORE"))            # 240 -> 120 -> 60 s views
        self.key("+", ("view", "v !== BEFORE"))
        self.show_60s_from(0.0)
        for start_s, end_s, label in truth:
            if start_s >= until_s:
                break
            self.counts["decision"] += 1
            if end_s > self.view()[1] + 1e-6:
                self.show_60s_from(min(start_s, 240 - VIEW_S))
            if label != current:       # Esc first: a class key relabels a selected region
                self.key("Escape", ("selected", "v === '-1'"))
                self.key(str(CLASSES.index(label) + 1), ("current", "v !== BEFORE"))
                current = label
            self.drag(start_s, end_s)

    def with_model(self) -> None:
        while True:
            self.counts["decision"] += 1
            self.key("n", ("suggestion", "true"))
            self.page.wait_for_function(
                "() => /model:|every predicted/.test(document.querySelector('.emlab-status')"
                ".textContent)", timeout=60_000)
            offer = json.loads(self.nb.run_code("import json; print(json.dumps(w.suggestion))"))
            if not offer:
                return
            n = int(self.kernel("len(w.labels)"))
            self.key("a")
            for _ in range(600):
                if int(self.kernel("len(w.labels)")) > n:
                    break
                self.page.wait_for_timeout(50)
            a, b = offer["free"][0]
            want = self.kernel(f"truth.at([{(a + b) / 2}])[0]")
            if want and want != offer["label"]:
                self.key(str(CLASSES.index(want) + 1))
                self.wait("regions", "true")
                for _ in range(600):
                    if self.kernel(f"w.labels[w.selected_id].label == {want!r}") == "True":
                        break
                    self.page.wait_for_timeout(50)


def run(name: str, assisted: bool, workdir: Path, shot: Path | None) -> dict:
    bh.write_notebook(workdir / f"{name}.ipynb", [SETUP.replace("{name}", name)])
    with bh.jupyter_lab(workdir) as (base, token), bh.browser(viewport=(1400, 1100)) as page:
        nb = bh.Notebook(page, base, token, f"{name}.ipynb")
        nb.run_all(timeout_s=300)
        page.wait_for_selector(".emlab-label[data-state=ready]", timeout=60_000)
        user = User(page, nb)
        page.locator(".emlab-main").click(position={"x": 3, "y": 3})
        page.keyboard.press("Escape")
        truth = json.loads(nb.run_code(
            "import json; print(json.dumps([(r.start_s, r.end_s, r.label) for r in truth]))"))
        t0 = time.perf_counter()
        train_s = 0.0
        if assisted:
            user.by_hand(truth, until_s=60.0)
            t_train = time.perf_counter()
            nb.run_code(TRAIN)
            train_s = time.perf_counter() - t_train
            user.counts["cell"] += 1
            user.wait("predictions", "Number(v) > 0")
            user.with_model()
        else:
            user.by_hand(truth, until_s=240.0)
        wall_s = time.perf_counter() - t0
        agree = float(user.kernel(
            "(w.labels.at(np.arange(0.05, 240, 0.1)) == truth.at(np.arange(0.05, 240, 0.1)))"
            ".mean()"))
        n_regions = int(user.kernel("len(w.labels)"))
        if shot:
            page.keyboard.press("0")
            user.wait("view", "v === '0,240'")
            page.locator(".emlab-label").screenshot(path=str(shot))
    c = user.counts
    klm_s = c["decision"] * M_S + c["key"] * K_S + c["drag"] * DRAG_S + \
        c["cell"] * (M_S + K_S) + train_s
    return {"run": name, "gestures": c["key"] + c["drag"] + c["cell"], **c,
            "regions": n_regions, "agreement": round(agree, 4),
            "scripted_wall_s": round(wall_s, 1), "train_and_predict_s": round(train_s, 2),
            "klm_human_s": round(klm_s, 1)}


def main() -> None:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, assisted in (("from_scratch", False), ("model_assisted", True)):
            rows.append(run(name, assisted, Path(tmp), out / f"label_assist_{name}.png"))
            print(rows[-1], flush=True)
    (out / "label_assist.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "# Labelling BasicMotions: from scratch vs model-assisted (`bench/bench_label_assist.py`)",
        "",
        "240 s, 24 sessions of 10 s, 4 classes; a scripted user who knows the truth, in "
        "headless chromium against JupyterLab. Assisted: the first 60 s (25 %) by hand, one cell "
        "trains TimeStats + RandomForest(20) on it and calls `w.predict`, then N / A / class "
        "key. Human seconds: keystroke-level model (K 0.28 s, P 1.1 s, B 0.1 s, M 1.35 s per "
        "decision; a drag is P B P B), plus the cell's measured compute. Scripted wall-clock: "
        "the run on this shared 2-core machine (round trips, not a person).",
        "",
        "| run | gestures | keys | drags | cells | decisions | regions | agreement with truth "
        "| human s (KLM) | scripted wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['run']} | {r['gestures']} | {r['key']} | {r['drag']} | "
                     f"{r['cell']} | {r['decision']} | {r['regions']} | "
                     f"{100 * r['agreement']:.1f} % | {r['klm_human_s']} | "
                     f"{r['scripted_wall_s']} |")
    lines.append("")
    (out / "label_assist.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
