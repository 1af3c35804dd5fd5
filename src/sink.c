/* Delivering one alert to one sink. See ktaudit/sink.h. */
#include "ktaudit/sink.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ktaudit/encoding.h"

#ifndef KTA_VERSION_STRING
#define KTA_VERSION_STRING "unknown"
#endif

/* Bytes of the sink name quoted in messages. */
#define NAME_QUOTE 80
/* Most environment entries of an exec hook (PATH + the KTAUDIT_ list). */
#define EXEC_ENV_MAX 12
/* How often (ms) a running hook is checked for exit while its pipes are idle. */
#define EXEC_POLL_MS 50
/* Highest descriptor closed one by one when close_range is unavailable. */
#define EXEC_CLOSE_FALLBACK_MAX 65536

static const char *sink_label(const struct kta_sink_config *s, char buf[static 4 * NAME_QUOTE + 4])
{
	const char *n = s->name != NULL ? s->name : kta_sink_type_name(s->type);

	return kta_quote((const uint8_t *)n, strlen(n), NAME_QUOTE, buf);
}

static int id_valid(const char *id)
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return id[32] == '\0';
}

/* Writes all of (p, n) to fd, retrying on EINTR and short writes. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- stderr, file, syslog ---- */

static enum kta_status deliver_stderr(const char *line, size_t n, struct kta_error *err)
{
	if (fwrite(line, 1, n, stderr) != n || fflush(stderr) != 0)
		return kta_error_set(err, KTA_ERR_IO, "sink stderr: write: %s", strerror(errno));
	return KTA_OK;
}

static enum kta_status deliver_file(const struct kta_sink_config *s, const char *line, size_t n,
				    struct kta_error *err)
{
	enum kta_status r = KTA_ERR_IO;
	struct stat stb;
	int fd;

	if (s->target == NULL || s->target[0] != '/')
		return kta_error_set(err, KTA_ERR_USAGE, "sink file: needs an absolute path");
	/* O_NONBLOCK so a FIFO planted at the path cannot hang us; refused below. */
	fd = open(s->target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
		  0600);
	if (fd < 0)
		return kta_error_set(err, KTA_ERR_IO, "sink file %s: %s", s->target,
				     strerror(errno));
	if (fstat(fd, &stb) != 0) {
		kta_error_set(err, KTA_ERR_IO, "sink file %s: fstat: %s", s->target,
			      strerror(errno));
		goto out;
	}
	if (!S_ISREG(stb.st_mode)) {
		kta_error_set(err, KTA_ERR_IO, "sink file %s: not a regular file", s->target);
		goto out;
	}
	/* One write call per line: O_APPEND keeps concurrent writers' lines whole. */
	if (write_all(fd, line, n) != 0) {
		kta_error_set(err, KTA_ERR_IO, "sink file %s: write: %s", s->target,
			      strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0) {
		kta_error_set(err, KTA_ERR_IO, "sink file %s: fsync: %s", s->target,
			      strerror(errno));
		goto out;
	}
	r = KTA_OK;
out:
	if (close(fd) != 0 && r == KTA_OK)
		r = kta_error_set(err, KTA_ERR_IO, "sink file %s: close: %s", s->target,
				  strerror(errno));
	return r;
}

/* Longest syslog line written (RFC 5424 receivers must take 480 bytes; most take more). */
#define SYSLOG_LINE_MAX 2048

/*
 * Replaces, in place, every ASCII control character (newline included) and
 * DEL with '?': one alert is one syslog line whatever its fields hold, so a
 * provider-controlled string can never forge a second record.
 */
static void syslog_clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static enum kta_status deliver_syslog(const struct kta_alert *a)
{
	char line[SYSLOG_LINE_MAX];
	int prio;

	switch (a->severity) {
	case KTA_SEV_CRITICAL:
		prio = LOG_CRIT;
		break;
	case KTA_SEV_ALERT:
		prio = LOG_ERR;
		break;
	default:
		prio = LOG_WARNING;
		break;
	}
	/* A longer line is cut by snprintf: still one record. */
	if (a->label != NULL && a->has_leaf_index)
		(void)snprintf(
		    line, sizeof(line),
		    "ktaudit alert %s %s %s log=%s label=%s version=%llu leaf_index=%llu: "
		    "%s",
		    a->id, kta_severity_name(a->severity), kta_alert_kind_name(a->kind), a->log,
		    a->label, (unsigned long long)a->version, (unsigned long long)a->leaf_index,
		    a->message);
	else if (a->label != NULL)
		(void)snprintf(line, sizeof(line),
			       "ktaudit alert %s %s %s log=%s label=%s version=%llu: %s", a->id,
			       kta_severity_name(a->severity), kta_alert_kind_name(a->kind), a->log,
			       a->label, (unsigned long long)a->version, a->message);
	else if (a->has_leaf_index)
		(void)snprintf(line, sizeof(line),
			       "ktaudit alert %s %s %s log=%s leaf_index=%llu: %s", a->id,
			       kta_severity_name(a->severity), kta_alert_kind_name(a->kind), a->log,
			       (unsigned long long)a->leaf_index, a->message);
	else
		(void)snprintf(line, sizeof(line), "ktaudit alert %s %s %s log=%s: %s", a->id,
			       kta_severity_name(a->severity), kta_alert_kind_name(a->kind), a->log,
			       a->message);
	syslog_clean(line);
	syslog(LOG_DAEMON | prio, "%s", line);
	return KTA_OK;
}

/* ---- exec ---- */

static void env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/*
 * Appends "key=value" to env (capacity EXEC_ENV_MAX + 1 with the NULL). The
 * value is cut at KTA_SINK_ENV_VALUE_MAX bytes, on a UTF-8 boundary: execve
 * refuses longer strings (MAX_ARG_STRLEN), and stdin has the whole alert.
 */
static int env_add(char **env, size_t *n, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);
	char *s;

