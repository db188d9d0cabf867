/* SPDX-License-Identifier: Apache-2.0 */
/* Ed25519, HMAC-SHA256 and base64url: libsodium wrappers shared by every signer. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "common/common.h"

int forge_ed25519_keypair(uint8_t pk[FORGE_ED25519_PUBLIC_BYTES],
			  uint8_t sk[FORGE_ED25519_SECRET_BYTES], const uint8_t *seed)
{
	if (forge_crypto_init() < 0)
		return -EIO;
	if (seed)
		return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : -EIO;
	return crypto_sign_keypair(pk, sk) == 0 ? 0 : -EIO;
}

void forge_ed25519_sign(uint8_t sig[FORGE_ED25519_SIG_BYTES], const void *msg, size_t len,
			const uint8_t sk[FORGE_ED25519_SECRET_BYTES])
{
	crypto_sign_detached(sig, NULL, msg, len, sk);
}

bool forge_ed25519_verify(const uint8_t sig[FORGE_ED25519_SIG_BYTES], const void *msg, size_t len,
			  const uint8_t pk[FORGE_ED25519_PUBLIC_BYTES])
{
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

void forge_key_id(const uint8_t pk[FORGE_ED25519_PUBLIC_BYTES], char out[FORGE_KEY_ID_LEN + 1])
{
	char hex[65];

	forge_sha256_hex(pk, FORGE_ED25519_PUBLIC_BYTES, hex);
	memcpy(out, hex, FORGE_KEY_ID_LEN);
	out[FORGE_KEY_ID_LEN] = '\0';
}

bool forge_key_id_is_valid(const char *s)
{
	size_t i;

	if (!s || strlen(s) != FORGE_KEY_ID_LEN)
		return false;
	for (i = 0; i < FORGE_KEY_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void forge_hmac_sha256(uint8_t mac[FORGE_HMAC_SHA256_BYTES], const void *key, size_t keylen,
		       const void *msg, size_t len)
{
	crypto_auth_hmacsha256_state st;

	/* The multi-part API takes keys of any length; crypto_auth_hmacsha256()
	 * itself insists on 32 bytes. */
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

bool forge_hmac_sha256_verify(const uint8_t mac[FORGE_HMAC_SHA256_BYTES], const void *key,
			      size_t keylen, const void *msg, size_t len)
{
	uint8_t expect[FORGE_HMAC_SHA256_BYTES];
	bool ok;

	forge_hmac_sha256(expect, key, keylen, msg, len);
	ok = forge_consttime_eq(expect, mac, sizeof(expect));
	sodium_memzero(expect, sizeof(expect));
	return ok;
}

size_t forge_base64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

int forge_base64url_encode(char *out, size_t outsz, const void *data, size_t len,
			   struct forge_err *err)
{
	size_t need = forge_base64url_len(len) + 1;

	if (!out || outsz < need)
		return forge_err_set(err, -ENOBUFS, "base64url: %zu bytes need %zu characters", len,
				     need);
	if (!data && len)
		return forge_err_set(err, -EINVAL, "base64url: no data");
	sodium_bin2base64(out, outsz, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

int forge_base64url_decode(void *out, size_t outsz, size_t *outlen, const char *in, size_t inlen,
			   const char *what, struct forge_err *err)
{
	unsigned char dummy;
	size_t n = 0;

	if (outlen)
		*outlen = 0;
	if (!what)
		what = "base64url";
	if (!in && inlen)
		return forge_err_set(err, -EINVAL, "%s: no input", what);
	/* One byte encodes to two characters, never to one: a length of 4k+1 is
	 * malformed however the characters look. */
	if (inlen % 4 == 1)
		return forge_err_set(err, -EINVAL, "%s: %zu characters is not a base64url length",
				     what, inlen);
	if (forge_crypto_init() < 0)
		return forge_err_set(err, -EIO, "%s: libsodium initialisation failed", what);
	if (inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0) > outsz)
		return forge_err_set(err, -ENOBUFS, "%s: decodes to more than %zu bytes", what,
				     outsz);
	/* No b64_end and no ignore set: any character outside the alphabet, and
	 * non-zero leftover bits, make libsodium fail instead of stopping early. */
	if (sodium_base642bin(out ? out : &dummy, out ? outsz : 0, in ? in : "", inlen, NULL, &n,
			      NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return forge_err_set(err, -EINVAL, "%s: not valid unpadded base64url", what);
	if (outlen)
		*outlen = n;
	return 0;
}

void forge_memzero(void *p, size_t len)
{
	if (p)
		sodium_memzero(p, len);
}
