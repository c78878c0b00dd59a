/*
 * sync.h — one running sync job's state, shared by the files of sync/.
 *
 * The files call one way (each only the ones after it):
 *   task.c    the task's life, driven by the worker loop; dispatches answers
 *   bulk.c    the bulk operation's stages: start, poll, streamed download
 *   pages.c   what a page's (or the shop's, the count's) answer means
 *   choose.c  the shop's details, the count and the path, recorded
 *   write.c   the transactions: a page, the job's end, notes
 *   calls.c   the calls prepared, the prefetch, the slot's state
 *   path.c    the choice of path, and what it learns
 *   queue.c   the job rows: claim, lease, progress, completion
 */
#ifndef SHOPIFY_SYNC_STATE_H
#define SHOPIFY_SYNC_STATE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/hsearch.h"

#include "mirror/mirror.h"
#include "mirror/resource.h"
#include "sync/path.h"
#include "sync/queue.h"
#include "shopify/client.h"
#include "shopify/declared.h"

typedef enum SyncApi
{
	API_REST, API_GRAPHQL, API_BULK
} SyncApi;

typedef enum SyncStage
{
	STAGE_SHOP,					/* shop name, currency, plan */
	STAGE_COUNT,				/* product count, for progress (and the bulk decision) */
	STAGE_PAGES,				/* the listing, page by page */
	STAGE_VARIANTS,				/* GraphQL: further variants of the page's products */
	STAGE_BULK_START,			/* bulkOperationRunQuery */
	STAGE_BULK_POLL,			/* until the operation is finished */
	STAGE_BULK_DOWNLOAD,		/* streaming the JSONL result */
	STAGE_DONE
} SyncStage;

typedef struct PendingVariants
{
	char	   *product_gid;
	char	   *after;
	int64		product_id;
	int64	   *ids;			/* its variant ids listed so far (products only) */
	int			nids;
	int			capids;
} PendingVariants;

typedef struct SyncTask
{
	int64		job_id;
	int64		shop_id;
	char		shop_domain[256];
	SyncApi		api;
	bool		orders;			/* resource orders (else products, or objects) */
	bool		objects;		/* a declared resource (shopify.objects) */
	bool		tables;			/* a built-in resource written from its declaration */
	const ResourceDecl *res;	/* a built-in resource's declaration (else NULL) */
	HTAB	   *positions;		/* tables, bulk: children counted per node */
	char	   *resource;		/* its name */
	char	   *definition;		/* declared: its query (NULL: it is gone) */
	DeclaredQuery decl;			/* declared: the query read, its page document */
	const struct GqlListing *listing;	/* its GraphQL documents */
	bool		full_sync;
	bool		sync_inventory;
	bool		has_since;
	TimestampTz since;
	int			total_products; /* -1 until counted */
	int			pages_fetched;
	char	   *cursor;			/* checkpoint: the next page's cursor; NULL: first */
	SyncStage	stage;
	ShopClient *shop;
	ShopifyCall calls[2];		/* the current page's call and the next one's */
	ShopifyCall *cur;			/* the call whose answer is handled next */
	ShopifyCall *nxt;			/* the next page, fetched while cur is written */
	bool		nxt_used;
	MemoryContext cxt;
	int			slot;			/* index in shared memory status */
	bool		finished;
	int			db_failures;
	TimestampTz run_started;
	int			variants_this_run;
	TimestampTz last_progress_log;	/* the last product_sync_progress row */
	int64		inserted_since_analyze; /* rows this run inserted since
										 * mirror_keep_statistics() analyzed */
	int			sweep;			/* full product sync: 0 not known yet, 1 the
								 * store has older active rows (record the seen
								 * ids, sweep at the end), 2 it has none */

	/* GraphQL: the current page's products that have more variants */
	PendingVariants *pending;
	int			npending;
	char	   *page_next;		/* the cursor after the current page, while pending */

	PathSample	sample;			/* measured for the next job's choice of path */
	TimestampTz bulk_started_at;	/* when the operation was created */

	/* bulk operation */
	bool		bulk_slot;		/* counted in shop->bulk_active */
	char	   *bulk_id;
	int64		bulk_expected;	/* objectCount */
	int64		bulk_lines;		/* lines written so far */
	int			bulk_polls;
	int			bulk_busy_waits;
	char	   *bulk_url;
} SyncTask;

/* what a write transaction did */
typedef enum PageOutcome
{
	PAGE_NEXT, PAGE_COMPLETED, PAGE_CANCELLED, PAGE_GONE
} PageOutcome;

typedef struct PageWork
{
	SyncTask   *t;
	ShopifyCall *call;			/* whose attempts are logged and counted, or NULL */
	const char *doc;
	size_t		len;
	const char *shape;
	bool		bulk;			/* doc is a batch of bulk JSONL lines */
	const MirrorScope *scope;	/* which products' variant lists are complete */
	int			products_override;	/* -1: count the products of the payload */
	const char *record_cursor;	/* checkpoint to store; NULL: listing complete */
	bool		last;			/* sweep and complete the job in this transaction */
	PageOutcome outcome;
	MirrorCounts counts;
	JobTotals	totals;
	int			deactivated;
} PageWork;

#endif
