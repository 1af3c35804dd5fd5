/*
 * `ktaudit monitor`, `ktaudit watch add|approve|list` and `ktaudit history`:
 * the monitoring daemon and its operator commands (ktaudit/monitor.h).
 * The option tables are here so that main.c's command table can name them.
 */
#ifndef KTA_CMD_MONITOR_H
#define KTA_CMD_MONITOR_H

#include <stdint.h>

#include "cli.h"
#include "ktaudit/config.h"

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
struct kta_lookup;
struct kta_vkey;
/* What the audit had verified: the stored checkpoint's size and when it
 * was stored (Unix seconds); 0 when there is none. */
struct cli_audit {
	uint64_t size;
	int64_t at;
	char evidence[KTA_CONFIG_PATH_MAX + 64]; /* a fork's evidence bundle written; "" if none */
};
/*
 * For `verify lookup --config FILE [--log NAME]`: checks res, the answer l
 * (read from where, which its messages name) verified under log_key,
 * against the audit in the configuration's state: its tree must not
 * contradict the audited one (kta_lookup_check_tree, A3/A4: a fork's
 * evidence bundle goes to the configuration's evidence_dir, its path to
 * out->evidence), and it must be its label's latest entry
 * (kta_lookup_check_latest, A6). The configuration's log must have the
 * answer's origin and log_key. Returns the status (e its message: the
 * check's, or why the configuration or state could not be opened); *out
 * is the audit's size and time.
 */
enum kta_status cli_lookup_audit(const struct cli_args *a, const char *where,
				 const struct kta_lookup *l, const struct kta_lookup_result *res,
				 const struct kta_vkey *log_key, struct cli_audit *out,
				 struct kta_error *e);

#endif
