/*
 * ktaudit: strict encodings shared by every parser (pure, no I/O).
 *
 * One spelling only: base64 is the standard alphabet with '=' padding, exact
 * length and zero pad bits; hex is lowercase or uppercase digits, even
 * length; decimals are ASCII digits with no sign, space or leading zero
 * (except "0" itself) and are overflow-checked. Inputs are (pointer, length)
 * and never need a terminating NUL. Outputs go to caller-provided buffers
 * unless a function says it allocates.
 */
#ifndef KTAUDIT_ENCODING_H
#define KTAUDIT_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

/* Length of the base64 encoding of n bytes, without the NUL. */
#define KTA_B64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Longest varint (below) of a uint64_t, in bytes. */
#define KTA_VARINT_MAX 10

/*
 * Varints: unsigned LEB128 (7 bits per byte, least significant first, high
 * bit set on every byte but the last), shortest form only, as the state
 * database's binary rows use them (state.h). kta_varint_put writes v at p
 * (room for KTA_VARINT_MAX bytes) and returns its length. kta_varint_get
 * reads one at (p, len) from *off, advancing *off: 0, or -1 (nothing
 * changed) when truncated, longer than its shortest form, or over 64 bits.
 */
KTA_API size_t kta_varint_put(uint8_t *p, uint64_t v);
KTA_API int kta_varint_get(const uint8_t *p, size_t len, size_t *off, uint64_t *out) KTA_WUR;

/*
 * Decodes canonical base64 from (in, in_len) into out (capacity out_cap).
 * Sets *out_len. Fails with KTA_ERR_MALFORMED on any non-canonical input
 * (bad character, wrong padding, non-zero pad bits, whitespace) and with
 * KTA_ERR_LIMIT when the result would not fit out_cap. "" decodes to 0 bytes.
 */
KTA_API enum kta_status kta_b64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap,
				       size_t *out_len) KTA_WUR;

/*
 * Encodes (in, in_len) as padded base64 into out, which must hold
 * KTA_B64_ENCODED_LEN(in_len) + 1 bytes; writes a terminating NUL.
 * Returns the length written (without the NUL).
 */
KTA_API size_t kta_b64_encode(const uint8_t *in, size_t in_len, char *out);

/* Decodes hex of exactly 2*out_len digits. KTA_ERR_MALFORMED otherwise. */
KTA_API enum kta_status kta_hex_decode(const char *in, size_t in_len, uint8_t *out,
				       size_t out_len) KTA_WUR;

/* Encodes in as lowercase hex into out (2*in_len + 1 bytes, NUL-terminated). */
KTA_API void kta_hex_encode(const uint8_t *in, size_t in_len, char *out);

/*
 * Parses a canonical decimal uint64_t: [1-9][0-9]* or "0", at most
 * UINT64_MAX. KTA_ERR_MALFORMED on anything else, with a message in err.
 */
KTA_API enum kta_status kta_parse_u64(const char *in, size_t in_len, uint64_t *out,
				      struct kta_error *err) KTA_WUR;

/*
 * Parses a 32-byte hash given as standard base64 (44 characters) or hex
 * (64 characters), told apart by length. `what` names the value in errors.
 */
KTA_API enum kta_status kta_parse_hash(const char *in, size_t in_len, uint8_t out[static 32],
				       const char *what, struct kta_error *err) KTA_WUR;

/*
 * Decodes one UTF-8 sequence at s[i] (i < len) strictly: no overlongs, no
 * surrogates, nothing above U+10FFFF. Sets *cp and returns the sequence's
 * length, or returns 0 if it is invalid or truncated.
 */
KTA_API size_t kta_utf8_next(const uint8_t *s, size_t len, size_t i, uint32_t *cp);

/* Returns 1 if (s, len) is well-formed UTF-8 (no overlongs, no surrogates). */
KTA_API int kta_utf8_valid(const uint8_t *s, size_t len);

/* Constant-time comparison of n bytes: 1 if equal, 0 otherwise. */
KTA_API int kta_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);

/*
 * Formats at most `max` bytes of (s, len) for an error message: printable
 * ASCII is copied, other bytes are written as \xNN, and "..." is appended when
 * cut. A private key string ("PRIVATE+KEY...", key.h) and everything after
 * it is replaced by "<private key not shown>" (or "..." when out is too
 * small), so that a secret given by mistake never reaches an error message.
 * out must hold 4*max + 4 bytes; returns out.
 */
KTA_API char *kta_quote(const uint8_t *s, size_t len, size_t max, char *out);

#endif
