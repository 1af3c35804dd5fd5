/* Unit tests for the configuration file parser, ktaudit.conf(5). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/config.h"
#include "ktaudit/encoding.h"
#include "ktaudit/file.h"
#include "ktaudit/shard.h"

/* Ed25519 note keys (0x01) and cosignature/v1 keys (0x04), IDs recomputed. */
#define LOGKEY "example.com/dir+b4f4290c+AbnpI4hLNCOleiCj8S7v9oIxdQcHk3hjyA/DpMUX/pA6"
#define LOGKEY2 "keys.example.net/prod+1f7b9a1b+AaIuXsODXi4fgqNGE4ZUSKnItVTXG1nQveyZT+Xvjv8H"
#define W1 "witness1.example.org+6e3c07a0+BLDvac9mmAMfo6UM3ZhuGEswRR4MUnSlB9TyBI0y+MK1"
#define W2 "witness2.example.net+8079358a+BABFkvNHqYw4x6+j1IuU+y8gnpX7dIL2Ls4uw87USZkh"
/* LOGKEY with its key ID changed: does not match the key */
#define BADKEY "example.com/dir+b4f4290d+AbnpI4hLNCOleiCj8S7v9oIxdQcHk3hjyA/DpMUX/pA6"
/* 32-byte public keys in base64 */
#define PK_A "xHG2obsGM7zEZIvgOWrRsRZixLEr/Qrq0S+UAoiuesY="
#define PK_B "HXliIOIxc+FRRwNauIQjFugsqb60GjPm+udNKVF/x/0="
#define PK_C "a2UNjhe7PaF31k58Weqir20h4UdBERm2/YtLGw2xMpY="

#define HEAD "state_dir /var/lib/ktaudit\n"
#define LOG "log example.com/dir\nurl https://dir.example.com/\nkey " LOGKEY "\n"

static enum kta_status parse(const char *text, struct kta_config **out, struct kta_error *e)
{
	kta_error_clear(e);
	return kta_config_parse((const uint8_t *)text, strlen(text), "t.conf", out, e);
}

static struct kta_config *parse_ok(const char *text)
{
	struct kta_config *cfg = NULL;
	struct kta_error e;

	if (parse(text, &cfg, &e) != KTA_OK)
		fail_msg("unexpected error: %s\n--- config:\n%s", e.msg, text);
	assert_non_null(cfg);
	return cfg;
}

static void example_parses(void **state)
{
	struct kta_config *cfg = NULL;
	struct kta_error e;
	const struct kta_log_config *l;
	const struct kta_watch_config *w;

	(void)state;
	if (kta_config_load(KTA_SRCDIR "/examples/ktaudit.conf", &cfg, &e) != KTA_OK)
		fail_msg("examples/ktaudit.conf: %s", e.msg);
	assert_string_equal(cfg->state_dir, "/var/lib/ktaudit");
	assert_string_equal(cfg->evidence_dir, "/var/lib/ktaudit/evidence");
	assert_string_equal(cfg->heartbeat, "/run/ktaudit/heartbeat");
	assert_int_equal(cfg->heartbeat_exec_argc, 3);
	assert_string_equal(cfg->heartbeat_exec[0], "/usr/local/bin/ping-healthcheck");
	assert_string_equal(cfg->heartbeat_exec[2], "ktaudit");
	assert_null(cfg->heartbeat_exec[3]);
	assert_string_equal(cfg->metrics, "/var/lib/node_exporter/ktaudit.prom");
	assert_int_equal(cfg->nsinks, 5);
	assert_int_equal(cfg->sinks[0].type, KTA_SINK_STDERR);
	assert_string_equal(cfg->sinks[0].name, "stderr");
	assert_int_equal(cfg->sinks[1].type, KTA_SINK_FILE);
	assert_string_equal(cfg->sinks[1].target, "/var/log/ktaudit/alerts.jsonl");
	assert_string_equal(cfg->sinks[1].name, "file:/var/log/ktaudit/alerts.jsonl");
	assert_int_equal(cfg->sinks[2].type, KTA_SINK_SYSLOG);
	assert_int_equal(cfg->sinks[3].type, KTA_SINK_EXEC);
	assert_int_equal(cfg->sinks[3].argc, 3);
	assert_string_equal(cfg->sinks[3].name,
			    "exec:/usr/local/bin/ktaudit-notify --team security");
	assert_int_equal(cfg->sinks[4].type, KTA_SINK_WEBHOOK);
	assert_string_equal(cfg->sinks[4].target, "https://hooks.example.org/ktaudit");
	assert_string_equal(cfg->sinks[4].ca_file, "/etc/ktaudit/hooks-ca.pem");
	assert_int_equal(cfg->sinks[4].timeout, 20);
	assert_string_equal(cfg->sinks[4].name, "webhook:https://hooks.example.org/ktaudit");
	assert_int_equal(cfg->nlogs, 2);
	l = &cfg->logs[0];
	assert_string_equal(l->name, "example.com/dir");
	assert_string_equal(l->origin, "example.com/dir");
	assert_string_equal(l->url, "https://dir.example.com/");
	assert_int_equal(l->nmirrors, 1);
	assert_string_equal(l->mirrors[0], "https://mirror.example.net/dir/");
	assert_string_equal(l->key->name, "example.com/dir");
	assert_int_equal(l->key->key_id, 0xb4f4290c);
	assert_int_equal(l->nwitnesses, 2);
	assert_string_equal(l->witnesses[1]->name, "witness2.example.net");
	assert_int_equal(l->quorum, 1);
	assert_int_equal(l->poll, 300);
	assert_int_equal(l->max_age, 86400);
	assert_null(l->ca_file);
	assert_int_equal(l->nwatches, 2);
	w = &l->watches[0];
	assert_string_equal(w->label, "alice@example.org");
	assert_int_equal(w->tofu, 0);
	assert_int_equal(w->nkeys, 2);
	/* canonical order: by public key bytes (PK_B "HX.." < PK_A "xH..") */
	assert_string_equal(w->keys[0].device, "laptop");
	assert_string_equal(w->keys[1].device, "phone");
	assert_string_equal(l->watches[1].label, "bob@example.org");
	assert_int_equal(l->watches[1].tofu, 1);
	assert_int_equal(l->watches[1].nkeys, 0);
	assert_null(l->watches[1].keys);
	l = &cfg->logs[1];
	assert_string_equal(l->name, "prod");
	assert_string_equal(l->origin, "keys.example.net/prod");
	assert_string_equal(l->ca_file, "/etc/ktaudit/prod-ca.pem");
	assert_int_equal(l->poll, 60);
	assert_int_equal(l->max_age, 0);
	assert_int_equal(l->quorum, 0);
	assert_int_equal(l->nwitnesses, 0);
	assert_null(l->witnesses);
	assert_int_equal(l->watches[0].keys[0].alg, KTA_ENTRY_ALG_X25519);
	{
		/* the section's line number is where "log prod" stands in the file */
		size_t len, line = 1, i;
		uint8_t *text = tu_read_file(KTA_SRCDIR "/examples/ktaudit.conf", &len);
		const char *at = strstr((const char *)text, "\nlog prod\n");

		assert_non_null(at);
		for (i = 0; i <= (size_t)(at - (const char *)text); i++)
			line += text[i] == '\n';
		assert_int_equal(l->line, line);
		free(text);
	}
	kta_config_free(cfg);
}

