/*
 * Unit tests for the reference publisher (ktaudit/publish.h). Every check
 * reads the served files back directly and verifies them independently of
 * the publisher: the checkpoint with the log key, the root from the entry
 * bundles, every hash tile from the leaf hashes, entry versions and auth
 * lines, every lookup's inclusion proof, consistency between successive
 * checkpoints, and the files an earlier publish wrote staying untouched.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_util.h"
#include "ktaudit/checkpoint.h"
#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/file.h"
#include "ktaudit/hash.h"
#include "ktaudit/key.h"
#include "ktaudit/merkle.h"
#include "ktaudit/note.h"
#include "ktaudit/publish.h"
#include "ktaudit/tile.h"

#define ORIGIN "example.com/keydir"
#define T0 1764143000u

/* ---- fixture: a temporary directory and keys ---- */

struct fx {
	char base[64];        /* the temporary directory */
	char dir[128];        /* base/d: the key directory */
	char key_path[128];   /* base/log.key */
	struct kta_skey *log; /* the log key */
	struct kta_vkey *log_vk;
	struct kta_skey *wit[2]; /* two witnesses */
	struct kta_vkey *wit_vk[2];
	struct kta_skey *user[4]; /* users' Ed25519 keys (auth lines) */
	struct kta_hasher *h;
	uint64_t rng;
};

static struct kta_skey *seed_key(const char *name, enum kta_key_type type, uint8_t fill)
{
	uint8_t seed[32];
	struct kta_skey *k = NULL;

	memset(seed, fill, sizeof(seed));
	assert_int_equal(kta_skey_from_seed(name, type, seed, &k, NULL), KTA_OK);
	return k;
}

static void write_key_file(const char *path, const struct kta_skey *k)
{
	char *s = kta_skey_format(k);

	assert_non_null(s);
	assert_int_equal(kta_file_create_excl(path, (const uint8_t *)s, strlen(s), 0600, NULL),
			 KTA_OK);
	free(s);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int i;

	assert_non_null(f);
	strcpy(f->base, "/tmp/kta-publish-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	(void)snprintf(f->dir, sizeof(f->dir), "%s/d", f->base);
	(void)snprintf(f->key_path, sizeof(f->key_path), "%s/log.key", f->base);
	f->log = seed_key(ORIGIN, KTA_KEY_ED25519, 1);
	assert_int_equal(kta_skey_vkey(f->log, &f->log_vk, NULL), KTA_OK);
	write_key_file(f->key_path, f->log);
	for (i = 0; i < 2; i++) {
		f->wit[i] = seed_key(i ? "witness-b" : "witness-a", KTA_KEY_COSIGNATURE_V1,
				     (uint8_t)(10 + i));
		assert_int_equal(kta_skey_vkey(f->wit[i], &f->wit_vk[i], NULL), KTA_OK);
	}
	for (i = 0; i < 4; i++)
		f->user[i] = seed_key("user", KTA_KEY_ED25519, (uint8_t)(20 + i));
	assert_int_equal(kta_hasher_new(&f->h, NULL), KTA_OK);
	f->rng = 0x9e3779b97f4a7c15ull;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int i;

	(void)tu_rm_tree(f->base);
	kta_skey_free(f->log);
	kta_vkey_free(f->log_vk);
	for (i = 0; i < 2; i++) {
		kta_skey_free(f->wit[i]);
		kta_vkey_free(f->wit_vk[i]);
	}
	for (i = 0; i < 4; i++)
		kta_skey_free(f->user[i]);
	kta_hasher_free(f->h);
	free(f);
	return 0;
}

static struct kta_publisher *init_open(struct fx *f)
{
	struct kta_publisher *p = NULL;
	struct kta_error err;

	assert_int_equal(kta_publish_init(f->dir, ORIGIN, f->key_path, &err), KTA_OK);
	if (kta_publish_open(f->dir, &p, &err) != KTA_OK)
		fail_msg("open: %s", err.msg);
	return p;
}

/* ---- updates ---- */

/* One update with up to two random keys (storage for kta_publish_update). */
struct upd {
	char label[64];
	char dev[2][16];
	struct kta_entry_key keys[2];
	struct kta_publish_update u;
};

static void make_upd(struct fx *f, struct upd *b, const char *label, size_t nkeys, uint64_t t)
{
	size_t i, j;

	memset(b, 0, sizeof(*b));
	(void)snprintf(b->label, sizeof(b->label), "%s", label);
	for (i = 0; i < nkeys; i++) {
		for (j = 0; j < 32; j += 8) {
			uint64_t x = tu_rand(&f->rng);

			memcpy(b->keys[i].pub + j, &x, 8);
		}
		b->keys[i].alg = i == 0 ? KTA_ENTRY_ALG_X25519 : KTA_ENTRY_ALG_ED25519;
		(void)snprintf(b->dev[i], sizeof(b->dev[i]), "dev%zu", i);
		b->keys[i].device = b->dev[i];
	}
	b->u.label = b->label;
	b->u.keys = b->keys;
	b->u.nkeys = nkeys;
	b->u.time = t;
}

/* Queues n updates of labels "u<i mod nlabels>" in chunks. */
static void add_many(struct fx *f, struct kta_publisher *p, uint64_t first, uint64_t n,
		     uint64_t nlabels)
{
	enum { CHUNK = 4096 };
	struct upd *b = calloc(CHUNK, sizeof(*b));
	struct kta_publish_update *u = calloc(CHUNK, sizeof(*u));
	struct kta_publish_added res;
	struct kta_error err;
	uint64_t i = 0;

	assert_non_null(b);
	assert_non_null(u);
	while (i < n) {
		size_t k, m = (size_t)(n - i < CHUNK ? n - i : CHUNK);

		for (k = 0; k < m; k++) {
			char label[32];

			(void)snprintf(label, sizeof(label), "u%llu",
				       (unsigned long long)((first + i + k) % nlabels));
			make_upd(f, &b[k], label, 1 + (k & 1), T0 + i + k);
			u[k] = b[k].u;
		}
		if (kta_publish_add(p, u, m, &res, &err) != KTA_OK)
			fail_msg("add: %s", err.msg);
		assert_int_equal(res.queued, m);
		i += m;
	}
	free(b);
	free(u);
}

static struct kta_publish_result publish(struct kta_publisher *p, const struct fx *f, int nwit)
{
	struct kta_publish_opts o;
	struct kta_publish_result res;
	struct kta_error err;

	memset(&o, 0, sizeof(o));
	o.witnesses = (const struct kta_skey *const *)f->wit;
	o.nwitnesses = (size_t)nwit;
	o.now = T0 + 100;
	if (kta_publish_run(p, &o, &res, &err) != KTA_OK)
		fail_msg("publish: %s", err.msg);
	return res;
}

/* ---- the independent checker ---- */

static uint8_t *read_rel(const char *dir, const char *rel, size_t *len)
{
	char path[4200];
	uint8_t *buf = NULL;
	struct kta_error err;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (kta_file_read(path, 64u << 20, &buf, len, &err) != KTA_OK)
		fail_msg("read %s: %s", rel, err.msg);
	return buf;
}

static int exists_rel(const char *dir, const char *rel)
{
	char path[4200];
	struct stat sb;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &sb) == 0;
}

