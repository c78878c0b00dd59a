/*
 * settings.h — the extension's settings (base/settings.c) and the constants
 * every layer shares.
 */
#ifndef SHOPIFY_SETTINGS_H
#define SHOPIFY_SETTINGS_H

#include "postgres.h"

#ifndef EXTVERSION
#error "EXTVERSION must be defined by the Makefile"
#endif

#define SHOPIFY_SCHEMA "shopify"

/* Hard cap of max_concurrent_syncs; shared memory is sized for it. */
#define SHOPIFY_MAX_SLOTS 64

/* ----- settings ----- */
extern char *shopify_database_name;
extern char *shopify_api_base_url;
extern char *shopify_api_version;
extern char *shopify_webhook_secret;
extern char *shopify_token_key_file;
extern char *shopify_ca_file;
extern int	shopify_api;			/* SHOPIFY_API_* */
/* shopify_sync.bulk_threshold: a count, -1 never, 0 always, or SHOPIFY_BULK_AUTO */
#define SHOPIFY_BULK_AUTO (-2)
extern int	shopify_bulk_threshold;
extern char *shopify_bulk_threshold_setting;
extern int	shopify_max_concurrent_syncs;
extern int	shopify_http_timeout_ms;
extern int	shopify_max_retries;
extern int	shopify_lease_time_s;
extern int	shopify_max_job_attempts;
extern int	shopify_log_retention_min;
extern int	shopify_job_retention_min;
extern int	shopify_incremental_lookback_s;
extern double shopify_rest_leak_rate;
extern int	shopify_rest_page_size;
extern bool shopify_log_api_calls;
extern char *shopify_webhook_previous_secret;
extern int	shopify_webhook_rate_limit;
extern int	shopify_webhook_rate_burst;
extern int	shopify_webhook_max_attempts;
extern int	shopify_graphql_page_size;
extern int	shopify_graphql_variants_first;
extern int	shopify_graphql_lines_first;
extern bool shopify_customer_personal_data;
extern int	shopify_webhook_max_body;
extern char *shopify_webhook_listen;
extern int	shopify_webhook_listen_max_connections;
extern int	shopify_webhook_listen_timeout_ms;

#define SHOPIFY_API_REST	0
#define SHOPIFY_API_GRAPHQL 1

extern void shopify_define_settings(void);

struct sockaddr_storage;
extern bool shopify_parse_listen(const char *v, struct sockaddr_storage *addr,
								 unsigned int *addrlen, const char **why);

#endif
