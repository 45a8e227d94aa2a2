"""Emulated boards: real MicroPython v1.28 firmware on Cortex-M0/M3/M4F and RISC-V 32 under qemu
(``eml.connect("emulated:cortex-m3")``), whose clock counts instructions.

The board tests need qemu and the firmware (``../shared/qemu`` beside a checkout, or
``$EMLEARN_LAB_FIRMWARE``): they skip where either is absent, and fail under CI. The slow UART
(~3 kB/s) sets their length: they send ~100 rows and small forests.
"""
import gc
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _require import skip_or_fail
from sklearn.ensemble import RandomForestClassifier

import emlearn_lab as eml
from emlearn_lab.runtime.build import ARCHS, Target, compile_source
from emlearn_lab.device import emulated
from emlearn_lab.device.report import DeployReport
from emlearn_lab.exceptions import DeviceError, DeviceNotFoundError


def _need(board: str) -> None:
    """Skip when the board cannot run here (qemu or firmware missing); fail under CI."""
    status = {name: (firmware, has_qemu) for name, _, firmware, has_qemu
              in emulated.board_status()}
    firmware, has_qemu = status[board]
    if firmware is None or not has_qemu:
        what = "qemu (apt-get install qemu-system-arm qemu-system-misc)" if not has_qemu else \
            f"firmware {emulated.BOARDS[board].firmware} (../shared/qemu or " \
            f"${emulated.FIRMWARE_ENV})"
        skip_or_fail(f"emulated board {board} needs {what}")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _wait_gone(pids, deadline_s=30.0) -> list:
    """The pids still running after waiting up to deadline_s (a bound, not a measurement)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and not all(map(_gone, pids)):
        time.sleep(0.1)
    return [p for p in pids if not _gone(p)]


def _group(pgid: int) -> list:
    """Pids in process group pgid (the watchdog shell, its reader and qemu)."""
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


# -- no qemu needed ---------------------------------------------------------------------------
@pytest.mark.parametrize("sys_mpy,arch,flags,text", [
    (77574, "rv32imc", 1, "mpy v6.3 rv32imc+zba"),       # the rv32 firmware: Zba in bit 16
    (6918, "armv7em", 0, "mpy v6.3 armv7em"),            # cortex-m3 (Thumb-2, no FPU)
    (4870, "armv6m", 0, "mpy v6.3 armv6m"),              # cortex-m0 / RP2040
    (7942, "armv7emsp", 0, "mpy v6.3 armv7emsp"),        # cortex-m4f
    (6 | 3 << 8 | 11 << 10 | 3 << 16, "rv32imc", 3, "mpy v6.3 rv32imc+zba+zcmp"),
])
def test_target_decodes_what_the_emulated_firmware_reports(sys_mpy, arch, flags, text):
    target = Target.from_sys_mpy(sys_mpy)
    assert (target.mpy_major, target.mpy_sub, target.arch, target.arch_flags) == \
        (6, 3, arch, flags)
    assert str(target) == text


def test_target_decodes_every_arch_with_every_flag_value():
    """Every arch MicroPython numbers, with extension flags 0..3 in bits 16 and up (only RV32
    has any; unknown bits are dropped, as code using fewer extensions still loads)."""
    for arch_id, arch in enumerate(ARCHS):
        for flags in range(8):
            target = Target.from_sys_mpy(6 | 3 << 8 | arch_id << 10 | flags << 16)
            assert target.arch == arch
            assert target.arch_flags == (flags & 3 if arch == "rv32imc" else 0)


def test_rv32_flags_reach_mpy_cross():
    """A Zba board gets code built with -march-flags (the .mpy header says so); a plain one
    not."""
    src = "import micropython\n@micropython.viper\ndef f(p: ptr32, i: int) -> int:\n" \
          "    return p[i]\n"
    plain = compile_source(src, "f.py", Target(6, 3, "rv32imc"))
    zba = compile_source(src, "f.py", Target.from_sys_mpy(77574))
    assert not plain[2] & 0x40 and zba[2] & 0x40     # MPY_FEATURE_ARCH_FLAGS
    assert plain[2] >> 2 & 0xF == zba[2] >> 2 & 0xF == 11         # rv32imc


def test_unknown_board_is_one_line_listing_the_boards():
    with pytest.raises(DeviceNotFoundError,
                       match=r"^unknown emulated board 'cortex-m7': expected one of cortex-m3, "
                             r"cortex-m3-2m, cortex-m4f, rv32imc, cortex-m0 \(e\.g\. [^\n]*$"):
        eml.connect("emulated:cortex-m7")


def test_missing_firmware_and_qemu_say_the_remedy(monkeypatch, tmp_path):
    monkeypatch.setattr(emulated, "firmware_dirs", lambda: [tmp_path])
    monkeypatch.setattr(emulated.shutil, "which", lambda name: "/usr/bin/" + name)
    with pytest.raises(DeviceNotFoundError, match=r"^firmware cortex-m0-200k\.elf for emulated "
                       rf"board 'cortex-m0' not found in {tmp_path}: put it .*set "
                       r"EMLEARN_LAB_FIRMWARE[^\n]*$"):
        eml.connect("emulated:cortex-m0")
    monkeypatch.setattr(emulated.shutil, "which", lambda name: None)
    with pytest.raises(DeviceNotFoundError, match=r"^emulated board 'rv32imc' needs "
                       r"qemu-system-riscv32, which is not installed: apt-get install "
                       r"qemu-system-misc$"):
        eml.connect("emulated:rv32imc")


def test_firmware_directories_in_order(monkeypatch, tmp_path):
    monkeypatch.setenv(emulated.FIRMWARE_ENV, f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    monkeypatch.setenv("EMLEARN_LAB_CACHE", str(tmp_path / "cache"))
    dirs = emulated.firmware_dirs()
    assert dirs[:3] == [tmp_path / "a", tmp_path / "b", tmp_path / "cache" / "firmware"]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "cortex-m3-200k.elf").write_bytes(b"\x7fELF")
    assert emulated.find_firmware("cortex-m3") == tmp_path / "b" / "cortex-m3-200k.elf"


def test_device_list_shows_the_emulated_boards(capsys):
    from emlearn_lab.cli import main
    assert main(["device", "list"]) == 0
    out = capsys.readouterr().out
    for board, *_ in emulated.board_status():
        assert f"emulated:{board} " in out
    assert "clock counts instructions" in out and "EMLEARN_LAB_FIRMWARE" in out


def test_report_counts_instructions_where_the_clock_does():
    report = DeployReport(device="Device(emulated:cortex-m3)", target="mpy v6.3 armv7em",
                          form="loadable", name="m", model="M", files=[],
                          runtime_ram_bytes=0, model_ram_bytes=0, load_us=4545,
                          heap_free_bytes=0, native=True, us_per_predict_median=11.035,
                          us_per_predict_min=10.27, bench_rows=16, bench_repeats=200)
    assert "predict on device         11.04 µs median, 10.27 µs min" in str(report)
    assert report.instructions_per_predict_median is None
    report.instructions_per_us = 1000
    text = str(report)
    assert "instructions per predict  11 035 median, 10 270 min (16 rows x 200)" in text
    assert "load time                 4 545 000 instructions" in text
    assert " us " not in text and "µs" not in text.replace("1 µs = 1000", "")
    assert report.instructions_per_predict_median == 11035
    report.us_per_predict_max = 12.5
    assert "11 035 median, 10 270 min, 12 500 worst row (16 rows x 200)" in str(report)


# -- on the emulated boards ----------------------------------------------------------------------
def _forest(classification_data, n_trees):
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = RandomForestClassifier(n_estimators=n_trees, max_leaf_nodes=100, random_state=1)
    return clf.fit(X_train, y_train), X_test[:100]


@pytest.mark.device
@pytest.mark.slow
def test_cortex_m3_deploys_exactly_and_counts_instructions(digits_forest):
    _need("cortex-m3")
    clf, X_test = digits_forest
    X = X_test[:100]
    with eml.connect("emulated:cortex-m3") as dev:
        assert dev.target == Target(6, 3, "armv7em")
        assert repr(dev).startswith("Device(emulated:cortex-m3, ")
        for form in ("loadable", "inline"):
            report = dev.deploy(clf, X, form=form, repeats=20)
            assert (report.form, report.agreement, report.native) == (form, 1.0, True), report
            assert report.instructions_per_us == 1000
            median, least = (report.instructions_per_predict_median,
                             report.instructions_per_predict_min)
            assert median >= least > 0
            assert "instructions per predict" in str(report)
        # Ctrl-D soft reset keeps the RAM filesystem: the model is loaded again from it.
        files = {name for name, _ in dev.listdir()}
        dev.reset()
        assert files <= {name for name, _ in dev.listdir()}
        np.testing.assert_array_equal(dev.predict(X[:20]), clf.predict(X[:20]))


@pytest.mark.device
@pytest.mark.slow
def test_cortex_m0_runs_armv6m_native_code_exactly(classification_data):
    """qemu's M0 faults on any Thumb-2 instruction: the runtime must be built for armv6m."""
    _need("cortex-m0")
    clf, X = _forest(classification_data, 5)
    with eml.connect("emulated:cortex-m0") as dev:
        assert dev.target == Target(6, 3, "armv6m")
        report = dev.deploy(clf, X, form="loadable", repeats=20)
        assert (report.agreement, report.native) == (1.0, True), report
        assert report.instructions_per_predict_median > 0


