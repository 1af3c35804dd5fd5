/*
 * An LD_PRELOAD shim for clock-fault tests (tests/cli/test_clock.sh): the
 * wall clock of the process, as seen through time(), gettimeofday() and
 * clock_gettime(CLOCK_REALTIME*), is shifted by KTA_FAKECLOCK_OFFSET
 * seconds (a signed decimal; unset or unparseable = 0). CLOCK_MONOTONIC and
 * the other clocks are untouched, like a real system whose clock was set
 * wrong: timers and timeouts still work.
 *
 * Build: cc -shared -fPIC -o fakeclock.so fakeclock.c -ldl
 * Use:   KTA_FAKECLOCK_OFFSET=86400 LD_PRELOAD=/path/fakeclock.so ktaudit ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static long fake_offset(void)
{
	const char *s = getenv("KTA_FAKECLOCK_OFFSET");
	char *end = NULL;
	long v;

	if (s == NULL || *s == '\0')
		return 0;
	v = strtol(s, &end, 10);
	return end != NULL && *end == '\0' ? v : 0;
}

/* The next definition of `name` (libc's), through a data pointer as POSIX
 * dlsym() requires (ISO C has no cast from void * to a function pointer). */
static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int (*real)(clockid_t, struct timespec *);
	void *p = next("clock_gettime");
	int r;

	if (p == NULL)
		return -1;
	memcpy(&real, &p, sizeof(real));
	r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += fake_offset();
	return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	int (*real)(struct timeval *, void *);
	void *p = next("gettimeofday");
	int r;

	if (p == NULL)
		return -1;
	memcpy(&real, &p, sizeof(real));
	r = real(tv, tz);
	if (r == 0)
		tv->tv_sec += fake_offset();
	return r;
}

time_t time(time_t *t)
{
	struct timespec ts;
	time_t v;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (time_t)-1;
	v = ts.tv_sec;
	if (t != NULL)
		*t = v;
	return v;
}
