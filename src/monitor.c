/*
 * The monitor: one audit cycle per log (issue 4 "Each cycle, per log").
 * See ktaudit/monitor.h for the steps and the alert policy.
 */
#include "ktaudit/monitor.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/ctmon.h"
#include "ktaudit/deliver.h"
#include "ktaudit/encoding.h"
#include "ktaudit/evidence.h"
#include "ktaudit/fetch.h"
#include "ktaudit/file.h"
#include "ktaudit/gossip.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"
#include "ktaudit/shard.h"
#include "ktaudit/state.h"
#include "ktaudit/tile.h"
#include "ktaudit/tlog.h"
#include "ktaudit/witness.h"

/* Bundles fetched in parallel during a replay. */
#define MON_PREFETCH 8u
/* Longest log line built here. */
#define MON_LINE_MAX 1024

/* One configured URL of a log. */
struct msource {
	const char *url; /* borrowed from the configuration */
	struct kta_tlog *c;
	int primary;               /* 1 for `url`, 0 for a mirror */
	struct kta_fetcher *f;     /* the fetcher of c: the log's, or own_f */
	struct kta_fetcher *own_f; /* with this URL's proxy, or NULL */
};

/* One configured log and what this process knows about it. */
struct mlog {
	const struct kta_log_config *cfg; /* borrowed */
	struct kta_fetcher *f;
	struct msource *src; /* url first, then the mirrors */
	size_t nsrc;
	char *publish_dir; /* where the cosigned checkpoint goes, or NULL */
	struct kta_monitor_log_status status;
};

struct kta_monitor {
	const struct kta_config *cfg; /* borrowed */
	struct kta_monitor_opts o;
	struct kta_state *st;
	struct kta_hasher *h;
	struct kta_skey *wkey; /* the auditor's cosigning key, or NULL */
	struct mlog *logs;
	size_t nlogs;
	struct mctlog *ctlogs; /* log numbers nlogs.. (monitor.h); NULL if none */
	size_t nctlogs;
};

/* A checkpoint fetched from one source during a cycle. */
struct seen {
	size_t src;
	uint8_t *note; /* raw signed note (malloc'd) */
	size_t note_len;
	struct kta_checkpoint *cp; /* set when the log signature and origin verified */
	int policy_ok;             /* quorum and age met as well */
	int has_time;              /* a trustworthy time for the head is known */
	int64_t newest;            /* newest such time */
	int time_seen;             /* newest is when the tree was first seen, not a cosignature */
	int consistent;            /* no inconsistency found against the state or others */
};

/* One cycle of one log. */
struct cyc {
	struct kta_monitor *m;
	struct mlog *lg;
	struct kta_monitor_result *res;
	int64_t now;
	struct kta_state_log *v; /* the last verified checkpoint, or NULL */
	struct seen *seen;
	size_t nseen;
	int blocked;   /* a provable inconsistency: do not advance */
	int advanced;  /* the state now holds the target head */
	int clock_off; /* the local clock disagrees with a server's Date (check_clock) */
	/* A catch-up left pending by an earlier cycle (state.h "pending") and
	 * its target as a head (verified again); pend_used: advance took it up,
	 * pend_done: advance finished it to P itself (not to a fresher note of
	 * the same tree). */
	struct kta_state_pending *pd;
	struct seen pend;
	int pend_used, pend_done;
	int64_t stored_at; /* the time the last advance stored its head with */
};

/* ---- small helpers ---- */

static int64_t mon_now(const struct kta_monitor *m)
{
	if (m->o.now != NULL)
		return m->o.now(m->o.ctx);
	return (int64_t)time(NULL);
}

static int mon_cancelled(const struct kta_monitor *m)
{
	return m->o.cancel != NULL && m->o.cancel(m->o.ctx) != 0;
}

static void mon_log(const struct kta_monitor *m, enum kta_monitor_level level, const char *log_name,
		    const char *fmt, ...) KTA_PRINTF(4, 5);

static void mon_log(const struct kta_monitor *m, enum kta_monitor_level level, const char *log_name,
		    const char *fmt, ...)
{
	char line[MON_LINE_MAX];
	va_list ap;

	if (m->o.log == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	m->o.log(m->o.ctx, level, log_name, line);
}

static void set_class(struct kta_monitor_result *res, const char *cls)
{
	if (res->error_class[0] == '\0')
		(void)snprintf(res->error_class, sizeof(res->error_class), "%s", cls);
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
	char buf[KTA_B64_ENCODED_LEN(32) + 1];

	if (n > 32)
		return NULL;
	kta_b64_encode(p, n, buf);
	return json_string(buf);
}

/* The UTC day of t as YYYY-MM-DD, for alerts that should repeat once a day. */
static void utc_day(int64_t t, char out[static 24])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 24, "%Y-%m-%d", &tm) == 0)
		(void)snprintf(out, 24, "%" PRId64, t / 86400);
}

/* The stored size (0 before the first verified checkpoint). */
static uint64_t vsize(const struct cyc *cy)
{
	return cy->v != NULL ? cy->v->size : 0;
}

/*
 * Writes the evidence bundle (ev, evlen) of alert a (id set) to
 * evidence_dir/<id>.json after checking that it verifies, and sets
 * a->evidence. The name follows the id, so a step redone after a crash
 * rewrites the same file. A bundle that cannot be written or does not
 * verify is logged and left out: the alert itself must not be lost.
 */
static enum kta_status attach_evidence(struct cyc *cy, struct kta_alert *a, const char *ev,
				       size_t evlen, struct kta_error *err)
{
	struct kta_monitor *m = cy->m;
	struct kta_evidence_result res;
	struct kta_error e;
	enum kta_status r;
	char *path = NULL;
	size_t plen;

	kta_error_clear(&e);
	r = kta_evidence_verify((const uint8_t *)ev, evlen, cy->lg->cfg->key, cy->lg->cfg->origin,
				cy->now, &res, &e);
	if (r == KTA_ERR_NOMEM)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK) {
		mon_log(m, KTA_MONITOR_WARN, cy->lg->cfg->name,
			"evidence for alert %s does not verify, not attached: %s", a->id, e.msg);
		return KTA_OK;
	}
	plen = strlen(m->cfg->evidence_dir) + 1 + 32 + 5 + 1;
	if ((path = malloc(plen)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	(void)snprintf(path, plen, "%s/%s.json", m->cfg->evidence_dir, a->id);
	if ((r = kta_file_mkdirs(m->cfg->evidence_dir, 0700, &e)) != KTA_OK ||
	    (r = kta_file_write_atomic(path, (const uint8_t *)ev, evlen, 0644, &e)) != KTA_OK) {
		mon_log(m, KTA_MONITOR_WARN, cy->lg->cfg->name,
			"cannot write the evidence for alert %s: %s", a->id, e.msg);
		free(path);
		return KTA_OK;
	}
	free(a->evidence);
	a->evidence = path;
	return KTA_OK;
}

/*
 * Stores a finding: sets its id, attaches the evidence (ev may be NULL),
 * adds it to the outbox (in the current transaction, or its own), counts it
 * and logs it. a is the caller's.
 */
static enum kta_status store_alert(struct cyc *cy, struct kta_alert *a, const char *ev,
				   size_t evlen, struct kta_error *err)
{
	enum kta_status r;
	int added = 0;

	if ((r = kta_alert_set_id(a, err)) != KTA_OK)
		return r;
	if (ev != NULL && (r = attach_evidence(cy, a, ev, evlen, err)) != KTA_OK)
		return r;
	if ((r = kta_state_alert_add(cy->m->st, a, &added, err)) != KTA_OK)
		return r;
	if ((size_t)a->severity < sizeof(cy->res->findings) / sizeof(cy->res->findings[0]))
		cy->res->findings[a->severity]++;
	cy->res->new_alerts += (size_t)added;
	mon_log(cy->m, added ? KTA_MONITOR_ALERT : KTA_MONITOR_INFO, cy->lg->cfg->name,
		"%s %s%s: %s", kta_severity_name(a->severity), kta_alert_kind_name(a->kind),
		added ? "" : " (already reported)", a->message);
	return KTA_OK;
}

/* What a checkpoint-level finding carries besides its message. */
struct finding {
	enum kta_alert_kind kind;
	uint64_t size;   /* the checkpoint size it was made at */
	json_t *details; /* stolen; NULL means out of memory */
	int has_leaf_index;
	uint64_t leaf_index;
	char *ev; /* evidence bundle text (stolen) or NULL */
	size_t evlen;
};

/* Builds and stores a finding (f's members are consumed). */
static enum kta_status report(struct cyc *cy, struct finding *f, struct kta_error *err,
			      const char *fmt, ...) KTA_PRINTF(4, 5);

static enum kta_status report(struct cyc *cy, struct finding *f, struct kta_error *err,
			      const char *fmt, ...)
{
	char msg[MON_LINE_MAX];
	struct kta_alert *a = NULL;
	enum kta_status r;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f->details == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
		goto out;
	}
	if ((r = kta_alert_new(f->kind, cy->lg->cfg->origin, cy->now, msg, &a, err)) != KTA_OK)
		goto out;
	a->size = f->size;
	a->has_leaf_index = f->has_leaf_index;
	a->leaf_index = f->leaf_index;
	if ((r = kta_alert_set_details(a, f->details, err)) != KTA_OK)
		goto out;
	r = store_alert(cy, a, f->ev, f->evlen, err);
out:
	kta_alert_free(a);
	json_decref(f->details);
	free(f->ev);
	f->details = NULL;
	f->ev = NULL;
	return r;
}

/* A finding without leaf index or evidence. */
static struct finding simple(enum kta_alert_kind kind, uint64_t size, json_t *details)
{
	struct finding f;

	memset(&f, 0, sizeof(f));
	f.kind = kind;
	f.size = size;
	f.details = details;
	return f;
}

/* The error class of a failed fetch, for unreachable alerts and metrics. */
static void fetch_class(enum kta_status s, const struct kta_fetch_info *info, char *out, size_t cap)
{
	if (info != NULL && info->http_status >= 300)
		(void)snprintf(out, cap, "http_%ld", info->http_status);
	else if (info != NULL && info->not_found)
		(void)snprintf(out, cap, "not_found");
	else if (s == KTA_ERR_LIMIT)
		(void)snprintf(out, cap, "limit");
	else
		(void)snprintf(out, cap, "network");
}

/* An unreachable warning for url: one per URL, error class and UTC day. */
static enum kta_status report_unreachable(struct cyc *cy, const char *url, const char *cls,
					  const char *what, struct kta_error *err)
{
	struct finding f;
	char day[24];

	utc_day(cy->now, day);
	set_class(cy->res, "unreachable");
	f = simple(KTA_ALERT_UNREACHABLE, vsize(cy),
		   json_pack("{s:s,s:s,s:s}", "url", url, "class", cls, "day", day));
	return report(cy, &f, err, "cannot audit %s: %s", url, what);
}

/* ---- open, close, watches from the configuration ---- */

void kta_monitor_opts_init(struct kta_monitor_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fetch_retries = KTA_FETCH_DEFAULT_MAX_RETRIES;
}

/* "https,http,file": the schemes the log's URLs use (at least one). */
static void log_schemes(const struct kta_log_config *lc, char out[static 32])
{
	int https = 0, http = 0, file = 0;
	size_t i;

	for (i = 0; i <= lc->nmirrors + lc->npeers; i++) {
		const char *u = i == 0              ? lc->url
				: i <= lc->nmirrors ? lc->mirrors[i - 1]
						    : lc->peers[i - 1 - lc->nmirrors].url;

		https |= strncmp(u, "https://", 8) == 0;
		http |= strncmp(u, "http://", 7) == 0;
		file |= strncmp(u, "file://", 7) == 0;
	}
	(void)snprintf(out, 32, "%s%s%s%s%s", https ? "https" : "",
		       https && (http || file) ? "," : "", http ? "http" : "",
		       http && file ? "," : "", file ? "file" : "");
	if (out[0] == '\0')
		(void)snprintf(out, 32, "https");
}

static enum kta_status open_log(struct kta_monitor *m, struct mlog *lg, struct kta_error *err)
{
	struct kta_fetch_opts fo;
	struct kta_tlog_opts to;
	char schemes[32];
	enum kta_status r;
	size_t i;

