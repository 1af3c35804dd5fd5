/*
 * libFuzzer: Certificate Transparency inputs (include/ktaudit/ct.h). The
 * first byte selects what the rest is:
 *
 *   0  get-sth body: kta_ct_sth_parse; verified under three real log keys
 *      (Google Pilot and Argon2024 ECDSA, the ct-python RSA test key); one
 *      that verifies must fail with any root bit flipped
 *   1  [ts 8][size 8][root 32][flip 2]: the harness signs the tree head with
 *      a fixed P-256 key, as a get-sth body and as a static-ct checkpoint
 *      (0x05 RFC6962NoteSignature); both parse with the same values and
 *      verify; with the flipped bit of the signed fields they fail
 *   2  a static-ct checkpoint note, verified under the Rome 2024h1 key
 *   3  [n 2][leaf_input n][extra_data]: MerkleTreeLeaf and extra_data; the
 *      certificate's DNS names are lowercase printable ASCII, each matches
 *      itself and passes the kta_ct_may_match pre-filter over the same DER;
 *      the leaf rebuilt as a TileLeaf parses to the same fields and hash
 *   4  a static-ct data tile: every TileLeaf in it, each rebuilt as a
 *      MerkleTreeLeaf, parses to the same fields and leaf hash
 *   5  [der 1][key]: kta_ct_key_parse; the SPKI re-parses to the same log ID,
 *      kta_ct_key_check_log_id accepts it in hex and base64; a tree head
 *      signature from the input never verifies
 *   6  [asked 1][stop 1][body]: get-entries through kta_ct_client (file://);
 *      the body and the same body with "entries" spelled "\u0065ntries"
 *      (which the fast scanner refuses, so jansson parses it) give the same
 *      status and the same entries (src/ct.c fast path vs jansson path)
 *   7  [body]: served as get-sth, get-sth-consistency and get-proof-by-hash;
 *      kta_ct_get_sth agrees with kta_ct_sth_parse on the same bytes
 */
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/ct.h"
#include "ktaudit/encoding.h"
#include "ktaudit/fetch.h"
#include "ktaudit/hash.h"
#include "ktaudit/key.h"
#include "ktaudit/note.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Real log keys (testdata/ct/SOURCES.md). */
static const char *const log_pems[] = {
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfahLEimAoz2t01p3uMziiLOl/fHT\n"
    "DM0YDOhBRuiBARsV4UvxG2LdNgoIGLrtCzWE0J5APC2em4JlvR8EEEFMoA==\n"
    "-----END PUBLIC KEY-----\n",
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHblsqctplMVc5ramA7vSuNxUQxco\n"
    "mQwGAVAdnWTAWUYr3MgDHQW0LagJ95lB7QT75Ve6JgT2EVLOFGU7L3YrwA==\n"
    "-----END PUBLIC KEY-----\n",
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAolpIHxdSlTXLo1s6H1OC\n"
    "dpSj/4DyHDc8wLG9wVmLqy1lk9fz4ATVmm+/1iN2Nk8jmctUKK2MFUtlWXZBSpym\n"
    "97M7frGlSaQXUWyA3CqQUEuIJOmlEjKTBEiQAvpfDjCHjlV2Be4qTM6jamkJbiWt\n"
    "gnYPhJL6ONaGTiSPm7Byy57iaz/hbckldSOIoRhYBiMzeNoA0DiRZ9KmfSeXZ1rB\n"
    "8y8X5urSW+iBzf2SaOfzBvDpcoTuAaWx2DPazoOl28fP1hZ+kHUYvxbcMjttjauC\n"
    "Fx+JII0dmuZNIwjfeG/GBb9frpSX219k1O4Wi6OEbHEr8at/XQ0y7gTikOxBn/s5\n"
    "wQIDAQAB\n"
    "-----END PUBLIC KEY-----\n",
};
#define NKEYS (sizeof(log_pems) / sizeof(log_pems[0]))

