/* An in-process relay for rapbench's relay phases: a rap_server whose sessions are
 * rap_relay sessions (rap/relay.h) towards an upstream address, on its own loop thread,
 * listening on 127.0.0.1 on a port the system picks. The upstream is typically the
 * emulated link in front of the benchmarked server, so the relay stands where a user's
 * relay would: next to the client, across the link from the server. */
#ifndef RAPBENCH_RELAY_HOST_H
#define RAPBENCH_RELAY_HOST_H

#include <stdint.h>

#include <rap/relay.h>

struct relay_host;

/* Starts a relay to rap://host:port/ and writes its listening port to *port. *out is the
 * caller's until relay_host_stop. Returns 0 or a negative error (RAP_E*, -errno). */
int relay_host_start(const char *host, const char *port, struct relay_host **out, uint16_t *listen_port);

/* Stops the thread, closes every session and frees h; totals (may be NULL) receives what
 * all its sessions asked of the upstream, added up (cache hits included). NULL h is
 * ignored. */
void relay_host_stop(struct relay_host *h, struct rap_relay_stats *totals);

#endif
