/** @module PathDownloadView: serve a local file, by absolute path or confined under a root. */
import path from 'node:path'
import { ConfigurationError, FileNotFoundError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { PathFile } from '../files/path-file'
import { StorageFile } from '../files/storage-file'
import { rejectUnknownViewOptions } from '../http/options'
import { LocalStorage } from '../storage/local-storage'
import {
  checkRequestedPath,
  type Dotfiles,
  type DownloadRequest,
  DownloadView,
  type DownloadViewOptions,
  requiredRouteParam,
  routePathOptions,
  VIEW_OPTIONS,
} from './download-view'

/** Options of {@link PathDownloadView}. */
export interface PathDownloadViewOptions extends DownloadViewOptions {
  /**
   * Without `root`: the absolute path of the one file to serve. With `root`: a fixed path relative
   * to it. When absent, the path comes from the route parameter `param`.
   * @default undefined
   */
  path?: string
  /**
   * A directory that confines every path: relative paths are resolved in it, and `..`, absolute
   * paths, backslashes and symlinks that lead out of it are refused (404), after URL decoding.
   * @default undefined (`path` or `getPath()` gives an absolute path, trusted as is)
   */
  root?: string
  /**
   * The route parameter that holds the path (with `root`): `:path`, or Express 5's `*path`.
   * @default 'path'
   */
  param?: string
  /**
   * Paths with a segment that starts with a dot (`.env`, `.git/config`): `'deny'` answers them 404,
   * as send does by default; `'allow'` serves them.
   * @default 'deny'
   */
  dotfiles?: Dotfiles
  /**
   * The name the client sees.
   * @default the file's own name
   */
  basename?: string
}

const OWN_OPTIONS = [...VIEW_OPTIONS, 'path', 'root', 'param', 'basename', 'dotfiles']

/**
 * Serves a file of the local file system. With `root`, paths come from the URL and stay inside the
 * root (the same confinement as LocalStorage); without it, `path` (or an overridden `getPath()`)
 * names one absolute file.
 *
 * @example
 * // One file:
 * app.all('/terms/', toHandler(new PathDownloadView({ path: '/srv/docs/terms.pdf' })))
 * // Any file under a folder:
 * app.all('/docs/*path', toHandler(new PathDownloadView({ root: '/srv/docs' })))
 */
export class PathDownloadView extends DownloadView {
  readonly path: string | undefined
  readonly root: string | undefined
  readonly param: string
  readonly basename: string | undefined
  readonly dotfiles: Dotfiles
  private readonly confined: LocalStorage | undefined

  constructor(options: PathDownloadViewOptions) {
    super(options)
    const owner = 'PathDownloadView'
    rejectUnknownViewOptions(options, OWN_OPTIONS, owner)
    const { root } = options
    if (root !== undefined && (typeof root !== 'string' || !path.isAbsolute(root) || root.includes('\u0000')))
      throw new ConfigurationError(`${owner}: option "root" must be an absolute directory path`)
    this.root = root === undefined ? undefined : path.resolve(root)
    this.confined = this.root === undefined ? undefined : new LocalStorage({ root: this.root })
    const fixed = options.path
    if (fixed !== undefined) {
      if (typeof fixed !== 'string' || fixed === '' || fixed.includes('\u0000'))
        throw new ConfigurationError(`${owner}: option "path" must be a non-empty path`)
      if (!this.root && !path.isAbsolute(fixed))
        throw new ConfigurationError(`${owner}: option "path" must be absolute when there is no "root"`)
      if (this.root && path.isAbsolute(fixed))
        throw new ConfigurationError(`${owner}: option "path" must be relative to "root"`)
    }
    this.path = fixed
    // Without a root, a path from the URL would be any file of the machine: only a fixed path, or
    // a getPath() of the subclass's own, may name the file.
    if (!this.root && fixed === undefined && this.getPath === PathDownloadView.prototype.getPath)
      throw new ConfigurationError(
        `${owner}: give option "path" (one absolute file) or option "root" (files under a folder, from the URL)`,
      )
    ;({
      param: this.param,
      basename: this.basename,
      dotfiles: this.dotfiles,
    } = routePathOptions(options, owner))
  }

  /**
   * The path to serve: the `path` option, else the route parameter (relative to `root`). Override
   * to compute it; with a `root`, what it returns is still confined.
   */
  getPath(request: DownloadRequest): string | Promise<string> {
    if (this.path !== undefined) return this.path
    if (!this.root) throw new FileNotFoundError('PathDownloadView: no path to serve')
    return requiredRouteParam(request.params, this.param)
  }

  /** The name the client sees; `undefined` for the file's own name. */
  getBasename(_request: DownloadRequest, _path: string): string | undefined {
    return this.basename
  }

  async getFile(request: DownloadRequest): Promise<DownloadFile> {
    const requested = await this.getPath(request)
    const name = this.getBasename(request, requested)
    // With a root, the path is a key of a LocalStorage on it: one set of confinement rules.
    if (this.confined) {
      checkRequestedPath(requested, this.dotfiles)
      return StorageFile.describe(this.confined, requested, { name })
    }
    return PathFile.describe(requested, { name })
  }
}
