// SPDX-License-Identifier: GPL-2.0
/*
 * One ELF object reduced to what symbolization needs: a sorted table of
 * function symbols, the GNU build id, the PT_LOAD segments and, when there
 * is DWARF for it, file, line and inlined frames.
 *
 * Symbols come from the object's own .symtab and .dynsym; when it has no
 * .symtab (stripped), from its separate debug file (build-id path,
 * .gnu_debuglink, debuginfod), else from its MiniDebugInfo (.gnu_debugdata),
 * and for Go from .gopclntab. They are copied out at open time, so the
 * object holds no descriptor for them and survives the file being replaced.
 * DWARF (the object's own or its debug file's) stays open, through dwarfsrc.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfinit.h"
#include "bsearch.h"
#include "buildid.h"
#include "debuginfo.h"
#include "demangle.h"
#include "dwarfsrc.h"
#include "elfobj.h"
#include "gopclntab.h"
#include "hashmap.h"

struct elf_sym {
	uint64_t start;
	uint64_t size;
	uint32_t name;			/* offset into names */
	uint32_t alias;			/* its other names: aliases[alias] up to the next symbol's */
};

struct elf_seg {
	uint64_t offset, filesz, vaddr;
	bool exec;
};

struct elfobj {
	struct elf_sym *syms;		/* sorted by start, one per address */
	size_t nr_syms;
	uint32_t *aliases;		/* offsets into names of the names not chosen */
	size_t nr_aliases;		/* (kept only when DWARF may name them) */
	char *names;			/* every kept name, NUL-separated */
	size_t names_len;
	struct elf_seg *segs;
	size_t nr_segs;
	char build_id[BUILD_ID_MAX * 2 + 1];	/* "" when none */
	struct dwarfsrc *dwarf;		/* NULL: no DWARF found */
	struct hashmap *demangled;	/* symbol index -> char * (NULL: not mangled) */
	size_t demangled_bytes;
	enum elfobj_source sym_source;
	bool debug_pending;		/* debuginfod may still bring a debug file */
};

/* A symbol as found in a table, before deduplication; its name still
 * points into libelf's copy of the string table, and may go on past len
 * (a symbol version cut off). */
struct sym_cand {
	uint64_t start, size;
	const char *name;
	size_t len;
	unsigned char bind;
	bool hidden;			/* a non-default symbol version */
	bool preferred;			/* the name its own runtime uses (see cmp_cand) */
};

/* Bounds on the names kept beside the chosen one, per address. */
#define ALIASES_MAX	16

/* An ELF image in memory (the vDSO) has at most this many headers. */
#define IMAGE_MAX_PHDRS		64
#define IMAGE_MAX_SHDRS		256

/* .gnu.version: the bit that marks a symbol's version as not the default
 * one (what readelf shows as a single '@'). */
#define VERSYM_HIDDEN_BIT	0x8000

static size_t leading_underscores(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && s[n] == '_')
		n++;
	return n;
}

/* How many of glibc's internal alias prefixes the name is wrapped in:
 * __GI___libc_malloc is 2 (__GI_ for calls from inside libc, __libc_ for
 * the internal entry point), __libc_malloc 1, malloc 0. __pthread_ is not
 * one: __pthread_x is often the only name of an internal function, and the
 * underscores already rank it below pthread_x. */
static int internal_depth(const char *s, size_t len)
{
	static const char *const prefixes[] = { "__GI_", "__EI_", "__libc_" };
	int depth = 0;
	size_t i;

again:
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);

		if (len > n && !memcmp(s, prefixes[i], n)) {
			s += n;
			len -= n;
			depth++;
			goto again;
		}
	}
	return depth;
}

