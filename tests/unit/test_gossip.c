/*
 * Unit tests for gossip between auditors (include/ktaudit/gossip.h), the
 * auditor as a witness (include/ktaudit/witness.h), the `cosigned` table of
 * the state (state.h) and the configuration directives of issue 5 (peer,
 * proxy=, witness_key, publish_dir; config.h).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/config.h"
#include "ktaudit/encoding.h"
#include "ktaudit/file.h"
#include "ktaudit/gossip.h"
#include "ktaudit/key.h"
#include "ktaudit/note.h"
#include "ktaudit/state.h"
#include "ktaudit/witness.h"

#define ORIGIN "example.com/log"
#define NOW 1700000000

struct fx {
	struct kta_skey *log_sk, *peer_sk, *other_sk, *other_log_sk;
	struct kta_vkey *log_vk, *peer_vk, *other_vk;
	uint8_t *signed_note; /* log-signed checkpoint */
	size_t signed_len;
	uint8_t *cosigned; /* + the peer's cosignature */
	size_t cosigned_len;
};

static struct kta_skey *mk_skey(const char *name, enum kta_key_type type, uint8_t b)
{
	uint8_t seed[32];
	struct kta_skey *k = NULL;

	memset(seed, b, sizeof(seed));
	assert_int_equal(kta_skey_from_seed(name, type, seed, &k, NULL), KTA_OK);
	return k;
}

static struct kta_vkey *mk_vkey(const struct kta_skey *k)
{
	struct kta_vkey *v = NULL;

	assert_int_equal(kta_skey_vkey(k, &v, NULL), KTA_OK);
	return v;
}

static const char text[] = ORIGIN "\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->log_sk = mk_skey(ORIGIN, KTA_KEY_ED25519, 1);
	f->other_log_sk = mk_skey(ORIGIN, KTA_KEY_ED25519, 4);
	f->peer_sk = mk_skey("auditor-b.example", KTA_KEY_COSIGNATURE_V1, 2);
	f->other_sk = mk_skey("auditor-c.example", KTA_KEY_COSIGNATURE_V1, 3);
	f->log_vk = mk_vkey(f->log_sk);
	f->peer_vk = mk_vkey(f->peer_sk);
	f->other_vk = mk_vkey(f->other_sk);
	assert_int_equal(kta_note_sign((const uint8_t *)text, strlen(text), f->log_sk,
				       &f->signed_note, &f->signed_len, NULL),
			 KTA_OK);
	assert_int_equal(kta_checkpoint_cosign(f->signed_note, f->signed_len, f->peer_sk, NOW,
					       &f->cosigned, &f->cosigned_len, NULL),
			 KTA_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kta_skey_free(f->log_sk);
	kta_skey_free(f->other_log_sk);
	kta_skey_free(f->peer_sk);
	kta_skey_free(f->other_sk);
	kta_vkey_free(f->log_vk);
	kta_vkey_free(f->peer_vk);
	kta_vkey_free(f->other_vk);
	free(f->signed_note);
	free(f->cosigned);
	free(f);
	return 0;
}

static enum kta_status gv(struct fx *f, const uint8_t *note, size_t len,
			  const struct kta_vkey *peer, struct kta_error *err)
{
	struct kta_checkpoint *cp = NULL;
	enum kta_status r;

	r = kta_gossip_verify(note, len, f->log_vk, ORIGIN, peer, NOW, 300, &cp, err);
	if (r == KTA_OK) {
		assert_non_null(cp);
		assert_int_equal(cp->size, 5);
	} else {
		assert_null(cp);
	}
	kta_checkpoint_free(cp);
	return r;
}

static void test_verify_ok(void **state)
{
	struct fx *f = *state;

	assert_int_equal(gv(f, f->cosigned, f->cosigned_len, f->peer_vk, NULL), KTA_OK);
}

static void test_verify_needs_peer_cosig(void **state)
{
	struct fx *f = *state;
	struct kta_error err;

	/* only the log's signature: the peer did not vouch for it */
	assert_int_equal(gv(f, f->signed_note, f->signed_len, f->peer_vk, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "peer cosignature"));
	/* cosigned by someone else */
	assert_int_equal(gv(f, f->cosigned, f->cosigned_len, f->other_vk, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "peer cosignature"));
}

