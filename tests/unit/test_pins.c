/* Unit tests for pin files (ktaudit/pins.h): parse, canonical form, checkpoint update. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/key.h"
#include "ktaudit/pins.h"

/* Deterministic keys for the fixtures. */
struct fx {
	char log[256], w1[256], w2[256]; /* vkeys; w1 < w2 bytewise */
	char a[64], b[64], c[64];        /* base64 of 32-byte keys; a < b < c as bytes */
};

static void vkey_of(const char *name, enum kta_key_type t, uint8_t fill, char *out, size_t cap)
{
	struct kta_skey *sk = NULL;
	struct kta_vkey *vk = NULL;
	uint8_t seed[32];
	char *s;

	memset(seed, fill, sizeof(seed));
	assert_int_equal(kta_skey_from_seed(name, t, seed, &sk, NULL), KTA_OK);
	assert_int_equal(kta_skey_vkey(sk, &vk, NULL), KTA_OK);
	s = kta_vkey_format(vk);
	assert_non_null(s);
	tu_copy_str(out, cap, s);
	free(s);
	kta_vkey_free(vk);
	kta_skey_free(sk);
}

static void fx_init(struct fx *f)
{
	uint8_t k[32];

	vkey_of("example.com/dir", KTA_KEY_ED25519, 1, f->log, sizeof(f->log));
	vkey_of("w1.example", KTA_KEY_COSIGNATURE_V1, 2, f->w1, sizeof(f->w1));
	vkey_of("w2.example", KTA_KEY_COSIGNATURE_V1, 3, f->w2, sizeof(f->w2));
	memset(k, 0x10, 32);
	kta_b64_encode(k, 32, f->a);
	memset(k, 0x20, 32);
	kta_b64_encode(k, 32, f->b);
	memset(k, 0x30, 32);
	kta_b64_encode(k, 32, f->c);
}

/* The canonical form of the fixture (what kta_pins_format must write). */
static char *canonical(const struct fx *f)
{
	char *s = malloc(8192);

	assert_non_null(s);
	(void)snprintf(s, 8192,
		       KTA_PINS_HEADER "\n"
				       "log example.com/dir\n"
				       "url https://dir.example.com/\n"
				       "key %s\n"
				       "witness %s\n"
				       "witness %s\n"
				       "quorum 1\n"
				       "max_age 86400\n"
				       "checkpoint 1234 %s\n"
				       "label alice@example.org ed25519:%s:phone x25519:%s:phone\n"
				       "label bob@example.org ed25519:%s:laptop\n"
				       "label carol@example.org\n",
		       f->log, f->w1, f->w2, f->a, f->c, f->b, f->b);
	return s;
}

static enum kta_status parse_str(const char *s, struct kta_pins **p, struct kta_error *err)
{
	return kta_pins_parse((const uint8_t *)s, strlen(s), "pins.txt", p, err);
}

static void roundtrip(void **state)
{
	struct fx f;
	struct kta_pins *p = NULL, *q = NULL;
	struct kta_error err;
	char *text, *out = NULL;
	size_t len = 0;
	const struct kta_pins_label *l;

	(void)state;
	fx_init(&f);
	text = canonical(&f);
	assert_int_equal(parse_str(text, &p, &err), KTA_OK);
	assert_string_equal(p->log, "example.com/dir");
	assert_string_equal(p->url, "https://dir.example.com/");
	assert_int_equal(p->nwitnesses, 2);
	assert_int_equal(p->quorum, 1);
	assert_int_equal(p->max_age, 86400);
	assert_true(p->has_checkpoint);
	assert_int_equal(p->size, 1234);
	assert_int_equal(p->checkpoint_line, 9);
	assert_int_equal(p->nlabels, 3);
	l = kta_pins_find(p, "alice@example.org");
	assert_non_null(l);
	assert_int_equal(l->nkeys, 2);
	assert_int_equal(l->keys[0].alg, KTA_ENTRY_ALG_ED25519);
	assert_string_equal(l->keys[0].device, "phone");
	assert_int_equal(l->line, 10);
	l = kta_pins_find(p, "carol@example.org");
	assert_non_null(l);
	assert_int_equal(l->nkeys, 0);
	assert_null(kta_pins_find(p, "dave@example.org"));
	assert_null(kta_pins_find(p, "alice@example.or"));
	assert_int_equal(kta_pins_format(p, &out, &len, &err), KTA_OK);
	assert_int_equal(len, strlen(text));
	assert_string_equal(out, text);
	/* The formatted text parses back to the same pins. */
	assert_int_equal(parse_str(out, &q, &err), KTA_OK);
	assert_int_equal(q->nlabels, 3);
	assert_memory_equal(q->root, p->root, 32);
	free(out);
	kta_pins_free(q);
	kta_pins_free(p);
	free(text);
}

