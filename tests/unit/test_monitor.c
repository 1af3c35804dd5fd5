/*
 * Unit tests for the monitor library (ktaudit/monitor.h) against key
 * directories built with the reference publisher and read through file://
 * URLs: first run and growth, findings and their counting, deduplication of
 * warnings per day (the clock seam), the witness policy and age, cancel,
 * offline mode, watches applied without a rescan, metrics text and escaping,
 * log lookup. The attacks over HTTP are in tests/cli/test_monitor*.sh.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "ktaudit/config.h"
#include "ktaudit/encoding.h"
#include "ktaudit/file.h"
#include "ktaudit/key.h"
#include "ktaudit/monitor.h"
#include "ktaudit/publish.h"
#include "ktaudit/shard.h"
#include "ktaudit/state.h"

#define ORIGIN "example.com/mon"
#define T0 1764143000

struct fx {
	char base[64];      /* temporary directory */
	char dir[128];      /* base/d: the key directory */
	char key_path[128]; /* base/log.key */
	char *log_vk;       /* formatted log verifier key */
	struct kta_skey *wit;
	char *wit_vk;
	struct kta_skey *user[3];
	uint8_t upub[3][32];
	int64_t now;      /* the clock seam */
	int cancel;       /* the cancel seam */
	int cancel_after; /* > 0: cancel at the cancel seam's cancel_after-th call */
	char logs[4096];  /* log lines, concatenated */
	uint64_t last_done, last_total;
	struct kta_publisher *p;
	/* at progress hook_at, outside a transaction, pin hook_label to user
	 * key hook_u through hook_m (what `ktaudit watch add` does meanwhile) */
	struct kta_monitor *hook_m;
	uint64_t hook_at;
	const char *hook_label;
	int hook_u, hooked;
};

static struct kta_skey *seed_key(const char *name, enum kta_key_type type, uint8_t fill)
{
	uint8_t seed[32];
	struct kta_skey *k = NULL;

	memset(seed, fill, sizeof(seed));
	assert_int_equal(kta_skey_from_seed(name, type, seed, &k, NULL), KTA_OK);
	return k;
}

