/*
 * ktaudit: pin files for `ktaudit check --pins` (pure, no I/O).
 *
 * A pin file is committed to a user's or an organisation's repository. It
 * names one key-directory log, the last checkpoint a check verified, and the
 * labels to check with the key sets their owners approved (docs/ci.md). It is
 * UTF-8 text, lines end in "\n" (no "\r"), fields are separated by exactly
 * one space, and nothing trails a line:
 *
 *   line                                   | rule
 *   ---------------------------------------+----------------------------------------------
 *   # ktaudit pins v1                      | line 1, exactly (the format version)
 *   # any text                             | a comment: whole lines only; anywhere after 1
 *   (empty line)                           | ignored
 *   log <origin>                           | required, once: the checkpoint origin line
 *                                          | (UTF-8, at most KTA_PINS_ORIGIN_MAX bytes)
 *   url <base URL>                         | required, once: https://, http:// or file://,
 *                                          | printable ASCII, at most KTA_TLOG_URL_MAX bytes
 *   key <vkey>                             | required, once: the log's verifier key (key.h)
 *   witness <vkey>                         | 0..KTA_PINS_MAX_WITNESSES; unique
 *   quorum <k>                             | optional, once: cosignatures required, default
 *                                          | 0, at most the number of witnesses
 *   max_age <seconds>                      | optional, once: newest cosignature age limit,
 *                                          | default 0 = off (checkpoint.h step 6)
 *   checkpoint <size> <base64 root>        | optional, once: the last verified tree size and
 *                                          | root (44 base64 characters); absent = first use
 *   label <label> [<ALG:B64:DEVICE> ...]   | 0..KTA_PINS_MAX_LABELS; each label once; the
 *                                          | approved key set (replay.h key specs, any order,
 *                                          | at most KTA_PINS_MAX_KEYS); none = no keys
 *
 * Directives come in the order of the table (log, url, key, witness...,
 * quorum, max_age, checkpoint, label...): every parsed file has one layout,
 * and `--update` knows where a new checkpoint line goes. Within that order
 * the user's choices are kept: labels and keys may be listed in any order and
 * comments stay where they are, because `--update` changes nothing but the
 * checkpoint line (kta_pins_set_checkpoint). kta_pins_format writes the
 * canonical form: no comments but the first line, labels sorted bytewise,
 * keys in entry order (entry.h), witnesses sorted.
 *
 * Numbers are canonical decimals (kta_parse_u64), base64 is canonical, labels
 * and devices follow entry.h's name rules. Every error is KTA_ERR_MALFORMED
 * (or KTA_ERR_LIMIT) with the message "NAME:LINE: reason", NAME being the
 * file name the caller gives.
 *
 * Ownership: kta_pins_parse allocates *out (every string and array in it);
 * free it with kta_pins_free and never pass kta_pins_free a struct built by
 * the caller. kta_pins_format and kta_pins_set_checkpoint return malloc'd
 * buffers the caller frees with free().
 */
#ifndef KTAUDIT_PINS_H
#define KTAUDIT_PINS_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/entry.h"
#include "ktaudit/error.h"
#include "ktaudit/key.h"
#include "ktaudit/tlog.h"

/* The first line of every pin file, without its "\n". */
#define KTA_PINS_HEADER "# ktaudit pins v1"
/* Largest pin file, in bytes. */
#define KTA_PINS_MAX_SIZE ((size_t)16 << 20)
/* Longest origin (the `log` line's value), in bytes. */
#define KTA_PINS_ORIGIN_MAX 1024u
/* Most labels, witnesses, and keys per label. */
#define KTA_PINS_MAX_LABELS 65536u
#define KTA_PINS_MAX_WITNESSES 64u
#define KTA_PINS_MAX_KEYS 1024u

/* One pinned label. */
struct kta_pins_label {
	char *label;                /* NUL-terminated label (entry.h rules) */
	struct kta_entry_key *keys; /* approved set, canonical order; NULL when nkeys == 0 */
	size_t nkeys;               /* 0: the label must have no keys (absent or deleted) */
	size_t line;                /* line number in the file (1-based) */
};

struct kta_pins {
	char *log;                   /* origin */
	char *url;                   /* base URL as written */
	struct kta_vkey *log_key;    /* the log's verifier key */
	struct kta_vkey **witnesses; /* nwitnesses keys, file order; NULL when none */
	size_t nwitnesses;
	uint64_t quorum;               /* 0 when absent */
	uint64_t max_age;              /* 0 when absent (off) */
	int has_checkpoint;            /* 0: no checkpoint line (first use) */
	uint64_t size;                 /* pinned tree size, when has_checkpoint */
	uint8_t root[32];              /* pinned root, when has_checkpoint */
	size_t checkpoint_line;        /* its line number, 0 when absent */
	struct kta_pins_label *labels; /* nlabels labels, file order; NULL when none */
	size_t nlabels;
	struct kta_pins_label **by_name; /* the same labels sorted bytewise (kta_pins_find);
					    NULL in a struct built by the caller */
};

/*
 * Parses a pin file (buf, len); `name` (may be NULL: "pins") prefixes every
 * error message. On success *out is new (kta_pins_free). Errors:
 * KTA_ERR_MALFORMED, KTA_ERR_LIMIT ("NAME:LINE: ..."; the size limit names
 * no line), KTA_ERR_NOMEM. *out is NULL on failure.
 */
KTA_API enum kta_status kta_pins_parse(const uint8_t *buf, size_t len, const char *name,
				       struct kta_pins **out, struct kta_error *err) KTA_WUR;

/* Frees p and everything it owns; p may be NULL. */
KTA_API void kta_pins_free(struct kta_pins *p);

/*
 * Looks a pinned label up: its entry, or NULL. Binary search over by_name
 * (linear when by_name is NULL). Borrowed from p.
 */
KTA_API const struct kta_pins_label *kta_pins_find(const struct kta_pins *p, const char *label);

/*
 * Writes p in the canonical form (see above) into *out (malloc'd, *out_len
 * bytes, a NUL follows, not counted). kta_pins_parse of the result gives
 * back p. Errors: KTA_ERR_NOMEM, KTA_ERR_USAGE (p has a duplicate label or
 * key, or a key set that is not valid).
 */
KTA_API enum kta_status kta_pins_format(const struct kta_pins *p, char **out, size_t *out_len,
					struct kta_error *err) KTA_WUR;

/*
 * Returns a copy of the pin file (buf, len) with its checkpoint line set to
 * "checkpoint SIZE ROOT": the existing line is replaced in place, or a new
 * one is inserted after the last log/url/key/witness/quorum/max_age line.
 * Every other byte is kept (comments included), so the change is one line.
 * buf must parse (the errors of kta_pins_parse, named `name`). On success
 * *out is malloc'd (*out_len bytes, a NUL follows). KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_pins_set_checkpoint(const uint8_t *buf, size_t len, const char *name,
						uint64_t size, const uint8_t root[static 32],
						uint8_t **out, size_t *out_len,
						struct kta_error *err) KTA_WUR;

#endif
