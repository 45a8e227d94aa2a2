"""GaussModel on a device: the files for a target, and its estimate on a board."""
from ..exceptions import InputError

__all__ = ["device_plan", "device_remedy", "gauss_bundle", "board_estimate", "MODULES"]

# The runtime modules the loader imports (emlab_tools is deploy's, not the model's); the
# network runtime's machine-code layers first, so that a measured load imports them afresh.
MODULES = ("emlab_common", "emlnet_fpu", "emlnet_soft", "emlgauss")


def gauss_bundle(target, model, name: str):
    """The Gaussian runtime (float32 arithmetic one rounded operation at a time) + the model
    file; the load call passes the threshold's float32 bits. Full and tied covariances also
    get the network runtime's machine-code dense layer where the core has one (ARMv7-M:
    emlnet_fpu with an FPU, emlnet_soft without), which computes their products."""
    from ..runtime.artifacts import Artifact, Bundle, float_layer_files, module_artifact
    from .gaussfile import to_bytes
    notes: list = []
    files = [module_artifact(module, target, False, notes)
             for module in ("emlab_common", "emlgauss", "emlab_tools")]
    layers = (float_layer_files(target, notes)
              if model.covariance_type in ("full", "tied") else [])
    files += layers
    if layers:
        notes.append(f"the precision products run in machine code ({layers[0].path}); the "
                     "rest of the score is bytecode (exact float32, one rounded operation at "
                     "a time)")
    else:
        notes.append("Gaussian detectors run as bytecode on this core (exact float32, one "
                     "rounded operation at a time; machine code only for full and tied "
                     "covariances on ARMv7-M cores)")
    data = to_bytes(model)
    path = name + ".emg"
    files.append(Artifact(path, data, "model", len(data)))
    return Bundle(files, MODULES, "load", (path, model.threshold_bits), bool(layers), notes)


def device_plan(model, form: str, target, name: str, heap_free_bytes: int) -> tuple:
    """("loadable", bundle): one form (the model file read by the runtime)."""
    if form == "inline":
        raise InputError("form='inline' is for trees; Gaussian detectors deploy as "
                         "'loadable'")
    return "loadable", gauss_bundle(target, model, name)


def device_remedy(model, form: str) -> str:
    if model.covariance_type in ("full", "tied"):
        return ("Try covariance_type='diag' (n values per component instead of n(n+1)/2), "
                "fewer components or fewer features")
    return "Try fewer components or fewer features"


def board_estimate(model, board, form: str, bundle, X=None):
    """Flash exact (the bundle's files), RAM from gauss/estimate.py, latency from the
    instruction counts measured on the emulated Cortex-M3 (None on other cores)."""
    from ..board_fit.estimate import Estimate, word_bytes
    from .estimate import gauss_heap, gauss_latency
    files = [(a.path, len(a.data)) for a in bundle.files]
    notes = list(bundle.notes)
    native = sum(len(a.data) for a in bundle.files if a.is_native)
    heap = gauss_heap(model, word_bytes(board), bundle.native,
                      native if board.native_code_in_heap else 0)
    latency, note = gauss_latency(model, board, bundle.native)
    if note:
        notes.append(note)
    return Estimate(board=board, form=form, model=repr(model), files=files,
                    flash_bytes=sum(n for _, n in files),
                    fs_bytes=board.fs_used_bytes(n for _, n in files), heap=heap,
                    latency=latency, notes=notes, kind="anomaly",
                    remedy_rule=lambda est: _remedy(est, model))


def _remedy(est, model) -> str:
    from ..board_fit.estimate import board_tips
    tips = [device_remedy(model, est.form)[4:]]
    return "; ".join(tips + board_tips(est))