static void test_verify_needs_log_sig(void **state)
{
	struct fx *f = *state;
	struct kta_error err;
	uint8_t *fake = NULL, *cs = NULL;
	size_t fl = 0, cl = 0;

	/* a note signed by another key of the same name, cosigned by the peer */
	assert_int_equal(
	    kta_note_sign((const uint8_t *)text, strlen(text), f->other_log_sk, &fake, &fl, NULL),
	    KTA_OK);
	assert_int_equal(kta_checkpoint_cosign(fake, fl, f->peer_sk, NOW, &cs, &cl, NULL), KTA_OK);
	assert_int_equal(gv(f, cs, cl, f->peer_vk, &err), KTA_ERR_VERIFY);
	assert_non_null(strstr(err.msg, "log signature"));
	free(fake);
	free(cs);
}

static void test_verify_mutations(void **state)
{
	struct fx *f = *state;
	uint8_t *m = malloc(f->cosigned_len);
	size_t i;

	assert_non_null(m);
	/* every byte flipped and every truncation is rejected cleanly */
	for (i = 0; i < f->cosigned_len; i++) {
		enum kta_status r;

		memcpy(m, f->cosigned, f->cosigned_len);
		m[i] ^= 0x01;
		r = gv(f, m, f->cosigned_len, f->peer_vk, NULL);
		assert_true(r == KTA_ERR_VERIFY || r == KTA_ERR_MALFORMED);
	}
	for (i = 0; i + 1 < f->cosigned_len; i += 7) {
		enum kta_status r = gv(f, f->cosigned, i, f->peer_vk, NULL);

		assert_true(r == KTA_ERR_VERIFY || r == KTA_ERR_MALFORMED);
	}
	free(m);
}

static void test_verify_usage(void **state)
{
	struct fx *f = *state;
	struct kta_checkpoint *cp = NULL;

	/* the peer key must be a cosignature/v1 key */
	assert_int_equal(kta_gossip_verify(f->cosigned, f->cosigned_len, f->log_vk, ORIGIN,
					   f->log_vk, NOW, 300, &cp, NULL),
			 KTA_ERR_USAGE);
	assert_null(cp);
	assert_int_equal(kta_gossip_verify(f->cosigned, KTA_GOSSIP_CHECKPOINT_MAX + 1, f->log_vk,
					   ORIGIN, f->peer_vk, NOW, 300, &cp, NULL),
			 KTA_ERR_LIMIT);
	/* a cosignature from the future beyond the skew does not count */
	assert_int_equal(kta_gossip_verify(f->cosigned, f->cosigned_len, f->log_vk, ORIGIN,
					   f->peer_vk, NOW - 1000, 300, &cp, NULL),
			 KTA_ERR_VERIFY);
	/* wrong origin */
	assert_int_equal(kta_gossip_verify(f->cosigned, f->cosigned_len, f->log_vk, "other.example",
					   f->peer_vk, NOW, 300, &cp, NULL),
			 KTA_ERR_VERIFY);
}

static void test_relation(void **state)
{
	(void)state;
	assert_int_equal(kta_gossip_relation(5, 4), KTA_GOSSIP_SMALLER);
	assert_int_equal(kta_gossip_relation(5, 5), KTA_GOSSIP_EQUAL);
	assert_int_equal(kta_gossip_relation(5, 6), KTA_GOSSIP_LARGER);
	assert_int_equal(kta_gossip_relation(0, 0), KTA_GOSSIP_EQUAL);
	assert_string_equal(kta_gossip_relation_name(KTA_GOSSIP_SMALLER), "smaller");
	assert_string_equal(kta_gossip_relation_name(KTA_GOSSIP_EQUAL), "equal");
	assert_string_equal(kta_gossip_relation_name(KTA_GOSSIP_LARGER), "larger");
	assert_string_equal(kta_gossip_relation_name((enum kta_gossip_relation)9), "unknown");
}

