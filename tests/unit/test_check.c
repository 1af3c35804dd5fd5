/*
 * Unit tests for `ktaudit check` logic (ktaudit/check.h) on directories built
 * in a temporary directory with the reference publisher (publish.h) or, for
 * misbehaviour the publisher refuses to produce (version skips, equivocation,
 * malformed entries), written tile by tile here. Read through file:// URLs.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktaudit/check.h"
#include "ktaudit/encoding.h"
#include "ktaudit/file.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"
#include "ktaudit/note.h"
#include "ktaudit/publish.h"
#include "ktaudit/tile.h"

#define ORIGIN "example.com/dir"
#define T0 1764143000u

struct env {
	char tmp[64];             /* the test's temporary directory */
	char keypath[128];        /* the log's private key file */
	struct kta_skey *log;     /* the log key */
	struct kta_skey *alice;   /* alice's phone signing key (ed25519) */
	struct kta_skey *bob;     /* bob's laptop signing key */
	struct kta_skey *w1;      /* a witness (cosignature/v1) */
	char logv[256], w1v[256]; /* verifier keys */
	char apub[64], axpub[64], bpub[64], ghost[64], other[64];
	struct kta_fetch_opts fo;
};

static void skey(const char *name, enum kta_key_type t, uint8_t fill, struct kta_skey **out)
{
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	assert_int_equal(kta_skey_from_seed(name, t, seed, out, NULL), KTA_OK);
}

static void vkey_str(const struct kta_skey *k, char *out, size_t cap)
{
	struct kta_vkey *v = NULL;
	char *s;

	assert_int_equal(kta_skey_vkey(k, &v, NULL), KTA_OK);
	s = kta_vkey_format(v);
	assert_non_null(s);
	tu_copy_str(out, cap, s);
	free(s);
	kta_vkey_free(v);
}

static void b64_fill(uint8_t fill, char *out)
{
	uint8_t k[32];

	memset(k, fill, sizeof(k));
	kta_b64_encode(k, 32, out);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char *s;

	assert_non_null(e);
	strcpy(e->tmp, "/tmp/kta_check_XXXXXX");
	assert_non_null(mkdtemp(e->tmp));
	skey(ORIGIN, KTA_KEY_ED25519, 1, &e->log);
	skey("alice-phone", KTA_KEY_ED25519, 2, &e->alice);
	skey("bob-laptop", KTA_KEY_ED25519, 3, &e->bob);
	skey("w1.example", KTA_KEY_COSIGNATURE_V1, 4, &e->w1);
	vkey_str(e->log, e->logv, sizeof(e->logv));
	vkey_str(e->w1, e->w1v, sizeof(e->w1v));
	kta_b64_encode(e->alice->pub, 32, e->apub);
	kta_b64_encode(e->bob->pub, 32, e->bpub);
	b64_fill(0x51, e->axpub);
	b64_fill(0x66, e->ghost);
	b64_fill(0x77, e->other);
	(void)snprintf(e->keypath, sizeof(e->keypath), "%s/log.key", e->tmp);
	s = kta_skey_format(e->log);
	assert_non_null(s);
	assert_int_equal(
	    kta_file_create_excl(e->keypath, (const uint8_t *)s, strlen(s), 0600, NULL), KTA_OK);
	free(s);
	kta_fetch_opts_init(&e->fo);
	e->fo.max_retries = 0;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	assert_int_equal(tu_rm_tree(e->tmp), 0);
	kta_skey_free(e->log);
	kta_skey_free(e->alice);
	kta_skey_free(e->bob);
	kta_skey_free(e->w1);
	free(e);
	return 0;
}

/* ---- directories -------------------------------------------------------- */

static void path_of(const struct env *e, const char *name, char *out, size_t cap)
{
	(void)snprintf(out, cap, "%s/%s", e->tmp, name);
}

static void dir_init(const struct env *e, const char *name)
{
	char d[256];
	struct kta_error err;

	path_of(e, name, d, sizeof(d));
	if (kta_publish_init(d, ORIGIN, e->keypath, &err) != KTA_OK)
		fail_msg("init %s: %s", d, err.msg);
}

/* Queues one update: keys are "ALG:B64:DEVICE" specs; auth may be NULL. */
static void dir_add(const struct env *e, const char *name, const char *label,
		    const struct kta_skey *auth, const char *k1, const char *k2, const char *k3)
{
	const char *specs[3] = {k1, k2, k3};
	char devs[3][KTA_DEVICE_MAX_LEN + 1], d[256];
	struct kta_entry_key keys[3];
	struct kta_publish_update u;
	struct kta_publish_added added;
	struct kta_publisher *p = NULL;
	struct kta_error err;
	size_t n = 0, i;

	for (i = 0; i < 3; i++)
		if (specs[i] != NULL) {
			assert_int_equal(kta_publish_parse_key(specs[i], strlen(specs[i]), &keys[n],
							       devs[n], &err),
					 KTA_OK);
			n++;
		}
	memset(&u, 0, sizeof(u));
	u.label = label;
	u.keys = keys;
	u.nkeys = n;
	u.time = T0;
	u.auth_key = auth;
	path_of(e, name, d, sizeof(d));
	assert_int_equal(kta_publish_open(d, &p, &err), KTA_OK);
	if (kta_publish_add(p, &u, 1, &added, &err) != KTA_OK)
		fail_msg("add: %s", err.msg);
	kta_publish_close(p);
}

static void dir_publish(const struct env *e, const char *name)
{
	const struct kta_skey *w[1] = {e->w1};
	struct kta_publish_opts o;
	struct kta_publish_result res;
	struct kta_publisher *p = NULL;
	struct kta_error err;
	char d[256];

	memset(&o, 0, sizeof(o));
	o.witnesses = w;
	o.nwitnesses = 1;
	o.now = T0;
	path_of(e, name, d, sizeof(d));
	assert_int_equal(kta_publish_open(d, &p, &err), KTA_OK);
	if (kta_publish_run(p, &o, &res, &err) != KTA_OK)
		fail_msg("publish: %s", err.msg);
	kta_publish_close(p);
}

