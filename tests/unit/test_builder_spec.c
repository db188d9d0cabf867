/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs-builder/spec.c: a good spec parses to what it says; every kind of bad spec is
 * refused with a message naming the file and the JSON path of what is wrong. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rootfs-builder/builder.h"

static int parse(const char *text, struct forge_build_spec **out, struct forge_err *err)
{
	json_t *doc = NULL;
	int rc = forge_yaml_parse(text, strlen(text), "t.yaml", &doc, err);

	if (rc < 0)
		return rc;
	rc = forge_build_spec_parse(doc, "t.yaml", out, err);
	json_decref(doc);
	return rc;
}

static const char good[] =
    "name: forge/web:1\n"
    "base: scratch\n"
    "busybox: [sh, httpd, /usr/bin/env, \"[\"]\n"
    "packages:\n"
    "  install: [nmap, netcat-openbsd, libc6:amd64]\n"
    "  depends: true\n"
    "  exclude: [gcc-12-base]\n"
    "  exclude_paths: [/usr/share/doc, /usr/share/man]\n"
    "directories:\n"
    "  - {path: /www, mode: \"0755\"}\n"
    "  - {path: /var/tmp, mode: \"1777\"}\n"
    "  - {path: /srv}\n"
    "files:\n"
    "  - {path: /www/index.html, mode: \"0644\", content: \"FORGE-WEB-OK\\n\"}\n"
    "  - {path: /etc/motd, content: \"\"}\n"
    "symlinks:\n"
    "  - {path: /bin/nc, target: nc.openbsd}\n"
    "users:\n"
    "  - {name: root, uid: 0, gid: 0, gecos: root, home: /root, shell: /bin/sh}\n"
    "  - {name: nobody, uid: 65534, gid: 65534}\n"
    "groups:\n"
    "  - {name: root, gid: 0, members: [root]}\n"
    "config:\n"
    "  env: {PATH: /bin, HOME: /root}\n"
    "  workdir: /www\n"
    "  entrypoint: [/bin/sh, -c]\n"
    "  cmd: [httpd -f]\n"
    "  user: \"0:0\"\n"
    "  labels: {org.example/role: web}\n";

static void test_good_spec(void **state)
{
	struct forge_build_spec *s = NULL;
	struct forge_err err = {0};

	(void)state;
	if (parse(good, &s, &err) < 0)
		fail_msg("good spec refused: %s", err.msg);
	assert_string_equal(s->name_tag, "forge/web:1");
	assert_null(s->base);
	assert_int_equal(s->n_applets, 4);
	assert_string_equal(s->applets[2], "/usr/bin/env");
	assert_int_equal(s->n_packages, 3);
	assert_string_equal(s->packages[2], "libc6:amd64");
	assert_true(s->depends);
	assert_int_equal(s->n_exclude_packages, 1);
	assert_int_equal(s->n_exclude_paths, 2);
	assert_string_equal(s->exclude_paths[0], "usr/share/doc"); /* relative */
	assert_int_equal(s->n_dirs, 3);
	assert_int_equal(s->dirs[1].mode, 01777);
	assert_int_equal(s->dirs[2].mode, 0755); /* default */
	assert_int_equal(s->n_files, 2);
	assert_string_equal(s->files[0].content, "FORGE-WEB-OK\n");
	assert_int_equal(s->files[0].len, 13);
	assert_int_equal(s->files[1].mode, 0644);
	assert_int_equal(s->files[1].len, 0);
	assert_string_equal(s->symlinks[0].target, "nc.openbsd");
	assert_int_equal(s->n_users, 2);
	assert_int_equal(s->users[1].uid, 65534);
	assert_string_equal(s->users[1].home, "/");	   /* default */
	assert_string_equal(s->users[1].shell, "/bin/sh"); /* default */
	assert_string_equal(s->users[1].gecos, "");
	assert_int_equal(s->n_groups, 1);
	assert_int_equal(json_array_size(s->groups[0].members), 1);
	assert_string_equal(json_string_value(json_object_get(s->env, "PATH")), "/bin");
	assert_string_equal(s->workdir, "/www");
	assert_int_equal(json_array_size(s->entrypoint), 2);
	assert_int_equal(json_array_size(s->cmd), 1);
	assert_string_equal(s->user, "0:0");
	assert_non_null(json_object_get(s->labels, "org.example/role"));
	forge_build_spec_free(s);

	/* The smallest spec, and a base image. */
	if (parse("name: a:b\n", &s, &err) < 0)
		fail_msg("minimal spec refused: %s", err.msg);
	assert_null(s->env);
	assert_int_equal(s->n_applets + s->n_packages + s->n_files, 0);
	forge_build_spec_free(s);
	if (parse("name: a/b:c\nbase: forge/learner:1\nconfig: {workdir: /}\n", &s, &err) < 0)
		fail_msg("base spec refused: %s", err.msg);
	assert_string_equal(s->base, "forge/learner:1");
	assert_string_equal(s->workdir, "/");
	forge_build_spec_free(s);
}

static void expect_refused(const char *text, const char *want)
{
	struct forge_build_spec *s = (struct forge_build_spec *)&s;
	struct forge_err err = {0};

	assert_int_equal(parse(text, &s, &err), -EINVAL);
	assert_null(s);
	if (!strstr(err.msg, want))
		fail_msg("spec:\n%s\nmessage \"%s\" does not say \"%s\"", text, err.msg, want);
}

static void test_bad_top_level(void **state)
{
	(void)state;
	expect_refused("- a\n", "t.yaml: must be a mapping");
	expect_refused("name: a:b\nfoo: 1\n", "t.yaml: foo: unknown key");
	expect_refused("name: a:b\n\"we ird\": 1\n", "t.yaml: \"we ird\": unknown key");
	expect_refused("base: scratch\n", "t.yaml: name: missing");
	expect_refused("name: 1\n", "t.yaml: name: must be a string");
	expect_refused("name: Forge/Web:1\n",
		       "t.yaml: name: \"Forge/Web:1\": not an image name:tag");
	expect_refused("name: forge/web\n", "name: \"forge/web\": not an image name:tag");
	expect_refused("name: a:b\nbase: ../x:1\n",
		       "base: \"../x:1\": not \"scratch\" or an image reference");
	expect_refused("name: a:b\nbase: [x]\n", "base: must be a string");
}

static void test_bad_busybox_and_packages(void **state)
{
	(void)state;
	expect_refused("name: a:b\nbusybox: sh\n", "t.yaml: busybox: must be a list");
	expect_refused("name: a:b\nbusybox: [sh, 'a b']\n",
		       "busybox[1]: \"a b\": not an applet name");
	expect_refused("name: a:b\nbusybox: [sh, sh]\n", "busybox[1]: \"sh\": listed twice");
	expect_refused("name: a:b\nbusybox: [/usr//bin/env]\n",
		       "busybox[0]: \"/usr//bin/env\": must be normalised");
	expect_refused("name: a:b\nbusybox: [..]\n", "busybox[0]: \"..\": not an applet name");
	expect_refused("name: a:b\nbusybox: [1]\n", "busybox[0]: must be a string");
	expect_refused("name: a:b\npackages: [nmap]\n", "packages: must be a mapping");
	expect_refused("name: a:b\npackages: {install: [nmap], with: 1}\n",
		       "packages.with: unknown key");
	expect_refused("name: a:b\npackages: {install: [-o, x]}\n",
		       "packages.install[0]: \"-o\": not a Debian package name");
	expect_refused("name: a:b\npackages: {install: [Nmap]}\n",
		       "packages.install[0]: \"Nmap\": not");
	expect_refused("name: a:b\npackages: {install: [nmap], depends: yes}\n",
		       "packages.depends: must be true or false");
	expect_refused("name: a:b\npackages: {depends: true}\n", "packages.install: missing");
	expect_refused("name: a:b\npackages: {install: [a1, b1], exclude: [b1]}\n",
		       "packages.exclude[0]: \"b1\": also in packages.install");
	expect_refused("name: a:b\npackages: {install: [a1], exclude_paths: [usr/share]}\n",
		       "packages.exclude_paths[0]: \"usr/share\": must be an absolute path");
	expect_refused("name: a:b\npackages: {install: [a1], exclude_paths: [/usr/../etc]}\n",
		       "packages.exclude_paths[0]: \"/usr/../etc\": must be normalised");
}

static void test_bad_entries(void **state)
{
	(void)state;
	expect_refused("name: a:b\ndirectories: [{path: /a, mode: 0755}]\n",
		       "directories[0].mode: must be an octal string such as \"0755\"");
	expect_refused("name: a:b\ndirectories: [{path: /a, mode: \"0999\"}]\n",
		       "directories[0].mode: \"0999\": must be 1 to 4 octal digits");
	expect_refused("name: a:b\ndirectories: [{path: /a, mode: \"10755\"}]\n",
		       "directories[0].mode: \"10755\"");
	expect_refused("name: a:b\ndirectories: [{path: /a/./b}]\n",
		       "directories[0].path: \"/a/./b\": must be normalised");
	expect_refused("name: a:b\ndirectories: [{path: /a/}]\n",
		       "directories[0].path: \"/a/\": must be normalised");
	expect_refused("name: a:b\ndirectories: [{path: /a, owner: 1}]\n",
		       "directories[0].owner: unknown key");
	expect_refused("name: a:b\ndirectories: [/a]\n", "directories[0]: must be a mapping");
	expect_refused("name: a:b\ndirectories: [{mode: \"0755\"}]\n",
		       "directories[0].path: missing");
	expect_refused("name: a:b\nfiles: [{path: /a}]\n", "files[0].content: missing");
	expect_refused("name: a:b\nfiles: [{path: /a, content: 5}]\n",
		       "files[0].content: must be a string");
	expect_refused("name: a:b\nfiles: [{path: /, content: x}]\n",
		       "files[0].path: \"/\": the root itself cannot be named");
	expect_refused("name: a:b\nfiles: [{path: /x, content: x}, {path: rel, content: x}]\n",
		       "files[1].path: \"rel\": must be an absolute path");
	expect_refused("name: a:b\nsymlinks: [{path: /a, target: \"\"}]\n",
		       "symlinks[0].target: must not be empty");
	expect_refused("name: a:b\nsymlinks: [{path: /a}]\n", "symlinks[0].target: missing");
}

