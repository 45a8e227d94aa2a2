"""Build the emulated boards' MicroPython firmware from MicroPython's sources.

``eml.connect("emulated:cortex-m3")`` runs a MicroPython firmware under qemu. This script makes
those firmware files from a MicroPython source tree (tested with v1.28.0: a git checkout of the
tag, or the release tarball, given as a directory or as the ``.tar.gz`` itself) and installs
them where emlearn_lab looks for them::

    python tools/build_firmware.py ~/src/micropython                  # every board it can build
    python tools/build_firmware.py micropython-1.28.0.tar.xz -b cortex-m3 -b cortex-m0
    python tools/build_firmware.py SRC -b cortex-m3 --out ~/fw --build-dir /tmp/fw-build

Each firmware is ``ports/qemu`` of that tree, unmodified, built with: littlefs2; a frozen
``_boot.py`` that mounts a filesystem at ``/`` at every start and soft reset (outside the
heap); the board's heap size; and, for ``cortex-m4f`` and ``cortex-m0``, the board definitions
in ``tools/firmware/boards`` (the M0 gets native code for armv6m and a SysTick scaled to the
16 MHz that qemu gives it). The tree is only read: every object file, mpy-cross included,
goes to a temporary build directory (``--build-dir`` keeps it).

Needs ``make``, a host ``gcc`` (for mpy-cross) and the cross compilers, from Debian::

    apt-get install make gcc gcc-arm-none-eabi libnewlib-arm-none-eabi          # ARM boards
    apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf        # rv32imc (~1.2 GB)

Installs into the first directory of ``$EMLEARN_LAB_FIRMWARE`` if set, else the user's cache
(``~/.cache/emlearn_lab/firmware``); ``--out`` chooses another. About a minute per board on two
cores.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

OVERLAY = Path(__file__).resolve().parent / "firmware"
TESTED_VERSION = (1, 28, 0)


@dataclass(frozen=True)
class Recipe:
    """How one emulated board's firmware is built from ports/qemu."""
    board: str          # emlearn_lab's board name
    firmware: str       # file name that emlearn_lab looks for
    port_board: str     # ports/qemu BOARD
    heap_bytes: int
    compiler: str       # cross compiler the port's Makefile calls
    apt: str            # Debian packages that provide it
    make_args: tuple = ()


_ARM_APT = "gcc-arm-none-eabi libnewlib-arm-none-eabi"
RECIPES = {r.board: r for r in (
    Recipe("cortex-m3", "cortex-m3-200k.elf", "MPS2_AN385", 200 * 1024,
           "arm-none-eabi-gcc", _ARM_APT),
    Recipe("cortex-m3-2m", "cortex-m3-2m.elf", "MPS2_AN385", 2 * 1024 * 1024,
           "arm-none-eabi-gcc", _ARM_APT),
    Recipe("cortex-m4f", "cortex-m4f-200k.elf", "MPS2_AN386", 200 * 1024,
           "arm-none-eabi-gcc", _ARM_APT),
    # Debian's riscv64-unknown-elf gcc 12 has no rv32 multilib for the port's default
    # "rv32imac_zicsr" (it would link the 64-bit picolibc); under the 2.2 ISA spec Zicsr is
    # part of "rv32imac", which has one.
    Recipe("rv32imc", "rv32imc-200k.elf", "VIRT_RV32", 200 * 1024,
           "riscv64-unknown-elf-gcc",
           "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf",
           ("RV32_ARCH=rv32imac -misa-spec=2.2",)),
    Recipe("cortex-m0", "cortex-m0-200k.elf", "MICROBIT", 200 * 1024,
           "arm-none-eabi-gcc", _ARM_APT),
)}


class BuildError(RuntimeError):
    """The firmware could not be built (the message says why and what to do)."""


