/*
 * `ktaudit verify lookup` and `ktaudit verify tiles` (src/cli/cmd_tlog.c):
 * the option tables, the command functions, and the two entries for the
 * command table in main.c:
 *
 *   #include "cmd_tlog.h"
 *   const struct cli_cmd cli_commands[] = {
 *           ...,
 *           CMD_TLOG_COMMANDS,
 *   };
 */
#ifndef KTA_CMD_TLOG_H
#define KTA_CMD_TLOG_H

#include "cli.h"

extern const struct cli_opt opts_verify_lookup[];
extern const struct cli_opt opts_verify_tiles[];

int cmd_verify_lookup(const struct cli_args *a);
int cmd_verify_tiles(const struct cli_args *a);

#define CMD_VERIFY_LOOKUP_SYNOPSIS                                                                 \
	"(FILE | URL | DIR_URL/ --label LABEL) --log-key VKEY [--label LABEL] [--origin ORIGIN] "  \
	"[--witness VKEY]... [--quorum K] [--ca-file FILE] [--config FILE [--log NAME]]"
#define CMD_VERIFY_LOOKUP_SUMMARY                                                                  \
	"verify a key-directory lookup answer: signed checkpoint, inclusion, label"
#define CMD_VERIFY_TILES_SYNOPSIS                                                                  \
	"URL --log-key VKEY [--origin ORIGIN] [--witness VKEY]... [--quorum K] [--ca-file FILE]"
#define CMD_VERIFY_TILES_SUMMARY                                                                   \
	"fetch a whole tlog-tiles log and check every tile and entry against the signed root"

/* clang-format off */
#define CMD_TLOG_COMMANDS                                                                          \
	{"verify lookup", CMD_VERIFY_LOOKUP_SYNOPSIS, CMD_VERIFY_LOOKUP_SUMMARY,                   \
	 opts_verify_lookup, 1, 1, cmd_verify_lookup},                                             \
	{"verify tiles", CMD_VERIFY_TILES_SYNOPSIS, CMD_VERIFY_TILES_SUMMARY,                      \
	 opts_verify_tiles, 1, 1, cmd_verify_tiles}
/* clang-format on */

#endif
