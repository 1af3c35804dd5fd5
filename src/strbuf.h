/*
 * Internal: a growable NUL-terminated text buffer with a hard size cap
 * (house style: every growable buffer is capped when created). Errors are
 * sticky: after an allocation failure or the cap, further appends do
 * nothing and `failed` stays set, so a writer appends freely and checks once.
 *
 * Ownership: b is malloc'd and owned by the buffer until the caller takes it
 * (set b to NULL) or frees it with free(b).
 */
#ifndef KTA_STRBUF_H
#define KTA_STRBUF_H

#include <stddef.h>

#include "ktaudit/error.h"

struct kta_strbuf {
	char *b;    /* NUL-terminated text, or NULL while empty */
	size_t len; /* bytes in b, without the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* most bytes of text ever held */
	int failed; /* sticky: allocation failed or max was exceeded */
};

/* An empty buffer that may hold at most max bytes of text. */
void kta_strbuf_init(struct kta_strbuf *o, size_t max);
/* Appends n bytes of s. */
void kta_strbuf_add(struct kta_strbuf *o, const char *s, size_t n);
/* Appends the NUL-terminated s. */
void kta_strbuf_str(struct kta_strbuf *o, const char *s);
/* Appends printf-formatted text (at most 1 KiB per call; longer fails). */
void kta_strbuf_printf(struct kta_strbuf *o, const char *fmt, ...) KTA_PRINTF(2, 3);

#endif
