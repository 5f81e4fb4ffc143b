/* librap: the GDB Remote Serial Protocol (RSP), sans-IO, for writing a gdbserver.
 *
 * Three pieces, none of which touches a socket:
 *   - a framing decoder fed arbitrary byte chunks, yielding events: a packet whose checksum
 *     was verified (escapes '}' undone, run-length '*' expanded), a bad packet (wrong or
 *     unreadable checksum, malformed escape or run, over the size limit), an ack '+', a nak
 *     '-', an interrupt (byte 0x03);
 *   - an encoder that frames a reply: escapes '$', '#', '}' and '*', optionally run-length
 *     encodes, appends the checksum;
 *   - a parser from a packet to a typed request (struct rap_gdb_req), with strict hex
 *     parsing and overflow checks, and helpers to build replies.
 * Errors follow rap.h: 0 or a count on success, a negative RAP_E* code on failure. */
#ifndef RAP_GDB_RSP_H
#define RAP_GDB_RSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rap/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default and hard limits of a decoded packet's payload (what a server advertises as
 * PacketSize in its qSupported reply). */
#define RAP_GDB_PACKET_DEFAULT 16384u
#define RAP_GDB_PACKET_LIMIT (1u << 20)
/* Fields of a vRun request (the program and its arguments) at most. */
#define RAP_GDB_RUN_ARGS_MAX 64

/* ---- framing: decoder -------------------------------------------------------------------- */

enum rap_gdb_event_kind {
	RAP_GDB_EV_PACKET = 1, /* data[0..len): a packet with a verified checksum */
	RAP_GDB_EV_BAD,        /* a packet to refuse ('-' in ack mode); bad says why */
	RAP_GDB_EV_ACK,        /* '+' */
	RAP_GDB_EV_NAK,        /* '-': the peer asks for the last packet again */
	RAP_GDB_EV_INTERRUPT,  /* 0x03 outside a packet */
};

enum rap_gdb_bad {
	RAP_GDB_BAD_NONE = 0,
	RAP_GDB_BAD_CHECKSUM, /* the two digits after '#' do not match the packet */
	RAP_GDB_BAD_FORMAT,   /* unreadable checksum digits, '}' or '*' misplaced, '$' inside */
	RAP_GDB_BAD_TOO_BIG,  /* the decoded payload exceeds the limit (checksum was right) */
};

struct rap_gdb_event {
	enum rap_gdb_event_kind kind;
	enum rap_gdb_bad bad;  /* RAP_GDB_EV_BAD only */
	const uint8_t *data;   /* RAP_GDB_EV_PACKET: borrowed from the decoder, NUL-terminated
				* (the payload may hold NULs itself), valid until the next
				* call on the decoder; NULL otherwise */
	size_t len;
	size_t skipped;        /* bytes outside any packet that were not '+', '-', 0x03 or
				* '$' and were ignored before this event */
};

struct rap_gdb_decoder;

/* A decoder accepting payloads of up to max bytes once decoded (1 .. RAP_GDB_PACKET_LIMIT).
 * *out (owned by the caller, rap_gdb_decoder_free) is NULL on failure. Errors: RAP_EINVAL,
 * RAP_ENOMEM. */
RAP_API int rap_gdb_decoder_new(size_t max, struct rap_gdb_decoder **out);
RAP_API void rap_gdb_decoder_free(struct rap_gdb_decoder *d);

/* Consumes bytes of in[0..len) up to and including the next event's last byte. Returns 1
 * with *ev filled, 0 when every byte was consumed without completing an event (call again
 * with more), or RAP_EINVAL. *consumed tells how many bytes were used either way; memory
 * never grows past the limit, whatever arrives (an oversized packet is read to its end and
 * discarded). */
RAP_API int rap_gdb_decode(struct rap_gdb_decoder *d, const uint8_t *in, size_t len, size_t *consumed,
			   struct rap_gdb_event *ev);

/* Forgets a partly received packet. */
RAP_API void rap_gdb_decoder_reset(struct rap_gdb_decoder *d);

/* ---- framing: encoder -------------------------------------------------------------------- */

/* The most bytes rap_gdb_encode can produce for a payload of len bytes ('$', two per byte,
 * '#', two digits), or 0 when that overflows size_t. */
RAP_API size_t rap_gdb_encoded_max(size_t len);

/* Frames payload[0..len) into out[0..cap): escapes '$' '#' '}' '*' as '}' + (byte ^ 0x20),
 * run-length encodes runs of 4 or more equal bytes that need no escape when rle is set,
 * and appends '#' and the checksum. Returns the frame's length. Errors: RAP_EINVAL,
 * RAP_ENOSPC (nothing useful in out then). */
RAP_API ssize_t rap_gdb_encode(const uint8_t *payload, size_t len, bool rle, uint8_t *out, size_t cap);

/* The modulo-256 sum of the bytes. */
RAP_API uint8_t rap_gdb_checksum(const uint8_t *p, size_t len);

/* ---- packets: requests ------------------------------------------------------------------- */

