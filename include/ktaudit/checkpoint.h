/*
 * ktaudit: C2SP tlog-checkpoint bodies, tlog-cosignature (cosignature/v1)
 * and the k-of-n witness policy (pure, no I/O; the caller supplies "now").
 *
 * Checkpoint note text (c2sp.org/tlog-checkpoint, "Note text"):
 *
 *   line | content     | rule
 *   -----+-------------+-------------------------------------------------
 *   1    | origin      | non-empty (any UTF-8 the note allows)
 *   2    | tree size   | ASCII decimal, no sign, no leading zero ("0" ok)
 *   3    | root hash   | canonical base64 of exactly 32 bytes (44 chars)
 *   4..  | extensions  | optional, each non-empty, at most KTA_CHECKPOINT_MAX_EXT
 *
 * Every line ends in "\n" (the signed-note text includes the final newline).
 *
 * Cosignature line (c2sp.org/tlog-cosignature, Ed25519 type 0x04):
 *
 *   — <witness name> base64(key ID[4] || timestamp[8, big-endian] || Ed25519 sig[64])
 *
 *   signed message = "cosignature/v1\n" "time " <timestamp, decimal> "\n"
 *                    || the whole note text (origin, size, root AND any
 *                       extension lines, with the final "\n"; the current
 *                       spec, "Ed25519 signed message", includes extensions)
 *
 * Policy (kta_checkpoint_verify), in order:
 *   1. the note parses (MALFORMED/LIMIT otherwise) and its text is a
 *      checkpoint (MALFORMED otherwise);
 *   2. signatures are checked by kta_note_verify against the log key and
 *      every witness key: a bad signature or key ID mismatch from any
 *      configured key is VERIFY; the log key must have a valid signature
 *      (VERIFY "no signature by <name>");
 *   3. the origin line must equal p->origin, or the log key's name when
 *      p->origin is NULL (VERIFY); an override is needed where the key name
 *      differs from the origin (sum.golang.org signs "go.sum database tree");
 *   4. valid cosignatures are counted once per distinct witness (name, key
 *      ID); a witness listed twice counts once, and a witness equal to the
 *      log key never counts (a log cannot witness itself). 0x04 witnesses give a time;
 *      0x01/0x02 witnesses count but give no time. A cosignature time later
 *      than now + max_skew is VERIFY ("in the future");
 *   5. fewer than p->quorum distinct witnesses is VERIFY
 *      ("witness quorum not met: 1 of 2");
 *   6. when p->max_age > 0, the age is now - (newest valid cosignature
 *      time); age > max_age is VERIFY ("too old"), and no valid
 *      timestamped cosignature at all is VERIFY ("cannot establish age"):
 *      a log's own signature carries no time, so freshness can only come
 *      from witnesses.
 *
 * Ownership: kta_checkpoint_parse allocates *out (free with
 * kta_checkpoint_free). kta_checkpoint_verify fills a caller-owned
 * struct kta_checkpoint_result whose `cp` the caller frees with
 * kta_checkpoint_result_free. kta_checkpoint_cosign returns a malloc'd
 * buffer (caller free()s). The policy borrows its keys; nothing keeps them.
 */
#ifndef KTAUDIT_CHECKPOINT_H
#define KTAUDIT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"
#include "ktaudit/key.h"
#include "ktaudit/note.h"

/* Most extension lines accepted in a checkpoint. */
#define KTA_CHECKPOINT_MAX_EXT 64

struct kta_checkpoint {
	char *origin;     /* line 1, NUL-terminated */
	uint64_t size;    /* line 2: number of leaves */
	uint8_t root[32]; /* line 3: RFC 6962 root hash */
	char **ext;       /* extension lines (without "\n"), NUL-terminated; NULL if none */
	size_t next;      /* number of extension lines */
};

struct kta_checkpoint_policy {
	const struct kta_vkey *log_key; /* required: the log's key (usually 0x01 or 0x02) */
	const char *origin;             /* expected origin; NULL = log_key->name */
	const struct kta_vkey *const *witnesses; /* nwitnesses witness keys (may be NULL if 0) */
	size_t nwitnesses;
	size_t quorum;     /* distinct valid witness cosignatures required (0 = none) */
	int64_t now;       /* current POSIX time, seconds */
	uint64_t max_age;  /* 0 = no limit; else now - newest cosignature time <= max_age */
	uint64_t max_skew; /* cosignature times up to now + max_skew are accepted */
};

struct kta_checkpoint_result {
	struct kta_checkpoint
	    *cp;            /* the verified checkpoint; free with kta_checkpoint_result_free */
	size_t cosigned;    /* distinct listed witnesses with a valid cosignature */
	int has_cosig_time; /* 1 if newest_cosig_time is set */
	int64_t newest_cosig_time; /* newest valid cosignature/v1 timestamp; -1 if none */
};

/*
 * Parses a checkpoint note text (text, len), i.e. kta_note.text, including
 * the final "\n". Errors: KTA_ERR_MALFORMED naming the line, KTA_ERR_LIMIT,
 * KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_checkpoint_parse(const uint8_t *text, size_t len,
					     struct kta_checkpoint **out,
					     struct kta_error *err) KTA_WUR;

/* Frees c and everything it owns; c may be NULL. */
KTA_API void kta_checkpoint_free(struct kta_checkpoint *c);

/*
 * Formats a checkpoint body (origin, size, root, extension lines, each
 * ending in "\n"). malloc'd NUL-terminated string; NULL if out of memory.
 */
KTA_API char *kta_checkpoint_format(const struct kta_checkpoint *c);

/*
 * Cosigns a checkpoint: parses the signed note (note, len), checks that its
 * text is a checkpoint, and appends a cosignature/v1 line by `witness` (a
 * KTA_KEY_COSIGNATURE_V1 key) with timestamp `time`. The caller is expected
 * to have verified the log signature and consistency first (that is what a
 * cosignature asserts). Result malloc'd in *out. Errors: KTA_ERR_USAGE
 * (wrong key type, time too large), KTA_ERR_MALFORMED, KTA_ERR_LIMIT,
 * KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_checkpoint_cosign(const uint8_t *note, size_t len,
					      const struct kta_skey *witness, uint64_t time,
					      uint8_t **out, size_t *out_len,
					      struct kta_error *err) KTA_WUR;

/*
 * Verifies a signed checkpoint note (note, len) under policy p (steps
 * above). On KTA_OK, *res is filled and res->cp is owned by the caller; on
 * failure *res is zeroed (cp NULL, newest_cosig_time -1). Errors:
 * KTA_ERR_VERIFY, KTA_ERR_MALFORMED, KTA_ERR_LIMIT, KTA_ERR_USAGE (no log
 * key, negative now, quorum > nwitnesses), KTA_ERR_NOMEM, KTA_ERR_INTERNAL.
 */
KTA_API enum kta_status kta_checkpoint_verify(const uint8_t *note, size_t len,
					      const struct kta_checkpoint_policy *p,
					      struct kta_checkpoint_result *res,
					      struct kta_error *err) KTA_WUR;

/* Frees res->cp and resets *res; res may be NULL. */
KTA_API void kta_checkpoint_result_free(struct kta_checkpoint_result *res);

#endif