	if (vl > KTA_SINK_ENV_VALUE_MAX) {
		vl = KTA_SINK_ENV_VALUE_MAX;
		while (vl > 0 && ((unsigned char)value[vl] & 0xc0) == 0x80)
			vl--;
	}

	if (*n >= EXEC_ENV_MAX || (s = malloc(kl + vl + 2)) == NULL)
		return -1;
	memcpy(s, key, kl);
	s[kl] = '=';
	memcpy(s + kl + 1, value, vl);
	s[kl + 1 + vl] = '\0';
	env[(*n)++] = s;
	return 0;
}

static char **build_env(const struct kta_alert *a)
{
	char **env = calloc(EXEC_ENV_MAX + 1, sizeof(*env));
	char num[32];
	size_t n = 0;

	if (env == NULL)
		return NULL;
	if (env_add(env, &n, "PATH", "/usr/bin:/bin") != 0 ||
	    env_add(env, &n, "KTAUDIT_ALERT_ID", a->id) != 0 ||
	    env_add(env, &n, "KTAUDIT_SEVERITY", kta_severity_name(a->severity)) != 0 ||
	    env_add(env, &n, "KTAUDIT_KIND", kta_alert_kind_name(a->kind)) != 0 ||
	    env_add(env, &n, "KTAUDIT_LOG", a->log) != 0 ||
	    env_add(env, &n, "KTAUDIT_MESSAGE", a->message) != 0)
		goto fail;
	if (a->label != NULL) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)a->version);
		if (env_add(env, &n, "KTAUDIT_LABEL", a->label) != 0 ||
		    env_add(env, &n, "KTAUDIT_VERSION", num) != 0)
			goto fail;
	}
	if (a->has_leaf_index) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)a->leaf_index);
		if (env_add(env, &n, "KTAUDIT_LEAF_INDEX", num) != 0)
			goto fail;
	}
	if (a->evidence != NULL && env_add(env, &n, "KTAUDIT_EVIDENCE", a->evidence) != 0)
		goto fail;
	return env;
fail:
	env_free(env);
	return NULL;
}

/* What the child reports through the exec-error pipe before _exit(127). */
struct child_failure {
	int step; /* 1 setup, 2 execve */
	int err;  /* errno */
};

/*
 * The child between fork and execve: only async-signal-safe calls. Moves the
 * pipes above the standard descriptors first, so that a parent started with
 * 0, 1 or 2 closed (pipe ends then land there) is still wired correctly.
 */
static void child_exec(int in_rd, int out_wr, int err_wr, char *const argv[], char *const envp[],
		       int maxfd)
{
	struct child_failure f = {1, 0};
	struct sigaction sa;
	sigset_t none;
	int a, b, c, sig, fd, report = err_wr;

	(void)setpgid(0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if ((a = fcntl(in_rd, F_DUPFD, 10)) < 0 || (b = fcntl(out_wr, F_DUPFD, 10)) < 0 ||
	    (c = fcntl(err_wr, F_DUPFD_CLOEXEC, 10)) < 0 || dup2(a, 0) < 0 || dup2(b, 1) < 0 ||
	    dup2(b, 2) < 0 || dup3(c, 3, O_CLOEXEC) < 0)
		goto fail;
	/* from here on the report pipe is descriptor 3 */
	report = 3;
	if (close_range(4, ~0U, 0) != 0)
		for (fd = 4; fd <= maxfd; fd++)
			(void)close(fd);
	f.step = 2;
	(void)execve(argv[0], argv, envp);
fail:
	f.err = errno;
	(void)!write(report, &f, sizeof(f));
	_exit(127);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		(void)close(*fd);
		*fd = -1;
	}
}

