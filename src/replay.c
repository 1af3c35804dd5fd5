/*
 * Replay of key-directory entries into findings, plus the in-memory index
 * and watch list. See ktaudit/replay.h for the rules and ownership.
 */
#include "ktaudit/replay.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ed25519.h"
#include "entry_auth.h"
#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/shard.h"
#include "siphash.h"

/* ------------------------------------------------------------------------ */
/* A string-keyed open-addressing hash map (SipHash-2-4 with a random key, so
 * that a log cannot choose labels that collide and slow the auditor down). */

struct map_head {
	char *label;   /* owned, NUL-terminated */
	size_t len;    /* strlen(label) */
	uint64_t hash; /* siphash of the label */
};

struct map_slot {
	uint64_t hash;      /* e->hash, kept here so probing does not touch e */
	struct map_head *e; /* NULL = empty */
};

struct map {
	struct map_slot *slots; /* cap entries */
	size_t cap;             /* power of two, or 0 */
	size_t count;
	uint64_t k0, k1; /* SipHash key */
};

static enum kta_status map_init(struct map *m, struct kta_error *err)
{
	uint8_t k[16];

	memset(m, 0, sizeof(*m));
	if (RAND_bytes(k, sizeof(k)) != 1)
		return kta_error_set(err, KTA_ERR_INTERNAL, "hash map: no random key from OpenSSL");
	m->k0 = kta_load64le(k);
	m->k1 = kta_load64le(k + 8);
	return KTA_OK;
}

static uint64_t map_hash(const struct map *m, const char *label, size_t len)
{
	return kta_siphash24(m->k0, m->k1, (const uint8_t *)label, len);
}

/* The slot holding label, or the empty slot where it would go (cap > 0). */
static size_t map_slot(const struct map *m, const char *label, size_t len, uint64_t h)
{
	size_t mask = m->cap - 1, i = (size_t)h & mask;

	for (;;) {
		const struct map_slot *sl = &m->slots[i];

		if (sl->e == NULL ||
		    (sl->hash == h && sl->e->len == len && memcmp(sl->e->label, label, len) == 0))
			return i;
		i = (i + 1) & mask;
	}
}

/* label (len bytes) in m, or NULL. */
static struct map_head *map_find_len(const struct map *m, const char *label, size_t len)
{
	if (m->cap == 0)
		return NULL;
	return m->slots[map_slot(m, label, len, map_hash(m, label, len))].e;
}

static struct map_head *map_find(const struct map *m, const char *label)
{
	return map_find_len(m, label, strlen(label));
}

/* The item in slot i, or NULL. */
static struct map_head *map_at(const struct map *m, size_t i)
{
	return m->slots[i].e;
}

/* Makes room for one more item (load factor <= 1/2). */
static enum kta_status map_reserve(struct map *m, struct kta_error *err)
{
	struct map_slot *ns;
	size_t ncap, i;