# -- the source tree -----------------------------------------------------------------------------
def micropython_version(src: Path) -> tuple:
    """(major, minor, micro) read from ``py/mpconfig.h``; BuildError if src is not MicroPython."""
    header = Path(src) / "py" / "mpconfig.h"
    if not (Path(src) / "ports" / "qemu" / "Makefile").is_file() or not header.is_file():
        raise BuildError(
            f"expected a MicroPython source tree (with ports/qemu/Makefile and py/mpconfig.h), "
            f"got {src}: pass the top folder of a MicroPython checkout or release tarball")
    text = header.read_text(errors="replace")
    parts = [re.search(rf"#define MICROPY_VERSION_{k}\s+\(?(\d+)", text)
             for k in ("MAJOR", "MINOR", "MICRO")]
    if not all(parts):
        raise BuildError(f"no MICROPY_VERSION_MAJOR/MINOR/MICRO in {header}")
    return tuple(int(m.group(1)) for m in parts)


def unpack(archive: Path, into: Path) -> Path:
    """Extract a MicroPython source archive into ``into``; the tree's top folder (the
    archive's single top folder, or ``into`` itself when the files sit at its root)."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python < 3.12 without the backported filter
            tar.extractall(into)
    entries = [p for p in into.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return into


# -- the build -----------------------------------------------------------------------------------
def check_tools(recipes) -> None:
    """BuildError naming the Debian packages to install when a needed program is missing."""
    missing = {}
    for prog, apt in [("make", "make"), ("gcc", "gcc")] + \
            [(r.compiler, r.apt) for r in recipes]:
        if shutil.which(prog) is None:
            missing[prog] = apt
    if missing:
        raise BuildError(
            f"the build needs {', '.join(missing)}, not found on PATH: "
            f"apt-get install {' '.join(dict.fromkeys(missing.values()))}")


def mpy_cross_command(src: Path, build: Path, jobs: int) -> list:
    """make command building mpy-cross into ``build`` (not into the source tree)."""
    return ["make", "-C", str(src / "mpy-cross"), f"-j{jobs}", f"BUILD={build}"]


def firmware_command(src: Path, recipe: Recipe, build: Path, mpy_cross: Path,
                     no_lib: Path, jobs: int) -> list:
    """make command building one board's firmware into ``build``/firmware.elf."""
    args = ["make", "-C", str(src / "ports" / "qemu"), f"-j{jobs}",
            f"BOARD={recipe.port_board}", f"BUILD={build}",
            f"MICROPY_HEAP_SIZE={recipe.heap_bytes}",
            "MICROPY_VFS_LFS2=1",
            f"MICROPY_MPYCROSS={mpy_cross}", "MICROPY_MPYCROSS_DEPENDENCY=",
            f"FROZEN_MANIFEST={OVERLAY / 'manifest.py'}",
            # The manifest rule insists on micropython-lib (a submodule, absent from release
            # tarballs) although this manifest uses none of it.
            f"MPY_LIB_DIR={no_lib}",
            f"USER_C_MODULES={OVERLAY / 'cmod'}",
            # (make hands CFLAGS to a shell: the quotes keep <...> from being a redirection)
            f"CFLAGS_EXTRA=-DMP_CONFIGFILE='<emlab_config.h>' -I{OVERLAY}"]
    board_dir = OVERLAY / "boards" / recipe.port_board
    if board_dir.is_dir():
        args.append(f"BOARD_DIR={board_dir}")
    return args + list(recipe.make_args)


def _run(cmd: list, log: Path) -> None:
    with open(log, "ab") as out:
        out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise BuildError(f"{cmd[0]} {' '.join(cmd[1:3])} failed (exit {done.returncode}); "
                         f"full log in {log}; its end:\n" + "\n".join(tail))


