/* keydir/v1 entries: parse, serialize, auth, diff, lookup names. See
 * ktaudit/entry.h and docs/protocol.md ("Entry format"). */
#include "ktaudit/entry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ed25519.h"
#include "entry_auth.h"
#include "ktaudit/encoding.h"

#define HEADER_LEN (sizeof(KTA_ENTRY_HEADER) - 1)
#define CONTEXT_LEN (sizeof(KTA_ENTRY_AUTH_CONTEXT) - 1)
#define PUB_B64_LEN KTA_B64_ENCODED_LEN(32) /* 44 */
#define SIG_B64_LEN KTA_B64_ENCODED_LEN(64) /* 88 */
/* Shortest possible key line ("key x25519 <44> d") and the fixed length of
 * an auth line, both without "\n": used to size the allocation. */
#define KEY_LINE_MIN (4 + 6 + 1 + PUB_B64_LEN + 1 + 1)
#define AUTH_LINE_LEN (5 + 7 + 1 + PUB_B64_LEN + 1 + SIG_B64_LEN)
/* Lines before the first key line. */
#define FIXED_LINES 4
/* Most fields on a line (key and auth lines have 4). */
#define FIELDS_MAX 4
#define QUOTE_MAX 40
#define QBUF (4 * QUOTE_MAX + 4)

static const char *const alg_names[] = {NULL, "ed25519", "x25519"};

const char *kta_entry_alg_name(enum kta_entry_alg alg)
{
	if (alg != KTA_ENTRY_ALG_ED25519 && alg != KTA_ENTRY_ALG_X25519)
		return NULL;
	return alg_names[alg];
}

/* The code points a name must not contain (entry.h, "Names"): controls,
 * space, the Unicode White_Space characters and U+FEFF, as a fixed list. */
static int banned_code_point(uint32_t cp)
{
	return cp <= 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xa0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
	       cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

/*
 * Checks a label or device name (entry.h, "Names"). `line` is the 1-based
 * line for the message (0: no line), `st` the status to fail with.
 */
static enum kta_status check_name(const uint8_t *s, size_t len, size_t max, const char *what,
				  size_t line, enum kta_status st, struct kta_error *err)
{
	char where[32] = "";
	char q[QBUF];
	size_t i, n;
	uint32_t cp = 0;

	/* Fast path: printable ASCII other than space (0x21..0x7e) is one-byte
	 * UTF-8 and none of it is a banned code point. */
	if (len != 0 && len <= max) {
		for (i = 0; i < len && s[i] > 0x20 && s[i] < 0x7f; i++)
			;
		if (i == len)
			return KTA_OK;
	}
	if (line > 0)
		(void)snprintf(where, sizeof(where), "line %zu: ", line);
	if (len == 0)
		return kta_error_set(err, st, "%s%s is empty", where, what);
	if (len > max)
		return kta_error_set(err, st, "%s%s \"%s\" is %zu bytes, more than %zu", where,
				     what, kta_quote(s, len, QUOTE_MAX, q), len, max);
	for (i = 0; i < len; i += n) {
		if ((n = kta_utf8_next(s, len, i, &cp)) == 0)
			return kta_error_set(err, st, "%s%s is not valid UTF-8 at byte %zu", where,
					     what, i);
		if (!banned_code_point(cp))
			continue;
		if (cp == 0x20)
			return kta_error_set(err, st, "%s%s contains a space at byte %zu", where,
					     what, i);
		if (cp < 0x80)
			return kta_error_set(err, st,
					     "%s%s contains control character 0x%02x at byte %zu",
					     where, what, (unsigned)cp, i);
		if (cp <= 0x9f)
			return kta_error_set(err, st,
					     "%s%s contains control character U+%04X at byte %zu",
					     where, what, (unsigned)cp, i);
		return kta_error_set(err, st, "%s%s contains U+%04X (a space) at byte %zu", where,
				     what, (unsigned)cp, i);
	}
	return KTA_OK;
}

enum kta_status kta_entry_label_check(const char *s, size_t len, struct kta_error *err)
{
	return check_name((const uint8_t *)s, len, KTA_LABEL_MAX_LEN, "label", 0, KTA_ERR_MALFORMED,
			  err);
}

/* Canonical key order: algorithm (enum order = name byte order), then pub. */
static int key_cmp(const struct kta_entry_key *a, const struct kta_entry_key *b)
{
	if (a->alg != b->alg)
		return a->alg < b->alg ? -1 : 1;
	return memcmp(a->pub, b->pub, 32);
}

/* qsort comparator over key pointers: (alg, device). */
static int key_dev_cmp(const void *pa, const void *pb)
{
	const struct kta_entry_key *a = *(const struct kta_entry_key *const *)pa;
	const struct kta_entry_key *b = *(const struct kta_entry_key *const *)pb;

	if (a->alg != b->alg)
		return a->alg < b->alg ? -1 : 1;
	return strcmp(a->device, b->device);
}

/*
 * Fails with `st` if two keys share (alg, device); names the later line.
 * Sorting keeps this O(n log n) for the largest entries.
 */
static enum kta_status check_devices(const struct kta_entry_key *keys, size_t n, enum kta_status st,
				     struct kta_error *err)
{
	const struct kta_entry_key **p = NULL;
	enum kta_status r = KTA_ERR_NOMEM;
	size_t i;
	char q[QBUF];

	if (n < 2)
		return KTA_OK;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	if ((p = malloc(n * sizeof(*p))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		p[i] = &keys[i];
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	qsort(p, n, sizeof(*p), key_dev_cmp);
	for (i = 1; i < n; i++) {
		if (key_dev_cmp(&p[i - 1], &p[i]) == 0) {
			size_t a = (size_t)(p[i - 1] - keys), b = (size_t)(p[i] - keys);
			size_t lo = a < b ? a : b, hi = a < b ? b : a;
			const char *dev = p[i]->device;

			r = kta_error_set(
			    err, st, "line %zu: device \"%s\" already has an %s key (line %zu)",
			    FIXED_LINES + 1 + hi,
			    kta_quote((const uint8_t *)dev, strlen(dev), QUOTE_MAX, q),
			    alg_names[p[i]->alg], FIXED_LINES + 1 + lo);
			goto out;
		}
	}
	r = KTA_OK;
out:
	free(p);
	return r;
}

/* Writes v in decimal to out (at least 21 bytes); returns the length. */
static size_t u64_to_dec(uint64_t v, char *out)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v > 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

/* One space-separated field of a line. */
struct field {
	const uint8_t *p;
	size_t n;
};

/*
 * Checks the bytes of one line (no "\n") that every line shares: no "\r",
 * tab or other control character, valid UTF-8.
 */
static enum kta_status check_line_bytes(const uint8_t *line, size_t len, size_t lineno,
					struct kta_error *err)
{
	size_t i;

	/* Fast path: printable ASCII (0x20..0x7e) passes every check below. */
	for (i = 0; i < len && line[i] >= 0x20 && line[i] < 0x7f; i++)
		;
	if (i == len)
		return KTA_OK;
	for (i = 0; i < len; i++) {
		uint8_t c = line[i];

		if (c == '\r')
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "line %zu: carriage return (\\r) at column %zu",
					     lineno, i + 1);
		if (c == '\t')
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "line %zu: tab at column %zu (fields are separated by "
					     "one space)",
					     lineno, i + 1);
		if (c < 0x20 || c == 0x7f)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "line %zu: control character 0x%02x at column %zu",
					     lineno, (unsigned)c, i + 1);
	}
	if (!kta_utf8_valid(line, len))
		return kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: invalid UTF-8", lineno);
	return KTA_OK;
}

/*
 * Splits a line at single spaces. Sets *nf to the number of fields (which
 * may exceed FIELDS_MAX; only the first FIELDS_MAX are stored). An empty
 * field (leading, trailing or double space) is an error.
 */
static enum kta_status split_fields(const uint8_t *line, size_t len, size_t lineno,
				    struct field f[FIELDS_MAX], size_t *nf, struct kta_error *err)
{
	size_t i, start = 0, n = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (i == start)
			return kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: %s at column %zu",
					     lineno,
					     start == 0 ? "leading space"
					     : i == len ? "trailing space"
							: "double space",
					     i == len ? i : i + 1);
		if (n < FIELDS_MAX) {
			f[n].p = line + start;
			f[n].n = i - start;
		}
		n++;
		start = i + 1;
	}
	*nf = n;
	return KTA_OK;
}

static int field_is(const struct field *f, const char *s)
{
	size_t n = strlen(s);

	return f->n == n && memcmp(f->p, s, n) == 0;
}

/* Parses a canonical decimal in 0..max (and >= min) for the line's field. */
static enum kta_status parse_number(const struct field *f, const char *what, uint64_t min,
				    uint64_t max, size_t lineno, uint64_t *v, struct kta_error *err)
{
	struct kta_error e2;
	char q[QBUF];

	if (kta_parse_u64((const char *)f->p, f->n, v, &e2) != KTA_OK)
		return kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: %s: %s", lineno, what,
				     e2.msg);
	if (*v < min)
		return kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: %s %s is less than %llu",
				     lineno, what, kta_quote(f->p, f->n, QUOTE_MAX, q),
				     (unsigned long long)min);
	if (*v > max)
		return kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: %s %s is more than %llu",
				     lineno, what, kta_quote(f->p, f->n, QUOTE_MAX, q),
				     (unsigned long long)max);
	return KTA_OK;
}

/* Decodes canonical base64 of exactly n bytes from a field. */
static enum kta_status parse_b64(const struct field *f, uint8_t *out, size_t n, const char *what,
				 size_t lineno, struct kta_error *err)
{
	size_t got = 0;
	char q[QBUF];

	if (f->n != KTA_B64_ENCODED_LEN(n))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "line %zu: %s \"%s\" is %zu characters, expected %zu (base64 "
				     "of %zu bytes)",
				     lineno, what, kta_quote(f->p, f->n, QUOTE_MAX, q), f->n,
				     (size_t)KTA_B64_ENCODED_LEN(n), n);
	if (kta_b64_decode((const char *)f->p, f->n, out, n, &got) != KTA_OK || got != n)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "line %zu: %s \"%s\" is not canonical base64 of %zu bytes",
				     lineno, what, kta_quote(f->p, f->n, QUOTE_MAX, q), n);
	return KTA_OK;
}

/* Parse stages, in their fixed order; `st` is the last one seen. */
enum stage { ST_NONE, ST_HEADER, ST_LABEL, ST_VERSION, ST_TIME, ST_KEYS, ST_AUTHS };
static const char *const stage_names[] = {"",     "keydir/v1", "label", "version",
					  "time", "key",       "auth"};

/* Parses the fields of a key line into k (device left unset). */
static enum kta_status parse_key_line(const struct field f[FIELDS_MAX], size_t lineno,
				      struct kta_entry_key *k, struct kta_error *err)
{
	char q[QBUF];

	if (field_is(&f[1], "ed25519"))
		k->alg = KTA_ENTRY_ALG_ED25519;
	else if (field_is(&f[1], "x25519"))
		k->alg = KTA_ENTRY_ALG_X25519;
	else
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "line %zu: unknown key algorithm \"%s\" (expected ed25519 or "
				     "x25519)",
				     lineno, kta_quote(f[1].p, f[1].n, QUOTE_MAX, q));
	if (parse_b64(&f[2], k->pub, 32, "public key", lineno, err) != KTA_OK)
		return KTA_ERR_MALFORMED;
	return check_name(f[3].p, f[3].n, KTA_DEVICE_MAX_LEN, "device name", lineno,
			  KTA_ERR_MALFORMED, err);
}

/* Parses the fields of an auth line into a. */
static enum kta_status parse_auth_line(const struct field f[FIELDS_MAX], size_t lineno,
				       struct kta_entry_auth *a, struct kta_error *err)
{
	char q[QBUF];

	if (!field_is(&f[1], "ed25519"))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "line %zu: unknown auth algorithm \"%s\" (expected ed25519)",
				     lineno, kta_quote(f[1].p, f[1].n, QUOTE_MAX, q));
	if (parse_b64(&f[2], a->pub, 32, "auth public key", lineno, err) != KTA_OK)
		return KTA_ERR_MALFORMED;
	return parse_b64(&f[3], a->sig, 64, "auth signature", lineno, err);
}

/*
 * Handles one line after the header: order, field count, value. `str` and
 * *strpos are where names are copied (NUL-terminated).
 */
static enum kta_status parse_line(struct kta_entry *e, const uint8_t *line, size_t llen, size_t pos,
				  size_t lineno, enum stage *st, size_t nk_max, size_t na_max,
				  char *str, size_t *strpos, struct kta_error *err)
{
	struct field f[FIELDS_MAX];
	size_t nf = 0, want;
	enum stage kw;
	char q[QBUF];
	enum kta_status r;

	if ((r = split_fields(line, llen, lineno, f, &nf, err)) != KTA_OK)
		return r;
	if (field_is(&f[0], "label"))
		kw = ST_LABEL;
	else if (field_is(&f[0], "version"))
		kw = ST_VERSION;
	else if (field_is(&f[0], "time"))
		kw = ST_TIME;
	else if (field_is(&f[0], "key"))
		kw = ST_KEYS;
	else if (field_is(&f[0], "auth"))
		kw = ST_AUTHS;
	else
		return kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: unknown line type \"%s\"",
				     lineno, kta_quote(f[0].p, f[0].n, QUOTE_MAX, q));
	/* Fixed order, no duplicates, auth lines last (DESIGN.md keydir/v1). */
	if (kw <= ST_TIME && kw <= *st)
		return kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: duplicate \"%s\" line",
				     lineno, stage_names[kw]);
	if (*st < ST_TIME && kw != *st + 1)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "line %zu: expected a \"%s\" line, found \"%s\"", lineno,
				     stage_names[*st + 1], stage_names[kw]);
	if (kw == ST_KEYS && *st == ST_AUTHS)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "line %zu: key line after an auth line", lineno);
	want = kw >= ST_KEYS ? 4 : 2;
	if (nf != want)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "line %zu: \"%s\" line has %zu fields, expected %zu (values "
				     "contain no spaces)",
				     lineno, stage_names[kw], nf, want);
	switch (kw) {
	case ST_LABEL:
		if ((r = check_name(f[1].p, f[1].n, KTA_LABEL_MAX_LEN, "label", lineno,
				    KTA_ERR_MALFORMED, err)) != KTA_OK)
			return r;
		e->label = str + *strpos;
		memcpy(e->label, f[1].p, f[1].n);
		*strpos += f[1].n + 1;
		break;
	case ST_VERSION:
		if ((r = parse_number(&f[1], "version", 1, KTA_ENTRY_MAX_VERSION, lineno,
				      &e->version, err)) != KTA_OK)
			return r;
		break;
	case ST_TIME:
		if ((r = parse_number(&f[1], "time", 0, KTA_ENTRY_MAX_TIME, lineno, &e->time,
				      err)) != KTA_OK)
			return r;
		break;
	case ST_KEYS: {
		struct kta_entry_key k;
		int c;

		if ((r = parse_key_line(f, lineno, &k, err)) != KTA_OK)
			return r;
		if (e->nkeys > 0 && (c = key_cmp(&e->keys[e->nkeys - 1], &k)) >= 0)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     c == 0 ? "line %zu: duplicate key (same as line %zu)"
						    : "line %zu: key lines out of order (sorted by "
						      "algorithm, then public key; line %zu)",
					     lineno, lineno - 1);
		if (e->nkeys >= nk_max) /* the pre-scan counts every valid key line */
			return kta_error_set(err, KTA_ERR_INTERNAL, "line %zu: key not counted",
					     lineno);
		k.device = str + *strpos;
		memcpy(k.device, f[3].p, f[3].n);
		*strpos += f[3].n + 1;
		e->keys[e->nkeys++] = k;
		break;
	}
	case ST_AUTHS: {
		struct kta_entry_auth a;
		int c;

		if ((r = parse_auth_line(f, lineno, &a, err)) != KTA_OK)
			return r;
		if (e->nauths > 0 && (c = memcmp(e->auths[e->nauths - 1].pub, a.pub, 32)) >= 0)
			return kta_error_set(
			    err, KTA_ERR_MALFORMED,
			    c == 0 ? "line %zu: duplicate auth key (same as line %zu)"
				   : "line %zu: auth lines out of order (sorted by public key; "
				     "line %zu)",
			    lineno, lineno - 1);
		if (e->nauths >= na_max) /* the pre-scan counts every valid auth line */
			return kta_error_set(err, KTA_ERR_INTERNAL, "line %zu: auth not counted",
					     lineno);
		if (e->nauths == 0)
			e->signed_len = pos;
		e->auths[e->nauths++] = a;
		break;
	}
	case ST_NONE:
	case ST_HEADER:
		return kta_error_set(err, KTA_ERR_INTERNAL, "line %zu: bad stage", lineno);
	}
	if (kw > *st)
		*st = kw;
	return KTA_OK;
}

