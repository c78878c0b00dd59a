/*
 * path.h — choosing a sync's path (pages or a bulk operation) by expected
 * time, and learning what the choice needs (path.c).
 */
#ifndef SHOPIFY_SYNC_PATH_H
#define SHOPIFY_SYNC_PATH_H

#include "postgres.h"

#include "mirror/resource.h"

/* what a finished job measured, to learn from */
typedef struct PathSample
{
	bool		orders;
	bool		bulk;
	int			nodes;			/* products (orders) listed */
	double		gql_cost;		/* actual points of the page answers */
	int			gql_nodes;		/* nodes on those pages */
	double		request_s;		/* summed round trips of the page requests */
	int			requests;
	double		write_s;		/* summed time of the write transactions */
	double		bulk_s;			/* bulk: from the start of the operation to COMPLETED */
	int64		bulk_objects;
	double		restore_rate;	/* GraphQL throttle status last seen (-1: none) */
	double		bucket;
} PathSample;

typedef struct PathChoice
{
	bool		bulk;
	char	   *reason;			/* for sync_jobs.path_reason */
	char	   *estimate;		/* jsonb text for sync_jobs.path_estimate, or NULL */
} PathChoice;

extern void path_choose(int64 shop_id, bool orders, int count, bool can_bulk,
						double restore_rate, double bucket, PathChoice *out);
extern void path_learn(int64 shop_id, const PathSample *s);
extern void path_choose_tables(const GqlListing *l, int nodes, int64 stored_nodes,
							   int64 stored_children, bool full_sync, double restore_rate,
							   double bucket, PathChoice *out);
extern void path_choose_objects(int count, bool full_sync, int page_size, double page_cost,
								double restore_rate, PathChoice *out);

#endif
