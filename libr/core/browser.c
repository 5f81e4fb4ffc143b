/* Opening a URL in the user's web browser (=H). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core_private.h"

/* $BROWSER (run by the shell, so it may carry arguments) or xdg-open from $PATH. Returns
 * false when neither exists; then the caller prints the URL. The browser runs detached
 * (a grandchild), so nothing waits for it and no zombie is left. */
bool rap__core_open_browser(const char *url)
{
	const char *browser = getenv("BROWSER");
	char xdg[4096] = "";
	if (!browser || !*browser) {
		const char *path = getenv("PATH");
		if (!path)
			return false;
		for (const char *p = path; *p;) {
			size_t n = strcspn(p, ":");
			if (n && n + sizeof("/xdg-open") < sizeof(xdg)) {
				snprintf(xdg, sizeof(xdg), "%.*s/xdg-open", (int)n, p);
				if (access(xdg, X_OK) == 0)
					break;
			}
			xdg[0] = '\0';
			p += n;
			if (*p == ':')
				p++;
		}
		if (!xdg[0])
			return false;
	}
	/* Built before fork: the children only make async-signal-safe calls. */
	char *argv_sh[] = { "sh", "-c", "exec $BROWSER \"$1\"", "sh", (char *)url, NULL };
	char *argv_xdg[] = { xdg, (char *)url, NULL };
	char **argv = xdg[0] ? argv_xdg : argv_sh;
	const char *prog = xdg[0] ? xdg : "/bin/sh";
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		pid_t grandchild = fork();
		if (grandchild != 0)
			_exit(grandchild < 0 ? 127 : 0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		setsid();
		execve(prog, argv, environ);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
