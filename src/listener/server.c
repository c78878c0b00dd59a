/*
 * server.c — the webhook listener's HTTP side, on GNU libmicrohttpd.
 *
 * Why libmicrohttpd: it is Debian's maintained embeddable HTTP/1.1 server
 * (libmicrohttpd-dev) and the one that fits a background worker: it runs no
 * thread of its own when asked ("external polling"), so every callback runs
 * inside MHD_run() on the process's one thread; its epoll mode hands the
 * caller a single descriptor for all its sockets, which joins the worker's
 * WaitEventSet beside the latch and scales to thousands of connections;
 * suspend/resume lets a complete request wait, unanswered, for the
 * transaction that stores it with others (group commit); and the limits a
 * public endpoint needs are built in (connection limit, per-connection
 * memory that caps the headers, strict request parsing).  libevent's evhttp
 * would serve too, but has no per-request suspend and weaker limits.
 *
 * Rules: the callbacks below never call PostgreSQL (no palloc, elog,
 * ereport, SPI) and never throw: a longjmp out of MHD would leave it
 * mid-request.  They use malloc and fixed buffers, and queue MHD's own
 * messages for listen_flush_log(), which listener.c calls after MHD_run().
 * A request is answered here at once when the answer needs no database:
 * 404 (another path), 405 (another method; with Allow: POST), 413 (a
 * Content-Length over shopify_sync.webhook_max_body; a chunked body that
 * grows past it is read to its end and discarded), 503 (too many bodies
 * buffered at once).  A complete POST is suspended and queued for
 * listen_next(); listen_answer() resumes it with its answer.  Slow clients:
 * listen_sweep() closes (shutdown(2) on its socket, which MHD then sees)
 * every connection whose current request, or idleness since its last
 * answer, has lasted longer than shopify_sync.webhook_listen_timeout;
 * requests waiting for their batch are exempt.
 */
#include "postgres.h"

#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <microhttpd.h>

#include "listener/server.h"

#define CONNECTION_MEMORY (32 * 1024)	/* headers and buffers of one connection */
#define BODY_BUDGET ((size_t) 256 * 1024 * 1024)	/* all bodies being received at once */
#define LOG_SLOTS 32
#define LIMIT_SLACK 64			/* accepted beyond the limit, to be refused */

/* one TCP connection */
typedef struct ListenConn
{
	struct ListenConn *prev;
	struct ListenConn *next;
	struct MHD_Connection *mhd;
	int64		since_us;		/* its current request began (or it went idle) */
	bool		busy;			/* a request of it waits for its batch */
	bool		cut;			/* shut down: MHD closes it */
	bool		refused;		/* beyond the connection limit */
} ListenConn;

typedef enum
{
	REQ_RECEIVING,
	REQ_WAITING,				/* suspended, queued for listen_next() */
	REQ_ANSWERED				/* resumed: its answer is queued next */
} ReqState;

typedef struct ListenRequestPriv
{
	ListenRequest pub;
	ReqState	state;
	ListenConn *conn;
	struct MHD_Connection *mhd;
	char	   *buf;
	size_t		cap;
	bool		too_large;
	struct ListenRequestPriv *next_ready;
	/* the answer */
	int			status;
	int			retry_after_s;
	int64		event_id;
	bool		duplicate;
	char		message[160];
} ListenRequestPriv;

static struct MHD_Daemon *daemon_ = NULL;
static ListenConn *conns = NULL;
static ListenRequestPriv *ready_head = NULL;
static ListenRequestPriv *ready_tail = NULL;
static int	n_ready = 0;
static size_t max_body = 16 * 1024 * 1024;
static size_t buffered = 0;
static ListenStats stats;
static int	max_conns = 1000;
static int	n_open = 0;			/* connections served (not refused) */
static char log_ring[LOG_SLOTS][200];
static int	log_n = 0;
static int64 log_dropped = 0;

static int64
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* MHD's messages, kept for listen_flush_log() (no elog in here) */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	if (log_n >= LOG_SLOTS)
	{
		log_dropped++;
		return;
	}
	vsnprintf(log_ring[log_n], sizeof(log_ring[0]), fmt, ap);
	log_n++;
}

