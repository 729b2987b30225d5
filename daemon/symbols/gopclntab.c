// SPDX-License-Identifier: GPL-2.0
/*
 * Function names of Go binaries from the pc/line table (pclntab) that the
 * Go runtime itself uses for tracebacks. It is always there, also after
 * `-ldflags='-s -w'` or strip(1) removed .symtab, so it is the only symbol
 * table many Go binaries in production have. Its per-function pcsp tables
 * (stack-pointer offset by pc) also give the unwinder its Go rows.
 *
 * Layout, as written by cmd/link and read by runtime/symtab.go and
 * debug/gosym: a header of magic (u32), two zero bytes, the pc quantum and
 * the pointer size, followed by pointer-sized words:
 *
 *   1.2  (0xfffffffb)  nfunc; the function table follows at 8 + ptrsize
 *   1.16 (0xfffffffa)  nfunc nfiles funcname cu file pctab pcln
 *   1.18 (0xfffffff0)  nfunc nfiles textStart funcname cu file pctab pcln
 *   1.20 (0xfffffff1)  as 1.18
 *
 * where funcname..pcln are offsets of sub-tables from the header. The
 * function table is nfunc (entry, funcoff) pairs and one more entry, the
 * end of the last function. Before 1.18 its fields are pointer-sized and
 * entries are addresses; from 1.18 they are u32 and entries are offsets
 * from the start of the Go text ("runtime.text"). funcoff locates the
 * function's _func record in the pcln table (1.2: from the header), which
 * repeats the entry and then has the name's offset into the name table.
 * From 1.17 the record also has a flag byte (TOPFRAME, SPWRITE, ASM), where
 * 1.16, under the same magic, has padding that reads 0.
 *
 * The header's textStart may be left to a dynamic relocation in a PIE, and
 * newer toolchains no longer fill it in at all, so the text start is taken
 * from the first of: the header word (relocated if need be), the symbol
 * runtime.text, the runtime's moduledata (found by its pointer to the name
 * table) and the start of .text, whichever puts every function inside
 * .text and an executable PT_LOAD segment.
 *
 * Every read is bounds-checked against the section libelf gave us, and the
 * whole table is checked before the first callback, so a malformed file
 * gives -EINVAL and no partial walk.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"
#include "gopclntab.h"

#define MAGIC_12	0xfffffffbu
#define MAGIC_116	0xfffffffau
#define MAGIC_118	0xfffffff0u
#define MAGIC_120	0xfffffff1u

#define MAX_EXEC_SEGS	16

/* Pointer-sized words of runtime.moduledata used to find the text start;
 * the layout is the same from Go 1.16 on: pcHeader, six slices (funcnametab,
 * cutab, filetab, pctab, pclntable, ftab), findfunctab, minpc, maxpc, text. */
#define MD_FUNCNAMETAB	1
#define MD_FTAB		16
#define MD_FTAB_LEN	17
#define MD_MINPC	20
#define MD_TEXT		22

enum pcln_ver {
	VER_12 = 12,
	VER_116 = 116,
	VER_118 = 118,
	VER_120 = 120,
};

/* One pclntab, as found; offsets are from buf. */
struct pcln {
	const unsigned char *buf;	/* the header */
	size_t size;			/* bytes readable from buf */
	uint64_t vaddr;			/* address of buf */
	int ver;
	bool be;
	unsigned int ptrsize;
	unsigned int fieldsize;		/* of a function table field */
	uint64_t nfunc;
	uint64_t hdr_text;		/* 1.18+: the header's textStart */
	uint64_t nametab;
	uint64_t pctab;			/* what a _func's pc-value offsets are from */
	unsigned int quantum;		/* pc quantum: 1 on x86 */
	uint64_t functab;
	uint64_t funcdata;
	uint64_t text;			/* 1.18+: what entries are relative to */
};

struct reloc {
	uint64_t offset, addend;
};

/* What is needed of the object beyond the table itself. */
struct obj {
	Elf *elf;
	bool dyn;			/* ET_DYN: pointers may be left to relocations */
	unsigned int machine;
	size_t shstrndx;
	struct {
		uint64_t lo, hi;
	} exec[MAX_EXEC_SEGS];
	size_t nr_exec;
	uint64_t text_lo, text_hi;	/* .text, [0, 0) when there is none */
	struct reloc *rels;		/* relative relocations by offset, lazily */
	size_t nr_rels;
	bool rels_loaded;
};

