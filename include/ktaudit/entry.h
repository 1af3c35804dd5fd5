/*
 * ktaudit: key-directory entries, format keydir/v1 (pure, no I/O).
 *
 * One entry is one update of one label and carries the label's whole key set
 * after the update (DESIGN.md "Key-directory entry, version 1"; the full
 * specification is docs/protocol.md). An entry is UTF-8 text of at most
 * KTA_ENTRY_MAX_SIZE bytes; every line ends in exactly one "\n"; there is no
 * "\r", no empty line, no control character, nothing after the last "\n".
 * Fields are separated by exactly one space (0x20).
 *
 *   line   | content                                     | rule
 *   -------+---------------------------------------------+----------------------------------
 *   1      | keydir/v1                                   | exactly these 9 bytes
 *   2      | label <label>                               | a name of 1..1024 bytes (below)
 *   3      | version <n>                                 | decimal 1..2^63-1, no leading 0
 *   4      | time <t>                                    | decimal 0..2^63-1 (Unix seconds)
 *   5..    | key <alg> <b64 pub> <device>                | 0 or more; alg "ed25519" or
 *          |                                             | "x25519"; pub canonical base64 of
 *          |                                             | 32 bytes (44 chars); device a name
 *          |                                             | of 1..255 bytes
 *   then   | auth ed25519 <b64 pub> <b64 sig>            | 0 or more; pub 32 bytes (44
 *          |                                             | chars), sig 64 bytes (88 chars)
 *
 * Canonical order, so that one entry has exactly one spelling:
 *   - key lines strictly ascending by (algorithm name bytewise, then public
 *     key bytewise): "ed25519" keys first; a repeated (alg, pub) is rejected;
 *   - (alg, device) is unique: a device has at most one key per algorithm
 *     (an ed25519 and an x25519 key may share a device name);
 *   - auth lines strictly ascending by public key; a repeated signer is
 *     rejected.
 * Zero key lines mean the label has no keys (deleted).
 *
 * Names (label and device): valid UTF-8 (no overlongs, no surrogates) that
 * contains none of these code points: U+0000..U+0020 (controls and space),
 * U+007F..U+009F (DEL, C1 controls), U+00A0, U+1680, U+2000..U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000 (the other Unicode White_Space
 * characters) and U+FEFF (byte-order mark). The list is fixed here and does
 * not follow later Unicode versions, so every parser agrees. Everything else
 * (unassigned, private use, noncharacters) is opaque and allowed.
 *
 * Why unknown algorithms are rejected rather than carried opaquely: the key
 * set is what auditors compare; an algorithm whose key length and equality
 * are undefined would let two parsers disagree about an entry. A new
 * algorithm needs a new format version ("keydir/v2").
 *
 * Why the device name is mandatory: an optional field gives two spellings
 * (absent vs. present), and the device name is what tells a replacement
 * (same device, new key) from an addition.
 *
 * Auth signatures (DESIGN.md): Ed25519 (RFC 8032) over
 *     KTA_ENTRY_AUTH_CONTEXT ("keydir/v1 auth\n") || entry[0 : signed_len]
 * where signed_len is the number of bytes before the first auth line (the
 * whole entry when there is none). Auth lines sign the same bytes
 * independently, so adding or removing one does not invalidate the others.
 *
 * Lookup file names (kta_entry_label_encode): bytes in [A-Za-z0-9._~-] are
 * copied, except a '.' at the start; every other byte is written as '%' and
 * two UPPERCASE hex digits. So no name is empty, starts with '.', or holds
 * '/', '\\', '%'-sequences other than the encoder's own, or controls:
 * "lookup/<name>" never leaves lookup/. The decoder accepts exactly the
 * encoder's output (one spelling) of a valid label.
 *
 * Ownership: kta_entry_parse returns one malloc'd block (struct, key and
 * auth arrays, strings); free it with kta_entry_free and nothing else, and
 * never pass kta_entry_free a struct built by the caller.
 * kta_entry_parse_buf instead parses into a reusable struct kta_entry_buf
 * (kta_entry_buf_new, kta_entry_buf_free): the entry it returns BORROWS the
 * buffer's storage and is valid until the next kta_entry_parse_buf into the
 * same buffer or its kta_entry_buf_free; never pass it to kta_entry_free.
 * Serialize, sign and diff outputs are malloc'd and freed by the caller with
 * free(); diff items BORROW key pointers from the input arrays, which must
 * outlive them.
 */
