/*
 * webhook.c — receiving webhook deliveries: shopify_receive_webhook() and
 * shopify_verify_webhook().
 *
 * An application's HTTP endpoint hands each delivery to the database.  In
 * order, a delivery must: carry a signature (28P01 if not); have it match
 * base64(HMAC-SHA256(secret, body bytes)) with shopify_sync.webhook_secret
 * or, during a rotation, shopify_sync.webhook_previous_secret (28000 if not;
 * compared in constant time); name a connected store (42704 unknown, 55000
 * disconnected — except app/uninstalled and the GDPR topics, which concern
 * disconnected stores) that the calling role owns (42501); carry JSON
 * (22P02); and stay within the shop's rate (53400).  A delivery whose
 * webhook_id was seen before returns the first event's id and stores
 * nothing.  Refusals write a security or webhook_processing log row through
 * the deferred log (the refusal's ERROR would roll back an ordinary row);
 * such rows carry the body's length and SHA-256, never the body or a secret.
 * A stored event wakes the worker at commit; events.c applies it.
 */
#include "postgres.h"

#include <openssl/sha.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "base/crypto.h"
#include "base/domain.h"
#include "base/log.h"
#include "base/settings.h"
#include "base/shmem.h"
#include "base/util.h"

PG_FUNCTION_INFO_V1(shopify_receive_webhook);
PG_FUNCTION_INFO_V1(shopify_verify_webhook);

#define MAX_WEBHOOK_BODY (16 * 1024 * 1024)

/* Topics that concern stores that are already disconnected. */
static bool
topic_for_gone_store(const char *topic)
{
	return strcmp(topic, "app/uninstalled") == 0 ||
		strcmp(topic, "shop/redact") == 0 ||
		strcmp(topic, "customers/redact") == 0 ||
		strcmp(topic, "customers/data_request") == 0;
}

/* "resource/event", lower case letters, digits and underscores. */
static bool
topic_ok(const char *t)
{
	const char *slash = strchr(t, '/');
	const char *p;

	if (slash == NULL || slash == t || slash[1] == '\0' || strlen(t) > 64)
		return false;
	for (p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			  (*p == '/' && p == slash)))
			return false;
	return true;
}

static bool
signature_valid(const char *body, size_t len, const char *sig)
{
	return shopify_hmac_verify(shopify_webhook_secret, body, len, sig) ||
		shopify_hmac_verify(shopify_webhook_previous_secret, body, len, sig);
}

/* Details of a delivery for a log row: never the body or a secret. */
static char *
delivery_details(const char *topic, const char *domain, const char *webhook_id,
				 const char *body, size_t len, const char *reason)
{
	ShopifyJson j;
	unsigned char sha[SHA256_DIGEST_LENGTH];
	char		hex[SHA256_DIGEST_LENGTH * 2 + 1];
	/* cut at a character boundary: the details become jsonb */
	char	   *d = domain ? pnstrdup(domain, pg_mbcliplen(domain, strlen(domain), 255)) : NULL;
	char	   *w = webhook_id ? pnstrdup(webhook_id, pg_mbcliplen(webhook_id, strlen(webhook_id), 128)) : NULL;
	char	   *t = topic ? pnstrdup(topic, pg_mbcliplen(topic, strlen(topic), 64)) : NULL;

	SHA256((const unsigned char *) body, len, sha);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	sj_init(&j);
	sj_str(&j, "reason", reason);
	sj_str(&j, "topic", t);
	sj_str(&j, "shop_domain", d);
	sj_str(&j, "webhook_id", w);
	sj_int(&j, "body_bytes", (int64) len);
	sj_str(&j, "body_sha256", hex);
	return sj_finish(&j);
}

static void
refuse(const char *event, int64 shop_id, const char *reason, const char *details)
{
	shopify_log_deferred(event, "warning", shop_id, reason, details);
}

