/* Check reports: text, JSON, JUnit XML, GitHub annotations (see ktaudit/report.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/report.h"
#include "strbuf.h"

/* Largest rendered report, in bytes. */
#define REPORT_OUT_MAX ((size_t)512 << 20)

struct rcheck {
	char *group, *name, *message;
	enum kta_report_status st;
	enum kta_status cause;
	json_t *details; /* NULL when none */
};

struct rfinding {
	char *group, *name; /* the check it belongs to */
	enum kta_report_status st;
	char *kind, *message, *id;
	json_t *alert; /* kta_alert_to_json */
};

struct rmeta {
	char *key, *value;
};

struct kta_report {
	char *title;
	struct rcheck *checks;
	size_t nchecks, checks_cap;
	struct rfinding *findings;
	size_t nfindings, findings_cap, dropped;
	struct rmeta meta[KTA_REPORT_MAX_META];
	size_t nmeta;
};

enum kta_status kta_report_new(const char *title, struct kta_report **out, struct kta_error *err)
{
	struct kta_report *r;

	*out = NULL;
	if (title == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "report: no title");
	if ((r = calloc(1, sizeof(*r))) == NULL || (r->title = strdup(title)) == NULL) {
		free(r);
		return kta_error_set(err, KTA_ERR_NOMEM, "report: out of memory");
	}
	*out = r;
	return KTA_OK;
}

void kta_report_free(struct kta_report *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nchecks; i++) {
		free(r->checks[i].group);
		free(r->checks[i].name);
		free(r->checks[i].message);
		json_decref(r->checks[i].details);
	}
	free(r->checks);
	for (i = 0; i < r->nfindings; i++) {
		free(r->findings[i].group);
		free(r->findings[i].name);
		free(r->findings[i].kind);
		free(r->findings[i].message);
		free(r->findings[i].id);
		json_decref(r->findings[i].alert);
	}
	free(r->findings);
	for (i = 0; i < r->nmeta; i++) {
		free(r->meta[i].key);
		free(r->meta[i].value);
	}
	free(r->title);
	free(r);
}

enum kta_status kta_report_meta(struct kta_report *r, const char *key, const char *value,
				struct kta_error *err)
{
	struct rmeta *m;

	if (r == NULL || key == NULL || value == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "report: meta item without key or value");
	if (r->nmeta >= KTA_REPORT_MAX_META)
		return kta_error_set(err, KTA_ERR_LIMIT, "report: more than %u meta items",
				     KTA_REPORT_MAX_META);
	m = &r->meta[r->nmeta];
	m->key = strdup(key);
	m->value = strdup(value);
	if (m->key == NULL || m->value == NULL) {
		free(m->key);
		free(m->value);
		m->key = m->value = NULL;
		return kta_error_set(err, KTA_ERR_NOMEM, "report: out of memory");
	}
	r->nmeta++;
	return KTA_OK;
}

