/* rap:// URIs. The path is everything after the first '/' that follows the authority,
 * verbatim: radare2 users write "rap://h:9999//bin/ls" for "/bin/ls", so the separator
 * slash is never part of the path and nothing in the path is decoded or normalised. */
#include <stdio.h>
#include <string.h>

#include <rap/rap.h>

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_scheme_char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Length of a "scheme://" prefix of text (the scheme only), or 0 when there is none.
 * Scanning instead of searching for "://" keeps "host:1/dbg:///x" schemeless. */
static size_t scheme_len(const char *text)
{
	size_t n = 0;
	if (!is_alpha(text[0]))
		return 0;
	while (is_scheme_char(text[n]))
		n++;
	return strncmp(text + n, "://", 3) == 0 ? n : 0;
}

static int set_scheme(struct rap_uri *u, const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(u->scheme))
		return RAP_EURI;
	for (size_t i = 0; i < n; i++) {
		if (!is_scheme_char(s[i]))
			return RAP_EURI;
		u->scheme[i] = lower(s[i]);
	}
	u->scheme[n] = '\0';
	return 0;
}

static bool host_char_ok(char c, bool bracketed)
{
	if ((unsigned char)c <= 0x20 || c == 0x7f || c == '[' || c == ']' || c == '@' || c == '/')
		return false;
	/* Only a bracketed literal may hold colons: "a::1:9999" has no reliable split. */
	return bracketed || c != ':';
}

static int set_host(struct rap_uri *u, const char *s, size_t n, bool bracketed)
{
	if (n >= sizeof(u->host))
		return RAP_EURI;
	for (size_t i = 0; i < n; i++)
		if (!host_char_ok(s[i], bracketed))
			return RAP_EURI;
	memcpy(u->host, s, n);
	u->host[n] = '\0';
	return 0;
}

static int set_port(struct rap_uri *u, const char *s, size_t n)
{
	unsigned long v = 0;
	if (n == 0 || n > 5)
		return RAP_EURI;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return RAP_EURI;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return RAP_EURI;
	memcpy(u->port, s, n);
	u->port[n] = '\0';
	return 0;
}

/* Schemes whose users are used to leaving the port out. rap has no registered port. */
static const char *default_port(const char *scheme)
{
	if (strcmp(scheme, "http") == 0)
		return "80";
	if (strcmp(scheme, "https") == 0)
		return "443";
	return NULL;
}

int rap_uri_parse(const char *text, const char *default_scheme, struct rap_uri *out)
{
	if (!text || !out)
		return RAP_EINVAL;
	memset(out, 0, sizeof(*out));

	const char *p = text;
	size_t sl = scheme_len(text);
	int rc;
	if (sl) {
		rc = set_scheme(out, text, sl);
		p = text + sl + 3;
	} else if (default_scheme) {
		rc = set_scheme(out, default_scheme, strlen(default_scheme));
		if (rc < 0)
			rc = RAP_EINVAL; /* the caller's default, not the text, is at fault */
	} else {
		rc = RAP_EURI;
	}
	if (rc < 0)
		goto fail;

	const char *port = NULL;
	size_t port_n = 0;
	if (*p == '[') {
		const char *close = strchr(p + 1, ']');
		if (!close || close == p + 1) {
			rc = RAP_EURI;
			goto fail;
		}
		rc = set_host(out, p + 1, (size_t)(close - p - 1), true);
		if (rc < 0)
			goto fail;
		p = close + 1;
		if (*p != '\0' && *p != '/' && *p != ':') {
			rc = RAP_EURI;
			goto fail;
		}
	} else {
		size_t n = strcspn(p, ":/");
		rc = set_host(out, p, n, false);
		if (rc < 0)
			goto fail;
		p += n;
	}
	if (*p == ':') {
		port = p + 1;
		port_n = strcspn(port, "/");
		p = port + port_n;
	}
	if (port_n) {
		rc = set_port(out, port, port_n);
		if (rc < 0)
			goto fail;
	} else {
		const char *dp = default_port(out->scheme);
		if (!dp) {
			rc = RAP_EURI;
			goto fail;
		}
		memcpy(out->port, dp, strlen(dp) + 1);
	}

	if (*p == '/' && p[1] != '\0') {
		size_t n = strlen(p + 1);
		if (n >= sizeof(out->path)) {
			rc = RAP_EURI;
			goto fail;
		}
		memcpy(out->path, p + 1, n + 1);
		out->has_path = true;
	}
	out->listen = out->host[0] == '\0';
	out->tls = strcmp(out->scheme, "raps") == 0;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

ssize_t rap_uri_format(const struct rap_uri *u, char *out, size_t cap)
{
	if (!u || (!out && cap))
		return RAP_EINVAL;
	if (cap == 0)
		return RAP_ENOSPC;
	/* The struct is caller-writable: bound every field by its array, not by a NUL. */
	int scheme_n = (int)strnlen(u->scheme, sizeof(u->scheme));
	int host_n = (int)strnlen(u->host, sizeof(u->host));
	int port_n = (int)strnlen(u->port, sizeof(u->port));
	int path_n = u->has_path ? (int)strnlen(u->path, sizeof(u->path)) : 0;
	if (scheme_n == 0) {
		out[0] = '\0';
		return RAP_EINVAL;
	}
	bool bracket = memchr(u->host, ':', (size_t)host_n) != NULL;
	int n = snprintf(out, cap, "%.*s://%s%.*s%s%s%.*s%s%.*s", scheme_n, u->scheme,
			 bracket ? "[" : "", host_n, u->host, bracket ? "]" : "",
			 port_n ? ":" : "", port_n, u->port,
			 u->has_path ? "/" : "", path_n, u->path);
	if (n < 0) {
		out[0] = '\0';
		return RAP_EINVAL;
	}
	if ((size_t)n >= cap)
		return RAP_ENOSPC;
	return n;
}
