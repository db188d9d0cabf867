/* SPDX-License-Identifier: Apache-2.0 */
/* common/sign.c: Ed25519 (RFC 8032), HMAC-SHA256 (RFC 4231) and base64url (RFC 4648) vectors. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void tohex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

/* RFC 8032 §7.1, TEST 1: the empty message. */
#define RFC8032_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC8032_PK   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define RFC8032_SIG                                                                                \
	"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970" \
	"1"                                                                                        \
	"cf9b46bd25bf5f0595bbe24655141438e7a100b"

static void test_ed25519_rfc8032_vector1(void **state)
{
	uint8_t seed[32], pk[32], sk[64], sig[64];
	char hex[129];

	(void)state;
	unhex(RFC8032_SEED, seed, sizeof(seed));
	assert_int_equal(forge_ed25519_keypair(pk, sk, seed), 0);
	tohex(pk, sizeof(pk), hex);
	assert_string_equal(hex, RFC8032_PK);
	forge_ed25519_sign(sig, "", 0, sk);
	tohex(sig, sizeof(sig), hex);
	assert_string_equal(hex, RFC8032_SIG);
	assert_true(forge_ed25519_verify(sig, "", 0, pk));
	/* Another message, a flipped signature bit, another key: all refused. */
	assert_false(forge_ed25519_verify(sig, "x", 1, pk));
	sig[10] ^= 1;
	assert_false(forge_ed25519_verify(sig, "", 0, pk));
	sig[10] ^= 1;
	pk[0] ^= 1;
	assert_false(forge_ed25519_verify(sig, "", 0, pk));
	forge_memzero(sk, sizeof(sk));
}

static void test_ed25519_fresh_keys_differ(void **state)
{
	uint8_t pk1[32], sk1[64], pk2[32], sk2[64], sig[64];
	static const char msg[] = "manifest bytes";

	(void)state;
	assert_int_equal(forge_ed25519_keypair(pk1, sk1, NULL), 0);
	assert_int_equal(forge_ed25519_keypair(pk2, sk2, NULL), 0);
	assert_memory_not_equal(pk1, pk2, 32);
	forge_ed25519_sign(sig, msg, sizeof(msg), sk1);
	assert_true(forge_ed25519_verify(sig, msg, sizeof(msg), pk1));
	assert_false(forge_ed25519_verify(sig, msg, sizeof(msg), pk2));
}

static void test_key_id(void **state)
{
	uint8_t pk[32];
	char id[FORGE_KEY_ID_LEN + 1], full[65];

	(void)state;
	unhex(RFC8032_PK, pk, sizeof(pk));
	forge_key_id(pk, id);
	forge_sha256_hex(pk, sizeof(pk), full);
	assert_int_equal(strlen(id), 16);
	assert_memory_equal(id, full, 16);
	assert_true(forge_key_id_is_valid(id));
	assert_false(forge_key_id_is_valid("0123456789abcde"));
	assert_false(forge_key_id_is_valid("0123456789abcdef0"));
	assert_false(forge_key_id_is_valid("0123456789ABCDEF"));
	assert_false(forge_key_id_is_valid("../../etc/passwd"));
	assert_false(forge_key_id_is_valid(NULL));
}

struct hmac_case {
	const char *key_hex; /* NULL: key_str */
	const char *key_str;
	size_t key_len;
	const char *data;
	const char *mac;
};

