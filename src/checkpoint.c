/*
 * C2SP tlog-checkpoint, tlog-cosignature and the witness policy
 * (see include/ktaudit/checkpoint.h).
 */
#include "ktaudit/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"

#define ROOT_B64_LEN KTA_B64_ENCODED_LEN(32)

/* Returns the length of the line starting at s (up to, not incl., "\n"). */
static size_t line_len(const uint8_t *s, size_t avail)
{
	const uint8_t *nl = memchr(s, '\n', avail);

	return nl == NULL ? avail : (size_t)(nl - s);
}

static char *dup_str(const uint8_t *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p != NULL) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

enum kta_status kta_checkpoint_parse(const uint8_t *text, size_t len, struct kta_checkpoint **out,
				     struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	struct kta_checkpoint *c = NULL;
	size_t pos = 0, l, line = 1, i, root_len = 0;
	uint8_t root[33];
	char q[4 * 48 + 4];

	*out = NULL;
	if (text == NULL && len > 0)
		return kta_error_set(err, KTA_ERR_USAGE, "checkpoint: no input");
	if (len > KTA_NOTE_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT, "checkpoint: larger than %d bytes",
				     KTA_NOTE_MAX_SIZE);
	if (len == 0 || text[len - 1] != '\n')
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "checkpoint: text does not end in a newline");
	/* Same character rules as the enclosing note (signed-note "Format"). */
	for (i = 0; i < len; i++)
		if (text[i] < 0x20 && text[i] != '\n')
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "checkpoint: control character 0x%02x at offset %zu",
					     (unsigned)text[i], i);
	if (!kta_utf8_valid(text, len))
		return kta_error_set(err, KTA_ERR_MALFORMED, "checkpoint: invalid UTF-8");
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "checkpoint: out of memory");
		goto out;
	}
	/* tlog-checkpoint "Note text" 1: origin, non-empty. */
	l = line_len(text, len);
	if (l == 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "checkpoint: line 1: empty origin");
		goto out;
	}
	if ((c->origin = dup_str(text, l)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "checkpoint: out of memory");
		goto out;
	}
	pos = l + 1;
	/* 2: tree size, ASCII decimal without leading zeros. */
	if (pos >= len) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "checkpoint: line 2: missing tree size");
		goto out;
	}
	l = line_len(text + pos, len - pos);
	if (kta_parse_u64((const char *)text + pos, l, &c->size, NULL) != KTA_OK) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "checkpoint: line 2: tree size \"%s\" is not a canonical decimal",
				  kta_quote(text + pos, l, 48, q));
		goto out;
	}
	pos += l + 1;
	/* 3: root hash, canonical base64 of exactly 32 bytes. */
	if (pos >= len) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "checkpoint: line 3: missing root hash");
		goto out;
	}
	l = line_len(text + pos, len - pos);
	if (l != ROOT_B64_LEN ||
	    kta_b64_decode((const char *)text + pos, l, root, sizeof(root), &root_len) != KTA_OK ||
	    root_len != 32) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "checkpoint: line 3: root hash \"%s\" is not canonical base64 of "
				  "32 bytes",
				  kta_quote(text + pos, l, 48, q));
		goto out;
	}
	memcpy(c->root, root, 32);
	pos += l + 1;
	/* 4..: extension lines, each non-empty. */
	for (line = 4; pos < len; line++) {
		char **grown;

		l = line_len(text + pos, len - pos);
		if (l == 0) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "checkpoint: line %zu: empty extension line", line);
			goto out;
		}
		if (c->next == KTA_CHECKPOINT_MAX_EXT) {
			r = kta_error_set(err, KTA_ERR_LIMIT,
					  "checkpoint: line %zu: more than %d extension lines",
					  line, KTA_CHECKPOINT_MAX_EXT);
			goto out;
		}
		grown = realloc(c->ext, (c->next + 1) * sizeof(*c->ext));
		if (grown == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "checkpoint: out of memory");
			goto out;
		}
		c->ext = grown;
		if ((c->ext[c->next] = dup_str(text + pos, l)) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "checkpoint: out of memory");
			goto out;
		}
		c->next++;
		pos += l + 1;
	}
	*out = c;
	c = NULL;
	r = KTA_OK;
