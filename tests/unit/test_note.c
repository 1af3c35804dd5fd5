/* Unit tests for C2SP signed notes (note.h). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ktaudit/encoding.h"
#include "ktaudit/key.h"
#include "ktaudit/note.h"

#define EMDASH "\xe2\x80\x94"
/* testdata/note/go-x-mod/note_test_vectors.json (golang/mod sumdb/note/note_test.go). */
#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define PETER_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define ENOCH_VKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
#define TEXT                                                                                       \
	"If you think cryptography is the answer to your problem,\n"                               \
	"then you don't know what your problem is.\n"
#define PETER_SIG                                                                                  \
	"x08go/ZJkuBS9UG/"                                                                         \
	"SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
#define ENOCH_SIG                                                                                  \
	"rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/"                                             \
	"5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
#define PETER_LINE EMDASH " PeterNeumann " PETER_SIG "\n"
#define ENOCH_LINE EMDASH " EnochRoot " ENOCH_SIG "\n"
/* testdata/note/c2sp/signed_note_example.json */
#define FOO_VKEY "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
#define SUMDB_VKEY "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
#define REKOR_VKEY                                                                                 \
	"rekor.sigstore.dev+c0d23d6a+"                                                             \
	"AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBc"                         \
	"K5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc="
#define PIXEL_VKEY                                                                                 \
	"pixel6_transparency_log+91c16e30+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+"                 \
	"4x0Jk1yTwvLFI9A4NDdG"                                                                     \
	"ZcX0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8="
#define REMORA_VKEY "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
#define ARCHE_VKEY                                                                                 \
	"arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/"                             \
	"PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"

static json_t *load_json(const char *rel)
{
	size_t len;
	uint8_t *buf = tu_read_testdata(rel, &len);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)buf, len, 0, &jerr);

	free(buf);
	if (j == NULL)
		fail_msg("%s: %s", rel, jerr.text);
	return j;
}

static struct kta_vkey *vk(const char *s)
{
	struct kta_vkey *k = NULL;
	struct kta_error err;

	if (kta_vkey_parse(s, strlen(s), &k, &err) != KTA_OK)
		fail_msg("vkey %s: %s", s, err.msg);
	return k;
}

static struct kta_skey *sk(const char *s)
{
	struct kta_skey *k = NULL;
	struct kta_error err;

	if (kta_skey_parse(s, strlen(s), &k, &err) != KTA_OK)
		fail_msg("skey: %s", err.msg);
	return k;
}

static struct kta_note *parse_ok(const void *buf, size_t len)
{
	struct kta_note *n = NULL;
	struct kta_error err;

	kta_error_clear(&err);
	if (kta_note_parse(buf, len, &n, &err) != KTA_OK)
		fail_msg("note does not parse: %s", err.msg);
	return n;
}

/* Parses (buf, len) expecting status want and a message containing msg (if any). */
static void parse_bad(const void *buf, size_t len, enum kta_status want, const char *msg)
{
	struct kta_note *n = (struct kta_note *)1;
	struct kta_error err;

	kta_error_clear(&err);
	assert_int_equal(kta_note_parse(buf, len, &n, &err), want);
	assert_null(n);
	if (msg != NULL && strstr(err.msg, msg) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg);
}

static void parse_bad_s(const char *s, enum kta_status want, const char *msg)
{
	parse_bad(s, strlen(s), want, msg);
}

/*
 * Parses and verifies note s against vkeys[0..n); returns the status and
 * fills valid[i]. Fails the test if the note does not parse.
 */
static enum kta_status verify_s(const void *buf, size_t len, const char *const *vkeys, size_t n,
				int *valid, char *msg)
{
	struct kta_note *note = parse_ok(buf, len);
	struct kta_vkey *keys[8];
	struct kta_note_check res[8];
	struct kta_error err;
	enum kta_status r;
	size_t i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		keys[i] = vk(vkeys[i]);
	kta_error_clear(&err);
	r = kta_note_verify(note, (const struct kta_vkey *const *)keys, n, res, &err);
	for (i = 0; i < n; i++) {
		if (valid != NULL)
			valid[i] = r == KTA_OK ? res[i].valid : -1;
		kta_vkey_free(keys[i]);
	}
	if (msg != NULL)
		tu_copy_str(msg, KTA_ERROR_MSG_MAX, err.msg);
	kta_note_free(note);
	return r;
}

