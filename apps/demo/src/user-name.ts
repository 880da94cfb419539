/**
 * What the demo accepts as a user name, as one regular-expression source
 * shared by the login form's `pattern` attribute and the server's check, so
 * the two can never disagree. Browsers compile `pattern` with the `v` flag,
 * where a `-` inside a class must be escaped; the source is valid with and
 * without it.
 */
export const USER_NAME_PATTERN = '[A-Za-z0-9_.\\-]{1,40}';

/** The rule in words, for the form's hint and the server's refusal. */
export const USER_NAME_RULE =
  '1 to 40 characters: letters A–Z and a–z, digits, and _ . - (no spaces)';

const USER_NAME = new RegExp(`^(?:${USER_NAME_PATTERN})$`, 'v');

/** True when `name` is what the login form's `pattern` lets through. */
export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}