static void minimal_defaults(void **state)
{
	struct kta_config *cfg;

	(void)state;
	cfg = parse_ok(HEAD LOG);
	assert_string_equal(cfg->evidence_dir, "/var/lib/ktaudit/evidence");
	assert_null(cfg->heartbeat);
	assert_null(cfg->heartbeat_exec);
	assert_null(cfg->metrics);
	assert_int_equal(cfg->nsinks, 0);
	assert_null(cfg->sinks);
	assert_int_equal(cfg->nlogs, 1);
	assert_int_equal(cfg->logs[0].poll, KTA_CONFIG_DEFAULT_POLL);
	assert_int_equal(cfg->logs[0].max_age, 0);
	assert_int_equal(cfg->logs[0].quorum, 0);
	assert_int_equal(cfg->logs[0].nmirrors, 0);
	assert_null(cfg->logs[0].mirrors);
	assert_string_equal(cfg->logs[0].origin, "example.com/dir");
	assert_string_equal(cfg->path, "t.conf");
	assert_int_equal(cfg->commit_every, KTA_CONFIG_DEFAULT_COMMIT_EVERY);
	kta_config_free(cfg);
	/* commit_every: 0 turns chunking off; the bounds are accepted */
	cfg = parse_ok(HEAD "commit_every 0\n" LOG);
	assert_int_equal(cfg->commit_every, 0);
	kta_config_free(cfg);
	cfg = parse_ok(HEAD "commit_every 256\n" LOG);
	assert_int_equal(cfg->commit_every, 256);
	kta_config_free(cfg);
	cfg = parse_ok(HEAD "commit_every 1000000000\n" LOG);
	assert_int_equal(cfg->commit_every, 1000000000);
	kta_config_free(cfg);
	/* state_dir "/" gives "/evidence", not "//evidence" */
	cfg = parse_ok("state_dir /\n" LOG);
	assert_string_equal(cfg->evidence_dir, "/evidence");
	kta_config_free(cfg);
	cfg = parse_ok("state_dir /s/\n" LOG);
	assert_string_equal(cfg->evidence_dir, "/s/evidence");
	kta_config_free(cfg);
	kta_config_free(NULL);
}

static void lexical(void **state)
{
	struct kta_config *cfg;

	(void)state;
	/* comments, blank lines, tabs and runs of spaces, trailing comments, no
	 * final newline */
	cfg = parse_ok("# leading comment\n\n   \t\n\t state_dir\t\t/x   # trailing\n"
		       "   # indented comment\n"
		       "log\ta\nurl  http://127.0.0.1:8080/a\nkey " LOGKEY " #c\n"
		       "mirror file:///srv/mirror/a");
	assert_string_equal(cfg->state_dir, "/x");
	assert_string_equal(cfg->logs[0].name, "a");
	assert_string_equal(cfg->logs[0].url, "http://127.0.0.1:8080/a");
	assert_string_equal(cfg->logs[0].mirrors[0], "file:///srv/mirror/a");
	kta_config_free(cfg);
	/* a '#' inside a word is not a comment */
	cfg = parse_ok(HEAD "sink exec /bin/notify a#b\n" LOG);
	assert_int_equal(cfg->sinks[0].argc, 2);
	assert_string_equal(cfg->sinks[0].argv[1], "a#b");
	kta_config_free(cfg);
	/* UTF-8 in values */
	cfg = parse_ok(HEAD LOG "watch j\xc3\xbcrgen@example.de tofu\n");
	assert_string_equal(cfg->logs[0].watches[0].label, "j\xc3\xbcrgen@example.de");
	kta_config_free(cfg);
}

static void sinks(void **state)
{
	struct kta_config *cfg;
	const struct kta_sink_config *s;

	(void)state;
	cfg = parse_ok(HEAD "sink stderr\nsink syslog\nsink file /var/log/a.jsonl\n"
			    "sink file /var/log/b.jsonl\n"
			    "sink exec /usr/bin/env\n"
			    "sink exec /usr/local/bin/notify   --flag\tvalue\n"
			    "sink webhook https://h.example/x?token=abc\n"
			    "sink webhook http://localhost:9/x ca_file=/etc/ca.pem\n"
			    "sink webhook http://[::1]/ timeout=5\n" LOG);
	assert_int_equal(cfg->nsinks, 9);
	s = cfg->sinks;
	assert_string_equal(s[0].name, "stderr");
	assert_null(s[0].target);
	assert_null(s[0].argv);
	assert_int_equal(s[0].timeout, KTA_CONFIG_DEFAULT_SINK_TIMEOUT);
	assert_int_equal(s[0].line, 2);
	assert_string_equal(s[1].name, "syslog");
	assert_string_equal(s[3].name, "file:/var/log/b.jsonl");
	assert_string_equal(s[4].name, "exec:/usr/bin/env");
	assert_int_equal(s[4].argc, 1);
	assert_null(s[4].argv[1]);
	/* argv split on runs of whitespace, name joined with single spaces */
	assert_string_equal(s[5].name, "exec:/usr/local/bin/notify --flag value");
	assert_int_equal(s[5].argc, 3);
	assert_string_equal(s[5].argv[2], "value");
	assert_null(s[5].argv[3]);
	assert_string_equal(s[6].name, "webhook:https://h.example/x?token=abc");
	assert_null(s[6].ca_file);
	assert_string_equal(s[7].name, "webhook:http://localhost:9/x");
	assert_string_equal(s[7].ca_file, "/etc/ca.pem");
	assert_int_equal(s[8].timeout, 5);
	assert_int_equal(s[8].line, 10);
	assert_string_equal(kta_sink_type_name(KTA_SINK_WEBHOOK), "webhook");
	assert_string_equal(kta_sink_type_name((enum kta_sink_type)0), "unknown");
	kta_config_free(cfg);
}

