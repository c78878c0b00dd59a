/*
 * rows.c — shopify._resource_rows(resource, shape, doc): the rows the
 * worker would write for a payload of a built-in resource declared as
 * tables, read by its declaration (mirror/rows.c), one per table row with
 * ok, the reason it would fail, and its values as jsonb.  For tests and for
 * operators looking at a payload Shopify sent; writes nothing.
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/json.h"

#include "base/settings.h"
#include "mirror/resource.h"
#include "mirror/rows.h"

PG_FUNCTION_INFO_V1(shopify_resource_rows);

typedef struct Out
{
	ReturnSetInfo *rsinfo;
} Out;

static void
emit_row(void *arg, const RowOut *r)
{
	Out		   *o = (Out *) arg;
	Datum		v[4];
	bool		n[4] = {false, false, true, false};
	StringInfoData j;

	if (r->table == NULL)
		return;					/* a node without a row of its own */
	initStringInfo(&j);
	appendStringInfoChar(&j, '{');
	for (int c = 0, k = 0; c < r->table->ncolumns; c++)
	{
		const ColumnDecl *col = &r->table->columns[c];
		Oid			typ = col_type(col);

		if ((col->flags & COLF_HIDDEN) || r->absent[c])
			continue;
		if (k++ > 0)
			appendStringInfoString(&j, ", ");
		escape_json(&j, col->name);
		appendStringInfoString(&j, ": ");
		if (r->nulls[c])
			appendStringInfoString(&j, "null");
		else if (typ == JSONBOID)
			appendStringInfoString(&j, JsonbToCString(NULL, &DatumGetJsonbP(r->values[c])->root, -1));
		else
		{
			Oid			out;
			bool		varlena;
			char	   *s;

			getTypeOutputInfo(typ, &out, &varlena);
			s = OidOutputFunctionCall(out, r->values[c]);
			if (typ == BOOLOID)
				appendStringInfoString(&j, DatumGetBool(r->values[c]) ? "true" : "false");
			else if (typ == INT8OID || typ == INT4OID)
				appendStringInfoString(&j, s);
			else
				escape_json(&j, s);
		}
	}
	appendStringInfoChar(&j, '}');
	v[0] = CStringGetTextDatum(r->table->name);
	v[1] = BoolGetDatum(r->ok);
	if (r->error)
	{
		v[2] = CStringGetTextDatum(r->error);
		n[2] = false;
	}
	v[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(j.data));
	tuplestore_putvalues(o->rsinfo->setResult, o->rsinfo->setDesc, v, n);
}

Datum
shopify_resource_rows(PG_FUNCTION_ARGS)
{
	static const struct
	{
		const char *name;
		RowsShape	shape;
	}			shapes[] = {
		{"rest_page", RS_REST_PAGE}, {"rest_one", RS_REST_ONE}, {"graphql_page", RS_GRAPHQL_PAGE},
		{"graphql_one", RS_GRAPHQL_ONE}, {"bulk", RS_BULK},
	};
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *shape = text_to_cstring(PG_GETARG_TEXT_PP(1));
	text	   *doc = PG_GETARG_TEXT_PP(2);
	const ResourceDecl *r = resource_builtin(name);
	RowsOptions opt;
	Out			o;
	int			s;

	if (r == NULL || r->kind != RESOURCE_TABLES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a built-in resource written from its declaration", name),
				 errhint("Products and orders have shopify._variants() and shopify._orders().")));
	for (s = 0; s < (int) lengthof(shapes); s++)
		if (strcmp(shapes[s].name, shape) == 0)
			break;
	if (s == (int) lengthof(shapes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown payload shape \"%s\"", shape),
				 errhint("The shapes are rest_page, rest_one, graphql_page, graphql_one and bulk.")));
	memset(&opt, 0, sizeof(opt));
	opt.personal = shopify_customer_personal_data;
	if (shapes[s].shape == RS_BULK)
		opt.positions = rows_position_table(CurrentMemoryContext);
	InitMaterializedSRF(fcinfo, 0);
	o.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	rows_parse(r, shapes[s].shape, VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), &opt, emit_row, &o, NULL);
	return (Datum) 0;
}
