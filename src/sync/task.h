/*
 * task.h — the task's life, for the worker loop (task.c).
 */
#ifndef SHOPIFY_SYNC_TASK_H
#define SHOPIFY_SYNC_TASK_H

#include "sync/sync.h"

extern SyncTask *sync_task_create(const ClaimedJob *job, const char *token, int slot);
extern TimestampTz sync_task_wake_time(SyncTask *t);
extern void sync_task_pump(SyncTask *t);
extern bool sync_task_owns(SyncTask *t, HttpRequest *req);
extern void sync_task_http_done(SyncTask *t, HttpRequest *req);
extern void sync_task_stream(SyncTask *t, HttpRequest *req);
extern void sync_task_stop(SyncTask *t, bool cancelled, const char *why);
extern void sync_task_free(SyncTask *t);
extern void sync_task_bulk_finished(SyncTask *t, const char *bulk_gid);

#endif
