/**
 * What the ABI probe (src/abi-probe.c) must see under Docker's default profile, for the unit
 * test (the compiled filter loaded by the probe itself) and the integration test (the same
 * probe under box run): one statement of Docker's expectations, not two that could drift.
 */

export const ABI_WORDS = ["x64_getpid", "x64_mount", "i386_getpid", "i386_mount", "i386_unshare", "i386_kexec_load", "i386_socketcall", "i386_socket_unix", "i386_socket_alg", "x32_getpid", "x32_mount", "x32_beyond"];

/**
 * The expected answer per word, given what the probe saw with no filter at all (`bare`): a
 * kernel without the i386 ABI drops those words, one without x32 drops x32 getpid. Each dropped
 * part is said on the console by `who`.
 */
export function expectedUnderDefault(bare: Record<string, string>, who: string): Record<string, string> {
  const want: Record<string, string> = {
    x64_getpid: "OK",
    x64_mount: "EPERM",
    i386_getpid: "OK",
    i386_mount: "EPERM",
    i386_unshare: "EPERM",
    i386_kexec_load: "EPERM",
    // socketcall(2) is allowed whole, as in Docker: seccomp cannot read its arguments
    i386_socketcall: "OK",
    i386_socket_unix: "OK",
    i386_socket_alg: "EPERM",
    // the filter decides x32 calls before the kernel looks for an x32 table
    x32_mount: "EPERM",
    x32_beyond: "ENOSYS",
  };
  if (bare.i386_getpid !== "OK") {
    console.log(`${who}: i386 assertions skipped: int 0x80 without a filter gives ${bare.i386_getpid} (ia32 emulation off?)`);
    for (const k of Object.keys(want)) if (k.startsWith("i386_")) delete want[k];
  }
  if (bare.x32_getpid === "OK") want.x32_getpid = "OK";
  else console.log(`${who}: x32 getpid not checked: this kernel answers x32 calls with ${bare.x32_getpid} even without a filter (CONFIG_X86_X32_ABI off)`);
  return want;
}
