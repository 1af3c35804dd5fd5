/*
 * Ed25519 (src/ed25519.h): RFC 8032 vectors, and the verifier, which calls
 * the provider's functions directly, against kta_ed25519_verify (EVP): the
 * same answer for genuine, wrong-key, tampered, invalid-key and random
 * combinations, for many keys and alternating keys, on several threads.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ed25519.h"
#include "testutil.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	size_t i;

	assert_int_equal(strlen(h), 2 * n);
	for (i = 0; i < 2 * n; i++) {
		char c = h[i];
		unsigned v = c >= '0' && c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);

		assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
}

/* RFC 8032 section 7.1: TEST 1, 2, 3 and SHA(abc) (its message is the
 * SHA-512 of "abc"). */
static const struct vec {
	const char *seed, *pub, *msg, *sig;
} vecs[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
     "4"
     "6bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11"
     "d"
     "8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc"
     "6"
     "594a7c15e9716ed28dc027beceea1ec40a"},
    {"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3fee"
     "b"
     "bd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e"
     "0"
     "303dca179c138ac17ad9bef1177331a704"},
};
#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

struct kv {
	uint8_t seed[32], pub[32], msg[65], sig[64]; /* msg: room for one byte more */
	size_t mlen;
};

static void load(size_t i, struct kv *k)
{
	memset(k, 0, sizeof(*k));
	unhex(vecs[i].seed, k->seed, 32);
	unhex(vecs[i].pub, k->pub, 32);
	k->mlen = strlen(vecs[i].msg) / 2;
	unhex(vecs[i].msg, k->msg, k->mlen);
	unhex(vecs[i].sig, k->sig, 64);
}

/* Both paths, which must agree; returns their answer. */
static enum kta_status both(struct kta_ed25519_verifier *v, const uint8_t pub[static 32],
			    const uint8_t *msg, size_t len, const uint8_t sig[static 64])
{
	enum kta_status a = kta_ed25519_verify(pub, msg, len, sig);
	enum kta_status b = kta_ed25519_verifier_verify(v, pub, msg, len, sig);

	assert_int_equal(a, b);
	assert_true(a == KTA_OK || a == KTA_ERR_VERIFY);
	return a;
}

static struct kta_ed25519_verifier *verifier(void)
{
	struct kta_ed25519_verifier *v = (struct kta_ed25519_verifier *)1;

	assert_int_equal(kta_ed25519_verifier_new(&v, NULL), KTA_OK);
	assert_non_null(v);
	return v;
}

/* OpenSSL 3.0's default provider offers what the direct path needs: the
 * fast path, not the fallback, is what the other tests exercise. */
static void verifier_is_direct(void **state)
{
	struct kta_ed25519_verifier *v = verifier();

	(void)state;
	assert_int_equal(kta_ed25519_verifier_is_direct(v), 1);
	kta_ed25519_verifier_free(v);
	kta_ed25519_verifier_free(NULL);
}

static void rfc8032_vectors(void **state)
{
	struct kta_ed25519_verifier *v = verifier();
	size_t i;

	(void)state;
	for (i = 0; i < NVECS; i++) {
		struct kv k;
		uint8_t pub[32], sig[64];

		load(i, &k);
		assert_int_equal(kta_ed25519_public(k.seed, pub, NULL), KTA_OK);
		assert_memory_equal(pub, k.pub, 32);
		assert_int_equal(kta_ed25519_sign(k.seed, k.msg, k.mlen, sig, NULL), KTA_OK);
		assert_memory_equal(sig, k.sig, 64);
		assert_int_equal(both(v, k.pub, k.msg, k.mlen, k.sig), KTA_OK);
		/* One byte more or less of message. */
		assert_int_equal(both(v, k.pub, k.msg, k.mlen + 1, k.sig), KTA_ERR_VERIFY);
		if (k.mlen > 0)
			assert_int_equal(both(v, k.pub, k.msg, k.mlen - 1, k.sig), KTA_ERR_VERIFY);
	}
	/* TEST 1's empty message may come as NULL. */
	{
		struct kv k;

		load(0, &k);
		assert_int_equal(both(v, k.pub, NULL, 0, k.sig), KTA_OK);
	}
	kta_ed25519_verifier_free(v);
}

static void wrong_key(void **state)
{
	struct kta_ed25519_verifier *v = verifier();
	size_t i, j;

	(void)state;
	for (i = 0; i < NVECS; i++)
		for (j = 0; j < NVECS; j++) {
			struct kv a, b;

			load(i, &a);
			load(j, &b);
			assert_int_equal(both(v, b.pub, a.msg, a.mlen, a.sig),
					 i == j ? KTA_OK : KTA_ERR_VERIFY);
		}
	kta_ed25519_verifier_free(v);
}

