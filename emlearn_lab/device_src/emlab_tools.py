# Device-side helpers used by emlearn_lab's deploy: load with RAM/time accounting, verify a
# batch of rows against the host, and time predict(). Works with any model object that has
# n_features, features (0 float32, 1 int16, 2 learned int16: float32 rows), n_outputs, predict(x)
# and scores(x).
import array
import gc
import struct
import sys
import time


def load(module_names, loader, *args):
    """Import the runtime fresh and call loader(*args): returns (model, runtime_ram_bytes,
    model_ram_bytes, load_us). RAM is the gc.mem_alloc() growth after a collection."""
    for name in module_names:
        if name in sys.modules:
            del sys.modules[name]
    gc.collect()
    a0 = gc.mem_alloc()
    mod = __import__(module_names[-1])
    gc.collect()
    a1 = gc.mem_alloc()
    t0 = time.ticks_us()
    model = getattr(mod, loader)(*args)
    t1 = time.ticks_us()
    gc.collect()
    a2 = gc.mem_alloc()
    return model, a1 - a0, a2 - a1, time.ticks_diff(t1, t0)


def _row_buffer(model):
    return array.array("h" if model.features == 1 else "f", [0] * model.n_features)


def verify(model, x_path, out_path):
    """For each row in x_path write predict() as int32 then the scores() int32s. Returns
    (rows, microseconds spent in predict()): the host sizes timing work and timeouts from
    it."""
    x = _row_buffer(model)
    row_bytes = len(bytes(memoryview(x)))
    rows = 0
    predict_us = 0
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    with open(x_path, "rb") as f, open(out_path, "wb") as out:
        while f.readinto(x) == row_bytes:
            t0 = ticks_us()
            p = model.predict(x)
            predict_us += ticks_diff(ticks_us(), t0)
            s = model.scores(x)
            if not isinstance(p, int):
                p = 0  # regressors: the exact result is in scores()
            out.write(struct.pack("<i", p))
            out.write(s)
            rows += 1
    return rows, predict_us


def timed(fn, *args):
    """(fn(*args), microseconds it took on this device). Past ~8 minutes ticks_us could wrap
    (its period is 2**30 us on most ports): the figure is then ticks_ms'."""
    t_ms = time.ticks_ms()
    t_us = time.ticks_us()
    result = fn(*args)
    us = time.ticks_diff(time.ticks_us(), t_us)
    ms = time.ticks_diff(time.ticks_ms(), t_ms)
    return result, (us if ms < 500000 and us >= 0 else ms * 1000.0)


def time_calls(predict, rows, repeats, rounds=3):
    """Median and min microseconds per predict(x) over the rows, minus the cost of an empty
    loop of the same length. Each row is timed `rounds` times (`repeats` calls each) and its
    best round kept, so an interrupt or a busy host does not set a row's figure.
    Returns (median, min, n_rows, max): max is the worst row's figure."""
    per_row = []
    for x in rows:
        best = None
        for _ in range(rounds):
            n = repeats
            t0 = time.ticks_us()
            while n:
                predict(x)
                n -= 1
            t1 = time.ticks_us()
            n = repeats
            while n:
                n -= 1
            t2 = time.ticks_us()
            us = (time.ticks_diff(t1, t0) - time.ticks_diff(t2, t1)) / repeats
            best = us if best is None or us < best else best
        per_row.append(best)
    if not per_row:
        return 0.0, 0.0, 0, 0.0
    per_row.sort()
    return per_row[len(per_row) // 2], per_row[0], len(per_row), per_row[-1]


def bench(model, x_path, max_rows, repeats):
    """time_calls(model.predict) over up to max_rows rows of x_path, one buffer per row."""
    x = _row_buffer(model)
    row_bytes = len(bytes(memoryview(x)))
    rows = []
    with open(x_path, "rb") as f:
        while len(rows) < max_rows and f.readinto(x) == row_bytes:
            rows.append(array.array("h" if model.features == 1 else "f", x))
    return time_calls(model.predict, rows, repeats)
