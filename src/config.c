/* The monitor configuration file, ktaudit.conf(5). See ktaudit/config.h. */
#include "ktaudit/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ktaudit/encoding.h"
#include "ktaudit/file.h"
#include "ktaudit/shard.h"

/* Longest URL accepted (the tlog client's KTA_TLOG_URL_MAX). */
#define URL_MAX 2048
/* Bytes of a value quoted in an error message. */
#define QUOTE_MAX 64

struct tok {
	const char *p;
	size_t n;
};

struct parser {
	const char *file;
	size_t line;
	struct kta_error *err;
	struct kta_config *cfg;
	struct kta_log_config *cur;  /* the open section, NULL before the first `log` */
	struct kta_ctlog_config *ct; /* the open `ctlog` section (cur is then NULL) */
	size_t cap_ctlogs, cap_ctwatches;
	size_t l_log_id, l_batch, l_max_entries, l_monitoring_url;
	size_t first_section; /* line of the first `log` or `ctlog` */
	size_t cap_sinks, cap_logs, cap_mirrors, cap_witnesses, cap_watches;
	/* line of the first occurrence of each single-valued directive (0 = unseen) */
	size_t l_state_dir, l_evidence_dir, l_heartbeat, l_heartbeat_exec, l_metrics;
	size_t l_index_cache;
	size_t l_commit_every;
	size_t l_url, l_key, l_origin, l_quorum, l_poll, l_max_age, l_ca_file;
	size_t cap_mproxies, cap_peers, l_publish_dir, l_witness_key, l_publish_global;
	size_t l_shard;
};

/* Sets err to "FILE:LINE: <fmt...>" and returns st. */
static enum kta_status perr(struct parser *p, size_t line, enum kta_status st, const char *fmt, ...)
    KTA_PRINTF(4, 5);

static enum kta_status perr(struct parser *p, size_t line, enum kta_status st, const char *fmt, ...)
{
	char msg[KTA_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kta_error_set(p->err, st, "%s:%zu: %s", p->file, line, msg);
}

/* Prefixes the message already in err (from a callee) with "FILE:LINE: what: ". */
static enum kta_status pwrap(struct parser *p, enum kta_status st, const char *what)
{
	if (p->err == NULL)
		return st;
	p->err->status = st;
	(void)kta_error_prefix(p->err, "%s:%zu: %s", p->file, p->line, what);
	return st;
}

static enum kta_status nomem(struct parser *p)
{
	return perr(p, p->line, KTA_ERR_NOMEM, "out of memory");
}

/* Quotes a token for a message; buf holds 4 * QUOTE_MAX + 4 bytes. */
static const char *q(const struct tok *t, char buf[static 4 * QUOTE_MAX + 4])
{
	return kta_quote((const uint8_t *)t->p, t->n, QUOTE_MAX, buf);
}

static int tok_is(const struct tok *t, const char *s)
{
	size_t n = strlen(s);

	return t->n == n && memcmp(t->p, s, n) == 0;
}

static char *tok_dup(const struct tok *t)
{
	char *s = malloc(t->n + 1);

	if (s != NULL) {
		memcpy(s, t->p, t->n);
		s[t->n] = '\0';
	}
	return s;
}

/* Grows *arr (of elements of size `size`, capacity *cap) to hold n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t size, size_t max)
{
	size_t ncap;
	void *na;

	if (n < *cap)
		return 1;
	ncap = *cap == 0 ? 4 : *cap * 2;
	if (ncap > max)
		ncap = max;
	if (ncap <= n)
		return 0;
	if ((na = realloc(*arr, ncap * size)) == NULL)
		return 0;
	*arr = na;
	*cap = ncap;
	return 1;
}

const char *kta_sink_type_name(enum kta_sink_type type)
{
	switch (type) {
	case KTA_SINK_STDERR:
		return "stderr";
	case KTA_SINK_FILE:
		return "file";
	case KTA_SINK_SYSLOG:
		return "syslog";
	case KTA_SINK_EXEC:
		return "exec";
	case KTA_SINK_WEBHOOK:
		return "webhook";
	}
	return "unknown";
}

enum kta_status kta_config_parse_key_spec(const char *s, size_t len, struct kta_entry_key *key,
					  char device[static KTA_DEVICE_MAX_LEN + 1],
					  struct kta_error *err)
{
	char qb[4 * QUOTE_MAX + 4];
	const char *c1, *c2, *dev;
	size_t alen, blen, dlen, got;
	uint8_t pub[32];
	enum kta_entry_alg alg;
	enum kta_status r;

	if (len > KTA_CONFIG_KEY_SPEC_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "key spec longer than the limit of %d bytes",
				     KTA_CONFIG_KEY_SPEC_MAX);
	c1 = memchr(s, ':', len);
	if (c1 == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key spec \"%s\": expected ALG:B64:DEVICE",
				     kta_quote((const uint8_t *)s, len, QUOTE_MAX, qb));
	alen = (size_t)(c1 - s);
	c2 = memchr(c1 + 1, ':', len - alen - 1);
	if (c2 == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key spec \"%s\": missing the device (ALG:B64:DEVICE)",
				     kta_quote((const uint8_t *)s, len, QUOTE_MAX, qb));
	blen = (size_t)(c2 - c1 - 1);
	dev = c2 + 1;
	dlen = len - alen - blen - 2;
	if (alen == 7 && memcmp(s, "ed25519", 7) == 0)
		alg = KTA_ENTRY_ALG_ED25519;
	else if (alen == 6 && memcmp(s, "x25519", 6) == 0)
		alg = KTA_ENTRY_ALG_X25519;
	else
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key spec: unknown algorithm \"%s\" (ed25519 or x25519)",
				     kta_quote((const uint8_t *)s, alen, QUOTE_MAX, qb));
	if (kta_b64_decode(c1 + 1, blen, pub, sizeof(pub), &got) != KTA_OK || got != 32)
		return kta_error_set(
		    err, KTA_ERR_MALFORMED,
		    "key spec: public key \"%s\" is not canonical base64 of 32 bytes",
		    kta_quote((const uint8_t *)c1 + 1, blen, QUOTE_MAX, qb));
	if (dlen == 0)
		return kta_error_set(err, KTA_ERR_MALFORMED, "key spec: empty device name");
	if (dlen > KTA_DEVICE_MAX_LEN)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key spec: device name longer than %d bytes",
				     KTA_DEVICE_MAX_LEN);
	/* Device names follow the label rules (entry.h "Names"). */
	if ((r = kta_entry_label_check(dev, dlen, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "key spec: device name");
		return r;
	}
	memcpy(device, dev, dlen);
	device[dlen] = '\0';
	key->alg = alg;
	memcpy(key->pub, pub, 32);
	key->device = device;
	return KTA_OK;
}

/* ---- value checks ---- */

static enum kta_status check_path(struct parser *p, const char *what, const struct tok *t)
{
	char qb[4 * QUOTE_MAX + 4];

