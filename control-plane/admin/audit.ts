/** The audit trail: one record per operator action in `cellsim/audit/` (who, what, before, after, result). */
import { randomBytes } from 'node:crypto';
import { AuditRecordSchema, auditKey, type AuditRecord, type KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';

/** Writes audit records; a failed write is logged, never fails the action it describes. */
export class AuditLog {
  constructor(
    private readonly kv: KvStore,
    private readonly layout: KvLayout,
    private readonly log: Logger,
  ) {}

  /** Records one action. */
  async record(rec: Omit<AuditRecord, 'at'>): Promise<void> {
    const at = new Date();
    const full: AuditRecord = { at: at.toISOString(), ...rec };
    this.log.info({ audit: full }, `audit ${rec.action} ${rec.target} ${rec.result}`);
    try {
      await this.kv.putJson(AuditRecordSchema, auditKey(this.layout, at, randomBytes(3).toString('hex')), full);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'audit write failed');
    }
  }

  /** The latest `limit` records, newest first. */
  async latest(limit: number): Promise<AuditRecord[]> {
    const { values } = await this.kv.listJson(AuditRecordSchema, this.layout.auditPrefix);
    return values
      .sort((a, b) => (a.key < b.key ? 1 : -1))
      .slice(0, limit)
      .map((v) => v.value);
  }
}
