/*
 * Ed25519 verification under a raw public key that changes every call,
 * with OpenSSL 3.0: the CPU time of one verification for each way of
 * setting the key up (EVP variants, and the provider's own functions called
 * directly, which kta_ed25519_verifier uses), next to the cached-key bound
 * (one key set up once, as `openssl speed ed25519` does). The verifier as it
 * was before it called the provider directly is `raw_reset` (an EVP_PKEY
 * and EVP_DigestVerifyInit per key, every key a cache miss). The only_*
 * rows time the set-up alone, without verifying.
 *
 *   bench_ed25519 [THREADS [ITERS [ROUNDS [VARIANT]]]]
 *
 * Every variant verifies ITERS signatures on each of THREADS threads, keys
 * cycling over NKEYS distinct signers (so a 16-key cache always misses), in
 * ROUNDS rounds with the variants interleaved; it prints the median of the
 * rounds' per-verification thread CPU time and its ratio to the bound.
 */
/* before any OpenSSL header: common.h's bound uses SHA256_Transform */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "ed25519.h"

#define NKEYS 256
#define MSGLEN 200
#define MAXROUNDS 31
#define MAXTHREADS 16

static uint8_t g_pub[NKEYS][32];
static uint8_t g_msg[NKEYS][MSGLEN];
static uint8_t g_sig[NKEYS][64];

static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double wall(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * The provider's own ED25519 key management and signature functions, found
 * with OSSL_PROVIDER_query_operation on the provider that EVP fetches the
 * ED25519 EVP_KEYMGMT from (provider(7), provider-keymgmt(7),
 * provider-signature(7)): no EVP_PKEY, no EVP_PKEY_CTX, no fetch per key.
 */
struct direct {
	EVP_KEYMGMT *km; /* holds the provider */
	void *provctx;
	OSSL_FUNC_keymgmt_new_fn *knew;
	OSSL_FUNC_keymgmt_import_fn *kimport;
	OSSL_FUNC_keymgmt_free_fn *kfree;
	OSSL_FUNC_signature_newctx_fn *snew;
	OSSL_FUNC_signature_digest_verify_init_fn *sinit;
	OSSL_FUNC_signature_digest_verify_fn *sverify;
	OSSL_FUNC_signature_freectx_fn *sfree;
};

static int names_ed25519(const char *names)
{
	size_t n;

	for (;;) {
		n = strcspn(names, ":");
		if (n == 7 && strncasecmp(names, "ED25519", 7) == 0)
			return 1;
		if (names[n] == '\0')
			return 0;
		names += n + 1;
	}
}

static const OSSL_DISPATCH *find_impl(const OSSL_PROVIDER *prov, int op)
{
	int nc = 0;
	const OSSL_ALGORITHM *a = OSSL_PROVIDER_query_operation(prov, op, &nc), *p;
	const OSSL_DISPATCH *d = NULL;

	for (p = a; p != NULL && p->algorithm_names != NULL; p++)
		if (names_ed25519(p->algorithm_names)) {
			d = p->implementation;
			break;
		}
	OSSL_PROVIDER_unquery_operation(prov, op, a);
	return d;
}

static int direct_init(struct direct *dr)
{
	const OSSL_PROVIDER *prov;
	const OSSL_DISPATCH *k, *sg;

	memset(dr, 0, sizeof(*dr));
	if ((dr->km = EVP_KEYMGMT_fetch(NULL, "ED25519", NULL)) == NULL ||
	    (prov = EVP_KEYMGMT_get0_provider(dr->km)) == NULL ||
	    (k = find_impl(prov, OSSL_OP_KEYMGMT)) == NULL ||
	    (sg = find_impl(prov, OSSL_OP_SIGNATURE)) == NULL)
		return -1;
	dr->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
	for (; k->function_id != 0; k++)
		switch (k->function_id) {
		case OSSL_FUNC_KEYMGMT_NEW:
			dr->knew = OSSL_FUNC_keymgmt_new(k);
			break;
		case OSSL_FUNC_KEYMGMT_IMPORT:
			dr->kimport = OSSL_FUNC_keymgmt_import(k);
			break;
		case OSSL_FUNC_KEYMGMT_FREE:
			dr->kfree = OSSL_FUNC_keymgmt_free(k);
			break;
		default:
			break;
		}
	for (; sg->function_id != 0; sg++)
		switch (sg->function_id) {
		case OSSL_FUNC_SIGNATURE_NEWCTX:
			dr->snew = OSSL_FUNC_signature_newctx(sg);
			break;
		case OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT:
			dr->sinit = OSSL_FUNC_signature_digest_verify_init(sg);
			break;
		case OSSL_FUNC_SIGNATURE_DIGEST_VERIFY:
			dr->sverify = OSSL_FUNC_signature_digest_verify(sg);
			break;
		case OSSL_FUNC_SIGNATURE_FREECTX:
			dr->sfree = OSSL_FUNC_signature_freectx(sg);
			break;
		default:
			break;
		}
	if (dr->knew == NULL || dr->kimport == NULL || dr->kfree == NULL || dr->snew == NULL ||
	    dr->sinit == NULL || dr->sverify == NULL || dr->sfree == NULL)
		return -1;
	return 0;
}

/* One thread's state for every variant (created before the clock starts). */
struct st {
	EVP_MD_CTX *md;
	EVP_PKEY *fixed;     /* the bound's key, set up once */
	EVP_MD_CTX *fixedmd; /* initialized for fixed */
	EVP_PKEY_CTX *fd;    /* EVP_PKEY_fromdata_init'ed, default libctx */
	OSSL_LIB_CTX *lib;   /* a private library context */
	OSSL_PROVIDER *prov; /* its default provider */
	EVP_PKEY_CTX *fdlib; /* fromdata_init'ed in lib */
	EVP_SIGNATURE *sigm; /* pre-fetched, kept alive */
	EVP_PKEY *inplace;   /* refilled by EVP_PKEY_fromdata */
	struct direct dr;
	void *dkey; /* a provider key for only_direct_ctx */
	struct kta_ed25519_verifier *ver;
};

static EVP_PKEY *fromdata(EVP_PKEY_CTX *fd, const uint8_t *pub)
{
	OSSL_PARAM p[2];
	EVP_PKEY *pk = NULL;

	p[0] =
	    OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)pub, 32);
	p[1] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_fromdata(fd, &pk, EVP_PKEY_PUBLIC_KEY, p) != 1)
		return NULL;
	return pk;
}

