import {
  ApiError,
  BadRequestError,
  ModelValidationError,
  NotFoundError,
  MAX_INTEGER_COLUMN,
  fitsIntegerColumn,
  uniqueViolation,
  utcDay,
  type Knex,
  type Clock,
} from 'gatehouse';
import { excludesGuests, isPaidPlan, isTopPlan, planTitle } from './plans.js';
import {
  MinutesPacksRepository,
  ReconciliationsRepository,
  SubscriptionsRepository,
  type MinutesPack,
  type NewMinutesPack,
  type Subscription,
  type SubscriptionFields,
  type UpcomingReconciliation,
} from './repository.js';
import type { DirectoryServices, Namespace } from './types.js';

// GitLab's texts, verbatim (EE API::GitlabSubscriptions, API::Ci::Minutes, the models' validations).
export const NAMESPACE = 'Namespace';
export const TARGET_NAMESPACE = 'Target namespace';
export const GITLAB_SUBSCRIPTION = 'GitlabSubscription';
const BLANK = "can't be blank";
const TAKEN = 'has already been taken';
/** Rails' numericality wording, for a count its integer column cannot hold. */
const TOO_LARGE = `must be less than or equal to ${MAX_INTEGER_COLUMN}`;
const TOO_SMALL = `must be greater than or equal to ${-MAX_INTEGER_COLUMN - 1}`;
export const UNABLE_TO_SAVE_PACKS = 'Unable to save additional packs';
export const NAMESPACE_NOT_ROOT = 'Namespace must be a top-level namespace';
export const TARGET_NOT_ROOT = 'Target namespace must be a top-level namespace';
export const SAME_NAMESPACE = 'Namespace and target must be different';
/** `validates :purchase_xid, length: { maximum: 32 }`. */
const MAX_PURCHASE_XID = 32;

/**
 * The subscription parameters as Grape hands them over: a key is present only when the client sent
 * it (`declared_params(include_missing: false)`); an explicit null is kept, for the model to judge.
 */
export interface SubscriptionParams {
  startDate?: string | null;
  endDate?: string | null;
  /** A known plan code; null means free (GitLab's `plan_code=` defaults nil to free). */
  planCode?: string | null;
  seats?: number | null;
  maxSeatsUsed?: number | null;
  autoRenew?: boolean | null;
  trial?: boolean | null;
  trialStartsOn?: string | null;
  trialEndsOn?: string | null;
  trialExtensionType?: number | null;
}

/** A subscription with what GitLab derives from it and from the namespace when presenting it. */
export interface SubscriptionView {
  subscription: Subscription;
  planName: string | null;
  upgradable: boolean;
  excludeGuests: boolean;
  seatsInUse: number;
  seatsOwed: number;
}

/** One element of `PUT /internal/upcoming_reconciliations`, after Grape's checks. */
export interface ReconciliationParams {
  namespaceId: number;
  nextReconciliationDate: string | null;
  displayAlertFrom: string | null;
}

/** Fields as they are about to be stored (nulls where the client cleared something required). */
type Candidate = Omit<SubscriptionFields, 'seats' | 'startDate'> & { seats: number | null; startDate: string | null };

const isNumericId = (ref: string) => /^\d+$/.test(ref);

/** `has_a_paid_hosted_plan?`: a paid plan, not a trial, with seats. */
const hasPaidPlan = (s: Pick<Subscription, 'planCode' | 'trial' | 'seats'>) => !s.trial && s.seats > 0 && isPaidPlan(s.planCode);

/**
 * The customers portal's side of GitLab.com: a namespace's subscription, its purchased CI minute
 * packs, and its upcoming seat reconciliation. Seats in use are counted from the directory's
 * memberships on every read; nothing here caches them.
 */
