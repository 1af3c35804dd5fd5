/* Status codes and error messages; see include/ktaudit/error.h. */
#define KTA_ERROR_C /* defines kta_error_set: no analyzer macro here */
#include "ktaudit/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void kta_error_clear(struct kta_error *err)
{
	if (err == NULL)
		return;
	err->status = KTA_OK;
	err->msg[0] = '\0';
}

enum kta_status kta_error_set(struct kta_error *err, enum kta_status status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return status;
	err->status = status;
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return status;
}

/* Prepends the formatted prefix and ": " to err's message (err not NULL). */
static void vprefix(struct kta_error *err, const char *fmt, va_list ap) KTA_PRINTF(2, 0);

static void vprefix(struct kta_error *err, const char *fmt, va_list ap)
{
	char prefix[KTA_ERROR_MSG_MAX];
	char old[KTA_ERROR_MSG_MAX];
	size_t n, m, cap = sizeof(err->msg) - 1;

	(void)vsnprintf(prefix, sizeof(prefix), fmt, ap);
	memcpy(old, err->msg, sizeof(old));
	/* Build "prefix: old" by hand: truncation is intended and harmless. */
	n = strlen(prefix);
	m = strlen(old);
	if (n > cap)
		n = cap;
	memcpy(err->msg, prefix, n);
	if (m > 0 && n + 2 <= cap) {
		memcpy(err->msg + n, ": ", 2);
		n += 2;
		if (m > cap - n)
			m = cap - n;
		memcpy(err->msg + n, old, m);
		n += m;
	}
	err->msg[n] = '\0';
}

enum kta_status kta_error_prefix(struct kta_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return KTA_ERR_INTERNAL;
	va_start(ap, fmt);
	vprefix(err, fmt, ap);
	va_end(ap);
	return err->status;
}

enum kta_status kta_error_wrap(struct kta_error *err, enum kta_status status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return status;
	va_start(ap, fmt);
	vprefix(err, fmt, ap);
	va_end(ap);
	return status;
}

const char *kta_status_str(enum kta_status status)
{
	switch (status) {
	case KTA_OK:
		return "ok";
	case KTA_ERR_VERIFY:
		return "verification failed";
	case KTA_ERR_MALFORMED:
		return "malformed input";
	case KTA_ERR_LIMIT:
		return "limit exceeded";
	case KTA_ERR_USAGE:
		return "usage error";
	case KTA_ERR_IO:
		return "I/O error";
	case KTA_ERR_NOMEM:
		return "out of memory";
	case KTA_ERR_INTERNAL:
		return "internal error";
	}
	return "unknown status";
}

int kta_status_exit_code(enum kta_status status)
{
	switch (status) {
	case KTA_OK:
		return 0;
	case KTA_ERR_VERIFY:
		return 1;
	case KTA_ERR_MALFORMED:
	case KTA_ERR_LIMIT:
	case KTA_ERR_USAGE:
		return 2;
	case KTA_ERR_IO:
	case KTA_ERR_NOMEM:
	case KTA_ERR_INTERNAL:
		return 3;
	}
	return 3;
}
