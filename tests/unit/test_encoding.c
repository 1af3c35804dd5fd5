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
	    cmocka_unit_test(b64_rejects),        cmocka_unit_test(hex_cases),
	    cmocka_unit_test(u64_cases),          cmocka_unit_test(hash_cases),
	    cmocka_unit_test(utf8_cases),         cmocka_unit_test(utf8_next_cases),
	    cmocka_unit_test(ct_equal_and_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
