/*
 * events.h — applying webhook events in the worker.
 */
#ifndef SHOPIFY_EVENTS_H
#define SHOPIFY_EVENTS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* told of a bulk operation finished (the worker polls its task at once) */
typedef void (*EventsBulkFinished) (int64 shop_id, const char *bulk_gid);

extern int	events_process(int limit, TimestampTz *next_due, bool *more,
						   EventsBulkFinished bulk_finished);

#endif
