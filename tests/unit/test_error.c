/* Error messages and statuses (error.h): set, prefix, wrap, exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ktaudit/error.h"

static void set_and_prefix(void **state)
{
	struct kta_error e;

	(void)state;
	kta_error_clear(&e);
	assert_string_equal(e.msg, "");
	assert_int_equal(kta_error_set(&e, KTA_ERR_MALFORMED, "line %d: bad", 3),
			 KTA_ERR_MALFORMED);
	assert_int_equal(e.status, KTA_ERR_MALFORMED);
	assert_string_equal(e.msg, "line 3: bad");
	assert_int_equal(kta_error_prefix(&e, "%s", "file.txt"), KTA_ERR_MALFORMED);
	assert_string_equal(e.msg, "file.txt: line 3: bad");
	/* NULL err: set keeps its status; prefix cannot know it. */
	assert_int_equal(kta_error_set(NULL, KTA_ERR_VERIFY, "x"), KTA_ERR_VERIFY);
	assert_int_equal(kta_error_prefix(NULL, "x"), KTA_ERR_INTERNAL);
}

static void wrap_keeps_status(void **state)
{
	struct kta_error e;

	(void)state;
	kta_error_clear(&e);
	(void)kta_error_set(&e, KTA_ERR_LIMIT, "too long");
	assert_int_equal(kta_error_wrap(&e, KTA_ERR_LIMIT, "field %s", "label"), KTA_ERR_LIMIT);
	assert_string_equal(e.msg, "field label: too long");
	/* With err NULL the caller's status comes back, not KTA_ERR_INTERNAL. */
	assert_int_equal(kta_error_wrap(NULL, KTA_ERR_MALFORMED, "field"), KTA_ERR_MALFORMED);
	assert_int_equal(kta_error_wrap(NULL, KTA_ERR_VERIFY, "field"), KTA_ERR_VERIFY);
}

static void truncation(void **state)
{
	struct kta_error e;
	char big[2 * KTA_ERROR_MSG_MAX];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kta_error_clear(&e);
	(void)kta_error_set(&e, KTA_ERR_IO, "%s", big);
	assert_int_equal(strlen(e.msg), KTA_ERROR_MSG_MAX - 1);
	(void)kta_error_wrap(&e, KTA_ERR_IO, "%s", big);
	assert_int_equal(strlen(e.msg), KTA_ERROR_MSG_MAX - 1);
	assert_int_equal(e.msg[0], 'a');
}

static void exit_codes(void **state)
{
	(void)state;
	assert_int_equal(kta_status_exit_code(KTA_OK), 0);
	assert_int_equal(kta_status_exit_code(KTA_ERR_VERIFY), 1);
	assert_int_equal(kta_status_exit_code(KTA_ERR_MALFORMED), 2);
	assert_int_equal(kta_status_exit_code(KTA_ERR_LIMIT), 2);
	assert_int_equal(kta_status_exit_code(KTA_ERR_USAGE), 2);
	assert_int_equal(kta_status_exit_code(KTA_ERR_IO), 3);
	assert_int_equal(kta_status_exit_code(KTA_ERR_NOMEM), 3);
	assert_int_equal(kta_status_exit_code(KTA_ERR_INTERNAL), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(set_and_prefix),
	    cmocka_unit_test(wrap_keeps_status),
	    cmocka_unit_test(truncation),
	    cmocka_unit_test(exit_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
