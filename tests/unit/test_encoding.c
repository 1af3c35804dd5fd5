/* Unit tests for strict encodings (base64, hex, decimal, UTF-8). */
#include "testutil.h"

#include <string.h>

#include "ktaudit/encoding.h"

static void b64_roundtrip(void **state)
{
	uint8_t in[64], out[64];
	char enc[KTA_B64_ENCODED_LEN(64) + 1];
	size_t n, len, outlen;

	(void)state;
	for (n = 0; n < sizeof(in); n++)
		in[n] = (uint8_t)(n * 37 + 11);
	for (len = 0; len <= sizeof(in); len++) {
		size_t e = kta_b64_encode(in, len, enc);

		assert_int_equal(e, KTA_B64_ENCODED_LEN(len));
		assert_int_equal(kta_b64_decode(enc, e, out, sizeof(out), &outlen), KTA_OK);
		assert_int_equal(outlen, len);
		assert_memory_equal(in, out, len);
	}
}

static void b64_known(void **state)
{
	uint8_t out[16];
	size_t n;
	char enc[16];

	(void)state;
	assert_int_equal(kta_b64_decode("Zm9vYmFy", 8, out, sizeof(out), &n), KTA_OK);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "foobar", 6);
	kta_b64_encode((const uint8_t *)"fo", 2, enc);
	assert_string_equal(enc, "Zm8=");
	kta_b64_encode((const uint8_t *)"f", 1, enc);
	assert_string_equal(enc, "Zg==");
}

static void b64_rejects(void **state)
{
	static const char *bad[] = {
	    "Zm8",      /* length not a multiple of 4 */
	    "Zm9=",     /* non-zero pad bits (canonical is Zm8=) */
	    "Zh==",     /* non-zero pad bits (canonical is Zg==) */
	    "Z===",     /* three pad characters */
	    "Zg=a",     /* padding in the middle */
	    "=Zg=",     /* padding first */
	    "Zm9v\n",   /* whitespace */
	    "Zm9 ",     /* space */
	    "Zm-v",     /* URL-safe alphabet */
	    "Zm_v",     /* URL-safe alphabet */
	    "Zg==Zg==", /* padding before the end */
	};
	uint8_t out[16];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(kta_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
				     KTA_OK);
	/* too small an output buffer is a limit error, not an overflow */
	assert_int_equal(kta_b64_decode("Zm9vYmFy", 8, out, 5, &n), KTA_ERR_LIMIT);
}

/* ------------------------------------------------------------------------ */
/* A plain reference decoder, one character at a time, to hold the
 * table-driven kta_b64_decode to the same rules: the same status (with the
 * same precedence: length, padding shape, output room, then characters and
 * pad bits) and, on success, the same bytes. */
static enum kta_status ref_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
				      size_t *out_len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t pad = 0, n, k, o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	*out_len = 0;
	if (len % 4 != 0)
		return KTA_ERR_MALFORMED;
	if (len == 0)
		return KTA_OK;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	else if (in[len - 2] == '=')
		return KTA_ERR_MALFORMED; /* "x=" then a character */
	n = len / 4 * 3 - pad;
	if (n > cap)
		return KTA_ERR_LIMIT;
	for (k = 0; k < len - pad; k++) {
		const char *c = memchr(alphabet, in[k], 64);

		if (c == NULL)
			return KTA_ERR_MALFORMED;
		acc = (acc << 6) | (uint32_t)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* pad bits must be zero */
		return KTA_ERR_MALFORMED;
	assert_int_equal(o, n);
	*out_len = o;
	return KTA_OK;
}

/* Decodes (in, len) with both decoders and fails if they differ; returns
 * kta_b64_decode's status. */
static enum kta_status b64_diff_one(const char *in, size_t len, size_t cap)
{
	uint8_t a[128], b[128];
	size_t na = 7, nb = 7;
	enum kta_status ra, rb;

