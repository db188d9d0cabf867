/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Embeds the static forge-init program (built from runtime/init.c and
 * runtime/confine.c) into .rodata: the launcher copies it into a sealed memfd
 * and execs that in every container it starts, so there is no helper binary
 * to install, find or swap. FORGE_INIT_PATH is set by the Makefile.
 */
	.section .rodata
	.globl forge_init_image
	.type forge_init_image, @object
	.globl forge_init_image_end
	.type forge_init_image_end, @object
	.balign 16
forge_init_image:
	.incbin FORGE_INIT_PATH
forge_init_image_end:
	.byte 0
	.size forge_init_image, forge_init_image_end - forge_init_image
	.size forge_init_image_end, 1

/* No executable stack. */
	.section .note.GNU-stack,"",@progbits
