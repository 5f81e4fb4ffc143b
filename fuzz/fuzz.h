/* What every fuzz target shares: libFuzzer's entry point, which fuzz/driver.c also calls
 * to replay inputs without libFuzzer, and CHECK, which turns a broken promise of the code
 * under test into a crash that libFuzzer records (and the replay reports). */
#ifndef RAP_FUZZ_H
#define RAP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#endif
