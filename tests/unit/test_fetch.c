/*
 * Unit tests for the libcurl fetch layer, against tests/tools/hostile_server.py
 * (started once per run on free loopback ports, HTTP and HTTPS with a CA made
 * by tests/tools/mkca.sh) and file:// URLs.
 *
 * Retry waits go through the fetcher's delay hook, which records the wait the
 * policy asked for and returns 0, so Retry-After and backoff are checked
 * without sleeping. The server exits when its stdin (our pipe) closes, so it
 * does not outlive this process even if a test crashes.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "ktaudit/encoding.h"
#include "ktaudit/fetch.h"

#define NOBJ 50

struct env {
	char dir[64];     /* temporary directory */
	pid_t server;     /* hostile_server.py */
	int server_stdin; /* our end of its stdin */
	unsigned http_port, https_port;
	unsigned dead_port; /* bound, never listening: connections are refused */
	int dead_fd;
	char ca1[128], ca2[128]; /* server CA, and an unrelated CA */
};

struct delays {
	unsigned n;
	unsigned ms[16];
};

static unsigned record_delay(void *ctx, unsigned ms)
{
	struct delays *d = ctx;

	if (d->n < 16)
		d->ms[d->n] = ms;
	d->n++;
	return 0;
}

static int cancel_after(void *ctx)
{
	unsigned *calls = ctx;

	return ++*calls > 1;
}

/* ---- environment ---- */

