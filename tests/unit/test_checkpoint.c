/* Unit tests for tlog-checkpoint, tlog-cosignature and the witness policy (checkpoint.h). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ed25519.h"
#include "ktaudit/checkpoint.h"
#include "ktaudit/encoding.h"

#define EMDASH "\xe2\x80\x94"
/* Vkeys from testdata/checkpoints/index.json and testdata/note/known_vkeys.json. */
#define SUMDB_VKEY "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
#define SUMDB_ORIGIN "go.sum database tree"
#define AW_VKEY                                                                                    \
	"transparency.dev-aw-ftlog-ci-2+f77c6276+AZXqiaARpwF4MoNOxx46kuiIRjrML0PDTm+c7BLaAMt6"
#define AW_ORIGIN "transparency.dev/armored-witness/firmware_transparency/ci/2"
#define REKOR_VKEY                                                                                 \
	"rekor.sigstore.dev+c0d23d6a+"                                                             \
	"AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBc"                         \
	"K5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc="
#define PIXEL_VKEY                                                                                 \
	"pixel6_transparency_log+91c16e30+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+"                 \
	"4x0Jk1yTwvLFI9A4NDdG"                                                                     \
	"ZcX0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8="
#define ARCHE_VKEY                                                                                 \
	"arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/"                             \
	"PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
#define REMORA_VKEY "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
#define REMORA_TIME 1779573024 /* 0x6a122120, the remora cosignature's timestamp */
#define ROME_VKEY                                                                                  \
	"rome.ct.filippo.io/"                                                                      \
	"2024h1+78f4abae+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAFzPC3fap+uINc1RQ4eR"                \
	"bYMUt84+bKkA8GDLN8KwVdzAgYhYSv4kS8XSheGLAHCWhIJTJbuC3sL88bNMTtrsBM="
/* serverless-log test key (testdata/checkpoints/SOURCES.md). */
#define ASTRA_VKEY "astra+cad5a3d2+AZJqeuyE/GnknsCNh1eCtDtwdAwKBddOlS8M2eI1Jt4b"
/* testdata/checkpoints/witness/monkeys.json (test keys). */
#define MONKEYS_VKEY "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT"
#define WITNESS_SKEY "PRIVATE+KEY+witness+f13a86db+AaLa/dfyBhyo/m0Z7WCi98ENVZWtrP8pxgRNrx7tIWiA"
#define SPEC_CP                                                                                    \
	"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

static struct kta_vkey *vk(const char *s)
{
	struct kta_vkey *k = NULL;
	struct kta_error err;

	if (kta_vkey_parse(s, strlen(s), &k, &err) != KTA_OK)
		fail_msg("vkey %s: %s", s, err.msg);
	return k;
}

struct pol {
	const char *log, *origin;
	const char *wit[4];
	size_t nwit, quorum;
	int64_t now;
	uint64_t max_age, max_skew;
};

/* Verifies (buf, len) under the policy described by q; fills res and msg. */
static enum kta_status check(const void *buf, size_t len, const struct pol *q,
			     struct kta_checkpoint_result *res, char *msg)
{
	struct kta_vkey *log = vk(q->log), *w[4];
	struct kta_checkpoint_policy p;
	struct kta_error err;
	enum kta_status r;
	size_t i;

	for (i = 0; i < q->nwit; i++)
		w[i] = vk(q->wit[i]);
	memset(&p, 0, sizeof(p));
	p.log_key = log;
	p.origin = q->origin;
	p.witnesses = (const struct kta_vkey *const *)w;
	p.nwitnesses = q->nwit;
	p.quorum = q->quorum;
	p.now = q->now;
	p.max_age = q->max_age;
	p.max_skew = q->max_skew;
	kta_error_clear(&err);
	r = kta_checkpoint_verify(buf, len, &p, res, &err);
	if (msg != NULL)
		tu_copy_str(msg, KTA_ERROR_MSG_MAX, err.msg);
	for (i = 0; i < q->nwit; i++)
		kta_vkey_free(w[i]);
	kta_vkey_free(log);
	return r;
}

static enum kta_status check_file(const char *rel, const struct pol *q,
				  struct kta_checkpoint_result *res, char *msg)
{
	size_t len;
	uint8_t *buf = tu_read_testdata(rel, &len);
	enum kta_status r = check(buf, len, q, res, msg);

	free(buf);
	return r;
}

