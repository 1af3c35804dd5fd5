/*
 * ktaudit: check reports for CI (pure, no I/O): a list of checks and the
 * findings behind them, rendered as text, JSON, JUnit XML or GitHub Actions
 * workflow commands (docs/ci.md has examples of each).
 *
 * A check has a group ("log", "label", "replay", ...), a name, a status, a
 * one-line message and optional JSON details. A finding is an alert
 * (alert.h) attached to one check, with the status it counted as (a finding
 * may fail a check or only warn). Statuses and exit codes:
 *
 *   status | meaning                                        | exit code
 *   -------+------------------------------------------------+----------------------------
 *   pass   | verified                                       | 0
 *   warn   | passed with a caveat (trust on first use, a    | 0
 *          | tolerated finding)                             |
 *   fail   | misbehaviour or an unapproved change           | 1
 *   error  | could not be checked; `cause` says why         | kta_status_exit_code(cause):
 *          |                                                | 2 bad input, 3 could not finish
 *   skip   | not run because an earlier check did not pass  | -
 *
 * The report's exit code (kta_report_exit_code) is 1 when any check failed,
 * else the exit code of the first error (2 or 3; an error never gives 0 or
 * 1), else 3 when a check was skipped (a report of skips alone is no pass),
 * else 0. Its result is "fail", "error" or "pass" in the same order.
 *
 * Output formats (kta_report_render; every output ends in "\n" and is a
 * function of the report alone: no clock, no environment):
 *
 *   text    TITLE line; "KEY: VALUE" per meta item; one line per check
 *           "STATUS GROUP NAME: MESSAGE" (STATUS = PASS, WARN, FAIL, ERROR, SKIP
 *           padded to 5 columns); its findings below it, "      - KIND: MESSAGE"; then
 *           "result: R (N checks: P passed, W warnings, F failed, E errors)".
 *           Control characters in messages are written as '?'.
 *   json    one object, two-space indented: {"report", "result", "exit_code",
 *           "meta": {...}, "summary": {"checks", "passed", "warnings", "failed",
 *           "errors", "skipped", "findings", "findings_not_listed"}, "checks": [{"group", "name",
 * "status", "message", "cause" (errors only), "details" (when given), "findings": [alert ids]}],
 * "findings": [{"check": "GROUP NAME", "status", "alert": alert JSON (alert.h)}]}. junit
 * <testsuites> with one <testsuite> (name TITLE), <properties> from the meta items, and one
 * <testcase classname="ktaudit.GROUP" name="NAME"> per check: <failure message type="fail"> for
 * fail, <error message type="CAUSE"> for error, and a <system-out> that starts "WARNING: " for
 * warn; the element text is the message and one "- KIND: MESSAGE" line per finding. Valid against
 *           tests/data/junit.xsd (the Jenkins/Ant JUnit schema). Text is
 *           XML-escaped (& < > " '), characters XML 1.0 forbids and bytes that
 *           are not UTF-8 become '?'.
 *   github  one line per check: a workflow command "::error title=T::M" for
 *           fail and error, "::warning title=T::M" for warn, a plain "PASS
 *           GROUP NAME: MESSAGE" (or "SKIP ...") line for pass and skip; then
 *           the result line. T is
 *           "TITLE: GROUP NAME"; M the message and one "- KIND: MESSAGE" line
 *           per finding. Escaping follows @actions/core: in M, '%' -> %25,
 *           '\r' -> %0D, '\n' -> %0A; in T also ':' -> %3A and ',' -> %2C.
 *           Plain lines never start with "::" (they start with "PASS", "SKIP"
 *           or "result") and contain no line break, so log text cannot inject
 *           a workflow command.
 *
 * Ownership: kta_report_new allocates the report; kta_report_free frees it.
 * Every string, JSON value and alert passed in is copied. kta_report_render
 * returns a malloc'd buffer the caller frees with free().
 */
