/* Declarations shared by the files of librap only. */
#ifndef RAP_PRIVATE_H
#define RAP_PRIVATE_H

/* Extension probe (doc/protocol.md, "Extension probe"). The client's SEEK offset carries
 * "RAPX" in its high 32 bits, then the protocol version and the capabilities it wants; our
 * server's answer carries "rapx", the version it speaks and the capabilities it grants. */
#define PROBE_MAGIC 0x52415058u  /* "RAPX" */
#define PROBE_ANSWER 0x72617078u /* "rapx" */
#define PROBE_VERSION 1u
#define CAP_LARGE 0x0001u        /* READ/WRITE up to EXT_CHUNK_MAX, CMD replies uncut */
#define EXT_CHUNK_MAX (1u << 20)

#endif