static void test_bad_accounts_and_config(void **state)
{
	(void)state;
	expect_refused("name: a:b\nusers: [{name: root, uid: 70000, gid: 0}]\n",
		       "users[0].uid: must be an integer from 0 to 65535");
	expect_refused("name: a:b\nusers: [{name: root, uid: -1, gid: 0}]\n",
		       "users[0].uid: must be");
	expect_refused("name: a:b\nusers: [{name: root, uid: 0}]\n", "users[0].gid: missing");
	expect_refused("name: a:b\nusers: [{name: Root, uid: 0, gid: 0}]\n",
		       "users[0].name: \"Root\": not a user name");
	expect_refused("name: a:b\nusers: [{name: a, uid: 0, gid: 0}, {name: a, uid: 1, gid: 1}]\n",
		       "users[1].name: \"a\": listed twice");
	expect_refused("name: a:b\nusers: [{name: a, uid: 0, gid: 0, gecos: \"x:y\"}]\n",
		       "users[0].gecos: \"x:y\": must not contain ':' or a line break");
	expect_refused("name: a:b\nusers: [{name: a, uid: 0, gid: 0, shell: sh}]\n",
		       "users[0].shell: \"sh\": must be an absolute path");
	expect_refused("name: a:b\ngroups: [{name: g, gid: 1, members: [ok, \"not ok\"]}]\n",
		       "groups[0].members[1]: \"not ok\": not a user name");
	expect_refused("name: a:b\ngroups: [{name: g, gid: 1, members: ok}]\n",
		       "groups[0].members: must be a list");
	expect_refused("name: a:b\nconfig: {env: {1X: a}}\n", "config.env.1X: not a variable name");
	expect_refused("name: a:b\nconfig: {env: {A: 1}}\n", "config.env.A: must be a string");
	expect_refused("name: a:b\nconfig: {env: [A=1]}\n", "config.env: must be a mapping");
	expect_refused("name: a:b\nconfig: {cmd: []}\n", "config.cmd: must not be empty");
	expect_refused("name: a:b\nconfig: {cmd: sh}\n", "config.cmd: must be a list");
	expect_refused("name: a:b\nconfig: {entrypoint: [sh, 1]}\n",
		       "config.entrypoint[1]: must be a string");
	expect_refused("name: a:b\nconfig: {workdir: tmp}\n",
		       "config.workdir: \"tmp\": must be an absolute path");
	expect_refused("name: a:b\nconfig: {labels: {\"a b\": x}}\n",
		       "config.labels.\"a b\": not a label name");
	expect_refused("name: a:b\nconfig: {user: \"a\\nb\"}\n", "config.user: ");
	expect_refused("name: a:b\nconfig: {shell: [sh]}\n", "config.shell: unknown key");
	expect_refused("name: a:b\nusers: [{name: a, uid: 0, gid: 0}]\n"
		       "files: [{path: /etc/passwd, content: x}]\n",
		       "files[0]: /etc/passwd is generated from users");
}

static void test_load_names_the_file(void **state)
{
	char dir[] = "/tmp/test-builder-spec.XXXXXX", path[64];
	struct forge_build_spec *s = NULL;
	struct forge_err err = {0};
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.yaml", dir);
	assert_int_equal(forge_build_spec_load(path, &s, &err), -ENOENT);
	assert_non_null(strstr(err.msg, path));
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "name: a:b\nfiles: 1\n", 19), 19);
	close(fd);
	assert_int_equal(forge_build_spec_load(path, &s, &err), -EINVAL);
	assert_null(s);
	if (!strstr(err.msg, "x.yaml: files: must be a list"))
		fail_msg("message: %s", err.msg);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_spec),
	    cmocka_unit_test(test_bad_top_level),
	    cmocka_unit_test(test_bad_busybox_and_packages),
	    cmocka_unit_test(test_bad_entries),
	    cmocka_unit_test(test_bad_accounts_and_config),
	    cmocka_unit_test(test_load_names_the_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
