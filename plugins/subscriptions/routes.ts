import { z, ValidationError, EMPTY, created, noContent, p, routeFor, type GatehouseContext } from 'gatehouse';
import type { SubscriptionsServices } from './services.js';
import { PLAN_CODES } from './plans.js';
import { presentPack, presentSubscription } from './presenter.js';
import { TARGET_NAMESPACE, type SubscriptionParams } from './service.js';
import {
  coerceDate,
  coerceInteger,
  coerceString,
  grapeDate,
  nullableBoolean,
  nullableInteger,
  validateArrayOfHashes,
} from './params.js';

const route = routeFor<SubscriptionsServices>();

/** Every route here is the customers portal's: an administrator's token (GitLab: `authenticated_as_admin!`). */
const ADMIN = { strategy: 'admin' } as const;

/** The optional subscription attributes, in GitLab's declaration order (it decides the order of 400 messages). */
const subscriptionAttributes = {
  end_date: grapeDate().optional(),
  plan_code: p.values(PLAN_CODES).nullable().optional(),
  seats: nullableInteger().optional(),
  max_seats_used: nullableInteger().optional(),
  auto_renew: nullableBoolean().optional(),
  trial: nullableBoolean().optional(),
  trial_ends_on: grapeDate().optional(),
  trial_starts_on: grapeDate().optional(),
  trial_extension_type: nullableInteger().optional(),
};

const CreateSubscriptionParams = z.object({ id: p.string(), start_date: grapeDate(), ...subscriptionAttributes });
const UpdateSubscriptionParams = z.object({ id: p.string(), start_date: grapeDate().optional(), ...subscriptionAttributes });
const NamespaceParams = z.object({ id: p.string() });
const MoveParams = z.object({ id: p.string(), target_id: p.string() });

type SubscriptionInput = z.output<typeof UpdateSubscriptionParams>;

/** Grape's declared params without the missing ones: only what the client sent reaches the model. */
function subscriptionParams(input: SubscriptionInput): SubscriptionParams {
  return {
    startDate: input.start_date,
    endDate: input.end_date,
    planCode: input.plan_code,
    seats: input.seats,
    maxSeatsUsed: input.max_seats_used,
    autoRenew: input.auto_renew,
    trial: input.trial,
    trialStartsOn: input.trial_starts_on,
    trialEndsOn: input.trial_ends_on,
    trialExtensionType: input.trial_extension_type,
  };
}

/** `requires :namespace_id, type: Integer, allow_blank: false`, from the query of a DELETE. */
function requiredNamespaceId(ctx: GatehouseContext): number {
  const value = ctx.state.params.namespace_id;
  if (value === undefined) throw new ValidationError(['namespace_id is missing', `namespace_id ${EMPTY}`]);
  // Grape coerces a blank Integer to nil, which allow_blank then refuses.
  if (value === null || (typeof value === 'string' && value.trim() === '')) throw new ValidationError([`namespace_id ${EMPTY}`]);
  const id = coerceInteger(value);
  if (id === undefined || id === null) throw new ValidationError(['namespace_id is invalid']);
  return id;
}

export const subscriptionsRoutes = [
  route({
    name: 'subscriptions.show',
    method: 'GET',
    path: '/api/v4/namespaces/:id/gitlab_subscription',
    auth: ADMIN,
    input: NamespaceParams,
    async handler(ctx, input, services) {
      const namespace = await services.subscriptions.findNamespace(input.id);
      ctx.body = presentSubscription(await services.subscriptions.show(namespace));
    },
  }),
  route({
    name: 'subscriptions.create',
    method: 'POST',
    path: '/api/v4/namespaces/:id/gitlab_subscription',
    auth: ADMIN,
    input: CreateSubscriptionParams,
    async handler(ctx, input, services) {
      const namespace = await services.subscriptions.findNamespace(input.id);
      const view = await services.subscriptions.create(namespace, { ...subscriptionParams(input), startDate: input.start_date });
      created(ctx, presentSubscription(view));
    },
  }),
  route({
    name: 'subscriptions.update',
    method: 'PUT',
    path: '/api/v4/namespaces/:id/gitlab_subscription',
    auth: ADMIN,
    input: UpdateSubscriptionParams,
    async handler(ctx, input, services) {
      const namespace = await services.subscriptions.findNamespace(input.id);
      ctx.body = presentSubscription(await services.subscriptions.update(namespace, subscriptionParams(input)));
    },
  }),
  route({
    name: 'subscriptions.minutes-create',
    method: 'POST',
    path: '/api/v4/namespaces/:id/minutes',
    auth: ADMIN,
    input: NamespaceParams.extend({ packs: z.unknown() }),
    async handler(ctx, input, services) {
      const packs = validateArrayOfHashes<{ number_of_minutes: number | null; expires_at: string | null; purchase_xid: string | null }>(
        'packs',
        input.packs,
        [
          { name: 'number_of_minutes', coerce: coerceInteger },
          { name: 'expires_at', coerce: coerceDate },
          { name: 'purchase_xid', coerce: coerceString },
        ],
        { indexed: true },
      );
      const namespace = await services.subscriptions.findNamespace(input.id);
      const saved = await services.subscriptions.addPacks(
        namespace,
        packs.map((pack) => ({ numberOfMinutes: pack.number_of_minutes, expiresAt: pack.expires_at, purchaseXid: pack.purchase_xid })),
      );
      created(ctx, saved.map(presentPack));
    },
  }),
  route({
    name: 'subscriptions.minutes-move',
    method: 'PATCH',
    path: '/api/v4/namespaces/:id/minutes/move/:target_id',
    auth: ADMIN,
    input: MoveParams,
    async handler(ctx, input, services) {
      const source = await services.subscriptions.findNamespace(input.id);
      const target = await services.subscriptions.findNamespace(input.target_id, TARGET_NAMESPACE);
      await services.subscriptions.movePacks(source, target);
      ctx.status = 202;
      ctx.body = { message: '202 Accepted' };
    },
  }),
  route({
    name: 'subscriptions.reconciliations-update',
    method: 'PUT',
    path: '/api/v4/internal/upcoming_reconciliations',
    auth: ADMIN,
    async handler(ctx, _input, services) {
      const items = validateArrayOfHashes<{ namespace_id: number | null; next_reconciliation_date: string | null; display_alert_from: string | null }>(
        'upcoming_reconciliations',
        ctx.state.params.upcoming_reconciliations,
        [
          { name: 'namespace_id', coerce: coerceInteger, allowBlank: false },
          { name: 'next_reconciliation_date', coerce: coerceDate },
          { name: 'display_alert_from', coerce: coerceDate },
        ],
        // Grape names elements of `Array[JSON]` params without their index.
        { indexed: false },
      );
      await services.subscriptions.upsertReconciliations(
        items.map((item) => ({
          namespaceId: item.namespace_id!,
          nextReconciliationDate: item.next_reconciliation_date,
          displayAlertFrom: item.display_alert_from,
        })),
      );
      // GitLab answers `status 200` and renders that value: the body is `200`.
      ctx.status = 200;
      ctx.body = 200;
    },
  }),
  route({
    name: 'subscriptions.reconciliations-delete',
    method: 'DELETE',
    path: '/api/v4/internal/upcoming_reconciliations',
    auth: ADMIN,
    async handler(ctx, _input, services) {
      await services.subscriptions.deleteReconciliation(requiredNamespaceId(ctx));
      noContent(ctx);
    },
  }),
];