static void test_log_dir(void **state)
{
	char out[KTA_WITNESS_LOG_DIR_MAX + 1], big[400];

	(void)state;
	assert_int_equal(kta_witness_log_dir("example.com/dir", out, sizeof(out), NULL), KTA_OK);
	assert_string_equal(out, "example.com_dir");
	assert_int_equal(kta_witness_log_dir("a b/../c-D", out, sizeof(out), NULL), KTA_OK);
	assert_string_equal(out, "a_b_.._c-D");
	assert_int_equal(kta_witness_log_dir("..", out, sizeof(out), NULL), KTA_OK);
	assert_string_equal(out, "__");
	assert_int_equal(kta_witness_log_dir(".", out, sizeof(out), NULL), KTA_OK);
	assert_string_equal(out, "_");
	assert_int_equal(kta_witness_log_dir("", out, sizeof(out), NULL), KTA_ERR_USAGE);
	assert_int_equal(kta_witness_log_dir("abcdef", out, 4, NULL), KTA_ERR_LIMIT);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(kta_witness_log_dir(big, out, sizeof(out), NULL), KTA_ERR_LIMIT);
}

static void rm_rf(const char *dir)
{
	assert_int_equal(tu_rm_tree(dir), 0);
}

static void test_load_key_and_publish(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/kta-gossip-XXXXXX", path[256], sub[128];
	struct kta_skey *k = NULL;
	struct kta_error err;
	char *s;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat sb;

	assert_non_null(mkdtemp(dir));
	/* a witness key loads */
	snprintf(path, sizeof(path), "%s/w.key", dir);
	assert_non_null(s = kta_skey_format(f->peer_sk));
	assert_int_equal(kta_file_write_atomic(path, (const uint8_t *)s, strlen(s), 0600, NULL),
			 KTA_OK);
	free(s);
	assert_int_equal(kta_witness_load_key(path, &k, NULL), KTA_OK);
	assert_int_equal(k->type, KTA_KEY_COSIGNATURE_V1);
	assert_string_equal(k->name, "auditor-b.example");
	kta_skey_free(k);
	k = NULL;
	/* a log key is refused */
	assert_non_null(s = kta_skey_format(f->log_sk));
	assert_int_equal(kta_file_write_atomic(path, (const uint8_t *)s, strlen(s), 0600, NULL),
			 KTA_OK);
	free(s);
	assert_int_equal(kta_witness_load_key(path, &k, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "cosignature/v1"));
	assert_null(k);
	/* garbage, missing */
	assert_int_equal(kta_file_write_atomic(path, (const uint8_t *)"nope\n", 5, 0600, NULL),
			 KTA_OK);
	assert_int_equal(kta_witness_load_key(path, &k, NULL), KTA_ERR_MALFORMED);
	snprintf(path, sizeof(path), "%s/missing.key", dir);
	assert_int_equal(kta_witness_load_key(path, &k, NULL), KTA_ERR_IO);
	assert_null(k);
	/* publish creates the directory and replaces the file */
	snprintf(sub, sizeof(sub), "%s/pub/example.com_log", dir);
	assert_int_equal(kta_witness_publish(sub, f->signed_note, f->signed_len, NULL), KTA_OK);
	assert_int_equal(kta_witness_publish(sub, f->cosigned, f->cosigned_len, NULL), KTA_OK);
	snprintf(path, sizeof(path), "%s/checkpoint", sub);
	assert_int_equal(kta_file_read(path, 1 << 16, &buf, &len, NULL), KTA_OK);
	assert_int_equal(len, f->cosigned_len);
	assert_memory_equal(buf, f->cosigned, len);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	free(buf);
	/* a file where the directory should be */
	snprintf(sub, sizeof(sub), "%s/pub/example.com_log/checkpoint", dir);
	assert_int_not_equal(kta_witness_publish(sub, f->cosigned, f->cosigned_len, NULL), KTA_OK);
	rm_rf(dir);
}

