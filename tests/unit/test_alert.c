/* Unit tests for alerts: kinds, ids, JSON round trip and rejections. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "ktaudit/alert.h"

static struct kta_alert *make(void)
{
	struct kta_alert *a;
	json_t *d = json_pack("{s:[s],s:[]}", "added", "ed25519:AAAA", "removed");

	assert_int_equal(kta_alert_new(KTA_ALERT_KEY_CHANGED, "example.com/dir", 1764143000,
				       "keys of alice changed", &a, NULL),
			 KTA_OK);
	assert_int_equal(kta_alert_set_label(a, "alice@example.org", 4, NULL), KTA_OK);
	a->has_leaf_index = 1;
	a->leaf_index = 123;
	a->size = 200;
	assert_int_equal(kta_alert_set_details(a, d, NULL), KTA_OK);
	json_decref(d);
	assert_int_equal(kta_alert_set_id(a, NULL), KTA_OK);
	return a;
}

static void kinds_and_severity(void **state)
{
	enum kta_alert_kind k;

	(void)state;
	assert_int_equal(kta_alert_kind_severity(KTA_ALERT_FORK), KTA_SEV_CRITICAL);
	assert_int_equal(kta_alert_kind_severity(KTA_ALERT_KEY_CHANGED), KTA_SEV_ALERT);
	assert_int_equal(kta_alert_kind_severity(KTA_ALERT_UNREACHABLE), KTA_SEV_WARNING);
	assert_string_equal(kta_alert_kind_name(KTA_ALERT_UNAUTHORIZED_UPDATE),
			    "unauthorized_update");
	assert_int_equal(kta_alert_kind_parse("rollback", &k), KTA_OK);
	assert_int_equal(k, KTA_ALERT_ROLLBACK);
	assert_int_equal(kta_alert_kind_parse("Rollback", &k), KTA_ERR_MALFORMED);
	assert_string_equal(kta_alert_kind_name((enum kta_alert_kind)999), "unknown");
}

static void ids_are_deterministic_and_distinct(void **state)
{
	struct kta_alert *a = make(), *b = make();
	char id[33];

	(void)state;
	assert_string_equal(a->id, b->id);
	assert_int_equal(strlen(a->id), 32);
	memcpy(id, a->id, sizeof(id));
	b->version = 5;
	assert_int_equal(kta_alert_set_id(b, NULL), KTA_OK);
	assert_string_not_equal(id, b->id);
	b->version = 4;
	b->leaf_index = 124;
	assert_int_equal(kta_alert_set_id(b, NULL), KTA_OK);
	assert_string_not_equal(id, b->id);
	b->leaf_index = 123;
	b->kind = KTA_ALERT_UNAUTHORIZED_UPDATE;
	assert_int_equal(kta_alert_set_id(b, NULL), KTA_OK);
	assert_string_not_equal(id, b->id);
	/* the detection time is not part of the identity of a finding */
	b->kind = KTA_ALERT_KEY_CHANGED;
	b->time += 100;
	assert_int_equal(kta_alert_set_id(b, NULL), KTA_OK);
	assert_string_equal(id, b->id);
	kta_alert_free(a);
	kta_alert_free(b);
}

static void json_round_trip(void **state)
{
	struct kta_alert *a = make(), *b;
	json_t *j = kta_alert_to_json(a), *j2;
	char *s1, *s2;

	(void)state;
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "severity")), "alert");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "key_changed");
	assert_int_equal(kta_alert_from_json(j, &b, NULL), KTA_OK);
	j2 = kta_alert_to_json(b);
	s1 = json_dumps(j, JSON_SORT_KEYS);
	s2 = json_dumps(j2, JSON_SORT_KEYS);
	assert_string_equal(s1, s2);
	free(s1);
	free(s2);
	json_decref(j);
	json_decref(j2);
	kta_alert_free(a);
	kta_alert_free(b);
}

static void json_rejects(void **state)
{
	static const char *bad[] = {
	    "[]",
	    "{\"id\":\"00\",\"kind\":\"fork\",\"severity\":\"critical\",\"log\":\"l\","
	    "\"message\":\"m\"}",
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"kind\":\"nope\","
	    "\"severity\":\"critical\",\"log\":\"l\",\"message\":\"m\"}",
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"kind\":\"fork\","
	    "\"severity\":\"huge\",\"log\":\"l\",\"message\":\"m\"}",
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"kind\":\"fork\","
	    "\"severity\":\"critical\",\"log\":\"l\"}",
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"kind\":\"fork\","
	    "\"severity\":\"critical\",\"log\":\"l\",\"message\":\"m\",\"x\":1}",
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"kind\":\"fork\","
	    "\"severity\":\"critical\",\"log\":\"l\",\"message\":\"m\",\"version\":-1}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		struct kta_alert *a = NULL;
		struct kta_error err;

		assert_non_null(j);
		assert_int_equal(kta_alert_from_json(j, &a, &err), KTA_ERR_MALFORMED);
		assert_null(a);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(kinds_and_severity),
	    cmocka_unit_test(ids_are_deterministic_and_distinct),
	    cmocka_unit_test(json_round_trip),
	    cmocka_unit_test(json_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
