/* `ktaudit verify checkpoint|inclusion|consistency`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ktaudit/checkpoint.h"
#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/key.h"
#include "ktaudit/merkle.h"
#include "ktaudit/proof.h"

/* Cosignature timestamps up to this far in the future are tolerated (clock skew). */
#define CLI_MAX_SKEW 300
/* Largest entry file accepted by --entry (CT leaves can be large certificates). */
#define CLI_MAX_ENTRY (1u << 24)

/* Parses a --log-key/--witness value; names the option in errors. */
static enum kta_status parse_vkey(const char *opt, const char *s, struct kta_vkey **out,
				  struct kta_error *err)
{
	enum kta_status r = kta_vkey_parse(s, strlen(s), out, err);

	if (r != KTA_OK)
		return kta_error_prefix(err, "--%s", opt);
	return KTA_OK;
}

/* Adds size, root and origin of a verified checkpoint to a JSON object. */
static void json_add_tree(json_t *o, const char *prefix, uint64_t size, const uint8_t root[32])
{
	char b64[KTA_B64_ENCODED_LEN(32) + 1], key[64];

	kta_b64_encode(root, 32, b64);
	(void)snprintf(key, sizeof(key), "%ssize", prefix);
	json_object_set_new(o, key, json_integer((json_int_t)size));
	(void)snprintf(key, sizeof(key), "%sroot", prefix);
	json_object_set_new(o, key, json_string(b64));
}

/*
 * Reads and verifies a signed checkpoint file under the log key (no witness
 * policy) and returns its size and root. `opt` names the option.
 */
static enum kta_status load_checkpoint(const char *opt, const char *path,
				       const struct kta_vkey *log_key, const char *origin,
				       uint64_t *size, uint8_t root[32], struct kta_error *err)
{
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	uint8_t *buf = NULL;
	size_t len;
	enum kta_status r;

	if (log_key == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "--%s needs --log-key", opt);
	if ((r = cli_read_file(opt, path, KTA_NOTE_MAX_SIZE, &buf, &len, err)) != KTA_OK)
		return r;
	memset(&p, 0, sizeof(p));
	p.log_key = log_key;
	p.origin = origin;
	p.now = (int64_t)time(NULL);
	p.max_skew = CLI_MAX_SKEW;
	r = kta_checkpoint_verify(buf, len, &p, &res, err);
	free(buf);
	if (r != KTA_OK)
		return kta_error_prefix(err, "--%s %s", opt, path);
	*size = res.cp->size;
	memcpy(root, res.cp->root, 32);
	kta_checkpoint_result_free(&res);
	return KTA_OK;
}

/* Reads a tree (size, root) from --PFXsize/--PFXroot or --PFXcheckpoint. */
static enum kta_status get_tree(const struct cli_args *a, const char *pfx,
				const struct kta_vkey *log_key, uint64_t *size, uint8_t root[32],
				struct kta_error *err)
{
	char o_size[32], o_root[32], o_cp[32];
	const char *cp, *rt;
	enum kta_status r;

	(void)snprintf(o_size, sizeof(o_size), "%ssize", pfx);
	(void)snprintf(o_root, sizeof(o_root), "%sroot", pfx);
	(void)snprintf(o_cp, sizeof(o_cp), "%scheckpoint", pfx);
	cp = cli_get(a, o_cp);
	rt = cli_get(a, o_root);
	if (cp != NULL) {
		if (cli_get(a, o_size) != NULL || rt != NULL)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "--%s conflicts with --%s/--%s: give one", o_cp,
					     o_size, o_root);
		return load_checkpoint(o_cp, cp, log_key, cli_get(a, "origin"), size, root, err);
	}
	if (cli_get(a, o_size) == NULL || rt == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "give --%s and --%s, or --%s", o_size,
				     o_root, o_cp);
	if ((r = cli_get_u64(a, o_size, size, err)) != KTA_OK)
		return r;
	r = kta_parse_hash(rt, strlen(rt), root, o_root, err);
	return r == KTA_OK ? KTA_OK : kta_error_prefix(err, "--%s", o_root);
}

