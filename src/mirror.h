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
	char	   *errors;			/* a few failure reasons, or NULL */
} MirrorCounts;

extern void mirror_write(const char *doc, size_t len, const char *shape, int64 shop_id,
						 bool sync_inventory, int64 seen_job_id, MirrorCounts *out);
extern void mirror_write_bulk(const char *doc, size_t len, int64 shop_id, bool sync_inventory,
							  int64 seen_job_id, int64 job_id, MirrorCounts *out);
extern int	mirror_sweep(int64 shop_id, int64 job_id);
extern void mirror_write_orders(const char *doc, size_t len, const char *shape, int64 shop_id,
								MirrorCounts *out);
extern void mirror_forget_seen(int64 job_id);
extern bool mirror_keep_statistics(bool orders, int64 inserted);

#endif
