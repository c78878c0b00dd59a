/*
 * shmem.c — the small shared-memory area (the worker's latch, what each
 * worker slot is doing, webhook rates, deferred log rows) and waking the
 * worker: now, or when the enqueuing transaction commits.
 */
#include "postgres.h"

#include "access/xact.h"
#include "base/shmem.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

ShopifySyncShared *shopify_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static bool wake_pending = false;
static bool xact_callback_registered = false;

static void
shopify_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(ShopifySyncShared)));
	RequestNamedLWLockTranche("shopify_sync", 1);
}

static void
shopify_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shopify_shared = ShmemInitStruct("shopify_sync", sizeof(ShopifySyncShared), &found);
	if (!found)
	{
		memset(shopify_shared, 0, sizeof(ShopifySyncShared));
		SpinLockInit(&shopify_shared->mutex);
		shopify_shared->lock = &(GetNamedLWLockTranche("shopify_sync"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Set what the worker is doing, for operators.  Cheap: a spinlock and a copy.
 */
void
shopify_set_worker_state(const char *state)
{
	if (shopify_shared == NULL)
		return;
	SpinLockAcquire(&shopify_shared->mutex);
	strlcpy(shopify_shared->worker_state, state, sizeof(shopify_shared->worker_state));
	SpinLockRelease(&shopify_shared->mutex);
}

/* ----- waking the worker when the enqueuing transaction commits ----- */

static void
wake_xact_callback(XactEvent event, void *arg)
{
	Latch	   *latch = NULL;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending && shopify_shared != NULL)
			{
				SpinLockAcquire(&shopify_shared->mutex);
				latch = shopify_shared->worker_latch;
				SpinLockRelease(&shopify_shared->mutex);
				if (latch != NULL)
					SetLatch(latch);
			}
			wake_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_pending = false;
			break;
		default:
			break;
	}
}

/* Wake the worker now (for work that does not wait for a commit). */
void
shopify_wake_worker_now(void)
{
	Latch	   *latch;

	if (shopify_shared == NULL)
		return;
	SpinLockAcquire(&shopify_shared->mutex);
	latch = shopify_shared->worker_latch;
	SpinLockRelease(&shopify_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * Ask for the worker to be woken when the current transaction commits (and
 * only then: it must see the rows this transaction wrote).  The callback is
 * registered once per backend.
 */
void
shopify_wake_worker_at_commit(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_pending = true;
}

/* at load (_PG_init): reserve the area, and create it at startup */
void
shopify_shmem_install(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shopify_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shopify_shmem_startup;
}
