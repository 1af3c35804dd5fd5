/* Pin files for `ktaudit check` (see include/ktaudit/pins.h and docs/ci.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/pins.h"
#include "ktaudit/replay.h"
#include "strbuf.h"

/* Directives in their required order (pins.h); the value is the rank. */
enum directive {
	D_LOG = 1,
	D_URL,
	D_KEY,
	D_WITNESS,
	D_QUORUM,
	D_MAX_AGE,
	D_CHECKPOINT,
	D_LABEL,
};

static const struct {
	const char *word;
	enum directive d;
	int repeat; /* may appear more than once */
} directives[] = {
    {"log", D_LOG, 0},
    {"url", D_URL, 0},
    {"key", D_KEY, 0},
    {"witness", D_WITNESS, 1},
    {"quorum", D_QUORUM, 0},
    {"max_age", D_MAX_AGE, 0},
    {"checkpoint", D_CHECKPOINT, 0},
    {"label", D_LABEL, 1},
};
#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

/* Most fields on one line: a label line with the most keys, plus its word and label. */
#define MAX_FIELDS (KTA_PINS_MAX_KEYS + 2)

/* A field of the current line (borrowed from the input). */
struct field {
	const char *s;
	size_t len;
};

struct parser {
	const char *name; /* for messages */
	size_t line;      /* current line, 1-based */
	struct kta_pins *p;
	size_t seen[NDIRECTIVES + 1]; /* line of each directive's first occurrence */
	enum directive last;          /* rank of the last directive seen */
	size_t labels_cap, witnesses_cap;
	size_t quorum_line;
	struct field f[MAX_FIELDS];
	size_t nf;
};

KTA_PRINTF(4, 5)
static enum kta_status perr(struct parser *ps, enum kta_status st, struct kta_error *err,
			    const char *fmt, ...)
{
	char msg[KTA_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kta_error_set(err, st, "%s:%zu: %s", ps->name, ps->line, msg);
}

/* Copies a field into a new NUL-terminated string. */
static char *field_dup(const struct field *f)
{
	char *s = malloc(f->len + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, f->s, f->len);
	s[f->len] = '\0';
	return s;
}

static int field_is(const struct field *f, const char *word)
{
	return f->len == strlen(word) && memcmp(f->s, word, f->len) == 0;
}

/*
 * Checks one line's bytes (UTF-8, no control characters) and splits it into
 * fields at single spaces. Comments are checked but not split.
 */
static enum kta_status split_line(struct parser *ps, const char *s, size_t len,
				  struct kta_error *err)
{
	size_t i, start = 0;

	if (!kta_utf8_valid((const uint8_t *)s, len))
		return perr(ps, KTA_ERR_MALFORMED, err, "not valid UTF-8");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return perr(ps, KTA_ERR_MALFORMED, err,
				    "control character 0x%02x at column %zu%s", c, i + 1,
				    c == '\r' ? " (CRLF line ends are not allowed)" : "");
	}
	ps->nf = 0;
	if (len == 0 || s[0] == '#')
		return KTA_OK;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (i == start)
			return perr(ps, KTA_ERR_MALFORMED, err,
				    i == len ? "trailing space"
					     : "empty field at column %zu "
					       "(fields are separated by one space)",
				    i + 1);
		if (ps->nf >= MAX_FIELDS)
			return perr(ps, KTA_ERR_LIMIT, err, "more than %u keys on one line",
				    KTA_PINS_MAX_KEYS);
		ps->f[ps->nf].s = s + start;
		ps->f[ps->nf].len = i - start;
		ps->nf++;
		start = i + 1;
	}
	return KTA_OK;
}

static enum kta_status want_fields(struct parser *ps, size_t n, const char *usage,
				   struct kta_error *err)
{
	if (ps->nf != n)
		return perr(ps, KTA_ERR_MALFORMED, err, "expected \"%s\"", usage);
	return KTA_OK;
}