/* Verifies a checkpoint note with the log key; returns size and root. */
static void verify_cp(const struct fx *f, const uint8_t *note, size_t len, uint64_t *size,
		      uint8_t root[32])
{
	struct kta_checkpoint_policy pol;
	struct kta_checkpoint_result res;
	struct kta_error err;

	memset(&pol, 0, sizeof(pol));
	pol.log_key = f->log_vk;
	pol.now = T0 + 1000;
	if (kta_checkpoint_verify(note, len, &pol, &res, &err) != KTA_OK)
		fail_msg("checkpoint: %s", err.msg);
	assert_string_equal(res.cp->origin, ORIGIN);
	*size = res.cp->size;
	memcpy(root, res.cp->root, 32);
	kta_checkpoint_result_free(&res);
}

/* Label -> latest leaf, open addressing. */
struct lmap {
	char **label;
	uint64_t *leaf, *version;
	size_t cap, n;
};

static size_t lmap_slot(const struct lmap *m, const char *label)
{
	uint64_t h = 1469598103934665603ull;
	const char *s;
	size_t i;

	for (s = label; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	for (i = (size_t)h & (m->cap - 1); m->label[i] != NULL && strcmp(m->label[i], label) != 0;
	     i = (i + 1) & (m->cap - 1))
		;
	return i;
}

struct dircheck {
	uint64_t size;
	uint8_t root[32];
	uint8_t (*leaves)[32]; /* size leaf hashes (caller frees) */
	size_t nlabels;
};

/* Reads and checks every tile of level L for hashes hs[0..n) (height 8L). */
static void check_hash_tiles(const struct fx *f, int L, const uint8_t (*hs)[32], uint64_t n)
{
	uint64_t t;

	for (t = 0; t * 256 < n; t++) {
		unsigned w = n - t * 256 >= 256 ? 256 : (unsigned)(n - t * 256);
		char rel[KTA_TILE_PATH_MAX];
		uint8_t *buf;
		size_t len;

		assert_int_equal(kta_tile_path(L, t, w, rel, sizeof(rel), NULL), KTA_OK);
		buf = read_rel(f->dir, rel, &len);
		assert_int_equal(len, (size_t)w * 32);
		if (memcmp(buf, hs[t * 256], len) != 0)
			fail_msg("hash tile %s does not match the leaves", rel);
		free(buf);
	}
}

/*
 * Checks DIR as served: the checkpoint, bundles, tiles and (when lookups)
 * every label's lookup. The served size must be `want`.
 */
static void check_dir(struct fx *f, uint64_t want, int lookups, struct dircheck *out)
{
	uint8_t *cpbuf, root[32], got[32];
	uint8_t(*hs)[32], (*next)[32];
	size_t cplen, nb = 0, i;
	uint64_t size = 0, n, idx;
	uint8_t **bundles;
	const uint8_t **ent;
	size_t *entlen;
	struct lmap m;
	int L;

	cpbuf = read_rel(f->dir, "checkpoint", &cplen);
	verify_cp(f, cpbuf, cplen, &size, root);
	free(cpbuf);
	assert_int_equal(size, want);

	/* Entry bundles -> leaf hashes and entries. */
	bundles = calloc(size / 256 + 2, sizeof(*bundles));
	ent = calloc(size + 1, sizeof(*ent));
	entlen = calloc(size + 1, sizeof(*entlen));
	hs = calloc(size + 1, 32);
	assert_true(bundles && ent && entlen && hs);
	for (idx = 0; idx < size; idx += 256) {
		unsigned w = size - idx >= 256 ? 256 : (unsigned)(size - idx);
		char rel[KTA_TILE_PATH_MAX];
		struct kta_tile_bundle b;
		struct kta_tile_bundle_iter it;
		struct kta_tile_entry e;
		size_t len;
		uint64_t k = idx;

		assert_int_equal(kta_tile_entries_path(idx / 256, w, rel, sizeof(rel), NULL),
				 KTA_OK);
		bundles[nb] = read_rel(f->dir, rel, &len);
		assert_int_equal(kta_tile_parse_bundle(bundles[nb], len, w, &b, NULL), KTA_OK);
		kta_tile_bundle_iter_init(&it, &b);
		while (kta_tile_bundle_next(&it, &e)) {
			ent[k] = e.data;
			entlen[k] = e.len;
			kta_hash_leaf(f->h, e.data, e.len, hs[k]);
			k++;
		}
		assert_int_equal(k, idx + w);
		nb++;
	}
	assert_int_equal(kta_merkle_root(f->h, (const uint8_t(*)[32])hs, size, got, NULL), KTA_OK);
	assert_memory_equal(got, root, 32);

	/* Hash tiles at every level. */
	n = size;
	out->leaves = hs;
	for (L = 0; n > 0; L++) {
		check_hash_tiles(f, L, (const uint8_t(*)[32])hs, n);
		next = calloc(n / 256 + 1, 32);
		assert_non_null(next);
		for (i = 0; i < n / 256; i++)
			assert_int_equal(kta_merkle_root(f->h, (const uint8_t(*)[32])hs + 256 * i,
							 256, next[i], NULL),
					 KTA_OK);
		if (hs != out->leaves)
			free(hs);
		hs = next;
		n /= 256;
	}
	if (hs != out->leaves)
		free(hs);
	hs = out->leaves;

	/* Entries: parse, versions go up by one per label, auth lines verify. */
	m.cap = 1024;
	while (m.cap < 2 * size + 2)
		m.cap *= 2;
	m.n = 0;
	m.label = calloc(m.cap, sizeof(char *));
	m.leaf = calloc(m.cap, sizeof(uint64_t));
	m.version = calloc(m.cap, sizeof(uint64_t));
	assert_true(m.label && m.leaf && m.version);
	for (idx = 0; idx < size; idx++) {
		struct kta_entry *e = NULL;
		struct kta_error err;
		size_t s;

		if (kta_entry_parse(ent[idx], entlen[idx], &e, &err) != KTA_OK)
			fail_msg("entry %llu: %s", (unsigned long long)idx, err.msg);
		s = lmap_slot(&m, e->label);
		if (m.label[s] == NULL) {
			assert_int_equal(e->version, 1);
			m.label[s] = strdup(e->label);
			m.n++;
		} else {
			assert_int_equal(e->version, m.version[s] + 1);
		}
		m.version[s] = e->version;
		m.leaf[s] = idx;
		for (i = 0; i < e->nauths; i++)
			if (kta_entry_auth_verify(e, ent[idx], entlen[idx], i, &err) != KTA_OK)
				fail_msg("entry %llu: %s", (unsigned long long)idx, err.msg);
		kta_entry_free(e);
	}
	out->nlabels = m.n;

	/* Lookups: one per label, its latest entry, a proof against its checkpoint. */
	if (lookups) {
		char *last_cp = NULL;
		uint64_t cp_size = 0, nfiles = 0;
		uint8_t cp_root[32];
		DIR *d;
		struct dirent *de;
		char ldir[200];

		for (i = 0; i < m.cap; i++) {
			char rel[8 + KTA_LABEL_ENCODED_MAX + 1];
			size_t enclen, len, elen, plen;
			uint8_t *buf, *e = NULL, (*path)[32] = NULL, lh[32];
			json_t *j, *v;
			json_error_t je;
			const char *cps;
			struct kta_error err;

			if (m.label[i] == NULL)
				continue;
			memcpy(rel, "lookup/", 7);
			assert_int_equal(kta_entry_label_encode(m.label[i], strlen(m.label[i]),
								rel + 7, &enclen, NULL),
					 KTA_OK);
			buf = read_rel(f->dir, rel, &len);
			j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
			if (j == NULL)
				fail_msg("%s: %s", rel, je.text);
			assert_int_equal(json_object_size(j), 4);
			v = json_object_get(j, "leaf_index");
			assert_true(json_is_integer(v));
			assert_int_equal((uint64_t)json_integer_value(v), m.leaf[i]);
			v = json_object_get(j, "entry");
			assert_true(json_is_string(v));
			e = malloc(json_string_length(v) + 1);
			assert_int_equal(kta_b64_decode(json_string_value(v), json_string_length(v),
							e, json_string_length(v) + 1, &elen),
					 KTA_OK);
			assert_int_equal(elen, entlen[m.leaf[i]]);
			assert_memory_equal(e, ent[m.leaf[i]], elen);
			v = json_object_get(j, "checkpoint");
			assert_true(json_is_string(v));
			cps = json_string_value(v);
			if (last_cp == NULL || strcmp(last_cp, cps) != 0) {
				free(last_cp);
				last_cp = strdup(cps);
				verify_cp(f, (const uint8_t *)cps, strlen(cps), &cp_size, cp_root);
				/* An older checkpoint still matches today's tiles. */
				assert_true(cp_size <= size);
				assert_int_equal(kta_merkle_root(f->h, (const uint8_t(*)[32])hs,
								 cp_size, got, NULL),
						 KTA_OK);
				assert_memory_equal(got, cp_root, 32);
			}
			assert_int_equal(kta_json_get_hashes(j, "audit_path", rel,
							     KTA_MERKLE_MAX_PROOF, &path, &plen,
							     NULL),
					 KTA_OK);
			kta_hash_leaf(f->h, e, elen, lh);
			if (kta_merkle_verify_inclusion(f->h, m.leaf[i], cp_size, lh,
							(const uint8_t(*)[32])path, plen, cp_root,
							&err) != KTA_OK)
				fail_msg("%s: %s", rel, err.msg);
			free(path);
			free(e);
			free(buf);
			json_decref(j);
		}
		free(last_cp);
		(void)snprintf(ldir, sizeof(ldir), "%s/lookup", f->dir);
		assert_non_null(d = opendir(ldir));
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				nfiles++;
		(void)closedir(d);
		assert_int_equal(nfiles, m.n);
	}
	for (i = 0; i < m.cap; i++)
		free(m.label[i]);
	free(m.label);
	free(m.leaf);
	free(m.version);
	for (i = 0; i < nb; i++)
		free(bundles[i]);
	free(bundles);
	free(ent);
	free(entlen);
	out->size = size;
	memcpy(out->root, root, 32);
}

/* The consistency proof between two checkpoints of the leaves verifies. */
static void check_consistency(struct fx *f, const struct dircheck *old, const struct dircheck *cur)
{
	uint8_t proof[KTA_MERKLE_MAX_PROOF][32];
	size_t n = 0;
	struct kta_error err;

	if (old->size == 0 || old->size == cur->size)
		return;
	assert_int_equal(kta_merkle_consistency_proof(f->h, (const uint8_t(*)[32])cur->leaves,
						      cur->size, old->size, proof,
						      KTA_MERKLE_MAX_PROOF, &n, NULL),
			 KTA_OK);
	if (kta_merkle_verify_consistency(f->h, old->size, cur->size, old->root, cur->root,
					  (const uint8_t(*)[32])proof, n, &err) != KTA_OK)
		fail_msg("consistency %llu -> %llu: %s", (unsigned long long)old->size,
			 (unsigned long long)cur->size, err.msg);
}

static uint64_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	(void)closedir(d);
	return n;
}