/* Reads what is available on *fd into out (keeping at most cap bytes). */
static void drain(int *fd, char *out, size_t cap, size_t *kept)
{
	char buf[4096];
	int rounds;

	for (rounds = 0; rounds < 64 && *fd >= 0; rounds++) {
		ssize_t n = read(*fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close_fd(fd);
			return;
		}
		if (*kept < cap) {
			size_t take = (size_t)n < cap - *kept ? (size_t)n : cap - *kept;

			memcpy(out + *kept, buf, take);
			*kept += take;
		}
	}
}

static enum kta_status deliver_exec(const struct kta_sink_config *s, const struct kta_alert *a,
				    const char *line, size_t line_len, struct kta_error *err)
{
	char nb[4 * NAME_QUOTE + 4], qb[4 * 200 + 4];
	char output[KTA_SINK_EXEC_OUTPUT_MAX];
	enum kta_status r = KTA_ERR_INTERNAL;
	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
	sigset_t pipe_set, old_mask, pending;
	int masked = 0, sigpipe_was_pending = 0, got_epipe = 0, exited = 0, timed_out = 0;
	int status = 0, maxfd;
	struct child_failure cf;
	uint64_t timeout = s->timeout != 0 ? s->timeout : KTA_CONFIG_DEFAULT_SINK_TIMEOUT;
	int64_t deadline;
	size_t off = 0, kept = 0;
	char **env = NULL;
	long om;
	pid_t pid = -1;
	ssize_t got;

	if (s->argv == NULL || s->argc == 0 || s->argv[0] == NULL || s->argv[0][0] != '/')
		return kta_error_set(err, KTA_ERR_USAGE,
				     "sink \"%s\": the program must be an absolute path",
				     sink_label(s, nb));
	if (timeout > (uint64_t)INT32_MAX / 1000)
		timeout = (uint64_t)INT32_MAX / 1000;
	om = sysconf(_SC_OPEN_MAX);
	maxfd = om < 0 || om > EXEC_CLOSE_FALLBACK_MAX ? EXEC_CLOSE_FALLBACK_MAX : (int)om;
	if ((env = build_env(a)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "sink \"%s\": out of memory",
				     sink_label(s, nb));
	if (pipe2(in_p, O_CLOEXEC) != 0 || pipe2(out_p, O_CLOEXEC) != 0 ||
	    pipe2(err_p, O_CLOEXEC) != 0) {
		kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": pipe: %s", sink_label(s, nb),
			      strerror(errno));
		goto out;
	}
	if (fcntl(in_p[1], F_SETFL, O_NONBLOCK) != 0 || fcntl(out_p[0], F_SETFL, O_NONBLOCK) != 0) {
		kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": fcntl: %s", sink_label(s, nb),
			      strerror(errno));
		goto out;
	}
	/* Block SIGPIPE while we write to the hook (it may exit without reading). */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1)
		sigpipe_was_pending = 1;
	if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask) != 0) {
		kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": pthread_sigmask failed",
			      sink_label(s, nb));
		goto out;
	}
	masked = 1;
	pid = fork();
	if (pid < 0) {
		kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": fork: %s", sink_label(s, nb),
			      strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(in_p[0], out_p[1], err_p[1], s->argv, env, maxfd);
	deadline = mono_ms() + (int64_t)timeout * 1000;
	close_fd(&in_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	/* execve closes err_p (close-on-exec); a report there means it failed. */
	do
		got = read(err_p[0], &cf, sizeof(cf));
	while (got < 0 && errno == EINTR);
	if (got == (ssize_t)sizeof(cf)) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		pid = -1;
		r = kta_error_set(err, KTA_ERR_IO, "sink \"%s\": %s %s: %s", sink_label(s, nb),
				  cf.step == 2 ? "cannot execute" : "cannot set up", s->argv[0],
				  strerror(cf.err));
		goto out;
	}
	for (;;) {
		struct pollfd fds[2];
		nfds_t nfds = 0;
		int64_t left = deadline - mono_ms();
		int wait_ms;
		pid_t w;

		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			exited = 1;
			drain(&out_p[0], output, sizeof(output), &kept);
			break;
		}
		if (w < 0 && errno != EINTR) {
			r = kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": waitpid: %s",
					  sink_label(s, nb), strerror(errno));
			goto out;
		}
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		wait_ms = left < EXEC_POLL_MS ? (int)left : EXEC_POLL_MS;
		if (in_p[1] >= 0)
			fds[nfds++] = (struct pollfd){.fd = in_p[1], .events = POLLOUT};
		if (out_p[0] >= 0)
			fds[nfds++] = (struct pollfd){.fd = out_p[0], .events = POLLIN};
		if (poll(nfds > 0 ? fds : NULL, nfds, wait_ms) < 0 && errno != EINTR) {
			r = kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": poll: %s",
					  sink_label(s, nb), strerror(errno));
			goto out;
		}
		if (in_p[1] >= 0) {
			ssize_t n = write(in_p[1], line + off, line_len - off);

			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno == EPIPE)
				got_epipe = 1;
			if (off == line_len || (n < 0 && errno != EAGAIN && errno != EINTR))
				close_fd(&in_p[1]); /* EOF for the hook's stdin */
		}
		if (out_p[0] >= 0)
			drain(&out_p[0], output, sizeof(output), &kept);
	}
	if (timed_out) {
		(void)kill(-pid, SIGKILL);
		(void)kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		pid = -1;
		r = kta_error_set(err, KTA_ERR_IO, "sink \"%s\": timed out after %llu s (killed)",
				  sink_label(s, nb), (unsigned long long)timeout);
		goto out;
	}
	pid = -1;
	if (exited && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		r = KTA_OK;
		goto out;
	}
	if (WIFSIGNALED(status))
		r = kta_error_set(err, KTA_ERR_IO, "sink \"%s\": killed by signal %d; output: %s",
				  sink_label(s, nb), WTERMSIG(status),
				  kta_quote((const uint8_t *)output, kept, 200, qb));
	else
		r = kta_error_set(err, KTA_ERR_IO, "sink \"%s\": exited with status %d; output: %s",
				  sink_label(s, nb), WEXITSTATUS(status),
				  kta_quote((const uint8_t *)output, kept, 200, qb));
