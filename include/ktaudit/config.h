/*
 * ktaudit: the monitor configuration file, ktaudit.conf(5) (parsing is
 * pure; kta_config_load reads one file).
 *
 * Format: UTF-8 text, lines ending in "\n" (the last may omit it), no "\r",
 * no NUL. A line is blank, a comment (first non-blank character '#'), or a
 * directive: tokens separated by runs of spaces or tabs; a token starting
 * with '#' begins a trailing comment. No quoting: values contain no spaces.
 *
 * Global directives come first, then one or more `log` sections; a section
 * runs until the next `log` line. A global directive inside a section, or a
 * log directive before the first `log`, is an error.
 *
 *   global directive            | count   | value
 *   ----------------------------+---------+--------------------------------------------
 *   state_dir PATH              | 1 (req) | absolute path (the monitor creates it 0700)
 *   evidence_dir PATH           | 0..1    | absolute path; default STATE_DIR/evidence
 *   heartbeat PATH              | 0..1    | absolute path of a file touched per good cycle
 *   heartbeat_exec ARGV...      | 0..1    | argv, argv[0] an absolute path; never a shell
 *   metrics PATH                | 0..1    | absolute path of a Prometheus textfile
 *   witness_key PATH            | 0..1    | absolute path of the auditor's own
 *                               |         | cosignature/v1 secret key (keygen --witness)
 *   publish_dir PATH            | 0..1    | absolute path; cosigned checkpoints go to
 *                               |         | PATH/<log dir>/checkpoint (witness.h)
 *   index_cache MIB             | 0..1    | memory for the label index cache and
 *                               |         | SQLite's page cache (kta_state_set_cache),
 *                               |         | KTA_CONFIG_INDEX_CACHE_MIN..MAX; default
 *                               |         | KTA_CONFIG_DEFAULT_INDEX_CACHE
 *   commit_every N              | 0..1    | entries per transaction of a long
 *                               |         | catch-up (state.h "pending"): 0 = one
 *                               |         | transaction per step, else
 *                               |         | KTA_CONFIG_COMMIT_EVERY_MIN..MAX; default
 *                               |         | KTA_CONFIG_DEFAULT_COMMIT_EVERY
 *   sink stderr                 | 0..n    | JSON lines on standard error
 *   sink file PATH              | 0..n    | JSON lines appended to PATH (absolute)
 *   sink syslog                 | 0..n    | syslog(3), priority by severity (sink.h)
 *   sink exec ARGV...           | 0..n    | argv[0] an absolute path; never a shell
 *   sink webhook URL [ca_file=PATH] [timeout=S] | 0..n | https (http: loopback only)
 *
 *   log directive               | count   | value
 *   ----------------------------+---------+--------------------------------------------
 *   log NAME                    | 1..n    | starts a section; NAME unique (1..256 bytes)
 *   url URL [proxy=P]           | 1 (req) | tlog-tiles base URL: https://, http://, file:///
 *   mirror URL [proxy=P]        | 0..n    | another vantage point, same schemes
 *                               |         | P: proxy for this URL only, SCHEME://HOST:PORT,
 *                               |         | SCHEME socks5h, socks5, socks4a, http, https
 *   peer URL VKEY               | 0..n    | another auditor's publish URL for this log
 *                               |         | (https, http, file) and its cosignature/v1
 *                               |         | key (gossip.h); URL listed once per log
 *   publish_dir PATH            | 0..1    | absolute path: this log's publish directory
 *                               |         | (overrides the global one's subdirectory)
 *   key VKEY                    | 1 (req) | the log's verifier key (key.h)
 *   origin ORIGIN               | 0..1    | expected checkpoint origin; default NAME
 *   witness VKEY                | 0..n    | witness verifier keys, distinct
 *   quorum N                    | 0..1    | 0..number of witnesses; default 0
 *   poll SECONDS                | 0..1    | 1..; default KTA_CONFIG_DEFAULT_POLL
 *   max_age SECONDS             | 0..1    | 0 = off (default)
 *   ca_file PATH                | 0..1    | absolute path of a CA bundle for this log
 *   watch LABEL KEYSPEC...      | 0..n    | pinned key set; KEYSPEC = ALG:B64:DEVICE
 *   watch LABEL tofu            | 0..n    | trust the first key set seen
 *   shard K/N                   | 0..1    | audit only the labels of shard K of N
 *                               |         | (shard.h); every watch LABEL of the
 *                               |         | section must be in that shard
 *
 *   ctlog directive             | count   | value (a Certificate Transparency log, ct.h)
 *   ----------------------------+---------+--------------------------------------------
 *   ctlog NAME                  | 0..n    | starts a section; NAME unique among ctlogs
 *   url URL                     | 1 (req) | RFC 6962 base URL (before "ct/v1/")
 *   monitoring_url URL          | 0..1    | a static-ct-api log: its monitoring prefix
 *                               |         | (checkpoint and tiles); `url` is then the
 *                               |         | submission prefix naming the origin
 *   key B64_DER                 | 1 (req) | the log's key: base64 DER SPKI (log lists)
 *   log_id ID                   | 0..1    | base64 or hex SHA-256 of the key; checked
 *   poll SECONDS                | 0..1    | 1..; default KTA_CONFIG_DEFAULT_POLL
 *   batch N                     | 0..1    | get-entries size 1..1024; default 256
 *   max_entries N               | 0..1    | entries per cycle; 0 = all (default)
 *   ca_file PATH                | 0..1    | absolute path of a CA bundle for this log
 *   watch_domain DOMAIN [SPKI]..| 0..n    | DOMAIN or .DOMAIN (subdomains); SPKI =
 *                               |         | 64 hex (or base64) SHA-256 of an approved
 *                               |         | SubjectPublicKeyInfo, at most
 *                               |         | KTA_CONFIG_WATCH_KEYS_MAX; a DOMAIN once
 * At least one `log` or `ctlog` section is required.
 *
 * Numbers are canonical decimals (kta_parse_u64). URLs are "https://",
 * "http://" (host non-empty) or "file:///" (absolute path); two logs may not
 * share a NAME or an ORIGIN; a URL is listed once per log; a LABEL once per
 * log. KEYSPEC is the same as the publisher's (`ktaudit dir add`): ALG an
 * entry.h algorithm name ("ed25519", "x25519"), B64 the 32-byte public key in
 * canonical base64, DEVICE a device name (mandatory, because entry.h requires
 * one; it may contain ':').
 *
 * Sink names (the key under which the state DB records delivery to a sink):
 * the type, plus ":" and the argument text for sinks that have one:
 *   "stderr", "syslog", "file:/var/log/a.jsonl",
 *   "exec:/usr/local/bin/notify --flag value" (argv joined by single spaces),
 *   "webhook:https://hooks.example/x" (options such as ca_file= excluded).
 * A name longer than KTA_CONFIG_SINK_NAME_MAX bytes (the state database's
 * limit) is cut to its first KTA_CONFIG_SINK_NAME_KEEP bytes (at a UTF-8
 * boundary) followed by "~" and 32 hex digits of SHA-256 of the full name.
 * Editing a sink's arguments therefore makes it a new sink (which receives
 * only alerts stored after it first appears); two sinks with the same name
 * are an error.
 *
 * Every error is KTA_ERR_MALFORMED (or KTA_ERR_LIMIT for the named limits)
 * with the message "FILE:LINE: reason" quoting the bad value; errors found
 * at the end of a section (missing url/key, quorum too large) name the line
 * of the `log` (or `quorum`) directive, a watch outside the section's shard
 * names the `watch` line; a missing state_dir or log names the
 * last line. KTA_ERR_NOMEM when out of memory; kta_config_load also
 * KTA_ERR_IO ("FILE: ...") when the file cannot be read.
 *
 * Ownership: kta_config_parse/kta_config_load return a new struct kta_config
 * that owns every string, array and key inside it; free it with
 * kta_config_free and nothing else. Nothing borrows from the input buffer.
 */
