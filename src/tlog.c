/*
 * C2SP tlog-tiles client: checkpoint, authenticated hash reader, proofs from
 * tiles, entry replay and a full audit. See ktaudit/tlog.h.
 */
#include "ktaudit/tlog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"
#include "ktaudit/tile.h"

/* Tile levels a tree of fewer than 2^64 leaves can have (8 tree levels each). */
#define MAX_LEVELS 8
/* Perfect subtrees in one leaf range: one per bit of a uint64_t. */
#define MAX_RANGE_NODES 64
/* Nodes that cover one entry bundle: one per bit of a width of 1..256. */
#define MAX_BUNDLE_NODES 9

/* An authenticated full hash tile (256 hashes). */
struct cached_tile {
	int level;
	uint64_t index;
	uint8_t (*hashes)[32]; /* malloc'd; NULL marks an empty slot */
	uint64_t used;         /* LRU clock value of the last use */
};

/* The authenticated partial tile of one level of the selected tree. */
struct edge_tile {
	uint64_t index;
	unsigned width;        /* 0: the level has no partial tile */
	uint8_t (*hashes)[32]; /* width hashes, malloc'd */
};

struct kta_tlog {
	struct kta_fetcher *f; /* borrowed */
	struct kta_hasher *h;
	char *base; /* ends in '/' */
	size_t base_len;
	struct kta_tlog_opts o;
	int have_tree;
	uint64_t size;
	uint8_t root[32];
	int edges_ok; /* edge[] holds the authenticated edge tiles of the tree */
	struct edge_tile edge[MAX_LEVELS];
	struct cached_tile *cache; /* o.cache_tiles slots */
	uint64_t clock;
};

/* One tile or bundle to fetch, and what came back. */
struct obj {
	struct kta_tile t; /* level (KTA_TILE_ENTRIES for a bundle), index, width */
	uint8_t *body;     /* malloc'd; trimmed to t.width hashes or entries */
	size_t len;
	char *url;    /* malloc'd: the URL the body came from */
	int verified; /* hash reader: authenticated in this call */
};

static uint64_t shr(uint64_t x, unsigned s)
{
	return s >= 64 ? 0 : x >> s;
}

static const char *short_hex(const uint8_t hash[static 32], char buf[static 17])
{
	kta_hex_encode(hash, 8, buf);
	return buf;
}

/* A failed hash must never be reported as a mismatch (nor pass as a match). */
static enum kta_status hashes_ok(const struct kta_tlog *c, struct kta_error *err)
{
	if (kta_hasher_failed(c->h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "tlog: SHA-256 failed");
	return KTA_OK;
}

static const char *kind(const struct kta_tile *t)
{
	return t->level == KTA_TILE_ENTRIES ? "entry bundle" : "hash tile";
}

void kta_tlog_opts_init(struct kta_tlog_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->cache_tiles = KTA_TLOG_DEFAULT_CACHE;
	opts->prefetch = KTA_TLOG_DEFAULT_PREFETCH;
}

/* Accepts printable ASCII without query or fragment, https/http/file only. */
static enum kta_status check_base_url(const char *url, size_t len, struct kta_error *err)
{
	char q[4 * 80 + 4];
	size_t i;

	if (len > KTA_TLOG_URL_MAX)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "log URL is %zu bytes, over the limit of %d", len,
				     KTA_TLOG_URL_MAX);
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "file://", 7) != 0)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "log URL \"%s\" does not start with https://, http:// or "
				     "file://",
				     kta_quote((const uint8_t *)url, len, 80, q));
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)url[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '?' || ch == '#')
			return kta_error_set(err, KTA_ERR_USAGE,
					     "log URL \"%s\": byte %zu is not allowed (no "
					     "spaces, controls, query or fragment)",
					     kta_quote((const uint8_t *)url, len, 80, q), i);
	}
	return KTA_OK;
}

enum kta_status kta_tlog_new(struct kta_fetcher *f, const char *base_url,
			     const struct kta_tlog_opts *opts, struct kta_tlog **out,
			     struct kta_error *err)
{
	struct kta_tlog *c = NULL;
	size_t len;
	enum kta_status r = KTA_ERR_INTERNAL;

	*out = NULL;
	if (f == NULL || base_url == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "tlog: no fetcher or no URL");
	len = strlen(base_url);
	if ((r = check_base_url(base_url, len, err)) != KTA_OK)
		return r;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "tlog: out of memory");
	if (opts != NULL)
		c->o = *opts;
	else
		kta_tlog_opts_init(&c->o);
	if (c->o.cache_tiles < 1 || c->o.cache_tiles > KTA_TLOG_MAX_CACHE || c->o.prefetch < 1 ||
	    c->o.prefetch > KTA_TLOG_MAX_PREFETCH) {
		r = kta_error_set(err, KTA_ERR_USAGE,
				  "tlog: cache_tiles %zu or prefetch %u out of range (1..%u, "
				  "1..%u)",
				  c->o.cache_tiles, c->o.prefetch, KTA_TLOG_MAX_CACHE,
				  KTA_TLOG_MAX_PREFETCH);
		goto out;
	}
	c->f = f;
	if ((c->base = malloc(len + 2)) == NULL ||
	    (c->cache = calloc(c->o.cache_tiles, sizeof(*c->cache))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "tlog: out of memory");
		goto out;
	}
	memcpy(c->base, base_url, len);
	if (len == 0 || base_url[len - 1] != '/')
		c->base[len++] = '/';
	c->base[len] = '\0';
	c->base_len = len;
	if ((r = kta_hasher_new(&c->h, err)) != KTA_OK)
		goto out;
	*out = c;
	c = NULL;
	r = KTA_OK;
out:
	kta_tlog_free(c);
	return r;
}

/* Drops every authenticated tile (edges and cache). */
static void drop_tiles(struct kta_tlog *c)
{
	size_t i;

	for (i = 0; i < MAX_LEVELS; i++) {
		free(c->edge[i].hashes);
		memset(&c->edge[i], 0, sizeof(c->edge[i]));
	}
	c->edges_ok = 0;
	for (i = 0; i < c->o.cache_tiles; i++) {
		free(c->cache[i].hashes);
		memset(&c->cache[i], 0, sizeof(c->cache[i]));
	}
}

void kta_tlog_free(struct kta_tlog *c)
{
	if (c == NULL)
		return;
	if (c->cache != NULL)
		drop_tiles(c);
	free(c->cache);
	free(c->base);
	kta_hasher_free(c->h);
	free(c);
}

const char *kta_tlog_url(const struct kta_tlog *c)
{
	return c->base;
}

void kta_tlog_set_tree(struct kta_tlog *c, uint64_t size, const uint8_t root[static 32])
{
	if (c->have_tree && c->size == size && memcmp(c->root, root, 32) == 0)
		return;
	drop_tiles(c);
	c->have_tree = 1;
	c->size = size;
	memcpy(c->root, root, 32);
}

