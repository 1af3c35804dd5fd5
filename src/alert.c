/* Alerts: kinds, severities, deterministic ids, JSON form. See ktaudit/alert.h. */
#include "ktaudit/alert.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ktaudit/encoding.h"

static const struct {
	enum kta_alert_kind kind;
	enum kta_severity sev;
	const char *name;
} kinds[] = {
    {KTA_ALERT_FORK, KTA_SEV_CRITICAL, "fork"},
    {KTA_ALERT_ROLLBACK, KTA_SEV_CRITICAL, "rollback"},
    {KTA_ALERT_ROOT_MISMATCH, KTA_SEV_CRITICAL, "root_mismatch"},
    {KTA_ALERT_VERSION_EQUIVOCATION, KTA_SEV_CRITICAL, "version_equivocation"},
    {KTA_ALERT_VERSION_SKIP, KTA_SEV_CRITICAL, "version_skip"},
    {KTA_ALERT_BAD_SIGNATURE, KTA_SEV_CRITICAL, "bad_signature"},
    {KTA_ALERT_MALFORMED_ENTRY, KTA_SEV_CRITICAL, "malformed_entry"},
    {KTA_ALERT_KEY_CHANGED, KTA_SEV_ALERT, "key_changed"},
    {KTA_ALERT_UNAUTHORIZED_UPDATE, KTA_SEV_ALERT, "unauthorized_update"},
    {KTA_ALERT_BAD_AUTH_SIGNATURE, KTA_SEV_ALERT, "bad_auth_signature"},
    {KTA_ALERT_UNREACHABLE, KTA_SEV_WARNING, "unreachable"},
    {KTA_ALERT_STALE, KTA_SEV_WARNING, "stale"},
    {KTA_ALERT_QUORUM, KTA_SEV_WARNING, "quorum"},
    {KTA_ALERT_CLOCK, KTA_SEV_WARNING, "clock"},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

enum kta_severity kta_alert_kind_severity(enum kta_alert_kind kind)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (kinds[i].kind == kind)
			return kinds[i].sev;
	return KTA_SEV_CRITICAL;
}

const char *kta_alert_kind_name(enum kta_alert_kind kind)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (kinds[i].kind == kind)
			return kinds[i].name;
	return "unknown";
}

enum kta_status kta_alert_kind_parse(const char *s, enum kta_alert_kind *out)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (strcmp(kinds[i].name, s) == 0) {
			*out = kinds[i].kind;
			return KTA_OK;
		}
	return KTA_ERR_MALFORMED;
}

const char *kta_severity_name(enum kta_severity s)
{
	switch (s) {
	case KTA_SEV_WARNING:
		return "warning";
	case KTA_SEV_ALERT:
		return "alert";
	case KTA_SEV_CRITICAL:
		return "critical";
	}
	return "critical";
}

static enum kta_status severity_parse(const char *s, enum kta_severity *out)
{
	if (strcmp(s, "warning") == 0)
		*out = KTA_SEV_WARNING;
	else if (strcmp(s, "alert") == 0)
		*out = KTA_SEV_ALERT;
	else if (strcmp(s, "critical") == 0)
		*out = KTA_SEV_CRITICAL;
	else
		return KTA_ERR_MALFORMED;
	return KTA_OK;
}

enum kta_status kta_alert_new(enum kta_alert_kind kind, const char *log, int64_t time,
			      const char *message, struct kta_alert **out, struct kta_error *err)
{
	struct kta_alert *a;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "alert: out of memory");
	a->kind = kind;
	a->severity = kta_alert_kind_severity(kind);
	a->time = time;
	a->log = strdup(log != NULL ? log : "");
	a->message = strdup(message != NULL ? message : "");
	if (a->log == NULL || a->message == NULL) {
		kta_alert_free(a);
		return kta_error_set(err, KTA_ERR_NOMEM, "alert: out of memory");
	}
	*out = a;
	return KTA_OK;
}

void kta_alert_free(struct kta_alert *a)
{
	if (a == NULL)
		return;
	free(a->log);
	free(a->label);
	free(a->message);
	free(a->details);
	free(a->evidence);
	free(a);
}

enum kta_status kta_alert_set_label(struct kta_alert *a, const char *label, uint64_t version,
				    struct kta_error *err)
{
	char *l = strdup(label);

	if (l == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "alert: out of memory");
	free(a->label);
	a->label = l;
	a->version = version;
	return KTA_OK;
}

enum kta_status kta_alert_set_details(struct kta_alert *a, const json_t *obj, struct kta_error *err)
{
	char *s;

	if (!json_is_object(obj))
		return kta_error_set(err, KTA_ERR_USAGE, "alert details must be a JSON object");
	s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (s == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "alert: out of memory");
	free(a->details);
	a->details = s;
	return KTA_OK;
}

