/*
 * http.c — libcurl inside the worker process.
 *
 * One multi handle per process drives every transfer; its connection cache
 * lets consecutive requests to the same host reuse a connection.  The
 * process waits in http_wait() on a WaitEventSet that holds the process
 * latch, postmaster death and libcurl's current sockets; PostgreSQL 15
 * cannot remove events from a set, so the set is rebuilt whenever libcurl
 * reports a change of its sockets (a handful of sockets: cheap).
 *
 * Rules kept here:
 *  - callbacks never ereport, never palloc: they copy into fixed-size fields
 *    or a malloc'd, size-capped buffer and return an error code to libcurl;
 *  - NOSIGNAL, connect and total timeouts, only http and https, no
 *    redirects, TLS peer and host verification on (CA file from a setting);
 *  - a fresh easy handle per request, freed with its header list (whose
 *    token line is wiped first) when the request completes or is aborted;
 *  - curl_global_init once, lazily, in the worker (never in the postmaster).
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "http/http.h"
#include "base/settings.h"
#include "base/shmem.h"

#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85.0 or newer is required (CURLOPT_PROTOCOLS_STR)"
#endif

#define MAX_SOCKS 128
#define MIN_BUF (64 * 1024)

typedef struct SockEntry
{
	curl_socket_t fd;
	int			what;
} SockEntry;

static CURLM *multi = NULL;
static SockEntry socks[MAX_SOCKS];
static int	nsocks = 0;
static bool socks_changed = true;
static long timer_ms = -1;
static TimestampTz timer_set_at = 0;
static WaitEventSet *wes = NULL;
static HttpRequest *done_head = NULL;
static HttpRequest *done_tail = NULL;
static HttpRequest *paused_head = NULL;
static int	in_flight = 0;

/* ----- callbacks: no ereport, no palloc ----- */

static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	int			i;

	for (i = 0; i < nsocks; i++)
		if (socks[i].fd == s)
			break;
	if (what == CURL_POLL_REMOVE)
	{
		if (i < nsocks)
		{
			socks[i] = socks[nsocks - 1];
			nsocks--;
			socks_changed = true;
		}
		return 0;
	}
	if (i < nsocks)
	{
		if (socks[i].what != what)
		{
			socks[i].what = what;
			socks_changed = true;
		}
		return 0;
	}
	if (nsocks >= MAX_SOCKS)
		return -1;
	socks[nsocks].fd = s;
	socks[nsocks].what = what;
	nsocks++;
	socks_changed = true;
	return 0;
}

static int
timer_cb(CURLM *m, long timeout, void *userp)
{
	timer_ms = timeout;
	timer_set_at = GetCurrentTimestamp();
	return 0;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HttpRequest *r = (HttpRequest *) userdata;
	size_t		n = size * nmemb;

	/* a stream with a full buffer: pause until the consumer drained it */
	if (r->stream && r->resp_len >= r->stream_chunk)
	{
		if (!r->paused)
		{
			r->paused = true;
			r->next_paused = paused_head;
			paused_head = r;
		}
		return CURL_WRITEFUNC_PAUSE;
	}
	r->bytes_total += n;
	if (r->resp_len + n + 1 > r->max_body)
	{
		r->too_large = true;
		return 0;
	}
	if (r->resp_len + n + 1 > r->resp_cap)
	{
		size_t		cap = Max(Max(r->resp_cap * 2, r->resp_len + n + 1), MIN_BUF);
		char	   *p;

		cap = Min(cap, r->max_body);
		p = realloc(r->resp, cap);
		if (p == NULL)
			return 0;
		r->resp = p;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, ptr, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

static void
copy_header_value(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
						v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (vlen >= dstlen)
		vlen = dstlen - 1;
	/* these headers are ASCII: anything else would end up in text columns */
	for (size_t i = 0; i < vlen; i++)
		dst[i] = ((unsigned char) v[i] < 0x20 || (unsigned char) v[i] >= 0x7f) ? '?' : v[i];
	dst[vlen] = '\0';
}

static size_t
header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	HttpRequest *r = (HttpRequest *) userdata;
	size_t		n = size * nitems;
	const char *colon;
	size_t		namelen;

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0)
	{
		/* A new response (e.g. after 100 Continue): forget the last one's. */
		r->link[0] = r->call_limit[0] = r->retry_after[0] = '\0';
		r->request_id[0] = r->content_type[0] = '\0';
		return n;
	}
	colon = memchr(buf, ':', n);
	if (colon == NULL)
		return n;
	namelen = colon - buf;

#define HDR(name, field) \
	if (namelen == strlen(name) && pg_strncasecmp(buf, name, namelen) == 0) \
		copy_header_value(r->field, sizeof(r->field), colon + 1, n - namelen - 1)

	HDR("link", link);
	else HDR("x-shopify-shop-api-call-limit", call_limit);
	else HDR("retry-after", retry_after);
	else HDR("x-request-id", request_id);
	else HDR("content-type", content_type);
#undef HDR
	return n;
}