out:
	if (pid > 0) {
		(void)kill(-pid, SIGKILL);
		(void)kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	close_fd(&in_p[0]);
	close_fd(&in_p[1]);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	if (masked) {
		if (got_epipe && !sigpipe_was_pending) {
			const struct timespec zero = {0, 0};

			(void)sigtimedwait(&pipe_set, NULL, &zero);
		}
		(void)pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	env_free(env);
	return r;
}

/* ---- webhook ---- */

struct response {
	size_t total;                       /* bytes received */
	int over;                           /* more than KTA_SINK_RESPONSE_MAX */
	char head[KTA_SINK_RESPONSE_QUOTE]; /* the first bytes, for messages */
	size_t kept;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct response *resp = ud;
	size_t n = size * nmemb;

	if (n > KTA_SINK_RESPONSE_MAX - resp->total) {
		resp->over = 1;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	resp->total += n;
	if (resp->kept < sizeof(resp->head)) {
		size_t take =
		    n < sizeof(resp->head) - resp->kept ? n : sizeof(resp->head) - resp->kept;

		memcpy(resp->head + resp->kept, p, take);
		resp->kept += take;
	}
	return n;
}

static enum kta_status deliver_webhook(const struct kta_sink_config *s, const struct kta_alert *a,
				       const char *json, size_t json_len, struct kta_error *err)
{
	char nb[4 * NAME_QUOTE + 4], qb[4 * KTA_SINK_RESPONSE_QUOTE + 4];
	char errbuf[CURL_ERROR_SIZE];
	char idem[sizeof("Idempotency-Key: ") + 32];
	const char *scheme;
	struct curl_slist *hdrs = NULL, *h;
	struct response resp;
	enum kta_status r = KTA_ERR_INTERNAL;
	uint64_t timeout = s->timeout != 0 ? s->timeout : KTA_CONFIG_DEFAULT_SINK_TIMEOUT;
	long status = 0, connect_s;
	CURLcode cc;
	CURL *c = NULL;
	int inited = 0;

	if (s->target == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "sink webhook: no URL");
	if (strncmp(s->target, "https://", 8) == 0)
		scheme = "https";
	else if (strncmp(s->target, "http://", 7) == 0)
		scheme = "http";
	else
		return kta_error_set(err, KTA_ERR_USAGE,
				     "sink \"%s\": URL scheme must be https:// or http://",
				     sink_label(s, nb));
	if (timeout > (uint64_t)LONG_MAX / 1000)
		timeout = (uint64_t)LONG_MAX / 1000;
	connect_s =
	    timeout < KTA_SINK_CONNECT_TIMEOUT_S ? (long)timeout : KTA_SINK_CONNECT_TIMEOUT_S;
	memset(&resp, 0, sizeof(resp));
	errbuf[0] = '\0';
	snprintf(idem, sizeof(idem), "Idempotency-Key: %s", a->id);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": curl_global_init failed",
				     sink_label(s, nb));
	inited = 1;
	if ((c = curl_easy_init()) == NULL) {
		kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": curl_easy_init failed",
			      sink_label(s, nb));
		goto out;
	}
	if ((h = curl_slist_append(hdrs, "Content-Type: application/json")) == NULL)
		goto nomem;
	hdrs = h;
	if ((h = curl_slist_append(hdrs, idem)) == NULL)
		goto nomem;
	hdrs = h;
	/* no "Expect: 100-continue" round trip */
	if ((h = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto nomem;
	hdrs = h;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (curl_easy_setopt(c, opt, val) != CURLE_OK) {                                   \
			kta_error_set(err, KTA_ERR_INTERNAL, "sink \"%s\": cannot set %s",         \
				      sink_label(s, nb), #opt);                                    \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)
	SET(CURLOPT_URL, s->target);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, scheme);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, scheme);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (s->ca_file != NULL) {
		SET(CURLOPT_CAINFO, s->ca_file);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	SET(CURLOPT_USERAGENT, "ktaudit/" KTA_VERSION_STRING);
	SET(CURLOPT_CONNECTTIMEOUT, connect_s);
	SET(CURLOPT_TIMEOUT, (long)timeout);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, json);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)json_len);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, (void *)&resp);
