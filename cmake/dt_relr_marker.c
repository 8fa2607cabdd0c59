/* Declares that vigil-agent needs the GLIBC_ABI_DT_RELR version of libc.so.6, as lld >= 15 and
   binutils >= 2.38 do by themselves for -z pack-relative-relocs: glibc (>= 2.36) refuses to run
   a binary with packed relative relocations (DT_RELR) that does not say so. Linked only together
   with lld 14's --pack-dyn-relocs=relr (cmake/VigilHelpers.cmake, vigil_compact_executable). */
__asm__(".symver vigil_glibc_abi_dt_relr, GLIBC_ABI_DT_RELR@GLIBC_ABI_DT_RELR");
extern char vigil_glibc_abi_dt_relr;
/* retain: kept through --gc-sections although nothing refers to it. */
__attribute__((used, retain)) static const void* const vigil_dt_relr_ref =
    &vigil_glibc_abi_dt_relr;
