/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common — what every Forge binary shares: the error type, JSON-lines logging,
 * canonical JSON, atomic file writes, path-confined file access, libsodium
 * wrappers and the FORGE_ROOT path layout (DESIGN §4, §7).
 *
 * Conventions: functions return 0 (or a non-negative fd/count) on success and a
 * negative errno on failure, filling *err (which may be NULL) with a message
 * that names the thing that failed. Nothing here prints (except the logger) or
 * exits.
 */
#ifndef FORGE_COMMON_H
#define FORGE_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#ifndef FORGE_VERSION
#define FORGE_VERSION "unknown"
#endif

#define FORGE_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ------------------------------------------------------------------ errors */

#define FORGE_ERR_MSG_MAX 512

struct forge_err {
	int code;		     /* negative errno, 0 when clear */
	char msg[FORGE_ERR_MSG_MAX]; /* "netns: veth v-learner-0: File exists" */
};

void forge_err_clear(struct forge_err *err);
/* Sets err (if non-NULL) to code and the formatted message; returns code.
 * code must be negative (a -errno). */
int forge_err_set(struct forge_err *err, int code, const char *fmt, ...) FORGE_PRINTF(3, 4);
/* Like forge_err_set with code = -errnum, appending ": <strerror(errnum)>". */
int forge_err_errno(struct forge_err *err, int errnum, const char *fmt, ...) FORGE_PRINTF(3, 4);
/* Prepends "prefix: " to an existing message (for adding context on the way up). */
void forge_err_prefix(struct forge_err *err, const char *fmt, ...) FORGE_PRINTF(2, 3);

/* ------------------------------------------------------------------ logging */

enum forge_log_level {
	FORGE_LOG_DEBUG = 0,
	FORGE_LOG_INFO,
	FORGE_LOG_WARN,
	FORGE_LOG_ERROR,
};

/* Sets the service name ("forged", "forgectl", …), the minimum level and the
 * output fd (normally 2). Until called, logs go to fd 2 at INFO as "forge". */
void forge_log_init(const char *service, enum forge_log_level min_level, int fd);
/* Parses "debug", "info", "warn", "error"; returns -EINVAL otherwise. */
int forge_log_level_parse(const char *s, enum forge_log_level *out);
/* The correlation id attached to every following line (NULL clears it). */
void forge_log_set_correlation_id(const char *cid);
const char *forge_log_correlation_id(void);
/* One JSON object per line: {"ts","level","service","msg","correlation_id",...fields}.
 * The variadic part is pairs of (const char *key, const char *value) ending with
 * NULL. Values of keys that look secret (token, secret, password,
 * authorization, key material) are replaced by "[redacted]". One write(2) per line. */
void forge_log(enum forge_log_level level, const char *msg, ...) __attribute__((sentinel));
/* Same, with the fields given as a JSON object (borrowed, not stolen; may be NULL). */
void forge_log_json(enum forge_log_level level, const char *msg, const json_t *fields);

/* ------------------------------------------------------------------ JSON */

/* Canonical form: object keys sorted bytewise, no insignificant whitespace,
 * UTF-8 kept as is. Returns a malloc'd NUL-terminated string, NULL with err set. */
char *forge_json_canonical(const json_t *value, struct forge_err *err);
/* sha256 (lowercase hex) of the canonical form. */
int forge_json_canonical_sha256(const json_t *value, char hex[65], struct forge_err *err);

/* ------------------------------------------------------------------ files */

/* Writes data to dirfd/name atomically: a temp file in the same directory,
 * write, fsync, rename over name, fsync the directory. A crash at any point
 * leaves either the old or the new content. name is a single component. */
int forge_atomic_write(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		       struct forge_err *err);
/* Test hook, NULL in production: called after the temp file is fsync'd and
 * before the rename (a test makes it _exit to simulate a crash). */
extern void (*forge_atomic_write_hook)(void);

/* Opens path beneath dirfd with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS).
 * Rejects an absolute path or any ".." component before asking the kernel;
 * a symlink that leads outside dirfd fails (EXDEV). Returns an fd or -errno. */
int forge_open_beneath(int dirfd, const char *path, int flags, mode_t mode, struct forge_err *err);
/* Same, with RESOLVE_IN_ROOT: absolute symlinks resolve inside dirfd as if it
 * were "/". For looking inside a container's rootfs. extra_resolve may add
 * RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV, … */
int forge_open_in_root(int rootfd, const char *path, int flags, mode_t mode, uint64_t extra_resolve,
		       struct forge_err *err);