#ifndef KTAUDIT_ENTRY_H
#define KTAUDIT_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

/* Largest entry in bytes: tlog-tiles entry bundles use 16-bit lengths. */
#define KTA_ENTRY_MAX_SIZE 65535
/* Longest label and device name in bytes. */
#define KTA_LABEL_MAX_LEN 1024
#define KTA_DEVICE_MAX_LEN 255
/* Largest version and time: fits a signed 64-bit integer (SQLite, Java) and
 * version + 1 never overflows. */
#define KTA_ENTRY_MAX_VERSION ((uint64_t)INT64_MAX)
#define KTA_ENTRY_MAX_TIME ((uint64_t)INT64_MAX)
/* Longest percent-encoded label, without the NUL (every byte as "%XX"). */
#define KTA_LABEL_ENCODED_MAX (3 * KTA_LABEL_MAX_LEN)
/* The first line, without its "\n". */
#define KTA_ENTRY_HEADER "keydir/v1"
/* Domain separation prefix of auth signatures. */
#define KTA_ENTRY_AUTH_CONTEXT "keydir/v1 auth\n"

enum kta_entry_alg {
	KTA_ENTRY_ALG_ED25519 = 1, /* "ed25519": Ed25519 signing key, RFC 8032 */
	KTA_ENTRY_ALG_X25519 = 2,  /* "x25519": X25519 key-agreement key, RFC 7748 */
};

struct kta_entry_key {
	enum kta_entry_alg alg; /* algorithm */
	uint8_t pub[32];        /* raw public key */
	char *device;           /* NUL-terminated device name, never NULL */
};

struct kta_entry_auth {
	uint8_t pub[32]; /* Ed25519 public key of the signer */
	uint8_t sig[64]; /* Ed25519 signature (see "Auth signatures") */
};

struct kta_entry {
	char *label;                  /* NUL-terminated label */
	uint64_t version;             /* 1..KTA_ENTRY_MAX_VERSION */
	uint64_t time;                /* 0..KTA_ENTRY_MAX_TIME, Unix seconds */
	struct kta_entry_key *keys;   /* canonical order; NULL when nkeys == 0 */
	size_t nkeys;                 /* 0 means deleted */
	struct kta_entry_auth *auths; /* ascending by pub; NULL when nauths == 0 */
	size_t nauths;                /* number of auth lines */
	size_t signed_len;            /* bytes before the first auth line */
};

/*
 * Parses (buf, len) as one keydir/v1 entry. On success *out is a new entry
 * (free with kta_entry_free). Every error is KTA_ERR_MALFORMED with a message
 * "line N: reason" (or naming the size for an entry over
 * KTA_ENTRY_MAX_SIZE), or KTA_ERR_NOMEM. *out is NULL on failure.
 */
KTA_API enum kta_status kta_entry_parse(const uint8_t *buf, size_t len, struct kta_entry **out,
					struct kta_error *err) KTA_WUR;

/*
 * Checks (buf, len) against every rule of kta_entry_parse without building
 * the entry: KTA_OK exactly when kta_entry_parse accepts the bytes,
 * KTA_ERR_MALFORMED exactly when it rejects them (tests/unit/test_entry.c
 * and fuzz/fuzz_entry_fast.c compare the two). One pass over the bytes, no
 * allocation, no global state (thread-safe): the verify-only replay's
 * check. On rejection, when err is not NULL, the message is the parser's
 * (the bytes are parsed again to word it, which allocates; rejections are
 * rare); KTA_ERR_INTERNAL if the parser accepts what this rejected (a bug).
 */
