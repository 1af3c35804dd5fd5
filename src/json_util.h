/*
 * Internal: strict JSON helpers over jansson shared by every JSON parser
 * (proof files, lookup answers, evidence, CT responses).
 */
#ifndef KTA_JSON_UTIL_H
#define KTA_JSON_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

/*
 * Parses (buf, len) as exactly one JSON object, rejecting duplicate keys and
 * NUL bytes. `what` names the document in errors ("inclusion proof").
 * On success *out is a new reference the caller must json_decref.
 */
enum kta_status kta_json_load_object(const uint8_t *buf, size_t len, size_t max, const char *what,
				     json_t **out, struct kta_error *err);

/*
 * Fails with KTA_ERR_MALFORMED if obj has a member not named in `allowed`
 * (a NULL-terminated list).
 */
enum kta_status kta_json_only_keys(const json_t *obj, const char *const *allowed, const char *what,
				   struct kta_error *err);

/* Reads member `key` as a non-negative integer < 2^63. */
enum kta_status kta_json_get_u64(const json_t *obj, const char *key, const char *what,
				 uint64_t *out, struct kta_error *err);

/*
 * Reads member `key` as an array of canonical base64 32-byte hashes, at most
 * `max` of them. *out is malloc'd (caller frees; NULL when the array is empty).
 */
enum kta_status kta_json_get_hashes(const json_t *obj, const char *key, const char *what,
				    size_t max, uint8_t (**out)[32], size_t *n,
				    struct kta_error *err);

/*
 * Reads member `key` as a canonical base64 string and decodes it into a new
 * buffer of at most `max` bytes (caller frees).
 */
enum kta_status kta_json_get_b64(const json_t *obj, const char *key, const char *what, size_t max,
				 uint8_t **out, size_t *n, struct kta_error *err);

#endif
