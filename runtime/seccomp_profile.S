/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Embeds runtime/seccomp.profile verbatim into .rodata, so the policy stays a
 * reviewable data file and the binary carries exactly what was reviewed
 * (its sha256 is reported with every container). Assembled from the
 * repository root: the path below is relative to it.
 */
	.section .rodata
	.globl forge_seccomp_profile_start
	.type forge_seccomp_profile_start, @object
	.globl forge_seccomp_profile_end
	.type forge_seccomp_profile_end, @object
	.balign 16
forge_seccomp_profile_start:
	.incbin "runtime/seccomp.profile"
forge_seccomp_profile_end:
	.byte 0
	.size forge_seccomp_profile_start, forge_seccomp_profile_end - forge_seccomp_profile_start
	.size forge_seccomp_profile_end, 1

/* No executable stack. */
	.section .note.GNU-stack,"",@progbits
