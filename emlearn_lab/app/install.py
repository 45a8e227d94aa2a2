"""Install a DeviceApp on a board, run it, remove it: ``dev.install``, ``dev.app_output``,
``dev.uninstall``.

An install is atomic. The new app's model goes under the deploy name the installed app does
not use (``<name>_a`` / ``<name>_b``), its configuration is loaded on the board in a trial
(model, features, sensor, post-processing) from a side file, and only then does the
configuration that ``main.py`` starts replace the old one (a rename). If anything before that
fails, the old app's files are untouched and it keeps running at the next boot.
"""
from __future__ import annotations

import ast
import json
import struct

import numpy as np

from ..device.record import PLAYBACK_PATH
from ..device.session import forget
from ..device_src import emlab_sensor as _playback_format
from ..device_src.emlab_app import CONFIG
from ..exceptions import DeviceError, DeviceRuntimeError, InputError
from ..runtime.artifacts import module_artifact
from .device_app import DeviceApp
from .output import AppOutput, parse_output

__all__ = ["install", "uninstall", "app_output", "installed_config", "MAIN_PY"]

TRIAL = CONFIG + ".new"
MARK = "# emlearn_lab app launcher"
MAIN_PY = (MARK + "\n"
           "# Starts the app dev.install wrote (emlab_app.json). To keep it from starting,\n"
           "# create emlab_app.off, or hold the app's safe-boot pin low at reset.\n"
           "import emlab_app\n"
           "emlab_app.main()\n")
_RUNTIME = ("emlab_sensor", "emlab_post", "emlab_app")
# Ports whose boot does not run main.py: the unix port (the virtual device) and qemu (the
# emulated boards). There the host starts the installed app (app_output) as boot would.
NO_BOOT_MAIN = ("linux", "darwin", "windows", "qemu")


def installed_config(dev, strict: bool = False) -> dict | None:
    """The installed app's configuration, None when there is none (or, unless ``strict``,
    when it is not valid JSON: DeviceError then)."""
    if CONFIG not in _names(dev):
        return None
    try:
        cfg = json.loads(dev.read_file(CONFIG))
        if not isinstance(cfg, dict):
            raise ValueError("not a JSON object")
        return cfg
    except ValueError as e:
        if strict:
            raise DeviceError(f"the app configuration {CONFIG} on the board is not valid JSON "
                              f"({e}): install the app again") from None
        return None


def _playback_rate(dev, path: str) -> float | None:
    try:
        dev.exec(f"with open({path!r}, 'rb') as _f:\n _emlab_head = _f.read(20)",
                 what="reading the playback file")
        head = dev.eval("_emlab_head", what="reading the playback file")
    except DeviceRuntimeError:
        return None
    if len(head) < 20 or head[:4] != _playback_format.MAGIC:
        return None
    return struct.unpack("<d", head[12:20])[0]


def _load_spec(load_call: str) -> dict:
    """modules, loader, args of the load call deploy recorded (literals, built with repr)."""
    call = ast.parse(load_call, mode="eval").body
    modules, loader, args = (ast.literal_eval(a) for a in call.args[:3])
    return {"modules": list(modules), "loader": loader, "args": list(args)}


def _names(dev) -> set:
    return {name for name, _ in dev.listdir()}


def _remove_generation(dev, cfg: dict | None) -> None:
    if cfg and isinstance(cfg.get("files"), list):
        dev.remove_quietly([p for p in cfg["files"] if isinstance(p, str)])


def _timing_windows(app: DeviceApp, X):
    """Windows to verify and time the pipeline on: X (windows, or a Recording whose first
    32 windows are taken), else 8 windows of zeros."""
    from ..recordings.recording import Recording
    if isinstance(X, Recording):
        return app.windows_of(X)[0][:32]
    if X is not None:
        return X
    e = app.extractors[0]
    return np.zeros((8, e.n_samples_, e.n_channels_), dtype=e.input_dtype_)