/*
 * By address, then best name first. Several names often share an address
 * and only one can be reported: glibc has half a dozen for many functions
 * (malloc, __libc_malloc, __malloc, __GI___libc_malloc in .symtab; malloc
 * and __libc_malloc in .dynsym), Go's .symtab has "x.abi0" where its
 * runtime says "x". The name chosen is what people call the function, the
 * name in its documentation and in perf's output, never one made up:
 *
 *   1. sized over unsized: an unsized label inside hand-written assembly
 *      would claim code up to the next symbol;
 *   2. the name the code's own runtime reports: Go's pclntab name (what
 *      runtime.FuncForPC and Go's own profiles say; .symtab adds ".abi0" to
 *      assembly functions and spells out the type arguments the pclntab
 *      writes "[...]"), the vDSO's __vdso_ names (what perf shows; the
 *      plain ones are weak aliases, and would merge in pprof with libc's
 *      wrapper of the same name, which calls them);
 *   3. exported (GLOBAL or WEAK, equally: glibc's public names are often
 *      weak aliases of a global internal one, as pwrite64 of __libc_pwrite)
 *      over LOCAL, which is where __GI_ names and static helpers are;
 *   4. the default version over a non-default one (cfree@GLIBC_2.2.5 is
 *      free's compatibility alias);
 *   5. fewer leading underscores (___pthread_mutex_lock, __malloc: the
 *      reserved names are the implementation's own);
 *   6. fewer of glibc's internal prefixes (internal_depth);
 *   7. longer, as perf: glibc defines the longer name and aliases the
 *      shorter one to it (pwrite64 and pwrite, __memmove_avx_unaligned_erms
 *      and __memcpy_avx_unaligned_erms);
 *   8. by name, so the choice does not depend on table order.
 *
 * For malloc, free, pthread_mutex_lock, pwrite64, write and read this gives
 * those names; perf 6.1 says malloc, cfree@GLIBC_2.2.5, read,
 * pthread_mutex_lock@@GLIBC_2.2.5, __libc_pwrite and __GI___libc_write
 * (it ranks global over weak and keeps versions in the name).
 */
static int cmp_cand(const void *a, const void *b)
{
	const struct sym_cand *x = a, *y = b;
	size_t ux, uy;
	int dx, dy;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (!x->size != !y->size)
		return x->size ? -1 : 1;
	if (x->preferred != y->preferred)
		return x->preferred ? -1 : 1;
	if ((x->bind == STB_LOCAL) != (y->bind == STB_LOCAL))
		return x->bind == STB_LOCAL ? 1 : -1;
	if (x->hidden != y->hidden)
		return x->hidden ? 1 : -1;
	ux = leading_underscores(x->name, x->len);
	uy = leading_underscores(y->name, y->len);
	if (ux != uy)
		return ux < uy ? -1 : 1;
	dx = internal_depth(x->name, x->len);
	dy = internal_depth(y->name, y->len);
	if (dx != dy)
		return dx - dy;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return memcmp(x->name, y->name, x->len);
}

/* The length of a name without the symbol version a .symtab name may
 * carry, as .symver writes it: "name@@VER" for the default version,
 * "name@VER" for another one (*hidden set). */
static size_t unversioned_len(const char *name, bool *hidden)
{
	const char *at = strchr(name, '@');
	size_t len = strlen(name);

	*hidden = false;
	if (!at || at == name)
		return len;
	if (at[1] == '@')
		return at[2] ? (size_t)(at - name) : len;
	if (!at[1])
		return len;
	*hidden = true;
	return (size_t)(at - name);
}

/* The version table (.gnu.version) that goes with the dynamic symbol
 * table scn, or NULL. */
static Elf_Data *versym_of(Elf *elf, Elf_Scn *scn)
{
	size_t ndx = elf_ndxscn(scn);
	Elf_Scn *v = NULL;
	GElf_Shdr shdr;

	while ((v = elf_nextscn(elf, v)))
		if (gelf_getshdr(v, &shdr) && shdr.sh_type == SHT_GNU_versym && shdr.sh_link == ndx)
			return elf_getdata(v, NULL);
	return NULL;
}

/* Append the function symbols of one symbol table to cands. vdso: the
 * kernel's vDSO, whose __vdso_ names are preferred. */
