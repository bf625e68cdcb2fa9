/**
 * @module Database errors a row lookup can meet, classified by SQLSTATE class rather than a short
 * list of codes (PostgreSQL Appendix A): which ones mean "the database cannot answer now" (503 with
 * Retry-After, the request may be retried) and which of those are configuration faults that an
 * operator must fix (logged at error level, once per burst).
 */

/** What a database error means for a request: `undefined` for a fault of the query itself (500). */
export type DatabaseFault = 'unavailable' | 'configuration'

/** Node's own codes for a database that cannot be reached over the network. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
])

/** pg's and the pool's messages for the same, which come without a code. */
const NETWORK_MESSAGES =
  /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Query read timeout|Cannot use a pool after calling end/i

/**
 * The fault `error` stands for:
 * - `'configuration'`: 3D000 (the database does not exist, or was renamed) and class 28 (the role
 *   may not log in, a wrong password): 503 too, since they may pass when an operator fixes them, but
 *   worth an alarm;
 * - `'unavailable'`: class 08 (connection exception), class 53 (insufficient resources: too many
 *   connections, out of memory, disk full), 57P01-57P04 (shutdown, crash, starting up, database
 *   dropped), 57014 (statement timeout: a database too slow to answer), 55000 when the database
 *   is not accepting connections (`ALTER DATABASE ... ALLOW_CONNECTIONS false`), and the network;
 * - `undefined` for anything else: a bug or a bad query, which is a 500.
 */
export function databaseFault(error: unknown): DatabaseFault | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (typeof code === 'string') {
    if (code === '3D000' || code.startsWith('28')) return 'configuration'
    if (code.startsWith('08') || code.startsWith('53') || /^57P0[1-4]$/.test(code) || code === '57014')
      return 'unavailable'
    // 55000 is "object not in prerequisite state" in general; on connect it is this one.
    if (
      code === '55000' &&
      typeof message === 'string' &&
      /not currently accepting connections/i.test(message)
    )
      return 'unavailable'
    if (NETWORK_CODES.has(code)) return 'unavailable'
  }
  return typeof message === 'string' && NETWORK_MESSAGES.test(message) ? 'unavailable' : undefined
}

/**
 * Says when a recurring fault is worth a log line: the first time, then again only after `quietMs`
 * without a line for it; a line then counts what it left out meanwhile. So a database whose
 * password was changed gives one line a minute, not one per request.
 */
export class BurstLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>()

  constructor(private readonly quietMs = 60_000) {}

  /** The line to write for `message` now, or `undefined` while its burst is already reported. */
  line(key: string, message: string, now = Date.now()): string | undefined {
    const seen = this.last.get(key)
    if (seen && now - seen.at < this.quietMs) {
      seen.suppressed++
      return undefined
    }
    // Bounded: a few kinds of fault, keyed by SQLSTATE; never one entry per request.
    if (this.last.size >= 64) this.last.clear()
    this.last.set(key, { at: now, suppressed: 0 })
    return seen?.suppressed ? `${message} (and ${seen.suppressed} more since the last report)` : message
  }
}