/* Write MHD's queued messages to the server log (main loop, outside MHD). */
void
listen_flush_log(void)
{
	for (int i = 0; i < log_n; i++)
	{
		size_t		n = strlen(log_ring[i]);

		while (n > 0 && (log_ring[i][n - 1] == '\n' || log_ring[i][n - 1] == '\r'))
			log_ring[i][--n] = '\0';
		ereport(LOG,
				(errmsg("shopify_sync webhook listener: %s", log_ring[i])));
	}
	if (log_dropped > 0)
		ereport(LOG,
				(errmsg("shopify_sync webhook listener: " INT64_FORMAT " more messages of libmicrohttpd not shown",
						log_dropped)));
	log_n = 0;
	log_dropped = 0;
}

/* What a connection beyond the limit reads before it is closed. */
static const char busy_answer[] =
"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
"Content-Type: application/json\r\nContent-Length: 39\r\n\r\n"
"{\"error\": \"too many open connections\"}\n";

static void
cut_connection(ListenConn *lc)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(lc->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);

	if (ci != NULL)
		(void) shutdown(ci->connect_fd, SHUT_RDWR);
	lc->cut = true;
}

/*
 * A connection opens or closes.  Beyond shopify_sync.webhook_listen_max_
 * connections a new one is answered 503 and closed at once (libmicrohttpd's
 * own limit, set a little higher, would leave it waiting in the backlog).
 */
static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	ListenConn *lc;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		lc = calloc(1, sizeof(ListenConn));
		*socket_context = lc;
		if (lc == NULL)
			return;
		lc->mhd = c;
		lc->since_us = now_us();
		lc->next = conns;
		if (conns)
			conns->prev = lc;
		conns = lc;
		stats.connections++;
		if (n_open >= max_conns)
		{
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

			if (ci != NULL)
				(void) send(ci->connect_fd, busy_answer, sizeof(busy_answer) - 1,
							MSG_NOSIGNAL | MSG_DONTWAIT);
			cut_connection(lc);
			lc->refused = true;
			stats.refused++;
			return;
		}
		n_open++;
		return;
	}
	lc = *socket_context;
	if (lc == NULL)
		return;
	if (lc->prev)
		lc->prev->next = lc->next;
	else
		conns = lc->next;
	if (lc->next)
		lc->next->prev = lc->prev;
	stats.connections--;
	if (!lc->refused)
		n_open--;
	free(lc);
	*socket_context = NULL;
}

static ListenConn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? (ListenConn *) ci->socket_context : NULL;
}

static void
free_request(ListenRequestPriv *p)
{
	if (p->buf)
	{
		buffered -= p->cap;
		free(p->buf);
	}
	free(p);
}

/* A request ended (answered, or its connection failed): forget it. */
static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	ListenRequestPriv *p = *con_cls;
	ListenConn *lc = conn_of(c);

	if (lc)
	{
		lc->since_us = now_us();	/* idle from now on */
		lc->busy = false;
	}
	if (p)
		free_request(p);
	*con_cls = NULL;
}

/* Queue an answer: a small JSON body, and the headers it needs. */
static enum MHD_Result
reply(struct MHD_Connection *c, int status, const char *message, int retry_after_s,
	  int64 event_id, bool duplicate)
{
	char		body[256];
	int			n;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (status == 200)
		n = snprintf(body, sizeof(body), "{\"event_id\": " INT64_FORMAT ", \"duplicate\": %s}\n",
					 event_id, duplicate ? "true" : "false");
	else
		n = snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", message ? message : "");
	if (n < 0 || n >= (int) sizeof(body))
		n = (int) strlen(body);
	resp = MHD_create_response_from_buffer((size_t) n, body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
								"X-Shopify-Hmac-Sha256");
	if (retry_after_s > 0)
	{
		char		ra[16];

		snprintf(ra, sizeof(ra), "%d", retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	ret = MHD_queue_response(c, (unsigned int) status, resp);
	MHD_destroy_response(resp);
	stats.requests++;
	if (status >= 100 && status < 600)
		stats.by_status[status / 100]++;
	return ret;
}

static void
header(struct MHD_Connection *c, const char *name, ListenHeader *h)
{
	const char *v = NULL;
	size_t		len = 0;

	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, name, strlen(name), &v, &len) != MHD_YES)
		v = NULL;
	h->value = v;
	h->len = v ? len : 0;
	h->has_nul = v != NULL && strlen(v) != len;
}