#ifndef KTAUDIT_CONFIG_H
#define KTAUDIT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/ct.h"
#include "ktaudit/entry.h"
#include "ktaudit/error.h"
#include "ktaudit/key.h"

/* Largest configuration file, in bytes. */
#define KTA_CONFIG_MAX_SIZE ((size_t)1 << 20)
/* Longest line, "\n" excluded. */
#define KTA_CONFIG_LINE_MAX ((size_t)64 * 1024)
/* Most tokens on one line (directive included). */
#define KTA_CONFIG_TOKENS_MAX 256
/* Longest path or URL. */
#define KTA_CONFIG_PATH_MAX 4096
/* Longest log name / origin. */
#define KTA_CONFIG_NAME_MAX 256
/* Counts. */
#define KTA_CONFIG_SINKS_MAX 64
#define KTA_CONFIG_LOGS_MAX 256 /* per kind: log and ctlog */
#define KTA_CONFIG_MIRRORS_MAX 16
#define KTA_CONFIG_WITNESSES_MAX 64
#define KTA_CONFIG_PEERS_MAX 64
#define KTA_CONFIG_WATCHES_MAX 10000
#define KTA_CONFIG_WATCH_KEYS_MAX 128
/* Defaults. */
#define KTA_CONFIG_DEFAULT_POLL 300
/* index_cache, MiB (the same bounds as state.h KTA_STATE_CACHE_*_MIB). */
#define KTA_CONFIG_DEFAULT_INDEX_CACHE 192
#define KTA_CONFIG_INDEX_CACHE_MIN 8
#define KTA_CONFIG_INDEX_CACHE_MAX 1048576
/* commit_every, entries: a chunk is at least one entry bundle; ~1e6
 * entries is ~0.3 GB of WAL and a few seconds of replay (docs/operating.md). */
