/*
 * Tests for ct.h: real CT tree heads (ECDSA and RSA), the static-ct 0x05
 * note signature, a real MerkleTreeLeaf and its certificate, TileLeaf, and
 * rejection of tampered, truncated and malformed copies.
 */
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/ct.h"
#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"
#include "ktaudit/note.h"
#include "testutil.h"

#define ROME_VKEY                                                                                  \
	"rome.ct.filippo.io/2024h1+78f4abae+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAFzPC3fap+"       \
	"uINc1RQ4eRbYMUt84+bKkA8GDLN8KwVdzAgYhYSv4kS8XSheGLAHCWhIJTJbuC3sL88bNMTtrsBM="
#define ARGON_VKEY                                                                                 \
	"ct.googleapis.com/logs/us1/argon2024+7deb49d0+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABB25b"  \
	"KnLaZTFXOa2pgO70rjcVEMXKJkMBgFQHZ1kwFlGK9zIAx0FtC2oCfeZQe0E++VXuiYE9hFSzhRlOy92K8A="
#define ARGON_B64                                                                                  \
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHblsqctplMVc5ramA7vSuNxUQxcomQwGAVAdnWTAWUYr3MgDHQW0" \
	"LagJ95lB7QT75Ve6JgT2EVLOFGU7L3YrwA=="

static struct kta_ct_key *key_file(const char *rel)
{
	size_t len;
	uint8_t *b = tu_read_testdata(rel, &len);
	struct kta_ct_key *k = NULL;
	struct kta_error err;

	if (kta_ct_key_parse(b, len, 0, &k, &err) != KTA_OK)
		fail_msg("%s: %s", rel, err.msg);
	free(b);
	return k;
}

static void sth_file(const char *rel, struct kta_ct_sth *sth)
{
	size_t len;
	uint8_t *b = tu_read_testdata(rel, &len);
	struct kta_error err;

	if (kta_ct_sth_parse(b, len, sth, &err) != KTA_OK)
		fail_msg("%s: %s", rel, err.msg);
	free(b);
}

/* Verifies, then checks that every single-field tamper fails with VERIFY. */
static void verify_and_tamper(const struct kta_ct_key *k, const struct kta_ct_sth *good)
{
	struct kta_ct_sth s;
	struct kta_error err;
	size_t i;

	assert_int_equal(kta_ct_sth_verify(k, good, &err), KTA_OK);
	s = *good;
	s.tree_size++;
	assert_int_equal(kta_ct_sth_verify(k, &s, &err), KTA_ERR_VERIFY);
	s = *good;
	s.timestamp ^= 1;
	assert_int_equal(kta_ct_sth_verify(k, &s, &err), KTA_ERR_VERIFY);
	for (i = 0; i < 32; i += 7) {
		s = *good;
		s.root[i] ^= 0x80;
		assert_int_equal(kta_ct_sth_verify(k, &s, &err), KTA_ERR_VERIFY);
	}
	/* Every byte of the signature proper. */
	for (i = 4; i < good->sig_len; i++) {
		s = *good;
		s.sig[i] ^= 0x01;
		assert_int_not_equal(kta_ct_sth_verify(k, &s, &err), KTA_OK);
	}
	/* Header: hash algorithm, signature algorithm, length. */
	s = *good;
	s.sig[0] = 2;
	assert_int_equal(kta_ct_sth_verify(k, &s, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "sha256"));
	s = *good;
	s.sig[1] = s.sig[1] == 3 ? 1 : 3;
	assert_int_equal(kta_ct_sth_verify(k, &s, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "does not match"));
	for (i = 0; i < good->sig_len; i++) {
		s = *good;
		s.sig_len = i;
		assert_int_equal(kta_ct_sth_verify(k, &s, &err), KTA_ERR_MALFORMED);
	}
	s = *good;
	s.sig[s.sig_len++] = 0;
	assert_int_equal(kta_ct_sth_verify(k, &s, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "trailing"));
}