/* cp -a e->tmp/from e->tmp/to (no shell); fails the test unless cp succeeds. */
static void dir_copy(const struct env *e, const char *from, const char *to)
{
	char src[512], dst[512];
	const char *argv[] = {"cp", "-a", src, dst, NULL};
	int n;

	n = snprintf(src, sizeof(src), "%s/%s", e->tmp, from);
	assert_true(n > 0 && (size_t)n < sizeof(src));
	n = snprintf(dst, sizeof(dst), "%s/%s", e->tmp, to);
	assert_true(n > 0 && (size_t)n < sizeof(dst));
	assert_int_equal(tu_run(argv, 0), 0);
}

/* Writes a log of the given entries (fewer than 256) tile by tile, signed by e->log. */
static void raw_log(const struct env *e, const char *name, const char *const *entries, size_t n)
{
	uint8_t leaves[KTA_TILE_WIDTH][32], root[32], *note = NULL;
	uint8_t *bundle = malloc(KTA_TILE_BUNDLE_MAX);
	struct kta_hasher *h = NULL;
	char d[256], p[512], tp[KTA_TILE_PATH_MAX], text[256], b64[KTA_B64_ENCODED_LEN(32) + 1];
	size_t i, blen = 0, nlen = 0;

	assert_non_null(bundle);
	assert_true(n < KTA_TILE_WIDTH);
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	path_of(e, name, d, sizeof(d));
	for (i = 0; i < n; i++) {
		size_t len = strlen(entries[i]);

		kta_hash_leaf(h, (const uint8_t *)entries[i], len, leaves[i]);
		bundle[blen++] = (uint8_t)(len >> 8);
		bundle[blen++] = (uint8_t)len;
		memcpy(bundle + blen, entries[i], len);
		blen += len;
	}
	assert_int_equal(kta_merkle_root(h, (const uint8_t(*)[32])leaves, n, root, NULL), KTA_OK);
	if (n > 0) {
		assert_int_equal(kta_tile_entries_path(0, (unsigned)n, tp, sizeof(tp), NULL),
				 KTA_OK);
		(void)snprintf(p, sizeof(p), "%s/%s", d, tp);
		*strrchr(p, '/') = '\0';
		assert_int_equal(kta_file_mkdirs(p, 0755, NULL), KTA_OK);
		(void)snprintf(p, sizeof(p), "%s/%s", d, tp);
		assert_int_equal(kta_file_write_atomic(p, bundle, blen, 0644, NULL), KTA_OK);
		assert_int_equal(kta_tile_path(0, 0, (unsigned)n, tp, sizeof(tp), NULL), KTA_OK);
		(void)snprintf(p, sizeof(p), "%s/%s", d, tp);
		*strrchr(p, '/') = '\0';
		assert_int_equal(kta_file_mkdirs(p, 0755, NULL), KTA_OK);
		(void)snprintf(p, sizeof(p), "%s/%s", d, tp);
		assert_int_equal(kta_file_write_atomic(p, &leaves[0][0], 32 * n, 0644, NULL),
				 KTA_OK);
	} else {
		assert_int_equal(kta_file_mkdirs(d, 0755, NULL), KTA_OK);
	}
	kta_b64_encode(root, 32, b64);
	(void)snprintf(text, sizeof(text), "%s\n%zu\n%s\n", ORIGIN, n, b64);
	assert_int_equal(
	    kta_note_sign((const uint8_t *)text, strlen(text), e->log, &note, &nlen, NULL), KTA_OK);
	(void)snprintf(p, sizeof(p), "%s/checkpoint", d);
	assert_int_equal(kta_file_write_atomic(p, note, nlen, 0644, NULL), KTA_OK);
	free(note);
	free(bundle);
	kta_hasher_free(h);
}

/* A keydir/v1 entry with one ed25519 key (malloc'd into a static pool). */
static const char *entry(const char *label, unsigned version, const char *b64)
{
	static char pool[16][512];
	static size_t next;
	char *s = pool[next++ % 16];

	(void)snprintf(s, 512, "keydir/v1\nlabel %s\nversion %u\ntime %u\nkey ed25519 %s phone\n",
		       label, version, T0, b64);
	return s;
}

/* ---- running checks ------------------------------------------------------ */

struct outcome {
	struct kta_report *rep;
	struct kta_check_result res;
	json_t *j; /* the JSON report */
	int code;
};

static void outcome_free(struct outcome *o)
{
	kta_report_free(o->rep);
	json_decref(o->j);
	memset(o, 0, sizeof(*o));
}

static void finish(struct outcome *o)
{
	char *text = NULL;
	size_t len = 0;
	json_error_t je;

	assert_int_equal(kta_report_render(o->rep, KTA_REPORT_JSON, &text, &len, NULL), KTA_OK);
	o->j = json_loads(text, 0, &je);
	assert_non_null(o->j);
	free(text);
	o->code = kta_report_exit_code(o->rep);
}

/* Pin text: head, optional checkpoint (size, root), then `labels` lines. */
static void run_pins(const struct env *e, const char *dirname, int with_cp, uint64_t size,
		     const uint8_t root[32], const char *labels, int lookups, int allow,
		     struct outcome *o)
{
	char text[8192], url[512], cp[128] = "", b64[KTA_B64_ENCODED_LEN(32) + 1];
	struct kta_pins *pins = NULL;
	struct kta_check_opts opts;
	struct kta_error err;