#define ROME_VKEY                                                                                  \
	"rome.ct.filippo.io/2024h1+78f4abae+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAFzPC3fap+"       \
	"uINc1RQ4eRbYMUt84+bKkA8GDLN8KwVdzAgYhYSv4kS8XSheGLAHCWhIJTJbuC3sL88bNMTtrsBM="

/* A throwaway P-256 key made for this harness (signs mode 1's tree heads). */
static const char sign_pem[] = "-----BEGIN PRIVATE KEY-----\n"
			       "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8hyS8qLS6wi5fSna\n"
			       "xbtrZs3uLT8qc07TMeatZhI4zDShRANCAAQf/mIQgfjWNN/Rd/6LOxpgMrt6iXeX\n"
			       "4u3FtOSSx9TVnvbwdh+EkoofKnG70IsfMD+nS3Q9zPoVc1U/HrHLlp6G\n"
			       "-----END PRIVATE KEY-----\n";
#define SIGN_NAME "fuzz.example/ct"

static struct kta_ct_key *keys[NKEYS];
static struct kta_vkey *rome;
static EVP_PKEY *sign_key;
static struct kta_ct_key *sign_ct;
static struct kta_vkey *sign_vkey;
static struct kta_hasher *hasher;
static struct kta_fetcher *fetcher;
static struct kta_ct_client *client;
static char dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	size_t i;

	if (dir[0] != '\0')
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	kta_ct_client_free(client);
	kta_fetcher_free(fetcher);
	kta_hasher_free(hasher);
	for (i = 0; i < NKEYS; i++)
		kta_ct_key_free(keys[i]);
	kta_vkey_free(rome);
	kta_vkey_free(sign_vkey);
	kta_ct_key_free(sign_ct);
	EVP_PKEY_free(sign_key);
}

static void init(void)
{
	struct kta_fetch_opts o;
	char sub[96], url[128], vk[512];
	unsigned char *der = NULL;
	uint8_t typed[1 + KTA_CT_SPKI_MAX];
	const uint8_t *spki;
	size_t i, spki_len;
	uint32_t id;
	int dl, n;
	BIO *b;

	for (i = 0; i < NKEYS; i++)
		FUZZ_CHECK(kta_ct_key_parse((const uint8_t *)log_pems[i], strlen(log_pems[i]), 0,
					    &keys[i], NULL) == KTA_OK);
	FUZZ_CHECK(kta_vkey_parse(ROME_VKEY, strlen(ROME_VKEY), &rome, NULL) == KTA_OK);
	FUZZ_CHECK((b = BIO_new_mem_buf(sign_pem, -1)) != NULL);
	FUZZ_CHECK((sign_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) != NULL);
	BIO_free(b);
	FUZZ_CHECK((dl = i2d_PUBKEY(sign_key, &der)) > 0);
	FUZZ_CHECK(kta_ct_key_parse(der, (size_t)dl, 1, &sign_ct, NULL) == KTA_OK);
	OPENSSL_free(der);
	/* The static-ct vkey: name+id+base64(0x05 || SPKI) (key.h). */
	spki = kta_ct_key_spki(sign_ct, &spki_len);
	typed[0] = KTA_KEY_RFC6962;
	memcpy(typed + 1, spki, spki_len);
	FUZZ_CHECK(kta_key_id(SIGN_NAME, strlen(SIGN_NAME), KTA_KEY_RFC6962, spki, spki_len, &id,
			      NULL) == KTA_OK);
	n = snprintf(vk, sizeof(vk), "%s+%08x+", SIGN_NAME, (unsigned)id);
	FUZZ_CHECK(n > 0 && (size_t)n + KTA_B64_ENCODED_LEN(spki_len + 1) < sizeof(vk));
	kta_b64_encode(typed, spki_len + 1, vk + n);
	FUZZ_CHECK(kta_vkey_parse(vk, strlen(vk), &sign_vkey, NULL) == KTA_OK);
	FUZZ_CHECK(kta_hasher_new(&hasher, NULL) == KTA_OK);

	strcpy(dir, "/tmp/kta-fuzz-ct-XXXXXX");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	snprintf(sub, sizeof(sub), "%s/ct", dir);
	FUZZ_CHECK(mkdir(sub, 0700) == 0);
	snprintf(sub, sizeof(sub), "%s/ct/v1", dir);
	FUZZ_CHECK(mkdir(sub, 0700) == 0);
	kta_fetch_opts_init(&o);
	o.schemes = "file";
	o.max_retries = 0;
	o.max_size = KTA_CT_ENTRIES_BODY_MAX;
	FUZZ_CHECK(kta_fetcher_new(&o, &fetcher, NULL) == KTA_OK);
	snprintf(url, sizeof(url), "file://%s", dir);
	FUZZ_CHECK(kta_ct_client_new(fetcher, url, 8, &client, NULL) == KTA_OK);
}

