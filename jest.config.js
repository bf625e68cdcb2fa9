/**
 * Jest: unit tests (no database, no network), integration tests (real Postgres, HTTP) and server
 * tests (integration behind real nginx, Apache, lighttpd or Chromium, which Node does not bring).
 */
const swc = [
  '@swc/jest',
  {
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
]

/**
 * TYPEORM=0.3 runs the suites against typeorm 0.3.x (the devDependency alias `typeorm-0.3`) instead
 * of the 1.x that `typeorm` resolves to: every `typeorm` and `typeorm/...` import, ours and the
 * demo's, then loads the 0.3 copy. `.ci/run` runs the suites both ways.
 */
const typeormMajor = process.env.TYPEORM ?? '1'
if (!['0.3', '1'].includes(typeormMajor)) throw new Error(`TYPEORM must be 0.3 or 1, not "${typeormMajor}"`)
const moduleNameMapper =
  typeormMajor === '0.3' ? { '^typeorm$': 'typeorm-0.3', '^typeorm/(.*)$': 'typeorm-0.3/$1' } : {}
// The processes the tests start (the CLI, the demo) inherit NODE_OPTIONS: the preload maps them too.
const preload = `--require ${JSON.stringify(`${__dirname}/test/helpers/typeorm-0.3-preload.js`)}`
if (typeormMajor === '0.3' && !process.env.NODE_OPTIONS?.includes(preload))
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, preload].filter(Boolean).join(' ')

const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper,
}

/** @type {import('jest').Config} */
module.exports = {
  // Jest reads testTimeout from the root config only, not per project.
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts', '<rootDir>/test/contract/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
    {
      // Like integration, with real programs that are not Node's beside Postgres: nginx, Apache with
      // mod_xsendfile, lighttpd, Chromium. `npm run test:servers`; `npm test` leaves them out.
      ...common,
      displayName: 'servers',
      testMatch: ['<rootDir>/test/servers/**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
    {
      // The packed package installed into new apps outside the repository (README's own code, real
      // npm, tsc, TypeORM CLI and Postgres). `npm run test:package`; minutes, and the npm registry.
      ...common,
      displayName: 'package',
      testMatch: ['<rootDir>/test/package/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
  ],
}