static void collect_done(void);

/* ----- lifecycle ----- */

static void
wipe_slist(struct curl_slist *l)
{
	for (; l != NULL; l = l->next)
		if (l->data)
			explicit_bzero(l->data, strlen(l->data));
}

static void
free_easy(HttpRequest *req)
{
	if (req->easy)
	{
		if (req->in_multi)
		{
			curl_multi_remove_handle(multi, req->easy);
			req->in_multi = false;
			in_flight--;
		}
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
	if (req->slist)
	{
		wipe_slist(req->slist);
		curl_slist_free_all(req->slist);
		req->slist = NULL;
	}
}

void
http_init(void)
{
	if (multi != NULL)
		return;
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libcurl")));
	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) (SHOPIFY_MAX_SLOTS * 2));
}

/* Free every libcurl resource of this process (at exit). */
void
http_shutdown(void)
{
	if (wes != NULL)
	{
		FreeWaitEventSet(wes);
		wes = NULL;
	}
	if (multi != NULL)
	{
		curl_multi_cleanup(multi);
		multi = NULL;
		curl_global_cleanup();
	}
	nsocks = 0;
}

/*
 * Start a request.  On failure returns false with a message; nothing is
 * left allocated.
 */
bool
http_start(HttpRequest *req, char *errmsg, size_t errlen)
{
	CURL	   *e;
	int			i;
	CURLMcode	mc;

	/* the rule of the worker: never a transaction open across network I/O */
	Assert(!IsTransactionState());
	http_init();
	req->done = false;
	req->curl_code = CURLE_OK;
	req->status = 0;
	req->errbuf[0] = '\0';
	req->too_large = false;
	req->resp = NULL;
	req->resp_len = req->resp_cap = 0;
	req->link[0] = req->call_limit[0] = req->retry_after[0] = '\0';
	req->request_id[0] = req->content_type[0] = '\0';
	req->next_done = NULL;
	req->next_paused = NULL;
	req->paused = false;
	req->bytes_total = 0;
	if (req->max_body == 0)
		req->max_body = 64 * 1024 * 1024;

	e = curl_easy_init();
	if (e == NULL)
	{
		snprintf(errmsg, errlen, "could not create a libcurl handle");
		return false;
	}
	req->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	if (req->no_total_timeout)
	{
		/* a download of any size: give up only when it stalls */
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, Max(1L, req->timeout_ms / 1000));
	}
	else
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, Min(req->timeout_ms, 10000L));
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (shopify_ca_file && shopify_ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, shopify_ca_file);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "shopify_sync/" EXTVERSION " (PostgreSQL extension)");
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);

	req->slist = curl_slist_append(NULL, "Accept: application/json");
	for (i = 0; i < lengthof(req->headers) && req->headers[i] != NULL; i++)
		req->slist = curl_slist_append(req->slist, req->headers[i]);
	if (req->body != NULL)
	{
		req->slist = curl_slist_append(req->slist, "Content-Type: application/json");
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) req->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
	}
	if (req->slist == NULL)
	{
		free_easy(req);
		snprintf(errmsg, errlen, "out of memory building request headers");
		return false;
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->slist);

	mc = curl_multi_add_handle(multi, e);
	if (mc != CURLM_OK)
	{
		free_easy(req);
		snprintf(errmsg, errlen, "could not start the request: %s", curl_multi_strerror(mc));
		return false;
	}
	req->in_multi = true;
	in_flight++;
	return true;
}

/* Stop a request in flight (or forget a finished one); frees its buffers. */
void
http_abort(HttpRequest *req)
{
	HttpRequest **pp;

	free_easy(req);
	for (pp = &paused_head; *pp != NULL; pp = &(*pp)->next_paused)
	{
		if (*pp == req)
		{
			*pp = req->next_paused;
			break;
		}
	}
	req->paused = false;
	/* unlink from the done list if it is there */
	for (pp = &done_head; *pp != NULL; pp = &(*pp)->next_done)
	{
		if (*pp == req)
		{
			*pp = req->next_done;
			if (done_tail == req)
			{
				HttpRequest *t = done_head;

				while (t && t->next_done)
					t = t->next_done;
				done_tail = t;
			}
			break;
		}
	}
	http_release(req);
}

/* Free the response buffer, unless it was taken. */
void
http_release(HttpRequest *req)
{
	if (req->resp)
		free(req->resp);
	req->resp = NULL;
	req->resp_len = req->resp_cap = 0;
}

