/*
 * jsonpick.h — pick scalar values out of a JSON document by path, in one
 * streaming pass.
 */
#ifndef SHOPIFY_JSONPICK_H
#define SHOPIFY_JSONPICK_H

#include "postgres.h"

#include "common/jsonapi.h"

/*
 * Deepest nesting of objects and arrays accepted in a Shopify payload.
 * Real payloads nest about ten levels; PostgreSQL's recursive JSON parser
 * needs about 150 bytes of stack per level, so a limit far below the
 * default max_stack_depth keeps "stack depth limit exceeded" (not a data
 * error) out of reach.
 */
#define SHOPIFY_JSON_MAX_DEPTH 1000

typedef struct JsonPick
{
	const char *path;			/* "a.b.c"; "*" stands for any array element */
	int			n;				/* values found */
	char	  **values;			/* palloc'd strings; NULL for a JSON null */
	int		   *index;			/* per value: index of the element its first
								 * "*" stands for (-1 if the path has none) */
	int			cap;
} JsonPick;

extern bool json_pick(const char *doc, size_t len, JsonPick *picks, int npicks, char **error);
extern const char *json_pick_first(JsonPick *p);
extern bool json_depth_exceeds(const char *doc, size_t len, int limit);
extern void json_report_invalid(const char *doc, size_t len) pg_attribute_noreturn();
extern bool json_escapes_surrogate(const char *doc, size_t len);

#endif
