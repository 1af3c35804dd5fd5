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

#endif
