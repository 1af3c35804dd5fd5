/* Unit tests for signed-note verifier and signing keys (key.h). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ktaudit/encoding.h"
#include "ktaudit/key.h"

/* From testdata/note/go-x-mod/note_test_vectors.json (golang/mod note_test.go). */
#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define PETER_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define ENOCH_VKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
/* From testdata/checkpoints/index.json and testdata/note/known_vkeys.json. */
#define REKOR_VKEY                                                                                 \
	"rekor.sigstore.dev+c0d23d6a+"                                                             \
	"AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBc"                         \
	"K5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc="
#define PIXEL_VKEY                                                                                 \
	"pixel6_transparency_log+91c16e30+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+"                 \
	"4x0Jk1yTwvLFI9A4NDdG"                                                                     \
	"ZcX0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8="
#define ROME_VKEY                                                                                  \
	"rome.ct.filippo.io/"                                                                      \
	"2024h1+78f4abae+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAFzPC3fap+uINc1RQ4eR"                \
	"bYMUt84+bKkA8GDLN8KwVdzAgYhYSv4kS8XSheGLAHCWhIJTJbuC3sL88bNMTtrsBM="
#define REMORA_VKEY "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
#define SUMDB_VKEY "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

static json_t *load_json(const char *rel)
{
	size_t len;
	uint8_t *buf = tu_read_testdata(rel, &len);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)buf, len, 0, &jerr);

	free(buf);
	if (j == NULL)
		fail_msg("%s: %s", rel, jerr.text);
	return j;
}

static struct kta_vkey *vkey_ok(const char *s)
{
	struct kta_vkey *k = NULL;
	struct kta_error err;

	kta_error_clear(&err);
	if (kta_vkey_parse(s, strlen(s), &k, &err) != KTA_OK)
		fail_msg("vkey %s: %s", s, err.msg);
	return k;
}

/* Parses s expecting status want and (if non-NULL) a message containing msg. */
static void vkey_bad(const char *s, size_t len, enum kta_status want, const char *msg)
{
	struct kta_vkey *k = (struct kta_vkey *)1;
	struct kta_error err;

	kta_error_clear(&err);
	assert_int_equal(kta_vkey_parse(s, len, &k, &err), want);
	assert_null(k);
	if (msg != NULL && strstr(err.msg, msg) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg);
}

static void vkey_go_vectors(void **state)
{
	struct kta_vkey *k;
	char *s;

	(void)state;
	k = vkey_ok(PETER_VKEY);
	assert_string_equal(k->name, "PeterNeumann");
	assert_int_equal(k->key_id, 0xc74f20a3u);
	assert_int_equal(k->type, KTA_KEY_ED25519);
	assert_int_equal(k->key_len, 32);
	s = kta_vkey_format(k);
	assert_string_equal(s, PETER_VKEY);
	free(s);
	kta_vkey_free(k);

	k = vkey_ok(ENOCH_VKEY);
	assert_int_equal(k->key_id, 0xaf0cfe78u);
	kta_vkey_free(k);
	k = vkey_ok(SUMDB_VKEY);
	assert_int_equal(k->key_id, 0x033de0aeu);
	kta_vkey_free(k);
	/* A witness (cosignature/v1) key: type 0x04. */
	k = vkey_ok(REMORA_VKEY);
	assert_int_equal(k->type, KTA_KEY_COSIGNATURE_V1);
	assert_int_equal(k->key_id, 0xda77ade7u);
	s = kta_vkey_format(k);
	assert_string_equal(s, REMORA_VKEY);
	free(s);
	kta_vkey_free(k);
}

