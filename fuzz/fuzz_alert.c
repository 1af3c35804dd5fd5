/*
 * libFuzzer: alert JSON (alert.h, docs/alerts.md) as read back from the
 * outbox and by consumers. Differential: from_json then to_json then
 * from_json gives the same JSON text again.
 */
#include <jansson.h>

#include "ktaudit/alert.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j, *j2 = NULL, *j3 = NULL;
	struct kta_alert *a = NULL, *b = NULL;
	char *s2 = NULL, *s3 = NULL;

	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (j == NULL)
		return 0;
	if (kta_alert_from_json(j, &a, NULL) == KTA_OK) {
		j2 = kta_alert_to_json(a);
		FUZZ_CHECK(j2 != NULL);
		FUZZ_CHECK(kta_alert_from_json(j2, &b, NULL) == KTA_OK);
		j3 = kta_alert_to_json(b);
		FUZZ_CHECK(j3 != NULL);
		s2 = json_dumps(j2, JSON_COMPACT | JSON_SORT_KEYS);
		s3 = json_dumps(j3, JSON_COMPACT | JSON_SORT_KEYS);
		FUZZ_CHECK(s2 != NULL && s3 != NULL && strcmp(s2, s3) == 0);
		free(s2);
		free(s3);
		json_decref(j2);
		json_decref(j3);
		kta_alert_free(a);
		kta_alert_free(b);
	}
	json_decref(j);
	return 0;
}