enum rap_gdb_req_kind {
	RAP_GDB_REQ_UNKNOWN = 0,    /* anything else: answer an empty packet */
	RAP_GDB_REQ_MALFORMED,      /* a known packet with bad fields: answer an error ("E..") */
	RAP_GDB_REQ_SUPPORTED,      /* qSupported[:features] */
	RAP_GDB_REQ_NOACK,          /* QStartNoAckMode */
	RAP_GDB_REQ_HALT_REASON,    /* ? */
	RAP_GDB_REQ_READ_REGS,      /* g */
	RAP_GDB_REQ_WRITE_REGS,     /* G XX...: data, len (bytes, decoded from hex) */
	RAP_GDB_REQ_READ_REG,       /* p n: regno */
	RAP_GDB_REQ_WRITE_REG,      /* P n=XX...: regno, data, len */
	RAP_GDB_REQ_READ_MEM,       /* m addr,length: addr, len */
	RAP_GDB_REQ_WRITE_MEM,      /* M addr,length:XX... and X addr,length:binary: addr, len, data */
	RAP_GDB_REQ_CONTINUE,       /* c [addr], C sig[;addr], vCont;c / vCont;C: signo, has_addr, addr */
	RAP_GDB_REQ_STEP,           /* s [addr], S sig[;addr], vCont;s / vCont;S: the same */
	RAP_GDB_REQ_VCONT_QUERY,    /* vCont? */
	RAP_GDB_REQ_INSERT_BP,      /* Z type,addr,kind: bptype, addr, len (the kind) */
	RAP_GDB_REQ_REMOVE_BP,      /* z type,addr,kind */
	RAP_GDB_REQ_KILL,           /* k, vKill;pid */
	RAP_GDB_REQ_DETACH,         /* D, D;pid */
	RAP_GDB_REQ_XFER_FEATURES,  /* qXfer:features:read:annex:offset,length: annex, addr, len */
	RAP_GDB_REQ_ATTACHED,       /* qAttached[:pid] */
	RAP_GDB_REQ_CURRENT_THREAD, /* qC */
	RAP_GDB_REQ_THREAD_FIRST,   /* qfThreadInfo */
	RAP_GDB_REQ_THREAD_NEXT,    /* qsThreadInfo */
	RAP_GDB_REQ_MUST_REPLY_EMPTY, /* vMustReplyEmpty */
	RAP_GDB_REQ_SET_THREAD,     /* H op thread (Hg0, Hc-1, ...): OK */
	RAP_GDB_REQ_THREAD_ALIVE,   /* T thread: OK while the process lives */
	RAP_GDB_REQ_EXTENDED,       /* !: extended mode (the server may run programs) */
	RAP_GDB_REQ_RUN,            /* vRun;file-hex[;arg-hex]...: data, len (the hex fields, each
				     * checked: even length, hex digits), nargs (fields, file
				     * included: at least 1) */
};

/* A parsed packet. Pointers borrow from the packet given to rap_gdb_req_parse, except data
 * for G, P and M, which points into buf (hex decoded in place: valid as long as the packet
 * buffer is, which rap_gdb_req_parse writes to). */
struct rap_gdb_req {
	enum rap_gdb_req_kind kind;
	const char *why;     /* RAP_GDB_REQ_MALFORMED: a static one-line reason */
	uint64_t addr;
	uint64_t len;
	unsigned regno;
	unsigned bptype;     /* Z/z: 0 software, 1 hardware, 2-4 watchpoints */
	int signo;           /* C, S, vCont;C/S: the signal to deliver; 0 none */
	bool has_addr;       /* c/s/C/S with an address to resume at */
	const uint8_t *data; /* G, P, M, X: bytes to write; len of them */
	const char *annex;   /* qXfer: NUL-terminated, borrowed from the packet */
	bool multiprocess;   /* qSupported: gdb offered multiprocess+ */
	unsigned nargs;      /* vRun: fields, at most RAP_GDB_RUN_ARGS_MAX */
};

/* Parses pkt[0..len), a packet as the decoder yields it (NUL after it; the buffer is
 * modified: hex data is decoded in place, the annex is NUL-terminated). Every number is
 * strict hex that must fit its field; lengths of memory requests are limited to maxmem
 * bytes (what fits in a reply of the advertised size); a hex payload must have exactly the
 * length given. Returns 0 with *req filled (MALFORMED and UNKNOWN included), RAP_EINVAL
 * on bad arguments. */
RAP_API int rap_gdb_req_parse(uint8_t *pkt, size_t len, uint64_t maxmem, struct rap_gdb_req *req);

/* ---- packets: reply helpers -------------------------------------------------------------- */

/* Writes len bytes as 2*len lowercase hex digits into out (2*len bytes, no NUL). */
RAP_API void rap_gdb_hex_encode(const uint8_t *in, size_t len, char *out);

/* Decodes exactly 2*len hex digits of in into out[0..len). Errors: RAP_EPROTO (a non-hex
 * digit). */
RAP_API int rap_gdb_hex_decode(const char *in, size_t len, uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif
