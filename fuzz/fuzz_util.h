/*
 * Helpers shared by the libFuzzer harnesses (not part of the library).
 * Harnesses abort() when an invariant fails: libFuzzer reports that as a
 * crash and saves the input.
 */
#ifndef KTA_FUZZ_UTIL_H
#define KTA_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/key.h"

/* Fails the run: an invariant the harness checks does not hold (says which). */
#define FUZZ_CHECK(c)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * A deterministic signing key (seed = 32 bytes of `b`) and its verifier key.
 * Aborts on failure: it only fails when out of memory.
 */
static inline void fuzz_key(const char *name, enum kta_key_type type, uint8_t b,
			    struct kta_skey **sk, struct kta_vkey **vk)
{
	uint8_t seed[32];

	memset(seed, b, sizeof(seed));
	FUZZ_CHECK(kta_skey_from_seed(name, type, seed, sk, NULL) == KTA_OK);
	FUZZ_CHECK(kta_skey_vkey(*sk, vk, NULL) == KTA_OK);
}

/* Reads a big-endian integer of n <= 8 bytes from *p (*len left), zero past the end. */
static inline uint64_t fuzz_take(const uint8_t **p, size_t *len, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		v <<= 8;
		if (*len > 0) {
			v |= **p;
			(*p)++;
			(*len)--;
		}
	}
	return v;
}

#endif
