/*
 * tables.h — the write path of resources of kind RESOURCE_TABLES (tables.c).
 */
#ifndef SHOPIFY_TABLES_H
#define SHOPIFY_TABLES_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/hsearch.h"

#include "mirror/mirror.h"
#include "mirror/resource.h"
#include "mirror/rows.h"

typedef struct TablesWrite
{
	const ResourceDecl *r;
	RowsShape	shape;
	int64		shop_id;
	int64		seen_job_id;	/* a full sync: record the keys for its sweep (0: no) */
	bool		personal;		/* keep personal columns */
	bool		children_only;	/* a node's further children: not the node's row */
	int			position_offset;	/* children of the node before this payload */
	HTAB	   *positions;		/* bulk: children counted per node so far */
	int64		complete_node;	/* this node's children end with this payload... */
	const int64 *extra_keys;	/* ...and these came on its pages before */
	int			nextra;
} TablesWrite;

extern void mirror_write_tables(const char *doc, size_t len, const TablesWrite *w,
								MirrorCounts *out);
extern void mirror_tables_count(const ResourceDecl *r, int64 shop_id, int64 job_id, bool any,
								int64 *nodes, int64 *children);
extern int	mirror_sweep_tables(const ResourceDecl *r, int64 shop_id, int64 job_id);
extern void mirror_forget_seen_keys(int64 job_id);

/* tables_events.c */
extern const WebhookDecl *mirror_table_webhook(const ResourceDecl *r, const char *topic);
extern char *mirror_apply_table_webhook(const ResourceDecl *r, const WebhookDecl *wh, int64 shop_id,
										const char *payload, TimestampTz at, bool personal,
										MirrorCounts *counts);

#endif