static void test_state_cosigned(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/kta-gossip-XXXXXX", sdir[64];
	struct kta_state *st = NULL;
	struct kta_state_cosigned *c = NULL;
	uint8_t root[32];
	int found = 1;

	assert_non_null(mkdtemp(dir));
	snprintf(sdir, sizeof(sdir), "%s/st", dir);
	memset(root, 7, sizeof(root));
	assert_int_equal(kta_state_open(sdir, &st, NULL), KTA_OK);
	assert_int_equal(kta_state_cosigned_get(st, ORIGIN, &found, &c, NULL), KTA_OK);
	assert_int_equal(found, 0);
	assert_null(c);
	assert_int_equal(kta_state_cosigned_put(st, ORIGIN, (const char *)f->cosigned,
						f->cosigned_len, 5, root, NOW, NULL),
			 KTA_OK);
	/* bad inputs */
	assert_int_equal(kta_state_cosigned_put(st, ORIGIN, "", 0, 5, root, NOW, NULL),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_state_cosigned_put(st, ORIGIN, "a\0b", 3, 5, root, NOW, NULL),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_state_cosigned_put(st, ORIGIN, "x", 1, UINT64_MAX, root, NOW, NULL),
			 KTA_ERR_LIMIT);
	kta_state_close(st);
	st = NULL;
	/* across a restart */
	assert_int_equal(kta_state_open(sdir, &st, NULL), KTA_OK);
	assert_int_equal(kta_state_cosigned_get(st, ORIGIN, &found, &c, NULL), KTA_OK);
	assert_int_equal(found, 1);
	assert_non_null(c);
	assert_int_equal(c->size, 5);
	assert_memory_equal(c->root, root, 32);
	assert_int_equal(c->checkpoint_len, f->cosigned_len);
	assert_memory_equal(c->checkpoint, f->cosigned, f->cosigned_len);
	assert_int_equal(c->updated, NOW);
	kta_state_cosigned_free(c);
	c = NULL;
	/* replaced, and other origins are separate */
	root[0] = 9;
	assert_int_equal(kta_state_cosigned_put(st, ORIGIN, "new\n", 4, 6, root, NOW + 1, NULL),
			 KTA_OK);
	assert_int_equal(kta_state_cosigned_get(st, ORIGIN, &found, &c, NULL), KTA_OK);
	assert_int_equal(c->size, 6);
	assert_int_equal(c->root[0], 9);
	kta_state_cosigned_free(c);
	c = NULL;
	assert_int_equal(kta_state_cosigned_get(st, "other.example", &found, &c, NULL), KTA_OK);
	assert_int_equal(found, 0);
	/* inside a rolled-back transaction nothing sticks */
	assert_int_equal(kta_state_begin(st, NULL), KTA_OK);
	assert_int_equal(kta_state_cosigned_put(st, ORIGIN, "tx\n", 3, 7, root, NOW, NULL), KTA_OK);
	assert_int_equal(kta_state_rollback(st, NULL), KTA_OK);
	assert_int_equal(kta_state_cosigned_get(st, ORIGIN, &found, &c, NULL), KTA_OK);
	assert_int_equal(c->size, 6);
	kta_state_cosigned_free(c);
	kta_state_cosigned_free(NULL);
	kta_state_close(st);
	rm_rf(dir);
}

static enum kta_status conf(const char *text_, struct kta_config **cfg, struct kta_error *err)
{
	return kta_config_parse((const uint8_t *)text_, strlen(text_), "t.conf", cfg, err);
}

#define HEAD "state_dir /var/lib/k\n"
#define LOGH "log example.com/dir\nkey " LOGVK "\n"
/* keys from the C2SP signed-note examples (testdata-independent strings) */
#define LOGVK "example.com/dir+5d8fa8a9+AeEh3pTykZ1q7w7v8Pa8gkUfkFW2tN3zhhwqmG5nq2sS"

