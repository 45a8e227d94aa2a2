# Frozen into the emulated boards' firmware by tools/build_firmware.py, and run by
# MICROPY_PORT_INIT_FUNC (emlab_config.h) at every power-up and soft reset: it gives the board a
# littlefs2 filesystem at "/", as a real board's flash filesystem, so that mpremote and
# emlearn_lab can copy files and import them.
#
# Where the disk lives (never inside the GC heap, so heap figures stay those of the board):
#   mps2-an385/an386 (Cortex-M3/M4F): the 4 MiB SSRAM at 0x20000000, which the firmware leaves
#     unused; RAM, so files survive a soft reset but not a restart of qemu.
#   virt (RISC-V 32): 4 MiB of RAM 12 MiB above 0x80000000, past the image, data and stack
#     that the port's virt.ld places in the first 6.1 MiB.
#   microbit (nRF51, Cortex-M0): its SRAM is taken by the heap, so the disk is the upper half
#     of the 1 MiB flash (boards/MICROBIT/emlab_nrf51.ld keeps the firmware below it); flash
#     is erased and programmed through the NVMC like on the real chip.
import sys
import uctypes
import vfs


class _MemDisk:
    """Block device over a fixed range of memory (littlefs2's extended block protocol)."""

    def __init__(self, base, size):
        self.base = base
        self.block = 4096
        self.count = size // self.block
        # This script runs in the REPL's namespace and deletes its names when done (below),
        # so the methods keep what they need.
        self.bytes_at = uctypes.bytearray_at

    def _at(self, block, off, n):
        # A view of exactly n bytes: slice assignment into a longer view would also shift
        # the bytes after it (a memmove of the whole tail on every write).
        return self.bytes_at(self.base + block * self.block + off, n)

    def readblocks(self, block, buf, off=0):
        buf[:] = self._at(block, off, len(buf))

    def writeblocks(self, block, buf, off=0):
        self._at(block, off, len(buf))[:] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.count
        if op == 5:
            return self.block
        return 0   # init, deinit, sync; erase: RAM needs none


class _Nrf51Flash(_MemDisk):
    """nRF51 flash: reads are plain loads; erasing sets 1 KiB pages to 0xFF and a write can
    only clear bits, with 32-bit stores, each enabled through NVMC.CONFIG."""

    _NVMC_CONFIG = 0x4001E504      # 0 read only, 1 write enable, 2 erase enable
    _NVMC_ERASEPAGE = 0x4001E508   # a page address written here erases that page

    def __init__(self, base, size):
        super().__init__(base, size)
        import machine
        self.mem32 = machine.mem32     # 32-bit stores, as the NVMC registers want
        self.addressof = uctypes.addressof

    def _erase(self, block):
        self.mem32[self._NVMC_CONFIG] = 2
        start = self.base + block * self.block
        for page in range(start, start + self.block, 1024):
            self.mem32[self._NVMC_ERASEPAGE] = page
        self.mem32[self._NVMC_CONFIG] = 0

    def writeblocks(self, block, buf, off=None):
        if off is None:   # simple protocol (whole blocks): erase first
            for b in range(block, block + (len(buf) + self.block - 1) // self.block):
                self._erase(b)
            off = 0
        if (off | len(buf) | self.addressof(buf)) & 3:
            raise OSError(22)   # EINVAL: the flash takes aligned words only
        self.mem32[self._NVMC_CONFIG] = 1
        try:
            super().writeblocks(block, buf, off)
        finally:
            self.mem32[self._NVMC_CONFIG] = 0

    def ioctl(self, op, arg):
        if op == 6:
            self._erase(arg)
            return 0
        return super().ioctl(op, arg)


def _disk():
    machine = sys.implementation._machine
    if "nRF51" in machine:
        return _Nrf51Flash(0x80000, 512 * 1024)
    if "mps2" in machine.lower():
        return _MemDisk(0x20000000, 4 * 1024 * 1024)
    if "virt" in machine.lower() or "rv32" in machine.lower():
        return _MemDisk(0x80C00000, 4 * 1024 * 1024)
    raise OSError("_boot.py: no filesystem location for " + machine)


def _mount():
    disk = _disk()
    try:
        fs = vfs.VfsLfs2(disk)
    except OSError:   # first start: blank memory
        vfs.VfsLfs2.mkfs(disk)
        fs = vfs.VfsLfs2(disk)
    vfs.mount(fs, "/")
    import os
    os.chdir("/")


try:
    _mount()
except Exception as e:
    sys.print_exception(e)
del _MemDisk, _Nrf51Flash, _disk, _mount, sys, uctypes, vfs