static void vkey_go_bad_vectors(void **state)
{
	json_t *j = load_json("note/go-x-mod/note_test_vectors.json");
	json_t *bad = json_object_get(j, "bad_vkeys"), *v;
	size_t i;

	(void)state;
	assert_true(json_array_size(bad) >= 2);
	json_array_foreach(bad, i, v)
	{
		const char *s = json_string_value(json_object_get(v, "vkey"));

		assert_non_null(s);
		vkey_bad(s, strlen(s), KTA_ERR_MALFORMED, NULL);
	}
	/* The second one is the unknown algorithm byte 0x65. */
	vkey_bad("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 66,
		 KTA_ERR_MALFORMED, "unsupported signature type 0x65");
	/* The first has non-zero pad bits, caught before its length. */
	vkey_bad("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", 74,
		 KTA_ERR_MALFORMED, "base64");
	json_decref(j);
	/* A 31- and a 33-byte Ed25519 key with correctly computed key IDs. */
	{
		uint8_t raw[34];
		char b64[64], s[128];
		uint32_t id = 0;
		size_t n;

		memset(raw, 0x5a, sizeof(raw));
		for (n = 31; n <= 33; n += 2) {
			raw[0] = KTA_KEY_ED25519;
			assert_int_equal(kta_key_id("x", 1, KTA_KEY_ED25519, raw + 1, n, &id, NULL),
					 KTA_OK);
			kta_b64_encode(raw, n + 1, b64);
			snprintf(s, sizeof(s), "x+%08x+%s", (unsigned)id, b64);
			vkey_bad(s, strlen(s), KTA_ERR_MALFORMED, "want 32");
			raw[0] = KTA_KEY_COSIGNATURE_V1;
			assert_int_equal(
			    kta_key_id("x", 1, KTA_KEY_COSIGNATURE_V1, raw + 1, n, &id, NULL),
			    KTA_OK);
			kta_b64_encode(raw, n + 1, b64);
			snprintf(s, sizeof(s), "x+%08x+%s", (unsigned)id, b64);
			vkey_bad(s, strlen(s), KTA_ERR_MALFORMED, "want 32");
		}
	}
}

static void vkey_ecdsa(void **state)
{
	struct kta_vkey *k;
	char *s;

	(void)state;
	k = vkey_ok(REKOR_VKEY);
	assert_int_equal(k->type, KTA_KEY_ECDSA);
	assert_int_equal(k->key_id, 0xc0d23d6au);
	assert_int_equal(k->key_len, 91); /* P-256 SPKI DER */
	s = kta_vkey_format(k);
	assert_string_equal(s, REKOR_VKEY);
	free(s);
	kta_vkey_free(k);
	k = vkey_ok(PIXEL_VKEY);
	assert_int_equal(k->key_id, 0x91c16e30u);
	kta_vkey_free(k);
	/* The ECDSA key ID hashes the SPKI only: another name keeps the ID. */
	k = vkey_ok(
	    "other-name+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdG"
	    "vXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=");
	kta_vkey_free(k);
	/* A 0x02 key that is an Ed25519 key, not an SPKI. */
	vkey_bad("x+00000000+Apqc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 55, KTA_ERR_MALFORMED,
		 "not a valid SPKI");
}

static void vkey_unsupported_types(void **state)
{
	json_t *j = load_json("checkpoints/index.json");
	json_t *cps = json_object_get(j, "checkpoints"), *v;
	size_t i;
	int seen_mldsa = 0;

	(void)state;
	/* RFC 6962 (0x05) static-ct keys are supported (ct.h); see vkey_rfc6962. */
	/* The ML-DSA-44 (0x06) witness key, a ~1.8 kB vkey. */
	json_array_foreach(cps, i, v)
	{
		json_t *keys = json_object_get(v, "vkeys"), *kv;
		size_t n;

		json_array_foreach(keys, n, kv)
		{
			const char *s = json_string_value(kv);

			if (strncmp(s, "witness.navigli", 15) == 0) {
				vkey_bad(s, strlen(s), KTA_ERR_MALFORMED,
					 "unsupported signature type 0x06");
				seen_mldsa = 1;
			}
		}
	}
	assert_true(seen_mldsa);
	json_decref(j);
}