static enum kta_status need_tree(const struct kta_tlog *c, struct kta_error *err)
{
	if (!c->have_tree)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "tlog: no tree selected (kta_tlog_set_tree)");
	return KTA_OK;
}

/* *out = base URL + rel (malloc'd). */
static enum kta_status url_join(const struct kta_tlog *c, const char *rel, char **out,
				struct kta_error *err)
{
	size_t n = strlen(rel);
	char *u = malloc(c->base_len + n + 1);

	*out = NULL;
	if (u == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "tlog: out of memory");
	memcpy(u, c->base, c->base_len);
	memcpy(u + c->base_len, rel, n + 1);
	*out = u;
	return KTA_OK;
}

static enum kta_status tile_url(const struct kta_tlog *c, const struct kta_tile *t, unsigned width,
				char **out, struct kta_error *err)
{
	char path[KTA_TILE_PATH_MAX];
	enum kta_status r = KTA_ERR_INTERNAL;

	*out = NULL;
	if ((r = kta_tile_path(t->level, t->index, width, path, sizeof(path), err)) != KTA_OK)
		return r;
	return url_join(c, path, out, err);
}

static void objs_free(struct obj *o, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(o[i].body);
		free(o[i].url);
		o[i].body = NULL;
		o[i].url = NULL;
		o[i].len = 0;
		o[i].verified = 0;
	}
}

/*
 * A full tile or bundle fetched in place of partial tile o->t: keep the first
 * o->t.width hashes or entries (tlog-tiles "Partial Tiles").
 */
static enum kta_status trim_full(struct obj *o, struct kta_error *err)
{
	struct kta_tile_bundle b;
	struct kta_tile_bundle_iter it;
	struct kta_tile_entry e;
	unsigned k;
	enum kta_status r = KTA_ERR_INTERNAL;

	if (o->t.level != KTA_TILE_ENTRIES) {
		if (o->len != KTA_TILE_HASHES_MAX)
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "%s: full hash tile has %zu bytes, expected %d",
					     o->url, o->len, KTA_TILE_HASHES_MAX);
		o->len = (size_t)o->t.width * KTA_TILE_HASH_SIZE;
		return KTA_OK;
	}
	/* Keep the parser's status: kta_error_prefix returns INTERNAL when err is NULL. */
	if ((r = kta_tile_parse_bundle(o->body, o->len, KTA_TILE_WIDTH, &b, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "%s", o->url);
		return r;
	}
	kta_tile_bundle_iter_init(&it, &b);
	for (k = 0; k < o->t.width; k++)
		if (!kta_tile_bundle_next(&it, &e))
			return kta_error_set(err, KTA_ERR_INTERNAL, "%s: bundle walk failed",
					     o->url);
	o->len = (size_t)(it.pos - o->body);
	return KTA_OK;
}

/*
 * Fetches o[0..n) in one parallel round; a partial tile that is not found is
 * fetched again as the full tile (second round). On KTA_OK every o[i] has a
 * body trimmed to its width and the URL it came from; on failure the error
 * of the first failed object (lowest i) is returned and nothing is kept.
 */
static enum kta_status fetch_objs(struct kta_tlog *c, struct obj *o, size_t n,
				  struct kta_error *err)
{
	const char **urls = NULL;
	struct kta_fetch_result *res = NULL, *res2 = NULL;
	size_t *retry = NULL, nretry = 0, i, j;
	char **urls2 = NULL;
	int *full = NULL;
	enum kta_status r = KTA_ERR_NOMEM, summary;