static void expect_fail(const void *buf, size_t len, const struct pol *q, enum kta_status want,
			const char *msg)
{
	struct kta_checkpoint_result res;
	char m[KTA_ERROR_MSG_MAX];

	assert_int_equal(check(buf, len, q, &res, m), want);
	assert_null(res.cp);
	assert_int_equal(res.newest_cosig_time, -1);
	if (msg != NULL && strstr(m, msg) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", m, msg);
}

static void parse_spec_example(void **state)
{
	struct kta_checkpoint *c = NULL;
	struct kta_error err;
	char *s;

	(void)state;
	assert_int_equal(kta_checkpoint_parse((const uint8_t *)SPEC_CP, strlen(SPEC_CP), &c, &err),
			 KTA_OK);
	assert_string_equal(c->origin, "example.com/behind-the-sofa");
	assert_int_equal(c->size, 20852163);
	assert_int_equal(c->root[0], 0x0a);
	assert_int_equal(c->next, 0);
	assert_null(c->ext);
	s = kta_checkpoint_format(c);
	assert_string_equal(s, SPEC_CP);
	free(s);
	kta_checkpoint_free(c);
	kta_checkpoint_free(NULL);
	/* Extension lines and size 0. */
	assert_int_equal(
	    kta_checkpoint_parse(
		(const uint8_t
		     *)"o\n0\n"
		       "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next one\n\xc3\xa9t\xc3\xa9\n",
		strlen(
		    "o\n0\n"
		    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next one\n\xc3\xa9t\xc3\xa9\n"),
		&c, &err),
	    KTA_OK);
	assert_int_equal(c->size, 0);
	assert_int_equal(c->next, 2);
	assert_string_equal(c->ext[0], "ext one");
	assert_string_equal(c->ext[1], "\xc3\xa9t\xc3\xa9");
	s = kta_checkpoint_format(c);
	assert_string_equal(
	    s, "o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next one\n\xc3\xa9t\xc3\xa9\n");
	free(s);
	kta_checkpoint_free(c);
}

static void parse_bad(const char *s, size_t len, enum kta_status want, const char *msg)
{
	struct kta_checkpoint *c = (struct kta_checkpoint *)1;
	struct kta_error err;

	kta_error_clear(&err);
	assert_int_equal(kta_checkpoint_parse((const uint8_t *)s, len, &c, &err), want);
	assert_null(c);
	if (msg != NULL && strstr(err.msg, msg) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg);
}

#define ROOT "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
#define BAD(s, want, msg) parse_bad(s, strlen(s), want, msg)

static void parse_rejects(void **state)
{
	char *big;
	size_t i, pos;

	(void)state;
	BAD("", KTA_ERR_MALFORMED, "newline");
	BAD("o\n5\n" ROOT, KTA_ERR_MALFORMED, "newline");
	BAD("\n5\n" ROOT "\n", KTA_ERR_MALFORMED, "line 1: empty origin");
	BAD("o\n", KTA_ERR_MALFORMED, "line 2: missing");
	BAD("o\n5\n", KTA_ERR_MALFORMED, "line 3: missing");
	/* Tree size: canonical decimal only. */
	BAD("o\n05\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n00\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n+5\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n-1\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n 5\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n5 \n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n0x5\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n18446744073709551616\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2");
	BAD("o\n\xd9\xa5\n" ROOT "\n", KTA_ERR_MALFORMED, "line 2"); /* Arabic-Indic five */
	/* Root: canonical base64 of exactly 32 bytes. */
	BAD("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", KTA_ERR_MALFORMED,
	    "line 3: root hash");
	BAD("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", KTA_ERR_MALFORMED, "line 3");
	BAD("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n", KTA_ERR_MALFORMED, "line 3");
	BAD("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA\n", KTA_ERR_MALFORMED, "line 3");
	BAD("o\n5\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n", KTA_ERR_MALFORMED, "line 3");
	BAD("o\n5\n0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62\n",
	    KTA_ERR_MALFORMED, "line 3");
	BAD("o\n5\n" ROOT " \n", KTA_ERR_MALFORMED, "line 3");
	/* Extension lines must be non-empty. */
	BAD("o\n5\n" ROOT "\n\n", KTA_ERR_MALFORMED, "line 4: empty extension line");
	BAD("o\n5\n" ROOT "\nx\n\ny\n", KTA_ERR_MALFORMED, "line 5: empty extension line");
	/* Characters. */
	BAD("o\r\n5\n" ROOT "\n", KTA_ERR_MALFORMED, "control character 0x0d");
	BAD("o\xff\n5\n" ROOT "\n", KTA_ERR_MALFORMED, "UTF-8");
	/* Limits. */
	big = malloc(64 + (KTA_CHECKPOINT_MAX_EXT + 1) * 3);
	pos = (size_t)sprintf(big, "o\n5\n%s\n", ROOT);
	for (i = 0; i < KTA_CHECKPOINT_MAX_EXT; i++)
		pos += (size_t)sprintf(big + pos, "e\n");
	{
		struct kta_checkpoint *c = NULL;

		assert_int_equal(kta_checkpoint_parse((uint8_t *)big, pos, &c, NULL), KTA_OK);
		assert_int_equal(c->next, KTA_CHECKPOINT_MAX_EXT);
		kta_checkpoint_free(c);
	}
	pos += (size_t)sprintf(big + pos, "e\n");
	parse_bad(big, pos, KTA_ERR_LIMIT, "extension lines");
	free(big);
	parse_bad("x", KTA_NOTE_MAX_SIZE + 1, KTA_ERR_LIMIT, NULL);
	parse_bad(NULL, 3, KTA_ERR_USAGE, NULL);
}

static void sumdb_vectors(void **state)
{
	static const struct {
		const char *file;
		uint64_t size;
	} v[] = {
	    {"checkpoints/sumdb/sum_golang_org_6476701.note", 6476701},
	    {"checkpoints/sumdb/sum_golang_org_1514086.note", 1514086},
	    {"checkpoints/sumdb/sum_golang_org_35225469.note", 35225469},
	    {"checkpoints/sumdb/latest_66746896.txt", 66746896},
	};
	struct pol q = {.log = SUMDB_VKEY, .origin = SUMDB_ORIGIN, .now = 1};
	struct kta_checkpoint_result res;
	char msg[KTA_ERROR_MSG_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (check_file(v[i].file, &q, &res, msg) != KTA_OK)
			fail_msg("%s: %s", v[i].file, msg);
		assert_string_equal(res.cp->origin, SUMDB_ORIGIN);
		assert_int_equal(res.cp->size, v[i].size);
		assert_int_equal(res.cosigned, 0);
		assert_int_equal(res.has_cosig_time, 0);
		assert_int_equal(res.newest_cosig_time, -1);
		kta_checkpoint_result_free(&res);
		assert_null(res.cp);
	}
	/* Without the override the origin must equal the key name. */
	q.origin = NULL;
	assert_int_equal(check_file(v[0].file, &q, &res, msg), KTA_ERR_VERIFY);
	assert_non_null(strstr(msg, "origin"));
	assert_non_null(strstr(msg, "go.sum database tree"));
	assert_null(res.cp);
	/* A wrong override. */
	q.origin = "go.sum database tree2";
	assert_int_equal(check_file(v[0].file, &q, &res, msg), KTA_ERR_VERIFY);
}

static void sumdb_lookup(void **state)
{
	size_t len;
	uint8_t *buf =
	    tu_read_testdata("checkpoints/sumdb/lookup_golang.org_x_mod@v0.17.0.txt", &len);
	struct pol q = {.log = SUMDB_VKEY, .origin = SUMDB_ORIGIN};
	struct kta_checkpoint_result res;
	char msg[KTA_ERROR_MSG_MAX];
	uint8_t *note;

	(void)state;
	/* The whole /lookup response is one note whose text is not a checkpoint. */
	expect_fail(buf, len, &q, KTA_ERR_MALFORMED, "tree size");
	/* The signed tree note follows the record and its blank line. */
	note = (uint8_t *)strstr((char *)buf, "\n\n") + 2;
	assert_int_equal(check(note, len - (size_t)(note - buf), &q, &res, msg), KTA_OK);
	assert_int_equal(res.cp->size, 66746981);
	kta_checkpoint_result_free(&res);
	free(buf);
}

static void armored_witness(void **state)
{
	struct pol q = {.log = AW_VKEY, .origin = AW_ORIGIN};
	struct kta_checkpoint_result res;
	char msg[KTA_ERROR_MSG_MAX];
	size_t len;
	uint8_t *buf;

	(void)state;
	assert_int_equal(
	    check_file("checkpoints/armored_witness_ftlog_ci_2_56.note", &q, &res, msg), KTA_OK);
	assert_int_equal(res.cp->size, 56);
	kta_checkpoint_result_free(&res);
	q.origin = NULL;
	buf = tu_read_testdata("checkpoints/armored_witness_ftlog_ci_2_56.note", &len);
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "is not the expected");
	/* Tampered size: the signature no longer verifies. */
	q.origin = AW_ORIGIN;
	buf[strlen(AW_ORIGIN) + 1] = '7';
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "invalid signature by key transparency.dev-aw");
	free(buf);
}

