/*
 * Probe points in an allocator object.
 *
 * Three passes, each bounded: the sections (which entry points the object
 * defines and which allocator it is, from its symbols; the GOT slots of
 * those names, from its dynamic relocations; its PLT), the calls in each
 * entry point's body (which ones are wrappers), and the first instructions
 * of the others (where the probe goes).
 *
 * libelf reads the tables with ELF_C_READ: pread, never a mapping, so a
 * file truncated under us is an error and not SIGBUS, and libelf checks
 * that each section lies in the file. The sizes are ours to bound: a
 * section is read whole, so none over MAX_TABLE is. The code is read with
 * pread, MAX_BODY bytes at most per function, and capstone decodes it.
 */
#include <capstone/capstone.h>
#include <errno.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "allocator.h"
#include "elfinit.h"
#include "heap.h"

#define MAX_TABLE	(64u << 20)	/* bytes of a symbol, string or relocation table */
#define MAX_SMALL	(1u << 20)	/* of .dynamic, version definitions, a PLT */
#define MAX_SECTIONS	65536
#define MAX_PHDRS	1024
#define MAX_EXEC_SEGS	16
#define MAX_RELA	32		/* relocation sections looked at */
#define MAX_VERDEFS	4096
#define MAX_DYNAMIC	4096		/* .dynamic entries looked at */
#define MAX_SLOTS	256		/* GOT slots of entry-point names kept */
#define MAX_BODY	4096		/* bytes of a function scanned for calls */
#define BODY_UNSIZED	256		/* ... when its symbol gives no size */
#define PLACE_INSNS	16		/* the probe point: within this many instructions */
#define PLACE_BYTES	64		/* ... and bytes of the entry */
#define HEAD_BYTES	(PLACE_BYTES + 16)	/* the last one may start at 63 */
#define VERSYM_HIDDEN	0x8000		/* name@VER: not what new links bind to */

/* Registers as bits: the arguments an entry's probe reads, and rsp. */
#define R_DI		1u
#define R_SI		2u
#define R_DX		4u
#define R_SP		8u

/* The entry points, in the order that picks the kind and the name of an
 * address several of them share. */
static const struct {
	const char *name;
	uint32_t fn;
} names[] = {
	{ "malloc", HEAP_FN_MALLOC },
	{ "valloc", HEAP_FN_MALLOC },
	{ "calloc", HEAP_FN_CALLOC },
	{ "realloc", HEAP_FN_REALLOC },
	{ "reallocarray", HEAP_FN_REALLOCARRAY },
	{ "free", HEAP_FN_FREE },
	{ "cfree", HEAP_FN_FREE },
	{ "posix_memalign", HEAP_FN_POSIX_MEMALIGN },
	{ "memalign", HEAP_FN_MEMALIGN },
	{ "aligned_alloc", HEAP_FN_MEMALIGN },
	{ "pvalloc", HEAP_FN_PVALLOC },
	/* operator new: the size is the first argument of all */
	{ "_Znwm", HEAP_FN_MALLOC },
	{ "_Znam", HEAP_FN_MALLOC },
	{ "_ZnwmRKSt9nothrow_t", HEAP_FN_MALLOC },
	{ "_ZnamRKSt9nothrow_t", HEAP_FN_MALLOC },
	{ "_ZnwmSt11align_val_t", HEAP_FN_MALLOC },
	{ "_ZnamSt11align_val_t", HEAP_FN_MALLOC },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", HEAP_FN_MALLOC },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", HEAP_FN_MALLOC },
	/* operator delete: the pointer is */
	{ "_ZdlPv", HEAP_FN_FREE },
	{ "_ZdaPv", HEAP_FN_FREE },
	{ "_ZdlPvm", HEAP_FN_FREE },
	{ "_ZdaPvm", HEAP_FN_FREE },
	{ "_ZdlPvSt11align_val_t", HEAP_FN_FREE },
	{ "_ZdaPvSt11align_val_t", HEAP_FN_FREE },
	{ "_ZdlPvmSt11align_val_t", HEAP_FN_FREE },
	{ "_ZdaPvmSt11align_val_t", HEAP_FN_FREE },
	{ "_ZdlPvRKSt9nothrow_t", HEAP_FN_FREE },
	{ "_ZdaPvRKSt9nothrow_t", HEAP_FN_FREE },
};
#define NR_NAMES	((int)(sizeof(names) / sizeof(names[0])))
_Static_assert(sizeof(names) / sizeof(names[0]) <= ALLOC_MAX_PROBES, "a probe per name at most");

/* A name's definition: the first one, unless a later one is the default
 * version where the first was hidden (name@VER, not name@@VER). */
struct def {
	uint64_t vaddr, size;
	bool found, hidden;
	int func;			/* index into funcs, -1: none */
};

/* An executable PT_LOAD, clipped to the file. */
struct seg {
	uint64_t vaddr, filesz, offset;
};

struct plt {
	uint64_t addr;
	const uint8_t *bytes;
	size_t len;
};

/* A GOT slot that a relocation fills with an entry point's address: by
 * one of its names, or by another name the object defines there (tcmalloc's
 * valloc calls tc_memalign@plt, which is its memalign). */
