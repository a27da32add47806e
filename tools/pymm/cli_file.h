/*
 * cli_file.h -- reading a subcommand's input file whole, with a size limit
 * (tools/pymm only; not part of the library).
 */
#ifndef PYMM_CLI_FILE_H
#define PYMM_CLI_FILE_H

#include <stddef.h>

/* The default limit of an input's size: 256 MiB (`pymm json --max-size`). */
#define PYMM_CLI_MAX_INPUT ((size_t)256 << 20)

/* Read path ("-": standard input) whole into a malloc'd, NUL-ended buffer.
 * Refuses a directory, and any input longer than limit bytes (checked on
 * the size of a regular file before reading, and while reading anything
 * else: a pipe, /dev/zero). Returns the buffer with its length in *len, or
 * NULL with a message ("is a directory", ...) in why. */
char *pymm_read_input(const char *path, size_t limit, size_t *len, char *why, size_t why_size);

/* A size with an optional K, M or G suffix (powers of 1024): 0 when text
 * is not one, or is 0, or does not fit. */
size_t pymm_parse_size(const char *text);

#endif
