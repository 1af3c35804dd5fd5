/*
 * Unit tests for the replay engine (include/ktaudit/replay.h): every finding
 * fires exactly when it should, never on honest histories, and the in-memory
 * and SQLite indexes agree.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/hash.h"
#include "ktaudit/key.h"
#include "ktaudit/replay.h"
#include "ktaudit/shard.h"
#include "ktaudit/state.h"

#define NKEYS 64
/* pubs[TWIN] is pubs[1] with its last bit flipped: another key that shares
 * 255 bits with key 1 (no seed: it never signs). */
#define TWIN NKEYS

/* Test key pairs: seed i is 32 bytes of (i + 1). */
static uint8_t seeds[NKEYS][32];
static uint8_t pubs[NKEYS + 1][32];

static int setup_keys(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NKEYS; i++) {
		struct kta_skey *k = NULL;

		memset(seeds[i], (int)(i + 1), 32);
		if (kta_skey_from_seed("test", KTA_KEY_ED25519, seeds[i], &k, NULL) != KTA_OK)
			return -1;
		memcpy(pubs[i], k->pub, 32);
		kta_skey_free(k);
	}
	memcpy(pubs[TWIN], pubs[1], 32);
	pubs[TWIN][31] ^= 0x01;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct kta_entry_key *x = a, *y = b;

	return memcmp(x->pub, y->pub, 32);
}

/*
 * Builds an entry of label/version whose key set is the ed25519 keys ids[0..n)
 * (device "d<id>", or devs[i] when given) signed by the keys signers[0..ns).
 */
struct blob {
	uint8_t *p;
	size_t n;
};

/* Serializes label/version with keys[0..n) (canonical order), signed by the
 * keys signers[0..ns). */
static struct blob mk_entry_keys(const char *label, uint64_t version,
				 const struct kta_entry_key *keys, size_t n, const int *signers,
				 size_t ns)
{
	struct blob b;
	struct kta_entry e;
	uint8_t *out = NULL, *next;
	size_t i, olen, nlen;

	memset(&e, 0, sizeof(e));
	e.label = (char *)(uintptr_t)label;
	e.version = version;
	e.time = 1764143000 + version;
	e.keys = n > 0 ? (struct kta_entry_key *)(uintptr_t)keys : NULL;
	e.nkeys = n;
	assert_int_equal(kta_entry_serialize(&e, &out, &olen, NULL), KTA_OK);
	for (i = 0; i < ns; i++) {
		assert_int_equal(kta_entry_sign(out, olen, seeds[signers[i]], &next, &nlen, NULL),
				 KTA_OK);
		free(out);
		out = next;
		olen = nlen;
	}
	b.p = out;
	b.n = olen;
	return b;
}

/* keys[0..n): the ed25519 keys ids[0..n), device devs[i] or "d<id>" (written
 * into devbuf[i]). */
static void fill_keys(struct kta_entry_key *keys, char (*devbuf)[16], const int *ids,
		      const char *const *devs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		keys[i].alg = KTA_ENTRY_ALG_ED25519;
		memcpy(keys[i].pub, pubs[ids[i]], 32);
		if (devs != NULL) {
			keys[i].device = (char *)(uintptr_t)devs[i];
		} else {
			snprintf(devbuf[i], sizeof(devbuf[i]), "d%d", ids[i]);
			keys[i].device = devbuf[i];
		}
	}
}

static struct blob mk_entry_dev(const char *label, uint64_t version, const int *ids,
				const char *const *devs, size_t n, const int *signers, size_t ns)
{
	struct kta_entry_key keys[16];
	char devbuf[16][16];

	assert_true(n <= 16);
	memset(keys, 0, sizeof(keys));
	fill_keys(keys, devbuf, ids, devs, n);
	qsort(keys, n, sizeof(keys[0]), key_cmp);
	return mk_entry_keys(label, version, keys, n, signers, ns);
}

static struct blob mk_entry(const char *label, uint64_t version, const int *ids, size_t n,
			    const int *signers, size_t ns)
{
	return mk_entry_dev(label, version, ids, NULL, n, signers, ns);
}

/* A finding as recorded by the test's emit callback. */
struct found {
	enum kta_alert_kind kind;
	char id[33];
	char *label;
	uint64_t version;
	uint64_t leaf_index;
	int64_t time;
	uint64_t size;
	json_t *details;
};

struct sink {
	struct found items[4096];
	size_t n;
	int fail_after; /* emit fails once n reaches this (0 = never) */
};

static enum kta_status rec_emit(void *ctx, const struct kta_alert *a, struct kta_error *err)
{
	struct sink *s = ctx;
	struct found *f;

	if (s->fail_after > 0 && s->n >= (size_t)s->fail_after)
		return kta_error_set(err, KTA_ERR_IO, "test sink refuses");
	assert_true(s->n < sizeof(s->items) / sizeof(s->items[0]));
	f = &s->items[s->n++];
	f->kind = a->kind;
	memcpy(f->id, a->id, 33);
	f->label = a->label != NULL ? strdup(a->label) : NULL;
	f->version = a->version;
	assert_true(a->has_leaf_index);
	f->leaf_index = a->leaf_index;
	f->time = a->time;
	f->size = a->size;
	f->details = a->details != NULL ? json_loads(a->details, 0, NULL) : NULL;
	assert_int_equal(strlen(a->id), 32);
	assert_string_equal(a->log, "example.com/dir");
	return KTA_OK;
}

static void sink_clear(struct sink *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->items[i].label);
		json_decref(s->items[i].details);
	}
	s->n = 0;
}

/* A replay over a fresh memory index and watch set, for one test. */
struct fx {
	struct kta_replay_memindex *mi;
	struct kta_replay_watchset *ws;
	struct kta_replay *r;
	struct sink sink;
	uint64_t next_leaf;
};

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kta_replay_config cfg;

	assert_non_null(f);
	assert_int_equal(kta_replay_memindex_new(0, &f->mi, NULL), KTA_OK);
	assert_int_equal(kta_replay_watchset_new(&f->ws, NULL), KTA_OK);
	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = "example.com/dir";
	cfg.now = 1764143000;
	cfg.size = 1000;
	cfg.index = kta_replay_memindex_ops(f->mi);
	cfg.watches = kta_replay_watchset_ops(f->ws);
	cfg.emit = rec_emit;
	cfg.emit_ctx = &f->sink;
	assert_int_equal(kta_replay_new(&cfg, &f->r, NULL), KTA_OK);
	return f;
}

static void fx_free(struct fx *f)
{
	kta_replay_free(f->r);
	kta_replay_memindex_free(f->mi);
	kta_replay_watchset_free(f->ws);
	sink_clear(&f->sink);
	free(f);
}

/* Feeds one entry (freed) at the next leaf; returns the number of new findings. */
static size_t feed(struct fx *f, struct blob b)
{
	uint8_t *e = b.p;
	size_t len = b.n;
	size_t before = f->sink.n;
	struct kta_error err;

	kta_error_clear(&err);
	if (kta_replay_entry(f->r, f->next_leaf++, e, len, NULL, &err) != KTA_OK)
		fail_msg("replay failed: %s", err.msg);
	free(e);
	return f->sink.n - before;
}

static const struct found *last(const struct fx *f)
{
	assert_true(f->sink.n > 0);
	return &f->sink.items[f->sink.n - 1];
}

static const char *detail_str(const struct found *x, const char *key)
{
	json_t *v = json_object_get(x->details, key);

	assert_non_null(v);
	return json_string_value(v);
}

