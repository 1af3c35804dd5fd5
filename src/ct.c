/*
 * Certificate Transparency: RFC 6962 keys, tree heads, leaves and
 * certificates, static-ct-api TileLeaf, and the RFC 6962 JSON API client.
 * See ktaudit/ct.h for the formats and ownership.
 */
#include "ktaudit/ct.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_util.h"
#include "ktaudit/encoding.h"
#include "ktaudit/proof.h"

enum ct_alg {
	CT_ECDSA_P256 = 3, /* TLS SignatureAlgorithm ecdsa */
	CT_RSA = 1,        /* TLS SignatureAlgorithm rsa */
};

struct kta_ct_key {
	EVP_PKEY *pkey;
	uint8_t *spki;
	size_t spki_len;
	uint8_t log_id[32];
	enum ct_alg alg;
};

struct kta_ct_client {
	struct kta_fetcher *f;
	char *base; /* ends in "/ct/v1/" */
	unsigned batch;
};

static uint64_t get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static int sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	if (ctx == NULL)
		return 0;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, a, alen) == 1 &&
	     (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
	     EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* --- keys ---------------------------------------------------------------- */

void kta_ct_key_free(struct kta_ct_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->spki);
	free(k);
}

/* Decodes a PEM "PUBLIC KEY" block (nothing but whitespace around it) to DER. */
static enum kta_status pem_to_der(const uint8_t *in, size_t len, uint8_t **der, size_t *der_len,
				  struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	char rest[8];
	int n;

	*der = NULL;
	if ((bio = BIO_new_mem_buf(in, (int)len)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "log key: out of memory");
		goto out;
	}
	if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1 || dlen <= 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "log key: PEM does not decode");
		goto out;
	}
	if (strcmp(name, "PUBLIC KEY") != 0 || header[0] != '\0') {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "log key: PEM block is not a plain \"PUBLIC KEY\"");
		goto out;
	}
	/* Strict: nothing may follow the END line but line breaks. */
	while ((n = BIO_read(bio, rest, (int)sizeof(rest))) > 0) {
		int i;

		for (i = 0; i < n; i++)
			if (rest[i] != '\n') {
				r = kta_error_set(err, KTA_ERR_MALFORMED,
						  "log key: data after the PEM block");
				goto out;
			}
	}
	if ((*der = malloc((size_t)dlen)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "log key: out of memory");
		goto out;
	}
	memcpy(*der, data, (size_t)dlen);
	*der_len = (size_t)dlen;
	r = KTA_OK;
out:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return r;
}

enum kta_status kta_ct_key_parse(const uint8_t *in, size_t len, int der, struct kta_ct_key **out,
				 struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	struct kta_ct_key *k = NULL;
	uint8_t *buf = NULL;
	unsigned char *re = NULL;
	size_t blen = 0;
	const unsigned char *p;
	char group[64];
	size_t glen = 0;
	int relen, bits;

	*out = NULL;
	if (in == NULL || len == 0)
		return kta_error_set(err, KTA_ERR_MALFORMED, "log key: empty");
	if (len > KTA_CT_KEY_INPUT_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "log key: longer than %d bytes",
				     KTA_CT_KEY_INPUT_MAX);
	if (der) {
		if ((buf = malloc(len)) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "log key: out of memory");
		memcpy(buf, in, len);
		blen = len;
	} else if (len >= 11 && memcmp(in, "-----BEGIN ", 11) == 0) {
		if ((r = pem_to_der(in, len, &buf, &blen, err)) != KTA_OK)
			return r;
	} else {
		if (in[len - 1] == '\n')
			len--;
		if ((buf = malloc(len / 4 * 3 + 1)) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "log key: out of memory");
		if (kta_b64_decode((const char *)in, len, buf, len / 4 * 3 + 1, &blen) != KTA_OK ||
		    blen == 0) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "log key: neither PEM nor canonical base64 DER");
			goto out;
		}
	}
	if (blen > KTA_CT_SPKI_MAX) {
		r = kta_error_set(err, KTA_ERR_LIMIT, "log key: SPKI longer than %d bytes",
				  KTA_CT_SPKI_MAX);
		goto out;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "log key: out of memory");
		goto out;
	}
	p = buf;
	k->pkey = d2i_PUBKEY(NULL, &p, (long)blen);
	if (k->pkey == NULL || p != buf + blen) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "log key: not a DER SubjectPublicKeyInfo (or trailing bytes)");
		goto out;
	}
	/* One spelling: the log ID hashes the DER, so it must re-encode to itself. */
	relen = i2d_PUBKEY(k->pkey, &re);
	if (relen < 0 || (size_t)relen != blen || memcmp(re, buf, blen) != 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "log key: SPKI is not canonical DER");
		goto out;
	}
	/* RFC 6962 2.1.4: ECDSA with NIST P-256, or RSA. */
	switch (EVP_PKEY_get_base_id(k->pkey)) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(k->pkey, "group", group, sizeof(group), &glen) !=
			1 ||
		    strcmp(group, "prime256v1") != 0) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "log key: ECDSA key is not on P-256");
			goto out;
		}
		k->alg = CT_ECDSA_P256;
		break;
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(k->pkey);
		if (bits < 2048 || bits > KTA_CT_RSA_MAX_BITS) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "log key: RSA key of %d bits (2048..%d accepted)", bits,
					  KTA_CT_RSA_MAX_BITS);
			goto out;
		}
		k->alg = CT_RSA;
		break;
	default:
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "log key: not an ECDSA P-256 or RSA key (RFC 6962 2.1.4)");
		goto out;
	}
	if (!sha256(buf, blen, NULL, 0, k->log_id)) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "log key: SHA-256 failed");
		goto out;
	}
	k->spki = buf;
	k->spki_len = blen;
	buf = NULL;
	*out = k;
	k = NULL;
	r = KTA_OK;
