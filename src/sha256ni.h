/*
 * ktaudit internal: the SHA-256 compression function (FIPS 180-4 6.2.2) on
 * x86-64 SHA extensions (SHA-NI), one message or two interleaved.
 *
 * Why our own and not only OpenSSL's: the replay hashes hundreds of short,
 * independent messages per bundle (leaves, then the nodes above them), and
 * one SHA-NI message is bound by the latency of sha256rnds2; two messages
 * interleaved keep the unit busy, 1.5-2x the single-message rate on the
 * machines we measured (bench/bench_merkle prints it). OpenSSL has no
 * multi-message API. The code is checked against OpenSSL's SHA-256 over
 * every length and both paths (tests/unit/test_hash.c).
 *
 * Pure: no I/O, no allocation, no global state. The state is the eight
 * words H0..H7 of FIPS 180-4 in native order. Blocks are 64 bytes, unaligned
 * is fine. Call the compress functions only when kta_sha256ni_available()
 * returned 1 (they execute SHA-NI, SSSE3 and SSE4.1 instructions).
 */
#ifndef KTAUDIT_SHA256NI_H
#define KTAUDIT_SHA256NI_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this CPU (cpuid) and build support the functions below, else 0. */
int kta_sha256ni_available(void);

/* Compresses n consecutive blocks into st. */
void kta_sha256ni_compress(uint32_t st[8], const uint8_t *blocks, size_t n);

/* Compresses blocks a[0..n) into sa and b[0..n) into sb, interleaved (the
 * blocks of one message need not be contiguous). */
void kta_sha256ni_compress2(uint32_t sa[8], const uint8_t *const *a, uint32_t sb[8],
			    const uint8_t *const *b, size_t n);

#endif
