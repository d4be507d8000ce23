/** The L7R's public surface, for `qvd serve` and tests. */
export { createL7rServer, type L7rServer, type L7rServerOptions } from './l7r-server.js';
export type { AuthProvider, AuthVerdict, LoginAttempt } from './auth-provider.js';
export { createBuiltinAuthProvider, type BuiltinAuthOptions } from './builtin-auth-provider.js';
export { createLdapAuthProvider, type LdapAuthOptions } from './ldap-auth-provider.js';
export { withTotp } from './with-totp.js';
export { TotpChecker } from './totp-checker.js';
export { createL7rMetrics, type L7rMetrics } from './l7r-metrics.js';
export { DEFAULT_L7R_LIMITS, type L7rLimits } from './l7r-limits.js';
export { LoginThrottle, DEFAULT_THROTTLE, type ThrottleSettings } from './login-throttle.js';
export { createPasswordVerifier, sharedPasswordVerifier, type PasswordVerifier } from './password-verifier.js';
export { ensureTlsMaterial, fingerprintOf, type TlsMaterial } from './tls-material.js';
export { newSlaveKey } from './slave-key.js';
export * from './l7r-backend.js';
