/* Test-only hooks of rapsrv-test-hooks; see test_hooks.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_hooks.h"

#define SYSCALL_CMD "#syscall "

static bool enabled(const char *name)
{
	const char *list = getenv("RAPSRV_TEST_HOOKS");
	size_t len = strlen(name);
	while (list && *list) {
		size_t n = strcspn(list, ",");
		if (n == len && memcmp(list, name, len) == 0)
			return true;
		list += n;
		if (*list == ',')
			list++;
	}
	return false;
}

bool test_hook_bypass_confinement(void)
{
	static bool warned;
	bool on = enabled("bypass-confinement");
	if (on && !warned) {
		warned = true;
		fprintf(stderr, "rapsrv-test-hooks: sessions bypass libio's confinement\n");
	}
	return on;
}

static void *thread_main(void *arg)
{
	/* What a worker does: memory, and the thread's own exit. */
	unsigned char *p = malloc(64 * 1024);
	if (p)
		memset(p, 0xa5, 64 * 1024);
	free(p);
	return arg;
}

/* A thread as a worker pool starts one: pthread_create and join; 0 or -1 with errno. */
static long start_thread(void)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, thread_main, NULL);
	if (rc == 0)
		rc = pthread_join(t, NULL);
	errno = rc;
	return rc ? -1 : 0;
}

/* A child process that exits at once, waited for; 0 or -1 with errno. */
static long start_process(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return -1;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Each call is harmless when it is allowed: it fails for a reason of its own, or does
 * nothing that outlasts it. */
static long make_call(const char *name, bool *known)
{
	*known = true;
	if (strcmp(name, "ptrace") == 0) /* no process 0 to peek at: ESRCH */
		return syscall(SYS_ptrace, PTRACE_PEEKDATA, 0, NULL, NULL);
	if (strcmp(name, "process_vm_readv") == 0) { /* nothing to read from process 0: ESRCH */
		char b;
		struct iovec local = { &b, 1 }, remote = { NULL, 1 };
		return syscall(SYS_process_vm_readv, 0, &local, 1UL, &remote, 1UL, 0UL);
	}
	if (strcmp(name, "mount") == 0) /* no such mount point: ENOENT */
		return syscall(SYS_mount, "none", "/nonexistent-rapsrv-test", "tmpfs", 0UL, NULL);
	if (strcmp(name, "execve") == 0) { /* no such program: ENOENT */
		char *argv[] = { "rapsrv-test", NULL };
		return syscall(SYS_execve, "/nonexistent-rapsrv-test", argv, argv + 1);
	}
	if (strcmp(name, "thread") == 0)
		return start_thread();
	if (strcmp(name, "fork") == 0)
		return start_process();
	*known = false;
	return -1;
}

bool test_hook_cmd(const char *cmd, char **out)
{
	if (strncmp(cmd, SYSCALL_CMD, strlen(SYSCALL_CMD)) != 0 || !enabled("syscall"))
		return false;
	const char *name = cmd + strlen(SYSCALL_CMD);
	bool known;
	errno = 0;
	long r = make_call(name, &known);
	int err = errno;
	char text[160];
	if (!known)
		snprintf(text, sizeof(text), "#syscall: unknown call '%s'\n", name);
	else
		snprintf(text, sizeof(text), "%s returned %ld (%s)\n", name, r,
			 r < 0 ? strerror(err) : "success");
	*out = strdup(text);
	return true;
}
