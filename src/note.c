/*
 * C2SP signed-note parsing, signing and verification (see include/ktaudit/note.h).
 */
#include "ktaudit/note.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ed25519.h"
#include "ktaudit/checkpoint.h"
#include "ktaudit/ct.h"
#include "ktaudit/encoding.h"

/* U+2014 EM DASH followed by a space starts every signature line. */
static const uint8_t sig_prefix[] = {0xe2, 0x80, 0x94, ' '};
#define SIG_PREFIX_LEN sizeof(sig_prefix)
#define KEY_ID_LEN 4
#define COSIG_HEADER "cosignature/v1\ntime "
#define COSIG_SIG_LEN (8 + KTA_ED25519_SIG_LEN)
/* Longest base64 signature field accepted. */
#define SIG_B64_MAX KTA_B64_ENCODED_LEN(KTA_NOTE_SIG_MAX)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Checks the note-wide character rules on (buf, len) line by line:
 * signed-note "Format": valid UTF-8, no ASCII control character but "\n".
 * Lines split at "\n", which never occurs inside a UTF-8 sequence, so
 * checking each line is checking the whole. `what` prefixes messages.
 */
static enum kta_status check_chars(const uint8_t *buf, size_t len, const char *what,
				   struct kta_error *err)
{
	size_t start = 0, line = 1, i;

	for (i = 0; i <= len; i++) {
		if (i < len && buf[i] != '\n') {
			if (buf[i] == '\r')
				return kta_error_set(
				    err, KTA_ERR_MALFORMED,
				    "%s: line %zu: carriage return (\\r) not allowed", what, line);
			if (buf[i] < 0x20)
				return kta_error_set(
				    err, KTA_ERR_MALFORMED,
				    "%s: line %zu: control character 0x%02x not allowed", what,
				    line, (unsigned)buf[i]);
			continue;
		}
		if (!kta_utf8_valid(buf + start, i - start))
			return kta_error_set(err, KTA_ERR_MALFORMED, "%s: line %zu: invalid UTF-8",
					     what, line);
		start = i + 1;
		line++;
	}
	return KTA_OK;
}

/* Counts "\n" in (s, len). */
static size_t count_lines(const uint8_t *s, size_t len)
{
	size_t n = 0, i;

	for (i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

/* Parses one signature line (s, len), without its "\n", into *sig. */
static enum kta_status parse_sig_line(const uint8_t *s, size_t len, size_t line,
				      struct kta_note_sig *sig, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	const uint8_t *name, *sp, *b64;
	size_t name_len, b64_len, raw_len = 0;
	uint8_t *raw = NULL;
	char q[4 * 48 + 4];

	if (len < SIG_PREFIX_LEN || memcmp(s, sig_prefix, SIG_PREFIX_LEN) != 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "note: line %zu: expected a signature line "
				     "(\"\\xe2\\x80\\x94 name signature\"), got \"%s\"",
				     line, kta_quote(s, len, 48, q));
	name = s + SIG_PREFIX_LEN;
	sp = memchr(name, ' ', len - SIG_PREFIX_LEN);
	if (sp == NULL)
		return kta_error_set(
		    err, KTA_ERR_MALFORMED,
		    "note: line %zu: signature line has no space before the signature", line);
	name_len = (size_t)(sp - name);
	if (name_len > KTA_KEY_NAME_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "note: line %zu: key name longer than %d bytes", line,
				     KTA_KEY_NAME_MAX);
	if (!kta_key_name_valid(name, name_len))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "note: line %zu: invalid key name \"%s\"", line,
				     kta_quote(name, name_len, 48, q));
	b64 = sp + 1;
	b64_len = len - (size_t)(b64 - s);
	if (b64_len > SIG_B64_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "note: line %zu: signature longer than %d bytes", line,
				     KTA_NOTE_SIG_MAX);
	if ((raw = malloc(b64_len / 4 * 3 + 1)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "note: out of memory");
		goto out;
	}
	if (kta_b64_decode((const char *)b64, b64_len, raw, b64_len / 4 * 3 + 1, &raw_len) !=
	    KTA_OK) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "note: line %zu: signature is not canonical base64: \"%s\"", line,
				  kta_quote(b64, b64_len, 48, q));
		goto out;
	}
	/* signed-note: base64 of 4+n bytes, key ID then signature; n >= 1. */
	if (raw_len <= KEY_ID_LEN) {
		r = kta_error_set(err, KTA_ERR_MALFORMED,
				  "note: line %zu: signature is %zu bytes, need a 4-byte key ID "
				  "and a signature",
				  line, raw_len);
		goto out;
	}
	if ((sig->name = malloc(name_len + 1)) == NULL ||
	    (sig->sig = malloc(raw_len - KEY_ID_LEN)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "note: out of memory");
		goto out;
	}
	memcpy(sig->name, name, name_len);
	sig->name[name_len] = '\0';
	sig->key_id = be32(raw);
	sig->sig_len = raw_len - KEY_ID_LEN;
	memcpy(sig->sig, raw + KEY_ID_LEN, sig->sig_len);
	sig->line = line;
	r = KTA_OK;