static json_int_t detail_int(const struct found *x, const char *key)
{
	json_t *v = json_object_get(x->details, key);

	assert_non_null(v);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* ---- honest sequences ---------------------------------------------------- */

static void honest_simple(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, k12[] = {1, 2}, k2[] = {2}, s1[] = {1}, s2[] = {2};
	struct kta_label_state ls;
	struct kta_replay_stats stats;

	(void)state;
	assert_int_equal(feed(f, mk_entry("alice", 1, k1, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry("bob", 1, k2, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry("alice", 2, k12, 2, s1, 1)), 0);
	assert_int_equal(feed(f, mk_entry("alice", 3, k2, 1, s2, 1)), 0);
	/* deleted, authorized by the owner: no finding */
	assert_int_equal(feed(f, mk_entry("bob", 2, NULL, 0, s2, 1)), 0);
	assert_int_equal(kta_replay_memindex_count(f->mi), 2);
	assert_true(kta_replay_memindex_lookup(f->mi, "alice", &ls));
	assert_int_equal(ls.version, 3);
	assert_int_equal(ls.leaf_index, 3);
	assert_int_equal(ls.nkeys, 1);
	assert_memory_equal(ls.keys[0].pub, pubs[2], 32);
	assert_string_equal(ls.keys[0].device, "d2");
	assert_null(ls.entry); /* keep_entries = 0 */
	assert_true(kta_replay_memindex_lookup(f->mi, "bob", &ls));
	assert_int_equal(ls.nkeys, 0);
	assert_false(kta_replay_memindex_lookup(f->mi, "carol", &ls));
	kta_replay_get_stats(f->r, &stats);
	assert_int_equal(stats.entries, 5);
	assert_int_equal(stats.findings, 0);
	assert_int_equal(stats.new_labels, 2);
	fx_free(f);
}

/*
 * A random honest history: nlabels labels, updates in random order, each
 * update signed by a random ed25519 key of the previous version, key sets
 * changing randomly. Entries are appended to *out (malloc'd array).
 */
struct hentry {
	uint8_t *bytes;
	size_t len;
};

static void hentries_free(struct hentry *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(h[i].bytes);
	free(h);
}

static size_t honest_history(uint64_t *rng, size_t nlabels, size_t nupdates, struct hentry **out)
{
	uint64_t *ver = calloc(nlabels, sizeof(*ver));
	int(*keys)[4] = calloc(nlabels, sizeof(*keys));
	size_t *nk = calloc(nlabels, sizeof(*nk));
	struct hentry *h = calloc(nupdates, sizeof(*h));
	size_t i;

	assert_non_null(ver);
	assert_non_null(keys);
	assert_non_null(nk);
	assert_non_null(h);
	for (i = 0; i < nupdates; i++) {
		size_t l = (size_t)(tu_rand(rng) % nlabels), j, n;
		char label[48];
		int newk[4], signer[1];
		size_t ns = 0;

		snprintf(label, sizeof(label), "user%zu@example.org", l);
		n = 1 + (size_t)(tu_rand(rng) % 3);
		/* distinct keys: a random base and stride */
		newk[0] = (int)(tu_rand(rng) % (NKEYS - 3));
		for (j = 1; j < n; j++)
			newk[j] = newk[0] + (int)j;
		if (ver[l] > 0) {
			signer[0] = keys[l][tu_rand(rng) % nk[l]];
			ns = 1;
		}
		ver[l]++;
		{
			struct blob b = mk_entry(label, ver[l], newk, n, signer, ns);

			h[i].bytes = b.p;
			h[i].len = b.n;
		}
		memcpy(keys[l], newk, sizeof(newk));
		nk[l] = n;
	}
	free(ver);
	free(keys);
	free(nk);
	*out = h;
	return nupdates;
}

static void honest_random_histories(void **state)
{
	uint64_t rng = 0x1234567890abcdefULL;
	int round;

	(void)state;
	for (round = 0; round < 5; round++) {
		struct fx *f = fx_new();
		struct hentry *h = NULL;
		size_t n = honest_history(&rng, 40, 400, &h), i;
		struct kta_replay_watch w;

		/* a tofu watch approves the first set and then alerts on changes */
		assert_int_equal(kta_replay_watchset_tofu(f->ws, "user1@example.org", NULL),
				 KTA_OK);
		for (i = 0; i < n; i++) {
			struct kta_error err;

			if (kta_replay_entry(f->r, i, h[i].bytes, h[i].len, NULL, &err) != KTA_OK)
				fail_msg("%s", err.msg);
			free(h[i].bytes);
		}
		free(h);
		for (i = 0; i < f->sink.n; i++) {
			assert_int_equal(f->sink.items[i].kind, KTA_ALERT_KEY_CHANGED);
			assert_string_equal(f->sink.items[i].label, "user1@example.org");
			assert_true(
			    json_is_true(json_object_get(f->sink.items[i].details, "authorized")));
		}
		kta_replay_watchset_lookup(f->ws, "user1@example.org", &w);
		assert_true(w.watched);
		assert_true(w.has_approved);
		assert_int_equal(w.approved_version, 1);
		fx_free(f);
	}
}

/* ---- each finding --------------------------------------------------------- */

static void malformed_entry(void **state)
{
	struct fx *f = fx_new();
	uint8_t *bad = (uint8_t *)strdup("keydir/v1\nlabel alice\nversion 01\ntime 1\n");
	int k1[] = {1};
	const struct found *x;

	(void)state;
	assert_int_equal(feed(f, (struct blob){bad, strlen((char *)bad)}), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_MALFORMED_ENTRY);
	assert_null(x->label);
	assert_int_equal(x->leaf_index, 0);
	assert_non_null(strstr(detail_str(x, "error"), "line 3"));
	assert_int_equal(kta_replay_memindex_count(f->mi), 0);
	/* an empty entry is malformed too, and the replay goes on */
	assert_int_equal(feed(f, (struct blob){(uint8_t *)calloc(1, 1), 0}), 1);
	assert_int_equal(last(f)->kind, KTA_ALERT_MALFORMED_ENTRY);
	assert_int_equal(feed(f, mk_entry("alice", 1, k1, 1, NULL, 0)), 0);
	fx_free(f);
}

static void first_version_not_one(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, s1[] = {1};
	const struct found *x;

	(void)state;
	/* version 2 with no version 1: a gap; prev unknown so no unauthorized */
	assert_int_equal(feed(f, mk_entry("alice", 2, k1, 1, s1, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_VERSION_SKIP);
	assert_string_equal(x->label, "alice");
	assert_int_equal(x->version, 2);
	assert_string_equal(detail_str(x, "problem"), "gap");
	assert_int_equal(detail_int(x, "previous_version"), 0);
	/* the state follows the log: version 3 signed by key 1 is now fine */
	assert_int_equal(feed(f, mk_entry("alice", 3, k1, 1, s1, 1)), 0);
	fx_free(f);
}

static void gap_regression_repeat(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, s1[] = {1};
	struct blob v1;
	const struct found *x;

	(void)state;
	v1 = mk_entry("alice", 1, k1, 1, NULL, 0);
	assert_int_equal(feed(f, mk_entry("alice", 1, k1, 1, NULL, 0)), 0);
	/* gap: 1 -> 3 (authorized by key 1 of the last version seen) */
	assert_int_equal(feed(f, mk_entry("alice", 3, k1, 1, s1, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_VERSION_SKIP);
	assert_string_equal(detail_str(x, "problem"), "gap");
	assert_int_equal(detail_int(x, "previous_version"), 1);
	assert_int_equal(detail_int(x, "previous_leaf_index"), 0);
	assert_int_equal(x->leaf_index, 1);
	/* regression: 3 -> 2 */
	assert_int_equal(feed(f, mk_entry("alice", 2, k1, 1, s1, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_VERSION_SKIP);
	assert_string_equal(detail_str(x, "problem"), "regression");
	assert_int_equal(detail_int(x, "previous_version"), 3);
	assert_int_equal(x->version, 2);
	/* 2 -> 3 again is in order relative to the latest entry */
	assert_int_equal(feed(f, mk_entry("alice", 3, k1, 1, s1, 1)), 0);
	/* regression all the way to the same bytes of version 1: regression, not repeat */
	assert_int_equal(feed(f, v1), 1);
	assert_string_equal(detail_str(last(f), "problem"), "regression");
	/* the same bytes again: repeat */
	assert_int_equal(feed(f, mk_entry("alice", 1, k1, 1, NULL, 0)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_VERSION_SKIP);
	assert_string_equal(detail_str(x, "problem"), "repeat");
	fx_free(f);
}

static void equivocation(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, k2[] = {2};
	const struct found *x;

	(void)state;
	assert_int_equal(feed(f, mk_entry("alice", 1, k1, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry("alice", 1, k2, 1, NULL, 0)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_VERSION_EQUIVOCATION);
	assert_string_equal(x->label, "alice");
	assert_int_equal(x->version, 1);
	assert_int_equal(x->leaf_index, 1);
	assert_int_equal(detail_int(x, "previous_leaf_index"), 0);
	assert_int_equal(strlen(detail_str(x, "entry_hash")), 44);
	assert_string_not_equal(detail_str(x, "entry_hash"), detail_str(x, "previous_entry_hash"));
	fx_free(f);
}

static void unauthorized(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, k2[] = {2}, k13[] = {1, 3}, s2[] = {2}, s3[] = {3}, s1[] = {1};
	const struct found *x;

	(void)state;
	assert_int_equal(feed(f, mk_entry("alice", 1, k1, 1, NULL, 0)), 0);
	/* no auth line at all */
	assert_int_equal(feed(f, mk_entry("alice", 2, k2, 1, NULL, 0)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_UNAUTHORIZED_UPDATE);
	assert_int_equal(x->version, 2);
	assert_int_equal(detail_int(x, "previous_version"), 1);
	assert_int_equal(json_array_size(json_object_get(x->details, "signers")), 0);
	/* signed by its own new key only (key 2 is version 2's; this is v3 with key 3) */
	assert_int_equal(feed(f, mk_entry("alice", 3, k13, 2, s3, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_UNAUTHORIZED_UPDATE);
	assert_int_equal(json_array_size(json_object_get(x->details, "signers")), 1);
	/* owner-signed: fine */
	assert_int_equal(feed(f, mk_entry("alice", 4, k1, 1, s1, 1)), 0);
	/* a deleted label re-created: the empty previous set authorizes nothing */
	assert_int_equal(feed(f, mk_entry("alice", 5, NULL, 0, s1, 1)), 0);
	assert_int_equal(feed(f, mk_entry("alice", 6, k2, 1, s2, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_UNAUTHORIZED_UPDATE);
	assert_true(json_is_true(json_object_get(x->details, "previous_deleted")));
	fx_free(f);
}

/* Flips a bit in the first auth signature of entry e. */
static void break_first_sig(uint8_t *e, size_t len)
{
	char *p = strstr((char *)e, "\nauth ed25519 ");
	char *sig;

	assert_non_null(p);
	sig = strchr(p + 14, ' ');
	assert_non_null(sig);
	assert_true((size_t)(sig - (char *)e) + 10 < len);
	/* change a base64 character in the middle of the signature */
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
}

static void bad_auth_signature(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, k12[] = {1, 2}, s1[] = {1}, s12[] = {1, 2};
	struct blob e;
	const struct found *x;

	(void)state;
	assert_int_equal(feed(f, mk_entry("alice", 1, k12, 2, NULL, 0)), 0);
	/* the owner's only signature is broken: bad signature AND unauthorized */
	e = mk_entry("alice", 2, k12, 2, s1, 1);
	break_first_sig(e.p, e.n);
	assert_int_equal(feed(f, e), 2);
	assert_int_equal(f->sink.items[f->sink.n - 2].kind, KTA_ALERT_BAD_AUTH_SIGNATURE);
	assert_int_equal(detail_int(&f->sink.items[f->sink.n - 2], "line"), 7);
	assert_int_equal(last(f)->kind, KTA_ALERT_UNAUTHORIZED_UPDATE);
	/* two owner signatures, one broken: only the bad signature */
	e = mk_entry("alice", 3, k12, 2, s12, 2);
	break_first_sig(e.p, e.n);
	assert_int_equal(feed(f, e), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_BAD_AUTH_SIGNATURE);
	assert_int_equal(detail_int(x, "bad_signatures"), 1);
	/* a bad signature on a version 1 (no authorization needed) still counts */
	e = mk_entry("bob", 1, k1, 1, s1, 1);
	break_first_sig(e.p, e.n);
	assert_int_equal(feed(f, e), 1);
	assert_int_equal(last(f)->kind, KTA_ALERT_BAD_AUTH_SIGNATURE);
	fx_free(f);
}

static void pin(struct fx *f, const char *label, const int *ids, const char *const *devs, size_t n)
{
	struct kta_entry_key keys[8];
	char devbuf[8][16];

	assert_true(n <= 8);
	fill_keys(keys, devbuf, ids, devs, n);
	assert_int_equal(kta_replay_keys_canonicalize(keys, n, NULL), KTA_OK);
	assert_int_equal(kta_replay_watchset_pin(f->ws, label, keys, n, NULL), KTA_OK);
}

static void key_changed_pinned(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, k12[] = {1, 2}, s1[] = {1}, k3[] = {3};
	const char *phone[] = {"phone"}, *phone2[] = {"phone"};
	const struct found *x;
	json_t *added, *it;
	char b64[45];

	(void)state;
	pin(f, "alice", k1, NULL, 1);
	assert_int_equal(feed(f, mk_entry("alice", 1, k1, 1, NULL, 0)), 0);
	/* ghost device (A2): key 2 added, signed by the owner */
	assert_int_equal(feed(f, mk_entry("alice", 2, k12, 2, s1, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_KEY_CHANGED);
	assert_int_equal(x->version, 2);
	assert_int_equal(x->leaf_index, 1);
	added = json_object_get(x->details, "added");
	assert_int_equal(json_array_size(added), 1);
	it = json_array_get(added, 0);
	kta_b64_encode(pubs[2], 32, b64);
	assert_string_equal(json_string_value(json_object_get(it, "key")), b64);
	assert_string_equal(json_string_value(json_object_get(it, "alg")), "ed25519");
	assert_string_equal(json_string_value(json_object_get(it, "device")), "d2");
	assert_int_equal(json_array_size(json_object_get(x->details, "removed")), 0);
	assert_int_equal(json_array_size(json_object_get(x->details, "replaced")), 0);
	assert_true(json_is_true(json_object_get(x->details, "authorized")));
	assert_string_equal(detail_str(x, "baseline"), "pinned");
	assert_null(json_object_get(x->details, "approved_version"));
	/* unwatched labels never get key_changed */
	assert_int_equal(feed(f, mk_entry("bob", 1, k1, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry("bob", 2, k3, 1, s1, 1)), 0);

	/* silent swap (A1) on a device: replaced, and unauthorized */
	pin(f, "carol", k1, phone, 1);
	assert_int_equal(feed(f, mk_entry_dev("carol", 1, k1, phone, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry_dev("carol", 2, k3, phone2, 1, NULL, 0)), 2);
	assert_int_equal(f->sink.items[f->sink.n - 2].kind, KTA_ALERT_UNAUTHORIZED_UPDATE);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_KEY_CHANGED);
	assert_int_equal(json_array_size(json_object_get(x->details, "replaced")), 1);
	assert_int_equal(json_array_size(json_object_get(x->details, "added")), 0);
	assert_int_equal(json_array_size(json_object_get(x->details, "removed")), 0);
	it = json_array_get(json_object_get(x->details, "replaced"), 0);
	assert_string_equal(json_string_value(json_object_get(it, "device")), "phone");
	kta_b64_encode(pubs[1], 32, b64);
	assert_string_equal(json_string_value(json_object_get(it, "old")), b64);
	kta_b64_encode(pubs[3], 32, b64);
	assert_string_equal(json_string_value(json_object_get(it, "new")), b64);
	assert_true(json_is_false(json_object_get(x->details, "authorized")));
	/* every later version that still differs from the pin is reported */
	assert_int_equal(feed(f, mk_entry_dev("carol", 3, k3, phone2, 1, k3, 1)), 1);
	assert_int_equal(last(f)->kind, KTA_ALERT_KEY_CHANGED);
	assert_int_equal(last(f)->version, 3);
	/* a version back at the pin is not */
	assert_int_equal(feed(f, mk_entry_dev("carol", 4, k1, phone, 1, k3, 1)), 0);
	/* removal */
	assert_int_equal(feed(f, mk_entry_dev("carol", 5, NULL, NULL, 0, s1, 1)), 1);
	x = last(f);
	assert_int_equal(json_array_size(json_object_get(x->details, "removed")), 1);
	fx_free(f);
}

static void key_changed_tofu(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, k12[] = {1, 2}, s1[] = {1}, k2[] = {2};
	const char *d_a[] = {"a"}, *d_b[] = {"b"};
	const struct found *x;
	struct kta_replay_watch w;

	(void)state;
	assert_int_equal(kta_replay_watchset_tofu(f->ws, "alice", NULL), KTA_OK);
	kta_replay_watchset_lookup(f->ws, "alice", &w);
	assert_true(w.watched);
	assert_false(w.has_approved);
	/* first key set seen: approved, no alert */
	assert_int_equal(feed(f, mk_entry("alice", 1, k1, 1, NULL, 0)), 0);
	kta_replay_watchset_lookup(f->ws, "alice", &w);
	assert_true(w.has_approved);
	assert_int_equal(w.approved_version, 1);
	assert_int_equal(w.nkeys, 1);
	assert_int_equal(w.mode, KTA_WATCH_TOFU);
	assert_int_equal(feed(f, mk_entry("alice", 2, k12, 2, s1, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_KEY_CHANGED);
	assert_string_equal(detail_str(x, "baseline"), "approved");
	assert_int_equal(detail_int(x, "approved_version"), 1);
	/* a device rename of the same key is not a key change */
	assert_int_equal(kta_replay_watchset_tofu(f->ws, "bob", NULL), KTA_OK);
	assert_int_equal(feed(f, mk_entry_dev("bob", 1, k2, d_a, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry_dev("bob", 2, k2, d_b, 1, k2, 1)), 0);
	fx_free(f);
}

/* One key pubs[id] of alg, device "phone", signed by key signer (-1: none). */
static struct blob mk_entry_alg(const char *label, uint64_t version, enum kta_entry_alg alg, int id,
				int signer)
{
	struct kta_entry_key key;

	key.alg = alg;
	memcpy(key.pub, pubs[id], 32);
	key.device = (char *)(uintptr_t) "phone";
	return mk_entry_keys(label, version, &key, 1, &signer, signer >= 0 ? 1 : 0);
}

/*
 * A key is all of its 32 bytes and its algorithm. A key that shares all but
 * the last bit with the pinned one is a swap (A1), one that shares all but
 * the last bit with the owner's does not authorize an update (A11), and the
 * same bytes under another algorithm are another key: a compare of fewer
 * bytes would let a provider grind a look-alike key past the audit.
 */
static void near_twin_keys(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, kt[] = {TWIN}, s1[] = {1};
	const char *phone[] = {"phone"};
	const struct found *x;
	json_t *it;
	char b64[45];

	(void)state;
	assert_memory_not_equal(pubs[TWIN], pubs[1], 32);
	assert_memory_equal(pubs[TWIN], pubs[1], 31);
	/* A1: the pinned key 1 replaced by its twin, signed by key 1 */
	pin(f, "alice", k1, phone, 1);
	assert_int_equal(feed(f, mk_entry_dev("alice", 1, k1, phone, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry_dev("alice", 2, kt, phone, 1, s1, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_KEY_CHANGED);
	assert_int_equal(json_array_size(json_object_get(x->details, "replaced")), 1);
	it = json_array_get(json_object_get(x->details, "replaced"), 0);
	kta_b64_encode(pubs[TWIN], 32, b64);
	assert_string_equal(json_string_value(json_object_get(it, "new")), b64);
	assert_true(json_is_true(json_object_get(x->details, "authorized")));

	/* A11: bob's version 1 holds the twin; version 2 is signed by key 1,
	 * which is not his key */
	assert_int_equal(feed(f, mk_entry("bob", 1, kt, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry("bob", 2, k1, 1, s1, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_UNAUTHORIZED_UPDATE);
	assert_int_equal(json_array_size(json_object_get(x->details, "signers")), 1);
	/* the control: carol's version 1 holds key 1 itself, and key 1 signs */
	assert_int_equal(feed(f, mk_entry("carol", 1, k1, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry("carol", 2, kt, 1, s1, 1)), 0);

	/* the same 32 bytes as an x25519 key instead of ed25519: a change */
	pin(f, "dave", k1, phone, 1);
	assert_int_equal(feed(f, mk_entry_alg("dave", 1, KTA_ENTRY_ALG_ED25519, 1, -1)), 0);
	assert_int_equal(feed(f, mk_entry_alg("dave", 2, KTA_ENTRY_ALG_X25519, 1, 1)), 1);
	x = last(f);
	assert_int_equal(x->kind, KTA_ALERT_KEY_CHANGED);
	/* (alg, device) pairs a replacement, so this is one added, one removed */
	assert_int_equal(json_array_size(json_object_get(x->details, "added")), 1);
	assert_int_equal(json_array_size(json_object_get(x->details, "removed")), 1);
	it = json_array_get(json_object_get(x->details, "added"), 0);
	assert_string_equal(json_string_value(json_object_get(it, "alg")), "x25519");
	it = json_array_get(json_object_get(x->details, "removed"), 0);
	assert_string_equal(json_string_value(json_object_get(it, "alg")), "ed25519");
	/* back to the pinned key: no key change; but version 2's only key is
	 * an x25519 one, which cannot authorize, so key 1's signature does not
	 * (the same bytes as ed25519 are not the owner's key) */
	assert_int_equal(feed(f, mk_entry_alg("dave", 3, KTA_ENTRY_ALG_ED25519, 1, 1)), 1);
	assert_int_equal(last(f)->kind, KTA_ALERT_UNAUTHORIZED_UPDATE);
	fx_free(f);
}

/*
 * An index that answers with the memory index, except that the leaf hash it
 * returns for a label's latest entry is `hash` when `fake` is set: a stored
 * entry whose hash differs from the next one's in a chosen byte.
 */
struct hash_ix {
	struct kta_replay_index in;
	int fake;
	uint8_t hash[32];
};

static enum kta_status hx_get(void *ctx, const char *label, int *found, struct kta_label_state *out,
			      struct kta_error *err)
{
	struct hash_ix *h = ctx;
	enum kta_status r = h->in.get(h->in.ctx, label, found, out, err);

	if (r == KTA_OK && *found && h->fake)
		memcpy(out->entry_hash, h->hash, 32);
	return r;
}

static enum kta_status hx_put(void *ctx, const struct kta_label_state *st,
			      enum kta_auth_result auth, struct kta_error *err)
{
	struct hash_ix *h = ctx;

	return h->in.put(h->in.ctx, st, auth, err);
}

/*
 * A8: an entry with its label's current version is a repeat only when its
 * leaf hash equals the stored one in all 32 bytes. For each byte position,
 * a stored hash that differs from the new entry's in that byte alone must
 * make an equivocation (a provider can grind an entry whose hash shares a
 * prefix with another's).
 */
static void equivocation_every_hash_byte(void **state)
{
	struct kta_replay_memindex *mi = NULL;
	struct kta_replay *r = NULL;
	struct kta_replay_config cfg;
	struct kta_hasher *hs = NULL;
	struct hash_ix hx;
	struct sink *sk = calloc(1, sizeof(*sk));
	int k1[] = {1};
	struct blob v1 = mk_entry("alice", 1, k1, 1, NULL, 0);
	uint8_t lh[32];
	uint64_t leaf = 0;
	int pos;

	(void)state;
	assert_non_null(sk);
	assert_int_equal(kta_hasher_new(&hs, NULL), KTA_OK);
	kta_hash_leaf(hs, v1.p, v1.n, lh);
	assert_int_equal(kta_replay_memindex_new(0, &mi, NULL), KTA_OK);
	memset(&hx, 0, sizeof(hx));
	hx.in = kta_replay_memindex_ops(mi);
	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = "example.com/dir";
	cfg.now = 1764143000;
	cfg.size = 1000;
	cfg.index.ctx = &hx;
	cfg.index.get = hx_get;
	cfg.index.put = hx_put;
	cfg.emit = rec_emit;
	cfg.emit_ctx = sk;
	assert_int_equal(kta_replay_new(&cfg, &r, NULL), KTA_OK);
	assert_int_equal(kta_replay_entry(r, leaf++, v1.p, v1.n, NULL, NULL), KTA_OK);
	assert_int_equal(sk->n, 0);
	/* the same bytes, the true hash: a repeat */
	assert_int_equal(kta_replay_entry(r, leaf++, v1.p, v1.n, NULL, NULL), KTA_OK);
	assert_int_equal(sk->n, 1);
	assert_int_equal(sk->items[0].kind, KTA_ALERT_VERSION_SKIP);
	assert_string_equal(detail_str(&sk->items[0], "problem"), "repeat");
	hx.fake = 1;
	for (pos = 0; pos < 32; pos++) {
		size_t before = sk->n;

		memcpy(hx.hash, lh, 32);
		hx.hash[pos] ^= 0x80;
		assert_int_equal(kta_replay_entry(r, leaf++, v1.p, v1.n, NULL, NULL), KTA_OK);
		if (sk->n != before + 1 || sk->items[before].kind != KTA_ALERT_VERSION_EQUIVOCATION)
			fail_msg("stored hash differing in byte %d: not an equivocation", pos);
	}
	kta_replay_free(r);
	kta_replay_memindex_free(mi);
	kta_hasher_free(hs);
	free(v1.p);
	sink_clear(sk);
	free(sk);
}

/* ---- API contracts -------------------------------------------------------- */

static void leaf_order_and_usage(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1};
	struct blob b = mk_entry("alice", 1, k1, 1, NULL, 0);
	uint8_t *e = b.p, lh[32];
	size_t len = b.n;
	struct kta_error err;
	struct kta_replay *r2 = NULL;
	struct kta_replay_config cfg;
	struct kta_hasher *h = NULL;

	(void)state;
	assert_int_equal(kta_replay_entry(f->r, 5, e, len, NULL, NULL), KTA_OK);
	assert_int_equal(kta_replay_entry(f->r, 5, e, len, NULL, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "does not follow"));
	assert_int_equal(kta_replay_entry(f->r, 4, e, len, NULL, NULL), KTA_ERR_USAGE);
	assert_int_equal(kta_replay_entry(f->r, 6, NULL, 3, NULL, NULL), KTA_ERR_USAGE);
	/* a given leaf hash is used as is: a repeat is told apart by it */
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	kta_hash_leaf(h, e, len, lh);
	assert_int_equal(kta_replay_entry(f->r, 6, e, len, lh, NULL), KTA_OK);
	assert_int_equal(last(f)->kind, KTA_ALERT_VERSION_SKIP);
	kta_hasher_free(h);
	free(e);

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(kta_replay_new(&cfg, &r2, &err), KTA_ERR_USAGE);
	assert_null(r2);
	cfg.origin = "o";
	cfg.index = kta_replay_memindex_ops(f->mi);
	assert_int_equal(kta_replay_new(&cfg, &r2, &err), KTA_ERR_USAGE); /* no emit */
	kta_replay_free(NULL);
	kta_replay_memindex_free(NULL);
	kta_replay_watchset_free(NULL);
	fx_free(f);
}

static void emit_failure_aborts(void **state)
{
	struct fx *f = fx_new();
	int k1[] = {1}, k2[] = {2};
	struct blob e;
	struct kta_error err;
	struct kta_label_state ls;

	(void)state;
	f->sink.fail_after = 1;
	e = mk_entry("alice", 1, k1, 1, NULL, 0);
	assert_int_equal(kta_replay_entry(f->r, 0, e.p, e.n, NULL, NULL), KTA_OK);
	free(e.p);
	e = mk_entry("alice", 2, k2, 1, NULL, 0); /* unauthorized: first emit ok */
	assert_int_equal(kta_replay_entry(f->r, 1, e.p, e.n, NULL, NULL), KTA_OK);
	free(e.p);
	e = mk_entry("alice", 4, k2, 1, NULL, 0); /* gap: emit refused */
	assert_int_equal(kta_replay_entry(f->r, 2, e.p, e.n, NULL, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "refuses"));
	free(e.p);
	/* the failed entry changed no state */
	assert_true(kta_replay_memindex_lookup(f->mi, "alice", &ls));
	assert_int_equal(ls.version, 2);
	fx_free(f);
}

static void memindex_many_labels(void **state)
{
	struct kta_replay_memindex *m = NULL;
	struct kta_replay_index ix;
	struct kta_label_state st, got;
	struct kta_entry_key k;
	char label[32], dev[8] = "dev";
	uint8_t entry[8] = "entry!!";
	size_t i;
	int found;

	(void)state;
	assert_int_equal(kta_replay_memindex_new(1, &m, NULL), KTA_OK);
	ix = kta_replay_memindex_ops(m);
	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_X25519;
	k.device = dev;
	for (i = 0; i < 5000; i++) {
		memset(&st, 0, sizeof(st));
		snprintf(label, sizeof(label), "label-%zu", i);
		st.label = label;
		st.version = i + 1;
		st.leaf_index = i;
		st.entry_hash[0] = (uint8_t)i;
		memset(k.pub, (int)i, 32);
		st.keys = &k;
		st.nkeys = i % 2;
		st.entry = entry;
		st.entry_len = sizeof(entry);
		assert_int_equal(ix.put(ix.ctx, &st, KTA_AUTH_FIRST_VERSION, NULL), KTA_OK);
	}
	assert_int_equal(kta_replay_memindex_count(m), 5000);
	for (i = 0; i < 5000; i += 7) {
		snprintf(label, sizeof(label), "label-%zu", i);
		assert_int_equal(ix.get(ix.ctx, label, &found, &got, NULL), KTA_OK);
		assert_true(found);
		assert_string_equal(got.label, label);
		assert_int_equal(got.version, i + 1);
		assert_int_equal(got.nkeys, i % 2);
		assert_int_equal(got.entry_len, sizeof(entry));
		if (i % 2) {
			assert_int_equal(got.keys[0].pub[5], (uint8_t)i);
			assert_string_equal(got.keys[0].device, "dev");
		}
	}
	/* update in place with a bigger key set */
	{
		struct kta_entry_key two[2];

		two[0] = k;
		two[1] = k;
		two[1].alg = KTA_ENTRY_ALG_ED25519;
		st.label = "label-0";
		st.keys = two;
		st.nkeys = 2;
		assert_int_equal(ix.put(ix.ctx, &st, KTA_AUTH_OWNER, NULL), KTA_OK);
		assert_true(kta_replay_memindex_lookup(m, "label-0", &got));
		assert_int_equal(got.nkeys, 2);
		assert_int_equal(kta_replay_memindex_count(m), 5000);
	}
	assert_int_equal(ix.get(ix.ctx, "nope", &found, &got, NULL), KTA_OK);
	assert_false(found);
	kta_replay_memindex_free(m);
}

static enum kta_status count_cb(void *ctx, const struct kta_label_state *st, struct kta_error *err)
{
	size_t *n = ctx;

	(void)err;
	assert_non_null(st->label);
	if (++*n == 3 && strcmp(st->label, "stop") == 0)
		return KTA_ERR_IO;
	return KTA_OK;
}

static void memindex_foreach(void **state)
{
	struct fx *f = fx_new();
	size_t n = 0;
	int k1[] = {1};

	(void)state;
	assert_int_equal(feed(f, mk_entry("a", 1, k1, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry("b", 1, k1, 1, NULL, 0)), 0);
	assert_int_equal(feed(f, mk_entry("c", 1, k1, 1, NULL, 0)), 0);
	assert_int_equal(kta_replay_memindex_foreach(f->mi, count_cb, &n, NULL), KTA_OK);
	assert_int_equal(n, 3);
	fx_free(f);
}

static void key_specs(void **state)
{
	struct kta_entry_key k[3];
	char spec[200], b64[45];
	struct kta_error err;

	(void)state;
	kta_b64_encode(pubs[1], 32, b64);
	snprintf(spec, sizeof(spec), "ed25519:%s:phone", b64);
	assert_int_equal(kta_replay_key_parse(spec, &k[0], NULL), KTA_OK);
	assert_int_equal(k[0].alg, KTA_ENTRY_ALG_ED25519);
	assert_memory_equal(k[0].pub, pubs[1], 32);
	assert_string_equal(k[0].device, "phone");
	snprintf(spec, sizeof(spec), "x25519:%s:phone", b64);
	assert_int_equal(kta_replay_key_parse(spec, &k[1], NULL), KTA_OK);
	kta_b64_encode(pubs[0], 32, b64);
	snprintf(spec, sizeof(spec), "ed25519:%s:laptop", b64);
	assert_int_equal(kta_replay_key_parse(spec, &k[2], NULL), KTA_OK);
	assert_int_equal(kta_replay_keys_canonicalize(k, 3, NULL), KTA_OK);
	assert_int_equal(k[2].alg, KTA_ENTRY_ALG_X25519); /* ed25519 sorts first */
	assert_true(memcmp(k[0].pub, k[1].pub, 32) < 0);
	/* two ed25519 keys on one device */
	free(k[1].device);
	k[1].device = strdup("phone");
	k[1].device[0] = 'p';
	free(k[0].device);
	k[0].device = strdup("phone");
	assert_int_equal(kta_replay_keys_canonicalize(k, 3, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "two ed25519 keys"));
	/* duplicate key */
	memcpy(k[1].pub, k[0].pub, 32);
	assert_int_equal(kta_replay_keys_canonicalize(k, 2, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "given twice"));
	free(k[0].device);
	free(k[1].device);
	free(k[2].device);
	/* rejections */
	assert_int_equal(kta_replay_key_parse("ed25519", &k[0], &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_replay_key_parse("rsa:AAAA:x", &k[0], &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "unknown algorithm"));
	assert_int_equal(kta_replay_key_parse("ed25519:AAAA:x", &k[0], &err), KTA_ERR_MALFORMED);
	snprintf(spec, sizeof(spec), "ed25519:%s:", b64);
	assert_int_equal(kta_replay_key_parse(spec, &k[0], &err), KTA_ERR_MALFORMED);
	snprintf(spec, sizeof(spec), "ed25519:%s:a b", b64);
	assert_int_equal(kta_replay_key_parse(spec, &k[0], &err), KTA_ERR_MALFORMED);
	/* non-canonical base64: non-zero pad bits in the last character */
	memset(b64, 'A', 43);
	b64[42] = 'B';
	b64[43] = '=';
	b64[44] = '\0';
	snprintf(spec, sizeof(spec), "ed25519:%s:x", b64);
	assert_int_equal(kta_replay_key_parse(spec, &k[0], &err), KTA_ERR_MALFORMED);
	b64[42] = 'A';
	snprintf(spec, sizeof(spec), "ed25519:%s:x", b64);
	assert_int_equal(kta_replay_key_parse(spec, &k[0], &err), KTA_OK);
	free(k[0].device);
}

static void auth_names(void **state)
{
	enum kta_auth_result a;
	const enum kta_auth_result all[] = {KTA_AUTH_FIRST_VERSION, KTA_AUTH_OWNER,
					    KTA_AUTH_UNAUTHORIZED, KTA_AUTH_BAD_SIGNATURE,
					    KTA_AUTH_PREV_UNKNOWN};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_int_equal(kta_replay_auth_parse(kta_replay_auth_name(all[i]), &a), KTA_OK);
		assert_int_equal(a, all[i]);
	}
	assert_string_equal(kta_replay_auth_name(KTA_AUTH_OWNER), "owner");
	assert_int_equal(kta_replay_auth_parse("Owner", &a), KTA_ERR_MALFORMED);
}

static void watchset_rules(void **state)
{
	struct kta_replay_watchset *w = NULL;
	struct kta_replay_watch wt;
	struct kta_entry_key k[2];

	(void)state;
	assert_int_equal(kta_replay_watchset_new(&w, NULL), KTA_OK);
	memset(k, 0, sizeof(k));
	k[0].alg = KTA_ENTRY_ALG_ED25519;
	memcpy(k[0].pub, pubs[2], 32);
	k[0].device = (char *)"a";
	k[1] = k[0];
	memcpy(k[1].pub, pubs[1], 32);
	k[1].device = (char *)"b";
	/* not canonical unless pubs[2] < pubs[1] */
	if (memcmp(pubs[2], pubs[1], 32) > 0)
		assert_int_equal(kta_replay_watchset_pin(w, "x", k, 2, NULL), KTA_ERR_USAGE);
	memset(&wt, 0, sizeof(wt));
	assert_int_equal(kta_replay_watchset_put(w, "x", &wt, NULL), KTA_ERR_USAGE);
	wt.watched = 1;
	wt.mode = KTA_WATCH_TOFU;
	assert_int_equal(kta_replay_watchset_put(w, "x", &wt, NULL), KTA_OK);
	assert_int_equal(kta_replay_watchset_count(w), 1);
	kta_replay_watchset_lookup(w, "y", &wt);
	assert_false(wt.watched);
	kta_replay_watchset_free(w);
}

/*
 * The watch set's filter (src/replay.c ws_pre) answers "not watched" for
 * most labels without the map, and sends the rest to the map: with 20,000
 * watches (about a quarter of its bits set) every watched label, of
 * lengths 1 to 40, is found, and none of 400,000 others is taken for one,
 * though many pass the filter to the map; so is the empty label.
 */
static void watchset_many(void **state)
{
	struct kta_replay_watchset *w = NULL;
	struct kta_replay_watch wt;
	char label[64], other[72];
	uint64_t rng = 7, i;

	(void)state;
	assert_int_equal(kta_replay_watchset_new(&w, NULL), KTA_OK);
	/* even numbers zero-padded to 1..40 digits: every tail length of the
	 * filter's hash, each label distinct */
	for (i = 0; i < 20000; i++) {
		snprintf(label, sizeof(label), "%0*llu", (int)(1 + i % 40),
			 (unsigned long long)i * 2);
		assert_int_equal(kta_replay_watchset_tofu(w, label, NULL), KTA_OK);
	}
	assert_int_equal(kta_replay_watchset_count(w), 20000);
	for (i = 0; i < 20000; i++) {
		snprintf(label, sizeof(label), "%0*llu", (int)(1 + i % 40),
			 (unsigned long long)i * 2);
		kta_replay_watchset_lookup(w, label, &wt);
		assert_true(wt.watched);
		assert_int_equal(wt.mode, KTA_WATCH_TOFU);
	}
	for (i = 0; i < 200000; i++) {
		uint64_t x = tu_rand(&rng), j = x % 20000;

		/* odd numbers, never watched */
		snprintf(label, sizeof(label), "%0*llu", (int)(1 + x % 40),
			 (unsigned long long)(x % 1000000000 | 1));
		kta_replay_watchset_lookup(w, label, &wt);
		assert_false(wt.watched);
		/* a watched label with an "x" in front */
		snprintf(label, sizeof(label), "%0*llu", (int)(1 + j % 40),
			 (unsigned long long)j * 2);
		snprintf(other, sizeof(other), "x%s", label);
		kta_replay_watchset_lookup(w, other, &wt);
		assert_false(wt.watched);
	}
	/* the empty label: not watched, then watched */
	kta_replay_watchset_lookup(w, "", &wt);
	assert_false(wt.watched);
	assert_int_equal(kta_replay_watchset_tofu(w, "", NULL), KTA_OK);
	kta_replay_watchset_lookup(w, "", &wt);
	assert_true(wt.watched);
	kta_replay_watchset_free(w);
}

/* ---- memory vs SQLite index ------------------------------------------------ */

/* Replays entries through a replay built on ix/watches with `threads`;
 * records findings. With st, commits every `every` entries (the monitor's
 * chunked catch-up: the replay flushed first). */
static void run_replay_in(struct kta_replay_index ix, struct kta_replay_watches ws,
			  struct hentry *h, size_t n, struct sink *s, unsigned threads,
			  struct kta_state *st, size_t every)
{
	struct kta_replay_config cfg;
	struct kta_replay *r = NULL;
	struct kta_error err;
	size_t i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = "example.com/dir";
	cfg.now = 1;
	cfg.size = n;
	cfg.index = ix;
	cfg.watches = ws;
	cfg.emit = rec_emit;
	cfg.emit_ctx = s;
	cfg.threads = threads;
	assert_int_equal(kta_replay_new(&cfg, &r, NULL), KTA_OK);
	for (i = 0; i < n; i++) {
		if (kta_replay_entry(r, i, h[i].bytes, h[i].len, NULL, &err) != KTA_OK)
			fail_msg("%s", err.msg);
		if (st != NULL && every > 0 && (i + 1) % every == 0) {
			if (kta_replay_flush(r, &err) != KTA_OK)
				fail_msg("%s", err.msg);
			assert_int_equal(kta_state_commit(st, NULL), KTA_OK);
			assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
		}
	}
	if (kta_replay_flush(r, &err) != KTA_OK)
		fail_msg("%s", err.msg);
	kta_replay_free(r);
}

static void run_replay(struct kta_replay_index ix, struct kta_replay_watches ws, struct hentry *h,
		       size_t n, struct sink *s)
{
	run_replay_in(ix, ws, h, n, s, 0, NULL, 0);
}

static void memory_and_sqlite_agree(void **state)
{
	uint64_t rng = 42;
	struct hentry *h = NULL;
	size_t n = honest_history(&rng, 20, 300, &h), i, nh;
	struct sink *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct kta_replay_memindex *mi = NULL;
	struct kta_replay_watchset *ws = NULL;
	struct kta_state *st = NULL;
	struct kta_state_index *six = NULL;
	struct kta_state_watches *sw = NULL;
	char dir[] = "/tmp/kta-replay-XXXXXX";
	struct kta_state_history_item *hist = NULL;
	int k1[] = {1}, mode;
	size_t nequiv = 0, nrepeat = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	/* inject faults of every kind into the honest history */
	for (i = 0; i < n; i += 1 + (size_t)(tu_rand(&rng) % 15)) {
		uint64_t kind = tu_rand(&rng) % 5;
		char label[48];

		snprintf(label, sizeof(label), "user%zu@example.org", (size_t)(tu_rand(&rng) % 20));
		free(h[i].bytes);
		switch (kind) {
		case 0: /* malformed */
			h[i].bytes = (uint8_t *)strdup("garbage");
			h[i].len = 7;
			break;
		default: /* a version-1 entry: equivocation, regression or repeat; unsigned */
		{
			struct blob bb = mk_entry(label, kind, k1, 1, NULL, 0);

			h[i].bytes = bb.p;
			h[i].len = bb.n;
		} break;
		}
	}
	assert_int_equal(kta_replay_memindex_new(0, &mi, NULL), KTA_OK);
	assert_int_equal(kta_replay_watchset_new(&ws, NULL), KTA_OK);
	assert_int_equal(kta_replay_watchset_tofu(ws, "user3@example.org", NULL), KTA_OK);
	run_replay(kta_replay_memindex_ops(mi), kta_replay_watchset_ops(ws), h, n, a);

	assert_true(a->n > 10);
	/* the state's index: in one transaction; threaded and committed every
	 * 37 entries (the monitor's chunks); with no transaction (each get
	 * and put its own, nothing cached between them) */
	for (mode = 0; mode < 3; mode++) {
		assert_non_null(mkdtemp(strcpy(dir, "/tmp/kta-replay-XXXXXX")));
		assert_int_equal(kta_state_open(dir, &st, NULL), KTA_OK);
		assert_int_equal(kta_state_watch_add(st, "example.com/dir", "user3@example.org",
						     KTA_WATCH_TOFU, NULL, 0, 0, NULL),
				 KTA_OK);
		if (mode != 2)
			assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
		assert_int_equal(kta_state_index_new(st, "example.com/dir", &six, NULL), KTA_OK);
		assert_int_equal(kta_state_watches_new(st, "example.com/dir", &sw, NULL), KTA_OK);
		run_replay_in(kta_state_index_ops(six), kta_state_watches_ops(sw), h, n, b,
			      mode == 1 ? 2 : 0, mode == 1 ? st : NULL, 37);
		if (mode != 2)
			assert_int_equal(kta_state_commit(st, NULL), KTA_OK);

		assert_int_equal(a->n, b->n);
		nequiv = nrepeat = 0;
		for (i = 0; i < a->n; i++) {
			assert_string_equal(a->items[i].id, b->items[i].id);
			assert_int_equal(a->items[i].kind, b->items[i].kind);
			/* the state keeps no leaf hashes: an equivocation's previous
			 * one is rebuilt from its history, and must be the same */
			assert_true(json_equal(a->items[i].details, b->items[i].details));
			if (a->items[i].kind == KTA_ALERT_VERSION_EQUIVOCATION)
				nequiv++;
			if (a->items[i].kind == KTA_ALERT_VERSION_SKIP &&
			    strcmp(detail_str(&a->items[i], "problem"), "repeat") == 0)
				nrepeat++;
		}
		assert_true(nequiv > 0);
		assert_true(nrepeat > 0);
		/* the history holds every parsed entry of a label */
		assert_int_equal(
		    kta_state_history(st, "example.com/dir", "user3@example.org", &hist, &nh, NULL),
		    KTA_OK);
		assert_true(nh > 0);
		kta_state_history_free(hist, nh);
		sink_clear(b);
		kta_state_index_free(six);
		kta_state_watches_free(sw);
		kta_state_close(st);
		assert_int_equal(tu_rm_tree(dir), 0);
	}

	hentries_free(h, n);
	sink_clear(a);
	free(a);
	free(b);
	kta_replay_memindex_free(mi);
	kta_replay_watchset_free(ws);
}

static void key_alert_helper(void **state)
{
	struct kta_replay_watch w;
	struct kta_entry_key k1, k2;
	struct kta_alert *a = NULL;

	(void)state;
	memset(&k1, 0, sizeof(k1));
	k1.alg = KTA_ENTRY_ALG_ED25519;
	memcpy(k1.pub, pubs[1], 32);
	k1.device = (char *)"p";
	k2 = k1;
	memcpy(k2.pub, pubs[2], 32);
	memset(&w, 0, sizeof(w));
	w.watched = 1;
	w.has_approved = 1;
	w.mode = KTA_WATCH_PINNED;
	w.keys = &k1;
	w.nkeys = 1;
	assert_int_equal(kta_replay_key_alert("o", 1, 2, "alice", 3, 4, &k1, 1, &w, 0, &a, NULL),
			 KTA_OK);
	assert_null(a);
	assert_int_equal(kta_replay_key_alert("o", 1, 2, "alice", 3, 4, &k2, 1, &w, 1, &a, NULL),
			 KTA_OK);
	assert_non_null(a);
	assert_int_equal(a->kind, KTA_ALERT_KEY_CHANGED);
	assert_int_equal(a->severity, KTA_SEV_ALERT);
	assert_int_equal(a->leaf_index, 4);
	assert_int_equal(a->size, 2);
	assert_non_null(strstr(a->details, "\"replaced\":[{"));
	assert_non_null(strstr(a->message, "1 replaced"));
	kta_alert_free(a);
	w.has_approved = 0;
	assert_int_equal(kta_replay_key_alert("o", 1, 2, "alice", 3, 4, &k2, 1, &w, 1, &a, NULL),
			 KTA_ERR_USAGE);
}

/* ---- threaded replay (replay.h "Threads") --------------------------------- */

/* The history of pool_sizes_agree: honest updates, then good, bad and
 * missing auth lines, extra signers, malformed entries and replays. */
static size_t faulty_history(uint64_t *rng, struct hentry **out)
{
	struct hentry *h = NULL;
	size_t n = honest_history(rng, 30, 500, &h), i, m = 0;
	struct hentry *o = calloc(n + n / 10 + 1, sizeof(*o));

	assert_non_null(o);
	for (i = 0; i < n; i++) {
		struct kta_entry *e = NULL;
		uint8_t *b = h[i].bytes, *nb = NULL;
		size_t len = h[i].len, nlen = 0;

		assert_int_equal(kta_entry_parse(b, len, &e, NULL), KTA_OK);
		switch (tu_rand(rng) % 10) {
		case 0: /* missing auth lines: unauthorized (unless version 1) */
			len = e->signed_len;
			break;
		case 1: /* a bad signature: one base64 character of it changed */
			if (e->nauths > 0) {
				uint8_t *c = b + e->signed_len + 13 + 44 + 1 + 10;

				*c = *c == 'A' ? 'B' : 'A';
			}
			break;
		case 2: /* a second signer that is no key of the label */
			if (kta_entry_sign(b, len, seeds[NKEYS - 1 - (int)(tu_rand(rng) % 4)], &nb,
					   &nlen, NULL) == KTA_OK) {
				free(b);
				b = nb;
				len = nlen;
			}
			break;
		case 3: /* malformed */
			len = len / 2;
			break;
		default:
			break;
		}
		kta_entry_free(e);
		o[m].bytes = b;
		o[m++].len = len;
		if (tu_rand(rng) % 20 == 0 && i > 0) { /* an earlier entry again */
			size_t k = (size_t)(tu_rand(rng) % m);

			o[m].bytes = malloc(o[k].len + 1);
			assert_non_null(o[m].bytes);
			memcpy(o[m].bytes, o[k].bytes, o[k].len);
			o[m].len = o[k].len;
			m++;
		}
	}
	free(h);
	*out = o;
	return m;
}

/* An index with a prefetch() that records the labels announced and checks
 * that each get() comes after its label's announcement, within the
 * lookahead (replay.h), over a memindex. */
struct pf_index {
	struct kta_replay_index inner;
	char **labels; /* announced, in order */
	size_t n, cap;
	size_t gets, at_lookahead; /* gets; of them, KTA_REPLAY_LOOKAHEAD or more after */
	int threaded;              /* gets must follow announcements */
};

static void pf_announce(void *ctx, const char *label)
{
	struct pf_index *x = ctx;

	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 64;
		x->labels = realloc(x->labels, x->cap * sizeof(*x->labels));
		assert_non_null(x->labels);
	}
	x->labels[x->n] = strdup(label);
	assert_non_null(x->labels[x->n]);
	x->n++;
}

static enum kta_status pf_get(void *ctx, const char *label, int *found, struct kta_label_state *out,
			      struct kta_error *err)
{
	struct pf_index *x = ctx;
	size_t i = x->n;

	x->gets++;
	if (!x->threaded) /* a sequential replay announces nothing */
		return x->inner.get(x->inner.ctx, label, found, out, err);
	/* the latest announcement of label: before, and within the queue */
	while (i > 0 && strcmp(x->labels[i - 1], label) != 0)
		i--;
	assert_true(i > 0);
	assert_true(x->n - i < KTA_REPLAY_QUEUE);
	if (x->n - i >= KTA_REPLAY_LOOKAHEAD)
		x->at_lookahead++;
	return x->inner.get(x->inner.ctx, label, found, out, err);
}

static enum kta_status pf_put(void *ctx, const struct kta_label_state *st,
			      enum kta_auth_result auth, struct kta_error *err)
{
	struct pf_index *x = ctx;

	return x->inner.put(x->inner.ctx, st, auth, err);
}

/* One replay of h with `threads` (with a prefetching index when pf);
 * findings into s, final labels into mi. */
/* shard_n 0: every label; otherwise shard shard_k of shard_n */
static void threaded_run_shard(unsigned threads, int pf, const struct hentry *h, size_t n,
			       struct sink *s, struct kta_replay_memindex **mi,
			       struct kta_replay_stats *stats, uint32_t shard_k, uint32_t shard_n)
{
	struct pf_index px;
	struct kta_replay_config cfg;
	struct kta_replay_watchset *ws = NULL;
	struct kta_replay *r = NULL;
	struct kta_error err;
	int k1[] = {1}, k3[] = {3};
	size_t i;

	assert_int_equal(kta_replay_memindex_new(1, mi, NULL), KTA_OK);
	assert_int_equal(kta_replay_watchset_new(&ws, NULL), KTA_OK);
	assert_int_equal(kta_replay_watchset_tofu(ws, "user1@example.org", NULL), KTA_OK);
	assert_int_equal(kta_replay_watchset_tofu(ws, "user7@example.org", NULL), KTA_OK);
	{
		struct kta_entry_key pin[1];

		pin[0].alg = KTA_ENTRY_ALG_ED25519;
		memcpy(pin[0].pub, pubs[k1[0]], 32);
		pin[0].device = (char *)"d1";
		assert_int_equal(kta_replay_watchset_pin(ws, "user2@example.org", pin, 1, NULL),
				 KTA_OK);
		memcpy(pin[0].pub, pubs[k3[0]], 32);
		pin[0].device = (char *)"d3";
		assert_int_equal(kta_replay_watchset_pin(ws, "user3@example.org", pin, 1, NULL),
				 KTA_OK);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = "example.com/dir";
	cfg.now = 1764143000;
	cfg.size = n;
	cfg.index = kta_replay_memindex_ops(*mi);
	assert_null(cfg.index.prefetch);
	assert_null(cfg.index.entry_hash); /* its get fills entry_hash */
	memset(&px, 0, sizeof(px));
	if (pf) {
		px.inner = cfg.index;
		cfg.index.ctx = &px;
		cfg.index.get = pf_get;
		cfg.index.put = pf_put;
		cfg.index.prefetch = pf_announce;
		px.threaded = threads > 1;
	}
	cfg.watches = kta_replay_watchset_ops(ws);
	cfg.emit = rec_emit;
	cfg.emit_ctx = s;
	cfg.threads = threads;
	cfg.shard_k = shard_k;
	cfg.shard_n = shard_n;
	assert_int_equal(kta_replay_new(&cfg, &r, NULL), KTA_OK);
	for (i = 0; i < n; i++) {
		/* alerts carry the time and size set when their entry was fed */
		kta_replay_set_time(r, 1764143000 + (int64_t)i);
		kta_replay_set_size(r, n + i / 100);
		if (kta_replay_entry(r, 3 * i + 1, h[i].bytes, h[i].len, NULL, &err) != KTA_OK)
			fail_msg("threads %u, entry %zu: %s", threads, i, err.msg);
	}
	if (kta_replay_flush(r, &err) != KTA_OK)
		fail_msg("threads %u: flush: %s", threads, err.msg);
	assert_int_equal(kta_replay_flush(r, &err), KTA_OK); /* nothing left */
	kta_replay_get_stats(r, stats);
	assert_int_equal(stats->entries, n);
	kta_replay_free(r);
	kta_replay_watchset_free(ws);
	if (pf && threads > 1) {
		/* every parsed entry of the shard announced once, before its get,
		 * and most gets at least the lookahead later (a malformed entry
		 * is not announced; the flush runs the last ones sooner) */
		assert_true(px.n > (n - stats->skipped) / 2 && px.n <= n - stats->skipped);
		assert_int_equal(px.gets, px.n);
		/* (a shard's few labels repeat within the lookahead: not counted) */
		assert_true(shard_n > 1 || px.at_lookahead > px.gets / 2);
	} else {
		/* a sequential replay never announces, prefetching index or not */
		assert_int_equal(px.n, 0);
		if (pf)
			assert_true(px.gets > (n - stats->skipped) / 2);
	}
	for (i = 0; i < px.n; i++)
		free(px.labels[i]);
	free(px.labels);
}

static void threaded_run(unsigned threads, int pf, const struct hentry *h, size_t n, struct sink *s,
			 struct kta_replay_memindex **mi, struct kta_replay_stats *stats)
{
	threaded_run_shard(threads, pf, h, n, s, mi, stats, 0, 0);
	assert_int_equal(stats->skipped, 0);
}

static enum kta_status collect_state(void *ctx, const struct kta_label_state *st,
				     struct kta_error *err)
{
	struct kta_replay_memindex *other = ctx;
	struct kta_label_state o;
	size_t i;

	(void)err;
	assert_true(kta_replay_memindex_lookup(other, st->label, &o));
	assert_int_equal(o.version, st->version);
	assert_int_equal(o.leaf_index, st->leaf_index);
	assert_memory_equal(o.entry_hash, st->entry_hash, 32);
	assert_int_equal(o.entry_len, st->entry_len);
	assert_memory_equal(o.entry, st->entry, st->entry_len);
	assert_int_equal(o.nkeys, st->nkeys);
	for (i = 0; i < st->nkeys; i++)
		assert_memory_equal(o.keys[i].pub, st->keys[i].pub, 32);
	return KTA_OK;
}

/* The same findings, in the same order, and the same final index with pool
 * sizes 1, 2, 3 and 4 (and the default, 0), and with an index that
 * prefetches on 0 and 1 (never called) and 2 and 4 (the lookahead), over a
 * faulty history. */
static void pool_sizes_agree(void **state)
{
	static const unsigned sizes[] = {0, 2, 3, 4, 0, 1, 2, 4};
	static const int pfs[] = {0, 0, 0, 0, 1, 1, 1, 1};
	uint64_t rng = 0xfeedface;
	struct hentry *h = NULL;
	size_t n = faulty_history(&rng, &h), i, k, kinds[16] = {0};
	struct sink *base = calloc(1, sizeof(*base)), *s = calloc(1, sizeof(*s));
	struct kta_replay_memindex *mi0 = NULL, *mi = NULL;
	struct kta_replay_stats st0, st;

	(void)state;
	assert_non_null(base);
	assert_non_null(s);
	threaded_run(1, 0, h, n, base, &mi0, &st0);
	/* the history exercises every kind of finding */
	for (i = 0; i < base->n; i++)
		kinds[base->items[i].kind]++;
	assert_true(kinds[KTA_ALERT_MALFORMED_ENTRY] > 10);
	assert_true(kinds[KTA_ALERT_BAD_AUTH_SIGNATURE] > 10);
	assert_true(kinds[KTA_ALERT_UNAUTHORIZED_UPDATE] > 10);
	assert_true(kinds[KTA_ALERT_VERSION_SKIP] > 0);
	assert_true(kinds[KTA_ALERT_KEY_CHANGED] > 0);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		threaded_run(sizes[k], pfs[k], h, n, s, &mi, &st);
		assert_int_equal(s->n, base->n);
		for (i = 0; i < base->n; i++) {
			const struct found *a = &base->items[i], *b = &s->items[i];

			assert_int_equal(a->kind, b->kind);
			assert_string_equal(a->id, b->id);
			assert_int_equal(a->leaf_index, b->leaf_index);
			assert_int_equal(a->version, b->version);
			assert_int_equal(a->time, b->time);
			assert_int_equal(a->size, b->size);
			assert_true((a->label == NULL) == (b->label == NULL));
			if (a->label != NULL)
				assert_string_equal(a->label, b->label);
			assert_true(json_equal(a->details, b->details));
		}
		assert_int_equal(st.findings, st0.findings);
		assert_int_equal(st.new_labels, st0.new_labels);
		assert_int_equal(kta_replay_memindex_count(mi), kta_replay_memindex_count(mi0));
		assert_int_equal(kta_replay_memindex_foreach(mi0, collect_state, mi, NULL), KTA_OK);
		kta_replay_memindex_free(mi);
		sink_clear(s);
	}
	kta_replay_memindex_free(mi0);
	sink_clear(base);
	free(base);
	free(s);
	hentries_free(h, n);
}

/* The shard of a finding: its label's; for an entry that does not parse,
 * the label its second line names, or 0 (replay.h). threaded_run feeds
 * h[i] at leaf 3i + 1. */
static uint32_t found_shard(const struct found *a, const struct hentry *h, uint32_t n)
{
	static const char head[] = "keydir/v1\nlabel ";
	const struct hentry *e = &h[(a->leaf_index - 1) / 3];
	const char *label = a->label, *nl;
	size_t ll = label != NULL ? strlen(label) : 0;
	uint32_t k = 0;

	assert_int_equal(a->leaf_index % 3, 1);
	if (label == NULL) {
		assert_int_equal(a->kind, KTA_ALERT_MALFORMED_ENTRY);
		if (e->len <= strlen(head) || memcmp(e->bytes, head, strlen(head)) != 0 ||
		    (nl = memchr(e->bytes + strlen(head), '\n', e->len - strlen(head))) == NULL)
			return 0;
		label = (const char *)e->bytes + strlen(head);
		ll = (size_t)(nl - label);
	}
	assert_int_equal(kta_shard_of(label, ll, n, &k, NULL), KTA_OK);
	return k;
}

struct shard_ctx {
	struct kta_replay_memindex *whole;
	uint32_t k, n;
	size_t count;
};

/* Each label of a shard's index has the whole replay's state and shard. */
static enum kta_status shard_label(void *ctx, const struct kta_label_state *st,
				   struct kta_error *err)
{
	struct shard_ctx *c = ctx;
	uint32_t k = 0;

	assert_int_equal(kta_shard_of(st->label, strlen(st->label), c->n, &k, NULL), KTA_OK);
	assert_int_equal(k, c->k);
	c->count++;
	return collect_state(c->whole, st, err);
}

/* Sharded replays (replay.h shard_k/shard_n) split the work without losing
 * or adding anything: over a faulty history, shard k of N raises exactly
 * the whole replay's findings whose label is in shard k (malformed entries:
 * shard 0), in the same order and with the same ids, and indexes exactly
 * the labels of shard k with the whole replay's state; entries of other
 * shards are counted as skipped. Sequential and pooled, with and without a
 * prefetching index. */
static void shards_partition(void **state)
{
	static const uint32_t ns[] = {2, 3, 5};
	static const unsigned threads[] = {1, 2, 4};
	/* entries that do not parse: without a label line (shard 0's), and
	 * naming a label on line 2 (that label's shard's) */
	static const char *const bad[] = {
	    "garbage\n",
	    "keydir/v1\nlabel ",
	    "keydir/v1\nlabel",
	    "keydir/v1\nlabel zed@example.org\nversion one\n",
	    "keydir/v1\nlabel user3@example.org\nversion 1\ntime x\n",
	    "keydir/v2\nlabel user3@example.org\n",
	    "keydir/v1\r\nlabel user3@example.org\n",
	    "keydir/v1\nlabel user3@example.org \nversion 1\n",
	    "keydir/v1\nlabel user3@example.org x\nversion 1\n",
	    "keydir/v1\nlabel user3@example.org",
	};
	uint64_t rng = 0x5eed5a4d;
	struct hentry *h = NULL, *grown;
	size_t n = faulty_history(&rng, &h), i, j, t, in_any = 0, labels = 0, mal0 = 0, malk = 0;
	struct sink *base = calloc(1, sizeof(*base)), *s = calloc(1, sizeof(*s));
	struct kta_replay_memindex *mi0 = NULL, *mi = NULL;
	struct kta_replay_stats st0, st;
	uint32_t k;

	(void)state;
	assert_non_null(base);
	assert_non_null(s);
	grown = realloc(h, (n + sizeof(bad) / sizeof(bad[0])) * sizeof(*h));
	assert_non_null(grown);
	h = grown;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h[n].len = strlen(bad[i]);
		assert_non_null(h[n].bytes = malloc(h[n].len));
		memcpy(h[n].bytes, bad[i], h[n].len);
		n++;
	}
	threaded_run(1, 0, h, n, base, &mi0, &st0);
	for (i = 0; i < base->n; i++)
		if (base->items[i].kind == KTA_ALERT_MALFORMED_ENTRY) {
			if (found_shard(&base->items[i], h, 3) == 0)
				mal0++;
			else
				malk++;
		}
	/* both rules are exercised */
	assert_true(mal0 >= 3 && malk > 0);
	for (t = 0; t < sizeof(ns) / sizeof(ns[0]); t++) {
		uint64_t replayed = 0;
		size_t seen = 0, indexed = 0;

		for (k = 0; k < ns[t]; k++) {
			struct shard_ctx c = {mi0, k, ns[t], 0};
			unsigned th = threads[(t + k) % 3];

			threaded_run_shard(th, (int)(k % 2), h, n, s, &mi, &st, k, ns[t]);
			/* its findings: the whole replay's of shard k, in order */
			for (i = 0, j = 0; i < base->n; i++) {
				const struct found *a = &base->items[i], *b;

				if (found_shard(a, h, ns[t]) != k)
					continue;
				assert_true(j < s->n);
				b = &s->items[j++];
				assert_int_equal(a->kind, b->kind);
				assert_string_equal(a->id, b->id);
				assert_int_equal(a->leaf_index, b->leaf_index);
				assert_true(json_equal(a->details, b->details));
			}
			assert_int_equal(j, s->n);
			seen += s->n;
			assert_int_equal(st.entries, n);
			assert_true(st.skipped > 0 && st.skipped < n);
			replayed += st.entries - st.skipped;
			assert_int_equal(kta_replay_memindex_foreach(mi, shard_label, &c, NULL),
					 KTA_OK);
			assert_int_equal(c.count, kta_replay_memindex_count(mi));
			indexed += c.count;
			kta_replay_memindex_free(mi);
			sink_clear(s);
		}
		/* every entry replayed by exactly one shard, every finding and
		 * label in exactly one */
		assert_int_equal(replayed, n);
		assert_int_equal(seen, base->n);
		assert_int_equal(indexed, kta_replay_memindex_count(mi0));
		in_any += seen;
		labels += indexed;
	}
	assert_true(in_any > 0 && labels > 0);

	/* a shard out of range is the caller's error */
	{
		struct kta_replay_config cfg;
		struct kta_replay *r = NULL;
		struct kta_error err;

		memset(&cfg, 0, sizeof(cfg));
		cfg.origin = "example.com/dir";
		cfg.index = kta_replay_memindex_ops(mi0);
		cfg.emit = rec_emit;
		cfg.emit_ctx = s;
		cfg.shard_k = 4;
		cfg.shard_n = 4;
		assert_int_equal(kta_replay_new(&cfg, &r, &err), KTA_ERR_USAGE);
		assert_non_null(strstr(err.msg, "shard 4/4"));
		cfg.shard_k = 0;
		cfg.shard_n = KTA_SHARD_MAX + 1;
		assert_int_equal(kta_replay_new(&cfg, &r, &err), KTA_ERR_USAGE);
		assert_null(r);
		cfg.shard_k = 1; /* of one shard, or of none */
		cfg.shard_n = 1;
		assert_int_equal(kta_replay_new(&cfg, &r, &err), KTA_ERR_USAGE);
		cfg.shard_n = 0;
		assert_int_equal(kta_replay_new(&cfg, &r, &err), KTA_ERR_USAGE);
		assert_null(r);
	}
	kta_replay_memindex_free(mi0);
	sink_clear(base);
	free(base);
	free(s);
	hentries_free(h, n);
}

/* A failure in a threaded replay ends it: reported once with the leaf, then
 * returned by every later call; the findings before it are the sequential
 * replay's. */
static void pool_failure(void **state)
{
	uint64_t rng = 77;
	struct hentry *h = NULL;
	size_t n = faulty_history(&rng, &h), i, fed = 0;
	struct sink *base = calloc(1, sizeof(*base)), *s = calloc(1, sizeof(*s));
	struct kta_replay_memindex *mi0 = NULL, *mi = NULL;
	struct kta_replay_config cfg;
	struct kta_replay *r = NULL;
	struct kta_replay_stats st0;
	struct kta_error err;
	enum kta_status rc = KTA_OK;

	(void)state;
	assert_non_null(base);
	assert_non_null(s);
	/* the sequential replay, for reference */
	assert_int_equal(kta_replay_memindex_new(0, &mi0, NULL), KTA_OK);
	memset(&cfg, 0, sizeof(cfg));
	cfg.origin = "example.com/dir";
	cfg.now = 1764143000;
	cfg.size = n;
	cfg.index = kta_replay_memindex_ops(mi0);
	cfg.emit = rec_emit;
	cfg.emit_ctx = base;
	assert_int_equal(kta_replay_new(&cfg, &r, NULL), KTA_OK);
	for (i = 0; i < n; i++)
		assert_int_equal(kta_replay_entry(r, i, h[i].bytes, h[i].len, NULL, &err), KTA_OK);
	assert_int_equal(kta_replay_flush(r, &err), KTA_OK);
	kta_replay_get_stats(r, &st0);
	assert_int_equal(st0.entries, n);
	kta_replay_free(r);
	assert_true(base->n > 20);
	assert_int_equal(kta_replay_memindex_new(0, &mi, NULL), KTA_OK);
	cfg.index = kta_replay_memindex_ops(mi);
	cfg.emit_ctx = s;
	cfg.threads = 3;
	s->fail_after = 20;
	assert_int_equal(kta_replay_new(&cfg, &r, NULL), KTA_OK);
	for (i = 0; i < n && rc == KTA_OK; i++, fed++)
		rc = kta_replay_entry(r, i, h[i].bytes, h[i].len, NULL, &err);
	if (rc == KTA_OK)
		rc = kta_replay_flush(r, &err);
	assert_int_equal(rc, KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "replay of leaf "));
	assert_non_null(strstr(err.msg, "test sink refuses"));
	assert_int_equal(kta_replay_flush(r, &err), KTA_ERR_IO);
	assert_int_equal(kta_replay_entry(r, n + 5, h[0].bytes, h[0].len, NULL, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "test sink refuses"));
	kta_replay_free(r); /* drops what is still queued */
	assert_int_equal(s->n, 20);
	for (i = 0; i < s->n; i++)
		assert_string_equal(s->items[i].id, base->items[i].id);
	/* out of range thread counts */
	cfg.threads = KTA_REPLAY_THREADS_MAX + 1;
	assert_int_equal(kta_replay_new(&cfg, &r, &err), KTA_ERR_USAGE);
	assert_null(r);
	cfg.threads = KTA_REPLAY_THREADS_AUTO;
	assert_int_equal(kta_replay_new(&cfg, &r, &err), KTA_OK);
	assert_int_equal(kta_replay_flush(r, &err), KTA_OK);
	kta_replay_free(r);
	assert_true(kta_replay_threads_online() >= 1);
	assert_true(kta_replay_threads_online() <= KTA_REPLAY_THREADS_MAX);
	/* leaf order is checked when the entry is fed */
	cfg.threads = 2;
	s->fail_after = 0;
	assert_int_equal(kta_replay_new(&cfg, &r, &err), KTA_OK);
	assert_int_equal(kta_replay_entry(r, 9, h[0].bytes, h[0].len, NULL, &err), KTA_OK);
	assert_int_equal(kta_replay_entry(r, 9, h[0].bytes, h[0].len, NULL, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_replay_entry(r, 10, NULL, 3, NULL, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_replay_flush(r, &err), KTA_OK);
	kta_replay_free(r);
	(void)fed;
	kta_replay_memindex_free(mi);
	kta_replay_memindex_free(mi0);
	sink_clear(base);
	sink_clear(s);
	free(base);
	free(s);
	hentries_free(h, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(honest_simple),
	    cmocka_unit_test(honest_random_histories),
	    cmocka_unit_test(malformed_entry),
	    cmocka_unit_test(first_version_not_one),
	    cmocka_unit_test(gap_regression_repeat),
	    cmocka_unit_test(equivocation),
	    cmocka_unit_test(unauthorized),
	    cmocka_unit_test(bad_auth_signature),
	    cmocka_unit_test(key_changed_pinned),
	    cmocka_unit_test(key_changed_tofu),
	    cmocka_unit_test(near_twin_keys),
	    cmocka_unit_test(equivocation_every_hash_byte),
	    cmocka_unit_test(leaf_order_and_usage),
	    cmocka_unit_test(emit_failure_aborts),
	    cmocka_unit_test(memindex_many_labels),
	    cmocka_unit_test(memindex_foreach),
	    cmocka_unit_test(key_specs),
	    cmocka_unit_test(auth_names),
	    cmocka_unit_test(watchset_rules),
	    cmocka_unit_test(watchset_many),
	    cmocka_unit_test(memory_and_sqlite_agree),
	    cmocka_unit_test(pool_sizes_agree),
	    cmocka_unit_test(pool_failure),
	    cmocka_unit_test(shards_partition),
	    cmocka_unit_test(key_alert_helper),
	};

	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