static uint64_t get_uint(const unsigned char *p, unsigned int size, bool be)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < size; i++)
		v |= (uint64_t)p[be ? i : size - 1 - i] << (8 * (size - 1 - i));
	return v;
}

/* A size-byte unsigned at off, when it lies wholly inside the table. */
static bool pcln_get(const struct pcln *t, uint64_t off, unsigned int size, uint64_t *v)
{
	if (off > t->size || t->size - off < size)
		return false;
	*v = get_uint(t->buf + off, size, t->be);
	return true;
}

/* Field f (0: entry, 1: funcoff) of function table slot k. The table was
 * bounds-checked as a whole by pcln_parse(), k <= nfunc. */
static uint64_t ftab_field(const struct pcln *t, uint64_t k, unsigned int f)
{
	return get_uint(t->buf + t->functab + (2 * k + f) * t->fieldsize, t->fieldsize, t->be);
}

static int magic_version(uint32_t magic)
{
	switch (magic) {
	case MAGIC_12:
		return VER_12;
	case MAGIC_116:
		return VER_116;
	case MAGIC_118:
		return VER_118;
	case MAGIC_120:
		return VER_120;
	default:
		return 0;
	}
}

static int pcln_parse(struct pcln *t, const unsigned char *buf, size_t size, uint64_t vaddr)
{
	uint64_t w[8], hdr_size, avail;
	unsigned int i, nwords;
	int err = -EINVAL;

	memset(t, 0, sizeof(*t));
	t->buf = buf;
	t->size = size;
	t->vaddr = vaddr;
	if (!buf || size < 16)
		goto cleanup;
	/* Two zero bytes, pc quantum (1 x86, 2 s390x, 4 RISC), pointer size. */
	if (buf[4] || buf[5] || (buf[6] != 1 && buf[6] != 2 && buf[6] != 4) ||
	    (buf[7] != 4 && buf[7] != 8))
		goto cleanup;
	t->ptrsize = buf[7];
	t->quantum = buf[6];

	t->ver = magic_version((uint32_t)get_uint(buf, 4, false));
	if (!t->ver) {
		t->ver = magic_version((uint32_t)get_uint(buf, 4, true));
		t->be = true;
	}
	if (!t->ver)
		goto cleanup;

	nwords = t->ver == VER_12 ? 1 : t->ver == VER_116 ? 7 : 8;
	hdr_size = 8 + (uint64_t)nwords * t->ptrsize;
	for (i = 0; i < nwords; i++) {
		if (!pcln_get(t, 8 + (uint64_t)i * t->ptrsize, t->ptrsize, &w[i]))
			goto cleanup;
	}
	t->nfunc = w[0];
	switch (t->ver) {
	case VER_12:
		/* Names and _func records are at offsets from the header. */
		t->fieldsize = t->ptrsize;
		t->functab = hdr_size;
		break;
	case VER_116:
		t->fieldsize = t->ptrsize;
		t->nametab = w[2];
		t->pctab = w[5];
		t->functab = t->funcdata = w[6];
		break;
	default:
		t->fieldsize = 4;
		t->hdr_text = w[2];
		t->nametab = w[3];
		t->pctab = w[6];
		t->functab = t->funcdata = w[7];
		break;
	}
	if (t->ver != VER_12 && (t->nametab < hdr_size || t->functab < hdr_size ||
				 t->pctab < hdr_size))
		goto cleanup;
	if (t->nametab >= size || t->functab >= size || t->pctab >= size)
		goto cleanup;

	/* nfunc pairs and the end entry must fit; this also bounds nfunc by
	 * the section size, so none of the arithmetic below overflows. */
	avail = (size - t->functab) / t->fieldsize;
	if (!t->nfunc || avail < 1 || t->nfunc > (avail - 1) / 2 || t->nfunc > INT_MAX)
		goto cleanup;
	err = 0;

cleanup:
	return err;
}

