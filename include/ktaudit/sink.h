/*
 * ktaudit: delivering one alert to one sink (I/O: files, syslog, processes,
 * HTTPS).
 *
 * A sink is configured by config.h (struct kta_sink_config). Delivery hands
 * it one alert, both as its JSON text (one line, compact, the stored outbox
 * form; alert.h schema) and as the parsed struct kta_alert. KTA_OK means the
 * sink accepted the alert; anything else means it did not, and the delivery
 * loop (deliver.h) retries later. Delivery is at least once: a crash between
 * a sink's acceptance and the outbox mark delivers the alert again, with the
 * same id, which receivers use to deduplicate.
 *
 *   type    | what happens                                  | accepted when
 *   --------+-----------------------------------------------+------------------------
 *   stderr  | JSON + "\n" written to stderr, fflush         | the write succeeds
 *   file    | JSON + "\n" appended to the path              | write and fsync succeed
 *           | (O_APPEND|O_CREAT|O_NOFOLLOW, mode 0600; a    |
 *           | regular file; the directory must exist)       |
 *   syslog  | syslog(3) facility LOG_DAEMON, one line       | always (syslog gives no
 *           | "ktaudit alert ID SEVERITY KIND log=L         | result)
 *           | [label=X version=N] [leaf_index=N]: MESSAGE"  |
 *   exec    | fork + execve(argv) (below)                   | the program exits 0
 *           |                                               | within the timeout
 *   webhook | HTTPS POST of the JSON (below)                | HTTP status 2xx
 *
 * Syslog priority by severity: critical -> LOG_CRIT, alert -> LOG_ERR,
 * warning -> LOG_WARNING (LOG_ALERT and LOG_EMERG are left alone: many
 * syslog setups broadcast them to every terminal). openlog is not called
 * (process-wide state): the identity is the program name.
 *
 * exec: argv[0] must be an absolute path (no PATH search, never a shell).
 * The child runs in its own process group with the default signal
 * dispositions, an empty signal mask and every file descriptor but 0, 1, 2
 * closed. stdin is a pipe carrying the JSON text and one "\n"; stdout and
 * stderr go to a pipe of which the first KTA_SINK_EXEC_OUTPUT_MAX bytes are
 * kept for the error message (the rest is read and dropped). The
 * environment is exactly:
 *
 *   PATH=/usr/bin:/bin
 *   KTAUDIT_ALERT_ID     the alert id (32 hex)
 *   KTAUDIT_SEVERITY     critical | alert | warning
 *   KTAUDIT_KIND         the kind name (alert.h)
 *   KTAUDIT_LOG          the log origin
 *   KTAUDIT_MESSAGE      the one-line message
 *   KTAUDIT_LABEL        only for label findings
 *   KTAUDIT_VERSION      only for label findings (decimal)
 *   KTAUDIT_LEAF_INDEX   only when the alert has a leaf index (decimal)
 *   KTAUDIT_EVIDENCE     only when the alert has an evidence bundle
 *
 * Values longer than KTA_SINK_ENV_VALUE_MAX bytes are cut (at a UTF-8
 * boundary); the JSON on stdin is always complete.
 *
 * The caller must not set SIGCHLD to SIG_IGN (the child could not be
 * waited for). After sink->timeout seconds (monotonic clock) the whole process group is
 * killed with SIGKILL and reaped: a failure. A program that exits without
 * reading its stdin is judged by its exit status alone (SIGPIPE is blocked
 * around the write and a pending one consumed, so the caller never dies).
 *
 * webhook: POST to the URL with "Content-Type: application/json" and
 * "Idempotency-Key: <alert id>", via libcurl: TLS peer and host verification
 * always on (sink->ca_file replaces the trust store), only the URL's own
 * scheme allowed, no redirects (a 3xx is a failure), total timeout
 * sink->timeout seconds (connect at most KTA_SINK_CONNECT_TIMEOUT_S), the
 * response body read up to KTA_SINK_RESPONSE_MAX bytes (a larger one is a
 * failure). libcurl's proxy environment variables apply. curl_global_init /
 * curl_global_cleanup are called around each POST (reference-counted and
 * thread-safe since libcurl 7.84).
 *
 * Errors: KTA_ERR_IO when the sink did not accept the alert (the message
 * names the sink and says why: exit status, signal, timeout, HTTP status and
 * the start of the response or output, errno text); KTA_ERR_LIMIT for a
 * response over the limit; KTA_ERR_USAGE for a bad argument (JSON empty or
 * containing "\n" or NUL, an id that is not 32 lowercase hex, a relative exec
 * path, a sink type or URL scheme not handled); KTA_ERR_NOMEM;
 * KTA_ERR_INTERNAL (libcurl or fork/pipe setup failed).
 *
 * Ownership: nothing is retained after the call; every argument is borrowed.
 */
#ifndef KTAUDIT_SINK_H
#define KTAUDIT_SINK_H

#include <stddef.h>

#include "ktaudit/alert.h"
#include "ktaudit/config.h"
#include "ktaudit/error.h"

/* Largest alert JSON text delivered, in bytes. */
#define KTA_SINK_JSON_MAX ((size_t)1 << 20)
/* Bytes of an exec hook's output kept for the error message. */
#define KTA_SINK_EXEC_OUTPUT_MAX 512
/* Longest exec hook environment value (longer ones are cut; stdin has all). */
#define KTA_SINK_ENV_VALUE_MAX 4096
/* Largest webhook response body read, in bytes. */
#define KTA_SINK_RESPONSE_MAX ((size_t)64 * 1024)
/* Bytes of a webhook response quoted in an error message. */
#define KTA_SINK_RESPONSE_QUOTE 200
/* Webhook connect timeout cap, seconds. */
#define KTA_SINK_CONNECT_TIMEOUT_S 10

/*
 * Delivers alert `a` with its JSON text (json, json_len) to `sink` (table
 * above). A sink->timeout of 0 means KTA_CONFIG_DEFAULT_SINK_TIMEOUT.
 * Returns KTA_OK when the sink accepted it; errors above.
 */
KTA_API enum kta_status kta_sink_deliver(const struct kta_sink_config *sink,
					 const struct kta_alert *a, const char *json,
					 size_t json_len, struct kta_error *err) KTA_WUR;

#endif