static void ecdsa_logs(void **state)
{
	struct pol q = {.log = REKOR_VKEY, .origin = "Rekor"};
	struct kta_checkpoint_result res;
	char msg[KTA_ERROR_MSG_MAX];

	(void)state;
	assert_int_equal(check_file("checkpoints/rekor_sigstore_dev_798034.note", &q, &res, msg),
			 KTA_OK);
	assert_int_equal(res.cp->size, 798034);
	kta_checkpoint_result_free(&res);
	q.log = PIXEL_VKEY;
	q.origin = "DEFAULT";
	assert_int_equal(check_file("checkpoints/pixel6_transparency_log_10.note", &q, &res, msg),
			 KTA_OK);
	assert_int_equal(res.cp->size, 10);
	kta_checkpoint_result_free(&res);
	/* The rekor note under the pixel key: no signature by it. */
	assert_int_equal(check_file("checkpoints/rekor_sigstore_dev_798034.note", &q, &res, msg),
			 KTA_ERR_VERIFY);
	assert_non_null(strstr(msg, "no signature by pixel6_transparency_log"));
}

static void arche_cosigned(void **state)
{
	const char *file = "checkpoints/arche2025h1_staging_1432088532_cosigned.note";
	struct pol q = {.log = ARCHE_VKEY,
			.wit = {REMORA_VKEY},
			.nwit = 1,
			.quorum = 1,
			.now = REMORA_TIME + 100};
	struct kta_checkpoint_result res;
	char msg[KTA_ERROR_MSG_MAX];
	size_t len;
	uint8_t *buf = tu_read_testdata(file, &len);
	struct kta_skey *other = NULL;
	struct kta_vkey *ov = NULL;
	struct kta_error err;
	char *ovs;

	(void)state;
	assert_int_equal(check(buf, len, &q, &res, msg), KTA_OK);
	assert_int_equal(res.cp->size, 1432088532);
	assert_int_equal(res.cosigned, 1);
	assert_int_equal(res.has_cosig_time, 1);
	assert_int_equal(res.newest_cosig_time, REMORA_TIME);
	kta_checkpoint_result_free(&res);
	/* Age: 100 s old. */
	q.max_age = 100;
	assert_int_equal(check(buf, len, &q, &res, msg), KTA_OK);
	kta_checkpoint_result_free(&res);
	q.max_age = 99;
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "too old");
	/* Future cosignature: rejected unless within the allowed skew. */
	q.max_age = 0;
	q.now = REMORA_TIME - 10;
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "in the future");
	q.max_skew = 10;
	assert_int_equal(check(buf, len, &q, &res, msg), KTA_OK);
	kta_checkpoint_result_free(&res);
	q.max_skew = 9;
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "10 seconds in the future");
	q.max_skew = UINT64_MAX; /* saturates, no overflow */
	assert_int_equal(check(buf, len, &q, &res, msg), KTA_OK);
	kta_checkpoint_result_free(&res);
	q.max_skew = 0;
	q.now = REMORA_TIME;

	/* Quorum 2 with a second witness that did not cosign. */
	assert_int_equal(
	    kta_skey_generate("witness.example/absent", KTA_KEY_COSIGNATURE_V1, &other, &err),
	    KTA_OK);
	assert_int_equal(kta_skey_vkey(other, &ov, &err), KTA_OK);
	ovs = kta_vkey_format(ov);
	q.wit[1] = ovs;
	q.nwit = 2;
	q.quorum = 2;
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "witness quorum not met: 1 of 2");
	q.quorum = 1;
	assert_int_equal(check(buf, len, &q, &res, msg), KTA_OK);
	assert_int_equal(res.cosigned, 1);
	kta_checkpoint_result_free(&res);
	/* The same witness listed twice counts once. */
	q.wit[1] = REMORA_VKEY;
	q.quorum = 2;
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "witness quorum not met: 1 of 2");
	q.quorum = 1;
	assert_int_equal(check(buf, len, &q, &res, msg), KTA_OK);
	assert_int_equal(res.cosigned, 1);
	kta_checkpoint_result_free(&res);
	/* The log key listed as a witness does not count. */
	q.wit[1] = ARCHE_VKEY;
	q.quorum = 2;
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "witness quorum not met: 1 of 2");
	q.quorum = 1;
	/* A witness key under the name of a cosigner, with another ID. */
	{
		struct kta_skey *imp = NULL;
		struct kta_vkey *iv = NULL;
		char *ivs;

		assert_int_equal(
		    kta_skey_generate("witness.stagemole.eu", KTA_KEY_COSIGNATURE_V1, &imp, &err),
		    KTA_OK);
		assert_int_equal(kta_skey_vkey(imp, &iv, &err), KTA_OK);
		ivs = kta_vkey_format(iv);
		q.wit[1] = ivs;
		expect_fail(buf, len, &q, KTA_ERR_VERIFY, "key ID mismatch");
		free(ivs);
		kta_vkey_free(iv);
		kta_skey_free(imp);
	}
	/* The log key as 0x04 witness or the remora key as the log: no signature. */
	q.nwit = 0;
	q.quorum = 0;
	q.log = REMORA_VKEY;
	q.origin = "arche2025h1.staging.ct.transparency.dev";
	assert_int_equal(check(buf, len, &q, &res, msg), KTA_OK); /* a 0x04 log key verifies */
	kta_checkpoint_result_free(&res);
	q.log = ARCHE_VKEY;
	q.origin = NULL;
	/* No witnesses: the age cannot be established. */
	q.max_age = 1000;
	expect_fail(buf, len, &q, KTA_ERR_VERIFY, "cannot establish age");
	free(ovs);
	kta_vkey_free(ov);
	kta_skey_free(other);
	free(buf);
}

