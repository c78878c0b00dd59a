/*
 * receive.c — one webhook delivery verified, deduplicated, rate limited and
 * stored: the core shared by shopify_receive_webhook() (sql/webhook.c) and
 * the webhook listener (listener/), so that the two can never disagree.
 *
 * Two steps.  webhook_check() needs no database: the body's size
 * (shopify_sync.webhook_max_body), the topic's shape, the webhook id's
 * length, a configured secret, a signature, and that it matches
 * base64(HMAC-SHA256(secret, body bytes)) with shopify_sync.webhook_secret
 * or, during a rotation, shopify_sync.webhook_previous_secret (constant
 * time).  Nothing else is looked at for a forgery.  webhook_store() runs in
 * the caller's transaction: the store must be connected (unknown and
 * disconnected stores are refused, except for app/uninstalled and the GDPR
 * topics, which concern disconnected stores) and, for a role calling the SQL
 * function, owned by it; the body must be JSON; a webhook_id seen before
 * returns the first event; the shop must be within its rate
 * (shopify_sync.webhook_rate_limit, a token bucket in shared memory); then
 * the event is inserted and the worker woken at commit.
 *
 * Neither step throws for a refusal: each returns what happened, having
 * written the refusal's security or webhook_processing log row through the
 * deferred log (an SQL caller's ERROR would roll an ordinary row back).
 * Such rows carry the body's length and SHA-256, never the body or a
 * secret.  webhook_raise() turns a refusal into the SQL function's ERROR.
 * Unexpected failures (a full disk) are ERRORs as anywhere else.
 */
#include "postgres.h"

#include <openssl/sha.h>

#include "catalog/pg_type.h"
#include "commands/extension.h"
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
#include "worker/receive.h"

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

bool
webhook_signature_valid(const char *body, size_t len, const char *sig)
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
refuse(const WebhookDelivery *d, const char *domain, const char *event, int64 shop_id,
	   const char *message, const char *reason)
{
	shopify_log_deferred(event, "warning", shop_id, message,
						 delivery_details(d->topic, domain, d->webhook_id, d->body, d->len, reason));
}

