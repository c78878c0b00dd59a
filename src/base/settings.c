/*
 * settings.c — the extension's settings (shopify_sync.*): their variables,
 * their checks, and their definitions, made once at load (_PG_init).
 * Every other file reads the variables through base/settings.h.
 */
#include "postgres.h"

#include <limits.h>

#include "base/settings.h"
#include "utils/guc.h"

char	   *shopify_database_name = NULL;
char	   *shopify_api_base_url = NULL;
char	   *shopify_api_version = NULL;
char	   *shopify_webhook_secret = NULL;
char	   *shopify_token_key_file = NULL;
char	   *shopify_ca_file = NULL;
int			shopify_api = SHOPIFY_API_GRAPHQL;
int			shopify_bulk_threshold = SHOPIFY_BULK_AUTO;
char	   *shopify_bulk_threshold_setting = NULL;
int			shopify_max_concurrent_syncs = 8;
int			shopify_http_timeout_ms = 30000;
int			shopify_max_retries = 5;
int			shopify_lease_time_s = 60;
int			shopify_max_job_attempts = 10;
int			shopify_log_retention_min = 30 * 24 * 60;
int			shopify_job_retention_min = 90 * 24 * 60;
int			shopify_incremental_lookback_s = 300;
double		shopify_rest_leak_rate = 2.0;
int			shopify_rest_page_size = 250;
bool		shopify_log_api_calls = true;
char	   *shopify_webhook_previous_secret = NULL;
int			shopify_webhook_rate_limit = 100;
int			shopify_webhook_rate_burst = 500;
int			shopify_webhook_max_attempts = 5;
int			shopify_graphql_page_size = 250;
int			shopify_graphql_variants_first = 10;
int			shopify_graphql_lines_first = 5;
bool		shopify_customer_personal_data = false;

/* shopify_sync.api_version: YYYY-MM (a release) or unstable */
static bool
check_api_version(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL)
		return false;
	if (strcmp(v, "unstable") == 0)
		return true;
	if (strlen(v) == 7 && isdigit((unsigned char) v[0]) && isdigit((unsigned char) v[1]) &&
		isdigit((unsigned char) v[2]) && isdigit((unsigned char) v[3]) && v[4] == '-' &&
		isdigit((unsigned char) v[5]) && isdigit((unsigned char) v[6]) &&
		(v[5] == '0' ? v[6] != '0' : v[5] == '1' && v[6] <= '2'))
		return true;
	GUC_check_errdetail("An Admin API version is YYYY-MM (e.g. 2026-07) or unstable.");
	return false;
}

/* shopify_sync.bulk_threshold: 'auto' or an integer of at least -1 */
static bool
check_bulk_threshold(char **newval, void **extra, GucSource source)
{
	char	   *end;
	long		v;
	int		   *parsed;

	if (*newval == NULL || pg_strcasecmp(*newval, "auto") == 0)
		v = SHOPIFY_BULK_AUTO;
	else
	{
		errno = 0;
		v = strtol(*newval, &end, 10);
		while (*end == ' ')
			end++;
		if (end == *newval || *end != '\0' || errno != 0 || v < -1 || v > INT_MAX)
		{
			GUC_check_errdetail("shopify_sync.bulk_threshold is auto or a whole number of at least -1.");
			return false;
		}
	}
	parsed = (int *) malloc(sizeof(int));	/* guc.c frees it with free() */
	if (parsed == NULL)
		return false;
	*parsed = (int) v;
	*extra = parsed;
	return true;
}

static void
assign_bulk_threshold(const char *newval, void *extra)
{
	shopify_bulk_threshold = *((int *) extra);
}

static const struct config_enum_entry api_options[] = {
	{"rest", SHOPIFY_API_REST, false},
	{"graphql", SHOPIFY_API_GRAPHQL, false},
	{NULL, 0, false}
};

