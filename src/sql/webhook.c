/*
 * webhook.c — receiving webhook deliveries from SQL: shopify_receive_webhook()
 * and shopify_verify_webhook().
 *
 * An application's HTTP endpoint (or the extension's own listener,
 * listener/, which calls the same core without SQL) hands each delivery to
 * the database.  The rules live in worker/receive.c, shared by both: a
 * signature (28P01 if not); matching base64(HMAC-SHA256(secret, body
 * bytes)) with shopify_sync.webhook_secret or, during a rotation,
 * shopify_sync.webhook_previous_secret (28000 if not; constant time); a
 * connected store (42704 unknown, 55000 disconnected — except
 * app/uninstalled and the GDPR topics) that the calling role owns (42501);
 * JSON (22P02); within the shop's rate (53400).  A delivery whose webhook_id
 * was seen before returns the first event's id and stores nothing.  Here a
 * refusal becomes an ERROR with that SQLSTATE (webhook_raise); its log row
 * was written by the core through the deferred log.
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "base/util.h"
#include "worker/receive.h"

PG_FUNCTION_INFO_V1(shopify_receive_webhook);
PG_FUNCTION_INFO_V1(shopify_verify_webhook);

/*
 * shopify_receive_webhook(topic, shop_domain, hmac_sha256, body, webhook_id,
 *                         triggered_at) → event id
 */
Datum
shopify_receive_webhook(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"topic", "shop_domain"};
	ShopifyCaller caller;
	WebhookDelivery d;
	WebhookResult r;
	text	   *body_t;

	shopify_require_args(fcinfo, 2, names);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("body must not be null")));
	memset(&d, 0, sizeof(d));
	memset(&r, 0, sizeof(r));
	d.topic = text_to_cstring(PG_GETARG_TEXT_PP(0));
	d.shop_domain = text_to_cstring(PG_GETARG_TEXT_PP(1));
	body_t = PG_GETARG_TEXT_PP(3);
	d.body = VARDATA_ANY(body_t);
	d.len = VARSIZE_ANY_EXHDR(body_t);
	if (!PG_ARGISNULL(4))
		d.webhook_id = text_to_cstring(PG_GETARG_TEXT_PP(4));
	d.hmac = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!PG_ARGISNULL(5))
	{
		d.has_triggered_at = true;
		d.triggered_at = PG_GETARG_TIMESTAMPTZ(5);
	}

	/* size, topic, id; then authenticity: nothing else is looked at for a forgery */
	r.outcome = webhook_check(&d);
	if (r.outcome != WEBHOOK_CHECKED)
		webhook_raise(&d, &r);

	shopify_get_caller(&caller);
	d.caller = &caller;
	webhook_store(&d, &r);
	if (r.outcome != WEBHOOK_STORED && r.outcome != WEBHOOK_DUPLICATE)
		webhook_raise(&d, &r);
	PG_RETURN_INT64(r.event_id);
}

/*
 * shopify_verify_webhook(body, hmac_sha256) → boolean: does the signature
 * match the configured secret (or the previous one)?  Stores nothing.
 */
Datum
shopify_verify_webhook(PG_FUNCTION_ARGS)
{
	text	   *body;
	char	   *sig;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	body = PG_GETARG_TEXT_PP(0);
	sig = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PG_RETURN_BOOL(webhook_signature_valid(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), sig));
}
