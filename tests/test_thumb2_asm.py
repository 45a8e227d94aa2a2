"""The Thumb-2 wide encodings (emlearn_lab/runtime/thumb2_asm.py) equal GNU as's, halfword for
halfword (marker ``toolchain``: skips without arm-none-eabi-as, fails under CI)."""
import re
import shutil
import subprocess

import pytest
from _require import skip_or_fail

from emlearn_lab.runtime import thumb2_asm as T

pytestmark = pytest.mark.toolchain

CASES = [
    (T.ubfx(4, 1, 23, 8), "ubfx r4, r1, #23, #8"),
    (T.ubfx(6, 5, 7, 1), "ubfx r6, r5, #7, #1"),
    (T.bfi(0, 5, 0, 31), "bfi r0, r5, #0, #31"),
    (T.bfi(12, 3, 5, 3), "bfi r12, r3, #5, #3"),
    (T.umull(7, 3, 5, 6), "umull r7, r3, r5, r6"),
    (T.umull(12, 11, 10, 9), "umull r12, r11, r10, r9"),
    (T.ldr_post(1, 8), "ldr.w r1, [r8], #4"),
    (T.ldr_post(2, 9, 12), "ldr.w r2, [r9], #12"),
    (T.shifted("orr", 5, 11, 1, "lsl", 8), "orr.w r5, r11, r1, lsl #8"),
    (T.shifted("add", 3, 3, 4, "lsl", 23), "add.w r3, r3, r4, lsl #23"),
    (T.shifted("eor", 5, 1, 2, flags=True), "eors.w r5, r1, r2"),
    (T.shifted("and", 5, 0, 11), "and.w r5, r0, r11"),
    (T.shifted("orr", 1, 1, 11, "lsr", 1), "orr.w r1, r1, r11, lsr #1"),
    (T.shifted("sub", 2, 3, 4, "asr", 31), "sub.w r2, r3, r4, asr #31"),
    (T.shifted("bic", 2, 3, 4, "lsr", 5), "bic.w r2, r3, r4, lsr #5"),
    (T.shift_reg("lsr", 1, 7, 6), "lsr.w r1, r7, r6"),
    (T.shift_reg("lsl", 2, 1, 6), "lsl.w r2, r1, r6"),
    (T.shift_reg("asr", 9, 10, 11), "asr.w r9, r10, r11"),
    (T.orr_imm1(3, 3), "orr.w r3, r3, #1"),
    (T.subs_imm1(10, 10), "subs.w r10, r10, #1"),
    (T.smull(1, 2, 3, 4), "smull r1, r2, r3, r4"),
    (T.smlal(8, 9, 10, 11), "smlal r8, r9, r10, r11"),
    (T.mla(1, 2, 3, 12), "mla r1, r2, r3, r12"),
    (T.mls(5, 6, 7, 8), "mls r5, r6, r7, r8"),
    (T.ldr_w(9, 11, 4092), "ldr.w r9, [r11, #4092]"),
    (T.str_w(12, 1, 96), "str.w r12, [r1, #96]"),
    (T.ldr_x4(3, 10, 12), "ldr.w r3, [r10, r12, lsl #2]"),
    (T.str_x4(8, 2, 9), "str.w r8, [r2, r9, lsl #2]"),
    (T.ldrsh_w(10, 4, 2), "ldrsh.w r10, [r4, #2]"),
    (T.ldrsh_r(11, 9, 8), "ldrsh.w r11, [r9, r8]"),
]


def test_wide_encodings_equal_gnu_as(tmp_path):
    if shutil.which("arm-none-eabi-as") is None or shutil.which("arm-none-eabi-objdump") is None:
        skip_or_fail("needs arm-none-eabi-as and -objdump (apt-get install binutils-arm-none-eabi)")
    src = tmp_path / "t.s"
    src.write_text(".syntax unified\n.thumb\n.cpu cortex-m3\n"
                   + "\n".join(text for _, text in CASES) + "\n")
    subprocess.run(["arm-none-eabi-as", "-o", str(tmp_path / "t.o"), str(src)], check=True)
    dump = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "t.o")],
                          capture_output=True, text=True, check=True).stdout
    words = re.findall(r"^\s+[0-9a-f]+:\s+([0-9a-f]{4}) ([0-9a-f]{4})\s", dump, re.M)
    assert len(words) == len(CASES), dump
    for (ours, text), (hw1, hw2) in zip(CASES, words):
        assert ours == f"data(2, {int(hw1, 16):#06x}, {int(hw2, 16):#06x})", text


def test_out_of_range_fields_are_refused():
    with pytest.raises(ValueError, match="r0-r12 expected"):
        T.umull(13, 0, 1, 2)
    with pytest.raises(ValueError, match="must lie in bits 0-31"):
        T.ubfx(0, 1, 30, 4)
    with pytest.raises(ValueError, match="0-31"):
        T.shifted("orr", 0, 1, 2, "lsr", 0)