/* Any order in, canonical order out; comments and blank lines dropped. */
static void canonical_order(void **state)
{
	struct fx f;
	struct kta_pins *p = NULL;
	struct kta_error err;
	char in[8192], *want, *out = NULL;
	size_t len = 0;

	(void)state;
	fx_init(&f);
	(void)snprintf(in, sizeof(in),
		       KTA_PINS_HEADER "\n"
				       "\n"
				       "# the directory\n"
				       "log example.com/dir\n"
				       "url https://dir.example.com/\n"
				       "key %s\n"
				       "witness %s\n"
				       "witness %s\n"
				       "quorum 1\n"
				       "max_age 86400\n"
				       "checkpoint 1234 %s\n"
				       "# people\n"
				       "label carol@example.org\n"
				       "label bob@example.org ed25519:%s:laptop\n"
				       "\n"
				       "label alice@example.org x25519:%s:phone ed25519:%s:phone\n",
		       f.log, f.w2, f.w1, f.a, f.b, f.b, f.c);
	want = canonical(&f);
	assert_int_equal(parse_str(in, &p, &err), KTA_OK);
	/* File order is kept in the struct; by_name is sorted. */
	assert_string_equal(p->labels[0].label, "carol@example.org");
	assert_string_equal(p->by_name[0]->label, "alice@example.org");
	/* Keys are canonical whatever the order written. */
	assert_int_equal(p->labels[2].keys[0].alg, KTA_ENTRY_ALG_ED25519);
	assert_int_equal(kta_pins_format(p, &out, &len, &err), KTA_OK);
	assert_string_equal(out, want);
	free(out);
	free(want);
	kta_pins_free(p);
}

static void minimal(void **state)
{
	struct fx f;
	struct kta_pins *p = NULL;
	struct kta_error err;
	char in[1024], *out = NULL;
	size_t len = 0;

	(void)state;
	fx_init(&f);
	(void)snprintf(in, sizeof(in),
		       KTA_PINS_HEADER "\nlog example.com/dir\nurl file:///srv/dir\nkey %s\n",
		       f.log);
	assert_int_equal(parse_str(in, &p, &err), KTA_OK);
	assert_false(p->has_checkpoint);
	assert_int_equal(p->checkpoint_line, 0);
	assert_int_equal(p->nlabels, 0);
	assert_null(p->by_name);
	assert_int_equal(p->quorum, 0);
	/* quorum 0 and max_age 0 are the defaults: the canonical form omits them. */
	assert_int_equal(kta_pins_format(p, &out, &len, &err), KTA_OK);
	assert_string_equal(out, in);
	free(out);
	kta_pins_free(p);
}

