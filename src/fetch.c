/* Fetching over libcurl with limits, retries and a scheme policy; file://
 * objects are read directly. See ktaudit/fetch.h. */
#include "ktaudit/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ktaudit/encoding.h"

#ifndef KTA_VERSION_STRING
#define KTA_VERSION_STRING "unknown"
#endif

#define SCHEME_HTTPS 1u
#define SCHEME_HTTP 2u
#define SCHEME_FILE 4u

/* Longest URL prefix quoted in messages; the buffer holds its kta_quote form. */
#define URL_QUOTE_MAX 160
#define URL_QUOTE_BUF (4 * URL_QUOTE_MAX + 4)
/* Longest slice of a wait between cancellation checks. */
#define WAIT_SLICE_MS 100
/* Keeps retry_after_max_s * 1000 and every wait inside an unsigned. */
#define RETRY_AFTER_MAX_S 86400u
/* Longest file path prefix quoted in messages. */
#define PATH_QUOTE_MAX 120

struct kta_fetcher {
	struct kta_fetch_opts o; /* o.schemes/ca_file/user_agent are not used */
	char *ca_file;           /* owned copy, or NULL */
	char *user_agent;        /* owned copy */
	char *proxy;             /* owned copy, or NULL */
	char protocols[32];      /* for CURLOPT_PROTOCOLS_STR */
	unsigned schemes;        /* SCHEME_* bits allowed */
	CURLM *multi;            /* owns the connection cache, kept across calls */
	CURLSH *share;           /* TLS session cache */
	CURL **pool;             /* idle easy handles, at most o.max_connections */
	size_t pool_len;
	uint64_t rng; /* xorshift64 state for jitter (not security-relevant) */
	int curl_inited;
};

enum xfer_state { X_PENDING, X_RUNNING, X_WAITING, X_DONE };

/* One object being fetched. */
struct xfer {
	struct kta_fetcher *f;
	const char *url;
	struct kta_fetch_result *res;
	enum xfer_state state;
	CURL *easy;        /* while X_RUNNING */
	uint64_t ready_at; /* monotonic ms, while X_WAITING */
	unsigned scheme;   /* SCHEME_* of url */
	const char *scheme_name;
	uint8_t *buf; /* body of the current attempt; cap bytes */
	size_t len, cap;
	int too_big, nomem, cancelled;
	int64_t date; /* Date header of the current attempt's last response, or 0 */
	char *path;   /* file:// only: the decoded path (curl_free) */
	char errbuf[CURL_ERROR_SIZE];
	char qurl[URL_QUOTE_BUF];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000u);
	ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t rng_next(struct kta_fetcher *f)
{
	uint64_t x = f->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	f->rng = x;
	return x;
}

static int is_cancelled(const struct kta_fetcher *f)
{
	return f->o.cancel != NULL && f->o.cancel(f->o.cancel_ctx) != 0;
}

void kta_fetch_opts_init(struct kta_fetch_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->schemes = "https";
	opts->max_size = KTA_FETCH_DEFAULT_MAX_SIZE;
	opts->connect_timeout_ms = KTA_FETCH_DEFAULT_CONNECT_TIMEOUT_MS;
	opts->timeout_ms = KTA_FETCH_DEFAULT_TIMEOUT_MS;
	opts->low_speed_limit = KTA_FETCH_DEFAULT_LOW_SPEED_LIMIT;
	opts->low_speed_time_s = KTA_FETCH_DEFAULT_LOW_SPEED_TIME_S;
	opts->max_retries = KTA_FETCH_DEFAULT_MAX_RETRIES;
	opts->backoff_base_ms = KTA_FETCH_DEFAULT_BACKOFF_BASE_MS;
	opts->backoff_max_ms = KTA_FETCH_DEFAULT_BACKOFF_MAX_MS;
	opts->retry_after_max_s = KTA_FETCH_DEFAULT_RETRY_AFTER_MAX_S;
	opts->max_connections = KTA_FETCH_DEFAULT_MAX_CONNECTIONS;
	opts->max_redirects = KTA_FETCH_DEFAULT_MAX_REDIRECTS;
}

