/*
 * txn.h — one unit of the worker's database work in its own transaction.
 */
#ifndef SHOPIFY_TXN_H
#define SHOPIFY_TXN_H

#include "postgres.h"

typedef void (*ShopifyTxnFn) (void *arg);

extern bool shopify_run_in_tx(const char *activity, ShopifyTxnFn fn, void *arg,
							  char *errbuf, size_t errlen, int *sqlstate);

#endif
