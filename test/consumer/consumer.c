/* An outside program, built only from the installed-style headers and pkg-config flags,
 * proving a consumer can link each library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>

int main(void)
{
	/* librap */
	struct rap_uri u;
	if (rap_uri_parse("rap://[::1]:9999//bin/ls", NULL, &u) < 0 || strcmp(u.path, "/bin/ls") != 0)
		return 1;
	/* librap-io */
	struct rap_io *io;
	if (rap_io_new(&io) < 0)
		return 2;
	int fd = rap_io_open(io, "malloc://16", RAP_PERM_RW);
	if (fd < 0 || rap_io_write_at(io, fd, 0, "\x12\x34", 2) != 2)
		return 3;
	rap_io_free(io);
	/* librap-core */
	struct rap_core *core;
	if (rap_core_new(&core) < 0 || rap_core_open(core, "malloc://8", RAP_PERM_RW) < 0)
		return 4;
	char *out = NULL;
	if (rap_core_cmd_str(core, "wx cafe; p8 2", &out, NULL) < 0 || strcmp(out, "cafe\n") != 0)
		return 5;
	free(out);
	rap_core_free(core);
	printf("consumer ok: rap %s\n", rap_version());
	return 0;
}
