/**
 * The typeorm-downloadview bin on real Postgres: check, backfill and cleanup, run as a child
 * process against seeded drift (a missing file, changed files, an orphan, incomplete metadata).
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { DataSource, DeleteDateColumn, Entity, In, PrimaryGeneratedColumn, type Repository } from 'typeorm'
import { Document } from '../../entities/Document'
import { Photo } from '../../entities/Photo'
import { attachFile, FileColumn, StoredFile, storages } from '../../src'
import { main } from '../../src/cli/main'
import { isReferencedNow, KeyFilter, References } from '../../src/cli/orphans'
import { findFileEntities, resolveStorages } from '../../src/cli/scan'
import { LocalStorage } from '../../src/storage/local-storage'
import { createTestDataSource, resetDatabase } from '../helpers/database'
import { images, truncatedPng } from '../helpers/image-entities'

/** A row with a file in the "attachments" storage that can be soft-deleted (and restored). */
@Entity({ name: 'cli_note' })
class Note {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @FileColumn({ storage: 'attachments' })
  file!: StoredFile | null

  @DeleteDateColumn({ type: 'timestamptz', name: 'deleted_at' })
  deletedAt!: Date | null
}

const REPOSITORY = path.resolve(__dirname, '..', '..')
const BIN = path.join(REPOSITORY, 'bin', 'typeorm-downloadview.js')

let dataSource: DataSource
let documents: Repository<Document>
let scratch: string
let root: string
let dataSourceFile: string
let testStorage: LocalStorage

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

interface BinRun {
  status: number
  stdout: string
  stderr: string
}

/** Runs the bin as a user would, from the repository root, and resolves however it exits. */
function runBin(...args: string[]): Promise<BinRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPOSITORY, timeout: 20_000 },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ status, stdout, stderr })
      },
    )
  })
}

/** `command -d <the test DataSource> --storage default=<root> ...args`. */
const cli = (command: string, ...args: string[]) =>
  runBin(command, '-d', dataSourceFile, '--storage', `default=${root}`, ...args)

/** The one JSON document a `--json` run prints. */
const json = (run: BinRun) =>
  JSON.parse(run.stdout) as Record<string, unknown> & { counts: Record<string, number> }

const files = async () => (await readdir(root, { recursive: true })).map(String).sort()

/**
 * Rows 1–6 with files saved through the save hook, then the drift:
 * 1 ok (two files), 2 missing (file deleted), 3 same-size (other bytes, same size),
 * 4 resized (other size), 5 incomplete (size, mtime, SHA-256 set to NULL), 6 no file;
 * plus an orphan, derived files under variants/ and a save in progress (.part).
 */
async function seedDrift(): Promise<void> {
  await resetDatabase(dataSource)
  await rm(root, { recursive: true, force: true })
  const storage = storages.get()
  const add = async (slug: string, file?: [string, string], anotherFile?: [string, string]) => {
    const document = documents.create({ slug, title: slug, file: null, anotherFile: null })
    for (const [property, spec] of [
      ['file', file],
      ['anotherFile', anotherFile],
    ] as const) {
      if (!spec) continue
      await storage.save(spec[0], spec[1])
      document[property] = Object.assign(new StoredFile(), { path: spec[0] })
    }
    await documents.save(document)
  }
  await add('ok', ['docs/ok.txt', 'all good\n'], ['docs/ok-another.txt', 'also good\n'])
  await add('missing', ['docs/missing.txt', 'soon gone\n'])
  await add('same-size', ['docs/same-size.txt', 'AAAA'])
  await add('resized', ['docs/resized.txt', 'short'])
  await add('incomplete', ['docs/incomplete.txt', 'metadata lost\n'])
  await add('no-file')

  await unlink(path.join(root, 'docs', 'missing.txt'))
  await writeFile(path.join(root, 'docs', 'same-size.txt'), 'BBBB')
  await writeFile(path.join(root, 'docs', 'resized.txt'), 'a good deal longer')
  await dataSource.query(
    `UPDATE document SET file_size = NULL, file_modified_at = NULL, file_sha256 = NULL WHERE slug = 'incomplete'`,
  )
  await mkdir(path.join(root, 'stray'), { recursive: true })
  await writeFile(path.join(root, 'stray', 'orphan.bin'), 'nobody wants')
  await mkdir(path.join(root, 'variants', 'docs', 'ok.txt'), { recursive: true })
  await writeFile(path.join(root, 'variants', 'docs', 'ok.txt', 'w200.webp'), 'derived')
  await writeFile(path.join(root, 'variants', 'unreferenced.webp'), 'derived too')
  await writeFile(path.join(root, 'docs', '.upload.txt.0123456789ab.part'), 'half an upload')
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'downloadview-cli-'))
  root = path.join(scratch, 'media')
  testStorage = new LocalStorage({ root })
  storages.register('default', testStorage)
  dataSource = await createTestDataSource()
  documents = dataSource.getRepository(Document)
  // The DataSource file a user would write: the test database, the demo entity, no storage. It lives
  // outside the repository, so it names the repository's typeorm by path.
  dataSourceFile = path.join(scratch, 'data-source.ts')
  const { url } = dataSource.options as { url?: string }
  await writeFile(
    dataSourceFile,
    [
      `import { DataSource } from ${JSON.stringify(require.resolve('typeorm'))}`,
      `import { Document } from ${JSON.stringify(path.join(REPOSITORY, 'entities', 'Document'))}`,
      `export default new DataSource({ type: 'postgres', url: ${JSON.stringify(url)}, entities: [Document] })`,
      '',
    ].join('\n'),
  )
})

