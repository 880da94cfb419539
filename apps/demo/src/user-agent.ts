/**
 * Browsers by the token their user agent carries, most specific first:
 * Edge and Opera also say "Chrome", Chrome also says "Safari", so the first
 * match wins.
 */
const BROWSERS: readonly (readonly [RegExp, string])[] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bHeadlessChrome\//, 'Chrome (headless)'],
  [/\bChrom(?:e|ium)\/|\bCriOS\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/\bcurl\//, 'curl'],
  [/\bnode\b|\bundici\b/i, 'Node.js'],
];

/** Systems, most specific first (Android says "Linux", iOS says "like Mac OS X"). */
const SYSTEMS: readonly (readonly [RegExp, string])[] = [
  [/\bAndroid\b/, 'Android'],
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b|\bX11\b/, 'Linux'],
];

/**
 * A user agent in words, "Chrome on Linux"-like, for the sessions page:
 * enough to tell one's devices apart, without a user-agent database.
 * Unknown agents keep their first product token (at most 40 characters).
 */
export function describeUserAgent(userAgent: string | undefined): string {
  const agent = userAgent?.trim() ?? '';
  if (agent === '') return 'unknown device';
  const browser = BROWSERS.find(([pattern]) => pattern.test(agent))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(agent))?.[1];
  if (browser === undefined) {
    const product = agent.split(/\s/, 1)[0]?.slice(0, 40) ?? 'unknown';
    return system === undefined ? product : `${product} on ${system}`;
  }
  return system === undefined ? browser : `${browser} on ${system}`;
}