enum kta_status kta_entry_parse(const uint8_t *buf, size_t len, struct kta_entry **out,
				struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	struct kta_entry *e = NULL;
	size_t pos, lineno = 0, nk_max = 0, na_max = 0, nlines = 0, off_keys, off_auths, off_str;
	size_t strpos = 0;
	enum stage st = ST_NONE;
	char *str;
	char q[QBUF];

	*out = NULL;
	if (len > KTA_ENTRY_MAX_SIZE) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "entry is %zu bytes, more than %d", len,
				  KTA_ENTRY_MAX_SIZE);
		goto out;
	}
	if (len == 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "line 1: empty entry");
		goto out;
	}
	/* Pre-scan: count lines and the lines that could be key or auth lines,
	 * so that one allocation holds everything. */
	for (pos = 0; pos < len;) {
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;

		nlines++;
		if (llen >= KEY_LINE_MIN && memcmp(buf + pos, "key ", 4) == 0)
			nk_max++;
		else if (llen == AUTH_LINE_LEN && memcmp(buf + pos, "auth ", 5) == 0)
			na_max++;
		pos += llen + 1;
	}
	if (buf[len - 1] != '\n') {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: missing final newline",
				  nlines);
		goto out;
	}
	off_keys = (sizeof(struct kta_entry) + _Alignof(struct kta_entry_key) - 1) /
		   _Alignof(struct kta_entry_key) * _Alignof(struct kta_entry_key);
	off_auths = off_keys + nk_max * sizeof(struct kta_entry_key);
	off_str = off_auths + na_max * sizeof(struct kta_entry_auth);
	/* Every count is bounded by KTA_ENTRY_MAX_SIZE: no overflow possible. */
	if ((e = calloc(1, off_str + len + 1)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	e->keys = (struct kta_entry_key *)(void *)((char *)e + off_keys);
	e->auths = (struct kta_entry_auth *)(void *)((char *)e + off_auths);
	str = (char *)e + off_str;
	e->signed_len = len;

	for (pos = 0; pos < len;) {
		const uint8_t *line = buf + pos;
		size_t llen = (size_t)((const uint8_t *)memchr(line, '\n', len - pos) - line);

		lineno++;
		if (llen == 0) {
			r = kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: empty line", lineno);
			goto out;
		}
		if ((r = check_line_bytes(line, llen, lineno, err)) != KTA_OK)
			goto out;
		if (st == ST_NONE) {
			if (llen != HEADER_LEN || memcmp(line, KTA_ENTRY_HEADER, HEADER_LEN) != 0) {
				r = kta_error_set(err, KTA_ERR_MALFORMED,
						  "line 1: expected header \"keydir/v1\", found "
						  "\"%s\"",
						  kta_quote(line, llen, QUOTE_MAX, q));
				goto out;
			}
			st = ST_HEADER;
		} else if ((r = parse_line(e, line, llen, pos, lineno, &st, nk_max, na_max, str,
					   &strpos, err)) != KTA_OK) {
			goto out;
		}
		pos += llen + 1;
	}
	if (st < ST_TIME) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: missing \"%s\" line",
				  lineno + 1, stage_names[st + 1]);
		goto out;
	}
	if ((r = check_devices(e->keys, e->nkeys, KTA_ERR_MALFORMED, err)) != KTA_OK)
		goto out;
	if (e->nkeys == 0)
		e->keys = NULL;
	if (e->nauths == 0)
		e->auths = NULL;
	*out = e;
	e = NULL;
	r = KTA_OK;
out:
	free(e);
	return r;
}

void kta_entry_free(struct kta_entry *e)
{
	free(e);
}

/* ------------------------------------------------------------------------ */
/* kta_entry_validate and kta_entry_parse_buf: the same rules as
 * kta_entry_parse in one pass, without building the entry (the verify-only
 * replay's path) or building it in reused storage without a per-entry
 * allocation (the full audit's path; issue 9). The grammar is
 * fixed (entry.h): header, label, version, time, key*, auth*; each line is
 * matched byte by byte against it, so the generic field split, the line
 * pre-scan and the copies are not needed. The buffer ends in "\n" (checked
 * first), which every scan below stops at. */

/* Most key lines an entry can hold: each is at least KEY_LINE_MIN + 1 bytes. */
#define VALIDATE_KEYS_MAX (KTA_ENTRY_MAX_SIZE / (KEY_LINE_MIN + 1) + 1)
/* Up to this many keys, devices are compared pairwise; above, sorted. */
#define VALIDATE_PAIRWISE_MAX 8

/* 0x0101010101010101: a byte value b times SWAR_ONES is b in every byte. */
#define SWAR_ONES (UINT64_MAX / 255)

/* A key line's (alg, device) for the uniqueness check: device at buf + off. */
struct vkey {
	uint16_t off;
	uint8_t len; /* 1..KTA_DEVICE_MAX_LEN */
	uint8_t alg;
};

/*
 * Scans a name (entry.h "Names") starting at p and ending before the first
 * byte below 0x21 (ASCII space, "\n", controls) or DEL: returns that byte's
 * position, or NULL if the name is empty, longer than max, not valid UTF-8
 * or holds a banned code point. end bounds the multi-byte decoding.
 */
static const uint8_t *scan_name(const uint8_t *p, const uint8_t *end, size_t max)
{
	const uint8_t *s = p;
	uint32_t cp = 0;
	size_t n;

	for (;;) {
		uint8_t c;
		uint64_t w;

		/* Eight bytes at a time while they are all 0x21..0x7e (SWAR:
		 * no byte below 0x21, none above 0x7e). */
		while (end - p >= 8) {
			memcpy(&w, p, 8);
			if ((((w - SWAR_ONES * 0x21) & ~w) | ((w + SWAR_ONES * (127 - 0x7e)) | w)) &
			    SWAR_ONES * 0x80)
				break;
			p += 8;
		}
		c = *p;
		if (c > 0x20 && c < 0x7f) {
			p++;
			continue;
		}
		if (c < 0x80)
			break;
		if ((n = kta_utf8_next(p, (size_t)(end - p), 0, &cp)) == 0 || banned_code_point(cp))
			return NULL;
		p += n;
	}
	if (p == s || (size_t)(p - s) > max)
		return NULL;
	return p;
}

/* Scans a canonical decimal in min..max ending at "\n" into *v; returns the
 * byte after the "\n" or NULL (kta_parse_u64 rules: digits only, no leading
 * 0). */
static const uint8_t *scan_number(const uint8_t *p, uint64_t min, uint64_t max, uint64_t *v)
{
	const uint8_t *s = p;
	uint64_t x = 0;

	while (*p >= '0' && *p <= '9') {
		uint64_t d = (uint64_t)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return NULL;
		x = x * 10 + d;
		p++;
	}
	if (p == s || *p != '\n' || (p - s > 1 && *s == '0') || x < min || x > max)
		return NULL;
	*v = x;
	return p + 1;
}

/* Canonical base64 of exactly n bytes at p (KTA_B64_ENCODED_LEN(n) chars). */
static int b64_exact(const uint8_t *p, uint8_t *out, size_t n)
{
	size_t got = 0;

	return kta_b64_decode((const char *)p, KTA_B64_ENCODED_LEN(n), out, n, &got) == KTA_OK &&
	       got == n;
}

/* Total order on (alg, device) for the sort; 0 means the same pair. */
static int vkey_cmp(const uint8_t *buf, const struct vkey *a, const struct vkey *b)
{
	if (a->alg != b->alg)
		return a->alg < b->alg ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(buf + a->off, buf + b->off, a->len);
}

static void vkey_sift(const uint8_t *buf, struct vkey *k, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		struct vkey t;

		if (c >= n)
			return;
		if (c + 1 < n && vkey_cmp(buf, &k[c], &k[c + 1]) < 0)
			c++;
		if (vkey_cmp(buf, &k[i], &k[c]) >= 0)
			return;
		t = k[i];
		k[i] = k[c];
		k[c] = t;
		i = c;
	}
}

/* 1 when two keys share (alg, device). In place, no allocation: O(n^2) for
 * a few keys, heapsort (O(n log n) whatever the input) above that. */
static int vkeys_dup(const uint8_t *buf, struct vkey *k, size_t n)
{
	size_t i, j;

	if (n <= VALIDATE_PAIRWISE_MAX) {
		for (i = 1; i < n; i++)
			for (j = 0; j < i; j++)
				if (vkey_cmp(buf, &k[i], &k[j]) == 0)
					return 1;
		return 0;
	}
	for (i = n / 2; i-- > 0;)
		vkey_sift(buf, k, i, n);
	for (i = n - 1; i > 0; i--) {
		struct vkey t = k[0];

		k[0] = k[i];
		k[i] = t;
		vkey_sift(buf, k, 0, i);
	}
	for (i = 1; i < n; i++)
		if (vkey_cmp(buf, &k[i - 1], &k[i]) == 0)
			return 1;
	return 0;
}

