/*
 * nsm-helper: the only code that touches /dev/nsm. One request per process:
 *
 *   stdin   a CBOR NSM request, at most 4096 bytes (DeviceNsm writes it; see enclave/nsm/codec.ts)
 *   stdout  the CBOR response the NSM returned, byte for byte
 *   exit    0 when the ioctl succeeded (an NSM error is still a CBOR response: {"Error": "..."}),
 *           2 bad input, 3 cannot open /dev/nsm, 4 ioctl failed, 5 cannot write stdout;
 *           the reason goes to stderr.
 *
 * It parses nothing: request and response are opaque bytes, so all CBOR handling stays in
 * TypeScript where it is unit-tested. The ioctl is the Linux driver's raw interface
 * (include/uapi/linux/nsm.h, mainline since 6.8 and the Nitro Enclaves kernels), spelled out here
 * so the helper builds against any libc headers. It needs CAP_SYS_ADMIN (root inside the enclave).
 *
 * Built inside the enclave image (enclave/image/Dockerfile): gcc -O2 -static -o nsm-helper nsm-helper.c
 */
#define _DEFAULT_SOURCE /* O_CLOEXEC and ioctl() under -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NSM_MAGIC 0x0A
#define NSM_REQUEST_MAX_SIZE 0x1000
#define NSM_RESPONSE_MAX_SIZE 0x3000

struct nsm_iovec {
	uint64_t addr; /* user buffer */
	uint64_t len;  /* in: buffer size; out (response): bytes written by the NSM */
};

struct nsm_raw {
	struct nsm_iovec request;
	struct nsm_iovec response;
};

#define NSM_IOCTL_RAW _IOWR(NSM_MAGIC, 0x0, struct nsm_raw)

/* One byte more than allowed, so an oversized request is detected rather than truncated. */
static uint8_t request[NSM_REQUEST_MAX_SIZE + 1];
static uint8_t response[NSM_RESPONSE_MAX_SIZE];

int main(void)
{
	size_t request_len = 0;
	while (request_len < sizeof request) {
		ssize_t n = read(STDIN_FILENO, request + request_len, sizeof request - request_len);
		if (n == 0) break;
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) { perror("nsm-helper: read stdin"); return 2; }
		request_len += (size_t)n;
	}
	if (request_len == 0 || request_len > NSM_REQUEST_MAX_SIZE) {
		fprintf(stderr, "nsm-helper: request must be 1..%d bytes\n", NSM_REQUEST_MAX_SIZE);
		return 2;
	}

	int fd = open("/dev/nsm", O_RDWR | O_CLOEXEC);
	if (fd < 0) { perror("nsm-helper: open /dev/nsm"); return 3; }
	struct nsm_raw message = {
		.request = { .addr = (uintptr_t)request, .len = request_len },
		.response = { .addr = (uintptr_t)response, .len = sizeof response },
	};
	int rc;
	do rc = ioctl(fd, NSM_IOCTL_RAW, &message); while (rc < 0 && errno == EINTR);
	if (rc < 0) { perror("nsm-helper: ioctl NSM_IOCTL_RAW"); close(fd); return 4; }
	close(fd);
	if (message.response.len > sizeof response) { fprintf(stderr, "nsm-helper: response too long\n"); return 4; }

	for (size_t done = 0; done < message.response.len;) {
		ssize_t n = write(STDOUT_FILENO, response + done, message.response.len - done);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) { perror("nsm-helper: write stdout"); return 5; }
		done += (size_t)n;
	}
	return 0;
}
