/* RFC 6962 JSON proof files. See ktaudit/proof.h. */
#include "ktaudit/proof.h"

#include <stdlib.h>

#include "json_util.h"

enum kta_status kta_proof_parse_inclusion(const uint8_t *buf, size_t len,
					  struct kta_inclusion_proof **out, struct kta_error *err)
{
	static const char *const keys[] = {"leaf_index", "audit_path", NULL};
	static const char what[] = "inclusion proof";
	struct kta_inclusion_proof *p = NULL;
	enum kta_status r;
	json_t *j = NULL;

	*out = NULL;
	if ((r = kta_json_load_object(buf, len, KTA_PROOF_MAX_SIZE, what, &j, err)) != KTA_OK)
		return r;
	if ((r = kta_json_only_keys(j, keys, what, err)) != KTA_OK)
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", what);
		goto out;
	}
	if (json_object_get(j, "leaf_index") != NULL) {
		if ((r = kta_json_get_u64(j, "leaf_index", what, &p->leaf_index, err)) != KTA_OK)
			goto out;
		p->has_index = 1;
	}
	r = kta_json_get_hashes(j, "audit_path", what, KTA_PROOF_MAX_HASHES, &p->path, &p->path_len,
				err);
	if (r != KTA_OK)
		goto out;
	*out = p;
	p = NULL;
out:
	kta_inclusion_proof_free(p);
	json_decref(j);
	return r;
}

void kta_inclusion_proof_free(struct kta_inclusion_proof *p)
{
	if (p == NULL)
		return;
	free(p->path);
	free(p);
}

enum kta_status kta_proof_parse_consistency(const uint8_t *buf, size_t len,
					    struct kta_consistency_proof **out,
					    struct kta_error *err)
{
	static const char *const keys[] = {"consistency", NULL};
	static const char what[] = "consistency proof";
	struct kta_consistency_proof *p = NULL;
	enum kta_status r;
	json_t *j = NULL;

	*out = NULL;
	if ((r = kta_json_load_object(buf, len, KTA_PROOF_MAX_SIZE, what, &j, err)) != KTA_OK)
		return r;
	if ((r = kta_json_only_keys(j, keys, what, err)) != KTA_OK)
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r = kta_error_set(err, KTA_ERR_NOMEM, "%s: out of memory", what);
		goto out;
	}
	r = kta_json_get_hashes(j, "consistency", what, KTA_PROOF_MAX_HASHES, &p->hashes, &p->len,
				err);
	if (r != KTA_OK)
		goto out;
	*out = p;
	p = NULL;
out:
	kta_consistency_proof_free(p);
	json_decref(j);
	return r;
}

void kta_consistency_proof_free(struct kta_consistency_proof *p)
{
	if (p == NULL)
		return;
	free(p->hashes);
	free(p);
}