/* Each variant verifies key i's signature and returns 1 if it verified. */
typedef int (*variant_fn)(struct st *s, size_t i);

/* (a) kta_ed25519_verify: new key, new context, init, verify, free. */
static int v_fresh(struct st *s, size_t i)
{
	(void)s;
	return kta_ed25519_verify(g_pub[i], g_msg[i], MSGLEN, g_sig[i]) == KTA_OK;
}

/* (a') the verifier of src/ed25519.c, every key a cache miss. */
static int v_verifier(struct st *s, size_t i)
{
	return kta_ed25519_verifier_verify(s->ver, g_pub[i], g_msg[i], MSGLEN, g_sig[i]) == KTA_OK;
}

/* (b) the bound: one key set up once, its context verifying again. */
static int v_cached(struct st *s, size_t i)
{
	(void)i;
	return EVP_DigestVerify(s->fixedmd, g_sig[0], 64, g_msg[0], MSGLEN) == 1;
}

/* (b') the cached key, but EVP_DigestVerifyInit every call. */
static int v_cached_init(struct st *s, size_t i)
{
	(void)i;
	EVP_MD_CTX_reset(s->md);
	if (EVP_DigestVerifyInit(s->md, NULL, NULL, NULL, s->fixed) != 1)
		return 0;
	return EVP_DigestVerify(s->md, g_sig[0], 64, g_msg[0], MSGLEN) == 1;
}

static int verify_with(struct st *s, EVP_PKEY *pk, size_t i, OSSL_LIB_CTX *lib, const char *pq)
{
	int ok = 0;

	if (pk == NULL)
		return 0;
	EVP_MD_CTX_reset(s->md);
	if (EVP_DigestVerifyInit_ex(s->md, NULL, NULL, lib, pq, pk, NULL) == 1)
		ok = EVP_DigestVerify(s->md, g_sig[i], 64, g_msg[i], MSGLEN) == 1;
	EVP_PKEY_free(pk);
	return ok;
}

