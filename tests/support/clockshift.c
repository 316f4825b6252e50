/* Preload library for tests: changes the wall clock of the process it is loaded into, so that
 * a server can run with another clock than its peers, have its clock stepped while it runs, or
 * have it frozen at an instant a test chooses. Monotonic clocks are left alone.
 *
 * Two controls:
 *   CLOCKSHIFT_FILE     a file holding one line, read again on every clock call:
 *                         "+N", "-N" or "N"   shift the clock by N microseconds
 *                         "@N"                the clock stands still at N microseconds since 1970
 *                       Write it in place (not by renaming another file over it). While it is
 *                       missing, empty or unreadable, the last line read stays in force.
 *   CLOCKSHIFT_SECONDS  a fixed shift in seconds, used when CLOCKSHIFT_FILE is not set.
 *
 * It calls the kernel directly rather than the next library symbol, so that allocators which
 * read the clock while starting up (jemalloc) do not recurse into it; the file is read with
 * plain system calls for the same reason.
 *
 * It also hides /proc/cpuinfo. Valkey, when that file lists the constant_tsc flag, reads the
 * wall clock once and extrapolates it with the processor's time-stamp counter for up to a
 * millisecond: a frozen clock then drifts by up to a millisecond from command to command. With
 * an empty cpuinfo it reads the wall clock every time. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct control {
    int frozen;           /* the clock stands at `value` */
    long long value;      /* microseconds: a shift, or an instant */
};

/* Parses "+N", "-N", "N" or "@N" (N in microseconds). Returns 0 when the text is not one. */
static int parse(const char *text, long len, struct control *out) {
    long i = 0;
    int frozen = 0, negative = 0, digits = 0;
    long long value = 0;
    if (i < len && text[i] == '@') { frozen = 1; i++; }
    else if (i < len && (text[i] == '+' || text[i] == '-')) { negative = text[i] == '-'; i++; }
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++, digits++)
        value = value * 10 + (text[i] - '0');
    if (!digits) return 0;
    out->frozen = frozen;
    out->value = negative ? -value : value;
    return 1;
}

static struct control current(void) {
    static int initialised = 0;
    static const char *path = NULL;
    static long fd = -1;
    static struct control control = {0, 0};
    if (!initialised) {
        path = getenv("CLOCKSHIFT_FILE");
        if (!path) {
            const char *seconds = getenv("CLOCKSHIFT_SECONDS");
            control.value = seconds ? atoll(seconds) * 1000000LL : 0;
        }
        initialised = 1;
    }
    if (!path) return control;
    if (fd < 0) fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return control;
    char buffer[64];
    long len = syscall(SYS_pread64, fd, buffer, sizeof buffer, 0);
    struct control parsed;
    if (len > 0 && parse(buffer, len, &parsed)) control = parsed;
    return control;
}

/* The wall clock as the process should see it, in microseconds, and the real one it comes
 * from (so that sub-microsecond digits carry over unchanged). */
static void shifted(clockid_t clock, struct timespec *ts) {
    struct control c = current();
    long long real = (long long)ts->tv_sec * 1000000LL + ts->tv_nsec / 1000;
    long long us = c.frozen ? c.value : real + c.value;
    long long nanos = c.frozen ? 0 : ts->tv_nsec % 1000;
    (void)clock;
    ts->tv_sec = us / 1000000LL;
    ts->tv_nsec = (us % 1000000LL) * 1000 + nanos;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    long rc = syscall(SYS_clock_gettime, clock, ts);
    if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE))
        shifted(clock, ts);
    return (int)rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    long rc = syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
    if (rc == 0) {
        shifted(CLOCK_REALTIME, &ts);
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    (void)tz;
    return (int)rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

/* fopen and fopen64: /proc/cpuinfo reads as an empty file (see the top of this file). */
static FILE *open_file(const char *symbol, const char *path, const char *mode) {
    FILE *(*next)(const char *, const char *) =
        (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, symbol);
    if (!next) return NULL;
    if (path && strcmp(path, "/proc/cpuinfo") == 0) path = "/dev/null";
    return next(path, mode);
}

FILE *fopen(const char *path, const char *mode) { return open_file("fopen", path, mode); }

FILE *fopen64(const char *path, const char *mode) { return open_file("fopen64", path, mode); }
