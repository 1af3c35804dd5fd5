/* `ktaudit check`: a thin front end over ktaudit/check.h, pins.h and report.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd_check.h"
#include "ktaudit/check.h"
#include "ktaudit/encoding.h"
#include "ktaudit/file.h"
#include "ktaudit/pins.h"
#include "ktaudit/report.h"

const struct cli_opt opts_check[] = {
    {"pins", CLI_ONE, "FILE", "check the log and labels of this pin file (users)"},
    {"update", CLI_FLAG, NULL, "with --pins: pin the verified checkpoint when every check passed"},
    {"lookups-only", CLI_FLAG, NULL,
     "with --pins: verify each label's lookup answer instead of replaying the log"},
    {"candidate", CLI_ONE, "DIR", "check this locally built directory before publishing it"},
    {"published", CLI_ONE, "URL", "with --candidate: the live directory it must extend"},
    {"log-key", CLI_ONE, "VKEY", "with --candidate: the log's verifier key"},
    {"origin", CLI_ONE, "ORIGIN", "with --candidate: expected origin (default: the key's name)"},
    {"allow-unauthorized", CLI_FLAG, NULL,
     "unauthorized updates of labels that are not pinned warn instead of failing"},
    {"format", CLI_ONE, "FMT", "report format: text (default), json, junit, github"},
    {"junit", CLI_ONE, "FILE", "also write the report as JUnit XML to FILE (atomically)"},
    {"ca-file", CLI_ONE, "FILE", "PEM trust store for https (default: the system's)"},
    {NULL, CLI_FLAG, NULL, NULL},
};

/* Options that belong to one use only. */
static const char *const pins_only[] = {"update", "lookups-only", NULL};
static const char *const candidate_only[] = {"published", "log-key", "origin", NULL};

static enum kta_status check_usage(const struct cli_args *a, enum kta_report_format *fmt,
				   struct kta_error *err)
{
	const char *f = cli_get(a, "format");
	const char *const *o;
	int pins = cli_get(a, "pins") != NULL, cand = cli_get(a, "candidate") != NULL;

	if (pins == cand)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "check: give --pins FILE or --candidate DIR");
	for (o = pins ? candidate_only : pins_only; *o != NULL; o++)
		if (cli_count(a, *o) > 0)
			return kta_error_set(err, KTA_ERR_USAGE, "check: --%s needs %s", *o,
					     pins ? "--candidate" : "--pins");
	if (cand && (cli_get(a, "published") == NULL || cli_get(a, "log-key") == NULL))
		return kta_error_set(err, KTA_ERR_USAGE,
				     "check: --candidate needs --published URL and --log-key VKEY");
	*fmt = KTA_REPORT_TEXT;
	if (f != NULL && kta_report_format_parse(f, fmt, err) != KTA_OK)
		return kta_error_prefix(err, "--format");
	if (a->json) {
		if (f != NULL && *fmt != KTA_REPORT_JSON)
			return kta_error_set(err, KTA_ERR_USAGE,
					     "check: --json conflicts with --format %s", f);
		*fmt = KTA_REPORT_JSON;
	}
	return KTA_OK;
}

/*
 * --update: writes the verified checkpoint into the pin file (only the
 * checkpoint line changes) and adds the "pins update" check.
 */
static enum kta_status update_pins(struct kta_report *rep, const char *path, const uint8_t *buf,
				   size_t len, const struct kta_pins *pins,
				   const struct kta_check_result *res, struct kta_error *err)
{
	struct kta_error e;
	struct stat sb;
	uint8_t *out = NULL;
	size_t out_len = 0;
	mode_t mode = 0644;
	enum kta_status r;

	if (kta_report_exit_code(rep) != 0 || !res->verified)
		return kta_report_add(rep, "pins", "update", KTA_REPORT_SKIP, KTA_OK, NULL, err,
				      "%s not updated: the checks did not pass", path);
	if (pins->has_checkpoint && pins->size == res->size &&
	    memcmp(pins->root, res->root, 32) == 0)
		return kta_report_add(rep, "pins", "update", KTA_REPORT_PASS, KTA_OK, NULL, err,
				      "%s already pins size %llu", path,
				      (unsigned long long)res->size);
	kta_error_clear(&e);
	if (stat(path, &sb) == 0)
		mode = sb.st_mode & 07777;
	r = kta_pins_set_checkpoint(buf, len, path, res->size, res->root, &out, &out_len, &e);
	if (r == KTA_OK)
		r = kta_file_write_atomic(path, out, out_len, mode, &e);
	free(out);
	if (r == KTA_ERR_NOMEM)
		return kta_error_set(err, r, "%s", e.msg);
	if (r != KTA_OK)
		return kta_report_add(rep, "pins", "update", KTA_REPORT_ERROR, KTA_ERR_IO, NULL,
				      err, "could not update %s: %s", path, e.msg);
	if (pins->has_checkpoint)
		return kta_report_add(rep, "pins", "update", KTA_REPORT_PASS, KTA_OK, NULL, err,
				      "%s: checkpoint pin moved from size %llu to %llu", path,
				      (unsigned long long)pins->size,
				      (unsigned long long)res->size);
	return kta_report_add(rep, "pins", "update", KTA_REPORT_PASS, KTA_OK, NULL, err,
			      "%s: checkpoint pinned at size %llu (first use)", path,
			      (unsigned long long)res->size);
}

