/*
 * ktaudit: evidence bundles for provable log misbehaviour (pure, no I/O).
 *
 * A bundle is one JSON object that anyone can check offline with only the
 * log's public key (`ktaudit verify evidence FILE --log-key VKEY`). The
 * monitor writes one next to each critical alert it can prove (docs/alerts.md
 * has the full specification, with examples):
 *
 *   {"type": "fork" | "rollback" | "root_mismatch" | "version_equivocation",
 *    "log": "<origin>",
 *    "checkpoints": ["<signed note>", ...],      the log's signed heads, as served
 *    "proofs": {...},                            fork with two sizes only
 *    "entries": [{"leaf_index": N,               root_mismatch, version_equivocation
 *                 "entry": "<base64 entry>",
 *                 "leaf_hash": "<b64>",          root_mismatch only
 *                 "audit_path": ["<b64>", ...]}],
 *    "explanation": "<text for humans; never trusted by the verifier>"}
 *
 *   type                 | members                 | what verification establishes
 *   ---------------------+-------------------------+------------------------------------------
 *   fork (same size)     | checkpoints [A, B]      | A and B are signed, same size, different
 *                        |                         | roots: no append-only log has both
 *   fork (two sizes)     | checkpoints [A, B],     | A (size m) and B (size n != m) are signed;
 *                        | proofs {old_range,      | old_range folds to A's root (so its
 *                        | range_index, new_hash,  | hashes ARE A's perfect subtrees, RFC 9162
 *                        | audit_path}             | 2.1.1); audit_path proves new_hash is the
 *                        |                         | same subtree in B (which must hold all of
 *                        |                         | it when n < m); the two differ: no
 *                        |                         | append-only log has both trees
 *   fork (two sizes,     | checkpoints [A, B],     | A (size m) and B (size n > m) are signed;
 *   consistency form)    | proofs {consistency}    | RFC 9162 2.1.4.2 run on the vector
 *                        |                         | yields B's signed root (so the hashes are
 *                        |                         | B's) and a root of B's first m leaves that
 *                        |                         | differs from A's: B does not extend A
 *   rollback             | checkpoints [first,     | both are signed and first is larger; the
 *                        | later]                  | order in time is the monitor's
 *                        |                         | observation (signatures carry no time)
 *   root_mismatch        | checkpoints [C],        | audit_path proves leaf_hash is leaf N of
 *                        | entries [one, with      | C's signed tree; SHA-256(0x00||entry) !=
 *                        | leaf_hash]              | leaf_hash: the entry (as the monitor was
 *                        |                         | served it) is not the logged one
 *   version_equivocation | checkpoints [C],        | both entries are in C's signed tree at
 *                        | entries [two]           | different leaves, parse, and claim the
 *                        |                         | same label and version with different
 *                        |                         | bytes (A8)
 *
 * Subtree proofs (fork, two sizes): old_range has popcount(m) hashes, the
 * perfect subtrees of the tree of size m, largest first (compact.h). Element
 * range_index covers leaves [b, b + 2^k) (kta_evidence_subtree). audit_path
 * is the inclusion path of that node in the tree of size n: the inclusion
 * proof of leaf b (RFC 9162 2.1.3.1) without its first k hashes, which lie
 * inside the subtree. It verifies like an inclusion proof of "leaf" b >> k
 * in a tree whose rightmost index is (n - 1) >> k (RFC 9162 2.1.3.2 run from
 * level k). A monitor with A's compact range and B's tiles can always build
 * one when B does not extend A: some subtree of A must differ in B, or the
 * roots would fold to the same value.
 *
 * Consistency form: "consistency" is PROOF(m, D[n]) (RFC 9162 2.1.4.1)
 * computed from B's tiles; when m is a power of two the hash of B's subtree
 * [0, m) comes first (the step 2 seed, which a verifier that trusted A would
 * take from A's root), see kta_merkle_consistency_roots. It needs only the
 * larger tree's hashes, so an auditor whose own tree is the larger one can
 * prove a smaller peer head is no prefix of it.
 *
 * Limits: a bundle is at most KTA_EVIDENCE_MAX_SIZE bytes; checkpoints as in
 * note.h; entries at most KTA_ENTRY_MAX_SIZE bytes; paths at most
 * KTA_MERKLE_MAX_PROOF hashes; explanation at most KTA_EVIDENCE_EXPLANATION_MAX
 * bytes. Unknown members are rejected (one spelling).
 *
 * Ownership: builders return a malloc'd NUL-terminated JSON text in *out
 * (caller free()s), *out_len without the NUL. Builders only check shapes;
 * call kta_evidence_verify on the result before publishing it.
 */
#ifndef KTAUDIT_EVIDENCE_H
#define KTAUDIT_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"
#include "ktaudit/key.h"

#define KTA_EVIDENCE_MAX_SIZE (16u * 1024 * 1024)
#define KTA_EVIDENCE_EXPLANATION_MAX 4096
/* Length of the statement kta_evidence_verify returns. */
#define KTA_EVIDENCE_STATEMENT_MAX 2048

enum kta_evidence_type {
	KTA_EVIDENCE_FORK = 1,
	KTA_EVIDENCE_ROLLBACK,
	KTA_EVIDENCE_ROOT_MISMATCH,
	KTA_EVIDENCE_VERSION_EQUIVOCATION,
};

