/*
 * graphql.c — the GraphQL Admin API flavour: the operations a sync sends
 * and what the worker reads from their answers.
 *
 * Requests are POST /admin/api/{v}/graphql.json with {"query", "variables"};
 * each operation is named (ShopifySync...), so answers and logs say what was
 * asked.  A products page selects exactly the fields the mirror keeps and
 * the first variants of each product; a product with more variants is
 * completed with ShopifySyncProductVariants pages.  Full syncs of large
 * catalogs run as a bulk operation whose JSONL result is downloaded.
 *
 * Answers are read in one streaming pass (jsonpick.c) for what drives the
 * sync: errors (THROTTLED and others), the query cost and throttle status,
 * pageInfo of the products and of each product's variants, counts and bulk
 * operation fields.  The rows themselves are extracted in SQL by
 * shopify._variants() with the graphql_* shapes.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "shopify/gql_doc.h"
#include "shopify/graphql.h"
#include "base/jsonpick.h"
#include "base/settings.h"

/* The documents of a resource's listing are built in gql_listing.c. */

/* publicDisplayName: ShopPlan.displayName is deprecated */
static const char *q_shop =
"query ShopifySyncShop { shop { name currencyCode myshopifyDomain plan { publicDisplayName } } }";

static const char *q_bulk_start =
"mutation ShopifySyncBulkStart($query: String!) {"
" bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message code } } }";

static const char *q_bulk_status =
"query ShopifySyncBulkStatus($id: ID!) { node(id: $id) { ... on BulkOperation {"
" id status errorCode objectCount fileSize url partialDataUrl createdAt completedAt } } }";

char *
gql_path(void)
{
	return psprintf("/admin/api/%s/graphql.json", shopify_api_version);
}

char *
gql_body(const char *query, const char *variables_json)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"query\": ");
	escape_json(&b, query);
	appendStringInfo(&b, ", \"variables\": %s}", variables_json ? variables_json : "{}");
	return b.data;
}

void
gql_json_str_or_null(StringInfo b, const char *s)
{
	if (s == NULL)
		appendStringInfoString(b, "null");
	else
		escape_json(b, s);
}

char *
gql_shop_query(void)
{
	return pstrdup(q_shop);
}

char *
gql_shop_body(void)
{
	return gql_body(q_shop, NULL);
}

