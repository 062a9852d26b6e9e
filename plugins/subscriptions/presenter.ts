import type { MinutesPack } from './repository.js';
import type { SubscriptionView } from './service.js';

/** GitLab's `API::Entities::GitlabSubscription`. */
export function presentSubscription(view: SubscriptionView) {
  const { subscription: s } = view;
  return {
    plan: {
      code: s.planCode,
      name: view.planName,
      trial: s.trial,
      auto_renew: s.autoRenew,
      upgradable: view.upgradable,
      exclude_guests: view.excludeGuests,
    },
    usage: {
      seats_in_subscription: s.seats,
      seats_in_use: view.seatsInUse,
      max_seats_used: s.maxSeatsUsed,
      seats_owed: view.seatsOwed,
    },
    billing: {
      subscription_start_date: s.startDate,
      subscription_end_date: s.endDate,
      trial_ends_on: s.trialEndsOn,
    },
  };
}

/** GitLab's `API::Entities::Ci::Minutes::AdditionalPack`. */
export function presentPack(pack: MinutesPack) {
  return {
    namespace_id: pack.namespaceId,
    expires_at: pack.expiresAt,
    number_of_minutes: pack.numberOfMinutes,
    purchase_xid: pack.purchaseXid,
  };
}
