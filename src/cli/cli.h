/*
 * The ktaudit command-line front end: one table of commands and their
 * options (the single source for --help and the man page test), a strict
 * option parser, and output helpers. Uses public headers only.
 */
#ifndef KTA_CLI_H
#define KTA_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"

enum cli_kind {
	CLI_FLAG, /* no value; may appear once */
	CLI_ONE,  /* one value; may appear once */
	CLI_MANY, /* one value per occurrence; may repeat */
};

struct cli_opt {
	const char *name; /* without the leading "--" */
	enum cli_kind kind;
	const char *metavar; /* NULL for flags */
	const char *help;
};

#define CLI_MAX_OPTS 24
#define CLI_MAX_VALUES 64
#define CLI_MAX_POS 8

struct cli_cmd;

/* Parsed arguments of one command invocation; values borrow from argv. */
struct cli_args {
	const struct cli_cmd *cmd;
	const char *vals[CLI_MAX_OPTS][CLI_MAX_VALUES];
	size_t nvals[CLI_MAX_OPTS];
	const char *pos[CLI_MAX_POS];
	size_t npos;
	int json; /* --json given */
};

struct cli_cmd {
	const char *name;           /* "verify checkpoint" */
	const char *synopsis;       /* the part after the name */
	const char *summary;        /* one line */
	const struct cli_opt *opts; /* terminated by {NULL} */
	size_t min_pos, max_pos;
	int (*run)(const struct cli_args *a);
};

/* The command table (main.c) and its length. */
extern const struct cli_cmd cli_commands[];
extern const size_t cli_ncommands;

/*
 * Parses argv (after the command words) against cmd's options. Options are
 * "--name value", "--name=value" or "--name" for flags; "--" ends options; a
 * lone "-" is a positional (standard input). Unknown, duplicate or missing
 * values are usage errors (KTA_ERR_USAGE with a message).
 */
enum kta_status cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a,
			  struct kta_error *err);

/* The value of a CLI_ONE option, or NULL. */
const char *cli_get(const struct cli_args *a, const char *name);
/* Number of values of an option (0 when absent; 1 for a given flag). */
size_t cli_count(const struct cli_args *a, const char *name);
/* The i-th value of a CLI_MANY option. */
const char *cli_get_n(const struct cli_args *a, const char *name, size_t i);

/* Parses an option value as a canonical decimal; names the option in errors. */
enum kta_status cli_get_u64(const struct cli_args *a, const char *name, uint64_t *out,
			    struct kta_error *err);

/* Prints the usage of one command to f. */
void cli_usage(const struct cli_cmd *cmd, FILE *f);

/*
 * Finishes a command: prints the verdict and returns the exit code.
 * On KTA_OK prints `ok_line` (text mode) or `extra` with "valid": true
 * (--json). Otherwise prints "ktaudit: <msg>" to stderr and, on stdout,
 * "INVALID: <msg>" for a verification failure or, with --json, `extra`
 * with "valid": false and "error". Steals the reference to extra (may be NULL).
 */
int cli_finish(const struct cli_args *a, enum kta_status r, const struct kta_error *err,
	       const char *ok_line, json_t *extra);

/* Reads an input file ("-" = stdin) with a size limit; errors name the option. */
enum kta_status cli_read_file(const char *what, const char *path, size_t max, uint8_t **buf,
			      size_t *len, struct kta_error *err);

/* Command implementations (one file each under src/cli/). */
int cmd_verify_checkpoint(const struct cli_args *a);
int cmd_verify_inclusion(const struct cli_args *a);
int cmd_verify_consistency(const struct cli_args *a);
int cmd_keygen(const struct cli_args *a);
int cmd_sign(const struct cli_args *a);

#endif
