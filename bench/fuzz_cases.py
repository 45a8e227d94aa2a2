"""Base files and mutations of the device fuzzer (bench/fuzz_device.py runs them).

Base files: tree model files in every layout (tiny/small/large/packed) and feature form (float32,
int16, learned int16) with sparse and dense leaves, a regressor, a tie file, float32 and int8
network files, feature files. A case is a list of splices (offset, bytes removed, bytes
inserted) on a base file, generated deterministically from the seed: the unchanged file, the
known traps of each kind, truncations at and around every section boundary, trailing bytes,
and random bit flips, byte sets, truncations, hostile or targeted field values and, for
feature files, hostile JSON values and structure.
"""
import json
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np

@dataclass
class Base:
    """One good file and what the mutator knows about its structure."""
    kind: str                 # harness kind: tree, net, fx, ties
    label: str                # file kind in the report
    name: str                 # file name inside the device's RAM filesystem
    data: bytes
    boundaries: list          # byte offsets where a section starts or ends
    fields: list              # (name, offset, struct format, hostile values)
    runtimes: tuple = ("native", "bytecode")
    extra: bytes = b""        # ties: the tree model file it belongs to
    sharp: list = field(default_factory=list)   # (what, splices) run first: known traps
    texts: list = field(default_factory=list)   # fx: structurally mutated JSON texts


@dataclass
class Case:
    number: int
    what: str
    splices: list             # (offset, bytes removed, bytes inserted)

    def encode(self) -> bytes:
        out = [struct.pack("<IB", self.number, len(self.splices))]
        for off, cut, ins in self.splices:
            out.append(struct.pack("<IHH", off, cut, len(ins)) + ins)
        return b"".join(out)


# -- base files ------------------------------------------------------------------------------
def _u(fmt):
    bits = 8 * struct.calcsize(fmt)
    if fmt[-1] in "bhiq":
        return [-(1 << (bits - 1)), -(1 << (bits - 1)) + 1, -2, -1, 0, 1, 2,
                (1 << (bits - 1)) - 2, (1 << (bits - 1)) - 1]
    return [0, 1, 2, (1 << bits) - 1, (1 << bits) - 2, 1 << (bits - 1), (1 << (bits - 1)) - 1]


def _packed_sharp(data, offsets, n_nodes, n_leaves, base) -> list:
    """Packed nodes (layout 3): the last node's left code 0 (a step to the node after the
    last), its right code a step past the nodes, onto the first leaf code and past the last
    one, and a first node whose feature and threshold index are all ones."""
    from emlearn_lab.trees.packing import Packing
    p = Packing.from_code(struct.unpack_from("<H", data, 34)[0])
    low = 4 if p.word_bytes == 4 else 2

    def word(n, **fields):
        at = offsets[1] + low * n
        w = int.from_bytes(data[at:at + low], "little")
        if p.word_bytes == 3:
            w |= data[offsets[4] + n] << 16
        spans = {"feature": (0, p.fb), "index": (p.fb, p.tb), "left": (p.fb + p.tb, p.lb),
                 "right": (p.fb + p.tb + p.lb, p.rb)}
        for name, v in fields.items():
            shift, bits = spans[name]
            w = w & ~(((1 << bits) - 1) << shift) | (v & ((1 << bits) - 1)) << shift
        out = [(at, low, (w & ((1 << 8 * low) - 1)).to_bytes(low, "little"))]
        if p.word_bytes == 3:
            out.append((offsets[4] + n, 1, bytes([w >> 16])))
        return out
    last = n_nodes - 1
    ones = (1 << 31) - 1
    return [(f"left[{last}] = next node", word(last, left=0)),
            (f"right[{last}] = step 1", word(last, right=1)),
            (f"right[{last}] = leaf code {base + n_leaves}", word(last, right=base + n_leaves)),
            ("node 0: feature and index all ones", word(0, feature=ones, index=ones)),
            ("node 0: right code all ones", word(0, right=ones))]


