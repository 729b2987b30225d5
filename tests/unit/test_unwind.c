// SPDX-License-Identifier: GPL-2.0
/*
 * The BPF user-stack walker's step (bpf/unwind_step.h), compiled here and
 * fed with stacks captured from real programs, so it is tested without a
 * kernel or root.
 *
 * tests/unit/unwind_target.c is compiled three ways (no frame pointers
 * with .eh_frame; no frame pointers with its own CFI only in .debug_frame;
 * with frame pointers) and run. At the end of known call chains it dumps
 * rip, rsp, rbp, the raw stack up to the stack's top, its maps, the names
 * the chain must unwind to and each function's CFA. Here each dump becomes
 * an unwind_proc over a row space filled by unwind_table__build() from the
 * very files mapped, the stack is walked from the dumped registers with
 * UNW_READ reading the dumped bytes, and the frames must symbolize to the
 * chain, every sp must be the CFA the compiler itself computed, and the
 * walk must end at the outermost frame the CFI marks. A frame-pointer-only
 * walk of the same dumps must not find the chains, so a walker that fell
 * back to frame pointers silently would be caught. Then corrupted stacks,
 * the depth limit, and each rule of the step on hand-made rows.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "elfobj.h"
#include "fileio.h"
#include "procmaps.h"
#include "unwind.h"
#include "unwind_table.h"

/* What UNW_READ reads: a copy of [sp, sp + len) of some thread's stack. */
struct stack_image {
	uint64_t sp;
	const unsigned char *bytes;
	size_t len;
	unsigned long reads;
};

static struct stack_image *cur_stack;
/* What UNW_ROW and UNW_MAP index: the row space and the mapping space of
 * the walk under way. */
static const struct unwind_row *cur_rows;
static size_t cur_nr_rows;
static const struct unwind_mapping *cur_maps;
static size_t cur_nr_maps;

static int stack_read(void *dst, size_t size, uint64_t addr)
{
	struct stack_image *s = cur_stack;

	s->reads++;
	if (addr < s->sp || addr - s->sp > s->len || size > s->len - (addr - s->sp))
		return -1;
	memcpy(dst, s->bytes + (addr - s->sp), size);
	return 0;
}

/* A table is its object's rows in the row space, from the mapping's
 * table index; rows past the row space's end are missing, and a table that
 * starts past it was evicted. */
static void *table_at(const struct unwind_mapping *m)
{
	return m->table < cur_nr_rows ? (void *)&cur_rows[m->table] : NULL;
}

static const struct unwind_row *row_at(void *tbl, uint32_t idx)
{
	const struct unwind_row *r = tbl;

	return (size_t)(r - cur_rows) + idx < cur_nr_rows ? r + idx : NULL;
}

static const struct unwind_mapping *map_at(uint32_t idx)
{
	return idx < cur_nr_maps ? &cur_maps[idx] : NULL;
}

/* unwind_step.h writes "static UNW_INLINE", so this is "inline", not
 * "static inline". */
#define UNW_INLINE inline
#define UNW_READ(dst, size, addr) stack_read(dst, size, addr)
/* The tables' indexes, made by unwind_table__index() as the daemon makes
 * them: one index space, and each table's header by its first row. */
#define MAX_TABLES 40
static uint64_t *cur_index;
static size_t cur_nr_index;
static struct { uint32_t first_row; struct unwind_table_hdr hdr; } tables[MAX_TABLES];
static int nr_tables;

static void index_table(uint32_t first_row, const struct unwind_row *rows, size_t nr)
{
	struct unwind_table t = { .rows = (struct unwind_row *)rows, .nr = nr };
	size_t n = unwind_table__index_len(&t);
	uint64_t *more = realloc(cur_index, (cur_nr_index + n + 1) * sizeof(*more));

	if (!more || nr_tables == MAX_TABLES)
		return;
	cur_index = more;
	tables[nr_tables].first_row = first_row;
	unwind_table__index(&t, (uint32_t)cur_nr_index, cur_index + cur_nr_index, &tables[nr_tables].hdr);
	tables[nr_tables].hdr.gen = (uint32_t)nr_tables + 1;
	nr_tables++;
	cur_nr_index += n;
}

/* The walker's row cache, as one CPU's: cleared with the tables, whose
 * slots (first rows) the next row space reuses. */
static struct unwind_row_cache_ent row_cache[UNWIND_ROW_CACHE];

static struct unwind_row_cache_ent *cache_at(uint32_t i)
{
	return i < UNWIND_ROW_CACHE ? &row_cache[i] : NULL;
}

static void index_clear(void)
{
	memset(row_cache, 0, sizeof(row_cache));
	free(cur_index);
	cur_index = NULL;
	cur_nr_index = 0;
	nr_tables = 0;
}

static int hdr_of(const struct unwind_mapping *m, struct unwind_table_hdr *hdr)
{
	for (int i = 0; i < nr_tables; i++)
		if (tables[i].first_row == m->table) {
			*hdr = tables[i].hdr;
			return 0;
		}
	return -1;
}

static int index_at(uint32_t i, uint32_t *out)
{
	if (i >= cur_nr_index)
		return -1;
	*out = (uint32_t)cur_index[i];
	return 0;
}

#define UNW_TABLE(m) table_at(m)
#define UNW_ROW(tbl, idx) row_at(tbl, idx)
#define UNW_HDR(m, hdr) hdr_of(m, &(hdr))
#define UNW_INDEX(i, out) index_at(i, &(out))
#define UNW_CACHE(i) cache_at(i)
#define UNW_MAP(idx) map_at(idx)
#include "../../bpf/unwind_step.h"

#define WALK_DEPTH	2	/* the walk took max frames (as the BPF walker's result 2) */
#define MAX_OBJECTS	32
#define MAX_NOTES	16
#define MAX_TOKENS	32
#define DUMP_MAX	(64u << 20)
/* Each process's mappings start this far into its mapping space, after
 * another process's: a walker that ignored first_map would use those. */
#define DECOY_MAPS	3

static const char *const chains[] = { "plain", "qsort", "thread", "vla", "entry", "noreturn" };

static const struct variant {
	const char *name;
	const char *cflags;
	int fp;			/* built with frame pointers */
	int debug_frame;	/* our code's CFI is in .debug_frame only */
} variants[] = {
	{ "eh_frame", "-O2 -fomit-frame-pointer -fno-optimize-sibling-calls", 0, 0 },
	{ "debug_frame", "-O2 -fomit-frame-pointer -fno-optimize-sibling-calls "
	  "-fno-asynchronous-unwind-tables -g", 0, 1 },
	{ "fp", "-O2 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer "
	  "-fno-optimize-sibling-calls", 1, 0 },
};

/* The directory name has a space: paths with spaces go through maps
 * parsing and table building for real. */
static char dir[] = "/tmp/cprof unwind XXXXXX";

/* ---- one dump, as unwind_target.c writes it ---- */

struct note {
	char fn[64];
	uint64_t cfa;
};

struct dump {
	char chain[32];
	struct unwind_regs regs;
	uint64_t top;
	char expect[512];
	struct note notes[MAX_NOTES];
	int nr_notes;
	const unsigned char *stack;	/* [regs.sp, top), inside raw */
	size_t stack_len;
	const char *maps;		/* inside raw */
	size_t maps_len;
	char *raw;
};

static void dump__clear(struct dump *d)
{
	free(d->raw);
	memset(d, 0, sizeof(*d));
}

/* The text line at *p (NUL-terminated in place), or NULL at the end. */
static char *next_line(char **p, char *end)
{
	char *line = *p, *nl;

	if (line >= end)
		return NULL;
	nl = memchr(line, '\n', (size_t)(end - line));
	if (!nl)
		return NULL;
	*nl = '\0';
	*p = nl + 1;
	return line;
}

