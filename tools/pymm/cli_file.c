/*
 * cli_file.c -- the subcommands' input: a whole file in memory, bounded.
 *
 * Owns pymm_read_input and pymm_parse_size. A regular file is read into a
 * buffer of its size (one allocation); anything else (a pipe, a terminal,
 * a device such as /dev/zero) grows a buffer by doubling, and both stop
 * with an error as soon as more than the limit has been seen, so no input
 * can take the memory without bounds. Directories are refused by name:
 * read(2) on one says EISDIR, which stdio reports as a bare I/O error.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Read fd to its end into a buffer of at first `cap` bytes; NULL with why
 * filled when it holds more than limit bytes or on an error. */
static char *read_all(int fd, size_t cap, size_t limit, size_t *len, char *why, size_t why_size) {
    size_t n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            snprintf(why, why_size, "out of memory");
            return NULL;
        }
        if (n == cap) { /* full: grow, one byte beyond the limit at most */
            size_t bigger = cap <= limit / 2 ? cap * 2 : limit + 1;
            char *p = bigger > cap ? realloc(buf, bigger) : NULL;
            if (p == NULL) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = p;
            cap = bigger;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            snprintf(why, why_size, "%s", strerror(errno));
            free(buf);
            return NULL;
        }
        if (got == 0) break;
        n += (size_t)got;
        if (n > limit) {
            snprintf(why, why_size, "more than the limit of %zu bytes (--max-size)", limit);
            free(buf);
            return NULL;
        }
    }
    *len = n;
    return buf;
}

char *pymm_read_input(const char *path, size_t limit, size_t *len, char *why, size_t why_size) {
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_size, "%s", strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        snprintf(why, why_size, "is a directory");
    } else if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > limit) {
        snprintf(why, why_size, "%jd bytes, more than the limit of %zu bytes (--max-size)",
                 (intmax_t)st.st_size, limit);
    } else {
        /* A regular file fits in its size plus the NUL (a file still
         * growing grows the buffer); others start at 64 KiB. */
        size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : (size_t)1 << 16;
        buf = read_all(fd, cap, limit, len, why, why_size);
    }
    if (fd != STDIN_FILENO) close(fd);
    if (buf == NULL) return NULL;
    if (*len == SIZE_MAX) { /* cannot happen below the limit; keeps the + 1 honest */
        free(buf);
        snprintf(why, why_size, "too large");
        return NULL;
    }
    char *ended = realloc(buf, *len + 1);
    if (ended == NULL) {
        free(buf);
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    ended[*len] = '\0';
    return ended;
}

size_t pymm_parse_size(const char *text) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (end == text || errno != 0 || text[0] == '-') return 0;
    int shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (*end != '\0' || n > (SIZE_MAX >> shift)) return 0;
    return (size_t)n << shift;
}
