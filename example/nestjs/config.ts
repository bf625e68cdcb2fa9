/** @module The example's settings, and the token they are provided under. */

/** What the example app needs to know at startup (main.ts reads it from the environment). */
export interface ExampleConfig {
  /** The Postgres the documents live in. */
  databaseUrl: string
  /** The folder of the `default` storage. */
  mediaRoot: string
  /** The key clients send in `X-Api-Key` to download. */
  apiKey: string
}

/** The token of the {@link ExampleConfig}. */
export const EXAMPLE_CONFIG = Symbol('ExampleConfig')