	assert_true(cap <= sizeof(a));
	ra = kta_b64_decode(in, len, a, cap, &na);
	rb = ref_b64_decode(in, len, b, cap, &nb);
	if (ra != rb || na != nb || (ra == KTA_OK && memcmp(a, b, na) != 0))
		fail_msg("b64 \"%.*s\" (%zu chars, room %zu): status %d / reference %d, %zu / %zu "
			 "bytes",
			 (int)len, in, len, cap, (int)ra, (int)rb, na, nb);
	return ra;
}

/* The alphabet, the pad character and bytes outside the alphabet (next to
 * its ranges, and the byte range's ends). */
static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
				"=-\x00\xff";
#define B64_NCHARS (sizeof(b64_chars) - 1)

/* Every 4-character string over b64_chars as the last (only) group and as
 * a group before a valid last one; then every byte value at every position
 * of two-group strings, padded or not. */
static void b64_diff_groups(void **state)
{
	static const char *const bases[] = {"QUJDQUJD", "QUJDQUI=", "QUJDQQ=="};
	char in[8];
	size_t a, b, c, d, i, k, ok = 0;

	(void)state;
	memcpy(in + 4, "QUJD", 4);
	for (a = 0; a < B64_NCHARS; a++)
		for (b = 0; b < B64_NCHARS; b++)
			for (c = 0; c < B64_NCHARS; c++)
				for (d = 0; d < B64_NCHARS; d++) {
					in[0] = b64_chars[a];
					in[1] = b64_chars[b];
					in[2] = b64_chars[c];
					in[3] = b64_chars[d];
					if (b64_diff_one(in, 4, 3) == KTA_OK)
						ok++;
					(void)b64_diff_one(in, 8, 6);
				}
	/* 64^4 unpadded, 64^2 * 16 with one '=' (2 pad bits zero), 64 * 4
	 * with two (4 pad bits zero) */
	assert_int_equal(ok, 64 * 64 * 64 * 64 + 64 * 64 * 16 + 64 * 4);
	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
		for (k = 0; k < 8; k++)
			for (c = 0; c < 256; c++) {
				memcpy(in, bases[i], 8);
				in[k] = (char)(unsigned char)c;
				(void)b64_diff_one(in, 8, 6);
				(void)b64_diff_one(in, 8, 5);
			}
}

/* Random strings of every length up to 100 over b64_chars, mostly valid
 * base64 with a few edits, and random room. */
static void b64_diff_random(void **state)
{
	uint64_t rng = 0x452821e638d01377u;
	uint8_t raw[75];
	char in[128];
	size_t it, ok = 0, bad = 0;

	(void)state;
	for (it = 0; it < 200000; it++) {
		size_t len, cap, k, edits = (size_t)(tu_rand(&rng) % 4), n;

		for (k = 0; k < sizeof(raw); k++)
			raw[k] = (uint8_t)tu_rand(&rng);
		if (tu_rand(&rng) % 4 == 0) {
			len = (size_t)(tu_rand(&rng) % 101);
			for (k = 0; k < len; k++)
				in[k] = b64_chars[tu_rand(&rng) % B64_NCHARS];
		} else {
			len = kta_b64_encode(raw, (size_t)(tu_rand(&rng) % sizeof(raw)), in);
		}
		for (k = 0; k < edits && len > 0; k++)
			in[tu_rand(&rng) % len] = b64_chars[tu_rand(&rng) % B64_NCHARS];
		n = len / 4 * 3;
		cap = n + 2 < sizeof(raw) ? (size_t)(tu_rand(&rng) % (n + 3)) : n;
		if (tu_rand(&rng) % 2)
			cap = sizeof(raw) + 2;
		if (b64_diff_one(in, len, cap) == KTA_OK)
			ok++;
		else
			bad++;
	}
	assert_true(ok > 50000 && bad > 50000);
}

