// What the HTTP end-to-end scripts in Node.js share (as checks.py does for the Python
// ones): their checks, the lines they print, and the environment their test gives them.

/** A failed check: the script prints `<client>: FAILED: <message>` and exits 1. */
export class CheckFailed extends Error {}

/** Fails the check with `message` unless `condition` holds. */
export function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/**
 * `ok(message)`, which prints `<client>: ok: <message>`, and `env(name)`, which reads a
 * variable `setBy` (the test that runs the script) sets, exiting with status 2 when it is
 * not set.
 */
export function reporter(client, setBy) {
  const ok = (message) => console.log(`${client}: ok: ${message}`);
  const env = (name) => {
    const value = process.env[name];
    if (!value) {
      console.error(`${client}: error: ${name} is not set (${setBy} sets it)`);
      process.exit(2);
    }
    return value;
  };
  return { ok, env };
}
