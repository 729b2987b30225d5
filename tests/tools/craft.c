// SPDX-License-Identifier: GPL-2.0
/*
 * Makes the hostile files of issue 10 out of a program the build compiled,
 * for the fuzz harnesses' regression corpus and the live-attack tests:
 *
 *   craft sibling-loop IN OUT   every DW_AT_sibling (DW_FORM_ref4) of a DIE
 *                               with children, in the first unit, points at
 *                               its first child: a walk that follows them
 *                               meets each subtree again, exponentially
 *                               often with nesting
 *   craft cfa-register IN OUT   the first FDE with six DW_CFA_nop bytes of
 *                               padding gets, there, DW_CFA_offset_extended
 *                               naming register 268,000,000
 *
 * OUT runs as IN did (only debug and unwind data change). Exit 0 when at
 * least one change was made.
 */
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elfutils/libdw.h>

struct edit {
	uint64_t off;
	uint8_t bytes[8];
	size_t len;
};

static int copy(const char *in, const char *out)
{
	char buf[65536];
	int a = open(in, O_RDONLY), b = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t n;

	if (a < 0 || b < 0)
		return -1;
	while ((n = read(a, buf, sizeof(buf))) > 0)
		if (write(b, buf, (size_t)n) != n)
			return -1;
	close(a);
	close(b);
	return n < 0 ? -1 : 0;
}

static size_t sibling_edits(Elf *elf, struct edit *e, size_t max)
{
	Dwarf *dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	Dwarf_Off hsize, next;
	Dwarf_Die cu, stack[64], c;
	size_t raw_len, depth = 0, n = 0;
	const char *raw = elf_rawfile(elf, &raw_len);

	if (!dw || dwarf_nextcu(dw, 0, &next, &hsize, NULL, NULL, NULL) ||
	    !dwarf_offdie(dw, hsize, &cu) || dwarf_child(&cu, &stack[depth]) != 0) {
		dwarf_end(dw);
		return 0;
	}
	depth++;
	while (depth && n < max) {
		Dwarf_Die d = stack[--depth];
		Dwarf_Attribute a;

		if (dwarf_attr(&d, DW_AT_sibling, &a) && dwarf_whatform(&a) == DW_FORM_ref4 &&
		    dwarf_child(&d, &c) == 0) {
			/* the first unit starts at 0: section offsets are its own */
			uint32_t child = (uint32_t)dwarf_dieoffset(&c);

			e[n].off = (uint64_t)((const char *)a.valp - raw);
			memcpy(e[n].bytes, &child, 4);
			e[n].len = 4;
			n++;
		}
		if (dwarf_siblingof(&d, &c) == 0 && depth < 64)
			stack[depth++] = c;
		if (dwarf_child(&d, &c) == 0 && depth < 64)
			stack[depth++] = c;
	}
	dwarf_end(dw);
	return n;
}

/* Six DW_CFA_nop bytes ending an FDE: room for 0x05, a 4-byte register
 * number and a 1-byte offset. */
static size_t cfa_edits(Elf *elf, struct edit *e)
{
	static const uint8_t op[6] = { DW_CFA_offset_extended, 0x80, 0xb6, 0xe5, 0x7f, 0x01 };
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;
		Elf_Data *d;
		const uint8_t *p;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
		    strcmp(name, ".eh_frame"))
			continue;
		d = elf_rawdata(scn, NULL);
		p = d ? d->d_buf : NULL;
		for (size_t off = 0; p && off + 8 <= d->d_size;) {
			uint32_t len, id;

			memcpy(&len, p + off, 4);
			if (!len || len == 0xffffffff || off + 4 + len > d->d_size)
				break;
			memcpy(&id, p + off + 4, 4);
			if (id && len >= 20) {	/* an FDE: look at its last six bytes */
				const uint8_t *tail = p + off + 4 + len - 6;

				if (!memcmp(tail, "\0\0\0\0\0\0", 6)) {
					e->off = sh.sh_offset + (uint64_t)(tail - p);
					memcpy(e->bytes, op, 6);
					e->len = 6;
					return 1;
				}
			}
			off += 4 + len;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct edit e[256];
	size_t n = 0;
	Elf *elf;
	int fd;

	if (argc != 4 || (strcmp(argv[1], "sibling-loop") && strcmp(argv[1], "cfa-register"))) {
		fprintf(stderr, "usage: craft sibling-loop|cfa-register IN OUT\n");
		return 2;
	}
	if (copy(argv[2], argv[3])) {
		fprintf(stderr, "craft: cannot copy %s to %s: %s\n", argv[2], argv[3], strerror(errno));
		return 1;
	}
	elf_version(EV_CURRENT);
	fd = open(argv[3], O_RDWR);
	elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	if (elf)
		n = !strcmp(argv[1], "sibling-loop") ? sibling_edits(elf, e, 256) : cfa_edits(elf, e);
	elf_end(elf);
	for (size_t i = 0; i < n; i++)
		if (pwrite(fd, e[i].bytes, e[i].len, (off_t)e[i].off) != (ssize_t)e[i].len)
			n = 0;
	if (fd >= 0)
		close(fd);
	if (!n) {
		fprintf(stderr, "craft: %s: nothing to change in %s\n", argv[1], argv[2]);
		return 1;
	}
	printf("craft: %s: %zu change(s) in %s\n", argv[1], n, argv[3]);
	return 0;
}
