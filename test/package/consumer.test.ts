/**
 * The packed package, as a user meets it: `npm pack`, then new apps outside the repository that
 * install the tarball with their own typeorm, pg, reflect-metadata and express. Each app is made of
 * the README's "Use it in your own app" section, file by file, compiled with plain `tsc` in strict
 * mode, migrated with TypeORM's own CLI against a fresh database, and asked over HTTP for GET, HEAD,
 * Range, If-None-Match and a missing row. Four apps: typeorm 0.3 with Express 4 and TypeScript 5,
 * typeorm 1.x with Express 5 and TypeScript 7, each as CommonJS and as ESM. The CommonJS apps also
 * measure what the library adds to an app, check the shipped .d.ts files under every module
 * resolution with skipLibCheck off, and check the optional entries and their peers.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Client } from 'pg'
import { freePort } from '../helpers/foreground-server'

const repo = path.resolve(__dirname, '../..')
const artifacts = path.join(repo, 'test-artifacts')

/** The version of a package installed in the repository (the lockfile's), by its folder. */
function installed(folder: string): string {
  return (
    JSON.parse(readFileSync(path.join(repo, 'node_modules', folder, 'package.json'), 'utf8')) as {
      version: string
    }
  ).version
}

interface Matrix {
  typeorm: string
  express: string
  typesExpress: string
  typescript: string
}

const MATRIX: Record<'typeorm-0.3' | 'typeorm-1', Matrix> = {
  'typeorm-0.3': {
    typeorm: installed('typeorm-0.3'),
    express: installed('express-4'),
    typesExpress: '4.17.25',
    typescript: '5.9.3',
  },
  'typeorm-1': {
    typeorm: installed('typeorm'),
    express: installed('express'),
    typesExpress: installed('@types/express'),
    typescript: installed('typescript'),
  },
}

/** The README section the apps are made of. */
interface ReadmeApp {
  /** Files by path, from the fenced blocks whose first line is `// <path>`. */
  files: Map<string, string>
  /** The packages of the `npm install` line, and of the `npm install --save-dev` line. */
  dependencies: string[]
  devDependencies: string[]
  /** The commands that build, migrate and start the app, in order. */
  commands: string[]
}

function readmeApp(): ReadmeApp {
  const readme = readFileSync(path.join(repo, 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Use it in your own app\n')
  if (start < 0) throw new Error('README.md has no "## Use it in your own app" section')
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end < 0 ? undefined : end)
  const files = new Map<string, string>()
  const shell: string[][] = []
  for (const block of section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)) {
    const [, language, body = ''] = block
    if (language === 'sh') {
      shell.push(body.split('\n').filter((line) => line.trim() !== ''))
      continue
    }
    const name = /^\/\/ (\S+)\n/.exec(body)?.[1]
    if (!name) throw new Error(`A ${language} block of the README section names no file:\n${body}`)
    files.set(name, body)
  }
  const [install = [], commands = []] = shell
  const packages = (prefix: string) =>
    install
      .find((line) => line.startsWith(prefix))
      ?.slice(prefix.length)
      .trim()
      .split(/\s+/) ?? []
  return {
    files,
    dependencies: packages('npm install ').filter((name) => !name.startsWith('-')),
    devDependencies: packages('npm install --save-dev '),
    commands,
  }
}