	if (t->n == 0 || t->p[0] != '/')
		return perr(p, p->line, KTA_ERR_MALFORMED, "%s \"%s\": must be an absolute path",
			    what, q(t, qb));
	if (t->n > KTA_CONFIG_PATH_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "%s: longer than %d bytes", what,
			    KTA_CONFIG_PATH_MAX);
	return KTA_OK;
}

static int is_loopback_host(const char *h, size_t n)
{
	size_t i;

	if ((n == 9 && memcmp(h, "localhost", 9) == 0) || (n == 5 && memcmp(h, "[::1]", 5) == 0))
		return 1;
	if (n < 5 || memcmp(h, "127.", 4) != 0)
		return 0;
	for (i = 4; i < n; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
			return 0;
	return 1;
}

/*
 * Checks a URL: https://HOST..., http://HOST... or (if allow_file)
 * file:///PATH; printable ASCII; no userinfo. Log base URLs (allow_file) take
 * no query or fragment (tlog.h); a webhook may carry a query. A webhook over
 * plain http must go to a loopback host: an alert sent in clear text across a
 * network could be dropped or rewritten unnoticed.
 */
static enum kta_status check_url(struct parser *p, const char *what, const struct tok *t,
				 int webhook)
{
	char qb[4 * QUOTE_MAX + 4];
	const char *rest, *host, *end;
	size_t i, rn, hn;
	int http = 0;

	if (t->n > URL_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "%s: URL longer than %d bytes", what,
			    URL_MAX);
	for (i = 0; i < t->n; i++)
		if ((unsigned char)t->p[i] <= 0x20 || (unsigned char)t->p[i] >= 0x7f)
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "%s \"%s\": URL must be printable ASCII", what, q(t, qb));
	if (t->n > 8 && memcmp(t->p, "https://", 8) == 0) {
		rest = t->p + 8;
	} else if (t->n > 7 && memcmp(t->p, "http://", 7) == 0) {
		rest = t->p + 7;
		http = 1;
	} else if (!webhook && t->n > 8 && memcmp(t->p, "file:///", 8) == 0) {
		rest = NULL;
	} else {
		return perr(p, p->line, KTA_ERR_MALFORMED, "%s \"%s\": URL scheme must be %s", what,
			    q(t, qb),
			    webhook ? "https:// or http://" : "https://, http:// or file:///");
	}
	if (!webhook && (memchr(t->p, '?', t->n) != NULL || memchr(t->p, '#', t->n) != NULL))
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "%s \"%s\": a base URL takes no query or fragment", what, q(t, qb));
	if (rest == NULL)
		return KTA_OK;
	rn = t->n - (size_t)(rest - t->p);
	host = rest;
	end = host;
	while (end < host + rn && *end != '/' && *end != '?' && *end != '#')
		end++;
	hn = (size_t)(end - host);
	if (memchr(host, '@', hn) != NULL)
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "%s \"%s\": no user name or password in URLs", what, q(t, qb));
	/* strip a port; a bracketed IPv6 literal keeps its colons */
	if (hn > 0 && host[0] == '[') {
		const char *rb = memchr(host, ']', hn);

		if (rb == NULL)
			return perr(p, p->line, KTA_ERR_MALFORMED, "%s \"%s\": bad host", what,
				    q(t, qb));
		hn = (size_t)(rb - host) + 1;
	} else {
		const char *colon = memchr(host, ':', hn);

		if (colon != NULL)
			hn = (size_t)(colon - host);
	}
	if (hn == 0)
		return perr(p, p->line, KTA_ERR_MALFORMED, "%s \"%s\": URL has no host", what,
			    q(t, qb));
	if (webhook && http && !is_loopback_host(host, hn))
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "%s \"%s\": plain http is allowed only to a loopback host; use https",
			    what, q(t, qb));
	return KTA_OK;
}

static enum kta_status parse_seconds(struct parser *p, const char *what, const struct tok *t,
				     uint64_t min, uint64_t max, uint64_t *out)
{
	char qb[4 * QUOTE_MAX + 4];
	uint64_t v;

	if (kta_parse_u64(t->p, t->n, &v, NULL) != KTA_OK)
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "%s \"%s\": not a canonical decimal number", what, q(t, qb));
	if (v < min || v > max)
		return perr(p, p->line, KTA_ERR_MALFORMED, "%s \"%s\": must be %llu..%llu", what,
			    q(t, qb), (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return KTA_OK;
}

/* Duplicates tokens t[0..n) into a new NULL-terminated argv. */
static char **argv_dup(const struct tok *t, size_t n)
{
	char **argv = calloc(n + 1, sizeof(*argv));
	size_t i;

	if (argv == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((argv[i] = tok_dup(&t[i])) == NULL) {
			while (i > 0)
				free(argv[--i]);
			free(argv);
			return NULL;
		}
	}
	return argv;
}

static void argv_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* ---- directives ---- */

/* A single-valued directive seen twice. */
static enum kta_status once(struct parser *p, size_t *seen, const char *name)
{
	if (*seen != 0)
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "duplicate '%s' (first given on line %zu)", name, *seen);
	*seen = p->line;
	return KTA_OK;
}

static enum kta_status nargs(struct parser *p, const struct tok *t, size_t n, size_t want)
{
	char qa[4 * QUOTE_MAX + 4], qb[4 * QUOTE_MAX + 4];

	if (n - 1 < want)
		return perr(p, p->line, KTA_ERR_MALFORMED, "'%s' needs %zu value%s", q(&t[0], qa),
			    want, want == 1 ? "" : "s");
	if (n - 1 > want)
		return perr(p, p->line, KTA_ERR_MALFORMED, "'%s': unexpected value \"%s\"",
			    q(&t[0], qa), q(&t[want + 1], qb));
	return KTA_OK;
}

/* A global directive taking one absolute path. */
static enum kta_status global_path(struct parser *p, const struct tok *t, size_t n, size_t *seen,
				   char **dst)
{
	enum kta_status r;
	char name[32];

	snprintf(name, sizeof(name), "%.*s", (int)t[0].n, t[0].p);
	if ((r = once(p, seen, name)) != KTA_OK || (r = nargs(p, t, n, 1)) != KTA_OK ||
	    (r = check_path(p, name, &t[1])) != KTA_OK)
		return r;
	if ((*dst = tok_dup(&t[1])) == NULL)
		return nomem(p);
	return KTA_OK;
}

static enum kta_status exec_argv(struct parser *p, const char *what, const struct tok *t, size_t n)
{
	char qb[4 * QUOTE_MAX + 4];

	if (n == 0)
		return perr(p, p->line, KTA_ERR_MALFORMED, "%s needs a program (absolute path)",
			    what);
	if (t[0].p[0] != '/')
		return perr(
		    p, p->line, KTA_ERR_MALFORMED,
		    "%s program \"%s\": must be an absolute path (no PATH search, no shell)", what,
		    q(&t[0], qb));
	if (t[0].n > KTA_CONFIG_PATH_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "%s program: longer than %d bytes", what,
			    KTA_CONFIG_PATH_MAX);
	return KTA_OK;
}

/*
 * Keeps a sink name within KTA_CONFIG_SINK_NAME_MAX (the state database's
 * limit): a longer one becomes its first KTA_CONFIG_SINK_NAME_KEEP bytes (cut
 * at a UTF-8 boundary), "~" and 32 hex digits of SHA-256 of the whole name,
 * so it stays stable and distinct.
 */
static char *shorten_name(char *name)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t len = strlen(name), keep = KTA_CONFIG_SINK_NAME_KEEP;
	char *s;

	if (len <= KTA_CONFIG_SINK_NAME_MAX)
		return name;
	if (EVP_Digest(name, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16) {
		free(name);
		return NULL;
	}
	while (keep > 0 && ((unsigned char)name[keep] & 0xc0) == 0x80)
		keep--;
	if ((s = malloc(keep + 1 + 32 + 1)) == NULL) {
		free(name);
		return NULL;
	}
	memcpy(s, name, keep);
	s[keep] = '~';
	kta_hex_encode(md, 16, s + keep + 1);
	free(name);
	return s;
}

/* Joins "prefix:" and the tokens with single spaces. */
static char *join_name(const char *prefix, const struct tok *t, size_t n)
{
	size_t i, len = strlen(prefix) + 1, o;
	char *s;

	for (i = 0; i < n; i++)
		len += t[i].n + 1;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	o = strlen(prefix);
	memcpy(s, prefix, o);
	s[o++] = ':';
	for (i = 0; i < n; i++) {
		if (i > 0)
			s[o++] = ' ';
		memcpy(s + o, t[i].p, t[i].n);
		o += t[i].n;
	}
	s[o] = '\0';
	return shorten_name(s);
}

static void sink_free_fields(struct kta_sink_config *s)
{
	free(s->name);
	free(s->target);
	argv_free(s->argv);
	free(s->ca_file);
}

