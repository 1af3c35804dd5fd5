/* libFuzzer: the monitor's configuration file (config.h, ktaudit.conf(5)). */
#include "ktaudit/config.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_config *cfg = NULL;
	struct kta_entry_key key;
	char device[KTA_DEVICE_MAX_LEN + 1];

	if (kta_config_parse(data, size, "fuzz.conf", &cfg, NULL) == KTA_OK) {
		FUZZ_CHECK(cfg != NULL);
		kta_config_free(cfg);
	} else {
		FUZZ_CHECK(cfg == NULL);
	}
	if (kta_config_parse_key_spec((const char *)data, size, &key, device, NULL) == KTA_OK)
		FUZZ_CHECK(key.device == device && strlen(device) <= KTA_DEVICE_MAX_LEN);
	return 0;
}
