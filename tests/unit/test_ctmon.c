/*
 * Tests for ctmon.h: a cycle against the fake RFC 6962 log
 * (tests/tools/fake_ct_log.py, started here on loopback) serving the real
 * certificate of testdata/ct, with a log key made here.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktaudit/config.h"
#include "ktaudit/ct.h"
#include "ktaudit/ctevidence.h"
#include "ktaudit/ctmon.h"
#include "ktaudit/encoding.h"
#include "ktaudit/fetch.h"
#include "ktaudit/state.h"
#include "testutil.h"

extern char **environ;

struct fx {
	char dir[64];
	pid_t pid;
	char url[128];
	struct kta_ct_key *key;
	struct kta_fetcher *f;
	struct kta_state *st;
};

static void write_file(const char *path, const void *b, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void set_control(struct fx *x, const char *json)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/ctl.json", x->dir);
	write_file(p, json, strlen(json));
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	unsigned char *der = NULL;
	int dl;
	size_t len;
	uint8_t *leaf = tu_read_testdata("ct/real_leaf_input.bin", &len);
	char p[160], port[16] = {0}, certs[96], keyp[96], ctl[96], portf[96];
	FILE *fp;
	struct kta_fetch_opts o;
	struct kta_error err;
	int i;
	char *argv[] = {
	    "python3",         p,   "--certs",   certs, "--key",       keyp,  "--entries", "12",
	    "--precert-every", "5", "--control", ctl,   "--port-file", portf, NULL};

	strcpy(x->dir, "/tmp/kta-ctmon-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(certs, sizeof(certs), "%s/certs", x->dir);
	assert_int_equal(mkdir(certs, 0700), 0);
	snprintf(p, sizeof(p), "%s/a.der", certs);
	write_file(p, leaf + 15, len - 17); /* the x509_entry certificate */
	free(leaf);
	snprintf(keyp, sizeof(keyp), "%s/log.key", x->dir);
	fp = fopen(keyp, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	dl = i2d_PUBKEY(pk, &der);
	assert_true(dl > 0);
	assert_int_equal(kta_ct_key_parse(der, (size_t)dl, 1, &x->key, &err), KTA_OK);
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	snprintf(ctl, sizeof(ctl), "%s/ctl.json", x->dir);
	set_control(x, "{}");
	snprintf(portf, sizeof(portf), "%s/port", x->dir);
	snprintf(p, sizeof(p), "%s/tests/tools/fake_ct_log.py", KTA_SRCDIR);
	assert_int_equal(posix_spawnp(&x->pid, "python3", NULL, NULL, argv, environ), 0);
	for (i = 0; i < 200 && port[0] == '\0'; i++) {
		if ((fp = fopen(portf, "r")) != NULL) {
			if (fgets(port, sizeof(port), fp) == NULL)
				port[0] = '\0';
			fclose(fp);
		}
		if (port[0] == '\0')
			usleep(50000);
	}
	assert_true(port[0] != '\0');
	snprintf(x->url, sizeof(x->url), "http://127.0.0.1:%s/", port);
	kta_fetch_opts_init(&o);
	o.schemes = "http";
	o.max_size = KTA_CT_ENTRIES_BODY_MAX;
	assert_int_equal(kta_fetcher_new(&o, &x->f, &err), KTA_OK);
	snprintf(p, sizeof(p), "%s/state", x->dir);
	assert_int_equal(kta_state_open(p, &x->st, &err), KTA_OK);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	kill(x->pid, SIGTERM);
	waitpid(x->pid, NULL, 0);
	kta_state_close(x->st);
	kta_fetcher_free(x->f);
	kta_ct_key_free(x->key);
	if (tu_rm_tree(x->dir) != 0)
		return 1;
	free(x);
	return 0;
}

struct seen {
	size_t n, unapproved, precert;
	uint64_t first;
};

static enum kta_status on_rep(void *ctx, const struct kta_ctmon_report *rep, struct kta_error *err)
{
	struct seen *s = ctx;

