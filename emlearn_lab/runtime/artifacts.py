"""What goes onto a device for a model: runtime modules (.mpy built for its target) and model."""
import warnings
from dataclasses import dataclass

from ..device_src import device_source
from ..exceptions import BuildError
from .build import Target, compile_source
from .thumb_fpu_net import FPU_ARCHS, fpu_net_source
from .thumb_soft_net import SOFT_ARCHS, soft_net_source

__all__ = ["Artifact", "Bundle", "ROLES", "runtime_bundle", "net_bundle", "float_layer_files",
           "module_artifact", "tie_files"]

# What a file is to the device, so that no one classifies files by their names:
# "runtime"    a bytecode module of the runtime (shared by every model of its kind)
# "native"     a module of native (viper or machine) code, kept in the heap on microcontrollers
# "model"      the model as data (a tree or network file), read into RAM at load
# "model_code" the model compiled to native code (the inline form)
# "data"       what else a model or pipeline reads (near-tie probabilities, a feature spec)
ROLES = ("runtime", "native", "model", "model_code", "data")


@dataclass(frozen=True)
class Artifact:
    path: str               # on the device
    data: bytes
    role: str = "runtime"
    heap_bytes: int = 0     # what loading it allocates at least (its payload in RAM)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"Artifact role must be one of {ROLES}, got {self.role!r}")

    @property
    def is_model(self) -> bool:
        """The model itself, as data or as code (not the runtime, not auxiliary data)."""
        return self.role in ("model", "model_code")

    @property
    def is_native(self) -> bool:
        return self.role in ("native", "model_code")


@dataclass
class Bundle:
    """Files to push plus how to load the model on the device."""
    files: list
    modules: tuple       # module names the loader needs, imported fresh when measuring RAM
    loader: str          # function of modules[-1] that returns the model
    args: tuple          # its arguments
    native: bool
    notes: list


def module_artifact(name: str, target: Target, native: bool, notes: list,
                    source: str | None = None) -> Artifact:
    """name.py (or the given source) compiled for target; the .py source itself when no
    mpy-cross matches."""
    source = device_source(name + ".py") if source is None else source
    try:
        return Artifact(name + ".mpy", compile_source(source, name + ".py", target, native),
                        "native" if native else "runtime")
    except BuildError as e:
        if "no mpy-cross" not in str(e):
            raise
        msg = f"{e}; sent {name}.py as source (compiled on the device, slower import)"
        if not any(str(e) in n for n in notes):
            warnings.warn(msg, RuntimeWarning, stacklevel=4)
        notes.append(msg)
        return Artifact(name + ".py", source.encode(), "native" if native else "runtime")


def tie_files(model, name: str, target: Target, notes: list) -> tuple:
    """(files, tie file paths) for exact near-tie settling (forest classifiers): the soft-float
    module and the model's float64 leaf probabilities; nothing for other models."""
    if model.leaf_proba is None:
        return [], ()
    ties = Artifact(name + ".ties", model.leaf_proba.astype("<f8").tobytes(), "data")
    return [module_artifact("emlab_f64", target, False, notes), ties], (ties.path,)


def quantiser_files(model, target: Target, notes: list) -> list:
    """The native quantiser for learned-scale int16 models (the bytecode one is in
    emltrees_pure); nothing for other models or ports without native code."""
    if model.quantiser is None or target.arch is None:
        return []
    try:
        return [module_artifact("emlab_quant", target, True, notes)]
    except BuildError as e:
        notes.append(f"native quantiser unavailable ({str(e).splitlines()[0]})")
        return []


def runtime_bundle(target: Target, model, name: str, layout: str | None = None) -> Bundle:
    """The loadable form: tree runtime + the model file (+ tie file). The native kernels
    module carries the walker for the model file's layout (smallest, or `layout`)."""
    from ..trees.modelfile import file_kernel_name, payload_bytes, to_bytes
    from .kernels import kernels_source
    notes: list = []
    data = to_bytes(model, layout=layout)
    model_path = name + ".eml"
    files = [module_artifact(module, target, False, notes)
             for module in ("emlab_common", "emltrees", "emltrees_pure", "emlab_tools")]
    native = target.arch is not None
    if native:
        walker = file_kernel_name(data)
        try:
            files.append(module_artifact("emltrees_kernels", target, True, notes,
                                         source=kernels_source([walker], target.arch)))
        except BuildError as e:
            native = False
            notes.append(f"native kernels unavailable ({str(e).splitlines()[0]})")
    if not native:
        msg = (f"device target {target}: no native (viper) code, falling back to bytecode "
               "kernels, roughly 50-100x slower per predict")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        notes.append(msg)
    files += quantiser_files(model, target, notes)
    ties, tie_paths = tie_files(model, name, target, notes)
    files += [Artifact(model_path, data, "model", payload_bytes(data))] + ties
    return Bundle(files, ("emlab_common", "emltrees_pure", "emlab_quant", "emltrees_kernels",
                          "emltrees"), "load", (model_path,) + tie_paths, native, notes)


def float_layer_files(target: Target, notes: list) -> list:
    """The machine-code float32 layers for the target's core: emlnet_fpu on a core with an
    FPU, emlnet_soft on ARMv7-M without one; nothing elsewhere (bytecode), or when the build
    fails (noted)."""
    for archs, module, make in ((FPU_ARCHS, "emlnet_fpu", fpu_net_source),
                                (SOFT_ARCHS, "emlnet_soft", soft_net_source)):
        if target.arch in archs:
            try:
                return [module_artifact(module, target, True, notes, source=make())]
            except BuildError as e:
                notes.append(f"{module} unavailable ({str(e).splitlines()[0]})")
    return []


def net_bundle(target: Target, model, name: str) -> Bundle:
    """Networks: the network runtime + the network file. int8 weights run in the native
    kernel (Thumb machine code on ARM cores, viper elsewhere; its bytecode twin where the port
    has no native code); float32 weights in bytecode, or on the FPU of cores that have one
    (emlnet_fpu: Cortex-M4F/M7), or in integer Thumb-2 code on ARMv7-M cores without one
    (emlnet_soft: Cortex-M3/M4)."""
    from ..nets.netfile import to_bytes
    notes: list = []
    model_path = name + ".emn"
    arith = "emlnet_float" if model.int8 is None else "emlnet_int8"
    files = [module_artifact(module, target, False, notes)
             for module in ("emlab_common", "emlnet", "emlab_tools", arith)]
    native = False
    if model.int8 is None:
        layers = float_layer_files(target, notes)
        files += layers
        native = bool(layers)
    if model.int8 is not None:
        files.append(module_artifact("emlnet_pure", target, False, notes))
        if target.arch is not None:
            try:
                from .kernels import net_kernels_source
                files.append(module_artifact("emlnet_kernels", target, True, notes,
                                             source=net_kernels_source(target.arch)))
                native = True
            except BuildError as e:
                notes.append(f"native kernel unavailable ({str(e).splitlines()[0]})")
        if not native:
            msg = (f"device target {target}: no native (viper) code, falling back to the "
                   "bytecode int8 kernel, roughly 50-100x slower per predict")
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
            notes.append(msg)
    data = to_bytes(model)
    files.append(Artifact(model_path, data, "model", len(data)))
    return Bundle(files, ("emlab_common", "emlnet_pure", "emlnet_kernels", "emlnet_fpu",
                          "emlnet_soft", arith, "emlnet"),
                  "load", (model_path,), native, notes)
