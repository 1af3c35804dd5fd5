/*
 * ktaudit: signed-note verifier keys ("vkeys") and signing keys ("skeys")
 * (pure, no I/O; key generation reads the OS CSPRNG through OpenSSL).
 *
 * Formats (C2SP signed-note "Verifier keys"; golang.org/x/mod/sumdb/note):
 *
 *   vkey:  <name> "+" <key ID, 8 lowercase hex> "+" base64(type || key)
 *   skey:  "PRIVATE+KEY+" <name> "+" <key ID, 8 lowercase hex> "+" base64(type || seed)
 *
 * A single trailing "\n" is accepted after either string (keys read from
 * files); nothing else may follow. base64 must be canonical.
 *
 *   type  | name                  | key material                | key ID
 *   ------+-----------------------+-----------------------------+------------------------------------
 *   0x01  | Ed25519 note sig      | 32-byte Ed25519 public key  |
 * SHA-256(name||0x0A||0x01||key)[:4] 0x02  | ECDSA (witness style) | SPKI DER, P-256/384/521     |
 * SHA-256(SPKI DER)[:4] (no name) 0x04  | cosignature/v1        | 32-byte Ed25519 public key  |
 * SHA-256(name||0x0A||0x04||key)[:4]
 *
 *   0x05  | RFC6962NoteSignature  | SPKI DER, ECDSA P-256 / RSA | SHA-256(name||0x0A||0x05||
 *         | (c2sp.org/static-ct-api "Checkpoints")              |   SHA-256(SPKI DER))[:4]
 *
 * The key ID in the string is recomputed and must match. Any other type
 * byte (0x06 ML-DSA-44, ...) is rejected with KTA_ERR_MALFORMED
 * "unsupported signature type 0xNN".
 * Signing keys exist for 0x01 and 0x04 only; the seed is 32 bytes.
 *
 * Key names (signed-note "Format"): 1..KTA_KEY_NAME_MAX bytes of valid UTF-8
 * with no '+' (U+002B), no ASCII control character (below U+0020), and no Unicode space
 * (U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000).
 *
 * Ownership: every struct returned through an `out` pointer is allocated by
 * the library and freed by the caller with the matching *_free function
 * (freeing NULL does nothing). kta_skey_free wipes the seed. Strings returned
 * by *_format are malloc'd and NUL-terminated; the caller frees them with
 * free() (wipe a formatted skey with OPENSSL_cleanse first).
 */
#ifndef KTAUDIT_KEY_H
#define KTAUDIT_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

/* Longest key name accepted, in bytes. */
#define KTA_KEY_NAME_MAX 256
/* Longest vkey/skey string accepted, in bytes (so that an ML-DSA-44 vkey
 * is still read far enough to report its type as unsupported). */
#define KTA_KEY_STRING_MAX 4096
/* Longest ECDSA SPKI DER accepted (P-521 is 158 bytes; an RFC 6962 0x05
 * RSA key of 4096 bits is 550). */
#define KTA_KEY_MATERIAL_MAX 2048

enum kta_key_type {
	KTA_KEY_ED25519 = 0x01,        /* Ed25519 over the note text */
	KTA_KEY_ECDSA = 0x02,          /* ECDSA, ASN.1 DER sig over SHA-256(note text) */
	KTA_KEY_COSIGNATURE_V1 = 0x04, /* C2SP tlog-cosignature, timestamped Ed25519 */
	KTA_KEY_RFC6962 = 0x05,        /* static-ct-api RFC6962NoteSignature (ct.h) */
};

/* A verifier (public) key. */
struct kta_vkey {
	char *name;             /* NUL-terminated key name */
	uint32_t key_id;        /* the 4-byte key ID, big-endian value */
	enum kta_key_type type; /* signature type */
	uint8_t *key;           /* raw public key (32 for Ed25519/0x04) or SPKI DER (0x02) */
	size_t key_len;         /* bytes in key */
};

