/*
 * SHA-256 compression on the x86 SHA extensions (see sha256ni.h).
 *
 * The round structure is FIPS 180-4 6.2.2 as the SHA-NI instructions
 * express it: the state lives in two registers, ABEF and CDGH; each
 * sha256rnds2 does two rounds; sha256msg1/sha256msg2 compute the message
 * schedule four words at a time,
 *   W[t..t+3] = msg2(msg1(W[t-16..], W[t-12..]) + W[t-7..t-4], W[t-4..t-1]).
 * Everything else in the library is portable C; on other CPUs and
 * compilers kta_sha256ni_available() returns 0 and hash.c uses OpenSSL.
 */
#include "sha256ni.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KTA_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define KTA_HAVE_SHANI 0
#endif

#if KTA_HAVE_SHANI

#define TGT __attribute__((target("sha,sse4.1,ssse3")))

/* FIPS 180-4 4.2.2 */
static const uint32_t K256[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

int kta_sha256ni_available(void)
{
	unsigned a, b, c, d;

	/* SSSE3 (leaf 1 ecx bit 9), SSE4.1 (bit 19), SHA (leaf 7 ebx bit 29) */
	if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & (1u << 9)) == 0 || (c & (1u << 19)) == 0)
		return 0;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0)
		return 0;
	return (b & (1u << 29)) != 0;
}

/* H0..H7 -> ABEF, CDGH */
TGT static inline void st_in(const uint32_t st[8], __m128i *abef, __m128i *cdgh)
{
	__m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)st);
	__m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)(st + 4));
	__m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
	__m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);

	*abef = _mm_alignr_epi8(cdab, efgh, 8);
	*cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
}

/* ABEF, CDGH -> H0..H7 */
TGT static inline void st_out(__m128i abef, __m128i cdgh, uint32_t st[8])
{
	__m128i feba = _mm_shuffle_epi32(abef, 0x1B);
	__m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);

	_mm_storeu_si128((__m128i *)(void *)st, _mm_blend_epi16(feba, dchg, 0xF0));
	_mm_storeu_si128((__m128i *)(void *)(st + 4), _mm_alignr_epi8(dchg, feba, 8));
}

/* Message words i*4..i*4+3 of block p, big-endian (FIPS 180-4 3.1). */
#define LD(p, i)                                                                                   \
	_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)((p) + 16 * (i))), bswap)
/* W[t..t+3] from the previous sixteen words (m0 holds W[t-16..t-13]). */
#define SCHED(m0, m1, m2, m3)                                                                      \
	m0 = _mm_sha256msg2_epu32(                                                                 \
	    _mm_add_epi32(_mm_sha256msg1_epu32(m0, m1), _mm_alignr_epi8(m3, m2, 4)), m3)
/* Rounds 4i..4i+3 with message words m. */
#define RND(abef, cdgh, m, i)                                                                      \
	do {                                                                                       \
		__m128i k_ = _mm_add_epi32(                                                        \
		    (m), _mm_load_si128((const __m128i *)(const void *)(K256 + 4 * (i))));         \
		(cdgh) = _mm_sha256rnds2_epu32((cdgh), (abef), k_);                                \
		k_ = _mm_shuffle_epi32(k_, 0x0E);                                                  \
		(abef) = _mm_sha256rnds2_epu32((abef), (cdgh), k_);                                \
	} while (0)
#define Q1(i, a, b, c, d)                                                                          \
	do {                                                                                       \
		if ((i) >= 4)                                                                      \
			SCHED(m##a, m##b, m##c, m##d);                                             \
		RND(s0, s1, m##a, i);                                                              \
	} while (0)
#define Q2(i, a, b, c, d)                                                                          \
	do {                                                                                       \
		if ((i) >= 4) {                                                                    \
			SCHED(m##a, m##b, m##c, m##d);                                             \
			SCHED(n##a, n##b, n##c, n##d);                                             \
		}                                                                                  \
		RND(s0, s1, m##a, i);                                                              \
		RND(t0, t1, n##a, i);                                                              \
	} while (0)
#define ROUNDS(Q)                                                                                  \
	Q(0, 0, 1, 2, 3);                                                                          \
	Q(1, 1, 2, 3, 0);                                                                          \
	Q(2, 2, 3, 0, 1);                                                                          \
	Q(3, 3, 0, 1, 2);                                                                          \
	Q(4, 0, 1, 2, 3);                                                                          \
	Q(5, 1, 2, 3, 0);                                                                          \
	Q(6, 2, 3, 0, 1);                                                                          \
	Q(7, 3, 0, 1, 2);                                                                          \
	Q(8, 0, 1, 2, 3);                                                                          \
	Q(9, 1, 2, 3, 0);                                                                          \
	Q(10, 2, 3, 0, 1);                                                                         \
	Q(11, 3, 0, 1, 2);                                                                         \
	Q(12, 0, 1, 2, 3);                                                                         \
	Q(13, 1, 2, 3, 0);                                                                         \
	Q(14, 2, 3, 0, 1);                                                                         \
	Q(15, 3, 0, 1, 2)

TGT void kta_sha256ni_compress(uint32_t st[8], const uint8_t *blocks, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i s0, s1;

	st_in(st, &s0, &s1);
	for (; n > 0; n--, blocks += 64) {
		const __m128i a0 = s0, a1 = s1;
		__m128i m0 = LD(blocks, 0), m1 = LD(blocks, 1), m2 = LD(blocks, 2),
			m3 = LD(blocks, 3);

		ROUNDS(Q1);
		s0 = _mm_add_epi32(s0, a0);
		s1 = _mm_add_epi32(s1, a1);
	}
	st_out(s0, s1, st);
}

TGT void kta_sha256ni_compress2(uint32_t sa[8], const uint8_t *const *a, uint32_t sb[8],
				const uint8_t *const *b, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i s0, s1, t0, t1;
	size_t i;

	st_in(sa, &s0, &s1);
	st_in(sb, &t0, &t1);
	for (i = 0; i < n; i++) {
		const __m128i a0 = s0, a1 = s1, b0 = t0, b1 = t1;
		__m128i m0 = LD(a[i], 0), m1 = LD(a[i], 1), m2 = LD(a[i], 2), m3 = LD(a[i], 3);
		__m128i n0 = LD(b[i], 0), n1 = LD(b[i], 1), n2 = LD(b[i], 2), n3 = LD(b[i], 3);

		ROUNDS(Q2);
		s0 = _mm_add_epi32(s0, a0);
		s1 = _mm_add_epi32(s1, a1);
		t0 = _mm_add_epi32(t0, b0);
		t1 = _mm_add_epi32(t1, b1);
	}
	st_out(s0, s1, sa);
	st_out(t0, t1, sb);
}

#else /* !KTA_HAVE_SHANI */

int kta_sha256ni_available(void)
{
	return 0;
}

void kta_sha256ni_compress(uint32_t st[8], const uint8_t *blocks, size_t n)
{
	(void)st;
	(void)blocks;
	(void)n;
}

void kta_sha256ni_compress2(uint32_t sa[8], const uint8_t *const *a, uint32_t sb[8],
			    const uint8_t *const *b, size_t n)
{
	(void)sa;
	(void)a;
	(void)sb;
	(void)b;
	(void)n;
}

#endif
