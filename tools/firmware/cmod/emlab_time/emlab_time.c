// littlefs2 (MICROPY_VFS_LFS2) dates files with mp_hal_time_ns(), which ports/qemu does not
// provide (no real-time clock): time since boot is good enough for a file's mtime.
#include "py/mphal.h"

uint64_t mp_hal_time_ns(void) {
    return (uint64_t)mp_hal_ticks_ms() * 1000000u;
}
