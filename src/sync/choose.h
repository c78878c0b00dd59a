/*
 * choose.h — the steps before a listing: shop, count, path (choose.c).
 */
#ifndef SHOPIFY_SYNC_CHOOSE_H
#define SHOPIFY_SYNC_CHOOSE_H

#include "sync/sync.h"

extern bool sync_record_shop(SyncTask *t, char *err, size_t errlen);
extern bool sync_choose_tables_path(SyncTask *t, int count, bool *bulk, char *err, size_t errlen);
extern bool sync_choose_objects_path(SyncTask *t, bool *bulk, char *err, size_t errlen);
extern bool sync_record_count(SyncTask *t, int *count, bool *bulk, char *err, size_t errlen);

#endif
