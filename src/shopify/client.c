/*
 * client.c — calls to the Shopify Admin API, with pacing (pacing.c) and
 * retries.
 *
 * Pacing is pacing.c's.
 *
 * Retries.  Transport failures (DNS, connect, reset, timeout, truncated
 * body), 5xx answers and bodies that are not valid JSON are retried up to
 * shopify_sync.max_retries times with exponential backoff and jitter
 * (0.5 s × 2^n, ±25 %, at most 30 s).  401 and other 4xx answers, TLS
 * verification failures and oversized bodies fail at once.  A failed call
 * carries an error class and a message naming the request, the status,
 * Shopify's error text and its X-Request-Id.
 *
 * Every attempt is recorded for log_shopify_api_call(); the records are
 * written by the caller inside its next transaction (no SPI here).
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "shopify/client.h"
#include "shopify/pacing.h"
#include "base/settings.h"
#include "base/shmem.h"

#define MAX_CLIENTS (SHOPIFY_MAX_SLOTS * 2)
#define MAX_429_WAITS 100
#define MAX_BACKOFF_MS 30000.0

static ShopClient *clients[MAX_CLIENTS];

/* ----- clients ----- */

ShopClient *
shop_client_get(int64 shop_id, const char *domain, const char *token)
{
	int			i;
	int			free_slot = -1;
	ShopClient *c;
	MemoryContext old;

	for (i = 0; i < MAX_CLIENTS; i++)
	{
		if (clients[i] == NULL)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (clients[i]->shop_id == shop_id)
		{
			c = clients[i];
			/* A reconnect may have changed the token. */
			if (strcmp(c->token, token) != 0)
			{
				explicit_bzero(c->token, strlen(c->token));
				pfree(c->token);
				c->token = MemoryContextStrdup(TopMemoryContext, token);
			}
			c->refcount++;
			return c;
		}
	}
	if (free_slot < 0)
		elog(ERROR, "too many Shopify clients");

	old = MemoryContextSwitchTo(TopMemoryContext);
	c = palloc0(sizeof(ShopClient));
	c->shop_id = shop_id;
	strlcpy(c->domain, domain, sizeof(c->domain));
	c->token = pstrdup(token);
	if (shopify_api_base_url && shopify_api_base_url[0] != '\0')
	{
		size_t		n;

		c->base_url = pstrdup(shopify_api_base_url);
		n = strlen(c->base_url);
		while (n > 0 && c->base_url[n - 1] == '/')
			c->base_url[--n] = '\0';
	}
	else
		c->base_url = psprintf("https://%s", domain);
	c->leak_rate = shopify_rest_leak_rate;
	c->refcount = 1;
	MemoryContextSwitchTo(old);
	clients[free_slot] = c;
	return c;
}

void
shop_client_release(ShopClient *c)
{
	int			i;

	if (c == NULL || --c->refcount > 0)
		return;
	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] == c)
			clients[i] = NULL;
	explicit_bzero(c->token, strlen(c->token));
	pfree(c->token);
	pfree(c->base_url);
	pfree(c);
}

/* ----- calls ----- */

void
shopify_call_init(ShopifyCall *call, ShopClient *shop, const char *method,
				  char *path, char *body)
{
	memset(call, 0, sizeof(*call));
	call->shop = shop;
	call->method = method;
	call->path = path;
	call->body = body;
	call->expected_cost = 1;
}

/* Forget the outcome (and free the body) so the call can be reused. */
void
shopify_call_reset(ShopifyCall *call)
{
	if (call->resp)
		free(call->resp);
	call->resp = NULL;
	call->resp_len = 0;
	call->done = call->ok = false;
	call->error_class = NULL;
	call->error[0] = '\0';
	call->attempt = call->throttled = 0;
	call->not_before = 0;
}