	if (m->cap != 0 && m->count + 1 <= m->cap / 2)
		return KTA_OK;
	ncap = m->cap == 0 ? 64 : m->cap * 2;
	if (ncap < m->cap || ncap > SIZE_MAX / sizeof(*ns))
		return kta_error_set(err, KTA_ERR_NOMEM, "hash map: too many labels");
	if ((ns = calloc(ncap, sizeof(*ns))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "hash map: out of memory");
	for (i = 0; i < m->cap; i++) {
		struct map_head *e = m->slots[i].e;
		size_t j;

		if (e == NULL)
			continue;
		j = (size_t)e->hash & (ncap - 1);
		while (ns[j].e != NULL)
			j = (j + 1) & (ncap - 1);
		ns[j].hash = e->hash;
		ns[j].e = e;
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return KTA_OK;
}

/* Inserts e (not present; map_reserve was called). */
static void map_insert(struct map *m, struct map_head *e)
{
	size_t i = map_slot(m, e->label, e->len, e->hash);

	m->slots[i].hash = e->hash;
	m->slots[i].e = e;
	m->count++;
}

/* ------------------------------------------------------------------------ */
/* Key sets: copies with their device names in one block. */

/* Bytes needed to copy keys[0..n) with devices into one block; 0 on overflow. */
static size_t keys_block_size(const struct kta_entry_key *keys, size_t n)
{
	size_t total, i;

	if (n > SIZE_MAX / 2 / sizeof(*keys))
		return 0;
	total = n * sizeof(*keys);
	for (i = 0; i < n; i++) {
		size_t d = strlen(keys[i].device) + 1;

		if (total > SIZE_MAX / 2 - d)
			return 0;
		total += d;
	}
	return total == 0 ? 1 : total;
}

/* Copies keys into block (of keys_block_size bytes); returns the key array. */
static struct kta_entry_key *keys_copy_into(void *block, const struct kta_entry_key *keys, size_t n)
{
	struct kta_entry_key *k = block;
	char *p = (char *)block + n * sizeof(*keys);
	size_t i;

	for (i = 0; i < n; i++) {
		size_t d = strlen(keys[i].device) + 1;

		k[i].alg = keys[i].alg;
		memcpy(k[i].pub, keys[i].pub, 32);
		memcpy(p, keys[i].device, d);
		k[i].device = p;
		p += d;
	}
	return k;
}

/* 1 when the two canonical sets hold the same (alg, pub) pairs. */
static int keys_same(const struct kta_entry_key *a, size_t na, const struct kta_entry_key *b,
		     size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (a[i].alg != b[i].alg || memcmp(a[i].pub, b[i].pub, 32) != 0)
			return 0;
	return 1;
}

/* ------------------------------------------------------------------------ */
/* The replay engine. */

#define CONTEXT_LEN (sizeof(KTA_ENTRY_AUTH_CONTEXT) - 1)
/* Entries in flight in a threaded replay (replay.h "Threads"). */
#define QUEUE_LEN KTA_REPLAY_QUEUE
_Static_assert(KTA_REPLAY_LOOKAHEAD < QUEUE_LEN, "the lookahead must leave room to feed");

enum job_state {
	J_DONE,    /* nothing to verify, or verified */
	J_PENDING, /* auth lines waiting for a thread */
	J_RUNNING, /* a thread verifies them */
};

/* One entry between kta_replay_entry and its processing. */
struct job {
	uint64_t leaf_index;
	int64_t now;   /* alert "time" when it was fed */
	uint64_t size; /* alert "size" when it was fed */
	uint8_t lh[32];
	uint8_t *buf;              /* KTA_ENTRY_AUTH_CONTEXT || entry bytes (the signed message) */
	size_t cap;                /* bytes allocated at buf; grows, never shrinks */
	size_t len;                /* entry length */
	const struct kta_entry *e; /* parsed into eb; NULL when malformed (perr) */
	struct kta_entry_buf *eb;  /* e's storage, reused: valid until the next job_load */
	struct kta_error perr;     /* why it does not parse */
	enum kta_status *sig;      /* outcome of each auth line (e->nauths) */
	size_t sig_cap;
	enum job_state state; /* read and written under mu in a threaded replay */
};

struct worker {
	struct kta_replay *r;
	struct kta_ed25519_verifier *v;
	pthread_t t;
	int started;
};

struct kta_replay {
	char *origin;
	int64_t now;
	uint64_t size;
	int64_t cur_now;   /* "time" of the alerts of the entry being processed */
	uint64_t cur_size; /* "size" of the same */
	struct kta_replay_index index;
	struct kta_replay_watches watches;
	kta_replay_emit_fn emit;
	void *emit_ctx;
	struct kta_hasher *hasher;
	struct kta_ed25519_verifier *ver; /* the caller's thread's */
	int have_last;
	uint64_t last_index;
	struct kta_replay_stats stats;
	uint32_t shard_k, shard_n; /* shard_n <= 1: every label */
	struct job one;            /* a sequential replay's entry */
	/* Threaded replay (threads > 1): a ring of QUEUE_LEN jobs. Sequence
	 * numbers: [head, tail) are fed and not yet processed; next is the
	 * first not yet handed to a thread (head <= next <= tail). */
	unsigned threads;
	unsigned lookahead; /* fed entries left unprocessed (index prefetch) */
	struct job *ring;
	uint64_t head, next, tail;
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* workers: a job is pending, or stop */
	pthread_cond_t done_cv; /* the caller: a job is done */
	int sync_ready;         /* mu and the conditions are initialized */
	int stop;
	struct worker *workers;
	size_t nworkers;
	enum kta_status failed; /* KTA_OK, or the failure that ended the replay */
	char fail_msg[KTA_ERROR_MSG_MAX];
};

static void *worker_main(void *arg);

unsigned kta_replay_threads_online(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > KTA_REPLAY_THREADS_MAX ? KTA_REPLAY_THREADS_MAX : (unsigned)n;
}

/* Starts the pool of a threaded replay: threads - 1 workers. */
static enum kta_status pool_start(struct kta_replay *rp, struct kta_error *err)
{
	enum kta_status r;
	size_t i;

	if ((rp->ring = calloc(QUEUE_LEN, sizeof(*rp->ring))) == NULL ||
	    (rp->workers = calloc(rp->threads - 1, sizeof(*rp->workers))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "replay: out of memory");
	if (pthread_mutex_init(&rp->mu, NULL) != 0)
		return kta_error_set(err, KTA_ERR_INTERNAL, "replay: cannot create a mutex");
	if (pthread_cond_init(&rp->work_cv, NULL) != 0) {
		pthread_mutex_destroy(&rp->mu);
		return kta_error_set(err, KTA_ERR_INTERNAL, "replay: cannot create a condition");
	}
	if (pthread_cond_init(&rp->done_cv, NULL) != 0) {
		pthread_cond_destroy(&rp->work_cv);
		pthread_mutex_destroy(&rp->mu);
		return kta_error_set(err, KTA_ERR_INTERNAL, "replay: cannot create a condition");
	}
	rp->sync_ready = 1;
	for (i = 0; i + 1 < rp->threads; i++) {
		struct worker *w = &rp->workers[i];

		w->r = rp;
		if ((r = kta_ed25519_verifier_new(&w->v, err)) != KTA_OK)
			return r;
		if (pthread_create(&w->t, NULL, worker_main, w) != 0)
			return kta_error_set(err, KTA_ERR_INTERNAL,
					     "replay: cannot start verification thread %zu", i + 1);
		w->started = 1;
		rp->nworkers++;
	}
	return KTA_OK;
}

enum kta_status kta_replay_new(const struct kta_replay_config *cfg, struct kta_replay **out,
			       struct kta_error *err)
{
	enum kta_status r = KTA_ERR_USAGE;
	struct kta_replay *rp = NULL;

	*out = NULL;
	if (cfg == NULL || cfg->origin == NULL || cfg->index.get == NULL ||
	    cfg->index.put == NULL || cfg->emit == NULL) {
		r = kta_error_set(err, KTA_ERR_USAGE,
				  "replay: origin, index get/put and emit are required");
		goto out;
	}
	if (cfg->threads > KTA_REPLAY_THREADS_MAX && cfg->threads != KTA_REPLAY_THREADS_AUTO) {
		r = kta_error_set(err, KTA_ERR_USAGE, "replay: %u threads, more than %u",
				  cfg->threads, KTA_REPLAY_THREADS_MAX);
		goto out;
	}
	if ((rp = calloc(1, sizeof(*rp))) == NULL || (rp->origin = strdup(cfg->origin)) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "replay: out of memory");
		goto out;
	}
	if ((r = kta_hasher_new(&rp->hasher, err)) != KTA_OK ||
	    (r = kta_ed25519_verifier_new(&rp->ver, err)) != KTA_OK)
		goto out;
	rp->now = cfg->now;
	rp->size = cfg->size;
	rp->index = cfg->index;
	rp->watches = cfg->watches;
	rp->emit = cfg->emit;
	rp->emit_ctx = cfg->emit_ctx;
	if (cfg->shard_n > KTA_SHARD_MAX || (cfg->shard_n > 0 && cfg->shard_k >= cfg->shard_n) ||
	    (cfg->shard_n == 0 && cfg->shard_k != 0)) {
		r = kta_error_set(err, KTA_ERR_USAGE, "replay: shard %u/%u", cfg->shard_k,
				  cfg->shard_n);
		goto out;
	}
	rp->shard_k = cfg->shard_k;
	rp->shard_n = cfg->shard_n;
	rp->lookahead = cfg->index.prefetch != NULL ? KTA_REPLAY_LOOKAHEAD : 0;
	rp->threads = cfg->threads == KTA_REPLAY_THREADS_AUTO ? kta_replay_threads_online()
		      : cfg->threads == 0                     ? 1
							      : cfg->threads;
	if (rp->threads > 1 && (r = pool_start(rp, err)) != KTA_OK)
		goto out;
	*out = rp;
	rp = NULL;
	r = KTA_OK;
out:
	kta_replay_free(rp);
	return r;
}

static void job_clear(struct job *j)
{
	kta_entry_buf_free(j->eb);
	free(j->buf);
	free(j->sig);
}

void kta_replay_free(struct kta_replay *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->sync_ready) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_broadcast(&r->work_cv);
		pthread_mutex_unlock(&r->mu);
	}
	for (i = 0; r->workers != NULL && i + 1 < r->threads; i++) {
		if (r->workers[i].started)
			pthread_join(r->workers[i].t, NULL);
		kta_ed25519_verifier_free(r->workers[i].v);
	}
	if (r->sync_ready) {
		pthread_cond_destroy(&r->done_cv);
		pthread_cond_destroy(&r->work_cv);
		pthread_mutex_destroy(&r->mu);
	}
	for (i = 0; r->ring != NULL && i < QUEUE_LEN; i++)
		job_clear(&r->ring[i]);
	free(r->ring);
	free(r->workers);
	job_clear(&r->one);
	kta_ed25519_verifier_free(r->ver);
	kta_hasher_free(r->hasher);
	free(r->origin);
	free(r);
}

void kta_replay_set_time(struct kta_replay *r, int64_t now)
{
	r->now = now;
}

void kta_replay_set_size(struct kta_replay *r, uint64_t size)
{
	r->size = size;
}

void kta_replay_get_stats(const struct kta_replay *r, struct kta_replay_stats *out)
{
	*out = r->stats;
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
	char buf[KTA_B64_ENCODED_LEN(64) + 1];

	if (n > 64)
		return NULL;
	kta_b64_encode(p, n, buf);
	return json_string(buf);
}

/*
 * Finishes and emits one finding: sets label/version (label may be NULL),
 * leaf index, size, details (stolen, may be NULL), the id; then frees it.
 */
