/* mcu.h: what startup.c provides to the checks' main(). */
#ifndef EML_LAB_MCU_H
#define EML_LAB_MCU_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
void eml_lab_mcu_exit(int status);
int32_t eml_lab_mcu_open(const char *path, int write);
int32_t eml_lab_mcu_length(int32_t fd);
int32_t eml_lab_mcu_read(int32_t fd, void *buf, uint32_t n);
int32_t eml_lab_mcu_write(int32_t fd, const void *buf, uint32_t n);
void eml_lab_mcu_close(int32_t fd);
void eml_lab_mcu_timer_start(void);
uint32_t eml_lab_mcu_ticks(void);
#ifdef __cplusplus
}
#endif
#endif