static void unsupported_types(void **state)
{
	struct kta_vkey *k = (struct kta_vkey *)1;
	struct kta_error err;
	struct kta_checkpoint *c = NULL;
	struct kta_note *n = NULL;
	size_t len;
	uint8_t *buf;

	(void)state;
	/* The log's own 0x05 key is supported (static-ct-api; see test_ct.c). */
	assert_int_equal(kta_vkey_parse(ROME_VKEY, strlen(ROME_VKEY), &k, &err), KTA_OK);
	assert_int_equal(k->type, KTA_KEY_RFC6962);
	kta_vkey_free(k);
	/* The note and its checkpoint still parse. */
	buf = tu_read_testdata("checkpoints/rome_ct_filippo_io_2024h1_115474666.note", &len);
	assert_int_equal(kta_note_parse(buf, len, &n, &err), KTA_OK);
	assert_int_equal(kta_checkpoint_parse(n->text, n->text_len, &c, &err), KTA_OK);
	assert_int_equal(c->size, 115474666);
	kta_checkpoint_free(c);
	kta_note_free(n);
	free(buf);
	/* The ML-DSA cosigned note: parses (a 2432-byte signature), ML-DSA lines of
	 * unknown names are ignored by a policy that does not name them. */
	buf = tu_read_testdata(
	    "checkpoints/coachandhorses2026h1_staging_185550722_mldsa_cosigned.note", &len);
	assert_int_equal(kta_note_parse(buf, len, &n, &err), KTA_OK);
	assert_int_equal(n->nsigs, 3);
	assert_int_equal(n->sigs[2].key_id, 0x6bc44249u);
	assert_int_equal(n->sigs[2].sig_len, 8 + 2420);
	assert_int_equal(n->sigs[1].sig_len, 72);
	kta_note_free(n);
	{
		struct kta_skey *w = NULL;
		struct kta_vkey *wv = NULL;
		char *wvs;
		struct pol q = {.log = ARCHE_VKEY, .nwit = 0, .quorum = 0};

		/* A log key of another log: no signature by it, the rest ignored. */
		expect_fail(buf, len, &q, KTA_ERR_VERIFY, "no signature by arche2025h1");
		/* A policy naming the ML-DSA witness with some other key: mismatch. */
		assert_int_equal(kta_skey_generate("witness.navigli.sunlight.geomys.org",
						   KTA_KEY_COSIGNATURE_V1, &w, &err),
				 KTA_OK);
		assert_int_equal(kta_skey_vkey(w, &wv, &err), KTA_OK);
		wvs = kta_vkey_format(wv);
		q.wit[0] = wvs;
		q.nwit = 1;
		expect_fail(buf, len, &q, KTA_ERR_VERIFY, "key ID mismatch");
		free(wvs);
		kta_vkey_free(wv);
		kta_skey_free(w);
	}
	free(buf);
}

