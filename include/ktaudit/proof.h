/*
 * ktaudit: proof files in the RFC 6962 JSON shapes (pure, no I/O).
 *
 *   inclusion    {"leaf_index": N, "audit_path": ["<b64 32 bytes>", ...]}
 *                (the body of a CT get-proof-by-hash response)
 *   consistency  {"consistency": ["<b64 32 bytes>", ...]}
 *                (the body of a CT get-sth-consistency response)
 *
 * Parsing is strict: one JSON object, no duplicate or unknown members, the
 * index an integer in [0, 2^63), every hash canonical base64 of exactly 32
 * bytes, at most KTA_PROOF_MAX_HASHES hashes, at most KTA_PROOF_MAX_SIZE
 * bytes of input. A proof with the wrong number of hashes still parses; the
 * verifier rejects it.
 *
 * Ownership: the parse functions allocate *out; free it with the matching
 * _free function (NULL is fine).
 */
#ifndef KTAUDIT_PROOF_H
#define KTAUDIT_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

#define KTA_PROOF_MAX_SIZE (1u << 20)
#define KTA_PROOF_MAX_HASHES 128

struct kta_inclusion_proof {
	int has_index;       /* 0 when the file has no leaf_index (then --index must supply it) */
	uint64_t leaf_index; /* valid when has_index */
	uint8_t (*path)[32]; /* path_len hashes, leaf to root */
	size_t path_len;
};

struct kta_consistency_proof {
	uint8_t (*hashes)[32];
	size_t len;
};

KTA_API enum kta_status kta_proof_parse_inclusion(const uint8_t *buf, size_t len,
						  struct kta_inclusion_proof **out,
						  struct kta_error *err) KTA_WUR;
KTA_API void kta_inclusion_proof_free(struct kta_inclusion_proof *p);

KTA_API enum kta_status kta_proof_parse_consistency(const uint8_t *buf, size_t len,
						    struct kta_consistency_proof **out,
						    struct kta_error *err) KTA_WUR;
KTA_API void kta_consistency_proof_free(struct kta_consistency_proof *p);

#endif