out:
	free(raw);
	return r;
}

enum kta_status kta_note_parse(const uint8_t *buf, size_t len, struct kta_note **out,
			       struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	struct kta_note *n = NULL;
	size_t split, pos, line, text_lines;

	*out = NULL;
	if (buf == NULL && len > 0)
		return kta_error_set(err, KTA_ERR_USAGE, "note: no input");
	if (len > KTA_NOTE_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT, "note: %zu bytes, larger than %d", len,
				     KTA_NOTE_MAX_SIZE);
	if (len == 0)
		return kta_error_set(err, KTA_ERR_MALFORMED, "note: empty");
	if ((r = check_chars(buf, len, "note", err)) != KTA_OK)
		return r;
	if (buf[len - 1] != '\n')
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "note: line %zu: does not end in a newline",
				     count_lines(buf, len) + 1);
	/* The text ends at the LAST blank line (signed-note "Format"). */
	for (split = len - 1; split > 0; split--)
		if (buf[split - 1] == '\n' && buf[split] == '\n')
			break;
	if (split == 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "note: no blank line separating the text from signatures");
	/* buf[split] is the blank line's "\n"; the text is buf[0..split). */
	if (split + 1 == len)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "note: line %zu: no signature lines after the blank line",
				     count_lines(buf, len) + 1);
	if ((n = calloc(1, sizeof(*n))) == NULL || (n->text = malloc(split + 1)) == NULL ||
	    (n->sigs = calloc(KTA_NOTE_MAX_SIGS, sizeof(*n->sigs))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "note: out of memory");
		goto out;
	}
	memcpy(n->text, buf, split);
	n->text[split] = '\0';
	n->text_len = split;
	text_lines = count_lines(buf, split);
	line = text_lines + 2;
	for (pos = split + 1; pos < len; line++) {
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t llen = (size_t)(nl - (buf + pos));

		if (n->nsigs == KTA_NOTE_MAX_SIGS) {
			r = kta_error_set(err, KTA_ERR_LIMIT,
					  "note: line %zu: more than %d signature lines", line,
					  KTA_NOTE_MAX_SIGS);
			goto out;
		}
		r = parse_sig_line(buf + pos, llen, line, &n->sigs[n->nsigs], err);
		if (r != KTA_OK)
			goto out;
		n->nsigs++;
		pos += llen + 1;
	}
	*out = n;
	n = NULL;
	r = KTA_OK;
out:
	kta_note_free(n);
	return r;
}

void kta_note_free(struct kta_note *n)
{
	size_t i;

	if (n == NULL)
		return;
	if (n->sigs != NULL) {
		for (i = 0; i < KTA_NOTE_MAX_SIGS; i++) {
			free(n->sigs[i].name);
			free(n->sigs[i].sig);
		}
	}
	free(n->sigs);
	free(n->text);
	free(n);
}

enum kta_status kta_note_cosig_message(const uint8_t *text, size_t text_len, uint64_t time,
				       uint8_t **out, size_t *out_len, struct kta_error *err)
{
	char hdr[sizeof(COSIG_HEADER) + 24];
	uint8_t *m;
	int hl;

	*out = NULL;
	*out_len = 0;
	if (time > KTA_COSIG_TIME_MAX)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "cosignature: timestamp %" PRIu64 " exceeds 2^63-1", time);
	/* tlog-cosignature "Ed25519 signed message": header, time line, note text. */
	hl = snprintf(hdr, sizeof(hdr), COSIG_HEADER "%" PRIu64 "\n", time);
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		return kta_error_set(err, KTA_ERR_INTERNAL,
				     "cosignature: header formatting failed");
	if (text_len > KTA_NOTE_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT, "cosignature: text larger than %d bytes",
				     KTA_NOTE_MAX_SIZE);
	if ((m = malloc((size_t)hl + text_len + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "cosignature: out of memory");
	memcpy(m, hdr, (size_t)hl);
	if (text_len > 0)
		memcpy(m + hl, text, text_len);
	m[(size_t)hl + text_len] = '\0';
	*out = m;
	*out_len = (size_t)hl + text_len;
	return KTA_OK;
}

/* ECDSA (type 0x02): ASN.1 DER signature over SHA-256(text), key is SPKI DER. */
static enum kta_status ecdsa_verify(const struct kta_vkey *k, const uint8_t *msg, size_t len,
				    const uint8_t *sig, size_t sig_len, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_VERIFY;
	const unsigned char *p = k->key;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	int rc;

	pkey = d2i_PUBKEY(NULL, &p, (long)k->key_len);
	if (pkey == NULL) {
		r = kta_error_set(err, KTA_ERR_USAGE, "key %s: ECDSA key does not decode", k->name);
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "note: out of memory");
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "note: ECDSA verifier setup failed");
		goto out;
	}
	/* 1 = valid; 0 = bad signature; < 0 = undecodable signature: also bad. */
	rc = EVP_DigestVerify(ctx, sig, sig_len, msg, len);
	r = rc == 1 ? KTA_OK : KTA_ERR_VERIFY;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return r;
}