	if (n == 0)
		return KTA_OK;
	if ((urls = calloc(n, sizeof(*urls))) == NULL || (res = calloc(n, sizeof(*res))) == NULL ||
	    (retry = calloc(n, sizeof(*retry))) == NULL ||
	    (urls2 = calloc(n, sizeof(*urls2))) == NULL ||
	    (res2 = calloc(n, sizeof(*res2))) == NULL ||
	    (full = calloc(n, sizeof(*full))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "tlog: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = tile_url(c, &o[i].t, o[i].t.width, &o[i].url, err)) != KTA_OK)
			goto out;
		urls[i] = o[i].url;
	}
	/* Per-object outcomes are in res[]; the summary status is not needed. */
	summary = kta_fetch_many(c->f, urls, n, res, NULL);
	/* tlog-tiles "Partial Tiles": a partial tile may be deleted once the
	 * full tile exists; fall back to the full one. */
	for (i = 0; i < n; i++)
		if (res[i].status != KTA_OK && res[i].info.not_found &&
		    o[i].t.width < KTA_TILE_WIDTH)
			retry[nretry++] = i;
	if (nretry > 0) {
		for (j = 0; j < nretry; j++) {
			r = tile_url(c, &o[retry[j]].t, KTA_TILE_WIDTH, &urls2[j], err);
			if (r != KTA_OK)
				goto out;
		}
		summary = kta_fetch_many(c->f, (const char *const *)urls2, nretry, res2, NULL);
		for (j = 0; j < nretry; j++) {
			i = retry[j];
			if (res2[j].status == KTA_OK) {
				res[i].status = KTA_OK;
				res[i].body = res2[j].body;
				res[i].len = res2[j].len;
				res2[j].body = NULL;
				free(o[i].url);
				o[i].url = urls2[j];
				urls2[j] = NULL;
				full[i] = 1;
			} else {
				/* Report both: the partial and the full tile are missing. */
				char m[KTA_ERROR_MSG_MAX];

				memcpy(m, res[i].err.msg, sizeof(m));
				res[i].status =
				    kta_error_set(&res[i].err, res2[j].status, "%s; full tile: %s",
						  m, res2[j].err.msg);
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (res[i].status != KTA_OK) {
			r = kta_error_set(err, res[i].status, "%s: %s", kind(&o[i].t),
					  res[i].err.msg);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		o[i].body = res[i].body;
		o[i].len = res[i].len;
		res[i].body = NULL;
	}
	for (i = 0; i < n; i++)
		if (full[i] && (r = trim_full(&o[i], err)) != KTA_OK)
			goto out;
	r = KTA_OK;
out:
	(void)summary;
	if (r != KTA_OK)
		objs_free(o, n);
	if (res != NULL)
		kta_fetch_results_free(res, n);
	if (res2 != NULL)
		kta_fetch_results_free(res2, nretry);
	if (urls2 != NULL)
		for (j = 0; j < nretry; j++)
			free(urls2[j]);
	free(urls);
	free(res);
	free(res2);
	free(retry);
	free(urls2);
	free(full);
	return r;
}

/* out = MTH of n = 2^k consecutive hashes (a perfect subtree), n in 1..256:
 * level by level, so that kta_hash_nodes can hash two nodes at a time. */
static void fold_perfect(struct kta_hasher *h, const uint8_t (*in)[32], unsigned n,
			 uint8_t out[static 32])
{
	uint8_t tmp[KTA_TILE_WIDTH / 2][32];
	unsigned m;

	if (n <= 1) {
		memcpy(out, in[0], 32);
		return;
	}
	kta_hash_nodes(h, in, n / 2, tmp);
	for (m = n / 2; m > 1; m /= 2)
		kta_hash_nodes(h, (const uint8_t(*)[32])tmp, m / 2, tmp);
	memcpy(out, tmp[0], 32);
}

/*
 * Splits leaves [begin, end) into perfect subtrees, largest first, into
 * out[] (MAX_RANGE_NODES); returns the count, or 0 when begin is not aligned
 * the way RFC 9162 subtrees are (then the range is not a tree node).
 */
static size_t range_nodes(uint64_t begin, uint64_t end, struct kta_tlog_node *out)
{
	uint64_t n = end - begin, pos = begin;
	size_t cnt = 0;
	unsigned h;

	for (h = 64; h-- > 0;) {
		uint64_t span = (uint64_t)1 << h;

		if ((n & span) == 0)
			continue;
		if ((pos & (span - 1)) != 0)
			return 0;
		out[cnt].height = h;
		out[cnt].index = pos >> h;
		cnt++;
		pos += span;
	}
	return cnt;
}

/* MTH of a range from its perfect subtrees, largest first (RFC 9162 2.1.1). */
static void fold_right(struct kta_hasher *h, const uint8_t (*in)[32], size_t n,
		       uint8_t out[static 32])
{
	uint8_t r[32];
	size_t i;

	memcpy(r, in[n - 1], 32);
	for (i = n - 1; i > 0; i--)
		kta_hash_node(h, in[i - 1], r, r);
	memcpy(out, r, 32);
}

static struct cached_tile *cache_find(struct kta_tlog *c, int level, uint64_t index)
{
	size_t i;

	for (i = 0; i < c->o.cache_tiles; i++)
		if (c->cache[i].hashes != NULL && c->cache[i].level == level &&
		    c->cache[i].index == index) {
			c->cache[i].used = ++c->clock;
			return &c->cache[i];
		}
	return NULL;
}

/* Stores an authenticated full tile, evicting the least recently used one. */
static void cache_put(struct kta_tlog *c, int level, uint64_t index, uint8_t (*hashes)[32])
{
	size_t i, victim = 0;

	for (i = 0; i < c->o.cache_tiles; i++) {
		if (c->cache[i].hashes == NULL) {
			victim = i;
			break;
		}
		if (c->cache[i].used < c->cache[victim].used)
			victim = i;
	}
	free(c->cache[victim].hashes);
	c->cache[victim].level = level;
	c->cache[victim].index = index;
	c->cache[victim].hashes = hashes;
	c->cache[victim].used = ++c->clock;
}

/*
 * Hash of node (height, index) from authenticated tiles: the edge tiles, the
 * cache, or the verified tiles of batch[0..nb). Returns 1 and sets out, or 0
 * when the node's tile is not available (yet).
 */
static int node_hash(struct kta_tlog *c, const struct obj *batch, size_t nb, unsigned height,
		     uint64_t index, uint8_t out[static 32])
{
	const uint8_t(*hashes)[32] = NULL;
	struct kta_tile t;
	unsigned first, count;
	size_t i;

	if (kta_tile_for_node(height, index, c->size, &t, &first, &count, NULL) != KTA_OK)
		return 0;
	if (t.width < KTA_TILE_WIDTH) {
		const struct edge_tile *e = &c->edge[t.level];

		if (c->edges_ok && e->width == t.width && e->index == t.index)
			hashes = (const uint8_t(*)[32])e->hashes;
	} else {
		const struct cached_tile *ct = cache_find(c, t.level, t.index);

		if (ct != NULL)
			hashes = (const uint8_t(*)[32])ct->hashes;
		for (i = 0; hashes == NULL && i < nb; i++)
			if (batch[i].verified && batch[i].t.level == t.level &&
			    batch[i].t.index == t.index && batch[i].t.width == KTA_TILE_WIDTH)
				hashes = (const uint8_t(*)[32])(const void *)batch[i].body;
	}
	if (hashes == NULL)
		return 0;
	fold_perfect(c->h, hashes + first, count, out);
	return 1;
}

/* Appends tile t to the growable list *o (unless it is there already). */
static enum kta_status plan_add(struct obj **o, size_t *n, size_t *cap, const struct kta_tile *t,
				struct kta_error *err)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if ((*o)[i].t.level == t->level && (*o)[i].t.index == t->index &&
		    (*o)[i].t.width == t->width)
			return KTA_OK;
	if (*n == *cap) {
		size_t nc = *cap == 0 ? 16 : *cap * 2;
		struct obj *no = realloc(*o, nc * sizeof(*no));

		if (no == NULL)
			return kta_error_set(err, KTA_ERR_NOMEM, "tlog: out of memory");
		*o = no;
		*cap = nc;
	}
	memset(&(*o)[*n], 0, sizeof(**o));
	(*o)[*n].t = *t;
	(*n)++;
	return KTA_OK;
}

/*
 * Authenticates the edge tiles in o[0..n) (the partial tile of every level
 * that has one): the root recomputed from the perfect subtrees of the tree,
 * which all lie in them, must be the signed root. On success they become
 * c->edge[] (bodies moved).
 */
static enum kta_status verify_edges(struct kta_tlog *c, struct obj *o, size_t n,
				    struct kta_error *err)
{
	uint8_t sub[MAX_RANGE_NODES][32], root[32];
	size_t ns = 0, i;
	unsigned hgt;
	char a[17], b[17];

	for (hgt = 64; hgt-- > 0;) {
		struct kta_tile t;
		unsigned first, count;
		uint64_t idx;

		if ((c->size & ((uint64_t)1 << hgt)) == 0)
			continue;
		/* The subtree of this bit is the last complete node at this height. */
		idx = shr(c->size, hgt) - 1;
		if (kta_tile_for_node(hgt, idx, c->size, &t, &first, &count, err) != KTA_OK)
			return kta_error_set(err, KTA_ERR_INTERNAL, "tlog: edge tile math failed");
		for (i = 0; i < n; i++)
			if (o[i].t.level == t.level && o[i].t.index == t.index &&
			    o[i].t.width == t.width)
				break;
		if (i == n)
			return kta_error_set(err, KTA_ERR_INTERNAL,
					     "tlog: no edge tile for height %u", hgt);
		fold_perfect(c->h, (const uint8_t(*)[32])(const void *)o[i].body + first, count,
			     sub[ns++]);
	}
	if (ns == 0)
		return kta_error_set(err, KTA_ERR_INTERNAL, "tlog: empty tree has no edge tiles");
	fold_right(c->h, (const uint8_t(*)[32])sub, ns, root);
	if (kta_hasher_failed(c->h))
		return kta_error_set(err, KTA_ERR_INTERNAL, "tlog: SHA-256 failed");
	if (!kta_ct_equal(root, c->root, 32)) {
		char list[KTA_ERROR_MSG_MAX];
		size_t used = 0;

		list[0] = '\0';
		for (i = 0; i < n && used < sizeof(list); i++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%s",
					 i > 0 ? ", " : "", o[i].url);

			if (w < 0)
				break;
			used += (size_t)w;
		}
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "hash tile%s %s do%s not lead to the signed root of tree "
				     "size %" PRIu64 " (computed %s..., signed %s...)",
				     n > 1 ? "s" : "", list, n > 1 ? "" : "es", c->size,
				     short_hex(root, a), short_hex(c->root, b));
	}
	for (i = 0; i < n; i++) {
		struct edge_tile *e = &c->edge[o[i].t.level];

		free(e->hashes);
		e->index = o[i].t.index;
		e->width = o[i].t.width;
		e->hashes = (uint8_t(*)[32])(void *)o[i].body;
		o[i].body = NULL;
	}
	c->edges_ok = 1;
	return KTA_OK;
}

enum kta_status kta_tlog_read_hashes(struct kta_tlog *c, const struct kta_tlog_node *nodes,
				     size_t n, uint8_t (*out)[32], struct kta_error *err)
{
	struct obj *o = NULL;
	size_t no = 0, cap = 0, nedges = 0, i;
	uint8_t(*res)[32] = NULL;
	enum kta_status r = KTA_ERR_INTERNAL;
	int lvl;

	if ((r = need_tree(c, err)) != KTA_OK)
		return r;
	if (n == 0)
		return KTA_OK;
	if (n > KTA_TLOG_MAX_NODES)
		return kta_error_set(err, KTA_ERR_USAGE, "tlog: %zu nodes asked, at most %u", n,
				     KTA_TLOG_MAX_NODES);
	for (i = 0; i < n; i++)
		if (nodes[i].height > 63 || nodes[i].index >= shr(c->size, nodes[i].height))
			return kta_error_set(err, KTA_ERR_USAGE,
					     "tlog: node %" PRIu64 " at height %u is not a "
					     "complete subtree of the tree of size %" PRIu64,
					     nodes[i].index, nodes[i].height, c->size);
	if ((res = calloc(n, sizeof(*res))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "tlog: out of memory");
		goto out;
	}
	/* Plan: the edge tiles (once per tree), then each node's tile and the
	 * chain of full parent tiles up to one that is authenticated. */
	if (!c->edges_ok) {
		for (lvl = 0; lvl < MAX_LEVELS; lvl++) {
			struct kta_tile t;

			t.level = lvl;
			t.width = kta_tile_partial_width(lvl, c->size);
			t.index = kta_tile_full_count(lvl, c->size);
			if (t.width > 0 && (r = plan_add(&o, &no, &cap, &t, err)) != KTA_OK)
				goto out;
		}
		nedges = no;
	}
	for (i = 0; i < n; i++) {
		struct kta_tile t;
		unsigned first, count;
		size_t k;

		r = kta_tile_for_node(nodes[i].height, nodes[i].index, c->size, &t, &first, &count,
				      err);
		while (r == KTA_OK && t.width == KTA_TILE_WIDTH) {
			if (cache_find(c, t.level, t.index) != NULL)
				break;
			for (k = nedges; k < no; k++)
				if (o[k].t.level == t.level && o[k].t.index == t.index)
					break;
			if (k < no)
				break;
			if ((r = plan_add(&o, &no, &cap, &t, err)) != KTA_OK)
				goto out;
			/* A full tile's parent holds its MTH (tlog-tiles "Merkle Tree"). */
			r = kta_tile_for_node((unsigned)(t.level + 1) * KTA_TILE_HEIGHT, t.index,
					      c->size, &t, &first, &count, err);
		}
		if (r != KTA_OK) {
			r = kta_error_set(err, KTA_ERR_INTERNAL, "tlog: tile math failed");
			goto out;
		}
	}
	if ((r = fetch_objs(c, o, no, err)) != KTA_OK)
		goto out;
	for (i = 0; i < no; i++) {
		const uint8_t(*hs)[32];

		if ((r = kta_tile_parse_hashes(o[i].body, o[i].len, o[i].t.width, &hs, err)) !=
		    KTA_OK) {
			(void)kta_error_prefix(err, "%s", o[i].url);
			goto out;
		}
	}
	if (nedges > 0 && (r = verify_edges(c, o, nedges, err)) != KTA_OK)
		goto out;
	/* Parents before children: every parent is an edge, cached, or verified above. */
	for (lvl = MAX_LEVELS - 1; lvl >= 0; lvl--) {
		for (i = nedges; i < no; i++) {
			uint8_t want[32], got[32];
			char a[17], b[17];

			if (o[i].t.level != lvl)
				continue;
			if (!node_hash(c, o, no, (unsigned)(lvl + 1) * KTA_TILE_HEIGHT,
				       o[i].t.index, want)) {
				r = kta_error_set(err, KTA_ERR_INTERNAL, "tlog: no parent for %s",
						  o[i].url);
				goto out;
			}
			fold_perfect(c->h, (const uint8_t(*)[32])(const void *)o[i].body,
				     KTA_TILE_WIDTH, got);
			if ((r = hashes_ok(c, err)) != KTA_OK)
				goto out;
			if (!kta_ct_equal(want, got, 32)) {
				char pp[KTA_TILE_PATH_MAX];
				unsigned pw = 0;

				(void)kta_tile_width(lvl + 1, o[i].t.index / KTA_TILE_WIDTH,
						     c->size, &pw, NULL);
				(void)kta_tile_path(lvl + 1, o[i].t.index / KTA_TILE_WIDTH,
						    pw == 0 ? KTA_TILE_WIDTH : pw, pp, sizeof(pp),
						    NULL);
				r = kta_error_set(err, KTA_ERR_VERIFY,
						  "hash tile %s does not match hash %u of its "
						  "parent tile %s (computed %s..., parent has "
						  "%s...)",
						  o[i].url,
						  (unsigned)(o[i].t.index % KTA_TILE_WIDTH), pp,
						  short_hex(got, a), short_hex(want, b));
				goto out;
			}
			o[i].verified = 1;
		}
	}
	for (i = 0; i < n; i++)
		if (!node_hash(c, o, no, nodes[i].height, nodes[i].index, res[i])) {
			r = kta_error_set(err, KTA_ERR_INTERNAL,
					  "tlog: node %" PRIu64 " at height %u not covered",
					  nodes[i].index, nodes[i].height);
			goto out;
		}
	if (kta_hasher_failed(c->h)) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "tlog: SHA-256 failed");
		goto out;
	}
	for (i = nedges; i < no; i++) {
		cache_put(c, o[i].t.level, o[i].t.index, (uint8_t(*)[32])(void *)o[i].body);
		o[i].body = NULL;
	}
	memcpy(out, res, n * sizeof(*res));
	r = KTA_OK;
