/* Hooks for the sandbox tests, compiled into rapsrv-test-hooks only (meson
 * -Dtest_hooks=true); rapsrv itself never contains them. They let a test take away
 * rapsrv's own defences, so that it can show the kernel's (Landlock, seccomp) still hold.
 * Both are off unless $RAPSRV_TEST_HOOKS names them (comma-separated):
 *   bypass-confinement  sessions get no --root confinement, no read-only rule, no
 *                       --allow-scheme list and no confined '>'/wtf/wff from libio and
 *                       libcore: any path and any scheme (rap://: connections) is tried
 *   syscall             the command "#syscall NAME" makes the system call NAME (ptrace,
 *                       mount or execve, each harmless when it is allowed), or starts a
 *                       "thread" or a "fork"ed child, and answers with the result */
#ifndef RAPSRV_TEST_HOOKS_H
#define RAPSRV_TEST_HOOKS_H

#include <stdbool.h>

/* Whether sessions skip libio's and libcore's confinement. Logs a warning the first time. */
bool test_hook_bypass_confinement(void);

/* Handles cmd when it is a hook command: sets *out (heap, freed by the caller with free())
 * and returns true. Returns false for any other command, leaving *out alone. */
bool test_hook_cmd(const char *cmd, char **out);

#endif