static int collect_syms(Elf *elf, Elf_Scn *scn, const GElf_Shdr *shdr, bool arm, bool vdso,
			struct sym_cand **cands, size_t *nr, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL), *versym = NULL;
	size_t entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);
	size_t count, nr_versym = 0, i;
	int err = 0;

	if (!data || !entsize)
		goto cleanup;	/* an unreadable table is skipped, not fatal */
	count = data->d_size / entsize;
	if (shdr->sh_type == SHT_DYNSYM)
		versym = versym_of(elf, scn);
	if (versym)
		nr_versym = versym->d_size / sizeof(GElf_Versym);

	for (i = 0; i < count; i++) {
		struct sym_cand *c;
		unsigned char type;
		const char *name;
		GElf_Versym ver;
		GElf_Sym sym;
		bool hidden;
		size_t len;

		if (!gelf_getsym(data, (int)i, &sym))
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		/* Undefined (imported) and absolute/common symbols name no
		 * code in this file. */
		if (sym.st_shndx == SHN_UNDEF ||
		    (sym.st_shndx >= SHN_LORESERVE && sym.st_shndx != SHN_XINDEX))
			continue;
		/* Thumb functions have bit 0 set in their value. */
		if (arm)
			sym.st_value &= ~(GElf_Addr)1;
		if (!sym.st_value)
			continue;
		name = elf_strptr(elf, shdr->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		len = unversioned_len(name, &hidden);
		if (i < nr_versym && gelf_getversym(versym, (int)i, &ver) && (ver & VERSYM_HIDDEN_BIT))
			hidden = true;

		if (*nr == *cap) {
			size_t ncap = *cap ? *cap * 2 : 256;
			struct sym_cand *tmp = realloc(*cands, ncap * sizeof(**cands));

			if (!tmp) {
				err = -ENOMEM;
				goto cleanup;
			}
			*cands = tmp;
			*cap = ncap;
		}
		c = &(*cands)[(*nr)++];
		c->start = sym.st_value;
		c->size = sym.st_size;
		c->name = name;
		c->len = len;
		c->bind = GELF_ST_BIND(sym.st_info);
		c->hidden = hidden;
		c->preferred = vdso && len > 7 && !memcmp(name, "__vdso_", 7);
	}

cleanup:
	return err;
}

/* Whether elf has a full symbol table (not only .dynsym). */
static bool has_symtab(Elf *elf)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_SYMTAB)
			return true;
	return false;
}

/* Append the function symbols of every symbol table of elf to cands. */
static int collect_elf(Elf *elf, bool vdso, struct sym_cand **cands, size_t *nr, size_t *cap)
{
	Elf_Scn *scn = NULL;
	GElf_Ehdr ehdr;
	int err = 0;

	if (!gelf_getehdr(elf, &ehdr))
		return -ENOEXEC;
	/* Both tables: .symtab has the static functions, .dynsym is all that
	 * is left in a stripped library. Duplicates are merged later. */
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		if (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM)
			continue;
		err = collect_syms(elf, scn, &shdr, ehdr.e_machine == EM_ARM, vdso, cands, nr, cap);
		if (err)
			break;
	}
	return err;
}

/* Go functions from .gopclntab; their names live in the pclntab, which
 * libelf frees with the Elf: copied into a block kept until the symbols
 * are built. */
struct go_collect {
	struct sym_cand **cands;
	size_t *nr, *cap;
	char **blocks;			/* chained: first word points to the previous */
	size_t left;
	char *next;
};

static int go_add(void *ctx, uint64_t start, uint64_t end, const char *name)
{
	struct go_collect *g = ctx;
	size_t len = strlen(name);
	struct sym_cand *c;

	if (!len || end <= start)
		return 0;
	if (len + 1 > g->left) {
		size_t size = len + 1 + sizeof(char *) > 65536 ? len + 1 + sizeof(char *) : 65536;
		char *b = malloc(size), *prev = *g->blocks;

		if (!b)
			return -ENOMEM;
		memcpy(b, &prev, sizeof(prev));
		*g->blocks = b;
		g->next = b + sizeof(char *);
		g->left = size - sizeof(char *);
	}
	if (*g->nr == *g->cap) {
		size_t ncap = *g->cap ? *g->cap * 2 : 256;
		struct sym_cand *tmp = realloc(*g->cands, ncap * sizeof(**g->cands));

		if (!tmp)
			return -ENOMEM;
		*g->cands = tmp;
		*g->cap = ncap;
	}
	memcpy(g->next, name, len + 1);
	c = &(*g->cands)[(*g->nr)++];
	c->start = start;
	c->size = end - start;
	c->name = g->next;
	c->len = len;
	c->bind = STB_GLOBAL;
	c->hidden = false;
	c->preferred = true;
	g->next += len + 1;
	g->left -= len + 1;
	return 0;
}