/* The storage of kta_entry_parse_buf (entry.h). Every array grows, never
 * shrinks, and has a hard cap from KTA_ENTRY_MAX_SIZE: str at most that many
 * bytes, keys and auths at most twice the lines such an entry can hold
 * (under 256 KiB in all). */
struct kta_entry_buf {
	struct kta_entry e;         /* the view handed out; points into the arrays below */
	struct kta_entry_key *keys; /* keys_cap elements */
	size_t keys_cap;
	struct kta_entry_auth *auths; /* auths_cap elements */
	size_t auths_cap;
	char *str; /* label and device names, each NUL-terminated: str_cap bytes */
	size_t str_cap;
};

/* Returns the array p of *cap elements of `size` bytes grown to hold more
 * than `used` (at least doubled) and updates *cap; NULL when out of memory
 * (p and *cap unchanged). */
static void *grow_array(void *p, size_t *cap, size_t used, size_t size)
{
	size_t n = *cap < 4 ? 4 : 2 * *cap;
	void *q;

	while (n <= used)
		n *= 2; /* used <= KTA_ENTRY_MAX_SIZE: no overflow */
	if ((q = realloc(p, n * size)) == NULL)
		return NULL;
	*cap = n;
	return q;
}

/*
 * The single pass behind kta_entry_validate and kta_entry_parse_buf: checks
 * (buf, len) against every rule of kta_entry_parse and, when b is not NULL,
 * fills b->e with what the parser would return. KTA_OK, KTA_ERR_MALFORMED
 * (*line is the line where the entry is not valid, 0 for a device with two
 * keys of one algorithm: for the fallback message) or, only with b,
 * KTA_ERR_NOMEM. Without b nothing is allocated.
 */
static enum kta_status entry_scan(const uint8_t *buf, size_t len, size_t *line,
				  struct kta_entry_buf *b)
{
	struct vkey keys[VALIDATE_KEYS_MAX];
	const uint8_t *p = buf, *end = buf + len, *q;
	/* Without b, public keys are decoded into tmp, alternating, so that the
	 * previous one is still there for the order check. */
	uint8_t tmp[2][32], sig[64], *pub, *sigp = sig;
	const uint8_t *prev = NULL;
	size_t nkeys = 0, nauths = 0, strpos = 0, signed_len = len, n;
	uint64_t version = 0, time = 0;
	uint8_t prev_alg = 0;

	*line = 1;
	if (len == 0 || len > KTA_ENTRY_MAX_SIZE || buf[len - 1] != '\n')
		return KTA_ERR_MALFORMED;
	if (len < HEADER_LEN + 1 || memcmp(p, KTA_ENTRY_HEADER "\n", HEADER_LEN + 1) != 0)
		return KTA_ERR_MALFORMED;
	/* The names with their NULs take fewer bytes than the entry. */
	if (b != NULL && b->str_cap < len) {
		char *s = realloc(b->str, len);

		if (s == NULL)
			return KTA_ERR_NOMEM;
		b->str = s;
		b->str_cap = len;
	}
	p += HEADER_LEN + 1;
	*line = 2;
	if ((size_t)(end - p) < 6 || memcmp(p, "label ", 6) != 0 ||
	    (q = scan_name(p + 6, end, KTA_LABEL_MAX_LEN)) == NULL || *q != '\n')
		return KTA_ERR_MALFORMED;
	if (b != NULL) {
		n = (size_t)(q - (p + 6));
		memcpy(b->str, p + 6, n);
		b->str[n] = '\0';
		strpos = n + 1;
	}
	p = q + 1;
	*line = 3;
	if ((size_t)(end - p) < 8 || memcmp(p, "version ", 8) != 0 ||
	    (p = scan_number(p + 8, 1, KTA_ENTRY_MAX_VERSION, &version)) == NULL)
		return KTA_ERR_MALFORMED;
	*line = 4;
	if ((size_t)(end - p) < 5 || memcmp(p, "time ", 5) != 0 ||
	    (p = scan_number(p + 5, 0, KTA_ENTRY_MAX_TIME, &time)) == NULL)
		return KTA_ERR_MALFORMED;
	/* key lines: "key " alg " " pub(44) " " device "\n", ascending (alg, pub) */
	while (++*line, end - p >= 4 && memcmp(p, "key ", 4) == 0) {
		uint8_t alg;

		p += 4;
		if (end - p >= 8 && memcmp(p, "ed25519 ", 8) == 0) {
			alg = KTA_ENTRY_ALG_ED25519;
			p += 8;
		} else if (end - p >= 7 && memcmp(p, "x25519 ", 7) == 0) {
			alg = KTA_ENTRY_ALG_X25519;
			p += 7;
		} else {
			return KTA_ERR_MALFORMED;
		}
		if (nkeys >= VALIDATE_KEYS_MAX) /* cannot happen: bounded by the size */
			return KTA_ERR_MALFORMED;
		if (b == NULL) {
			pub = tmp[nkeys & 1];
		} else {
			if (nkeys == b->keys_cap) {
				struct kta_entry_key *k =
				    grow_array(b->keys, &b->keys_cap, nkeys, sizeof(*k));

				if (k == NULL)
					return KTA_ERR_NOMEM;
				b->keys = k;
			}
			pub = b->keys[nkeys].pub;
			/* the array may have moved */
			prev = nkeys > 0 ? b->keys[nkeys - 1].pub : NULL;
		}
		if (end - p < PUB_B64_LEN + 1 || p[PUB_B64_LEN] != ' ' || !b64_exact(p, pub, 32))
			return KTA_ERR_MALFORMED;
		if (nkeys > 0 &&
		    (alg < prev_alg || (alg == prev_alg && memcmp(prev, pub, 32) >= 0)))
			return KTA_ERR_MALFORMED;
		p += PUB_B64_LEN + 1;
		if ((q = scan_name(p, end, KTA_DEVICE_MAX_LEN)) == NULL || *q != '\n')
			return KTA_ERR_MALFORMED;
		n = (size_t)(q - p);
		keys[nkeys].off = (uint16_t)(p - buf);
		keys[nkeys].len = (uint8_t)n;
		keys[nkeys].alg = alg;
		if (b != NULL) {
			struct kta_entry_key *k = &b->keys[nkeys];

			k->alg = (enum kta_entry_alg)alg;
			k->device = b->str + strpos;
			memcpy(k->device, p, n);
			k->device[n] = '\0';
			strpos += n + 1;
		}
		nkeys++;
		prev_alg = alg;
		prev = pub;
		p = q + 1;
	}
	/* auth lines: "auth ed25519 " pub(44) " " sig(88) "\n", ascending pub */
	for (; p < end; ++*line) {
		if (end - p < AUTH_LINE_LEN + 1 || memcmp(p, "auth ed25519 ", 13) != 0 ||
		    p[13 + PUB_B64_LEN] != ' ' || p[AUTH_LINE_LEN] != '\n')
			return KTA_ERR_MALFORMED;
		if (b == NULL) {
			pub = tmp[nauths & 1];
		} else {
			if (nauths == b->auths_cap) {
				struct kta_entry_auth *a =
				    grow_array(b->auths, &b->auths_cap, nauths, sizeof(*a));

				if (a == NULL)
					return KTA_ERR_NOMEM;
				b->auths = a;
			}
			pub = b->auths[nauths].pub;
			sigp = b->auths[nauths].sig;
			prev = nauths > 0 ? b->auths[nauths - 1].pub : NULL;
		}
		if (!b64_exact(p + 13, pub, 32) || !b64_exact(p + 14 + PUB_B64_LEN, sigp, 64))
			return KTA_ERR_MALFORMED;
		if (nauths > 0 && memcmp(prev, pub, 32) >= 0)
			return KTA_ERR_MALFORMED;
		if (nauths == 0)
			signed_len = (size_t)(p - buf);
		prev = pub;
		nauths++;
		p += AUTH_LINE_LEN + 1;
	}
	if (vkeys_dup(buf, keys, nkeys)) {
		*line = 0;
		return KTA_ERR_MALFORMED;
	}
	if (b != NULL) {
		b->e.label = b->str;
		b->e.version = version;
		b->e.time = time;
		b->e.keys = nkeys > 0 ? b->keys : NULL;
		b->e.nkeys = nkeys;
		b->e.auths = nauths > 0 ? b->auths : NULL;
		b->e.nauths = nauths;
		b->e.signed_len = signed_len;
	}
	return KTA_OK;
}

/* Words the rejection of (buf, len), which entry_scan found malformed at
 * `line`, as kta_entry_parse does. */
static enum kta_status entry_reject(const uint8_t *buf, size_t len, size_t line,
				    struct kta_error *err)
{
	struct kta_entry *e = NULL;
	enum kta_status r;