static void set_checkpoint_insert(void **state)
{
	struct fx f;
	struct kta_error err;
	struct kta_pins *p = NULL;
	char in[4096], want[4096], b64[KTA_B64_ENCODED_LEN(32) + 1];
	uint8_t root[32], *out = NULL;
	size_t len = 0;

	(void)state;
	fx_init(&f);
	memset(root, 0xab, 32);
	kta_b64_encode(root, 32, b64);
	(void)snprintf(in, sizeof(in),
		       KTA_PINS_HEADER "\n# keep me\nlog example.com/dir\nurl https://d.example/\n"
				       "key %s\nwitness %s\nquorum 1\n\n# people\n"
				       "label bob@example.org ed25519:%s:laptop\n",
		       f.log, f.w1, f.b);
	(void)snprintf(want, sizeof(want),
		       KTA_PINS_HEADER
		       "\n# keep me\nlog example.com/dir\nurl https://d.example/\n"
		       "key %s\nwitness %s\nquorum 1\ncheckpoint 77 %s\n\n# people\n"
		       "label bob@example.org ed25519:%s:laptop\n",
		       f.log, f.w1, b64, f.b);
	assert_int_equal(kta_pins_set_checkpoint((const uint8_t *)in, strlen(in), "p", 77, root,
						 &out, &len, &err),
			 KTA_OK);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	assert_int_equal(kta_pins_parse(out, len, "p", &p, &err), KTA_OK);
	assert_int_equal(p->size, 77);
	assert_memory_equal(p->root, root, 32);
	kta_pins_free(p);
	free(out);
}

static void set_checkpoint_replace(void **state)
{
	struct fx f;
	struct kta_error err;
	char *in, want[8192], b64[KTA_B64_ENCODED_LEN(32) + 1], *line;
	uint8_t root[32], *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0;

	(void)state;
	fx_init(&f);
	in = canonical(&f);
	memset(root, 0xcd, 32);
	kta_b64_encode(root, 32, b64);
	/* want: the same text with line 9 replaced */
	line = strstr(in, "checkpoint 1234 ");
	assert_non_null(line);
	(void)snprintf(want, sizeof(want), "%.*scheckpoint 99999 %s%s", (int)(line - in), in, b64,
		       strchr(line, '\n'));
	assert_int_equal(kta_pins_set_checkpoint((const uint8_t *)in, strlen(in), "p", 99999, root,
						 &out, &len, &err),
			 KTA_OK);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	/* Idempotent. */
	assert_int_equal(kta_pins_set_checkpoint(out, len, "p", 99999, root, &out2, &len2, &err),
			 KTA_OK);
	assert_int_equal(len2, len);
	assert_memory_equal(out2, out, len);
	free(out2);
	free(out);
	free(in);
}

static void set_checkpoint_rejects_bad_input(void **state)
{
	struct kta_error err;
	uint8_t root[32] = {0}, *out = (uint8_t *)"x";
	size_t len = 5;
	const char *bad = KTA_PINS_HEADER "\nlog x\n";

	(void)state;
	assert_int_equal(kta_pins_set_checkpoint((const uint8_t *)bad, strlen(bad), "p.txt", 1,
						 root, &out, &len, &err),
			 KTA_ERR_MALFORMED);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err.msg, "p.txt: no \"url URL\" line"));
}

/* One error case: the lines after the header, the status, and the message start. */
struct bad {
	const char *body; /* with $LOG = log vkey, $W1 = w1, $A = key a, $B = key b */
	enum kta_status st;
	const char *msg; /* expected substring */
};

/* HEAD: a valid head to build error cases on. */
#define HEAD "log example.com/dir\nurl https://d.example/\nkey $LOG\n"

