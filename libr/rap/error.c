#include <errno.h>
#include <string.h>

#include <rap/rap.h>

#include "rap_private.h"

static const char *rap_code_text(int err)
{
	switch (err) {
	case RAP_OK: return "success";
	case RAP_EINVAL: return "invalid argument";
	case RAP_ENOMEM: return "out of memory";
	case RAP_EAGAIN: return "not ready yet";
	case RAP_EPROTO: return "malformed or unexpected message from the peer";
	case RAP_ETOOBIG: return "length exceeds the configured limit";
	case RAP_ECLOSED: return "connection closed by the peer";
	case RAP_ENOSPC: return "buffer too small";
	case RAP_ENOTSUP: return "not supported";
	case RAP_EURI: return "invalid URI";
	case RAP_ERESOLVE: return "cannot resolve host name";
	case RAP_EREMOTE: return "the peer reported a failure";
	case RAP_EDENIED: return "refused by policy";
	case RAP_ETIMEDOUT: return "timed out";
	case RAP_ETLS: return "TLS handshake or verification failed";
	case RAP_EBADFD: return "no such descriptor or no file open";
	case RAP_ENOTREG: return "not a regular file (a FIFO, device or socket)";
	case RAP_EAUTH: return "authentication required or failed";
	default: return NULL;
	}
}

bool rap__is_rap_error(int err)
{
	return err < 0 && rap_code_text(err) != NULL;
}

const char *rap_strerror(int err)
{
	const char *s = rap_code_text(err);
	if (s)
		return s;
	if (err < 0 && err > -4096) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
		/* strerror() may format unknown values into a shared buffer; the descriptions
		 * table is static and therefore safe to hand out from any thread. */
		s = strerrordesc_np(-err);
#else
		/* Other C libraries' static texts; an unknown value reads as errno 0 does there
		 * (musl: "No error information"), which is no description. */
		s = strerror(-err);
		if (s && strcmp(s, strerror(0)) == 0)
			s = NULL;
#endif
		if (s)
			return s;
	}
	return "unknown error";
}

/* errno values travel in Linux's generic numbering (asm-generic/errno-base.h, errno.h):
 * the numbers past 34 differ on some architectures (MIPS, SPARC, Alpha), and other systems
 * number them their own way. Values not listed here travel as RAP_EREMOTE. */
static const struct {
	uint16_t local; /* Linux's errno values are below 4096 (MAX_ERRNO), MIPS's included */
	uint8_t wire;
} errno_wire[] = {
	{ EPERM, 1 }, { ENOENT, 2 }, { ESRCH, 3 }, { EINTR, 4 }, { EIO, 5 }, { ENXIO, 6 },
	{ E2BIG, 7 }, { ENOEXEC, 8 }, { EBADF, 9 }, { ECHILD, 10 }, { EAGAIN, 11 }, { ENOMEM, 12 },
	{ EACCES, 13 }, { EFAULT, 14 }, { EBUSY, 16 }, { EEXIST, 17 }, { EXDEV, 18 }, { ENODEV, 19 },
	{ ENOTDIR, 20 }, { EISDIR, 21 }, { EINVAL, 22 }, { ENFILE, 23 }, { EMFILE, 24 }, { ENOTTY, 25 },
	{ ETXTBSY, 26 }, { EFBIG, 27 }, { ENOSPC, 28 }, { ESPIPE, 29 }, { EROFS, 30 }, { EMLINK, 31 },
	{ EPIPE, 32 }, { EDOM, 33 }, { ERANGE, 34 }, { EDEADLK, 35 }, { ENAMETOOLONG, 36 },
	{ ENOSYS, 38 }, { ENOTEMPTY, 39 }, { ELOOP, 40 }, { EOVERFLOW, 75 }, { EOPNOTSUPP, 95 },
	{ ECONNRESET, 104 }, { ETIMEDOUT, 110 }, { ECONNREFUSED, 111 }, { EDQUOT, 122 },
};

int32_t rap__status_to_wire(int err)
{
	if (err >= 0 || rap__is_rap_error(err))
		return err;
	/* Compared as err == -n, never -err: INT_MIN has no negation. */
	for (size_t i = 0; i < sizeof(errno_wire) / sizeof(errno_wire[0]); i++)
		if (err == -errno_wire[i].local)
			return -errno_wire[i].wire;
	return RAP_EREMOTE;
}

int rap__status_from_wire(int32_t status)
{
	if (status >= 0 || rap__is_rap_error(status))
		return status;
	for (size_t i = 0; i < sizeof(errno_wire) / sizeof(errno_wire[0]); i++)
		if (status == -errno_wire[i].wire)
			return -errno_wire[i].local;
	/* A newer peer's code: the message that comes with it says what it is. */
	return RAP_EREMOTE;
}

const char *rap_version(void)
{
	return RAP_VERSION_STRING;
}