	if (err == NULL)
		return KTA_ERR_MALFORMED;
	/* Rejections are rare: the parser words the message. */
	r = kta_entry_parse(buf, len, &e, err);
	kta_entry_free(e);
	if (r == KTA_OK)
		return kta_error_set(err, KTA_ERR_INTERNAL,
				     "entry validation and parsing disagree (line %zu)", line);
	if (r == KTA_ERR_MALFORMED)
		return r;
	/* The parser could not run (out of memory): a shorter message. */
	if (line == 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "malformed entry: a device has two keys of one algorithm");
	return kta_error_set(err, KTA_ERR_MALFORMED, "line %zu: malformed entry", line);
}

enum kta_status kta_entry_validate(const uint8_t *buf, size_t len, struct kta_error *err)
{
	size_t line = 0;

	if (buf == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "no entry bytes");
	if (entry_scan(buf, len, &line, NULL) == KTA_OK)
		return KTA_OK;
	return entry_reject(buf, len, line, err);
}

enum kta_status kta_entry_buf_new(struct kta_entry_buf **out, struct kta_error *err)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	return KTA_OK;
}

void kta_entry_buf_free(struct kta_entry_buf *b)
{
	if (b == NULL)
		return;
	free(b->keys);
	free(b->auths);
	free(b->str);
	free(b);
}

enum kta_status kta_entry_parse_buf(const uint8_t *buf, size_t len, struct kta_entry_buf *b,
				    const struct kta_entry **out, struct kta_error *err)
{
	enum kta_status r;
	size_t line = 0;

	*out = NULL;
	if (b == NULL || (buf == NULL && len > 0))
		return kta_error_set(err, KTA_ERR_USAGE, "entry: no buffer or no bytes");
	if (buf == NULL) /* len == 0: the parser's "empty entry" */
		return entry_reject(buf, len, line, err);
	if ((r = entry_scan(buf, len, &line, b)) == KTA_OK) {
		*out = &b->e;
		return KTA_OK;
	}
	if (r == KTA_ERR_NOMEM)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	return entry_reject(buf, len, line, err);
}

/* Digits of v in decimal (u64_to_dec's length, without writing them). */
static size_t dec_len(uint64_t v)
{
	uint64_t p = 10;
	size_t n = 1;

	while (n < 20 && v >= p) {
		n++;
		if (n < 20)
			p *= 10;
	}
	return n;
}

/* Spelled bytes of the header, label, version and time lines. */
static size_t head_len(size_t label_len, uint64_t version, uint64_t time)
{
	return HEADER_LEN + 1 + 6 + label_len + 1 + 8 + dec_len(version) + 1 + 5 + dec_len(time) +
	       1;
}

/* Spelled bytes of key k's line. */
static size_t key_line_len(const struct kta_entry_key *k)
{
	const char *alg = kta_entry_alg_name(k->alg);

	return 4 + (alg != NULL ? strlen(alg) : 0) + 1 + PUB_B64_LEN + 1 + strlen(k->device) + 1;
}

/*
 * Checks that e obeys every rule of the format (entry.h) and computes its
 * serialized length and signed_len. Fails with KTA_ERR_USAGE naming the
 * would-be line, or KTA_ERR_LIMIT when too large.
 */
static enum kta_status entry_measure(const struct kta_entry *e, size_t *total, size_t *signed_len,
				     struct kta_error *err)
{
	size_t n, i, line;
	enum kta_status r;

	if (e->label == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "line 2: label is NULL");
	if ((r = check_name((const uint8_t *)e->label, strlen(e->label), KTA_LABEL_MAX_LEN, "label",
			    2, KTA_ERR_USAGE, err)) != KTA_OK)
		return r;
	if (e->version < 1 || e->version > KTA_ENTRY_MAX_VERSION)
		return kta_error_set(err, KTA_ERR_USAGE, "line 3: version %llu is not in 1..%lld",
				     (unsigned long long)e->version, (long long)INT64_MAX);
	if (e->time > KTA_ENTRY_MAX_TIME)
		return kta_error_set(err, KTA_ERR_USAGE, "line 4: time %llu is more than %lld",
				     (unsigned long long)e->time, (long long)INT64_MAX);
	if ((e->nkeys > 0 && e->keys == NULL) || (e->nauths > 0 && e->auths == NULL))
		return kta_error_set(err, KTA_ERR_USAGE, "keys or auths is NULL");
	/* label is <= 1024 bytes and decimals <= 19 digits: no overflow here. */
	n = head_len(strlen(e->label), e->version, e->time);
	for (i = 0; i < e->nkeys; i++) {
		const struct kta_entry_key *k = &e->keys[i];

		line = FIXED_LINES + 1 + i;
		if (kta_entry_alg_name(k->alg) == NULL)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "line %zu: unknown key algorithm %d", line,
					     (int)k->alg);
		if (k->device == NULL)
			return kta_error_set(err, KTA_ERR_USAGE, "line %zu: device name is NULL",
					     line);
		if ((r = check_name((const uint8_t *)k->device, strlen(k->device),
				    KTA_DEVICE_MAX_LEN, "device name", line, KTA_ERR_USAGE, err)) !=
		    KTA_OK)
			return r;
		if (i > 0 && key_cmp(&e->keys[i - 1], k) >= 0)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "line %zu: keys not in canonical order or duplicated "
					     "(sorted by algorithm, then public key)",
					     line);
		n += key_line_len(k);
		if (n > KTA_ENTRY_MAX_SIZE) /* checked per line: n cannot overflow */
			return kta_error_set(err, KTA_ERR_LIMIT,
					     "line %zu: entry would exceed %d bytes", line,
					     KTA_ENTRY_MAX_SIZE);
	}
	if ((r = check_devices(e->keys, e->nkeys, KTA_ERR_USAGE, err)) != KTA_OK)
		return r;
	*signed_len = n;
	for (i = 0; i < e->nauths; i++) {
		line = FIXED_LINES + 1 + e->nkeys + i;
		if (i > 0 && memcmp(e->auths[i - 1].pub, e->auths[i].pub, 32) >= 0)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "line %zu: auths not in canonical order or duplicated "
					     "(sorted by public key)",
					     line);
		n += AUTH_LINE_LEN + 1;
		if (n > KTA_ENTRY_MAX_SIZE)
			return kta_error_set(err, KTA_ERR_LIMIT,
					     "line %zu: entry would exceed %d bytes", line,
					     KTA_ENTRY_MAX_SIZE);
	}
	*total = n;
	return KTA_OK;
}

/* Appends (s, n) at *pos in buf. The caller has sized buf. */
static void put(uint8_t *buf, size_t *pos, const void *s, size_t n)
{
	memcpy(buf + *pos, s, n);
	*pos += n;
}

static void put_str(uint8_t *buf, size_t *pos, const char *s)
{
	put(buf, pos, s, strlen(s));
}

enum kta_status kta_entry_serialize(const struct kta_entry *e, uint8_t **out, size_t *out_len,
				    struct kta_error *err)
{
	enum kta_status r = KTA_ERR_USAGE;
	uint8_t *buf = NULL;
	size_t total = 0, slen = 0, pos = 0, i;
	char tmp[SIG_B64_LEN + 1];

	*out = NULL;
	*out_len = 0;
	if (e == NULL) {
		r = kta_error_set(err, KTA_ERR_USAGE, "no entry");
		goto out;
	}
	if ((r = entry_measure(e, &total, &slen, err)) != KTA_OK)
		goto out;
	if ((buf = malloc(total)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	put_str(buf, &pos, KTA_ENTRY_HEADER "\nlabel ");
	put_str(buf, &pos, e->label);
	put_str(buf, &pos, "\nversion ");
	put(buf, &pos, tmp, u64_to_dec(e->version, tmp));
	put_str(buf, &pos, "\ntime ");
	put(buf, &pos, tmp, u64_to_dec(e->time, tmp));
	put_str(buf, &pos, "\n");
	for (i = 0; i < e->nkeys; i++) {
		put_str(buf, &pos, "key ");
		put_str(buf, &pos, alg_names[e->keys[i].alg]);
		put_str(buf, &pos, " ");
		put(buf, &pos, tmp, kta_b64_encode(e->keys[i].pub, 32, tmp));
		put_str(buf, &pos, " ");
		put_str(buf, &pos, e->keys[i].device);
		put_str(buf, &pos, "\n");
	}
	for (i = 0; i < e->nauths; i++) {
		put_str(buf, &pos, "auth ed25519 ");
		put(buf, &pos, tmp, kta_b64_encode(e->auths[i].pub, 32, tmp));
		put_str(buf, &pos, " ");
		put(buf, &pos, tmp, kta_b64_encode(e->auths[i].sig, 64, tmp));
		put_str(buf, &pos, "\n");
	}
	if (pos != total) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "serialized %zu bytes, measured %zu", pos,
				  total);
		goto out;
	}
	*out = buf;
	*out_len = total;
	buf = NULL;
	r = KTA_OK;
out:
	free(buf);
	return r;
}