static void serve(const char *name, const uint8_t *b, size_t n)
{
	char p[160];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/ct/v1/%s", dir, name);
	FUZZ_CHECK((fp = fopen(p, "wb")) != NULL);
	FUZZ_CHECK(n == 0 || fwrite(b, 1, n, fp) == n);
	FUZZ_CHECK(fclose(fp) == 0);
}

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* Signs the RFC 6962 3.5 tree head with sign_key: DigitallySigned into ds. */
static size_t sign_head(uint64_t ts, uint64_t tsize, const uint8_t root[32], uint8_t *ds)
{
	uint8_t msg[50];
	size_t sl = 80;
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	msg[0] = 0;
	msg[1] = 1;
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
	return 4 + sl;
}

static void mode_sth(const uint8_t *d, size_t n)
{
	struct kta_ct_sth s, t;
	size_t i;

	if (kta_ct_sth_parse(d, n, &s, NULL) != KTA_OK)
		return;
	FUZZ_CHECK(s.sig_len <= KTA_CT_SIG_MAX);
	for (i = 0; i < NKEYS; i++) {
		enum kta_status r = kta_ct_sth_verify(keys[i], &s, NULL);

		FUZZ_CHECK(r == KTA_OK || r == KTA_ERR_VERIFY || r == KTA_ERR_MALFORMED);
		if (r == KTA_OK) {
			t = s;
			t.root[d[0] % 32] ^= (uint8_t)(1u << (d[0] % 8));
			FUZZ_CHECK(kta_ct_sth_verify(keys[i], &t, NULL) == KTA_ERR_VERIFY);
			t = s;
			t.tree_size ^= 1;
			FUZZ_CHECK(kta_ct_sth_verify(keys[i], &t, NULL) == KTA_ERR_VERIFY);
		}
	}
}