/* ---- tests ---- */

static void init_layout(void **state)
{
	struct fx *f = *state;
	struct kta_publisher *p = init_open(f);
	struct kta_publish_info info;
	struct dircheck dc;
	struct stat sb;
	char path[256];
	uint8_t empty[32];

	check_dir(f, 0, 1, &dc);
	free(dc.leaves);
	kta_hash_empty(empty);
	assert_memory_equal(dc.root, empty, 32);
	assert_int_equal(kta_publish_info(p, &info, NULL), KTA_OK);
	assert_string_equal(info.origin, ORIGIN);
	assert_int_equal(info.size, 0);
	assert_int_equal(info.queued, 0);
	(void)snprintf(path, sizeof(path), "%s/.ktaudit", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	(void)snprintf(path, sizeof(path), "%s/.ktaudit/state.db", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_true(exists_rel(f->dir, "tile") && exists_rel(f->dir, "lookup"));
	/* The secret key is nowhere in the directory: only its path is recorded. */
	{
		char *sk = kta_skey_format(f->log);
		size_t len;
		uint8_t *db = read_rel(f->dir, ".ktaudit/state.db", &len);

		assert_null(memmem(db, len, sk, strlen(sk)));
		assert_null(memmem(db, len, f->log->seed, 32));
		assert_non_null(memmem(db, len, f->key_path, strlen(f->key_path)));
		free(db);
		free(sk);
	}
	kta_publish_close(p);
}

struct warns {
	int n;
	char last[KTA_ERROR_MSG_MAX + 128];
};

static void on_warn(void *ctx, const char *msg)
{
	struct warns *w = ctx;

	w->n++;
	(void)snprintf(w->last, sizeof(w->last), "%s", msg);
}

static void basic_flow(void **state)
{
	struct fx *f = *state;
	struct kta_publisher *p = init_open(f);
	struct kta_publish_added res;
	struct kta_publish_result pr;
	struct kta_checkpoint_policy pol;
	struct kta_checkpoint_result cres;
	struct dircheck dc, dc2;
	struct warns w = {0, ""};
	struct upd a1, a2, a3, b1;
	struct kta_entry_key k;
	uint8_t *cp, *lk, *e = NULL;
	size_t cplen, lklen, elen;
	struct kta_entry *pe = NULL, *prev = NULL;
	enum kta_auth_result ar;
	json_t *j;

	kta_publish_set_warn(p, on_warn, &w);
	/* alice v1 with her Ed25519 key user[0] */
	make_upd(f, &a1, "alice@example.org", 1, T0);
	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_ED25519;
	memcpy(k.pub, f->user[0]->pub, 32);
	k.device = "phone";
	a1.keys[1] = k;
	a1.u.nkeys = 2;
	assert_int_equal(kta_publish_add(p, &a1.u, 1, &res, NULL), KTA_OK);
	assert_int_equal(res.version, 1);
	assert_int_equal(res.leaf_index, 0);
	make_upd(f, &b1, "bob", 1, T0 + 1);
	assert_int_equal(kta_publish_add(p, &b1.u, 1, &res, NULL), KTA_OK);
	/* alice v2, queued before any publish, signed by her v1 key: authorized */
	make_upd(f, &a2, "alice@example.org", 1, T0 + 2);
	a2.u.auth_key = f->user[0];
	assert_int_equal(kta_publish_add(p, &a2.u, 1, &res, NULL), KTA_OK);
	assert_int_equal(res.version, 2);
	assert_int_equal(res.unauthorized, 0);
	assert_int_equal(w.n, 0);
	pr = publish(p, f, 2);
	assert_int_equal(pr.entries, 3);
	assert_int_equal(pr.size, 3);
	assert_int_equal(pr.old_size, 0);
	assert_int_equal(pr.lookups, 2);
	check_dir(f, 3, 1, &dc);
	assert_memory_equal(dc.root, pr.root, 32);
	assert_int_equal(dc.nlabels, 2);

	/* Witness quorum 2 of 2 on the served checkpoint. */
	cp = read_rel(f->dir, "checkpoint", &cplen);
	memset(&pol, 0, sizeof(pol));
	pol.log_key = f->log_vk;
	pol.witnesses = (const struct kta_vkey *const *)f->wit_vk;
	pol.nwitnesses = 2;
	pol.quorum = 2;
	pol.now = T0 + 200;
	assert_int_equal(kta_checkpoint_verify(cp, cplen, &pol, &cres, NULL), KTA_OK);
	assert_int_equal(cres.cosigned, 2);
	assert_int_equal(cres.newest_cosig_time, T0 + 100);
	kta_checkpoint_result_free(&cres);
	free(cp);

	/* alice's lookup holds v2, which her v1 key authorized. */
	lk = read_rel(f->dir, "lookup/alice%40example.org", &lklen);
	assert_non_null(j = json_loadb((const char *)lk, lklen, 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(j, "leaf_index")), 2);
	assert_int_equal(kta_json_get_b64(j, "entry", "lookup", 65535, &e, &elen, NULL), KTA_OK);
	assert_int_equal(kta_entry_parse(e, elen, &pe, NULL), KTA_OK);
	assert_int_equal(pe->version, 2);
	assert_int_equal(pe->nauths, 1);
	{
		size_t l0;
		uint8_t *b = read_rel(f->dir, "tile/entries/000.p/3", &l0);
		struct kta_tile_bundle tb;
		struct kta_tile_bundle_iter it;
		struct kta_tile_entry te;

		assert_int_equal(kta_tile_parse_bundle(b, l0, 3, &tb, NULL), KTA_OK);
		kta_tile_bundle_iter_init(&it, &tb);
		assert_true(kta_tile_bundle_next(&it, &te));
		assert_int_equal(kta_entry_parse(te.data, te.len, &prev, NULL), KTA_OK);
		assert_int_equal(kta_entry_check_auth(pe, e, elen, prev, &ar, NULL), KTA_OK);
		assert_int_equal(ar, KTA_AUTH_OWNER);
		free(b);
	}
	kta_entry_free(pe);
	kta_entry_free(prev);
	free(e);
	json_decref(j);
	free(lk);

	/* alice v3 signed by a stranger: queued, but warned about and counted. */
	make_upd(f, &a3, "alice@example.org", 2, T0 + 3);
	a3.u.auth_key = f->user[3];
	assert_int_equal(kta_publish_add(p, &a3.u, 1, &res, NULL), KTA_OK);
	assert_int_equal(res.version, 3);
	assert_int_equal(res.unauthorized, 1);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.last, "unauthorized"));
	assert_non_null(strstr(w.last, "version 3"));
	pr = publish(p, f, 0);
	assert_int_equal(pr.entries, 1);
	assert_int_equal(pr.lookups, 1);
	check_dir(f, 4, 1, &dc2);
	check_consistency(f, &dc, &dc2);
	/* bob's lookup still carries the size-3 checkpoint, and still verifies (check_dir). */
	lk = read_rel(f->dir, "lookup/bob", &lklen);
	assert_non_null(j = json_loadb((const char *)lk, lklen, 0, NULL));
	assert_non_null(strstr(json_string_value(json_object_get(j, "checkpoint")), "\n3\n"));
	json_decref(j);
	free(lk);
	free(dc.leaves);
	free(dc2.leaves);
	kta_publish_close(p);
}