static enum kta_status dir_sink(struct parser *p, const struct tok *t, size_t n)
{
	char qb[4 * QUOTE_MAX + 4];
	struct kta_config *cfg = p->cfg;
	struct kta_sink_config s;
	enum kta_status r = KTA_ERR_MALFORMED;
	int have_timeout = 0;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.line = p->line;
	s.timeout = KTA_CONFIG_DEFAULT_SINK_TIMEOUT;
	if (n < 2)
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "'sink' needs a type (stderr, file, syslog, exec, webhook)");
	if (cfg->nsinks >= KTA_CONFIG_SINKS_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "more than %d sinks", KTA_CONFIG_SINKS_MAX);
	if (tok_is(&t[1], "stderr") || tok_is(&t[1], "syslog")) {
		s.type = tok_is(&t[1], "stderr") ? KTA_SINK_STDERR : KTA_SINK_SYSLOG;
		if (n > 2)
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "sink %s: unexpected value \"%s\"", kta_sink_type_name(s.type),
				    q(&t[2], qb));
		s.name = strdup(kta_sink_type_name(s.type));
	} else if (tok_is(&t[1], "file")) {
		s.type = KTA_SINK_FILE;
		if (n != 3)
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "sink file needs exactly one path");
		if ((r = check_path(p, "sink file", &t[2])) != KTA_OK)
			return r;
		s.target = tok_dup(&t[2]);
		s.name = join_name("file", &t[2], 1);
	} else if (tok_is(&t[1], "exec")) {
		s.type = KTA_SINK_EXEC;
		if ((r = exec_argv(p, "sink exec", t + 2, n - 2)) != KTA_OK)
			return r;
		s.argc = n - 2;
		s.argv = argv_dup(t + 2, n - 2);
		s.name = join_name("exec", t + 2, n - 2);
	} else if (tok_is(&t[1], "webhook")) {
		s.type = KTA_SINK_WEBHOOK;
		if (n < 3)
			return perr(p, p->line, KTA_ERR_MALFORMED, "sink webhook needs a URL");
		if ((r = check_url(p, "sink webhook", &t[2], 1)) != KTA_OK)
			return r;
		s.target = tok_dup(&t[2]);
		s.name = join_name("webhook", &t[2], 1);
		r = KTA_ERR_MALFORMED;
		for (i = 3; i < n; i++) {
			if (t[i].n > 8 && memcmp(t[i].p, "ca_file=", 8) == 0) {
				struct tok v = {t[i].p + 8, t[i].n - 8};

				if (s.ca_file != NULL) {
					r = perr(p, p->line, KTA_ERR_MALFORMED,
						 "sink webhook: duplicate ca_file=");
					goto out;
				}
				if ((r = check_path(p, "sink webhook ca_file", &v)) != KTA_OK)
					goto out;
				if ((s.ca_file = tok_dup(&v)) == NULL) {
					r = nomem(p);
					goto out;
				}
			} else if (t[i].n > 8 && memcmp(t[i].p, "timeout=", 8) == 0) {
				struct tok v = {t[i].p + 8, t[i].n - 8};

				if (have_timeout) {
					r = perr(p, p->line, KTA_ERR_MALFORMED,
						 "sink webhook: duplicate timeout=");
					goto out;
				}
				have_timeout = 1;
				if ((r = parse_seconds(p, "sink webhook timeout", &v, 1,
						       KTA_CONFIG_SECONDS_MAX, &s.timeout)) !=
				    KTA_OK)
					goto out;
			} else {
				r = perr(p, p->line, KTA_ERR_MALFORMED,
					 "sink webhook: unknown option \"%s\" (ca_file=PATH, "
					 "timeout=SECONDS)",
					 q(&t[i], qb));
				goto out;
			}
		}
	} else {
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "unknown sink type \"%s\" (stderr, file, syslog, exec, webhook)",
			    q(&t[1], qb));
	}
	if (s.name == NULL || (s.type == KTA_SINK_FILE && s.target == NULL) ||
	    (s.type == KTA_SINK_EXEC && s.argv == NULL) ||
	    (s.type == KTA_SINK_WEBHOOK && s.target == NULL)) {
		r = nomem(p);
		goto out;
	}
	for (i = 0; i < cfg->nsinks; i++) {
		if (strcmp(cfg->sinks[i].name, s.name) == 0) {
			r = perr(p, p->line, KTA_ERR_MALFORMED,
				 "duplicate sink \"%s\" (first given on line %zu)",
				 kta_quote((const uint8_t *)s.name, strlen(s.name), QUOTE_MAX, qb),
				 cfg->sinks[i].line);
			goto out;
		}
	}
	if (!grow((void **)&cfg->sinks, &p->cap_sinks, cfg->nsinks, sizeof(s),
		  KTA_CONFIG_SINKS_MAX)) {
		r = nomem(p);
		goto out;
	}
	cfg->sinks[cfg->nsinks++] = s;
	memset(&s, 0, sizeof(s));
	r = KTA_OK;
out:
	sink_free_fields(&s);
	return r;
}

static enum kta_status dir_heartbeat_exec(struct parser *p, const struct tok *t, size_t n)
{
	enum kta_status r;

	if ((r = once(p, &p->l_heartbeat_exec, "heartbeat_exec")) != KTA_OK ||
	    (r = exec_argv(p, "heartbeat_exec", t + 1, n - 1)) != KTA_OK)
		return r;
	if ((p->cfg->heartbeat_exec = argv_dup(t + 1, n - 1)) == NULL)
		return nomem(p);
	p->cfg->heartbeat_exec_argc = n - 1;
	return KTA_OK;
}

static void watch_free_fields(struct kta_watch_config *w)
{
	size_t i;

	free(w->label);
	for (i = 0; i < w->nkeys; i++)
		free(w->keys[i].device);
	free(w->keys);
}

static void log_free_fields(struct kta_log_config *l)
{
	size_t i;

	free(l->name);
	free(l->url);
	for (i = 0; i < l->nmirrors; i++)
		free(l->mirrors[i]);
	free(l->mirrors);
	kta_vkey_free(l->key);
	free(l->origin);
	for (i = 0; i < l->nwitnesses; i++)
		kta_vkey_free((struct kta_vkey *)l->witnesses[i]);
	free(l->witnesses);
	free(l->ca_file);
	free(l->url_proxy);
	for (i = 0; l->mirror_proxies != NULL && i < l->nmirrors; i++)
		free(l->mirror_proxies[i]);
	free(l->mirror_proxies);
	for (i = 0; i < l->npeers; i++) {
		free(l->peers[i].url);
		kta_vkey_free(l->peers[i].key);
	}
	free(l->peers);
	free(l->publish_dir);
	for (i = 0; i < l->nwatches; i++)
		watch_free_fields(&l->watches[i]);
	free(l->watches);
}

/*
 * A sharded section audits only its shard's labels (shard.h), so a watch on
 * a label of another shard would never be checked: refuse it, naming the
 * watch's line. Checked at the section's end because `shard` may follow
 * the watches.
 */
static enum kta_status watches_in_shard(struct parser *p, const struct kta_log_config *l)
{
	char qb[4 * QUOTE_MAX + 4];
	struct kta_error e;
	enum kta_status r;
	uint32_t j = 0;
	size_t i;

	for (i = 0; l->shard_n > 0 && i < l->nwatches; i++) {
		const struct kta_watch_config *w = &l->watches[i];
		size_t len = strlen(w->label);

		if ((r = kta_shard_of(w->label, len, l->shard_n, &j, &e)) != KTA_OK)
			return r == KTA_ERR_NOMEM ? nomem(p)
						  : perr(p, w->line, r, "watch: %s", e.msg);
		if (j != l->shard_k)
			return perr(p, w->line, KTA_ERR_MALFORMED,
				    "watch \"%s\": the label is in shard %u/%u, this log audits "
				    "shard %u/%u ('shard' on line %zu)",
				    kta_quote((const uint8_t *)w->label, len, QUOTE_MAX, qb),
				    (unsigned)j, (unsigned)l->shard_n, (unsigned)l->shard_k,
				    (unsigned)l->shard_n, p->l_shard);
	}
	return KTA_OK;
}

/* Checks that the open section is complete (at its end). */
static enum kta_status finish_log(struct parser *p)
{
	struct kta_log_config *l = p->cur;
	char qa[4 * QUOTE_MAX + 4], qb[4 * QUOTE_MAX + 4];
	enum kta_status r;
	size_t i;