/* a Content-Length header: -1 when absent or unreadable */
static long long
content_length(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char	   *end;
	long long	n;

	if (v == NULL)
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || *end != '\0' || errno != 0 || n < 0)
		return -1;
	return n;
}

/* append a piece of the body; false when it no longer fits in memory */
static bool
append_body(ListenRequestPriv *p, const char *data, size_t n)
{
	size_t		len = p->pub.len;

	if (p->too_large || len + n > max_body)
	{
		p->too_large = true;	/* read to its end, then 413 */
		return true;
	}
	if (len + n + 1 > p->cap)
	{
		size_t		cap = Max(p->cap * 2, len + n + 1);
		char	   *b;

		cap = Min(cap, max_body + 1);
		if (buffered - p->cap + cap > BODY_BUDGET || (b = realloc(p->buf, cap)) == NULL)
			return false;
		buffered = buffered - p->cap + cap;
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + len, data, n);
	p->pub.len = len + n;
	p->buf[p->pub.len] = '\0';
	return true;
}

/* MHD's access handler: called when the headers are in, per piece of body, at the end */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
		   const char *version, const char *upload_data, size_t *upload_data_size,
		   void **con_cls)
{
	ListenRequestPriv *p = *con_cls;

	if (p == NULL)
	{
		long long	cl;
		ListenConn *lc = conn_of(c);

		if (lc != NULL && lc->cut)
			return MHD_NO;		/* refused or timed out: close */

		if (strcmp(url, LISTEN_PATH) != 0)
			return reply(c, 404, "not found: deliveries go to POST " LISTEN_PATH, 0, 0, false);
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return reply(c, 405, "method not allowed: deliveries are POST requests", 0, 0, false);
		cl = content_length(c);
		if (cl > (long long) max_body)
			return reply(c, 413, "body larger than shopify_sync.webhook_max_body", 0, 0, false);
		p = calloc(1, sizeof(ListenRequestPriv));
		if (p == NULL)
			return reply(c, 503, "out of memory", 1, 0, false);
		p->pub.priv = p;
		p->mhd = c;
		p->conn = conn_of(c);
		p->state = REQ_RECEIVING;
		if (cl >= 0)
		{
			size_t		cap = (size_t) cl + 1;

			if (buffered + cap > BODY_BUDGET || (p->buf = malloc(cap)) == NULL)
			{
				free(p);
				return reply(c, 503, "too many deliveries in progress", 1, 0, false);
			}
			p->cap = cap;
			buffered += cap;
			p->buf[0] = '\0';
		}
		*con_cls = p;
		return MHD_YES;
	}

	if (p->state == REQ_RECEIVING && *upload_data_size > 0)
	{
		if (!append_body(p, upload_data, *upload_data_size))
			return MHD_NO;		/* cannot buffer it: close the connection */
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (p->state == REQ_RECEIVING)
	{
		/* the whole request is in */
		if (p->too_large)
			return reply(c, 413, "body larger than shopify_sync.webhook_max_body", 0, 0, false);
		if (p->buf == NULL && !append_body(p, "", 0))
			return reply(c, 503, "out of memory", 1, 0, false);
		p->pub.body = p->buf;
		header(c, "X-Shopify-Topic", &p->pub.topic);
		header(c, "X-Shopify-Shop-Domain", &p->pub.shop_domain);
		header(c, "X-Shopify-Hmac-Sha256", &p->pub.hmac);
		header(c, "X-Shopify-Webhook-Id", &p->pub.webhook_id);
		header(c, "X-Shopify-Triggered-At", &p->pub.triggered_at);
		header(c, "X-Shopify-Api-Version", &p->pub.api_version);
		p->state = REQ_WAITING;
		if (p->conn)
			p->conn->busy = true;
		if (ready_tail)
			ready_tail->next_ready = p;
		else
			ready_head = p;
		ready_tail = p;
		n_ready++;
		MHD_suspend_connection(c);
		return MHD_YES;
	}

	if (p->state == REQ_ANSWERED)
		return reply(c, p->status, p->message, p->retry_after_s, p->event_id, p->duplicate);
	return MHD_NO;
}

/*
 * Start serving on addr (a struct sockaddr).  False with a message in err
 * when libmicrohttpd cannot (the address is in use, not local, ...).
 */
bool
listen_start(const void *addr, unsigned int addrlen, int max_connections,
			 char *err, size_t errlen)
{
	const struct sockaddr *sa = addr;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
		MHD_USE_TURBO;

	if (sa->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	max_conns = max_connections;
	errno = 0;
	daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
							   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
							   MHD_OPTION_SOCK_ADDR, sa,
							   MHD_OPTION_CONNECTION_LIMIT, (unsigned int) max_connections + LIMIT_SLACK,
							   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
							   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 0,
							   MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
							   MHD_OPTION_STRICT_FOR_CLIENT, (int) 1,
							   MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
							   MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
							   MHD_OPTION_END);
	if (daemon_ == NULL)
	{
		snprintf(err, errlen, "%s", errno ? strerror(errno) : "libmicrohttpd could not start");
		return false;
	}
	return true;
}

int
listen_epoll_fd(void)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD);

	return i ? i->epoll_fd : -1;
}

