/* Hex digits, as the protocols and the command language read them. */
#include "common.h"

int rap__hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20; /* 'A'..'F' to 'a'..'f'; nothing else becomes a hex letter */
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}
