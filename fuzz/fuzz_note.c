/* libFuzzer: signed-note parsing, checkpoint parsing and verification under a fixed key. */
#include <stdlib.h>
#include <string.h>

#include "ktaudit/checkpoint.h"
#include "ktaudit/key.h"
#include "ktaudit/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char vk[] = "astra+cad5a3d2+AZJqeuyE/GnknsCNh1eCtDtwdAwKBddOlS8M2eI1Jt4b";
	struct kta_note *n = NULL;
	struct kta_checkpoint *cp = NULL;
	struct kta_vkey *key = NULL;
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;

	if (kta_note_parse(data, size, &n, NULL) == KTA_OK) {
		if (kta_checkpoint_parse(n->text, n->text_len, &cp, NULL) == KTA_OK)
			kta_checkpoint_free(cp);
		kta_note_free(n);
	}
	if (kta_vkey_parse(vk, strlen(vk), &key, NULL) != KTA_OK)
		abort();
	memset(&p, 0, sizeof(p));
	p.log_key = key;
	p.origin = "example.com/testdata";
	p.now = 1764143000;
	p.max_skew = 300;
	if (kta_checkpoint_verify(data, size, &p, &res, NULL) == KTA_OK)
		kta_checkpoint_result_free(&res);
	kta_vkey_free(key);
	/* vkey strings themselves */
	if (kta_vkey_parse((const char *)data, size, &key, NULL) == KTA_OK)
		kta_vkey_free(key);
	return 0;
}