struct fstamp {
	char rel[KTA_TILE_PATH_MAX];
	ino_t ino;
	struct timespec mtime;
};

/* Records inode and mtime of every full tile and bundle at size n. */
static size_t stamp_full(const struct fx *f, uint64_t n, struct fstamp *st, size_t cap)
{
	size_t k = 0;
	int L;
	uint64_t t, cnt;

	for (L = -1; L < 3; L++) {
		cnt = kta_tile_full_count(L, n);
		for (t = 0; t < cnt; t++) {
			char path[300];
			struct stat sb;

			assert_true(k < cap);
			assert_int_equal(
			    kta_tile_path(L, t, 256, st[k].rel, sizeof(st[k].rel), NULL), KTA_OK);
			(void)snprintf(path, sizeof(path), "%s/%s", f->dir, st[k].rel);
			assert_int_equal(stat(path, &sb), 0);
			st[k].ino = sb.st_ino;
			st[k].mtime = sb.st_mtim;
			k++;
		}
	}
	return k;
}

static void check_stamps(const struct fx *f, const struct fstamp *st, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char path[300];
		struct stat sb;

		(void)snprintf(path, sizeof(path), "%s/%s", f->dir, st[i].rel);
		assert_int_equal(stat(path, &sb), 0);
		if (sb.st_ino != st[i].ino || sb.st_mtim.tv_sec != st[i].mtime.tv_sec ||
		    sb.st_mtim.tv_nsec != st[i].mtime.tv_nsec)
			fail_msg("full tile %s was rewritten", st[i].rel);
	}
}