/* Maps a scheme name (exact, lowercase) to its bit, 0 if unknown. */
static unsigned scheme_bit(const char *s, size_t n)
{
	if (n == 5 && memcmp(s, "https", 5) == 0)
		return SCHEME_HTTPS;
	if (n == 4 && memcmp(s, "http", 4) == 0)
		return SCHEME_HTTP;
	if (n == 4 && memcmp(s, "file", 4) == 0)
		return SCHEME_FILE;
	return 0;
}

static const char *scheme_name(unsigned bit)
{
	return bit == SCHEME_HTTPS ? "https" : bit == SCHEME_HTTP ? "http" : "file";
}

/* Parses opts.schemes into bits; rejects unknown, empty and duplicate names. */
static enum kta_status parse_schemes(const char *list, unsigned *out, struct kta_error *err)
{
	char q[4 * 40 + 4], qn[4 * 40 + 4];
	const char *p = list;
	unsigned bits = 0;

	for (;;) {
		const char *e = strchr(p, ',');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		unsigned b = scheme_bit(p, n);

		if (b == 0 || (bits & b) != 0)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "fetch schemes \"%s\": \"%s\" is not one of https, "
					     "http, file (or is repeated)",
					     kta_quote((const uint8_t *)list, strlen(list), 40, q),
					     kta_quote((const uint8_t *)p, n, 40, qn));
		bits |= b;
		if (e == NULL)
			break;
		p = e + 1;
	}
	*out = bits;
	return KTA_OK;
}

/* 1 if the running libcurl offers protocol `name`. */
static int curl_has_protocol(const char *name)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	const char *const *p;

	if (vi == NULL || vi->protocols == NULL)
		return 0;
	for (p = vi->protocols; *p != NULL; p++)
		if (strcmp(*p, name) == 0)
			return 1;
	return 0;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

enum kta_status kta_fetcher_new(const struct kta_fetch_opts *opts, struct kta_fetcher **out,
				struct kta_error *err)
{
	struct kta_fetcher *f = NULL;
	enum kta_status r = KTA_ERR_INTERNAL;
	unsigned bits = 0, b;
	const char *ua;

	*out = NULL;
	r = parse_schemes(opts->schemes != NULL ? opts->schemes : "https", &bits, err);
	if (r != KTA_OK)
		goto out;
	r = KTA_ERR_USAGE;
	if (opts->max_size == 0 || opts->max_size >= SIZE_MAX / 2) {
		kta_error_set(err, r, "fetch: max_size %zu is out of range", opts->max_size);
		goto out;
	}
	if (opts->connect_timeout_ms < 1 || opts->timeout_ms < 1 || opts->low_speed_limit < 0 ||
	    opts->low_speed_time_s < 0 ||
	    (opts->low_speed_limit > 0 && opts->low_speed_time_s < 1)) {
		kta_error_set(err, r,
			      "fetch: timeouts must be >= 1 ms and low-speed settings >= 0");
		goto out;
	}
	if (opts->max_connections < 1 || opts->max_connections > KTA_FETCH_MAX_CONNECTIONS ||
	    opts->max_redirects > KTA_FETCH_MAX_REDIRECTS ||
	    opts->retry_after_max_s > RETRY_AFTER_MAX_S) {
		kta_error_set(err, r,
			      "fetch: max_connections must be 1..%u, max_redirects 0..%u, "
			      "retry_after_max_s at most %u",
			      KTA_FETCH_MAX_CONNECTIONS, KTA_FETCH_MAX_REDIRECTS,
			      RETRY_AFTER_MAX_S);
		goto out;
	}
	r = KTA_ERR_NOMEM;
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		kta_error_set(err, r, "fetch: out of memory");
		goto out;
	}
	f->o = *opts;
	f->o.schemes = NULL;
	f->o.ca_file = NULL;
	f->o.user_agent = NULL;
	f->o.proxy = NULL;
	f->schemes = bits;
	ua = opts->user_agent != NULL ? opts->user_agent : "ktaudit/" KTA_VERSION_STRING;
	f->user_agent = dup_str(ua);
	f->pool = calloc(opts->max_connections, sizeof(*f->pool));
	if (f->user_agent == NULL || f->pool == NULL ||
	    (opts->ca_file != NULL && (f->ca_file = dup_str(opts->ca_file)) == NULL) ||
	    (opts->proxy != NULL && (f->proxy = dup_str(opts->proxy)) == NULL)) {
		kta_error_set(err, r, "fetch: out of memory");
		goto out;
	}
	for (b = SCHEME_HTTPS; b <= SCHEME_FILE; b <<= 1) {
		if ((bits & b) == 0)
			continue;
		size_t used = strlen(f->protocols);

		(void)snprintf(f->protocols + used, sizeof(f->protocols) - used, "%s%s",
			       used > 0 ? "," : "", scheme_name(b));
	}
	f->rng =
	    opts->jitter_seed != 0 ? opts->jitter_seed : (mono_ms() ^ (uint64_t)(uintptr_t)f) | 1u;

	r = KTA_ERR_INTERNAL;
	/* Reference-counted and thread-safe in libcurl >= 7.84. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		kta_error_set(err, r, "fetch: curl_global_init failed");
		goto out;
	}
	f->curl_inited = 1;
	for (b = SCHEME_HTTPS; b <= SCHEME_FILE; b <<= 1) {
		if ((bits & b) != 0 && !curl_has_protocol(scheme_name(b))) {
			kta_error_set(err, r, "fetch: this libcurl does not support %s://",
				      scheme_name(b));
			goto out;
		}
	}
	f->multi = curl_multi_init();
	f->share = curl_share_init();
	if (f->multi == NULL || f->share == NULL ||
	    curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			      (long)opts->max_connections) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)opts->max_connections) !=
		CURLM_OK ||
	    curl_share_setopt(f->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
		CURLSHE_OK) {
		kta_error_set(err, r, "fetch: cannot set up libcurl multi/share handles");
		goto out;
	}
	*out = f;
	f = NULL;
	r = KTA_OK;
out:
	kta_fetcher_free(f);
	return r;
}

void kta_fetcher_free(struct kta_fetcher *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->pool_len; i++)
		curl_easy_cleanup(f->pool[i]);
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi);
	if (f->share != NULL)
		curl_share_cleanup(f->share);
	if (f->curl_inited)
		curl_global_cleanup();
	free(f->pool);
	free(f->ca_file);
	free(f->user_agent);
	free(f->proxy);
	free(f);
}

/* Sets the final outcome of x (status and message) and marks it done. */
static void finish_with(struct xfer *x, enum kta_status status, const char *fmt, ...)
    KTA_PRINTF(3, 4);