/* (c1) EVP_PKEY_new_raw_public_key (by NID), reused EVP_MD_CTX. */
static int v_raw_reset(struct st *s, size_t i)
{
	return verify_with(s, EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, g_pub[i], 32), i,
			   NULL, NULL);
}

/* (c2) EVP_PKEY_new_raw_public_key_ex (by name, explicit NULL libctx). */
static int v_raw_ex(struct st *s, size_t i)
{
	return verify_with(s, EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, g_pub[i], 32),
			   i, NULL, NULL);
}

/* (c3) EVP_PKEY_fromdata on a context fromdata_init'ed once. */
static int v_fromdata(struct st *s, size_t i)
{
	return verify_with(s, fromdata(s->fd, g_pub[i]), i, NULL, NULL);
}

/* (c4) as c3 with the property query "provider=default" to init. */
static int v_fromdata_pq(struct st *s, size_t i)
{
	return verify_with(s, fromdata(s->fd, g_pub[i]), i, NULL, "provider=default");
}

/* (c5) a private OSSL_LIB_CTX per thread: no method store shared. */
static int v_privlib(struct st *s, size_t i)
{
	return verify_with(s, fromdata(s->fdlib, g_pub[i]), i, s->lib, NULL);
}

/* (c8) EVP_PKEY_fromdata into the same EVP_PKEY every call. */
static int v_inplace(struct st *s, size_t i)
{
	OSSL_PARAM p[2];

	p[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						 (void *)(uintptr_t)g_pub[i], 32);
	p[1] = OSSL_PARAM_construct_end();
	EVP_MD_CTX_reset(s->md);
	if (EVP_PKEY_fromdata(s->fd, &s->inplace, EVP_PKEY_PUBLIC_KEY, p) != 1 ||
	    EVP_DigestVerifyInit(s->md, NULL, NULL, NULL, s->inplace) != 1)
		return 0;
	return EVP_DigestVerify(s->md, g_sig[i], 64, g_msg[i], MSGLEN) == 1;
}

static int v_only_inplace(struct st *s, size_t i)
{
	OSSL_PARAM p[2];

	p[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						 (void *)(uintptr_t)g_pub[i], 32);
	p[1] = OSSL_PARAM_construct_end();
	EVP_MD_CTX_reset(s->md);
	return EVP_PKEY_fromdata(s->fd, &s->inplace, EVP_PKEY_PUBLIC_KEY, p) == 1;
}

static int v_only_inplace_init(struct st *s, size_t i)
{
	return v_only_inplace(s, i) &&
	       EVP_DigestVerifyInit(s->md, NULL, NULL, NULL, s->inplace) == 1;
}

static int v_only_fromdata_init(struct st *s, size_t i)
{
	EVP_PKEY *pk = fromdata(s->fd, g_pub[i]);
	int ok;

	EVP_MD_CTX_reset(s->md);
	ok = pk != NULL && EVP_DigestVerifyInit(s->md, NULL, NULL, NULL, pk) == 1;
	EVP_MD_CTX_reset(s->md);
	EVP_PKEY_free(pk);
	return ok;
}

static int v_only_raw_init(struct st *s, size_t i)
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, g_pub[i], 32);
	int ok;

	EVP_MD_CTX_reset(s->md);
	ok = pk != NULL && EVP_DigestVerifyInit(s->md, NULL, NULL, NULL, pk) == 1;
	EVP_MD_CTX_reset(s->md);
	EVP_PKEY_free(pk);
	return ok;
}

/* (c9) the provider's functions called directly: new key, import, new
 * signature context, init, verify, free both. */
static int direct_verify(struct st *s, size_t i, int setup_only)
{
	struct direct *d = &s->dr;
	OSSL_PARAM p[2];
	void *k, *c = NULL;
	int ok = 0;

	p[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						 (void *)(uintptr_t)g_pub[i], 32);
	p[1] = OSSL_PARAM_construct_end();
	if ((k = d->knew(d->provctx)) == NULL)
		return 0;
	if (d->kimport(k, EVP_PKEY_PUBLIC_KEY, p) == 1 && (c = d->snew(d->provctx, NULL)) != NULL &&
	    d->sinit(c, NULL, k, NULL) == 1)
		ok = setup_only ? 1 : d->sverify(c, g_sig[i], 64, g_msg[i], MSGLEN) == 1;
	if (c != NULL)
		d->sfree(c);
	d->kfree(k);
	return ok;
}

