/*
 * path.c — a sync's path (GraphQL pages, or a bulk operation), chosen by
 * expected time, and what the choice learns from each finished job.
 *
 * After the count, the worker knows how many products (orders) the
 * listing has, the store's GraphQL rate (throttleStatus of the answers so
 * far: restore rate and bucket) and what it learned of the store in earlier
 * jobs (shopify.stores.path_stats).  Pages cost their actual points (the
 * points a node was charged on this store's pages, learned; a default from
 * the declared selection otherwise) at the restore rate, and at least a
 * round trip per page; a bulk operation costs a fixed time plus a time per
 * exported object (both learned from this store's operations: 15 s and
 * 2 ms per object until then, about what Shopify takes), and its rows are
 * written after the export, where pages overlap the writes with the
 * fetches.  The faster path runs; the job row says why (path_reason) with
 * the figures (path_estimate).  shopify_sync.bulk_threshold set to a
 * number keeps the fixed rule instead.
 *
 * Learning is an exponentially weighted average (new values count half),
 * so a store whose plan changes is followed within a few jobs.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "shopify/graphql.h"
#include "sync/path.h"
#include "base/settings.h"
#include "base/util.h"

#define ALPHA 0.5

typedef struct Stats
{
	double		restore;		/* points per second */
	double		bucket;			/* points */
	double		cost_per_node;	/* points a product (order) costs on a page */
	double		request_s;		/* a page's round trip */
	double		nodes_per_s;	/* products (orders) written per second */
	double		bulk_fixed_s;
	double		bulk_ms_per_object;
	double		objects_per_node;
	int			bulk_operations;
} Stats;

/* -1 for a key the store has not learned */
static const char *const stat_keys[] = {
	"graphql_restore_rate", "graphql_bucket", NULL /* cost_per_ */ , "request_s",
	NULL /* _per_s */ , "bulk_fixed_s", "bulk_ms_per_object", NULL /* objects_per_ */ ,
	"bulk_operations"
};

static void
load_stats(int64 shop_id, bool orders, Stats *st)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(shop_id)};
	const char *res = orders ? "order" : "product";
	StringInfoData sql;
	double	   *f = (double *) st;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < (int) lengthof(stat_keys); i++)
	{
		char	   *key = stat_keys[i] ? pstrdup(stat_keys[i]) :
			i == 2 ? psprintf("cost_per_%s", res) :
			i == 4 ? psprintf("%ss_per_s", res) : psprintf("objects_per_%s", res);

		appendStringInfo(&sql, "%scoalesce((p->>'%s')::float8, -1)", i ? ", " : "", key);
	}
	appendStringInfoString(&sql, " FROM (SELECT path_stats AS p FROM shopify.stores WHERE shop_id = $1) s");
	for (int i = 0; i < (int) lengthof(stat_keys) - 1; i++)
		f[i] = -1;
	st->bulk_operations = 0;
	if (shopify_spi_exec(sql.data, 1, types, vals, NULL, true) == 1)
	{
		for (int i = 0; i < (int) lengthof(stat_keys) - 1; i++)
		{
			bool		isnull;

			f[i] = DatumGetFloat8(shopify_spi_value(0, i + 1, &isnull));
		}
		{
			bool		isnull;

			st->bulk_operations = (int) DatumGetFloat8(shopify_spi_value(0, lengthof(stat_keys), &isnull));
			if (st->bulk_operations < 0)
				st->bulk_operations = 0;
		}
	}
}

static double
or_default(double v, double dflt)
{
	return v > 0 ? v : dflt;
}

/*
 * Choose the path of a sync of count products (orders): pages or a bulk
 * operation (can_bulk: the store uses GraphQL).  restore_rate and bucket:
 * the store's throttle status as last seen (-1: not seen).
 */
