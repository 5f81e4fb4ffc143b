/* The list of architectures the disassembler knows (asm.arch), each described by its own
 * table in arch_<name>.c. */
#include <string.h>

#include "arch.h"

static const struct rap__arch *const arches[] = {
	&rap__arch_x86,
	&rap__arch_arm,
	&rap__arch_mips,
};

const struct rap__arch *rap__arch_at(size_t i)
{
	return i < sizeof(arches) / sizeof(arches[0]) ? arches[i] : NULL;
}

const struct rap__arch *rap__arch_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(arches) / sizeof(arches[0]); i++)
		if (!strcmp(arches[i]->name, name))
			return arches[i];
	return NULL;
}

const struct rap__arch_rules *rap__arch_rules(const struct rap__arch *a)
{
	if (a == &rap__arch_x86)
		return &rap__arch_x86_rules;
	if (a == &rap__arch_arm)
		return &rap__arch_arm_rules;
	return a == &rap__arch_mips ? &rap__arch_mips_rules : NULL;
}

const struct rap__arch_mode *rap__arch_mode(const struct rap__arch *a, unsigned bits)
{
	for (size_t i = 0; a && i < a->nmodes; i++)
		if (a->modes[i].bits == bits)
			return &a->modes[i];
	return NULL;
}
