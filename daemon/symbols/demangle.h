/* Readable names for C++ and Rust symbols, through libiberty's demangler. */
#ifndef CPROF_DEMANGLE_H
#define CPROF_DEMANGLE_H

/* Names longer than this are left mangled: libiberty's C++ demangler keeps
 * its parse tree on the stack, about 80 bytes per input character. */
#define DEMANGLE_MAX_LEN	16384
/* Nor are names whose readable form would be longer than this (the longest
 * in Debian's libLLVM and Boost are under 20 KiB). */
#define DEMANGLE_MAX_OUT	65536

/*
 * The readable form of a C++ (_Z..., also _GLOBAL__sub_I_...) or Rust
 * (legacy _ZN...17h<hash>E and v0 _R...) symbol, malloc'd; the caller frees
 * it. C++ names come with their parameters, as `perf report` and
 * `addr2line -C` show them; Rust legacy names lose the trailing ::h<hash>,
 * v0 names their crate disambiguators. NULL and errno EINVAL when name is
 * not mangled or cannot be demangled (also when longer than
 * DEMANGLE_MAX_LEN), E2BIG when its readable form would pass DEMANGLE_MAX_OUT,
 * ENOMEM when out of memory. Thread-safe.
 */
char *demangle(const char *name);

#endif /* CPROF_DEMANGLE_H */
