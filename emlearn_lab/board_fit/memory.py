"""RAM a deployed model takes in MicroPython's GC heap, before anything is flashed.

The figure is what deploy measures: ``gc.mem_alloc()`` growth, after a collection, from
importing the runtime and loading the model on a freshly started interpreter. It is built
from three parts:

- buffers whose sizes follow from the model: the model blob (loadable form), the threshold
  and leaf tables (inline form), the work array. Each is an allocation rounded up to whole
  GC blocks (4 machine words: 32 bytes on 64-bit ports, 16 on 32-bit ones);
- fixed costs: module objects, functions, qstrs, the Model object and its closures. They are
  measured on the virtual device (x64) by ``python -m emlearn_lab.board_fit.calibrate`` and
  stored in calibration.toml with a hash of the runtime sources, so a stale calibration fails
  the test suite instead of drifting;
- machine code of native (viper) modules, on ports that load it into the heap (ARM ports;
  see the board table's ``native_code_in_heap``), read exactly from the .mpy file.

On boards with an emulated core of their family (cores.py) the fixed costs are the ones
measured on that core (32-bit words; ``python -m emlearn_lab.board_fit.calibrate_mcu``, stored in
instructions.toml). Elsewhere (Xtensa, boards without native code) they are modelled from the
x64 figures: bytecode keeps its size and the rest (objects, tables, pointers) scales with the
machine word.
"""
import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .mpyfile import parse_mpy

__all__ = ["HeapEstimate", "heap_estimate", "assemble_heap", "calibration", "runtime_hash",
           "block_round"]

_CALIBRATED_WORD_BYTES = 8      # the virtual device: unix port on x64


def fixed_cost(key: str, core: str | None = None) -> tuple:
    """(bytes, word size they were measured at) of fixed cost ``key``: measured on the
    emulated ``core`` where instructions.toml has it, else on the virtual device (x64)."""
    from .cores import instructions
    heap = instructions().get("heap", {}).get(core or "", {})
    if key in heap:
        return heap[key], 4
    return calibration()["heap_x64"][key], _CALIBRATED_WORD_BYTES


