"""KNNModel on a device: the files for a target (runtime, examples file, store), and its
estimate on a board."""
import warnings

from ..exceptions import BuildError, InputError

__all__ = ["knn_bundle", "device_plan", "paths", "check_capacity", "board_estimate",
           "MAX_CAPACITY"]

MAX_CAPACITY = 65535      # the device runtime's limit (emlknn.MAX_CAPACITY)


def paths(name: str) -> tuple:
    """(examples file, store file) of a model deployed as ``name``."""
    return name + ".knn", name + ".knns"


def check_capacity(model) -> int:
    c = model.capacity
    if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= MAX_CAPACITY:
        raise InputError(f"model.capacity must be a whole number of examples in "
                         f"0..{MAX_CAPACITY}, got {c!r}")
    if len(model.learned_X) > c:
        raise InputError(f"model.capacity is {c} but the model has learned "
                         f"{len(model.learned_X)} examples: set it to at least that")
    return c


def knn_bundle(target, model, name: str):
    """The neighbours runtime (emlknn; the int16 search in the viper kernel emlknn_kernels
    where the port runs native code), the examples file, and the store of learned examples
    (the host's mirror: deploying makes the device's store equal to it). The load call
    reads both; RAM for ``model.capacity`` learned examples is allocated at load."""
    from ..runtime.artifacts import Artifact, Bundle, module_artifact
    from .knnfile import HEADER_BYTES, file_bytes, store_bytes, to_bytes
    capacity = check_capacity(model)
    notes: list = []
    model_path, store_path = paths(name)
    files = [module_artifact(module, target, False, notes)
             for module in ("emlab_common", "emlknn", "emlab_tools")]
    native = False
    if model.features == "int16" and target.arch is not None:
        try:
            files.append(module_artifact("emlknn_kernels", target, True, notes))
            native = True
        except BuildError as e:
            notes.append(f"native kernel unavailable ({str(e).splitlines()[0]})")
    if model.features == "int16" and not native:
        msg = (f"device target {target}: no native (viper) code, the int16 search runs as "
               "bytecode, roughly 20x slower per predict")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        notes.append(msg)
    if model.features == "float32":
        notes.append("float32 distances run as bytecode (exact float32, slow): "
                     "features='int16' runs them in the native kernel")
    data = to_bytes(model)
    # In RAM: the examples and targets of the file and of a full store.
    ram = file_bytes(model, len(model.X) + capacity) - HEADER_BYTES
    files += [Artifact(model_path, data, "model", ram),
              Artifact(store_path, store_bytes(model), "data")]
    return Bundle(files, ("emlab_common", "emlknn_kernels", "emlknn"), "load",
                  (model_path, store_path, capacity), native, notes)


def device_plan(model, form: str, target, name: str, heap_free_bytes: int) -> tuple:
    """("loadable", bundle): neighbours have one form."""
    if form == "inline":
        raise InputError("form='inline' is for trees; nearest neighbours deploy as "
                         "'loadable' (the examples file read by the runtime)")
    return "loadable", knn_bundle(target, model, name)


def board_estimate(model, board, form: str, bundle, X=None):
    raise NotImplementedError
