/*
 * worker_status.c -- what the benchmark workers read of themselves in
 * /proc/self/status (VmRSS, VmHWM). Compiled into every worker.
 *
 * open/read, never stdio: nothing here may allocate through the allocator
 * under test while it is being measured.
 */
#include "pmb_status.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long pmb_status_kb(const char *field) {
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    const char *line = strstr(buf, field);
    return line ? strtol(line + strlen(field), NULL, 10) : -1;
}