/*
 * Where a _func record has its flag byte, 0 when it has none. After the
 * entry (pointer-sized before 1.18, u32 from then) come the u32s nameoff,
 * args, deferreturn, pcsp, pcfile, pcln and npcdata, from 1.16 cuOffset,
 * from 1.20 startLine, then the u8s funcID and flag, as runtime/runtime2.go
 * declares _func. Go 1.2 to 1.15 records have no flag.
 */
static unsigned int flag_offset(const struct pcln *t)
{
	unsigned int esz = t->ver >= VER_118 ? 4 : t->ptrsize;

	switch (t->ver) {
	case VER_116:
	case VER_118:
		return esz + 8 * 4 + 1;
	case VER_120:
		return esz + 9 * 4 + 1;
	default:
		return 0;
	}
}

/*
 * Function i as stored: entry and next entry (offsets from the text start
 * from 1.18 on, addresses before) and its name, which is NUL-terminated
 * inside the table. -EINVAL when anything is out of bounds or the _func
 * record does not agree with the function table.
 */
static int pcln_func(const struct pcln *t, uint64_t i, uint64_t *entry, uint64_t *next,
		     const char **name)
{
	unsigned int esz = t->ver >= VER_118 ? 4 : t->ptrsize;
	uint64_t e, n, off, fentry, nameoff;
	const unsigned char *s;
	size_t left;
	int err = -EINVAL;

	e = ftab_field(t, i, 0);
	n = ftab_field(t, i + 1, 0);
	off = ftab_field(t, i, 1);
	if (n < e || off >= t->size - t->funcdata)
		goto cleanup;
	off += t->funcdata;
	if (!pcln_get(t, off, esz, &fentry) || fentry != e)
		goto cleanup;
	if (!pcln_get(t, off + esz, 4, &nameoff))
		goto cleanup;
	if (nameoff >= t->size - t->nametab)
		goto cleanup;
	s = t->buf + t->nametab + nameoff;
	left = t->size - t->nametab - nameoff;
	if (!*s || !memchr(s, '\0', left))
		goto cleanup;
	*entry = e;
	*next = n;
	*name = (const char *)s;
	err = 0;

cleanup:
	return err;
}

/* The flag byte of function i, whose record pcln_func() has placed inside
 * the table: 0 when the version has none, and when the byte lies past the
 * table (no real record is that short; one that is reads as unflagged
 * rather than failing the walk for names). */
static uint8_t pcln_flag(const struct pcln *t, uint64_t i)
{
	unsigned int foff = flag_offset(t);
	uint64_t v = 0;

	if (foff && !pcln_get(t, t->funcdata + ftab_field(t, i, 1) + foff, 1, &v))
		v = 0;
	return (uint8_t)v;
}

/* Cheap plausibility of a header found by scanning: its first and last
 * functions read back consistently. */
static bool pcln_plausible(const struct pcln *t)
{
	uint64_t e, n;
	const char *name;

	return pcln_func(t, 0, &e, &n, &name) == 0 &&
	       pcln_func(t, t->nfunc - 1, &e, &n, &name) == 0;
}

/* Whole-table check, before anything is reported. */
static int pcln_check(const struct pcln *t)
{
	uint64_t i, e, n;
	const char *name;
	int err = 0;

	for (i = 0; i < t->nfunc; i++) {
		err = pcln_func(t, i, &e, &n, &name);
		if (err)
			break;
	}
	return err;
}

static Elf_Scn *find_section(const struct obj *o, const char *want, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(o->elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, shdr))
			continue;
		name = elf_strptr(o->elf, o->shstrndx, shdr->sh_name);
		if (name && !strcmp(name, want))
			return scn;
	}
	return NULL;
}

/* The bytes of a section, or NULL when it has none in the file. */
static const unsigned char *section_bytes(Elf_Scn *scn, const GElf_Shdr *shdr, size_t *size)
{
	Elf_Data *data;

	if (shdr->sh_type == SHT_NOBITS)
		return NULL;
	data = elf_getdata(scn, NULL);
	if (!data || !data->d_buf || !data->d_size)
		return NULL;
	*size = data->d_size;
	return data->d_buf;
}