@pytest.mark.device
@pytest.mark.slow
def test_rv32imc_runs_native_code_built_with_its_extension_flags(classification_data):
    """The firmware reports Zba in bit 16 of sys.implementation._mpy (77574): decoded, the
    device gets native code (inline form), not the bytecode fallback."""
    _need("rv32imc")
    clf, X = _forest(classification_data, 3)
    with eml.connect("emulated:rv32imc") as dev:
        assert dev.target == Target(6, 3, "rv32imc", 1)
        report = dev.deploy(clf, X, form="inline", repeats=20)
        assert (report.form, report.agreement, report.native) == ("inline", 1.0, True), report
        assert report.instructions_per_predict_median > 0


@pytest.mark.device
@pytest.mark.slow
def test_boards_run_side_by_side_and_leave_no_process():
    _need("cortex-m3")
    _need("cortex-m0")
    a = eml.connect("emulated:cortex-m3")
    b = eml.connect("emulated:cortex-m0")
    group_a, group_b = _group(a.virtual.pid), _group(b.virtual.pid)
    try:
        assert a.port != b.port and len(group_a) >= 2 and len(group_b) >= 2
        assert (a.eval("1 + 1"), b.eval("2 + 2")) == (2, 4)
        # Waits sized from the board's own (instruction) clock are stretched on the host.
        waits, exec_raw = [], a._transport.exec_raw
        a._transport.exec_raw = lambda code, timeout: waits.append(timeout) or \
            exec_raw(code, timeout=timeout)
        a.exec("pass", timeout_s=7)
        assert waits == [7 * emulated.TIMEOUT_SCALE]
        a.close()
        assert _wait_gone(group_a) == []
        assert b.eval("3 + 3") == 6
    finally:
        a.close()
        b.close()
    assert _wait_gone(group_b) == []