out:
	if (o != NULL)
		objs_free(o, no);
	free(o);
	free(res);
	return r;
}

/* Hashes of the leaf ranges rg[0..nr) (each an RFC 9162 subtree) into out. */
static enum kta_status ranges_hashes(struct kta_tlog *c, const struct kta_merkle_leaf_range *rg,
				     size_t nr, uint8_t (*out)[32], struct kta_error *err)
{
	struct kta_tlog_node *nodes = NULL;
	uint8_t(*hs)[32] = NULL;
	size_t *cnt = NULL, total = 0, i, at;
	enum kta_status r = KTA_ERR_INTERNAL;

	if (nr == 0)
		return KTA_OK;
	if ((nodes = calloc(nr * MAX_RANGE_NODES, sizeof(*nodes))) == NULL ||
	    (cnt = calloc(nr, sizeof(*cnt))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "tlog: out of memory");
		goto out;
	}
	for (i = 0; i < nr; i++) {
		cnt[i] = range_nodes(rg[i].begin, rg[i].end, nodes + total);
		if (cnt[i] == 0) {
			r = kta_error_set(err, KTA_ERR_INTERNAL,
					  "tlog: range [%" PRIu64 ", %" PRIu64 ") is not a subtree",
					  rg[i].begin, rg[i].end);
			goto out;
		}
		total += cnt[i];
	}
	if ((hs = calloc(total, sizeof(*hs))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "tlog: out of memory");
		goto out;
	}
	if ((r = kta_tlog_read_hashes(c, nodes, total, hs, err)) != KTA_OK)
		goto out;
	for (i = 0, at = 0; i < nr; i++) {
		fold_right(c->h, (const uint8_t(*)[32])(hs + at), cnt[i], out[i]);
		at += cnt[i];
	}
	r = kta_hasher_failed(c->h) ? kta_error_set(err, KTA_ERR_INTERNAL, "tlog: SHA-256 failed")
				    : KTA_OK;
out:
	free(nodes);
	free(hs);
	free(cnt);
	return r;
}