static int obj_init(struct obj *o, Elf *elf)
{
	GElf_Ehdr ehdr;
	GElf_Shdr shdr;
	size_t phnum, i;
	int err = 0;

	memset(o, 0, sizeof(*o));
	o->elf = elf;
	if (elf_kind(elf) != ELF_K_ELF) {
		err = -ENOENT;
		goto cleanup;
	}
	if (!gelf_getehdr(elf, &ehdr)) {
		err = -EINVAL;
		goto cleanup;
	}
	o->dyn = ehdr.e_type == ET_DYN;
	o->machine = ehdr.e_machine;
	/* Without section headers there is nothing to find the table by. */
	if (elf_getshdrstrndx(elf, &o->shstrndx) != 0) {
		err = -ENOENT;
		goto cleanup;
	}

	if (elf_getphdrnum(elf, &phnum) != 0)
		phnum = 0;
	for (i = 0; i < phnum && o->nr_exec < MAX_EXEC_SEGS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_X) || ph.p_vaddr > UINT64_MAX - ph.p_memsz)
			continue;
		o->exec[o->nr_exec].lo = ph.p_vaddr;
		o->exec[o->nr_exec].hi = ph.p_vaddr + ph.p_memsz;
		o->nr_exec++;
	}
	if (find_section(o, ".text", &shdr) && shdr.sh_addr <= UINT64_MAX - shdr.sh_size) {
		o->text_lo = shdr.sh_addr;
		o->text_hi = shdr.sh_addr + shdr.sh_size;
	}

cleanup:
	return err;
}

/* Whether [lo, hi] can be Go code: inside .text when there is one, and
 * inside one executable PT_LOAD segment. */
static bool code_range(const struct obj *o, uint64_t lo, uint64_t hi)
{
	size_t i;

	if (lo > hi)
		return false;
	if (o->text_hi && (lo < o->text_lo || hi > o->text_hi))
		return false;
	for (i = 0; i < o->nr_exec; i++) {
		if (lo >= o->exec[i].lo && hi <= o->exec[i].hi)
			return true;
	}
	return false;
}

static bool text_ok(const struct obj *o, const struct pcln *t, uint64_t text)
{
	/* Entries are u32 offsets from 1.18 on. */
	if (!text || text > UINT64_MAX - UINT32_MAX)
		return false;
	return code_range(o, text + ftab_field(t, 0, 0), text + ftab_field(t, t->nfunc, 0));
}

static bool is_relative(unsigned int machine, uint64_t type)
{
	switch (machine) {
	case EM_X86_64:
		return type == R_X86_64_RELATIVE;
	case EM_AARCH64:
		return type == R_AARCH64_RELATIVE;
	case EM_PPC64:
		return type == R_PPC64_RELATIVE;
	case EM_S390:
		return type == R_390_RELATIVE;
	case EM_RISCV:
		return type == R_RISCV_RELATIVE;
	case EM_LOONGARCH:
		return type == R_LARCH_RELATIVE;
	case EM_386:
		return type == R_386_RELATIVE;
	default:
		return false;
	}
}

static int cmp_reloc(const void *a, const void *b)
{
	const struct reloc *x = a, *y = b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return 0;
}

/* The relative relocations of the object, sorted by offset. Some linkers
 * (lld by default) leave the relocated words zero in the file and put the
 * value only in the relocation's addend. */
static int load_relocs(struct obj *o)
{
	Elf_Scn *scn = NULL;
	size_t cap = 0;
	int err = 0;

	if (o->rels_loaded)
		goto cleanup;
	o->rels_loaded = true;
	while ((scn = elf_nextscn(o->elf, scn))) {
		size_t entsize = gelf_fsize(o->elf, ELF_T_RELA, 1, EV_CURRENT);
		Elf_Data *data;
		GElf_Shdr shdr;
		size_t i, count;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_RELA || !entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		count = data->d_size / entsize;
		for (i = 0; i < count; i++) {
			GElf_Rela r;

			if (!gelf_getrela(data, (int)i, &r) || GELF_R_SYM(r.r_info) ||
			    !is_relative(o->machine, GELF_R_TYPE(r.r_info)))
				continue;
			if (o->nr_rels == cap) {
				size_t ncap = cap ? cap * 2 : 1024;
				struct reloc *tmp = realloc(o->rels, ncap * sizeof(*tmp));

				if (!tmp) {
					err = -ENOMEM;
					goto cleanup;
				}
				o->rels = tmp;
				cap = ncap;
			}
			o->rels[o->nr_rels].offset = r.r_offset;
			o->rels[o->nr_rels].addend = (uint64_t)r.r_addend;
			o->nr_rels++;
		}
	}
	if (o->nr_rels)
		qsort(o->rels, o->nr_rels, sizeof(*o->rels), cmp_reloc);

cleanup:
	return err;
}