KTA_API enum kta_status kta_entry_validate(const uint8_t *buf, size_t len,
					   struct kta_error *err) KTA_WUR;

/* Storage for kta_entry_parse_buf, reused from entry to entry (opaque). */
struct kta_entry_buf;

/* Creates an empty buffer (*out; free with kta_entry_buf_free). KTA_ERR_NOMEM. */
KTA_API enum kta_status kta_entry_buf_new(struct kta_entry_buf **out,
					  struct kta_error *err) KTA_WUR;

/* Frees b and the storage of the entry last parsed into it; b may be NULL. */
KTA_API void kta_entry_buf_free(struct kta_entry_buf *b);

/*
 * Parses (buf, len) like kta_entry_parse, into b's storage: the same
 * acceptance, the same status and message on rejection, and on success an
 * entry *out equal field by field to kta_entry_parse's (NUL-terminated label
 * and device names; keys and auths NULL when there are none). *out borrows
 * b: it stays valid until the next kta_entry_parse_buf into b or
 * kta_entry_buf_free(b) (a rejection also invalidates the previous entry);
 * *out is NULL on failure. One pass over the bytes, as kta_entry_validate;
 * b's storage only grows when an entry needs more than every earlier one
 * (never beyond what KTA_ENTRY_MAX_SIZE bytes can need, under 256 KiB), so
 * after a few entries there is no allocation. One buffer per thread; different buffers may be
 * used concurrently. Errors: KTA_ERR_MALFORMED, KTA_ERR_NOMEM, KTA_ERR_USAGE
 * (b NULL, or buf NULL with len > 0).
 */
KTA_API enum kta_status kta_entry_parse_buf(const uint8_t *buf, size_t len, struct kta_entry_buf *b,
					    const struct kta_entry **out,
					    struct kta_error *err) KTA_WUR;

/* Frees an entry returned by kta_entry_parse; e may be NULL. */
KTA_API void kta_entry_free(struct kta_entry *e);

/*
 * Writes e in its one spelling, the byte-exact inverse of kta_entry_parse.
 * e->signed_len is ignored (it follows from the other fields). e must obey
 * every rule above: KTA_ERR_USAGE names the field ("line N: ...") that does
 * not; KTA_ERR_LIMIT if the result would exceed KTA_ENTRY_MAX_SIZE;
 * KTA_ERR_NOMEM. On success *out is malloc'd (caller frees) and holds
 * *out_len bytes (no NUL added).
 */
KTA_API enum kta_status kta_entry_serialize(const struct kta_entry *e, uint8_t **out,
					    size_t *out_len, struct kta_error *err) KTA_WUR;

/*
 * The length of e's one spelling (what kta_entry_serialize would write), for
 * an e that obeys the format (not checked: a parsed entry, or one that
 * kta_entry_serialize accepts). Arithmetic only: a cheap consistency check
 * of a parse against the bytes it came from.
 */
KTA_API size_t kta_entry_spelled_len(const struct kta_entry *e);

