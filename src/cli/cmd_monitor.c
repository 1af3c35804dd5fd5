/*
 * `ktaudit monitor`: the foreground daemon (systemd Type=simple) and its
 * --once mode; `ktaudit watch add|approve|list` and `ktaudit history`.
 *
 * Daemon rules (STYLE.md "CLI and exit codes"): signal handlers only set
 * sig_atomic_t flags; timers run on CLOCK_MONOTONIC; SIGTERM/SIGINT let the
 * current transaction finish (a cancelled step is rolled back, never half
 * committed) and exit 0; SIGHUP reloads the configuration before the next
 * round. Each log is polled every `poll` seconds +-10% (jitter, so many
 * auditors do not hit a log in lockstep); after a cycle that could not
 * audit the log the delay doubles per failure (capped), so a dead log is not
 * hammered. Delivery of pending alerts runs after every round and when a
 * retry is due.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd_monitor.h"
#include "ktaudit/config.h"
#include "ktaudit/compact.h"
#include "ktaudit/encoding.h"
#include "ktaudit/evidence.h"
#include "ktaudit/file.h"
#include "ktaudit/hash.h"
#include "ktaudit/key.h"
#include "ktaudit/lookup.h"
#include "ktaudit/monitor.h"
#include "ktaudit/state.h"
#include "ktaudit/witness.h"

extern char **environ;

/* Longest wait after a failed cycle, seconds (or the poll interval if larger). */
#define MON_BACKOFF_MAX_S 3600
/* How long a heartbeat_exec program may run, seconds. */
#define MON_HEARTBEAT_TIMEOUT_S 30
/* Progress output: terminal redraw interval and plain log interval, ms. */
#define MON_PROGRESS_TTY_MS 250
#define MON_PROGRESS_LOG_MS 10000

