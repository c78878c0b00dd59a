/*
 * write.h — a sync's transactions (write.c).
 */
#ifndef SHOPIFY_SYNC_WRITE_H
#define SHOPIFY_SYNC_WRITE_H

#include "sync/sync.h"

extern void sync_fail(SyncTask *t, const char *error_class, const char *error);
extern void sync_note(SyncTask *t, const char *level, const char *operation, const char *message);
extern void sync_end_job(SyncTask *t, const char *error_class, const char *error, bool cancelled);
extern bool sync_record_shop(SyncTask *t, char *err, size_t errlen);
extern bool sync_choose_tables_path(SyncTask *t, int count, bool *bulk, char *err, size_t errlen);
extern bool sync_choose_objects_path(SyncTask *t, bool *bulk, char *err, size_t errlen);
extern bool sync_record_count(SyncTask *t, int *count, bool *bulk, char *err, size_t errlen);
extern bool sync_run_write(PageWork *w, const char *what, char *err, size_t errlen, const char **cls);
extern void sync_retry_after_db_error(SyncTask *t, const char *cls, const char *err);
extern bool sync_after_write(SyncTask *t, PageWork *w);
extern bool sync_write(PageWork *w, const char *what);

#endif
