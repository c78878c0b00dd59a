/*
 * events.h — applying webhook events in the worker.
 */
#ifndef SHOPIFY_EVENTS_H
#define SHOPIFY_EVENTS_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern int	events_process(int limit, TimestampTz *next_due, bool *more);

#endif
