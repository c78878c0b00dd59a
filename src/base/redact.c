/*
 * redact.c — keeping access tokens out of pg_stat_activity and the server
 * log.
 *
 * Two mechanisms:
 *  - shopify_redact_activity(): a function whose arguments are secrets
 *    replaces its backend's query text (pg_stat_activity, and the STATEMENT
 *    line of any later error report) with a version without arguments.
 *  - an emit_log_hook, installed in every backend, scrubs anything shaped
 *    like a Shopify token (shpat_, shpca_, shppa_, shpss_ followed by
 *    letters and digits) from every server log line before it is written,
 *    and suppresses the STATEMENT line of a report whose statement carries
 *    one.  This covers what the extension does not control, such as
 *    log_statement = 'all' logging the text of a connect call.  It also
 *    hides the webhook secrets: the values of shopify_sync.webhook_secret
 *    and webhook_previous_secret, and whatever follows their names in a
 *    line (PostgreSQL logs "parameter ... changed to ..." on reload).
 *  - shopify_scrub_secrets() does the same for the rows of shopify.sync_log
 *    (log.c), whatever argument a token arrived in (a caller who swaps
 *    shop_domain and access_token must not find the token in the log).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/elog.h"

#include "base/settings.h"
#include "base/redact.h"
#include "base/util.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

/* Position of the first token-shaped substring of s, or NULL. */
static char *
find_token(char *s)
{
	char	   *p = s;

	while (p != NULL && (p = strstr(p, "shp")) != NULL)
	{
		if ((p[3] == 'a' && p[4] == 't') || (p[3] == 'c' && p[4] == 'a') ||
			(p[3] == 'p' && p[4] == 'a') || (p[3] == 's' && p[4] == 's'))
		{
			if (p[5] == '_' && isalnum((unsigned char) p[6]))
				return p;
		}
		p += 3;
	}
	return NULL;
}

/* Does s hold something shaped like a Shopify token? */
bool
shopify_looks_like_token(const char *s)
{
	return s != NULL && find_token((char *) s) != NULL;
}

/* Overwrite every token's secret part with '*' in place. */
static void
scrub(char *s)
{
	char	   *p;

	if (s == NULL)
		return;
	while ((p = find_token(s)) != NULL)
	{
		p += 6;
		while (isalnum((unsigned char) *p))
			*p++ = '*';
		s = p;
	}
}

/*
 * A line that sets or shows a webhook secret setting ("parameter
 * "shopify_sync.webhook_secret" changed to ...", "statement: ALTER SYSTEM
 * SET shopify_sync.webhook_secret = ..."): cut it where the value begins.
 * A line that only names the setting is left alone.
 */
static void
scrub_secret_settings(char *s)
{
	static const char *const names[] = {"webhook_previous_secret", "webhook_secret"};

	if (s == NULL)
		return;
	for (int i = 0; i < lengthof(names); i++)
	{
		char	   *p = strstr(s, names[i]);
		char	   *v;

		if (p == NULL)
			continue;
		p += strlen(names[i]);
		if ((v = strstr(p, "changed to")) != NULL)
			v += strlen("changed to");
		else if ((v = strpbrk(p, "='")) == NULL &&
				 (v = strstr(p, " TO ")) == NULL && (v = strstr(p, " to ")) == NULL)
			continue;
		if (strlen(v) > strlen(" (hidden)"))
			strcpy(v, " (hidden)");
	}
}

/* Any occurrence of the configured webhook secrets themselves. */
static void
scrub_value(char *s, const char *secret)
{
	char	   *p;
	size_t		n;

	if (s == NULL || secret == NULL || (n = strlen(secret)) < 4)
		return;
	while ((p = strstr(s, secret)) != NULL)
		memset(p, '*', n);
}

/* May a secret be overwritten inside a JSON text without breaking it? */
static bool
json_safe_secret(const char *secret)
{
	if (secret == NULL)
		return false;
	for (const char *p = secret; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '-' && *p != '_')
			return false;
	return true;
}

/*
 * Scrub a text bound for the log table in place: token-shaped substrings
 * and the configured webhook secrets become '*'.  Its length is kept; with
 * json, only secrets made of letters, digits, '-' and '_' are replaced, so
 * that a JSON text stays valid (a token is replaced after its prefix, which
 * is all letters and digits).  Never throws.
 */
void
shopify_scrub_secrets(char *s, bool json)
{
	if (s == NULL)
		return;
	scrub(s);
	if (!json || json_safe_secret(shopify_webhook_secret))
		scrub_value(s, shopify_webhook_secret);
	if (!json || json_safe_secret(shopify_webhook_previous_secret))
		scrub_value(s, shopify_webhook_previous_secret);
}

static void
redact_emit_log_hook(ErrorData *edata)
{
	if (edata->output_to_server)
	{
		scrub_secret_settings(edata->message);
		scrub_secret_settings(edata->detail);
		scrub_value(edata->message, shopify_webhook_secret);
		scrub_value(edata->message, shopify_webhook_previous_secret);
		scrub(edata->message);
		scrub(edata->detail);
		scrub(edata->detail_log);
		scrub(edata->hint);
		scrub(edata->context);
		scrub(edata->internalquery);
		if (debug_query_string != NULL &&
			(find_token((char *) debug_query_string) != NULL ||
			 strstr(debug_query_string, "webhook_secret") != NULL ||
			 strstr(debug_query_string, "webhook_previous_secret") != NULL))
			edata->hide_stmt = true;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
shopify_install_log_redaction(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_emit_log_hook;
}

/*
 * Replace this backend's query text, as shown in pg_stat_activity and in the
 * STATEMENT line of any later error report, with a version that carries no
 * arguments.  Used by functions whose arguments are secrets.
 */
void
shopify_redact_activity(const char *call)
{
	static char text[128];

	snprintf(text, sizeof(text), "SELECT %s(...) -- arguments hidden by shopify_sync", call);
	pgstat_report_activity(STATE_RUNNING, text);
	debug_query_string = text;
}
