/** `2026-12-04 15:32:41 UTC`: to the second, no milliseconds, unambiguous across time zones. */
export function formatTime(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** `3 min ago`, `in 29 min`, `just now`: how far `epochMs` is from `now`, in whole units. */
export function formatRelative(epochMs: number, now: number): string {
  const seconds = Math.round((epochMs - now) / 1000);
  const size = Math.abs(seconds);
  if (size < 5) return 'just now';
  const [amount, unit] =
    size < 60
      ? [size, 's']
      : size < 3600
        ? [Math.round(size / 60), 'min']
        : size < 86_400
          ? [Math.round(size / 3600), 'h']
          : [Math.round(size / 86_400), 'd'];
  return seconds < 0 ? `${amount} ${unit} ago` : `in ${amount} ${unit}`;
}
