/* A capped, growable text buffer. See strbuf.h. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kta_strbuf_init(struct kta_strbuf *o, size_t max)
{
	memset(o, 0, sizeof(*o));
	o->max = max;
}

void kta_strbuf_add(struct kta_strbuf *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (n > o->max - o->len) {
		o->failed = 1;
		return;
	}
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		char *nb;

		while (cap < o->len + n + 1)
			cap *= 2;
		if ((nb = realloc(o->b, cap)) == NULL) {
			o->failed = 1;
			return;
		}
		o->b = nb;
		o->cap = cap;
	}
	memcpy(o->b + o->len, s, n);
	o->len += n;
	o->b[o->len] = '\0';
}

void kta_strbuf_str(struct kta_strbuf *o, const char *s)
{
	kta_strbuf_add(o, s, strlen(s));
}

void kta_strbuf_printf(struct kta_strbuf *o, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		o->failed = 1;
		return;
	}
	kta_strbuf_add(o, buf, (size_t)n);
}