static void mode_sign(const uint8_t *d, size_t n)
{
	uint64_t ts = fuzz_take(&d, &n, 8), tsize = fuzz_take(&d, &n, 8);
	uint8_t root[32], ds[4 + 80], sig[12 + 4 + 80];
	unsigned flip;
	char body[512], rb[45], sb[KTA_B64_ENCODED_LEN(sizeof(sig)) + 1], note[1024];
	size_t dl, i;
	int bl, nl;
	struct kta_ct_sth s;
	struct kta_checkpoint_policy pol;
	struct kta_checkpoint_result res;
	enum kta_status r;

	for (i = 0; i < 32; i++)
		root[i] = (uint8_t)fuzz_take(&d, &n, 1);
	flip = (unsigned)fuzz_take(&d, &n, 2) % (48 * 8);
	/* JSON numbers: the parser takes tree_size and timestamp up to 2^63-1. */
	ts &= INT64_MAX;
	tsize &= INT64_MAX;
	dl = sign_head(ts, tsize, root, ds);
	kta_b64_encode(root, 32, rb);
	kta_b64_encode(ds, dl, sb);
	bl = snprintf(body, sizeof(body),
		      "{\"tree_size\":%llu,\"timestamp\":%llu,\"sha256_root_hash\":\"%s\","
		      "\"tree_head_signature\":\"%s\"}",
		      (unsigned long long)tsize, (unsigned long long)ts, rb, sb);
	FUZZ_CHECK(bl > 0 && (size_t)bl < sizeof(body));
	r = kta_ct_sth_parse((const uint8_t *)body, (size_t)bl, &s, NULL);
	FUZZ_CHECK(r == KTA_OK);
	FUZZ_CHECK(s.tree_size == tsize && s.timestamp == ts && memcmp(s.root, root, 32) == 0 &&
		   s.sig_len == dl && memcmp(s.sig, ds, dl) == 0);
	FUZZ_CHECK(kta_ct_sth_verify(sign_ct, &s, NULL) == KTA_OK);
	for (i = 0; i < NKEYS; i++)
		FUZZ_CHECK(kta_ct_sth_verify(keys[i], &s, NULL) == KTA_ERR_VERIFY);
	/* Flip one bit of timestamp || tree_size || root (bytes 2..49 of the signed struct). */
	if (flip < 64)
		s.timestamp ^= (uint64_t)1 << flip;
	else if (flip < 128)
		s.tree_size ^= (uint64_t)1 << (flip - 64);
	else
		s.root[(flip - 128) / 8] ^= (uint8_t)(1u << (flip % 8));
	FUZZ_CHECK(kta_ct_sth_verify(sign_ct, &s, NULL) == KTA_ERR_VERIFY);

	/* static-ct-api checkpoint: key ID || timestamp || DigitallySigned. */
	{
		uint32_t id;
		const uint8_t *spki;
		size_t spki_len;

		spki = kta_ct_key_spki(sign_ct, &spki_len);
		FUZZ_CHECK(kta_key_id(SIGN_NAME, strlen(SIGN_NAME), KTA_KEY_RFC6962, spki, spki_len,
				      &id, NULL) == KTA_OK);
		put_be(sig, id, 4);
	}
	put_be(sig + 4, ts, 8);
	memcpy(sig + 12, ds, dl);
	kta_b64_encode(sig, 12 + dl, sb);
	memset(&pol, 0, sizeof(pol));
	pol.log_key = sign_vkey;
	pol.now = 1700000000;
	nl = snprintf(note, sizeof(note), "%s\n%llu\n%s\n\n\xe2\x80\x94 %s %s\n", SIGN_NAME,
		      (unsigned long long)tsize, rb, SIGN_NAME, sb);
	FUZZ_CHECK(nl > 0 && (size_t)nl < sizeof(note));
	r = kta_checkpoint_verify((const uint8_t *)note, (size_t)nl, &pol, &res, NULL);
	FUZZ_CHECK(r == KTA_OK);
	FUZZ_CHECK(res.cp->size == tsize && memcmp(res.cp->root, root, 32) == 0);
	kta_checkpoint_result_free(&res);
	/* Another timestamp in the signature line: the signature no longer covers it. */
	sig[4 + flip % 8] ^= (uint8_t)(1u << (flip % 8));
	kta_b64_encode(sig, 12 + dl, sb);
	nl = snprintf(note, sizeof(note), "%s\n%llu\n%s\n\n\xe2\x80\x94 %s %s\n", SIGN_NAME,
		      (unsigned long long)tsize, rb, SIGN_NAME, sb);
	FUZZ_CHECK(nl > 0 && (size_t)nl < sizeof(note));
	r = kta_checkpoint_verify((const uint8_t *)note, (size_t)nl, &pol, &res, NULL);
	FUZZ_CHECK(r == KTA_ERR_VERIFY);
	kta_checkpoint_result_free(&res);
}