out:
	ERR_clear_error();
	OPENSSL_free(re);
	free(buf);
	kta_ct_key_free(k);
	return r;
}

void kta_ct_key_log_id(const struct kta_ct_key *k, uint8_t out[static 32])
{
	memcpy(out, k->log_id, 32);
}

const uint8_t *kta_ct_key_spki(const struct kta_ct_key *k, size_t *len)
{
	*len = k->spki_len;
	return k->spki;
}

const char *kta_ct_key_alg(const struct kta_ct_key *k)
{
	return k->alg == CT_RSA ? "rsa" : "ecdsa-p256";
}

enum kta_status kta_ct_key_check_log_id(const struct kta_ct_key *k, const char *log_id,
					struct kta_error *err)
{
	uint8_t want[32];
	char hex[65];
	enum kta_status r;

	r = kta_parse_hash(log_id, strlen(log_id), want, "log ID", err);
	if (r != KTA_OK)
		return r;
	if (!kta_ct_equal(want, k->log_id, 32)) {
		kta_hex_encode(k->log_id, 32, hex);
		return kta_error_set(
		    err, KTA_ERR_VERIFY,
		    "log key: its log ID is %s, not the expected one (RFC 6962 3.2)", hex);
	}
	return KTA_OK;
}

/* --- tree heads ---------------------------------------------------------- */

enum kta_status kta_ct_verify_tree_head(const struct kta_ct_key *k, uint64_t timestamp,
					uint64_t tree_size, const uint8_t root[static 32],
					const uint8_t *ds, size_t ds_len, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_VERIFY;
	uint8_t msg[50];
	EVP_MD_CTX *ctx = NULL;
	size_t slen;
	int rc;

	/* DigitallySigned (RFC 5246 4.7): hash, signature, opaque<0..2^16-1>. */
	if (ds_len < 4)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "tree head signature: %zu bytes, shorter than its header",
				     ds_len);
	slen = (size_t)get_be(ds + 2, 2);
	if (4 + slen != ds_len)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "tree head signature: declares %zu signature bytes, has %zu "
				     "(trailing or missing data)",
				     slen, ds_len - 4);
	if (ds[0] != 4)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "tree head signature: hash algorithm %u is not sha256 (4)",
				     (unsigned)ds[0]);
	if (ds[1] != (uint8_t)k->alg)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "tree head signature: signature algorithm %u does not match "
				     "the %s log key",
				     (unsigned)ds[1], kta_ct_key_alg(k));
	/* RFC 6962 3.5: v1, tree_hash, timestamp, tree_size, sha256_root_hash. */
	msg[0] = 0;
	msg[1] = 1;
	put_be64(msg + 2, timestamp);
	put_be64(msg + 10, tree_size);
	memcpy(msg + 18, root, 32);
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "tree head signature: out of memory");
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) != 1) {
		r = kta_error_set(err, KTA_ERR_INTERNAL,
				  "tree head signature: verifier setup failed");
		goto out;
	}
	/* 1 valid; 0 bad; < 0 undecodable signature (also bad). */
	rc = EVP_DigestVerify(ctx, ds + 4, slen, msg, sizeof(msg));
	if (rc != 1) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "tree head signature does not verify (size %llu, timestamp %llu)",
				  (unsigned long long)tree_size, (unsigned long long)timestamp);
		goto out;
	}
	r = KTA_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return r;
}

enum kta_status kta_ct_sth_parse(const uint8_t *buf, size_t len, struct kta_ct_sth *out,
				 struct kta_error *err)
{
	static const char *const keys[] = {"tree_size", "timestamp", "sha256_root_hash",
					   "tree_head_signature", NULL};
	enum kta_status r;
	json_t *j = NULL;
	uint8_t *b = NULL;
	size_t n = 0;
	struct kta_ct_sth s;

	memset(&s, 0, sizeof(s));
	if ((r = kta_json_load_object(buf, len, KTA_CT_STH_MAX, "get-sth", &j, err)) != KTA_OK)
		return r;
	if ((r = kta_json_only_keys(j, keys, "get-sth", err)) != KTA_OK ||
	    (r = kta_json_get_u64(j, "tree_size", "get-sth", &s.tree_size, err)) != KTA_OK ||
	    (r = kta_json_get_u64(j, "timestamp", "get-sth", &s.timestamp, err)) != KTA_OK ||
	    (r = kta_json_get_b64(j, "sha256_root_hash", "get-sth", 32, &b, &n, err)) != KTA_OK)
		goto out;
	if (n != 32) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "get-sth: \"sha256_root_hash\" is %zu bytes, want 32", n);
		goto out;
	}
	memcpy(s.root, b, 32);
	free(b);
	b = NULL;
	if ((r = kta_json_get_b64(j, "tree_head_signature", "get-sth", KTA_CT_SIG_MAX, &b, &n,
				  err)) != KTA_OK)
		goto out;
	memcpy(s.sig, b, n);
	s.sig_len = n;
	*out = s;
	r = KTA_OK;
out:
	free(b);
	json_decref(j);
	return r;
}

enum kta_status kta_ct_sth_verify(const struct kta_ct_key *k, const struct kta_ct_sth *sth,
				  struct kta_error *err)
{
	return kta_ct_verify_tree_head(k, sth->timestamp, sth->tree_size, sth->root, sth->sig,
				       sth->sig_len, err);
}

/* --- leaves -------------------------------------------------------------- */

/* A TLS reader: reads never go past end; errors name the field and offset. */
struct rd {
	const uint8_t *b;
	size_t len, off;
	const char *what;
	struct kta_error *err;
};

