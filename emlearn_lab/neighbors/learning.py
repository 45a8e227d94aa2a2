"""On-device learning of a deployed KNNModel: ``dev.learn`` sends examples that the device
appends to its store, ``dev.pull_examples`` reads the store back. Either way the model's
mirror (``learned_X``, ``learned_y``) is then what the device holds, so ``model.predict``
equals the device's predictions."""
import numpy as np

from ..exceptions import DeviceError, InputError
from ..rows import finite_float32
from .deployment import check_capacity, paths
from .knnfile import parse

__all__ = ["learn", "pull_examples", "check_examples", "deployed_name"]

_BATCH = 32          # examples per round trip


def deployed_name(dev, model) -> str:
    """The name ``model`` (a KNNModel, or the estimator it was deployed from) is deployed
    under on ``dev`` (its last deploy), or InputError."""
    from .model import KNNModel
    names = [name for name, d in dev.deployments.items()
             if d.model is model or (d.source is model and isinstance(d.model, KNNModel))]
    if not names:
        if not isinstance(model, KNNModel) and type(model).__name__ not in (
                "KNeighborsClassifier", "KNeighborsRegressor"):
            raise InputError(f"learning on the device is for nearest-neighbour models "
                             f"(eml.convert(KNeighborsClassifier(...))), got "
                             f"{type(model).__name__}")
        raise InputError("this model is not deployed on the device in this session: "
                         "dev.deploy(model) first")
    if dev.deployed is not None and dev.deployed.name in names:
        return dev.deployed.name
    return names[-1]


def check_examples(model, x, y) -> tuple:
    """(rows as the device takes them, class indices or float32 targets) of new examples, or
    InputError (one line)."""
    X = model.check_X(x)
    y = np.atleast_1d(np.asarray(y))
    if y.ndim != 1 or len(y) != len(X):
        raise InputError(f"learn: {len(X)} example row(s) and {y.size} target(s); give one "
                         "target per row")
    if model.kind == "classifier":
        index = {c: i for i, c in enumerate(model.classes_.tolist())}
        bad = [v for v in y.tolist() if v not in index]
        if bad:
            raise InputError(f"learn: label {bad[0]!r} is not one of the model's classes "
                             f"{model.classes_.tolist()}; a converted model learns examples "
                             "of its classes only")
        yi = np.array([index[v] for v in y.tolist()], dtype=np.int64)
    else:
        if not np.issubdtype(y.dtype, np.number):
            raise InputError(f"learn: regressor targets must be numbers, got dtype {y.dtype}")
        yi = finite_float32(y.astype(np.float64)[:, None], "a target must be finite")[:, 0]
    room = check_capacity(model) - len(model.learned_X)
    if len(X) > room:
        raise InputError(f"learn: {len(X)} example(s) do not fit the store: capacity "
                         f"{model.capacity}, {len(model.learned_X)} learned; set "
                         "model.capacity higher and deploy again")
    return X, yi


def _code(name: str, X: np.ndarray, yi: np.ndarray, regressor: bool) -> str:
    tc = "f" if X.dtype == np.float32 else "h"
    rows = np.ascontiguousarray(X).astype("<" + X.dtype.str[1:]).tobytes().hex()
    ys = (f"array.array('f', bytes.fromhex({yi.astype('<f4').tobytes().hex()!r}))"
          if regressor else repr(yi.tolist()))
    rb = X.shape[1] * X.dtype.itemsize
    return (f"import array\nm = _emlab_models[{name!r}]\nxs = bytes.fromhex({rows!r})\n"
            f"ys = {ys}\nc = m.count\n"
            f"for i in range({len(X)}):\n"
            f" c = m.learn(array.array({tc!r}, xs[i * {rb}:(i + 1) * {rb}]), ys[i])\n"
            "print(c)\ndel m, xs, ys, c")


def learn(dev, model, x, y) -> int:
    """Append examples (x: one row or rows; y: their labels or values) to the store of
    ``model`` on the device, then to the host's mirror. Returns how many examples the device
    has learned. If the device refuses one, the mirror is read back from the device and the
    error raised."""
    from ..device.session import ensure_loaded
    name = deployed_name(dev, model)
    model = dev.deployments[name].model
    X, yi = check_examples(model, x, y)
    ensure_loaded(dev, dev.deployments[name])
    count = len(model.learned_X)
    for a in range(0, len(X), _BATCH):
        Xb, yb = X[a:a + _BATCH], yi[a:a + _BATCH]
        try:
            count = int(dev.exec(_code(name, Xb, yb, model.kind == "regressor"),
                                 what=f"learning on model '{name}'").split()[-1])
        except DeviceError:
            pull_examples(dev, model)
            raise
        model.learned_X = np.concatenate([model.learned_X, Xb])
        model.learned_y = np.concatenate([model.learned_y, yb])
    if count != len(model.learned_X):        # the device learned on its own meanwhile
        pull_examples(dev, model)
    return count


def pull_examples(dev, model) -> tuple:
    """The examples the device's store holds (X, y: labels or values), in the order they were
    learned; the model's mirror becomes them, and the device loads the model again from its
    files (so that what it runs is what its store holds)."""
    from ..device.session import HELPERS
    name = deployed_name(dev, model)
    model = dev.deployments[name].model
    store = paths(name)[1]
    if store in dev.file_hashes([store]):
        X, yi = parse(model, dev.read_file(store))
    else:
        X, yi = model.X[:0].copy(), model.y[:0].copy()
    if len(X) > check_capacity(model):
        raise InputError(f"the device's store holds {len(X)} examples, more than "
                         f"model.capacity {model.capacity}: raise it")
    model.learned_X, model.learned_y = X, yi
    deployed = dev.deployments[name]
    dev.exec(HELPERS + deployed.load_call, timeout_s=deployed.load_timeout_s,
             what=f"loading model '{name}'")
    return X.copy(), (model.classes_[yi] if model.kind == "classifier" else
                      yi.astype(np.float64))
