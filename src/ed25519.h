/*
 * Internal: Ed25519 with raw 32-byte keys over OpenSSL EVP (I/O-free).
 * Used by signed notes, cosignatures and keydir auth lines, so there is
 * exactly one place that calls EVP_DigestSign/Verify for Ed25519.
 */
#ifndef KTA_ED25519_H
#define KTA_ED25519_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

#define KTA_ED25519_PUB_LEN 32
#define KTA_ED25519_SEED_LEN 32
#define KTA_ED25519_SIG_LEN 64

/*
 * Verifies sig over (msg, len) with the raw public key pub. Returns KTA_OK,
 * KTA_ERR_VERIFY (bad signature or invalid key), or KTA_ERR_INTERNAL.
 */
enum kta_status kta_ed25519_verify(const uint8_t pub[static 32], const uint8_t *msg, size_t len,
				   const uint8_t sig[static 64]) KTA_WUR;

/*
 * A reusable verifier for many signatures under keys that change every call
 * (keydir auth lines). It calls the Ed25519 key import and digest-verify
 * functions of the provider that EVP would use (found once, in _new, with
 * OSSL_PROVIDER_query_operation, and checked there on RFC 8032 TEST 1), so a
 * new key costs no EVP_PKEY, EVP_PKEY_CTX or fetch: under 0.5 us against 8-12
 * us through EVP_DigestVerifyInit in OpenSSL 3.0. Should that provider lack
 * those functions or fail the check, every call goes through
 * kta_ed25519_verify instead. Either way the results are those of
 * kta_ed25519_verify (the same OpenSSL function verifies).
 * Allocated by _new, freed by _free (NULL does nothing). Not thread-safe:
 * one verifier per thread (it holds no per-key state; OpenSSL is thread-safe).
 */
struct kta_ed25519_verifier;

enum kta_status kta_ed25519_verifier_new(struct kta_ed25519_verifier **out,
					 struct kta_error *err) KTA_WUR;
void kta_ed25519_verifier_free(struct kta_ed25519_verifier *v);
/* KTA_OK, KTA_ERR_VERIFY (bad signature or invalid key) or KTA_ERR_INTERNAL
 * (OpenSSL could not make a key or context object). */
enum kta_status kta_ed25519_verifier_verify(struct kta_ed25519_verifier *v,
					    const uint8_t pub[static 32], const uint8_t *msg,
					    size_t len, const uint8_t sig[static 64]) KTA_WUR;
/* 1 if v calls the provider directly, 0 if it uses kta_ed25519_verify (for
 * tests and benchmarks). */
int kta_ed25519_verifier_is_direct(const struct kta_ed25519_verifier *v);

/* Signs (msg, len) with the 32-byte seed; writes a 64-byte signature. */
enum kta_status kta_ed25519_sign(const uint8_t seed[static 32], const uint8_t *msg, size_t len,
				 uint8_t sig[static 64], struct kta_error *err) KTA_WUR;

/* Derives the public key of a seed. */
enum kta_status kta_ed25519_public(const uint8_t seed[static 32], uint8_t pub[static 32],
				   struct kta_error *err) KTA_WUR;

/* Fills seed with 32 random bytes from the OS CSPRNG (via OpenSSL RAND_priv_bytes). */
enum kta_status kta_ed25519_generate(uint8_t seed[static 32], uint8_t pub[static 32],
				     struct kta_error *err) KTA_WUR;

#endif