static const struct bad bads[] = {
    {"", KTA_ERR_MALFORMED, "pins.txt: no \"log ORIGIN\" line"},
    {"log example.com/dir\n", KTA_ERR_MALFORMED, "pins.txt: no \"url URL\" line"},
    {"log example.com/dir\nurl https://d.example/\n", KTA_ERR_MALFORMED,
     "pins.txt: no \"key VKEY\" line"},
    {HEAD "frobnicate 1\n", KTA_ERR_MALFORMED, "pins.txt:5: unknown directive \"frobnicate\""},
    {HEAD "log other\n", KTA_ERR_MALFORMED, "pins.txt:5: \"log\" given twice (first on line 2)"},
    {"url https://d.example/\nlog example.com/dir\n", KTA_ERR_MALFORMED,
     "pins.txt:3: \"log\" must come before \"url\""},
    {HEAD "label a@b ed25519:$A:p\nquorum 0\n", KTA_ERR_MALFORMED,
     "pins.txt:6: \"quorum\" must come before \"label\""},
    {HEAD "checkpoint 1 $A\nwitness $W1\n", KTA_ERR_MALFORMED,
     "pins.txt:6: \"witness\" must come before \"checkpoint\""},
    {"log  example.com/dir\n", KTA_ERR_MALFORMED, "pins.txt:2: empty field at column 5"},
    {"log example.com/dir \n", KTA_ERR_MALFORMED, "pins.txt:2: trailing space"},
    {"log\texample.com/dir\n", KTA_ERR_MALFORMED, "pins.txt:2: control character 0x09"},
    {"log example.com/dir\r\n", KTA_ERR_MALFORMED, "CRLF line ends are not allowed"},
    {"log example.com/\xff\n", KTA_ERR_MALFORMED, "pins.txt:2: not valid UTF-8"},
    {"# fine\n# \xc0\xaf\n", KTA_ERR_MALFORMED, "pins.txt:3: not valid UTF-8"},
    {"log example.com/dir", KTA_ERR_MALFORMED,
     "pins.txt:2: the last line does not end in a newline"},
    {"log\n", KTA_ERR_MALFORMED, "pins.txt:2: expected \"log ORIGIN\""},
    {"log a b\n", KTA_ERR_MALFORMED, "pins.txt:2: expected \"log ORIGIN\""},
    {"log a\nurl ftp://d.example/\n", KTA_ERR_MALFORMED,
     "pins.txt:3: url \"ftp://d.example/\": expected an https://, http:// or file:// URL"},
    {"log a\nurl https://d.example/?x=1\n", KTA_ERR_MALFORMED, "pins.txt:3: url"},
    {"log a\nurl https://\n", KTA_ERR_MALFORMED, "pins.txt:3: url"},
    {"log a\nurl https://d/\nkey example.com/dir+00000000+AQ==\n", KTA_ERR_MALFORMED,
     "pins.txt:4: key"},
    {HEAD "witness $W1\nwitness $W1\n", KTA_ERR_MALFORMED,
     "pins.txt:6: witness w1.example given twice"},
    {HEAD "witness nope\n", KTA_ERR_MALFORMED, "pins.txt:5: witness"},
    {HEAD "witness $W1\nquorum 2\n", KTA_ERR_MALFORMED,
     "pins.txt:6: quorum 2 but only 1 witnesses"},
    {HEAD "quorum 1\n", KTA_ERR_MALFORMED, "pins.txt:5: quorum 1 but only 0 witnesses"},
    {HEAD "quorum 01\n", KTA_ERR_MALFORMED, "pins.txt:5: quorum"},
    {HEAD "max_age -5\n", KTA_ERR_MALFORMED, "pins.txt:5: max_age"},
    {HEAD "checkpoint 12\n", KTA_ERR_MALFORMED,
     "pins.txt:5: expected \"checkpoint SIZE BASE64-ROOT\""},
    {HEAD "checkpoint 012 $A\n", KTA_ERR_MALFORMED, "pins.txt:5: checkpoint size"},
    {HEAD "checkpoint 12 AAAA\n", KTA_ERR_MALFORMED,
     "pins.txt:5: checkpoint root \"AAAA\" is not canonical base64 of 32 bytes"},
    {HEAD "checkpoint 12 $A\ncheckpoint 13 $A\n", KTA_ERR_MALFORMED,
     "pins.txt:6: \"checkpoint\" given twice (first on line 5)"},
    {HEAD "label\n", KTA_ERR_MALFORMED, "pins.txt:5: expected \"label LABEL"},
    {HEAD "label al\xc2\xa0ice\n", KTA_ERR_MALFORMED, "pins.txt:5: label"},
    {HEAD "label alice ed25519:$A\n", KTA_ERR_MALFORMED, "pins.txt:5: alice: key 1: key \""},
    {HEAD "label alice rsa:$A:phone\n", KTA_ERR_MALFORMED,
     "pins.txt:5: alice: key 1: key: unknown algorithm \"rsa\""},
    {HEAD "label alice ed25519:AAAA:phone\n", KTA_ERR_MALFORMED,
     "pins.txt:5: alice: key 1: key: \"AAAA\" is not canonical base64"},
    {HEAD "label alice ed25519:$A:phone x25519:$A:phone ed25519:$A:tablet\n", KTA_ERR_MALFORMED,
     "pins.txt:5: alice: key ed25519:"},
    {HEAD "label alice ed25519:$A:phone ed25519:$B:phone\n", KTA_ERR_MALFORMED,
     "pins.txt:5: alice: device \"phone\" has two ed25519 keys"},
    {HEAD "label alice ed25519:$A:phone\n# x\nlabel alice\n", KTA_ERR_MALFORMED,
     "pins.txt:7: label alice given twice (first on line 5)"},
};

