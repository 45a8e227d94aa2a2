# Device side of the live host-vs-device comparison (emlearn_lab.live): one batch of rows (or
# windows, with a feature pipeline) from a file, each predicted and timed on its own.
#
# Output per item, little-endian, the layout emlab_tools.verify writes plus the time:
#   int32 predict() (0 for regressors), the model's scores() as they are (int32 or float32),
#   uint32 microseconds that predict() took, measured here with time.ticks_us.
# For a pipeline predict() is the whole of it: features of the window, then the model; the
# scores are those of that call's feature row (emlfx.Pipeline keeps it).
import gc
import struct
import time


def run(model, x_path, out_path, features=None, start=0, count=-1):
    """Predict the rows (or windows) of x_path from item ``start`` on (``count`` of them,
    -1: all), timing each call; returns the item count."""
    if features is None:
        import emlab_tools
        x = emlab_tools._row_buffer(model)
        nbytes = len(bytes(memoryview(x)))
        predict = model.predict
        scores_of = model.scores
        last = x
    else:
        import emlfx
        pipe = emlfx.Pipeline(features, model)
        x = features.window()
        nbytes = features.nbytes
        predict = pipe.predict
        scores_of = model.scores
        last = pipe.row
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    n = 0
    # A collection now rather than inside a timed call: each item's figure is then the
    # model's own cost, unless the batch itself fills the heap.
    gc.collect()
    with open(x_path, "rb") as f, open(out_path, "wb") as out:
        f.seek(start * nbytes)
        while count != n and f.readinto(x) == nbytes:
            t0 = ticks_us()
            p = predict(x)
            t1 = ticks_us()
            if not isinstance(p, int):
                p = 0  # regressors: the exact result is in scores()
            out.write(struct.pack("<i", p))
            out.write(scores_of(last))
            out.write(struct.pack("<I", ticks_diff(t1, t0)))
            n += 1
    return n


def batch(model, x_path, out_path, data=None, features=None, send_max=4096, start=0,
          count=-1):
    """One round trip per batch: write the items (base64 text ``data``, if given) to x_path,
    run() items start.. (count, -1: all), then print the item count and the microseconds the
    whole run took here (the host sizes its next timeouts from it) and, if the output is at
    most send_max bytes, the output file as one base64 line (else the host reads the
    file)."""
    import binascii
    if data is not None:
        with open(x_path, "wb") as f:
            f.write(binascii.a2b_base64(data))
        data = None
    import emlab_tools
    n, us = emlab_tools.timed(run, model, x_path, out_path, features, start, count)
    with open(out_path, "rb") as f:
        size = f.seek(0, 2)
        if size > send_max:
            print(n, us)
            return
        f.seek(0)
        out = f.read()
    print(n, us)
    print(binascii.b2a_base64(out).decode().strip())


class Held:
    """A sensor that stays open across dev.record() calls (record closes the sensor it
    streamed; this has no close()), so that successive records continue its stream."""

    def __init__(self, sensor):
        self.sensor = sensor
        self.samplerate_hz = sensor.samplerate_hz
        self.channels = sensor.channels
        self.units = sensor.units
        self.typecode = sensor.typecode
        self.kind = getattr(sensor, "kind", "signal")
        self.full_scale = getattr(sensor, "full_scale", None)
        self.samplerate_bits = getattr(sensor, "samplerate_bits", None)
        self.read_into = sensor.read_into