/* Grows an array of `size`-byte items to hold one more; 0 or -1. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t nc;
	void *p;

	if (n < *cap)
		return 0;
	nc = *cap ? 2 * *cap : 16;
	if ((p = realloc(*arr, nc * size)) == NULL)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}

enum kta_status kta_report_add(struct kta_report *r, const char *group, const char *name,
			       enum kta_report_status st, enum kta_status cause,
			       const json_t *details, struct kta_error *err, const char *fmt, ...)
{
	struct rcheck c;
	char msg[2048];
	va_list ap;

	if (r == NULL || group == NULL || name == NULL || fmt == NULL || st < KTA_REPORT_PASS ||
	    st > KTA_REPORT_SKIP)
		return kta_error_set(err, KTA_ERR_USAGE, "report: bad check");
	if (r->nchecks >= KTA_REPORT_MAX_CHECKS)
		return kta_error_set(err, KTA_ERR_LIMIT, "report: more than %u checks",
				     KTA_REPORT_MAX_CHECKS);
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.cause = st == KTA_REPORT_ERROR ? cause : KTA_OK;
	c.group = strdup(group);
	c.name = strdup(name);
	c.message = strdup(msg);
	c.details = details != NULL ? json_deep_copy(details) : NULL;
	if (c.group == NULL || c.name == NULL || c.message == NULL ||
	    (details != NULL && c.details == NULL) ||
	    grow((void **)&r->checks, &r->checks_cap, r->nchecks, sizeof(c)) != 0) {
		free(c.group);
		free(c.name);
		free(c.message);
		json_decref(c.details);
		return kta_error_set(err, KTA_ERR_NOMEM, "report: out of memory");
	}
	r->checks[r->nchecks++] = c;
	return KTA_OK;
}

enum kta_status kta_report_finding(struct kta_report *r, const char *group, const char *name,
				   const struct kta_alert *a, enum kta_report_status st,
				   struct kta_error *err)
{
	struct rfinding f;

	if (r == NULL || group == NULL || name == NULL || a == NULL || st < KTA_REPORT_WARN ||
	    st > KTA_REPORT_ERROR)
		return kta_error_set(err, KTA_ERR_USAGE, "report: bad finding");
	if (r->nfindings >= KTA_REPORT_MAX_FINDINGS) {
		r->dropped++;
		return KTA_OK;
	}
	memset(&f, 0, sizeof(f));
	f.st = st;
	f.group = strdup(group);
	f.name = strdup(name);
	f.kind = strdup(kta_alert_kind_name(a->kind));
	f.message = strdup(a->message != NULL ? a->message : "");
	f.id = strdup(a->id);
	f.alert = kta_alert_to_json(a);
	if (f.group == NULL || f.name == NULL || f.kind == NULL || f.message == NULL ||
	    f.id == NULL || f.alert == NULL ||
	    grow((void **)&r->findings, &r->findings_cap, r->nfindings, sizeof(f)) != 0) {
		free(f.group);
		free(f.name);
		free(f.kind);
		free(f.message);
		free(f.id);
		json_decref(f.alert);
		return kta_error_set(err, KTA_ERR_NOMEM, "report: out of memory");
	}
	r->findings[r->nfindings++] = f;
	return KTA_OK;
}

void kta_report_summary(const struct kta_report *r, struct kta_report_summary *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	if (r == NULL)
		return;
	s->checks = r->nchecks;
	for (i = 0; i < r->nchecks; i++) {
		switch (r->checks[i].st) {
		case KTA_REPORT_PASS:
			s->passed++;
			break;
		case KTA_REPORT_WARN:
			s->warnings++;
			break;
		case KTA_REPORT_FAIL:
			s->failed++;
			break;
		case KTA_REPORT_ERROR:
			s->errors++;
			break;
		case KTA_REPORT_SKIP:
			s->skipped++;
			break;
		}
	}
	s->findings = r->nfindings;
	s->dropped = r->dropped;
}

int kta_report_exit_code(const struct kta_report *r)
{
	size_t i;

	if (r == NULL)
		return 3;
	for (i = 0; i < r->nchecks; i++)
		if (r->checks[i].st == KTA_REPORT_FAIL)
			return 1;
	for (i = 0; i < r->nchecks; i++)
		if (r->checks[i].st == KTA_REPORT_ERROR) {
			int code = kta_status_exit_code(r->checks[i].cause);

			/* An error is never a pass nor a finding. */
			return code == 2 ? 2 : 3;
		}
	for (i = 0; i < r->nchecks; i++)
		if (r->checks[i].st == KTA_REPORT_SKIP)
			return 3;
	return 0;
}

static const char *result_name(const struct kta_report *r)
{
	int code = kta_report_exit_code(r);

	return code == 0 ? "pass" : code == 1 ? "fail" : "error";
}

