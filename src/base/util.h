/*
 * util.h — helpers of the SQL surface: who is calling, acting with the
 * extension owner's rights, SPI shorthands, store and job ownership checks.
 */
#ifndef SHOPIFY_UTIL_H
#define SHOPIFY_UTIL_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

typedef struct ShopifyCaller
{
	Oid			roleid;
	char	   *rolename;
	bool		superuser;
} ShopifyCaller;

typedef struct ShopifyElevation
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		active;
} ShopifyElevation;

typedef struct ShopifyStore
{
	int64		shop_id;
	char	   *shop_domain;
	char	   *shop_name;
	char	   *owner;
	bool		is_active;
	char	   *token_status;
} ShopifyStore;

/* flags for shopify_store_access */
#define STORE_REQUIRE_ACTIVE	0x01	/* refuse a disconnected store */
#define STORE_LOCK				0x02	/* lock the row FOR UPDATE */
#define STORE_REQUIRE_TOKEN		0x04	/* refuse a store whose token Shopify rejected */

extern void shopify_get_caller(ShopifyCaller *caller);
extern void shopify_elevate(ShopifyElevation *e);
extern void shopify_restore(ShopifyElevation *e);

extern void shopify_spi_connect(void);
extern void shopify_spi_finish(void);
extern int	shopify_spi_exec(const char *sql, int nargs, Oid *argtypes,
							 Datum *values, const char *nulls, bool read_only);
extern int	shopify_spi_run(const char *sql, int nargs, Oid *argtypes,
							Datum *values, const char *nulls, bool read_only);
extern Datum shopify_spi_value(int row, int col, bool *isnull);
extern char *shopify_spi_text(int row, int col);
extern int64 shopify_spi_int64(int row, int col);

extern void shopify_store_access(int64 shop_id, int flags, const ShopifyCaller *caller,
								 ShopifyStore *store);
extern int64 shopify_job_access(int64 job_id, int flags, const ShopifyCaller *caller,
								ShopifyStore *store);

extern void shopify_require_args(FunctionCallInfo fcinfo, int nargs, const char *const *names);
extern bool shopify_have_orders(void);
extern bool shopify_have_store_tables(void);
extern Datum shopify_array_of(Datum *d, bool *dn, int n, Oid typ);
extern Datum shopify_int8_array(int64 *ids, int n);
extern bool shopify_int64_in(int64 v, const int64 *list, int n);

#endif