static int dump__load(const char *path, struct dump *d)
{
	unsigned long long v, n;
	char *p, *end, *line;
	size_t len;
	int err, have = 0;

	memset(d, 0, sizeof(*d));
	err = read_file(path, DUMP_MAX, &d->raw, &len);
	if (err)
		return err;
	p = d->raw;
	end = d->raw + len;
	line = next_line(&p, end);
	if (!line || strcmp(line, "cprof-unwind-dump 1"))
		goto bad;
	while ((line = next_line(&p, end))) {
		if (!strncmp(line, "chain ", 6)) {
			snprintf(d->chain, sizeof(d->chain), "%s", line + 6);
			have |= 1;
		} else if (sscanf(line, "ip %llx", &v) == 1) {
			d->regs.ip = v;
			have |= 2;
		} else if (sscanf(line, "sp %llx", &v) == 1) {
			d->regs.sp = v;
			have |= 4;
		} else if (sscanf(line, "bp %llx", &v) == 1) {
			d->regs.bp = v;
		} else if (sscanf(line, "top %llx", &v) == 1) {
			d->top = v;
			have |= 8;
		} else if (!strncmp(line, "expect ", 7)) {
			snprintf(d->expect, sizeof(d->expect), "%s", line + 7);
			have |= 16;
		} else if (!strncmp(line, "cfa ", 4)) {
			struct note *nt = &d->notes[d->nr_notes];

			if (d->nr_notes == MAX_NOTES || sscanf(line, "cfa %63s %llx", nt->fn, &v) != 2)
				goto bad;
			nt->cfa = v;
			d->nr_notes++;
		} else if (sscanf(line, "stack %llu", &n) == 1) {
			if (n > (unsigned long long)(end - p))
				goto bad;
			d->stack = (const unsigned char *)p;
			d->stack_len = n;
			p += n;
			break;
		} else {
			goto bad;
		}
	}
	/* "\nmaps N\n" then the text, then "\nend\n" */
	if (!d->stack || have != 31 || p >= end || *p++ != '\n')
		goto bad;
	line = next_line(&p, end);
	if (!line || sscanf(line, "maps %llu", &n) != 1 || n > (unsigned long long)(end - p))
		goto bad;
	d->maps = p;
	d->maps_len = n;
	p += n;
	if ((size_t)(end - p) != 5 || memcmp(p, "\nend\n", 5))
		goto bad;
	if (d->top <= d->regs.sp || d->top - d->regs.sp != d->stack_len)
		goto bad;
	return 0;
bad:
	dump__clear(d);
	return -EINVAL;
}

static const struct note *dump__note(const struct dump *d, const char *fn)
{
	for (int i = 0; i < d->nr_notes; i++)
		if (!strcmp(d->notes[i].fn, fn))
			return &d->notes[i];
	return NULL;
}

/* ---- objects: symbols and tables, shared by every dump that maps them ---- */

struct object {
	char *path;
	struct elfobj *elf;
	struct unwind_table table;
	int err;			/* unwind_table__build()'s */
	uint32_t first_row;		/* in the row space, when err == 0 */
};

static struct object *objects[MAX_OBJECTS];
static int nr_objects;
static struct unwind_row *row_space;
static size_t row_space_nr;

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Sorted by pc, types in range: what the step code's search assumes. */
static void check_table(const struct object *o)
{
	size_t i, unsorted = 0, bad_type = 0, ends = 0;
	char name[300];

	for (i = 0; i < o->table.nr; i++) {
		const struct unwind_row *r = &o->table.rows[i];

		if (i && r->pc <= o->table.rows[i - 1].pc)
			unsorted++;
		if (r->cfa_type > UNW_CFA_UNSUPPORTED || r->rbp_type > UNW_RBP_UNSUPPORTED)
			bad_type++;
		ends += r->cfa_type == UNW_CFA_END;
	}
	printf("# table %s: %zu rows, %zu FDEs, %zu unsupported, %zu PLT, %zu outermost, "
	       "from %s\n", base_name(o->path), o->table.nr, o->table.nr_fdes,
	       o->table.nr_unsupported, o->table.nr_plt, ends,
	       o->table.from_debug_frame ? ".debug_frame" : ".eh_frame");
	snprintf(name, sizeof(name), "table %s: rows strictly sorted by pc, valid types",
		 base_name(o->path));
	CHECK(o->table.nr > 0 && !unsorted && !bad_type, name,
	      "%zu rows, %zu out of order, %zu bad types", o->table.nr, unsorted, bad_type);
}

static struct object *object_get(const char *path)
{
	struct object *o;
	struct unwind_row *tmp;
	char name[300];
	int i;

	for (i = 0; i < nr_objects; i++)
		if (!strcmp(objects[i]->path, path))
			return objects[i];
	if (nr_objects == MAX_OBJECTS)
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->path = strdup(path))) {
		free(o);
		return NULL;
	}
	objects[nr_objects++] = o;
	o->elf = elfobj__open(path, NULL);
	o->err = unwind_table__build(path, &o->table);
	snprintf(name, sizeof(name), "table %s: built", base_name(path));
	CHECK(o->err == 0, name, "unwind_table__build: %d (%s)", o->err, strerror(-o->err));
	if (o->err)
		return o;
	tmp = realloc(row_space, (row_space_nr + o->table.nr) * sizeof(*row_space));
	if (!tmp) {
		o->err = -ENOMEM;
		return o;
	}
	row_space = tmp;
	memcpy(row_space + row_space_nr, o->table.rows, o->table.nr * sizeof(*row_space));
	o->first_row = (uint32_t)row_space_nr;
	row_space_nr += o->table.nr;
	index_table(o->first_row, o->table.rows, o->table.nr);
	check_table(o);
	return o;
}

static void objects_free(void)
{
	for (int i = 0; i < nr_objects; i++) {
		elfobj__free(objects[i]->elf);
		unwind_table__clear(&objects[i]->table);
		free(objects[i]->path);
		free(objects[i]);
	}
	nr_objects = 0;
	free(row_space);
	row_space = NULL;
	row_space_nr = 0;
	index_clear();
}

/* ---- a process image: the dump's mappings as BPF would get them ---- */

struct image {
	struct procmaps maps;
	struct object **objs;		/* per maps entry; NULL: no file */
	struct unwind_proc proc;
	struct unwind_mapping space[DECOY_MAPS + UNWIND_MAX_MAPPINGS];
};

/* Someone else's mappings, covering everything, without tables. */
static void put_decoys(struct unwind_mapping *space)
{
	for (int i = 0; i < DECOY_MAPS; i++)
		space[i] = (struct unwind_mapping){ .start = 0, .end = UINT64_MAX };
}

static void image__clear(struct image *im)
{
	procmaps__clear(&im->maps);
	free(im->objs);
	free(im);
}

static struct image *image__new(const struct dump *d)
{
	struct image *im = calloc(1, sizeof(*im));
	size_t i;

	if (!im)
		return NULL;
	if (procmaps__parse(d->maps, d->maps_len, &im->maps) ||
	    !(im->objs = calloc(im->maps.nr + 1, sizeof(*im->objs)))) {
		image__clear(im);
		return NULL;
	}
	put_decoys(im->space);
	im->proc.first_map = DECOY_MAPS;
	for (i = 0; i < im->maps.nr && im->proc.nr_maps < UNWIND_MAX_MAPPINGS; i++) {
		const struct procmap *m = &im->maps.maps[i];
		struct unwind_mapping *um = &im->space[DECOY_MAPS + im->proc.nr_maps++];
		struct object *o;
		uint64_t vaddr;

		um->start = m->start;
		um->end = m->end;
		/* [vdso], [vsyscall]: no file, so frame pointers */
		if (!m->path || m->path[0] == '[')
			continue;
		o = im->objs[i] = object_get(m->path);
		if (!o || !o->elf || elfobj__offset_to_vaddr(o->elf, m->offset, &vaddr))
			continue;
		um->bias = m->start - vaddr;
		if (!o->err) {
			um->table = o->first_row;
			um->nr_rows = (uint32_t)o->table.nr;
		}
	}
	return im;
}

