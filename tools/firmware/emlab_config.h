// Configuration of the emulated boards' firmware, on top of ports/qemu's own: passed by
// tools/build_firmware.py as CFLAGS_EXTRA=-DMP_CONFIGFILE=<emlab_config.h> -I<this folder>.
#include <mpconfigport.h>
#include <stdbool.h>

int pyexec_frozen_module(const char *name, bool allow_keyboard_interrupt);

// mp_init() ends with this, at power-up and after every soft reset (Ctrl-D): the frozen
// _boot.py mounts the board's filesystem at "/".
#define MICROPY_PORT_INIT_FUNC pyexec_frozen_module("_boot.py", false)