static enum kta_status parse_vkey_field(struct parser *ps, const struct field *f, const char *what,
					struct kta_vkey **out, struct kta_error *err)
{
	enum kta_status r = kta_vkey_parse(f->s, f->len, out, err);

	if (r != KTA_OK)
		return kta_error_wrap(err, r, "%s:%zu: %s", ps->name, ps->line, what);
	return KTA_OK;
}

static enum kta_status parse_u64_field(struct parser *ps, const struct field *f, const char *what,
				       uint64_t *out, struct kta_error *err)
{
	enum kta_status r = kta_parse_u64(f->s, f->len, out, err);

	if (r != KTA_OK)
		return kta_error_wrap(err, r, "%s:%zu: %s", ps->name, ps->line, what);
	return KTA_OK;
}

static enum kta_status do_url(struct parser *ps, struct kta_error *err)
{
	const struct field *f = &ps->f[1];
	char q[4 * 64 + 4];
	size_t i;

	if (f->len > KTA_TLOG_URL_MAX)
		return perr(ps, KTA_ERR_LIMIT, err, "url: longer than %d bytes", KTA_TLOG_URL_MAX);
	if (!(f->len > 8 && memcmp(f->s, "https://", 8) == 0) &&
	    !(f->len > 7 && memcmp(f->s, "http://", 7) == 0) &&
	    !(f->len > 7 && memcmp(f->s, "file://", 7) == 0))
		return perr(ps, KTA_ERR_MALFORMED, err,
			    "url \"%s\": expected an https://, http:// or file:// URL",
			    kta_quote((const uint8_t *)f->s, f->len, 64, q));
	for (i = 0; i < f->len; i++) {
		unsigned char c = (unsigned char)f->s[i];

		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
			return perr(ps, KTA_ERR_MALFORMED, err,
				    "url \"%s\": character %zu is not allowed (printable ASCII, "
				    "no query or fragment)",
				    kta_quote((const uint8_t *)f->s, f->len, 64, q), i + 1);
	}
	if ((ps->p->url = field_dup(f)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
	return KTA_OK;
}

static enum kta_status do_witness(struct parser *ps, struct kta_error *err)
{
	struct kta_pins *p = ps->p;
	struct kta_vkey *k = NULL;
	enum kta_status r;
	size_t i;

	if (p->nwitnesses >= KTA_PINS_MAX_WITNESSES)
		return perr(ps, KTA_ERR_LIMIT, err, "more than %u witnesses",
			    KTA_PINS_MAX_WITNESSES);
	if ((r = parse_vkey_field(ps, &ps->f[1], "witness", &k, err)) != KTA_OK)
		return r;
	for (i = 0; i < p->nwitnesses; i++)
		if (kta_vkey_equal(p->witnesses[i], k)) {
			kta_vkey_free(k);
			return perr(ps, KTA_ERR_MALFORMED, err, "witness %s given twice",
				    p->witnesses[i]->name);
		}
	if (p->nwitnesses == ps->witnesses_cap) {
		size_t cap = ps->witnesses_cap ? 2 * ps->witnesses_cap : 4;
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
		struct kta_vkey **w = realloc(p->witnesses, cap * sizeof(*w));

		if (w == NULL) {
			kta_vkey_free(k);
			return kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
		}
		p->witnesses = w;
		ps->witnesses_cap = cap;
	}
	p->witnesses[p->nwitnesses++] = k;
	return KTA_OK;
}

static enum kta_status do_checkpoint(struct parser *ps, struct kta_error *err)
{
	struct kta_pins *p = ps->p;
	const struct field *f = &ps->f[2];
	char q[4 * 64 + 4];
	size_t n = 0;
	enum kta_status r;

	if ((r = parse_u64_field(ps, &ps->f[1], "checkpoint size", &p->size, err)) != KTA_OK)
		return r;
	if (f->len != KTA_B64_ENCODED_LEN(32) ||
	    kta_b64_decode(f->s, f->len, p->root, sizeof(p->root), &n) != KTA_OK || n != 32)
		return perr(ps, KTA_ERR_MALFORMED, err,
			    "checkpoint root \"%s\" is not canonical base64 of 32 bytes",
			    kta_quote((const uint8_t *)f->s, f->len, 64, q));
	p->has_checkpoint = 1;
	p->checkpoint_line = ps->line;
	return KTA_OK;
}

static enum kta_status do_label(struct parser *ps, struct kta_error *err)
{
	struct kta_pins *p = ps->p;
	struct kta_pins_label *l;
	const struct field *lf = &ps->f[1];
	enum kta_status r;
	size_t i, nkeys = ps->nf - 2;
	char spec[KTA_B64_ENCODED_LEN(32) + KTA_DEVICE_MAX_LEN + 32];
	char q[4 * 64 + 4];

	if (p->nlabels >= KTA_PINS_MAX_LABELS)
		return perr(ps, KTA_ERR_LIMIT, err, "more than %u labels", KTA_PINS_MAX_LABELS);
	if (lf->len > KTA_LABEL_MAX_LEN)
		return perr(ps, KTA_ERR_MALFORMED, err, "label longer than %d bytes",
			    KTA_LABEL_MAX_LEN);
	if ((r = kta_entry_label_check(lf->s, lf->len, err)) != KTA_OK)
		return kta_error_wrap(err, r, "%s:%zu: label", ps->name, ps->line);
	if (p->nlabels == ps->labels_cap) {
		size_t cap = ps->labels_cap ? 2 * ps->labels_cap : 8;
		struct kta_pins_label *a = realloc(p->labels, cap * sizeof(*a));

		if (a == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
		p->labels = a;
		ps->labels_cap = cap;
	}
	l = &p->labels[p->nlabels];
	memset(l, 0, sizeof(*l));
	l->line = ps->line;
	if ((l->label = field_dup(lf)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
	p->nlabels++; /* owned from here on: kta_pins_free releases it */
	if (nkeys == 0)
		return KTA_OK;
	if ((l->keys = calloc(nkeys, sizeof(*l->keys))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
	for (i = 0; i < nkeys; i++) {
		const struct field *kf = &ps->f[i + 2];

		if (kf->len >= sizeof(spec))
			return perr(ps, KTA_ERR_MALFORMED, err, "key %zu \"%s\" is too long", i + 1,
				    kta_quote((const uint8_t *)kf->s, kf->len, 64, q));
		memcpy(spec, kf->s, kf->len);
		spec[kf->len] = '\0';
		if ((r = kta_replay_key_parse(spec, &l->keys[i], err)) != KTA_OK)
			return kta_error_wrap(err, r, "%s:%zu: %s: key %zu", ps->name, ps->line,
					      l->label, i + 1);
		l->nkeys = i + 1;
	}
	if ((r = kta_replay_keys_canonicalize(l->keys, l->nkeys, err)) != KTA_OK)
		return kta_error_wrap(err, r, "%s:%zu: %s", ps->name, ps->line, l->label);
	return KTA_OK;
}

static enum kta_status do_line(struct parser *ps, struct kta_error *err)
{
	struct kta_pins *p = ps->p;
	const struct field *w = &ps->f[0];
	char q[4 * 64 + 4];
	enum directive d = 0;
	size_t i, k = 0;
	enum kta_status r;

	for (i = 0; i < NDIRECTIVES; i++)
		if (field_is(w, directives[i].word)) {
			d = directives[i].d;
			k = i;
			break;
		}
	if (d == 0)
		return perr(ps, KTA_ERR_MALFORMED, err, "unknown directive \"%s\"",
			    kta_quote((const uint8_t *)w->s, w->len, 64, q));
	if (ps->seen[d] != 0 && !directives[k].repeat)
		return perr(ps, KTA_ERR_MALFORMED, err, "\"%s\" given twice (first on line %zu)",
			    directives[k].word, ps->seen[d]);
	if (d < ps->last)
		return perr(ps, KTA_ERR_MALFORMED, err,
			    "\"%s\" must come before \"%s\" (order: log, url, key, witness, "
			    "quorum, max_age, checkpoint, label)",
			    directives[k].word, directives[ps->last - 1].word);
	if (ps->seen[d] == 0)
		ps->seen[d] = ps->line;
	ps->last = d;

	switch (d) {
	case D_LOG:
		if ((r = want_fields(ps, 2, "log ORIGIN", err)) != KTA_OK)
			return r;
		if (ps->f[1].len > KTA_PINS_ORIGIN_MAX)
			return perr(ps, KTA_ERR_MALFORMED, err, "origin longer than %u bytes",
				    KTA_PINS_ORIGIN_MAX);
		if ((p->log = field_dup(&ps->f[1])) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
		return KTA_OK;
	case D_URL:
		if ((r = want_fields(ps, 2, "url URL", err)) != KTA_OK)
			return r;
		return do_url(ps, err);
	case D_KEY:
		if ((r = want_fields(ps, 2, "key VKEY", err)) != KTA_OK)
			return r;
		return parse_vkey_field(ps, &ps->f[1], "key", &p->log_key, err);
	case D_WITNESS:
		if ((r = want_fields(ps, 2, "witness VKEY", err)) != KTA_OK)
			return r;
		return do_witness(ps, err);
	case D_QUORUM:
		if ((r = want_fields(ps, 2, "quorum K", err)) != KTA_OK)
			return r;
		ps->quorum_line = ps->line;
		return parse_u64_field(ps, &ps->f[1], "quorum", &p->quorum, err);
	case D_MAX_AGE:
		if ((r = want_fields(ps, 2, "max_age SECONDS", err)) != KTA_OK)
			return r;
		return parse_u64_field(ps, &ps->f[1], "max_age", &p->max_age, err);
	case D_CHECKPOINT:
		if ((r = want_fields(ps, 3, "checkpoint SIZE BASE64-ROOT", err)) != KTA_OK)
			return r;
		return do_checkpoint(ps, err);
	case D_LABEL:
		if (ps->nf < 2)
			return perr(ps, KTA_ERR_MALFORMED, err,
				    "expected \"label LABEL [ALG:BASE64:DEVICE]...\"");
		return do_label(ps, err);
	}
	return kta_error_set(err, KTA_ERR_INTERNAL, "pins: bad directive");
}

static int label_cmp(const void *a, const void *b)
{
	const struct kta_pins_label *x = *(struct kta_pins_label *const *)a;
	const struct kta_pins_label *y = *(struct kta_pins_label *const *)b;
	int c = strcmp(x->label, y->label);

	/* Equal labels: file order, so that the later one is reported. */
	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Checks the whole file's rules once every line is read. */
static enum kta_status finish(struct parser *ps, struct kta_error *err)
{
	struct kta_pins *p = ps->p;
	size_t i;

	if (p->log == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: no \"log ORIGIN\" line",
				     ps->name);
	if (p->url == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: no \"url URL\" line", ps->name);
	if (p->log_key == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: no \"key VKEY\" line", ps->name);
	if (p->quorum > p->nwitnesses) {
		ps->line = ps->quorum_line;
		return perr(ps, KTA_ERR_MALFORMED, err, "quorum %llu but only %zu witnesses",
			    (unsigned long long)p->quorum, p->nwitnesses);
	}
	if (p->nlabels == 0)
		return KTA_OK;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	if ((p->by_name = malloc(p->nlabels * sizeof(*p->by_name))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
	for (i = 0; i < p->nlabels; i++)
		p->by_name[i] = &p->labels[i];
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	qsort(p->by_name, p->nlabels, sizeof(*p->by_name), label_cmp);
	for (i = 1; i < p->nlabels; i++)
		if (strcmp(p->by_name[i - 1]->label, p->by_name[i]->label) == 0) {
			ps->line = p->by_name[i]->line;
			return perr(ps, KTA_ERR_MALFORMED, err,
				    "label %s given twice (first on line %zu)",
				    p->by_name[i]->label, p->by_name[i - 1]->line);
		}
	return KTA_OK;
}

enum kta_status kta_pins_parse(const uint8_t *buf, size_t len, const char *name,
			       struct kta_pins **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_NOMEM;
	struct parser *ps = NULL;
	const char *s = (const char *)buf;
	size_t pos = 0, hlen = strlen(KTA_PINS_HEADER);

	*out = NULL;
	if (name == NULL)
		name = "pins";
	if (len > KTA_PINS_MAX_SIZE) {
		r = kta_error_set(err, KTA_ERR_LIMIT, "%s: %zu bytes, more than the limit of %zu",
				  name, len, KTA_PINS_MAX_SIZE);
		goto out;
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL || (ps->p = calloc(1, sizeof(*ps->p))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
		goto out;
	}
	ps->name = name;
	ps->line = 1;
	if (len == 0 || buf == NULL) {
		r = perr(ps, KTA_ERR_MALFORMED, err, "empty file: the first line must be \"%s\"",
			 KTA_PINS_HEADER);
		goto out;
	}
	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t ll;

		if (nl == NULL) {
			r = perr(ps, KTA_ERR_MALFORMED, err,
				 "the last line does not end in a newline");
			goto out;
		}
		ll = (size_t)(nl - (s + pos));
		if ((r = split_line(ps, s + pos, ll, err)) != KTA_OK)
			goto out;
		if (ps->line == 1) {
			if (ll != hlen || memcmp(s, KTA_PINS_HEADER, hlen) != 0) {
				r = perr(ps, KTA_ERR_MALFORMED, err,
					 "the first line must be \"%s\" (a pin file of another "
					 "version or not a pin file)",
					 KTA_PINS_HEADER);
				goto out;
			}
		} else if (ps->nf > 0 && (r = do_line(ps, err)) != KTA_OK) {
			goto out;
		}
		pos += ll + 1;
		ps->line++;
	}
	if ((r = finish(ps, err)) != KTA_OK)
		goto out;
	*out = ps->p;
	ps->p = NULL;
	r = KTA_OK;
out:
	if (ps != NULL)
		kta_pins_free(ps->p);
	free(ps);
	return r;
}

void kta_pins_free(struct kta_pins *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->log);
	free(p->url);
	kta_vkey_free(p->log_key);
	for (i = 0; i < p->nwitnesses; i++)
		kta_vkey_free(p->witnesses[i]);
	free(p->witnesses);
	for (i = 0; i < p->nlabels; i++) {
		free(p->labels[i].label);
		kta_replay_keys_free(p->labels[i].keys, p->labels[i].nkeys);
	}
	free(p->labels);
	free(p->by_name);
	free(p);
}

const struct kta_pins_label *kta_pins_find(const struct kta_pins *p, const char *label)
{
	size_t lo = 0, hi, i;

	if (p == NULL || label == NULL)
		return NULL;
	if (p->by_name == NULL) {
		for (i = 0; i < p->nlabels; i++)
			if (strcmp(p->labels[i].label, label) == 0)
				return &p->labels[i];
		return NULL;
	}
	hi = p->nlabels;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(p->by_name[mid]->label, label);

		if (c == 0)
			return p->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Writing. */

/* A growable output buffer with a hard cap (KTA_PINS_MAX_SIZE). */
static void ob_checkpoint(struct kta_strbuf *o, uint64_t size, const uint8_t root[32])
{
	char line[64 + KTA_B64_ENCODED_LEN(32)];
	char b64[KTA_B64_ENCODED_LEN(32) + 1];

	kta_b64_encode(root, 32, b64);
	(void)snprintf(line, sizeof(line), "checkpoint %llu %s\n", (unsigned long long)size, b64);
	kta_strbuf_str(o, line);
}

static int vkey_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int label_name_cmp(const void *a, const void *b)
{
	const struct kta_pins_label *x = *(const struct kta_pins_label *const *)a;
	const struct kta_pins_label *y = *(const struct kta_pins_label *const *)b;

	return strcmp(x->label, y->label);
}

/* Writes " ALG:B64:DEVICE" for each key of l in canonical order. */
static enum kta_status write_keys(struct kta_strbuf *o, const struct kta_pins_label *l,
				  struct kta_error *err)
{
	struct kta_entry_key *k = NULL;
	char b64[KTA_B64_ENCODED_LEN(32) + 1];
	enum kta_status r;
	size_t i;

	if (l->nkeys == 0)
		return KTA_OK;
	if (l->keys == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "pins: label %s: no key array", l->label);
	/* A shallow copy: canonicalize sorts it and checks uniqueness (the
	 * devices stay borrowed from l). */
	if ((k = malloc(l->nkeys * sizeof(*k))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
	memcpy(k, l->keys, l->nkeys * sizeof(*k));
	if ((r = kta_replay_keys_canonicalize(k, l->nkeys, err)) != KTA_OK) {
		free(k);
		(void)kta_error_prefix(err, "pins: label %s", l->label);
		return KTA_ERR_USAGE;
	}
	for (i = 0; i < l->nkeys; i++) {
		kta_b64_encode(k[i].pub, 32, b64);
		kta_strbuf_str(o, " ");
		kta_strbuf_str(o, kta_entry_alg_name(k[i].alg));
		kta_strbuf_str(o, ":");
		kta_strbuf_str(o, b64);
		kta_strbuf_str(o, ":");
		kta_strbuf_str(o, k[i].device);
	}
	free(k);
	return KTA_OK;
}

enum kta_status kta_pins_format(const struct kta_pins *p, char **out, size_t *out_len,
				struct kta_error *err)
{
	enum kta_status r = KTA_ERR_NOMEM;
	struct kta_strbuf o;
	char **wit = NULL;
	const struct kta_pins_label **lab = NULL;
	char *s = NULL;
	char num[32];
	size_t i;

	*out = NULL;
	*out_len = 0;
	kta_strbuf_init(&o, KTA_PINS_MAX_SIZE);
	if (p == NULL || p->log == NULL || p->url == NULL || p->log_key == NULL) {
		r = kta_error_set(err, KTA_ERR_USAGE, "pins: log, url and key are required");
		goto out;
	}
	if ((p->nwitnesses > 0 && (wit = calloc(p->nwitnesses, sizeof(*wit))) == NULL) ||
	    /* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	    (p->nlabels > 0 && (lab = malloc(p->nlabels * sizeof(*lab))) == NULL))
		goto nomem;
	kta_strbuf_str(&o, KTA_PINS_HEADER "\nlog ");
	kta_strbuf_str(&o, p->log);
	kta_strbuf_str(&o, "\nurl ");
	kta_strbuf_str(&o, p->url);
	kta_strbuf_str(&o, "\nkey ");
	if ((s = kta_vkey_format(p->log_key)) == NULL)
		goto nomem;
	kta_strbuf_str(&o, s);
	kta_strbuf_str(&o, "\n");
	for (i = 0; i < p->nwitnesses; i++)
		if ((wit[i] = kta_vkey_format(p->witnesses[i])) == NULL)
			goto nomem;
	if (p->nwitnesses > 1)
		qsort(wit, p->nwitnesses, sizeof(*wit), vkey_cmp);
	for (i = 0; i < p->nwitnesses; i++) {
		if (i > 0 && strcmp(wit[i - 1], wit[i]) == 0) {
			r = kta_error_set(err, KTA_ERR_USAGE, "pins: witness given twice");
			goto out;
		}
		kta_strbuf_str(&o, "witness ");
		kta_strbuf_str(&o, wit[i]);
		kta_strbuf_str(&o, "\n");
	}
	if (p->quorum > 0) {
		(void)snprintf(num, sizeof(num), "quorum %llu\n", (unsigned long long)p->quorum);
		kta_strbuf_str(&o, num);
	}
	if (p->max_age > 0) {
		(void)snprintf(num, sizeof(num), "max_age %llu\n", (unsigned long long)p->max_age);
		kta_strbuf_str(&o, num);
	}
	if (p->has_checkpoint)
		ob_checkpoint(&o, p->size, p->root);
	for (i = 0; i < p->nlabels; i++)
		lab[i] = &p->labels[i];
	if (p->nlabels > 1)
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
		qsort(lab, p->nlabels, sizeof(*lab), label_name_cmp);
	for (i = 0; i < p->nlabels; i++) {
		if (i > 0 && strcmp(lab[i - 1]->label, lab[i]->label) == 0) {
			r = kta_error_set(err, KTA_ERR_USAGE, "pins: label %s given twice",
					  lab[i]->label);
			goto out;
		}
		kta_strbuf_str(&o, "label ");
		kta_strbuf_str(&o, lab[i]->label);
		if ((r = write_keys(&o, lab[i], err)) != KTA_OK)
			goto out;
		kta_strbuf_str(&o, "\n");
	}
	if (o.failed)
		goto nomem;
	*out = o.b;
	*out_len = o.len;
	o.b = NULL;
	r = KTA_OK;
	goto out;
nomem:
	r = kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
out:
	if (wit != NULL)
		for (i = 0; i < p->nwitnesses; i++)
			free(wit[i]);
	free(wit);
	free(lab);
	free(s);
	free(o.b);
	return r;
}

/* 1 when the line (s, len) is a directive that precedes "checkpoint". */
static int is_head_directive(const char *s, size_t len)
{
	static const char *const words[] = {"log ",     "url ",    "key ",
					    "witness ", "quorum ", "max_age "};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (len >= strlen(words[i]) && memcmp(s, words[i], strlen(words[i])) == 0)
			return 1;
	return 0;
}

enum kta_status kta_pins_set_checkpoint(const uint8_t *buf, size_t len, const char *name,
					uint64_t size, const uint8_t root[static 32], uint8_t **out,
					size_t *out_len, struct kta_error *err)
{
	enum kta_status r;
	struct kta_pins *p = NULL, *q = NULL;
	struct kta_strbuf o;
	const char *s = (const char *)buf;
	size_t pos = 0, line = 1, at = 0, skip = 0, after_head = 0;

	*out = NULL;
	*out_len = 0;
	kta_strbuf_init(&o, KTA_PINS_MAX_SIZE);
	if ((r = kta_pins_parse(buf, len, name, &p, err)) != KTA_OK)
		goto out;
	/* Find the byte range to replace (the checkpoint line) or the
	 * insertion point (after the last head directive). */
	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t ll = (size_t)(nl - (s + pos));

		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): set on KTA_OK */
		if (line == p->checkpoint_line) {
			at = pos;
			skip = ll + 1;
		}
		if (is_head_directive(s + pos, ll))
			after_head = pos + ll + 1;
		pos += ll + 1;
		line++;
	}
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): set on KTA_OK */
	if (p->checkpoint_line == 0)
		at = after_head;
	kta_strbuf_add(&o, s, at);
	ob_checkpoint(&o, size, root);
	kta_strbuf_add(&o, s + at + skip, len - at - skip);
	if (o.failed) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "pins: out of memory");
		goto out;
	}
	/* The result must parse and hold exactly the new checkpoint. */
	if ((r = kta_pins_parse((const uint8_t *)o.b, o.len, name, &q, err)) != KTA_OK)
		goto out;
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): set on KTA_OK */
	if (!q->has_checkpoint || q->size != size || memcmp(q->root, root, 32) != 0 ||
	    q->nlabels != p->nlabels) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "%s: checkpoint update failed",
				  name ? name : "pins");
		goto out;
	}
	*out = (uint8_t *)o.b;
	*out_len = o.len;
	o.b = NULL;
	r = KTA_OK;
out:
	kta_pins_free(p);
	kta_pins_free(q);
	free(o.b);
	return r;
}