static void sth_real_ecdsa(void **state)
{
	struct kta_ct_key *pilot = key_file("ct/google-ct-pilot-server-key-public.pem");
	struct kta_ct_key *argon = key_file("ct/argon2024-public.pem");
	struct kta_ct_sth s1, s2;
	struct kta_error err;

	(void)state;
	sth_file("ct/pilot_get-sth_3721782.json", &s1);
	assert_int_equal(s1.tree_size, 3721782);
	assert_int_equal(s1.timestamp, 1396609800587ULL);
	verify_and_tamper(pilot, &s1);
	sth_file("ct/argon2024_get-sth_1267285836.json", &s2);
	verify_and_tamper(argon, &s2);
	/* Wrong key. */
	assert_int_equal(kta_ct_sth_verify(argon, &s1, &err), KTA_ERR_VERIFY);
	assert_int_equal(kta_ct_sth_verify(pilot, &s2, &err), KTA_ERR_VERIFY);
	assert_string_equal(kta_ct_key_alg(pilot), "ecdsa-p256");
	kta_ct_key_free(pilot);
	kta_ct_key_free(argon);
}

static void sth_index_test_keys(void **state)
{
	size_t len, i;
	uint8_t *b = tu_read_testdata("ct/index.json", &len);
	json_t *j = json_loadb((const char *)b, len, 0, NULL), *arr, *v;
	int n = 0;

	(void)state;
	assert_non_null(j);
	arr = json_object_get(j, "sths");
	json_array_foreach(arr, i, v)
	{
		const char *rh = json_string_value(json_object_get(v, "sha256_root_hash_hex"));
		const char *sh = json_string_value(json_object_get(v, "tree_head_signature_hex"));
		const char *pem = json_string_value(json_object_get(v, "key_pem_text"));
		const char *pf = json_string_value(json_object_get(v, "key_pem"));
		struct kta_ct_key *k = NULL;
		struct kta_ct_sth s;
		struct kta_error err;

		if (rh == NULL)
			continue;
		memset(&s, 0, sizeof(s));
		s.tree_size = (uint64_t)json_integer_value(json_object_get(v, "tree_size"));
		s.timestamp = (uint64_t)json_integer_value(json_object_get(v, "timestamp"));
		assert_int_equal(kta_hex_decode(rh, 64, s.root, 32), KTA_OK);
		s.sig_len = strlen(sh) / 2;
		assert_int_equal(kta_hex_decode(sh, strlen(sh), s.sig, s.sig_len), KTA_OK);
		if (pem != NULL) {
			assert_int_equal(
			    kta_ct_key_parse((const uint8_t *)pem, strlen(pem), 0, &k, &err),
			    KTA_OK);
		} else {
			char rel[128];

			snprintf(rel, sizeof(rel), "ct/%s", pf + 8); /* "../keys/" */
			k = key_file(rel);
		}
		verify_and_tamper(k, &s);
		if (s.tree_size == 1130)
			assert_string_equal(kta_ct_key_alg(k), "rsa");
		kta_ct_key_free(k);
		n++;
	}
	assert_int_equal(n, 2);
	json_decref(j);
	free(b);
}