static void mode_note(const uint8_t *d, size_t n)
{
	struct kta_checkpoint_policy pol;
	struct kta_checkpoint_result res;
	enum kta_status r;

	memset(&pol, 0, sizeof(pol));
	pol.log_key = rome;
	pol.now = 1700000000;
	r = kta_checkpoint_verify(d, n, &pol, &res, NULL);
	FUZZ_CHECK(r != KTA_ERR_USAGE && r != KTA_ERR_INTERNAL);
	if (r == KTA_OK)
		FUZZ_CHECK(res.cp != NULL && res.cp->next == 0);
	kta_checkpoint_result_free(&res);
	pol.log_key = sign_vkey;
	r = kta_checkpoint_verify(d, n, &pol, &res, NULL);
	FUZZ_CHECK(r != KTA_ERR_USAGE && r != KTA_ERR_INTERNAL);
	kta_checkpoint_result_free(&res);
}

/* Two parses of the same entry agree (cert/ext pointers compared by content). */
static void same_leaf(const struct kta_ct_leaf *a, const struct kta_ct_leaf *b)
{
	FUZZ_CHECK(a->timestamp == b->timestamp && a->type == b->type);
	FUZZ_CHECK(a->cert_len == b->cert_len &&
		   (a->cert_len == 0 || memcmp(a->cert, b->cert, a->cert_len) == 0));
	FUZZ_CHECK(a->ext_len == b->ext_len &&
		   (a->ext_len == 0 || memcmp(a->ext, b->ext, a->ext_len) == 0));
	FUZZ_CHECK(memcmp(a->issuer_key_hash, b->issuer_key_hash, 32) == 0);
}

static void check_cert(const struct kta_ct_leaf *l)
{
	struct kta_ct_cert *c = NULL;
	enum kta_status r = kta_ct_cert_parse(l, &c, NULL);
	size_t i, j;

	FUZZ_CHECK(r == KTA_OK || r == KTA_ERR_MALFORMED);
	if (r != KTA_OK)
		return;
	FUZZ_CHECK(c->nnames <= KTA_CT_MAX_NAMES && c->issuer != NULL && c->subject != NULL &&
		   c->serial != NULL);
	for (i = 0; i < c->nnames; i++) {
		const char *nm = c->names[i], *dot;
		size_t len = strlen(nm);

		FUZZ_CHECK(len >= 1 && len <= KTA_CT_NAME_MAX);
		for (j = 0; j < len; j++)
			FUZZ_CHECK(nm[j] > 0x20 && nm[j] < 0x7f && !(nm[j] >= 'A' && nm[j] <= 'Z'));
		if (nm[0] != '.')
			FUZZ_CHECK(kta_ct_name_matches(nm, nm) == 1);
		/* The pre-filter must never skip a certificate a watch would match. */
		FUZZ_CHECK(kta_ct_may_match(nm, l->cert, l->cert_len) == 1);
		if ((dot = strchr(nm + 1, '.')) != NULL) {
			FUZZ_CHECK(kta_ct_name_matches(dot, nm) == 1);
			FUZZ_CHECK(kta_ct_may_match(dot, l->cert, l->cert_len) == 1);
		}
	}
	for (i = 0; c->serial[i] != '\0'; i++)
		FUZZ_CHECK((c->serial[i] >= '0' && c->serial[i] <= '9') ||
			   (c->serial[i] >= 'a' && c->serial[i] <= 'f') || c->serial[i] == '-');
	kta_ct_cert_free(c);
}