const char *kta_report_status_name(enum kta_report_status st)
{
	switch (st) {
	case KTA_REPORT_PASS:
		return "pass";
	case KTA_REPORT_WARN:
		return "warn";
	case KTA_REPORT_FAIL:
		return "fail";
	case KTA_REPORT_ERROR:
		return "error";
	case KTA_REPORT_SKIP:
		return "skip";
	}
	return "unknown";
}

enum kta_status kta_report_format_parse(const char *s, enum kta_report_format *out,
					struct kta_error *err)
{
	static const struct {
		const char *name;
		enum kta_report_format f;
	} fmts[] = {{"text", KTA_REPORT_TEXT},
		    {"json", KTA_REPORT_JSON},
		    {"junit", KTA_REPORT_JUNIT},
		    {"github", KTA_REPORT_GITHUB}};
	char q[4 * 32 + 4];
	size_t i;

	for (i = 0; s != NULL && i < sizeof(fmts) / sizeof(fmts[0]); i++)
		if (strcmp(s, fmts[i].name) == 0) {
			*out = fmts[i].f;
			return KTA_OK;
		}
	return kta_error_set(err, KTA_ERR_USAGE,
			     "unknown report format \"%s\" (text, json, junit or github)",
			     s ? kta_quote((const uint8_t *)s, strlen(s), 32, q) : "");
}

/* ------------------------------------------------------------------------ */
/* Output buffer. */

/* Text: control characters become '?'. */
static void sb_text(struct kta_strbuf *o, const char *s)
{
	size_t i, start = 0, n = strlen(s);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			kta_strbuf_add(o, s + start, i - start);
			kta_strbuf_add(o, "?", 1);
			start = i + 1;
		}
	}
	kta_strbuf_add(o, s + start, n - start);
}

/*
 * XML character data or attribute value (XML 1.0 section 2.2 "Char",
 * 2.4, 3.3.3): markup characters as entities; tab, CR and LF as character
 * references in attributes (attribute-value normalization would turn them
 * into spaces); other characters outside Char (controls, U+FFFE, U+FFFF)
 * and every byte of a string that is not UTF-8 as '?'.
 */
static void sb_xml(struct kta_strbuf *o, const char *s, int attr)
{
	size_t i, n = strlen(s);
	int utf8 = kta_utf8_valid((const uint8_t *)s, n);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '&':
			kta_strbuf_str(o, "&amp;");
			continue;
		case '<':
			kta_strbuf_str(o, "&lt;");
			continue;
		case '>':
			kta_strbuf_str(o, "&gt;");
			continue;
		case '"':
			kta_strbuf_str(o, "&quot;");
			continue;
		case '\'':
			kta_strbuf_str(o, "&apos;");
			continue;
		case '\t':
		case '\n':
		case '\r':
			if (attr)
				kta_strbuf_printf(o, "&#%u;", (unsigned)c);
			else if (c == '\r')
				kta_strbuf_str(o,
					       "&#13;"); /* a literal CR would be normalized away */
			else
				kta_strbuf_add(o, (const char *)&s[i], 1);
			continue;
		default:
			break;
		}
		/* NOLINTBEGIN(bugprone-branch-clone): several cases print "?" */
		if (c < 0x20 || c == 0x7f) {
			kta_strbuf_add(o, "?", 1);
		} else if (c < 0x80) {
			kta_strbuf_add(o, &s[i], 1);
		} else if (!utf8) {
			kta_strbuf_add(o, "?", 1);
		} else if (c == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbf &&
			   ((unsigned char)s[i + 2] == 0xbe || (unsigned char)s[i + 2] == 0xbf)) {
			kta_strbuf_add(o, "?", 1); /* U+FFFE, U+FFFF */
			i += 2;
		} else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0) {
			/* C1 controls U+0080..U+009F: allowed by XML 1.0 but
			 * "discouraged" (2.2); make them visible. */
			kta_strbuf_add(o, "?", 1);
			i += 1;
		} else {
			kta_strbuf_add(o, &s[i], 1);
		}
		/* NOLINTEND(bugprone-branch-clone) */
	}
}