static enum kta_status rd_fail(struct rd *d, const char *field, size_t need)
{
	return kta_error_set(d->err, KTA_ERR_MALFORMED,
			     "%s: %s at offset %zu needs %zu bytes, %zu left", d->what, field,
			     d->off, need, d->len - d->off);
}

static enum kta_status rd_uint(struct rd *d, size_t n, const char *field, uint64_t *v)
{
	if (d->len - d->off < n)
		return rd_fail(d, field, n);
	*v = get_be(d->b + d->off, n);
	d->off += n;
	return KTA_OK;
}

/* opaque<min..2^(8*lb)-1>: a lb-byte length, then the bytes. */
static enum kta_status rd_vec(struct rd *d, size_t lb, size_t min, const char *field,
			      const uint8_t **p, size_t *n)
{
	uint64_t l = 0;
	size_t at = d->off;
	enum kta_status r;

	if ((r = rd_uint(d, lb, field, &l)) != KTA_OK)
		return r;
	if (l < min) {
		d->off = at;
		return kta_error_set(d->err, KTA_ERR_MALFORMED, "%s: %s at offset %zu is empty",
				     d->what, field, at);
	}
	if (d->len - d->off < l) {
		enum kta_status f = rd_fail(d, field, (size_t)l);

		d->off = at;
		return f;
	}
	*p = d->b + d->off;
	*n = (size_t)l;
	d->off += (size_t)l;
	return KTA_OK;
}

/* The TimestampedEntry from timestamp onwards (RFC 6962 3.4). */
static enum kta_status rd_timestamped(struct rd *d, struct kta_ct_leaf *l)
{
	enum kta_status r;
	uint64_t t = 0;
	const uint8_t *ikh;

	if ((r = rd_uint(d, 8, "timestamp", &l->timestamp)) != KTA_OK ||
	    (r = rd_uint(d, 2, "entry_type", &t)) != KTA_OK)
		return r;
	if (t == KTA_CT_X509_ENTRY) {
		l->type = KTA_CT_X509_ENTRY;
		memset(l->issuer_key_hash, 0, 32);
		r = rd_vec(d, 3, 1, "x509_entry", &l->cert, &l->cert_len);
	} else if (t == KTA_CT_PRECERT_ENTRY) {
		l->type = KTA_CT_PRECERT_ENTRY;
		if (d->len - d->off < 32)
			return rd_fail(d, "issuer_key_hash", 32);
		ikh = d->b + d->off;
		memcpy(l->issuer_key_hash, ikh, 32);
		d->off += 32;
		r = rd_vec(d, 3, 1, "precert tbs_certificate", &l->cert, &l->cert_len);
	} else {
		return kta_error_set(d->err, KTA_ERR_MALFORMED,
				     "%s: unknown entry_type %llu at offset %zu", d->what,
				     (unsigned long long)t, d->off - 2);
	}
	if (r != KTA_OK)
		return r;
	return rd_vec(d, 2, 0, "extensions", &l->ext, &l->ext_len);
}

enum kta_status kta_ct_leaf_parse(const uint8_t *in, size_t len, struct kta_ct_leaf *out,
				  struct kta_error *err)
{
	struct rd d = {in, len, 0, "MerkleTreeLeaf", err};
	struct kta_ct_leaf l;
	enum kta_status r;
	uint64_t v = 0;

	memset(&l, 0, sizeof(l));
	if (len > KTA_CT_LEAF_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "MerkleTreeLeaf: %zu bytes, over %zu", len,
				     (size_t)KTA_CT_LEAF_MAX);
	if ((r = rd_uint(&d, 1, "version", &v)) != KTA_OK)
		return r;
	if (v != 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "MerkleTreeLeaf: version %llu, want 0 (v1)",
				     (unsigned long long)v);
	if ((r = rd_uint(&d, 1, "leaf_type", &v)) != KTA_OK)
		return r;
	if (v != 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "MerkleTreeLeaf: leaf_type %llu, want 0 (timestamped_entry)",
				     (unsigned long long)v);
	if ((r = rd_timestamped(&d, &l)) != KTA_OK)
		return r;
	if (d.off != len)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "MerkleTreeLeaf: %zu trailing bytes at offset %zu",
				     len - d.off, d.off);
	*out = l;
	return KTA_OK;
}

enum kta_status kta_ct_extra_check(enum kta_ct_entry_type t, const uint8_t *in, size_t len,
				   struct kta_error *err)
{
	struct rd d = {in, len, 0, "extra_data", err};
	enum kta_status r;
	const uint8_t *chain, *p;
	size_t nchain, n;
	struct rd c;

	if (len > KTA_CT_EXTRA_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "extra_data: %zu bytes, over %zu", len,
				     (size_t)KTA_CT_EXTRA_MAX);
	/* RFC 6962 4.6: PrecertChainEntry starts with the pre_certificate. */
	if (t == KTA_CT_PRECERT_ENTRY &&
	    (r = rd_vec(&d, 3, 1, "pre_certificate", &p, &n)) != KTA_OK)
		return r;
	if ((r = rd_vec(&d, 3, 0, "certificate_chain", &chain, &nchain)) != KTA_OK)
		return r;
	if (d.off != len)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "extra_data: %zu trailing bytes at offset %zu", len - d.off,
				     d.off);
	c.b = chain;
	c.len = nchain;
	c.off = 0;
	c.what = "extra_data certificate_chain";
	c.err = err;
	while (c.off < c.len)
		if ((r = rd_vec(&c, 3, 1, "ASN.1Cert", &p, &n)) != KTA_OK)
			return r;
	return KTA_OK;
}

enum kta_status kta_ct_tile_leaf_parse(const uint8_t *tile, size_t len, size_t *off,
				       struct kta_ct_leaf *out, struct kta_error *err)
{
	struct rd d = {tile, len, *off, "TileLeaf", err};
	struct kta_ct_leaf l;
	enum kta_status r;
	const uint8_t *chain;
	size_t nchain;

