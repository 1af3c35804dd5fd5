/*
 * Unit tests for the delivery loop over a real state database (state.h) and
 * real sinks: a webhook receiver (tests/tools/webhook_receiver.py) that
 * fails and then recovers, another that always accepts, and files.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktaudit/alert.h"
#include "ktaudit/config.h"
#include "ktaudit/deliver.h"
#include "ktaudit/file.h"
#include "ktaudit/state.h"

#define T0 1764140000

struct fixture {
	char dir[64];
	struct kta_state *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char sdir[128];
	struct kta_error e;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kta-deliver-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(sdir, sizeof(sdir), "%s/state", f->dir);
	if (kta_state_open(sdir, &f->st, &e) != KTA_OK)
		fail_msg("%s", e.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kta_state_close(f->st);
	(void)tu_rm_tree(f->dir);
	free(f);
	return 0;
}

/* Stores a new alert (distinct by `size`) and returns its id in id[33]. */
static void add_alert(struct kta_state *st, uint64_t size, char id[33])
{
	struct kta_alert *a;
	char msg[64];
	struct kta_error e;
	int added = 0;

	snprintf(msg, sizeof(msg), "checkpoint at size %llu too old", (unsigned long long)size);
	assert_int_equal(kta_alert_new(KTA_ALERT_STALE, "example.com/dir", T0, msg, &a, NULL),
			 KTA_OK);
	a->size = size;
	assert_int_equal(kta_alert_set_id(a, NULL), KTA_OK);
	if (kta_state_alert_add(st, a, &added, &e) != KTA_OK)
		fail_msg("%s", e.msg);
	assert_int_equal(added, 1);
	memcpy(id, a->id, 33);
	kta_alert_free(a);
}

static void register_sinks(struct kta_state *st, const struct kta_sink_config *s, size_t n,
			   int64_t now)
{
	struct kta_error e;
	size_t i;

	for (i = 0; i < n; i++)
		if (kta_state_sink_register(st, s[i].name, now, NULL, &e) != KTA_OK)
			fail_msg("%s", e.msg);
}

static void deliver(struct fixture *f, const struct kta_sink_config *s, size_t n, int64_t now,
		    struct kta_deliver_stats *stats)
{
	struct kta_error e;

	kta_error_clear(&e);
	if (kta_deliver_pending(f->st, s, n, now, stats, &e) != KTA_OK)
		fail_msg("deliver: %s", e.msg);
}

static uint64_t pending(struct fixture *f, const struct kta_sink_config *s, size_t n)
{
	const char *names[8];
	uint64_t count = 0;
	size_t i;

	for (i = 0; i < n; i++)
		names[i] = s[i].name;
	assert_int_equal(kta_state_alerts_pending_count(f->st, names, n, &count, NULL), KTA_OK);
	return count;
}

static char *read_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	struct kta_error e;

	if (kta_file_read(path, 64u << 20, &buf, &n, &e) != KTA_OK)
		fail_msg("%s", e.msg);
	return (char *)buf;
}

/* ---- the webhook receiver ---- */

struct receiver {
	pid_t pid;
	int port;
	char log[160];
	char url[128];
};

static void receiver_start(struct receiver *r, const char *dir, const char *tag,
			   const char *fail_file)
{
	char portfile[160], script[4096];
	const char *argv[12];
	size_t n = 0;
	int tries;

	snprintf(portfile, sizeof(portfile), "%s/port-%s", dir, tag);
	snprintf(r->log, sizeof(r->log), "%s/requests-%s.jsonl", dir, tag);
	snprintf(script, sizeof(script), "%s/tests/tools/webhook_receiver.py", KTA_SRCDIR);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	argv[n++] = "--log";
	argv[n++] = r->log;
	if (fail_file != NULL) {
		argv[n++] = "--fail-file";
		argv[n++] = fail_file;
	}
	argv[n] = NULL;
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* never outlive the test, never hold its output pipes open */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (null >= 0) {
			(void)dup2(null, 0);
			(void)dup2(null, 1);
			(void)dup2(null, 2);
		}
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	for (tries = 0; tries < 3000; tries++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		FILE *fp = fopen(portfile, "r");

		if (fp != NULL) {
			char line[32];

			/* written atomically: one decimal port number and a newline */
			assert_non_null(fgets(line, sizeof(line), fp));
			r->port = (int)tu_parse_long(line, 1, 65535);
			fclose(fp);
			snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/%s", r->port, tag);
			return;
		}
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid)
			fail_msg("webhook receiver exited early");
		nanosleep(&ts, NULL);
	}
	fail_msg("webhook receiver did not start");
}

