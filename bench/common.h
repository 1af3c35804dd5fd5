/*
 * Shared helpers of the bench_*.c programs (header only, static functions):
 * a monotonic clock, a rate loop and the two SHA-256 bounds every figure is
 * compared with, measured in the same process on the same core:
 *   - raw: SHA256_Transform on one 64-byte block (the compression ceiling);
 *   - evp: a 65-byte node hash through a once-fetched, reused EVP context;
 *   - two: where the library hashes with SHA-NI, the compression rate of
 *     two messages interleaved (kta_hash_nodes over a 256-hash level: the
 *     hardware's ceiling for batches; OpenSSL has no multi-message API, so
 *     "raw" is one message at a time).
 * Benchmarks are never part of the test suite: timings on shared machines
 * are noise, so every figure is printed next to its same-run bound.
 */
#ifndef KTA_BENCH_COMMON_H
#define KTA_BENCH_COMMON_H

#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ktaudit/hash.h"

/* Test seam in src/hash.c: 1 if the hasher now uses SHA-NI (on = 1). */
int kta_hasher_test_ni(struct kta_hasher *h, int on);

static inline double bench_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static volatile uint8_t bench_sink;

/* CPU time of this process (CLOCK_PROCESS_CPUTIME_ID), in seconds. */
static inline double bench_cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Runs fn(arg) in batches of 1000 until `secs` of this process's CPU time
 * have passed; calls per CPU-second. CPU time, not wall time, because the
 * cores are shared: a single-threaded loop's CPU rate does not depend on how
 * often the scheduler runs something else.
 */
static inline double bench_rate(void (*fn)(void *), void *arg, double secs)
{
	double t0 = bench_cpu_now(), t;
	unsigned long n = 0;

	do {
		int i;

		for (i = 0; i < 1000; i++)
			fn(arg);
		n += 1000;
		t = bench_cpu_now();
	} while (t - t0 < secs);
	return (double)n / (t - t0);
}

static inline void bench_raw_block(void *arg)
{
	SHA256_CTX *c = arg;
	static const uint8_t block[64] = {1};

	SHA256_Transform(c, block);
	bench_sink ^= (uint8_t)c->h[0];
}

struct bench_evp {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
	uint8_t buf[65], out[32];
};

static inline void bench_evp_node(void *arg)
{
	struct bench_evp *e = arg;
	unsigned int n;

	EVP_DigestInit_ex2(e->ctx, e->md, NULL);
	EVP_DigestUpdate(e->ctx, e->buf, sizeof(e->buf));
	EVP_DigestFinal_ex(e->ctx, e->out, &n);
	e->buf[1] = e->out[0];
}

struct bench_bounds {
	double raw; /* SHA-256 compressions (64-byte blocks) per second */
	double evp; /* 65-byte node hashes per second through reused EVP */
	double two; /* blocks per second, two messages interleaved; 0: no SHA-NI */
};

struct bench_level {
	struct kta_hasher *h;
	uint8_t in[256][32], out[128][32];
};

/* One level of 128 node hashes (256 blocks). */
static inline void bench_level_nodes(void *arg)
{
	struct bench_level *l = arg;

	kta_hash_nodes(l->h, (const uint8_t(*)[32])l->in, 128, l->out);
	l->in[0][0] ^= l->out[127][0];
}

/* Measures both bounds for `secs` each. */
static inline void bench_bounds_measure(struct bench_bounds *b, double secs)
{
	SHA256_CTX c;
	struct bench_evp e;

	SHA256_Init(&c);
	b->raw = bench_rate(bench_raw_block, &c, secs);
	memset(&e, 0, sizeof(e));
	e.md = EVP_MD_fetch(NULL, "SHA256", NULL);
	e.ctx = EVP_MD_CTX_new();
	if (e.md == NULL || e.ctx == NULL)
		abort();
	b->evp = bench_rate(bench_evp_node, &e, secs);
	EVP_MD_CTX_free(e.ctx);
	EVP_MD_free(e.md);
	b->two = 0;
	{
		struct bench_level *l = calloc(1, sizeof(*l));

		if (l == NULL || kta_hasher_new(&l->h, NULL) != KTA_OK)
			abort();
		if (kta_hasher_test_ni(l->h, 1))
			b->two = 256 * bench_rate(bench_level_nodes, l, secs);
		kta_hasher_free(l->h);
		free(l);
	}
}

static inline void bench_bounds_print(const struct bench_bounds *b)
{
	printf("  bounds (this run, per CPU-second): raw compression %.2f M blocks/s, "
	       "EVP node hash %.2f M/s",
	       b->raw / 1e6, b->evp / 1e6);
	if (b->two > 0)
		printf(", two-message SHA-NI %.2f M blocks/s (%.2fx raw)", b->two / 1e6,
		       b->two / b->raw);
	printf("\n");
}

/* CPU time (user + system) this process has used, in seconds: on a shared
 * machine, entries per CPU-second is steadier than entries per wall second. */
static inline double bench_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Parses all of s as a decimal number in [min, max] into *out (strtoul alone
 * would take "8x" as 8 and "" as 0): 0 on success, -1 otherwise. */
static inline int bench_parse_ulong(const char *s, unsigned long min, unsigned long max,
				    unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Peak resident set of this process in MiB. */
static inline double bench_peak_rss_mib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (double)ru.ru_maxrss / 1024.0;
}

#endif