int cmd_verify_checkpoint(const struct cli_args *a)
{
	struct kta_vkey *log_key = NULL, *wit[CLI_MAX_VALUES] = {NULL};
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	size_t nw = cli_count(a, "witness"), i;
	uint8_t *buf = NULL;
	size_t len;
	struct kta_error err;
	enum kta_status r;
	json_t *j = NULL;
	char line[256];
	uint64_t q;

	kta_error_clear(&err);
	memset(&res, 0, sizeof(res));
	memset(&p, 0, sizeof(p));
	if (cli_get(a, "log-key") == NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "verify checkpoint: --log-key is required");
		goto out;
	}
	if ((r = parse_vkey("log-key", cli_get(a, "log-key"), &log_key, &err)) != KTA_OK)
		goto out;
	for (i = 0; i < nw; i++)
		if ((r = parse_vkey("witness", cli_get_n(a, "witness", i), &wit[i], &err)) !=
		    KTA_OK)
			goto out;
	p.log_key = log_key;
	p.origin = cli_get(a, "origin");
	p.witnesses = (const struct kta_vkey *const *)wit;
	p.nwitnesses = nw;
	p.quorum = nw;
	if (cli_get(a, "quorum") != NULL) {
		if ((r = cli_get_u64(a, "quorum", &q, &err)) != KTA_OK)
			goto out;
		if (q > nw) {
			r = kta_error_set(&err, KTA_ERR_USAGE,
					  "--quorum %llu is more than the %zu witnesses given",
					  (unsigned long long)q, nw);
			goto out;
		}
		p.quorum = (size_t)q;
	}
	if (cli_get(a, "max-age") != NULL &&
	    (r = cli_get_u64(a, "max-age", &p.max_age, &err)) != KTA_OK)
		goto out;
	p.now = (int64_t)time(NULL);
	p.max_skew = CLI_MAX_SKEW;
	if ((r = cli_read_file("checkpoint", a->pos[0], KTA_NOTE_MAX_SIZE, &buf, &len, &err)) !=
	    KTA_OK)
		goto out;
	r = kta_checkpoint_verify(buf, len, &p, &res, &err);
	if (r != KTA_OK) {
		(void)kta_error_prefix(&err, "%s", a->pos[0]);
		goto out;
	}
	j = json_object();
	json_object_set_new(j, "origin", json_string(res.cp->origin));
	json_add_tree(j, "", res.cp->size, res.cp->root);
	json_object_set_new(j, "witnesses", json_integer((json_int_t)res.cosigned));
	json_object_set_new(j, "quorum", json_integer((json_int_t)p.quorum));
	if (res.has_cosig_time)
		json_object_set_new(j, "cosigned_at", json_integer(res.newest_cosig_time));
	if (nw == 0)
		(void)snprintf(line, sizeof(line), "OK: %s size %llu, signed by %s", res.cp->origin,
			       (unsigned long long)res.cp->size, log_key->name);
	else
		(void)snprintf(line, sizeof(line), "OK: %s size %llu, %zu of %zu witnesses",
			       res.cp->origin, (unsigned long long)res.cp->size, res.cosigned, nw);
out:
	free(buf);
	kta_checkpoint_result_free(&res);
	kta_vkey_free(log_key);
	for (i = 0; i < nw; i++)
		kta_vkey_free(wit[i]);
	return cli_finish(a, r, &err, line, j);
}