static enum kta_status emit_alert(struct kta_replay *r, enum kta_alert_kind kind, const char *label,
				  uint64_t version, uint64_t leaf_index, json_t *details,
				  const char *message, struct kta_error *err)
{
	enum kta_status st = KTA_ERR_NOMEM;
	struct kta_alert *a = NULL;

	if ((st = kta_alert_new(kind, r->origin, r->cur_now, message, &a, err)) != KTA_OK)
		goto out;
	if (label != NULL && (st = kta_alert_set_label(a, label, version, err)) != KTA_OK)
		goto out;
	a->has_leaf_index = 1;
	a->leaf_index = leaf_index;
	a->size = r->cur_size;
	if (details == NULL) {
		st = kta_error_set(err, KTA_ERR_NOMEM, "replay: out of memory");
		goto out;
	}
	if ((st = kta_alert_set_details(a, details, err)) != KTA_OK ||
	    (st = kta_alert_set_id(a, err)) != KTA_OK)
		goto out;
	if ((st = r->emit(r->emit_ctx, a, err)) != KTA_OK)
		goto out;
	r->stats.findings++;
	st = KTA_OK;
out:
	json_decref(details);
	kta_alert_free(a);
	return st;
}

static json_t *key_json(const struct kta_entry_key *k)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "alg", json_string(kta_entry_alg_name(k->alg))) != 0 ||
	    json_object_set_new(o, "key", b64_json(k->pub, 32)) != 0 ||
	    json_object_set_new(o, "device", json_string(k->device)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

enum kta_status kta_replay_key_alert(const char *origin, int64_t now, uint64_t size,
				     const char *label, uint64_t version, uint64_t leaf_index,
				     const struct kta_entry_key *keys, size_t nkeys,
				     const struct kta_replay_watch *w, int authorized,
				     struct kta_alert **out, struct kta_error *err)
{
	enum kta_status r = KTA_ERR_NOMEM;
	struct kta_entry_key_change *ch = NULL;
	size_t nch = 0, i, nadd = 0, nrem = 0, nrep = 0;
	json_t *d = NULL, *add = NULL, *rem = NULL, *rep = NULL;
	struct kta_alert *a = NULL;
	char msg[KTA_LABEL_MAX_LEN + 256];

	*out = NULL;
	if (w == NULL || !w->watched || !w->has_approved) {
		r = kta_error_set(err, KTA_ERR_USAGE, "key alert: no approved key set");
		goto out;
	}
	if (keys_same(w->keys, w->nkeys, keys, nkeys)) {
		r = KTA_OK;
		goto out;
	}
	if ((r = kta_entry_keys_diff(w->keys, w->nkeys, keys, nkeys, &ch, &nch, err)) != KTA_OK)
		goto out;
	r = KTA_ERR_NOMEM;
	if ((d = json_object()) == NULL || (add = json_array()) == NULL ||
	    (rem = json_array()) == NULL || (rep = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < nch; i++) {
		json_t *o = NULL;

		switch (ch[i].kind) {
		case KTA_ENTRY_KEY_ADDED:
			if ((o = key_json(ch[i].after)) == NULL || json_array_append_new(add, o))
				goto nomem;
			nadd++;
			break;
		case KTA_ENTRY_KEY_REMOVED:
			if ((o = key_json(ch[i].before)) == NULL || json_array_append_new(rem, o))
				goto nomem;
			nrem++;
			break;
		case KTA_ENTRY_KEY_REPLACED:
			o = json_pack("{s:s,s:s,s:o,s:o}", "alg",
				      kta_entry_alg_name(ch[i].after->alg), "device",
				      ch[i].after->device, "old", b64_json(ch[i].before->pub, 32),
				      "new", b64_json(ch[i].after->pub, 32));
			if (o == NULL || json_array_append_new(rep, o))
				goto nomem;
			nrep++;
			break;
		case KTA_ENTRY_KEY_RENAMED:
			break; /* the same key under another device name: not a key change */
		}
	}
	if (json_object_set(d, "added", add) || json_object_set(d, "removed", rem) ||
	    json_object_set(d, "replaced", rep) ||
	    json_object_set_new(d, "authorized", json_boolean(authorized)) ||
	    json_object_set_new(d, "baseline",
				json_string(w->approved_version == 0 ? "pinned" : "approved")))
		goto nomem;
	if (w->approved_version != 0 &&
	    json_object_set_new(d, "approved_version",
				json_integer((json_int_t)w->approved_version)))
		goto nomem;
	snprintf(msg, sizeof(msg),
		 "%s version %llu (leaf %llu): key set differs from the %s set: %zu added, %zu "
		 "removed, %zu replaced%s",
		 label, (unsigned long long)version, (unsigned long long)leaf_index,
		 w->approved_version == 0 ? "pinned" : "approved", nadd, nrem, nrep,
		 authorized ? " (owner-authorized)" : "");
	if ((r = kta_alert_new(KTA_ALERT_KEY_CHANGED, origin, now, msg, &a, err)) != KTA_OK ||
	    (r = kta_alert_set_label(a, label, version, err)) != KTA_OK)
		goto out;
	a->has_leaf_index = 1;
	a->leaf_index = leaf_index;
	a->size = size;
	if ((r = kta_alert_set_details(a, d, err)) != KTA_OK ||
	    (r = kta_alert_set_id(a, err)) != KTA_OK)
		goto out;
	*out = a;
	a = NULL;
	r = KTA_OK;
	goto out;
nomem:
	r = kta_error_set(err, KTA_ERR_NOMEM, "key alert: out of memory");
out:
	kta_alert_free(a);
	json_decref(d);
	json_decref(add);
	json_decref(rem);
	json_decref(rep);
	free(ch);
	return r;
}

/* The version check's outcome. */
enum vcheck {
	V_OK,      /* first version 1, or current + 1 */
	V_GAP,     /* skipped versions */
	V_REGRESS, /* went back */
	V_REPEAT,  /* same version, same bytes */
	V_EQUIVOC, /* same version, different bytes */
};

static enum kta_status report_version(struct kta_replay *r, enum vcheck vc,
				      const struct kta_entry *e, uint64_t leaf_index,
				      const uint8_t lh[32], int found,
				      const struct kta_label_state *cur, struct kta_error *err)
{
	char msg[KTA_LABEL_MAX_LEN + 256];
	json_t *d = json_object();
	enum kta_alert_kind kind = KTA_ALERT_VERSION_SKIP;
	const char *problem = vc == V_GAP ? "gap" : vc == V_REGRESS ? "regression" : "repeat";
	int bad = d == NULL;

	if (found) {
		bad = bad ||
		      json_object_set_new(d, "previous_version",
					  json_integer((json_int_t)cur->version)) ||
		      json_object_set_new(d, "previous_leaf_index",
					  json_integer((json_int_t)cur->leaf_index));
	} else {
		bad = bad || json_object_set_new(d, "previous_version", json_integer(0));
	}
	if (vc == V_EQUIVOC) {
		kind = KTA_ALERT_VERSION_EQUIVOCATION;
		bad =
		    bad ||
		    json_object_set_new(d, "previous_entry_hash", b64_json(cur->entry_hash, 32)) ||
		    json_object_set_new(d, "entry_hash", b64_json(lh, 32));
		snprintf(msg, sizeof(msg),
			 "%s version %llu: leaf %llu and leaf %llu are different entries for the "
			 "same version",
			 e->label, (unsigned long long)e->version,
			 (unsigned long long)cur->leaf_index, (unsigned long long)leaf_index);
	} else {
		bad = bad || json_object_set_new(d, "problem", json_string(problem));
		if (found)
			snprintf(msg, sizeof(msg),
				 "%s: version %llu at leaf %llu follows version %llu at leaf %llu "
				 "(%s)",
				 e->label, (unsigned long long)e->version,
				 (unsigned long long)leaf_index, (unsigned long long)cur->version,
				 (unsigned long long)cur->leaf_index, problem);
		else
			snprintf(msg, sizeof(msg),
				 "%s: first entry, at leaf %llu, has version %llu instead of 1",
				 e->label, (unsigned long long)leaf_index,
				 (unsigned long long)e->version);
	}
	if (bad) {
		json_decref(d);
		return kta_error_set(err, KTA_ERR_NOMEM, "replay: out of memory");
	}
	return emit_alert(r, kind, e->label, e->version, leaf_index, d, msg, err);
}

static enum kta_status report_bad_auth(struct kta_replay *r, const struct kta_entry *e,
				       uint64_t leaf_index, const struct kta_entry_auth_report *rep,
				       struct kta_error *err)
{
	char msg[KTA_LABEL_MAX_LEN + 256];
	json_t *d;

	d = json_pack("{s:I,s:o,s:I}", "line", (json_int_t)rep->bad_line, "key",
		      b64_json(e->auths[rep->bad_auth].pub, 32), "bad_signatures",
		      (json_int_t)rep->nbad);
	snprintf(msg, sizeof(msg),
		 "%s version %llu (leaf %llu): auth signature on line %zu does not verify",
		 e->label, (unsigned long long)e->version, (unsigned long long)leaf_index,
		 rep->bad_line);
	return emit_alert(r, KTA_ALERT_BAD_AUTH_SIGNATURE, e->label, e->version, leaf_index, d, msg,
			  err);
}

static enum kta_status report_unauthorized(struct kta_replay *r, const struct kta_entry *e,
					   uint64_t leaf_index, const struct kta_label_state *cur,
					   struct kta_error *err)
{
	char msg[KTA_LABEL_MAX_LEN + 256];
	json_t *d = json_object(), *signers = json_array();
	size_t i;
	int bad = d == NULL || signers == NULL;

	for (i = 0; !bad && i < e->nauths; i++)
		bad = json_array_append_new(signers, b64_json(e->auths[i].pub, 32)) != 0;
	bad = bad ||
	      json_object_set_new(d, "previous_version", json_integer((json_int_t)cur->version)) ||
	      json_object_set_new(d, "previous_leaf_index",
				  json_integer((json_int_t)cur->leaf_index)) ||
	      json_object_set_new(d, "previous_deleted", json_boolean(cur->nkeys == 0)) ||
	      json_object_set(d, "signers", signers);
	json_decref(signers);
	if (bad) {
		json_decref(d);
		return kta_error_set(err, KTA_ERR_NOMEM, "replay: out of memory");
	}
	snprintf(msg, sizeof(msg),
		 "%s version %llu (leaf %llu): no key of version %llu signed this update", e->label,
		 (unsigned long long)e->version, (unsigned long long)leaf_index,
		 (unsigned long long)cur->version);
	return emit_alert(r, KTA_ALERT_UNAUTHORIZED_UPDATE, e->label, e->version, leaf_index, d,
			  msg, err);
}

/* Verifies every auth line of j (parsed, with auth lines) with v. */
static void job_verify(struct job *j, struct kta_ed25519_verifier *v)
{
	const struct kta_entry *e = j->e;
	size_t i, mlen = CONTEXT_LEN + e->signed_len;

	for (i = 0; i < e->nauths; i++)
		j->sig[i] =
		    kta_ed25519_verifier_verify(v, e->auths[i].pub, j->buf, mlen, e->auths[i].sig);
}

/* Room for the signed message (n entry bytes) and e's outcomes in j. */
static enum kta_status job_reserve(struct job *j, size_t n, size_t nauths, struct kta_error *err)
{
	if (CONTEXT_LEN + n > j->cap) {
		uint8_t *b = realloc(j->buf, CONTEXT_LEN + n);

		if (b == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "replay: out of memory");
		j->buf = b;
		j->cap = CONTEXT_LEN + n;
		memcpy(j->buf, KTA_ENTRY_AUTH_CONTEXT, CONTEXT_LEN);
	}
	if (nauths > j->sig_cap) {
		/* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI): nauths > 0 */
		enum kta_status *s = realloc(j->sig, nauths * sizeof(*s));

		if (s == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "replay: out of memory");
		j->sig = s;
		j->sig_cap = nauths;
	}
	return KTA_OK;
}

/*
 * The checks of one entry whose auth lines are verified (j->sig), in leaf
 * order, on the caller's thread: version, authorization, watches, index.
 * bytes are the entry's (j->len).
 */
static enum kta_status process(struct kta_replay *r, struct job *j, const uint8_t *bytes,
			       struct kta_error *err)
{
	enum kta_status st = KTA_ERR_USAGE;
	const struct kta_entry *e = j->e;
	const uint64_t leaf_index = j->leaf_index;
	const uint8_t *lh = j->lh;
	struct kta_label_state cur, next;
	struct kta_entry prev;
	struct kta_entry_auth_report rep;
	struct kta_replay_watch w;
	int found = 0, prev_known;
	enum vcheck vc = V_OK;

	r->cur_now = j->now;
	r->cur_size = j->size;
	memset(&cur, 0, sizeof(cur));
	if (e == NULL) {
		char msg[KTA_ERROR_MSG_MAX + 64];

		snprintf(msg, sizeof(msg), "entry at leaf %llu does not parse: %s",
			 (unsigned long long)leaf_index, j->perr.msg);
		st = emit_alert(
		    r, KTA_ALERT_MALFORMED_ENTRY, NULL, 0, leaf_index,
		    json_pack("{s:s,s:o}", "error", j->perr.msg, "entry_hash", b64_json(lh, 32)),
		    msg, err);
		goto done;
	}

	if ((st = r->index.get(r->index.ctx, e->label, &found, &cur, err)) != KTA_OK)
		goto out;
	if (!found) {
		vc = e->version == 1 ? V_OK : V_GAP;
	} else if (e->version > cur.version) {
		vc = e->version - cur.version == 1 ? V_OK : V_GAP;
	} else if (e->version < cur.version) {
		vc = V_REGRESS;
	} else {
		/* the same version again: the same entry, or another one */
		if (r->index.entry_hash != NULL &&
		    (st = r->index.entry_hash(r->index.ctx, e->label, cur.version, cur.leaf_index,
					      cur.entry_hash, err)) != KTA_OK)
			goto out;
		vc = kta_ct_equal(cur.entry_hash, lh, 32) ? V_REPEAT : V_EQUIVOC;
	}
	if (vc != V_OK &&
	    (st = report_version(r, vc, e, leaf_index, lh, found, &cur, err)) != KTA_OK)
		goto out;

	/* Authorization against the label's previous version (DESIGN.md A11): only
	 * when the current state is below the new version; see replay.h. */
	prev_known = found && e->version > 1 && e->version > cur.version;
	if (prev_known) {
		memset(&prev, 0, sizeof(prev));
		prev.label = e->label;
		prev.version = cur.version;
		prev.keys = (struct kta_entry_key *)(uintptr_t)cur.keys;
		prev.nkeys = cur.nkeys;
	}
	st = kta_entry_auth_decide(e, prev_known ? &prev : NULL, j->sig, &rep, err);
	if (st != KTA_OK)
		goto out;
	if (rep.nbad > 0 && (st = report_bad_auth(r, e, leaf_index, &rep, err)) != KTA_OK)
		goto out;
	if (prev_known && rep.owner_auth == SIZE_MAX &&
	    (st = report_unauthorized(r, e, leaf_index, &cur, err)) != KTA_OK)
		goto out;

	/* Watched labels (A1, A2): compare with the pinned or approved set. */
	if (r->watches.get != NULL) {
		if ((st = r->watches.get(r->watches.ctx, e->label, &w, err)) != KTA_OK)
			goto out;
		if (w.watched && !w.has_approved) {
			if (r->watches.tofu == NULL) {
				st = kta_error_set(err, KTA_ERR_USAGE,
						   "replay: tofu watch but no tofu callback");
				goto out;
			}
			st = r->watches.tofu(r->watches.ctx, e->label, e->version, leaf_index,
					     e->keys, e->nkeys, err);
			if (st != KTA_OK)
				goto out;
		} else if (w.watched && !keys_same(w.keys, w.nkeys, e->keys, e->nkeys)) {
			struct kta_alert *a = NULL;

			st =
			    kta_replay_key_alert(r->origin, r->cur_now, r->cur_size, e->label,
						 e->version, leaf_index, e->keys, e->nkeys, &w,
						 prev_known && rep.owner_auth != SIZE_MAX, &a, err);
			if (st != KTA_OK)
				goto out;
			if (a != NULL) {
				st = r->emit(r->emit_ctx, a, err);
				kta_alert_free(a);
				if (st != KTA_OK)
					goto out;
				r->stats.findings++;
			}
		}
	}

	/* The log's latest entry is what clients are served: record it. */
	next.label = e->label;
	next.version = e->version;
	next.leaf_index = leaf_index;
	memcpy(next.entry_hash, lh, 32);
	next.keys = e->keys;
	next.nkeys = e->nkeys;
	next.entry = bytes;
	next.entry_len = j->len;
	next.parsed = e;
	if ((st = r->index.put(r->index.ctx, &next, rep.result, err)) != KTA_OK)
		goto out;
	if (!found)
		r->stats.new_labels++;
done:
	if (st == KTA_OK)
		r->stats.entries++;
out:
	return st;
}

/* Hashes (unless given) and parses one entry into j. Only KTA_ERR_NOMEM or
 * KTA_ERR_INTERNAL fail: a malformed entry is a finding, left in j->perr. */
static enum kta_status job_load(struct kta_replay *r, struct job *j, uint64_t leaf_index,
				const uint8_t *bytes, size_t len, const uint8_t *leaf_hash,
				struct kta_error *err)
{
	enum kta_status st;

	j->e = NULL;
	j->leaf_index = leaf_index;
	j->now = r->now;
	j->size = r->size;
	j->len = len;
	j->state = J_DONE;
	if (leaf_hash != NULL) {
		memcpy(j->lh, leaf_hash, 32);
	} else {
		kta_hash_leaf(r->hasher, bytes, len, j->lh);
		if (kta_hasher_failed(r->hasher))
			return kta_error_set(err, KTA_ERR_INTERNAL, "replay: SHA-256 failed");
	}
	/* Each job owns its buffer: a pool thread may still read an earlier
	 * job's entry while this one is parsed. */
	if (j->eb == NULL && (st = kta_entry_buf_new(&j->eb, err)) != KTA_OK)
		return st;
	st = kta_entry_parse_buf(bytes, len, j->eb, &j->e, &j->perr);
	if (st != KTA_OK && st != KTA_ERR_MALFORMED && st != KTA_ERR_LIMIT)
		return kta_error_set(err, st, "replay: leaf %llu: %s",
				     (unsigned long long)leaf_index, j->perr.msg);
	return KTA_OK;
}

/* Replays one entry at once (threads <= 1): the behaviour without a pool. */
static enum kta_status replay_now(struct kta_replay *r, uint64_t leaf_index, const uint8_t *bytes,
				  size_t len, const uint8_t *leaf_hash, struct kta_error *err)
{
	struct job *j = &r->one;
	enum kta_status st;

	if ((st = job_load(r, j, leaf_index, bytes, len, leaf_hash, err)) != KTA_OK)
		return st;
	if (j->e != NULL && j->e->nauths > 0) {
		if ((st = job_reserve(j, j->e->signed_len, j->e->nauths, err)) != KTA_OK)
			return st;
		/* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): e parsed from bytes */
		memcpy(j->buf + CONTEXT_LEN, bytes, j->e->signed_len);
		job_verify(j, r->ver);
	}
	st = process(r, j, bytes, err);
	j->e = NULL;
	if (st == KTA_OK) {
		r->have_last = 1;
		r->last_index = leaf_index;
	}
	return st;
}

/* Hands out the oldest pending job (mu held), or NULL. */
static struct job *take_job(struct kta_replay *r)
{
	while (r->next < r->tail) {
		struct job *j = &r->ring[r->next++ % QUEUE_LEN];

		if (j->state == J_PENDING) {
			j->state = J_RUNNING;
			return j;
		}
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct kta_replay *r = w->r;
	struct job *j;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		if ((j = take_job(r)) == NULL) {
			pthread_cond_wait(&r->work_cv, &r->mu);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		job_verify(j, w->v);
		pthread_mutex_lock(&r->mu);
		j->state = J_DONE;
		pthread_cond_signal(&r->done_cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Records the failure that ends a threaded replay and returns it. */
static enum kta_status pipe_fail(struct kta_replay *r, enum kta_status st, struct kta_error *err)
{
	r->failed = st;
	(void)snprintf(r->fail_msg, sizeof(r->fail_msg), "%s", err != NULL ? err->msg : "");
	return st;
}

/*
 * Processes the oldest fed entry. wait: wait for its signatures, verifying
 * pending ones on this thread meanwhile; otherwise only if they are done
 * (*progress = 0 when they are not).
 */
static enum kta_status pipe_step(struct kta_replay *r, int wait, int *progress,
				 struct kta_error *err)
{
	struct job *j = &r->ring[r->head % QUEUE_LEN], *t;
	enum kta_status st;

	*progress = 0;
	pthread_mutex_lock(&r->mu);
	while (j->state != J_DONE && wait) {
		if ((t = take_job(r)) == NULL) {
			pthread_cond_wait(&r->done_cv, &r->mu);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		job_verify(t, r->ver);
		pthread_mutex_lock(&r->mu);
		t->state = J_DONE;
	}
	if (j->state != J_DONE) {
		pthread_mutex_unlock(&r->mu);
		return KTA_OK;
	}
	pthread_mutex_unlock(&r->mu);
	st = process(r, j, j->buf + CONTEXT_LEN, err);
	j->e = NULL;
	if (st != KTA_OK) {
		kta_error_prefix(err, "replay of leaf %llu", (unsigned long long)j->leaf_index);
		return pipe_fail(r, st, err);
	}
	pthread_mutex_lock(&r->mu);
	r->head++;
	if (r->next < r->head)
		r->next = r->head;
	pthread_mutex_unlock(&r->mu);
	*progress = 1;
	return KTA_OK;
}

/* Feeds one entry to a threaded replay and processes what is ready. */
static enum kta_status replay_queue(struct kta_replay *r, uint64_t leaf_index, const uint8_t *bytes,
				    size_t len, const uint8_t *leaf_hash, struct kta_error *err)
{
	enum kta_status st;
	struct job *j;
	int progress = 1;

	while (r->tail - r->head == QUEUE_LEN)
		if ((st = pipe_step(r, 1, &progress, err)) != KTA_OK)
			return st;
	/* The slot at tail is neither pending nor running: no thread reads it. */
	j = &r->ring[r->tail % QUEUE_LEN];
	if ((st = job_reserve(j, len, 0, err)) != KTA_OK)
		return pipe_fail(r, st, err);
	if (len > 0)
		memcpy(j->buf + CONTEXT_LEN, bytes, len);
	if ((st = job_load(r, j, leaf_index, j->buf + CONTEXT_LEN, len, leaf_hash, err)) !=
		KTA_OK ||
	    (j->e != NULL && (st = job_reserve(j, len, j->e->nauths, err)) != KTA_OK))
		return pipe_fail(r, st, err);
	pthread_mutex_lock(&r->mu);
	if (j->e != NULL && j->e->nauths > 0) {
		j->state = J_PENDING;
		pthread_cond_signal(&r->work_cv);
	}
	r->tail++;
	pthread_mutex_unlock(&r->mu);
	r->have_last = 1;
	r->last_index = leaf_index;
	if (r->index.prefetch != NULL && j->e != NULL)
		r->index.prefetch(r->index.ctx, j->e->label);
	while (progress && r->tail - r->head > r->lookahead)
		if ((st = pipe_step(r, 0, &progress, err)) != KTA_OK)
			return st;
	return KTA_OK;
}

/*
 * The shard of an entry (replay.h): its label's, read from line 2 without
 * parsing the rest (a valid entry's label is exactly that line after
 * "label "); 0 for an entry without such a line.
 */
static enum kta_status entry_shard(struct kta_replay *r, const uint8_t *b, size_t len,
				   uint32_t *out, struct kta_error *err)
{
	static const char head[] = KTA_ENTRY_HEADER "\nlabel ";
	const size_t hl = sizeof(head) - 1;
	const uint8_t *nl;

	*out = 0;
	if (len <= hl || memcmp(b, head, hl) != 0 || (nl = memchr(b + hl, '\n', len - hl)) == NULL)
		return KTA_OK;
	*out = kta_shard_label(r->hasher, b + hl, (size_t)(nl - (b + hl)), r->shard_n);
	if (kta_hasher_failed(r->hasher))
		return kta_error_set(err, KTA_ERR_INTERNAL, "replay: SHA-256 failed");
	return KTA_OK;
}

enum kta_status kta_replay_entry(struct kta_replay *r, uint64_t leaf_index, const uint8_t *bytes,
				 size_t len, const uint8_t *leaf_hash, struct kta_error *err)
{
	enum kta_status st;
	uint32_t k = 0;

	if (r->failed != KTA_OK)
		return kta_error_set(err, r->failed, "%s", r->fail_msg);
	if (r->have_last && leaf_index <= r->last_index)
		return kta_error_set(
		    err, KTA_ERR_USAGE, "replay: leaf %llu does not follow leaf %llu",
		    (unsigned long long)leaf_index, (unsigned long long)r->last_index);
	if (bytes == NULL && len > 0)
		return kta_error_set(err, KTA_ERR_USAGE, "replay: no entry bytes");
	if (r->shard_n > 1) {
		if ((st = entry_shard(r, bytes, len, &k, err)) != KTA_OK)
			return st;
		if (k != r->shard_k) {
			/* another shard's: counted, never parsed, queued or verified */
			r->stats.entries++;
			r->stats.skipped++;
			r->have_last = 1;
			r->last_index = leaf_index;
			return KTA_OK;
		}
	}
	if (r->threads <= 1)
		return replay_now(r, leaf_index, bytes, len, leaf_hash, err);
	return replay_queue(r, leaf_index, bytes, len, leaf_hash, err);
}

enum kta_status kta_replay_flush(struct kta_replay *r, struct kta_error *err)
{
	enum kta_status st;
	int progress = 0;

	if (r->failed != KTA_OK)
		return kta_error_set(err, r->failed, "%s", r->fail_msg);
	while (r->head < r->tail)
		if ((st = pipe_step(r, 1, &progress, err)) != KTA_OK)
			return st;
	return KTA_OK;
}

/* ------------------------------------------------------------------------ */
/* Names, key specs. */

static const struct {
	enum kta_auth_result a;
	const char *name;
} auth_names[] = {
    {KTA_AUTH_FIRST_VERSION, "first_version"}, {KTA_AUTH_OWNER, "owner"},
    {KTA_AUTH_UNAUTHORIZED, "unauthorized"},   {KTA_AUTH_BAD_SIGNATURE, "bad_signature"},
    {KTA_AUTH_PREV_UNKNOWN, "unknown"},
};

const char *kta_replay_auth_name(enum kta_auth_result a)
{
	size_t i;

	for (i = 0; i < sizeof(auth_names) / sizeof(auth_names[0]); i++)
		if (auth_names[i].a == a)
			return auth_names[i].name;
	return "unknown";
}

enum kta_status kta_replay_auth_parse(const char *s, enum kta_auth_result *out)
{
	size_t i;

	for (i = 0; i < sizeof(auth_names) / sizeof(auth_names[0]); i++)
		if (strcmp(auth_names[i].name, s) == 0) {
			*out = auth_names[i].a;
			return KTA_OK;
		}
	return KTA_ERR_MALFORMED;
}

enum kta_status kta_replay_key_parse(const char *spec, struct kta_entry_key *out,
				     struct kta_error *err)
{
	char q[4 * 64 + 4];
	const char *c1, *c2, *dev;
	size_t alen, blen, dlen, n;
	enum kta_entry_alg alg;
	uint8_t pub[32];
	char *d;

	c1 = strchr(spec, ':');
	c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	if (c1 == NULL || c2 == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key \"%s\": expected ALG:BASE64:DEVICE",
				     kta_quote((const uint8_t *)spec, strlen(spec), 64, q));
	alen = (size_t)(c1 - spec);
	blen = (size_t)(c2 - c1 - 1);
	dev = c2 + 1;
	dlen = strlen(dev);
	if (alen == 7 && memcmp(spec, "ed25519", 7) == 0)
		alg = KTA_ENTRY_ALG_ED25519;
	else if (alen == 6 && memcmp(spec, "x25519", 6) == 0)
		alg = KTA_ENTRY_ALG_X25519;
	else
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key: unknown algorithm \"%s\" (ed25519 or x25519)",
				     kta_quote((const uint8_t *)spec, alen, 64, q));
	if (kta_b64_decode(c1 + 1, blen, pub, sizeof(pub), &n) != KTA_OK || n != 32)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "key: \"%s\" is not canonical base64 of 32 bytes",
				     kta_quote((const uint8_t *)c1 + 1, blen, 64, q));
	/* The device is a name as in an entry's key line (entry.h "Names"). */
	if (dlen == 0 || dlen > KTA_DEVICE_MAX_LEN ||
	    kta_entry_label_check(dev, dlen, NULL) != KTA_OK)
		return kta_error_set(err, KTA_ERR_MALFORMED, "key: bad device name \"%s\"",
				     kta_quote((const uint8_t *)dev, dlen, 64, q));
	if ((d = strdup(dev)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "key: out of memory");
	out->alg = alg;
	memcpy(out->pub, pub, 32);
	out->device = d;
	return KTA_OK;
}

static int key_order(const void *a, const void *b)
{
	const struct kta_entry_key *x = a, *y = b;
	const char *nx = kta_entry_alg_name(x->alg), *ny = kta_entry_alg_name(y->alg);
	int c = strcmp(nx != NULL ? nx : "", ny != NULL ? ny : "");

	return c != 0 ? c : memcmp(x->pub, y->pub, 32);
}

enum kta_status kta_replay_keys_canonicalize(struct kta_entry_key *keys, size_t n,
					     struct kta_error *err)
{
	size_t i, j;
	char b64[KTA_B64_ENCODED_LEN(32) + 1];
	char q[4 * 64 + 4];

	if (n > 0 && keys == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "key set is NULL");
	for (i = 0; i < n; i++)
		if (kta_entry_alg_name(keys[i].alg) == NULL || keys[i].device == NULL)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "key %zu has no algorithm or device", i);
	if (n > 1)
		qsort(keys, n, sizeof(*keys), key_order);
	for (i = 1; i < n; i++)
		if (key_order(&keys[i - 1], &keys[i]) == 0) {
			kta_b64_encode(keys[i].pub, 32, b64);
			return kta_error_set(err, KTA_ERR_MALFORMED, "key %s:%s given twice",
					     kta_entry_alg_name(keys[i].alg), b64);
		}
	/* (alg, device) unique: O(n^2) is fine for hand-written pins. */
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (keys[i].alg == keys[j].alg &&
			    strcmp(keys[i].device, keys[j].device) == 0)
				return kta_error_set(err, KTA_ERR_MALFORMED,
						     "device \"%s\" has two %s keys",
						     kta_quote((const uint8_t *)keys[i].device,
							       strlen(keys[i].device), 64, q),
						     kta_entry_alg_name(keys[i].alg));
	return KTA_OK;
}

void kta_replay_keys_free(struct kta_entry_key *keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		free(keys[i].device);
	free(keys);
}

/* Checks that keys[0..n) is canonical (USAGE otherwise), as entry.h defines. */
static enum kta_status keys_check_canonical(const struct kta_entry_key *keys, size_t n,
					    struct kta_error *err)
{
	size_t i, j;

	if (n > 0 && keys == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "key set is NULL");
	for (i = 0; i < n; i++) {
		if (kta_entry_alg_name(keys[i].alg) == NULL || keys[i].device == NULL)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "key %zu has no algorithm or device", i);
		if (i > 0 && key_order(&keys[i - 1], &keys[i]) >= 0)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "key set is not canonical at key %zu", i);
		for (j = 0; j < i; j++)
			if (keys[i].alg == keys[j].alg &&
			    strcmp(keys[i].device, keys[j].device) == 0)
				return kta_error_set(err, KTA_ERR_USAGE,
						     "key set: device of key %zu repeats", i);
	}
	return KTA_OK;
}

/* ------------------------------------------------------------------------ */
/* In-memory index. */

struct mi_node {
	struct map_head h; /* h.label points to label_buf */
	uint64_t version;
	uint64_t leaf_index;
	uint8_t entry_hash[32];
	struct kta_entry_key *keys; /* points into block */
	size_t nkeys;
	void *block; /* keys and devices */
	size_t block_cap;
	uint8_t *entry; /* keep_entries only */
	size_t entry_len, entry_cap;
	char label_buf[]; /* the label, NUL-terminated */
};

struct kta_replay_memindex {
	struct map map;
	int keep_entries;
	struct mi_node *last; /* the node the last get() found: put() of the same label reuses it */
};

static void mi_node_free(struct mi_node *n)
{
	if (n == NULL)
		return;
	free(n->block);
	free(n->entry);
	free(n);
}

enum kta_status kta_replay_memindex_new(int keep_entries, struct kta_replay_memindex **out,
					struct kta_error *err)
{
	struct kta_replay_memindex *m;
	enum kta_status r;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "memory index: out of memory");
	if ((r = map_init(&m->map, err)) != KTA_OK) {
		free(m);
		return r;
	}
	m->keep_entries = keep_entries != 0;
	*out = m;
	return KTA_OK;
}

void kta_replay_memindex_free(struct kta_replay_memindex *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->map.cap; i++)
		mi_node_free((struct mi_node *)map_at(&m->map, i));
	free(m->map.slots);
	free(m);
}

static void mi_fill(const struct mi_node *n, struct kta_label_state *out)
{
	out->label = n->h.label;
	out->version = n->version;
	out->leaf_index = n->leaf_index;
	memcpy(out->entry_hash, n->entry_hash, 32);
	out->keys = n->nkeys > 0 ? n->keys : NULL;
	out->nkeys = n->nkeys;
	out->entry = n->entry_len > 0 ? n->entry : NULL;
	out->entry_len = n->entry_len;
	out->parsed = NULL;
}

static enum kta_status mi_get(void *ctx, const char *label, int *found, struct kta_label_state *out,
			      struct kta_error *err)
{
	struct kta_replay_memindex *m = ctx;
	struct mi_node *n = (struct mi_node *)map_find(&m->map, label);

	(void)err;
	m->last = n;
	*found = n != NULL;
	if (n != NULL)
		mi_fill(n, out);
	return KTA_OK;
}

static enum kta_status mi_put(void *ctx, const struct kta_label_state *st,
			      enum kta_auth_result auth, struct kta_error *err)
{
	struct kta_replay_memindex *m = ctx;
	size_t len = strlen(st->label), need;
	uint64_t h;
	struct mi_node *n = NULL, *fresh = NULL;
	enum kta_status r = KTA_ERR_NOMEM;

	(void)auth;
	/* The replay puts the label it just got: skip the second lookup. */
	if (m->last != NULL && m->last->h.len == len &&
	    memcmp(m->last->h.label, st->label, len) == 0) {
		n = m->last;
	} else {
		h = map_hash(&m->map, st->label, len);
		if (m->map.cap > 0)
			n = (struct mi_node *)map_at(&m->map, map_slot(&m->map, st->label, len, h));
		if (n == NULL) {
			if ((r = map_reserve(&m->map, err)) != KTA_OK)
				goto out;
			if (len > SIZE_MAX - sizeof(*fresh) - 1 ||
			    (fresh = calloc(1, sizeof(*fresh) + len + 1)) == NULL)
				goto nomem;
			memcpy(fresh->label_buf, st->label, len + 1);
			fresh->h.label = fresh->label_buf;
			fresh->h.len = len;
			fresh->h.hash = h;
			n = fresh;
		}
	}
	if ((need = keys_block_size(st->keys, st->nkeys)) == 0)
		goto nomem;
	if (need > n->block_cap) {
		void *b = realloc(n->block, need);

		if (b == NULL)
			goto nomem;
		n->block = b;
		n->block_cap = need;
	}
	if (m->keep_entries && st->entry != NULL && st->entry_len > n->entry_cap) {
		uint8_t *b = realloc(n->entry, st->entry_len);

		if (b == NULL)
			goto nomem;
		n->entry = b;
		n->entry_cap = st->entry_len;
	}
	/* Nothing fails from here on: the node changes all at once. */
	n->keys = keys_copy_into(n->block, st->keys, st->nkeys);
	n->nkeys = st->nkeys;
	n->version = st->version;
	n->leaf_index = st->leaf_index;
	memcpy(n->entry_hash, st->entry_hash, 32);
	n->entry_len = 0;
	if (m->keep_entries && st->entry != NULL && st->entry_len > 0) {
		memcpy(n->entry, st->entry, st->entry_len);
		n->entry_len = st->entry_len;
	}
	if (fresh != NULL) {
		map_insert(&m->map, &fresh->h);
		fresh = NULL;
	}
	r = KTA_OK;
	goto out;
nomem:
	r = kta_error_set(err, KTA_ERR_NOMEM, "memory index: out of memory");
out:
	mi_node_free(fresh);
	return r;
}

struct kta_replay_index kta_replay_memindex_ops(struct kta_replay_memindex *m)
{
	/* no prefetch (a hash map of malloc'd nodes: nothing to gain) and no
	 * entry_hash (get fills it): members not named are NULL */
	return (struct kta_replay_index){.ctx = m, .get = mi_get, .put = mi_put};
}

size_t kta_replay_memindex_count(const struct kta_replay_memindex *m)
{
	return m->map.count;
}

int kta_replay_memindex_lookup(const struct kta_replay_memindex *m, const char *label,
			       struct kta_label_state *out)
{
	const struct mi_node *n = (const struct mi_node *)map_find(&m->map, label);

	if (n == NULL)
		return 0;
	mi_fill(n, out);
	return 1;
}

enum kta_status kta_replay_memindex_foreach(const struct kta_replay_memindex *m,
					    enum kta_status (*fn)(void *ctx,
								  const struct kta_label_state *st,
								  struct kta_error *err),
					    void *ctx, struct kta_error *err)
{
	struct kta_label_state s;
	enum kta_status r;
	size_t i;

	for (i = 0; i < m->map.cap; i++) {
		if (map_at(&m->map, i) == NULL)
			continue;
		mi_fill((const struct mi_node *)map_at(&m->map, i), &s);
		if ((r = fn(ctx, &s, err)) != KTA_OK)
			return r;
	}
	return KTA_OK;
}

/* ------------------------------------------------------------------------ */
/* In-memory watch list. */

struct ws_node {
	struct map_head h;
	enum kta_watch_mode mode;
	int has_approved;
	uint64_t approved_version;
	struct kta_entry_key *keys; /* into block */
	size_t nkeys;
	void *block;
};

/*
 * A filter in front of a watch set's map: a bit per value of ws_pre, set
 * for every watched label (watches are never removed). Nearly every label
 * a replay looks up is not watched, and a clear bit spares its SipHash.
 * ws_pre is not keyed: a log that aims its labels at set bits only gets
 * the map's full lookup, the cost without the filter.
 */
#define WS_PRE_BITS 65536u

struct kta_replay_watchset {
	struct map map;
	uint64_t pre[WS_PRE_BITS / 64];
};

/* A multiply-xorshift hash of label, 8 bytes at a time, to WS_PRE_BITS. */
static uint32_t ws_pre(const char *label, size_t len)
{
	uint64_t h = (uint64_t)len * 0x9e3779b97f4a7c15u, w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, label + i, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9u;
		h ^= h >> 31;
	}
	if (i < len) {
		w = 0;
		memcpy(&w, label + i, len - i);
		h = (h ^ w) * 0xbf58476d1ce4e5b9u;
	}
	return (uint32_t)((h * 0x94d049bb133111ebu) >> 48);
}

