import type { VersionInfo } from './plugins/types.js';

/**
 * The GitLab version gatehouse answers as. Editor extensions gate features on it (direct access needs
 * ≥ 17.2.0), so it tracks the GitLab API generation we implement, not our package version.
 */
export const PRODUCT_VERSION: VersionInfo = Object.freeze({ version: '17.11.0', revision: 'gatehouse' });