	(void)err;
	if (s->n++ == 0)
		s->first = rep->leaf_index;
	s->unapproved += !rep->approved;
	s->precert += rep->type == KTA_CT_PRECERT_ENTRY;
	assert_string_equal(rep->cert->names[0], "www.idnet.net");
	return KTA_OK;
}

static void cycle(void **state)
{
	struct fx *x = *state;
	struct kta_ctmon_watch w = {"idnet.net", NULL, 0};
	struct kta_ctmon_log lg;
	struct kta_ctmon_result res;
	struct seen s;
	struct kta_error err;
	uint64_t nalerts = 0;
	uint8_t spki[32];
	char evdir[128];

	memset(&lg, 0, sizeof(lg));
	lg.name = "fake";
	lg.url = x->url;
	lg.key = x->key;
	lg.watches = &w;
	lg.nwatches = 1;
	lg.batch = 5;
	/* First cycle at size 4: every entry is the real certificate; no approved key. */
	set_control(x, "{\"size\": 4, \"page\": 3}");
	memset(&s, 0, sizeof(s));
	assert_int_equal(kta_ctmon_cycle(&lg, x->f, x->st, 1000, on_rep, &s, &res, &err), KTA_OK);
	assert_int_equal(res.new_size, 4);
	assert_int_equal(res.entries, 4);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.unapproved, 4);
	/* One certificate: one alert however many entries carry it. */
	assert_int_equal(res.alerts, 1);
	assert_int_equal(kta_state_alert_count(x->st, &nalerts, &err), KTA_OK);
	assert_int_equal(nalerts, 1);
	/* Approve its key: later entries (incl. the precert) are reported, no alert. */
	assert_int_equal(
	    kta_hex_decode("614b58f143d78d7ed97ddc1ce06150fde9fca3289e7ee3a2754cc5619375689e", 64,
			   spki, 32),
	    KTA_OK);
	w.approved = (const uint8_t(*)[32])spki;
	w.napproved = 1;
	set_control(x, "{}");
	memset(&s, 0, sizeof(s));
	assert_int_equal(kta_ctmon_cycle(&lg, x->f, x->st, 1001, on_rep, &s, &res, &err), KTA_OK);
	assert_int_equal(res.old_size, 4);
	assert_int_equal(res.new_size, 12);
	assert_int_equal(s.first, 4);
	assert_int_equal(s.unapproved, 0);
	assert_int_equal(s.precert, 2);
	assert_int_equal(res.alerts, 0);
	/* A watch on another domain sees nothing. */
	w.domain = ".example.org";
	memset(&s, 0, sizeof(s));
	assert_int_equal(kta_ctmon_cycle(&lg, x->f, x->st, 1002, on_rep, &s, &res, &err), KTA_OK);
	assert_int_equal(res.entries, 0);
	/* A forked head of the same size: VERIFY, a fork alert with a ct_fork
	 * bundle that verifies, progress kept. */
	snprintf(evdir, sizeof(evdir), "%s/evidence", x->dir);
	lg.evidence_dir = evdir;
	set_control(x, "{\"fork\": true}");
	assert_int_equal(kta_ctmon_cycle(&lg, x->f, x->st, 1003, NULL, NULL, &res, &err),
			 KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "fork"));
	assert_int_equal(res.finding, KTA_ALERT_FORK);
	assert_int_equal(res.evidence_failed, 0);
	assert_int_equal(res.new_size, 12);
	{
		DIR *dp = opendir(evdir);
		struct dirent *de;
		struct kta_evidence_result er;
		int nfiles = 0;

		assert_non_null(dp);
		while ((de = readdir(dp)) != NULL) {
			char path[512];
			uint8_t *b;
			size_t bl;

			if (de->d_name[0] == '.')
				continue;
			nfiles++;
			snprintf(path, sizeof(path), "%s/%s", evdir, de->d_name);
			b = tu_read_file(path, &bl);
			assert_int_equal(kta_ctevidence_verify(b, bl, x->key, &er, &err), KTA_OK);
			assert_int_equal(er.type, KTA_EVIDENCE_FORK);
			free(b);
		}
		closedir(dp);
		assert_int_equal(nfiles, 1);
	}
	/* A bad signature: VERIFY. */
	set_control(x, "{\"bad_sig\": true}");
	assert_int_equal(kta_ctmon_cycle(&lg, x->f, x->st, 1004, NULL, NULL, &res, &err),
			 KTA_ERR_VERIFY);
	assert_int_equal(res.finding, KTA_ALERT_BAD_SIGNATURE);
	assert_int_equal(kta_state_alert_count(x->st, &nalerts, &err), KTA_OK);
	assert_int_equal(nalerts, 3);
	/* Usage. */
	assert_int_equal(kta_ctmon_cycle(NULL, x->f, x->st, 1, NULL, NULL, &res, &err),
			 KTA_ERR_USAGE);
	/* A static log needs a submission URL that names the checkpoint origin. */
	lg.name = "static";
	lg.monitoring_url = x->url;
	lg.url = "https:///";
	assert_int_equal(kta_ctmon_cycle(&lg, x->f, x->st, 1005, NULL, NULL, &res, &err),
			 KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "origin"));
	/* The RFC 6962 fake log serves no checkpoint: could not audit, nothing stored. */
	lg.url = "https://static.test/log/";
	assert_int_not_equal(kta_ctmon_cycle(&lg, x->f, x->st, 1006, NULL, NULL, &res, &err),
			     KTA_OK);
	assert_int_equal(kta_state_alert_count(x->st, &nalerts, &err), KTA_OK);
	assert_int_equal(nalerts, 3);
}