	memset(&l, 0, sizeof(l));
	if (*off > len)
		return kta_error_set(err, KTA_ERR_USAGE, "TileLeaf: offset past the tile");
	l.te_off = *off;
	if ((r = rd_timestamped(&d, &l)) != KTA_OK)
		return r;
	l.te_len = d.off - l.te_off;
	if (l.type == KTA_CT_PRECERT_ENTRY &&
	    (r = rd_vec(&d, 3, 1, "pre_certificate", &l.precert, &l.precert_len)) != KTA_OK)
		return r;
	if ((r = rd_vec(&d, 2, 0, "certificate_chain", &chain, &nchain)) != KTA_OK)
		return r;
	if (nchain % 32 != 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "TileLeaf: certificate_chain of %zu bytes is not a list of "
				     "32-byte fingerprints",
				     nchain);
	l.chain = chain;
	l.n_chain = nchain / 32;
	*out = l;
	*off = d.off;
	return KTA_OK;
}

enum kta_status kta_ct_tile_leaf_hash(struct kta_hasher *h, const uint8_t *tile,
				      const struct kta_ct_leaf *l, uint8_t out[static 32],
				      struct kta_error *err)
{
	uint8_t *m;

	/* MerkleTreeLeaf = version v1 (0) || leaf_type timestamped_entry (0) || entry. */
	if (l->te_len > SIZE_MAX - 2 || (m = malloc(l->te_len + 2)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "TileLeaf: out of memory");
	m[0] = 0;
	m[1] = 0;
	memcpy(m + 2, tile + l->te_off, l->te_len);
	kta_hash_leaf(h, m, l->te_len + 2, out);
	free(m);
	if (kta_hasher_failed(h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "TileLeaf: SHA-256 failed");
	return KTA_OK;
}

/* --- certificates -------------------------------------------------------- */

void kta_ct_cert_free(struct kta_ct_cert *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c->names);
	free(c->issuer);
	free(c->subject);
	free(c->serial);
	free(c);
}

/*
 * Wraps a TBSCertificate in a Certificate with a placeholder algorithm and
 * an empty signature, so that OpenSSL's accessors can read it (RFC 6962
 * 3.2: the precert entry carries the TBS only). The signature is never used.
 */
static uint8_t *wrap_tbs(const uint8_t *tbs, size_t len, size_t *out_len)
{
	static const uint8_t tail[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
				       0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00, 0x03, 0x01, 0x00};
	size_t body, hl, i;
	uint8_t *o;

	if (len > ((size_t)1 << 24))
		return NULL;
	body = len + sizeof(tail);
	hl = body < 0x80 ? 2 : body < 0x100 ? 3 : body < 0x10000 ? 4 : 5;
	if ((o = malloc(hl + body)) == NULL)
		return NULL;
	o[0] = 0x30;
	if (hl == 2) {
		o[1] = (uint8_t)body;
	} else {
		o[1] = (uint8_t)(0x80 | (hl - 2));
		for (i = 0; i < hl - 2; i++)
			o[hl - 1 - i] = (uint8_t)(body >> (8 * i));
	}
	memcpy(o + hl, tbs, len);
	memcpy(o + hl + len, tail, sizeof(tail));
	*out_len = hl + body;
	return o;
}

static char *name_str(const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *s = NULL;
	long l;

	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		l = BIO_get_mem_data(b, &p);
		if (l >= 0 && (s = malloc((size_t)l + 1)) != NULL) {
			memcpy(s, p, (size_t)l);
			s[l] = '\0';
		}
	}
	BIO_free(b);
	return s;
}

/* Adds a DNS name if it is printable ASCII of 1..KTA_CT_NAME_MAX bytes, lowercased. */
static enum kta_status add_name(struct kta_ct_cert *c, const unsigned char *s, int len)
{
	char *n;
	int i;

