/* Strict option parsing and output helpers for the CLI. See cli.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ktaudit/encoding.h"
#include "ktaudit/file.h"

static int find_opt(const struct cli_cmd *cmd, const char *name, size_t len)
{
	int i;

	/* Options past CLI_MAX_OPTS would index past cli_args' arrays: a table
	 * that long is a programming error, caught by the CLI tests' --help loop. */
	for (i = 0; i < CLI_MAX_OPTS && cmd->opts[i].name != NULL; i++)
		if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
			return i;
	return -1;
}

enum kta_status cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a,
			  struct kta_error *err)
{
	int i, only_pos = 0;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	for (i = 0; i < argc; i++) {
		const char *s = argv[i], *eq, *val = NULL;
		size_t nlen;
		int k;

		if (only_pos || s[0] != '-' || strcmp(s, "-") == 0) {
			if (a->npos >= cmd->max_pos || a->npos >= CLI_MAX_POS)
				return kta_error_set(err, KTA_ERR_USAGE,
						     "%s: unexpected argument \"%s\"", cmd->name,
						     s);
			a->pos[a->npos++] = s;
			continue;
		}
		if (strcmp(s, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (s[1] != '-')
			return kta_error_set(err, KTA_ERR_USAGE, "%s: unknown option \"%s\"",
					     cmd->name, s);
		s += 2;
		eq = strchr(s, '=');
		nlen = eq ? (size_t)(eq - s) : strlen(s);
		if (nlen == 4 && strncmp(s, "json", 4) == 0 && eq == NULL) {
			if (a->json)
				return kta_error_set(err, KTA_ERR_USAGE, "%s: --json given twice",
						     cmd->name);
			a->json = 1;
			continue;
		}
		k = find_opt(cmd, s, nlen);
		if (k < 0)
			return kta_error_set(err, KTA_ERR_USAGE, "%s: unknown option \"--%.*s\"",
					     cmd->name, (int)nlen, s);
		if (cmd->opts[k].kind == CLI_FLAG) {
			if (eq != NULL)
				return kta_error_set(err, KTA_ERR_USAGE, "%s: --%s takes no value",
						     cmd->name, cmd->opts[k].name);
			val = "";
		} else if (eq != NULL) {
			val = eq + 1;
		} else {
			if (i + 1 >= argc)
				return kta_error_set(err, KTA_ERR_USAGE,
						     "%s: --%s needs a value (%s)", cmd->name,
						     cmd->opts[k].name, cmd->opts[k].metavar);
			val = argv[++i];
		}
		if (cmd->opts[k].kind != CLI_MANY && a->nvals[k] > 0)
			return kta_error_set(err, KTA_ERR_USAGE, "%s: --%s given more than once",
					     cmd->name, cmd->opts[k].name);
		if (a->nvals[k] >= CLI_MAX_VALUES)
			return kta_error_set(err, KTA_ERR_USAGE, "%s: --%s given too often",
					     cmd->name, cmd->opts[k].name);
		a->vals[k][a->nvals[k]++] = val;
	}
	if (a->npos < cmd->min_pos)
		return kta_error_set(err, KTA_ERR_USAGE,
				     "%s: missing argument (usage: ktaudit %s %s)", cmd->name,
				     cmd->name, cmd->synopsis);
	return KTA_OK;
}

const char *cli_get(const struct cli_args *a, const char *name)
{
	int k = find_opt(a->cmd, name, strlen(name));

	return (k < 0 || a->nvals[k] == 0) ? NULL : a->vals[k][0];
}

size_t cli_count(const struct cli_args *a, const char *name)
{
	int k = find_opt(a->cmd, name, strlen(name));

	return k < 0 ? 0 : a->nvals[k];
}

const char *cli_get_n(const struct cli_args *a, const char *name, size_t i)
{
	int k = find_opt(a->cmd, name, strlen(name));

	return (k < 0 || i >= a->nvals[k]) ? NULL : a->vals[k][i];
}

enum kta_status cli_get_u64(const struct cli_args *a, const char *name, uint64_t *out,
			    struct kta_error *err)
{
	const char *v = cli_get(a, name);
	enum kta_status r;

	if (v == NULL)
		return kta_error_set(err, KTA_ERR_USAGE, "--%s is required", name);
	r = kta_parse_u64(v, strlen(v), out, err);
	if (r != KTA_OK)
		return kta_error_prefix(err, "--%s", name);
	return KTA_OK;
}

void cli_usage(const struct cli_cmd *cmd, FILE *f)
{
	int i;

	for (i = 0; cmd->opts[i].name != NULL; i++)
		if (i >= CLI_MAX_OPTS) {
			fprintf(f, "ktaudit: internal error: %s has more than %d options\n",
				cmd->name, CLI_MAX_OPTS);
			return;
		}

	fprintf(f, "usage: ktaudit %s %s\n  %s\n", cmd->name, cmd->synopsis, cmd->summary);
	for (i = 0; cmd->opts[i].name != NULL; i++) {
		char left[64];

		(void)snprintf(left, sizeof(left), "--%s%s%s", cmd->opts[i].name,
			       cmd->opts[i].metavar ? " " : "",
			       cmd->opts[i].metavar ? cmd->opts[i].metavar : "");
		fprintf(f, "  %-28s %s\n", left, cmd->opts[i].help);
	}
	fprintf(f, "  %-28s %s\n", "--json", "print the result as a JSON object");
}

int cli_finish(const struct cli_args *a, enum kta_status r, const struct kta_error *err,
	       const char *ok_line, json_t *extra)
{
	const char *msg = (err != NULL && err->msg[0] != '\0') ? err->msg : kta_status_str(r);

	if (r != KTA_OK)
		fprintf(stderr, "ktaudit: %s\n", msg);
	if (a != NULL && a->json) {
		json_t *o = extra ? extra : json_object();
		char *s;

		json_object_set_new(o, "valid", json_boolean(r == KTA_OK));
		if (r != KTA_OK) {
			json_object_set_new(o, "error", json_string(msg));
			json_object_set_new(o, "status", json_string(kta_status_str(r)));
		}
		s = json_dumps(o, JSON_COMPACT);
		if (s != NULL) {
			puts(s);
			free(s);
		}
		json_decref(o);
	} else {
		json_decref(extra);
		if (r == KTA_OK && ok_line != NULL)
			puts(ok_line);
		else if (r == KTA_ERR_VERIFY)
			printf("INVALID: %s\n", msg);
	}
	if (fflush(stdout) != 0 && r == KTA_OK)
		return 3;
	return kta_status_exit_code(r);
}

enum kta_status cli_read_file(const char *what, const char *path, size_t max, uint8_t **buf,
			      size_t *len, struct kta_error *err)
{
	enum kta_status r = kta_file_read(path, max, buf, len, err);

	if (r != KTA_OK)
		return kta_error_prefix(err, "%s", what);
	return KTA_OK;
}