static void replay_usage(void **state)
{
	struct fx *x = *state;
	struct kta_ct_client *c = NULL, *c2 = NULL;
	struct kta_hasher *h = NULL;
	struct kta_compact_range *cr = NULL;
	struct kta_error err;

	assert_int_equal(kta_ct_client_new(x->f, x->url, 10, &c, &err), KTA_OK);
	assert_int_equal(kta_hasher_new(&h, &err), KTA_OK);
	assert_int_equal(kta_compact_range_new(&cr, &err), KTA_OK);
	/* The range must hold [0, start). */
	assert_int_equal(kta_ctmon_replay(c, h, cr, 3, 5, "x", NULL, 0, NULL, NULL, NULL, &err),
			 KTA_ERR_USAGE);
	set_control(x, "{\"size\": 2}");
	/* Asking beyond the served tree: the log answers 400. */
	assert_int_equal(kta_ctmon_replay(c, h, cr, 0, 5, "x", NULL, 0, NULL, NULL, NULL, &err),
			 KTA_ERR_IO);
	assert_int_equal(kta_ct_client_new(x->f, x->url, 0, &c2, &err), KTA_ERR_USAGE);
	assert_null(c2);
	assert_int_equal(kta_ct_client_new(x->f, "ftp://x/", 1, &c2, &err), KTA_ERR_USAGE);
	kta_compact_range_free(cr);
	kta_hasher_free(h);
	kta_ct_client_free(c);
}

struct got {
	size_t n;
	size_t leaf_len, extra_len;
	uint8_t first;
};

static enum kta_status on_entry(void *ctx, uint64_t index, const uint8_t *leaf, size_t ll,
				const uint8_t *extra, size_t el, struct kta_error *err)
{
	struct got *g = ctx;

	(void)index;
	(void)extra;
	(void)err;
	g->n++;
	g->leaf_len = ll;
	g->extra_len = el;
	g->first = ll > 0 ? leaf[0] : 0xff;
	return KTA_OK;
}

