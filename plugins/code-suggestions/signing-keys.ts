/** The instance key lives in core (it also signs identity tokens for proxied services); re-exported for this plugin's callers. */
export { generateSigningKeyPem, loadInstanceKeys as loadSigningKeys } from 'gatehouse';
export type { InstanceKeys as SigningKeys, PublicJwk } from 'gatehouse';