@pytest.mark.device
@pytest.mark.slow
def test_a_board_nobody_closed_ends_when_collected():
    _need("cortex-m3")
    board = emulated.EmulatedDevice("cortex-m3")
    group = _group(board.pid)
    assert len(group) >= 2
    del board
    gc.collect()
    assert _wait_gone(group) == []


@pytest.mark.device
@pytest.mark.slow
def test_qemu_ends_when_its_host_is_killed(tmp_path):
    """SIGKILL runs no atexit handler: qemu must still go (it watches a pipe the host holds)."""
    _need("cortex-m3")
    code = ("import emlearn_lab as eml, sys, time\n"
            "d = eml.connect('emulated:cortex-m3')\n"
            "print(d.virtual.pid, flush=True)\n"
            "time.sleep(600)\n")
    host = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pgid = int(host.stdout.readline())
        group = _group(pgid)
        assert len(group) >= 2
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait()
    assert _wait_gone(group) == []


@pytest.mark.device
@pytest.mark.slow
def test_reset_restarts_a_hung_board():
    """Ctrl-C does not reach running code on these boards: reset() tries Ctrl-D, then restarts
    qemu, and the device answers again; the restart cleared its files, so the session forgets
    what it had deployed (predict says deploy, not a device ImportError)."""
    _need("cortex-m3")
    with eml.connect("emulated:cortex-m3") as dev:
        first = dev.virtual.pid
        dev.deployed = dev.deployments["model"] = object()   # as if deployed before the hang
        dev._transport.exec_raw_no_follow("while True:\n pass")
        dev.reset()
        assert dev.eval("1 + 1") == 2
        assert dev.virtual.pid != first
        with pytest.raises(DeviceError, match="no model deployed on this device"):
            dev.predict(np.zeros((1, 4)))