enum kta_status kta_tlog_inclusion_proof(struct kta_tlog *c, uint64_t index, uint8_t (*proof)[32],
					 size_t cap, size_t *len, struct kta_error *err)
{
	struct kta_merkle_leaf_range rg[KTA_MERKLE_MAX_PROOF];
	uint8_t tmp[KTA_MERKLE_MAX_PROOF][32];
	size_t nr;
	enum kta_status r = KTA_ERR_INTERNAL;

	if ((r = need_tree(c, err)) != KTA_OK)
		return r;
	if (index >= c->size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "inclusion proof: index %" PRIu64 " >= tree size %" PRIu64,
				     index, c->size);
	if ((r = kta_merkle_inclusion_proof_ranges(index, c->size, rg, KTA_MERKLE_MAX_PROOF, &nr,
						   err)) != KTA_OK)
		return r;
	if (nr > cap)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "inclusion proof: room for %zu hashes, need %zu", cap, nr);
	if ((r = ranges_hashes(c, rg, nr, tmp, err)) != KTA_OK)
		return r;
	if (nr > 0)
		memcpy(proof, tmp, nr * 32);
	*len = nr;
	return KTA_OK;
}

enum kta_status kta_tlog_consistency_proof(struct kta_tlog *c, uint64_t old_size,
					   uint8_t (*proof)[32], size_t cap, size_t *len,
					   struct kta_error *err)
{
	struct kta_merkle_leaf_range rg[KTA_MERKLE_MAX_PROOF];
	uint8_t tmp[KTA_MERKLE_MAX_PROOF][32];
	size_t nr;
	enum kta_status r = KTA_ERR_INTERNAL;

	if ((r = need_tree(c, err)) != KTA_OK)
		return r;
	if (old_size > c->size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "consistency proof: old size %" PRIu64 " > tree size %" PRIu64,
				     old_size, c->size);
	if ((r = kta_merkle_consistency_proof_ranges(old_size, c->size, rg, KTA_MERKLE_MAX_PROOF,
						     &nr, err)) != KTA_OK)
		return r;
	if (nr > cap)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "consistency proof: room for %zu hashes, need %zu", cap, nr);
	if ((r = ranges_hashes(c, rg, nr, tmp, err)) != KTA_OK)
		return r;
	if (nr > 0)
		memcpy(proof, tmp, nr * 32);
	*len = nr;
	return KTA_OK;
}

enum kta_status kta_tlog_compact_range(struct kta_tlog *c, uint64_t size,
				       struct kta_compact_range **out, struct kta_error *err)
{
	struct kta_tlog_node nodes[MAX_RANGE_NODES];
	uint8_t hs[MAX_RANGE_NODES][32];
	size_t n;
	enum kta_status r = KTA_ERR_INTERNAL;

	*out = NULL;
	if ((r = need_tree(c, err)) != KTA_OK)
		return r;
	if (size > c->size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "compact range: size %" PRIu64 " > tree size %" PRIu64, size,
				     c->size);
	n = range_nodes(0, size, nodes);
	if ((r = kta_tlog_read_hashes(c, nodes, n, hs, err)) != KTA_OK)
		return r;
	return kta_compact_range_restore(size, (const uint8_t(*)[32])hs, n, out, err);
}

/* Checks that cr's root is the signed root (entries [start, end) were appended to it). */
static enum kta_status check_root(struct kta_tlog *c, const struct kta_compact_range *cr,
				  uint64_t start, uint64_t end, struct kta_error *err)
{
	uint8_t root[32];
	char a[17], b[17];
	enum kta_status r = KTA_ERR_INTERNAL;

	if ((r = kta_compact_range_root(cr, c->h, root, err)) != KTA_OK)
		return r;
	if (!kta_ct_equal(root, c->root, 32))
		return kta_error_set(err, KTA_ERR_VERIFY,
				     "entries at %s (replayed %" PRIu64 "..%" PRIu64
				     ") do not hash to the signed root of tree size %" PRIu64
				     " (computed %s..., signed %s...)",
				     c->base, start, end, c->size, short_hex(root, a),
				     short_hex(c->root, b));
	return KTA_OK;
}

/* Parses bundle o (width o->t.width), writes its leaf hashes to lh and its
 * entries to data/len (o->t.width each: one walk, kept for the delivery). */