static char *vkey_string(const struct kta_skey *k)
{
	struct kta_vkey *vk = NULL;
	char *s;

	assert_int_equal(kta_skey_vkey(k, &vk, NULL), KTA_OK);
	s = kta_vkey_format(vk);
	assert_non_null(s);
	kta_vkey_free(vk);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kta_skey *log;
	struct kta_error err;
	char *s;
	int i;

	assert_non_null(f);
	strcpy(f->base, "/tmp/kta-monitor-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	(void)snprintf(f->dir, sizeof(f->dir), "%s/d", f->base);
	(void)snprintf(f->key_path, sizeof(f->key_path), "%s/log.key", f->base);
	log = seed_key(ORIGIN, KTA_KEY_ED25519, 1);
	s = kta_skey_format(log);
	assert_non_null(s);
	assert_int_equal(
	    kta_file_create_excl(f->key_path, (const uint8_t *)s, strlen(s), 0600, NULL), KTA_OK);
	free(s);
	f->log_vk = vkey_string(log);
	kta_skey_free(log);
	f->wit = seed_key("w1.example", KTA_KEY_COSIGNATURE_V1, 2);
	f->wit_vk = vkey_string(f->wit);
	for (i = 0; i < 3; i++) {
		f->user[i] = seed_key("user", KTA_KEY_ED25519, (uint8_t)(30 + i));
		memcpy(f->upub[i], f->user[i]->pub, 32);
	}
	if (kta_publish_init(f->dir, ORIGIN, f->key_path, &err) != KTA_OK ||
	    kta_publish_open(f->dir, &f->p, &err) != KTA_OK)
		fail_msg("publisher: %s", err.msg);
	f->now = T0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int i;

	kta_publish_close(f->p);
	(void)tu_rm_tree(f->base);
	free(f->log_vk);
	free(f->wit_vk);
	kta_skey_free(f->wit);
	for (i = 0; i < 3; i++)
		kta_skey_free(f->user[i]);
	free(f);
	return 0;
}

/* Queues one update of label with user key u (device "phone"), signed by auth (or NULL). */
static void add(struct fx *f, const char *label, int u, const struct kta_skey *auth)
{
	struct kta_entry_key k;
	struct kta_publish_update up;
	struct kta_publish_added res;
	struct kta_error err;

	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_ED25519;
	memcpy(k.pub, f->upub[u], 32);
	k.device = "phone";
	memset(&up, 0, sizeof(up));
	up.label = label;
	up.keys = &k;
	up.nkeys = 1;
	up.time = T0;
	up.auth_key = auth;
	if (kta_publish_add(f->p, &up, 1, &res, &err) != KTA_OK)
		fail_msg("add: %s", err.msg);
}

/* Publishes what is queued; cosigned by the witness at time t when t >= 0. */
static void publish(struct fx *f, int64_t t)
{
	const struct kta_skey *w[1];
	struct kta_publish_opts o;
	struct kta_publish_result res;
	struct kta_error err;

	memset(&o, 0, sizeof(o));
	w[0] = f->wit;
	if (t >= 0) {
		o.witnesses = w;
		o.nwitnesses = 1;
		o.now = (uint64_t)t;
	}
	if (kta_publish_run(f->p, &o, &res, &err) != KTA_OK)
		fail_msg("publish: %s", err.msg);
}

/* A configuration: state BASE/STATE, the sink file BASE/STATE.alerts, `global`
 * lines, and one log (section `name`) at file://DIR/ plus `extra` lines. */
static struct kta_config *config_in(struct fx *f, const char *state, const char *global,
				    const char *name, const char *extra)
{
	char text[8192];
	struct kta_config *cfg = NULL;
	struct kta_error err;
	int n;

	n = snprintf(text, sizeof(text),
		     "state_dir %s/%s\nsink file %s/%s.alerts\n%slog %s\norigin %s\n"
		     "url file://%s/\nkey %s\n%s",
		     f->base, state, f->base, state, global, name, ORIGIN, f->dir, f->log_vk,
		     extra);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	if (kta_config_parse((const uint8_t *)text, (size_t)n, "test.conf", &cfg, &err) != KTA_OK)
		fail_msg("config: %s", err.msg);
	return cfg;
}

/* config_in with the state in BASE/state, no global lines. */
static struct kta_config *config(struct fx *f, const char *name, const char *extra)
{
	return config_in(f, "state", "", name, extra);
}

static void on_log(void *ctx, enum kta_monitor_level level, const char *log_name, const char *msg)
{
	struct fx *f = ctx;
	size_t n = strlen(f->logs);

	(void)level;
	(void)log_name;
	(void)snprintf(f->logs + n, sizeof(f->logs) - n, "%s\n", msg);
}

static void on_progress(void *ctx, const char *log_name, uint64_t done, uint64_t total)
{
	struct fx *f = ctx;

	(void)log_name;
	f->last_done = done;
	f->last_total = total;
	if (f->hook_m != NULL && !f->hooked && done == f->hook_at &&
	    !kta_state_in_transaction(kta_monitor_state(f->hook_m))) {
		struct kta_entry_key k;
		struct kta_error err;
		int alerted = 0;

		memset(&k, 0, sizeof(k));
		k.alg = KTA_ENTRY_ALG_ED25519;
		memcpy(k.pub, f->upub[f->hook_u], 32);
		k.device = "phone";
		if (kta_monitor_watch_add(f->hook_m, 0, f->hook_label, KTA_WATCH_PINNED, &k, 1,
					  &alerted, &err) != KTA_OK)
			fail_msg("hook watch add: %s", err.msg);
		f->hooked = 1;
	}
}

static int on_cancel(void *ctx)
{
	struct fx *f = ctx;

	if (f->cancel_after > 0 && --f->cancel_after == 0)
		f->cancel = 1;
	return f->cancel;
}

static int64_t on_now(void *ctx)
{
	return ((struct fx *)ctx)->now;
}

static struct kta_monitor *open_mon_x(struct fx *f, const struct kta_config *cfg, int offline,
				      int exclusive)
{
	struct kta_monitor_opts o;
	struct kta_monitor *m = NULL;
	struct kta_error err;

	kta_monitor_opts_init(&o);
	o.exclusive = exclusive;
	o.log = on_log;
	o.progress = on_progress;
	o.cancel = on_cancel;
	o.now = on_now;
	o.ctx = f;
	o.fetch_retries = 0;
	o.offline = offline;
	if (kta_monitor_open(cfg, &o, &m, &err) != KTA_OK)
		fail_msg("open: %s", err.msg);
	return m;
}

static struct kta_monitor *open_mon(struct fx *f, const struct kta_config *cfg, int offline)
{
	return open_mon_x(f, cfg, offline, 0);
}

static void cycle(struct kta_monitor *m, struct kta_monitor_result *res)
{
	struct kta_error err;

	if (kta_monitor_cycle(m, 0, res, &err) != KTA_OK)
		fail_msg("cycle: %s", err.msg);
}

static size_t count_lines(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, i, n = 0;

	if (kta_file_read(path, 1 << 20, &buf, &len, NULL) != KTA_OK)
		return 0;
	for (i = 0; i < len; i++)
		n += buf[i] == '\n';
	free(buf);
	return n;
}

static size_t count_lines_text(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void test_opts_init(void **state)
{
	struct kta_monitor_opts o;

	(void)state;
	memset(&o, 0x5a, sizeof(o));
	kta_monitor_opts_init(&o);
	assert_null(o.log);
	assert_null(o.progress);
	assert_null(o.cancel);
	assert_null(o.now);
	assert_int_equal(o.offline, 0);
	assert_int_equal(o.exclusive, 0);
	assert_true(o.fetch_retries > 0);
}

static void test_first_run_and_growth(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	struct kta_monitor_log_status st;
	struct kta_error err;
	uint64_t pending = 9;
	int64_t due = 9;
	char path[160];

	add(f, "alice", 0, NULL);
	add(f, "bob", 1, NULL);
	add(f, "carol", 2, NULL);
	publish(f, -1);
	cfg = config(f, "mon", "");
	m = open_mon(f, cfg, 0);
	cycle(m, &res);
	assert_int_equal(res.audited, 1);
	assert_int_equal(res.first_run, 1);
	assert_int_equal(res.old_size, 0);
	assert_int_equal(res.size, 3);
	assert_int_equal(res.entries, 3);
	assert_int_equal(res.new_alerts, 0);
	assert_int_equal(res.findings[KTA_SEV_ALERT] + res.findings[KTA_SEV_CRITICAL] +
			     res.findings[KTA_SEV_WARNING],
			 0);
	assert_string_equal(res.error_class, "");
	assert_non_null(strstr(f->logs, "first run: trusting the checkpoint of size 3"));
	assert_int_equal(f->last_done, 3);
	assert_int_equal(f->last_total, 3);
	kta_monitor_log_status(m, 0, &st);
	assert_string_equal(st.name, "mon");
	assert_int_equal(st.has_checkpoint, 1);
	assert_int_equal(st.size, 3);
	assert_int_equal(st.entries_replayed, 3);
	assert_int_equal(st.last_success, T0);

	/* nothing new */
	cycle(m, &res);
	assert_int_equal(res.audited, 1);
	assert_int_equal(res.first_run, 0);
	assert_int_equal(res.entries, 0);
	assert_int_equal(res.old_size, 3);

	/* bob's key replaced without his signature: one unauthorized update */
	add(f, "bob", 2, NULL);
	add(f, "alice", 1, f->user[0]); /* authorized by alice's key */
	publish(f, -1);
	cycle(m, &res);
	assert_int_equal(res.audited, 1);
	assert_int_equal(res.size, 5);
	assert_int_equal(res.entries, 2);
	assert_int_equal(res.findings[KTA_SEV_ALERT], 1);
	assert_int_equal(res.new_alerts, 1);
	assert_non_null(strstr(f->logs, "unauthorized_update"));
	cycle(m, &res);
	assert_int_equal(res.findings[KTA_SEV_ALERT], 0);

	if (kta_monitor_deliver(m, &pending, &due, NULL, &err) != KTA_OK)
		fail_msg("deliver: %s", err.msg);
	assert_int_equal(pending, 0);
	assert_int_equal(due, 0);
	(void)snprintf(path, sizeof(path), "%s/state.alerts", f->base);
	assert_int_equal(count_lines(path), 1);
	kta_monitor_close(m);

	/* a restart continues from the stored checkpoint */
	m = open_mon(f, cfg, 0);
	cycle(m, &res);
	assert_int_equal(res.first_run, 0);
	assert_int_equal(res.old_size, 5);
	assert_int_equal(res.entries, 0);
	kta_monitor_close(m);
	kta_config_free(cfg);
}

static void test_metrics(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	char *text = NULL;

	add(f, "alice", 0, NULL);
	publish(f, -1);
	/* a section name that needs escaping in a label value */
	cfg = config(f, "a\"b\\c", "");
	m = open_mon(f, cfg, 0);
	assert_int_equal(kta_monitor_metrics(m, 0, &text, NULL), KTA_OK);
	assert_null(strstr(text, "ktaudit_checkpoint_size{"));
	assert_non_null(strstr(text, "ktaudit_last_error{log=\"a\\\"b\\\\c\",error=\"\"} 0\n"));
	free(text);
	cycle(m, &res);
	f->now = T0 + 42;
	assert_int_equal(kta_monitor_metrics(m, 7, &text, NULL), KTA_OK);
	assert_non_null(strstr(text, "# TYPE ktaudit_checkpoint_size gauge\n"
				     "ktaudit_checkpoint_size{log=\"a\\\"b\\\\c\"} 1\n"));
	assert_non_null(strstr(text, "ktaudit_checkpoint_age_seconds{log=\"a\\\"b\\\\c\"} 42\n"));
	assert_non_null(strstr(text, "ktaudit_entries_replayed_total{log=\"a\\\"b\\\\c\"} 1\n"));
	assert_non_null(
	    strstr(text, "ktaudit_last_success_timestamp{log=\"a\\\"b\\\\c\"} 1764143000\n"));
	assert_non_null(
	    strstr(text, "# TYPE ktaudit_alerts_pending gauge\nktaudit_alerts_pending 7\n"));
	free(text);
	kta_monitor_close(m);
	kta_config_free(cfg);
}

static void test_unreachable_once_per_day(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	struct kta_monitor_log_status st;
	char *text = NULL;

	add(f, "alice", 0, NULL);
	publish(f, -1);
	cfg = config(f, "mon", "");
	free(cfg->logs[0].url);
	cfg->logs[0].url = strdup("file:///nonexistent/ktaudit-test/");
	assert_non_null(cfg->logs[0].url);
	m = open_mon(f, cfg, 0);
	cycle(m, &res);
	assert_int_equal(res.audited, 0);
	assert_int_equal(res.findings[KTA_SEV_WARNING], 1);
	assert_int_equal(res.new_alerts, 1);
	assert_string_equal(res.error_class, "unreachable");
	kta_monitor_log_status(m, 0, &st);
	assert_string_equal(st.last_error, "unreachable");
	assert_int_equal(st.has_checkpoint, 0);
	assert_int_equal(kta_monitor_metrics(m, 0, &text, NULL), KTA_OK);
	assert_non_null(strstr(text, "ktaudit_last_error{log=\"mon\",error=\"unreachable\"} 1\n"));
	free(text);
	/* the same day: the same id, not stored again; the next day: a new one */
	f->now = T0 + 60;
	cycle(m, &res);
	assert_int_equal(res.findings[KTA_SEV_WARNING], 1);
	assert_int_equal(res.new_alerts, 0);
	f->now = T0 + 86400;
	cycle(m, &res);
	assert_int_equal(res.new_alerts, 1);
	kta_monitor_close(m);
	kta_config_free(cfg);
}

static void test_witness_policy_and_age(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	char extra[1024];

	add(f, "alice", 0, NULL);
	publish(f, T0); /* cosigned at T0 */
	(void)snprintf(extra, sizeof(extra), "witness %s\nquorum 1\nmax_age 3600\n", f->wit_vk);
	cfg = config(f, "mon", extra);
	m = open_mon(f, cfg, 0);
	f->now = T0 + 100;
	cycle(m, &res);
	assert_int_equal(res.audited, 1);
	assert_int_equal(res.size, 1);
	/* later, nothing new cosigned: stale, a warning, not audited */
	add(f, "bob", 1, NULL);
	publish(f, T0 + 200);
	f->now = T0 + 200 + 3601;
	cycle(m, &res);
	assert_int_equal(res.audited, 0);
	assert_int_equal(res.findings[KTA_SEV_WARNING], 1);
	assert_string_equal(res.error_class, "stale");
	assert_int_equal(res.size, 1); /* not adopted */
	assert_int_equal(res.new_alerts, 1);
	/* the same condition: once per URL and UTC day */
	f->now += 60;
	cycle(m, &res);
	assert_int_equal(res.findings[KTA_SEV_WARNING], 1);
	assert_int_equal(res.new_alerts, 0);
	f->now += 86400;
	cycle(m, &res);
	assert_int_equal(res.new_alerts, 1);
	kta_monitor_close(m);
	kta_config_free(cfg);

	/* a quorum of 1 with no cosignature at all */
	add(f, "carol", 2, NULL);
	publish(f, -1);
	(void)snprintf(extra, sizeof(extra), "witness %s\nquorum 1\n", f->wit_vk);
	cfg = config(f, "mon", extra);
	m = open_mon(f, cfg, 0);
	cycle(m, &res);
	assert_int_equal(res.audited, 0);
	assert_string_equal(res.error_class, "quorum");
	assert_int_equal(res.size, 1);
	kta_monitor_close(m);
	kta_config_free(cfg);
}

static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	struct kta_monitor_log_status st;
	struct kta_error err;

	add(f, "alice", 0, NULL);
	publish(f, -1);
	cfg = config(f, "mon", "");
	m = open_mon(f, cfg, 0);
	f->cancel = 1;
	assert_int_equal(kta_monitor_cycle(m, 0, &res, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "cancelled"));
	assert_int_equal(res.audited, 0);
	assert_string_equal(res.error_class, "cancelled");
	assert_int_equal(res.new_alerts, 0);
	kta_monitor_log_status(m, 0, &st);
	assert_int_equal(st.has_checkpoint, 0);
	f->cancel = 0;
	cycle(m, &res);
	assert_int_equal(res.audited, 1);
	assert_int_equal(res.first_run, 1);
	kta_monitor_close(m);
	kta_config_free(cfg);
}

/* Publishes labels c0.. from `from` to `to` - 1 (publish(f, t)); every 97th
 * entry instead rewrites an earlier label without its owner's signature (a
 * finding). */
static void add_many(struct fx *f, int from, int to, int64_t t)
{
	char label[32];
	int i;

	for (i = from; i < to; i++) {
		if (i % 97 == 96)
			(void)snprintf(label, sizeof(label), "c%d", i / 2);
		else
			(void)snprintf(label, sizeof(label), "c%d", i);
		add(f, label, i % 3, NULL);
	}
	publish(f, t);
}

/* Delivers m's alerts and returns its sink file's contents (caller frees). */
static char *delivered(struct fx *f, struct kta_monitor *m, const char *state)
{
	struct kta_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	char path[160];
	char *text;

	if (kta_monitor_deliver(m, NULL, NULL, NULL, &err) != KTA_OK)
		fail_msg("deliver: %s", err.msg);
	(void)snprintf(path, sizeof(path), "%s/%s.alerts", f->base, state);
	assert_int_equal(kta_file_read(path, 1 << 24, &buf, &len, NULL), KTA_OK);
	assert_non_null(text = malloc(len + 1));
	memcpy(text, buf, len);
	text[len] = '\0';
	free(buf);
	return text;
}

/* The pending catch-up row of m's log: 1 and its done count, or 0. */
static int pending_done(struct kta_monitor *m, uint64_t *done)
{
	struct kta_state_pending *pd = NULL;
	struct kta_error err;
	int found = 0;

	if (kta_state_pending_get(kta_monitor_state(m), ORIGIN, &found, &pd, &err) != KTA_OK)
		fail_msg("pending: %s", err.msg);
	if (found)
		*done = pd->done;
	kta_state_pending_free(pd);
	return found;
}

/* Runs a cycle of m that is cancelled at the cancel seam's `after`-th call
 * (a crash in the middle of a catch-up; *res as it left it) and returns the
 * leaves its pending catch-up has done. */
static uint64_t interrupted(struct fx *f, struct kta_monitor *m, int after,
			    struct kta_monitor_result *res)
{
	struct kta_error err;
	uint64_t done = 0;

	f->cancel_after = after;
	assert_int_equal(kta_monitor_cycle(m, 0, res, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "cancelled"));
	f->cancel = 0;
	f->cancel_after = 0;
	assert_int_equal(pending_done(m, &done), 1);
	return done;
}

/* Publishes another history B of the same log key in BASE/b: c0.. up to
 * `same` as add_many does, then x<same>.. up to `size`. f->dir and f->p are
 * B's until unfork(); adir keeps A's directory. */
static struct kta_publisher *fork_log(struct fx *f, int same, int size, char adir[static 128])
{
	struct kta_publisher *pb = NULL;
	struct kta_error err;
	char label[32];
	int i;

	memcpy(adir, f->dir, 128);
	(void)snprintf(f->dir, sizeof(f->dir), "%s/b", f->base);
	if (kta_publish_init(f->dir, ORIGIN, f->key_path, &err) != KTA_OK ||
	    kta_publish_open(f->dir, &pb, &err) != KTA_OK)
		fail_msg("publisher b: %s", err.msg);
	f->p = pb;
	add_many(f, 0, same, -1);
	for (i = same; i < size; i++) {
		(void)snprintf(label, sizeof(label), "x%d", i);
		add(f, label, i % 3, NULL);
	}
	publish(f, -1);
	return pb;
}

/* Back to A (publisher pa, directory adir). */
static void unfork(struct fx *f, struct kta_publisher *pa, struct kta_publisher *pb,
		   const char adir[static 128])
{
	kta_publish_close(pb);
	f->p = pa;
	memcpy(f->dir, adir, 128);
}

/*
 * commit_every: a catch-up committed in chunks stores what one transaction
 * stores (the same alerts, in the same order, with the same ids); an
 * interrupted one resumes from its last chunk, also when the log grew in
 * between (the interrupted target is finished first, at its own size); a
 * pending row that no longer verifies or lies behind the verified
 * checkpoint stops the cycle with a message.
 */
static void test_chunked_catch_up(void **state)
{
	struct fx *f = *state;
	struct kta_config *cref, *cch, *cint, *cbad;
	struct kta_monitor *mref, *mch, *mint, *mbad;
	struct kta_monitor_result res;
	struct kta_state_log *v = NULL;
	struct kta_compact_range *cr = NULL;
	struct kta_error err;
	char *aref, *ach, *aint;
	uint64_t done = 0;
	size_t alerts;
	int found = 0;
	const uint8_t zero[32] = {0};

	add_many(f, 0, 900, -1);
	cref = config_in(f, "ref", "commit_every 0\n", "mon", "");
	cch = config_in(f, "ch", "commit_every 256\n", "mon", "");
	cint = config_in(f, "int", "commit_every 256\n", "mon", "");
	assert_int_equal(cch->commit_every, 256);

	/* one transaction */
	mref = open_mon(f, cref, 0);
	cycle(mref, &res);
	assert_int_equal(res.size, 900);
	assert_int_equal(res.entries, 900);
	alerts = res.new_alerts;
	assert_int_equal(alerts, 5); /* at leaves 96, 290, 484, 678, 872 */
	assert_int_equal(res.findings[KTA_SEV_ALERT], alerts);

	/* four chunks, in one cycle */
	mch = open_mon(f, cch, 0);
	f->logs[0] = '\0';
	cycle(mch, &res);
	assert_int_equal(res.audited, 1);
	assert_int_equal(res.size, 900);
	assert_int_equal(res.entries, 900);
	assert_int_equal(res.new_alerts, alerts);
	assert_int_equal(res.findings[KTA_SEV_ALERT], alerts);
	assert_int_equal(f->last_done, 900);
	assert_int_equal(pending_done(mch, &done), 0);
	aref = delivered(f, mref, "ref");
	ach = delivered(f, mch, "ch");
	assert_string_equal(ach, aref);
	free(ach);

	/* interrupted in the third chunk: the first two stay committed */
	mint = open_mon(f, cint, 0);
	assert_int_equal(interrupted(f, mint, 600, &res), 512);
	assert_int_equal(res.audited, 0);
	assert_int_equal(res.new_alerts, 3); /* the first two chunks */
	assert_int_equal(res.entries, 512);
	assert_int_equal(kta_state_log_get(kta_monitor_state(mint), ORIGIN, &found, &v, &err),
			 KTA_OK);
	assert_int_equal(found, 0); /* the verified checkpoint moves with the last chunk */

	/* the log grows meanwhile: the interrupted target (900) is finished
	 * first, then the step to 1000, as two cycles would */
	add_many(f, 900, 1000, -1);
	f->logs[0] = '\0';
	cycle(mint, &res);
	assert_int_equal(res.audited, 1);
	assert_int_equal(res.first_run, 1);
	assert_int_equal(res.old_size, 0);
	assert_int_equal(res.size, 1000);
	assert_int_equal(res.entries, 388 + 100);
	assert_int_equal(res.new_alerts, 2); /* leaves 678 and 872 (969 adds c484) */
	assert_non_null(strstr(f->logs,
			       "resuming the interrupted catch-up to size 900 at leaf 512\n"
			       "replaying entries 512..899"));
	assert_non_null(strstr(f->logs, "replaying entries 900..999"));
	assert_null(strstr(f->logs, "first run: trusting"));
	assert_int_equal(pending_done(mint, &done), 0);
	cycle(mint, &res);
	assert_int_equal(res.old_size, 1000);
	assert_int_equal(res.entries, 0);
	cycle(mref, &res);
	assert_int_equal(res.size, 1000);
	free(aref);
	aref = delivered(f, mref, "ref");
	aint = delivered(f, mint, "int");
	assert_string_equal(aint, aref);
	free(aint);

	/* interrupted again, same tree: resumed with the current note */
	kta_monitor_close(mch);
	kta_config_free(cch);
	cch = config_in(f, "ch2", "commit_every 256\n", "mon", "");
	mch = open_mon(f, cch, 0);
	assert_int_equal(interrupted(f, mch, 300, &res), 256);
	f->logs[0] = '\0';
	cycle(mch, &res);
	assert_int_equal(res.size, 1000);
	assert_int_equal(res.entries, 744);
	assert_non_null(
	    strstr(f->logs, "resuming the interrupted catch-up to size 1000 at leaf 256\n"));
	ach = delivered(f, mch, "ch2");
	kta_monitor_close(mint); /* the same tree in one transaction, for reference */
	kta_config_free(cint);
	cint = config_in(f, "ref2", "commit_every 0\n", "mon", "");
	mint = open_mon(f, cint, 0);
	cycle(mint, &res);
	assert_int_equal(res.size, 1000);
	aint = delivered(f, mint, "ref2");
	assert_string_equal(ach, aint);
	assert_string_not_equal(ach, aref); /* the alerts' size is the target's */
	free(aint);
	free(ach);

	/* a pending row behind the verified checkpoint: refused */
	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	assert_int_equal(kta_state_pending_put(kta_monitor_state(mref), ORIGIN, "bogus\n", 6, 2000,
					       zero, cr, T0, &err),
			 KTA_OK);
	assert_int_equal(kta_monitor_cycle(mref, 0, &res, &err), KTA_ERR_MALFORMED);
	assert_non_null(
	    strstr(err.msg, "is at leaf 0, behind its verified checkpoint (size 1000)"));
	assert_string_equal(res.error_class, "error");

	/* a pending target whose note does not verify: refused, nothing replayed */
	cbad = config_in(f, "bad", "commit_every 256\n", "mon", "");
	mbad = open_mon(f, cbad, 0);
	assert_int_equal(kta_state_pending_put(kta_monitor_state(mbad), ORIGIN, "bogus\n", 6, 2000,
					       zero, cr, T0, &err),
			 KTA_OK);
	assert_int_equal(kta_monitor_cycle(mbad, 0, &res, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "interrupted catch-up to size 2000 no longer verifies"));
	assert_int_equal(res.entries, 0);
	assert_int_equal(pending_done(mbad, &done), 1);
	/* ... or verifies but is not the tree the row names */
	assert_int_equal(kta_state_log_get(kta_monitor_state(mref), ORIGIN, &found, &v, &err),
			 KTA_OK);
	assert_int_equal(kta_state_pending_put(kta_monitor_state(mbad), ORIGIN, v->checkpoint,
					       v->checkpoint_len, 2000, zero, cr, T0, &err),
			 KTA_OK);
	assert_int_equal(kta_monitor_cycle(mbad, 0, &res, &err), KTA_ERR_MALFORMED);
	assert_non_null(
	    strstr(err.msg, "catch-up to size 2000 does not match its stored checkpoint"));

	free(aref);
	kta_state_log_free(v);
	kta_compact_range_free(cr);
	kta_monitor_close(mbad);
	kta_monitor_close(mch);
	kta_monitor_close(mint);
	kta_monitor_close(mref);
	kta_config_free(cbad);
	kta_config_free(cch);
	kta_config_free(cint);
	kta_config_free(cref);
}

/* A watch added between two chunks (the write lock is free there) applies
 * to the rest of the catch-up: the later key change is an alert, as when
 * the watch is added after a step in one transaction. */
static void test_chunked_watch_between_chunks(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg[2];
	struct kta_monitor *m;
	struct kta_monitor_result res;
	char *a;
	int i;

	add_many(f, 0, 900, -1); /* c436: user key 1 at leaf 436, key 2 at leaf 872 */
	cfg[0] = config_in(f, "ch", "commit_every 256\n", "mon", "");
	cfg[1] = config_in(f, "one", "commit_every 0\n", "mon", "");
	for (i = 0; i < 2; i++) {
		m = open_mon(f, cfg[i], 0);
		f->hook_m = m;
		f->hook_at = i == 0 ? 512 : 900; /* after the second chunk; after the step */
		f->hook_label = "c436";
		f->hook_u = 1;
		f->hooked = 0;
		cycle(m, &res);
		assert_int_equal(f->hooked, 1);
		assert_int_equal(res.size, 900);
		a = delivered(f, m, i == 0 ? "ch" : "one");
		assert_non_null(strstr(a, "\"kind\":\"key_changed\",\"label\":\"c436\""));
		free(a);
		f->hook_m = NULL;
		kta_monitor_close(m);
		kta_config_free(cfg[i]);
	}
}

/* A pending catch-up is finished when the log's head no longer meets the
 * policy (here: too old): its target met it when the catch-up began. */
static void test_chunked_finish_without_policy(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	struct kta_error err;
	struct kta_state_log *v = NULL;
	char extra[1024];
	uint64_t done = 0;
	int found = 0;

	add_many(f, 0, 900, T0); /* cosigned at T0 */
	(void)snprintf(extra, sizeof(extra), "witness %s\nquorum 1\nmax_age 3600\n", f->wit_vk);
	cfg = config_in(f, "int", "commit_every 256\n", "mon", extra);
	m = open_mon(f, cfg, 0);
	f->now = T0 + 100;
	done = interrupted(f, m, 600, &res);
	f->now = T0 + 100 + 3601;
	f->logs[0] = '\0';
	cycle(m, &res);
	assert_int_equal(res.findings[KTA_SEV_WARNING], 1);
	assert_string_equal(res.error_class, "stale");
	assert_int_equal(res.size, 900);
	assert_int_equal(res.entries, 900 - done);
	assert_non_null(strstr(f->logs, "resuming the interrupted catch-up to size 900"));
	assert_int_equal(pending_done(m, &done), 0);
	/* stored as first seen when the catch-up began, as one transaction
	 * would have stored it then: its age counts from there */
	assert_int_equal(kta_state_log_get(kta_monitor_state(m), ORIGIN, &found, &v, &err), KTA_OK);
	assert_int_equal(found, 1);
	assert_int_equal(v->updated, T0 + 100);
	kta_state_log_free(v);
	kta_monitor_close(m);
	kta_config_free(cfg);
}

/*
 * A verified head of size v (0: none), a crash in the catch-up to P (900),
 * then the log (same key) shows a head of 950 whose history leaves P's
 * after leaf `same`: the resumed cycle reports one fork (against P, which
 * contains V, as when V is P), stores nothing and keeps the pending row.
 */
static void fork_after_crash(struct fx *f, int v, int same)
{
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	struct kta_publisher *pa = f->p, *pb;
	char adir[128];
	uint64_t done, left = 0;

	cfg = config_in(f, "int", "commit_every 256\n", "mon", "");
	m = open_mon(f, cfg, 0);
	if (v > 0) {
		add_many(f, 0, v, -1);
		cycle(m, &res);
		assert_int_equal(res.size, v);
	}
	add_many(f, v, 900, -1);
	done = interrupted(f, m, 600, &res);
	assert_true(done > (uint64_t)v && done < 900);
	kta_monitor_close(m);
	kta_config_free(cfg);
	pb = fork_log(f, same, 950, adir);
	cfg = config_in(f, "int", "commit_every 256\n", "mon", ""); /* B's URL, same state */
	m = open_mon(f, cfg, 0);
	cycle(m, &res);
	assert_int_equal(res.findings[KTA_SEV_CRITICAL], 1);
	assert_int_equal(res.new_alerts, 1);
	assert_string_equal(res.error_class, "fork");
	assert_int_equal(res.audited, 0);
	assert_int_equal(res.size, v);
	assert_int_equal(res.entries, 0);
	assert_int_equal(pending_done(m, &left), 1);
	assert_int_equal(left, done);
	kta_monitor_close(m);
	kta_config_free(cfg);
	unfork(f, pa, pb, adir);
}

/* The fork is after the leaves already replayed (leaf 768 > 512). */
static void test_chunked_fork_after_crash(void **state)
{
	fork_after_crash(*state, 0, 768);
}

/* The fork is below V (leaf 50 < 100). */
static void test_chunked_fork_below_v(void **state)
{
	fork_after_crash(*state, 100, 50);
}

/* No witnesses: a head's age counts from when its tree was first stored,
 * and for a pending catch-up's tree that is when the catch-up began. A
 * crash must not make a frozen log look fresh. */
static void test_chunked_age_kept(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	struct kta_monitor_log_status st;
	struct kta_state_log *v = NULL;
	struct kta_error err;
	int found = 0;

	add_many(f, 0, 900, -1);
	cfg = config_in(f, "int", "commit_every 256\n", "mon", "max_age 3600\n");
	m = open_mon(f, cfg, 0);
	f->now = T0 + 100;
	assert_int_equal(interrupted(f, m, 600, &res), 512);
	f->now = T0 + 5100;
	cycle(m, &res);
	assert_int_equal(res.findings[KTA_SEV_WARNING], 1);
	assert_string_equal(res.error_class, "stale");
	assert_int_equal(res.size, 900); /* finished all the same */
	kta_monitor_log_status(m, 0, &st);
	assert_int_equal(st.checkpoint_time, T0 + 100);
	assert_int_equal(kta_state_log_get(kta_monitor_state(m), ORIGIN, &found, &v, &err), KTA_OK);
	assert_int_equal(v->updated, T0 + 100);
	kta_state_log_free(v);
	f->now = T0 + 5200;
	cycle(m, &res);
	assert_string_equal(res.error_class, "stale");
	kta_monitor_log_status(m, 0, &st);
	assert_int_equal(st.checkpoint_time, T0 + 100);
	kta_monitor_close(m);
	kta_config_free(cfg);
}

/* The primary URL is down when a crashed catch-up resumes: P is read from
 * the mirror whose newer head was checked against it. */
static void test_chunked_resume_from_mirror(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	char adir[128], extra[256];
	uint64_t done = 0;

	add_many(f, 0, 900, -1);
	cfg = config_in(f, "int", "commit_every 256\n", "mon", "");
	m = open_mon(f, cfg, 0);
	done = interrupted(f, m, 600, &res);
	kta_monitor_close(m);
	kta_config_free(cfg);
	add_many(f, 900, 1000, -1);
	memcpy(adir, f->dir, sizeof(adir));
	(void)snprintf(extra, sizeof(extra), "mirror file://%s/\n", adir);
	(void)snprintf(f->dir, sizeof(f->dir), "%s/gone", f->base);
	cfg = config_in(f, "int", "commit_every 256\n", "mon", extra);
	m = open_mon(f, cfg, 0);
	cycle(m, &res);
	assert_string_equal(res.error_class, "unreachable"); /* the primary */
	assert_int_equal(res.size, 1000);
	assert_int_equal(res.entries, 1000 - done);
	assert_int_equal(pending_done(m, &done), 0);
	kta_monitor_close(m);
	kta_config_free(cfg);
	memcpy(f->dir, adir, sizeof(adir));
}

/* The alerts of shards (sink texts, one JSON object per line) are exactly
 * the whole log's (`whole`), each in the shard of its label. */
static void shards_partition(const char *whole, char *const *texts, uint32_t n)
{
	const char *p = whole, *nl;
	size_t in_shards = 0;
	uint32_t k;

	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		json_t *a = json_loadb(p, (size_t)(nl - p), 0, NULL);
		const char *id, *label;

		assert_non_null(a);
		id = json_string_value(json_object_get(a, "id"));
		label = json_string_value(json_object_get(a, "label"));
		assert_non_null(id);
		assert_non_null(label);
		assert_int_equal(kta_shard_of(label, strlen(label), n, &k, NULL), KTA_OK);
		if (strstr(texts[k], id) == NULL)
			fail_msg("alert %s (label %s) not in shard %u/%u", id, label, k, n);
		json_decref(a);
	}
	for (k = 0; k < n; k++)
		in_shards += count_lines_text(texts[k]);
	assert_int_equal(in_shards, count_lines_text(whole));
}

