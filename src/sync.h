/*
 * sync.h — one running sync job: its state machine (sync.c), its
 * transactions (sync_write.c), the handling of Shopify's answers
 * (sync_answers.c) and its bulk operation stages (bulk.c).
 */
#ifndef SHOPIFY_SYNC_TASK_H
#define SHOPIFY_SYNC_TASK_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "mirror.h"
#include "path.h"
#include "queue.h"
#include "shopify.h"

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
	bool		orders;			/* resource orders (else products) */
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

extern SyncTask *sync_task_create(const ClaimedJob *job, const char *token, int slot);
extern TimestampTz sync_task_wake_time(SyncTask *t);
extern void sync_task_pump(SyncTask *t);
extern bool sync_task_owns(SyncTask *t, HttpRequest *req);
extern void sync_task_http_done(SyncTask *t, HttpRequest *req);
extern void sync_task_stream(SyncTask *t, HttpRequest *req);
extern void sync_task_stop(SyncTask *t, bool cancelled, const char *why);
extern void sync_task_free(SyncTask *t);
extern void sync_task_bulk_finished(SyncTask *t, const char *bulk_gid);

/*
 * Between the parts of a sync: sync.c (the state machine, the calls it
 * prepares), sync_write.c (its transactions), sync_answers.c (what each
 * answer means) and bulk.c (the bulk stages).
 */

/* sync.c */
extern void sync_prepare_call(SyncTask *t, ShopifyCall *c, const char *method,
							  char *path, char *body, bool graphql);
extern void sync_prepare_count(SyncTask *t);
extern void sync_prepare_pages(SyncTask *t);
extern void sync_prepare_variants(SyncTask *t);
extern void sync_prefetch(SyncTask *t, const char *next_cursor);
extern void sync_advance_page(SyncTask *t, const char *next);
extern void sync_drop_next(SyncTask *t);
extern void sync_finish(SyncTask *t);
extern void sync_slot_state(SyncTask *t, const char *state);

/* sync_write.c */
extern void sync_fail(SyncTask *t, const char *error_class, const char *error);
extern void sync_note(SyncTask *t, const char *level, const char *operation, const char *message);
extern void sync_end_job(SyncTask *t, const char *error_class, const char *error, bool cancelled);
extern bool sync_record_shop(SyncTask *t, char *err, size_t errlen);
extern bool sync_record_count(SyncTask *t, int *count, bool *bulk, char *err, size_t errlen);
extern bool sync_run_write(PageWork *w, const char *what, char *err, size_t errlen, const char **cls);
extern void sync_retry_after_db_error(SyncTask *t, const char *cls, const char *err);
extern bool sync_after_write(SyncTask *t, PageWork *w);
extern bool sync_write(PageWork *w, const char *what);

/* sync_answers.c */
extern void sync_handle_answer(SyncTask *t);
extern bool sync_graphql_usable(SyncTask *t, ShopifyCall *c, int op, void *answer);

/* bulk.c */
extern void bulk_begin(SyncTask *t);
extern void bulk_resume(SyncTask *t);
extern void bulk_handle(SyncTask *t);
extern void bulk_stream(SyncTask *t, HttpRequest *req);
extern bool bulk_take_slot(SyncTask *t);
extern void bulk_release_slot(SyncTask *t);

#endif
