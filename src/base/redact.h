/*
 * redact.h — secrets kept out of log lines, pg_stat_activity and messages
 * (base/redact.c).
 */
#ifndef SHOPIFY_REDACT_H
#define SHOPIFY_REDACT_H

#include "postgres.h"

extern void shopify_install_log_redaction(void);
extern void shopify_redact_activity(const char *call);
extern void shopify_scrub_secrets(char *s, bool json);
extern bool shopify_looks_like_token(const char *s);

#endif