static void mode_leaf(const uint8_t *d, size_t n)
{
	size_t ll = (size_t)fuzz_take(&d, &n, 2), tl = 0, off = 0;
	struct kta_ct_leaf l, t;
	uint8_t *tile = NULL, h1[32], h2[32];
	enum kta_status r;

	if (ll > n)
		ll = n;
	r = kta_ct_leaf_parse(d, ll, &l, NULL);
	FUZZ_CHECK(r == KTA_OK || r == KTA_ERR_MALFORMED);
	r = kta_ct_extra_check(KTA_CT_X509_ENTRY, d + ll, n - ll, NULL);
	FUZZ_CHECK(r == KTA_OK || r == KTA_ERR_MALFORMED);
	r = kta_ct_extra_check(KTA_CT_PRECERT_ENTRY, d + ll, n - ll, NULL);
	FUZZ_CHECK(r == KTA_OK || r == KTA_ERR_MALFORMED);
	if (kta_ct_leaf_parse(d, ll, &l, NULL) != KTA_OK)
		return;
	FUZZ_CHECK(l.cert_len >= 1 && l.cert >= d && l.cert + l.cert_len <= d + ll);
	check_cert(&l);
	/* The same entry as a TileLeaf: TimestampedEntry, [pre_certificate], empty chain. */
	FUZZ_CHECK((tile = malloc(ll + 3 + 1 + 2)) != NULL);
	memcpy(tile, d + 2, ll - 2);
	tl = ll - 2;
	if (l.type == KTA_CT_PRECERT_ENTRY) {
		put_be(tile + tl, 1, 3);
		tile[tl + 3] = 0x30;
		tl += 4;
	}
	put_be(tile + tl, 0, 2);
	tl += 2;
	r = kta_ct_tile_leaf_parse(tile, tl, &off, &t, NULL);
	FUZZ_CHECK(r == KTA_OK && off == tl);
	same_leaf(&l, &t);
	FUZZ_CHECK(t.te_off == 0 && t.te_len == ll - 2 && t.n_chain == 0);
	FUZZ_CHECK(kta_ct_tile_leaf_hash(hasher, tile, &t, h1, NULL) == KTA_OK);
	kta_hash_leaf(hasher, d, ll, h2);
	FUZZ_CHECK(memcmp(h1, h2, 32) == 0);
	free(tile);
}

static void mode_tile(const uint8_t *d, size_t n)
{
	size_t off = 0, prev;
	struct kta_ct_leaf t, l;
	uint8_t *mtl, h1[32], h2[32];
	unsigned count = 0;

	while (off < n && count < 256) {
		prev = off;
		if (kta_ct_tile_leaf_parse(d, n, &off, &t, NULL) != KTA_OK) {
			FUZZ_CHECK(off == prev);
			break;
		}
		count++;
		FUZZ_CHECK(off > prev && off <= n);
		FUZZ_CHECK(t.te_off == prev && t.te_off + t.te_len <= off);
		FUZZ_CHECK(t.chain == NULL || t.chain + 32 * t.n_chain <= d + off);
		FUZZ_CHECK((mtl = malloc(t.te_len + 2)) != NULL);
		mtl[0] = 0;
		mtl[1] = 0;
		memcpy(mtl + 2, d + t.te_off, t.te_len);
		FUZZ_CHECK(kta_ct_leaf_parse(mtl, t.te_len + 2, &l, NULL) == KTA_OK);
		same_leaf(&t, &l);
		FUZZ_CHECK(kta_ct_tile_leaf_hash(hasher, d, &t, h1, NULL) == KTA_OK);
		kta_hash_leaf(hasher, mtl, t.te_len + 2, h2);
		FUZZ_CHECK(memcmp(h1, h2, 32) == 0);
		free(mtl);
	}
}