/*
 * Packed form: every field of an entry but its version, in binary (the
 * state database keeps replayed entries this way, state.h): about 60% of
 * the text for a typical entry, and always shorter than the text:
 *
 *   varint label length | label | varint time | varint key count |
 *   per key: 1 byte alg (enum kta_entry_alg) | 32 bytes pub | 1 byte device
 *            length (1..255) | device |
 *   varint auth count | per auth: 32 bytes pub | 64 bytes sig
 *
 * (varint: encoding.h). Because the text format has one spelling, the text
 * is rebuilt byte for byte from the packed form and the version.
 * kta_entry_pack writes e (which must obey the format: a parsed entry) to
 * out, capacity cap, and sets *len: KTA_OK, or KTA_ERR_LIMIT when it does
 * not fit or a field is too long to pack (*len 0, out holds nothing
 * useful; err, which may be NULL, says which).
 * kta_entry_unpack rebuilds the text of the packed entry (p, len) with the
 * given version: *out is malloc'd (caller frees) and holds *out_len bytes;
 * KTA_ERR_MALFORMED when (p, len) is not exactly one packed entry of a
 * valid entry (truncated, trailing bytes, a NUL in a name, or a field the
 * format forbids, named in the message), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_entry_pack(const struct kta_entry *e, uint8_t *out, size_t cap,
				       size_t *len, struct kta_error *err) KTA_WUR;
KTA_API enum kta_status kta_entry_unpack(const uint8_t *p, size_t len, uint64_t version,
					 uint8_t **out, size_t *out_len,
					 struct kta_error *err) KTA_WUR;

/*
 * Adds an auth line by the Ed25519 key with 32-byte `seed` to the entry
 * (raw, raw_len), which may already have auth lines: the signature covers
 * KTA_ENTRY_AUTH_CONTEXT || raw[0 : signed_len] and the line is inserted in
 * canonical order. On success *out (malloc'd, caller frees) holds the new
 * entry. Errors: KTA_ERR_MALFORMED (raw does not parse), KTA_ERR_USAGE (the
 * key has already signed), KTA_ERR_LIMIT (result too large), KTA_ERR_NOMEM,
 * KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_entry_sign(const uint8_t *raw, size_t raw_len,
				       const uint8_t seed[static 32], uint8_t **out,
				       size_t *out_len, struct kta_error *err) KTA_WUR;

/*
 * Verifies auth line i of e. raw must be the bytes e was parsed from.
 * Returns KTA_OK, KTA_ERR_VERIFY ("line N: auth signature by <b64> does not
 * verify"; also for a public key that is not a valid Ed25519 point),
 * KTA_ERR_USAGE (i out of range, raw shorter than e->signed_len),
 * KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_entry_auth_verify(const struct kta_entry *e, const uint8_t *raw,
					      size_t raw_len, size_t i,
					      struct kta_error *err) KTA_WUR;

/*
 * The outcome of the authorization check (DESIGN.md, A11). Signatures are
 * checked first: one auth line that does not verify makes the result
 * BAD_SIGNATURE whatever else the entry carries, because a forged or broken
 * signature is itself a finding.
 */
enum kta_auth_result {
	KTA_AUTH_FIRST_VERSION, /* version 1: needs no authorization; all auth lines verify */
	KTA_AUTH_OWNER,         /* an auth line by an ed25519 key of prev verifies */
	KTA_AUTH_UNAUTHORIZED,  /* no auth line by an ed25519 key of prev (also: none at all) */
	KTA_AUTH_BAD_SIGNATURE, /* some auth line does not verify (see the report) */
	KTA_AUTH_PREV_UNKNOWN,  /* version > 1 but prev == NULL: every auth line verifies
				   (e->auths lists exactly the verified signers); the caller
				   decides whether one of them was a key of the previous version */
};

/* Details of kta_entry_check_auth_report. Indices are SIZE_MAX when unset. */
struct kta_entry_auth_report {
	enum kta_auth_result result;
	size_t nverified;  /* auth lines whose signature verifies */
	size_t nbad;       /* auth lines whose signature does not verify */
	size_t bad_auth;   /* index in e->auths of the first bad auth line */
	size_t bad_line;   /* its 1-based line number in the entry (0 when none) */
	size_t owner_auth; /* index of the first verified auth by an ed25519 key of prev */
};

/*
 * Decides whether entry e (parsed from raw, raw_len) is authorized with
 * respect to prev, the label's previous version (NULL when unknown or when
 * e->version == 1). An auth line counts as the owner's only if its key is an
 * "ed25519" key of prev: an x25519 key with the same bytes, or a key that is
 * only in e's own key set, does not authorize. A prev with zero keys
 * (deleted) authorizes nothing, so a re-created label is UNAUTHORIZED.
 * Preconditions (KTA_ERR_USAGE otherwise): raw is exactly the serialization
 * of e (compared byte for byte when e has auth lines; not read when it has
 * none, so raw may then be NULL); prev, when given, has e's label and a
 * smaller version (normally e->version - 1; the monitor reports skipped
 * versions itself, A8) and e->version > 1. Returns KTA_OK with the result in *res / *rep; any other
 * status means no result (KTA_ERR_NOMEM, KTA_ERR_INTERNAL).
 */