#define KTA_CONFIG_DEFAULT_COMMIT_EVERY 1000000
#define KTA_CONFIG_COMMIT_EVERY_MIN 256
#define KTA_CONFIG_COMMIT_EVERY_MAX 1000000000
#define KTA_CONFIG_DEFAULT_SINK_TIMEOUT 30
/* Largest poll, max_age and sink timeout accepted (seconds; ten years). */
#define KTA_CONFIG_SECONDS_MAX ((uint64_t)10 * 366 * 86400)
/* Longest sink name (= KTA_STATE_SINK_NAME_MAX) and the part kept of a longer one. */
#define KTA_CONFIG_SINK_NAME_MAX 256
#define KTA_CONFIG_SINK_NAME_KEEP 200
/* Longest "ALG:B64:DEVICE" key specification. */
#define KTA_CONFIG_KEY_SPEC_MAX (16 + 44 + 1 + KTA_DEVICE_MAX_LEN)

enum kta_sink_type {
	KTA_SINK_STDERR = 1,
	KTA_SINK_FILE,
	KTA_SINK_SYSLOG,
	KTA_SINK_EXEC,
	KTA_SINK_WEBHOOK,
};

struct kta_sink_config {
	enum kta_sink_type type;
	char *name;       /* delivery key, see "Sink names"; never NULL */
	char *target;     /* FILE: the path; WEBHOOK: the URL; NULL otherwise */
	char **argv;      /* EXEC: argc strings + a NULL; NULL otherwise */
	size_t argc;      /* EXEC: >= 1 */
	char *ca_file;    /* WEBHOOK: CA bundle path, or NULL (system store) */
	uint64_t timeout; /* EXEC, WEBHOOK: seconds, default KTA_CONFIG_DEFAULT_SINK_TIMEOUT */
	size_t line;      /* line of the directive (for messages) */
};

struct kta_watch_config {
	char *label;                /* a valid entry.h label */
	int tofu;                   /* 1: trust the first key set seen (nkeys == 0) */
	struct kta_entry_key *keys; /* pinned set in entry.h canonical order (sorted by alg,
				       then pub; (alg,pub) and (alg,device) unique), so
				       kta_entry_keys_diff accepts it; NULL when tofu */
	size_t nkeys;               /* >= 1 unless tofu */
	size_t line;
};

/* Another auditor of the same log (gossip.h). */
struct kta_peer_config {
	char *url;            /* its publish URL for this log (where `checkpoint` lives) */
	struct kta_vkey *key; /* its cosignature/v1 verifier key */
	size_t line;
};

struct kta_log_config {
	char *name;     /* section name, unique */
	char *url;      /* tlog-tiles base URL */
	char **mirrors; /* nmirrors more base URLs; NULL if none */
	size_t nmirrors;
	char *url_proxy;       /* proxy for `url`, or NULL (libcurl's environment) */
	char **mirror_proxies; /* nmirrors entries, each a proxy or NULL; NULL if no mirrors */
	struct kta_peer_config *peers; /* npeers other auditors; NULL if none */
	size_t npeers;
	char *publish_dir;    /* this log's publish directory, or NULL (see kta_config) */
	struct kta_vkey *key; /* the log's verifier key */
	char *origin;         /* expected origin; never NULL (default: name) */
	const struct kta_vkey **witnesses; /* nwitnesses distinct keys, owned by the config;
					      passes as kta_checkpoint_policy.witnesses */
	size_t nwitnesses;
	size_t quorum;                    /* <= nwitnesses */
	uint64_t poll;                    /* seconds between cycles, >= 1 */
	uint64_t max_age;                 /* seconds; 0 = off */
	char *ca_file;                    /* or NULL */
	struct kta_watch_config *watches; /* in file order; NULL if none */
	size_t nwatches;
	uint32_t shard_k, shard_n; /* shard K of N (shard.h); shard_n 0: every label */
	size_t line;               /* line of the `log` directive */
};