/* Replaces the $ placeholders of tmpl with the fixture's keys. */
static void subst(const char *tmpl, const struct fx *f, char *out, size_t cap)
{
	static const char *const names[] = {"$LOG", "$W1", "$A", "$B"};
	const char *vals[4];
	size_t k = 0, i;

	vals[0] = f->log;
	vals[1] = f->w1;
	vals[2] = f->a;
	vals[3] = f->b;
	while (*tmpl != '\0') {
		for (i = 0; i < 4; i++)
			if (strncmp(tmpl, names[i], strlen(names[i])) == 0)
				break;
		if (i < 4) {
			assert_true(k + strlen(vals[i]) < cap);
			memcpy(out + k, vals[i], strlen(vals[i]));
			k += strlen(vals[i]);
			tmpl += strlen(names[i]);
		} else {
			assert_true(k + 1 < cap);
			out[k++] = *tmpl++;
		}
	}
	out[k] = '\0';
}

static void errors_name_the_line(void **state)
{
	struct fx f;
	size_t i;

	(void)state;
	fx_init(&f);
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char body[4096], text[4200];
		struct kta_pins *p = (struct kta_pins *)&f; /* must be reset to NULL */
		struct kta_error err;
		enum kta_status r;

		subst(bads[i].body, &f, body, sizeof(body));
		(void)snprintf(text, sizeof(text), KTA_PINS_HEADER "\n%s", body);
		kta_error_clear(&err);
		r = kta_pins_parse((const uint8_t *)text, strlen(text), "pins.txt", &p, &err);
		if (r != bads[i].st || strstr(err.msg, bads[i].msg) == NULL)
			fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, (int)r, err.msg,
				 (int)bads[i].st, bads[i].msg);
		assert_null(p);
	}
}

static void header_errors(void **state)
{
	static const char *const cases[] = {
	    "",        "# ktaudit pins v2\nlog a\n",      "#ktaudit pins v1\n",
	    "log a\n", "\xef\xbb\xbf# ktaudit pins v1\n", "# ktaudit pins v1 \n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kta_pins *p = NULL;
		struct kta_error err;

		assert_int_equal(
		    kta_pins_parse((const uint8_t *)cases[i], strlen(cases[i]), NULL, &p, &err),
		    KTA_ERR_MALFORMED);
		if (strncmp(err.msg, "pins:1: ", 8) != 0)
			fail_msg("case %zu: %s", i, err.msg);
		assert_null(p);
	}
}