static void go_note_parse(void **state)
{
	size_t len;
	uint8_t *buf = tu_read_testdata("note/go-x-mod/peterneumann_enochroot.note", &len);
	struct kta_note *n = parse_ok(buf, len);

	(void)state;
	assert_int_equal(n->text_len, strlen(TEXT));
	assert_memory_equal(n->text, TEXT, n->text_len);
	assert_int_equal(n->text[n->text_len], '\0');
	assert_int_equal(n->nsigs, 2);
	assert_string_equal(n->sigs[0].name, "PeterNeumann");
	assert_int_equal(n->sigs[0].key_id, 0xc74f20a3u);
	assert_int_equal(n->sigs[0].sig_len, 64);
	assert_int_equal(n->sigs[0].line, 4);
	assert_string_equal(n->sigs[1].name, "EnochRoot");
	assert_int_equal(n->sigs[1].key_id, 0xaf0cfe78u);
	assert_int_equal(n->sigs[1].line, 5);
	kta_note_free(n);
	kta_note_free(NULL);
	free(buf);
}

static void go_note_verify(void **state)
{
	static const char note[] = TEXT "\n" PETER_LINE ENOCH_LINE;
	const char *both[] = {PETER_VKEY, ENOCH_VKEY};
	const char *enoch[] = {ENOCH_VKEY};
	const char *other[] = {FOO_VKEY};
	int valid[2];
	size_t len;
	uint8_t *buf = tu_read_testdata("note/go-x-mod/peterneumann_enochroot.note", &len);

	(void)state;
	assert_int_equal(len, strlen(note));
	assert_memory_equal(buf, note, len);
	assert_int_equal(verify_s(buf, len, both, 2, valid, NULL), KTA_OK);
	assert_int_equal(valid[0], 1);
	assert_int_equal(valid[1], 1);
	assert_int_equal(verify_s(buf, len, enoch, 1, valid, NULL), KTA_OK);
	assert_int_equal(valid[0], 1);
	/* An unrelated key: nothing signed by it, which is not an error here. */
	assert_int_equal(verify_s(buf, len, other, 1, valid, NULL), KTA_OK);
	assert_int_equal(valid[0], 0);
	assert_int_equal(verify_s(buf, len, NULL, 0, NULL, NULL), KTA_OK);
	free(buf);
}

static void go_note_sign_deterministic(void **state)
{
	json_t *j = load_json("note/go-x-mod/note_test_vectors.json");
	const char *text = json_string_value(json_object_get(j, "note_text"));
	const char *want = json_string_value(json_object_get(j, "sign_expected_output"));
	struct kta_skey *k = sk(PETER_SKEY);
	struct kta_error err;
	uint8_t *out = NULL;
	size_t out_len = 0;

	(void)state;
	assert_non_null(text);
	assert_non_null(want);
	assert_int_equal(
	    kta_note_sign((const uint8_t *)text, strlen(text), k, &out, &out_len, &err), KTA_OK);
	assert_int_equal(out_len, strlen(want));
	assert_memory_equal(out, want, out_len);
	assert_string_equal((char *)out, TEXT "\n" PETER_LINE);
	free(out);
	kta_skey_free(k);
	json_decref(j);
}

static void go_malformed_vectors(void **state)
{
	json_t *j = load_json("note/go-x-mod/note_test_vectors.json");
	json_t *bad = json_object_get(j, "malformed_notes_expected_error"), *v;
	size_t i;

	(void)state;
	assert_int_equal(json_array_size(bad), 6);
	json_array_foreach(bad, i, v)
	{
		json_t *note = json_object_get(v, "note");

		parse_bad(json_string_value(note), json_string_length(note), KTA_ERR_MALFORMED,
			  NULL);
	}
	json_decref(j);
	/* Go's extra case: first byte 0xff. */
	parse_bad_s("\xff" TEXT "\n" PETER_LINE, KTA_ERR_MALFORMED, "line 1: invalid UTF-8");
}

static void go_invalid_signature(void **state)
{
	json_t *j = load_json("note/go-x-mod/note_test_vectors.json");
	json_t *c = json_object_get(json_object_get(j, "invalid_signature_case"), "note");
	const char *keys[] = {PETER_VKEY};
	char msg[KTA_ERROR_MSG_MAX];

	(void)state;
	assert_int_equal(verify_s(json_string_value(c), json_string_length(c), keys, 1, NULL, msg),
			 KTA_ERR_VERIFY);
	assert_non_null(strstr(msg, "invalid signature by key PeterNeumann+c74f20a3"));
	assert_non_null(strstr(msg, "line 4"));
	json_decref(j);
}