/* Split of the set-up: the key alone, and the signature context alone. */
static int v_only_direct_key(struct st *s, size_t i)
{
	struct direct *d = &s->dr;
	OSSL_PARAM p[2];
	void *k;
	int ok;

	p[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						 (void *)(uintptr_t)g_pub[i], 32);
	p[1] = OSSL_PARAM_construct_end();
	if ((k = d->knew(d->provctx)) == NULL)
		return 0;
	ok = d->kimport(k, EVP_PKEY_PUBLIC_KEY, p) == 1;
	d->kfree(k);
	return ok;
}

static int v_only_direct_ctx(struct st *s, size_t i)
{
	struct direct *d = &s->dr;
	void *c;
	int ok;

	(void)i;
	if ((c = d->snew(d->provctx, NULL)) == NULL)
		return 0;
	ok = d->sinit(c, NULL, s->dkey, NULL) == 1;
	d->sfree(c);
	return ok;
}

static int v_direct(struct st *s, size_t i)
{
	return direct_verify(s, i, 0);
}

static int v_only_direct(struct st *s, size_t i)
{
	return direct_verify(s, i, 1);
}

/* (c6) as c3, a new EVP_MD_CTX each call instead of a reset one. */
static int v_fromdata_newmd(struct st *s, size_t i)
{
	EVP_PKEY *pk = fromdata(s->fd, g_pub[i]);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = 0;

	if (pk != NULL && md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1)
		ok = EVP_DigestVerify(md, g_sig[i], 64, g_msg[i], MSGLEN) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return ok;
}

/* (c7) EVP_PKEY_CTX_new_from_pkey + EVP_PKEY_verify_init + EVP_PKEY_verify. */
static int v_pkey_verify(struct st *s, size_t i)
{
	EVP_PKEY *pk = fromdata(s->fd, g_pub[i]);
	EVP_PKEY_CTX *c = NULL;
	int ok = 0;

	if (pk != NULL && (c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) != NULL &&
	    EVP_PKEY_verify_init(c) == 1)
		ok = EVP_PKEY_verify(c, g_sig[i], 64, g_msg[i], MSGLEN) == 1;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return ok;
}

/* Set-up only, to split the cost: key creation alone, and init alone. */
static int v_only_raw(struct st *s, size_t i)
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, g_pub[i], 32);

	(void)s;
	EVP_PKEY_free(pk);
	return pk != NULL;
}

static int v_only_fromdata(struct st *s, size_t i)
{
	EVP_PKEY *pk = fromdata(s->fd, g_pub[i]);

	EVP_PKEY_free(pk);
	return pk != NULL;
}

static int v_only_dup(struct st *s, size_t i)
{
	EVP_PKEY *pk = EVP_PKEY_dup(s->fixed);

	(void)i;
	EVP_PKEY_free(pk);
	return pk != NULL;
}

static int v_only_init(struct st *s, size_t i)
{
	(void)i;
	EVP_MD_CTX_reset(s->md);
	return EVP_DigestVerifyInit(s->md, NULL, NULL, NULL, s->fixed) == 1;
}

struct variant {
	const char *name, *what;
	variant_fn fn;
	int setup_only;
};