	if (len <= 0 || len > KTA_CT_NAME_MAX || c->nnames >= KTA_CT_MAX_NAMES)
		return KTA_OK;
	for (i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return KTA_OK; /* not a DNS name: cannot match a watch */
	if ((n = malloc((size_t)len + 1)) == NULL)
		return KTA_ERR_NOMEM;
	for (i = 0; i < len; i++)
		n[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	n[len] = '\0';
	c->names[c->nnames++] = n;
	return KTA_OK;
}

static int asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	*out = (int64_t)timegm(&tm);
	return 1;
}

enum kta_status kta_ct_cert_parse(const struct kta_ct_leaf *l, struct kta_ct_cert **out,
				  struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	const char *what = l->type == KTA_CT_PRECERT_ENTRY ? "precertificate TBS" : "certificate";
	struct kta_ct_cert *c = NULL;
	uint8_t *wrapped = NULL, *ider = NULL, *sder = NULL, *kder = NULL, *idbuf = NULL;
	const unsigned char *p;
	size_t dlen = 0;
	X509 *x = NULL;
	GENERAL_NAMES *gens = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int crit = -1, i, ilen, slen, klen;
	const X509_NAME *subj;

	*out = NULL;
	if (l->type == KTA_CT_PRECERT_ENTRY) {
		if ((wrapped = wrap_tbs(l->cert, l->cert_len, &dlen)) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", what);
		p = wrapped;
	} else {
		p = l->cert;
		dlen = l->cert_len;
	}
	{
		const unsigned char *start = p;

		x = d2i_X509(NULL, &p, (long)dlen);
		if (x == NULL || (size_t)(p - start) != dlen) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: does not parse as X.509 DER",
					  what);
			goto out;
		}
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->names = calloc(KTA_CT_MAX_NAMES, sizeof(char *))) == NULL)
		goto nomem;
	/* Names: the SAN dNSNames; the subject CNs only when there is no SAN. */
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL && crit != -1) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "%s: subjectAltName does not parse or appears twice", what);
		goto out;
	}
	if (gens != NULL) {
		for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type == GEN_DNS &&
			    add_name(c, ASN1_STRING_get0_data(g->d.dNSName),
				     ASN1_STRING_length(g->d.dNSName)) != KTA_OK)
				goto nomem;
		}
	} else {
		subj = X509_get_subject_name(x);
		for (i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) {
			unsigned char *u = NULL;
			int ul = ASN1_STRING_to_UTF8(
			    &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
			enum kta_status ar = KTA_OK;

			if (ul > 0)
				ar = add_name(c, u, ul);
			OPENSSL_free(u);
			if (ar != KTA_OK)
				goto nomem;
		}
	}
	if ((c->issuer = name_str(X509_get_issuer_name(x))) == NULL ||
	    (c->subject = name_str(X509_get_subject_name(x))) == NULL)
		goto nomem;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL)
		goto nomem;
	if ((c->serial = strdup(hex)) == NULL)
		goto nomem;
	for (i = 0; c->serial[i] != '\0'; i++)
		if (c->serial[i] >= 'A' && c->serial[i] <= 'Z')
			c->serial[i] = (char)(c->serial[i] + 32);
	if (!asn1_time_unix(X509_get0_notBefore(x), &c->not_before) ||
	    !asn1_time_unix(X509_get0_notAfter(x), &c->not_after)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: validity does not parse", what);
		goto out;
	}
	klen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &kder);
	ilen = i2d_X509_NAME(X509_get_issuer_name(x), &ider);
	slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &sder);
	if (klen <= 0 || ilen <= 0 || slen <= 0)
		goto nomem;
	if (!sha256(kder, (size_t)klen, NULL, 0, c->spki_sha256) ||
	    !sha256(ider, (size_t)ilen, sder, (size_t)slen, c->id)) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "%s: SHA-256 failed", what);
		goto out;
	}
	*out = c;
	c = NULL;
	r = KTA_OK;
	goto out;
nomem:
	r = kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", what);
out:
	ERR_clear_error();
	GENERAL_NAMES_free(gens);
	BN_free(bn);
	OPENSSL_free(hex);
	OPENSSL_free(kder);
	OPENSSL_free(ider);
	OPENSSL_free(sder);
	free(idbuf);
	X509_free(x);
	free(wrapped);
	kta_ct_cert_free(c);
	return r;
}

static int lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

static int ieq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int kta_ct_name_matches(const char *watch, const char *name)
{
	size_t wl = strlen(watch), nl = strlen(name);

	if (wl == 0)
		return 0;
	if (watch[0] != '.')
		return wl == nl && ieq(watch, name, wl);
	/* ".example.org": strictly below it, so the name ends in the watch with a label before. */
	return nl > wl && ieq(name + nl - wl, watch, wl);
}

/*
 * 1 if watch[0..wl) (first byte already matched at p) is at p with stride s:
 * s = 1 plain bytes, 2 a BMPString (UCS-2BE), 4 a UniversalString (UCS-4BE),
 * whose ASCII characters kta_ct_cert_parse also turns into names (a subject
 * CN is converted with ASN1_STRING_to_UTF8). left = bytes from p to the end.
 */
static int match_stride(const uint8_t *p, size_t left, const char *watch, size_t wl, size_t s)
{
	size_t k, j;

	if (wl - 1 > (left - 1) / s)
		return 0;
	for (k = 1; k < wl; k++) {
		for (j = 1; j < s; j++)
			if (p[k * s - j] != 0)
				return 0;
		if (lower(p[k * s]) != lower((unsigned char)watch[k]))
			return 0;
	}
	return 1;
}

int kta_ct_may_match(const char *watch, const uint8_t *der, size_t len)
{
	size_t wl;
	int first;

	if (watch[0] == '.')
		watch++;
	wl = strlen(watch);
	if (wl == 0)
		return 1;
	if (wl > len)
		return 0;
	first = lower((unsigned char)watch[0]);
	{
		/* Candidates from memchr for both cases of the first byte (this runs on
		 * every entry of a replay, so it must be fast). */
		int up = first >= 'a' && first <= 'z' ? first - 32 : first;
		const uint8_t *end = der + len - wl + 1, *pl, *pu, *p;

		pl = memchr(der, first, (size_t)(end - der));
		pu = up != first ? memchr(der, up, (size_t)(end - der)) : NULL;
		while (pl != NULL || pu != NULL) {
			size_t left;

			p = pl == NULL ? pu : pu == NULL ? pl : pl < pu ? pl : pu;
			left = (size_t)(der + len - p);
			if (match_stride(p, left, watch, wl, 1) ||
			    match_stride(p, left, watch, wl, 2) ||
			    match_stride(p, left, watch, wl, 4))
				return 1;
			if (p == pl)
				pl = p + 1 < end ? memchr(p + 1, first, (size_t)(end - p - 1))
						 : NULL;
			else
				pu = p + 1 < end ? memchr(p + 1, up, (size_t)(end - p - 1)) : NULL;
		}
	}
	return 0;
}

/* --- client -------------------------------------------------------------- */

enum kta_status kta_ct_client_new(struct kta_fetcher *f, const char *base_url, unsigned batch,
				  struct kta_ct_client **out, struct kta_error *err)
{
	struct kta_ct_client *c;
	size_t n, i;
	int slash;

