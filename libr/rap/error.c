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
		s = strerror(-err);
#endif
		if (s)
			return s;
	}
	return "unknown error";
}

const char *rap_version(void)
{
	return RAP_VERSION_STRING;
}