void
path_choose(int64 shop_id, bool orders, int count, bool can_bulk,
			double restore_rate, double bucket, PathChoice *out)
{
	const char *what = orders ? "orders" : "products";
	Stats		st;
	GqlPageSizes sz;
	double		cost_node,
				restore,
				points,
				rate_s,
				latency_s,
				write_s,
				pages_s,
				objects,
				bulk_s,
				req_s,
				per_object_ms,
				fixed_s;
	int			pages;

	memset(out, 0, sizeof(*out));
	if (!can_bulk)
	{
		out->reason = psprintf("pages: the store uses the REST Admin API (bulk operations are GraphQL)");
		return;
	}
	if (shopify_bulk_threshold != SHOPIFY_BULK_AUTO)
	{
		out->bulk = shopify_bulk_threshold == 0 ||
			(shopify_bulk_threshold > 0 && count > shopify_bulk_threshold);
		out->reason = shopify_bulk_threshold < 0 ?
			psprintf("pages: shopify_sync.bulk_threshold = -1 (never bulk)") :
			shopify_bulk_threshold == 0 ?
			psprintf("bulk: shopify_sync.bulk_threshold = 0 (always bulk)") :
			psprintf("%s: %d %s %s shopify_sync.bulk_threshold = %d", out->bulk ? "bulk" : "pages",
					 count, what, out->bulk ? "above" : "not above", shopify_bulk_threshold);
		return;
	}

	load_stats(shop_id, orders, &st);
	gql_page_sizes(orders ? &gql_orders : &gql_products, &sz);
	/* a node: the object, its fields' objects, its first page of children (about three) */
	cost_node = or_default(st.cost_per_node, orders ? 24.0 : 9.0);
	restore = restore_rate > 0 ? restore_rate : or_default(st.restore, 100.0);
	bucket = bucket > 0 ? bucket : or_default(st.bucket, 1000.0);
	req_s = or_default(st.request_s, 0.4);
	pages = Max(1, (int) ceil((double) count / Max(sz.first, 1)));
	points = count * cost_node + 2.0 * pages;
	rate_s = Max(0.0, points - bucket) / restore;
	latency_s = pages * req_s;
	write_s = count / or_default(st.nodes_per_s, orders ? 4000.0 : 3000.0);
	pages_s = Max(Max(rate_s, latency_s), write_s);

	fixed_s = or_default(st.bulk_fixed_s, 15.0);
	per_object_ms = or_default(st.bulk_ms_per_object, 2.0);
	objects = count * or_default(st.objects_per_node, orders ? 3.25 : 4.5);
	bulk_s = fixed_s + objects * per_object_ms / 1000.0 + write_s;

	out->bulk = bulk_s < pages_s;
	out->reason = psprintf("%s: expected %.0f s, %s %.0f s (%d %s; pages: %d of %d, %.1f points each at %.0f points/s, %.2f s a round trip; bulk: %.1f s + %.2f ms per object%s)",
						   out->bulk ? "bulk" : "pages", out->bulk ? bulk_s : pages_s,
						   out->bulk ? "pages" : "bulk", out->bulk ? pages_s : bulk_s,
						   count, what, pages, sz.first, cost_node * sz.first + 2, restore, req_s,
						   fixed_s, per_object_ms,
						   st.bulk_operations > 0 ? psprintf(", learned from %d operation%s",
															 st.bulk_operations,
															 st.bulk_operations == 1 ? "" : "s") :
						   ", defaults");
	out->estimate = psprintf("{\"pages_s\": %.3f, \"bulk_s\": %.3f, \"count\": %d, \"pages\": %d,"
							 " \"points\": %.0f, \"restore_rate\": %.1f, \"bucket\": %.0f,"
							 " \"request_s\": %.3f, \"write_s\": %.3f, \"bulk_fixed_s\": %.3f,"
							 " \"bulk_ms_per_object\": %.4f, \"objects\": %.0f}",
							 pages_s, bulk_s, count, pages, points, restore, bucket, req_s, write_s,
							 fixed_s, per_object_ms, objects);
}

static double
blend(double old, double now)
{
	if (!(now > 0) || isinf(now))
		return old;
	return old > 0 ? (1 - ALPHA) * old + ALPHA * now : now;
}