	*out = NULL;
	if (f == NULL || base_url == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "CT log: no fetcher or URL");
	n = strlen(base_url);
	if (n == 0 || n > KTA_CT_URL_MAX)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "CT log: URL empty or longer than %d bytes", KTA_CT_URL_MAX);
	if (strncmp(base_url, "https://", 8) != 0 && strncmp(base_url, "http://", 7) != 0 &&
	    strncmp(base_url, "file:///", 8) != 0)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "CT log: URL must start with https://, http:// or file:///");
	for (i = 0; i < n; i++)
		if (base_url[i] <= 0x20 || base_url[i] >= 0x7f || base_url[i] == '?' ||
		    base_url[i] == '#')
			return kta_error_set(err, KTA_ERR_USAGE,
					     "CT log: URL has a space, control character, query "
					     "or fragment at byte %zu",
					     i);
	if (batch == 0 || batch > KTA_CT_MAX_BATCH)
		return kta_error_set(err, KTA_ERR_USAGE, "CT log: batch %u not in 1..%u", batch,
				     KTA_CT_MAX_BATCH);
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->base = malloc(n + 8)) == NULL) {
		free(c);
		return kta_error_set(err, KTA_ERR_NOMEM, "CT log: out of memory");
	}
	slash = base_url[n - 1] == '/';
	snprintf(c->base, n + 8, "%s%sct/v1/", base_url, slash ? "" : "/");
	c->f = f;
	c->batch = batch;
	*out = c;
	return KTA_OK;
}

void kta_ct_client_free(struct kta_ct_client *c)
{
	if (c == NULL)
		return;
	free(c->base);
	free(c);
}

/* GETs base + path (path already formatted), capped at max bytes. */
static enum kta_status ct_get(struct kta_ct_client *c, const char *path, size_t max, uint8_t **body,
			      size_t *len, struct kta_error *err)
{
	char url[KTA_CT_URL_MAX + 256];
	enum kta_status r;

	snprintf(url, sizeof(url), "%s%s", c->base, path);
	r = kta_fetch_get(c->f, url, body, len, NULL, err);
	if (r != KTA_OK)
		return r;
	if (*len > max) {
		free(*body);
		*body = NULL;
		return kta_error_set(err, KTA_ERR_LIMIT, "%s: response of %zu bytes, over %zu", url,
				     *len, max);
	}
	return KTA_OK;
}

enum kta_status kta_ct_get_sth(struct kta_ct_client *c, struct kta_ct_sth *sth, char **raw,
			       size_t *raw_len, struct kta_error *err)
{
	uint8_t *b = NULL;
	size_t n = 0;
	enum kta_status r;

	if (raw != NULL)
		*raw = NULL;
	if ((r = ct_get(c, "get-sth", KTA_CT_STH_MAX, &b, &n, err)) != KTA_OK)
		return r;
	if ((r = kta_ct_sth_parse(b, n, sth, err)) != KTA_OK) {
		kta_error_prefix(err, "%sget-sth", c->base);
		free(b);
		return r;
	}
	if (raw != NULL) {
		*raw = (char *)b;
		*raw_len = n;
	} else {
		free(b);
	}
	return KTA_OK;
}

enum kta_status kta_ct_get_consistency(struct kta_ct_client *c, uint64_t first, uint64_t second,
				       uint8_t (**proof)[32], size_t *n, struct kta_error *err)
{
	char path[96];
	uint8_t *b = NULL;
	size_t len = 0;
	struct kta_consistency_proof *p = NULL;
	enum kta_status r;

	*proof = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "get-sth-consistency?first=%llu&second=%llu",
		 (unsigned long long)first, (unsigned long long)second);
	if ((r = ct_get(c, path, KTA_CT_PROOF_BODY_MAX, &b, &len, err)) != KTA_OK)
		return r;
	r = kta_proof_parse_consistency(b, len, &p, err);
	free(b);
	if (r != KTA_OK) {
		/* Keep r: kta_error_prefix returns INTERNAL when err is NULL. */
		(void)kta_error_prefix(err, "%s%s", c->base, path);
		return r;
	}
	*proof = p->hashes;
	*n = p->len;
	p->hashes = NULL;
	kta_consistency_proof_free(p);
	return KTA_OK;
}

enum kta_status kta_ct_get_proof_by_hash(struct kta_ct_client *c, const uint8_t hash[static 32],
					 uint64_t tree_size, uint64_t *index, uint8_t (**proof)[32],
					 size_t *n, struct kta_error *err)
{
	char path[256], b64[KTA_B64_ENCODED_LEN(32) + 1], enc[3 * 44 + 1];
	uint8_t *b = NULL;
	size_t len = 0, i, o = 0;
	struct kta_inclusion_proof *p = NULL;
	enum kta_status r;

	*proof = NULL;
	*n = 0;
	kta_b64_encode(hash, 32, b64);
	/* The hash is a query parameter: percent-encode '+', '/' and '='. */
	for (i = 0; b64[i] != '\0'; i++) {
		if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=') {
			snprintf(enc + o, 4, "%%%02X", (unsigned)b64[i]);
			o += 3;
		} else {
			enc[o++] = b64[i];
		}
	}
	enc[o] = '\0';
	snprintf(path, sizeof(path), "get-proof-by-hash?hash=%s&tree_size=%llu", enc,
		 (unsigned long long)tree_size);
	if ((r = ct_get(c, path, KTA_CT_PROOF_BODY_MAX, &b, &len, err)) != KTA_OK)
		return r;
	r = kta_proof_parse_inclusion(b, len, &p, err);
	free(b);
	if (r != KTA_OK) {
		(void)kta_error_prefix(err, "%s%s", c->base, path);
		return r;
	}
	if (!p->has_index) {
		kta_inclusion_proof_free(p);
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s%s: no \"leaf_index\"", c->base,
				     path);
	}
	*index = p->leaf_index;
	*proof = p->path;
	*n = p->path_len;
	p->path = NULL;
	kta_inclusion_proof_free(p);
	return KTA_OK;
}

