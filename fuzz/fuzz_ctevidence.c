/*
 * libFuzzer harness: CT evidence bundles (ctevidence.h). The first byte
 * selects the mode:
 *   even  [bundle...]: kta_ctevidence_is_ct and kta_ctevidence_verify under
 *         the harness's key and a real log's key; a bundle that holds under
 *         one never holds under the other (the log ID binds the key), and a
 *         verified bundle is a fork or a rollback.
 *   odd   [ts_a 8][size_a 8][ts_b 8][size_b 8][root byte 1][flip 2]: the
 *         harness signs two tree heads and builds a ct_fork (same size,
 *         roots differ) or ct_rollback (first larger) bundle; it must verify
 *         with that type, strong exactly when a fork or a rollback whose
 *         smaller head has the later timestamp, fail under the other key,
 *         and a bundle with one byte flipped must never crash.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ktaudit/ct.h"
#include "ktaudit/ctevidence.h"
#include "ktaudit/encoding.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Argon2024's public key (testdata/ct/argon2024-public.pem). */
static const char other_pem[] = "-----BEGIN PUBLIC KEY-----\n"
				"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHblsqctplMVc5ramA7vSuNxUQxco\n"
				"mQwGAVAdnWTAWUYr3MgDHQW0LagJ95lB7QT75Ve6JgT2EVLOFGU7L3YrwA==\n"
				"-----END PUBLIC KEY-----\n";

/* A throwaway P-256 key made for the harnesses (as in fuzz_ct.c). */
static const char sign_pem[] = "-----BEGIN PRIVATE KEY-----\n"
			       "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8hyS8qLS6wi5fSna\n"
			       "xbtrZs3uLT8qc07TMeatZhI4zDShRANCAAQf/mIQgfjWNN/Rd/6LOxpgMrt6iXeX\n"
			       "4u3FtOSSx9TVnvbwdh+EkoofKnG70IsfMD+nS3Q9zPoVc1U/HrHLlp6G\n"
			       "-----END PRIVATE KEY-----\n";

static EVP_PKEY *sign_key;
static struct kta_ct_key *sign_ct, *other_ct;

static void init(void)
{
	unsigned char *der = NULL;
	int dl;
	BIO *b;

	FUZZ_CHECK((b = BIO_new_mem_buf(sign_pem, -1)) != NULL);
	FUZZ_CHECK((sign_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) != NULL);
	BIO_free(b);
	FUZZ_CHECK((dl = i2d_PUBKEY(sign_key, &der)) > 0);
	FUZZ_CHECK(kta_ct_key_parse(der, (size_t)dl, 1, &sign_ct, NULL) == KTA_OK);
	OPENSSL_free(der);
	FUZZ_CHECK(kta_ct_key_parse((const uint8_t *)other_pem, strlen(other_pem), 0, &other_ct,
				    NULL) == KTA_OK);
}

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A get-sth body for (ts, size, root), signed with sign_key (RFC 6962 3.5). */
static size_t sth_body(uint64_t ts, uint64_t tsize, const uint8_t root[32], char *body, size_t cap)
{
	uint8_t msg[50], ds[4 + 80];
	char rb[KTA_B64_ENCODED_LEN(32) + 1], sb[KTA_B64_ENCODED_LEN(sizeof(ds)) + 1];
	size_t sl = 80;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int bl;

	msg[0] = 0; /* v1 */
	msg[1] = 1; /* tree_hash */
	put_be(msg + 2, ts, 8);
	put_be(msg + 10, tsize, 8);
	memcpy(msg + 18, root, 32);
	FUZZ_CHECK(m != NULL);
	FUZZ_CHECK(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, sign_key) == 1);
	FUZZ_CHECK(EVP_DigestSign(m, ds + 4, &sl, msg, sizeof(msg)) == 1);
	EVP_MD_CTX_free(m);
	ds[0] = 4; /* sha256 */
	ds[1] = 3; /* ecdsa */
	put_be(ds + 2, sl, 2);
	kta_b64_encode(root, 32, rb);
	kta_b64_encode(ds, 4 + sl, sb);
	bl = snprintf(body, cap,
		      "{\"tree_size\":%llu,\"timestamp\":%llu,\"sha256_root_hash\":\"%s\","
		      "\"tree_head_signature\":\"%s\"}",
		      (unsigned long long)tsize, (unsigned long long)ts, rb, sb);
	FUZZ_CHECK(bl > 0 && (size_t)bl < cap);
	return (size_t)bl;
}

