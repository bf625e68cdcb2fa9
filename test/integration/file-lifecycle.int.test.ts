/**
 * File columns without traps, on real Postgres and a real LocalStorage: an empty column loads as
 * `null` (finds, query builder, relations), `null` clears every column of a file, and replaced or
 * removed files are deleted after commit, never before, unless another row still points at them.
 */
import {
  Column,
  DataSource,
  DeleteDateColumn,
  Entity,
  type EntityManager,
  JoinColumn,
  ManyToOne,
  type MigrationInterface,
  OneToMany,
  PrimaryGeneratedColumn,
  type QueryRunner,
  type Repository,
} from 'typeorm'
import { attachFile } from '../../src/columns/attach-file'
import { FileColumn } from '../../src/columns/file-column'
import { FileColumnSubscriber } from '../../src/columns/file-column-subscriber'
import { hasFile, StoredFile } from '../../src/columns/stored-file'
import { FileColumnError } from '../../src/errors'
import { stderrLogger } from '../../src/logger'
import type { LocalStorage } from '../../src/storage/local-storage'
import { storages } from '../../src/storage/registry'
import { createTestDataSource } from '../helpers/database'
import { FaultyStorage } from '../helpers/fault-storage'
import { CreateTestPhoto1700000000000, images, TestPhoto } from '../helpers/image-entities'
import { recordingLogger } from '../helpers/recording-logger'
import { temporaryStorage } from '../helpers/storage'

/** The storage of the lifecycle entities; TestPhoto's columns use 'default', the same LocalStorage. */
const STORAGE = 'lifecycle'

@Entity({ name: 'test_lifecycle_folder' })
class Folder {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text' })
  name!: string

  @FileColumn({ storage: STORAGE })
  cover!: StoredFile | null

  @OneToMany(
    () => Paper,
    (paper) => paper.folder,
  )
  papers!: Paper[]
}

@Entity({ name: 'test_lifecycle_paper' })
class Paper {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @FileColumn({ storage: STORAGE })
  file!: StoredFile | null

  /** Keeps its old files: replaced and removed ones both. */
  @FileColumn({ storage: STORAGE, onReplace: 'keep', onRemove: 'keep' })
  archive!: StoredFile | null

  @ManyToOne(
    () => Folder,
    (folder) => folder.papers,
    { nullable: true },
  )
  @JoinColumn({ name: 'folder_id' })
  folder!: Folder | null

  @DeleteDateColumn({ type: 'timestamptz', name: 'deleted_at' })
  deletedAt!: Date | null
}

/** Another entity on the same storage: its rows count when a key is shared. */
@Entity({ name: 'test_lifecycle_note' })
class Note {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @FileColumn({ storage: STORAGE })
  attachment!: StoredFile | null
}

/** The columns of one file column: `<prefix>path`, `<prefix>name`, … */
const fileColumns = (prefix: string) =>
  `"${prefix}_path" text, "${prefix}_name" text, "${prefix}_size" bigint, "${prefix}_content_type" text,
   "${prefix}_modified_at" TIMESTAMP WITH TIME ZONE, "${prefix}_sha256" character(64), "${prefix}_crc32" bigint`

