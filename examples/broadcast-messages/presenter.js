import { iso } from 'gatehouse';

/**
 * GitLab's Entities::System::BroadcastMessage. `active` is computed at answer time: started and not
 * yet ended, by the gateway's clock.
 */
export function presentMessage(message, now) {
  return {
    id: message.id,
    message: message.message,
    starts_at: iso(message.startsAt),
    ends_at: iso(message.endsAt),
    font: message.font,
    target_access_levels: message.targetAccessLevels,
    target_path: message.targetPath,
    broadcast_type: message.broadcastType,
    theme: message.theme,
    dismissable: message.dismissable,
    active: message.startsAt <= now && message.endsAt >= now,
  };
}