	if (l == NULL)
		return KTA_OK;
	if (l->url == NULL)
		return perr(p, l->line, KTA_ERR_MALFORMED, "log \"%s\": missing 'url'",
			    kta_quote((const uint8_t *)l->name, strlen(l->name), QUOTE_MAX, qb));
	if (l->key == NULL)
		return perr(p, l->line, KTA_ERR_MALFORMED, "log \"%s\": missing 'key'",
			    kta_quote((const uint8_t *)l->name, strlen(l->name), QUOTE_MAX, qb));
	if (l->quorum > l->nwitnesses)
		return perr(p, p->l_quorum, KTA_ERR_MALFORMED,
			    "quorum %zu is more than the %zu witness%s of log \"%s\"", l->quorum,
			    l->nwitnesses, l->nwitnesses == 1 ? "" : "es",
			    kta_quote((const uint8_t *)l->name, strlen(l->name), QUOTE_MAX, qb));
	if ((r = watches_in_shard(p, l)) != KTA_OK)
		return r;
	if (l->origin == NULL && (l->origin = strdup(l->name)) == NULL)
		return nomem(p);
	/* alerts and state name a log by its origin: it must be unique */
	for (i = 0; i + 1 < p->cfg->nlogs; i++)
		if (strcmp(p->cfg->logs[i].origin, l->origin) == 0)
			return perr(
			    p, p->l_origin != 0 ? p->l_origin : l->line, KTA_ERR_MALFORMED,
			    "log \"%s\" has the same origin \"%s\" as the log on line %zu",
			    kta_quote((const uint8_t *)l->name, strlen(l->name), QUOTE_MAX, qa),
			    kta_quote((const uint8_t *)l->origin, strlen(l->origin), QUOTE_MAX, qb),
			    p->cfg->logs[i].line);
	p->cur = NULL;
	return KTA_OK;
}

static enum kta_status dir_log(struct parser *p, const struct tok *t, size_t n)
{
	char qb[4 * QUOTE_MAX + 4];
	struct kta_config *cfg = p->cfg;
	struct kta_log_config *l;
	enum kta_status r;
	size_t i;

	if ((r = finish_log(p)) != KTA_OK || (r = nargs(p, t, n, 1)) != KTA_OK)
		return r;
	if (t[1].n > KTA_CONFIG_NAME_MAX)
		return perr(p, p->line, KTA_ERR_MALFORMED, "log name longer than %d bytes",
			    KTA_CONFIG_NAME_MAX);
	for (i = 0; i < cfg->nlogs; i++)
		if (tok_is(&t[1], cfg->logs[i].name))
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "duplicate log \"%s\" (first given on line %zu)", q(&t[1], qb),
				    cfg->logs[i].line);
	if (cfg->nlogs >= KTA_CONFIG_LOGS_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "more than %d logs", KTA_CONFIG_LOGS_MAX);
	if (!grow((void **)&cfg->logs, &p->cap_logs, cfg->nlogs, sizeof(*l), KTA_CONFIG_LOGS_MAX))
		return nomem(p);
	l = &cfg->logs[cfg->nlogs];
	memset(l, 0, sizeof(*l));
	if ((l->name = tok_dup(&t[1])) == NULL)
		return nomem(p);
	cfg->nlogs++;
	l->line = p->line;
	l->poll = KTA_CONFIG_DEFAULT_POLL;
	p->cur = l;
	p->cap_mirrors = p->cap_witnesses = p->cap_watches = 0;
	p->cap_mproxies = p->cap_peers = 0;
	p->l_url = p->l_key = p->l_origin = p->l_quorum = p->l_poll = p->l_max_age = 0;
	p->l_ca_file = p->l_publish_dir = p->l_shard = 0;
	return KTA_OK;
}

/* A URL already listed in the open section (url or mirror). */
static enum kta_status url_unique(struct parser *p, const struct tok *t)
{
	const struct kta_log_config *l = p->cur;
	char qb[4 * QUOTE_MAX + 4];
	size_t i;

	if ((l->url != NULL && tok_is(t, l->url)))
		return perr(p, p->line, KTA_ERR_MALFORMED, "URL \"%s\" listed twice in this log",
			    q(t, qb));
	for (i = 0; i < l->nmirrors; i++)
		if (tok_is(t, l->mirrors[i]))
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "URL \"%s\" listed twice in this log", q(t, qb));
	return KTA_OK;
}

/*
 * A `proxy=SCHEME://HOST:PORT` option: SCHEME one libcurl understands for
 * CURLOPT_PROXY (socks5h resolves names through the proxy, as Tor needs),
 * printable ASCII, no user name or password (they would sit in a config
 * that is often world-readable), a port. *out is a copy of the value.
 */
static enum kta_status parse_proxy(struct parser *p, const struct tok *t, char **out)
{
	static const char *const schemes[] = {"socks5h://", "socks5://", "socks4a://",
					      "http://",    "https://",  NULL};
	char qb[4 * QUOTE_MAX + 4];
	struct tok v;
	size_t i, sl = 0;
	const char *colon;

	*out = NULL;
	if (t->n < 6 || memcmp(t->p, "proxy=", 6) != 0)
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "unexpected value \"%s\" (the only option is proxy=URL)", q(t, qb));
	v.p = t->p + 6;
	v.n = t->n - 6;
	if (v.n > URL_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "proxy: longer than %d bytes", URL_MAX);
	for (i = 0; schemes[i] != NULL; i++) {
		size_t n = strlen(schemes[i]);

		if (v.n > n && memcmp(v.p, schemes[i], n) == 0) {
			sl = n;
			break;
		}
	}
	if (sl == 0)
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "proxy \"%s\": scheme must be socks5h://, socks5://, socks4a://, "
			    "http:// or https://",
			    q(&v, qb));
	for (i = 0; i < v.n; i++)
		if ((unsigned char)v.p[i] <= 0x20 || (unsigned char)v.p[i] >= 0x7f ||
		    v.p[i] == '@' || v.p[i] == '?' || v.p[i] == '#')
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "proxy \"%s\": must be SCHEME://HOST:PORT (printable, no user "
				    "name, query or fragment)",
				    q(&v, qb));
	colon = memchr(v.p + sl, ':', v.n - sl);
	if (colon == NULL || colon == v.p + sl || colon + 1 == v.p + v.n)
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "proxy \"%s\": must be SCHEME://HOST:PORT", q(&v, qb));
	for (i = (size_t)(colon + 1 - v.p); i < v.n; i++)
		if (!((v.p[i] >= '0' && v.p[i] <= '9') || (v.p[i] == '/' && i + 1 == v.n)))
			return perr(p, p->line, KTA_ERR_MALFORMED, "proxy \"%s\": bad port",
				    q(&v, qb));
	if ((*out = tok_dup(&v)) == NULL)
		return nomem(p);
	return KTA_OK;
}

static enum kta_status dir_url(struct parser *p, const struct tok *t, size_t n, int mirror)
{
	struct kta_log_config *l = p->cur;
	const char *what = mirror ? "mirror" : "url";
	char qa[4 * QUOTE_MAX + 4];
	enum kta_status r;
	char *s = NULL, *proxy = NULL;

	if (!mirror && (r = once(p, &p->l_url, "url")) != KTA_OK)
		return r;
	if (n < 2 || n > 3)
		return perr(p, p->line, KTA_ERR_MALFORMED, "'%s' needs a URL and at most proxy=URL",
			    q(&t[0], qa));
	if ((r = check_url(p, what, &t[1], 0)) != KTA_OK || (r = url_unique(p, &t[1])) != KTA_OK)
		return r;
	if (mirror && l->nmirrors >= KTA_CONFIG_MIRRORS_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "more than %d mirrors in one log",
			    KTA_CONFIG_MIRRORS_MAX);
	if (n == 3 && (r = parse_proxy(p, &t[2], &proxy)) != KTA_OK)
		return r;
	if ((s = tok_dup(&t[1])) == NULL) {
		free(proxy);
		return nomem(p);
	}
	if (!mirror) {
		l->url = s;
		l->url_proxy = proxy;
		return KTA_OK;
	}
	if (!grow((void **)&l->mirrors, &p->cap_mirrors, l->nmirrors, sizeof(char *),
		  KTA_CONFIG_MIRRORS_MAX) ||
	    !grow((void **)&l->mirror_proxies, &p->cap_mproxies, l->nmirrors, sizeof(char *),
		  KTA_CONFIG_MIRRORS_MAX)) {
		free(s);
		free(proxy);
		return nomem(p);
	}
	l->mirror_proxies[l->nmirrors] = proxy;
	l->mirrors[l->nmirrors++] = s;
	return KTA_OK;
}

