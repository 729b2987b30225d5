/* SPDX-License-Identifier: GPL-2.0 */
/* libelf's version handshake, done once for the whole daemon. */
#ifndef CPROF_ELFINIT_H
#define CPROF_ELFINIT_H

#include <stdbool.h>

/* Whether libelf accepted our ELF version: every module that opens ELF
 * files asks before its first elf_begin(). Thread-safe. */
bool elf_ready(void);

#endif /* CPROF_ELFINIT_H */
