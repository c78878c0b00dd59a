/*
 * server.h — the webhook listener's HTTP side (listener/server.c): GNU
 * libmicrohttpd in external polling mode, driven by listener.c from the
 * process's one thread.  Nothing declared here calls PostgreSQL except
 * listen_flush_log(), and none of it throws.
 */
#ifndef SHOPIFY_LISTEN_SERVER_H
#define SHOPIFY_LISTEN_SERVER_H

#include "postgres.h"

#define LISTEN_PATH "/shopify/webhooks"

/* one header of a delivery: the value and whether it is usable text */
typedef struct ListenHeader
{
	const char *value;			/* NULL when absent */
	size_t		len;
	bool		has_nul;		/* an embedded NUL byte: malformed */
} ListenHeader;

/*
 * A complete POST /shopify/webhooks request, waiting for its answer (its
 * connection is suspended meanwhile).  Every pointer stays valid until
 * listen_answer(); server.c owns the memory.
 */
typedef struct ListenRequest
{
	ListenHeader topic;
	ListenHeader shop_domain;
	ListenHeader hmac;
	ListenHeader webhook_id;
	ListenHeader triggered_at;
	ListenHeader api_version;
	const char *body;			/* NUL-terminated copy of the raw body */
	size_t		len;
	struct ListenRequestPriv *priv;
} ListenRequest;

/* what the listener answered, for pg_stat_activity */
typedef struct ListenStats
{
	int			connections;
	int64		requests;
	int64		by_status[6];	/* 1xx..5xx by first digit; [0] unused */
	int64		cut;			/* connections closed for slowness or idleness */
	int64		refused;		/* connections refused beyond the limit */
} ListenStats;

extern bool listen_start(const void *addr, unsigned int addrlen, int max_connections,
						 char *err, size_t errlen);
extern int	listen_epoll_fd(void);
extern long listen_wait_ms(void);
extern void listen_run(void);
extern int	listen_gather(int wait_us);
extern ListenRequest *listen_next(void);
extern void listen_answer(ListenRequest *r, int status, const char *message,
						  int retry_after_s, int64 event_id, bool duplicate);
extern void listen_set_max_body(size_t max_body);
extern void listen_sweep(int timeout_ms);
extern void listen_get_stats(ListenStats *s);
extern void listen_flush_log(void);

#endif
