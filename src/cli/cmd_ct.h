/*
 * Certificate Transparency commands (src/cli/cmd_ct.c): `ktaudit verify sth`,
 * `ktaudit ct replay` and `ktaudit ct cycle`. For the command table in main.c:
 *
 *   #include "cmd_ct.h"
 *   const struct cli_cmd cli_commands[] = {
 *           ...,
 *           CMD_CT_COMMANDS,
 *   };
 */
#ifndef KTA_CMD_CT_H
#define KTA_CMD_CT_H

#include "cli.h"

extern const struct cli_opt opts_verify_sth[];
extern const struct cli_opt opts_ct_replay[];
extern const struct cli_opt opts_ct_cycle[];

int cmd_verify_sth(const struct cli_args *a);

struct kta_ct_key;
/*
 * A CT log's key, given as base64 DER inline or as a file (PEM or base64
 * DER) at v: *k is allocated, the caller frees it with kta_ct_key_free.
 * Errors are prefixed "--log-key".
 */
enum kta_status cli_ct_key_load(const char *v, struct kta_ct_key **k, struct kta_error *err);
int cmd_ct_replay(const struct cli_args *a);
int cmd_ct_cycle(const struct cli_args *a);

#define CMD_VERIFY_STH_SYNOPSIS "FILE --log-key PEM_FILE|BASE64_DER [--log-id ID]"
#define CMD_VERIFY_STH_SUMMARY                                                                     \
	"verify a saved RFC 6962 get-sth response: tree head signature, log ID"
#define CMD_CT_REPLAY_SYNOPSIS                                                                     \
	"URL --log-key PEM_FILE|BASE64_DER [--domain DOMAIN[=SPKI_SHA256[,...]]]... [--batch N] "  \
	"[--ca-file FILE]"
#define CMD_CT_REPLAY_SUMMARY                                                                      \
	"fetch a CT log's signed head and every entry, recompute the root, report watched domains"
#define CMD_CT_CYCLE_SYNOPSIS                                                                      \
	"URL --log-key PEM_FILE|BASE64_DER --state DIR [--name NAME] "                             \
	"[--domain DOMAIN[=SPKI_SHA256[,...]]]... [--batch N] [--max-entries N] [--ca-file FILE]"
#define CMD_CT_CYCLE_SUMMARY                                                                       \
	"one CT monitoring cycle with state: head, consistency, replay, domain watches, alerts"

/* clang-format off */
#define CMD_CT_COMMANDS                                                                            \
	{"verify sth", CMD_VERIFY_STH_SYNOPSIS, CMD_VERIFY_STH_SUMMARY, opts_verify_sth, 1, 1,     \
	 cmd_verify_sth},                                                                          \
	{"ct replay", CMD_CT_REPLAY_SYNOPSIS, CMD_CT_REPLAY_SUMMARY, opts_ct_replay, 1, 1,         \
	 cmd_ct_replay},                                                                           \
	{"ct cycle", CMD_CT_CYCLE_SYNOPSIS, CMD_CT_CYCLE_SUMMARY, opts_ct_cycle, 1, 1,             \
	 cmd_ct_cycle}
/* clang-format on */

#endif
