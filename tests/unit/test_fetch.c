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
#include <ftw.h>
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
	pid_t pid;

	(void)snprintf(script, sizeof(script), "%s/tests/tools/mkca.sh", KTA_SRCDIR);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("sh", "sh", script, outdir, (char *)NULL);
		_exit(127);
	}
	return run_wait(pid);
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

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
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
		(void)nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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
