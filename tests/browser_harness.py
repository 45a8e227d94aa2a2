"""A real JupyterLab driven by Playwright in Debian's chromium, for widget tests and benches.

Starts ``jupyter lab`` on a free loopback port in a given directory (its own config and
runtime dirs, a random token, the app exposed as ``window.jupyterapp``), opens a notebook in
headless chromium, and offers the few operations the tests need: run all cells, run one more
cell and read its output.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("EMLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--enable-precise-memory-info",
                 "--autoplay-policy=no-user-gesture-required"]


def require() -> None:
    """Skip the calling test when chromium or Playwright is missing here, but fail under CI,
    where .ci/run installs them (a browser test must not pass by being skipped there)."""
    import pytest
    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {why}")
        pytest.skip(why)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium; .ci/run does)"
    for module in ("playwright", "jupyterlab", "anywidget"):
        try:
            __import__(module)
        except ImportError:
            return f"python package {module} not installed (pip install -e '.[test]')"
    return None


def write_notebook(path: Path, cells: list) -> Path:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                     "metadata": {}, "outputs": [], "source": src}
                    for i, src in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path, timeout_s: float = 60.0):
    """Yield the base URL (with token) of a JupyterLab serving ``root``."""
    port, token = _free_port(), secrets.token_hex(16)
    home = root / ".jupyter-home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(
                   home / "workspaces"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               KERAS_BACKEND="jax", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", f"--ServerApp.token={token}", "--ServerApp.password=",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           "--ServerApp.disable_check_xsrf=True", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    # No news / update checks: the machine is offline and their pop-ups cover the page.
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError("jupyter lab exited:\n" + (home / "server.log").read_text())
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not start in time:\n" +
                                       (home / "server.log").read_text()) from None
                time.sleep(0.3)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def browser(viewport=(1280, 1000)):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=CHROMIUM_ARGS)
        try:
            page = b.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            b.close()


@contextlib.contextmanager
def run_notebook(root: Path, name: str, ready_js: str, timeout_s: float = 60.0):
    """JupyterLab serving ``root`` with notebook ``name`` open and run in chromium, once
    ``ready_js`` (a JS expression) holds, e.g. its widgets have drawn. Yields (page, nb)."""
    with jupyter_lab(root) as (base, token), browser() as page:
        nb = Notebook(page, base, token, name)
        nb.run_all()
        page.wait_for_function(f"() => {ready_js}", timeout=timeout_s * 1000)
        yield page, nb


class Notebook:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page, base: str, token: str, name: str):
        self.page = page
        self.base_token = (base, token)
        page.goto(f"{base}/lab/tree/{name}?token={token}&reset")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell && "
                               "window.jupyterapp.shell.currentWidget && "
                               "window.jupyterapp.shell.currentWidget.sessionContext",
                               timeout=60_000)
        page.wait_for_function("() => { const s = window.jupyterapp.shell.currentWidget"
                               ".sessionContext; return s.session && s.session.kernel && "
                               "s.session.kernel.connectionStatus === 'connected' && "
                               "s.session.kernel.status === 'idle'; }", timeout=90_000)

    def run_all(self, timeout_s: float = 120.0) -> None:
        self.page.evaluate("() => window.jupyterapp.commands.execute("
                           "'notebook:run-all-cells')")
        self.wait_idle(timeout_s)

    def wait_idle(self, timeout_s: float = 120.0) -> None:
        self.page.wait_for_timeout(300)
        self.page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            ".status === 'idle' && ![...document.querySelectorAll('.jp-InputPrompt')]"
            ".some((p) => p.textContent.includes('*'))", timeout=timeout_s * 1000)

    def run_code(self, code: str, timeout_s: float = 60.0) -> str:
        """Execute code in the notebook's kernel (not as a cell); return its stdout."""
        return self.page.evaluate(
            """async (code) => {
                const kernel = window.jupyterapp.shell.currentWidget.sessionContext
                    .session.kernel;
                const future = kernel.requestExecute({ code, store_history: false });
                let out = "";
                future.onIOPub = (msg) => {
                    if (msg.header.msg_type === "stream") out += msg.content.text;
                    if (msg.header.msg_type === "error") out += "ERROR " +
                        msg.content.ename + ": " + msg.content.evalue;
                };
                await future.done;
                return out;
            }""", code)
