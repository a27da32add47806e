/*
 * pmb_status.h -- the workers' view of /proc/self/status (worker_status.c).
 */
#ifndef PMB_STATUS_H
#define PMB_STATUS_H

/* The value in KiB of a /proc/self/status field such as "VmRSS:" or
 * "VmHWM:" (the colon included), or -1. Allocates nothing. */
long pmb_status_kb(const char *field);

#endif /* PMB_STATUS_H */