	memset(o, 0, sizeof(*o));
	if (dirname[0] == '/')
		(void)snprintf(url, sizeof(url), "file://%s/", dirname);
	else
		(void)snprintf(url, sizeof(url), "file://%s/%s/", e->tmp, dirname);
	if (with_cp) {
		kta_b64_encode(root, 32, b64);
		(void)snprintf(cp, sizeof(cp), "checkpoint %llu %s\n", (unsigned long long)size,
			       b64);
	}
	(void)snprintf(text, sizeof(text),
		       KTA_PINS_HEADER "\nlog " ORIGIN
				       "\nurl %s\nkey %s\nwitness %s\nquorum 1\n%s%s",
		       url, e->logv, e->w1v, cp, labels);
	if (kta_pins_parse((const uint8_t *)text, strlen(text), "pins", &pins, &err) != KTA_OK)
		fail_msg("pins: %s\n%s", err.msg, text);
	kta_check_opts_init(&opts);
	opts.now = T0 + 60;
	opts.lookups_only = lookups;
	opts.allow_unauthorized = allow;
	opts.fetch = &e->fo;
	assert_int_equal(kta_report_new("ktaudit check", &o->rep, NULL), KTA_OK);
	if (kta_check_pins(pins, &opts, o->rep, &o->res, &err) != KTA_OK)
		fail_msg("check: %s", err.msg);
	kta_pins_free(pins);
	finish(o);
}

static void run_candidate(const struct env *e, const char *cand, const char *pub, int allow,
			  struct outcome *o)
{
	struct kta_check_candidate cd;
	struct kta_check_opts opts;
	struct kta_vkey *k = NULL;
	struct kta_error err;
	char cdir[256], url[512];

	memset(o, 0, sizeof(*o));
	path_of(e, cand, cdir, sizeof(cdir));
	(void)snprintf(url, sizeof(url), "file://%s/%s/", e->tmp, pub);
	assert_int_equal(kta_vkey_parse(e->logv, strlen(e->logv), &k, NULL), KTA_OK);
	memset(&cd, 0, sizeof(cd));
	cd.dir = cdir;
	cd.published = url;
	cd.log_key = k;
	kta_check_opts_init(&opts);
	opts.now = T0 + 60;
	opts.allow_unauthorized = allow;
	opts.fetch = &e->fo;
	assert_int_equal(kta_report_new("ktaudit check", &o->rep, NULL), KTA_OK);
	if (kta_check_candidate(&cd, &opts, o->rep, &o->res, &err) != KTA_OK)
		fail_msg("check: %s", err.msg);
	kta_vkey_free(k);
	finish(o);
}

/* The check (group, name) of the JSON report, or NULL. */
static json_t *check_of(const struct outcome *o, const char *group, const char *name)
{
	json_t *cs = json_object_get(o->j, "checks"), *c;
	size_t i;

	json_array_foreach(cs, i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "group")), group) == 0 &&
		    strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
			return c;
	}
	return NULL;
}

/* Asserts the status of (group, name) and that its message contains `msg`. */
static void want_check(const struct outcome *o, const char *group, const char *name,
		       const char *status, const char *msg)
{
	json_t *c = check_of(o, group, name);
	const char *st, *m;

	if (c == NULL)
		fail_msg("no check %s %s", group, name);
	st = json_string_value(json_object_get(c, "status"));
	m = json_string_value(json_object_get(c, "message"));
	if (strcmp(st, status) != 0 || (msg != NULL && strstr(m, msg) == NULL))
		fail_msg("%s %s: %s \"%s\", want %s \"%s\"", group, name, st, m, status,
			 msg ? msg : "");
}

/* The findings of the report with kind `kind` (count). */
static size_t count_findings(const struct outcome *o, const char *kind, const char *status)
{
	json_t *fs = json_object_get(o->j, "findings"), *f;
	size_t i, n = 0;

	json_array_foreach(fs, i, f)
	{
		json_t *a = json_object_get(f, "alert");

		if (strcmp(json_string_value(json_object_get(a, "kind")), kind) == 0 &&
		    strcmp(json_string_value(json_object_get(f, "status")), status) == 0)
			n++;
	}
	return n;
}

/* The details object of the first finding of `kind`. */
static json_t *finding_details(const struct outcome *o, const char *kind)
{
	json_t *fs = json_object_get(o->j, "findings"), *f;
	size_t i;

	json_array_foreach(fs, i, f)
	{
		json_t *a = json_object_get(f, "alert");

		if (strcmp(json_string_value(json_object_get(a, "kind")), kind) == 0)
			return json_object_get(a, "details");
	}
	return NULL;
}

/* The pin line of alice's base key set. */
static void base_label(const struct env *e, char alabel[512])
{
	(void)snprintf(alabel, 512, "label alice@example.org x25519:%s:phone ed25519:%s:phone\n",
		       e->axpub, e->apub);
}

/* A directory "d": alice v1 (phone ed25519 + x25519), bob v1; published (size 2). */
static void base_dir(const struct env *e, char alabel[512])
{
	char ak[128], axk[128], bk[128];

	(void)snprintf(ak, sizeof(ak), "ed25519:%s:phone", e->apub);
	(void)snprintf(axk, sizeof(axk), "x25519:%s:phone", e->axpub);
	(void)snprintf(bk, sizeof(bk), "ed25519:%s:laptop", e->bpub);
	dir_init(e, "d");
	dir_add(e, "d", "alice@example.org", NULL, ak, axk, NULL);
	dir_add(e, "d", "bob@example.org", NULL, bk, NULL, NULL);
	dir_publish(e, "d");
	(void)snprintf(alabel, 512, "label alice@example.org %s %s\n", axk, ak);
}

/* ---- pins ------------------------------------------------------------- */