/* `peer URL VKEY`: another auditor's publish URL for this log and its key. */
static enum kta_status dir_peer(struct parser *p, const struct tok *t, size_t n)
{
	struct kta_log_config *l = p->cur;
	struct kta_peer_config pc;
	char qb[4 * QUOTE_MAX + 4];
	enum kta_status r;
	size_t i;

	memset(&pc, 0, sizeof(pc));
	if ((r = nargs(p, t, n, 2)) != KTA_OK || (r = check_url(p, "peer", &t[1], 0)) != KTA_OK)
		return r;
	for (i = 0; i < l->npeers; i++)
		if (tok_is(&t[1], l->peers[i].url))
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "peer \"%s\" listed twice in this log (first on line %zu)",
				    q(&t[1], qb), l->peers[i].line);
	if (l->npeers >= KTA_CONFIG_PEERS_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "more than %d peers in one log",
			    KTA_CONFIG_PEERS_MAX);
	if ((r = kta_vkey_parse(t[2].p, t[2].n, &pc.key, p->err)) != KTA_OK)
		return pwrap(p, r, "peer key");
	if (pc.key->type != KTA_KEY_COSIGNATURE_V1) {
		kta_vkey_free(pc.key);
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "peer key \"%s\": not a cosignature/v1 key (ktaudit keygen --witness)",
			    q(&t[2], qb));
	}
	pc.line = p->line;
	if ((pc.url = tok_dup(&t[1])) == NULL ||
	    !grow((void **)&l->peers, &p->cap_peers, l->npeers, sizeof(pc), KTA_CONFIG_PEERS_MAX)) {
		free(pc.url);
		kta_vkey_free(pc.key);
		return nomem(p);
	}
	l->peers[l->npeers++] = pc;
	return KTA_OK;
}

static enum kta_status dir_key(struct parser *p, const struct tok *t, size_t n, int witness)
{
	struct kta_log_config *l = p->cur;
	struct kta_vkey *k = NULL;
	enum kta_status r;
	size_t i;

	if ((!witness && (r = once(p, &p->l_key, "key")) != KTA_OK) ||
	    (r = nargs(p, t, n, 1)) != KTA_OK)
		return r;
	if ((r = kta_vkey_parse(t[1].p, t[1].n, &k, p->err)) != KTA_OK)
		return pwrap(p, r, witness ? "witness" : "key");
	if (!witness) {
		l->key = k;
		return KTA_OK;
	}
	r = KTA_ERR_MALFORMED;
	for (i = 0; i < l->nwitnesses; i++) {
		if (strcmp(l->witnesses[i]->name, k->name) == 0 &&
		    l->witnesses[i]->key_id == k->key_id) {
			r = perr(p, p->line, KTA_ERR_MALFORMED, "witness %s+%08x listed twice",
				 k->name, (unsigned)k->key_id);
			goto out;
		}
	}
	if (l->nwitnesses >= KTA_CONFIG_WITNESSES_MAX) {
		r = perr(p, p->line, KTA_ERR_LIMIT, "more than %d witnesses in one log",
			 KTA_CONFIG_WITNESSES_MAX);
		goto out;
	}
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	if (!grow((void **)&l->witnesses, &p->cap_witnesses, l->nwitnesses, sizeof(*l->witnesses),
		  KTA_CONFIG_WITNESSES_MAX)) {
		r = nomem(p);
		goto out;
	}
	l->witnesses[l->nwitnesses++] = k;
	k = NULL;
	r = KTA_OK;
out:
	kta_vkey_free(k);
	return r;
}

static int watch_key_cmp(const void *pa, const void *pb)
{
	const struct kta_entry_key *a = pa, *b = pb;

	if (a->alg != b->alg)
		return a->alg < b->alg ? -1 : 1;
	return memcmp(a->pub, b->pub, 32);
}

static enum kta_status dir_watch(struct parser *p, const struct tok *t, size_t n)
{
	struct kta_log_config *l = p->cur;
	char qb[4 * QUOTE_MAX + 4];
	char device[KTA_DEVICE_MAX_LEN + 1];
	struct kta_watch_config w;
	enum kta_status r = KTA_ERR_MALFORMED;
	size_t i, j;

	memset(&w, 0, sizeof(w));
	w.line = p->line;
	if (n < 3)
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "'watch' needs a label and keys (ALG:B64:DEVICE ...) or 'tofu'");
	if ((r = kta_entry_label_check(t[1].p, t[1].n, p->err)) != KTA_OK)
		return pwrap(p, r, "watch");
	for (i = 0; i < l->nwatches; i++)
		if (tok_is(&t[1], l->watches[i].label))
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "label \"%s\" watched twice in this log (first on line %zu)",
				    q(&t[1], qb), l->watches[i].line);
	if (l->nwatches >= KTA_CONFIG_WATCHES_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "more than %d watches in one log",
			    KTA_CONFIG_WATCHES_MAX);
	if (n - 2 > KTA_CONFIG_WATCH_KEYS_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "more than %d keys in one watch",
			    KTA_CONFIG_WATCH_KEYS_MAX);
	if ((w.label = tok_dup(&t[1])) == NULL)
		return nomem(p);
	if (tok_is(&t[2], "tofu")) {
		if (n > 3) {
			r = perr(p, p->line, KTA_ERR_MALFORMED,
				 "watch: 'tofu' takes no keys (unexpected \"%s\")", q(&t[3], qb));
			goto out;
		}
		w.tofu = 1;
	} else {
		if ((w.keys = calloc(n - 2, sizeof(*w.keys))) == NULL) {
			r = nomem(p);
			goto out;
		}
		for (i = 2; i < n; i++) {
			struct kta_entry_key *k = &w.keys[w.nkeys];

			if (tok_is(&t[i], "tofu")) {
				r = perr(p, p->line, KTA_ERR_MALFORMED,
					 "watch: 'tofu' cannot be combined with keys");
				goto out;
			}
			if ((r = kta_config_parse_key_spec(t[i].p, t[i].n, k, device, p->err)) !=
			    KTA_OK) {
				r = pwrap(p, r, "watch");
				goto out;
			}
			if ((k->device = strdup(device)) == NULL) {
				r = nomem(p);
				goto out;
			}
			w.nkeys++;
		}
		/* entry.h canonical order, so the set compares with kta_entry_keys_diff */
		qsort(w.keys, w.nkeys, sizeof(*w.keys), watch_key_cmp);
		for (i = 0; i < w.nkeys; i++) {
			for (j = i + 1; j < w.nkeys; j++) {
				if (w.keys[i].alg != w.keys[j].alg)
					continue;
				if (memcmp(w.keys[i].pub, w.keys[j].pub, 32) == 0) {
					r = perr(p, p->line, KTA_ERR_MALFORMED,
						 "watch: the same %s key is listed twice",
						 kta_entry_alg_name(w.keys[i].alg));
					goto out;
				}
				if (strcmp(w.keys[i].device, w.keys[j].device) == 0) {
					r = perr(p, p->line, KTA_ERR_MALFORMED,
						 "watch: device \"%s\" has two %s keys (a device "
						 "has at most one key per algorithm)",
						 kta_quote((const uint8_t *)w.keys[i].device,
							   strlen(w.keys[i].device), QUOTE_MAX, qb),
						 kta_entry_alg_name(w.keys[i].alg));
					goto out;
				}
			}
		}
	}
	if (!grow((void **)&l->watches, &p->cap_watches, l->nwatches, sizeof(w),
		  KTA_CONFIG_WATCHES_MAX)) {
		r = nomem(p);
		goto out;
	}
	l->watches[l->nwatches++] = w;
	memset(&w, 0, sizeof(w));
	r = KTA_OK;
out:
	watch_free_fields(&w);
	return r;
}

static enum kta_status dir_log_value(struct parser *p, const struct tok *t, size_t n)
{
	struct kta_log_config *l = p->cur;
	char qb[4 * QUOTE_MAX + 4];
	enum kta_status r;
	uint64_t v = 0;