out:
	kta_checkpoint_free(c);
	return r;
}

void kta_checkpoint_free(struct kta_checkpoint *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->next; i++)
		free(c->ext[i]);
	free(c->ext);
	free(c->origin);
	free(c);
}

char *kta_checkpoint_format(const struct kta_checkpoint *c)
{
	char root[ROOT_B64_LEN + 1], size[24];
	size_t n, i, pos;
	char *s;

	if (c == NULL || c->origin == NULL)
		return NULL;
	kta_b64_encode(c->root, 32, root);
	snprintf(size, sizeof(size), "%" PRIu64, c->size);
	n = strlen(c->origin) + 1 + strlen(size) + 1 + ROOT_B64_LEN + 1;
	for (i = 0; i < c->next; i++) {
		size_t el = strlen(c->ext[i]) + 1;

		if (n > SIZE_MAX - el - 1)
			return NULL;
		n += el;
	}
	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	pos = (size_t)snprintf(s, n + 1, "%s\n%s\n%s\n", c->origin, size, root);
	for (i = 0; i < c->next; i++)
		pos += (size_t)snprintf(s + pos, n + 1 - pos, "%s\n", c->ext[i]);
	return s;
}

enum kta_status kta_checkpoint_cosign(const uint8_t *note, size_t len,
				      const struct kta_skey *witness, uint64_t time, uint8_t **out,
				      size_t *out_len, struct kta_error *err)
{
	enum kta_status r;
	struct kta_note *n = NULL;
	struct kta_checkpoint *c = NULL;

	*out = NULL;
	*out_len = 0;
	if (witness == NULL || witness->type != KTA_KEY_COSIGNATURE_V1)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "cosign: need a cosignature/v1 (0x04) witness key");
	if (time > KTA_COSIG_TIME_MAX)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "cosign: timestamp %" PRIu64 " exceeds 2^63-1", time);
	if ((r = kta_note_parse(note, len, &n, err)) != KTA_OK)
		goto out;
	/* A cosignature is a statement about a checkpoint: refuse other notes. */
	if ((r = kta_checkpoint_parse(n->text, n->text_len, &c, err)) != KTA_OK)
		goto out;
	r = kta_note_add_sig(note, len, witness, time, out, out_len, err);
out:
	kta_checkpoint_free(c);
	kta_note_free(n);
	return r;
}

/* Two keys are the same signer for counting purposes if name and ID match. */
static int same_key(const struct kta_vkey *a, const struct kta_vkey *b)
{
	return a->key_id == b->key_id && strcmp(a->name, b->name) == 0;
}