#ifndef KTAUDIT_REPORT_H
#define KTAUDIT_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ktaudit/alert.h"
#include "ktaudit/error.h"

/* Most checks, findings and meta items in one report; findings beyond the
 * cap are counted (kta_report_dropped) but not kept, so a log full of
 * findings cannot exhaust memory. */
#define KTA_REPORT_MAX_CHECKS 100000u
#define KTA_REPORT_MAX_FINDINGS 10000u
#define KTA_REPORT_MAX_META 32u

enum kta_report_status {
	KTA_REPORT_PASS = 0,
	KTA_REPORT_WARN,
	KTA_REPORT_FAIL,
	KTA_REPORT_ERROR,
	KTA_REPORT_SKIP,
};

enum kta_report_format {
	KTA_REPORT_TEXT = 1,
	KTA_REPORT_JSON,
	KTA_REPORT_JUNIT,
	KTA_REPORT_GITHUB,
};

struct kta_report; /* opaque */

/* Counts by status. */
struct kta_report_summary {
	size_t checks, passed, warnings, failed, errors, skipped;
	size_t findings; /* findings kept */
	size_t dropped;  /* findings over KTA_REPORT_MAX_FINDINGS, not kept */
};

/* Allocates an empty report titled `title` (copied; e.g. "ktaudit check"). */
KTA_API enum kta_status kta_report_new(const char *title, struct kta_report **out,
				       struct kta_error *err) KTA_WUR;
KTA_API void kta_report_free(struct kta_report *r);

/* Adds a meta item (key, value), e.g. ("log", "example.com/dir"); kept in order. */
KTA_API enum kta_status kta_report_meta(struct kta_report *r, const char *key, const char *value,
					struct kta_error *err) KTA_WUR;

/*
 * Adds a check. cause is the status that stopped an ERROR check (ignored,
 * best KTA_OK, for the others). details may be NULL (copied
 * otherwise). fmt/... make the one-line message. KTA_ERR_LIMIT over
 * KTA_REPORT_MAX_CHECKS, KTA_ERR_NOMEM, KTA_ERR_USAGE (bad status).
 */
KTA_API enum kta_status kta_report_add(struct kta_report *r, const char *group, const char *name,
				       enum kta_report_status st, enum kta_status cause,
				       const json_t *details, struct kta_error *err,
				       const char *fmt, ...) KTA_PRINTF(8, 9) KTA_WUR;

/*
 * Attaches finding a (copied) with status st (warn, fail or error; others:
 * KTA_ERR_USAGE) to the check (group, name), which may be added before or
 * after. Over KTA_REPORT_MAX_FINDINGS the finding is counted as dropped and
 * KTA_OK is returned.
 */
KTA_API enum kta_status kta_report_finding(struct kta_report *r, const char *group,
					   const char *name, const struct kta_alert *a,
					   enum kta_report_status st,
					   struct kta_error *err) KTA_WUR;

/* Fills *s with the counts. */
KTA_API void kta_report_summary(const struct kta_report *r, struct kta_report_summary *s);

/* The exit code (0, 1, 2 or 3) as described above. */
KTA_API int kta_report_exit_code(const struct kta_report *r);

/* "pass", "warn", "fail", "error", "skip". */
KTA_API const char *kta_report_status_name(enum kta_report_status st);

/* Parses "text", "json", "junit" or "github"; KTA_ERR_USAGE otherwise. */
KTA_API enum kta_status kta_report_format_parse(const char *s, enum kta_report_format *out,
						struct kta_error *err) KTA_WUR;

/*
 * Renders r in format f into *out (malloc'd, NUL-terminated, *out_len
 * bytes without the NUL). KTA_ERR_NOMEM, KTA_ERR_USAGE (bad format).
 */
KTA_API enum kta_status kta_report_render(const struct kta_report *r, enum kta_report_format f,
					  char **out, size_t *out_len,
					  struct kta_error *err) KTA_WUR;

#endif
