/*
 * ktaudit: the command-line front end. A table of commands (the single
 * source of --help and of the man page's option lists) dispatching to one
 * function per command in src/cli/cmd_*.c.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_check.h"
#include "cmd_ct.h"
#include "cmd_dir.h"
#include "cmd_evidence.h"
#include "cmd_monitor.h"
#include "cmd_tlog.h"
#include "ktaudit/version.h"

#ifndef KTA_VERSION_STRING
#define KTA_VERSION_STRING "0.0.0"
#endif

static const struct cli_opt opts_verify_checkpoint[] = {
    {"log-key", CLI_ONE, "VKEY", "the log's verifier key (name+id+base64)"},
    {"origin", CLI_ONE, "ORIGIN", "expected origin line (default: the log key's name)"},
    {"witness", CLI_MANY, "VKEY", "a witness verifier key (cosignature/v1); repeatable"},
    {"quorum", CLI_ONE, "K", "valid witness cosignatures required (default: all listed)"},
    {"max-age", CLI_ONE, "SECONDS", "reject if the newest cosignature is older than this"},
    {NULL, CLI_FLAG, NULL, NULL},
};

static const struct cli_opt opts_verify_inclusion[] = {
    {"proof", CLI_ONE, "FILE", "inclusion proof {\"leaf_index\":N,\"audit_path\":[...]}"},
    {"entry", CLI_ONE, "FILE", "the entry (leaf data); its leaf hash is computed"},
    {"leaf-hash", CLI_ONE, "HASH", "the leaf hash (base64 or hex)"},
    {"index", CLI_ONE, "N", "leaf index (overrides the proof's leaf_index)"},
    {"size", CLI_ONE, "N", "tree size"},
    {"root", CLI_ONE, "HASH", "root hash at that size (base64 or hex)"},
    {"checkpoint", CLI_ONE, "FILE", "a signed checkpoint giving size and root"},
    {"log-key", CLI_ONE, "VKEY", "the log's verifier key (with --checkpoint)"},
    {"origin", CLI_ONE, "ORIGIN", "expected origin line (default: the log key's name)"},
    {NULL, CLI_FLAG, NULL, NULL},
};

static const struct cli_opt opts_verify_consistency[] = {
    {"proof", CLI_ONE, "FILE", "consistency proof {\"consistency\":[...]}"},
    {"old-size", CLI_ONE, "N", "the older tree size"},
    {"old-root", CLI_ONE, "HASH", "the older root hash"},
    {"old-checkpoint", CLI_ONE, "FILE", "a signed checkpoint giving the older size and root"},
    {"new-size", CLI_ONE, "N", "the newer tree size"},
    {"new-root", CLI_ONE, "HASH", "the newer root hash"},
    {"new-checkpoint", CLI_ONE, "FILE", "a signed checkpoint giving the newer size and root"},
    {"log-key", CLI_ONE, "VKEY", "the log's verifier key (with checkpoints)"},
    {"origin", CLI_ONE, "ORIGIN", "expected origin line (default: the log key's name)"},
    {NULL, CLI_FLAG, NULL, NULL},
};

static const struct cli_opt opts_keygen[] = {
    {"name", CLI_ONE, "NAME", "the key name (for a log: its origin)"},
    {"out", CLI_ONE, "FILE", "where to write the private key (mode 0600, must not exist)"},
    {"witness", CLI_FLAG, NULL, "make a cosignature/v1 witness key instead of a log key"},
    {NULL, CLI_FLAG, NULL, NULL},
};

static const struct cli_opt opts_sign[] = {
    {"key", CLI_ONE, "FILE", "private key file from `ktaudit keygen`"},
    {"out", CLI_ONE, "FILE", "write the signed note here (default: standard output)"},
    {"time", CLI_ONE, "UNIX", "cosignature timestamp (witness keys; default: now)"},
    {NULL, CLI_FLAG, NULL, NULL},
};

const struct cli_cmd cli_commands[] = {
    {"verify checkpoint",
     "FILE --log-key VKEY [--witness VKEY]... [--quorum K] [--max-age SECONDS]",
     "verify a signed checkpoint: log signature, origin, witness quorum, age",
     opts_verify_checkpoint, 1, 1, cmd_verify_checkpoint},
    {"verify inclusion",
     "--proof FILE (--entry FILE | --leaf-hash HASH) (--size N --root HASH | --checkpoint FILE "
     "--log-key VKEY) [--index N]",
     "verify that a leaf is in the tree (RFC 9162 2.1.3.2)", opts_verify_inclusion, 0, 0,
     cmd_verify_inclusion},
    {"verify consistency",
     "--proof FILE (--old-size N --old-root HASH | --old-checkpoint FILE) (--new-size N "
     "--new-root HASH | --new-checkpoint FILE) [--log-key VKEY]",
     "verify that a tree is an append-only extension of another (RFC 9162 2.1.4.2)",
     opts_verify_consistency, 0, 0, cmd_verify_consistency},
    CMD_TLOG_COMMANDS,
    CMD_EVIDENCE_COMMANDS,
    CMD_CT_COMMANDS,
    {"dir init", "DIR --origin ORIGIN --key PRIVATE_KEY_FILE",
     "create an empty key directory (the reference publisher)", opts_dir_init, 1, 1, cmd_dir_init},
    {"dir add",
     "DIR (--label L --key ALG:B64:DEVICE... [--auth-key PRIVATE_KEY_FILE] [--time UNIX] | "
     "--from FILE)",
     "queue key-directory updates (versions assigned per label)", opts_dir_add, 1, 1, cmd_dir_add},
    {"dir publish", "DIR [--cosign WITNESS_KEY_FILE]...",
     "append queued updates: tiles, entry bundles, signed checkpoint, lookup answers",
     opts_dir_publish, 1, 1, cmd_dir_publish},
    {"monitor", "--config FILE [--once [--exclusive]] [--check-config]",
     "audit the configured logs: verify, replay, alert (a foreground daemon)", opts_monitor, 0, 0,
     cmd_monitor},
    {"watch add", "LABEL (--key ALG:B64:DEVICE... | --tofu) --config FILE [--log NAME]",
     "watch a label's keys: pin a key set, or trust the first one seen", opts_watch_add, 1, 1,
     cmd_watch_add},
    {"watch approve", "LABEL VERSION --config FILE [--log NAME]",
     "approve a label's key change (the owner made it)", opts_watch_approve, 2, 2,
     cmd_watch_approve},
    {"watch list", "--config FILE [--log NAME]", "list watched labels and their approved keys",
     opts_watch_list, 0, 0, cmd_watch_list},
    {"history", "LABEL --config FILE [--log NAME]",
     "every version of a label: keys, leaf index, owner authorization", opts_history, 1, 1,
     cmd_history},
    {"check",
     "(--pins FILE [--update] [--lookups-only] | --candidate DIR --published URL --log-key VKEY "
     "[--origin ORIGIN]) [--allow-unauthorized] [--format text|json|junit|github] "
     "[--junit FILE] [--ca-file FILE]",
     "CI checks: a pin file's log and labels (users), or a candidate directory (providers)",
     opts_check, 0, 0, cmd_check},
    {"keygen", "--name NAME --out FILE [--witness]",
     "generate an Ed25519 signing key; print its verifier key", opts_keygen, 0, 0, cmd_keygen},
    {"sign", "--key FILE [--time UNIX] [--out FILE] FILE",
     "sign a note text (log key) or cosign a signed checkpoint (witness key)", opts_sign, 1, 1,
     cmd_sign},
};
const size_t cli_ncommands = sizeof(cli_commands) / sizeof(cli_commands[0]);

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: ktaudit COMMAND [OPTIONS]\n\ncommands:\n");
	for (i = 0; i < cli_ncommands; i++)
		fprintf(f, "  %-22s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fprintf(f, "\n`ktaudit COMMAND --help` shows a command's options.\n"
		   "Exit status: 0 valid, 1 invalid, 2 usage or malformed input, 3 could not "
		   "finish.\n");
}

/* The runtime versions, for bug reports: the libraries a binary runs with can
 * differ from those it was built against. */
