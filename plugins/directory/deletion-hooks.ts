import type { Knex } from 'gatehouse';

/**
 * Runs inside the transaction that removes groups or projects, before their rows go: a plugin whose
 * rows hang off them removes or revokes those rows in the same transaction, so nothing outlives its
 * group or project even for a moment. Throwing rolls the whole removal back.
 */
export type DeletionHandler = (ids: readonly number[], trx: Knex) => Promise<void>;

/** The handlers dependants register through `onProjectDeleted` and `onNamespaceDeleted`. */
export class DeletionHooks {
  private readonly projectHandlers: DeletionHandler[] = [];
  private readonly namespaceHandlers: DeletionHandler[] = [];

  onProjectDeleted(handler: DeletionHandler): void {
    this.projectHandlers.push(handler);
  }

  onNamespaceDeleted(handler: DeletionHandler): void {
    this.namespaceHandlers.push(handler);
  }

  async projectsDeleted(ids: readonly number[], trx: Knex): Promise<void> {
    if (ids.length === 0) return;
    for (const handler of this.projectHandlers) await handler(ids, trx);
  }

  async namespacesDeleted(ids: readonly number[], trx: Knex): Promise<void> {
    if (ids.length === 0) return;
    for (const handler of this.namespaceHandlers) await handler(ids, trx);
  }
}

/**
 * Removes, every `intervalMs`, the groups and projects whose retention period has passed. Each instance
 * sweeps; removal runs in one transaction per group or project, so two instances sweeping at once
 * only find less to do. The timer does not keep the process alive.
 */
export class DeletionSweeper {
  private readonly timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(sweep: () => Promise<void>, intervalMs: number, logger: { error(obj: unknown, msg: string): void }) {
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = sweep()
        .catch((error) => logger.error({ err: error }, 'removing groups and projects past their retention period failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
