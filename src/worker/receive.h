/*
 * receive.h — receiving one webhook delivery (worker/receive.c): the core
 * that shopify_receive_webhook() (sql/webhook.c) and the webhook listener
 * (listener/) share.
 */
#ifndef SHOPIFY_RECEIVE_H
#define SHOPIFY_RECEIVE_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "base/util.h"

/* What became of a delivery; the SQL function raises the SQLSTATE noted. */
typedef enum WebhookOutcome
{
	WEBHOOK_STORED,				/* a new event */
	WEBHOOK_DUPLICATE,			/* its webhook_id was seen: the first event */
	WEBHOOK_CHECKED,			/* webhook_check(): go on to webhook_store() */
	WEBHOOK_TOO_LARGE,			/* 54000 */
	WEBHOOK_BAD_TOPIC,			/* 22023 */
	WEBHOOK_BAD_ID,				/* 22023 */
	WEBHOOK_NO_SECRET,			/* F0000 */
	WEBHOOK_NO_SIGNATURE,		/* 28P01 */
	WEBHOOK_BAD_SIGNATURE,		/* 28000 */
	WEBHOOK_UNKNOWN_SHOP,		/* 42704 */
	WEBHOOK_NOT_OWNER,			/* 42501 */
	WEBHOOK_DISCONNECTED,		/* 55000 */
	WEBHOOK_NOT_JSON,			/* 22P02 */
	WEBHOOK_OTHER_STORE,		/* 23505: webhook_id known for another store */
	WEBHOOK_RATE_LIMITED		/* 53400 */
} WebhookOutcome;

typedef struct WebhookDelivery
{
	const char *topic;			/* X-Shopify-Topic */
	const char *shop_domain;	/* X-Shopify-Shop-Domain, as sent */
	const char *hmac;			/* X-Shopify-Hmac-Sha256; NULL or "": none */
	const char *body;			/* the raw body, byte for byte */
	size_t		len;
	const char *webhook_id;		/* X-Shopify-Webhook-Id, or NULL */
	bool		has_triggered_at;
	TimestampTz triggered_at;	/* X-Shopify-Triggered-At */
	/* whose rights: NULL = the extension's own listener (any store) */
	const ShopifyCaller *caller;
} WebhookDelivery;

typedef struct WebhookResult
{
	WebhookOutcome outcome;
	int64		event_id;		/* STORED, DUPLICATE */
	int64		shop_id;		/* once the store is known */
	const char *domain;			/* normalised, or NULL */
} WebhookResult;

extern WebhookOutcome webhook_check(const WebhookDelivery *d);
extern void webhook_store(const WebhookDelivery *d, WebhookResult *r);
extern void webhook_raise(const WebhookDelivery *d, const WebhookResult *r) pg_attribute_noreturn();
extern bool webhook_signature_valid(const char *body, size_t len, const char *sig);
extern bool webhook_extension_ready(void);

#endif