	if (tok_is(&t[0], "origin")) {
		if ((r = once(p, &p->l_origin, "origin")) != KTA_OK ||
		    (r = nargs(p, t, n, 1)) != KTA_OK)
			return r;
		if (t[1].n > KTA_CONFIG_NAME_MAX)
			return perr(p, p->line, KTA_ERR_MALFORMED, "origin longer than %d bytes",
				    KTA_CONFIG_NAME_MAX);
		if ((l->origin = tok_dup(&t[1])) == NULL)
			return nomem(p);
		return KTA_OK;
	}
	if (tok_is(&t[0], "ca_file")) {
		if ((r = once(p, &p->l_ca_file, "ca_file")) != KTA_OK ||
		    (r = nargs(p, t, n, 1)) != KTA_OK ||
		    (r = check_path(p, "ca_file", &t[1])) != KTA_OK)
			return r;
		if ((l->ca_file = tok_dup(&t[1])) == NULL)
			return nomem(p);
		return KTA_OK;
	}
	if (tok_is(&t[0], "publish_dir")) {
		if ((r = once(p, &p->l_publish_dir, "publish_dir")) != KTA_OK ||
		    (r = nargs(p, t, n, 1)) != KTA_OK ||
		    (r = check_path(p, "publish_dir", &t[1])) != KTA_OK)
			return r;
		if ((l->publish_dir = tok_dup(&t[1])) == NULL)
			return nomem(p);
		return KTA_OK;
	}
	if (tok_is(&t[0], "quorum")) {
		if ((r = once(p, &p->l_quorum, "quorum")) != KTA_OK ||
		    (r = nargs(p, t, n, 1)) != KTA_OK ||
		    (r = parse_seconds(p, "quorum", &t[1], 0, KTA_CONFIG_WITNESSES_MAX, &v)) !=
			KTA_OK)
			return r;
		l->quorum = (size_t)v;
		return KTA_OK;
	}
	if (tok_is(&t[0], "poll")) {
		if ((r = once(p, &p->l_poll, "poll")) != KTA_OK ||
		    (r = nargs(p, t, n, 1)) != KTA_OK)
			return r;
		return parse_seconds(p, "poll", &t[1], 1, KTA_CONFIG_SECONDS_MAX, &l->poll);
	}
	if (tok_is(&t[0], "max_age")) {
		if ((r = once(p, &p->l_max_age, "max_age")) != KTA_OK ||
		    (r = nargs(p, t, n, 1)) != KTA_OK)
			return r;
		return parse_seconds(p, "max_age", &t[1], 0, KTA_CONFIG_SECONDS_MAX, &l->max_age);
	}
	if (tok_is(&t[0], "shard")) {
		struct kta_error e;
		uint32_t k = 0, sn = 0;

		if ((r = once(p, &p->l_shard, "shard")) != KTA_OK ||
		    (r = nargs(p, t, n, 1)) != KTA_OK)
			return r;
		if (kta_shard_parse(t[1].p, t[1].n, &k, &sn, &e) != KTA_OK)
			return perr(p, p->line, KTA_ERR_MALFORMED, "shard: %s", e.msg);
		l->shard_k = k;
		l->shard_n = sn;
		return KTA_OK;
	}
	return perr(p, p->line, KTA_ERR_INTERNAL, "unhandled directive \"%s\"", q(&t[0], qb));
}

/* --- ctlog sections (Certificate Transparency, ct.h) --------------------- */

static void ctlog_free_fields(struct kta_ctlog_config *c)
{
	size_t i;

	free(c->name);
	free(c->url);
	free(c->monitoring_url);
	kta_ct_key_free(c->key);
	free(c->ca_file);
	for (i = 0; i < c->nwatches; i++) {
		free(c->watches[i].domain);
		free(c->watches[i].approved);
	}
	free(c->watches);
}

static enum kta_status finish_ctlog(struct parser *p)
{
	struct kta_ctlog_config *c = p->ct;
	char qb[4 * QUOTE_MAX + 4];

	if (c == NULL)
		return KTA_OK;
	if (c->url == NULL)
		return perr(p, c->line, KTA_ERR_MALFORMED, "ctlog \"%s\": missing 'url'",
			    kta_quote((const uint8_t *)c->name, strlen(c->name), QUOTE_MAX, qb));
	if (c->key == NULL)
		return perr(p, c->line, KTA_ERR_MALFORMED, "ctlog \"%s\": missing 'key'",
			    kta_quote((const uint8_t *)c->name, strlen(c->name), QUOTE_MAX, qb));
	p->ct = NULL;
	return KTA_OK;
}

static enum kta_status finish_section(struct parser *p)
{
	enum kta_status r = finish_log(p);

	return r != KTA_OK ? r : finish_ctlog(p);
}

static enum kta_status dir_ctlog(struct parser *p, const struct tok *t, size_t n)
{
	char qb[4 * QUOTE_MAX + 4];
	struct kta_config *cfg = p->cfg;
	struct kta_ctlog_config *c;
	enum kta_status r;
	size_t i;

	if ((r = finish_section(p)) != KTA_OK || (r = nargs(p, t, n, 1)) != KTA_OK)
		return r;
	if (t[1].n > KTA_CONFIG_NAME_MAX)
		return perr(p, p->line, KTA_ERR_MALFORMED, "ctlog name longer than %d bytes",
			    KTA_CONFIG_NAME_MAX);
	for (i = 0; i < cfg->nctlogs; i++)
		if (tok_is(&t[1], cfg->ctlogs[i].name))
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "duplicate ctlog \"%s\" (first given on line %zu)",
				    q(&t[1], qb), cfg->ctlogs[i].line);
	if (cfg->nctlogs >= KTA_CONFIG_LOGS_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "more than %d ctlogs", KTA_CONFIG_LOGS_MAX);
	if (!grow((void **)&cfg->ctlogs, &p->cap_ctlogs, cfg->nctlogs, sizeof(*c),
		  KTA_CONFIG_LOGS_MAX))
		return nomem(p);
	c = &cfg->ctlogs[cfg->nctlogs];
	memset(c, 0, sizeof(*c));
	if ((c->name = tok_dup(&t[1])) == NULL)
		return nomem(p);
	cfg->nctlogs++;
	c->line = p->line;
	c->poll = KTA_CONFIG_DEFAULT_POLL;
	c->batch = 256;
	if (p->first_section == 0)
		p->first_section = p->line;
	p->ct = c;
	p->cap_ctwatches = 0;
	p->l_url = p->l_key = p->l_poll = p->l_ca_file = 0;
	p->l_log_id = p->l_batch = p->l_max_entries = p->l_monitoring_url = 0;
	return KTA_OK;
}

/* watch_domain DOMAIN [SPKI_SHA256...] */
static enum kta_status dir_watch_domain(struct parser *p, const struct tok *t, size_t n)
{
	struct kta_ctlog_config *c = p->ct;
	struct kta_ct_watch_config *w;
	char qb[4 * QUOTE_MAX + 4];
	const struct tok *d = &t[1];
	size_t i, j, body;