/* GitHub workflow command data (prop = 0) or property value (prop = 1),
 * escaped as @actions/core's escapeData / escapeProperty do. */
static void sb_gh(struct kta_strbuf *o, const char *s, int prop)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%')
			kta_strbuf_str(o, "%25");
		else if (c == '\r')
			kta_strbuf_str(o, "%0D");
		else if (c == '\n')
			kta_strbuf_str(o, "%0A");
		else if (prop && c == ':')
			kta_strbuf_str(o, "%3A");
		else if (prop && c == ',')
			kta_strbuf_str(o, "%2C");
		else if ((unsigned char)c < 0x20 || c == 0x7f)
			kta_strbuf_str(o, "?");
		else
			kta_strbuf_add(o, &s[i], 1);
	}
}

/* ------------------------------------------------------------------------ */
/* Findings by check. */

struct findex {
	const struct kta_report *r;
	size_t *order; /* finding indices sorted by (group, name, index) */
};

static int fcmp_r(const struct kta_report *r, size_t a, size_t b)
{
	int c = strcmp(r->findings[a].group, r->findings[b].group);

	if (c == 0)
		c = strcmp(r->findings[a].name, r->findings[b].name);
	if (c == 0)
		c = a < b ? -1 : a > b;
	return c;
}

/* Sorts idx[0..n) by fcmp_r (a merge sort: qsort has no context argument). */
static void fsort(const struct kta_report *r, size_t *idx, size_t *tmp, size_t n)
{
	size_t mid, i, j, k;

	if (n < 2)
		return;
	mid = n / 2;
	fsort(r, idx, tmp, mid);
	fsort(r, idx + mid, tmp, n - mid);
	for (i = 0, j = mid, k = 0; i < mid || j < n;)
		tmp[k++] =
		    (j >= n || (i < mid && fcmp_r(r, idx[i], idx[j]) <= 0)) ? idx[i++] : idx[j++];
	memcpy(idx, tmp, n * sizeof(*idx));
}

static int findex_init(struct findex *fx, const struct kta_report *r)
{
	size_t *tmp, i;

	fx->r = r;
	fx->order = NULL;
	if (r->nfindings == 0)
		return 0;
	if ((fx->order = malloc(r->nfindings * sizeof(size_t))) == NULL)
		return -1;
	if ((tmp = malloc(r->nfindings * sizeof(size_t))) == NULL) {
		free(fx->order);
		fx->order = NULL;
		return -1;
	}
	for (i = 0; i < r->nfindings; i++)
		fx->order[i] = i;
	fsort(r, fx->order, tmp, r->nfindings);
	free(tmp);
	return 0;
}

/* The position in fx->order of the first finding of check c, and the count. */
static size_t findex_range(const struct findex *fx, const struct rcheck *c, size_t *count)
{
	const struct kta_report *r = fx->r;
	size_t lo = 0, hi = r->nfindings, first;

	*count = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rfinding *f = &r->findings[fx->order[mid]];
		int cmp = strcmp(f->group, c->group);

		if (cmp == 0)
			cmp = strcmp(f->name, c->name);
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < r->nfindings && strcmp(r->findings[fx->order[lo]].group, c->group) == 0 &&
	       strcmp(r->findings[fx->order[lo]].name, c->name) == 0)
		lo++;
	*count = lo - first;
	return first;
}

/* ------------------------------------------------------------------------ */
/* Renderers. */

static void summary_line(struct kta_strbuf *o, const struct kta_report *r)
{
	struct kta_report_summary s;

	kta_report_summary(r, &s);
	kta_strbuf_printf(
	    o,
	    "result: %s (%zu checks: %zu passed, %zu warnings, %zu failed, %zu errors, %zu "
	    "skipped)\n",
	    result_name(r), s.checks, s.passed, s.warnings, s.failed, s.errors, s.skipped);
	if (s.dropped > 0)
		kta_strbuf_printf(o, "(%zu more findings not listed)\n", s.dropped);
}

