/* SPDX-License-Identifier: Apache-2.0 */
/* netns/ private interfaces: shared between the module's own files only. */
#ifndef FORGE_NETNS_INTERNAL_H
#define FORGE_NETNS_INTERNAL_H

#include <stdbool.h>

#include "netns/netns.h"

/* Enters the network namespace ns_fd on the calling thread, saving the
 * thread's own in *own; what names the namespace in errors. */
int forge_netns_enter(int ns_fd, int *own, const char *what, struct forge_err *err);
/* Back to the saved namespace (and closes own), or abort(). */
void forge_netns_return(int own);
/* Whether two namespace fds are the same namespace. */
bool forge_netns_same(int a, int b);
/* Whether fd is the calling thread's own network namespace. */
bool forge_netns_is_own(int fd);

#endif /* FORGE_NETNS_INTERNAL_H */
