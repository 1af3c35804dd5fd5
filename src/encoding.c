/* Strict encodings: base64, hex, decimal, UTF-8. See ktaudit/encoding.h. */
#include "ktaudit/encoding.h"

#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 6-bit value of byte c in the standard alphabet, 0xff for every other byte. */
#define B64_VAL(c)                                                                                 \
	((c) >= 0x41 && (c) <= 0x5a   ? (c)-0x41                                                   \
	 : (c) >= 0x61 && (c) <= 0x7a ? (c)-0x61 + 26                                              \
	 : (c) >= 0x30 && (c) <= 0x39 ? (c)-0x30 + 52                                              \
	 : (c) == 0x2b                ? 62                                                         \
	 : (c) == 0x2f                ? 63                                                         \
				      : 0xff)
/* A byte outside the alphabet: bits no valid group sets (24..31). */
#define B64_BAD 0xff000000u
/* Table entry for byte c as character k (0..3) of a group: its 6 bits already
 * shifted into place, so a group is the OR of four lookups. */
#define B64_SHIFTED(c, k) (B64_VAL(c) == 0xff ? B64_BAD : (uint32_t)B64_VAL(c) << (18 - 6 * (k)))
#define B64_ROW4(k, c)                                                                             \
	B64_SHIFTED((c), k), B64_SHIFTED((c) + 1, k), B64_SHIFTED((c) + 2, k),                     \
	    B64_SHIFTED((c) + 3, k)
#define B64_ROW16(k, c)                                                                            \
	B64_ROW4(k, c), B64_ROW4(k, (c) + 4), B64_ROW4(k, (c) + 8), B64_ROW4(k, (c) + 12)
#define B64_ROW64(k, c)                                                                            \
	B64_ROW16(k, c), B64_ROW16(k, (c) + 16), B64_ROW16(k, (c) + 32), B64_ROW16(k, (c) + 48)
#define B64_TABLE(k)                                                                               \
	{                                                                                          \
		B64_ROW64(k, 0), B64_ROW64(k, 64), B64_ROW64(k, 128), B64_ROW64(k, 192)            \
	}

/* Read-only lookup tables, one per position in a 4-character group: decoding
 * is on the hot path of every replay (two public keys or a key and a
 * signature per line) and of CT entries (leaf_input, extra_data). */
static const uint32_t b64_dec[4][256] = {B64_TABLE(0), B64_TABLE(1), B64_TABLE(2), B64_TABLE(3)};

enum kta_status kta_b64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap,
			       size_t *out_len)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t pad = 0, n, i, o = 0;
	uint32_t w, bad = 0;

	*out_len = 0;
	if (in_len % 4 != 0)
		return KTA_ERR_MALFORMED;
	if (in_len == 0)
		return KTA_OK;
	if (u[in_len - 1] == '=')
		pad++;
	if (u[in_len - 2] == '=')
		pad++;
	if (pad == 1 && u[in_len - 2] == '=')
		return KTA_ERR_MALFORMED;
	n = in_len / 4 * 3 - pad;
	if (n > out_cap)
		return KTA_ERR_LIMIT;
	/* Every group but the last: no padding allowed ('=' is not in the
	 * alphabet), 3 bytes each. A bad character is noted and fails below. */
	for (i = 0; i + 4 < in_len; i += 4) {
		w = b64_dec[0][u[i]] | b64_dec[1][u[i + 1]] | b64_dec[2][u[i + 2]] |
		    b64_dec[3][u[i + 3]];
		bad |= w;
		out[o] = (uint8_t)(w >> 16);
		out[o + 1] = (uint8_t)(w >> 8);
		out[o + 2] = (uint8_t)w;
		o += 3;
	}
	/* The last group: a pad character only where counted (it decodes as 0
	 * there and is a bad character anywhere else), pad bits zero. */
	w = b64_dec[0][u[i]] | b64_dec[1][u[i + 1]];
	if (pad < 2)
		w |= b64_dec[2][u[i + 2]];
	if (pad < 1)
		w |= b64_dec[3][u[i + 3]];
	if (((bad | w) & B64_BAD) != 0)
		return KTA_ERR_MALFORMED;
	if ((pad == 2 && (w & 0xffffu) != 0) || (pad == 1 && (w & 0xffu) != 0))
		return KTA_ERR_MALFORMED; /* non-zero pad bits */
	out[o++] = (uint8_t)(w >> 16);
	if (pad < 2)
		out[o++] = (uint8_t)(w >> 8);
	if (pad < 1)
		out[o++] = (uint8_t)w;
	*out_len = o;
	return KTA_OK;
}

