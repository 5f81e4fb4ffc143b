/* The policy of a core, in one place: its command level, the "!" switch, confinement of
 * the local files commands use, and the served mark.
 *
 * The served mark. A core that serves a network client (a rapsrv session, a client of a
 * server started with =: =t =h, any core given to rap_core_rap_handler) is marked for
 * good: nothing a client sends can remove the mark, and such a core
 * - never starts a server and never opens a connection: the commands that would (the '='
 *   family but for its listings, help, host removal and the current file's own channel)
 *   are refused whatever the level, "all" included, and so are network files (rap://);
 * - never widens a policy: srv.cmd, srv.shell and io.special read as at most the core's
 *   own level (clamped, not copied), and setting them higher is refused;
 * - never changes the IO instance's memory: io.cache.size is the operator's (a core on a
 *   borrowed IO cannot change it either: the IO is the user's);
 * - opens local files only under its IO's confinement, and never FIFOs, devices or
 *   sockets (which could block a server).
 * Cores made from a served core are served; a server started from any core is at most as
 * permissive as that core. */
#include <string.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

static const char *const level_names[] = { "none", "read", "write", "all" };

int rap__core_policy_parse(const char *name, enum rap_core_policy *out)
{
	for (int i = 0; i < 4; i++) {
		if (name && !strcmp(name, level_names[i])) {
			*out = (enum rap_core_policy)i;
			return 0;
		}
	}
	return RAP_EINVAL;
}

const char *rap__core_policy_name(enum rap_core_policy p)
{
	return p >= RAP_CORE_POLICY_NONE && p <= RAP_CORE_POLICY_ALL ? level_names[p] : "none";
}

void rap_core_set_policy(struct rap_core *c, enum rap_core_policy level)
{
	/* An out-of-range value must not widen the policy. */
	if (level < RAP_CORE_POLICY_NONE || level > RAP_CORE_POLICY_ALL)
		level = RAP_CORE_POLICY_NONE;
	c->policy = level;
}

void rap_core_set_allow_shell(struct rap_core *c, bool allow)
{
	c->allow_shell = allow;
}

void rap_core_set_allow_devices(struct rap_core *c, bool allow)
{
	c->allow_devices = allow;
}

void rap_core_set_confined(struct rap_core *c, bool confined)
{
	/* A served core stays confined. */
	c->confined = confined || c->served;
}

void rap_core_set_served(struct rap_core *c)
{
	c->served = true;
	c->confined = true;
}

bool rap_core_served(const struct rap_core *c)
{
	return c->served;
}

void rap__core_policy_inherit(struct rap_core *child, const struct rap_core *parent)
{
	child->policy = parent->policy;
	child->allow_shell = parent->allow_shell;
	child->allow_devices = parent->allow_devices;
	child->confined = parent->confined;
	child->served = parent->served;
}

/* ---- variables that widen a policy -------------------------------------------------- */

/* The highest value variable i may have in c (NULL: no ceiling). */
static const char *ceiling(const struct rap_core *c, enum rap__core_var i)
{
	if (!c->served)
		return NULL;
	switch (i) {
	case RAP__VAR_SRV_CMD: return rap__core_policy_name(c->policy);
	case RAP__VAR_SRV_SHELL: return c->allow_shell ? NULL : "false";
	case RAP__VAR_IO_SPECIAL: return "false";
	default: return NULL;
	}
}

/* Whether value (canonical spelling) is above max for variable i. */
static bool above(enum rap__core_var i, const char *value, const char *max)
{
	if (i == RAP__VAR_SRV_CMD) {
		enum rap_core_policy v, m;
		if (rap__core_policy_parse(value, &v) < 0 || rap__core_policy_parse(max, &m) < 0)
			return true;
		return v > m;
	}
	/* Booleans: only "true" is above "false". */
	return !strcmp(value, "true") && strcmp(max, "true") != 0;
}

const char *rap__core_policy_var(const struct rap_core *c, enum rap__core_var i, const char *value)
{
	const char *max = ceiling(c, i);
	return max && value && above(i, value, max) ? max : value;
}

int rap__core_policy_var_check(const struct rap_core *c, enum rap__core_var i, const char *value)
{
	if (rap__core_var_owners(i) && (c->served || c->io_borrowed))
		return RAP_EDENIED;
	const char *max = ceiling(c, i);
	return max && above(i, value, max) ? RAP_EDENIED : 0;
}

bool rap__core_var_owners(enum rap__core_var i)
{
	return i == RAP__VAR_IO_CACHE_SIZE;
}

/* ---- what a served core may open and reach ------------------------------------------ */

int rap__core_refuse_network(struct rap_core *c, const char *what)
{
	rap__core_errorf(c, "'%s' refused: commands from the network never start servers or open connections", what);
	return RAP_EDENIED;
}

int rap__core_open_policy(struct rap_core *c, const char *uri)
{
	if (!c->served && !c->io_borrowed)
		return 0;
	/* Local files and memory only: rap:// and whatever else a plugin may reach would be
	 * an outgoing connection on a client's behalf (and, on a borrowed IO, one that could
	 * lead back to a server of this process and wait on itself). */
	/* dbg:// runs or attaches to local processes: allowed here, and then only where the
	 * IO's allowed schemes (the operator's --allow-scheme) name it. */
	/* A URI no plugin takes is refused here too: a lean core's IO has no rap:// to claim
	 * one, and the refusal, not "not supported", is what the client should read. */
	const struct rap_io_plugin *p = rap_io_plugin_for(c->io, uri);
	if (!p || (strcmp(p->name, "file") != 0 && strcmp(p->name, "malloc") != 0 && strcmp(p->name, "dbg") != 0))
		return RAP_EDENIED;
	return 0;
}

unsigned rap__core_open_opts(const struct rap_core *c, bool local)
{
	/* Served: io.special reads false; devices are the caller's choice, and never a local
	 * file's (with the special option libio would take a FIFO there). */
	if (c->served)
		return !local && c->allow_devices ? RAP_IO_OPEN_SPECIAL : 0;
	const char *v = rap_core_config_get(c, "io.special");
	return v && !strcmp(v, "true") ? RAP_IO_OPEN_SPECIAL : 0;
}

const char *rap__core_open_reason(struct rap_core *c, const char *uri, int rc)
{
	/* (A network URI or one no plugin takes: a lean core has no rap:// plugin at all.) */
	if (rc == RAP_EDENIED && uri && c->served && rap__core_open_policy(c, uri) < 0)
		return "a served session opens local files, malloc:// and dbg:// only";
	if (rc == RAP_ENOTREG && !c->served)
		return "not a regular file (a FIFO, device or socket; 'e io.special=true' opens them)";
	if (rc == RAP_ENOTREG)
		return "not a regular file (a FIFO, device or socket): refused by the server (devices: rapsrv --allow-devices)";
	return rap_strerror(rc);
}
