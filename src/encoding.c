/* Strict encodings: base64, hex, decimal, UTF-8. See ktaudit/encoding.h. */
#include "ktaudit/encoding.h"

#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 6-bit value of each byte in the standard alphabet, 0xff for every other byte.
 * A read-only table: decoding CT entries is base64-bound (every leaf_input
 * and extra_data), and a lookup beats a chain of range tests. */
/* clang-format off */
static const uint8_t b64_table[256] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 62, 0xff, 0xff, 0xff, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};
/* clang-format on */

static int b64_value(unsigned char c)
{
	return b64_table[c] == 0xff ? -1 : b64_table[c];
}

enum kta_status kta_b64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap,
			       size_t *out_len)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t pad = 0, n, i, o = 0;

	*out_len = 0;
	if (in_len % 4 != 0)
		return KTA_ERR_MALFORMED;
	if (in_len == 0)
		return KTA_OK;
	if (in[in_len - 1] == '=')
		pad++;
	if (in[in_len - 2] == '=')
		pad++;
	if (pad == 1 && in[in_len - 2] == '=')
		return KTA_ERR_MALFORMED;
	n = in_len / 4 * 3 - pad;
	if (n > out_cap)
		return KTA_ERR_LIMIT;
	/* Every group but the last: no padding allowed, 3 bytes each. */
	for (i = 0; i + 4 < in_len; i += 4) {
		uint32_t a = b64_table[u[i]], b = b64_table[u[i + 1]], c = b64_table[u[i + 2]],
			 d = b64_table[u[i + 3]];
		uint32_t w;

		if (((a | b | c | d) & 0x80u) != 0) /* 0xff: not in the alphabet */
			return KTA_ERR_MALFORMED;
		w = (a << 18) | (b << 12) | (c << 6) | d;
		out[o++] = (uint8_t)(w >> 16);
		out[o++] = (uint8_t)(w >> 8);
		out[o++] = (uint8_t)w;
	}
	/* The last group: pad characters only where counted, pad bits zero. */
	{
		int v[4], k;
		uint32_t w;

		for (k = 0; k < 4; k++) {
			unsigned char c = u[i + (size_t)k];

			if (c == '=' && k >= 4 - (int)pad) {
				v[k] = 0;
				continue;
			}
			v[k] = b64_value(c);
			if (v[k] < 0)
				return KTA_ERR_MALFORMED;
		}
		w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
		    (uint32_t)v[3];
		if (pad == 2) {
			if ((w & 0xffffu) != 0) /* non-zero pad bits */
				return KTA_ERR_MALFORMED;
			out[o++] = (uint8_t)(w >> 16);
		} else if (pad == 1) {
			if ((w & 0xffu) != 0)
				return KTA_ERR_MALFORMED;
			out[o++] = (uint8_t)(w >> 16);
			out[o++] = (uint8_t)(w >> 8);
		} else {
			out[o++] = (uint8_t)(w >> 16);
			out[o++] = (uint8_t)(w >> 8);
			out[o++] = (uint8_t)w;
		}
	}
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