static void mode_raw(const uint8_t *d, size_t n)
{
	struct kta_evidence_result a, b;
	enum kta_status ra, rb;

	(void)kta_ctevidence_is_ct(d, n);
	ra = kta_ctevidence_verify(d, n, sign_ct, &a, NULL);
	rb = kta_ctevidence_verify(d, n, other_ct, &b, NULL);
	FUZZ_CHECK(!(ra == KTA_OK && rb == KTA_OK));
	if (ra == KTA_OK)
		FUZZ_CHECK(a.type == KTA_EVIDENCE_FORK || a.type == KTA_EVIDENCE_ROLLBACK);
	if (rb == KTA_OK)
		FUZZ_CHECK(b.type == KTA_EVIDENCE_FORK || b.type == KTA_EVIDENCE_ROLLBACK);
}

static void mode_build(const uint8_t *d, size_t n)
{
	/* JSON numbers: the STH parser takes values up to 2^63-1. */
	uint64_t ts_a = fuzz_take(&d, &n, 8) & INT64_MAX, sa = fuzz_take(&d, &n, 8) & INT64_MAX;
	uint64_t ts_b = fuzz_take(&d, &n, 8) & INT64_MAX, sb = fuzz_take(&d, &n, 8) & INT64_MAX;
	uint8_t rbyte = (uint8_t)fuzz_take(&d, &n, 1), ra_[32], rb_[32];
	unsigned flip = (unsigned)fuzz_take(&d, &n, 2);
	char a[512], b[512], *bundle = NULL;
	size_t la, lb, blen = 0;
	enum kta_evidence_type type;
	struct kta_evidence_result res;
	enum kta_status r;

	memset(ra_, rbyte, sizeof(ra_));
	memset(rb_, (uint8_t)(rbyte ^ 0x5a), sizeof(rb_));
	if (sa == sb)
		type = KTA_EVIDENCE_FORK;
	else if (sa > sb)
		type = KTA_EVIDENCE_ROLLBACK;
	else
		return; /* a grown tree is not evidence by itself */
	la = sth_body(ts_a, sa, ra_, a, sizeof(a));
	lb = sth_body(ts_b, sb, rb_, b, sizeof(b));
	r = kta_ctevidence_build(type, "fuzz", sign_ct, (const uint8_t *)a, la, (const uint8_t *)b,
				 lb, &bundle, &blen, NULL);
	FUZZ_CHECK(r == KTA_OK);
	FUZZ_CHECK(kta_ctevidence_is_ct((const uint8_t *)bundle, blen) == 1);
	FUZZ_CHECK(kta_ctevidence_verify((const uint8_t *)bundle, blen, sign_ct, &res, NULL) ==
		   KTA_OK);
	FUZZ_CHECK(res.type == type);
	if (type == KTA_EVIDENCE_FORK)
		FUZZ_CHECK(res.strong == 1);
	else
		FUZZ_CHECK(res.strong == (ts_b > ts_a));
	FUZZ_CHECK(kta_ctevidence_verify((const uint8_t *)bundle, blen, other_ct, &res, NULL) !=
		   KTA_OK);
	/* A damaged bundle: any status, never a crash, never a claim of another type. */
	if (blen > 0) {
		bundle[flip % blen] ^= (char)(1u << (flip % 8));
		if (kta_ctevidence_verify((const uint8_t *)bundle, blen, sign_ct, &res, NULL) ==
		    KTA_OK)
			FUZZ_CHECK(res.type == type);
	}
	free(bundle);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		init();
		ready = 1;
	}
	if (size == 0 || size > KTA_CTEVIDENCE_MAX_SIZE + 1)
		return 0;
	if (data[0] % 2 == 0)
		mode_raw(data + 1, size - 1);
	else
		mode_build(data + 1, size - 1);
	return 0;
}
