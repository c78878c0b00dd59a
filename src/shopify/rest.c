/*
 * rest.c — the REST Admin API flavour of a product sync: which paths to
 * request, and how the next page is found.
 *
 * Pages: GET /admin/api/{v}/products.json?limit=250&fields=...&status=...
 * with any filter (updated_at_min) on the first request only; the next page
 * is named by the page_info of the Link header's rel="next" part.  The link
 * carries the shop's own host: only page_info is taken from it and the URL
 * is rebuilt on the configured base, so a hostile Link header cannot send
 * the token anywhere else.  fields= leaves out body_html and images, most of
 * a product's bytes.
 */
#include "postgres.h"

#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "shopify/rest.h"
#include "base/settings.h"

#define PRODUCT_FIELDS "id,title,vendor,product_type,handle,status,tags,updated_at,variants"
#define ALL_STATUSES "active,archived,draft"
#define MAX_PAGE_INFO 1024

/* ISO 8601 in UTC ("2026-01-01T00:00:00Z"): no '+' to URL-encode. */
static void
format_utc(TimestampTz ts, char *buf, size_t len)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ",
			 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *
rest_shop_path(void)
{
	return psprintf("/admin/api/%s/shop.json", shopify_api_version);
}

char *
rest_count_path(bool has_since, TimestampTz since)
{
	char		ts[64];

	if (!has_since)
		return psprintf("/admin/api/%s/products/count.json?status=" ALL_STATUSES,
						shopify_api_version);
	format_utc(since, ts, sizeof(ts));
	return psprintf("/admin/api/%s/products/count.json?status=" ALL_STATUSES "&updated_at_min=%s",
					shopify_api_version, ts);
}

char *
rest_page_path(const char *page_info, bool has_since, TimestampTz since)
{
	char		ts[64];

	if (page_info != NULL)
		return psprintf("/admin/api/%s/products.json?limit=%d&fields=" PRODUCT_FIELDS "&page_info=%s",
						shopify_api_version, shopify_rest_page_size, page_info);
	if (!has_since)
		return psprintf("/admin/api/%s/products.json?limit=%d&fields=" PRODUCT_FIELDS "&status=" ALL_STATUSES,
						shopify_api_version, shopify_rest_page_size);
	format_utc(since, ts, sizeof(ts));
	return psprintf("/admin/api/%s/products.json?limit=%d&fields=" PRODUCT_FIELDS "&status=" ALL_STATUSES
					"&updated_at_min=%s",
					shopify_api_version, shopify_rest_page_size, ts);
}

static bool
page_info_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '~' || c == '%' || c == '=';
}

/*
 * Find the page_info of the rel="next" part of a Link header.  Returns false
 * when the header is malformed; *page_info is NULL when there is no next
 * page, else palloc'd.
 */
bool
rest_next_page_info(const char *link, char **page_info)
{
	const char *p = link;

	*page_info = NULL;
	if (link == NULL || link[0] == '\0')
		return true;
	while ((p = strchr(p, '<')) != NULL)
	{
		const char *gt = strchr(p, '>');
		const char *end;
		const char *params;
		const char *q;
		size_t		plen;

		if (gt == NULL)
			return false;
		end = strchr(gt, '<');
		if (end == NULL)
			end = gt + strlen(gt);
		params = gt + 1;
		plen = end - params;
		if (!((memmem(params, plen, "rel=\"next\"", 10) != NULL) ||
			  (memmem(params, plen, "rel=next", 8) != NULL)))
		{
			p = end;
			continue;
		}
		/* the URL between < and >: take page_info=VALUE out of its query */
		q = memmem(p, gt - p, "page_info=", 10);
		while (q != NULL && q[-1] != '?' && q[-1] != '&')
			q = memmem(q + 1, gt - (q + 1), "page_info=", 10);
		if (q == NULL)
			return false;
		q += 10;
		{
			const char *v = q;
			size_t		n = 0;

			while (v + n < gt && v[n] != '&')
			{
				if (!page_info_char_ok(v[n]))
					return false;
				n++;
			}
			if (n == 0 || n > MAX_PAGE_INFO)
				return false;
			*page_info = pnstrdup(v, n);
		}
		return true;
	}
	return true;
}

/* Orders: every status (the endpoint's default is only open orders), whole orders. */
char *
rest_orders_count_path(bool has_since, TimestampTz since)
{
	char		ts[64];

	if (!has_since)
		return psprintf("/admin/api/%s/orders/count.json?status=any", shopify_api_version);
	format_utc(since, ts, sizeof(ts));
	return psprintf("/admin/api/%s/orders/count.json?status=any&updated_at_min=%s",
					shopify_api_version, ts);
}

char *
rest_orders_page_path(const char *page_info, bool has_since, TimestampTz since)
{
	char		ts[64];

	if (page_info != NULL)
		return psprintf("/admin/api/%s/orders.json?limit=%d&page_info=%s",
						shopify_api_version, shopify_rest_page_size, page_info);
	if (!has_since)
		return psprintf("/admin/api/%s/orders.json?limit=%d&status=any",
						shopify_api_version, shopify_rest_page_size);
	format_utc(since, ts, sizeof(ts));
	return psprintf("/admin/api/%s/orders.json?limit=%d&status=any&updated_at_min=%s",
					shopify_api_version, shopify_rest_page_size, ts);
}