/* The pointer stored at vaddr, as the dynamic loader would leave it (less
 * the load bias): the file's bytes, or for a PIE whose linker left them
 * zero, the relative relocation's addend. */
static bool read_ptr(struct obj *o, const struct pcln *t, uint64_t vaddr, uint64_t *v)
{
	Elf_Scn *scn = NULL;
	struct reloc key = { .offset = vaddr }, *r;

	while ((scn = elf_nextscn(o->elf, scn))) {
		const unsigned char *p;
		GElf_Shdr shdr;
		size_t size;

		if (!gelf_getshdr(scn, &shdr) || !(shdr.sh_flags & SHF_ALLOC) ||
		    vaddr < shdr.sh_addr || vaddr - shdr.sh_addr >= shdr.sh_size)
			continue;
		p = section_bytes(scn, &shdr, &size);
		if (!p || size < t->ptrsize || vaddr - shdr.sh_addr > size - t->ptrsize)
			return false;
		*v = get_uint(p + (vaddr - shdr.sh_addr), t->ptrsize, t->be);
		break;
	}
	if (!scn)
		return false;
	if (*v || !o->dyn || load_relocs(o) || !o->nr_rels)
		return true;
	r = bsearch(&key, o->rels, o->nr_rels, sizeof(*o->rels), cmp_reloc);
	if (r)
		*v = r->addend;
	return true;
}

/* moduledata candidate whose funcnametab pointer is at slot: the text start
 * it records, when its other fields agree with the table. */
static bool moduledata_text(struct obj *o, const struct pcln *t, uint64_t slot, uint64_t *text)
{
	uint64_t md, ftab, ftab_len, minpc, v;

	if (slot < MD_FUNCNAMETAB * t->ptrsize)
		return false;
	md = slot - MD_FUNCNAMETAB * t->ptrsize;
	if (!read_ptr(o, t, md + MD_FTAB * t->ptrsize, &ftab) ||
	    !read_ptr(o, t, md + MD_FTAB_LEN * t->ptrsize, &ftab_len) ||
	    !read_ptr(o, t, md + MD_MINPC * t->ptrsize, &minpc) ||
	    !read_ptr(o, t, md + MD_TEXT * t->ptrsize, &v))
		return false;
	if (ftab != t->vaddr + t->functab || ftab_len != t->nfunc + 1 ||
	    !text_ok(o, t, v) || minpc != v + ftab_field(t, 0, 0))
		return false;
	*text = v;
	return true;
}

/* The runtime's moduledata points at the function name table; look for that
 * pointer in the file's data, then among relocation addends. */
static bool text_from_moduledata(struct obj *o, const struct pcln *t, uint64_t *text)
{
	uint64_t key = t->vaddr + t->nametab;
	Elf_Scn *scn = NULL;
	size_t i;

	while ((scn = elf_nextscn(o->elf, scn))) {
		const unsigned char *p;
		GElf_Shdr shdr;
		uint64_t off;
		size_t size;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_PROGBITS ||
		    !(shdr.sh_flags & SHF_ALLOC) || (shdr.sh_flags & SHF_EXECINSTR))
			continue;
		p = section_bytes(scn, &shdr, &size);
		if (!p)
			continue;
		/* Pointer-aligned addresses only. */
		off = (t->ptrsize - shdr.sh_addr % t->ptrsize) % t->ptrsize;
		for (; off + t->ptrsize <= size; off += t->ptrsize) {
			if (get_uint(p + off, t->ptrsize, t->be) == key &&
			    moduledata_text(o, t, shdr.sh_addr + off, text))
				return true;
		}
	}
	if (!o->dyn || load_relocs(o))
		return false;
	for (i = 0; i < o->nr_rels; i++) {
		if (o->rels[i].addend == key && moduledata_text(o, t, o->rels[i].offset, text))
			return true;
	}
	return false;
}

