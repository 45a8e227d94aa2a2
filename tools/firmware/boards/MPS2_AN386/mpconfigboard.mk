# cortex-m4f: a Cortex-M4 with single-precision FPU on qemu's mps2-an386. MicroPython v1.28's
# ports/qemu has no board for it; this one follows its MPS2_AN385 (same memory map and
# mcu/arm/mps2.ld), with hardware float and native code for armv7emsp.
QEMU_ARCH = arm
QEMU_MACHINE = mps2-an386

CFLAGS += -mthumb -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16
CFLAGS += -DQEMU_SOC_MPS2 -DMICROPY_HW_MCU_NAME='"Cortex-M4F"'
MICROPY_FLOAT_IMPL = float
SUPPORTS_HARDWARE_FP_SINGLE = 1

LDSCRIPT = mcu/arm/mps2.ld
SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o

# frozen native code (none today) would target the same core
MPY_CROSS_FLAGS += -march=armv7emsp