static void pins_first_use_then_pass(void **state)
{
	struct env *e = *state;
	struct outcome o, o2;
	char lab[512], ak[128], axk[128], bk[128];

	base_dir(e, lab);
	run_pins(e, "d", 0, 0, NULL, lab, 0, 0, &o);
	assert_int_equal(o.code, 0);
	want_check(&o, "log", "checkpoint", "pass", "cosigned by 1 of 1 witnesses");
	want_check(&o, "log", "consistency", "warn", "on first use");
	want_check(&o, "replay", "entries", "pass", "2 entries replayed");
	want_check(&o, "replay", "versions", "pass", "2 labels");
	want_check(&o, "replay", "authorization", "pass", NULL);
	want_check(&o, "label", "alice@example.org", "pass", "keys match the approved set (2");
	assert_true(o.res.verified);
	assert_true(o.res.first_use);
	assert_int_equal(o.res.size, 2);
	assert_int_equal(o.res.baseline, 2);
	assert_int_equal(o.res.entries, 2);

	/* Owner-authorized updates after the pin, alice's keys unchanged: pass. */
	(void)snprintf(ak, sizeof(ak), "ed25519:%s:phone", e->apub);
	(void)snprintf(axk, sizeof(axk), "x25519:%s:phone", e->axpub);
	(void)snprintf(bk, sizeof(bk), "ed25519:%s:laptop", e->bpub);
	dir_add(e, "d", "alice@example.org", e->alice, ak, axk, NULL);
	dir_add(e, "d", "bob@example.org", e->bob, bk, NULL, NULL);
	dir_add(e, "d", "carol@example.org", NULL, bk, NULL, NULL);
	dir_publish(e, "d");
	run_pins(e, "d", 1, o.res.size, o.res.root, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 0);
	want_check(&o2, "log", "consistency", "pass", "size 2 -> 5");
	want_check(&o2, "label", "alice@example.org", "pass", "version 2 (leaf 2)");
	want_check(&o2, "replay", "authorization", "pass",
		   "3 entries since the pinned checkpoint (leaf 2 on): 2 owner-authorized, 1 "
		   "first versions, 0 unauthorized");
	assert_false(o2.res.first_use);
	assert_int_equal(o2.res.new_entries, 3);
	assert_int_equal(o2.res.owner_authorized, 2);
	assert_int_equal(o2.res.first_versions, 1);
	outcome_free(&o2);
	outcome_free(&o);
}

static void pins_same_tree(void **state)
{
	struct env *e = *state;
	struct outcome o, o2;
	char lab[512];

	base_dir(e, lab);
	run_pins(e, "d", 0, 0, NULL, lab, 0, 0, &o);
	run_pins(e, "d", 1, o.res.size, o.res.root, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 0);
	want_check(&o2, "log", "consistency", "pass", "same tree as the pinned checkpoint");
	outcome_free(&o2);
	outcome_free(&o);
}

static void pins_key_replaced(void **state)
{
	struct env *e = *state;
	struct outcome o, o2;
	char lab[512], nk[128], axk[128];
	json_t *d;

	base_dir(e, lab);
	run_pins(e, "d", 0, 0, NULL, lab, 0, 0, &o);
	/* alice's phone gets a new ed25519 key, signed by her old one. */
	(void)snprintf(nk, sizeof(nk), "ed25519:%s:phone", e->other);
	(void)snprintf(axk, sizeof(axk), "x25519:%s:phone", e->axpub);
	dir_add(e, "d", "alice@example.org", e->alice, nk, axk, NULL);
	dir_publish(e, "d");
	run_pins(e, "d", 1, o.res.size, o.res.root, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 1);
	want_check(&o2, "label", "alice@example.org", "fail",
		   "key set differs from the pinned set: 0 added, 0 removed, 1 replaced "
		   "(owner-authorized)");
	want_check(&o2, "replay", "authorization", "pass", "1 owner-authorized");
	assert_int_equal(count_findings(&o2, "key_changed", "fail"), 1);
	d = finding_details(&o2, "key_changed");
	assert_int_equal(json_array_size(json_object_get(d, "replaced")), 1);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(d, "replaced"), 0), "new")),
			    e->other);
	outcome_free(&o2);
	outcome_free(&o);
}

static void pins_ghost_key(void **state)
{
	struct env *e = *state;
	struct outcome o, o2;
	char lab[512], ak[128], axk[128], gk[128];
	json_t *d;

	base_dir(e, lab);
	run_pins(e, "d", 0, 0, NULL, lab, 0, 0, &o);
	/* The provider adds a device to alice's label, signed by nobody. */
	(void)snprintf(ak, sizeof(ak), "ed25519:%s:phone", e->apub);
	(void)snprintf(axk, sizeof(axk), "x25519:%s:phone", e->axpub);
	(void)snprintf(gk, sizeof(gk), "x25519:%s:ghost", e->ghost);
	dir_add(e, "d", "alice@example.org", NULL, ak, axk, gk);
	dir_publish(e, "d");
	run_pins(e, "d", 1, o.res.size, o.res.root, lab, 0, 1, &o2);
	assert_int_equal(o2.code, 1);
	want_check(&o2, "label", "alice@example.org", "fail", "1 added, 0 removed, 0 replaced");
	/* Unauthorized on a pinned label fails even with allow_unauthorized. */
	want_check(&o2, "replay", "authorization", "fail", "1 unauthorized");
	assert_int_equal(count_findings(&o2, "unauthorized_update", "fail"), 1);
	d = finding_details(&o2, "key_changed");
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(d, "added"), 0), "device")),
			    "ghost");
	outcome_free(&o2);
	outcome_free(&o);
}

static void pins_unauthorized_unpinned(void **state)
{
	struct env *e = *state;
	struct outcome o, o2;
	char lab[512], nk[128];

	base_dir(e, lab);
	run_pins(e, "d", 0, 0, NULL, lab, 0, 0, &o);
	/* bob (not pinned) is reset by the provider. */
	(void)snprintf(nk, sizeof(nk), "ed25519:%s:laptop", e->other);
	dir_add(e, "d", "bob@example.org", NULL, nk, NULL, NULL);
	dir_publish(e, "d");
	run_pins(e, "d", 1, o.res.size, o.res.root, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 1);
	want_check(&o2, "replay", "authorization", "fail", "1 unauthorized");
	want_check(&o2, "label", "alice@example.org", "pass", NULL);
	assert_int_equal(o2.res.unauthorized, 1);
	outcome_free(&o2);
	/* Tolerated for unpinned labels with allow_unauthorized. */
	run_pins(e, "d", 1, o.res.size, o.res.root, lab, 0, 1, &o2);
	assert_int_equal(o2.code, 0);
	want_check(&o2, "replay", "authorization", "warn", "0 failing, 1 warning findings");
	assert_int_equal(count_findings(&o2, "unauthorized_update", "warn"), 1);
	outcome_free(&o2);
	/* Before the pinned checkpoint it was accepted already: a warning. */
	run_pins(e, "d", 0, 0, NULL, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 0);
	want_check(&o2, "replay", "authorization", "warn", NULL);
	outcome_free(&o2);
	outcome_free(&o);
}

