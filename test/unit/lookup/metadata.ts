/**
 * Entities for the lookup unit tests, and their TypeORM metadata built without a database: a
 * DataSource that is never initialized builds the same EntityMetadata its `initialize()` would.
 */
import {
  ChildEntity,
  Column,
  DataSource,
  DeleteDateColumn,
  Entity,
  ManyToOne,
  OneToMany,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  TableInheritance,
} from 'typeorm'

export class Meta {
  @Column({ type: 'int' })
  code!: number

  @Column({ type: 'text' })
  label!: string
}

@Entity({ name: 'person' })
export class Person {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text' })
  name!: string

  @OneToMany(
    () => Paper,
    (paper) => paper.owner,
  )
  papers!: Paper[]
}

/** Cents in the entity, euros with two decimals in the database (a transformer on `price`). */
const cents = {
  to: (value: number) => (value / 100).toFixed(2),
  from: (value: string) => Number(value) * 100,
}

@Entity({ name: 'paper', schema: 'media' })
export class Paper {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text' })
  title!: string

  @Column({ type: 'boolean' })
  published!: boolean

  @Column({ type: 'numeric', transformer: cents })
  price!: number

  @Column(() => Meta)
  meta!: Meta

  @ManyToOne(() => Person)
  owner!: Person | null

  @DeleteDateColumn({ type: 'timestamptz' })
  deletedAt!: Date | null
}

@Entity({ name: 'attachment' })
@TableInheritance({ column: { type: 'varchar', name: 'kind' } })
export class Attachment {
  @PrimaryColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text' })
  slug!: string
}

@ChildEntity('photo')
export class PhotoAttachment extends Attachment {
  @Column({ type: 'int', nullable: true })
  width!: number | null
}

@ChildEntity('portrait')
export class PortraitAttachment extends PhotoAttachment {}

@ChildEntity("scan's")
export class ScanAttachment extends Attachment {}

@Entity({ name: 'line' })
export class Line {
  @PrimaryColumn({ type: 'integer' })
  invoice!: number

  @PrimaryColumn({ type: 'integer' })
  position!: number
}

/** A DataSource with the metadata of the entities above, never connected. */
export async function metadataOnly(): Promise<DataSource> {
  const dataSource = new DataSource({
    type: 'postgres',
    entities: [Person, Paper, Attachment, PhotoAttachment, PortraitAttachment, ScanAttachment, Line],
  })
  // What initialize() does before it connects; protected in the typings, public in both majors.
  await (dataSource as unknown as { buildMetadatas(): Promise<void> }).buildMetadatas()
  return dataSource
}