struct kta_ct_watch_config {
	char *domain;            /* "example.org" or ".example.org", lowercase */
	uint8_t (*approved)[32]; /* napproved SPKI SHA-256 hashes; NULL if none */
	size_t napproved;
	size_t line;
};

struct kta_ctlog_config {
	char *name;                          /* section name, unique among ctlogs */
	char *url;                           /* RFC 6962 base URL (submission prefix) */
	char *monitoring_url;                /* static-ct-api monitoring prefix, or NULL */
	struct kta_ct_key *key;              /* the log's key (owned) */
	uint64_t poll;                       /* seconds, >= 1 */
	unsigned batch;                      /* 1..KTA_CT_MAX_BATCH */
	uint64_t max_entries;                /* 0 = all */
	char *ca_file;                       /* or NULL */
	struct kta_ct_watch_config *watches; /* NULL if none */
	size_t nwatches;
	size_t line; /* line of the `ctlog` directive */
};

struct kta_config {
	char *path;            /* the file name given to the parser (for messages) */
	char *state_dir;       /* never NULL */
	char *evidence_dir;    /* never NULL (default STATE_DIR "/evidence") */
	char *heartbeat;       /* or NULL */
	char **heartbeat_exec; /* argc strings + NULL, or NULL */
	size_t heartbeat_exec_argc;
	char *metrics;                 /* or NULL */
	char *witness_key;             /* path of the auditor's cosigning key, or NULL */
	char *publish_dir;             /* global publish directory, or NULL */
	uint64_t index_cache;          /* MiB (KTA_CONFIG_DEFAULT_INDEX_CACHE if not given) */
	uint64_t commit_every;         /* entries per catch-up transaction, 0 = per step (default
					  KTA_CONFIG_DEFAULT_COMMIT_EVERY) */
	struct kta_sink_config *sinks; /* in file order; NULL if none */
	size_t nsinks;
	struct kta_log_config *logs; /* in file order; NULL if none */
	size_t nlogs;
	struct kta_ctlog_config *ctlogs; /* in file order; NULL if none */
	size_t nctlogs;                  /* nlogs + nctlogs >= 1 */
};

/*
 * Parses the configuration text (buf, len); `filename` names it in error
 * messages ("FILE:LINE: reason"). On success *out is a new config (free with
 * kta_config_free). Errors: see the header comment. *out is NULL on failure.
 */
KTA_API enum kta_status kta_config_parse(const uint8_t *buf, size_t len, const char *filename,
					 struct kta_config **out, struct kta_error *err) KTA_WUR;

/*
 * Reads `path` (at most KTA_CONFIG_MAX_SIZE bytes) and parses it. Errors:
 * those of kta_config_parse, KTA_ERR_IO, KTA_ERR_LIMIT.
 */
KTA_API enum kta_status kta_config_load(const char *path, struct kta_config **out,
					struct kta_error *err) KTA_WUR;

/* Frees cfg and everything it owns; cfg may be NULL. */
KTA_API void kta_config_free(struct kta_config *cfg);

/*
 * Parses a key specification "ALG:B64:DEVICE" (len bytes of s; the same
 * syntax as the publisher's). Fills *key with key->device pointing at
 * `device` (the caller's buffer). KTA_ERR_MALFORMED naming the part at fault,
 * KTA_ERR_LIMIT when longer than KTA_CONFIG_KEY_SPEC_MAX.
 */
KTA_API enum kta_status kta_config_parse_key_spec(const char *s, size_t len,
						  struct kta_entry_key *key,
						  char device[static KTA_DEVICE_MAX_LEN + 1],
						  struct kta_error *err) KTA_WUR;

/* The sink type's name ("stderr", "file", ...; "unknown" for bad values). */
KTA_API const char *kta_sink_type_name(enum kta_sink_type type);

#endif