/* Joins base and a relative path into out. Rejects an absolute rel, "..",
 * empty rel and overlong results. */
int forge_path_join(char *out, size_t outsz, const char *base, const char *rel,
		    struct forge_err *err);
/* True when s is a safe single path component: non-empty, no '/', not "." or
 * "..", no NUL, at most 255 bytes. */
bool forge_name_is_component(const char *s);
/* mkdir -p of rel beneath dirfd (each component created with mode). */
int forge_mkdir_beneath(int dirfd, const char *rel, mode_t mode, struct forge_err *err);
/* Removes dirfd/name and everything below it without following symlinks and
 * without crossing into another filesystem (a mount point inside makes it
 * fail with -EBUSY). Missing name is not an error. */
int forge_remove_tree(int dirfd, const char *name, struct forge_err *err);
/* Reads a whole (small) file beneath dirfd, NUL-terminated, at most max bytes. */
int forge_read_file(int dirfd, const char *path, char **out, size_t *len, size_t max,
		    struct forge_err *err);
/* Reads an open file to its end, NUL-terminated, at most max bytes; name is
 * only for messages. For files an operator names on the command line. */
int forge_read_fd(int fd, const char *name, char **out, size_t *len, size_t max,
		  struct forge_err *err);
/* Reads a kernel knob (/proc, /sys, cgroup files: trusted kernel paths, so not
 * confined like forge_read_file; the last component is not followed if it is
 * a symlink). NUL-terminated, at most max bytes. */
int forge_read_knob(int dirfd, const char *path, char **out, size_t *len, size_t max,
		    struct forge_err *err);
/* Writes a short string to an existing file (cgroup/proc knobs): open
 * O_WRONLY|O_CLOEXEC, one write. Error names the path. */
int forge_write_knob(int dirfd, const char *path, const char *value, struct forge_err *err);

/* ------------------------------------------------------------------ forge.conf */

/* "key = value" lines, blank lines and '#' comments; both daemons read it. */
#define FORGE_CONF_MAX (256 * 1024)
/* Called for each pair, key and value trimmed; where is "path:line". */
typedef int (*forge_conf_fn)(void *ctx, const char *key, const char *val, const char *where,
			     struct forge_err *err);
/* Parses path (at most FORGE_CONF_MAX bytes), stopping at the first error
 * (a line without '=', or what fn returns). A missing file is no error
 * unless must_exist. */
int forge_conf_parse_file(const char *path, bool must_exist, forge_conf_fn fn, void *ctx,
			  struct forge_err *err);

/* ------------------------------------------------------------------ capabilities */

/* "NET_RAW", "cap_net_raw", "CAP_NET_RAW" -> bit number (libcap's table);
 * -EINVAL otherwise. Shared by the runtime, the CLI and the template checks. */
int forge_cap_parse(const char *name, int *cap, struct forge_err *err);

/* ------------------------------------------------------------------ YAML */

/* One YAML document to JSON (JSON itself is YAML, so it is accepted too), with
 * the core schema for plain scalars (null, true/false, integers, floats; all
 * else and anything quoted is a string). Refused with "<name>:<line>:<col>:
 * why": anchors and aliases (no exponential expansion), duplicate keys,
 * non-string keys, more than one document, nesting deeper than 64. */
int forge_yaml_parse(const char *buf, size_t len, const char *name, json_t **out,
		     struct forge_err *err);
/* forge_read_fd (at most max bytes) then forge_yaml_parse. */
int forge_yaml_load_fd(int fd, const char *name, size_t max, json_t **out,
		       struct forge_err *err);
/* forge_read_file (confined beneath dirfd) then forge_yaml_parse. */
int forge_yaml_load_file(int dirfd, const char *path, size_t max, json_t **out,
			 struct forge_err *err);

/* ------------------------------------------------------------------ crypto */

/* sodium_init(); safe to call many times. Returns 0 or -EIO. */
int forge_crypto_init(void);
void forge_sha256_hex(const void *data, size_t len, char hex[65]);
int forge_sha256_fd_hex(int fd, char hex[65], struct forge_err *err);
/* nchars lowercase hex characters of fresh randomness, NUL-terminated. */
void forge_random_hex(char *out, size_t nchars);
/* Constant-time equality of two buffers of the same length. */
bool forge_consttime_eq(const void *a, const void *b, size_t len);

/* ------------------------------------------------------------------ paths */

#define FORGE_PATH_MAX	 4096
#define FORGE_PREFIX_MAX 8

