/* Unit tests for check reports (ktaudit/report.h): exact outputs, escaping, JUnit schema. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktaudit/file.h"
#include "ktaudit/report.h"

static struct kta_alert *make_alert(void)
{
	struct kta_alert *a = NULL;

	assert_int_equal(kta_alert_new(KTA_ALERT_UNAUTHORIZED_UPDATE, "example.com/dir", 1764143000,
				       "bob version 2 (leaf 4): no key of version 1 signed this "
				       "update",
				       &a, NULL),
			 KTA_OK);
	assert_int_equal(kta_alert_set_label(a, "bob", 2, NULL), KTA_OK);
	a->has_leaf_index = 1;
	a->leaf_index = 4;
	a->size = 5;
	assert_int_equal(kta_alert_set_id(a, NULL), KTA_OK);
	return a;
}

/* The fixed report: every status, a finding, markup and a '%' in messages. */
static struct kta_report *fixed(struct kta_alert **alert)
{
	struct kta_report *r = NULL;
	struct kta_alert *a = make_alert();
	json_t *d = json_pack("{s:i}", "size", 5);

	assert_int_equal(kta_report_new("ktaudit check", &r, NULL), KTA_OK);
	assert_int_equal(kta_report_meta(r, "mode", "pins", NULL), KTA_OK);
	assert_int_equal(kta_report_meta(r, "log", "example.com/dir", NULL), KTA_OK);
	assert_int_equal(
	    kta_report_add(r, "log", "checkpoint", KTA_REPORT_PASS, KTA_OK, d, NULL, "size %d", 5),
	    KTA_OK);
	assert_int_equal(kta_report_add(r, "log", "consistency", KTA_REPORT_WARN, KTA_OK, NULL,
					NULL, "trusting size 5 on first use"),
			 KTA_OK);
	assert_int_equal(kta_report_add(r, "replay", "authorization", KTA_REPORT_FAIL, KTA_OK, NULL,
					NULL, "1 unauthorized"),
			 KTA_OK);
	/* The finding is attached to a check added before it. */
	assert_int_equal(kta_report_finding(r, "replay", "authorization", a, KTA_REPORT_FAIL, NULL),
			 KTA_OK);
	assert_int_equal(kta_report_add(r, "label", "<a&b \"q\">", KTA_REPORT_FAIL, KTA_OK, NULL,
					NULL, "key set differs: 1 added, 'x' & <y>"),
			 KTA_OK);
	assert_int_equal(kta_report_add(r, "replay", "entries", KTA_REPORT_ERROR, KTA_ERR_IO, NULL,
					NULL, "could not fetch: 100%% lost, a,b: c"),
			 KTA_OK);
	assert_int_equal(
	    kta_report_add(r, "label", "carol", KTA_REPORT_SKIP, KTA_OK, NULL, NULL, "not checked"),
	    KTA_OK);
	json_decref(d);
	*alert = a;
	return r;
}