static enum kta_status bundle_leaves(struct kta_tlog *c, const struct obj *o,
				     struct kta_tile_bundle *b, uint8_t (*lh)[32],
				     const uint8_t **data, size_t *len, struct kta_error *err)
{
	struct kta_tile_bundle_iter it;
	struct kta_tile_entry e;
	unsigned j = 0;
	enum kta_status r = KTA_ERR_INTERNAL;

	if ((r = kta_tile_parse_bundle(o->body, o->len, o->t.width, b, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "%s", o->url);
		return r;
	}
	kta_tile_bundle_iter_init(&it, b);
	while (j < KTA_TILE_WIDTH && kta_tile_bundle_next(&it, &e)) {
		data[j] = e.data;
		len[j++] = e.len;
	}
	if (j != o->t.width)
		return kta_error_set(err, KTA_ERR_INTERNAL, "%s: bundle walk failed", o->url);
	kta_hash_leaves(c->h, data, len, j, lh);
	return KTA_OK;
}

/* Internal to the library (compact.c): see there. */
enum kta_status kta_compact_range_append_subtree(struct kta_compact_range *cr, struct kta_hasher *h,
						 unsigned height, const uint8_t root[static 32],
						 struct kta_error *err);

enum kta_status
kta_tlog_entries(struct kta_tlog *c, uint64_t start, uint64_t end, struct kta_compact_range *cr,
		 unsigned flags,
		 enum kta_status (*fn)(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				       const uint8_t *leaf_hash, struct kta_error *err),
		 void *ctx, struct kta_error *err)
{
	const unsigned per = c->o.prefetch;
	struct obj *o = NULL;
	struct kta_tile_bundle *bs = NULL;
	uint8_t(*lh)[32] = NULL, (*calc)[32] = NULL, (*got)[32] = NULL;
	const uint8_t **edata = NULL; /* per bundle, KTA_TILE_WIDTH entries and lengths */
	size_t *elen = NULL;
	struct kta_tlog_node *nodes = NULL;
	unsigned *owner = NULL;
	size_t *full_node = NULL; /* per bundle: its calc[] index when full, else SIZE_MAX */
	uint64_t b, last;
	size_t k = 0, i;
	int auth = (flags & KTA_TLOG_UNAUTHENTICATED) == 0;
	enum kta_status r = KTA_ERR_INTERNAL;

	if ((r = need_tree(c, err)) != KTA_OK)
		return r;
	if (fn == NULL || (flags & ~KTA_TLOG_UNAUTHENTICATED) != 0)
		return kta_error_set(err, KTA_ERR_USAGE, "entries: no callback or unknown flags");
	if (start > end || end > c->size)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "entries: range %" PRIu64 "..%" PRIu64
				     " is not within the tree of size %" PRIu64,
				     start, end, c->size);
	if (cr != NULL && kta_compact_range_size(cr) != start)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "entries: compact range has %" PRIu64
				     " leaves, the replay starts at %" PRIu64,
				     kta_compact_range_size(cr), start);
	if (!auth && (cr == NULL || end != c->size))
		return kta_error_set(err, KTA_ERR_USAGE,
				     "entries: an unauthenticated replay needs a compact range "
				     "and must end at the tree size");
	if ((o = calloc(per, sizeof(*o))) == NULL || (bs = calloc(per, sizeof(*bs))) == NULL ||
	    (lh = calloc((size_t)per * KTA_TILE_WIDTH, sizeof(*lh))) == NULL ||
	    /* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
	    (edata = calloc((size_t)per * KTA_TILE_WIDTH, sizeof(*edata))) == NULL ||
	    (elen = calloc((size_t)per * KTA_TILE_WIDTH, sizeof(*elen))) == NULL ||
	    (calc = calloc((size_t)per * MAX_BUNDLE_NODES, sizeof(*calc))) == NULL ||
	    (got = calloc((size_t)per * MAX_BUNDLE_NODES, sizeof(*got))) == NULL ||
	    (nodes = calloc((size_t)per * MAX_BUNDLE_NODES, sizeof(*nodes))) == NULL ||
	    (owner = calloc((size_t)per * MAX_BUNDLE_NODES, sizeof(*owner))) == NULL ||
	    (full_node = calloc(per, sizeof(*full_node))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "entries: out of memory");
		goto out;
	}
	b = start / KTA_TILE_WIDTH;
	last = end == 0 ? 0 : (end - 1) / KTA_TILE_WIDTH;
	while (start < end && b <= last) {
		size_t nn = 0;

		k = (size_t)(last - b + 1 < per ? last - b + 1 : per);
		for (i = 0; i < k; i++) {
			unsigned w;

			o[i].t.level = KTA_TILE_ENTRIES;
			o[i].t.index = b + i;
			if ((r = kta_tile_width(KTA_TILE_ENTRIES, b + i, c->size, &w, err)) !=
			    KTA_OK)
				goto out;
			o[i].t.width = w;
		}
		if ((r = fetch_objs(c, o, k, err)) != KTA_OK) {
			k = 0;
			goto out;
		}
		for (i = 0; i < k; i++)
			if ((r = bundle_leaves(c, &o[i], &bs[i], lh + i * KTA_TILE_WIDTH,
					       edata + i * KTA_TILE_WIDTH,
					       elen + i * KTA_TILE_WIDTH, err)) != KTA_OK)
				goto out;
		if (auth) {
			/* The bundle's subtrees must be the authenticated tile hashes. */
			for (i = 0; i < k; i++) {
				uint64_t base = o[i].t.index * KTA_TILE_WIDTH;
				size_t m = range_nodes(base, base + o[i].t.width, nodes + nn), j;

				/* A full bundle is one node of height 8: its calc[] entry. */
				full_node[i] =
				    m == 1 && nodes[nn].height == KTA_TILE_HEIGHT ? nn : SIZE_MAX;

				for (j = nn; j < nn + m; j++) {
					uint64_t off = (nodes[j].index << nodes[j].height) - base;

					fold_perfect(
					    c->h,
					    (const uint8_t(*)[32])(lh + i * KTA_TILE_WIDTH + off),
					    1u << nodes[j].height, calc[j]);
					owner[j] = (unsigned)i;
				}
				nn += m;
			}
			if ((r = kta_tlog_read_hashes(c, nodes, nn, got, err)) != KTA_OK ||
			    (r = hashes_ok(c, err)) != KTA_OK)
				goto out;
			for (i = 0; i < nn; i++) {
				const struct obj *ob = &o[owner[i]];
				uint64_t first = ob->t.index * KTA_TILE_WIDTH;
				char a[17], bb[17];

				if (kta_ct_equal(calc[i], got[i], 32))
					continue;
				r = kta_error_set(err, KTA_ERR_VERIFY,
						  "entry bundle %s (entries %" PRIu64 "..%" PRIu64
						  ") does not match the signed tree of size "
						  "%" PRIu64 ": subtree of height %u at index "
						  "%" PRIu64 " hashes to %s..., the tiles say "
						  "%s...",
						  ob->url, first, first + ob->t.width - 1, c->size,
						  nodes[i].height, nodes[i].index,
						  short_hex(calc[i], a), short_hex(got[i], bb));
				goto out;
			}
		}
		for (i = 0; i < k; i++) {
			const uint8_t *const *ed = edata + i * KTA_TILE_WIDTH;
			const size_t *el = elen + i * KTA_TILE_WIDTH;
			const unsigned w = o[i].t.width;
			uint64_t idx = o[i].t.index * KTA_TILE_WIDTH;
			unsigned j = 0;

			/*
			 * An authenticated full bundle inside [start, end) goes into
			 * cr as one subtree whose root was just checked: one node
			 * hash per bundle instead of one per entry. If fn stops
			 * part-way, its delivered leaves are appended one by one so
			 * that cr still holds exactly the entries delivered.
			 */
			if (auth && cr != NULL && full_node[i] != SIZE_MAX && idx >= start &&
			    end - idx >= KTA_TILE_WIDTH) {
				for (; j < w; idx++, j++) {
					if ((r = fn(ctx, idx, ed[j], el[j],
						    lh[i * KTA_TILE_WIDTH + j], err)) == KTA_OK)
						continue;
					for (unsigned q = 0; q < j; q++) {
						struct kta_error e2;

						if (kta_compact_range_append(
							cr, c->h, lh[i * KTA_TILE_WIDTH + q],
							&e2) != KTA_OK) {
							r = kta_error_set(err, KTA_ERR_INTERNAL,
									  "entries: %s", e2.msg);
							break;
						}
					}
					goto out;
				}
				if ((r = kta_compact_range_append_subtree(cr, c->h, KTA_TILE_HEIGHT,
									  calc[full_node[i]],
									  err)) != KTA_OK)
					goto out;
				continue;
			}
			for (; j < w; idx++, j++) {
				if (idx < start)
					continue;
				if (idx >= end)
					break;
				if ((r = fn(ctx, idx, ed[j], el[j], lh[i * KTA_TILE_WIDTH + j],
					    err)) != KTA_OK)
					goto out;
				if (cr != NULL &&
				    (r = kta_compact_range_append(
					 cr, c->h, lh[i * KTA_TILE_WIDTH + j], err)) != KTA_OK)
					goto out;
			}
		}
		objs_free(o, k);
		k = 0;
		b += per;
	}
	if (kta_hasher_failed(c->h)) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "entries: SHA-256 failed");
		goto out;
	}
	r = KTA_OK;
	if (cr != NULL && end == c->size)
		r = check_root(c, cr, start, end, err);