static const char *status_upper(enum kta_report_status st)
{
	switch (st) {
	case KTA_REPORT_PASS:
		return "PASS ";
	case KTA_REPORT_WARN:
		return "WARN ";
	case KTA_REPORT_FAIL:
		return "FAIL ";
	case KTA_REPORT_ERROR:
		return "ERROR";
	case KTA_REPORT_SKIP:
		return "SKIP ";
	}
	return "?    ";
}

static void render_text(struct kta_strbuf *o, const struct kta_report *r, const struct findex *fx)
{
	size_t i, j, first, n;

	sb_text(o, r->title);
	kta_strbuf_str(o, "\n");
	for (i = 0; i < r->nmeta; i++) {
		sb_text(o, r->meta[i].key);
		kta_strbuf_str(o, ": ");
		sb_text(o, r->meta[i].value);
		kta_strbuf_str(o, "\n");
	}
	for (i = 0; i < r->nchecks; i++) {
		const struct rcheck *c = &r->checks[i];

		kta_strbuf_str(o, status_upper(c->st));
		kta_strbuf_str(o, " ");
		sb_text(o, c->group);
		kta_strbuf_str(o, " ");
		sb_text(o, c->name);
		kta_strbuf_str(o, ": ");
		sb_text(o, c->message);
		kta_strbuf_str(o, "\n");
		first = findex_range(fx, c, &n);
		for (j = first; j < first + n; j++) {
			/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): n > 0: set */
			const struct rfinding *f = &r->findings[fx->order[j]];

			kta_strbuf_str(o, "      - ");
			sb_text(o, f->kind);
			kta_strbuf_str(o, ": ");
			sb_text(o, f->message);
			kta_strbuf_str(o, "\n");
		}
	}
	summary_line(o, r);
}

/* Adds each of the check's findings as "- KIND: MESSAGE" lines via `put`. */
static void finding_lines(struct kta_strbuf *o, const struct kta_report *r, const struct findex *fx,
			  const struct rcheck *c,
			  void (*put)(struct kta_strbuf *, const char *, int), int arg)
{
	size_t j, first, n;

	first = findex_range(fx, c, &n);
	for (j = first; j < first + n; j++) {
		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): n > 0: set */
		const struct rfinding *f = &r->findings[fx->order[j]];

		put(o, "\n- ", arg);
		put(o, f->kind, arg);
		put(o, ": ", arg);
		put(o, f->message, arg);
	}
}