/* JSON syntax (and no \u0000, which text cannot hold).  Never throws. */
static bool
json_ok(const char *body, size_t len)
{
	volatile bool ok = false;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		JsonLexContext *lex = makeJsonLexContextCstringLen((char *) body, len, PG_UTF8, true);

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
 * The checks that need no database, in the SQL function's order.  Returns
 * WEBHOOK_CHECKED, or the refusal (logged when the SQL function logs it).
 */
WebhookOutcome
webhook_check(const WebhookDelivery *d)
{
	const char *raw = d->shop_domain;

	if (d->len > (size_t) shopify_webhook_max_body)
		return WEBHOOK_TOO_LARGE;
	if (!topic_ok(d->topic))
		return WEBHOOK_BAD_TOPIC;
	if (d->webhook_id != NULL && (strlen(d->webhook_id) == 0 || strlen(d->webhook_id) > 255))
		return WEBHOOK_BAD_ID;

	/* ---- authenticity first: nothing else is looked at for a forgery */
	if ((shopify_webhook_secret == NULL || shopify_webhook_secret[0] == '\0') &&
		(shopify_webhook_previous_secret == NULL || shopify_webhook_previous_secret[0] == '\0'))
	{
		refuse(d, raw, "security", 0, "webhook refused: shopify_sync.webhook_secret is not set",
			   "no secret configured");
		return WEBHOOK_NO_SECRET;
	}
	if (d->hmac == NULL || d->hmac[0] == '\0')
	{
		refuse(d, raw, "security", 0, "webhook refused: no signature", "missing signature");
		return WEBHOOK_NO_SIGNATURE;
	}
	if (!webhook_signature_valid(d->body, d->len, d->hmac))
	{
		refuse(d, raw, "security", 0, "webhook refused: signature mismatch", "signature mismatch");
		return WEBHOOK_BAD_SIGNATURE;
	}
	return WEBHOOK_CHECKED;
}

/* the SPI work of webhook_store(), with the extension owner's rights */
static void
store_spi(const WebhookDelivery *d, WebhookResult *r)
{
	Oid			types[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		vals[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	const char *domain = r->domain;
	bool		active;
	bool		isnull;
	bool		log_it;
	int64		refused;
	char	   *owner;

	vals[1] = CStringGetTextDatum(domain ? domain : "");
	if (domain == NULL ||
		shopify_spi_run("SELECT shop_id, is_active, owner::text FROM shopify.stores WHERE shop_domain = $2",
						2, types, vals, NULL, false) == 0)
	{
		refuse(d, d->shop_domain, "webhook_processing", 0, "webhook refused: unknown shop", "unknown shop");
		r->outcome = WEBHOOK_UNKNOWN_SHOP;
		return;
	}
	r->shop_id = shopify_spi_int64(0, 1);
	active = DatumGetBool(shopify_spi_value(0, 2, &isnull));
	owner = shopify_spi_text(0, 3);
	if (d->caller != NULL && !d->caller->superuser && strcmp(owner, d->caller->rolename) != 0)
	{
		refuse(d, domain, "security", r->shop_id, "webhook refused: calling role does not own the store",
			   "not the owner");
		r->outcome = WEBHOOK_NOT_OWNER;
		return;
	}
	if (!active && !topic_for_gone_store(d->topic))
	{
		refuse(d, domain, "webhook_processing", r->shop_id, "webhook refused: store disconnected",
			   "store disconnected");
		r->outcome = WEBHOOK_DISCONNECTED;
		return;
	}
	if (!pg_verify_mbstr(GetDatabaseEncoding(), d->body, (int) d->len, true) || !json_ok(d->body, d->len))
	{
		refuse(d, domain, "webhook_processing", r->shop_id, "webhook refused: body is not JSON",
			   "malformed body");
		r->outcome = WEBHOOK_NOT_JSON;
		return;
	}

	/* ---- a repeated delivery returns the first event */
	vals[0] = Int64GetDatum(r->shop_id);
	if (d->webhook_id != NULL)
	{
		vals[2] = CStringGetTextDatum(d->webhook_id);
		if (shopify_spi_run("SELECT id, shop_id = $1 FROM shopify.webhook_events WHERE webhook_id = $3",
							3, types, vals, NULL, false) == 1)
		{
			r->event_id = shopify_spi_int64(0, 1);
			r->outcome = DatumGetBool(shopify_spi_value(0, 2, &isnull)) ?
				WEBHOOK_DUPLICATE : WEBHOOK_OTHER_STORE;
			return;
		}
	}

	if (!rate_take(r->shop_id, &log_it, &refused))
	{
		if (log_it)
		{
			char	   *msg = psprintf("webhook deliveries refused: over the rate limit (" INT64_FORMAT " in the last second)",
									   refused);

			refuse(d, domain, "webhook_processing", r->shop_id, msg, "rate limited");
		}
		r->outcome = WEBHOOK_RATE_LIMITED;
		return;
	}

	/* ---- store it */
	vals[1] = CStringGetTextDatum(d->topic);
	if (d->webhook_id)
		vals[2] = CStringGetTextDatum(d->webhook_id);
	else
		nulls[2] = 'n';
	vals[3] = PointerGetDatum(cstring_to_text_with_len(d->body, d->len));
	if (d->has_triggered_at)
		vals[4] = TimestampTzGetDatum(d->triggered_at);
	else
		nulls[4] = 'n';
	if (shopify_spi_run("INSERT INTO shopify.webhook_events (shop_id, topic, webhook_id, payload, triggered_at)"
						" VALUES ($1, $2, $3, $4::jsonb, $5)"
						" ON CONFLICT (webhook_id) DO NOTHING RETURNING id",
						5, types, vals, nulls, false) == 1)
	{
		r->event_id = shopify_spi_int64(0, 1);
		r->outcome = WEBHOOK_STORED;
		shopify_wake_worker_at_commit();
	}
	else
	{
		/* the same delivery, stored concurrently */
		shopify_spi_run("SELECT id FROM shopify.webhook_events WHERE webhook_id = $3",
						3, types, vals, NULL, false);
		r->event_id = shopify_spi_int64(0, 1);
		r->outcome = WEBHOOK_DUPLICATE;
	}
}

/*
 * After webhook_check() passed: the database part, in the caller's
 * transaction.  r->outcome says what happened.
 */
void
webhook_store(const WebhookDelivery *d, WebhookResult *r)
{
	ShopifyElevation elev = {0};
	const char *reason;

	memset(r, 0, sizeof(*r));
	r->domain = shopify_normalize_domain(d->shop_domain, &reason);
	shopify_elevate(&elev);
	shopify_spi_connect();
	store_spi(d, r);
	shopify_spi_finish();
	shopify_restore(&elev);
}

/* Is the extension installed in this database, at the library's version? */
bool
webhook_extension_ready(void)
{
	Oid			types[1] = {TEXTOID};
	Datum		vals[1] = {CStringGetTextDatum("shopify_sync")};
	char	   *v;

	if (!OidIsValid(get_extension_oid("shopify_sync", true)))
		return false;
	shopify_spi_connect();
	v = shopify_spi_run("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = $1",
						1, types, vals, NULL, true) == 1 ? shopify_spi_text(0, 1) : NULL;
	shopify_spi_finish();
	return v != NULL && strcmp(v, EXTVERSION) == 0;
}

/* The SQL function's ERROR for a refusal (never returns). */
void
webhook_raise(const WebhookDelivery *d, const WebhookResult *r)
{
	switch (r->outcome)
	{
		case WEBHOOK_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("webhook body of %zu bytes exceeds the limit of %d bytes",
							d->len, shopify_webhook_max_body)));
			break;
		case WEBHOOK_BAD_TOPIC:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook topic"),
					 errdetail("A topic looks like \"products/update\": lower-case words separated by one slash.")));
			break;
		case WEBHOOK_BAD_ID:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("webhook_id must be 1 to 255 characters")));
			break;
		case WEBHOOK_NO_SECRET:
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("webhook secret is not configured"),
					 errhint("Set shopify_sync.webhook_secret to the app's client secret and reload.")));
			break;
		case WEBHOOK_NO_SIGNATURE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PASSWORD),
					 errmsg("webhook delivery has no signature"),
					 errhint("Pass the X-Shopify-Hmac-Sha256 header as hmac_sha256.")));
			break;
		case WEBHOOK_BAD_SIGNATURE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("webhook signature does not match"),
					 errdetail("The HMAC-SHA256 of the body with the configured secret differs from hmac_sha256."),
					 errhint("Pass the raw request body, byte for byte, and the X-Shopify-Hmac-Sha256 header.")));
			break;
		case WEBHOOK_UNKNOWN_SHOP:
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no store is connected for shop domain \"%s\"",
							r->domain ? r->domain : "(invalid)")));
			break;
		case WEBHOOK_NOT_OWNER:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for Shopify store %lld", (long long) r->shop_id),
					 errhint("Only the role that connected a store, or a superuser, can receive its webhooks.")));
			break;
		case WEBHOOK_DISCONNECTED:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("Shopify store %lld (%s) is disconnected", (long long) r->shop_id, r->domain)));
			break;
		case WEBHOOK_NOT_JSON:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("webhook body is not valid JSON")));
			break;
		case WEBHOOK_OTHER_STORE:
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("webhook_id \"%s\" was already received for another store", d->webhook_id)));
			break;
		case WEBHOOK_RATE_LIMITED:
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many webhook deliveries for store %lld", (long long) r->shop_id),
					 errdetail("shopify_sync.webhook_rate_limit is %d per second with a burst of %d.",
							   shopify_webhook_rate_limit, shopify_webhook_rate_burst),
					 errhint("Answer with HTTP 429 or 503: Shopify retries the delivery later.")));
			break;
		case WEBHOOK_STORED:
		case WEBHOOK_DUPLICATE:
		case WEBHOOK_CHECKED:
			break;
	}
	elog(ERROR, "webhook_raise: not a refusal (%d)", (int) r->outcome);
}