const struct cli_opt opts_monitor[] = {
    {"config", CLI_ONE, "FILE", "the configuration file (ktaudit.conf(5))"},
    {"once", CLI_FLAG, NULL, "run one cycle of every log, deliver, and exit (0/1/3)"},
    {"exclusive", CLI_FLAG, NULL,
     "with --once: hold the state alone (a first sync writes its new pages once)"},
    {"check-config", CLI_FLAG, NULL, "check the configuration file and exit"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_watch_add[] = {
    {"config", CLI_ONE, "FILE", "the configuration file (gives the state directory)"},
    {"log", CLI_ONE, "NAME", "the log (section name); needed when there are several"},
    {"key", CLI_MANY, "ALG:B64:DEVICE", "a key of the pinned set; repeatable"},
    {"tofu", CLI_FLAG, NULL, "trust the first key set seen (or the current one)"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_watch_approve[] = {
    {"config", CLI_ONE, "FILE", "the configuration file (gives the state directory)"},
    {"log", CLI_ONE, "NAME", "the log (section name); needed when there are several"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_watch_list[] = {
    {"config", CLI_ONE, "FILE", "the configuration file (gives the state directory)"},
    {"log", CLI_ONE, "NAME", "only this log"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_history[] = {
    {"config", CLI_ONE, "FILE", "the configuration file (gives the state directory)"},
    {"log", CLI_ONE, "NAME", "the log (section name); needed when there are several"},
    {NULL, CLI_FLAG, NULL, NULL},
};

/* ---- signals: handlers only set flags ---- */

static volatile sig_atomic_t got_term, got_hup;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

/*
 * Installs the handlers (SA_RESTART: the flags are polled, system calls need
 * not fail with EINTR). The signals stay deliverable while a cycle runs, so
 * that a SIGTERM cancels a long replay; only the check-then-sleep in
 * sleep_until blocks them (pselect unblocks them atomically).
 */
static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_term;
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = on_hup;
	if (sigaction(SIGHUP, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

/* ---- clocks, jitter ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: jitter only, nothing secret. */
static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* seconds * (0.9 .. 1.1), in milliseconds. */
static int64_t jittered_ms(uint64_t seconds, uint64_t *rng)
{
	uint64_t ms = seconds > (uint64_t)INT64_MAX / 1100 ? (uint64_t)INT64_MAX / 1100 : seconds;
	uint64_t base = ms * 900, span = ms * 200;

	return (int64_t)(base + (span ? rnd_next(rng) % (span + 1) : 0));
}

/* ---- callbacks given to the monitor ---- */

struct ui {
	int tty;                 /* stderr is a terminal: redraw a progress line */
	int progress_open;       /* a progress line is on screen without "\n" */
	int64_t last_progress;   /* mono ms of the last progress output */
	int64_t progress_start;  /* mono ms when the current replay started */
	uint64_t progress_base;  /* done count at progress_start */
	unsigned progress_lines; /* progress outputs of the current replay */
};

static void end_progress(struct ui *u)
{
	if (u->progress_open) {
		fputc('\n', stderr);
		u->progress_open = 0;
	}
}

static void ui_log(void *ctx, enum kta_monitor_level level, const char *log_name, const char *msg)
{
	struct ui *u = ctx;
	const char *tag = level == KTA_MONITOR_ALERT  ? "ALERT: "
			  : level == KTA_MONITOR_WARN ? "warning: "
						      : "";

	end_progress(u);
	if (log_name != NULL)
		fprintf(stderr, "ktaudit: %s: %s%s\n", log_name, tag, msg);
	else
		fprintf(stderr, "ktaudit: %s%s\n", tag, msg);
	fflush(stderr);
}

static void ui_progress(void *ctx, const char *log_name, uint64_t done, uint64_t total)
{
	struct ui *u = ctx;
	int64_t now = mono_ms();
	double rate, eta;

	if (done <= KTA_MONITOR_PROGRESS_STEP || now < u->progress_start) {
		/* a new replay */
		u->progress_start = now;
		u->progress_base = done;
		u->last_progress = now;
		u->progress_lines = 0;
	}
	if (done < total &&
	    now - u->last_progress < (u->tty ? MON_PROGRESS_TTY_MS : MON_PROGRESS_LOG_MS))
		return;
	/* A short replay on a pipe gets no progress lines at all. */
	if (!u->tty && done >= total && u->progress_lines == 0)
		return;
	u->last_progress = now;
	u->progress_lines++;
	rate = now > u->progress_start
		   ? (double)(done - u->progress_base) * 1000.0 / (double)(now - u->progress_start)
		   : 0.0;
	eta = rate > 0 ? (double)(total - done) / rate : 0.0;
	if (u->tty) {
		fprintf(stderr,
			"\r\033[Kktaudit: %s: replaying %" PRIu64 "/%" PRIu64
			" entries (%.1f%%), %.0f/s, ETA %.0fs",
			log_name, done, total, total ? 100.0 * (double)done / (double)total : 100.0,
			rate, eta);
		u->progress_open = 1;
		if (done >= total)
			end_progress(u);
	} else {
		fprintf(stderr,
			"ktaudit: %s: replayed %" PRIu64 " of %" PRIu64
			" entries (%.0f/s, ETA %.0fs)\n",
			log_name, done, total, rate, eta);
	}
	fflush(stderr);
}

static int ui_cancel(void *ctx)
{
	(void)ctx;
	return got_term != 0;
}

/* ---- heartbeat and metrics ---- */

/* Writes the current Unix time into the heartbeat file (atomically: its
 * mtime and content both say when the last good round ended). */
static void heartbeat(const struct kta_config *cfg, struct ui *u)
{
	char buf[32];
	struct kta_error e;
	int n;

	if (cfg->heartbeat != NULL) {
		n = snprintf(buf, sizeof(buf), "%lld\n", (long long)time(NULL));
		kta_error_clear(&e);
		if (kta_file_write_atomic(cfg->heartbeat, (const uint8_t *)buf, (size_t)n, 0644,
					  &e) != KTA_OK)
			ui_log(u, KTA_MONITOR_WARN, NULL, e.msg);
	}
	if (cfg->heartbeat_exec != NULL) {
		pid_t pid;
		int st = 0, rc;
		int64_t deadline = mono_ms() + MON_HEARTBEAT_TIMEOUT_S * 1000;
		char *const empty_env[] = {"PATH=/usr/bin:/bin", NULL};

		/* argv from the configuration, never a shell (config.h). */
		rc = posix_spawn(&pid, cfg->heartbeat_exec[0], NULL, NULL, cfg->heartbeat_exec,
				 empty_env);
		if (rc != 0) {
			char m[512];

			(void)snprintf(m, sizeof(m), "heartbeat_exec %s: %s",
				       cfg->heartbeat_exec[0], strerror(rc));
			ui_log(u, KTA_MONITOR_WARN, NULL, m);
			return;
		}
		for (;;) {
			pid_t w = waitpid(pid, &st, WNOHANG);

			if (w == pid || (w < 0 && errno != EINTR))
				break;
			if (mono_ms() > deadline) {
				(void)kill(pid, SIGKILL);
				(void)waitpid(pid, &st, 0);
				ui_log(u, KTA_MONITOR_WARN, NULL,
				       "heartbeat_exec timed out, killed");
				return;
			}
			{
				struct timespec ts = {0, 20 * 1000 * 1000};

				(void)nanosleep(&ts, NULL);
			}
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			char m[512];

			(void)snprintf(m, sizeof(m), "heartbeat_exec %s failed (status %d)",
				       cfg->heartbeat_exec[0], st);
			ui_log(u, KTA_MONITOR_WARN, NULL, m);
		}
	}
}

static void write_metrics(const struct kta_config *cfg, struct kta_monitor *m, uint64_t pending,
			  struct ui *u)
{
	struct kta_error e;
	char *text = NULL;

	if (cfg->metrics == NULL)
		return;
	kta_error_clear(&e);
	if (kta_monitor_metrics(m, pending, &text, &e) != KTA_OK ||
	    kta_file_write_atomic(cfg->metrics, (const uint8_t *)text, strlen(text), 0644, &e) !=
		KTA_OK)
		ui_log(u, KTA_MONITOR_WARN, NULL, e.msg);
	free(text);
}

/* Monitor log numbers (monitor.h): key-directory logs, then CT logs. */
static size_t nall(const struct kta_config *cfg)
{
	return cfg->nlogs + cfg->nctlogs;
}

static const char *log_name(const struct kta_config *cfg, size_t i)
{
	return i < cfg->nlogs ? cfg->logs[i].name : cfg->ctlogs[i - cfg->nlogs].name;
}

static uint64_t log_poll(const struct kta_config *cfg, size_t i)
{
	return i < cfg->nlogs ? cfg->logs[i].poll : cfg->ctlogs[i - cfg->nlogs].poll;
}

/* 1 when every log's last cycle audited it with nothing left unchecked. */
static int all_logs_good(const struct kta_config *cfg, const struct kta_monitor *m)
{
	struct kta_monitor_log_status s;
	size_t i;

	for (i = 0; i < nall(cfg); i++) {
		kta_monitor_log_status(m, i, &s);
		if (s.last_success == 0 || s.last_error[0] != '\0')
			return 0;
	}
	return 1;
}

/* ---- monitor ---- */

/* Loads the configuration at path (--config); the status and message go
 * to the caller, which prints them (as JSON with --json). */
static enum kta_status config_load(const char *path, struct kta_config **cfg, struct kta_error *e)
{
	if (path == NULL)
		return kta_error_set(e, KTA_ERR_USAGE, "--config is required");
	return kta_config_load(path, cfg, e);
}

static enum kta_status monitor_open(const struct kta_config *cfg, struct ui *u, int offline,
				    int exclusive, struct kta_monitor **m, struct kta_error *e)
{
	struct kta_monitor_opts o;

	kta_monitor_opts_init(&o);
	o.log = ui_log;
	o.progress = ui_progress;
	o.cancel = ui_cancel;
	o.ctx = u;
	o.offline = offline;
	o.exclusive = exclusive;
	return kta_monitor_open(cfg, &o, m, e);
}

/* Prints a failure to open; returns its exit code, never 0. */
static int open_failed(enum kta_status r, const struct kta_error *e)
{
	int code = kta_status_exit_code(r);

	fprintf(stderr, "ktaudit: %s\n", e->msg);
	return code != 0 ? code : 3;
}

/* config_load and monitor_open for the monitor itself, which prints a
 * failure and returns its exit code (0: opened). */
static int load_config(const char *path, struct kta_config **cfg)
{
	struct kta_error e;
	enum kta_status r;

	kta_error_clear(&e);
	if ((r = config_load(path, cfg, &e)) != KTA_OK)
		return open_failed(r, &e);
	return 0;
}

static int open_monitor(const struct kta_config *cfg, struct ui *u, int offline, int exclusive,
			struct kta_monitor **m)
{
	struct kta_error e;
	enum kta_status r;

	kta_error_clear(&e);
	if ((r = monitor_open(cfg, u, offline, exclusive, m, &e)) != KTA_OK)
		return open_failed(r, &e);
	return 0;
}

/* Delivers pending alerts (one call: a batch per sink) and logs a failure;
 * returns the deliveries made (0 after a failure). */
static uint64_t deliver(struct kta_monitor *m, struct ui *u, uint64_t *pending, int64_t *next_due)
{
	struct kta_error e;
	uint64_t n = 0;

	kta_error_clear(&e);
	*pending = 0;
	*next_due = 0;
	if (kta_monitor_deliver(m, pending, next_due, &n, &e) != KTA_OK) {
		ui_log(u, KTA_MONITOR_WARN, NULL, e.msg);
		return 0;
	}
	return n;
}

/* Runs one cycle of log i and logs its outcome. Returns the --once verdict. */
static int run_cycle(struct kta_monitor *m, const struct kta_config *cfg, size_t i, struct ui *u,
		     struct kta_monitor_result *res)
{
	struct kta_error e;
	enum kta_status r;

	kta_error_clear(&e);
	r = kta_monitor_cycle(m, i, res, &e);
	end_progress(u);
	if (r != KTA_OK)
		ui_log(u, KTA_MONITOR_WARN, log_name(cfg, i), e.msg);
	/* Findings stored before a failure still count: they are in the outbox. */
	if (res->findings[KTA_SEV_CRITICAL] + res->findings[KTA_SEV_ALERT] > 0)
		return 1;
	if (r != KTA_OK || !res->audited || res->findings[KTA_SEV_WARNING] > 0)
		return 3;
	return 0;
}

/* Worse of two --once verdicts: 1 (misbehaviour) > 3 (unknown) > 0. */
static int worse(int a, int b)
{
	if (a == 1 || b == 1)
		return 1;
	return a > b ? a : b;
}

/* How long a --once run goes on delivering (seconds). */
#define ONCE_DELIVER_S 300

static int monitor_once(const struct kta_config *cfg, struct ui *u, int exclusive)
{
	struct kta_monitor *m = NULL;
	struct kta_monitor_result res;
	uint64_t pending = 0;
	int64_t next_due = 0, t0;
	int rc = 0, code;
	size_t i;

	if ((code = open_monitor(cfg, u, 0, exclusive, &m)) != 0)
		return code;
	for (i = 0; i < nall(cfg) && !got_term; i++) {
		code = run_cycle(m, cfg, i, u, &res);
		rc = worse(rc, code);
		if (code == 0)
			ui_log(u, KTA_MONITOR_INFO, log_name(cfg, i), "audited");
	}
	if (got_term)
		rc = worse(rc, 3);
	/* The writes are done: the delivery (up to ONCE_DELIVER_S) need not
	 * keep other commands out. */
	if (exclusive) {
		struct kta_error e;

		kta_error_clear(&e);
		if (kta_monitor_share_state(m, &e) != KTA_OK)
			ui_log(u, KTA_MONITOR_WARN, NULL, e.msg);
	}
	/* A one-shot run delivers what it can: one call takes KTA_DELIVER_BATCH
	 * alerts per sink, so call again while some sink accepts alerts, for
	 * at most ONCE_DELIVER_S (a large backlog is finished by the next
	 * runs). A failing sink costs one attempt per call, and its alerts
	 * wait for the next run, with backoff. */
	for (t0 = mono_ms(); deliver(m, u, &pending, &next_due) > 0 && pending > 0 && !got_term;)
		if (mono_ms() - t0 >= ONCE_DELIVER_S * 1000)
			break;
	if (got_term) /* during the delivery */
		rc = worse(rc, 3);
	if (pending > 0) {
		char msg[128];

		(void)snprintf(msg, sizeof(msg),
			       "%" PRIu64 " alert%s not yet delivered to every sink", pending,
			       pending == 1 ? "" : "s");
		ui_log(u, KTA_MONITOR_WARN, NULL, msg);
	}
	write_metrics(cfg, m, pending, u);
	if (rc == 0 && all_logs_good(cfg, m))
		heartbeat(cfg, u);
	kta_monitor_close(m);
	return rc;
}

/*
 * Sleeps until `when` (monotonic ms) or a signal. The flags are checked with
 * the signals blocked and pselect unblocks them atomically, so a signal that
 * arrives just before the sleep is not lost.
 */
static void sleep_until(int64_t when)
{
	sigset_t block, old;
	struct timespec ts;
	int64_t d;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, &old) != 0)
		return;
	d = when - mono_ms();
	if (d > 0 && !got_term && !got_hup) {
		ts.tv_sec = (time_t)(d / 1000);
		ts.tv_nsec = (long)(d % 1000) * 1000000L;
		(void)pselect(0, NULL, NULL, NULL, &ts, &old);
	}
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

struct sched {
	int64_t due;       /* monotonic ms */
	unsigned failures; /* consecutive cycles that could not audit the log */
};

static int monitor_daemon(const char *path, struct kta_config *cfg, struct ui *u)
{
	struct kta_monitor *m = NULL;
	struct sched *sc = NULL;
	uint64_t rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)mono_ms();
	int code;
	size_t i;

	if (rng == 0)
		rng = 1;
	if ((code = open_monitor(cfg, u, 0, 0, &m)) != 0)
		goto out;
	if ((sc = calloc(nall(cfg), sizeof(*sc))) == NULL) {
		fprintf(stderr, "ktaudit: out of memory\n");
		code = 3;
		goto out;
	}
	ui_log(u, KTA_MONITOR_INFO, NULL, "monitor started");
	while (!got_term) {
		int64_t now = mono_ms(), wake;
		int64_t next_due = 0;
		uint64_t pending = 0;
		int ran = 0;

		if (got_hup) {
			struct kta_config *ncfg = NULL;
			struct kta_monitor *nm = NULL;
			struct sched *nsc = NULL;

			got_hup = 0;
			ui_log(u, KTA_MONITOR_INFO, NULL, "SIGHUP: reloading the configuration");
			if (load_config(path, &ncfg) == 0 &&
			    open_monitor(ncfg, u, 0, 0, &nm) == 0 &&
			    (nsc = calloc(nall(ncfg), sizeof(*nsc))) != NULL) {
				kta_monitor_close(m);
				kta_config_free(cfg);
				free(sc);
				m = nm;
				cfg = ncfg;
				sc = nsc;
				ui_log(u, KTA_MONITOR_INFO, NULL, "configuration reloaded");
			} else {
				kta_monitor_close(nm);
				kta_config_free(ncfg);
				ui_log(u, KTA_MONITOR_WARN, NULL,
				       "reload failed: keeping the previous configuration");
			}
		}
		for (i = 0; i < nall(cfg) && !got_term; i++) {
			struct kta_monitor_result res;
			uint64_t delay;

			if (sc[i].due > now)
				continue;
			ran = 1;
			if (run_cycle(m, cfg, i, u, &res) == 3 && !got_term) {
				unsigned f = sc[i].failures < 16 ? sc[i].failures + 1 : 16;
				uint64_t cap = log_poll(cfg, i) > MON_BACKOFF_MAX_S
						   ? log_poll(cfg, i)
						   : MON_BACKOFF_MAX_S;

				char msg[128];

				sc[i].failures = f;
				delay = log_poll(cfg, i) << (f < 12 ? f : 12);
				if (delay > cap || delay < log_poll(cfg, i))
					delay = cap;
				(void)snprintf(
				    msg, sizeof(msg),
				    "could not audit (%u in a row): next cycle in %" PRIu64
				    " s (+-10%%)",
				    f, delay);
				ui_log(u, KTA_MONITOR_WARN, log_name(cfg, i), msg);
			} else {
				sc[i].failures = 0;
				delay = log_poll(cfg, i);
			}
			sc[i].due = mono_ms() + jittered_ms(delay, &rng);
		}
		if (got_term)
			break;
		deliver(m, u, &pending, &next_due);
		if (ran) {
			write_metrics(cfg, m, pending, u);
			if (all_logs_good(cfg, m))
				heartbeat(cfg, u);
		}
		wake = INT64_MAX;
		for (i = 0; i < nall(cfg); i++)
			if (sc[i].due < wake)
				wake = sc[i].due;
		if (next_due > 0) {
			int64_t d = (next_due - (int64_t)time(NULL)) * 1000;

			if (mono_ms() + (d > 0 ? d : 0) < wake)
				wake = mono_ms() + (d > 0 ? d : 0);
		}
		sleep_until(wake);
	}
	ui_log(u, KTA_MONITOR_INFO, NULL, "terminating");
	code = 0;
out:
	free(sc);
	kta_monitor_close(m);
	kta_config_free(cfg);
	return code;
}

static int check_witness(const struct kta_config *cfg);

int cmd_monitor(const struct cli_args *a)
{
	struct kta_config *cfg = NULL;
	struct ui u;
	size_t i, nw = 0;
	int code;

	memset(&u, 0, sizeof(u));
	u.tty = isatty(2);
	/* A daemon holding the state alone would lock out every command. */
	if (cli_count(a, "exclusive") && !cli_count(a, "once")) {
		fprintf(stderr, "ktaudit: --exclusive needs --once\n");
		return 2;
	}
	if ((code = load_config(cli_get(a, "config"), &cfg)) != 0)
		return code;
	if (cli_count(a, "check-config")) {
		char ct[48];

		for (i = 0; i < cfg->nlogs; i++)
			nw += cfg->logs[i].nwatches;
		for (i = 0; i < cfg->nctlogs; i++)
			nw += cfg->ctlogs[i].nwatches;
		if (cli_count(a, "once"))
			fprintf(stderr, "ktaudit: --once ignored with --check-config\n");
		if ((code = check_witness(cfg)) != 0) {
			kta_config_free(cfg);
			return code;
		}
		ct[0] = '\0';
		if (cfg->nctlogs > 0)
			(void)snprintf(ct, sizeof(ct), ", %zu CT log%s", cfg->nctlogs,
				       cfg->nctlogs == 1 ? "" : "s");
		printf("OK: %s: %zu log%s%s, %zu sink%s, %zu watch%s, state in %s\n", cfg->path,
		       cfg->nlogs, cfg->nlogs == 1 ? "" : "s", ct, cfg->nsinks,
		       cfg->nsinks == 1 ? "" : "s", nw, nw == 1 ? "" : "es", cfg->state_dir);
		kta_config_free(cfg);
		return fflush(stdout) == 0 ? 0 : 3;
	}
	if (install_signals() != 0) {
		fprintf(stderr, "ktaudit: cannot install signal handlers: %s\n", strerror(errno));
		kta_config_free(cfg);
		return 3;
	}
	if (cli_count(a, "once")) {
		code = monitor_once(cfg, &u, cli_count(a, "exclusive") > 0);
		kta_config_free(cfg);
		return code;
	}
	return monitor_daemon(cli_get(a, "config"), cfg, &u);
}

/*
 * --check-config: the witness key must load (it is read when the monitor
 * starts); a key without a publish directory, or the reverse, cosigns
 * nothing, which is worth a warning. Returns the exit code (0 ok).
 */
static int check_witness(const struct kta_config *cfg)
{
	struct kta_skey *wk = NULL;
	struct kta_error e;
	enum kta_status r;
	size_t i, npub = cfg->publish_dir != NULL ? cfg->nlogs : 0;

	for (i = 0; cfg->publish_dir == NULL && i < cfg->nlogs; i++)
		npub += cfg->logs[i].publish_dir != NULL;
	if (cfg->witness_key == NULL) {
		if (npub > 0)
			fprintf(stderr,
				"ktaudit: warning: publish_dir without witness_key: nothing "
				"will be cosigned\n");
		return 0;
	}
	kta_error_clear(&e);
	if ((r = kta_witness_load_key(cfg->witness_key, &wk, &e)) != KTA_OK) {
		fprintf(stderr, "ktaudit: %s\n", e.msg);
		return kta_status_exit_code(r);
	}
	if (npub == 0)
		fprintf(stderr, "ktaudit: warning: witness_key without publish_dir: nothing will "
				"be cosigned\n");
	kta_skey_free(wk);
	return 0;
}

/* ---- watch add | approve | list, history ---- */

/* Opens the configuration (--config), its state read-only in intent
 * (offline), and finds --log (when log is not NULL). */
static enum kta_status open_for_log(const struct cli_args *a, struct kta_config **cfg,
				    struct kta_monitor **m, struct ui *u, size_t *log,
				    struct kta_error *e)
{
	enum kta_status r;

	memset(u, 0, sizeof(*u));
	if ((r = config_load(cli_get(a, "config"), cfg, e)) != KTA_OK ||
	    (r = monitor_open(*cfg, u, 1, 0, m, e)) != KTA_OK)
		return r;
	if (log != NULL)
		return kta_monitor_find_log(*m, cli_get(a, "log"), log, e);
	return KTA_OK;
}

static void print_keys(FILE *f, const struct kta_entry_key *keys, size_t n)
{
	char b64[KTA_B64_ENCODED_LEN(32) + 1];
	size_t i;

	if (n == 0)
		fprintf(f, " (none)");
	for (i = 0; i < n; i++) {
		kta_b64_encode(keys[i].pub, 32, b64);
		fprintf(f, " %s:%s:%s", kta_entry_alg_name(keys[i].alg), b64, keys[i].device);
	}
}

static json_t *keys_json(const struct kta_entry_key *keys, size_t n)
{
	char b64[KTA_B64_ENCODED_LEN(32) + 1];
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr != NULL && i < n; i++) {
		kta_b64_encode(keys[i].pub, 32, b64);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "alg",
						     kta_entry_alg_name(keys[i].alg), "key", b64,
						     "device", keys[i].device));
	}
	return arr;
}

int cmd_watch_add(const struct cli_args *a)
{
	struct kta_config *cfg = NULL;
	struct kta_monitor *m = NULL;
	struct kta_entry_key *keys = NULL;
	size_t nk = cli_count(a, "key"), i, log = 0;
	int tofu = cli_count(a, "tofu") > 0, alerted = 0, code;
	const char *label = a->pos[0];
	struct kta_error e;
	enum kta_status r = KTA_OK;
	struct ui u;
	char line[KTA_LABEL_MAX_LEN * 4 + 256], q[KTA_LABEL_MAX_LEN * 4 + 4];

	kta_error_clear(&e);
	if (tofu == (nk > 0))
		return cli_finish(a,
				  kta_error_set(&e, KTA_ERR_USAGE,
						"watch add: give --key (one or more) or --tofu"),
				  &e, NULL, NULL);
	if ((r = open_for_log(a, &cfg, &m, &u, &log, &e)) != KTA_OK) {
		code = cli_finish(a, r, &e, NULL, NULL);
		goto out;
	}
	if (nk > 0 && (keys = calloc(nk, sizeof(*keys))) == NULL) {
		r = kta_error_set(&e, KTA_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < nk; i++)
		if ((r = kta_replay_key_parse(cli_get_n(a, "key", i), &keys[i], &e)) != KTA_OK) {
			(void)kta_error_prefix(&e, "--key");
			goto done;
		}
	if ((r = kta_entry_label_check(label, strlen(label), &e)) != KTA_OK) {
		(void)kta_error_prefix(&e, "label");
		goto done;
	}
	r = kta_monitor_watch_add(m, log, label, tofu ? KTA_WATCH_TOFU : KTA_WATCH_PINNED, keys, nk,
				  &alerted, &e);
done:
	kta_quote((const uint8_t *)label, strlen(label), KTA_LABEL_MAX_LEN, q);
	(void)snprintf(line, sizeof(line), "watching %s in %s (%s)%s", q, cfg->logs[log].name,
		       tofu ? "trust on first use" : "pinned keys",
		       alerted ? "; its current key set differs: key_changed alert stored" : "");
	code = cli_finish(a, r, &e, line,
			  r == KTA_OK ? json_pack("{s:s,s:s,s:s,s:b}", "label", label, "log",
						  cfg->logs[log].name, "mode",
						  tofu ? "tofu" : "pinned", "alerted", alerted)
				      : NULL);
out:
	kta_replay_keys_free(keys, nk);
	kta_monitor_close(m);
	kta_config_free(cfg);
	return code;
}

int cmd_watch_approve(const struct cli_args *a)
{
	struct kta_config *cfg = NULL;
	struct kta_monitor *m = NULL;
	const char *label = a->pos[0], *vs = a->pos[1];
	uint64_t version = 0;
	size_t log = 0;
	struct kta_error e;
	enum kta_status r;
	struct ui u;
	int code;
	char line[KTA_LABEL_MAX_LEN * 4 + 128], q[KTA_LABEL_MAX_LEN * 4 + 4];

	kta_error_clear(&e);
	if (kta_parse_u64(vs, strlen(vs), &version, &e) != KTA_OK || version == 0) {
		r = kta_error_set(&e, KTA_ERR_USAGE,
				  "watch approve: VERSION must be a decimal >= 1, not \"%s\"",
				  kta_quote((const uint8_t *)vs, strlen(vs), 24, q));
		return cli_finish(a, r, &e, NULL, NULL);
	}
	if ((r = open_for_log(a, &cfg, &m, &u, &log, &e)) != KTA_OK) {
		code = cli_finish(a, r, &e, NULL, NULL);
		goto out;
	}
	r = kta_monitor_watch_approve(m, log, label, version, &e);
	kta_quote((const uint8_t *)label, strlen(label), KTA_LABEL_MAX_LEN, q);
	(void)snprintf(line, sizeof(line), "approved %s version %" PRIu64 " in %s", q, version,
		       cfg->logs[log].name);
	code =
	    cli_finish(a, r, &e, line,
		       r == KTA_OK ? json_pack("{s:s,s:s,s:I}", "label", label, "log",
					       cfg->logs[log].name, "version", (json_int_t)version)
				   : NULL);
out:
	kta_monitor_close(m);
	kta_config_free(cfg);
	return code;
}

int cmd_watch_list(const struct cli_args *a)
{
	struct kta_config *cfg = NULL;
	struct kta_monitor *m = NULL;
	struct kta_state_watch *w = NULL;
	size_t n = 0, i, j, log = 0;
	const char *only = cli_get(a, "log");
	struct kta_error e;
	enum kta_status r = KTA_OK;
	json_t *arr = NULL;
	struct ui u;
	int code;

	kta_error_clear(&e);
	if ((r = open_for_log(a, &cfg, &m, &u, only != NULL ? &log : NULL, &e)) != KTA_OK) {
		code = cli_finish(a, r, &e, NULL, NULL);
		goto out;
	}
	if (a->json && (arr = json_array()) == NULL) {
		r = kta_error_set(&e, KTA_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (j = 0; j < cfg->nlogs; j++) {
		if (only != NULL && j != log)
			continue;
		if ((r = kta_state_watch_list(kta_monitor_state(m), cfg->logs[j].origin, &w, &n,
					      &e)) != KTA_OK)
			goto done;
		for (i = 0; i < n; i++) {
			const char *mode = w[i].mode == KTA_WATCH_TOFU ? "tofu" : "pinned";

			if (arr != NULL) {
				json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "log", cfg->logs[j].name,
						      "label", w[i].label, "mode", mode, "keys",
						      keys_json(w[i].keys, w[i].nkeys));

				if (o != NULL && w[i].has_approved && w[i].approved_version > 0)
					json_object_set_new(
					    o, "approved_version",
					    json_integer((json_int_t)w[i].approved_version));
				json_array_append_new(arr, o);
				continue;
			}
			printf("%s %s %s", cfg->logs[j].name, w[i].label, mode);
			if (!w[i].has_approved)
				printf(" approved=none");
			else if (w[i].approved_version == 0)
				printf(" approved=pin");
			else
				printf(" approved=v%" PRIu64, w[i].approved_version);
			if (w[i].has_approved)
				print_keys(stdout, w[i].keys, w[i].nkeys);
			printf("\n");
		}
		kta_state_watch_list_free(w, n);
		w = NULL;
		n = 0;
	}
	if (arr != NULL) {
		char *s = json_dumps(arr, JSON_COMPACT);

		if (s != NULL)
			puts(s);
		free(s);
	}
done:
	kta_state_watch_list_free(w, n);
	json_decref(arr);
	if (r != KTA_OK)
		code = cli_finish(a, r, &e, NULL, NULL);
	else
		code = fflush(stdout) == 0 ? 0 : 3;
out:
	kta_monitor_close(m);
	kta_config_free(cfg);
	return code;
}

/*
 * Makes sure evidence_dir exists. A command run by another user than the
 * state's owner (root, say) does not create it: the monitor could then not
 * write its own evidence there.
 */
static enum kta_status evidence_dir_ready(const struct kta_config *cfg, struct kta_error *e)
{
	struct stat st;

	if (stat(cfg->evidence_dir, &st) == 0)
		return KTA_OK;
	if (errno == ENOENT && stat(cfg->state_dir, &st) == 0 && st.st_uid != geteuid())
		return kta_error_set(
		    e, KTA_ERR_IO,
		    "%s does not exist, and the state directory belongs to uid %lu, "
		    "not to this user (uid %lu), who would own it: run this as the "
		    "monitor's user",
		    cfg->evidence_dir, (unsigned long)st.st_uid, (unsigned long)geteuid());
	return kta_file_mkdirs(cfg->evidence_dir, 0700, e);
}

/*
 * Writes the evidence of a fork that answer l shows against the stored
 * checkpoint v (kta_lookup_check_tree's *f) to evidence_dir, after checking
 * that it holds; prefixes e's message with its path (out->evidence), or
 * with why there is none. The verdict stands either way.
 */
static void lookup_fork_evidence(const struct kta_config *cfg, const struct kta_lookup *l,
				 const struct kta_state_log *v, const struct kta_lookup_fork *f,
				 const struct kta_vkey *log_key, struct cli_audit *out,
				 struct kta_error *e)
{
	uint8_t path[KTA_LOOKUP_MAX_PATH + 1][32], digest[32];
	struct kta_evidence_result er;
	struct kta_hasher *h = NULL;
	struct kta_error why;
	char hex[17], *ev = NULL;
	size_t evlen = 0, nr = 0;
	enum kta_status r;
	const uint8_t(*hs)[32] = kta_compact_range_hashes(v->range, &nr);
	size_t plen = kta_lookup_fork_path(l, f, path);

	kta_error_clear(&why);
	if (f->same_size)
		r = kta_evidence_fork_same_size(v->origin, (const uint8_t *)v->checkpoint,
						v->checkpoint_len, l->checkpoint, l->checkpoint_len,
						&ev, &evlen, &why);
	else
		r = kta_evidence_fork_prefix(v->origin, (const uint8_t *)v->checkpoint,
					     v->checkpoint_len, l->checkpoint, l->checkpoint_len,
					     hs, nr, f->range_index, f->hash,
					     (const uint8_t(*)[32])path, plen, &ev, &evlen, &why);
	if (r == KTA_OK)
		r = kta_evidence_verify((const uint8_t *)ev, evlen, log_key, v->origin, time(NULL),
					&er, &why);
	if (r == KTA_OK && (r = kta_hasher_new(&h, &why)) == KTA_OK) {
		kta_sha256(h, (const uint8_t *)ev, evlen, digest);
		r = kta_hasher_failed(h) ? kta_error_set(&why, KTA_ERR_INTERNAL, "SHA-256 failed")
					 : KTA_OK;
		kta_hasher_free(h);
	}
	if (r == KTA_OK) {
		kta_hex_encode(digest, 8, hex);
		(void)snprintf(out->evidence, sizeof(out->evidence), "%s/lookup-fork-%s.json",
			       cfg->evidence_dir, hex);
		if ((r = evidence_dir_ready(cfg, &why)) == KTA_OK)
			r = kta_file_write_atomic(out->evidence, (const uint8_t *)ev, evlen, 0644,
						  &why);
	}
	/* the path first in the message: a long one must not be cut */
	if (r == KTA_OK) {
		(void)kta_error_prefix(e,
				       "evidence in %s (`ktaudit verify evidence` checks it with "
				       "the log's key alone)",
				       out->evidence);
	} else {
		out->evidence[0] = '\0';
		(void)kta_error_prefix(e, "no evidence bundle (%s)", why.msg);
	}
	free(ev);
}

enum kta_status cli_lookup_audit(const struct cli_args *a, const char *where,
				 const struct kta_lookup *l, const struct kta_lookup_result *res,
				 const struct kta_vkey *log_key, struct cli_audit *out,
				 struct kta_error *e)
{
	struct kta_config *cfg = NULL;
	struct kta_monitor *m = NULL;
	struct kta_state_history_item *h = NULL;
	struct kta_state_log *v = NULL;
	struct kta_lookup_seen *seen = NULL;
	size_t n = 0, i, log = 0;
	int found = 0;
	enum kta_status r;
	struct ui u;

	memset(out, 0, sizeof(*out));
	if ((r = open_for_log(a, &cfg, &m, &u, &log, e)) != KTA_OK)
		goto out;
	if (strcmp(cfg->logs[log].origin, res->cp.cp->origin) != 0 ||
	    !kta_vkey_equal(cfg->logs[log].key, log_key)) {
		r = kta_error_set(e, KTA_ERR_USAGE,
				  "%s: the answer is from log \"%s\" under --log-key, but the "
				  "configuration's log %s audits \"%s\" under its own key",
				  where, res->cp.cp->origin, cfg->logs[log].name,
				  cfg->logs[log].origin);
		goto out;
	}
	/* The stored checkpoint first, then the history: a monitor running
	 * meanwhile can only add history past the checkpoint read, which the
	 * check ignores (rows at or beyond `audited`). */
	if ((r = kta_monitor_label_check(m, log, res->entry->label, e)) != KTA_OK ||
	    (r = kta_state_log_get(kta_monitor_state(m), cfg->logs[log].origin, &found, &v, e)) !=
		KTA_OK ||
	    (r = kta_state_history(kta_monitor_state(m), cfg->logs[log].origin, res->entry->label,
				   &h, &n, e)) != KTA_OK)
		goto out;
	if ((seen = calloc(n + 1, sizeof(*seen))) == NULL) {
		r = kta_error_set(e, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		seen[i] = (struct kta_lookup_seen){h[i].version, h[i].leaf_index, h[i].entry,
						   h[i].entry_len};
	if (found) {
		struct kta_lookup_fork f;

		out->size = v->size;
		out->at = v->updated;
		/* The answer's tree first: a fork outweighs a stale entry. */
		r = kta_lookup_check_tree(l, res, v->size, v->root, v->range, &f, e);
		if (r == KTA_ERR_VERIFY)
			lookup_fork_evidence(cfg, l, v, &f, log_key, out, e);
	}
	if (r == KTA_OK)
		r = kta_lookup_check_latest(res, seen, n, found ? v->size : 0, e);
	if (r != KTA_OK)
		(void)kta_error_prefix(e, "%s: %s (the audit in %s)", where, cfg->logs[log].name,
				       cli_get(a, "config"));
out:
	free(seen);
	kta_state_history_free(h, n);
	kta_state_log_free(v);
	kta_monitor_close(m);
	kta_config_free(cfg);
	return r;
}

int cmd_history(const struct cli_args *a)
{
	struct kta_config *cfg = NULL;
	struct kta_monitor *m = NULL;
	struct kta_state_history_item *h = NULL;
	struct kta_state_watch *w = NULL;
	const char *label = a->pos[0];
	size_t n = 0, i, log = 0;
	int found = 0, code;
	struct kta_error e;
	enum kta_status r = KTA_OK;
	json_t *arr = NULL;
	struct ui u;

	kta_error_clear(&e);
	if ((r = open_for_log(a, &cfg, &m, &u, &log, &e)) != KTA_OK) {
		code = cli_finish(a, r, &e, NULL, NULL);
		goto out;
	}
	if ((r = kta_monitor_label_check(m, log, label, &e)) != KTA_OK ||
	    (r = kta_state_history(kta_monitor_state(m), cfg->logs[log].origin, label, &h, &n,
				   &e)) != KTA_OK ||
	    (r = kta_state_watch_get(kta_monitor_state(m), cfg->logs[log].origin, label, &found, &w,
				     &e)) != KTA_OK)
		goto done;
	if (a->json && (arr = json_array()) == NULL) {
		r = kta_error_set(&e, KTA_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++) {
		struct kta_entry *en = NULL;
		struct kta_error pe;
		const char *auth = kta_replay_auth_name(h[i].auth);
		int approved = found && w->has_approved && w->approved_version == h[i].version;

		kta_error_clear(&pe);
		if (kta_entry_parse(h[i].entry, h[i].entry_len, &en, &pe) != KTA_OK) {
			/* The history keeps only entries that parsed; say so if not. */
			if (arr != NULL)
				json_array_append_new(
				    arr, json_pack("{s:I,s:I,s:s,s:s}", "version",
						   (json_int_t)h[i].version, "leaf_index",
						   (json_int_t)h[i].leaf_index, "auth", auth,
						   "error", pe.msg));
			else
				printf("version %" PRIu64 " leaf %" PRIu64
				       " auth=%s unparsable: %s\n",
				       h[i].version, h[i].leaf_index, auth, pe.msg);
			continue;
		}
		if (arr != NULL) {
			json_array_append_new(arr, json_pack("{s:I,s:I,s:I,s:s,s:b,s:o}", "version",
							     (json_int_t)h[i].version, "leaf_index",
							     (json_int_t)h[i].leaf_index, "time",
							     (json_int_t)en->time, "auth", auth,
							     "approved", approved, "keys",
							     keys_json(en->keys, en->nkeys)));
		} else {
			printf("version %" PRIu64 " leaf %" PRIu64 " auth=%s%s keys:", h[i].version,
			       h[i].leaf_index, auth, approved ? " approved" : "");
			print_keys(stdout, en->keys, en->nkeys);
			printf("\n");
		}
		kta_entry_free(en);
	}
	if (arr != NULL) {
		char *s = json_dumps(arr, JSON_COMPACT);

		if (s != NULL)
			puts(s);
		free(s);
	} else if (n == 0) {
		fprintf(stderr, "ktaudit: no entries of \"%s\" replayed in %s\n", label,
			cfg->logs[log].name);
	}
done:
	json_decref(arr);
	kta_state_watch_free(w);
	kta_state_history_free(h, n);
	if (r != KTA_OK)
		code = cli_finish(a, r, &e, NULL, NULL);
	else
		code = fflush(stdout) == 0 ? 0 : 3;
out:
	kta_monitor_close(m);
	kta_config_free(cfg);
	return code;
}