static int ws_pre_has(const struct kta_replay_watchset *w, uint32_t b)
{
	return (int)((w->pre[b / 64] >> (b % 64)) & 1u);
}

static void ws_node_free(struct ws_node *n)
{
	if (n == NULL)
		return;
	free(n->h.label);
	free(n->block);
	free(n);
}

enum kta_status kta_replay_watchset_new(struct kta_replay_watchset **out, struct kta_error *err)
{
	struct kta_replay_watchset *w;
	enum kta_status r;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "watch set: out of memory");
	if ((r = map_init(&w->map, err)) != KTA_OK) {
		free(w);
		return r;
	}
	*out = w;
	return KTA_OK;
}

void kta_replay_watchset_free(struct kta_replay_watchset *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->map.cap; i++)
		ws_node_free((struct ws_node *)map_at(&w->map, i));
	free(w->map.slots);
	free(w);
}

/* Sets label's watch (creating the node), approved set keys (copied) or none. */
static enum kta_status ws_set(struct kta_replay_watchset *w, const char *label,
			      enum kta_watch_mode mode, int has_approved, uint64_t version,
			      const struct kta_entry_key *keys, size_t n, struct kta_error *err)
{
	size_t len = strlen(label), need;
	uint64_t h = map_hash(&w->map, label, len);
	struct ws_node *node = NULL, *fresh = NULL;
	void *block = NULL;
	enum kta_status r;

	if ((r = keys_check_canonical(keys, n, err)) != KTA_OK)
		return r;
	if (w->map.cap > 0)
		node = (struct ws_node *)map_at(&w->map, map_slot(&w->map, label, len, h));
	if (node == NULL) {
		if ((r = map_reserve(&w->map, err)) != KTA_OK)
			return r;
		if ((fresh = calloc(1, sizeof(*fresh))) == NULL ||
		    (fresh->h.label = strdup(label)) == NULL)
			goto nomem;
		fresh->h.len = len;
		fresh->h.hash = h;
		node = fresh;
	}
	if ((need = keys_block_size(keys, n)) == 0 || (block = malloc(need)) == NULL)
		goto nomem;
	free(node->block);
	node->block = block;
	node->keys = keys_copy_into(block, keys, n);
	node->nkeys = n;
	node->mode = mode;
	node->has_approved = has_approved;
	node->approved_version = version;
	if (fresh != NULL) {
		uint32_t b = ws_pre(label, len);

		map_insert(&w->map, &fresh->h);
		w->pre[b / 64] |= (uint64_t)1 << (b % 64);
	}
	return KTA_OK;
nomem:
	ws_node_free(fresh);
	return kta_error_set(err, KTA_ERR_NOMEM, "watch set: out of memory");
}

