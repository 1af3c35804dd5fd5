/*
 * ktaudit: fetching log objects over https://, http:// and file:// (I/O,
 * libcurl).
 *
 * A struct kta_fetcher holds a libcurl multi handle, its connection cache
 * and a pool of easy handles, so connections (and TLS sessions) are reused
 * across kta_fetch_get and kta_fetch_many calls. It is not thread-safe: use
 * one fetcher per thread.
 *
 * Security policy (not configurable):
 *   - TLS peer and host name verification are always on
 *     (CURLOPT_SSL_VERIFYPEER 1, CURLOPT_SSL_VERIFYHOST 2); opts.ca_file
 *     replaces the trust store (for logs behind a private CA) rather than
 *     adding to it.
 *   - libcurl may only speak the schemes in opts.schemes; a URL with another
 *     scheme fails with KTA_ERR_USAGE before any I/O.
 *   - Redirects are followed at most opts.max_redirects hops and only to the
 *     scheme of the original URL: an http:// log cannot redirect to file://,
 *     and https:// cannot be downgraded to http://. A refused redirect
 *     fails with "redirect to another scheme refused".
 *   - Every body is capped at opts.max_size bytes after content decoding
 *     (gzip is accepted, per tlog-tiles "Log entries"); the transfer is cut
 *     as soon as the cap is passed, with KTA_ERR_LIMIT.
 *   - A server that trickles (below opts.low_speed_limit bytes/s for
 *     opts.low_speed_time_s seconds) or hangs (opts.timeout_ms) is cut.
 *   - Retry-After is honoured but capped at opts.retry_after_max_s, so a
 *     server cannot stall the caller.
 *
 * file:// objects are read directly, without a libcurl transfer, with the
 * results libcurl's file:// gave except where noted:
 *   - The URL is parsed by libcurl's URL parser (curl_url), so what is
 *     accepted is exactly what libcurl accepts: "file:///abs/path",
 *     "file:/abs/path" and "file://localhost/abs/path" (also "127.0.0.1",
 *     host case-insensitive); another host, a user or a port is
 *     KTA_ERR_USAGE. Dot segments are removed, a query ("?...") and a
 *     fragment ("#...") are ignored, as libcurl does. The path is then
 *     percent-decoded ("%" and two hex digits; any other "%" is literal;
 *     "%2F" is a "/"). "%00" is KTA_ERR_USAGE before any I/O (libcurl
 *     gave KTA_ERR_IO, "curl error 3").
 *   - open(2) with O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK, so a FIFO or
 *     device cannot block; symbolic links are followed. Only regular
 *     files are read: a directory, FIFO, device or socket is KTA_ERR_IO
 *     "not a regular file (...)", not_found 0 (libcurl returned an empty
 *     body for a directory, hung on a FIFO and read devices).
 *   - The file is read to its end, at most opts.max_size bytes; one more
 *     is KTA_ERR_LIMIT, also when it grows while being read. A read error
 *     is KTA_ERR_IO (libcurl returned the bytes read so far).
 *   - One attempt, never retried; opts.cancel is polled before each file;
 *     the timeouts and the low-speed limit do not apply to file:// reads.
 *
 * Outcomes of one object:
 *   KTA_OK          HTTP 200 (after at most opts.max_redirects redirects),
 *                   or a readable file:// file
 *   KTA_ERR_IO      anything else: the message names the URL and what
 *                   happened (HTTP status, libcurl error, attempts made).
 *                   info->not_found is 1 for HTTP 404 and 410 and for a
 *                   file:// file that cannot be opened (ENOENT, ENOTDIR,
 *                   EACCES, EPERM, ELOOP, ENAMETOOLONG: "file missing or
 *                   unreadable"), so a caller can tell "does not exist"
 *                   (e.g. a pruned or not yet published tile) from "could
 *                   not reach the log". Messages about files name the
 *                   decoded path and the errno text.
 *   KTA_ERR_LIMIT   the body is larger than opts.max_size
 *   KTA_ERR_USAGE   bad URL (including a file:// path with %00) or scheme
 *                   not allowed
 *   KTA_ERR_NOMEM, KTA_ERR_INTERNAL
 *
 * Retries: transient failures are retried up to opts.max_retries times:
 * HTTP 408, 429, 500, 502, 503, 504, connection refused or reset, DNS
 * failure, timeouts (including the low-speed limit), an empty reply and a
 * body shorter than its Content-Length. Not retried: other HTTP statuses
 * (404 included), TLS verification failures, refused redirects, the size
 * limit. The wait before retry k (1-based) is min(backoff_base_ms * 2**(k-1),
 * backoff_max_ms), halved and then increased by a random part of up to the
 * other half (jitter, so many auditors do not retry in lockstep). On 429
 * and 503 a positive Retry-After (seconds or HTTP-date, as parsed by
 * libcurl's CURLINFO_RETRY_AFTER) replaces it, capped at
 * opts.retry_after_max_s; Retry-After: 0 is treated as absent.
 *
 * libcurl global state: kta_fetcher_new calls curl_global_init and
 * kta_fetcher_free calls curl_global_cleanup. libcurl reference-counts
 * these and, since 7.84 (CURL_VERSION_THREADSAFE), makes them thread-safe;
 * ktaudit itself keeps no global state.
 *
 * Proxies: libcurl's usual environment variables (https_proxy, http_proxy,
 * no_proxy, ...) apply unless opts->proxy names one for this fetcher
 * (CURLOPT_PROXY, e.g. "socks5h://127.0.0.1:9050" for Tor); TLS is still
 * verified end to end.
 *
 * Ownership: kta_fetcher_new allocates the fetcher, kta_fetcher_free frees
 * it (NULL is fine). The strings in opts are copied; the hook contexts
 * (delay_ctx, cancel_ctx) are borrowed and must outlive the fetcher. Bodies returned by
 * kta_fetch_get and in kta_fetch_result are malloc'd, followed by one NUL
 * byte not counted in the length, and freed by the caller with free() (or
 * kta_fetch_results_free).
 */