/*
 * get-entries fast path. jansson dominates a replay's CPU time, so the common
 * shape {"entries":[{"leaf_input":"B64","extra_data":"B64"},...]} (any JSON
 * whitespace, members in either order, "\/" escapes) is scanned directly.
 * It accepts only bodies that the strict jansson path accepts with the same
 * values; anything else (another escape, another member, non-base64 bytes)
 * returns FAST_NO and the caller parses the body with jansson, so the two
 * never disagree. The whole body is scanned before any entry is delivered.
 */
#define FAST_NO 1
#define FAST_YES 0

struct span {
	const uint8_t *p;
	size_t n;
	int esc; /* contains "\/" */
};

static size_t skip_ws(const uint8_t *b, size_t len, size_t i)
{
	while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
		i++;
	return i;
}

static int lit(const uint8_t *b, size_t len, size_t *i, const char *t)
{
	size_t n = strlen(t);

	if (len - *i < n || memcmp(b + *i, t, n) != 0)
		return 0;
	*i += n;
	return 1;
}

/* 1 for the base64 alphabet and '=' (RFC 4648 4), by ASCII code. */
static const uint8_t b64_chars[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
};

static int b64ch(uint8_t c)
{
	return c < 128 && b64_chars[c];
}

/* A string of base64 characters and "\/" escapes, the opening quote at b[*i]. */
static int scan_b64_string(const uint8_t *b, size_t len, size_t *i, struct span *sp)
{
	size_t j = *i + 1;

	sp->esc = 0;
	sp->p = b + j;
	while (j < len && b[j] != '"') {
		if (b[j] == '\\') {
			if (j + 1 >= len || b[j + 1] != '/')
				return 0;
			sp->esc = 1;
			j += 2;
		} else if (b64ch(b[j])) {
			j++;
		} else {
			return 0;
		}
	}
	if (j >= len)
		return 0;
	sp->n = (size_t)(b + j - sp->p);
	*i = j + 1;
	return 1;
}

/* Scans the body into spans[2*k], spans[2*k+1] (leaf, extra); FAST_NO to fall back. */
static int scan_entries(const uint8_t *b, size_t len, struct span **out, size_t *count)
{
	struct span *sp = NULL, *ns;
	size_t i = 0, n = 0, cap = 0;

	*out = NULL;
	*count = 0;
	i = skip_ws(b, len, i);
	if (!lit(b, len, &i, "{"))
		return FAST_NO;
	i = skip_ws(b, len, i);
	if (!lit(b, len, &i, "\"entries\""))
		return FAST_NO;
	i = skip_ws(b, len, i);
	if (!lit(b, len, &i, ":"))
		return FAST_NO;
	i = skip_ws(b, len, i);
	if (!lit(b, len, &i, "["))
		return FAST_NO;
	i = skip_ws(b, len, i);
	if (i < len && b[i] != ']') {
		for (;;) {
			int have_leaf = 0, have_extra = 0, m;

			if (n == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				if ((ns = realloc(sp, cap * 2 * sizeof(*sp))) == NULL)
					goto no;
				sp = ns;
			}
			if (!lit(b, len, &i, "{"))
				goto no;
			for (m = 0; m < 2; m++) {
				struct span *dst;

				i = skip_ws(b, len, i);
				if (m == 1 && (i = skip_ws(b, len, i), !lit(b, len, &i, ",")))
					goto no;
				i = skip_ws(b, len, i);
				if (lit(b, len, &i, "\"leaf_input\"") && !have_leaf) {
					have_leaf = 1;
					dst = &sp[2 * n];
				} else if (lit(b, len, &i, "\"extra_data\"") && !have_extra) {
					have_extra = 1;
					dst = &sp[2 * n + 1];
				} else {
					goto no;
				}
				i = skip_ws(b, len, i);
				if (!lit(b, len, &i, ":"))
					goto no;
				i = skip_ws(b, len, i);
				if (i >= len || b[i] != '"' || !scan_b64_string(b, len, &i, dst))
					goto no;
			}
			i = skip_ws(b, len, i);
			if (!lit(b, len, &i, "}"))
				goto no;
			n++;
			i = skip_ws(b, len, i);
			if (lit(b, len, &i, ","))
				i = skip_ws(b, len, i);
			else
				break;
		}
	}
	if (!lit(b, len, &i, "]"))
		goto no;
	i = skip_ws(b, len, i);
	if (!lit(b, len, &i, "}"))
		goto no;
	if (skip_ws(b, len, i) != len)
		goto no;
	*out = sp;
	*count = n;
	return FAST_YES;
no:
	free(sp);
	return FAST_NO;
}

/* Decodes a span (unescaping "\/") into buf (capacity cap). */
static enum kta_status span_decode(const struct span *sp, char *tmp, uint8_t *buf, size_t cap,
				   size_t max, size_t *n)
{
	const char *src = (const char *)sp->p;
	size_t sl = sp->n, i, o = 0;

	if (sp->esc) {
		for (i = 0; i < sp->n; i++) {
			if (sp->p[i] == '\\')
				i++;
			tmp[o++] = (char)sp->p[i];
		}
		src = tmp;
		sl = o;
	}
	if (kta_b64_decode(src, sl, buf, cap, n) != KTA_OK)
		return KTA_ERR_MALFORMED;
	return *n > max ? KTA_ERR_LIMIT : KTA_OK;
}