static void vkey_rfc6962(void **state)
{
	struct kta_vkey *k = NULL;
	struct kta_error err;
	char *f, *bad;
	const char *nokey;

	(void)state;
	/* static-ct-api 0x05: ID = SHA-256(name || 0x0A || 0x05 || SHA-256(SPKI))[:4]. */
	assert_int_equal(kta_vkey_parse(ROME_VKEY, strlen(ROME_VKEY), &k, &err), KTA_OK);
	assert_int_equal(k->type, KTA_KEY_RFC6962);
	assert_int_equal(k->key_id, 0x78f4abaeu);
	assert_int_equal(k->key_len, 91);
	f = kta_vkey_format(k);
	assert_string_equal(f, ROME_VKEY);
	free(f);
	kta_vkey_free(k);
	/* A wrong key ID is rejected. */
	bad = strdup(ROME_VKEY);
	memcpy(strstr(bad, "78f4abae"), "78f4abaf", 8);
	vkey_bad(bad, strlen(bad), KTA_ERR_MALFORMED, "does not match");
	free(bad);
	/* Not an SPKI: 0x05 followed by 32 bytes. */
	nokey = "rome.ct.filippo.io/2024h1+78f4abae+BQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	vkey_bad(nokey, strlen(nokey), KTA_ERR_MALFORMED, "SubjectPublicKeyInfo");
}

static void vkey_all_index_keys(void **state)
{
	json_t *j = load_json("checkpoints/index.json");
	json_t *cps = json_object_get(j, "checkpoints"), *v;
	size_t i, ok = 0;

	(void)state;
	/* Every listed vkey (0x05 included) parses and re-formats identically. */
	json_array_foreach(cps, i, v)
	{
		json_t *one = json_object_get(v, "vkey");
		const char *s = one != NULL ? json_string_value(one) : NULL;
		struct kta_vkey *k = NULL;
		struct kta_error err;

		if (s == NULL)
			continue;
		if (kta_vkey_parse(s, strlen(s), &k, &err) == KTA_OK) {
			char *f = kta_vkey_format(k);

			assert_string_equal(f, s);
			free(f);
			kta_vkey_free(k);
			ok++;
		} else {
			fail_msg("%s: %s", s, err.msg);
		}
	}
	assert_int_equal(ok, 9);
	json_decref(j);
}

static void vkey_syntax(void **state)
{
	char buf[KTA_KEY_STRING_MAX + 8];
	struct kta_vkey *k;

	(void)state;
	/* One trailing newline is fine (a key file); more is not. */
	k = vkey_ok(PETER_VKEY "\n");
	kta_vkey_free(k);
	vkey_bad(PETER_VKEY "\n\n", strlen(PETER_VKEY) + 2, KTA_ERR_MALFORMED, NULL);
	vkey_bad(PETER_VKEY "\r\n", strlen(PETER_VKEY) + 2, KTA_ERR_MALFORMED, NULL);
	vkey_bad(PETER_VKEY " ", strlen(PETER_VKEY) + 1, KTA_ERR_MALFORMED, NULL);
	vkey_bad("", 0, KTA_ERR_MALFORMED, NULL);
	vkey_bad("PeterNeumann", 12, KTA_ERR_MALFORMED, "missing '+'");
	vkey_bad("PeterNeumann+c74f20a3", 21, KTA_ERR_MALFORMED, "missing '+'");
	/* Key ID: exactly 8 lowercase hex digits, and it must match. */
	vkey_bad("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 66,
		 KTA_ERR_MALFORMED, "8 lowercase hex");
	vkey_bad("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 65,
		 KTA_ERR_MALFORMED, "8 lowercase hex");
	vkey_bad("PeterNeumann+0c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 67,
		 KTA_ERR_MALFORMED, "8 lowercase hex");
	vkey_bad("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 66,
		 KTA_ERR_MALFORMED, "does not match");
	/* Same key under another name: the ID no longer matches. */
	vkey_bad("PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 66,
		 KTA_ERR_MALFORMED, "does not match");
	/* base64: truncated, padded wrongly, URL alphabet, embedded space. */
	vkey_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", 65,
		 KTA_ERR_MALFORMED, "base64");
	vkey_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW", 66,
		 KTA_ERR_MALFORMED, "base64");
	vkey_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW====", 70,
		 KTA_ERR_MALFORMED, "base64");
	vkey_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4 zWy10TW", 66,
		 KTA_ERR_MALFORMED, "base64");
	vkey_bad("PeterNeumann+c74f20a3+AQ==", 26, KTA_ERR_MALFORMED, "base64");
	/* Names. */
	vkey_bad("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 54, KTA_ERR_MALFORMED,
		 "invalid key name");
	vkey_bad("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 67,
		 KTA_ERR_MALFORMED, "invalid key name");
	/* Too long. */
	memset(buf, 'a', sizeof(buf));
	vkey_bad(buf, KTA_KEY_STRING_MAX + 1, KTA_ERR_LIMIT, NULL);
}

