/* `ktaudit dir init|add|publish`: a thin front end over ktaudit/publish.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_dir.h"
#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/fetch.h"
#include "ktaudit/key.h"
#include "ktaudit/note.h"
#include "ktaudit/publish.h"

/* Warnings printed for one add; the rest are counted in the summary. */
#define CLI_MAX_WARNINGS 100

const struct cli_opt opts_dir_init[] = {
    {"origin", CLI_ONE, "ORIGIN", "the log's origin line (checkpoint line 1)"},
    {"key", CLI_ONE, "FILE", "the log's private key file (keygen); its path is recorded"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_dir_add[] = {
    {"label", CLI_ONE, "LABEL", "the label to update"},
    {"key", CLI_MANY, "ALG:B64:DEVICE",
     "a key of the label's new set (ed25519|x25519); repeatable; none = delete"},
    {"auth-key", CLI_ONE, "FILE", "sign the update (auth line) with this private key file"},
    {"time", CLI_ONE, "UNIX", "entry time (default: now)"},
    {"from", CLI_ONE, "FILE", "queue the updates of a JSON-lines file (- = standard input)"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_opt opts_dir_publish[] = {
    {"cosign", CLI_MANY, "FILE", "cosign the checkpoint with this witness key file; repeatable"},
    {"merge-cosignatures", CLI_MANY, "FILE_OR_URL",
     "merge the cosignatures of this cosigned checkpoint (an auditor's published file, "
     "https/http/file URL or path); repeatable"},
    {NULL, CLI_FLAG, NULL, NULL},
};

/* Reads a private key file of any type; wipes the buffer. */
static enum kta_status read_skey(const char *opt, const char *path, struct kta_skey **out,
				 struct kta_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	enum kta_status r;

	if ((r = cli_read_file(opt, path, KTA_KEY_STRING_MAX + 2, &buf, &len, err)) != KTA_OK)
		return r;
	r = kta_skey_parse((const char *)buf, len, out, err);
	if (r != KTA_OK)
		(void)kta_error_prefix(err, "%s %s", opt, path);
	memset(buf, 0, len);
	free(buf);
	return r;
}

int cmd_dir_init(const struct cli_args *a)
{
	const char *dir = a->pos[0], *origin = cli_get(a, "origin"), *key = cli_get(a, "key");
	struct kta_error err;
	enum kta_status r;
	json_t *j = NULL;
	char line[512];

	kta_error_clear(&err);
	line[0] = '\0';
	if (origin == NULL || key == NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "dir init: --origin and --key are required");
		goto out;
	}
	if ((r = kta_publish_init(dir, origin, key, &err)) != KTA_OK)
		goto out;
	j = json_pack("{s:s,s:s,s:i}", "dir", dir, "origin", origin, "size", 0);
	(void)snprintf(line, sizeof(line), "initialized %s: origin %s, size 0", dir, origin);
out:
	return cli_finish(a, r, &err, line, j);
}

struct warn_ctx {
	unsigned long long n;
};

static void print_warning(void *ctx, const char *msg)
{
	struct warn_ctx *w = ctx;

	if (w->n++ < CLI_MAX_WARNINGS)
		fprintf(stderr, "ktaudit: warning: %s\n", msg);
	else if (w->n == CLI_MAX_WARNINGS + 1)
		fprintf(stderr, "ktaudit: warning: more unauthorized updates, not shown\n");
}

int cmd_dir_add(const struct cli_args *a)
{
	char devs[CLI_MAX_VALUES][KTA_DEVICE_MAX_LEN + 1];
	struct kta_entry_key keys[CLI_MAX_VALUES];
	struct kta_publish_update u;
	struct kta_publish_added res;
	struct kta_publisher *p = NULL;
	struct kta_skey *auth = NULL;
	struct warn_ctx w = {0};
	const char *from = cli_get(a, "from"), *label = cli_get(a, "label");
	size_t nk = cli_count(a, "key"), i;
	struct kta_error err;
	enum kta_status r;
	json_t *j = NULL;
	char line[512], q[4 * 64 + 4];

	kta_error_clear(&err);
	memset(&u, 0, sizeof(u));
	memset(&res, 0, sizeof(res));
	line[0] = '\0';
	if ((from == NULL) == (label == NULL)) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "dir add: give --label or --from");
		goto out;
	}
	if (from != NULL && (nk > 0 || cli_get(a, "auth-key") || cli_get(a, "time"))) {
		r = kta_error_set(&err, KTA_ERR_USAGE,
				  "dir add: --from conflicts with --key, --auth-key and --time "
				  "(give them per line)");
		goto out;
	}
	if (label != NULL) {
		for (i = 0; i < nk; i++) {
			const char *s = cli_get_n(a, "key", i);

			if ((r = kta_publish_parse_key(s, strlen(s), &keys[i], devs[i], &err)) !=
			    KTA_OK) {
				(void)kta_error_prefix(&err, "--key");
				goto out;
			}
		}
		u.label = label;
		u.keys = keys;
		u.nkeys = nk;
		u.time = (uint64_t)time(NULL);
		if (cli_get(a, "time") != NULL &&
		    (r = cli_get_u64(a, "time", &u.time, &err)) != KTA_OK)
			goto out;
		if (cli_get(a, "auth-key") != NULL) {
			if ((r = read_skey("--auth-key", cli_get(a, "auth-key"), &auth, &err)) !=
			    KTA_OK)
				goto out;
			u.auth_key = auth;
		}
	}
	if ((r = kta_publish_open(a->pos[0], &p, &err)) != KTA_OK)
		goto out;
	kta_publish_set_warn(p, print_warning, &w);
	if (from != NULL)
		r = kta_publish_add_file(p, from, (uint64_t)time(NULL), &res, &err);
	else
		r = kta_publish_add(p, &u, 1, &res, &err);
	if (r != KTA_OK)
		goto out;
	j = json_pack("{s:I,s:I}", "queued", (json_int_t)res.queued, "unauthorized",
		      (json_int_t)res.unauthorized);
	if (from == NULL) {
		json_object_set_new(j, "label", json_string(label));
		json_object_set_new(j, "version", json_integer((json_int_t)res.version));
		json_object_set_new(j, "leaf_index", json_integer((json_int_t)res.leaf_index));
		(void)snprintf(line, sizeof(line), "queued %s version %llu (leaf %llu)%s",
			       kta_quote((const uint8_t *)label, strlen(label), 64, q),
			       (unsigned long long)res.version, (unsigned long long)res.leaf_index,
			       res.unauthorized ? ", unauthorized" : "");
	} else {
		(void)snprintf(line, sizeof(line), "queued %llu update%s (%llu unauthorized)",
			       (unsigned long long)res.queued, res.queued == 1 ? "" : "s",
			       (unsigned long long)res.unauthorized);
	}
out:
	kta_publish_close(p);
	kta_skey_free(auth);
	return cli_finish(a, r, &err, line, j);
}

/* Reads a cosigned checkpoint from a path or an https/http/file URL. */
static enum kta_status read_cosigned(struct kta_fetcher **f, const char *src, uint8_t **buf,
				     size_t *len, struct kta_error *err)
{
	struct kta_fetch_opts fo;
	enum kta_status r;

	if (strncmp(src, "https://", 8) != 0 && strncmp(src, "http://", 7) != 0 &&
	    strncmp(src, "file://", 7) != 0)
		return cli_read_file("--merge-cosignatures", src, KTA_NOTE_MAX_SIZE, buf, len, err);
	if (*f == NULL) {
		kta_fetch_opts_init(&fo);
		fo.schemes = "https,http,file";
		fo.max_size = KTA_NOTE_MAX_SIZE;
		if ((r = kta_fetcher_new(&fo, f, err)) != KTA_OK)
			return r;
	}
	if ((r = kta_fetch_get(*f, src, buf, len, NULL, err)) != KTA_OK)
		(void)kta_error_prefix(err, "--merge-cosignatures %s", src);
	return r;
}

int cmd_dir_publish(const struct cli_args *a)
{
	struct kta_skey *wit[CLI_MAX_VALUES] = {NULL};
	struct kta_publish_opts o;
	struct kta_publish_result res;
	struct kta_publisher *p = NULL;
	size_t nw = cli_count(a, "cosign"), nm = cli_count(a, "merge-cosignatures"), i;
	uint8_t *notes[CLI_MAX_VALUES] = {NULL};
	size_t lens[CLI_MAX_VALUES] = {0};
	struct kta_publish_merge_result mres;
	struct kta_fetcher *f = NULL;
	struct kta_error err;
	enum kta_status r = KTA_OK;
	char line[512], root[KTA_B64_ENCODED_LEN(32) + 1];
	json_t *j = NULL;

	kta_error_clear(&err);
	memset(&o, 0, sizeof(o));
	line[0] = '\0';
	for (i = 0; i < nw; i++)
		if ((r = read_skey("--cosign", cli_get_n(a, "cosign", i), &wit[i], &err)) != KTA_OK)
			goto out;
	o.witnesses = (const struct kta_skey *const *)wit;
	o.nwitnesses = nw;
	o.now = (uint64_t)time(NULL);
	if ((r = kta_publish_open(a->pos[0], &p, &err)) != KTA_OK)
		goto out;
	for (i = 0; i < nm; i++)
		if ((r = read_cosigned(&f, cli_get_n(a, "merge-cosignatures", i), &notes[i],
				       &lens[i], &err)) != KTA_OK)
			goto out;
	if ((r = kta_publish_run(p, &o, &res, &err)) != KTA_OK)
		goto out;
	memset(&mres, 0, sizeof(mres));
	if (nm > 0 && (r = kta_publish_merge_cosignatures(p, (const uint8_t *const *)notes, lens,
							  nm, &mres, &err)) != KTA_OK)
		goto out;
	kta_b64_encode(res.root, 32, root);
	j = json_pack("{s:I,s:I,s:I,s:I,s:s}", "published", (json_int_t)res.entries, "old_size",
		      (json_int_t)res.old_size, "size", (json_int_t)res.size, "lookups",
		      (json_int_t)res.lookups, "root", root);
	if (j != NULL && nm > 0)
		(void)json_object_set_new(
		    j, "merged",
		    json_pack("{s:I,s:I,s:I,s:I}", "cosignatures", (json_int_t)mres.merged,
			      "already_present", (json_int_t)mres.present, "other_tree",
			      (json_int_t)mres.other, "lookups", (json_int_t)mres.lookups));
	if (res.entries == 0)
		(void)snprintf(line, sizeof(line), "nothing to publish: size %llu, root %s",
			       (unsigned long long)res.size, root);
	else
		(void)snprintf(line, sizeof(line),
			       "published %llu entr%s: size %llu, root %s, %llu lookups",
			       (unsigned long long)res.entries, res.entries == 1 ? "y" : "ies",
			       (unsigned long long)res.size, root, (unsigned long long)res.lookups);
	if (nm > 0) {
		size_t l = strlen(line);

		(void)snprintf(line + l, sizeof(line) - l,
			       "; merged %zu cosignature%s (%zu already present, %zu for another "
			       "tree head), %llu lookups updated",
			       mres.merged, mres.merged == 1 ? "" : "s", mres.present, mres.other,
			       (unsigned long long)mres.lookups);
	}
out:
	kta_publish_close(p);
	kta_fetcher_free(f);
	for (i = 0; i < nm; i++)
		free(notes[i]);
	for (i = 0; i < nw; i++)
		kta_skey_free(wit[i]);
	return cli_finish(a, r, &err, line, j);
}