	if (n < 2)
		return nargs(p, t, n, 1);
	/* A DNS name (RFC 1035 2.3.4: 253 bytes), or one below which to watch. */
	body = d->n > 0 && d->p[0] == '.' ? d->n - 1 : d->n;
	if (body == 0 || body > KTA_CT_NAME_MAX)
		return perr(p, p->line, KTA_ERR_MALFORMED, "watch_domain \"%s\": not a domain name",
			    q(d, qb));
	for (i = 0; i < d->n; i++) {
		unsigned char ch = (unsigned char)d->p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
		      (ch == '*' && i == 0)) ||
		    (ch == '.' && i + 1 < d->n && d->p[i + 1] == '.') || d->p[d->n - 1] == '.')
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "watch_domain \"%s\": not a domain name (byte %zu)", q(d, qb),
				    i);
	}
	for (i = 0; i < c->nwatches; i++) {
		const char *o = c->watches[i].domain;
		int same = d->n == strlen(o);

		/* ASCII case-insensitive, without the locale (names are stored lowercase). */
		for (j = 0; same && j < d->n; j++)
			same = (d->p[j] >= 'A' && d->p[j] <= 'Z' ? d->p[j] + 32 : d->p[j]) == o[j];
		if (same)
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "watch_domain \"%s\" listed twice (line %zu)", q(d, qb),
				    c->watches[i].line);
	}
	if (n - 2 > KTA_CONFIG_WATCH_KEYS_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "watch_domain: more than %d approved keys",
			    KTA_CONFIG_WATCH_KEYS_MAX);
	if (c->nwatches >= KTA_CONFIG_WATCHES_MAX)
		return perr(p, p->line, KTA_ERR_LIMIT, "more than %d watches in one ctlog",
			    KTA_CONFIG_WATCHES_MAX);
	if (!grow((void **)&c->watches, &p->cap_ctwatches, c->nwatches, sizeof(*w),
		  KTA_CONFIG_WATCHES_MAX))
		return nomem(p);
	w = &c->watches[c->nwatches];
	memset(w, 0, sizeof(*w));
	w->line = p->line;
	if ((w->domain = tok_dup(d)) == NULL)
		return nomem(p);
	for (i = 0; w->domain[i] != '\0'; i++)
		if (w->domain[i] >= 'A' && w->domain[i] <= 'Z')
			w->domain[i] = (char)(w->domain[i] + 32);
	c->nwatches++;
	if (n > 2 && (w->approved = calloc(n - 2, 32)) == NULL)
		return nomem(p);
	for (i = 2; i < n; i++) {
		if (kta_parse_hash(t[i].p, t[i].n, w->approved[i - 2], "key", NULL) != KTA_OK)
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "watch_domain: \"%s\" is not a SHA-256 (64 hex or 44 base64)",
				    q(&t[i], qb));
		for (j = 0; j < i - 2; j++)
			if (memcmp(w->approved[j], w->approved[i - 2], 32) == 0)
				return perr(p, p->line, KTA_ERR_MALFORMED,
					    "watch_domain: key \"%s\" listed twice", q(&t[i], qb));
		w->napproved++;
	}
	return KTA_OK;
}

static enum kta_status dir_ctlog_value(struct parser *p, const struct tok *t, size_t n)
{
	struct kta_ctlog_config *c = p->ct;
	char qb[4 * QUOTE_MAX + 4];
	struct kta_error e;
	enum kta_status r;
	uint64_t v;

	if (tok_is(&t[0], "watch_domain"))
		return dir_watch_domain(p, t, n);
	if ((r = nargs(p, t, n, 1)) != KTA_OK)
		return r;
	if (tok_is(&t[0], "url")) {
		if ((r = once(p, &p->l_url, "url")) != KTA_OK ||
		    (r = check_url(p, "url", &t[1], 0)) != KTA_OK)
			return r;
		return (c->url = tok_dup(&t[1])) == NULL ? nomem(p) : KTA_OK;
	}
	if (tok_is(&t[0], "monitoring_url")) {
		/* c2sp.org/static-ct-api: the tiles live here, `url` names the origin. */
		if ((r = once(p, &p->l_monitoring_url, "monitoring_url")) != KTA_OK ||
		    (r = check_url(p, "monitoring_url", &t[1], 0)) != KTA_OK)
			return r;
		return (c->monitoring_url = tok_dup(&t[1])) == NULL ? nomem(p) : KTA_OK;
	}
	if (tok_is(&t[0], "key")) {
		if ((r = once(p, &p->l_key, "key")) != KTA_OK)
			return r;
		if ((r = kta_ct_key_parse((const uint8_t *)t[1].p, t[1].n, 0, &c->key, &e)) !=
		    KTA_OK)
			return r == KTA_ERR_NOMEM
				   ? nomem(p)
				   : perr(p, p->line, KTA_ERR_MALFORMED, "key: %s", e.msg);
		return KTA_OK;
	}
	if (tok_is(&t[0], "log_id")) {
		char id[128];

		if ((r = once(p, &p->l_log_id, "log_id")) != KTA_OK)
			return r;
		if (c->key == NULL)
			return perr(p, p->line, KTA_ERR_MALFORMED, "log_id before 'key'");
		if (t[1].n >= sizeof(id))
			return perr(p, p->line, KTA_ERR_MALFORMED, "log_id \"%s\": too long",
				    q(&t[1], qb));
		memcpy(id, t[1].p, t[1].n);
		id[t[1].n] = '\0';
		if (kta_ct_key_check_log_id(c->key, id, &e) != KTA_OK)
			return perr(p, p->line, KTA_ERR_MALFORMED, "log_id \"%s\": %s",
				    q(&t[1], qb), e.msg);
		return KTA_OK;
	}
	if (tok_is(&t[0], "poll")) {
		if ((r = once(p, &p->l_poll, "poll")) != KTA_OK)
			return r;
		return parse_seconds(p, "poll", &t[1], 1, KTA_CONFIG_SECONDS_MAX, &c->poll);
	}
	if (tok_is(&t[0], "batch")) {
		if ((r = once(p, &p->l_batch, "batch")) != KTA_OK ||
		    (r = parse_seconds(p, "batch", &t[1], 1, KTA_CT_MAX_BATCH, &v)) != KTA_OK)
			return r;
		c->batch = (unsigned)v;
		return KTA_OK;
	}
	if (tok_is(&t[0], "max_entries")) {
		if ((r = once(p, &p->l_max_entries, "max_entries")) != KTA_OK)
			return r;
		return parse_seconds(p, "max_entries", &t[1], 0, UINT64_MAX, &c->max_entries);
	}
	if (tok_is(&t[0], "ca_file")) {
		if ((r = once(p, &p->l_ca_file, "ca_file")) != KTA_OK ||
		    (r = check_path(p, "ca_file", &t[1])) != KTA_OK)
			return r;
		return (c->ca_file = tok_dup(&t[1])) == NULL ? nomem(p) : KTA_OK;
	}
	return perr(p, p->line, KTA_ERR_MALFORMED, "'%s' is not a ctlog directive", q(&t[0], qb));
}

static const char *const ctlog_dirs[] = {
    "url",   "monitoring_url", "key",     "log_id",       "poll",
    "batch", "max_entries",    "ca_file", "watch_domain", NULL};

static const char *const global_dirs[] = {
    "state_dir", "evidence_dir", "heartbeat",   "heartbeat_exec", "metrics",
    "sink",      "witness_key",  "index_cache", "commit_every",   NULL};
static const char *const log_dirs[] = {"url",    "mirror",      "key",     "origin",  "witness",
				       "quorum", "poll",        "max_age", "ca_file", "watch",
				       "peer",   "publish_dir", "shard",   NULL};

static int in_list(const struct tok *t, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (tok_is(t, list[i]))
			return 1;
	return 0;
}

static enum kta_status directive(struct parser *p, const struct tok *t, size_t n)
{
	char qb[4 * QUOTE_MAX + 4];
	struct kta_config *cfg = p->cfg;

