/*
 * `ktaudit dir init|add|publish`: the reference publisher (ktaudit/publish.h).
 * The option tables are here so that main.c's command table can name them.
 */
#ifndef KTA_CMD_DIR_H
#define KTA_CMD_DIR_H

#include "cli.h"

extern const struct cli_opt opts_dir_init[];
extern const struct cli_opt opts_dir_add[];
extern const struct cli_opt opts_dir_publish[];

int cmd_dir_init(const struct cli_args *a);
int cmd_dir_add(const struct cli_args *a);
int cmd_dir_publish(const struct cli_args *a);

#endif