def build(src, boards, out_dir, build_dir=None, jobs=None, log=print) -> dict:
    """Build the firmware of ``boards`` from the MicroPython source ``src`` (a directory or a
    tar archive) and copy each into ``out_dir``. Returns {board: installed path}.

    Raises
    ------
    BuildError
        Unknown board, not a MicroPython tree, a missing compiler, or a failed build.
    """
    unknown = [b for b in boards if b not in RECIPES]
    if unknown:
        raise BuildError(f"unknown board {unknown[0]!r}: expected one of "
                         f"{', '.join(RECIPES)}")
    recipes = [RECIPES[b] for b in boards]
    check_tools(recipes)
    jobs = jobs or os.cpu_count() or 1
    out_dir = Path(out_dir).expanduser()
    with tempfile.TemporaryDirectory(prefix="emlab-fw-") as tmp:
        work = Path(build_dir).expanduser().resolve() if build_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        src = Path(src).expanduser().resolve()
        if src.is_file():
            log(f"unpacking {src}")
            src = unpack(src, work / "src")
        version = micropython_version(src)
        if version != TESTED_VERSION:
            log(f"note: MicroPython {'.'.join(map(str, version))}; these settings were tested "
                f"with {'.'.join(map(str, TESTED_VERSION))}")
        no_lib = work / "no-micropython-lib"
        no_lib.mkdir(exist_ok=True)
        (no_lib / "README.md").write_text("empty: the frozen manifest uses no package\n")
        build_log = work / "build.log"
        if build_dir is None:
            # the temporary directory goes when done: the log stays for a failed build
            fd, name = tempfile.mkstemp(prefix="emlab-firmware-", suffix=".log")
            os.close(fd)
            build_log = Path(name)
        log(f"building mpy-cross (log: {build_log})")
        _run(mpy_cross_command(src, work / "mpy-cross", jobs), build_log)
        mpy_cross = work / "mpy-cross" / "mpy-cross"
        installed = {}
        for recipe in recipes:
            t0 = time.monotonic()
            log(f"building {recipe.board}")
            board_build = work / f"build-{recipe.board}"
            _run(firmware_command(src, recipe, board_build, mpy_cross, no_lib, jobs),
                 build_log)
            out_dir.mkdir(parents=True, exist_ok=True)
            target = out_dir / recipe.firmware
            partial = target.with_name(target.name + ".part")
            shutil.copyfile(board_build / "firmware.elf", partial)
            os.replace(partial, target)   # a reader never sees half a file
            installed[recipe.board] = target
            log(f"{recipe.board}: {target} ({time.monotonic() - t0:.0f} s)")
        if build_dir is None:
            build_log.unlink()
    return installed


def default_out_dir() -> Path:
    """Where emlearn_lab looks first: $EMLEARN_LAB_FIRMWARE's first directory, else the
    user's cache."""
    first = [p for p in os.environ.get("EMLEARN_LAB_FIRMWARE", "").split(os.pathsep) if p]
    if first:
        return Path(first[0]).expanduser()
    cache = os.environ.get("EMLEARN_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emlearn_lab")
    return Path(cache) / "firmware"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Build emlearn_lab's emulated-board firmware from MicroPython's sources.")
    parser.add_argument("source", help="MicroPython source tree (directory) or its .tar.* archive")
    parser.add_argument("-b", "--board", action="append", choices=list(RECIPES),
                        help="board to build (repeat for several; default: every board whose "
                             "compiler is installed)")
    parser.add_argument("--out", help=f"install directory (default: {default_out_dir()})")
    parser.add_argument("--build-dir", help="keep the object files here (default: a temporary "
                                            "directory, removed)")
    parser.add_argument("-j", "--jobs", type=int, help="parallel compile jobs (default: cores)")
    args = parser.parse_args(argv)
    boards = args.board or [b for b, r in RECIPES.items() if shutil.which(r.compiler)]
    if not boards:
        print("error: no cross compiler found: apt-get install " + _ARM_APT, file=sys.stderr)
        return 2
    skipped = [b for b in RECIPES if b not in boards and not args.board]
    if skipped:
        print(f"skipping {', '.join(skipped)} (compiler missing: apt-get install "
              f"{' '.join(dict.fromkeys(RECIPES[b].apt for b in skipped))})")
    try:
        done = build(args.source, boards, args.out or default_out_dir(),
                     build_dir=args.build_dir, jobs=args.jobs)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    where = Path(next(iter(done.values()))).parent
    print(f"installed {len(done)} firmware file(s) in {where}; try: python3 -c \"import "
          f"emlearn_lab as eml; print(eml.connect('emulated:{next(iter(done))}'))\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
