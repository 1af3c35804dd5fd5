/*
 * `ktaudit verify evidence FILE --log-key VKEY [--origin ORIGIN]`
 * (src/cli/cmd_evidence.c): checks an evidence bundle offline (evidence.h,
 * docs/alerts.md). The entry for the command table in main.c:
 *
 *   #include "cmd_evidence.h"
 *   const struct cli_cmd cli_commands[] = {
 *           ...,
 *           CMD_EVIDENCE_COMMANDS,
 *   };
 */
#ifndef KTA_CMD_EVIDENCE_H
#define KTA_CMD_EVIDENCE_H

#include "cli.h"

extern const struct cli_opt opts_verify_evidence[];

int cmd_verify_evidence(const struct cli_args *a);

#define CMD_VERIFY_EVIDENCE_SYNOPSIS "FILE --log-key VKEY [--origin ORIGIN]"
#define CMD_VERIFY_EVIDENCE_SUMMARY                                                                \
	"check an evidence bundle of log misbehaviour offline; print what it proves"

/* clang-format off */
#define CMD_EVIDENCE_COMMANDS                                                                      \
	{"verify evidence", CMD_VERIFY_EVIDENCE_SYNOPSIS, CMD_VERIFY_EVIDENCE_SUMMARY,             \
	 opts_verify_evidence, 1, 1, cmd_verify_evidence}
/* clang-format on */

#endif