static void pins_fork_and_rollback(void **state)
{
	struct env *e = *state;
	struct outcome o, o2;
	char lab[512], bk[128];

	base_dir(e, lab);
	dir_copy(e, "d", "old");
	(void)snprintf(bk, sizeof(bk), "ed25519:%s:laptop", e->bpub);
	dir_add(e, "d", "bob@example.org", e->bob, bk, NULL, NULL);
	dir_publish(e, "d");
	run_pins(e, "d", 0, 0, NULL, lab, 0, 0, &o);
	assert_int_equal(o.code, 0);
	assert_int_equal(o.res.size, 3);

	/* Rollback: the older copy (size 2) against the pin at size 3. */
	run_pins(e, "old", 1, o.res.size, o.res.root, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 1);
	want_check(&o2, "log", "consistency", "fail", "rollback: the directory serves size 2");
	want_check(&o2, "label", "alice@example.org", "skip", "not consistent");
	want_check(&o2, "replay", "entries", "skip", NULL);
	assert_false(o2.res.first_use);
	outcome_free(&o2);

	/* Fork: another directory, same key, same size, other entries. */
	dir_init(e, "fork");
	dir_add(e, "fork", "mallory@example.org", NULL, bk, NULL, NULL);
	dir_add(e, "fork", "alice@example.org", NULL, bk, NULL, NULL);
	dir_add(e, "fork", "bob@example.org", NULL, bk, NULL, NULL);
	dir_publish(e, "fork");
	run_pins(e, "fork", 1, o.res.size, o.res.root, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 1);
	want_check(&o2, "log", "checkpoint", "pass", NULL);
	want_check(&o2, "log", "consistency", "fail", "fork: size 3 has root");
	outcome_free(&o2);
	/* ... and larger, still not an extension. */
	dir_add(e, "fork", "zed@example.org", NULL, bk, NULL, NULL);
	dir_publish(e, "fork");
	run_pins(e, "fork", 1, o.res.size, o.res.root, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 1);
	want_check(&o2, "log", "consistency", "fail",
		   "fork: the tree of size 4 does not extend the pinned size 3");
	outcome_free(&o2);
	/* A pinned size-0 tree whose root is not the empty hash. */
	run_pins(e, "d", 1, 0, o.res.root, lab, 0, 0, &o2);
	assert_int_equal(o2.code, 1);
	want_check(&o2, "log", "consistency", "fail", "not the empty hash");
	outcome_free(&o2);
	outcome_free(&o);
}

static void pins_unreachable(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[512];

	base_dir(e, lab);
	run_pins(e, "nowhere", 0, 0, NULL, lab, 0, 0, &o);
	assert_int_equal(o.code, 3);
	want_check(&o, "log", "checkpoint", "error", "could not fetch");
	want_check(&o, "log", "consistency", "skip", NULL);
	want_check(&o, "label", "alice@example.org", "skip", NULL);
	assert_false(o.res.verified);
	outcome_free(&o);
}

static void pins_checkpoint_policy(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[512];

	/* A checkpoint without the witness cosignature: quorum 1 not met. */
	raw_log(e, "raw", (const char *const[]){entry("alice@example.org", 1, e->apub)}, 1);
	(void)snprintf(lab, sizeof(lab), "label alice@example.org ed25519:%s:phone\n", e->apub);
	run_pins(e, "raw", 0, 0, NULL, lab, 0, 0, &o);
	assert_int_equal(o.code, 1);
	want_check(&o, "log", "checkpoint", "fail", "quorum");
	want_check(&o, "label", "alice@example.org", "skip", "no verified checkpoint");
	outcome_free(&o);
}

/* Raw logs: what the publisher refuses to write. */
static void pins_version_findings(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[512];
	const char *skip[] = {entry("alice@example.org", 1, e->apub),
			      entry("bob@example.org", 1, e->bpub),
			      entry("alice@example.org", 3, e->apub)};
	const char *equiv[] = {entry("alice@example.org", 1, e->apub),
			       entry("alice@example.org", 1, e->other)};
	const char *bad[] = {entry("alice@example.org", 1, e->apub), "keydir/v1\nnonsense\n"};

	(void)snprintf(lab, sizeof(lab), "label alice@example.org ed25519:%s:phone\n", e->apub);
	/* Witness quorum 0 here: the raw logs have no cosignature. */
	raw_log(e, "skip", skip, 3);
	raw_log(e, "equiv", equiv, 2);
	raw_log(e, "bad", bad, 2);
	{
		struct kta_pins *pins = NULL;
		struct kta_check_opts opts;
		char text[2048];
		const char *names[] = {"skip", "equiv", "bad"};
		const char *cat[] = {"versions", "versions", "entries"};
		const char *kind[] = {"version_skip", "version_equivocation", "malformed_entry"};
		size_t i;

		for (i = 0; i < 3; i++) {
			(void)snprintf(text, sizeof(text),
				       KTA_PINS_HEADER "\nlog " ORIGIN
						       "\nurl file://%s/%s/\nkey %s\n%s",
				       e->tmp, names[i], e->logv, lab);
			assert_int_equal(
			    kta_pins_parse((const uint8_t *)text, strlen(text), "p", &pins, NULL),
			    KTA_OK);
			kta_check_opts_init(&opts);
			opts.now = T0;
			opts.fetch = &e->fo;
			memset(&o, 0, sizeof(o));
			assert_int_equal(kta_report_new("t", &o.rep, NULL), KTA_OK);
			assert_int_equal(kta_check_pins(pins, &opts, o.rep, &o.res, NULL), KTA_OK);
			finish(&o);
			/* Critical findings fail even on first use (before the baseline). */
			assert_int_equal(o.code, 1);
			want_check(&o, "replay", cat[i], "fail", "1 failing");
			assert_int_equal(count_findings(&o, kind[i], "fail"), 1);
			outcome_free(&o);
			kta_pins_free(pins);
		}
	}
}