/* The search filter of an incremental sync: updated_at:>='...Z'. */
char *
gql_filter_since(bool has_since, TimestampTz since)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (!has_since)
		return NULL;
	if (timestamp2tm(since, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	return psprintf("updated_at:>='%04d-%02d-%02dT%02d:%02d:%02dZ'",
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *
gql_bulk_start_query(void)
{
	return pstrdup(q_bulk_start);
}

char *
gql_bulk_status_query(void)
{
	return pstrdup(q_bulk_status);
}

/* bulkOperationRunQuery of an inner query (a listing's, a declared resource's) */
char *
gql_bulk_run_body(const char *inner)
{
	StringInfoData v;

	initStringInfo(&v);
	appendStringInfoString(&v, "{\"query\": ");
	escape_json(&v, inner);
	appendStringInfoChar(&v, '}');
	return gql_body(q_bulk_start, v.data);
}

char *
gql_bulk_status_body(const char *bulk_gid)
{
	StringInfoData v;

	initStringInfo(&v);
	appendStringInfoString(&v, "{\"id\": ");
	escape_json(&v, bulk_gid);
	appendStringInfoChar(&v, '}');
	return gql_body(q_bulk_status, v.data);
}

/* ----- reading answers ----- */

static double
num(JsonPick *p, double dflt)
{
	const char *s = json_pick_first(p);

	return s ? strtod(s, NULL) : dflt;
}

static char *
str(JsonPick *p)
{
	const char *s = json_pick_first(p);

	return s ? pstrdup(s) : NULL;
}

/* Are the node indexes of p in document order (one list of nodes)? */
static bool
nodes_in_order(JsonPick *p)
{
	for (int i = 1; i < p->n; i++)
		if (p->index[i] < p->index[i - 1])
			return false;
	return true;
}

/* The last value of p that belongs to node (from *pos on), or NULL. */
static const char *
node_value(JsonPick *p, int *pos, int node)
{
	while (*pos < p->n && p->index[*pos] < node)
		(*pos)++;
	while (*pos + 1 < p->n && p->index[*pos + 1] == node)
		(*pos)++;
	return (*pos < p->n && p->index[*pos] == node) ? p->values[*pos] : NULL;
}

/*
 * The nodes of a page: each node's id with its own child connection's
 * pageInfo.  The paths are matched by node index, not by position in their
 * lists, so a node without a scalar id does not hand its pageInfo to the
 * next node.  With a duplicate key the last value counts, as in the rows.
 * Returns false when the lists are not one list of nodes.
 */
static bool
page_nodes(JsonPick *ids, JsonPick *more, JsonPick *ends, GqlAnswer *a)
{
	int			m = 0,
				e = 0;

	if (!nodes_in_order(ids) || !nodes_in_order(more) || !nodes_in_order(ends))
		return false;
	a->nproducts = 0;
	a->product_ids = palloc0(sizeof(char *) * Max(ids->n, 1));
	a->more_variants = palloc0(sizeof(bool) * Max(ids->n, 1));
	a->variants_cursor = palloc0(sizeof(char *) * Max(ids->n, 1));
	for (int i = 0; i < ids->n; i++)
	{
		int			node = ids->index[i];
		const char *v;

		if (node < 0 || (i + 1 < ids->n && ids->index[i + 1] == node))
			continue;
		a->product_ids[a->nproducts] = ids->values[i];
		v = node_value(more, &m, node);
		a->more_variants[a->nproducts] = (v != NULL && strcmp(v, "true") == 0);
		a->variants_cursor[a->nproducts] = (char *) node_value(ends, &e, node);
		a->nproducts++;
	}
	return true;
}

/* Is the first character of the document (after white space) '{'? */
static bool
is_object(const char *doc, size_t len)
{
	size_t		i = 0;

	while (i < len && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r'))
		i++;
	return i < len && doc[i] == '{';
}

static void read_answer(const char *doc, size_t len, GqlOp op, const GqlListing *l,
						const char *connection, GqlAnswer *a);

/*
 * Read what the worker needs from an answer to op (of listing l).
 * a->json_ok is false (and a->parse_error set) when the body is not JSON or
 * not usable (not an object, nested too deep, a next page without its
 * cursor).
 */
void
gql_read_answer(const char *doc, size_t len, GqlOp op, const GqlListing *l, GqlAnswer *a)
{
	read_answer(doc, len, op, l, NULL, a);
}

/* A page of a declared resource's connection (declared.c's document). */
void
gql_read_objects_answer(const char *doc, size_t len, const char *connection, GqlAnswer *a)
{
	read_answer(doc, len, GQL_OBJECTS, NULL, connection, a);
}

static void
read_answer(const char *doc, size_t len, GqlOp op, const GqlListing *l, const char *connection,
			GqlAnswer *a)
{
	enum
	{
		E_MSG, E_CODE, C_REQ, C_ACT, C_MAX, C_AVAIL, C_RESTORE,
		P_NEXT, P_END, P_IDS, P_VMORE, P_VEND,
		V_ID, V_MORE, V_END,
		N_COUNT,
		B_ID, B_STATUS, B_UCODE, B_UMSG,
		S_ID, S_STATUS, S_ERR, S_COUNT, S_URL,
		NPICKS
	};
	JsonPick	k[NPICKS];
	const char *conn = op == GQL_OBJECTS ? psprintf("data.%s", connection) :
		l && l->connection ? psprintf("data.%s", l->connection) : "\001";
	const char *child = l && l->child ? l->child : "\001";
	const char *single = l && l->single ? psprintf("data.%s", l->single) : "\001";

	memset(k, 0, sizeof(k));
	memset(a, 0, sizeof(*a));
	a->count = -1;
	k[E_MSG].path = "errors.*.message";
	k[E_CODE].path = "errors.*.extensions.code";
	k[C_REQ].path = "extensions.cost.requestedQueryCost";
	k[C_ACT].path = "extensions.cost.actualQueryCost";
	k[C_MAX].path = "extensions.cost.throttleStatus.maximumAvailable";
	k[C_AVAIL].path = "extensions.cost.throttleStatus.currentlyAvailable";
	k[C_RESTORE].path = "extensions.cost.throttleStatus.restoreRate";
	k[P_NEXT].path = psprintf("%s.pageInfo.hasNextPage", conn);
	k[P_END].path = psprintf("%s.pageInfo.endCursor", conn);
	k[P_IDS].path = psprintf("%s.nodes.*.id", conn);
	k[P_VMORE].path = psprintf("%s.nodes.*.%s.pageInfo.hasNextPage", conn, child);
	k[P_VEND].path = psprintf("%s.nodes.*.%s.pageInfo.endCursor", conn, child);
	k[V_ID].path = psprintf("%s.id", single);
	k[V_MORE].path = psprintf("%s.%s.pageInfo.hasNextPage", single, child);
	k[V_END].path = psprintf("%s.%s.pageInfo.endCursor", single, child);
	k[N_COUNT].path = l && l->count_field ? psprintf("data.%s.count", l->count_field) : "\001";
	k[B_ID].path = "data.bulkOperationRunQuery.bulkOperation.id";
	k[B_STATUS].path = "data.bulkOperationRunQuery.bulkOperation.status";
	k[B_UCODE].path = "data.bulkOperationRunQuery.userErrors.*.code";
	k[B_UMSG].path = "data.bulkOperationRunQuery.userErrors.*.message";
	k[S_ID].path = "data.node.id";
	k[S_STATUS].path = "data.node.status";
	k[S_ERR].path = "data.node.errorCode";
	k[S_COUNT].path = "data.node.objectCount";
	k[S_URL].path = "data.node.url";

	if (!is_object(doc, len))
	{
		a->parse_error = pstrdup("the answer is not a JSON object");
		return;
	}
	a->json_ok = json_pick(doc, len, k, NPICKS, &a->parse_error);
	if (!a->json_ok)
		return;

	a->error_message = str(&k[E_MSG]);
	a->error_code = str(&k[E_CODE]);
	a->throttled = (a->error_code && strcmp(a->error_code, "THROTTLED") == 0);
	if (a->error_message && a->error_code == NULL)
		a->error_code = pstrdup("GRAPHQL_ERROR");

	a->has_cost = (k[C_AVAIL].n > 0);
	a->requested = num(&k[C_REQ], -1);
	a->actual = num(&k[C_ACT], -1);
	a->maximum = num(&k[C_MAX], -1);
	a->available = num(&k[C_AVAIL], -1);
	a->restore = num(&k[C_RESTORE], -1);

	switch (op)
	{
		case GQL_PAGE:
		case GQL_OBJECTS:
			a->has_next = json_pick_first(&k[P_NEXT]) && strcmp(json_pick_first(&k[P_NEXT]), "true") == 0;
			a->end_cursor = str(&k[P_END]);
			if (!page_nodes(&k[P_IDS], &k[P_VMORE], &k[P_VEND], a))
			{
				a->json_ok = false;
				a->parse_error = psprintf("%s.nodes is not one list of nodes (duplicate keys?)", conn);
				return;
			}
			a->data_ok = (k[P_NEXT].n > 0);
			break;
		case GQL_FOLLOW:
			a->product_null = (k[V_ID].n == 0);
			a->node_id = str(&k[V_ID]);
			a->has_next = json_pick_first(&k[V_MORE]) && strcmp(json_pick_first(&k[V_MORE]), "true") == 0;
			a->end_cursor = str(&k[V_END]);
			a->data_ok = true;
			break;
		case GQL_COUNT:
			if (json_pick_first(&k[N_COUNT]))
				a->count = strtoll(json_pick_first(&k[N_COUNT]), NULL, 10);
			a->data_ok = (a->count >= 0);
			break;
		case GQL_BULK_START:
			a->bulk_id = str(&k[B_ID]);
			a->bulk_status = str(&k[B_STATUS]);
			a->user_error_code = str(&k[B_UCODE]);
			a->user_error_message = str(&k[B_UMSG]);
			a->data_ok = (a->bulk_id != NULL || a->user_error_message != NULL);
			break;
		case GQL_BULK_STATUS:
			a->bulk_id = str(&k[S_ID]);
			a->bulk_status = str(&k[S_STATUS]);
			a->bulk_error_code = str(&k[S_ERR]);
			a->bulk_object_count = str(&k[S_COUNT]);
			a->bulk_url = str(&k[S_URL]);
			a->data_ok = (a->bulk_status != NULL);
			break;
		case GQL_SHOP:
			a->data_ok = true;
			break;
	}

	/*
	 * A page that says more follows but not where: taking it for the last
	 * page would end the listing early (and a full sync would then mark the
	 * rest deleted).  The answer is unusable.
	 */
	if (a->has_next && a->end_cursor == NULL)
	{
		a->json_ok = false;
		a->parse_error = pstrdup("pageInfo.hasNextPage is true but pageInfo.endCursor is missing or not a string");
	}
}