static void test_config(void **state)
{
	struct fx *f = *state;
	struct kta_config *cfg = NULL;
	struct kta_error err;
	char *pv = kta_vkey_format(f->peer_vk), *lv = kta_vkey_format(f->log_vk), buf[2048];

	assert_non_null(pv);
	assert_non_null(lv);
	snprintf(buf, sizeof(buf),
		 HEAD "witness_key /etc/k/w.key\npublish_dir /srv/pub\n"
		      "log example.com/dir\nkey %s\n"
		      "url https://a.example/ proxy=socks5h://127.0.0.1:9050\n"
		      "mirror https://b.example/\n"
		      "mirror http://c.example/ proxy=http://127.0.0.1:3128\n"
		      "peer https://auditor-b.example/example.com_dir/ %s\n"
		      "peer file:///srv/b/ %s\npublish_dir /srv/own\n",
		 lv, pv, pv);
	if (conf(buf, &cfg, &err) != KTA_OK)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->witness_key, "/etc/k/w.key");
	assert_string_equal(cfg->publish_dir, "/srv/pub");
	assert_string_equal(cfg->logs[0].url_proxy, "socks5h://127.0.0.1:9050");
	assert_int_equal(cfg->logs[0].nmirrors, 2);
	assert_null(cfg->logs[0].mirror_proxies[0]);
	assert_string_equal(cfg->logs[0].mirror_proxies[1], "http://127.0.0.1:3128");
	assert_int_equal(cfg->logs[0].npeers, 2);
	assert_string_equal(cfg->logs[0].peers[0].url,
			    "https://auditor-b.example/example.com_dir/");
	assert_string_equal(cfg->logs[0].peers[0].key->name, "auditor-b.example");
	assert_int_equal(cfg->logs[0].peers[1].line, 10);
	assert_string_equal(cfg->logs[0].publish_dir, "/srv/own");
	kta_config_free(cfg);
	cfg = NULL;

	/* rejections, each naming the line */
	{
		static const struct {
			const char *line, *want;
			enum kta_status st;
		} bad[] = {
		    {"url https://a.example/ proxy=ftp://h:1", "scheme", KTA_ERR_MALFORMED},
		    {"url https://a.example/ proxy=socks5h://h", "HOST:PORT", KTA_ERR_MALFORMED},
		    {"url https://a.example/ proxy=socks5h://u@h:1", "no user", KTA_ERR_MALFORMED},
		    {"url https://a.example/ proxy=socks5h://h:x1", "port", KTA_ERR_MALFORMED},
		    {"url https://a.example/ tor=1", "proxy=URL", KTA_ERR_MALFORMED},
		    {"url https://a.example/ proxy=http://h:1 x", "at most", KTA_ERR_MALFORMED},
		    {"url https://a.example/\npeer https://p.example/", "needs 2",
		     KTA_ERR_MALFORMED},
		    {"url https://a.example/\npeer ftp://p.example/ PV", "scheme",
		     KTA_ERR_MALFORMED},
		    {"url https://a.example/\npeer https://p.example/ LV", "cosignature/v1",
		     KTA_ERR_MALFORMED},
		    {"url https://a.example/\npeer https://p.example/ PV\npeer https://p.example/ "
		     "PV",
		     "twice", KTA_ERR_MALFORMED},
		    {"url https://a.example/\npublish_dir rel/dir", "absolute", KTA_ERR_MALFORMED},
		    {"url https://a.example/\npublish_dir /a\npublish_dir /b", "duplicate",
		     KTA_ERR_MALFORMED},
		    {"url https://a.example/\nwitness_key /k", "global directive",
		     KTA_ERR_MALFORMED},
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char line[512], *p;
			size_t o = 0;

			/* substitute PV/LV */
			for (p = (char *)bad[i].line; *p != '\0' && o + 200 < sizeof(line); p++) {
				if (p[0] == 'P' && p[1] == 'V') {
					o += (size_t)snprintf(line + o, sizeof(line) - o, "%s", pv);
					p++;
				} else if (p[0] == 'L' && p[1] == 'V') {
					o += (size_t)snprintf(line + o, sizeof(line) - o, "%s", lv);
					p++;
				} else {
					line[o++] = *p;
				}
			}
			line[o] = '\0';
			snprintf(buf, sizeof(buf), HEAD "log example.com/dir\nkey %s\n%s\n", lv,
				 line);
			if (conf(buf, &cfg, &err) != bad[i].st)
				fail_msg("case %zu accepted or wrong status: %s", i, line);
			assert_null(cfg);
			if (strstr(err.msg, bad[i].want) == NULL ||
			    strstr(err.msg, "t.conf:") == NULL)
				fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg,
					 bad[i].want);
		}
	}
	/* global directives twice */
	assert_int_equal(conf(HEAD "witness_key /a\nwitness_key /b\n", &cfg, &err),
			 KTA_ERR_MALFORMED);
	assert_int_equal(conf(HEAD "publish_dir /a\npublish_dir /b\n", &cfg, &err),
			 KTA_ERR_MALFORMED);
	free(pv);
	free(lv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify_ok),
	    cmocka_unit_test(test_verify_needs_peer_cosig),
	    cmocka_unit_test(test_verify_needs_log_sig),
	    cmocka_unit_test(test_verify_mutations),
	    cmocka_unit_test(test_verify_usage),
	    cmocka_unit_test(test_relation),
	    cmocka_unit_test(test_log_dir),
	    cmocka_unit_test(test_load_key_and_publish),
	    cmocka_unit_test(test_state_cosigned),
	    cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