afterAll(async () => {
  await dataSource.destroy()
  await rm(scratch, { recursive: true, force: true })
  storages.clear()
})

describe('typeorm-downloadview check', () => {
  let human: BinRun
  let machine: BinRun

  beforeAll(async () => {
    await seedDrift() // The JSON run pages two rows at a time: the keyset must neither skip nor repeat a row.
    ;[human, machine] = await Promise.all([cli('check'), cli('check', '--json', '--batch-size', '2')])
  })

  describe('with drift', () => {
    it('exits 1', () => {
      expect(human.stderr).not.toContain('Error')
      expect(human.status).toBe(1)
      expect(machine.status).toBe(1)
    })

    it('prints one line per problem and per incomplete file', () => {
      const lines = human.stdout.split('\n')
      expect(lines).toContain('missing     Document#2.file  docs/missing.txt: not found')
      expect(lines).toContain(
        'changed     Document#3.file  docs/same-size.txt: SHA-256 differs (same size, 4 bytes)',
      )
      expect(lines).toContain('changed     Document#4.file  docs/resized.txt: size 5 → 18 bytes')
      expect(lines).toContain(
        'incomplete  Document#5.file  docs/incomplete.txt: no size, modifiedAt, sha256 (backfill fills them)',
      )
      expect(lines.filter((line) => line.startsWith('orphan'))).toEqual([
        expect.stringMatching(/^orphan {6}default {2}stray\/orphan\.bin \(12 bytes, modified \d{4}-/),
      ])
    })

    it('ends with a summary', () => {
      expect(human.stdout).toContain(
        'Checked 5 rows (6 files) of Document; listed 6 stored files.\n' +
          'Problems: 1 missing, 2 changed, 1 orphan.\n' +
          'Warning: 1 file with incomplete metadata; run backfill to fill it.\n',
      )
    })

    it('never reports variants/ or the .part file of a save in progress', () => {
      expect(human.stdout).not.toContain('variants/')
      expect(human.stdout).not.toContain('.part')
    })

    it('prints plain progress lines on stderr, which is no terminal here', () => {
      expect(human.stderr).toMatch(/^Document {2}5\/5 rows in \d+\.\ds {2}\d[\d,]* rows\/s$/m)
      expect(human.stderr).toMatch(/^orphans in default {2}6 files in \d+\.\ds/m)
      expect(human.stderr).not.toContain('\r')
    })

    it('prints one JSON document with an array per problem kind and the counts', () => {
      const report = json(machine)
      expect(report.ok).toBe(false)
      expect(report.counts).toEqual({
        rows: 5,
        files: 6,
        missing: 1,
        changed: 2,
        incomplete: 1,
        undecodable: 0,
        orphans: 1,
        listed: 6,
        recent: 0,
        decoded: 0,
      })
      const place = { entity: 'Document', column: 'file', storage: 'default' }
      expect(report.missing).toEqual([{ ...place, id: 2, path: 'docs/missing.txt', reason: 'not found' }])
      expect(report.changed).toEqual([
        {
          ...place,
          id: 3,
          path: 'docs/same-size.txt',
          reason: 'sha256',
          expected: { size: 4, sha256: sha256('AAAA') },
          actual: { size: 4, sha256: sha256('BBBB') },
        },
        {
          ...place,
          id: 4,
          path: 'docs/resized.txt',
          reason: 'size',
          expected: { size: 5, sha256: sha256('short') },
          actual: { size: 18 },
        },
      ])
      expect(report.incomplete).toEqual([
        { ...place, id: 5, path: 'docs/incomplete.txt', fields: ['size', 'modifiedAt', 'sha256'] },
      ])
      expect(report.orphans).toEqual([
        { storage: 'default', path: 'stray/orphan.bin', size: 12, modifiedAt: expect.any(String) },
      ])
      expect(report.undecodable).toEqual([])
      expect(report.warnings).toEqual([])
    })
  })

  describe('with --no-checksum', () => {
    it('reports a change of size but not a change of bytes', async () => {
      const report = json(await cli('check', '--json', '--no-checksum'))
      expect(report.changed).toEqual([expect.objectContaining({ path: 'docs/resized.txt', reason: 'size' })])
    })
  })

  describe('with --no-orphans', () => {
    it('lists no storage', async () => {
      const report = json(await cli('check', '--json', '--no-orphans'))
      expect(report.orphans).toEqual([])
      expect(report.counts.listed).toBe(0)
    })
  })

  describe('with --prefix, --exclude and --min-age', () => {
    it('looks for orphans only under the prefix', async () => {
      const report = json(await cli('check', '--json', '--prefix', 'docs/'))
      expect(report.orphans).toEqual([])
      expect(report.counts.listed).toBe(5)
    })

    it('leaves out excluded keys and files younger than --min-age', async () => {
      const [excluded, young] = await Promise.all([
        cli('check', '--json', '--exclude', 'stray/'),
        cli('check', '--json', '--min-age', '1h'),
      ])
      expect(json(excluded).orphans).toEqual([])
      expect(json(young).orphans).toEqual([])
      expect(json(young).counts.recent).toBe(1)
    })
  })

  describe('without drift', () => {
    it('exits 0 and says so', async () => {
      await documents.delete({ slug: In(['missing', 'same-size', 'resized']) })
      for (const file of ['stray/orphan.bin', 'docs/same-size.txt', 'docs/resized.txt'])
        await unlink(path.join(root, file))
      const run = await cli('check')
      expect(run.status).toBe(0)
      expect(run.stdout).toContain('No problems.\n')
    })
  })
})

describe('typeorm-downloadview check --decode-images', () => {
  let photoDataSourceFile: string
  let brokenPath: string

  /** `check` on Photo alone (a DataSource file with only that entity), without the orphan scan. */
  const checkPhotos = (...args: string[]) =>
    runBin('check', '-d', photoDataSourceFile, '--storage', `default=${root}`, '--no-orphans', ...args)

  beforeAll(async () => {
    await resetDatabase(dataSource)
    await rm(root, { recursive: true, force: true })
    photoDataSourceFile = path.join(scratch, 'photo-data-source.ts')
    const { url } = dataSource.options as { url?: string }
    await writeFile(
      photoDataSourceFile,
      [
        `import { DataSource } from ${JSON.stringify(require.resolve('typeorm'))}`,
        `import { Photo } from ${JSON.stringify(path.join(REPOSITORY, 'entities', 'Photo'))}`,
        `export default new DataSource({ type: 'postgres', url: ${JSON.stringify(url)}, entities: [Photo] })`,
        '',
      ].join('\n'),
    )
    // Both saved with attachFile(), which reads only the header: the PNG cut short gets in.
    const photos = dataSource.getRepository(Photo)
    const good = photos.create({ slug: 'good', title: 'good' })
    await attachFile(good, 'image', await images.jpeg(), { name: 'good.jpg' })
    await photos.save(good)
    const broken = photos.create({ slug: 'broken', title: 'broken' })
    await attachFile(broken, 'image', truncatedPng(), { name: 'broken.png' })
    await photos.save(broken)
    brokenPath = broken.image?.path as string
  })

  it('without it, decodes nothing and finds no problem', async () => {
    const run = await checkPhotos('--json')
    expect(run.status).toBe(0)
    expect(json(run).counts).toMatchObject({ rows: 2, files: 2, decoded: 0, undecodable: 0 })
  })

  it('reports the stored image that does not decode, and exits 1', async () => {
    const run = await checkPhotos('--decode-images')
    expect(run.status).toBe(1)
    expect(run.stdout).toBe(
      `undecodable Photo#2.image  ${brokenPath}: vipspng: libpng read error\n` +
        'Checked 2 rows (2 files; decoded 2 images) of Photo.\n' +
        'Problems: 1 undecodable.\n',
    )
  })

  it('lists it in the JSON report', async () => {
    const run = await checkPhotos('--decode-images', '--json')
    expect(run.status).toBe(1)
    const report = json(run)
    expect(report.ok).toBe(false)
    expect(report.counts).toMatchObject({ rows: 2, files: 2, decoded: 2, undecodable: 1 })
    expect(report.undecodable).toEqual([
      {
        entity: 'Photo',
        id: 2,
        column: 'image',
        storage: 'default',
        path: brokenPath,
        reason: 'vipspng: libpng read error',
      },
    ])
  })
})

describe('typeorm-downloadview backfill of photos saved before the thumbhash column', () => {
  let photoDataSourceFile: string
  let madeHash: string

  /** `command` on Photo alone. */
  const onPhotos = (command: string, ...args: string[]) =>
    runBin(command, '-d', photoDataSourceFile, '--storage', `default=${root}`, ...args)
  const thumbhashes = async () =>
    Object.fromEntries(
      (
        (await dataSource.query(`SELECT slug, image_thumbhash FROM photo ORDER BY id`)) as {
          slug: string
          image_thumbhash: string | null
        }[]
      ).map((row) => [row.slug, row.image_thumbhash]),
    )

  beforeAll(async () => {
    await resetDatabase(dataSource)
    await rm(root, { recursive: true, force: true })
    photoDataSourceFile = path.join(scratch, 'photo-backfill-data-source.ts')
    const { url } = dataSource.options as { url?: string }
    await writeFile(
      photoDataSourceFile,
      [
        `import { DataSource } from ${JSON.stringify(require.resolve('typeorm'))}`,
        `import { Photo } from ${JSON.stringify(path.join(REPOSITORY, 'entities', 'Photo'))}`,
        `export default new DataSource({ type: 'postgres', url: ${JSON.stringify(url)}, entities: [Photo] })`,
        '',
      ].join('\n'),
    )
    const photos = dataSource.getRepository(Photo)
    const good = photos.create({ slug: 'good', title: 'good' })
    await attachFile(good, 'image', await images.jpeg(), { name: 'good.jpg' })
    await photos.save(good)
    madeHash = good.image?.thumbhash as string
    // Its pixels do not decode: saved with an empty thumbhash, which is final.
    const broken = photos.create({ slug: 'broken', title: 'broken' })
    await attachFile(broken, 'image', truncatedPng(), { name: 'broken.png' })
    await photos.save(broken)
    // As the AddPhotoThumbhash migration leaves the rows saved before it.
    await dataSource.query(`UPDATE photo SET image_thumbhash = NULL WHERE slug = 'good'`)
  })

  it('check reports the missing thumbhash as incomplete metadata', async () => {
    const run = await onPhotos('check', '--json', '--no-orphans')
    expect(run.status).toBe(0)
    expect((json(run) as unknown as { incomplete: { id: number; fields: string[] }[] }).incomplete).toEqual([
      expect.objectContaining({ id: 1, fields: ['thumbhash'] }),
    ])
  })

  it('backfill fills it with the ThumbHash the save made, and leaves the undecodable image alone', async () => {
    const run = await onPhotos('backfill', '--json')
    expect(run.status).toBe(0)
    expect(json(run).counts).toMatchObject({ rows: 1, filled: 1, failed: 0 })
    expect(await thumbhashes()).toEqual({ good: madeHash, broken: '' })
  })

  it('then finds nothing to fill', async () => {
    const run = await onPhotos('backfill')
    expect(run.stdout).toBe('Photo: nothing to fill.\n')
  })
})

describe('typeorm-downloadview check --json with a DataSource that logs its queries', () => {
  it('keeps stdout to the one JSON document: the query log goes to stderr', async () => {
    const logging = path.join(scratch, 'logging-data-source.ts')
    const { url } = dataSource.options as { url?: string }
    await writeFile(
      logging,
      [
        `import { DataSource } from ${JSON.stringify(require.resolve('typeorm'))}`,
        `import { Document } from ${JSON.stringify(path.join(REPOSITORY, 'entities', 'Document'))}`,
        `export default new DataSource({ type: 'postgres', url: ${JSON.stringify(url)}, entities: [Document], logging: true })`,
        '',
      ].join('\n'),
    )
    const run = await runBin('check', '-d', logging, '--storage', `default=${root}`, '--json', '--quiet')
    expect(JSON.parse(run.stdout)).toMatchObject({ command: 'check' })
    expect(run.stderr).toMatch(/SELECT/)
  })
})

describe('typeorm-downloadview with a bad configuration', () => {
  it('exits 2 and names a storage that is not registered', async () => {
    const run = await runBin('check', '-d', dataSourceFile)
    expect(run.status).toBe(2)
    expect(run.stderr).toContain(
      'Storage "default" is not registered (used by Document.file, Document.anotherFile): pass --storage default=<path>',
    )
  })

  it('exits 2 with the usage hint for an unknown option', async () => {
    const run = await runBin('check', '-d', dataSourceFile, '--bogus')
    expect(run.status).toBe(2)
    expect(run.stderr).toMatch(/^typeorm-downloadview: check: Unknown option '--bogus'/)
    expect(run.stderr).toContain('\nRun typeorm-downloadview --help for usage.\n')
  })

  it('exits 2 for a DataSource file that does not exist', async () => {
    const run = await runBin('check', '-d', 'nowhere.ts')
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('No DataSource file at nowhere.ts')
  })

  it('prints the help and exits 0 for --help', async () => {
    const run = await runBin('--help')
    expect(run.status).toBe(0)
    expect(run.stdout).toMatch(/^Usage: typeorm-downloadview <command> -d <data-source file>/)
  })
})

describe('typeorm-downloadview backfill', () => {
  const metadataOf = async (slug: string) => {
    const [row] = await dataSource.query(
      'SELECT file_size, file_sha256, file_modified_at, file_content_type, file_name, title FROM document WHERE slug = $1',
      [slug],
    )
    return row as Record<string, unknown>
  }

  beforeAll(seedDrift)

  it('fills the metadata of the incomplete row and says where it stopped', async () => {
    const run = await cli('backfill')
    expect(run.status).toBe(0)
    expect(run.stdout).toBe('Document: 1 row filled; last key 5.\n')
    expect(await metadataOf('incomplete')).toEqual({
      file_size: '14',
      file_sha256: sha256('metadata lost\n'),
      file_modified_at: expect.any(Date),
      file_content_type: 'text/plain',
      file_name: 'incomplete.txt',
      title: 'incomplete',
    })
  })

  it('is idempotent: a second run finds nothing to fill and changes nothing', async () => {
    const before = await metadataOf('incomplete')
    const run = await cli('backfill')
    expect(run.status).toBe(0)
    expect(run.stdout).toBe('Document: nothing to fill.\n')
    expect(await metadataOf('incomplete')).toEqual(before)
  })

  it('fills an empty content type, as the save hook would', async () => {
    await dataSource.query(`UPDATE document SET file_content_type = '' WHERE slug = 'incomplete'`)
    const run = await cli('backfill')
    expect(run.status).toBe(0)
    expect(run.stdout).toBe('Document: 1 row filled; last key 5.\n')
    expect((await metadataOf('incomplete')).file_content_type).toBe('text/plain')
  })

  it('reports a file it cannot describe, fills the rest, and exits 1', async () => {
    await dataSource.query(`UPDATE document SET file_sha256 = NULL WHERE slug IN ('missing', 'incomplete')`)
    const run = await cli('backfill', '--json', '--batch-size', '1')
    expect(run.status).toBe(1)
    const report = json(run)
    expect(report.counts).toEqual({ rows: 2, filled: 1, failed: 1, skipped: 0 })
    expect(report.failed).toEqual([
      {
        entity: 'Document',
        id: 2,
        column: 'file',
        storage: 'default',
        path: 'docs/missing.txt',
        reason: expect.stringContaining('No file at "docs/missing.txt"'),
      },
    ])
    expect(report.entities).toEqual([
      { entity: 'Document', rows: 2, filled: 1, failed: 1, skipped: 0, lastKey: '5' },
    ])
    expect((await metadataOf('incomplete')).file_sha256).toBe(sha256('metadata lost\n'))
  })

  it('starts after --resume-from', async () => {
    await dataSource.query(`UPDATE document SET file_size = NULL WHERE slug IN ('ok', 'incomplete')`)
    const after5 = await cli('backfill', '--resume-from', '5', '--json')
    expect(json(after5).counts.rows).toBe(0)
    const after4 = await cli('backfill', '--resume-from', '4', '--entity', 'Document', '--json')
    expect(json(after4).counts).toMatchObject({ rows: 1, filled: 1 })
    expect((await metadataOf('incomplete')).file_size).toBe('14')
    expect((await metadataOf('ok')).file_size).toBeNull()
  })

  it('fills the CRC-32 that a row saved before its column existed lacks (ZIP archives need it)', async () => {
    await dataSource.query(`UPDATE document SET file_crc32 = NULL WHERE slug = 'incomplete'`)
    const check = await cli('check', '--json', '--no-orphans')
    expect(
      (json(check) as unknown as { incomplete: { id: number; fields: string[] }[] }).incomplete,
    ).toContainEqual(expect.objectContaining({ id: 5, fields: ['crc32'] }))
    const run = await cli('backfill', '--resume-from', '4', '--entity', 'Document', '--json')
    expect(json(run).counts).toMatchObject({ rows: 1, filled: 1, failed: 0 })
    const [row] = await dataSource.query(`SELECT file_crc32 FROM document WHERE slug = 'incomplete'`)
    // zlib.crc32(b'metadata lost\n'); pg hands a bigint over as a string
    expect(row.file_crc32).toBe('478350999')
  })
})

describe('typeorm-downloadview cleanup --orphans', () => {
  beforeAll(seedDrift)

  it('leaves files younger than --min-age (1h by default) alone', async () => {
    const run = await cli('cleanup', '--orphans')
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('Left alone: 1 unreferenced file younger than --min-age.\n')
    expect(await files()).toContain(path.join('stray', 'orphan.bin'))
  })

  it('lists the orphan but keeps it in a dry run, the default', async () => {
    const run = await cli('cleanup', '--orphans', '--min-age', '0')
    expect(run.status).toBe(0)
    expect(run.stdout).toBe(
      'would delete  default  stray/orphan.bin (12 bytes)\n' +
        'Scanned 5 rows and 6 stored files.\n' +
        'Dry run: 1 orphan file (12 bytes) would be deleted. Run again with --delete to delete them.\n',
    )
    expect(await files()).toContain(path.join('stray', 'orphan.bin'))
  })

  it('deletes it with --delete, and touches nothing else', async () => {
    const before = await files()
    const run = await cli('cleanup', '--orphans', '--min-age', '0', '--delete', '--json', '--batch-size', '2')
    expect(run.status).toBe(0)
    const report = json(run)
    expect(report.counts).toMatchObject({ rows: 5, orphans: 1, deleted: 1, failed: 0 })
    expect(await files()).toEqual(before.filter((file) => file !== path.join('stray', 'orphan.bin')))
    expect(await files()).toEqual(
      expect.arrayContaining([
        path.join('variants', 'docs', 'ok.txt', 'w200.webp'),
        path.join('variants', 'unreferenced.webp'),
        path.join('docs', '.upload.txt.0123456789ab.part'),
        path.join('docs', 'ok.txt'),
      ]),
    )
  })

  it('finds nothing more to do afterwards', async () => {
    const run = await cli('cleanup', '--orphans', '--min-age', '0', '--no-dry-run')
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('Deleted 0 orphan files (0 bytes).\n')
  })
})

describe('isReferencedNow(), asked right before each delete', () => {
  beforeAll(seedDrift)

  it('finds a key that a row references, in any file column, and no other', async () => {
    const entities = findFileEntities(dataSource).filter((entity) => entity.name === 'Document')
    const storageOf = resolveStorages(entities)
    const [scan] = new References(new KeyFilter({ prefix: '', exclude: [] }), storageOf, entities).storages
    if (!scan) throw new Error('no storage to scan')
    expect(await isReferencedNow(dataSource, scan, 'docs/ok.txt')).toBe(true)
    expect(await isReferencedNow(dataSource, scan, 'docs/ok-another.txt')).toBe(true)
    expect(await isReferencedNow(dataSource, scan, 'stray/orphan.bin')).toBe(false)
  })
})

describe('backfill interrupted (Ctrl-C) before its first page', () => {
  beforeAll(seedDrift)

  it('writes nothing, says so, and returns 130', async () => {
    // In-process, so the signal can be aborted up front: a .js DataSource file, which Jest loads as is.
    const file = path.join(scratch, 'in-process.js')
    const { url } = dataSource.options as { url?: string }
    await writeFile(
      file,
      [
        `const { DataSource } = require(${JSON.stringify(require.resolve('typeorm'))})`,
        `const { Document } = require(${JSON.stringify(path.join(REPOSITORY, 'entities', 'Document'))})`,
        `module.exports = new DataSource({ type: 'postgres', url: ${JSON.stringify(url)}, entities: [Document] })`,
        '',
      ].join('\n'),
    )
    let stdout = ''
    const controller = new AbortController()
    controller.abort()
    const status = await main(['backfill', '-d', file, '--storage', `default=${root}`, '--quiet'], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: () => true },
      cwd: REPOSITORY,
      signal: controller.signal,
    })
    expect(status).toBe(130)
    expect(stdout).toBe('Interrupted before any page was written.\n')
    const [row] = await dataSource.query(`SELECT file_size FROM document WHERE slug = 'incomplete'`)
    expect(row.file_size).toBeNull()
  })

  it('gives the storage that --storage replaced back to the registry', () => {
    expect(storages.get()).toBe(testStorage)
  })
})

