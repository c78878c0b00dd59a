/*
 * mirror.h — the one write path into shopify.products.
 */
#ifndef SHOPIFY_MIRROR_H
#define SHOPIFY_MIRROR_H

#include "postgres.h"

typedef struct MirrorCounts
{
	int			products;		/* distinct products in the payload */
	int			processed;		/* variants received */
	int			created;
	int			updated;
	int			unchanged;
	int			failed;			/* invalid, or owned by another store */
	int			deactivated;	/* variants a complete product no longer lists */
	char	   *errors;			/* a few failure reasons, or NULL */
	/* the listed variant ids of the products named incomplete in the scope */
	int64	   *pending_pids;
	int64	   *pending_ids;
	int			npending;
} MirrorCounts;

/*
 * Which products of a payload carry their complete variant list (and so
 * have their other variants deactivated).  By default all of them do.
 */
typedef struct MirrorScope
{
	bool		no_deactivate;	/* none does (bulk lines) */
	bool		rest_cap;		/* products with 100 variants may have more */
	const int64 *incomplete;	/* these do not: their variants continue elsewhere */
	int			nincomplete;
	int64		extra_pid;		/* this product's list also holds extra_ids */
	const int64 *extra_ids;		/* (its earlier pages, a webhook's variant_gids) */
	int			nextra;
	int			position_offset;	/* children of extra_pid on pages before this one */
} MirrorScope;

extern void mirror_write(const char *doc, size_t len, const char *shape, int64 shop_id,
						 bool sync_inventory, int64 seen_job_id, const MirrorScope *scope,
						 MirrorCounts *out);
extern void mirror_write_bulk(const char *doc, size_t len, int64 shop_id, bool sync_inventory,
							  int64 seen_job_id, int64 job_id, MirrorCounts *out);
extern char *mirror_take_pending(int64 job_id, int64 *pids, int npids);
extern void mirror_put_pending(int64 job_id, int64 *pids, const char **lines, const int *lens, int n);
extern int	mirror_pending_leftovers(int64 job_id, char **examples);
extern bool mirror_has_older_rows(int64 shop_id, int64 job_id);
extern int	mirror_sweep(int64 shop_id, int64 job_id);
extern int	mirror_sweep_products(int64 shop_id, int64 job_id);
extern void mirror_write_orders(const char *doc, size_t len, const char *shape, int64 shop_id,
								int64 job_id, MirrorCounts *out);
extern int	mirror_finish_bulk_orders(int64 shop_id, int64 job_id);
extern void mirror_forget_seen(int64 job_id);
extern void mirror_write_objects(const char *doc, size_t len, bool bulk, int64 shop_id, const char *resource,
								 const char *connection, int64 seen_job_id, MirrorCounts *out);
extern int	mirror_sweep_objects(int64 shop_id, const char *resource, int64 job_id);
extern bool mirror_keep_statistics(const char *const *tables, int64 inserted);
extern char *mirror_customer_redact(int64 shop_id, int64 customer_id, int64 but_event);
extern char *mirror_customer_data(int64 shop_id, int64 customer_id);
extern int	shopify_index_lookups_begin(void);
extern void shopify_index_lookups_end(int level);

#endif