static void serverless_log(void **state)
{
	struct pol q = {.log = ASTRA_VKEY, .origin = "example.com/testdata"};
	struct kta_checkpoint_result res;
	char msg[KTA_ERROR_MSG_MAX], rel[128];
	int i;

	(void)state;
	for (i = 0; i < 16; i++) {
		snprintf(rel, sizeof(rel), "checkpoints/serverless-log/checkpoint.%d", i);
		if (check_file(rel, &q, &res, msg) != KTA_OK)
			fail_msg("%s: %s", rel, msg);
		assert_int_equal(res.cp->size, (uint64_t)i);
		kta_checkpoint_result_free(&res);
	}
	assert_int_equal(check_file("checkpoints/serverless-log/checkpoint", &q, &res, msg),
			 KTA_OK);
	assert_int_equal(res.cp->size, 15);
	kta_checkpoint_result_free(&res);
	/* The key name is "astra", not the origin. */
	q.origin = NULL;
	assert_int_equal(check_file("checkpoints/serverless-log/checkpoint.3", &q, &res, msg),
			 KTA_ERR_VERIFY);
}

static void sha256_hex(const uint8_t *in, size_t len, char out[65])
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	assert_int_equal(EVP_Digest(in, len, md, &mdlen, EVP_sha256(), NULL), 1);
	kta_hex_encode(md, 32, out);
}

static void sigsum_vectors(void **state)
{
	uint8_t seed[32] = {17}, pub[32];
	char origin[128], hex[65];
	struct kta_skey *k = NULL;
	struct kta_vkey *v = NULL;
	struct kta_error err;
	struct pol q = {0};
	struct kta_checkpoint_result res;
	char msg[KTA_ERROR_MSG_MAX], *vs;
	size_t len;
	uint8_t *buf = tu_read_testdata("checkpoints/sigsum/checkpoint_seed17_size10.note", &len);
	uint8_t *out = NULL;
	size_t out_len = 0;
	struct kta_note *n = NULL;

	(void)state;
	/* crypto.PrivateKey{17}; origin = sigsum.org/v1/tree/hex(SHA-256(pubkey)). */
	assert_int_equal(kta_ed25519_public(seed, pub, &err), KTA_OK);
	sha256_hex(pub, 32, hex);
	snprintf(origin, sizeof(origin), "sigsum.org/v1/tree/%s", hex);
	assert_int_equal(kta_skey_from_seed(origin, KTA_KEY_ED25519, seed, &k, &err), KTA_OK);
	assert_int_equal(kta_skey_vkey(k, &v, &err), KTA_OK);
	vs = kta_vkey_format(v);
	q.log = vs;
	assert_int_equal(check(buf, len, &q, &res, msg), KTA_OK);
	assert_int_equal(res.cp->size, 10);
	assert_string_equal(res.cp->origin, origin);
	kta_checkpoint_result_free(&res);
	/* Re-signing the text reproduces the note byte for byte. */
	assert_int_equal(kta_note_parse(buf, len, &n, &err), KTA_OK);
	assert_int_equal(kta_note_sign(n->text, n->text_len, k, &out, &out_len, &err), KTA_OK);
	assert_int_equal(out_len, len);
	assert_memory_equal(out, buf, len);
	free(out);
	kta_note_free(n);
	free(vs);
	kta_vkey_free(v);
	kta_skey_free(k);
	free(buf);
}