/* Name of the function at ip, as the daemon symbolizes it: a return
 * address is looked up one byte back. */
static const char *image__symbolize(const struct image *im, uint64_t ip, int leaf,
				    const char **file, uint64_t *off, int *in_exe,
				    const char *exe)
{
	const struct procmap *m = procmaps__find(&im->maps, ip);
	uint64_t pc = ip - (leaf ? 0 : 1), vaddr, start;
	const struct object *o;
	const char *name;

	*file = "?";
	*off = ip;
	*in_exe = 0;
	if (!m)
		return NULL;
	*file = m->path ? base_name(m->path) : "anon";
	*in_exe = m->path && !strcmp(m->path, exe);
	*off = ip - m->start + m->offset;
	o = im->objs[m - im->maps.maps];
	if (!o || !o->elf || elfobj__offset_to_vaddr(o->elf, pc - m->start + m->offset, &vaddr))
		return NULL;
	name = elfobj__lookup(o->elf, vaddr, &start);
	/* name+offset of ip, or the vaddr of ip when unnamed */
	*off = vaddr + (leaf ? 0 : 1) - (name ? start : 0);
	return name;
}

/* The row the step uses for a frame, through the same lookups. */
static void image__use(const struct image *im)
{
	cur_maps = im->space;
	cur_nr_maps = DECOY_MAPS + im->proc.nr_maps;
	cur_rows = row_space;
	cur_nr_rows = row_space_nr;
}

static const struct unwind_row *image__row(const struct image *im, uint64_t ip, int leaf)
{
	const struct unwind_mapping *m;
	struct unwind_table_hdr hdr;

	image__use(im);
	m = unwind_find_mapping(&im->proc, ip);

	if (!m || !m->nr_rows || hdr_of(m, &hdr))
		return NULL;
	return unwind_find_row(table_at(m), &hdr, m->nr_rows, (uint32_t)(ip - m->bias - (leaf ? 0 : 1)));
}

/* ---- the walk, as bpf/unwinder.h drives it ---- */

struct walk {
	uint64_t ips[UNWIND_MAX_FRAMES], sps[UNWIND_MAX_FRAMES], bps[UNWIND_MAX_FRAMES];
	int how[UNWIND_MAX_FRAMES];	/* how the step from that frame went */
	int nr;
	int result;			/* enum unwind_result, or WALK_DEPTH */
	int fp_only;
	int counts[UNW_HOW_NR];		/* of how */
	unsigned long reads;		/* UNW_READs */
	struct unwind_regs end;		/* the registers after the last step */
};

/* Walk with im's tables (NULL: no process table at all). */
static void walk(const struct image *im, struct stack_image *s,
		 const struct unwind_regs *start, int max, int fp_only, struct walk *w)
{
	const struct unwind_proc *p = im ? &im->proc : NULL;
	struct unwind_regs r = *start;
	int ret, how;

	memset(w, 0, sizeof(*w));
	cur_stack = s;
	s->reads = 0;
	if (im)
		image__use(im);
	w->result = WALK_DEPTH;
	w->fp_only = fp_only;
	for (int i = 0; i < max && i < UNWIND_MAX_FRAMES; i++) {
		uint64_t ip = r.ip, sp = r.sp, bp = r.bp;

		how = UNW_HOW_TABLE;
		ret = fp_only ? unwind_fp_step(&r) : unwind_step(&r, p, i == 0, &how);
		if (ret == UNW_ERR_NOT_CODE) {	/* not a frame: not recorded */
			w->result = ret;
			break;
		}
		w->ips[i] = ip;
		w->sps[i] = sp;
		w->bps[i] = bp;
		w->nr = i + 1;
		w->how[i] = how;
		if (!fp_only && how >= 0 && how < UNW_HOW_NR)
			w->counts[how]++;
		if (ret != UNW_CONTINUE) {
			w->result = ret;
			break;
		}
	}
	w->end = r;
	w->reads = s->reads;
}

static const char *result_str(int r)
{
	switch (r) {
	case UNW_CONTINUE: return "UNW_CONTINUE";
	case UNW_DONE: return "UNW_DONE";
	case UNW_ERR_READ: return "UNW_ERR_READ";
	case UNW_ERR_BAD_FRAME: return "UNW_ERR_BAD_FRAME";
	case UNW_ERR_FP_END: return "UNW_ERR_FP_END";
	case UNW_ERR_NOT_CODE: return "UNW_ERR_NOT_CODE";
	case WALK_DEPTH: return "depth limit";
	}
	return "?";
}

static const char *const how_str[UNW_HOW_NR] = {
	[UNW_HOW_TABLE] = "table",
	[UNW_HOW_FP_NO_MAPPING] = "fp_no_mapping",
	[UNW_HOW_FP_NO_TABLE] = "fp_no_table",
	[UNW_HOW_FP_NO_ROW] = "fp_no_row",
	[UNW_HOW_FP_UNSUPPORTED] = "fp_unsupported",
	[UNW_HOW_FP_EVICTED] = "fp_evicted",
};

/* The frames of a walk, symbolized. */
struct frames {
	const char *names[UNWIND_MAX_FRAMES];
	int in_exe[UNWIND_MAX_FRAMES];
	int nr;
};

/* Symbolize a walk's frames into f, printing them with how each step went. */
static void symbolize_walk(const struct image *im, const struct walk *w, const char *exe,
			   struct frames *f)
{
	const char *file, *how;
	uint64_t off;

	f->nr = w->nr;
	for (int i = 0; i < w->nr; i++) {
		f->names[i] = image__symbolize(im, w->ips[i], i == 0, &file, &off, &f->in_exe[i],
					       exe);
		how = w->fp_only ? "fp" : how_str[w->how[i]];
		if (f->names[i])
			printf("#   %2d %s+0x%llx (%s) sp %llx  %s\n", i, f->names[i],
			       (unsigned long long)off, file, (unsigned long long)w->sps[i], how);
		else
			printf("#   %2d ?? (%s+0x%llx) sp %llx  %s\n", i, file,
			       (unsigned long long)off, (unsigned long long)w->sps[i], how);
	}
	printf("#   %s: %d frames, %s, %lu reads\n",
	       w->fp_only ? "frame pointers only" : "tables", w->nr, result_str(w->result),
	       w->reads);
}

/* Whether frames [fi, nr) match tokens [ti, nt): a name is one frame of
 * that name, "?" one frame, "*" zero or more frames outside the executable. */
static int match_from(char **tok, int ti, int nt, const struct frames *f, int fi)
{
	if (ti == nt)
		return fi == f->nr;
	if (!strcmp(tok[ti], "*")) {
		for (int k = fi; k <= f->nr; k++) {
			if (match_from(tok, ti + 1, nt, f, k))
				return 1;
			if (k < f->nr && f->in_exe[k])
				return 0;
		}
		return 0;
	}
	if (fi == f->nr)
		return 0;
	if (strcmp(tok[ti], "?") && (!f->names[fi] || strcmp(tok[ti], f->names[fi])))
		return 0;
	return match_from(tok, ti + 1, nt, f, fi + 1);
}

static int match(const char *expect, const struct frames *f)
{
	char buf[512], *tok[MAX_TOKENS], *save = NULL, *t;
	int nt = 0;

	snprintf(buf, sizeof(buf), "%s", expect);
	for (t = strtok_r(buf, " ", &save); t && nt < MAX_TOKENS; t = strtok_r(NULL, " ", &save))
		tok[nt++] = t;
	return match_from(tok, 0, nt, f, 0);
}

static void frames_str(const struct frames *f, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < f->nr && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? " " : "",
				      f->names[i] ? f->names[i] : "??");
}

/* Per variant, over its chains. */
static int how_totals[UNW_HOW_NR];