static void receiver_stop(struct receiver *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
		r->pid = -1;
	}
}

/* The recorded requests: n, and for each its status and Idempotency-Key. */
struct request {
	int status;
	char key[33];
	char id_in_body[33];
};

static size_t receiver_requests(const struct receiver *r, struct request *out, size_t max)
{
	FILE *fp = fopen(r->log, "r");
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;

	if (fp == NULL)
		return 0;
	while ((len = getline(&line, &cap, fp)) > 0) {
		json_error_t je;
		json_t *j = json_loadb(line, (size_t)len, 0, &je), *body;
		const char *k, *b;

		assert_non_null(j);
		assert_true(n < max);
		out[n].status = (int)json_integer_value(json_object_get(j, "status"));
		k = json_string_value(
		    json_object_get(json_object_get(j, "headers"), "idempotency-key"));
		assert_non_null(k);
		assert_int_equal(strlen(k), 32);
		memcpy(out[n].key, k, 33);
		b = json_string_value(json_object_get(j, "body"));
		assert_non_null(b);
		body = json_loads(b, 0, &je);
		assert_non_null(body);
		b = json_string_value(json_object_get(body, "id"));
		assert_non_null(b);
		assert_int_equal(strlen(b), 32);
		memcpy(out[n].id_in_body, b, 33);
		json_decref(body);
		json_decref(j);
		n++;
	}
	free(line);
	fclose(fp);
	return n;
}

static struct kta_sink_config webhook(const char *name, const char *url)
{
	struct kta_sink_config s;

	memset(&s, 0, sizeof(s));
	s.type = KTA_SINK_WEBHOOK;
	s.name = (char *)name;
	s.target = (char *)url;
	s.timeout = 30;
	return s;
}

static struct kta_sink_config file_sink(const char *name, const char *path)
{
	struct kta_sink_config s;

	memset(&s, 0, sizeof(s));
	s.type = KTA_SINK_FILE;
	s.name = (char *)name;
	s.target = (char *)path;
	return s;
}

static void no_proxies(void)
{
	static const char *const vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
					   "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void touch(const char *path)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fclose(fp);
}

/* ---- tests ---- */

static void backoff_schedule(void **state)
{
	const char *id = "0123456789abcdef0123456789abcdef";
	uint64_t w;
	uint32_t n;
	unsigned distinct = 0;
	uint64_t first = 0;
	char other[33];
	int i;

	(void)state;
	for (n = 1; n <= 12; n++) {
		uint64_t d = KTA_DELIVER_BACKOFF_BASE;
		uint32_t k;

		for (k = 1; k < n && d < KTA_DELIVER_BACKOFF_MAX; k++)
			d *= 2;
		if (d > KTA_DELIVER_BACKOFF_MAX)
			d = KTA_DELIVER_BACKOFF_MAX;
		w = kta_deliver_backoff(id, "webhook:x", n);
		assert_true(w <= d);
		assert_true(w >= d - d / 4);
		/* deterministic */
		assert_int_equal(w, kta_deliver_backoff(id, "webhook:x", n));
	}
	assert_true(kta_deliver_backoff(id, "s", 1) >= 8);
	assert_true(kta_deliver_backoff(id, "s", 1) <= 10);
	assert_int_equal(kta_deliver_backoff(id, "s", 0), kta_deliver_backoff(id, "s", 1));
	assert_true(kta_deliver_backoff(id, "s", UINT32_MAX) <= KTA_DELIVER_BACKOFF_MAX);
	assert_true(kta_deliver_backoff(id, "s", UINT32_MAX) >= KTA_DELIVER_BACKOFF_MAX * 3 / 4);
	assert_true(kta_deliver_backoff(NULL, NULL, 1) >= 1);
	/* jitter differs between alerts: not all in lockstep */
	for (i = 0; i < 50; i++) {
		snprintf(other, sizeof(other), "%032x", i);
		w = kta_deliver_backoff(other, "webhook:x", 8);
		if (i == 0)
			first = w;
		else if (w != first)
			distinct++;
	}
	assert_true(distinct > 0);
}

