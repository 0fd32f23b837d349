/* rusage OUT COMMAND [ARGS...] — run COMMAND and write one line to the file
 * OUT: its wall time, its CPU time (user and system, of it and of the
 * descendants it waited for) and its peak RSS (the largest of those), from
 * wait4(2), in microseconds and KiB:
 *     wall_us=N user_us=N sys_us=N maxrss_kb=N
 * Exits with COMMAND's exit status (128 + signal if it was killed).
 * perl/bench/bench.sh compiles it into target/bench/ for run.pl. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long us(struct timeval tv) { return (long long)tv.tv_sec * 1000000 + tv.tv_usec; }

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT COMMAND [ARGS...]\n", argv[0]);
        return 64;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rusage: fork: %s\n", strerror(errno));
        return 71;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rusage: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "rusage: wait4: %s\n", strerror(errno));
            return 71;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    FILE *out = fopen(argv[1], "w");
    if (!out || fprintf(out, "wall_us=%lld user_us=%lld sys_us=%lld maxrss_kb=%ld\n", wall,
                        us(ru.ru_utime), us(ru.ru_stime), ru.ru_maxrss) < 0 || fclose(out) != 0) {
        fprintf(stderr, "rusage: cannot write %s: %s\n", argv[1], strerror(errno));
        return 71;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}
