/** Jest global teardown: stops the database that global setup started, if it started one. */
const globals = globalThis as typeof globalThis & { __downloadviewStopDatabase?: () => Promise<unknown> }

export default async function globalTeardown(): Promise<void> {
  await globals.__downloadviewStopDatabase?.()
}