describe('cleanup --orphans with rows of Note (storage "attachments", soft-deletable)', () => {
  const globals = globalThis as typeof globalThis & { __cliNotesDataSource?: DataSource }
  let runs = 0

  /** A DataSource for Document and Note on the test database, as a user's DataSource file would give. */
  const notesDataSource = () =>
    new DataSource({
      type: 'postgres',
      url: (dataSource.options as { url?: string }).url,
      entities: [Document, Note],
    })

  /** `cleanup --orphans --delete --min-age 0 --json` in-process, with these `--storage` options. */
  async function cleanup(...storageOptions: string[]): Promise<Record<string, unknown>> {
    // A new file each run: the module registry would hand back the first run's (destroyed) DataSource.
    const file = path.join(scratch, `notes-${++runs}.js`)
    await writeFile(file, 'module.exports = globalThis.__cliNotesDataSource\n')
    globals.__cliNotesDataSource = notesDataSource()
    let stdout = ''
    const status = await main(
      [
        'cleanup',
        '--orphans',
        '--delete',
        '--min-age',
        '0',
        '--json',
        '--quiet',
        '-d',
        file,
        ...storageOptions,
      ],
      {
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: () => true },
        cwd: REPOSITORY,
      },
    )
    expect(status).toBe(0)
    return JSON.parse(stdout) as Record<string, unknown>
  }

  const addNote = async (filePath: string, deleted = false) =>
    dataSource.query(
      `INSERT INTO cli_note (file_path, deleted_at) VALUES ($1, ${deleted ? 'now()' : 'NULL'})`,
      [filePath],
    )

  const put = async (file: string, text: string) => {
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, text)
  }

  beforeAll(async () => {
    await dataSource.query(`
      CREATE TABLE cli_note (
        "id" SERIAL PRIMARY KEY,
        "file_path" text, "file_name" text, "file_size" bigint, "file_content_type" text,
        "file_modified_at" TIMESTAMP WITH TIME ZONE, "file_sha256" character(64), "file_crc32" bigint,
        "deleted_at" TIMESTAMP WITH TIME ZONE
      )`)
  })

  beforeEach(async () => {
    await resetDatabase(dataSource)
    await dataSource.query('TRUNCATE cli_note RESTART IDENTITY')
    await rm(root, { recursive: true, force: true })
    await rm(path.join(scratch, 'attachments'), { recursive: true, force: true })
    await put(path.join(root, 'docs', 'ok.txt'), 'all good\n')
    await documents.save(
      documents.create({ slug: 'ok', file: Object.assign(new StoredFile(), { path: 'docs/ok.txt' }) }),
    )
  })

  afterAll(() => {
    delete globals.__cliNotesDataSource
  })

  describe('when a soft-deleted row references a file', () => {
    it('keeps the file, which a restore would need', async () => {
      const attachments = path.join(scratch, 'attachments')
      await put(path.join(attachments, 'kept.txt'), 'in the bin, not gone')
      await put(path.join(attachments, 'stray.txt'), 'nobody wants')
      await addNote('kept.txt', true)
      const report = await cleanup('--storage', `default=${root}`, '--storage', `attachments=${attachments}`)
      expect(report.orphans).toEqual([expect.objectContaining({ storage: 'attachments', path: 'stray.txt' })])
      expect(await readdir(attachments)).toEqual(['kept.txt'])
    })
  })

  describe('when two storages share one root', () => {
    it("deletes neither storage's referenced files, and lists the root once", async () => {
      await put(path.join(root, 'notes', 'n.txt'), 'a note')
      await put(path.join(root, 'stray.txt'), 'nobody wants')
      await addNote('notes/n.txt')
      const report = await cleanup('--storage', `default=${root}`, '--storage', `attachments=${root}`)
      expect(report.orphans).toEqual([
        expect.objectContaining({ storage: 'default,attachments', path: 'stray.txt' }),
      ])
      expect(await files()).toEqual([
        'docs',
        path.join('docs', 'ok.txt'),
        'notes',
        path.join('notes', 'n.txt'),
      ])
    })
  })

  describe("when one storage's root lies inside another's", () => {
    it("deletes none of the inner storage's referenced files through the outer one", async () => {
      await put(path.join(root, 'attachments', 'n.txt'), 'a note')
      await put(path.join(root, 'attachments', 'stray.txt'), 'nobody wants')
      await addNote('n.txt')
      await cleanup(
        '--storage',
        `default=${root}`,
        '--storage',
        `attachments=${path.join(root, 'attachments')}`,
      )
      expect(await files()).toEqual([
        'attachments',
        path.join('attachments', 'n.txt'),
        'docs',
        path.join('docs', 'ok.txt'),
      ])
    })

    it("deletes none of the outer storage's referenced files through the inner one", async () => {
      await put(path.join(root, 'attachments', 'by-document.txt'), 'a document file')
      await documents.save(
        documents.create({
          slug: 'inside',
          file: Object.assign(new StoredFile(), { path: 'attachments/by-document.txt' }),
        }),
      )
      await cleanup(
        '--storage',
        `default=${root}`,
        '--storage',
        `attachments=${path.join(root, 'attachments')}`,
      )
      expect(await files()).toContain(path.join('attachments', 'by-document.txt'))
    })

    it('finds, right before a delete, a row that references the file through the other storage', async () => {
      await addNote('n.txt')
      const notes = notesDataSource()
      await notes.initialize()
      try {
        const entities = findFileEntities(notes)
        const storageOf = new Map(
          entities.flatMap((entity) =>
            entity.columns.map((column) => [
              column,
              new LocalStorage({
                root: column.storage === 'default' ? root : path.join(root, 'attachments'),
              }),
            ]),
          ),
        )
        const references = new References(new KeyFilter({ prefix: '', exclude: [] }), storageOf, entities)
        const outer = references.storages.find((scan) => scan.names.includes('default'))
        if (!outer) throw new Error('no scan of the default storage')
        expect(await isReferencedNow(notes, outer, 'attachments/n.txt')).toBe(true)
        expect(await isReferencedNow(notes, outer, 'attachments/other.txt')).toBe(false)
      } finally {
        await notes.destroy()
      }
    })
  })
})