static enum kta_status entries_fast(const struct span *sp, size_t n, uint64_t start, uint64_t asked,
				    enum kta_status (*fn)(void *, uint64_t, const uint8_t *, size_t,
							  const uint8_t *, size_t,
							  struct kta_error *),
				    void *ctx, uint64_t *got, struct kta_error *err)
{
	size_t i, maxs = 0, ll, el;
	uint8_t *leaf = NULL, *extra = NULL;
	char *tmp = NULL;
	enum kta_status r;

	if (n == 0 || n > asked)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "get-entries: %zu entries for a request of %llu from %llu", n,
				     (unsigned long long)asked, (unsigned long long)start);
	for (i = 0; i < 2 * n; i++)
		if (sp[i].n > maxs)
			maxs = sp[i].n;
	/* One buffer each for the whole page instead of two allocations per entry. */
	if ((leaf = malloc(maxs / 4 * 3 + 3)) == NULL ||
	    (extra = malloc(maxs / 4 * 3 + 3)) == NULL || (tmp = malloc(maxs + 1)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "get-entries: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		r = span_decode(&sp[2 * i], tmp, leaf, maxs / 4 * 3 + 3, KTA_CT_LEAF_MAX, &ll);
		if (r == KTA_OK)
			r = span_decode(&sp[2 * i + 1], tmp, extra, maxs / 4 * 3 + 3,
					KTA_CT_EXTRA_MAX, &el);
		if (r != KTA_OK) {
			r = kta_error_set(
			    err, r,
			    "get-entries: entry %llu: leaf_input or extra_data is not "
			    "canonical base64 within its limit",
			    (unsigned long long)start + (unsigned long long)i);
			goto out;
		}
		if ((r = fn(ctx, start + i, leaf, ll, extra, el, err)) != KTA_OK)
			goto out;
	}
	*got = n;
	r = KTA_OK;
out:
	free(leaf);
	free(extra);
	free(tmp);
	return r;
}

/* Hands the entries of one get-entries body to fn; *got = how many there were. */
static enum kta_status entries_body(const uint8_t *body, size_t len, uint64_t start, uint64_t asked,
				    enum kta_status (*fn)(void *, uint64_t, const uint8_t *, size_t,
							  const uint8_t *, size_t,
							  struct kta_error *),
				    void *ctx, uint64_t *got, struct kta_error *err)
{
	static const char *const top[] = {"entries", NULL};
	static const char *const ent[] = {"leaf_input", "extra_data", NULL};
	json_t *j = NULL, *arr, *e;
	uint8_t *leaf = NULL, *extra = NULL;
	size_t i, n, ll = 0, el = 0;
	enum kta_status r;

	if ((r = kta_json_load_object(body, len, KTA_CT_ENTRIES_BODY_MAX, "get-entries", &j,
				      err)) != KTA_OK)
		return r;
	if ((r = kta_json_only_keys(j, top, "get-entries", err)) != KTA_OK)
		goto out;
	arr = json_object_get(j, "entries");
	if (arr == NULL || !json_is_array(arr)) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "get-entries: no \"entries\" array");
		goto out;
	}
	n = json_array_size(arr);
	/* RFC 6962 4.6: a log may return fewer than asked, but none is no progress. */
	if (n == 0 || n > asked) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "get-entries: %zu entries for a request of %llu from %llu", n,
				  (unsigned long long)asked, (unsigned long long)start);
		goto out;
	}
	for (i = 0; i < n; i++) {
		char what[64];

		e = json_array_get(arr, i);
		snprintf(what, sizeof(what), "get-entries: entry %llu",
			 (unsigned long long)start + (unsigned long long)i);
		if (!json_is_object(e)) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "%s: not an object", what);
			goto out;
		}
		if ((r = kta_json_only_keys(e, ent, what, err)) != KTA_OK ||
		    (r = kta_json_get_b64(e, "leaf_input", what, KTA_CT_LEAF_MAX, &leaf, &ll,
					  err)) != KTA_OK ||
		    (r = kta_json_get_b64(e, "extra_data", what, KTA_CT_EXTRA_MAX, &extra, &el,
					  err)) != KTA_OK)
			goto out;
		if ((r = fn(ctx, start + i, leaf, ll, extra, el, err)) != KTA_OK)
			goto out;
		free(leaf);
		free(extra);
		leaf = extra = NULL;
	}
	*got = n;
	r = KTA_OK;
out:
	free(leaf);
	free(extra);
	json_decref(j);
	return r;
}

enum kta_status kta_ct_get_entries(struct kta_ct_client *c, uint64_t start, uint64_t end,
				   enum kta_status (*fn)(void *ctx, uint64_t index,
							 const uint8_t *leaf, size_t leaf_len,
							 const uint8_t *extra, size_t extra_len,
							 struct kta_error *err),
				   void *ctx, struct kta_error *err)
{
	char path[96];
	uint8_t *b = NULL;
	size_t len = 0;
	uint64_t got, want;
	enum kta_status r;

	if (start > end)
		return kta_error_set(err, KTA_ERR_USAGE, "get-entries: start %llu > end %llu",
				     (unsigned long long)start, (unsigned long long)end);
	while (start < end) {
		want = end - start < c->batch ? end - start : c->batch;
		snprintf(path, sizeof(path), "get-entries?start=%llu&end=%llu",
			 (unsigned long long)start, (unsigned long long)(start + want - 1));
		if ((r = ct_get(c, path, KTA_CT_ENTRIES_BODY_MAX, &b, &len, err)) != KTA_OK)
			return r;
		got = 0;
		{
			struct span *sp = NULL;
			size_t n = 0;

			if (len <= KTA_CT_ENTRIES_BODY_MAX &&
			    scan_entries(b, len, &sp, &n) == FAST_YES) {
				r = entries_fast(sp, n, start, want, fn, ctx, &got, err);
				free(sp);
			} else {
				r = entries_body(b, len, start, want, fn, ctx, &got, err);
			}
		}
		free(b);
		b = NULL;
		if (r != KTA_OK)
			return r;
		start += got;
	}
	return KTA_OK;
}
