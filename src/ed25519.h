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
 * A reusable verifier for many signatures (keydir auth lines): it keeps the
 * last KTA_ED25519_CACHE public keys as EVP_PKEYs, each with its own
 * initialized EVP_MD_CTX, so a signer seen again costs no key set-up and no
 * provider look-up. Results are those of kta_ed25519_verify. Allocated by
 * _new, freed by _free (NULL does nothing). Not thread-safe: one verifier
 * per thread (OpenSSL itself is thread-safe; the cache is not shared).
 */
#define KTA_ED25519_CACHE 16

struct kta_ed25519_verifier;

enum kta_status kta_ed25519_verifier_new(struct kta_ed25519_verifier **out,
					 struct kta_error *err) KTA_WUR;
void kta_ed25519_verifier_free(struct kta_ed25519_verifier *v);
/* KTA_OK, KTA_ERR_VERIFY (bad signature or invalid key), KTA_ERR_NOMEM or
 * KTA_ERR_INTERNAL (OpenSSL failed; nothing is cached then). */
enum kta_status kta_ed25519_verifier_verify(struct kta_ed25519_verifier *v,
					    const uint8_t pub[static 32], const uint8_t *msg,
					    size_t len, const uint8_t sig[static 64]) KTA_WUR;

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