class CreateLifecycle1700000000002 implements MigrationInterface {
  name = 'CreateLifecycle1700000000002'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "test_lifecycle_folder" ("id" SERIAL PRIMARY KEY, "name" text NOT NULL, ${fileColumns('cover')})`,
    )
    await queryRunner.query(`
      CREATE TABLE "test_lifecycle_paper" (
        "id" SERIAL PRIMARY KEY,
        "slug" text NOT NULL UNIQUE,
        ${fileColumns('file')},
        ${fileColumns('archive')},
        "folder_id" integer REFERENCES "test_lifecycle_folder" ("id"),
        "deleted_at" TIMESTAMP WITH TIME ZONE
      )`)
    await queryRunner.query(
      `CREATE TABLE "test_lifecycle_note" ("id" SERIAL PRIMARY KEY, ${fileColumns('attachment')})`,
    )
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'DROP TABLE "test_lifecycle_note", "test_lifecycle_paper", "test_lifecycle_folder"',
    )
  }
}

let dataSource: DataSource
let papers: Repository<Paper>
let folders: Repository<Folder>
let notes: Repository<Note>
let photos: Repository<TestPhoto>
let storage: LocalStorage
let removeMedia: () => Promise<void>

beforeAll(async () => {
  const media = await temporaryStorage()
  storage = media.storage
  removeMedia = media.remove
  storages.register(STORAGE, storage)
  storages.register('default', storage)
  dataSource = await createTestDataSource({
    entities: [Folder, Paper, Note, TestPhoto],
    migrations: [CreateLifecycle1700000000002, CreateTestPhoto1700000000000],
  })
  papers = dataSource.getRepository(Paper)
  folders = dataSource.getRepository(Folder)
  notes = dataSource.getRepository(Note)
  photos = dataSource.getRepository(TestPhoto)
})

beforeEach(async () => {
  await dataSource.query(
    'TRUNCATE test_lifecycle_note, test_lifecycle_paper, test_lifecycle_folder, test_image_photo RESTART IDENTITY',
  )
  storages.register(STORAGE, storage)
})

afterEach(() => {
  FileColumnSubscriber.logger = stderrLogger
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

/** Writes `text` into `entity[property]`'s storage with attachFile(); resolves to the new key. */
async function attach<E extends object>(
  entity: E,
  property: keyof E & string,
  text: string,
): Promise<string> {
  const value = await attachFile(entity, property, Buffer.from(text), { name: `${text}.txt` })
  return value.path as string
}

/** A saved paper whose file column holds a file with `text`; resolves to the paper and its key. */
async function paperWithFile(slug: string, text = slug): Promise<{ paper: Paper; key: string }> {
  const paper = papers.create({ slug })
  const key = await attach(paper, 'file', text)
  await papers.save(paper)
  return { paper: await papers.findOneByOrFail({ slug }), key }
}

/** The file columns of the paper `slug`, as Postgres holds them. */
async function fileRow(slug: string): Promise<Record<string, unknown>> {
  const rows: Record<string, unknown>[] = await dataSource.query(
    `SELECT file_path, file_name, file_size, file_content_type, file_modified_at, file_sha256
       FROM test_lifecycle_paper WHERE slug = $1`,
    [slug],
  )
  return rows[0] as Record<string, unknown>
}

const exists = (key: string) => storage.exists(key)

describe('an empty file column', () => {
  beforeEach(async () => {
    await papers.save(papers.create({ slug: 'empty' }))
    await paperWithFile('full')
  })

  it('loads as null through find(), findOneBy() and findOneByOrFail()', async () => {
    expect((await papers.find({ where: { slug: 'empty' } }))[0]?.file).toBeNull()
    expect((await papers.findOneBy({ slug: 'empty' }))?.file).toBeNull()
    expect((await papers.findOneByOrFail({ slug: 'empty' })).archive).toBeNull()
  })

  it('loads as null through the query builder’s getOne() and getMany()', async () => {
    const one = await papers
      .createQueryBuilder('paper')
      .where('paper.slug = :slug', { slug: 'empty' })
      .getOne()
    expect(one?.file).toBeNull()
    const many = await papers.createQueryBuilder('paper').orderBy('paper.slug').getMany()
    expect(many.map((paper) => [paper.slug, paper.file === null])).toEqual([
      ['empty', true],
      ['full', false],
    ])
  })

  it('loads a column that holds a file as a StoredFile', async () => {
    const full = await papers.findOneByOrFail({ slug: 'full' })
    expect(full.file).toBeInstanceOf(StoredFile)
    expect(hasFile(full.file)).toBe(true)
  })

  it('is falsy, so `if (paper.file)` tells a row without a file', async () => {
    const empty = await papers.findOneByOrFail({ slug: 'empty' })
    expect(Boolean(empty.file)).toBe(false)
    expect(hasFile(empty.file)).toBe(false)
  })

  describe('on an entity loaded through a relation', () => {
    beforeEach(async () => {
      const folder = await folders.save(folders.create({ name: 'f' }))
      await papers.update({ slug: 'empty' }, { folder })
      await papers.update({ slug: 'full' }, { folder })
    })

    it('is null on the many side of a joined relation', async () => {
      const [folder] = await folders.find({ relations: { papers: true } })
      const bySlug = Object.fromEntries((folder?.papers ?? []).map((paper) => [paper.slug, paper.file]))
      expect(bySlug.empty).toBeNull()
      expect(hasFile(bySlug.full)).toBe(true)
    })

    it('is null on the one side of a joined relation', async () => {
      const paper = await papers.findOneOrFail({ where: { slug: 'empty' }, relations: { folder: true } })
      expect(paper.folder?.cover).toBeNull()
    })

    it('is null with relationLoadStrategy "query"', async () => {
      const [folder] = await folders.find({ relations: { papers: true }, relationLoadStrategy: 'query' })
      const empty = folder?.papers.find((paper) => paper.slug === 'empty')
      expect(empty).toBeDefined()
      expect(empty?.file).toBeNull()
      expect(folder?.cover).toBeNull()
    })

    it('is null through the query builder’s leftJoinAndSelect()', async () => {
      const folder = await folders
        .createQueryBuilder('folder')
        .leftJoinAndSelect('folder.papers', 'paper')
        .getOneOrFail()
      expect(folder.papers.find((paper) => paper.slug === 'empty')?.file).toBeNull()
      expect(folder.cover).toBeNull()
    })
  })
})

describe('inserting a row without a file', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
  ])('works with file: %s, and the property is null after the save', async (_label, file) => {
    const paper = papers.create({ slug: 'new', file })
    await papers.save(paper)
    expect(paper.file).toBeNull()
    expect(paper.archive).toBeNull()
    expect((await papers.findOneByOrFail({ slug: 'new' })).file).toBeNull()
  })
})

describe('assigning null and saving', () => {
  let key: string

  beforeEach(async () => {
    const paper = papers.create({ slug: 'c' })
    key = await attach(paper, 'file', 'to clear')
    await attach(paper, 'archive', 'archived')
    await papers.save(paper)
  })

  it('clears every column of the file', async () => {
    const paper = await papers.findOneByOrFail({ slug: 'c' })
    paper.file = null
    await papers.save(paper)
    expect(await fileRow('c')).toEqual({
      file_path: null,
      file_name: null,
      file_size: null,
      file_content_type: null,
      file_modified_at: null,
      file_sha256: null,
    })
  })

  it('leaves the other file columns of the row alone', async () => {
    const paper = await papers.findOneByOrFail({ slug: 'c' })
    paper.file = null
    await papers.save(paper)
    expect(hasFile((await papers.findOneByOrFail({ slug: 'c' })).archive)).toBe(true)
  })

  it('leaves null in the property after the save, and loads null afterwards', async () => {
    const paper = await papers.findOneByOrFail({ slug: 'c' })
    paper.file = null
    await papers.save(paper)
    expect(paper.file).toBeNull()
    expect((await papers.findOneByOrFail({ slug: 'c' })).file).toBeNull()
  })

  it('clears through an entity that was never loaded (only its id)', async () => {
    const { id } = await papers.findOneByOrFail({ slug: 'c' })
    await papers.save(papers.create({ id, file: null }))
    expect((await fileRow('c')).file_path).toBeNull()
  })

  it('clears on the first save of a new DataSource, before it has loaded any row itself', async () => {
    const { id } = await papers.findOneByOrFail({ slug: 'c' })
    const another = new DataSource(dataSource.options)
    await another.initialize()
    try {
      await another.getRepository(Paper).save({ id, file: null })
    } finally {
      await another.destroy()
    }
    expect((await fileRow('c')).file_path).toBeNull()
    expect(await exists(key)).toBe(false)
  })

  it('clears and deletes through a plain object saved by the repository', async () => {
    const { id } = await papers.findOneByOrFail({ slug: 'c' })
    await papers.save({ id, file: null })
    expect((await fileRow('c')).file_path).toBeNull()
    expect(await exists(key)).toBe(false)
  })

  it('deletes the cleared file once the save has committed', async () => {
    const paper = await papers.findOneByOrFail({ slug: 'c' })
    paper.file = null
    await papers.save(paper)
    expect(await exists(key)).toBe(false)
  })

  it('keeps a file that a save without the property leaves in place', async () => {
    const { id } = await papers.findOneByOrFail({ slug: 'c' })
    await papers.save({ id, slug: 'renamed' })
    expect((await fileRow('renamed')).file_path).toBe(key)
    expect(await exists(key)).toBe(true)
  })

  it('clears an image column’s image fields too', async () => {
    const photo = photos.create({ slug: 'p' })
    const imageKey = (await attachFile(photo, 'image', await images.jpeg(), { name: 'p.jpg' })).path as string
    await photos.save(photo)
    const loaded = await photos.findOneByOrFail({ slug: 'p' })
    expect(loaded.image?.width).toBe(300)
    loaded.image = null
    await photos.save(loaded)
    const [row] = await dataSource.query(
      `SELECT image_path, image_name, image_size, image_content_type, image_modified_at, image_sha256,
              image_width, image_height, image_format, image_has_alpha
         FROM test_image_photo WHERE slug = 'p'`,
    )
    expect(Object.values(row)).toEqual(Array(10).fill(null))
    expect((await photos.findOneByOrFail({ slug: 'p' })).image).toBeNull()
    expect(await exists(imageKey)).toBe(false)
  })
})

describe('replacing a file', () => {
  describe('with a save outside a transaction of our own', () => {
    it('deletes the old file once save() resolves, and keeps the new one', async () => {
      const { paper, key: old } = await paperWithFile('r')
      const fresh = await attach(paper, 'file', 'new')
      await papers.save(paper)
      expect(await exists(old)).toBe(false)
      expect(await exists(fresh)).toBe(true)
      expect((await papers.findOneByOrFail({ slug: 'r' })).file?.path).toBe(fresh)
    })

    it('deletes the old file when the new one is given by path', async () => {
      const { paper, key: old } = await paperWithFile('r')
      await storage.save('given/by-path.txt', 'by path')
      paper.file = Object.assign(new StoredFile(), { path: 'given/by-path.txt' })
      await papers.save(paper)
      expect(await exists(old)).toBe(false)
      expect(await exists('given/by-path.txt')).toBe(true)
    })

    it('deletes the old file right after the write with { transaction: false }', async () => {
      const { paper, key: old } = await paperWithFile('r')
      const fresh = await attach(paper, 'file', 'new')
      await papers.save(paper, { transaction: false })
      expect(await exists(old)).toBe(false)
      expect(await exists(fresh)).toBe(true)
    })

    it('keeps the file when a save changes other columns only', async () => {
      const { paper, key } = await paperWithFile('r')
      paper.slug = 'r2'
      await papers.save(paper)
      expect(await exists(key)).toBe(true)
    })
  })

  describe('inside dataSource.transaction()', () => {
    it('keeps the old file until the transaction commits, then deletes it', async () => {
      const { paper, key: old } = await paperWithFile('t')
      let duringTransaction: boolean | undefined
      await dataSource.transaction(async (manager) => {
        await attach(paper, 'file', 'new')
        await manager.save(paper)
        duringTransaction = await exists(old)
      })
      expect(duringTransaction).toBe(true)
      expect(await exists(old)).toBe(false)
    })

    it('keeps the old file when the transaction rolls back, and deletes the new one', async () => {
      const { paper, key: old } = await paperWithFile('t')
      let fresh = ''
      await expect(
        dataSource.transaction(async (manager) => {
          fresh = await attach(paper, 'file', 'new')
          await manager.save(paper)
          throw new Error('changed my mind')
        }),
      ).rejects.toThrow('changed my mind')
      expect(await exists(old)).toBe(true)
      expect(await exists(fresh)).toBe(false)
      expect((await papers.findOneByOrFail({ slug: 't' })).file?.path).toBe(old)
    })

    it('deletes every file the transaction replaced, once', async () => {
      const { paper, key: first } = await paperWithFile('t')
      let second = ''
      let third = ''
      await dataSource.transaction(async (manager) => {
        second = await attach(paper, 'file', 'second')
        await manager.save(paper)
        third = await attach(paper, 'file', 'third')
        await manager.save(paper)
      })
      expect([await exists(first), await exists(second), await exists(third)]).toEqual([false, false, true])
    })
  })

  describe('inside a savepoint (a nested transaction)', () => {
    /** Replaces the paper's file in a nested transaction that `fails` or not, inside `outer`. */
    async function replaceInSavepoint(manager: EntityManager, paper: Paper, fails: boolean): Promise<string> {
      let fresh = ''
      await manager
        .transaction(async (inner) => {
          fresh = await attach(paper, 'file', 'inner')
          await inner.save(paper)
          if (fails) throw new Error('inner fails')
        })
        .catch(() => undefined)
      return fresh
    }

    it('keeps the old file when the savepoint rolls back and deletes the new one after the commit', async () => {
      const { paper, key: old } = await paperWithFile('s')
      let fresh = ''
      let freshDuring: boolean | undefined
      await dataSource.transaction(async (manager) => {
        fresh = await replaceInSavepoint(manager, paper, true)
        freshDuring = await exists(fresh)
      })
      expect(freshDuring).toBe(true)
      expect(await exists(old)).toBe(true)
      expect(await exists(fresh)).toBe(false)
    })

    it('keeps the old file when the savepoint is released but the transaction rolls back', async () => {
      const { paper, key: old } = await paperWithFile('s')
      let fresh = ''
      await dataSource
        .transaction(async (manager) => {
          fresh = await replaceInSavepoint(manager, paper, false)
          throw new Error('outer fails')
        })
        .catch(() => undefined)
      expect(await exists(old)).toBe(true)
      expect(await exists(fresh)).toBe(false)
    })

    it('deletes the old file when the savepoint is released and the transaction commits', async () => {
      const { paper, key: old } = await paperWithFile('s')
      let fresh = ''
      await dataSource.transaction(async (manager) => {
        fresh = await replaceInSavepoint(manager, paper, false)
      })
      expect(await exists(old)).toBe(false)
      expect(await exists(fresh)).toBe(true)
    })
  })

  describe('with onReplace: "keep"', () => {
    it('keeps the old file', async () => {
      const paper = papers.create({ slug: 'k' })
      const old = await attach(paper, 'archive', 'old')
      await papers.save(paper)
      const fresh = await attach(paper, 'archive', 'new')
      await papers.save(paper)
      expect(await exists(old)).toBe(true)
      expect(await exists(fresh)).toBe(true)
    })

    it('keeps a cleared file', async () => {
      const paper = papers.create({ slug: 'k' })
      const old = await attach(paper, 'archive', 'old')
      await papers.save(paper)
      paper.archive = null
      await papers.save(paper)
      expect(await exists(old)).toBe(true)
    })
  })
})

describe('a save that fails', () => {
  it('deletes the file attachFile() wrote for an insert that fails', async () => {
    await papers.save(papers.create({ slug: 'taken' }))
    const paper = papers.create({ slug: 'taken' })
    const fresh = await attach(paper, 'file', 'orphan?')
    await expect(papers.save(paper)).rejects.toThrow(/unique|duplicate/i)
    expect(await exists(fresh)).toBe(false)
  })

  it('deletes the new file and keeps the old one for an update that fails', async () => {
    await papers.save(papers.create({ slug: 'taken' }))
    const { paper, key: old } = await paperWithFile('mine')
    const fresh = await attach(paper, 'file', 'new')
    paper.slug = 'taken'
    await expect(papers.save(paper)).rejects.toThrow(/unique|duplicate/i)
    expect(await exists(fresh)).toBe(false)
    expect(await exists(old)).toBe(true)
  })

  it('deletes the new file when another column of the row refuses its file', async () => {
    const paper = papers.create({ slug: 'x' })
    const fresh = await attach(paper, 'file', 'new')
    paper.archive = Object.assign(new StoredFile(), { path: 'nowhere.txt' })
    await expect(papers.save(paper)).rejects.toThrow(FileColumnError)
    expect(await exists(fresh)).toBe(false)
  })

  it('refuses to save the same value again, since its file is gone (attach again instead)', async () => {
    await papers.save(papers.create({ slug: 'taken' }))
    const paper = papers.create({ slug: 'taken' })
    await attach(paper, 'file', 'retry')
    await expect(papers.save(paper)).rejects.toThrow(/unique|duplicate/i)
    paper.slug = 'free'
    await expect(papers.save(paper)).rejects.toThrow(FileColumnError)
    const again = await attach(paper, 'file', 'retry')
    await papers.save(paper)
    expect(await exists(again)).toBe(true)
  })

  it('keeps a fresh file once a save of it has committed, whatever later saves do', async () => {
    const paper = papers.create({ slug: 'kept' })
    const fresh = await attach(paper, 'file', 'kept')
    await papers.save(paper)
    await expect(
      dataSource.transaction(async (manager) => {
        paper.slug = 'kept2'
        await manager.save(paper)
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    expect(await exists(fresh)).toBe(true)
  })
})

describe('removing a row', () => {
  it('deletes its file once remove() resolves', async () => {
    const { paper, key } = await paperWithFile('gone')
    await papers.remove(paper)
    expect(await exists(key)).toBe(false)
  })

  it('keeps the file of a column with onRemove: "keep"', async () => {
    const paper = papers.create({ slug: 'gone' })
    const kept = await attach(paper, 'archive', 'kept')
    const deleted = await attach(paper, 'file', 'deleted')
    await papers.save(paper)
    await papers.remove(paper)
    expect(await exists(kept)).toBe(true)
    expect(await exists(deleted)).toBe(false)
  })

  it('keeps the file when the removing transaction rolls back', async () => {
    const { paper, key } = await paperWithFile('stays')
    await expect(
      dataSource.transaction(async (manager) => {
        await manager.remove(paper)
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    expect(await exists(key)).toBe(true)
    expect(await papers.countBy({ slug: 'stays' })).toBe(1)
  })

  it('keeps the file on softRemove(), so that recover() brings both back', async () => {
    const { paper, key } = await paperWithFile('soft')
    await papers.softRemove(paper)
    expect(await exists(key)).toBe(true)
    await papers.recover(paper)
    const recovered = await papers.findOneByOrFail({ slug: 'soft' })
    expect(recovered.file?.path).toBe(key)
    expect(await exists(key)).toBe(true)
  })

  it('keeps the file on Repository.delete(), which TypeORM reports to no subscriber', async () => {
    const { key } = await paperWithFile('bulk')
    await papers.delete({ slug: 'bulk' })
    expect(await papers.countBy({ slug: 'bulk' })).toBe(0)
    expect(await exists(key)).toBe(true)
  })
})

describe('two rows that share a key', () => {
  it('keeps the file while the other row points at it, and deletes it with the last one', async () => {
    const { paper: first, key } = await paperWithFile('first')
    const second = await papers.save(
      papers.create({ slug: 'second', file: Object.assign(new StoredFile(), { path: key }) }),
    )
    await attach(first, 'file', 'replacement')
    await papers.save(first)
    expect(await exists(key)).toBe(true)
    await papers.remove(second)
    expect(await exists(key)).toBe(false)
  })

  it('keeps the file while a soft-removed row points at it', async () => {
    const { paper: first, key } = await paperWithFile('first')
    const second = await papers.save(
      papers.create({ slug: 'second', file: Object.assign(new StoredFile(), { path: key }) }),
    )
    await papers.softRemove(second)
    await papers.remove(first)
    expect(await exists(key)).toBe(true)
  })

  it('keeps the file while a row of another entity on the same storage points at it', async () => {
    const { paper, key } = await paperWithFile('first')
    await notes.save(notes.create({ attachment: Object.assign(new StoredFile(), { path: key }) }))
    await papers.remove(paper)
    expect(await exists(key)).toBe(true)
  })

  it('keeps the file while the other column of the same row points at it', async () => {
    const { paper, key } = await paperWithFile('both')
    paper.archive = Object.assign(new StoredFile(), { path: key })
    await papers.save(paper)
    paper.file = null
    await papers.save(paper)
    expect(await exists(key)).toBe(true)
  })
})

describe('a delete that fails', () => {
  /** The lifecycle storage, whose delete() fails as a storage that is down would. */
  class UndeletableStorage extends FaultyStorage {
    override async delete(key: string): Promise<void> {
      throw new Error(`storage is down, cannot delete ${key}`)
    }
  }

  it('does not fail the save, is logged, and leaves the file for cleanup', async () => {
    const logger = recordingLogger()
    FileColumnSubscriber.logger = logger
    const { paper, key: old } = await paperWithFile('f')
    storages.register(STORAGE, new UndeletableStorage(storage))
    const fresh = await attach(paper, 'file', 'new')
    await expect(papers.save(paper)).resolves.toBe(paper)
    expect((await papers.findOneByOrFail({ slug: 'f' })).file?.path).toBe(fresh)
    expect(await exists(old)).toBe(true)
    expect(logger.errors).toEqual([
      expect.stringContaining(`Could not delete the file "${old}" of Paper.file`),
    ])
    expect(logger.errors[0]).toContain('cleanup --orphans')
  })

  it('does not fail remove() either', async () => {
    const logger = recordingLogger()
    FileColumnSubscriber.logger = logger
    const { paper, key } = await paperWithFile('f')
    storages.register(STORAGE, new UndeletableStorage(storage))
    await expect(papers.remove(paper)).resolves.toBeDefined()
    expect(await papers.countBy({ slug: 'f' })).toBe(0)
    expect(await exists(key)).toBe(true)
    expect(logger.errors).toHaveLength(1)
  })

  it('is logged when the storage is no longer registered', async () => {
    const logger = recordingLogger()
    FileColumnSubscriber.logger = logger
    const { paper } = await paperWithFile('f')
    storages.clear(STORAGE)
    paper.file = null
    await papers.save(paper)
    expect(logger.errors).toEqual([expect.stringContaining('Could not delete')])
  })
})