void
shopify_call_send(ShopifyCall *call)
{
	char		tokhdr[320];
	char		err[256];
	HttpRequest *r = &call->req;

	memset(r, 0, sizeof(*r));
	r->method = call->method;
	r->body = call->body;
	r->body_len = call->body ? strlen(call->body) : 0;
	r->timeout_ms = shopify_http_timeout_ms;
	r->owner = call;
	if (call->absolute_url)
	{
		/* a URL Shopify handed out (a bulk result): never send the token there */
		r->url = pstrdup(call->path);
		r->headers[0] = NULL;
		tokhdr[0] = '\0';
	}
	else
	{
		r->url = psprintf("%s%s", call->shop->base_url, call->path);
		snprintf(tokhdr, sizeof(tokhdr), "X-Shopify-Access-Token: %s", call->shop->token);
		r->headers[0] = tokhdr;
		r->headers[1] = NULL;
	}
	if (call->stream)
	{
		r->stream = true;
		r->stream_chunk = 4 * 1024 * 1024;
		r->max_body = 64 * 1024 * 1024;
		r->no_total_timeout = true;
	}

	call->done = false;
	/* libcurl copies the URL and the header lines: nothing outlives this call */
	if (!http_start(r, err, sizeof(err)))
	{
		explicit_bzero(tokhdr, sizeof(tokhdr));
		pfree(r->url);
		r->url = NULL;
		call->done = true;
		call->ok = false;
		call->error_class = "internal";
		snprintf(call->error, sizeof(call->error), "%s", err);
		return;
	}
	explicit_bzero(tokhdr, sizeof(tokhdr));
	pfree(r->url);
	r->url = NULL;
	call->in_flight = true;
	call->shop->in_flight++;
	if (call->graphql)
		call->shop->cost_in_flight += call->expected_cost;
}

void
shopify_call_abort(ShopifyCall *call)
{
	if (call->in_flight)
	{
		http_abort(&call->req);
		call->in_flight = false;
		call->shop->in_flight--;
		if (call->graphql)
			call->shop->cost_in_flight = Max(0, call->shop->cost_in_flight - call->expected_cost);
	}
	if (call->resp)
		free(call->resp);
	call->resp = NULL;
}

/*
 * Does this body look like a JSON document in UTF-8?  A cheap check (valid
 * UTF-8, an object or array from first to last character) that catches HTML
 * error pages and most truncations at the HTTP layer, where they are retried;
 * the full parse happens once, when the page is written (variants.c), and a
 * document that fails it there is fetched again.  Never throws.
 */
bool
shopify_json_valid(const char *buf, size_t len)
{
	size_t		a = 0,
				b = len;

	if (buf == NULL || len == 0 || len > PG_INT32_MAX)
		return false;
	while (a < b && (buf[a] == ' ' || buf[a] == '\n' || buf[a] == '\r' || buf[a] == '\t'))
		a++;
	while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\n' || buf[b - 1] == '\r' || buf[b - 1] == '\t'))
		b--;
	if (b - a < 2)
		return false;
	if (!((buf[a] == '{' && buf[b - 1] == '}') || (buf[a] == '[' && buf[b - 1] == ']')))
		return false;
	return pg_verify_mbstr(PG_UTF8, buf, (int) len, true);
}

static const char *
classify_transport(CURLcode code, bool too_large, bool *retry)
{
	*retry = true;
	switch (code)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			return "dns";
		case CURLE_COULDNT_CONNECT:
			return "connect";
		case CURLE_OPERATION_TIMEDOUT:
			return "timeout";
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			*retry = false;
			return "tls";
		case CURLE_SSL_CONNECT_ERROR:
			return "tls";
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_GOT_NOTHING:
			return "connection_reset";
		case CURLE_PARTIAL_FILE:
			return "truncated";
		case CURLE_WRITE_ERROR:
			if (too_large)
			{
				*retry = false;
				return "too_large";
			}
			return "network";
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			*retry = false;
			return "config";
		default:
			return "network";
	}
}

/*
 * Replace each byte of s that does not start a complete, valid UTF-8
 * character with '?'.  Error texts quote what the server sent (a body, a
 * header) and are cut to fit their buffers; they end up in text columns,
 * which must hold valid UTF-8.  In place; never throws.
 */
static void
scrub_utf8(char *s)
{
	unsigned char *p = (unsigned char *) s;

	while (*p)
	{
		int			l = pg_utf_mblen(p);
		int			k = 1;

		if (*p < 0x80)
		{
			p++;
			continue;
		}
		while (k < l && p[k] != '\0')
			k++;
		if (k == l && pg_utf8_islegal(p, l))
			p += l;
		else
			*p++ = '?';
	}
}

/* Shopify's error text from a body, flattened to one line. */
static void
error_excerpt(char *dst, size_t dstlen, const char *body, size_t len)
{
	size_t		i,
				n = 0;

	if (body == NULL || len == 0)
	{
		dst[0] = '\0';
		return;
	}
	for (i = 0; i < len && n + 1 < dstlen && n < 300; i++)
	{
		unsigned char ch = (unsigned char) body[i];

		dst[n++] = (ch < 0x20) ? ' ' : (char) ch;
	}
	dst[n] = '\0';
	scrub_utf8(dst);
}

