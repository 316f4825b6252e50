/* Preload library for tests: shifts the wall clock of the process it is loaded into by
 * CLOCKSHIFT_SECONDS (may be negative), so that a replica can run with another clock than its
 * primary. Monotonic clocks are left alone. It calls the kernel directly rather than the
 * next library symbol, so that allocators which read the clock while starting up (jemalloc)
 * do not recurse into it. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long shift_seconds(void) {
    static int loaded = 0;
    static long long shift = 0;
    if (!loaded) {
        const char *text = getenv("CLOCKSHIFT_SECONDS");
        shift = text ? atoll(text) : 0;
        loaded = 1;
    }
    return shift;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    long rc = syscall(SYS_clock_gettime, clock, ts);
    if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE))
        ts->tv_sec += shift_seconds();
    return (int)rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    long rc = syscall(SYS_gettimeofday, tv, tz);
    if (rc == 0 && tv) tv->tv_sec += shift_seconds();
    return (int)rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