/* How long the caller may wait before listen_run() is due: -1 = for an event. */
long
listen_wait_ms(void)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(daemon_, &t) != MHD_YES)
		return -1;
	return t > 60000 ? 60000 : (long) t;
}

void
listen_run(void)
{
	MHD_run(daemon_);
}

/*
 * Group commit: while fewer requests wait than connections are open, give
 * the others up to wait_us in all to complete theirs, so that one
 * transaction stores them all (busy clients otherwise settle into waves
 * that each pay a WAL flush).  Returns the number waiting.
 */
int
listen_gather(int wait_us)
{
	int64		deadline = now_us() + wait_us;

	while (n_ready > 0 && n_ready < n_open)
	{
		struct pollfd pfd;
		struct timespec ts;
		int64		left = deadline - now_us();

		if (left <= 0)
			break;
		pfd.fd = listen_epoll_fd();
		pfd.events = POLLIN;
		ts.tv_sec = 0;
		ts.tv_nsec = (long) left * 1000;
		if (ppoll(&pfd, 1, &ts, NULL) <= 0)
			break;
		MHD_run(daemon_);
	}
	return n_ready;
}

/* The next complete request waiting for its answer, or NULL. */
ListenRequest *
listen_next(void)
{
	ListenRequestPriv *p = ready_head;

	if (p == NULL)
		return NULL;
	ready_head = p->next_ready;
	if (ready_head == NULL)
		ready_tail = NULL;
	n_ready--;
	p->next_ready = NULL;
	return &p->pub;
}

/* Answer a request from listen_next(): it is sent by the next listen_run(). */
void
listen_answer(ListenRequest *r, int status, const char *message, int retry_after_s,
			  int64 event_id, bool duplicate)
{
	ListenRequestPriv *p = r->priv;

	p->status = status;
	snprintf(p->message, sizeof(p->message), "%s", message ? message : "");
	p->retry_after_s = retry_after_s;
	p->event_id = event_id;
	p->duplicate = duplicate;
	p->state = REQ_ANSWERED;
	MHD_resume_connection(p->mhd);
}

void
listen_set_max_body(size_t n)
{
	max_body = n;
}

/*
 * Close the connections that have taken longer than timeout_ms over their
 * current request, or sat idle that long since their last answer.
 */
void
listen_sweep(int timeout_ms)
{
	int64		now = now_us();

	for (ListenConn *lc = conns; lc != NULL; lc = lc->next)
	{
		if (lc->busy || lc->cut || now - lc->since_us < (int64) timeout_ms * 1000)
			continue;
		cut_connection(lc);
		stats.cut++;
	}
}

void
listen_get_stats(ListenStats *s)
{
	*s = stats;
}
