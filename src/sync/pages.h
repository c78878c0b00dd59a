/*
 * pages.h — what an answer of the listing means (pages.c).
 */
#ifndef SHOPIFY_SYNC_PAGES_H
#define SHOPIFY_SYNC_PAGES_H

#include "sync/sync.h"

extern void pages_handle(SyncTask *t);
extern bool sync_graphql_usable(SyncTask *t, ShopifyCall *c, int op, void *answer);

#endif