static double
backoff_ms(int attempt)
{
	double		base = 500.0 * pow(2.0, attempt - 1);
	double		jitter = 0.75 + 0.5 * ((double) random() / 2147483647.0);

	return Min(base, MAX_BACKOFF_MS) * jitter;
}

static void
record_attempt(ShopifyCall *call, HttpRequest *r, const char *cls, const char *err,
			   double retry_after_s)
{
	ShopifyApiCallInfo *info;
	int			i;
	char	   *q;

	if (call->nlog >= lengthof(call->log))
	{
		call->log_dropped++;
		return;
	}
	i = call->nlog++;
	info = &call->log[i];
	memset(info, 0, sizeof(*info));
	strlcpy(call->log_endpoint[i], call->path, sizeof(call->log_endpoint[i]));
	/* page_info cursors are long and say nothing: keep the path readable */
	if ((q = strstr(call->log_endpoint[i], "page_info=")) != NULL && strlen(q) > 24)
		strcpy(q + 20, "...");
	/* a download URL's query may carry a signature: leave it out */
	if (call->absolute_url && (q = strchr(call->log_endpoint[i], '?')) != NULL)
		*q = '\0';
	/* a GraphQL call: name its operation */
	if (call->graphql && call->body)
	{
		const char *op = strstr(call->body, "ShopifySync");

		if (op)
		{
			size_t		n = strcspn(op, "( {\\\"");
			size_t		len = strlen(call->log_endpoint[i]);

			snprintf(call->log_endpoint[i] + len, sizeof(call->log_endpoint[i]) - len,
					 " (%.*s)", (int) Min(n, 60), op);
		}
	}
	strlcpy(call->log_request_id[i], r->request_id, sizeof(call->log_request_id[i]));
	strlcpy(call->log_error[i], err ? err : "", sizeof(call->log_error[i]));
	info->method = call->method;
	info->endpoint = call->log_endpoint[i];
	info->http_status = (int) r->status;
	info->duration_ms = r->total_ms;
	info->attempt = call->attempt + call->throttled;
	info->bucket_used = call->shop->bucket_known ? (int) call->shop->bucket_used : -1;
	info->bucket_size = call->shop->bucket_size;
	info->query_cost = -1;
	info->cost_available = call->shop->cost_known ? call->shop->cost_available : -1;
	info->request_id = r->request_id[0] ? call->log_request_id[i] : NULL;
	info->error_class = cls;
	info->error = cls ? call->log_error[i] : NULL;
	info->retry_after_s = retry_after_s;
	info->bytes = r->stream ? r->bytes_total : (int64) r->resp_len;
}

/* The GraphQL layer saw THROTTLED in a 200 answer: wait, do not count. */
void
shopify_graphql_throttled(ShopifyCall *call, double wait_s)
{
	/* shopify_call_finished counted this answer as an attempt and logged it as a success */
	if (call->attempt > 0)
		call->attempt--;
	if (call->nlog > 0)
	{
		ShopifyApiCallInfo *info = &call->log[call->nlog - 1];

		info->error_class = "rate_limited";
		strlcpy(call->log_error[call->nlog - 1], "THROTTLED", sizeof(call->log_error[0]));
		info->error = call->log_error[call->nlog - 1];
		info->retry_after_s = wait_s;
	}
	call->throttled++;
	call->done = false;
	call->ok = false;
	if (call->resp)
		free(call->resp);
	call->resp = NULL;
	call->not_before = GetCurrentTimestamp() + (TimestampTz) (wait_s * USECS_PER_SEC);
	if (call->throttled > MAX_429_WAITS)
	{
		call->done = true;
		call->error_class = "rate_limited";
		snprintf(call->error, sizeof(call->error),
				 "rate_limited: %s %s: still throttled after %d waits",
				 call->method, call->path, call->throttled);
	}
}

/*
 * The HTTP request of this call finished: classify it, and either complete
 * the call (ok or failed) or schedule another try.
 */
