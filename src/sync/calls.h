/*
 * calls.h — the calls a sync prepares (calls.c).
 */
#ifndef SHOPIFY_SYNC_CALLS_H
#define SHOPIFY_SYNC_CALLS_H

#include "sync/sync.h"

extern void sync_prepare_call(SyncTask *t, ShopifyCall *c, const char *method,
							  char *path, char *body, bool graphql);
extern void sync_prepare_shop(SyncTask *t);
extern void sync_prepare_count(SyncTask *t);
extern void sync_prepare_pages(SyncTask *t);
extern void sync_prepare_variants(SyncTask *t);
extern void sync_prepare_bulk_start(SyncTask *t, double delay_s);
extern void sync_prepare_bulk_poll(SyncTask *t, double delay_s);
extern bool sync_pump_call(SyncTask *t, ShopifyCall *c);
extern void sync_prefetch(SyncTask *t, const char *next_cursor);
extern void sync_advance_page(SyncTask *t, const char *next);
extern void sync_drop_next(SyncTask *t);
extern void sync_finish(SyncTask *t);
extern void bulk_release_slot(SyncTask *t);
extern void sync_slot_state(SyncTask *t, const char *state);
extern const char *sync_stage_name(SyncStage s);

#endif
