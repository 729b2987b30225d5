/* Inlined into inline.c's outer(): the profile must show these as frames of
 * their own, with this file's lines. */
static volatile unsigned long sink;

static inline __attribute__((always_inline)) unsigned long inner_mix(unsigned long x)
{
	for (int i = 0; i < 64; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	return x;
}

static inline __attribute__((always_inline)) unsigned long middle_step(unsigned long x)
{
	x = inner_mix(x);
	sink = x;
	return inner_mix(x ^ 0x9e3779b97f4a7c15ul);
}