out:
	if (o != NULL)
		objs_free(o, k);
	free(o);
	free(bs);
	free(lh);
	free(edata);
	free(elen);
	free(calc);
	free(got);
	free(nodes);
	free(owner);
	free(full_node);
	return r;
}

/* ---- audit ---- */

/* Hashes computed from the entries at one level, waiting to fill a tile. */
struct level_acc {
	uint8_t (*h)[32]; /* KTA_TILE_WIDTH hashes */
	unsigned n;       /* hashes held */
	uint64_t tile;    /* index of the tile being filled */
};

struct audit {
	struct kta_tlog *c;
	struct level_acc acc[MAX_LEVELS];
	struct kta_tlog_audit st;
	int mismatch;                       /* first_diff is set */
	char first_diff[KTA_ERROR_MSG_MAX]; /* the first served hash that differs */
};

/*
 * Compares hashes computed from the entries with served tile o (parsed), and
 * records the first difference.
 */
static void audit_compare(struct audit *a, const struct obj *o, const uint8_t (*mine)[32],
			  const uint8_t (*served)[32])
{
	unsigned i;

	if (a->mismatch)
		return;
	for (i = 0; i < o->t.width; i++) {
		uint64_t span, first;
		char x[17], y[17];

		if (kta_ct_equal(mine[i], served[i], 32))
			continue;
		span = (uint64_t)1 << (8u * (unsigned)o->t.level);
		first = (o->t.index * KTA_TILE_WIDTH + i) * span;
		if (o->t.level == 0)
			(void)snprintf(a->first_diff, sizeof(a->first_diff),
				       "entry %" PRIu64 " has leaf hash %s..., but hash %u of "
				       "%s is %s...",
				       first, short_hex(mine[i], x), i, o->url,
				       short_hex(served[i], y));
		else
			(void)snprintf(a->first_diff, sizeof(a->first_diff),
				       "hash %u of %s is %s..., but entries %" PRIu64 "..%" PRIu64
				       " hash to %s...",
				       i, o->url, short_hex(served[i], y), first, first + span - 1,
				       short_hex(mine[i], x));
		a->mismatch = 1;
		return;
	}
}

/* Fetches hash tiles o[0..n) and compares them with the computed hashes. */
static enum kta_status audit_tiles(struct audit *a, struct obj *o, size_t n,
				   const uint8_t (*const *mine)[32], struct kta_error *err)
{
	enum kta_status r = KTA_ERR_INTERNAL;
	size_t i;

	if ((r = fetch_objs(a->c, o, n, err)) != KTA_OK)
		return r;
	for (i = 0; i < n; i++) {
		const uint8_t(*hs)[32];

		if ((r = kta_tile_parse_hashes(o[i].body, o[i].len, o[i].t.width, &hs, err)) !=
		    KTA_OK) {
			(void)kta_error_prefix(err, "%s", o[i].url);
			goto out;
		}
		audit_compare(a, &o[i], mine[i], hs);
		a->st.tiles++;
	}
	r = KTA_OK;
out:
	objs_free(o, n);
	return r;
}

/* Adds a hash computed at `level`; checks and folds each tile it completes. */
static enum kta_status audit_push(struct audit *a, int level, const uint8_t hash[static 32],
				  struct kta_error *err)
{
	uint8_t up[32];
	enum kta_status r = KTA_ERR_INTERNAL;

	memcpy(up, hash, 32);
	for (;;) {
		struct level_acc *l;
		struct obj o;
		const uint8_t(*mine)[32];

		if (level >= MAX_LEVELS)
			return kta_error_set(err, KTA_ERR_INTERNAL, "audit: level %d", level);
		l = &a->acc[level];
		memcpy(l->h[l->n++], up, 32);
		if (l->n < KTA_TILE_WIDTH)
			return KTA_OK;
		memset(&o, 0, sizeof(o));
		o.t.level = level;
		o.t.index = l->tile;
		o.t.width = KTA_TILE_WIDTH;
		mine = (const uint8_t(*)[32])l->h;
		if ((r = audit_tiles(a, &o, 1, &mine, err)) != KTA_OK)
			return r;
		fold_perfect(a->c->h, mine, KTA_TILE_WIDTH, up);
		l->n = 0;
		l->tile++;
		level++;
	}
}