static enum kta_status run_pins(const struct cli_args *a, const struct kta_check_opts *o,
				struct kta_report *rep, struct kta_error *err)
{
	const char *path = cli_get(a, "pins");
	struct kta_check_result res;
	struct kta_pins *pins = NULL;
	struct kta_error e;
	uint8_t *buf = NULL;
	size_t len = 0;
	enum kta_status r;

	kta_error_clear(&e);
	r = kta_file_read(path, KTA_PINS_MAX_SIZE, &buf, &len, &e);
	if (r == KTA_OK)
		r = kta_pins_parse(buf, len, path, &pins, &e);
	else
		(void)kta_error_prefix(&e, "--pins");
	if (r == KTA_ERR_NOMEM) {
		r = kta_error_set(err, r, "%s", e.msg);
		goto out;
	}
	if (r != KTA_OK) {
		/* A missing or malformed pin file is bad input (exit 2); the
		 * report still says so, for CI systems that only read it. */
		fprintf(stderr, "ktaudit: %s\n", e.msg);
		r = kta_report_add(rep, "pins", "parse", KTA_REPORT_ERROR,
				   r == KTA_ERR_IO ? KTA_ERR_USAGE : r, NULL, err, "%s", e.msg);
		goto out;
	}
	if ((r = kta_check_pins(pins, o, rep, &res, err)) != KTA_OK)
		goto out;
	if (cli_count(a, "update") > 0)
		r = update_pins(rep, path, buf, len, pins, &res, err);
out:
	kta_pins_free(pins);
	free(buf);
	return r;
}

static enum kta_status run_candidate(const struct cli_args *a, const struct kta_check_opts *o,
				     struct kta_report *rep, struct kta_error *err)
{
	const char *vk = cli_get(a, "log-key");
	struct kta_check_candidate cd;
	struct kta_vkey *key = NULL;
	enum kta_status r;

	if ((r = kta_vkey_parse(vk, strlen(vk), &key, err)) != KTA_OK)
		return kta_error_prefix(err, "--log-key");
	memset(&cd, 0, sizeof(cd));
	cd.dir = cli_get(a, "candidate");
	cd.published = cli_get(a, "published");
	cd.log_key = key;
	cd.origin = cli_get(a, "origin");
	r = kta_check_candidate(&cd, o, rep, NULL, err);
	kta_vkey_free(key);
	return r;
}

/* Writes (s, n) to stdout; 0 or -1. */
static int put_stdout(const char *s, size_t n)
{
	if (fwrite(s, 1, n, stdout) != n || fflush(stdout) != 0)
		return -1;
	return 0;
}

int cmd_check(const struct cli_args *a)
{
	const char *junit = cli_get(a, "junit");
	enum kta_report_format fmt = KTA_REPORT_TEXT;
	struct kta_check_opts o;
	struct kta_report *rep = NULL;
	struct kta_error err;
	enum kta_status r;
	char *text = NULL;
	size_t tlen = 0;
	int code;

	kta_error_clear(&err);
	if ((r = check_usage(a, &fmt, &err)) != KTA_OK) {
		fprintf(stderr, "ktaudit: %s\n", err.msg);
		cli_usage(a->cmd, stderr);
		return 2;
	}
	kta_check_opts_init(&o);
	o.now = (int64_t)time(NULL);
	o.ca_file = cli_get(a, "ca-file");
	o.lookups_only = cli_count(a, "lookups-only") > 0;
	o.allow_unauthorized = cli_count(a, "allow-unauthorized") > 0;
	if ((r = kta_report_new("ktaudit check", &rep, &err)) != KTA_OK)
		goto fail;
	if (cli_get(a, "pins") != NULL)
		r = run_pins(a, &o, rep, &err);
	else
		r = run_candidate(a, &o, rep, &err);
	if (r != KTA_OK)
		goto fail;
	code = kta_report_exit_code(rep);
	if ((r = kta_report_render(rep, fmt, &text, &tlen, &err)) != KTA_OK)
		goto fail;
	if (junit != NULL) {
		char *xml = NULL;
		size_t xlen = 0;

		if ((r = kta_report_render(rep, KTA_REPORT_JUNIT, &xml, &xlen, &err)) != KTA_OK)
			goto fail;
		r = kta_file_write_atomic(junit, (const uint8_t *)xml, xlen, 0644, &err);
		free(xml);
		if (r != KTA_OK) {
			(void)kta_error_prefix(&err, "--junit");
			goto fail;
		}
	}
	if (put_stdout(text, tlen) != 0) {
		r = kta_error_set(&err, KTA_ERR_IO, "standard output: write failed");
		goto fail;
	}
	free(text);
	kta_report_free(rep);
	return code;
fail:
	fprintf(stderr, "ktaudit: %s\n", err.msg[0] != '\0' ? err.msg : kta_status_str(r));
	free(text);
	kta_report_free(rep);
	code = kta_status_exit_code(r);
	return code == 0 || code == 1 ? 3 : code;
}