static bool text_from_symbol(struct obj *o, const struct pcln *t, uint64_t *text)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(o->elf, scn))) {
		size_t entsize = gelf_fsize(o->elf, ELF_T_SYM, 1, EV_CURRENT);
		Elf_Data *data;
		GElf_Shdr shdr;
		size_t i, count;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB || !entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		count = data->d_size / entsize;
		for (i = 0; i < count; i++) {
			const char *name;
			GElf_Sym sym;

			if (!gelf_getsym(data, (int)i, &sym))
				continue;
			name = elf_strptr(o->elf, shdr.sh_link, sym.st_name);
			if (name && !strcmp(name, "runtime.text") && text_ok(o, t, sym.st_value)) {
				*text = sym.st_value;
				return true;
			}
		}
	}
	return false;
}

/* 1.18+: what function entries are offsets from. Earlier tables hold
 * addresses, which only need to look like code. */
static int find_text(struct obj *o, struct pcln *t)
{
	uint64_t v = t->hdr_text;
	int err = 0;

	if (t->ver < VER_118) {
		if (!code_range(o, ftab_field(t, 0, 0), ftab_field(t, t->nfunc, 0)))
			err = -EINVAL;
		goto cleanup;
	}
	if (!v && !read_ptr(o, t, t->vaddr + 8 + 2 * t->ptrsize, &v))
		v = 0;
	if (text_ok(o, t, v))
		t->text = v;
	else if (text_from_symbol(o, t, &v))
		t->text = v;
	else if (text_from_moduledata(o, t, &v))
		t->text = v;
	else if (text_ok(o, t, o->text_lo))
		t->text = o->text_lo;
	else
		err = -EINVAL;

cleanup:
	return err;
}

/* Signs that the object was linked by Go, which make scanning its
 * .data.rel.ro worth it. */
static bool looks_like_go(const struct obj *o)
{
	static const char *const names[] = {
		".go.buildinfo", ".note.go.buildid", ".noptrdata", ".gosymtab",
	};
	GElf_Shdr shdr;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (find_section(o, names[i], &shdr))
			return true;
	}
	return false;
}

static int locate(struct obj *o, struct pcln *t)
{
	const unsigned char *p;
	Elf_Scn *scn;
	GElf_Shdr shdr;
	size_t size = 0, off;
	int err = -ENOENT;

	/* Internal linking names the section; PIE puts it in relro. */
	scn = find_section(o, ".gopclntab", &shdr);
	if (!scn)
		scn = find_section(o, ".data.rel.ro.gopclntab", &shdr);
	if (scn) {
		p = section_bytes(scn, &shdr, &size);
		err = p ? pcln_parse(t, p, size, shdr.sh_addr) : -EINVAL;
		if (!err && !pcln_plausible(t))
			err = -EINVAL;
		goto cleanup;
	}

	/* An external linker merges .data.rel.ro.gopclntab into .data.rel.ro:
	 * look for a header there that reads back consistently. The runtime
	 * aligns it to the pointer size, 4 is the smallest. */
	if (!looks_like_go(o))
		goto cleanup;
	scn = find_section(o, ".data.rel.ro", &shdr);
	if (!scn)
		goto cleanup;
	p = section_bytes(scn, &shdr, &size);
	if (!p)
		goto cleanup;
	for (off = (4 - shdr.sh_addr % 4) % 4; off + 16 <= size; off += 4) {
		if (p[off + 1] != 0xff || p[off + 2] != 0xff)
			continue;
		if (!pcln_parse(t, p + off, size - off, shdr.sh_addr + off) && pcln_plausible(t)) {
			err = 0;
			goto cleanup;
		}
	}

cleanup:
	return err;
}

/* Find, check and place the table of elf. */
static int open_table(Elf *elf, struct obj *o, struct pcln *t)
{
	int err = obj_init(o, elf);

	if (!err)
		err = locate(o, t);
	if (!err)
		err = pcln_check(t);
	if (!err)
		err = find_text(o, t);
	return err;
}

/* Call each for every function of elf's table, in table order; the
 * function count, or the first error. */
