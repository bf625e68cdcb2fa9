/**
 * Preload (`node --require`) for the processes the tests start under TYPEORM=0.3: the CLI, the demo,
 * child servers. It resolves `typeorm` and `typeorm/...` to the `typeorm-0.3` alias, as jest.config.js's
 * moduleNameMapper does inside the tests, so that a child loads the same TypeORM as its test: two
 * copies share TypeORM's global metadata storage and break each other.
 */
const Module = require('node:module')

const resolveFilename = Module._resolveFilename
Module._resolveFilename = function resolveTypeorm03(request, ...rest) {
  const mapped =
    request === 'typeorm' || request.startsWith('typeorm/') ? `typeorm-0.3${request.slice(7)}` : request
  return resolveFilename.call(this, mapped, ...rest)
}
