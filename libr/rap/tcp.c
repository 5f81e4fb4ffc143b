/* Blocking TCP helpers: connect with an optional deadline, listen, and a send loop that
 * never raises SIGPIPE. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rap/rap.h>

/* Accepts "[::1]" as well as "::1": callers holding bracketed text need not strip it. */
static const char *strip_brackets(const char *host, char *tmp, size_t cap)
{
	size_t n = host ? strlen(host) : 0;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < cap) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		return tmp;
	}
	return host;
}

static int resolve_error(int rc, int saved_errno)
{
	if (rc == EAI_SYSTEM)
		return saved_errno ? -saved_errno : RAP_ERESOLVE;
	if (rc == EAI_MEMORY)
		return RAP_ENOMEM;
	return RAP_ERESOLVE;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for a connect in progress. deadline < 0 waits forever. */
static int finish_connect(int fd, int64_t deadline)
{
	for (;;) {
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return RAP_ETIMEDOUT;
			wait = left > 0x7fffffff ? 0x7fffffff : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int n = poll(&pfd, 1, wait);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			continue; /* the deadline check above turns this into RAP_ETIMEDOUT */
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		return err ? -err : 0;
	}
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fd_out)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	int one = 1;
	/* RAP is request/response with small headers: Nagle plus delayed ACK costs stock
	 * radare2 ~40 ms per reply, which is exactly what this avoids. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	int flags = 0;
	if (deadline >= 0) {
		flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
	}
	int rc = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		/* EINTR on a blocking connect leaves it running in the background; it has to
		 * be awaited like a non-blocking one, not restarted. */
		if (errno == EINPROGRESS || errno == EINTR)
			rc = finish_connect(fd, deadline);
		else
			rc = -errno;
	}
	if (rc == 0 && deadline >= 0 && fcntl(fd, F_SETFL, flags) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

int rap_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd_out)
{
	if (!port || !*port || !fd_out)
		return RAP_EINVAL;
	*fd_out = -1;
	char tmp[256];
	host = strip_brackets(host, tmp, sizeof(tmp));
	if (host && !*host)
		host = NULL; /* getaddrinfo then yields the loopback addresses */

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	errno = 0;
	int grc = getaddrinfo(host, port, &hints, &res);
	if (grc != 0)
		return resolve_error(grc, errno);

	/* One deadline for the whole attempt: a host with several dead addresses must not
	 * multiply the caller's timeout. */
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
	int rc = RAP_ERESOLVE;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		rc = connect_one(ai, deadline, fd_out);
		if (rc == 0 || rc == RAP_ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

int rap_tcp_listen(const char *host, const char *port, int backlog, int *fd_out)
{
	if (!port || !*port || !fd_out)
		return RAP_EINVAL;
	*fd_out = -1;
	char tmp[256];
	host = strip_brackets(host, tmp, sizeof(tmp));
	if (!host || !*host)
		host = "127.0.0.1";
	if (backlog <= 0)
		backlog = SOMAXCONN;

	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE,
	};
	struct addrinfo *res = NULL;
	errno = 0;
	int grc = getaddrinfo(host, port, &hints, &res);
	if (grc != 0)
		return resolve_error(grc, errno);

	int rc = RAP_ERESOLVE;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		int one = 1, zero = 0;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6) {
			/* "::" should serve IPv4 too whatever the system default is, so that
			 * one listener covers both families as the design asks. */
			const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)ai->ai_addr;
			if (IN6_IS_ADDR_UNSPECIFIED(&sa->sin6_addr))
				(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
			*fd_out = fd;
			rc = 0;
			break;
		}
		rc = -errno;
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

int rap_tcp_local_port(int fd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

static int wait_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	for (;;) {
		int n = poll(&pfd, 1, -1);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int rap_send_all(int fd, const void *buf, size_t len)
{
	if (!buf && len)
		return RAP_EINVAL;
	const uint8_t *p = buf;
	bool is_socket = true;
	while (len) {
		ssize_t n = is_socket ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
		if (n < 0) {
			switch (errno) {
			case EINTR:
				continue;
			case EAGAIN:
#if EWOULDBLOCK != EAGAIN
			case EWOULDBLOCK:
#endif
			{
				/* A non-blocking socket still gets the whole buffer, as promised. */
				int rc = wait_writable(fd);
				if (rc < 0)
					return rc;
				continue;
			}
			case ENOTSOCK:
				/* A pipe (stdio transports) cannot take MSG_NOSIGNAL; the programs
				 * ignore SIGPIPE, so EPIPE still arrives as an error here. */
				if (is_socket) {
					is_socket = false;
					continue;
				}
				return -ENOTSOCK;
			case EPIPE:
			case ECONNRESET:
				return RAP_ECLOSED;
			default:
				return -errno;
			}
		}
		if (n == 0)
			return RAP_ECLOSED;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int rap_format_sockaddr(const void *sa, char *out, size_t cap)
{
	const struct sockaddr *s = sa;
	char a[INET6_ADDRSTRLEN] = "?";
	if (s->sa_family == AF_INET) {
		const struct sockaddr_in *in = sa;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		return snprintf(out, cap, "%s:%u", a, ntohs(in->sin_port));
	}
	if (s->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		return snprintf(out, cap, "[%s]:%u", a, ntohs(in6->sin6_port));
	}
	return snprintf(out, cap, "local");
}
