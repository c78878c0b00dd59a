/*
 * introspect.c — SQL functions that show the extension's own workings to
 * its tests and to operators: shopify._graphql_documents() lists every
 * GraphQL document the worker can send under the current settings (each
 * operation with example variables, and the inner query of each bulk
 * operation) with the requested cost computed here (gql_doc.c), so that the
 * suite can check each against Shopify's published schema.  Declared
 * resources' page documents are listed too (name "declared:<resource>").
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "executor/spi.h"
#include "shopify/declared.h"
#include "shopify/gql_doc.h"
#include "mirror/resource.h"
#include "shopify/graphql.h"
#include "base/settings.h"
#include "base/util.h"

PG_FUNCTION_INFO_V1(shopify_graphql_documents);

typedef struct DocOut
{
	Tuplestorestate *ts;
	TupleDesc	desc;
} DocOut;

/* One row: name, api_version, query, variables, bulk, cost. */
static void
emit(DocOut *o, const char *name, const char *query, const char *vars_json,
	 const GqlVar *vars, int nvars, bool bulk)
{
	Datum		v[6];
	bool		n[6] = {false, false, false, false, false, false};

	v[0] = CStringGetTextDatum(name);
	v[1] = CStringGetTextDatum(shopify_api_version);
	v[2] = CStringGetTextDatum(query);
	v[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(vars_json));
	v[4] = BoolGetDatum(bulk);
	v[5] = Float8GetDatum(gql_doc_cost(query, vars, nvars));
	tuplestore_putvalues(o->ts, o->desc, v, n);
}

#define EXAMPLE_FILTER "updated_at:>='2026-01-01T00:00:00Z'"

static void
listing_documents(DocOut *o, const GqlListing *l)
{
	GqlPageSizes sz;
	GqlVar		pv[2];
	GqlVar		fv[1];
	char	   *page = gql_page_query(l);
	char	   *child = l->child ? psprintf(", \"%s\": %d", l->child_var, 0) : "";

	gql_page_sizes(l, &sz);
	if (l->child)
		child = psprintf(", \"%s\": %d", l->child_var, sz.child_first);
	if (l->count_field)
		emit(o, psprintf("ShopifySync%s", l->count_op), gql_count_query(l),
			 "{\"query\": \"" EXAMPLE_FILTER "\"}", NULL, 0, false);
	pv[0].name = "first";
	pv[0].value = sz.first;
	pv[1].name = l->child_var;
	pv[1].value = sz.child_first;
	if (l->connection)
	{
		emit(o, psprintf("ShopifySync%s", l->op), page,
			 psprintf("{\"first\": %d%s, \"after\": null, \"query\": null}", sz.first, child),
			 pv, l->child ? 2 : 1, false);
		emit(o, psprintf("ShopifySync%s", l->op), page,
			 psprintf("{\"first\": %d%s, \"after\": \"eyJ0IjoiZXhhbXBsZSJ9\", \"query\": \"" EXAMPLE_FILTER "\"}",
					  sz.first, child), pv, l->child ? 2 : 1, false);
	}
	if (l->child)
	{
		fv[0].name = "first";
		fv[0].value = sz.follow_first;
		emit(o, psprintf("ShopifySync%s", l->child_op), gql_follow_query(l),
			 psprintf("{%s\"first\": %d, \"after\": \"eyJ0IjoiZXhhbXBsZSJ9\"%s}",
					  l->connection ? psprintf("\"id\": \"gid://shopify/%s/1\", ", l->node_type) : "",
					  sz.follow_first,
					  l->child_filter ? ", \"query\": \"" EXAMPLE_FILTER "\"" : ""),
			 fv, 1, false);
	}
	if (l->bulk)
	{
		emit(o, psprintf("bulk:%s", l->resource), gql_bulk_query(l, NULL), "{}", NULL, 0, true);
		emit(o, psprintf("bulk:%s:incremental", l->resource), gql_bulk_query(l, EXAMPLE_FILTER),
			 "{}", NULL, 0, true);
	}
}

/* each declared resource's page document, first and incremental */
static void
declared_documents(DocOut *o)
{
	ShopifyElevation elev = {0};
	int			n;

	shopify_elevate(&elev);
	shopify_spi_connect();
	n = shopify_spi_exec("SELECT name, query, incremental FROM shopify.resource_definitions ORDER BY name",
						 0, NULL, NULL, NULL, true);
	for (int i = 0; i < n; i++)
	{
		DeclaredQuery d;
		GqlVar		v[1];
		char	   *name = shopify_spi_text(i, 1);
		bool		isnull;

		declared_read(shopify_spi_text(i, 2), DatumGetBool(shopify_spi_value(i, 3, &isnull)), &d);
		if (!d.ok)
			continue;
		v[0].name = "first";
		v[0].value = d.page_size;
		emit(o, psprintf("declared:%s", name), d.document,
			 declared_page_variables(&d, NULL, NULL), v, 1, false);
		if (d.has_query_var)
			emit(o, psprintf("declared:%s", name), d.document,
				 declared_page_variables(&d, "eyJ0IjoiZXhhbXBsZSJ9", EXAMPLE_FILTER), v, 1, false);
		emit(o, psprintf("bulk:declared:%s", name), declared_bulk_query(&d, NULL), "{}", NULL, 0, true);
		if (d.incremental)
			emit(o, psprintf("bulk:declared:%s:incremental", name), declared_bulk_query(&d, EXAMPLE_FILTER),
				 "{}", NULL, 0, true);
	}
	shopify_spi_finish();
	shopify_restore(&elev);
}

Datum
shopify_graphql_documents(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DocOut		o;

	InitMaterializedSRF(fcinfo, 0);
	o.ts = rsinfo->setResult;
	o.desc = rsinfo->setDesc;
	emit(&o, "ShopifySyncShop", gql_shop_query(), "{}", NULL, 0, false);
	for (int i = 0; resource_builtins[i]; i++)
		listing_documents(&o, resource_builtins[i]->gql);
	emit(&o, "ShopifySyncBulkStart", gql_bulk_start_query(),
		 "{\"query\": \"{ products { edges { node { id } } } }\"}", NULL, 0, false);
	emit(&o, "ShopifySyncBulkStatus", gql_bulk_status_query(),
		 "{\"id\": \"gid://shopify/BulkOperation/1\"}", NULL, 0, false);
	declared_documents(&o);
	return (Datum) 0;
}
