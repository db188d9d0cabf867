/* SPDX-License-Identifier: Apache-2.0 */
/*
 * templates/formats.c — the "format" values schema.json may assert. Each is
 * checked by the code that later consumes the value (netns' CIDR parser, the
 * runtime's capability names, regcomp), so a template that passes is one
 * those accept.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "netns/netns.h"
#include "runtime/runtime.h"
#include "templates/internal.h"

typedef bool (*format_fn)(const char *s, char *msg, size_t msgsz);

static bool fail_with(const struct forge_err *e, char *msg, size_t msgsz)
{
	snprintf(msg, msgsz, "%s", e->msg);
	return false;
}

static bool is_ipv4(const char *s, char *msg, size_t msgsz)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) == 1)
		return true;
	snprintf(msg, msgsz, "%s is not an IPv4 address", tpl_quote(s).s);
	return false;
}

static bool is_cidr(const char *s, char *msg, size_t msgsz)
{
	struct forge_err e = {0};
	struct in_addr net;
	uint8_t len;

	if (forge_net_parse_cidr(s, true, &net, &len, &e) == 0)
		return true;
	return fail_with(&e, msg, msgsz);
}

/* An interface address: host bits are the point. */
static bool is_interface_addr(const char *s, char *msg, size_t msgsz)
{
	struct forge_err e = {0};
	struct in_addr net;
	uint8_t len;

	if (forge_net_parse_cidr(s, false, &net, &len, &e) < 0)
		return fail_with(&e, msg, msgsz);
	if (len < 8) {
		snprintf(msg, msgsz, "%s: prefix length %u outside 8..32", tpl_quote(s).s, len);
		return false;
	}
	return true;
}

int tpl_parse_route_dst(const char *s, bool *is_default, struct in_addr *net, uint8_t *len,
			struct forge_err *err)
{
	*is_default = !strcmp(s, "default");
	if (!*is_default)
		return forge_net_parse_cidr(s, true, net, len, err);
	net->s_addr = 0;
	*len = 0;
	return 0;
}

static bool is_route_dst(const char *s, char *msg, size_t msgsz)
{
	struct forge_err e = {0};
	struct in_addr net;
	uint8_t len;
	bool dflt;

	if (tpl_parse_route_dst(s, &dflt, &net, &len, &e) == 0)
		return true;
	forge_err_prefix(&e, "neither \"default\" nor a CIDR");
	return fail_with(&e, msg, msgsz);
}

/* Absolute and normalised: no empty, "." or ".." component. */
static bool is_absolute_path(const char *s, char *msg, size_t msgsz)
{
	const char *c = s;

	if (s[0] != '/') {
		snprintf(msg, msgsz, "%s is not an absolute path", tpl_quote(s).s);
		return false;
	}
	while (*c == '/') {
		size_t n = strcspn(c + 1, "/");

		if (n == 0 || (n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.')) {
			snprintf(msg, msgsz,
				 "%s: empty, \".\" or \"..\" component (write the path plainly)",
				 tpl_quote(s).s);
			return false;
		}
		c += 1 + n;
	}
	return true;
}

static bool is_regex(const char *s, char *msg, size_t msgsz)
{
	char why[128];
	regex_t re;
	int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);

	if (rc == 0) {
		regfree(&re);
		return true;
	}
	regerror(rc, &re, why, sizeof(why));
	snprintf(msg, msgsz, "%s is not a POSIX extended regular expression: %s", tpl_quote(s).s,
		 why);
	return false;
}

static bool is_capability(const char *s, char *msg, size_t msgsz)
{
	struct forge_err e = {0};
	int cap;

	if (forge_cap_parse(s, &cap, &e) == 0)
		return true;
	return fail_with(&e, msg, msgsz);
}

static const struct {
	const char *name;
	format_fn check;
} formats[] = {
    {"ipv4", is_ipv4},
    {"ipv4-cidr", is_cidr},
    {"ipv4-interface", is_interface_addr},
    {"route-destination", is_route_dst},
    {"absolute-path", is_absolute_path},
    {"regex", is_regex},
    {"capability", is_capability},
};

static format_fn find_format(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(formats[i].name, name))
			return formats[i].check;
	return NULL;
}

bool tpl_format_known(const char *format)
{
	return find_format(format) != NULL;
}

bool tpl_format_check(const char *format, const char *s, char *msg, size_t msgsz)
{
	format_fn check = find_format(format);

	if (!check) {
		snprintf(msg, msgsz, "unknown format %s", tpl_quote(format).s);
		return false;
	}
	return check(s, msg, msgsz);
}
