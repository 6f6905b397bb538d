/** Room and app names: 1–128 of `[A-Za-z0-9_.-]`, not starting with `.` (README "Control API"). */
const NAME_PATTERN = /^(?!\.)[A-Za-z0-9_.-]{1,128}$/;

export const NAME_RULE =
  "must be 1-128 characters of A-Z, a-z, 0-9, '_', '.', '-' and must not start with '.'";

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}
