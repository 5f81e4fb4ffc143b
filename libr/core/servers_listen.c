/* Listening for the servers of the prompt: the names "e rap.bind", "e tcp.bind" and
 * "e http.bind" take, bound to one port on every address they name. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/rap.h>

#include "servers.h"

#define BIND_RETRIES 16 /* port 0 on two addresses: the second may be taken */

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

void rap__srv_close_listeners(struct rap__srv *s)
{
	for (size_t i = 0; i < s->nlisteners; i++) {
		if (s->listen_fds[i] >= 0)
			close(s->listen_fds[i]);
		s->listen_fds[i] = -1;
	}
	s->nlisteners = 0;
}

/* IPv6 missing from the machine (no ::1, or no IPv6 at all) is not an error for a
 * loopback server: it serves IPv4 alone then. */
static bool ipv6_unavailable(int rc)
{
	return rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT || rc == RAP_ERESOLVE;
}

/* Binds the addresses bind names on port: "localhost" (and "local", "loopback", "")
 * means 127.0.0.1 and ::1 on one port, "public" (and "*", "any") every interface of both
 * families, anything else one address or host name. */
int rap__srv_listen(struct rap__srv *s, const char *bind, int port, char *err, size_t errcap)
{
	const char *hosts[RAP__SRV_LISTENERS_MAX] = { bind, NULL };
	size_t nhosts = 1;
	bool v6_optional = false;
	if (!*bind || !strcmp(bind, "localhost") || !strcmp(bind, "local") || !strcmp(bind, "loopback")) {
		hosts[0] = "127.0.0.1";
		hosts[1] = "::1";
		nhosts = 2;
		v6_optional = true;
	} else if (!strcmp(bind, "public") || !strcmp(bind, "*") || !strcmp(bind, "any")) {
		hosts[0] = "::"; /* rap_tcp_listen makes "::" serve IPv4 too */
	}
	int rc = 0;
	for (int attempt = 0; attempt < BIND_RETRIES; attempt++) {
		char portstr[16];
		snprintf(portstr, sizeof(portstr), "%d", port);
		rc = 0;
		for (size_t i = 0; i < nhosts && rc == 0; i++) {
			int fd;
			rc = rap_tcp_listen(hosts[i], portstr, 0, &fd);
			if (rc < 0 && i > 0 && v6_optional && ipv6_unavailable(rc)) {
				rc = 0;
				break;
			}
			if (rc < 0 && i == 0 && !strcmp(hosts[0], "::") && ipv6_unavailable(rc)) {
				hosts[0] = "0.0.0.0";
				rc = rap_tcp_listen(hosts[0], portstr, 0, &fd);
			}
			if (rc < 0) {
				snprintf(err, errcap, "cannot listen on %s%s%s:%s: %s", strchr(hosts[i], ':') ? "[" : "",
					 hosts[i], strchr(hosts[i], ':') ? "]" : "", portstr, rap_strerror(rc));
				break;
			}
			s->listen_fds[s->nlisteners++] = fd;
			if (i == 0) {
				int p = rap_tcp_local_port(fd);
				if (p < 0) {
					rc = p;
					snprintf(err, errcap, "cannot read the port: %s", rap_strerror(rc));
					break;
				}
				snprintf(portstr, sizeof(portstr), "%d", p);
			}
		}
		if (rc == 0)
			break;
		rap__srv_close_listeners(s);
		/* Only a system-chosen port that the second address already uses is worth
		 * another try (with another port). */
		if (!(port == 0 && rc == -EADDRINUSE))
			return rc;
	}
	if (rc < 0)
		return rc;
	s->addrs[0] = '\0';
	s->loopback = true;
	for (size_t i = 0; i < s->nlisteners; i++) {
		struct sockaddr_storage ss = { 0 };
		socklen_t sl = sizeof(ss);
		char a[80];
		if (getsockname(s->listen_fds[i], (struct sockaddr *)&ss, &sl) < 0) {
			rc = -errno;
			snprintf(err, errcap, "cannot read the address: %s", rap_strerror(rc));
			rap__srv_close_listeners(s);
			return rc;
		}
		rap_format_sockaddr(&ss, a, sizeof(a));
		s->loopback = s->loopback && addr_is_loopback(&ss);
		size_t used = strlen(s->addrs);
		snprintf(s->addrs + used, sizeof(s->addrs) - used, "%s%s", i ? ", " : "", a);
		if (i == 0) {
			s->port = rap_tcp_local_port(s->listen_fds[i]);
			snprintf(s->url, sizeof(s->url), "%s://%s%s", rap__srv_scheme(s), a,
				 s->kind == RAP__SRV_HTTP ? "/" : "");
		}
	}
	return 0;
}