/* Writes fmt with its first "%s" replaced by a and the second by b. */
static void subst(char *out, const char *fmt, const char *a, const char *b)
{
	const char *p;
	int k = 0;

	for (p = fmt; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 's') {
			const char *v = k++ == 0 ? a : b;

			memcpy(out, v, strlen(v));
			out += strlen(v);
			p++;
		} else {
			*out++ = *p;
		}
	}
	*out = '\0';
}

/* The get-entries fast path and the jansson path accept the same bodies. */
static void entries_shapes(void **state)
{
	struct fx *x = *state;
	struct kta_ct_client *c = NULL;
	struct kta_error err;
	size_t len, i;
	uint8_t *leaf = tu_read_testdata("ct/real_leaf_input.bin", &len);
	char *b64 = malloc(KTA_B64_ENCODED_LEN(len) + 1),
	     *esc = malloc(3 * KTA_B64_ENCODED_LEN(len) + 1);
	char *ctl = malloc(8 * KTA_B64_ENCODED_LEN(len) + 512),
	     *body = malloc(4 * KTA_B64_ENCODED_LEN(len) + 256);
	size_t o = 0;
	struct got g;
	static const struct {
		const char *fmt; /* %s: the leaf's base64 (JSON-escaped by the test) */
		enum kta_status want;
		size_t n;
	} cases[] = {
	    {"{\"entries\":[{\"leaf_input\":\"%s\",\"extra_data\":\"AAAA\"},"
	     "{\"leaf_input\":\"%s\",\"extra_data\":\"AAAA\"}]}",
	     KTA_OK, 2},
	    {" {\n \"entries\" : [ { \"extra_data\" : \"AAAA\" ,\t\"leaf_input\" : \"%s\" } ,"
	     "{\"leaf_input\":\"%s\",\"extra_data\":\"AAAA\"} ] }\r\n",
	     KTA_OK, 2},
	    /* jansson path: a \u escape, the same bytes */
	    {"{\"entries\":[{\"leaf_input\":\"\\u0041%s\",\"extra_data\":\"AAAA\"}]}",
	     KTA_ERR_MALFORMED, 0},
	    /* jansson path, accepted: "\u0041AAA" is "AAAA" */
	    {"{\"entries\":[{\"leaf_input\":\"%s\",\"extra_data\":\"\\u0041AAA\"},"
	     "{\"leaf_input\":\"%s\",\"extra_data\":\"AAAA\"}]}",
	     KTA_OK, 2},
	    {"{\"entries\":[]}", KTA_ERR_MALFORMED, 0},
	    {"{\"entries\":[{\"leaf_input\":\"%s\",\"extra_data\":\"AAAA\",\"x\":1}]}",
	     KTA_ERR_MALFORMED, 0},
	    {"{\"entries\":[{\"leaf_input\":\"%s\",\"leaf_input\":\"AAAA\"}]}", KTA_ERR_MALFORMED,
	     0},
	    {"{\"entries\":[{\"leaf_input\":\"%s\",\"extra_data\":\"AA=A\"}]}", KTA_ERR_MALFORMED,
	     0},
	    {"{\"entries\":[{\"leaf_input\":\"%s\",\"extra_data\":\"AAAA\"}]} x", KTA_ERR_MALFORMED,
	     0},
	    {"{\"entries\":[{\"leaf_input\":\"%s\",\"extra_data\":\"AAAA\"}],\"more\":1}",
	     KTA_ERR_MALFORMED, 0},
	    {"{\"entries\":[{\"leaf_input\":\"%s\",\"extra_data\":\"AAAA\"},]}", KTA_ERR_MALFORMED,
	     0},
	};

	kta_b64_encode(leaf, len, b64);
	/* The leaf with every '/' written as the JSON escape "\/" (ct-go's gotcha). */
	for (i = 0; b64[i] != '\0'; i++) {
		if (b64[i] == '/')
			esc[o++] = '\\';
		esc[o++] = b64[i];
	}
	esc[o] = '\0';
	assert_true(strchr(b64, '/') != NULL);
	assert_int_equal(kta_ct_client_new(x->f, x->url, 10, &c, &err), KTA_OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j;
		char *dump;

		subst(body, cases[i].fmt, i == 1 ? esc : b64, b64);
		j = json_pack("{ss}", "raw_entries", body);
		dump = json_dumps(j, JSON_COMPACT);
		set_control(x, dump);
		free(dump);
		json_decref(j);
		memset(&g, 0, sizeof(g));
		if (kta_ct_get_entries(c, 0, 2, on_entry, &g, &err) != cases[i].want)
			fail_msg("case %zu: %s", i, err.msg);
		if (cases[i].want == KTA_OK) {
			assert_int_equal(g.n, 2);
			assert_int_equal(g.leaf_len, len);
			assert_int_equal(g.extra_len, 3);
			assert_int_equal(g.first, 0);
		}
	}
	kta_ct_client_free(c);
	free(leaf);
	free(b64);
	free(esc);
	free(ctl);
	free(body);
}

