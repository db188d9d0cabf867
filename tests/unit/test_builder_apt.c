/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs-builder/apt.c: the dependency closure read from `apt-cache depends --recurse`
 * output — one alternative per group, virtual packages by provider, exclusions. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rootfs-builder/builder.h"

/* Trimmed from `apt-cache depends --recurse --no-recommends … nmap netcat-openbsd`
 * on Debian 12. */
static const char nmap_text[] = "nmap\n"
				"  Depends: nmap-common\n"
				"  Depends: libc6\n"
				"  Depends: liblinear4\n"
				"  Depends: libpcap0.8\n"
				"  Depends: lua-lpeg\n"
				"netcat-openbsd\n"
				"  Depends: libbsd0\n"
				"  Depends: libc6\n"
				"nmap-common\n"
				"libc6\n"
				"  Depends: libgcc-s1\n"
				"libgcc-s1\n"
				"  Depends: gcc-12-base\n"
				"  Depends: libc6\n"
				"liblinear4\n"
				" |Depends: libblas3\n"
				"  Depends: <libblas.so.3>\n"
				"    libatlas3-base\n"
				"    libblas3\n"
				"    libopenblas0-pthread\n"
				"  Depends: libc6\n"
				"libpcap0.8\n"
				"  Depends: libc6\n"
				"  PreDepends: libdbus-1-3\n"
				"lua-lpeg\n"
				"  Depends: libc6\n"
				"libbsd0\n"
				"  Depends: libc6\n"
				"  Depends: libmd0:any\n"
				"gcc-12-base\n"
				"libblas3\n"
				"  Depends: libc6\n"
				"libatlas3-base\n"
				"  Depends: libgfortran5\n"
				"libopenblas0-pthread\n"
				"libdbus-1-3\n"
				"  Depends: libc6\n"
				"libmd0\n"
				"  Depends: libc6\n"
				"libgfortran5\n";

static char *closure(const char *text, const char *const *roots, size_t n_roots,
		     const char *const *exclude, size_t n_exclude)
{
	struct forge_err err = {0};
	json_t *out = NULL;
	char *s = NULL;
	size_t i;
	json_t *v;

	if (forge_apt_depends_closure(text, roots, n_roots, exclude, n_exclude, &out, &err) < 0)
		fail_msg("closure: %s", err.msg);
	json_array_foreach(out, i, v)
	{
		char *next;
		assert_true(
		    asprintf(&next, "%s%s%s", s ? s : "", i ? " " : "", json_string_value(v)) > 0);
		free(s);
		s = next;
	}
	json_decref(out);
	return s ? s : strdup("");
}

static void expect_closure(const char *text, const char *const *roots, size_t n_roots,
			   const char *const *exclude, size_t n_exclude, const char *want)
{
	char *got = closure(text, roots, n_roots, exclude, n_exclude);

	assert_string_equal(got, want);
	free(got);
}

static void test_closure(void **state)
{
	const char *const roots[] = {"nmap", "netcat-openbsd"};
	const char *const exclude[] = {"gcc-12-base"};
	char *got;

	(void)state;
	/* Sorted; libblas3 chosen as the first alternative (not a provider of the
	 * virtual libblas.so.3); :any dropped; PreDepends followed. */
	expect_closure(nmap_text, roots, 2, NULL, 0,
		       "gcc-12-base libblas3 libbsd0 libc6 libdbus-1-3 libgcc-s1 "
		       "liblinear4 libmd0 libpcap0.8 lua-lpeg netcat-openbsd nmap "
		       "nmap-common");
	/* Excluded: not installed and not followed. */
	got = closure(nmap_text, roots, 2, exclude, 1);
	assert_null(strstr(got, "gcc-12-base"));
	free(got);
	const char *const no_nmap_common[] = {"nmap-common", "libpcap0.8"};
	expect_closure(nmap_text, roots, 1, no_nmap_common, 2,
		       "gcc-12-base libblas3 libc6 libgcc-s1 liblinear4 lua-lpeg nmap");
}

static void test_alternatives(void **state)
{
	const char *const root[] = {"a"};
	const char *const ex_b[] = {"b"};

	(void)state;
	/* An alternative already chosen satisfies the group. */
	const char both[] = "a\n"
			    "  Depends: c\n"
			    " |Depends: b\n"
			    "  Depends: c\n"
			    "b\n"
			    "c\n";
	expect_closure(both, root, 1, NULL, 0, "a c");
	/* A virtual package alone: its first provider. */
	const char virt[] = "a\n"
			    "  Depends: <v>\n"
			    "    p2\n"
			    "    p1\n"
			    "p2\n"
			    "  Depends: d\n"
			    "p1\n"
			    "d\n";
	expect_closure(virt, root, 1, NULL, 0, "a d p2");
	/* An excluded alternative satisfies its group: the spec decided. */
	const char alt[] = "a\n"
			   " |Depends: b\n"
			   "  Depends: c\n"
			   "b\n"
			   "c\n";
	expect_closure(alt, root, 1, ex_b, 1, "a");
	/* Other relations are not followed. */
	const char rec[] = "a\n"
			   "  Recommends: r\n"
			   "  Conflicts: x\n"
			   "  Breaks: <y>\n"
			   "    y1\n";
	expect_closure(rec, root, 1, NULL, 0, "a");
	/* A root that apt printed nothing for is still installed. */
	expect_closure("", root, 1, NULL, 0, "a");
}

static void test_refusals(void **state)
{
	const char *const root[] = {"a"};
	struct forge_err err = {0};
	json_t *out = NULL;

	(void)state;
	assert_int_equal(
	    forge_apt_depends_closure("a\n  Depends: <v>\n", root, 1, NULL, 0, &out, &err),
	    -ENOENT);
	assert_null(out);
	assert_non_null(strstr(err.msg, "a: no package provides its dependency v"));
	assert_int_equal(forge_apt_depends_closure("  Depends: x\n", root, 1, NULL, 0, &out, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "line 1: unexpected"));
	assert_int_equal(
	    forge_apt_depends_closure("a\n  Depends x\n", root, 1, NULL, 0, &out, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 2: unexpected"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_closure),
	    cmocka_unit_test(test_alternatives),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