static void finish_with(struct xfer *x, enum kta_status status, const char *fmt, ...)
{
	char msg[KTA_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->res->status = status;
	if (status != KTA_OK)
		kta_error_set(&x->res->err, status, "fetch \"%s\": %s", x->qurl, msg);
	x->state = X_DONE;
}

/* libcurl write callback: appends to x->buf, refusing to pass max_size. */
static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb, max = x->f->o.max_size;

	/* size is always 1 for body data (CURLOPT_WRITEFUNCTION). */
	if (size != 1 || n > max || x->len > max - n) {
		x->too_big = 1;
		return 0; /* short write: libcurl aborts with CURLE_WRITE_ERROR */
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap < 4096 ? 4096 : x->cap;
		uint8_t *nb;

		while (cap < x->len + n + 1)
			cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
		nb = realloc(x->buf, cap);
		if (nb == NULL) {
			x->nomem = 1;
			return 0;
		}
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, ptr, n);
	x->len += n;
	return n;
}

/* Longest Date header value considered (an IMF-fixdate is 29 bytes). */
#define DATE_HEADER_MAX 64

/* libcurl header callback: keeps the Date of the latest response (redirects
 * and retries included, so the last one wins). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	static const char name[] = "date:";
	struct xfer *x = userdata;
	size_t n = size * nitems, i, k;
	char v[DATE_HEADER_MAX + 1];
	time_t t;

	if (n <= sizeof(name) - 1)
		return n;
	for (i = 0; i < sizeof(name) - 1; i++) {
		char c = buf[i] >= 'A' && buf[i] <= 'Z' ? (char)(buf[i] - 'A' + 'a') : buf[i];

		if (c != name[i]) /* field names are case-insensitive (RFC 9110 5.1) */
			return n;
	}
	while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	for (k = 0; i < n && k < DATE_HEADER_MAX && buf[i] != '\r' && buf[i] != '\n'; i++)
		v[k++] = buf[i];
	v[k] = '\0';
	t = curl_getdate(v, NULL);
	x->date = t > 0 ? (int64_t)t : 0;
	return n;
}