static void sth_parse_strict(void **state)
{
	static const char *const bad[] = {
	    "{}",
	    "[]",
	    "{\"tree_size\":1,\"timestamp\":2,\"sha256_root_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"tree_head_signature\":\"BAMAAA==\","
	    "\"extra\":1}",
	    "{\"tree_size\":-1,\"timestamp\":2,\"sha256_root_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"tree_head_signature\":\"BAMAAA=="
	    "\"}",
	    "{\"tree_size\":\"1\",\"timestamp\":2,\"sha256_root_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"tree_head_signature\":\"BAMAAA=="
	    "\"}",
	    "{\"tree_size\":1,\"timestamp\":2,\"sha256_root_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\",\"tree_head_signature\":\"BAMAAA=="
	    "\"}",
	    "{\"tree_size\":1,\"timestamp\":2,\"sha256_root_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\",\"tree_head_signature\":\"BAMAAA=="
	    "\"}",
	    "{\"tree_size\":1,\"tree_size\":1,\"timestamp\":2,\"sha256_root_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"tree_head_signature\":\"BAMAAA=="
	    "\"}",
	    "{\"tree_size\":1,\"timestamp\":2,\"sha256_root_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"tree_head_signature\":\"BAMAAA\"}",
	    "{\"tree_size\":1,\"timestamp\":2.5,\"sha256_root_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"tree_head_signature\":\"BAMAAA=="
	    "\"}",
	};
	struct kta_ct_sth s;
	struct kta_error err;
	size_t i, len;
	uint8_t *b;
	json_t *j, *junk;
	const char *body;
	struct kta_ct_key *k = key_file("ct/google-ct-pilot-server-key-public.pem");

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kta_ct_sth_parse((const uint8_t *)bad[i], strlen(bad[i]), &s, &err) !=
		    KTA_ERR_MALFORMED)
			fail_msg("accepted bad STH %zu", i);
	/* Truncations of a real body never parse. */
	b = tu_read_testdata("ct/pilot_get-sth_3721782.json", &len);
	for (i = 0; i < len - 1; i++)
		assert_int_equal(kta_ct_sth_parse(b, i, &s, &err), KTA_ERR_MALFORMED);
	free(b);
	/* ct-go's "trailing junk" STH: 77 signature bytes against a declared 4 + 70, and
	 * its base64 has non-zero pad bits: malformed either way (verify_and_tamper
	 * checks the trailing-bytes rule on canonical input). */
	b = tu_read_testdata("ct/ct-go_logclient_test_responses.json", &len);
	j = json_loadb((const char *)b, len, 0, NULL);
	junk = json_object_get(json_object_get(j, "get-sth_trailing_junk_case"), "body");
	body = json_string_value(junk);
	assert_int_equal(kta_ct_sth_parse((const uint8_t *)body, strlen(body), &s, &err),
			 KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "tree_head_signature"));
	json_decref(j);
	free(b);
	kta_ct_key_free(k);
}

