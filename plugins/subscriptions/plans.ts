/**
 * GitLab.com's hosted plans (EE `Plan`): the codes the customers portal sends as `plan_code`, and
 * the title GitLab shows as the plan's `name`.
 */
export const PLANS = {
  free: 'Free',
  bronze: 'Bronze',
  silver: 'Silver',
  premium: 'Premium',
  gold: 'Gold',
  ultimate: 'Ultimate',
  premium_trial: 'Premium Trial',
  ultimate_trial: 'Ultimate Trial',
  ultimate_trial_paid_customer: 'Ultimate Trial for Premium Customers',
  opensource: 'Open Source Program',
} as const;

export type PlanCode = keyof typeof PLANS;

export const PLAN_CODES = Object.keys(PLANS) as [PlanCode, ...PlanCode[]];

/** `Plan::PAID_HOSTED_PLANS`: every plan but free. */
const PAID_PLANS: ReadonlySet<string> = new Set(PLAN_CODES.filter((code) => code !== 'free'));

/** `Plan::TOP_PLANS`: nothing to upgrade to from these. */
const TOP_PLANS: ReadonlySet<string> = new Set(['gold', 'ultimate', 'opensource']);

/** The plans whose namespaces do not pay for Guests (`Namespace#exclude_guests?`: Gold and the Ultimate plans). */
const GUESTS_FREE_PLANS: ReadonlySet<string> = new Set(['gold', 'ultimate', 'ultimate_trial', 'ultimate_trial_paid_customer']);

export const planTitle = (code: string | null): string | null => (code && code in PLANS ? PLANS[code as PlanCode] : null);
export const isPaidPlan = (code: string | null) => code !== null && PAID_PLANS.has(code);
export const isTopPlan = (code: string | null) => code !== null && TOP_PLANS.has(code);
export const excludesGuests = (code: string | null) => code !== null && GUESTS_FREE_PLANS.has(code);