/* Every single-bit flip of the signature, the key and the message fails. */
static void flipped_bits(void **state)
{
	struct kta_ed25519_verifier *v = verifier();
	struct kv k;
	size_t b;

	(void)state;
	load(2, &k);
	for (b = 0; b < 512; b++) {
		k.sig[b / 8] ^= (uint8_t)(1u << (b % 8));
		assert_int_equal(both(v, k.pub, k.msg, k.mlen, k.sig), KTA_ERR_VERIFY);
		k.sig[b / 8] ^= (uint8_t)(1u << (b % 8));
	}
	for (b = 0; b < 256; b++) {
		k.pub[b / 8] ^= (uint8_t)(1u << (b % 8));
		assert_int_equal(both(v, k.pub, k.msg, k.mlen, k.sig), KTA_ERR_VERIFY);
		k.pub[b / 8] ^= (uint8_t)(1u << (b % 8));
	}
	for (b = 0; b < 8 * k.mlen; b++) {
		k.msg[b / 8] ^= (uint8_t)(1u << (b % 8));
		assert_int_equal(both(v, k.pub, k.msg, k.mlen, k.sig), KTA_ERR_VERIFY);
		k.msg[b / 8] ^= (uint8_t)(1u << (b % 8));
	}
	assert_int_equal(both(v, k.pub, k.msg, k.mlen, k.sig), KTA_OK);
	kta_ed25519_verifier_free(v);
}

/*
 * Keys that are not points, or not canonically encoded, or of small order:
 * rejected or not as OpenSSL decides, identically on both paths, never a
 * crash. y = 2 has no x on the curve (x^2 = (y^2-1)/(dy^2+1) is a non-square
 * mod p), so that key fails whatever the signature.
 */
static void invalid_keys(void **state)
{
	struct kta_ed25519_verifier *v = verifier();
	struct kv k;
	uint8_t pub[32], sig[64];
	size_t i;

	(void)state;
	load(1, &k);
	memset(pub, 0, 32);
	pub[0] = 2;
	assert_int_equal(both(v, pub, k.msg, k.mlen, k.sig), KTA_ERR_VERIFY);
	pub[31] = 0x80; /* and with the sign bit */
	assert_int_equal(both(v, pub, k.msg, k.mlen, k.sig), KTA_ERR_VERIFY);
	/* y = 2^255 - 1 and y = p (non-canonical 18 and 0), y = p + 1
	 * (non-canonical identity), all-zero, the identity, with and without
	 * the sign bit; each with the vector's signature and with the
	 * small-order "signature" R = identity, S = 0. */
	for (i = 0; i < 12; i++) {
		memset(pub, 0, 32);
		switch (i / 2) {
		case 0:
			memset(pub, 0xff, 32);
			break;
		case 1:
			memset(pub, 0xff, 32);
			pub[0] = 0xed;
			break;
		case 2:
			memset(pub, 0xff, 32);
			pub[0] = 0xee;
			break;
		case 3:
			break;
		case 4:
			pub[0] = 1;
			break;
		default:
			pub[0] = 0xec; /* y = p - 1: x = 0, a point of order 2 */
			memset(pub + 1, 0xff, 31);
			break;
		}
		pub[31] = (uint8_t)((pub[31] & 0x7f) | (i % 2 ? 0x80 : 0));
		(void)both(v, pub, k.msg, k.mlen, k.sig);
		memset(sig, 0, 64);
		sig[0] = 1;
		(void)both(v, pub, k.msg, k.mlen, sig);
	}
	/* An S at or above the group order L is rejected (RFC 8032 5.1.7). */
	load(0, &k);
	memset(k.sig + 32, 0xff, 32);
	assert_int_equal(both(v, k.pub, k.msg, k.mlen, k.sig), KTA_ERR_VERIFY);
	kta_ed25519_verifier_free(v);
}

#define NKEYS 40

struct keyset {
	uint8_t pub[NKEYS][32], msg[NKEYS][48], sig[NKEYS][64];
};

static struct keyset *make_keys(uint64_t seed)
{
	struct keyset *ks = calloc(1, sizeof(*ks));
	uint64_t st = seed;
	size_t i, j;

	assert_non_null(ks);
	for (i = 0; i < NKEYS; i++) {
		uint8_t s[32];

		for (j = 0; j < 32; j++)
			s[j] = (uint8_t)tu_rand(&st);
		for (j = 0; j < 48; j++)
			ks->msg[i][j] = (uint8_t)tu_rand(&st);
		assert_int_equal(kta_ed25519_public(s, ks->pub[i], NULL), KTA_OK);
		assert_int_equal(kta_ed25519_sign(s, ks->msg[i], 48, ks->sig[i], NULL), KTA_OK);
	}
	return ks;
}

/* More distinct keys than any cache, forwards, backwards, twice each, and
 * alternating between two keys, with right and wrong pairings. */