/* A bad auth signature: an alert-level finding, so on first use (before the
 * baseline) it warns; after a pinned checkpoint it fails. */
static void pins_bad_auth_signature(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[512], v2[512], zero[KTA_B64_ENCODED_LEN(64) + 1];
	uint8_t z[64] = {0};
	const char *ents[3];
	uint8_t root[32];

	kta_b64_encode(z, 64, zero);
	(void)snprintf(v2, sizeof(v2), "%sauth ed25519 %s %s\n",
		       entry("alice@example.org", 2, e->apub), e->apub, zero);
	ents[0] = entry("alice@example.org", 1, e->apub);
	ents[1] = entry("bob@example.org", 1, e->bpub);
	ents[2] = v2;
	raw_log(e, "small", ents, 2);
	raw_log(e, "auth", ents, 3);
	(void)snprintf(lab, sizeof(lab), "label alice@example.org ed25519:%s:phone\n", e->apub);
	{
		struct kta_pins *pins = NULL;
		struct kta_check_opts opts;
		char text[2048], b64[KTA_B64_ENCODED_LEN(32) + 1];
		int pinned, tn;

		for (pinned = 0; pinned < 2; pinned++) {
			/* the root of "small" (size 2), from a first-use run */
			tn = snprintf(text, sizeof(text),
				      KTA_PINS_HEADER "\nlog " ORIGIN
						      "\nurl file://%s/%s/\nkey %s\n%s%s%s%s",
				      e->tmp, pinned ? "auth" : "small", e->logv,
				      pinned ? "checkpoint 2 " : "", pinned ? b64 : "",
				      pinned ? "\n" : "", lab);
			assert_true(tn > 0 && (size_t)tn < sizeof(text));
			assert_int_equal(
			    kta_pins_parse((const uint8_t *)text, strlen(text), "p", &pins, NULL),
			    KTA_OK);
			kta_check_opts_init(&opts);
			opts.now = T0;
			opts.fetch = &e->fo;
			memset(&o, 0, sizeof(o));
			assert_int_equal(kta_report_new("t", &o.rep, NULL), KTA_OK);
			assert_int_equal(kta_check_pins(pins, &opts, o.rep, &o.res, NULL), KTA_OK);
			finish(&o);
			kta_pins_free(pins);
			if (!pinned) {
				assert_int_equal(o.code, 0);
				memcpy(root, o.res.root, 32);
				kta_b64_encode(root, 32, b64);
				outcome_free(&o);
				continue;
			}
			assert_int_equal(o.code, 1);
			want_check(&o, "replay", "authorization", "fail",
				   "1 with a bad auth signature");
			assert_int_equal(count_findings(&o, "bad_auth_signature", "fail"), 1);
			want_check(&o, "label", "alice@example.org", "fail",
				   "failing replay findings");
			outcome_free(&o);
		}
	}
	/* First use of the larger log: the same finding only warns. */
	{
		struct kta_pins *pins = NULL;
		struct kta_check_opts opts;
		char text[2048];

		(void)snprintf(text, sizeof(text),
			       KTA_PINS_HEADER "\nlog " ORIGIN "\nurl file://%s/auth/\nkey %s\n%s",
			       e->tmp, e->logv, lab);
		assert_int_equal(
		    kta_pins_parse((const uint8_t *)text, strlen(text), "p", &pins, NULL), KTA_OK);
		kta_check_opts_init(&opts);
		opts.now = T0;
		opts.fetch = &e->fo;
		memset(&o, 0, sizeof(o));
		assert_int_equal(kta_report_new("t", &o.rep, NULL), KTA_OK);
		assert_int_equal(kta_check_pins(pins, &opts, o.rep, &o.res, NULL), KTA_OK);
		finish(&o);
		kta_pins_free(pins);
		assert_int_equal(o.code, 0);
		want_check(&o, "replay", "authorization", "warn", "0 failing, 2 warning");
		want_check(&o, "label", "alice@example.org", "warn", "2 warning findings");
		outcome_free(&o);
	}
}

static void pins_label_absent(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[1024];

	base_dir(e, lab);
	(void)snprintf(lab, sizeof(lab),
		       "label nobody@example.org\nlabel ghost@example.org ed25519:%s:phone\n",
		       e->apub);
	run_pins(e, "d", 0, 0, NULL, lab, 0, 0, &o);
	assert_int_equal(o.code, 1);
	want_check(&o, "label", "nobody@example.org", "pass", "pinned with no keys");
	want_check(&o, "label", "ghost@example.org", "fail", "not in the log");
	outcome_free(&o);
	run_pins(e, "d", 0, 0, NULL, lab, 1, 0, &o);
	assert_int_equal(o.code, 1);
	want_check(&o, "label", "nobody@example.org", "pass", "no lookup answer");
	want_check(&o, "label", "ghost@example.org", "fail", "no lookup answer");
	assert_null(check_of(&o, "replay", "entries"));
	outcome_free(&o);
}