static void long_sink_name(void **state)
{
	char text[2048], arg[400];
	struct kta_config *cfg;
	const char *name;

	(void)state;
	memset(arg, 'a', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	/* a multi-byte character straddling the cut point */
	memcpy(arg + KTA_CONFIG_SINK_NAME_KEEP - 6, "\xc3\xa9", 2);
	snprintf(text, sizeof(text), HEAD "sink exec /bin/x %s\nsink exec /bin/x %sb\n" LOG, arg,
		 arg);
	cfg = parse_ok(text);
	name = cfg->sinks[0].name;
	assert_true(strlen(name) <= KTA_CONFIG_SINK_NAME_MAX);
	assert_true(strlen(name) >= KTA_CONFIG_SINK_NAME_KEEP - 4 + 33);
	assert_int_equal(strncmp(name, "exec:/bin/x aaa", 15), 0);
	assert_non_null(strchr(name, '~'));
	assert_true(kta_utf8_valid((const uint8_t *)name, strlen(name)));
	/* different long names stay distinct */
	assert_string_not_equal(cfg->sinks[0].name, cfg->sinks[1].name);
	/* the full argv is kept */
	assert_int_equal(strlen(cfg->sinks[0].argv[1]), sizeof(arg) - 1);
	kta_config_free(cfg);
}

static void log_directives(void **state)
{
	struct kta_config *cfg;
	const struct kta_log_config *l;

	(void)state;
	cfg =
	    parse_ok(HEAD "log a\nurl https://a.example/\nkey " LOGKEY "\norigin example.com/dir\n"
			  "witness " W1 "\nwitness " W2 "\nquorum 2\npoll 1\nmax_age 0\n"
			  "ca_file /etc/ca.pem\nmirror http://m.example/a/\n"
			  "mirror file:///srv/a\n"
			  "log b\nkey " LOGKEY2 "\nurl file:///srv/b/\nmax_age 600\n");
	assert_int_equal(cfg->nlogs, 2);
	l = &cfg->logs[0];
	assert_int_equal(l->line, 2);
	assert_string_equal(l->origin, "example.com/dir");
	assert_int_equal(l->nwitnesses, 2);
	assert_int_equal(l->witnesses[0]->type, KTA_KEY_COSIGNATURE_V1);
	assert_int_equal(l->quorum, 2);
	assert_int_equal(l->poll, 1);
	assert_int_equal(l->nmirrors, 2);
	assert_string_equal(l->mirrors[1], "file:///srv/a");
	assert_string_equal(l->ca_file, "/etc/ca.pem");
	l = &cfg->logs[1];
	assert_string_equal(l->name, "b");
	assert_string_equal(l->origin, "b");
	assert_string_equal(l->url, "file:///srv/b/");
	assert_int_equal(l->max_age, 600);
	assert_int_equal(l->line, 14);
	kta_config_free(cfg);
}

static void watches(void **state)
{
	struct kta_config *cfg;
	const struct kta_watch_config *w;

	(void)state;
	cfg = parse_ok(HEAD LOG "watch alice ed25519:" PK_A ":phone x25519:" PK_A
				":phone ed25519:" PK_B ":a:b:c\n"
				"watch bob tofu\n"
				"watch carol x25519:" PK_C ":desk\n");
	assert_int_equal(cfg->logs[0].nwatches, 3);
	w = &cfg->logs[0].watches[0];
	assert_int_equal(w->nkeys, 3);
	assert_int_equal(w->line, 5);
	/* canonical: ed25519 before x25519, then by public key */
	assert_int_equal(w->keys[0].alg, KTA_ENTRY_ALG_ED25519);
	assert_string_equal(w->keys[0].device, "a:b:c"); /* the device may hold ':' */
	assert_int_equal(w->keys[1].alg, KTA_ENTRY_ALG_ED25519);
	assert_string_equal(w->keys[1].device, "phone");
	assert_int_equal(w->keys[2].alg, KTA_ENTRY_ALG_X25519);
	assert_string_equal(w->keys[2].device, "phone");
	assert_true(memcmp(w->keys[0].pub, w->keys[1].pub, 32) < 0);
	{
		uint8_t pk[32];
		size_t n;

		assert_int_equal(kta_b64_decode(PK_A, strlen(PK_A), pk, sizeof(pk), &n), KTA_OK);
		assert_memory_equal(w->keys[1].pub, pk, 32);
	}
	assert_int_equal(cfg->logs[0].watches[1].tofu, 1);
	assert_int_equal(cfg->logs[0].watches[2].keys[0].alg, KTA_ENTRY_ALG_X25519);
	kta_config_free(cfg);
	/* the same label may be watched in two logs */
	cfg = parse_ok(HEAD LOG "watch alice tofu\nlog b\nurl https://b/\nkey " LOGKEY2
				"\nwatch alice tofu\n");
	kta_config_free(cfg);
}

static void key_spec(void **state)
{
	char dev[KTA_DEVICE_MAX_LEN + 1];
	char long_dev[KTA_DEVICE_MAX_LEN + 2];
	char spec[KTA_CONFIG_KEY_SPEC_MAX + 64];
	struct kta_entry_key k;
	struct kta_error e;
	static const char *bad[] = {
	    "",
	    "ed25519",
	    "ed25519:" PK_A,      /* no device */
	    "ed25519:" PK_A ":",  /* empty device */
	    "ED25519:" PK_A ":d", /* algorithm names are lowercase */
	    "rsa:" PK_A ":d",     /* unknown algorithm */
	    ":" PK_A ":d",        /* empty algorithm */
	    "ed25519::d",         /* empty key */
	    "ed25519:xHG2obsGM7zEZIvgOWrRsRZixLEr/Qrq0S+UAoiuesY:d",  /* unpadded */
	    "ed25519:xHG2obsGM7zEZIvgOWrRsRZixLEr/Qrq0S+UAoiuesZ=:d", /* pad bits */
	    "ed25519:AAAA:d",                                         /* 3 bytes */
	    "ed25519:" PK_A "AAAA:d",                                 /* 35 bytes */
	    "ed25519:" PK_A ":de\x7fv",                               /* control character */
	    "ed25519:" PK_A ":d\xc2\xa0v",                            /* a Unicode space */
	    "ed25519:" PK_A ":\xff",                                  /* invalid UTF-8 */
	};
	size_t i;

	(void)state;
	assert_int_equal(kta_config_parse_key_spec("ed25519:" PK_A ":phone",
						   strlen("ed25519:" PK_A ":phone"), &k, dev, &e),
			 KTA_OK);
	assert_int_equal(k.alg, KTA_ENTRY_ALG_ED25519);
	assert_ptr_equal(k.device, dev);
	assert_string_equal(dev, "phone");
	/* not NUL-terminated input: only len bytes are read */
	assert_int_equal(kta_config_parse_key_spec("x25519:" PK_B ":laptopXYZ",
						   strlen("x25519:" PK_B ":laptop"), &k, dev, &e),
			 KTA_OK);
	assert_string_equal(dev, "laptop");
	assert_int_equal(k.alg, KTA_ENTRY_ALG_X25519);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kta_error_clear(&e);
		if (kta_config_parse_key_spec(bad[i], strlen(bad[i]), &k, dev, &e) !=
		    KTA_ERR_MALFORMED)
			fail_msg("accepted or wrong status: %s", bad[i]);
		assert_int_not_equal(e.msg[0], '\0');
	}
	/* device length limit: 255 ok, 256 rejected */
	memset(long_dev, 'd', sizeof(long_dev) - 1);
	long_dev[KTA_DEVICE_MAX_LEN] = '\0';
	snprintf(spec, sizeof(spec), "ed25519:%s:%s", PK_A, long_dev);
	assert_int_equal(kta_config_parse_key_spec(spec, strlen(spec), &k, dev, &e), KTA_OK);
	long_dev[KTA_DEVICE_MAX_LEN] = 'd';
	long_dev[KTA_DEVICE_MAX_LEN + 1] = '\0';
	snprintf(spec, sizeof(spec), "ed25519:%s:%s", PK_A, long_dev);
	assert_int_not_equal(kta_config_parse_key_spec(spec, strlen(spec), &k, dev, &e), KTA_OK);
	memset(spec, 'a', sizeof(spec));
	assert_int_equal(kta_config_parse_key_spec(spec, sizeof(spec), &k, dev, &e), KTA_ERR_LIMIT);
}

struct bad_case {
	const char *text;
	enum kta_status status;
	const char *msg; /* expected prefix "t.conf:LINE: ..." and a substring */
};