/* Hand the malloc'd response body to the caller, who must free() it. */
char *
http_take_body(HttpRequest *req, size_t *len)
{
	char	   *b = req->resp;

	*len = req->resp_len;
	req->resp = NULL;
	req->resp_len = req->resp_cap = 0;
	return b;
}

/* A stream that paused with a full buffer, or NULL. */
HttpRequest *
http_next_paused(void)
{
	HttpRequest *r = paused_head;

	if (r)
	{
		paused_head = r->next_paused;
		r->next_paused = NULL;
	}
	return r;
}

/* The consumer used the first n bytes of a stream's buffer. */
void
http_stream_consume(HttpRequest *req, size_t n)
{
	if (n >= req->resp_len)
		req->resp_len = 0;
	else
	{
		memmove(req->resp, req->resp + n, req->resp_len - n);
		req->resp_len -= n;
	}
	if (req->resp)
		req->resp[req->resp_len] = '\0';
}

/* Continue a paused stream (its callback may run, and pause, at once). */
void
http_resume(HttpRequest *req)
{
	if (!req->paused || req->easy == NULL)
		return;
	req->paused = false;
	curl_easy_pause(req->easy, CURLPAUSE_CONT);
}

/*
 * Let libcurl start the transfers just added (send their requests) without
 * waiting: used before a long piece of database work, so that the server
 * prepares its answer meanwhile.
 */
void
http_kick(void)
{
	int			running;

	if (multi == NULL)
		return;
	timer_ms = -1;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect_done();
}

int
http_in_flight(void)
{
	return in_flight;
}

static void
collect_done(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		HttpRequest *req = NULL;
		double		t = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		if (req == NULL)
			continue;
		req->curl_code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &req->status);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME, &t);
		req->total_ms = t * 1000.0;
		if (req->curl_code != CURLE_OK && req->errbuf[0] == '\0')
			strlcpy(req->errbuf, curl_easy_strerror(req->curl_code), sizeof(req->errbuf));
		free_easy(req);
		req->done = true;
		req->next_done = NULL;
		if (done_tail)
			done_tail->next_done = req;
		else
			done_head = req;
		done_tail = req;
	}
}

HttpRequest *
http_next_done(void)
{
	HttpRequest *r = done_head;

	if (r)
	{
		done_head = r->next_done;
		if (done_head == NULL)
			done_tail = NULL;
		r->next_done = NULL;
	}
	return r;
}

static void
rebuild_wait_set(void)
{
	int			i;

	if (wes != NULL)
		FreeWaitEventSet(wes);
	wes = CreateWaitEventSet(TopMemoryContext, nsocks + 2);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < nsocks; i++)
	{
		uint32		ev = 0;

		if (socks[i].what & CURL_POLL_IN)
			ev |= WL_SOCKET_READABLE;
		if (socks[i].what & CURL_POLL_OUT)
			ev |= WL_SOCKET_WRITEABLE;
		if (ev == 0)
			continue;
		AddWaitEventToSet(wes, ev, socks[i].fd, NULL, NULL);
	}
	socks_changed = false;
}

/*
 * Wait up to timeout_ms for the latch, a socket or libcurl's timer, and let
 * libcurl make progress.  Finished requests are queued for
 * http_next_done().  Returns true when the latch was set (the caller resets
 * it).
 */
bool
http_wait(long timeout_ms)
{
	WaitEvent	events[MAX_SOCKS + 2];
	int			n,
				i;
	int			running;
	bool		latch = false;
	bool		timer_due = false;

	http_init();
	if (timer_ms >= 0)
	{
		long		elapsed = (long) ((GetCurrentTimestamp() - timer_set_at) / 1000);
		long		remaining = Max(0, timer_ms - elapsed);

		timeout_ms = Min(timeout_ms, remaining);
	}
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (wes == NULL || socks_changed)
		rebuild_wait_set();

	n = WaitEventSetWait(wes, timeout_ms, events, lengthof(events), PG_WAIT_EXTENSION);
	for (i = 0; i < n; i++)
	{
		if (events[i].events & WL_LATCH_SET)
			latch = true;
		else if (events[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
		{
			int			flags = 0;

			if (events[i].events & WL_SOCKET_READABLE)
				flags |= CURL_CSELECT_IN;
			if (events[i].events & WL_SOCKET_WRITEABLE)
				flags |= CURL_CSELECT_OUT;
			curl_multi_socket_action(multi, events[i].fd, flags, &running);
		}
	}

	if (timer_ms >= 0 &&
		(GetCurrentTimestamp() - timer_set_at) / 1000 >= timer_ms)
		timer_due = true;
	if (timer_due || (n == 0 && in_flight > 0))
	{
		timer_ms = -1;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	collect_done();
	return latch;
}