/* Feeds a length-prefixed field to the digest so that fields cannot run together. */
static int feed(EVP_MD_CTX *ctx, const void *p, size_t n)
{
	uint8_t len[8];
	int i;

	for (i = 0; i < 8; i++)
		len[i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
	return EVP_DigestUpdate(ctx, len, 8) == 1 && EVP_DigestUpdate(ctx, p, n) == 1;
}

static int feed_u64(EVP_MD_CTX *ctx, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	return feed(ctx, b, 8);
}

enum kta_status kta_alert_set_id(struct kta_alert *a, struct kta_error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *kn = kta_alert_kind_name(a->kind);
	uint8_t d[32];
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     feed(ctx, "ktaudit alert id v1", 19) && feed(ctx, kn, strlen(kn)) &&
	     feed(ctx, a->log, strlen(a->log)) &&
	     feed(ctx, a->label ? a->label : "", a->label ? strlen(a->label) : 0) &&
	     feed_u64(ctx, a->label ? a->version : 0) &&
	     feed_u64(ctx, a->has_leaf_index ? a->leaf_index + 1 : 0) && feed_u64(ctx, a->size) &&
	     feed(ctx, a->details ? a->details : "", a->details ? strlen(a->details) : 0) &&
	     EVP_DigestFinal_ex(ctx, d, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return kta_error_set(err, KTA_ERR_INTERNAL, "alert id: SHA-256 failed");
	kta_hex_encode(d, 16, a->id);
	return KTA_OK;
}

json_t *kta_alert_to_json(const struct kta_alert *a)
{
	json_t *o = json_object(), *d = NULL;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "id", json_string(a->id));
	json_object_set_new(o, "time", json_integer(a->time));
	json_object_set_new(o, "severity", json_string(kta_severity_name(a->severity)));
	json_object_set_new(o, "kind", json_string(kta_alert_kind_name(a->kind)));
	json_object_set_new(o, "log", json_string(a->log));
	if (a->label != NULL) {
		json_object_set_new(o, "label", json_string(a->label));
		json_object_set_new(o, "version", json_integer((json_int_t)a->version));
	}
	if (a->has_leaf_index)
		json_object_set_new(o, "leaf_index", json_integer((json_int_t)a->leaf_index));
	json_object_set_new(o, "size", json_integer((json_int_t)a->size));
	json_object_set_new(o, "message", json_string(a->message));
	if (a->details != NULL && (d = json_loads(a->details, 0, NULL)) != NULL)
		json_object_set_new(o, "details", d);
	if (a->evidence != NULL)
		json_object_set_new(o, "evidence", json_string(a->evidence));
	return o;
}

/* Copies a required string member. */
static enum kta_status get_str(const json_t *j, const char *key, int required, char **out,
			       struct kta_error *err)
{
	json_t *v = json_object_get(j, key);

	*out = NULL;
	if (v == NULL)
		return required
			   ? kta_error_set(err, KTA_ERR_MALFORMED, "alert: missing \"%s\"", key)
			   : KTA_OK;
	if (!json_is_string(v))
		return kta_error_set(err, KTA_ERR_MALFORMED, "alert: \"%s\" is not a string", key);
	if ((*out = strdup(json_string_value(v))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "alert: out of memory");
	return KTA_OK;
}

static enum kta_status get_int(const json_t *j, const char *key, int *present, json_int_t *out,
			       struct kta_error *err)
{
	json_t *v = json_object_get(j, key);

	*present = v != NULL;
	*out = 0;
	if (v == NULL)
		return KTA_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return kta_error_set(err, KTA_ERR_MALFORMED,
				     "alert: \"%s\" is not a non-negative integer", key);
	*out = json_integer_value(v);
	return KTA_OK;
}

enum kta_status kta_alert_from_json(const json_t *j, struct kta_alert **out, struct kta_error *err)
{
	static const char *const known[] = {"id",   "time",    "severity", "kind",
					    "log",  "label",   "version",  "leaf_index",
					    "size", "message", "details",  "evidence"};
	struct kta_alert *a = NULL;
	enum kta_status r = KTA_ERR_MALFORMED;
	const char *key;
	json_t *v;
	char *s = NULL;
	int present;
	json_int_t n;

	*out = NULL;
	if (!json_is_object(j))
		return kta_error_set(err, KTA_ERR_MALFORMED, "alert: not a JSON object");
	json_object_foreach((json_t *)j, key, v)
	{
		size_t i, ok = 0;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok)
			return kta_error_set(err, KTA_ERR_MALFORMED, "alert: unknown member \"%s\"",
					     key);
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "alert: out of memory");
	if ((r = get_str(j, "id", 1, &s, err)) != KTA_OK)
		goto out;
	if (strlen(s) != 32 || strspn(s, "0123456789abcdef") != 32) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "alert: \"id\" is not 32 hex digits");
		goto out;
	}
	memcpy(a->id, s, 33);
	free(s);
	s = NULL;
	if ((r = get_str(j, "kind", 1, &s, err)) != KTA_OK)
		goto out;
	if (kta_alert_kind_parse(s, &a->kind) != KTA_OK) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "alert: unknown kind \"%s\"", s);
		goto out;
	}
	free(s);
	s = NULL;
	if ((r = get_str(j, "severity", 1, &s, err)) != KTA_OK)
		goto out;
	if (severity_parse(s, &a->severity) != KTA_OK) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "alert: unknown severity \"%s\"", s);
		goto out;
	}
	free(s);
	s = NULL;
	if ((r = get_str(j, "log", 1, &a->log, err)) != KTA_OK ||
	    (r = get_str(j, "message", 1, &a->message, err)) != KTA_OK ||
	    (r = get_str(j, "label", 0, &a->label, err)) != KTA_OK ||
	    (r = get_str(j, "evidence", 0, &a->evidence, err)) != KTA_OK)
		goto out;
	if ((r = get_int(j, "time", &present, &n, err)) != KTA_OK)
		goto out;
	a->time = n;
	if ((r = get_int(j, "version", &present, &n, err)) != KTA_OK)
		goto out;
	a->version = (uint64_t)n;
	if ((r = get_int(j, "leaf_index", &present, &n, err)) != KTA_OK)
		goto out;
	a->has_leaf_index = present;
	a->leaf_index = (uint64_t)n;
	if ((r = get_int(j, "size", &present, &n, err)) != KTA_OK)
		goto out;
	a->size = (uint64_t)n;
	if ((v = json_object_get(j, "details")) != NULL &&
	    (r = kta_alert_set_details(a, v, err)) != KTA_OK)
		goto out;
	*out = a;
	a = NULL;
	r = KTA_OK;
out:
	free(s);
	kta_alert_free(a);
	return r;
}