def _check_keeps_up(app, report, hop_s: float) -> None:
    """InputError when the worst timed window takes longer than a hop: the app would fall
    behind its sensor."""
    worst_us = report.us_per_predict_max
    if worst_us is None or worst_us <= hop_s * 1e6:
        return
    unit = (f" ({report.instructions(worst_us):.0f} instructions)"
            if report.instructions_per_us else "")
    raise InputError(f"the app cannot keep up on this board: a window takes up to "
                     f"{worst_us:.0f} µs{unit} of features and model, and a new one comes "
                     f"every {hop_s * 1e6:.0f} µs (hop_s={app.hop_s:g}). Use a longer hop_s, "
                     "fewer trees or extractors, or a faster board; nothing was installed")


def _try_on_board(dev, app, report, gen: str, files: list, sizes: tuple, spec: list,
                  actions: list, path: str) -> tuple:
    """Check the new generation can keep up, push the app runtime, write its configuration
    to the side file and load it there as main() would: (RAM the loaded app holds, config)."""
    n, hop, rate = sizes
    forget(dev, gen)              # the trial loads its own copy: free the heap it holds
    _check_keeps_up(app, report, hop / rate)
    notes: list = []
    for m in dict.fromkeys(_RUNTIME + tuple(getattr(app.sensor, "modules", ()))):
        art = module_artifact(m, dev.target, False, notes)
        if dev.write_file(art.path, art.data):
            dev.exec(f"import sys\nsys.modules.pop({m!r}, None)")
    cfg = {"format": "emlab_app", "version": 1, "generation": gen, "files": files,
           "model": _load_spec(dev.deployments[gen].load_call), "features": gen + ".fx",
           "classifier": int(app.model.kind == "classifier"), "labels": list(app.labels),
           "window": n, "hop": hop, "samplerate_hz": float(rate),
           "sensor": {"expr": app.sensor.device_expr(), "path": path},
           "post": spec, "actions": actions, "safe_pin": app.safe_pin,
           # the worst timed window, which sizes the host's waits in app_output
           "us_per_window": float(report.us_per_predict_max or 0.0)}
    dev.write_file(TRIAL, json.dumps(cfg).encode(), skip_unchanged=False)
    try:
        ram = dev.eval(f"__import__('emlab_app').check({TRIAL!r})",
                       what="trying the new app on the board")
    finally:
        dev.exec("import gc\ngc.collect()")
    return ram, cfg


def install(dev, app: DeviceApp, X=None, *, autostart: bool = True) -> dict:
    """Install ``app`` on the board: its model and extractors (deployed as ``dev.deploy``
    does, verified and timed on windows ``X``: windows, a Recording (its first 32 windows) or
    None (8 windows of zeros)), the app runtime, its configuration, and with ``autostart`` a
    ``main.py`` that starts it at boot. An app whose worst timed window takes longer than a
    hop is refused: it would fall behind its sensor.

    Returns a summary: the deploy report, the RAM the loaded app holds, whether this port
    runs main.py at boot.

    Raises
    ------
    InputError
        Before anything is sent: not a DeviceApp, an unknown sample rate, a window the
        extractors do not take, a main.py on the board that is not the app launcher; after
        timing, an app that cannot keep up with its sensor (its files are removed again).
    DeviceError
        Putting the new app on the board or its trial load failed (the message has the
        board's reason); the installed app, if any, is unchanged and its files are kept.
    """
    if not isinstance(app, DeviceApp):
        raise InputError(f"dev.install takes an eml.DeviceApp, got {type(app).__name__}: "
                         "wrap the pipeline with eml.DeviceApp(pipe, window_s=..., ...)")
    sensor = app.sensor
    if getattr(sensor, "recording", None) is not None:       # Playback.of(recording)
        dev.playback(sensor.recording)
    path = getattr(sensor, "path", PLAYBACK_PATH)
    rate = app.rate_hz(_playback_rate(dev, path) if sensor.samplerate_hz is None else None)
    n, hop = app.samples(rate)
    spec = app.post_spec(hop / rate)
    actions = app.on_event.spec(app.labels)
    if autostart and "main.py" in _names(dev):
        head = dev.read_file("main.py")[:len(MARK)]
        if head != MARK.encode():
            raise InputError("the board has a main.py that is not the app launcher: rename "
                             "or remove it (dev.remove('main.py')), or install with "
                             "autostart=False")
    W = _timing_windows(app, X)
    old = installed_config(dev)
    gen = app.name + ("_b" if old and old.get("generation") == app.name + "_a" else "_a")
    ours = (gen + ".", gen + "_")
    keep = set(old.get("files") or ()) if old else set()

    def clean_up(files) -> None:
        # nothing of the new generation stays behind; the installed app's files are kept.
        # A lost link cannot clean up: the next install replaces the leftovers.
        try:
            dev.remove_quietly([TRIAL] + [p for p in files if p not in keep])
        except DeviceError:
            pass

    try:
        report = dev.deploy(app.pipe, W, name=gen)
    except Exception:
        clean_up([p for p, _ in dev.listdir() if p.startswith(ours)])
        raise
    files = sorted(p for p, *_ in report.files if p.startswith(ours))
    try:
        ram, cfg = _try_on_board(dev, app, report, gen, files, (n, hop, rate), spec, actions,
                                 path)
    except DeviceError as e:
        clean_up(files)
        kept = "the installed app is unchanged" if old else "nothing was installed"
        raise type(e)(f"the new app was not installed, {kept}: {e}") from None
    except Exception:
        clean_up(files)
        raise
    dev.write_file(CONFIG, json.dumps(cfg).encode(), skip_unchanged=False)
    dev.remove_quietly([TRIAL])
    if autostart:
        dev.write_file("main.py", MAIN_PY.encode())
    if old and old.get("generation") != gen:
        _remove_generation(dev, old)
    boots = dev.info["platform"] not in NO_BOOT_MAIN
    return {"report": report, "app_ram_bytes": ram, "window_samples": n, "hop_samples": hop,
            "starts_at_boot": autostart and boots, "config": cfg}