static void render_junit(struct kta_strbuf *o, const struct kta_report *r, const struct findex *fx)
{
	struct kta_report_summary s;
	size_t i;

	kta_report_summary(r, &s);
	kta_strbuf_str(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"");
	sb_xml(o, r->title, 1);
	kta_strbuf_printf(o, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\">\n",
			  s.checks, s.failed, s.errors, s.skipped);
	kta_strbuf_str(o, "  <testsuite name=\"");
	sb_xml(o, r->title, 1);
	kta_strbuf_printf(o, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\">\n",
			  s.checks, s.failed, s.errors, s.skipped);
	if (r->nmeta > 0) {
		kta_strbuf_str(o, "    <properties>\n");
		for (i = 0; i < r->nmeta; i++) {
			kta_strbuf_str(o, "      <property name=\"");
			sb_xml(o, r->meta[i].key, 1);
			kta_strbuf_str(o, "\" value=\"");
			sb_xml(o, r->meta[i].value, 1);
			kta_strbuf_str(o, "\"/>\n");
		}
		kta_strbuf_str(o, "    </properties>\n");
	}
	for (i = 0; i < r->nchecks; i++) {
		const struct rcheck *c = &r->checks[i];

		kta_strbuf_str(o, "    <testcase classname=\"ktaudit.");
		sb_xml(o, c->group, 1);
		kta_strbuf_str(o, "\" name=\"");
		sb_xml(o, c->name, 1);
		if (c->st == KTA_REPORT_PASS) {
			kta_strbuf_str(o, "\"/>\n");
			continue;
		}
		kta_strbuf_str(o, "\">\n");
		if (c->st == KTA_REPORT_SKIP) {
			kta_strbuf_str(o, "      <skipped message=\"");
			sb_xml(o, c->message, 1);
			kta_strbuf_str(o, "\"/>\n");
		} else if (c->st == KTA_REPORT_WARN) {
			kta_strbuf_str(o, "      <system-out>WARNING: ");
			sb_xml(o, c->message, 0);
			finding_lines(o, r, fx, c, sb_xml, 0);
			kta_strbuf_str(o, "</system-out>\n");
		} else {
			const char *el = c->st == KTA_REPORT_FAIL ? "failure" : "error";

			kta_strbuf_printf(o, "      <%s message=\"", el);
			sb_xml(o, c->message, 1);
			kta_strbuf_str(o, "\" type=\"");
			sb_xml(o, c->st == KTA_REPORT_FAIL ? "fail" : kta_status_str(c->cause), 1);
			kta_strbuf_str(o, "\">");
			sb_xml(o, c->message, 0);
			finding_lines(o, r, fx, c, sb_xml, 0);
			kta_strbuf_printf(o, "</%s>\n", el);
		}
		kta_strbuf_str(o, "    </testcase>\n");
	}
	kta_strbuf_str(o, "  </testsuite>\n</testsuites>\n");
}

static void render_github(struct kta_strbuf *o, const struct kta_report *r, const struct findex *fx)
{
	size_t i;

	for (i = 0; i < r->nchecks; i++) {
		const struct rcheck *c = &r->checks[i];

		if (c->st == KTA_REPORT_PASS || c->st == KTA_REPORT_SKIP) {
			kta_strbuf_str(o, c->st == KTA_REPORT_PASS ? "PASS " : "SKIP ");
			sb_text(o, c->group);
			kta_strbuf_str(o, " ");
			sb_text(o, c->name);
			kta_strbuf_str(o, ": ");
			sb_text(o, c->message);
			kta_strbuf_str(o, "\n");
			continue;
		}
		kta_strbuf_str(o, c->st == KTA_REPORT_WARN ? "::warning title=" : "::error title=");
		sb_gh(o, r->title, 1);
		sb_gh(o, ": ", 1);
		sb_gh(o, c->group, 1);
		sb_gh(o, " ", 1);
		sb_gh(o, c->name, 1);
		kta_strbuf_str(o, "::");
		sb_gh(o, c->message, 0);
		finding_lines(o, r, fx, c, sb_gh, 0);
		kta_strbuf_str(o, "\n");
	}
	summary_line(o, r);
}