static void tile_boundaries(void **state)
{
	static const uint64_t sizes[] = {255, 256, 257, 65536, 65537};
	struct fx *f = *state;
	struct kta_publisher *p = init_open(f);
	struct dircheck prev, cur;
	struct fstamp *st = calloc(600, sizeof(*st));
	size_t i, nst = 0;

	assert_non_null(st);
	memset(&prev, 0, sizeof(prev));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct kta_publish_result pr;

		add_many(f, p, prev.size, sizes[i] - prev.size, 700);
		pr = publish(p, f, 0);
		assert_int_equal(pr.size, sizes[i]);
		assert_int_equal(pr.entries, sizes[i] - prev.size);
		check_dir(f, sizes[i], 1, &cur);
		assert_memory_equal(cur.root, pr.root, 32);
		check_consistency(f, &prev, &cur);
		/* Every full tile of the previous publish is untouched. */
		check_stamps(f, st, nst);
		nst = stamp_full(f, sizes[i], st, 600);
		free(prev.leaves);
		prev = cur;
	}
	/* The exact tlog-tiles paths at 65537: full level-1 tile, partial level 2. */
	assert_true(exists_rel(f->dir, "tile/0/255"));
	assert_true(exists_rel(f->dir, "tile/0/256.p/1"));
	assert_true(exists_rel(f->dir, "tile/entries/256.p/1"));
	assert_true(exists_rel(f->dir, "tile/1/000"));
	assert_true(exists_rel(f->dir, "tile/2/000.p/1"));
	assert_false(exists_rel(f->dir, "tile/1/001.p/0"));
	/* Staging area empty after success. */
	{
		char tmp[200];

		(void)snprintf(tmp, sizeof(tmp), "%s/.ktaudit/tmp", f->dir);
		assert_int_equal(count_files(tmp), 0);
	}
	free(prev.leaves);
	free(st);
	kta_publish_close(p);
}

/* Builds the same directory deterministically: 300 entries published, 700 queued. */
static struct kta_publisher *build_crash_dir(struct fx *f)
{
	struct kta_publisher *p = init_open(f);

	f->rng = 12345;
	add_many(f, p, 0, 300, 200);
	(void)publish(p, f, 1);
	add_many(f, p, 300, 700, 200);
	return p;
}

static void crash_injection(void **state)
{
	struct fx *f = *state;
	struct kta_publisher *p;
	struct kta_publish_opts o;
	struct kta_publish_result pr, ref;
	struct kta_error err;
	struct dircheck dc, old;
	uint64_t k, total;
	char tmp[200];

	/* A reference run learns how many files the publish writes. */
	p = build_crash_dir(f);
	ref = publish(p, f, 1);
	kta_publish_close(p);
	total = ref.files;
	assert_true(total > 200);
	(void)tu_rm_tree(f->dir);

	p = build_crash_dir(f);
	check_dir(f, 300, 1, &old);
	memset(&o, 0, sizeof(o));
	o.witnesses = (const struct kta_skey *const *)f->wit;
	o.nwitnesses = 1;
	o.now = T0 + 100;
	k = 1;
	for (;;) {
		o.fail_after_files = k;
		kta_error_clear(&err);
		assert_int_equal(kta_publish_run(p, &o, &pr, &err), KTA_ERR_IO);
		assert_non_null(strstr(err.msg, "injected"));
		/* The previous publication is intact: checkpoint, tiles, bundles. */
		check_dir(f, 300, 0, &dc);
		assert_memory_equal(dc.root, old.root, 32);
		free(dc.leaves);
		if (k < 8)
			k++;
		else if (k * 3 < total - 1)
			k *= 3;
		else if (k < total - 1)
			k = total - 1;
		else
			break;
	}
	/* Everything but the checkpoint was in place; a clean re-run completes it. */
	o.fail_after_files = 0;
	assert_int_equal(kta_publish_run(p, &o, &pr, &err), KTA_OK);
	assert_int_equal(pr.size, 1000);
	assert_int_equal(pr.entries, 700);
	assert_memory_equal(pr.root, ref.root, 32);
	check_dir(f, 1000, 1, &dc);
	check_consistency(f, &old, &dc);
	(void)snprintf(tmp, sizeof(tmp), "%s/.ktaudit/tmp", f->dir);
	assert_int_equal(count_files(tmp), 0);
	free(dc.leaves);
	free(old.leaves);
	kta_publish_close(p);
}

static void copy_file(const char *from, const char *to)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(kta_file_read(from, 1u << 30, &buf, &len, NULL), KTA_OK);
	assert_int_equal(kta_file_write_atomic(to, buf, len, 0600, NULL), KTA_OK);
	free(buf);
}