static void sigsum_signed_tree_head(void **state)
{
	/* sigsum_vectors.json "signed_tree_head": an Ed25519 signature over the checkpoint text. */
	static const char ssh_b64[] =
	    "AAAAC3NzaC1lZDI1NTE5AAAAIN6kw3w2BWjlKLdrtnv4IaN+zg8/RpKGA98AbbTwjpdQ";
	static const char root_hex[] =
	    "7bca01e88737999fde5c1d6ecac27ae3cb49e14f21bcd3e7245c276877b899c9";
	static const char sig_hex[] =
	    "c60e5151b9d0f0efaf57022c0ec306c0f0275afef69333cc89df4fda328c87949fcfa44564f35020938a4c"
	    "d6c1c50bc0349b2f54b82f5f6104b9cd52be2cd90e";
	uint8_t blob[64], root[32], raw[68];
	char hex[65], note[512], root_b64[45], sig_b64[KTA_B64_ENCODED_LEN(68) + 1];
	size_t blob_len = 0, pos;
	struct kta_vkey v;
	uint32_t id = 0;
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_b64_decode(ssh_b64, strlen(ssh_b64), blob, sizeof(blob), &blob_len),
			 KTA_OK);
	assert_int_equal(blob_len, 51); /* string "ssh-ed25519", string key[32] */
	assert_int_equal(kta_hex_decode(root_hex, 64, root, 32), KTA_OK);
	assert_int_equal(kta_hex_decode(sig_hex, 128, raw + 4, 64), KTA_OK);
	sha256_hex(blob + 19, 32, hex);
	memset(&v, 0, sizeof(v));
	v.name = malloc(64 + 20);
	sprintf(v.name, "sigsum.org/v1/tree/%s", hex);
	v.type = KTA_KEY_ED25519;
	v.key = blob + 19;
	v.key_len = 32;
	assert_int_equal(kta_key_id(v.name, strlen(v.name), KTA_KEY_ED25519, v.key, 32, &id, &err),
			 KTA_OK);
	v.key_id = id;
	raw[0] = (uint8_t)(id >> 24);
	raw[1] = (uint8_t)(id >> 16);
	raw[2] = (uint8_t)(id >> 8);
	raw[3] = (uint8_t)id;
	kta_b64_encode(root, 32, root_b64);
	kta_b64_encode(raw, 68, sig_b64);
	pos = (size_t)snprintf(note, sizeof(note), "%s\n4\n%s\n\n" EMDASH " %s %s\n", v.name,
			       root_b64, v.name, sig_b64);
	memset(&p, 0, sizeof(p));
	p.log_key = &v;
	assert_int_equal(kta_checkpoint_verify((uint8_t *)note, pos, &p, &res, &err), KTA_OK);
	assert_int_equal(res.cp->size, 4);
	kta_checkpoint_result_free(&res);
	/* Size 5 instead of 4: the same signature fails. */
	note[strlen(v.name) + 1] = '5';
	assert_int_equal(kta_checkpoint_verify((uint8_t *)note, pos, &p, &res, &err),
			 KTA_ERR_VERIFY);
	free(v.name);
}

static void monkeys_and_cosign(void **state)
{
	struct pol q = {.log = MONKEYS_VKEY};
	struct kta_checkpoint_result res;
	char msg[KTA_ERROR_MSG_MAX], *wvs;
	struct kta_skey *w01 = NULL, *w = NULL;
	struct kta_vkey *wv = NULL;
	struct kta_error err;
	size_t len, blen;
	uint8_t *buf, *out = NULL, *body;

	(void)state;
	assert_int_equal(check_file("checkpoints/witness/monkeys_5.note", &q, &res, msg), KTA_OK);
	assert_int_equal(res.cp->size, 5);
	kta_checkpoint_result_free(&res);
	assert_int_equal(check_file("checkpoints/witness/monkeys_8.note", &q, &res, msg), KTA_OK);
	assert_int_equal(res.cp->size, 8);
	kta_checkpoint_result_free(&res);
	/* The add-checkpoint body carries the size-8 note after its proof block. */
	body = tu_read_testdata("checkpoints/witness/add-checkpoint_5_to_8.body", &blen);
	{
		uint8_t *cp = (uint8_t *)strstr((char *)body, "\n\n") + 2;

		assert_int_equal(check(cp, blen - (size_t)(cp - body), &q, &res, msg), KTA_OK);
		assert_int_equal(res.cp->size, 8);
		kta_checkpoint_result_free(&res);
	}
	free(body);

	/* Cosign like the upstream witness: its Ed25519 key with type 0x04. */
	assert_int_equal(kta_skey_parse(WITNESS_SKEY, strlen(WITNESS_SKEY), &w01, &err), KTA_OK);
	assert_int_equal(kta_skey_from_seed("witness", KTA_KEY_COSIGNATURE_V1, w01->seed, &w, &err),
			 KTA_OK);
	assert_int_equal(kta_skey_vkey(w, &wv, &err), KTA_OK);
	wvs = kta_vkey_format(wv);
	buf = tu_read_testdata("checkpoints/witness/monkeys_8.note", &len);
	assert_int_equal(kta_checkpoint_cosign(buf, len, w, 1700000000u, &out, &blen, &err),
			 KTA_OK);
	q.wit[0] = wvs;
	q.nwit = 1;
	q.quorum = 1;
	q.now = 1700000000;
	assert_int_equal(check(out, blen, &q, &res, msg), KTA_OK);
	assert_int_equal(res.cosigned, 1);
	assert_int_equal(res.newest_cosig_time, 1700000000);
	kta_checkpoint_result_free(&res);
	q.now = 1699999999;
	expect_fail(out, blen, &q, KTA_ERR_VERIFY, "1 seconds in the future");
	/* The witness's plain 0x01 key does not match the 0x04 line's ID. */
	q.wit[0] = "witness+f13a86db+AdYV1Ztajd9BvyjP2HgpwrqYL6TjOwIjGMOq8Bu42xbN";
	q.now = 1700000000;
	expect_fail(out, blen, &q, KTA_ERR_VERIFY, "key ID mismatch");
	free(out);
	out = NULL;
	/* cosign refuses a non-0x04 key, a bad time, a non-checkpoint note. */
	assert_int_equal(kta_checkpoint_cosign(buf, len, w01, 1, &out, &blen, &err), KTA_ERR_USAGE);
	assert_int_equal(
	    kta_checkpoint_cosign(buf, len, w, (uint64_t)INT64_MAX + 1, &out, &blen, &err),
	    KTA_ERR_USAGE);
	assert_int_equal(kta_checkpoint_cosign((const uint8_t *)"hello\n\n" EMDASH " a AAAAAAA=\n",
					       strlen("hello\n\n" EMDASH " a AAAAAAA=\n"), w, 1,
					       &out, &blen, &err),
			 KTA_ERR_MALFORMED);
	assert_null(out);
	free(buf);
	free(wvs);
	kta_vkey_free(wv);
	kta_skey_free(w);
	kta_skey_free(w01);
}