static void tampered(void **state)
{
	const char *keys[] = {PETER_VKEY, ENOCH_VKEY};
	char note[512], msg[KTA_ERROR_MSG_MAX];
	size_t i;

	(void)state;
	/* Text changed by one character: both known signatures fail. */
	strcpy(note, TEXT "\n" PETER_LINE ENOCH_LINE);
	note[3] = 'Y';
	assert_int_equal(verify_s(note, strlen(note), keys, 2, NULL, msg), KTA_ERR_VERIFY);
	assert_non_null(strstr(msg, "invalid signature"));
	/* A character of each signature (past the key ID) changed. */
	for (i = 0; i < 2; i++) {
		char *line;

		strcpy(note, TEXT "\n" PETER_LINE ENOCH_LINE);
		line = strstr(note, i == 0 ? "x08go" : "rwz+e");
		line[20] = line[20] == 'A' ? 'B' : 'A';
		assert_int_equal(verify_s(note, strlen(note), keys, 2, NULL, msg), KTA_ERR_VERIFY);
		assert_non_null(strstr(msg, i == 0 ? "PeterNeumann" : "EnochRoot"));
	}
	/* Only the Peter key configured: a broken Enoch signature is not ours to judge. */
	{
		const char *peter[] = {PETER_VKEY};
		int valid[1];

		assert_int_equal(verify_s(note, strlen(note), peter, 1, valid, NULL), KTA_OK);
		assert_int_equal(valid[0], 1);
	}
	/* The text, not the signature line, must be what was signed: a blank
	 * line moved into the text breaks the signature. */
	strcpy(note, TEXT "\n\n" PETER_LINE);
	assert_int_equal(verify_s(note, strlen(note), keys, 1, NULL, msg), KTA_ERR_VERIFY);
}

static void swapped_and_wrong_keys(void **state)
{
	const char *both[] = {PETER_VKEY, ENOCH_VKEY};
	char msg[KTA_ERROR_MSG_MAX];
	const char *note;
	int valid[2];
	struct kta_skey *imposter = NULL;
	struct kta_vkey *iv = NULL;
	struct kta_error err;
	char *ivs;

	(void)state;
	/* Lines in the other order: order does not matter. */
	note = TEXT "\n" ENOCH_LINE PETER_LINE;
	assert_int_equal(verify_s(note, strlen(note), both, 2, valid, NULL), KTA_OK);
	assert_int_equal(valid[0] + valid[1], 2);
	/* Signatures swapped between the names: key ID mismatch, reported. */
	note = TEXT "\n" EMDASH " PeterNeumann " ENOCH_SIG "\n" EMDASH " EnochRoot " PETER_SIG "\n";
	assert_int_equal(verify_s(note, strlen(note), both, 2, valid, msg), KTA_ERR_VERIFY);
	assert_non_null(strstr(msg, "key ID mismatch"));
	assert_non_null(strstr(msg, "PeterNeumann"));
	assert_non_null(strstr(msg, "af0cfe78"));
	/* A different key under a known name: mismatch (not a silent skip). */
	assert_int_equal(kta_skey_generate("PeterNeumann", KTA_KEY_ED25519, &imposter, &err),
			 KTA_OK);
	assert_int_equal(kta_skey_vkey(imposter, &iv, &err), KTA_OK);
	ivs = kta_vkey_format(iv);
	{
		const char *keys[] = {ivs};

		note = TEXT "\n" PETER_LINE;
		assert_int_equal(verify_s(note, strlen(note), keys, 1, NULL, msg), KTA_ERR_VERIFY);
		assert_non_null(strstr(msg, "key ID mismatch"));
	}
	/* ...but when the key's own (name, ID) line is also there, the other
	 * same-name line is another key of that signer and is ignored. */
	{
		uint8_t *two = NULL;
		size_t two_len = 0;
		const char *keys[] = {PETER_VKEY};

		assert_int_equal(kta_note_add_sig((const uint8_t *)TEXT "\n" PETER_LINE,
						  strlen(TEXT "\n" PETER_LINE), imposter, 0, &two,
						  &two_len, &err),
				 KTA_OK);
		assert_int_equal(verify_s(two, two_len, keys, 1, valid, NULL), KTA_OK);
		assert_int_equal(valid[0], 1);
		free(two);
	}
	free(ivs);
	kta_vkey_free(iv);
	kta_skey_free(imposter);
}

static void unknown_names_ignored(void **state)
{
	json_t *j = load_json("checkpoints/witness/monkeys.json");
	json_t *x = json_object_get(json_object_get(j, "extra_signature_lines_over_sumdb_6476701"),
				    "lines");
	json_t *keys = json_object_get(j, "keys");
	const char *vkeys[4];
	size_t len, i, cap, pos;
	uint8_t *buf = tu_read_testdata("checkpoints/sumdb/sum_golang_org_6476701.note", &len);
	char *note;
	int valid[4];
	json_t *line;

	(void)state;
	cap = len + 2048;
	note = malloc(cap);
	memcpy(note, buf, len);
	pos = len;
	json_array_foreach(x, i, line)
	{
		pos += (size_t)snprintf(note + pos, cap - pos, "%s\n", json_string_value(line));
	}
	vkeys[0] = SUMDB_VKEY;
	vkeys[1] = json_string_value(json_object_get(json_object_get(keys, "monkeys"), "vkey"));
	vkeys[2] = json_string_value(json_object_get(json_object_get(keys, "bananas"), "vkey"));
	vkeys[3] = json_string_value(json_object_get(json_object_get(keys, "witness"), "vkey"));
	assert_int_equal(verify_s(note, pos, vkeys, 4, valid, NULL), KTA_OK);
	for (i = 0; i < 4; i++)
		assert_int_equal(valid[i], 1);
	/* With only the log key, all other lines (random1/random2 too) are ignored. */
	assert_int_equal(verify_s(note, pos, vkeys, 1, valid, NULL), KTA_OK);
	assert_int_equal(valid[0], 1);
	free(note);
	free(buf);
	json_decref(j);
}

