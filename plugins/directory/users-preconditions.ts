import { PreconditionFailedError, type GatehouseContext } from 'gatehouse';

/**
 * GitLab's `check_unmodified_since!` before a delete (`destroy_conditionally!`): 412 when the resource
 * changed after the client's `If-Unmodified-Since`. HTTP dates have whole seconds, so the resource's
 * time is compared at that precision; a header that is not a date is ignored, as GitLab ignores it.
 */
export function checkUnmodifiedSince(ctx: GatehouseContext, updatedAt: Date) {
  const header = ctx.get('If-Unmodified-Since');
  if (!header) return;
  const since = new Date(header).getTime();
  if (Number.isNaN(since)) return;
  if (Math.floor(updatedAt.getTime() / 1000) * 1000 > since) throw new PreconditionFailedError();
}
