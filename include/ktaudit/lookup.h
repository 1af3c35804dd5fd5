/*
 * ktaudit: key-directory lookup answers (pure, no I/O).
 *
 * What a directory hands a client asking for a label's keys (DESIGN.md
 * "Lookup answer"); usually served as the static file lookup/<name>, where
 * <name> is the label percent-encoded (kta_entry_label_encode):
 *
 *   {"checkpoint": "<signed note, cosignatures included>",
 *    "leaf_index": 123,
 *    "entry": "<base64 of a keydir/v1 entry>",
 *    "audit_path": ["<base64 hash>", ...]}
 *
 *   member      | rule
 *   ------------+--------------------------------------------------------------
 *   checkpoint  | JSON string, a C2SP signed note (tlog-checkpoint), at most
 *               | KTA_LOOKUP_CHECKPOINT_MAX bytes
 *   leaf_index  | JSON integer, 0 <= leaf_index < 2^63
 *   entry       | canonical base64 of 1..KTA_ENTRY_MAX_SIZE bytes
 *   audit_path  | array of at most KTA_LOOKUP_MAX_PATH canonical base64 32-byte
 *               | hashes, leaf to root (RFC 9162 2.1.3.1 PATH)
 *
 * Parsing is strict: one JSON object of at most KTA_LOOKUP_MAX_SIZE bytes,
 * exactly these four members (no unknown or duplicate member), canonical
 * base64. A wrong number of audit path hashes still parses; the inclusion
 * check rejects it.
 *
 * Verification (kta_lookup_verify), in order:
 *   1. the entry parses as keydir/v1 (kta_entry_parse)   MALFORMED "entry"
 *   2. the checkpoint verifies under the caller's policy  VERIFY/MALFORMED
 *      (log key, origin, witnesses and quorum, age)       "checkpoint"
 *   3. SHA-256(0x00 || entry) is leaf leaf_index of the   VERIFY
 *      checkpoint's tree (RFC 9162 2.1.3.2)
 *   4. when a label is asked for, the entry is for it     VERIFY
 *      (exact bytes)
 *
 * Ownership: kta_lookup_parse allocates *out (free with kta_lookup_free);
 * nothing borrows from the input. kta_lookup_verify fills a caller-owned
 * struct kta_lookup_result whose members it allocates; free them with
 * kta_lookup_result_free. The policy's keys are borrowed.
 */
#ifndef KTAUDIT_LOOKUP_H
#define KTAUDIT_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/compact.h"
#include "ktaudit/entry.h"
#include "ktaudit/error.h"

/* Largest lookup answer accepted, in bytes (a maximal entry in base64 is ~87 KiB). */
#define KTA_LOOKUP_MAX_SIZE (256 * 1024)
/* Largest checkpoint (signed note with cosignatures) in an answer, in bytes. */
#define KTA_LOOKUP_CHECKPOINT_MAX (64 * 1024)
/* Longest audit path: an inclusion proof in a tree of fewer than 2^64 leaves. */
#define KTA_LOOKUP_MAX_PATH 64

/* A parsed, not yet verified lookup answer. */
struct kta_lookup {
	uint8_t *checkpoint;   /* the signed note; NUL follows, not counted */
	size_t checkpoint_len; /* bytes in checkpoint */
	uint64_t leaf_index;   /* < 2^63 */
	uint8_t *entry;        /* decoded entry bytes */
	size_t entry_len;      /* 1..KTA_ENTRY_MAX_SIZE */
	uint8_t (*path)[32];   /* audit path, leaf to root; NULL when path_len is 0 */
	size_t path_len;       /* 0..KTA_LOOKUP_MAX_PATH */
};

/* A verified lookup answer. */
struct kta_lookup_result {
	struct kta_checkpoint_result cp; /* the verified checkpoint (cp.cp: origin, size, root) */
	struct kta_entry *entry;         /* the parsed entry (label, version, time, keys) */
	uint8_t *raw;                    /* the entry's bytes (for kta_entry_check_auth) */
	size_t raw_len;
	uint64_t leaf_index; /* the entry's index in the log */
};

/*
 * Parses a lookup answer (buf, len) (rules above). Errors: KTA_ERR_MALFORMED
 * naming the member ("lookup answer: \"entry\" is not canonical base64"),
 * KTA_ERR_LIMIT (answer, checkpoint or entry too large), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_lookup_parse(const uint8_t *buf, size_t len, struct kta_lookup **out,
					 struct kta_error *err) KTA_WUR;

/* Frees l and everything it owns; l may be NULL. */
KTA_API void kta_lookup_free(struct kta_lookup *l);

