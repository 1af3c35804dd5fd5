/*
 * ktaudit: Certificate Transparency (RFC 6962 v1 and C2SP static-ct-api):
 * log keys, signed tree heads, Merkle tree leaves, certificates (pure), and
 * a client for the RFC 6962 JSON API (I/O through a struct kta_fetcher).
 *
 * Log key (RFC 6962 3.2): the log's SubjectPublicKeyInfo, given as PEM
 * ("-----BEGIN PUBLIC KEY-----") or as the base64 DER published in log
 * lists. ECDSA on P-256 or RSA (2048..KTA_CT_RSA_MAX_BITS bits). The log ID
 * is SHA-256 of the DER SPKI.
 *
 * Tree head signature (RFC 6962 3.5), the 50 signed bytes:
 *
 *   offset | bytes | field
 *   -------+-------+-------------------------------------------
 *   0      | 1     | version = 0 (v1)
 *   1      | 1     | signature_type = 1 (tree_hash)
 *   2      | 8     | timestamp, ms since the epoch, big-endian
 *   10     | 8     | tree_size, big-endian
 *   18     | 32    | sha256_root_hash
 *
 * DigitallySigned (RFC 5246 4.7), tree_head_signature in get-sth:
 *
 *   | hash alg (1) = 4 sha256 | sig alg (1) = 3 ecdsa, 1 rsa | len (2, BE) | sig (len) |
 *
 * The signature algorithm must match the key; ECDSA signatures are DER
 * Ecdsa-Sig-Value, RSA is PKCS#1 v1.5 over SHA-256. Nothing may follow.
 *
 * get-sth body (RFC 6962 4.3): {"tree_size": N, "timestamp": MS,
 * "sha256_root_hash": "<b64 32>", "tree_head_signature": "<b64>"}; no other
 * member, at most KTA_CT_STH_MAX bytes.
 *
 * MerkleTreeLeaf (RFC 6962 3.4), get-entries "leaf_input":
 *
 *   | version (1) = 0 | leaf_type (1) = 0 | timestamp (8) | entry_type (2) |
 *   entry_type 0 x509_entry:    | cert len (3) | X.509 certificate DER |
 *   entry_type 1 precert_entry: | issuer_key_hash (32) | len (3) | TBSCertificate DER |
 *   | extensions len (2) | extensions |
 *
 * The leaf hash is SHA-256(0x00 || leaf_input) (RFC 6962 2.1).
 *
 * extra_data (RFC 6962 4.6): x509: certificate_chain<0..2^24-1> of
 * ASN.1Cert<1..2^24-1>; precert: pre_certificate ASN.1Cert, then
 * precertificate_chain<0..2^24-1>. Checked for structure, not used.
 *
 * TileLeaf (c2sp.org/static-ct-api "Log entries"), data tiles:
 *
 *   | timestamp (8) | entry_type (2) | x509: cert (3+n) / precert: issuer_key_hash (32) |
 *   TBS (3+n) | extensions (2+n) | precert only: pre_certificate (3+n) |
 *   certificate_chain len (2) | 32-byte fingerprints |
 *
 * A TileLeaf's MerkleTreeLeaf is 0x00 0x00 || its TimestampedEntry part.
 *
 * Ownership: kta_ct_key_parse and kta_ct_client_new allocate (free with the
 * matching _free, NULL is fine). struct kta_ct_leaf borrows from the input
 * buffer. kta_ct_cert_parse allocates a struct kta_ct_cert freed with
 * kta_ct_cert_free. The client borrows its fetcher.
 */
#ifndef KTAUDIT_CT_H
#define KTAUDIT_CT_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"
#include "ktaudit/fetch.h"
#include "ktaudit/hash.h"

/* Largest get-sth body accepted. */
#define KTA_CT_STH_MAX 8192
/* Largest key input (PEM or base64 DER) and DER SPKI accepted. */
#define KTA_CT_KEY_INPUT_MAX 8192
#define KTA_CT_SPKI_MAX 2048
/* Largest RSA log key, bits. */
#define KTA_CT_RSA_MAX_BITS 8192
/* Largest DigitallySigned (4 + an 8192-bit RSA signature). */
#define KTA_CT_SIG_MAX (4 + 1024)
/* Largest leaf_input / extra_data (a 2^24-1 certificate plus headers). */
#define KTA_CT_LEAF_MAX ((size_t)1 << 24 | 64)
#define KTA_CT_EXTRA_MAX ((size_t)1 << 25)
/* Largest get-entries / proof response body. */
#define KTA_CT_ENTRIES_BODY_MAX ((size_t)64 << 20)
#define KTA_CT_PROOF_BODY_MAX ((size_t)1 << 20)
/* Most entries asked for in one get-entries request. */
#define KTA_CT_MAX_BATCH 1024u
/* Most DNS names taken from one certificate; longest name kept. */
#define KTA_CT_MAX_NAMES 1000
#define KTA_CT_NAME_MAX 253
/* Longest base URL. */
#define KTA_CT_URL_MAX 2048