def block_round(n: int, block: int) -> int:
    """Bytes the GC hands out for an n-byte allocation (whole blocks; 0 stays 0)."""
    return -(-int(n) // block) * block


def runtime_hash(networks: bool = False) -> str:
    """Hash of everything the fixed costs depend on: for trees their device sources (not the
    network runtime, emlnet*) and the inline generator; with ``networks``, the network
    runtime's sources (emlnet*, emlab_common) and the network file writer. Both also hash
    the generators of the Thumb machine code ARM cores run instead of viper."""
    digest = hashlib.sha256()
    src = resources.files("emlearn_lab.device_src")
    for name in sorted(p.name for p in src.iterdir() if p.name.endswith((".py", ".tmpl"))):
        if name in _NOT_MODEL_RUNTIME or name.startswith(_OTHER_KINDS) or name == "__init__.py":
            continue
        if _is_net_source(name) != networks and not (networks and name == "emlab_common.py"):
            continue
        digest.update(name.encode() + b"\0" + src.joinpath(name).read_bytes() + b"\0")
    extras = ([("nets", "netfile.py"), ("runtime", "thumb_net.py"),
               ("runtime", "thumb_fpu_net.py"), ("runtime", "thumb_soft_net.py"),
               ("runtime", "thumb2_asm.py")] if networks
              else [("trees", "inline.py"), ("trees", "inline_thumb.py"),
                    ("trees", "ties_thumb.py"),
                    ("runtime", "thumb_walker.py"),
                    ("runtime", "rv32_walker.py")])
    extras.append(("runtime", "thumb_asm.py"))
    for package, name in extras:
        digest.update(resources.files("emlearn_lab." + package).joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


# Device sources that no model deploy pushes (the playback sensor and the sensor drivers, the
# live comparison's stream loop, the installed app's loop and post-processing, the feature
# extractors emlfx*.py, the package's __init__.py): no fixed cost of a model depends on them.
# Device sources of the kinds whose estimates do not come from this calibration (feature
# extractors, detectors, neighbours).
_OTHER_KINDS = ("emlfx", "emlab_detect", "emlgauss", "emlknn")
_NOT_MODEL_RUNTIME = {"emlab_sensor.py", "emlab_stream.py", "emlab_app.py", "emlab_post.py",
                      "emlab_drivers.py"}


def _is_net_source(name: str) -> bool:
    return name.startswith("emlnet")


_CALIBRATION: dict | None = None


def calibration() -> dict:
    global _CALIBRATION
    if _CALIBRATION is None:
        text = resources.files("emlearn_lab.board_fit").joinpath("calibration.toml").read_text()
        _CALIBRATION = tomllib.loads(text)
    return _CALIBRATION


@dataclass
class HeapEstimate:
    fixed_bytes: int          # runtime modules, model object, closures
    buffer_bytes: int         # model-sized buffers
    native_code_bytes: int    # machine code loaded into the heap (0 where the port does not)
    word_bytes: int
    largest_block_bytes: int = 0   # the biggest single allocation (needs contiguous heap)
    machine_code_bytes: int = 0    # all .mpy machine code, in the heap or not

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + self.buffer_bytes + self.native_code_bytes


def _allocations(form: str, model, inline_info: dict, arch: str | None = None) -> list:
    """Byte sizes of the model-sized allocations a loaded model keeps on a core `arch`."""
    from ..runtime.thumb_walker import THUMB_ARCHS
    from ..trees.modelfile import dense_leaves
    thumb = form == "loadable" and arch in THUMB_ARCHS
    work = 4 * (model.n_features + model.n_outputs + model.n_trees)
    if thumb and dense_leaves(model):
        # The Thumb walkers' lists of a dense model's non-zero leaf values, in the work
        # buffer (emltrees.leaf_entries): an offset per leaf (+1), a word per value.
        work += 4 * (model.n_leaves + 1 + int(np.count_nonzero(model.leaves)))
    # Learned-scale int16 models quantise into an array('h') of n_features (not the
    # machine-code forms: their thresholds are float32 keys).
    float_keys = model.quantiser is not None and thumb
    quantises = model.quantiser is not None and not float_keys and (
        form == "loadable" or inline_info["quantises"])
    quant = [2 * model.n_features] if quantises else []
    if form == "loadable":
        from ..trees.modelfile import LAYOUT_TABLE_CELLS, payload_bytes, to_bytes
        from ..trees.ties_thumb import native_ties
        # The loadable work buffer is headed by the runtime's layout table (emltrees.py);
        # where near ties are settled in machine code, the probabilities are in RAM, with
        # its parameters and scratch cells (emlab_common.tie_resolver). The Thumb walkers'
        # float32 keys of a learned-scale int16 model's nodes follow its file in one blob.
        blob = payload_bytes(to_bytes(model)) + (4 * model.n_nodes if float_keys else 0)
        ties = ([8 * model.n_leaves * model.n_outputs, 4 * 6, 4 * 12]
                if native_ties(model, arch) else [])
        return [blob, work + 4 * LAYOUT_TABLE_CELLS] + quant + ties
    # Inline: each table is a bytes constant of the module (+ its terminating zero) plus its
    # bytearray copy (the machine-code form has none); the work array (inline_layout's cells)
    # ends with the near-tie margin.
    sizes = [4 * inline_info["work_cells"]] + quant
    if inline_info.get("ties_bytes"):         # near ties settled in the machine code
        sizes.append(inline_info["ties_bytes"])
    tables = [inline_info["threshold_bytes"], inline_info["leaf_bytes"]]
    if quantises:
        tables.append(model.quantiser.table_bytes(model.n_features))
    for n in tables:
        sizes += [n + 1, n] if n else []
    return sizes


def _buffers(form: str, model, block: int, inline_info: dict) -> int:
    return sum(block_round(n, block) for n in _allocations(form, model, inline_info))


def heap_estimate(form: str, model, files, word_bytes: int, native_code_in_heap: bool,
                  inline_info: dict | None = None, core: str | None = None,
                  arch: str | None = None) -> HeapEstimate:
    """Heap bytes for a model deployed as `form` with these artifacts (deploy's files).

    inline_info: for the inline form, trees.inline.inline_layout's sizes.
    core: the emulated core whose measured fixed costs apply (cores.core_for(board)).
    arch: the board's mpy-cross -march (what its native code can do).
    """
    ties = model.leaf_proba is not None
    native_runtime = any(a.path == "emltrees_kernels.mpy" for a in files)
    if form == "loadable":
        keys = [("loadable" if native_runtime else "bytecode") + ("_ties" if ties else "")]
    else:
        keys = ["inline_ties" if ties else "inline"] + \
            ["inline_per_function"] * (inline_info["functions"] - 1)
    if model.quantiser is not None:
        # The quantiser module and its closures (native; the bytecode runtime has its own).
        keys.append(form + "_quantiser" if native_runtime or form == "inline"
                    else "bytecode_quantiser")
    costs = [fixed_cost(k, core) for k in keys]
    words = {w for _, w in costs}
    if len(words) > 1:          # some keys measured on the core, some not: use x64 for all
        costs = [fixed_cost(k) for k in keys]
    return assemble_heap(sum(c for c, _ in costs), files, _loaded_modules(form, files),
                         _allocations(form, model, inline_info or {}, arch), word_bytes,
                         native_code_in_heap, fixed_word_bytes=costs[0][1])


def assemble_heap(fixed_x64: float, files, loaded: set, sizes: list, word_bytes: int,
                  native_code_in_heap: bool, at_load: tuple = (),
                  fixed_word_bytes: int = _CALIBRATED_WORD_BYTES) -> HeapEstimate:
    """A HeapEstimate from the fixed costs calibrated on x64, the deployed files (``loaded``:
    the .mpy paths imported when the model loads), the model-sized allocations the loaded
    model keeps (``sizes``) and transient ones that only bound the largest block (``at_load``).
    On other word sizes the fixed costs scale with the word, except the bytecode of the loaded
    modules, which is copied into the heap unchanged. ``fixed_word_bytes``: the word size
    ``fixed_x64`` was measured at (4 when measured on an emulated core)."""
    block = 4 * word_bytes
    mpys = {a.path: parse_mpy(a.data) for a in files if a.path.endswith(".mpy")}
    code = [n for m in mpys.values() for kind, n in m.code if kind != "bytecode"]
    fixed = fixed_x64
    if word_bytes != fixed_word_bytes:
        bytecode = sum(m.bytecode_bytes for path, m in mpys.items() if path in loaded)
        fixed = bytecode + (fixed - bytecode) * word_bytes // fixed_word_bytes
    largest = max([*sizes, *at_load] + (code if native_code_in_heap else []))
    return HeapEstimate(fixed_bytes=int(fixed),
                        buffer_bytes=sum(block_round(n, block) for n in sizes),
                        native_code_bytes=sum(block_round(n, block) for n in code)
                        if native_code_in_heap else 0,
                        word_bytes=word_bytes, largest_block_bytes=block_round(largest, block),
                        machine_code_bytes=sum(code))


def _loaded_modules(form: str, files) -> set:
    """The .mpy files imported when the model loads (emltrees_pure and emlab_tools are not;
    emlab_f64 only on a near tie)."""
    paths = {a.path for a in files if a.path.endswith(".mpy")}
    skip = {"emlab_tools.mpy", "emlab_f64.mpy"}
    if "emltrees_kernels.mpy" in paths:
        skip.add("emltrees_pure.mpy")
    return paths - skip
