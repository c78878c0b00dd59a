/*
 * http.h — libcurl's multi interface, driven from a WaitEventSet.
 *
 * Knows nothing of Shopify, SPI or jobs.  A request is started, runs while
 * the caller waits in http_wait() (which also returns for the process
 * latch), and shows up in http_next_done() when finished.
 */
#ifndef SHOPIFY_HTTP_H
#define SHOPIFY_HTTP_H

#include "postgres.h"

#include <curl/curl.h>

#define HTTP_HEADER_VALUE_MAX 1024

typedef struct HttpRequest
{
	/* set by the caller before http_start() */
	char	   *url;			/* palloc'd by the caller */
	const char *method;			/* "GET" or "POST" */
	const char *body;			/* POST body or NULL (not copied) */
	size_t		body_len;
	const char *headers[8];		/* "Name: value" lines, NULL-terminated */
	long		timeout_ms;
	size_t		max_body;		/* response size cap (for a stream: of the buffer) */
	bool		stream;			/* deliver the body in pieces (http_next_paused) */
	size_t		stream_chunk;	/* pause the transfer when this much is buffered */
	bool		no_total_timeout;	/* long downloads: a low-speed limit instead */
	void	   *owner;			/* opaque, for the caller */

	/* results, valid once done */
	bool		done;
	CURLcode	curl_code;
	long		status;
	char		errbuf[CURL_ERROR_SIZE];
	bool		too_large;		/* response exceeded max_body */
	char	   *resp;			/* malloc'd, NUL-terminated; http_take_body() */
	size_t		resp_len;
	double		total_ms;
	char		link[HTTP_HEADER_VALUE_MAX];
	char		call_limit[64];
	char		retry_after[64];
	char		request_id[128];
	char		content_type[128];

	/* private */
	CURL	   *easy;
	struct curl_slist *slist;
	size_t		resp_cap;
	bool		in_multi;
	bool		paused;
	int64		bytes_total;	/* received so far (streams) */
	struct HttpRequest *next_done;
	struct HttpRequest *next_paused;
} HttpRequest;

extern void http_init(void);
extern void http_shutdown(void);
extern bool http_start(HttpRequest *req, char *errmsg, size_t errlen);
extern void http_abort(HttpRequest *req);
extern void http_release(HttpRequest *req);
extern char *http_take_body(HttpRequest *req, size_t *len);
extern bool http_wait(long timeout_ms);
extern HttpRequest *http_next_done(void);
extern int	http_in_flight(void);
extern void http_kick(void);
extern HttpRequest *http_next_paused(void);
extern void http_stream_consume(HttpRequest *req, size_t n);
extern void http_resume(HttpRequest *req);

#endif
