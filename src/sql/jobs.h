/*
 * jobs.h — enqueueing a sync job, shared by the SQL entry points (jobs.c).
 */
#ifndef SHOPIFY_SQL_JOBS_H
#define SHOPIFY_SQL_JOBS_H

#include "base/util.h"

extern void shopify_enqueue_job(int64 shop_id, const char *resource, bool full_sync,
								bool inventory, const ShopifyCaller *caller);

#endif