/* What a finished job teaches of its store. */
void
path_learn(int64 shop_id, const PathSample *s)
{
	const char *res = s->orders ? "order" : "product";
	Stats		st;
	StringInfoData j;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2];

	load_stats(shop_id, s->orders, &st);
	initStringInfo(&j);
	appendStringInfoChar(&j, '{');
#define PUT(k, v) appendStringInfo(&j, "%s\"%s\": %.6g", j.len > 1 ? ", " : "", (k), (v))
	if (s->restore_rate > 0)
		PUT("graphql_restore_rate", s->restore_rate);
	if (s->bucket > 0)
		PUT("graphql_bucket", s->bucket);
	if (s->gql_nodes > 0 && s->gql_cost > 0)
		PUT(psprintf("cost_per_%s", res), blend(st.cost_per_node, s->gql_cost / s->gql_nodes));
	if (s->requests > 0)
		PUT("request_s", blend(st.request_s, s->request_s / s->requests));
	if (s->write_s > 0 && s->nodes >= 100)
		PUT(psprintf("%ss_per_s", res), blend(st.nodes_per_s, s->nodes / s->write_s));
	if (s->bulk && s->bulk_s > 0 && s->bulk_objects > 0)
	{
		double		fixed = or_default(st.bulk_fixed_s, 15.0);
		double		k = or_default(st.bulk_ms_per_object, 2.0) / 1000.0;
		double		pred = fixed + s->bulk_objects * k;
		double		err = s->bulk_s - pred;

		/* the error is shared between the two terms by their part of the prediction */
		fixed = Max(0.3, fixed + ALPHA * err * (fixed / pred));
		k = Max(1e-6, k + ALPHA * err * (s->bulk_objects * k / pred) / s->bulk_objects);
		PUT("bulk_fixed_s", fixed);
		PUT("bulk_ms_per_object", k * 1000.0);
		if (s->nodes > 0)
			PUT(psprintf("objects_per_%s", res), blend(st.objects_per_node, (double) s->bulk_objects / s->nodes));
		PUT("bulk_operations", (double) st.bulk_operations + 1);
	}
#undef PUT
	appendStringInfoChar(&j, '}');
	if (j.len <= 2)
		return;
	vals[0] = Int64GetDatum(shop_id);
	vals[1] = CStringGetTextDatum(j.data);
	shopify_spi_exec("UPDATE shopify.stores SET path_stats = path_stats || $2::jsonb WHERE shop_id = $1",
					 2, types, vals, NULL, false);
}

/*
 * The path of a declared resource's sync (no count: count is the store's
 * objects of it from the last sync, 0 when none).  Incremental syncs page.
 * A first full sync, whose size is not known, takes a bulk operation (its
 * time hardly depends on the size; pages of an unknown listing could take
 * hours on a Standard plan); later ones compare pages (their points at the
 * restore rate, at least a round trip each) with a bulk operation (15 s and
 * 2 ms an object, Shopify's usual figures).
 */
void
path_choose_objects(int count, bool full_sync, int page_size, double page_cost,
					double restore_rate, PathChoice *out)
{
	double		pages,
				pages_s,
				bulk_s;

	memset(out, 0, sizeof(*out));
	if (!full_sync)
	{
		out->reason = pstrdup("pages: an incremental sync lists only what changed");
		return;
	}
	if (shopify_bulk_threshold != SHOPIFY_BULK_AUTO)
	{
		out->bulk = shopify_bulk_threshold == 0 ||
			(shopify_bulk_threshold > 0 && count > shopify_bulk_threshold);
		out->reason = psprintf("%s: shopify_sync.bulk_threshold = %d (%d objects stored)",
							   out->bulk ? "bulk" : "pages", shopify_bulk_threshold, count);
		return;
	}
	if (count <= 0)
	{
		out->bulk = true;
		out->reason = pstrdup("bulk: a first full sync (the listing's size is not known; a bulk operation's time hardly depends on it)");
		return;
	}
	pages = ceil((double) count / Max(page_size, 1));
	pages_s = pages * Max(restore_rate > 0 ? page_cost / restore_rate : page_cost / 50.0, 0.4);
	bulk_s = 15.0 + 0.002 * count;
	out->bulk = bulk_s < pages_s;
	out->reason = psprintf("%s: expected %.0f s, %s %.0f s (%d objects stored; pages: %.0f of %d, %.0f points each)",
						   out->bulk ? "bulk" : "pages", out->bulk ? bulk_s : pages_s,
						   out->bulk ? "pages" : "bulk", out->bulk ? pages_s : bulk_s,
						   count, pages, page_size, page_cost);
}