/*
 * The scenario of the brief: two alerts pending for a good and a bad sink.
 * The good one gets each exactly once; the bad one is retried with backoff
 * and gets both, in order, once the receiver recovers.
 */
static void good_and_failing_sink(void **state)
{
	struct fixture *f = *state;
	struct receiver good, bad;
	struct kta_sink_config sinks[3];
	struct kta_deliver_stats stats;
	struct request req[16];
	char fail_file[128], id1[33], id2[33], path[128];
	char *content;
	int64_t now = T0, due1, due2;
	size_t n;

	/* entries past the count receiver_requests() returns are never compared
	 * (the count is asserted first), but zero them so no path reads garbage */
	memset(req, 0, sizeof(req));
	no_proxies();
	snprintf(fail_file, sizeof(fail_file), "%s/bad-is-down", f->dir);
	touch(fail_file);
	receiver_start(&good, f->dir, "good", NULL);
	receiver_start(&bad, f->dir, "bad", fail_file);
	snprintf(path, sizeof(path), "%s/alerts.jsonl", f->dir);
	/* the failing sink first: it must not hold up the others */
	sinks[0] = webhook("webhook:bad", bad.url);
	sinks[1] = webhook("webhook:good", good.url);
	sinks[2] = file_sink("file:alerts", path);
	register_sinks(f->st, sinks, 3, now);
	add_alert(f->st, 100, id1);
	add_alert(f->st, 200, id2);
	assert_int_equal(pending(f, sinks, 3), 2);

	/* 1st call: good and file get both; bad fails its first attempt and stops */
	deliver(f, sinks, 3, now, &stats);
	assert_int_equal(stats.attempted, 5);
	assert_int_equal(stats.delivered, 4);
	assert_int_equal(stats.failed, 1);
	assert_int_equal(stats.sinks_failing, 1);
	assert_int_equal(stats.next_due, now + (int64_t)kta_deliver_backoff(id1, "webhook:bad", 1));
	assert_int_not_equal(stats.last.status, KTA_OK);
	assert_non_null(strstr(stats.last.msg, "HTTP status 500"));
	due1 = stats.next_due;
	n = receiver_requests(&good, req, 16);
	assert_int_equal(n, 2);
	assert_string_equal(req[0].key, id1);
	assert_string_equal(req[0].id_in_body, id1);
	assert_string_equal(req[1].key, id2);
	n = receiver_requests(&bad, req, 16);
	assert_int_equal(n, 1);
	assert_int_equal(req[0].status, 500);
	assert_string_equal(req[0].key, id1);
	assert_int_equal(pending(f, sinks, 3), 2); /* both still owed to the bad sink */

	/* 2nd call at the same time: alert 1 is not due; alert 2 is tried once */
	deliver(f, sinks, 3, now, &stats);
	assert_int_equal(stats.attempted, 1);
	assert_int_equal(stats.delivered, 0);
	assert_int_equal(stats.failed, 1);
	assert_int_equal(stats.next_due, now + (int64_t)kta_deliver_backoff(id2, "webhook:bad", 1));
	due2 = stats.next_due;
	assert_int_equal(receiver_requests(&bad, req, 16), 2);
	assert_string_equal(req[1].key, id2);
	assert_int_equal(receiver_requests(&good, req, 16), 2);

	/* before the backoff expires nothing is attempted */
	deliver(f, sinks, 3, (due1 < due2 ? due1 : due2) - 1, &stats);
	assert_int_equal(stats.attempted, 0);
	assert_int_equal(stats.next_due, 0);
	assert_int_equal(receiver_requests(&bad, req, 16), 2);

	/* still down when both are due: the oldest is tried, fails and backs off
	 * further; the sink is not tried again in this call */
	now = due1 > due2 ? due1 : due2;
	deliver(f, sinks, 3, now, &stats);
	assert_int_equal(stats.attempted, 1);
	assert_int_equal(stats.failed, 1);
	assert_int_equal(stats.next_due, now + (int64_t)kta_deliver_backoff(id1, "webhook:bad", 2));
	assert_true(stats.next_due - now > (int64_t)kta_deliver_backoff(id1, "webhook:bad", 1));
	assert_int_equal(receiver_requests(&bad, req, 16), 3);
	assert_string_equal(req[2].key, id1);

	/* the receiver recovers; once both are due they arrive, in order */
	assert_int_equal(unlink(fail_file), 0);
	now += 3600;
	deliver(f, sinks, 3, now, &stats);
	assert_int_equal(stats.attempted, 2);
	assert_int_equal(stats.delivered, 2);
	assert_int_equal(stats.failed, 0);
	assert_int_equal(stats.sinks_failing, 0);
	assert_int_equal(stats.last.status, KTA_OK);
	n = receiver_requests(&bad, req, 16);
	assert_int_equal(n, 5);
	assert_int_equal(req[3].status, 200);
	assert_string_equal(req[3].key, id1);
	assert_int_equal(req[4].status, 200);
	assert_string_equal(req[4].key, id2);
	assert_int_equal(pending(f, sinks, 3), 0);

	/* nothing more, ever: no duplicates to any sink */
	deliver(f, sinks, 3, now + 100000, &stats);
	assert_int_equal(stats.attempted, 0);
	receiver_stop(&good);
	receiver_stop(&bad);
	assert_int_equal(receiver_requests(&good, req, 16), 2);
	assert_int_equal(receiver_requests(&bad, req, 16), 5);
	content = read_file(path);
	{
		size_t lines = 0;
		const char *p;

		for (p = content; *p != '\0'; p++)
			lines += *p == '\n';
		assert_int_equal(lines, 2);
		assert_non_null(strstr(content, id1));
		assert_true(strstr(content, id1) < strstr(content, id2));
	}
	free(content);
}

