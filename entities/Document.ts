/** @module The demo's Document: a row with two file columns, as in django-downloadview's demo project. */
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { FileColumn, type StoredFile } from '../src'

@Entity({ name: 'document' })
export class Document {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @Column({ type: 'text', default: '' })
  title!: string

  @FileColumn()
  file!: StoredFile | null

  @FileColumn()
  anotherFile!: StoredFile | null

  /** A name for the client that differs from the stored one (`/object/deserialized-basename/`). */
  @Column({ type: 'text', nullable: true })
  basename!: string | null
}
