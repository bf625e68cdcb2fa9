/**
 * @module The demo's download audit: the views' `onDownload` events, queued in memory and written to
 * the `download_event` table in batches by a single writer. A download never waits for the
 * database: when the queue is full (the database slow or gone), events are dropped and counted.
 */
import type { Request } from 'express'
import type { DataSource } from 'typeorm'
import { DownloadEventRecord } from '../entities/DownloadEventRecord'
import { ConfigurationError, type DownloadEvent, type DownloadHook, type Logger } from '../src'

/** Options of {@link DownloadAudit}. */
export interface DownloadAuditOptions {
  /**
   * The most events waiting to be written; further events are dropped (and counted in `dropped`)
   * until the writer catches up.
   * @default 1000
   */
  maxQueue?: number
  /**
   * The most events one INSERT writes.
   * @default 100
   */
  batchSize?: number
  /**
   * Where failed writes are reported (one warning per failed batch).
   * @default a logger that writes one line to standard error
   */
  logger?: Logger
}

/** What the audit has done since it started. */
export interface DownloadAuditStats {
  /** Events waiting for the writer. */
  queued: number
  /** Events written to `download_event`. */
  written: number
  /** Events dropped because the queue was full. */
  dropped: number
  /** Events lost with a batch the database refused. */
  failed: number
}

type Row = Omit<DownloadEventRecord, 'id'>

/**
 * A bounded queue of download events and the one writer that empties it. `hook(route)` is the
 * `onDownload` of a route's view: it only pushes the event (or counts it dropped) and returns; the
 * writer, started by the first event after an idle spell, inserts a batch at a time until the
 * queue is empty.
 *
 * @example
 * const audit = new DownloadAudit(dataSource, { maxQueue: 1000 })
 * new ObjectDownloadView({ ..., onDownload: audit.hook() })
 */
export class DownloadAudit {
  private readonly maxQueue: number
  private readonly batchSize: number
  private readonly logger: Logger
  private queue: Row[] = []
  private writing: Promise<void> | undefined
  private readonly counts = { written: 0, dropped: 0, failed: 0 }

  constructor(
    private readonly dataSource: DataSource,
    options: DownloadAuditOptions = {},
  ) {
    this.maxQueue = options.maxQueue ?? 1000
    this.batchSize = options.batchSize ?? 100
    if (!Number.isSafeInteger(this.maxQueue) || this.maxQueue < 1)
      throw new ConfigurationError('DownloadAudit: option "maxQueue" must be an integer of at least 1')
    if (!Number.isSafeInteger(this.batchSize) || this.batchSize < 1)
      throw new ConfigurationError('DownloadAudit: option "batchSize" must be an integer of at least 1')
    this.logger = options.logger ?? {
      error: (message, error) => process.stderr.write(`[download audit] ${message}: ${String(error)}\n`),
    }
  }

  /**
   * The `onDownload` hook of a view: each row names `route` (by default the Express route that
   * answered, `/object/default-file/:slug/`), and the route's `slug` parameter, else the storage
   * key of the file.
   */
  hook(route?: string): DownloadHook {
    return (event) => this.push(route ?? routeOf(event), event)
  }

  /** Queues `event` of `route`, or counts it dropped when the queue is full. Never waits. */
  push(route: string, event: DownloadEvent): void {
    if (this.queue.length >= this.maxQueue) {
      this.counts.dropped++
      return
    }
    const location = event.file.location
    const slug = event.params.slug
    this.queue.push({
      at: new Date(),
      route,
      slug: typeof slug === 'string' ? slug : location?.kind === 'storage' ? location.key : null,
      method: event.req.method ?? 'GET',
      status: event.status,
      bytes: event.bytes ?? null,
      complete: event.complete,
      durationMs: Math.round(event.durationMs),
      handedOff: event.handedOff,
    })
    this.writing ??= this.drain().finally(() => {
      this.writing = undefined
    })
  }

  /** Resolves once the events queued so far are written (or lost with a failed batch). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing
  }

  /** The counts so far. */
  stats(): DownloadAuditStats {
    return { queued: this.queue.length, ...this.counts }
  }

  /** The single writer: a batch at a time, until the queue is empty. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize)
      try {
        await this.dataSource.createQueryBuilder().insert().into(DownloadEventRecord).values(batch).execute()
        this.counts.written += batch.length
      } catch (error) {
        this.counts.failed += batch.length
        this.logger.error(`Lost ${batch.length} download events`, error)
      }
    }
  }
}

/** The Express route that answered `event` (its path pattern), else the request's path. */
function routeOf(event: DownloadEvent): string {
  const pattern = (event.req as Partial<Request>).route?.path
  return typeof pattern === 'string' ? pattern : (event.req.url ?? '').split('?')[0] || '/'
}

/**
 * How many times each document was downloaded, by slug: the GETs answered 200 or 206 (streamed or
 * handed off, complete or not), from `download_event`.
 */
export async function downloadCounts(dataSource: DataSource): Promise<Map<string, number>> {
  const rows: { slug: string; downloads: string }[] = await dataSource.query(
    `SELECT "slug", count(*) AS "downloads" FROM "download_event"
     WHERE "slug" IS NOT NULL AND "method" = 'GET' AND "status" IN (200, 206)
     GROUP BY "slug"`,
  )
  return new Map(rows.map((row) => [row.slug, Number(row.downloads)]))
}

/** One document's line of {@link downloadSummary}. */
export interface DownloadSummary {
  slug: string
  /** GETs answered 200 or 206. */
  downloads: number
  /** Of those, the ones that went out whole. */
  complete: number
  /** Body bytes the app wrote for them (handed-off ones not counted). */
  bytes: number
  /** Of those, the ones a proxy or the bucket sent. */
  handedOff: number
  /** The last one's end. */
  last: Date
}

/** The downloads of each document, most downloaded first: what `npm run downloads` prints. */
export async function downloadSummary(dataSource: DataSource): Promise<DownloadSummary[]> {
  const rows: Record<keyof DownloadSummary, string | Date>[] = await dataSource.query(
    `SELECT "slug", count(*) AS "downloads", count(*) FILTER (WHERE "complete") AS "complete",
            coalesce(sum("bytes"), 0) AS "bytes", count(*) FILTER (WHERE "handed_off") AS "handedOff",
            max("at") AS "last"
     FROM "download_event"
     WHERE "slug" IS NOT NULL AND "method" = 'GET' AND "status" IN (200, 206)
     GROUP BY "slug" ORDER BY count(*) DESC, "slug"`,
  )
  return rows.map((row) => ({
    slug: String(row.slug),
    downloads: Number(row.downloads),
    complete: Number(row.complete),
    bytes: Number(row.bytes),
    handedOff: Number(row.handedOff),
    last: new Date(row.last),
  }))
}
