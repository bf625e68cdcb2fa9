/**
 * Jest global setup: picks the integration tests' Postgres. DATABASE_URL when set; else
 * testcontainers' PostgreSQL module when a container runtime answers; else an embedded real
 * Postgres 15. Each test file then creates its own database on that server (database.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startEmbeddedPostgres } from '../../demo/embedded-postgres'

type Stop = () => Promise<unknown>
const globals = globalThis as typeof globalThis & { __downloadviewStopDatabase?: Stop }

export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.stdout.write(`\n[test database] DATABASE_URL (${redact(process.env.DATABASE_URL)})\n`)
    return
  }
  const container = await tryTestcontainers()
  if (container) {
    process.env.DATABASE_URL = container.url
    globals.__downloadviewStopDatabase = container.stop
    process.stdout.write('\n[test database] testcontainers postgres:15\n')
    return
  }
  const parent = await mkdtemp(path.join(os.tmpdir(), 'downloadview-pg-'))
  const embedded = await startEmbeddedPostgres({
    dataDir: path.join(parent, 'data'),
    database: 'downloadview_test',
    persistent: false,
  })
  process.env.DATABASE_URL = embedded.url
  globals.__downloadviewStopDatabase = async () => {
    await embedded.stop()
    await rm(parent, { recursive: true, force: true })
  }
  process.stdout.write('\n[test database] embedded-postgres 15\n')
}

async function tryTestcontainers(): Promise<{ url: string; stop: Stop } | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await getContainerRuntimeClient()
  } catch {
    return undefined // no Docker/Podman here: fall back to the embedded server
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
  const started = await new PostgreSqlContainer('postgres:15-alpine').start()
  return { url: started.getConnectionUri(), stop: () => started.stop() }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}
