/*
 * write.h — a sync's transactions (write.c).
 */
#ifndef SHOPIFY_SYNC_WRITE_H
#define SHOPIFY_SYNC_WRITE_H

#include "sync/sync.h"

extern void sync_fail(SyncTask *t, const char *error_class, const char *error);
extern void sync_note(SyncTask *t, const char *level, const char *operation, const char *message);
extern void sync_end_job(SyncTask *t, const char *error_class, const char *error, bool cancelled);
extern void sync_count_call(SyncTask *t, ShopifyCall *c);
extern bool sync_run_write(PageWork *w, const char *what, char *err, size_t errlen, const char **cls);
extern void sync_retry_after_db_error(SyncTask *t, const char *cls, const char *err);
extern bool sync_after_write(SyncTask *t, PageWork *w);
extern bool sync_write(PageWork *w, const char *what);

#endif