enum kta_status kta_replay_watchset_pin(struct kta_replay_watchset *w, const char *label,
					const struct kta_entry_key *keys, size_t n,
					struct kta_error *err)
{
	return ws_set(w, label, KTA_WATCH_PINNED, 1, 0, keys, n, err);
}

enum kta_status kta_replay_watchset_tofu(struct kta_replay_watchset *w, const char *label,
					 struct kta_error *err)
{
	return ws_set(w, label, KTA_WATCH_TOFU, 0, 0, NULL, 0, err);
}

enum kta_status kta_replay_watchset_put(struct kta_replay_watchset *w, const char *label,
					const struct kta_replay_watch *wt, struct kta_error *err)
{
	if (wt == NULL || !wt->watched ||
	    (wt->mode != KTA_WATCH_PINNED && wt->mode != KTA_WATCH_TOFU))
		return kta_error_set(err, KTA_ERR_USAGE, "watch set: not a watch");
	if (!wt->has_approved)
		return ws_set(w, label, wt->mode, 0, 0, NULL, 0, err);
	return ws_set(w, label, wt->mode, 1, wt->approved_version, wt->keys, wt->nkeys, err);
}

size_t kta_replay_watchset_count(const struct kta_replay_watchset *w)
{
	return w->map.count;
}