enum kta_ct_entry_type {
	KTA_CT_X509_ENTRY = 0,
	KTA_CT_PRECERT_ENTRY = 1,
};

struct kta_ct_key; /* opaque: the parsed SPKI and its log ID */

/* A signed tree head (get-sth, RFC 6962 4.3). */
struct kta_ct_sth {
	uint64_t tree_size;
	uint64_t timestamp; /* ms since the epoch */
	uint8_t root[32];
	uint8_t sig[KTA_CT_SIG_MAX]; /* the DigitallySigned bytes */
	size_t sig_len;
};

/* A parsed MerkleTreeLeaf or TileLeaf; pointers borrow from the input. */
struct kta_ct_leaf {
	uint64_t timestamp;
	enum kta_ct_entry_type type;
	const uint8_t *cert; /* x509: the certificate DER; precert: the TBSCertificate DER */
	size_t cert_len;
	uint8_t issuer_key_hash[32]; /* precert only; zero for x509 */
	const uint8_t *ext;          /* CtExtensions */
	size_t ext_len;
	/* TileLeaf only: the MerkleTreeLeaf is 0x00 0x00 || tile[te_off .. te_off+te_len) */
	size_t te_off, te_len;
	const uint8_t *precert; /* TileLeaf precert: the pre_certificate DER, else NULL */
	size_t precert_len;
	const uint8_t *chain; /* TileLeaf: n_chain 32-byte fingerprints */
	size_t n_chain;
};

/* What a monitor needs of a certificate. */
struct kta_ct_cert {
	char **names;  /* DNS names: SAN dNSName entries, else the subject CNs; lowercase */
	size_t nnames; /* 0..KTA_CT_MAX_NAMES */
	char *issuer;  /* issuer DN, RFC 2253 style, NUL-terminated */
	char *subject; /* subject DN, same */
	char *serial;  /* serial number, lowercase hex */
	int64_t not_before, not_after; /* Unix seconds */
	uint8_t spki_sha256[32];       /* SHA-256 of the DER SubjectPublicKeyInfo */
	uint8_t id[32]; /* SHA-256(issuer DN DER || serial DER): the same for a precertificate
			   and its certificate, used to report a certificate once */
};

/* --- keys and tree heads (pure) ------------------------------------------ */

/*
 * Parses a log key: PEM "PUBLIC KEY" or the base64 of the DER SPKI (one
 * trailing "\n" allowed), or raw DER when der is nonzero. Errors:
 * KTA_ERR_MALFORMED (not an SPKI, not canonical DER, unsupported algorithm
 * or curve), KTA_ERR_LIMIT, KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_ct_key_parse(const uint8_t *in, size_t len, int der,
					 struct kta_ct_key **out, struct kta_error *err) KTA_WUR;
KTA_API void kta_ct_key_free(struct kta_ct_key *k);
/* The log ID, SHA-256 of the DER SPKI (RFC 6962 3.2). */
KTA_API void kta_ct_key_log_id(const struct kta_ct_key *k, uint8_t out[static 32]);
/* The DER SPKI (borrowed from k). */
KTA_API const uint8_t *kta_ct_key_spki(const struct kta_ct_key *k, size_t *len);
/* "ecdsa-p256" or "rsa". */
KTA_API const char *kta_ct_key_alg(const struct kta_ct_key *k);
/*
 * Checks the key against a log ID from a log list (base64 or hex of 32
 * bytes). KTA_ERR_VERIFY when it differs, KTA_ERR_MALFORMED when it does
 * not decode.
 */
KTA_API enum kta_status kta_ct_key_check_log_id(const struct kta_ct_key *k, const char *log_id,
						struct kta_error *err) KTA_WUR;

/*
 * Verifies a DigitallySigned tree head signature (ds, ds_len) over the
 * RFC 6962 3.5 structure above. KTA_ERR_VERIFY for a bad signature, a
 * signature algorithm that does not match the key, or a hash other than
 * SHA-256; KTA_ERR_MALFORMED for a DigitallySigned that does not parse
 * (length, trailing bytes).
 */
KTA_API enum kta_status kta_ct_verify_tree_head(const struct kta_ct_key *k, uint64_t timestamp,
						uint64_t tree_size, const uint8_t root[static 32],
						const uint8_t *ds, size_t ds_len,
						struct kta_error *err) KTA_WUR;

/* Parses a get-sth body (strict; see above). */
KTA_API enum kta_status kta_ct_sth_parse(const uint8_t *buf, size_t len, struct kta_ct_sth *out,
					 struct kta_error *err) KTA_WUR;
/* Verifies sth's signature with k (kta_ct_verify_tree_head). */
KTA_API enum kta_status kta_ct_sth_verify(const struct kta_ct_key *k, const struct kta_ct_sth *sth,
					  struct kta_error *err) KTA_WUR;

/* --- leaves and certificates (pure) -------------------------------------- */

/* Parses a MerkleTreeLeaf (leaf_input). KTA_ERR_MALFORMED naming the field and offset. */
KTA_API enum kta_status kta_ct_leaf_parse(const uint8_t *in, size_t len, struct kta_ct_leaf *out,
					  struct kta_error *err) KTA_WUR;

