/*
 * jsonpick.h — pick scalar values out of a JSON document by path, in one
 * streaming pass.
 */
#ifndef SHOPIFY_JSONPICK_H
#define SHOPIFY_JSONPICK_H

#include "postgres.h"

#include "common/jsonapi.h"

typedef struct JsonPick
{
	const char *path;			/* "a.b.c"; "*" stands for any array element */
	int			n;				/* values found */
	char	  **values;			/* palloc'd strings; NULL for a JSON null */
	int			cap;
} JsonPick;

extern bool json_pick(const char *doc, size_t len, JsonPick *picks, int npicks, char **error);
extern const char *json_pick_first(JsonPick *p);

#endif