static void go_blocks_free(char *b)
{
	while (b) {
		char *prev;

		memcpy(&prev, b, sizeof(prev));
		free(b);
		b = prev;
	}
}

/* Whether the name of c is already the group's chosen one (head) or among
 * the aliases kept for it, cands[from, to). */
static bool seen_name(const struct sym_cand *cands, size_t head, size_t from, size_t to,
		      const struct sym_cand *c)
{
	size_t i;

	if (cands[head].len == c->len && !memcmp(cands[head].name, c->name, c->len))
		return true;
	for (i = from; i < to; i++)
		if (cands[i].len == c->len && !memcmp(cands[i].name, c->name, c->len))
			return true;
	return false;
}

/*
 * Sort, deduplicate and copy the candidates into o: per address the best
 * name (cmp_cand) and, with aliases, up to ALIASES_MAX other distinct
 * names, for elfobj__symbolize to know DWARF's name of the function (glibc's
 * __libc_malloc, Go's spelled-out generic names) as another name of it.
 */
static int keep_symbols(struct elfobj *o, struct sym_cand *cands, size_t nr, bool aliases)
{
	size_t kept = 0, nr_alias = 0, names_len = 0, head = 0, group = 0, i, k;
	uint32_t *alias_of = NULL;
	int err = 0;
	char *p;

	if (!nr)
		goto cleanup;
	qsort(cands, nr, sizeof(*cands), cmp_cand);
	/* Compact in place: each address's chosen candidate, followed by its
	 * aliases; alias_of[s] counts the aliases of kept symbol s. */
	alias_of = calloc(nr, sizeof(*alias_of));
	if (!alias_of) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0, k = 0; i < nr; i++) {
		if (k && cands[head].start == cands[i].start) {
			if (!aliases || alias_of[kept - 1] == ALIASES_MAX ||
			    seen_name(cands, head, group, k, &cands[i]))
				continue;
			alias_of[kept - 1]++;
			nr_alias++;
		} else {
			head = k;
			group = k + 1;
			kept++;
		}
		cands[k++] = cands[i];
		names_len += cands[i].len + 1;
	}
	if (names_len > UINT32_MAX || nr_alias > UINT32_MAX) {
		err = -EFBIG;
		goto cleanup;
	}

	o->syms = calloc(kept, sizeof(*o->syms));
	o->names = malloc(names_len);
	o->aliases = nr_alias ? calloc(nr_alias, sizeof(*o->aliases)) : NULL;
	if (!o->syms || !o->names || (nr_alias && !o->aliases)) {
		err = -ENOMEM;
		goto cleanup;
	}
	p = o->names;
	for (i = 0, k = 0; i < kept; i++) {
		size_t j;

		o->syms[i].start = cands[k].start;
		o->syms[i].size = cands[k].size;
		o->syms[i].alias = (uint32_t)o->nr_aliases;
		for (j = 0; j <= alias_of[i]; j++, k++) {
			if (j)
				o->aliases[o->nr_aliases++] = (uint32_t)(p - o->names);
			else
				o->syms[i].name = (uint32_t)(p - o->names);
			memcpy(p, cands[k].name, cands[k].len);
			p[cands[k].len] = '\0';
			p += cands[k].len + 1;
		}
	}
	o->nr_syms = kept;
	o->names_len = names_len;

cleanup:
	free(alias_of);
	return err;
}

/* An ELF file opened read-only, closed with close_elf(). */
static Elf *open_elf(const char *path, int *fd)
{
	Elf *elf;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	/* ELF_C_READ, not _MMAP: libelf then pread()s only the sections we
	 * ask for, and a file truncated under us gives an error, not SIGBUS. */
	elf = elf_begin(*fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(*fd);
		*fd = -1;
		errno = ENOEXEC;
		return NULL;
	}
	return elf;
}

static void close_elf(Elf *elf, int fd)
{
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
}

/*
 * The symbols of the object elf (opened from path) and, when there is one,
 * its DWARF. A stripped object's full symbol table is taken from the first
 * of: its separate debug file, its MiniDebugInfo, its Go pclntab; a Go
 * binary's pclntab is read in any case.
 */
