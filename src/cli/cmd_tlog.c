/*
 * `ktaudit verify lookup` and `ktaudit verify tiles`: the tlog-tiles client
 * (tlog.h) and lookup answers (lookup.h) from the command line.
 *
 * Where `verify lookup` reads its answer:
 *   FILE or "-"       a saved answer (no network)
 *   URL               https://, http:// or file:// URL of the answer itself
 *   DIR_URL/          a directory's base URL (ending in '/') with --label L:
 *                     the answer is DIR_URL/lookup/<name>, where <name> is L
 *                     percent-encoded as a lookup file name
 *                     (kta_entry_label_encode) and then escaped for the URL
 *                     ('%' -> "%25"), so that a static server, which decodes
 *                     the path once, opens the file named <name>.
 * A URL may only use its own scheme (a file:// fetch happens only for a
 * file:// argument, redirects never change the scheme); --ca-file applies
 * to https:// only. --timeout S bounds each fetch attempt, the low-speed
 * cut and a server's Retry-After to S seconds (three retries, fetch.h), so
 * a hanging or stalling server costs at most about 4 * S + 4 seconds.
 */
#include "cmd_tlog.h"
#include "cmd_monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/fetch.h"
#include "ktaudit/key.h"
#include "ktaudit/lookup.h"
#include "ktaudit/tile.h"
#include "ktaudit/tlog.h"

/* Cosignature timestamps up to this far in the future are tolerated (clock skew). */
#define CLI_MAX_SKEW 300
/* Largest --timeout (seconds): an hour per attempt. */
#define CLI_TIMEOUT_MAX 3600u

