/* The gdb target description (target.xml) of an architecture, written from its register
 * table so that the two can never disagree. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "dbg_private.h"

#define XML_MAX (16u << 10) /* x86-64's is about 4.3 KiB */

static const struct rap_dbg_reg *by_gdb_num(const struct rap_dbg_arch *a, int num)
{
	for (size_t i = 0; i < a->nregs; i++)
		if (a->regs[i].gdb_num == num)
			return &a->regs[i];
	return NULL;
}

static const char *group_of(const struct rap_dbg_reg *r)
{
	if (strcmp(r->gdb_type, "i387_ext") == 0)
		return " group=\"float\"";
	if (strcmp(r->gdb_type, "uint128") == 0)
		return " group=\"vector\"";
	return "";
}

/* Appends to buf (cap bytes) at *len; RAP_ENOSPC when it does not fit. */
static int put(char *buf, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return RAP_ENOSPC;
	*len += (size_t)n;
	return 0;
}

int rap__dbg_target_xml_into(const struct rap__dbg_arch *arch, char *buf, size_t cap)
{
	const struct rap_dbg_arch *a = &arch->pub;
	size_t len = 0;
	if (!cap)
		return RAP_ENOSPC;
	buf[0] = '\0';
	int rc = put(buf, cap, &len,
	                         "<?xml version=\"1.0\"?>\n"
	                         "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	                         "<target version=\"1.0\">\n"
	                         "<architecture>%s</architecture>\n"
	                         "<osabi>GNU/Linux</osabi>\n",
	                         a->gdb_arch);
	for (size_t f = 0; rc == 0 && f < arch->nfeatures; f++) {
		int last = f + 1 < arch->nfeatures ? arch->features[f + 1].first_gdb_num : 1 << 20;
		rc = put(buf, cap, &len, "<feature name=\"%s\">\n", arch->features[f].name);
		for (int num = arch->features[f].first_gdb_num; rc == 0 && num < last; num++) {
			const struct rap_dbg_reg *r = by_gdb_num(a, num);
			if (!r)
				break;
			rc = put(buf, cap, &len, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%d\"%s/>\n",
			                     r->gdb_name, r->bits, r->gdb_type, num, group_of(r));
		}
		if (rc == 0)
			rc = put(buf, cap, &len, "</feature>\n");
	}
	if (rc == 0)
		rc = put(buf, cap, &len, "</target>\n");
	return rc;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
/* The host's description, written once: static, so that no allocation can fail (a failed
 * one would leave the host without a debugger for the life of the process). */
static char host_xml[XML_MAX];

static void write_host_xml(void)
{
	struct rap__dbg_arch *a = rap__dbg_arch_host_table();
	if (a && rap__dbg_target_xml_into(a, host_xml, sizeof(host_xml)) == 0)
		a->pub.target_xml = host_xml;
}

const struct rap__dbg_arch *rap__dbg_arch_host(void)
{
	pthread_once(&xml_once, write_host_xml);
	const struct rap__dbg_arch *a = rap__dbg_arch_host_table();
	return a && a->pub.target_xml ? a : NULL;
}