static char *render(const struct kta_report *r, enum kta_report_format f)
{
	char *out = NULL;
	size_t len = 0;
	struct kta_error err;

	assert_int_equal(kta_report_render(r, f, &out, &len, &err), KTA_OK);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

static void text_exact(void **state)
{
	static const char want[] =
	    "ktaudit check\n"
	    "mode: pins\n"
	    "log: example.com/dir\n"
	    "PASS  log checkpoint: size 5\n"
	    "WARN  log consistency: trusting size 5 on first use\n"
	    "FAIL  replay authorization: 1 unauthorized\n"
	    "      - unauthorized_update: bob version 2 (leaf 4): no key of version 1 signed this "
	    "update\n"
	    "FAIL  label <a&b \"q\">: key set differs: 1 added, 'x' & <y>\n"
	    "ERROR replay entries: could not fetch: 100% lost, a,b: c\n"
	    "SKIP  label carol: not checked\n"
	    "result: fail (6 checks: 1 passed, 1 warnings, 2 failed, 1 errors, 1 skipped)\n";
	struct kta_alert *a;
	struct kta_report *r = fixed(&a);
	char *out = render(r, KTA_REPORT_TEXT);

	(void)state;
	assert_string_equal(out, want);
	free(out);
	kta_report_free(r);
	kta_alert_free(a);
}

static void junit_exact(void **state)
{
	static const char want[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<testsuites name=\"ktaudit check\" tests=\"6\" failures=\"2\" errors=\"1\" "
	    "skipped=\"1\">\n"
	    "  <testsuite name=\"ktaudit check\" tests=\"6\" failures=\"2\" errors=\"1\" "
	    "skipped=\"1\">\n"
	    "    <properties>\n"
	    "      <property name=\"mode\" value=\"pins\"/>\n"
	    "      <property name=\"log\" value=\"example.com/dir\"/>\n"
	    "    </properties>\n"
	    "    <testcase classname=\"ktaudit.log\" name=\"checkpoint\"/>\n"
	    "    <testcase classname=\"ktaudit.log\" name=\"consistency\">\n"
	    "      <system-out>WARNING: trusting size 5 on first use</system-out>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"ktaudit.replay\" name=\"authorization\">\n"
	    "      <failure message=\"1 unauthorized\" type=\"fail\">1 unauthorized\n"
	    "- unauthorized_update: bob version 2 (leaf 4): no key of version 1 signed this "
	    "update</failure>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"ktaudit.label\" name=\"&lt;a&amp;b &quot;q&quot;&gt;\">\n"
	    "      <failure message=\"key set differs: 1 added, &apos;x&apos; &amp; &lt;y&gt;\" "
	    "type=\"fail\">key set differs: 1 added, &apos;x&apos; &amp; &lt;y&gt;</failure>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"ktaudit.replay\" name=\"entries\">\n"
	    "      <error message=\"could not fetch: 100% lost, a,b: c\" type=\"I/O error\">could "
	    "not fetch: 100% lost, a,b: c</error>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"ktaudit.label\" name=\"carol\">\n"
	    "      <skipped message=\"not checked\"/>\n"
	    "    </testcase>\n"
	    "  </testsuite>\n"
	    "</testsuites>\n";
	struct kta_alert *a;
	struct kta_report *r = fixed(&a);
	char *out = render(r, KTA_REPORT_JUNIT);

	(void)state;
	if (strcmp(out, want) != 0)
		fail_msg("junit output:\n%s", out);
	free(out);
	kta_report_free(r);
	kta_alert_free(a);
}

static void github_exact(void **state)
{
	static const char want[] =
	    "PASS log checkpoint: size 5\n"
	    "::warning title=ktaudit check%3A log consistency::trusting size 5 on first use\n"
	    "::error title=ktaudit check%3A replay authorization::1 unauthorized%0A- "
	    "unauthorized_update: bob version 2 (leaf 4): no key of version 1 signed this update\n"
	    "::error title=ktaudit check%3A label <a&b \"q\">::key set differs: 1 added, 'x' & "
	    "<y>\n"
	    "::error title=ktaudit check%3A replay entries::could not fetch: 100%25 lost, a,b: c\n"
	    "SKIP label carol: not checked\n"
	    "result: fail (6 checks: 1 passed, 1 warnings, 2 failed, 1 errors, 1 skipped)\n";
	struct kta_alert *a;
	struct kta_report *r = fixed(&a);
	char *out = render(r, KTA_REPORT_GITHUB);

	(void)state;
	if (strcmp(out, want) != 0)
		fail_msg("github output:\n%s", out);
	free(out);
	kta_report_free(r);
	kta_alert_free(a);
}

static void json_members(void **state)
{
	struct kta_alert *a;
	struct kta_report *r = fixed(&a);
	char *out = render(r, KTA_REPORT_JSON);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je), *c, *f, *aj;

	(void)state;
	assert_non_null(j);
	assert_int_equal(out[strlen(out) - 1], '\n');
	assert_string_equal(json_string_value(json_object_get(j, "report")), "ktaudit check");
	assert_string_equal(json_string_value(json_object_get(j, "result")), "fail");
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "meta"), "log")),
			    "example.com/dir");
	c = json_object_get(j, "summary");
	assert_int_equal(json_integer_value(json_object_get(c, "checks")), 6);
	assert_int_equal(json_integer_value(json_object_get(c, "failed")), 2);
	assert_int_equal(json_integer_value(json_object_get(c, "skipped")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "findings")), 1);
	c = json_object_get(j, "checks");
	assert_int_equal(json_array_size(c), 6);
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "status")),
			    "pass");
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(json_array_get(c, 0), "details"), "size")),
			 5);
	assert_null(json_object_get(json_array_get(c, 1), "details"));
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(json_array_get(c, 2), "findings"), 0)),
	    a->id);
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 3), "name")),
			    "<a&b \"q\">");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 4), "cause")),
			    "I/O error");
	assert_null(json_object_get(json_array_get(c, 3), "cause"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 5), "status")),
			    "skip");
	f = json_array_get(json_object_get(j, "findings"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "check")), "replay authorization");
	assert_string_equal(json_string_value(json_object_get(f, "status")), "fail");
	aj = kta_alert_to_json(a);
	assert_true(json_equal(json_object_get(f, "alert"), aj));
	json_decref(aj);
	json_decref(j);
	free(out);
	kta_report_free(r);
	kta_alert_free(a);
}