/* JSON syntax (and no \u0000, which text cannot hold).  Never throws. */
static bool
json_ok(char *body, size_t len)
{
	volatile bool ok = false;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		JsonLexContext *lex = makeJsonLexContextCstringLen(body, len, PG_UTF8, true);

		ok = (pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Take one token from the shop's bucket; false when the shop is over its
 * rate.  *log_it says whether this refusal should be logged (at most one
 * per second per shop, so that a flood cannot flood the log either).
 */
static bool
rate_take(int64 shop_id, bool *log_it, int64 *refused)
{
	ShopifySyncShared *sh = shopify_shared;
	ShopifyWebhookRate *slot = NULL,
			   *oldest = NULL;
	TimestampTz now = GetCurrentTimestamp();
	bool		ok;
	int			i;

	*log_it = false;
	*refused = 0;
	if (shopify_webhook_rate_limit <= 0 || sh == NULL)
		return true;
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	for (i = 0; i < SHOPIFY_WEBHOOK_RATE_SLOTS; i++)
	{
		ShopifyWebhookRate *r = &sh->rates[i];

		if (r->shop_id == shop_id)
		{
			slot = r;
			break;
		}
		if (oldest == NULL || r->shop_id == 0 || (oldest->shop_id != 0 && r->at < oldest->at))
			oldest = r;
	}
	if (slot == NULL)
	{
		slot = oldest;			/* a free slot, or the least recently used */
		memset(slot, 0, sizeof(*slot));
		slot->shop_id = shop_id;
		slot->tokens = shopify_webhook_rate_burst;
		slot->at = now;
	}
	slot->tokens += shopify_webhook_rate_limit * ((double) (now - slot->at) / USECS_PER_SEC);
	if (slot->tokens > shopify_webhook_rate_burst)
		slot->tokens = shopify_webhook_rate_burst;
	slot->at = now;
	ok = slot->tokens >= 1.0;
	if (ok)
		slot->tokens -= 1.0;
	else
	{
		slot->refused++;
		if (now - slot->last_refusal_logged >= USECS_PER_SEC)
		{
			*log_it = true;
			*refused = slot->refused;
			slot->refused = 0;
			slot->last_refusal_logged = now;
		}
	}
	LWLockRelease(sh->lock);
	return ok;
}

/*
 * shopify_receive_webhook(topic, shop_domain, hmac_sha256, body, webhook_id,
 *                         triggered_at) → event id
 */
Datum
shopify_receive_webhook(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"topic", "shop_domain"};
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	char	   *topic;
	char	   *raw_domain;
	char	   *domain;
	char	   *sig;
	text	   *body_t;
	char	   *body;
	size_t		len;
	char	   *webhook_id = NULL;
	const char *reason;
	int64		shop_id;
	int64		event_id;
	bool		active;
	char	   *owner;
	bool		isnull;
	bool		log_it;
	int64		refused;
	Oid			types[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		vals[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	shopify_require_args(fcinfo, 2, names);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("body must not be null")));
	topic = text_to_cstring(PG_GETARG_TEXT_PP(0));
	raw_domain = text_to_cstring(PG_GETARG_TEXT_PP(1));
	body_t = PG_GETARG_TEXT_PP(3);
	body = VARDATA_ANY(body_t);
	len = VARSIZE_ANY_EXHDR(body_t);
	if (!PG_ARGISNULL(4))
		webhook_id = text_to_cstring(PG_GETARG_TEXT_PP(4));

	if (len > MAX_WEBHOOK_BODY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("webhook body of %zu bytes exceeds the limit of %d bytes", len, MAX_WEBHOOK_BODY)));
	if (!topic_ok(topic))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook topic"),
				 errdetail("A topic looks like \"products/update\": lower-case words separated by one slash.")));
	if (webhook_id != NULL && (strlen(webhook_id) == 0 || strlen(webhook_id) > 255))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webhook_id must be 1 to 255 characters")));

	/* ---- authenticity first: nothing else is looked at for a forgery */
	if ((shopify_webhook_secret == NULL || shopify_webhook_secret[0] == '\0') &&
		(shopify_webhook_previous_secret == NULL || shopify_webhook_previous_secret[0] == '\0'))
	{
		refuse("security", 0, "webhook refused: shopify_sync.webhook_secret is not set",
			   delivery_details(topic, raw_domain, webhook_id, body, len, "no secret configured"));
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("webhook secret is not configured"),
				 errhint("Set shopify_sync.webhook_secret to the app's client secret and reload.")));
	}
	sig = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (sig == NULL || sig[0] == '\0')
	{
		refuse("security", 0, "webhook refused: no signature",
			   delivery_details(topic, raw_domain, webhook_id, body, len, "missing signature"));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PASSWORD),
				 errmsg("webhook delivery has no signature"),
				 errhint("Pass the X-Shopify-Hmac-Sha256 header as hmac_sha256.")));
	}
	if (!signature_valid(body, len, sig))
	{
		refuse("security", 0, "webhook refused: signature mismatch",
			   delivery_details(topic, raw_domain, webhook_id, body, len, "signature mismatch"));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("webhook signature does not match"),
				 errdetail("The HMAC-SHA256 of the body with the configured secret differs from hmac_sha256."),
				 errhint("Pass the raw request body, byte for byte, and the X-Shopify-Hmac-Sha256 header.")));
	}

	/* ---- the store */
	shopify_get_caller(&caller);
	domain = shopify_normalize_domain(raw_domain, &reason);
	shopify_elevate(&elev);
	shopify_spi_connect();
	vals[1] = CStringGetTextDatum(domain ? domain : "");
	if (domain == NULL ||
		shopify_spi_exec("SELECT shop_id, is_active, owner::text FROM shopify.stores WHERE shop_domain = $2",
						 2, types, vals, NULL, false) == 0)
	{
		refuse("webhook_processing", 0, "webhook refused: unknown shop",
			   delivery_details(topic, raw_domain, webhook_id, body, len, "unknown shop"));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no store is connected for shop domain \"%s\"", domain ? domain : "(invalid)")));
	}
	shop_id = shopify_spi_int64(0, 1);
	active = DatumGetBool(shopify_spi_value(0, 2, &isnull));
	owner = shopify_spi_text(0, 3);
	if (!caller.superuser && strcmp(owner, caller.rolename) != 0)
	{
		refuse("security", shop_id, "webhook refused: calling role does not own the store",
			   delivery_details(topic, domain, webhook_id, body, len, "not the owner"));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for Shopify store %lld", (long long) shop_id),
				 errhint("Only the role that connected a store, or a superuser, can receive its webhooks.")));
	}
	if (!active && !topic_for_gone_store(topic))
	{
		refuse("webhook_processing", shop_id, "webhook refused: store disconnected",
			   delivery_details(topic, domain, webhook_id, body, len, "store disconnected"));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Shopify store %lld (%s) is disconnected", (long long) shop_id, domain)));
	}
	if (!pg_verify_mbstr(GetDatabaseEncoding(), body, (int) len, true) || !json_ok(body, len))
	{
		refuse("webhook_processing", shop_id, "webhook refused: body is not JSON",
			   delivery_details(topic, domain, webhook_id, body, len, "malformed body"));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("webhook body is not valid JSON")));
	}

	/* ---- a repeated delivery returns the first event */
	if (webhook_id != NULL)
	{
		vals[0] = Int64GetDatum(shop_id);
		vals[2] = CStringGetTextDatum(webhook_id);
		if (shopify_spi_exec("SELECT id, shop_id = $1 FROM shopify.webhook_events WHERE webhook_id = $3",
							 3, types, vals, NULL, false) == 1)
		{
			event_id = shopify_spi_int64(0, 1);
			if (!DatumGetBool(shopify_spi_value(0, 2, &isnull)))
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("webhook_id \"%s\" was already received for another store", webhook_id)));
			shopify_spi_finish();
			shopify_restore(&elev);
			PG_RETURN_INT64(event_id);
		}
	}

	if (!rate_take(shop_id, &log_it, &refused))
	{
		if (log_it)
		{
			char	   *msg = psprintf("webhook deliveries refused: over the rate limit (" INT64_FORMAT " in the last second)",
									   refused);

			refuse("webhook_processing", shop_id, msg,
				   delivery_details(topic, domain, webhook_id, body, len, "rate limited"));
		}
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many webhook deliveries for store %lld", (long long) shop_id),
				 errdetail("shopify_sync.webhook_rate_limit is %d per second with a burst of %d.",
						   shopify_webhook_rate_limit, shopify_webhook_rate_burst),
				 errhint("Answer with HTTP 429 or 503: Shopify retries the delivery later.")));
	}

	/* ---- store it */
	vals[0] = Int64GetDatum(shop_id);
	vals[1] = CStringGetTextDatum(topic);
	if (webhook_id)
		vals[2] = CStringGetTextDatum(webhook_id);
	else
		nulls[2] = 'n';
	vals[3] = PointerGetDatum(cstring_to_text_with_len(body, len));
	if (PG_ARGISNULL(5))
		nulls[4] = 'n';
	else
		vals[4] = PG_GETARG_DATUM(5);
	if (shopify_spi_exec("INSERT INTO shopify.webhook_events (shop_id, topic, webhook_id, payload, triggered_at)"
						 " VALUES ($1, $2, $3, $4::jsonb, $5)"
						 " ON CONFLICT (webhook_id) DO NOTHING RETURNING id",
						 5, types, vals, nulls, false) == 1)
	{
		event_id = shopify_spi_int64(0, 1);
		shopify_wake_worker_at_commit();
	}
	else
	{
		/* the same delivery, stored concurrently */
		shopify_spi_exec("SELECT id FROM shopify.webhook_events WHERE webhook_id = $3",
						 3, types, vals, NULL, false);
		event_id = shopify_spi_int64(0, 1);
	}
	shopify_spi_finish();
	shopify_restore(&elev);
	PG_RETURN_INT64(event_id);
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
	PG_RETURN_BOOL(signature_valid(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), sig));
}
