/* The debugger commands of libcore (never installed): debug_cmd.c runs them (registers,
 * stepping, continuing, breakpoints, signals), debug_info.c shows the process (dp, dm, dbt),
 * debug_help.c has their help pages. They act on the current file when it is a dbg:// file
 * (rap_io_dbg). */
#ifndef RAP_CORE_DEBUG_H
#define RAP_CORE_DEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rap/dbg.h>

struct rap_core;

/* Runs the debugger command text ("dr rip", "db-*", "ds?"...). Errors as every command:
 * printed on the core's error stream, returned as RAP_E* (RAP_EBADFD: no dbg:// file). */
int rap__core_cmd_debug(struct rap_core *c, const char *name, char *text);

/* Whether text is a debugger help request ("d?", "ds?", "db?"...): those need only the
 * read level. */
bool rap__core_debug_is_help(const char *text);

/* The value of the register called name (len bytes, not NUL-terminated) of the current
 * file's process, for addresses in expressions ("px 32 @ rsp", "s rip"). Errors:
 * RAP_EINVAL (not a dbg:// file, no such register), the backend's. */
int rap__core_debug_reg(struct rap_core *c, const char *name, size_t len, uint64_t *out);

/* The current file's process, or NULL (after printing why, naming cmd) when the current
 * file is not a dbg:// file or its process has ended (ended_ok: then it is returned). */
struct rap_dbg *rap__core_debug_need(struct rap_core *c, const char *cmd, bool ended_ok);

/* debug_info.c */
int rap__core_debug_dp(struct rap_core *c, struct rap_dbg *d);
int rap__core_debug_dm(struct rap_core *c, struct rap_dbg *d);
int rap__core_debug_dbt(struct rap_core *c, struct rap_dbg *d);
/* The map of addr in radare2's module spelling ("/data/files/hello" -> "_data_files_hello"),
 * "" when no file maps it. Writes at most cap bytes, NUL-terminated. */
void rap__core_debug_module(struct rap_dbg *d, uint64_t addr, char *buf, size_t cap);

/* debug_help.c: the help page of family ("d", "dr", "ds", "dc", "db"...). */
void rap__core_debug_help(struct rap_core *c, const char *family);

#endif