/* The retry delay doubles with each failed attempt (through the state). */
static void exponential_backoff(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s;
	struct kta_deliver_stats stats;
	char id[33], path[128], dir[128];
	int64_t now = T0, prev_wait = 0;
	uint32_t k;

	/* a file sink whose directory does not exist fails every time */
	snprintf(path, sizeof(path), "%s/no-such-dir/alerts.jsonl", f->dir);
	s = file_sink("file:broken", path);
	register_sinks(f->st, &s, 1, now);
	add_alert(f->st, 1, id);
	for (k = 1; k <= 11; k++) {
		int64_t wait;

		deliver(f, &s, 1, now, &stats);
		assert_int_equal(stats.attempted, 1);
		assert_int_equal(stats.failed, 1);
		assert_non_null(strstr(stats.last.msg, "no-such-dir"));
		wait = stats.next_due - now;
		assert_int_equal(wait, (int64_t)kta_deliver_backoff(id, "file:broken", k));
		if (k > 1 && wait < KTA_DELIVER_BACKOFF_MAX * 3 / 4)
			assert_true(wait > prev_wait);
		assert_true(wait <= KTA_DELIVER_BACKOFF_MAX);
		prev_wait = wait;
		/* not due a second earlier */
		deliver(f, &s, 1, stats.next_due - 1, &stats);
		assert_int_equal(stats.attempted, 0);
		now += wait;
	}
	/* capped at one hour */
	assert_true(prev_wait >= KTA_DELIVER_BACKOFF_MAX * 3 / 4);
	/* the directory appears: delivered */
	snprintf(dir, sizeof(dir), "%s/no-such-dir", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	deliver(f, &s, 1, now, &stats);
	if (stats.delivered != 1)
		fail_msg("attempted %llu, failed %llu: %s", (unsigned long long)stats.attempted,
			 (unsigned long long)stats.failed, stats.last.msg);
	assert_int_equal(pending(f, &s, 1), 0);
}

/* At most KTA_DELIVER_BATCH alerts per sink per call. */
static void bounded_batches(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s;
	struct kta_deliver_stats stats;
	char id[33], path[128];
	uint64_t i, total = KTA_DELIVER_BATCH + 8;

	snprintf(path, sizeof(path), "%s/a.jsonl", f->dir);
	s = file_sink("file:a", path);
	register_sinks(f->st, &s, 1, T0);
	for (i = 0; i < total; i++)
		add_alert(f->st, 1000 + i, id);
	deliver(f, &s, 1, T0, &stats);
	assert_int_equal(stats.delivered, KTA_DELIVER_BATCH);
	assert_int_equal(pending(f, &s, 1), total - KTA_DELIVER_BATCH);
	deliver(f, &s, 1, T0, &stats);
	assert_int_equal(stats.delivered, total - KTA_DELIVER_BATCH);
	assert_int_equal(pending(f, &s, 1), 0);
	deliver(f, &s, 1, T0, &stats);
	assert_int_equal(stats.attempted, 0);
}

/* Only alerts stored after a sink's registration; unregistered sinks are skipped. */
static void registration(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s[2];
	struct kta_deliver_stats stats;
	char id_old[33], id_new[33], p1[128], p2[128], *c;

	snprintf(p1, sizeof(p1), "%s/one.jsonl", f->dir);
	snprintf(p2, sizeof(p2), "%s/two.jsonl", f->dir);
	s[0] = file_sink("file:unregistered", p1);
	s[1] = file_sink("file:two", p2);
	add_alert(f->st, 1, id_old);
	register_sinks(f->st, &s[1], 1, T0);
	add_alert(f->st, 2, id_new);
	deliver(f, s, 2, T0, &stats);
	assert_int_equal(stats.sinks_failing, 1); /* the unregistered one */
	assert_int_equal(stats.delivered, 1);
	assert_int_not_equal(stats.last.status, KTA_OK);
	c = read_file(p2);
	assert_null(strstr(c, id_old));
	assert_non_null(strstr(c, id_new));
	free(c);
	assert_int_equal(access(p1, F_OK), -1);
}

/* A stored alert whose JSON is damaged is retried, and blocks no other alert. */
static void damaged_alert(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s;
	struct kta_deliver_stats stats;
	char id1[33], id2[33], path[128], db[128], sql[256], *c;
	sqlite3 *h;

	snprintf(path, sizeof(path), "%s/a.jsonl", f->dir);
	s = file_sink("file:a", path);
	register_sinks(f->st, &s, 1, T0);
	add_alert(f->st, 1, id1);
	add_alert(f->st, 2, id2);
	snprintf(db, sizeof(db), "%s/state/%s", f->dir, KTA_STATE_DB_NAME);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 10000);
	snprintf(sql, sizeof(sql), "UPDATE alerts SET json = '{\"id\": 1' WHERE id = '%s'", id1);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	deliver(f, &s, 1, T0, &stats);
	assert_int_equal(stats.delivered, 1);
	assert_int_equal(stats.failed, 1);
	assert_int_equal(stats.attempted, 1);
	assert_non_null(strstr(stats.last.msg, id1));
	c = read_file(path);
	assert_null(strstr(c, id1));
	assert_non_null(strstr(c, id2));
	free(c);
	assert_int_equal(pending(f, &s, 1), 1);
}

static void bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct kta_deliver_stats stats;
	struct kta_error e;

	assert_int_equal(kta_deliver_pending(NULL, NULL, 0, T0, &stats, &e), KTA_ERR_USAGE);
	assert_int_equal(kta_deliver_pending(f->st, NULL, 1, T0, &stats, &e), KTA_ERR_USAGE);
	/* no sinks: nothing to do */
	assert_int_equal(kta_deliver_pending(f->st, NULL, 0, T0, NULL, &e), KTA_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(backoff_schedule),
	    cmocka_unit_test_setup_teardown(good_and_failing_sink, setup, teardown),
	    cmocka_unit_test_setup_teardown(exponential_backoff, setup, teardown),
	    cmocka_unit_test_setup_teardown(bounded_batches, setup, teardown),
	    cmocka_unit_test_setup_teardown(registration, setup, teardown),
	    cmocka_unit_test_setup_teardown(damaged_alert, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
