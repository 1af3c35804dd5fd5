/* Strict JSON helpers over jansson. See json_util.h. */
#include "json_util.h"

#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"

enum kta_status kta_json_load_object(const uint8_t *buf, size_t len, size_t max, const char *what,
				     json_t **out, struct kta_error *err)
{
	json_error_t je;
	json_t *j;

	*out = NULL;
	if (len > max)
		return kta_error_set(err, KTA_ERR_LIMIT, "%s: %zu bytes, over the limit of %zu",
				     what, len, max);
	/* JSON_REJECT_DUPLICATES: one spelling only; NULs are refused by default. */
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "%s: invalid JSON at line %d column %d: %s", what, je.line,
				     je.column, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: not a JSON object", what);
	}
	*out = j;
	return KTA_OK;
}

enum kta_status kta_json_only_keys(const json_t *obj, const char *const *allowed, const char *what,
				   struct kta_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i;
		int found = 0;

		(void)v;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				found = 1;
		if (!found) {
			char q[4 * 40 + 4];

			return kta_error_set(err, KTA_ERR_MALFORMED, "%s: unknown member \"%s\"",
					     what,
					     kta_quote((const uint8_t *)key, strlen(key), 40, q));
		}
	}
	return KTA_OK;
}

enum kta_status kta_json_get_u64(const json_t *obj, const char *key, const char *what,
				 uint64_t *out, struct kta_error *err)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	*out = 0;
	if (v == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: missing \"%s\"", what, key);
	if (!json_is_integer(v))
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: \"%s\" is not an integer", what,
				     key);
	i = json_integer_value(v);
	if (i < 0)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: \"%s\" is negative", what, key);
	*out = (uint64_t)i;
	return KTA_OK;
}

enum kta_status kta_json_get_hashes(const json_t *obj, const char *key, const char *what,
				    size_t max, uint8_t (**out)[32], size_t *n,
				    struct kta_error *err)
{
	json_t *arr = json_object_get(obj, key), *v;
	uint8_t(*h)[32] = NULL;
	size_t i, cnt;

	*out = NULL;
	*n = 0;
	if (arr == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: missing \"%s\"", what, key);
	if (!json_is_array(arr))
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: \"%s\" is not an array", what,
				     key);
	cnt = json_array_size(arr);
	if (cnt > max)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "%s: \"%s\" has %zu hashes, more than the %zu any tree needs",
				     what, key, cnt, max);
	if (cnt == 0)
		return KTA_OK;
	if ((h = calloc(cnt, sizeof(*h))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", what);
	json_array_foreach(arr, i, v)
	{
		size_t got;
		const char *s;

		if (!json_is_string(v)) {
			free(h);
			return kta_error_set(err, KTA_ERR_MALFORMED,
					     "%s: \"%s\"[%zu] is not a string", what, key, i);
		}
		s = json_string_value(v);
		if (kta_b64_decode(s, json_string_length(v), h[i], 32, &got) != KTA_OK ||
		    got != 32) {
			char q[4 * 48 + 4];

			free(h);
			return kta_error_set(
			    err, KTA_ERR_MALFORMED,
			    "%s: \"%s\"[%zu] \"%s\" is not a 32-byte hash in canonical base64",
			    what, key, i,
			    kta_quote((const uint8_t *)s, json_string_length(v), 48, q));
		}
	}
	*out = h;
	*n = cnt;
	return KTA_OK;
}

enum kta_status kta_json_get_b64(const json_t *obj, const char *key, const char *what, size_t max,
				 uint8_t **out, size_t *n, struct kta_error *err)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t slen;
	uint8_t *b;
	enum kta_status r;

	*out = NULL;
	*n = 0;
	if (v == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: missing \"%s\"", what, key);
	if (!json_is_string(v))
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: \"%s\" is not a string", what,
				     key);
	s = json_string_value(v);
	slen = json_string_length(v);
	if (slen / 4 * 3 > max + 2)
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "%s: \"%s\" is over the limit of %zu bytes", what, key, max);
	if ((b = malloc(slen / 4 * 3 + 1)) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", what);
	r = kta_b64_decode(s, slen, b, slen / 4 * 3 + 1, n);
	if (r != KTA_OK) {
		free(b);
		return kta_error_set(err, KTA_ERR_MALFORMED, "%s: \"%s\" is not canonical base64",
				     what, key);
	}
	if (*n > max) {
		free(b);
		*n = 0;
		return kta_error_set(err, KTA_ERR_LIMIT,
				     "%s: \"%s\" is over the limit of %zu bytes", what, key, max);
	}
	*out = b;
	return KTA_OK;
}