#ifndef KTAUDIT_FETCH_H
#define KTAUDIT_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

/* Default limits (kta_fetch_opts_init). */
#define KTA_FETCH_DEFAULT_MAX_SIZE ((size_t)32 << 20) /* > a full bundle (~16 MiB) */
#define KTA_FETCH_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define KTA_FETCH_DEFAULT_TIMEOUT_MS 120000L
#define KTA_FETCH_DEFAULT_LOW_SPEED_LIMIT 1024L /* bytes per second */
#define KTA_FETCH_DEFAULT_LOW_SPEED_TIME_S 30L
#define KTA_FETCH_DEFAULT_MAX_RETRIES 3u
#define KTA_FETCH_DEFAULT_BACKOFF_BASE_MS 500u
#define KTA_FETCH_DEFAULT_BACKOFF_MAX_MS 30000u
#define KTA_FETCH_DEFAULT_RETRY_AFTER_MAX_S 300u
#define KTA_FETCH_DEFAULT_MAX_CONNECTIONS 8u
#define KTA_FETCH_DEFAULT_MAX_REDIRECTS 5u
/* Upper bounds accepted by kta_fetcher_new. */
#define KTA_FETCH_MAX_CONNECTIONS 64u
#define KTA_FETCH_MAX_REDIRECTS 20u

struct kta_fetcher; /* opaque */

