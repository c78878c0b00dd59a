/*
 * settings.c — the extension's settings (shopify_sync.*): their variables,
 * their checks, and their definitions, made once at load (_PG_init).
 * Every other file reads the variables through base/settings.h.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>

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
int			shopify_webhook_max_body = 16 * 1024 * 1024;
char	   *shopify_webhook_listen = NULL;
int			shopify_webhook_listen_max_connections = 1000;
int			shopify_webhook_listen_timeout_ms = 10000;

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

/*
 * shopify_sync.webhook_listen: empty, or address:port where the address is
 * an IPv4 literal, an IPv6 literal in brackets, localhost, or * (every
 * address).  Fills *addr when it is not NULL; false (with *why) if malformed.
 */
bool
shopify_parse_listen(const char *v, struct sockaddr_storage *addr, unsigned int *addrlen,
					 const char **why)
{
	char		host[64];
	const char *colon;
	const char *h = v;
	size_t		hlen;
	char	   *end;
	long		port;
	struct sockaddr_in *in4;
	struct sockaddr_in6 *in6;
	struct sockaddr_storage scratch;

	if (addr == NULL)
		addr = &scratch;
	in4 = (struct sockaddr_in *) addr;
	in6 = (struct sockaddr_in6 *) addr;
	*why = "It is address:port, e.g. 127.0.0.1:8080, [::1]:8080 or *:8080.";
	colon = strrchr(v, ':');
	if (colon == NULL || colon == v)
		return false;
	hlen = colon - v;
	if (v[0] == '[')
	{
		if (hlen < 3 || v[hlen - 1] != ']')
			return false;
		h = v + 1;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535)
	{
		*why = "The port is a number from 1 to 65535.";
		return false;
	}
	memset(addr, 0, sizeof(*addr));
	if (strcmp(host, "*") == 0 || strcmp(host, "localhost") == 0 ||
		inet_pton(AF_INET, host, &in4->sin_addr) == 1)
	{
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16) port);
		if (strcmp(host, "*") == 0)
			in4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (strcmp(host, "localhost") == 0)
			in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (addrlen)
			*addrlen = sizeof(*in4);
		return true;
	}
	if (v[0] == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1)
	{
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16) port);
		if (addrlen)
			*addrlen = sizeof(*in6);
		return true;
	}
	*why = "The address is an IPv4 address, an IPv6 address in brackets, localhost or *.";
	return false;
}

static bool
check_webhook_listen(char **newval, void **extra, GucSource source)
{
	const char *why;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (shopify_parse_listen(*newval, NULL, NULL, &why))
		return true;
	GUC_check_errdetail("%s", why);
	return false;
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

	DefineCustomIntVariable("shopify_sync.webhook_max_body",
							"Largest webhook body accepted, by shopify_receive_webhook() and the webhook listener.",
							"Larger deliveries are refused: SQLSTATE 54000, HTTP 413. At most 16MB.",
							&shopify_webhook_max_body, 16 * 1024 * 1024, 1024, 16 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomStringVariable("shopify_sync.webhook_listen",
							   "address:port where the webhook listener receives Shopify's deliveries over HTTP (POST /shopify/webhooks); empty: no listener.",
							   "The listener is a background worker of its own; put it behind a TLS proxy (nginx, Caddy): Shopify delivers over HTTPS only.",
							   &shopify_webhook_listen, "",
							   PGC_POSTMASTER, 0, check_webhook_listen, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.webhook_listen_max_connections",
							"Connections the webhook listener holds at once; more are closed as they arrive.",
							NULL,
							&shopify_webhook_listen_max_connections, 1000, 1, 100000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("shopify_sync.webhook_listen_timeout",
							"Time a client of the webhook listener has to send a whole request, and to stay idle between requests.",
							"A connection that takes longer is closed (slow clients, idle keep-alive connections).",
							&shopify_webhook_listen_timeout_ms, 10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	MarkGUCPrefixReserved("shopify_sync");
}

