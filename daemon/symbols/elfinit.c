// SPDX-License-Identifier: GPL-2.0
#include <pthread.h>
#include <gelf.h>

#include "elfinit.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool ok;

static void init(void)
{
	ok = elf_version(EV_CURRENT) != EV_NONE;
}

bool elf_ready(void)
{
	pthread_once(&once, init);
	return ok;
}