struct kta_fetch_opts {
	/* Comma-separated subset of "https,http,file" (no spaces). The CLI
	 * allows the scheme(s) of the URLs the user configured. NULL means
	 * "https". */
	const char *schemes;
	const char *ca_file;        /* PEM trust store; NULL = the system store */
	size_t max_size;            /* per object body limit in bytes, >= 1 */
	long connect_timeout_ms;    /* per attempt, >= 1 */
	long timeout_ms;            /* whole transfer, per attempt, >= 1 */
	long low_speed_limit;       /* bytes/s; 0 disables the low-speed cut */
	long low_speed_time_s;      /* ... sustained for this long */
	unsigned max_retries;       /* extra attempts after the first */
	unsigned backoff_base_ms;   /* first retry wait (before jitter) */
	unsigned backoff_max_ms;    /* cap on the exponential wait */
	unsigned retry_after_max_s; /* cap on a server's Retry-After */
	unsigned max_connections;   /* parallel connections, 1..64 */
	unsigned max_redirects;     /* 0 = do not follow, at most 20 */
	const char *user_agent;     /* NULL = "ktaudit/<version>" */
	const char *proxy;          /* CURLOPT_PROXY for every transfer; NULL = environment */
	uint64_t jitter_seed;       /* 0 = seed from the clock */
	/* Test seam: called with every computed retry wait; returns the wait
	 * to use. NULL = use it unchanged. */
	unsigned (*delay_hook)(void *ctx, unsigned ms);
	void *delay_ctx;
	/* Cancellation (e.g. a daemon's SIGTERM flag): polled during transfers
	 * and waits; nonzero stops every unfinished object with KTA_ERR_IO
	 * "cancelled". NULL = never. */
	int (*cancel)(void *ctx);
	void *cancel_ctx;
};

/* Per-object details beyond the status. */
struct kta_fetch_info {
	long http_status;  /* status of the last HTTP response; 0 if none or file:// */
	int not_found;     /* 1: HTTP 404/410 or a file:// file that cannot be opened */
	unsigned attempts; /* requests made (1 + retries) */
	/* The Date header of the last HTTP response (RFC 9110 6.6.1, as parsed
	 * by curl_getdate), Unix seconds; 0 if there was none (file://, no
	 * response, no or unparseable header). The server's clock, untrusted:
	 * callers use it only to notice that the local clock is wrong. */
	int64_t date;
};

/* The result of one object of kta_fetch_many. */
struct kta_fetch_result {
	enum kta_status status; /* as for kta_fetch_get */
	struct kta_error err;   /* the message when status != KTA_OK */
	uint8_t *body;          /* malloc'd on success, else NULL; NUL follows */
	size_t len;
	struct kta_fetch_info info;
};

/* Fills *opts with the defaults above (schemes "https", no CA file). */
KTA_API void kta_fetch_opts_init(struct kta_fetch_opts *opts);

/*
 * Creates a fetcher. KTA_ERR_USAGE for an unknown scheme in opts->schemes
 * or an out-of-range option; KTA_ERR_INTERNAL when libcurl cannot be set
 * up (or lacks a requested scheme); KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_fetcher_new(const struct kta_fetch_opts *opts, struct kta_fetcher **out,
					struct kta_error *err) KTA_WUR;

/* Frees f and closes its connections; NULL does nothing. */
KTA_API void kta_fetcher_free(struct kta_fetcher *f);

/*
 * Fetches one object. On KTA_OK, *body (malloc'd, NUL-terminated beyond
 * *len) and *len are set; otherwise they are NULL and 0. info may be NULL;
 * when given it is filled on success and failure.
 */
KTA_API enum kta_status kta_fetch_get(struct kta_fetcher *f, const char *url, uint8_t **body,
				      size_t *len, struct kta_fetch_info *info,
				      struct kta_error *err) KTA_WUR;

/*
 * Fetches n objects in parallel over at most opts.max_connections
 * connections, retrying each on its own as above. results[i] (the caller's
 * array of n) receives the outcome of urls[i]; every entry is filled, on
 * success and failure (except when f, urls or results is NULL: then
 * KTA_ERR_USAGE and nothing is touched). n = 0 does nothing. Returns KTA_OK when every object was
 * fetched; otherwise the status of the first failed object (lowest i), with its message in err.
 * Free the bodies with kta_fetch_results_free.
 */
KTA_API enum kta_status kta_fetch_many(struct kta_fetcher *f, const char *const *urls, size_t n,
				       struct kta_fetch_result *results,
				       struct kta_error *err) KTA_WUR;

/* Frees the bodies in results[0..n) and sets them to NULL (n may be 0). */
KTA_API void kta_fetch_results_free(struct kta_fetch_result *results, size_t n);

#endif