export class SubscriptionsService {
  private readonly subscriptions: SubscriptionsRepository;
  private readonly packs: MinutesPacksRepository;
  private readonly reconciliations: ReconciliationsRepository;

  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
    private readonly directory: DirectoryServices,
  ) {
    this.subscriptions = new SubscriptionsRepository(db);
    this.packs = new MinutesPacksRepository(db);
    this.reconciliations = new ReconciliationsRepository(db);
  }

  /** A namespace by numeric id or full path (GitLab's `find_namespace`), else 404 `<resource> Not Found`. */
  async findNamespace(ref: string, resource = NAMESPACE): Promise<Namespace> {
    const namespace = isNumericId(ref)
      ? await this.directory.projects.findNamespaceById(Number(ref))
      : await this.directory.projects.findNamespaceByPath(ref);
    if (!namespace) throw new NotFoundError(resource);
    return namespace;
  }

  // ——— Subscriptions ———

  /** 404 `GitlabSubscription Not Found` when the namespace has none. */
  async show(namespace: Namespace): Promise<SubscriptionView> {
    const subscription = await this.subscriptions.findByNamespace(namespace.id);
    if (!subscription) throw new NotFoundError(GITLAB_SUBSCRIPTION);
    return this.view(namespace, subscription);
  }

  /**
   * Creates the namespace's subscription. A trial without `trial_starts_on` starts on `start_date`.
   * A namespace that has one already is GitLab's model error `namespace_id has already been taken`.
   */
  async create(namespace: Namespace, params: SubscriptionParams & { startDate: string | null }): Promise<SubscriptionView> {
    const given = withTrialStart(params);
    const candidate: Candidate = {
      planCode: given.planCode === undefined ? null : (given.planCode ?? 'free'),
      seats: given.seats === undefined ? 0 : given.seats,
      maxSeatsUsed: given.maxSeatsUsed ?? 0,
      startDate: given.startDate ?? null,
      endDate: given.endDate ?? null,
      autoRenew: given.autoRenew ?? null,
      trial: given.trial ?? false,
      trialStartsOn: given.trialStartsOn ?? null,
      trialEndsOn: given.trialEndsOn ?? null,
      trialExtensionType: given.trialExtensionType ?? null,
    };
    return this.db.transaction(async (trx) => {
      const taken = (await this.subscriptions.findByNamespace(namespace.id, trx)) !== undefined;
      const valid = validate(candidate, taken);
      try {
        const subscription = await this.subscriptions.insert(namespace.id, valid, this.clock.now(), trx);
        return this.view(namespace, subscription, trx);
      } catch (error) {
        // Lost a race with a concurrent create: the same answer the check gives.
        if (uniqueViolation(error)) throw new ModelValidationError({ namespace_id: [TAKEN] });
        throw error;
      }
    });
  }

  /**
   * Changes the given fields of the namespace's subscription (404 `GitlabSubscription Not Found`
   * without one). Sending `trial: true` needs `trial_starts_on` (or `start_date`, which it defaults
   * to). When a paid subscription starts a new term, or a trial turns paid, the seat statistics
   * restart from the seats in use now, as GitLab's `reset_seat_statistics` does.
   */
  async update(namespace: Namespace, params: SubscriptionParams): Promise<SubscriptionView> {
    const given = withTrialStart(params);
    return this.db.transaction(async (trx) => {
      const current = await this.subscriptions.findByNamespace(namespace.id, trx);
      if (!current) throw new NotFoundError(GITLAB_SUBSCRIPTION);
      const changes: Partial<Candidate> = {
        ...given,
        planCode: given.planCode === undefined ? undefined : (given.planCode ?? 'free'),
        trial: given.trial === undefined ? undefined : (given.trial ?? false),
        maxSeatsUsed: given.maxSeatsUsed === undefined ? undefined : (given.maxSeatsUsed ?? 0),
      };
      const { id: _id, namespaceId: _namespaceId, createdAt: _createdAt, updatedAt: _updatedAt, ...stored } = current;
      const candidate: Candidate = { ...stored, ...dropUndefined(changes) };
      const valid = validate(candidate, false);
      if (hasPaidPlan(valid) && (startsNewTerm(current, valid) || (current.trial && !valid.trial))) {
        valid.maxSeatsUsed = await this.seatsInUse(namespace, valid.planCode, trx);
      }
      const subscription = await this.subscriptions.update(namespace.id, valid, this.clock.now(), trx);
      return this.view(namespace, subscription, trx);
    });
  }

  private async view(namespace: Namespace, subscription: Subscription, db: Knex = this.db): Promise<SubscriptionView> {
    const today = utcDay(this.clock.now());
    const paid = hasPaidPlan(subscription);
    const expired = subscription.endDate !== null && subscription.endDate < today;
    return {
      subscription,
      planName: planTitle(subscription.planCode),
      upgradable: !isTopPlan(subscription.planCode) && paid && !expired,
      excludeGuests: namespace.kind === 'group' && excludesGuests(subscription.planCode),
      seatsInUse: await this.seatsInUse(namespace, subscription.planCode, db),
      seatsOwed: paid ? Math.max(0, subscription.maxSeatsUsed - subscription.seats) : 0,
    };
  }

  /** The namespace's billable members under a plan (Guests are free on the Ultimate plans). */
  private seatsInUse(namespace: Namespace, planCode: string | null, db: Knex = this.db): Promise<number> {
    return this.directory.projects.billableUserCount(namespace, { excludeGuests: namespace.kind === 'group' && excludesGuests(planCode) }, db);
  }

  // ——— CI minute packs ———

  /**
   * Applies purchased minute packs, all or none (one transaction). A pack whose purchase is already
   * applied to this namespace is answered as stored, so the portal may retry a purchase; a purchase
   * id applied to another namespace, or a pack the model refuses, fails the whole request with
   * `400 Bad request - Unable to save additional packs`.
   */
  async addPacks(namespace: Namespace, packs: ReadonlyArray<{ numberOfMinutes: number | null; expiresAt: string | null; purchaseXid: string | null }>): Promise<MinutesPack[]> {
    return this.db.transaction(async (trx) => {
      const saved: MinutesPack[] = [];
      for (const pack of packs) {
        const existing = pack.purchaseXid ? await this.packs.findByPurchaseXid(pack.purchaseXid, trx) : undefined;
        if (existing && existing.namespaceId === namespace.id) {
          saved.push(existing);
          continue;
        }
        if (existing || !isSavable(pack)) throw new BadRequestError(UNABLE_TO_SAVE_PACKS);
        try {
          saved.push(await this.packs.insert(namespace.id, pack, this.clock.now(), trx));
        } catch (error) {
          // Another request applied the same purchase meanwhile: the unique index has the last word.
          if (uniqueViolation(error)) throw new BadRequestError(UNABLE_TO_SAVE_PACKS);
          throw error;
        }
      }
      return saved;
    });
  }

  /**
   * Moves every pack of `source` to `target` in one transaction: either all of them move or none
   * does. Both must be top-level namespaces, and different (GitLab's ChangeNamespaceService).
   */
  async movePacks(source: Namespace, target: Namespace): Promise<number> {
    if (source.parentId !== null) throw new BadRequestError(NAMESPACE_NOT_ROOT);
    if (target.parentId !== null) throw new BadRequestError(TARGET_NOT_ROOT);
    if (source.id === target.id) throw new BadRequestError(SAME_NAMESPACE);
    return this.db.transaction((trx) => this.packs.moveAll(source.id, target.id, this.clock.now(), trx));
  }

  // ——— Upcoming reconciliations ———

  /**
   * Stores one upcoming reconciliation per namespace (the last one given wins). As GitLab's
   * UpdateService does, the valid ones are stored and the invalid ones reported together:
   * 400 `{"message":{"error":"[{\"<namespace id>\":[\"Namespace can't be blank\"]}]"}}`.
   */
  async upsertReconciliations(items: readonly ReconciliationParams[]): Promise<void> {
    const errors: Array<Record<string, string[]>> = [];
    const valid = new Map<number, UpcomingReconciliation>();
    for (const item of items) {
      const messages: string[] = [];
      if (!(await this.directory.projects.findNamespaceById(item.namespaceId))) messages.push(`Namespace ${BLANK}`);
      if (item.nextReconciliationDate === null) messages.push(`Next reconciliation date ${BLANK}`);
      if (item.displayAlertFrom === null) messages.push(`Display alert from ${BLANK}`);
      if (messages.length) {
        errors.push({ [String(item.namespaceId)]: messages });
        continue;
      }
      valid.delete(item.namespaceId); // keep the last one given, in its place
      valid.set(item.namespaceId, item as UpcomingReconciliation);
    }
    await this.reconciliations.upsert([...valid.values()], this.clock.now());
    // GitLab's `render_api_error!({ error: … }, 400)`: the errors as a JSON string under message.error.
    if (errors.length) throw new ApiError(400, { message: { error: JSON.stringify(errors) } });
  }

  /** Deletes a namespace's upcoming reconciliation; 404 `Not Found` when it has none. */
  async deleteReconciliation(namespaceId: number): Promise<void> {
    if (!(await this.reconciliations.delete(namespaceId))) throw new NotFoundError();
  }
}

