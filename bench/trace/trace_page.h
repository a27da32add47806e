/*
 * trace_page.h -- the html-page case of `pymm bench trace` (trace_page.c):
 * headless Chromium's load time of the HTML report of a big capture.
 */
#ifndef PMB_TRACE_PAGE_H
#define PMB_TRACE_PAGE_H

#include "pmb_report.h"

typedef struct pmb_page pmb_page;

/* Traces the big capture with worker (pymm-bench-trace-pymm) into dir and
 * writes its two pages with the pymm command, recording their sizes and
 * the report's time; NULL for want of memory. A page that cannot be
 * made (or no chromium, python3, cdp.py) leaves a note, and the rounds
 * then measure nothing. */
pmb_page *pmb_page_prepare(const char *pymm, const char *worker, const char *dir, pmb_records *recs,
                           pmb_notes *notes);
/* One round: both pages loaded in one headless Chromium. */
void pmb_page_round(pmb_page *p, int round, pmb_records *recs, pmb_notes *notes);
/* The table of the case (nothing when it was not measured). */
void pmb_page_print(const pmb_records *recs);
/* Removes the pages; p may be NULL. */
void pmb_page_free(pmb_page *p);

#endif