size_t kta_entry_spelled_len(const struct kta_entry *e)
{
	size_t n, i;

	n = head_len(strlen(e->label), e->version, e->time);
	for (i = 0; i < e->nkeys; i++)
		n += key_line_len(&e->keys[i]);
	return n + e->nauths * (AUTH_LINE_LEN + 1);
}

/* Packed form (entry.h): bytes of a key before its device name (alg, pub,
 * device length) and of an auth line (pub, sig). */
#define PACK_KEY_FIXED 34
#define PACK_AUTH 96

/* Bytes of v as a varint (encoding.h). */
static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

enum kta_status kta_entry_pack(const struct kta_entry *e, uint8_t *out, size_t cap, size_t *len,
			       struct kta_error *err)
{
	size_t ll = strlen(e->label), need, n = 0, i;

	*len = 0;
	if (ll > KTA_LABEL_MAX_LEN || e->nkeys > KTA_ENTRY_MAX_SIZE / PACK_KEY_FIXED ||
	    e->nauths > KTA_ENTRY_MAX_SIZE / PACK_AUTH)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "pack: label, keys or auths too long for an entry");
	/* bounded above: no overflow */
	need = varint_len(ll) + ll + varint_len(e->time) + varint_len(e->nkeys) +
	       varint_len(e->nauths) + e->nauths * PACK_AUTH;
	for (i = 0; i < e->nkeys; i++) {
		size_t dl = strlen(e->keys[i].device);

		if (dl == 0 || dl > KTA_DEVICE_MAX_LEN)
			return kta_error_set(err, KTA_ERR_LIMIT,
					     "pack: key %zu: device name of %zu bytes", i + 1, dl);
		need += PACK_KEY_FIXED + dl;
	}
	if (need > cap)
		return kta_error_set(err, KTA_ERR_LIMIT, "pack: %zu bytes, room for %zu", need,
				     cap);
	n += kta_varint_put(out + n, ll);
	memcpy(out + n, e->label, ll);
	n += ll;
	n += kta_varint_put(out + n, e->time);
	n += kta_varint_put(out + n, e->nkeys);
	for (i = 0; i < e->nkeys; i++) {
		size_t dl = strlen(e->keys[i].device);

		out[n++] = (uint8_t)e->keys[i].alg;
		memcpy(out + n, e->keys[i].pub, 32);
		n += 32;
		out[n++] = (uint8_t)dl;
		memcpy(out + n, e->keys[i].device, dl);
		n += dl;
	}
	n += kta_varint_put(out + n, e->nauths);
	for (i = 0; i < e->nauths; i++) {
		memcpy(out + n, e->auths[i].pub, 32);
		memcpy(out + n + 32, e->auths[i].sig, 64);
		n += PACK_AUTH;
	}
	*len = n;
	return KTA_OK;
}

/* Reads a name of 1..max bytes with its varint (label) or 1-byte (device)
 * length at *off into a new NUL-terminated string at *dst (in the caller's
 * block, advanced). */
static int unpack_name(const uint8_t *p, size_t len, size_t *off, uint64_t n, size_t max,
		       char **dst)
{
	if (n == 0 || n > max || len - *off < n || memchr(p + *off, 0, (size_t)n) != NULL)
		return -1;
	memcpy(*dst, p + *off, (size_t)n);
	(*dst)[n] = '\0';
	*off += (size_t)n;
	*dst += n + 1;
	return 0;
}