static void errors(void **state)
{
	static const struct bad_case cases[] = {
	    /* missing required */
	    {"", KTA_ERR_MALFORMED, "t.conf:1: missing 'state_dir'"},
	    {"# only a comment\n\n", KTA_ERR_MALFORMED, "t.conf:2: missing 'state_dir'"},
	    {LOG, KTA_ERR_MALFORMED, "t.conf:3: missing 'state_dir'"},
	    {HEAD, KTA_ERR_MALFORMED, "t.conf:1: no 'log' section"},
	    {HEAD "log a\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:2: log \"a\": missing 'url'"},
	    {HEAD "log a\nurl https://a/\nlog b\nurl https://b/\nkey " LOGKEY "\n",
	     KTA_ERR_MALFORMED, "t.conf:2: log \"a\": missing 'key'"},
	    {HEAD "log a\nurl https://a/\n", KTA_ERR_MALFORMED,
	     "t.conf:2: log \"a\": missing 'key'"},
	    /* unknown directive, misplaced directives */
	    {HEAD "frobnicate 1\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: unknown directive \"frobnicate\""},
	    {HEAD "State_dir /x\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: unknown directive \"State_dir\""},
	    {HEAD LOG "sink stderr\n", KTA_ERR_MALFORMED,
	     "t.conf:5: global directive 'sink' after the first 'log' section (line 2)"},
	    {HEAD LOG "metrics /m\n", KTA_ERR_MALFORMED, "t.conf:5: global directive 'metrics'"},
	    {HEAD "url https://a/\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: 'url' outside a log section"},
	    {HEAD "watch a tofu\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: 'watch' outside a log section"},
	    /* commit_every: 0 or a chunk of at least one bundle */
	    {HEAD "commit_every 255\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: commit_every \"255\": must be 0 (off) or 256..1000000000"},
	    {HEAD "commit_every 1000000001\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: commit_every \"1000000001\": must be 0..1000000000"},
	    {HEAD "commit_every 01\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: commit_every \"01\": not a canonical decimal number"},
	    {HEAD "commit_every\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: 'commit_every' needs 1 value"},
	    {HEAD "commit_every 300\ncommit_every 300\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:3: duplicate 'commit_every' (first given on line 2)"},
	    {HEAD LOG "commit_every 300\n", KTA_ERR_MALFORMED,
	     "t.conf:5: global directive 'commit_every' after the first 'log' section"},
	    /* duplicates of single-valued directives */
	    {HEAD "state_dir /y\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: duplicate 'state_dir' (first given on line 1)"},
	    {HEAD "metrics /a\nmetrics /b\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:3: duplicate 'metrics'"},
	    {HEAD "heartbeat /a\nheartbeat /b\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:3: duplicate 'heartbeat'"},
	    {HEAD "evidence_dir /a\nevidence_dir /a\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:3: duplicate 'evidence_dir'"},
	    {HEAD "heartbeat_exec /a\nheartbeat_exec /b\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:3: duplicate 'heartbeat_exec'"},
	    {HEAD LOG "url https://b/\n", KTA_ERR_MALFORMED,
	     "t.conf:5: duplicate 'url' (first given on line 3)"},
	    {HEAD LOG "key " LOGKEY "\n", KTA_ERR_MALFORMED, "t.conf:5: duplicate 'key'"},
	    {HEAD LOG "origin a\norigin b\n", KTA_ERR_MALFORMED, "t.conf:6: duplicate 'origin'"},
	    {HEAD LOG "poll 1\npoll 1\n", KTA_ERR_MALFORMED, "t.conf:6: duplicate 'poll'"},
	    {HEAD LOG "quorum 0\nquorum 0\n", KTA_ERR_MALFORMED, "t.conf:6: duplicate 'quorum'"},
	    {HEAD LOG "max_age 1\nmax_age 1\n", KTA_ERR_MALFORMED, "t.conf:6: duplicate 'max_age'"},
	    {HEAD LOG "ca_file /a\nca_file /a\n", KTA_ERR_MALFORMED,
	     "t.conf:6: duplicate 'ca_file'"},
	    {HEAD LOG "log example.com/dir\n", KTA_ERR_MALFORMED,
	     "t.conf:5: duplicate log \"example.com/dir\" (first given on line 2)"},
	    {HEAD LOG "log b\nurl https://b/\nkey " LOGKEY "\norigin example.com/dir\n",
	     KTA_ERR_MALFORMED, "t.conf:8: log \"b\" has the same origin \"example.com/dir\""},
	    {HEAD LOG "log b\nurl https://b/\nkey " LOGKEY "\nlog c\n", KTA_ERR_MALFORMED,
	     "t.conf:8: log \"c\": missing 'url'"},
	    {HEAD LOG "watch a tofu\nwatch a tofu\n", KTA_ERR_MALFORMED,
	     "t.conf:6: label \"a\" watched twice in this log (first on line 5)"},
	    {HEAD "sink stderr\nsink stderr\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:3: duplicate sink \"stderr\" (first given on line 2)"},
	    {HEAD "sink exec /a b\nsink exec /a\tb\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:3: duplicate sink \"exec:/a b\""},
	    {HEAD "sink webhook https://h/ timeout=3\nsink webhook https://h/\n" LOG,
	     KTA_ERR_MALFORMED, "t.conf:3: duplicate sink \"webhook:https://h/\""},
	    {HEAD LOG "witness " W1 "\nwitness " W1 "\n", KTA_ERR_MALFORMED,
	     "t.conf:6: witness witness1.example.org+6e3c07a0 listed twice"},
	    {HEAD LOG "mirror https://dir.example.com/\n", KTA_ERR_MALFORMED,
	     "t.conf:5: URL \"https://dir.example.com/\" listed twice"},
	    {HEAD "log a\nmirror https://a/\nurl https://a/\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:4: URL \"https://a/\" listed twice"},
	    /* numbers */
	    {HEAD LOG "poll 0\n", KTA_ERR_MALFORMED, "t.conf:5: poll \"0\": must be 1.."},
	    {HEAD LOG "poll 030\n", KTA_ERR_MALFORMED,
	     "t.conf:5: poll \"030\": not a canonical decimal number"},
	    {HEAD LOG "poll +3\n", KTA_ERR_MALFORMED, "t.conf:5: poll \"+3\": not a canonical"},
	    {HEAD LOG "poll 5m\n", KTA_ERR_MALFORMED, "t.conf:5: poll \"5m\": not a canonical"},
	    {HEAD LOG "poll 99999999999999999999999\n", KTA_ERR_MALFORMED,
	     "t.conf:5: poll \"99999999999999999999999\": not a canonical"},
	    {HEAD LOG "poll 316224001\n", KTA_ERR_MALFORMED,
	     "t.conf:5: poll \"316224001\": must be"},
	    {HEAD LOG "max_age -1\n", KTA_ERR_MALFORMED,
	     "t.conf:5: max_age \"-1\": not a canonical"},
	    {HEAD LOG "quorum x\n", KTA_ERR_MALFORMED, "t.conf:5: quorum \"x\": not a canonical"},
	    {HEAD LOG "poll\n", KTA_ERR_MALFORMED, "t.conf:5: 'poll' needs 1 value"},
	    {HEAD LOG "poll 1 2\n", KTA_ERR_MALFORMED, "t.conf:5: 'poll': unexpected value \"2\""},
	    {HEAD "sink webhook https://h/ timeout=0\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink webhook timeout \"0\": must be 1.."},
	    {HEAD "sink webhook https://h/ timeout=1 timeout=2\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink webhook: duplicate timeout="},
	    /* quorum vs witnesses */
	    {HEAD LOG "quorum 1\n", KTA_ERR_MALFORMED,
	     "t.conf:5: quorum 1 is more than the 0 witnesses of log \"example.com/dir\""},
	    {HEAD LOG "witness " W1 "\nquorum 2\n", KTA_ERR_MALFORMED,
	     "t.conf:6: quorum 2 is more than the 1 witness of log"},
	    {HEAD LOG "quorum 2\nwitness " W1 "\nlog b\nurl https://b/\nkey " LOGKEY2 "\n",
	     KTA_ERR_MALFORMED, "t.conf:5: quorum 2 is more than the 1 witness"},
	    /* keys */
	    {HEAD "log a\nurl https://a/\nkey " BADKEY "\n", KTA_ERR_MALFORMED, "t.conf:4: key: "},
	    {HEAD "log a\nurl https://a/\nkey nonsense\n", KTA_ERR_MALFORMED, "t.conf:4: key: "},
	    {HEAD LOG "witness example.com/dir+b4f4290c+AbnpI4hLNCOleiCj8S7v9oIxdQcHk3hjyA\n",
	     KTA_ERR_MALFORMED, "t.conf:5: witness: "},
	    {HEAD "log a\nurl https://a/\nkey\n", KTA_ERR_MALFORMED,
	     "t.conf:4: 'key' needs 1 value"},
	    /* URLs */
	    {HEAD "log a\nurl ftp://a/\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:3: url \"ftp://a/\": URL scheme must be https://, http:// or file:///"},
	    {HEAD "log a\nurl HTTPS://a/\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:3: url \"HTTPS://a/\": URL scheme"},
	    {HEAD "log a\nurl dir.example.com\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:3: url \"dir.example.com\": URL scheme"},
	    {HEAD "log a\nurl file://host/x\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:3: url \"file://host/x\": URL scheme"},
	    {HEAD "log a\nurl https://\nkey " LOGKEY "\n", KTA_ERR_MALFORMED, "t.conf:3: url"},
	    {HEAD "log a\nurl https:///x\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:3: url \"https:///x\": URL has no host"},
	    {HEAD "log a\nurl https://u:p@a/\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:3: url \"https://u:p@a/\": no user name or password"},
	    {HEAD "log a\nurl https://a/?x=1\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:3: url \"https://a/?x=1\": a base URL takes no query or fragment"},
	    {HEAD LOG "mirror gopher://m/\n", KTA_ERR_MALFORMED,
	     "t.conf:5: mirror \"gopher://m/\""},
	    {HEAD "sink webhook file:///tmp/x\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink webhook \"file:///tmp/x\": URL scheme must be https:// or http://"},
	    {HEAD "sink webhook http://hooks.example/x\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink webhook \"http://hooks.example/x\": plain http is allowed only to a "
	     "loopback host"},
	    {HEAD "sink webhook http://127.0.0.1.evil.example/x\n" LOG, KTA_ERR_MALFORMED,
	     "plain http is allowed only to a loopback host"},
	    {HEAD "sink webhook\n" LOG, KTA_ERR_MALFORMED, "t.conf:2: sink webhook needs a URL"},
	    {HEAD "sink webhook https://h/ cafile=/x\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink webhook: unknown option \"cafile=/x\""},
	    {HEAD "sink webhook https://h/ ca_file=x.pem\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink webhook ca_file \"x.pem\": must be an absolute path"},
	    {HEAD "sink webhook https://h/ ca_file=/a ca_file=/b\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink webhook: duplicate ca_file="},
	    /* sinks and paths */
	    {HEAD "sink\n" LOG, KTA_ERR_MALFORMED, "t.conf:2: 'sink' needs a type"},
	    {HEAD "sink email a@b\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: unknown sink type \"email\""},
	    {HEAD "sink stderr x\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink stderr: unexpected value \"x\""},
	    {HEAD "sink syslog LOG_LOCAL0\n" LOG, KTA_ERR_MALFORMED, "t.conf:2: sink syslog"},
	    {HEAD "sink file\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink file needs exactly one path"},
	    {HEAD "sink file /a /b\n" LOG, KTA_ERR_MALFORMED, "t.conf:2: sink file needs exactly"},
	    {HEAD "sink file alerts.jsonl\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink file \"alerts.jsonl\": must be an absolute path"},
	    {HEAD "sink exec\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink exec needs a program (absolute path)"},
	    {HEAD "sink exec notify --x\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: sink exec program \"notify\": must be an absolute path (no PATH search"},
	    {HEAD "heartbeat_exec ./ping\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: heartbeat_exec program \"./ping\": must be an absolute path"},
	    {HEAD "heartbeat_exec\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: heartbeat_exec needs a program"},
	    {"state_dir var/lib\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:1: state_dir \"var/lib\": must be an absolute path"},
	    {"state_dir\n" LOG, KTA_ERR_MALFORMED, "t.conf:1: 'state_dir' needs 1 value"},
	    {"state_dir /a /b\n" LOG, KTA_ERR_MALFORMED, "t.conf:1: 'state_dir': unexpected value"},
	    {HEAD "metrics m.prom\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: metrics \"m.prom\": must be"},
	    {HEAD LOG "ca_file ca.pem\n", KTA_ERR_MALFORMED,
	     "t.conf:5: ca_file \"ca.pem\": must be"},
	    /* log names */
	    {HEAD "log\n", KTA_ERR_MALFORMED, "t.conf:2: 'log' needs 1 value"},
	    {HEAD "log a b\n", KTA_ERR_MALFORMED, "t.conf:2: 'log': unexpected value \"b\""},
	    /* watches */
	    {HEAD LOG "watch alice\n", KTA_ERR_MALFORMED,
	     "t.conf:5: 'watch' needs a label and keys (ALG:B64:DEVICE ...) or 'tofu'"},
	    {HEAD LOG "watch alice tofu ed25519:" PK_A ":d\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch: 'tofu' takes no keys"},
	    {HEAD LOG "watch alice ed25519:" PK_A ":d tofu\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch: 'tofu' cannot be combined with keys"},
	    {HEAD LOG "watch alice ed25519:" PK_A ":d ed25519:" PK_A ":e\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch: the same ed25519 key is listed twice"},
	    {HEAD LOG "watch alice ed25519:" PK_A ":d ed25519:" PK_B ":d\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch: device \"d\" has two ed25519 keys"},
	    {HEAD LOG "watch alice ed25519:" PK_A "\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch: key spec"},
	    {HEAD LOG "watch alice rsa:" PK_A ":d\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch: key spec: unknown algorithm \"rsa\""},
	    {HEAD LOG "watch alice ed25519:AAAA:d\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch: key spec: public key \"AAAA\" is not canonical base64"},
	    {HEAD LOG "watch al\xc2\xa0ice tofu\n", KTA_ERR_MALFORMED, "t.conf:5: watch: label"},
	    /* lexical */
	    {HEAD "log a\r\nurl https://a/\nkey " LOGKEY "\n", KTA_ERR_MALFORMED,
	     "t.conf:2: carriage return (\\r) at column 6"},
	    {HEAD "sink stderr\x01\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: control character 0x01 at column 12"},
	    {HEAD "sink\vstderr\n" LOG, KTA_ERR_MALFORMED, "t.conf:2: control character 0x0b"},
	    {HEAD "# caf\xe9\n" LOG, KTA_ERR_MALFORMED, "t.conf:2: not valid UTF-8"},
	    {HEAD "# \xc0\xaf overlong\n" LOG, KTA_ERR_MALFORMED, "t.conf:2: not valid UTF-8"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct kta_config sentinel;
		struct kta_config *cfg = &sentinel; /* must be reset to NULL */
		struct kta_error e;
		enum kta_status r = parse(cases[i].text, &cfg, &e);

		if (r != cases[i].status || strstr(e.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: status %d, message \"%s\"; want %d \"%s\"", i, (int)r,
				 e.msg, (int)cases[i].status, cases[i].msg);
		assert_null(cfg);
		/* every message starts with FILE:LINE: */
		assert_int_equal(strncmp(e.msg, "t.conf:", 7), 0);
	}
}

static void nul_byte(void **state)
{
	static const char text[] = HEAD "sink std\0err\n" LOG;
	struct kta_config *cfg;
	struct kta_error e;

	(void)state;
	assert_int_equal(
	    kta_config_parse((const uint8_t *)text, sizeof(text) - 1, "t.conf", &cfg, &e),
	    KTA_ERR_MALFORMED);
	assert_non_null(strstr(e.msg, "t.conf:2: control character 0x00 at column 9"));
	assert_null(cfg);
}

static void limits(void **state)
{
	struct kta_config *cfg;
	struct kta_error e;
	char *big;
	size_t i, o;

	(void)state;
	/* file size */
	big = malloc(KTA_CONFIG_MAX_SIZE + 1);
	assert_non_null(big);
	memset(big, '#', KTA_CONFIG_MAX_SIZE + 1);
	assert_int_equal(
	    kta_config_parse((const uint8_t *)big, KTA_CONFIG_MAX_SIZE + 1, "t.conf", &cfg, &e),
	    KTA_ERR_LIMIT);
	assert_null(cfg);
	/* line length */
	o = (size_t)snprintf(big, KTA_CONFIG_MAX_SIZE, "%s# ", HEAD);
	memset(big + o, 'x', KTA_CONFIG_LINE_MAX);
	o += KTA_CONFIG_LINE_MAX;
	o += (size_t)snprintf(big + o, KTA_CONFIG_MAX_SIZE - o, "\n%s", LOG);
	assert_int_equal(kta_config_parse((const uint8_t *)big, o, "t.conf", &cfg, &e),
			 KTA_ERR_LIMIT);
	assert_non_null(strstr(e.msg, "t.conf:2: line longer than"));
	/* words per line */
	o = (size_t)snprintf(big, KTA_CONFIG_MAX_SIZE, "%ssink exec /x", HEAD);
	for (i = 0; i < KTA_CONFIG_TOKENS_MAX; i++)
		o += (size_t)snprintf(big + o, KTA_CONFIG_MAX_SIZE - o, " a");
	o += (size_t)snprintf(big + o, KTA_CONFIG_MAX_SIZE - o, "\n%s", LOG);
	assert_int_equal(kta_config_parse((const uint8_t *)big, o, "t.conf", &cfg, &e),
			 KTA_ERR_LIMIT);
	assert_non_null(strstr(e.msg, "t.conf:2: more than"));
	/* sinks */
	o = (size_t)snprintf(big, KTA_CONFIG_MAX_SIZE, "%s", HEAD);
	for (i = 0; i <= KTA_CONFIG_SINKS_MAX; i++)
		o += (size_t)snprintf(big + o, KTA_CONFIG_MAX_SIZE - o, "sink file /f%zu\n", i);
	o += (size_t)snprintf(big + o, KTA_CONFIG_MAX_SIZE - o, "%s", LOG);
	assert_int_equal(kta_config_parse((const uint8_t *)big, o, "t.conf", &cfg, &e),
			 KTA_ERR_LIMIT);
	assert_non_null(strstr(e.msg, "more than 64 sinks"));
	/* mirrors */
	o = (size_t)snprintf(big, KTA_CONFIG_MAX_SIZE, "%s%s", HEAD, LOG);
	for (i = 0; i <= KTA_CONFIG_MIRRORS_MAX; i++)
		o +=
		    (size_t)snprintf(big + o, KTA_CONFIG_MAX_SIZE - o, "mirror https://m%zu/\n", i);
	assert_int_equal(kta_config_parse((const uint8_t *)big, o, "t.conf", &cfg, &e),
			 KTA_ERR_LIMIT);
	assert_non_null(strstr(e.msg, "t.conf:21: more than 16 mirrors"));
	/* exactly the limit is fine */
	o = (size_t)snprintf(big, KTA_CONFIG_MAX_SIZE, "%s%s", HEAD, LOG);
	for (i = 0; i < KTA_CONFIG_MIRRORS_MAX; i++)
		o +=
		    (size_t)snprintf(big + o, KTA_CONFIG_MAX_SIZE - o, "mirror https://m%zu/\n", i);
	assert_int_equal(kta_config_parse((const uint8_t *)big, o, "t.conf", &cfg, &e), KTA_OK);
	assert_int_equal(cfg->logs[0].nmirrors, KTA_CONFIG_MIRRORS_MAX);
	kta_config_free(cfg);
	free(big);
}

static void load_errors(void **state)
{
	struct kta_config *cfg;
	struct kta_error e;

	(void)state;
	assert_int_equal(kta_config_load("/nonexistent/ktaudit.conf", &cfg, &e), KTA_ERR_IO);
	assert_null(cfg);
	assert_non_null(strstr(e.msg, "/nonexistent/ktaudit.conf"));
}

/* Deterministic mutants of the example: each parses or fails cleanly. */
static void mutants(void **state)
{
	uint8_t *buf, *m;
	size_t len, i;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	struct kta_config *cfg;
	struct kta_error e;
	struct kta_error *ep;
	char path[4096];
	unsigned ok = 0, bad = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/examples/ktaudit.conf", KTA_SRCDIR);
	assert_int_equal(kta_file_read(path, KTA_CONFIG_MAX_SIZE, &buf, &len, &e), KTA_OK);
	m = malloc(len);
	assert_non_null(m);
	for (i = 0; i < 3000; i++) {
		size_t pos = (size_t)(tu_rand(&rng) % len), n = len;
		enum kta_status r;

		memcpy(m, buf, len);
		switch (i % 3) {
		case 0:
			m[pos] ^= (uint8_t)(1u << (tu_rand(&rng) % 8));
			break;
		case 1:
			m[pos] = (uint8_t)tu_rand(&rng);
			break;
		default:
			n = pos; /* truncate */
			break;
		}
		ep = (i % 2) ? &e : NULL;
		r = kta_config_parse(m, n, "m.conf", &cfg, ep);
		if (r == KTA_OK) {
			assert_non_null(cfg);
			kta_config_free(cfg);
			ok++;
		} else {
			assert_null(cfg);
			assert_true(r == KTA_ERR_MALFORMED || r == KTA_ERR_LIMIT);
			if (ep != NULL)
				assert_int_equal(strncmp(e.msg, "m.conf:", 7), 0);
			bad++;
		}
	}
	/* both outcomes occur: flipped comment bytes parse, flipped keys do not */
	assert_true(ok > 0);
	assert_true(bad > 0);
	free(m);
	free(buf);
}

/* Every directive is known to the parser and documented in ktaudit.conf(5). */
static void man_page_agrees(void **state)
{
	static const char *const global[] = {"state_dir",      "evidence_dir", "heartbeat",
					     "heartbeat_exec", "metrics",      "sink",
					     "index_cache",    "commit_every"};
	static const char *const section[] = {"log",     "url",     "mirror", "key",
					      "origin",  "witness", "quorum", "poll",
					      "max_age", "ca_file", "watch",  "shard"};
	static const char *const sink_types[] = {"stderr", "file", "syslog", "exec", "webhook"};
	static const char *const sections[] = {".SH NAME",       ".SH SYNOPSIS", ".SH DESCRIPTION",
					       ".SH DIRECTIVES", ".SH EXAMPLES", ".SH FILES",
					       ".SH SEE ALSO"};
	char path[4096], text[512], needle[64];
	uint8_t *man;
	size_t len, i;
	struct kta_config *cfg;
	struct kta_error e;

	(void)state;
	snprintf(path, sizeof(path), "%s/docs/ktaudit.conf.5", KTA_SRCDIR);
	assert_int_equal(kta_file_read(path, 1 << 20, &man, &len, &e), KTA_OK);
	for (i = 0; i < sizeof(global) / sizeof(global[0]); i++) {
		snprintf(needle, sizeof(needle), ".BI %s ", global[i]);
		if (strstr((char *)man, needle) == NULL)
			fail_msg("ktaudit.conf.5 does not document %s", global[i]);
		/* known to the parser: inside a section it is a misplaced global */
		snprintf(text, sizeof(text), HEAD LOG "%s\n", global[i]);
		assert_int_equal(parse(text, &cfg, &e), KTA_ERR_MALFORMED);
		assert_non_null(strstr(e.msg, "global directive"));
	}
	for (i = 0; i < sizeof(section) / sizeof(section[0]); i++) {
		snprintf(needle, sizeof(needle), ".BI %s ", section[i]);
		if (strstr((char *)man, needle) == NULL)
			fail_msg("ktaudit.conf.5 does not document %s", section[i]);
		snprintf(text, sizeof(text), HEAD "%s\n" LOG, section[i]);
		assert_int_equal(parse(text, &cfg, &e), KTA_ERR_MALFORMED);
		assert_null(strstr(e.msg, "unknown directive"));
	}
	for (i = 0; i < sizeof(sink_types) / sizeof(sink_types[0]); i++) {
		snprintf(needle, sizeof(needle), "sink %s", sink_types[i]);
		if (strstr((char *)man, needle) == NULL)
			fail_msg("ktaudit.conf.5 does not document sink %s", sink_types[i]);
	}
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		assert_non_null(strstr((char *)man, sections[i]));
	free(man);
}

#define ARGON_KEY                                                                                  \
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHblsqctplMVc5ramA7vSuNxUQxcomQwGAVAdnWTAWUYr3MgDHQW0" \
	"LagJ95lB7QT75Ve6JgT2EVLOFGU7L3YrwA=="
#define CTLOG "ctlog argon\nurl https://ct.googleapis.com/logs/us1/argon2024/\nkey " ARGON_KEY "\n"
#define SPKI1 "614b58f143d78d7ed97ddc1ce06150fde9fca3289e7ee3a2754cc5619375689e"

static void ctlog_sections(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} bad[] = {
	    {HEAD "ctlog a\nkey " ARGON_KEY "\n", "t.conf:2: ctlog \"a\": missing 'url'"},
	    {HEAD "ctlog a\nurl https://x/\n", "t.conf:2: ctlog \"a\": missing 'key'"},
	    {HEAD CTLOG "key " ARGON_KEY "\n", "t.conf:5: duplicate 'key'"},
	    {HEAD CTLOG "log_id " SPKI1 "\n", "t.conf:5: log_id"},
	    {HEAD CTLOG "batch 0\n", "t.conf:5: batch \"0\""},
	    {HEAD CTLOG "batch 1025\n", "t.conf:5: batch"},
	    {HEAD CTLOG "watch alice tofu\n", "t.conf:5: 'watch' is not a ctlog directive"},
	    {HEAD CTLOG "watch_domain\n", "t.conf:5: 'watch_domain' needs 1 value"},
	    {HEAD CTLOG "watch_domain exa mple\n", "t.conf:5: watch_domain: \"mple\""},
	    {HEAD CTLOG "watch_domain a..b\n", "t.conf:5: watch_domain \"a..b\""},
	    {HEAD CTLOG "watch_domain .\n", "t.conf:5: watch_domain \".\""},
	    {HEAD CTLOG "watch_domain a.org.\n", "t.conf:5: watch_domain"},
	    {HEAD CTLOG "watch_domain a.org\nwatch_domain A.ORG\n",
	     "t.conf:6: watch_domain \"A.ORG\" listed twice (line 5)"},
	    {HEAD CTLOG "watch_domain a.org " SPKI1 " " SPKI1 "\n", "listed twice"},
	    {HEAD "ctlog a\nurl https://x/\nkey MFkw\n", "t.conf:4: key: log key"},
	    {HEAD CTLOG CTLOG, "t.conf:5: duplicate ctlog \"argon\" (first given on line 2)"},
	    {HEAD CTLOG "sink stderr\n",
	     "global directive 'sink' after the first 'log' section (line 2)"},
	    {HEAD "batch 5\n" CTLOG, "t.conf:2: 'batch' outside a ctlog section"},
	    {HEAD LOG "batch 5\n", "t.conf:5: 'batch' outside a ctlog section"},
	    {HEAD "url https://x/\n" CTLOG, "outside a log section"},
	};
	struct kta_config *cfg;
	struct kta_error e;
	size_t i;
	uint8_t spki[32];
	uint8_t *man;
	size_t len;
	char path[4096];

	(void)state;
	cfg = parse_ok(HEAD CTLOG
		       "log_id eecdd064d5db1acec55cb79db4cd13a23287467cbcecdec351485946711fb59b\n"
		       "batch 1000\nmax_entries 50000\npoll 60\n"
		       "watch_domain Example.org " SPKI1 "\nwatch_domain .example.org\n" LOG);
	assert_int_equal(cfg->nctlogs, 1);
	assert_int_equal(cfg->nlogs, 1);
	assert_string_equal(cfg->ctlogs[0].name, "argon");
	assert_string_equal(cfg->ctlogs[0].url, "https://ct.googleapis.com/logs/us1/argon2024/");
	assert_non_null(cfg->ctlogs[0].key);
	assert_int_equal(cfg->ctlogs[0].batch, 1000);
	assert_int_equal(cfg->ctlogs[0].max_entries, 50000);
	assert_int_equal(cfg->ctlogs[0].poll, 60);
	assert_int_equal(cfg->ctlogs[0].nwatches, 2);
	assert_string_equal(cfg->ctlogs[0].watches[0].domain, "example.org");
	assert_int_equal(cfg->ctlogs[0].watches[0].napproved, 1);
	assert_int_equal(kta_hex_decode(SPKI1, 64, spki, 32), KTA_OK);
	assert_memory_equal(cfg->ctlogs[0].watches[0].approved[0], spki, 32);
	assert_string_equal(cfg->ctlogs[0].watches[1].domain, ".example.org");
	assert_int_equal(cfg->ctlogs[0].watches[1].napproved, 0);
	kta_config_free(cfg);
	/* A CT log alone is a complete configuration; defaults. */
	cfg = parse_ok(HEAD CTLOG);
	assert_int_equal(cfg->nlogs, 0);
	assert_int_equal(cfg->ctlogs[0].batch, 256);
	assert_int_equal(cfg->ctlogs[0].max_entries, 0);
	assert_int_equal(cfg->ctlogs[0].poll, KTA_CONFIG_DEFAULT_POLL);
	kta_config_free(cfg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i].text, &cfg, &e) == KTA_OK)
			fail_msg("case %zu accepted", i);
		assert_null(cfg);
		if (strstr(e.msg, bad[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, bad[i].msg);
	}
	/* ktaudit.conf.5 documents the CT directives. */
	snprintf(path, sizeof(path), "%s/docs/ktaudit.conf.5", KTA_SRCDIR);
	assert_int_equal(kta_file_read(path, 1 << 20, &man, &len, &e), KTA_OK);
	{
		static const char *const ct[] = {"ctlog", "log_id", "batch", "max_entries",
						 "watch_domain"};

		for (i = 0; i < sizeof(ct) / sizeof(ct[0]); i++) {
			char needle[64];

			snprintf(needle, sizeof(needle), ".BI %s ", ct[i]);
			if (strstr((char *)man, needle) == NULL)
				fail_msg("ktaudit.conf.5 does not document %s", ct[i]);
		}
	}
	free(man);
}