static void lookups_only(void **state)
{
	struct env *e = *state;
	struct outcome o, o2;
	char lab[512], bk[128], nk[128], axk[128], path[512];
	uint8_t *buf = NULL;
	size_t len = 0;

	base_dir(e, lab);
	dir_copy(e, "d/checkpoint", "old.checkpoint");
	run_pins(e, "d", 0, 0, NULL, lab, 1, 0, &o);
	assert_int_equal(o.code, 0);
	want_check(&o, "label", "alice@example.org", "pass", "lookup checkpoint size 2");
	/* More publications that do not touch alice: her lookup keeps the older
	 * checkpoint, linked to the current one by a consistency proof. */
	(void)snprintf(bk, sizeof(bk), "ed25519:%s:laptop", e->bpub);
	dir_add(e, "d", "bob@example.org", e->bob, bk, NULL, NULL);
	dir_publish(e, "d");
	run_pins(e, "d", 1, o.res.size, o.res.root, lab, 1, 0, &o2);
	assert_int_equal(o2.code, 0);
	want_check(&o2, "label", "alice@example.org", "pass", "lookup checkpoint size 2");
	want_check(&o2, "log", "consistency", "pass", "2 -> 3");
	outcome_free(&o2);
	/* A tampered lookup answer: another entry byte. */
	path_of(e, "d/lookup/alice%40example.org", path, sizeof(path));
	assert_int_equal(kta_file_read(path, 1 << 20, &buf, &len, NULL), KTA_OK);
	{
		uint8_t *save = malloc(len);
		char *p = strstr((char *)buf, "\"leaf_index\":");

		assert_non_null(save);
		memcpy(save, buf, len);
		assert_non_null(p);
		p[13] = p[13] == '0' ? '1' : '0';
		assert_int_equal(kta_file_write_atomic(path, buf, len, 0644, NULL), KTA_OK);
		run_pins(e, "d", 0, 0, NULL, lab, 1, 0, &o2);
		assert_int_equal(o2.code, 1);
		want_check(&o2, "label", "alice@example.org", "fail", "does not verify");
		outcome_free(&o2);
		assert_int_equal(kta_file_write_atomic(path, save, len, 0644, NULL), KTA_OK);
		free(save);
	}
	free(buf);
	/* The directory serves an older checkpoint than bob's lookup (a rollback
	 * or a race with a publication): the lookup's larger tree must extend
	 * the served one, proved from the lookup tree's tiles. */
	{
		char cp2[512];
		uint8_t *old = NULL;
		size_t olen = 0;

		dir_copy(e, "d", "lag");
		path_of(e, "lag/checkpoint", cp2, sizeof(cp2));
		(void)snprintf(lab, sizeof(lab), "label bob@example.org %s\n", bk);
		run_pins(e, "lag", 0, 0, NULL, lab, 1, 0, &o2);
		assert_int_equal(o2.code, 0);
		outcome_free(&o2);
		/* lag's checkpoint: size 2 (from the first publication) */
		path_of(e, "old.checkpoint", path, sizeof(path));
		assert_int_equal(kta_file_read(path, 1 << 16, &old, &olen, NULL), KTA_OK);
		assert_int_equal(kta_file_write_atomic(cp2, old, olen, 0644, NULL), KTA_OK);
		free(old);
		run_pins(e, "lag", 0, 0, NULL, lab, 1, 0, &o2);
		assert_int_equal(o2.code, 0);
		want_check(&o2, "log", "checkpoint", "pass", "size 2");
		want_check(&o2, "label", "bob@example.org", "pass", "lookup checkpoint size 3");
		outcome_free(&o2);
		/* A lookup answer from another log under the same key: a fork. */
		dir_init(e, "fork");
		dir_add(e, "fork", "x@example.org", NULL, bk, NULL, NULL);
		dir_add(e, "fork", "bob@example.org", NULL, bk, NULL, NULL);
		dir_publish(e, "fork");
		dir_copy(e, "fork/lookup/bob%40example.org", "lag/lookup/bob%40example.org");
		run_pins(e, "lag", 0, 0, NULL, lab, 1, 0, &o2);
		assert_int_equal(o2.code, 1);
		want_check(&o2, "label", "bob@example.org", "fail",
			   "(size 2) and the current one (size 2) are not in one append-only log: "
			   "same size 2, different roots");
		outcome_free(&o2);
	}
	base_label(e, lab);
	/* alice's key replaced: the lookup says so. */
	(void)snprintf(nk, sizeof(nk), "ed25519:%s:phone", e->other);
	(void)snprintf(axk, sizeof(axk), "x25519:%s:phone", e->axpub);
	dir_add(e, "d", "alice@example.org", e->alice, nk, axk, NULL);
	dir_publish(e, "d");
	run_pins(e, "d", 1, o.res.size, o.res.root, lab, 1, 0, &o2);
	assert_int_equal(o2.code, 1);
	want_check(&o2, "label", "alice@example.org", "fail", "1 replaced");
	outcome_free(&o2);
	outcome_free(&o);
}

/* ---- candidate ------------------------------------------------------------ */

static void candidate_extends(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[512], ak[128], axk[128], bk[128];

	base_dir(e, lab);
	dir_copy(e, "d", "live");
	(void)snprintf(ak, sizeof(ak), "ed25519:%s:phone", e->apub);
	(void)snprintf(axk, sizeof(axk), "x25519:%s:phone", e->axpub);
	(void)snprintf(bk, sizeof(bk), "ed25519:%s:laptop", e->bpub);
	dir_add(e, "d", "alice@example.org", e->alice, ak, axk, NULL);
	dir_add(e, "d", "carol@example.org", NULL, bk, NULL, NULL);
	dir_publish(e, "d");
	run_candidate(e, "d", "live", 0, &o);
	assert_int_equal(o.code, 0);
	want_check(&o, "published", "checkpoint", "pass", "size 2");
	want_check(&o, "candidate", "checkpoint", "pass", "size 4");
	want_check(&o, "candidate", "consistency", "pass", "size 2 -> 4 (2 new entries");
	want_check(&o, "replay", "authorization", "pass",
		   "2 new entries (not yet published) (leaf 2 on): 1 owner-authorized, 1 first "
		   "versions, 0 unauthorized");
	assert_int_equal(o.res.baseline, 2);
	assert_int_equal(o.res.new_entries, 2);
	outcome_free(&o);
	/* Nothing new. */
	run_candidate(e, "live", "live", 0, &o);
	assert_int_equal(o.code, 0);
	want_check(&o, "candidate", "consistency", "pass", "nothing new");
	outcome_free(&o);
	/* An older candidate would roll the live directory back. */
	run_candidate(e, "live", "d", 0, &o);
	assert_int_equal(o.code, 1);
	want_check(&o, "candidate", "consistency", "fail", "rollback");
	want_check(&o, "replay", "entries", "skip", NULL);
	outcome_free(&o);
}

