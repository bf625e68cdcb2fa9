/** @module The demo's audit of downloads: one row per answer about a file (a view's `onDownload` event). */
import { Column, Entity, Index, PrimaryGeneratedColumn, type ValueTransformer } from 'typeorm'

/** Postgres bigint comes back as a string: a byte count fits a JavaScript number. */
const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
}

@Entity({ name: 'download_event' })
@Index('IDX_download_event_slug', ['slug'])
export class DownloadEventRecord {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string

  /** When the response ended. */
  @Column({ type: 'timestamptz' })
  at!: Date

  /** The route that answered: the Express route's pattern (`/object/default-file/:slug/`). */
  @Column({ type: 'text' })
  route!: string

  /** The document's slug, or the storage key for routes that serve keys; null for generated content. */
  @Column({ type: 'text', nullable: true })
  slug!: string | null

  /** GET or HEAD. */
  @Column({ type: 'text' })
  method!: string

  @Column({ type: 'smallint' })
  status!: number

  /** Body bytes written; null when the bytes were handed off (nginx, the bucket). */
  @Column({ type: 'bigint', nullable: true, transformer: bigintNumber })
  bytes!: number | null

  @Column({ type: 'boolean' })
  complete!: boolean

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs!: number

  @Column({ name: 'handed_off', type: 'boolean' })
  handedOff!: boolean
}