/*
 * Verifies l under checkpoint policy p (steps above). label (label_len
 * bytes, need not be NUL-terminated) is the label asked for, or NULL to
 * accept the entry's own label. On KTA_OK *res is filled; on failure it is
 * zeroed. Errors: KTA_ERR_MALFORMED (entry not keydir/v1, checkpoint not a
 * checkpoint), KTA_ERR_VERIFY (bad or missing signature, policy, not
 * included, wrong label), KTA_ERR_LIMIT, KTA_ERR_USAGE (no policy),
 * KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_lookup_verify(const struct kta_lookup *l,
					  const struct kta_checkpoint_policy *p, const char *label,
					  size_t label_len, struct kta_lookup_result *res,
					  struct kta_error *err) KTA_WUR;

/* Frees what kta_lookup_verify put in res and zeroes it; res may be NULL. */
KTA_API void kta_lookup_result_free(struct kta_lookup_result *res);

/* One entry of a label as an audit replayed it (borrowed). */
struct kta_lookup_seen {
	uint64_t version;
	uint64_t leaf_index;
	const uint8_t *entry; /* its bytes */
	size_t entry_len;
};

/*
 * Stale answers (A6): checks that res, an answer kta_lookup_verify accepted
 * (tree size S), gives its label's latest entry in an audited log.
 * seen[0..n) are every entry of the label that the audit replayed, by
 * increasing leaf index (kta_state_history), and audited is the tree
 * size it verified; rows at or beyond it (a catch-up not yet committed to a
 * checkpoint) are ignored. KTA_OK when the audit holds the answer's entry
 * (the same leaf index and bytes) and no later entry of the label below
 * audited. Errors:
 *   KTA_ERR_VERIFY  other bytes at that leaf (the answer comes from another
 *                   tree), or a later entry of the label: "stale" when it
 *                   precedes S (the answer contradicts its own checkpoint),
 *                   "outdated" otherwise (current at S, not now: served
 *                   before the change, or replayed to hide it); the message
 *                   names the later entry's version
 *   KTA_ERR_IO      audited < S: the audit cannot tell yet
 *   KTA_ERR_USAGE   seen is not sorted by leaf index
 * Pure: no I/O.
 */
KTA_API enum kta_status kta_lookup_check_latest(const struct kta_lookup_result *res,
						const struct kta_lookup_seen *seen, size_t n,
						uint64_t audited, struct kta_error *err) KTA_WUR;

/* How an answer's tree contradicts an audited one (kta_lookup_check_tree). */
struct kta_lookup_fork {
	int same_size;      /* 1: one size, two roots (kta_evidence_fork_same_size) */
	size_t range_index; /* else: the audited tree's perfect subtree that differs */
	uint8_t hash[32];   /* its hash in the answer's tree */
	/* its audit path there (kta_lookup_fork_path): first, if has_first,
	 * then l->path[path_offset..path_len) */
	int has_first;
	uint8_t first[32];
	size_t path_offset;
};

/*
 * Split views (A3, A4) seen through a lookup answer: checks the tree of
 * res, the answer l that kta_lookup_verify accepted (size S, root R),
 * against an audited tree: size, root and range, its compact range
 * (compact.h, borrowed). They agree when S == size and R == root. At
 * another size, every node whose hash the answer's inclusion proof gives
 * (the leaf's ancestors, computed, and their siblings, the path's hashes)
 * that is also a perfect subtree of the audited compact range must have
 * the same hash in both trees. Nodes of neither kind are not compared: an
 * answer shows only part of its tree. Errors:
 *   KTA_ERR_VERIFY  they cannot both be trees of one append-only log;
 *                   *fork says how, for kta_evidence_fork_same_size, or
 *                   kta_evidence_fork_prefix with the audited tree as A
 *                   and kta_lookup_fork_path as the audit path
 *   KTA_ERR_USAGE   range is not of size `size`, or l and res are not one
 *                   verified answer
 *   KTA_ERR_NOMEM, KTA_ERR_INTERNAL
 * Pure: no I/O.
 */
KTA_API enum kta_status kta_lookup_check_tree(const struct kta_lookup *l,
					      const struct kta_lookup_result *res, uint64_t size,
					      const uint8_t root[static 32],
					      const struct kta_compact_range *range,
					      struct kta_lookup_fork *fork,
					      struct kta_error *err) KTA_WUR;

/*
 * The audit path, in the answer's tree, of the node a two-size fork names
 * (see struct kta_lookup_fork): copies it to out, which has room for
 * KTA_LOOKUP_MAX_PATH + 1 hashes, and returns its length (0 for a
 * same-size fork).
 */
KTA_API size_t kta_lookup_fork_path(const struct kta_lookup *l, const struct kta_lookup_fork *fork,
				    uint8_t (*out)[32]);

#endif
