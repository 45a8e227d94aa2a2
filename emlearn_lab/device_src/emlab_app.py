# The installed application: sensor -> sliding windows -> feature extractors -> model ->
# post-processing (emlab_post) -> actions, run by main.py at boot with no host attached.
# dev.install writes its configuration (emlab_app.json, JSON) after a trial load of the new
# one; DeviceApp.simulate on the host runs the same extractors, model arithmetic and
# emlab_post over a recording, so the events printed here are the ones it predicted.
#
# Output lines (the host parses them; see emlearn_lab/app/output.py):
#   emlab_app ready <ram_bytes> <window_samples> <hop_samples>
#   emlab_app on <first_window> <label>
#   emlab_app off <first_window> <end_window> <label>
#   emlab_app done <windows> <busy_us> <alloc_bytes>
# busy_us: time spent on windows (moving the samples, features, model, post-processing,
# actions), not waiting for the sensor; alloc_bytes: heap allocated over the windows.
import gc
import os
import time

CONFIG = "emlab_app.json"
OFF_FILE = "emlab_app.off"
FORMAT = "emlab_app"
VERSION = 1
PREFIX = "emlab_app"


def _need(cfg, key, kind):
    v = cfg.get(key) if isinstance(cfg, dict) else None
    if not isinstance(v, kind) or isinstance(v, bool):
        raise ValueError("app config: %r must be a %s" % (key, kind.__name__))
    return v


def read_config(path=CONFIG):
    import json
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError:
        raise OSError("no app config %r on the device: dev.install(app) writes it" % path)
    except ValueError as e:
        raise ValueError("app config %r is not valid JSON (%s): install the app again"
                         % (path, e))
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ValueError("%r is not an emlab_app config" % path)
    if cfg.get("version") != VERSION:
        raise ValueError("app config %r has version %r; this runtime reads %d: install the "
                         "app again" % (path, cfg.get("version"), VERSION))
    return cfg


class _Actions:
    """What happens on an event: print it, append it to a log file, drive a pin."""

    def __init__(self, specs, labels):
        self.labels = labels
        self.print = False
        self.log = None
        self.log_max = 0
        self.pins = []
        for a in specs:
            if not isinstance(a, list) or not a:
                raise ValueError("app config: bad action %r" % (a,))
            if a[0] == "print":
                self.print = True
            elif a[0] == "log" and len(a) == 3 and isinstance(a[1], str):
                self.log = a[1]
                self.log_max = a[2]
            elif a[0] == "pin" and len(a) == 3:
                import machine
                pin = machine.Pin(a[1], machine.Pin.OUT)
                pin.value(0)
                self.pins.append((pin, a[2]))
            else:
                raise ValueError("app config: unknown action %r" % (a,))

    def _emit(self, line):
        if self.print:
            print(line)
        if self.log is not None:
            try:
                if os.stat(self.log)[6] + len(line) + 1 > self.log_max:
                    try:
                        os.remove(self.log + ".old")
                    except OSError:
                        pass
                    os.rename(self.log, self.log + ".old")
            except OSError:
                pass
            with open(self.log, "a") as f:
                f.write(line + "\n")

    def on(self, start, cls):
        for pin, want in self.pins:
            if want < 0 or want == cls:
                pin.value(1)
        self._emit("%s on %d %s" % (PREFIX, start, self.labels[cls]))

    def off(self, start, end, cls):
        for pin, want in self.pins:
            if want < 0 or want == cls:
                pin.value(0)
        self._emit("%s off %d %d %s" % (PREFIX, start, end, self.labels[cls]))