/* Checks the structure of extra_data for a leaf of type t. */
KTA_API enum kta_status kta_ct_extra_check(enum kta_ct_entry_type t, const uint8_t *in, size_t len,
					   struct kta_error *err) KTA_WUR;

/*
 * Parses the TileLeaf at tile[*off..len) and advances *off past it on
 * success. te_off/te_len in *out locate its TimestampedEntry in tile.
 */
KTA_API enum kta_status kta_ct_tile_leaf_parse(const uint8_t *tile, size_t len, size_t *off,
					       struct kta_ct_leaf *out,
					       struct kta_error *err) KTA_WUR;

/*
 * The leaf hash of a TileLeaf parsed from tile: SHA-256(0x00 || 0x00 0x00 ||
 * TimestampedEntry). KTA_ERR_NOMEM, KTA_ERR_INTERNAL (hasher failed).
 */
KTA_API enum kta_status kta_ct_tile_leaf_hash(struct kta_hasher *h, const uint8_t *tile,
					      const struct kta_ct_leaf *l, uint8_t out[static 32],
					      struct kta_error *err) KTA_WUR;

/*
 * Parses the certificate (x509) or TBSCertificate (precert) of a leaf with
 * OpenSSL. Errors: KTA_ERR_MALFORMED (does not parse), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_ct_cert_parse(const struct kta_ct_leaf *l, struct kta_ct_cert **out,
					  struct kta_error *err) KTA_WUR;
KTA_API void kta_ct_cert_free(struct kta_ct_cert *c);

/*
 * Domain watch matching. A watch "example.org" matches the name
 * "example.org" (exactly, ASCII case-insensitive); a watch ".example.org"
 * matches any name below it ("a.example.org", "*.example.org", ...) but not
 * "example.org" itself. Returns 1 on a match.
 */
KTA_API int kta_ct_name_matches(const char *watch, const char *name);

/*
 * A cheap pre-filter: 0 when (der, len) cannot contain a name that `watch`
 * matches (its bytes, without a leading dot, occur nowhere in it, ASCII
 * case-insensitively, neither as such nor as UCS-2BE or UCS-4BE, the
 * BMPString and UniversalString forms a subject CN may take), else 1. Lets a
 * monitor skip parsing most certificates.
 */
KTA_API int kta_ct_may_match(const char *watch, const uint8_t *der, size_t len);

/* --- the RFC 6962 client (I/O) ------------------------------------------- */

struct kta_ct_client; /* opaque */

/*
 * A client for the log at base_url (https://, http:// or file://; "/ct/v1/"
 * is appended to it; a missing trailing '/' is added). f is borrowed.
 * batch: entries asked per get-entries request, 1..KTA_CT_MAX_BATCH.
 */
KTA_API enum kta_status kta_ct_client_new(struct kta_fetcher *f, const char *base_url,
					  unsigned batch, struct kta_ct_client **out,
					  struct kta_error *err) KTA_WUR;
KTA_API void kta_ct_client_free(struct kta_ct_client *c);

/*
 * GET get-sth, parsed into *sth (not verified). raw (may be NULL) receives
 * the body (malloc'd, NUL-terminated; caller frees).
 */
KTA_API enum kta_status kta_ct_get_sth(struct kta_ct_client *c, struct kta_ct_sth *sth, char **raw,
				       size_t *raw_len, struct kta_error *err) KTA_WUR;

/*
 * GET get-sth-consistency?first=&second= (RFC 6962 4.4). *proof is malloc'd
 * (caller frees; NULL when empty). Not verified.
 */
KTA_API enum kta_status kta_ct_get_consistency(struct kta_ct_client *c, uint64_t first,
					       uint64_t second, uint8_t (**proof)[32], size_t *n,
					       struct kta_error *err) KTA_WUR;

/*
 * GET get-proof-by-hash?hash=&tree_size= (RFC 6962 4.5). *index and the
 * audit path (malloc'd; caller frees) are set. Not verified.
 */
KTA_API enum kta_status kta_ct_get_proof_by_hash(struct kta_ct_client *c,
						 const uint8_t hash[static 32], uint64_t tree_size,
						 uint64_t *index, uint8_t (**proof)[32], size_t *n,
						 struct kta_error *err) KTA_WUR;

/*
 * Fetches entries [start, end) with get-entries (RFC 6962 4.6), asking for
 * at most `batch` per request and paging by what comes back (a log may
 * return fewer entries than asked, never zero and never more). fn sees each
 * entry once, in order, with leaf_input and extra_data decoded (borrowed for
 * the call); a status other than KTA_OK from it stops the walk.
 * Entries are unverified: the caller hashes them and checks the root.
 */
KTA_API enum kta_status kta_ct_get_entries(
    struct kta_ct_client *c, uint64_t start, uint64_t end,
    enum kta_status (*fn)(void *ctx, uint64_t index, const uint8_t *leaf, size_t leaf_len,
			  const uint8_t *extra, size_t extra_len, struct kta_error *err),
    void *ctx, struct kta_error *err) KTA_WUR;

#endif