static int load_symbols(struct elfobj *o, Elf *elf, const char *path,
			const struct elfobj_debug *dbg)
{
	struct sym_cand *cands = NULL;
	size_t nr = 0, cap = 0;
	char *debug_path = NULL, *go_names = NULL;
	Elf *dbg_elf = NULL, *mini = NULL;
	void *mini_image = NULL;
	int dbg_fd = -1, err;

	err = collect_elf(elf, false, &cands, &nr, &cap);
	if (err)
		goto cleanup;
	o->sym_source = nr ? ELFOBJ_SRC_DYNSYM : ELFOBJ_SRC_NONE;
	if (has_symtab(elf))
		o->sym_source = ELFOBJ_SRC_SYMTAB;

	o->dwarf = dwarfsrc__open(path);
	if (dbg && dbg->debuginfo && (!o->dwarf || o->sym_source != ELFOBJ_SRC_SYMTAB)) {
		debug_path = debuginfo__find(dbg->debuginfo, elf, dbg->path ? dbg->path : path,
					     dbg->root ? dbg->root : "");
		o->debug_pending = !debug_path && errno == EAGAIN;
	}
	if (debug_path) {
		if (!o->dwarf)
			o->dwarf = dwarfsrc__open(debug_path);
		dbg_elf = o->sym_source != ELFOBJ_SRC_SYMTAB ? open_elf(debug_path, &dbg_fd) : NULL;
		if (dbg_elf && has_symtab(dbg_elf)) {
			err = collect_elf(dbg_elf, false, &cands, &nr, &cap);
			if (err)
				goto cleanup;
			o->sym_source = ELFOBJ_SRC_DEBUG_FILE;
		}
	}
	if (o->sym_source != ELFOBJ_SRC_SYMTAB && o->sym_source != ELFOBJ_SRC_DEBUG_FILE) {
		mini = debuginfo__minidebuginfo(elf, &mini_image);
		if (mini) {
			err = collect_elf(mini, false, &cands, &nr, &cap);
			if (err)
				goto cleanup;
			o->sym_source = ELFOBJ_SRC_MINIDEBUGINFO;
		}
	}
	/* Go's own names, also beside a .symtab: a build is then named the
	 * same stripped or not (see cmp_cand). Cheap for other objects. */
	{
		struct go_collect g = { &cands, &nr, &cap, &go_names };

		if (gopclntab__read(elf, go_add, &g) > 0 &&
		    (o->sym_source == ELFOBJ_SRC_NONE || o->sym_source == ELFOBJ_SRC_DYNSYM))
			o->sym_source = ELFOBJ_SRC_GOPCLNTAB;
	}
	err = keep_symbols(o, cands, nr, o->dwarf != NULL);

cleanup:
	free(cands);
	free(debug_path);
	go_blocks_free(go_names);
	close_elf(dbg_elf, dbg_fd);
	if (mini)
		elf_end(mini);
	free(mini_image);
	return err;
}

static void load_build_id(struct elfobj *o, Elf *elf)
{
	struct build_id id;

	if (build_id__read(elf, &id))
		build_id__hex(&id, o->build_id);
}

static int load_segments(struct elfobj *o, Elf *elf)
{
	size_t phnum, i, n = 0;
	int err = 0;

	if (elf_getphdrnum(elf, &phnum) != 0)
		goto cleanup;	/* no program headers: nothing is mapped */
	for (i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			n++;
	}
	if (!n)
		goto cleanup;	/* e.g. a relocatable object */
	o->segs = calloc(n, sizeof(*o->segs));
	if (!o->segs) {
		err = -ENOMEM;
		goto cleanup;
	}
	n = 0;
	for (i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		o->segs[n].offset = ph.p_offset;
		o->segs[n].filesz = ph.p_filesz;
		o->segs[n].vaddr = ph.p_vaddr;
		o->segs[n].exec = ph.p_flags & PF_X;
		n++;
	}
	o->nr_segs = n;

cleanup:
	return err;
}

struct elfobj *elfobj__open(const char *path, const struct elfobj_debug *dbg)
{
	struct elfobj *o = NULL;
	Elf *elf = NULL;
	int fd = -1, err = 0;

