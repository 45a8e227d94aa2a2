"""The emulated cores that latency and RAM estimates for microcontroller boards are measured on.

A board's architecture picks the emulated core of its family (``CORE_OF_ARCH``): armv6m
boards (RP2040) -> cortex-m0, armv7m/armv7em -> cortex-m3, armv7emsp/armv7emdp (M4F, M33,
M7) -> cortex-m4f, rv32imc (ESP32-C3) -> rv32imc. Xtensa has no emulated core: its boards keep
the host-measured costs scaled by CoreMark/MHz, and their estimates say so.

``instructions.toml`` (written by ``python -m emlearn_lab.board_fit.calibrate_mcu``) holds, per
core, the instructions each operation of each runtime takes (measured on the emulated board,
qemu ``-icount``: exact, whatever the host's load) and the fixed heap costs measured there.
"""
import dataclasses
import tomllib
from importlib import resources

__all__ = ["CORE_OF_ARCH", "CORE_ARCH", "core_for", "emulated_board", "instructions",
           "board_cpi", "EMULATED_HEAP_BYTES"]

CORE_OF_ARCH = {"armv6m": "cortex-m0", "armv7m": "cortex-m3", "armv7em": "cortex-m3",
                "armv7emsp": "cortex-m4f", "armv7emdp": "cortex-m4f", "rv32imc": "rv32imc"}
# The mpy-cross arch each emulated firmware reports (sys.implementation._mpy).
CORE_ARCH = {"cortex-m0": "armv6m", "cortex-m3": "armv7em", "cortex-m4f": "armv7emsp",
             "rv32imc": "rv32imc"}
EMULATED_HEAP_BYTES = 198 * 1024     # the *-200k firmware's gc.mem_free() after boot, about

_DATA: dict | None = None


def instructions() -> dict:
    """instructions.toml as a dict ({} when it is missing)."""
    global _DATA
    if _DATA is None:
        path = resources.files("emlearn_lab.board_fit").joinpath("instructions.toml")
        _DATA = tomllib.loads(path.read_text()) if path.is_file() else {}
    return _DATA


def core_for(board) -> str | None:
    """The emulated core whose instruction counts stand for this board (None: no such core,
    e.g. Xtensa, the host, or a port without native code)."""
    if board.virtual:
        return None
    return CORE_OF_ARCH.get(board.arch)


def emulated_board(core: str):
    """A Board for the emulated core itself: 1000 MHz at 1 cycle per instruction, so its
    latency in us equals the emulated board's ``ticks_us`` (1 us = 1000 instructions)."""
    from .table import Board
    if core not in CORE_ARCH:
        from ..exceptions import InputError
        raise InputError(f"no emulated core {core!r}: expected one of {', '.join(CORE_ARCH)}")
    src = f"the emulated {core} board (emlearn_lab.device.emulated, ../shared/qemu README)"
    return Board(
        id=f"emulated:{core}", name=f"Emulated {core} (qemu)", mcu="qemu", core=core, cores=1,
        clock_mhz=1000.0, flash_bytes=4 * 2**20, ram_bytes=256 * 1024,
        heap_bytes=EMULATED_HEAP_BYTES, fs_bytes=4 * 2**20, fs_block_bytes=4096,
        coremark=0.0, fpu="sp" if core == "cortex-m4f" else "none", arch=CORE_ARCH[core],
        port="qemu", native_code_in_heap=True, cpi=1.0,
        sources={k: src for k in ("clock_mhz", "flash_bytes", "ram_bytes", "heap_bytes",
                                  "fs_bytes", "fs_block_bytes", "coremark", "fpu", "arch",
                                  "native_code_in_heap")}
        | {"cpi": "qemu -icount shift=0: time.ticks_us() counts 1000 instructions per us"})


def board_cpi(board) -> tuple:
    """(cycles per instruction, its source) for a board: its own ``cpi`` figure when given,
    else the default of its emulated core in instructions.toml."""
    if board.cpi > 0:
        return float(board.cpi), board.sources.get("cpi", "")
    core = core_for(board)
    default = instructions().get("cpi_default", {}).get(core or "", {})
    if default:
        return float(default["cpi"]), "default for " + core + ": " + default["source"]
    return 1.0, "assumed 1 cycle per instruction (no figure for this board or core)"


def replace_board(board, **changes):
    return dataclasses.replace(board, **changes)