static void from_config(void **state)
{
	static const char text[] =
	    "state_dir /tmp/x\nctlog argon\nurl https://ct.googleapis.com/logs/us1/argon2024/\n"
	    "key MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHblsqctplMVc5ramA7vSuNxUQxcomQwGAVAdnWTAWUYr3"
	    "MgDHQW0LagJ95lB7QT75Ve6JgT2EVLOFGU7L3YrwA==\nbatch 100\nmax_entries 7\n"
	    "watch_domain .example.org "
	    "614b58f143d78d7ed97ddc1ce06150fde9fca3289e7ee3a2754cc5619375689e\n";
	static const char stext[] =
	    "state_dir /tmp/x\nctlog rome\nurl https://rome.ct.example.com/2025h1/\n"
	    "monitoring_url https://rome2025h1.bucket.example.org/\n"
	    "key MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHblsqctplMVc5ramA7vSuNxUQxcomQwGAVAdnWTAWUYr3"
	    "MgDHQW0LagJ95lB7QT75Ve6JgT2EVLOFGU7L3YrwA==\n";
	struct kta_config *cfg = NULL;
	struct kta_ctmon_log lg;
	struct kta_ctmon_watch *w = NULL;
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_config_parse((const uint8_t *)text, strlen(text), "t", &cfg, &err),
			 KTA_OK);
	assert_int_equal(kta_ctmon_log_from_config(&cfg->ctlogs[0], &lg, &w, &err), KTA_OK);
	assert_string_equal(lg.name, "argon");
	assert_int_equal(lg.batch, 100);
	assert_int_equal(lg.max_entries, 7);
	assert_int_equal(lg.nwatches, 1);
	assert_string_equal(lg.watches[0].domain, ".example.org");
	assert_int_equal(lg.watches[0].napproved, 1);
	assert_int_equal(lg.watches[0].approved[0][0], 0x61);
	assert_ptr_equal(lg.key, cfg->ctlogs[0].key);
	assert_null(lg.monitoring_url);
	assert_null(lg.evidence_dir);
	free(w);
	kta_config_free(cfg);
	cfg = NULL;
	/* A static log: monitoring_url copied; no watches, no allocation. */
	assert_int_equal(kta_config_parse((const uint8_t *)stext, strlen(stext), "t", &cfg, &err),
			 KTA_OK);
	w = (struct kta_ctmon_watch *)&err; /* must be reset */
	assert_int_equal(kta_ctmon_log_from_config(&cfg->ctlogs[0], &lg, &w, &err), KTA_OK);
	assert_null(w);
	assert_int_equal(lg.nwatches, 0);
	assert_string_equal(lg.monitoring_url, "https://rome2025h1.bucket.example.org/");
	assert_string_equal(lg.url, "https://rome.ct.example.com/2025h1/");
	kta_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(cycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(replay_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(entries_shapes, setup, teardown),
	    cmocka_unit_test(from_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
