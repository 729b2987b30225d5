// SPDX-License-Identifier: GPL-2.0
/* The GNU build id note, shared by the symbolizer and the debug-file finder. */
#include <string.h>

#include "buildid.h"

/* Look for NT_GNU_BUILD_ID in one block of notes. */
static bool note_build_id(Elf_Data *data, struct build_id *id)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	if (!data || !data->d_buf)
		return false;
	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		off = next;
		if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
		    memcmp((const char *)data->d_buf + name_off, "GNU", 4) != 0)
			continue;
		if (!nh.n_descsz || nh.n_descsz > BUILD_ID_MAX)
			continue;
		memcpy(id->bytes, (const char *)data->d_buf + desc_off, nh.n_descsz);
		id->len = nh.n_descsz;
		return true;
	}
	return false;
}

bool build_id__read(Elf *elf, struct build_id *id)
{
	Elf_Scn *scn = NULL;
	size_t phnum, i;

	id->len = 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE)
			continue;
		if (note_build_id(elf_getdata(scn, NULL), id))
			return true;
	}

	/* Objects stripped of their section headers still have PT_NOTE. */
	if (elf_getphdrnum(elf, &phnum) != 0)
		return false;
	for (i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *data;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		data = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (note_build_id(data, id))
			return true;
	}
	return false;
}

void build_id__hex(const struct build_id *id, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < id->len; i++) {
		out[2 * i] = hex[id->bytes[i] >> 4];
		out[2 * i + 1] = hex[id->bytes[i] & 0xf];
	}
	out[2 * i] = '\0';
}