/* Signs a checkpoint text with a fresh log key; returns the note and the vkey string. */
static uint8_t *make_log(const char *text, char **vkey, struct kta_skey **key, size_t *len)
{
	struct kta_skey *k = NULL;
	struct kta_vkey *v = NULL;
	struct kta_error err;
	uint8_t *note = NULL;
	const char *nl = strchr(text, '\n');
	char name[128];

	memcpy(name, text, (size_t)(nl - text));
	name[nl - text] = '\0';
	assert_int_equal(kta_skey_generate(name, KTA_KEY_ED25519, &k, &err), KTA_OK);
	assert_int_equal(kta_note_sign((const uint8_t *)text, strlen(text), k, &note, len, &err),
			 KTA_OK);
	assert_int_equal(kta_skey_vkey(k, &v, &err), KTA_OK);
	*vkey = kta_vkey_format(v);
	kta_vkey_free(v);
	*key = k;
	return note;
}

static void extension_lines_cosigned(void **state)
{
	static const char text[] = "example.com/log\n42\n" ROOT "\nextension line\n";
	struct kta_skey *log = NULL, *w = NULL;
	struct kta_vkey *wv = NULL;
	char *logv, *wvs, msg[KTA_ERROR_MSG_MAX];
	struct kta_error err;
	size_t len, clen;
	uint8_t *note = make_log(text, &logv, &log, &len), *cos = NULL;
	struct kta_checkpoint_result res;
	struct pol q = {0};

	(void)state;
	assert_int_equal(kta_skey_generate("witness.example/w1", KTA_KEY_COSIGNATURE_V1, &w, &err),
			 KTA_OK);
	assert_int_equal(kta_skey_vkey(w, &wv, &err), KTA_OK);
	wvs = kta_vkey_format(wv);
	assert_int_equal(kta_checkpoint_cosign(note, len, w, 1000, &cos, &clen, &err), KTA_OK);
	q.log = logv;
	q.wit[0] = wvs;
	q.nwit = 1;
	q.quorum = 1;
	q.now = 1000;
	assert_int_equal(check(cos, clen, &q, &res, msg), KTA_OK);
	assert_int_equal(res.cp->next, 1);
	assert_string_equal(res.cp->ext[0], "extension line");
	kta_checkpoint_result_free(&res);
	free(cos);
	/* tlog-cosignature: the message includes the extension lines; a
	 * cosignature over the first three lines only must not verify. */
	{
		static const char three[] =
		    "cosignature/v1\ntime 1000\nexample.com/log\n42\n" ROOT "\n";
		uint8_t raw[4 + 72];
		char b64[KTA_B64_ENCODED_LEN(76) + 1], *forged;
		size_t flen;

		raw[0] = (uint8_t)(w->key_id >> 24);
		raw[1] = (uint8_t)(w->key_id >> 16);
		raw[2] = (uint8_t)(w->key_id >> 8);
		raw[3] = (uint8_t)w->key_id;
		memset(raw + 4, 0, 8);
		raw[10] = 0x03;
		raw[11] = 0xe8; /* 1000 */
		assert_int_equal(kta_ed25519_sign(w->seed, (const uint8_t *)three, strlen(three),
						  raw + 12, &err),
				 KTA_OK);
		kta_b64_encode(raw, sizeof(raw), b64);
		forged = malloc(len + 200);
		memcpy(forged, note, len);
		flen = len + (size_t)sprintf(forged + len, EMDASH " witness.example/w1 %s\n", b64);
		expect_fail(forged, flen, &q, KTA_ERR_VERIFY,
			    "invalid signature by key witness.example/w1");
		free(forged);
	}
	free(wvs);
	kta_vkey_free(wv);
	kta_skey_free(w);
	free(logv);
	kta_skey_free(log);
	free(note);
}

