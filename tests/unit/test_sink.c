/*
 * Unit tests for the alert sinks, run for real: stderr (captured through a
 * pipe), a file, syslog, exec hooks written by the test, and a webhook
 * receiver (tests/tools/webhook_receiver.py) on a loopback port.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ktaudit/alert.h"
#include "ktaudit/config.h"
#include "ktaudit/file.h"
#include "ktaudit/sink.h"

struct fixture {
	char dir[64];           /* a fresh temporary directory */
	struct kta_alert *a;    /* a label alert with every optional field */
	char *json;             /* its compact JSON */
	struct kta_alert *bare; /* an alert without label, leaf index or evidence */
	char *bare_json;
};

static char *to_json(const struct kta_alert *a)
{
	json_t *j = kta_alert_to_json(a);
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	assert_non_null(s);
	return s;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	json_t *d = json_pack("{s:[s],s:[]}", "added", "ed25519:AAAA", "removed");

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kta-sink-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(kta_alert_new(KTA_ALERT_KEY_CHANGED, "example.com/dir", 1764143000,
				       "keys of alice@example.org changed: 1 added", &f->a, NULL),
			 KTA_OK);
	assert_int_equal(kta_alert_set_label(f->a, "alice@example.org", 4, NULL), KTA_OK);
	f->a->has_leaf_index = 1;
	f->a->leaf_index = 123;
	f->a->size = 200;
	f->a->evidence = strdup("/var/lib/ktaudit/evidence/x.json");
	assert_int_equal(kta_alert_set_details(f->a, d, NULL), KTA_OK);
	assert_int_equal(kta_alert_set_id(f->a, NULL), KTA_OK);
	f->json = to_json(f->a);
	assert_int_equal(kta_alert_new(KTA_ALERT_UNREACHABLE, "example.com/dir", 1764143001,
				       "cannot fetch the checkpoint", &f->bare, NULL),
			 KTA_OK);
	assert_int_equal(kta_alert_set_id(f->bare, NULL), KTA_OK);
	f->bare_json = to_json(f->bare);
	json_decref(d);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	(void)tu_rm_tree(f->dir);
	kta_alert_free(f->a);
	kta_alert_free(f->bare);
	free(f->json);
	free(f->bare_json);
	free(f);
	return 0;
}

static char *read_all(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	struct kta_error e;

	if (kta_file_read(path, 64u << 20, &buf, &n, &e) != KTA_OK)
		fail_msg("%s", e.msg);
	if (len != NULL)
		*len = n;
	return (char *)buf;
}

static void write_script(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0700), 0);
}

static struct kta_sink_config exec_sink(char **argv)
{
	struct kta_sink_config s;

	memset(&s, 0, sizeof(s));
	s.type = KTA_SINK_EXEC;
	s.name = "exec:test";
	s.argv = argv;
	for (s.argc = 0; argv[s.argc] != NULL; s.argc++)
		;
	s.timeout = 30;
	return s;
}

/* Fails if this process has any child left (running or zombie). */
static void assert_no_children(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* ---- stderr ---- */

static void sink_stderr(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s = {.type = KTA_SINK_STDERR, .name = "stderr"};
	char buf[8192];
	int p[2], saved;
	ssize_t n;
	size_t len = strlen(f->json);

	assert_int_equal(pipe(p), 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(p[1], 2), 2);
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, len, NULL), KTA_OK);
	assert_int_equal(kta_sink_deliver(&s, f->bare, f->bare_json, strlen(f->bare_json), NULL),
			 KTA_OK);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	/* exactly two JSON lines, the first being the alert's JSON */
	assert_int_equal((size_t)n, len + 1 + strlen(f->bare_json) + 1);
	assert_memory_equal(buf, f->json, len);
	assert_int_equal(buf[len], '\n');
	assert_memory_equal(buf + len + 1, f->bare_json, strlen(f->bare_json));
}

/* ---- file ---- */

