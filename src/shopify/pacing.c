/*
 * pacing.c — when a store's next call may go out.
 *
 * Pacing (REST).  Each store has a leaky-bucket model fed by every response's
 * X-Shopify-Shop-Api-Call-Limit: used/size header.  Before sending, the
 * bucket is drained by leak × elapsed; a request goes out when
 *     used_now + in_flight + 1 <= size - 1
 * and is otherwise scheduled for the moment that becomes true.  Until the
 * first header arrives only one request is in flight (learn, don't burst).
 * A 429 marks the bucket full and blocks the store for Retry-After; it is a
 * wait, not a failed attempt.  Stores have independent buckets.
 *
 * GraphQL: the store's cost bucket (throttleStatus of every answer's
 * extensions.cost) restores at its rate; a call goes out when its requested
 * cost is available.  Bulk operations: how many may run at once.
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "base/settings.h"
#include "shopify/pacing.h"

#define MAX_MODEL_WAIT_S 30.0	/* a longer wait is checked by asking again */


static double
secs_between(TimestampTz a, TimestampTz b)
{
	return (double) (b - a) / 1000000.0;
}

/* Earliest time this store's bucket admits one more request. */
static TimestampTz
bucket_ready_at(ShopClient *s, TimestampTz now)
{
	double		used_now;
	double		limit;
	double		need;

	if (!s->bucket_known)
		return s->in_flight > 0 ? now + USECS_PER_SEC : now;
	used_now = s->bucket_used - s->leak_rate * secs_between(s->bucket_at, now);
	if (used_now < 0)
		used_now = 0;
	limit = s->bucket_size - 1;
	need = used_now + s->in_flight + 1 - limit;
	if (need <= 0)
		return now;
	return now + (TimestampTz) (Min(need / s->leak_rate, MAX_MODEL_WAIT_S) * USECS_PER_SEC) + 1000;
}

/* Earliest time the GraphQL cost bucket holds the points of this query. */
static TimestampTz
cost_ready_at(ShopClient *s, double cost, TimestampTz now)
{
	double		avail;
	double		need;

	if (!s->cost_known)
		return s->in_flight > 0 ? now + USECS_PER_SEC : now;
	/* a query dearer than the whole bucket: send it when full, let Shopify judge */
	cost = Min(cost, s->cost_maximum);
	avail = s->cost_available + s->cost_restore_rate * secs_between(s->cost_at, now);
	if (avail > s->cost_maximum)
		avail = s->cost_maximum;
	avail -= s->cost_in_flight;
	need = cost - avail;
	if (need <= 0 || s->cost_restore_rate <= 0)
		return now;
	return now + (TimestampTz) (Min(need / s->cost_restore_rate, MAX_MODEL_WAIT_S) * USECS_PER_SEC) + 1000;
}

TimestampTz
shopify_call_ready_at(ShopifyCall *call)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz t = Max(call->not_before, call->shop->blocked_until);

	if (call->absolute_url)
		;						/* not an Admin API call: no rate limit */
	else if (call->graphql)
		t = Max(t, cost_ready_at(call->shop, call->expected_cost, now));
	else
		t = Max(t, bucket_ready_at(call->shop, now));
	call->shop->next_request_at = t;
	return t;
}

void
shop_observe_call_limit(ShopClient *s, const char *hdr, TimestampTz now)
{
	int			used,
				size;

	if (hdr[0] == '\0' || sscanf(hdr, "%d/%d", &used, &size) != 2 || size <= 0)
		return;
	s->bucket_known = true;
	s->bucket_used = used;
	s->bucket_size = size;
	s->bucket_at = now;
}

/* Take in a GraphQL answer's extensions.cost.throttleStatus. */
void
shop_observe_cost(ShopClient *s, double available, double maximum, double restore)
{
	if (available < 0 || maximum <= 0)
		return;
	s->cost_known = true;
	s->cost_available = available;
	s->cost_maximum = maximum;
	s->cost_restore_rate = restore > 0 ? restore : 50.0;
	s->cost_at = GetCurrentTimestamp();
}

/*
 * Bulk query operations a shop runs at once for an app: five from API
 * version 2026-01, one before (shopify_sync.api_version; unstable is the
 * newest).
 */
int
shopify_bulk_limit(void)
{
	const char *v = shopify_api_version;

	if (v == NULL || strcmp(v, "unstable") == 0 || strcmp(v, "2026-01") >= 0)
		return 5;
	return 1;
}

