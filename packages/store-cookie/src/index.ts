export type { CookieSealerOptions } from './cookie-sealer.js';
export { COOKIE_SEALER_DEFAULTS, CookieSealer } from './cookie-sealer.js';
export type { SealedSession } from './sealed-payload.js';
export { parseSealedPayload } from './sealed-payload.js';
