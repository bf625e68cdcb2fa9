/**
 * The README's examples compile. Every ```ts block preceded by `<!-- example: names -->` is written
 * to a file of its own, with the names imported from a prelude (the app, the DataSource, the
 * entities the prose speaks of), and the lot is checked with tsc against the library's entries
 * (`typeorm-downloadview` and its subpaths mapped onto src/), strict, as a user's project would be.
 * The packed library's own README app is built by test/package/consumer.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const repo = path.join(__dirname, '../..')
const readme = readFileSync(path.join(repo, 'README.md'), 'utf8')

/** What the examples take for granted, as a user's app would have it. */
const PRELUDE = `import express from 'express'
import Fastify from 'fastify'
import {
  Column,
  DataSource,
  Entity,
  ManyToOne,
  PrimaryGeneratedColumn,
  type Repository,
} from 'typeorm'
import type { IncomingMessage } from 'node:http'
import { FileColumn, type StoredFile } from 'typeorm-downloadview'

export { AccessDeniedError, ObjectDownloadView } from 'typeorm-downloadview'

@Entity()
export class Document {
  @PrimaryGeneratedColumn() id!: number
  @Column({ type: 'text', unique: true }) slug!: string
  @Column({ type: 'text' }) title!: string
  @FileColumn() file!: StoredFile | null
}

@Entity()
export class User {
  @PrimaryGeneratedColumn() id!: number
}

@Entity()
export class Team {
  @PrimaryGeneratedColumn() id!: number
}

@Entity()
export class Report {
  @PrimaryGeneratedColumn() id!: number
  @Column({ type: 'text', unique: true }) slug!: string
  @ManyToOne(() => User) owner!: User | null
  @ManyToOne(() => Team) team!: Team | null
  @Column({ type: 'timestamptz', nullable: true }) archivedAt!: Date | null
  @Column({ type: 'boolean' }) confidential!: boolean
  @FileColumn() pdf!: StoredFile | null
}

export const dataSource = new DataSource({ type: 'postgres', entities: [Document, User, Team, Report] })
export const documents: Repository<Document> = dataSource.getRepository(Document)
export const app = express()
export const fastifyApp = Fastify()
export const pdfBytes = Buffer.from('%PDF-1.7')
export const log = { error: (_fields: object, _message: string) => undefined }
export const userOf = (req: IncomingMessage) =>
  (req as IncomingMessage & { user: { id: number; teamIds: number[] } }).user
`

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    // As a bundled or ESM app has it: top-level await, imports without extensions.
    module: 'preserve',
    moduleResolution: 'bundler',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    useDefineForClassFields: false,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    rootDir: '../..',
    paths: {
      'typeorm-downloadview': ['../../src/index.ts'],
      'typeorm-downloadview/*': ['../../src/*/index.ts'],
    },
  },
  include: ['*.ts'],
}

interface Example {
  line: number
  /** `name` or `name as alias`, imported from the prelude. */
  names: string[]
  code: string
}

/** The marked examples of the README, in order. */
function examples(): Example[] {
  const found: Example[] = []
  for (const match of readme.matchAll(/<!-- example:([^>]*)-->\s*\n```ts\n([\s\S]*?)^```$/gm)) {
    const names = (match[1] ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '')
    found.push({ line: readme.slice(0, match.index).split('\n').length, names, code: match[2] ?? '' })
  }
  return found
}

/** Writes the examples (and the prelude) into `dir` and runs tsc there; its output, or '' when clean. */
function typecheck(dir: string, list: Example[]): { code: number | null; output: string } {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2))
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
  writeFileSync(path.join(dir, 'prelude.ts'), PRELUDE)
  // What `import { Document } from './document'` finds.
  writeFileSync(path.join(dir, 'document.ts'), "export { Document } from './prelude'\n")
  for (const example of list) {
    const imports = example.names.length ? `import { ${example.names.join(', ')} } from './prelude'\n` : ''
    // `export {}`: each example a module of its own (top-level await, its own names).
    writeFileSync(path.join(dir, `readme-line-${example.line}.ts`), `${imports}${example.code}\nexport {}\n`)
  }
  const result = spawnSync(path.join(repo, 'node_modules/.bin/tsc'), ['-p', dir], { encoding: 'utf8' })
  return { code: result.status, output: `${result.stdout}${result.stderr}`.trim() }
}

const dir = path.join(repo, 'test-artifacts', 'readme-examples')

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("the README's examples", () => {
  const list = examples()

  it('include scopes, authorization, clearing, the lifecycle, uploads and hand-off', () => {
    const all = list.map((example) => example.code).join('\n')
    for (const shown of [
      'where: ({ req })',
      'authorize: ({ req }, report)',
      'query: (query, { req })',
      'doc.file = null',
      "onReplace: 'keep'",
      'FileColumnSubscriber.logger',
      "receiveUpload(req, document, 'file'",
      "receiveUpload(request, document, 'file'",
      "this.uploads.receive(req, document, 'file'",
      'handoff: redirectToBucket()',
    ])
      expect([shown, all.includes(shown)]).toEqual([shown, true])
  })

  it('compile against the public entries, strict', () => {
    expect(typecheck(dir, list)).toEqual({ code: 0, output: '' })
  }, 120_000)

  it('would fail on an example that misuses the API (the check can fail)', () => {
    const wrong = { line: 0, names: ['dataSource', 'Report'], code: '' }
    wrong.code =
      "import { ObjectDownloadView } from 'typeorm-downloadview'\n" +
      "new ObjectDownloadView({ dataSource, entity: Report, file: 'pdf', where: 42 })\n"
    const result = typecheck(`${dir}-wrong`, [wrong])
    rmSync(`${dir}-wrong`, { recursive: true, force: true })
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/readme-line-0\.ts/)
  }, 120_000)
})