static const struct variant variants[] = {
    {"cached", "(b) bound: one key, context set up once", v_cached, 0},
    {"fresh", "(a) kta_ed25519_verify: new pkey+ctx+init", v_fresh, 0},
    {"verifier", "kta_ed25519_verifier_verify (this build)", v_verifier, 0},
    {"cached_init", "cached pkey, DigestVerifyInit every call", v_cached_init, 0},
    {"raw_reset", "(c) new_raw_public_key, reset ctx + init", v_raw_reset, 0},
    {"raw_ex", "(c) new_raw_public_key_ex(NULL,\"ED25519\")", v_raw_ex, 0},
    {"fromdata", "(c) fromdata on a once-inited PKEY_CTX", v_fromdata, 0},
    {"fromdata_pq", "(c) fromdata + init_ex propq=provider=default", v_fromdata_pq, 0},
    {"privlib", "(c) private OSSL_LIB_CTX per thread", v_privlib, 0},
    {"fromdata_newmd", "(c) fromdata, new EVP_MD_CTX per call", v_fromdata_newmd, 0},
    {"inplace", "(c) fromdata into one reused EVP_PKEY", v_inplace, 0},
    {"direct", "(c) provider functions direct, per key", v_direct, 0},
    {"pkey_verify", "(c) EVP_PKEY_verify_init/EVP_PKEY_verify", v_pkey_verify, 0},
    {"only_raw", "set-up only: new_raw_public_key+free", v_only_raw, 1},
    {"only_fromdata", "set-up only: fromdata+free", v_only_fromdata, 1},
    {"only_init", "set-up only: reset + DigestVerifyInit", v_only_init, 1},
    {"only_dup", "set-up only: EVP_PKEY_dup of a template+free", v_only_dup, 1},
    {"only_inplace", "set-up only: fromdata into reused pkey", v_only_inplace, 1},
    {"only_raw_init", "set-up only: new_raw_public_key+init+free", v_only_raw_init, 1},
    {"only_fd_init", "set-up only: fromdata+init+free", v_only_fromdata_init, 1},
    {"only_inpl_init", "set-up only: fromdata in place+init", v_only_inplace_init, 1},
    {"only_direct", "set-up only: provider new+import+newctx+init", v_only_direct, 1},
    {"only_direct_key", "set-up only: provider key new+import+free", v_only_direct_key, 1},
    {"only_direct_ctx", "set-up only: provider newctx+init+freectx", v_only_direct_ctx, 1},
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static int st_init(struct st *s)
{
	memset(s, 0, sizeof(*s));
	if ((s->md = EVP_MD_CTX_new()) == NULL || (s->fixedmd = EVP_MD_CTX_new()) == NULL)
		return -1;
	s->fixed = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, g_pub[0], 32);
	if (s->fixed == NULL || EVP_DigestVerifyInit(s->fixedmd, NULL, NULL, NULL, s->fixed) != 1)
		return -1;
	if ((s->fd = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(s->fd) != 1)
		return -1;
	if ((s->lib = OSSL_LIB_CTX_new()) == NULL ||
	    (s->prov = OSSL_PROVIDER_load(s->lib, "default")) == NULL ||
	    (s->fdlib = EVP_PKEY_CTX_new_from_name(s->lib, "ED25519", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(s->fdlib) != 1)
		return -1;
	if ((s->sigm = EVP_SIGNATURE_fetch(NULL, "ED25519", NULL)) == NULL)
		return -1;
	if (kta_ed25519_verifier_new(&s->ver, NULL) != KTA_OK || direct_init(&s->dr) != 0 ||
	    (s->dkey = s->dr.knew(s->dr.provctx)) == NULL)
		return -1;
	{
		OSSL_PARAM p[2];

		p[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, g_pub[0], 32);
		p[1] = OSSL_PARAM_construct_end();
		if (s->dr.kimport(s->dkey, EVP_PKEY_PUBLIC_KEY, p) != 1)
			return -1;
	}
	return 0;
}

static void st_free(struct st *s)
{
	kta_ed25519_verifier_free(s->ver);
	if (s->dkey != NULL)
		s->dr.kfree(s->dkey);
	EVP_KEYMGMT_free(s->dr.km);
	EVP_SIGNATURE_free(s->sigm);
	EVP_PKEY_CTX_free(s->fdlib);
	OSSL_PROVIDER_unload(s->prov);
	OSSL_LIB_CTX_free(s->lib);
	EVP_PKEY_CTX_free(s->fd);
	EVP_PKEY_free(s->inplace);
	EVP_PKEY_free(s->fixed);
	EVP_MD_CTX_free(s->fixedmd);
	EVP_MD_CTX_free(s->md);
}

struct job {
	struct st *s;
	const struct variant *v;
	unsigned long iters;
	size_t start;
	double cpu;        /* thread CPU seconds */
	unsigned long bad; /* wrong answers: must stay 0 */
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	unsigned long k;
	double t0 = thread_cpu();

	for (k = 0; k < j->iters; k++) {
		size_t i = (j->start + k) % NKEYS;

		if (!j->v->fn(j->s, i))
			j->bad++;
	}
	j->cpu = thread_cpu() - t0;
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static struct st sts[MAXTHREADS];
	static double us[NVARIANTS][MAXROUNDS], wl[NVARIANTS][MAXROUNDS];
	static unsigned long bad[NVARIANTS];
	unsigned long threads = 1, iters = 2000, rounds = 5, t, r;
	size_t i, vi;
	double bound = 0;
	const char *only = NULL;

	if (argc > 4)
		only = argv[4];
	if ((argc > 1 && bench_parse_ulong(argv[1], 1, MAXTHREADS, &threads) != 0) ||
	    (argc > 2 && bench_parse_ulong(argv[2], 1, ULONG_MAX, &iters) != 0) ||
	    (argc > 3 && bench_parse_ulong(argv[3], 1, MAXROUNDS, &rounds) != 0)) {
		fprintf(stderr,
			"usage: bench_ed25519 [THREADS<=%d [ITERS [ROUNDS<=%d [VARIANT]]]]\n",
			MAXTHREADS, MAXROUNDS);
		return 2;
	}
	for (i = 0; i < NKEYS; i++) {
		uint8_t seed[32];

		if (kta_ed25519_generate(seed, g_pub[i], NULL) != KTA_OK)
			return 3;
		memset(g_msg[i], (int)(i & 0xff), MSGLEN);
		g_msg[i][0] = (uint8_t)(i >> 8);
		if (kta_ed25519_sign(seed, g_msg[i], MSGLEN, g_sig[i], NULL) != KTA_OK)
			return 3;
	}
	for (t = 0; t < threads; t++)
		if (st_init(&sts[t]) != 0) {
			fprintf(stderr, "set-up failed\n");
			ERR_print_errors_fp(stderr);
			return 3;
		}
	for (r = 0; r < rounds; r++) {
		for (vi = 0; vi < NVARIANTS; vi++) {
			struct job jobs[MAXTHREADS];

			if (only != NULL && strcmp(only, variants[vi].name) != 0)
				continue;
			pthread_t th[MAXTHREADS];
			double w0 = wall(), cpu = 0;

			for (t = 0; t < threads; t++) {
				jobs[t] = (struct job){&sts[t], &variants[vi], iters, t * 97, 0, 0};
				if (pthread_create(&th[t], NULL, run_job, &jobs[t]) != 0)
					return 3;
			}
			for (t = 0; t < threads; t++) {
				pthread_join(th[t], NULL);
				cpu += jobs[t].cpu;
				bad[vi] += jobs[t].bad;
			}
			wl[vi][r] = (wall() - w0) * 1e6 / (double)(iters * threads);
			us[vi][r] = cpu * 1e6 / (double)(iters * threads);
		}
	}
	printf("%lu thread(s), %lu verifications per thread per round, %d keys, %lu rounds "
	       "(median)\n",
	       threads, iters, NKEYS, rounds);
	printf("kta_ed25519_verifier: %s path\n",
	       kta_ed25519_verifier_is_direct(sts[0].ver) ? "direct provider" : "EVP");
	printf("%-15s %9s %9s %8s  %s\n", "variant", "cpu_us", "wall_us", "bound/x", "what");
	for (vi = 0; vi < NVARIANTS; vi++) {
		double m, mw;

		if (only != NULL && strcmp(only, variants[vi].name) != 0)
			continue;
		qsort(us[vi], rounds, sizeof(double), cmp_double);
		qsort(wl[vi], rounds, sizeof(double), cmp_double);
		m = us[vi][rounds / 2];
		mw = wl[vi][rounds / 2];
		if (vi == 0)
			bound = m; /* 0 when only another variant ran */
		printf("%-15s %9.2f %9.2f %8.3f  %s", variants[vi].name, m, mw,
		       variants[vi].setup_only ? 0.0 : bound / m, variants[vi].what);
		if (bad[vi] != 0)
			printf(" [FAILED %lu of %lu]", bad[vi], iters * threads * rounds);
		printf("\n");
	}
	for (t = 0; t < threads; t++)
		st_free(&sts[t]);
	return 0;
}
