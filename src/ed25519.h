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
