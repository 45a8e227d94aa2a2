"""eml.connect_browser in a real JupyterLab, in headless Debian chromium: the page's Web Serial
port (a stand-in bridged over a WebSocket to the virtual device's pty, tests/webserial_standin)
carries a deploy that verifies exactly, the page's messages are handled in a kernel subshell
thread, an unplug raises DeviceDisconnectedError and a replug answers again, and a front end
without comms over subshells gets the clear error instead of a hang."""
import json

import browser_harness as bh
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = ("import emlearn_lab as eml\n"
         "from emlearn_lab.device.webserial.link import get_link\n"
         "dev = eml.connect_browser()\n"
         "print('CONNECTED', dev)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    bh.require()
    import webserial_standin as ws
    from emlearn_lab.device.virtual import VirtualDevice
    root = tmp_path_factory.mktemp("lab")
    bh.write_notebook(root / "board.ipynb", [SETUP])
    bh.write_notebook(root / "other.ipynb", ["import emlearn_lab as eml"])
    vdev = VirtualDevice()
    try:
        with ws.PtyBridge(vdev.port) as bridge, bh.jupyter_lab(root) as (base, token), \
                bh.browser() as page:
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.add_init_script(script=ws.fake_serial_js(bridge.url))
            nb = bh.Notebook(page, base, token, "board.ipynb")
            # The cell blocks until the board is connected: start it, then click.
            page.evaluate("() => { window.jupyterapp.commands.execute("
                          "'notebook:run-all-cells'); }")     # not awaited: it blocks
            button = page.locator(".emlab-serial-connect")
            button.wait_for(timeout=120_000)
            page.wait_for_function("() => window.__serialStandin.requestPortCalls === 0")
            button.click()
            nb.wait_idle(timeout_s=120)
            yield page, nb, bridge, errors
    finally:
        vdev.close()


def outputs(page) -> str:
    return page.locator(".jp-OutputArea-output").all_inner_texts().__str__()


def test_connects_through_the_page_and_deploys_exactly(lab):
    page, nb, bridge, errors = lab
    assert "CONNECTED Device(browser, port='webserial://board', connected)" in outputs(page)
    out = nb.run_code(
        "from sklearn import datasets\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "X, y = datasets.load_digits(return_X_y=True)\n"
        "forest = RandomForestClassifier(n_estimators=5, max_leaf_nodes=40, "
        "random_state=0).fit(X[:1200], y[:1200])\n"
        "report = dev.deploy(forest, X[1200:1300], form='loadable')\n"
        "import json\n"
        "print(json.dumps({'agreement': report.agreement, 'rows': report.n_rows,\n"
        "    'sent': sum(n for _, n, s in report.files if s),\n"
        "    'same': bool((dev.predict(X[1300:1340]) == eml.convert(forest)"
        ".predict(X[1300:1340])).all())}))", timeout_s=300)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["agreement"] == 1.0 and result["rows"] == 100 and result["same"], out
    assert result["sent"] > 10_000
    assert bridge.bytes_to_device > result["sent"]       # it all went through the page
    assert not errors


def test_records_and_streams_through_the_page(lab):
    """dev.record (a paced stream, exec_streaming) and the live comparison (a background
    thread of the kernel sharing the Device) run unchanged over the page's port."""
    page, nb, bridge, errors = lab
    out = nb.run_code(
        "import numpy as np\n"
        "rec = eml.Recording(np.arange(600, dtype=np.int16).reshape(200, 3), 100.0)\n"
        "dev.playback(rec)\n"
        "got = dev.record(1.5)\n"
        "print('RECORD', got.data.shape, bool((got.data == np.resize(rec.data, (150, 3))).all()))\n"
        "from emlearn_lab.live import LiveComparison\n"
        "cmp = LiveComparison(dev, {'forest': forest}, X[1300:1400], batch=10)\n"
        "cmp.start(); print('STATE', cmp.wait(240))\n"
        "print('LIVE', cmp.summary())\n", timeout_s=300)
    assert "RECORD (150, 3) True" in out, out
    assert "STATE done" in out and "LIVE" in out and "100.0%" in out, out


def test_installs_an_app_through_the_page(lab):
    """dev.install and dev.check_app: the standalone app, installed through the page, does on
    the device what app.simulate does."""
    page, nb, bridge, errors = lab
    out = nb.run_code(
        "from sklearn.pipeline import make_pipeline\n"
        "motions = eml.datasets.load_sample('basic_motions')\n"
        "labels = eml.LabelSet.load(eml.datasets.sample_labels_path('basic_motions'), "
        "recording=motions)\n"
        "w = eml.windows(motions, labels, window_s=2.0, hop_s=0.5)\n"
        "pipe = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2], magnitude=True),\n"
        "    RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0)).fit(w.X, w.y)\n"
        "app = eml.DeviceApp(pipe, eml.sensors.Playback(realtime=False), window_s=2.0, "
        "hop_s=0.5)\n"
        "dev.playback(motions)\n"
        "dev.install(app)\n"
        "print('APP', dev.check_app(app, motions).identical)\n", timeout_s=600)
    assert "APP True" in out, out


def test_page_messages_are_handled_in_a_subshell_thread(lab):
    page, nb, bridge, errors = lab
    threads = json.loads(nb.run_code(
        "import json; print(json.dumps({k: sorted(v) for k, v in "
        "get_link('board').handler_threads.items()}))"))
    # What the page sent while cells waited on the board: the port opening, the board's
    # bytes, the replies to pastes. (A ping sent before the widget's subshell existed may
    # reach the main thread after the cell: that is why connect_browser pings again.)
    for kind in ("opened", "data", "reply:paste"):
        assert threads[kind] and all(n.startswith("subshell-") for n in threads[kind]), threads


def test_unplug_raises_disconnected_and_replug_answers(lab):
    page, nb, bridge, errors = lab
    # A program that runs for 5 s: the unplug comes while the cell waits on it. (Not longer:
    # the virtual device takes SIGINT, not the Ctrl-C byte, so the reconnect below waits for
    # it to end; a board would be interrupted.)
    page.evaluate("""() => { const k = window.jupyterapp.shell.currentWidget.sessionContext
        .session.kernel;
        window.__unplugRun = new Promise((resolve) => {
          let out = "";
          const f = k.requestExecute({ code:
            "try:\\n    dev.exec('import time\\\\ntime.sleep(5)', timeout_s=120)\\n" +
            "except eml.DeviceDisconnectedError as e:\\n    print('DISCONNECTED', e)\\n",
            store_history: false });
          f.onIOPub = (m) => { if (m.header.msg_type === 'stream') out += m.content.text;
                               if (m.header.msg_type === 'error') out += m.content.evalue; };
          f.done.then(() => resolve(out));
        }); }""")
    sent = bridge.bytes_to_device
    page.wait_for_function("() => window.__serialStandin.bytesOut > 0")
    import time
    deadline = time.monotonic() + 120
    while bridge.bytes_to_device <= sent and time.monotonic() < deadline:
        time.sleep(0.05)                      # the program has reached the board
    bridge.unplug()
    out = page.evaluate("() => window.__unplugRun")
    assert out.startswith("DISCONNECTED") and "webserial://board" in out, out
    page.wait_for_selector(".emlab-serial[data-state='lost']")
    # Plug it back in, click again: the same Device answers (the sleep is interrupted).
    bridge.replug()
    page.evaluate("() => window.__serialStandin.connect()")   # the computer sees it again
    page.locator(".emlab-serial-connect").click()
    page.wait_for_selector(".emlab-serial[data-state='open']")
    assert nb.run_code("print(dev.eval('6 * 7'))", timeout_s=120).strip() == "42"
    # "Connect another board", and the same board picked: it stays open, nothing is lost.
    page.locator(".emlab-serial-connect").click()
    page.wait_for_function("() => window.__serialStandin.requestPortCalls >= 3")
    assert page.locator(".emlab-serial").get_attribute("data-state") == "open", \
        page.locator(".emlab-serial-status").text_content()
    assert nb.run_code("print(dev.eval('6 * 7'))", timeout_s=120).strip() == "42"


def test_the_magic_takes_over_the_open_port(lab):
    """%emlearn_device browser in the same page: the port already open is reused (no second
    click), and the Device connected before says so at once instead of waiting."""
    page, nb, bridge, errors = lab
    out = nb.run_code(
        "%load_ext emlearn_lab\n"
        "board = %emlearn_device browser\n"
        "print('MAGIC', board, board.eval('2 + 3'))\n"
        "try:\n    dev.eval('1')\n"
        "except eml.DeviceDisconnectedError as e:\n    print('OLD', e)\n"
        "dev = board\n", timeout_s=120)
    assert "MAGIC Device(browser, port='webserial://board', connected) 5" in out, out
    assert "OLD" in out and "newer eml.connect_browser" in out, out


def test_a_browser_without_web_serial_says_which_to_use(lab):
    page, nb, bridge, errors = lab
    other = page.context.browser.new_page()
    # As Firefox and Safari: no navigator.serial at all (chromium has one on 127.0.0.1).
    other.add_init_script(script="Object.defineProperty(Navigator.prototype, 'serial', "
                                 "{get: () => undefined, configurable: true});")
    try:
        nb2 = bh.Notebook(other, *nb.base_token, "other.ipynb")   # its own kernel
        out = nb2.run_code(
            "import emlearn_lab as eml\n"
            "try:\n    eml.connect_browser(name='nowebserial')\n"
            "except eml.BrowserLinkError as e:\n    print('REFUSED', e)\n", timeout_s=120)
    finally:
        other.close()
    assert out.startswith("REFUSED") and "Chrome, Edge or Opera" in out, out


def test_without_comms_over_subshells_the_error_is_clear(lab):
    page, nb, bridge, errors = lab
    page.evaluate("() => { window.jupyterapp.serviceManager.kernels.commsOverSubshells = "
                  "'disabled'; }")
    try:
        out = nb.run_code(
            "try:\n    eml.connect_browser(name='nosubshell')\n"
            "except eml.BrowserLinkError as e:\n    print('REFUSED', e)\n", timeout_s=120)
    finally:
        page.evaluate("() => { window.jupyterapp.serviceManager.kernels.commsOverSubshells = "
                      "'perCommTarget'; }")
    assert out.startswith("REFUSED") and "Kernel Comms over subshells" in out, out
