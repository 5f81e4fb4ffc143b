/* The gdb target description (target.xml) of an architecture, written from its register
 * table so that the two can never disagree. */
#include <pthread.h>
#include <string.h>

#include "common.h"
#include "dbg_private.h"

#define XML_MAX (64u << 10)

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

char *rap__dbg_target_xml(const struct rap__dbg_arch *arch)
{
	const struct rap_dbg_arch *a = &arch->pub;
	struct rap__buf b;
	rap__buf_init(&b, XML_MAX);
	int rc = rap__buf_printf(&b,
	                         "<?xml version=\"1.0\"?>\n"
	                         "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	                         "<target version=\"1.0\">\n"
	                         "<architecture>%s</architecture>\n"
	                         "<osabi>GNU/Linux</osabi>\n",
	                         a->gdb_arch);
	for (size_t f = 0; rc == 0 && f < arch->nfeatures; f++) {
		int last = f + 1 < arch->nfeatures ? arch->features[f + 1].first_gdb_num : 1 << 20;
		rc = rap__buf_printf(&b, "<feature name=\"%s\">\n", arch->features[f].name);
		for (int num = arch->features[f].first_gdb_num; rc == 0 && num < last; num++) {
			const struct rap_dbg_reg *r = by_gdb_num(a, num);
			if (!r)
				break;
			rc = rap__buf_printf(&b, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%d\"%s/>\n",
			                     r->gdb_name, r->bits, r->gdb_type, num, group_of(r));
		}
		if (rc == 0)
			rc = rap__buf_printf(&b, "</feature>\n");
	}
	if (rc == 0)
		rc = rap__buf_printf(&b, "</target>\n");
	if (rc < 0) {
		rap__buf_free(&b);
		return NULL;
	}
	return rap__buf_steal_str(&b);
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* The table's description lives as long as the process (one per architecture). */
static void write_host_xml(void)
{
	struct rap__dbg_arch *a = rap__dbg_arch_host_table();
	if (a)
		a->pub.target_xml = rap__dbg_target_xml(a);
}

const struct rap__dbg_arch *rap__dbg_arch_host(void)
{
	pthread_once(&xml_once, write_host_xml);
	const struct rap__dbg_arch *a = rap__dbg_arch_host_table();
	return a && a->pub.target_xml ? a : NULL;
}
