/* One hex digit's value, for the /proc text parsers. */
#ifndef CPROF_HEXVAL_H
#define CPROF_HEXVAL_H

/* 0..15, or -1 when ch is not a hex digit. */
static inline int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

#endif /* CPROF_HEXVAL_H */
