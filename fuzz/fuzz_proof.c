/* libFuzzer: RFC 6962 JSON proof files, then verification against a fixed tree. */
#include <stdlib.h>
#include <string.h>

#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"
#include "ktaudit/proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_inclusion_proof *ip = NULL;
	struct kta_consistency_proof *cp = NULL;
	struct kta_hasher *h = NULL;
	uint8_t leaf[32] = {0}, root[32] = {1};

	if (kta_hasher_new(&h, NULL) != KTA_OK)
		abort();
	if (kta_proof_parse_inclusion(data, size, &ip, NULL) == KTA_OK) {
		uint64_t idx = ip->has_index ? ip->leaf_index : 0;

		(void)kta_merkle_verify_inclusion(h, idx, idx + 1 + (uint64_t)ip->path_len, leaf,
						  (const uint8_t(*)[32])ip->path, ip->path_len,
						  root, NULL);
		kta_inclusion_proof_free(ip);
	}
	if (kta_proof_parse_consistency(data, size, &cp, NULL) == KTA_OK) {
		(void)kta_merkle_verify_consistency(h, 3, 3 + (uint64_t)cp->len * 7, leaf, root,
						    (const uint8_t(*)[32])cp->hashes, cp->len,
						    NULL);
		kta_consistency_proof_free(cp);
	}
	kta_hasher_free(h);
	return 0;
}
