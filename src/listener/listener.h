/*
 * listener.h — the webhook listener background worker (listener/listener.c):
 * Shopify's deliveries over HTTP, registered when shopify_sync.webhook_listen
 * is set.
 */
#ifndef SHOPIFY_LISTENER_H
#define SHOPIFY_LISTENER_H

#include "postgres.h"

extern void shopify_register_listener(void);

#endif