void
shopify_define_settings(void)
{
	DefineCustomStringVariable("shopify_sync.database_name",
							   "Database the shopify_sync worker connects to.",
							   "The extension must be created in this database; the worker waits quietly until it exists.",
							   &shopify_database_name, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("shopify_sync.api_base_url",
							   "Base URL every Shopify API request goes to; empty means https://<shop_domain>.",
							   "Set it to route requests through a proxy or to a local stand-in. Pagination links are rebuilt on this base.",
							   &shopify_api_base_url, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("shopify_sync.api_version",
							   "Shopify Admin API version used in request paths (/admin/api/<version>/).",
							   NULL,
							   &shopify_api_version, "2026-07",
							   PGC_SUSET, 0, check_api_version, NULL, NULL);

	DefineCustomStringVariable("shopify_sync.webhook_secret",
							   "App client secret used to verify the HMAC of webhook deliveries.",
							   "Visible to superusers only.",
							   &shopify_webhook_secret, "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("shopify_sync.webhook_previous_secret",
							   "Previous app client secret, still accepted for webhook HMAC after a rotation.",
							   "Shopify may sign with the old secret for up to an hour after a rotation; clear this afterwards. Visible to superusers only.",
							   &shopify_webhook_previous_secret, "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.webhook_rate_limit",
							"Webhook deliveries accepted per second and shop; 0 turns the limit off.",
							"Deliveries beyond it are refused with SQLSTATE 53400, so that a misbehaving sender cannot fill the table.",
							&shopify_webhook_rate_limit, 100, 0, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.webhook_rate_burst",
							"Webhook deliveries a shop may send at once before shopify_sync.webhook_rate_limit applies.",
							NULL,
							&shopify_webhook_rate_burst, 500, 1, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.webhook_max_attempts",
							"Times the worker tries to apply a webhook event before marking it failed.",
							NULL,
							&shopify_webhook_max_attempts, 5, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("shopify_sync.token_key_file",
							   "File holding the AES-256 key that encrypts access tokens at rest.",
							   "A relative path is taken from the data directory. The file is created with random bytes and mode 0600 when missing.",
							   &shopify_token_key_file, "shopify_sync.key",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);

	DefineCustomStringVariable("shopify_sync.ca_file",
							   "CA bundle used to verify Shopify's TLS certificate; empty means the system bundle.",
							   NULL,
							   &shopify_ca_file, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomEnumVariable("shopify_sync.api",
							 "Shopify Admin API used by syncs: rest or graphql.",
							 "shopify.stores.api overrides it per store.",
							 &shopify_api, SHOPIFY_API_GRAPHQL, api_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("shopify_sync.bulk_threshold",
							   "How a GraphQL sync chooses between pages and a bulk operation.",
							   "auto: the path expected to finish first, from the count, the store's learned rate and a bulk operation's learned overhead; a number: bulk above that many products (orders), 0 always, -1 never.",
							   &shopify_bulk_threshold_setting, "auto",
							   PGC_SIGHUP, 0, check_bulk_threshold, assign_bulk_threshold, NULL);

	DefineCustomIntVariable("shopify_sync.max_concurrent_syncs",
							"Number of stores the worker syncs at once.",
							NULL,
							&shopify_max_concurrent_syncs, 8, 1, SHOPIFY_MAX_SLOTS,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.http_timeout",
							"Time limit of one Shopify API request.",
							NULL,
							&shopify_http_timeout_ms, 30000, 1000, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.max_retries",
							"Retries of one request after a retryable failure (5xx, timeout, reset, bad body).",
							"Waiting for a 429 Retry-After is not counted.",
							&shopify_max_retries, 5, 0, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.lease_time",
							"How long a running job stays claimed without a heartbeat before it is recovered.",
							NULL,
							&shopify_lease_time_s, 60, 5, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.max_job_attempts",
							"Times a job may be started or resumed before it is failed.",
							"A job interrupted by a crash or restart resumes from its cursor and counts one attempt.",
							&shopify_max_job_attempts, 10, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.log_retention",
							"Age after which rows of shopify.sync_log are deleted; 0 keeps them forever.",
							NULL,
							&shopify_log_retention_min, 30 * 24 * 60, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.job_retention",
							"Age after which finished sync jobs are deleted; 0 keeps them forever.",
							NULL,
							&shopify_job_retention_min, 90 * 24 * 60, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.incremental_lookback",
							"Overlap of an incremental sync with the previous one, against clock skew.",
							"An incremental sync asks for products updated since the start of the last completed sync minus this.",
							&shopify_incremental_lookback_s, 300, 0, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomRealVariable("shopify_sync.rest_leak_rate",
							 "Requests per second the REST leaky bucket drains (2 on Standard plans, 4 Advanced, 20 Plus).",
							 NULL,
							 &shopify_rest_leak_rate, 2.0, 0.1, 1000.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.rest_page_size",
							"Products per REST page (limit=).",
							NULL,
							&shopify_rest_page_size, 250, 1, 250,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.graphql_page_size",
							"Most products (orders) per GraphQL page.",
							"Each listing's page size is derived from its query cost, which Shopify caps at 1000 points; this only lowers it.",
							&shopify_graphql_page_size, 250, 1, 250,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.graphql_variants_per_product",
							"Variants fetched with each product of a GraphQL page; products with more get further pages.",
							NULL,
							&shopify_graphql_variants_first, 10, 1, 250,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.graphql_lines_per_order",
							"Line items fetched with each order of a GraphQL page; orders with more get further pages.",
							NULL,
							&shopify_graphql_lines_first, 5, 1, 250,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("shopify_sync.customer_personal_data",
							 "Keep customers' email addresses and names (personal data) in shopify.customers.",
							 "Off: they are neither asked for nor stored, and stored ones are cleared by the next sync of each customer.",
							 &shopify_customer_personal_data, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("shopify_sync.log_api_calls",
							 "Write one shopify.sync_log row per Shopify API call.",
							 NULL,
							 &shopify_log_api_calls, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	MarkGUCPrefixReserved("shopify_sync");
}