/* A crash after the checkpoint was replaced but before the state recorded it. */
static void crash_after_checkpoint(void **state)
{
	struct fx *f = *state;
	struct kta_publisher *p = init_open(f);
	struct kta_publish_result pr, pr2;
	struct kta_publish_info info;
	struct kta_error err;
	struct dircheck dc;
	char db[256], empty_bak[256], queued_bak[256];
	uint8_t *cp1, *cp2;
	size_t l1, l2;

	(void)snprintf(db, sizeof(db), "%s/.ktaudit/state.db", f->dir);
	(void)snprintf(empty_bak, sizeof(empty_bak), "%s/empty.db", f->base);
	(void)snprintf(queued_bak, sizeof(queued_bak), "%s/queued.db", f->base);
	add_many(f, p, 0, 100, 40);
	(void)publish(p, f, 0);
	kta_publish_close(p); /* closing merges the WAL: the file is the whole state */
	copy_file(db, empty_bak);
	assert_int_equal(kta_publish_open(f->dir, &p, NULL), KTA_OK);
	add_many(f, p, 100, 200, 40);
	kta_publish_close(p);
	copy_file(db, queued_bak);
	assert_int_equal(kta_publish_open(f->dir, &p, NULL), KTA_OK);
	pr = publish(p, f, 0);
	kta_publish_close(p);
	cp1 = read_rel(f->dir, "checkpoint", &l1);

	/* Roll the state back to "queued": the served checkpoint is ahead of it. */
	copy_file(queued_bak, db);
	assert_int_equal(kta_publish_open(f->dir, &p, NULL), KTA_OK);
	assert_int_equal(kta_publish_info(p, &info, NULL), KTA_OK);
	assert_int_equal(info.size, 100);
	assert_int_equal(info.queued, 200);
	pr2 = publish(p, f, 0);
	assert_int_equal(pr2.size, pr.size);
	assert_memory_equal(pr2.root, pr.root, 32);
	cp2 = read_rel(f->dir, "checkpoint", &l2);
	/* Same text and, Ed25519 being deterministic, the same signature. */
	assert_int_equal(l1, l2);
	assert_memory_equal(cp1, cp2, l1);
	check_dir(f, 300, 1, &dc);
	free(dc.leaves);
	kta_publish_close(p);

	/* Roll it back further, to before the 200 were queued: the served
	 * checkpoint cannot be reached from the state; never publish a fork. */
	copy_file(empty_bak, db);
	assert_int_equal(kta_publish_open(f->dir, &p, NULL), KTA_OK);
	add_many(f, p, 0, 250, 7);
	{
		struct kta_publish_opts o;
		struct kta_publish_result r3;

		memset(&o, 0, sizeof(o));
		assert_int_equal(kta_publish_run(p, &o, &r3, &err), KTA_ERR_IO);
		assert_non_null(strstr(err.msg, "fork"));
	}
	free(cp2);
	cp2 = read_rel(f->dir, "checkpoint", &l2);
	assert_memory_equal(cp1, cp2, l1);
	free(cp1);
	free(cp2);
	kta_publish_close(p);
}

static void noop_and_lock(void **state)
{
	struct fx *f = *state;
	struct kta_publisher *p = init_open(f);
	struct kta_publish_result pr;
	struct kta_publish_opts o;
	struct kta_error err;
	uint8_t *c1, *c2;
	size_t l1, l2;
	char path[256];
	int fd;

	add_many(f, p, 0, 5, 5);
	(void)publish(p, f, 0);
	c1 = read_rel(f->dir, "checkpoint", &l1);
	pr = publish(p, f, 2);
	assert_int_equal(pr.entries, 0);
	assert_int_equal(pr.files, 0);
	assert_int_equal(pr.size, 5);
	c2 = read_rel(f->dir, "checkpoint", &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(c1, c2, l1);
	free(c2);

	/* A missing checkpoint is restored even when nothing is queued. */
	(void)snprintf(path, sizeof(path), "%s/checkpoint", f->dir);
	assert_int_equal(unlink(path), 0);
	pr = publish(p, f, 0);
	assert_int_equal(pr.files, 1);
	c2 = read_rel(f->dir, "checkpoint", &l2);
	assert_memory_equal(c1, c2, l1);
	free(c1);
	free(c2);

	/* A second publish at the same time is refused. */
	(void)snprintf(path, sizeof(path), "%s/.ktaudit/lock", f->dir);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	memset(&o, 0, sizeof(o));
	assert_int_equal(kta_publish_run(p, &o, &pr, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "another publish"));
	(void)close(fd);
	kta_publish_close(p);
}

static void rejects_add(void **state)
{
	static const char *bad_labels[] = {"",          "has space", "tab\there",
					   "new\nline", "\x7f",      "bad\xffutf8"};
	struct fx *f = *state;
	struct kta_publisher *p = init_open(f);
	struct kta_publish_info info;
	struct kta_publish_added res;
	struct kta_entry_key k;
	struct kta_error err;
	struct upd u, u2[2];
	struct kta_publish_update two[2];
	char dev[KTA_DEVICE_MAX_LEN + 1], spec[512], b64[45], longl[300];
	uint8_t pub[32];
	size_t i;

	for (i = 0; i < sizeof(bad_labels) / sizeof(bad_labels[0]); i++) {
		make_upd(f, &u, "x", 1, T0);
		u.u.label = bad_labels[i];
		assert_int_equal(kta_publish_add(p, &u.u, 1, &res, &err), KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "label"));
	}
	/* A label whose lookup file name would exceed 255 bytes. */
	memset(longl, 'a', 256);
	longl[256] = '\0';
	make_upd(f, &u, "x", 1, T0);
	u.u.label = longl;
	assert_int_equal(kta_publish_add(p, &u.u, 1, &res, &err), KTA_ERR_LIMIT);
	longl[255] = '\0';
	assert_int_equal(kta_publish_add(p, &u.u, 1, &res, &err), KTA_OK);

	/* Key specifications. */
	memset(pub, 7, sizeof(pub));
	kta_b64_encode(pub, 32, b64);
	(void)snprintf(spec, sizeof(spec), "ed25519:%s:phone:2", b64);
	assert_int_equal(kta_publish_parse_key(spec, strlen(spec), &k, dev, &err), KTA_OK);
	assert_int_equal(k.alg, KTA_ENTRY_ALG_ED25519);
	assert_memory_equal(k.pub, pub, 32);
	assert_string_equal(k.device, "phone:2");
	(void)snprintf(spec, sizeof(spec), "x25519:%s:d", b64);
	assert_int_equal(kta_publish_parse_key(spec, strlen(spec), &k, dev, &err), KTA_OK);
	assert_int_equal(k.alg, KTA_ENTRY_ALG_X25519);
	{
		char bad[8][200];
		char nc[45];

		/* Non-canonical: same bytes but non-zero pad bits in the last character. */
		memcpy(nc, b64, 45);
		nc[42] = nc[42] == 'A' ? 'B' : (char)(nc[42] + 1);
		(void)snprintf(bad[0], 200, "ed25519");
		(void)snprintf(bad[1], 200, "rsa:%s:phone", b64);
		(void)snprintf(bad[2], 200, "ed25519:%s", b64);
		(void)snprintf(bad[3], 200, "ed25519:%s:", b64);
		(void)snprintf(bad[4], 200, "ed25519:AAAA:phone");
		(void)snprintf(bad[5], 200, "ed25519:%s:phone", nc);
		(void)snprintf(bad[6], 200, "ed25519:%s:my phone", b64);
		(void)snprintf(bad[7], 200, "Ed25519:%s:phone", b64);
		for (i = 0; i < 8; i++) {
			kta_error_clear(&err);
			if (kta_publish_parse_key(bad[i], strlen(bad[i]), &k, dev, &err) !=
			    KTA_ERR_MALFORMED)
				fail_msg("accepted key spec %s", bad[i]);
		}
		assert_int_equal(kta_publish_parse_key(bad[1], strlen(bad[1]), &k, dev, &err),
				 KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "unknown algorithm"));
		assert_int_equal(kta_publish_parse_key(bad[2], strlen(bad[2]), &k, dev, &err),
				 KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "device"));
		assert_int_equal(kta_publish_parse_key(bad[5], strlen(bad[5]), &k, dev, &err),
				 KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "canonical"));
	}

	/* The same key twice in one set: entry.h's rules, nothing queued. */
	make_upd(f, &u, "dup", 2, T0);
	u.keys[1] = u.keys[0];
	assert_int_equal(kta_publish_add(p, &u.u, 1, &res, &err), KTA_ERR_USAGE);
	/* Time beyond 2^63-1. */
	make_upd(f, &u, "late", 1, (uint64_t)INT64_MAX + 1);
	assert_int_equal(kta_publish_add(p, &u.u, 1, &res, &err), KTA_ERR_USAGE);
	/* One bad update of a batch: none of it is queued. */
	make_upd(f, &u2[0], "good", 1, T0);
	make_upd(f, &u2[1], "bad label", 1, T0);
	two[0] = u2[0].u;
	two[1] = u2[1].u;
	assert_int_equal(kta_publish_add(p, two, 2, &res, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "update 2"));
	assert_int_equal(kta_publish_info(p, &info, NULL), KTA_OK);
	assert_int_equal(info.queued, 1); /* the 255-byte label only */
	kta_publish_close(p);
}

