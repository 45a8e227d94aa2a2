/* Bare-metal startup for the C export's checks on qemu's mps2-an385 (Cortex-M3) and
 * mps2-an386 (Cortex-M4F) machines: a vector table, a reset handler that enables the FPU
 * (when compiled for one), zeroes .bss and calls main(), and ARM semihosting calls (BKPT
 * 0xAB) for file I/O and exit. No C library start-up: nothing runs before main() but this.
 * qemu's -kernel loads .data at its final address in RAM, so there is nothing to copy. */
#include <stdint.h>
#include "mcu.h"

extern uint32_t __stack_top;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
int main(void);

void eml_lab_mcu_reset(void);
void eml_lab_mcu_fault(void);

void eml_lab_mcu_reset(void)
{
    uint32_t *p;
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU) before any floating-point instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (p = &__bss_start__; p < &__bss_end__; p++) {
        *p = 0u;
    }
    eml_lab_mcu_exit(main());
}

/* Any fault ends the run with a failure status instead of hanging qemu. */
void eml_lab_mcu_fault(void)
{
    eml_lab_mcu_exit(99);
}

typedef void (*eml_lab_mcu_vector)(void);

/* Initial stack pointer, reset, then NMI .. SysTick: all faults and interrupts end the run. */
__attribute__((section(".vectors"), used))
const eml_lab_mcu_vector eml_lab_mcu_vectors[16] = {
    (eml_lab_mcu_vector)(uintptr_t)&__stack_top, eml_lab_mcu_reset,
    eml_lab_mcu_fault, eml_lab_mcu_fault, eml_lab_mcu_fault, eml_lab_mcu_fault,
    eml_lab_mcu_fault, 0, 0, 0, 0, eml_lab_mcu_fault, eml_lab_mcu_fault, 0,
    eml_lab_mcu_fault, eml_lab_mcu_fault,
};

static int32_t eml_lab_mcu_semihost(int32_t op, const void *args)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = args;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void eml_lab_mcu_exit(int status)
{
    /* SYS_EXIT_EXTENDED: ADP_Stopped_ApplicationExit with the status as qemu's exit code. */
    uint32_t args[2] = {0x20026u, (uint32_t)status};
    eml_lab_mcu_semihost(0x20, args);
    for (;;) {
    }
}

int32_t eml_lab_mcu_open(const char *path, int write)
{
    uint32_t args[3];
    uint32_t n = 0;
    while (path[n]) {
        n++;
    }
    args[0] = (uint32_t)(uintptr_t)path;
    args[1] = write ? 5u : 1u;          /* "wb" : "rb" */
    args[2] = n;
    return eml_lab_mcu_semihost(0x01, args);
}

int32_t eml_lab_mcu_length(int32_t fd)
{
    uint32_t args[1];
    args[0] = (uint32_t)fd;
    return eml_lab_mcu_semihost(0x0C, args);
}

/* Bytes transferred (semihosting returns the bytes *not* transferred). */
int32_t eml_lab_mcu_read(int32_t fd, void *buf, uint32_t n)
{
    uint32_t args[3];
    args[0] = (uint32_t)fd;
    args[1] = (uint32_t)(uintptr_t)buf;
    args[2] = n;
    return (int32_t)n - eml_lab_mcu_semihost(0x06, args);
}

int32_t eml_lab_mcu_write(int32_t fd, const void *buf, uint32_t n)
{
    uint32_t args[3];
    args[0] = (uint32_t)fd;
    args[1] = (uint32_t)(uintptr_t)buf;
    args[2] = n;
    return (int32_t)n - eml_lab_mcu_semihost(0x05, args);
}

void eml_lab_mcu_close(int32_t fd)
{
    uint32_t args[1];
    args[0] = (uint32_t)fd;
    eml_lab_mcu_semihost(0x02, args);
}

/* CMSDK APB timer 0 (0x40000000 on both machines), counting down at 25 MHz from 2**32 - 1. */
#define EML_LAB_MCU_TIMER ((volatile uint32_t *)0x40000000u)

void eml_lab_mcu_timer_start(void)
{
    EML_LAB_MCU_TIMER[0] = 0u;              /* CTRL: stop */
    EML_LAB_MCU_TIMER[2] = 0xFFFFFFFFu;     /* RELOAD */
    EML_LAB_MCU_TIMER[1] = 0xFFFFFFFFu;     /* VALUE */
    EML_LAB_MCU_TIMER[0] = 1u;              /* CTRL: enable */
}

uint32_t eml_lab_mcu_ticks(void)
{
    return 0xFFFFFFFFu - EML_LAB_MCU_TIMER[1];
}