static void vkey_mutations(void **state)
{
	static const char repl[] = "A/+0a=\n ";
	char buf[128];
	size_t len = strlen(PETER_VKEY), i, r;

	(void)state;
	/* Every single-character change and every truncation must be rejected. */
	for (i = 0; i < len; i++) {
		for (r = 0; r < sizeof(repl) - 1; r++) {
			struct kta_vkey *k = NULL;

			memcpy(buf, PETER_VKEY, len);
			if (buf[i] == repl[r])
				continue;
			buf[i] = repl[r];
			if (kta_vkey_parse(buf, len, &k, NULL) == KTA_OK)
				fail_msg("mutant at %zu ('%c') parsed", i, repl[r]);
		}
		{
			struct kta_vkey *k = NULL;

			assert_int_not_equal(kta_vkey_parse(PETER_VKEY, i, &k, NULL), KTA_OK);
			assert_null(k);
		}
	}
}

static void key_names(void **state)
{
	static const char *good[] = {
	    "PeterNeumann",
	    "example.com/foo",
	    "oid/1.3.6.1.4.1",
	    "\xe5\x90\x8d\xe5\x89\x8d",
	    "a\xe2\x80\x94\x62", /* em dash is not a space */
	    "sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69",
	};
	static const char *bad[] = {
	    "",
	    "a b",
	    "a+b",
	    "a\tb",
	    "a\nb",
	    "a\rb",
	    "\x01",
	    "a\xc2\xa0\x62",     /* U+00A0 no-break space */
	    "a\xc2\x85\x62",     /* U+0085 next line */
	    "a\xe1\x9a\x80\x62", /* U+1680 */
	    "a\xe2\x80\x80\x62", /* U+2000 */
	    "a\xe2\x80\x8a\x62", /* U+200A */
	    "a\xe2\x80\xa8\x62", /* U+2028 */
	    "a\xe2\x80\xaf\x62", /* U+202F */
	    "a\xe2\x81\x9f\x62", /* U+205F */
	    "a\xe3\x80\x80\x62", /* U+3000 ideographic space */
	    "\xff",
	    "a\xc0\xaf",    /* invalid UTF-8, overlong */
	    "\xed\xa0\x80", /* surrogate */
	};
	char longname[KTA_KEY_NAME_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(kta_key_name_valid((const uint8_t *)good[i], strlen(good[i])));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kta_key_name_valid((const uint8_t *)bad[i], strlen(bad[i])))
			fail_msg("bad name %zu accepted", i);
	assert_false(kta_key_name_valid(NULL, 0));
	memset(longname, 'n', sizeof(longname));
	assert_true(kta_key_name_valid((const uint8_t *)longname, KTA_KEY_NAME_MAX));
	assert_false(kta_key_name_valid((const uint8_t *)longname, KTA_KEY_NAME_MAX + 1));
}

/* kta_vkey_equal: every field counts (name, ID, type, key length and bytes). */
static void vkey_equal(void **state)
{
	struct kta_vkey *a = NULL, *b = NULL;
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_vkey_parse(ROME_VKEY, strlen(ROME_VKEY), &a, &err), KTA_OK);
	assert_int_equal(kta_vkey_parse(ROME_VKEY, strlen(ROME_VKEY), &b, &err), KTA_OK);
	assert_true(kta_vkey_equal(a, b));
	assert_true(kta_vkey_equal(b, a));
	b->key[b->key_len - 1] ^= 1;
	assert_false(kta_vkey_equal(a, b));
	b->key[b->key_len - 1] ^= 1;
	b->key[0] ^= 0x80;
	assert_false(kta_vkey_equal(a, b));
	b->key[0] ^= 0x80;
	b->key_id ^= 1;
	assert_false(kta_vkey_equal(a, b));
	b->key_id ^= 1;
	b->type = b->type == KTA_KEY_ED25519 ? KTA_KEY_COSIGNATURE_V1 : KTA_KEY_ED25519;
	assert_false(kta_vkey_equal(a, b));
	b->type = a->type;
	b->name[strlen(b->name) - 1] ^= 1;
	assert_false(kta_vkey_equal(a, b));
	b->name[strlen(b->name) - 1] ^= 1;
	b->key_len--;
	assert_false(kta_vkey_equal(a, b));
	b->key_len++;
	assert_true(kta_vkey_equal(a, b));
	kta_vkey_free(a);
	kta_vkey_free(b);
}

