/* "rap": a file on a remote RAP server, rap://HOST:PORT/PATH.
 *
 * Only the connecting side lives here. radare2's plugin also listens (rap://:PORT); in
 * this suite serving is rapsrv's and the '=' commands' job, which own a session per
 * client, so the listen form is refused with RAP_ENOTSUP. */
#include <string.h>
#include <strings.h>

#include <rap/io.h>
#include <rap/tls.h>

#include "common.h"
#include "io_private.h"

struct rap_state {
	struct rap_client *client;
	/* False for a command-only session (rap://host:port/): nothing was OPENed, so there
	 * is no remote file to read, write or measure. */
	bool has_file;
};

static bool rap_accepts(const char *uri)
{
	return strncasecmp(uri, "rap://", 6) == 0 || strncasecmp(uri, "raps://", 7) == 0;
}

static int rap_open(struct rap_io_desc *d, const char *uri, int perm)
{
	/* struct rap_uri is 4 KiB of path; keep it off small thread stacks. */
	struct rap_uri *u = rap__malloc(sizeof(*u));
	if (!u)
		return RAP_ENOMEM;
	int rc = rap_uri_parse(uri, "rap", u);
	if (rc < 0)
		goto out;
	if (u->listen) {
		rc = RAP_ENOTSUP;
		goto out;
	}
	struct rap_state *s = rap__calloc(1, sizeof(*s));
	if (!s) {
		rc = RAP_ENOMEM;
		goto out;
	}
	/* The client keeps its default of refusing reverse commands: letting the server run
	 * commands here would be remote code execution on the user's machine. */
	rc = rap_client_new(&s->client);
	if (rc < 0)
		goto fail;
	if (u->tls) {
		struct rap_tls_config *cfg = rap_io_tls(rap_io_desc_io(d));
		struct rap_tls_config *own = NULL;
		if (!cfg) {
			rc = rap_tls_config_new(false, &own);
			if (rc < 0) {
				/* RAP_ENOTSUP: librap has no TLS; its text says so. */
				if (rc == RAP_ENOTSUP)
					rap_io_set_error(rap_io_desc_io(d), rap_tls_config_error(NULL));
				goto fail;
			}
			cfg = own;
		}
		rc = rap_client_connect_tls(s->client, u->host, u->port, cfg);
		/* The connection holds its own reference to the TLS context. */
		rap_tls_config_free(own);
	} else {
		rc = rap_client_connect(s->client, u->host, u->port);
	}
	if (rc < 0) {
		rap_io_set_error(rap_io_desc_io(d), rap_client_error(s->client));
		goto fail;
	}
	/* 1 unlocks our server's extension (and authenticates when it, or we, require it);
	 * 0 is a stock peer, which is fine unless we have a secret. */
	rap_client_set_secret(s->client, rap_io_secret(rap_io_desc_io(d)));
	rc = rap_client_probe(s->client);
	if (rc >= 0 && u->has_path) {
		rc = rap_client_open(s->client, u->path, (uint8_t)perm);
		s->has_file = rc >= 0;
		/* The server's refusal, with its reason (the extension says why), not a
		 * broken connection. */
		if (rc < 0 && rc != RAP_EINVAL && rap_client_alive(s->client))
			rc = RAP_EREMOTE;
	}
	if (rc < 0) {
		/* Why the connection failed (TLS alerts, a TLS port, a hang-up); an fd of -1
		 * from the server leaves the text empty. */
		rap_io_set_error(rap_io_desc_io(d), rap_client_error(s->client));
		goto fail;
	}
	rap_io_desc_set_data(d, s);
	/* Every read is a round trip: cached, with read-ahead. A remote debugged process
	 * changes on its own (it runs when a command says so), a remote file only when written
	 * or when a command ran there, which rap_io_system answers by dropping the blocks. */
	if (s->has_file)
		rap_io_desc_set_cache(d, RAP_IO_CACHE_ON |
					 (strncmp(u->path, "dbg://", 6) == 0 ? RAP_IO_CACHE_VOLATILE : 0));
	rc = 0;
	goto out;
fail:
	rap_client_free(s->client);
	rap__free(s);
out:
	rap__free(u);
	return rc;
}

static int rap_close(struct rap_io_desc *d)
{
	struct rap_state *s = rap_io_desc_data(d);
	/* Hang up without a CLOSE packet, as radare2 does: stock servers pass CLOSE's number
	 * to close(2) in their own process. Hanging up releases everything on any server. */
	rap_client_free(s->client);
	rap__free(s);
	return 0;
}

static ssize_t rap_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	struct rap_state *s = rap_io_desc_data(d);
	if (!s->has_file)
		return RAP_EBADFD;
	return rap_client_read_at(s->client, off, buf, len);
}

static ssize_t rap_write(struct rap_io_desc *d, uint64_t off, const void *buf, size_t len)
{
	struct rap_state *s = rap_io_desc_data(d);
	if (!s->has_file)
		return RAP_EBADFD;
	return rap_client_write_at(s->client, off, buf, len);
}

static int rap_size(struct rap_io_desc *d, uint64_t *size)
{
	struct rap_state *s = rap_io_desc_data(d);
	if (!s->has_file)
		return RAP_ENOTSUP;
	return rap_client_size(s->client, size);
}

static int rap_system(struct rap_io_desc *d, const char *cmd, char **out)
{
	struct rap_state *s = rap_io_desc_data(d);
	int status;
	int rc = rap_client_cmd_status(s->client, cmd, out, NULL, &status);
	/* A stock server reports no status: only what we know failed counts as failed. */
	return rc == 0 && status == RAP_CMD_STATUS_FAILED ? RAP_EREMOTE : rc;
}

/* The two variants differ only in the URIs they list: without TLS in librap, raps:// is
 * not listed, but still accepted, so that opening it says why it cannot work. */
#define RAP_PLUGIN(uri_list) { \
	.abi = RAP_IO_PLUGIN_ABI, \
	.name = "rap", \
	.desc = "Remote binary protocol plugin", \
	.uris = uri_list, \
	.author = RAP__IO_AUTHOR, \
	.license = RAP__IO_LICENSE, \
	.accepts = rap_accepts, \
	.open = rap_open, \
	.close = rap_close, \
	.read = rap_read, \
	.write = rap_write, \
	.size = rap_size, \
	.system = rap_system, \
}

static const struct rap_io_plugin with_tls = RAP_PLUGIN("rap://,raps://");
static const struct rap_io_plugin without_tls = RAP_PLUGIN("rap://");

const struct rap_io_plugin *rap__io_plugin_rap(void)
{
	return rap_tls_available() ? &with_tls : &without_tls;
}
