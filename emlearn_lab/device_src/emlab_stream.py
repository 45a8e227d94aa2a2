# Device side of the live host-vs-device comparison (emlearn_lab.live): one batch of rows (or
# windows, with a feature pipeline) per round trip, run by emlab_tools.run with each item's
# time: int32 predict() (0 for regressors), the model's scores() as they are (int32 or
# float32), uint32 microseconds that predict() took, measured here with time.ticks_us.
# For a pipeline predict() is the whole of it: features of the window, then the model; the
# scores are those of that call's feature row (emlfx.Pipeline keeps it).


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
    (n, _), us = emlab_tools.timed(emlab_tools.run, model, x_path, out_path, features, start,
                                   count, False, True)
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