def _tree_base(model, layout: str, label: str, ties: bool = False) -> list:
    from emlearn_lab.trees.modelfile import _layout_of, header_fields, to_bytes, unpack_header
    data = to_bytes(model, layout=layout)
    counts, dts, offsets, end = _layout_of(data)
    head = unpack_header(data)
    names = ("roots", "feature", "threshold", "left", "right", "leaf_start", "leaf_class",
             "leaf_value", "quantiser")
    n_nodes, n_leaves, n_cells, base = head[9], head[10], head[11], head[16]
    n_features, n_outputs, leaf_max = head[5], head[6], head[12]
    # Every field of this file's header form but the magic (the short one packs kind,
    # features and layout into one flags byte); the version byte switches the form.
    head_fields = [f for f in header_fields(data[4]) if f[0] != "magic"]
    field_at = {name: (off, fmt) for name, off, fmt in head_fields}
    fields = []
    for fname, off, fmt in head_fields:
        cur = struct.unpack_from(fmt, data, off)[0]
        vals = _u(fmt) + [cur - 1, cur + 1, cur * 2, cur + n_leaves, cur + n_nodes]
        fields.append(("header " + fname, off, fmt, vals))
    special = {
        "feature": [n_features - 1, n_features, n_features + 1, 255],
        "left": [0, 1, base - 1, base, base + n_leaves - 1, base + n_leaves, n_nodes,
                 n_nodes + n_leaves],
        "roots": [0, n_nodes - 1, n_nodes, n_nodes + n_leaves - 1, n_nodes + n_leaves],
        "leaf_start": [0, n_cells, n_cells + 1, 2**31 + 7],
        "leaf_class": [0, n_outputs - 1, n_outputs],
        "leaf_value": [0, -1, leaf_max, leaf_max + 1, -leaf_max - 1, 2**31 - 1, -2**31],
        "threshold": [0, 1, 0x7FFF, 0x8000, 0x7F800000, 0x80000000],
    }
    special["right"] = special["left"]
    boundaries = [offsets[0]] + [o for o in offsets] + [end]
    for sname, n, dt, off in zip(names, counts, dts, offsets):
        if n == 0:
            continue
        dt = np.dtype(dt)
        fmt = "<" + dt.char if sname != "quantiser" else "<B"
        width = struct.calcsize(fmt)
        if sname == "quantiser":
            # int32 offsets then int8 shifts, one each per feature.
            for j in range(min(n_features, 4)):
                fields.append((f"quantiser offset[{j}]", off + 4 * j, "<i", _u("<i")))
                fields.append((f"quantiser shift[{j}]", off + 4 * n_features + j, "<b",
                               _u("<b") + [-40, 40, 31, -31]))
            continue
        for k in sorted({0, 1, n // 2, n - 1}):
            if k >= n:
                continue
            vals = _u(fmt) + special.get(sname, [])
            fields.append((f"{sname}[{k}]", off + k * width, fmt, vals))
    sharp = [] if layout != "packed" else _packed_sharp(data, offsets, n_nodes, n_leaves, base)
    cfmt = {"tiny": "<B", "small": "<H", "large": "<I", "packed": ""}[layout]
    cw = struct.calcsize(cfmt)
    last = n_nodes - 1
    for side in ("left", "right") if layout != "packed" else ():
        at = offsets[names.index(side)] + last * cw
        # A step from the last node lands in the leaf range: the walker must never follow
        # it (issue 17, item 1). Past the section it reads whatever follows: a step onto
        # zero child codes (padding) would loop there.
        steps = [1, base - 1]
        lo, ro = offsets[names.index("left")], offsets[names.index("right")]
        for step in range(1, base):
            t = last + step
            codes = data[lo + t * cw:lo + (t + 1) * cw] + data[ro + t * cw:ro + (t + 1) * cw]
            if len(codes) == 2 * cw and not any(codes):
                steps.insert(0, step)
                break
        for step in sorted(set(steps), key=steps.index):
            sharp.append((f"{side}[{last}] = step {step}", [(at, cw, struct.pack(cfmt, step))]))
    for what, name, v in (("leaf_shift = 28", "leaf_shift", 28),
                          ("n_outputs = 65535", "n_outputs", 65535),
                          ("child_base + 1000", "child_base", base + 1000),
                          ("child_base x 2", "child_base", 2 * base),
                          ("n_features = 65535", "n_features", 65535),
                          ("leaf_shift = -30", "leaf_shift", -30)):
        off, fmt = field_at[name]
        sharp.append((what, [(off, struct.calcsize(fmt), struct.pack(fmt, v))]))
    if head[14] >= 0:
        at = offsets[names.index("leaf_value")]
        sharp.append(("all dense leaf values 0", [(at, n_cells, bytes(n_cells))]))
    out = [Base("tree", label, "m.eml", data, sorted(set(boundaries)), fields, sharp=sharp)]
    if ties and model.leaf_proba is not None:
        t = model.leaf_proba.astype("<f8").tobytes()
        tf = [(f"ties[{k}]", 8 * k, "<d", [float("nan"), float("inf"), -float("inf"), 1e308,
                                          -1.0, 0.0, 2.0, 5e-324])
              for k in (0, 1, len(t) // 16, len(t) // 8 - 1)]
        out.append(Base("ties", "ties (float64 leaf table)", "m.ties", t,
                        list(range(0, len(t) + 1, max(8, len(t) // 16))), tf, extra=data))
    return out


def _net_base(net, label: str) -> Base:
    from emlearn_lab.nets.netfile import HEADER, LAYER, to_bytes
    data = to_bytes(net)
    head = struct.unpack(HEADER, data[:16])
    nf, nl, int8 = head[5], head[7], head[3] == 1
    fields = [("header " + n, off, fmt, _u(fmt) + [struct.unpack_from(fmt, data, off)[0] + 1])
              for n, off, fmt in (("kind", 5, "<B"), ("weights", 6, "<B"), ("output", 7, "<B"),
                                  ("n_features", 8, "<H"), ("n_outputs", 10, "<H"),
                                  ("n_layers", 12, "<H"), ("shift", 14, "<h"))]
    boundaries = [16]
    layers = []
    for i in range(nl):
        at = 16 + 8 * i
        n_in, n_out, act, lut = struct.unpack_from(LAYER, data, at)
        layers.append((n_in, n_out, lut))
        for n, off, fmt in (("n_in", 0, "<H"), ("n_out", 2, "<H"), ("act", 4, "<B"),
                            ("lut", 5, "<B")):
            fields.append((f"layer {i} {n}", at + off, fmt, _u(fmt) + [n_in, n_out, 1, 3]))
        boundaries.append(at + 8)
    off = 16 + 8 * nl
    pad = lambda n: n + (-n % 4)   # noqa: E731
    if int8:
        for j in sorted({0, nf - 1}):
            fields.append((f"input shift[{j}]", off + j, "<b", _u("<b") + [120, -120, 121]))
        off += pad(nf)
        boundaries.append(off)
    for i, (n_in, n_out, lut) in enumerate(layers):
        if int8:
            sections = [("weights", pad(n_in * n_out), "<B", _u("<B")),
                        ("const", 4 * n_out, "<i", _u("<i") + [2**29, -2**29, 2**30]),
                        ("right shift", pad(n_out), "<B", [0, 1, 30, 31, 32, 255]),
                        ("lut", 256 * lut, "<B", _u("<B"))]
        else:
            fvals = [float("nan"), float("inf"), -float("inf"), 3.4e38, -3.4e38, 1e-45, 0.0]
            sections = [("weights", 4 * n_in * n_out, "<f", fvals),
                        ("bias", 4 * n_out, "<f", fvals)]
        for sname, size, fmt, vals in sections:
            if size:
                w = struct.calcsize(fmt)
                for k in sorted({0, (size // w) // 2, size // w - 1}):
                    fields.append((f"layer {i} {sname}[{k}]", off + k * w, fmt, vals))
            off += size
            boundaries.append(off)
    sharp = []
    first = 16 + 8 * nl + (-(-nf // 4) * 4 if int8 else 0)
    if int8:
        n_in, n_out, _ = layers[0]
        c_at = first + pad(n_in * n_out)
        sharp += [("layer 0 const[0] = 2**31-1", [(c_at, 4, struct.pack("<i", 2**31 - 1))]),
                  ("layer 0 right shift[0] = 32", [(c_at + 4 * n_out, 1, b"\x20")]),
                  ("input shift[0] = 127", [(16 + 8 * nl, 1, b"\x7f")])]
    else:
        sharp += [("layer 0 weights[0] = NaN", [(first, 4, struct.pack("<f", float("nan")))]),
                  ("last bias = inf", [(len(data) - 4, 4, struct.pack("<f", float("inf")))])]
    sharp.append(("output shift = -32768", [(14, 2, struct.pack("<h", -32768))]))
    return Base("net", label, "m.emn", data, sorted(set(boundaries)), fields, sharp=sharp)


_HOSTILE_JSON = [-1, 0, 1, 2, 3, 7, 255, 256, 4097, 32767, 32768, 65536, 2**31 - 1, 2**31,
                 -2**31 - 1, 2**63, 1e9, 1.5, -0.0, 1e308, "x", "", "f", "h", None, True,
                 [], {}, [0], [1, 2, 3], [-1] * 3, [2**31] * 3, [[1]], ["mean"], [0] * 300]


def _fx_texts(spec: dict, rng) -> list:
    """(what, text) structural mutations of a feature file."""
    out = []
    steps = spec["steps"]
    for i, step in enumerate(steps):
        for key in sorted(step["params"]):
            for v in _HOSTILE_JSON:
                s = json.loads(json.dumps(spec))
                s["steps"][i]["params"][key] = v
                out.append((f"step {i} params.{key} = {json.dumps(v)[:20]}", s))
            s = json.loads(json.dumps(spec))
            del s["steps"][i]["params"][key]
            out.append((f"step {i} params.{key} removed", s))
            value = step["params"][key]
            if isinstance(value, list) and value:
                for cut in (0, len(value) - 1, len(value) + 1):
                    s = json.loads(json.dumps(spec))
                    s["steps"][i]["params"][key] = (value * 2)[:cut]
                    out.append((f"step {i} params.{key} with {cut} items", s))
        for key, vals in (("module", ["emlfx_core", "emlfx_time", "emlfx_iir", "emlfx_spectral",
                                      "emlfx", "emltrees", "sys", "os", 5, None]),
                          ("cls", ["FORMAT_VERSION", "param", "Input", "isqrt", "TimeStats",
                                   "SoundLevel", "Spectral", "__init__", "__class__", 0, None]),
                          ("params", [None, [], 3, "x"])):
            for v in vals:
                s = json.loads(json.dumps(spec))
                s["steps"][i][key] = v
                out.append((f"step {i} {key} = {json.dumps(v)}", s))
    for what, s in (("no steps", dict(spec, steps=[])),
                    ("17 steps", dict(spec, steps=[{"module": "emlfx_time", "cls": "TimeStats",
                                                    "params": {}}] * 17)),
                    ("steps doubled", dict(spec, steps=steps * 2)),
                    ("steps not a list", dict(spec, steps=steps[0])),
                    ("step not an object", dict(spec, steps=[1])),
                    ("version 2", dict(spec, version=2)), ("format x", dict(spec, format="x")),
                    ("not an object", [spec]), ("nested 200 deep", [[[[[[[[[[spec]]]]]]]]]] * 2)):
        out.append((what, s))
    return [(w, json.dumps(s, separators=(",", ":")).encode()) for w, s in out]


def _knn_bases(seed: int) -> list:
    """Nearest-neighbour examples files (.knn: a float32 classifier with distance weights,
    an int16 regressor) and a store of learned examples (.knns, checked against its model
    file, loaded with capacity 4)."""
    import emlearn_lab as eml
    from emlearn_lab.neighbors.knnfile import HEADER_BYTES, store_bytes, to_bytes
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    rng = np.random.default_rng([seed, 20])
    X = rng.integers(-9, 10, (12, 3)).astype(float)
    y = rng.integers(0, 3, 12)
    clf = eml.convert(KNeighborsClassifier(3, weights="distance").fit(X, y))
    reg = eml.convert(KNeighborsRegressor(2, p=1).fit(X, X[:, 0] * 1.5), features="int16")
    reg.learned_X, reg.learned_y = X[:3].astype(np.int16), np.float32([1.0, -2.0, 3.5])
    fvals = [float("nan"), float("inf"), -float("inf"), 3.4e38, -3.4e38, 1e-45, 0.0]
    out = []
    for label, model, data, kind in (("knn float32 classifier", clf, to_bytes(clf), "knn"),
                                     ("knn int16 regressor", reg, to_bytes(reg), "knn"),
                                     ("knn store int16 regressor", reg, store_bytes(reg),
                                      "knns")):
        n = struct.unpack_from("<I", data, 18)[0]
        item = 4 if model.features == "float32" else 2
        rows = n * model.n_features * item
        targets = HEADER_BYTES + rows + (-rows % 4)
        fields = [("header " + name, off, fmt, _u(fmt) + [struct.unpack_from(fmt, data, off)[0]
                                                          + 1])
                  for name, off, fmt in (("kind", 5, "<B"), ("features", 6, "<B"),
                                         ("metric", 7, "<B"), ("weights", 8, "<B"),
                                         ("k", 10, "<H"), ("n_features", 12, "<H"),
                                         ("n_outputs", 14, "<H"), ("max_abs", 16, "<H"),
                                         ("n_examples", 18, "<I"))]
        xfmt = "<f" if item == 4 else "<h"
        xvals = fvals if item == 4 else _u("<h") + [model.max_abs, model.max_abs + 1]
        for j in sorted({0, n * model.n_features // 2, n * model.n_features - 1}):
            fields.append((f"example value[{j}]", HEADER_BYTES + j * item, xfmt, xvals))
        tfmt, tvals = (("<H", _u("<H") + [model.n_outputs]) if model.kind == "classifier"
                       else ("<f", fvals))
        for j in sorted({0, n - 1}):
            fields.append((f"target[{j}]", targets + j * struct.calcsize(tfmt), tfmt, tvals))
        sharp = [("n_examples = 2**32-1", [(18, 4, b"\xff\xff\xff\xff")]),
                 ("max_abs = 32767", [(16, 2, struct.pack("<H", 32767))]),
                 ("k = n + 1", [(10, 2, struct.pack("<H", n + 1))])]
        base = Base(kind, label, "m.knns" if kind == "knns" else "m.knn", data,
                    [HEADER_BYTES, HEADER_BYTES + rows, targets, len(data)], fields,
                    sharp=sharp, extra=to_bytes(model) if kind == "knns" else b"")
        base.runtimes = ("native", "bytecode") if item == 2 else ("bytecode",)
        out.append(base)
    return out


def _fx_base(extractors, label: str, rng) -> Base:
    spec = {"format": "emlfx", "version": 1, "steps": [e.device_spec() for e in extractors]}
    data = json.dumps(spec, separators=(",", ":")).encode()
    boundaries = [i for i, c in enumerate(data) if c in b",:{}[]"][::3] + [len(data)]
    texts = _fx_texts(spec, rng)
    sharp = [(w, [_splice_diff(data, t)]) for w, t in texts
             if w in ("step 0 cls = \"FORMAT_VERSION\"", "step 0 cls = \"param\"",
                      "17 steps", "step 0 params.n_samples = 65536")]
    return Base("fx", label, "m.fx", data, boundaries, [], runtimes=("native",),
                texts=texts, sharp=sharp)


def base_files(seed: int = 0) -> list:
    """Every base file (deterministic for a seed)."""
    import emlearn_lab as eml
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    rng = np.random.default_rng(seed)
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rf = RandomForestClassifier(n_estimators=3, max_leaf_nodes=8, random_state=seed).fit(X, y)
        rfr = RandomForestRegressor(n_estimators=2, max_leaf_nodes=6,
                                    random_state=seed).fit(X, X[:, 0] * 3 - 7)
        trees = {
            "float32 sparse": eml.convert(rf),
            "int16 sparse": eml.convert(rf, features="int16"),
            "learned int16 sparse": eml.compress(rf, leaf_bits=None, features="int16",
                                                 X_calib=X),
            "float32 dense": eml.compress(rf),
            "learned int16 dense": eml.compress(rf, features="int16", X_calib=X),
            "float32 regressor": eml.convert(rfr),
        }
        mlp = MLPClassifier(hidden_layer_sizes=(5,), activation="tanh", max_iter=50,
                            random_state=seed).fit(X, y)
        mlp2 = MLPClassifier(hidden_layer_sizes=(4, 3), activation="logistic", max_iter=50,
                             random_state=seed).fit(X, y)
        mlpr = MLPRegressor(hidden_layer_sizes=(4,), activation="relu", max_iter=50,
                            random_state=seed).fit(X, X[:, 0])
        nets = {
            "float32 net tanh": eml.convert(mlp),
            "float32 net regressor": eml.convert(mlpr),
            "int8 net tanh": eml.convert(mlp, weights="int8", X_calib=X),
            "int8 net sigmoid x2": eml.convert(mlp2, weights="int8", X_calib=X),
            "int8 net regressor": eml.convert(mlpr, weights="int8", X_calib=X),
        }
        W = rng.normal(size=(4, 32, 3)).astype("f4")
        A = (rng.normal(size=(3, 256, 1)) * 3000).astype("int16")
        fxs = {
            "fx TimeStats": [eml.features.TimeStats().fit(W)],
            "fx SoundLevel": [eml.features.SoundLevel(samplerate_hz=16000).fit(A)],
            "fx FFTBands+LogMel": [
                eml.features.FFTBands(n_bands=4, samplerate_hz=16000, n_fft=64).fit(A),
                eml.features.LogMel(n_mels=6, n_fft=64, samplerate_hz=16000).fit(A)],
        }
    out = []
    for form, model in trees.items():
        for layout in ("tiny", "small", "large", "packed"):
            out += _tree_base(model, layout, f"tree {layout} {form}",
                              ties=(form == "float32 sparse" and layout == "tiny"))
    for label, net in nets.items():
        out.append(_net_base(net, label))
        if net.int8 is None:
            out[-1].runtimes = ("bytecode",)      # float32 networks run in bytecode only
    out += [_fx_base(e, label, rng) for label, e in fxs.items()]
    out += _gauss_bases(seed)
    out += _knn_bases(seed)
    return out


def _gauss_bases(seed: int) -> list:
    """Gaussian detector files (.emg): a mixture of each covariance type and an envelope,
    with their header fields, every float section's first/middle/last value and the traps
    (a header that promises more than the file, NaN/inf parameters)."""
    from sklearn.covariance import EllipticEnvelope
    from sklearn.datasets import load_iris
    from sklearn.mixture import GaussianMixture

    import emlearn_lab as eml
    from emlearn_lab.gauss.gaussfile import HEADER, HEADER_BYTES, factor_count, to_bytes
    X = load_iris(return_X_y=True)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {f"gauss {cov}": GaussianMixture(3, covariance_type=cov, random_state=seed,
                                                  max_iter=10).fit(X)
                  for cov in ("full", "tied", "diag", "spherical")}
        models["gauss envelope"] = EllipticEnvelope(random_state=seed).fit(X)
    fvals = [float("nan"), float("inf"), -float("inf"), 3.4e38, -3.4e38, 1e-45, 0.0, -0.0]
    out = []
    for label, est in models.items():
        det = eml.convert(est)
        data = to_bytes(det)
        n, k = det.n_features, det.n_components
        fields = [("header " + name, off, fmt, _u(fmt) + [struct.unpack_from(fmt, data, off)[0]
                                                          + 1, 300, 1000])
                  for name, off, fmt in (("estimator", 5, "<B"), ("covariance", 6, "<B"),
                                         ("reserved", 7, "<B"), ("n_features", 8, "<H"),
                                         ("n_components", 10, "<H"))]
        sections = [("means", k * n), ("consts", k),
                    ("factor", factor_count(det.covariance_type, n, k))]
        off, boundaries = HEADER_BYTES, [HEADER_BYTES]
        for sname, count in sections:
            for j in sorted({0, count // 2, count - 1}):
                fields.append((f"{sname}[{j}]", off + 4 * j, "<f", fvals))
            off += 4 * count
            boundaries.append(off)
        head = list(struct.unpack(HEADER, data[:HEADER_BYTES]))
        sharp = [("means[0] = NaN", [(HEADER_BYTES, 4, struct.pack("<f", float("nan")))]),
                 ("last factor = inf", [(len(data) - 4, 4, struct.pack("<f", float("inf")))]),
                 ("n_features = 65535", [(8, 2, struct.pack("<H", 65535))]),
                 ("n_components = 65535", [(10, 2, struct.pack("<H", 65535))])]
        head[6] = 0                    # full covariance: more factor values than there are
        sharp.append(("covariance = full", [(0, HEADER_BYTES, struct.pack(HEADER, *head))]))
        out.append(Base("gauss", label, "m.emg", data, boundaries, fields,
                        runtimes=("bytecode",), sharp=sharp))
    return out


# -- mutations -------------------------------------------------------------------------------
def _splice_diff(a: bytes, b: bytes) -> tuple:
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[len(a) - 1 - s] == b[len(b) - 1 - s]:
        s += 1
    return (p, len(a) - p - s, b[p:len(b) - s])


def cases(base: Base, n: int, seed: int) -> list:
    """n deterministic cases for a base file: the unchanged file, then boundary truncations
    and random mutations interleaved (all boundaries once n is large enough)."""
    rng = np.random.default_rng([seed, sum(base.label.encode()), len(base.data)])
    d, size = base.data, len(base.data)
    edges = []
    for b in base.boundaries:
        for t in (b - 1, b, b + 1):
            if 0 <= t < size:
                edges.append((f"truncate to {t}", [(t, size - t, b"")]))
    edges.append(("4 trailing bytes", [(size, 0, b"\0" * 4)]))
    # The unchanged file first (it must load: checks the harness), then one boundary case
    # for every two random ones until the boundaries are used up.
    room = max(0, n - 1 - len(base.sharp))
    n_random = max(0, room - len(edges))
    n_random = max(n_random, 2 * min(len(edges), room) // 3)
    n_edges = max(0, room - n_random)
    randoms = []
    kinds = ["bitflip", "byteset", "field", "field", "field", "truncate"]
    kinds += ["text"] * 3 if base.texts else []
    if not base.fields:
        kinds = [k for k in kinds if k != "field"]
    while len(randoms) < n_random:
        k = kinds[int(rng.integers(len(kinds)))]
        if k == "bitflip":
            sp, what = [], []
            for _ in range(int(rng.integers(1, 4))):
                at, bit = int(rng.integers(size)), int(rng.integers(8))
                sp.append((at, 1, bytes([d[at] ^ (1 << bit)])))
                what.append(f"{at}.{bit}")
            randoms.append(("flip bit " + ",".join(what), sp))
        elif k == "byteset":
            sp, what = [], []
            for _ in range(int(rng.integers(1, 5))):
                at = int(rng.integers(size))
                v = int(rng.choice([0, 0xFF, 0x7F, 0x80, 1, int(rng.integers(256))]))
                sp.append((at, 1, bytes([v])))
                what.append(f"{at}={v}")
            randoms.append(("set byte " + ",".join(what), sp))
        elif k == "truncate":
            t = int(rng.integers(size))
            randoms.append((f"truncate to {t}", [(t, size - t, b"")]))
        elif k == "field":
            sp, what = [], []
            for _ in range(1 if rng.random() < 0.7 else 2):
                fname, off, fmt, vals = base.fields[int(rng.integers(len(base.fields)))]
                v = vals[int(rng.integers(len(vals)))]
                if isinstance(v, float) or fmt in ("<f", "<d"):
                    raw = struct.pack(fmt, float(v))
                else:
                    raw = struct.pack("<q", int(v))[:struct.calcsize(fmt)]
                sp.append((off, len(raw), raw))
                what.append(f"{fname}={v}")
            randoms.append(("set " + ", ".join(what), sp))
        else:
            what, text = base.texts[int(rng.integers(len(base.texts)))]
            if rng.random() < 0.3:
                at = int(rng.integers(max(1, len(text))))
                text = text[:at]
                what += f", truncated to {at}"
            randoms.append((what, [_splice_diff(d, text)]))
    mixed = [("unchanged", [])] + base.sharp
    edges = edges[:n_edges]
    while edges or randoms:
        mixed += edges[:1] + randoms[:2]
        edges, randoms = edges[1:], randoms[2:]
    return [Case(i, w, s) for i, (w, s) in enumerate(mixed[:n])]


def mutated(base: Base, case: Case) -> bytes:
    """The bytes the harness builds for a case (to reproduce it on the host)."""
    d = base.data
    for off, cut, ins in case.splices:
        off = min(off, len(d))
        d = d[:off] + ins + d[off + cut:]
    return d