static void exit_codes(void **state)
{
	struct kta_report *r = NULL;

	(void)state;
	assert_int_equal(kta_report_new("t", &r, NULL), KTA_OK);
	assert_int_equal(kta_report_exit_code(r), 0); /* nothing checked, nothing wrong */
	assert_int_equal(kta_report_add(r, "a", "b", KTA_REPORT_PASS, KTA_OK, NULL, NULL, "x"),
			 KTA_OK);
	assert_int_equal(kta_report_add(r, "a", "c", KTA_REPORT_WARN, KTA_OK, NULL, NULL, "x"),
			 KTA_OK);
	assert_int_equal(kta_report_exit_code(r), 0);
	assert_int_equal(kta_report_add(r, "a", "d", KTA_REPORT_SKIP, KTA_OK, NULL, NULL, "x"),
			 KTA_OK);
	assert_int_equal(kta_report_exit_code(r), 3); /* skips alone are no pass */
	assert_int_equal(
	    kta_report_add(r, "a", "e", KTA_REPORT_ERROR, KTA_ERR_MALFORMED, NULL, NULL, "x"),
	    KTA_OK);
	assert_int_equal(kta_report_exit_code(r), 2);
	assert_int_equal(kta_report_add(r, "a", "f", KTA_REPORT_ERROR, KTA_ERR_IO, NULL, NULL, "x"),
			 KTA_OK);
	assert_int_equal(kta_report_exit_code(r), 2); /* the first error decides */
	assert_int_equal(kta_report_add(r, "a", "g", KTA_REPORT_FAIL, KTA_OK, NULL, NULL, "x"),
			 KTA_OK);
	assert_int_equal(kta_report_exit_code(r), 1); /* a failure beats every error */
	kta_report_free(r);

	assert_int_equal(kta_report_new("t", &r, NULL), KTA_OK);
	/* An error whose cause is not an error still never passes. */
	assert_int_equal(kta_report_add(r, "a", "b", KTA_REPORT_ERROR, KTA_OK, NULL, NULL, "x"),
			 KTA_OK);
	assert_int_equal(kta_report_exit_code(r), 3);
	kta_report_free(r);
	assert_int_equal(kta_report_exit_code(NULL), 3);
}

