/*
 * txn.c — one unit of the worker's database work in its own transaction.
 *
 * The worker never holds a transaction across network I/O: every unit of
 * work (claim jobs, write a page, finish a job, heartbeat) is a short
 * transaction started and committed here.  An error inside it is caught,
 * reported to the server log, and the transaction rolled back, so that one
 * store's failure never takes the worker down; the caller gets the message
 * and decides (retry, fail the job).
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "base/txn.h"

bool
shopify_run_in_tx(const char *activity, ShopifyTxnFn fn, void *arg,
				  char *errbuf, size_t errlen, int *sqlstate)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	if (errbuf && errlen > 0)
		errbuf[0] = '\0';
	if (sqlstate)
		*sqlstate = 0;

	Assert(!IsTransactionState());	/* one unit at a time, never nested */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);
		fn(arg);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		/* commit leaves TopMemoryContext current: what the caller allocates next would never be freed */
		MemoryContextSwitchTo(cxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("shopify_sync worker: %s failed: %s", activity, edata->message),
				 edata->detail ? errdetail("%s", edata->detail) : 0,
				 errhidestmt(true)));
		if (errbuf && errlen > 0)
		{
			/* cut at a character boundary: callers store it in text columns */
			const char *m = edata->message ? edata->message : "";
			int			n = pg_mbcliplen(m, strlen(m), (int) errlen - 1);

			memcpy(errbuf, m, n);
			errbuf[n] = '\0';
		}
		if (sqlstate)
			*sqlstate = edata->sqlerrcode;
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();

	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);
	return ok;
}
