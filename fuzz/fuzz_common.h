/*
 * fuzz_common.h
 *		What every fuzz target shares: an invariant check that crashes, so
 *		libFuzzer keeps the input that broke it.
 */
#ifndef ZSTACK_TFA_FUZZ_COMMON_H
#define ZSTACK_TFA_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "parse.h"

#define INVARIANT(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

/* Is the span [p, p+len) inside [base, base+size)? */
static inline int
within(const char *p, size_t len, const char *base, size_t size)
{
	return p >= base && len <= size && (size_t) (p - base) <= size - len;
}

static inline int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

#endif
