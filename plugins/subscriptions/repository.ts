import { toDate, isRowId, type Knex } from 'gatehouse';

/** A namespace's GitLab.com subscription, as stored. Dates are `YYYY-MM-DD`. */
export interface Subscription {
  id: number;
  namespaceId: number;
  planCode: string | null;
  seats: number;
  maxSeatsUsed: number;
  startDate: string;
  endDate: string | null;
  autoRenew: boolean | null;
  trial: boolean;
  trialStartsOn: string | null;
  trialEndsOn: string | null;
  trialExtensionType: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The stored fields of a subscription (everything but ids and timestamps). */
export type SubscriptionFields = Omit<Subscription, 'id' | 'namespaceId' | 'createdAt' | 'updatedAt'>;

/** A purchased pack of CI minutes. */
export interface MinutesPack {
  id: number;
  namespaceId: number;
  numberOfMinutes: number;
  expiresAt: string;
  purchaseXid: string;
  createdAt: Date;
}

export interface NewMinutesPack {
  numberOfMinutes: number;
  expiresAt: string;
  purchaseXid: string;
}

/** When a namespace's seats are next reconciled, and from when its owners are warned. */
export interface UpcomingReconciliation {
  namespaceId: number;
  nextReconciliationDate: string;
  displayAlertFrom: string;
}

const SUBSCRIPTIONS = 'subscriptions_gitlab_subscriptions';
const PACKS = 'subscriptions_ci_minutes_packs';
const RECONCILIATIONS = 'subscriptions_upcoming_reconciliations';

const bool = (value: unknown) => (value === null || value === undefined ? null : Boolean(value));
const int = (value: unknown) => (value === null || value === undefined ? null : Number(value));
const str = (value: unknown) => (value === null || value === undefined ? null : String(value));

function toSubscription(row: Record<string, unknown>): Subscription {
  return {
    id: Number(row.id),
    namespaceId: Number(row.namespace_id),
    planCode: str(row.plan_code),
    seats: Number(row.seats),
    maxSeatsUsed: Number(row.max_seats_used),
    startDate: String(row.start_date),
    endDate: str(row.end_date),
    autoRenew: bool(row.auto_renew),
    trial: Boolean(row.trial),
    trialStartsOn: str(row.trial_starts_on),
    trialEndsOn: str(row.trial_ends_on),
    trialExtensionType: int(row.trial_extension_type),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function subscriptionColumns(fields: Partial<SubscriptionFields>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  const map: Record<keyof SubscriptionFields, string> = {
    planCode: 'plan_code',
    seats: 'seats',
    maxSeatsUsed: 'max_seats_used',
    startDate: 'start_date',
    endDate: 'end_date',
    autoRenew: 'auto_renew',
    trial: 'trial',
    trialStartsOn: 'trial_starts_on',
    trialEndsOn: 'trial_ends_on',
    trialExtensionType: 'trial_extension_type',
  };
  for (const [key, column] of Object.entries(map)) {
    const value = fields[key as keyof SubscriptionFields];
    if (value !== undefined) columns[column] = value;
  }
  return columns;
}

function toPack(row: Record<string, unknown>): MinutesPack {
  return {
    id: Number(row.id),
    namespaceId: Number(row.namespace_id),
    numberOfMinutes: Number(row.number_of_minutes),
    expiresAt: String(row.expires_at),
    purchaseXid: String(row.purchase_xid),
    createdAt: toDate(row.created_at),
  };
}

export class SubscriptionsRepository {
  constructor(private readonly db: Knex) {}

  async findByNamespace(namespaceId: number, trx: Knex = this.db): Promise<Subscription | undefined> {
    if (!isRowId(namespaceId)) return undefined;
    const row = await trx(SUBSCRIPTIONS).where({ namespace_id: namespaceId }).first();
    return row ? toSubscription(row) : undefined;
  }

  /** Inserts; a second subscription for the namespace fails on the unique index. */
  async insert(namespaceId: number, fields: SubscriptionFields, now: Date, trx: Knex = this.db): Promise<Subscription> {
    await trx(SUBSCRIPTIONS).insert({ namespace_id: namespaceId, ...subscriptionColumns(fields), created_at: now, updated_at: now });
    return (await this.findByNamespace(namespaceId, trx))!;
  }

  /** Updates the given fields; `updated_at` moves even when nothing else changes (as GitLab's PUT does). */
  async update(namespaceId: number, fields: Partial<SubscriptionFields>, now: Date, trx: Knex = this.db): Promise<Subscription> {
    await trx(SUBSCRIPTIONS).where({ namespace_id: namespaceId }).update({ ...subscriptionColumns(fields), updated_at: now });
    return (await this.findByNamespace(namespaceId, trx))!;
  }
}

export class MinutesPacksRepository {
  constructor(private readonly db: Knex) {}

  async findByPurchaseXid(purchaseXid: string, trx: Knex = this.db): Promise<MinutesPack | undefined> {
    const row = await trx(PACKS).where({ purchase_xid: purchaseXid }).first();
    return row ? toPack(row) : undefined;
  }

  /** Inserts one pack; a purchase id already used anywhere fails on the unique index. */
  async insert(namespaceId: number, pack: NewMinutesPack, now: Date, trx: Knex = this.db): Promise<MinutesPack> {
    await trx(PACKS).insert({
      namespace_id: namespaceId,
      number_of_minutes: pack.numberOfMinutes,
      expires_at: pack.expiresAt,
      purchase_xid: pack.purchaseXid,
      created_at: now,
      updated_at: now,
    });
    return (await this.findByPurchaseXid(pack.purchaseXid, trx))!;
  }

  /** Hands every pack of one namespace to another, in one statement; returns how many moved. */
  async moveAll(fromNamespaceId: number, toNamespaceId: number, now: Date, trx: Knex = this.db): Promise<number> {
    return trx(PACKS).where({ namespace_id: fromNamespaceId }).update({ namespace_id: toNamespaceId, updated_at: now });
  }
}

export class ReconciliationsRepository {
  constructor(private readonly db: Knex) {}

  /**
   * One row per namespace: inserted, or its dates replaced when the namespace has one already
   * (`INSERT … ON CONFLICT (namespace_id) DO UPDATE`, which both SQLite and PostgreSQL speak).
   */
  async upsert(reconciliations: readonly UpcomingReconciliation[], now: Date, trx: Knex = this.db): Promise<void> {
    if (reconciliations.length === 0) return;
    await trx(RECONCILIATIONS)
      .insert(
        reconciliations.map((r) => ({
          namespace_id: r.namespaceId,
          next_reconciliation_date: r.nextReconciliationDate,
          display_alert_from: r.displayAlertFrom,
          created_at: now,
          updated_at: now,
        })),
      )
      .onConflict('namespace_id')
      .merge(['next_reconciliation_date', 'display_alert_from', 'updated_at']);
  }

  /** Deletes a namespace's row; false when it had none. */
  async delete(namespaceId: number, trx: Knex = this.db): Promise<boolean> {
    if (!isRowId(namespaceId)) return false;
    return (await trx(RECONCILIATIONS).where({ namespace_id: namespaceId }).delete()) > 0;
  }
}
