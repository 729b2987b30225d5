/* SPDX-License-Identifier: GPL-2.0 */
/* The GNU build id of an ELF object: what names a binary whatever its path. */
#ifndef CPROF_BUILDID_H
#define CPROF_BUILDID_H

#include <stdbool.h>
#include <stddef.h>
#include <gelf.h>

/* SHA-1 build ids are 20 bytes; leave room for longer hashes. */
#define BUILD_ID_MAX	64

struct build_id {
	unsigned char bytes[BUILD_ID_MAX];
	size_t len;			/* 0: none */
};

/* Read elf's NT_GNU_BUILD_ID note, from its note sections or, for objects
 * stripped of section headers, its PT_NOTE segments. false when it has none
 * (id->len is then 0). */
bool build_id__read(Elf *elf, struct build_id *id);
/* As lowercase hex into out, which holds BUILD_ID_MAX * 2 + 1 bytes. */
void build_id__hex(const struct build_id *id, char *out);

#endif /* CPROF_BUILDID_H */