/*
 * static-ct-api "Checkpoints", type 0x05: the signature is a uint64
 * timestamp || the RFC 6962 TreeHeadSignature DigitallySigned over (v1,
 * tree_hash, timestamp, size, root) taken from the note text, which must be
 * a checkpoint without extension lines. KTA_OK, KTA_ERR_VERIFY (message in
 * err only for a malformed text), or a failure to check.
 */
static enum kta_status rfc6962_verify(const struct kta_note *n, const struct kta_note_sig *s,
				      const struct kta_vkey *k, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_VERIFY;
	struct kta_checkpoint *cp = NULL;
	struct kta_ct_key *ck = NULL;

	if (s->sig_len < 8 + 4)
		return KTA_ERR_VERIFY;
	r = kta_ct_key_parse(k->key, k->key_len, 1, &ck, err);
	if (r != KTA_OK) {
		r = r == KTA_ERR_NOMEM ? r : KTA_ERR_USAGE;
		goto out;
	}
	r = kta_checkpoint_parse(n->text, n->text_len, &cp, NULL);
	if (r != KTA_OK || cp->next != 0) {
		r = r == KTA_ERR_NOMEM ? r : KTA_ERR_VERIFY;
		goto out;
	}
	r = kta_ct_verify_tree_head(ck, be64(s->sig), cp->size, cp->root, s->sig + 8,
				    s->sig_len - 8, NULL);
	if (r == KTA_ERR_MALFORMED)
		r = KTA_ERR_VERIFY;
out:
	kta_checkpoint_free(cp);
	kta_ct_key_free(ck);
	return r;
}

/*
 * Verifies one signature line s against key k over text. KTA_OK if valid
 * (*ts set for cosignatures), KTA_ERR_VERIFY if not (message in err),
 * other codes on failure to check.
 */
static enum kta_status verify_one(const struct kta_note *n, const struct kta_note_sig *s,
				  const struct kta_vkey *k, uint64_t *ts, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_VERIFY;
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	uint64_t t;

	*ts = 0;
	switch (k->type) {
	case KTA_KEY_ED25519:
		if (k->key_len != KTA_ED25519_PUB_LEN)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "key %s: not a 32-byte Ed25519 key", k->name);
		if (s->sig_len != KTA_ED25519_SIG_LEN)
			break;
		r = kta_ed25519_verify(k->key, n->text, n->text_len, s->sig);
		break;
	case KTA_KEY_ECDSA:
		r = ecdsa_verify(k, n->text, n->text_len, s->sig, s->sig_len, err);
		if (r != KTA_OK && r != KTA_ERR_VERIFY)
			return r;
		break;
	case KTA_KEY_COSIGNATURE_V1:
		if (k->key_len != KTA_ED25519_PUB_LEN)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "key %s: not a 32-byte Ed25519 key", k->name);
		/* tlog-cosignature: u64 timestamp (<= 2^63-1) || Ed25519 signature. */
		if (s->sig_len != COSIG_SIG_LEN)
			break;
		t = be64(s->sig);
		if (t > KTA_COSIG_TIME_MAX)
			return kta_error_set(err, KTA_ERR_VERIFY,
					     "note: line %zu: cosignature by %s+%08x has timestamp "
					     "%" PRIu64 " beyond 2^63-1",
					     s->line, k->name, (unsigned)k->key_id, t);
		r = kta_note_cosig_message(n->text, n->text_len, t, &msg, &msg_len, err);
		if (r != KTA_OK)
			return r;
		r = kta_ed25519_verify(k->key, msg, msg_len, s->sig + 8);
		free(msg);
		if (r == KTA_OK)
			*ts = t;
		break;
	case KTA_KEY_RFC6962:
		r = rfc6962_verify(n, s, k, err);
		if (r != KTA_OK && r != KTA_ERR_VERIFY)
			return r;
		break;
	default:
		return kta_error_set(err, KTA_ERR_USAGE,
				     "key %s: unsupported signature type 0x%02x", k->name,
				     (unsigned)k->type);
	}
	if (r == KTA_ERR_VERIFY)
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "note: line %zu: invalid signature by key %s+%08x", s->line,
				     k->name, (unsigned)k->key_id);
	if (r != KTA_OK)
		return kta_error_set(err, r, "note: line %zu: could not check signature by %s",
				     s->line, k->name);
	return KTA_OK;
}