class App:
    """Everything the configuration names, loaded and checked; run() streams windows."""

    def __init__(self, cfg):
        import emlab_post
        import emlab_sensor
        import emlfx
        model_cfg = _need(cfg, "model", dict)
        mod = __import__(_need(model_cfg, "modules", list)[-1])
        self.model = getattr(mod, _need(model_cfg, "loader", str))(
            *_need(model_cfg, "args", list))
        fx = emlfx.load(_need(cfg, "features", str))
        self.pipe = emlfx.Pipeline(fx, self.model)
        self.classifier = _need(cfg, "classifier", int)
        self.n = _need(cfg, "window", int)
        self.hop = _need(cfg, "hop", int)
        if not 1 <= self.hop <= self.n or self.n != fx.n_samples:
            raise ValueError("app config: window %d / hop %d samples, the features take %d"
                             % (self.n, self.hop, fx.n_samples))
        sensor_cfg = _need(cfg, "sensor", dict)
        expr = sensor_cfg.get("expr")
        self.sensor = emlab_sensor.open_sensor(expr, _need(sensor_cfg, "path", str))
        s = self.sensor
        rate = _need(cfg, "samplerate_hz", float)
        if (s.typecode != fx.dtype or len(s.channels) != fx.n_channels
                or abs(s.samplerate_hz - rate) > 1e-6 * rate):
            got = (s.typecode, len(s.channels), s.samplerate_hz)
            want = (fx.dtype, fx.n_channels, rate)
            emlab_sensor.close(s)
            raise ValueError("the sensor gives %r samples x %d channels at %r Hz; the app was "
                             "built for %r x %d at %r Hz" % (got + want))
        labels = _need(cfg, "labels", list)
        n_classes = len(labels) if self.classifier else 0
        self.actions = _Actions(_need(cfg, "actions", list), labels)
        floats = isinstance(self.model.scores(self.pipe.row)[0], float)
        self.post = emlab_post.Post(_need(cfg, "post", list), self.model.n_outputs, floats,
                                    self.actions.on, self.actions.off, n_classes)
        self.window = fx.window()

    def close(self):
        import emlab_sensor
        emlab_sensor.close(self.sensor)

    def run(self, max_windows=-1):
        """Windows until max_windows (-1: until stopped). Prints the done line."""
        w = self.window
        nch = len(self.sensor.channels)
        mv = memoryview(w)
        keep = (self.n - self.hop) * nch
        head = mv[:keep]
        moved = mv[self.hop * nch:]
        tail = mv[keep:]
        pipe = self.pipe
        scores = self.model.scores
        row = pipe.row
        push = self.post.push
        need = self.post.needs_scores       # a new scores array per call feeds the GC
        read_into = self.sensor.read_into
        classifier = self.classifier
        ticks_us = time.ticks_us
        ticks_diff = time.ticks_diff
        ticks_add = time.ticks_add
        busy = 0
        i = 0
        gc.collect()
        a0 = gc.mem_alloc()
        try:
            if max_windows != 0:
                read_into(w)
            while max_windows != i:
                t0 = ticks_us()
                if i:
                    head[:] = moved
                    t1 = ticks_us()
                    read_into(tail)
                    t0 = ticks_add(t0, ticks_diff(ticks_us(), t1))   # waiting is not busy
                p = pipe.predict(w)
                push(i, p if classifier else 0, scores(row) if need else None)
                busy += ticks_diff(ticks_us(), t0)
                i += 1
        finally:
            self.post.finish()
            used = gc.mem_alloc() - a0
            print("%s done %d %d %d" % (PREFIX, i, busy, used))
        return i


def main(path=CONFIG, max_windows=-1, realtime=None):
    """Start the app (main.py calls this at boot): unless the safe-boot file exists or the
    safe-boot pin is held low, load everything, print the ready line and run. realtime
    False: a playback sensor delivers its samples as fast as it reads them (the host's
    checks of an installed app; a sensor without that setting ignores it)."""
    try:
        os.stat(OFF_FILE)
        print("%s off: %s exists (remove it to start the app)" % (PREFIX, OFF_FILE))
        return
    except OSError:
        pass
    cfg = read_config(path)
    pin = cfg.get("safe_pin")
    if pin is not None:
        import machine
        if machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0:
            print("%s off: safe-boot pin %r is low" % (PREFIX, pin))
            return
    app, ram = _loaded(cfg)
    if realtime is not None and hasattr(app.sensor, "realtime"):
        app.sensor.realtime = realtime
    print("%s ready %d %d %d" % (PREFIX, ram, app.n, app.hop))
    try:
        return app.run(max_windows)
    finally:
        app.close()


def _loaded(cfg):
    """(App of cfg, the heap it holds after a collection)."""
    gc.collect()
    a0 = gc.mem_alloc()
    app = App(cfg)
    gc.collect()
    return app, gc.mem_alloc() - a0


def check(path):
    """Load the configuration at path as main() would, without running it (dev.install's
    trial before the switch). Returns the RAM the loaded app holds."""
    app, ram = _loaded(read_config(path))
    app.close()
    return ram