enum kta_status
kta_tlog_audit(struct kta_tlog *c,
	       enum kta_status (*fn)(void *ctx, uint64_t index, const uint8_t *entry, size_t len,
				     const uint8_t *leaf_hash, struct kta_error *err),
	       void *ctx, struct kta_tlog_audit *res, struct kta_error *err)
{
	const unsigned per = c->o.prefetch;
	struct audit *a = NULL;
	struct kta_compact_range *cr = NULL;
	struct obj *o = NULL;
	uint8_t(*lh)[32] = NULL;
	uint64_t nb, b;
	size_t k = 0, i;
	enum kta_status r = KTA_ERR_INTERNAL;
	int lvl;

	if ((r = need_tree(c, err)) != KTA_OK)
		return r;
	if ((a = calloc(1, sizeof(*a))) == NULL || (o = calloc(2 * per, sizeof(*o))) == NULL ||
	    (lh = calloc(KTA_TILE_WIDTH, sizeof(*lh))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "audit: out of memory");
		goto out;
	}
	a->c = c;
	for (lvl = 0; lvl < MAX_LEVELS; lvl++)
		if ((a->acc[lvl].h = calloc(KTA_TILE_WIDTH, 32)) == NULL) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "audit: out of memory");
			goto out;
		}
	if ((r = kta_compact_range_new(&cr, err)) != KTA_OK)
		goto out;
	nb = kta_tile_full_count(0, c->size) + (kta_tile_partial_width(0, c->size) > 0 ? 1 : 0);
	for (b = 0; b < nb; b += k) {
		k = (size_t)(nb - b < per ? nb - b : per);
		/* Each bundle with its level-0 tile, all in one round. */
		for (i = 0; i < k; i++) {
			unsigned w;

			if ((r = kta_tile_width(0, b + i, c->size, &w, err)) != KTA_OK)
				goto out;
			o[2 * i].t.level = KTA_TILE_ENTRIES;
			o[2 * i + 1].t.level = 0;
			o[2 * i].t.index = o[2 * i + 1].t.index = b + i;
			o[2 * i].t.width = o[2 * i + 1].t.width = w;
		}
		if ((r = fetch_objs(c, o, 2 * k, err)) != KTA_OK) {
			k = 0;
			goto out;
		}
		for (i = 0; i < k; i++) {
			struct obj *ob = &o[2 * i], *ot = &o[2 * i + 1];
			struct kta_tile_bundle bundle;
			struct kta_tile_bundle_iter it;
			struct kta_tile_entry e;
			const uint8_t(*hs)[32];
			uint64_t idx = ob->t.index * KTA_TILE_WIDTH;
			unsigned j = 0;

			if ((r = kta_tile_parse_bundle(ob->body, ob->len, ob->t.width, &bundle,
						       err)) != KTA_OK) {
				(void)kta_error_prefix(err, "%s", ob->url);
				goto out;
			}
			if ((r = kta_tile_parse_hashes(ot->body, ot->len, ot->t.width, &hs, err)) !=
			    KTA_OK) {
				(void)kta_error_prefix(err, "%s", ot->url);
				goto out;
			}
			kta_tile_bundle_iter_init(&it, &bundle);
			for (; kta_tile_bundle_next(&it, &e); idx++, j++) {
				kta_hash_leaf(c->h, e.data, e.len, lh[j]);
				if (fn != NULL &&
				    (r = fn(ctx, idx, e.data, e.len, lh[j], err)) != KTA_OK)
					goto out;
				if ((r = kta_compact_range_append(cr, c->h, lh[j], err)) != KTA_OK)
					goto out;
			}
			audit_compare(a, ot, (const uint8_t(*)[32])lh, hs);
			a->st.entries += j;
			a->st.bundles++;
			a->st.tiles++;
			if (ob->t.width == KTA_TILE_WIDTH) {
				uint8_t up[32];

				fold_perfect(c->h, (const uint8_t(*)[32])lh, KTA_TILE_WIDTH, up);
				if ((r = audit_push(a, 1, up, err)) != KTA_OK)
					goto out;
			}
		}
		objs_free(o, 2 * k);
	}
	k = 0;
	/* The partial tiles above level 0 hold what is left in each level. */
	{
		const uint8_t(*mine[MAX_LEVELS])[32];
		struct obj po[MAX_LEVELS];
		size_t n = 0;

		for (lvl = 1; lvl < MAX_LEVELS; lvl++) {
			unsigned w = kta_tile_partial_width(lvl, c->size);

			if (a->acc[lvl].n != w) {
				r = kta_error_set(err, KTA_ERR_INTERNAL,
						  "audit: level %d has %u hashes, expected %u", lvl,
						  a->acc[lvl].n, w);
				goto out;
			}
			if (w == 0)
				continue;
			memset(&po[n], 0, sizeof(po[n]));
			po[n].t.level = lvl;
			po[n].t.index = kta_tile_full_count(lvl, c->size);
			po[n].t.width = w;
			mine[n] = (const uint8_t(*)[32])a->acc[lvl].h;
			n++;
		}
		if ((r = audit_tiles(a, po, n, mine, err)) != KTA_OK)
			goto out;
	}
	if (kta_hasher_failed(c->h)) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "audit: SHA-256 failed");
		goto out;
	}
	if ((r = check_root(c, cr, 0, c->size, err)) != KTA_OK) {
		if (r == KTA_ERR_VERIFY && a->mismatch && err != NULL) {
			char m[KTA_ERROR_MSG_MAX];

			memcpy(m, err->msg, sizeof(m));
			(void)kta_error_set(err, KTA_ERR_VERIFY, "%s; first difference: %s", m,
					    a->first_diff);
		}
		goto out;
	}
	if (a->mismatch) {
		r = kta_error_set(err, KTA_ERR_VERIFY,
				  "the entries hash to the signed root of tree size %" PRIu64
				  ", but a served hash tile is wrong: %s",
				  c->size, a->first_diff);
		goto out;
	}
	if (res != NULL)
		*res = a->st;
	r = KTA_OK;
out:
	if (o != NULL)
		objs_free(o, 2 * k);
	if (a != NULL)
		for (lvl = 0; lvl < MAX_LEVELS; lvl++)
			free(a->acc[lvl].h);
	free(a);
	free(o);
	free(lh);
	kta_compact_range_free(cr);
	return r;
}

enum kta_status kta_tlog_fetch_checkpoint(struct kta_tlog *c, const struct kta_checkpoint_policy *p,
					  struct kta_checkpoint_result *res, uint8_t **note,
					  size_t *note_len, struct kta_error *err)
{
	char *url = NULL;
	uint8_t *body = NULL;
	size_t len = 0;
	enum kta_status r = KTA_ERR_INTERNAL;

	memset(res, 0, sizeof(*res));
	res->newest_cosig_time = -1;
	if (note != NULL) {
		*note = NULL;
		if (note_len != NULL)
			*note_len = 0;
	}
	if ((r = url_join(c, "checkpoint", &url, err)) != KTA_OK)
		return r;
	if ((r = kta_fetch_get(c->f, url, &body, &len, NULL, err)) != KTA_OK)
		goto out;
	if (len > KTA_TLOG_CHECKPOINT_MAX) {
		r = kta_error_set(err, KTA_ERR_LIMIT,
				  "checkpoint %s: %zu bytes, over the limit of %d", url, len,
				  KTA_TLOG_CHECKPOINT_MAX);
		goto out;
	}
	if ((r = kta_checkpoint_verify(body, len, p, res, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "checkpoint %s", url);
		goto out;
	}
	if (note != NULL) {
		*note = body;
		if (note_len != NULL)
			*note_len = len;
		body = NULL;
	}
out:
	free(body);
	free(url);
	return r;
}