static void c2sp_examples(void **state)
{
	json_t *j = load_json("note/c2sp/signed_note_example.json");
	json_t *cos = json_object_get(j, "cosignature_example_from_tlog_cosignature_md");
	const char *cp =
	    json_string_value(json_object_get(j, "checkpoint_example_from_tlog_checkpoint_md"));
	const char *line = json_string_value(json_object_get(cos, "line"));
	const char *want_msg = json_string_value(json_object_get(cos, "signed_message"));
	const char *keys[] = {FOO_VKEY};
	size_t len;
	uint8_t *buf = tu_read_testdata("note/c2sp/example_com_foo.note", &len);
	struct kta_note *n;
	char *note;
	int valid[1];
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	uint64_t t;
	struct kta_error err;

	(void)state;
	assert_int_equal(verify_s(buf, len, keys, 1, valid, NULL), KTA_OK);
	assert_int_equal(valid[0], 1);
	free(buf);
	/* The checkpoint example, then with the cosignature line: parse only. */
	n = parse_ok(cp, strlen(cp));
	assert_int_equal(n->nsigs, 1);
	kta_note_free(n);
	note = malloc(strlen(cp) + strlen(line) + 2);
	sprintf(note, "%s%s\n", cp, line);
	n = parse_ok(note, strlen(note));
	assert_int_equal(n->nsigs, 2);
	assert_string_equal(n->sigs[1].name, "witness.example.com/w1");
	assert_int_equal(n->sigs[1].key_id, 0x8d66cf3fu);
	assert_int_equal(n->sigs[1].sig_len, 72);
	t = 0;
	for (len = 0; len < 8; len++)
		t = t << 8 | n->sigs[1].sig[len];
	assert_int_equal(t, 1679315147);
	/* The signed message the spec shows for it. */
	assert_int_equal(kta_note_cosig_message(n->text, n->text_len, t, &msg, &msg_len, &err),
			 KTA_OK);
	assert_int_equal(msg_len, strlen(want_msg));
	assert_memory_equal(msg, want_msg, msg_len);
	free(msg);
	kta_note_free(n);
	free(note);
	json_decref(j);
}

static void cosig_message_vectors(void **state)
{
	json_t *j = load_json("checkpoints/sigsum/sigsum_vectors.json");
	json_t *c = json_object_get(j, "cosigned_data_format");
	const char *want = json_string_value(json_object_get(c, "want_message"));
	const char *text = "sigsum.org/v1/tree/"
			   "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925\n257\n"
			   "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
	uint8_t *msg = (uint8_t *)1;
	size_t msg_len = 1;
	struct kta_error err;

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(c, "timestamp")), 72623859790382856);
	assert_int_equal(kta_note_cosig_message((const uint8_t *)text, strlen(text),
						72623859790382856u, &msg, &msg_len, &err),
			 KTA_OK);
	assert_int_equal(msg_len, strlen(want));
	assert_memory_equal(msg, want, msg_len);
	free(msg);
	/* tlog-cosignature: the timestamp MUST NOT exceed 2^63-1. */
	assert_int_equal(kta_note_cosig_message((const uint8_t *)text, strlen(text),
						(uint64_t)INT64_MAX + 1, &msg, &msg_len, &err),
			 KTA_ERR_USAGE);
	assert_null(msg);
	json_decref(j);
}