/* libcurl progress callback: cancellation, and the size cap as a backstop. */
static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = clientp;

	(void)dltotal;
	(void)ultotal;
	(void)ulnow;
	if (is_cancelled(x->f)) {
		x->cancelled = 1;
		return 1;
	}
	if (dlnow > 0 && (uint64_t)dlnow > (uint64_t)x->f->o.max_size) {
		x->too_big = 1;
		return 1;
	}
	return 0;
}

static CURL *easy_get(struct kta_fetcher *f)
{
	if (f->pool_len > 0)
		return f->pool[--f->pool_len];
	return curl_easy_init();
}

static void easy_put(struct kta_fetcher *f, CURL *e)
{
	if (e == NULL)
		return;
	if (f->pool_len < f->o.max_connections)
		f->pool[f->pool_len++] = e;
	else
		curl_easy_cleanup(e);
}

/* Sets every option of one attempt; returns the first failing CURLcode. */
static CURLcode configure(struct xfer *x, CURL *e)
{
	const struct kta_fetcher *f = x->f;
	CURLcode c = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(e, opt, val);                                         \
	} while (0)
	SET(CURLOPT_URL, x->url);
	SET(CURLOPT_PRIVATE, (void *)x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_SHARE, f->share);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, (void *)x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, (void *)x);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, (void *)x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_PROTOCOLS_STR, f->protocols);
	/* Redirects stay on the original scheme: no http -> file, no https -> http. */
	SET(CURLOPT_REDIR_PROTOCOLS_STR, x->scheme_name);
	SET(CURLOPT_FOLLOWLOCATION, f->o.max_redirects > 0 ? 1L : 0L);
	SET(CURLOPT_MAXREDIRS, (long)f->o.max_redirects);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->ca_file != NULL) {
		/* The CA file replaces the trust store rather than adding to it. */
		SET(CURLOPT_CAINFO, f->ca_file);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (f->proxy != NULL) {
		/* This fetcher's own proxy, over any *_proxy environment
		 * variable; "" in no_proxy so loopback goes through it too. */
		SET(CURLOPT_PROXY, f->proxy);
		SET(CURLOPT_NOPROXY, "");
	}
	SET(CURLOPT_USERAGENT, f->user_agent);
	SET(CURLOPT_CONNECTTIMEOUT_MS, f->o.connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, f->o.timeout_ms);
	if (f->o.low_speed_limit > 0) {
		SET(CURLOPT_LOW_SPEED_LIMIT, f->o.low_speed_limit);
		SET(CURLOPT_LOW_SPEED_TIME, f->o.low_speed_time_s);
	}
	/* Fails early on a declared Content-Length; on_write covers the rest. */
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->o.max_size);
	/* tlog-tiles "Log entries": clients SHOULD accept gzip. */
	SET(CURLOPT_ACCEPT_ENCODING, "");
#undef SET
	return c;
}

/* Starts one attempt of x; on failure x is finished. Returns 1 if running. */
static int start(struct xfer *x)
{
	struct kta_fetcher *f = x->f;
	CURL *e = easy_get(f);
	CURLcode c;

	if (e == NULL) {
		finish_with(x, KTA_ERR_NOMEM, "cannot create a libcurl handle");
		return 0;
	}
	curl_easy_reset(e);
	x->len = 0;
	x->too_big = x->nomem = x->cancelled = 0;
	x->date = 0;
	x->errbuf[0] = '\0';
	c = configure(x, e);
	if (c != CURLE_OK) {
		easy_put(f, e);
		finish_with(x, KTA_ERR_INTERNAL, "cannot configure libcurl: %s",
			    curl_easy_strerror(c));
		return 0;
	}
	if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
		easy_put(f, e);
		finish_with(x, KTA_ERR_INTERNAL, "cannot add a libcurl transfer");
		return 0;
	}
	x->easy = e;
	x->state = X_RUNNING;
	return 1;
}

/* Detaches x's easy handle from the multi handle and returns it to the pool. */
static void detach(struct xfer *x)
{
	if (x->easy == NULL)
		return;
	(void)curl_multi_remove_handle(x->f->multi, x->easy);
	easy_put(x->f, x->easy);
	x->easy = NULL;
}

