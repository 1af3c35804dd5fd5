/*
 * Gossip between auditors: verifying a peer's cosigned checkpoint
 * (gossip.h).
 */
#include "ktaudit/gossip.h"

#include <string.h>

enum kta_status kta_gossip_verify(const uint8_t *note, size_t len, const struct kta_vkey *log_key,
				  const char *origin, const struct kta_vkey *peer_key, int64_t now,
				  uint64_t max_skew, struct kta_checkpoint **out,
				  struct kta_error *err)
{
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	const struct kta_vkey *w[1];
	enum kta_status r;

	*out = NULL;
	memset(&res, 0, sizeof(res));
	if (log_key == NULL || peer_key == NULL || peer_key->type != KTA_KEY_COSIGNATURE_V1)
		return kta_error_set(
		    err, KTA_ERR_USAGE,
		    "gossip: a log key and a cosignature/v1 peer key are required");
	if (len > KTA_GOSSIP_CHECKPOINT_MAX)
		return kta_error_set(err, KTA_ERR_LIMIT, "gossip: checkpoint larger than %d bytes",
				     KTA_GOSSIP_CHECKPOINT_MAX);
	/* 1. the log's signature and origin, alone, so the message says which */
	memset(&p, 0, sizeof(p));
	p.log_key = log_key;
	p.origin = origin;
	p.now = now;
	p.max_skew = max_skew;
	if ((r = kta_checkpoint_verify(note, len, &p, &res, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "log signature");
		return r;
	}
	kta_checkpoint_result_free(&res);
	/* 2. the peer's cosignature (c2sp.org/tlog-cosignature) */
	w[0] = peer_key;
	p.witnesses = w;
	p.nwitnesses = 1;
	p.quorum = 1;
	if ((r = kta_checkpoint_verify(note, len, &p, &res, err)) != KTA_OK) {
		(void)kta_error_prefix(err, "peer cosignature by %s", peer_key->name);
		return r;
	}
	*out = res.cp;
	res.cp = NULL;
	kta_checkpoint_result_free(&res);
	return KTA_OK;
}

enum kta_gossip_relation kta_gossip_relation(uint64_t ours, uint64_t peer_size)
{
	if (peer_size < ours)
		return KTA_GOSSIP_SMALLER;
	if (peer_size == ours)
		return KTA_GOSSIP_EQUAL;
	return KTA_GOSSIP_LARGER;
}

const char *kta_gossip_relation_name(enum kta_gossip_relation r)
{
	switch (r) {
	case KTA_GOSSIP_SMALLER:
		return "smaller";
	case KTA_GOSSIP_EQUAL:
		return "equal";
	case KTA_GOSSIP_LARGER:
		return "larger";
	}
	return "unknown";
}
