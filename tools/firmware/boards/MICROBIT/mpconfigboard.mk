# cortex-m0: qemu's microbit machine (nRF51, Cortex-M0, armv6m: the RP2040's instruction set),
# with 1 MiB of flash and 256 KiB of SRAM so that a 200 KiB heap fits. Used instead of
# ports/qemu/boards/MICROBIT, from which it differs in:
#  - native code: @native, @viper, inline Thumb assembler and native .mpy files, restricted to
#    armv6m (the port builds no emitter on nRF51), as MicroPython's RP2040 firmware has;
#  - the SysTick rate: qemu clocks the nRF51 core at 16 MHz, not the 25 MHz that ticks.c
#    assumes, so ticks_us() keeps 1 us = 1000 instructions under -icount shift=0;
#  - its own linker script (emlab_nrf51.ld) for the larger memories, with a place for
#    libgcc's .ARM.exidx and the upper half of flash left to _boot.py's filesystem.
QEMU_ARCH = arm
QEMU_MACHINE = microbit
QEMU_ARGS += -global nrf51-soc.flash-size=1048576 -global nrf51-soc.sram-size=262144

CFLAGS += -mthumb -mcpu=cortex-m0 -mfloat-abi=soft
CFLAGS += -DQEMU_SOC_NRF51 -DMICROPY_HW_MCU_NAME='"nRF51"'
CFLAGS += -DMICROPY_EMIT_THUMB=1 -DMICROPY_EMIT_THUMB_ARMV7M=0
CFLAGS += -DMICROPY_EMIT_INLINE_THUMB=1 -DMICROPY_EMIT_INLINE_THUMB_FLOAT=0
CFLAGS += -DCPU_FREQ_HZ=16000000u

LDSCRIPT = $(BOARD_DIR)/emlab_nrf51.ld
SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb1.o

# frozen native code must not contain Thumb-2 either
MPY_CROSS_FLAGS += -march=armv6m