static void many_and_alternating_keys(void **state)
{
	struct kta_ed25519_verifier *v = verifier();
	struct keyset *ks = make_keys(7);
	size_t i, r;

	(void)state;
	for (r = 0; r < 2; r++)
		for (i = 0; i < NKEYS; i++) {
			size_t k = r == 0 ? i : NKEYS - 1 - i;

			assert_int_equal(both(v, ks->pub[k], ks->msg[k], 48, ks->sig[k]), KTA_OK);
			assert_int_equal(both(v, ks->pub[k], ks->msg[k], 48, ks->sig[k]), KTA_OK);
			assert_int_equal(
			    both(v, ks->pub[k], ks->msg[(k + 1) % NKEYS], 48, ks->sig[k]),
			    KTA_ERR_VERIFY);
		}
	for (i = 0; i < 40; i++) {
		size_t a = i % 2, b = 1 - a;

		assert_int_equal(both(v, ks->pub[a], ks->msg[a], 48, ks->sig[a]), KTA_OK);
		assert_int_equal(both(v, ks->pub[b], ks->msg[a], 48, ks->sig[a]), KTA_ERR_VERIFY);
		assert_int_equal(both(v, ks->pub[a], ks->msg[b], 48, ks->sig[b]), KTA_ERR_VERIFY);
	}
	free(ks);
	kta_ed25519_verifier_free(v);
}

/* 2,000 random (key, message, signature) combinations, about half genuine,
 * the rest a wrong key, message or signature or a corrupted byte. */
static void random_combinations(void **state)
{
	struct kta_ed25519_verifier *v = verifier();
	struct keyset *ks = make_keys(11);
	uint64_t st = 0x9e3779b97f4a7c15u;
	size_t n, ok = 0;

	(void)state;
	for (n = 0; n < 2000; n++) {
		size_t k = (size_t)(tu_rand(&st) % NKEYS), km = k, ksig = k, kpub = k;
		unsigned how = (unsigned)(tu_rand(&st) % 8);
		uint8_t pub[32], msg[48], sig[64];
		size_t len = 48;

		if (how == 1)
			kpub = (size_t)(tu_rand(&st) % NKEYS);
		else if (how == 2)
			km = (size_t)(tu_rand(&st) % NKEYS);
		else if (how == 3)
			ksig = (size_t)(tu_rand(&st) % NKEYS);
		memcpy(pub, ks->pub[kpub], 32);
		memcpy(msg, ks->msg[km], 48);
		memcpy(sig, ks->sig[ksig], 64);
		if (how == 4)
			sig[tu_rand(&st) % 64] ^= (uint8_t)(1 + tu_rand(&st) % 255);
		else if (how == 5)
			pub[tu_rand(&st) % 32] ^= (uint8_t)(1 + tu_rand(&st) % 255);
		else if (how == 6)
			len = (size_t)(tu_rand(&st) % 48);
		if (both(v, pub, msg, len, sig) == KTA_OK) {
			/* Only a genuine triple verifies. */
			assert_true(kpub == k && km == k && ksig == k && len == 48 && how != 4 &&
				    how != 5);
			ok++;
		} else {
			assert_false(how == 0 || how == 7);
		}
	}
	assert_true(ok >= 300 && ok <= 800); /* ~26% genuine */
	free(ks);
	kta_ed25519_verifier_free(v);
}

/* One verifier per thread, all at once (for the sanitizers). */
struct thr {
	const struct keyset *ks;
	size_t off, good, bad;
};

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	struct kta_ed25519_verifier *v = NULL;
	size_t i;

	if (kta_ed25519_verifier_new(&v, NULL) != KTA_OK)
		return NULL;
	for (i = 0; i < 100; i++) {
		size_t k = (t->off + i) % NKEYS;
		const uint8_t *m = t->ks->msg[i % 3 == 0 ? (k + 1) % NKEYS : k];

		if (kta_ed25519_verifier_verify(v, t->ks->pub[k], m, 48, t->ks->sig[k]) ==
		    (i % 3 == 0 ? KTA_ERR_VERIFY : KTA_OK))
			t->good++;
		else
			t->bad++;
	}
	kta_ed25519_verifier_free(v);
	return NULL;
}

static void threads(void **state)
{
	struct keyset *ks = make_keys(13);
	struct thr t[4];
	pthread_t th[4];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		t[i] = (struct thr){ks, i * 7, 0, 0};
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &t[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].good, 100);
		assert_int_equal(t[i].bad, 0);
	}
	free(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(verifier_is_direct),  cmocka_unit_test(rfc8032_vectors),
	    cmocka_unit_test(wrong_key),           cmocka_unit_test(flipped_bits),
	    cmocka_unit_test(invalid_keys),        cmocka_unit_test(many_and_alternating_keys),
	    cmocka_unit_test(random_combinations), cmocka_unit_test(threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
