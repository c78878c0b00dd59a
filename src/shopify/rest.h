/*
 * rest.h — REST Admin API paths and pagination.
 */
#ifndef SHOPIFY_REST_H
#define SHOPIFY_REST_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern char *rest_shop_path(void);
extern char *rest_count_path(bool has_since, TimestampTz since);
extern char *rest_page_path(const char *page_info, bool has_since, TimestampTz since);
extern bool rest_next_page_info(const char *link, char **page_info);
extern char *rest_orders_count_path(bool has_since, TimestampTz since);
extern char *rest_orders_page_path(const char *page_info, bool has_since, TimestampTz since);

#endif