/** `trial_starts_on ||= start_date if trial`: a trial sent without its start starts with the subscription. */
function withTrialStart<T extends SubscriptionParams>(params: T): T {
  if (!params.trial || params.trialStartsOn) return params;
  return { ...params, trialStartsOn: params.startDate ?? null };
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** GitLab's `new_term?`: both dates change, and the new term starts where (or after) the old one ended. */
function startsNewTerm(current: Subscription, next: SubscriptionFields): boolean {
  return (
    next.startDate !== current.startDate &&
    next.endDate !== current.endDate &&
    (current.endDate === null || next.startDate >= current.endDate)
  );
}

/**
 * GitlabSubscription's validations, in their order: seats and start_date present, one per
 * namespace, and a trial needs both trial dates with the end after the start. Counts past what their
 * integer columns hold are refused here too, rather than by the database with an error.
 */
function validate(candidate: Candidate, namespaceTaken: boolean): SubscriptionFields {
  const errors: Record<string, string[]> = {};
  const add = (field: string, message: string) => (errors[field] ??= []).push(message);
  if (candidate.seats === null) add('seats', BLANK);
  for (const [field, count] of [['seats', candidate.seats], ['max_seats_used', candidate.maxSeatsUsed], ['trial_extension_type', candidate.trialExtensionType]] as const) {
    if (typeof count === 'number' && !fitsIntegerColumn(count)) add(field, count > 0 ? TOO_LARGE : TOO_SMALL);
  }
  if (candidate.startDate === null) add('start_date', BLANK);
  if (namespaceTaken) add('namespace_id', TAKEN);
  if (candidate.trial) {
    if (!candidate.trialEndsOn) add('trial_ends_on', BLANK);
    if (!candidate.trialStartsOn) add('trial_starts_on', BLANK);
    if (candidate.trialEndsOn && candidate.trialStartsOn && candidate.trialEndsOn <= candidate.trialStartsOn) {
      add('trial_ends_on', `must be greater than ${candidate.trialStartsOn}`);
    }
  }
  if (Object.keys(errors).length) throw new ModelValidationError(errors);
  return candidate as SubscriptionFields;
}

/** The model's checks on a pack: minutes (that the column holds), expiry and purchase id present, the id at most 32 characters. */
function isSavable(pack: { numberOfMinutes: number | null; expiresAt: string | null; purchaseXid: string | null }): pack is NewMinutesPack {
  const minutesFit = pack.numberOfMinutes !== null && fitsIntegerColumn(pack.numberOfMinutes);
  return minutesFit && pack.expiresAt !== null && !!pack.purchaseXid && pack.purchaseXid.length <= MAX_PURCHASE_XID;
}