static void sink_file(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s = {.type = KTA_SINK_FILE, .name = "file"};
	char path[128], want[8192];
	struct stat st;
	char *got;
	mode_t old = umask(022);

	snprintf(path, sizeof(path), "%s/alerts.jsonl", f->dir);
	s.target = path;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), NULL), KTA_OK);
	assert_int_equal(kta_sink_deliver(&s, f->bare, f->bare_json, strlen(f->bare_json), NULL),
			 KTA_OK);
	umask(old);
	got = read_all(path, NULL);
	snprintf(want, sizeof(want), "%s\n%s\n", f->json, f->bare_json);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* every line is the alert's JSON: parse it back */
	{
		json_error_t je;
		json_t *j = json_loadb(f->json, strlen(f->json), 0, &je);
		struct kta_alert *b = NULL;

		assert_non_null(j);
		assert_int_equal(kta_alert_from_json(j, &b, NULL), KTA_OK);
		assert_string_equal(b->id, f->a->id);
		kta_alert_free(b);
		json_decref(j);
	}
}

static void sink_file_rejects(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s = {.type = KTA_SINK_FILE, .name = "file"};
	char path[128], link[128];
	struct kta_error e;

	/* a missing parent directory is not created */
	snprintf(path, sizeof(path), "%s/missing/alerts.jsonl", f->dir);
	s.target = path;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "missing/alerts.jsonl"));
	/* a symlink is not followed */
	snprintf(path, sizeof(path), "%s/target", f->dir);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink(path, link), 0);
	s.target = link;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_int_equal(access(path, F_OK), -1);
	/* a FIFO is refused, not blocked on */
	snprintf(path, sizeof(path), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	s.target = path;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	/* a directory */
	s.target = f->dir;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	/* a relative path */
	s.target = "alerts.jsonl";
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
}

static void sink_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s = {.type = KTA_SINK_STDERR, .name = "stderr"};
	struct kta_alert copy;
	struct kta_error e;

	assert_int_equal(kta_sink_deliver(&s, f->a, "{\"a\":1}\n{}", 10, &e), KTA_ERR_USAGE);
	assert_int_equal(kta_sink_deliver(&s, f->a, "{\"a\"\0:1}", 8, &e), KTA_ERR_USAGE);
	assert_int_equal(kta_sink_deliver(&s, f->a, "", 0, &e), KTA_ERR_USAGE);
	assert_int_equal(kta_sink_deliver(NULL, f->a, "{}", 2, &e), KTA_ERR_USAGE);
	assert_int_equal(kta_sink_deliver(&s, NULL, "{}", 2, &e), KTA_ERR_USAGE);
	/* an id that is not 32 lowercase hex (it becomes a header) */
	copy = *f->a;
	memcpy(copy.id, "0123456789ABCDEF0123456789abcdef", 33);
	assert_int_equal(kta_sink_deliver(&s, &copy, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
	memcpy(copy.id, "0123456789abcdef0123456789abcd\r\n", 33);
	assert_int_equal(kta_sink_deliver(&s, &copy, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
	s.type = (enum kta_sink_type)99;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
}

/* ---- syslog ---- */

static void sink_syslog(void **state)
{
	struct fixture *f = *state;
	struct kta_sink_config s = {.type = KTA_SINK_SYSLOG, .name = "syslog"};

	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), NULL), KTA_OK);
	assert_int_equal(kta_sink_deliver(&s, f->bare, f->bare_json, strlen(f->bare_json), NULL),
			 KTA_OK);
}

/*
 * Delivers a to the syslog sink with openlog(LOG_PERROR), which makes glibc
 * copy each record to stderr, and returns what it wrote there (malloc'd).
 */