static void hex_cases(void **state)
{
	uint8_t out[4];
	char enc[9];

	(void)state;
	assert_int_equal(kta_hex_decode("00ff10Ab", 8, out, 4), KTA_OK);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(out[3], 0xab);
	kta_hex_encode(out, 4, enc);
	assert_string_equal(enc, "00ff10ab");
	assert_int_equal(kta_hex_decode("00ff10A", 7, out, 4), KTA_ERR_MALFORMED);
	assert_int_equal(kta_hex_decode("00ff10Ag", 8, out, 4), KTA_ERR_MALFORMED);
}

static void u64_cases(void **state)
{
	uint64_t v;
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_parse_u64("0", 1, &v, &err), KTA_OK);
	assert_true(v == 0);
	assert_int_equal(kta_parse_u64("18446744073709551615", 20, &v, &err), KTA_OK);
	assert_true(v == UINT64_MAX);
	assert_int_equal(kta_parse_u64("18446744073709551616", 20, &v, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "64 bits"));
	assert_int_equal(kta_parse_u64("01", 2, &v, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "leading zero"));
	assert_int_equal(kta_parse_u64("", 0, &v, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_parse_u64("+1", 2, &v, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_parse_u64("-1", 2, &v, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_parse_u64(" 1", 2, &v, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_parse_u64("1 ", 2, &v, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_parse_u64("1e3", 3, &v, &err), KTA_ERR_MALFORMED);
}

static void hash_cases(void **state)
{
	uint8_t h[32];
	struct kta_error err;
	const char *hex = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
	const char *b64 = "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=";
	uint8_t h2[32];

	(void)state;
	assert_int_equal(kta_parse_hash(hex, strlen(hex), h, "root", &err), KTA_OK);
	assert_int_equal(kta_parse_hash(b64, strlen(b64), h2, "root", &err), KTA_OK);
	assert_memory_equal(h, h2, 32);
	assert_int_equal(kta_parse_hash(hex, 62, h, "root", &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "root"));
	assert_int_equal(
	    kta_parse_hash("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB==", 44, h, "root", &err),
	    KTA_ERR_MALFORMED);
}

static void utf8_cases(void **state)
{
	(void)state;
	assert_true(kta_utf8_valid((const uint8_t *)"abc \xe2\x80\x94 \xf0\x9f\x94\x91", 12));
	assert_false(kta_utf8_valid((const uint8_t *)"\xc0\xaf", 2));         /* overlong */
	assert_false(kta_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
	assert_false(kta_utf8_valid((const uint8_t *)"\xe2\x80", 2));         /* truncated */
	assert_false(kta_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(kta_utf8_valid((const uint8_t *)"\xff", 1));
}

static void utf8_next_cases(void **state)
{
	const uint8_t *s = (const uint8_t *)"a\xc3\xa9\xe2\x80\x94\xf0\x9f\x94\x91";
	uint32_t cp = 0;

	(void)state;
	assert_int_equal(kta_utf8_next(s, 10, 0, &cp), 1);
	assert_int_equal(cp, 'a');
	assert_int_equal(kta_utf8_next(s, 10, 1, &cp), 2);
	assert_int_equal(cp, 0xe9);
	assert_int_equal(kta_utf8_next(s, 10, 3, &cp), 3);
	assert_int_equal(cp, 0x2014);
	assert_int_equal(kta_utf8_next(s, 10, 6, &cp), 4);
	assert_int_equal(cp, 0x1f511);
	assert_int_equal(kta_utf8_next(s, 9, 6, &cp), 0);  /* truncated */
	assert_int_equal(kta_utf8_next(s, 10, 7, &cp), 0); /* continuation byte first */
	assert_int_equal(kta_utf8_next((const uint8_t *)"\xe0\x80\xaf", 3, 0, &cp),
			 0); /* overlong */
	assert_int_equal(kta_utf8_next((const uint8_t *)"\xed\xbf\xbf", 3, 0, &cp),
			 0); /* surrogate */
}

/* LEB128 varints: the boundaries round-trip in their shortest form; every
 * other spelling, a truncation or more than 64 bits is refused, with *off
 * and *out untouched. */
static void varint_cases(void **state)
{
	static const uint64_t good[] = {
	    0, 1, 0x7f, 0x80, 0x3fff, 0x4000, (uint64_t)1 << 56, (uint64_t)INT64_MAX, UINT64_MAX};
	static const struct {
		const char *hex;
		const char *why;
	} bad[] = {
	    {"", "empty"},
	    {"80", "truncated"},
	    {"ffff", "truncated"},
	    {"8000", "0 in two bytes"},
	    {"ff00", "0x7f in two bytes"},
	    {"808000", "0 in three bytes"},
	    {"ffffffffffffffffff02", "2^64"},
	    {"ffffffffffffffffff7f", "over 64 bits"},
	    {"ffffffffffffffffff8101", "eleven bytes"},
	};
	uint8_t b[KTA_VARINT_MAX + 2];
	uint64_t v, out;
	size_t i, n, off, len;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = good[i];
		n = kta_varint_put(b, v);
		assert_true(n >= 1 && n <= KTA_VARINT_MAX);
		assert_int_equal(n, v < 0x80 ? 1 : v < 0x4000 ? 2 : n);
		off = 0;
		assert_int_equal(kta_varint_get(b, n, &off, &out), 0);
		assert_int_equal(off, n);
		assert_true(out == v);
		/* one byte short is a truncation; a byte after it is not read */
		off = 0;
		assert_int_equal(kta_varint_get(b, n - 1, &off, &out), -1);
		assert_int_equal(off, 0);
		b[n] = 0xff;
		off = 0;
		assert_int_equal(kta_varint_get(b, n + 1, &off, &out), 0);
		assert_int_equal(off, n);
	}
	assert_int_equal(kta_varint_put(b, UINT64_MAX), KTA_VARINT_MAX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = strlen(bad[i].hex) / 2;
		assert_int_equal(kta_hex_decode(bad[i].hex, 2 * len, b, len), KTA_OK);
		off = 0;
		out = 77;
		if (kta_varint_get(b, len, &off, &out) != -1)
			fail_msg("varint %s (%s) accepted", bad[i].hex, bad[i].why);
		assert_int_equal(off, 0);
		assert_true(out == 77);
	}
	/* reading from an offset */
	assert_int_equal(kta_hex_decode("05ac02", 6, b, 3), KTA_OK);
	off = 1;
	assert_int_equal(kta_varint_get(b, 3, &off, &out), 0);
	assert_int_equal(off, 3);
	assert_true(out == 300);
}

static void ct_equal_and_quote(void **state)
{
	char q[64];

	(void)state;
	assert_true(kta_ct_equal((const uint8_t *)"abcd", (const uint8_t *)"abcd", 4));
	assert_false(kta_ct_equal((const uint8_t *)"abcd", (const uint8_t *)"abce", 4));
	assert_string_equal(kta_quote((const uint8_t *)"a\nb\"", 4, 10, q), "a\\x0ab\\x22");
	assert_string_equal(kta_quote((const uint8_t *)"abcdef", 6, 3, q), "abc...");
	/* a private key given by mistake is never echoed, in full or in part */
	{
		static const char k[] =
		    "PRIVATE+KEY+x+01234567+AQ4CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
		char big[4 * 64 + 4];

		kta_quote((const uint8_t *)k, sizeof(k) - 1, 64, big);
		assert_null(strstr(big, "AQ4C"));
		assert_null(strstr(big, "01234567"));
		kta_quote((const uint8_t *)"key PRIVATE+KEY+x+0", 19, 64, big);
		assert_non_null(strstr(big, "key "));
		assert_null(strstr(big, "x+0"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(b64_roundtrip),      cmocka_unit_test(b64_known),
	    cmocka_unit_test(b64_rejects),        cmocka_unit_test(b64_diff_groups),
	    cmocka_unit_test(b64_diff_random),    cmocka_unit_test(hex_cases),
	    cmocka_unit_test(u64_cases),          cmocka_unit_test(hash_cases),
	    cmocka_unit_test(utf8_cases),         cmocka_unit_test(utf8_next_cases),
	    cmocka_unit_test(ct_equal_and_quote), cmocka_unit_test(varint_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