int cmd_verify_inclusion(const struct cli_args *a)
{
	struct kta_inclusion_proof *pf = NULL;
	struct kta_vkey *log_key = NULL;
	struct kta_hasher *h = NULL;
	uint8_t *buf = NULL, leaf[32], root[32];
	uint64_t size = 0, index = 0;
	const char *entry = cli_get(a, "entry"), *lh = cli_get(a, "leaf-hash");
	size_t len;
	struct kta_error err;
	enum kta_status r;
	json_t *j = NULL;
	char line[128];

	kta_error_clear(&err);
	if (cli_get(a, "proof") == NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "verify inclusion: --proof is required");
		goto out;
	}
	if ((entry == NULL) == (lh == NULL)) {
		r = kta_error_set(&err, KTA_ERR_USAGE,
				  "verify inclusion: give exactly one of --entry and --leaf-hash");
		goto out;
	}
	if (cli_get(a, "log-key") != NULL &&
	    (r = parse_vkey("log-key", cli_get(a, "log-key"), &log_key, &err)) != KTA_OK)
		goto out;
	if ((r = kta_hasher_new(&h, &err)) != KTA_OK)
		goto out;
	if ((r = cli_read_file("--proof", cli_get(a, "proof"), KTA_PROOF_MAX_SIZE, &buf, &len,
			       &err)) != KTA_OK)
		goto out;
	r = kta_proof_parse_inclusion(buf, len, &pf, &err);
	free(buf);
	buf = NULL;
	if (r != KTA_OK) {
		(void)kta_error_prefix(&err, "--proof %s", cli_get(a, "proof"));
		goto out;
	}
	if (cli_get(a, "index") != NULL) {
		if ((r = cli_get_u64(a, "index", &index, &err)) != KTA_OK)
			goto out;
	} else if (pf->has_index) {
		index = pf->leaf_index;
	} else {
		r = kta_error_set(&err, KTA_ERR_USAGE, "the proof has no leaf_index: give --index");
		goto out;
	}
	if (entry != NULL) {
		if ((r = cli_read_file("--entry", entry, CLI_MAX_ENTRY, &buf, &len, &err)) !=
		    KTA_OK)
			goto out;
		kta_hash_leaf(h, buf, len, leaf);
	} else if ((r = kta_parse_hash(lh, strlen(lh), leaf, "--leaf-hash", &err)) != KTA_OK) {
		goto out;
	}
	if ((r = get_tree(a, "", log_key, &size, root, &err)) != KTA_OK)
		goto out;
	r = kta_merkle_verify_inclusion(h, index, size, leaf, (const uint8_t(*)[32])pf->path,
					pf->path_len, root, &err);
	if (r != KTA_OK)
		goto out;
	j = json_object();
	json_object_set_new(j, "leaf_index", json_integer((json_int_t)index));
	json_add_tree(j, "", size, root);
	(void)snprintf(line, sizeof(line), "OK: leaf %llu is in the tree of size %llu",
		       (unsigned long long)index, (unsigned long long)size);
out:
	free(buf);
	kta_inclusion_proof_free(pf);
	kta_vkey_free(log_key);
	kta_hasher_free(h);
	return cli_finish(a, r, &err, line, j);
}

int cmd_verify_consistency(const struct cli_args *a)
{
	struct kta_consistency_proof *pf = NULL;
	struct kta_vkey *log_key = NULL;
	struct kta_hasher *h = NULL;
	uint8_t *buf = NULL, root1[32], root2[32];
	uint64_t size1 = 0, size2 = 0;
	size_t len;
	struct kta_error err;
	enum kta_status r;
	json_t *j = NULL;
	char line[160];

	kta_error_clear(&err);
	if (cli_get(a, "proof") == NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "verify consistency: --proof is required");
		goto out;
	}
	if (cli_get(a, "log-key") != NULL &&
	    (r = parse_vkey("log-key", cli_get(a, "log-key"), &log_key, &err)) != KTA_OK)
		goto out;
	if ((r = kta_hasher_new(&h, &err)) != KTA_OK)
		goto out;
	if ((r = cli_read_file("--proof", cli_get(a, "proof"), KTA_PROOF_MAX_SIZE, &buf, &len,
			       &err)) != KTA_OK)
		goto out;
	r = kta_proof_parse_consistency(buf, len, &pf, &err);
	free(buf);
	if (r != KTA_OK) {
		(void)kta_error_prefix(&err, "--proof %s", cli_get(a, "proof"));
		goto out;
	}
	if ((r = get_tree(a, "old-", log_key, &size1, root1, &err)) != KTA_OK)
		goto out;
	if ((r = get_tree(a, "new-", log_key, &size2, root2, &err)) != KTA_OK)
		goto out;
	r = kta_merkle_verify_consistency(h, size1, size2, root1, root2,
					  (const uint8_t(*)[32])pf->hashes, pf->len, &err);
	if (r != KTA_OK)
		goto out;
	j = json_object();
	json_add_tree(j, "old_", size1, root1);
	json_add_tree(j, "new_", size2, root2);
	(void)snprintf(line, sizeof(line),
		       "OK: the tree of size %llu is consistent with the tree of size %llu",
		       (unsigned long long)size2, (unsigned long long)size1);
out:
	kta_consistency_proof_free(pf);
	kta_vkey_free(log_key);
	kta_hasher_free(h);
	return cli_finish(a, r, &err, line, j);
}