enum kta_status kta_entry_unpack(const uint8_t *p, size_t len, uint64_t version, uint8_t **out,
				 size_t *out_len, struct kta_error *err)
{
	struct kta_entry e;
	struct kta_error se = {0};
	uint64_t ll = 0, nk = 0, na = 0;
	size_t off = 0, i, kmax = len / PACK_KEY_FIXED + 1, amax = len / PACK_AUTH + 1;
	uint8_t *block = NULL;
	char *names;
	enum kta_status r;
	const char *why = "bad label length";

	*out = NULL;
	*out_len = 0;
	if (len > KTA_ENTRY_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_MALFORMED, "packed entry: %zu bytes, too long",
				     len);
	memset(&e, 0, sizeof(e));
	e.version = version;
	/* One block: room for as many keys and auths as len could hold, then
	 * the names (each no longer than its packed bytes, plus a NUL). */
	if ((block = malloc(kmax * sizeof(struct kta_entry_key) +
			    amax * sizeof(struct kta_entry_auth) + len + kmax + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	names = (char *)block + kmax * sizeof(struct kta_entry_key) +
		amax * sizeof(struct kta_entry_auth);
	e.label = names;
	if (kta_varint_get(p, len, &off, &ll) != 0)
		goto bad;
	if (unpack_name(p, len, &off, ll, KTA_LABEL_MAX_LEN, &names) != 0) {
		why = "bad label";
		goto bad;
	}
	why = "bad time";
	if (kta_varint_get(p, len, &off, &e.time) != 0)
		goto bad;
	why = "bad key count";
	if (kta_varint_get(p, len, &off, &nk) != 0)
		goto bad;
	why = "more keys than bytes left";
	if (nk > (len - off) / PACK_KEY_FIXED)
		goto bad;
	e.keys = nk > 0 ? (struct kta_entry_key *)(void *)block : NULL;
	e.nkeys = (size_t)nk;
	for (i = 0; i < e.nkeys; i++) {
		struct kta_entry_key *k = &e.keys[i];

		why = "truncated key";
		if (len - off < PACK_KEY_FIXED)
			goto bad;
		if (p[off] != KTA_ENTRY_ALG_ED25519 && p[off] != KTA_ENTRY_ALG_X25519) {
			why = "unknown key algorithm";
			goto bad;
		}
		k->alg = (enum kta_entry_alg)p[off];
		memcpy(k->pub, p + off + 1, 32);
		off += PACK_KEY_FIXED;
		k->device = names;
		if (unpack_name(p, len, &off, p[off - 1], KTA_DEVICE_MAX_LEN, &names) != 0) {
			why = "bad device name";
			goto bad;
		}
	}
	why = "bad auth count";
	if (kta_varint_get(p, len, &off, &na) != 0)
		goto bad;
	why = "more auths than bytes left";
	if (na > (len - off) / PACK_AUTH)
		goto bad;
	e.auths =
	    na > 0 ? (struct kta_entry_auth *)(void *)(block + kmax * sizeof(struct kta_entry_key))
		   : NULL;
	e.nauths = (size_t)na;
	for (i = 0; i < e.nauths; i++, off += PACK_AUTH) {
		memcpy(e.auths[i].pub, p + off, 32);
		memcpy(e.auths[i].sig, p + off + 32, 64);
	}
	if (off != len) {
		why = "trailing bytes";
		goto bad;
	}
	r = kta_entry_serialize(&e, out, out_len, &se);
	free(block);
	if (r == KTA_ERR_USAGE || r == KTA_ERR_LIMIT)
		return kta_error_set(err, KTA_ERR_MALFORMED, "packed entry: %s", se.msg);
	if (r != KTA_OK)
		return kta_error_set(err, r, "packed entry: %s", se.msg);
	return KTA_OK;
bad:
	free(block);
	return kta_error_set(err, KTA_ERR_MALFORMED, "packed entry: %s at byte %zu", why, off);
}

/* Builds KTA_ENTRY_AUTH_CONTEXT || raw[0 : slen] in a new buffer. */
static enum kta_status auth_message(const uint8_t *raw, size_t slen, uint8_t **msg, size_t *len,
				    struct kta_error *err)
{
	uint8_t *m = malloc(CONTEXT_LEN + slen);

	*msg = NULL;
	if (m == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	memcpy(m, KTA_ENTRY_AUTH_CONTEXT, CONTEXT_LEN);
	if (slen > 0)
		memcpy(m + CONTEXT_LEN, raw, slen);
	*msg = m;
	*len = CONTEXT_LEN + slen;
	return KTA_OK;
}

enum kta_status kta_entry_sign(const uint8_t *raw, size_t raw_len, const uint8_t seed[static 32],
			       uint8_t **out, size_t *out_len, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_MALFORMED;
	struct kta_entry *e = NULL;
	struct kta_entry_auth *auths = NULL;
	struct kta_entry tmp;
	struct kta_entry_auth a;
	uint8_t *msg = NULL;
	size_t mlen = 0, i, at;
	char b64[PUB_B64_LEN + 1];

	*out = NULL;
	*out_len = 0;
	if ((r = kta_entry_parse(raw, raw_len, &e, err)) != KTA_OK)
		goto out;
	if ((r = kta_ed25519_public(seed, a.pub, err)) != KTA_OK)
		goto out;
	for (at = 0; at < e->nauths && memcmp(e->auths[at].pub, a.pub, 32) < 0; at++)
		;
	if (at < e->nauths && memcmp(e->auths[at].pub, a.pub, 32) == 0) {
		kta_b64_encode(a.pub, 32, b64);
		r = kta_error_set(err, KTA_ERR_USAGE, "line %zu: entry is already signed by %s",
				  FIXED_LINES + 1 + e->nkeys + at, b64);
		goto out;
	}
	if ((r = auth_message(raw, e->signed_len, &msg, &mlen, err)) != KTA_OK)
		goto out;
	if ((r = kta_ed25519_sign(seed, msg, mlen, a.sig, err)) != KTA_OK)
		goto out;
	if ((auths = malloc((e->nauths + 1) * sizeof(*auths))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < at; i++)
		auths[i] = e->auths[i];
	auths[at] = a;
	for (i = at; i < e->nauths; i++)
		auths[i + 1] = e->auths[i];
	tmp = *e;
	tmp.auths = auths;
	tmp.nauths = e->nauths + 1;
	r = kta_entry_serialize(&tmp, out, out_len, err);
out:
	free(auths);
	free(msg);
	kta_entry_free(e);
	return r;
}

/*
 * Checks that raw is exactly the serialization of e (so that the signed
 * bytes are the ones e describes) and returns signed_len.
 */
static enum kta_status check_raw(const struct kta_entry *e, const uint8_t *raw, size_t raw_len,
				 size_t *slen, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_USAGE;
	uint8_t *ser = NULL;
	size_t n = 0, total = 0;

	if (e == NULL || raw == NULL) {
		r = kta_error_set(err, KTA_ERR_USAGE, "no entry or raw bytes");
		goto out;
	}
	if ((r = entry_measure(e, &total, slen, err)) != KTA_OK)
		goto out;
	if (raw_len != total) {
		r = kta_error_set(err, KTA_ERR_USAGE,
				  "raw entry is %zu bytes but the parsed entry serializes to %zu",
				  raw_len, total);
		goto out;
	}
	if ((r = kta_entry_serialize(e, &ser, &n, err)) != KTA_OK)
		goto out;
	if (n != raw_len || memcmp(ser, raw, n) != 0) {
		r = kta_error_set(err, KTA_ERR_USAGE,
				  "raw bytes are not the serialization of the parsed entry");
		goto out;
	}
	r = KTA_OK;
out:
	free(ser);
	return r;
}

/* Verifies auth i over msg; KTA_OK, KTA_ERR_VERIFY (message) or other. */
static enum kta_status verify_one(const struct kta_entry *e, const uint8_t *msg, size_t mlen,
				  size_t i, struct kta_error *err)
{
	enum kta_status r = kta_ed25519_verify(e->auths[i].pub, msg, mlen, e->auths[i].sig);
	char b64[PUB_B64_LEN + 1];

	if (r == KTA_OK)
		return KTA_OK;
	if (r == KTA_ERR_VERIFY) {
		kta_b64_encode(e->auths[i].pub, 32, b64);
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "line %zu: auth signature by %s does not verify",
				     FIXED_LINES + 1 + e->nkeys + i, b64);
	}
	return kta_error_set(err, r, "line %zu: Ed25519 verification failed in OpenSSL",
			     FIXED_LINES + 1 + e->nkeys + i);
}

enum kta_status kta_entry_auth_verify(const struct kta_entry *e, const uint8_t *raw, size_t raw_len,
				      size_t i, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_USAGE;
	uint8_t *msg = NULL;
	size_t mlen = 0, slen = 0;

	if ((r = check_raw(e, raw, raw_len, &slen, err)) != KTA_OK)
		goto out;
	if (i >= e->nauths) {
		r = kta_error_set(err, KTA_ERR_USAGE, "auth %zu of %zu does not exist", i,
				  e->nauths);
		goto out;
	}
	if ((r = auth_message(raw, slen, &msg, &mlen, err)) != KTA_OK)
		goto out;
	r = verify_one(e, msg, mlen, i, err);
out:
	free(msg);
	return r;
}

/* 1 if pub is an "ed25519" key of p (an x25519 key with the same bytes is not). */
static int is_owner_key(const struct kta_entry *p, const uint8_t pub[32])
{
	size_t i;

	for (i = 0; i < p->nkeys; i++)
		if (p->keys[i].alg == KTA_ENTRY_ALG_ED25519 && memcmp(p->keys[i].pub, pub, 32) == 0)
			return 1;
	return 0;
}

/* prev, when given, must be an earlier version of e's label. */
static enum kta_status check_prev(const struct kta_entry *e, const struct kta_entry *prev,
				  struct kta_error *err)
{
	if (prev == NULL)
		return KTA_OK;
	if (prev->label == NULL || e->label == NULL || strcmp(prev->label, e->label) != 0)
		return kta_error_set(err, KTA_ERR_USAGE, "previous entry is for a different label");
	if (prev->version >= e->version)
		return kta_error_set(
		    err, KTA_ERR_USAGE, "previous entry has version %llu, not below %llu",
		    (unsigned long long)prev->version, (unsigned long long)e->version);
	return KTA_OK;
}

enum kta_status kta_entry_auth_decide(const struct kta_entry *e, const struct kta_entry *prev,
				      const enum kta_status *sig, struct kta_entry_auth_report *rep,
				      struct kta_error *err)
{
	struct kta_entry_auth_report rp;
	size_t i;

	rp.result = KTA_AUTH_UNAUTHORIZED;
	rp.nverified = rp.nbad = 0;
	rp.bad_auth = rp.owner_auth = SIZE_MAX;
	rp.bad_line = 0;
	enum kta_status r;

	if (e == NULL || rep == NULL || (e->nauths > 0 && sig == NULL))
		return kta_error_set(err, KTA_ERR_USAGE, "no entry or report");
	if ((r = check_prev(e, prev, err)) != KTA_OK)
		return r;
	for (i = 0; i < e->nauths; i++) {
		if (sig[i] == KTA_OK) {
			rp.nverified++;
			if (prev != NULL && rp.owner_auth == SIZE_MAX &&
			    is_owner_key(prev, e->auths[i].pub))
				rp.owner_auth = i;
		} else if (sig[i] == KTA_ERR_VERIFY) {
			if (rp.nbad++ == 0) {
				rp.bad_auth = i;
				rp.bad_line = FIXED_LINES + 1 + e->nkeys + i;
			}
		} else {
			return kta_error_set(err, sig[i],
					     "line %zu: Ed25519 verification failed in OpenSSL",
					     FIXED_LINES + 1 + e->nkeys + i);
		}
	}
	/* A bad signature is a finding of its own and wins (DESIGN.md A11). */
	if (rp.nbad > 0)
		rp.result = KTA_AUTH_BAD_SIGNATURE;
	else if (e->version == 1)
		rp.result = KTA_AUTH_FIRST_VERSION;
	else if (prev == NULL)
		rp.result = KTA_AUTH_PREV_UNKNOWN;
	else if (rp.owner_auth != SIZE_MAX)
		rp.result = KTA_AUTH_OWNER;
	else
		rp.result = KTA_AUTH_UNAUTHORIZED;
	*rep = rp;
	return KTA_OK;
}

/* Signature outcomes kept on the stack up to this many auth lines. */
#define AUTH_STACK 16

enum kta_status kta_entry_check_auth_report(const struct kta_entry *e, const uint8_t *raw,
					    size_t raw_len, const struct kta_entry *prev,
					    struct kta_entry_auth_report *rep,
					    struct kta_error *err)
{
	enum kta_status r = KTA_ERR_USAGE;
	enum kta_status stack[AUTH_STACK] = {KTA_OK}, *sig = stack;
	uint8_t *msg = NULL;
	size_t mlen = 0, slen = 0, i;

	if (e == NULL || rep == NULL) {
		r = kta_error_set(err, KTA_ERR_USAGE, "no entry or report");
		goto out;
	}
	if ((r = check_prev(e, prev, err)) != KTA_OK)
		goto out;
	if (e->nauths > 0) {
		if ((r = check_raw(e, raw, raw_len, &slen, err)) != KTA_OK)
			goto out;
		if ((r = auth_message(raw, slen, &msg, &mlen, err)) != KTA_OK)
			goto out;
		if (e->nauths > AUTH_STACK && (sig = malloc(e->nauths * sizeof(*sig))) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	for (i = 0; i < e->nauths; i++)
		sig[i] = kta_ed25519_verify(e->auths[i].pub, msg, mlen, e->auths[i].sig);
	r = kta_entry_auth_decide(e, prev, sig, rep, err);
out:
	if (sig != stack)
		free(sig);
	free(msg);
	return r;
}

enum kta_status kta_entry_check_auth(const struct kta_entry *e, const uint8_t *raw, size_t raw_len,
				     const struct kta_entry *prev, enum kta_auth_result *res,
				     struct kta_error *err)
{
	struct kta_entry_auth_report rep;
	enum kta_status r = kta_entry_check_auth_report(e, raw, raw_len, prev, &rep, err);

	if (r == KTA_OK)
		*res = rep.result;
	return r;
}

/* Checks that a key set is canonical (as in a parsed entry). */
static enum kta_status check_key_set(const struct kta_entry_key *k, size_t n, const char *which,
				     struct kta_error *err)
{
	size_t i;
	enum kta_status r;

	if (n > 0 && k == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "%s key set is NULL", which);
	for (i = 0; i < n; i++) {
		if (kta_entry_alg_name(k[i].alg) == NULL || k[i].device == NULL)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "%s key %zu has no algorithm or device", which, i);
		if (i > 0 && key_cmp(&k[i - 1], &k[i]) >= 0)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "%s key set is not in canonical order at key %zu",
					     which, i);
	}
	if ((r = check_devices(k, n, KTA_ERR_USAGE, err)) != KTA_OK)
		return kta_error_wrap(err, r, "%s key set", which);
	return KTA_OK;
}

enum kta_status kta_entry_keys_diff(const struct kta_entry_key *before, size_t nbefore,
				    const struct kta_entry_key *after, size_t nafter,
				    struct kta_entry_key_change **out, size_t *nout,
				    struct kta_error *err)
{
	enum kta_status r = KTA_ERR_USAGE;
	struct kta_entry_key_change *items = NULL;
	size_t *rem = NULL, *add = NULL, *ren_b = NULL, *ren_a = NULL, *pair = NULL;
	size_t nrem = 0, nadd = 0, nren = 0, i = 0, j = 0, k, n = 0, cap;
	unsigned char *used = NULL;

	*out = NULL;
	*nout = 0;
	if ((r = check_key_set(before, nbefore, "before", err)) != KTA_OK ||
	    (r = check_key_set(after, nafter, "after", err)) != KTA_OK)
		goto out;
	/* Both sets hold at most KTA_ENTRY_MAX_SIZE keys in practice; guard the sum. */
	if (nbefore > SIZE_MAX / 4 / sizeof(*items) || nafter > SIZE_MAX / 4 / sizeof(*items)) {
		r = kta_error_set(err, KTA_ERR_LIMIT, "key sets too large");
		goto out;
	}
	cap = nbefore + nafter;
	rem = malloc((nbefore + 1) * sizeof(*rem));
	pair = malloc((nbefore + 1) * sizeof(*pair));
	ren_b = malloc((nbefore + 1) * sizeof(*ren_b));
	ren_a = malloc((nbefore + 1) * sizeof(*ren_a));
	add = malloc((nafter + 1) * sizeof(*add));
	used = calloc(nafter + 1, 1);
	items = malloc((cap + 1) * sizeof(*items));
	if (rem == NULL || pair == NULL || ren_b == NULL || ren_a == NULL || add == NULL ||
	    used == NULL || items == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Merge walk over the two sorted sets, keyed by (alg, pub). */
	while (i < nbefore || j < nafter) {
		int c = i == nbefore ? 1 : j == nafter ? -1 : key_cmp(&before[i], &after[j]);

		if (c < 0) {
			rem[nrem++] = i++;
		} else if (c > 0) {
			add[nadd++] = j++;
		} else {
			if (strcmp(before[i].device, after[j].device) != 0) {
				ren_b[nren] = i;
				ren_a[nren++] = j;
			}
			i++;
			j++;
		}
	}
	/* A removed and an added key of the same (alg, device) is a replacement;
	 * (alg, device) is unique within each set, so the pairing is unique. */
	for (i = 0; i < nrem; i++) {
		const struct kta_entry_key *b = &before[rem[i]];

		pair[i] = SIZE_MAX;
		for (k = 0; k < nadd; k++) {
			const struct kta_entry_key *a = &after[add[k]];

			if (a->alg == b->alg && strcmp(a->device, b->device) == 0) {
				pair[i] = k;
				used[k] = 1;
				break;
			}
		}
	}
	for (k = 0; k < nadd; k++)
		if (!used[k])
			items[n++] = (struct kta_entry_key_change){KTA_ENTRY_KEY_ADDED, NULL,
								   &after[add[k]]};
	for (i = 0; i < nrem; i++)
		if (pair[i] == SIZE_MAX)
			items[n++] = (struct kta_entry_key_change){KTA_ENTRY_KEY_REMOVED,
								   &before[rem[i]], NULL};
	for (i = 0; i < nrem; i++)
		if (pair[i] != SIZE_MAX)
			items[n++] = (struct kta_entry_key_change){
			    KTA_ENTRY_KEY_REPLACED, &before[rem[i]], &after[add[pair[i]]]};
	for (i = 0; i < nren; i++)
		items[n++] = (struct kta_entry_key_change){KTA_ENTRY_KEY_RENAMED, &before[ren_b[i]],
							   &after[ren_a[i]]};
	if (n > 0) {
		*out = items;
		items = NULL;
	}
	*nout = n;
	r = KTA_OK;
out:
	free(items);
	free(rem);
	free(add);
	free(ren_b);
	free(ren_a);
	free(pair);
	free(used);
	return r;
}

/* RFC 3986 unreserved characters: kept literally in lookup names. */
static int unreserved(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Whether label byte c at position i is written literally (entry.h). */
static int literal(uint8_t c, size_t i)
{
	return unreserved(c) && !(i == 0 && c == '.');
}

enum kta_status kta_entry_label_encode(const char *s, size_t len,
				       char out[static KTA_LABEL_ENCODED_MAX + 1], size_t *out_len,
				       struct kta_error *err)
{
	static const char digits[] = "0123456789ABCDEF";
	enum kta_status r;
	size_t i, o = 0;

	*out_len = 0;
	out[0] = '\0';
	if ((r = kta_entry_label_check(s, len, err)) != KTA_OK)
		return r;
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];

		if (literal(c, i)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 15];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return KTA_OK;
}

/* Uppercase hex digit value, or -1 (lowercase is a second spelling). */
static int upper_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum kta_status kta_entry_label_decode(const char *in, size_t in_len,
				       char out[static KTA_LABEL_MAX_LEN + 1], size_t *out_len,
				       struct kta_error *err)
{
	const uint8_t *p = (const uint8_t *)in;
	enum kta_status r = KTA_ERR_MALFORMED;
	size_t i = 0, o = 0;
	char q[QBUF];

	*out_len = 0;
	if (in_len == 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "empty lookup name");
		goto out;
	}
	while (i < in_len) {
		uint8_t c = p[i];

		if (o >= KTA_LABEL_MAX_LEN) {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "lookup name \"%s\" decodes to more than %d bytes",
					  kta_quote(p, in_len, QUOTE_MAX, q), KTA_LABEL_MAX_LEN);
			goto out;
		}
		if (c == '%') {
			int hi = i + 2 < in_len ? upper_hex(p[i + 1]) : -1;
			int lo = i + 2 < in_len ? upper_hex(p[i + 2]) : -1;
			uint8_t b;

			if (hi < 0 || lo < 0) {
				r = kta_error_set(
				    err, KTA_ERR_MALFORMED,
				    "lookup name: '%%' at offset %zu is not followed by "
				    "two uppercase hex digits",
				    i);
				goto out;
			}
			b = (uint8_t)(hi << 4 | lo);
			/* One spelling: a byte the encoder writes literally must not
			 * arrive percent-encoded. */
			if (literal(b, o)) {
				r = kta_error_set(err, KTA_ERR_MALFORMED,
						  "lookup name: \"%%%c%c\" at offset %zu encodes a "
						  "byte that must be written literally",
						  (char)p[i + 1], (char)p[i + 2], i);
				goto out;
			}
			out[o++] = (char)b;
			i += 3;
		} else if (literal(c, o)) {
			out[o++] = (char)c;
			i++;
		} else {
			r = kta_error_set(err, KTA_ERR_MALFORMED,
					  "lookup name: byte 0x%02x at offset %zu must be "
					  "percent-encoded",
					  (unsigned)c, i);
			goto out;
		}
	}
	if (kta_entry_label_check(out, o, err) != KTA_OK) {
		r = kta_error_prefix(err, "lookup name");
		goto out;
	}
	out[o] = '\0';
	*out_len = o;
	r = KTA_OK;
out:
	if (r != KTA_OK)
		out[0] = '\0';
	return r;
}