enum kta_status kta_note_verify(const struct kta_note *n, const struct kta_vkey *const *keys,
				size_t nkeys, struct kta_note_check *res, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_VERIFY;
	struct kta_note_check *tmp = NULL;
	size_t i, j;

	if (n == NULL || (nkeys > 0 && (keys == NULL || res == NULL)))
		return kta_error_set(err, KTA_ERR_USAGE,
				     "note: verify called without note or keys");
	if (nkeys == 0)
		return KTA_OK;
	if ((tmp = calloc(nkeys, sizeof(*tmp))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "note: out of memory");
	for (i = 0; i < nkeys; i++) {
		const struct kta_vkey *k = keys[i];
		const struct kta_note_sig *mismatch = NULL;

		if (k == NULL || k->name == NULL || k->key == NULL) {
			r = kta_error_set(err, KTA_ERR_USAGE, "note: key %zu is missing", i);
			goto out;
		}
		for (j = 0; j < n->nsigs; j++) {
			const struct kta_note_sig *s = &n->sigs[j];
			uint64_t ts;

			/* Signatures from other names are not ours to judge. */
			if (strcmp(s->name, k->name) != 0)
				continue;
			if (s->key_id != k->key_id) {
				if (mismatch == NULL)
					mismatch = s;
				continue;
			}
			/* (name, ID) match a known key: it MUST verify (signed-note). */
			if ((r = verify_one(n, s, k, &ts, err)) != KTA_OK)
				goto out;
			if (!tmp[i].valid)
				tmp[i].line = s->line;
			tmp[i].valid = 1;
			if (ts > tmp[i].timestamp)
				tmp[i].timestamp = ts;
		}
		/*
		 * A line with the key's name but another ID, and no line with
		 * the key's own ID: a wrong or rotated key, reported (not
		 * skipped) so that the operator sees why the key is missing.
		 */
		if (!tmp[i].valid && mismatch != NULL) {
			r = kta_error_set(err, KTA_ERR_VERIFY,
					  "note: line %zu: signature by %s has key ID %08x, "
					  "expected %08x (key ID mismatch)",
					  mismatch->line, k->name, (unsigned)mismatch->key_id,
					  (unsigned)k->key_id);
			goto out;
		}
	}
	memcpy(res, tmp, nkeys * sizeof(*tmp));
	r = KTA_OK;
out:
	free(tmp);
	return r;
}

/* Checks that (text, len) can be signed as a note text. */
static enum kta_status check_text(const uint8_t *text, size_t len, struct kta_error *err)
{
	enum kta_status r;

	if (text == NULL || len == 0)
		return kta_error_set(err, KTA_ERR_MALFORMED, "note text is empty");
	if (len > KTA_NOTE_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT, "note text larger than %d bytes",
				     KTA_NOTE_MAX_SIZE);
	if ((r = check_chars(text, len, "note text", err)) != KTA_OK)
		return r;
	if (text[len - 1] != '\n')
		return kta_error_set(err, KTA_ERR_MALFORMED, "note text does not end in a newline");
	return KTA_OK;
}

/*
 * Makes the signature line "— name base64(id || sig)\n" by k over text;
 * for 0x04 keys the signature is a cosignature/v1 at `time`. malloc'd.
 */
static enum kta_status sig_line(const uint8_t *text, size_t text_len, const struct kta_skey *k,
				uint64_t time, char **out, size_t *out_len, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_USAGE;
	uint8_t raw[KEY_ID_LEN + COSIG_SIG_LEN];
	char b64[KTA_B64_ENCODED_LEN(sizeof(raw)) + 1];
	uint8_t *msg = NULL;
	size_t msg_len = 0, raw_len, b64_len, name_len, n;
	char *line = NULL;

	*out = NULL;
	*out_len = 0;
	if (k == NULL || k->name == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "sign: no key given");
	name_len = strlen(k->name);
	if (!kta_key_name_valid((const uint8_t *)k->name, name_len))
		return kta_error_set(err, KTA_ERR_USAGE, "sign: invalid key name");
	put_be32(raw, k->key_id);
	if (k->type == KTA_KEY_ED25519) {
		r = kta_ed25519_sign(k->seed, text, text_len, raw + KEY_ID_LEN, err);
		raw_len = KEY_ID_LEN + KTA_ED25519_SIG_LEN;
	} else if (k->type == KTA_KEY_COSIGNATURE_V1) {
		r = kta_note_cosig_message(text, text_len, time, &msg, &msg_len, err);
		if (r == KTA_OK) {
			/* timestamped_signature: u64 big-endian time || Ed25519 sig. */
			put_be32(raw + KEY_ID_LEN, (uint32_t)(time >> 32));
			put_be32(raw + KEY_ID_LEN + 4, (uint32_t)time);
			r = kta_ed25519_sign(k->seed, msg, msg_len, raw + KEY_ID_LEN + 8, err);
		}
		raw_len = KEY_ID_LEN + COSIG_SIG_LEN;
	} else {
		return kta_error_set(err, KTA_ERR_USAGE, "sign: cannot sign with type 0x%02x",
				     (unsigned)k->type);
	}
	if (r != KTA_OK)
		goto out;
	b64_len = kta_b64_encode(raw, raw_len, b64);
	n = SIG_PREFIX_LEN + name_len + 1 + b64_len + 1;
	if ((line = malloc(n + 1)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "sign: out of memory");
		goto out;
	}
	memcpy(line, sig_prefix, SIG_PREFIX_LEN);
	memcpy(line + SIG_PREFIX_LEN, k->name, name_len);
	line[SIG_PREFIX_LEN + name_len] = ' ';
	memcpy(line + SIG_PREFIX_LEN + name_len + 1, b64, b64_len);
	line[n - 1] = '\n';
	line[n] = '\0';
	*out = line;
	*out_len = n;
	r = KTA_OK;
out:
	free(msg);
	return r;
}

/* Returns a malloc'd a || b || c (c may be empty). */
static enum kta_status concat3(const uint8_t *a, size_t alen, const char *b, size_t blen,
			       const char *c, size_t clen, uint8_t **out, size_t *out_len,
			       struct kta_error *err)
{
	uint8_t *p;
	size_t n = alen + blen + clen;

	if (n > KTA_NOTE_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT, "sign: note would exceed %d bytes",
				     KTA_NOTE_MAX_SIZE);
	if ((p = malloc(n + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "sign: out of memory");
	memcpy(p, a, alen);
	memcpy(p + alen, b, blen);
	if (clen > 0)
		memcpy(p + alen + blen, c, clen);
	p[n] = '\0';
	*out = p;
	*out_len = n;
	return KTA_OK;
}

enum kta_status kta_note_sign(const uint8_t *text, size_t text_len, const struct kta_skey *k,
			      uint8_t **out, size_t *out_len, struct kta_error *err)
{
	enum kta_status r;
	char *line = NULL;
	size_t line_len = 0;

	*out = NULL;
	*out_len = 0;
	if (k == NULL || k->type != KTA_KEY_ED25519)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "sign: need an Ed25519 (0x01) key; cosign with "
				     "kta_checkpoint_cosign");
	if ((r = check_text(text, text_len, err)) != KTA_OK)
		return r;
	if ((r = sig_line(text, text_len, k, 0, &line, &line_len, err)) != KTA_OK)
		return r;
	r = concat3(text, text_len, "\n", 1, line, line_len, out, out_len, err);
	free(line);
	return r;
}

enum kta_status kta_note_add_sig(const uint8_t *note, size_t len, const struct kta_skey *k,
				 uint64_t time, uint8_t **out, size_t *out_len,
				 struct kta_error *err)
{
	enum kta_status r;
	struct kta_note *n = NULL;
	char *line = NULL;
	size_t line_len = 0;

	*out = NULL;
	*out_len = 0;
	if ((r = kta_note_parse(note, len, &n, err)) != KTA_OK)
		return r;
	if (n->nsigs >= KTA_NOTE_MAX_SIGS) {
		r = kta_error_set(err, KTA_ERR_LIMIT, "sign: note already has %d signatures",
				  KTA_NOTE_MAX_SIGS);
		goto out;
	}
	if ((r = sig_line(n->text, n->text_len, k, time, &line, &line_len, err)) != KTA_OK)
		goto out;
	r = concat3(note, len, line, line_len, "", 0, out, out_len, err);
out:
	free(line);
	kta_note_free(n);
	return r;
}