static void ecdsa_notes(void **state)
{
	static const struct {
		const char *file, *vkey;
	} v[] = {
	    {"checkpoints/rekor_sigstore_dev_798034.note", REKOR_VKEY},
	    {"checkpoints/pixel6_transparency_log_10.note", PIXEL_VKEY},
	};
	size_t i, len;
	char msg[KTA_ERROR_MSG_MAX];

	(void)state;
	for (i = 0; i < 2; i++) {
		uint8_t *buf = tu_read_testdata(v[i].file, &len);
		const char *keys[] = {v[i].vkey};
		int valid[1];
		char *sig;

		assert_int_equal(verify_s(buf, len, keys, 1, valid, NULL), KTA_OK);
		assert_int_equal(valid[0], 1);
		/* Tampered text. */
		buf[0] ^= 0x20;
		assert_int_equal(verify_s(buf, len, keys, 1, NULL, msg), KTA_ERR_VERIFY);
		assert_non_null(strstr(msg, "invalid signature"));
		buf[0] ^= 0x20;
		/* Tampered DER signature (a byte in r). */
		sig = strrchr((char *)buf, ' ') + 1;
		sig[16] = sig[16] == 'A' ? 'B' : 'A';
		assert_int_equal(verify_s(buf, len, keys, 1, NULL, msg), KTA_ERR_VERIFY);
		/* Broken DER framing (first bytes after the key ID). */
		sig[16] = sig[16] == 'A' ? 'B' : 'A';
		sig[6] = sig[6] == 'A' ? 'B' : 'A';
		assert_int_equal(verify_s(buf, len, keys, 1, NULL, msg), KTA_ERR_VERIFY);
		free(buf);
	}
}

static void cosig_arche(void **state)
{
	size_t len;
	uint8_t *buf =
	    tu_read_testdata("checkpoints/arche2025h1_staging_1432088532_cosigned.note", &len);
	struct kta_note *n = parse_ok(buf, len);
	struct kta_vkey *keys[2];
	struct kta_note_check res[2];
	struct kta_error err;

	(void)state;
	assert_int_equal(n->nsigs, 6);
	keys[0] = vk(ARCHE_VKEY);
	keys[1] = vk(REMORA_VKEY);
	/* The log's 0x05 line shares the log's name; its 0x01 line is the one checked. */
	assert_int_equal(kta_note_verify(n, (const struct kta_vkey *const *)keys, 2, res, &err),
			 KTA_OK);
	assert_int_equal(res[0].valid, 1);
	assert_int_equal(res[0].line, 6);
	assert_int_equal(res[0].timestamp, 0);
	assert_int_equal(res[1].valid, 1);
	assert_int_equal(res[1].line, 9);
	assert_int_equal(res[1].timestamp, 0x6a122120u);
	/* The cosignature is not an Ed25519 note signature of the same key. */
	keys[1]->type = KTA_KEY_ED25519;
	assert_int_equal(kta_note_verify(n, (const struct kta_vkey *const *)keys, 2, res, &err),
			 KTA_ERR_VERIFY);
	kta_vkey_free(keys[0]);
	kta_vkey_free(keys[1]);
	kta_note_free(n);
	free(buf);
}

static void char_rules(void **state)
{
	(void)state;
	parse_bad_s("If you\r\nthink\n\n" PETER_LINE, KTA_ERR_MALFORMED, "line 1: carriage return");
	parse_bad_s(TEXT "\n" EMDASH " PeterNeumann " PETER_SIG "\r\n", KTA_ERR_MALFORMED,
		    "line 4: carriage return");
	parse_bad_s("a\tb\n\n" PETER_LINE, KTA_ERR_MALFORMED, "line 1: control character 0x09");
	parse_bad_s("ok\n\x01\n\n" PETER_LINE, KTA_ERR_MALFORMED, "line 2: control character 0x01");
	parse_bad_s("ok\nbad \xc3\x28\n\n" PETER_LINE, KTA_ERR_MALFORMED, "line 2: invalid UTF-8");
	parse_bad_s("ok\n\xed\xa0\x80\n\n" PETER_LINE, KTA_ERR_MALFORMED, "line 2: invalid UTF-8");
	parse_bad_s("ok\n\n" EMDASH " Peter\xff " PETER_SIG "\n", KTA_ERR_MALFORMED,
		    "line 3: invalid UTF-8");
	{
		static const char nul[] = "ok\0x\n\n" PETER_LINE;

		parse_bad(nul, sizeof(nul) - 1, KTA_ERR_MALFORMED, "control character 0x00");
	}
}

