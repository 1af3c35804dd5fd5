/*
 * ktaudit: the library's version and the versions of the libraries it runs
 * with (for `ktaudit --version` and bug reports).
 *
 * Ownership: every string returned is static storage owned by ktaudit or by
 * the library it names; the caller never frees them.
 */
#ifndef KTAUDIT_VERSION_H
#define KTAUDIT_VERSION_H

#include "ktaudit/error.h"

/* Runtime versions: what the process is linked with, not what it was built against. */
struct kta_versions {
	const char *ktaudit;  /* "0.1.0" */
	const char *openssl;  /* OpenSSL_version(OPENSSL_VERSION): "OpenSSL 3.0.x 1 Jan 2026" */
	const char *curl;     /* curl_version_info()->version: "7.88.1" */
	const char *curl_ssl; /* the TLS backend libcurl uses, or "" */
	const char *jansson;  /* jansson_version_str(): "2.14" */
	const char *sqlite;   /* sqlite3_libversion(): "3.40.1" */
};

/* The library's version string (the CMake project version). */
KTA_API const char *kta_version(void);

/* Fills out with the runtime versions; never fails. */
KTA_API void kta_versions_get(struct kta_versions *out);

#endif