static void check_chain(const struct variant *v, const char *exe, const char *chain)
{
	char path[600], name[700], got[1024];
	struct stack_image s = { 0 };
	struct image *im = NULL;
	struct dump d;
	struct walk *w = calloc(1, sizeof(*w));
	struct frames *f = calloc(1, sizeof(*f));
	const struct unwind_row *last_row;
	int err, i, sp_checked = 0, sp_bad = 0, sp_grows = 1, find_bad = 0;

	if (!w || !f) {
		CHECK(0, "alloc", "out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s-%s.dump", dir, v->name, chain);
	err = dump__load(path, &d);
	snprintf(name, sizeof(name), "%s/%s: dump read", v->name, chain);
	CHECK(err == 0, name, "%s: %d", path, err);
	if (err)
		goto out;
	im = image__new(&d);
	snprintf(name, sizeof(name), "%s/%s: unwind_proc built", v->name, chain);
	CHECK(im && im->proc.nr_maps > 2, name, "%s", im ? "too few mappings" : "failed");
	if (!im)
		goto out_dump;
	for (i = 1; i < (int)im->proc.nr_maps; i++)
		if (im->space[DECOY_MAPS + i].start < im->space[DECOY_MAPS + i - 1].end)
			break;
	snprintf(name, sizeof(name), "%s/%s: mappings sorted, disjoint", v->name, chain);
	CHECK(i == (int)im->proc.nr_maps, name, "mapping %d", i);

	s.sp = d.regs.sp;
	s.bytes = d.stack;
	s.len = d.stack_len;
	printf("# %s/%s: rip %llx rsp %llx rbp %llx, %zu stack bytes; expect: %s\n", v->name,
	       chain, (unsigned long long)d.regs.ip, (unsigned long long)d.regs.sp,
	       (unsigned long long)d.regs.bp, d.stack_len, d.expect);
	walk(im, &s, &d.regs, UNWIND_MAX_FRAMES, 0, w);
	symbolize_walk(im, w, exe, f);
	frames_str(f, got, sizeof(got));
	for (i = 0; i < UNW_HOW_NR; i++)
		how_totals[i] += w->counts[i];

	snprintf(name, sizeof(name), "%s/%s: walk ends with UNW_DONE", v->name, chain);
	CHECK(w->result == UNW_DONE, name, "%s after %d frames: %s", result_str(w->result),
	      w->nr, got);
	snprintf(name, sizeof(name), "%s/%s: frames are '%s'", v->name, chain, d.expect);
	CHECK(match(d.expect, f), name, "got '%s'", got);
	snprintf(name, sizeof(name), "%s/%s: every step taken with the tables", v->name, chain);
	CHECK(w->counts[UNW_HOW_TABLE] == w->nr, name, "%d of %d", w->counts[UNW_HOW_TABLE],
	      w->nr);

	/* The caller's sp after each step is the CFA gcc computed in the
	 * callee (__builtin_dwarf_cfa), and sp only grows. */
	for (i = 0; i < w->nr; i++) {
		const struct note *nt = f->names[i] ? dump__note(&d, f->names[i]) : NULL;
		uint64_t next_sp = i + 1 < w->nr ? w->sps[i + 1] : w->end.sp;

		if (i + 1 < w->nr && w->sps[i + 1] <= w->sps[i])
			sp_grows = 0;
		if (!nt || (i + 1 == w->nr && w->result != UNW_CONTINUE))
			continue;
		sp_checked++;
		if (next_sp != nt->cfa) {
			sp_bad++;
			printf("#   %s: sp after the step %llx, its CFA %llx\n", nt->fn,
			       (unsigned long long)next_sp, (unsigned long long)nt->cfa);
		}
	}
	if (!strcmp(chain, "entry") && w->nr > 1) {
		/* taken at entry_capture's first instruction: CFA = rsp + 8 */
		sp_checked++;
		sp_bad += w->sps[1] != d.regs.sp + 8;
	}
	snprintf(name, sizeof(name), "%s/%s: each sp is the CFA gcc computed", v->name, chain);
	CHECK(sp_checked >= d.nr_notes && !sp_bad && sp_grows, name,
	      "%d checked of %d notes, %d wrong, sp grows: %d", sp_checked, d.nr_notes, sp_bad,
	      sp_grows);

	/* with_vla's CFA is rbp + 16, and rbp comes back from pressure's
	 * save slot: the only way its frame can be stepped. */
	if (!strcmp(chain, "vla")) {
		const struct note *nt = dump__note(&d, "with_vla");

		for (i = 0; i < f->nr; i++)
			if (f->names[i] && !strcmp(f->names[i], "with_vla"))
				break;
		snprintf(name, sizeof(name), "%s/vla: rbp recovered for with_vla", v->name);
		CHECK(nt && i < f->nr && w->bps[i] == nt->cfa - 16, name, "frame %d rbp %llx, "
		      "want %llx", i, i < f->nr ? (unsigned long long)w->bps[i] : 0ULL,
		      nt ? (unsigned long long)nt->cfa - 16 : 0ULL);
	}

	/* Ended at a frame its CFI marks outermost (rip undefined). */
	last_row = w->nr ? image__row(im, w->ips[w->nr - 1], w->nr == 1) : NULL;
	snprintf(name, sizeof(name), "%s/%s: last frame's row is UNW_CFA_END", v->name, chain);
	CHECK(last_row && last_row->cfa_type == UNW_CFA_END, name, "row %s, type %d",
	      last_row ? "found" : "missing", last_row ? last_row->cfa_type : -1);

	/* unwind_table__find() and the step's search agree. */
	for (i = 0; i < w->nr; i++) {
		const struct unwind_mapping *m;
		const struct procmap *pm = procmaps__find(&im->maps, w->ips[i]);
		const struct object *o = pm ? im->objs[pm - im->maps.maps] : NULL;
		const struct unwind_row *a, *b;
		uint64_t pc;

		image__use(im);
		m = unwind_find_mapping(&im->proc, w->ips[i]);
		if (!m || !o || o->err)
			continue;
		pc = w->ips[i] - m->bias - (i ? 1 : 0);
		a = image__row(im, w->ips[i], i == 0);
		b = unwind_table__find(&o->table, pc);
		if (!a || !b || memcmp(a, b, sizeof(*a)))
			find_bad++;
	}
	snprintf(name, sizeof(name), "%s/%s: unwind_table__find agrees with the step's search",
		 v->name, chain);
	CHECK(!find_bad, name, "%d frames differ", find_bad);

	/* Frame pointers alone, from the same registers. */
	walk(im, &s, &d.regs, UNWIND_MAX_FRAMES, 1, w);
	symbolize_walk(im, w, exe, f);
	frames_str(f, got, sizeof(got));
	if (!v->fp) {
		snprintf(name, sizeof(name), "%s/%s: frame pointers alone do not find the chain",
			 v->name, chain);
		CHECK(!match(d.expect, f), name, "they did: '%s'", got);
	} else if (!strcmp(chain, "entry")) {
		/* At a function's first instruction rbp is still the caller's:
		 * a frame-pointer walk skips the caller; the tables do not. */
		snprintf(name, sizeof(name), "%s/entry: frame pointers alone lose entry_caller",
			 v->name);
		CHECK(f->nr > 1 && f->names[0] && !strcmp(f->names[0], "entry_capture") &&
		      (!f->names[1] || strcmp(f->names[1], "entry_caller")), name, "got '%s'", got);
	}

	image__clear(im);
out_dump:
	dump__clear(&d);
out:
	free(w);
	free(f);
}

/* ---- corrupted stacks and the depth limit, on the eh_frame dumps ---- */

struct loaded {
	struct dump d;
	struct image *im;
	unsigned char *copy;		/* writable copy of the stack */
	struct stack_image s;
};

static int loaded__open(struct loaded *l, const char *chain)
{
	char path[600];

	memset(l, 0, sizeof(*l));
	snprintf(path, sizeof(path), "%s/eh_frame-%s.dump", dir, chain);
	if (dump__load(path, &l->d))
		return -1;
	l->im = image__new(&l->d);
	l->copy = malloc(l->d.stack_len);
	if (!l->im || !l->copy)
		return -1;
	memcpy(l->copy, l->d.stack, l->d.stack_len);
	l->s.sp = l->d.regs.sp;
	l->s.bytes = l->copy;
	l->s.len = l->d.stack_len;
	return 0;
}

static void loaded__close(struct loaded *l)
{
	if (l->im)
		image__clear(l->im);
	dump__clear(&l->d);
	free(l->copy);
}

static void loaded__reset(struct loaded *l)
{
	memcpy(l->copy, l->d.stack, l->d.stack_len);
	l->s.len = l->d.stack_len;
}

static void poke(struct loaded *l, uint64_t addr, uint64_t val)
{
	if (addr >= l->s.sp && addr + 8 <= l->s.sp + l->d.stack_len)
		memcpy(l->copy + (addr - l->s.sp), &val, 8);
}

static void check_corrupted(void)
{
	struct walk *w = calloc(1, sizeof(*w)), *gp = calloc(1, sizeof(*gp)),
		    *gv = calloc(1, sizeof(*gv));
	struct loaded plain, vla;
	const struct unwind_row *row;
	uint64_t slot, cfa, at;
	int ok;

	memset(&plain, 0, sizeof(plain));
	memset(&vla, 0, sizeof(vla));
	ok = w && gp && gv && !loaded__open(&plain, "plain") && !loaded__open(&vla, "vla");
	CHECK(ok, "corrupt: dumps loaded", "eh_frame dumps missing");
	if (!ok)
		goto out;

	/* The good walks: capture level3 level2 level1 main ..., and
	 * capture pressure with_vla main ... */
	walk(plain.im, &plain.s, &plain.d.regs, UNWIND_MAX_FRAMES, 0, gp);
	walk(vla.im, &vla.s, &vla.d.regs, UNWIND_MAX_FRAMES, 0, gv);
	if (gp->nr < 6 || gp->result != UNW_DONE || gv->nr < 5 || gv->result != UNW_DONE) {
		CHECK(0, "corrupt: good walks", "%d frames, %s; %d frames, %s", gp->nr,
		      result_str(gp->result), gv->nr, result_str(gv->result));
		goto out;
	}

	/* Stack cut off below level1's return address (at level1's CFA - 8,
	 * and level1's CFA is main's sp). */
	plain.s.len = gp->sps[4] - 8 - plain.s.sp;
	walk(plain.im, &plain.s, &plain.d.regs, UNWIND_MAX_FRAMES, 0, w);
	printf("# corrupt: truncated below level1's return address: %d frames, %s\n", w->nr,
	       result_str(w->result));
	CHECK(w->result == UNW_ERR_READ && w->nr == 4,
	      "corrupt: truncated stack ends in UNW_ERR_READ at level1", "%d frames, %s",
	      w->nr, result_str(w->result));
	loaded__reset(&plain);

	/* level2's return address overwritten with an address in nothing
	 * (text, as a stack holds): not a frame, so the walk ends before it
	 * and the garbage is not recorded. */
	poke(&plain, gp->sps[3] - 8, 0x2f6e69622f2e2e2eULL);
	walk(plain.im, &plain.s, &plain.d.regs, UNWIND_MAX_FRAMES, 0, w);
	printf("# corrupt: garbage return address in level2: %d frames, %s, last ip %llx, "
	       "%d fp_no_mapping\n", w->nr, result_str(w->result),
	       (unsigned long long)w->ips[w->nr - 1], w->counts[UNW_HOW_FP_NO_MAPPING]);
	CHECK(w->result == UNW_ERR_NOT_CODE && w->nr == 3 && w->ips[2] != 0x2f6e69622f2e2e2eULL,
	      "corrupt: a return address outside the code ends the walk, unrecorded",
	      "%d frames, %s", w->nr, result_str(w->result));
	loaded__reset(&plain);

	/* Everything from level2's return address up zeroed: a zero return
	 * address is the outermost frame's mark, so this ends as UNW_DONE. */
	at = gp->sps[3] - 8 - plain.s.sp;
	memset(plain.copy + at, 0, plain.d.stack_len - at);
	walk(plain.im, &plain.s, &plain.d.regs, UNWIND_MAX_FRAMES, 0, w);
	printf("# corrupt: zeroed from level2's return address up: %d frames, %s\n", w->nr,
	       result_str(w->result));
	CHECK(w->nr == 3 && w->result == UNW_DONE && w->end.ip == 0,
	      "corrupt: zeroed return address ends the walk at level2", "%d frames, %s",
	      w->nr, result_str(w->result));
	loaded__reset(&plain);

	/* Zero the slot where pressure saved rbp: with_vla's CFA (rbp + 16)
	 * becomes 16, below sp. */
	row = image__row(vla.im, gv->ips[1], 0);
	if (!row || row->rbp_type != UNW_RBP_CFA || row->cfa_type != UNW_CFA_RSP) {
		CHECK(0, "corrupt: pressure saves rbp", "row %s, rbp type %d",
		      row ? "found" : "missing", row ? row->rbp_type : -1);
		goto out;
	}
	cfa = gv->sps[1] + (uint64_t)(int64_t)row->cfa_off;
	slot = cfa + (uint64_t)(int64_t)row->rbp_off;
	printf("# corrupt: pressure saves rbp at CFA%+d; zeroing it\n", row->rbp_off);
	poke(&vla, slot, 0);
	walk(vla.im, &vla.s, &vla.d.regs, UNWIND_MAX_FRAMES, 0, w);
	printf("# corrupt: zeroed saved rbp: %d frames, %s\n", w->nr, result_str(w->result));
	CHECK(w->nr == 3 && w->result == UNW_ERR_BAD_FRAME,
	      "corrupt: zeroed saved rbp ends in UNW_ERR_BAD_FRAME at with_vla",
	      "%d frames, %s", w->nr, result_str(w->result));
	loaded__reset(&vla);

	/* Each 8-byte word of the stack in turn made zero, a pointer to
	 * itself, or an address in nothing: every walk ends by itself (sp
	 * only grows), none runs to the depth limit. */
	{
		int walks = 0, depth = 0, words = (int)(vla.d.stack_len / 8);

		for (int i = 0; i < words; i++) {
			uint64_t addr = vla.s.sp + 8 * (uint64_t)i;
			uint64_t vals[3] = { 0, addr, 0x0000414141414000ULL };

			for (int j = 0; j < 3; j++) {
				poke(&vla, addr, vals[j]);
				walk(vla.im, &vla.s, &vla.d.regs, UNWIND_MAX_FRAMES, 0, w);
				walks++;
				depth += w->result == WALK_DEPTH;
			}
			loaded__reset(&vla);
		}
		printf("# corrupt: %d walks over scribbled stacks, %d hit the depth limit\n",
		       walks, depth);
		CHECK(walks == 3 * words && !depth, "corrupt: scribbled stacks, every walk ends",
		      "%d of %d reached the depth limit", depth, walks);
	}

	/* The depth limit, on a real stack. */
	walk(plain.im, &plain.s, &plain.d.regs, 3, 0, w);
	CHECK(w->nr == 3 && w->result == WALK_DEPTH && !memcmp(w->ips, gp->ips, 3 * sizeof(w->ips[0])),
	      "depth: a limit of 3 takes the first 3 frames", "%d frames, %s", w->nr,
	      result_str(w->result));
out:
	loaded__close(&plain);
	loaded__close(&vla);
	free(w);
	free(gp);
	free(gv);
}

/* ---- each rule of the step, on hand-made rows and stacks ---- */

/* Object vaddr = ip - 0x10000 + 0x1000; rows at these vaddrs. */
#define SYN_BIAS	0xf000ULL
#define SYN_SP		0x7ff000000000ULL

#define ROW(pc_, cfa, rbp, cfa_off_, rbp_off_) \
	{ .pc = (pc_), .cfa_type = (cfa), .rbp_type = (rbp), .cfa_off = (cfa_off_), \
	  .rbp_off = (rbp_off_) }

static const struct unwind_row syn_rows[] = {
	ROW(0x1000, UNW_CFA_RSP, UNW_RBP_SAME, 8, 0),		/* entry */
	ROW(0x1001, UNW_CFA_RSP, UNW_RBP_CFA, 16, -16),	/* after push rbp */
	ROW(0x1004, UNW_CFA_RBP, UNW_RBP_CFA, 16, -16),	/* after mov rsp, rbp */
	ROW(0x1020, UNW_CFA_NONE, UNW_RBP_SAME, 0, 0),	/* gap */
	ROW(0x1040, UNW_CFA_RSP, UNW_RBP_CFA, 32, -24),	/* rbp saved elsewhere */
	ROW(0x1050, UNW_CFA_UNSUPPORTED, UNW_RBP_SAME, 0, 0),
	ROW(0x1060, UNW_CFA_PLT, UNW_RBP_SAME, 0, 0),
	ROW(0x1070, UNW_CFA_RSP, UNW_RBP_SAME, 0, 0),		/* CFA = sp: nonsense */
	ROW(0x1080, UNW_CFA_END, UNW_RBP_SAME, 0, 0),
	ROW(0x1090, UNW_CFA_RSP, UNW_RBP_UNSUPPORTED, 16, 0),
	ROW(0x10a0, UNW_CFA_NONE, UNW_RBP_SAME, 0, 0),	/* end of the last FDE */
};
/* The row space of the step cases: another object's 5 rows, then these. */
static struct unwind_row space[5 + sizeof(syn_rows) / sizeof(syn_rows[0])];
#define SYN_ROW_1040 (5 + 4)	/* syn_rows' row for 0x1040 */


struct syn_case {
	const char *name;
	uint64_t ip, sp, bp;
	int leaf;
	int want_ret, want_how;
	uint64_t want_ip, want_sp, want_bp;
};

static uint64_t syn_word(uint64_t addr)
{
	return 0x5500000000ULL + (addr - SYN_SP);	/* distinct per slot */
}

static void check_synthetic(void)
{
	static struct unwind_mapping maps[DECOY_MAPS + 2];
	static struct unwind_proc proc;
	static uint64_t stack[64];
	struct stack_image s = { .sp = SYN_SP, .bytes = (const unsigned char *)stack,
				 .len = sizeof(stack) };
	const uint64_t sp = SYN_SP + 64, fpb = SYN_SP + 256;	/* a frame pointer */
	const struct syn_case cases[] = {
		{ "rsp+8 at entry", 0x10000, sp, 7, 1, UNW_CONTINUE, UNW_HOW_TABLE,
		  syn_word(sp), sp + 8, 7 },
		{ "push rbp: rbp at cfa-16", 0x10001, sp, 7, 1, UNW_CONTINUE, UNW_HOW_TABLE,
		  syn_word(sp + 8), sp + 16, syn_word(sp) },
		{ "cfa on rbp", 0x10010, sp, fpb, 1, UNW_CONTINUE, UNW_HOW_TABLE,
		  syn_word(fpb + 8), fpb + 16, syn_word(fpb) },
		{ "return address looked up one byte back", 0x10004, sp, fpb, 0, UNW_CONTINUE,
		  UNW_HOW_TABLE, syn_word(sp + 8), sp + 16, syn_word(sp) },
		{ "leaf looked up at the pc itself", 0x10004, sp, fpb, 1, UNW_CONTINUE,
		  UNW_HOW_TABLE, syn_word(fpb + 8), fpb + 16, syn_word(fpb) },
		{ "rbp at cfa-24", 0x10040, sp, 7, 1, UNW_CONTINUE, UNW_HOW_TABLE,
		  syn_word(sp + 24), sp + 32, syn_word(sp + 8) },
		{ "plt, (ip & 15) < 11: rsp+8", 0x10066, sp, 7, 1, UNW_CONTINUE, UNW_HOW_TABLE,
		  syn_word(sp), sp + 8, 7 },
		{ "plt, (ip & 15) == 10: rsp+8", 0x1006a, sp, 7, 1, UNW_CONTINUE, UNW_HOW_TABLE,
		  syn_word(sp), sp + 8, 7 },
		{ "plt, (ip & 15) >= 11: rsp+16", 0x1006b, sp, 7, 1, UNW_CONTINUE, UNW_HOW_TABLE,
		  syn_word(sp + 8), sp + 16, 7 },
		{ "cfa not above sp", 0x10070, sp, 7, 1, UNW_ERR_BAD_FRAME, UNW_HOW_TABLE, 0, 0, 0 },
		{ "outermost frame", 0x10080, sp, 7, 1, UNW_DONE, UNW_HOW_TABLE,
		  0x10080, sp, 7 },
		{ "rbp rule unsupported: rbp unknown", 0x10090, sp, 7, 1, UNW_CONTINUE,
		  UNW_HOW_TABLE, syn_word(sp + 8), sp + 16, 0 },
		{ "gap between FDEs: frame pointers", 0x10020, sp, fpb, 1, UNW_CONTINUE,
		  UNW_HOW_FP_NO_ROW, syn_word(fpb + 8), fpb + 16, syn_word(fpb) },
		{ "past the last FDE: frame pointers", 0x10400, sp, fpb, 1, UNW_CONTINUE,
		  UNW_HOW_FP_NO_ROW, syn_word(fpb + 8), fpb + 16, syn_word(fpb) },
		{ "before the first row: frame pointers", 0xff80, sp, fpb, 1, UNW_CONTINUE,
		  UNW_HOW_FP_NO_ROW, syn_word(fpb + 8), fpb + 16, syn_word(fpb) },
		{ "cfa rule unsupported: frame pointers", 0x10050, sp, fpb, 1, UNW_CONTINUE,
		  UNW_HOW_FP_UNSUPPORTED, syn_word(fpb + 8), fpb + 16, syn_word(fpb) },
		{ "mapping without table: frame pointers", 0x30010, sp, fpb, 1, UNW_CONTINUE,
		  UNW_HOW_FP_NO_TABLE, syn_word(fpb + 8), fpb + 16, syn_word(fpb) },
		{ "pc in no mapping: frame pointers", 0x50000, sp, fpb, 1, UNW_CONTINUE,
		  UNW_HOW_FP_NO_MAPPING, syn_word(fpb + 8), fpb + 16, syn_word(fpb) },
		{ "fp: rbp 0 ends", 0x50000, sp, 0, 1, UNW_ERR_FP_END, UNW_HOW_FP_NO_MAPPING,
		  0, 0, 0 },
		{ "fp: rbp below sp is a bad frame", 0x50000, sp, sp - 16, 1, UNW_ERR_BAD_FRAME,
		  UNW_HOW_FP_NO_MAPPING, 0, 0, 0 },
		{ "fp: misaligned rbp is a bad frame", 0x50000, sp, fpb + 4, 1, UNW_ERR_BAD_FRAME,
		  UNW_HOW_FP_NO_MAPPING, 0, 0, 0 },
		{ "return address in no mapping: not code, the walk ends", 0x50000, sp, fpb, 0,
		  UNW_ERR_NOT_CODE, -1, 0, 0, 0 },
		{ "fp: rbp off the stack is a read error", 0x50000, sp, SYN_SP + 1024, 1,
		  UNW_ERR_READ, UNW_HOW_FP_NO_MAPPING, 0, 0, 0 },
		{ "cfa off the stack is a read error", 0x10040, SYN_SP + 500, 7, 1, UNW_ERR_READ,
		  UNW_HOW_TABLE, 0, 0, 0 },
		/* At a function's entry the caller is at [sp], table or not;
		 * a frame-pointer step from there would skip it. */
		{ "entry, mapping without table: the caller from [sp]", 0x30010, sp, fpb,
		  UNW_STEP_LEAF | UNW_STEP_ENTRY, UNW_CONTINUE, UNW_HOW_ENTRY, syn_word(sp), sp + 8, fpb },
		{ "entry, pc in no mapping: the caller from [sp]", 0x50000, sp, fpb,
		  UNW_STEP_LEAF | UNW_STEP_ENTRY, UNW_CONTINUE, UNW_HOW_ENTRY, syn_word(sp), sp + 8, fpb },
		{ "entry, in a table's mapping: the row is not needed", 0x10040, sp, 7,
		  UNW_STEP_LEAF | UNW_STEP_ENTRY, UNW_CONTINUE, UNW_HOW_ENTRY, syn_word(sp), sp + 8, 7 },
		{ "entry, sp off the stack is a read error", 0x30010, SYN_SP + 1024, fpb,
		  UNW_STEP_LEAF | UNW_STEP_ENTRY, UNW_ERR_READ, UNW_HOW_ENTRY, 0, 0, 0 },
	};
	char name[200];
	size_t i;

	for (i = 0; i < 64; i++)
		stack[i] = syn_word(SYN_SP + 8 * i);
	memset(&proc, 0, sizeof(proc));
	proc.first_map = DECOY_MAPS;
	proc.nr_maps = 2;
	put_decoys(maps);
	maps[DECOY_MAPS] = (struct unwind_mapping){
		.start = 0xf000, .end = 0x20000, .bias = SYN_BIAS, .table = 5,
		.nr_rows = sizeof(syn_rows) / sizeof(syn_rows[0]) };
	maps[DECOY_MAPS + 1] = (struct unwind_mapping){
		.start = 0x30000, .end = 0x31000, .bias = 0x30000 };	/* no table */
	cur_maps = maps;
	cur_nr_maps = DECOY_MAPS + 2;
	/* Rows 0-4 of the row space belong to some other object. */
	{
		for (i = 0; i < 5; i++)
			space[i] = (struct unwind_row)ROW(0x1000 + (uint32_t)i, UNW_CFA_RSP,
							  UNW_RBP_SAME, 99, 0);
		memcpy(space + 5, syn_rows, sizeof(syn_rows));
		cur_rows = space;
		cur_nr_rows = sizeof(space) / sizeof(space[0]);
		index_clear();
		index_table(5, space + 5, sizeof(syn_rows) / sizeof(syn_rows[0]));
	}
	cur_stack = &s;

	/* each case twice: with the row cache cold, then warm */
	for (i = 0; i < 2 * sizeof(cases) / sizeof(cases[0]); i++) {
		const struct syn_case *c = &cases[i % (sizeof(cases) / sizeof(cases[0]))];
		struct unwind_regs r = { c->ip, c->sp, c->bp };
		int how = -1, ret;

		ret = unwind_step(&r, &proc, c->leaf, &how);
		snprintf(name, sizeof(name), "step: %s%s", c->name,
			 i < sizeof(cases) / sizeof(cases[0]) ? "" : " (row cache warm)");
		if (c->want_ret < 0)
			CHECK(ret == c->want_ret && how == c->want_how, name, "ret %s how %d",
			      result_str(ret), how);
		else
			CHECK(ret == c->want_ret && how == c->want_how && r.ip == c->want_ip &&
			      r.sp == c->want_sp && r.bp == c->want_bp, name,
			      "ret %s how %d ip %llx sp %llx bp %llx", result_str(ret), how,
			      (unsigned long long)r.ip, (unsigned long long)r.sp,
			      (unsigned long long)r.bp);
	}
	{
		struct unwind_regs r = { 0x10000, sp, 7 };
		int how = -1, ret;

		stack[8] = 0;	/* the return address at sp */
		ret = unwind_step(&r, &proc, 1, &how);
		CHECK(ret == UNW_DONE && r.ip == 0, "step: return address 0 is the end",
		      "ret %s ip %llx", result_str(ret), (unsigned long long)r.ip);
		stack[8] = syn_word(sp);
		r = (struct unwind_regs){ 0x10000, sp, fpb };
		ret = unwind_step(&r, NULL, 1, &how);
		CHECK(ret == UNW_CONTINUE && how == UNW_HOW_FP_NO_MAPPING,
		      "step: no process table: frame pointers", "ret %s how %d",
		      result_str(ret), how);
		/* A table loaded again in the slot (a new generation) after
		 * it changed: rows cached for the old one are not used. */
		{
			struct unwind_row saved = space[SYN_ROW_1040];

			space[SYN_ROW_1040] = (struct unwind_row)ROW(0x1040, UNW_CFA_RSP, UNW_RBP_SAME, 8, 0);
			r = (struct unwind_regs){ 0x10040, sp, 7 };
			ret = unwind_step(&r, &proc, 1, &how);
			CHECK(r.sp == sp + 32, "step: a cached row holds while its table's generation does",
			      "sp %+lld", (long long)(r.sp - sp));
			tables[0].hdr.gen++;
			r = (struct unwind_regs){ 0x10040, sp, 7 };
			ret = unwind_step(&r, &proc, 1, &how);
			CHECK(ret == UNW_CONTINUE && r.sp == sp + 8,
			      "step: a new generation of the table is searched, not served from the cache",
			      "ret %s sp %+lld", result_str(ret), (long long)(r.sp - sp));
			space[SYN_ROW_1040] = saved;
			tables[0].hdr.gen++;
		}
		/* A row space that ends early: a missing shard. */
		memset(row_cache, 0, sizeof(row_cache));
		cur_nr_rows = 7;
		r = (struct unwind_regs){ 0x10040, sp, fpb };
		ret = unwind_step(&r, &proc, 1, &how);
		CHECK(ret == UNW_CONTINUE && how == UNW_HOW_FP_NO_ROW,
		      "step: rows out of the row space: frame pointers", "ret %s how %d",
		      result_str(ret), how);
		/* The table itself gone: evicted, or refused for room. */
		cur_nr_rows = 5;
		r = (struct unwind_regs){ 0x10040, sp, fpb };
		ret = unwind_step(&r, &proc, 1, &how);
		CHECK(ret == UNW_CONTINUE && how == UNW_HOW_FP_EVICTED && r.ip == syn_word(fpb + 8),
		      "step: a table not loaded: frame pointers, counted as evicted", "ret %s how %d",
		      result_str(ret), how);
	}
}

/* Mapping search against a linear scan, 0 to UNWIND_MAX_MAPPINGS of them,
 * after someone else's. */
static void check_find_mapping(void)
{
	static struct unwind_mapping maps[DECOY_MAPS + UNWIND_MAX_MAPPINGS];
	struct unwind_proc p = { .first_map = DECOY_MAPS };
	struct unwind_mapping *mine = maps + DECOY_MAPS;
	unsigned int seed = 99;
	int bad = 0, n, i, k;

	put_decoys(maps);
	cur_maps = maps;
	for (n = 0; n <= UNWIND_MAX_MAPPINGS; n += (n < 10 ? 1 : n < 250 ? 40 : 1)) {
		memset(mine, 0, UNWIND_MAX_MAPPINGS * sizeof(*mine));
		p.nr_maps = (uint32_t)n;
		cur_nr_maps = DECOY_MAPS + (size_t)n;
		for (i = 0; i < n; i++) {
			mine[i].start = 0x100000ULL * (uint64_t)(i + 1);
			mine[i].end = mine[i].start + 0x1000 + 0x1000ULL * (uint64_t)(i % 3);
		}
		for (k = 0; k < 4000; k++) {
			uint64_t ip = (uint64_t)rand_r(&seed) % (0x100000ULL * (uint64_t)(n + 2));
			const struct unwind_mapping *want = NULL, *got;

			if (k < 4 * n)	/* each one's first and last byte, and just past */
				ip = k % 4 == 0 ? mine[k / 4].start : k % 4 == 1 ? mine[k / 4].end - 1 :
				     k % 4 == 2 ? mine[k / 4].end : mine[k / 4].start - 1;
			for (i = 0; i < n; i++)
				if (mine[i].start <= ip && ip < mine[i].end)
					want = &mine[i];
			got = unwind_find_mapping(&p, ip);
			bad += got != want;
		}
	}
	CHECK(!bad, "find_mapping: agrees with a linear scan, 0 to 256 mappings", "%d wrong",
	      bad);
	/* The mapping space ends before the process's last mapping: no
	 * answer, or the right one, never another. */
	p.nr_maps = 10;
	cur_nr_maps = DECOY_MAPS + 5;
	bad = 0;
	for (i = 0; i < 10; i++) {
		const struct unwind_mapping *got = unwind_find_mapping(&p, mine[i].start);

		bad += got && (i >= 5 || got != &mine[i]);
	}
	CHECK(!bad, "find_mapping: indexes beyond the mapping space", "%d wrong", bad);
}

/* Row search against a linear scan, up to the full row space. */
static void check_find_row(void)
{
	uint32_t sizes[] = { 1, 2, 3, 15, 16, 17, 100, 65536, (1u << 20) + 5, 1u << 22 }, n;
	struct unwind_row *rows;
	unsigned int seed = 7;
	int bad = 0;

	rows = malloc((1u << 22) * sizeof(*rows));
	if (!rows) {
		CHECK(0, "find_row: alloc", "out of memory");
		return;
	}
	for (int spread = 0; spread < 2; spread++) {
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			struct unwind_table t = { .rows = rows };
			struct unwind_table_hdr hdr;
			uint32_t pc = 0x1000;

			n = sizes[si];
			/* evenly spaced, or as code is: mostly dense, with
			 * gaps of every size (functions, cold sections) */
			for (uint32_t i = 0; i < n; i++) {
				rows[i] = (struct unwind_row)ROW(pc, UNW_CFA_RSP, UNW_RBP_SAME,
								 (int16_t)(i & 0x7fff), 0);
				pc += !spread ? 4 : rand_r(&seed) % 100 ? 1 + rand_r(&seed) % 12 :
				      1 + rand_r(&seed) % (rand_r(&seed) % 2 ? 70000 : 900);
			}
			t.nr = n;
			cur_rows = rows;
			cur_nr_rows = n;
			index_clear();
			index_table(0, rows, n);
			hdr = tables[0].hdr;
			for (int k = 0; k < 3000; k++) {
				uint32_t at = 0xff0 + (uint32_t)rand_r(&seed) % (pc - 0xff0 + 32);
				const struct unwind_row *got = unwind_find_row(rows, &hdr, n, at);

				bad += got != unwind_table__find(&t, at);
			}
			/* every row's own pc, and the byte before the next */
			for (uint32_t i = 0; i < n; i += 1 + n / 4000) {
				bad += unwind_find_row(rows, &hdr, n, rows[i].pc) != &rows[i];
				if (i + 1 < n && rows[i + 1].pc > rows[i].pc + 1)
					bad += unwind_find_row(rows, &hdr, n, rows[i + 1].pc - 1) != &rows[i];
			}
		}
	}
	index_clear();
	CHECK(!bad, "find_row: agrees with a plain search, 1 to 2^22 rows, even and uneven gaps",
	      "%d wrong", bad);
	free(rows);
}

