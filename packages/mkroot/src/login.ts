/**
 * Registry logins for `box login`/`box logout` (and scripts): the credentials are checked
 * against the registry before they are stored. The registry client is loaded on first use.
 */
export interface LoginOptions {
  insecureRegistries?: string[];
}

/** Check `username`/`password` against `host`, then store them; returns the credentials file. */
export async function login(host: string, username: string, password: string, opts: LoginOptions = {}): Promise<string> {
  const { RegistryClient, saveCredentials } = await import("@box/registry");
  const client = new RegistryClient(host, { credentials: { username, password }, insecureRegistries: opts.insecureRegistries ?? [] });
  try {
    await client.verifyLogin();
  } finally {
    await client.close();
  }
  return saveCredentials(host, { username, password });
}

/** Forget `host`'s credentials in box's file; false if there were none. */
export async function logout(host: string): Promise<boolean> {
  const { removeCredentials } = await import("@box/registry");
  return removeCredentials(host);
}
