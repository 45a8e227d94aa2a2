# Device side of a feature pipeline: the extractors a feature file names (JSON written by the
# host: {"format": "emlfx", "version": 1, "steps": [{"module", "cls", "params"}, ...]}),
# applied to one window, optionally followed by a loaded model (emltrees / emlnet).
# A corrupt or hostile file raises ValueError here; each extractor validates its own params.
import array

FORMAT = "emlfx"
VERSION = 1
MAX_STEPS = 16
# The only names a feature file may give: anything else in an emlfx_* module (a constant, a
# helper function, a kernel) would be called with the params dict.
EXTRACTORS = {"emlfx_time": ("TimeStats",), "emlfx_iir": ("SoundLevel",),
              "emlfx_spectral": ("Spectral",)}


class Features:
    """transform(window) -> array('i') of n_features, reused between calls."""

    def __init__(self, steps):
        self.steps = steps
        first = steps[0].input
        for s in steps:
            i = s.input
            if (i.n_samples, i.n_channels, i.dtype) != (first.n_samples, first.n_channels,
                                                        first.dtype):
                raise ValueError("feature file: every step must read the same window format")
        self.n_samples = first.n_samples
        self.n_channels = first.n_channels
        self.dtype = first.dtype
        self.nbytes = first.nbytes
        self.n_features = 0
        for s in steps:
            self.n_features += s.n_features
        self.out = array.array("i", bytes(4 * self.n_features))

    def transform(self, window):
        out = self.out
        at = 0
        for s in self.steps:
            at = s.transform(window, out, at)
        return out

    def window(self):
        """A zeroed window buffer of the right type and size."""
        return array.array(self.dtype, bytes(self.nbytes))


def load(path):
    import json
    try:
        with open(path) as f:
            spec = json.load(f)
    except ValueError as e:
        raise ValueError("feature file %s is not valid JSON (%s)" % (path, e))
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ValueError("%s is not an emlfx feature file" % path)
    if spec.get("version") != VERSION:
        raise ValueError("feature file %s has version %r, this runtime reads %d"
                         % (path, spec.get("version"), VERSION))
    steps = spec.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise ValueError("feature file %s: 'steps' must list 1..%d extractors" % (path, MAX_STEPS))
    built = []
    for step in steps:
        module = step.get("module") if isinstance(step, dict) else None
        cls = step.get("cls") if isinstance(step, dict) else None
        if (not isinstance(module, str) or not module.startswith("emlfx_")
                or not isinstance(cls, str) or not isinstance(step.get("params"), dict)):
            raise ValueError("feature file %s: each step needs 'module' (emlfx_*), 'cls' and "
                             "'params'" % path)
        known = ", ".join(m + "." + c for m in sorted(EXTRACTORS) for c in EXTRACTORS[m])
        if module not in EXTRACTORS:
            raise ValueError("feature file %s names module %s: not on the device as an "
                             "extractor module (the extractors: %s)" % (path, module, known))
        if cls not in EXTRACTORS[module]:
            raise ValueError("feature file %s names %s.%s, which is not an extractor (the "
                             "extractors: %s)" % (path, module, cls, known))
        try:
            mod = __import__(module)
        except ImportError:
            raise ValueError("feature file %s names module %s, which is not on the device"
                             % (path, module))
        make = getattr(mod, cls, None)
        if make is None:
            raise ValueError("feature file %s: module %s has no extractor %s: deploy the "
                             "features again" % (path, module, cls))
        built.append(make(step["params"]))
    return Features(built)


class Pipeline:
    """Features then a model: predict(window), scores(window), like the model's own."""

    def __init__(self, features, model):
        if model.n_features != features.n_features:
            raise ValueError("the model takes %d features, the extractors make %d"
                             % (model.n_features, features.n_features))
        if model.features == 1:
            raise ValueError("a feature pipeline needs a float32-input model")
        self.features = features
        self.model = model
        self.row = array.array("f", bytes(4 * model.n_features))
        self.n_features = model.n_features
        self.n_outputs = model.n_outputs

    def row_of(self, window):
        # Integer features below 2**24 (see the extractors) are exact as float32.
        f = self.features.transform(window)
        row = self.row
        for i in range(len(f)):
            row[i] = f[i]
        return row

    def predict(self, window):
        return self.model.predict(self.row_of(window))

    def scores(self, window):
        return self.model.scores(self.row_of(window))


def _read_windows(features, x_path, max_rows):
    rows = []
    with open(x_path, "rb") as f:
        while len(rows) < max_rows:
            w = features.window()
            if f.readinto(w) != features.nbytes:
                break
            rows.append(w)
    return rows


def bench(features, x_path, max_rows, repeats):
    """(median, min, n, max) microseconds per window for features.transform (see
    emlab_tools.time_calls)."""
    import emlab_tools
    return emlab_tools.time_calls(features.transform, _read_windows(features, x_path, max_rows),
                                  repeats)


def bench_pipeline(features, model, x_path, max_rows, repeats):
    """Features, predict and features + predict timed in one loop over the same windows
    (emlab_tools.time_steps): the features step is Pipeline.row_of (transform and the copy
    into the model's float32 row), predict is the model on that row, and their sum per
    window is the whole, so the parts never exceed it.
    Returns (n, (median, min, max) features, (...) predict, (...) features + predict)."""
    import emlab_tools
    pipe = Pipeline(features, model)
    n, (fx, pr), whole = emlab_tools.time_steps(
        (pipe.row_of, model.predict), _read_windows(features, x_path, max_rows), repeats)
    return n, fx, pr, whole
