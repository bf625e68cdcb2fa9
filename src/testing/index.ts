/** @module typeorm-downloadview/testing: assertions for download responses, shipped to users. */
export { assertDownload, binaryParser, type ExpectedDownload, type ResponseLike } from './assert-download'
export { assertHandoff, type ExpectedHandoff } from './assert-handoff'
