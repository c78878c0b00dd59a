/*
 * bulk.h — the bulk operation's stages (bulk.c).
 */
#ifndef SHOPIFY_SYNC_BULK_H
#define SHOPIFY_SYNC_BULK_H

#include "sync/sync.h"

extern void bulk_resume(SyncTask *t);
extern void bulk_handle(SyncTask *t);
extern void bulk_stream(SyncTask *t, HttpRequest *req);
extern bool bulk_take_slot(SyncTask *t);

#endif