	if (!path) {
		err = -EINVAL;
		goto cleanup;
	}
	if (!elf_ready()) {
		err = -ENOTSUP;
		goto cleanup;
	}
	elf = open_elf(path, &fd);
	if (!elf) {
		err = -errno;
		goto cleanup;
	}

	o = calloc(1, sizeof(*o));
	if (!o) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = load_segments(o, elf);
	if (err)
		goto cleanup;
	load_build_id(o, elf);
	err = load_symbols(o, elf, path, dbg);

cleanup:
	close_elf(elf, fd);
	if (err) {
		elfobj__free(o);
		errno = -err;
		return NULL;
	}
	return o;
}

/* Whether [off, off + len) lies inside an image of size bytes. */
static bool in_image(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

/* The headers of an ELF image held in memory, checked before libelf reads
 * it: native byte order, every table, segment and section inside size,
 * counts bounded. 0 or -ENOEXEC. */
static int check_image(const unsigned char *p, size_t size)
{
	bool is64 = size > EI_CLASS && p[EI_CLASS] == ELFCLASS64;
	uint64_t phoff, shoff, i;
	unsigned int phnum, shnum, shstrndx, phentsize, shentsize;

	if (size < EI_NIDENT || memcmp(p, ELFMAG, SELFMAG) ||
	    (p[EI_CLASS] != ELFCLASS64 && p[EI_CLASS] != ELFCLASS32) ||
	    p[EI_DATA] != (__BYTE_ORDER == __LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB))
		return -ENOEXEC;
	if (is64) {
		Elf64_Ehdr eh;

		if (size < sizeof(eh))
			return -ENOEXEC;
		memcpy(&eh, p, sizeof(eh));
		phoff = eh.e_phoff, shoff = eh.e_shoff;
		phnum = eh.e_phnum, shnum = eh.e_shnum, shstrndx = eh.e_shstrndx;
		phentsize = eh.e_phentsize, shentsize = eh.e_shentsize;
		if (phentsize != sizeof(Elf64_Phdr) || shentsize != sizeof(Elf64_Shdr))
			return -ENOEXEC;
	} else {
		Elf32_Ehdr eh;

		if (size < sizeof(eh))
			return -ENOEXEC;
		memcpy(&eh, p, sizeof(eh));
		phoff = eh.e_phoff, shoff = eh.e_shoff;
		phnum = eh.e_phnum, shnum = eh.e_shnum, shstrndx = eh.e_shstrndx;
		phentsize = eh.e_phentsize, shentsize = eh.e_shentsize;
		if (phentsize != sizeof(Elf32_Phdr) || shentsize != sizeof(Elf32_Shdr))
			return -ENOEXEC;
	}
	/* No extended numbering (counts in section 0) in an image this small. */
	if (!phnum || phnum > IMAGE_MAX_PHDRS || !shnum || shnum > IMAGE_MAX_SHDRS ||
	    shstrndx >= shnum || !in_image(phoff, (uint64_t)phnum * phentsize, size) ||
	    !in_image(shoff, (uint64_t)shnum * shentsize, size))
		return -ENOEXEC;
	for (i = 0; i < phnum; i++) {
		uint64_t off, filesz;
		uint32_t type;

		if (is64) {
			Elf64_Phdr ph;

			memcpy(&ph, p + phoff + i * phentsize, sizeof(ph));
			type = ph.p_type, off = ph.p_offset, filesz = ph.p_filesz;
		} else {
			Elf32_Phdr ph;

			memcpy(&ph, p + phoff + i * phentsize, sizeof(ph));
			type = ph.p_type, off = ph.p_offset, filesz = ph.p_filesz;
		}
		if ((type == PT_LOAD || type == PT_NOTE || type == PT_DYNAMIC) &&
		    !in_image(off, filesz, size))
			return -ENOEXEC;
	}
	for (i = 0; i < shnum; i++) {
		uint64_t off, len;
		uint32_t type;

		if (is64) {
			Elf64_Shdr sh;

			memcpy(&sh, p + shoff + i * shentsize, sizeof(sh));
			type = sh.sh_type, off = sh.sh_offset, len = sh.sh_size;
		} else {
			Elf32_Shdr sh;

			memcpy(&sh, p + shoff + i * shentsize, sizeof(sh));
			type = sh.sh_type, off = sh.sh_offset, len = sh.sh_size;
		}
		if (type != SHT_NOBITS && type != SHT_NULL && !in_image(off, len, size))
			return -ENOEXEC;
	}
	return 0;
}

struct elfobj *elfobj__open_vdso(const void *image, size_t size)
{
	struct sym_cand *cands = NULL;
	size_t nr = 0, cap = 0;
	struct elfobj *o = NULL;
	char *copy = NULL;
	Elf *elf = NULL;
	int err = 0;

	if (!image || !size || size > ELFOBJ_IMAGE_MAX) {
		err = -EINVAL;
		goto cleanup;
	}
	if (!elf_ready()) {
		err = -ENOTSUP;
		goto cleanup;
	}
	err = check_image(image, size);
	if (err)
		goto cleanup;
	/* libelf wants a writable buffer, and may convert in place. */
	copy = malloc(size);
	if (!copy) {
		err = -ENOMEM;
		goto cleanup;
	}
	memcpy(copy, image, size);
	elf = elf_memory(copy, size);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = load_segments(o, elf);
	if (err)
		goto cleanup;
	load_build_id(o, elf);
	err = collect_elf(elf, true, &cands, &nr, &cap);
	if (!err)
		err = keep_symbols(o, cands, nr, false);
	o->sym_source = o->nr_syms ? ELFOBJ_SRC_DYNSYM : ELFOBJ_SRC_NONE;
	if (!err && has_symtab(elf))
		o->sym_source = ELFOBJ_SRC_SYMTAB;

cleanup:
	free(cands);
	if (elf)
		elf_end(elf);
	free(copy);
	if (err) {
		elfobj__free(o);
		errno = -err;
		return NULL;
	}
	return o;
}

int elfobj__read_build_id(const char *path, char *out, size_t len)
{
	struct elfobj tmp = { 0 };
	Elf *elf;
	int fd, err = 0;

	if (!elf_ready())
		return -ENOTSUP;
	elf = open_elf(path, &fd);
	if (!elf)
		return -errno;
	load_build_id(&tmp, elf);
	close_elf(elf, fd);
	if (!tmp.build_id[0])
		err = -ENOENT;
	else if (strlen(tmp.build_id) >= len)
		err = -ENOSPC;
	else
		strcpy(out, tmp.build_id);
	return err;
}

const char *elfobj__build_id(const struct elfobj *o)
{
	return o && o->build_id[0] ? o->build_id : NULL;
}

int elfobj__offset_to_vaddr(const struct elfobj *o, uint64_t offset, uint64_t *vaddr)
{
	int pass;
	size_t i;

	if (!o || !vaddr)
		return -EINVAL;
	/* Executable segments first: with old linkers a page can be shared
	 * by the end of text and the start of data, and a code address
	 * belongs to the text segment. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < o->nr_segs; i++) {
			const struct elf_seg *s = &o->segs[i];

			if (s->exec != (pass == 0))
				continue;
			if (offset >= s->offset && offset - s->offset < s->filesz) {
				*vaddr = offset - s->offset + s->vaddr;
				return 0;
			}
		}
	}
	return -ENOENT;
}

const char *elfobj__lookup(const struct elfobj *o, uint64_t vaddr, uint64_t *start)
{
	const struct elf_sym *s;
	size_t lo;

	if (!o || !o->nr_syms)
		return NULL;

	/* Greatest start <= vaddr. */
	lo = upper_bound_u64(o->syms, o->nr_syms, sizeof(o->syms[0]), offsetof(struct elf_sym, start), vaddr);
	if (lo == 0)
		return NULL;
	s = &o->syms[lo - 1];
	/* Past the end of a sized symbol is padding or code with no symbol
	 * (PLT stubs, stripped helpers): naming it after the function before
	 * would be wrong. Unsized symbols (hand-written assembly) reach to
	 * the next symbol. */
	if (s->size && vaddr - s->start >= s->size)
		return NULL;
	if (start)
		*start = s->start;
	return o->names + s->name;
}

/* The readable form of symbol i's name: demangled once, then kept. */
static const char *readable_name(struct elfobj *o, size_t i, const char **system_name)
{
	const char *name = o->names + o->syms[i].name;
	uint32_t key = (uint32_t)i;
	char **d;
	bool added;

	*system_name = NULL;
	if (name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return name;		/* not mangled: no need to ask */
	if (!o->demangled)
		o->demangled = hashmap__new(sizeof(uint32_t), sizeof(char *));
	d = o->demangled ? hashmap__insert(o->demangled, &key, &added) : NULL;
	if (!d)
		return name;
	if (added) {
		*d = demangle(name);
		if (*d)
			o->demangled_bytes += strlen(*d) + 1 + 32;
	}
	if (!*d)
		return name;
	*system_name = name;
	return *d;
}

/* Whether name is one of the names of symbol i, chosen or not. */
static bool is_name_of(const struct elfobj *o, size_t i, const char *name)
{
	size_t a, end = i + 1 < o->nr_syms ? o->syms[i + 1].alias : o->nr_aliases;

	if (!name)
		return false;
	if (!strcmp(o->names + o->syms[i].name, name))
		return true;
	for (a = o->syms[i].alias; a < end; a++)
		if (!strcmp(o->names + o->aliases[a], name))
			return true;
	return false;
}

int elfobj__symbolize(struct elfobj *o, uint64_t vaddr, struct srcline *out, int max)
{
	const char *name = NULL, *system_name = NULL;
	size_t lo;
	int n = 0;

	if (!o || max <= 0)
		return 0;
	lo = o->nr_syms ? upper_bound_u64(o->syms, o->nr_syms, sizeof(o->syms[0]),
					  offsetof(struct elf_sym, start), vaddr) : 0;
	if (lo) {
		const struct elf_sym *s = &o->syms[lo - 1];

		/* see elfobj__lookup */
		if (!s->size || vaddr - s->start < s->size)
			name = readable_name(o, lo - 1, &system_name);
	}
	if (o->dwarf)
		n = dwarfsrc__lookup(o->dwarf, vaddr, out, max);
	if (n <= 0) {
		if (!name)
			return 0;
		out[0] = (struct srcline){ .function = name, .system_name = system_name };
		return 1;
	}
	/* DWARF names every frame but may lack a name; the symbol table
	 * knows the outermost (real) function. When DWARF's name for it is
	 * one of its symbols' (glibc's __libc_malloc, linkage name
	 * __GI___libc_malloc, for malloc), the symbol table's choice wins,
	 * so that a function has one name with or without DWARF. */
	if (name && (!out[n - 1].function ||
		     is_name_of(o, lo - 1, out[n - 1].system_name) ||
		     is_name_of(o, lo - 1, out[n - 1].function))) {
		out[n - 1].function = name;
		out[n - 1].system_name = system_name;
	}
	return n;
}

bool elfobj__has_dwarf(const struct elfobj *o)
{
	return o && o->dwarf;
}

bool elfobj__debug_pending(const struct elfobj *o)
{
	return o && o->debug_pending;
}

enum elfobj_source elfobj__source(const struct elfobj *o)
{
	return o ? o->sym_source : ELFOBJ_SRC_NONE;
}

int elfobj__nr_symbols(const struct elfobj *o)
{
	if (!o)
		return 0;
	return o->nr_syms > INT32_MAX ? INT32_MAX : (int)o->nr_syms;
}

size_t elfobj__mem(const struct elfobj *o)
{
	if (!o)
		return 0;
	return sizeof(*o) + o->nr_syms * sizeof(*o->syms) + o->names_len +
	       o->nr_aliases * sizeof(*o->aliases) +
	       o->nr_segs * sizeof(*o->segs) + o->demangled_bytes + dwarfsrc__mem(o->dwarf);
}

void elfobj__free(struct elfobj *o)
{
	if (!o)
		return;
	if (o->demangled) {
		size_t it = 0;
		char **d;

		while (hashmap__next(o->demangled, &it, NULL, (void **)&d))
			free(*d);
		hashmap__free(o->demangled);
	}
	dwarfsrc__free(o->dwarf);
	free(o->syms);
	free(o->aliases);
	free(o->names);
	free(o->segs);
	free(o);
}