static void key_forms(void **state)
{
	struct kta_ct_key *k = NULL, *k2 = NULL;
	struct kta_error err;
	uint8_t id[32], der[128];
	char hex[65], b64[64];
	size_t n, dl;
	const uint8_t *spki;
	char *pem;
	uint8_t *pb;

	(void)state;
	assert_int_equal(
	    kta_ct_key_parse((const uint8_t *)ARGON_B64, strlen(ARGON_B64), 0, &k, &err), KTA_OK);
	k2 = key_file("ct/argon2024-public.pem");
	kta_ct_key_log_id(k, id);
	spki = kta_ct_key_spki(k2, &n);
	assert_int_equal(n, 91);
	assert_int_equal(kta_b64_decode(ARGON_B64, strlen(ARGON_B64), der, sizeof(der), &dl),
			 KTA_OK);
	assert_memory_equal(spki, der, 91);
	/* Log ID = SHA-256(SPKI): Argon2024's published log ID. */
	kta_hex_encode(id, 32, hex);
	assert_string_equal(hex,
			    "eecdd064d5db1acec55cb79db4cd13a23287467cbcecdec351485946711fb59b");
	assert_int_equal(kta_ct_key_check_log_id(k, hex, &err), KTA_OK);
	kta_b64_encode(id, 32, b64);
	assert_int_equal(kta_ct_key_check_log_id(k2, b64, &err), KTA_OK);
	hex[0] = hex[0] == 'e' ? 'f' : 'e';
	assert_int_equal(kta_ct_key_check_log_id(k, hex, &err), KTA_ERR_VERIFY);
	assert_int_equal(kta_ct_key_check_log_id(k, "zz", &err), KTA_ERR_MALFORMED);
	kta_ct_key_free(k);
	kta_ct_key_free(k2);
	k = NULL;
	/* Raw DER. */
	assert_int_equal(kta_ct_key_parse(der, dl, 1, &k, &err), KTA_OK);
	kta_ct_key_free(k);
	k = NULL;
	/* Bad forms. */
	assert_int_equal(kta_ct_key_parse(der, dl - 1, 1, &k, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_ct_key_parse((const uint8_t *)"MFkw", 4, 0, &k, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_ct_key_parse((const uint8_t *)"not a key", 9, 0, &k, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_ct_key_parse((const uint8_t *)"", 0, 0, &k, &err), KTA_ERR_MALFORMED);
	pb = tu_read_testdata("ct/argon2024-public.pem", &n);
	pem = malloc(n + 8);
	memcpy(pem, pb, n);
	memcpy(pem + n, "junk\n", 5);
	assert_int_equal(kta_ct_key_parse((const uint8_t *)pem, n + 5, 0, &k, &err),
			 KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "after the PEM"));
	memcpy(pem + 11, "CERTIFICATE-----", 16);
	assert_int_equal(kta_ct_key_parse((const uint8_t *)pem, n, 0, &k, &err), KTA_ERR_MALFORMED);
	assert_null(k);
	free(pem);
	free(pb);
}

/* Generates a key of another type and checks it is refused (RFC 6962 2.1.4). */
static void key_refused(const char *alg, const char *param, const char *val)
{
	EVP_PKEY *p = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	unsigned char *der = NULL;
	int n;
	struct kta_ct_key *k = NULL;
	struct kta_error err;

	assert_non_null(c);
	assert_int_equal(EVP_PKEY_keygen_init(c), 1);
	if (param != NULL) {
		if (strcmp(param, "bits") == 0)
			assert_true(EVP_PKEY_CTX_set_rsa_keygen_bits(
					c, (int)tu_parse_long(val, 1, INT_MAX)) > 0);
		else
			assert_true(EVP_PKEY_CTX_set_group_name(c, val) > 0);
	}
	assert_int_equal(EVP_PKEY_generate(c, &p), 1);
	n = i2d_PUBKEY(p, &der);
	assert_true(n > 0);
	assert_int_equal(kta_ct_key_parse(der, (size_t)n, 1, &k, &err), KTA_ERR_MALFORMED);
	assert_null(k);
	OPENSSL_free(der);
	EVP_PKEY_free(p);
	EVP_PKEY_CTX_free(c);
}

static void key_types_refused(void **state)
{
	(void)state;
	key_refused("ED25519", NULL, NULL);
	key_refused("EC", "group", "secp384r1");
	key_refused("RSA", "bits", "1024");
}

static void static_ct_note(void **state)
{
	struct kta_vkey *vk = NULL, *ak = NULL;
	struct kta_checkpoint_policy pol;
	struct kta_checkpoint_result res;
	struct kta_error err;
	struct kta_ct_sth s;
	size_t len;
	uint8_t *b = tu_read_testdata("ct/rome_ct_filippo_io_2024h1_115474666.note", &len);
	uint8_t *t;
	char note[1024], rootb64[45], sigb64[256];
	uint8_t sig[12 + KTA_CT_SIG_MAX];
	int nl;

	(void)state;
	assert_int_equal(kta_vkey_parse(ROME_VKEY, strlen(ROME_VKEY), &vk, &err), KTA_OK);
	memset(&pol, 0, sizeof(pol));
	pol.log_key = vk;
	pol.now = 1700000000;
	assert_int_equal(kta_checkpoint_verify(b, len, &pol, &res, &err), KTA_OK);
	assert_int_equal(res.cp->size, 115474666);
	kta_checkpoint_result_free(&res);
	/* Tampered size, root and timestamp. */
	t = malloc(len);
	memcpy(t, b, len);
	t[27] = (uint8_t)(t[27] == '6' ? '7' : '6'); /* a digit of the size */
	assert_int_equal(kta_checkpoint_verify(t, len, &pol, &res, &err), KTA_ERR_VERIFY);
	memcpy(t, b, len);
	t[36] = (uint8_t)(t[36] == 'A' ? 'B' : 'A'); /* the root */
	assert_int_equal(kta_checkpoint_verify(t, len, &pol, &res, &err), KTA_ERR_VERIFY);
	free(t);
	/* The Argon2024 get-sth as a checkpoint: timestamp || DigitallySigned. */
	assert_int_equal(kta_vkey_parse(ARGON_VKEY, strlen(ARGON_VKEY), &ak, &err), KTA_OK);
	sth_file("ct/argon2024_get-sth_1267285836.json", &s);
	kta_b64_encode(s.root, 32, rootb64);
	sig[0] = 0x7d;
	sig[1] = 0xeb;
	sig[2] = 0x49;
	sig[3] = 0xd0;
	for (nl = 0; nl < 8; nl++)
		sig[4 + nl] = (uint8_t)(s.timestamp >> (56 - 8 * nl));
	memcpy(sig + 12, s.sig, s.sig_len);
	kta_b64_encode(sig, 12 + s.sig_len, sigb64);
	nl = snprintf(note, sizeof(note),
		      "ct.googleapis.com/logs/us1/argon2024\n%llu\n%s\n\n\xe2\x80\x94 "
		      "ct.googleapis.com/logs/us1/argon2024 %s\n",
		      (unsigned long long)s.tree_size, rootb64, sigb64);
	pol.log_key = ak;
	assert_int_equal(kta_checkpoint_verify((uint8_t *)note, (size_t)nl, &pol, &res, &err),
			 KTA_OK);
	kta_checkpoint_result_free(&res);
	/* Another timestamp: the signature no longer covers it. */
	sig[11] ^= 1;
	kta_b64_encode(sig, 12 + s.sig_len, sigb64);
	nl = snprintf(note, sizeof(note),
		      "ct.googleapis.com/logs/us1/argon2024\n%llu\n%s\n\n\xe2\x80\x94 "
		      "ct.googleapis.com/logs/us1/argon2024 %s\n",
		      (unsigned long long)s.tree_size, rootb64, sigb64);
	assert_int_equal(kta_checkpoint_verify((uint8_t *)note, (size_t)nl, &pol, &res, &err),
			 KTA_ERR_VERIFY);
	/* An extension line is not allowed with 0x05 (static-ct-api "Checkpoints"). */
	sig[11] ^= 1;
	kta_b64_encode(sig, 12 + s.sig_len, sigb64);
	nl = snprintf(note, sizeof(note),
		      "ct.googleapis.com/logs/us1/argon2024\n%llu\n%s\next\n\n\xe2\x80\x94 "
		      "ct.googleapis.com/logs/us1/argon2024 %s\n",
		      (unsigned long long)s.tree_size, rootb64, sigb64);
	assert_int_equal(kta_checkpoint_verify((uint8_t *)note, (size_t)nl, &pol, &res, &err),
			 KTA_ERR_VERIFY);
	/* The Rome key does not verify Argon's head (key ID differs: no signature). */
	pol.log_key = vk;
	pol.origin = "ct.googleapis.com/logs/us1/argon2024";
	assert_int_equal(kta_checkpoint_verify((uint8_t *)note, (size_t)nl, &pol, &res, &err),
			 KTA_ERR_VERIFY);
	kta_vkey_free(vk);
	kta_vkey_free(ak);
	free(b);
}

static uint8_t *real_leaf(size_t *len)
{
	size_t n;
	uint8_t *b = tu_read_testdata("ct/real_leaf_input.bin", &n);

	/* the callers edit the header (offsets 0..12) and byte 100 */
	if (n <= 100)
		fail_msg("ct/real_leaf_input.bin: %zu bytes, too short", n);
	*len = n;
	return b;
}

static void leaf_real(void **state)
{
	size_t len, jl, i;
	uint8_t *b = real_leaf(&len), want[32], root[32], h[32];
	uint8_t *jb = tu_read_testdata("ct/ct_real_inclusion_proof.json", &jl);
	json_t *j = json_loadb((const char *)jb, jl, 0, NULL), *v;
	uint8_t(*path)[32];
	size_t np;
	struct kta_ct_leaf l;
	struct kta_hasher *hs = NULL;
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_ct_leaf_parse(b, len, &l, &err), KTA_OK);
	assert_int_equal(l.type, KTA_CT_X509_ENTRY);
	assert_int_equal(l.timestamp, 0x13de9d2b29bULL);
	assert_int_equal(l.cert_len, 1371);
	assert_int_equal(l.ext_len, 0);
	assert_int_equal(kta_hasher_new(&hs, &err), KTA_OK);
	kta_hash_leaf(hs, b, len, h);
	assert_int_equal(
	    kta_hex_decode(json_string_value(json_object_get(j, "leaf_hash_hex")), 64, want, 32),
	    KTA_OK);
	assert_memory_equal(h, want, 32);
	np = json_array_size(json_object_get(j, "audit_path_hex"));
	path = calloc(np, 32);
	assert_non_null(path);
	json_array_foreach(json_object_get(j, "audit_path_hex"), i, v)
	{
		assert_int_equal(kta_hex_decode(json_string_value(v), 64, path[i], 32), KTA_OK);
	}
	assert_int_equal(
	    kta_hex_decode(json_string_value(json_object_get(j, "root_hash_hex")), 64, root, 32),
	    KTA_OK);
	assert_int_equal(kta_merkle_verify_inclusion(hs, 848049, 3630887, h,
						     (const uint8_t(*)[32])path, np, root, &err),
			 KTA_OK);
	/* Tampered leaf: a different leaf hash, the proof fails. */
	b[100] ^= 1;
	kta_hash_leaf(hs, b, len, h);
	assert_int_equal(kta_merkle_verify_inclusion(hs, 848049, 3630887, h,
						     (const uint8_t(*)[32])path, np, root, &err),
			 KTA_ERR_VERIFY);
	b[100] ^= 1;
	free(path);
	json_decref(j);
	free(jb);
	kta_hasher_free(hs);
	free(b);
}

static void leaf_malformed(void **state)
{
	size_t len, i;
	uint8_t *b = real_leaf(&len), *m;
	struct kta_ct_leaf l;
	struct kta_error err;

	(void)state;
	for (i = 0; i < len; i++)
		if (kta_ct_leaf_parse(b, i, &l, &err) != KTA_ERR_MALFORMED)
			fail_msg("truncated to %zu accepted", i);
	m = malloc(len + 1);
	if (m == NULL)
		fail_msg("out of memory");
	memcpy(m, b, len);
	m[len] = 0;
	assert_int_equal(kta_ct_leaf_parse(m, len + 1, &l, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "trailing"));
	memcpy(m, b, len);
	m[0] = 1;
	assert_int_equal(kta_ct_leaf_parse(m, len, &l, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "version"));
	m[0] = 0;
	m[1] = 1;
	assert_int_equal(kta_ct_leaf_parse(m, len, &l, &err), KTA_ERR_MALFORMED);
	m[1] = 0;
	m[11] = 2;
	assert_int_equal(kta_ct_leaf_parse(m, len, &l, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "entry_type"));
	m[11] = 0;
	m[12] ^= 0x10; /* certificate length */
	assert_int_equal(kta_ct_leaf_parse(m, len, &l, &err), KTA_ERR_MALFORMED);
	/* Empty certificate: ASN.1Cert<1..2^24-1>. */
	{
		static const uint8_t empty[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
		assert_int_equal(kta_ct_leaf_parse(empty, sizeof(empty), &l, &err),
				 KTA_ERR_MALFORMED);
	}
	free(m);
	free(b);
}

/* Builds a precert_entry leaf from the real certificate's TBSCertificate. */
static uint8_t *precert_leaf(const struct kta_ct_leaf *x, size_t *out_len)
{
	/* The certificate is SEQUENCE(30 82 LL LL) { TBS(30 82 LL LL ...) ... }. */
	const uint8_t *tbs = x->cert + 4;
	size_t tl = 4 + ((size_t)tbs[2] << 8 | tbs[3]), n = 2 + 8 + 2 + 32 + 3 + tl + 2;
	uint8_t *m = calloc(1, n);

	assert_int_equal(tbs[0], 0x30);
	assert_int_equal(tbs[1], 0x82);
	m[11] = 1;
	memset(m + 12, 0xab, 32);
	m[44] = (uint8_t)(tl >> 16);
	m[45] = (uint8_t)(tl >> 8);
	m[46] = (uint8_t)tl;
	memcpy(m + 47, tbs, tl);
	*out_len = n;
	return m;
}

static void cert_real(void **state)
{
	size_t len, pl;
	uint8_t *b = real_leaf(&len), *p, spki[32];
	struct kta_ct_leaf l, pc;
	struct kta_ct_cert *c = NULL, *c2 = NULL;
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_ct_leaf_parse(b, len, &l, &err), KTA_OK);
	assert_int_equal(kta_ct_cert_parse(&l, &c, &err), KTA_OK);
	assert_int_equal(c->nnames, 2);
	assert_string_equal(c->names[0], "www.idnet.net");
	assert_string_equal(c->names[1], "idnet.net");
	assert_non_null(strstr(c->issuer, "CN=Go Daddy Secure Certification Authority"));
	assert_non_null(strstr(c->subject, "CN=www.idnet.net"));
	assert_string_equal(c->serial, "2b777b56df7bc5");
	assert_int_equal(c->not_before, 1358153450);
	assert_int_equal(c->not_after, 1421225450);
	/* openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum */
	assert_int_equal(
	    kta_hex_decode("614b58f143d78d7ed97ddc1ce06150fde9fca3289e7ee3a2754cc5619375689e", 64,
			   spki, 32),
	    KTA_OK);
	assert_memory_equal(c->spki_sha256, spki, 32);
	/* The same certificate as a precert entry: same names, key and id. */
	p = precert_leaf(&l, &pl);
	assert_int_equal(kta_ct_leaf_parse(p, pl, &pc, &err), KTA_OK);
	assert_int_equal(pc.type, KTA_CT_PRECERT_ENTRY);
	assert_int_equal(pc.issuer_key_hash[0], 0xab);
	assert_int_equal(kta_ct_cert_parse(&pc, &c2, &err), KTA_OK);
	assert_int_equal(c2->nnames, 2);
	assert_memory_equal(c2->spki_sha256, spki, 32);
	assert_memory_equal(c2->id, c->id, 32);
	assert_string_equal(c2->issuer, c->issuer);
	kta_ct_cert_free(c2);
	c2 = NULL;
	/* A damaged TBS does not parse. */
	p[47 + 1] ^= 0x40;
	assert_int_equal(kta_ct_leaf_parse(p, pl, &pc, &err), KTA_OK);
	assert_int_equal(kta_ct_cert_parse(&pc, &c2, &err), KTA_ERR_MALFORMED);
	assert_null(c2);
	/* A certificate with trailing bytes inside its ASN.1Cert does not parse. */
	l.cert_len--;
	assert_int_equal(kta_ct_cert_parse(&l, &c2, &err), KTA_ERR_MALFORMED);
	free(p);
	kta_ct_cert_free(c);
	free(b);
}

static void names(void **state)
{
	(void)state;
	assert_true(kta_ct_name_matches("example.org", "example.org"));
	assert_true(kta_ct_name_matches("example.org", "EXAMPLE.org"));
	assert_false(kta_ct_name_matches("example.org", "www.example.org"));
	assert_false(kta_ct_name_matches("example.org", "example.org.evil"));
	assert_true(kta_ct_name_matches(".example.org", "www.example.org"));
	assert_true(kta_ct_name_matches(".example.org", "*.example.org"));
	assert_true(kta_ct_name_matches(".example.org", "a.b.EXAMPLE.ORG"));
	assert_false(kta_ct_name_matches(".example.org", "example.org"));
	assert_false(kta_ct_name_matches(".example.org", "badexample.org"));
	assert_false(kta_ct_name_matches("", "example.org"));
	assert_true(kta_ct_may_match(".example.org", (const uint8_t *)"xxEXAMPLE.orgyy", 15));
	assert_true(kta_ct_may_match("example.org", (const uint8_t *)"example.org", 11));
	assert_false(kta_ct_may_match("example.org", (const uint8_t *)"example.or", 10));
	assert_false(kta_ct_may_match("example.org", (const uint8_t *)"exampleXorg", 11));
}

static void extra_data(void **state)
{
	static const uint8_t empty_chain[] = {0, 0, 0};
	static const uint8_t one[] = {0, 0, 5, 0, 0, 2, 0x30, 0x00};
	static const uint8_t bad_inner[] = {0, 0, 4, 0, 0, 2, 0x30};
	static const uint8_t precert[] = {0, 0, 1, 0x30, 0, 0, 0};
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_ct_extra_check(KTA_CT_X509_ENTRY, empty_chain, 3, &err), KTA_OK);
	assert_int_equal(kta_ct_extra_check(KTA_CT_X509_ENTRY, one, sizeof(one), &err), KTA_OK);
	assert_int_equal(kta_ct_extra_check(KTA_CT_X509_ENTRY, bad_inner, sizeof(bad_inner), &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_ct_extra_check(KTA_CT_X509_ENTRY, empty_chain, 2, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_ct_extra_check(KTA_CT_X509_ENTRY, precert, sizeof(precert), &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_ct_extra_check(KTA_CT_PRECERT_ENTRY, precert, sizeof(precert), &err),
			 KTA_OK);
	assert_int_equal(kta_ct_extra_check(KTA_CT_PRECERT_ENTRY, empty_chain, 3, &err),
			 KTA_ERR_MALFORMED);
}

static void tile_leaf(void **state)
{
	size_t len, pl, tl, off = 0, i;
	uint8_t *b = real_leaf(&len), *p, *tile, h1[32], h2[32];
	struct kta_ct_leaf l, t1, t2, pc;
	struct kta_hasher *hs = NULL;
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_hasher_new(&hs, &err), KTA_OK);
	assert_int_equal(kta_ct_leaf_parse(b, len, &l, &err), KTA_OK);
	p = precert_leaf(&l, &pl);
	assert_int_equal(kta_ct_leaf_parse(p, pl, &pc, &err), KTA_OK);
	/* Tile: x509 TileLeaf with one fingerprint, then the precert TileLeaf. */
	tile = calloc(1, len + 34 + pl + 3 + l.cert_len + 2);
	tl = 0;
	memcpy(tile, b + 2, len - 2);
	tl = len - 2;
	tile[tl++] = 0;
	tile[tl++] = 32;
	memset(tile + tl, 0x11, 32);
	tl += 32;
	memcpy(tile + tl, p + 2, pl - 2);
	tl += pl - 2;
	tile[tl++] = (uint8_t)(l.cert_len >> 16);
	tile[tl++] = (uint8_t)(l.cert_len >> 8);
	tile[tl++] = (uint8_t)l.cert_len;
	memcpy(tile + tl, l.cert, l.cert_len);
	tl += l.cert_len;
	tile[tl++] = 0;
	tile[tl++] = 0;
	assert_int_equal(kta_ct_tile_leaf_parse(tile, tl, &off, &t1, &err), KTA_OK);
	assert_int_equal(t1.n_chain, 1);
	assert_int_equal(kta_ct_tile_leaf_hash(hs, tile, &t1, h1, &err), KTA_OK);
	kta_hash_leaf(hs, b, len, h2);
	assert_memory_equal(h1, h2, 32);
	assert_int_equal(kta_ct_tile_leaf_parse(tile, tl, &off, &t2, &err), KTA_OK);
	assert_int_equal(off, tl);
	assert_int_equal(t2.type, KTA_CT_PRECERT_ENTRY);
	assert_int_equal(t2.precert_len, l.cert_len);
	assert_int_equal(kta_ct_tile_leaf_hash(hs, tile, &t2, h1, &err), KTA_OK);
	kta_hash_leaf(hs, p, pl, h2);
	assert_memory_equal(h1, h2, 32);
	/* Every truncation of the second leaf fails and leaves off unchanged. */
	for (i = len + 32; i < tl; i++) {
		size_t o = len - 2 + 34;

		assert_int_equal(kta_ct_tile_leaf_parse(tile, i, &o, &t2, &err), KTA_ERR_MALFORMED);
		assert_int_equal(o, len - 2 + 34);
	}
	/* A chain that is not whole fingerprints. */
	off = 0;
	tile[len - 2 + 1] = 31;
	assert_int_equal(kta_ct_tile_leaf_parse(tile, tl, &off, &t1, &err), KTA_ERR_MALFORMED);
	free(tile);
	free(p);
	free(b);
	kta_hasher_free(hs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sth_real_ecdsa),    cmocka_unit_test(sth_index_test_keys),
	    cmocka_unit_test(sth_parse_strict),  cmocka_unit_test(key_forms),
	    cmocka_unit_test(key_types_refused), cmocka_unit_test(static_ct_note),
	    cmocka_unit_test(leaf_real),         cmocka_unit_test(leaf_malformed),
	    cmocka_unit_test(cert_real),         cmocka_unit_test(names),
	    cmocka_unit_test(extra_data),        cmocka_unit_test(tile_leaf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