static void candidate_unauthorized(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[512], nk[128];

	base_dir(e, lab);
	dir_copy(e, "d", "live");
	(void)snprintf(nk, sizeof(nk), "ed25519:%s:laptop", e->other);
	dir_add(e, "d", "bob@example.org", NULL, nk, NULL, NULL);
	dir_publish(e, "d");
	run_candidate(e, "d", "live", 0, &o);
	assert_int_equal(o.code, 1);
	want_check(&o, "replay", "authorization", "fail",
		   "0 owner-authorized, 0 first versions, 1 unauthorized");
	outcome_free(&o);
	run_candidate(e, "d", "live", 1, &o);
	assert_int_equal(o.code, 0);
	want_check(&o, "replay", "authorization", "warn", "1 unauthorized");
	outcome_free(&o);
	/* Once published, it only warns (nothing can change it). */
	run_candidate(e, "d", "d", 0, &o);
	assert_int_equal(o.code, 0);
	want_check(&o, "replay", "authorization", "warn", "0 failing, 1 warning");
	outcome_free(&o);
}

static void candidate_rewrites_history(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[512], bk[128];

	base_dir(e, lab);
	(void)snprintf(bk, sizeof(bk), "ed25519:%s:laptop", e->bpub);
	dir_init(e, "other");
	dir_add(e, "other", "bob@example.org", NULL, bk, NULL, NULL);
	dir_add(e, "other", "alice@example.org", NULL, bk, NULL, NULL);
	dir_add(e, "other", "carol@example.org", NULL, bk, NULL, NULL);
	dir_publish(e, "other");
	run_candidate(e, "other", "d", 0, &o);
	assert_int_equal(o.code, 1);
	want_check(&o, "candidate", "consistency", "fail", "rewrites history");
	outcome_free(&o);
}

static void candidate_version_skip(void **state)
{
	struct env *e = *state;
	struct outcome o;
	const char *ents[] = {
	    entry("alice@example.org", 1, e->apub), entry("bob@example.org", 1, e->bpub),
	    entry("bob@example.org", 3, e->bpub), entry("carol@example.org", 1, e->bpub)};

	raw_log(e, "live", ents, 2);
	raw_log(e, "cand", ents, 4);
	run_candidate(e, "cand", "live", 1, &o);
	assert_int_equal(o.code, 1);
	want_check(&o, "candidate", "consistency", "pass", "2 -> 4");
	want_check(&o, "replay", "versions", "fail", "1 failing");
	assert_int_equal(count_findings(&o, "version_skip", "fail"), 1);
	outcome_free(&o);
	/* A published version skip is history: it only warns now. */
	raw_log(e, "live2", ents, 3);
	run_candidate(e, "cand", "live2", 1, &o);
	assert_int_equal(o.code, 0);
	want_check(&o, "replay", "versions", "warn", NULL);
	outcome_free(&o);
}

static void candidate_inputs(void **state)
{
	struct env *e = *state;
	struct outcome o;
	char lab[512];

	base_dir(e, lab);
	/* A candidate directory that does not exist: bad input, exit 2. */
	run_candidate(e, "missing", "d", 0, &o);
	assert_int_equal(o.code, 2);
	want_check(&o, "published", "checkpoint", "pass", NULL);
	want_check(&o, "candidate", "checkpoint", "error", "not a readable directory");
	want_check(&o, "candidate", "consistency", "skip", NULL);
	outcome_free(&o);
	/* A directory without a checkpoint: also exit 2. */
	{
		char p[256];

		path_of(e, "empty", p, sizeof(p));
		assert_int_equal(kta_file_mkdirs(p, 0755, NULL), KTA_OK);
	}
	run_candidate(e, "empty", "d", 0, &o);
	assert_int_equal(o.code, 2);
	want_check(&o, "candidate", "checkpoint", "error", "could not fetch");
	outcome_free(&o);
	/* The live directory cannot be reached: exit 3. */
	run_candidate(e, "d", "nowhere", 0, &o);
	assert_int_equal(o.code, 3);
	want_check(&o, "published", "checkpoint", "error", "could not fetch");
	want_check(&o, "replay", "authorization", "skip", NULL);
	outcome_free(&o);
}

static void usage_errors(void **state)
{
	struct kta_check_opts opts;
	struct kta_check_candidate cd;
	struct kta_report *rep = NULL;
	struct kta_error err;

	(void)state;
	kta_check_opts_init(&opts);
	assert_int_equal(kta_report_new("t", &rep, NULL), KTA_OK);
	assert_int_equal(kta_check_pins(NULL, &opts, rep, NULL, &err), KTA_ERR_USAGE);
	memset(&cd, 0, sizeof(cd));
	assert_int_equal(kta_check_candidate(&cd, &opts, rep, NULL, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_check_candidate(NULL, &opts, rep, NULL, &err), KTA_ERR_USAGE);
	kta_report_free(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(pins_first_use_then_pass, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_same_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_key_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_ghost_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_unauthorized_unpinned, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_fork_and_rollback, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_unreachable, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_checkpoint_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_version_findings, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_bad_auth_signature, setup, teardown),
	    cmocka_unit_test_setup_teardown(pins_label_absent, setup, teardown),
	    cmocka_unit_test_setup_teardown(lookups_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(candidate_extends, setup, teardown),
	    cmocka_unit_test_setup_teardown(candidate_unauthorized, setup, teardown),
	    cmocka_unit_test_setup_teardown(candidate_rewrites_history, setup, teardown),
	    cmocka_unit_test_setup_teardown(candidate_version_skip, setup, teardown),
	    cmocka_unit_test_setup_teardown(candidate_inputs, setup, teardown),
	    cmocka_unit_test(usage_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
