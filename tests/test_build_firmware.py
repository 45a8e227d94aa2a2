"""tools/build_firmware.py: the emulated boards' firmware built from MicroPython's sources.

The fast tests check the make commands and the error messages. The slow one builds the
cortex-m3 firmware from ``../shared/micropython`` (MicroPython v1.28.0's release tarball beside
a development checkout), checks that the source tree was only read, and deploys a model on it
through ``eml.connect("emulated:cortex-m3")``: it skips where the tarball, arm-none-eabi-gcc or
qemu is absent, and fails under CI, which has them. (rv32imc's compiler, Debian's
gcc-riscv64-unknown-elf with picolibc, is ~1.2 GB installed: supported, not built in CI.)
"""
import importlib.util
import os
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from _require import skip_or_fail
from sklearn.ensemble import RandomForestClassifier

import emlearn_lab as eml
from emlearn_lab.device import emulated

ROOT = Path(__file__).resolve().parents[1]
SHARED_SOURCE = ROOT.parent / "shared" / "micropython"


def _load_tool():
    spec = importlib.util.spec_from_file_location("build_firmware",
                                                  ROOT / "tools" / "build_firmware.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bf = _load_tool()


def _fake_tree(top: Path, version=(1, 28, 0)) -> Path:
    (top / "ports" / "qemu").mkdir(parents=True)
    (top / "ports" / "qemu" / "Makefile").write_text("# ports/qemu\n")
    (top / "py").mkdir()
    (top / "py" / "mpconfig.h").write_text(
        "".join(f"#define MICROPY_VERSION_{k} {v}\n"
                for k, v in zip(("MAJOR", "MINOR", "MICRO"), version)))
    return top


# -- no build ------------------------------------------------------------------------------------
def test_every_emulated_board_has_a_recipe_with_the_file_name_the_library_looks_for():
    assert set(bf.RECIPES) == set(emulated.BOARDS)
    for name, recipe in bf.RECIPES.items():
        assert recipe.firmware == emulated.BOARDS[name].firmware


@pytest.mark.parametrize("board", list(bf.RECIPES))
def test_make_commands_write_only_into_the_build_directory(board, tmp_path):
    src, work = tmp_path / "src", tmp_path / "work"
    recipe = bf.RECIPES[board]
    cross = bf.mpy_cross_command(src, work / "mpy-cross", 2)
    assert cross[:3] == ["make", "-C", str(src / "mpy-cross")]
    assert f"BUILD={work / 'mpy-cross'}" in cross
    cmd = bf.firmware_command(src, recipe, work / "b", work / "mpy-cross" / "mpy-cross",
                              work / "nolib", 2)
    args = dict(a.split("=", 1) for a in cmd if "=" in a)
    assert cmd[:3] == ["make", "-C", str(src / "ports" / "qemu")]
    assert args["BUILD"] == str(work / "b")
    # mpy-cross is the one built out of tree; the port's rule that builds it in the tree is off
    assert args["MICROPY_MPYCROSS"] == str(work / "mpy-cross" / "mpy-cross")
    assert args["MICROPY_MPYCROSS_DEPENDENCY"] == ""
    assert args["MICROPY_HEAP_SIZE"] == str(recipe.heap_bytes)
    assert args["MICROPY_VFS_LFS2"] == "1"
    assert "MP_CONFIGFILE='<emlab_config.h>'" in args["CFLAGS_EXTRA"]
    assert Path(args["FROZEN_MANIFEST"]).is_file()
    # our own board definitions for the boards the port lacks (M4F) or that we change (M0)
    if recipe.port_board in ("MPS2_AN386", "MICROBIT"):
        board_dir = Path(args["BOARD_DIR"])
        assert (board_dir / "mpconfigboard.mk").is_file()
        assert board_dir.parent == bf.OVERLAY / "boards"
    else:
        assert "BOARD_DIR" not in args


def test_heaps_match_the_board_descriptions():
    assert bf.RECIPES["cortex-m3"].heap_bytes == 200 * 1024
    assert bf.RECIPES["cortex-m3-2m"].heap_bytes == 2 * 1024 * 1024


def test_cortex_m0_board_keeps_native_code_armv6m_and_ticks_at_16_mhz():
    mk = (bf.OVERLAY / "boards" / "MICROBIT" / "mpconfigboard.mk").read_text()
    assert "-DMICROPY_EMIT_THUMB=1 -DMICROPY_EMIT_THUMB_ARMV7M=0" in mk
    assert "-DCPU_FREQ_HZ=16000000u" in mk
    assert "-march=armv6m" in mk
    ld = (bf.OVERLAY / "boards" / "MICROBIT" / "emlab_nrf51.ld").read_text()
    assert "LENGTH = 512K" in ld   # the image stays below _boot.py's flash filesystem
    assert "_Nrf51Flash(0x80000, 512 * 1024)" in (bf.OVERLAY / "_boot.py").read_text()


def test_boot_script_is_python():
    compile((bf.OVERLAY / "_boot.py").read_text(), "_boot.py", "exec")


def test_unknown_board_names_the_boards(tmp_path):
    with pytest.raises(bf.BuildError, match=r"^unknown board 'cortex-m7': expected one of "
                                            r"cortex-m3, cortex-m3-2m, cortex-m4f, rv32imc"):
        bf.build(tmp_path, ["cortex-m7"], tmp_path / "out")


def test_a_folder_that_is_not_micropython_is_refused(tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("make") is None:
        skip_or_fail("this check runs after the compiler checks: it needs arm-none-eabi-gcc "
                     "and make")
    with pytest.raises(bf.BuildError, match=r"^expected a MicroPython source tree .*got "):
        bf.build(tmp_path, ["cortex-m3"], tmp_path / "out")


def test_a_missing_compiler_names_the_debian_packages(monkeypatch, tmp_path):
    real_which = shutil.which
    monkeypatch.setattr(bf.shutil, "which",
                        lambda p: None if p == "riscv64-unknown-elf-gcc" else real_which(p))
    with pytest.raises(bf.BuildError, match=r"needs riscv64-unknown-elf-gcc, not found on PATH: "
                       r"apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"):
        bf.build(_fake_tree(tmp_path / "src"), ["rv32imc"], tmp_path / "out")


@pytest.mark.parametrize("top_folder", ["", "micropython-1.28.0"])
def test_tarballs_with_or_without_a_top_folder_unpack_to_the_tree(top_folder, tmp_path):
    tree = _fake_tree(tmp_path / "tree")
    archive = tmp_path / "mp.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(tree.rglob("*")):
            tar.add(path, arcname=str(Path(top_folder) / path.relative_to(tree)),
                    recursive=False)
    src = bf.unpack(archive, tmp_path / "out")
    assert src == (tmp_path / "out" / top_folder if top_folder else tmp_path / "out")
    assert bf.micropython_version(src) == (1, 28, 0)


def test_installs_where_the_library_looks_first(monkeypatch, tmp_path):
    monkeypatch.setenv("EMLEARN_LAB_FIRMWARE", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    assert bf.default_out_dir() == emulated.firmware_dirs()[0] == tmp_path / "a"
    monkeypatch.delenv("EMLEARN_LAB_FIRMWARE")
    monkeypatch.setenv("EMLEARN_LAB_CACHE", str(tmp_path / "cache"))
    assert bf.default_out_dir() == emulated.firmware_dirs()[0] == tmp_path / "cache" / "firmware"


# -- a real build --------------------------------------------------------------------------------
def _need_build_tools():
    archives = sorted(SHARED_SOURCE.glob("micropython-*.tar.gz"))
    missing = [] if archives else [f"MicroPython's source tarball in {SHARED_SOURCE}"]
    missing += [p for p in ("make", "gcc", "arm-none-eabi-gcc", "qemu-system-arm")
                if shutil.which(p) is None]
    if missing:
        skip_or_fail(f"the firmware build test needs {', '.join(missing)}")
    return archives[-1]


def _snapshot(tree: Path) -> dict:
    return {str(p.relative_to(tree)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in tree.rglob("*")}


@pytest.mark.slow
@pytest.mark.toolchain
def test_cortex_m3_firmware_built_from_source_boots_and_deploys(monkeypatch, tmp_path,
                                                                classification_data):
    """~2.5 min on 2 busy cores (mpy-cross, then the firmware)."""
    archive = _need_build_tools()
    src = bf.unpack(archive, tmp_path / "src")
    before = _snapshot(src)
    out = tmp_path / "firmware"
    installed = bf.build(src, ["cortex-m3"], out, log=lambda _: None)
    assert installed == {"cortex-m3": out / "cortex-m3-200k.elf"}
    assert _snapshot(src) == before, "the build wrote into the MicroPython source tree"

    monkeypatch.setenv("EMLEARN_LAB_FIRMWARE", str(out))
    assert emulated.find_firmware("cortex-m3") == out / "cortex-m3-200k.elf"
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = RandomForestClassifier(n_estimators=3, max_leaf_nodes=20, random_state=0)
    clf.fit(X_train, y_train)
    X = X_test[:20]
    with eml.connect("emulated:cortex-m3") as dev:
        assert str(dev.target) == "mpy v6.3 armv7em"
        report = dev.deploy(clf, X, repeats=3)
        assert (report.agreement, report.native, report.instructions_per_us) == (1.0, True, 1000)
        # the frozen _boot.py mounted a filesystem at / that survives a soft reset
        files = {name for name, _ in dev.listdir()}
        assert files
        dev.reset()
        assert files <= {name for name, _ in dev.listdir()}
        np.testing.assert_array_equal(dev.predict(X[:5]), clf.predict(X[:5]))