struct slot {
	uint64_t got;
	int name;			/* in names[], -1: an alias */
	uint64_t vaddr;			/* the alias's definition */
};

/* A function with names from names[]: each address once. */
struct func {
	uint64_t vaddr, size;
	int name;			/* its first name in names[] */
	uint32_t calls;			/* funcs it calls or jumps to, as bits */
	bool calls_out;			/* ... or an entry point of another object */
	bool wrapper;
	bool null_to_malloc;		/* a realloc that passes realloc(NULL, n) to malloc */
	uint8_t head[HEAD_BYTES];	/* its first bytes, for the probe point */
	size_t head_len;
};

struct an {
	int fd;
	uint64_t file_size;
	Elf *elf;
	csh cs;
	cs_insn *insn, *stub;
	struct seg segs[MAX_EXEC_SEGS];
	int nr_segs;
	Elf_Data *dynsym, *dynstr;
	size_t dynsym_idx;
	struct def defs[ALLOC_MAX_PROBES];
	struct plt plts[3];
	int nr_plts;
	struct slot slots[MAX_SLOTS];
	int nr_slots;
	struct func funcs[ALLOC_MAX_PROBES];
	int nr_funcs;
	/* what says which allocator it is */
	bool libc_malloc, int_malloc, glibc_version, libc_soname;
	bool je, mallocx, sdallocx, tc, mi;
	bool too_big;			/* a symbol table over MAX_TABLE, left out */
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct an *a, int err, const char *fmt, ...)
{
	va_list ap;

	if (a->errlen) {
		va_start(ap, fmt);
		vsnprintf(a->err, a->errlen, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* The NUL-terminated string at off in a string table, or NULL. */
static const char *str_at(const Elf_Data *d, uint64_t off)
{
	const char *s;

	if (!d || !d->d_buf || off >= d->d_size)
		return NULL;
	s = (const char *)d->d_buf + off;
	return memchr(s, 0, d->d_size - off) ? s : NULL;
}

/* A section's contents, read whole, in *out (NULL when it has none). 0,
 * -EFBIG over max bytes, -ENOEXEC when it does not lie in the file. */
static int section_data(struct an *a, Elf_Scn *scn, const GElf_Shdr *sh, uint64_t max,
			Elf_Data **out)
{
	Elf_Data *d;

	*out = NULL;
	if (sh->sh_type == SHT_NOBITS || !sh->sh_size)
		return 0;
	if (sh->sh_size > max)
		return -EFBIG;
	if ((sh->sh_flags & SHF_COMPRESSED) || sh->sh_offset > a->file_size ||
	    sh->sh_size > a->file_size - sh->sh_offset)
		return -ENOEXEC;
	d = elf_getdata(scn, NULL);
	if (!d || !d->d_buf || d->d_size > sh->sh_size)
		return -ENOEXEC;
	*out = d;
	return 0;
}

/* The string table a section links to. */
static int linked_strings(struct an *a, const GElf_Shdr *sh, Elf_Data **out)
{
	GElf_Shdr lsh;
	Elf_Scn *ls;

	*out = NULL;
	ls = elf_getscn(a->elf, sh->sh_link);
	if (!ls || !gelf_getshdr(ls, &lsh) || lsh.sh_type != SHT_STRTAB)
		return -ENOEXEC;
	return section_data(a, ls, &lsh, MAX_TABLE, out);
}

static int name_index(const char *s)
{
	/* every name begins with one of these: most symbols go no further */
	if (!s[0] || !strchr("mvcrfpa_", s[0]))
		return -1;
	for (int i = 0; i < NR_NAMES; i++)
		if (!strcmp(s, names[i].name))
			return i;
	return -1;
}

static void note_kind(struct an *a, const char *s)
{
	if (!strcmp(s, "__libc_malloc"))
		a->libc_malloc = true;
	else if (!strcmp(s, "_int_malloc"))	/* a static glibc's own */
		a->int_malloc = true;
	else if (!strcmp(s, "mallocx"))
		a->mallocx = true;
	else if (!strcmp(s, "sdallocx"))
		a->sdallocx = true;
	else if (!strcmp(s, "tc_malloc"))
		a->tc = true;
	else if (!strcmp(s, "mi_malloc"))
		a->mi = true;
	else if (!strcmp(s, "je_malloc") || strstr(s, "jemalloc"))
		a->je = true;
}

/* The entry points a symbol table defines, and the names that tell the
 * allocator. versym: .dynsym's versions, or NULL. */
static int scan_symbols(struct an *a, Elf_Scn *scn, const GElf_Shdr *sh, const Elf_Data *versym)
{
	Elf_Data *syms, *strs;
	size_t nr, nr_vers;
	int err;

	err = section_data(a, scn, sh, MAX_TABLE, &syms);
	if (err == -EFBIG) {
		a->too_big = true;
		return 0;
	}
	if (!err)
		err = linked_strings(a, sh, &strs);
	if (err == -EFBIG) {
		a->too_big = true;
		return 0;
	}
	if (err)
		return fail(a, err, "symbol table beyond the end of the file or malformed");
	if (!syms || !strs)
		return 0;
	if (sh->sh_type == SHT_DYNSYM) {
		a->dynsym = syms;
		a->dynstr = strs;
	}
	nr = syms->d_size / sizeof(Elf64_Sym);
	nr_vers = versym ? versym->d_size / sizeof(Elf64_Versym) : 0;
	for (size_t i = 1; i < nr; i++) {
		const char *s;
		struct def *d;
		Elf64_Versym v = 0;
		GElf_Sym sym;
		int n, bind;

		if (!gelf_getsym(syms, (int)i, &sym))
			break;
		if (sym.st_shndx == SHN_UNDEF)
			continue;
		s = str_at(strs, sym.st_name);
		if (!s || !s[0])
			continue;
		note_kind(a, s);
		bind = GELF_ST_BIND(sym.st_info);
		/* an IFUNC's symbol is its resolver's: not the allocator */
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || (bind != STB_GLOBAL && bind != STB_WEAK))
			continue;
		n = name_index(s);
		if (n < 0)
			continue;
		if (i < nr_vers)
			memcpy(&v, (const char *)versym->d_buf + i * sizeof(v), sizeof(v));
		d = &a->defs[n];
		if (d->found && !(d->hidden && !(v & VERSYM_HIDDEN)))
			continue;
		d->found = true;
		d->hidden = v & VERSYM_HIDDEN;
		d->vaddr = sym.st_value;
		d->size = sym.st_size;
	}
	return 0;
}

/* Whether a name of the table is defined at vaddr. */
static bool is_entry(const struct an *a, uint64_t vaddr)
{
	for (int i = 0; i < NR_NAMES; i++)
		if (a->defs[i].found && a->defs[i].vaddr == vaddr)
			return true;
	return false;
}

/* The GOT slots that the dynamic relocations fill with entry points: what
 * a PLT stub or a -fno-plt call jumps through. */
static int scan_relocs(struct an *a, Elf_Scn *scn, const GElf_Shdr *sh)
{
	size_t nr, nr_syms;
	Elf_Data *d;
	int err;

	if (!a->dynsym || sh->sh_link != a->dynsym_idx)
		return 0;
	err = section_data(a, scn, sh, MAX_TABLE, &d);
	if (err == -EFBIG)
		return 0;	/* its stubs stay unnamed: their wrappers get probes */
	if (err)
		return fail(a, err, "relocations beyond the end of the file or malformed");
	if (!d)
		return 0;
	nr = d->d_size / sizeof(Elf64_Rela);
	nr_syms = a->dynsym->d_size / sizeof(Elf64_Sym);
	for (size_t i = 0; i < nr && a->nr_slots < MAX_SLOTS; i++) {
		uint64_t type, si;
		const char *s;
		GElf_Rela r;
		GElf_Sym sym;
		int n;

		if (!gelf_getrela(d, (int)i, &r))
			break;
		type = GELF_R_TYPE(r.r_info);
		si = GELF_R_SYM(r.r_info);
		if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || !si || si >= nr_syms)
			continue;
		if (!gelf_getsym(a->dynsym, (int)si, &sym))
			continue;
		s = str_at(a->dynstr, sym.st_name);
		n = s ? name_index(s) : -1;
		if (n < 0 && (sym.st_shndx == SHN_UNDEF || !is_entry(a, sym.st_value)))
			continue;
		a->slots[a->nr_slots].got = r.r_offset;
		a->slots[a->nr_slots].name = n;
		a->slots[a->nr_slots].vaddr = sym.st_value;
		a->nr_slots++;
	}
	return 0;
}

/* The soname: glibc's is libc.so.6. */
static void scan_dynamic(struct an *a, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d, *strs;
	size_t nr;

	if (section_data(a, scn, sh, MAX_SMALL, &d) || !d || linked_strings(a, sh, &strs))
		return;
	nr = d->d_size / sizeof(Elf64_Dyn);
	for (size_t i = 0; i < nr && i < MAX_DYNAMIC; i++) {
		const char *s;
		GElf_Dyn dyn;

		if (!gelf_getdyn(d, (int)i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag != DT_SONAME)
			continue;
		s = str_at(strs, dyn.d_un.d_val);
		if (s && !strncmp(s, "libc.so", 7))
			a->libc_soname = true;
	}
}

/* The versions the object defines: glibc's are GLIBC_2.*. */
static void scan_verdef(struct an *a, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d, *strs;
	size_t off = 0;

	if (section_data(a, scn, sh, MAX_SMALL, &d) || !d || linked_strings(a, sh, &strs))
		return;
	for (uint32_t i = 0; i < sh->sh_info && i < MAX_VERDEFS; i++) {
		GElf_Verdaux aux;
		GElf_Verdef vd;
		const char *s;

		if (!gelf_getverdef(d, (int)off, &vd))
			break;
		if (vd.vd_aux && off + vd.vd_aux < d->d_size &&
		    gelf_getverdaux(d, (int)(off + vd.vd_aux), &aux)) {
			s = str_at(strs, aux.vda_name);
			if (s && !strncmp(s, "GLIBC_2.", 8)) {
				a->glibc_version = true;
				return;
			}
		}
		/* forward only: a chain that loops or leaves ends here */
		if (!vd.vd_next || vd.vd_next >= d->d_size - off)
			break;
		off += vd.vd_next;
	}
}

static void add_plt(struct an *a, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d;

	if (a->nr_plts == (int)(sizeof(a->plts) / sizeof(a->plts[0])) ||
	    section_data(a, scn, sh, MAX_SMALL, &d) || !d)
		return;
	a->plts[a->nr_plts].addr = sh->sh_addr;
	a->plts[a->nr_plts].bytes = d->d_buf;
	a->plts[a->nr_plts].len = d->d_size;
	a->nr_plts++;
}

/* Symbols first (.dynsym before .symtab: its definitions win), then what
 * needs them. */
static int read_sections(struct an *a)
{
	size_t shnum, shstrndx, symtab = 0, versym = 0, verdef = 0, dynamic = 0;
	size_t rela[MAX_RELA], plt[3];
	int nr_rela = 0, nr_plt = 0, err;
	Elf_Data *shstr = NULL, *vers = NULL;
	GElf_Shdr sh;
	Elf_Scn *scn;

	if (elf_getshdrnum(a->elf, &shnum) || shnum > MAX_SECTIONS)
		return fail(a, -ENOEXEC, "malformed section headers");
	if (!elf_getshdrstrndx(a->elf, &shstrndx) && (scn = elf_getscn(a->elf, shstrndx)) &&
	    gelf_getshdr(scn, &sh) && sh.sh_type == SHT_STRTAB)
		section_data(a, scn, &sh, MAX_TABLE, &shstr);
	for (size_t i = 1; i < shnum; i++) {
		const char *s;

		scn = elf_getscn(a->elf, i);
		if (!scn || !gelf_getshdr(scn, &sh))
			return fail(a, -ENOEXEC, "malformed section header %zu", i);
		switch (sh.sh_type) {
		case SHT_DYNSYM:
			if (!a->dynsym_idx)
				a->dynsym_idx = i;
			break;
		case SHT_SYMTAB:
			if (!symtab)
				symtab = i;
			break;
		case SHT_GNU_versym:
			versym = i;
			break;
		case SHT_GNU_verdef:
			verdef = i;
			break;
		case SHT_DYNAMIC:
			dynamic = i;
			break;
		case SHT_RELA:
			if (nr_rela < MAX_RELA)
				rela[nr_rela++] = i;
			break;
		case SHT_PROGBITS:
			s = str_at(shstr, sh.sh_name);
			if (s && (!strcmp(s, ".plt") || !strcmp(s, ".plt.sec") || !strcmp(s, ".plt.got")) &&
			    (sh.sh_flags & SHF_EXECINSTR) && nr_plt < 3)
				plt[nr_plt++] = i;
			break;
		}
	}

	if (a->dynsym_idx) {
		/* versions of .dynsym's symbols, one per symbol */
		if (versym && (scn = elf_getscn(a->elf, versym)) && gelf_getshdr(scn, &sh) &&
		    sh.sh_link == a->dynsym_idx)
			section_data(a, scn, &sh, MAX_TABLE, &vers);
		scn = elf_getscn(a->elf, a->dynsym_idx);
		if (!scn || !gelf_getshdr(scn, &sh))
			return fail(a, -ENOEXEC, "malformed .dynsym header");
		err = scan_symbols(a, scn, &sh, vers);
		if (err)
			return err;
	}
	if (symtab) {
		scn = elf_getscn(a->elf, symtab);
		if (!scn || !gelf_getshdr(scn, &sh))
			return fail(a, -ENOEXEC, "malformed .symtab header");
		err = scan_symbols(a, scn, &sh, NULL);
		if (err)
			return err;
	}
	for (int i = 0; i < nr_rela; i++) {
		scn = elf_getscn(a->elf, rela[i]);
		if (scn && gelf_getshdr(scn, &sh)) {
			err = scan_relocs(a, scn, &sh);
			if (err)
				return err;
		}
	}
	for (int i = 0; i < nr_plt; i++)
		if ((scn = elf_getscn(a->elf, plt[i])) && gelf_getshdr(scn, &sh))
			add_plt(a, scn, &sh);
	if (dynamic && (scn = elf_getscn(a->elf, dynamic)) && gelf_getshdr(scn, &sh))
		scan_dynamic(a, scn, &sh);
	if (verdef && (scn = elf_getscn(a->elf, verdef)) && gelf_getshdr(scn, &sh))
		scan_verdef(a, scn, &sh);
	return 0;
}

static int read_segments(struct an *a)
{
	size_t nr;

	if (elf_getphdrnum(a->elf, &nr))
		return fail(a, -ENOEXEC, "malformed program headers");
	for (size_t i = 0; i < nr && i < MAX_PHDRS && a->nr_segs < MAX_EXEC_SEGS; i++) {
		struct seg *s = &a->segs[a->nr_segs];
		GElf_Phdr ph;

		if (!gelf_getphdr(a->elf, (int)i, &ph))
			return fail(a, -ENOEXEC, "malformed program header %zu", i);
		if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || ph.p_offset >= a->file_size)
			continue;
		s->vaddr = ph.p_vaddr;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz < a->file_size - ph.p_offset ? ph.p_filesz :
			    a->file_size - ph.p_offset;
		if (s->filesz && s->vaddr <= UINT64_MAX - s->filesz)
			a->nr_segs++;
	}
	return 0;
}

/* The file offset of code at vaddr, and how many bytes of its segment the
 * file holds from there. */
static bool code_offset(const struct an *a, uint64_t vaddr, uint64_t *off, uint64_t *avail)
{
	for (int i = 0; i < a->nr_segs; i++) {
		const struct seg *s = &a->segs[i];

		if (vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz) {
			*off = s->offset + (vaddr - s->vaddr);
			*avail = s->filesz - (vaddr - s->vaddr);
			return true;
		}
	}
	return false;
}

/* Up to len bytes of code at vaddr: how many were read, or -errno. */
static ssize_t read_code(const struct an *a, uint64_t vaddr, uint8_t *buf, size_t len)
{
	uint64_t off, avail;
	size_t done = 0;

	if (!code_offset(a, vaddr, &off, &avail))
		return -ENOEXEC;
	if (len > avail)
		len = avail;
	while (done < len) {
		ssize_t n = pread(a->fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;	/* truncated since: what was read is all there is */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int func_at(const struct an *a, uint64_t vaddr)
{
	for (int i = 0; i < a->nr_funcs; i++)
		if (a->funcs[i].vaddr == vaddr)
			return i;
	return -1;
}

/* One function per address with a name, in the order of names[]. */
static void collect_funcs(struct an *a)
{
	uint64_t off, avail;

	for (int n = 0; n < NR_NAMES; n++) {
		struct def *d = &a->defs[n];
		struct func *f;

		d->func = -1;
		if (!d->found || !code_offset(a, d->vaddr, &off, &avail))
			continue;
		d->func = func_at(a, d->vaddr);
		if (d->func >= 0)
			continue;
		d->func = a->nr_funcs;
		f = &a->funcs[a->nr_funcs++];
		f->vaddr = d->vaddr;
		f->size = d->size;
		f->name = n;
	}
}

static unsigned int reg_bit(unsigned int r)
{
	switch (r) {
	case X86_REG_RDI: case X86_REG_EDI: case X86_REG_DI: case X86_REG_DIL:
		return R_DI;
	case X86_REG_RSI: case X86_REG_ESI: case X86_REG_SI: case X86_REG_SIL:
		return R_SI;
	case X86_REG_RDX: case X86_REG_EDX: case X86_REG_DX: case X86_REG_DL: case X86_REG_DH:
		return R_DX;
	case X86_REG_RSP: case X86_REG_ESP: case X86_REG_SP: case X86_REG_SPL:
		return R_SP;
	}
	return 0;
}

/* The registers bpf/heap.bpf.h reads at an entry of this kind. */
static unsigned int args_of(uint32_t fn)
{
	switch (fn) {
	case HEAP_FN_MALLOC:
	case HEAP_FN_FREE:
	case HEAP_FN_PVALLOC:
		return R_DI;
	case HEAP_FN_CALLOC:
	case HEAP_FN_REALLOC:
	case HEAP_FN_MEMALIGN:
		return R_DI | R_SI;
	}
	return R_DI | R_SI | R_DX;
}

enum emulation { EMU_NO, EMU_NOP, EMU_BRANCH, EMU_PUSH };

/*
 * What the kernel does with an instruction at a uprobe, as
 * arch/x86/kernel/uprobes.c decides it: it emulates relative jmp, jcc and
 * call (not with a 0x66 prefix), push of a register (no prefix but REX.B
 * 0x41), and nops; it single-steps a copy of anything else. It refuses
 * instructions with a segment (but fs, gs) or lock prefix outright.
 */
static enum emulation emulation(const uint8_t *b, size_t len)
{
	/* the kernel's x86_nops[len] */
	static const uint8_t nops[8][8] = {
		{ 0x90 },
		{ 0x66, 0x90 },
		{ 0x0f, 0x1f, 0x00 },
		{ 0x0f, 0x1f, 0x40, 0x00 },
		{ 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	};
	bool p66 = false;
	uint8_t rex = 0, op;
	size_t i;

	if (len >= 1 && len <= 8 && !memcmp(b, nops[len - 1], len))
		return EMU_NOP;
	for (i = 0; i < len; i++) {
		if (b[i] == 0x66)
			p66 = true;
		else if (b[i] == 0x26 || b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e || b[i] == 0xf0)
			return EMU_NO;
		else if (b[i] != 0x64 && b[i] != 0x65 && b[i] != 0x67 && b[i] != 0xf2 && b[i] != 0xf3)
			break;
	}
	if (i < len && b[i] >= 0x40 && b[i] <= 0x4f)
		rex = b[i++];
	if (i >= len)
		return EMU_NO;
	op = b[i];
	if (op == 0x90 && !rex)
		return EMU_NOP;
	if (op >= 0x50 && op <= 0x57)
		return len == 1 || (len == 2 && i == 1 && rex == 0x41) ? EMU_PUSH : EMU_NO;
	if (p66)
		return EMU_NO;
	if (op == 0xeb || op == 0xe9 || op == 0xe8 || (op >= 0x70 && op <= 0x7f))
		return EMU_BRANCH;
	if (op == 0x0f && i + 1 < len && b[i + 1] >= 0x80 && b[i + 1] <= 0x8f)
		return EMU_BRANCH;
	return EMU_NO;
}

/* Whether the probe may go past an instruction: it does not branch, and
 * leaves rsp, [rsp] and the registers in args as they were. */
static bool passable(const struct an *a, const cs_insn *in, unsigned int args)
{
	const cs_detail *d = in->detail;
	uint8_t nr_read, nr_written;
	cs_regs read, written;

	for (int i = 0; i < d->groups_count; i++) {
		switch (d->groups[i]) {
		case CS_GRP_JUMP:
		case CS_GRP_CALL:
		case CS_GRP_RET:
		case CS_GRP_INT:	/* syscall too: capstone names none of its writes */
		case CS_GRP_IRET:
		case CS_GRP_PRIVILEGE:
		case CS_GRP_BRANCH_RELATIVE:
			return false;
		}
	}
	/* what capstone cannot say, it might write */
	if (cs_regs_access(a->cs, in, read, &nr_read, written, &nr_written))
		return false;
	for (int i = 0; i < nr_written; i++)
		if (reg_bit(written[i]) & (args | R_SP))
			return false;
	for (int i = 0; i < d->x86.op_count; i++) {
		const cs_x86_op *op = &d->x86.operands[i];

		if (op->type == X86_OP_MEM && (op->access & CS_AC_WRITE) && (reg_bit(op->mem.base) & R_SP))
			return false;
	}
	return true;
}

/* Where f's probe goes, from its first bytes. */
static void place(struct an *a, const struct func *f, struct alloc_probe *p)
{
	const uint8_t *code = f->head;
	size_t left = f->head_len;
	uint64_t addr = f->vaddr;

	p->vaddr = f->vaddr;
	p->emulated = false;
	for (int i = 0; i < PLACE_INSNS && addr - f->vaddr < PLACE_BYTES; i++) {
		uint64_t at = addr;
		enum emulation e;

		if (!cs_disasm_iter(a->cs, &code, &left, &addr, a->insn))
			return;
		e = emulation(a->insn->bytes, a->insn->size);
		if (e == EMU_BRANCH || e == EMU_PUSH) {
			p->vaddr = at;
			p->emulated = true;
			return;
		}
		if (!i)
			p->emulated = e == EMU_NOP;
		if (!passable(a, a->insn, args_of(names[f->name].fn)))
			return;
	}
}

/* The GOT slot an indirect jmp or call goes through: jmp *disp(%rip). */
static bool rip_slot(const cs_insn *in, uint64_t *slot)
{
	const cs_x86 *x = &in->detail->x86;
	const cs_x86_op *op = &x->operands[0];

	if ((in->id != X86_INS_JMP && in->id != X86_INS_CALL) || x->op_count != 1 ||
	    op->type != X86_OP_MEM || op->mem.base != X86_REG_RIP ||
	    op->mem.index != X86_REG_INVALID || op->mem.segment != X86_REG_INVALID)
		return false;
	*slot = in->address + in->size + (uint64_t)op->mem.disp;
	return true;
}

static const struct slot *slot_at(const struct an *a, uint64_t got)
{
	for (int i = 0; i < a->nr_slots; i++)
		if (a->slots[i].got == got)
			return &a->slots[i];
	return NULL;
}

/* The slot of an entry point a PLT stub at target jumps through: endbr64,
 * then (bnd) jmp *slot(%rip); .plt, .plt.sec and .plt.got stubs all begin
 * so. */
static const struct slot *plt_slot(struct an *a, uint64_t target)
{
	static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };

	for (int i = 0; i < a->nr_plts; i++) {
		const struct plt *p = &a->plts[i];
		const uint8_t *code;
		uint64_t slot;
		size_t left;

		if (target < p->addr || target - p->addr >= p->len)
			continue;
		code = p->bytes + (target - p->addr);
		left = p->len - (target - p->addr);
		if (left >= sizeof(endbr64) && !memcmp(code, endbr64, sizeof(endbr64))) {
			code += sizeof(endbr64);
			left -= sizeof(endbr64);
			target += sizeof(endbr64);
		}
		if (!cs_disasm_iter(a->cs, &code, &left, &target, a->stub) || !rip_slot(a->stub, &slot))
			return NULL;
		return slot_at(a, slot);
	}
	return NULL;
}

/* realloc(NULL, n) is malloc(n) and realloc(p, 0) is free(p): a realloc
 * that tail-calls them for those (glibc's) is still realloc. One that
 * calls malloc, copies and calls free is a wrapper. */
static bool edge_counts(uint32_t from, uint32_t to, bool tail)
{
	return !(tail && from == HEAP_FN_REALLOC && (to == HEAP_FN_MALLOC || to == HEAP_FN_FREE));
}

static void call_to_func(struct an *a, struct func *f, int self, int j, bool tail)
{
	if (j >= 0 && tail && names[f->name].fn == HEAP_FN_REALLOC &&
	    names[a->funcs[j].name].fn == HEAP_FN_MALLOC)
		f->null_to_malloc = true;
	if (j >= 0 && j != self && edge_counts(names[f->name].fn, names[a->funcs[j].name].fn, tail))
		f->calls |= 1u << j;
}

static void call_to_slot(struct an *a, struct func *f, int self, const struct slot *s, bool tail)
{
	const struct def *d;

	if (s->name < 0) {
		call_to_func(a, f, self, func_at(a, s->vaddr), tail);
		return;
	}
	d = &a->defs[s->name];
	if (!d->found) {
		/* another object's: probed there */
		if (edge_counts(names[f->name].fn, names[s->name].fn, tail))
			f->calls_out = true;
	} else {
		call_to_func(a, f, self, d->func, tail);
	}
}

static bool in_group(const cs_insn *in, uint8_t group)
{
	for (int i = 0; i < in->detail->groups_count; i++)
		if (in->detail->groups[i] == group)
			return true;
	return false;
}

/*
 * Whether f passes its calls on to another entry point: whether the path
 * its code takes when no conditional branch is taken (the usual case, as
 * compilers lay code out, near enough) calls or tail-calls one, directly,
 * through a PLT stub or through a GOT slot (-fno-plt). A call somewhere
 * else in the body is not enough: tcmalloc's sized delete passes only
 * page-aligned blocks to free, and frees the others itself.
 */
static void walk_calls(struct an *a, int self, const uint8_t *body, size_t len)
{
	struct func *f = &a->funcs[self];
	const uint8_t *code = body;
	uint64_t addr = f->vaddr;
	size_t left = len;

	/* forward only, jumps too: len instructions at most */
	while (left && cs_disasm_iter(a->cs, &code, &left, &addr, a->insn)) {
		const cs_insn *in = a->insn;
		const cs_x86_op *op = &in->detail->x86.operands[0];
		bool imm = in->detail->x86.op_count == 1 && op->type == X86_OP_IMM;
		bool call = in_group(in, CS_GRP_CALL), tail = in->id == X86_INS_JMP;
		const struct slot *s = NULL;
		uint64_t target = 0, slot;
		int j = -1;

		if (in_group(in, CS_GRP_RET) || in_group(in, CS_GRP_INT) || in_group(in, CS_GRP_IRET) ||
		    in->id == X86_INS_UD2 || in->id == X86_INS_HLT)
			return;
		if (!call && !tail)
			continue;	/* jcc: the path goes on */
		if (imm) {
			target = (uint64_t)op->imm;
			j = func_at(a, target);
			if (j < 0)
				s = plt_slot(a, target);
		} else if (rip_slot(in, &slot)) {
			s = slot_at(a, slot);
		}
		if (j >= 0)
			call_to_func(a, f, self, j, tail);
		else if (s)
			call_to_slot(a, f, self, s, tail);
		if (call)
			continue;
		/* a jmp: the path goes on at its target if that is ahead in f */
		if (j >= 0 || s || !imm || target <= in->address || target - f->vaddr >= len)
			return;
		code = body + (target - f->vaddr);
		left = len - (target - f->vaddr);
		addr = target;
	}
}

/* Read each function's body, note its calls, and mark the wrappers: those
 * whose calls end, through other wrappers, at a probe. A loop of wrappers
 * (only a file made so has one) keeps its probes: something must count. */
static int find_wrappers(struct an *a)
{
	uint32_t resolved = 0;
	uint8_t *body;

	body = malloc(MAX_BODY);
	if (!body)
		return fail(a, -ENOMEM, "out of memory");
	for (int i = 0; i < a->nr_funcs; i++) {
		struct func *f = &a->funcs[i];
		size_t len = !f->size ? BODY_UNSIZED : f->size < MAX_BODY ? f->size : MAX_BODY;
		ssize_t n = read_code(a, f->vaddr, body, len);

		if (n <= 0) {
			free(body);
			return fail(a, n < 0 ? (int)n : -ENOEXEC, "cannot read %s's code at 0x%llx%s%s",
				    names[f->name].name, (unsigned long long)f->vaddr,
				    n < 0 ? ": " : ": the file ends", n < 0 ? strerror((int)-n) : "");
		}
		f->head_len = (size_t)n < sizeof(f->head) ? (size_t)n : sizeof(f->head);
		memcpy(f->head, body, f->head_len);
		walk_calls(a, i, body, (size_t)n);
		f->wrapper = f->calls || f->calls_out;
		if (!f->wrapper)
			resolved |= 1u << i;
	}
	free(body);
	for (int round = 0; round < a->nr_funcs; round++) {
		bool changed = false;

		for (int i = 0; i < a->nr_funcs; i++) {
			const struct func *f = &a->funcs[i];

			if (!(resolved & (1u << i)) && (f->calls_out || (f->calls & resolved))) {
				resolved |= 1u << i;
				changed = true;
			}
		}
		if (!changed)
			break;
	}
	for (int i = 0; i < a->nr_funcs; i++)
		if (!(resolved & (1u << i)))
			a->funcs[i].wrapper = false;
	return 0;
}

static const char *kind_of(const struct an *a)
{
	if (a->libc_soname || (a->libc_malloc && (a->glibc_version || a->int_malloc)))
		return "glibc";
	if (a->je || (a->mallocx && a->sdallocx))
		return "jemalloc";
	if (a->tc)
		return "tcmalloc";
	if (a->mi)
		return "mimalloc";
	return "other";
}

/* Read before libelf sees the file: what is not an x86-64 executable or
 * shared object costs no more than this. */
static int check_header(struct an *a)
{
	Elf64_Ehdr eh;
	ssize_t n;

	do
		n = pread(a->fd, &eh, sizeof(eh), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(a, -errno, "cannot read it: %s", strerror(errno));
	if (n != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return fail(a, -ENOEXEC, "not an ELF file");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return fail(a, -ENOEXEC, "not an x86-64 object");
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return fail(a, -ENOEXEC, "neither an executable nor a shared object");
	/* libelf takes tables past the end for none: a truncated file would
	 * look like one without symbols */
	if (eh.e_phoff > a->file_size ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > a->file_size - eh.e_phoff ||
	    eh.e_shoff > a->file_size ||
	    (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > a->file_size - eh.e_shoff)
		return fail(a, -ENOEXEC, "its headers run past its end (%llu bytes): truncated",
			    (unsigned long long)a->file_size);
	return 0;
}

static int analyze(struct an *a, struct allocator *out)
{
	int err;

	err = check_header(a);
	if (err)
		return err;
	a->elf = elf_begin(a->fd, ELF_C_READ, NULL);
	if (!a->elf || elf_kind(a->elf) != ELF_K_ELF)
		return fail(a, -ENOEXEC, "malformed ELF file: %s", elf_errmsg(-1));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &a->cs) != CS_ERR_OK) {
		a->cs = 0;
		return fail(a, -ENOMEM, "cannot open the disassembler");
	}
	cs_option(a->cs, CS_OPT_DETAIL, CS_OPT_ON);
	a->insn = cs_malloc(a->cs);
	a->stub = cs_malloc(a->cs);
	if (!a->insn || !a->stub)
		return fail(a, -ENOMEM, "out of memory");
	err = read_segments(a);
	if (!err)
		err = read_sections(a);
	if (err)
		return err;
	if (!a->defs[0].found && a->too_big)
		return fail(a, -EFBIG, "a symbol table over %u MiB, not read", MAX_TABLE >> 20);
	if (!a->defs[0].found)
		return fail(a, -ENOENT, "defines no malloc: not an allocator");
	collect_funcs(a);
	if (a->defs[0].func < 0)
		return fail(a, -ENOEXEC, "malloc at 0x%llx is outside the executable segments",
			    (unsigned long long)a->defs[0].vaddr);
	err = find_wrappers(a);
	if (err)
		return err;

	for (int i = 0; i < a->nr_funcs; i++) {
		const struct func *f = &a->funcs[i];
		struct alloc_probe *p;
		uint64_t avail;

		if (f->wrapper) {
			out->nr_wrappers++;
			continue;
		}
		p = &out->probes[out->nr++];
		place(a, f, p);
		if (!code_offset(a, p->vaddr, &p->offset, &avail))
			return fail(a, -ENOEXEC, "%s's probe at 0x%llx is outside its segment",
				    names[f->name].name, (unsigned long long)p->vaddr);
		p->func_vaddr = f->vaddr;
		p->fn = names[f->name].fn;
		p->null_to_malloc = f->null_to_malloc;
		snprintf(p->name, sizeof(p->name), "%s", names[f->name].name);
		if (!p->emulated)
			out->nr_single_stepped++;
	}
	snprintf(out->kind, sizeof(out->kind), "%s", kind_of(a));
	return 0;
}

int allocator__analyze(int fd, struct allocator *out, char *err, size_t errlen)
{
	struct an *a;
	struct stat st;
	int ret;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = '\0';
	a = calloc(1, sizeof(*a));
	if (!a) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->fd = fd;
	a->err = err;
	a->errlen = errlen;
	if (fstat(fd, &st)) {
		ret = fail(a, -errno, "cannot stat it: %s", strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = fail(a, -EINVAL, "not a regular file");
		goto cleanup;
	}
	if ((uint64_t)st.st_size < sizeof(Elf64_Ehdr)) {
		ret = fail(a, -ENOEXEC, "not an ELF file: %lld bytes", (long long)st.st_size);
		goto cleanup;
	}
	if (!elf_ready()) {
		ret = fail(a, -EINVAL, "libelf does not take our ELF version");
		goto cleanup;
	}
	a->file_size = (uint64_t)st.st_size;
	ret = analyze(a, out);

cleanup:
	if (ret) {
		memset(out, 0, sizeof(*out));
		if (errlen && !err[0])
			snprintf(err, errlen, "%s", strerror(-ret));
	}
	if (a->insn)
		cs_free(a->insn, 1);
	if (a->stub)
		cs_free(a->stub, 1);
	if (a->cs)
		cs_close(&a->cs);
	if (a->elf)
		elf_end(a->elf);
	free(a);
	return ret;
}
