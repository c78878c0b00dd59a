/*
 * shopify_sync.c — the module's entry: _PG_init wires the parts together.
 *
 * The library must be in shared_preload_libraries: it defines the settings
 * (base/settings.c), reserves a small shared-memory area (base/shmem.c),
 * registers the launcher background worker (worker/launcher.c) and, when
 * shopify_sync.webhook_listen is set, the webhook listener (listener/), and installs
 * the redaction of secrets from log lines (base/redact.c).  Nothing here
 * talks to the network or runs SQL.  Layers, each calling only the ones
 * below it (scripts/check-layers.sh checks this):
 *
 *   sql/      the SQL-callable surface: argument checks, ownership, enqueue
 *   listener/ the webhook listener: Shopify's deliveries over HTTP (libmicrohttpd)
 *   worker/   the background processes: launcher, worker loop, webhook events
 *   sync/     one sync job: its state machine, pages, bulk operations, writes
 *   shopify/  the Shopify client: requests, pacing, REST, GraphQL documents
 *   http/     libcurl's multi interface
 *   mirror/   resources' declarations, rows read from payloads, writes
 *   base/     settings, shared memory, crypto, log, JSON, utilities
 */
#include "postgres.h"

#include "base/redact.h"
#include "base/settings.h"
#include "base/shmem.h"
#include "fmgr.h"
#include "listener/listener.h"
#include "miscadmin.h"
#include "worker/launcher.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("shopify_sync must be loaded via shared_preload_libraries"),
				 errhint("Add shopify_sync to shared_preload_libraries in postgresql.conf and restart the server.")));

	/* pg_upgrade runs the server in binary-upgrade mode: no worker then. */
	if (IsBinaryUpgrade)
		return;

	shopify_define_settings();
	shopify_shmem_install();
	shopify_register_launcher();
	shopify_register_listener();	/* only when shopify_sync.webhook_listen is set */
	shopify_install_log_redaction();
}