/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block, hashed first). */
static const struct hmac_case hmac_cases[] = {
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", NULL, 20, "Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {NULL, "Jefe", 4, "what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {NULL, NULL, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
};

static void test_hmac_rfc4231(void **state)
{
	uint8_t key[131], mac[32], want[32];
	char hex[65];

	(void)state;
	for (size_t i = 0; i < sizeof(hmac_cases) / sizeof(hmac_cases[0]); i++) {
		const struct hmac_case *c = &hmac_cases[i];
		size_t dlen = strlen(c->data);

		if (c->key_hex)
			unhex(c->key_hex, key, c->key_len);
		else if (c->key_str)
			memcpy(key, c->key_str, c->key_len);
		else
			memset(key, 0xaa, c->key_len);
		forge_hmac_sha256(mac, key, c->key_len, c->data, dlen);
		tohex(mac, sizeof(mac), hex);
		assert_string_equal(hex, c->mac);
		unhex(c->mac, want, sizeof(want));
		assert_true(forge_hmac_sha256_verify(want, key, c->key_len, c->data, dlen));
		want[31] ^= 0x80;
		assert_false(forge_hmac_sha256_verify(want, key, c->key_len, c->data, dlen));
		assert_false(forge_hmac_sha256_verify(mac, key, c->key_len, c->data, dlen - 1));
	}
}

/* RFC 4648 §10, in the URL-safe alphabet without padding. */
static const char *const b64_vectors[][2] = {
    {"", ""},		{"f", "Zg"},	      {"fo", "Zm8"},	      {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_base64url_vectors(void **state)
{
	struct forge_err err = {0};
	char out[16], back[16];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
		const char *in = b64_vectors[i][0], *enc = b64_vectors[i][1];

		assert_int_equal(forge_base64url_len(strlen(in)), strlen(enc));
		assert_int_equal(forge_base64url_encode(out, sizeof(out), in, strlen(in), &err), 0);
		assert_string_equal(out, enc);
		assert_int_equal(
		    forge_base64url_decode(back, sizeof(back), &n, enc, strlen(enc), "v", &err), 0);
		assert_int_equal(n, strlen(in));
		assert_memory_equal(back, in, n);
	}
}

static void test_base64url_alphabet(void **state)
{
	static const uint8_t bytes[] = {0xfb, 0xff};
	struct forge_err err = {0};
	uint8_t back[2];
	char out[8];
	size_t n;

	(void)state;
	assert_int_equal(forge_base64url_encode(out, sizeof(out), bytes, 2, &err), 0);
	assert_string_equal(out, "-_8");
	assert_int_equal(forge_base64url_decode(back, sizeof(back), &n, "-_8", 3, "v", &err), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(back, bytes, 2);
	/* The standard alphabet's "+/" is not base64url. */
	assert_int_equal(forge_base64url_decode(back, sizeof(back), &n, "+/8", 3, "v", &err),
			 -EINVAL);
}

static void test_base64url_strict(void **state)
{
	static const char *const bad[] = {
	    "Zg==",   /* padding */
	    "Z",      /* 4k+1 characters */
	    "Zh",     /* non-zero unused bits: a second spelling of "f" */
	    "Zm9v\n", /* whitespace */
	    " Zg",    /* whitespace */
	    "Zm.v",   /* outside the alphabet */
	};
	struct forge_err err = {0};
	uint8_t out[16];
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		forge_err_clear(&err);
		assert_int_equal(forge_base64url_decode(out, sizeof(out), &n, bad[i],
							strlen(bad[i]), "token", &err),
				 -EINVAL);
		assert_int_equal(n, 0);
		assert_non_null(strstr(err.msg, "token"));
	}
}

static void test_base64url_buffers(void **state)
{
	struct forge_err err = {0};
	uint8_t out[2];
	char enc[4];
	size_t n;

	(void)state;
	/* "Zm9v" is 3 bytes: does not fit in 2. */
	assert_int_equal(forge_base64url_decode(out, sizeof(out), &n, "Zm9v", 4, "v", &err),
			 -ENOBUFS);
	/* "foo" needs 4 characters and the NUL. */
	assert_int_equal(forge_base64url_encode(enc, sizeof(enc), "foo", 3, &err), -ENOBUFS);
	assert_int_equal(forge_base64url_decode(out, sizeof(out), &n, "", 0, "v", &err), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ed25519_rfc8032_vector1),
	    cmocka_unit_test(test_ed25519_fresh_keys_differ),
	    cmocka_unit_test(test_key_id),
	    cmocka_unit_test(test_hmac_rfc4231),
	    cmocka_unit_test(test_base64url_vectors),
	    cmocka_unit_test(test_base64url_alphabet),
	    cmocka_unit_test(test_base64url_strict),
	    cmocka_unit_test(test_base64url_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
