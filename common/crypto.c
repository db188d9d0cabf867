/* SPDX-License-Identifier: Apache-2.0 */
/* Thin libsodium wrappers: hashes, random ids, constant-time compares. */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include <sodium.h>

#include "common/common.h"

#define CRYPTO_READ_CHUNK 16384

int forge_crypto_init(void)
{
	/* 0: initialised now, 1: already initialised; both are fine. */
	return sodium_init() < 0 ? -EIO : 0;
}

static void crypto_digest_hex(const unsigned char digest[crypto_hash_sha256_BYTES], char hex[65])
{
	sodium_bin2hex(hex, 65, digest, crypto_hash_sha256_BYTES);
}

void forge_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, data, len);
	crypto_digest_hex(digest, hex);
}

int forge_sha256_fd_hex(int fd, char hex[65], struct forge_err *err)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	unsigned char buf[CRYPTO_READ_CHUNK];
	ssize_t n;

	crypto_hash_sha256_init(&st);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return forge_err_errno(err, errno, "sha256: read fd %d", fd);
		if (n == 0)
			break;
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	}
	crypto_hash_sha256_final(&st, digest);
	crypto_digest_hex(digest, hex);
	return 0;
}

void forge_random_hex(char *out, size_t nchars)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char bytes[32];
	size_t i = 0, j;

	if (!out)
		return;
	/* randombytes works without sodium_init, but init picks the best source. */
	forge_crypto_init();
	while (i < nchars) {
		randombytes_buf(bytes, sizeof(bytes));
		/* Two hex digits per byte; an odd nchars uses half of the last byte. */
		for (j = 0; j < sizeof(bytes) * 2 && i < nchars; j++, i++)
			out[i] = digits[(bytes[j / 2] >> (j % 2 ? 0 : 4)) & 0xf];
	}
	out[nchars] = '\0';
	sodium_memzero(bytes, sizeof(bytes));
}

bool forge_consttime_eq(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}