static void key_id_fn(void **state)
{
	struct kta_vkey *k = vkey_ok(PETER_VKEY);
	uint32_t id = 0;
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_key_id("PeterNeumann", 12, KTA_KEY_ED25519, k->key, 32, &id, &err),
			 KTA_OK);
	assert_int_equal(id, 0xc74f20a3u);
	assert_int_equal(
	    kta_key_id("PeterNeumann", 12, KTA_KEY_COSIGNATURE_V1, k->key, 32, &id, &err), KTA_OK);
	assert_int_not_equal(id, 0xc74f20a3u);
	assert_int_equal(
	    kta_key_id("PeterNeumann", 12, (enum kta_key_type)6, k->key, 32, &id, &err),
	    KTA_ERR_USAGE);
	kta_vkey_free(k);
}

static void skey_go_vector(void **state)
{
	struct kta_skey *sk = NULL;
	struct kta_vkey *vk = NULL, *want = vkey_ok(PETER_VKEY);
	struct kta_error err;
	char *s;

	(void)state;
	assert_int_equal(kta_skey_parse(PETER_SKEY, strlen(PETER_SKEY), &sk, &err), KTA_OK);
	assert_string_equal(sk->name, "PeterNeumann");
	assert_int_equal(sk->key_id, 0xc74f20a3u);
	assert_int_equal(sk->type, KTA_KEY_ED25519);
	assert_memory_equal(sk->pub, want->key, 32);
	s = kta_skey_format(sk);
	assert_string_equal(s, PETER_SKEY);
	free(s);
	assert_int_equal(kta_skey_vkey(sk, &vk, &err), KTA_OK);
	s = kta_vkey_format(vk);
	assert_string_equal(s, PETER_VKEY);
	free(s);
	kta_vkey_free(vk);
	kta_skey_free(sk);
	kta_vkey_free(want);
	/* One trailing newline. */
	assert_int_equal(kta_skey_parse(PETER_SKEY "\n", strlen(PETER_SKEY) + 1, &sk, &err),
			 KTA_OK);
	kta_skey_free(sk);
}

static void skey_bad(const char *s, const char *msg)
{
	struct kta_skey *sk = (struct kta_skey *)1;
	struct kta_error err;

	kta_error_clear(&err);
	assert_int_not_equal(kta_skey_parse(s, strlen(s), &sk, &err), KTA_OK);
	assert_null(sk);
	if (msg != NULL && strstr(err.msg, msg) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg);
	/* The secret never appears in a message. */
	assert_null(strstr(err.msg, "AYEKFALV"));
}

static void skey_rejects(void **state)
{
	(void)state;
	skey_bad(PETER_SKEY "\n\n", NULL);
	skey_bad("PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
		 "PRIVATE+KEY+");
	skey_bad("private+key+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
		 "PRIVATE+KEY+");
	skey_bad("PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
		 "does not match");
	skey_bad("PRIVATE+KEY+PeterNeumanX+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
		 "does not match");
	/* Type byte 0x02 (ECDSA) has no signing keys here. */
	skey_bad("PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
		 "unsupported signature type 0x02");
	/* Seed too short / too long / not base64. */
	skey_bad("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXH",
		 "32-byte seed");
	skey_bad(
	    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFzAAAA",
	    "32-byte seed");
	skey_bad("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF!",
		 "32-byte seed");
	skey_bad("PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
		 "invalid key name");
	skey_bad("", NULL);
}