def uninstall(dev) -> bool:
    """Remove the installed app: main.py (when it is the app launcher), its configuration and
    its model's files. Returns False when no app was installed."""
    cfg = installed_config(dev)
    names = _names(dev)
    removed = False
    if "main.py" in names and dev.read_file("main.py")[:len(MARK)] == MARK.encode():
        dev.remove("main.py")
        removed = True
    if cfg is not None:
        _remove_generation(dev, cfg)
        removed = True
    dev.remove_quietly([CONFIG, TRIAL])
    return removed


def app_output(dev, seconds: float | None = None, *, windows: int | None = None,
               realtime: bool | None = None) -> AppOutput:
    """Run the installed app as the board starts it at boot (``emlab_app.main``), for
    ``seconds`` of signal or ``windows`` windows, and return what it printed: its events,
    windows, busy time and the RAM it held.

    On a board that runs main.py at boot the app is already running: this stops it (Ctrl-C)
    and runs it again for the given length; reset the board to leave it running on its own.
    ``realtime=False`` lets a playback sensor deliver samples as fast as it reads them."""
    cfg = installed_config(dev, strict=True)
    if cfg is None:
        raise InputError("no app is installed on the board: dev.install(app) first")
    if windows is None:
        if seconds is None:
            raise InputError("app_output needs seconds= (of signal) or windows=")
        if not seconds > 0:
            raise InputError(f"seconds must be positive, got {seconds!r}")
        windows = max(1, int(seconds * cfg["samplerate_hz"] / cfg["hop"]))
    lines: list = []
    buf = bytearray()

    def consume(b: bytes) -> None:
        if b == b"\n":
            lines.append(buf.decode("utf-8", "replace").rstrip("\r"))
            buf.clear()
        elif b != b"\x04":
            buf.extend(b)

    hop_s = cfg["hop"] / cfg["samplerate_hz"]
    paced = realtime is not False
    # a window's device time, with room for reading the sensor and a loaded host
    per_window_s = 3 * float(cfg.get("us_per_window") or 0.0) / 1e6 + 0.005
    dev.exec_streaming(
        f"import sys\nfor _m in {_RUNTIME!r}:\n sys.modules.pop(_m, None)\n"
        f"__import__('emlab_app').main(max_windows={int(windows)}, realtime={realtime!r})",
        consume, runs_for_s=windows * hop_s if paced else None,
        # the app prints only its events: silence may last the whole run
        idle_timeout_s=20.0 + windows * max(hop_s if paced else 0.0, per_window_s),
        what="running the app")
    return parse_output(lines, cfg)