static void limits(void **state)
{
	struct fx f;
	struct kta_pins *p = NULL;
	struct kta_error err;
	char *big, *s;
	size_t i, cap = (KTA_PINS_MAX_KEYS + 2) * 80 + 1024;
	int kn;

	(void)state;
	fx_init(&f);
	/* More keys on one line than allowed. */
	big = malloc(cap);
	assert_non_null(big);
	subst(KTA_PINS_HEADER "\n" HEAD "label many", &f, big, cap);
	s = big + strlen(big);
	for (i = 0; i < KTA_PINS_MAX_KEYS + 1; i++) {
		uint8_t k[32] = {0};
		char b64[KTA_B64_ENCODED_LEN(32) + 1];

		k[0] = (uint8_t)i;
		k[1] = (uint8_t)(i >> 8);
		kta_b64_encode(k, 32, b64);
		kn = snprintf(s, cap - (size_t)(s - big), " ed25519:%s:d%zu", b64, i);
		assert_true(kn > 0 && (size_t)kn < cap - (size_t)(s - big));
		s += kn;
	}
	assert_true(cap - (size_t)(s - big) >= 2);
	memcpy(s, "\n", 2);
	assert_int_equal(parse_str(big, &p, &err), KTA_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "pins.txt:5: more than 1024 keys"));
	assert_null(p);
	free(big);
	/* A file over the size limit is refused before it is read. */
	assert_int_equal(
	    kta_pins_parse((const uint8_t *)"", KTA_PINS_MAX_SIZE + 1, "big", &p, &err),
	    KTA_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "big: "));
	assert_null(p);
}

/* Every truncation of a valid file fails cleanly or parses (never crashes). */
static void truncations(void **state)
{
	struct fx f;
	char *text;
	size_t i, n, ok = 0;

	(void)state;
	fx_init(&f);
	text = canonical(&f);
	n = strlen(text);
	for (i = 0; i < n; i++) {
		struct kta_pins *p = NULL;
		struct kta_error err;
		enum kta_status r = kta_pins_parse((const uint8_t *)text, i, "t", &p, &err);

		if (r == KTA_OK) {
			/* Only whole-line prefixes that keep log, url and key parse. */
			assert_true(text[i - 1] == '\n');
			ok++;
		} else {
			assert_true(r == KTA_ERR_MALFORMED || r == KTA_ERR_LIMIT);
			assert_null(p);
		}
		kta_pins_free(p);
	}
	assert_true(ok > 0);
	free(text);
}

static void format_rejects_bad_structs(void **state)
{
	struct fx f;
	struct kta_pins *p = NULL;
	struct kta_error err;
	struct kta_pins_label *saved;
	char *text, *out = (char *)"x";
	size_t len = 1;

	(void)state;
	fx_init(&f);
	text = canonical(&f);
	assert_int_equal(parse_str(text, &p, &err), KTA_OK);
	/* A caller-made duplicate label. */
	saved = p->labels;
	{
		struct kta_pins_label two[2];

		two[0] = saved[0];
		two[1] = saved[0];
		p->labels = two;
		p->nlabels = 2;
		assert_int_equal(kta_pins_format(p, &out, &len, &err), KTA_ERR_USAGE);
		assert_null(out);
		assert_non_null(strstr(err.msg, "given twice"));
	}
	p->labels = saved;
	p->nlabels = 3;
	/* A duplicate key in a set. */
	{
		struct kta_entry_key k1 = saved[0].keys[1];

		saved[0].keys[1] = saved[0].keys[0];
		assert_int_equal(kta_pins_format(p, &out, &len, &err), KTA_ERR_USAGE);
		assert_null(out);
		saved[0].keys[1] = k1;
	}
	kta_pins_free(p);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(roundtrip),
	    cmocka_unit_test(canonical_order),
	    cmocka_unit_test(minimal),
	    cmocka_unit_test(set_checkpoint_insert),
	    cmocka_unit_test(set_checkpoint_replace),
	    cmocka_unit_test(set_checkpoint_rejects_bad_input),
	    cmocka_unit_test(errors_name_the_line),
	    cmocka_unit_test(header_errors),
	    cmocka_unit_test(limits),
	    cmocka_unit_test(truncations),
	    cmocka_unit_test(format_rejects_bad_structs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