static void structure_rules(void **state)
{
	char *big;
	size_t i, pos;
	struct kta_note *n;

	(void)state;
	parse_bad_s("", KTA_ERR_MALFORMED, NULL);
	parse_bad_s(TEXT, KTA_ERR_MALFORMED, "no blank line");
	parse_bad_s(TEXT PETER_LINE, KTA_ERR_MALFORMED, "no blank line");
	parse_bad_s(TEXT "\n", KTA_ERR_MALFORMED, "no signature lines");
	parse_bad_s(TEXT "\n" PETER_LINE "\n", KTA_ERR_MALFORMED, "no signature lines");
	parse_bad_s(TEXT "\n" EMDASH " PeterNeumann " PETER_SIG, KTA_ERR_MALFORMED,
		    "does not end in a newline");
	parse_bad_s(TEXT "\n" PETER_LINE "Unexpected line.\n", KTA_ERR_MALFORMED,
		    "line 5: expected a signature line");
	parse_bad_s(TEXT "\n- PeterNeumann " PETER_SIG "\n", KTA_ERR_MALFORMED,
		    "line 4: expected a signature line");
	parse_bad_s(TEXT "\n" EMDASH "PeterNeumann " PETER_SIG "\n", KTA_ERR_MALFORMED,
		    "expected a signature line");
	parse_bad_s(TEXT "\n" EMDASH " PeterNeumann\n", KTA_ERR_MALFORMED, "no space");
	parse_bad_s(TEXT "\n" EMDASH "  " PETER_SIG "\n", KTA_ERR_MALFORMED, "invalid key name");
	parse_bad_s(TEXT "\n" EMDASH " Peter+Neumann " PETER_SIG "\n", KTA_ERR_MALFORMED,
		    "invalid key name");
	parse_bad_s(TEXT "\n" EMDASH " Peter Neumann " PETER_SIG "\n", KTA_ERR_MALFORMED, "base64");
	parse_bad_s(TEXT "\n" EMDASH " PeterNeumann " PETER_SIG " \n", KTA_ERR_MALFORMED, "base64");
	parse_bad_s(TEXT "\n" EMDASH " PeterNeumann !!!!\n", KTA_ERR_MALFORMED, "line 4");
	parse_bad_s(TEXT "\n" EMDASH " PeterNeumann \n", KTA_ERR_MALFORMED, "4-byte key ID");
	/* Non-canonical base64 (pad bits set): x08go...AM= -> AN= */
	parse_bad_s(TEXT "\n" EMDASH " PeterNeumann "
			 "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdn"
			 "gotpRZb6KE6RyyBwJnAN=\n",
		    KTA_ERR_MALFORMED, "canonical base64");
	/* Four bytes is only a key ID; five bytes is the minimum. */
	parse_bad_s(TEXT "\n" EMDASH " PeterNeumann x08gow==\n", KTA_ERR_MALFORMED,
		    "4-byte key ID");
	n = parse_ok(TEXT "\n" EMDASH " PeterNeumann x08go/8=\n",
		     strlen(TEXT "\n" EMDASH " PeterNeumann x08go/8=\n"));
	assert_int_equal(n->sigs[0].sig_len, 1);
	kta_note_free(n);
	/* The text may hold blank lines: the LAST blank line ends it. */
	n = parse_ok("a\n\nb\n\n" PETER_LINE, strlen("a\n\nb\n\n" PETER_LINE));
	assert_int_equal(n->text_len, 5);
	assert_int_equal(n->sigs[0].line, 5);
	kta_note_free(n);
	/* Overlong signature field and key name. */
	big = malloc(KTA_NOTE_MAX_SIZE + 2);
	pos = (size_t)sprintf(big, "%s\n" EMDASH " PeterNeumann ", TEXT);
	for (i = 0; i < KTA_B64_ENCODED_LEN(KTA_NOTE_SIG_MAX) + 4; i++)
		big[pos++] = 'A';
	big[pos++] = '\n';
	parse_bad(big, pos, KTA_ERR_LIMIT, "signature longer");
	pos = (size_t)sprintf(big, "%s\n" EMDASH " ", TEXT);
	for (i = 0; i < KTA_KEY_NAME_MAX + 1; i++)
		big[pos++] = 'n';
	pos += (size_t)sprintf(big + pos, " %s\n", PETER_SIG);
	parse_bad(big, pos, KTA_ERR_LIMIT, "key name longer");
	/* Oversized note. */
	memset(big, 'a', KTA_NOTE_MAX_SIZE + 1);
	parse_bad(big, KTA_NOTE_MAX_SIZE + 1, KTA_ERR_LIMIT, NULL);
	free(big);
	parse_bad(NULL, 5, KTA_ERR_USAGE, NULL);
}

static void sig_count_limit(void **state)
{
	size_t cap = 64 + (KTA_NOTE_MAX_SIGS + 1) * (strlen(PETER_LINE) + 1), pos, i;
	char *note = malloc(cap);
	struct kta_note *n;
	const char *keys[] = {PETER_VKEY};
	int valid[1];

	(void)state;
	pos = (size_t)sprintf(note, "%s\n", TEXT);
	for (i = 0; i < KTA_NOTE_MAX_SIGS; i++)
		pos += (size_t)sprintf(note + pos, "%s", PETER_LINE);
	n = parse_ok(note, pos);
	assert_int_equal(n->nsigs, KTA_NOTE_MAX_SIGS);
	assert_int_equal(n->sigs[KTA_NOTE_MAX_SIGS - 1].line, 3 + KTA_NOTE_MAX_SIGS);
	kta_note_free(n);
	/* The same key's signature many times over: still one valid key. */
	assert_int_equal(verify_s(note, pos, keys, 1, valid, NULL), KTA_OK);
	assert_int_equal(valid[0], 1);
	{
		struct kta_skey *k = sk(PETER_SKEY);
		uint8_t *out = (uint8_t *)1;
		size_t out_len = 1;
		struct kta_error err;

		assert_int_equal(kta_note_add_sig((uint8_t *)note, pos, k, 0, &out, &out_len, &err),
				 KTA_ERR_LIMIT);
		assert_null(out);
		kta_skey_free(k);
	}
	pos += (size_t)sprintf(note + pos, "%s", PETER_LINE);
	parse_bad(note, pos, KTA_ERR_LIMIT, "more than 100 signature lines");
	free(note);
}