static void write_text(const char *path, const char *s)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(s, 1, strlen(s), fp), strlen(s));
	assert_int_equal(fclose(fp), 0);
}

static void from_file(void **state)
{
	struct fx *f = *state;
	struct kta_publisher *p = init_open(f);
	struct kta_publish_added res;
	struct kta_publish_info info;
	struct kta_error err;
	struct warns w = {0, ""};
	struct dircheck dc;
	char path[256], b0[45], b1[45], *sk0, *sk3, *text;
	size_t tl = 1 << 16;
	int n;

	kta_publish_set_warn(p, on_warn, &w);
	kta_b64_encode(f->user[0]->pub, 32, b0);
	kta_b64_encode(f->user[1]->pub, 32, b1);
	sk0 = kta_skey_format(f->user[0]);
	sk3 = kta_skey_format(f->user[3]);
	text = malloc(tl);
	assert_true(sk0 && sk3 && text);
	(void)snprintf(path, sizeof(path), "%s/in.jsonl", f->base);
	/* Last line without its newline; keys in any order; default time. */
	n = snprintf(text, tl,
		     "{\"label\":\"carol\",\"keys\":[\"x25519:%s:laptop\",\"ed25519:%s:laptop\"],"
		     "\"time\":%u}\n"
		     "{\"label\":\"dave\",\"keys\":[]}\n"
		     "{\"label\":\"carol\",\"keys\":[\"ed25519:%s:phone\"],\"auth_key\":\"%s\"}\n"
		     "{\"label\":\"carol\",\"keys\":[],\"time\":%u,\"auth_key\":\"%s\"}",
		     b1, b0, T0, b1, sk0, T0 + 5, sk3);
	assert_true(n > 0 && (size_t)n < tl);
	write_text(path, text);
	if (kta_publish_add_file(p, path, T0 + 9, &res, &err) != KTA_OK)
		fail_msg("add_file: %s", err.msg);
	assert_int_equal(res.queued, 4);
	assert_int_equal(res.version, 3);
	assert_int_equal(res.unauthorized, 1); /* user[3] is not in carol v2 */
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.last, "line 4"));
	(void)publish(p, f, 0);
	check_dir(f, 4, 1, &dc);
	free(dc.leaves);

	/* Rejections name the line and queue nothing. */
	{
		static const char *bad[] = {
		    "{\"label\":\"e\",\"keys\":[]}\n\n",                        /* empty line */
		    "{\"label\":\"e\",\"keys\":[]}\r\n",                        /* CR */
		    "not json\n",                                               /* not JSON */
		    "[1,2]\n",                                                  /* not an object */
		    "{\"label\":\"e\",\"keys\":[],\"extra\":1}\n",              /* unknown member */
		    "{\"label\":\"e\"}\n",                                      /* no keys */
		    "{\"keys\":[]}\n",                                          /* no label */
		    "{\"label\":5,\"keys\":[]}\n",                              /* label type */
		    "{\"label\":\"e\",\"keys\":\"x\"}\n",                       /* keys type */
		    "{\"label\":\"e\",\"keys\":[5]}\n",                         /* key type */
		    "{\"label\":\"e\",\"keys\":[\"ed25519:AAAA:x\"]}\n",        /* short key */
		    "{\"label\":\"e\",\"keys\":[],\"time\":-1}\n",              /* negative */
		    "{\"label\":\"e\",\"keys\":[],\"time\":1.5}\n",             /* not integer */
		    "{\"label\":\"e\",\"keys\":[],\"auth_key\":\"PRIVATE\"}\n", /* bad skey */
		    "{\"label\":\"e f\",\"keys\":[]}\n",                        /* bad label */
		    "{\"label\":\"e\\u0000\",\"keys\":[]}\n",                   /* NUL in label */
		    "{\"label\":\"e\",\"label\":\"f\",\"keys\":[]}\n",          /* duplicate */
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			n = snprintf(text, tl, "{\"label\":\"ok\",\"keys\":[]}\n%s", bad[i]);
			write_text(path, text);
			kta_error_clear(&err);
			if (kta_publish_add_file(p, path, T0, &res, &err) == KTA_OK)
				fail_msg("accepted bad line %zu: %s", i, bad[i]);
			if (strstr(err.msg, "line 2") == NULL && strstr(err.msg, "line 3") == NULL)
				fail_msg("error does not name the line: %s", err.msg);
			assert_non_null(strstr(err.msg, path));
		}
	}
	/* An overlong line is a limit error. */
	memset(text, ' ', tl - 1);
	text[tl - 1] = '\0';
	{
		FILE *fp = fopen(path, "w");
		int i;

		assert_non_null(fp);
		for (i = 0; i < 5; i++)
			assert_int_equal(fwrite(text, 1, tl - 1, fp), tl - 1);
		assert_int_equal(fclose(fp), 0);
	}
	assert_int_equal(kta_publish_add_file(p, path, T0, &res, &err), KTA_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "line 1"));
	(void)snprintf(path, sizeof(path), "%s/missing.jsonl", f->base);
	assert_int_equal(kta_publish_add_file(p, path, T0, &res, &err), KTA_ERR_IO);
	assert_int_equal(kta_publish_info(p, &info, NULL), KTA_OK);
	assert_int_equal(info.queued, 0);
	assert_int_equal(info.size, 4);
	free(sk0);
	free(sk3);
	free(text);
	kta_publish_close(p);
}

