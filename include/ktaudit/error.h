/*
 * ktaudit: status codes and error messages.
 *
 * Every fallible library function returns an enum kta_status and, when given
 * a non-NULL struct kta_error *, fills it with a one-line message naming what
 * failed and where (file, line, field, offset). The caller owns the struct
 * (usually on its stack); nothing in it is heap-allocated.
 *
 * The codes keep "malformed", "does not verify" and "could not finish" apart
 * because they map to different exit codes (DESIGN.md, "Exit codes"):
 *   KTA_ERR_VERIFY                      -> 1
 *   KTA_ERR_MALFORMED, _LIMIT, _USAGE   -> 2
 *   KTA_ERR_IO, _NOMEM, _INTERNAL       -> 3
 */
#ifndef KTAUDIT_ERROR_H
#define KTAUDIT_ERROR_H

#include <stddef.h>

#if defined(KTA_BUILDING_LIBRARY)
#define KTA_API __attribute__((visibility("default")))
#else
#define KTA_API
#endif
#define KTA_WUR __attribute__((warn_unused_result))
#define KTA_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum kta_status {
	KTA_OK = 0,
	KTA_ERR_VERIFY,    /* well-formed, but a proof/signature/policy check failed */
	KTA_ERR_MALFORMED, /* input does not parse */
	KTA_ERR_LIMIT,     /* input exceeds a size or count limit */
	KTA_ERR_USAGE,     /* the caller passed an invalid combination of arguments */
	KTA_ERR_IO,        /* file, network or database failure: result unknown */
	KTA_ERR_NOMEM,     /* allocation failed */
	KTA_ERR_INTERNAL,  /* a library (OpenSSL, libcurl, ...) failed unexpectedly */
};

#define KTA_ERROR_MSG_MAX 512

struct kta_error {
	enum kta_status status;      /* the status the message belongs to */
	char msg[KTA_ERROR_MSG_MAX]; /* NUL-terminated, never NULL; "" when unset */
};

/* Clears err (may be NULL). */
KTA_API void kta_error_clear(struct kta_error *err);

/*
 * Sets err's message with printf-style formatting and returns status, so
 * that a failure reads `return kta_error_set(err, KTA_ERR_MALFORMED, ...)`.
 * err may be NULL. Truncates silently at KTA_ERROR_MSG_MAX - 1 bytes.
 */
KTA_API enum kta_status kta_error_set(struct kta_error *err, enum kta_status status,
				      const char *fmt, ...) KTA_PRINTF(3, 4);
#if defined(__clang_analyzer__) && !defined(KTA_ERROR_C)
/* The static analyzer sees one file at a time and cannot know that
 * kta_error_set returns its status argument; without this it follows
 * "failed, yet returned KTA_OK" paths that cannot happen. Not used in builds. */
#define kta_error_set(err, status, ...) (kta_error_set((err), (status), __VA_ARGS__), (status))
#endif

/*
 * Prepends "PREFIX: " to err's current message (used to add the file name or
 * field to an error found deeper down). Returns err's status; err may be NULL
 * (then returns KTA_ERR_INTERNAL).
 */
KTA_API enum kta_status kta_error_prefix(struct kta_error *err, const char *fmt, ...)
    KTA_PRINTF(2, 3);

/*
 * Like kta_error_prefix, but returns `status` (the status of the call that
 * failed), so that `return kta_error_wrap(err, r, "field")` keeps the right
 * status even when err is NULL.
 */
KTA_API enum kta_status kta_error_wrap(struct kta_error *err, enum kta_status status,
				       const char *fmt, ...) KTA_PRINTF(3, 4);
#if defined(__clang_analyzer__) && !defined(KTA_ERROR_C)
#define kta_error_wrap(err, status, ...) (kta_error_wrap((err), (status), __VA_ARGS__), (status))
#endif

/* A short constant name for a status ("malformed input", ...). */
KTA_API const char *kta_status_str(enum kta_status status);

/* The process exit code for a status: 0, 1, 2 or 3 (see above). */
KTA_API int kta_status_exit_code(enum kta_status status);

#endif
