import type { Application } from './repository.js';

/** GitLab's `Application` entity. Never carries the secret. */
export function presentApplication(application: Application) {
  return {
    id: application.id,
    application_id: application.uid,
    application_name: application.name,
    callback_url: application.redirectUri,
    confidential: application.confidential,
    scopes: application.scopes,
    trusted: application.trusted,
    device_code_enabled: application.deviceCodeEnabled,
  };
}

/** `ApplicationWithSecret`: only for the create and renew-secret responses, the one time the secret is shown. */
export function presentApplicationWithSecret(application: Application, secret: string) {
  return { ...presentApplication(application), secret };
}