static void mode_key(const uint8_t *d, size_t n)
{
	int der = (int)(fuzz_take(&d, &n, 1) & 1);
	struct kta_ct_key *k = NULL, *k2 = NULL;
	const uint8_t *spki;
	size_t sl;
	uint8_t id[32], id2[32], root[32];
	char hex[65], b64[45];
	const char *alg;
	enum kta_status r;

	r = kta_ct_key_parse(d, n, der, &k, NULL);
	FUZZ_CHECK(r == KTA_OK || r == KTA_ERR_MALFORMED || r == KTA_ERR_LIMIT);
	if (r != KTA_OK)
		return;
	spki = kta_ct_key_spki(k, &sl);
	FUZZ_CHECK(sl > 0 && sl <= KTA_CT_SPKI_MAX);
	FUZZ_CHECK(kta_ct_key_parse(spki, sl, 1, &k2, NULL) == KTA_OK);
	kta_ct_key_log_id(k, id);
	kta_ct_key_log_id(k2, id2);
	FUZZ_CHECK(memcmp(id, id2, 32) == 0);
	alg = kta_ct_key_alg(k);
	FUZZ_CHECK(strcmp(alg, "ecdsa-p256") == 0 || strcmp(alg, "rsa") == 0);
	FUZZ_CHECK(strcmp(alg, kta_ct_key_alg(k2)) == 0);
	kta_hex_encode(id, 32, hex);
	kta_b64_encode(id, 32, b64);
	FUZZ_CHECK(kta_ct_key_check_log_id(k, hex, NULL) == KTA_OK);
	FUZZ_CHECK(kta_ct_key_check_log_id(k, b64, NULL) == KTA_OK);
	id[0] ^= 1;
	kta_hex_encode(id, 32, hex);
	FUZZ_CHECK(kta_ct_key_check_log_id(k, hex, NULL) == KTA_ERR_VERIFY);
	/* The input's own bytes as a signature over some head: never valid. */
	memset(root, 0x5a, sizeof(root));
	r = kta_ct_verify_tree_head(k, 1, 2, root, d, n < KTA_CT_SIG_MAX ? n : KTA_CT_SIG_MAX,
				    NULL);
	FUZZ_CHECK(r == KTA_ERR_VERIFY || r == KTA_ERR_MALFORMED);
	kta_ct_key_free(k);
	kta_ct_key_free(k2);
}

/* What get-entries delivered: per entry, its index, lengths and a hash of both. */
#define MAX_GOT 64
struct got {
	size_t n;
	unsigned stop; /* fn fails at this delivery (0 = never) */
	uint64_t index[MAX_GOT];
	size_t ll[MAX_GOT], el[MAX_GOT];
	uint8_t h[MAX_GOT][32];
};

static enum kta_status on_entry(void *ctx, uint64_t index, const uint8_t *leaf, size_t leaf_len,
				const uint8_t *extra, size_t extra_len, struct kta_error *err)
{
	struct got *g = ctx;
	struct kta_ct_leaf l;
	uint8_t a[32], b[32];

	FUZZ_CHECK(leaf_len <= KTA_CT_LEAF_MAX && extra_len <= KTA_CT_EXTRA_MAX);
	if (g->n < MAX_GOT) {
		g->index[g->n] = index;
		g->ll[g->n] = leaf_len;
		g->el[g->n] = extra_len;
		kta_sha256(hasher, leaf, leaf_len, a);
		kta_sha256(hasher, extra, extra_len, b);
		kta_hash_node(hasher, a, b, g->h[g->n]);
	}
	g->n++;
	if (kta_ct_leaf_parse(leaf, leaf_len, &l, NULL) == KTA_OK)
		(void)kta_ct_extra_check(l.type, extra, extra_len, NULL);
	if (g->stop != 0 && g->n == g->stop)
		return kta_error_set(err, KTA_ERR_VERIFY, "stop at %u", g->stop);
	return KTA_OK;
}

