"""The build cache (compiled .mpy per source, target and compiler) never hands out a damaged
file, notices a changed compiler, and stays within its bounds."""
import os
import stat

import pytest

from emlearn_lab.runtime import build
from emlearn_lab.runtime.build import Target, compile_source
from emlearn_lab.device_src import device_source

TARGET = Target(6, 3, "armv7m")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMLEARN_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mpy"


def _fake_compiler(path, payload: bytes, log):
    """A stand-in for mpy-cross that writes ``payload`` to its -o file and logs each run."""
    assert len(payload) == 4
    path.write_text("#!/bin/sh\n"
                    f"echo run >> '{log}'\n"
                    "while [ $# -gt 0 ]; do\n"
                    f"  if [ \"$1\" = -o ]; then printf 'M\\006{payload.decode()}' > \"$2\"; fi\n"
                    "  shift\n"
                    "done\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake(tmp_path, monkeypatch, cache):
    """mpy_cross_binary() -> a fake compiler; returns (binary path, number of runs so far)."""
    log = tmp_path / "runs.log"
    (tmp_path / "bin").mkdir()
    binary = _fake_compiler(tmp_path / "bin" / "mpy-cross", b"AAAA", log)
    monkeypatch.setattr(build, "mpy_cross_binary", lambda target: binary)
    return binary, lambda: len(log.read_text().splitlines()) if log.exists() else 0


def _entries(cache):
    return sorted(p for p in cache.iterdir() if not p.name.endswith(".tmp"))


def test_a_truncated_cached_file_is_rebuilt(cache):
    src = device_source("emlab_tools.py")
    first = compile_source(src, "emlab_tools.py", TARGET, native=False)
    (entry,) = _entries(cache)
    whole = entry.read_bytes()
    entry.write_bytes(whole[:len(whole) // 2])        # e.g. a disk that filled up mid-write
    assert compile_source(src, "emlab_tools.py", TARGET, native=False) == first
    (repaired,) = _entries(cache)
    assert repaired.read_bytes() == whole             # replaced by the rebuilt file


@pytest.mark.parametrize("damage", ["flip", "empty", "append"])
def test_a_damaged_cached_file_is_replaced_not_used(cache, fake, damage):
    binary, runs = fake
    assert compile_source("x = 1", "x.py", TARGET, native=False) == b"M\x06AAAA"
    (entry,) = _entries(cache)
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[-1] ^= 0x01
    elif damage == "empty":
        data = bytearray()
    else:
        data += b"\0"
    entry.write_bytes(bytes(data))
    assert compile_source("x = 1", "x.py", TARGET, native=False) == b"M\x06AAAA"
    assert runs() == 2                                  # rebuilt, not trusted
    assert compile_source("x = 1", "x.py", TARGET, native=False) == b"M\x06AAAA"
    assert runs() == 2                                  # and the replacement is used


def test_the_key_hashes_the_compiler_content_not_its_size(cache, fake, tmp_path):
    binary, runs = fake
    assert compile_source("x = 1", "x.py", TARGET, native=False) == b"M\x06AAAA"
    size = binary.stat().st_size
    _fake_compiler(binary, b"BBBB", tmp_path / "runs.log")     # same path, same size
    assert binary.stat().st_size == size
    st = binary.stat()
    os.utime(binary, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert compile_source("x = 1", "x.py", TARGET, native=False) == b"M\x06BBBB"
    assert runs() == 2


def test_the_compiler_is_hashed_once_per_process(cache, fake, monkeypatch):
    binary, runs = fake
    hashed = []
    real = build._file_sha256
    monkeypatch.setattr(build, "_file_sha256", lambda p: hashed.append(p) or real(p))
    build._BINARY_DIGESTS.clear()
    for i in range(5):
        compile_source(f"x = {i}", "x.py", TARGET, native=False)
    assert hashed == [binary]


def test_the_cache_is_bounded_least_recently_used_first(cache, fake, monkeypatch):
    binary, runs = fake
    monkeypatch.setattr(build, "CACHE_MAX_FILES", 3)
    for i in range(3):
        compile_source(f"x = {i}", "x.py", TARGET, native=False)
    compile_source("x = 0", "x.py", TARGET, native=False)       # a hit: now the most recent
    assert runs() == 3
    for i in range(3, 8):
        compile_source(f"x = {i}", "x.py", TARGET, native=False)
        assert len(_entries(cache)) <= 3
    assert runs() == 8
    compile_source("x = 7", "x.py", TARGET, native=False)       # kept: most recent
    assert runs() == 8
    compile_source("x = 0", "x.py", TARGET, native=False)       # evicted by now
    assert runs() == 9


def test_the_cache_is_bounded_in_bytes(cache, fake, monkeypatch):
    binary, runs = fake
    compile_source("x = 0", "x.py", TARGET, native=False)
    (entry,) = _entries(cache)
    one = entry.stat().st_size
    monkeypatch.setattr(build, "CACHE_MAX_BYTES", 2 * one)
    for i in range(1, 6):
        compile_source(f"x = {i}", "x.py", TARGET, native=False)
        assert sum(p.stat().st_size for p in _entries(cache)) <= 2 * one
    assert len(_entries(cache)) == 2


def test_stale_temp_files_and_old_entries_are_removed(cache, fake):
    compile_source("x = 0", "x.py", TARGET, native=False)
    dead = cache / f"{'0' * 24}.999999999.tmp"        # a writer that was killed (no such pid)
    dead.write_bytes(b"half")
    live = cache / f"{'1' * 24}.{os.getpid()}.tmp"    # a writer still at work
    live.write_bytes(b"half")
    old = cache / f"{'2' * 24}.mpy"                   # the format before content hashes
    old.write_bytes(b"M\x06")
    compile_source("x = 1", "x.py", TARGET, native=False)
    assert not dead.exists() and not old.exists() and live.exists()


def test_an_unusable_cache_directory_still_builds(tmp_path, fake, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("EMLEARN_LAB_CACHE", str(blocker))
    assert compile_source("x = 1", "x.py", TARGET, native=False) == b"M\x06AAAA"