/* DESIGN §4: everything lives under one root. */
struct forge_paths {
	char root[FORGE_PATH_MAX];	   /* FORGE_ROOT, default "/" */
	char etc[FORGE_PATH_MAX];	   /* <root>/etc/forge */
	char lib[FORGE_PATH_MAX];	   /* <root>/var/lib/forge */
	char run[FORGE_PATH_MAX];	   /* <root>/run/forge */
	char prefix[FORGE_PREFIX_MAX + 1]; /* kernel object prefix, default "forge" */
};

/* root: --root argument or NULL (then $FORGE_ROOT, then "/"); made absolute.
 * prefix: NULL means $FORGE_PREFIX, then "forge"; must match [a-z][a-z0-9]{0,7}. */
int forge_paths_init(struct forge_paths *p, const char *root, const char *prefix,
		     struct forge_err *err);
/* Creates etc, lib and run (0755/0700 as appropriate) if missing. */
int forge_paths_ensure(const struct forge_paths *p, struct forge_err *err);

/* ------------------------------------------------------------------ signing
 * common/sign.c: Ed25519, HMAC-SHA256 and base64url through libsodium, for
 * every signer and verifier in Forge (verdicts and the audit log in scoring/,
 * the spawn authorization token, forge-api's JWTs). Owned by scoring.
 */

#define FORGE_ED25519_PUBLIC_BYTES 32
#define FORGE_ED25519_SEED_BYTES   32
#define FORGE_ED25519_SECRET_BYTES 64 /* libsodium's layout: seed || public key */
#define FORGE_ED25519_SIG_BYTES	   64
#define FORGE_HMAC_SHA256_BYTES	   32
#define FORGE_KEY_ID_LEN	   16 /* hex characters */

/* A fresh key pair from the system's randomness, or, when seed is non-NULL,
 * the pair RFC 8032 derives from that 32-byte seed. Returns 0 or -EIO. */
int forge_ed25519_keypair(uint8_t pk[FORGE_ED25519_PUBLIC_BYTES],
			  uint8_t sk[FORGE_ED25519_SECRET_BYTES], const uint8_t *seed);
/* The detached (64-byte) signature of msg. */
void forge_ed25519_sign(uint8_t sig[FORGE_ED25519_SIG_BYTES], const void *msg, size_t len,
			const uint8_t sk[FORGE_ED25519_SECRET_BYTES]);
/* True when sig is pk's signature of msg (libsodium refuses non-canonical
 * signatures and small-order keys). */
bool forge_ed25519_verify(const uint8_t sig[FORGE_ED25519_SIG_BYTES], const void *msg, size_t len,
			  const uint8_t pk[FORGE_ED25519_PUBLIC_BYTES]);
/* How Forge names a public key: the first 16 hex characters of sha256(pk). */
void forge_key_id(const uint8_t pk[FORGE_ED25519_PUBLIC_BYTES], char out[FORGE_KEY_ID_LEN + 1]);
/* True when s is 16 lowercase hex characters. */
bool forge_key_id_is_valid(const char *s);

/* HMAC-SHA256 (RFC 2104) with a key of any length. */
void forge_hmac_sha256(uint8_t mac[FORGE_HMAC_SHA256_BYTES], const void *key, size_t keylen,
		       const void *msg, size_t len);
/* Recomputes the MAC and compares it with mac in constant time. */
bool forge_hmac_sha256_verify(const uint8_t mac[FORGE_HMAC_SHA256_BYTES], const void *key,
			      size_t keylen, const void *msg, size_t len);

/* base64url (RFC 4648 §5) without padding: the number of characters for n bytes. */
size_t forge_base64url_len(size_t n);
/* Encodes into out, NUL-terminated; outsz must hold forge_base64url_len(len) + 1. */
int forge_base64url_encode(char *out, size_t outsz, const void *data, size_t len,
			   struct forge_err *err);
/* Strict decode of inlen characters: the URL-safe alphabet only — no padding,
 * no whitespace, no "+/" — and zero unused trailing bits, so every value has
 * exactly one accepted encoding. Stores the byte count in *outlen. -EINVAL when
 * malformed, -ENOBUFS when the result does not fit in outsz; what names the
 * value in the message. */
int forge_base64url_decode(void *out, size_t outsz, size_t *outlen, const char *in, size_t inlen,
			   const char *what, struct forge_err *err);

/* Zeroes secret material in a way the compiler cannot drop. */
void forge_memzero(void *p, size_t len);

#endif /* FORGE_COMMON_H */