static void mode_entries(const uint8_t *d, size_t n)
{
	unsigned asked = (unsigned)(fuzz_take(&d, &n, 1) % 8) + 1;
	unsigned stop = (unsigned)(fuzz_take(&d, &n, 1) % 10);
	static struct got g1, g2;
	enum kta_status r1, r2;
	size_t i = 0, k;
	uint8_t *alt;
	static const char key[] = "\"entries\"", esc[] = "\"\\u0065ntries\"";

	memset(&g1, 0, sizeof(g1));
	g1.stop = stop;
	serve("get-entries", d, n);
	r1 = kta_ct_get_entries(client, 0, asked, on_entry, &g1, NULL);
	FUZZ_CHECK(r1 != KTA_ERR_USAGE && r1 != KTA_ERR_INTERNAL);
	if (r1 == KTA_OK)
		FUZZ_CHECK(g1.n == asked);
	/* The same JSON with the key escaped: the fast scanner refuses it. */
	while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'))
		i++;
	if (i >= n || d[i] != '{')
		return;
	for (i++; i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'); i++)
		;
	if (n - i < sizeof(key) - 1 || memcmp(d + i, key, sizeof(key) - 1) != 0)
		return;
	FUZZ_CHECK((alt = malloc(n + sizeof(esc))) != NULL);
	memcpy(alt, d, i);
	memcpy(alt + i, esc, sizeof(esc) - 1);
	k = n - i - (sizeof(key) - 1);
	memcpy(alt + i + sizeof(esc) - 1, d + i + sizeof(key) - 1, k);
	serve("get-entries", alt, i + sizeof(esc) - 1 + k);
	free(alt);
	memset(&g2, 0, sizeof(g2));
	g2.stop = stop;
	r2 = kta_ct_get_entries(client, 0, asked, on_entry, &g2, NULL);
	FUZZ_CHECK(r1 == r2);
	FUZZ_CHECK(g1.n == g2.n);
	for (k = 0; k < g1.n && k < MAX_GOT; k++)
		FUZZ_CHECK(g1.index[k] == g2.index[k] && g1.ll[k] == g2.ll[k] &&
			   g1.el[k] == g2.el[k] && memcmp(g1.h[k], g2.h[k], 32) == 0);
}

static void mode_proofs(const uint8_t *d, size_t n)
{
	uint8_t(*proof)[32] = NULL, hash[32];
	size_t len = 0;
	uint64_t index = 0;
	struct kta_ct_sth s1, s2;
	char *raw = NULL;
	size_t raw_len = 0;
	enum kta_status r, r2;

	serve("get-sth-consistency", d, n);
	serve("get-proof-by-hash", d, n);
	serve("get-sth", d, n);
	r = kta_ct_get_consistency(client, 5, 9, &proof, &len, NULL);
	FUZZ_CHECK(r == KTA_OK || r == KTA_ERR_MALFORMED || r == KTA_ERR_LIMIT);
	if (r == KTA_OK)
		FUZZ_CHECK((len == 0) == (proof == NULL) && len <= 64);
	free(proof);
	proof = NULL;
	memset(hash, 0xab, sizeof(hash));
	r = kta_ct_get_proof_by_hash(client, hash, 9, &index, &proof, &len, NULL);
	FUZZ_CHECK(r == KTA_OK || r == KTA_ERR_MALFORMED || r == KTA_ERR_LIMIT);
	if (r == KTA_OK)
		FUZZ_CHECK(len <= 64);
	free(proof);
	r = kta_ct_get_sth(client, &s1, &raw, &raw_len, NULL);
	r2 = kta_ct_sth_parse(d, n, &s2, NULL);
	if (n <= KTA_CT_STH_MAX)
		FUZZ_CHECK(r == r2);
	else
		FUZZ_CHECK(r == KTA_ERR_LIMIT);
	if (r == KTA_OK) {
		FUZZ_CHECK(raw_len == n && memcmp(raw, d, n) == 0);
		FUZZ_CHECK(s1.tree_size == s2.tree_size && s1.timestamp == s2.timestamp &&
			   memcmp(s1.root, s2.root, 32) == 0 && s1.sig_len == s2.sig_len &&
			   memcmp(s1.sig, s2.sig, s1.sig_len) == 0);
	}
	free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned sel;

	if (hasher == NULL)
		init();
	if (size == 0)
		return 0;
	sel = data[0] % 8;
	data++;
	size--;
	switch (sel) {
	case 0:
		mode_sth(data, size);
		break;
	case 1:
		mode_sign(data, size);
		break;
	case 2:
		mode_note(data, size);
		break;
	case 3:
		mode_leaf(data, size);
		break;
	case 4:
		mode_tile(data, size);
		break;
	case 5:
		mode_key(data, size);
		break;
	case 6:
		mode_entries(data, size);
		break;
	default:
		mode_proofs(data, size);
		break;
	}
	FUZZ_CHECK(!kta_hasher_failed(hasher));
	return 0;
}