/* `shard K/N` (ktaudit.conf(5)): three shards of a log verify all of it and
 * raise between them exactly the whole log's alerts, each its own labels';
 * a state database is bound to its shard; commands on another shard's
 * labels are refused. */
static void test_shards(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {"s0", "s1", "s2"};
	struct kta_config *cw, *cs[3], *cbad;
	struct kta_monitor *mw, *ms[3], *mbad = NULL;
	struct kta_monitor_result res;
	struct kta_state_history_item *h = NULL;
	struct kta_entry_key key;
	struct kta_error err;
	char *tw, *ts[3], extra[32];
	size_t nh = 0;
	int round;
	uint32_t k;

	add_many(f, 0, 1000, -1);
	cw = config_in(f, "whole", "", "mon", "");
	mw = open_mon(f, cw, 0);
	for (k = 0; k < 3; k++) {
		(void)snprintf(extra, sizeof(extra), "shard %u/3\n", k);
		cs[k] = config_in(f, names[k], "commit_every 256\n", "mon", extra);
		ms[k] = open_mon(f, cs[k], 0);
	}
	assert_non_null(strstr(f->logs, "this state audits shard 2/3 of the labels"));
	for (round = 0; round < 2; round++) {
		if (round == 1)
			add_many(f, 1000, 1300, -1);
		cycle(mw, &res);
		assert_int_equal(res.size, round == 0 ? 1000 : 1300);
		for (k = 0; k < 3; k++) {
			f->logs[0] = '\0';
			cycle(ms[k], &res);
			/* every shard verifies (and steps through) the whole log */
			assert_int_equal(res.audited, 1);
			assert_int_equal(res.size, round == 0 ? 1000 : 1300);
			assert_int_equal(res.entries, round == 0 ? 1000 : 300);
			assert_non_null(strstr(f->logs, "auditing the labels of shard"));
		}
		tw = delivered(f, mw, "whole");
		for (k = 0; k < 3; k++)
			ts[k] = delivered(f, ms[k], names[k]);
		shards_partition(tw, ts, 3);
		if (round == 0) {
			/* c48 is shard 1's; c145, c339 shard 0's; c242, c436 shard 2's */
			assert_int_equal(count_lines_text(ts[0]), 2);
			assert_int_equal(count_lines_text(ts[1]), 1);
			assert_int_equal(count_lines_text(ts[2]), 2);
		}
		free(tw);
		for (k = 0; k < 3; k++)
			free(ts[k]);
	}
	/* a shard's index holds its labels only */
	assert_int_equal(kta_state_history(kta_monitor_state(ms[1]), ORIGIN, "c48", &h, &nh, NULL),
			 KTA_OK);
	assert_int_equal(nh, 2);
	kta_state_history_free(h, nh);
	assert_int_equal(kta_state_history(kta_monitor_state(ms[0]), ORIGIN, "c48", &h, &nh, NULL),
			 KTA_OK);
	assert_int_equal(nh, 0);
	kta_state_history_free(h, nh);
	/* commands on another shard's label point at its shard */
	assert_int_equal(kta_monitor_label_check(ms[0], 0, "c48", &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "\"c48\" is in shard 1/3"));
	assert_non_null(strstr(err.msg, "audits shard 0/3 of log mon"));
	assert_int_equal(kta_monitor_label_check(ms[1], 0, "c48", &err), KTA_OK);
	assert_int_equal(kta_monitor_label_check(ms[1], 1, "c48", &err), KTA_ERR_USAGE);
	assert_int_equal(kta_monitor_label_check(mw, 0, "c48", &err), KTA_OK);
	memset(&key, 0, sizeof(key));
	key.alg = KTA_ENTRY_ALG_ED25519;
	memcpy(key.pub, f->upub[0], 32);
	key.device = "phone";
	assert_int_equal(
	    kta_monitor_watch_add(ms[0], 0, "c48", KTA_WATCH_PINNED, &key, 1, NULL, &err),
	    KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "shard 1/3"));
	assert_int_equal(kta_monitor_watch_approve(ms[0], 0, "c48", 1, &err), KTA_ERR_USAGE);
	assert_int_equal(
	    kta_monitor_watch_add(ms[0], 0, "c145", KTA_WATCH_TOFU, NULL, 0, NULL, &err), KTA_OK);
	/* the metrics name the shard, so that a missing one can be noticed */
	{
		char *text = NULL;

		assert_int_equal(kta_monitor_metrics(ms[1], 0, &text, &err), KTA_OK);
		assert_non_null(strstr(text, "ktaudit_shard{log=\"mon\",shard=\"1/3\"} 1\n"));
		free(text);
		assert_int_equal(kta_monitor_metrics(mw, 0, &text, &err), KTA_OK);
		assert_null(strstr(text, "ktaudit_shard{"));
		free(text);
	}
	for (k = 0; k < 3; k++) {
		kta_monitor_close(ms[k]);
		kta_config_free(cs[k]);
	}
	kta_monitor_close(mw);
	kta_config_free(cw);

	/* a state database is read only as the shard it was audited as */
	cbad = config_in(f, "s0", "", "mon", "shard 1/3\n");
	assert_int_equal(kta_monitor_open(cbad, NULL, &mbad, &err), KTA_ERR_USAGE);
	assert_null(mbad);
	assert_non_null(
	    strstr(err.msg, "audited as shard 0/3, the configuration asks for shard 1/3"));
	kta_config_free(cbad);
	cbad = config_in(f, "s0", "", "mon", "");
	assert_int_equal(kta_monitor_open(cbad, NULL, &mbad, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "asks for every label"));
	kta_config_free(cbad);
	cbad = config_in(f, "whole", "", "mon", "shard 0/3\n");
	assert_int_equal(kta_monitor_open(cbad, NULL, &mbad, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "audited as every label"));
	kta_config_free(cbad);
}