static int run_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int mkca(const char *outdir)
{
	char script[4096];
	const char *argv[] = {"sh", script, outdir, NULL};

	(void)snprintf(script, sizeof(script), "%s/tests/tools/mkca.sh", KTA_SRCDIR);
	return tu_run(argv, 0);
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	int ok;

	if (fp == NULL)
		return -1;
	ok = fwrite(data, 1, len, fp) == len;
	return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Content of /files/objI: distinct and of varying length. */
static size_t obj_content(unsigned i, char *out, size_t cap)
{
	size_t n = 0, k;

	for (k = 0; k <= i * 37 && n + 32 < cap; k += 7)
		n += (size_t)snprintf(out + n, cap - n, "object %u line %zu\n", i, k);
	return n;
}

static int read_ports(struct env *e, int fd)
{
	char line[64];
	size_t n = 0;
	const char *sp;
	uint64_t v;

	while (n < sizeof(line) - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		if (poll(&p, 1, 15000) <= 0)
			return -1;
		r = read(fd, line + n, 1);
		if (r <= 0)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	sp = strchr(line, ' ');
	if (sp == NULL || kta_parse_u64(line, (size_t)(sp - line), &v, NULL) != KTA_OK || v == 0 ||
	    v > 65535)
		return -1;
	e->http_port = (unsigned)v;
	if (kta_parse_u64(sp + 1, strlen(sp + 1), &v, NULL) != KTA_OK || v == 0 || v > 65535)
		return -1;
	e->https_port = (unsigned)v;
	return 0;
}

static int start_server(struct env *e)
{
	char script[4096], www[128], cert[128], key[128];
	int in[2], out[2];
	pid_t pid;

	(void)snprintf(script, sizeof(script), "%s/tests/tools/hostile_server.py", KTA_SRCDIR);
	(void)snprintf(www, sizeof(www), "%s/www", e->dir);
	(void)snprintf(cert, sizeof(cert), "%s/ca1/server.pem", e->dir);
	(void)snprintf(key, sizeof(key), "%s/ca1/server.key", e->dir);
	if (pipe(in) != 0)
		return -1;
	if (pipe(out) != 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
#ifdef __linux__
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(127);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execlp("python3", "python3", "-u", script, "--dir", www, "--tls-cert", cert,
		       "--tls-key", key, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	e->server = pid;
	e->server_stdin = in[1];
	(void)fcntl(in[1], F_SETFD, FD_CLOEXEC);
	if (read_ports(e, out[0]) != 0) {
		close(out[0]);
		return -1;
	}
	close(out[0]);
	return 0;
}

static int dead_port(struct env *e)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	e->dead_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (e->dead_fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(e->dead_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(e->dead_fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	e->dead_port = ntohs(a.sin_port);
	return 0;
}

static int teardown_env(void **state)
{
	struct env *e = *state;

	if (e == NULL)
		return 0;
	if (e->server_stdin >= 0)
		close(e->server_stdin);
	if (e->server > 0) {
		(void)kill(e->server, SIGKILL);
		(void)run_wait(e->server);
	}
	if (e->dead_fd >= 0)
		close(e->dead_fd);
	if (e->dir[0] != '\0')
		(void)tu_rm_tree(e->dir);
	free(e);
	*state = NULL;
	return 0;
}

static int setup_env(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char path[256], buf[8192];
	unsigned i;

	*state = e;
	if (e == NULL)
		return -1;
	e->server_stdin = -1;
	e->dead_fd = -1;
	(void)snprintf(e->dir, sizeof(e->dir), "/tmp/kta-fetch-XXXXXX");
	if (mkdtemp(e->dir) == NULL) {
		e->dir[0] = '\0';
		goto fail;
	}
	(void)snprintf(path, sizeof(path), "%s/www", e->dir);
	if (mkdir(path, 0700) != 0)
		goto fail;
	for (i = 0; i < NOBJ; i++) {
		size_t n = obj_content(i, buf, sizeof(buf));

		(void)snprintf(path, sizeof(path), "%s/www/obj%u", e->dir, i);
		if (write_file(path, buf, n) != 0)
			goto fail;
	}
	(void)snprintf(path, sizeof(path), "%s/www/empty", e->dir);
	if (write_file(path, "", 0) != 0)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/ca1", e->dir);
	if (mkca(path) != 0)
		goto fail;
	(void)snprintf(e->ca1, sizeof(e->ca1), "%s/ca1/ca.pem", e->dir);
	(void)snprintf(path, sizeof(path), "%s/ca2", e->dir);
	if (mkca(path) != 0)
		goto fail;
	(void)snprintf(e->ca2, sizeof(e->ca2), "%s/ca2/ca.pem", e->dir);
	if (dead_port(e) != 0 || start_server(e) != 0)
		goto fail;
	return 0;
fail:
	(void)teardown_env(state);
	return -1;
}

/* ---- helpers ---- */

static void test_opts(struct kta_fetch_opts *o, struct delays *d)
{
	kta_fetch_opts_init(o);
	o->schemes = "https,http,file";
	o->connect_timeout_ms = 5000;
	o->timeout_ms = 10000;
	o->max_retries = 2;
	o->backoff_base_ms = 10;
	o->backoff_max_ms = 1000;
	o->retry_after_max_s = 30;
	o->jitter_seed = 42;
	if (d != NULL) {
		memset(d, 0, sizeof(*d));
		o->delay_hook = record_delay;
		o->delay_ctx = d;
	}
}

static struct kta_fetcher *new_fetcher(const struct kta_fetch_opts *o)
{
	struct kta_fetcher *f = NULL;
	struct kta_error err;

	if (kta_fetcher_new(o, &f, &err) != KTA_OK)
		fail_msg("kta_fetcher_new: %s", err.msg);
	return f;
}

static const char *http_url(const struct env *e, const char *path, char *buf, size_t cap)
{
	if ((size_t)snprintf(buf, cap, "http://127.0.0.1:%u%s", e->http_port, path) >= cap)
		fail_msg("URL too long for its buffer");
	return buf;
}

static const char *https_url(const struct env *e, const char *path, char *buf, size_t cap)
{
	if ((size_t)snprintf(buf, cap, "https://127.0.0.1:%u%s", e->https_port, path) >= cap)
		fail_msg("URL too long for its buffer");
	return buf;
}

/* Fetches url, expecting failure `want`; returns the info, err in *err. */
static struct kta_fetch_info get_fail(struct kta_fetcher *f, const char *url, enum kta_status want,
				      struct kta_error *err)
{
	struct kta_fetch_info info;
	uint8_t *body = (uint8_t *)1;
	size_t len = 1;
	enum kta_status r;

	memset(&info, 0xff, sizeof(info));
	r = kta_fetch_get(f, url, &body, &len, &info, err);
	if (r != want)
		fail_msg("%s: got status %d, want %d (%s)", url, (int)r, (int)want, err->msg);
	assert_null(body);
	assert_int_equal(len, 0);
	/* every message names the URL */
	assert_non_null(strstr(err->msg, url));
	return info;
}

static void get_ok(struct kta_fetcher *f, const char *url, const void *want, size_t want_len,
		   struct kta_fetch_info *info)
{
	struct kta_error err;
	uint8_t *body = NULL;
	size_t len = 0;

	if (kta_fetch_get(f, url, &body, &len, info, &err) != KTA_OK)
		fail_msg("%s: %s", url, err.msg);
	assert_non_null(body);
	assert_int_equal(len, want_len);
	assert_memory_equal(body, want, want_len);
	assert_int_equal(body[len], 0);
	free(body);
}

static void obj_ok(struct kta_fetcher *f, const char *url, unsigned i, struct kta_fetch_info *info)
{
	char want[8192];
	size_t n = obj_content(i, want, sizeof(want));

	get_ok(f, url, want, n, info);
}

/* The number after `key` in a /stats reply, or UINT32_MAX. */
static unsigned stat_value(const uint8_t *stats, size_t len, const char *key)
{
	const char *p = strstr((const char *)stats, key);
	size_t n = 0;
	uint64_t v;

	if (p == NULL)
		return UINT32_MAX;
	p += strlen(key);
	while (p + n < (const char *)stats + len && p[n] >= '0' && p[n] <= '9')
		n++;
	if (kta_parse_u64(p, n, &v, NULL) != KTA_OK || v > UINT32_MAX)
		return UINT32_MAX;
	return (unsigned)v;
}

/* ---- tests ---- */

static void http_ok(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	char url[256];
	struct kta_error err;
	uint8_t *ua = NULL;
	size_t ualen = 0;

	test_opts(&o, NULL);
	f = new_fetcher(&o);
	obj_ok(f, http_url(e, "/files/obj3", url, sizeof(url)), 3, &info);
	assert_int_equal(info.http_status, 200);
	assert_int_equal(info.attempts, 1);
	assert_int_equal(info.not_found, 0);
	get_ok(f, http_url(e, "/files/empty", url, sizeof(url)), "", 0, NULL);
	assert_int_equal(
	    kta_fetch_get(f, http_url(e, "/ua", url, sizeof(url)), &ua, &ualen, NULL, &err),
	    KTA_OK);
	assert_true(ualen > 8 && memcmp(ua, "ktaudit/", 8) == 0);
	free(ua);
	kta_fetcher_free(f);
	kta_fetcher_free(NULL);
	o.user_agent = "probe/1";
	f = new_fetcher(&o);
	get_ok(f, http_url(e, "/ua", url, sizeof(url)), "probe/1", 7, NULL);
	kta_fetcher_free(f);
}

static void http_errors_not_retried(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct delays d;
	struct kta_error err;
	char url[256];

	test_opts(&o, &d);
	f = new_fetcher(&o);
	info = get_fail(f, http_url(e, "/files/missing", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.http_status, 404);
	assert_int_equal(info.not_found, 1);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "HTTP 404 (not found)"));
	info = get_fail(f, http_url(e, "/status/410", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	info = get_fail(f, http_url(e, "/status/403", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.http_status, 403);
	assert_int_equal(info.not_found, 0);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "HTTP 403"));
	info = get_fail(f, http_url(e, "/status/204", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 1);
	info = get_fail(f, http_url(e, "/status/501", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "HTTP 501"));
	/* a reply that is not HTTP at all */
	info = get_fail(f, http_url(e, "/garbage", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 1);
	assert_null(strstr(err.msg, "redirect"));
	assert_int_equal(d.n, 0);
	kta_fetcher_free(f);
}

static void transport_failures_retried(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct delays d;
	struct kta_error err;
	char url[256];

	test_opts(&o, &d);
	f = new_fetcher(&o);
	/* the server closes without a reply */
	info = get_fail(f, http_url(e, "/refuse", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 3);
	assert_int_equal(info.http_status, 0);
	assert_non_null(strstr(err.msg, "curl error 52"));
	assert_non_null(strstr(err.msg, "after 3 attempts"));
	assert_int_equal(d.n, 2);
	/* nothing listens */
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/files/obj1", e->dead_port);
	info = get_fail(f, url, KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 3);
	assert_non_null(strstr(err.msg, "curl error 7"));
	/* Content-Length 1000, 10 bytes sent */
	info = get_fail(f, http_url(e, "/truncated", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 3);
	assert_non_null(strstr(err.msg, "curl error 18"));
	kta_fetcher_free(f);
}

static void hang_times_out(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct delays d;
	struct kta_error err;
	char url[256];

	test_opts(&o, &d);
	o.timeout_ms = 300;
	o.max_retries = 1;
	f = new_fetcher(&o);
	info = get_fail(f, http_url(e, "/hang", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 2);
	assert_non_null(strstr(err.msg, "curl error 28"));
	kta_fetcher_free(f);
}

static void trickle_is_cut(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct kta_error err;
	char url[256];

	test_opts(&o, NULL);
	o.low_speed_limit = 1000;
	o.low_speed_time_s = 1;
	o.max_retries = 0;
	f = new_fetcher(&o);
	info = get_fail(f, http_url(e, "/trickle", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 1);
	assert_int_equal(info.http_status, 200);
	assert_non_null(strstr(err.msg, "too slow"));
	assert_non_null(strstr(err.msg, "curl error 28"));
	kta_fetcher_free(f);
}

static void size_limit(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct delays d;
	struct kta_error err;
	char url[256], want[1000];

	test_opts(&o, &d);
	o.max_size = 1000;
	f = new_fetcher(&o);
	/* declared Content-Length over the limit */
	info = get_fail(f, http_url(e, "/big/1001", url, sizeof(url)), KTA_ERR_LIMIT, &err);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "exceeds the limit of 1000 bytes"));
	/* no Content-Length: cut by the write callback */
	info = get_fail(f, http_url(e, "/bigclose/5000000", url, sizeof(url)), KTA_ERR_LIMIT, &err);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "exceeds the limit of 1000 bytes"));
	(void)get_fail(f, http_url(e, "/bigclose/1001", url, sizeof(url)), KTA_ERR_LIMIT, &err);
	/* a gzip bomb: 10 MB of zeros in about 10 kB */
	(void)get_fail(f, http_url(e, "/gzip/10000000", url, sizeof(url)), KTA_ERR_LIMIT, &err);
	assert_int_equal(d.n, 0);
	/* exactly at the limit is fine, with and without Content-Length */
	memset(want, 'a', sizeof(want));
	get_ok(f, http_url(e, "/big/1000", url, sizeof(url)), want, 1000, NULL);
	memset(want, 'b', sizeof(want));
	get_ok(f, http_url(e, "/bigclose/1000", url, sizeof(url)), want, 1000, NULL);
	memset(want, 0, sizeof(want));
	get_ok(f, http_url(e, "/gzip/1000", url, sizeof(url)), want, 1000, NULL);
	kta_fetcher_free(f);
}

static void retry_after(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct delays d;
	char url[256];

	test_opts(&o, &d);
	o.retry_after_max_s = 5;
	f = new_fetcher(&o);
	/* 429 with Retry-After: 1, then success */
	get_ok(f, http_url(e, "/flaky/429/1/a?ra=1", url, sizeof(url)), "ok:a", 4, &info);
	assert_int_equal(info.attempts, 2);
	assert_int_equal(info.http_status, 200);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.ms[0], 1000);
	/* 503 with Retry-After: 2 */
	d.n = 0;
	get_ok(f, http_url(e, "/flaky/503/1/b?ra=2", url, sizeof(url)), "ok:b", 4, NULL);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.ms[0], 2000);
	/* a hostile Retry-After is capped at retry_after_max_s */
	d.n = 0;
	get_ok(f, http_url(e, "/flaky/503/2/c?ra=999999999", url, sizeof(url)), "ok:c", 4, &info);
	assert_int_equal(info.attempts, 3);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.ms[0], 5000);
	assert_int_equal(d.ms[1], 5000);
	/* the HTTP-date form, far in the future: capped too */
	d.n = 0;
	get_ok(f,
	       http_url(e, "/flaky/429/1/d?ra=Fri,%2031%20Dec%202200%2023:59:59%20GMT", url,
			sizeof(url)),
	       "ok:d", 4, NULL);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.ms[0], 5000);
	/* 503 without Retry-After: ordinary backoff, base 10 ms with jitter */
	d.n = 0;
	get_ok(f, http_url(e, "/flaky/503/1/e", url, sizeof(url)), "ok:e", 4, NULL);
	assert_int_equal(d.n, 1);
	assert_in_range(d.ms[0], 5, 10);
	/* Retry-After on a 500 is not a reason to wait long */
	d.n = 0;
	get_ok(f, http_url(e, "/flaky/500/1/f?ra=20", url, sizeof(url)), "ok:f", 4, NULL);
	assert_int_equal(d.n, 1);
	assert_in_range(d.ms[0], 5, 10);
	kta_fetcher_free(f);
}

static void backoff(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct delays d;
	struct kta_error err;
	char url[256];

	test_opts(&o, &d);
	o.max_retries = 4;
	o.backoff_max_ms = 30;
	f = new_fetcher(&o);
	/* 500 three times, then success: waits double, capped at 30 ms */
	get_ok(f, http_url(e, "/flaky/500/4/a", url, sizeof(url)), "ok:a", 4, &info);
	assert_int_equal(info.attempts, 5);
	assert_int_equal(d.n, 4);
	assert_in_range(d.ms[0], 5, 10);
	assert_in_range(d.ms[1], 10, 20);
	assert_in_range(d.ms[2], 15, 30);
	assert_in_range(d.ms[3], 15, 30);
	/* retries exhausted */
	d.n = 0;
	info = get_fail(f, http_url(e, "/flaky/502/9/b", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 5);
	assert_int_equal(info.http_status, 502);
	assert_non_null(strstr(err.msg, "HTTP 502, after 5 attempts"));
	assert_int_equal(d.n, 4);
	kta_fetcher_free(f);

	/* without a hook the fetcher really waits (10..20 ms here), then succeeds */
	test_opts(&o, NULL);
	f = new_fetcher(&o);
	get_ok(f, http_url(e, "/flaky/504/2/c", url, sizeof(url)), "ok:c", 4, &info);
	assert_int_equal(info.attempts, 3);
	kta_fetcher_free(f);
}

static void redirects(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct kta_error err;
	char url[512], target[256], path[512];

	test_opts(&o, NULL);
	o.ca_file = e->ca1;
	o.max_redirects = 3;
	f = new_fetcher(&o);
	/* same scheme: followed */
	(void)snprintf(path, sizeof(path), "/redirect?to=%s",
		       http_url(e, "/files/obj1", target, sizeof(target)));
	obj_ok(f, http_url(e, path, url, sizeof(url)), 1, &info);
	assert_int_equal(info.http_status, 200);
	/* http -> file: refused even though file:// is an allowed scheme */
	info = get_fail(f, http_url(e, "/redirect?to=file:///etc/passwd", url, sizeof(url)),
			KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "redirect to another scheme refused"));
	assert_non_null(strstr(err.msg, "to \"file:///etc/passwd\"; only http:// may be followed"));
	assert_int_equal(info.http_status, 302);
	/* https -> http: refused (no downgrade) */
	(void)snprintf(path, sizeof(path), "/redirect?to=%s",
		       http_url(e, "/files/obj1", target, sizeof(target)));
	info = get_fail(f, https_url(e, path, url, sizeof(url)), KTA_ERR_IO, &err);
	assert_non_null(strstr(err.msg, "redirect to another scheme refused"));
	/* https -> https: followed */
	(void)snprintf(path, sizeof(path), "/redirect?to=%s",
		       https_url(e, "/files/obj2", target, sizeof(target)));
	obj_ok(f, https_url(e, path, url, sizeof(url)), 2, NULL);
	/* a redirect loop stops after max_redirects */
	info = get_fail(f, http_url(e, "/loop", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "curl error 47"));
	kta_fetcher_free(f);

	/* max_redirects 0: a redirect is just an unexpected status */
	o.max_redirects = 0;
	f = new_fetcher(&o);
	(void)snprintf(path, sizeof(path), "/redirect?to=%s",
		       http_url(e, "/files/obj1", target, sizeof(target)));
	info = get_fail(f, http_url(e, path, url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.http_status, 302);
	assert_non_null(strstr(err.msg, "HTTP 302"));
	kta_fetcher_free(f);
}

static void https_ca(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct kta_error err;
	char url[256];

	/* the private CA: verified */
	test_opts(&o, NULL);
	o.schemes = "https";
	o.ca_file = e->ca1;
	f = new_fetcher(&o);
	obj_ok(f, https_url(e, "/files/obj5", url, sizeof(url)), 5, &info);
	assert_int_equal(info.http_status, 200);
	(void)snprintf(url, sizeof(url), "https://localhost:%u/files/obj6", e->https_port);
	obj_ok(f, url, 6, NULL);
	kta_fetcher_free(f);
	/* the system store does not know the test CA: no retry, no body */
	o.ca_file = NULL;
	f = new_fetcher(&o);
	info = get_fail(f, https_url(e, "/files/obj5", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "curl error 60"));
	kta_fetcher_free(f);
	/* another CA */
	o.ca_file = e->ca2;
	f = new_fetcher(&o);
	info = get_fail(f, https_url(e, "/files/obj5", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "curl error 60"));
	kta_fetcher_free(f);
	/* a CA file that does not exist */
	o.ca_file = "/nonexistent/ca.pem";
	f = new_fetcher(&o);
	(void)get_fail(f, https_url(e, "/files/obj5", url, sizeof(url)), KTA_ERR_IO, &err);
	kta_fetcher_free(f);
}

static void file_urls(void **state)
{
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct kta_error err;
	char url[4096];
	uint8_t *want;
	size_t wlen;

	(void)state;
	test_opts(&o, NULL);
	o.schemes = "file";
	f = new_fetcher(&o);
	want = tu_read_testdata("tiles/DERIVED/rfc6962-8-leaves/tile/0/000.p/8", &wlen);
	(void)snprintf(url, sizeof(url), "file://%s/tiles/DERIVED/rfc6962-8-leaves/tile/0/000.p/8",
		       KTA_TESTDATA);
	get_ok(f, url, want, wlen, &info);
	assert_int_equal(info.http_status, 0);
	assert_int_equal(info.attempts, 1);
	kta_fetcher_free(f);
	/* missing: not found, not retried */
	f = new_fetcher(&o);
	(void)snprintf(url, sizeof(url), "file://%s/tiles/DERIVED/missing", KTA_TESTDATA);
	info = get_fail(f, url, KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	assert_int_equal(info.attempts, 1);
	kta_fetcher_free(f);
	/* size limit applies to files too (the tile is 256 bytes) */
	o.max_size = 255;
	f = new_fetcher(&o);
	(void)snprintf(url, sizeof(url), "file://%s/tiles/DERIVED/rfc6962-8-leaves/tile/0/000.p/8",
		       KTA_TESTDATA);
	(void)get_fail(f, url, KTA_ERR_LIMIT, &err);
	kta_fetcher_free(f);
	o.max_size = 256;
	f = new_fetcher(&o);
	get_ok(f, url, want, wlen, NULL);
	kta_fetcher_free(f);
	free(want);
}

static void scheme_policy(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct kta_error err;
	char url[256];

	test_opts(&o, NULL);
	o.schemes = "https";
	f = new_fetcher(&o);
	info = get_fail(f, http_url(e, "/files/obj1", url, sizeof(url)), KTA_ERR_USAGE, &err);
	assert_int_equal(info.attempts, 0);
	assert_non_null(strstr(err.msg, "scheme \"http\" is not allowed (allowed: https)"));
	(void)get_fail(f, "file:///etc/passwd", KTA_ERR_USAGE, &err);
	(void)get_fail(f, "ftp://127.0.0.1/x", KTA_ERR_USAGE, &err);
	(void)get_fail(f, "gopher://127.0.0.1/x", KTA_ERR_USAGE, &err);
	(void)get_fail(f, "not a url", KTA_ERR_USAGE, &err);
	(void)get_fail(f, "", KTA_ERR_USAGE, &err);
	kta_fetcher_free(f);
	o.schemes = NULL; /* default: https only */
	f = new_fetcher(&o);
	(void)get_fail(f, http_url(e, "/files/obj1", url, sizeof(url)), KTA_ERR_USAGE, &err);
	kta_fetcher_free(f);
}

static void bad_options(void **state)
{
	static const char *bad_schemes[] = {"https,ftp", "https,,http", "http,http", "",
					    "HTTPS",     "https ",      ",https",    "https,"};
	struct kta_fetch_opts o;
	struct kta_fetcher *f = (struct kta_fetcher *)1;
	struct kta_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_schemes) / sizeof(bad_schemes[0]); i++) {
		test_opts(&o, NULL);
		o.schemes = bad_schemes[i];
		assert_int_equal(kta_fetcher_new(&o, &f, &err), KTA_ERR_USAGE);
		assert_null(f);
	}
	test_opts(&o, NULL);
	o.max_connections = 0;
	assert_int_equal(kta_fetcher_new(&o, &f, &err), KTA_ERR_USAGE);
	o.max_connections = KTA_FETCH_MAX_CONNECTIONS + 1;
	assert_int_equal(kta_fetcher_new(&o, &f, &err), KTA_ERR_USAGE);
	test_opts(&o, NULL);
	o.max_size = 0;
	assert_int_equal(kta_fetcher_new(&o, &f, &err), KTA_ERR_USAGE);
	test_opts(&o, NULL);
	o.timeout_ms = 0;
	assert_int_equal(kta_fetcher_new(&o, &f, &err), KTA_ERR_USAGE);
	test_opts(&o, NULL);
	o.max_redirects = KTA_FETCH_MAX_REDIRECTS + 1;
	assert_int_equal(kta_fetcher_new(&o, &f, &err), KTA_ERR_USAGE);
	test_opts(&o, NULL);
	o.retry_after_max_s = 86401;
	assert_int_equal(kta_fetcher_new(&o, &f, &err), KTA_ERR_USAGE);
	test_opts(&o, NULL);
	o.low_speed_limit = 100;
	o.low_speed_time_s = 0;
	assert_int_equal(kta_fetcher_new(&o, &f, &err), KTA_ERR_USAGE);
	assert_null(f);
}

static void many_parallel(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetcher *f;
	struct kta_error err;
	struct kta_fetch_result res[NOBJ];
	char bufs[NOBJ][256], want[8192], path[128];
	const char *urls[NOBJ];
	uint8_t *stats;
	size_t len, i;
	unsigned conns = 0, inflight = 0;

	test_opts(&o, NULL);
	o.max_connections = 4;
	f = new_fetcher(&o);
	for (i = 0; i < NOBJ; i++) {
		(void)snprintf(path, sizeof(path), "/files/obj%zu?g=many&delay_ms=20", i);
		urls[i] = http_url(e, path, bufs[i], sizeof(bufs[i]));
	}
	assert_int_equal(kta_fetch_many(f, urls, NOBJ, res, &err), KTA_OK);
	for (i = 0; i < NOBJ; i++) {
		size_t n = obj_content((unsigned)i, want, sizeof(want));

		assert_int_equal(res[i].status, KTA_OK);
		assert_int_equal(res[i].len, n);
		assert_memory_equal(res[i].body, want, n);
		assert_int_equal(res[i].info.http_status, 200);
	}
	kta_fetch_results_free(res, NOBJ);
	assert_null(res[0].body);
	/* the server saw at most 4 connections, all reused */
	assert_int_equal(kta_fetch_get(f, http_url(e, "/stats?g=many", bufs[0], sizeof(bufs[0])),
				       &stats, &len, NULL, &err),
			 KTA_OK);
	conns = stat_value(stats, len, "conns=");
	inflight = stat_value(stats, len, "inflight_max=");
	free(stats);
	assert_in_range(conns, 1, 4);
	assert_in_range(inflight, 1, 4);
	assert_int_equal(kta_fetch_many(f, urls, 0, res, &err), KTA_OK);
	kta_fetcher_free(f);
}

static void many_mixed(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetcher *f;
	struct kta_error err;
	struct kta_fetch_result res[6];
	char bufs[6][256];
	const char *urls[6];
	struct delays d;

	test_opts(&o, &d);
	o.max_connections = 2;
	f = new_fetcher(&o);
	urls[0] = http_url(e, "/files/obj0", bufs[0], sizeof(bufs[0]));
	urls[1] = http_url(e, "/files/missing", bufs[1], sizeof(bufs[1]));
	urls[2] = http_url(e, "/flaky/500/2/many", bufs[2], sizeof(bufs[2]));
	urls[3] = http_url(e, "/status/403", bufs[3], sizeof(bufs[3]));
	urls[4] = "ftp://127.0.0.1/x";
	urls[5] = http_url(e, "/files/obj7", bufs[5], sizeof(bufs[5]));
	/* the first failure (index 1) is reported; every result is filled */
	assert_int_equal(kta_fetch_many(f, urls, 6, res, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "/files/missing"));
	assert_int_equal(res[0].status, KTA_OK);
	assert_int_equal(res[1].status, KTA_ERR_IO);
	assert_int_equal(res[1].info.not_found, 1);
	assert_null(res[1].body);
	assert_int_equal(res[2].status, KTA_OK);
	assert_int_equal(res[2].len, 7);
	assert_memory_equal(res[2].body, "ok:many", 7);
	assert_int_equal(res[2].info.attempts, 3);
	assert_int_equal(res[3].status, KTA_ERR_IO);
	assert_non_null(strstr(res[3].err.msg, "HTTP 403"));
	assert_int_equal(res[4].status, KTA_ERR_USAGE);
	assert_int_equal(res[5].status, KTA_OK);
	assert_int_equal(d.n, 2);
	kta_fetch_results_free(res, 6);
	kta_fetcher_free(f);
}

static void connection_reuse(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetcher *f;
	struct kta_error err;
	char url[256];
	uint8_t *stats;
	size_t len;
	unsigned conns = 0;

	test_opts(&o, NULL);
	o.ca_file = e->ca1;
	f = new_fetcher(&o);
	obj_ok(f, http_url(e, "/files/obj1?g=reuse", url, sizeof(url)), 1, NULL);
	obj_ok(f, http_url(e, "/files/obj2?g=reuse", url, sizeof(url)), 2, NULL);
	obj_ok(f, http_url(e, "/files/obj3?g=reuse", url, sizeof(url)), 3, NULL);
	obj_ok(f, https_url(e, "/files/obj1?g=reuse-tls", url, sizeof(url)), 1, NULL);
	obj_ok(f, https_url(e, "/files/obj2?g=reuse-tls", url, sizeof(url)), 2, NULL);
	assert_int_equal(kta_fetch_get(f, http_url(e, "/stats?g=reuse", url, sizeof(url)), &stats,
				       &len, NULL, &err),
			 KTA_OK);
	conns = stat_value(stats, len, "conns=");
	free(stats);
	assert_int_equal(conns, 1);
	assert_int_equal(kta_fetch_get(f, http_url(e, "/stats?g=reuse-tls", url, sizeof(url)),
				       &stats, &len, NULL, &err),
			 KTA_OK);
	conns = stat_value(stats, len, "conns=");
	free(stats);
	assert_int_equal(conns, 1);
	kta_fetcher_free(f);
}

static void cancellation(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct kta_error err;
	unsigned calls = 0;
	char url[256];

	test_opts(&o, NULL);
	o.cancel = cancel_after;
	o.cancel_ctx = &calls;
	f = new_fetcher(&o);
	/* stops a hanging transfer well before its 10 s timeout */
	info = get_fail(f, http_url(e, "/hang", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_non_null(strstr(err.msg, "cancelled"));
	assert_true(info.attempts <= 1);
	/* already cancelled: nothing starts */
	info = get_fail(f, http_url(e, "/files/obj1", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.attempts, 0);
	assert_non_null(strstr(err.msg, "cancelled"));
	kta_fetcher_free(f);
}

/* ---- file:// read directly (no libcurl): pinned to libcurl's behaviour ---- */

/* Creates <dir>/files (once) and returns "file://<dir>/files/<name>". */
static const char *file_url(const struct env *e, const char *name, char *buf, size_t cap)
{
	char d[128];

	(void)snprintf(d, sizeof(d), "%s/files", e->dir);
	if (mkdir(d, 0700) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", d, strerror(errno));
	if ((size_t)snprintf(buf, cap, "file://%s/files/%s", e->dir, name) >= cap)
		fail_msg("URL too long for its buffer");
	return buf;
}

/* Writes (data, len) to <dir>/files/<name>; returns its path in buf. */
static const char *put_file(const struct env *e, const char *name, const void *data, size_t len,
			    char *buf, size_t cap)
{
	char url[256];

	(void)file_url(e, name, url, sizeof(url));
	if ((size_t)snprintf(buf, cap, "%s/files/%s", e->dir, name) >= cap)
		fail_msg("path too long for its buffer");
	(void)unlink(buf);
	if (write_file(buf, data, len) != 0)
		fail_msg("cannot write %s", buf);
	return buf;
}

static struct kta_fetcher *file_fetcher(size_t max_size)
{
	struct kta_fetch_opts o;

	test_opts(&o, NULL);
	o.schemes = "file";
	if (max_size != 0)
		o.max_size = max_size;
	return new_fetcher(&o);
}

static void file_read_exact(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f = file_fetcher(0);
	char url[256], path[256];
	uint8_t *data = malloc(70001);
	uint64_t rs = 7;
	size_t i;

	assert_non_null(data);
	/* every byte value, NULs included, over more than one read buffer */
	for (i = 0; i < 70001; i++)
		data[i] = (uint8_t)(i < 256 ? i : tu_rand(&rs));
	(void)put_file(e, "bin", data, 70001, path, sizeof(path));
	memset(&info, 0xff, sizeof(info));
	get_ok(f, file_url(e, "bin", url, sizeof(url)), data, 70001, &info);
	assert_int_equal(info.http_status, 0);
	assert_int_equal(info.date, 0);
	assert_int_equal(info.not_found, 0);
	assert_int_equal(info.attempts, 1);
	(void)put_file(e, "one", "x", 1, path, sizeof(path));
	get_ok(f, file_url(e, "one", url, sizeof(url)), "x", 1, NULL);
	free(data);
	kta_fetcher_free(f);
}

static void file_empty(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f = file_fetcher(0);
	struct kta_error err;
	char url[256], path[256];
	uint8_t *body = NULL;
	size_t len = 1;

	(void)put_file(e, "empty", "", 0, path, sizeof(path));
	assert_int_equal(
	    kta_fetch_get(f, file_url(e, "empty", url, sizeof(url)), &body, &len, &info, &err),
	    KTA_OK);
	/* a real (1-byte) allocation holding the NUL, as for HTTP */
	assert_non_null(body);
	assert_int_equal(len, 0);
	assert_int_equal(body[0], 0);
	assert_int_equal(info.attempts, 1);
	assert_int_equal(info.not_found, 0);
	free(body);
	kta_fetcher_free(f);
}

static void file_missing(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f = file_fetcher(0);
	struct kta_error err;
	char url[256], path[256];

	/* KTA_ERR_IO with not_found (tlog falls back to the full tile), one
	 * attempt, no retry: as libcurl's CURLE_FILE_COULDNT_READ_FILE */
	info = get_fail(f, file_url(e, "no-such-file", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	assert_int_equal(info.attempts, 1);
	assert_int_equal(info.http_status, 0);
	assert_non_null(strstr(err.msg, "file missing or unreadable"));
	assert_non_null(strstr(err.msg, "No such file or directory"));
	/* a path through a regular file (ENOTDIR) is missing too */
	(void)put_file(e, "plain", "p", 1, path, sizeof(path));
	info = get_fail(f, file_url(e, "plain/x", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	/* a missing directory */
	info = get_fail(f, file_url(e, "nodir/x", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	kta_fetcher_free(f);
}

static void file_not_regular(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f = file_fetcher(0);
	struct kta_error err;
	char url[256], path[256];

	/* a directory (libcurl returned an empty body) */
	(void)snprintf(path, sizeof(path), "%s/files/adir", e->dir);
	(void)file_url(e, "adir", url, sizeof(url));
	assert_int_equal(mkdir(path, 0700), 0);
	info = get_fail(f, url, KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 0);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "not a regular file (a directory)"));
	(void)get_fail(f, file_url(e, "adir/", url, sizeof(url)), KTA_ERR_IO, &err);
	(void)get_fail(f, "file:///", KTA_ERR_IO, &err);
	/* a FIFO without a writer: must not block (libcurl hung in open) */
	(void)snprintf(path, sizeof(path), "%s/files/fifo", e->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	info = get_fail(f, file_url(e, "fifo", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 0);
	assert_non_null(strstr(err.msg, "not a regular file (a FIFO)"));
	/* devices: endless (/dev/zero) or empty (/dev/null) */
	info = get_fail(f, "file:///dev/zero", KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 0);
	assert_non_null(strstr(err.msg, "not a regular file (a character device)"));
	(void)get_fail(f, "file:///dev/null", KTA_ERR_IO, &err);
	kta_fetcher_free(f);
}

static void file_over_limit(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f = file_fetcher(1000);
	struct kta_error err;
	char url[256], path[256], data[1001];

	memset(data, 'z', sizeof(data));
	(void)put_file(e, "big1001", data, 1001, path, sizeof(path));
	info = get_fail(f, file_url(e, "big1001", url, sizeof(url)), KTA_ERR_LIMIT, &err);
	assert_int_equal(info.attempts, 1);
	assert_int_equal(info.not_found, 0);
	assert_non_null(strstr(err.msg, "body exceeds the limit of 1000 bytes"));
	/* exactly at the limit is fine */
	(void)put_file(e, "big1000", data, 1000, path, sizeof(path));
	get_ok(f, file_url(e, "big1000", url, sizeof(url)), data, 1000, NULL);
	kta_fetcher_free(f);
	f = file_fetcher(1);
	(void)get_fail(f, file_url(e, "big1000", url, sizeof(url)), KTA_ERR_LIMIT, &err);
	kta_fetcher_free(f);
}

/* A file larger than fstat says (as one still being written): Linux /proc
 * files report size 0, so the read goes past the first allocation. */
static void file_grows(void **state)
{
#ifdef __linux__
	struct kta_fetcher *f;
	struct kta_error err;
	uint8_t *want;
	size_t wlen;

	(void)state;
	want = tu_read_file("/proc/self/cmdline", &wlen);
	assert_true(wlen > 8);
	f = file_fetcher(0);
	get_ok(f, "file:///proc/self/cmdline", want, wlen, NULL);
	kta_fetcher_free(f);
	/* growth is capped: limit + 1 bytes read is KTA_ERR_LIMIT */
	f = file_fetcher(8);
	(void)get_fail(f, "file:///proc/self/cmdline", KTA_ERR_LIMIT, &err);
	assert_non_null(strstr(err.msg, "body exceeds the limit of 8 bytes"));
	kta_fetcher_free(f);
	f = file_fetcher(wlen);
	get_ok(f, "file:///proc/self/cmdline", want, wlen, NULL);
	kta_fetcher_free(f);
	f = file_fetcher(wlen - 1);
	(void)get_fail(f, "file:///proc/self/cmdline", KTA_ERR_LIMIT, &err);
	kta_fetcher_free(f);
	free(want);
#else
	(void)state;
	skip();
#endif
}

static void file_percent_encoded(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f = file_fetcher(0);
	struct kta_error err;
	char url[256], path[256];

	(void)put_file(e, "a b", "space", 5, path, sizeof(path));
	(void)put_file(e, "a%b", "percent", 7, path, sizeof(path));
	(void)put_file(e, "a%00", "literal", 7, path, sizeof(path));
	(void)put_file(e, "q?x", "question", 8, path, sizeof(path));
	(void)put_file(e, "q", "q", 1, path, sizeof(path));
	(void)put_file(e, "h#f", "hash", 4, path, sizeof(path));
	(void)put_file(e, "nl\nx", "newline", 7, path, sizeof(path));
	(void)put_file(e, "\xc3\xa9t\xc3\xa9", "utf8", 4, path, sizeof(path));
	get_ok(f, file_url(e, "a%20b", url, sizeof(url)), "space", 5, NULL);
	get_ok(f, file_url(e, "a%25b", url, sizeof(url)), "percent", 7, NULL);
	get_ok(f, file_url(e, "a%2500", url, sizeof(url)), "literal", 7, NULL);
	get_ok(f, file_url(e, "%71%3fx", url, sizeof(url)), "question", 8, NULL);
	get_ok(f, file_url(e, "%71%3Fx", url, sizeof(url)), "question", 8, NULL);
	get_ok(f, file_url(e, "h%23f", url, sizeof(url)), "hash", 4, NULL);
	get_ok(f, file_url(e, "nl%0ax", url, sizeof(url)), "newline", 7, NULL);
	get_ok(f, file_url(e, "%C3%A9t%c3%a9", url, sizeof(url)), "utf8", 4, NULL);
	get_ok(f, file_url(e, "\xc3\xa9t\xc3\xa9", url, sizeof(url)), "utf8", 4, NULL);
	/* an encoded slash is a slash (libcurl decodes the whole path) */
	(void)snprintf(url, sizeof(url), "file://%s%%2Ffiles%%2fq", e->dir);
	get_ok(f, url, "q", 1, NULL);
	/* query and fragment are not part of the path (libcurl ignores them) */
	get_ok(f, file_url(e, "q?x", url, sizeof(url)), "q", 1, NULL);
	get_ok(f, file_url(e, "q#x", url, sizeof(url)), "q", 1, NULL);
	/* dot segments are removed (RFC 3986 5.2.4) before the path is used */
	get_ok(f, file_url(e, "../files/q", url, sizeof(url)), "q", 1, NULL);
	get_ok(f, file_url(e, "nodir/../q", url, sizeof(url)), "q", 1, NULL);
	get_ok(f, file_url(e, "./q", url, sizeof(url)), "q", 1, NULL);
	/* malformed escapes stay literal, as in libcurl */
	info = get_fail(f, file_url(e, "a%zz", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	info = get_fail(f, file_url(e, "a%", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	info = get_fail(f, file_url(e, "a%2", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	/* an encoded NUL would cut the path: a bad URL, rejected before I/O */
	info = get_fail(f, file_url(e, "a%00", url, sizeof(url)), KTA_ERR_USAGE, &err);
	assert_int_equal(info.attempts, 0);
	assert_int_equal(info.not_found, 0);
	assert_non_null(strstr(err.msg, "%00"));
	(void)get_fail(f, file_url(e, "%00/q", url, sizeof(url)), KTA_ERR_USAGE, &err);
	/* a raw space or control byte is not a valid URL */
	(void)get_fail(f, file_url(e, "a b", url, sizeof(url)), KTA_ERR_USAGE, &err);
	{
		uint8_t *body = NULL;
		size_t len = 0;

		/* (the message quotes the URL with \x0a, so no get_fail) */
		assert_int_equal(kta_fetch_get(f, file_url(e, "nl\nx", url, sizeof(url)), &body,
					       &len, NULL, &err),
				 KTA_ERR_USAGE);
		assert_null(body);
		assert_non_null(strstr(err.msg, "nl\\x0ax"));
	}
	kta_fetcher_free(f);
}

static void file_hosts(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f = file_fetcher(0);
	struct kta_error err;
	char url[512], path[256];

	(void)put_file(e, "h", "host", 4, path, sizeof(path));
	(void)snprintf(url, sizeof(url), "file://localhost%s", path);
	get_ok(f, url, "host", 4, &info);
	assert_int_equal(info.attempts, 1);
	(void)snprintf(url, sizeof(url), "file://LocalHost%s", path);
	get_ok(f, url, "host", 4, NULL);
	(void)snprintf(url, sizeof(url), "file://127.0.0.1%s", path);
	get_ok(f, url, "host", 4, NULL);
	(void)snprintf(url, sizeof(url), "FILE://%s", path);
	get_ok(f, url, "host", 4, NULL);
	(void)snprintf(url, sizeof(url), "file:%s", path);
	get_ok(f, url, "host", 4, NULL);
	(void)snprintf(url, sizeof(url), "file:///%s", path);
	get_ok(f, url, "host", 4, NULL);
	/* any other host, a user or a port: not a valid file URL, no I/O */
	(void)snprintf(url, sizeof(url), "file://example.com%s", path);
	info = get_fail(f, url, KTA_ERR_USAGE, &err);
	assert_int_equal(info.attempts, 0);
	(void)snprintf(url, sizeof(url), "file://[::1]%s", path);
	(void)get_fail(f, url, KTA_ERR_USAGE, &err);
	(void)snprintf(url, sizeof(url), "file://user@localhost%s", path);
	(void)get_fail(f, url, KTA_ERR_USAGE, &err);
	(void)snprintf(url, sizeof(url), "file://localhost:80%s", path);
	(void)get_fail(f, url, KTA_ERR_USAGE, &err);
	(void)get_fail(f, "file://localhost", KTA_ERR_USAGE, &err);
	(void)get_fail(f, "file://", KTA_ERR_USAGE, &err);
	(void)get_fail(f, "file:", KTA_ERR_USAGE, &err);
	kta_fetcher_free(f);
}

static void file_scheme_disallowed(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct kta_error err;
	char url[256], path[256];

	(void)put_file(e, "secret", "s", 1, path, sizeof(path));
	test_opts(&o, NULL);
	o.schemes = "https,http";
	f = new_fetcher(&o);
	info = get_fail(f, file_url(e, "secret", url, sizeof(url)), KTA_ERR_USAGE, &err);
	assert_int_equal(info.attempts, 0);
	assert_int_equal(info.not_found, 0);
	assert_non_null(strstr(err.msg, "scheme \"file\" is not allowed (allowed: https,http)"));
	/* the policy is checked before the path: no %00 or not-found leak */
	(void)get_fail(f, file_url(e, "no-such-file", url, sizeof(url)), KTA_ERR_USAGE, &err);
	(void)get_fail(f, file_url(e, "a%00", url, sizeof(url)), KTA_ERR_USAGE, &err);
	assert_non_null(strstr(err.msg, "is not allowed"));
	kta_fetcher_free(f);
}

static void file_symlink(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f = file_fetcher(0);
	struct kta_error err;
	char url[256], path[256], link[256];

	(void)put_file(e, "target", "target", 6, path, sizeof(path));
	(void)snprintf(link, sizeof(link), "%s/files/link", e->dir);
	assert_int_equal(symlink(path, link), 0);
	get_ok(f, file_url(e, "link", url, sizeof(url)), "target", 6, NULL);
	/* a dangling link is a missing file */
	(void)snprintf(link, sizeof(link), "%s/files/dangling", e->dir);
	assert_int_equal(symlink("no-such-target", link), 0);
	info = get_fail(f, file_url(e, "dangling", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	/* a link to a directory is still not a regular file */
	(void)snprintf(path, sizeof(path), "%s/files/ldir", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	(void)snprintf(link, sizeof(link), "%s/files/ldirlink", e->dir);
	assert_int_equal(symlink(path, link), 0);
	info = get_fail(f, file_url(e, "ldirlink", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 0);
	kta_fetcher_free(f);
}

static void file_unreadable(void **state)
{
	struct env *e = *state;
	struct kta_fetch_info info;
	struct kta_fetcher *f;
	struct kta_error err;
	char url[256], path[256];

	if (geteuid() == 0) {
		/* root reads mode-000 files: nothing to check */
		skip();
	}
	f = file_fetcher(0);
	(void)put_file(e, "locked", "l", 1, path, sizeof(path));
	assert_int_equal(chmod(path, 0), 0);
	info = get_fail(f, file_url(e, "locked", url, sizeof(url)), KTA_ERR_IO, &err);
	assert_int_equal(info.not_found, 1);
	assert_int_equal(info.attempts, 1);
	assert_non_null(strstr(err.msg, "Permission denied"));
	assert_int_equal(chmod(path, 0600), 0);
	kta_fetcher_free(f);
}

static void file_many(void **state)
{
	enum { NF = 200 };
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetcher *f;
	struct kta_error err;
	struct kta_fetch_result *res = calloc(NF, sizeof(*res));
	char(*bufs)[256] = calloc(NF, sizeof(*bufs));
	const char *urls[NF];
	char name[32], path[256], want[8192];
	size_t i;

	assert_non_null(res);
	assert_non_null(bufs);
	test_opts(&o, NULL);
	o.max_connections = 2;
	f = new_fetcher(&o);
	/* many file URLs at once, more than max_connections */
	for (i = 0; i < NF; i++) {
		size_t n = obj_content((unsigned)(i % NOBJ), want, sizeof(want));

		(void)snprintf(name, sizeof(name), "many%zu", i);
		(void)put_file(e, name, want, n, path, sizeof(path));
		urls[i] = file_url(e, name, bufs[i], sizeof(bufs[i]));
	}
	assert_int_equal(kta_fetch_many(f, urls, NF, res, &err), KTA_OK);
	for (i = 0; i < NF; i++) {
		size_t n = obj_content((unsigned)(i % NOBJ), want, sizeof(want));

		assert_int_equal(res[i].status, KTA_OK);
		assert_int_equal(res[i].len, n);
		assert_memory_equal(res[i].body, want, n);
		assert_int_equal(res[i].body[n], 0);
		assert_int_equal(res[i].info.attempts, 1);
	}
	kta_fetch_results_free(res, NF);
	/* mixed with HTTP: every result lands at its own index */
	urls[0] = http_url(e, "/files/obj3", bufs[0], sizeof(bufs[0]));
	urls[1] = file_url(e, "many1", bufs[1], sizeof(bufs[1]));
	urls[2] = file_url(e, "no-such-file", bufs[2], sizeof(bufs[2]));
	urls[3] = http_url(e, "/files/missing", bufs[3], sizeof(bufs[3]));
	urls[4] = file_url(e, "many4", bufs[4], sizeof(bufs[4]));
	urls[5] = http_url(e, "/files/obj5", bufs[5], sizeof(bufs[5]));
	urls[6] = file_url(e, "a%00", bufs[6], sizeof(bufs[6]));
	assert_int_equal(kta_fetch_many(f, urls, 7, res, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "no-such-file"));
	assert_int_equal(res[0].status, KTA_OK);
	assert_int_equal(res[0].info.http_status, 200);
	assert_int_equal(res[0].len, obj_content(3, want, sizeof(want)));
	assert_memory_equal(res[0].body, want, res[0].len);
	assert_int_equal(res[1].status, KTA_OK);
	assert_int_equal(res[1].len, obj_content(1, want, sizeof(want)));
	assert_memory_equal(res[1].body, want, res[1].len);
	assert_int_equal(res[1].info.http_status, 0);
	assert_int_equal(res[2].status, KTA_ERR_IO);
	assert_int_equal(res[2].info.not_found, 1);
	assert_null(res[2].body);
	assert_non_null(strstr(res[2].err.msg, "no-such-file"));
	assert_int_equal(res[3].status, KTA_ERR_IO);
	assert_int_equal(res[3].info.not_found, 1);
	assert_int_equal(res[3].info.http_status, 404);
	assert_int_equal(res[4].status, KTA_OK);
	assert_int_equal(res[4].len, obj_content(4, want, sizeof(want)));
	assert_int_equal(res[5].status, KTA_OK);
	assert_int_equal(res[5].len, obj_content(5, want, sizeof(want)));
	assert_int_equal(res[6].status, KTA_ERR_USAGE);
	kta_fetch_results_free(res, 7);
	kta_fetcher_free(f);
	free(bufs);
	free(res);
}

static int cancel_always(void *ctx)
{
	(void)ctx;
	return 1;
}

static void file_cancelled(void **state)
{
	struct env *e = *state;
	struct kta_fetch_opts o;
	struct kta_fetcher *f;
	struct kta_error err;
	struct kta_fetch_result res[3];
	char bufs[3][256], path[256];
	const char *urls[3];
	unsigned calls = 0;
	size_t i;

	(void)put_file(e, "c0", "c0", 2, path, sizeof(path));
	(void)put_file(e, "c1", "c1", 2, path, sizeof(path));
	urls[0] = file_url(e, "c0", bufs[0], sizeof(bufs[0]));
	urls[1] = file_url(e, "c1", bufs[1], sizeof(bufs[1]));
	urls[2] = file_url(e, "c0", bufs[2], sizeof(bufs[2]));
	/* cancelled before the first poll returns: nothing is read */
	test_opts(&o, NULL);
	o.schemes = "file";
	o.cancel = cancel_always;
	f = new_fetcher(&o);
	assert_int_equal(kta_fetch_many(f, urls, 3, res, &err), KTA_ERR_IO);
	for (i = 0; i < 3; i++) {
		assert_int_equal(res[i].status, KTA_ERR_IO);
		assert_null(res[i].body);
		assert_non_null(strstr(res[i].err.msg, "cancelled"));
		assert_non_null(strstr(res[i].err.msg, urls[i]));
	}
	kta_fetch_results_free(res, 3);
	kta_fetcher_free(f);
	/* cancelled after the first poll: polled again during the transfers */
	o.cancel = cancel_after;
	o.cancel_ctx = &calls;
	f = new_fetcher(&o);
	assert_int_equal(kta_fetch_many(f, urls, 3, res, &err), KTA_ERR_IO);
	for (i = 0; i < 3; i++) {
		assert_int_equal(res[i].status, KTA_ERR_IO);
		assert_null(res[i].body);
		assert_non_null(strstr(res[i].err.msg, "cancelled"));
		assert_true(res[i].info.attempts <= 1);
	}
	kta_fetch_results_free(res, 3);
	kta_fetcher_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(http_ok),
	    cmocka_unit_test(http_errors_not_retried),
	    cmocka_unit_test(transport_failures_retried),
	    cmocka_unit_test(hang_times_out),
	    cmocka_unit_test(trickle_is_cut),
	    cmocka_unit_test(size_limit),
	    cmocka_unit_test(retry_after),
	    cmocka_unit_test(backoff),
	    cmocka_unit_test(redirects),
	    cmocka_unit_test(https_ca),
	    cmocka_unit_test(file_urls),
	    cmocka_unit_test(scheme_policy),
	    cmocka_unit_test(bad_options),
	    cmocka_unit_test(many_parallel),
	    cmocka_unit_test(many_mixed),
	    cmocka_unit_test(connection_reuse),
	    cmocka_unit_test(cancellation),
	    cmocka_unit_test(file_read_exact),
	    cmocka_unit_test(file_empty),
	    cmocka_unit_test(file_missing),
	    cmocka_unit_test(file_not_regular),
	    cmocka_unit_test(file_over_limit),
	    cmocka_unit_test(file_grows),
	    cmocka_unit_test(file_percent_encoded),
	    cmocka_unit_test(file_hosts),
	    cmocka_unit_test(file_scheme_disallowed),
	    cmocka_unit_test(file_symlink),
	    cmocka_unit_test(file_unreadable),
	    cmocka_unit_test(file_many),
	    cmocka_unit_test(file_cancelled),
	};

	/* A server killed mid-reply must not kill us with SIGPIPE. */
	(void)signal(SIGPIPE, SIG_IGN);
	/* Talk to the loopback server directly, whatever the environment says. */
	(void)unsetenv("http_proxy");
	(void)unsetenv("https_proxy");
	(void)unsetenv("HTTPS_PROXY");
	(void)unsetenv("all_proxy");
	(void)unsetenv("ALL_PROXY");
	return cmocka_run_group_tests(tests, setup_env, teardown_env);
}