KTA_API enum kta_status kta_entry_check_auth(const struct kta_entry *e, const uint8_t *raw,
					     size_t raw_len, const struct kta_entry *prev,
					     enum kta_auth_result *res,
					     struct kta_error *err) KTA_WUR;

/* The same check, with the details (which auth line failed, counts). */
KTA_API enum kta_status kta_entry_check_auth_report(const struct kta_entry *e, const uint8_t *raw,
						    size_t raw_len, const struct kta_entry *prev,
						    struct kta_entry_auth_report *rep,
						    struct kta_error *err) KTA_WUR;

/* Key-set changes between two versions of a label (kta_entry_keys_diff). */
enum kta_entry_change_kind {
	KTA_ENTRY_KEY_ADDED = 1, /* (alg, pub) only in `after` */
	KTA_ENTRY_KEY_REMOVED,   /* (alg, pub) only in `before` */
	KTA_ENTRY_KEY_REPLACED,  /* a removed and an added key with the same (alg, device) */
	KTA_ENTRY_KEY_RENAMED,   /* same (alg, pub), different device name; not a key change */
};

struct kta_entry_key_change {
	enum kta_entry_change_kind kind;
	const struct kta_entry_key *before; /* borrowed; NULL for ADDED */
	const struct kta_entry_key *after;  /* borrowed; NULL for REMOVED */
};

/*
 * Lists the changes from key set `before` to key set `after` (either may be
 * empty: NULL, 0). Keys are identified by (alg, pub). Items are ordered by
 * kind (ADDED, REMOVED, REPLACED, RENAMED) and, within a kind, by the
 * canonical order of `after` (ADDED) or `before` (the others). Both sets must
 * be canonical as in a parsed entry (KTA_ERR_USAGE otherwise). On success
 * *out is malloc'd (NULL when *nout == 0; caller frees with free()).
 */
KTA_API enum kta_status kta_entry_keys_diff(const struct kta_entry_key *before, size_t nbefore,
					    const struct kta_entry_key *after, size_t nafter,
					    struct kta_entry_key_change **out, size_t *nout,
					    struct kta_error *err) KTA_WUR;

/* The line name of an algorithm ("ed25519", "x25519"), or NULL. */
KTA_API const char *kta_entry_alg_name(enum kta_entry_alg alg);

/*
 * Checks (s, len) against the label rules above. KTA_OK or
 * KTA_ERR_MALFORMED with the reason and byte offset.
 */
KTA_API enum kta_status kta_entry_label_check(const char *s, size_t len,
					      struct kta_error *err) KTA_WUR;

/*
 * Percent-encodes the label (s, len) for "lookup/<name>" (rules above) into
 * out, NUL-terminated, and sets *out_len. KTA_ERR_MALFORMED if (s, len) is
 * not a valid label.
 */
KTA_API enum kta_status kta_entry_label_encode(const char *s, size_t len,
					       char out[static KTA_LABEL_ENCODED_MAX + 1],
					       size_t *out_len, struct kta_error *err) KTA_WUR;

/*
 * Decodes a lookup file name: accepts exactly what kta_entry_label_encode
 * produces for some valid label (uppercase hex only; no '%XX' for a byte
 * that must be literal; "%2E" only at the start) and writes the label,
 * NUL-terminated, into out. KTA_ERR_MALFORMED with the offset otherwise.
 */
KTA_API enum kta_status kta_entry_label_decode(const char *in, size_t in_len,
					       char out[static KTA_LABEL_MAX_LEN + 1],
					       size_t *out_len, struct kta_error *err) KTA_WUR;

#endif