/* A signing key (Ed25519 or cosignature/v1 only). */
struct kta_skey {
	char *name;             /* NUL-terminated key name */
	uint32_t key_id;        /* key ID of the derived verifier key */
	enum kta_key_type type; /* KTA_KEY_ED25519 or KTA_KEY_COSIGNATURE_V1 */
	uint8_t seed[32];       /* secret Ed25519 seed (RFC 8032) */
	uint8_t pub[32];        /* public key derived from seed */
};

/*
 * Returns 1 if (s, len) is a valid key name (rules above), else 0.
 */
KTA_API int kta_key_name_valid(const uint8_t *s, size_t len);

/*
 * Computes the key ID of a key of `type` with material (key, key_len) and
 * name (name, name_len) per the table above. KTA_ERR_USAGE for a type not in
 * the table; KTA_ERR_INTERNAL if SHA-256 fails.
 */
KTA_API enum kta_status kta_key_id(const char *name, size_t name_len, enum kta_key_type type,
				   const uint8_t *key, size_t key_len, uint32_t *id,
				   struct kta_error *err) KTA_WUR;

/*
 * Parses a vkey string (s, len); see the table above. On success *out is a
 * new key the caller frees with kta_vkey_free. Errors: KTA_ERR_MALFORMED
 * (bad syntax, name, hex, base64, key length, unsupported type, key ID
 * mismatch, invalid ECDSA SPKI), KTA_ERR_LIMIT (longer than
 * KTA_KEY_STRING_MAX), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_vkey_parse(const char *s, size_t len, struct kta_vkey **out,
				       struct kta_error *err) KTA_WUR;

/* Frees k and everything it owns; k may be NULL. */
KTA_API void kta_vkey_free(struct kta_vkey *k);

/* 1 when a and b are the same key: name, key ID, type and key bytes; else 0. */
KTA_API int kta_vkey_equal(const struct kta_vkey *a, const struct kta_vkey *b);

/* Formats k as a vkey string (no newline). malloc'd; NULL if out of memory. */
KTA_API char *kta_vkey_format(const struct kta_vkey *k);

/*
 * Makes a new signing key called `name` of `type` (KTA_KEY_ED25519 or
 * KTA_KEY_COSIGNATURE_V1) from a fresh random seed. Errors: KTA_ERR_USAGE
 * (invalid name or type), KTA_ERR_INTERNAL (RNG), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_skey_generate(const char *name, enum kta_key_type type,
					  struct kta_skey **out, struct kta_error *err) KTA_WUR;

/*
 * Makes a signing key from a known 32-byte seed (tests, deterministic
 * fixtures). Same errors as kta_skey_generate.
 */
KTA_API enum kta_status kta_skey_from_seed(const char *name, enum kta_key_type type,
					   const uint8_t seed[static 32], struct kta_skey **out,
					   struct kta_error *err) KTA_WUR;

/*
 * Parses "PRIVATE+KEY+name+hexid+base64(type||seed)" (one trailing "\n"
 * allowed). The public key is derived from the seed and the key ID is
 * recomputed and must match. Errors: KTA_ERR_MALFORMED, KTA_ERR_LIMIT,
 * KTA_ERR_NOMEM, KTA_ERR_INTERNAL. Error messages never quote the seed.
 */
KTA_API enum kta_status kta_skey_parse(const char *s, size_t len, struct kta_skey **out,
				       struct kta_error *err) KTA_WUR;

/* Formats k as an skey string (no newline). malloc'd; NULL if out of memory. */
KTA_API char *kta_skey_format(const struct kta_skey *k);

/* The verifier key of k (same name, ID and type); caller frees with kta_vkey_free. */
KTA_API enum kta_status kta_skey_vkey(const struct kta_skey *k, struct kta_vkey **out,
				      struct kta_error *err) KTA_WUR;

/* Wipes the seed (OPENSSL_cleanse) and frees k; k may be NULL. */
KTA_API void kta_skey_free(struct kta_skey *k);

#endif