void
shopify_call_finished(ShopifyCall *call)
{
	HttpRequest *r = &call->req;
	TimestampTz now = GetCurrentTimestamp();
	ShopClient *s = call->shop;
	const char *cls = NULL;
	bool		retry = false;
	char		excerpt[320];
	double		retry_after = -1;

	call->in_flight = false;
	s->in_flight--;
	if (call->graphql)
		s->cost_in_flight = Max(0, s->cost_in_flight - call->expected_cost);
	shop_observe_call_limit(s, r->call_limit, now);
	call->http_status = r->status;
	strlcpy(call->request_id, r->request_id, sizeof(call->request_id));
	strlcpy(call->link, r->link, sizeof(call->link));
	error_excerpt(excerpt, sizeof(excerpt), r->resp, r->resp_len);

	if (r->curl_code != CURLE_OK)
	{
		cls = classify_transport(r->curl_code, r->too_large, &retry);
		snprintf(call->error, sizeof(call->error), "%s: %s %s: %s",
				 cls, call->method, call->path, r->errbuf);
	}
	else if (r->status == 429)
	{
		/* Throttled: the bucket is full; wait Retry-After, do not count. */
		retry_after = (r->retry_after[0] != '\0') ? strtod(r->retry_after, NULL) : 1.0;
		if (retry_after <= 0 || retry_after > 60)
			retry_after = 2.0;
		s->blocked_until = now + (TimestampTz) (retry_after * USECS_PER_SEC);
		if (s->bucket_known)
		{
			s->bucket_used = s->bucket_size;
			s->bucket_at = now;
		}
		call->throttled++;
		record_attempt(call, r, "rate_limited", "429 Too Many Requests", retry_after);
		http_release(r);
		if (call->throttled > MAX_429_WAITS)
		{
			call->done = true;
			call->ok = false;
			call->error_class = "rate_limited";
			snprintf(call->error, sizeof(call->error),
					 "rate_limited: %s %s: still answered 429 after %d waits (X-Request-Id %s)",
					 call->method, call->path, call->throttled, call->request_id);
			return;
		}
		call->not_before = s->blocked_until;
		return;
	}
	else if (r->status >= 200 && r->status < 300)
	{
		if (!call->stream && !shopify_json_valid(r->resp, r->resp_len))
		{
			cls = "invalid_json";
			retry = true;
			snprintf(call->error, sizeof(call->error),
					 "invalid_json: %s %s: HTTP %ld with a body that is not valid JSON (%zu bytes, Content-Type %s; X-Request-Id %s): %.80s",
					 call->method, call->path, r->status, r->resp_len,
					 r->content_type[0] ? r->content_type : "none",
					 r->request_id[0] ? r->request_id : "none", excerpt);
		}
	}
	else
	{
		if (r->status == 401)
			cls = "auth";
		else if (r->status >= 500)
		{
			cls = "http";
			retry = true;
			if (r->retry_after[0] != '\0')
				retry_after = strtod(r->retry_after, NULL);
		}
		else
			cls = "http";
		snprintf(call->error, sizeof(call->error),
				 "%s: %s %s: HTTP %ld, Shopify says: %s (X-Request-Id %s)",
				 cls, call->method, call->path, r->status,
				 excerpt[0] ? excerpt : "(empty body)",
				 r->request_id[0] ? r->request_id : "none");
	}

	if (cls != NULL)
		scrub_utf8(call->error);	/* %.80s may have cut a character */
	call->attempt++;
	record_attempt(call, r, cls, cls ? call->error : NULL, -1);

	if (cls == NULL)
	{
		call->resp = http_take_body(r, &call->resp_len);
		call->done = true;
		call->ok = true;
		call->error_class = NULL;
		return;
	}
	http_release(r);
	if (retry && call->attempt <= shopify_max_retries)
	{
		double		wait = backoff_ms(call->attempt);

		if (retry_after > 0)
			wait = Max(wait, retry_after * 1000.0);
		call->not_before = now + (TimestampTz) (wait * 1000.0);
		call->done = false;
		return;
	}
	if (retry)
	{
		size_t		n = strlen(call->error);

		snprintf(call->error + n, sizeof(call->error) - n,
				 " (gave up after %d attempts)", call->attempt);
	}
	call->done = true;
	call->ok = false;
	call->error_class = cls;
}

/* Write the recorded attempts to the log (caller is in a transaction). */
void
shopify_call_flush_log(ShopifyCall *call, int64 shop_id, int64 job_id)
{
	int			i;

	if (shopify_log_api_calls)
		for (i = 0; i < call->nlog; i++)
			log_shopify_api_call(shop_id, job_id, &call->log[i]);
	call->nlog = 0;
	call->log_dropped = 0;
}