/* Walks that would not end by themselves: a frame-pointer cycle and a
 * chain longer than the limit. */
static void check_loops(void)
{
	static uint64_t stack[1024];
	struct stack_image s = { .sp = SYN_SP, .bytes = (const unsigned char *)stack,
				 .len = sizeof(stack) };
	struct unwind_regs r;
	struct walk *w = calloc(1, sizeof(*w));
	int i;

	if (!w) {
		CHECK(0, "loops: alloc", "out of memory");
		return;
	}
	/* [bp] = bp: a frame that is its own caller */
	stack[16] = SYN_SP + 128;
	stack[17] = 0x401000;
	r = (struct unwind_regs){ 0x401000, SYN_SP, SYN_SP + 128 };
	walk(NULL, &s, &r, UNWIND_MAX_FRAMES, 0, w);
	CHECK(w->nr == 2 && w->result == UNW_ERR_BAD_FRAME, "loops: rbp pointing at itself ends",
	      "%d frames, %s", w->nr, result_str(w->result));

	/* 500 well-formed frames: the walk stops at UNWIND_MAX_FRAMES */
	for (i = 0; i < 500; i++) {
		stack[2 * i] = SYN_SP + 16 * (uint64_t)(i + 1);
		stack[2 * i + 1] = 0x401000 + (uint64_t)i;
	}
	r = (struct unwind_regs){ 0x400000, SYN_SP - 64, SYN_SP };
	walk(NULL, &s, &r, UNWIND_MAX_FRAMES, 0, w);
	CHECK(w->nr == UNWIND_MAX_FRAMES && w->result == WALK_DEPTH &&
	      w->ips[UNWIND_MAX_FRAMES - 1] == 0x401000 + UNWIND_MAX_FRAMES - 2,
	      "depth: a 500-frame chain stops at UNWIND_MAX_FRAMES", "%d frames, %s", w->nr,
	      result_str(w->result));
	free(w);
}