	log_schemes(lg->cfg, schemes);
	kta_fetch_opts_init(&fo);
	fo.schemes = schemes;
	fo.ca_file = lg->cfg->ca_file;
	fo.max_retries = m->o.fetch_retries;
	/* A Retry-After longer than the poll interval is for the next cycle:
	 * waiting it out here would hold up every other log of the daemon
	 * (cycles run one at a time), up to 3 x 300 s per cycle. */
	if (lg->cfg->poll >= 1 && lg->cfg->poll < fo.retry_after_max_s)
		fo.retry_after_max_s = (unsigned)lg->cfg->poll;
	fo.cancel = m->o.cancel;
	fo.cancel_ctx = m->o.ctx;
	if ((r = kta_fetcher_new(&fo, &lg->f, err)) != KTA_OK)
		return kta_error_wrap(err, r, "log %s", lg->cfg->name);
	kta_tlog_opts_init(&to);
	to.prefetch = MON_PREFETCH;
	lg->nsrc = 1 + lg->cfg->nmirrors;
	if ((lg->src = calloc(lg->nsrc, sizeof(*lg->src))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	for (i = 0; i < lg->nsrc; i++) {
		const char *proxy = i == 0 ? lg->cfg->url_proxy : lg->cfg->mirror_proxies[i - 1];

		lg->src[i].url = i == 0 ? lg->cfg->url : lg->cfg->mirrors[i - 1];
		lg->src[i].primary = i == 0;
		lg->src[i].f = lg->f;
		if (proxy != NULL) {
			/* A vantage point of its own (e.g. through Tor): the log
			 * cannot tell that this client is the same auditor. */
			fo.proxy = proxy;
			r = kta_fetcher_new(&fo, &lg->src[i].own_f, err);
			fo.proxy = NULL;
			if (r != KTA_OK) {
				(void)kta_error_prefix(err, "log %s", lg->cfg->name);
				return r;
			}
			lg->src[i].f = lg->src[i].own_f;
		}
		if ((r = kta_tlog_new(lg->src[i].f, lg->src[i].url, &to, &lg->src[i].c, err)) !=
		    KTA_OK) {
			(void)kta_error_prefix(err, "log %s", lg->cfg->name);
			return r;
		}
	}
	return KTA_OK;
}

static int keys_equal(const struct kta_entry_key *a, size_t na, const struct kta_entry_key *b,
		      size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (a[i].alg != b[i].alg || memcmp(a[i].pub, b[i].pub, 32) != 0 ||
		    strcmp(a[i].device, b[i].device) != 0)
			return 0;
	return 1;
}

/*
 * In the current transaction: when `label` is in the index and its key set
 * differs from the watch's approved set, stores the key_changed alert
 * (kta_replay_key_alert, as the replay would have raised it). *alerted = 1
 * then.
 */
static enum kta_status check_watch_now(struct kta_monitor *m, struct mlog *lg, const char *label,
				       int *alerted, struct kta_error *err)
{
	const char *origin = lg->cfg->origin;
	struct kta_state_watch *w = NULL;
	struct kta_state_index *ix = NULL;
	struct kta_state_history_item *hist = NULL;
	struct kta_state_log *v = NULL;
	struct kta_alert *a = NULL;
	struct kta_replay_index ops;
	struct kta_replay_watch rw;
	struct kta_label_state ls;
	size_t nhist = 0, i;
	int found = 0, vfound = 0, authorized = 0;
	enum kta_status r;

	*alerted = 0;
	if ((r = kta_state_watch_get(m->st, origin, label, &found, &w, err)) != KTA_OK || !found ||
	    !w->has_approved)
		goto out;
	if ((r = kta_state_index_new(m->st, origin, &ix, err)) != KTA_OK)
		goto out;
	ops = kta_state_index_ops(ix);
	if ((r = ops.get(ops.ctx, label, &found, &ls, err)) != KTA_OK || !found)
		goto out;
	if (keys_equal(w->keys, w->nkeys, ls.keys, ls.nkeys))
		goto out;
	if ((r = kta_state_history(m->st, origin, label, &hist, &nhist, err)) != KTA_OK)
		goto out;
	for (i = 0; i < nhist; i++)
		if (hist[i].leaf_index == ls.leaf_index)
			authorized = hist[i].auth == KTA_AUTH_OWNER;
	if ((r = kta_state_log_get(m->st, origin, &vfound, &v, err)) != KTA_OK)
		goto out;
	memset(&rw, 0, sizeof(rw));
	rw.watched = 1;
	rw.mode = w->mode;
	rw.has_approved = w->has_approved;
	rw.approved_version = w->approved_version;
	rw.keys = w->keys;
	rw.nkeys = w->nkeys;
	if ((r = kta_replay_key_alert(origin, mon_now(m), vfound ? v->size : 0, label, ls.version,
				      ls.leaf_index, ls.keys, ls.nkeys, &rw, authorized, &a,
				      err)) != KTA_OK ||
	    a == NULL)
		goto out;
	if ((r = kta_state_alert_add(m->st, a, alerted, err)) != KTA_OK)
		goto out;
	mon_log(m, KTA_MONITOR_ALERT, lg->cfg->name, "%s %s: %s", kta_severity_name(a->severity),
		kta_alert_kind_name(a->kind), a->message);
out:
	kta_alert_free(a);
	kta_state_log_free(v);
	kta_state_history_free(hist, nhist);
	kta_state_index_free(ix);
	kta_state_watch_free(w);
	return r;
}

/* Adds a watch and checks it against the label's current keys, in the open
 * transaction. */
static enum kta_status watch_add_in(struct kta_monitor *m, struct mlog *lg, const char *label,
				    enum kta_watch_mode mode, const struct kta_entry_key *keys,
				    size_t n, int *alerted, struct kta_error *err)
{
	enum kta_status r;

	if ((r = kta_state_watch_add(m->st, lg->cfg->origin, label, mode, keys, n, mon_now(m),
				     err)) != KTA_OK)
		return r;
	return check_watch_now(m, lg, label, alerted, err);
}

/* Adds a watch and checks it against the index, in one transaction. */
static enum kta_status watch_add_tx(struct kta_monitor *m, struct mlog *lg, const char *label,
				    enum kta_watch_mode mode, const struct kta_entry_key *keys,
				    size_t n, int *alerted, struct kta_error *err)
{
	enum kta_status r;
	int dummy = 0;

	if (alerted == NULL)
		alerted = &dummy;
	*alerted = 0;
	if ((r = kta_state_begin(m->st, err)) != KTA_OK)
		return r;
	if ((r = watch_add_in(m, lg, label, mode, keys, n, alerted, err)) != KTA_OK ||
	    (r = kta_state_commit(m->st, err)) != KTA_OK) {
		(void)kta_state_rollback(m->st, NULL);
		return r;
	}
	return KTA_OK;
}

/* Applies the configuration's watch lines of one log (see monitor.h), in
 * one transaction: all of them or none, and one sync for a thousand; what
 * was added is logged once it is committed. (A pin that differs from the
 * current keys is logged as an alert when it is found, as every alert is;
 * if the transaction then fails, the next open finds it again.) */
static enum kta_status sync_watches(struct kta_monitor *m, struct mlog *lg, struct kta_error *err)
{
	enum kta_status r = KTA_OK;
	size_t i, n = lg->cfg->nwatches;
	unsigned char *added = NULL;
	int tx = 0, dummy;

	if (n > 0 && (added = calloc(n, 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	for (i = 0; i < n; i++) {
		const struct kta_watch_config *wc = &lg->cfg->watches[i];
		struct kta_state_watch *w = NULL;
		int found = 0, add;

		if ((r = kta_state_watch_get(m->st, lg->cfg->origin, wc->label, &found, &w, err)) !=
		    KTA_OK)
			break;
		if (!found)
			add = 1;
		else if (wc->tofu || w->approved_version != 0)
			add = 0; /* an approval (or tofu baseline) supersedes the file */
		else
			add = w->mode != KTA_WATCH_PINNED ||
			      !keys_equal(w->keys, w->nkeys, wc->keys, wc->nkeys);
		kta_state_watch_free(w);
		if (!add)
			continue;
		if (!tx && (r = kta_state_begin(m->st, err)) != KTA_OK)
			break;
		tx = 1;
		r = watch_add_in(m, lg, wc->label, wc->tofu ? KTA_WATCH_TOFU : KTA_WATCH_PINNED,
				 wc->keys, wc->nkeys, &dummy, err);
		if (r != KTA_OK) {
			r = kta_error_wrap(err, r, "%s:%zu: watch %s", m->cfg->path, wc->line,
					   wc->label);
			break;
		}
		added[i] = 1;
	}
	if (tx && r == KTA_OK)
		r = kta_state_commit(m->st, err);
	if (tx && r != KTA_OK)
		(void)kta_state_rollback(m->st, NULL);
	for (i = 0; r == KTA_OK && i < n; i++)
		if (added[i])
			mon_log(m, KTA_MONITOR_INFO, lg->cfg->name,
				"watching %s (%s, from the configuration)",
				lg->cfg->watches[i].label,
				lg->cfg->watches[i].tofu ? "trust on first use" : "pinned keys");
	free(added);
	return r;
}

/* Binds the state to the log's shard, or checks it is bound to it (state.h). */
static enum kta_status claim_shard(struct kta_monitor *m, struct mlog *lg, struct kta_error *err)
{
	const struct kta_log_config *lc = lg->cfg;
	enum kta_status r;
	int stored = 0;

	/* The first run records the shard; a command (offline) only checks. */
	if ((r = kta_state_shard_claim(m->st, lc->origin, lc->shard_k, lc->shard_n, !m->o.offline,
				       &stored, err)) != KTA_OK)
		return r;
	if (stored)
		mon_log(m, KTA_MONITOR_INFO, lc->name,
			"this state audits shard %u/%u of the labels (a label's shard: the first "
			"8 bytes of its SHA-256, mod %u)",
			lc->shard_k, lc->shard_n, lc->shard_n);
	return KTA_OK;
}

/* Loads what the state knows about a log into its status. */
static enum kta_status load_status(struct kta_monitor *m, struct mlog *lg, struct kta_error *err)
{
	struct kta_state_log *v = NULL;
	enum kta_status r;
	int found = 0;

	lg->status.name = lg->cfg->name;
	lg->status.checkpoint_time = -1;
	if ((r = kta_state_log_get(m->st, lg->cfg->origin, &found, &v, err)) != KTA_OK)
		return r;
	if (found) {
		lg->status.has_checkpoint = 1;
		lg->status.size = v->size;
		lg->status.checkpoint_time = v->updated;
	}
	kta_state_log_free(v);
	return KTA_OK;
}

/* The log's publish directory: its own publish_dir, or GLOBAL/<log dir>. */
static enum kta_status publish_path(struct kta_monitor *m, struct mlog *lg, struct kta_error *err)
{
	char sub[KTA_WITNESS_LOG_DIR_MAX + 1];
	enum kta_status r;
	size_t n;

	if (lg->cfg->publish_dir != NULL) {
		if ((lg->publish_dir = strdup(lg->cfg->publish_dir)) == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
		return KTA_OK;
	}
	if (m->cfg->publish_dir == NULL)
		return KTA_OK;
	if ((r = kta_witness_log_dir(lg->cfg->name, sub, sizeof(sub), err)) != KTA_OK)
		return r;
	n = strlen(m->cfg->publish_dir) + 1 + strlen(sub) + 1;
	if ((lg->publish_dir = malloc(n)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	(void)snprintf(lg->publish_dir, n, "%s/%s", m->cfg->publish_dir, sub);
	return KTA_OK;
}

/* ---- Certificate Transparency logs (ctmon.h): log numbers nlogs.. ---- */

/* One configured `ctlog` and what this process knows about it. */
struct mctlog {
	const struct kta_ctlog_config *cfg; /* borrowed */
	struct kta_fetcher *f;              /* NULL when opened offline */
	struct kta_ctmon_log log;           /* borrows from cfg and watches */
	struct kta_ctmon_watch *watches;    /* malloc'd (kta_ctmon_log_from_config) */
	struct kta_monitor_log_status status;
};

/* One CT cycle: what the report callback needs. */
struct ctcyc {
	struct kta_monitor *m;
	struct mctlog *cl;
	struct kta_monitor_result *res;
};

/* The scheme of url, for the fetcher ("https" when unknown: refused later). */
static const char *url_scheme(const char *url)
{
	if (strncmp(url, "http://", 7) == 0)
		return "http";
	if (strncmp(url, "file://", 7) == 0)
		return "file";
	return "https";
}

/* Sets up ctlog c: watches, evidence directory, stored progress, fetcher. */
static enum kta_status ct_open(struct kta_monitor *m, struct mctlog *cl,
			       const struct kta_ctlog_config *c, struct kta_error *err)
{
	struct kta_fetch_opts fo;
	struct kta_state_log *v = NULL;
	size_t olen = strlen(KTA_CTMON_STATE_PREFIX) + strlen(c->name) + 1;
	char *origin = NULL;
	enum kta_status r;
	int found = 0;

	cl->cfg = c;
	cl->status.name = c->name;
	cl->status.checkpoint_time = -1;
	if ((r = kta_ctmon_log_from_config(c, &cl->log, &cl->watches, err)) != KTA_OK)
		return r;
	cl->log.evidence_dir = m->cfg->evidence_dir;
	if ((origin = malloc(olen)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	(void)snprintf(origin, olen, KTA_CTMON_STATE_PREFIX "%s", c->name);
	r = kta_state_log_get(m->st, origin, &found, &v, err);
	free(origin);
	if (r != KTA_OK)
		return r;
	if (found) {
		cl->status.has_checkpoint = 1;
		cl->status.size = v->size;
		cl->status.checkpoint_time = v->updated;
	}
	kta_state_log_free(v);
	if (m->o.offline)
		return KTA_OK;
	kta_fetch_opts_init(&fo);
	/* A static log is read from its monitoring prefix only. */
	fo.schemes = url_scheme(c->monitoring_url != NULL ? c->monitoring_url : c->url);
	fo.ca_file = c->ca_file;
	/* A get-entries page of large certificates (ct.h), or a full data tile. */
	fo.max_size = KTA_CT_ENTRIES_BODY_MAX;
	fo.max_retries = m->o.fetch_retries;
	fo.cancel = m->o.cancel;
	fo.cancel_ctx = m->o.ctx;
	if ((r = kta_fetcher_new(&fo, &cl->f, err)) != KTA_OK)
		return kta_error_wrap(err, r, "ctlog %s", c->name);
	return KTA_OK;
}

/*
 * Each certificate for a watched domain: one info line when its key is
 * approved (the entry is replayed once, so it is reported once); the alert
 * for an unapproved key is stored by kta_ctmon_cycle, counted here.
 */
static enum kta_status ct_report(void *ctx, const struct kta_ctmon_report *rep,
				 struct kta_error *err)
{
	struct ctcyc *cc = ctx;
	const struct kta_ct_cert *c = rep->cert;
	char spki[65];

	(void)err;
	kta_hex_encode(c->spki_sha256, 32, spki);
	if (rep->approved) {
		mon_log(cc->m, KTA_MONITOR_INFO, cc->cl->cfg->name,
			"certificate for %s (%s%s) at entry %" PRIu64
			": approved key %s, issuer %s, serial %s, valid %" PRId64 "..%" PRId64,
			rep->domain, c->nnames > 0 ? c->names[0] : "", c->nnames > 1 ? ", ..." : "",
			rep->leaf_index, spki, c->issuer, c->serial, c->not_before, c->not_after);
		return KTA_OK;
	}
	cc->res->findings[kta_alert_kind_severity(KTA_ALERT_KEY_CHANGED)]++;
	mon_log(cc->m, KTA_MONITOR_ALERT, cc->cl->cfg->name,
		"%s key_changed: certificate for %s (%s%s) with an unapproved key %s (issuer %s, "
		"serial %s, entry %" PRIu64 ")",
		kta_severity_name(kta_alert_kind_severity(KTA_ALERT_KEY_CHANGED)), rep->domain,
		c->nnames > 0 ? c->names[0] : "", c->nnames > 1 ? ", ..." : "", spki, c->issuer,
		c->serial, rep->leaf_index);
	return KTA_OK;
}

/* The error class of a failed CT step: "http_NNN" when the message names a status. */
static void ct_class(enum kta_status s, const char *msg, char *out, size_t cap)
{
	const char *p = strstr(msg, "HTTP ");

	if (p != NULL && p[5] >= '1' && p[5] <= '5' && p[6] >= '0' && p[6] <= '9' && p[7] >= '0' &&
	    p[7] <= '9')
		(void)snprintf(out, cap, "http_%c%c%c", p[5], p[6], p[7]);
	else if (s == KTA_ERR_LIMIT)
		(void)snprintf(out, cap, "limit");
	else if (s == KTA_ERR_MALFORMED)
		(void)snprintf(out, cap, "malformed");
	else
		(void)snprintf(out, cap, "network");
}

/* An unreachable warning for a CT log: one per URL, error class and UTC day. */
static enum kta_status ct_unreachable(struct ctcyc *cc, int64_t now, const char *cls,
				      const char *why, struct kta_error *err)
{
	struct kta_alert *a = NULL;
	json_t *d = NULL;
	char day[24], msg[MON_LINE_MAX];
	enum kta_status r;
	int added = 0;

	utc_day(now, day);
	set_class(cc->res, "unreachable");
	(void)snprintf(msg, sizeof(msg), "cannot audit %s: %s", cc->cl->cfg->url, why);
	if ((d = json_pack("{s:s,s:s,s:s}", "url", cc->cl->cfg->url, "class", cls, "day", day)) ==
	    NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	if ((r = kta_alert_new(KTA_ALERT_UNREACHABLE, cc->cl->cfg->name, now, msg, &a, err)) !=
	    KTA_OK)
		goto out;
	a->size = cc->cl->status.size;
	if ((r = kta_alert_set_details(a, d, err)) != KTA_OK ||
	    (r = kta_alert_set_id(a, err)) != KTA_OK ||
	    (r = kta_state_alert_add(cc->m->st, a, &added, err)) != KTA_OK)
		goto out;
	cc->res->findings[a->severity]++;
	cc->res->new_alerts += (size_t)added;
	mon_log(cc->m, added ? KTA_MONITOR_ALERT : KTA_MONITOR_INFO, cc->cl->cfg->name,
		"%s %s%s: %s", kta_severity_name(a->severity), kta_alert_kind_name(a->kind),
		added ? "" : " (already reported)", a->message);
out:
	json_decref(d);
	kta_alert_free(a);
	return r;
}

/* kta_monitor_cycle for CT log number i (index into cfg->ctlogs). */
static enum kta_status ct_cycle(struct kta_monitor *m, size_t i, struct kta_monitor_result *res,
				struct kta_error *err)
{
	struct mctlog *cl = &m->ctlogs[i];
	struct ctcyc cc;
	struct kta_ctmon_result cr;
	struct kta_error e;
	int64_t now = mon_now(m);
	enum kta_status r = KTA_ERR_INTERNAL, v;

	cc.m = m;
	cc.cl = cl;
	cc.res = res;
	res->old_size = cl->status.size;
	res->size = cl->status.size;
	res->first_run = !cl->status.has_checkpoint;
	memset(&cr, 0, sizeof(cr));
	kta_error_clear(&e);
	v = kta_ctmon_cycle(&cl->log, cl->f, m->st, now, ct_report, &cc, &cr, &e);
	if (v == KTA_OK || v == KTA_ERR_VERIFY) {
		res->new_alerts += (size_t)cr.alerts;
		if (cr.evidence_failed)
			mon_log(m, KTA_MONITOR_WARN, cl->cfg->name,
				"evidence not attached to the alert: %s", cr.evidence_msg);
	}
	if (v == KTA_OK) {
		if (res->first_run)
			mon_log(m, KTA_MONITOR_INFO, cl->cfg->name,
				"first run: trusting the signed head of size %" PRIu64,
				cr.sth_size);
		res->audited = 1;
		res->old_size = cr.old_size;
		res->size = cr.new_size;
		res->entries = cr.entries;
		if (cr.malformed > 0) {
			res->findings[kta_alert_kind_severity(KTA_ALERT_MALFORMED_ENTRY)]++;
			mon_log(m, KTA_MONITOR_ALERT, cl->cfg->name,
				"%" PRIu64 " signed entries do not parse (malformed_entry)",
				cr.malformed);
		}
		if (cr.new_size < cr.sth_size)
			set_class(res, "incomplete");
		if (!cl->status.has_checkpoint || cl->status.size != cr.new_size)
			cl->status.checkpoint_time = now;
		cl->status.has_checkpoint = 1;
		cl->status.size = cr.new_size;
		cl->status.entries_replayed += cr.entries;
		mon_log(m, KTA_MONITOR_INFO, cl->cfg->name,
			"replayed %" PRIu64 " entries (%" PRIu64 "..%" PRIu64
			") of the signed head of size %" PRIu64 "; %" PRIu64
			" watched certificates",
			cr.entries, cr.old_size, cr.new_size, cr.sth_size, cr.matches);
		r = KTA_OK;
	} else if (v == KTA_ERR_VERIFY) {
		enum kta_alert_kind k = cr.finding != 0 ? cr.finding : KTA_ALERT_FORK;

		res->findings[kta_alert_kind_severity(k)]++;
		set_class(res, kta_alert_kind_name(k));
		mon_log(m, KTA_MONITOR_ALERT, cl->cfg->name, "%s %s: %s",
			kta_severity_name(kta_alert_kind_severity(k)), kta_alert_kind_name(k),
			e.msg);
		r = KTA_OK;
	} else if (v == KTA_ERR_NOMEM || v == KTA_ERR_INTERNAL || v == KTA_ERR_USAGE ||
		   mon_cancelled(m)) {
		r = kta_error_set(err, v, "%s", e.msg);
	} else {
		/* IO, MALFORMED, LIMIT: the log (or what it served) could not be audited. */
		char cls[KTA_MONITOR_ERROR_CLASS_MAX];

		ct_class(v, e.msg, cls, sizeof(cls));
		r = ct_unreachable(&cc, now, cls, e.msg, err);
	}
	if (r != KTA_OK)
		set_class(res, mon_cancelled(m) ? "cancelled" : "error");
	if (res->audited && res->findings[KTA_SEV_WARNING] == 0 &&
	    strcmp(res->error_class, "incomplete") != 0)
		res->error_class[0] = '\0';
	else if (res->error_class[0] == '\0')
		set_class(res, "incomplete");
	if (res->error_class[0] == '\0')
		cl->status.last_success = now;
	(void)snprintf(cl->status.last_error, sizeof(cl->status.last_error), "%s",
		       res->error_class);
	return r;
}

/* The status of log number i: key-directory logs first, then CT logs. */
static const struct kta_monitor_log_status *status_at(const struct kta_monitor *m, size_t i)
{
	return i < m->nlogs ? &m->logs[i].status : &m->ctlogs[i - m->nlogs].status;
}

enum kta_status kta_monitor_open(const struct kta_config *cfg, const struct kta_monitor_opts *opts,
				 struct kta_monitor **out, struct kta_error *err)
{
	struct kta_monitor *m = NULL;
	enum kta_status r = KTA_ERR_NOMEM;
	size_t i;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	m->cfg = cfg;
	if (opts != NULL)
		m->o = *opts;
	else
		kta_monitor_opts_init(&m->o);
	if ((r = kta_hasher_new(&m->h, err)) != KTA_OK)
		goto out;
	if (!m->o.offline && cfg->witness_key != NULL &&
	    (r = kta_witness_load_key(cfg->witness_key, &m->wkey, err)) != KTA_OK)
		goto out;
	if ((r = kta_state_open(cfg->state_dir, &m->st, err)) != KTA_OK ||
	    (m->o.exclusive && (r = kta_state_set_exclusive(m->st, err)) != KTA_OK) ||
	    /* 0: a config built without the parser; the state keeps its default */
	    (cfg->index_cache != 0 &&
	     (r = kta_state_set_cache(m->st, cfg->index_cache, err)) != KTA_OK))
		goto out;
	for (i = 0; i < cfg->nsinks; i++)
		if ((r = kta_state_sink_register(m->st, cfg->sinks[i].name, mon_now(m), NULL,
						 err)) != KTA_OK)
			goto out;
	/* A configuration may hold only ctlog sections: no calloc(0). */
	if (cfg->nlogs > 0 && (m->logs = calloc(cfg->nlogs, sizeof(*m->logs))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
		goto out;
	}
	m->nlogs = cfg->nlogs;
	for (i = 0; i < cfg->nlogs; i++) {
		m->logs[i].cfg = &cfg->logs[i];
		if ((r = claim_shard(m, &m->logs[i], err)) != KTA_OK ||
		    (r = load_status(m, &m->logs[i], err)) != KTA_OK ||
		    (r = sync_watches(m, &m->logs[i], err)) != KTA_OK)
			goto out;
		if (!m->o.offline && (r = open_log(m, &m->logs[i], err)) != KTA_OK)
			goto out;
		if ((r = publish_path(m, &m->logs[i], err)) != KTA_OK)
			goto out;
	}
	if (cfg->nctlogs > 0 && (m->ctlogs = calloc(cfg->nctlogs, sizeof(*m->ctlogs))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
		goto out;
	}
	for (i = 0; i < cfg->nctlogs; i++) {
		m->nctlogs = i + 1;
		if ((r = ct_open(m, &m->ctlogs[i], &cfg->ctlogs[i], err)) != KTA_OK)
			goto out;
	}
	*out = m;
	m = NULL;
	r = KTA_OK;
out:
	kta_monitor_close(m);
	return r;
}

enum kta_status kta_monitor_share_state(struct kta_monitor *m, struct kta_error *err)
{
	return kta_state_set_shared(m->st, err);
}

void kta_monitor_close(struct kta_monitor *m)
{
	size_t i, j;

	if (m == NULL)
		return;
	for (i = 0; m->logs != NULL && i < m->nlogs; i++) {
		for (j = 0; m->logs[i].src != NULL && j < m->logs[i].nsrc; j++) {
			kta_tlog_free(m->logs[i].src[j].c);
			kta_fetcher_free(m->logs[i].src[j].own_f);
		}
		free(m->logs[i].src);
		free(m->logs[i].publish_dir);
		kta_fetcher_free(m->logs[i].f);
	}
	free(m->logs);
	for (i = 0; m->ctlogs != NULL && i < m->nctlogs; i++) {
		kta_fetcher_free(m->ctlogs[i].f);
		free(m->ctlogs[i].watches);
	}
	free(m->ctlogs);
	kta_state_close(m->st);
	kta_hasher_free(m->h);
	kta_skey_free(m->wkey);
	free(m);
}

/* ---- step 1: fetch and verify the checkpoints ---- */

/* The policy for signature and origin only (witnesses are counted one by one). */
static void base_policy(const struct cyc *cy, struct kta_checkpoint_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->log_key = cy->lg->cfg->key;
	p->origin = cy->lg->cfg->origin;
	p->now = cy->now;
	p->max_skew = KTA_MONITOR_MAX_SKEW;
}

/*
 * Counts the configured witnesses with a valid cosignature on the note,
 * each checked on its own so that one broken cosignature does not hide the
 * others (it just does not count).
 */
static enum kta_status count_witnesses(struct cyc *cy, struct seen *s, size_t *count,
				       struct kta_error *err)
{
	const struct kta_log_config *lc = cy->lg->cfg;
	size_t i;

	*count = 0;
	for (i = 0; i < lc->nwitnesses; i++) {
		struct kta_checkpoint_policy p;
		struct kta_checkpoint_result res;
		struct kta_error e;
		enum kta_status r;

		base_policy(cy, &p);
		p.witnesses = &lc->witnesses[i];
		p.nwitnesses = 1;
		kta_error_clear(&e);
		r = kta_checkpoint_verify(s->note, s->note_len, &p, &res, &e);
		if (r == KTA_ERR_NOMEM || r == KTA_ERR_INTERNAL)
			return kta_error_set(err, r, "%s", e.msg);
		if (r != KTA_OK) {
			mon_log(cy->m, KTA_MONITOR_WARN, lc->name, "%s: witness %s not counted: %s",
				cy->lg->src[s->src].url, lc->witnesses[i]->name, e.msg);
			continue;
		}
		if (res.cosigned > 0) {
			(*count)++;
			if (res.has_cosig_time &&
			    (!s->has_time || res.newest_cosig_time > s->newest)) {
				s->has_time = 1;
				s->newest = res.newest_cosig_time;
			}
		}
		kta_checkpoint_result_free(&res);
	}
	return KTA_OK;
}

/*
 * Clock faults (issue 8): with the local clock far off, every time check
 * lies (a fresh checkpoint looks stale, a fresh cosignature future-dated)
 * and the state would store wrong times. The Date header of the log's reply
 * (fetch.h) tells: off by more than KTA_MONITOR_MAX_SKEW, the cycle makes a
 * clock warning (one per URL, direction and day), takes the server's time
 * as "now" for its time checks, alert times and what it stores, and does
 * not cosign. The server is not trusted by this: a false Date can at worst
 * turn a stale warning into a clock warning, which is as loud.
 */
static enum kta_status check_clock(struct cyc *cy, const char *url, int64_t date,
				   struct kta_error *err)
{
	const char *dir;
	struct finding f;
	int64_t off;
	char day[24];

	if (date <= 0 || cy->clock_off)
		return KTA_OK;
	off = mon_now(cy->m) - date;
	if (off <= (int64_t)KTA_MONITOR_MAX_SKEW && off >= -(int64_t)KTA_MONITOR_MAX_SKEW)
		return KTA_OK;
	cy->clock_off = 1;
	cy->now -= off;
	dir = off > 0 ? "ahead of" : "behind";
	utc_day(cy->now, day);
	set_class(cy->res, "clock");
	f = simple(KTA_ALERT_CLOCK, vsize(cy),
		   json_pack("{s:s,s:s,s:s}", "url", url, "day", day, "direction",
			     off > 0 ? "ahead" : "behind"));
	return report(cy, &f, err,
		      "local clock is %" PRId64 " s %s the Date header of %s: this cycle checks "
		      "ages and cosignature times against the server's time and does not cosign",
		      off > 0 ? off : -off, dir, url);
}

/*
 * Fetches and verifies the checkpoint of source i into *s. Findings
 * (unreachable, bad_signature, quorum, stale) are stored; KTA_OK unless the
 * state failed or the cycle was cancelled.
 */
static enum kta_status fetch_one(struct cyc *cy, size_t i, struct seen *s, struct kta_error *err)
{
	const struct kta_log_config *lc = cy->lg->cfg;
	const char *url = cy->lg->src[i].url;
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	struct kta_fetch_info info;
	struct finding f;
	struct kta_error e;
	char full[KTA_TLOG_URL_MAX + 16], cls[KTA_MONITOR_ERROR_CLASS_MAX], hex[65], day[24];
	uint8_t digest[32];
	size_t count = 0;
	enum kta_status r;

	memset(s, 0, sizeof(*s));
	s->src = i;
	(void)snprintf(full, sizeof(full), "%scheckpoint", kta_tlog_url(cy->lg->src[i].c));
	kta_error_clear(&e);
	memset(&info, 0, sizeof(info));
	r = kta_fetch_get(cy->lg->src[i].f, full, &s->note, &s->note_len, &info, &e);
	if (mon_cancelled(cy->m))
		return kta_error_set(err, KTA_ERR_IO, "cancelled");
	if (r == KTA_ERR_NOMEM || r == KTA_ERR_INTERNAL)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK) {
		fetch_class(r, &info, cls, sizeof(cls));
		return report_unreachable(cy, url, cls, e.msg, err);
	}
	if ((r = check_clock(cy, url, info.date, err)) != KTA_OK)
		return r;
	/* The log's signature and the origin. A checkpoint that fails them
	 * cannot be attributed to the log: critical, but no evidence. */
	base_policy(cy, &p);
	kta_error_clear(&e);
	if (s->note_len > KTA_TLOG_CHECKPOINT_MAX)
		r = kta_error_set(&e, KTA_ERR_LIMIT, "checkpoint larger than %d bytes",
				  KTA_TLOG_CHECKPOINT_MAX);
	else
		r = kta_checkpoint_verify(s->note, s->note_len, &p, &res, &e);
	if (r == KTA_ERR_NOMEM || r == KTA_ERR_INTERNAL)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK) {
		kta_sha256(cy->m->h, s->note, s->note_len, digest);
		kta_hex_encode(digest, 32, hex);
		set_class(cy->res, "bad_signature");
		f = simple(KTA_ALERT_BAD_SIGNATURE, vsize(cy),
			   json_pack("{s:s,s:s,s:s}", "url", url, "error", e.msg, "sha256", hex));
		return report(cy, &f, err, "checkpoint from %s does not verify: %s", url, e.msg);
	}
	s->cp = res.cp;
	res.cp = NULL;
	s->consistent = 1;
	/* Witness quorum and age: warnings; such a head is checked for
	 * consistency but not adopted. Like unreachable, they are conditions
	 * that last: one warning per URL and UTC day, whatever the checkpoint. */
	utc_day(cy->now, day);
	if ((r = count_witnesses(cy, s, &count, err)) != KTA_OK)
		return r;
	s->policy_ok = 1;
	if (count < lc->quorum) {
		s->policy_ok = 0;
		set_class(cy->res, "quorum");
		f = simple(KTA_ALERT_QUORUM, vsize(cy),
			   json_pack("{s:s,s:s,s:I}", "url", url, "day", day, "quorum",
				     (json_int_t)lc->quorum));
		if ((r = report(cy, &f, err,
				"checkpoint of size %" PRIu64
				" from %s: witness quorum not met: %zu of %zu",
				s->cp->size, url, count, lc->quorum)) != KTA_OK)
			return r;
	}
	if (lc->nwitnesses == 0) {
		/* No witnesses (issue 5 "Freshness"): the newest trustworthy time is
		 * when the tree was first seen to change, the time the verified tree
		 * was stored (advance keeps it while the tree stays the same), or
		 * now for a tree not verified yet. */
		s->has_time = 1;
		s->time_seen = 1;
		s->newest = cy->now;
		if (cy->v != NULL && cy->v->size == s->cp->size &&
		    kta_ct_equal(cy->v->root, s->cp->root, 32) && cy->v->updated < cy->now)
			s->newest = cy->v->updated;
		/* the tree of a pending catch-up: first stored when it began */
		if (cy->pd != NULL && cy->pd->size == s->cp->size &&
		    kta_ct_equal(cy->pd->root, s->cp->root, 32) && cy->pd->started < cy->now)
			s->newest = cy->pd->started;
	}
	if (lc->max_age > 0 && (!s->has_time || (cy->now > s->newest &&
						 (uint64_t)(cy->now - s->newest) > lc->max_age))) {
		/* A9: a head that stops advancing hides new entries; its time
		 * comes from witness cosignatures (checkpoint.h step 6), else from
		 * when its tree was first seen (above). */
		s->policy_ok = 0;
		set_class(cy->res, "stale");
		f = simple(KTA_ALERT_STALE, vsize(cy),
			   json_pack("{s:s,s:s,s:I}", "url", url, "day", day, "max_age",
				     (json_int_t)lc->max_age));
		if (s->time_seen)
			r = report(cy, &f, err,
				   "checkpoint of size %" PRIu64
				   " from %s has not changed for %" PRId64
				   " s (no witnesses configured: age since first seen), max_age "
				   "%" PRIu64,
				   s->cp->size, url, cy->now - s->newest, lc->max_age);
		else if (s->has_time)
			r = report(cy, &f, err,
				   "checkpoint of size %" PRIu64 " from %s is too old: newest "
				   "cosignature %" PRId64 " s ago, max_age %" PRIu64,
				   s->cp->size, url, cy->now - s->newest, lc->max_age);
		else
			r = report(cy, &f, err,
				   "checkpoint of size %" PRIu64
				   " from %s: cannot establish its age "
				   "(no timestamped cosignature by a configured witness), max_age "
				   "%" PRIu64,
				   s->cp->size, url, lc->max_age);
		if (r != KTA_OK)
			return r;
	}
	return KTA_OK;
}

/* ---- step 2: consistency ---- */

/* A signed head and where its tiles come from. */
struct head {
	const char *url;     /* for messages; "(verified)" for the state */
	const uint8_t *note; /* its signed note */
	size_t note_len;
	uint64_t size;
	const uint8_t *root;                   /* 32 bytes */
	const struct kta_compact_range *range; /* known compact range, or NULL */
	struct kta_tlog *c;                    /* a client serving its tiles */
	const char *tiles_url;                 /* the configured URL of c */
};

enum cons {
	CONS_OK,    /* consistent */
	CONS_FORK,  /* provably not in one append-only log */
	CONS_TILES, /* the tiles of the larger tree do not lead to its signed root */
	CONS_FETCH, /* could not fetch the tiles */
};

/*
 * Is a a prefix of b (a->size <= b->size)? The proof is computed from b's
 * authenticated tiles and verified with kta_merkle_verify_consistency
 * (RFC 9162 2.1.4.2). *why gets a message.
 */
static enum kta_status consistency(struct cyc *cy, const struct head *a, const struct head *b,
				   enum cons *out, struct kta_error *why, struct kta_error *err)
{
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32], empty[32];
	size_t plen = 0;
	enum kta_status r;

	*out = CONS_OK;
	kta_error_clear(why);
	if (a->size == b->size) {
		if (!kta_ct_equal(a->root, b->root, 32)) {
			*out = CONS_FORK;
			(void)kta_error_set(why, KTA_ERR_VERIFY,
					    "same size %" PRIu64 ", different roots", a->size);
		}
		return KTA_OK;
	}
	if (a->size == 0) {
		/* Nothing links the empty tree; its root is a constant. */
		kta_hash_empty(empty);
		if (!kta_ct_equal(a->root, empty, 32)) {
			*out = CONS_FORK;
			(void)kta_error_set(why, KTA_ERR_VERIFY,
					    "a tree of size 0 whose root is not the empty hash");
		}
		return KTA_OK;
	}
	kta_tlog_set_tree(b->c, b->size, b->root);
	r = kta_tlog_consistency_proof(b->c, a->size, proof, KTA_MERKLE_MAX_PROOF, &plen, why);
	if (r == KTA_ERR_IO) {
		*out = CONS_FETCH;
		return mon_cancelled(cy->m) ? kta_error_set(err, KTA_ERR_IO, "cancelled") : KTA_OK;
	}
	if (r == KTA_ERR_VERIFY || r == KTA_ERR_MALFORMED || r == KTA_ERR_LIMIT) {
		*out = CONS_TILES;
		return KTA_OK;
	}
	if (r != KTA_OK)
		return kta_error_set(err, r, "%s", why->msg);
	r = kta_merkle_verify_consistency(cy->m->h, a->size, b->size, a->root, b->root,
					  (const uint8_t(*)[32])proof, plen, why);
	if (r == KTA_ERR_VERIFY)
		*out = CONS_FORK;
	else if (r != KTA_OK)
		return kta_error_set(err, r, "%s", why->msg);
	return KTA_OK;
}

/*
 * The consistency form of the two-size fork evidence (evidence.h): PROOF(m,
 * D[n]) from b's tiles, seeded with b's subtree [0, m) when m is a power of
 * two (RFC 9162 2.1.4.2 step 2).
 */
static enum kta_status consistency_evidence(struct cyc *cy, const struct head *a,
					    const struct head *b, char **ev, size_t *evlen,
					    struct kta_error *e)
{
	uint8_t vec[KTA_MERKLE_MAX_PROOF + 1][32];
	size_t seed = (a->size & (a->size - 1)) == 0 ? 1 : 0, plen = 0;
	enum kta_status r;

	if (a->size == 0 || a->size >= b->size)
		return kta_error_set(e, KTA_ERR_INTERNAL, "consistency evidence: bad sizes");
	kta_tlog_set_tree(b->c, b->size, b->root);
	if ((r = kta_tlog_consistency_proof(b->c, a->size, vec + seed, KTA_MERKLE_MAX_PROOF, &plen,
					    e)) != KTA_OK)
		return r;
	if (seed) {
		struct kta_tlog_node node;
		unsigned level = 0;

		while (((uint64_t)1 << level) < a->size)
			level++;
		node.height = level;
		node.index = 0;
		if ((r = kta_tlog_read_hashes(b->c, &node, 1, &vec[0], e)) != KTA_OK)
			return r;
	}
	return kta_evidence_fork_consistency(cy->lg->cfg->origin, a->note, a->note_len, b->note,
					     b->note_len, (const uint8_t(*)[32])vec, plen + seed,
					     ev, evlen, e);
}

/*
 * Builds the fork evidence for heads a and b (evidence.h): two signed notes
 * of one size; for two sizes without a's compact range, the consistency
 * proof from b's tiles; else the perfect subtree of a's compact range
 * whose hash in b's tree differs, with its audit path in b. *ev is NULL
 * (and KTA_OK returned) when no bundle can be built; the reason is logged.
 */
static enum kta_status fork_evidence(struct cyc *cy, const struct head *a, const struct head *b,
				     char **ev, size_t *evlen, struct kta_error *err)
{
	const char *origin = cy->lg->cfg->origin;
	const struct kta_compact_range *range = a->range;
	const uint8_t(*hs)[32];
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32], h[32];
	size_t n = 0, i, plen = 0;
	struct kta_error e;
	enum kta_status r = KTA_OK;

	*ev = NULL;
	*evlen = 0;
	kta_error_clear(&e);
	if (a->size == b->size) {
		r = kta_evidence_fork_same_size(origin, a->note, a->note_len, b->note, b->note_len,
						ev, evlen, &e);
		goto out;
	}
	if (range == NULL) {
		/* Without a's compact range (a peer's head, or a mirror's), the
		 * consistency proof from b's tiles alone proves the fork. */
		r = consistency_evidence(cy, a, b, ev, evlen, &e);
		goto out;
	}
	hs = kta_compact_range_hashes(range, &n);
	kta_tlog_set_tree(b->c, b->size, b->root);
	for (i = 0; i < n; i++) {
		struct kta_tlog_node node;
		uint64_t begin = 0;
		unsigned level = 0;

		if ((r = kta_evidence_subtree(a->size, i, &begin, &level, &e)) != KTA_OK)
			goto out;
		node.height = level;
		node.index = begin >> level;
		if ((r = kta_tlog_read_hashes(b->c, &node, 1, &h, &e)) != KTA_OK)
			goto out;
		if (kta_ct_equal(h, hs[i], 32))
			continue;
		if ((r = kta_tlog_inclusion_proof(b->c, begin, proof, KTA_MERKLE_MAX_PROOF, &plen,
						  &e)) != KTA_OK)
			goto out;
		if (plen < level) {
			r = kta_error_set(&e, KTA_ERR_INTERNAL, "inclusion path shorter than %u",
					  level);
			goto out;
		}
		r = kta_evidence_fork_prefix(origin, a->note, a->note_len, b->note, b->note_len, hs,
					     n, i, h, (const uint8_t(*)[32])(proof + level),
					     plen - level, ev, evlen, &e);
		goto out;
	}
	r = kta_error_set(&e, KTA_ERR_VERIFY, "every subtree of the smaller tree is in the larger");
out:
	if (r == KTA_ERR_NOMEM)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK) {
		if (mon_cancelled(cy->m))
			return kta_error_set(err, KTA_ERR_IO, "cancelled");
		mon_log(cy->m, KTA_MONITOR_WARN, cy->lg->cfg->name,
			"no evidence bundle for the fork: %s", e.msg);
		free(*ev);
		*ev = NULL;
		*evlen = 0;
	}
	return KTA_OK;
}

/*
 * Checks a (smaller or equal) against b and reports a fork or a tile
 * problem. quiet: only a fork is reported (the tiles of b may be gone).
 */
static enum kta_status check_pair(struct cyc *cy, const struct head *a, const struct head *b,
				  struct seen *blame, int quiet, struct kta_error *err)
{
	struct finding f;
	struct kta_error why;
	enum cons out;
	enum kta_status r;

	if ((r = consistency(cy, a, b, &out, &why, err)) != KTA_OK)
		return r;
	if (quiet && (out == CONS_TILES || out == CONS_FETCH)) {
		mon_log(cy->m, KTA_MONITOR_INFO, cy->lg->cfg->name,
			"cannot tell whether the checkpoint of size %" PRIu64
			" is a prefix of the verified one: %s",
			a->size, why.msg);
		return KTA_OK;
	}
	if (out != CONS_OK && blame != NULL)
		blame->consistent = 0;
	switch (out) {
	case CONS_OK:
		return KTA_OK;
	case CONS_FORK:
		cy->blocked = 1;
		set_class(cy->res, "fork");
		f = simple(KTA_ALERT_FORK, b->size,
			   json_pack("{s:s,s:I,s:o,s:s,s:I,s:o}", "url1", a->url, "size1",
				     (json_int_t)a->size, "root1", b64_json(a->root, 32), "url2",
				     b->url, "size2", (json_int_t)b->size, "root2",
				     b64_json(b->root, 32)));
		if ((r = fork_evidence(cy, a, b, &f.ev, &f.evlen, err)) != KTA_OK) {
			json_decref(f.details);
			return r;
		}
		return report(cy, &f, err,
			      "fork: the checkpoint of size %" PRIu64 " from %s and the checkpoint "
			      "of size %" PRIu64 " from %s are not in one append-only log (%s)",
			      a->size, a->url, b->size, b->url, why.msg);
	case CONS_TILES:
		cy->blocked = 1;
		set_class(cy->res, "root_mismatch");
		f = simple(KTA_ALERT_ROOT_MISMATCH, b->size,
			   json_pack("{s:s,s:I,s:o,s:s}", "url", b->url, "checkpoint_size",
				     (json_int_t)b->size, "root", b64_json(b->root, 32), "what",
				     "tiles"));
		return report(cy, &f, err,
			      "the tiles served by %s do not match its signed checkpoint of size "
			      "%" PRIu64 ": %s",
			      b->url, b->size, why.msg);
	case CONS_FETCH:
		return report_unreachable(cy, b->tiles_url, "tiles", why.msg, err);
	}
	return KTA_OK;
}

static struct head seen_head(const struct cyc *cy, const struct seen *s)
{
	struct head h;

	h.url = cy->lg->src[s->src].url;
	h.note = s->note;
	h.note_len = s->note_len;
	h.size = s->cp->size;
	h.root = s->cp->root;
	h.range = NULL;
	h.c = cy->lg->src[s->src].c;
	h.tiles_url = h.url;
	return h;
}

/* The stored head; its tiles are read from the primary URL. */
static struct head state_head(const struct cyc *cy)
{
	struct head h;

	h.url = "(verified)";
	h.note = (const uint8_t *)cy->v->checkpoint;
	h.note_len = cy->v->checkpoint_len;
	h.size = cy->v->size;
	h.root = cy->v->root;
	h.range = cy->v->range;
	h.c = cy->lg->src[0].c;
	h.tiles_url = cy->lg->src[0].url;
	return h;
}

/* Checks every log-signed head against vh, a head the state holds
 * (rollback, fork). */
static enum kta_status check_against(struct cyc *cy, struct head vh, struct kta_error *err)
{
	struct finding f;
	struct head sh;
	char *ev = NULL;
	size_t evlen = 0;
	enum kta_status r;
	size_t i;

	for (i = 0; i < cy->nseen; i++) {
		struct seen *s = &cy->seen[i];

		if (s->cp == NULL)
			continue;
		sh = seen_head(cy, s);
		if (s->cp->size < vh.size && cy->lg->src[s->src].primary) {
			/* A5: the log serves a head older than one it signed before. */
			s->consistent = 0;
			cy->blocked = 1;
			set_class(cy->res, "rollback");
			if ((r = kta_evidence_rollback(cy->lg->cfg->origin, vh.note, vh.note_len,
						       sh.note, sh.note_len, &ev, &evlen, err)) !=
			    KTA_OK)
				return r;
			f = simple(KTA_ALERT_ROLLBACK, sh.size,
				   json_pack("{s:s,s:I,s:o,s:I,s:o}", "url", sh.url,
					     "checkpoint_size", (json_int_t)sh.size, "root",
					     b64_json(sh.root, 32), "verified_size",
					     (json_int_t)vh.size, "verified_root",
					     b64_json(vh.root, 32)));
			f.ev = ev;
			f.evlen = evlen;
			r = report(cy, &f, err,
				   "rollback: %s serves a checkpoint of size %" PRIu64
				   ", smaller than the verified size %" PRIu64,
				   sh.url, sh.size, vh.size);
			/* If it is not even a prefix of the verified tree, that is a
			 * fork too (alerts.md "rollback"), when the tiles still tell. */
			if (r == KTA_OK)
				r = check_pair(cy, &sh, &vh, s, 1, err);
		} else if (s->cp->size < vh.size) {
			/* A lagging mirror: fine if it is a prefix of the verified tree. */
			r = check_pair(cy, &sh, &vh, s, 0, err);
		} else {
			r = check_pair(cy, &vh, &sh, s, 0, err);
		}
		if (r != KTA_OK)
			return r;
	}
	return KTA_OK;
}

/*
 * Checks every log-signed head against the verified checkpoint V, or
 * against the target P of a pending catch-up: P is signed by the log and
 * part of its entries are stored, so a head that is not consistent with it
 * is a fork (or a rollback) as surely as one against V.
 */
static enum kta_status check_against_state(struct cyc *cy, struct kta_error *err)
{
	struct head ph;

	if (cy->pd == NULL)
		return cy->v != NULL ? check_against(cy, state_head(cy), err) : KTA_OK;
	/* V is a prefix of P (proven when P was chosen): whatever is
	 * consistent with P is with V, and checking both would report one
	 * fork twice. As when V is P, the alerts get the same ids. */
	ph = seen_head(cy, &cy->pend);
	ph.url = "(verified)";
	return check_against(cy, ph, err);
}

/*
 * Picks the head to advance to: the largest one meeting the policy and
 * consistent with the state; ties go to the earlier source. NULL if none.
 */
static struct seen *pick_target(struct cyc *cy)
{
	struct seen *t = NULL;
	size_t i;

	for (i = 0; i < cy->nseen; i++) {
		struct seen *s = &cy->seen[i];

		if (s->cp == NULL || !s->policy_ok || !s->consistent)
			continue;
		if (t == NULL || s->cp->size > t->cp->size)
			t = s;
	}
	return t;
}

/* A3: the heads from the different URLs must all be in one log. */
static enum kta_status check_sources(struct cyc *cy, struct seen *t, struct kta_error *err)
{
	struct head th = seen_head(cy, t), sh;
	enum kta_status r = KTA_OK;
	size_t i;

	for (i = 0; i < cy->nseen && r == KTA_OK; i++) {
		struct seen *s = &cy->seen[i];

		if (s == t || s->cp == NULL || !s->consistent)
			continue;
		sh = seen_head(cy, s);
		if (sh.size <= th.size)
			r = check_pair(cy, &sh, &th, s, 0, err);
		else
			r = check_pair(cy, &th, &sh, s, 0, err);
	}
	return r;
}

/* ---- step 3: replay ---- */

/* A version_equivocation finding kept until its evidence can be built. */
struct deferred {
	struct kta_alert *a;
};

struct replay_ctx {
	struct cyc *cy;
	struct kta_replay *rp;
	uint64_t start, total, done;
	uint64_t committed; /* of done, in committed chunks */
	int fn_failed;      /* the failure came from the callback, not from the tiles */
	/* findings of this step, stored in the transaction and counted only
	 * when it commits */
	size_t findings[4];
	size_t new_alerts;
	char **lines; /* log lines of the findings, printed after the commit */
	size_t nlines, caplines;
	struct deferred *def; /* equivocations waiting for their evidence */
	size_t ndef, capdef;
};

static enum kta_status note_line(struct replay_ctx *rc, const struct kta_alert *a, int added,
				 struct kta_error *err)
{
	char line[MON_LINE_MAX];

	if (rc->nlines == rc->caplines) {
		size_t nc = rc->caplines ? 2 * rc->caplines : 16;
		char **nl = realloc(rc->lines, nc * sizeof(*nl));

		if (nl == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
		rc->lines = nl;
		rc->caplines = nc;
	}
	(void)snprintf(line, sizeof(line), "%s %s%s: %s", kta_severity_name(a->severity),
		       kta_alert_kind_name(a->kind), added ? "" : " (already reported)",
		       a->message);
	if ((rc->lines[rc->nlines] = strdup(line)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	rc->nlines++;
	if ((size_t)a->severity < 4)
		rc->findings[a->severity]++;
	rc->new_alerts += (size_t)added;
	return KTA_OK;
}

/* A copy of an alert (the replay's are borrowed for the call only). */
static enum kta_status alert_clone(const struct kta_alert *a, struct kta_alert **out,
				   struct kta_error *err)
{
	json_t *j = kta_alert_to_json(a);
	enum kta_status r;

	if (j == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	r = kta_alert_from_json(j, out, err);
	json_decref(j);
	return r;
}

static enum kta_status replay_emit(void *ctx, const struct kta_alert *a, struct kta_error *err)
{
	struct replay_ctx *rc = ctx;
	enum kta_status r;
	int added = 0;

	if (a->kind == KTA_ALERT_VERSION_EQUIVOCATION && a->label != NULL && a->has_leaf_index) {
		/* Its evidence needs inclusion proofs from the tiles, which
		 * cannot be read while the entries are being iterated. */
		if (rc->ndef == rc->capdef) {
			size_t nc = rc->capdef ? 2 * rc->capdef : 4;
			struct deferred *nd = realloc(rc->def, nc * sizeof(*nd));

			if (nd == NULL)
				return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
			rc->def = nd;
			rc->capdef = nc;
		}
		if ((r = alert_clone(a, &rc->def[rc->ndef].a, err)) != KTA_OK)
			return r;
		rc->ndef++;
		return KTA_OK;
	}
	if ((r = kta_state_alert_add(rc->cy->m->st, a, &added, err)) != KTA_OK)
		return r;
	return note_line(rc, a, added, err);
}

static enum kta_status replay_entry(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				    const uint8_t *leaf_hash, struct kta_error *err)
{
	struct replay_ctx *rc = ctx;
	struct kta_monitor *m = rc->cy->m;
	enum kta_status r;

	if (mon_cancelled(m)) {
		rc->fn_failed = 1;
		return kta_error_set(err, KTA_ERR_IO, "cancelled");
	}
	if ((r = kta_replay_entry(rc->rp, index, entry, len, leaf_hash, err)) != KTA_OK) {
		rc->fn_failed = 1;
		return kta_error_wrap(err, r, "leaf %" PRIu64, index);
	}
	rc->done++;
	if (m->o.progress != NULL && rc->done % KTA_MONITOR_PROGRESS_STEP == 0)
		m->o.progress(m->o.ctx, rc->cy->lg->cfg->name, rc->done, rc->total);
	return KTA_OK;
}

static void replay_ctx_free(struct replay_ctx *rc)
{
	size_t i;

	for (i = 0; i < rc->nlines; i++)
		free(rc->lines[i]);
	free(rc->lines);
	for (i = 0; i < rc->ndef; i++)
		kta_alert_free(rc->def[i].a);
	free(rc->def);
	kta_replay_free(rc->rp);
}

/*
 * Builds the version_equivocation evidence of deferred alert a (A8): the
 * entry at a->leaf_index and the label's latest earlier entry of the same
 * version, both from the history written in this transaction, with their
 * inclusion paths in the target tree (client c, tree selected).
 */
static enum kta_status equivocation_evidence(struct cyc *cy, struct kta_tlog *c,
					     const struct seen *t, const struct kta_alert *a,
					     char **ev, size_t *evlen, struct kta_error *err)
{
	struct kta_state_history_item *h = NULL;
	struct kta_evidence_entry ea, eb;
	uint8_t pa[KTA_MERKLE_MAX_PROOF][32], pb[KTA_MERKLE_MAX_PROOF][32];
	size_t n = 0, i, ia = SIZE_MAX, ib = SIZE_MAX, la = 0, lb = 0;
	struct kta_error e;
	enum kta_status r;

	*ev = NULL;
	*evlen = 0;
	kta_error_clear(&e);
	if ((r = kta_state_history(cy->m->st, cy->lg->cfg->origin, a->label, &h, &n, err)) !=
	    KTA_OK)
		return r;
	for (i = 0; i < n; i++) {
		if (h[i].version != a->version)
			continue;
		if (h[i].leaf_index == a->leaf_index)
			ib = i;
		else if (h[i].leaf_index < a->leaf_index)
			ia = i; /* ordered by leaf index: the last one wins */
	}
	if (ia == SIZE_MAX || ib == SIZE_MAX) {
		r = kta_error_set(&e, KTA_ERR_INTERNAL, "the two entries are not in the history");
		goto out;
	}
	if ((r = kta_tlog_inclusion_proof(c, h[ia].leaf_index, pa, KTA_MERKLE_MAX_PROOF, &la,
					  &e)) != KTA_OK ||
	    (r = kta_tlog_inclusion_proof(c, h[ib].leaf_index, pb, KTA_MERKLE_MAX_PROOF, &lb,
					  &e)) != KTA_OK)
		goto out;
	ea.leaf_index = h[ia].leaf_index;
	ea.entry = h[ia].entry;
	ea.entry_len = h[ia].entry_len;
	ea.path = (const uint8_t(*)[32])pa;
	ea.path_len = la;
	eb.leaf_index = h[ib].leaf_index;
	eb.entry = h[ib].entry;
	eb.entry_len = h[ib].entry_len;
	eb.path = (const uint8_t(*)[32])pb;
	eb.path_len = lb;
	r = kta_evidence_version_equivocation(cy->lg->cfg->origin, t->note, t->note_len, &ea, &eb,
					      ev, evlen, &e);
out:
	kta_state_history_free(h, n);
	if (r == KTA_ERR_NOMEM)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK) {
		if (mon_cancelled(cy->m))
			return kta_error_set(err, KTA_ERR_IO, "cancelled");
		mon_log(cy->m, KTA_MONITOR_WARN, cy->lg->cfg->name,
			"no evidence bundle for the equivocation at leaf %" PRIu64 ": %s",
			a->leaf_index, e.msg);
	}
	return KTA_OK;
}

/* Stores the deferred equivocation alerts with their evidence (in the transaction). */
static enum kta_status store_deferred(struct replay_ctx *rc, struct kta_tlog *c,
				      const struct seen *t, struct kta_error *err)
{
	enum kta_status r;
	size_t i;

	for (i = 0; i < rc->ndef; i++) {
		struct kta_alert *a = rc->def[i].a;
		char *ev = NULL;
		size_t evlen = 0;
		int added = 0;

		if ((r = equivocation_evidence(rc->cy, c, t, a, &ev, &evlen, err)) != KTA_OK)
			return r;
		if (ev != NULL)
			r = attach_evidence(rc->cy, a, ev, evlen, err);
		free(ev);
		if (r != KTA_OK ||
		    (r = kta_state_alert_add(rc->cy->m->st, a, &added, err)) != KTA_OK ||
		    (r = note_line(rc, a, added, err)) != KTA_OK)
			return r;
	}
	return KTA_OK;
}

/* The fetcher of the source whose client is c (its proxy, if any). */
static struct kta_fetcher *src_fetcher(const struct mlog *lg, const struct kta_tlog *c)
{
	size_t i;

	for (i = 0; i < lg->nsrc; i++)
		if (lg->src[i].c == c)
			return lg->src[i].f;
	return lg->f;
}

/* Reads entry bundle bi of the tree (size) from source c: its entries' bytes. */
static enum kta_status read_bundle(struct cyc *cy, struct kta_tlog *c, uint64_t bi, uint64_t size,
				   uint8_t **body, size_t *len, struct kta_tile_bundle *b,
				   struct kta_error *err)
{
	char path[KTA_TILE_PATH_MAX], url[KTA_TLOG_URL_MAX + KTA_TILE_PATH_MAX];
	struct kta_fetch_info info;
	unsigned w = 0;
	enum kta_status r;

	*body = NULL;
	if ((r = kta_tile_width(KTA_TILE_ENTRIES, bi, size, &w, err)) != KTA_OK ||
	    (r = kta_tile_entries_path(bi, w, path, sizeof(path), err)) != KTA_OK)
		return r;
	(void)snprintf(url, sizeof(url), "%s%s", kta_tlog_url(c), path);
	memset(&info, 0, sizeof(info));
	r = kta_fetch_get(src_fetcher(cy->lg, c), url, body, len, &info, err);
	if (r == KTA_ERR_IO && info.not_found && w != KTA_TILE_WIDTH) {
		/* tlog-tiles "Partial Tiles": the full bundle begins with the same entries. */
		if ((r = kta_tile_entries_path(bi, KTA_TILE_WIDTH, path, sizeof(path), err)) !=
		    KTA_OK)
			return r;
		(void)snprintf(url, sizeof(url), "%s%s", kta_tlog_url(c), path);
		if ((r = kta_fetch_get(src_fetcher(cy->lg, c), url, body, len, NULL, err)) !=
		    KTA_OK)
			return r;
		if ((r = kta_tile_parse_bundle(*body, *len, KTA_TILE_WIDTH, b, err)) != KTA_OK)
			return r;
		b->count = w;
		return KTA_OK;
	}
	if (r != KTA_OK)
		return r;
	return kta_tile_parse_bundle(*body, *len, w, b, err);
}

/*
 * After an authenticated replay failed with a mismatch, finds the first
 * served entry at or after `from` whose leaf hash differs from the signed
 * tree's (authenticated level-0 tile hash), and builds the root_mismatch
 * evidence. *found = 0 when no single entry can be blamed (e.g. a bundle
 * that does not parse).
 */
static enum kta_status locate_mismatch(struct cyc *cy, struct kta_tlog *c, const struct seen *t,
				       uint64_t from, int *found, uint64_t *index,
				       uint8_t logged[static 32], uint8_t served[static 32],
				       char **ev, size_t *evlen, struct kta_error *err)
{
	uint64_t size = t->cp->size, bi, last = (size - 1) / KTA_TILE_WIDTH;
	struct kta_tlog_node nodes[KTA_TILE_WIDTH];
	uint8_t(*got)[32] = NULL, proof[KTA_MERKLE_MAX_PROOF][32];
	uint8_t *body = NULL;
	size_t len = 0, plen = 0;
	struct kta_error e;
	enum kta_status r = KTA_OK;
	unsigned checked = 0;

	*found = 0;
	*ev = NULL;
	*evlen = 0;
	kta_error_clear(&e);
	if ((got = malloc(KTA_TILE_WIDTH * sizeof(*got))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	kta_tlog_set_tree(c, size, t->cp->root);
	/* The failing bundle is within one prefetch round of `from`. */
	for (bi = from / KTA_TILE_WIDTH; bi <= last && checked < 2 * MON_PREFETCH && !*found;
	     bi++, checked++) {
		struct kta_tile_bundle b;
		struct kta_tile_bundle_iter it;
		struct kta_tile_entry te;
		uint64_t base = bi * KTA_TILE_WIDTH, idx;
		unsigned j;

		free(body);
		body = NULL;
		if ((r = read_bundle(cy, c, bi, size, &body, &len, &b, &e)) != KTA_OK)
			goto out;
		for (j = 0; j < b.count; j++) {
			nodes[j].height = 0;
			nodes[j].index = base + j;
		}
		if ((r = kta_tlog_read_hashes(c, nodes, b.count, got, &e)) != KTA_OK)
			goto out;
		kta_tile_bundle_iter_init(&it, &b);
		for (j = 0, idx = base; j < b.count && kta_tile_bundle_next(&it, &te); j++, idx++) {
			struct kta_evidence_entry ee;

			kta_hash_leaf(cy->m->h, te.data, te.len, served);
			if (idx < from || kta_ct_equal(served, got[j], 32))
				continue;
			*found = 1;
			*index = idx;
			memcpy(logged, got[j], 32);
			if ((r = kta_tlog_inclusion_proof(c, idx, proof, KTA_MERKLE_MAX_PROOF,
							  &plen, &e)) != KTA_OK)
				goto out;
			ee.leaf_index = idx;
			ee.entry = te.data;
			ee.entry_len = te.len;
			ee.path = (const uint8_t(*)[32])proof;
			ee.path_len = plen;
			r = kta_evidence_root_mismatch(cy->lg->cfg->origin, t->note, t->note_len,
						       &ee, logged, ev, evlen, &e);
			goto out;
		}
	}
out:
	free(body);
	free(got);
	if (r == KTA_ERR_NOMEM)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK) {
		if (mon_cancelled(cy->m))
			return kta_error_set(err, KTA_ERR_IO, "cancelled");
		mon_log(cy->m, KTA_MONITOR_WARN, cy->lg->cfg->name,
			"cannot locate the mismatching entry: %s", e.msg);
	}
	return KTA_OK;
}

/* A7: reports entries that do not hash to the signed root. */
static enum kta_status report_mismatch(struct cyc *cy, struct kta_tlog *c, const struct seen *t,
				       uint64_t from, const char *what, struct kta_error *err)
{
	const char *url = cy->lg->src[t->src].url;
	uint8_t logged[32], served[32];
	uint64_t idx = 0;
	int found = 0;
	struct finding f;
	enum kta_status r;

	set_class(cy->res, "root_mismatch");
	memset(&f, 0, sizeof(f));
	if ((r = locate_mismatch(cy, c, t, from, &found, &idx, logged, served, &f.ev, &f.evlen,
				 err)) != KTA_OK)
		return r;
	f.kind = KTA_ALERT_ROOT_MISMATCH;
	f.size = t->cp->size;
	if (found) {
		f.has_leaf_index = 1;
		f.leaf_index = idx;
		f.details = json_pack("{s:s,s:I,s:o,s:s,s:o,s:o}", "url", url, "checkpoint_size",
				      (json_int_t)t->cp->size, "root", b64_json(t->cp->root, 32),
				      "what", "entries", "leaf_hash", b64_json(logged, 32),
				      "served_leaf_hash", b64_json(served, 32));
		return report(cy, &f, err,
			      "entry %" PRIu64 " served by %s does not hash to leaf %" PRIu64
			      " of the signed checkpoint of size %" PRIu64,
			      idx, url, idx, t->cp->size);
	}
	f.details =
	    json_pack("{s:s,s:I,s:o,s:s}", "url", url, "checkpoint_size", (json_int_t)t->cp->size,
		      "root", b64_json(t->cp->root, 32), "what", "entries");
	return report(cy, &f, err,
		      "entries served by %s do not match the signed checkpoint of size %" PRIu64
		      ": %s",
		      url, t->cp->size, what);
}

/*
 * Loads the log's pending catch-up (state.h "pending") into cy->pd, and its
 * target P as the head cy->pend, read from the primary URL: P's stored note
 * must still verify under the log's key and origin (not its age or quorum:
 * it met them when it was chosen, and the replay must finish at the same
 * tree so that the alerts carry the same size as in an uninterrupted run).
 */
static enum kta_status load_pending(struct cyc *cy, struct kta_error *err)
{
	const struct kta_log_config *lc = cy->lg->cfg;
	struct kta_state_pending *pd;
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	struct seen *ps = &cy->pend;
	struct kta_error e;
	enum kta_status r;
	int found = 0;

	if ((r = kta_state_pending_get(cy->m->st, lc->origin, &found, &cy->pd, err)) != KTA_OK ||
	    !found)
		return r;
	pd = cy->pd;
	if (pd->done < vsize(cy))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "state: the interrupted catch-up of log %s is at leaf %" PRIu64
				     ", behind its verified checkpoint (size %" PRIu64 ")",
				     lc->name, pd->done, vsize(cy));
	ps->src = 0;
	if ((ps->note = malloc(pd->checkpoint_len)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	memcpy(ps->note, pd->checkpoint, pd->checkpoint_len);
	ps->note_len = pd->checkpoint_len;
	base_policy(cy, &p);
	kta_error_clear(&e);
	r = kta_checkpoint_verify(ps->note, ps->note_len, &p, &res, &e);
	if (r == KTA_ERR_NOMEM || r == KTA_ERR_INTERNAL)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "state: the checkpoint of the interrupted catch-up to size "
				     "%" PRIu64 " no longer verifies: %s",
				     pd->size, e.msg);
	ps->cp = res.cp;
	if (ps->cp->size != pd->size || !kta_ct_equal(ps->cp->root, pd->root, 32))
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "state: the interrupted catch-up to size %" PRIu64
				     " does not match its stored checkpoint",
				     pd->size);
	ps->policy_ok = 1;
	ps->consistent = 1;
	return KTA_OK;
}

/*
 * Commits one chunk's transaction: the deferred findings, then either the
 * pending row (more chunks follow) or the verified checkpoint T (stored at
 * time `stored`), and counts the chunk's findings once committed.
 */
static enum kta_status commit_chunk(struct cyc *cy, struct replay_ctx *rc, struct kta_tlog *c,
				    const struct seen *t, const struct kta_compact_range *cr,
				    int last, int64_t stored, struct kta_error *err)
{
	struct kta_monitor *m = cy->m;
	struct mlog *lg = cy->lg;
	const char *origin = lg->cfg->origin;
	enum kta_status r;
	size_t i;

	/* The pool may still hold verdicts for the last entries: findings of
	 * this chunk must be in the outbox before it commits. */
	if ((r = kta_replay_flush(rc->rp, err)) != KTA_OK ||
	    (r = store_deferred(rc, c, t, err)) != KTA_OK)
		return r;
	if (last)
		r = kta_state_pending_clear(m->st, origin, err);
	else
		r = kta_state_pending_put(m->st, origin, (const char *)t->note, t->note_len,
					  t->cp->size, t->cp->root, cr, cy->now, err);
	if (r != KTA_OK ||
	    (last &&
	     (r = kta_state_log_put(m->st, origin, (const char *)t->note, t->note_len, t->cp->size,
				    t->cp->root, cr, stored, err)) != KTA_OK) ||
	    (r = kta_state_commit(m->st, err)) != KTA_OK)
		return r;
	for (i = 0; i < 4; i++)
		cy->res->findings[i] += rc->findings[i];
	cy->res->new_alerts += rc->new_alerts;
	cy->res->entries += rc->done - rc->committed;
	lg->status.entries_replayed += rc->done - rc->committed;
	rc->committed = rc->done;
	memset(rc->findings, 0, sizeof(rc->findings));
	rc->new_alerts = 0;
	for (i = 0; i < rc->ndef; i++)
		kta_alert_free(rc->def[i].a);
	rc->ndef = 0;
	for (i = 0; i < rc->nlines; i++) {
		mon_log(m, KTA_MONITOR_ALERT, lg->cfg->name, "%s", rc->lines[i]);
		free(rc->lines[i]);
	}
	rc->nlines = 0;
	return KTA_OK;
}

/*
 * Replays [V.size, T.size) and commits T with everything, in one
 * transaction, or in transactions of commit_every entries (state.h
 * "pending") when the step is longer. A catch-up left pending (cy->pd) is
 * resumed after its last chunk, to its own target P unless T is the same
 * tree (then T's fresher note is stored); cy->pend_done tells the caller
 * that P was stored, not T. Tile/bundle mismatches are root_mismatch
 * findings, fetch failures unreachable warnings; the failed chunk's
 * transaction is then rolled back (earlier chunks stay).
 */
static enum kta_status advance(struct cyc *cy, struct seen *t, struct kta_error *err)
{
	struct kta_monitor *m = cy->m;
	struct mlog *lg = cy->lg;
	struct msource *src;
	struct kta_state_watches *ws = NULL;
	struct kta_state_index *ix = NULL;
	struct kta_compact_range *cr = NULL;
	struct kta_replay_config rcfg;
	struct replay_ctx rc;
	struct kta_error e;
	uint64_t start = vsize(cy), pos, end, chunk = m->cfg->commit_every;
	int64_t stored = cy->now;
	enum kta_status r, tr;
	int resume = cy->pd != NULL && !cy->pend_used;
	/* the compact range the replay continues: V's, or the pending one's */
	const struct kta_compact_range *from = cy->v != NULL ? cy->v->range : NULL;

	memset(&rc, 0, sizeof(rc));
	rc.cy = cy;
	if (resume) {
		const struct kta_state_pending *pd = cy->pd;

		cy->pend_used = 1;
		/* P itself unless t is the same tree; the caller goes on to a newer
		 * t, whose source serves P's tiles too (t was checked against P) */
		if (t->cp->size != pd->size || !kta_ct_equal(t->cp->root, pd->root, 32)) {
			if (t != &cy->pend && t->cp->size > pd->size)
				cy->pend.src = t->src;
			t = &cy->pend;
		}
		mon_log(m, KTA_MONITOR_INFO, lg->cfg->name,
			"resuming the interrupted catch-up to size %" PRIu64 " at leaf %" PRIu64,
			pd->size, pd->done);
		start = pd->done;
		from = pd->range;
		/* the tree was first stored then: its age counts from there */
		stored = pd->started;
	}
	src = &lg->src[t->src];
	rc.start = start;
	rc.total = t->cp->size - start;
	if (!resume && cy->v != NULL && cy->v->size == t->cp->size) {
		/* Same tree: keep the newer note (fresher cosignatures) if it differs,
		 * with the time the tree was first stored: without witnesses that
		 * is its age (fetch_one), and a re-signed note must not refresh it. */
		if (cy->v->checkpoint_len != t->note_len ||
		    memcmp(cy->v->checkpoint, t->note, t->note_len) != 0) {
			r = kta_state_log_put(m->st, lg->cfg->origin, (const char *)t->note,
					      t->note_len, t->cp->size, t->cp->root, cy->v->range,
					      cy->v->updated, err);
			if (r != KTA_OK)
				goto out;
		}
		cy->advanced = 1;
		r = KTA_OK;
		goto out;
	}
	if (cy->v == NULL && !resume)
		mon_log(m, KTA_MONITOR_INFO, lg->cfg->name,
			"first run: trusting the checkpoint of size %" PRIu64
			" from %s (trust on first use: nothing earlier can be checked)",
			t->cp->size, src->url);
	if (cy->v == NULL)
		cy->res->first_run = 1;
	if (rc.total > 0) {
		char of[80] = "";

		if (lg->cfg->shard_n > 1)
			(void)snprintf(of, sizeof(of),
				       " (verifying all, auditing the labels of shard %u/%u)",
				       lg->cfg->shard_k, lg->cfg->shard_n);
		mon_log(m, KTA_MONITOR_INFO, lg->cfg->name,
			"replaying entries %" PRIu64 "..%" PRIu64 " from %s%s", start,
			t->cp->size - 1, src->url, of);
	}
	if (from != NULL) {
		size_t n = 0;
		const uint8_t(*hs)[32] = kta_compact_range_hashes(from, &n);

		r = kta_compact_range_restore(kta_compact_range_size(from), hs, n, &cr, err);
	} else {
		r = kta_compact_range_new(&cr, err);
	}
	if (r != KTA_OK || (r = kta_state_index_new(m->st, lg->cfg->origin, &ix, err)) != KTA_OK)
		goto out;
	memset(&rcfg, 0, sizeof(rcfg));
	rcfg.origin = lg->cfg->origin;
	rcfg.now = cy->now;
	rcfg.size = t->cp->size;
	rcfg.index = kta_state_index_ops(ix);
	rcfg.emit = replay_emit;
	rcfg.emit_ctx = &rc;
	/* Auth signatures are checked on every CPU; findings stay in leaf order. */
	rcfg.threads = KTA_REPLAY_THREADS_AUTO;
	rcfg.shard_k = lg->cfg->shard_k;
	rcfg.shard_n = lg->cfg->shard_n;
	kta_tlog_set_tree(src->c, t->cp->size, t->cp->root);
	/* At least one transaction, also for no new entries (the new head). */
	pos = start;
	do {
		end = chunk == 0 || t->cp->size - pos <= chunk ? t->cp->size : pos + chunk;
		if ((r = kta_state_begin(m->st, err)) != KTA_OK)
			goto out;
		/* The watch list as of this transaction: `ktaudit watch` may
		 * have changed it between two chunks. */
		kta_replay_free(rc.rp);
		rc.rp = NULL;
		kta_state_watches_free(ws);
		ws = NULL;
		if ((r = kta_state_watches_new(m->st, lg->cfg->origin, &ws, err)) != KTA_OK)
			goto out;
		rcfg.watches = kta_state_watches_ops(ws);
		if ((r = kta_replay_new(&rcfg, &rc.rp, err)) != KTA_OK)
			goto out;
		kta_error_clear(&e);
		/* Authenticated: each bundle is checked against T's tiles before
		 * the replay sees it, and the compact range must end at T's root. */
		tr = kta_tlog_entries(src->c, pos, end, cr, 0, replay_entry, &rc, &e);
		if (tr != KTA_OK) {
			(void)kta_state_rollback(m->st, NULL);
			if (rc.fn_failed || mon_cancelled(m) || tr == KTA_ERR_NOMEM ||
			    tr == KTA_ERR_INTERNAL || tr == KTA_ERR_USAGE) {
				r = kta_error_set(err, tr == KTA_ERR_VERIFY ? KTA_ERR_INTERNAL : tr,
						  "%s", e.msg);
				goto out;
			}
			if (tr == KTA_ERR_IO) {
				r = report_unreachable(cy, src->url, "entries", e.msg, err);
				goto out;
			}
			/* A7: what the log serves does not hash to what it signed. */
			r = report_mismatch(cy, src->c, t, start + rc.done, e.msg, err);
			goto out;
		}
		if ((r = commit_chunk(cy, &rc, src->c, t, cr, end == t->cp->size, stored, err)) !=
		    KTA_OK)
			goto out;
		if (m->o.progress != NULL && rc.total > 0)
			m->o.progress(m->o.ctx, lg->cfg->name, rc.done, rc.total);
		pos = end;
	} while (pos < t->cp->size);
	cy->advanced = 1;
	cy->pend_done = t == &cy->pend;
	cy->stored_at = stored;
out:
	if (kta_state_in_transaction(m->st))
		(void)kta_state_rollback(m->st, NULL);
	replay_ctx_free(&rc);
	kta_state_index_free(ix);
	kta_state_watches_free(ws);
	kta_compact_range_free(cr);
	return r;
}

/* ---- gossip with peer auditors (gossip.h) ---- */

/* A head from the stored verified checkpoint l; tiles from the url. */
static struct head stored_head(const struct cyc *cy, const struct kta_state_log *l)
{
	struct head h;

	h.url = "(verified)";
	h.note = (const uint8_t *)l->checkpoint;
	h.note_len = l->checkpoint_len;
	h.size = l->size;
	h.root = l->root;
	h.range = l->range;
	h.c = cy->lg->src[0].c;
	h.tiles_url = cy->lg->src[0].url;
	return h;
}

/*
 * Reads every peer's cosigned checkpoint and checks it against our
 * verified head (gossip.h): a peer that cannot be read or whose checkpoint
 * does not verify is a warning; two log-signed heads that cannot be in one
 * log are a fork (critical, evidence). A larger peer head whose tiles the
 * log does not serve us is only logged: it is checked once we catch up.
 */
static enum kta_status gossip(struct cyc *cy, struct kta_error *err)
{
	const struct kta_log_config *lc = cy->lg->cfg;
	struct kta_state_log *nv = NULL;
	enum kta_status r = KTA_OK;
	struct head our, ph;
	int found = 0;
	size_t i;

	if (lc->npeers == 0)
		return KTA_OK;
	if ((r = kta_state_log_get(cy->m->st, lc->origin, &found, &nv, err)) != KTA_OK)
		return r;
	if (!found) {
		mon_log(cy->m, KTA_MONITOR_INFO, lc->name,
			"gossip skipped: no verified checkpoint of our own yet");
		return KTA_OK;
	}
	our = stored_head(cy, nv);
	for (i = 0; i < lc->npeers && r == KTA_OK; i++) {
		const struct kta_peer_config *pc = &lc->peers[i];
		struct kta_checkpoint *cp = NULL;
		struct kta_fetch_info info;
		struct kta_error e;
		char full[KTA_CONFIG_PATH_MAX + 16], cls[KTA_MONITOR_ERROR_CLASS_MAX];
		size_t ul = strlen(pc->url);
		uint8_t *note = NULL;
		size_t note_len = 0;

		(void)snprintf(full, sizeof(full), "%s%scheckpoint", pc->url,
			       ul > 0 && pc->url[ul - 1] == '/' ? "" : "/");
		kta_error_clear(&e);
		memset(&info, 0, sizeof(info));
		r = kta_fetch_get(cy->lg->f, full, &note, &note_len, &info, &e);
		if (mon_cancelled(cy->m)) {
			free(note);
			r = kta_error_set(err, KTA_ERR_IO, "cancelled");
			break;
		}
		if (r == KTA_ERR_NOMEM || r == KTA_ERR_INTERNAL) {
			r = kta_error_set(err, r, "%s", e.msg);
			break;
		}
		if (r != KTA_OK) {
			free(note);
			fetch_class(r, &info, cls, sizeof(cls));
			r = report_unreachable(cy, pc->url, cls, e.msg, err);
			continue;
		}
		r = kta_gossip_verify(note, note_len, lc->key, lc->origin, pc->key, cy->now,
				      KTA_MONITOR_MAX_SKEW, &cp, &e);
		if (r == KTA_ERR_NOMEM || r == KTA_ERR_INTERNAL || r == KTA_ERR_USAGE) {
			free(note);
			r = kta_error_set(err, r, "%s", e.msg);
			break;
		}
		if (r != KTA_OK) {
			/* The peer (or whoever serves its URL) is not the log: a
			 * warning, like an unreadable peer. */
			free(note);
			r = report_unreachable(cy, pc->url, "peer_checkpoint", e.msg, err);
			continue;
		}
		ph.url = pc->url;
		ph.note = note;
		ph.note_len = note_len;
		ph.size = cp->size;
		ph.root = cp->root;
		ph.range = NULL;
		ph.c = cy->lg->src[0].c; /* the larger tree's tiles come from the log */
		ph.tiles_url = cy->lg->src[0].url;
		switch (kta_gossip_relation(our.size, ph.size)) {
		case KTA_GOSSIP_SMALLER:
			r = check_pair(cy, &ph, &our, NULL, 0, err);
			break;
		case KTA_GOSSIP_EQUAL:
			r = check_pair(cy, &our, &ph, NULL, 0, err);
			break;
		case KTA_GOSSIP_LARGER:
			r = check_pair(cy, &our, &ph, NULL, 1, err);
			break;
		}
		mon_log(cy->m, KTA_MONITOR_INFO, lc->name,
			"gossip: peer %s has a checkpoint of size %" PRIu64 " (%s ours, %" PRIu64
			")",
			pc->url, ph.size,
			ph.size < our.size    ? "smaller than"
			: ph.size == our.size ? "equal to"
					      : "larger than",
			our.size);
		kta_checkpoint_free(cp);
		free(note);
	}
	kta_state_log_free(nv);
	return r;
}

/* ---- the auditor as a witness (witness.h) ---- */

/*
 * The note without signature lines by the auditor's own key name (a
 * publisher may have merged an earlier cosignature of ours into it; a note
 * may carry one signature per key). *out malloc'd.
 */
static enum kta_status strip_own(const uint8_t *note, size_t len, const char *name, uint8_t **out,
				 size_t *out_len, struct kta_error *err)
{
	static const char dash[] = "\xe2\x80\x94 ";
	size_t nl = strlen(name), i = 0, o = 0, dl = sizeof(dash) - 1;
	int in_sigs = 0;
	uint8_t *b;

	if ((b = malloc(len + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	while (i < len) {
		const uint8_t *nlp = memchr(note + i, '\n', len - i);
		size_t ll = nlp != NULL ? (size_t)(nlp - (note + i)) + 1 : len - i;
		int drop = in_sigs && ll > dl + nl + 1 && memcmp(note + i, dash, dl) == 0 &&
			   memcmp(note + i + dl, name, nl) == 0 && note[i + dl + nl] == ' ';

		if (ll == 1 && note[i] == '\n')
			in_sigs = 1; /* the blank line before the signatures */
		if (!drop) {
			memcpy(b + o, note + i, ll);
			o += ll;
		}
		i += ll;
	}
	*out = b;
	*out_len = o;
	return KTA_OK;
}

/*
 * Cosigns the verified target t and publishes it, unless it is not
 * provably consistent with the last checkpoint this auditor cosigned
 * (kept in the state across restarts): never two cosignatures on a fork.
 */
static enum kta_status cosign(struct cyc *cy, struct seen *t, struct kta_error *err)
{
	struct kta_monitor *m = cy->m;
	const struct kta_log_config *lc = cy->lg->cfg;
	struct kta_state_cosigned *prev = NULL;
	uint8_t *bare = NULL, *cs = NULL;
	size_t bare_len = 0, cs_len = 0;
	struct kta_error why, e;
	struct head th, ch;
	enum cons cons = CONS_OK;
	enum kta_status r;
	int found = 0;

	if ((r = kta_state_cosigned_get(m->st, lc->origin, &found, &prev, err)) != KTA_OK)
		return r;
	if (found) {
		th = seen_head(cy, t);
		ch.url = "(cosigned)";
		ch.note = (const uint8_t *)prev->checkpoint;
		ch.note_len = prev->checkpoint_len;
		ch.size = prev->size;
		ch.root = prev->root;
		ch.range = NULL;
		ch.c = th.c;
		ch.tiles_url = th.tiles_url;
		if (prev->size > th.size) {
			mon_log(m, KTA_MONITOR_WARN, lc->name,
				"not cosigning the checkpoint of size %" PRIu64
				": smaller than the one cosigned before (%" PRIu64 ")",
				th.size, prev->size);
			goto out;
		}
		if ((r = consistency(cy, &ch, &th, &cons, &why, err)) != KTA_OK)
			goto out;
		if (cons != CONS_OK) {
			mon_log(m, KTA_MONITOR_WARN, lc->name,
				"refusing to cosign the checkpoint of size %" PRIu64
				": not provably consistent with the checkpoint of size %" PRIu64
				" cosigned before (%s)",
				th.size, prev->size, why.msg);
			if (cons == CONS_FORK)
				r = check_pair(cy, &ch, &th, NULL, 0, err);
			goto out;
		}
	}
	kta_error_clear(&e);
	if ((r = strip_own(t->note, t->note_len, m->wkey->name, &bare, &bare_len, err)) != KTA_OK)
		goto out;
	r = kta_checkpoint_cosign(bare, bare_len, m->wkey, (uint64_t)(cy->now > 0 ? cy->now : 0),
				  &cs, &cs_len, &e);
	if (r == KTA_ERR_NOMEM || r == KTA_ERR_INTERNAL) {
		r = kta_error_set(err, r, "%s", e.msg);
		goto out;
	}
	if (r != KTA_OK) {
		mon_log(m, KTA_MONITOR_WARN, lc->name, "cannot cosign: %s", e.msg);
		r = KTA_OK;
		goto out;
	}
	/* The record first: a crash after it and before the file only
	 * delays publication, never forgets what was cosigned. */
	if ((r = kta_state_cosigned_put(m->st, lc->origin, (const char *)cs, cs_len, t->cp->size,
					t->cp->root, cy->now, err)) != KTA_OK)
		goto out;
	kta_error_clear(&e);
	if (kta_witness_publish(cy->lg->publish_dir, cs, cs_len, &e) != KTA_OK) {
		mon_log(m, KTA_MONITOR_WARN, lc->name, "%s", e.msg);
		set_class(cy->res, "publish");
		goto out;
	}
	mon_log(m, KTA_MONITOR_INFO, lc->name,
		"cosigned the checkpoint of size %" PRIu64 " as %s, published in %s", t->cp->size,
		m->wkey->name, cy->lg->publish_dir);
out:
	kta_state_cosigned_free(prev);
	free(bare);
	free(cs);
	return r;
}

/* ---- the cycle ---- */

/* The cycle stored head h: the result and the metrics say so. */
static void note_advanced(struct cyc *cy, const struct seen *h)
{
	struct kta_monitor_log_status *st = &cy->lg->status;

	cy->res->audited = 1;
	cy->res->size = h->cp->size;
	st->has_checkpoint = 1;
	st->size = h->cp->size;
	if (h->has_time)
		st->checkpoint_time = h->newest;
	else if (cy->v == NULL || cy->v->size != h->cp->size)
		st->checkpoint_time = cy->stored_at;
}

/* After the pending target P was finished: the step from P to t (checked
 * against P in step 2), as the next cycle would make it. */
static enum kta_status step_on(struct cyc *cy, struct seen *t, struct kta_error *err)
{
	enum kta_status r;
	int found = 0;

	kta_state_log_free(cy->v);
	cy->v = NULL;
	cy->advanced = 0;
	if ((r = kta_state_log_get(cy->m->st, cy->lg->cfg->origin, &found, &cy->v, err)) != KTA_OK)
		return r;
	if (!found)
		return kta_error_set(err, KTA_ERR_INTERNAL,
				     "monitor: the finished catch-up was not stored");
	if ((r = advance(cy, t, err)) != KTA_OK)
		return r;
	if (cy->advanced)
		note_advanced(cy, t);
	return KTA_OK;
}

enum kta_status kta_monitor_cycle(struct kta_monitor *m, size_t log, struct kta_monitor_result *res,
				  struct kta_error *err)
{
	struct cyc cy;
	struct seen *t;
	enum kta_status r = KTA_ERR_INTERNAL;
	int found = 0;
	size_t i;

	memset(res, 0, sizeof(*res));
	memset(&cy, 0, sizeof(cy));
	if (log >= m->nlogs && log - m->nlogs >= m->nctlogs)
		return kta_error_set(err, KTA_ERR_USAGE, "monitor: no log number %zu", log);
	if (m->o.offline)
		return kta_error_set(err, KTA_ERR_USAGE, "monitor: opened offline");
	if (log >= m->nlogs)
		return ct_cycle(m, log - m->nlogs, res, err);
	cy.m = m;
	cy.lg = &m->logs[log];
	cy.res = res;
	cy.now = mon_now(m);
	if ((r = kta_state_log_get(m->st, cy.lg->cfg->origin, &found, &cy.v, err)) != KTA_OK)
		goto out;
	res->old_size = vsize(&cy);
	res->size = vsize(&cy);
	if ((r = load_pending(&cy, err)) != KTA_OK)
		goto out;
	if ((cy.seen = calloc(cy.lg->nsrc, sizeof(*cy.seen))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
		goto out;
	}
	/* 1. every URL's checkpoint */
	for (i = 0; i < cy.lg->nsrc; i++) {
		cy.nseen = i + 1;
		if ((r = fetch_one(&cy, i, &cy.seen[i], err)) != KTA_OK)
			goto out;
	}
	/* 2. against the state, then against each other */
	if ((r = check_against_state(&cy, err)) != KTA_OK)
		goto out;
	t = pick_target(&cy);
	/* A pending catch-up is finished even when no head meets the policy
	 * now (P met it when chosen); check_against_state compared P with
	 * every head served. */
	if (t == NULL && cy.pd != NULL)
		t = &cy.pend;
	if (t != NULL && t != &cy.pend && (r = check_sources(&cy, t, err)) != KTA_OK)
		goto out;
	/* 3-4. replay and commit, unless something is provably wrong */
	if (t != NULL && !cy.blocked && t->consistent) {
		if ((r = advance(&cy, t, err)) != KTA_OK)
			goto out;
		if (cy.pend_done) {
			/* P is what the state holds now; a newer t follows */
			note_advanced(&cy, &cy.pend);
			if (t == &cy.pend || t->cp->size <= cy.pend.cp->size)
				t = &cy.pend;
			else if ((r = step_on(&cy, t, err)) != KTA_OK)
				goto out;
		} else if (cy.advanced) {
			note_advanced(&cy, t);
		}
		/* Cosign what we verified and replayed ourselves, unless this
		 * cycle found something critical; then gossip. A fork found by
		 * gossip does not withdraw the cosignature: our head is still the
		 * log's, consistent with our history, and publishing it is what
		 * lets the peer on the other side of the split see the fork too.
		 * An interrupted catch-up's head is an older note: the next cycle
		 * cosigns the current one. */
		if (cy.advanced && m->wkey != NULL && cy.lg->publish_dir != NULL && t != &cy.pend) {
			if (cy.clock_off) {
				mon_log(m, KTA_MONITOR_WARN, cy.lg->cfg->name,
					"not cosigning: the local clock is off");
			} else if (res->findings[KTA_SEV_CRITICAL] == 0) {
				if ((r = cosign(&cy, t, err)) != KTA_OK)
					goto out;
			} else {
				mon_log(m, KTA_MONITOR_WARN, cy.lg->cfg->name,
					"not cosigning: a critical finding was made in this cycle");
			}
		}
	} else if (t == NULL) {
		set_class(res, "no_checkpoint");
	}
	/* Gossip against whatever is verified now, also when this cycle could
	 * not advance (a peer may be the only one to show the fork). */
	if ((r = gossip(&cy, err)) != KTA_OK)
		goto out;
	r = KTA_OK;
out:
	if (r != KTA_OK)
		set_class(res, mon_cancelled(m) ? "cancelled" : "error");
	/* An audited log with a warning from another URL still counts as a
	 * failure for metrics: something could not be checked. */
	if (res->audited && res->findings[KTA_SEV_WARNING] == 0)
		res->error_class[0] = '\0';
	else if (res->error_class[0] == '\0')
		set_class(res, "incomplete");
	if (res->error_class[0] == '\0')
		cy.lg->status.last_success = cy.now;
	(void)snprintf(cy.lg->status.last_error, sizeof(cy.lg->status.last_error), "%s",
		       res->error_class);
	for (i = 0; cy.seen != NULL && i < cy.nseen; i++) {
		free(cy.seen[i].note);
		kta_checkpoint_free(cy.seen[i].cp);
	}
	free(cy.seen);
	free(cy.pend.note);
	kta_checkpoint_free(cy.pend.cp);
	kta_state_pending_free(cy.pd);
	kta_state_log_free(cy.v);
	return r;
}

/* ---- delivery ---- */

enum kta_status kta_monitor_deliver(struct kta_monitor *m, uint64_t *pending, int64_t *next_due,
				    uint64_t *delivered, struct kta_error *err)
{
	struct kta_deliver_stats ds;
	const char **names = NULL;
	uint64_t n = 0;
	enum kta_status r;
	size_t i;

	if (pending != NULL)
		*pending = 0;
	if (next_due != NULL)
		*next_due = 0;
	if (delivered != NULL)
		*delivered = 0;
	if (m->cfg->nsinks == 0)
		return KTA_OK;
	memset(&ds, 0, sizeof(ds));
	if ((r = kta_deliver_pending(m->st, m->cfg->sinks, m->cfg->nsinks, mon_now(m), &ds, err)) !=
	    KTA_OK)
		return r;
	if (delivered != NULL)
		*delivered = ds.delivered;
	if (ds.delivered > 0)
		mon_log(m, KTA_MONITOR_INFO, NULL, "delivered %" PRIu64 " alert%s", ds.delivered,
			ds.delivered == 1 ? "" : "s");
	if (ds.failed > 0 || ds.sinks_failing > 0)
		mon_log(m, KTA_MONITOR_WARN, NULL,
			"%" PRIu64 " deliver%s failed (%zu sink%s failing; retried later): %s",
			ds.failed, ds.failed == 1 ? "y" : "ies", ds.sinks_failing,
			ds.sinks_failing == 1 ? "" : "s", ds.last.msg);
	if ((names = calloc(m->cfg->nsinks, sizeof(*names))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "monitor: out of memory");
	for (i = 0; i < m->cfg->nsinks; i++)
		names[i] = m->cfg->sinks[i].name;
	r = kta_state_alerts_pending_count(m->st, names, m->cfg->nsinks, &n, err);
	free(names);
	if (r != KTA_OK)
		return r;
	if (pending != NULL)
		*pending = n;
	if (next_due != NULL)
		*next_due = ds.next_due;
	return KTA_OK;
}

/* ---- status, metrics, watches ---- */

void kta_monitor_log_status(const struct kta_monitor *m, size_t log,
			    struct kta_monitor_log_status *out)
{
	memset(out, 0, sizeof(*out));
	if (log < m->nlogs + m->nctlogs)
		*out = *status_at(m, log);
}

/* Appends to a growing text buffer; returns 0 when out of memory. */
struct tbuf {
	char *p;
	size_t len, cap;
	int failed;
};

static void tb_printf(struct tbuf *b, const char *fmt, ...) KTA_PRINTF(2, 3);

static void tb_printf(struct tbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p != NULL ? b->p + b->len : NULL,
			      b->p != NULL ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if (b->p != NULL && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t nc = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
			char *np = realloc(b->p, nc);

			if (np == NULL) {
				b->failed = 1;
				return;
			}
			b->p = np;
			b->cap = nc;
		}
	}
}

/* A Prometheus label value: \\, \" and \n escaped (exposition format 0.0.4). */
static void tb_label(struct tbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			tb_printf(b, "\\\\");
		else if (*s == '"')
			tb_printf(b, "\\\"");
		else if (*s == '\n')
			tb_printf(b, "\\n");
		else
			tb_printf(b, "%c", *s);
	}
}

enum kta_status kta_monitor_metrics(struct kta_monitor *m, uint64_t pending, char **out,
				    struct kta_error *err)
{
	struct tbuf b;
	int64_t now = mon_now(m);
	size_t i;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	tb_printf(&b, "# HELP ktaudit_checkpoint_size Tree size of the last verified checkpoint.\n"
		      "# TYPE ktaudit_checkpoint_size gauge\n");
	for (i = 0; i < m->nlogs + m->nctlogs; i++) {
		if (!status_at(m, i)->has_checkpoint)
			continue;
		tb_printf(&b, "ktaudit_checkpoint_size{log=\"");
		tb_label(&b, status_at(m, i)->name);
		tb_printf(&b, "\"} %" PRIu64 "\n", status_at(m, i)->size);
	}
	tb_printf(&b, "# HELP ktaudit_checkpoint_age_seconds Seconds since the newest witness "
		      "cosignature of the verified checkpoint (or since it was verified).\n"
		      "# TYPE ktaudit_checkpoint_age_seconds gauge\n");
	for (i = 0; i < m->nlogs + m->nctlogs; i++) {
		const struct kta_monitor_log_status *s = status_at(m, i);

		if (!s->has_checkpoint || s->checkpoint_time < 0)
			continue;
		tb_printf(&b, "ktaudit_checkpoint_age_seconds{log=\"");
		tb_label(&b, status_at(m, i)->name);
		tb_printf(&b, "\"} %" PRId64 "\n",
			  now > s->checkpoint_time ? now - s->checkpoint_time : 0);
	}
	tb_printf(&b, "# HELP ktaudit_entries_replayed_total Entries replayed by this process.\n"
		      "# TYPE ktaudit_entries_replayed_total counter\n");
	for (i = 0; i < m->nlogs + m->nctlogs; i++) {
		tb_printf(&b, "ktaudit_entries_replayed_total{log=\"");
		tb_label(&b, status_at(m, i)->name);
		tb_printf(&b, "\"} %" PRIu64 "\n", status_at(m, i)->entries_replayed);
	}
	tb_printf(&b, "# HELP ktaudit_last_success_timestamp Unix time of the last fully audited "
		      "cycle.\n# TYPE ktaudit_last_success_timestamp gauge\n");
	for (i = 0; i < m->nlogs + m->nctlogs; i++) {
		if (status_at(m, i)->last_success == 0)
			continue;
		tb_printf(&b, "ktaudit_last_success_timestamp{log=\"");
		tb_label(&b, status_at(m, i)->name);
		tb_printf(&b, "\"} %" PRId64 "\n", status_at(m, i)->last_success);
	}
	tb_printf(&b, "# HELP ktaudit_last_error 1 when the last cycle of the log could not audit "
		      "it fully, labelled with the reason.\n# TYPE ktaudit_last_error gauge\n");
	for (i = 0; i < m->nlogs + m->nctlogs; i++) {
		const char *e = status_at(m, i)->last_error;

		tb_printf(&b, "ktaudit_last_error{log=\"");
		tb_label(&b, status_at(m, i)->name);
		tb_printf(&b, "\",error=\"");
		tb_label(&b, e);
		tb_printf(&b, "\"} %d\n", e[0] != '\0');
	}
	tb_printf(&b, "# HELP ktaudit_shard 1 for a log of which this process audits one shard "
		      "of the labels (ktaudit.conf(5) shard): every shard must run.\n"
		      "# TYPE ktaudit_shard gauge\n");
	for (i = 0; i < m->nlogs; i++) {
		const struct kta_log_config *lc = m->logs[i].cfg;

		if (lc->shard_n < 2)
			continue;
		tb_printf(&b, "ktaudit_shard{log=\"");
		tb_label(&b, lc->name);
		tb_printf(&b, "\",shard=\"%u/%u\"} 1\n", lc->shard_k, lc->shard_n);
	}
	tb_printf(&b,
		  "# HELP ktaudit_alerts_pending Alerts not yet delivered to every sink.\n"
		  "# TYPE ktaudit_alerts_pending gauge\nktaudit_alerts_pending %" PRIu64 "\n",
		  pending);
	if (b.failed) {
		free(b.p);
		return kta_error_set(err, KTA_ERR_NOMEM, "metrics: out of memory");
	}
	*out = b.p;
	return KTA_OK;
}

enum kta_status kta_monitor_find_log(const struct kta_monitor *m, const char *name, size_t *out,
				     struct kta_error *err)
{
	size_t i;

	if (name == NULL) {
		if (m->nlogs == 1) {
			*out = 0;
			return KTA_OK;
		}
		return kta_error_set(err, KTA_ERR_USAGE,
				     "the configuration has %zu logs: name one with --log",
				     m->nlogs);
	}
	for (i = 0; i < m->nlogs; i++)
		if (strcmp(m->logs[i].cfg->name, name) == 0) {
			*out = i;
			return KTA_OK;
		}
	return kta_error_set(err, KTA_ERR_USAGE, "no log named \"%s\" in %s", name, m->cfg->path);
}

enum kta_status kta_monitor_watch_add(struct kta_monitor *m, size_t log, const char *label,
				      enum kta_watch_mode mode, struct kta_entry_key *keys,
				      size_t n, int *alerted, struct kta_error *err)
{
	enum kta_status r;

	if ((r = kta_monitor_label_check(m, log, label, err)) != KTA_OK)
		return r;
	if (mode == KTA_WATCH_PINNED && (r = kta_replay_keys_canonicalize(keys, n, err)) != KTA_OK)
		return r;
	return watch_add_tx(m, &m->logs[log], label, mode, mode == KTA_WATCH_PINNED ? keys : NULL,
			    mode == KTA_WATCH_PINNED ? n : 0, alerted, err);
}

enum kta_status kta_monitor_watch_approve(struct kta_monitor *m, size_t log, const char *label,
					  uint64_t version, struct kta_error *err)
{
	enum kta_status r;

	if ((r = kta_monitor_label_check(m, log, label, err)) != KTA_OK)
		return r;
	return kta_state_watch_approve(m->st, m->logs[log].cfg->origin, label, version, err);
}

enum kta_status kta_monitor_label_check(const struct kta_monitor *m, size_t log, const char *label,
					struct kta_error *err)
{
	const struct kta_log_config *lc;
	char q[4 * 64 + 4];
	enum kta_status r;
	uint32_t k = 0;

	if (log >= m->nlogs)
		return kta_error_set(err, KTA_ERR_USAGE, "monitor: no log number %zu", log);
	lc = m->logs[log].cfg;
	if (lc->shard_n < 2)
		return KTA_OK;
	if ((r = kta_shard_of(label, strlen(label), lc->shard_n, &k, err)) != KTA_OK)
		return r;
	if (k == lc->shard_k)
		return KTA_OK;
	kta_quote((const uint8_t *)label, strlen(label), 64, q);
	return kta_error_set(err, KTA_ERR_USAGE,
			     "label \"%s\" is in shard %u/%u; this configuration audits shard "
			     "%u/%u of log %s: use that shard's configuration",
			     q, k, lc->shard_n, lc->shard_k, lc->shard_n, lc->name);
}

struct kta_state *kta_monitor_state(struct kta_monitor *m)
{
	return m->st;
}
