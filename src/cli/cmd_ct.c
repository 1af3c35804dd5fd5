/*
 * Certificate Transparency commands: `verify sth` (a saved get-sth
 * response), `ct replay` (a whole RFC 6962 log, no state) and `ct cycle`
 * (one monitoring cycle with SQLite state). See cmd_ct.h.
 */
#include "cmd_ct.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktaudit/compact.h"
#include "ktaudit/ct.h"
#include "ktaudit/ctmon.h"
#include "ktaudit/encoding.h"
#include "ktaudit/fetch.h"
#include "ktaudit/file.h"
#include "ktaudit/hash.h"
#include "ktaudit/state.h"

/* Most --domain options, and approved keys per domain. */
#define CT_MAX_DOMAINS CLI_MAX_VALUES
#define CT_MAX_APPROVED 16

const struct cli_opt opts_verify_sth[] = {
    {"log-key", CLI_ONE, "KEY", "the log's public key: a PEM file, or base64 DER"},
    {"log-id", CLI_ONE, "ID", "expected log ID (base64 or hex SHA-256 of the key)"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_ct_replay[] = {
    {"log-key", CLI_ONE, "KEY", "the log's public key: a PEM file, or base64 DER"},
    {"log-id", CLI_ONE, "ID", "expected log ID (base64 or hex SHA-256 of the key)"},
    {"domain", CLI_MANY, "DOMAIN[=SPKI,...]",
     "watch a domain (.example.org: its subdomains), with approved SPKI SHA-256 hashes"},
    {"batch", CLI_ONE, "N", "entries per get-entries request (default 256)"},
    {"ca-file", CLI_ONE, "FILE", "PEM CA bundle for an https:// log"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_ct_cycle[] = {
    {"log-key", CLI_ONE, "KEY", "the log's public key: a PEM file, or base64 DER"},
    {"log-id", CLI_ONE, "ID", "expected log ID (base64 or hex SHA-256 of the key)"},
    {"state", CLI_ONE, "DIR", "state directory (state.db)"},
    {"name", CLI_ONE, "NAME", "the log's name in the state and alerts (default: the URL)"},
    {"domain", CLI_MANY, "DOMAIN[=SPKI,...]",
     "watch a domain (.example.org: its subdomains), with approved SPKI SHA-256 hashes"},
    {"batch", CLI_ONE, "N", "entries per get-entries request (default 256)"},
    {"max-entries", CLI_ONE, "N", "replay at most N entries this cycle (default: all)"},
    {"ca-file", CLI_ONE, "FILE", "PEM CA bundle for an https:// log"},
    {NULL, CLI_FLAG, NULL, NULL},
};

struct domains {
	struct kta_ctmon_watch w[CT_MAX_DOMAINS];
	uint8_t keys[CT_MAX_DOMAINS][CT_MAX_APPROVED][32];
	char names[CT_MAX_DOMAINS][KTA_CT_NAME_MAX + 2];
	size_t n;
};

enum kta_status cli_ct_key_load(const char *v, struct kta_ct_key **k, struct kta_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	enum kta_status r;

	*k = NULL;
	if (kta_ct_key_parse((const uint8_t *)v, strlen(v), 0, k, NULL) == KTA_OK)
		return KTA_OK;
	if ((r = kta_file_read(v, KTA_CT_KEY_INPUT_MAX, &buf, &len, err)) == KTA_OK)
		r = kta_ct_key_parse(buf, len, 0, k, err);
	free(buf);
	if (r != KTA_OK)
		return kta_error_prefix(err, "--log-key");
	return KTA_OK;
}

/* Loads --log-key and checks --log-id against it. */
static enum kta_status load_key(const struct cli_args *a, struct kta_ct_key **k,
				struct kta_error *err)
{
	const char *v = cli_get(a, "log-key");
	enum kta_status r;

	*k = NULL;
	if (v == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "--log-key is required");
	if ((r = cli_ct_key_load(v, k, err)) != KTA_OK)
		return r;
	if (cli_get(a, "log-id") != NULL &&
	    (r = kta_ct_key_check_log_id(*k, cli_get(a, "log-id"), err)) != KTA_OK) {
		kta_ct_key_free(*k);
		*k = NULL;
		return kta_error_prefix(err, "--log-key");
	}
	return KTA_OK;
}

/* Parses the --domain options: DOMAIN or DOMAIN=HEX[,HEX...]. */
static enum kta_status load_domains(const struct cli_args *a, struct domains *d,
				    struct kta_error *err)
{
	size_t i, n = cli_count(a, "domain"), k;

	d->n = 0;
	for (i = 0; i < n; i++) {
		const char *v = cli_get_n(a, "domain", i), *eq = strchr(v, '='), *p;
		size_t dl = eq != NULL ? (size_t)(eq - v) : strlen(v), j;
		char q[4 * 80 + 4];

		if (dl == 0 || dl > KTA_CT_NAME_MAX + 1 || (v[0] == '.' && dl == 1))
			return kta_error_set(err, KTA_ERR_USAGE, "--domain \"%s\": bad domain",
					     kta_quote((const uint8_t *)v, strlen(v), 80, q));
		for (j = 0; j < dl; j++)
			if (v[j] <= 0x20 || v[j] >= 0x7f || v[j] == '=' || v[j] == ',')
				return kta_error_set(
				    err, KTA_ERR_USAGE, "--domain \"%s\": bad character at %zu",
				    kta_quote((const uint8_t *)v, strlen(v), 80, q), j);
		memcpy(d->names[d->n], v, dl);
		d->names[d->n][dl] = '\0';
		k = 0;
		for (p = eq; p != NULL;) {
			const char *s = p + 1, *c = strchr(s, ',');
			size_t sl = c != NULL ? (size_t)(c - s) : strlen(s);

			if (k == CT_MAX_APPROVED)
				return kta_error_set(err, KTA_ERR_USAGE,
						     "--domain: more than %d approved keys",
						     CT_MAX_APPROVED);
			if (kta_parse_hash(s, sl, d->keys[d->n][k], "--domain approved key", err) !=
			    KTA_OK)
				return KTA_ERR_USAGE;
			k++;
			p = c;
		}
		d->w[d->n].domain = d->names[d->n];
		d->w[d->n].approved = (const uint8_t(*)[32])d->keys[d->n];
		d->w[d->n].napproved = k;
		d->n++;
	}
	return KTA_OK;
}

static enum kta_status get_count(const struct cli_args *a, const char *name, uint64_t def,
				 uint64_t min, uint64_t max, uint64_t *out, struct kta_error *err)
{
	enum kta_status r;

	*out = def;
	if (cli_get(a, name) == NULL)
		return KTA_OK;
	if ((r = cli_get_u64(a, name, out, err)) != KTA_OK)
		return r;
	if (*out < min || *out > max)
		return kta_error_set(err, KTA_ERR_USAGE, "--%s %llu not in %llu..%llu", name,
				     (unsigned long long)*out, (unsigned long long)min,
				     (unsigned long long)max);
	return KTA_OK;
}

static enum kta_status make_fetcher(const struct cli_args *a, const char *url,
				    struct kta_fetcher **f, struct kta_error *err)
{
	struct kta_fetch_opts o;
	const char *scheme;

	*f = NULL;
	if (strncmp(url, "https://", 8) == 0)
		scheme = "https";
	else if (strncmp(url, "http://", 7) == 0)
		scheme = "http";
	else if (strncmp(url, "file://", 7) == 0)
		scheme = "file";
	else
		return kta_error_set(err, KTA_ERR_USAGE,
				     "\"%s\" is not an https://, http:// or file:// URL", url);
	if (cli_get(a, "ca-file") != NULL && strcmp(scheme, "https") != 0)
		return kta_error_set(err, KTA_ERR_USAGE, "--ca-file applies to https:// URLs only");
	kta_fetch_opts_init(&o);
	o.schemes = scheme;
	o.ca_file = cli_get(a, "ca-file");
	o.max_size = KTA_CT_ENTRIES_BODY_MAX;
	return kta_fetcher_new(&o, f, err);
}

static void print_report(const struct kta_ctmon_report *rep)
{
	char spki[65];
	size_t i;

	kta_hex_encode(rep->cert->spki_sha256, 32, spki);
	printf("CERT %s entry %llu %s key %s %s\n  issuer %s\n  serial %s valid %lld..%lld\n  "
	       "names",
	       rep->domain, (unsigned long long)rep->leaf_index,
	       rep->type == KTA_CT_PRECERT_ENTRY ? "precert" : "x509", spki,
	       rep->approved ? "approved" : "UNAPPROVED", rep->cert->issuer, rep->cert->serial,
	       (long long)rep->cert->not_before, (long long)rep->cert->not_after);
	for (i = 0; i < rep->cert->nnames; i++)
		printf(" %s", rep->cert->names[i]);
	printf("\n");
}

struct report_ctx {
	int json;
	uint64_t unapproved;
};

static enum kta_status on_report(void *vctx, const struct kta_ctmon_report *rep,
				 struct kta_error *err)
{
	struct report_ctx *rc = vctx;

	(void)err;
	if (!rep->approved)
		rc->unapproved++;
	if (!rc->json)
		print_report(rep);
	return KTA_OK;
}

int cmd_verify_sth(const struct cli_args *a)
{
	struct kta_ct_key *k = NULL;
	struct kta_ct_sth s;
	struct kta_error err;
	uint8_t *buf = NULL, id[32];
	size_t len = 0;
	char line[256], b64[KTA_B64_ENCODED_LEN(32) + 1], idb[KTA_B64_ENCODED_LEN(32) + 1];
	json_t *j = NULL;
	enum kta_status r;

	kta_error_clear(&err);
	line[0] = '\0';
	if ((r = load_key(a, &k, &err)) != KTA_OK ||
	    (r = cli_read_file("sth", a->pos[0], KTA_CT_STH_MAX, &buf, &len, &err)) != KTA_OK)
		goto out;
	if ((r = kta_ct_sth_parse(buf, len, &s, &err)) != KTA_OK) {
		kta_error_prefix(&err, "%s", a->pos[0]);
		goto out;
	}
	if ((r = kta_ct_sth_verify(k, &s, &err)) != KTA_OK) {
		kta_error_prefix(&err, "%s", a->pos[0]);
		goto out;
	}
	kta_b64_encode(s.root, 32, b64);
	kta_ct_key_log_id(k, id);
	kta_b64_encode(id, 32, idb);
	snprintf(line, sizeof(line), "OK: STH size %llu timestamp %llu root %s log ID %s",
		 (unsigned long long)s.tree_size, (unsigned long long)s.timestamp, b64, idb);
	j = json_pack("{sIsIssss}", "size", (json_int_t)s.tree_size, "timestamp",
		      (json_int_t)s.timestamp, "root", b64, "log_id", idb);
out:
	free(buf);
	kta_ct_key_free(k);
	return cli_finish(a, r, &err, line, j);
}

int cmd_ct_replay(const struct cli_args *a)
{
	const char *url = a->pos[0];
	struct kta_ct_key *k = NULL;
	struct kta_fetcher *f = NULL;
	struct kta_ct_client *c = NULL;
	struct kta_hasher *h = NULL;
	struct kta_compact_range *cr = NULL;
	struct domains *d = NULL;
	struct kta_ct_sth s;
	struct report_ctx rc = {a->json, 0};
	struct kta_error err;
	uint64_t batch;
	struct kta_ctmon_replay_stats rs;
	uint8_t root[32];
	char line[512], b64[KTA_B64_ENCODED_LEN(32) + 1];
	json_t *j = NULL;
	enum kta_status r;

	kta_error_clear(&err);
	line[0] = '\0';
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		r = kta_error_set(&err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = load_key(a, &k, &err)) != KTA_OK || (r = load_domains(a, d, &err)) != KTA_OK ||
	    (r = get_count(a, "batch", 256, 1, KTA_CT_MAX_BATCH, &batch, &err)) != KTA_OK ||
	    (r = make_fetcher(a, url, &f, &err)) != KTA_OK ||
	    (r = kta_ct_client_new(f, url, (unsigned)batch, &c, &err)) != KTA_OK ||
	    (r = kta_hasher_new(&h, &err)) != KTA_OK ||
	    (r = kta_compact_range_new(&cr, &err)) != KTA_OK)
		goto out;
	if ((r = kta_ct_get_sth(c, &s, NULL, NULL, &err)) != KTA_OK ||
	    (r = kta_ct_sth_verify(k, &s, &err)) != KTA_OK)
		goto out;
	if ((r = kta_ctmon_replay(c, h, cr, 0, s.tree_size, url, d->w, d->n, on_report, &rc, &rs,
				  &err)) != KTA_OK ||
	    (r = kta_compact_range_root(cr, h, root, &err)) != KTA_OK)
		goto out;
	if (!kta_ct_equal(root, s.root, 32)) {
		r = kta_error_set(&err, KTA_ERR_VERIFY,
				  "%s: the %llu entries served do not hash to the signed root", url,
				  (unsigned long long)s.tree_size);
		goto out;
	}
	kta_b64_encode(s.root, 32, b64);
	if (rs.malformed > 0) {
		r = kta_error_set(&err, KTA_ERR_VERIFY,
				  "%llu signed entries do not parse; the first, entry %llu: %s",
				  (unsigned long long)rs.malformed,
				  (unsigned long long)rs.first_malformed, rs.malformed_msg);
		goto out;
	}
	if (rc.unapproved > 0) {
		r = kta_error_set(&err, KTA_ERR_VERIFY,
				  "%llu certificate(s) for watched domains with unapproved keys",
				  (unsigned long long)rc.unapproved);
		goto out;
	}
	snprintf(line, sizeof(line),
		 "OK: %llu entries hash to the signed root %s; %llu certificate(s) for watched "
		 "domains, all with approved keys",
		 (unsigned long long)s.tree_size, b64, (unsigned long long)rs.matches);
	j = json_pack("{sIsssI}", "size", (json_int_t)s.tree_size, "root", b64, "matches",
		      (json_int_t)rs.matches);
out:
	kta_compact_range_free(cr);
	kta_hasher_free(h);
	kta_ct_client_free(c);
	kta_fetcher_free(f);
	kta_ct_key_free(k);
	free(d);
	return cli_finish(a, r, &err, line, j);
}

int cmd_ct_cycle(const struct cli_args *a)
{
	const char *url = a->pos[0], *dir = cli_get(a, "state");
	struct kta_ct_key *k = NULL;
	struct kta_fetcher *f = NULL;
	struct kta_state *st = NULL;
	struct domains *d = NULL;
	struct kta_ctmon_log lg;
	struct kta_ctmon_result res;
	struct report_ctx rc = {a->json, 0};
	struct kta_error err;
	uint64_t batch, max;
	char line[512], *evdir = NULL;
	json_t *j = NULL;
	enum kta_status r;
	size_t n;

	kta_error_clear(&err);
	memset(&res, 0, sizeof(res));
	line[0] = '\0';
	if (dir == NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "--state is required");
		goto out;
	}
	/* Evidence goes where the monitor's default evidence_dir would put it. */
	n = strlen(dir) + sizeof("/evidence");
	if ((evdir = malloc(n)) == NULL) {
		r = kta_error_set(&err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	(void)snprintf(evdir, n, "%s/evidence", dir);
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		r = kta_error_set(&err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = load_key(a, &k, &err)) != KTA_OK || (r = load_domains(a, d, &err)) != KTA_OK ||
	    (r = get_count(a, "batch", 256, 1, KTA_CT_MAX_BATCH, &batch, &err)) != KTA_OK ||
	    (r = get_count(a, "max-entries", 0, 0, UINT64_MAX, &max, &err)) != KTA_OK ||
	    (r = make_fetcher(a, url, &f, &err)) != KTA_OK ||
	    (r = kta_state_open(dir, &st, &err)) != KTA_OK)
		goto out;
	memset(&lg, 0, sizeof(lg));
	lg.name = cli_get(a, "name") != NULL ? cli_get(a, "name") : url;
	lg.url = url;
	lg.key = k;
	lg.watches = d->w;
	lg.nwatches = d->n;
	lg.batch = (unsigned)batch;
	lg.max_entries = max;
	lg.evidence_dir = evdir;
	r = kta_ctmon_cycle(&lg, f, st, (int64_t)time(NULL), on_report, &rc, &res, &err);
	if (res.evidence_failed)
		fprintf(stderr, "ktaudit: warning: evidence not written: %s\n", res.evidence_msg);
	if (r == KTA_OK && res.alerts > 0) {
		r = kta_error_set(&err, KTA_ERR_VERIFY,
				  "%llu new alert(s): certificate(s) for watched domains with "
				  "unapproved keys, or signed entries that do not parse",
				  (unsigned long long)res.alerts);
		goto out;
	}
	if (r != KTA_OK)
		goto out;
	snprintf(line, sizeof(line),
		 "OK: %s verified head %llu; replayed %llu entries (%llu..%llu), %llu "
		 "certificate(s) for watched domains",
		 lg.name, (unsigned long long)res.sth_size, (unsigned long long)res.entries,
		 (unsigned long long)res.old_size, (unsigned long long)res.new_size,
		 (unsigned long long)res.matches);
	j = json_pack("{sIsIsIsIsI}", "sth_size", (json_int_t)res.sth_size, "old_size",
		      (json_int_t)res.old_size, "new_size", (json_int_t)res.new_size, "entries",
		      (json_int_t)res.entries, "matches", (json_int_t)res.matches);
out:
	kta_state_close(st);
	kta_fetcher_free(f);
	kta_ct_key_free(k);
	free(d);
	free(evdir);
	return cli_finish(a, r, &err, line, j);
}
