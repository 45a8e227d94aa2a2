"""Deploy through the browser's Web Serial port (eml.connect_browser) with network latency
between the page and the kernel, as on Binder: seconds per deploy, round trips, bytes on the
link, against mpremote's own protocol over the same link and against the board plugged into
the kernel's machine.

    python3 bench/bench_webserial.py                           # 0 and 50 ms one way
    python3 bench/bench_webserial.py --one-way-ms 50 --modes page

A real JupyterLab in headless chromium; the page's Web Serial port is the stand-in of
tests/webserial_standin.py, a WebSocket to the virtual device's pty; a TCP proxy between
chromium and the Jupyter server delays every chunk by the given one-way latency (round trip
= 2x). Each run deploys the same forest (runtime .mpy files + model + verification rows, every
file sent: the device's files are removed before each run) and verifies it on the device.
Modes: "page" (this project: the page runs the raw-paste exchange, files in 4 kB base64
commands) and "mpremote" (mpremote's SerialTransport unchanged over the same link: one round
trip per flow-control window, files as repr() in 1 kB commands). "direct" is the same deploy
on the virtual device's pty from this process, no browser. Wall-clock seconds, measured in
the kernel around dev.deploy. Writes bench/results/webserial.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import browser_harness as bh  # noqa: E402
import webserial_standin as ws  # noqa: E402

MODEL = ("from sklearn import datasets\n"
         "from sklearn.ensemble import RandomForestClassifier\n"
         "X, y = datasets.load_digits(return_X_y=True)\n"
         "forest = RandomForestClassifier(n_estimators={trees}, max_leaf_nodes=60, "
         "random_state=1).fit(X[:1200], y[:1200])\n"
         "rows = X[1200:1200 + {rows}]\n")
# One deploy, timed in the kernel; prints one JSON line.
DEPLOY = ("import json, time\n"
          "from emlearn_lab.device.webserial.link import get_link\n"
          "from emlearn_lab.device.webserial.transport import BrowserTransport\n"
          "from mpremote.transport_serial import SerialTransport\n"
          "_names = ('exec_raw_no_follow', 'fs_writefile', 'fs_readfile', 'writes_then')\n"
          "_own = [BrowserTransport.__dict__[n] for n in _names]\n"
          "if {mpremote}:\n"
          "    for n in _names:\n"
          "        setattr(BrowserTransport, n, getattr(SerialTransport, n, False))\n"
          "try:\n"
          "    dev.remove_quietly([n for n, _ in dev.listdir()])\n"
          "    link = get_link('board')\n"
          "    r0, w0, b0 = link.requests, link.writes, link.bytes_out + link.bytes_in\n"
          "    t0 = time.perf_counter()\n"
          "    report = dev.deploy(forest, rows, form='loadable', repeats=5)\n"
          "    s = time.perf_counter() - t0\n"
          "finally:\n"
          "    for n, f in zip(_names, _own):\n"
          "        setattr(BrowserTransport, n, f)\n"
          "print(json.dumps({{'seconds': s, 'agreement': report.agreement,\n"
          "    'file_bytes': sum(n for _, n, sent in report.files if sent),\n"
          "    'requests': link.requests - r0, 'writes': link.writes - w0,\n"
          "    'link_bytes': link.bytes_out + link.bytes_in - b0}}))\n")


def direct(trees: int, rows: int) -> dict:
    """The same deploy on the virtual device's pty from this process (no browser)."""
    import emlearn_lab as eml
    scope: dict = {}
    exec(MODEL.format(trees=trees, rows=rows), scope)
    with eml.connect("virtual") as dev:
        t0 = time.perf_counter()
        report = dev.deploy(scope["forest"], scope["rows"], form="loadable", repeats=5)
        seconds = time.perf_counter() - t0
    return {"mode": "direct", "one_way_ms": 0, "seconds": seconds,
            "agreement": report.agreement,
            "file_bytes": sum(n for _, n, sent in report.files if sent)}


def through_page(root: Path, one_way_ms_list, modes, trees: int, rows: int) -> list:
    from emlearn_lab.device.virtual import VirtualDevice
    bh.write_notebook(root / "bench.ipynb", [
        "import emlearn_lab as eml\ndev = eml.connect_browser()\n"
        + MODEL.format(trees=trees, rows=rows)])
    out = []
    vdev = VirtualDevice()
    try:
        with ws.PtyBridge(vdev.port) as bridge, bh.jupyter_lab(root) as (base, token):
            lab_port = int(base.rsplit(":", 1)[1])
            for one_way_ms in one_way_ms_list:
                with ws.LatencyProxy(lab_port, one_way_ms) as proxy, bh.browser() as page:
                    page.add_init_script(script=ws.fake_serial_js(bridge.url))
                    nb = bh.Notebook(page, f"http://127.0.0.1:{proxy.port}", token,
                                     "bench.ipynb")
                    page.evaluate("() => { window.jupyterapp.commands.execute("
                                  "'notebook:run-all-cells'); }")
                    page.locator(".emlab-serial-connect").click(timeout=120_000)
                    nb.wait_idle(timeout_s=300)
                    for mode in modes:
                        text = nb.run_code(DEPLOY.format(mpremote=mode == "mpremote"),
                                           timeout_s=1800)
                        try:
                            entry = json.loads(text.strip().splitlines()[-1])
                        except (ValueError, IndexError):
                            raise RuntimeError(f"{mode} at {one_way_ms} ms: {text}") from None
                        entry.update(mode=mode, one_way_ms=one_way_ms)
                        print(f"{mode:>8} {one_way_ms:>4} ms one way: {entry['seconds']:7.2f} s, "
                              f"{entry['requests']} requests, {entry['writes']} writes, "
                              "agreement "
                              f"{entry['agreement']}", flush=True)
                        out.append(entry)
                    nb.run_code("dev.close()")
    finally:
        vdev.close()
    return out


def table(results: dict) -> str:
    lines = ["| mode | one-way latency | round trip | deploy s | paste requests | write messages "
             "| bytes on the link | file bytes | agreement |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in results["runs"]:
        lines.append(f"| {e['mode']} | {e['one_way_ms']} ms | {2 * e['one_way_ms']} ms "
                     f"| {e['seconds']:.2f} | {e.get('requests', '–')} | {e.get('writes', '–')} "
                     f"| {e.get('link_bytes', '–')} | {e['file_bytes']} "
                     f"| {e['agreement']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--one-way-ms", type=float, nargs="+", default=[0, 50])
    ap.add_argument("--modes", nargs="+", default=["page", "mpremote"],
                    choices=["page", "mpremote"])
    ap.add_argument("--trees", type=int, default=4)
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    why = bh.missing()
    if why:
        print(f"cannot run: {why}")
        return 1
    import tempfile
    runs = [direct(args.trees, args.rows)]
    with tempfile.TemporaryDirectory() as tmp:
        runs += through_page(Path(tmp), args.one_way_ms, args.modes, args.trees, args.rows)
    results = {"host": platform.platform(), "python": sys.version.split()[0],
               "model": f"digits RandomForest {args.trees} trees x 60 leaves, loadable, "
                        f"{args.rows} verification rows", "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "webserial.json").write_text(json.dumps(results, indent=1))
    (args.out / "webserial.md").write_text(
        f"# Deploy through the page's Web Serial port\n\n{results['model']}; virtual device "
        f"behind the stand-in port; {results['host']}.\n\n" + table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