static char *syslog_capture(const struct kta_alert *a, const char *json, size_t *len)
{
	struct kta_sink_config s = {.type = KTA_SINK_SYSLOG, .name = "syslog"};
	char *buf = malloc(65536);
	int p[2], saved;
	ssize_t n;
	size_t got = 0;

	assert_non_null(buf);
	assert_int_equal(pipe(p), 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(p[1], 2), 2);
	openlog("kta-test", LOG_PERROR, LOG_DAEMON);
	assert_int_equal(kta_sink_deliver(&s, a, json, strlen(json), NULL), KTA_OK);
	closelog();
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(p[1]);
	while ((n = read(p[0], buf + got, 65535 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* One record: a single final "\n" and no other control character or DEL. */
static void assert_one_clean_line(const char *out, size_t len)
{
	size_t i;

	assert_true(len > 1);
	assert_int_equal(out[len - 1], '\n');
	for (i = 0; i + 1 < len; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			fail_msg("control byte 0x%02x at %zu in syslog line: %s",
				 (unsigned char)out[i], i, out);
}

/*
 * Defence in depth (docs/robustness.md, security review): fields that reach
 * the syslog line with control characters, e.g. from kta_alert_from_json,
 * cannot forge a second record or carry a terminal escape; every control
 * character and DEL becomes '?'.
 */
static void sink_syslog_controls(void **state)
{
	struct fixture *f = *state;
	char *out, *longmsg;
	size_t len;

	free(f->a->message);
	f->a->message = strdup("first\nktaudit alert forged critical\r\x1b[31mred\x7f\tend\x01");
	free(f->a->log);
	f->a->log = strdup("example.com/dir\nlog=evil");
	assert_non_null(f->a->message);
	assert_non_null(f->a->log);
	out = syslog_capture(f->a, f->json, &len);
	assert_one_clean_line(out, len);
	assert_non_null(strstr(out, "log=example.com/dir?log=evil "));
	assert_non_null(strstr(out, "label=alice@example.org "));
	assert_non_null(strstr(out, ": first?ktaudit alert forged critical??[31mred??end?\n"));
	free(out);

	/* The alert without label or leaf index takes another format string. */
	free(f->bare->message);
	f->bare->message = strdup("\n\n\n");
	assert_non_null(f->bare->message);
	out = syslog_capture(f->bare, f->bare_json, &len);
	assert_one_clean_line(out, len);
	assert_non_null(strstr(out, ": ???\n"));
	free(out);

	/* A message longer than the line buffer is cut, still one clean record. */
	longmsg = malloc(10001);
	assert_non_null(longmsg);
	for (len = 0; len < 10000; len++)
		longmsg[len] = len % 100 == 99 ? '\n' : 'x';
	longmsg[10000] = '\0';
	free(f->bare->message);
	f->bare->message = longmsg;
	out = syslog_capture(f->bare, f->bare_json, &len);
	assert_one_clean_line(out, len);
	assert_true(len < 4096);
	assert_non_null(strstr(out, "xx?xx"));
	free(out);
}

/* ---- exec ---- */

static const char recorder[] = "#!/bin/sh\n"
			       "cat > \"$1.stdin\"\n"
			       "env > \"$1.env\"\n"
			       "if [ -e /proc/$$/fd/$2 ]; then echo open; else echo closed; fi "
			       "> \"$1.fd\"\n"
			       "echo some output\n"
			       "exit 0\n";

static int env_has(const char *env, const char *line)
{
	size_t n = strlen(line);
	const char *p = env;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == env || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

static void sink_exec_records(void **state)
{
	struct fixture *f = *state;
	char hook[128], out[128], path[160], want[8192], *got, kv[256], fdnum[16];
	char *argv[4];
	struct kta_sink_config s;
	struct kta_error e;
	int fd;

	snprintf(hook, sizeof(hook), "%s/hook.sh", f->dir);
	snprintf(out, sizeof(out), "%s/rec", f->dir);
	write_script(hook, recorder);
	/* a descriptor without close-on-exec must not reach the hook */
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 57), 57);
	close(fd);
	snprintf(fdnum, sizeof(fdnum), "%d", 57);
	setenv("KTA_TEST_SECRET", "must-not-leak", 1);
	argv[0] = hook;
	argv[1] = out;
	argv[2] = fdnum;
	argv[3] = NULL;
	s = exec_sink(argv);
	kta_error_clear(&e);
	if (kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e) != KTA_OK)
		fail_msg("%s", e.msg);
	close(57);
	assert_no_children();
	/* stdin: the JSON and one newline */
	snprintf(path, sizeof(path), "%s.stdin", out);
	got = read_all(path, NULL);
	snprintf(want, sizeof(want), "%s\n", f->json);
	assert_string_equal(got, want);
	free(got);
	snprintf(path, sizeof(path), "%s.fd", out);
	got = read_all(path, NULL);
	assert_string_equal(got, "closed\n");
	free(got);
	/* environment */
	snprintf(path, sizeof(path), "%s.env", out);
	got = read_all(path, NULL);
	snprintf(kv, sizeof(kv), "KTAUDIT_ALERT_ID=%s", f->a->id);
	assert_true(env_has(got, kv));
	assert_true(env_has(got, "PATH=/usr/bin:/bin"));
	assert_true(env_has(got, "KTAUDIT_SEVERITY=alert"));
	assert_true(env_has(got, "KTAUDIT_KIND=key_changed"));
	assert_true(env_has(got, "KTAUDIT_LOG=example.com/dir"));
	assert_true(env_has(got, "KTAUDIT_LABEL=alice@example.org"));
	assert_true(env_has(got, "KTAUDIT_VERSION=4"));
	assert_true(env_has(got, "KTAUDIT_LEAF_INDEX=123"));
	assert_true(env_has(got, "KTAUDIT_MESSAGE=keys of alice@example.org changed: 1 added"));
	assert_true(env_has(got, "KTAUDIT_EVIDENCE=/var/lib/ktaudit/evidence/x.json"));
	assert_null(strstr(got, "KTA_TEST_SECRET"));
	assert_null(strstr(got, "HOME="));
	free(got);
	/* only the variables that are set */
	assert_int_equal(kta_sink_deliver(&s, f->bare, f->bare_json, strlen(f->bare_json), &e),
			 KTA_OK);
	got = read_all(path, NULL);
	assert_true(env_has(got, "KTAUDIT_SEVERITY=warning"));
	assert_true(env_has(got, "KTAUDIT_KIND=unreachable"));
	assert_true(env_has(got, "KTAUDIT_MESSAGE=cannot fetch the checkpoint"));
	assert_null(strstr(got, "KTAUDIT_LABEL="));
	assert_null(strstr(got, "KTAUDIT_VERSION="));
	assert_null(strstr(got, "KTAUDIT_LEAF_INDEX="));
	assert_null(strstr(got, "KTAUDIT_EVIDENCE="));
	free(got);
	unsetenv("KTA_TEST_SECRET");
	assert_no_children();
}

static void sink_exec_failures(void **state)
{
	struct fixture *f = *state;
	char hook[128], plain[128];
	char *argv[3] = {hook, NULL, NULL};
	struct kta_sink_config s;
	struct kta_error e;

	/* exit 1: a failure, with the hook's output in the message */
	snprintf(hook, sizeof(hook), "%s/fail.sh", f->dir);
	write_script(hook, "#!/bin/sh\ncat >/dev/null\necho boom >&2\nexit 1\n");
	s = exec_sink(argv);
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "exited with status 1"));
	assert_non_null(strstr(e.msg, "boom"));
	assert_no_children();
	/* killed by a signal */
	snprintf(hook, sizeof(hook), "%s/kill.sh", f->dir);
	write_script(hook, "#!/bin/sh\nkill -9 $$\n");
	s = exec_sink(argv);
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "killed by signal 9"));
	assert_no_children();
	/* a relative path is refused before anything runs */
	argv[0] = "hook.sh";
	s = exec_sink(argv);
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
	assert_non_null(strstr(e.msg, "absolute path"));
	/* a program that does not exist */
	argv[0] = hook;
	snprintf(hook, sizeof(hook), "%s/does-not-exist", f->dir);
	s = exec_sink(argv);
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "cannot execute"));
	assert_no_children();
	/* a file that is not executable */
	snprintf(plain, sizeof(plain), "%s/plain", f->dir);
	write_script(plain, "#!/bin/sh\nexit 0\n");
	assert_int_equal(chmod(plain, 0600), 0);
	argv[0] = plain;
	s = exec_sink(argv);
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "cannot execute"));
	assert_no_children();
	/* no argv at all */
	s = exec_sink(argv);
	s.argv = NULL;
	s.argc = 0;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
}