/** The environment for npm and the apps: this process's, without npm's own `npm_*` variables. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.toLowerCase().startsWith('npm_')) env[name] = value
  }
  // `npm run` puts this repository's node_modules/.bin first on PATH; a user's shell has no such thing.
  env.PATH = (env.PATH ?? '')
    .split(path.delimiter)
    .filter((entry) => !entry.startsWith(repo))
    .join(path.delimiter)
  return { ...env, ...extra }
}

interface Result {
  code: number | null
  output: string
}

/** Runs a command to its end; its stdout and stderr, interleaved. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}

/** Runs a command that must succeed; its output. */
async function must(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<string> {
  const result = await run(command, args, cwd, env)
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.code}:\n${result.output}`)
  }
  return result.output
}

const npmInstall = (app: string, packages: string[], dev = false) =>
  must(
    'npm',
    ['install', ...(dev ? ['--save-dev'] : []), '--no-audit', '--no-fund', '--prefer-offline', ...packages],
    app,
  )

/** Packages in node_modules (each folder with a package.json, nested ones included) and their bytes. */
function measure(app: string): { packages: number; bytes: number } {
  let packages = 0
  let bytes = 0
  const walk = (folder: string, inModules: boolean) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name)
      if (entry.isSymbolicLink()) continue
      if (entry.isDirectory()) {
        const isPackage = inModules && !entry.name.startsWith('@') && !entry.name.startsWith('.')
        if (isPackage) packages++
        walk(full, entry.name === 'node_modules' || (inModules && entry.name.startsWith('@')))
      } else {
        bytes += statSync(full).size
      }
    }
  }
  walk(path.join(app, 'node_modules'), true)
  return { packages, bytes }
}

async function admin(sql: string): Promise<void> {
  const client = new Client({ connectionString: process.env.DATABASE_URL })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** A fresh database on the test server, for one app; its URL. */
async function freshDatabase(): Promise<{ url: string; name: string }> {
  const name = `downloadview_consumer_${randomBytes(4).toString('hex')}`
  await admin(`CREATE DATABASE "${name}"`)
  const url = new URL(process.env.DATABASE_URL ?? '')
  url.pathname = `/${name}`
  return { url: url.toString(), name }
}

/** Compiles `source` in `app` with skipLibCheck off, under one module resolution; the tsc result. */
function typecheck(app: string, name: string, source: string, resolution: string): Promise<Result> {
  const folder = path.join(app, `typecheck-${name}-${resolution}`)
  mkdirSync(folder, { recursive: true })
  writeFileSync(path.join(folder, 'index.ts'), source)
  const module = { nodenext: 'nodenext', node16: 'node16', bundler: 'esnext', node10: 'commonjs' }[resolution]
  writeFileSync(
    path.join(folder, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module,
        moduleResolution: resolution,
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        types: ['node'],
      },
      files: ['index.ts'],
    }),
  )
  return run(path.join(app, 'node_modules', '.bin', 'tsc'), ['-p', folder], app)
}

/**
 * Every module resolution a user's tsconfig may have. TypeScript 7 no longer has `node10` (the
 * `moduleResolution: node` of older tsconfigs, which ignores `exports`: `typesVersions` serves it).
 */
function resolutions(typescript: string): string[] {
  const modern = ['nodenext', 'node16', 'bundler']
  return Number(typescript.split('.')[0]) < 7 ? [...modern, 'node10'] : modern
}

/** What the core entries export, used at the type level and as values (no optional peer needed). */
const CORE_SOURCE = `
import { attachFile, FileColumn, LocalStorage, ObjectDownloadView, StoredFile, storages } from 'typeorm-downloadview'
import type { DownloadFile, Storage } from 'typeorm-downloadview'
import { assertDownload } from 'typeorm-downloadview/testing'
import { ChangeListener, ContentCache, installChangeTrigger, RowCache } from 'typeorm-downloadview/cache'
const storage: Storage = new LocalStorage({ root: 'media' })
storages.register('default', storage)
export const used = [attachFile, FileColumn, ObjectDownloadView, StoredFile, assertDownload]
export const caches = [ChangeListener, ContentCache, installChangeTrigger, new RowCache()]
export type File = DownloadFile
`

const EXPRESS_SOURCE = `
import { downloadErrorHandler, handoffMiddleware, requireSignature, toHandler } from 'typeorm-downloadview/express'
export const used = [downloadErrorHandler, handoffMiddleware, requireSignature, toHandler]
`

const OPTIONAL_SOURCE = `
import { S3Storage, type S3StorageOptions } from 'typeorm-downloadview/s3'
import { ImageColumn, ImageVariantView, type StoredImage } from 'typeorm-downloadview/images'
const options: S3StorageOptions = { bucket: 'media' }
export const used = [S3Storage, ImageColumn, ImageVariantView, options]
export type Image = StoredImage
`

/**
 * A node script that requires the root entry and reports what it loaded and how long it took: the
 * peers an app loads anyway (typeorm, pg, reflect-metadata) first, so the time is the library's own.
 */
const REQUIRE_PROBE = `
require('reflect-metadata'); require('typeorm'); require('pg')
const start = process.hrtime.bigint()
require('typeorm-downloadview')
const ms = Number(process.hrtime.bigint() - start) / 1e6
const loaded = Object.keys(require.cache).filter((file) => /node_modules[\\\\/](@aws-sdk|sharp|express)[\\\\/]/.test(file))
process.stdout.write(JSON.stringify({ ms, loaded }))
`

interface Figures {
  before: { packages: number; bytes: number }
  after: { packages: number; bytes: number }
  requireMs?: number
}
const figures: Record<string, Figures> = {}

let tarball: string
let workspace: string
const readme = readmeApp()

jest.setTimeout(10 * 60_000)

beforeAll(async () => {
  workspace = mkdtempSync(path.join(os.tmpdir(), 'downloadview-consumer-'))
  await must('npm', ['pack', '--pack-destination', workspace], repo)
  const [name] = readdirSync(workspace).filter((file) => file.endsWith('.tgz'))
  if (!name) throw new Error('npm pack made no tarball')
  tarball = path.join(workspace, name)
})

afterAll(() => {
  if (workspace) rmSync(workspace, { recursive: true, force: true })
  mkdirSync(artifacts, { recursive: true })
  writeFileSync(path.join(artifacts, 'consumer.json'), `${JSON.stringify(figures, null, 2)}\n`)
  for (const [name, figure] of Object.entries(figures)) {
    const mb = (bytes: number) => (bytes / 1e6).toFixed(1)
    process.stdout.write(
      `[consumer ${name}] packages ${figure.before.packages} -> ${figure.after.packages}, node_modules ` +
        `${mb(figure.before.bytes)} -> ${mb(figure.after.bytes)} MB` +
        (figure.requireMs === undefined
          ? '\n'
          : `, require('typeorm-downloadview') ${figure.requireMs.toFixed(0)} ms\n`),
    )
  }
})

describe('the README section "Use it in your own app"', () => {
  it('names the files, installs and commands the consumer apps are made of', () => {
    expect([...readme.files.keys()].sort()).toEqual([
      'src/clear-file.ts',
      'src/data-source.ts',
      'src/document.ts',
      'src/main.ts',
      'tsconfig.json',
    ])
    expect(readme.dependencies).toEqual([
      'typeorm-downloadview',
      'typeorm',
      'pg',
      'reflect-metadata',
      'express',
    ])
    expect(readme.devDependencies).toEqual(['typescript', '@types/node', '@types/express'])
    expect(readme.commands.at(-1)).toBe('node dist/main.js')
  })
})

describe.each([
  ['typeorm-0.3', 'commonjs'],
  ['typeorm-0.3', 'module'],
  ['typeorm-1', 'commonjs'],
  ['typeorm-1', 'module'],
] as const)('an app on %s as %s that installs the tarball', (major, type) => {
  const versions = MATRIX[major]
  const name = `${major}-${type === 'module' ? 'esm' : 'cjs'}`
  let app: string
  let database: { url: string; name: string } | undefined
  let server: ChildProcess | undefined

  beforeAll(() => {
    app = path.join(workspace, name)
    mkdirSync(app)
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type }))
  })

  afterAll(async () => {
    server?.kill('SIGKILL')
    if (database) await admin(`DROP DATABASE IF EXISTS "${database.name}" WITH (FORCE)`)
  })

  it('installs with its own typeorm, pg, reflect-metadata and express, the library adding little', async () => {
    const pinned: Record<string, string> = {
      typeorm: versions.typeorm,
      pg: installed('pg'),
      'reflect-metadata': installed('reflect-metadata'),
      express: versions.express,
    }
    const peers = readme.dependencies.filter((dependency) => dependency !== 'typeorm-downloadview')
    await npmInstall(
      app,
      peers.map((dependency) => `${dependency}@${pinned[dependency]}`),
    )
    const before = measure(app)
    await npmInstall(app, [tarball])
    const after = measure(app)
    figures[name] = { before, after }
    // The goal the README states: the core adds at most 20 packages and 10 MB.
    expect(after.packages - before.packages).toBeLessThanOrEqual(20)
    expect(after.bytes - before.bytes).toBeLessThanOrEqual(10e6)
    const installedTypeorm = JSON.parse(
      readFileSync(path.join(app, 'node_modules', 'typeorm', 'package.json'), 'utf8'),
    ) as { version: string }
    expect(installedTypeorm.version).toBe(versions.typeorm)
    // One copy of typeorm: the app's (a nested one would hold the decorators' metadata apart).
    expect(() =>
      statSync(path.join(app, 'node_modules', 'typeorm-downloadview', 'node_modules', 'typeorm')),
    ).toThrow()
  })

  it('loads none of the optional peers from the root entry', async () => {
    const probe = JSON.parse(await must('node', ['-e', REQUIRE_PROBE], app)) as {
      ms: number
      loaded: string[]
    }
    expect(probe.loaded).toEqual([])
    if (type === 'commonjs') {
      // The median of five fresh processes: the root entry's require time as a user's app sees it.
      const times: number[] = []
      for (let i = 0; i < 5; i++) {
        times.push((JSON.parse(await must('node', ['-e', REQUIRE_PROBE], app)) as { ms: number }).ms)
      }
      const figure = figures[name]
      if (figure) figure.requireMs = times.sort((a, b) => a - b)[2]
    }
  })

  it('compiles against the core .d.ts files with skipLibCheck off and no @types/express', async () => {
    await npmInstall(
      app,
      [`typescript@${versions.typescript}`, `@types/node@${installed('@types/node')}`],
      true,
    )
    // An ESM app differs from a CommonJS one only where the importer's format matters: nodenext.
    const checked = type === 'module' ? ['nodenext'] : resolutions(versions.typescript)
    const results = await Promise.all(
      checked.map((resolution) => typecheck(app, 'core', CORE_SOURCE, resolution)),
    )
    expect(results.map((result, i) => ({ resolution: checked[i], ...result }))).toEqual(
      checked.map((resolution) => ({ resolution, code: 0, output: '' })),
    )
    // The check can fail: the Express entry does need @types/express, which is not installed yet.
    const express = await typecheck(app, 'express-missing', EXPRESS_SOURCE, 'nodenext')
    expect(express.code).not.toBe(0)
    expect(express.output).toMatch(/express/)
  })

  it('compiles against the Express entry once @types/express is installed', async () => {
    const devDependencies: Record<string, string> = {
      typescript: versions.typescript,
      '@types/node': installed('@types/node'),
      '@types/express': versions.typesExpress,
    }
    await npmInstall(
      app,
      readme.devDependencies.map((dependency) => `${dependency}@${devDependencies[dependency]}`),
      true,
    )
    // nodenext: the README's app below imports the Express entry and compiles with skipLibCheck off.
    const checked = type === 'module' ? [] : resolutions(versions.typescript).filter((r) => r !== 'nodenext')
    const results = await Promise.all(
      checked.map((resolution) => typecheck(app, 'express', EXPRESS_SOURCE, resolution)),
    )
    expect(results.map((result, i) => ({ resolution: checked[i], ...result }))).toEqual(
      checked.map((resolution) => ({ resolution, code: 0, output: '' })),
    )
  })

  it("builds the README's app with tsc, migrates with TypeORM's CLI, and serves over HTTP", async () => {
    for (const [file, body] of readme.files) {
      mkdirSync(path.dirname(path.join(app, file)), { recursive: true })
      writeFileSync(path.join(app, file), body)
    }
    database = await freshDatabase()
    const port = await freePort()
    const env = { DATABASE_URL: database.url, PORT: String(port) }
    const [start, ...rest] = [...readme.commands].reverse()
    for (const command of rest.reverse()) {
      const [program = '', ...args] = command.split(' ')
      await must(program, args, app, env)
    }
    // The migration TypeORM wrote from the entity holds the table and its seven file columns.
    const migrations = readdirSync(path.join(app, 'src', 'migrations'))
    expect(migrations).toHaveLength(1)
    const migration = readFileSync(path.join(app, 'src', 'migrations', migrations[0] ?? ''), 'utf8')
    for (const column of ['path', 'name', 'size', 'content_type', 'modified_at', 'sha256', 'crc32']) {
      expect(migration).toContain(`"file_${column}"`)
    }

    const [program = '', ...args] = (start ?? '').split(' ')
    server = spawn(program, args, { cwd: app, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    server.stdout?.on('data', (chunk: Buffer) => {
      log += chunk.toString()
    })
    server.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString()
    })
    const deadline = Date.now() + 30_000
    while (!log.includes('Listening on')) {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`The app did not start:\n${log}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    const url = `http://127.0.0.1:${port}/documents/hello/download`
    const get = await fetch(url)
    expect(get.status).toBe(200)
    expect(await get.text()).toBe('Hello, world!\n')
    expect(get.headers.get('content-disposition')).toBe('attachment; filename=hello.txt')
    const etag = get.headers.get('etag')
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/)

    const head = await fetch(url, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe('14')
    expect(await head.text()).toBe('')

    const range = await fetch(url, { headers: { Range: 'bytes=0-4' } })
    expect(range.status).toBe(206)
    expect(range.headers.get('content-range')).toBe('bytes 0-4/14')
    expect(await range.text()).toBe('Hello')

    const cached = await fetch(url, { headers: { 'If-None-Match': etag ?? '' } })
    expect(cached.status).toBe(304)

    const missing = await fetch(`http://127.0.0.1:${port}/documents/missing/download`)
    expect(missing.status).toBe(404)
  })

  if (major === 'typeorm-1' && type === 'commonjs') {
    it('loads /s3 and /images, and compiles against them, once their peers are installed', async () => {
      const optional = [
        '@aws-sdk/client-s3',
        '@aws-sdk/lib-storage',
        '@aws-sdk/s3-request-presigner',
        'sharp',
      ]
      await npmInstall(
        app,
        optional.map((dependency) => `${dependency}@${installed(dependency)}`),
      )
      const checked = resolutions(versions.typescript)
      const results = await Promise.all(
        checked.map((resolution) => typecheck(app, 'optional', OPTIONAL_SOURCE, resolution)),
      )
      expect(results.map((result, i) => ({ resolution: checked[i], ...result }))).toEqual(
        checked.map((resolution) => ({ resolution, code: 0, output: '' })),
      )
      const loaded = await must(
        'node',
        [
          '-e',
          "require('typeorm-downloadview/s3'); require('typeorm-downloadview/images'); process.stdout.write('ok')",
        ],
        app,
      )
      expect(loaded).toBe('ok')
    })
  } else if (type === 'commonjs') {
    it('says which package to install when an optional entry is imported without its peers', async () => {
      const s3 = await run('node', ['-e', "require('typeorm-downloadview/s3')"], app)
      expect(s3.code).not.toBe(0)
      expect(s3.output).toContain(
        'typeorm-downloadview/s3 needs "@aws-sdk/client-s3", "@aws-sdk/lib-storage", "@aws-sdk/s3-request-presigner"',
      )
      expect(s3.output).toContain(
        'npm install @aws-sdk/client-s3 @aws-sdk/lib-storage @aws-sdk/s3-request-presigner',
      )
      const images = await run('node', ['-e', "require('typeorm-downloadview/images')"], app)
      expect(images.code).not.toBe(0)
      expect(images.output).toContain('npm install sharp')
      const nestjs = await run('node', ['-e', "require('typeorm-downloadview/nestjs')"], app)
      expect(nestjs.code).not.toBe(0)
      expect(nestjs.output).toContain('npm install @nestjs/common @nestjs/core')
    })
  }
})
