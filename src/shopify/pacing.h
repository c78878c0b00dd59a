/*
 * pacing.h — when a store's next call may go out (pacing.c).
 */
#ifndef SHOPIFY_PACING_H
#define SHOPIFY_PACING_H

#include "shopify/client.h"

extern TimestampTz shopify_call_ready_at(ShopifyCall *call);
extern void shop_observe_call_limit(ShopClient *s, const char *hdr, TimestampTz now);
extern void shop_observe_cost(ShopClient *s, double available, double maximum, double restore);
extern int	shopify_bulk_limit(void);

#endif