/*
 * Labels by shard among 16 (shard.h: BE64(SHA-256(label)[0..8)) mod N,
 * computed with Python's hashlib): "dave" and "carol@example.org" are in
 * shard 3, "alice" and "erin" in 15, "bob" in 10.
 */
static void shards(void **state)
{
	static const struct {
		const char *text;
		enum kta_status status;
		const char *where; /* FILE:LINE: and what */
		const char *key;   /* the value or reason */
	} bad[] = {
	    /* K/N: canonical decimals, 0 <= K < N, 2 <= N <= KTA_SHARD_MAX */
	    {HEAD LOG "shard 1/1\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "1/1"},
	    {HEAD LOG "shard 4/4\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "4/4"},
	    {HEAD LOG "shard 0/0\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "0/0"},
	    {HEAD LOG "shard a/4\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "a/4"},
	    {HEAD LOG "shard 01/4\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "01/4"},
	    {HEAD LOG "shard 1/04\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "1/04"},
	    {HEAD LOG "shard 1/\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "1/"},
	    {HEAD LOG "shard /4\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "/4"},
	    {HEAD LOG "shard 1-4\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "1-4"},
	    {HEAD LOG "shard 1/4097\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "1/4097"},
	    {HEAD LOG "shard -1/4\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "-1/4"},
	    {HEAD LOG "shard 1/4/\n", KTA_ERR_MALFORMED, "t.conf:5: shard: ", "1/4/"},
	    {HEAD LOG "shard 1/18446744073709551617\n", KTA_ERR_MALFORMED,
	     "t.conf:5: shard: ", "1/18446744073709..."},
	    /* exactly one value, at most once per section */
	    {HEAD LOG "shard\n", KTA_ERR_MALFORMED, "t.conf:5: ", "'shard' needs 1 value"},
	    {HEAD LOG "shard 1/4 2/4\n", KTA_ERR_MALFORMED,
	     "t.conf:5: ", "'shard': unexpected value \"2/4\""},
	    {HEAD LOG "shard 1/4\npoll 5\nshard 1/4\n", KTA_ERR_MALFORMED,
	     "t.conf:7: ", "duplicate 'shard' (first given on line 5)"},
	    /* log sections only */
	    {HEAD "shard 1/4\n" LOG, KTA_ERR_MALFORMED,
	     "t.conf:2: ", "'shard' outside a log section"},
	    {HEAD CTLOG "shard 1/4\n", KTA_ERR_MALFORMED,
	     "t.conf:5: ", "'shard' is not a ctlog directive"},
	    {HEAD LOG CTLOG "shard 1/4\n", KTA_ERR_MALFORMED,
	     "t.conf:8: ", "'shard' is not a ctlog directive"},
	    /* watches must be in the shard, before or after the shard line */
	    {HEAD LOG "shard 3/16\nwatch dave tofu\nwatch alice tofu\n", KTA_ERR_MALFORMED,
	     "t.conf:7: watch \"alice\": ",
	     "shard 15/16, this log audits shard 3/16 ('shard' on line 5)"},
	    {HEAD LOG "watch bob tofu\nwatch dave tofu\nshard 3/16\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch \"bob\": ",
	     "shard 10/16, this log audits shard 3/16 ('shard' on line 7)"},
	    {HEAD LOG "watch alice ed25519:" PK_A ":phone\nshard 0/2\n", KTA_ERR_MALFORMED,
	     "t.conf:5: watch \"alice\": ",
	     "shard 1/2, this log audits shard 0/2 ('shard' on line 6)"},
	    /* the check runs at every section's end, not only the last */
	    {HEAD LOG "shard 3/16\nwatch alice tofu\n" CTLOG, KTA_ERR_MALFORMED,
	     "t.conf:6: watch \"alice\": ", "this log audits shard 3/16"},
	    {HEAD LOG "shard 3/16\nwatch alice tofu\nlog b\nurl https://b/\nkey " LOGKEY2 "\n",
	     KTA_ERR_MALFORMED, "t.conf:6: watch \"alice\": ", "this log audits shard 3/16"},
	};
	/* the labels used here are where the comment above says */
	static const struct {
		const char *label;
		uint32_t n, k;
	} where[] = {{"dave", 16, 3},  {"alice", 16, 15}, {"carol@example.org", 16, 3},
		     {"erin", 16, 15}, {"bob", 16, 10},   {"alice", 2, 1}};
	struct kta_config *cfg;
	struct kta_error e;
	uint32_t j = 99;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		assert_int_equal(
		    kta_shard_of(where[i].label, strlen(where[i].label), where[i].n, &j, &e),
		    KTA_OK);
		assert_int_equal(j, where[i].k);
	}
	/* unsharded by default */
	cfg = parse_ok(HEAD LOG "watch alice tofu\nwatch bob tofu\n");
	assert_int_equal(cfg->logs[0].shard_k, 0);
	assert_int_equal(cfg->logs[0].shard_n, 0);
	kta_config_free(cfg);
	cfg = parse_ok(HEAD LOG "shard 3/16\n");
	assert_int_equal(cfg->logs[0].shard_k, 3);
	assert_int_equal(cfg->logs[0].shard_n, 16);
	kta_config_free(cfg);
	/* the bounds */
	cfg = parse_ok(HEAD LOG "shard 0/2\n");
	assert_int_equal(cfg->logs[0].shard_k, 0);
	assert_int_equal(cfg->logs[0].shard_n, 2);
	kta_config_free(cfg);
	cfg = parse_ok(HEAD LOG "shard 4095/4096\n");
	assert_int_equal(cfg->logs[0].shard_k, 4095);
	assert_int_equal(cfg->logs[0].shard_n, KTA_SHARD_MAX);
	kta_config_free(cfg);
	/* watches in the shard, before and after the shard line; a trailing
	 * comment; per section: the next log has its own shard (or none) */
	cfg = parse_ok(HEAD LOG "watch dave tofu\nshard 3/16 # a comment\nwatch carol@example.org "
				"ed25519:" PK_A ":phone\n"
				"log b\nurl https://b/\nkey " LOGKEY2 "\nwatch alice tofu\n"
				"log c\nurl https://c/\nkey " LOGKEY2 "\nshard 15/16\n"
				"watch alice tofu\nwatch erin tofu\n");
	assert_int_equal(cfg->nlogs, 3);
	assert_int_equal(cfg->logs[0].shard_k, 3);
	assert_int_equal(cfg->logs[0].shard_n, 16);
	assert_int_equal(cfg->logs[0].nwatches, 2);
	assert_int_equal(cfg->logs[1].shard_n, 0);
	assert_int_equal(cfg->logs[1].nwatches, 1);
	assert_int_equal(cfg->logs[2].shard_k, 15);
	assert_int_equal(cfg->logs[2].shard_n, 16);
	assert_int_equal(cfg->logs[2].nwatches, 2);
	kta_config_free(cfg);
	/* every watch the config accepts is in its log's shard */
	cfg = parse_ok(HEAD LOG "shard 3/16\nwatch dave tofu\n");
	for (i = 0; i < cfg->logs[0].nwatches; i++) {
		const char *label = cfg->logs[0].watches[i].label;

		assert_int_equal(kta_shard_of(label, strlen(label), 16, &j, &e), KTA_OK);
		assert_int_equal(j, cfg->logs[0].shard_k);
	}
	kta_config_free(cfg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static struct kta_config sentinel;
		enum kta_status r;

		cfg = &sentinel; /* must be reset to NULL */
		r = parse(bad[i].text, &cfg, &e);
		if (r != bad[i].status || strstr(e.msg, bad[i].where) == NULL ||
		    strstr(e.msg, bad[i].key) == NULL)
			fail_msg("case %zu: status %d, message \"%s\"; want %d \"%s\" \"%s\"", i,
				 (int)r, e.msg, (int)bad[i].status, bad[i].where, bad[i].key);
		assert_null(cfg);
	}
	/* without an error buffer: the same status, no crash */
	cfg = NULL;
	assert_int_equal(kta_config_parse((const uint8_t *)bad[0].text, strlen(bad[0].text),
					  "t.conf", &cfg, NULL),
			 KTA_ERR_MALFORMED);
	assert_null(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(example_parses), cmocka_unit_test(minimal_defaults),
	    cmocka_unit_test(lexical),        cmocka_unit_test(sinks),
	    cmocka_unit_test(long_sink_name), cmocka_unit_test(log_directives),
	    cmocka_unit_test(watches),        cmocka_unit_test(key_spec),
	    cmocka_unit_test(errors),         cmocka_unit_test(nul_byte),
	    cmocka_unit_test(limits),         cmocka_unit_test(load_errors),
	    cmocka_unit_test(mutants),        cmocka_unit_test(man_page_agrees),
	    cmocka_unit_test(ctlog_sections), cmocka_unit_test(shards),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