static void full_roundtrip_quorum(void **state)
{
	static const char text[] = "example.com/log\n7\n" ROOT "\n";
	struct kta_skey *log = NULL, *w[3] = {NULL, NULL, NULL};
	char *logv, *wvs[3], msg[KTA_ERROR_MSG_MAX];
	struct kta_error err;
	size_t len, i, l2;
	uint8_t *note = make_log(text, &logv, &log, &len), *cur, *next = NULL;
	struct kta_checkpoint_result res;
	struct pol q = {0};

	(void)state;
	cur = note;
	for (i = 0; i < 3; i++) {
		struct kta_vkey *v = NULL;
		char name[32];

		snprintf(name, sizeof(name), "w%zu.example", i);
		assert_int_equal(kta_skey_generate(name, KTA_KEY_COSIGNATURE_V1, &w[i], &err),
				 KTA_OK);
		assert_int_equal(kta_skey_vkey(w[i], &v, &err), KTA_OK);
		wvs[i] = kta_vkey_format(v);
		kta_vkey_free(v);
		if (i < 2) {
			assert_int_equal(
			    kta_checkpoint_cosign(cur, len, w[i], 500 + i, &next, &l2, &err),
			    KTA_OK);
			if (cur != note)
				free(cur);
			cur = next;
			len = l2;
		}
	}
	q.log = logv;
	q.wit[0] = wvs[0];
	q.wit[1] = wvs[1];
	q.wit[2] = wvs[2];
	q.nwit = 3;
	q.quorum = 2;
	q.now = 600;
	q.max_age = 99;
	assert_int_equal(check(cur, len, &q, &res, msg), KTA_OK);
	assert_int_equal(res.cosigned, 2);
	assert_int_equal(res.newest_cosig_time, 501);
	kta_checkpoint_result_free(&res);
	q.quorum = 3;
	expect_fail(cur, len, &q, KTA_ERR_VERIFY, "witness quorum not met: 2 of 3");
	q.quorum = 2;
	q.max_age = 98;
	expect_fail(cur, len, &q, KTA_ERR_VERIFY, "too old");
	/* Usage errors. */
	q.max_age = 0;
	q.quorum = 4;
	expect_fail(cur, len, &q, KTA_ERR_USAGE, "quorum 4 exceeds");
	q.quorum = 0;
	q.now = -1;
	expect_fail(cur, len, &q, KTA_ERR_USAGE, NULL);
	{
		struct kta_checkpoint_policy p;

		memset(&p, 0, sizeof(p));
		assert_int_equal(kta_checkpoint_verify(cur, len, &p, &res, &err), KTA_ERR_USAGE);
		assert_int_equal(kta_checkpoint_verify(cur, len, NULL, &res, &err), KTA_ERR_USAGE);
		assert_null(res.cp);
	}
	/* Malformed notes. */
	q.now = 600;
	expect_fail(cur, len - 1, &q, KTA_ERR_MALFORMED, NULL);
	expect_fail("o\n1\n" ROOT "\n", strlen("o\n1\n" ROOT "\n"), &q, KTA_ERR_MALFORMED, NULL);
	kta_checkpoint_result_free(NULL);
	for (i = 0; i < 3; i++) {
		free(wvs[i]);
		kta_skey_free(w[i]);
	}
	free(cur);
	free(note);
	free(logv);
	kta_skey_free(log);
}

static void checkpoint_mutations(void **state)
{
	const char *file = "checkpoints/arche2025h1_staging_1432088532_cosigned.note";
	struct pol q = {
	    .log = ARCHE_VKEY, .wit = {REMORA_VKEY}, .nwit = 1, .quorum = 1, .now = REMORA_TIME};
	size_t len, i;
	uint8_t *buf = tu_read_testdata(file, &len);
	struct kta_checkpoint_result res;
	size_t text_end, log_line, log_end, rem_line, rem_end;

	(void)state;
	/* Flip one bit anywhere in the text, the log's 0x01 line or the remora
	 * line: verification must fail (other lines are not ours to judge). */
	text_end = (size_t)(strstr((char *)buf, "\n\n") - (char *)buf) + 1; /* the blank line */
	log_line =
	    (size_t)(strstr((char *)buf, EMDASH " arche2025h1.staging.ct.transparency.dev ui8") -
		     (char *)buf);
	log_end = (size_t)(strchr((char *)buf + log_line, '\n') - (char *)buf);
	rem_line = (size_t)(strstr((char *)buf, EMDASH " remora") - (char *)buf);
	rem_end = (size_t)(strchr((char *)buf + rem_line, '\n') - (char *)buf);
	for (i = 0; i < len; i++) {
		int bit;

		if (!((i <= text_end) || (i >= log_line && i <= log_end) ||
		      (i >= rem_line && i <= rem_end)))
			continue;
		for (bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			if (check(buf, len, &q, &res, NULL) == KTA_OK)
				fail_msg("mutant at %zu bit %d verified", i, bit);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(check(buf, len, &q, &res, NULL), KTA_OK);
	kta_checkpoint_result_free(&res);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_spec_example),
	    cmocka_unit_test(parse_rejects),
	    cmocka_unit_test(sumdb_vectors),
	    cmocka_unit_test(sumdb_lookup),
	    cmocka_unit_test(armored_witness),
	    cmocka_unit_test(ecdsa_logs),
	    cmocka_unit_test(arche_cosigned),
	    cmocka_unit_test(unsupported_types),
	    cmocka_unit_test(serverless_log),
	    cmocka_unit_test(sigsum_vectors),
	    cmocka_unit_test(sigsum_signed_tree_head),
	    cmocka_unit_test(monkeys_and_cosign),
	    cmocka_unit_test(extension_lines_cosigned),
	    cmocka_unit_test(full_roundtrip_quorum),
	    cmocka_unit_test(checkpoint_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