static void test_offline_and_watches(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	struct kta_state_watch *w = NULL;
	struct kta_entry_key keys[2];
	struct kta_error err;
	int alerted = -1, found = 0;
	size_t log = 9;

	add(f, "alice", 0, NULL);
	publish(f, -1);
	cfg = config(f, "mon", "");
	m = open_mon(f, cfg, 0);
	cycle(m, &res);
	kta_monitor_close(m);

	m = open_mon(f, cfg, 1);
	assert_int_equal(kta_monitor_cycle(m, 0, &res, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_monitor_find_log(m, NULL, &log, NULL), KTA_OK);
	assert_int_equal(log, 0);
	assert_int_equal(kta_monitor_find_log(m, "mon", &log, NULL), KTA_OK);
	assert_int_equal(kta_monitor_find_log(m, "other", &log, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "other"));
	assert_int_equal(kta_monitor_watch_approve(m, 0, "alice", 1, NULL), KTA_ERR_USAGE);
	assert_int_equal(kta_monitor_watch_add(m, 5, "alice", KTA_WATCH_TOFU, NULL, 0, NULL, NULL),
			 KTA_ERR_USAGE);

	/* a pin in any order, canonicalized; it differs from alice's key: alerted now */
	memset(keys, 0, sizeof(keys));
	keys[0].alg = KTA_ENTRY_ALG_X25519;
	memcpy(keys[0].pub, f->upub[2], 32);
	keys[0].device = strdup("phone");
	keys[1].alg = KTA_ENTRY_ALG_ED25519;
	memcpy(keys[1].pub, f->upub[1], 32);
	keys[1].device = strdup("phone");
	assert_int_equal(
	    kta_monitor_watch_add(m, 0, "alice", KTA_WATCH_PINNED, keys, 2, &alerted, &err),
	    KTA_OK);
	assert_int_equal(alerted, 1);
	assert_int_equal(
	    kta_state_watch_get(kta_monitor_state(m), ORIGIN, "alice", &found, &w, NULL), KTA_OK);
	assert_int_equal(found, 1);
	assert_int_equal(w->nkeys, 2);
	assert_int_equal(w->keys[0].alg, KTA_ENTRY_ALG_ED25519);
	kta_state_watch_free(w);
	/* (sorted in place: keys[0] is the ed25519 one now) her own key: no
	 * alert; tofu takes the current set */
	assert_int_equal(keys[0].alg, KTA_ENTRY_ALG_ED25519);
	memcpy(keys[0].pub, f->upub[0], 32);
	assert_int_equal(
	    kta_monitor_watch_add(m, 0, "alice", KTA_WATCH_PINNED, &keys[0], 1, &alerted, NULL),
	    KTA_OK);
	assert_int_equal(alerted, 0);
	assert_int_equal(
	    kta_monitor_watch_add(m, 0, "alice", KTA_WATCH_TOFU, NULL, 0, &alerted, NULL), KTA_OK);
	assert_int_equal(alerted, 0);
	assert_int_equal(kta_monitor_watch_approve(m, 0, "alice", 1, NULL), KTA_OK);
	assert_int_equal(kta_monitor_watch_approve(m, 0, "alice", 2, NULL), KTA_ERR_USAGE);
	/* a duplicate key is refused */
	keys[1].alg = KTA_ENTRY_ALG_ED25519;
	memcpy(keys[1].pub, keys[0].pub, 32);
	assert_int_not_equal(
	    kta_monitor_watch_add(m, 0, "bob", KTA_WATCH_PINNED, keys, 2, &alerted, NULL), KTA_OK);
	free(keys[0].device);
	free(keys[1].device);
	kta_monitor_close(m);
	kta_config_free(cfg);
}

static void test_config_watch_applied(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	char extra[512], b64[KTA_B64_ENCODED_LEN(32) + 1];

	add(f, "alice", 0, NULL);
	publish(f, -1);
	cfg = config(f, "mon", "");
	m = open_mon(f, cfg, 0);
	cycle(m, &res);
	kta_monitor_close(m);
	kta_config_free(cfg);
	/* a pin in the configuration that differs from the current set: alert at open */
	kta_b64_encode(f->upub[1], 32, b64);
	(void)snprintf(extra, sizeof(extra), "watch alice ed25519:%s:phone\n", b64);
	cfg = config(f, "mon", extra);
	f->logs[0] = '\0';
	m = open_mon(f, cfg, 1);
	assert_non_null(strstr(f->logs, "key_changed"));
	kta_monitor_close(m);
	/* opening again changes nothing (the pin is stored) */
	f->logs[0] = '\0';
	m = open_mon(f, cfg, 1);
	assert_null(strstr(f->logs, "key_changed"));
	kta_monitor_close(m);
	kta_config_free(cfg);
}

/* SQLite's answer to one statement on db_path from a connection of its
 * own that does not wait for locks. */
static int raw_exec(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/*
 * opts.exclusive: the configuration's watches are applied, and logged once
 * each after their commit; the state is locked to everyone else through a
 * cycle; kta_monitor_share_state gives it back (another connection reads
 * and writes while the monitor is still open), and the monitor goes on.
 */
static void test_exclusive_share(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg;
	struct kta_monitor *m;
	struct kta_monitor_result res;
	struct kta_error err;
	char db[128];
	const char *p;

	add(f, "alice", 0, NULL);
	add(f, "bob", 1, NULL);
	publish(f, -1);
	cfg = config(f, "mon", "watch alice tofu\nwatch carol tofu\n");
	(void)snprintf(db, sizeof(db), "%s/state/state.db", f->base);
	f->logs[0] = '\0';
	m = open_mon_x(f, cfg, 0, 1);
	p = strstr(f->logs, "watching alice");
	assert_non_null(p);
	assert_null(strstr(p + 1, "watching alice"));
	assert_non_null(strstr(f->logs, "watching carol"));
	assert_int_equal(raw_exec(db, "SELECT COUNT(*) FROM watches"), SQLITE_BUSY);
	cycle(m, &res);
	assert_true(res.audited);
	assert_int_equal(raw_exec(db, "SELECT COUNT(*) FROM labels"), SQLITE_BUSY);
	assert_int_equal(kta_monitor_share_state(m, &err), KTA_OK);
	assert_int_equal(kta_monitor_share_state(m, &err), KTA_OK); /* again: nothing to do */
	assert_int_equal(raw_exec(db, "SELECT COUNT(*) FROM labels"), SQLITE_OK);
	assert_int_equal(raw_exec(db, "CREATE TABLE scratch(x); DROP TABLE scratch"), SQLITE_OK);
	add(f, "dave", 2, NULL);
	publish(f, -1);
	cycle(m, &res);
	assert_true(res.audited);
	assert_int_equal(res.size, 3);
	kta_monitor_close(m);
	/* the watches stored: opening again adds none */
	f->logs[0] = '\0';
	m = open_mon(f, cfg, 1);
	assert_null(strstr(f->logs, "watching"));
	kta_monitor_close(m);
	kta_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_opts_init),
	    cmocka_unit_test_setup_teardown(test_exclusive_share, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_run_and_growth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable_once_per_day, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_witness_policy_and_age, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_catch_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_watch_between_chunks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_fork_after_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_finish_without_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_fork_below_v, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_age_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_resume_from_mirror, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shards, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offline_and_watches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_watch_applied, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
