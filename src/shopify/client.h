/*
 * shopify.h — talking to the Shopify Admin API: one client per store (its
 * token, base URL and rate-limit model) and calls with pacing, retries and
 * error classes.  Knows nothing of SPI or jobs.
 */
#ifndef SHOPIFY_CLIENT_H
#define SHOPIFY_CLIENT_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "http/http.h"
#include "base/log.h"

typedef struct ShopClient
{
	int64		shop_id;
	char		domain[256];
	char	   *token;			/* plaintext, wiped when the client goes */
	char	   *base_url;		/* no trailing slash */
	int			refcount;

	/* REST leaky bucket, fed by X-Shopify-Shop-Api-Call-Limit */
	bool		bucket_known;
	double		bucket_used;	/* as last observed */
	int			bucket_size;
	TimestampTz bucket_at;		/* when it was observed */
	double		leak_rate;		/* requests per second */

	/* GraphQL cost bucket, fed by extensions.cost.throttleStatus */
	bool		cost_known;
	double		cost_available;
	double		cost_maximum;
	double		cost_restore_rate;
	TimestampTz cost_at;
	double		cost_in_flight; /* expected cost of the queries in flight */

	int			bulk_active;	/* our bulk query operations running on the shop */

	TimestampTz blocked_until;	/* after a 429: its Retry-After */
	int			in_flight;
	TimestampTz next_request_at;	/* for operators */
} ShopClient;

typedef struct ShopifyCall
{
	ShopClient *shop;
	const char *method;			/* "GET" or "POST" */
	char	   *path;			/* path and query below the base URL */
	char	   *body;			/* POST body or NULL */
	double		expected_cost;	/* GraphQL: points this query will need */
	bool		graphql;
	bool		absolute_url;	/* path is a whole URL elsewhere: no token sent */
	bool		stream;			/* a download delivered in pieces */

	int			attempt;		/* counted tries (429 waits are not) */
	int			throttled;		/* 429 / THROTTLED waits so far */
	TimestampTz not_before;
	bool		in_flight;
	HttpRequest req;

	/* outcome, valid when done */
	bool		done;
	bool		ok;
	const char *error_class;	/* static string, NULL when ok */
	char		error[1024];
	long		http_status;
	char		request_id[128];
	char	   *resp;			/* malloc'd body (ok only); shopify_call_reset frees it */
	size_t		resp_len;
	char		link[HTTP_HEADER_VALUE_MAX];

	/* attempts not yet written to shopify.sync_log */
	ShopifyApiCallInfo log[16];
	char		log_endpoint[16][256];
	char		log_error[16][256];
	char		log_request_id[16][64];
	int			nlog;
	int			log_dropped;
} ShopifyCall;

extern ShopClient *shop_client_get(int64 shop_id, const char *domain, const char *token);
extern void shop_client_release(ShopClient *c);

extern void shopify_call_init(ShopifyCall *call, ShopClient *shop, const char *method,
							  char *path, char *body);
extern void shopify_call_reset(ShopifyCall *call);
extern void shopify_call_send(ShopifyCall *call);
extern void shopify_call_finished(ShopifyCall *call);
extern void shopify_call_abort(ShopifyCall *call);
extern void shopify_call_flush_log(ShopifyCall *call, int64 shop_id, int64 job_id);
extern void shopify_graphql_throttled(ShopifyCall *call, double wait_s);

extern bool shopify_json_valid(const char *buf, size_t len);

#endif