static void rejects(void **state)
{
	struct kta_report *r = NULL;
	struct kta_alert *a = make_alert();
	enum kta_report_format f;
	struct kta_error err;
	char *out = (char *)"x";
	size_t len = 1;

	(void)state;
	assert_int_equal(kta_report_new("t", &r, NULL), KTA_OK);
	assert_int_equal(
	    kta_report_add(r, "a", "b", (enum kta_report_status)9, KTA_OK, NULL, &err, "x"),
	    KTA_ERR_USAGE);
	assert_int_equal(kta_report_add(r, NULL, "b", KTA_REPORT_PASS, KTA_OK, NULL, &err, "x"),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_report_finding(r, "a", "b", a, KTA_REPORT_PASS, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_report_finding(r, "a", "b", a, KTA_REPORT_SKIP, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_report_finding(r, "a", "b", NULL, KTA_REPORT_FAIL, &err),
			 KTA_ERR_USAGE);
	assert_int_equal(kta_report_render(r, (enum kta_report_format)0, &out, &len, &err),
			 KTA_ERR_USAGE);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(kta_report_format_parse("junit", &f, &err), KTA_OK);
	assert_int_equal(f, KTA_REPORT_JUNIT);
	assert_int_equal(kta_report_format_parse("github", &f, &err), KTA_OK);
	assert_int_equal(f, KTA_REPORT_GITHUB);
	assert_int_equal(kta_report_format_parse("JUnit", &f, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "\"JUnit\""));
	assert_int_equal(kta_report_format_parse("xml", &f, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_report_format_parse(NULL, &f, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_report_meta(r, "k", NULL, &err), KTA_ERR_USAGE);
	kta_report_free(r);
	kta_alert_free(a);
	kta_report_free(NULL);
}

/* Findings of many checks, added in any order, are listed under their own check. */
static void findings_by_check(void **state)
{
	struct kta_report *r = NULL;
	struct kta_alert *a = make_alert();
	char *out;

	(void)state;
	assert_int_equal(kta_report_new("t", &r, NULL), KTA_OK);
	assert_int_equal(kta_report_finding(r, "z", "z", a, KTA_REPORT_WARN, NULL), KTA_OK);
	assert_int_equal(kta_report_add(r, "a", "a", KTA_REPORT_FAIL, KTA_OK, NULL, NULL, "A"),
			 KTA_OK);
	assert_int_equal(kta_report_finding(r, "a", "a", a, KTA_REPORT_FAIL, NULL), KTA_OK);
	assert_int_equal(kta_report_add(r, "a", "ab", KTA_REPORT_PASS, KTA_OK, NULL, NULL, "AB"),
			 KTA_OK);
	assert_int_equal(kta_report_add(r, "z", "z", KTA_REPORT_WARN, KTA_OK, NULL, NULL, "Z"),
			 KTA_OK);
	assert_int_equal(kta_report_finding(r, "a", "a", a, KTA_REPORT_FAIL, NULL), KTA_OK);
	out = render(r, KTA_REPORT_TEXT);
	assert_string_equal(out,
			    "t\n"
			    "FAIL  a a: A\n"
			    "      - unauthorized_update: bob version 2 (leaf 4): no key of "
			    "version 1 signed this update\n"
			    "      - unauthorized_update: bob version 2 (leaf 4): no key of "
			    "version 1 signed this update\n"
			    "PASS  a ab: AB\n"
			    "WARN  z z: Z\n"
			    "      - unauthorized_update: bob version 2 (leaf 4): no key of "
			    "version 1 signed this update\n"
			    "result: fail (3 checks: 1 passed, 1 warnings, 1 failed, 0 errors, "
			    "0 skipped)\n");
	free(out);
	kta_report_free(r);
	kta_alert_free(a);
}

/* Runs xmllint on (xml) against tests/data/junit.xsd, quietly and without a
 * shell; returns its exit status (see tu_run: 0 only when it validates). */
static int xmllint(const char *xml)
{
	char path[] = "/tmp/kta_junit_XXXXXX", schema[4096];
	const char *argv[] = {"xmllint", "--noout", "--schema", schema, path, NULL};
	int fd, st, k;
	size_t n = strlen(xml);

	k = snprintf(schema, sizeof(schema), "%s/tests/data/junit.xsd", KTA_SRCDIR);
	assert_true(k > 0 && (size_t)k < sizeof(schema));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, xml, n), (ssize_t)n);
	close(fd);
	st = tu_run(argv, 1);
	unlink(path);
	return st;
}

static void junit_schema(void **state)
{
	struct kta_alert *a;
	struct kta_report *r = fixed(&a);
	char *out = render(r, KTA_REPORT_JUNIT);

	(void)state;
	{
		const char *const version[] = {"xmllint", "--version", NULL};

		assert_int_equal(tu_run(version, 1), 0);
	}
	assert_int_equal(xmllint(out), 0);
	/* The schema is not vacuous: a broken document is rejected. */
	assert_int_not_equal(xmllint("<testsuites><testsuite/></testsuites>\n"), 0);
	assert_int_not_equal(
	    xmllint("<testsuites><testsuite name=\"x\" tests=\"1\"><testcase/></testsuite>"
		    "</testsuites>\n"),
	    0);
	free(out);
	kta_report_free(r);
	kta_alert_free(a);
}

/* Hostile text (controls, invalid UTF-8, U+FFFE, "]]>", "--") stays well formed. */
static void junit_hostile(void **state)
{
	struct kta_report *r = NULL;
	char *out;

	(void)state;
	assert_int_equal(kta_report_new("t]]>--", &r, NULL), KTA_OK);
	assert_int_equal(kta_report_meta(r, "k\x01", "v\x1b[31m", NULL), KTA_OK);
	assert_int_equal(kta_report_add(r, "g", "bad\xff\xfe", KTA_REPORT_FAIL, KTA_OK, NULL, NULL,
					"a\tb\nc\rd \xef\xbf\xbe \xc2\x85 <![CDATA[x]]>"),
			 KTA_OK);
	assert_int_equal(kta_report_add(r, "g", "ok", KTA_REPORT_WARN, KTA_OK, NULL, NULL,
					"caf\xc3\xa9 \xe2\x9c\x93 &amp;"),
			 KTA_OK);
	out = render(r, KTA_REPORT_JUNIT);
	assert_int_equal(xmllint(out), 0);
	assert_non_null(strstr(out, "name=\"bad??\""));
	assert_non_null(strstr(out, "message=\"a&#9;b&#10;c&#13;d ? ? &lt;![CDATA[x]]&gt;\""));
	assert_non_null(strstr(out, ">a\tb\nc&#13;d ? ? &lt;![CDATA[x]]&gt;</failure>"));
	assert_non_null(strstr(out, "WARNING: caf\xc3\xa9 \xe2\x9c\x93 &amp;amp;"));
	assert_non_null(strstr(out, "value=\"v?[31m\""));
	free(out);
	/* Text and GitHub output: no raw control characters, no line breaks inside a line. */
	out = render(r, KTA_REPORT_TEXT);
	assert_non_null(strstr(out, "FAIL  g bad\xff\xfe: a?b?c?d"));
	assert_null(strchr(out, '\x1b'));
	free(out);
	out = render(r, KTA_REPORT_GITHUB);
	assert_non_null(strstr(out, "::error title=t]]>--%3A g bad\xff\xfe::a?b%0Ac%0Dd"));
	assert_null(strchr(out, '\t'));
	free(out);
	kta_report_free(r);
}

static void finding_cap(void **state)
{
	struct kta_report *r = NULL;
	struct kta_alert *a = make_alert();
	struct kta_report_summary s;
	size_t i;
	char *out;

	(void)state;
	assert_int_equal(kta_report_new("t", &r, NULL), KTA_OK);
	assert_int_equal(kta_report_add(r, "g", "n", KTA_REPORT_FAIL, KTA_OK, NULL, NULL, "m"),
			 KTA_OK);
	for (i = 0; i < KTA_REPORT_MAX_FINDINGS + 5; i++)
		assert_int_equal(kta_report_finding(r, "g", "n", a, KTA_REPORT_FAIL, NULL), KTA_OK);
	kta_report_summary(r, &s);
	assert_int_equal(s.findings, KTA_REPORT_MAX_FINDINGS);
	assert_int_equal(s.dropped, 5);
	out = render(r, KTA_REPORT_TEXT);
	assert_non_null(strstr(out, "(5 more findings not listed)\n"));
	free(out);
	kta_report_free(r);
	kta_alert_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(text_exact),        cmocka_unit_test(junit_exact),
	    cmocka_unit_test(github_exact),      cmocka_unit_test(json_members),
	    cmocka_unit_test(exit_codes),        cmocka_unit_test(rejects),
	    cmocka_unit_test(findings_by_check), cmocka_unit_test(junit_schema),
	    cmocka_unit_test(junit_hostile),     cmocka_unit_test(finding_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
