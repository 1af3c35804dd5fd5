/* `ktaudit keygen` and `ktaudit sign`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ktaudit/checkpoint.h"
#include "ktaudit/encoding.h"
#include "ktaudit/file.h"
#include "ktaudit/key.h"
#include "ktaudit/note.h"

int cmd_keygen(const struct cli_args *a)
{
	const char *name = cli_get(a, "name"), *out = cli_get(a, "out");
	enum kta_key_type type = cli_count(a, "witness") ? KTA_KEY_COSIGNATURE_V1 : KTA_KEY_ED25519;
	struct kta_skey *sk = NULL;
	struct kta_vkey *vk = NULL;
	char *skstr = NULL, *vkstr = NULL;
	struct kta_error err;
	enum kta_status r;
	json_t *j = NULL;

	kta_error_clear(&err);
	if (name == NULL || out == NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "keygen: --name and --out are required");
		goto out;
	}
	if ((r = kta_skey_generate(name, type, &sk, &err)) != KTA_OK)
		goto out;
	if ((r = kta_skey_vkey(sk, &vk, &err)) != KTA_OK)
		goto out;
	skstr = kta_skey_format(sk);
	vkstr = kta_vkey_format(vk);
	if (skstr == NULL || vkstr == NULL) {
		r = kta_error_set(&err, KTA_ERR_NOMEM, "out of memory");
		goto out;
	}
	{
		size_t n = strlen(skstr);

		skstr[n] = '\n'; /* one line, newline-terminated; the NUL is not written */
		r = kta_file_create_excl(out, (const uint8_t *)skstr, n + 1, 0600, &err);
		skstr[n] = '\0';
	}
	if (r != KTA_OK)
		goto out;
	j = json_pack("{s:s,s:s,s:s}", "vkey", vkstr, "file", out, "type",
		      type == KTA_KEY_ED25519 ? "ed25519" : "cosignature/v1");
out : {
	int rc = cli_finish(a, r, &err, r == KTA_OK ? vkstr : NULL, j);

	if (skstr != NULL) {
		memset(skstr, 0, strlen(skstr));
		free(skstr);
	}
	free(vkstr);
	kta_vkey_free(vk);
	kta_skey_free(sk);
	return rc;
}
}

/* Loads a private key file written by `ktaudit keygen`. */
static enum kta_status load_skey(const char *path, struct kta_skey **out, struct kta_error *err)
{
	uint8_t *buf = NULL;
	size_t len;
	enum kta_status r;

	if ((r = cli_read_file("--key", path, KTA_KEY_STRING_MAX + 2, &buf, &len, err)) != KTA_OK)
		return r;
	r = kta_skey_parse((const char *)buf, len, out, err);
	if (r != KTA_OK)
		(void)kta_error_prefix(err, "--key %s", path);
	memset(buf, 0, len);
	free(buf);
	return r;
}

/* Returns 1 if (buf, len) has a signature block (a blank line before its end). */
static int looks_signed(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++)
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			return 1;
	return 0;
}

int cmd_sign(const struct cli_args *a)
{
	const char *keyfile = cli_get(a, "key"), *outfile = cli_get(a, "out");
	struct kta_skey *sk = NULL;
	uint8_t *in = NULL, *signedn = NULL;
	size_t inlen = 0, outlen = 0;
	uint64_t t = (uint64_t)time(NULL);
	struct kta_error err;
	enum kta_status r;

	kta_error_clear(&err);
	if (keyfile == NULL) {
		r = kta_error_set(&err, KTA_ERR_USAGE, "sign: --key is required");
		goto out;
	}
	if (cli_get(a, "time") != NULL && (r = cli_get_u64(a, "time", &t, &err)) != KTA_OK)
		goto out;
	if ((r = load_skey(keyfile, &sk, &err)) != KTA_OK)
		goto out;
	if ((r = cli_read_file("input", a->pos[0], KTA_NOTE_MAX_SIZE, &in, &inlen, &err)) != KTA_OK)
		goto out;
	if (sk->type == KTA_KEY_COSIGNATURE_V1) {
		/* A witness cosigns only a signed checkpoint (c2sp tlog-cosignature). */
		r = kta_checkpoint_cosign(in, inlen, sk, t, &signedn, &outlen, &err);
	} else if (looks_signed(in, inlen)) {
		/* A log key adds its signature to an already signed note. */
		r = kta_note_add_sig(in, inlen, sk, t, &signedn, &outlen, &err);
	} else {
		r = kta_note_sign(in, inlen, sk, &signedn, &outlen, &err);
	}
	if (r != KTA_OK) {
		(void)kta_error_prefix(&err, "sign %s", a->pos[0]);
		goto out;
	}
	if (outfile != NULL) {
		r = kta_file_write_atomic(outfile, signedn, outlen, 0644, &err);
	} else if (fwrite(signedn, 1, outlen, stdout) != outlen || fflush(stdout) != 0) {
		r = kta_error_set(&err, KTA_ERR_IO, "writing standard output failed");
	}
out:
	free(in);
	free(signedn);
	kta_skey_free(sk);
	if (r != KTA_OK)
		return cli_finish(a, r, &err, NULL, NULL);
	return 0;
}
