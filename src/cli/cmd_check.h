/*
 * `ktaudit check`: CI checks of a key directory (ktaudit/check.h), for users
 * (--pins) and providers (--candidate). The option table is here so that
 * main.c's command table can name it.
 */
#ifndef KTA_CMD_CHECK_H
#define KTA_CMD_CHECK_H

#include "cli.h"

extern const struct cli_opt opts_check[];

int cmd_check(const struct cli_args *a);

#endif
