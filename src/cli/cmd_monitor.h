/*
 * `ktaudit monitor`, `ktaudit watch add|approve|list` and `ktaudit history`:
 * the monitoring daemon and its operator commands (ktaudit/monitor.h).
 * The option tables are here so that main.c's command table can name them.
 */
#ifndef KTA_CMD_MONITOR_H
#define KTA_CMD_MONITOR_H

#include "cli.h"

extern const struct cli_opt opts_monitor[];
extern const struct cli_opt opts_watch_add[];
extern const struct cli_opt opts_watch_approve[];
extern const struct cli_opt opts_watch_list[];
extern const struct cli_opt opts_history[];

int cmd_monitor(const struct cli_args *a);
int cmd_watch_add(const struct cli_args *a);
int cmd_watch_approve(const struct cli_args *a);
int cmd_watch_list(const struct cli_args *a);
int cmd_history(const struct cli_args *a);

struct kta_lookup_result;
/*
 * For `verify lookup --config FILE [--log NAME]`: checks res, a verified
 * answer, against the audit in the configuration's state: it must be its
 * label's latest entry at its tree size (kta_lookup_check_latest, A6).
 * Returns 0, or an exit code when the configuration or state could not be
 * opened (the message already printed); with 0, *r is the check's status
 * and e its message.
 */
int cli_lookup_latest(const struct cli_args *a, const struct kta_lookup_result *res,
		      enum kta_status *r, struct kta_error *e);

#endif
