/*
 * maintenance.h — what both the SQL surface and the worker do to a store's
 * rows: disconnecting it, and the retention clean-up (worker/maintenance.c).
 */
#ifndef SHOPIFY_MAINTENANCE_H
#define SHOPIFY_MAINTENANCE_H

#include "postgres.h"

typedef struct DisconnectResult
{
	int			jobs;
	int			products;
	int			orders;
	int			objects;
	int			store_rows;		/* locations, inventory, collections, metafields, customers */
	int			events;
	bool		deactivated;
	double		seconds;
} DisconnectResult;

extern void shopify_disconnect_core(int64 shop_id, const char *shop_domain, const char *by,
									DisconnectResult *r);
extern void shopify_run_cleanup(int batch, int64 *logs, int64 *jobs, int64 *events);

#endif