void kta_replay_watchset_lookup(const struct kta_replay_watchset *w, const char *label,
				struct kta_replay_watch *out)
{
	size_t len = strlen(label);
	const struct ws_node *n = NULL;

	memset(out, 0, sizeof(*out));
	if (ws_pre_has(w, ws_pre(label, len)))
		n = (const struct ws_node *)map_find_len(&w->map, label, len);
	if (n == NULL)
		return;
	out->watched = 1;
	out->mode = n->mode;
	out->has_approved = n->has_approved;
	out->approved_version = n->approved_version;
	out->keys = n->nkeys > 0 ? n->keys : NULL;
	out->nkeys = n->nkeys;
}

static enum kta_status ws_get(void *ctx, const char *label, struct kta_replay_watch *out,
			      struct kta_error *err)
{
	(void)err;
	kta_replay_watchset_lookup(ctx, label, out);
	return KTA_OK;
}

static enum kta_status ws_tofu(void *ctx, const char *label, uint64_t version, uint64_t leaf_index,
			       const struct kta_entry_key *keys, size_t nkeys,
			       struct kta_error *err)
{
	struct kta_replay_watchset *w = ctx;
	const struct ws_node *n = (const struct ws_node *)map_find(&w->map, label);

	(void)leaf_index;
	if (n == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "watch set: tofu for an unwatched label");
	return ws_set(w, label, n->mode, 1, version, keys, nkeys, err);
}

struct kta_replay_watches kta_replay_watchset_ops(struct kta_replay_watchset *w)
{
	struct kta_replay_watches ws;

	ws.ctx = w;
	ws.get = ws_get;
	ws.tofu = ws_tofu;
	return ws;
}