static enum kta_status render_json(struct kta_strbuf *o, const struct kta_report *r,
				   const struct findex *fx, struct kta_error *err)
{
	struct kta_report_summary s;
	json_t *root = NULL, *meta, *checks, *findings, *sum;
	char *text = NULL;
	size_t i, j, first, n;
	int bad;

	kta_report_summary(r, &s);
	root = json_object();
	meta = json_object();
	checks = json_array();
	findings = json_array();
	sum = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "checks", (json_int_t)s.checks,
			"passed", (json_int_t)s.passed, "warnings", (json_int_t)s.warnings,
			"failed", (json_int_t)s.failed, "errors", (json_int_t)s.errors, "skipped",
			(json_int_t)s.skipped, "findings", (json_int_t)s.findings,
			"findings_not_listed", (json_int_t)s.dropped);
	bad = root == NULL || meta == NULL || checks == NULL || findings == NULL || sum == NULL;
	bad = bad || json_object_set_new(root, "report", json_string(r->title)) ||
	      json_object_set_new(root, "result", json_string(result_name(r))) ||
	      json_object_set_new(root, "exit_code", json_integer(kta_report_exit_code(r))) ||
	      json_object_set(root, "meta", meta) || json_object_set(root, "summary", sum) ||
	      json_object_set(root, "checks", checks) ||
	      json_object_set(root, "findings", findings);
	for (i = 0; !bad && i < r->nmeta; i++)
		bad = json_object_set_new(meta, r->meta[i].key, json_string(r->meta[i].value));
	for (i = 0; !bad && i < r->nchecks; i++) {
		const struct rcheck *c = &r->checks[i];
		json_t *jc = json_object(), *ids = json_array();

		bad =
		    jc == NULL || ids == NULL || json_array_append(checks, jc) ||
		    json_object_set_new(jc, "group", json_string(c->group)) ||
		    json_object_set_new(jc, "name", json_string(c->name)) ||
		    json_object_set_new(jc, "status", json_string(kta_report_status_name(c->st))) ||
		    json_object_set_new(jc, "message", json_string(c->message)) ||
		    (c->st == KTA_REPORT_ERROR &&
		     json_object_set_new(jc, "cause", json_string(kta_status_str(c->cause)))) ||
		    (c->details != NULL && json_object_set(jc, "details", c->details)) ||
		    json_object_set(jc, "findings", ids);
		first = bad ? 0 : findex_range(fx, c, &n);
		for (j = first; !bad && j < first + n; j++)
			bad = json_array_append_new(ids, json_string(r->findings[fx->order[j]].id));
		json_decref(jc);
		json_decref(ids);
	}
	for (i = 0; !bad && i < r->nfindings; i++) {
		const struct rfinding *f = &r->findings[i];
		size_t gl = strlen(f->group), nl = strlen(f->name);
		char *check = malloc(gl + nl + 2);
		json_t *jf = NULL;

		if (check != NULL) {
			memcpy(check, f->group, gl);
			check[gl] = ' ';
			memcpy(check + gl + 1, f->name, nl + 1);
			jf = json_pack("{s:s,s:s,s:O}", "check", check, "status",
				       kta_report_status_name(f->st), "alert", f->alert);
		}
		free(check);
		bad = jf == NULL || json_array_append_new(findings, jf);
	}
	if (!bad)
		text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	json_decref(meta);
	json_decref(checks);
	json_decref(findings);
	json_decref(sum);
	if (text == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "report: out of memory");
	kta_strbuf_str(o, text);
	kta_strbuf_str(o, "\n");
	free(text);
	return KTA_OK;
}

enum kta_status kta_report_render(const struct kta_report *r, enum kta_report_format f, char **out,
				  size_t *out_len, struct kta_error *err)
{
	struct kta_strbuf o;
	struct findex fx = {NULL, NULL};
	enum kta_status st = KTA_OK;

	*out = NULL;
	*out_len = 0;
	kta_strbuf_init(&o, REPORT_OUT_MAX);
	if (r == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "report: NULL report");
	if (findex_init(&fx, r) != 0)
		return kta_error_set(err, KTA_ERR_NOMEM, "report: out of memory");
	switch (f) {
	case KTA_REPORT_TEXT:
		render_text(&o, r, &fx);
		break;
	case KTA_REPORT_JSON:
		st = render_json(&o, r, &fx, err);
		break;
	case KTA_REPORT_JUNIT:
		render_junit(&o, r, &fx);
		break;
	case KTA_REPORT_GITHUB:
		render_github(&o, r, &fx);
		break;
	default:
		st = kta_error_set(err, KTA_ERR_USAGE, "report: unknown format %d", (int)f);
		break;
	}
	free(fx.order);
	if (st == KTA_OK && o.failed)
		st = kta_error_set(err, KTA_ERR_NOMEM, "report: out of memory");
	if (st != KTA_OK) {
		free(o.b);
		return st;
	}
	if (o.b == NULL) {
		free(o.b);
		return kta_error_set(err, KTA_ERR_INTERNAL, "report: empty output");
	}
	*out = o.b;
	*out_len = o.len;
	return KTA_OK;
}
