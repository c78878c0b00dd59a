/*
 * resource.h — what a resource is: the built-in declarations and the kinds
 * of resource the engine knows (resource.c).
 */
#ifndef SHOPIFY_RESOURCE_H
#define SHOPIFY_RESOURCE_H

#include "postgres.h"

/* how the rows a store no longer has are found */
typedef enum ResourceDeletes
{
	DELETES_NONE,				/* never: rows are only added and updated */
	DELETES_SWEEP,				/* a full sync's listing: what it did not see is gone */
	DELETES_CHILD_LIST			/* a parent that carries its complete list of children */
} ResourceDeletes;

/* which write path a resource's rows take */
typedef enum ResourceKind
{
	RESOURCE_PRODUCTS,			/* shopify.products (variants of products) */
	RESOURCE_ORDERS,			/* shopify.orders, shopify.order_lines */
	RESOURCE_OBJECTS			/* declared: shopify.objects */
} ResourceKind;

typedef struct ResourceDecl
{
	const char *name;			/* "products": shopify_sync()'s name of it */
	ResourceKind kind;
	const char *description;
	const char *const *tables;	/* what it fills, NULL-terminated */
	const char *const *topics;	/* the webhook topics that carry it, NULL-terminated */
	ResourceDeletes deletes;	/* of the nodes */
	ResourceDeletes child_deletes;	/* of their children */
	const char *connection;		/* GraphQL root connection */
	const char *rest_listing;	/* REST listing, or NULL */
	const char *incremental;	/* the search field of incremental syncs */
	bool		personal_data;	/* only when a store names it */
} ResourceDecl;

/* the built-in resources, NULL-terminated */
extern const ResourceDecl *const resource_builtins[];

extern const ResourceDecl *resource_builtin(const char *name);
extern const ResourceDecl *resource_for_topic(const char *topic);
extern const ResourceDecl resource_declared;

#endif