static void skey_witness_vectors(void **state)
{
	json_t *j = load_json("checkpoints/witness/monkeys.json");
	json_t *keys = json_object_get(j, "keys"), *v;
	const char *name;
	struct kta_error err;
	size_t n = 0;

	(void)state;
	json_object_foreach(keys, name, v)
	{
		const char *ss = json_string_value(json_object_get(v, "skey"));
		const char *vs = json_string_value(json_object_get(v, "vkey"));
		struct kta_skey *sk = NULL, *cs = NULL;
		struct kta_vkey *vk = NULL;
		char *f;

		assert_int_equal(kta_skey_parse(ss, strlen(ss), &sk, &err), KTA_OK);
		assert_int_equal(kta_skey_vkey(sk, &vk, &err), KTA_OK);
		f = kta_vkey_format(vk);
		assert_string_equal(f, vs);
		free(f);
		kta_vkey_free(vk);
		/* The same seed as a cosignature/v1 key has another ID (type byte 0x04). */
		assert_int_equal(
		    kta_skey_from_seed(name, KTA_KEY_COSIGNATURE_V1, sk->seed, &cs, &err), KTA_OK);
		assert_memory_equal(cs->pub, sk->pub, 32);
		assert_int_not_equal(cs->key_id, sk->key_id);
		kta_skey_free(cs);
		kta_skey_free(sk);
		n++;
	}
	assert_int_equal(n, 3);
	json_decref(j);
}

static void skey_generate_roundtrip(void **state)
{
	struct kta_skey *a = NULL, *b = NULL, *c = NULL;
	struct kta_vkey *va = NULL, *vb = NULL;
	struct kta_error err;
	char *s, *vs;

	(void)state;
	assert_int_equal(kta_skey_generate("example.com/log", KTA_KEY_ED25519, &a, &err), KTA_OK);
	s = kta_skey_format(a);
	assert_non_null(s);
	assert_int_equal(kta_skey_parse(s, strlen(s), &b, &err), KTA_OK);
	assert_memory_equal(a->seed, b->seed, 32);
	assert_memory_equal(a->pub, b->pub, 32);
	assert_int_equal(a->key_id, b->key_id);
	free(s);
	assert_int_equal(kta_skey_vkey(b, &va, &err), KTA_OK);
	vs = kta_vkey_format(va);
	assert_int_equal(kta_vkey_parse(vs, strlen(vs), &vb, &err), KTA_OK);
	assert_memory_equal(vb->key, a->pub, 32);
	assert_int_equal(vb->key_id, a->key_id);
	free(vs);
	/* Two generated keys differ. */
	assert_int_equal(kta_skey_generate("example.com/log", KTA_KEY_COSIGNATURE_V1, &c, &err),
			 KTA_OK);
	assert_int_equal(c->type, KTA_KEY_COSIGNATURE_V1);
	assert_memory_not_equal(c->seed, a->seed, 32);
	kta_skey_free(a);
	kta_skey_free(b);
	kta_skey_free(c);
	kta_vkey_free(va);
	kta_vkey_free(vb);

	assert_int_equal(kta_skey_generate("bad name", KTA_KEY_ED25519, &a, &err), KTA_ERR_USAGE);
	assert_null(a);
	assert_int_equal(kta_skey_generate("", KTA_KEY_ED25519, &a, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_skey_generate(NULL, KTA_KEY_ED25519, &a, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_skey_generate("x", KTA_KEY_ECDSA, &a, &err), KTA_ERR_USAGE);
	assert_null(a);
	kta_skey_free(NULL);
	kta_vkey_free(NULL);
	assert_null(kta_vkey_format(NULL));
	assert_null(kta_skey_format(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(vkey_go_vectors),
	    cmocka_unit_test(vkey_go_bad_vectors),
	    cmocka_unit_test(vkey_ecdsa),
	    cmocka_unit_test(vkey_unsupported_types),
	    cmocka_unit_test(vkey_all_index_keys),
	    cmocka_unit_test(vkey_rfc6962),
	    cmocka_unit_test(vkey_syntax),
	    cmocka_unit_test(vkey_mutations),
	    cmocka_unit_test(key_names),
	    cmocka_unit_test(key_id_fn),
	    cmocka_unit_test(vkey_equal),
	    cmocka_unit_test(skey_go_vector),
	    cmocka_unit_test(skey_rejects),
	    cmocka_unit_test(skey_witness_vectors),
	    cmocka_unit_test(skey_generate_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