#undef SET
	cc = curl_easy_perform(c);
	if (resp.over) {
		r = kta_error_set(err, KTA_ERR_LIMIT,
				  "sink \"%s\": response larger than the limit of %zu bytes",
				  sink_label(s, nb), KTA_SINK_RESPONSE_MAX);
		goto out;
	}
	if (cc != CURLE_OK) {
		r = kta_error_set(err, KTA_ERR_IO, "sink \"%s\": %s", sink_label(s, nb),
				  errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (status < 200 || status > 299) {
		r = kta_error_set(
		    err, KTA_ERR_IO, "sink \"%s\": HTTP status %ld%s; response: %s",
		    sink_label(s, nb), status,
		    status >= 300 && status <= 399 ? " (redirects are not followed)" : "",
		    kta_quote((const uint8_t *)resp.head, resp.kept, KTA_SINK_RESPONSE_QUOTE, qb));
		goto out;
	}
	r = KTA_OK;
	goto out;
nomem:
	r = kta_error_set(err, KTA_ERR_NOMEM, "sink \"%s\": out of memory", sink_label(s, nb));
out:
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	if (inited)
		curl_global_cleanup();
	return r;
}

enum kta_status kta_sink_deliver(const struct kta_sink_config *sink, const struct kta_alert *a,
				 const char *json, size_t json_len, struct kta_error *err)
{
	enum kta_status r;
	char *line = NULL;

	if (sink == NULL || a == NULL || json == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "sink: missing argument");
	if (json_len == 0 || json_len > KTA_SINK_JSON_MAX || memchr(json, '\n', json_len) != NULL ||
	    memchr(json, '\0', json_len) != NULL)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "sink: alert JSON must be one line of 1..%zu bytes",
				     KTA_SINK_JSON_MAX);
	if (!id_valid(a->id) || a->log == NULL || a->message == NULL)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "sink: the alert has no valid id, log or message");
	switch (sink->type) {
	case KTA_SINK_SYSLOG:
		return deliver_syslog(a);
	case KTA_SINK_WEBHOOK:
		return deliver_webhook(sink, a, json, json_len, err);
	case KTA_SINK_STDERR:
	case KTA_SINK_FILE:
	case KTA_SINK_EXEC:
		break;
	default:
		return kta_error_set(err, KTA_ERR_USAGE, "sink: unknown type %d", (int)sink->type);
	}
	/* The line-oriented sinks get the JSON and one "\n". */
	if ((line = malloc(json_len + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "sink: out of memory");
	memcpy(line, json, json_len);
	line[json_len] = '\n';
	if (sink->type == KTA_SINK_STDERR)
		r = deliver_stderr(line, json_len + 1, err);
	else if (sink->type == KTA_SINK_FILE)
		r = deliver_file(sink, line, json_len + 1, err);
	else
		r = deliver_exec(sink, a, line, json_len + 1, err);
	free(line);
	return r;
}
