/* Kernel symbols from /proc/kallsyms, modules included. */
#ifndef CPROF_KSYMS_H
#define CPROF_KSYMS_H

#include <stddef.h>
#include <stdint.h>

struct ksyms;

/* Parse kallsyms text. NULL and errno on failure. */
struct ksyms *ksyms__parse(const char *text, size_t len);
/* Read /proc/kallsyms. NULL and errno (EPERM when addresses are hidden). */
struct ksyms *ksyms__load(void);
/* Name of the function holding addr, or NULL; *module gets the module name
 * or NULL for the core kernel. */
const char *ksyms__lookup(const struct ksyms *k, uint64_t addr, uint64_t *start, const char **module);
size_t ksyms__count(const struct ksyms *k);
void ksyms__free(struct ksyms *k);

#endif /* CPROF_KSYMS_H */