/* ---- driver ---- */

static void cleanup_dir(void)
{
	char path[600];
	struct dirent *e;
	DIR *dp = opendir(dir);

	while (dp && (e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (dp)
		closedir(dp);
	rmdir(dir);
}

/* unwind_target.c sits next to this file; the test runs from the repo root. */
static int find_target(char *out, size_t len)
{
	const char *file = __FILE__, *slash = strrchr(file, '/');

	snprintf(out, len, "%.*s/unwind_target.c", slash ? (int)(slash - file) : 1,
		 slash ? file : ".");
	if (!access(out, R_OK))
		return 0;
	snprintf(out, len, "tests/unit/unwind_target.c");
	return access(out, R_OK) ? -ENOENT : 0;
}

static void check_variant(const struct variant *v, const char *src)
{
	char exe[600], cmd[2048], name[200];
	const struct object *o = NULL;
	size_t i;
	int ok;

	snprintf(exe, sizeof(exe), "%s/%s.bin", dir, v->name);
	snprintf(cmd, sizeof(cmd), "gcc %s -pthread -o '%s' '%s' && '%s' '%s/%s-'", v->cflags,
		 exe, src, exe, dir, v->name);
	printf("# %s: %s\n", v->name, v->cflags);
	snprintf(name, sizeof(name), "%s: target built and run", v->name);
	ok = sh(cmd) == 0;
	CHECK(ok, name, "see the command above");
	if (!ok)
		return;
	memset(how_totals, 0, sizeof(how_totals));
	for (i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
		check_chain(v, exe, chains[i]);
	printf("# %s: steps:", v->name);
	for (i = 0; i < UNW_HOW_NR; i++)
		printf(" %s %d", how_str[i], how_totals[i]);
	printf("\n");
	for (int k = 0; k < nr_objects; k++)
		if (!strcmp(objects[k]->path, exe))
			o = objects[k];
	snprintf(name, sizeof(name), "%s: target's table %s .debug_frame", v->name,
		 v->debug_frame ? "from" : "not from");
	CHECK(o && !o->err && o->table.from_debug_frame == v->debug_frame, name,
	      "object %s, from_debug_frame %d", o ? "built" : "missing",
	      o ? o->table.from_debug_frame : -1);
}

int main(void)
{
	char src[600];

	setvbuf(stdout, NULL, _IOLBF, 0);
	check_synthetic();
	check_find_mapping();
	check_find_row();
	check_loops();

	if (find_target(src, sizeof(src))) {
		CHECK(0, "find unwind_target.c", "not at %s: run from the repo root", src);
		return CHECK_EXIT();
	}
	if (system("gcc --version >/dev/null 2>&1") != 0) {
		SKIP("walks of captured stacks", "gcc not found");
		return CHECK_EXIT();
	}
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp", "%s", strerror(errno));
		return CHECK_EXIT();
	}
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		check_variant(&variants[i], src);
	check_corrupted();

	objects_free();
	cleanup_dir();
	return CHECK_EXIT();
}