static void sign_rejects(void **state)
{
	struct kta_skey *k = sk(PETER_SKEY), *w = NULL;
	struct kta_error err;
	uint8_t *out = (uint8_t *)1;
	size_t out_len = 1;

	(void)state;
	assert_int_equal(kta_note_sign((const uint8_t *)"no newline", 10, k, &out, &out_len, &err),
			 KTA_ERR_MALFORMED);
	assert_null(out);
	assert_int_equal(kta_note_sign((const uint8_t *)"", 0, k, &out, &out_len, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_note_sign((const uint8_t *)"a\r\n", 3, k, &out, &out_len, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_note_sign((const uint8_t *)"\xff\n", 2, k, &out, &out_len, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(kta_note_sign((const uint8_t *)"a\n", 2, NULL, &out, &out_len, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_skey_from_seed("w", KTA_KEY_COSIGNATURE_V1, k->seed, &w, &err),
			 KTA_OK);
	assert_int_equal(kta_note_sign((const uint8_t *)"a\n", 2, w, &out, &out_len, &err),
			 KTA_ERR_USAGE);
	assert_null(out);
	/* add_sig needs a parseable note. */
	assert_int_equal(
	    kta_note_add_sig((const uint8_t *)TEXT, strlen(TEXT), k, 0, &out, &out_len, &err),
	    KTA_ERR_MALFORMED);
	assert_null(out);
	kta_skey_free(w);
	kta_skey_free(k);
}

static void add_sig_and_cosign(void **state)
{
	static const char note[] = TEXT "\n" PETER_LINE ENOCH_LINE;
	struct kta_skey *w = NULL, *m = NULL;
	struct kta_vkey *wv = NULL, *mv = NULL, *peter = vk(PETER_VKEY), *enoch = vk(ENOCH_VKEY);
	struct kta_note *n;
	struct kta_note_check res[4];
	const struct kta_vkey *keys[4];
	struct kta_error err;
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;

	(void)state;
	m = sk("PRIVATE+KEY+monkeys+db4d9f7e+ATWIAF3yVBG+Hv1rZFQoNt/BaURkLPtOFMAM2HrEeIr6");
	assert_int_equal(kta_skey_from_seed("witness", KTA_KEY_COSIGNATURE_V1, m->seed, &w, &err),
			 KTA_OK);
	assert_int_equal(kta_skey_vkey(m, &mv, &err), KTA_OK);
	assert_int_equal(kta_skey_vkey(w, &wv, &err), KTA_OK);
	assert_int_equal(
	    kta_note_add_sig((const uint8_t *)note, strlen(note), m, 0, &a, &alen, &err), KTA_OK);
	assert_memory_equal(a, note, strlen(note)); /* existing bytes kept */
	assert_int_equal(kta_note_add_sig(a, alen, w, 1700000000u, &b, &blen, &err), KTA_OK);
	assert_memory_equal(b, a, alen);
	n = parse_ok(b, blen);
	assert_int_equal(n->nsigs, 4);
	assert_int_equal(n->sigs[3].sig_len, 72);
	keys[0] = peter;
	keys[1] = enoch;
	keys[2] = mv;
	keys[3] = wv;
	assert_int_equal(kta_note_verify(n, keys, 4, res, &err), KTA_OK);
	assert_int_equal(res[0].valid + res[1].valid + res[2].valid + res[3].valid, 4);
	assert_int_equal(res[3].timestamp, 1700000000u);
	assert_int_equal(res[2].timestamp, 0);
	kta_note_free(n);
	/* A timestamp past 2^63-1 cannot be signed... */
	free(a);
	a = NULL;
	assert_int_equal(kta_note_add_sig(b, blen, w, (uint64_t)INT64_MAX + 1, &a, &alen, &err),
			 KTA_ERR_USAGE);
	assert_null(a);
	/* ...and a forged one (changed timestamp bytes) does not verify. */
	{
		char *line = strrchr((char *)b, ' ') + 1;

		line[7] = line[7] == 'A' ? 'B' : 'A';
		n = parse_ok(b, blen);
		assert_int_equal(kta_note_verify(n, keys, 4, res, &err), KTA_ERR_VERIFY);
		assert_non_null(strstr(err.msg, "invalid signature by key witness"));
		kta_note_free(n);
	}
	free(b);
	kta_vkey_free(peter);
	kta_vkey_free(enoch);
	kta_vkey_free(mv);
	kta_vkey_free(wv);
	kta_skey_free(m);
	kta_skey_free(w);
}

static void roundtrip_generated(void **state)
{
	static const char text[] =
	    "example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	struct kta_skey *k = NULL, *k2 = NULL;
	struct kta_vkey *v = NULL;
	struct kta_error err;
	char *ks, *vs;
	uint8_t *note = NULL;
	size_t note_len = 0;
	int valid[1];

	(void)state;
	assert_int_equal(kta_skey_generate("example.com/log", KTA_KEY_ED25519, &k, &err), KTA_OK);
	ks = kta_skey_format(k);
	assert_int_equal(kta_skey_parse(ks, strlen(ks), &k2, &err), KTA_OK);
	assert_int_equal(
	    kta_note_sign((const uint8_t *)text, strlen(text), k2, &note, &note_len, &err), KTA_OK);
	assert_int_equal(kta_skey_vkey(k, &v, &err), KTA_OK);
	vs = kta_vkey_format(v);
	{
		const char *keys[] = {vs};

		assert_int_equal(verify_s(note, note_len, keys, 1, valid, NULL), KTA_OK);
		assert_int_equal(valid[0], 1);
	}
	free(note);
	free(ks);
	free(vs);
	kta_vkey_free(v);
	kta_skey_free(k);
	kta_skey_free(k2);
}

static void mutations(void **state)
{
	static const char note[] = TEXT "\n" PETER_LINE ENOCH_LINE;
	struct kta_vkey *keys[2];
	size_t len = strlen(note), i;
	uint8_t buf[sizeof(note)];
	int bit;

	(void)state;
	keys[0] = vk(PETER_VKEY);
	keys[1] = vk(ENOCH_VKEY);
	/* No bit flip and no truncation leaves a note verified by both keys. */
	for (i = 0; i <= len; i++) {
		for (bit = -1; bit < 8; bit++) {
			struct kta_note *n = NULL;
			struct kta_note_check res[2];
			size_t l = len;

			memcpy(buf, note, len);
			if (bit < 0 && i == len)
				continue; /* the original */
			if (bit < 0)
				l = i; /* truncation */
			else if (i < len)
				buf[i] ^= (uint8_t)(1u << bit);
			else
				continue;
			if (kta_note_parse(buf, l, &n, NULL) != KTA_OK) {
				assert_null(n);
				continue;
			}
			if (kta_note_verify(n, (const struct kta_vkey *const *)keys, 2, res,
					    NULL) == KTA_OK) {
				if (res[0].valid && res[1].valid)
					fail_msg("mutant (%zu, %d) verified", i, bit);
			}
			kta_note_free(n);
		}
	}
	kta_vkey_free(keys[0]);
	kta_vkey_free(keys[1]);
}

static void verify_usage(void **state)
{
	struct kta_note *n = parse_ok(TEXT "\n" PETER_LINE, strlen(TEXT "\n" PETER_LINE));
	struct kta_note_check res[1];
	const struct kta_vkey *keys[1] = {NULL};
	struct kta_error err;

	(void)state;
	assert_int_equal(kta_note_verify(NULL, NULL, 0, NULL, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_note_verify(n, keys, 1, res, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_note_verify(n, NULL, 1, res, &err), KTA_ERR_USAGE);
	kta_note_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(go_note_parse),
	    cmocka_unit_test(go_note_verify),
	    cmocka_unit_test(go_note_sign_deterministic),
	    cmocka_unit_test(go_malformed_vectors),
	    cmocka_unit_test(go_invalid_signature),
	    cmocka_unit_test(tampered),
	    cmocka_unit_test(swapped_and_wrong_keys),
	    cmocka_unit_test(unknown_names_ignored),
	    cmocka_unit_test(c2sp_examples),
	    cmocka_unit_test(cosig_message_vectors),
	    cmocka_unit_test(ecdsa_notes),
	    cmocka_unit_test(cosig_arche),
	    cmocka_unit_test(char_rules),
	    cmocka_unit_test(structure_rules),
	    cmocka_unit_test(sig_count_limit),
	    cmocka_unit_test(sign_rejects),
	    cmocka_unit_test(add_sig_and_cosign),
	    cmocka_unit_test(roundtrip_generated),
	    cmocka_unit_test(mutations),
	    cmocka_unit_test(verify_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