/*
 * The path of a sync of a resource declared as tables (locations, inventory
 * levels, collections, metafields, customers): nodes listed (its count, -1
 * when it has none) and children; stored: the rows the store already has
 * of it (-1: none known).  Incremental syncs page; a listing that cannot be
 * exported pages; a first full sync whose size is not known takes a bulk
 * operation; otherwise the expected times compare: pages (their points at
 * the restore rate, a round trip each, and the follow-up pages of nodes
 * with more children than a page carries) against a bulk operation.
 */
void
path_choose_tables(const GqlListing *l, int nodes, int64 stored_nodes, int64 stored_children,
				   bool full_sync, double restore_rate, double bucket, PathChoice *out)
{
	GqlPageSizes sz;
	double		children,
				pages,
				follows,
				points,
				pages_s,
				bulk_s,
				restore;
	int64		size;

	memset(out, 0, sizeof(*out));
	if (!full_sync)
	{
		out->reason = pstrdup("pages: an incremental sync lists only what changed");
		return;
	}
	if (!l->bulk)
	{
		out->reason = psprintf("pages: %s are listed by pages only", l->resource);
		return;
	}
	size = Max((int64) nodes, stored_nodes) + Max(stored_children, 0);
	if (shopify_bulk_threshold != SHOPIFY_BULK_AUTO)
	{
		out->bulk = shopify_bulk_threshold == 0 ||
			(shopify_bulk_threshold > 0 && size > shopify_bulk_threshold);
		out->reason = psprintf("%s: shopify_sync.bulk_threshold = %d (%lld objects)",
							   out->bulk ? "bulk" : "pages", shopify_bulk_threshold, (long long) size);
		return;
	}
	if (nodes < 0 && stored_nodes <= 0 && stored_children <= 0)
	{
		out->bulk = true;
		out->reason = pstrdup("bulk: a first full sync (the listing's size is not known; a bulk operation's time hardly depends on it)");
		return;
	}
	gql_page_sizes(l, &sz);
	if (nodes < 0)
		nodes = (int) Min(stored_nodes, PG_INT32_MAX);
	children = stored_children >= 0 ? stored_children : 0;
	pages = Max(1.0, ceil((double) nodes / Max(sz.first, 1)));
	follows = l->child ? Max(0.0, children - (double) nodes * sz.child_first) / Max(sz.follow_first, 1) : 0;
	points = pages * sz.cost + follows * sz.follow_cost;
	restore = restore_rate > 0 ? restore_rate : 100.0;
	bucket = bucket > 0 ? bucket : 1000.0;
	pages_s = Max(Max(0.0, points - bucket) / restore, (pages + follows) * 0.4);
	bulk_s = 15.0 + 0.002 * (nodes + children);
	out->bulk = bulk_s < pages_s;
	out->reason = psprintf("%s: expected %.0f s, %s %.0f s (%d %s, %.0f children; pages: %.0f of %d and %.0f follow-ups, %.0f points at %.0f points/s; bulk: 15 s + 2 ms per object)",
						   out->bulk ? "bulk" : "pages", out->bulk ? bulk_s : pages_s,
						   out->bulk ? "pages" : "bulk", out->bulk ? pages_s : bulk_s,
						   nodes, l->connection ? l->connection : l->single, children, pages, sz.first,
						   follows, points, restore);
}