static int transient_status(long code)
{
	return code == 408 || code == 429 || code == 500 || code == 502 || code == 503 ||
	       code == 504;
}

static int transient_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* The wait before the next attempt after `failures` failed ones. */
static unsigned retry_wait_ms(struct kta_fetcher *f, unsigned failures, curl_off_t retry_after)
{
	unsigned ms, d, half, i;

	if (retry_after > 0) {
		/* RFC 9110 10.2.3, capped: a hostile server must not stall us. */
		curl_off_t s = retry_after;

		if (s > (curl_off_t)f->o.retry_after_max_s)
			s = (curl_off_t)f->o.retry_after_max_s;
		ms = (unsigned)s * 1000u;
	} else {
		d = f->o.backoff_base_ms;
		for (i = 1; i < failures && d < f->o.backoff_max_ms; i++)
			d = d > f->o.backoff_max_ms / 2 ? f->o.backoff_max_ms : d * 2;
		if (d > f->o.backoff_max_ms)
			d = f->o.backoff_max_ms;
		half = d / 2;
		ms = d - half + (unsigned)(rng_next(f) % ((uint64_t)half + 1));
	}
	if (f->o.delay_hook != NULL)
		ms = f->o.delay_hook(f->o.delay_ctx, ms);
	return ms;
}

/* Hands the body of a successful attempt to the result. */
static void succeed(struct xfer *x)
{
	if (x->buf == NULL) {
		x->buf = malloc(1);
		if (x->buf == NULL) {
			finish_with(x, KTA_ERR_NOMEM, "out of memory");
			return;
		}
		x->cap = 1;
	}
	x->buf[x->len] = '\0'; /* on_write keeps one spare byte */
	x->res->body = x->buf;
	x->res->len = x->len;
	x->buf = NULL;
	x->len = x->cap = 0;
	x->res->status = KTA_OK;
	kta_error_clear(&x->res->err);
	x->state = X_DONE;
}

/* 1 if a failed open(2) of a file:// path means "no such object": the
 * errors libcurl's CURLE_FILE_COULDNT_READ_FILE stood for, less running out
 * of descriptors or memory, which say nothing about the file. */
static int open_not_found(int e)
{
	return e == ENOENT || e == ENOTDIR || e == EACCES || e == EPERM || e == ELOOP ||
	       e == ENAMETOOLONG;
}

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "of an unknown type";
}

/*
 * Reads x->path into x->buf and finishes x (x->len bytes; x->cap the buffer
 * size, data and its NUL). An open error meaning "no such object" sets
 * info.not_found. The buffer has the file's size plus one byte, a single
 * allocation; that byte is also where growth after fstat shows, in which
 * case it grows up to max_size + 1 (the cap).
 */