static void sink_exec_timeout(void **state)
{
	struct fixture *f = *state;
	char hook[128];
	char *argv[2] = {hook, NULL};
	struct kta_sink_config s;
	struct kta_error e;

	/* the hook and its own child sleep far past the timeout */
	snprintf(hook, sizeof(hook), "%s/slow.sh", f->dir);
	write_script(hook, "#!/bin/sh\nsleep 600 &\nsleep 600\nexit 0\n");
	s = exec_sink(argv);
	s.timeout = 1;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "timed out after 1 s"));
	/* reaped: no zombie, no child left */
	assert_no_children();
}

static void sink_exec_sigpipe(void **state)
{
	struct fixture *f = *state;
	char hook[128];
	char *argv[2] = {hook, NULL};
	struct kta_sink_config s;
	struct kta_error e;
	struct kta_alert *big;
	char *msg, *json;
	size_t n = 300 * 1024;

	/* a JSON larger than a pipe buffer, and hooks that never read it */
	msg = malloc(n + 1);
	assert_non_null(msg);
	memset(msg, 'm', n);
	msg[n] = '\0';
	assert_int_equal(kta_alert_new(KTA_ALERT_STALE, "example.com/dir", 1, msg, &big, NULL),
			 KTA_OK);
	assert_int_equal(kta_alert_set_id(big, NULL), KTA_OK);
	json = to_json(big);
	snprintf(hook, sizeof(hook), "%s/noread.sh", f->dir);
	write_script(hook, "#!/bin/sh\nexit 0\n");
	s = exec_sink(argv);
	/* the message in the environment is cut to fit execve's limits */
	kta_error_clear(&e);
	if (kta_sink_deliver(&s, big, json, strlen(json), &e) != KTA_OK)
		fail_msg("%s", e.msg);
	snprintf(hook, sizeof(hook), "%s/noread1.sh", f->dir);
	write_script(hook, "#!/bin/sh\nexec 0<&-\nsleep 0\nexit 3\n");
	assert_int_equal(kta_sink_deliver(&s, big, json, strlen(json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "exited with status 3"));
	/* this process is still alive: SIGPIPE was blocked and consumed */
	{
		sigset_t pend;

		assert_int_equal(sigpending(&pend), 0);
		assert_int_equal(sigismember(&pend, SIGPIPE), 0);
	}
	assert_no_children();
	free(json);
	free(msg);
	kta_alert_free(big);
}

/* ---- webhook ---- */

struct receiver {
	pid_t pid;
	int port;
	char log[160];
};

/* Starts the receiver with extra arguments (NULL-terminated) and waits for its port. */
static void receiver_start(struct receiver *r, const char *dir, const char *const *extra)
{
	/* The file names need only differ between the receivers of one test (each
	 * test has a fresh mkdtemp directory): a fixed-seed xorshift sequence does
	 * that deterministically, where rand() is flagged (cert-msc30-c). */
	static uint64_t name_rs = 0x9e3779b97f4a7c15u;
	char portfile[160], script[4096];
	const char *argv[24];
	size_t n = 0, i;
	int tries, k;

	k = snprintf(portfile, sizeof(portfile), "%s/port-%016" PRIx64, dir, tu_rand(&name_rs));
	assert_true(k > 0 && (size_t)k < sizeof(portfile));
	k = snprintf(r->log, sizeof(r->log), "%s/requests-%016" PRIx64 ".jsonl", dir,
		     tu_rand(&name_rs));
	assert_true(k > 0 && (size_t)k < sizeof(r->log));
	snprintf(script, sizeof(script), "%s/tests/tools/webhook_receiver.py", KTA_SRCDIR);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	argv[n++] = "--log";
	argv[n++] = r->log;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 22; i++)
		argv[n++] = extra[i];
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
	/* wait for readiness (not a timing assertion: only a bound on the wait) */
	for (tries = 0; tries < 3000; tries++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		FILE *fp = fopen(portfile, "r");

		if (fp != NULL) {
			char line[32];

			/* written atomically: one decimal port number and a newline */
			assert_non_null(fgets(line, sizeof(line), fp));
			r->port = (int)tu_parse_long(line, 1, 65535);
			fclose(fp);
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

/* Loads the receiver's log: a JSON array of the recorded requests. */
static json_t *receiver_requests(const struct receiver *r)
{
	json_t *arr = json_array();
	FILE *fp = fopen(r->log, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	assert_non_null(arr);
	if (fp == NULL)
		return arr;
	while ((n = getline(&line, &cap, fp)) > 0) {
		json_error_t je;
		json_t *j = json_loadb(line, (size_t)n, 0, &je);

		assert_non_null(j);
		json_array_append_new(arr, j);
	}
	free(line);
	fclose(fp);
	return arr;
}

static struct kta_sink_config webhook_sink(char *url, int port, const char *path)
{
	struct kta_sink_config s;

	snprintf(url, 128, "http://127.0.0.1:%d%s", port, path);
	memset(&s, 0, sizeof(s));
	s.type = KTA_SINK_WEBHOOK;
	s.name = "webhook:test";
	s.target = url;
	s.timeout = 30;
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

static void sink_webhook(void **state)
{
	struct fixture *f = *state;
	static const char *const fail1[] = {"--fail-first", "1", NULL};
	struct receiver r;
	struct kta_sink_config s;
	struct kta_error e;
	char url[128];
	json_t *reqs, *q;

	no_proxies();
	receiver_start(&r, f->dir, fail1);
	s = webhook_sink(url, r.port, "/hook");
	/* the first request gets a 500: not accepted */
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "HTTP status 500"));
	assert_non_null(strstr(e.msg, "failing on purpose"));
	/* then it accepts */
	kta_error_clear(&e);
	if (kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e) != KTA_OK)
		fail_msg("%s", e.msg);
	receiver_stop(&r);
	reqs = receiver_requests(&r);
	assert_int_equal(json_array_size(reqs), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *h;

		q = json_array_get(reqs, i);
		h = json_object_get(q, "headers");
		assert_string_equal(json_string_value(json_object_get(q, "method")), "POST");
		assert_string_equal(json_string_value(json_object_get(q, "path")), "/hook");
		assert_string_equal(json_string_value(json_object_get(h, "idempotency-key")),
				    f->a->id);
		assert_string_equal(json_string_value(json_object_get(h, "content-type")),
				    "application/json");
		assert_null(json_object_get(h, "expect"));
		assert_string_equal(json_string_value(json_object_get(q, "body")), f->json);
	}
	assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")),
			 500);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 1), "status")),
			 200);
	json_decref(reqs);
	/* the receiver is gone: connection refused is a failure */
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_no_children();
}

