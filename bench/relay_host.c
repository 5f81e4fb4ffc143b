/* rapbench's in-process relay (relay_host.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rap/loop.h>
#include <rap/relay.h>
#include <rap/server.h>

#include "relay_host.h"

#define TURN_MS 100 /* the thread looks at the stop flag at least this often */

struct relay_host {
	struct rap_loop *loop;     /* owned */
	struct rap_server *server; /* owned */
	struct rap_relay *relay;   /* owned */
	pthread_t thread;
	atomic_bool quit;
	pthread_mutex_t mu;        /* guards totals: sessions close on the loop's thread */
	struct rap_relay_stats totals;
};

static int session_open(void *user, const char *peer, void **ctx)
{
	struct relay_host *h = user;
	(void)peer;
	struct rap_relay_session *s;
	int rc = rap_relay_session_new(h->relay, &s);
	if (rc == 0)
		*ctx = s;
	return rc;
}

static void session_close(void *user, void *ctx)
{
	struct relay_host *h = user;
	struct rap_relay_stats st;
	rap_relay_session_stats(ctx, &st);
	pthread_mutex_lock(&h->mu);
	h->totals.connects += st.connects;
	h->totals.reads += st.reads;
	h->totals.read_bytes += st.read_bytes;
	h->totals.writes += st.writes;
	h->totals.cmds += st.cmds;
	h->totals.hits += st.hits;
	h->totals.extension = h->totals.extension || st.extension;
	pthread_mutex_unlock(&h->mu);
	rap_relay_session_free(ctx);
}

static void *loop_main(void *arg)
{
	struct relay_host *h = arg;
	while (!atomic_load(&h->quit))
		if (rap_loop_run_once(h->loop, TURN_MS) < 0)
			break;
	return NULL;
}

int relay_host_start(const char *host, const char *port, struct relay_host **out, uint16_t *listen_port)
{
	*out = NULL;
	struct relay_host *h = calloc(1, sizeof *h);
	if (!h)
		return RAP_ENOMEM;
	pthread_mutex_init(&h->mu, NULL);
	char uri[320];
	snprintf(uri, sizeof uri, "rap://%s:%s/", host, port);
	struct rap_relay_config cfg = { .uri = uri };
	char why[256];
	int fd = -1;
	int rc = rap_relay_new(&cfg, &h->relay, why, sizeof why);
	if (rc == 0)
		rc = rap_loop_new(&h->loop);
	struct rap_server_callbacks cb = { session_open, session_close, NULL };
	if (rc == 0)
		rc = rap_server_new(h->loop, rap_relay_handler(), &cb, h, &h->server);
	if (rc == 0)
		rc = rap_tcp_listen("127.0.0.1", "0", 64, &fd);
	if (rc == 0) {
		int p = rap_tcp_local_port(fd);
		rc = p < 0 ? p : rap_server_add_listener(h->server, fd, NULL);
		if (rc == 0)
			*listen_port = (uint16_t)p;
		else
			close(fd);
	}
	if (rc == 0 && (rc = -pthread_create(&h->thread, NULL, loop_main, h)) == 0) {
		*out = h;
		return 0;
	}
	rap_server_free(h->server);
	rap_loop_free(h->loop);
	rap_relay_free(h->relay);
	pthread_mutex_destroy(&h->mu);
	free(h);
	return rc;
}

void relay_host_stop(struct relay_host *h, struct rap_relay_stats *totals)
{
	if (!h)
		return;
	atomic_store(&h->quit, true);
	rap_loop_wake(h->loop);
	pthread_join(h->thread, NULL);
	/* The sessions close here, on this thread, now that the loop's has ended. */
	rap_server_free(h->server);
	if (totals)
		*totals = h->totals;
	rap_loop_free(h->loop);
	rap_relay_free(h->relay);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