	if (tok_is(&t[0], "log")) {
		enum kta_status r = finish_ctlog(p);

		if (r == KTA_OK && p->first_section == 0)
			p->first_section = p->line;
		return r != KTA_OK ? r : dir_log(p, t, n);
	}
	if (tok_is(&t[0], "ctlog"))
		return dir_ctlog(p, t, n);
	/* publish_dir is global before the first section, per log inside one */
	if (tok_is(&t[0], "publish_dir") && p->first_section == 0)
		return global_path(p, t, n, &p->l_publish_global, &cfg->publish_dir);
	if (in_list(&t[0], global_dirs)) {
		if (p->first_section != 0)
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "global directive '%s' after the first 'log' section (line "
				    "%zu); move it above",
				    q(&t[0], qb), p->first_section);
		if (tok_is(&t[0], "state_dir"))
			return global_path(p, t, n, &p->l_state_dir, &cfg->state_dir);
		if (tok_is(&t[0], "evidence_dir"))
			return global_path(p, t, n, &p->l_evidence_dir, &cfg->evidence_dir);
		if (tok_is(&t[0], "heartbeat"))
			return global_path(p, t, n, &p->l_heartbeat, &cfg->heartbeat);
		if (tok_is(&t[0], "metrics"))
			return global_path(p, t, n, &p->l_metrics, &cfg->metrics);
		if (tok_is(&t[0], "heartbeat_exec"))
			return dir_heartbeat_exec(p, t, n);
		if (tok_is(&t[0], "witness_key"))
			return global_path(p, t, n, &p->l_witness_key, &cfg->witness_key);
		if (tok_is(&t[0], "index_cache")) {
			enum kta_status r;

			if ((r = once(p, &p->l_index_cache, "index_cache")) != KTA_OK ||
			    (r = nargs(p, t, n, 1)) != KTA_OK)
				return r;
			return parse_seconds(p, "index_cache", &t[1], KTA_CONFIG_INDEX_CACHE_MIN,
					     KTA_CONFIG_INDEX_CACHE_MAX, &cfg->index_cache);
		}
		if (tok_is(&t[0], "commit_every")) {
			enum kta_status r;

			if ((r = once(p, &p->l_commit_every, "commit_every")) != KTA_OK ||
			    (r = nargs(p, t, n, 1)) != KTA_OK)
				return r;
			if ((r = parse_seconds(p, "commit_every", &t[1], 0,
					       KTA_CONFIG_COMMIT_EVERY_MAX, &cfg->commit_every)) !=
			    KTA_OK)
				return r;
			/* 0 turns chunking off; a chunk is at least one bundle */
			if (cfg->commit_every != 0 &&
			    cfg->commit_every < KTA_CONFIG_COMMIT_EVERY_MIN)
				return perr(p, p->line, KTA_ERR_MALFORMED,
					    "commit_every \"%s\": must be 0 (off) or %d..%d",
					    q(&t[1], qb), KTA_CONFIG_COMMIT_EVERY_MIN,
					    KTA_CONFIG_COMMIT_EVERY_MAX);
			return KTA_OK;
		}
		return dir_sink(p, t, n);
	}
	if (p->ct != NULL) {
		if (!in_list(&t[0], ctlog_dirs))
			return perr(p, p->line, KTA_ERR_MALFORMED, "'%s' is not a ctlog directive",
				    q(&t[0], qb));
		return dir_ctlog_value(p, t, n);
	}
	if (in_list(&t[0], ctlog_dirs) && !in_list(&t[0], log_dirs))
		return perr(p, p->line, KTA_ERR_MALFORMED,
			    "'%s' outside a ctlog section (start one with 'ctlog NAME')",
			    q(&t[0], qb));
	if (in_list(&t[0], log_dirs)) {
		if (p->cur == NULL)
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "'%s' outside a log section (start one with 'log NAME')",
				    q(&t[0], qb));
		if (tok_is(&t[0], "url"))
			return dir_url(p, t, n, 0);
		if (tok_is(&t[0], "mirror"))
			return dir_url(p, t, n, 1);
		if (tok_is(&t[0], "key"))
			return dir_key(p, t, n, 0);
		if (tok_is(&t[0], "witness"))
			return dir_key(p, t, n, 1);
		if (tok_is(&t[0], "watch"))
			return dir_watch(p, t, n);
		if (tok_is(&t[0], "peer"))
			return dir_peer(p, t, n);
		return dir_log_value(p, t, n);
	}
	return perr(p, p->line, KTA_ERR_MALFORMED, "unknown directive \"%s\"", q(&t[0], qb));
}

/*
 * Splits one line (without "\n") into tokens. Rejects control characters
 * other than tab and invalid UTF-8; a token starting with '#' ends the line.
 */
static enum kta_status tokenize(struct parser *p, const char *s, size_t len, struct tok *t,
				size_t *nt)
{
	size_t i = 0, n = 0;

	if (!kta_utf8_valid((const uint8_t *)s, len))
		return perr(p, p->line, KTA_ERR_MALFORMED, "not valid UTF-8");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "carriage return (\\r) at column %zu: use Unix line endings",
				    i + 1);
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return perr(p, p->line, KTA_ERR_MALFORMED,
				    "control character 0x%02x at column %zu", (unsigned)c, i + 1);
	}
	i = 0;
	for (;;) {
		size_t start;

		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len || s[i] == '#')
			break;
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		if (n >= KTA_CONFIG_TOKENS_MAX)
			return perr(p, p->line, KTA_ERR_LIMIT, "more than %d words on one line",
				    KTA_CONFIG_TOKENS_MAX);
		t[n].p = s + start;
		t[n].n = i - start;
		n++;
	}
	*nt = n;
	return KTA_OK;
}

void kta_config_free(struct kta_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->evidence_dir);
	free(cfg->heartbeat);
	argv_free(cfg->heartbeat_exec);
	free(cfg->metrics);
	free(cfg->witness_key);
	free(cfg->publish_dir);
	for (i = 0; i < cfg->nsinks; i++)
		sink_free_fields(&cfg->sinks[i]);
	free(cfg->sinks);
	for (i = 0; i < cfg->nlogs; i++)
		log_free_fields(&cfg->logs[i]);
	free(cfg->logs);
	for (i = 0; i < cfg->nctlogs; i++)
		ctlog_free_fields(&cfg->ctlogs[i]);
	free(cfg->ctlogs);
	free(cfg);
}

enum kta_status kta_config_parse(const uint8_t *buf, size_t len, const char *filename,
				 struct kta_config **out, struct kta_error *err)
{
	struct tok *t = NULL;
	struct parser p;
	enum kta_status r = KTA_ERR_MALFORMED;
	size_t pos = 0, nt = 0, last = 0;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.file = filename != NULL ? filename : "(config)";
	p.err = err;
	if (len > KTA_CONFIG_MAX_SIZE)
		return kta_error_set(err, KTA_ERR_LIMIT, "%s: larger than the limit of %zu bytes",
				     p.file, KTA_CONFIG_MAX_SIZE);
	if ((p.cfg = calloc(1, sizeof(*p.cfg))) == NULL || (p.cfg->path = strdup(p.file)) == NULL ||
	    (t = calloc(KTA_CONFIG_TOKENS_MAX, sizeof(*t))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", p.file);
		goto out;
	}
	p.cfg->index_cache = KTA_CONFIG_DEFAULT_INDEX_CACHE;
	p.cfg->commit_every = KTA_CONFIG_DEFAULT_COMMIT_EVERY;
	while (pos < len) {
		const char *line = (const char *)buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - line) : len - pos;

		p.line++;
		pos += ll + (nl != NULL ? 1 : 0);
		if (ll > KTA_CONFIG_LINE_MAX) {
			r = perr(&p, p.line, KTA_ERR_LIMIT, "line longer than %zu bytes",
				 KTA_CONFIG_LINE_MAX);
			goto out;
		}
		if ((r = tokenize(&p, line, ll, t, &nt)) != KTA_OK)
			goto out;
		if (nt == 0)
			continue;
		if ((r = directive(&p, t, nt)) != KTA_OK)
			goto out;
	}
	last = p.line > 0 ? p.line : 1;
	p.line = last;
	if ((r = finish_section(&p)) != KTA_OK)
		goto out;
	if (p.cfg->state_dir == NULL) {
		r = perr(&p, last, KTA_ERR_MALFORMED, "missing 'state_dir'");
		goto out;
	}
	if (p.cfg->nlogs == 0 && p.cfg->nctlogs == 0) {
		r = perr(&p, last, KTA_ERR_MALFORMED, "no 'log' section");
		goto out;
	}
	if (p.cfg->evidence_dir == NULL) {
		const char *sd = p.cfg->state_dir;
		size_t sl = strlen(sd);
		int slash = sl > 0 && sd[sl - 1] == '/';

		if ((p.cfg->evidence_dir = malloc(sl + sizeof("/evidence"))) == NULL) {
			r = nomem(&p);
			goto out;
		}
		memcpy(p.cfg->evidence_dir, sd, sl);
		memcpy(p.cfg->evidence_dir + sl, &"/evidence"[slash],
		       sizeof("/evidence") - (size_t)slash);
	}
	*out = p.cfg;
	p.cfg = NULL;
	r = KTA_OK;
out:
	free(t);
	kta_config_free(p.cfg);
	return r;
}

enum kta_status kta_config_load(const char *path, struct kta_config **out, struct kta_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	enum kta_status r;

	*out = NULL;
	if ((r = kta_file_read(path, KTA_CONFIG_MAX_SIZE, &buf, &len, err)) != KTA_OK)
		return r;
	r = kta_config_parse(buf, len, path, out, err);
	free(buf);
	return r;
}