static void sink_webhook_rejects(void **state)
{
	struct fixture *f = *state;
	static const char *const ok[] = {NULL};
	static const char *const big[] = {"--response-size", "200000", NULL};
	static const char *const s404[] = {"--status", "404", NULL};
	struct receiver r, r2;
	struct kta_sink_config s;
	struct kta_error e;
	char url[128], target[128];
	const char *redir[3] = {"--redirect", target, NULL};
	json_t *reqs;

	no_proxies();
	/* a redirect is not followed */
	receiver_start(&r2, f->dir, ok);
	snprintf(target, sizeof(target), "http://127.0.0.1:%d/elsewhere", r2.port);
	receiver_start(&r, f->dir, redir);
	s = webhook_sink(url, r.port, "/hook");
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "HTTP status 302 (redirects are not followed)"));
	receiver_stop(&r);
	receiver_stop(&r2);
	reqs = receiver_requests(&r2);
	assert_int_equal(json_array_size(reqs), 0);
	json_decref(reqs);
	/* a response over the limit */
	receiver_start(&r, f->dir, big);
	s = webhook_sink(url, r.port, "/hook");
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_LIMIT);
	receiver_stop(&r);
	/* a non-2xx status other than 500 */
	receiver_start(&r, f->dir, s404);
	s = webhook_sink(url, r.port, "/hook");
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	assert_non_null(strstr(e.msg, "HTTP status 404"));
	/* https to a plain-HTTP server: the TLS handshake fails, nothing is accepted */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hook", r.port);
	s.target = url;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_IO);
	receiver_stop(&r);
	/* schemes other than http(s) */
	s.target = "file:///etc/passwd";
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
	s.target = "ftp://127.0.0.1/x";
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
	s.target = NULL;
	assert_int_equal(kta_sink_deliver(&s, f->a, f->json, strlen(f->json), &e), KTA_ERR_USAGE);
	assert_no_children();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(sink_stderr, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_file_rejects, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_syslog, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_syslog_controls, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_exec_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_exec_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_exec_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_exec_sigpipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_webhook, setup, teardown),
	    cmocka_unit_test_setup_teardown(sink_webhook_rejects, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