static void rejects_dir(void **state)
{
	struct fx *f = *state;
	struct kta_publisher *p = NULL;
	struct kta_publish_result pr;
	struct kta_publish_opts o;
	struct kta_error err;
	char path[256], wkey[256];
	uint8_t *c1, *c2;
	size_t l1, l2;
	struct upd u;
	struct kta_publish_added res;

	/* Not initialized. */
	assert_int_equal(kta_publish_open(f->base, &p, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "dir init"));
	assert_null(p);
	/* Bad origins and key files. */
	assert_int_equal(kta_publish_init(f->dir, "", f->key_path, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_publish_init(f->dir, "a\nb", f->key_path, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_publish_init(f->dir, "bad\x01", f->key_path, &err), KTA_ERR_MALFORMED);
	(void)snprintf(wkey, sizeof(wkey), "%s/w.key", f->base);
	write_key_file(wkey, f->wit[0]);
	assert_int_equal(kta_publish_init(f->dir, ORIGIN, wkey, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "witness"));
	(void)snprintf(path, sizeof(path), "%s/none.key", f->base);
	assert_int_equal(kta_publish_init(f->dir, ORIGIN, path, &err), KTA_ERR_IO);
	write_text(path, "PRIVATE+KEY+x+00000000+AAAA\n");
	assert_int_equal(kta_publish_init(f->dir, ORIGIN, path, &err), KTA_ERR_MALFORMED);
	/* Nothing was created by the failures. */
	assert_false(exists_rel(f->base, "d"));
	/* Not empty. */
	assert_int_equal(kta_publish_init(f->base, ORIGIN, f->key_path, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "not empty"));
	p = init_open(f);
	assert_int_equal(kta_publish_init(f->dir, ORIGIN, f->key_path, &err), KTA_ERR_USAGE);

	/* A log key offered as a witness: refused before anything is written. */
	make_upd(f, &u, "x", 1, T0);
	assert_int_equal(kta_publish_add(p, &u.u, 1, &res, NULL), KTA_OK);
	c1 = read_rel(f->dir, "checkpoint", &l1);
	memset(&o, 0, sizeof(o));
	o.witnesses = (const struct kta_skey *const *)&f->log;
	o.nwitnesses = 1;
	assert_int_equal(kta_publish_run(p, &o, &pr, &err), KTA_ERR_USAGE);
	c2 = read_rel(f->dir, "checkpoint", &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(c1, c2, l1);
	free(c1);
	free(c2);
	assert_false(exists_rel(f->dir, "tile/0/000.p/1"));

	/* A replaced key file: the served checkpoint no longer verifies. */
	assert_int_equal(unlink(f->key_path), 0);
	{
		struct kta_skey *other = seed_key(ORIGIN, KTA_KEY_ED25519, 99);

		write_key_file(f->key_path, other);
		kta_skey_free(other);
	}
	memset(&o, 0, sizeof(o));
	assert_int_equal(kta_publish_run(p, &o, &pr, &err), KTA_ERR_IO);
	assert_non_null(strstr(err.msg, "checkpoint"));
	/* A damaged tile is refused rather than built upon. */
	assert_int_equal(unlink(f->key_path), 0);
	write_key_file(f->key_path, f->log);
	(void)publish(p, f, 0);
	(void)snprintf(path, sizeof(path), "%s/tile/0/000.p/1", f->dir);
	write_text(path, "0123456789abcdef0123456789abcdef");
	assert_int_equal(kta_publish_add(p, &u.u, 1, &res, NULL), KTA_OK);
	assert_int_equal(kta_publish_run(p, &o, &pr, &err), KTA_ERR_IO);
	if (strstr(err.msg, "does not match hash tile") == NULL)
		fail_msg("%s", err.msg);
	/* Bundle and tile damaged consistently: the root no longer matches. */
	{
		static const uint8_t bundle[] = {0, 1, 'x'};
		uint8_t lh[32];

		kta_hash_leaf(f->h, bundle + 2, 1, lh);
		assert_int_equal(kta_file_write_atomic(path, lh, 32, 0644, NULL), KTA_OK);
		(void)snprintf(path, sizeof(path), "%s/tile/entries/000.p/1", f->dir);
		assert_int_equal(kta_file_write_atomic(path, bundle, 3, 0644, NULL), KTA_OK);
	}
	assert_int_equal(kta_publish_run(p, &o, &pr, &err), KTA_ERR_IO);
	if (strstr(err.msg, "recorded root") == NULL)
		fail_msg("%s", err.msg);
	kta_publish_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(init_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(basic_flow, setup, teardown),
	    cmocka_unit_test_setup_teardown(tile_boundaries, setup, teardown),
	    cmocka_unit_test_setup_teardown(crash_injection, setup, teardown),
	    cmocka_unit_test_setup_teardown(crash_after_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(noop_and_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(rejects_add, setup, teardown),
	    cmocka_unit_test_setup_teardown(from_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(rejects_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