static int for_each_func(Elf *elf, int (*each)(const struct pcln *t, uint64_t i,
					       const struct gopclntab_func *f, void *arg),
			 void *arg)
{
	struct obj o = { .rels = NULL };
	struct gopclntab_func f;
	uint64_t i, e, n;
	struct pcln t;
	int err;

	if (!elf) {
		err = -EINVAL;
		goto cleanup;
	}
	err = open_table(elf, &o, &t);
	if (err)
		goto cleanup;
	for (i = 0; i < t.nfunc; i++) {
		err = pcln_func(&t, i, &e, &n, &f.name);
		if (err)
			goto cleanup;
		f.flag = pcln_flag(&t, i);
		f.entry = t.ver >= VER_118 ? e + t.text : e;
		f.end = t.ver >= VER_118 ? n + t.text : n;
		err = each(&t, i, &f, arg);
		if (err)
			goto cleanup;
	}
	err = (int)t.nfunc;

cleanup:
	free(o.rels);
	return err;
}

struct name_walk {
	gopclntab_cb cb;
	void *ctx;
};

static int each_name(const struct pcln *t, uint64_t i, const struct gopclntab_func *f, void *arg)
{
	const struct name_walk *w = arg;

	return w->cb(w->ctx, f->entry, f->end, f->name);
}

int gopclntab__read(Elf *elf, gopclntab_cb cb, void *ctx)
{
	struct name_walk w = { cb, ctx };

	return cb ? for_each_func(elf, each_name, &w) : -EINVAL;
}

/* An unsigned LEB128 of at most 32 bits at *off, which moves past it. */
static bool pcln_uvarint(const struct pcln *t, uint64_t *off, uint32_t *v)
{
	uint32_t r = 0;

	for (unsigned int shift = 0; shift < 35; shift += 7) {
		uint8_t b;

		if (*off >= t->size)
			return false;
		b = t->buf[(*off)++];
		r |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/*
 * The pc-value table of f at off (from pctab) decoded as the runtime's
 * pcvalue() does: the value starts at -1 and the pc at the entry; each step
 * adds a zig-zag value delta and then a pc delta (in quanta), and the value
 * holds from the old pc to the new one. A zero value delta after the first
 * step ends the table.
 */
static int sp_runs(const struct pcln *t, const struct gopclntab_func *f, uint64_t off,
		   gopclntab_sp_cb cb, void *ctx)
{
	uint64_t pc = f->entry, start, steps = 0, limit = f->end - f->entry + 2;
	int32_t val = -1;
	int err = 0;

	if (off >= t->size - t->pctab)
		return -EINVAL;
	off += t->pctab;
	while (pc < f->end) {
		uint32_t uv, pcd;
		int32_t vd;

		if (++steps > limit || !pcln_uvarint(t, &off, &uv))
			return -EINVAL;
		if (uv == 0 && steps > 1)
			break;
		vd = (uv & 1) ? (int32_t)~(uv >> 1) : (int32_t)(uv >> 1);
		if (!pcln_uvarint(t, &off, &pcd))
			return -EINVAL;
		start = pc;
		pc += (uint64_t)pcd * t->quantum;
		if (pc > f->end)
			pc = f->end;
		/* a value off the int32 range is no stack depth: a bad table */
		if ((int64_t)val + vd > INT32_MAX || (int64_t)val + vd < INT32_MIN) {
			hostile__count(HOSTILE_PCLNTAB);
			return -EINVAL;
		}
		val += vd;
		if (pc > start) {
			err = cb(ctx, f, start, pc, val);
			if (err)
				break;
		}
	}
	return err;
}

struct sp_walk {
	gopclntab_sp_cb cb;
	void *ctx;
};

static int each_sp(const struct pcln *t, uint64_t i, const struct gopclntab_func *f, void *arg)
{
	const struct sp_walk *w = arg;
	unsigned int esz = t->ver >= VER_118 ? 4 : t->ptrsize;
	uint64_t pcsp;

	/* _func: entry, nameoff, args, frame or deferreturn, pcsp in every
	 * version from 1.2 on */
	if (!pcln_get(t, t->funcdata + ftab_field(t, i, 1) + esz + 12, 4, &pcsp))
		return -EINVAL;
	if (!pcsp)
		return 0;	/* no table: the runtime has none either */
	return sp_runs(t, f, pcsp, w->cb, w->ctx);
}

int gopclntab__read_sp(Elf *elf, gopclntab_sp_cb cb, void *ctx)
{
	struct sp_walk w = { cb, ctx };

	return cb ? for_each_func(elf, each_sp, &w) : -EINVAL;
}