/* "fork", "rollback", "root_mismatch", "version_equivocation" ("unknown"). */
KTA_API const char *kta_evidence_type_name(enum kta_evidence_type t);

struct kta_evidence_result {
	enum kta_evidence_type type;
	int strong; /* 1: proves misbehaviour by itself; 0: rollback (signed, order observed) */
	char statement[KTA_EVIDENCE_STATEMENT_MAX]; /* "the log signed two different trees ..." */
};

/*
 * Verifies bundle (buf, len) with the log's key. origin: the expected
 * origin line of the checkpoints (NULL = the key's name); the bundle's "log"
 * member must equal it. now: the current time (cosignatures from the future
 * are not an issue: witnesses are not checked). On KTA_OK the evidence holds
 * and *res says what it proves. KTA_ERR_VERIFY: it does not hold (a
 * signature, proof or the claim fails; the message says which).
 * KTA_ERR_MALFORMED / KTA_ERR_LIMIT: not a well-formed bundle.
 * KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_evidence_verify(const uint8_t *buf, size_t len,
					    const struct kta_vkey *log_key, const char *origin,
					    int64_t now, struct kta_evidence_result *res,
					    struct kta_error *err) KTA_WUR;

/*
 * The perfect subtree number i (0 = largest) of the tree of size m: leaves
 * [*begin, *begin + 2^*level). KTA_ERR_USAGE if i >= popcount(m).
 */
KTA_API enum kta_status kta_evidence_subtree(uint64_t m, size_t i, uint64_t *begin, unsigned *level,
					     struct kta_error *err) KTA_WUR;

/*
 * Verifies that node_hash is the hash of the perfect subtree [begin, begin +
 * 2^level) (aligned, begin + 2^level <= size) of the tree (size, root),
 * given its audit path (see "Subtree proofs"). KTA_OK or KTA_ERR_VERIFY.
 * level 0 is an ordinary inclusion proof.
 */
KTA_API enum kta_status kta_evidence_verify_subtree(uint64_t begin, unsigned level, uint64_t size,
						    const uint8_t node_hash[static 32],
						    const uint8_t (*path)[32], size_t path_len,
						    const uint8_t root[static 32],
						    struct kta_error *err) KTA_WUR;

/* fork, same size: two signed checkpoints (any order) of one size, different roots. */
KTA_API enum kta_status kta_evidence_fork_same_size(const char *origin, const uint8_t *note_a,
						    size_t len_a, const uint8_t *note_b,
						    size_t len_b, char **out, size_t *out_len,
						    struct kta_error *err) KTA_WUR;

/*
 * fork, two sizes: note_a (size m), note_b (size n != m); old_range: A's
 * compact range (popcount(m) hashes, largest first); range_index: the
 * subtree that differs; new_hash: that subtree's hash in B; path: its audit
 * path in B (see "Subtree proofs").
 */
KTA_API enum kta_status
kta_evidence_fork_prefix(const char *origin, const uint8_t *note_a, size_t len_a,
			 const uint8_t *note_b, size_t len_b, const uint8_t (*old_range)[32],
			 size_t nrange, size_t range_index, const uint8_t new_hash[static 32],
			 const uint8_t (*path)[32], size_t path_len, char **out, size_t *out_len,
			 struct kta_error *err) KTA_WUR;

/*
 * fork, two sizes, consistency form: note_a (size m), note_b (size n > m);
 * vec: the consistency vector from B's tiles (see "Consistency form"),
 * 1..KTA_MERKLE_MAX_PROOF + 1 hashes.
 */
KTA_API enum kta_status kta_evidence_fork_consistency(const char *origin, const uint8_t *note_a,
						      size_t len_a, const uint8_t *note_b,
						      size_t len_b, const uint8_t (*vec)[32],
						      size_t vec_len, char **out, size_t *out_len,
						      struct kta_error *err) KTA_WUR;

/* rollback: `first` was verified before `later`, which is smaller. */
KTA_API enum kta_status kta_evidence_rollback(const char *origin, const uint8_t *first,
					      size_t len_first, const uint8_t *later,
					      size_t len_later, char **out, size_t *out_len,
					      struct kta_error *err) KTA_WUR;

/* One entry with its inclusion path (for the builders below). */
struct kta_evidence_entry {
	uint64_t leaf_index;
	const uint8_t *entry; /* raw entry bytes as served */
	size_t entry_len;
	const uint8_t (*path)[32]; /* inclusion path under the bundle's checkpoint */
	size_t path_len;
};

/*
 * root_mismatch: under checkpoint note, the signed tree's leaf e->leaf_index
 * is leaf_hash (proven by e->path), while the served entry bytes e->entry
 * hash to something else.
 */
KTA_API enum kta_status kta_evidence_root_mismatch(const char *origin, const uint8_t *note,
						   size_t note_len,
						   const struct kta_evidence_entry *e,
						   const uint8_t leaf_hash[static 32], char **out,
						   size_t *out_len, struct kta_error *err) KTA_WUR;

/* version_equivocation: two entries, same label and version, both under note. */
KTA_API enum kta_status kta_evidence_version_equivocation(
    const char *origin, const uint8_t *note, size_t note_len, const struct kta_evidence_entry *a,
    const struct kta_evidence_entry *b, char **out, size_t *out_len, struct kta_error *err) KTA_WUR;

#endif