size_t kta_b64_encode(const uint8_t *in, size_t in_len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= in_len; i += 3) {
		uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];

		out[o++] = b64_alphabet[(w >> 18) & 63];
		out[o++] = b64_alphabet[(w >> 12) & 63];
		out[o++] = b64_alphabet[(w >> 6) & 63];
		out[o++] = b64_alphabet[w & 63];
	}
	if (in_len - i == 1) {
		uint32_t w = (uint32_t)in[i] << 16;

		out[o++] = b64_alphabet[(w >> 18) & 63];
		out[o++] = b64_alphabet[(w >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (in_len - i == 2) {
		uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);

		out[o++] = b64_alphabet[(w >> 18) & 63];
		out[o++] = b64_alphabet[(w >> 12) & 63];
		out[o++] = b64_alphabet[(w >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum kta_status kta_hex_decode(const char *in, size_t in_len, uint8_t *out, size_t out_len)
{
	size_t i;

	if (out_len > SIZE_MAX / 2 || in_len != 2 * out_len)
		return KTA_ERR_MALFORMED;
	for (i = 0; i < out_len; i++) {
		int hi = hex_value((unsigned char)in[2 * i]);
		int lo = hex_value((unsigned char)in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return KTA_ERR_MALFORMED;
		out[i] = (uint8_t)((hi << 4) | lo);
	}
	return KTA_OK;
}

void kta_hex_encode(const uint8_t *in, size_t in_len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < in_len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * in_len] = '\0';
}

enum kta_status kta_parse_u64(const char *in, size_t in_len, uint64_t *out, struct kta_error *err)
{
	char q[4 * 24 + 4];
	uint64_t v = 0;
	size_t i;

	*out = 0;
	if (in_len == 0)
		return kta_error_set(err, KTA_ERR_MALFORMED, "empty number");
	if (in_len > 1 && in[0] == '0')
		return kta_error_set(err, KTA_ERR_MALFORMED, "number \"%s\" has a leading zero",
				     kta_quote((const uint8_t *)in, in_len, 24, q));
	for (i = 0; i < in_len; i++) {
		unsigned char c = (unsigned char)in[i];
		uint64_t d;

		if (c < '0' || c > '9')
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "number \"%s\" has a non-digit at offset %zu",
					     kta_quote((const uint8_t *)in, in_len, 24, q), i);
		d = (uint64_t)(c - '0');
		if (v > (UINT64_MAX - d) / 10)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "number \"%s\" does not fit in 64 bits",
					     kta_quote((const uint8_t *)in, in_len, 24, q));
		v = v * 10 + d;
	}
	*out = v;
	return KTA_OK;
}

enum kta_status kta_parse_hash(const char *in, size_t in_len, uint8_t out[static 32],
			       const char *what, struct kta_error *err)
{
	size_t n;
	char q[4 * 70 + 4];

	if (in_len == 64) {
		if (kta_hex_decode(in, in_len, out, 32) == KTA_OK)
			return KTA_OK;
	} else if (in_len == 44) {
		if (kta_b64_decode(in, in_len, out, 32, &n) == KTA_OK && n == 32)
			return KTA_OK;
	}
	return kta_error_set(err, KTA_ERR_MALFORMED,
			     "%s \"%s\" is not a 32-byte hash in base64 (44 characters) or "
			     "hex (64 digits)",
			     what, kta_quote((const uint8_t *)in, in_len, 70, q));
}

size_t kta_utf8_next(const uint8_t *s, size_t len, size_t i, uint32_t *cp)
{
	uint8_t c = s[i];
	size_t n, k;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 1;
		v = c & 0x1fu;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2;
		v = c & 0x0fu;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3;
		v = c & 0x07u;
	} else {
		return 0;
	}
	if (len - i <= n)
		return 0;
	for (k = 1; k <= n; k++) {
		if ((s[i + k] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i + k] & 0x3fu);
	}
	/* no overlongs, nothing above U+10FFFF, no surrogates */
	if ((n == 1 && v < 0x80) || (n == 2 && v < 0x800) || (n == 3 && v < 0x10000) ||
	    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n + 1;
}

int kta_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		if (s[i] < 0x80) { /* ASCII fast path */
			i++;
			continue;
		}
		if ((n = kta_utf8_next(s, len, i, &cp)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

size_t kta_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

int kta_varint_get(const uint8_t *p, size_t len, size_t *off, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;
	size_t o = *off;

	for (;;) {
		uint8_t c;

		if (o >= len || shift > 63)
			return -1;
		c = p[o++];
		if (shift == 63 && c > 1)
			return -1;
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			if (c == 0 && shift > 0)
				return -1; /* one spelling only */
			break;
		}
		shift += 7;
	}
	*off = o;
	*out = v;
	return 0;
}

int kta_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d = (uint8_t)(d | (a[i] ^ b[i]));
	return d == 0;
}

/* Where a private key string starts in (s, len) (key.h: "PRIVATE+KEY+..."), or len. */
static size_t private_key_at(const uint8_t *s, size_t len)
{
	static const char tag[] = "PRIVATE+KEY";
	const size_t n = sizeof(tag) - 1;
	size_t i;

	for (i = 0; i + n <= len; i++)
		if (s[i] == 'P' && memcmp(s + i, tag, n) == 0)
			return i;
	return len;
}

char *kta_quote(const uint8_t *s, size_t len, size_t max, char *out)
{
	static const char digits[] = "0123456789abcdef";
	static const char hidden[] = "<private key not shown>";
	size_t i, o = 0, priv = private_key_at(s, len);

	for (i = 0; i < len && i < max && i < priv; i++) {
		uint8_t c = s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 15];
		}
	}
	if (priv < len && priv < max) {
		/*
		 * A secret pasted where a public value belongs (a key file given
		 * as a config or pin file, a private key as --log-key) must not
		 * end up in logs: o <= 4 * i, so 4 * (max - i) + 4 >= 8 bytes are
		 * left, enough for "..." and the NUL.
		 */
		if (4 * max + 4 - o > sizeof(hidden)) {
			memcpy(out + o, hidden, sizeof(hidden) - 1);
			o += sizeof(hidden) - 1;
		} else {
			out[o++] = '.';
			out[o++] = '.';
			out[o++] = '.';
		}
	} else if (len > max) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}