const struct cli_opt opts_verify_lookup[] = {
    {"log-key", CLI_ONE, "VKEY", "the directory log's verifier key (name+id+base64)"},
    {"label", CLI_ONE, "LABEL",
     "the label asked for; with DIR_URL/, fetch DIR_URL/lookup/<LABEL percent-encoded>"},
    {"origin", CLI_ONE, "ORIGIN", "expected origin line (default: the log key's name)"},
    {"witness", CLI_MANY, "VKEY", "a witness verifier key (cosignature/v1); repeatable"},
    {"quorum", CLI_ONE, "K", "valid witness cosignatures required (default: all listed)"},
    {"ca-file", CLI_ONE, "FILE", "PEM trust store for https:// (replaces the system store)"},
    {"timeout", CLI_ONE, "SECONDS",
     "give up on an object after SECONDS per attempt, 3 retries (default: 120)"},
    {"config", CLI_ONE, "FILE",
     "also check the answer against this monitor's audit: its tree (split views, with "
     "evidence) and the label's latest entry (stale answers)"},
    {"log", CLI_ONE, "NAME",
     "with --config: the log (section name); needed when there are several"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_verify_tiles[] = {
    {"log-key", CLI_ONE, "VKEY", "the log's verifier key (name+id+base64)"},
    {"origin", CLI_ONE, "ORIGIN", "expected origin line (default: the log key's name)"},
    {"witness", CLI_MANY, "VKEY", "a witness verifier key (cosignature/v1); repeatable"},
    {"quorum", CLI_ONE, "K", "valid witness cosignatures required (default: all listed)"},
    {"ca-file", CLI_ONE, "FILE", "PEM trust store for https:// (replaces the system store)"},
    {"timeout", CLI_ONE, "SECONDS",
     "give up on an object after SECONDS per attempt, 3 retries (default: 120)"},
    {NULL, CLI_FLAG, NULL, NULL},
};

/* The verifier keys and checkpoint policy given on the command line. */
struct policy_args {
	struct kta_vkey *log_key;
	struct kta_vkey *wit[CLI_MAX_VALUES];
	size_t nwit;
	struct kta_checkpoint_policy p;
};

static void policy_free(struct policy_args *pa)
{
	size_t i;

	kta_vkey_free(pa->log_key);
	for (i = 0; i < pa->nwit; i++)
		kta_vkey_free(pa->wit[i]);
	memset(pa, 0, sizeof(*pa));
}

/* Parses a --log-key/--witness value; names the option in errors. */
static enum kta_status parse_vkey(const char *opt, const char *s, struct kta_vkey **out,
				  struct kta_error *err)
{
	if (kta_vkey_parse(s, strlen(s), out, err) != KTA_OK)
		return kta_error_prefix(err, "--%s", opt);
	return KTA_OK;
}

/* --log-key (required), --origin, --witness..., --quorum (default: all witnesses). */
static enum kta_status policy_load(const struct cli_args *a, struct policy_args *pa,
				   struct kta_error *err)
{
	size_t nw = cli_count(a, "witness"), i;
	enum kta_status r = KTA_ERR_INTERNAL;
	uint64_t q;

	memset(pa, 0, sizeof(*pa));
	if (cli_get(a, "log-key") == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "%s: --log-key is required", a->cmd->name);
	if ((r = parse_vkey("log-key", cli_get(a, "log-key"), &pa->log_key, err)) != KTA_OK)
		return r;
	for (i = 0; i < nw; i++) {
		if ((r = parse_vkey("witness", cli_get_n(a, "witness", i), &pa->wit[i], err)) !=
		    KTA_OK)
			return r;
		pa->nwit++;
	}
	pa->p.log_key = pa->log_key;
	pa->p.origin = cli_get(a, "origin");
	pa->p.witnesses = (const struct kta_vkey *const *)pa->wit;
	pa->p.nwitnesses = nw;
	pa->p.quorum = nw;
	if (cli_get(a, "quorum") != NULL) {
		if ((r = cli_get_u64(a, "quorum", &q, err)) != KTA_OK)
			return r;
		if (q > nw)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "--quorum %llu is more than the %zu witnesses given",
					     (unsigned long long)q, nw);
		pa->p.quorum = (size_t)q;
	}
	pa->p.now = (int64_t)time(NULL);
	pa->p.max_skew = CLI_MAX_SKEW;
	return KTA_OK;
}

/* The scheme of a URL argument ("https", "http", "file"), or NULL for a path. */
static const char *url_scheme(const char *s)
{
	if (strncmp(s, "https://", 8) == 0)
		return "https";
	if (strncmp(s, "http://", 7) == 0)
		return "http";
	if (strncmp(s, "file://", 7) == 0)
		return "file";
	return NULL;
}

/* A fetcher allowing only `scheme`, with --ca-file and per-object limit max_size. */
static enum kta_status make_fetcher(const struct cli_args *a, const char *scheme, size_t max_size,
				    struct kta_fetcher **f, struct kta_error *err)
{
	struct kta_fetch_opts o;

	*f = NULL;
	if (cli_get(a, "ca-file") != NULL && strcmp(scheme, "https") != 0)
		return kta_error_set(err, KTA_ERR_USAGE, "--ca-file applies to https:// URLs only");
	kta_fetch_opts_init(&o);
	o.schemes = scheme;
	o.ca_file = cli_get(a, "ca-file");
	o.max_size = max_size;
	if (cli_get(a, "timeout") != NULL) {
		enum kta_status r;
		uint64_t t;

		if ((r = cli_get_u64(a, "timeout", &t, err)) != KTA_OK)
			return r;
		if (t < 1 || t > CLI_TIMEOUT_MAX)
			return kta_error_set(err, KTA_ERR_USAGE, "--timeout must be 1..%u seconds",
					     CLI_TIMEOUT_MAX);
		/*
		 * One bound for everything a server controls: a hanging or
		 * trickling server and its Retry-After all end within it.
		 */
		o.timeout_ms = (long)t * 1000;
		if (o.connect_timeout_ms > o.timeout_ms)
			o.connect_timeout_ms = o.timeout_ms;
		if (o.low_speed_time_s > (long)t)
			o.low_speed_time_s = (long)t;
		if (o.retry_after_max_s > (unsigned)t)
			o.retry_after_max_s = (unsigned)t;
	}
	return kta_fetcher_new(&o, f, err);
}

/*
 * The URL of the lookup answer for `label` below directory URL dir (ending in
 * '/'): dir + "lookup/" + the label's file name with '%' escaped as "%25".
 */
static enum kta_status lookup_url(const char *dir, const char *label, char **out,
				  struct kta_error *err)
{
	char name[KTA_LABEL_ENCODED_MAX + 1];
	size_t nlen, dlen = strlen(dir), i, pos;
	char *u;

	*out = NULL;
	if (kta_entry_label_encode(label, strlen(label), name, &nlen, err) != KTA_OK)
		return kta_error_prefix(err, "--label");
	/* At most 3 bytes per byte of the name ("%" -> "%25"). */
	if ((u = malloc(dlen + 7 + 3 * nlen + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	memcpy(u, dir, dlen);
	memcpy(u + dlen, "lookup/", 7);
	pos = dlen + 7;
	for (i = 0; i < nlen; i++) {
		if (name[i] == '%') {
			memcpy(u + pos, "%25", 3);
			pos += 3;
		} else {
			u[pos++] = name[i];
		}
	}
	u[pos] = '\0';
	*out = u;
	return KTA_OK;
}

/* Reads the answer from a file, a URL or a directory URL (see the top comment). */
static enum kta_status load_answer(const struct cli_args *a, const char *src, uint8_t **buf,
				   size_t *len, char **where, struct kta_error *err)
{
	const char *scheme = url_scheme(src), *label = cli_get(a, "label");
	struct kta_fetcher *f = NULL;
	char *url = NULL;
	size_t n = strlen(src);
	enum kta_status r = KTA_ERR_INTERNAL;

	*buf = NULL;
	*where = NULL;
	if (scheme == NULL) {
		if (cli_get(a, "ca-file") != NULL)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "--ca-file applies to https:// URLs only");
		if ((r = cli_read_file("answer", src, KTA_LOOKUP_MAX_SIZE, buf, len, err)) !=
		    KTA_OK)
			return r;
		if ((*where = strdup(src)) == NULL) {
			free(*buf);
			*buf = NULL;
			return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
		}
		return KTA_OK;
	}
	if (n > 0 && src[n - 1] == '/') {
		if (label == NULL)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "verify lookup: a directory URL (ending in '/') needs "
					     "--label");
		if ((r = lookup_url(src, label, &url, err)) != KTA_OK)
			return r;
	} else if ((url = strdup(src)) == NULL) {
		return kta_error_set(err, KTA_ERR_NOMEM, "out of memory");
	}
	if ((r = make_fetcher(a, scheme, KTA_LOOKUP_MAX_SIZE, &f, err)) != KTA_OK)
		goto out;
	r = kta_fetch_get(f, url, buf, len, NULL, err);
out:
	kta_fetcher_free(f);
	if (r == KTA_OK)
		*where = url;
	else
		free(url);
	return r;
}

/* "OK: ..." followed by label, version, time and one line per key. */
/* au: the audit the answer was also checked against, or NULL. */
static char *lookup_text(const struct kta_lookup_result *res, const struct cli_audit *au)
{
	const struct kta_entry *e = res->entry;
	size_t cap = 512 + 3 * strlen(e->label) + strlen(res->cp.cp->origin), used = 0, i;
	char *s, when[128] = "";
	int w;

	/* how fresh the audit is: a stopped monitor vouches for an old view */
	if (au != NULL) {
		char ts[32] = "?";
		time_t t = (time_t)au->at;
		struct tm tmv;

		if (gmtime_r(&t, &tmv) != NULL)
			(void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tmv);
		(void)snprintf(when, sizeof(when), "verified up to size %llu, stored %s",
			       (unsigned long long)au->size, ts);
	}
	for (i = 0; i < e->nkeys; i++)
		cap += 96 + strlen(e->keys[i].device);
	if ((s = malloc(cap)) == NULL)
		return NULL;
	w = snprintf(s, cap,
		     "OK: %s version %llu is leaf %llu of %s size %llu%s%s\nlabel %s\nversion "
		     "%llu\ntime %llu",
		     e->label, (unsigned long long)e->version, (unsigned long long)res->leaf_index,
		     res->cp.cp->origin, (unsigned long long)res->cp.cp->size,
		     au != NULL ? ", and its latest entry in the monitor's audit: " : "", when,
		     e->label, (unsigned long long)e->version, (unsigned long long)e->time);
	if (w < 0 || (size_t)w >= cap)
		goto fail;
	used = (size_t)w;
	for (i = 0; i < e->nkeys; i++) {
		char b64[KTA_B64_ENCODED_LEN(32) + 1];

		kta_b64_encode(e->keys[i].pub, 32, b64);
		w = snprintf(s + used, cap - used, "\nkey %s %s %s",
			     kta_entry_alg_name(e->keys[i].alg), b64, e->keys[i].device);
		if (w < 0 || (size_t)w >= cap - used)
			goto fail;
		used += (size_t)w;
	}
	return s;
fail:
	free(s);
	return NULL;
}

static json_t *lookup_json(const struct kta_lookup_result *res)
{
	const struct kta_entry *e = res->entry;
	char b64[KTA_B64_ENCODED_LEN(32) + 1];
	json_t *j = json_object(), *keys = json_array();
	size_t i;

	for (i = 0; i < e->nkeys; i++) {
		kta_b64_encode(e->keys[i].pub, 32, b64);
		json_array_append_new(keys, json_pack("{s:s,s:s,s:s}", "alg",
						      kta_entry_alg_name(e->keys[i].alg), "key",
						      b64, "device", e->keys[i].device));
	}
	kta_b64_encode(res->cp.cp->root, 32, b64);
	json_object_set_new(j, "label", json_string(e->label));
	json_object_set_new(j, "version", json_integer((json_int_t)e->version));
	json_object_set_new(j, "time", json_integer((json_int_t)e->time));
	json_object_set_new(j, "keys", keys);
	json_object_set_new(j, "leaf_index", json_integer((json_int_t)res->leaf_index));
	json_object_set_new(j, "size", json_integer((json_int_t)res->cp.cp->size));
	json_object_set_new(j, "origin", json_string(res->cp.cp->origin));
	json_object_set_new(j, "root", json_string(b64));
	return j;
}

int cmd_verify_lookup(const struct cli_args *a)
{
	struct policy_args pa;
	struct kta_lookup *l = NULL;
	struct kta_lookup_result res;
	const char *label = cli_get(a, "label");
	uint8_t *buf = NULL;
	size_t len = 0;
	char *where = NULL, *text = NULL;
	struct kta_error err;
	enum kta_status r = KTA_ERR_INTERNAL;
	json_t *j = NULL;
	struct cli_audit au;
	const char *config = cli_get(a, "config");
	int rc;

	kta_error_clear(&err);
	memset(&res, 0, sizeof(res));
	memset(&pa, 0, sizeof(pa));
	if (config == NULL && cli_get(a, "log") != NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "verify lookup: --log needs --config");
		goto out;
	}
	if ((r = policy_load(a, &pa, &err)) != KTA_OK)
		goto out;
	if ((r = load_answer(a, a->pos[0], &buf, &len, &where, &err)) != KTA_OK)
		goto out;
	if ((r = kta_lookup_parse(buf, len, &l, &err)) != KTA_OK) {
		(void)kta_error_prefix(&err, "%s", where);
		goto out;
	}
	r = kta_lookup_verify(l, &pa.p, label, label != NULL ? strlen(label) : 0, &res, &err);
	if (r != KTA_OK) {
		(void)kta_error_prefix(&err, "%s", where);
		goto out;
	}
	if (config != NULL) {
		if ((r = cli_lookup_audit(a, where, l, &res, pa.log_key, &au, &err)) != KTA_OK) {
			if (au.evidence[0] != '\0')
				j = json_pack("{s:s}", "evidence", au.evidence);
			goto out;
		}
	}
	if ((text = lookup_text(&res, config != NULL ? &au : NULL)) == NULL) {
		r = kta_error_set(&err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	j = lookup_json(&res);
	if (j != NULL && config != NULL) {
		json_object_set_new(j, "latest", json_true());
		json_object_set_new(j, "audited_size", json_integer((json_int_t)au.size));
		json_object_set_new(j, "audited_at", json_integer((json_int_t)au.at));
	}
out:
	rc = cli_finish(a, r, &err, text, j);
	free(text);
	free(where);
	free(buf);
	kta_lookup_free(l);
	kta_lookup_result_free(&res);
	policy_free(&pa);
	return rc;
}

int cmd_verify_tiles(const struct cli_args *a)
{
	const char *url = a->pos[0], *scheme = url_scheme(a->pos[0]);
	struct policy_args pa;
	struct kta_fetcher *f = NULL;
	struct kta_tlog *c = NULL;
	struct kta_checkpoint_result res;
	struct kta_tlog_audit st;
	char line[512], b64[KTA_B64_ENCODED_LEN(32) + 1];
	struct kta_error err;
	enum kta_status r = KTA_ERR_INTERNAL;
	json_t *j = NULL;

	kta_error_clear(&err);
	memset(&res, 0, sizeof(res));
	line[0] = '\0';
	if ((r = policy_load(a, &pa, &err)) != KTA_OK)
		goto out;
	if (scheme == NULL) {
		char q[4 * 80 + 4];

		r = kta_error_set(&err, KTA_ERR_USAGE,
				  "verify tiles: \"%s\" is not an https://, http:// or file:// URL",
				  kta_quote((const uint8_t *)url, strlen(url), 80, q));
		goto out;
	}
	/* Any bundle must fit: 256 entries of up to 65535 bytes with their lengths. */
	if ((r = make_fetcher(a, scheme, KTA_TILE_BUNDLE_MAX, &f, &err)) != KTA_OK)
		goto out;
	if ((r = kta_tlog_new(f, url, NULL, &c, &err)) != KTA_OK)
		goto out;
	if ((r = kta_tlog_fetch_checkpoint(c, &pa.p, &res, NULL, NULL, &err)) != KTA_OK)
		goto out;
	kta_tlog_set_tree(c, res.cp->size, res.cp->root);
	if ((r = kta_tlog_audit(c, NULL, NULL, &st, &err)) != KTA_OK)
		goto out;
	kta_b64_encode(res.cp->root, 32, b64);
	j = json_object();
	json_object_set_new(j, "origin", json_string(res.cp->origin));
	json_object_set_new(j, "size", json_integer((json_int_t)res.cp->size));
	json_object_set_new(j, "root", json_string(b64));
	json_object_set_new(j, "entries", json_integer((json_int_t)st.entries));
	json_object_set_new(j, "bundles", json_integer((json_int_t)st.bundles));
	json_object_set_new(j, "tiles", json_integer((json_int_t)st.tiles));
	json_object_set_new(j, "witnesses", json_integer((json_int_t)res.cosigned));
	(void)snprintf(
	    line, sizeof(line),
	    "OK: %s size %llu: %llu entries in %llu bundles and %llu hash tiles match the "
	    "signed root",
	    res.cp->origin, (unsigned long long)res.cp->size, (unsigned long long)st.entries,
	    (unsigned long long)st.bundles, (unsigned long long)st.tiles);
out:
	kta_checkpoint_result_free(&res);
	kta_tlog_free(c);
	kta_fetcher_free(f);
	policy_free(&pa);
	return cli_finish(a, r, &err, line, j);
}