static void read_file(struct xfer *x)
{
	const size_t max = x->f->o.max_size;
	char qp[4 * PATH_QUOTE_MAX + 4];
	enum kta_status r = KTA_ERR_IO;
	struct stat st;
	int fd, e, blocking = 0;

	(void)kta_quote((const uint8_t *)x->path, strlen(x->path), PATH_QUOTE_MAX, qp);
	/* Anything but a regular file is refused before open(2): opening some
	 * devices has side effects (a tape rewinds). fstat below checks what was
	 * actually opened, should the path change in between. */
	if (stat(x->path, &st) == 0 && !S_ISREG(st.st_mode)) {
		finish_with(x, r, "\"%s\" is not a regular file (%s)", qp, file_kind(st.st_mode));
		return;
	}
	/* O_NONBLOCK: a FIFO without a writer must not block in open(2). */
	do
		fd = open(x->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		e = errno;
		x->res->info.not_found = open_not_found(e);
		finish_with(x, r, "%s (open \"%s\": %s)",
			    x->res->info.not_found ? "file missing or unreadable"
						   : "cannot open file",
			    qp, strerror(e));
		return;
	}
	if (fstat(fd, &st) != 0) {
		finish_with(x, r, "cannot stat \"%s\": %s", qp, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		finish_with(x, r, "\"%s\" is not a regular file (%s)", qp, file_kind(st.st_mode));
		goto out;
	}
	r = KTA_ERR_LIMIT;
	if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max)
		goto out;
	x->cap = (size_t)st.st_size + 1;
	x->buf = malloc(x->cap);
	x->len = 0;
	r = KTA_ERR_NOMEM;
	if (x->buf == NULL)
		goto out;
	for (;;) {
		ssize_t n;

		if (x->len == x->cap) {
			uint8_t *nb;
			size_t cap;

			/* max_size + 1 bytes read: over the limit. */
			r = KTA_ERR_LIMIT;
			if (x->cap > max)
				goto out;
			/* It grew since fstat (a file being written). */
			cap = x->cap > (max + 1) / 2 ? max + 1 : x->cap * 2;
			r = KTA_ERR_NOMEM;
			if ((nb = realloc(x->buf, cap)) == NULL)
				goto out;
			x->buf = nb;
			x->cap = cap;
		}
		n = read(fd, x->buf + x->len, x->cap - x->len);
		if (n > 0) {
			x->len += (size_t)n;
			continue;
		}
		if (n == 0)
			break; /* end of file, possibly shorter than fstat said */
		e = errno;
		if (e == EINTR)
			continue;
		/* Regular files ignore O_NONBLOCK, but not every file system. */
		if (e == EAGAIN && !blocking) {
			int fl = fcntl(fd, F_GETFL);

			blocking = 1;
			if (fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0)
				continue;
		}
		r = KTA_ERR_IO;
		finish_with(x, r, "cannot read \"%s\": %s", qp, strerror(e));
		goto out;
	}
	r = KTA_OK;
out:
	(void)close(fd);
	if (r == KTA_OK) {
		succeed(x);
		return;
	}
	if (r == KTA_ERR_LIMIT)
		finish_with(x, r, "body exceeds the limit of %zu bytes", max);
	else if (r == KTA_ERR_NOMEM)
		finish_with(x, r, "out of memory");
	free(x->buf);
	x->buf = NULL;
	x->len = x->cap = 0;
}

/* Fetches a file:// object in place of a libcurl transfer: one attempt, no
 * retries, the outcomes libcurl's file:// gave (see fetch.h). */
static void fetch_file(struct xfer *x)
{
	/* Polled once per file, as libcurl's progress callback was. */
	if (is_cancelled(x->f)) {
		finish_with(x, KTA_ERR_IO, "cancelled");
		return;
	}
	x->res->info.attempts++;
	read_file(x);
}

/* Classifies a finished attempt: success, retry later, or final failure. */
static void attempt_done(struct xfer *x, CURLcode rc)
{
	struct kta_fetcher *f = x->f;
	struct kta_fetch_info *info = &x->res->info;
	char what[KTA_ERROR_MSG_MAX];
	curl_off_t retry_after = 0;
	enum kta_status st = KTA_ERR_IO;
	long code = 0;
	int transient = 0;

	(void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	info->http_status = x->scheme == SCHEME_FILE ? 0 : code;
	info->date = x->scheme == SCHEME_FILE ? 0 : x->date;
	info->attempts++;
	if (x->nomem) {
		detach(x);
		finish_with(x, KTA_ERR_NOMEM, "out of memory");
		return;
	}
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		detach(x);
		finish_with(x, KTA_ERR_LIMIT, "body exceeds the limit of %zu bytes", f->o.max_size);
		return;
	}
	if (x->cancelled) {
		detach(x);
		finish_with(x, KTA_ERR_IO, "cancelled");
		return;
	}
	if (rc == CURLE_OK) {
		if (x->scheme == SCHEME_FILE || code == 200) {
			detach(x);
			succeed(x);
			return;
		}
		(void)snprintf(what, sizeof(what), "HTTP %ld", code);
		if (code == 404 || code == 410) {
			info->not_found = 1;
			(void)snprintf(what, sizeof(what), "HTTP %ld (not found)", code);
		} else if (transient_status(code)) {
			transient = 1;
			if (code == 429 || code == 503)
				(void)curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER,
							&retry_after);
		}
	} else {
		const char *detail = x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(rc);
		long hops = 0;
		char *where = NULL;

		(void)curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_COUNT, &hops);
		(void)curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &where);
		if (rc == CURLE_UNSUPPORTED_PROTOCOL && hops > 0 && code / 100 == 3) {
			/* CURLOPT_REDIR_PROTOCOLS_STR refused the Location's scheme. */
			char q[4 * 80 + 4];

			(void)snprintf(what, sizeof(what),
				       "redirect to another scheme refused (to \"%s\"; only "
				       "%s:// may be followed)",
				       where != NULL
					   ? kta_quote((const uint8_t *)where, strlen(where), 80, q)
					   : "?",
				       x->scheme_name);
		} else if (rc == CURLE_FILE_COULDNT_READ_FILE) {
			info->not_found = 1;
			(void)snprintf(what, sizeof(what), "file missing or unreadable (%s)",
				       detail);
		} else {
			transient = transient_curl(rc);
			(void)snprintf(what, sizeof(what), "%s (curl error %d)", detail, (int)rc);
		}
	}
	detach(x);
	if (transient && info->attempts <= f->o.max_retries) {
		x->state = X_WAITING;
		x->ready_at = mono_ms() + retry_wait_ms(f, info->attempts, retry_after);
		/* Keep the message in case the next attempt is cancelled. */
		kta_error_set(&x->res->err, st, "fetch \"%s\": %s", x->qurl, what);
		return;
	}
	if (info->attempts > 1)
		finish_with(x, st, "%s, after %u attempts", what, info->attempts);
	else
		finish_with(x, st, "%s", what);
}

