/*
 * convert.h — Shopify JSON scalars to PostgreSQL values, never throwing.
 */
#ifndef SHOPIFY_SYNC_CONVERT_H
#define SHOPIFY_SYNC_CONVERT_H

#include "postgres.h"

#include "common/jsonapi.h"

#include "mirror/extract.h"

/* the longest text value kept (longer ones make their row fail) */
#define MAX_TEXT 65535

typedef struct Scalar
{
	char	   *s;				/* de-escaped token, or NULL when absent */
	int			len;
	JsonTokenType type;
	bool		container;		/* an object or array stood where a scalar belongs */
} Scalar;

typedef enum FieldStatus
{
	FS_OK,						/* converted */
	FS_NULL,					/* absent or JSON null: SQL NULL */
	FS_BAD						/* of the wrong type or out of range */
} FieldStatus;

extern bool conv_absent(const Scalar *v);
extern FieldStatus conv_int64(const Scalar *v, int64 *out);
extern FieldStatus conv_int32(const Scalar *v, int32 *out);
extern FieldStatus conv_numeric(const Scalar *v, Datum *out);
extern FieldStatus conv_text(const Scalar *v, Datum *out);
extern FieldStatus conv_status(const Scalar *v, Datum *out);
extern FieldStatus conv_timestamptz(const Scalar *v, Datum *out);
extern FieldStatus conv_bool(const Scalar *v, Datum *out);
extern FieldStatus conv_enum(const Scalar *v, Datum *out);

/* values as extract.c reads them */
extern Scalar conv_scalar_of(const XValue *x);
extern FieldStatus conv_tags(const XValue *x, Datum *out);
extern FieldStatus conv_jsonb(const XValue *x, Datum *out);

#endif
