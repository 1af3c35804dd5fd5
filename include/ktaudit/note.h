/*
 * ktaudit: C2SP signed-note parsing, signing and verification (pure, no I/O).
 *
 * Format (c2sp.org/signed-note, "Format"):
 *
 *   <text line>\n            \
 *   ...                       } the signed text: >= 1 line, each ending "\n"
 *   <text line>\n            /
 *   \n                         blank line: the LAST "\n\n" in the note ends the text
 *   — <key name> <base64>\n    one or more signature lines: U+2014 (E2 80 94),
 *   ...                        space, key name, space, base64(key ID || sig)
 *
 *   signature bytes: | 0..3: key ID, uint32 big-endian | 4..: algorithm signature |
 *
 * Strictness: the whole note must be valid UTF-8 with no ASCII control
 * character other than "\n" (so no "\r" or tab); at most KTA_NOTE_MAX_SIZE
 * bytes and KTA_NOTE_MAX_SIGS signature lines; key names as in key.h;
 * canonical base64 decoding to at least 5 and at most KTA_NOTE_SIG_MAX bytes;
 * nothing after the last signature line's "\n". Parse errors name the
 * 1-based line number.
 *
 * Verification (kta_note_verify) uses only the signed text. For each
 * configured key it reports whether a valid signature by it is present:
 *   - a line whose (name, key ID) matches a key is verified; a bad signature
 *     is KTA_ERR_VERIFY naming the key and the line (the whole note fails);
 *   - lines whose name matches no key are ignored, whatever their type;
 *   - a line whose name matches a key but whose key ID differs is
 *     KTA_ERR_VERIFY ("key ID mismatch") when no line carries that key's
 *     (name, ID). The spec says to ignore such lines; ktaudit reports them
 *     (project decision) because a known signer signing with an unexpected
 *     key is what a key swap looks like. When a line with the key's own ID
 *     is present, the others are another key or algorithm of the same signer
 *     (e.g. a log's 0x05 and 0x01 signatures) and are ignored;
 *   - every line matching a key must verify; the key's result is its first
 *     valid line and, for 0x04, the newest timestamp.
 * Signature checks per type: 0x01 Ed25519 over the text; 0x02 ECDSA, ASN.1
 * DER over SHA-256(text); 0x04 cosignature/v1 (c2sp.org/tlog-cosignature):
 * 8-byte big-endian timestamp || Ed25519 signature over
 * "cosignature/v1\ntime <T>\n" || text, timestamp <= 2^63-1; 0x05
 * static-ct-api RFC6962NoteSignature: 8-byte timestamp || TLS
 * DigitallySigned over the RFC 6962 3.5 tree head (timestamp, size, root of
 * the text, which must be a checkpoint with no extension lines; ct.h).
 *
 * Ownership: kta_note_parse allocates *out (free with kta_note_free); it
 * copies everything, nothing borrows from buf. kta_note_sign and
 * kta_note_add_sig return a malloc'd buffer in *out (caller free()s).
 */
#ifndef KTAUDIT_NOTE_H
#define KTAUDIT_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"
#include "ktaudit/key.h"

/* Largest note accepted, in bytes. */
#define KTA_NOTE_MAX_SIZE (1024 * 1024)
/* Most signature lines accepted (the spec requires at least 16). */
#define KTA_NOTE_MAX_SIGS 100
/* Largest decoded signature (key ID included); ML-DSA-44 cosignatures are 2432. */
#define KTA_NOTE_SIG_MAX 8192

/* Cosignature timestamps MUST NOT exceed 2^63 - 1 (tlog-cosignature "Format"). */
#define KTA_COSIG_TIME_MAX ((uint64_t)INT64_MAX)

struct kta_note_sig {
	char *name;      /* NUL-terminated key name */
	uint32_t key_id; /* first 4 bytes of the decoded signature, big-endian */
	uint8_t *sig;    /* the algorithm signature: decoded bytes after the key ID */
	size_t sig_len;  /* >= 1 */
	size_t line;     /* 1-based line number of the signature line in the note */
};

struct kta_note {
	uint8_t *text;             /* signed text incl. its final "\n"; NUL follows, not counted */
	size_t text_len;           /* bytes in text */
	struct kta_note_sig *sigs; /* signature lines in note order */
	size_t nsigs;              /* 1..KTA_NOTE_MAX_SIGS */
};

/* Result of kta_note_verify for one configured key. */
struct kta_note_check {
	int valid;          /* 1 if a valid signature by the key is present */
	size_t line;        /* line of that signature (0 if none) */
	uint64_t timestamp; /* cosignature/v1 keys: newest valid timestamp; else 0 */
};

/*
 * Parses a signed note (buf, len). Errors: KTA_ERR_MALFORMED (with the line
 * number), KTA_ERR_LIMIT (too large, too many signatures, signature too
 * long), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_note_parse(const uint8_t *buf, size_t len, struct kta_note **out,
				       struct kta_error *err) KTA_WUR;

/* Frees n and everything it owns; n may be NULL. */
KTA_API void kta_note_free(struct kta_note *n);

/*
 * Checks n against keys[0..nkeys) (rules above) and fills res[0..nkeys).
 * Returns KTA_OK when every signature line matching a key verified (keys
 * with no signature just have res[i].valid == 0), KTA_ERR_VERIFY on a bad
 * signature or a key ID mismatch, KTA_ERR_INTERNAL on an OpenSSL failure.
 * res is written only on KTA_OK. nkeys may be 0.
 */
KTA_API enum kta_status kta_note_verify(const struct kta_note *n,
					const struct kta_vkey *const *keys, size_t nkeys,
					struct kta_note_check *res, struct kta_error *err) KTA_WUR;

/*
 * Signs a note text (text, text_len) with k (an Ed25519 0x01 key) and returns
 * the full note: text, blank line, one signature line. The text must be a
 * valid note text: non-empty, ending in "\n", valid UTF-8, no control
 * character but "\n" (the result then always parses back to text).
 * Errors: KTA_ERR_USAGE (not an 0x01 key), KTA_ERR_MALFORMED (bad text),
 * KTA_ERR_LIMIT, KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_note_sign(const uint8_t *text, size_t text_len,
				      const struct kta_skey *k, uint8_t **out, size_t *out_len,
				      struct kta_error *err) KTA_WUR;

/*
 * Appends a signature line by k to an existing signed note (note, len),
 * which is parsed first; existing signatures are kept byte for byte and are
 * not checked. A 0x01 key adds an Ed25519 signature; a 0x04 key adds a
 * cosignature/v1 with timestamp `time` (ignored for 0x01). Fails with
 * KTA_ERR_LIMIT if the note already has KTA_NOTE_MAX_SIGS signatures.
 */
KTA_API enum kta_status kta_note_add_sig(const uint8_t *note, size_t len, const struct kta_skey *k,
					 uint64_t time, uint8_t **out, size_t *out_len,
					 struct kta_error *err) KTA_WUR;

/*
 * Builds the cosignature/v1 signed message (c2sp.org/tlog-cosignature,
 * "Ed25519 signed message") for note text (text, text_len) at `time`:
 * "cosignature/v1\ntime <time>\n" || text. malloc'd in *out (caller
 * free()s). Errors: KTA_ERR_USAGE (time > 2^63-1), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_note_cosig_message(const uint8_t *text, size_t text_len, uint64_t time,
					       uint8_t **out, size_t *out_len,
					       struct kta_error *err) KTA_WUR;

#endif