enum kta_status kta_checkpoint_verify(const uint8_t *note, size_t len,
				      const struct kta_checkpoint_policy *p,
				      struct kta_checkpoint_result *res, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_VERIFY;
	struct kta_note *n = NULL;
	struct kta_checkpoint *c = NULL;
	const struct kta_vkey **keys = NULL;
	struct kta_note_check *chk = NULL;
	const char *want_origin;
	size_t i, j, nkeys, cosigned = 0;
	int has_time = 0;
	uint64_t newest = 0, limit;
	char q[4 * 64 + 4];

	if (res != NULL) {
		memset(res, 0, sizeof(*res));
		res->newest_cosig_time = -1;
	}
	if (p == NULL || res == NULL || p->log_key == NULL || p->log_key->name == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "checkpoint: no log key given");
	if (p->nwitnesses > 0 && p->witnesses == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "checkpoint: witness list missing");
	if (p->now < 0)
		return kta_error_set(err, KTA_ERR_USAGE, "checkpoint: negative current time");
	if (p->quorum > p->nwitnesses)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "checkpoint: quorum %zu exceeds the %zu witnesses given",
				     p->quorum, p->nwitnesses);
	for (i = 0; i < p->nwitnesses; i++)
		if (p->witnesses[i] == NULL || p->witnesses[i]->name == NULL)
			return kta_error_set(err, KTA_ERR_USAGE, "checkpoint: witness %zu missing",
					     i);

	if ((r = kta_note_parse(note, len, &n, err)) != KTA_OK)
		goto out;
	if ((r = kta_checkpoint_parse(n->text, n->text_len, &c, err)) != KTA_OK)
		goto out;

	/* Every configured key is checked in one pass (note.h rules). */
	nkeys = 1 + p->nwitnesses;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	if ((keys = calloc(nkeys, sizeof(*keys))) == NULL ||
	    (chk = calloc(nkeys, sizeof(*chk))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "checkpoint: out of memory");
		goto out;
	}
	keys[0] = p->log_key;
	for (i = 0; i < p->nwitnesses; i++)
		keys[1 + i] = p->witnesses[i];
	if ((r = kta_note_verify(n, keys, nkeys, chk, err)) != KTA_OK)
		goto out;
	if (!chk[0].valid) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "checkpoint: no signature by %s (key ID %08x)", p->log_key->name,
				  (unsigned)p->log_key->key_id);
		goto out;
	}

	/* tlog-checkpoint: the origin identifies the log; it must be the expected one. */
	want_origin = p->origin != NULL ? p->origin : p->log_key->name;
	if (strcmp(c->origin, want_origin) != 0) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "checkpoint: line 1: origin \"%s\" is not the expected \"%s\"",
				  kta_quote((const uint8_t *)c->origin, strlen(c->origin), 64, q),
				  want_origin);
		goto out;
	}

	/* Future timestamps: now + max_skew, saturating (now >= 0 here). */
	limit = (uint64_t)p->now;
	limit = p->max_skew > UINT64_MAX - limit ? UINT64_MAX : limit + p->max_skew;
	for (i = 0; i < p->nwitnesses; i++) {
		const struct kta_note_check *w = &chk[1 + i];
		int dup = 0;

		if (!w->valid)
			continue;
		if (p->witnesses[i]->type == KTA_KEY_COSIGNATURE_V1) {
			if (w->timestamp > limit) {
				r = kta_error_set(
				    err, KTA_ERR_VERIFY,
				    "checkpoint: line %zu: cosignature by %s is dated "
				    "%" PRIu64 ", %" PRIu64 " seconds in the future",
				    w->line, p->witnesses[i]->name, w->timestamp,
				    w->timestamp - (uint64_t)p->now);
				goto out;
			}
			if (!has_time || w->timestamp > newest)
				newest = w->timestamp;
			has_time = 1;
		}
		/* A witness listed twice counts once; the log is not its own witness. */
		if (same_key(p->witnesses[i], p->log_key))
			dup = 1;
		for (j = 0; j < i; j++)
			if (chk[1 + j].valid && same_key(p->witnesses[j], p->witnesses[i]))
				dup = 1;
		if (!dup)
			cosigned++;
	}
	if (cosigned < p->quorum) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "checkpoint: witness quorum not met: %zu of %zu", cosigned,
				  p->quorum);
		goto out;
	}
	if (p->max_age > 0) {
		uint64_t age;

		/* The log's signature carries no time: only witnesses date a checkpoint. */
		if (!has_time) {
			r = kta_error_set(err, KTA_ERR_VERIFY,
					  "checkpoint: cannot establish age: no valid timestamped "
					  "witness cosignature");
			goto out;
		}
		age = newest > (uint64_t)p->now ? 0 : (uint64_t)p->now - newest;
		if (age > p->max_age) {
			r = kta_error_set(err, KTA_ERR_VERIFY,
					  "checkpoint: too old: newest cosignature is %" PRIu64
					  " seconds old (max %" PRIu64 ")",
					  age, p->max_age);
			goto out;
		}
	}
	res->cp = c;
	c = NULL;
	res->cosigned = cosigned;
	res->has_cosig_time = has_time;
	res->newest_cosig_time = has_time ? (int64_t)newest : -1;
	r = KTA_OK;
out:
	free(chk);
	free(keys);
	kta_checkpoint_free(c);
	kta_note_free(n);
	return r;
}

void kta_checkpoint_result_free(struct kta_checkpoint_result *res)
{
	if (res == NULL)
		return;
	kta_checkpoint_free(res->cp);
	memset(res, 0, sizeof(*res));
	res->newest_cosig_time = -1;
}