static void print_version(void)
{
	struct kta_versions v;

	kta_versions_get(&v);
	printf("ktaudit %s\n", v.ktaudit);
	printf("  %s\n", v.openssl);
	printf("  libcurl %s%s%s\n", v.curl, v.curl_ssl[0] != '\0' ? " " : "", v.curl_ssl);
	printf("  jansson %s\n", v.jansson);
	printf("  SQLite %s\n", v.sqlite);
}

/* Machine-readable command and option table, one "COMMAND<TAB>--OPTION" line
 * per option (a command without options gets a line with an empty second
 * field); the man page test checks ktaudit(1) against it. */
static void list_options(void)
{
	size_t i, j;

	for (i = 0; i < cli_ncommands; i++) {
		const struct cli_opt *o = cli_commands[i].opts;

		printf("%s\t--json\n", cli_commands[i].name);
		for (j = 0; o != NULL && o[j].name != NULL; j++)
			printf("%s\t--%s\n", cli_commands[i].name, o[j].name);
	}
}

/* Matches argv against a command name of one or two words; returns words used. */
static int match(const struct cli_cmd *c, int argc, char **argv)
{
	const char *sp = strchr(c->name, ' ');

	if (sp == NULL)
		return strcmp(argv[0], c->name) == 0 ? 1 : 0;
	if (argc < 2 || strncmp(argv[0], c->name, (size_t)(sp - c->name)) != 0 ||
	    argv[0][sp - c->name] != '\0')
		return 0;
	return strcmp(argv[1], sp + 1) == 0 ? 2 : 0;
}

static int has_help(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct kta_error err;
	struct cli_args args;
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		print_version();
		return 0;
	}
	if (strcmp(argv[1], "--list-options") == 0) {
		list_options();
		return 0;
	}
	for (i = 0; i < cli_ncommands; i++) {
		int used = match(&cli_commands[i], argc - 1, argv + 1);

		if (used == 0)
			continue;
		if (has_help(argc - 1 - used, argv + 1 + used)) {
			cli_usage(&cli_commands[i], stdout);
			return 0;
		}
		kta_error_clear(&err);
		if (cli_parse(&cli_commands[i], argc - 1 - used, argv + 1 + used, &args, &err) !=
		    KTA_OK) {
			fprintf(stderr, "ktaudit: %s\n", err.msg);
			cli_usage(&cli_commands[i], stderr);
			return 2;
		}
		return cli_commands[i].run(&args);
	}
	fprintf(stderr, "ktaudit: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