/*
 * Percent-decodes p in place as libcurl's file:// does (Curl_urldecode with
 * REJECT_ZERO): "%" and two hex digits is one byte, any other "%" is kept.
 * Returns 0 if a byte decodes to NUL, which would cut the path short.
 */
static int path_decode(char *p)
{
	char *o = p;

	for (; *p != '\0'; p++) {
		uint8_t byte;

		/* p[1] != NUL first: then p[2] is at most the terminator */
		if (*p == '%' && p[1] != '\0' && kta_hex_decode(p + 1, 2, &byte, 1) == KTA_OK) {
			if (byte == 0)
				return 0;
			*o++ = (char)byte;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return 1;
}

/* Checks x's URL against the allowed schemes before any I/O. */
static void prepare(struct xfer *x)
{
	char *scheme = NULL;
	CURLU *u = curl_url();
	unsigned b;

	(void)kta_quote((const uint8_t *)x->url, strlen(x->url), URL_QUOTE_MAX, x->qurl);
	x->res->status = KTA_ERR_INTERNAL;
	x->state = X_PENDING;
	if (u == NULL) {
		finish_with(x, KTA_ERR_NOMEM, "out of memory");
		return;
	}
	if (curl_url_set(u, CURLUPART_URL, x->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		finish_with(x, KTA_ERR_USAGE, "not a valid absolute URL");
		goto out;
	}
	b = scheme_bit(scheme, strlen(scheme));
	if (b == 0 || (x->f->schemes & b) == 0) {
		finish_with(x, KTA_ERR_USAGE, "scheme \"%.16s\" is not allowed (allowed: %s)",
			    scheme, x->f->protocols);
		goto out;
	}
	x->scheme = b;
	x->scheme_name = scheme_name(b);
	if (b == SCHEME_FILE) {
		/* The path libcurl's file:// would open: its own parser's (host
		 * only "", localhost or 127.0.0.1; dot segments removed; query
		 * and fragment dropped), then percent-decoded. */
		if (curl_url_get(u, CURLUPART_PATH, &x->path, 0) != CURLUE_OK) {
			finish_with(x, KTA_ERR_USAGE, "not a valid file URL");
			goto out;
		}
		if (!path_decode(x->path))
			finish_with(x, KTA_ERR_USAGE,
				    "file path contains an encoded NUL byte (%%00)");
	}
out:
	curl_free(scheme);
	curl_url_cleanup(u);
}

/* Cancels every unfinished transfer. */
static void cancel_all(struct xfer *xs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (xs[i].state == X_DONE)
			continue;
		detach(&xs[i]);
		finish_with(&xs[i], KTA_ERR_IO, "cancelled");
	}
}

/* Runs xs[0..n) to completion within the connection limit. */
static void run(struct kta_fetcher *f, struct xfer *xs, size_t n)
{
	size_t i, running = 0, done;
	uint64_t now, earliest;

	for (;;) {
		int still = 0, finished = 0;
		CURLMsg *msg;
		CURLMcode mc;
		int left;

		if (is_cancelled(f)) {
			cancel_all(xs, n);
			return;
		}
		now = mono_ms();
		done = 0;
		earliest = UINT64_MAX;
		for (i = 0; i < n; i++) {
			struct xfer *x = &xs[i];

			if (x->state == X_PENDING && x->scheme == SCHEME_FILE)
				fetch_file(x); /* no connection needed: read it now */
			else if (running < f->o.max_connections &&
				 (x->state == X_PENDING ||
				  (x->state == X_WAITING && x->ready_at <= now)))
				running += (size_t)start(x);
			if (x->state == X_DONE)
				done++;
			else if (x->state == X_WAITING && x->ready_at < earliest)
				earliest = x->ready_at;
		}
		if (done == n)
			return;
		if (running == 0) {
			/* Only waits remain: sleep in slices to notice cancellation. */
			uint64_t d = earliest > now ? earliest - now : 0;

			sleep_ms((unsigned)(d < WAIT_SLICE_MS ? d : WAIT_SLICE_MS));
			continue;
		}
		mc = curl_multi_perform(f->multi, &still);
		while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
			struct xfer *x;
			char *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			x = (struct xfer *)(void *)priv;
			if (x == NULL || x->easy != msg->easy_handle)
				continue;
			attempt_done(x, msg->data.result);
			running--;
			finished = 1;
		}
		if (mc != CURLM_OK) {
			for (i = 0; i < n; i++) {
				if (xs[i].state == X_DONE)
					continue;
				detach(&xs[i]);
				finish_with(&xs[i], KTA_ERR_INTERNAL, "libcurl multi error: %s",
					    curl_multi_strerror(mc));
			}
			return;
		}
		if (!finished) {
			uint64_t t = WAIT_SLICE_MS * 10;

			if (earliest != UINT64_MAX)
				t = earliest > now ? (earliest - now < t ? earliest - now : t) : 0;
			if (f->o.cancel != NULL && t > WAIT_SLICE_MS)
				t = WAIT_SLICE_MS;
			(void)curl_multi_poll(f->multi, NULL, 0, (int)t, NULL);
		}
	}
}

enum kta_status kta_fetch_many(struct kta_fetcher *f, const char *const *urls, size_t n,
			       struct kta_fetch_result *results, struct kta_error *err)
{
	struct xfer *xs = NULL;
	enum kta_status r = KTA_ERR_USAGE;
	size_t i;

	if (n == 0)
		return KTA_OK;
	if (f == NULL || urls == NULL || results == NULL)
		return kta_error_set(err, r, "fetch: no fetcher, URLs or result array");
	for (i = 0; i < n; i++) {
		memset(&results[i], 0, sizeof(results[i]));
		results[i].status = KTA_ERR_INTERNAL;
	}
	r = KTA_ERR_NOMEM;
	xs = calloc(n, sizeof(*xs));
	if (xs == NULL) {
		for (i = 0; i < n; i++)
			kta_error_set(&results[i].err, r, "fetch: out of memory");
		kta_error_set(err, r, "fetch: out of memory for %zu transfers", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		xs[i].f = f;
		xs[i].url = urls[i] != NULL ? urls[i] : "";
		xs[i].res = &results[i];
		prepare(&xs[i]);
	}
	run(f, xs, n);
	r = KTA_OK;
	for (i = 0; i < n; i++) {
		if (results[i].status != KTA_OK) {
			r = results[i].status;
			if (err != NULL)
				*err = results[i].err;
			break;
		}
	}
out:
	if (xs != NULL) {
		for (i = 0; i < n; i++) {
			free(xs[i].buf);
			curl_free(xs[i].path);
		}
		free(xs);
	}
	return r;
}

enum kta_status kta_fetch_get(struct kta_fetcher *f, const char *url, uint8_t **body, size_t *len,
			      struct kta_fetch_info *info, struct kta_error *err)
{
	struct kta_fetch_result res;
	enum kta_status r;

	memset(&res, 0, sizeof(res));
	*body = NULL;
	*len = 0;
	r = kta_fetch_many(f, &url, 1, &res, err);
	if (info != NULL)
		*info = res.info;
	if (r == KTA_OK) {
		*body = res.body;
		*len = res.len;
	}
	return r;
}

void kta_fetch_results_free(struct kta_fetch_result *results, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(results[i].body);
		results[i].body = NULL;
		results[i].len = 0;
	}
}
